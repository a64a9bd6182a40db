#!/bin/sh
# test_npy_numpy.sh - the .npy outputs read by NumPy itself, on a tiny generated data
# set (tests/tinydata.sh): --save-adv's DIR/adv_images.npy and adv_labels.npy load with
# numpy.load (allow_pickle=False) as float32 (n, 28, 28) and uint8 (n,), hold exactly
# the values of the IDX files beside them, pixels in [0,1], and are byte for byte what
# numpy.save writes for those arrays; --save-activations FILE.npy loads as float32
# (n, 128), equal to the IDX file the same run writes for a name without .npy.
#
# Needs $PYTHON (default /usr/bin/python3, Debian's) with numpy; otherwise every check
# is one skip with the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tinydata.sh"
BIN=${BUILD:-build}/mnistsec
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import numpy" >/dev/null 2>&1; then
    skip ".npy files read by NumPy" "numpy not installed: $PY cannot import numpy (apt-get install python3-numpy)"
    finish
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
tiny_dataset "$T/data" 300 100
check "tiny data set generated" [ $? -eq 0 ]
TINY="--data $T/data --epochs 1 --threads 1 --quiet"

"$BIN" --mode adv_only $TINY --out "$T/out" --save-adv "$T/adv"
check "adv_only --save-adv exits 0" [ $? -eq 0 ]
for f in adv_images.npy adv_labels.npy t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    check "--save-adv wrote $f" [ -f "$T/adv/$f" ]
done
check "no temporary file left in --save-adv" sh -c "! ls -A '$T/adv' | grep -q tmp"

# npycheck NAME PYTHON-CODE: one check; the code gets np, load_idx(path), D (the
# --save-adv directory), DATA and T, and raises (or asserts) on failure; it exits 77
# after printing a reason when the check cannot run with this numpy (a skip).
npycheck() {
    name=$1
    "$PY" - "$T/adv" "$T/data" "$T" >"$T/py.out" 2>&1 <<EOF
import io, sys
import numpy as np
D, DATA, T = sys.argv[1], sys.argv[2], sys.argv[3]

def load_idx(path):
    b = open(path, "rb").read()
    assert b[0] == 0 and b[1] == 0, path
    dt = {8: ">u1", 13: ">f4"}[b[2]]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, dt, offset=4 + 4 * b[3]).reshape(dims)

def need_growth_padding():
    # Current numpy.save leaves spare spaces in the header for the first dimension to
    # grow in place (GROWTH_AXIS_MAX_DIGITS); older versions write a shorter, equally
    # valid header, so the files cannot be identical to theirs.
    if not hasattr(np.lib.format, "GROWTH_AXIS_MAX_DIGITS"):
        print("numpy %s writes the older header layout without spare spaces" % np.__version__)
        sys.exit(77)

def saved_by_numpy(a):
    f = io.BytesIO()
    np.save(f, a, allow_pickle=False)
    return f.getvalue()

$2
EOF
    rc=$?
    if [ "$rc" -eq 77 ]; then
        skip "$name" "$(tail -n 1 "$T/py.out")"
        return
    fi
    if [ "$rc" -ne 0 ]; then
        sed 's/^/    /' "$T/py.out" >&2
    fi
    check "$name" [ "$rc" -eq 0 ]
}

npycheck "adv_images.npy: float32 (100, 28, 28), little-endian, C order" '
x = np.load(D + "/adv_images.npy", allow_pickle=False)
assert x.dtype == np.dtype("<f4"), x.dtype
assert x.shape == (100, 28, 28), x.shape
assert x.flags.c_contiguous'
npycheck "adv_labels.npy: uint8 (100,)" '
y = np.load(D + "/adv_labels.npy", allow_pickle=False)
assert y.dtype == np.uint8, y.dtype
assert y.shape == (100,), y.shape'
npycheck "adv_images.npy equals the float32 IDX file, pixels in [0,1]" '
x = np.load(D + "/adv_images.npy")
i = load_idx(D + "/t10k-images-idx3-ubyte")
assert i.shape == x.shape, (i.shape, x.shape)
assert np.array_equal(x.view("<u4"), i.astype("<f4").view("<u4")), "bit patterns differ"
assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1, (x.min(), x.max())
assert x.max() > x.min()'
npycheck "adv_labels.npy equals the IDX labels and the test labels" '
y = np.load(D + "/adv_labels.npy")
assert np.array_equal(y, load_idx(D + "/t10k-labels-idx1-ubyte"))
assert np.array_equal(y, load_idx(DATA + "/t10k-labels-idx1-ubyte"))'
npycheck "adversarial images within 0.3 of the test images (L-inf)" '
x = np.load(D + "/adv_images.npy").astype(np.float64)
c = load_idx(DATA + "/t10k-images-idx3-ubyte") / 255.0
assert np.abs(x - c).max() <= 0.3 + 1e-6, np.abs(x - c).max()'
npycheck "both .npy files are byte for byte what numpy.save writes" '
need_growth_padding()
for f in ("adv_images.npy", "adv_labels.npy"):
    b = open(D + "/" + f, "rb").read()
    assert b[:8] == b"\x93NUMPY\x01\x00", b[:8]
    hlen = int.from_bytes(b[8:10], "little")
    assert (10 + hlen) % 64 == 0 and b[9 + hlen:10 + hlen] == b"\n", hlen
    assert b == saved_by_numpy(np.load(D + "/" + f)), f + " differs from numpy.save"'

# --save-activations: .npy by name, IDX otherwise; the same run twice, same values.
POIS="--mode poisoned $TINY --poison-count 10 --defend spectral"
"$BIN" $POIS --out "$T/p1" --save-activations "$T/acts.npy"
check "poisoned --save-activations FILE.npy exits 0" [ $? -eq 0 ]
"$BIN" $POIS --out "$T/p2" --save-activations "$T/acts.idx"
check "poisoned --save-activations FILE.idx exits 0" [ $? -eq 0 ]
npycheck "activations .npy: float32 (300, 128), non-negative, equal to the IDX file" '
a = np.load(T + "/acts.npy", allow_pickle=False)
assert a.dtype == np.dtype("<f4") and a.shape == (300, 128), (a.dtype, a.shape)
assert np.isfinite(a).all() and a.min() >= 0
assert np.array_equal(a, load_idx(T + "/acts.idx"))'
finish
