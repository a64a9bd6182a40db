#!/bin/sh
# test_report.sh - the report writer (scripts/report.sh write, scripts/report_html.sh)
# and its rank test (scripts/rank_test.awk).
#
# The Mann-Whitney test is checked on a textbook example with known answers, exact and
# normal-approximated, and on tied data worked by hand. The writer runs on a small fake
# results tree in a temporary directory: REPORT.md must carry no speed ratio against
# the published timing, conclusions computed from the data that change when the data
# do, every picture it links must exist, and REPORT.html must be well-formed XML with
# only inline SVG tags unknown to `xmllint --html` (a skip when xmllint is missing).
# Needs no MNIST and no build.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RT=$ROOT/scripts/rank_test.awk
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# ---- rank test ------------------------------------------------------------------------

# field N of the rank test's CSV line for samples A and B (extra awk args after)
rt() { a=$1; b=$2; n=$3; shift 3; awk -v a="$a" -v b="$b" "$@" -f "$RT" | cut -d, -f"$n"; }
near() { awk -v x="$1" -v y="$2" -v t="$3" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(x != "" && d <= t) }'; }

# Textbook example (ages at diagnosis, 5 men and 4 women; used in SciPy's
# mannwhitneyu documentation): U = 17, exact two-sided p = 14/126 = 0.1111, normal
# approximation with continuity correction p = 0.11134688653314041.
M="19 22 16 29 24"; W="20 11 17 12"
check "rank test: U of the textbook example is 17" [ "$(rt "$M" "$W" 1)" = 17 ]
check "rank test: U of the other sample is 3" [ "$(rt "$M" "$W" 2)" = 3 ]
check "rank test: small samples use the exact distribution" [ "$(rt "$M" "$W" 4)" = exact ]
check "rank test: exact p = 14/126" near "$(rt "$M" "$W" 3)" 0.111111111 1e-8
check "rank test: normal approximation p = 0.1113469 (continuity corrected)" \
    near "$(rt "$M" "$W" 3 -v exact_limit=0)" 0.11134688653314041 1e-6
check "rank test: the samples swapped give the same p" near "$(rt "$W" "$M" 3)" 0.111111111 1e-8
check "rank test: smallest possible p with 5 and 4 values = 2/126" near "$(rt "$M" "$W" 7)" 0.015873016 1e-8
# Complete separation of 4 and 3 values: U = 0, p = 2 / C(7,3) = 2/35.
check "rank test: separated samples, U = 0" [ "$(rt "0.11 0.08 0.15 0.112" "0.17 0.19 0.36" 1)" = 0 ]
check "rank test: separated samples, exact p = 2/35" near "$(rt "0.11 0.08 0.15 0.112" "0.17,0.19,0.36" 3)" 0.0571428571 1e-9
# Ties, by hand: pooled 1 2 2 2 3 3 4, midranks 1 3 3 3 5.5 5.5 7; a = 1 2 2 3 has rank
# sum 12.5, U = 2.5. Exact: 10 of the 35 splits are as far from 6 as 2.5 is; normal:
# sigma^2 = 12/12 (8 - 30/42), z = (3.5 - 0.5) / sigma = 1.11144, p = 0.26638.
check "rank test: ties count half (U = 2.5)" [ "$(rt "1 2 2 3" "2 3 4" 1)" = 2.5 ]
check "rank test: ties, exact p = 10/35" near "$(rt "1 2 2 3" "2 3 4" 3)" 0.285714286 1e-8
check "rank test: ties, normal p with the tie-corrected variance" near "$(rt "1 2 2 3" "2 3 4" 3 -v exact_limit=0)" 0.26638 2e-5
check "rank test: identical samples, p = 1" near "$(rt "5 5" "5 5" 3)" 1 1e-12
awk -v a="" -v b="1 2" -f "$RT" 2>/dev/null
check "rank test: an empty sample exits 2" [ $? -eq 2 ]
awk -v a="1 x" -v b="1 2" -f "$RT" 2>/dev/null
check "rank test: a non-number exits 2" [ $? -eq 2 ]

# ---- a fake results tree ------------------------------------------------------------

R=$T/results
mkdir -p "$R/baseline" "$R/poisoned" "$R/adv_only" "$R/adv_training" "$R/seeds" \
    "$R/robustness/fgsm_trained_pgd" "$R/robustness/fgsm_trained_all" "$R/robust_pgd"
metrics() { # metrics DIR KEY VALUE...
    d=$1; shift
    { echo "metric,value"; while [ $# -ge 2 ]; do echo "$1,$2"; shift 2; done; } > "$d/metrics.csv"
}
metrics "$R/baseline" seed 7 clean_accuracy 0.9884 clean_loss 0.0422 inference_ms_per_image 0.2 \
    inference_images_per_second 7000 train_seconds 100
metrics "$R/poisoned" train_images 60000 poisoned_train_count 100 published_protocol_accuracy 0.9769 \
    clean_accuracy 0.9868 triggered_source_images 1028 attack_success_rate 1 source_clean_accuracy 0.98 \
    triggered_nonsource_accuracy 0.75 triggered_other_to_target_rate 0.27
metrics "$R/adv_only" clean_accuracy 0.9884 epsilon 0.3 attack_images 10000 adv_accuracy 0.1126 \
    published_subset_adv_accuracy 0.1203 mean_linf 0.3 mean_l2 6.27 attack_images_per_second 4000
metrics "$R/adv_training" test_images 10000 before_clean_accuracy 0.9884 before_adv_accuracy 0.1126 \
    after_clean_accuracy 0.9902 after_adv_accuracy 0.8743
{ echo "true,pred_0,pred_1,pred_2,pred_3,pred_4,pred_5,pred_6,pred_7,pred_8,pred_9"
  for i in 0 1 2 3 4 5 6 7 8 9; do
      printf '%d' "$i"; for j in 0 1 2 3 4 5 6 7 8 9; do printf ',%d' "$(( i == j ? 900 : (j == 1 ? 50 : 0) ))"; done; echo
  done; } > "$R/poisoned/confusion_triggered.csv"
cat > "$R/baseline/manifest.json" <<'EOF'
{
  "program": "mnistsec",
  "command": ["./mnistsec", "--mode", "baseline"],
  "started": "2026-01-01T00:00:00Z",
  "wall_seconds": 5225.5,
  "threads": 2,
  "build": {
    "compiler": "12.2.0",
    "cflags": "-O3 -march=native",
    "isa": "avx512",
    "revision": "abc1234"
  },
  "machine": {
    "cpu": "Test CPU 9000",
    "cores": 2
  },
  "settings": {
    "seed": 7,
    "load": ""
  }
}
EOF
printf '%s\n' "./mnistsec --mode baseline --out results/baseline --fake-command-marker" "source: abc1234" \
    > "$R/baseline/COMMAND"
# the published FGSM-trained model under FGSM and PGD, and under a sweep
P=$R/robustness/fgsm_trained_pgd
metrics "$P" clean_accuracy 0.9902 epsilon 0.3 robust_images 10000 pgd_steps 40
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0.3,fgsm,0.8743,0.3,6,1" \
    "0.3,pgd,0.0001,0.3,4,1" "0.3,all,0.0001,0.3,6,2" > "$P/robustness.csv"
printf '%s\n' "check,status,detail" "pgd_not_weaker_than_fgsm,PASS,ok" \
    'fgsm_not_overstating,WARN,"FGSM overstates robustness: eps 0.3: FGSM 0.8743, PGD 0.0001"' > "$P/checks.csv"
printf '{\n  "settings": {\n    "load": "results/adv_training/model.ckpt"\n  }\n}\n' > "$P/manifest.json"
printf 'png' > "$P/examples.png"
A=$R/robustness/fgsm_trained_all
metrics "$A" clean_accuracy 0.99 epsilon 0.3 robust_images 1000 pgd_steps 40
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0,fgsm,0.987,0,0,1" "0,pgd,0.987,0,0,1" \
    "0,square,0.987,0,0,1" "0,all,0.987,0,0,1" "0.3,fgsm,0.848,0.3,6,1" "0.3,pgd,0,0.3,4,1" \
    "0.3,square,0.001,0.3,6,1" "0.3,all,0,0.3,6,1" > "$A/robustness.csv"
cp "$P/manifest.json" "$A/manifest.json"
svg() { # svg FILE TITLE: a small picture with a clip path whose id every picture shares
    printf '%s\n' '<?xml version="1.0" encoding="UTF-8"?>' \
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="200.00" height="100.00" viewBox="0 0 200 100">' \
        '<defs><clipPath id="plot"><rect x="0" y="0" width="200" height="100"/></clipPath></defs>' \
        "<g clip-path=\"url(#plot)\"><rect x=\"10\" y=\"10\" width=\"50\" height=\"50\" fill=\"#336699\"><title>$2 &amp; more</title></rect></g>" \
        "<text x=\"100\" y=\"90\">$2</text>" '</svg>' > "$1"
}
svg "$A/robustness.svg" "sweep"
G=$R/robust_pgd
metrics "$G" adv_method pgd adv_steps 7 adv_from scratch adv_epochs 8 adv_eps 0.3 val_count 1000 best_epoch 6 \
    best_val_pgd_accuracy 0.961 robust_images 10000 epsilon 0.3 pgd_steps 40 after_clean_accuracy 0.9886 \
    after_fgsm_accuracy 0.9613 after_pgd_accuracy 0.9489 after_robust_accuracy 0.9474
printf '%s\n' "check,status,detail" 'attack_converged,FAIL,"first 500 images, eps 0.3: PGD 0.9400, twice the steps 0.9300"' \
    > "$G/checks.csv"
printf '%s\n' "epoch,epsilon,lr,train_loss,train_seconds,val_clean_accuracy,val_pgd_accuracy" \
    "1,0.15,0.0004,0.58,573,0.983,0.007" > "$G/training_log.csv"
printf '%s\n' "./mnistsec --mode adv_training --adv-method pgd" "source: abc1234" \
    "checks.csv: the FAIL is understood." > "$G/COMMAND"
svg "$G/training_accuracy.svg" "curve"
svg "$G/confusion_adv.svg" "heat"
# bench.csv with the columns PyTorch's figures are copied into; columns read by name
printf '%s\n' "workload,threads,batch,images_per_s,ms_per_call,gflops,images_per_s_min,images_per_s_max,torch_images_per_s,ratio,revision" \
    "latency,1,1,3700,0.27,100,3600,3800,970,3.8,abc1234" "train,1,64,1700,37,160,1600,1800,590,2.9,abc1234" \
    "pgd40_attack,1,100,50,2000,100,45,55,,,abc1234" > "$R/bench.csv"
printf '%s\n' "workload,threads,batch,images_per_s,ms_per_call,gflops,images_per_s_min,images_per_s_max,revision" \
    "latency,1,1,970,1.03,30,940,990,def5678" "train,1,64,590,108,57,570,610,def5678" > "$R/bench_torch.csv"
# shellcheck disable=SC2086
seeds() { # seeds "CLEAN FGSM" ...: results/seeds/summary.csv, seeds 1, 2, ...
    { echo "seed,clean_accuracy,clean_loss,fgsm_accuracy"; i=0
      for p in "$@"; do i=$((i + 1)); set -- $p; echo "$i,$1,0.04,$2"; done; } > "$R/seeds/summary.csv"
}
# shellcheck disable=SC2086
torch() { # torch "CLEAN FGSM" ...: results/torch_reference.csv, seeds 0, 1, ...
    { echo "seed,clean_accuracy,clean_loss,fgsm_accuracy,fgsm_accuracy_first640,train_seconds"; i=0
      for p in "$@"; do set -- $p; echo "$i,$1,0.04,$2,$2,500"; i=$((i + 1)); done; } > "$R/torch_reference.csv"
}
seeds "0.9865 0.1189" "0.9885 0.0825" "0.9906 0.1512" "0.9884 0.1126"
torch "0.9891 0.1698" "0.9897 0.1983" "0.9872 0.3679"

write() { RESULTS=$R sh "$ROOT/scripts/report.sh" write 2>"$T/err"; }
ls -a "$ROOT" > "$T/root.before"
write
check "report.sh write exits 0 on the fake tree" [ $? -eq 0 ]
ls -a "$ROOT" > "$T/root.after"
check "report.sh write leaves no file outside the results directory" cmp -s "$T/root.before" "$T/root.after"
[ -s "$T/err" ] && sed 's/^/  /' "$T/err" | grep -v 'report.sh: wrote' >&2
MD=$R/REPORT.md
HT=$R/REPORT.html
check "REPORT.md written" [ -s "$MD" ]
check "REPORT.html written" [ -s "$HT" ]
has() { grep -qF -- "$2" "$1"; }
hasnt() { ! grep -qF -- "$2" "$1"; }

# no ratio against the published timing
check "no 35x in REPORT.md" hasnt "$MD" "35x"
check "no 'x faster' in REPORT.md" hasnt "$MD" "x faster"
check "the inference row gives the corrected 0.38 ms/image, no ratio" \
    sh -c "grep '^| inference time, batch 1 |' '$MD' | grep -q '0.38 ms/image.*other hardware: not compared'"
check "same-machine ratios come from bench.csv (3700 / 970 = 3.81x), latency has no target" has "$MD" "| latency | 1 | 1 | 3700 (3600-3800) | 970 (940-990) | 3.81x |  |  |"
check "a workload PyTorch did not run" has "$MD" "| pgd40_attack | 1 | 100 | 50 (45-55) | not run | | ≥ 4x | not measured |"
check "speed: computed range of ratios" has "$MD" "Over the 2 workloads measured by both, mnistsec runs 2.88x (train, 1 thread, batch 64) to 3.81x (latency, 1 thread, batch 1) as many images per second as PyTorch. In every workload mnistsec's slowest call beats PyTorch's fastest."
check "speed: the revisions measured" has "$MD" "Source revision of the measurements: mnistsec abc1234; PyTorch script def5678."
check "speed: training 2.88x against the 2.5-3x target" has "$MD" "| train | 1 | 64 | 1700 (1600-1800) | 590 (570-610) | 2.88x | 2.5–3x | yes |"
check "speed: target sentence for training" has "$MD" "- training step (\`train\`), target 2.5–3x: 2.88x with 1 thread, batch 64: met in the one row measured by both."
check "speed: PGD-40 measured without PyTorch" has "$MD" "- PGD-40 attack (\`pgd40_attack\`), target ≥ 4x: mnistsec measured, PyTorch not (no PyTorch figure with 1 thread, batch 100): no ratio."
check "speed: PGD-7 training not in bench.csv: not yet measured, with the command" has "$MD" "- PGD-7 adversarial training (\`pgd7_advtrain\`), target ≥ 3x: not yet measured (command: \`MNIST_DIR=../shared/data/mnist make bench\`)."

# computed conclusions, first data set
cp "$MD" "$T/first.md"
check "spread: FGSM varies much more than clean (ratio 16.8)" has "$MD" "FGSM accuracy varies much more than clean accuracy from seed to seed (range ratio 16.8)"
check "FGSM ranges: do not overlap" has "$MD" "- FGSM accuracy: mnistsec 8.25%-15.12% (4 seeds), PyTorch 16.98%-36.79% (3 seeds); the ranges do not overlap: every PyTorch seed is above every mnistsec seed."
check "FGSM rank test: U = 0, exact p = 0.057, the smallest possible" has "$MD" "Mann-Whitney U = 0 (mnistsec) of 12 pairs, exact two-sided p = 0.057: not significant at the 5% level, and with 4 and 3 seeds no outcome could be"
check "clean ranges: overlap" has "$MD" "- Clean accuracy: mnistsec 98.65%-99.06% (4 seeds), PyTorch 98.72%-98.97% (3 seeds); the ranges overlap (98.72%-98.97%)."
check "clean rank test: U = 5, p = 0.857" has "$MD" "Mann-Whitney U = 5 (mnistsec) of 12 pairs, exact two-sided p = 0.857"
check "the float32 finding, marked as not read from results/" has "$MD" "**Not read from results/:**"
check "the float32 finding's figures" has "$MD" "FGSM leaves 25.0% of the images"
check "FGSM-trained: 87.43% under FGSM, 0.01% under PGD-40 (1 of 10000)" \
    has "$MD" "keeps 87.43% under FGSM but 0.01% under PGD-40 at epsilon 0.3 (1 of 10000 images). FGSM overstates its robustness by 87.42 pp."
check "robust_pgd: the convergence FAIL makes PGD-40 an upper bound" has "$MD" "so 94.89% is an upper bound"
check "robust_pgd: the note on its checks from COMMAND" has "$MD" "Note on these checks (from results/robust_pgd/COMMAND): the FAIL is understood."
check "methods table: the PGD row, no every-attack run yet: PGD bounds the worst case" \
    has "$MD" "| pgd (Madry et al. 2018) | robust_pgd | 8 from scratch | n/a | 98.86% | 96.13% | 94.89% (PGD-40, 10000) | ≤ 94.89% (no every-attack run; PGD alone bounds it) |"
check "methods table: TRADES not yet run" has "$MD" "| trades (Zhang et al. 2019), beta 6 | robust_trades: not yet run | | | | | | |"
check "methods table: TRADES beta 2 not yet run" has "$MD" "| trades, beta 2 | robust_trades_beta2: not yet run | | | | | | |"
check "TRADES beta 2: not yet run, with its command" has "$MD" "--trades-beta 2 --adv-steps 7 --adv-epochs 7 --adv-lr 0.001 --lr-schedule onecycle --adv-eps-ramp 2 --val-count 1000 --attack fgsm --out results/robust_trades_beta2"
check "TRADES beta 2: every attack not yet run, with its command" has "$MD" "--load results/robust_trades_beta2/model.ckpt --attack all"
check "square attack below FGSM: gradient masking named" has "$MD" "gradient masking against FGSM"
check "defence: not yet run, with the command" has "$MD" "Not yet run: results/defended/ does not exist (command: \`./mnistsec --mode poisoned"
check "poison sweep: not yet run, with the command" has "$MD" "Not yet run (command: \`./mnistsec --mode poisoned --poison-sweep 25,100,500"
check "robust_pgd_all: not yet run, with the command" has "$MD" "Not yet run (command: \`./mnistsec --mode adv_only --load results/robust_pgd/model.ckpt --attack all"
check "collapse: not yet run, with the command" has "$MD" "Not yet run (command: \`./mnistsec --mode adv_training --adv-from scratch --adv-method fgsm-rs"
check "baseline_all: not yet run, with the command" has "$MD" "- results/robustness/baseline_all/ (published baseline, every attack at epsilon 0 to 0.3, first 1000 test images): not yet run (command: \`sh scripts/robustness.sh baseline_all\`)."
check "fgsm_trained_all present: no not-yet-run line for it" hasnt "$MD" "results/robustness/fgsm_trained_all/ (published"
check "float32: the cross-check command when results/torch_crosscheck/ is absent" has "$MD" "(command: \`LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 scripts/torch_crosscheck.py ../shared/data/mnist results/torch_crosscheck 10000 --load results/baseline/model.ckpt\`"
check "runs: the COMMAND file is listed" has "$MD" "--fake-command-marker"
check "runs: the manifest's machine is listed" has "$MD" "- cpu Test CPU 9000; cores 2 (baseline)"
check "runs: wall time 5225.5 s as 1 h 27 min" has "$MD" "5226 s (1 h 27 min)"
check "the triggered confusion table" has "$MD" "| **7** | 0 | 50 | 0 | 0 | 0 | 0 | 0 | 900 | 0 | 0 |"

# html_checks WHEN: every picture REPORT.md links exists, relative to results/, and
# REPORT.html is self-contained and well-formed; WHEN names the data set
html_checks() {
    when=$1
    links=$(grep -o '!\[[^]]*\]([^)]*)' "$MD" | sed 's/.*(\(.*\))/\1/')
    bad=""
    for p in $links; do case $p in /*|*://*) bad="$bad $p" ;; *) [ -f "$R/$p" ] || bad="$bad $p" ;; esac; done
    check "$when: REPORT.md's pictures are relative links to existing files ($(echo "$links" | wc -l) of them)" [ -z "$bad" ]
    check "$when: REPORT.md embeds the robust_pgd curve" has "$MD" "](robust_pgd/training_accuracy.svg)"

    # HTML
    nsvg=$(grep -c '^<svg ' "$HT")
    check "$when: REPORT.html: every linked SVG inline ($nsvg)" [ "$nsvg" -eq "$(echo "$links" | grep -c '\.svg$')" ]
    check "$when: REPORT.html: no XML declaration inside" [ "$(grep -c '^<?xml' "$HT")" -eq 0 ]
    check "$when: REPORT.html: each picture's ids prefixed apart" sh -c "grep -q 'id=\"f1-plot\"' '$HT' && grep -q 'url(#f2-plot)' '$HT' && ! grep -q 'id=\"plot\"' '$HT'"
    check "$when: REPORT.html: no scripts" hasnt "$HT" "<script"
    check "$when: REPORT.html: no external links, fonts or images" sh -c "! grep -Eo '(href|src)=\"[a-z]+:[^\"]*\"|url\\((https?:|//)|@import' '$HT' | grep -q ."
    check "$when: REPORT.html: the PNG stays a relative file" has "$HT" 'src="robustness/fgsm_trained_pgd/examples.png"'
    check "$when: REPORT.html: heat-map table shaded" has "$HT" '<table class="heatmap">'
    anchors_resolve() { # every (#anchor) link of REPORT.md is an id of REPORT.html
        for a in $(grep -o '](#[^)]*)' "$MD" | sed 's/^](#//; s/)$//' | sort -u); do
            grep -q "id=\"$a\"" "$HT" || { echo "  no id $a" >&2; return 1; }
        done
    }
    check "$when: REPORT.html: section anchors for REPORT.md's links" anchors_resolve
    if command -v xmllint >/dev/null 2>&1; then
        xmllint --noout "$HT" 2>"$T/xml"
        rc=$?
        [ -s "$T/xml" ] && { head -n 5 "$T/xml" >&2; rc="$rc, with messages"; }
        check "$when: REPORT.html is well-formed XML (xmllint --noout, exit $rc)" [ "$rc" = 0 ]
        # libxml2's HTML parser knows HTML 4 only: inline SVG elements are "invalid tags"
        # to it; anything else it reports is a real error.
        xmllint --html --noout "$HT" 2>"$T/html"
        rc=$?
        other=$(grep 'error :' "$T/html" | grep -Ev 'error : Tag (svg|g|defs|clippath|rect|line|polyline|path|circle|text|lineargradient|stop|title) invalid$')
        [ -z "$other" ] || rc="$rc, with other errors"
        check "$when: REPORT.html passes xmllint --html --noout (exit $rc; only inline SVG tags unknown to it)" \
            [ "$rc" = 0 ]
        [ -z "$other" ] || echo "$other" | head -n 5 >&2
    else
        skip "$when: REPORT.html under xmllint" "xmllint is not installed (apt-get install libxml2-utils)"
    fi
}
html_checks "first data set"

# ---- the conclusions follow the data --------------------------------------------------

# PyTorch's FGSM seeds now inside mnistsec's range, clean accuracy spread wider than FGSM's
seeds "0.9800 0.1189" "0.9900 0.0825" "0.9950 0.1512" "0.9700 0.1126"
torch "0.9891 0.0900" "0.9897 0.1000" "0.9872 0.1400"
write
check "report.sh write exits 0 on changed data" [ $? -eq 0 ]
check "the conclusions changed with the data" sh -c "! cmp -s '$T/first.md' '$MD'"
check "FGSM ranges: now overlap" has "$MD" "- FGSM accuracy: mnistsec 8.25%-15.12% (4 seeds), PyTorch 9.00%-14.00% (3 seeds); the ranges overlap (9.00%-14.00%)."
check "FGSM rank test: U and p recomputed (U = 7, p = 0.857)" has "$MD" "Mann-Whitney U = 7 (mnistsec) of 12 pairs, exact two-sided p = 0.857"
check "spread: FGSM now varies more, not much more, than clean (ratio 2.7)" has "$MD" "FGSM accuracy varies more than clean accuracy from seed to seed (range ratio 2.7)"
check "the old sentence is gone" hasnt "$MD" "every PyTorch seed is above every mnistsec seed"

# many seeds: the normal approximation; a clear difference is significant
seeds "0.98 0.10" "0.98 0.11" "0.98 0.12" "0.98 0.13" "0.98 0.14" "0.98 0.15" "0.98 0.16" "0.98 0.17" \
    "0.98 0.18" "0.98 0.19" "0.98 0.20" "0.98 0.21"
torch "0.99 0.30" "0.99 0.31" "0.99 0.32" "0.99 0.33" "0.99 0.34" "0.99 0.35" "0.99 0.36" "0.99 0.37" \
    "0.99 0.38" "0.99 0.39" "0.99 0.40" "0.99 0.41"
write
check "12 and 12 seeds: normal approximation, a difference at the 5% level" \
    has "$MD" "Mann-Whitney U = 0 (mnistsec) of 144 pairs, normal two-sided p < 0.001: a difference at the 5% level."
check "equal clean accuracies within each program: no spread to compare" has "$MD" "Clean accuracy does not vary at all"
check "no float64 row without the fgsm_accuracy_f64 column" hasnt "$MD" "PyTorch's cross-entropy in float64 as mnistsec's"

# PyTorch scored both ways: the float64 column gets its own comparison
# shellcheck disable=SC2086
{ echo "seed,clean_accuracy,clean_loss,fgsm_accuracy,fgsm_accuracy_f64,fgsm_accuracy_first640,train_seconds,revision"
  i=0; for f in 0.10 0.12 0.14 0.16 0.18 0.20 0.22 0.24 0.26 0.28 0.30 0.32; do
      echo "$i,0.99,0.04,0.4$i,$f,0.4,500,abc1234"; i=$((i + 1)); done; } > "$R/torch_reference.csv"
write
check "float64 comparison: ranges overlap (12 vs 12 seeds)" \
    has "$MD" "- FGSM accuracy, PyTorch's cross-entropy in float64 as mnistsec's: mnistsec 10.00%-21.00% (12 seeds), PyTorch 10.00%-32.00% (12 seeds); the ranges overlap (10.00%-21.00%)."
check "float32 comparison still there, from fgsm_accuracy" \
    has "$MD" "- FGSM accuracy: mnistsec 10.00%-21.00% (12 seeds), PyTorch 40.00%-49.00% (12 seeds)"

# the defence and the float32 figures fill in from their files
mkdir -p "$R/defended" "$R/torch_crosscheck"
metrics "$R/defended" before_clean_accuracy 0.9868 before_attack_success_rate 1 spectral_recall 0.97 \
    spectral_precision 0.43 spectral_removed_images 225 spectral_after_clean_accuracy 0.9871 \
    spectral_after_attack_success_rate 0.002 strip_true_positive_rate 0.9 strip_false_positive_rate 0.05 \
    strip_target_fpr 0.05
printf '%s\n' "method,class,flagged,true_positives,false_positives,recall,precision" "spectral,all,225,97,128,0.97,0.43" \
    > "$R/defended/detection.csv"
printf '%s\n' metric,value adv_accuracy,0.1234 adv_accuracy_float32,0.333 p_true_is_one_share,0.21 test_images,10000 \
    > "$R/torch_crosscheck/expected.csv"
write
check "report.sh write exits 0 with defended/ and torch_crosscheck/" [ $? -eq 0 ]
check "defence: the detector's row" has "$MD" "| spectral | 97.00% | 43.00% | 225 | 98.71% | 0.20% |"
check "defence: the computed sentence" has "$MD" "- spectral: attack success 100.00% -> 0.20% (99.80 pp lower), clean accuracy +0.03 pp."
check "defence: no longer 'not yet run'" hasnt "$MD" "results/defended/ does not exist"
check "float32 figures read from results/torch_crosscheck/expected.csv" has "$MD" "FGSM leaves 33.3% of the images"
check "float32: the share of probability-1.0 images from the file" has "$MD" "In float32, 21% of these images"
check "float32: the image count from the file" has "$MD" "identical weights (the first 10000 test images)"
check "float32: the not-read-from-results marker is gone" hasnt "$MD" "Not read from results/"

# SPECTRE's label test: a fixture where label 4 stands out and the goals are half met
check "label test: not yet run, with the command" has "$MD" "--label-anomaly 2 --out results/defended_label"
L=$R/defended_label
mkdir -p "$L"
metrics "$L" before_clean_accuracy 0.98 before_attack_success_rate 1 spectre_recall 0.9 spectre_precision 0.5 \
    removed_images 180 after_clean_accuracy 0.985 after_attack_success_rate 0.01
printf '%s\n' "method,class,flagged,true_positives,false_positives,recall,precision,spread,anomaly_index" \
    "spectre,0,0,0,0,1,1,1.2,-0.5" "spectre,4,180,90,90,0.9,0.5,9.5,40.25" "spectre,7,0,0,0,1,1,1.6,2.5" \
    "spectre,all,180,90,90,0.9,0.5,," > "$L/detection.csv"
printf '%s\n' "./mnistsec --mode poisoned --defend spectre --label-anomaly 3" "source: abc1234" > "$L/COMMAND"
write
check "label test: the per-label row, columns in place" has "$MD" "| 4 | 9.500 | 40.2 | 180 | 90 | 90 |"
check "label test: the most and next outlying labels" has "$MD" "The most outlying label is 4 (anomaly index 40.2); the next is 7 (2.5)."
check "label test: the command from COMMAND" has "$MD" "(\`./mnistsec --mode poisoned --defend spectre --label-anomaly 3\`)"
check "label test: recall goal not met" has "$MD" "- recall ≥ 95%: 90.00%, **not met**;"
check "label test: attack-success goal met" has "$MD" "- attack success after retraining ≤ 2%: 1.00%, met;"
check "label test: clean-accuracy goal not met" has "$MD" "- clean accuracy after retraining ≥ 98.6%: 98.50%, **not met**."

# ---- the new blocks, present -----------------------------------------------------------

# robust_pgd_all: the PGD-trained model under every attack at eps 0.3 on 10000 images
RA=$R/robust_pgd_all
mkdir -p "$RA"
metrics "$RA" clean_accuracy 0.9886 test_images 10000 epsilon 0.3 robust_images 10000 pgd_steps 40
# made elsewhere and copied in: the manifest has the paths of that run, COMMAND the
# repository's, and the report names the model and the surrogate from COMMAND
printf '{\n  "settings": {\n    "load": "/tmp/elsewhere/model.ckpt",\n    "surrogate": "/tmp/elsewhere/base.ckpt"\n  }\n}\n' \
    > "$RA/manifest.json"
printf '%s\n' "./mnistsec --mode adv_only --load results/robust_pgd/model.ckpt --attack all --surrogate results/baseline/model.ckpt --out results/robust_pgd_all" \
    "source: abc1234" > "$RA/COMMAND"
allrows() { # allrows FGSM PGD APGD-CE APGD-T SQUARE TRANSFER ALL: robust_pgd_all/robustness.csv at eps 0.3
    { echo "epsilon,attack,accuracy,mean_linf,mean_l2,seconds"
      echo "0.3,fgsm,$1,0.3,6,10"; echo "0.3,pgd,$2,0.3,5,400"; echo "0.3,apgd-ce,$3,0.3,6,900"
      echo "0.3,apgd-t,$4,0.3,6,2000"; echo "0.3,square,$5,0.3,6,3000"; echo "0.3,transfer,$6,0.3,5,400"
      echo "0.3,all,$7,0.3,6,6710"; } > "$RA/robustness.csv"
}
allrows 0.9613 0.9489 0.9350 0.9320 0.9500 0.9800 0.9301
printf '%s\n' "check,status,detail" 'attack_converged,FAIL,"first 500 images, eps 0.3: PGD 0.9400, twice the steps 0.9300"' \
    "no_gradient_masking,PASS,ok" "eps_zero_is_clean,SKIP,needs eps 0 in the sweep" > "$RA/checks.csv"
# catastrophic overfitting
C=$R/collapse_fgsm_rs
mkdir -p "$C"
metrics "$C" adv_method fgsm-rs adv_from scratch adv_epochs 3 adv_eps 0.3 val_count 1000 best_epoch 1 \
    best_val_pgd_accuracy 0 collapse_epoch 1 after_clean_accuracy 0.9474 after_fgsm_accuracy 0.9747 \
    after_pgd_accuracy 0 robust_images 10000 pgd_steps 40 epsilon 0.3
printf '%s\n' "epoch,epsilon,lr,train_loss,train_seconds,val_clean_accuracy,val_pgd_accuracy,val_fgsm_accuracy" \
    "1,0.3,0.001,0.68,154,0.945,0,0.937" "2,0.3,0.001,0.17,160,0.895,0,0.893" "3,0.3,0.001,0.12,193,0.978,0.001,0.977" \
    > "$C/training_log.csv"
printf '%s\n' "check,status,detail" \
    'no_catastrophic_overfitting,WARN,"catastrophic overfitting: at epoch 1 the held-out images resist FGSM (0.9370) but not PGD-20 (0.0000)"' \
    > "$C/checks.csv"
printf '%s\n' "./mnistsec --mode adv_training --adv-method fgsm-rs --fake-collapse-marker" "source: abc1234" > "$C/COMMAND"
svg "$C/training_accuracy.svg" "collapse"
# the poison sweep: COUNT,METHOD,ASR_BEFORE,CLEAN_BEFORE,FLAGGED,RECALL,PRECISION,ASR_AFTER,CLEAN_AFTER,TPR,FPR
PS=$R/poison_sweep
mkdir -p "$PS"
metrics "$PS" expected_poison 0.0146 poison_sweep "25 100 500"
sweep() { # sweep SPECTRE_RECALL_AT_25 SPECTRAL_ASR_AT_500: backdoor_sweep.csv
    printf '%s\n' "poison_count,method,asr_before,clean_accuracy_before,flagged,recall,precision,asr_after,clean_accuracy_after,strip_tpr,strip_fpr" \
        "25,none,0.015,0.988,0,,,0.015,0.988,," "25,spectral,0.015,0.988,1309,0.2,0.004,0.01,0.987,," \
        "25,clustering,0.015,0.988,0,0,1,0.012,0.988,," "25,spectre,0.015,0.988,149,$1,0.16,0.005,0.986,," \
        "25,strip,0.015,0.988,,,,,,0.03,0.0095" \
        "100,none,1,0.9868,0,,,1,0.9868,," "100,spectral,1,0.9868,1309,0,0,0.999,0.9879,," \
        "100,clustering,1,0.9868,3599,0,0,0.9932,0.9801,," "100,spectre,1,0.9868,1309,1,0.0764,0.0019,0.9855,," \
        "100,strip,1,0.9868,,,,,,0.0506,0.0095" \
        "500,none,1,0.9860,0,,,1,0.9860,," "500,spectral,1,0.9860,1309,0.99,0.38,$2,0.9850,," \
        "500,clustering,1,0.9860,1700,1,0.3,0,0.9840,," "500,spectre,1,0.9860,1309,1,0.38,0.3,0.9850,," \
        "500,strip,1,0.9860,,,,,,0.9,0.01" > "$PS/backdoor_sweep.csv"
}
sweep 0.96 0.001
svg "$PS/backdoor_sweep.svg" "sweep"
# the baseline under every attack, an epsilon sweep like fgsm_trained_all
BA=$R/robustness/baseline_all
mkdir -p "$BA"
metrics "$BA" clean_accuracy 0.9884 epsilon 0.3 robust_images 1000 pgd_steps 40
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0,fgsm,0.988,0,0,1" "0,pgd,0.988,0,0,1" \
    "0,square,0.988,0,0,1" "0,all,0.988,0,0,1" "0.1,fgsm,0.612,0.1,2,1" "0.1,pgd,0.4,0.1,2,1" \
    "0.1,square,0.7,0.1,2,1" "0.1,all,0.39,0.1,2,1" > "$BA/robustness.csv"
printf '{\n  "settings": {\n    "load": "results/baseline/model.ckpt"\n  }\n}\n' > "$BA/manifest.json"
printf '%s\n' "check,status,detail" 'fgsm_not_overstating,WARN,"FGSM overstates robustness: eps 0.1: FGSM 0.6120, PGD 0.4000"' \
    > "$BA/checks.csv"
svg "$BA/robustness.svg" "baseline sweep"
# an older bench.csv: no torch_images_per_s, ratio or revision columns
printf '%s\n' "workload,threads,batch,images_per_s,ms_per_call,gflops,images_per_s_min,images_per_s_max" \
    "latency,1,1,3700,0.27,100,3600,3800" "train,1,64,1700,37,160,1600,1800" > "$R/bench.csv"
printf '%s\n' metric,value clean_accuracy,0.9884 adv_accuracy,0.1234 adv_accuracy_float32,0.333 \
    p_true_is_one_share,0.21 bim_accuracy,0.42 bim_accuracy_float32,0.45 test_images,10000 bim_steps,10 \
    bim_step_size,0.02 > "$R/torch_crosscheck/expected.csv"
write
check "report.sh write exits 0 with every new block present" [ $? -eq 0 ]
cp "$MD" "$T/blocks1.md"
html_checks "every block present"
# robust_pgd_all
check "robust_pgd_all: PGD-100 goal not measured without robust_pgd_pgd100/" has "$MD" "- PGD-100 with 5 restarts ≥ 91%: not measured;"
mkdir -p "$R/robust_pgd_pgd100"
metrics "$R/robust_pgd_pgd100" pgd_accuracy 0.905 pgd_steps 100 pgd_restarts 5 robust_images 10000
printf '%s\n' "check,status,detail" "attack_converged,PASS,ok" > "$R/robust_pgd_pgd100/checks.csv"
write
check "robust_pgd_all: the PGD-100 goal read from robust_pgd_pgd100/" has "$MD" "- PGD-100 with 5 restarts ≥ 91%: 90.50% on 10000 test images (results/robust_pgd_pgd100/; its convergence check: PASS), **not met** (-0.50 pp);"
rm -rf "$R/robust_pgd_pgd100"
write
check "robust_pgd_all: model and surrogate named from COMMAND, not the manifest" has "$MD" "results/robust_pgd_all/: the PGD-trained (robust_pgd) model, \`--attack all\`, on 10000 test images"
check "robust_pgd_all: the surrogate's path from COMMAND" has "$MD" "the transfer attack runs PGD on results/baseline/model.ckpt and scores this model"
check "robust_pgd_all: no path of the machine it ran on" hasnt "$MD" "/tmp/elsewhere"
check "robust_pgd_all: the attack table, worst case in bold" has "$MD" "| 0.3 | **all** | **worst case per image** | **93.01%** | 9301 of 10000 | 6710 |"
check "robust_pgd_all: the Square row marked gradient-free" has "$MD" "| 0.3 | square | gradient-free | 95.00% | 9500 of 10000 | 3000 |"
check "robust_pgd_all: the headline robust accuracy" has "$MD" "**Robust accuracy at epsilon 0.3, the worst case over every attack: 93.01%** (9301 of 10000 images); clean accuracy 98.86% on 10000 test images."
check "robust_pgd_all: clean goal met (+0.36 pp)" has "$MD" "- clean accuracy ≥ 98.5%: 98.86%, met (+0.36 pp);"
check "robust_pgd_all: ensemble goal met (+4.01 pp)" has "$MD" "- robust accuracy under the attack ensemble (worst case) ≥ 89%: 93.01%, met (+4.01 pp);"
check "robust_pgd_all: published reference points computed" has "$MD" "This model's 93.01% is above Madry et al. (+4.58 pp), above TRADES (+0.25 pp) and above Wong et al. (+10.13 pp)."
check "robust_pgd_all: the strongest attack" has "$MD" "- At epsilon 0.3 the strongest single attack on the PGD-trained (robust_pgd) model is apgd-t (93.20% of the images still correct). Taking the worst case per image over every attack lowers that to 93.01% (0.19 pp)"
check "robust_pgd_all: Square does not beat the white-box attacks" has "$MD" "- The gradient-free Square Attack leaves 95.00%, not below the best white-box attack (apgd-t, 93.20%): no sign of gradient masking from it."
check "robust_pgd_all: against robust_pgd's own evaluation" has "$MD" "gave a worst case of 94.74%; with every attack, on 10000 images, it is 93.01% (-1.73 pp)."
check "robust_pgd_all: the FAIL listed" has "$MD" "| robust_pgd_all | \`attack_converged\` | **FAIL** |"
check "robust_pgd_all: training-time goal, time not recorded" has "$MD" "- training in ≤ 20 minutes on 2 cores: n/a (results/robust_pgd/), not measured;"
check "robust_pgd_all: checks goal not met, each FAIL named with its run" has "$MD" "- every sanity check passes (skipped ones aside): **not met**: \`attack_converged\` FAIL in robust_pgd; \`attack_converged\` FAIL in robust_pgd_all."
# a training run timed on its own (FGSM only) and its model under every attack in an
# adv_only run (robust_trades_beta2_all), PGD-100 with 5 restarts among them
B2=$R/robust_trades_beta2 B2A=$R/robust_trades_beta2_all
mkdir -p "$B2" "$B2A"
metrics "$B2" mode adv_training adv_method trades adv_steps 7 adv_from scratch adv_epochs 7 adv_eps 0.3 val_count 1000 \
    best_epoch 6 best_val_pgd_accuracy 0.963 adv_train_seconds 1122 robust_images 10000 test_images 10000 epsilon 0.3 \
    pgd_steps 40 clean_accuracy 0.9862 after_clean_accuracy 0.9862 after_fgsm_accuracy 0.96 after_robust_accuracy 0.96
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0.3,fgsm,0.96,0.3,6,5" "0.3,all,0.96,0.3,6,5" > "$B2/robustness.csv"
printf '%s\n' "check,status,detail" "eps_zero_is_clean,SKIP,needs eps 0" > "$B2/checks.csv"
printf '%s\n' "./mnistsec --mode adv_training --adv-method trades --trades-beta 2 --attack fgsm --out results/robust_trades_beta2" "source: abc1234" > "$B2/COMMAND"
printf '{\n  "settings": {\n    "trades_beta": 2,\n    "threads": 2\n  }\n}\n' > "$B2/manifest.json"
metrics "$B2A" mode adv_only robust_images 10000 test_images 10000 epsilon 0.3 pgd_steps 100 pgd_restarts 5 \
    clean_accuracy 0.9862 pgd_accuracy 0.925
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0.3,fgsm,0.96,0.3,6,5" "0.3,pgd,0.925,0.3,6,900" \
    "0.3,apgd-t,0.91,0.3,6,700" "0.3,square,0.915,0.3,6,300" "0.3,all,0.905,0.3,6,2000" > "$B2A/robustness.csv"
printf '%s\n' "check,status,detail" "attack_converged,PASS,ok" "no_gradient_masking,PASS,ok" "eps_zero_is_clean,SKIP,needs eps 0" > "$B2A/checks.csv"
printf '%s\n' "./mnistsec --mode adv_only --load results/robust_trades_beta2/model.ckpt --attack all --out results/robust_trades_beta2_all" "source: abc1234" > "$B2A/COMMAND"
write
check "beta 2: methods row, PGD and worst case from its every-attack run" has "$MD" "| trades, beta 2 | robust_trades_beta2 | 7 from scratch | 1122 s (18.7 min) | 98.62% | 96.00% | 92.50% (PGD-100 x 5 restarts, 10000) | 90.50% (10000) |"
check "beta 2: the TRADES beta from the manifest" has "$MD" "results/robust_trades_beta2/: \`--adv-method trades --trades-beta 2 --adv-steps 7 --adv-from scratch\`"
check "beta 2: an FGSM-only run's table has no PGD column" has "$MD" "This run evaluates FGSM only; the stronger attacks are in results/robust_trades_beta2_all/ (below)."
check "beta 2: PGD-100 goal from the every-attack run itself" has "$MD" "- PGD-100 with 5 restarts ≥ 91%: 92.50% on 10000 test images (results/robust_trades_beta2_all/; its convergence check: PASS), met (+1.50 pp);"
check "beta 2: training-time goal from the timed run, not the every-attack run" has "$MD" "- training in ≤ 20 minutes on 2 cores: 1122 s (18.7 min) (results/robust_trades_beta2/), met;"
check "beta 2: checks goal met, from both checks.csv" has "$MD" "- every sanity check passes (skipped ones aside): met, in robust_trades_beta2/checks.csv, robust_trades_beta2_all/checks.csv."
check "beta 2: the every-attack run labelled by the model it loads" has "$MD" "results/robust_trades_beta2_all/: the TRADES-trained, beta 2 (robust_trades_beta2) model"
check "beta 2: its FGSM-only evaluation compared" has "$MD" "- results/robust_trades_beta2's own evaluation (FGSM, 10000 images) gave a worst case of 96.00%; with every attack, on 10000 images, it is 90.50% (-5.50 pp)."
printf '%s\n' "check,status,detail" "attack_converged,PASS,ok" "fgsm_not_overstating,WARN,odd" > "$B2A/checks.csv"
metrics "$B2" mode adv_training adv_method trades adv_epochs 7 adv_train_seconds 1300 robust_images 10000 epsilon 0.3 \
    clean_accuracy 0.9862 after_clean_accuracy 0.9862 after_fgsm_accuracy 0.96
write
check "beta 2: a WARN fails the checks goal" has "$MD" "- every sanity check passes (skipped ones aside): **not met**: \`fgsm_not_overstating\` WARN in robust_trades_beta2_all."
check "beta 2: over 20 minutes fails the time goal" has "$MD" "- training in ≤ 20 minutes on 2 cores: 1300 s (21.7 min) (results/robust_trades_beta2/), **not met**;"
rm -rf "$B2" "$B2A"
write
check "robust_pgd_all: the SKIP named" has "$MD" "Skipped (the run lacks what they need): \`eps_zero_is_clean\`."
check "robust_pgd_all: no longer 'not yet run'" hasnt "$MD" "--out results/robust_pgd_all\`, with"
check "methods table: the PGD row now with its every-attack worst case" \
    has "$MD" "| pgd (Madry et al. 2018) | robust_pgd | 8 from scratch | n/a | 98.86% | 96.13% | 94.89% (PGD-40, 10000) | 93.01% (10000) |"
# collapse
check "collapse: the training log with held-out FGSM" has "$MD" "| 1 | 0.300 | 1.00e-03 | 0.6800 | 154 | 94.5% | 93.7% | 0.0% |"
check "collapse: computed log sentence" has "$MD" "Over the 3 epochs the held-out PGD accuracy is at most 0.1% (epoch 3) and the held-out FGSM accuracy reaches 97.7% (epoch 3). FGSM accuracy exceeds PGD accuracy by more than 50 pp, the monitor's rule, after epochs 1, 2, 3 (3 of 3)."
check "collapse: the WARN and its detail" has "$MD" "(\`no_catastrophic_overfitting\`, collapse_fgsm_rs/checks.csv): **WARN**: catastrophic overfitting: at epoch 1 the held-out images resist FGSM (0.9370) but not PGD-20 (0.0000)."
check "collapse: the collapse epoch and the kept model" has "$MD" "metrics.csv records the collapse at epoch 1; the kept model is epoch 1 (held-out PGD accuracy 0.00%)."
check "robust_pgd_all: the published figures stated" has "$MD" "Madry et al. 2018 (PGD training): 88.4%; TRADES (Zhang et al. 2019): 92.8%;"
check "collapse: test FGSM vs PGD" has "$MD" "FGSM accuracy 97.47% and PGD-40 accuracy 0.00%: FGSM overstates its robustness by 97.47 pp. FGSM accuracy is 2.73 pp above the clean accuracy"
check "collapse: the COMMAND shown" has "$MD" "--fake-collapse-marker"
check "collapse: the picture" has "$MD" "](collapse_fgsm_rs/training_accuracy.svg)"
# poison sweep
check "sweep: a row per count and method" has "$MD" "| 100 | spectre | 1309 | 100.00% | 7.64% | 0.19% | 98.55% |  |  |"
check "sweep: STRIP row with only its rates" has "$MD" "| 500 | strip |  |  |  |  |  | 90.00% | 1.00% |"
check "sweep: spectre meets the goal first at 25, fails at 500" has "$MD" "- spectre: meets the goal first at 25 poisoned images (recall 96.00%, attack success 0.50%, clean accuracy -0.20 pp), where the undefended backdoor already fails (1.50%); meets it at 25, 100; fails at 500 (recall 100.00%, attack success 30.00%)."
check "sweep: spectral first at 500" has "$MD" "- spectral: meets the goal first at 500 poisoned images (recall 99.00%, attack success 0.10%, clean accuracy -0.10 pp); fails at 25 (recall 20.00%, attack success 1.00%), 100 (recall 0.00%, attack success 99.90%)."
check "sweep: undefended attack success per count" has "$MD" "- Undefended: attack success 1.50% with 25, 100.00% with 100, 100.00% with 500 poisoned images"
check "sweep: STRIP rates per count" has "$MD" "- strip (inference time, nothing retrained): detects 3.00% (25 poisoned images), 5.06% (100), 90.00% (500) of the triggered test images, at 0.95%, 0.95%, 1.00% false positives on clean ones."
check "sweep: the count where the backdoor does not take hold" has "$MD" "With 25 poisoned images the undefended attack success is already at most 2%"
check "sweep: --expected-poison from metrics.csv" has "$MD" "(\`--expected-poison 0.0146\`, the share"
check "sweep: the picture" has "$MD" "](poison_sweep/backdoor_sweep.svg)"
# baseline_all rendered like fgsm_trained_all
check "baseline_all: its table like fgsm_trained_all's" has "$MD" "The published baseline model under every attack, first 1000 test images (robustness/baseline_all/robustness.csv;"
check "baseline_all: a table row" has "$MD" "| 0.1 | 61.2% | 40.0% | 70.0% | 39.0% |"
check "baseline_all: its sweep picture" has "$MD" "](robustness/baseline_all/robustness.svg)"
check "baseline_all: no longer 'not yet run'" hasnt "$MD" "sh scripts/robustness.sh baseline_all"
# an old bench.csv still renders, ratios from bench_torch.csv
check "old bench.csv: the ratio still computed" has "$MD" "| latency | 1 | 1 | 3700 (3600-3800) | 970 (940-990) | 3.81x |  |  |"
check "old bench.csv: no revision recorded, said so" has "$MD" "results/bench.csv has no revision column"
check "old bench.csv: PGD-40 not yet measured" has "$MD" "- PGD-40 attack (\`pgd40_attack\`), target ≥ 4x: not yet measured"
# float32 with BIM and clean figures, mnistsec's run missing
check "float32: mnistsec's own run missing, said so" has "$MD" "(mnistsec's own run on this checkpoint, results/torch_crosscheck/mnistsec/, is not yet there)"
check "float32: BIM figures from expected.csv" has "$MD" "BIM (10 steps of 0.02, no random start): PyTorch 42.00% with the cross-entropy in float64, 45.00% in float32."
check "float32: the command when results/torch_crosscheck/ exists" has "$MD" "Command: \`LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 scripts/torch_crosscheck.py"

# ---- the new blocks' conclusions follow the data -----------------------------------------
sweep 0.5 0.05
allrows 0.9613 0.9489 0.9350 0.9320 0.9000 0.9800 0.8800
printf '%s\n' "check,status,detail" "no_catastrophic_overfitting,PASS,no collapse" > "$C/checks.csv"
metrics "$C" adv_method fgsm-rs adv_from scratch adv_epochs 3 adv_eps 0.3 val_count 1000 best_epoch 3 \
    best_val_pgd_accuracy 0.001 collapse_epoch 0 after_clean_accuracy 0.98 after_fgsm_accuracy 0.90 \
    after_pgd_accuracy 0.85 robust_images 10000 pgd_steps 40 epsilon 0.3
# a new bench.csv whose PyTorch figures are in its own columns (bench_torch.csv lacks the PGD rows)
printf '%s\n' "workload,threads,batch,images_per_s,ms_per_call,gflops,images_per_s_min,images_per_s_max,torch_images_per_s,ratio,revision" \
    "latency,1,1,3700,0.27,100,3600,3800,970,3.8,abc1234" "pgd40_attack,2,100,90,1000,100,85,95,20,4.5,abc1234" \
    "pgd7_advtrain,2,64,400,160,100,390,410,142.857,2.8,abc1234" \
    "trades7_advtrain,2,64,300,213,100,290,310,100,3,abc1234" > "$R/bench.csv"
mkdir -p "$R/torch_crosscheck/mnistsec"
metrics "$R/torch_crosscheck/mnistsec" clean_accuracy 0.9884 adv_accuracy 0.1130 fgsm_accuracy 0.1130
write
check "report.sh write exits 0 on the changed blocks" [ $? -eq 0 ]
check "the new blocks' conclusions changed with the data" sh -c "! cmp -s '$T/blocks1.md' '$MD'"
check "sweep: the smallest count meeting the goal moves to 100" has "$MD" "- spectre: meets the goal first at 100 poisoned images (recall 100.00%, attack success 0.19%, clean accuracy -0.13 pp); fails at 25 (recall 50.00%, attack success 0.50%), 500 (recall 100.00%, attack success 30.00%)."
check "sweep: the old smallest count is gone" hasnt "$MD" "spectre: meets the goal first at 25"
check "sweep: spectral now at none of the counts" has "$MD" "- spectral: meets the goal at none of the counts; fails at 25"
check "robust_pgd_all: ensemble goal now not met" has "$MD" "- robust accuracy under the attack ensemble (worst case) ≥ 89%: 88.00%, **not met** (-1.00 pp);"
check "robust_pgd_all: reference points recomputed" has "$MD" "This model's 88.00% is below Madry et al. (-0.43 pp), below TRADES (-4.76 pp) and above Wong et al. (+5.12 pp)."
check "robust_pgd_all: Square now the strongest attack" has "$MD" "the strongest single attack on the PGD-trained (robust_pgd) model is square (90.00%"
check "robust_pgd_all: Square beating the white-box attacks flags gradient masking" has "$MD" "- The gradient-free Square Attack leaves 90.00%, 3.20 pp below the best white-box attack (apgd-t, 93.20%): it beats the gradient attacks, the sign of gradient masking"
check "collapse: the monitor's PASS" has "$MD" "collapse_fgsm_rs/checks.csv): **PASS**: no collapse."
check "collapse: no collapse epoch" has "$MD" "metrics.csv records no collapse epoch."
check "collapse: FGSM and PGD now agree within 5 pp" has "$MD" "FGSM accuracy 90.00% and PGD-40 accuracy 85.00%: FGSM and PGD agree within 5.00 pp."
check "speed: PyTorch's figure from bench.csv's own column (90 / 20 = 4.50x)" has "$MD" "| pgd40_attack | 2 | 100 | 90 (85-95) | 20 | 4.50x | ≥ 4x | yes |"
check "speed: PGD-40 target met" has "$MD" "- PGD-40 attack (\`pgd40_attack\`), target ≥ 4x: 4.50x with 2 threads, batch 100: met in the one row measured by both."
check "speed: PGD-7 training 2.80x, target not met" has "$MD" "- PGD-7 adversarial training (\`pgd7_advtrain\`), target ≥ 3x: 2.80x with 2 threads, batch 64: **not met** in the one row measured by both."
check "speed: TRADES-7 training in the table, target 3x met" has "$MD" "| trades7_advtrain | 2 | 64 | 300 (290-310) | 100 | 3.00x | ≥ 3x | yes |"
check "speed: TRADES-7 training among the targets" has "$MD" "- TRADES-7 adversarial training (\`trades7_advtrain\`), target ≥ 3x: 3.00x with 2 threads, batch 64: met in the one row measured by both."
check "ensemble time: no block without results/attack_all_timing/" hasnt "$MD" "Time of the default attack ensemble"
ET=$R/attack_all_timing
mkdir -p "$ET"
metrics "$ET" robust_images 1000 epsilon 0.3
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0.3,pgd,0.94,0.3,6,10" "0.3,apgd-t,0.9,0.3,6,80" "0.3,all,0.9,0.3,6,90" > "$ET/robustness.csv"
printf '{\n  "wall_seconds": 110.5,\n  "threads": 2\n}\n' > "$ET/manifest.json"
write
check "ensemble time: measured and carried to 10,000 images, aim met" has "$MD" "1000 images in 110.5 s of wall time, 90.0 s of it in the attacks (pgd 10.0 s, apgd-t 80.0 s). At that rate all 10,000 test images take about 920 s (15.3 min): the 20-minute aim is met."
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0.3,apgd-t,0.9,0.3,6,130" "0.3,all,0.9,0.3,6,130" > "$ET/robustness.csv"
printf '{\n  "wall_seconds": 150,\n  "threads": 2\n}\n' > "$ET/manifest.json"
write
check "ensemble time: aim not met above 1,200 s" has "$MD" "take about 1320 s (22.0 min): the 20-minute aim is **not met**."
metrics "$ET" robust_images 10000 epsilon 0.3
printf '%s\n' "epsilon,attack,accuracy,mean_linf,mean_l2,seconds" "0.3,apgd-t,0.9,0.3,6,1222.4" "0.3,all,0.9,0.3,6,1222.4" > "$ET/robustness.csv"
printf '{\n  "wall_seconds": 1254.2,\n  "threads": 2\n}\n' > "$ET/manifest.json"
write
check "ensemble time: all 10,000 images measured, not carried" has "$MD" "All 10000 test images took 1254.2 s (20.9 min) of wall time, 1222.4 s of it in the attacks (apgd-t 1222.4 s): the 20-minute aim is **not met** (54 s over)."
rm -rf "$ET"
write
check "speed: the revision again recorded" hasnt "$MD" "has no revision column"
check "float32: mnistsec's FGSM from its own metrics.csv" has "$MD" "classified correctly where mnistsec leaves 11.30%, and PyTorch with the cross-entropy in"
check "float32: both clean accuracies" has "$MD" "Clean accuracy on the same images: PyTorch 98.84%, mnistsec 98.84%."

# the table sub-command still reads the results directory
RESULTS=$R sh "$ROOT/scripts/report.sh" table baseline > "$T/table"
check "report.sh table baseline prints the table" has "$T/table" "| test accuracy | 98.91% | 98.84% | -0.07 pp |"
finish
