#!/bin/sh
# test_exitcodes.sh - one test per documented exit code (0, 64, 65, 66, 70, 73, 74),
# and the no-partial-output promise on every failure.
#
# For each failing case it checks: exactly the documented exit code; nothing on
# stdout; one diagnostic line on stderr ("mnistsec: ..." naming the flag or file;
# usage errors may add the "Try 'mnistsec --help'." hint); and that the working tree
# of the test (output directories holding earlier results, data, checkpoints) is
# exactly as before: no new file or directory, no temporary file, every existing file
# byte-identical.
#
# Environment: BUILD (binary in $BUILD/mnistsec). MNIST_DIR is optional: if it holds
# the MNIST files, two more cases use them; everything else runs on tiny IDX files
# generated here with printf and /dev/urandom (no python, no helper program).
# The last line is "N passed, N failed, N skipped" (a case that cannot run here is a skip).
BIN=${BUILD:-build}/mnistsec
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
PASSED=0
FAILED=0
SKIPPED=0
T=$(mktemp -d)
W=$T/w        # everything a run could touch
CAP=$T/cap    # captured stdout/stderr and snapshots (outside W)
MOUNTED=""
cleanup() {
    [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$W" "$CAP"

ok() { PASSED=$((PASSED + 1)); echo "ok   $1" >&2; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL $1" >&2; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $1" >&2; }

if [ ! -x "$BIN" ]; then
    bad "binary $BIN not built"
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    exit 1
fi

# --- tiny IDX files -----------------------------------------------------------------
# be32 N: 4 bytes, big-endian
be32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
        $(($1 >> 8 & 255)) $(($1 & 255)))"
}
# images FILE N: u8 IDX, N x 28 x 28 random pixels
images() {
    { printf '\000\000\010\003'; be32 "$2"; be32 28; be32 28
      head -c $(($2 * 784)) /dev/urandom; } >"$1"
}
# labels FILE N: u8 IDX, N labels cycling 0..9
labels() {
    fmt=""
    i=0
    while [ "$i" -lt "$2" ]; do
        fmt="$fmt\\$(printf '%03o' $((i % 10)))"
        i=$((i + 1))
    done
    { printf '\000\000\010\001'; be32 "$2"; printf "$fmt"; } >"$1"
}
# dataset DIR NTRAIN NTEST
dataset() {
    mkdir -p "$1"
    images "$1/train-images-idx3-ubyte" "$2"
    labels "$1/train-labels-idx1-ubyte" "$2"
    images "$1/t10k-images-idx3-ubyte" "$3"
    labels "$1/t10k-labels-idx1-ubyte" "$3"
}
# variant NAME: a copy of the good data set to spoil, in $W/data-NAME
variant() {
    rm -rf "$W/data-$1"
    cp -R "$W/good" "$W/data-$1"
    echo "$W/data-$1"
}
# flip FILE OFFSET: inverts one byte in place
flip() {
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((255 - b)))" |
        dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}
filesize() { wc -c <"$1" | tr -d ' '; }

dataset "$W/good" 64 32
TINY="--data $W/good --epochs 1 --batch-size 16 --threads 1 --quiet"

# --- snapshots of W -----------------------------------------------------------------
snapshot() {
    (cd "$W" && find . -print | LC_ALL=C sort | while IFS= read -r f; do
        if [ -f "$f" ] && [ ! -L "$f" ]; then cksum "$f"; else echo "$f"; fi
    done) >"$1"
}
# results DIR: an output directory holding a previous run's results
results() {
    mkdir -p "$1"
    printf 'metric,value\nclean_accuracy,0.5\n' >"$1/metrics.csv"
    printf '{"program": "mnistsec", "earlier": true}\n' >"$1/manifest.json"
}

n_case=0
# expect CODE NEEDLE COMMAND...: runs COMMAND, checks the exit code, the streams and W.
expect() {
    code=$1
    needle=$2
    shift 2
    n_case=$((n_case + 1))
    name="exit $code: $(printf '%s' "$*" | sed "s|$BIN|mnistsec|g; s|$T/w|W|g")"
    snapshot "$CAP/before"
    "$@" >"$CAP/out" 2>"$CAP/err"
    rc=$?
    snapshot "$CAP/after"
    why=""
    [ "$rc" -eq "$code" ] || why="$why; exit $rc, expected $code"
    [ -s "$CAP/out" ] && why="$why; stdout not empty: $(head -c 200 "$CAP/out")"
    lines=$(wc -l <"$CAP/err" | tr -d ' ')
    first=$(head -n 1 "$CAP/err")
    if [ "$code" -eq 64 ] && [ "$lines" -eq 2 ] &&
        [ "$(sed -n 2p "$CAP/err")" = "Try 'mnistsec --help'." ]; then
        lines=1
    fi
    [ "$lines" -eq 1 ] || why="$why; stderr has $lines lines, expected one"
    case $first in
    "mnistsec: "*) ;;
    *) why="$why; stderr does not start with 'mnistsec: '" ;;
    esac
    case $first in
    *"$needle"*) ;;
    *) why="$why; message does not name '$needle'" ;;
    esac
    if ! cmp -s "$CAP/before" "$CAP/after"; then
        why="$why; files changed: $(diff "$CAP/before" "$CAP/after" | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
    fi
    if [ -z "$why" ]; then
        ok "$name"
    else
        bad "$name$why"
        sed 's/^/    stderr: /' "$CAP/err" >&2
    fi
}

# --- 0: success -----------------------------------------------------------------------
"$BIN" --help >"$CAP/out" 2>"$CAP/err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^usage: mnistsec' "$CAP/out" && grep -q 'Exit status' "$CAP/out" &&
    [ ! -s "$CAP/err" ]; then ok "exit 0: --help to stdout"; else bad "exit 0: --help (exit $rc)"; fi

"$BIN" --version >"$CAP/out" 2>"$CAP/err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^mnistsec [0-9]' "$CAP/out" && [ ! -s "$CAP/err" ]; then
    ok "exit 0: --version"
else
    bad "exit 0: --version (exit $rc)"
fi

# A tiny training run that also leaves a checkpoint for the --load cases below.
"$BIN" --mode baseline $TINY --out "$W/run0" --save "$W/model.ckpt" >"$CAP/out" 2>"$CAP/err"
rc=$?
tmpleft=$(find "$W" -name '*.tmp-*' | head -n 1)
if [ "$rc" -eq 0 ] && [ -s "$W/run0/metrics.csv" ] && [ -s "$W/run0/manifest.json" ] &&
    [ -s "$W/run0/confusion_clean.csv" ] && [ -s "$W/model.ckpt" ] && [ -z "$tmpleft" ]; then
    ok "exit 0: tiny baseline run writes its results and checkpoint, no temporary files"
else
    bad "exit 0: tiny baseline run (exit $rc${tmpleft:+, left $tmpleft})"
    sed 's/^/    stderr: /' "$CAP/err" >&2
fi

"$BIN" --mode adv_only --data "$W/good" --load "$W/model.ckpt" --epochs 0 --threads 1 --quiet \
    --out "$W/run0-adv" >"$CAP/out" 2>"$CAP/err"
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$W/run0-adv/metrics.csv" ]; then
    ok "exit 0: adv_only on the saved checkpoint (--load)"
else
    bad "exit 0: adv_only --load (exit $rc)"
    sed 's/^/    stderr: /' "$CAP/err" >&2
fi

HAVE_MNIST=0
if [ -n "${MNIST_DIR:-}" ]; then
    HAVE_MNIST=1
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte; do
        [ -f "$MNIST_DIR/$f" ] || [ -f "$MNIST_DIR/$f.gz" ] || HAVE_MNIST=0
    done
fi
if [ "$HAVE_MNIST" = 1 ]; then
    "$BIN" --mode baseline --data "$MNIST_DIR" --train-limit 500 --test-limit 200 --epochs 1 \
        --threads 1 --quiet --out "$W/real" >"$CAP/out" 2>"$CAP/err"
    rc=$?
    if [ "$rc" -eq 0 ] && [ -s "$W/real/metrics.csv" ]; then
        ok "exit 0: real MNIST subset run"
    else
        bad "exit 0: real MNIST subset run (exit $rc)"
    fi
else
    skip "exit 0: real MNIST subset run (MNIST_DIR not set or incomplete; tiny data used)"
fi

# Every failing case below writes into $OUT, which holds earlier results.
OUT=$W/results
results "$OUT"

# --- 64: usage ------------------------------------------------------------------------
expect 64 --bogus "$BIN" --bogus --out "$OUT"
expect 64 --out "$BIN" --mode baseline --out
expect 64 --mode "$BIN" --mode
expect 64 --mode "$BIN" --mode nonsense --out "$OUT"
expect 64 --mode "$BIN" --out "$OUT"
expect 64 "'stray'" "$BIN" --mode baseline stray --out "$OUT"
expect 64 --epochs "$BIN" --mode baseline --epochs abc --out "$OUT"
expect 64 --epochs "$BIN" --mode baseline --epochs -1 --out "$OUT"
expect 64 --epochs "$BIN" --mode baseline --epochs 1001 --out "$OUT"
expect 64 --seed "$BIN" --mode baseline --seed 99999999999999999999999 --out "$OUT"
expect 64 --epsilon "$BIN" --mode adv_only --epsilon 1.5 --out "$OUT"
expect 64 --epsilon "$BIN" --mode adv_only --epsilon=nan --out "$OUT"
expect 64 --lr "$BIN" --mode baseline --lr 0 --out "$OUT"
expect 64 --batch-size "$BIN" --mode baseline --batch-size 0 --out "$OUT"
expect 64 --quiet "$BIN" --mode baseline --quiet=yes --out "$OUT"
expect 64 --poison-count "$BIN" --mode poisoned --poison-count 0 --out "$OUT"
expect 64 --poison-target "$BIN" --mode poisoned --poison-source 3 --poison-target 3 --out "$OUT"
expect 64 --poison-pick "$BIN" --mode poisoned --poison-pick best --out "$OUT"
# The boundary of --poison-count: exactly as many as the training images of the source
# class (7, counted in the generated labels: 6 of 64) poisons every one of them;
# one more is a usage error.
sevens=$(od -An -tu1 -v -j 8 "$W/good/train-labels-idx1-ubyte" | tr -s ' ' '\n' | grep -cx 7)
"$BIN" --mode poisoned $TINY --poison-count "$sevens" --out "$W/poison-all" \
    >"$CAP/out" 2>"$CAP/err"
rc=$?
listed=$(tail -n +2 "$W/poison-all/poisoned_indices.csv" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
want=$(od -An -tu1 -v -j 8 "$W/good/train-labels-idx1-ubyte" | tr -s ' ' '\n' | grep -v '^$' |
    awk '$1 == 7 { printf "%s%d", s, NR - 1; s = " " }')
if [ "$sevens" -gt 0 ] && [ "$rc" -eq 0 ] && [ "$listed" = "$want" ]; then
    ok "exit 0: --poison-count $sevens, every image of class 7, poisons exactly those ($listed)"
else
    bad "exit 0: --poison-count $sevens = all of class 7 (exit $rc; poisoned '$listed', want '$want')"
    sed 's/^/    stderr: /' "$CAP/err" >&2
fi
expect 64 --poison-count "$BIN" --mode poisoned $TINY --poison-count $((sevens + 1)) --out "$OUT"
expect 64 --save-adv "$BIN" --mode baseline --save-adv "$W/adv" --out "$OUT"
expect 64 t10k "$BIN" --mode baseline $TINY --test-limit 1000 --out "$OUT"

# --- 65: bad data ---------------------------------------------------------------------
d=$(variant magic)
printf '\001\002' | dd of="$d/train-images-idx3-ubyte" bs=1 count=2 conv=notrunc 2>/dev/null
expect 65 train-images "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

d=$(variant trunc)
head -c 5000 "$W/good/train-images-idx3-ubyte" >"$d/x" && mv "$d/x" "$d/train-images-idx3-ubyte"
expect 65 train-images "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

d=$(variant trailing)
printf 'x' >>"$d/t10k-labels-idx1-ubyte"
expect 65 t10k-labels "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

# Hostile header: 2^31 images of 28x28 (1.7 TB) in a 16-byte file; must fail at once.
d=$(variant huge)
{ printf '\000\000\010\003'; be32 2147483648; be32 28; be32 28; } >"$d/train-images-idx3-ubyte"
expect 65 train-images "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

# Within the item cap but over IDX_MAX_BYTES: 9,999,999 float32 images.
d=$(variant bigbytes)
{ printf '\000\000\015\003'; be32 9999999; be32 28; be32 28; } >"$d/train-images-idx3-ubyte"
expect 65 train-images "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

d=$(variant labelrange)
{ printf '\000\000\010\001'; be32 32; head -c 31 /dev/zero; printf '\012'; } \
    >"$d/t10k-labels-idx1-ubyte"
expect 65 t10k-labels "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

d=$(variant count)
labels "$d/t10k-labels-idx1-ubyte" 31
expect 65 t10k "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

# gzip: a gzip header followed by bytes that are not DEFLATE.
d=$(variant gzjunk)
rm "$d/train-images-idx3-ubyte"
printf '\037\213\010\000\000\000\000\000\000\003this is not deflate data' \
    >"$d/train-images-idx3-ubyte.gz"
expect 65 train-images-idx3-ubyte.gz "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

if command -v gzip >/dev/null 2>&1; then
    # A real gzip file whose CRC-32 (trailer) is damaged.
    d=$(variant gzcrc)
    gzip -n -c "$W/good/train-images-idx3-ubyte" >"$d/train-images-idx3-ubyte.gz"
    rm "$d/train-images-idx3-ubyte"
    flip "$d/train-images-idx3-ubyte.gz" $(($(filesize "$d/train-images-idx3-ubyte.gz") - 8))
    expect 65 train-images-idx3-ubyte.gz "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"

    # A gzip bomb: the header promises one 28x28 image, the stream inflates to 64 MiB.
    d=$(variant gzbomb)
    rm "$d/train-images-idx3-ubyte"
    { printf '\000\000\010\003'; be32 1; be32 28; be32 28; head -c 67108864 /dev/zero; } |
        gzip -n -c >"$d/train-images-idx3-ubyte.gz"
    expect 65 train-images-idx3-ubyte.gz "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"
else
    skip "exit 65: damaged gzip CRC and gzip bomb (no gzip command)"
fi

if [ "$HAVE_MNIST" = 1 ] && [ -f "$MNIST_DIR/t10k-labels-idx1-ubyte.gz" ]; then
    # The real compressed test labels, cut short.
    d=$(variant realgz)
    rm "$d/t10k-labels-idx1-ubyte"
    head -c 3000 "$MNIST_DIR/t10k-labels-idx1-ubyte.gz" >"$d/t10k-labels-idx1-ubyte.gz"
    expect 65 t10k-labels-idx1-ubyte.gz "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"
else
    skip "exit 65: real compressed labels cut short (MNIST_DIR holds no t10k-labels-idx1-ubyte.gz)"
fi

# Checkpoints given to --load.
head -c 4096 /dev/urandom >"$W/junk.ckpt"
expect 65 junk.ckpt "$BIN" --mode baseline $TINY --load "$W/junk.ckpt" --out "$OUT"
if [ -s "$W/model.ckpt" ]; then
    sz=$(filesize "$W/model.ckpt")
    head -c $((sz / 2)) "$W/model.ckpt" >"$W/half.ckpt"
    expect 65 half.ckpt "$BIN" --mode baseline $TINY --load "$W/half.ckpt" --out "$OUT"
    cp "$W/model.ckpt" "$W/flipped.ckpt"
    flip "$W/flipped.ckpt" $((sz / 2))
    expect 65 flipped.ckpt "$BIN" --mode baseline $TINY --load "$W/flipped.ckpt" --out "$OUT"
    cp "$W/model.ckpt" "$W/longer.ckpt"
    printf '\000' >>"$W/longer.ckpt"
    expect 65 longer.ckpt "$BIN" --mode adv_only $TINY --load "$W/longer.ckpt" --out "$OUT"
else
    bad "exit 65: no checkpoint from the tiny run to damage"
fi

# --- 66: missing input ------------------------------------------------------------------
expect 66 "$W/nonexistent" "$BIN" --mode baseline --data "$W/nonexistent" --epochs 1 --quiet --out "$OUT"
d=$(variant nolabels)
rm "$d/train-labels-idx1-ubyte"
expect 66 "$d" "$BIN" --mode baseline --data "$d" --epochs 1 --quiet --out "$OUT"
expect 66 missing.ckpt "$BIN" --mode baseline $TINY --load "$W/missing.ckpt" --out "$OUT"
expect 66 "$W/good" "$BIN" --mode baseline $TINY --load "$W/good" --out "$OUT"

# --- 73: cannot create output -------------------------------------------------------------
printf 'a regular file\n' >"$W/afile"
expect 73 afile "$BIN" --mode baseline $TINY --out "$W/afile/sub"
expect 73 afile "$BIN" --mode baseline $TINY --out "$W/afile"
expect 73 /proc "$BIN" --mode baseline $TINY --out /proc/mnistsec-test-out
expect 73 --save "$BIN" --mode baseline $TINY --out "$OUT" --save "$W/afile/model.ckpt"
expect 73 --save "$BIN" --mode baseline $TINY --out "$OUT" --save "$W/nodir/model.ckpt"
# A new output directory is removed again, with the parents the run created.
expect 66 "$W/nonexistent" "$BIN" --mode baseline --data "$W/nonexistent" --epochs 1 --quiet \
    --out "$W/new1/new2/new3"

# --- 74: I/O error (disk full) --------------------------------------------------------------
# (a) a 64 KiB tmpfs that earlier results and a filler file have filled up.
mkdir -p "$W/full"
if mount -t tmpfs -o size=64k mnistsec-test "$W/full" 2>/dev/null; then
    MOUNTED=$W/full
    results "$W/full/out"
    dd if=/dev/zero of="$W/full/filler" bs=1024 count=128 2>/dev/null
    # the run fails before training: its lock file (process id) cannot be written
    expect 74 .mnistsec.lock "$BIN" --mode baseline $TINY --out "$W/full/out"
    # The results would fit (--out is elsewhere) but the checkpoint or the adversarial
    # set does not: all files of the run are one set, so none may appear.
    expect 74 m.ckpt "$BIN" --mode baseline $TINY --out "$OUT" --save "$W/full/m.ckpt"
    expect 74 "$W/full/adv" "$BIN" --mode adv_only $TINY --out "$OUT" --save-adv "$W/full/adv/set"
else
    skip "exit 74: full tmpfs (mount -t tmpfs not permitted here; the write-limit case covers 74)"
fi
# (b) a file-size limit: writes fail with EFBIG (SIGXFSZ ignored).
if (trap '' XFSZ; ulimit -f 1) 2>/dev/null; then
    expect 74 "$OUT" sh -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' sh "$BIN" --mode baseline $TINY --out "$OUT"
else
    skip "exit 74: write limit (ulimit -f not available)"
fi

# --- 70: internal error (out of memory) -------------------------------------------------------
# A 200 MB address-space limit and a batch size whose activations need 3 GB. Skipped
# for sanitizer builds, which cannot start under such a limit.
if (ulimit -v 200000 && "$BIN" --version) >/dev/null 2>&1; then
    expect 70 memory sh -c 'ulimit -v 200000; exec "$@"' sh "$BIN" --mode baseline $TINY --batch-size 4096 --out "$OUT"
else
    skip "exit 70: out of memory (binary cannot start under ulimit -v, e.g. a sanitizer build)"
fi

echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
