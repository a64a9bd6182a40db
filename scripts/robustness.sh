#!/bin/sh
# robustness.sh - the honest evaluation of the published models: the baseline and the
# published FGSM-trained model, each under every attack, into results/robustness/.
#
#   robustness.sh [NAME...]   runs the named evaluations (default: all of them)
#
#   baseline_pgd, fgsm_trained_pgd   FGSM and PGD-40 at eps 0.3 on all 10,000 test images
#   baseline_all, fgsm_trained_all   every attack (fgsm, pgd, apgd-ce, apgd-t, square,
#                                    transfer from the other model) at eps 0, 0.1, 0.2,
#                                    0.3 on the first 1,000 test images
#
# Needs results/baseline/model.ckpt and results/adv_training/model.ckpt (make report,
# or make table-baseline and table-advtrain, recreate them bit for bit).
# Environment: MNIST_DIR, MNISTSEC (binary, default ./mnistsec).
set -eu
cd "$(dirname "$0")/.."
BIN=${MNISTSEC:-./mnistsec}
D=${MNIST_DIR:-data/mnist}
R=results/robustness
B=results/baseline/model.ckpt
F=results/adv_training/model.ckpt
for f in "$B" "$F"; do
    [ -f "$f" ] || { echo "robustness.sh: $f missing (make report)" >&2; exit 66; }
done
rev=$(sh scripts/source_rev.sh)

run() { # run NAME ARGS...: one evaluation, with its COMMAND file
    name=$1
    shift
    echo "robustness: $name" >&2
    "$BIN" --mode adv_only --data "$D" --out "$R/$name" "$@" --quiet
    { echo "$BIN --mode adv_only --data $D --out $R/$name $* --quiet"; echo "source: $rev"; } \
        >"$R/$name/COMMAND"
}

all="baseline_pgd fgsm_trained_pgd baseline_all fgsm_trained_all"
for name in ${*:-$all}; do
    case "$name" in
    baseline_pgd) run "$name" --load "$B" --attack fgsm,pgd ;;
    fgsm_trained_pgd) run "$name" --load "$F" --attack fgsm,pgd ;;
    baseline_all)
        run "$name" --load "$B" --attack all --surrogate "$F" --eps-sweep 0,0.1,0.2,0.3 \
            --attack-limit 1000 ;;
    fgsm_trained_all)
        run "$name" --load "$F" --attack all --surrogate "$B" --eps-sweep 0,0.1,0.2,0.3 \
            --attack-limit 1000 ;;
    *) echo "robustness.sh: unknown evaluation '$name'" >&2; exit 64 ;;
    esac
done
