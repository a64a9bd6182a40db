#!/usr/bin/python3
"""ckpt_to_torch.py - an mnistsec checkpoint as a PyTorch state_dict.

usage: ckpt_to_torch.py [--keys named|sequential] MODEL.ckpt OUT.pt

Reads MODEL.ckpt (format: docs/CHECKPOINT.md) with every check mnistsec's loader
makes - magic, version 1, tensor count, metadata, names, shapes, zero padding, exact
length, CRC-32, finite values - and requires the mnistsec architecture (the published
one): conv1.weight (32,1,3,3), conv1.bias (32), conv2.weight (64,32,3,3), conv2.bias
(64), fc1.weight (128,12544), fc1.bias (128), fc2.weight (10,128), fc2.bias (10).
Then writes OUT.pt with torch.save: an OrderedDict of float32 CPU tensors in that
order, under a temporary name in OUT's directory renamed into place when complete.

--keys named (default) keeps the checkpoint's names, for a module with attributes
conv1, conv2, fc1, fc2 such as Net below:

    import sys; sys.path.insert(0, "scripts")
    import torch
    from ckpt_to_torch import Net
    m = Net()
    m.load_state_dict(torch.load("model.pt", weights_only=True))
    m.eval()                      # m(x): x (N, 1, 28, 28) in [0, 1] -> logits (N, 10)

--keys sequential names them as the nn.Sequential of scripts/torch_reference.py does:
0.weight, 0.bias, 2.weight, 2.bias, 6.weight, 6.bias, 8.weight, 8.bias.

The checkpoint's metadata string is not part of a state_dict; when it is not empty it
is printed, and scripts/torch_to_ckpt.py --meta restores it. mnistsec's --save writes
none, so ckpt -> pt -> ckpt gives back the same bytes.

Exit status as mnistsec's: 0 ok, 64 usage, 65 bad checkpoint content, 66 unreadable
input, 69 PyTorch or numpy not installed, 73 cannot create the output, 74 I/O error.
Runs with Debian's /usr/bin/python3 (python3-torch, which brings numpy).
"""
import os
import struct
import sys
import tempfile
import zlib
from collections import OrderedDict

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_CANTCREAT, EX_IOERR = 64, 65, 66, 69, 73, 74

MAGIC = b"MNSECKPT"
VERSION = 1
MAX_TENSORS, MAX_NAME, MAX_META, MAX_DIMS = 64, 63, 255, 4
MAX_BYTES = 64 << 20
NAME_CHARS = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

# The mnistsec CNN (include/cnn.h), tensors in checkpoint order, with the key of the
# same tensor in scripts/torch_reference.py's nn.Sequential.
ARCH = [
    ("conv1.weight", (32, 1, 3, 3), "0.weight"),
    ("conv1.bias", (32,), "0.bias"),
    ("conv2.weight", (64, 32, 3, 3), "2.weight"),
    ("conv2.bias", (64,), "2.bias"),
    ("fc1.weight", (128, 12544), "6.weight"),
    ("fc1.bias", (128,), "6.bias"),
    ("fc2.weight", (10, 128), "8.weight"),
    ("fc2.bias", (10,), "8.bias"),
]


class Failure(Exception):
    """An error with the exit status it maps to."""

    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status


def parse_checkpoint(b, name):
    """(metadata, [(tensor name, dims, float32 array)]) of checkpoint bytes b, or
    Failure(65) naming the field that is wrong."""
    import numpy as np

    def bad(msg):
        return Failure(EX_DATAERR, "%s: %s" % (name, msg))

    pos = 0

    def u32(field):
        nonlocal pos
        if len(b) - pos < 4:
            raise bad("truncated: %s at offset %d needs 4 bytes, file has %d" % (field, pos, len(b)))
        (v,) = struct.unpack_from("<I", b, pos)
        pos += 4
        return v

    if b[:len(MAGIC)] != MAGIC[:min(len(b), len(MAGIC))]:
        raise bad('magic: not a checkpoint (does not start with "MNSECKPT")')
    if len(b) < len(MAGIC):
        raise bad("truncated: magic needs 8 bytes, file has %d" % len(b))
    pos = len(MAGIC)
    version = u32("version")
    if version != VERSION:
        raise bad("version is %d, this program reads version %d" % (version, VERSION))
    count = u32("tensor count")
    if not 1 <= count <= MAX_TENSORS:
        raise bad("tensor count is %d, outside 1..%d" % (count, MAX_TENSORS))
    mlen = u32("metadata length")
    if mlen > MAX_META:
        raise bad("metadata length is %d, the limit is %d" % (mlen, MAX_META))
    if len(b) - pos < mlen:
        raise bad("truncated: metadata of %d bytes at offset %d" % (mlen, pos))
    meta = b[pos:pos + mlen]
    for k, c in enumerate(meta):
        if not 0x20 <= c <= 0x7E:
            raise bad("metadata byte %d (0x%02x) is not printable ASCII" % (k, c))
    pos += mlen
    heads, seen = [], set()
    for i in range(count):
        k = u32("tensor %d name length" % i)
        if not 1 <= k <= MAX_NAME:
            raise bad("tensor %d name length %d outside 1..%d" % (i, k, MAX_NAME))
        if len(b) - pos < k:
            raise bad("truncated: tensor %d name at offset %d" % (i, pos))
        raw = b[pos:pos + k]
        for j, c in enumerate(raw):
            if c not in NAME_CHARS:
                raise bad("tensor %d name has a character outside [A-Za-z0-9._-] at position %d" % (i, j))
        tname = raw.decode("ascii")
        if tname in seen:
            raise bad("tensor name '%s' appears twice" % tname)
        seen.add(tname)
        pos += k
        d = u32("tensor '%s' ndim" % tname)
        if not 1 <= d <= MAX_DIMS:
            raise bad("tensor '%s' ndim %d outside 1..%d" % (tname, d, MAX_DIMS))
        dims = tuple(u32("tensor '%s' dims[%d]" % (tname, j)) for j in range(d))
        for j, x in enumerate(dims):
            if x < 1:
                raise bad("tensor '%s' dims[%d] is 0" % (tname, j))
        heads.append((tname, dims))
    pad = (-pos) % 4
    if len(b) - pos < pad:
        raise bad("truncated: padding at offset %d" % pos)
    if any(b[pos:pos + pad]):
        raise bad("padding bytes at offset %d are not zero" % pos)
    pos += pad
    elems = []
    for tname, dims in heads:
        n = 1
        for x in dims:
            n *= x
        elems.append(n)
    want = pos + 4 * sum(elems) + 4
    if len(b) < want:
        raise bad("truncated: expected %d bytes, file has %d" % (want, len(b)))
    if len(b) > want:
        raise bad("%d trailing bytes after the %d bytes the header implies" % (len(b) - want, want))
    (crc,) = struct.unpack_from("<I", b, len(b) - 4)
    actual = zlib.crc32(b[:-4]) & 0xFFFFFFFF
    if crc != actual:
        raise bad("CRC-32 mismatch: file says 0x%08x, content has 0x%08x" % (crc, actual))
    tensors = []
    for (tname, dims), n in zip(heads, elems):
        v = np.frombuffer(b, "<f4", n, pos).astype(np.float32).reshape(dims)
        pos += 4 * n
        finite = np.isfinite(v)
        if not finite.all():
            k = int(np.flatnonzero(~finite.reshape(-1))[0])
            raise bad("tensor '%s' element %d is %s" % (tname, k, v.reshape(-1)[k]))
        tensors.append((tname, dims, v))
    return meta.decode("ascii"), tensors


def check_architecture(tensors, name):
    """The tensors must be exactly the mnistsec CNN's, in order."""
    if len(tensors) != len(ARCH):
        raise Failure(EX_DATAERR, "%s: %d tensors, the mnistsec CNN has %d" % (name, len(tensors), len(ARCH)))
    for i, ((tname, dims, _), (want, wdims, _)) in enumerate(zip(tensors, ARCH)):
        if tname != want:
            raise Failure(EX_DATAERR, "%s: tensor %d is '%s', expected '%s'" % (name, i, tname, want))
        if dims != wdims:
            raise Failure(EX_DATAERR, "%s: tensor '%s' has shape %s, expected %s" % (name, tname, dims, wdims))


def read_input(path):
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            raise Failure(EX_DATAERR, "%s: %d bytes, larger than the limit of %d" % (path, size, MAX_BYTES))
        with open(path, "rb") as f:
            b = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise Failure(EX_NOINPUT, "%s: cannot read: %s" % (path, e.strerror or e))
    if len(b) > MAX_BYTES:
        raise Failure(EX_DATAERR, "%s: larger than the limit of %d bytes" % (path, MAX_BYTES))
    return b


def write_atomic(path, write):
    """write(file) into a temporary file in path's directory, renamed over path only
    when complete; nothing is left behind on failure."""
    if os.path.isdir(path):
        raise Failure(EX_CANTCREAT, "%s: cannot write output file: is a directory" % path)
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=d)
    except OSError as e:
        raise Failure(EX_CANTCREAT, "%s: cannot create output file: %s" % (path, e.strerror or e))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        raise Failure(EX_IOERR, "%s: cannot write: %s" % (path, e.strerror or e))
    except BaseException:
        os.unlink(tmp)
        raise


def Net():
    """The mnistsec CNN (the published architecture) as a PyTorch module whose
    state_dict keys are the checkpoint's names."""
    import torch.nn as nn
    import torch.nn.functional as F

    class MnistsecCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = nn.Linear(64 * 14 * 14, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv2(F.relu(self.conv1(x))))
            x = F.max_pool2d(x, 2).flatten(1)
            return self.fc2(F.relu(self.fc1(x)))

    return MnistsecCNN()


def main(argv):
    keys = "named"
    args = list(argv)
    if args[:1] == ["--keys"] and len(args) >= 2:
        keys = args[1]
        args = args[2:]
    elif args[:1] and args[0].startswith("--keys="):
        keys = args[0][len("--keys="):]
        args = args[1:]
    if len(args) != 2 or keys not in ("named", "sequential") or args[0].startswith("-"):
        sys.stderr.write(__doc__)
        return EX_USAGE
    src, dst = args
    try:
        try:
            import numpy  # noqa: F401
            import torch
        except ImportError as e:
            raise Failure(EX_UNAVAILABLE, "%s cannot import %s (Debian: apt-get install python3-torch)"
                          % (sys.executable, e.name))
        if os.path.isdir(dst):
            raise Failure(EX_CANTCREAT, "%s: cannot write output file: is a directory" % dst)
        b = read_input(src)
        meta, tensors = parse_checkpoint(b, src)
        check_architecture(tensors, src)
        sd = OrderedDict()
        for (tname, _, v), (_, _, seq) in zip(tensors, ARCH):
            sd[tname if keys == "named" else seq] = torch.from_numpy(v.copy())
        import torch

        write_atomic(dst, lambda f: torch.save(sd, f))
    except Failure as e:
        sys.stderr.write("ckpt_to_torch: %s\n" % e)
        return e.status
    if meta:
        sys.stderr.write("ckpt_to_torch: %s: metadata '%s' is not carried by a state_dict; "
                         "torch_to_ckpt.py --meta '%s' restores it\n" % (src, meta, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
