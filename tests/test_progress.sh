#!/bin/sh
# test_progress.sh - progress on stderr as a log and as a terminal sees it, on a tiny
# generated data set: to a file, plain lines only (no '\r', no escape bytes), the final
# line of every stage and nothing periodic in a short run; --quiet prints nothing but
# warnings; the overwriting line (forced with MNISTSEC_PROGRESS=tty, and under a real
# pseudo-terminal with util-linux script) shows an ETA; none of it changes an output
# byte.
. "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mnistsec
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset MNISTSEC_PROGRESS

. "$(dirname "$0")/tinydata.sh"

D=$T/data
tiny_dataset "$D" 256 64
RUN="--data $D --batch-size 16 --threads 1"

# has BYTE FILE: FILE holds the byte (a tr escape such as '\r' or '\033')
has() { [ "$(tr -cd "$1" <"$2" | wc -c)" -gt 0 ]; }
no_esc() { ! has '\033' "$1"; }
# plain FILE: neither '\r' nor an escape byte
plain() { ! has '\r' "$1" && no_esc "$1"; }
# silent FILE: nothing but warnings and check verdicts
silent() { ! grep -qv -e '^mnistsec: WARN: ' -e '^mnistsec: check ' "$1"; }
# checkf FILE NAME COMMAND...: check, showing FILE (a captured stderr) on failure
checkf() {
    f=$1
    name=$2
    shift 2
    if "$@"; then ok "$name"; else fail "$name"; sed 's/^/    stderr: /' "$f" >&2; fi
}
# few_periodic FILE SECONDS: at most one periodic line per 10 s of a run that took SECONDS
few_periodic() { [ "$(grep -c ', ETA ' "$1")" -le $(($2 / 10 + 2)) ]; }

# --- stderr to a file ----------------------------------------------------------------
t0=$(date +%s)
"$BIN" --mode baseline $RUN --epochs 2 --out "$T/b" --save "$T/b.ckpt" >/dev/null 2>"$T/b.err"
rc=$?
secs=$(($(date +%s) - t0))
checkf "$T/b.err" "baseline to a file: exit 0" [ "$rc" -eq 0 ]
checkf "$T/b.err" "baseline to a file: no CR, no escape bytes" plain "$T/b.err"
checkf "$T/b.err" "baseline to a file: each epoch's final line" \
    sh -c "grep -q '^train epoch 1/2: mean loss [0-9.]*, [0-9]* images/s, [0-9.]* s\$' '$T/b.err' &&
           grep -q '^train epoch 2/2: mean loss ' '$T/b.err'"
checkf "$T/b.err" "baseline to a file: at most one periodic line per 10 s ($secs s)" \
    few_periodic "$T/b.err" "$secs"

"$BIN" --mode adv_only $RUN --load "$T/b.ckpt" --epochs 0 --attack fgsm,pgd --eps-sweep 0.1,0.3 \
    --out "$T/a" >/dev/null 2>"$T/a.err"
checkf "$T/a.err" "adv_only to a file: exit 0" [ $? -eq 0 ]
checkf "$T/a.err" "adv_only to a file: no CR, no escape bytes" plain "$T/a.err"
checkf "$T/a.err" "adv_only to a file: the FGSM evaluation's final line" \
    grep -q '^attack fgsm eps 0.3: 64 images in [0-9]*:[0-9][0-9], [0-9]* images/s$' "$T/a.err"
checkf "$T/a.err" "adv_only to a file: the robustness sweep's final line" \
    grep -q '^attack fgsm,pgd eps 0.1,0.3: 64 images in [0-9]*:[0-9][0-9]' "$T/a.err"

"$BIN" --mode adv_training $RUN --load "$T/b.ckpt" --adv-epochs 1 --val-count 32 \
    --out "$T/t" >/dev/null 2>"$T/t.err"
checkf "$T/t.err" "adv_training to a file: exit 0" [ $? -eq 0 ]
checkf "$T/t.err" "adv_training to a file: no CR, no escape bytes" plain "$T/t.err"
checkf "$T/t.err" "adv_training to a file: the epoch and the held-out lines" \
    sh -c "grep -q '^adv-train epoch 1/1: mean loss ' '$T/t.err' &&
           grep -q '^held-out after epoch 1: clean ' '$T/t.err'"

# --- --quiet ---------------------------------------------------------------------------
"$BIN" --mode baseline $RUN --epochs 2 --quiet --out "$T/bq" --save "$T/bq.ckpt" \
    >/dev/null 2>"$T/bq.err"
rc=$?
checkf "$T/bq.err" "baseline --quiet: exit 0" [ "$rc" -eq 0 ]
checkf "$T/bq.err" "baseline --quiet: nothing but warnings on stderr" silent "$T/bq.err"
"$BIN" --mode adv_only $RUN --load "$T/b.ckpt" --epochs 0 --attack fgsm,pgd --eps-sweep 0.1,0.3 \
    --quiet --out "$T/aq" >/dev/null 2>"$T/aq.err"
checkf "$T/aq.err" "adv_only --quiet: nothing but warnings on stderr" silent "$T/aq.err"
"$BIN" --mode adv_training $RUN --load "$T/b.ckpt" --adv-epochs 1 --val-count 32 --quiet \
    --out "$T/tq" >/dev/null 2>"$T/tq.err"
checkf "$T/tq.err" "adv_training --quiet: nothing but warnings on stderr" silent "$T/tq.err"

# --- the overwriting line, forced onto a file -------------------------------------------
(unset NO_COLOR; MNISTSEC_PROGRESS=tty "$BIN" --mode baseline $RUN --epochs 2 --out "$T/bt" \
    --save "$T/bt.ckpt" >/dev/null 2>"$T/bt.err")
rc=$?
CR=$(printf '\r')
checkf "$T/bt.err" "MNISTSEC_PROGRESS=tty: exit 0" [ "$rc" -eq 0 ]
checkf "$T/bt.err" "MNISTSEC_PROGRESS=tty: a CR-started line with batch, loss, rate and ETA" \
    grep -q "${CR}train epoch 1/2: batch [0-9]*/16, loss [0-9.]*, [0-9]* images/s, ETA [0-9]*:[0-9][0-9]" \
    "$T/bt.err"
checkf "$T/bt.err" "MNISTSEC_PROGRESS=tty: no escape bytes (nothing for NO_COLOR to turn off)" \
    no_esc "$T/bt.err"
checkf "$T/bt.err" "MNISTSEC_PROGRESS=tty: an epoch line starts on a wiped line, ends in a newline" \
    grep -q "${CR}train epoch 2/2: mean loss .* s\$" "$T/bt.err"

# --- outputs do not depend on the progress mode ----------------------------------------
check "quiet, plain and tty runs save byte-identical checkpoints" \
    sh -c "cmp -s '$T/b.ckpt' '$T/bq.ckpt' && cmp -s '$T/b.ckpt' '$T/bt.ckpt'"
stable_metrics "$T/b/metrics.csv" >"$T/m1"
stable_metrics "$T/bq/metrics.csv" >"$T/m2"
stable_metrics "$T/bt/metrics.csv" >"$T/m3"
check "quiet, plain and tty runs write the same metrics (timings aside)" \
    sh -c "[ -s '$T/m1' ] && cmp -s '$T/m1' '$T/m2' && cmp -s '$T/m1' '$T/m3'"

# --- a real pseudo-terminal ----------------------------------------------------------
if ! command -v script >/dev/null 2>&1; then
    skip "progress under a pseudo-terminal" "no 'script' command (util-linux) here"
elif ! script --version 2>&1 | grep -q util-linux; then
    skip "progress under a pseudo-terminal" "'script' is not util-linux's (no -c/-e)"
elif ! script -qec true "$T/probe" </dev/null >/dev/null 2>&1; then
    skip "progress under a pseudo-terminal" "script cannot open a pseudo-terminal here"
else
    script -qec "'$BIN' --mode baseline $RUN --epochs 1 --out '$T/p'" "$T/ts" </dev/null \
        >/dev/null 2>&1
    check "pty: exit 0" [ $? -eq 0 ]
    check "pty: the CR-updating line shows the ETA" \
        grep -q "${CR}train epoch 1/1: batch [0-9]*/16, .*ETA [0-9]*:[0-9][0-9]" "$T/ts"
    check "pty: the epoch's final line" grep -q "train epoch 1/1: mean loss " "$T/ts"
    check "pty: no escape bytes" no_esc "$T/ts"
fi
finish
