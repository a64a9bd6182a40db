#!/usr/bin/env python3
"""bench_torch.py - the workloads of tests/bench_main.c in PyTorch, for comparison.

Same network (conv 1->32 3x3 pad 1, ReLU, conv 32->64 3x3 pad 1, ReLU, max pool 2x2,
linear 12544->128, ReLU, linear 128->10), same batch sizes, same synthetic inputs
(80% zeros, the rest uniform in [0, 1)), torch.set_num_threads(T):

  train            forward + cross-entropy + backward + Adam step, batch 64 and 128
  inference        forward of 1000 images in one batch (no autograd)
  fgsm_input_grad  forward + backward to the input only, 1000 images in one batch
  latency          forward of one image (no autograd)

Each workload runs once to warm up, then --runs times; the median is reported.
Writes a CSV with the columns of results/bench.csv (atomically: temporary file, then
rename) and prints a table. Usage:
  bench_torch.py [--threads 1,2] [--runs 5] [--out results/bench_torch.csv] [--quick]
"""
import argparse
import os
import statistics
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="results/bench_torch.csv")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.runs < 3:
        ap.error("--runs must be at least 3")
    threads = [int(t) for t in a.threads.split(",")]

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
                    net(x[:batch])

        def fgsm(batch, calls):
            for p in net.parameters():
                p.requires_grad_(False)
            for _ in range(calls):
                xb = x[:batch].clone().requires_grad_(True)
                loss = F.cross_entropy(net(xb), y[:batch])
                (gx,) = torch.autograd.grad(loss, xb)
            for p in net.parameters():
                p.requires_grad_(True)

        def latency(batch, calls):
            with torch.inference_mode():
                for c in range(calls):
                    net(x[c % 1000:c % 1000 + 1])

        q = a.quick
        workloads = [
            ("train", 64, FLOP_TRAIN, train, 3 if q else 8),
            ("train", 128, FLOP_TRAIN, train, 2 if q else 4),
            ("inference", 1000, FLOP_FWD, inference, 1),
            ("fgsm_input_grad", 1000, FLOP_FGSM, fgsm, 1),
            ("latency", 1, FLOP_FWD, latency, 50 if q else 200),
        ]
        for name, batch, flop, fn, calls in workloads:
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
                    "images_per_s_min,images_per_s_max\n")
            for r in rows:
                f.write("%s,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g\n" % r)
        os.replace(tmp, a.out)
    except BaseException:
        os.unlink(tmp)
        raise
    print("bench_torch: wrote %s (torch %s)" % (a.out, torch.__version__), file=sys.stderr)


if __name__ == "__main__":
    main()
