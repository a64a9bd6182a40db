/* run.c - one run of an experiment: output checks, data, model, the mode's function
 * from the mode table, and the all-or-nothing writing of every result (see run.h).
 */
#include "run.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advtrain.h"
#include "attack.h"
#include "checkpoint.h"
#include "clock.h"
#include "fileio.h"
#include "idx.h"
#include "modes.h"
#include "npy.h"
#include "poison.h"
#include "progress.h"
#include "threadpool.h"

#define EVAL_BATCH_MIN 100 /* the evaluation batch of modes.c */

csv_table *run_table(run *r, const char *file, size_t ncols, const char *const *cols)
{
    if (r->ntables == r->cap_tables) {
        size_t ncap = r->cap_tables ? 2 * r->cap_tables : 8;
        csv_table **p = realloc(r->tables, ncap * sizeof *p);
        if (!p) {
            r->table_status = MS_EINTERNAL;
            return NULL;
        }
        r->tables = p;
        r->cap_tables = ncap;
    }
    csv_table *t = calloc(1, sizeof *t);
    if (!t) {
        r->table_status = MS_EINTERNAL;
        return NULL;
    }
    table_init(t, file, ncols, cols);
    r->tables[r->ntables++] = t;
    return t;
}

csv_table *run_checks(run *r)
{
    static const char *const cols[] = {"check", "status", "detail"};
    if (!r->checks)
        r->checks = run_table(r, "checks.csv", 3, cols);
    return r->checks;
}

/* The settings object of manifest.json. */
static void write_settings(FILE *f, const void *ctx)
{
    const config *c = ctx;
    fprintf(f, "    \"seed\": %llu,\n    \"epochs\": %zu,\n    \"batch_size\": %zu,\n",
            (unsigned long long)c->seed, c->epochs, c->batch_size);
    fprintf(f, "    \"lr\": %.9g,\n    \"train_limit\": %zu,\n    \"test_limit\": %zu,\n", c->lr,
            c->train_limit, c->test_limit);
    fprintf(f, "    \"poison_count\": %zu,\n    \"poison_source\": %d,\n", c->poison_count,
            c->poison_source);
    fprintf(f, "    \"poison_target\": %d,\n    \"poison_pick\": \"%s\",\n", c->poison_target,
            c->poison_pick == POISON_PICK_RANDOM ? "random" : "first");
    fprintf(f, "    \"poison_sweep\": [");
    for (size_t i = 0; i < c->poison_sweep.n; i++)
        fprintf(f, "%s%zu", i ? ", " : "", c->poison_sweep.v[i]);
    fprintf(f, "],\n");
    fprintf(f, "    \"epsilon\": %.9g,\n    \"attack_limit\": %zu,\n", c->epsilon,
            c->attack_limit);
    fprintf(f, "    \"adv_epochs\": %zu,\n    \"adv_lr\": %.9g,\n", c->adv_epochs, c->adv_lr);
    fprintf(f, "    \"attacks\": [");
    for (size_t i = 0; i < c->attacks.n; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", c->attacks.a[i]->name);
    fprintf(f, "],\n    \"eps_sweep\": [");
    for (size_t i = 0; i < c->eps_sweep.n; i++)
        fprintf(f, "%s%.9g", i ? ", " : "", c->eps_sweep.v[i]);
    fprintf(f, "],\n    \"pgd_steps\": %zu,\n    \"pgd_step_size\": %.9g,\n", c->pgd_steps,
            c->pgd_step_size);
    fprintf(f, "    \"restarts\": %zu,\n    \"random_start\": %s,\n", c->restarts,
            c->no_random_start ? "false" : "true");
    fprintf(f, "    \"apgd_iters\": %zu,\n    \"apgd_targets\": %zu,\n", c->apgd_iters,
            c->apgd_targets);
    fprintf(f, "    \"square_queries\": %zu,\n    \"surrogate\": ", c->square_queries);
    json_string(f, c->surrogate ? c->surrogate : "");
    fprintf(f, ",\n    \"adv_method\": \"%s\",\n    \"adv_eps\": %.9g,\n", c->adv_method->name,
            c->adv_eps);
    fprintf(f, "    \"adv_steps\": %zu,\n    \"adv_step_size\": %.9g,\n", c->adv_steps,
            c->adv_step_size);
    fprintf(f, "    \"adv_eps_ramp\": %zu,\n    \"adv_from\": \"%s\",\n", c->adv_eps_ramp,
            c->adv_from == ADV_FROM_SCRATCH ? "scratch" : "baseline");
    fprintf(f, "    \"lr_schedule\": \"%s\",\n    \"val_count\": %zu,\n",
            lr_schedule_name((lr_schedule)c->lr_schedule), c->val_count);
    fprintf(f, "    \"trades_beta\": %.9g,\n", c->trades_beta);
    fprintf(f, "    \"load\": ");
    json_string(f, c->load ? c->load : "");
    fprintf(f, ",\n    \"save\": ");
    json_string(f, c->save ? c->save : "");
    fputc('\n', f);
}

static ms_status write_run_manifest(run *r, outset *os, int argc, char **argv, ms_err *err)
{
    manifest_input in[4];
    size_t n = 0;
    if (r->have_train) {
        in[n++] = (manifest_input){"train_images", r->train.images_path, r->train.images_sha256};
        in[n++] = (manifest_input){"train_labels", r->train.labels_path, r->train.labels_sha256};
    }
    in[n++] = (manifest_input){"test_images", r->test.images_path, r->test.images_sha256};
    in[n++] = (manifest_input){"test_labels", r->test.labels_path, r->test.labels_sha256};
    manifest_info mi = {.mode = r->c->mode->name,
                        .argc = argc,
                        .argv = argv,
                        .started = r->started,
                        .wall_seconds = clock_seconds() - r->t_start,
                        .threads = r->threads,
                        .settings = write_settings,
                        .settings_ctx = r->c,
                        .inputs = in,
                        .ninputs = n};
    return write_manifest(os, r->c->out_dir, &mi, err);
}

/* --save: the model checkpoint, as one member of the output set. */
static ms_status save_checkpoint(run *r, outset *os, ms_err *err)
{
    const char *path = r->c->save;
    uint8_t *buf;
    size_t len;
    ms_status s = checkpoint_encode(path, NULL, r->m->tensors, CNN_NTENSORS, &buf, &len, err);
    if (s != MS_OK)
        return s;
    FILE *f = NULL;
    s = outset_open(os, path, &f, err);
    if (s == MS_OK && (!f || fwrite(buf, 1, len, f) != len))
        s = ms_fail(err, MS_EIO, "%s: write error", path);
    free(buf);
    return s;
}

/* --save-adv: the adversarial test set as IDX and .npy files in a directory, in the set
 * too. */
static ms_status save_adv_set(run *r, outset *os, ms_err *err)
{
    const char *dir = r->c->save_adv;
    ms_status s = make_dirs(dir, err);
    if (s != MS_OK)
        return s;
    char ipath[OUTSET_PATH], lpath[OUTSET_PATH];
    if ((s = path_join(ipath, sizeof ipath, dir, "t10k-images-idx3-ubyte", err)) != MS_OK ||
        (s = path_join(lpath, sizeof lpath, dir, "t10k-labels-idx1-ubyte", err)) != MS_OK)
        return s;
    size_t idims[3] = {r->adv_n, CNN_SIDE, CNN_SIDE}, ldims[1] = {r->adv_n};
    if ((s = idx_write_to(os, ipath, IDX_TYPE_F32, 3, idims, r->adv_images, err)) != MS_OK ||
        (s = idx_write_to(os, lpath, IDX_TYPE_U8, 1, ldims, r->adv_labels, err)) != MS_OK)
        return s;
    /* The same set for numpy.load: DIR/adv_images.npy (n, 28, 28), adv_labels.npy (n). */
    if ((s = path_join(ipath, sizeof ipath, dir, "adv_images.npy", err)) != MS_OK ||
        (s = path_join(lpath, sizeof lpath, dir, "adv_labels.npy", err)) != MS_OK ||
        (s = npy_write_to(os, ipath, NPY_F32, 3, idims, r->adv_images, err)) != MS_OK)
        return s;
    return npy_write_to(os, lpath, NPY_U8, 1, ldims, r->adv_labels, err);
}

/* Every output file of the run -- results, --save checkpoint, --save-adv set -- goes
 * through one outset, so they appear together or not at all. */
static ms_status write_outputs(run *r, int argc, char **argv, ms_err *err)
{
    const char *dir = r->c->out_dir;
    size_t adv_existed_len = r->c->save_adv ? path_existing_prefix_len(r->c->save_adv) : 0;
    outset os;
    outset_init(&os);
    ms_status s = write_metrics_csv(&os, dir, &r->mt, err);
    if (s == MS_OK)
        s = write_confusions(&os, dir, &r->conf, err);
    if (s == MS_OK && r->table_status != MS_OK)
        s = ms_fail(err, r->table_status, "out of memory collecting result tables");
    for (size_t i = 0; i < r->ntables && s == MS_OK; i++)
        s = write_table_csv(&os, dir, r->tables[i], err);
    if (s == MS_OK)
        s = figures_write(&os, dir, r, err);
    if (s == MS_OK && r->npoisoned)
        s = write_index_csv(&os, dir, "poisoned_indices.csv", "train_index", r->poisoned,
                            r->npoisoned, err);
    if (s == MS_OK && r->c->save)
        s = save_checkpoint(r, &os, err);
    if (s == MS_OK && r->c->save_adv)
        s = save_adv_set(r, &os, err);
    if (s == MS_OK && r->c->save_activations && r->activations) {
        size_t dims[2] = {r->train.n, CNN_HIDDEN};
        /* (n, 128) float32: .npy when the name ends in .npy, IDX otherwise */
        s = npy_path(r->c->save_activations)
                ? npy_write_to(&os, r->c->save_activations, NPY_F32, 2, dims, r->activations,
                               err)
                : idx_write_to(&os, r->c->save_activations, IDX_TYPE_F32, 2, dims,
                               r->activations, err);
    }
    if (s == MS_OK)
        s = write_run_manifest(r, &os, argc, argv, err);
    if (s == MS_OK)
        s = outset_commit(&os, err);
    else
        outset_abort(&os);
    if (s != MS_OK && r->c->save_adv)
        dirs_remove_created(r->c->save_adv, adv_existed_len); /* empty ones only */
    return s;
}

static void run_free(run *r)
{
    cnn_destroy(r->m);
    dataset_free(&r->train);
    dataset_free(&r->test);
    metrics_free(&r->mt);
    confusions_free(&r->conf);
    for (size_t i = 0; i < r->ntables; i++) {
        table_free(r->tables[i]);
        free(r->tables[i]);
    }
    free(r->tables);
    free(r->poisoned);
    free(r->adv_images);
    free(r->adv_labels);
    free(r->gallery);
    free(r->activations);
    free(r);
}

ms_status run_experiment(const config *c, int argc, char **argv, ms_err *err)
{
    run *r = calloc(1, sizeof *r);
    if (!r)
        return ms_fail(err, MS_EINTERNAL, "out of memory");
    const mode_def *md = c->mode;
    r->c = c;
    r->t_start = clock_seconds();
    utc_now(r->started, sizeof r->started);
    r->threads = c->threads ? c->threads : threadpool_cpu_count();
    metrics_init(&r->mt);
    confusions_init(&r->conf);
    metrics_str(&r->mt, "mode", md->name);
    metrics_int(&r->mt, "seed", c->seed);
    metrics_int(&r->mt, "epochs", c->load ? 0 : c->epochs);
    metrics_int(&r->mt, "batch_size", c->batch_size);
    metrics_num(&r->mt, "lr", c->lr);

    ms_status s = MS_OK;
    /* Output locations first, so a bad --out fails before minutes of training. */
    size_t out_existed_len = path_existing_prefix_len(c->out_dir);
    s = path_check_output_dir("--out", c->out_dir, err);
    if (s == MS_OK)
        s = make_dirs(c->out_dir, err);
    /* An early, friendly check only; the outset re-checks at write time. */
    if (s == MS_OK && access(c->out_dir, W_OK) != 0) /* Flawfinder: ignore */
        s = ms_fail(err, MS_ECANTCREAT, "--out %s: directory is not writable", c->out_dir);
    outdir_lock_t lock = {0};
    if (s == MS_OK)
        s = outdir_lock(c->out_dir, &lock, err);
    if (s == MS_OK && c->save)
        s = path_check_writable_target("--save", c->save, err);
    if (s == MS_OK && c->save_adv)
        s = path_check_output_dir("--save-adv", c->save_adv, err);
    if (s == MS_OK && c->save_activations)
        s = path_check_writable_target("--save-activations", c->save_activations, err);

    int need_train = !c->load || md->needs_train == NEEDS_TRAIN_ALWAYS;
    if (s == MS_OK && need_train) {
        s = dataset_load(&r->train, c->data_dir, "train", c->train_limit, err);
        r->have_train = s == MS_OK;
    }
    if (s == MS_OK)
        s = dataset_load(&r->test, c->data_dir, "t10k", c->test_limit, err);
    if (s == MS_OK && !c->quiet)
        progress_done("data: %zu training, %zu test images from %s", r->train.n, r->test.n,
                      c->data_dir);
    if (s == MS_OK) {
        metrics_int(&r->mt, "train_images", r->train.n);
        metrics_int(&r->mt, "test_images", r->test.n);
        size_t cap = c->batch_size * (md->batch_factor ? md->batch_factor : 1);
        s = cnn_create(&r->m, cap > EVAL_BATCH_MIN ? cap : EVAL_BATCH_MIN, r->threads, err);
    }
    if (s == MS_OK)
        s = md->run(r, err);
    if (s == MS_OK)
        s = write_outputs(r, argc, argv, err);
    if (s == MS_OK && !c->quiet) {
        const char *acc = metrics_get(&r->mt, "clean_accuracy");
        progress_done("%s: done in %.1f s;%s%s%s results in %s", md->name,
                      clock_seconds() - r->t_start, acc ? " clean accuracy " : "",
                      acc ? acc : "", acc ? ";" : "", c->out_dir);
    }
    if (s == MS_OK && c->strict && r->checks_failed)
        s = ms_fail(err, MS_ECHECK, "--strict: %zu sanity check(s) FAILed (see %s/checks.csv)",
                    r->checks_failed, c->out_dir);
    outdir_unlock(&lock);
    if (s != MS_OK)
        dirs_remove_created(c->out_dir, out_existed_len); /* empty ones only */
    run_free(r);
    return s;
}
