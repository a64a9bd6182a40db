/* robust_eval.c - the robustness evaluation as the modes run it (see robust_eval.h):
 * the configured attacks at every epsilon of the sweep on the test images, the sanity
 * checks, and their result files and metric rows.
 */
#include "robust_eval.h"

#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "digit_grid.h"
#include "eval.h"
#include "robustness.h"

#define EVAL_BATCH 100
#define CONVERGENCE_IMAGES 500

/* The evaluation's epsilons: the sweep, with --epsilon added if it is not in it;
 * *main gets the index of --epsilon. */
static size_t eps_list(const config *c, double *eps, size_t *main)
{
    size_t n = 0;
    *main = SIZE_MAX;
    for (size_t i = 0; i < c->eps_sweep.n; i++) {
        if (c->eps_sweep.v[i] == c->epsilon)
            *main = n;
        eps[n++] = c->eps_sweep.v[i];
    }
    if (*main == SIZE_MAX) {
        *main = n;
        eps[n++] = c->epsilon;
    }
    return n;
}

/* A metric name from an attack name: "apgd-ce" -> "apgd_ce_accuracy". */
static void metric_name(char *buf, size_t cap, const char *attack, const char *suffix)
{
    snprintf(buf, cap, "%s%s", attack, suffix);
    for (char *p = buf; *p; p++)
        if (*p == '-')
            *p = '_';
}

static double share(size_t k, size_t n)
{
    return n ? (double)k / (double)n : 0.0;
}

static void robustness_table(run *r, const robust_result *res)
{
    static const char *const cols[] = {"epsilon", "attack", "accuracy", "mean_linf", "mean_l2",
                                       "seconds"};
    csv_table *t = run_table(r, "robustness.csv", 6, cols);
    if (!t)
        return;
    for (size_t e = 0; e < res->neps; e++) {
        double worst_linf = 0.0, worst_l2 = 0.0, seconds = 0.0;
        for (size_t a = 0; a < res->nattacks; a++) {
            const robust_cell *c = robust_at(res, e, a);
            double n = c->st.count ? (double)c->st.count : 1.0;
            table_num(t, c->eps);
            table_str(t, c->attack->name);
            table_num(t, share(c->correct, res->n));
            table_num(t, c->st.sum_linf / n);
            table_num(t, c->st.sum_l2 / n);
            table_num(t, c->st.seconds);
            worst_linf = c->st.sum_linf / n > worst_linf ? c->st.sum_linf / n : worst_linf;
            worst_l2 = c->st.sum_l2 / n > worst_l2 ? c->st.sum_l2 / n : worst_l2;
            seconds += c->st.seconds;
        }
        if (res->nattacks > 1) {
            /* the ensemble: robust under every attack; norms are the largest means */
            table_num(t, robust_at(res, e, 0)->eps);
            table_str(t, "all");
            table_num(t, share(robust_count(res, e), res->n));
            table_num(t, worst_linf);
            table_num(t, worst_l2);
            table_num(t, seconds);
        }
    }
}

static void examples_table(run *r, const robust_result *res, size_t e)
{
    size_t ncols = 4 + res->nattacks;
    const char **cols = malloc(ncols * sizeof *cols);
    char(*names)[48] = malloc(res->nattacks * sizeof *names);
    csv_table *t = NULL;
    if (cols && names) {
        cols[0] = "index", cols[1] = "label", cols[2] = "clean_pred";
        for (size_t a = 0; a < res->nattacks; a++) {
            metric_name(names[a], sizeof names[a], robust_at(res, e, a)->attack->name, "_pred");
            cols[3 + a] = names[a];
        }
        cols[3 + res->nattacks] = "robust";
        t = run_table(r, "robust_examples.csv", ncols, cols);
    } else {
        r->table_status = MS_EINTERNAL;
    }
    free(cols), free(names);
    if (!t)
        return;
    for (size_t i = 0; i < res->n; i++) {
        table_int(t, res->index[i]);
        table_int(t, res->label[i]);
        table_int(t, res->clean_pred[i]);
        for (size_t a = 0; a < res->nattacks; a++)
            table_int(t, robust_preds(res, e, a)[i]);
        table_int(t, res->robust[e * res->n + i]);
    }
}

/* PGD on the first images with the run's budget and with twice the steps and one more
 * restart, for the convergence check. */
static ms_status convergence(const attack_model *am, const dataset *ds, const robust_result *res,
                             size_t e, const attack_params *pgd, check_input *ci, ms_err *err)
{
    size_t p = SIZE_MAX;
    for (size_t a = 0; a < res->nattacks; a++)
        if (strcmp(robust_at(res, e, a)->attack->name, "pgd") == 0)
            p = a;
    if (p == SIZE_MAX)
        return MS_OK;
    size_t n = res->n < CONVERGENCE_IMAGES ? res->n : CONVERGENCE_IMAGES;
    const attack_def *def = robust_at(res, e, p)->attack;
    attack_params strong = *pgd;
    strong.steps *= 2;
    strong.restarts += 1;
    double eps = robust_at(res, e, p)->eps;
    robust_opts o = {.attacks = &def, .nattacks = 1, .eps = &eps, .neps = 1,
                     .params = &strong, .batch = EVAL_BATCH, .quiet = 1};
    robust_result rs;
    ms_status s = robustness_run(am, ds, res->index, n, &o, &rs, err);
    if (s != MS_OK)
        return s;
    ci->have_conv = 1;
    ci->conv_n = n;
    ci->conv_eps = e;
    ci->conv_strong_correct = robust_at(&rs, 0, 0)->correct;
    ci->conv_base_correct = 0;
    const uint8_t *pred = robust_preds(res, e, p);
    for (size_t i = 0; i < n; i++)
        ci->conv_base_correct += pred[i] == res->label[i];
    robustness_free(&rs);
    return MS_OK;
}

/* examples.png: the first images the attacks break at epsilon e. */
static void attack_gallery(run *r, const robust_result *res, size_t e)
{
    gallery *g = calloc(1, sizeof *g);
    if (!g)
        return; /* the pictures are optional; the numbers are not affected */
    snprintf(g->title, sizeof g->title, "First test images broken at eps %g (worst case of %zu "
             "attack%s)", robust_at(res, e, 0)->eps, res->nattacks, res->nattacks > 1 ? "s" : "");
    g->ncols = 3;
    g->col_names[0] = "clean", g->col_names[1] = "adversarial";
    g->col_names[2] = "perturbation x5";
    for (size_t i = 0; i < res->n && g->nrows < GALLERY_ROWS; i++) {
        if (res->clean_pred[i] != res->label[i] || res->robust[e * res->n + i])
            continue;
        size_t a = 0;
        while (a + 1 < res->nattacks && robust_preds(res, e, a)[i] == res->label[i])
            a++;
        size_t k = g->nrows * g->ncols;
        dataset_batch(&r->test, &res->index[i], 1, g->cell[k], NULL);
        memcpy(g->cell[k + 1], res->keep + i * CNN_PIXELS, sizeof g->cell[k + 1]);
        digit_grid_perturbation(g->cell[k + 2], g->cell[k], g->cell[k + 1], CNN_PIXELS, 5.0f);
        snprintf(g->caption[k], sizeof g->caption[k], "#%lu true %d",
                 (unsigned long)res->index[i], res->label[i]);
        snprintf(g->caption[k + 1], sizeof g->caption[k + 1], "pred %d (%s)",
                 robust_preds(res, e, a)[i], robust_at(res, e, a)->attack->name);
        snprintf(g->caption[k + 2], sizeof g->caption[k + 2], "eps %g", robust_at(res, e, a)->eps);
        g->nrows++;
    }
    free(r->gallery);
    r->gallery = g;
}

static double largest_class_share(const robust_result *res)
{
    size_t count[256] = {0}, best = 0;
    for (size_t i = 0; i < res->n; i++)
        if (++count[res->label[i]] > best)
            best = count[res->label[i]];
    return share(best, res->n);
}

ms_status robust_eval_run(run *r, const char *prefix, ms_err *err)
{
    const config *c = r->c;
    double eps[CLI_LIST_MAX + 1];
    size_t main_e, neps = eps_list(c, eps, &main_e);
    size_t count = c->attack_limit && c->attack_limit < r->test.n ? c->attack_limit : r->test.n;
    const attack_list *al = &c->attacks;

    /* one set of budgets for every attack; each reads its own fields (attack.h) */
    attack_params params[CLI_LIST_MAX];
    cnn *sm = NULL;
    attack_model sur = {0};
    ms_status s = MS_OK;
    if (c->surrogate) {
        s = cnn_create(&sm, EVAL_BATCH, r->threads, err);
        if (s == MS_OK)
            s = cnn_load(sm, c->surrogate, err);
        if (s == MS_OK)
            s = eval_check_finite(sm, &r->test, c->surrogate, err);
        if (s != MS_OK) {
            cnn_destroy(sm);
            return s;
        }
        sur = cnn_attack_model(sm);
    }
    for (size_t a = 0; a < al->n; a++) {
        attack_params p = attack_params_default((float)c->epsilon, c->seed);
        p.steps = c->pgd_steps;
        p.step = (float)c->pgd_step_size;
        p.restarts = c->restarts;
        p.random_start = !c->no_random_start;
        p.iters = c->apgd_iters;
        p.targets = c->apgd_targets;
        p.queries = c->square_queries;
        p.salt = a + 1; /* each attack its own streams */
        p.surrogate = sm ? &sur : NULL;
        params[a] = p;
    }
    robust_opts o = {.attacks = al->a,
                     .nattacks = al->n,
                     .eps = eps,
                     .neps = neps,
                     .params = params,
                     .batch = EVAL_BATCH,
                     .keep_eps = main_e,
                     .keep = 1, /* for --save-adv and the gallery */
                     .quiet = c->quiet};
    attack_model am = cnn_attack_model(r->m);
    robust_result res;
    s = robustness_run(&am, &r->test, NULL, count, &o, &res, err);
    if (s != MS_OK) {
        cnn_destroy(sm);
        return s;
    }
    check_input ci = {.r = &res, .largest_class_share = largest_class_share(&res)};
    for (size_t a = 0; a < al->n && s == MS_OK; a++)
        if (strcmp(al->a[a]->name, "pgd") == 0)
            s = convergence(&am, &r->test, &res, main_e, &params[a], &ci, err);
    cnn_destroy(sm);
    if (s != MS_OK) {
        robustness_free(&res);
        return s;
    }

    char key[96];
    for (size_t a = 0; a < al->n; a++) {
        metric_name(key, sizeof key, al->a[a]->name, "_accuracy");
        metrics_num2(&r->mt, prefix, key, share(robust_at(&res, main_e, a)->correct, res.n));
    }
    metrics_num2(&r->mt, prefix, "robust_accuracy", share(robust_count(&res, main_e), res.n));
    metrics_int(&r->mt, "robust_images", res.n);
    metrics_int(&r->mt, "pgd_steps", c->pgd_steps);
    metrics_num(&r->mt, "pgd_step_size", c->pgd_step_size);
    metrics_int(&r->mt, "pgd_restarts", c->restarts);
    metrics_int(&r->mt, "apgd_iters", c->apgd_iters);
    metrics_int(&r->mt, "square_queries", c->square_queries);
    metrics_time2(&r->mt, prefix, "robust_eval_seconds", res.seconds);
    robustness_table(r, &res);
    examples_table(r, &res, main_e);

    csv_table *t = run_checks(r);
    size_t nfail, nwarn;
    checks_run(&ci, t, &nfail, &nwarn);
    metrics_int(&r->mt, "checks_failed", nfail);
    metrics_int(&r->mt, "checks_warned", nwarn);
    r->checks_failed += nfail;

    attack_gallery(r, &res, main_e);
    if (c->save_adv && res.keep) {
        memcpy(r->adv_images, res.keep, res.n * CNN_PIXELS * sizeof(float));
        memcpy(r->adv_labels, res.label, res.n);
    }
    robustness_free(&res);
    return MS_OK;
}
