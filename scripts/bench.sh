#!/bin/sh
# bench.sh BUILD [bench_main options] - the speed benchmark behind `make bench`.
#
# Runs BUILD/tests/bench_main (results/bench.csv); then, if /usr/bin/python3 can import
# torch, the same workloads in PyTorch (scripts/bench_torch.py, results/bench_torch.csv)
# with the OpenMP OpenBLAS and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for that
# command only, and prints our/PyTorch ratios of images/s. Without torch it says so and
# keeps our figures. The machine may be shared: the figures are medians of >= 3 runs.
set -eu
BUILD=${1:-build}
[ $# -gt 0 ] && shift
THREADS=${BENCH_THREADS:-1,2}
mkdir -p results
# Other processes change wall-clock figures a lot: print the load next to them (above
# about 0.5 on this 2-core machine they are not representative; `bench_main --kernels`
# gives CPU times, which depend much less on it).
load() { [ -r /proc/loadavg ] && cut -d' ' -f1-3 /proc/loadavg || echo unknown; }
echo "bench: load average (1, 5, 15 min) before: $(load)"
"$BUILD/tests/bench_main" --threads "$THREADS" --out results/bench.csv "$@"
echo "bench: load average after: $(load)"

# A real run: one epoch of the baseline on full MNIST, for seconds per epoch and the
# peak resident memory of the whole program (results/bench_run.csv).
D=${MNIST_DIR:-data/mnist}
if [ -f "$D/train-images-idx3-ubyte.gz" ] || [ -f "$D/train-images-idx3-ubyte" ]; then
    run_dir=$(mktemp -d)
    if "$BUILD/mnistsec" --mode baseline --data "$D" --epochs 1 --quiet --out "$run_dir"; then
        secs=$(awk -F, '$1 == "train_seconds" { print $2 }' "$run_dir/metrics.csv")
        # batch-1 latency of the trained model (mean of 1000 single-image forwards): the
        # zero-skipping paths depend on how many activations are zero, PyTorch's do not
        lat=$(awk -F, '$1 == "inference_ms_per_image" { print $2 }' "$run_dir/metrics.csv")
        rss=$(sed -n 's/.*"peak_rss_kb": \([0-9]*\).*/\1/p' "$run_dir/manifest.json")
        rss_mb=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
        tmp=results/bench_run.csv.tmp-$$
        printf 'metric,value\nepoch_seconds,%s\npeak_rss_mb,%s\nlatency_ms_trained,%s\n' \
            "$secs" "$rss_mb" "$lat" > "$tmp"
        mv "$tmp" results/bench_run.csv
        echo "bench: full-data baseline: $secs s per epoch, peak RSS $rss_mb MB, batch-1 latency of the trained model $lat ms (results/bench_run.csv)"
    else
        echo "bench: the full-data baseline run failed"
    fi
    rm -rf "$run_dir"
else
    echo "bench: no MNIST in $D (make data): seconds per epoch and peak RSS not measured"
fi

PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    echo "bench: PyTorch not available ($PY -c 'import torch' failed): our figures only"
    exit 0
fi
echo
echo "PyTorch, same workloads:"
BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    LD_LIBRARY_PATH="$BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$PY" scripts/bench_torch.py --threads "$THREADS" --out results/bench_torch.csv
echo
echo "ratio ours/PyTorch (images/s):"
awk -F, 'FNR == 1 { next }
    NR == FNR { ours[$1 "," $2 "," $3] = $4; next }
    ($1 "," $2 "," $3) in ours && $4 > 0 {
        printf "%-16s threads %s batch %5s  %8.1f / %8.1f = %5.2fx\n", $1, $2, $3,
               ours[$1 "," $2 "," $3], $4, ours[$1 "," $2 "," $3] / $4
    }' results/bench.csv results/bench_torch.csv
