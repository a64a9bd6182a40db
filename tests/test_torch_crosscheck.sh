#!/bin/sh
# test_torch_crosscheck.sh - mnistsec against PyTorch on identical weights: a PyTorch
# model (briefly trained, then FGSM fine-tuned so its FGSM accuracy is far from 0)
# exported to mnistsec's checkpoint format must give the same clean accuracy and loss,
# and the same FGSM accuracy (epsilon 0.3) as PyTorch with the cross-entropy taken in
# float64, as mnistsec takes it, within 0.2 points (pixels whose gradient sign differs
# by rounding). PyTorch's float32 figure and the share of images whose float32
# true-class probability is exactly 1.0 are printed for information.
#
# Runs where $PYTHON (default /usr/bin/python3, Debian's) has torch (Debian:
# python3-torch) and MNIST_DIR holds MNIST; otherwise it is one skip. CROSSCHECK_REF,
# if set, is a directory keeping the PyTorch model and figures between runs (the
# normal and the sanitizer build of make check share one); CROSSCHECK_IMAGES (default
# 2000, the images PyTorch evaluates) checks mnistsec on the first that many only.
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
PY=${PYTHON:-/usr/bin/python3}
if ! have_mnist; then
    skip "PyTorch cross-check" "MNIST_DIR is not set or lacks the MNIST files"
    finish
fi
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    skip "PyTorch cross-check" "$PY cannot import torch and numpy (apt-get install python3-torch)"
    finish
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
N=2000
IMAGES=${CROSSCHECK_IMAGES:-$N}
REF=${CROSSCHECK_REF:-$T/ref}
E=$REF/expected.csv
if [ -f "$E" ] && [ -f "$REF/model.ckpt" ] && [ -f "$REF/per_image.csv" ] &&
    [ "$(metric "$E" test_images)" = "$N" ]; then
    echo "  PyTorch model and figures from $REF" >&2
else
    "$PY" "$(dirname "$0")/../scripts/torch_crosscheck.py" "$MNIST_DIR" "$REF" "$N"
    check "PyTorch script exits 0" [ $? -eq 0 ]
fi
check "PyTorch model exported" [ -f "$REF/model.ckpt" ]
if [ "$IMAGES" != "$N" ]; then
    # PyTorch's figures for the first IMAGES images, from its per-image results.
    awk -F, -v n="$IMAGES" '
        NR > 1 && NR <= n + 1 { c += $3; l += $4; a += $5; a32 += $6; one += $7; k++ }
        END { if (k != n) exit 1
              printf "metric,value\nclean_accuracy,%.9g\nclean_loss,%.9g\n", c / n, l / n
              printf "adv_accuracy,%.9g\nadv_accuracy_float32,%.9g\n", a / n, a32 / n
              printf "p_true_is_one_share,%.9g\n", one / n }' \
        "$REF/per_image.csv" >"$T/expected.csv"
    check "PyTorch figures for the first $IMAGES images" [ $? -eq 0 ]
    E=$T/expected.csv
fi
"$BIN" --mode adv_only --load "$REF/model.ckpt" --data "$MNIST_DIR" --test-limit "$IMAGES" \
    --quiet --out "$T/out"
check "mnistsec loads the PyTorch checkpoint" [ $? -eq 0 ]
M=$T/out/metrics.csv
echo "  first $IMAGES test images, FGSM epsilon 0.3" >&2
echo "  PyTorch: clean $(metric "$E" clean_accuracy) loss $(metric "$E" clean_loss)" \
    "fgsm $(metric "$E" adv_accuracy) (float64 cross-entropy)" >&2
echo "  PyTorch: fgsm $(metric "$E" adv_accuracy_float32) with float32 cross-entropy;" \
    "true-class probability exactly 1.0 in float32 for $(metric "$E" p_true_is_one_share)" \
    "of the images" >&2
echo "  mnistsec: clean $(metric "$M" clean_accuracy) loss $(metric "$M" clean_loss)" \
    "fgsm $(metric "$M" adv_accuracy)" >&2
# within A B TOL: |A - B| <= TOL (with 1e-12 for the rounding of the figures), both present
within() {
    awk -v a="$1" -v b="$2" -v t="$3" \
        'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t + 1e-12) }'
}
check "same clean accuracy" within "$(metric "$M" clean_accuracy)" "$(metric "$E" clean_accuracy)" 0.0005
check "same clean loss (1e-4)" within "$(metric "$M" clean_loss)" "$(metric "$E" clean_loss)" 1e-4
check "PyTorch FGSM accuracy $(metric "$E" adv_accuracy) >= 0.2 (the comparison means something)" \
    num_ge "$(metric "$E" adv_accuracy)" 0.2
check "same FGSM accuracy as float64 cross-entropy (within 0.2 points)" \
    within "$(metric "$M" adv_accuracy)" "$(metric "$E" adv_accuracy)" 0.002
finish
