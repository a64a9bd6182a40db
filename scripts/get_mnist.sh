#!/bin/sh
# get_mnist.sh DEST_DIR - fetch the four MNIST files into DEST_DIR, SHA-256 checked.
#
# Nothing is downloaded when $MNIST_DIR already holds four verified files, or when
# DEST_DIR does. Otherwise each missing file is fetched from the mirrors in turn into
# a temporary file in DEST_DIR, checked against the sums file, and only then renamed
# into place; a file that fails the check is deleted and the next mirror is tried.
# A file counts as verified in either form: the .gz as published, or decompressed.
#
# Environment:
#   MNIST_DIR      a directory that may already hold the files (checked first)
#   MNIST_SUMS     sums file in sha256sum format (default: data/SHA256SUMS)
#   MNIST_MIRRORS  space-separated base URLs to try in order (default: public mirrors)
#   MNIST_FETCH    force the download tool: curl or wget (default: whichever exists)
#
# Exit status: 0 files present and verified, 64 bad usage, 65 bad sums file,
# 69 no mirror served a verified copy of some file, 73 cannot create DEST_DIR.
set -u

FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
DEFAULT_MIRRORS="https://ossci-datasets.s3.amazonaws.com/mnist/ https://storage.googleapis.com/cvdf-datasets/mnist/ http://yann.lecun.com/exdb/mnist/"

prog=get_mnist.sh
die() {
    code=$1
    shift
    echo "$prog: $*" >&2
    exit "$code"
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $prog DEST_DIR" >&2
    exit 64
fi
dest=$1
script_dir=$(cd "$(dirname "$0")" && pwd) || die 64 "cannot locate the script directory"
sums=${MNIST_SUMS:-$script_dir/../data/SHA256SUMS}
mirrors=${MNIST_MIRRORS:-$DEFAULT_MIRRORS}
[ -r "$sums" ] || die 65 "$sums: sums file missing or unreadable"

if command -v sha256sum >/dev/null 2>&1; then
    hash_cmd="sha256sum"
elif command -v shasum >/dev/null 2>&1; then
    hash_cmd="shasum -a 256"
else
    die 69 "neither sha256sum nor shasum found"
fi

# Prints the SHA-256 of file $1.
sha_of() {
    $hash_cmd <"$1" | awk '{print $1}'
}

# Prints the expected SHA-256 of a file named $1 (sha256sum lines "HASH  NAME" or
# "HASH *NAME"); nothing if the sums file does not list it.
expected_sha() {
    awk -v n="$1" '($2 == n || $2 == "*" n) && length($1) == 64 { print tolower($1); exit }' "$sums"
}

# 0 if file $1 exists and matches the sum listed for the name $2.
verify_as() {
    [ -f "$1" ] || return 1
    want=$(expected_sha "$2")
    [ -n "$want" ] || return 1
    got=$(sha_of "$1") || return 1
    [ "$got" = "$want" ]
}

# 0 if directory $1 holds a verified copy of $2, looking in the loader's order: the
# decompressed file if it exists (it is read first), else the .gz. The path is left
# in $found.
have_verified() {
    found=
    if [ -e "$1/$2" ]; then
        cand=$2
    else
        cand=$2.gz
    fi
    verify_as "$1/$cand" "$cand" || return 1
    found="$1/$cand"
    return 0
}

all_verified() {
    for f in $FILES; do
        have_verified "$1" "$f" || return 1
    done
    return 0
}

for f in $FILES; do
    [ -n "$(expected_sha "$f.gz")" ] || die 65 "$sums: no SHA-256 listed for $f.gz"
done

if [ -n "${MNIST_DIR:-}" ] && [ -d "$MNIST_DIR" ] && all_verified "$MNIST_DIR"; then
    echo "$prog: MNIST_DIR=$MNIST_DIR holds the four MNIST files, verified; nothing to download"
    exit 0
fi

mkdir -p "$dest" 2>/dev/null || die 73 "$dest: cannot create directory"
if [ ! -d "$dest" ] || [ ! -w "$dest" ]; then
    die 73 "$dest: not a writable directory"
fi

if all_verified "$dest"; then
    echo "$prog: $dest holds the four MNIST files, verified; nothing to download"
    exit 0
fi

fetch_tool=${MNIST_FETCH:-}
if [ -z "$fetch_tool" ]; then
    if command -v curl >/dev/null 2>&1; then
        fetch_tool=curl
    elif command -v wget >/dev/null 2>&1; then
        fetch_tool=wget
    else
        die 69 "neither curl nor wget found; download the files by hand (see data/README.md)"
    fi
fi

# Downloads URL $1 to file $2; non-zero on any failure (HTTP errors included).
fetch() {
    case $fetch_tool in
    curl)
        curl --fail --silent --show-error --location --connect-timeout 20 --max-time 900 \
            --retry 2 --retry-delay 3 -o "$2" "$1"
        ;;
    wget)
        wget --quiet --tries=3 --timeout=30 --waitretry=3 -O "$2" "$1"
        ;;
    *)
        echo "$prog: MNIST_FETCH must be curl or wget, not '$fetch_tool'" >&2
        return 1
        ;;
    esac
}

tmp=
cleanup() {
    [ -n "$tmp" ] && rm -f "$tmp"
    tmp=
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

failed=
for f in $FILES; do
    if have_verified "$dest" "$f"; then
        echo "$prog: $found verified"
        continue
    fi
    gz="$f.gz"
    ok=
    for m in $mirrors; do
        case $m in
        */) url="$m$gz" ;;
        *) url="$m/$gz" ;;
        esac
        tmp="$dest/$gz.tmp-$$"
        rm -f "$tmp"
        echo "$prog: fetching $url" >&2
        if ! fetch "$url" "$tmp"; then
            echo "$prog: $url: download failed" >&2
            cleanup
            continue
        fi
        if ! verify_as "$tmp" "$gz"; then
            echo "$prog: $url: SHA-256 mismatch (got $(sha_of "$tmp"), want $(expected_sha "$gz")); discarded" >&2
            cleanup
            continue
        fi
        if ! mv -f "$tmp" "$dest/$gz"; then
            echo "$prog: $dest/$gz: cannot move into place" >&2
            cleanup
            continue
        fi
        tmp=
        ok=1
        break
    done
    if [ -z "$ok" ]; then
        echo "$prog: no mirror gave a verified $gz (tried: $mirrors)" >&2
        failed="$failed $gz"
        continue
    fi
    # A stale decompressed copy would be read before the .gz; it failed the check.
    if [ -e "$dest/$f" ]; then
        echo "$prog: $dest/$f does not verify; removing it in favour of $gz" >&2
        rm -f "$dest/$f"
    fi
    echo "$prog: $dest/$gz downloaded and verified"
done

if [ -n "$failed" ]; then
    die 69 "could not get verified copies of:$failed"
fi
echo "$prog: MNIST ready in $dest"
exit 0
