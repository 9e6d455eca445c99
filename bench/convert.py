#!/usr/bin/env python3
"""make bench-convert: herd's image pipeline against the reference encoders
and libvips, on real photos and graphics, in one run.

For each target format and image: median wall time of whole processes
(`herd convert`, the reference CLI at the same settings, `vips copy`), output
bytes, bytes saved against the source, and SSIM against the source. Then
the AVIF encoder/speed sweep that chose herd's default, and the throughput of
converted cache misses through nginx → herd.

Same settings means: WebP q80 at herd's image.webp_method (cwebp -q 80 -m M); AVIF libavif
quality 60 = AV1 quantizer 25, speed 8, aom, 4:2:0, one thread
(avifenc --min 25 --max 25 -s 8 -j 1); JPEG q80 progressive, optimized
Huffman, 4:2:0 (djpeg | cjpeg -quality 80 -progressive -optimize
-sample 2x2). libvips: the same Q and effort, VIPS_CONCURRENCY=1, metadata
stripped (vips' AVIF goes through libheif, whose quality scale differs
slightly). Every tool runs single-threaded, as herd's encoders do.

Times are whole processes; "(pipe)" is herd's own decode→encode time
inside the process (a worker pays process start-up, about 18 ms, once, not
per image).

SSIM: Wang et al. 2004 (11x11 Gaussian window, sigma 1.5) on the luma
(BT.601 Y) of the decoded output against the decoded source, both decoded by
libvips.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERD = os.environ.get("HERD_BIN", ".build/release/herd")
# BENCH_SMOKE=1: one run of a few images, the sweep at one point (make test).
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
RUNS = 1 if SMOKE else int(os.environ.get("BENCH_RUNS", "5"))
CORPUS = os.environ.get("BENCH_CORPUS", "bench/out/corpus")
SELECTION = ["photos/Kite-1280.jpg", "graphics/logo.png", "small/emoji-64.png"] if SMOKE else os.environ.get("BENCH_ALL") and None or [
    "photos/Kite-640.jpg", "photos/Kite-1280.jpg", "photos/Kite-2560.jpg",
    "photos/ColorfulCups-640.jpg", "photos/ColorfulCups-1280.jpg", "photos/ColorfulCups-2560.jpg",
    "photos/Path-640.jpg", "photos/Path-1280.jpg", "photos/Path-2560.jpg",
    "photos/EveningGlow-1280.jpg", "photos/Grey-1280.jpg", "photos/FallenLeaf-1280.jpg",
    "graphics/logo.png", "graphics/Altai-1920.png",
    "small/avatar-400.jpg", "small/avatar-120.png", "small/emoji-64.png", "small/rocket.jpg",
]
ENV = dict(os.environ, VIPS_CONCURRENCY="1", OMP_NUM_THREADS="1")


def herd_setting(name):
    """One of herd's effective settings, as check-config prints it."""
    out = subprocess.run([HERD, "check-config"], capture_output=True, text=True, env=dict(ENV, UPSTREAM_URL="http://x")).stdout
    return next(line.split("=", 1)[1].strip() for line in out.splitlines() if line.replace(" ", "").startswith(name + "="))


def commands(fmt, src, out):
    """(herd, reference, vips) command lines writing `out`; None where a tool cannot."""
    herd = [HERD, "convert", src, "--to", fmt, "-o", out, "--force", "--timings"]
    is_jpeg = src.lower().endswith((".jpg", ".jpeg"))
    if fmt == "webp":
        method = herd_setting("webp_method")
        ref = ["cwebp", "-quiet", "-q", "80", "-m", method, "-metadata", "icc", src, "-o", out]
        vips = ["vips", "copy", src, f"{out}[Q=80,effort={method},strip]"]
    elif fmt == "avif":
        ref = ["avifenc", "-j", "1", "-s", "8", "-c", "aom", "--min", "25", "--max", "25",
               "--minalpha", "25", "--maxalpha", "25", "-y", "420", "--ignore-exif", "--ignore-xmp", src, out]
        vips = ["vips", "copy", src, f"{out}[Q=60,effort=1,compression=av1,encoder=aom,strip]"]
    else:
        ref = ["sh", "-c", f"djpeg '{src}' | cjpeg -quality 80 -progressive -optimize -sample 2x2 > '{out}'"] if is_jpeg else None
        vips = ["vips", "copy", src, f"{out}[Q=80,interlace,optimize_coding,strip]"]
    return herd, ref, vips


def run_once(cmd):
    start = time.perf_counter()
    result = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {result.stderr.decode()[:300]}")
    return elapsed, result.stderr.decode()


def timed(cmd):
    return statistics.median(run_once(cmd)[0] for _ in range(RUNS))


def timed_together(cmds):
    """Median wall time of each command, the runs interleaved (A B C A B C …)
    so that a noisy neighbour slows all of them alike. For herd, also the
    median in-process pipeline time (its --timings line): what a worker,
    which starts once, spends per image."""
    times = [[] for _ in cmds]
    pipeline = []
    for _ in range(RUNS):
        for index, cmd in enumerate(cmds):
            if cmd is None:
                continue
            elapsed, stderr = run_once(cmd)
            times[index].append(elapsed)
            for line in stderr.splitlines():
                if line.startswith("steps:"):
                    pipeline.append(sum(float(part.split()[-2]) for part in line[6:].split(",")) / 1000)
    medians = [statistics.median(t) if t else None for t in times]
    return medians, (statistics.median(pipeline) if pipeline else None)


def luma(path, workdir):
    """Decoded luma plane of any image, via libvips, as a float array."""
    import numpy as np
    raw = os.path.join(workdir, "decoded.v")
    subprocess.run(["vips", "colourspace", path, raw + ".tmp.v", "srgb"], check=True, env=ENV,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["vips", "flatten", raw + ".tmp.v", raw, "--background", "255"], check=False, env=ENV,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.exists(raw):
        shutil.copy(raw + ".tmp.v", raw)
    dims = {}
    for field in ("width", "height", "bands"):
        dims[field] = int(subprocess.run(["vipsheader", "-f", field, raw], capture_output=True, text=True).stdout)
    subprocess.run(["vips", "rawsave", raw, raw + ".raw"], check=True, env=ENV)
    data = np.fromfile(raw + ".raw", dtype=np.uint8).reshape(dims["height"], dims["width"], dims["bands"]).astype(np.float64)
    for f in (raw, raw + ".tmp.v", raw + ".raw"):
        if os.path.exists(f):
            os.remove(f)
    if dims["bands"] >= 3:
        return 0.299 * data[:, :, 0] + 0.587 * data[:, :, 1] + 0.114 * data[:, :, 2]
    return data[:, :, 0]


def ssimulacra2(reference, path):
    """SSIMULACRA 2 of `path` against `reference` (`herd score`: herd's
    implementation, validated against the reference build by make
    bench-quality); nan when they differ in size or do not decode."""
    result = subprocess.run([HERD, "score", reference, path], capture_output=True, text=True, env=ENV)
    try:
        return float(result.stdout.strip()) if result.returncode == 0 else float("nan")
    except ValueError:
        return float("nan")


def ssim(a, b):
    from scipy.ndimage import gaussian_filter
    if a.shape != b.shape:
        return float("nan")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: gaussian_filter(x, 1.5, truncate=3.5)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(value.mean())


def sweep(work):
    """AVIF encoders and speeds on three 1280-wide photos, through herd convert."""
    photos = ["photos/Kite-1280.jpg"] if SMOKE else ["photos/Kite-1280.jpg", "photos/ColorfulCups-1280.jpg", "photos/Path-1280.jpg"]
    print("== AVIF encoder sweep (herd convert, quality 60, one thread; median over "
          f"{len(photos)} photos × {RUNS} runs) ==")
    print(f"{'codec':6} {'speed':>5} | {'ms':>6} | {'KB':>6} | {'SSIM':>6} {'S2':>6}")
    lumas = {p: luma(os.path.join(CORPUS, p), work) for p in photos}
    codecs = (("aom", (8,)),) if SMOKE else (("aom", range(6, 11)), ("svt", (8, 10)), ("rav1e", (8, 10)))
    for codec, speeds in codecs:
        for speed in speeds:
            times, sizes, scores, perceived = [], [], [], []
            for p in photos:
                out = os.path.join(work, "sweep.avif")
                cmd = [HERD, "convert", os.path.join(CORPUS, p), "--to", "avif", "-o", out, "--force",
                       "--set", f"image.avif_codec={codec}", "--set", f"image.avif_speed={speed}"]
                try:
                    times.append(timed(cmd))
                except RuntimeError as error:
                    print(f"{codec:6} {speed:5} | failed: {error}")
                    break
                sizes.append(os.path.getsize(out))
                scores.append(ssim(lumas[p], luma(out, work)))
                perceived.append(ssimulacra2(os.path.join(CORPUS, p), out))
            else:
                print(f"{codec:6} {speed:5} | {statistics.median(times) * 1000:6.0f} | {statistics.median(sizes) / 1024:6.1f} |"
                      f" {statistics.median(scores):6.4f} {statistics.median(perceived):6.2f}")
    print()


def fmt_ms(seconds):
    return "—" if seconds is None else f"{seconds * 1000:.0f}"


def main():
    files = SELECTION or sorted(
        os.path.relpath(os.path.join(d, f), CORPUS) for d, _, fs in os.walk(CORPUS) for f in fs if f != "MANIFEST")
    work = tempfile.mkdtemp(prefix="herd-bench-convert.")
    version = subprocess.run([HERD, "-V"], capture_output=True, text=True).stdout.strip()
    print(f"bench-convert: {len(files)} images from {CORPUS}, median of {RUNS} runs, {os.cpu_count()} cores, {version}")
    print(__doc__.split("\n\n")[2].replace("\n", " ") + "\n")
    summary = {}
    for fmt in ("webp", "avif", "jpeg"):
        print(f"== {fmt} ==")
        print(f"{'image':30} {'src KB':>7} | {'herd ms':>7} {'(pipe)':>6} {'ref ms':>7} {'vips ms':>7} | {'h/ref':>5} {'h/vips':>6} |"
              f" {'herd KB':>7} {'ref KB':>7} {'vips KB':>7} | {'saved':>6} | {'SSIM h':>6} {'ref':>6} {'vips':>6} | {'S2 h':>6} {'ref':>6} {'vips':>6}")
        rows = []
        for name in files:
            src = os.path.join(CORPUS, name)
            src_bytes = os.path.getsize(src)
            src_luma = luma(src, work)
            result = {"name": name, "src": src_bytes}
            tools = ("herd", "ref", "vips")
            placeholder = os.path.join(work, f"out.{fmt}")
            cmds = [None if cmd is None else [c.replace(placeholder, os.path.join(work, f"{tool}.{fmt}")) for c in cmd]
                    for tool, cmd in zip(tools, commands(fmt, src, placeholder))]
            medians, pipeline = timed_together(cmds)
            for tool, cmd, seconds in zip(tools, cmds, medians):
                if cmd is None:
                    result[tool] = None
                    continue
                out = os.path.join(work, f"{tool}.{fmt}")
                result[tool] = {"s": seconds, "bytes": os.path.getsize(out), "ssim": ssim(src_luma, luma(out, work)),
                                "s2": ssimulacra2(src, out)}
            result["pipeline"] = pipeline
            h, r, v = result["herd"], result["ref"], result["vips"]
            saved = 100 * (1 - h["bytes"] / src_bytes)
            print(f"{name:30} {src_bytes / 1024:7.1f} | {fmt_ms(h['s']):>7} {fmt_ms(pipeline):>6} {fmt_ms(r and r['s']):>7} {fmt_ms(v['s']):>7} |"
                  f" {(h['s'] / r['s']) if r else float('nan'):5.2f} {h['s'] / v['s']:6.2f} |"
                  f" {h['bytes'] / 1024:7.1f} {(r['bytes'] / 1024) if r else float('nan'):7.1f} {v['bytes'] / 1024:7.1f} |"
                  f" {saved:5.1f}% | {h['ssim']:6.4f} {(r['ssim']) if r else float('nan'):6.4f} {v['ssim']:6.4f} |"
                  f" {h['s2']:6.2f} {(r['s2']) if r else float('nan'):6.2f} {v['s2']:6.2f}")
            rows.append(result)
        photos = [r for r in rows if r["name"].startswith("photos/")]
        with_ref = [r for r in rows if r["ref"]]
        summary[fmt] = {
            "herd/ref time (median)": statistics.median(r["herd"]["s"] / r["ref"]["s"] for r in with_ref),
            "herd/vips time (median)": statistics.median(r["herd"]["s"] / r["vips"]["s"] for r in rows),
            "herd pipeline/ref time (median)": statistics.median(r["pipeline"] / r["ref"]["s"] for r in with_ref),
            "herd/ref time, photos ≥ 1280 (median)": statistics.median(
                r["herd"]["s"] / r["ref"]["s"] for r in with_ref if r["name"].startswith("photos/") and "-640" not in r["name"]),
            "bytes saved vs source JPEG photos (median)": statistics.median(1 - r["herd"]["bytes"] / r["src"] for r in photos),
            "SSIM herd (median, photos)": statistics.median(r["herd"]["ssim"] for r in photos),
            "SSIM ref (median, photos)": statistics.median(r["ref"]["ssim"] for r in photos if r["ref"]),
            "SSIMULACRA 2 herd (median, photos)": statistics.median(r["herd"]["s2"] for r in photos),
            "SSIMULACRA 2 ref (median, photos)": statistics.median(r["ref"]["s2"] for r in photos if r["ref"]),
        }
        s = summary[fmt]
        print(f"-- {fmt}: herd/ref time {s['herd/ref time (median)']:.2f}x (photos ≥ 1280: {s['herd/ref time, photos ≥ 1280 (median)']:.2f}x;"
              f" in-worker pipeline/ref {s['herd pipeline/ref time (median)']:.2f}x), herd/vips time {s['herd/vips time (median)']:.2f}x,"
              f" median saved on photos {100 * s['bytes saved vs source JPEG photos (median)']:.1f}%,"
              f" SSIM herd {s['SSIM herd (median, photos)']:.4f} vs ref {s['SSIM ref (median, photos)']:.4f},"
              f" SSIMULACRA 2 herd {s['SSIMULACRA 2 herd (median, photos)']:.2f} vs ref {s['SSIMULACRA 2 ref (median, photos)']:.2f}\n")
    sweep(work)
    print("targets: herd ≤ 1.10× the reference encoder's time and ≤ 1.00× libvips';"
          " median saved on source JPEGs ≥ 30% (WebP) and ≥ 45% (AVIF)")
    with open(os.path.join(os.environ.get("BENCH_OUT", "bench/out"), "convert.json"), "w") as f:
        json.dump(summary, f, indent=2)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
