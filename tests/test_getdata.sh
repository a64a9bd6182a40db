#!/bin/sh
# test_getdata.sh - scripts/get_mnist.sh against fake file:// mirrors of small fake
# files with their own sums file: fallback between mirrors, refusal of corrupted
# downloads (nothing left behind), and no download when verified files exist.
# Needs curl (file:// URLs): without it the whole test is one skip. The check of the
# real files against data/SHA256SUMS is a skip when MNIST_DIR does not hold them.
# Prints "N passed, N failed, N skipped" last.
# shellcheck disable=SC2012  # ls on file names this script created
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 1
script=scripts/get_mnist.sh
# check DESCRIPTION COMMAND...: passes if the command succeeds; on failure the
# script's output is shown.
check() {
    desc=$1
    shift
    if "$@"; then
        ok "$desc"
    else
        fail "$desc"
        [ -f "$work/out" ] && sed 's/^/    /' "$work/out" >&2
    fi
}

if ! command -v curl >/dev/null 2>&1; then
    skip "get_mnist.sh against file:// mirrors" "curl not found (needed for file:// mirrors)"
    finish
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/test_getdata.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
good="$work/good"
corrupt="$work/corrupt"
onebad="$work/onebad"
raw="$work/raw"
mkdir -p "$good" "$corrupt" "$onebad" "$raw"
: >"$work/SUMS"
for f in $FILES; do
    printf 'fake %s payload\n' "$f" >"$raw/$f"
    gzip -n -c "$raw/$f" >"$good/$f.gz"
    printf 'tampered %s\n' "$f" | gzip -n -c >"$corrupt/$f.gz"
    cp "$good/$f.gz" "$onebad/$f.gz"
    (cd "$good" && sha256sum "$f.gz") >>"$work/SUMS"
    (cd "$raw" && sha256sum "$f") >>"$work/SUMS"
done
# One byte changed in one file of an otherwise good mirror.
printf 'fake t10k-images-idx3-ubyte payloaD\n' | gzip -n -c >"$onebad/t10k-images-idx3-ubyte.gz"

export MNIST_SUMS="$work/SUMS"
unset MNIST_MIRRORS MNIST_FETCH
# Runs the script with MNIST_DIR unset unless given; output to $work/out, status in $rc.
run() {
    (unset MNIST_DIR && env "$@" sh "$script" "$dest") >"$work/out" 2>&1
    rc=$?
}
files_in() {
    (cd "$1" && ls -A | tr '\n' ' ')
}
all_gz_match() {
    for f in $FILES; do
        cmp -s "$good/$f.gz" "$dest/$f.gz" || return 1
    done
}

# 1. First mirror missing, second good: downloads, verifies, no temporaries left.
dest="$work/d1"
run MNIST_MIRRORS="file://$work/nowhere/ file://$good"
check "download from the second mirror succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "all four files in place and identical" all_gz_match
check "only the four files in DEST ($(files_in "$dest"))" [ "$(ls -A "$dest" | wc -l)" -eq 4 ]
check "first mirror's failure reported" grep -q "nowhere.*download failed" "$work/out"

# 2. Second run: DEST already verified, no mirror needed.
run MNIST_MIRRORS="file://$work/nowhere/"
check "verified DEST: nothing downloaded (exit $rc)" [ "$rc" -eq 0 ]
check "verified DEST: says nothing to download" grep -q "nothing to download" "$work/out"
check "verified DEST: no fetch attempted" sh -c "! grep -q fetching '$work/out'"

# 3. Every file corrupted on the only mirror: refused, DEST left empty.
dest="$work/d3"
run MNIST_MIRRORS="file://$corrupt/"
check "corrupted mirror: non-zero exit ($rc)" [ "$rc" -ne 0 ]
check "corrupted mirror: SHA-256 mismatch reported" grep -q "SHA-256 mismatch" "$work/out"
check "corrupted mirror: nothing left in DEST ($(files_in "$dest"))" \
    [ -z "$(ls -A "$dest")" ]

# 4. One corrupted file: the other three arrive, the bad one does not, exit non-zero.
dest="$work/d4"
run MNIST_MIRRORS="file://$onebad/"
check "one corrupted file: non-zero exit ($rc)" [ "$rc" -ne 0 ]
check "one corrupted file: named in the error" grep -q "t10k-images-idx3-ubyte.gz" "$work/out"
check "one corrupted file: it is absent from DEST" [ ! -e "$dest/t10k-images-idx3-ubyte.gz" ]
check "one corrupted file: three good files kept ($(files_in "$dest"))" \
    [ "$(ls -A "$dest" | wc -l)" -eq 3 ]

# 5. A corrupted mirror before a good one: falls through to the good one.
dest="$work/d5"
run MNIST_MIRRORS="file://$corrupt file://$good/"
check "corrupted then good mirror: success (exit $rc)" [ "$rc" -eq 0 ]
check "corrupted then good mirror: files match" all_gz_match

# 6. A corrupt file already in DEST is replaced.
dest="$work/d6"
mkdir -p "$dest"
cp "$good"/*.gz "$dest"/
cp "$corrupt/train-labels-idx1-ubyte.gz" "$dest/"
run MNIST_MIRRORS="file://$good/"
check "corrupt file in DEST: replaced (exit $rc)" [ "$rc" -eq 0 ]
check "corrupt file in DEST: now identical" all_gz_match
check "corrupt file in DEST: only that one fetched" \
    [ "$(grep -c fetching "$work/out")" -eq 1 ]

# 7. Decompressed copies verify too (the sums list both forms).
dest="$work/d7"
mkdir -p "$dest"
cp "$raw"/* "$dest"/
run MNIST_MIRRORS="file://$work/nowhere/"
check "decompressed files in DEST verify (exit $rc)" [ "$rc" -eq 0 ]
# A decompressed copy that does not verify is read first by the loader, so it is
# replaced by the downloaded .gz.
echo garbage >"$dest/train-images-idx3-ubyte"
run MNIST_MIRRORS="file://$good/"
check "bad decompressed copy: re-fetched (exit $rc)" [ "$rc" -eq 0 ]
check "bad decompressed copy: removed" [ ! -e "$dest/train-images-idx3-ubyte" ]
check "bad decompressed copy: .gz in place" \
    cmp -s "$good/train-images-idx3-ubyte.gz" "$dest/train-images-idx3-ubyte.gz"

# 8. MNIST_DIR holding verified files (mixed forms): no download, DEST untouched.
dest="$work/d8"
mixed="$work/mixed"
mkdir -p "$mixed"
cp "$good"/train-*.gz "$mixed"/
cp "$raw"/t10k-* "$mixed"/
MNIST_DIR="$mixed" MNIST_MIRRORS="file://$work/nowhere/" sh "$script" "$dest" >"$work/out" 2>&1
rc=$?
check "verified MNIST_DIR: exit 0 ($rc)" [ "$rc" -eq 0 ]
check "verified MNIST_DIR: reported" grep -q "MNIST_DIR=.*verified" "$work/out"
check "verified MNIST_DIR: DEST not created" [ ! -e "$dest" ]
# MNIST_DIR with a bad file does not count; download into DEST goes ahead.
cp "$corrupt/t10k-labels-idx1-ubyte.gz" "$mixed/"
rm -f "$mixed/t10k-labels-idx1-ubyte"
MNIST_DIR="$mixed" MNIST_MIRRORS="file://$good/" sh "$script" "$dest" >"$work/out" 2>&1
rc=$?
check "unverified MNIST_DIR: downloads into DEST (exit $rc)" [ "$rc" -eq 0 ]
check "unverified MNIST_DIR: DEST complete" all_gz_match

# 9. Errors in the invocation or the sums file.
sh "$script" >"$work/out" 2>&1
rc=$?
check "no DEST_DIR: usage error 64 ($rc)" [ "$rc" -eq 64 ]
dest="$work/d9"
run MNIST_SUMS="$work/no-such-sums" MNIST_MIRRORS="file://$good/"
check "missing sums file: exit 65 ($rc)" [ "$rc" -eq 65 ]
grep -v t10k-labels "$work/SUMS" >"$work/SUMS.partial"
run MNIST_SUMS="$work/SUMS.partial" MNIST_MIRRORS="file://$good/"
check "sums file lacking an entry: exit 65 ($rc)" [ "$rc" -eq 65 ]
check "nothing downloaded with a bad sums file" [ ! -e "$dest" ]
run MNIST_FETCH=ftp-magic MNIST_MIRRORS="file://$good/"
check "unknown download tool: non-zero exit ($rc)" [ "$rc" -ne 0 ]
check "unknown download tool: DEST empty" [ -z "$(ls -A "$dest" 2>/dev/null)" ]

# 10. The committed sums verify the real files, when MNIST_DIR holds them.
real=${MNIST_DIR:-}
if [ -n "$real" ] && { [ -f "$real/train-labels-idx1-ubyte.gz" ] ||
    [ -f "$real/train-labels-idx1-ubyte" ]; }; then
    dest="$work/d10"
    MNIST_SUMS=data/SHA256SUMS MNIST_MIRRORS="file://$work/nowhere/" \
        sh "$script" "$dest" >"$work/out" 2>&1
    rc=$?
    check "real MNIST_DIR verifies against data/SHA256SUMS (exit $rc)" [ "$rc" -eq 0 ]
else
    skip "real MNIST_DIR verifies against data/SHA256SUMS" "MNIST_DIR not set or without MNIST"
fi

finish
