#!/usr/bin/env python3
"""make bench-disk: Mastodon's local media through Herd's nginx
configuration against nginx's own try_files, in one run.

One nginx, two servers on the same files (the demo's media and a 2 MB video
in a scratch public/): Herd's herd/mastodon.conf with $herd_public_root set
(originals and videos go straight from disk, conversions to herd) and
Mastodon's dist/nginx.conf way (`location /system/ { try_files $uri =404; }`,
with the same open_file_cache as Herd's location).
wrk asks each for a JPEG original (a client without AVIF or WebP) and a
video (a browser's Accept), alternating rounds; prints requests/s, p50/p99
and Herd's share of nginx alone (goal ≥ 90 %).

    BENCH_DURATION (s per round, 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
    BENCH_SMOKE=1 (one 1-second round: what make test runs)
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
DURATION = 1 if SMOKE else int(os.environ.get("BENCH_DURATION", "5"))
ROUNDS = 1 if SMOKE else int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
CASES = [("JPEG original", "/system/media_attachments/files/000/000/001/original/photo.jpg", "*/*"),
         ("video (2 MB)", "/system/media_attachments/files/000/000/070/original/long.mp4",
          "video/webm,video/ogg,video/*;q=0.9,application/ogg;q=0.7,audio/*;q=0.6,*/*;q=0.5")]


def wrk(port, path, accept):
    result = subprocess.run(["wrk", "-t2", "-c%d" % CONNECTIONS, "-d%ds" % DURATION, "--latency", "-H", "Accept: " + accept,
                             "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True, check=True)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))

    def percentile(name):
        match = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % name, result.stdout)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    return rate, percentile("50"), percentile("99"), int(non2xx.group(1)) if non2xx else 0


def main():
    if not shutil.which("wrk"):
        sys.exit("bench-disk needs wrk (scripts/install-deps.sh --bench)")
    work = tempfile.mkdtemp(prefix="herd-bench-disk-")
    processes = []
    try:
        public = os.path.join(work, "public")
        shutil.copytree(os.path.join(benchlib.REPO, "demo/media/system"), os.path.join(public, "system"))
        video = os.path.join(public, "system/media_attachments/files/000/000/070/original/long.mp4")
        os.makedirs(os.path.dirname(video))
        with open(video, "wb") as f:
            f.write(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2 << 20))
        socket = os.path.join(work, "herd.sock")
        herd = subprocess.Popen([os.environ.get("HERD_BIN", os.path.join(benchlib.REPO, ".build/release/herd")),
                                 "--bind", socket, "--upstream", "http://127.0.0.1:9", "--set", "upstream.root=" + public,
                                 "--set", "server.socket_mode=0666", "--log-level", "warning"], stderr=subprocess.DEVNULL)
        processes.append(herd)
        os.environ["HERD_UPSTREAM_ROOT"] = public
        benchlib.render(work, "http://127.0.0.1:9", [socket])
        herd_port, plain_port = benchlib.free_port(), benchlib.free_port()
        processes.append(benchlib.start_nginx_with(work, f"""    include herd/http.conf;
    include herd/upstreams/mastodon.conf;
    server {{ listen 127.0.0.1:{herd_port}; keepalive_requests 100000; include herd/mastodon.conf; }}
    # Mastodon's dist/nginx.conf: /system/ straight from public/.
    server {{
        listen 127.0.0.1:{plain_port};
        keepalive_requests 100000;
        root {public};
        sendfile on;
        # As Herd's location has it, so that the two differ only in what Herd adds.
        open_file_cache max=10000 inactive=60s;
        open_file_cache_valid 10s;
        location ^~ /system/ {{
            add_header Cache-Control "public, max-age=2419200, immutable";
            add_header X-Content-Type-Options nosniff;
            try_files $uri =404;
        }}
    }}""", connections=4096))
        benchlib.wait_listening([herd_port, plain_port])
        results = {}
        for _ in range(ROUNDS):
            for name, path, accept in CASES:
                for config, port in (("nginx try_files", plain_port), ("Herd", herd_port)):
                    results.setdefault((name, config), []).append(wrk(port, path, accept))
        print("bench-disk: Mastodon's local media, wrk -t2 -c%d, %d × %d s rounds alternated, %d cores"
              % (CONNECTIONS, ROUNDS, DURATION, os.cpu_count()))
        print("%-14s | %-16s | %10s | %7s | %7s | %6s | %s" % ("file", "configuration", "requests/s", "p50 ms", "p99 ms", "errors",
                                                               "share of nginx alone"))
        for name, _, _ in CASES:
            plain = statistics.median(r[0] for r in results[(name, "nginx try_files")])
            for config in ("nginx try_files", "Herd"):
                runs = results[(name, config)]
                rate = statistics.median(r[0] for r in runs)
                print("%-14s | %-16s | %10.0f | %7.2f | %7.2f | %6d | %s" % (
                    name, config, rate, statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs),
                    sum(r[3] for r in runs), "%.0f%%" % (100 * rate / plain) if config == "Herd" else ""))
    finally:
        benchlib.stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
