#!/bin/sh
# Runs every test binary in BUILD/tests, every fuzz-corpus replay in BUILD/fuzz and
# every tests/test_*.sh script; each ends with "N passed, N failed". Prints the total
# on the last line and exits non-zero if anything failed or nothing ran.
BUILD=${1:-build}
total_pass=0
total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_one() {
    name=$1
    shift
    "$@" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $name: no result line (exit $rc)"
        tail -n 20 "$log"
        total_fail=$((total_fail + 1))
        return
    fi
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $name: $line (exit $rc)"
        grep -E 'FAIL|check failed|ERROR|runtime error' "$log" | head -n 30
    else
        echo "ok   $name: $line"
    fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in "$BUILD"/fuzz/replay_*; do
    [ -x "$t" ] || continue
    target=${t##*/replay_fuzz_}
    run_one "$(basename "$t")" "$t" "tests/fuzz/corpus/$target"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" env BUILD="$BUILD" sh "$t"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
