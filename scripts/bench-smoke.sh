#!/usr/bin/env bash
# make bench-smoke: every benchmark once, seconds long, on a tiny corpus made
# from the demo's media (bench/smoke-corpus.sh). make test runs it, so no
# benchmark can rot unnoticed (bench-passthrough did: its hand-written nginx
# configuration missed a file the shipped one came to need). The figures
# mean nothing; a benchmark that fails fails the run.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export HERD_BIN=${HERD_BIN:-$repo/.build/release/herd} BENCH_SMOKE=1
export BENCH_OUT=$repo/bench/out BENCH_CORPUS=$repo/bench/out/smoke-corpus
mkdir -p "$BENCH_OUT"
[[ -f $BENCH_CORPUS/MANIFEST ]] || bench/smoke-corpus.sh "$BENCH_CORPUS" >/dev/null || { echo "bench-smoke: no corpus"; exit 1; }
logs=$BENCH_OUT/smoke-logs
rm -rf "$logs" && mkdir -p "$logs"

failed=0
results=()
run() {
  local name=$1; shift
  local started=$SECONDS
  if "$@" >"$logs/$name.log" 2>&1; then
    results+=("$(printf '%-26s ok    %4d s' "$name" $((SECONDS - started)))")
  else
    results+=("$(printf '%-26s FAIL  %4d s  (%s)' "$name" $((SECONDS - started)) "$logs/$name.log")")
    failed=$((failed + 1))
    tail -n 20 "$logs/$name.log" | sed "s/^/  $name: /"
  fi
}

run bench-passthrough env BENCH_DURATION=1s BENCH_CONNECTIONS=16 BENCH_RUNS=1 bench/passthrough.sh
run bench-convert python3 bench/convert.py
run bench-convert-animation python3 bench/animation.py
run bench-convert-formats python3 bench/formats.py
run bench-convert-throughput env BENCH_DURATION=1s bench/convert-throughput.sh
run bench-offload python3 bench/offload.py
run bench-memory python3 bench/memory.py
run bench-coalesce env BENCH_BURSTS=10 python3 bench/coalesce.py
run bench-preview python3 bench/preview.py
run bench-quality python3 bench/quality.py
run bench-peers env BENCH_SECONDS=1 BENCH_ROUNDS=1 BENCH_WARMUP=1 BENCH_AVIF_CALIBRATION=60 BENCH_WAIT_QUIET=0 \
  BENCH_RETRIES=0 THUMBOR_INSTANCES=1 python3 bench/peers.py
run bench-disk python3 bench/disk.py

echo "== make bench-smoke (every benchmark once, smoke mode; logs in $logs)"
printf '%s\n' "${results[@]}"
((failed == 0)) || { echo "bench-smoke: $failed benchmark(s) failed"; exit 1; }
