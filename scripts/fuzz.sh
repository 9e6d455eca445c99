#!/usr/bin/env bash
# make fuzz: builds herd's libFuzzer targets (Fuzz/<Target>/, declared in
# Package.swift only when HERD_FUZZ is set) with -sanitize=fuzzer,address in
# .build-fuzz, runs each for FUZZ_SECONDS from its seed corpus
# (Fuzz/corpus/<name>/, read only), and prints one table: executions,
# executions per second, corpus size and crashes per target. Exits 1 if any
# target crashed; the input that did it is kept and its path printed.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   names to run, space-separated (default: all, see below)
#   FUZZ_SCRATCH   build and run directory (default .build-fuzz)
#
# New corpus entries and crash inputs go to $FUZZ_SCRATCH/run/<name>/, never
# into the repository; the run corpus is kept between runs. To replay a
# crash: $FUZZ_SCRATCH/debug/fuzz-<name> <crash file>.
set -uo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
SCRATCH=${FUZZ_SCRATCH:-.build-fuzz}

# name  max_len  [libFuzzer options]   (product fuzz-<name>, seeds Fuzz/corpus/<name>)
# The configuration targets run without LeakSanitizer: TOMLKit 0.6.0 leaks
# the C arrays behind TOMLTable.keys and every int/string it reads
# (tableGetKeys, nodeAsInt, nodeAsString), and FoundationEssentials leaks
# 4 KiB in String(contentsOfFile:) of an empty file. Neither is herd's; the
# configuration is read once per process.
ALL_TARGETS="
request-target   4096
accept           4096
jpeg-segments    8192
png-chunks       8192
gif-structure    8192
probe            8192
config-value     256    -detect_leaks=0
config-loader    16384  -detect_leaks=0
response-head    16384
remote-url       4096
"

declare -A MAX_LEN OPTIONS
names=()
while read -r name max_len options; do
    [ -n "$name" ] || continue
    MAX_LEN[$name]=$max_len
    OPTIONS[$name]=$options
    names+=("$name")
done <<< "$ALL_TARGETS"
if [ -n "${FUZZ_TARGETS:-}" ]; then
    names=()
    for name in $FUZZ_TARGETS; do
        [ -n "${MAX_LEN[$name]:-}" ] || { echo "fuzz: unknown target '$name' (known: $(echo "$ALL_TARGETS" | awk 'NF{printf "%s ", $1}'))" >&2; exit 2; }
        names+=("$name")
    done
fi

# 1. Build every target (one swift build per product: the herd executable must
#    not be linked with libFuzzer's main). `--sanitize=fuzzer` makes SwiftPM
#    link with libFuzzer's main; the swiftc flag is what instruments the Swift
#    code (with --sanitize=fuzzer --sanitize=address, only address reaches
#    swift-frontend: no coverage, libFuzzer runs blind). NDEBUG is
#    for toml++, the only C++ (in TOMLKit): its assertions abort on some
#    malformed TOML (see Fuzz/FuzzConfigLoader) and would end every run of
#    fuzz-config-loader at once.
build_started=$(date +%s)
mkdir -p "$SCRATCH"
for name in "${names[@]}"; do
    echo "fuzz: building fuzz-$name"
    build_log="$SCRATCH/build-$name.log"
    if ! HERD_FUZZ=1 "$SWIFT" build --scratch-path "$SCRATCH" --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address \
            -Xcxx -DNDEBUG --product "fuzz-$name" > "$build_log" 2>&1; then
        grep -v "Cannot export local symbol" "$build_log" | grep -E -A3 "error:" | head -40 >&2
        echo "fuzz: building fuzz-$name failed (log: $build_log)" >&2
        exit 2
    fi
done
echo "fuzz: built ${#names[@]} targets in $(( $(date +%s) - build_started )) s"

# 2. Run each one.
export SWIFT_BACKTRACE=enable=no   # let libFuzzer and ASan report crashes, not Swift's backtracer
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:symbolize=1}
rows=()
crashed=0
for name in "${names[@]}"; do
    run="$SCRATCH/run/$name"
    mkdir -p "$run/corpus" "$run/artifacts"
    log="$run/fuzz.log"
    before=$(ls "$run/artifacts" | wc -l)
    echo "fuzz: running fuzz-$name for $FUZZ_SECONDS s (log: $log)"
    asan_options=$ASAN_OPTIONS
    case " ${OPTIONS[$name]} " in *" -detect_leaks=0 "*) asan_options+=":detect_leaks=0" ;; esac
    ASAN_OPTIONS=$asan_options HERD_FUZZ_TMP="$run/tmp" "$SCRATCH/debug/fuzz-$name" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
        -max_len="${MAX_LEN[$name]}" -print_final_stats=1 -artifact_prefix="$run/artifacts/" \
        ${OPTIONS[$name]} "$run/corpus" "Fuzz/corpus/$name" > "$log" 2>&1
    status=$?
    executions=$(awk '/^stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    per_second=$(awk '/^stat::average_exec_per_sec/ {print $2}' "$log" | tail -1)
    corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    new_artifacts=$(( $(ls "$run/artifacts" | wc -l) - before ))
    found=""
    if [ "$status" != 0 ] || [ "$new_artifacts" -gt 0 ]; then
        crashed=1
        found=$(ls -t "$run/artifacts" | head -1)
        [ -n "$found" ] && found="$run/artifacts/$found"
        echo "fuzz: fuzz-$name FAILED (exit $status); the report:"
        grep -E "Fatal error|ERROR: |SUMMARY|Test unit written|^    #[0-9] " "$log" | head -20 | sed 's/^/    /'
    fi
    rows+=("$(printf '%-16s %12s %9s %8s %8s  %s' "$name" "${executions:-?}" "${per_second:-?}" "${corpus:-?}" \
        "$([ -n "$found" ] || [ "$status" != 0 ] && echo 1 || echo 0)" "$found")")
done

echo
printf '%-16s %12s %9s %8s %8s  %s\n' target executions execs/s corpus crashes "crash input"
for row in "${rows[@]}"; do echo "$row"; done
exit $crashed
