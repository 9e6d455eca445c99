#!/usr/bin/env python3
"""make bench-quality: bytes at equal perceived quality, herd's first and
optimized answers beside thumbor and libvips, in one run.

Images: the corpus' photos at 640, 1280 and 2560 px and its graphics
(PNG artwork, one with alpha), each as a PNG reference at its own size
(nothing is resized, so every encoder sees the same pixels). Per image and
format (AVIF, WebP, JPEG; JPEG XL for herd and libvips):

- herd first: `herd convert --force` (what a miss gets at once: AVIF q60
  speed 8, WebP q80 method 2, JPEG q80);
- herd optimized: `herd optimize` (what the background optimizer keeps:
  the lowest quality that scores image.target_quality, slower settings);
- thumbor 7.8 at its defaults: Pillow's encoders as thumbor's PIL engine
  calls them (QUALITY 80 for every format, AVIF speed and codec Pillow's
  defaults, JPEG optimized and progressive), in thumbor's own venv;
- libvips at imgproxy's defaults (WebP Q79, AVIF Q63 speed 8 = vips effort
  1, JPEG XL Q77, JPEG Q80).

Every output is scored with SSIMULACRA 2 (`herd score`: herd's
implementation, validated here against the reference build when one is at
$HERD_SSIMULACRA2_REFERENCE or /var/cache/herd-bench/ssimulacra2: the
largest difference is printed). CPU is the encoder process's (or Pillow's
call's) user + system time. For the peers, a quality sweep gives bytes as a
function of score, and their bytes at herd's optimized score are
interpolated: the comparison at equal perceived quality.

Then latency: first answers through nginx under a steady load, with the
optimizer off, and on and busy (popular images queued), p50 and p99 side
by side. And the first answers' throughput from make bench-peers'
last results (bench/out/peers.json), when there are some.

It ends with one line per target, `target: … met` or `… missed`.
BENCH_PARTS=latency: the latency part alone. BENCH_SMOKE=1: one photo and one graphic, two formats, a short sweep,
seconds of load.
"""
import bisect
import concurrent.futures
import glob
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import REPO, free_port, start_nginx, stop, wait_listening  # noqa: E402

HERD = os.path.abspath(os.environ.get("HERD_BIN", os.path.join(REPO, ".build/release/herd")))
CORPUS = os.environ.get("BENCH_CORPUS", os.path.join(REPO, "bench/out/corpus"))
OUT = os.environ.get("BENCH_OUT", os.path.join(REPO, "bench/out"))
VENV = os.environ.get("THUMBOR_VENV", os.path.join(OUT, "thumbor-venv"))
SMOKE = bool(os.environ.get("BENCH_SMOKE"))
REFERENCE = os.environ.get("HERD_SSIMULACRA2_REFERENCE", "/var/cache/herd-bench/ssimulacra2")
FORMATS = os.environ.get("BENCH_FORMATS", "avif webp" if SMOKE else "avif webp jpeg jxl").split()
SWEEP = [int(q) for q in os.environ.get("BENCH_SWEEP", "50 80" if SMOKE else "30 40 50 60 70 80 90").split()]
LOAD_SECONDS = float(os.environ.get("BENCH_SECONDS", "2" if SMOKE else "20"))
# BENCH_PARTS=latency: only the latency under load (minutes instead of the
# half hour the bytes and scores take).
PARTS = os.environ.get("BENCH_PARTS", "all")
EXT = {"avif": "avif", "webp": "webp", "jpeg": "jpg", "jxl": "jxl"}

PILLOW_ENCODER = r"""
import json, sys, time
from PIL import Image
src, out, fmt, quality = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
image = Image.open(src)
image.load()
started = time.process_time()
options = {"quality": quality}
if fmt == "JPEG":
    options.update(optimize=True, progressive=True)
    image = image.convert("RGB")
elif fmt == "AVIF":
    options["codec"] = "auto"
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode or image.mode == "P" else "RGB")
image.save(out, format=fmt, **options)
print(json.dumps({"cpu": time.process_time() - started}))
"""


def log(message):
    print("bench-quality: " + message, file=sys.stderr, flush=True)


def child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command, **kwargs):
    before = child_cpu()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    return result, child_cpu() - before


def score(reference, path):
    result, _ = run([HERD, "score", reference, path])
    return float(result.stdout.strip()) if result.returncode == 0 else None


def images(work):
    """(name, reference PNG) for the corpus images this run measures."""
    photos = sorted(glob.glob(os.path.join(CORPUS, "photos", "*.jpg")))
    graphics = sorted(glob.glob(os.path.join(CORPUS, "graphics", "*.png")))
    if SMOKE:
        photos = [p for p in photos if p.endswith("-640.jpg")][:1]
        graphics = [g for g in graphics if g.endswith("logo.png")][:1] or graphics[:1]
    else:
        # Every third photo, at each of its sizes; every graphic.
        names = sorted({os.path.basename(p).rsplit("-", 1)[0] for p in photos})[::3]
        photos = [p for p in photos if os.path.basename(p).rsplit("-", 1)[0] in names]
    chosen = []
    for path in photos + graphics:
        name = os.path.splitext(os.path.basename(path))[0]
        reference = os.path.join(work, name + ".png")
        # Graphics above 2560 px are scaled to 1920 by the corpus already.
        subprocess.run(["vips", "copy", path, reference + "[strip]"], check=True, stderr=subprocess.DEVNULL)
        chosen.append((name, reference, "graphic" if path in graphics else "photo"))
    if not SMOKE:
        chosen.append(("screenshot", screenshot(work), "screenshot"))
    return chosen


def screenshot(work):
    """A screenshot with text (the corpus has none): the README's first
    screen rendered by vips (Pango) at 1280×800, dark text on white."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read(1500)
    text = "".join(c for c in text if c not in "<>&`*#")
    steps = [["vips", "text", "t.v", text, "--width", "1200", "--dpi", "110"], ["vips", "invert", "t.v", "i.v"],
             ["vips", "embed", "i.v", "e.v", "40", "40", "1280", "800", "--extend", "white"],
             ["vips", "colourspace", "e.v", "screenshot.png", "srgb"]]
    for step in steps:
        subprocess.run(step, cwd=work, check=True, stderr=subprocess.DEVNULL)
    return os.path.join(work, "screenshot.png")


def herd_first(reference, fmt, out):
    result, cpu = run([HERD, "convert", reference, "--to", fmt, "-o", out, "--force"])
    return cpu if result.returncode == 0 else None


def herd_optimized(reference, fmt, out):
    result, cpu = run([HERD, "optimize", reference, "--to", fmt, "-o", out])
    return cpu if result.returncode == 0 else None


def thumbor(reference, fmt, out, quality=80):
    python = os.path.join(VENV, "bin", "python")
    pil = {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG"}.get(fmt)
    if not pil or not os.path.exists(python):
        return None
    result = subprocess.run([python, "-c", PILLOW_ENCODER, reference, out, pil, str(quality)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return json.loads(result.stdout)["cpu"] if result.returncode == 0 else None


IMGPROXY = {"avif": "Q=63,effort=1", "webp": "Q=79", "jpeg": "Q=80,optimize_coding", "jxl": "Q=77"}


def vips(reference, fmt, out, quality=None):
    options = IMGPROXY[fmt] if quality is None else (f"Q={quality}" + {"avif": ",effort=1", "jpeg": ",optimize_coding"}.get(fmt, ""))
    result, cpu = run(["vips", "copy", reference, f"{out}[{options}]"])
    return cpu if result.returncode == 0 and os.path.exists(out) else None


def at_score(curve, target):
    """Bytes at `target` score on a (score, bytes) curve, linearly interpolated (None outside it)."""
    points = sorted(curve)
    scores = [s for s, _ in points]
    if not points or target < scores[0] or target > scores[-1]:
        return None
    index = bisect.bisect_left(scores, target)
    if scores[index] == target:
        return points[index][1]
    (s0, b0), (s1, b1) = points[index - 1], points[index]
    return b0 + (b1 - b0) * (target - s0) / (s1 - s0)


def validate(rows, work):
    """herd's SSIMULACRA 2 against the reference build on this run's outputs."""
    if not os.access(REFERENCE, os.X_OK):
        return None
    differences = []
    for row in rows:
        if row["score"] is None:
            continue
        decoded = os.path.join(work, "validate.png")
        decoder = {"avif": ["avifdec", "-q", row["path"], decoded], "webp": ["dwebp", "-quiet", row["path"], "-o", decoded],
                   "jxl": ["djxl", row["path"], decoded], "jpeg": ["vips", "copy", row["path"], decoded]}[row["format"]]
        if subprocess.run(decoder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            continue
        # The same decoded pixels to both: what is compared is the metric,
        # not two decoders' chroma upsampling.
        result = subprocess.run([REFERENCE, row["reference"], decoded], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ours = score(row["reference"], decoded)
        if result.returncode == 0 and ours is not None:
            differences.append(abs(float(result.stdout.strip()) - ours))
    return max(differences) if differences else None


def measure(work):
    rows = []
    curves = {}
    for name, reference, kind in images(work):
        for fmt in FORMATS:
            for who, encode in (("herd first", herd_first), ("herd optimized", herd_optimized), ("thumbor", thumbor), ("vips", vips)):
                out = os.path.join(work, f"{name}.{who.replace(' ', '-')}.{EXT[fmt]}")
                cpu = encode(reference, fmt, out)
                if cpu is None:
                    continue
                rows.append({"image": name, "kind": kind, "format": fmt, "who": who, "bytes": os.path.getsize(out),
                             "score": score(reference, out), "cpu": cpu, "path": out, "reference": reference})
            for who, encode in (("thumbor", thumbor), ("vips", vips)):
                curve = []
                for quality in SWEEP:
                    out = os.path.join(work, f"{name}.{who}-q{quality}.{EXT[fmt]}")
                    if encode(reference, fmt, out, quality) is None:
                        continue
                    value = score(reference, out)
                    if value is not None:
                        curve.append((value, os.path.getsize(out)))
                curves[(name, fmt, who)] = curve
        log(f"{name}: done")
    return rows, curves


# --- latency under load: the optimizer off, then on and busy ---------------

def process_cpu(pid):
    """User + system seconds of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_run(work, optimizer_on):
    photos = sorted(glob.glob(os.path.join(CORPUS, "photos", "*-1280.jpg")))[:6] or sorted(glob.glob(os.path.join(CORPUS, "photos", "*.jpg")))[:6]
    root = os.path.join(work, "origin-" + ("on" if optimizer_on else "off"))
    media = os.path.join(root, "system/media_attachments/files/000/000/001/original")
    os.makedirs(media, exist_ok=True)
    for photo in photos:
        shutil.copy(photo, media)
    processes = []
    try:
        port_file = os.path.join(root, "port")
        processes.append(subprocess.Popen([sys.executable, os.path.join(REPO, "demo/origin.py"), "--root", root, "--port-file", port_file],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        origin = f"http://127.0.0.1:{open(port_file).read().strip()}"
        socket_path = os.path.join(root, "herd.sock")
        arguments = [HERD, "--bind", socket_path, "--upstream", origin, "--set", "server.socket_mode=0666"]
        if optimizer_on:
            arguments += ["--set", "optimizer.store_dir=" + os.path.join(root, "store"), "--set", "optimizer.first_ttl=1",
                          "--set", "optimizer.min_bytes=1000"]
            # BENCH_OPTIMIZER_ARGS: other optimizer settings to try ("optimizer.cpu_share=0.1").
            for setting in os.environ.get("BENCH_OPTIMIZER_ARGS", "").split():
                arguments += ["--set", setting]
        else:
            arguments += ["--set", "optimizer.enabled=false"]
        processes.append(subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "herd.log"), "w")))
        for _ in range(200):
            if os.path.exists(socket_path):
                break
            time.sleep(0.05)
        os.makedirs(os.path.join(root, "nginx"), exist_ok=True)
        nginx, port = start_nginx(os.path.join(root, "nginx"), origin, [socket_path], "mastodon")
        processes.append(nginx)
        names = [os.path.basename(p) for p in photos]

        def get(path, accept="image/avif,image/webp,*/*"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", path, headers={"Accept": accept})
            response = connection.getresponse()
            response.read()
            connection.close()
            return response.status

        prefix = "/system/media_attachments/files/000/000/001/original/"
        if optimizer_on:
            # Popular images: asked for, then again after the first lifetime,
            # once per variant: the optimizer has work for the whole run.
            popular = [(prefix + name + f"?popular={round}", accept) for name in names for round in range(3)
                       for accept in ("image/avif,*/*", "image/webp,*/*")]
            for path, accept in popular:
                get(path, accept)
            # nginx counts lifetimes in whole seconds, fresh through the last:
            # max-age=1 may last almost 2 s.
            time.sleep(2.2)
            for path, accept in popular:
                get(path, accept)
        # The measured load: first answers only (a new URL each time), two
        # clients at a steady 3 requests a second each: a busy instance's
        # misses, with the idle moments the optimizer works in (at full
        # CPU it would never run: each of its steps waits for no request to
        # convert). herd's CPU over the window comes from /proc.
        latencies = []
        lock = threading.Lock()
        cpu_before = process_cpu(processes[1].pid)
        stop_at = time.monotonic() + LOAD_SECONDS
        counter = [0]

        def client(index):
            next_at = time.monotonic() + index * 0.16
            while time.monotonic() < stop_at:
                time.sleep(max(0, next_at - time.monotonic()))
                next_at += 1 / 3
                with lock:
                    counter[0] += 1
                    n = counter[0]
                started = time.monotonic()
                status = get(f"{prefix}{names[n % len(names)]}?load={index}-{n}")
                with lock:
                    if status == 200:
                        latencies.append(time.monotonic() - started)
        with concurrent.futures.ThreadPoolExecutor(2) as executor:
            list(executor.map(client, range(2)))
        herd_cpu = process_cpu(processes[1].pid) - cpu_before
        latencies.sort()
        busy = None
        if optimizer_on:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/_herd/metrics")
            metrics = connection.getresponse().read().decode()
            busy = sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("herd_optimizer_cpu_seconds_total"))
        return {"requests": len(latencies), "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
                "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
                "optimizer_cpu_s": busy, "herd_cpu_s": herd_cpu}
    finally:
        stop(processes)


def by_kind(summary, curves, fmt, peer):
    """The same comparison per kind of image (photo, graphic, screenshot)."""
    parts = []
    for kind in ("photo", "graphic", "screenshot"):
        ours, theirs = 0, 0
        for row in summary.get((fmt, "herd optimized"), []):
            bytes_at = at_score(curves.get((row["image"], fmt, peer), []), row["score"]) if row["kind"] == kind else None
            if bytes_at is not None:
                ours += row["bytes"]
                theirs += bytes_at
        if theirs:
            parts.append(f"{kind} {100 * (1 - ours / theirs):+.1f} %")
    return "; " + ", ".join(parts) if len(parts) > 1 else ""


def main():
    if not shutil.which("vips"):
        raise SystemExit("bench-quality needs vips (scripts/install-deps.sh --bench)")
    if not os.path.exists(os.path.join(VENV, "bin", "python")):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import peers
        peers.ensure_thumbor()
    work = tempfile.mkdtemp(prefix="herd-bench-quality-")
    started = time.monotonic()
    try:
        rows, curves = measure(work) if PARTS == "all" else ([], {})
        difference = validate([r for r in rows if r["who"].startswith("herd")], work)
        latency_off = latency_run(work, optimizer_on=False)
        latency_on = latency_run(work, optimizer_on=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\n== make bench-quality%s: bytes and SSIMULACRA 2 per format (mean over images), CPU per image" % (" (smoke)" if SMOKE else ""))
    print(f"{'format':6} {'encoder':16} {'images':>6} {'KB':>9} {'score':>7} {'CPU ms':>8}")
    summary = {}
    for fmt in FORMATS:
        for who in ("herd first", "herd optimized", "thumbor", "vips"):
            chosen = [r for r in rows if r["format"] == fmt and r["who"] == who and r["score"] is not None]
            if not chosen:
                continue
            summary[(fmt, who)] = chosen
            print(f"{fmt:6} {who:16} {len(chosen):6d} {statistics.mean(r['bytes'] for r in chosen) / 1024:9.1f} "
                  f"{statistics.mean(r['score'] for r in chosen):7.2f} {1000 * statistics.mean(r['cpu'] for r in chosen):8.0f}")
    print("\nAt equal perceived quality: the peers' bytes at herd's optimized score, interpolated from their quality sweeps "
          f"(q {' '.join(map(str, SWEEP))})")
    ratios = {}
    for fmt in FORMATS:
        for peer in ("thumbor", "vips"):
            ours, theirs, count = 0, 0, 0
            for row in summary.get((fmt, "herd optimized"), []):
                bytes_at = at_score(curves.get((row["image"], fmt, peer), []), row["score"])
                if bytes_at is None:
                    continue
                ours += row["bytes"]
                theirs += bytes_at
                count += 1
            if count:
                ratios[(fmt, peer)] = (1 - ours / theirs, count)
                print(f"  {fmt:5} herd optimized vs {peer:8}: {100 * (1 - ours / theirs):+6.1f} % fewer bytes "
                      f"({count} images within the sweep's scores){by_kind(summary, curves, fmt, peer)}")
    if difference is not None:
        print(f"\nSSIMULACRA 2: herd's against the reference build on this run's herd outputs: largest difference {difference:.4f}")
    else:
        print("\nSSIMULACRA 2: no reference build here ($HERD_SSIMULACRA2_REFERENCE); Tests/ImagingTests checks the fixtures")
    print("\nFirst answers under load (new URLs, 2 clients at 3 requests/s each, %.0f s each):" % LOAD_SECONDS)
    for label, result in (("optimizer off", latency_off), ("optimizer on, busy", latency_on)):
        extra = f", herd CPU {result['herd_cpu_s']:.1f} s (/proc)"
        if result["optimizer_cpu_s"] is not None:
            extra += f", optimizer CPU {result['optimizer_cpu_s']:.1f} s (images finished)"
        print(f"  {label:20} {result['requests']:5d} requests  p50 {result['p50_ms'] or 0:7.1f} ms  p99 {result['p99_ms'] or 0:7.1f} ms{extra}")
    peers_file = os.path.join(OUT, "peers.json")
    throughput = {}
    if os.path.exists(peers_file):
        try:
            results = json.load(open(peers_file)).get("results", {})
            for fmt in ("avif", "webp"):
                herd, thumb = results.get(fmt, {}).get("herd", {}), results.get(fmt, {}).get("thumbor", {})
                if herd.get("seconds") and thumb.get("seconds") and thumb.get("good"):
                    throughput[fmt] = (herd["good"] / herd["seconds"]) / (thumb["good"] / thumb["seconds"])
        except (ValueError, KeyError, ZeroDivisionError):
            pass

    print("")
    def target(text, value, goal, shown):
        state = "not measured" if value is None else ("met" if value >= goal else "missed")
        print(f"target: {text}: {state}{'' if value is None else ' (' + shown + ')'}")
    avif = ratios.get(("avif", "thumbor"))
    target("optimized AVIF >= 25 % fewer bytes than thumbor at equal SSIMULACRA 2", avif and avif[0], 0.25,
           avif and f"{100 * avif[0]:.1f} % on {avif[1]} images")
    webp = ratios.get(("webp", "thumbor"))
    target("optimized WebP >= 20 % fewer bytes than thumbor at equal SSIMULACRA 2", webp and webp[0], 0.20,
           webp and f"{100 * webp[0]:.1f} % on {webp[1]} images")
    for fmt in ("avif", "webp"):
        value = throughput.get(fmt)
        target(f"first answers' {fmt.upper()} throughput >= 1.5x thumbor (make bench-peers' last run)", value, 1.5,
               value and f"{value:.2f}x")
    for key in ("p50_ms", "p99_ms"):
        off, on = latency_off[key], latency_on[key]
        value = None if not off or not on else 1.10 - on / off
        target(f"first answers' {key[:3]} with the optimizer busy within 10 % of it off", value, 0.0,
               value is not None and f"{on:.1f} ms vs {off:.1f} ms, {100 * (on / off - 1):+.1f} %")
    log(f"done in {time.monotonic() - started:.0f} s")
    with open(os.path.join(OUT, "quality.json"), "w") as handle:
        json.dump({"rows": [{k: v for k, v in r.items() if k not in ("path", "reference")} for r in rows],
                   "ratios": {f"{k[0]} vs {k[1]}": v for k, v in ratios.items()}, "latency_off": latency_off,
                   "latency_on": latency_on, "ssimulacra2_max_difference": difference}, handle, indent=1)


if __name__ == "__main__":
    main()
