#!/bin/sh
# run_baseline.sh - the main job of `make run`: make sure MNIST is present (using
# MNIST_DIR when it already holds verified files, downloading into data/mnist
# otherwise), then train and evaluate the baseline with the published settings.
set -eu
cd "$(dirname "$0")/.."
msg=$(sh scripts/get_mnist.sh data/mnist)
echo "$msg" >&2
case "$msg" in
*MNIST_DIR=*) ;;
*) MNIST_DIR=data/mnist ;;
esac
exec ./mnistsec --mode baseline --data "$MNIST_DIR" --out results/baseline \
    --save results/baseline/model.ckpt "$@"
