#!/bin/sh
# test_convert.sh - scripts/ckpt_to_torch.py and scripts/torch_to_ckpt.py on a model
# mnistsec trains on a tiny generated data set (tests/tinydata.sh):
#   - checkpoint -> .pt -> checkpoint gives back the same bytes, with either key
#     layout (named, or the nn.Sequential of scripts/torch_reference.py), and a
#     metadata string comes back through --meta;
#   - the .pt loads with torch.load(weights_only=True) into the published architecture
#     (load_state_dict strict) and PyTorch predicts what mnistsec predicts with
#     --mode adv_only --load on the round-tripped checkpoint: every clean prediction
#     (robust_examples.csv), the clean accuracy and loss (metrics.csv), and every
#     prediction on the FGSM images mnistsec saved (--save-adv adv_images.npy); an
#     image whose two largest PyTorch logits lie within 1e-3 may differ (rounding),
#     and the number of such images is printed;
#   - refusals, exit 65 and no output file or temporary left behind: a .pt with a
#     wrong shape, a missing key, an extra key, a NaN, a pickled nn.Module, a file that
#     is not a .pt; a checkpoint with one byte flipped (CRC), truncated, or of another
#     architecture. A missing input is 66.
#
# Needs $PYTHON (default /usr/bin/python3, Debian's) with torch and numpy
# (python3-torch); otherwise it is one skip with the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tinydata.sh"
BIN=${BUILD:-build}/mnistsec
PY=${PYTHON:-/usr/bin/python3}
S=$(cd "$(dirname "$0")/../scripts" && pwd)
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    skip "PyTorch checkpoint converters" "$PY cannot import torch and numpy (apt-get install python3-torch)"
    finish
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
tiny_dataset "$T/data" 300 100
check "tiny data set generated" [ $? -eq 0 ]
TINY="--data $T/data --threads 1 --quiet"

"$BIN" --mode baseline $TINY --epochs 1 --out "$T/train" --save "$T/m.ckpt"
check "mnistsec trains and saves a checkpoint" [ -f "$T/m.ckpt" ]

"$PY" "$S/ckpt_to_torch.py" "$T/m.ckpt" "$T/m.pt"
check "ckpt_to_torch.py exits 0" [ $? -eq 0 ]
"$PY" "$S/torch_to_ckpt.py" "$T/m.pt" "$T/back.ckpt"
check "torch_to_ckpt.py exits 0" [ $? -eq 0 ]
check "checkpoint -> .pt -> checkpoint: byte-identical" cmp "$T/m.ckpt" "$T/back.ckpt"
"$PY" "$S/ckpt_to_torch.py" --keys sequential "$T/m.ckpt" "$T/seq.pt" &&
    "$PY" "$S/torch_to_ckpt.py" "$T/seq.pt" "$T/seq.ckpt"
check "the same through nn.Sequential keys: byte-identical" cmp "$T/m.ckpt" "$T/seq.ckpt"
"$PY" "$S/torch_to_ckpt.py" --meta "arch=mnistsec-cnn-v1 seed=1" "$T/m.pt" "$T/meta.ckpt" &&
    "$PY" "$S/ckpt_to_torch.py" "$T/meta.ckpt" "$T/meta.pt" 2>"$T/meta.err" &&
    "$PY" "$S/torch_to_ckpt.py" --meta "arch=mnistsec-cnn-v1 seed=1" "$T/meta.pt" "$T/meta2.ckpt"
check "metadata: said on stderr, restored by --meta, byte-identical" \
    sh -c "grep -qF -e \"--meta 'arch=mnistsec-cnn-v1 seed=1'\" '$T/meta.err' && cmp '$T/meta.ckpt' '$T/meta2.ckpt'"
check "metadata checkpoint differs from the plain one" sh -c "! cmp -s '$T/m.ckpt' '$T/meta.ckpt'"

# mnistsec's predictions with the round-tripped checkpoint, and its FGSM images.
"$BIN" --mode adv_only $TINY --load "$T/back.ckpt" --out "$T/adv" --save-adv "$T/advset"
check "mnistsec --mode adv_only --load the round-tripped checkpoint exits 0" [ $? -eq 0 ]

"$PY" - "$T" "$S" >"$T/py.out" 2>&1 <<'EOF'
import sys
import numpy as np
import torch
import torch.nn.functional as F
T, S = sys.argv[1], sys.argv[2]
sys.path.insert(0, S)
from ckpt_to_torch import Net
from torch_reference import model as sequential_model

def idx(path):
    b = open(path, "rb").read()
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, ">u1" if b[2] == 8 else ">f4", offset=4 + 4 * b[3]).reshape(dims)

def metric(key):
    for line in open(T + "/adv/metrics.csv"):
        k, v = line.rstrip("\n").split(",", 1)
        if k == key:
            return float(v)
    raise KeyError(key)

def compare(what, logits, want):
    top2 = logits.topk(2, 1).values
    tie = (top2[:, 0] - top2[:, 1]) < 1e-3
    pred = logits.argmax(1).numpy()
    differ = pred != want
    bad = differ & ~tie.numpy()
    print("  %s: %d images, %d differ, %d near ties (top-2 logits within 1e-3)"
          % (what, len(want), differ.sum(), tie.sum()))
    assert not bad.any(), "%s: predictions differ at %s" % (what, np.flatnonzero(bad)[:10])

torch.set_num_threads(1)
sd = torch.load(T + "/m.pt", weights_only=True)
assert list(sd) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                    "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], list(sd)
assert all(v.dtype == torch.float32 for v in sd.values())
m = Net()
m.load_state_dict(sd)  # strict: same keys and shapes
m.eval()
ms = sequential_model()
ms.load_state_dict(torch.load(T + "/seq.pt", weights_only=True))
ms.eval()

head = open(T + "/adv/robust_examples.csv").readline().strip().split(",")
cols = [head.index(c) for c in ("index", "label", "clean_pred", "fgsm_pred")]
ex = np.loadtxt(T + "/adv/robust_examples.csv", delimiter=",", skiprows=1, usecols=cols, dtype=np.int64)
y = idx(T + "/data/t10k-labels-idx1-ubyte").astype(np.int64)
x = torch.tensor(idx(T + "/data/t10k-images-idx3-ubyte").astype(np.float32) / 255).unsqueeze(1)
assert (ex[:, 0] == np.arange(len(y))).all() and (ex[:, 1] == y).all()
with torch.no_grad():
    z = m(x)
    zs = ms(x)
assert torch.equal(z, zs), "the two key layouts give different logits"
compare("clean", z, ex[:, 2])
acc = (z.argmax(1).numpy() == y).mean()
loss = F.cross_entropy(z.double(), torch.tensor(y)).item()
print("  clean accuracy PyTorch %.6f mnistsec %.6f; loss PyTorch %.9f mnistsec %.9f"
      % (acc, metric("clean_accuracy"), loss, metric("clean_loss")))
assert abs(acc - metric("clean_accuracy")) < 1e-9
assert abs(loss - metric("clean_loss")) <= 1e-4 * max(1.0, loss)
xa = torch.tensor(np.load(T + "/advset/adv_images.npy")).unsqueeze(1)
with torch.no_grad():
    za = m(xa)
compare("FGSM images", za, ex[:, 3])
assert (ex[:, 3] != ex[:, 2]).any(), "FGSM changed no prediction: the comparison shows nothing"
EOF
rc=$?
sed 's/^/    /' "$T/py.out" >&2
check "PyTorch on the .pt predicts what mnistsec predicts (clean and FGSM images)" [ "$rc" -eq 0 ]

# Spoiled copies of m.pt, each alone in its directory $T/rN, refused by torch_to_ckpt:
# the first through the command (its exit status), the others through main() in one
# Python process (torch is imported once), which prints "PASS|FAIL description" lines.
"$PY" - "$T" "$S" >"$T/refusals" 2>"$T/refusals.err" <<'EOF'
import contextlib, io, os, sys, torch
T, S = sys.argv[1], sys.argv[2]
sys.path.insert(0, S)
import torch_to_ckpt
def spoil(n, change):
    sd = torch.load(T + "/m.pt", weights_only=True)
    os.mkdir(T + "/r%d" % n)
    obj = change(sd)
    if isinstance(obj, bytes):
        open(T + "/r%d/bad.pt" % n, "wb").write(obj)
    else:
        torch.save(sd if obj is None else obj, T + "/r%d/bad.pt" % n)
spoil(1, lambda sd: sd.update({"conv1.weight": torch.zeros(32, 1, 5, 5)}))
cases = [
    (2, "transposed fc1", "fc1.weight has shape (12544, 128)",
     lambda sd: sd.update({"fc1.weight": sd["fc1.weight"].t().contiguous()})),
    (3, "missing key", "missing key fc2.bias", lambda sd: sd.__delitem__("fc2.bias")),
    (4, "extra key", "unexpected key bn.running_mean",
     lambda sd: sd.update({"bn.running_mean": torch.zeros(3)})),
    (5, "NaN", "fc2.weight element 388 is nan",
     lambda sd: sd["fc2.weight"].__setitem__((3, 4), float("nan"))),
    (6, "integer tensor", "conv2.bias has dtype torch.int64",
     lambda sd: sd.update({"conv2.bias": sd["conv2.bias"].long()})),
    (7, "pickled module", "save model.state_dict() instead", lambda sd: torch.nn.Linear(2, 2)),
    (8, "not a .pt", "not a loadable PyTorch state_dict", lambda sd: b"not a pt file"),
]
for n, name, want, change in cases:
    spoil(n, change)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = torch_to_ckpt.main([T + "/r%d/bad.pt" % n, T + "/r%d/out.ckpt" % n])
    left = sorted(os.listdir(T + "/r%d" % n))
    sys.stderr.write(err.getvalue())
    print("%s refused, %s: status 65 (got %s)" % ("PASS" if rc == 65 else "FAIL", name, rc))
    print("%s refused, %s: message names '%s'" % ("PASS" if want in err.getvalue() else "FAIL", name, want))
    print("%s refused, %s: no output, no temporary" % ("PASS" if left == ["bad.pt"] else "FAIL", name))
EOF
check "spoiled .pt files made" [ -f "$T/r8/bad.pt" ]
sed 's/^/    /' "$T/refusals.err" >&2
"$PY" "$S/torch_to_ckpt.py" "$T/r1/bad.pt" "$T/r1/out.ckpt" 2>"$T/r.err"
rc=$?
check "refused, wrong shape: exit 65 (got $rc)" [ "$rc" -eq 65 ]
check "refused, wrong shape: message names the key and both shapes" \
    grep -qF -e "conv1.weight has shape (32, 1, 5, 5), expected (32, 1, 3, 3)" "$T/r.err"
check "refused, wrong shape: no output, no temporary" [ "$(ls -A "$T/r1")" = "bad.pt" ]
while read -r verdict what; do
    check "$what" [ "$verdict" = PASS ]
done <"$T/refusals"
check "7 more refusals checked" [ "$(grep -c . "$T/refusals")" -eq 21 ]

"$PY" "$S/torch_to_ckpt.py" "$T/no-such.pt" "$T/x.ckpt" 2>/dev/null
check "torch_to_ckpt.py: missing input is exit 66" [ $? -eq 66 ]

# badckpt NAME WANT: ckpt_to_torch.py on $T/r/bad.ckpt exits 65 naming WANT, no output.
badckpt() {
    "$PY" "$S/ckpt_to_torch.py" "$T/r/bad.ckpt" "$T/r/out.pt" 2>"$T/r.err"
    rc=$?
    check "ckpt_to_torch refuses $1: exit 65 (got $rc)" [ "$rc" -eq 65 ]
    check "ckpt_to_torch refuses $1: message names '$2'" grep -qF -e "$2" "$T/r.err"
    check "ckpt_to_torch refuses $1: no output, no temporary" [ "$(ls -A "$T/r")" = "bad.ckpt" ]
}
rm -rf "$T/r" && mkdir "$T/r"
cp "$T/m.ckpt" "$T/r/bad.ckpt"
# one payload byte flipped
off=5000
b=$(od -An -tu1 -j "$off" -N1 "$T/r/bad.ckpt" | tr -d ' ')
printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$T/r/bad.ckpt" bs=1 seek="$off" conv=notrunc 2>/dev/null
badckpt "a flipped byte" "CRC-32 mismatch"
head -c 4000 "$T/m.ckpt" >"$T/r/bad.ckpt"
badckpt "a truncated file" "truncated"
# A valid checkpoint of another architecture: fc2 with 9 outputs.
"$PY" - "$T" <<'EOF'
import struct, sys, zlib
b = bytearray(open(sys.argv[1] + "/m.ckpt", "rb").read())
# fc2.weight's dims (10, 128) -> (9, 128), one row of payload dropped, fc2.bias kept.
i = b.find(b"fc2.weight") + len(b"fc2.weight")
assert struct.unpack_from("<III", b, i) == (2, 10, 128)
struct.pack_into("<I", b, i + 4, 9)
end = len(b) - 4 - 10 * 4  # start of fc2.bias
del b[end - 128 * 4:end]
b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF)
open(sys.argv[1] + "/r/bad.ckpt", "wb").write(bytes(b))
EOF
badckpt "another architecture" "tensor 'fc2.weight' has shape (9, 128), expected (10, 128)"
"$PY" "$S/ckpt_to_torch.py" "$T/no-such.ckpt" "$T/x.pt" 2>/dev/null
check "ckpt_to_torch.py: missing input is exit 66" [ $? -eq 66 ]
finish
