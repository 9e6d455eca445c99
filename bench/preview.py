#!/usr/bin/env python3
"""make bench-preview: /proxy/preview/ made by herd, beside what Akkoma and Pleroma run.

Photos of the shared corpus and three generated MP4s (360p, 720p, 1080p,
H.264) are served by a "remote" on 127.0.0.2 and asked for as signed
preview URLs through the shipped Akkoma nginx configuration (cache
bypassed, so each request reaches herd; herd's source cache holds the
source, so this is the preview's own cost plus nginx). References, on the
same files from disk: ImageMagick's `convert -resize 600x600> -quality 85`
(Akkoma's preview), libvips' `vipsthumbnail --size 600x600 -o x.jpg[Q=85]`
(Pleroma 2.7's), and for videos the ffmpeg CLI writing the first frame as
JPEG (what Akkoma runs). Medians of BENCH_RUNS runs (default 5), wall ms,
and output bytes; herd's output is WebP (the browser variant asked for) and
JPEG.
"""
import base64
import hashlib
import hmac
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import REPO, start_nginx, stop

HERD = os.environ.get("HERD_BIN", os.path.join(REPO, ".build/release/herd"))
CORPUS = os.environ.get("BENCH_CORPUS", os.path.join(REPO, "bench/out/corpus"))
# BENCH_SMOKE=1: one run, one photo and the 360p clip (make test).
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
RUNS = 1 if SMOKE else int(os.environ.get("BENCH_RUNS", "5"))
SECRET = b"bench-secret-key-base"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_preview(url):
    url64 = b64(url.encode())
    return "/proxy/preview/" + b64(hmac.new(SECRET, url64.encode(), hashlib.sha1).digest()) + "/" + url64


def wait_for(path):
    for _ in range(200):
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise SystemExit(f"{path} did not appear")


class Deployment:
    def __init__(self, files):
        self.dir = tempfile.mkdtemp(prefix="herd-bench-preview.")
        os.chmod(self.dir, 0o755)
        self.procs = []
        root = os.path.join(self.dir, "root")
        os.makedirs(os.path.join(root, "media"))
        for path in files:
            shutil.copy(path, os.path.join(root, "media", os.path.basename(path)))
        port_file = os.path.join(self.dir, "remote.port")
        self.procs.append(subprocess.Popen(
            [sys.executable, os.path.join(REPO, "demo/origin.py"), "--host", "127.0.0.2", "--root", root, "--port-file", port_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(port_file)
        self.remote = f"http://127.0.0.2:{open(port_file).read()}"
        sock = os.path.join(self.dir, "herd.sock")
        self.herd = subprocess.Popen([HERD, "--upstream", "http://127.0.0.1:9", "--bind", sock, "--set", "server.socket_mode=0666",
                                      "--log-level", "warning", "--set", "media_proxy.secret_key_base=" + SECRET.decode(),
                                      "--set", "remote.allow_networks=127.0.0.2/32"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(self.herd)
        wait_for(sock)
        nginx, self.port = start_nginx(self.dir, "http://127.0.0.1:9", [sock], "akkoma")
        self.procs.append(nginx)

    def preview(self, name, accept):
        """Median ms of RUNS previews (after one that fetches the source), and the bytes."""
        path = signed_preview(f"{self.remote}/media/{name}")
        times, size, status = [], 0, 0
        for run in range(RUNS + 1):
            begin = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            conn.request("GET", path, headers={"Accept": accept, "Authorization": "Bearer bench"})
            response = conn.getresponse()
            body = response.read()
            if run > 0:
                times.append((time.perf_counter() - begin) * 1000)
            size, status = len(body), response.status
        return statistics.median(times), size, status

    def stop(self):
        stop(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)


def reference(command, output):
    times = []
    for _ in range(RUNS):
        begin = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times), os.path.getsize(output)


def main():
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print(f"{os.cpu_count()} cores; {subprocess.run([HERD, '-V'], capture_output=True, text=True).stdout.strip()}; {RUNS} runs\n")
    work = tempfile.mkdtemp(prefix="herd-bench-preview-ref.")
    photos = sorted(os.path.join(folder, name) for folder, _, names in os.walk(CORPUS) for name in names
                    if name.lower().endswith((".jpg", ".jpeg", ".png")) and os.path.getsize(os.path.join(folder, name)) > 100 << 10)
    if SMOKE:
        photos = photos[:1]
    videos = []
    for label, size in [("360p", "640x360")] + ([] if SMOKE else [("720p", "1280x720"), ("1080p", "1920x1080")]):
        path = os.path.join(work, f"clip-{label}.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:d=5:r=30",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", path], check=True)
        videos.append(path)
    convert = shutil.which("convert")
    deployment = Deployment(photos + videos)
    try:
        print(f"{'photo':<28} {'herd webp ms':>12} {'bytes':>8} {'herd jpeg ms':>12} {'bytes':>8} | "
              f"{'vips ms':>8} {'bytes':>8} {'IM ms':>8} {'bytes':>8}")
        ratios = []
        for path in photos:
            name = os.path.basename(path)
            webp = deployment.preview(name, "image/webp,*/*")
            jpeg = deployment.preview(name, "image/jpeg,*/*")
            vips = reference(["vipsthumbnail", path, "--size", "600x600", "-o", os.path.join(work, "v.jpg[Q=85]")],
                             os.path.join(work, "v.jpg"))
            im = reference([convert, path, "-resize", "600x600>", "-quality", "85", os.path.join(work, "m.jpg")],
                           os.path.join(work, "m.jpg")) if convert else (float("nan"), 0)
            ratios.append(jpeg[0] / vips[0])
            print(f"{name[:28]:<28} {webp[0]:>12.1f} {webp[1]:>8} {jpeg[0]:>12.1f} {jpeg[1]:>8} | "
                  f"{vips[0]:>8.1f} {vips[1]:>8} {im[0]:>8.1f} {im[1]:>8}")
        if ratios:
            print(f"median herd JPEG preview time / vipsthumbnail: {statistics.median(ratios):.2f}×")
        print(f"\n{'video':<28} {'herd webp ms':>12} {'bytes':>8} | {'ffmpeg CLI first frame → JPEG ms':>32} {'bytes':>8}")
        for path in videos:
            name = os.path.basename(path)
            webp = deployment.preview(name, "image/webp,*/*")
            cli = reference(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", path, "-frames:v", "1",
                             "-vf", "scale=w='min(iw,600)':h='min(ih,600)':force_original_aspect_ratio=decrease",
                             "-q:v", "3", os.path.join(work, "f.jpg")], os.path.join(work, "f.jpg"))
            print(f"{name:<28} {webp[0]:>12.1f} {webp[1]:>8} | {cli[0]:>32.1f} {cli[1]:>8}")
        print(f"\nherd RSS after: {open(f'/proc/{deployment.herd.pid}/status').read().split('VmHWM:')[1].split()[0]} KiB peak")
    finally:
        deployment.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
