#!/bin/sh
# check.sh - the test command (make check): builds, makes sure MNIST is present
# (downloading it only if MNIST_DIR does not already hold verified files), runs the
# unit tests, CLI tests, fuzz-corpus replays and the smoke test on a data subset, then
# the same under AddressSanitizer + UndefinedBehaviorSanitizer. Last line:
# "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
JOBS=${JOBS:-2}
# get_mnist.sh does nothing when MNIST_DIR already holds verified files.
if ! msg=$(sh scripts/get_mnist.sh data/mnist); then
    echo "0 passed, 1 failed"
    exit 1
fi
echo "$msg" >&2
case "$msg" in
*MNIST_DIR=*) ;;
*) MNIST_DIR=data/mnist ;;
esac
export MNIST_DIR
total_p=0
total_f=0
run_suite() { # run_suite BUILD-DIR [make args...]
    dir=$1
    shift
    echo "== build $dir $*" >&2
    if ! make -s -j"$JOBS" BUILD="$dir" "$@" test-bins >&2; then
        echo "FAIL build $dir" >&2
        total_f=$((total_f + 1))
        return
    fi
    out=$(sh tests/run.sh "$dir")
    echo "$out"
    line=$(echo "$out" | tail -n 1)
    total_p=$((total_p + ${line%% passed*}))
    f=${line#*passed, }
    total_f=$((total_f + ${f%% failed*}))
}
run_suite build
SMOKE_TRAIN=600 SMOKE_TEST=300 SMOKE_EPOCHS=1 SMOKE_MIN_ACC= SMOKE_POISON=20 \
    run_suite build-san SAN=address,undefined,float-cast-overflow
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ] && [ "$total_p" -gt 0 ]
