#!/bin/sh
# mutation.sh - proves the tests catch real bugs: each mutant below is one deliberate
# bug, applied to a temporary copy of the source; the relevant tests are built and run
# against it, and the mutant must make them fail ("killed"). A mutant that leaves the
# tests passing ("survived") is a gap in the tests. Writes the table to
# docs/MUTATION.md (with WRITE=1) and exits non-zero if any mutant survived or did not
# apply.
#
# Each mutant: NAME | FILE | perl substitution (must change the file) | tests to run
# (test binaries in build/tests, or test scripts with their environment).
# Environment: MNIST_DIR (for the smoke-level tests), JOBS (make -j, default 2).
set -u
cd "$(dirname "$0")/.." || exit 1
JOBS=${JOBS:-2}
MUTANTS='
trigger stamped nowhere|src/poison.c|s/x\[i \* 784 \+ r \* 28 \+ c\] = 1.0f;/x[i * 784 + r * 28 + c] += 0.0f;/|test_cnn
trigger in the wrong corner|include/poison.h|s/#define TRIGGER_LO 24/#define TRIGGER_LO 0/; s/#define TRIGGER_HI 27/#define TRIGGER_HI 3/|test_cnn
poisoned labels left unchanged|src/poison.c|s/ds->labels\[i\] = \(uint8_t\)target;/(void)target;/|test_cnn
FGSM sign flipped|src/attack.c|s/float s = \(g\[i\] > 0.0f\) \? alpha : \(g\[i\] < 0.0f\) \? -alpha : 0.0f;/float s = (g[i] > 0.0f) ? -alpha : (g[i] < 0.0f) ? alpha : 0.0f;/|test_attack
FGSM without the clamp to [0,1]|src/attack.c|s/xa\[i\] = clip01\(v\);\n    }\n}\n\nvoid linf_project/xa[i] = v;\n    }\n}\n\nvoid linf_project/|test_attack
epsilon ignored|src/attack_fgsm.c|s/linf_step\(out->x_adv, b->x, grad, len, p->eps, p->eps\);/linf_step(out->x_adv, b->x, grad, len, 0.3f, 1.0f);/|test_attack
confusion matrix transposed|src/eval.c|s/r->confusion\[y\[i\]\]\[pred\[i\]\]\+\+;/r->confusion[pred[i]][y[i]]++;/|test_attack
Adam bias correction dropped|src/optim.c|s/double bc1 = 1.0 - pow\(a->beta1, \(double\)a->step\);/double bc1 = 1.0;/|test_cnn
ReLU mask dropped in a backward|src/layers.c|s/dx\[k\] = y\[k\] > 0.0f \? dy\[k\] : 0.0f;/dx[k] = dy[k];/|test_layers
off-by-one in the IDX size check|src/idx.c|s/if \(len < h.total\)/if (len + 1 < h.total)/|test_idx
gzip CRC not compared|src/inflate.c|s/if \(want_crc != got_crc\)/if (0 \&\& want_crc != got_crc)/|test_inflate
checkpoint CRC not compared|src/checkpoint.c|s/if \(stored != computed\)/if (0 \&\& stored != computed)/|test_checkpoint
linear kernel tail loop skipped|src/kernels_linear.c|s/for \(size_t i = iv; i < in; i\+\+\)/for (size_t i = in; i < in; i++)/|test_kernels
Winograd F(4x4) transform coefficient off|src/kernels_winograd4.c|s/\{1.0 \/ 24, 1.0 \/ 12, 1.0 \/ 6\}/{1.0 \/ 24, 1.0 \/ 12.01, 1.0 \/ 6}/|test_kernels
Winograd F(4x4) breaks exact pool ties|src/kernels_winograd4.c|s/if \(rep != \(1u << 2 /if (0 \&\& rep != (1u << 2 /|test_kernels
PGD takes no steps|src/attack_pgd.c|s/for \(size_t t = 0; t < p->steps \&\& m > 0; t\+\+\)/for (size_t t = 0; t < 0 \&\& m > 0; t++)/|test_attack
masking check disabled|src/checks.c|s/return CHECK_FAIL;\n        \}\n    \}\n    if \(!seen\) \{\n        snprintf\(d, cap, "needs a gradient-free/return CHECK_PASS;\n        }\n    }\n    if (!seen) {\n        snprintf(d, cap, "needs a gradient-free/|test_checks
non-finite metric written|src/results.c|s/if \(isfinite\(v\)\)\n        return 1;/return 1;/|test_results
rollback of a failed commit skipped|src/fileio.c|s/outset_rollback\(s, done, kept, placed, err\);/(void)placed;/|test_fileio
projection onto the eps-ball skipped|src/attack.c|s/float v = xa\[i\] < lo \? lo : \(xa\[i\] > hi \? hi : xa\[i\]\);/float v = xa[i];/|test_attack
Square Attack keeps worse candidates|src/attack_square.c|s/if \(margin\[k\] > best\[i\]\) \{/if (margin[k] < best[i]) {/|test_square
APGD forgets its best point|src/attack_apgd.c|s/if \(lnew\[i\] > lbest\[i\]\) \{/if (0 \&\& lnew[i] > lbest[i]) {/|test_apgd
detectors flag the lowest scores|src/defend.c|s/return a->score > b->score \? -1 : 1;/return a->score > b->score ? 1 : -1;/|test_defend
STRIP flags high entropy|src/defend_strip.c|s/int flagged = entropy\[i\] < threshold;/int flagged = entropy[i] > threshold;/|test_defend
Adler-32 second sum dropped|src/adler32.c|s/b \+= a;/b += 0;/|test_png
best held-out epoch not restored|src/advtrain.c|s/if \(s == MS_OK \&\& res->have_val\)\n            memcpy\(m->params, best/if (0 \&\& s == MS_OK \&\& res->have_val)\n            memcpy(m->params, best/|test_advtrain
FGSM-versus-PGD masking rule disabled|src/advtrain.c|s/return fgsm - pgd > MASKING_GAP \+ 1e-9;/return 0 * (fgsm - pgd) > 1.0;/|test_advtrain
.npy header not padded to 64 bytes|src/npy.c|s/size_t pad = NPY_ALIGN - \(NPY_PREFIX \+ text\) % NPY_ALIGN;/size_t pad = 1;/|test_npy
masking rule applied during the epsilon ramp|src/advtrain.c|s/if \(eps_now < eps\)\n        return 0;/if (0)\n        return 0;/|test_advtrain
spectre label test keeps every label|src/defend.c|s/index\[c\] > o->label_anomaly\)/1)/|test_defend
incremental Square forward misses the last changed row|src/cnn_patch.c|s/rhi = r0 \+ h \+ 1 < S \? r0 \+ h \+ 1 : S - 1;/rhi = r0 + h < S ? r0 + h : S - 1;/|test_square
one-channel conv forward drops the bias|src/kernels_conv.c|s/vf acc = vset1\(b \? b\[o\] : 0.0f\);/vf acc = vset1(0.0f);/|test_kernels
pool backward lists a maximum under the wrong window offset|src/kernels_conv_pool_backward.c|s/_mm512_cmpeq_epi32_mask\(cv, _mm512_set1_epi32\(c\)\)/_mm512_cmpeq_epi32_mask(cv, _mm512_set1_epi32(c ^ 1))/|test_kernels
pool backward transposes dx back into the wrong channel|src/kernels_conv_pool_backward.c|s/vstore\(dximg \+ \(\(c0 \+ \(size_t\)q\) \* h \+ r\) \* w \+ s0, blk\[q\]\);/vstore(dximg + ((c0 + (size_t)q) * h + r) * w + s0, blk[(q + 1) % VL]);/|test_kernels
'
# Four fields per mutant: a "|" inside a substitution would shift the tests column.
bad=$(printf '%s\n' "$MUTANTS" | awk -F'|' 'NF > 0 && NF != 4 { print NR - 1 ": " $0 }')
if [ -n "$bad" ]; then
    echo "mutation.sh: a mutant needs exactly 4 |-separated fields (no | inside the substitution):" >&2
    printf '%s\n' "$bad" >&2
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# One unmutated build first: each mutant starts from a copy of it (timestamps kept), so
# make recompiles only what the mutated file touches. The unmutated tests must pass,
# or a "killed" would mean nothing.
mkdir -p "$T/base"
cp -r Makefile src include tests scripts "$T/base/"
all_tests=$(printf '%s\n' "$MUTANTS" | awk -F'|' 'NF >= 4 { n = split($4, t, " "); for (i = 1; i <= n; i++) print t[i] }' | sort -u)
for t in $all_tests; do
    if ! (cd "$T/base" && make -s -j"$JOBS" BUILD=build "build/tests/$t" >/dev/null 2>&1 &&
        build/tests/"$t" >/dev/null 2>&1); then
        echo "mutation.sh: $t fails or does not build on the unmutated source" >&2
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
    fi
done
killed=0
survived=0
broken=0
rows=""
printf '%s\n' "$MUTANTS" | while IFS='|' read -r name file subst tests; do
    [ -n "$name" ] || continue
    rm -rf "$T/src"
    cp -rp "$T/base" "$T/src"
    sleep 1 # the mutated file must be newer than its object
    if ! perl -0pi -e "$subst" "$T/src/$file" || cmp -s "$file" "$T/src/$file"; then
        echo "NOT APPLIED $name" >&2
        echo "| $name | \`$file\` | $tests | did not apply |" >>"$T/rows"
        continue
    fi
    ok=1
    for t in $tests; do
        if ! (cd "$T/src" && make -s -j"$JOBS" BUILD=build "build/tests/$t" >/dev/null 2>&1); then
            ok=2 # a mutant that does not build tests nothing: a defect of the list
            break
        fi
        if (cd "$T/src" && "build/tests/$t" >/dev/null 2>&1); then
            :
        else
            ok=0
        fi
    done
    if [ "$ok" -eq 2 ]; then
        echo "NOT BUILT $name ($tests)" >&2
        echo "| $name | \`$file\` | $tests | does not build |" >>"$T/rows"
    elif [ "$ok" -eq 0 ]; then
        echo "killed   $name ($tests)" >&2
        echo "| $name | \`$file\` | $tests | killed |" >>"$T/rows"
    else
        echo "SURVIVED $name ($tests)" >&2
        echo "| $name | \`$file\` | $tests | **survived** |" >>"$T/rows"
    fi
done
total=$(grep -c '' "$T/rows" 2>/dev/null || echo 0)
nk=$(grep -c '| killed |' "$T/rows" 2>/dev/null || echo 0)
echo "$nk of $total mutants killed" >&2
if [ "${WRITE:-0}" = 1 ]; then
    {
        echo "# Mutation testing"
        echo
        echo "\`make mutation\` (scripts/mutation.sh) applies each deliberate bug below to a"
        echo "temporary copy of the source, builds and runs the listed tests against it, and"
        echo "counts the mutant as killed when they fail. Source: $(sh scripts/source_rev.sh)."
        echo
        echo "| mutant | file | tests | result |"
        echo "|---|---|---|---|"
        cat "$T/rows"
        echo
        echo "$nk of $total mutants killed."
    } >docs/MUTATION.md
fi
echo "$nk passed, $((total - nk)) failed, 0 skipped"
[ "$nk" -eq "$total" ] && [ "$total" -gt 0 ]
