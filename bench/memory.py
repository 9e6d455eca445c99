#!/usr/bin/env python3
"""Peak memory of one conversion, measured and estimated, per source format
and output (make bench-memory).

For each case herd convert runs in a process of its own; the peak is the
child's maximum RSS from the OS (getrusage, i.e. VmHWM) minus the peak of
`herd --version` (the binary and its libraries), and the estimate is what a
worker reserves of image.memory_budget for it (MemoryEstimate, printed by
`herd convert --timings`). The estimate must never be below the measure.
Sources are made with libvips (vips black: one colour, small files that
decode big), 10–40 MP.
"""
import os, re, resource, subprocess, sys, tempfile

HERD = os.environ.get("HERD_BIN", ".build/release/herd")
CASES = [  # (name, width, height, bands, suffix)
    ("jpeg 40MP", 7900, 5000, 3, "jpg"),
    ("jpeg 10MP", 4096, 2592, 3, "jpg"),
    ("png 40MP", 7900, 5000, 3, "png"),
    ("png+alpha 40MP", 7900, 5000, 4, "png"),
    ("png 10MP", 4096, 2592, 3, "png"),
    ("webp 16MP", 4000, 4000, 3, "webp"),
    ("webp 10MP", 4096, 2592, 3, "webp"),
]


# BENCH_SMOKE=1: the smallest case only (make test).
if os.environ.get("BENCH_SMOKE") == "1":
    CASES = [case for case in CASES if case[0] == "png 10MP"]


def measure(argv):
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.stderr.write(r.stderr)")
    result = subprocess.run([sys.executable, "-c", code] + argv, capture_output=True, text=True)
    return int(result.stdout.strip().splitlines()[-1]), result.stderr


def main():
    work = tempfile.mkdtemp(prefix="herd-bench-memory-")
    base, _ = measure([HERD, "--version"])
    print(f"herd binary and libraries: {base / 1024:.0f} MiB (subtracted below)")
    print(f"{'source':<16} {'to':<5} {'measured MiB':>12} {'estimate MiB':>12} {'estimate/measured':>18}")
    worst = []
    for name, width, height, bands, suffix in CASES:
        raw = os.path.join(work, "raw.v")
        source = os.path.join(work, f"source.{suffix}")
        subprocess.run(["vips", "black", raw, str(width), str(height), "--bands", str(bands)], check=True)
        subprocess.run(["vips", "copy", raw, source], check=True)
        for target in ("avif", "webp", "jpeg"):
            peak, stderr = measure([HERD, "convert", source, "--to", target, "-o", os.path.join(work, "out"),
                                    "--force", "--timings", "--set", "image.timeout=300"])
            match = re.search(r"estimated peak: (\d+) KiB", stderr)
            if not match:
                print(f"{name:<16} {target:<5} failed: {stderr.strip()[:120]}")
                continue
            measured = max(1, peak - base)
            estimate = int(match.group(1))
            ratio = estimate / measured
            worst.append(ratio)
            print(f"{name:<16} {target:<5} {measured / 1024:>12.0f} {estimate / 1024:>12.0f} {ratio:>17.2f}x")
    if worst:
        print(f"-- estimate/measured: min {min(worst):.2f}x, max {max(worst):.2f}x "
              f"({'never below the measure' if min(worst) >= 1 else 'BELOW the measure somewhere'})")


if __name__ == "__main__":
    main()
