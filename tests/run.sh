#!/bin/sh
# Runs every test binary in BUILD/tests, every fuzz-corpus replay in BUILD/fuzz and
# every tests/test_*.sh script; each ends with "N passed, N failed, N skipped" (the
# older "N passed, N failed" is read as 0 skipped). One line per test: "ok", "FAIL",
# or "skip" for a test of which nothing ran but skips; the reason of every skip is
# listed under its test, so a log shows what did not run here and why. Prints
# "N passed, N failed, N skipped" last and exits non-zero if anything failed or
# nothing passed.
BUILD=${1:-build}
total_pass=0
total_fail=0
total_skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# skip_reasons: the skip lines of the log, one per line. A unit test's "  skipped:
# REASON" line is joined to the "skip NAME" line that follows it.
skip_reasons() {
    awk '/^ *skipped: / { if (r != "") print "skipped: " r; r = $0; sub(/^ *skipped: /, "", r); next }
         /^skip / { if (r != "" && index($0, ":") == 0) print $0 ": " r; else print; r = ""; next }
         END { if (r != "") print "skipped: " r }' "$log"
}
run_one() {
    name=$1
    shift
    "$@" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $name: no result line (exit $rc)"
        tail -n 20 "$log"
        total_fail=$((total_fail + 1))
        return
    fi
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    s=0
    case $line in
    *skipped)
        s=${line##*failed, }
        s=${s%% skipped}
        ;;
    esac
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $name: $line (exit $rc)"
        grep -E 'FAIL|check failed|ERROR|runtime error' "$log" | head -n 30
    elif [ "$p" -eq 0 ] && [ "$s" -gt 0 ]; then
        reasons=$(skip_reasons | sed 's/^skip //' | tr '\n' ';' | sed 's/;$//; s/;/; /g')
        echo "skip $name ($s skipped): $reasons"
        return
    else
        echo "ok   $name: $line"
    fi
    [ "$s" -gt 0 ] && skip_reasons | sed 's/^/    /'
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
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
