#!/usr/bin/env python3
"""torch_reference.py - the published protocol in PyTorch, as a cross-check of mnistsec.

Same architecture, initialisation (PyTorch's defaults), Adam 1e-3, batch 64, 5 epochs,
pixels x/255; then clean accuracy and loss on the 10,000 test images and FGSM
(epsilon 0.3) accuracy on all of them and on the first 640. FGSM is scored twice: with
the cross-entropy in float32, as the published script and PyTorch's default do
(fgsm_accuracy), and with the cross-entropy of the float32 logits taken in float64, as
mnistsec takes it (fgsm_accuracy_f64): in float32 the true-class probability of a
confidently classified image rounds to exactly 1.0 and its (p_y - 1) gradient term
vanishes. One CSV row per seed; its last column, revision, is the source revision
(scripts/source_rev.sh), as in the benchmark CSVs. Rows of an existing OUT_CSV for other
seeds are kept, so the seeds can be run in several calls.

usage: torch_reference.py MNIST_DIR OUT_CSV SEED [SEED...]
Needs python3 with torch and numpy (Debian: python3-torch); mnistsec itself does not.
"""
import gzip
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(d, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise SystemExit(f"{d}: no {stem}[.gz]")


def model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 14 * 14, 128), nn.ReLU(),
        nn.Linear(128, 10))


def source_revision():
    """scripts/source_rev.sh's revision of this checkout (CSV-safe), or "unknown"."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    try:
        r = subprocess.run(["sh", "scripts/source_rev.sh"], cwd=root, capture_output=True,
                           text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    rev = r.stdout.strip()
    return rev if rev and not any(c in rev for c in ',"\r\n') else "unknown"


HEADER = ("seed,clean_accuracy,clean_loss,fgsm_accuracy,fgsm_accuracy_f64,"
          "fgsm_accuracy_first640,train_seconds,revision")


def kept_rows(out, seeds):
    """The lines of an existing CSV at out with this header, for seeds not run now: a
    later call with other seeds adds to the file instead of replacing it. A file with
    another header is replaced whole."""
    try:
        with open(out) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    if not lines or lines[0] != HEADER:
        return {}
    kept = {}
    for line in lines[1:]:
        seed = line.split(",", 1)[0]
        if seed.lstrip("-").isdigit() and int(seed) not in seeds:
            kept[int(seed)] = line
    return kept


def write_rows(out, rows, kept):
    """The CSV (kept lines and this run's rows, by seed), replaced atomically."""
    lines = dict(kept)
    for r in rows:
        lines[r[0]] = "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.1f,%s" % r
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(HEADER + "\n")
        for seed in sorted(lines):
            f.write(lines[seed] + "\n")
    os.replace(tmp, out)


def fgsm_correct(m, x, y, float64):
    """Per image, 1.0 if FGSM (epsilon 0.3, batches of 1,000, mean cross-entropy; of the
    logits cast to float64 when float64 is set) leaves it classified correctly."""
    ok = []
    for i in range(0, len(x), 1000):
        xb = x[i:i + 1000].clone().requires_grad_(True)
        z = m(xb)
        F.cross_entropy(z.double() if float64 else z, y[i:i + 1000]).backward()
        xa = (xb + 0.3 * xb.grad.sign()).clamp(0, 1).detach()
        with torch.no_grad():
            ok.append(m(xa).argmax(1) == y[i:i + 1000])
    return torch.cat(ok).float()


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    d, out = sys.argv[1], sys.argv[2]
    seeds = [int(s) for s in sys.argv[3:]]
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    xtr = torch.tensor(read_idx(find(d, "train-images-idx3-ubyte")), dtype=torch.float32).div_(255).unsqueeze(1)
    ytr = torch.tensor(read_idx(find(d, "train-labels-idx1-ubyte")).astype(np.int64))
    xte = torch.tensor(read_idx(find(d, "t10k-images-idx3-ubyte")), dtype=torch.float32).div_(255).unsqueeze(1)
    yte = torch.tensor(read_idx(find(d, "t10k-labels-idx1-ubyte")).astype(np.int64))
    rev = source_revision()
    kept = kept_rows(out, set(seeds))
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)
        m = model()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        t0 = time.time()
        for _ in range(5):
            perm = torch.randperm(len(xtr))
            for i in range(0, len(xtr), 64):
                idx = perm[i:i + 64]
                opt.zero_grad()
                F.cross_entropy(m(xtr[idx]), ytr[idx]).backward()
                opt.step()
        train_s = time.time() - t0
        m.eval()
        with torch.no_grad():
            logits = torch.cat([m(xte[i:i + 1000]) for i in range(0, len(xte), 1000)])
        loss = F.cross_entropy(logits, yte).item()
        acc = (logits.argmax(1) == yte).float().mean().item()
        adv_ok = fgsm_correct(m, xte, yte, float64=False)
        adv_ok64 = fgsm_correct(m, xte, yte, float64=True)
        rows.append((seed, acc, loss, adv_ok.mean().item(), adv_ok64.mean().item(),
                     adv_ok[:640].mean().item(), train_s, rev))
        print(f"seed {seed}: clean {acc:.4f} loss {loss:.4f} fgsm {rows[-1][3]:.4f} "
              f"fgsm_f64 {rows[-1][4]:.4f} fgsm640 {rows[-1][5]:.4f} train {train_s:.0f} s",
              file=sys.stderr)
        write_rows(out, rows, kept)  # after every seed: a run that stops keeps its seeds


if __name__ == "__main__":
    main()
