#!/bin/sh
# jobs.sh - prints one mnistsec command line per configuration of a sweep, for GNU
# parallel, a Slurm job array or any other runner: every run is one process with its own
# --out directory (and so its own manifest.json), named after its settings.
#
#   sh scripts/jobs.sh [-b BIN] [-o OUTROOT] [-d DATA] MODE 'NAME=V1 V2 ...' ... [-- EXTRA...]
#
# Each NAME=VALUES argument is a flag of mnistsec without its dashes and the values to
# try; the job list is their cross product, in the order given. Arguments after -- are
# added to every command. Example: 3 seeds x 2 poison counts x 2 defences:
#
#   sh scripts/jobs.sh -o runs poisoned 'seed=1 2 3' 'poison-count=50 100' \
#       'defend=spectre strip' -- --quiet > jobs.txt
#   parallel -j 2 < jobs.txt                                    # GNU parallel
#   sbatch --array=1-$(wc -l < jobs.txt) --wrap 'sh -c "$(sed -n ${SLURM_ARRAY_TASK_ID}p jobs.txt)"'
#   sh scripts/merge_metrics.sh runs > all_metrics.csv          # one long table
#
# Exit status: 0, or 64 for a malformed argument (one message on stderr).
set -eu
BIN=./mnistsec
OUT=runs
DATA=
while [ $# -gt 0 ]; do
    case $1 in
    -b) BIN=$2; shift 2 ;;
    -o) OUT=$2; shift 2 ;;
    -d) DATA=$2; shift 2 ;;
    -*) echo "jobs.sh: unknown option $1" >&2; exit 64 ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "jobs.sh: usage: jobs.sh [-b BIN] [-o OUTROOT] [-d DATA] MODE 'NAME=V...' ... [-- EXTRA...]" >&2; exit 64; }
mode=$1
shift
case $mode in
baseline | poisoned | adv_only | adv_training) ;;
*) echo "jobs.sh: mode '$mode' is not one of baseline, poisoned, adv_only, adv_training" >&2; exit 64 ;;
esac
# the axes, one per line: NAME<TAB>V1 V2 ...
axes=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    case $1 in
    *=*) ;;
    *) echo "jobs.sh: '$1' is not NAME=VALUES" >&2; exit 64 ;;
    esac
    name=${1%%=*}
    vals=${1#*=}
    case $name in
    '' | *[!a-z0-9-]*) echo "jobs.sh: '$name' is not a flag name (letters, digits, dashes)" >&2; exit 64 ;;
    esac
    case $vals in
    *[!A-Za-z0-9.,_\ -]* | '') echo "jobs.sh: values of $name must be plain words (got '$vals')" >&2; exit 64 ;;
    esac
    axes="$axes$name	$vals
"
    shift
done
[ $# -gt 0 ] && shift # the --
extra="$*"
# the cross product, by awk: one line per job, flags in axis order
printf '%s' "$axes" | awk -F'\t' -v bin="$BIN" -v out="$OUT" -v mode="$mode" \
    -v data="$DATA" -v extra="$extra" '
    { name[NR] = $1; n[NR] = split($2, v, " "); for (i = 1; i <= n[NR]; i++) val[NR, i] = v[i] }
    END {
        k = NR
        for (i = 1; i <= k; i++) idx[i] = 1
        while (1) {
            flags = ""; dir = mode
            for (i = 1; i <= k; i++) {
                flags = flags " --" name[i] " " val[i, idx[i]]
                dir = dir "_" name[i] "-" val[i, idx[i]]
            }
            gsub(/,/, "+", dir)
            line = bin " --mode " mode flags
            if (data != "") line = line " --data " data
            line = line " --out " out "/" dir
            if (extra != "") line = line " " extra
            print line
            for (i = k; i >= 1; i--) { if (++idx[i] <= n[i]) break; idx[i] = 1 }
            if (i < 1) break
        }
    }'
