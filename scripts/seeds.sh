#!/bin/sh
# seeds.sh SEED... - the baseline with the published settings on full MNIST, once per
# seed, into results/seeds/seed-N/, and a summary results/seeds/summary.csv
# (seed,clean_accuracy,clean_loss, including results/baseline when present) with
# mean, min and max rows. Shows how much of a
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
    set -- --mode baseline --seed "$s" --data "$d" --out "$out" --quiet $EXTRA
    echo "seeds.sh: $BIN $*" >&2
    "$BIN" "$@"
    { printf '%s\n' "$BIN $*"
      printf 'source: %s\n' "$(git describe --always --dirty 2>/dev/null || echo unknown)"
    } > "$out/COMMAND"
done
tmp=results/seeds/summary.csv.tmp-$$
{
    echo "seed,clean_accuracy,clean_loss"
    # the default-seed run of `make report` counts too, when present
    for f in results/baseline/metrics.csv results/seeds/seed-*/metrics.csv; do
        [ -f "$f" ] || continue
        awk -F, '$1 == "seed" { s = $2 } $1 == "clean_accuracy" { a = $2 } $1 == "clean_loss" { l = $2 }
            END { print s "," a "," l }' "$f"
    done | sort -t, -k1,1n -u
} > "$tmp"
awk -F, 'NR > 1 { n++; a += $2; l += $3; if (n == 1 || $2 < amin) amin = $2; if ($2 > amax) amax = $2
                  if (n == 1 || $3 < lmin) lmin = $3; if ($3 > lmax) lmax = $3 }
         END { printf "mean,%.9g,%.9g\nmin,%.9g,%.9g\nmax,%.9g,%.9g\n", a / n, l / n, amin, lmin, amax, lmax }' \
    "$tmp" >> "$tmp"
mv "$tmp" results/seeds/summary.csv
cat results/seeds/summary.csv
