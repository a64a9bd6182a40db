#!/bin/sh
# test_smoke.sh - every mode end to end on a subset of real MNIST: files of the
# documented shape, sane ranges, thread-count independence, checkpoint and
# adversarial-set round trips.
#
# Environment: BUILD (binary in $BUILD/mnistsec), MNIST_DIR (required),
# SMOKE_TRAIN/SMOKE_TEST/SMOKE_EPOCHS (subset; default 2000/1000/4), SMOKE_MIN_ACC
# (accuracy the baseline must reach; default 0.90, empty to skip, e.g. under sanitizers),
# SMOKE_POISON (poisoned training images; default 100).
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
TRAIN=${SMOKE_TRAIN:-2000}
TEST=${SMOKE_TEST:-1000}
EPOCHS=${SMOKE_EPOCHS:-4}
MIN_ACC=${SMOKE_MIN_ACC-0.90}
if ! have_mnist; then
    fail "MNIST_DIR is not set or lacks the MNIST files (run: make data)"
    finish
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
SUB="--data $MNIST_DIR --train-limit $TRAIN --test-limit $TEST --quiet"

# baseline, 2 threads, with a checkpoint
"$BIN" --mode baseline $SUB --epochs "$EPOCHS" --threads 2 --out "$T/b2" --save "$T/model.ckpt"
check "baseline exits 0" [ $? -eq 0 ]
M=$T/b2/metrics.csv
check "metrics.csv header" [ "$(head -n 1 "$M")" = "metric,value" ]
for k in mode seed epochs batch_size train_images test_images clean_loss clean_accuracy \
         train_seconds inference_ms_per_image inference_images_per_second; do
    check "baseline metric $k present" metric "$M" "$k" >/dev/null
done
acc=$(metric "$M" clean_accuracy)
check "clean_accuracy in [0,1] ($acc)" num_le "$acc" 1
[ -n "$MIN_ACC" ] && check "clean_accuracy $acc >= $MIN_ACC" num_ge "$acc" "$MIN_ACC"
check "test_images = $TEST" [ "$(metric "$M" test_images)" = "$TEST" ]
check "confusion_clean sums to $TEST" [ "$(confusion_total "$T/b2/confusion_clean.csv")" = "$TEST" ]
check "per_class.csv has 10 classes summing to $TEST" \
    awk -F, -v n="$TEST" 'NR == 1 { ok = ($0 == "class,count,correct,accuracy"); next } { s += $2; c++ } END { exit !(ok && c == 10 && s == n) }' "$T/b2/per_class.csv"
check "per-class counts equal confusion row sums" sh -c "
    awk -F, 'NR > 1 { s = 0; for (i = 2; i <= 11; i++) s += \$i; print \$1 \",\" s }' '$T/b2/confusion_clean.csv' > '$T/rows'
    awk -F, 'NR > 1 { print \$1 \",\" \$2 }' '$T/b2/per_class.csv' | cmp -s - '$T/rows'"
check "manifest.json names the inputs with SHA-256" \
    grep -Eq '"sha256": "[0-9a-f]{64}"' "$T/b2/manifest.json"
check "no temporary files left" sh -c "! ls '$T/b2' | grep -q tmp"

# the same run on 1 thread: identical apart from timing rows
"$BIN" --mode baseline $SUB --epochs "$EPOCHS" --threads 1 --out "$T/b1"
check "threads 1 exits 0" [ $? -eq 0 ]
stable_metrics "$T/b1/metrics.csv" > "$T/m1"
stable_metrics "$M" > "$T/m2"
check "threads 1 and 2: metrics.csv identical apart from timing rows" cmp -s "$T/m1" "$T/m2"
check "threads 1 and 2: confusion identical" cmp -s "$T/b1/confusion_clean.csv" "$T/b2/confusion_clean.csv"

# --load evaluates the saved model to the same numbers
"$BIN" --mode baseline $SUB --load "$T/model.ckpt" --out "$T/bl"
check "baseline --load exits 0" [ $? -eq 0 ]
check "--load reproduces the accuracy" [ "$(metric "$T/bl/metrics.csv" clean_accuracy)" = "$acc" ]
check "--load reproduces the confusion" cmp -s "$T/bl/confusion_clean.csv" "$T/b2/confusion_clean.csv"

# poisoned
"$BIN" --mode poisoned $SUB --epochs "$EPOCHS" --poison-count "${SMOKE_POISON:-100}" --out "$T/p"
check "poisoned exits 0" [ $? -eq 0 ]
P=$T/p/metrics.csv
for k in clean_accuracy clean_loss attack_success_rate source_clean_accuracy \
         triggered_nonsource_accuracy published_protocol_accuracy poisoned_train_count; do
    check "poisoned metric $k present" metric "$P" "$k" >/dev/null
done
asr=$(metric "$P" attack_success_rate)
check "attack_success_rate in [0,1] ($asr)" sh -c "[ -n '$asr' ] && awk 'BEGIN { exit !($asr >= 0 && $asr <= 1) }'"
npois=$(metric "$P" poisoned_train_count)
check "poisoned_indices.csv lists $npois indices" \
    awk -v n="$npois" 'NR == 1 { ok = ($0 == "train_index"); next } { c++ } END { exit !(ok && c == n) }' "$T/p/poisoned_indices.csv"
check "confusion_triggered sums to $TEST" [ "$(confusion_total "$T/p/confusion_triggered.csv")" = "$TEST" ]

# adv_only on the saved model, keeping the adversarial set
"$BIN" --mode adv_only $SUB --load "$T/model.ckpt" --out "$T/a" --save-adv "$T/advset"
check "adv_only exits 0" [ $? -eq 0 ]
A=$T/a/metrics.csv
for k in clean_accuracy adv_accuracy epsilon mean_linf mean_l2 attack_seconds attack_images_per_second \
         published_subset_adv_accuracy; do
    check "adv_only metric $k present" metric "$A" "$k" >/dev/null
done
check "max_linf <= epsilon + 1e-7" \
    num_le "$(metric "$A" max_linf)" "$(awk -v e="$(metric "$A" epsilon)" 'BEGIN { printf "%.9g", e + 1e-7 }')"
check "FGSM lowers accuracy" num_lt "$(metric "$A" adv_accuracy)" "$(metric "$A" clean_accuracy)"
check "confusion_adv sums to $TEST" [ "$(confusion_total "$T/a/confusion_adv.csv")" = "$TEST" ]
# The saved float32 IDX set reads back with --data and scores exactly the adversarial accuracy.
"$BIN" --mode baseline --data "$T/advset" --load "$T/model.ckpt" --quiet --out "$T/ar"
check "adversarial set reloads with --data" [ $? -eq 0 ]
check "reloaded adversarial accuracy equals adv_accuracy" \
    [ "$(metric "$T/ar/metrics.csv" clean_accuracy)" = "$(metric "$A" adv_accuracy)" ]
# epsilon 0 changes nothing
"$BIN" --mode adv_only $SUB --load "$T/model.ckpt" --epsilon 0 --out "$T/a0"
check "epsilon 0: adv_accuracy equals clean_accuracy" \
    [ "$(metric "$T/a0/metrics.csv" adv_accuracy)" = "$(metric "$T/a0/metrics.csv" clean_accuracy)" ]

# adv_training from the saved baseline, one adversarial epoch
"$BIN" --mode adv_training $SUB --load "$T/model.ckpt" --adv-epochs 1 --out "$T/t"
check "adv_training exits 0" [ $? -eq 0 ]
V=$T/t/metrics.csv
for k in before_clean_accuracy before_adv_accuracy after_clean_accuracy after_adv_accuracy; do
    check "adv_training metric $k present" metric "$V" "$k" >/dev/null
done
check "adversarial training raises FGSM accuracy" \
    num_lt "$(metric "$V" before_adv_accuracy)" "$(metric "$V" after_adv_accuracy)"
check "before_clean_accuracy equals the baseline's" [ "$(metric "$V" before_clean_accuracy)" = "$acc" ]
# Not MNIST-only: Fashion-MNIST (same IDX layout, gzipped) trains through the same path.
FASHION=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
if [ -f "$FASHION/train-images-idx3-ubyte.gz" ]; then
    "$BIN" --mode baseline --data "$FASHION" --train-limit "$TRAIN" --test-limit "$TEST" \
        --epochs "$EPOCHS" --quiet --out "$T/f"
    check "Fashion-MNIST baseline exits 0" [ $? -eq 0 ]
    [ -n "$MIN_ACC" ] && check "Fashion-MNIST accuracy $(metric "$T/f/metrics.csv" clean_accuracy) >= 0.6" \
        num_ge "$(metric "$T/f/metrics.csv" clean_accuracy)" 0.6
    check "Fashion-MNIST manifest names its inputs" grep -q fashion "$T/f/manifest.json"
else
    echo "skipped: Fashion-MNIST not installed at $FASHION (apt-get install dataset-fashion-mnist)" >&2
fi
finish
