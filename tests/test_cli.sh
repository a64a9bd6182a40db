#!/bin/sh
# test_cli.sh - the options that take lists and names from the tables: each bad element
# (or a list given where it does not apply) is refused with exit 64 and one line naming
# the flag and the element; --help lists every mode, attack and training method of the
# tables.
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# refused FLAG-TEXT ARGS...: exit 64, nothing on stdout, one line naming FLAG-TEXT
refused() {
    want=$1
    shift
    "$BIN" "$@" --out "$T/out" >"$T/o" 2>"$T/e"
    rc=$?
    check "refused ($*): exit 64 (got $rc)" [ "$rc" -eq 64 ]
    check "refused ($*): message names '$want'" grep -qF -- "$want" "$T/e"
    check "refused ($*): nothing on stdout, no --out" sh -c "[ ! -s '$T/o' ] && [ ! -e '$T/out' ]"
}
refused "element 2 'x'" --mode adv_only --eps-sweep 0.1,x
refused "element 2 is empty" --mode adv_only --eps-sweep 0.1,,0.3
refused "element 3 is empty" --mode adv_only --eps-sweep 0.1,0.2,
refused "element 2 (1.5) is outside" --mode adv_only --eps-sweep 0.1,1.5
refused "element 2 'nan' is not a finite number" --mode adv_only --eps-sweep 0.1,nan
refused "(0.1) is given twice" --mode adv_only --eps-sweep 0.1,0.1
refused "element 2 'pgdd' is not one of" --mode adv_only --attack fgsm,pgdd
refused "'pgd' is given twice" --mode adv_only --attack pgd,pgd
refused "transfer needs --surrogate" --mode adv_only --attack transfer
refused "--surrogate: only with" --mode adv_only --attack pgd --surrogate x.ckpt
refused "--attack: only with" --mode baseline --attack pgd
refused "--eps-sweep: only with" --mode poisoned --eps-sweep 0.1
refused "--adv-method: 'madry' is not one of fgsm, fgsm-rs, pgd or trades" --mode adv_training --adv-method madry
refused "--lr-schedule: 'linear' is not one of constant, cosine or onecycle" --mode adv_training --lr-schedule linear
refused "--adv-from scratch" --mode adv_training --adv-from scratch --load x.ckpt
refused "more than 64 values" --mode adv_only --eps-sweep "$(seq -s, 0 0.01 0.65)"
refused "--label-anomaly: only with --defend spectre" --mode poisoned --label-anomaly 2
refused "--label-anomaly: only with --defend spectre" --mode poisoned --defend spectral,strip --label-anomaly 2
refused "--label-anomaly" --mode poisoned --defend spectre --label-anomaly -1
# --poison-sweep: positive integers up to 60000, none twice, only in poisoned mode,
# and not with the options that concern one model.
refused "--poison-sweep: only with --mode poisoned" --mode baseline --poison-sweep 10
refused "--poison-sweep: only with --mode poisoned" --mode adv_only --poison-sweep 10
refused "element 2 'x' is not a positive integer" --mode poisoned --poison-sweep 10,x
refused "element 1 '-5' is not a positive integer" --mode poisoned --poison-sweep -5
refused "element 2 '2.5' is not a positive integer" --mode poisoned --poison-sweep 1,2.5
refused "element 1 '+3' is not a positive integer" --mode poisoned --poison-sweep +3
refused "element 2 is empty" --mode poisoned --poison-sweep 10,,20
refused "element 2 is empty" --mode poisoned --poison-sweep 10,
refused "--poison-sweep: element 1 (0) is outside [1, 60000]" --mode poisoned --poison-sweep 0,5
refused "element 2 (60001) is outside [1, 60000]" --mode poisoned --poison-sweep 5,60001
refused "element 1 (99999999999999999999) is outside" --mode poisoned --poison-sweep 99999999999999999999
refused "--poison-sweep: element 3 (10) is given twice" --mode poisoned --poison-sweep 10,20,10
refused "--poison-sweep: more than 64 values" --mode poisoned --poison-sweep "$(seq -s, 1 65)"
refused "--poison-sweep: trains a model per count, so not with --load" --mode poisoned --poison-sweep 10 --load x.ckpt
refused "--poison-sweep: trains a model per count, so not with --save" --mode poisoned --poison-sweep 10 --save x.ckpt
refused "--poison-sweep: has activations per count, so not with --save-activations" \
    --mode poisoned --poison-sweep 10 --defend spectral --save-activations a.idx
refused "--poison-sweep: gives the counts, so not with --poison-count" --mode poisoned --poison-sweep 10 --poison-count 10
refused "--poison-sweep: gives the counts, so not with --poison-count" --mode poisoned --poison_count=10 --poison-sweep=10
"$BIN" --help >"$T/help"
check "--help exits 0" [ $? -eq 0 ]
for name in baseline poisoned adv_only adv_training fgsm pgd apgd-ce apgd-t square transfer \
            fgsm-rs trades --eps-sweep --strict --val-count --poison-sweep; do
    check "--help names $name" grep -qF -- "$name" "$T/help"
done
check "--help lines fit 80 columns" awk 'length > 80 { exit 1 }' "$T/help"
finish
