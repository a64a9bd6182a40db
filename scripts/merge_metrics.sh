#!/bin/sh
# merge_metrics.sh ROOT - one long CSV of every ROOT/*/metrics.csv: run,metric,value,
# where run is the run directory's name (as scripts/jobs.sh names them, the settings).
# Quoted fields are passed through as they are. Exit status 66 when ROOT has no run.
set -eu
[ $# -eq 1 ] || { echo "merge_metrics.sh: usage: merge_metrics.sh ROOT" >&2; exit 64; }
found=0
echo "run,metric,value"
for f in "$1"/*/metrics.csv; do
    [ -f "$f" ] || continue
    found=1
    run=$(basename "$(dirname "$f")")
    awk -v run="$run" 'NR > 1 { print run "," $0 }' "$f"
done
[ "$found" = 1 ] || { echo "merge_metrics.sh: no ROOT/*/metrics.csv under $1" >&2; exit 66; }
