#!/bin/sh
# test_cli.sh - the options that take lists and names from the tables: each bad element
# is refused with exit 64 and one line naming the flag and the element; --help lists
# every mode, attack and training method of the tables.
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
"$BIN" --help >"$T/help"
check "--help exits 0" [ $? -eq 0 ]
for name in baseline poisoned adv_only adv_training fgsm pgd apgd-ce apgd-t square transfer \
            fgsm-rs trades --eps-sweep --strict --val-count; do
    check "--help names $name" grep -qF -- "$name" "$T/help"
done
check "--help lines fit 80 columns" awk 'length > 80 { exit 1 }' "$T/help"
finish
