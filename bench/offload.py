#!/usr/bin/env python3
"""make bench-offload: what the app microcache takes off the app, under
traffic shaped like a real instance's.

Against the stand-in Mastodon (demo/fediverse.py: Mastodon 4's
Cache-Control, Vary, languages and HTTP signatures), in both fetch modes,
one seeded mix of:
  - logged-out browsers asking for status pages in several languages;
  - remote servers fetching statuses as ActivityPub, every fetch signed
    (many distinct signers), popularity Zipf-distributed over the statuses,
    plus boost storms (dozens of servers fetching one new status within a
    second);
  - API clients with tokens, and logged-in browsers (a session cookie).
The same requests, at the same times, through three nginx configurations:
no cache, the microcache article's configuration (bench/offload/article.conf:
signed GETs cached with AUTHORIZED_FETCH off, bypassed with it on, as it
advises), and Herd's shipped herd/mastodon.conf. Prints app requests per
1,000 client requests side by side, latency, and "wrong": answers that were
someone else's (another signer's view, another language, another session or
token), checked on every response.

    BENCH_DURATION (s, 20), BENCH_RATE (requests/s, 150), BENCH_SMOKE=1 (2 s,
    a few hundred requests: what make test runs)
"""
import email.utils
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo"))
import benchlib  # noqa: E402
import fediverse  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
DURATION = 2.0 if SMOKE else float(os.environ.get("BENCH_DURATION", "20"))
RATE = 100.0 if SMOKE else float(os.environ.get("BENCH_RATE", "150"))
STATUSES = 300
SIGNERS = 600
LANGUAGES = ["en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9", "ja,en-US;q=0.8", "pt-BR,pt;q=0.9",
             "es-ES,es;q=0.9", "en-GB,en;q=0.9", "nl-NL,nl;q=0.9"]
AP_ACCEPT = "application/activity+json, application/ld+json"
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
HOST = "localhost"


def zipf_weights(n, s=1.1):
    return [1.0 / (rank ** s) for rank in range(1, n + 1)]


def traffic(seed=20261207):
    """[(due seconds, kind, path, headers builder args)] for one run, sorted by time."""
    rng = random.Random(seed)
    weights = zipf_weights(STATUSES)
    events = []
    t = 0.0
    while t < DURATION:
        t += rng.expovariate(RATE)
        status = rng.choices(range(1, STATUSES + 1), weights)[0]
        roll = rng.random()
        if roll < 0.35:
            events.append((t, "browser", "/@alice/%d" % status, rng.choice(LANGUAGES)))
        elif roll < 0.80:
            events.append((t, "server", "/users/alice/statuses/%d" % status, rng.randrange(SIGNERS)))
        elif roll < 0.90:
            events.append((t, "api", "/api/v1/timelines/home", rng.randrange(50)))
        else:
            events.append((t, "session", "/@alice/%d" % status, rng.randrange(50)))
    # Boost storms: every 5 s a new status, fetched by 60 servers within a second.
    storm_at = 1.0
    storm = 0
    while storm_at < DURATION:
        storm += 1
        for _ in range(6 if SMOKE else 60):
            events.append((storm_at + rng.random(), "server", "/users/alice/statuses/%d" % (100000 + storm),
                           rng.randrange(SIGNERS)))
        storm_at += 5.0
    events.sort(key=lambda e: e[0])
    return events


def headers_for(kind, path, arg):
    if kind == "browser":
        return {"Accept": HTML_ACCEPT, "Accept-Language": arg}
    if kind == "server":
        key_id = "https://server%d.example/actor#main-key" % arg
        date = email.utils.formatdate(usegmt=True)
        return {"Accept": AP_ACCEPT, "Date": date, "Signature": fediverse.sign_cavage(key_id, "GET", path, HOST, date)}
    if kind == "api":
        return {"Accept": "application/json", "Authorization": "Bearer token-%d" % arg}
    return {"Accept": HTML_ACCEPT, "Cookie": "_mastodon_session=session-%d" % arg, "Accept-Language": "en-US"}


def wrong(kind, arg, status, body):
    """Whether this answer was someone else's."""
    text = body.decode("utf-8", "replace")
    if kind == "browser" and status == 200:
        lang = re.search(r'lang="([^"]+)"', text)
        return lang is None or lang.group(1) != fediverse.locale_for(arg)
    if kind == "server" and status == 200 and '"x-seen-by"' in text:
        return json.loads(text).get("x-seen-by") != "https://server%d.example/actor#main-key" % arg
    if kind == "api" and status == 200:
        return json.loads(text).get("for") != "Bearer token-%d" % arg
    if kind == "session" and status == 200:
        return "session=_mastodon_session=session-%d" % arg not in text
    return False


def run(port, events, clients=16):
    """Plays the events through 127.0.0.1:port; returns (latencies, wrong, errors)."""
    queue = list(reversed(events))
    lock = threading.Lock()
    latencies, counters = [], {"wrong": 0, "errors": 0}
    started = time.monotonic()

    def client():
        connection = None
        while True:
            with lock:
                if not queue:
                    return
                due, kind, path, arg = queue.pop()
            delay = started + due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            headers = headers_for(kind, path, arg)
            headers["Host"] = HOST
            begun = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                bad = wrong(kind, arg, response.status, body)
                with lock:
                    latencies.append(time.monotonic() - begun)
                    counters["wrong"] += bad
            except (OSError, http.client.HTTPException):
                connection = None
                with lock:
                    counters["errors"] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(latencies), counters["wrong"], counters["errors"]


def app_requests(app_port):
    connection = http.client.HTTPConnection("127.0.0.1", app_port, timeout=10)
    connection.request("GET", "/__stats")
    stats = json.loads(connection.getresponse().read())
    connection.close()
    return stats["requests"]


def reset(app_port):
    connection = http.client.HTTPConnection("127.0.0.1", app_port, timeout=10)
    connection.request("POST", "/__reset", headers={"Content-Length": "0"})
    connection.getresponse().read()
    connection.close()


def main():
    events = traffic()
    kinds = {}
    for event in events:
        kinds[event[1]] = kinds.get(event[1], 0) + 1
    rows = []
    for mode, authorized in (("public fetch", False), ("authorized fetch", True)):
        work = tempfile.mkdtemp(prefix="herd-bench-offload-")
        processes = []
        try:
            app_port_file = os.path.join(work, "app.port")
            app = subprocess.Popen([sys.executable, os.path.join(benchlib.REPO, "demo/origin.py"), "--root",
                                    os.path.join(benchlib.REPO, "demo/media"), "--port-file", app_port_file]
                                   + (["--authorized-fetch"] if authorized else []),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes.append(app)
            while not os.path.exists(app_port_file):
                time.sleep(0.05)
            app_port = int(open(app_port_file).read())
            configs = start_fronts(work, app_port, authorized, processes)
            for name, port in configs:
                reset(app_port)
                latencies, bad, errors = run(port, events)
                app = app_requests(app_port)
                count = len(latencies) + errors
                rows.append((mode, name, count, app, 1000.0 * app / max(count, 1), bad, errors,
                             latencies[len(latencies) // 2] * 1000 if latencies else 0,
                             latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0))
        finally:
            benchlib.stop(processes)
    print("bench-offload: the stand-in Mastodon 4 (demo/fediverse.py), %.0f s at %.0f requests/s per run, %d cores; "
          "one seeded mix: %s" % (DURATION, RATE, os.cpu_count(),
                                   ", ".join("%d %s" % (n, {"browser": "logged-out page views (8 languages)",
                                                            "server": "signed fetches (%d signers, Zipf over %d statuses, "
                                                                      "a 60-server boost storm every 5 s)" % (SIGNERS, STATUSES),
                                                            "api": "API calls with tokens",
                                                            "session": "logged-in page views"}[k]) for k, n in sorted(kinds.items()))))
    print("%-16s | %-30s | %8s | %8s | %13s | %6s | %6s | %7s | %7s" %
          ("mode", "configuration", "requests", "app", "app per 1,000", "wrong", "errors", "p50 ms", "p99 ms"))
    for row in rows:
        print("%-16s | %-30s | %8d | %8d | %13.1f | %6d | %6d | %7.1f | %7.1f" % row)
    failures = [row for row in rows if row[1].startswith("Herd") and (row[5] or row[6])]
    if failures:
        print("bench-offload: Herd served someone else's answer or failed: %s" % failures)
        sys.exit(1)


def start_fronts(work, app_port, authorized, processes):
    """One nginx with three servers: no cache, the article's, Herd's."""
    benchlib.render(work, "http://127.0.0.1:%d" % app_port, [os.path.join(work, "herd.sock")])
    ports = {name: benchlib.free_port() for name in ("none", "article", "herd")}
    article = open(os.path.join(benchlib.REPO, "bench/offload/article.conf")).read()
    for placeholder, value in (("@CACHE@", os.path.join(work, "article-cache")), ("@APP@", "127.0.0.1:%d" % app_port),
                               ("@PORT@", str(ports["article"])),
                               ("@SIGNATURE_SKIP@", " $skip_cache_signature" if authorized else "")):
        article = article.replace(placeholder, value)
    with open(os.path.join(work, "article.conf"), "w") as f:
        f.write(article)
    http_lines = """
    include herd/http.conf;
    include herd/upstreams/mastodon.conf;
    server { listen 127.0.0.1:%d; location / { include herd/server/proxy-app.conf; } }
    include %s/article.conf;
    server { listen 127.0.0.1:%d; include herd/mastodon.conf; }
""" % (ports["none"], work, ports["herd"])
    processes.append(benchlib.start_nginx_with(work, http_lines, connections=2048))
    benchlib.wait_listening([ports["none"], ports["article"], ports["herd"]])
    return [("no cache", ports["none"]), ("article (AUTHORIZED_FETCH %s)" % ("on" if authorized else "off"), ports["article"]),
            ("Herd (herd/mastodon.conf)", ports["herd"])]


if __name__ == "__main__":
    main()
