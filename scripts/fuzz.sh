#!/bin/sh
# fuzz.sh - builds and runs the libFuzzer targets tests/fuzz/fuzz_*.c.
#
#   sh scripts/fuzz.sh [SECONDS] [BUILD_DIR] [TARGET...]
#   make fuzz FUZZ_SECONDS=N
#
# Each target is built with clang -fsanitize=fuzzer,address,undefined -DMNISTSEC_FUZZ
# (MNISTSEC_FUZZ skips CRC comparisons so mutated inputs reach the code behind them)
# and linked with only the library files it needs (FUZZ_DEPS below). It then runs for
# SECONDS on a scratch copy of tests/fuzz/corpus/<name>/, so the committed corpus
# never grows by itself; new inputs stay in BUILD_DIR/fuzz-run/<name>/corpus and a
# crashing input in BUILD_DIR/fuzz-run/<name>/ (crash-*, leak-*, timeout-*, oom-*).
# Prints one line per target with its execution count; exits non-zero if any target
# crashed, leaked, timed out or could not be built.
#
# clang's libFuzzer runtime is Debian's libclang-rt-14-dev (installed here if missing
# and we are root).
set -u

SECONDS_PER_TARGET=${1:-${FUZZ_SECONDS:-60}}
OUT=${2:-build-fuzz}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
CLANG=${CLANG:-clang}
# Per-input limits: a parser must answer in well under a second and within 2 GiB.
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}

case $SECONDS_PER_TARGET in
'' | *[!0-9]*)
    echo "fuzz.sh: FUZZ_SECONDS must be a whole number of seconds, got '$SECONDS_PER_TARGET'" >&2
    exit 64
    ;;
esac

# Library files each target links (src/main.c and the numeric code are not needed).
fuzz_deps() {
    case $1 in
    idx) echo "src/idx.c src/inflate.c src/crc32.c src/sha256.c src/fileio.c src/status.c" ;;
    inflate) echo "src/inflate.c src/crc32.c src/status.c" ;;
    checkpoint) echo "src/checkpoint.c src/crc32.c src/inflate.c src/fileio.c src/status.c" ;;
    *) echo "" ;;
    esac
}

if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz.sh: $CLANG not found (apt-get install clang)" >&2
    exit 1
fi

# libFuzzer's runtime: probe with a trivial target, install the package if missing.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    >"$probe_dir/p.c"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined -o "$probe_dir/p" "$probe_dir/p.c" \
    >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "fuzz.sh: libFuzzer runtime missing; installing libclang-rt-14-dev" >&2
        apt-get install -y libclang-rt-14-dev >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y libclang-rt-14-dev >/dev/null 2>&1; }
    fi
    if ! "$CLANG" -fsanitize=fuzzer,address,undefined -o "$probe_dir/p" "$probe_dir/p.c" \
        >/dev/null 2>&1; then
        echo "fuzz.sh: cannot link with -fsanitize=fuzzer (need libclang-rt-14-dev)" >&2
        exit 1
    fi
fi

mkdir -p "$OUT"
targets=$*
if [ -z "$targets" ]; then
    for f in tests/fuzz/fuzz_*.c; do
        [ -f "$f" ] || continue
        n=${f##*/fuzz_}
        targets="$targets ${n%.c}"
    done
fi

CFLAGS_FUZZ="-std=c11 -Iinclude -Itests -D_POSIX_C_SOURCE=200809L -DMNISTSEC_FUZZ -g -O1 \
-fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"

status=0
summary=""
for t in $targets; do
    src=tests/fuzz/fuzz_$t.c
    deps=$(fuzz_deps "$t")
    if [ ! -f "$src" ] || [ -z "$deps" ]; then
        echo "fuzz.sh: no target '$t' (or no FUZZ_DEPS entry for it in scripts/fuzz.sh)" >&2
        status=1
        continue
    fi
    bin=$OUT/fuzz_$t
    # shellcheck disable=SC2086 # word splitting of the flag and file lists is intended
    if ! "$CLANG" $CFLAGS_FUZZ -o "$bin" "$src" $deps -lm; then
        echo "fuzz.sh: $t: build failed" >&2
        status=1
        continue
    fi
    run=$OUT/fuzz-run/$t
    rm -rf "$run"
    mkdir -p "$run/corpus"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp tests/fuzz/corpus/"$t"/* "$run/corpus/" 2>/dev/null
    fi
    log=$run/fuzz.log
    echo "fuzz.sh: $t: running for ${SECONDS_PER_TARGET}s (log $log)" >&2
    # ASan/UBSan reports abort; leaks are findings too.
    ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout="$FUZZ_TIMEOUT" \
        -rss_limit_mb="$FUZZ_RSS_MB" -print_final_stats=1 -artifact_prefix="$run/" \
        "$run/corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    corpus_n=$(find "$run/corpus" -type f | wc -l | tr -d ' ')
    artifacts=$(find "$run" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
        -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | wc -l | tr -d ' ')
    if [ "$rc" -ne 0 ] || [ "$artifacts" -ne 0 ]; then
        line="FAIL $t: exit $rc, ${execs:-?} execs, $artifacts artifact(s) in $run/"
        status=1
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -n 20 >&2
    else
        line="ok   $t: ${execs:-?} execs in ${SECONDS_PER_TARGET}s (${rate:-?}/s), cov ${cov:-?}, corpus $corpus_n files, 0 crashes"
    fi
    echo "$line"
    summary="$summary$line
"
done
printf '%s' "$summary" >"$OUT/fuzz-summary.txt"
exit $status
