#!/usr/bin/env python3
"""make bench-convert, part 3: the formats issue 11 added, in one run.

1. JPEG → JPEG XL, lossless recompression: herd against cjxl at the same
   settings (herd's jxl_effort, one thread: cjxl --num_threads=0), over the photo
   corpus: bytes saved, whole-process time, and the round trip checked
   (djxl's JPEG must be the source, byte for byte).
2. JPEG XL from pixels (sources that are not JPEG): a sweep of effort ×
   quality on PNG graphics and photos decoded to PNG (time, bytes, SSIM),
   the knee chosen for image.jxl_effort / image.jxl_quality; herd beside
   cjxl at the chosen settings.
3. WebP's method and quality, swept like AVIF's speed (time, bytes, SSIM)
   on the 1280-px photos: the knee for image.webp_method.
4. HEIC sources (iPhone-like, made with heif-enc from the corpus photos):
   herd → AVIF/WebP/JPEG against heif-convert (JPEG) and libvips (all three).

Times are medians of whole processes (BENCH_RUNS, default 5), interleaved so
that a noisy neighbour slows every tool alike; SSIM as in convert.py (luma,
Gaussian window, against the decoded source).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import CORPUS, ENV, HERD, RUNS, SMOKE, herd_setting, luma, run_once, ssim  # noqa: E402

PHOTOS = ["photos/Kite-640.jpg", "photos/Kite-1280.jpg", "photos/Kite-2560.jpg",
          "photos/ColorfulCups-640.jpg", "photos/ColorfulCups-1280.jpg", "photos/ColorfulCups-2560.jpg",
          "photos/Path-640.jpg", "photos/Path-1280.jpg", "photos/Path-2560.jpg",
          "photos/EveningGlow-1280.jpg", "photos/Grey-1280.jpg", "photos/FallenLeaf-1280.jpg"]
SWEEP_PHOTOS = ["photos/Kite-1280.jpg"] if SMOKE else ["photos/Kite-1280.jpg", "photos/ColorfulCups-1280.jpg", "photos/Path-1280.jpg"]
GRAPHICS = ["graphics/logo.png"] if SMOKE else ["graphics/logo.png", "graphics/Altai-1920.png"]


def together(cmds):
    """Median seconds of each command, runs interleaved."""
    times = [[] for _ in cmds]
    for _ in range(RUNS):
        for index, cmd in enumerate(cmds):
            times[index].append(run_once(cmd)[0])
    return [statistics.median(t) for t in times]


def herd(src, fmt, out, *settings):
    cmd = [HERD, "convert", src, "--to", fmt, "-o", out, "--force"]
    for setting in settings:
        cmd += ["--set", setting]
    return cmd


def pipeline_ms(cmd):
    """herd's in-process decode→encode time (its --timings line): what a
    worker, which starts once, pays per image."""
    stderr = run_once(cmd + ["--timings"])[1]
    for line in stderr.splitlines():
        if line.startswith("steps:"):
            return sum(float(part.split()[-2]) for part in line[6:].split(","))
    return float("nan")


def jxl_lossless(work, effort):
    print(f"== JPEG → JPEG XL, lossless recompression (effort {effort}, one thread; 'pipe' is herd's time inside a worker) ==")
    print(f"{'image':30} {'src KB':>7} | {'herd ms':>7} {'pipe':>5} {'cjxl ms':>7} {'h/cjxl':>6} {'p/cjxl':>6} | {'herd KB':>7} {'cjxl KB':>7} | {'saved':>6} | round trip")
    ratios, pipe_ratios, saved = [], [], []
    for name in PHOTOS:
        src = os.path.join(CORPUS, name)
        h_out, c_out = os.path.join(work, "h.jxl"), os.path.join(work, "c.jxl")
        h, c = together([herd(src, "jxl", h_out),
                         ["cjxl", src, c_out, "-e", str(effort), "--num_threads=0", "--quiet"]])
        pipe = statistics.median(pipeline_ms(herd(src, "jxl", h_out)) for _ in range(RUNS)) / 1000
        back = os.path.join(work, "back.jpg")
        subprocess.run(["djxl", h_out, back, "--quiet"], check=True, env=ENV, stderr=subprocess.DEVNULL)
        identical = open(back, "rb").read() == open(src, "rb").read()
        size, h_bytes, c_bytes = os.path.getsize(src), os.path.getsize(h_out), os.path.getsize(c_out)
        ratios.append(h / c)
        pipe_ratios.append(pipe / c)
        saved.append(1 - h_bytes / size)
        print(f"{name:30} {size / 1024:7.1f} | {h * 1000:7.0f} {pipe * 1000:5.0f} {c * 1000:7.0f} {h / c:6.2f} {pipe / c:6.2f} |"
              f" {h_bytes / 1024:7.1f} {c_bytes / 1024:7.1f} | {100 * (1 - h_bytes / size):5.1f}% | {'identical' if identical else 'DIFFERS'}")
    print(f"-- median: {100 * statistics.median(saved):.1f}% saved (cjxl the same to 0.1 KB); herd/cjxl time {statistics.median(ratios):.2f}x"
          f" whole process, {statistics.median(pipe_ratios):.2f}x inside a worker (target ≤ 1.10x)\n")


def jxl_sweep(work):
    sources = []
    for name in SWEEP_PHOTOS:
        png = os.path.join(work, os.path.basename(name) + ".png")
        subprocess.run(["vips", "copy", os.path.join(CORPUS, name), png], check=True, env=ENV)
        sources.append(png)
    sources += [os.path.join(CORPUS, g) for g in GRAPHICS]
    lumas = {s: luma(s, work) for s in sources}
    print("== JPEG XL from pixels: effort × quality (herd convert; 3 photos as PNG + 2 graphics; medians) ==")
    print(f"{'effort':>6} {'q':>4} | {'ms':>6} | {'KB':>7} | {'SSIM':>6}")
    rows = {}
    for effort in (3, 5, 7):
        for quality in (70, 80, 90):
            times, sizes, scores = [], [], []
            for src in sources:
                out = os.path.join(work, "sweep.jxl")
                cmd = herd(src, "jxl", out, f"image.jxl_effort={effort}", f"image.jxl_quality={quality}")
                times.append(statistics.median(run_once(cmd)[0] for _ in range(max(1, RUNS // 2))))
                sizes.append(os.path.getsize(out))
                scores.append(ssim(lumas[src], luma(out, work)))
            rows[(effort, quality)] = (statistics.median(times), statistics.median(sizes), statistics.median(scores))
            t, b, q = rows[(effort, quality)]
            print(f"{effort:6} {quality:4} | {t * 1000:6.0f} | {b / 1024:7.1f} | {q:6.4f}")
    print()
    return sources, rows


def jxl_against_cjxl(work, sources, effort, quality):
    print(f"== JPEG XL from pixels at the chosen effort {effort}, quality {quality}: herd vs cjxl (-e {effort} -q {quality}, one thread) ==")
    ratios = []
    for src in sources:
        h_out, c_out = os.path.join(work, "h.jxl"), os.path.join(work, "c.jxl")
        h, c = together([herd(src, "jxl", h_out, f"image.jxl_effort={effort}", f"image.jxl_quality={quality}"),
                         ["cjxl", src, c_out, "-e", str(effort), "-q", str(quality), "--num_threads=0", "--quiet"]])
        ratios.append(h / c)
        print(f"{os.path.basename(src):30} herd {h * 1000:6.0f} ms {os.path.getsize(h_out) / 1024:7.1f} KB |"
              f" cjxl {c * 1000:6.0f} ms {os.path.getsize(c_out) / 1024:7.1f} KB | {h / c:5.2f}x")
    print(f"-- median herd/cjxl time {statistics.median(ratios):.2f}x\n")


def webp_sweep(work):
    sources = [os.path.join(CORPUS, p) for p in SWEEP_PHOTOS]
    lumas = {s: luma(s, work) for s in sources}
    print("== WebP method × quality (herd convert, 3 photos of 1280 px; medians) ==")
    print(f"{'method':>6} {'q':>4} | {'ms':>6} | {'KB':>7} | {'SSIM':>6}")
    for method, qualities in ((0, (80,)), (1, (80,)), (2, (80,)), (3, (75, 80)), (4, (70, 75, 80, 85)), (5, (80,)), (6, (80,))):
        for quality in qualities:
            times, sizes, scores = [], [], []
            for src in sources:
                out = os.path.join(work, "sweep.webp")
                cmd = herd(src, "webp", out, f"image.webp_method={method}", f"image.webp_quality={quality}")
                times.append(statistics.median(run_once(cmd)[0] for _ in range(RUNS)))
                sizes.append(os.path.getsize(out))
                scores.append(ssim(lumas[src], luma(out, work)))
            print(f"{method:6} {quality:4} | {statistics.median(times) * 1000:6.0f} | {statistics.median(sizes) / 1024:7.1f} |"
                  f" {statistics.median(scores):6.4f}")
    print()


def heic(work):
    print("== HEIC sources (heif-enc -q 80 from the corpus photos): herd vs heif-convert (JPEG) and libvips ==")
    print(f"{'image':26} {'HEIC KB':>7} | {'to':4} | {'herd ms':>7} {'ref ms':>7} {'vips ms':>7} | {'h/ref':>5} {'h/vips':>6} | {'herd KB':>7} {'vips KB':>7}")
    ratios = {"avif": [], "webp": [], "jpeg": []}
    ref_ratios = []
    for name in ["photos/Kite-1280.jpg", "photos/ColorfulCups-1280.jpg", "photos/Path-2560.jpg", "photos/EveningGlow-1280.jpg"]:
        src = os.path.join(work, os.path.basename(name).replace(".jpg", ".heic"))
        subprocess.run(["heif-enc", "-q", "80", "-o", src, os.path.join(CORPUS, name)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fmt, vips_opts, ext in (("avif", "[Q=60,effort=1,compression=av1,encoder=aom,strip]", "avif"),
                                    ("webp", f"[Q=80,effort={herd_setting('webp_method')},strip]", "webp"), ("jpeg", "[Q=80,interlace,optimize_coding,strip]", "jpg")):
            h_out, v_out, r_out = (os.path.join(work, f"{tool}.{ext}") for tool in ("herd", "vips", "ref"))
            cmds = [herd(src, fmt, h_out), ["vips", "copy", src, v_out + vips_opts]]
            if fmt == "jpeg":
                cmds.append(["heif-convert", "-q", "80", src, r_out])
            times = together(cmds)
            h, v = times[0], times[1]
            r = times[2] if fmt == "jpeg" else None
            ratios[fmt].append(h / v)
            if r:
                ref_ratios.append(h / r)
            print(f"{os.path.basename(src):26} {os.path.getsize(src) / 1024:7.1f} | {fmt:4} | {h * 1000:7.0f} {(r or 0) * 1000:7.0f} {v * 1000:7.0f} |"
                  f" {(h / r) if r else float('nan'):5.2f} {h / v:6.2f} | {os.path.getsize(h_out) / 1024:7.1f} {os.path.getsize(v_out) / 1024:7.1f}")
    print(f"-- median herd/vips time: AVIF {statistics.median(ratios['avif']):.2f}x, WebP {statistics.median(ratios['webp']):.2f}x,"
          f" JPEG {statistics.median(ratios['jpeg']):.2f}x; herd/heif-convert (JPEG) {statistics.median(ref_ratios):.2f}x\n")


def main():
    for tool in ("cjxl", "djxl", "heif-enc", "heif-convert", "vips"):
        if not shutil.which(tool):
            sys.exit(f"bench/formats.py: {tool} missing (scripts/install-deps.sh --bench installs it)")
    work = tempfile.mkdtemp(prefix="herd-bench-formats.")
    try:
        # herd's defaults, as check-config prints them.
        current = subprocess.run([HERD, "check-config"], capture_output=True, text=True, env=dict(ENV, UPSTREAM_URL="http://x")).stdout
        settings = dict(line.replace(" ", "").split("=", 1) for line in current.splitlines() if line.startswith("jxl_"))
        effort, quality = int(settings["jxl_effort"]), int(settings["jxl_quality"])
        jxl_lossless(work, effort)
        sources, rows = jxl_sweep(work)
        jxl_against_cjxl(work, sources, effort, quality)
        webp_sweep(work)
        heic(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
