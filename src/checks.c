/* checks.c - sanity checks of a robustness evaluation (see checks.h).
 *
 * Tolerances: 0.5 percentage points where two accuracies should be ordered, 1 point
 * for the masking check, 10 points before FGSM is said to overstate robustness.
 */
#include "checks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TOL_ORDER 0.005
#define TOL_MASKING 0.01
#define FGSM_OVERSTATES 0.10
#define LARGE_EPS 0.5
#define BAD_GRADIENT_SHARE 0.01

static double acc(const robust_result *r, size_t e, size_t a)
{
    return r->n ? (double)robust_at(r, e, a)->correct / (double)r->n : 0.0;
}

/* Index of the attack called name, or SIZE_MAX. */
static size_t find(const robust_result *r, const char *name)
{
    for (size_t a = 0; a < r->nattacks; a++)
        if (strcmp(robust_at(r, 0, a)->attack->name, name) == 0)
            return a;
    return SIZE_MAX;
}

/* Lowest accuracy over the attacks that do (want_gradient 1) or do not use gradients;
 * NAN if there is none; *which gets its index. */
static double best_attack(const robust_result *r, size_t e, int want_gradient, size_t *which)
{
    double best = NAN;
    for (size_t a = 0; a < r->nattacks; a++)
        if (robust_at(r, e, a)->attack->uses_gradient == want_gradient &&
            !(acc(r, e, a) >= best)) {
            best = acc(r, e, a);
            *which = a;
        }
    return best;
}

/* The first epsilon at which attack a's accuracy exceeds attack b's by more than
 * margin, or SIZE_MAX; SIZE_MAX - 1 if either attack did not run. */
static size_t first_gap(const robust_result *r, const char *a, const char *b, double margin,
                        size_t *ia, size_t *ib)
{
    *ia = find(r, a), *ib = find(r, b);
    if (*ia == SIZE_MAX || *ib == SIZE_MAX)
        return SIZE_MAX - 1;
    for (size_t e = 0; e < r->neps; e++)
        if (acc(r, e, *ia) > acc(r, e, *ib) + margin)
            return e;
    return SIZE_MAX;
}

static check_status pgd_below_fgsm(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    size_t p, f, e = first_gap(r, "pgd", "fgsm", TOL_ORDER, &p, &f);
    if (e == SIZE_MAX - 1) {
        snprintf(d, cap, "needs both fgsm and pgd");
        return CHECK_SKIP;
    }
    if (e != SIZE_MAX) {
        snprintf(d, cap, "eps %g: PGD %.4f above FGSM %.4f: PGD is too weak",
                 robust_at(r, e, 0)->eps, acc(r, e, p), acc(r, e, f));
        return CHECK_FAIL;
    }
    snprintf(d, cap, "PGD <= FGSM + 0.5 pp at all %zu epsilons", r->neps);
    return CHECK_PASS;
}

static check_status monotone_in_eps(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    if (r->neps < 2) {
        snprintf(d, cap, "needs an epsilon sweep");
        return CHECK_SKIP;
    }
    for (size_t a = 0; a < r->nattacks; a++)
        for (size_t e = 0; e < r->neps; e++)
            for (size_t f = 0; f < r->neps; f++) {
                double ee = robust_at(r, e, a)->eps, ef = robust_at(r, f, a)->eps;
                if (ef > ee && acc(r, f, a) > acc(r, e, a) + TOL_ORDER) {
                    snprintf(d, cap, "%s: accuracy rises from %.4f at eps %g to %.4f at eps %g",
                             robust_at(r, e, a)->attack->name, acc(r, e, a), ee, acc(r, f, a),
                             ef);
                    return CHECK_FAIL;
                }
            }
    snprintf(d, cap, "no attack's accuracy rises with epsilon");
    return CHECK_PASS;
}

static check_status large_eps_bound(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    int seen = 0;
    for (size_t e = 0; e < r->neps; e++) {
        if (robust_at(r, e, 0)->eps < LARGE_EPS)
            continue;
        size_t w = 0;
        double best = best_attack(r, e, 1, &w);
        if (isnan(best))
            continue;
        seen = 1;
        if (best > in->largest_class_share + TOL_ORDER) {
            snprintf(d, cap,
                     "eps %g: best white-box accuracy %.4f (%s) above the largest class share "
                     "%.4f: every image can reach the same grey image",
                     robust_at(r, e, 0)->eps, best, robust_at(r, e, w)->attack->name,
                     in->largest_class_share);
            return CHECK_FAIL;
        }
    }
    if (!seen) {
        snprintf(d, cap, "needs a white-box attack at eps >= %g", LARGE_EPS);
        return CHECK_SKIP;
    }
    snprintf(d, cap, "white-box accuracy <= largest class share %.4f at eps >= %g",
             in->largest_class_share, LARGE_EPS);
    return CHECK_PASS;
}

static check_status converged(const check_input *in, char *d, size_t cap)
{
    if (!in->have_conv || in->conv_n == 0) {
        snprintf(d, cap, "needs pgd");
        return CHECK_SKIP;
    }
    double base = (double)in->conv_base_correct / (double)in->conv_n;
    double strong = (double)in->conv_strong_correct / (double)in->conv_n;
    snprintf(d, cap, "first %zu images, eps %g: PGD %.4f, twice the steps and one more restart "
             "%.4f", in->conv_n, robust_at(in->r, in->conv_eps, 0)->eps, base, strong);
    return strong < base - TOL_ORDER ? CHECK_FAIL : CHECK_PASS;
}

static check_status within_budget(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    size_t count = 0;
    for (size_t e = 0; e < r->neps; e++)
        for (size_t a = 0; a < r->nattacks; a++) {
            const robust_cell *c = robust_at(r, e, a);
            count += c->st.count;
            if (c->st.max_linf > c->eps + 1e-7) {
                snprintf(d, cap, "%s at eps %g: ||delta||_inf %.9g", c->attack->name, c->eps,
                         c->st.max_linf);
                return CHECK_FAIL;
            }
        }
    snprintf(d, cap, "%zu examples within eps in L-inf and inside [0,1] (checked per example)",
             count);
    return CHECK_PASS;
}

static check_status gradients_alive(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    double share = r->n ? (double)r->grad_bad / (double)r->n : 0.0;
    snprintf(d, cap, "%zu of %zu images (%.2f%%) have a zero or non-finite input gradient",
             r->grad_bad, r->n, 100.0 * share);
    return share < BAD_GRADIENT_SHARE ? CHECK_PASS : CHECK_FAIL;
}

static check_status eps_zero_unchanged(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    for (size_t e = 0; e < r->neps; e++) {
        if (robust_at(r, e, 0)->eps != 0.0)
            continue;
        for (size_t a = 0; a < r->nattacks; a++)
            if (robust_at(r, e, a)->correct != r->clean_correct) {
                snprintf(d, cap, "%s at eps 0: %zu correct, clean %zu",
                         robust_at(r, e, a)->attack->name, robust_at(r, e, a)->correct,
                         r->clean_correct);
                return CHECK_FAIL;
            }
        snprintf(d, cap, "every attack at eps 0 keeps the clean accuracy");
        return CHECK_PASS;
    }
    snprintf(d, cap, "needs eps 0 in the sweep");
    return CHECK_SKIP;
}

static check_status no_masking(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    int seen = 0;
    for (size_t e = 0; e < r->neps; e++) {
        size_t w = 0, b = 0;
        double wb = best_attack(r, e, 1, &w), bb = best_attack(r, e, 0, &b);
        if (isnan(wb) || isnan(bb))
            continue;
        seen = 1;
        if (bb < wb - TOL_MASKING) {
            snprintf(d, cap,
                     "gradient masking suspected: eps %g: %s (no gradients) %.4f below the best "
                     "white-box attack %s %.4f",
                     robust_at(r, e, 0)->eps, robust_at(r, e, b)->attack->name, bb,
                     robust_at(r, e, w)->attack->name, wb);
            return CHECK_FAIL;
        }
    }
    if (!seen) {
        snprintf(d, cap, "needs a gradient-free or transfer attack and a white-box attack");
        return CHECK_SKIP;
    }
    snprintf(d, cap, "no gradient-free or transfer attack beats the white-box attacks by > 1 pp");
    return CHECK_PASS;
}

static check_status fgsm_not_overstating(const check_input *in, char *d, size_t cap)
{
    const robust_result *r = in->r;
    size_t f, p, e = first_gap(r, "fgsm", "pgd", FGSM_OVERSTATES, &f, &p);
    if (e == SIZE_MAX - 1) {
        snprintf(d, cap, "needs both fgsm and pgd");
        return CHECK_SKIP;
    }
    if (e != SIZE_MAX) {
        snprintf(d, cap, "FGSM overstates robustness: eps %g: FGSM %.4f, PGD %.4f",
                 robust_at(r, e, 0)->eps, acc(r, e, f), acc(r, e, p));
        return CHECK_WARN;
    }
    snprintf(d, cap, "FGSM within 10 pp of PGD at every epsilon");
    return CHECK_PASS;
}

static const check_def checks[] = {
    {"pgd_not_weaker_than_fgsm", pgd_below_fgsm, "PGD accuracy <= FGSM accuracy + 0.5 pp"},
    {"accuracy_falls_with_eps", monotone_in_eps, "no accuracy rises with epsilon"},
    {"large_eps_breaks_all", large_eps_bound, "eps >= 0.5: accuracy <= largest class share"},
    {"attack_converged", converged, "more PGD steps and restarts change little"},
    {"perturbation_within_budget", within_budget, "||delta||_inf <= eps, pixels in [0,1]"},
    {"gradients_not_vanishing", gradients_alive, "< 1% zero or non-finite input gradients"},
    {"eps_zero_is_clean", eps_zero_unchanged, "eps 0 leaves accuracy unchanged"},
    {"no_gradient_masking", no_masking, "gradient-free attacks not better than white-box"},
    {"fgsm_not_overstating", fgsm_not_overstating, "FGSM within 10 pp of PGD"},
};

size_t check_count(void)
{
    return sizeof checks / sizeof checks[0];
}

const check_def *check_at(size_t i)
{
    return i < check_count() ? &checks[i] : NULL;
}

const char *check_status_name(check_status s)
{
    static const char *const names[] = {"PASS", "WARN", "FAIL", "SKIP"};
    return (unsigned)s < 4 ? names[s] : "?";
}

void checks_run(const check_input *in, csv_table *t, size_t *nfail, size_t *nwarn)
{
    *nfail = *nwarn = 0;
    for (size_t i = 0; i < check_count(); i++) {
        char detail[400];
        detail[0] = '\0';
        check_status s = checks[i].run(in, detail, sizeof detail);
        if (t) {
            table_str(t, checks[i].name);
            table_str(t, check_status_name(s));
            table_str(t, detail);
        }
        if (s == CHECK_FAIL || s == CHECK_WARN) {
            fprintf(stderr, "mnistsec: check %s: %s: %s\n", checks[i].name, check_status_name(s),
                    detail);
            *nfail += s == CHECK_FAIL;
            *nwarn += s == CHECK_WARN;
        }
    }
}
