#!/bin/sh
# test_torch_reference.sh - scripts/torch_reference.py's CSV across calls: a call keeps
# the rows of other seeds already in OUT_CSV (seeds run in several calls add up), a
# re-run seed's row is replaced, the rows stay sorted by seed, and a file with another
# header is replaced whole. The functions are called directly; nothing is trained.
# Needs $PYTHON (default /usr/bin/python3, Debian's) with torch and numpy
# (python3-torch), which the script imports; otherwise it is one skip with the reason.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
S=$(cd "$(dirname "$0")/../scripts" && pwd)
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    skip "torch_reference.py CSV merging" "$PY cannot import torch and numpy (apt-get install python3-torch)"
    finish
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
run() { # run CALLS...: python statements with tr = the script as a module, out = the CSV
    SCRIPTS=$S OUT=$T/ref.csv "$PY" -c "
import os, sys
sys.path.insert(0, os.environ['SCRIPTS'])
import torch_reference as tr
out = os.environ['OUT']
def row(seed, acc, rev): return (seed, acc, 0.04, 0.2, 0.1, 0.2, 60.0, rev)
$1" 2>"$T/err"
}
H=seed,clean_accuracy,clean_loss,fgsm_accuracy,fgsm_accuracy_f64,fgsm_accuracy_first640,train_seconds,revision
run "tr.write_rows(out, [row(3, 0.9, 'a'), row(1, 0.8, 'a')], tr.kept_rows(out, {1, 3}))"
check "first call: header and its rows sorted by seed" \
    [ "$(cut -d, -f1,2,8 "$T/ref.csv" | tr '\n' ' ')" = "seed,clean_accuracy,revision 1,0.8,a 3,0.9,a " ]
check "the header is the documented one" [ "$(head -n 1 "$T/ref.csv")" = "$H" ]
run "tr.write_rows(out, [row(2, 0.7, 'b'), row(3, 0.6, 'b')], tr.kept_rows(out, {2, 3}))"
check "second call: seed 1 kept, seed 3 replaced, seed 2 added, in order" \
    [ "$(cut -d, -f1,2,8 "$T/ref.csv" | tr '\n' ' ')" = "seed,clean_accuracy,revision 1,0.8,a 2,0.7,b 3,0.6,b " ]
printf '%s\n' "seed,clean_accuracy" "5,0.5" > "$T/ref.csv"
run "tr.write_rows(out, [row(0, 0.9, 'c')], tr.kept_rows(out, {0}))"
check "another header: the old file is replaced whole" \
    [ "$(cut -d, -f1,2 "$T/ref.csv" | tr '\n' ' ')" = "seed,clean_accuracy 0,0.9 " ]
check "no temporary file left behind" [ ! -e "$T/ref.csv.tmp" ]
finish
