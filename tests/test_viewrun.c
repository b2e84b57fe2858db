/* test_viewrun.c — the saved-run reader: paths resolved, rows read back exactly from fixture
 * CSVs (tests/fixtures/view), a cut last line, other headers, empty files, names, no writes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers_csv.h"
#include "viewrun.h"

#define FIX MPTUI_SOURCE_DIR "/tests/fixtures/view"

static view_set set;
static char tmp[64];
static char err[1024];

static void setup(void)
{
    memset(&set, 0, sizeof set);
    err[0] = 0;
    snprintf(tmp, sizeof tmp, "/tmp/mptui-viewrun-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
    viewrun_free(&set);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(viewrun, .init = setup, .fini = teardown);

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

Test(viewrun, resolves_output_dir_logging_dir_and_file)
{
    char csv[VIEW_PATH];
    cr_assert_eq(viewrun_resolve(FIX "/fp16", csv, sizeof csv, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(csv, FIX "/fp16/logs/metrics.csv");
    cr_assert_eq(viewrun_resolve(FIX "/fp16/logs/", csv, sizeof csv, err, sizeof err), 0);
    cr_assert_str_eq(csv, FIX "/fp16/logs/metrics.csv");
    cr_assert_eq(viewrun_resolve(FIX "/bf16", csv, sizeof csv, err, sizeof err), 0);
    cr_assert_str_eq(csv, FIX "/bf16/metrics.csv");
    cr_assert_eq(viewrun_resolve(FIX "/bf16/metrics.csv", csv, sizeof csv, err, sizeof err), 0);
    cr_assert_str_eq(csv, FIX "/bf16/metrics.csv");
}

Test(viewrun, missing_path_and_folder_without_metrics_are_one_line)
{
    char csv[VIEW_PATH], p[128];
    snprintf(p, sizeof p, "%s/nope", tmp);
    cr_assert_eq(viewrun_resolve(p, csv, sizeof csv, err, sizeof err), -1);
    char want[512];
    snprintf(want, sizeof want, "%s: No such file or directory (give an output dir, a logging "
             "dir or a metrics.csv)", p);
    cr_assert_str_eq(err, want);
    cr_assert_eq(viewrun_add(&set, tmp, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: no metrics.csv in it or in %s/logs (give an output dir, a "
             "logging dir or a metrics.csv)", tmp, tmp);
    cr_assert_str_eq(err, want);
    cr_assert_eq(set.n, 0);
}

Test(viewrun, reads_rows_exactly)
{
    cr_assert_eq(viewrun_add(&set, FIX "/fp16", err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 1);
    const view_run *r = &set.run[0];
    cr_assert_str_eq(r->name, "fp16");
    cr_assert_str_eq(r->precision, "fp16");
    cr_assert_str_eq(r->notice, "");
    cr_assert_eq(r->n_train, 6);
    cr_assert_eq(r->n_eval, 3);
    cr_assert_eq(r->train[0].step, 5);
    cr_assert_eq(r->train[0].loss, 5.50522661);
    cr_assert_eq(r->train[0].time_s, 5.064080028998433);
    cr_assert_eq(r->train[0].loss_scale, 65536);
    cr_assert_eq(r->train[0].overflow, 0);
    cr_assert_eq(r->train[0].overflow_total, 0);
    cr_assert_eq(r->train[0].precision, DT_F16);
    cr_assert(isnan(r->train[0].eval_loss));
    cr_assert_eq(r->eval[2].step, 30);
    cr_assert_eq(r->eval[2].eval_loss, 4.14874443);
    cr_assert_eq(r->eval[2].eval_ppl, 63.3544043);
    cr_assert(isnan(r->eval[2].loss));
    /* layers.csv: the 70 rows of step 30 (8 x 2 + 5 layers: 21 act, 40 grad, 9 weight grad) */
    cr_assert_eq(r->layers_step, 30);
    cr_assert_eq(r->n_layers, 70);
    cr_assert_str_eq(r->layers[69].layer, "loss");
    cr_assert_str_eq(r->layers[69].tensor, "activation");
    cr_assert_eq(r->layers[69].dtype, DT_F32);
    cr_assert_eq(r->layers[69].amax, 5.78889561);
    cr_assert_eq(r->layers[68].amax, 13312.7295);
    /* the fixture predates FP8 (ten columns): no casts, no scales */
    cr_assert_eq(r->layers[68].fp8_format, -1);
    cr_assert(isnan(r->layers[68].scale) && isnan(r->layers[68].amax_history_max));
    cr_assert_eq(r->cmp_step, -1);
}

/* layers.csv with FP8 casts: e4m3 / e5m2 rows read as DT_FP8 with their format, scale and
 * history max; files of either header open; a row of the other width or an unknown format
 * leaves the file out with one line. */
Test(viewrun, layers_csv_fp8_casts_and_both_headers)
{
    char p[128], l[128], text[1024];
    snprintf(p, sizeof p, "%s/metrics.csv", tmp);
    snprintf(text, sizeof text, "%s\n10,0.1,1,train,fp8,2.5,,,,0,0,,,,\n", metrics_csv_header());
    write_text(p, text);
    snprintf(l, sizeof l, "%s/layers.csv", tmp);
    snprintf(text, sizeof text, "%s\n"
             "10,fp8,h.0.attn.c_attn,activation,bf16,4,0,0,12,0,,\n"
             "10,fp8,h.0.attn.c_attn,fp8_input,e4m3,4,2,3,12,0,0.125,4\n"
             "10,fp8,h.0.attn.c_attn,fp8_grad,e5m2,0.00390625,25,0,22,1,1048576,0.00390625\n"
             "10,fp8,h.0.mlp.c_fc,fp8_weight,e4m3,0.5,0,0,11,0,,\n",
             layers_csv_header());
    write_text(l, text);
    cr_assert_eq(viewrun_add(&set, p, err, sizeof err), 0, "%s", err);
    const view_run *r = &set.run[0];
    cr_assert_str_eq(r->notice, "");
    cr_assert_eq(r->train[0].precision, DT_FP8);
    cr_assert_eq(r->n_layers, 4);
    cr_assert_eq(r->layers[0].dtype, DT_BF16);
    cr_assert_eq(r->layers[0].fp8_format, -1);
    cr_assert(isnan(r->layers[0].scale));
    cr_assert_str_eq(r->layers[1].tensor, "fp8_input");
    cr_assert_eq(r->layers[1].dtype, DT_FP8);
    cr_assert_eq(r->layers[1].fp8_format, FP8_E4M3);
    cr_assert_eq(r->layers[1].overflow_count, 3);
    cr_assert_eq(r->layers[1].scale, 0.125);
    cr_assert_eq(r->layers[1].amax_history_max, 4);
    cr_assert_eq(r->layers[2].fp8_format, FP8_E5M2);
    cr_assert_eq(r->layers[2].scale, 1048576);
    cr_assert_eq(r->layers[2].nonfinite_count, 1);
    cr_assert(isnan(r->layers[3].scale), "MXFP8 / no state: empty scale");
    viewrun_free(&set);
    memset(&set, 0, sizeof set);
    /* the header of an earlier version: ten cells a row */
    snprintf(text, sizeof text, "%s\n10,bf16,wte,activation,fp32,1.5,0,0,3,0\n",
             layers_csv_header_v1());
    write_text(l, text);
    cr_assert_eq(viewrun_add(&set, p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.run[0].n_layers, 1);
    cr_assert_eq(set.run[0].layers[0].amax, 1.5);
    cr_assert(isnan(set.run[0].layers[0].amax_history_max));
    viewrun_free(&set);
    memset(&set, 0, sizeof set);
    /* rows that do not fit their header, or a format mptui does not write */
    static const char *const bad[][2] = {
        {"new", "10,fp8,wte,activation,fp32,1.5,0,0,3,0\n"},
        {"v1", "10,fp8,wte,activation,fp32,1.5,0,0,3,0,,\n"},
        {"new", "10,fp8,h.0.mlp.c_fc,fp8_input,e3m4,0.5,0,0,11,0,1,2\n"},
        {"new", "10,fp8,h.0.mlp.c_fc,fp8_input,e4m3,0.5,0,0,11,0,big,2\n"},
        {"new", "10,fp8,h.0.mlp.c_fc,fp8_input,e4m3,0.5,0,0,11,0,1,-\n"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(text, sizeof text, "%s\n%s",
                 strcmp(bad[k][0], "v1") ? layers_csv_header() : layers_csv_header_v1(), bad[k][1]);
        write_text(l, text);
        cr_assert_eq(viewrun_add(&set, p, err, sizeof err), 0, "%s", err);
        char want[256];
        snprintf(want, sizeof want, "%s:2: not a layers.csv row mptui writes (left out)", l);
        cr_assert_str_eq(set.run[0].notice, want, "case %zu", k);
        cr_assert_eq(set.run[0].n_layers, 0);
        viewrun_free(&set);
        memset(&set, 0, sizeof set);
    }
}

Test(viewrun, truncated_last_line_keeps_complete_rows)
{
    cr_assert_eq(viewrun_add(&set, FIX "/bf16/metrics.csv", err, sizeof err), 0, "%s", err);
    const view_run *r = &set.run[0];
    cr_assert_eq(r->n_train, 6);
    cr_assert_eq(r->n_eval, 3);
    cr_assert_eq(r->train[5].loss, 4.16253891);
    cr_assert_str_eq(r->name, "bf16");
    cr_assert_str_eq(r->precision, "bf16");
    cr_assert_str_eq(r->notice, FIX "/bf16/metrics.csv: the last line is incomplete (a run "
                     "stopped mid-write?); showing the 9 complete rows");
    cr_assert_eq(r->n_layers, 0);
    cr_assert_eq(r->layers_step, -1);
}

Test(viewrun, comparison_splits_into_replicas_with_divergence)
{
    cr_assert_eq(viewrun_add(&set, FIX "/cmp", err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 2);
    cr_assert_str_eq(set.run[0].name, "cmp:fp16");
    cr_assert_str_eq(set.run[1].name, "cmp:bf16");
    cr_assert_str_eq(set.run[1].precision, "bf16");
    cr_assert_eq(set.run[1].n_train, 2);
    cr_assert_eq(set.run[1].n_eval, 1);
    cr_assert_eq(set.run[1].train[0].loss, 5.53906336);
    cr_assert_eq(set.run[1].eval[0].eval_loss, 5.47063925);
    for (int i = 0; i < 2; i++) {
        const view_run *r = &set.run[i];
        cr_assert_eq(r->cmp_step, 10);
        cr_assert_eq(r->n_pairs, 1);
        cr_assert_str_eq(r->pairs[0].a, "fp16");
        cr_assert_str_eq(r->pairs[0].b, "bf16");
        cr_assert_eq(r->layers_step, 10);
        for (size_t k = 0; k < r->n_layers; k++) cr_assert_str_eq(r->layers[k].replica, r->replica);
        cr_assert_gt(r->n_layers, 0);
    }
    /* the "all" row and the lowest module cosine of step 10, from compare.csv */
    FILE *f = fopen(FIX "/cmp/logs/compare.csv", "r");
    cr_assert_not_null(f);
    char line[256], minl[48] = "";
    double all_diff = NAN, all_cos = NAN, mn = INFINITY;
    while (fgets(line, sizeof line, f)) {
        char layer[48];
        double ld, cos, l2;
        if (strncmp(line, "10,", 3)) continue;
        if (sscanf(line, "10,fp16,bf16,all,%*[^,],%*[^,],%lf,%lf,%lf", &ld, &l2, &cos) == 3)
            all_diff = ld, all_cos = cos;
        else if (sscanf(line, "10,fp16,bf16,%47[^,],,,,%lf,%lf", layer, &l2, &cos) == 3 && cos < mn)
            mn = cos, snprintf(minl, sizeof minl, "%s", layer);
    }
    fclose(f);
    const view_pair *p = &set.run[0].pairs[0];
    cr_assert_eq(p->loss_diff, all_diff);
    cr_assert_eq(p->grad_cos, all_cos);
    cr_assert_eq(p->cos_min, mn);
    cr_assert_str_eq(p->cos_min_layer, minl);
}

Test(viewrun, other_header_and_empty_file_are_refused)
{
    cr_assert_eq(viewrun_add(&set, FIX "/other", err, sizeof err), -1);
    cr_assert_str_eq(err, FIX "/other/metrics.csv: not a metrics.csv mptui writes: its header "
                     "starts 'step,loss,...' (expected step,epoch,time_s,kind,precision,loss,lr,"
                     "grad_norm,loss_scale,overflow,overflow_total,tokens_per_s,eval_loss,"
                     "eval_ppl,replica)");
    cr_assert_eq(viewrun_add(&set, FIX "/empty", err, sizeof err), -1);
    cr_assert_str_eq(err, FIX "/empty/metrics.csv: empty file (no header; has the run logged a "
                     "step yet?)");
    cr_assert_eq(set.n, 0);
}

Test(viewrun, bad_cell_names_line_and_column)
{
    char p[128], text[512];
    snprintf(p, sizeof p, "%s/metrics.csv", tmp);
    snprintf(text, sizeof text, "%s\n5,0.1,1,train,fp16,abc,,,,,,,,,\n", metrics_csv_header());
    write_text(p, text);
    cr_assert_eq(viewrun_add(&set, p, err, sizeof err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s:2: column 'loss' holds 'abc', which mptui does not write", p);
    cr_assert_str_eq(err, want);
    snprintf(text, sizeof text, "%s\n5,0.1,1,train,fp16,2.5\n", metrics_csv_header());
    write_text(p, text);
    cr_assert_eq(viewrun_add(&set, p, err, sizeof err), -1);
    cr_assert(strstr(err, ":2: 6 cells, expected 15"), "%s", err);
}

Test(viewrun, parse_is_incremental_over_complete_lines)
{
    view_run r;
    memset(&r, 0, sizeof r);
    char text[512];
    int n = snprintf(text, sizeof text, "%s\n5,0.1,1,train,fp16,2.5,,,,0,0,,,,\n10,0.2,2,tr",
                     metrics_csv_header());
    int hd = 0;
    ssize_t used = viewrun_parse_metrics(&r, text, (size_t)n, &hd, "m", err, sizeof err);
    cr_assert_eq(used, (ssize_t)(strchr(strchr(text, '\n') + 1, '\n') + 1 - text));
    cr_assert_eq(hd, 1);
    cr_assert_eq(r.n_train, 1);
    const char *rest = "10,0.2,2,train,fp16,2.25,,,,1,1,,,,\n10,0.2,3,eval,fp16,,,,,,,,2.1,8.2,\n";
    used = viewrun_parse_metrics(&r, rest, strlen(rest), &hd, "m", err, sizeof err);
    cr_assert_eq(used, (ssize_t)strlen(rest));
    cr_assert_eq(r.n_train, 2);
    cr_assert_eq(r.n_eval, 1);
    cr_assert_eq(r.train[1].loss, 2.25);
    cr_assert_eq(r.train[1].overflow, 1);
    cr_assert_eq(r.eval[0].eval_ppl, 8.2);
    free(r.train);
    free(r.eval);
}

Test(viewrun, names_equal_folders_apart)
{
    char a[128], b[128], text[256];
    snprintf(text, sizeof text, "%s\n", metrics_csv_header());
    snprintf(a, sizeof a, "%s/a", tmp);
    mkdir(a, 0755);
    snprintf(a, sizeof a, "%s/a/run", tmp);
    mkdir(a, 0755);
    snprintf(b, sizeof b, "%s/b", tmp);
    mkdir(b, 0755);
    snprintf(b, sizeof b, "%s/b/run", tmp);
    mkdir(b, 0755);
    char f[160];
    snprintf(f, sizeof f, "%s/metrics.csv", a);
    write_text(f, text);
    snprintf(f, sizeof f, "%s/metrics.csv", b);
    write_text(f, text);
    cr_assert_eq(viewrun_add(&set, a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(viewrun_add(&set, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(viewrun_add(&set, a, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(set.run[0].name, "a/run");
    cr_assert_str_eq(set.run[1].name, "b/run");
    cr_assert_str_eq(set.run[2].name, "a/run#2");
    cr_assert_str_eq(set.run[0].precision, "-");
    cr_assert_eq(set.run[0].n_train, 0);
}

Test(viewrun, at_most_eight_runs)
{
    for (int i = 0; i < 6; i++) cr_assert_eq(viewrun_add(&set, FIX "/fp16", err, sizeof err), 0);
    cr_assert_eq(viewrun_add(&set, FIX "/cmp", err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 8);
    cr_assert_eq(viewrun_add(&set, FIX "/bf16", err, sizeof err), -1);
    cr_assert_str_eq(err, FIX "/bf16: more than 8 runs in all (a comparison counts one per "
                     "replica); give fewer paths");
    cr_assert_str_eq(set.run[5].name, "fp16#6");
}

Test(viewrun, never_writes)
{
    struct stat d0, d1, f0, f1;
    cr_assert_eq(stat(FIX "/bf16", &d0), 0);
    cr_assert_eq(stat(FIX "/bf16/metrics.csv", &f0), 0);
    cr_assert_eq(viewrun_add(&set, FIX "/bf16", err, sizeof err), 0);
    cr_assert_eq(stat(FIX "/bf16", &d1), 0);
    cr_assert_eq(stat(FIX "/bf16/metrics.csv", &f1), 0);
    cr_assert_eq(f0.st_size, f1.st_size); /* the cut line stays in the file */
    cr_assert_eq(f0.st_mtim.tv_sec, f1.st_mtim.tv_sec);
    cr_assert_eq(f0.st_mtim.tv_nsec, f1.st_mtim.tv_nsec);
    cr_assert_eq(d0.st_mtim.tv_nsec, d1.st_mtim.tv_nsec);
    cr_assert_eq(d0.st_nlink, d1.st_nlink);
}

static void append_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

Test(viewrun, follow_reads_appended_rows_replicas_side_files_and_rewrites)
{
    char p[128], l[128], text[512];
    snprintf(p, sizeof p, "%s/metrics.csv", tmp);
    snprintf(text, sizeof text, "%s\n5,0.1,1,train,fp16,2.5,,,,0,0,,,,\n10,0.2,2,tra",
             metrics_csv_header());
    write_text(p, text);
    cr_assert_eq(viewrun_add(&set, p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.run[0].n_train, 1);
    cr_assert_neq(set.run[0].notice[0], 0);
    cr_assert_eq(viewrun_refresh(&set, err, sizeof err), 0, "nothing new");
    /* the cut line completes, an eval row follows */
    append_text(p, "in,fp16,2.25,,,,0,0,,,,\n10,0.2,3,eval,fp16,,,,,,,,2.1,8.2,\n");
    cr_assert_eq(viewrun_refresh(&set, err, sizeof err), 1, "%s", err);
    cr_assert_eq(set.run[0].n_train, 2);
    cr_assert_eq(set.run[0].train[1].loss, 2.25);
    cr_assert_eq(set.run[0].n_eval, 1);
    cr_assert_str_eq(set.run[0].notice, "");
    /* a comparison starts: its replica becomes a run of its own */
    append_text(p, "15,0.3,4,train,bf16,2,,,,0,0,,,,bf16\n");
    cr_assert_eq(viewrun_refresh(&set, err, sizeof err), 1, "%s", err);
    cr_assert_eq(set.n, 2);
    cr_assert(strstr(set.run[1].name, ":bf16"), "%s", set.run[1].name);
    cr_assert_str_eq(set.run[1].precision, "bf16");
    cr_assert_eq(set.run[1].train[0].loss, 2);
    cr_assert_eq(set.run[0].n_train, 2);
    /* layers.csv appears */
    snprintf(l, sizeof l, "%s/layers.csv", tmp);
    snprintf(text, sizeof text, "%s\n15,fp16,wte,activation,fp32,1.5,0,0,3,0,,\n", layers_csv_header());
    write_text(l, text);
    cr_assert_eq(viewrun_refresh(&set, err, sizeof err), 1, "%s", err);
    cr_assert_eq(set.run[0].n_layers, 1);
    cr_assert_eq(set.run[0].layers[0].amax, 1.5);
    cr_assert_eq(set.run[1].n_layers, 0, "no bf16 rows in layers.csv");
    /* a resume rewrote metrics.csv shorter: read again from the start */
    snprintf(text, sizeof text, "%s\n5,0.1,1,train,fp16,2.5,,,,0,0,,,,\n", metrics_csv_header());
    write_text(p, text);
    cr_assert_eq(viewrun_refresh(&set, err, sizeof err), 1, "%s", err);
    cr_assert_eq(set.run[0].n_train, 1);
    cr_assert_eq(set.run[0].n_eval, 0);
    cr_assert_eq(set.run[1].n_train, 0);
    /* a bad appended row: one line, the rows stay */
    append_text(p, "20,0.4,5,train,fp16,oops,,,,0,0,,,,\n");
    cr_assert_eq(viewrun_refresh(&set, err, sizeof err), -1);
    cr_assert(strstr(err, "column 'loss' holds 'oops'"), "%s", err);
    cr_assert_eq(set.run[0].n_train, 1);
}
