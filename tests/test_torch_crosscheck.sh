#!/bin/sh
# test_torch_crosscheck.sh - mnistsec against PyTorch on identical weights: a PyTorch
# model (briefly trained, then FGSM fine-tuned so its FGSM accuracy is far from 0)
# exported to mnistsec's checkpoint format must give
#   - the same clean accuracy and loss;
#   - the same FGSM accuracy (epsilon 0.3) as PyTorch with the cross-entropy taken in
#     float64, as mnistsec takes it, within 0.2 points (pixels whose gradient sign
#     differs by rounding);
#   - the same BIM accuracy (PGD without random start: 10 steps of 0.02 at epsilon 0.3,
#     mnistsec's `--attack pgd --no-random-start`), within 0.5 points, and the same
#     outcome per image on all but 0.5% of the images. A BIM step can flip a pixel
#     whose gradient is a rounding-level tie, and the next steps then start from
#     different points, so ten steps get more room than FGSM's one; on the committed
#     setup (OpenBLAS, 2000 images) mnistsec, PyTorch in float32, PyTorch with the
#     cross-entropy in float64 and PyTorch entirely in float64 give the same outcome on
#     every image. A wrong step, sign, projection or stopping rule moves the accuracy by
#     tens of points (0.82, 0.42, 0.01 for steps of 0.01, 0.02, 0.03).
# PyTorch's float32 figures and the share of images whose float32 true-class
# probability is exactly 1.0 (where the float32 gradient vanishes) are printed for
# information, with every figure, on one line "crosscheck: key=value ..." on stdout.
#
# Runs where $PYTHON (default /usr/bin/python3, Debian's) has torch (Debian:
# python3-torch) and MNIST_DIR holds MNIST; otherwise every check is a skip with the
# reason. CROSSCHECK_REF, if set, is a directory keeping the PyTorch model and figures
# between runs (the normal and the sanitizer build of make check share one);
# CROSSCHECK_IMAGES (default 2000, the images PyTorch evaluates) checks mnistsec on the
# first that many only.
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
PY=${PYTHON:-/usr/bin/python3}
# The checks that compare the two programs, skipped together when one cannot run.
CHECKS="PyTorch model exported
mnistsec loads the PyTorch checkpoint
same clean accuracy
same clean loss
PyTorch FGSM accuracy far from 0
same FGSM accuracy
PyTorch BIM accuracy far from 0 and 1
same BIM accuracy
same BIM outcome per image"
skip_all() {
    while IFS= read -r c; do skip "$c" "$1"; done <<EOF
$CHECKS
EOF
    finish
}
if ! have_mnist; then
    skip_all "MNIST_DIR is not set or lacks the MNIST files"
fi
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    skip_all "$PY cannot import torch and numpy (apt-get install python3-torch)"
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
N=2000
IMAGES=${CROSSCHECK_IMAGES:-$N}
REF=${CROSSCHECK_REF:-$T/ref}
E=$REF/expected.csv
# a kept reference counts only if it is complete and from this version of the script
if [ -f "$E" ] && [ -f "$REF/model.ckpt" ] && [ -f "$REF/per_image.csv" ] &&
    [ "$(metric "$E" test_images)" = "$N" ] && metric "$E" bim_step_size >/dev/null; then
    echo "  PyTorch model and figures from $REF" >&2
else
    "$PY" "$(dirname "$0")/../scripts/torch_crosscheck.py" "$MNIST_DIR" "$REF" "$N"
    check "PyTorch script exits 0" [ $? -eq 0 ]
fi
check "PyTorch model exported" [ -f "$REF/model.ckpt" ]
PER=$REF/per_image.csv
if [ "$IMAGES" != "$N" ]; then
    # PyTorch's figures for the first IMAGES images, from its per-image results.
    awk -F, -v n="$IMAGES" '
        NR > 1 && NR <= n + 1 { c += $3; l += $4; a += $5; a32 += $6; one += $7
                                b += $8; b32 += $9; k++ }
        END { if (k != n) exit 1
              printf "metric,value\nclean_accuracy,%.9g\nclean_loss,%.9g\n", c / n, l / n
              printf "adv_accuracy,%.9g\nadv_accuracy_float32,%.9g\n", a / n, a32 / n
              printf "p_true_is_one_share,%.9g\n", one / n
              printf "bim_accuracy,%.9g\nbim_accuracy_float32,%.9g\n", b / n, b32 / n }' \
        "$PER" >"$T/expected.csv"
    check "PyTorch figures for the first $IMAGES images" [ $? -eq 0 ]
    grep -E '^(bim_steps|bim_step_size),' "$E" >>"$T/expected.csv"
    E=$T/expected.csv
fi
STEPS=$(metric "$E" bim_steps)
STEP=$(metric "$E" bim_step_size)
"$BIN" --mode adv_only --load "$REF/model.ckpt" --data "$MNIST_DIR" --test-limit "$IMAGES" \
    --attack fgsm,pgd --no-random-start --pgd-steps "$STEPS" --pgd-step-size "$STEP" \
    --quiet --out "$T/out"
check "mnistsec loads the PyTorch checkpoint" [ $? -eq 0 ]
M=$T/out/metrics.csv
# differ COLUMN PYCOL: images of the first IMAGES whose outcome under mnistsec's attack
# (its robust_examples.csv column COLUMN, a predicted class) differs from PyTorch's
# (per_image.csv column PYCOL, 1 if still correct)
differ() {
    awk -F, -v n="$IMAGES" -v col="$1" -v pycol="$2" '
        FNR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        NR == FNR { if (FNR <= n + 1) ours[$h["index"]] = ($h[col] == $h["label"]); next }
        FNR <= n + 1 { if (!($h["index"] in ours)) exit 1; k++; d += ours[$h["index"]] != $h[pycol] }
        END { if (k != n) exit 1; print d }' "$T/out/robust_examples.csv" "$PER"
}
FGSM_DIFF=$(differ fgsm_pred adv_correct)
BIM_DIFF=$(differ pgd_pred bim_correct)
echo "  first $IMAGES test images, epsilon 0.3; BIM: $STEPS steps of $STEP" >&2
echo "  PyTorch: clean $(metric "$E" clean_accuracy) loss $(metric "$E" clean_loss)" \
    "fgsm $(metric "$E" adv_accuracy) bim $(metric "$E" bim_accuracy)" \
    "(float64 cross-entropy)" >&2
echo "  PyTorch: fgsm $(metric "$E" adv_accuracy_float32) bim" \
    "$(metric "$E" bim_accuracy_float32) with float32 cross-entropy; true-class" \
    "probability exactly 1.0 in float32 for $(metric "$E" p_true_is_one_share) of the images" >&2
echo "  mnistsec: clean $(metric "$M" clean_accuracy) loss $(metric "$M" clean_loss)" \
    "fgsm $(metric "$M" fgsm_accuracy) bim $(metric "$M" pgd_accuracy)" >&2
echo "  images whose outcome differs: fgsm ${FGSM_DIFF:-?}, bim ${BIM_DIFF:-?}" >&2
echo "crosscheck: test_images=$IMAGES epsilon=0.3 bim_steps=$STEPS bim_step_size=$STEP" \
    "p_true_is_one_share=$(metric "$E" p_true_is_one_share)" \
    "clean_accuracy_torch=$(metric "$E" clean_accuracy)" \
    "clean_accuracy_mnistsec=$(metric "$M" clean_accuracy)" \
    "clean_loss_torch=$(metric "$E" clean_loss) clean_loss_mnistsec=$(metric "$M" clean_loss)" \
    "fgsm_accuracy_torch_float64=$(metric "$E" adv_accuracy)" \
    "fgsm_accuracy_torch_float32=$(metric "$E" adv_accuracy_float32)" \
    "fgsm_accuracy_mnistsec=$(metric "$M" fgsm_accuracy) fgsm_images_differ=${FGSM_DIFF:-NA}" \
    "bim_accuracy_torch_float64=$(metric "$E" bim_accuracy)" \
    "bim_accuracy_torch_float32=$(metric "$E" bim_accuracy_float32)" \
    "bim_accuracy_mnistsec=$(metric "$M" pgd_accuracy) bim_images_differ=${BIM_DIFF:-NA}"
# within A B TOL: |A - B| <= TOL (with 1e-12 for the rounding of the figures), both present
within() {
    awk -v a="$1" -v b="$2" -v t="$3" \
        'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t + 1e-12) }'
}
# in_range A LO HI: LO <= A <= HI, A present
in_range() { [ -n "$1" ] && num_ge "$1" "$2" && num_le "$1" "$3"; }
# at_most A B: A <= B, A present
at_most() { [ -n "$1" ] && num_le "$1" "$2"; }
check "same clean accuracy" within "$(metric "$M" clean_accuracy)" "$(metric "$E" clean_accuracy)" 0.0005
check "same clean loss (1e-4)" within "$(metric "$M" clean_loss)" "$(metric "$E" clean_loss)" 1e-4
check "PyTorch FGSM accuracy far from 0: $(metric "$E" adv_accuracy) >= 0.2" \
    num_ge "$(metric "$E" adv_accuracy)" 0.2
check "same FGSM accuracy as float64 cross-entropy (within 0.2 points)" \
    within "$(metric "$M" fgsm_accuracy)" "$(metric "$E" adv_accuracy)" 0.002
B=$(metric "$E" bim_accuracy)
check "PyTorch BIM accuracy far from 0 and 1: $B in [0.2, 0.8]" in_range "$B" 0.2 0.8
check "same BIM accuracy as float64 cross-entropy (within 0.5 points)" \
    within "$(metric "$M" pgd_accuracy)" "$B" 0.005
check "same BIM outcome per image: ${BIM_DIFF:-?} of $IMAGES differ (at most 0.5%)" \
    at_most "$BIM_DIFF" "$((IMAGES / 200))"
finish
