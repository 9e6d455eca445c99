#!/usr/bin/env python3
"""make test-system: Herd installed the way admins install it, under a real
systemd as PID 1 (a Debian bookworm container, systemd-nspawn -b), checked
through the container's real nginx.

    python3 Tests/System/run.py --deb .build/herd_VERSION_amd64.deb [--only NAME…]

The install follows the README literally: the shell blocks marked
`<!-- system-test: NAME -->` in README.md are the steps run inside the
containers, so the README and this test cannot drift apart. Three
containers, each a fresh overlay of the cached root:

- package: the README's package install of an older-numbered build of this
  tree, then an upgrade to the new package under load (zero failures,
  conffiles and sockets kept), nginx reload and restart, every worker
  restarted and one killed under load, HEIC and a video's first frame under
  the unit's real hardening, `herd purge`, `systemd-analyze security`, and
  the README's uninstall (`apt purge` leaves nothing behind);
- source: the README's `make install` from this tree, conversion and reload;
- upgrade-0.1.0: 0.1.0's package as it was released (its units, no
  maintainer scripts; the same binary), the defect it had, and the upgrade
  that repairs it.

Stand-ins on the host's loopback (the containers share its network): the
app at 127.0.0.1:3000, where the README's configuration points (demo/origin.py,
answering as the demo's Mastodon does), and a remote server on 127.0.0.2 for
Akkoma's media proxy.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from containers import Container, cached_root, log, package_names, run  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP_PORT = 3000            # where the README's [upstream] url points (Puma's port)
SITE_PORT = 28080          # the admin's Mastodon site (server {} with include herd/mastodon.conf)
AKKOMA_PORT = 28081        # a second site with include herd/akkoma.conf: /proxy/ previews
REMOTE_HOST = "127.0.0.2"  # Akkoma's remote media
SECRET_KEY_BASE = "system-test-secret-key-base"
# The release before the first with maintainer scripts: git objects of this
# tree's history hold its packaging (units and make-deb.sh).
RELEASE_0_1_0 = "f5ae525"

PHOTO = "/system/media_attachments/files/000/000/001/original/photo.jpg"
WATER = "/system/media_attachments/files/000/000/003/original/water.jpg"
HEIC = "/system/media_attachments/files/000/000/004/original/iphone.heic"
AVATAR = "/system/accounts/avatars/000/000/001/original/avatar.jpg"
EMOJI = "/system/custom_emojis/images/000/000/001/original/blobcat.png"
CLIP = "/system/media_attachments/files/000/000/002/original/clip.mp4"

SITES = """\
# The admin's own sites (what the README leaves to them): Mastodon's with
# herd's include, and an Akkoma-style one for /proxy/.
server {
    listen 127.0.0.1:%d;
    server_name social.example;
    include herd/mastodon.conf;
}
server {
    listen 127.0.0.1:%d;
    server_name akkoma.example;
    include herd/akkoma.conf;
}
""" % (SITE_PORT, AKKOMA_PORT)

# What an admin adds with `systemctl edit herd@` to let herd answer Akkoma's
# /proxy/ itself, with the test's remote on loopback allowed.
MEDIA_PROXY_OVERRIDE = """\
[Service]
Environment=HERD_MEDIA_PROXY_SECRET_KEY_BASE=%s
Environment=HERD_REMOTE_ALLOW_NETWORKS=%s/32
Environment=HERD_MEDIA_PROXY_PREVIEW_MIN_BYTES=0
""" % (SECRET_KEY_BASE, REMOTE_HOST)


# --- results --------------------------------------------------------------

class Results:
    def __init__(self):
        self.rows = []

    def check(self, name, ok, detail=""):
        self.rows.append((name, bool(ok), detail))
        log("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""))
        return ok

    def note(self, name, detail):
        self.rows.append((name, None, detail))
        log("INFO %s: %s" % (name, detail))

    def failed(self):
        return [row for row in self.rows if row[1] is False]

    def print_table(self):
        print("\n== make test-system")
        for name, ok, detail in self.rows:
            mark = "info" if ok is None else ("ok" if ok else "FAIL")
            print("%-4s  %-62s %s" % (mark, name, detail))


RESULTS = Results()


# --- the README's steps ---------------------------------------------------

def readme_block(name):
    """The shell block right after `<!-- system-test: NAME -->` in README.md."""
    text = open(os.path.join(REPO, "README.md")).read()
    match = re.search(r"<!-- system-test: %s -->\s*```(?:sh|bash)\n(.*?)```" % re.escape(name), text, re.S)
    if not match:
        raise RuntimeError("README.md has no block marked <!-- system-test: %s -->" % name)
    return match.group(1)


def follow_readme(container, *names, without=None):
    """The README's blocks, run in the container; `without`: leave out the
    lines that name it (a step the installed version predates)."""
    for name in names:
        lines = readme_block(name).splitlines()
        if without:
            lines = [line for line in lines if without not in line]
        script = "set -euxo pipefail\n" + "\n".join(lines) + "\n"
        started = time.monotonic()
        result = container.sh(script, check=False)
        RESULTS.check("README step '%s' (%s)" % (name, container.name), result.returncode == 0,
                      "%.1f s" % (time.monotonic() - started) if result.returncode == 0 else result.stdout[-3000:])
        if result.returncode != 0:
            raise RuntimeError("the README's step %s failed" % name)
        if name == "reload":
            wait_for_nginx()


def wait_for_nginx(seconds=15):
    """`systemctl reload nginx` returns once the signal is sent: wait until
    the new configuration's listeners answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", SITE_PORT), timeout=1), \
                 socket.create_connection(("127.0.0.1", AKKOMA_PORT), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("nginx does not listen on 127.0.0.1:%d after %d s" % (SITE_PORT, seconds))


def write_sites(container):
    with open(container.path("/etc/nginx/sites-enabled/herd-system-test"), "w") as f:
        f.write(SITES)


# --- HTTP -----------------------------------------------------------------

def request(path, accept="image/avif,image/webp,*/*", port=SITE_PORT, method="GET", headers=None, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, headers=dict({"Accept": accept, "Host": "social.example"}, **(headers or {})))
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def cache_status(path, accept="image/avif,*/*"):
    status, headers, _ = request(path, accept)
    return status, headers.get("x-cache-status", "-")


class Load:
    """Clients asking through nginx all the time, every request one a worker
    must answer (a new query string: a cache MISS), conversions among them;
    counts the requests that did not end in a 200."""

    def __init__(self, clients=6):
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.total = 0
        self.failures = {}
        self.threads = [threading.Thread(target=self.client, args=(index,), daemon=True) for index in range(clients)]
        for thread in self.threads:
            thread.start()

    def client(self, index):
        counter = 0
        while not self.stop_flag.is_set():
            counter += 1
            # Three passthroughs (an origin fetch each) for one conversion.
            if counter % 4 == 0:
                path, accept = "%s?load=%d-%d" % (EMOJI, index, counter), "image/webp,*/*"
            else:
                path, accept = "%s?load=%d-%d" % (PHOTO, index, counter), "*/*"
            try:
                status, _, body = request(path, accept, timeout=30)
                outcome = status if status != 200 or not body else None
            except Exception as error:  # noqa: BLE001 — every failure is counted by kind
                outcome = type(error).__name__
            with self.lock:
                self.total += 1
                if outcome is not None:
                    self.failures[outcome] = self.failures.get(outcome, 0) + 1

    def finish(self):
        self.stop_flag.set()
        for thread in self.threads:
            thread.join(timeout=60)
        failed = sum(self.failures.values())
        return self.total, failed, self.failures


# --- stand-ins ------------------------------------------------------------

class Origins:
    """The app (127.0.0.1:3000) and a remote (127.0.0.2) serving the demo's media."""

    def __init__(self):
        for host, port in (("127.0.0.1", APP_PORT),):
            with socket.socket() as probe:
                if probe.connect_ex((host, port)) == 0:
                    raise RuntimeError("%s:%d is taken: the README's configuration points the workers there" % (host, port))
        self.scratch = tempfile.mkdtemp(prefix="herd-system-origins-")
        self.app = self._start("127.0.0.1", APP_PORT)
        self.remote_port_file = os.path.join(self.scratch, "remote.port")
        self.remote = self._start(REMOTE_HOST, 0, self.remote_port_file)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.remote_port_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.remote_port = int(open(self.remote_port_file).read())

    def _start(self, host, port, port_file=None):
        command = [sys.executable, os.path.join(REPO, "demo/origin.py"), "--root", os.path.join(REPO, "demo/media"),
                   "--host", host, "--port", str(port)]
        if port_file:
            command += ["--port-file", port_file]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not port_file:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with socket.socket() as probe:
                    if probe.connect_ex((host, port)) == 0:
                        break
                time.sleep(0.1)
        return process

    def app_hits(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", APP_PORT, timeout=10)
        connection.request("GET", "/__stats")
        stats = json.loads(connection.getresponse().read())
        connection.close()
        return stats["hits"].get(path, 0)

    def stop(self):
        for process in (self.app, self.remote):
            process.terminate()
            process.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


def signed_preview(url, filename):
    """Akkoma's /proxy/preview/SIG/URL64/NAME for url (lib/pleroma/web/media_proxy.ex)."""
    url64 = base64.urlsafe_b64encode(url.encode()).rstrip(b"=")
    signature = base64.urlsafe_b64encode(hmac.new(SECRET_KEY_BASE.encode(), url64, hashlib.sha1).digest()).rstrip(b"=")
    return "/proxy/preview/%s/%s/%s" % (signature.decode(), url64.decode(), filename)


# --- checks ---------------------------------------------------------------

def workers(container):
    """{index: main PID inside the container} of the running herd@N.service."""
    result = container.sh("systemctl list-units --plain --no-legend --state=active 'herd@*.service' | awk '{print $1}'",
                          check=False)
    pids = {}
    for unit in result.stdout.split():
        pid = container.sh("systemctl show -p MainPID --value %s" % unit).stdout.strip()
        pids[int(unit.split("@")[1].split(".")[0])] = int(pid)
    return pids


def check_serving(container, label):
    """A conversion MISS then HIT, health, and every worker's metrics, through nginx."""
    # Each call a new source for this label: a MISS first.
    path = "%s?serving=%s" % (WATER, label.replace(" ", "-"))
    first = cache_status(path)
    second = cache_status(path)
    status, headers, body = request(path, "image/avif,*/*")
    RESULTS.check("%s: conversion MISS then HIT" % label,
                  first == (200, "MISS") and second == (200, "HIT") and headers.get("content-type") == "image/avif",
                  "%s, %s, %s %d bytes" % (first, second, headers.get("content-type"), len(body)))
    status, _, body = request("/_herd/health")
    RESULTS.check("%s: /_herd/health" % label, status == 200, "%d %r" % (status, body[:40]))
    for index in (0, 1):
        status, _, body = request("/_herd/metrics/%d" % index)
        RESULTS.check("%s: /_herd/metrics/%d" % (label, index), status == 200 and b"herd_requests_total" in body,
                      "%d, %d bytes" % (status, len(body)))


def check_under_load(label, action, clients=6, settle=2.0):
    load = Load(clients)
    time.sleep(settle)
    started = time.monotonic()
    action()
    time.sleep(settle)
    total, failed, kinds = load.finish()
    RESULTS.check("%s under load: 0 failed" % label, failed == 0,
                  "%d of %d requests failed %s (action %.1f s)" % (failed, total, kinds or "", time.monotonic() - started))
    return failed


def package_container(root, previous_deb, new_deb, origins):
    container = Container("herd-package", root)
    try:
        # The README's install, of the "previous" build.
        shutil.copy(previous_deb, container.path("/root/"))
        write_sites(container)
        follow_readme(container, "install-package", "configure", "reload")
        check_serving(container, "installed %s" % os.path.basename(previous_deb))
        RESULTS.check("cache directories made by the package (tmpfiles.d)",
                      container.sh("stat -c '%U %a' /var/cache/nginx-herd/media").stdout.strip() == "www-data 700")
        RESULTS.check("/run/herd is a directory nginx can enter, after the workers ran",
                      container.sh("test -d /run/herd -a ! -L /run/herd && stat -c %a /run/herd").stdout.strip() == "755")

        # The upgrade, under load.
        config_before = open(container.path("/etc/herd/config.toml")).read()
        sockets_before = container.sh("stat -L -c %i /run/herd/herd-0.sock /run/herd/herd-1.sock").stdout.split()
        workers_before = workers(container)
        os.remove(container.path("/root/" + os.path.basename(previous_deb)))
        shutil.copy(new_deb, container.path("/root/"))
        upgrade = {}

        def install_new():
            upgrade["result"] = container.sh("apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ./%s" % os.path.basename(new_deb), check=False)
        check_under_load("upgrade %s → %s" % (os.path.basename(previous_deb), os.path.basename(new_deb)), install_new)
        RESULTS.check("upgrade: apt-get install succeeded", upgrade["result"].returncode == 0, upgrade["result"].stdout[-1500:]
                      if upgrade["result"].returncode else "")
        version = container.sh("dpkg-query -W -f '${Version}' herd").stdout.strip()
        RESULTS.check("upgrade: the new version is installed", version in os.path.basename(new_deb), version)
        RESULTS.check("upgrade: /etc/herd/config.toml kept (the admin's url)",
                      open(container.path("/etc/herd/config.toml")).read() == config_before and "127.0.0.1:3000" in config_before)
        sockets_after = container.sh("stat -L -c %i /run/herd/herd-0.sock /run/herd/herd-1.sock").stdout.split()
        RESULTS.check("upgrade: sockets kept (same inodes: never closed)", sockets_after == sockets_before,
                      "%s → %s" % (sockets_before, sockets_after))
        workers_after = workers(container)
        moved = all(workers_after.get(index) not in (None, pid) for index, pid in workers_before.items())
        RESULTS.check("upgrade: every running worker restarted onto the new binary", moved and workers_before,
                      "%s → %s" % (workers_before, workers_after))

        container.sh("systemctl reload nginx")
        time.sleep(1)
        wait_for_nginx()
        check_serving(container, "after systemctl reload nginx")
        container.sh("systemctl restart nginx")
        wait_for_nginx()
        check_serving(container, "after systemctl restart nginx")

        # Restarts and a crash under load.
        def restart_all():
            for index in sorted(workers(container)):
                container.sh("systemctl restart herd@%d" % index)
        check_under_load("systemctl restart herd@N, every worker", restart_all)

        killed = {}

        def kill_one():
            before = workers(container)
            killed["before"] = before
            container.sh("kill -KILL %d" % before[0])
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                now = workers(container)
                if now.get(0) not in (None, before[0]):
                    killed["after"] = now
                    break
                time.sleep(0.2)
        check_under_load("SIGKILL of herd@0 (systemd restarts it)", kill_one)
        RESULTS.check("SIGKILL: systemd restarted herd@0", "after" in killed,
                      "%s → %s" % (killed.get("before"), killed.get("after")))

        # Decoders in their bounded children, under the unit's hardening.
        status, headers, body = request(HEIC, "image/avif,*/*")
        RESULTS.check("HEIC → AVIF under the unit's hardening (decode-heif child)",
                      status == 200 and headers.get("content-type") == "image/avif" and body[4:12] == b"ftypavif",
                      "%d %s %d bytes" % (status, headers.get("content-type"), len(body)))
        os.makedirs(container.path("/etc/systemd/system/herd@.service.d"), exist_ok=True)
        with open(container.path("/etc/systemd/system/herd@.service.d/media-proxy.conf"), "w") as f:
            f.write(MEDIA_PROXY_OVERRIDE)
        container.sh("systemctl daemon-reload && systemctl restart herd@0 herd@1")
        remote = "http://%s:%d%s" % (REMOTE_HOST, origins.remote_port, CLIP)
        status, headers, body = request(signed_preview(remote, "clip.mp4"), "image/webp,*/*", port=AKKOMA_PORT)
        RESULTS.check("video first frame (ffmpeg child) → WebP preview, under the unit's hardening",
                      status == 200 and headers.get("content-type") == "image/webp" and body[8:12] == b"WEBP",
                      "%d %s %d bytes" % (status, headers.get("content-type"), len(body)))
        journal = container.sh("journalctl -u 'herd@*' --no-pager -o cat | grep 'herd listening' | tail -1",
                               check=False).stdout.strip()
        RESULTS.check("the decoder children run without a network under the unit (unshare --net allowed)",
                      "children.network=none" in journal, journal[-300:])

        # Purge, as the README says to run it (root, the shipped defaults).
        path = AVATAR
        cache_status(path)
        hit = cache_status(path)
        purge = container.sh("herd purge http://social.example%s" % path, check=False)
        after = cache_status(path)
        RESULTS.check("herd purge: HIT → purge → MISS", hit == (200, "HIT") and purge.returncode == 0 and after == (200, "MISS"),
                      "%s, purge exit %d (%s), %s" % (hit, purge.returncode, purge.stdout.strip()[-300:], after))

        check_purge_over_http(container)
        check_media_node(container)

        security = container.sh("systemd-analyze security --no-pager herd@0.service", check=False).stdout
        line = next((l for l in security.splitlines() if "Overall exposure level" in l), "")
        score = re.search(r":\s*([0-9.]+)", line)
        RESULTS.check("systemd-analyze security herd@0.service ≤ 2.0 (running unit)", score and float(score.group(1)) <= 2.0,
                      line.strip())

        # The README's uninstall: nothing left.
        os.remove(container.path("/etc/nginx/sites-enabled/herd-system-test"))
        follow_readme(container, "uninstall")
        leftovers = container.sh(
            "ls -d /etc/herd /etc/nginx/herd /var/cache/nginx-herd /run/herd /usr/bin/herd /lib/systemd/system/herd* "
            "/usr/lib/tmpfiles.d/herd.conf /etc/systemd/system/herd* /etc/systemd/system/*.wants/herd* 2>/dev/null; "
            "systemctl list-units --all --plain --no-legend 'herd*' | awk '{print $1}'; pgrep -a herd; "
            "dpkg-query -W -f '${Status}\\n' herd 2>/dev/null | grep -v not-installed", check=False).stdout.strip()
        RESULTS.check("apt purge herd leaves nothing behind", leftovers == "", leftovers.replace("\n", " "))
        RESULTS.check("nginx's configuration still loads after the purge", container.sh("nginx -t 2>&1", check=False).returncode == 0)
    finally:
        container.stop()


def check_purge_over_http(container):
    """Mastodon's cache buster against the installed purge service
    (herd-purge.socket → herd-purge.service as www-data, its secret from
    /etc/herd/purge-secret as a credential)."""
    secret = container.sh("cat /etc/herd/purge-secret").stdout.strip()
    RESULTS.check("the package made a purge secret (0600 root)", len(secret) >= 32
                  and container.sh("stat -c '%U %a' /etc/herd/purge-secret").stdout.strip() == "root 600")
    path = EMOJI + "?purge-over-http"
    cache_status(path, "image/webp,*/*")
    hit = cache_status(path, "image/webp,*/*")
    mastodon = {"User-Agent": "Mastodon/4.5.0 (http.rb/5.2.0; +https://social.example/)",
                "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    wrong, _, _ = request(path, method="PURGE", headers=dict(mastodon, **{"X-Herd-Purge-Secret": "not-the-secret"}))
    status, headers, body = request(path, method="PURGE", headers=dict(mastodon, **{"X-Herd-Purge-Secret": secret}))
    try:
        report = json.loads(body)
    except ValueError:
        report = {}
    after = cache_status(path, "image/webp,*/*")
    RESULTS.check("purge over HTTP (as Mastodon's cache buster sends it): HIT → PURGE → MISS, a wrong secret 403",
                  hit == (200, "HIT") and wrong == 403 and status == 200 and report.get("removed", 0) >= 1 and after == (200, "MISS"),
                  "%s, wrong %d, %d %s, %s" % (hit, wrong, status, body[:200], after))
    journal = container.sh("journalctl -u herd-purge.service --no-pager -o cat", check=False).stdout
    RESULTS.check("herd-purge.service: ran as www-data, logged the refusal, never the secret",
                  "purge refused" in journal and secret not in journal
                  and container.sh("systemctl show -p User --value herd-purge.service").stdout.strip() == "www-data",
                  journal.strip().splitlines()[-1][-200:] if journal.strip() else "no journal")


EDGE_PORT, EDGE_PURGE_PORT, EDGE_HTTP_PORT, NODE_PORT = 28443, 28083, 28084, 28082


def check_media_node(container):
    """The installed package, under its real units, as a media node
    (sites/media-node.conf) for an edge nginx outside the container
    (sites/edge.conf, on the host): the edge's variant travels, both cache,
    and one purge sent to the edge reaches the node's cache."""
    site = open(container.path("/etc/nginx/herd/sites/media-node.conf")).read()
    with open(container.path("/etc/nginx/sites-enabled/herd-media-node"), "w") as f:
        f.write(site.replace("10.0.0.21:8080", "127.0.0.1:%d" % NODE_PORT))
    with open(container.path("/etc/nginx/herd/install/edges.conf"), "w") as f:
        f.write("geo $realip_remote_addr $herd_from_edge {\n    default 0;\n    127.0.0.1 1;\n}\n")
    container.sh("nginx -t && systemctl reload nginx")
    time.sleep(1)
    secret = container.sh("cat /etc/herd/purge-secret").stdout.strip()
    binary = os.path.join(REPO, ".build/release/herd")
    work = tempfile.mkdtemp(prefix="herd-system-edge-")
    processes = []
    try:
        subprocess.run([os.path.join(REPO, "scripts/render-nginx.sh"), work, "http://127.0.0.1:%d" % APP_PORT,
                        os.path.join(work, "no-workers.sock")], check=True, stdout=subprocess.DEVNULL)
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
             "-subj", "/CN=mastodon.example"])
        edge = open(os.path.join(REPO, "deploy/nginx/sites/edge.conf")).read()
        edge = re.sub(r"(    server 10\.0\.0\.2\d:8080[^\n]*\n)+", "    server 127.0.0.1:%d max_fails=2 fail_timeout=10s;\n" % NODE_PORT, edge)
        edge = (edge.replace("/etc/letsencrypt/live/mastodon.example/fullchain.pem", cert)
                .replace("/etc/letsencrypt/live/mastodon.example/privkey.pem", key)
                .replace("/var/log/nginx", work).replace("/var/cache/nginx-herd", os.path.join(work, "cache"))
                .replace("listen 10.0.0.11:8080;", "listen 127.0.0.1:%d;" % EDGE_PURGE_PORT)
                .replace("listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % EDGE_PORT)
                .replace("listen 80;", "listen 127.0.0.1:%d;" % EDGE_HTTP_PORT))
        edge = "\n".join(line for line in edge.split("\n") if "listen [::]" not in line)
        with open(os.path.join(work, "site.conf"), "w") as f:
            f.write(edge)
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write("include %s/scratch-main.conf;\nhttp {\n    include %s/scratch-http.conf;\n    include herd/http.conf;\n"
                    "    include herd/upstreams/mastodon.conf;\n    include site.conf;\n}\n" % (work, work))
        processes.append(subprocess.Popen([binary, "purge-server", "--bind", os.path.join(work, "purge.sock"),
                                           "--set", "server.socket_mode=0666", "--set",
                                           "purge.cache_dir=" + os.path.join(work, "cache/edge-media"),
                                           "--set", "purge.nodes=http://127.0.0.1:%d" % NODE_PORT],
                                          env=dict(os.environ, HERD_PURGE_SECRET=secret),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        processes.append(subprocess.Popen(["nginx", "-p", work + "/", "-c", os.path.join(work, "nginx.conf")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", EDGE_PORT)) == 0 and os.path.exists(os.path.join(work, "purge.sock")):
                    break
            time.sleep(0.1)
        context = ssl._create_unverified_context()

        def through_edge(path, accept, method="GET", headers=None):
            connection = http.client.HTTPSConnection("127.0.0.1", EDGE_PORT, context=context, timeout=30)
            try:
                connection.request(method, path, headers=dict({"Accept": accept, "Host": "mastodon.example"}, **(headers or {})))
                response = connection.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            finally:
                connection.close()

        path = PHOTO + "?media-node"
        first = through_edge(path, "image/avif,image/webp,*/*")
        second = through_edge(path, "image/avif,image/webp,*/*")
        webp = through_edge(path, "image/webp,*/*")
        stored = container.sh("grep -rl 'KEY: httpsmastodon.example%s' /var/cache/nginx-herd/media | wc -l" % path,
                              check=False).stdout.strip()
        RESULTS.check("media node: an edge outside the container gets AVIF (MISS, then HIT at the edge) and WebP from the node",
                      first[0] == 200 and first[1].get("content-type") == "image/avif" and first[1].get("x-cache-status") == "MISS"
                      and second[1].get("x-cache-status") == "HIT" and webp[1].get("content-type") == "image/webp"
                      and "Accept" in (first[1].get("vary") or ""),
                      "%s %s %s, %s, %s" % (first[0], first[1].get("content-type"), first[1].get("x-cache-status"),
                                            second[1].get("x-cache-status"), webp[1].get("content-type")))
        RESULTS.check("media node: its cache holds both variants under the edge's key (https, the public host)", stored == "2",
                      "%s entries" % stored)
        status, _, body = through_edge(PHOTO + "?media-node", "*/*", method="PURGE", headers={"X-Herd-Purge-Secret": secret})
        try:
            report = json.loads(body)
        except ValueError:
            report = {}
        left = container.sh("grep -rl 'KEY: httpsmastodon.example%s' /var/cache/nginx-herd/media | wc -l" % path,
                            check=False).stdout.strip()
        nodes = report.get("nodes") or [{}]
        RESULTS.check("media node: one purge sent to the edge removes the edge's and the node's copies",
                      status == 200 and left == "0" and report.get("removed") == 2 and nodes[0].get("removed") == 2,
                      "%d, edge removed %s, node %s, left on the node %s" % (status, report.get("removed"), nodes[0], left))
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        os.remove(container.path("/etc/nginx/sites-enabled/herd-media-node"))
        container.sh("systemctl reload nginx", check=False)
        shutil.rmtree(work, ignore_errors=True)


def source_container(root):
    container = Container("herd-source", root, binds=[(REPO, "/usr/src/herd")])
    try:
        write_sites(container)
        follow_readme(container, "install-source", "configure", "reload")
        check_serving(container, "make install")
        container.sh("systemctl reload nginx")
        time.sleep(1)
        wait_for_nginx()
        check_serving(container, "make install, after systemctl reload nginx")
        status, headers, body = request(HEIC, "image/webp,*/*")
        RESULTS.check("make install: HEIC → WebP", status == 200 and headers.get("content-type") == "image/webp",
                      "%d %s" % (status, headers.get("content-type")))
    finally:
        container.stop()


def build_release_0_1_0(binary, out):
    """0.1.0's package as released: its units and make-deb.sh from git, this binary."""
    tree = tempfile.mkdtemp(prefix="herd-0.1.0-")
    try:
        archive = subprocess.run(["git", "-C", REPO, "archive", RELEASE_0_1_0, "deploy", "scripts/make-deb.sh",
                                  "config.example.toml", "README.md"], stdout=subprocess.PIPE)
        if archive.returncode != 0:
            return None
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        script = os.path.join(tree, "scripts/make-deb.sh")
        text = open(script).read().replace('version=$("$bin" --version | awk \'{print $2}\')', "version=0.1.0")
        open(script, "w").write(text)
        result = run(["bash", script, out], env=dict(os.environ, HERD_BIN=binary))
        return result.stdout.strip().splitlines()[-1]
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def upgrade_from_0_1_0(root, old_deb, new_deb):
    container = Container("herd-upgrade", root)
    try:
        shutil.copy(old_deb, container.path("/root/"))
        write_sites(container)
        # 0.1.0 had no cache directories: made by hand, as its admins did.
        container.sh("mkdir -p /var/cache/nginx/herd")
        # 0.1.0 had no purge service: its README's steps, without that line.
        follow_readme(container, "install-package", "configure", "reload", without="herd-purge")
        request(PHOTO, "*/*")                  # starts a worker: systemd moves /run/herd
        container.sh("systemctl reload nginx")
        time.sleep(1)
        statuses = [request("%s?old=%d" % (PHOTO, n), "*/*")[0] for n in range(4)]
        RESULTS.note("0.1.0 after a worker ran and nginx reloaded (the defect)", "statuses %s" % statuses)
        os.remove(container.path("/root/" + os.path.basename(old_deb)))
        shutil.copy(new_deb, container.path("/root/"))
        container.sh("apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ./%s" % os.path.basename(new_deb))
        container.sh("systemctl reload nginx")
        time.sleep(1)
        statuses = [request("%s?new=%d" % (PHOTO, n), "*/*")[0] for n in range(4)]
        RESULTS.check("upgrade from 0.1.0 repairs /run/herd: after reload, 4 of 4 answered", statuses == [200] * 4,
                      "statuses %s; /run/herd: %s" % (statuses, container.sh("stat -c %F /run/herd").stdout.strip()))
        check_serving(container, "upgraded from 0.1.0")
    finally:
        container.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", required=True, help="the package to test (make deb)")
    parser.add_argument("--only", nargs="*", choices=["package", "source", "upgrade-0.1.0"], help="run some containers")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("make test-system boots containers: run it as root")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        if not shutil.which(tool):
            sys.exit("make test-system needs %s (scripts/install-deps.sh --system)" % tool)
    started = time.monotonic()
    new_deb = os.path.abspath(args.deb)
    binary = os.path.join(REPO, ".build/release/herd")
    depends = package_names(run(["dpkg-deb", "-f", new_deb, "Depends"]).stdout)
    root = cached_root(depends)
    work = tempfile.mkdtemp(prefix="herd-system-debs-")
    version = run(["dpkg-deb", "-f", new_deb, "Version"]).stdout.strip()
    # "Previous": this tree's package under a lower version, so the upgrade
    # runs the new package's maintainer scripts over an installed one.
    previous = run(["bash", os.path.join(REPO, "scripts/make-deb.sh"), work],
                   env=dict(os.environ, HERD_BIN=binary, HERD_DEB_VERSION=version + "~previous")).stdout.strip().splitlines()[-1]
    origins = Origins()
    only = set(args.only or ["package", "source", "upgrade-0.1.0"])
    try:
        if "package" in only:
            package_container(root, previous, new_deb, origins)
        if "source" in only:
            source_container(root)
        if "upgrade-0.1.0" in only:
            old = build_release_0_1_0(binary, work)
            if old:
                upgrade_from_0_1_0(root, old, new_deb)
            else:
                RESULTS.note("upgrade from 0.1.0", "skipped: this clone has no commit %s" % RELEASE_0_1_0)
    except Exception as error:  # noqa: BLE001 — reported, then the run fails
        RESULTS.check("system test ran to the end", False, str(error)[-3000:])
    finally:
        origins.stop()
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.print_table()
    print("make test-system: %.0f s" % (time.monotonic() - started))
    failed = RESULTS.failed()
    if failed:
        print("%d check(s) failed" % len(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
