#!/bin/sh
# test_torch_crosscheck.sh - mnistsec against PyTorch on identical weights: a PyTorch
# model exported to mnistsec's checkpoint format must give the same clean accuracy and
# loss, and (up to pixels whose gradient sign differs by rounding) the same FGSM
# accuracy. Runs only where python3 has torch (Debian: python3-torch) and MNIST_DIR is
# set; otherwise it says it is skipped.
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
PY=${PYTHON:-/usr/bin/python3}
if ! have_mnist || ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "skipped: needs MNIST_DIR and $PY with torch" >&2
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
N=2000
"$PY" "$(dirname "$0")/../scripts/torch_crosscheck.py" "$MNIST_DIR" "$T/ref" "$N"
check "PyTorch model exported" [ -f "$T/ref/model.ckpt" ]
"$BIN" --mode adv_only --load "$T/ref/model.ckpt" --data "$MNIST_DIR" --test-limit "$N" \
    --quiet --out "$T/out"
check "mnistsec loads the PyTorch checkpoint" [ $? -eq 0 ]
E=$T/ref/expected.csv
M=$T/out/metrics.csv
echo "  PyTorch: clean $(metric "$E" clean_accuracy) loss $(metric "$E" clean_loss) fgsm $(metric "$E" adv_accuracy)" >&2
echo "  mnistsec: clean $(metric "$M" clean_accuracy) loss $(metric "$M" clean_loss) fgsm $(metric "$M" adv_accuracy)" >&2
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
check "same clean accuracy" within "$(metric "$M" clean_accuracy)" "$(metric "$E" clean_accuracy)" 0.0005
check "same clean loss (1e-4)" within "$(metric "$M" clean_loss)" "$(metric "$E" clean_loss)" 1e-4
check "same FGSM accuracy (within 0.2%)" within "$(metric "$M" adv_accuracy)" "$(metric "$E" adv_accuracy)" 0.002
finish
