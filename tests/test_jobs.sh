#!/bin/sh
# test_jobs.sh - scripts/jobs.sh makes the cross product of a sweep as one command line
# per run (each with its own --out), the lines run as they are, and
# scripts/merge_metrics.sh joins their metrics.csv files into one long table.
# Usage: sh tests/test_jobs.sh [BUILD]
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
. tests/tinydata.sh
BUILD=${1:-build}
BIN=$BUILD/mnistsec
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
tiny_dataset "$T/data" 200 40

sh scripts/jobs.sh -b "$BIN" -o "$T/runs" -d "$T/data" baseline 'seed=1 2 3' \
    'batch-size=16 32' -- --epochs 1 --quiet >"$T/jobs.txt"
check "jobs: 3 seeds x 2 batch sizes = 6 lines" [ "$(grep -c '' "$T/jobs.txt")" -eq 6 ]
check "jobs: every line has its own --out" \
    [ "$(awk '{ for (i = 1; i < NF; i++) if ($i == "--out") print $(i + 1) }' "$T/jobs.txt" | sort -u | grep -c '')" -eq 6 ]
check "jobs: the last axis varies fastest" \
    sh -c "sed -n 2p '$T/jobs.txt' | grep -q -- '--seed 1 --batch-size 32'"
check "jobs: extra flags on every line" [ "$(grep -c -- '--epochs 1 --quiet$' "$T/jobs.txt")" -eq 6 ]
sh scripts/jobs.sh nomode 'seed=1' >/dev/null 2>"$T/err"
check "jobs: an unknown mode is exit 64" [ $? -eq 64 ]
sh scripts/jobs.sh baseline 'seed=1;rm -rf x' >/dev/null 2>"$T/err"
rc=$?
check "jobs: shell metacharacters in values are refused (exit 64)" [ $rc -eq 64 ]
check "jobs: the message names the flag" grep -q "values of seed" "$T/err"

# the lines run as they are (what GNU parallel or a Slurm array task does with them)
rc=0
while IFS= read -r line; do
    sh -c "$line" 2>>"$T/run.err" || rc=1
done <"$T/jobs.txt"
check "jobs: all six runs succeed" [ $rc -eq 0 ]
check "jobs: each run wrote its manifest" [ "$(ls "$T"/runs/*/manifest.json | grep -c '')" -eq 6 ]
seed=$(metric "$T/runs/baseline_seed-2_batch-size-32/metrics.csv" seed)
check "jobs: the run directory holds the run its name says (seed 2)" [ "$seed" = 2 ]

sh scripts/merge_metrics.sh "$T/runs" >"$T/all.csv"
check "merge: header run,metric,value" [ "$(head -n 1 "$T/all.csv")" = "run,metric,value" ]
rows=0
for f in "$T"/runs/*/metrics.csv; do rows=$((rows + $(grep -c '' "$f") - 1)); done
check "merge: every metric row of every run, once" [ "$(($(grep -c '' "$T/all.csv") - 1))" -eq "$rows" ]
check "merge: rows carry their run's name" \
    grep -q '^baseline_seed-3_batch-size-16,batch_size,16$' "$T/all.csv"
mkdir -p "$T/empty"
sh scripts/merge_metrics.sh "$T/empty" >/dev/null 2>&1
check "merge: a root without runs is exit 66" [ $? -eq 66 ]
finish
