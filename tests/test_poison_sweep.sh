#!/bin/sh
# test_poison_sweep.sh - --mode poisoned --poison-sweep on a tiny generated data set
# (tests/tinydata.sh: 200 training images, 20 of class 7; 60 test images):
#   - the output set: backdoor_sweep.csv with its header, one row per (count, method),
#     counts in increasing order whatever order they were given in, every rate in [0,1],
#     the undefended rows; backdoor_sweep.svg well-formed XML (xmllint) with a line for
#     no defence and one per detector; metrics.csv with the sweep's settings; none of the
#     files that describe one model;
#   - each count's row equals the figures of a plain --poison-count run with the same
#     flags (same images picked: --poison-pick random and a seed), for a training-set
#     detector and for STRIP;
#   - --threads 1 and 2 give the same bytes;
#   - a count above the images of the source class is refused with exit 64 before any
#     training, leaving nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tinydata.sh"
BIN=${BUILD:-build}/mnistsec
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
tiny_dataset "$T/data" 200 60
RUN="--mode poisoned --data $T/data --epochs 1 --batch-size 16 --poison-pick random --seed 7 --quiet"
HEADER=poison_count,method,asr_before,clean_accuracy_before,flagged,recall,precision,asr_after,clean_accuracy_after,strip_tpr,strip_fpr

# sweep_row FILE COUNT METHOD: the row's cells from asr_before on
sweep_row() { awk -F, -v n="$2" -v m="$3" '$1 == n && $2 == m { sub(/^[^,]*,[^,]*,/, ""); print; f = 1 } END { exit !f }' "$1"; }
# single_row DIR METHOD: the same cells from a single run's metrics.csv
single_row() {
    M=$1/metrics.csv
    if [ "$2" = strip ]; then
        printf '%s,%s,,,,,,%s,%s\n' "$(metric "$M" attack_success_rate)" "$(metric "$M" clean_accuracy)" \
            "$(metric "$M" strip_true_positive_rate)" "$(metric "$M" strip_false_positive_rate)"
    else
        printf '%s,%s,%s,%s,%s,%s,%s,,\n' "$(metric "$M" before_attack_success_rate)" \
            "$(metric "$M" before_clean_accuracy)" "$(metric "$M" "$2"_removed_images)" \
            "$(metric "$M" "$2"_recall)" "$(metric "$M" "$2"_precision)" \
            "$(metric "$M" "$2"_after_attack_success_rate)" "$(metric "$M" "$2"_after_clean_accuracy)"
    fi
}

# 2 counts x 1 detector, given out of order, 1 thread and 2
for n in 1 2; do
    "$BIN" $RUN --poison-sweep 8,3 --defend spectral --threads "$n" --out "$T/s$n"
    check "sweep --threads $n exits 0" [ $? -eq 0 ]
done
C=$T/s1/backdoor_sweep.csv
check "backdoor_sweep.csv header" [ "$(head -n 1 "$C")" = "$HEADER" ]
check "backdoor_sweep.csv: 2 counts x (none + spectral) = 4 rows" [ "$(tail -n +2 "$C" | wc -l)" -eq 4 ]
check "rows in increasing count, none first" \
    [ "$(tail -n +2 "$C" | cut -d, -f1,2 | tr '\n' ' ')" = "3,none 3,spectral 8,none 8,spectral " ]
check "every row has 11 cells, rates in [0,1], flagged a whole number" \
    awk -F, 'NR > 1 { if (NF != 11 || $5 !~ /^[0-9]+$/) bad = 1
                      for (i = 3; i <= 11; i++) if (i != 5 && $i != "" && !($i >= 0 && $i <= 1)) bad = 1 }
             END { exit bad }' "$C"
check "none rows: nothing flagged, recall/precision/STRIP empty, after = before" \
    awk -F, '$2 == "none" { n++; if ($5 != 0 || $6 != "" || $7 != "" || $8 != $3 || $9 != $4 || $10 != "" || $11 != "") bad = 1 }
             END { exit bad || n != 2 }' "$C"
check "spectral rows: every cell but STRIP's filled" \
    awk -F, '$2 == "spectral" { n++; for (i = 3; i <= 9; i++) if ($i == "") bad = 1; if ($10 != "" || $11 != "") bad = 1 }
             END { exit bad || n != 2 }' "$C"
S=$T/s1/backdoor_sweep.svg
check "backdoor_sweep.svg written" [ -s "$S" ]
if command -v xmllint >/dev/null 2>&1; then
    check "backdoor_sweep.svg is well-formed XML (xmllint)" xmllint --noout "$S"
else
    skip "backdoor_sweep.svg is well-formed XML" "xmllint not installed (apt-get install libxml2-utils)"
fi
check "backdoor_sweep.svg: two lines, legend 'no defence' and 'spectral'" sh -c "
    [ \$(grep -c '<polyline' '$S') -eq 2 ] && grep -q '>no defence<' '$S' && grep -q '>spectral<' '$S'"
M=$T/s1/metrics.csv
check "metrics.csv: poison_sweep '3 8'" [ "$(metric "$M" poison_sweep)" = "3 8" ]
check "metrics.csv: sweep_models_trained 4" [ "$(metric "$M" sweep_models_trained)" = 4 ]
for k in poison_source poison_target poison_pick expected_poison sweep_seconds; do
    check "metrics.csv: $k present" metric "$M" "$k" >/dev/null
done
check "no single-model files (confusion, poisoned_indices, detection, examples)" sh -c "
    ! ls '$T/s1' | grep -Eq '^(confusion_|per_class|poisoned_indices|detection|examples)'"
for f in backdoor_sweep.csv backdoor_sweep.svg; do
    check "threads 1 and 2: $f identical" cmp -s "$T/s1/$f" "$T/s2/$f"
done
stable_metrics "$T/s1/metrics.csv" >"$T/m1"
stable_metrics "$T/s2/metrics.csv" >"$T/m2"
check "threads 1 and 2: metrics.csv identical apart from timing rows" cmp -s "$T/m1" "$T/m2"

# Each count's row is a plain run's figures.
for n in 3 8; do
    "$BIN" $RUN --poison-count "$n" --defend spectral --threads 2 --out "$T/p$n"
    check "--poison-count $n --defend spectral exits 0" [ $? -eq 0 ]
    for m in none spectral; do
        want=$(single_row "$T/p$n" spectral)
        [ "$m" = none ] && want=$(echo "$want" | awk -F, '{ print $1 "," $2 ",0,,," $1 "," $2 ",," }')
        got=$(sweep_row "$C" "$n" "$m")
        check "count $n, $m: sweep row '$got' = single run '$want'" [ "$got" = "$want" ]
    done
done

# STRIP: its rates per count are the single run's
"$BIN" $RUN --poison-sweep 8 --defend strip --threads 2 --out "$T/st"
check "sweep --defend strip exits 0" [ $? -eq 0 ]
check "strip sweep: rows none and strip" \
    [ "$(tail -n +2 "$T/st/backdoor_sweep.csv" | cut -d, -f1,2 | tr '\n' ' ')" = "8,none 8,strip " ]
"$BIN" $RUN --poison-count 8 --defend strip --threads 2 --out "$T/pst"
got=$(sweep_row "$T/st/backdoor_sweep.csv" 8 strip)
want=$(single_row "$T/pst" strip)
check "count 8, strip: sweep row '$got' = single run '$want'" [ "$got" = "$want" ]
check "strip sweep: the chart has the no-defence line only" \
    [ "$(grep -c '<polyline' "$T/st/backdoor_sweep.svg")" -eq 1 ]

# More than the 20 training images of class 7: exit 64 naming the flag, nothing written.
"$BIN" $RUN --poison-sweep 5,21 --out "$T/big" >"$T/o" 2>"$T/e"
rc=$?
check "--poison-sweep 5,21: exit 64 (got $rc)" [ "$rc" -eq 64 ]
check "--poison-sweep 5,21: one line naming the flag and the count" \
    [ "$(cat "$T/e")" = "mnistsec: --poison-sweep: 21 exceeds the 20 training images of class 7" ]
check "--poison-sweep 5,21: no --out left behind" [ ! -e "$T/big" ]
finish
