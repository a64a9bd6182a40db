#!/bin/sh
# test_signals.sh - SIGINT and SIGTERM stop a real run promptly: exit 130 / 143, one
# line on stderr saying what was interrupted, and the output directory the run created
# removed again (no partial results, no lock file).
#
# Environment: BUILD (binary in $BUILD/mnistsec), MNIST_DIR (the run's data; the
# cases are skipped without it).
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
if ! have_mnist; then
    skip "signals" "MNIST_DIR not set or incomplete"
    finish
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for sig in INT TERM; do
    want=130
    [ "$sig" = TERM ] && want=143
    out=$T/new/out_$sig
    "$BIN" --mode baseline --data "$MNIST_DIR" --train-limit 3000 --test-limit 100 \
        --epochs 200 --threads 1 --quiet --out "$out" 2>"$T/err_$sig" &
    pid=$!
    sleep 2
    kill -"$sig" "$pid"
    t0=$(date +%s)
    wait "$pid"
    rc=$?
    t1=$(date +%s)
    check "SIG$sig: exit $want (got $rc)" [ "$rc" -eq "$want" ]
    check "SIG$sig: stopped within 10 s" [ $((t1 - t0)) -le 10 ]
    check "SIG$sig: one line naming the signal and the phase" \
        sh -c "[ \$(wc -l < '$T/err_$sig') -eq 1 ] && grep -q 'interrupted by SIG$sig during train epoch' '$T/err_$sig'"
    check "SIG$sig: the created output directories are gone" [ ! -e "$T/new" ]
done
finish
