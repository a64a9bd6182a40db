#!/bin/sh
# test_smoke.sh - every mode end to end on a subset of real MNIST: files of the
# documented shape, the effect each mode exists for (the backdoor works, FGSM hurts,
# adversarial training helps, the model learns), thread-count independence of every
# mode, checkpoint and adversarial-set round trips.
#
# Environment: BUILD (binary in $BUILD/mnistsec), MNIST_DIR (required),
# SMOKE_TRAIN/SMOKE_TEST/SMOKE_EPOCHS (subset; default 2000/1000/4),
# SMOKE_POISON (poisoned training images; default 100), and the floors the effects
# must clear, set by scripts/check.sh for its smaller sanitizer run:
#   SMOKE_MIN_ACC     baseline clean accuracy (default 0.90; empty: a skip)
#   SMOKE_MIN_ASR     attack success rate of the backdoor (default 0.9)
#   SMOKE_ASR_GAIN    how much higher it is than the clean model's, same trigger (0.8)
#   SMOKE_FGSM_DROP   accuracy FGSM (epsilon 0.3) must take off (default 0.3)
#   SMOKE_ADV_GAIN    FGSM accuracy one adversarial epoch must add (default 0.05)
#   SMOKE_FASHION_MIN_ACC   Fashion-MNIST baseline accuracy (default 0.6)
# With the defaults this run reaches clean accuracy 0.926, attack success 1 (the clean
# model 0.01), FGSM accuracy 0.021 rising to 0.143 after one adversarial epoch,
# Fashion-MNIST 0.826. Poison left with its label gives attack success 0, a trigger
# stamped elsewhere at test time 0.03, adversarial training on clean copies a gain of
# 0.001. scripts/check.sh gives the sanitizer run's figures.
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
TRAIN=${SMOKE_TRAIN:-2000}
TEST=${SMOKE_TEST:-1000}
EPOCHS=${SMOKE_EPOCHS:-4}
POISON=${SMOKE_POISON:-100}
MIN_ACC=${SMOKE_MIN_ACC-0.90}
MIN_ASR=${SMOKE_MIN_ASR:-0.9}
ASR_GAIN=${SMOKE_ASR_GAIN:-0.8}
FGSM_DROP=${SMOKE_FGSM_DROP:-0.3}
ADV_GAIN=${SMOKE_ADV_GAIN:-0.05}
FASHION_MIN_ACC=${SMOKE_FASHION_MIN_ACC:-0.6}
if ! have_mnist; then
    fail "MNIST_DIR is not set or lacks the MNIST files (run: make data)"
    finish
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
SUB="--data $MNIST_DIR --train-limit $TRAIN --test-limit $TEST --quiet"
# plus A B: A + B, for thresholds
plus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.9g", a + b }'; }

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
if [ -n "$MIN_ACC" ]; then
    check "baseline learns: clean_accuracy $acc >= $MIN_ACC" num_ge "$acc" "$MIN_ACC"
else
    skip "baseline accuracy floor" "SMOKE_MIN_ACC is empty"
fi
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

# --load evaluates the saved model to the same numbers
"$BIN" --mode baseline $SUB --load "$T/model.ckpt" --out "$T/bl"
check "baseline --load exits 0" [ $? -eq 0 ]
check "--load reproduces the accuracy" [ "$(metric "$T/bl/metrics.csv" clean_accuracy)" = "$acc" ]
check "--load reproduces the confusion" cmp -s "$T/bl/confusion_clean.csv" "$T/b2/confusion_clean.csv"

# poisoned: the backdoor works, and it is the poisoning that makes it work
"$BIN" --mode poisoned $SUB --epochs "$EPOCHS" --poison-count "$POISON" --out "$T/p"
check "poisoned exits 0" [ $? -eq 0 ]
P=$T/p/metrics.csv
for k in clean_accuracy clean_loss attack_success_rate source_clean_accuracy \
         triggered_nonsource_accuracy published_protocol_accuracy poisoned_train_count; do
    check "poisoned metric $k present" metric "$P" "$k" >/dev/null
done
asr=$(metric "$P" attack_success_rate)
check "backdoor: attack_success_rate $asr >= $MIN_ASR ($POISON poisoned images)" \
    num_ge "$asr" "$MIN_ASR"
check "poisoned_train_count = $POISON" [ "$(metric "$P" poisoned_train_count)" = "$POISON" ]
check "poisoned_indices.csv lists $POISON indices" \
    awk -v n="$POISON" 'NR == 1 { ok = ($0 == "train_index"); next } { c++ } END { exit !(ok && c == n) }' "$T/p/poisoned_indices.csv"
check "confusion_triggered sums to $TEST" [ "$(confusion_total "$T/p/confusion_triggered.csv")" = "$TEST" ]
# The clean model, given the same trigger, sends far fewer images of the source class
# to the target: the poisoning makes the backdoor, not the trigger alone.
"$BIN" --mode poisoned $SUB --load "$T/model.ckpt" --out "$T/pc"
check "poisoned --load (clean model) exits 0" [ $? -eq 0 ]
casr=$(metric "$T/pc/metrics.csv" attack_success_rate)
check "backdoor: attack_success_rate $asr >= the clean model's $casr + $ASR_GAIN" \
    num_ge "$asr" "$(plus "$casr" "$ASR_GAIN")"

# adv_only on the saved model, keeping the adversarial set
"$BIN" --mode adv_only $SUB --load "$T/model.ckpt" --out "$T/a" --save-adv "$T/advset"
check "adv_only exits 0" [ $? -eq 0 ]
A=$T/a/metrics.csv
for k in clean_accuracy adv_accuracy epsilon mean_linf mean_l2 attack_seconds attack_images_per_second \
         published_subset_adv_accuracy; do
    check "adv_only metric $k present" metric "$A" "$k" >/dev/null
done
check "max_linf <= epsilon + 1e-7" \
    num_le "$(metric "$A" max_linf)" "$(plus "$(metric "$A" epsilon)" 1e-7)"
aacc=$(metric "$A" adv_accuracy)
aclean=$(metric "$A" clean_accuracy)
check "FGSM takes >= $FGSM_DROP off the accuracy (clean $aclean, FGSM $aacc)" \
    num_le "$(plus "$aacc" "$FGSM_DROP")" "$aclean"
check "confusion_adv sums to $TEST" [ "$(confusion_total "$T/a/confusion_adv.csv")" = "$TEST" ]
# The saved float32 IDX set reads back with --data and scores exactly the adversarial accuracy.
"$BIN" --mode baseline --data "$T/advset" --load "$T/model.ckpt" --quiet --out "$T/ar"
check "adversarial set reloads with --data" [ $? -eq 0 ]
check "reloaded adversarial accuracy equals adv_accuracy" \
    [ "$(metric "$T/ar/metrics.csv" clean_accuracy)" = "$aacc" ]
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
before=$(metric "$V" before_adv_accuracy)
after=$(metric "$V" after_adv_accuracy)
check "adversarial training adds >= $ADV_GAIN to FGSM accuracy ($before -> $after)" \
    num_ge "$after" "$(plus "$before" "$ADV_GAIN")"
check "before_clean_accuracy equals the baseline's" [ "$(metric "$V" before_clean_accuracy)" = "$acc" ]

# Every mode, 1 thread and 2, on a small subset: the same bytes apart from timing rows
# (metrics.csv, every confusion CSV, the poisoned indices, the checkpoint, the
# adversarial set).
SMALL="--data $MNIST_DIR --train-limit 200 --test-limit 50 --epochs 1 --quiet"
for mode in baseline poisoned adv_only adv_training; do
    for n in 1 2; do
        d=$T/id-$mode-$n
        set -- --mode "$mode" $SMALL --threads "$n" --out "$d" --save "$d.ckpt"
        case $mode in
        poisoned) set -- "$@" --poison-count 20 ;;
        adv_only) set -- "$@" --save-adv "$d.adv" ;;
        adv_training) set -- "$@" --adv-epochs 1 ;;
        esac
        "$BIN" "$@"
        check "$mode --threads $n exits 0" [ $? -eq 0 ]
        stable_metrics "$d/metrics.csv" >"$d.stable"
    done
    a=$T/id-$mode-1
    b=$T/id-$mode-2
    check "$mode threads 1 and 2: metrics.csv identical apart from timing rows" \
        cmp -s "$a.stable" "$b.stable"
    check "$mode threads 1 and 2: same checkpoint" cmp -s "$a.ckpt" "$b.ckpt"
    for f in "$a"/confusion_*.csv "$a"/poisoned_indices.csv "$a".adv/*; do
        [ -e "$f" ] || continue
        g=${f#"$a"}
        check "$mode threads 1 and 2: ${g#?} identical" cmp -s "$f" "$b$g"
    done
done

# Not MNIST-only: Fashion-MNIST (same IDX layout, gzipped) trains through the same path.
FASHION=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
if [ -f "$FASHION/train-images-idx3-ubyte.gz" ]; then
    "$BIN" --mode baseline --data "$FASHION" --train-limit "$TRAIN" --test-limit "$TEST" \
        --epochs "$EPOCHS" --quiet --out "$T/f"
    check "Fashion-MNIST baseline exits 0" [ $? -eq 0 ]
    facc=$(metric "$T/f/metrics.csv" clean_accuracy)
    check "Fashion-MNIST accuracy $facc >= $FASHION_MIN_ACC" num_ge "$facc" "$FASHION_MIN_ACC"
    check "Fashion-MNIST manifest names its inputs" grep -q fashion "$T/f/manifest.json"
else
    skip "Fashion-MNIST baseline" "not installed at $FASHION (apt-get install dataset-fashion-mnist)"
fi
finish
