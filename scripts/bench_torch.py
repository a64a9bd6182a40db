#!/usr/bin/env python3
"""bench_torch.py - the workloads of tests/bench_main.c in PyTorch, for comparison.

Same network (conv 1->32 3x3 pad 1, ReLU, conv 32->64 3x3 pad 1, ReLU, max pool 2x2,
linear 12544->128, ReLU, linear 128->10), same batch sizes, same synthetic inputs
(80% zeros, the rest uniform in [0, 1)), torch.set_num_threads(T):

  train            forward + cross-entropy + backward + Adam step, batch 64 and 128
  inference        forward of 1000 images in chunks of 125, as bench_main runs them
                   (no autograd)
  fgsm_input_grad  forward + backward to the input only, 1000 images in chunks of 125
                   (PyTorch 1.13 on one thread takes about 1.5x as long per image in
                   one batch of 1000 as in batches of 64 to 250)
  latency          forward of one image (no autograd)
  pgd40_attack     PGD-40, eps 0.3, step 0.01, uniform random start, all 40 steps for
                   every image, then a forward to score the result; batches of 100,
                   1000 images; input gradients only (parameters frozen)
  pgd7_advtrain    PGD-7 adversarial training as advtrain.c's method pgd: per batch of
                   64 a random start and 7 steps of 2.5 * 0.3 / 7 (input gradients only),
                   then forward + cross-entropy + backward + Adam (1e-3) on the
                   adversarial batch alone; 12 batches
  trades7_advtrain TRADES adversarial training as advtrain.c's method trades: per batch
                   of 64 the clean probabilities (one forward, no autograd), then from
                   x + U(-0.001, 0.001) 7 steps (as for PGD-7; the method's default is
                   10) of 2.5 * 0.3 / 7 ascending KL(p(x) || p(x')) (input gradients
                   only); then one forward of the clean and adversarial batches
                   together (128 images), loss CE(clean) + 6 * KL(clean || adversarial)
                   (summed over the classes, the mean over the batch; the gradient
                   reaches both halves), backward and Adam (1e-3); 12 batches. The
                   network has neither dropout nor batch norm, so train and eval mode
                   compute the same (mnistsec has no modes)

Each workload runs once (one call) to warm up, then --runs times; the median is
reported. Writes a CSV with the columns of results/bench_torch.csv (atomically:
temporary file, then rename): those of results/bench.csv without the ratio columns,
revision being the source revision (--revision, default scripts/source_rev.sh's), and
prints a table. Usage:
  bench_torch.py [--threads 1,2] [--runs 5] [--out results/bench_torch.csv] [--quick]
                 [--workloads NAME,...] [--revision REV]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("bench_torch: PyTorch is not installed", file=sys.stderr)
    sys.exit(69)

PIX = 28 * 28
FLOP_CONV1 = 2.0 * 32 * PIX * 9
FLOP_CONV2 = 2.0 * 64 * PIX * 32 * 9
FLOP_FC1 = 2.0 * 12544 * 128
FLOP_FC2 = 2.0 * 128 * 10
FLOP_FWD = FLOP_CONV1 + FLOP_CONV2 + FLOP_FC1 + FLOP_FC2
FLOP_TRAIN = 2 * FLOP_FWD + FLOP_CONV2 + FLOP_FC1 + FLOP_FC2
FLOP_FGSM = 2 * FLOP_FWD
CHUNK = 125  # images per forward in the 1000-image workloads (bench_main's BENCH_CHUNK)
EPS = 0.3
PGD_STEPS, PGD_STEP, PGD_BATCH = 40, 0.01, 100
ADV_STEPS, ADV_BATCH = 7, 64
ADV_STEP = 2.5 * EPS / ADV_STEPS  # advtrain.c's default rule for methods pgd and trades
FLOP_PGD40 = PGD_STEPS * FLOP_FGSM + FLOP_FWD
FLOP_ADV7 = ADV_STEPS * FLOP_FGSM + FLOP_TRAIN
TRADES_START = 0.001  # advtrain.c's TRADES random start, U(-0.001, 0.001)
TRADES_BETA = 6.0  # advtrain's default (--trades-beta); the speed does not depend on it
# per clean image: the clean forward, 7 input gradients, a training step on the clean
# image and on its adversarial copy (bench_main.c's FLOP_TRADES7)
FLOP_TRADES7 = FLOP_FWD + ADV_STEPS * FLOP_FGSM + 2 * FLOP_TRAIN
WORKLOADS = ("train", "inference", "fgsm_input_grad", "latency", "pgd40_attack",
             "pgd7_advtrain", "trades7_advtrain")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(12544, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def pgd(net, x0, y, eps, step, steps):
    """x0 + U(-eps, eps), clamped to [0,1], then `steps` signed-gradient steps on the
    summed cross-entropy, each projected onto the eps-ball around x0 and [0,1]. Only
    the input gradient is computed (autograd.grad to x alone)."""
    lo, hi = (x0 - eps).clamp_(min=0), (x0 + eps).clamp_(max=1)
    x = (x0 + torch.empty_like(x0).uniform_(-eps, eps)).clamp_(0, 1)
    for _ in range(steps):
        x.requires_grad_(True)
        loss = F.cross_entropy(net(x), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
        x = torch.min(torch.max(x.detach() + step * g.sign(), lo), hi)
    return x


def trades_kl(net, x0, eps, step, steps):
    """advtrain.c's TRADES inner maximisation: the clean log-probabilities once (no
    autograd), then from x0 + U(-0.001, 0.001), projected onto the eps-ball around x0
    and [0,1], `steps` signed-gradient steps on KL(p(x0) || p(x)) summed over the
    batch, each projected likewise. Only the input gradient is computed. (Zhang et
    al.'s published code starts from x0 + 0.001 N(0, 1) and recomputes p(x0) at every
    step; advtrain.c does neither, nor does this loop.)"""
    lo, hi = (x0 - eps).clamp_(min=0), (x0 + eps).clamp_(max=1)
    with torch.no_grad():
        lp = F.log_softmax(net(x0), 1)
    x = torch.min(torch.max(x0 + torch.empty_like(x0).uniform_(-TRADES_START, TRADES_START),
                            lo), hi)
    for _ in range(steps):
        x.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(net(x), 1), lp, reduction="sum", log_target=True)
        (g,) = torch.autograd.grad(loss, x)
        x = torch.min(torch.max(x.detach() + step * g.sign(), lo), hi)
    return x


def source_revision():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    try:
        r = subprocess.run(["sh", "scripts/source_rev.sh"], cwd=root, capture_output=True,
                           text=True, check=True)
        return r.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="results/bench_torch.csv")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--revision")
    a = ap.parse_args()
    if a.runs < 3:
        ap.error("--runs must be at least 3")
    threads = [int(t) for t in a.threads.split(",")]
    only = a.workloads.split(",")
    for w in only:
        if w not in WORKLOADS:
            ap.error("unknown workload %r in --workloads" % w)
    rev = a.revision if a.revision is not None else source_revision()
    if not rev or any(c in rev for c in ',"\r\n'):
        ap.error("--revision must be non-empty, without commas, quotes or line breaks")

    g = torch.Generator().manual_seed(7)
    x = torch.rand(1000, 1, 28, 28, generator=g)
    x = torch.where(torch.rand(x.shape, generator=g) < 0.8, torch.zeros_like(x), x)
    y = torch.randint(0, 10, (1000,), generator=g)

    rows = []
    print("%-16s %7s %6s %12s %10s %9s %14s" % ("workload", "threads", "batch", "images/s",
                                                 "ms/call", "GFLOP/s", "range img/s"))
    for t in threads:
        torch.set_num_threads(t)
        torch.manual_seed(1)
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def train(batch, calls):
            for c in range(calls):
                off = (c * batch) % (1000 - batch)
                xb, yb = x[off:off + batch], y[off:off + batch]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(net(xb), yb)
                loss.backward()
                opt.step()

        def inference(batch, calls):
            with torch.inference_mode():
                for _ in range(calls):
                    for lo in range(0, batch, CHUNK):
                        net(x[lo:lo + CHUNK])

        def fgsm(batch, calls):
            for p in net.parameters():
                p.requires_grad_(False)
            for _ in range(calls):
                for lo in range(0, batch, CHUNK):
                    xb = x[lo:lo + CHUNK].clone().requires_grad_(True)
                    loss = F.cross_entropy(net(xb), y[lo:lo + CHUNK])
                    (gx,) = torch.autograd.grad(loss, xb)
            for p in net.parameters():
                p.requires_grad_(True)

        def latency(batch, calls):
            with torch.inference_mode():
                for c in range(calls):
                    net(x[c % 1000:c % 1000 + 1])

        def pgd_attack(batch, calls):
            for p in net.parameters():
                p.requires_grad_(False)
            for c in range(calls):
                off = (c * batch) % 1000
                x0, y0 = x[off:off + batch], y[off:off + batch]
                xa = pgd(net, x0, y0, EPS, PGD_STEP, PGD_STEPS)
                with torch.inference_mode():
                    (net(xa).argmax(1) == y0).sum()
            for p in net.parameters():
                p.requires_grad_(True)

        def advtrain_epoch(batch, calls, craft, loss_of):
            """One epoch of `calls` batches: craft the adversarial batch with the
            parameters frozen, then one Adam step on loss_of(clean, adversarial, labels)."""
            perm = torch.randperm(calls * batch)
            for c in range(calls):
                idx = perm[c * batch:(c + 1) * batch]
                xb, yb = x[idx], y[idx]
                for p in net.parameters():
                    p.requires_grad_(False)
                xa = craft(xb, yb)
                for p in net.parameters():
                    p.requires_grad_(True)
                opt.zero_grad(set_to_none=True)
                loss_of(xb, xa, yb).backward()
                opt.step()

        def pgd_advtrain(batch, calls):
            advtrain_epoch(batch, calls,
                           lambda xb, yb: pgd(net, xb, yb, EPS, ADV_STEP, ADV_STEPS),
                           lambda xb, xa, yb: F.cross_entropy(net(xa), yb))

        def trades_loss(xb, xa, yb):
            batch = xb.shape[0]
            z = net(torch.cat((xb, xa)))  # one forward of both halves, as advtrain.c
            zc, za = z[:batch], z[batch:]
            kl = F.kl_div(F.log_softmax(za, 1), F.log_softmax(zc, 1),
                          reduction="batchmean", log_target=True)
            return F.cross_entropy(zc, yb) + TRADES_BETA * kl

        def trades_advtrain(batch, calls):
            advtrain_epoch(batch, calls,
                           lambda xb, yb: trades_kl(net, xb, EPS, ADV_STEP, ADV_STEPS),
                           trades_loss)

        q = a.quick
        workloads = [
            ("train", 64, FLOP_TRAIN, train, 3 if q else 8),
            ("train", 128, FLOP_TRAIN, train, 2 if q else 4),
            ("inference", 1000, FLOP_FWD, inference, 1),
            ("fgsm_input_grad", 1000, FLOP_FGSM, fgsm, 1),
            ("latency", 1, FLOP_FWD, latency, 50 if q else 200),
            ("pgd40_attack", PGD_BATCH, FLOP_PGD40, pgd_attack, 2 if q else 1000 // PGD_BATCH),
            ("pgd7_advtrain", ADV_BATCH, FLOP_ADV7, pgd_advtrain, 3 if q else 12),
            ("trades7_advtrain", ADV_BATCH, FLOP_TRADES7, trades_advtrain, 3 if q else 12),
        ]
        for name, batch, flop, fn, calls in workloads:
            if name not in only:
                continue
            fn(batch, 20 if name == "latency" else 1)
            times = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                fn(batch, calls)
                times.append(time.perf_counter() - t0)
            times.sort()
            med = statistics.median(times)
            imgs = batch * calls
            ips = imgs / med
            row = (name, t, batch, ips, 1e3 * med / calls, ips * flop * 1e-9,
                   imgs / times[-1], imgs / times[0])
            rows.append(row)
            print("%-16s %7d %6d %12.1f %10.3f %9.1f %6.0f-%-7.0f" % row, flush=True)

    d = os.path.dirname(os.path.abspath(a.out))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".bench_torch.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="\n") as f:
            f.write("workload,threads,batch,images_per_s,ms_per_call,gflops,"
                    "images_per_s_min,images_per_s_max,revision\n")
            for r in rows:
                f.write("%s,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%s\n" % (r + (rev,)))
        os.replace(tmp, a.out)
    except BaseException:
        os.unlink(tmp)
        raise
    print("bench_torch: wrote %s (torch %s)" % (a.out, torch.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
