#!/bin/sh
# seeds.sh SEED... - the baseline with the published settings on full MNIST, once per
# seed, into results/seeds/seed-N/, and a summary results/seeds/summary.csv
# (seed,clean_accuracy,clean_loss,fgsm_accuracy at epsilon 0.3 on all test images; the
# default seed from results/baseline and results/adv_only when present) with mean,
# min and max rows. Shows how much of a
# difference to the published single run is seed-to-seed variation.
# Environment: MNIST_DIR, MNISTSEC (binary), EXTRA (extra flags).
set -eu
cd "$(dirname "$0")/.."
BIN=${MNISTSEC:-./mnistsec}
EXTRA=${EXTRA:-}
[ $# -gt 0 ] || { echo "usage: seeds.sh SEED..." >&2; exit 64; }
msg=$(sh scripts/get_mnist.sh data/mnist)
case "$msg" in *MNIST_DIR=*) d=$MNIST_DIR ;; *) d=data/mnist ;; esac
for s in "$@"; do
    out=results/seeds/seed-$s
    # shellcheck disable=SC2086
    set -- --mode baseline --seed "$s" --data "$d" --out "$out" --save "$out/model.ckpt" --quiet $EXTRA
    echo "seeds.sh: $BIN $*" >&2
    "$BIN" "$@"
    # --seed too, although FGSM draws no random numbers: the run's metrics.csv and
    # manifest.json then record the seed of the model they measure
    # shellcheck disable=SC2086
    "$BIN" --mode adv_only --seed "$s" --load "$out/model.ckpt" --data "$d" --out "$out/fgsm" --quiet $EXTRA
    { printf '%s\n' "$BIN --mode baseline --seed $s --data $d --out $out --save $out/model.ckpt --quiet${EXTRA:+ $EXTRA}"
      printf '%s\n' "$BIN --mode adv_only --seed $s --load $out/model.ckpt --data $d --out $out/fgsm --quiet${EXTRA:+ $EXTRA}"
      printf 'source: %s\n' "$(sh scripts/source_rev.sh)"
    } > "$out/COMMAND"
done
tmp=results/seeds/summary.csv.tmp-$$
{
    echo "seed,clean_accuracy,clean_loss,fgsm_accuracy"
    # the default-seed runs of `make report` count too, when present
    for dir in results/seeds/seed-* results; do
        if [ "$dir" = results ]; then b=results/baseline/metrics.csv; a=results/adv_only/metrics.csv
        else b=$dir/metrics.csv; a=$dir/fgsm/metrics.csv; fi
        [ -f "$b" ] && [ -f "$a" ] || continue
        awk -F, 'FNR == NR { if ($1 == "seed") s = $2; if ($1 == "clean_accuracy") c = $2; if ($1 == "clean_loss") l = $2; next }
                 $1 == "adv_accuracy" { f = $2 } END { print s "," c "," l "," f }' "$b" "$a"
    done | sort -t, -k1,1n -u
} > "$tmp"
awk -F, 'NR > 1 { n++; for (i = 2; i <= 4; i++) { sum[i] += $i; if (n == 1 || $i < lo[i]) lo[i] = $i; if (n == 1 || $i > hi[i]) hi[i] = $i } }
         END { printf "mean,%.9g,%.9g,%.9g\n", sum[2] / n, sum[3] / n, sum[4] / n
               printf "min,%.9g,%.9g,%.9g\nmax,%.9g,%.9g,%.9g\n", lo[2], lo[3], lo[4], hi[2], hi[3], hi[4] }' \
    "$tmp" > "$tmp.stats"
cat "$tmp.stats" >> "$tmp"
rm -f "$tmp.stats"
mv "$tmp" results/seeds/summary.csv
cat results/seeds/summary.csv
