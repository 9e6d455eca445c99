#!/usr/bin/env python3
"""make bench-coalesce: what one-fetch-per-source saves in a burst.

Bursts of N concurrent cold requests (N = 10, 100, 1000) for one image,
spread over three Accept variants (AVIF, WebP, original), through the
shipped nginx configuration to a pool of two herd workers, with nginx's
cache bypassed (Authorization) so every request reaches herd. Once with
herd's single flight and source cache on (the default), once off
(cache.single_flight = false). The stand-in origin answers after 200 ms,
like a remote server. Prints origin requests and p50/p99 latency side by
side, and each worker's RSS before and after.
"""
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import REPO, start_nginx, stop

HERD = os.environ.get("HERD_BIN", os.path.join(REPO, ".build/release/herd"))
ACCEPTS = ["image/avif,image/webp,*/*", "image/webp,*/*", "*/*"]
SIZES = [int(n) for n in os.environ.get("BENCH_BURSTS", "10 100 1000").split()]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Deployment:
    def __init__(self, single_flight):
        self.dir = tempfile.mkdtemp(prefix="herd-bench-coalesce.")
        os.chmod(self.dir, 0o755)
        self.procs = []
        port_file = os.path.join(self.dir, "origin.port")
        self.procs.append(subprocess.Popen(
            [sys.executable, os.path.join(REPO, "demo/origin.py"), "--test-hooks", "--root", os.path.join(REPO, "demo/media"),
             "--port-file", port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while not os.path.exists(port_file):
            time.sleep(0.05)
        self.origin = int(open(port_file).read())
        self.sockets = [os.path.join(self.dir, f"herd-{i}.sock") for i in range(2)]
        self.workers = []
        for sock in self.sockets:
            args = [HERD, "--upstream", f"http://127.0.0.1:{self.origin}", "--bind", sock, "--set", "server.socket_mode=0666",
                    "--threads", "256", "--log-level", "warning", "--set", f"cache.single_flight={'true' if single_flight else 'false'}"]
            worker = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(worker)
            self.workers.append(worker)
        for sock in self.sockets:
            while not os.path.exists(sock):
                time.sleep(0.05)
        nginx, self.port = start_nginx(self.dir, f"http://127.0.0.1:{self.origin}", self.sockets, "mastodon",
                                       connections=8192, backlog=4096)
        self.procs.append(nginx)

    def origin_requests(self, marker):
        conn = http.client.HTTPConnection("127.0.0.1", self.origin)
        conn.request("GET", "/__stats")
        hits = json.loads(conn.getresponse().read())["hits"]
        return sum(count for path, count in hits.items() if marker in path)

    def burst(self, n, marker):
        path = f"/system/media_attachments/files/000/000/001/original/photo.jpg?delay=0.2&{marker}"
        latencies, errors = [], 0
        lock = threading.Lock()
        start_gate = threading.Barrier(n)

        def one(index):
            nonlocal errors
            start_gate.wait()
            begin = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                conn.request("GET", path, headers={"Accept": ACCEPTS[index % 3], "Authorization": "Bearer bench"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except Exception:
                ok = False
            elapsed = time.perf_counter() - begin
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors += 1

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
        return self.origin_requests(marker), p(0.5), p(0.99), errors

    def stop(self):
        stop(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    threading.stack_size(256 * 1024)
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print(f"{os.cpu_count()} cores; {subprocess.run([HERD, '-V'], capture_output=True, text=True).stdout.strip()}\n")
    results = {}
    rss = {}
    for mode in ("on", "off"):
        deployment = Deployment(single_flight=(mode == "on"))
        try:
            before = [rss_mib(w.pid) for w in deployment.workers]
            for n in SIZES:
                results[(mode, n)] = deployment.burst(n, f"{mode}{n}")
                time.sleep(0.5)
            after = [rss_mib(w.pid) for w in deployment.workers]
            rss[mode] = (before, after)
        finally:
            deployment.stop()
    print(f"{'burst':>6} | {'coalescing on: origin':>22} {'p50 ms':>8} {'p99 ms':>8} {'err':>4} | {'off: origin':>12} {'p50 ms':>8} {'p99 ms':>8} {'err':>4}")
    for n in SIZES:
        on, off = results[("on", n)], results[("off", n)]
        print(f"{n:>6} | {on[0]:>22} {on[1]:>8.0f} {on[2]:>8.0f} {on[3]:>4} | {off[0]:>12} {off[1]:>8.0f} {off[2]:>8.0f} {off[3]:>4}")
    for mode in ("on", "off"):
        before, after = rss[mode]
        print(f"worker RSS, coalescing {mode}: " + ", ".join(f"herd-{i} {b:.0f} → {a:.0f} MiB" for i, (b, a) in enumerate(zip(before, after))))


if __name__ == "__main__":
    main()
