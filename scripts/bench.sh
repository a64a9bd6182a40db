#!/bin/sh
# bench.sh BUILD [bench_main options] - the speed benchmark behind `make bench`.
#
# Runs BUILD/tests/bench_main (results/bench.csv); then, if /usr/bin/python3 can import
# torch, the same workloads in PyTorch (scripts/bench_torch.py, results/bench_torch.csv)
# with the OpenMP OpenBLAS and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for that
# command only, prints our/PyTorch ratios of images/s and fills them into the
# torch_images_per_s and ratio columns of results/bench.csv. Without torch it says so
# and keeps our figures (those columns stay empty). The machine may be shared: the
# figures are medians of >= 3 runs. Every CSV written has a revision column, the source
# revision of scripts/source_rev.sh, the same in all of them.
#
# Environment:
#   BENCH_THREADS     thread counts, comma-separated (1,2)
#   BENCH_WORKLOADS   only these workloads of bench_main, comma-separated (all)
#   BENCH_QUICK=1     a smoke test of the harness, not a measurement: fewer calls per
#                     run, 3 runs, no full-data epoch, and the CSVs go to
#                     BUILD/bench-quick unless BENCH_OUT says otherwise
#   BENCH_OUT         directory of the CSVs (results)
set -eu
BUILD=${1:-build}
[ $# -gt 0 ] && shift
THREADS=${BENCH_THREADS:-1,2}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    OUT=${BENCH_OUT:-$BUILD/bench-quick}
    set -- --quick --runs 3 "$@"
    echo "bench: BENCH_QUICK=1: fewer calls and runs, figures for checking the harness only; CSVs in $OUT"
else
    OUT=${BENCH_OUT:-results}
fi
WL=${BENCH_WORKLOADS:+--workloads $BENCH_WORKLOADS}
REV=$(sh scripts/source_rev.sh)
mkdir -p "$OUT"
# Other processes change wall-clock figures a lot: print the load next to them (above
# about 0.5 on this 2-core machine they are not representative; `bench_main --kernels`
# gives CPU times, which depend much less on it).
load() { [ -r /proc/loadavg ] && cut -d' ' -f1-3 /proc/loadavg || echo unknown; }
echo "bench: source revision $REV; load average (1, 5, 15 min) before: $(load)"
# shellcheck disable=SC2086 # WL is empty or two words
"$BUILD/tests/bench_main" --threads "$THREADS" --out "$OUT/bench.csv" --revision "$REV" $WL "$@"
echo "bench: load average after: $(load)"

# A real run: one epoch of the baseline on full MNIST, for seconds per epoch and the
# peak resident memory of the whole program (bench_run.csv).
D=${MNIST_DIR:-data/mnist}
if [ "$QUICK" = 1 ]; then
    echo "bench: BENCH_QUICK=1: the full-data epoch (bench_run.csv) is not run"
elif [ -f "$D/train-images-idx3-ubyte.gz" ] || [ -f "$D/train-images-idx3-ubyte" ]; then
    run_dir=$(mktemp -d)
    if "$BUILD/mnistsec" --mode baseline --data "$D" --epochs 1 --quiet --out "$run_dir"; then
        secs=$(awk -F, '$1 == "train_seconds" { print $2 }' "$run_dir/metrics.csv")
        # batch-1 latency of the trained model (mean of 1000 single-image forwards): the
        # zero-skipping paths depend on how many activations are zero, PyTorch's do not
        lat=$(awk -F, '$1 == "inference_ms_per_image" { print $2 }' "$run_dir/metrics.csv")
        rss=$(sed -n 's/.*"peak_rss_kb": \([0-9]*\).*/\1/p' "$run_dir/manifest.json")
        rss_mb=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
        tmp=$OUT/bench_run.csv.tmp-$$
        printf 'metric,value,revision\nepoch_seconds,%s,%s\npeak_rss_mb,%s,%s\nlatency_ms_trained,%s,%s\n' \
            "$secs" "$REV" "$rss_mb" "$REV" "$lat" "$REV" > "$tmp"
        mv "$tmp" "$OUT/bench_run.csv"
        echo "bench: full-data baseline: $secs s per epoch, peak RSS $rss_mb MB, batch-1 latency of the trained model $lat ms ($OUT/bench_run.csv)"
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
TQ=
[ "$QUICK" = 1 ] && TQ="--quick --runs 3"
BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
# shellcheck disable=SC2086 # WL and TQ are empty or whole options
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    LD_LIBRARY_PATH="$BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$PY" scripts/bench_torch.py --threads "$THREADS" --out "$OUT/bench_torch.csv" \
    --revision "$REV" $WL $TQ
echo "bench: load average after PyTorch: $(load)"
echo
echo "ratio ours/PyTorch (images/s):"
awk -F, 'FNR == 1 { next }
    NR == FNR { ours[$1 "," $2 "," $3] = $4; next }
    ($1 "," $2 "," $3) in ours && $4 > 0 {
        printf "%-16s threads %s batch %5s  %8.1f / %8.1f = %5.2fx\n", $1, $2, $3,
               ours[$1 "," $2 "," $3], $4, ours[$1 "," $2 "," $3] / $4
    }' "$OUT/bench.csv" "$OUT/bench_torch.csv"
# The same ratios into bench.csv's torch_images_per_s and ratio columns (9 and 10).
tmp=$OUT/bench.csv.tmp-$$
awk -F, -v OFS=, 'NR == FNR { if (FNR > 1) theirs[$1 "," $2 "," $3] = $4; next }
    FNR == 1 { print; next }
    { k = $1 "," $2 "," $3
      if ((k in theirs) && theirs[k] > 0) { $9 = theirs[k]; $10 = sprintf("%.9g", $4 / theirs[k]) }
      print }' "$OUT/bench_torch.csv" "$OUT/bench.csv" > "$tmp"
mv "$tmp" "$OUT/bench.csv"
