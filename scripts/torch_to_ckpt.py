#!/usr/bin/python3
"""torch_to_ckpt.py - a PyTorch state_dict of the published CNN as an mnistsec
checkpoint.

usage: torch_to_ckpt.py [--meta TEXT] MODEL.pt OUT.ckpt

MODEL.pt is a state_dict saved with torch.save (for example
torch.save(model.state_dict(), "model.pt")) of the published architecture: Conv 1->32
3x3 pad 1, ReLU, Conv 32->64 3x3 pad 1, ReLU, MaxPool 2x2, Linear 12544->128, ReLU,
Linear 128->10. Its keys are either the checkpoint's names

    conv1.weight (32,1,3,3)  conv1.bias (32)  conv2.weight (64,32,3,3)  conv2.bias (64)
    fc1.weight (128,12544)   fc1.bias (128)   fc2.weight (10,128)       fc2.bias (10)

(a module with attributes conv1, conv2, fc1, fc2; scripts/ckpt_to_torch.py writes
these) or those of the nn.Sequential in scripts/torch_reference.py: 0.weight, 0.bias,
2.weight, 2.bias, 6.weight, 6.bias, 8.weight, 8.bias. The file is read with
torch.load(weights_only=True), so it is never run as a pickle program: a whole pickled
nn.Module is refused - save its state_dict instead.

Every key must be there, with exactly that shape, and no other key; the values must
be finite. float64, float16 and bfloat16 tensors are converted to float32 (said on
stderr); anything else is refused. Any refusal exits 65 with one line naming the key
and what is wrong, and writes nothing.

OUT.ckpt is written in the format of docs/CHECKPOINT.md (header, tensor headers,
little-endian float32 payloads, CRC-32), with the metadata string TEXT (printable
ASCII, at most 255 bytes; default empty, as mnistsec's --save writes), under a
temporary name in OUT's directory renamed into place when complete. mnistsec loads it
with --load.

Exit status as mnistsec's: 0 ok, 64 usage, 65 bad input content, 66 unreadable
input, 69 PyTorch or numpy not installed, 73 cannot create the output, 74 I/O error.
Runs with Debian's /usr/bin/python3 (python3-torch, which brings numpy).
"""
import os
import struct
import sys
import zipfile
import zlib

# the checkpoint format, the architecture and the exit statuses: one definition, in
# ckpt_to_torch.py beside this script
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ckpt_to_torch import (ARCH, EX_CANTCREAT, EX_DATAERR, EX_IOERR, EX_NOINPUT,  # noqa: E402
                           EX_UNAVAILABLE, EX_USAGE, MAGIC, MAX_META, VERSION, Failure,
                           write_atomic)

# A state_dict of the published CNN holds about 6.4 MB; refuse to unpickle far more.
MAX_INPUT_BYTES = 64 << 20


def load_state_dict(path):
    """The mapping in path, loaded without running pickled code."""
    import inspect

    import torch

    if "weights_only" not in inspect.signature(torch.load).parameters:
        raise Failure(EX_UNAVAILABLE, "torch %s cannot load without running pickled code "
                      "(torch.load(weights_only=True) needs torch 1.13 or later)" % torch.__version__)

    try:
        size = os.stat(path).st_size
        f = open(path, "rb")
    except OSError as e:
        raise Failure(EX_NOINPUT, "%s: cannot read: %s" % (path, e.strerror or e))
    if size > MAX_INPUT_BYTES:
        f.close()
        raise Failure(EX_DATAERR, "%s: %d bytes, larger than the limit of %d" % (path, size, MAX_INPUT_BYTES))
    try:
        with f:
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except OSError as e:
        raise Failure(EX_IOERR, "%s: read error: %s" % (path, e.strerror or e))
    except Exception as e:  # the unpickler's and the zip reader's many error types
        text = str(e).strip()
        # Drop the unpickler's advice to load without weights_only: never here.
        text = text.split("WeightsUnpickler error: ")[-1].strip()
        if text.startswith("Unsupported class"):
            raise Failure(EX_DATAERR, "%s: holds pickled objects other than tensors (%s); "
                          "save model.state_dict() instead" % (path, text))
        msg = "%s%s" % (type(e).__name__, ": " + text.splitlines()[0] if text else "")
        if not zipfile.is_zipfile(path):
            msg = "neither a torch.save zip archive nor a legacy one (%s)" % msg
        raise Failure(EX_DATAERR, "%s: not a loadable PyTorch state_dict: %s" % (path, msg))
    if not isinstance(obj, dict):
        raise Failure(EX_DATAERR, "%s: holds a %s, expected a state_dict (a dict of tensors)" % (path, type(obj).__name__))
    return obj


def pick_tensors(sd, path):
    """[(checkpoint name, float32 array)] in checkpoint order, or Failure(65)."""
    import numpy as np
    import torch

    keys = [k for k in sd]
    for k in keys:
        if not isinstance(k, str):
            raise Failure(EX_DATAERR, "%s: key %r is not a string" % (path, k))
    named = set(n for n, _, _ in ARCH)
    seq = set(s for _, _, s in ARCH)
    layout = 1 if seq & set(keys) and not named & set(keys) else 0
    want = [(a[layout * 2], a[1], a[0]) for a in ARCH]  # (key, shape, checkpoint name)
    missing = [k for k, _, _ in want if k not in sd]
    extra = [k for k in keys if k not in set(k for k, _, _ in want)]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing key%s %s" % ("s" if len(missing) > 1 else "", ", ".join(missing)))
        if extra:
            parts.append("unexpected key%s %s" % ("s" if len(extra) > 1 else "", ", ".join(extra)))
        raise Failure(EX_DATAERR, "%s: not a state_dict of the published CNN: %s (expected %s)"
                      % (path, "; ".join(parts), ", ".join(k for k, _, _ in want)))
    out = []
    for key, shape, name in want:
        t = sd[key]
        if not isinstance(t, torch.Tensor):
            raise Failure(EX_DATAERR, "%s: %s is a %s, not a tensor" % (path, key, type(t).__name__))
        if t.layout != torch.strided or t.is_quantized:
            raise Failure(EX_DATAERR, "%s: %s is a %s%s tensor; only dense tensors are read"
                          % (path, key, "quantized " if t.is_quantized else "", t.layout))
        if tuple(t.shape) != shape:
            raise Failure(EX_DATAERR, "%s: %s has shape (%s), expected (%s)"
                          % (path, key, ", ".join(map(str, t.shape)), ", ".join(map(str, shape))))
        if t.dtype != torch.float32:
            if t.dtype not in (torch.float64, torch.float16, torch.bfloat16):
                raise Failure(EX_DATAERR, "%s: %s has dtype %s, expected a floating type (float32)" % (path, key, t.dtype))
            sys.stderr.write("torch_to_ckpt: %s: %s converted from %s to float32\n" % (path, key, t.dtype))
        v = t.detach().to("cpu", torch.float32).contiguous().numpy()
        finite = np.isfinite(v)
        if not finite.all():
            k = int(np.flatnonzero(~finite.reshape(-1))[0])
            raise Failure(EX_DATAERR, "%s: %s element %d is %s%s" % (
                path, key, k, v.reshape(-1)[k],
                " after conversion to float32" if t.dtype != torch.float32 else ""))
        out.append((name, v))
    return out


def encode(meta, tensors):
    """The bytes of the checkpoint (docs/CHECKPOINT.md)."""
    import numpy as np

    m = meta.encode("ascii")
    b = bytearray(MAGIC) + struct.pack("<III", VERSION, len(tensors), len(m)) + m
    for name, v in tensors:
        b += struct.pack("<I", len(name)) + name.encode("ascii")
        b += struct.pack("<I", v.ndim) + struct.pack("<%dI" % v.ndim, *v.shape)
    b += bytes((-len(b)) % 4)
    for _, v in tensors:
        b += np.ascontiguousarray(v, dtype="<f4").tobytes()
    b += struct.pack("<I", zlib.crc32(bytes(b)) & 0xFFFFFFFF)
    return bytes(b)


def main(argv):
    meta = ""
    args = list(argv)
    if args[:1] == ["--meta"] and len(args) >= 2:
        meta = args[1]
        args = args[2:]
    elif args[:1] and args[0].startswith("--meta="):
        meta = args[0][len("--meta="):]
        args = args[1:]
    if len(args) != 2 or args[0].startswith("-"):
        sys.stderr.write(__doc__)
        return EX_USAGE
    if len(meta) > MAX_META or any(not 0x20 <= ord(c) <= 0x7E for c in meta):
        sys.stderr.write("torch_to_ckpt: --meta: printable ASCII of at most %d bytes\n" % MAX_META)
        return EX_USAGE
    src, dst = args
    try:
        try:
            import torch  # noqa: F401
            import numpy  # noqa: F401
        except ImportError as e:
            raise Failure(EX_UNAVAILABLE, "%s cannot import %s (Debian: apt-get install python3-torch)" % (sys.executable, e.name))
        if os.path.isdir(dst):
            raise Failure(EX_CANTCREAT, "%s: cannot write output file: is a directory" % dst)
        tensors = pick_tensors(load_state_dict(src), src)
        data = encode(meta, tensors)
        write_atomic(dst, lambda f: f.write(data))
    except Failure as e:
        sys.stderr.write("torch_to_ckpt: %s\n" % e)
        return e.status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
