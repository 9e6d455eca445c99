#!/usr/bin/env python3
"""Animated GIF → animated WebP and AVIF sequence (part of make bench-convert): herd against gif2webp.

The set: GIFs made with ffmpeg from real photos of the shared corpus, each
panned and zoomed for 3 s at 10 frames a second and quantised with
palettegen/paletteuse (dithered, as real GIFs are), at 320, 480 and 640 px
wide; plus ffmpeg's synthetic testsrc2 at 480 px. Same settings: lossy,
quality 80 and herd's image.webp_method (gif2webp -lossy -q 80 -m METHOD),
one thread. Median of BENCH_RUNS whole-process runs (`herd convert` and
`gif2webp`), time per frame, bytes saved against the GIF, peak RSS
(VmHWM, from /usr/bin/time %M). herd's figure includes the process start
a worker pays once. Last columns: herd's AVIF sequence (what an AVIF client
gets; AV1 quality 60 = quantizer 25, speed 8, one thread), its time and
bytes saved.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import CORPUS, HERD, RUNS, SMOKE, herd_setting  # noqa: E402


def make_set(work):
    photos = sorted(os.path.join(CORPUS, "photos", n) for n in os.listdir(os.path.join(CORPUS, "photos")) if n.endswith("-1280.jpg"))
    gifs = []
    for index, photo in enumerate(photos[:1 if SMOKE else 6]):
        width = [320, 480, 640][index % 3]
        path = os.path.join(work, f"{os.path.basename(photo)[:-9]}-{width}.gif")
        zoom = f"crop=iw*0.6:ih*0.6:x='(iw*0.4)*t/3':y='(ih*0.4)*t/3',scale={width}:-2"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-t", "3", "-r", "10", "-i", photo,
                        "-vf", f"{zoom},split[a][b];[a]palettegen[p];[b][p]paletteuse", path], check=True)
        gifs.append(path)
    path = os.path.join(work, "testsrc2-480.gif")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=480x270:d=3:r=10", path], check=True)
    gifs.append(path)
    return gifs


def frames(gif):
    out = subprocess.run(["webpmux", "-info", gif + ".herd.webp"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Number of frames:"):
            return int(line.split(":")[1])
    return 0


def measure(command, output):
    times, rss = [], 0
    for _ in range(RUNS):
        begin = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M"] + command, capture_output=True, text=True)
        times.append(time.perf_counter() - begin)
        if result.returncode != 0:
            raise SystemExit(f"{command[0]} failed: {result.stderr}")
        rss = max(rss, int(result.stderr.strip().splitlines()[-1]))
    return statistics.median(times) * 1000, os.path.getsize(output), rss / 1024


def main():
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    work = tempfile.mkdtemp(prefix="herd-bench-anim.")
    try:
        gifs = make_set(work)
        print(f"\n{'GIF':<24} {'bytes':>9} {'frames':>6} | {'herd ms':>8} {'ms/frame':>8} {'bytes':>8} {'saved':>6} {'RSS MiB':>7} | "
              f"{'gif2webp ms':>11} {'bytes':>8} {'saved':>6} {'RSS MiB':>7} | {'time ×':>6} | {'AVIF ms':>7} {'bytes':>8} {'saved':>6} {'RSS MiB':>7}")
        ratios, herd_saved, ref_saved, avif_saved, avif_ratios = [], [], [], [], []
        for gif in gifs:
            size = os.path.getsize(gif)
            herd = measure([HERD, "convert", gif, "--to", "webp", "-o", gif + ".herd.webp"], gif + ".herd.webp")
            count = frames(gif)
            ref = measure(["gif2webp", "-quiet", "-lossy", "-q", "80", "-m", herd_setting("webp_method"), gif, "-o", gif + ".ref.webp"], gif + ".ref.webp")
            avif = measure([HERD, "convert", gif, "--to", "avif", "-o", gif + ".herd.avif"], gif + ".herd.avif")
            hs, rs, av = 1 - herd[1] / size, 1 - ref[1] / size, 1 - avif[1] / size
            ratios.append(herd[0] / ref[0])
            avif_ratios.append(avif[0] / ref[0])
            herd_saved.append(hs)
            ref_saved.append(rs)
            avif_saved.append(av)
            print(f"{os.path.basename(gif):<24} {size:>9} {count:>6} | {herd[0]:>8.0f} {herd[0] / max(count, 1):>8.1f} {herd[1]:>8} "
                  f"{hs:>6.0%} {herd[2]:>7.0f} | {ref[0]:>11.0f} {ref[1]:>8} {rs:>6.0%} {ref[2]:>7.0f} | {herd[0] / ref[0]:>6.2f} | "
                  f"{avif[0]:>7.0f} {avif[1]:>8} {av:>6.0%} {avif[2]:>7.0f}")
        print(f"median: herd's animated WebP saves {statistics.median(herd_saved):.0%}, gif2webp {statistics.median(ref_saved):.0%}; "
              f"herd's time {statistics.median(ratios):.2f}× gif2webp's (target ≤ 1.10×, ≥ its savings); "
              f"herd's AVIF sequence saves {statistics.median(avif_saved):.0%} in {statistics.median(avif_ratios):.2f}× gif2webp's time")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
