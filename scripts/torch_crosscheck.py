#!/usr/bin/env python3
"""torch_crosscheck.py - a PyTorch model exported to mnistsec's checkpoint format,
with PyTorch's own clean and FGSM figures, so mnistsec can be checked against PyTorch
on identical weights (tests/test_torch_crosscheck.sh).

usage: torch_crosscheck.py MNIST_DIR OUT_DIR [TEST_IMAGES] [--load CKPT]
Without --load it trains the model below; with --load it takes the weights of a
mnistsec checkpoint instead (e.g. results/baseline/model.ckpt, whose float32
true-class probabilities round to 1.0 far more often than the short-trained model's).
Writes OUT_DIR/model.ckpt, OUT_DIR/per_image.csv (per test image: index, label,
clean_correct, clean_loss, adv_correct, adv_correct_float32, p_true_is_one,
bim_correct, bim_correct_float32; so the figures of any first n images can be formed)
and OUT_DIR/expected.csv (metric,value) for epsilon 0.3 on the first TEST_IMAGES test
images:
  clean_accuracy, clean_loss
  adv_accuracy          FGSM accuracy, the loss gradient taken as mnistsec takes it:
                        cross-entropy of the logits in float64 (so the true-class
                        term 1 - p survives where p rounds to 1.0 in float32),
                        batches of 100 with the mean over the batch, gradient cast
                        back to float32 at the logits
  adv_accuracy_float32  the same with PyTorch's usual float32 cross-entropy, whose
                        gradient vanishes for an image whose true-class probability
                        rounds to 1.0 (FGSM leaves such an image unchanged)
  p_true_is_one_share   share of test images whose float32 true-class softmax
                        probability is exactly 1.0
  bim_accuracy          BIM (PGD without random start, Kurakin et al. 2017): BIM_STEPS
                        steps of BIM_STEP, each projected onto the epsilon-ball and
                        [0,1], on the summed cross-entropy in float64 as mnistsec's
                        attack_pgd takes it; an image counts as broken if any iterate
                        (the original included) is misclassified, which is mnistsec's
                        early stop: its `--attack pgd --no-random-start --pgd-steps 10
                        --pgd-step-size 0.02` must agree
  bim_accuracy_float32  the same with the float32 cross-entropy
  fgsm_train_steps, test_images, bim_steps, bim_step_size
and prints the figures on one line, "torch_crosscheck: key=value ...".
BIM_STEP 0.02 makes 10 steps reach at most 0.2 of the 0.3 budget: the model keeps about
0.42 (0.82 with step 0.01, 0.01 with step 0.03), so a wrong step, sign or projection
moves the figure by many points.
The model is the published architecture, seed 0: 200 Adam steps (batch 64) on the first
20,000 training images, then 100 steps of FGSM adversarial fine-tuning (each a batch of
32 clean images and their FGSM images at epsilon 0.3), so that its FGSM accuracy is far
from 0 (0.42 on the first 2000 test images with OpenBLAS; the exact figure depends on
the BLAS) and the FGSM comparison measures something.
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

EPS = 0.3
CLEAN_STEPS = 200
FGSM_STEPS = 100
ATTACK_BATCH = 100  # mnistsec's FGSM batch (EVAL_BATCH): the loss is the mean over it
BIM_STEPS = 10
BIM_STEP = 0.02


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


NAMES = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
         "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def read_checkpoint(path, shapes):
    """The tensors of a checkpoint (docs/CHECKPOINT.md) that must hold NAMES with the
    given shapes, in that order; SystemExit naming the field otherwise."""
    with open(path, "rb") as f:
        b = f.read()

    def bad(what):
        raise SystemExit("%s: not a mnistsec checkpoint of this model: %s" % (path, what))

    if len(b) < 24 or b[:8] != b"MNSECKPT":
        bad("magic")
    if struct.unpack_from("<I", b, len(b) - 4)[0] != zlib.crc32(b[:-4]) & 0xFFFFFFFF:
        bad("CRC-32")
    version, count, meta = struct.unpack_from("<III", b, 8)
    if version != 1 or count != len(NAMES):
        bad("version %d, %d tensors" % (version, count))
    o = 20 + meta
    for name, shape in zip(NAMES, shapes):
        (k,) = struct.unpack_from("<I", b, o)
        got = b[o + 4:o + 4 + k].decode("ascii", "replace")
        (nd,) = struct.unpack_from("<I", b, o + 4 + k)
        dims = struct.unpack_from("<%dI" % nd, b, o + 8 + k)
        if got != name or tuple(dims) != tuple(shape):
            bad("tensor %s %s, expected %s %s" % (got, tuple(dims), name, tuple(shape)))
        o += 8 + k + 4 * nd
    o += (-o) % 4
    out = []
    for shape in shapes:
        n = int(np.prod(shape))
        if o + 4 * n > len(b) - 4:
            bad("truncated")
        out.append(np.frombuffer(b, "<f4", n, o).reshape(shape).copy())
        o += 4 * n
    if o != len(b) - 4:
        bad("length")
    return out


def fgsm(m, x, y, eps, float64):
    """x + eps * sign(dL/dx), clamped to [0,1]; L is the mean cross-entropy over the
    batch, of float64 logits (log_softmax in double) when float64 is set."""
    x = x.clone().requires_grad_(True)
    z = m(x)
    F.cross_entropy(z.double() if float64 else z, y).backward()
    return (x + eps * x.grad.sign()).clamp(0, 1).detach()


def fgsm_correct(m, x, y, float64):
    """Per image: whether the model still classifies its FGSM image correctly."""
    ok = []
    for i in range(0, len(x), ATTACK_BATCH):
        xa = fgsm(m, x[i:i + ATTACK_BATCH], y[i:i + ATTACK_BATCH], EPS, float64)
        with torch.no_grad():
            ok.append(m(xa).argmax(1) == y[i:i + ATTACK_BATCH])
    return torch.cat(ok)


def bim_correct(m, x0, y, float64):
    """Per image: whether every BIM iterate x_0 = x0, ..., x_BIM_STEPS is still
    classified correctly. x_{t+1} = clip_[0,1](clip_[x0-EPS, x0+EPS](x_t + BIM_STEP *
    sign(dL/dx))), L the summed cross-entropy (of float64 logits if float64)."""
    ok = []
    for i in range(0, len(x0), ATTACK_BATCH):
        xb0, yb = x0[i:i + ATTACK_BATCH], y[i:i + ATTACK_BATCH]
        x, good = xb0.clone(), torch.ones(len(xb0), dtype=torch.bool)
        for t in range(BIM_STEPS + 1):
            x.requires_grad_(t < BIM_STEPS)
            z = m(x)
            good &= z.argmax(1) == yb
            if t == BIM_STEPS:
                break
            loss = F.cross_entropy(z.double() if float64 else z, yb, reduction="sum")
            (g,) = torch.autograd.grad(loss, x)
            x = torch.min(torch.max(x.detach() + BIM_STEP * g.sign(), xb0 - EPS), xb0 + EPS)
            x = x.clamp(0, 1)
        ok.append(good)
    return torch.cat(ok)


def main():
    args = sys.argv[1:]
    load = None
    if "--load" in args:
        i = args.index("--load")
        if i + 1 >= len(args):
            raise SystemExit(__doc__)
        load = args[i + 1]
        del args[i:i + 2]
    if len(args) not in (2, 3):
        raise SystemExit(__doc__)
    d, out = args[0], args[1]
    n_test = int(args[2]) if len(args) > 2 else 2000
    torch.set_num_threads(2)
    torch.manual_seed(0)
    xte = torch.tensor(read_idx(find(d, "t10k-images-idx3-ubyte"))[:n_test], dtype=torch.float32).div_(255).unsqueeze(1)
    yte = torch.tensor(read_idx(find(d, "t10k-labels-idx1-ubyte"))[:n_test].astype(np.int64))
    m = model()
    if load:
        with torch.no_grad():
            for p, t in zip(m.parameters(), read_checkpoint(load, [p.shape for p in m.parameters()])):
                p.copy_(torch.from_numpy(t))
    else:
        xtr = torch.tensor(read_idx(find(d, "train-images-idx3-ubyte"))[:20000], dtype=torch.float32).div_(255).unsqueeze(1)
        ytr = torch.tensor(read_idx(find(d, "train-labels-idx1-ubyte"))[:20000].astype(np.int64))
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        for _ in range(CLEAN_STEPS):
            idx = torch.randint(0, len(xtr), (64,))
            opt.zero_grad()
            F.cross_entropy(m(xtr[idx]), ytr[idx]).backward()
            opt.step()
        for _ in range(FGSM_STEPS):
            idx = torch.randint(0, len(xtr), (32,))
            xb, yb = xtr[idx], ytr[idx]
            xa = fgsm(m, xb, yb, EPS, False)
            opt.zero_grad()
            F.cross_entropy(m(torch.cat([xb, xa])), torch.cat([yb, yb])).backward()
            opt.step()
    params = [p.detach().numpy() for p in m.parameters()]
    os.makedirs(out, exist_ok=True)
    write_checkpoint(os.path.join(out, "model.ckpt"), list(zip(NAMES, params)))
    with torch.no_grad():
        logits = m(xte)
        p_true = F.softmax(logits, 1).gather(1, yte[:, None]).squeeze(1)
    clean_ok = logits.argmax(1) == yte
    loss = F.cross_entropy(logits.double(), yte, reduction="none")
    adv_ok = fgsm_correct(m, xte, yte, True)
    adv32_ok = fgsm_correct(m, xte, yte, False)
    for p in m.parameters():
        p.requires_grad_(False)
    bim_ok = bim_correct(m, xte, yte, True)
    bim32_ok = bim_correct(m, xte, yte, False)
    p_one = p_true == 1.0
    tmp = os.path.join(out, "per_image.csv.tmp")
    with open(tmp, "w") as f:
        f.write("index,label,clean_correct,clean_loss,adv_correct,adv_correct_float32,"
                "p_true_is_one,bim_correct,bim_correct_float32\n")
        cols = zip(yte.tolist(), clean_ok.tolist(), loss.tolist(), adv_ok.tolist(),
                   adv32_ok.tolist(), p_one.tolist(), bim_ok.tolist(), bim32_ok.tolist())
        for i, (y, c, l, a, a32, p1, b, b32) in enumerate(cols):
            f.write("%d,%d,%d,%.17g,%d,%d,%d,%d,%d\n" % (i, y, c, l, a, a32, p1, b, b32))
    os.replace(tmp, os.path.join(out, "per_image.csv"))
    rows = [
        ("clean_accuracy", clean_ok.double().mean().item()),
        ("clean_loss", loss.mean().item()),
        ("adv_accuracy", adv_ok.double().mean().item()),
        ("adv_accuracy_float32", adv32_ok.double().mean().item()),
        ("p_true_is_one_share", p_one.double().mean().item()),
        ("bim_accuracy", bim_ok.double().mean().item()),
        ("bim_accuracy_float32", bim32_ok.double().mean().item()),
    ]
    tmp = os.path.join(out, "expected.csv.tmp")
    with open(tmp, "w") as f:
        f.write("metric,value\n")
        for k, v in rows:
            f.write("%s,%.9g\n" % (k, v))
        f.write("fgsm_train_steps,%d\n" % (0 if load else FGSM_STEPS))
        f.write("test_images,%d\n" % n_test)
        f.write("bim_steps,%d\n" % BIM_STEPS)
        f.write("bim_step_size,%.9g\n" % BIM_STEP)
    os.replace(tmp, os.path.join(out, "expected.csv"))
    print("torch_crosscheck: weights=%s test_images=%d epsilon=%g bim_steps=%d bim_step_size=%g %s"
          % (load or "trained", n_test, EPS, BIM_STEPS, BIM_STEP,
             " ".join("%s=%.9g" % kv for kv in rows)))


if __name__ == "__main__":
    main()
