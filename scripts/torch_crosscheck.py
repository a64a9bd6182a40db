#!/usr/bin/env python3
"""torch_crosscheck.py - a PyTorch model exported to mnistsec's checkpoint format,
with PyTorch's own clean and FGSM figures, so mnistsec can be checked against PyTorch
on identical weights (tests/test_torch_crosscheck.sh).

usage: torch_crosscheck.py MNIST_DIR OUT_DIR [TEST_IMAGES]
Writes OUT_DIR/model.ckpt and OUT_DIR/expected.csv (metric,value: clean_accuracy,
clean_loss, adv_accuracy for epsilon 0.3 on the first TEST_IMAGES test images).
The model is the published architecture trained briefly (300 Adam steps, seed 0).
"""
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import find, model, read_idx  # noqa: E402


def write_checkpoint(path, tensors):
    """The format of docs/CHECKPOINT.md: header, tensor headers, aligned payloads, CRC."""
    b = bytearray(b"MNSECKPT") + struct.pack("<III", 1, len(tensors), 0)
    for name, t in tensors:
        b += struct.pack("<I", len(name)) + name.encode("ascii")
        b += struct.pack("<I", t.ndim) + struct.pack("<%dI" % t.ndim, *t.shape)
    b += bytes((-len(b)) % 4)
    for _, t in tensors:
        b += np.ascontiguousarray(t, dtype="<f4").tobytes()
    b += struct.pack("<I", zlib.crc32(bytes(b)) & 0xFFFFFFFF)
    with open(path + ".tmp", "wb") as f:
        f.write(b)
    os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    d, out = sys.argv[1], sys.argv[2]
    n_test = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    torch.set_num_threads(2)
    torch.manual_seed(0)
    xtr = torch.tensor(read_idx(find(d, "train-images-idx3-ubyte"))[:20000], dtype=torch.float32).div_(255).unsqueeze(1)
    ytr = torch.tensor(read_idx(find(d, "train-labels-idx1-ubyte"))[:20000].astype(np.int64))
    xte = torch.tensor(read_idx(find(d, "t10k-images-idx3-ubyte"))[:n_test], dtype=torch.float32).div_(255).unsqueeze(1)
    yte = torch.tensor(read_idx(find(d, "t10k-labels-idx1-ubyte"))[:n_test].astype(np.int64))
    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for step in range(300):
        idx = torch.randint(0, len(xtr), (64,))
        opt.zero_grad()
        F.cross_entropy(m(xtr[idx]), ytr[idx]).backward()
        opt.step()
    names = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
             "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    params = [p.detach().numpy() for p in m.parameters()]
    os.makedirs(out, exist_ok=True)
    write_checkpoint(os.path.join(out, "model.ckpt"), list(zip(names, params)))
    with torch.no_grad():
        logits = m(xte)
    x = xte.clone().requires_grad_(True)
    F.cross_entropy(m(x), yte).backward()
    xa = (x + 0.3 * x.grad.sign()).clamp(0, 1).detach()
    with torch.no_grad():
        adv = (m(xa).argmax(1) == yte).float().mean().item()
    with open(os.path.join(out, "expected.csv"), "w") as f:
        f.write("metric,value\n")
        f.write("clean_accuracy,%.9g\n" % (logits.argmax(1) == yte).float().mean().item())
        f.write("clean_loss,%.9g\n" % F.cross_entropy(logits, yte).item())
        f.write("adv_accuracy,%.9g\n" % adv)
        f.write("test_images,%d\n" % n_test)


if __name__ == "__main__":
    main()
