# lib.sh - helpers for the shell tests: each check counts as one test, and a check
# that cannot run here is a skip (counted, never a pass); finish prints
# "N passed, N failed, N skipped" and exits non-zero if anything failed or nothing
# was tried at all (a script whose every check was skipped exits 0, and tests/run.sh
# shows it as a skip).
PASSED=0
FAILED=0
SKIPPED=0
ok() { PASSED=$((PASSED + 1)); echo "ok   $1" >&2; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1" >&2; }
# skip NAME REASON: NAME did not run here, because of REASON.
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $1: $2" >&2; }
check() { # check NAME COMMAND...
    name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}
finish() {
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    [ "$FAILED" -eq 0 ] && [ $((PASSED + SKIPPED)) -gt 0 ]
    exit $?
}
# metric FILE KEY: the value of a row of metrics.csv
metric() { awk -F, -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$1"; }
# num_ge A B: A >= B as numbers
num_ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
num_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
num_lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
# Rows of metrics.csv without the clock-dependent ones (names ending in _seconds,
# _per_second or _ms_per_image).
stable_metrics() { grep -Ev '(_seconds|_per_second|_ms_per_image),' "$1"; }
# A confusion CSV: header + 10 rows of 11 fields; prints the total count.
confusion_total() {
    awk -F, 'NR == 1 { if ($0 != "true,pred_0,pred_1,pred_2,pred_3,pred_4,pred_5,pred_6,pred_7,pred_8,pred_9") bad = 1; next }
             { if (NF != 11 || $1 != NR - 2) bad = 1; for (i = 2; i <= 11; i++) { if ($i !~ /^[0-9]+$/) bad = 1; t += $i } }
             END { if (bad || NR != 11) exit 1; print t }' "$1"
}
# Whether MNIST_DIR holds the four files (raw or .gz).
have_mnist() {
    [ -n "${MNIST_DIR:-}" ] || return 1
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f "$MNIST_DIR/$f" ] || [ -f "$MNIST_DIR/$f.gz" ] || return 1
    done
}
