/* test_viewout.c — `mptui view --summary` / `--plot` output from fixture runs: the figures,
 * the table's exact lines, and the SVG's series (a polyline per run, eval dots, legend). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "viewout.h"

#define FIX MPTUI_SOURCE_DIR "/tests/fixtures/view"

static view_set set;
static char err[1024];
static char tmp[64];

static void setup(void)
{
    memset(&set, 0, sizeof set);
    snprintf(tmp, sizeof tmp, "/tmp/mptui-viewout-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    cr_assert_eq(viewrun_add(&set, FIX "/fp16", err, sizeof err), 0, "%s", err);
    cr_assert_eq(viewrun_add(&set, FIX "/bf16", err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    viewrun_free(&set);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(viewout, .init = setup, .fini = teardown);

Test(viewout, stats_of_a_run)
{
    view_stats st;
    viewout_stats(&set.run[0], &st);
    cr_assert_eq(st.steps, 30);
    cr_assert_eq(st.final_loss, 4.16260777);
    cr_assert_eq(st.best_loss, 4.16260777);
    cr_assert_eq(st.best_step, 30);
    cr_assert_eq(st.eval_loss, 4.14874443);
    cr_assert_eq(st.eval_ppl, 63.3544043);
    cr_assert_eq(st.eval_step, 30);
    cr_assert_eq(st.overflow_steps, 0);
    double tok = (505.521332 + 508.373977 + 509.517415 + 508.325396 + 509.513735 + 508.33779) / 6;
    cr_assert_float_eq(st.tokens_per_s, tok, 1e-9);
    cr_assert_eq(st.wall_s, 69.02361382299569);
}

Test(viewout, stats_without_rows_are_empty)
{
    view_run r;
    memset(&r, 0, sizeof r);
    view_stats st;
    viewout_stats(&r, &st);
    cr_assert_eq(st.steps, -1);
    cr_assert_eq(st.overflow_steps, -1);
    cr_assert(isnan(st.final_loss) && isnan(st.eval_loss) && isnan(st.wall_s));
}

Test(viewout, summary_table_lines)
{
    char buf[4096];
    size_t n = viewout_summary(&set, buf, sizeof buf);
    cr_assert_eq(n, strlen(buf));
    const char *want =
        "run   precision  steps  final_loss  best_loss  best_step  eval_loss  eval_ppl  eval_step  overflow_steps  tokens_per_s  wall_s\n"
        "fp16  fp16          30      4.1626     4.1626         30     4.1487     63.35         30               0           508    69.0\n"
        "bf16  bf16          30      4.1625     4.1625         30     4.1488     63.36         30               0          2181    45.8\n";
    cr_assert_str_eq(buf, want);
    char small[16];
    cr_assert_eq(viewout_summary(&set, small, sizeof small), n);
    cr_assert_lt(strlen(small), sizeof small); /* whole pieces that fit: a prefix */
    cr_assert_eq(strncmp(small, want, strlen(small)), 0);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Points in the polyline of run `name`. */
static int polyline_points(const char *svg, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "<polyline class=\"train\" data-run=\"%s\"", name);
    const char *p = strstr(svg, key);
    if (!p) return -1;
    p = strstr(p, "points=\"") + 8;
    int n = 1;
    for (; *p != '"'; p++) n += *p == ' ';
    return n;
}

/* Circles in the eval group of run `name`. */
static int eval_dots(const char *svg, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "<g class=\"eval\" data-run=\"%s\"", name);
    const char *p = strstr(svg, key);
    if (!p) return -1;
    const char *end = strstr(p, "</g>");
    int n = 0;
    for (const char *q = p; (q = strstr(q, "<circle")) && q < end; q++) n++;
    return n;
}

static char *render(void)
{
    static char buf[1 << 16];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cr_assert_not_null(f);
    cr_assert_eq(viewout_svg(&set, f), 0);
    cr_assert_eq(fclose(f), 0);
    return buf;
}

Test(viewout, svg_has_a_series_per_run)
{
    char *svg = render();
    cr_assert(strncmp(svg, "<?xml", 5) == 0);
    cr_assert(strstr(svg, "</svg>\n"));
    cr_assert_eq(count(svg, "<polyline class=\"train\""), 2);
    cr_assert_eq(polyline_points(svg, "fp16"), 6);
    cr_assert_eq(polyline_points(svg, "bf16"), 6);
    cr_assert_eq(eval_dots(svg, "fp16"), 3);
    cr_assert_eq(eval_dots(svg, "bf16"), 3);
    cr_assert(strstr(svg, ">fp16 (fp16)</text>"));
    cr_assert(strstr(svg, ">bf16 (bf16)</text>"));
    cr_assert(strstr(svg, "stroke=\"#1f77b4\""), "run 0 colour");
    cr_assert(strstr(svg, "stroke=\"#ff7f0e\""), "run 1 colour");
    /* steps 5..30 on ticks of 5; losses 4.14..5.51 on ticks of 0.2 from 4 to 5.6 */
    cr_assert(strstr(svg, "<text class=\"tick\" x=\"70.0\" y=\"496\">5</text>"));
    cr_assert(strstr(svg, "<text class=\"tick\" x=\"710.0\" y=\"496\">30</text>"));
    cr_assert(strstr(svg, "<text class=\"tick\" x=\"64\" y=\"484.0\">4</text>"));
    cr_assert(strstr(svg, "<text class=\"tick\" x=\"64\" y=\"44.0\">5.6</text>"));
    /* the first point: step 5 at the left edge, loss 5.50522661 on the 4..5.6 axis */
    char first[64];
    snprintf(first, sizeof first, "points=\"70.0,%.1f ", 40 + 440 - (5.50522661 - 4) / 1.6 * 440);
    cr_assert(strstr(svg, first), "%s", first);
}

Test(viewout, svg_escapes_names)
{
    snprintf(set.run[0].name, sizeof set.run[0].name, "a<b&\"c\"");
    char *svg = render();
    cr_assert(strstr(svg, "data-run=\"a&lt;b&amp;&quot;c&quot;\""));
    cr_assert_null(strstr(svg, "a<b"));
}

Test(viewout, write_svg_atomically_and_errors)
{
    char p[128];
    snprintf(p, sizeof p, "%s/plot.svg", tmp);
    cr_assert_eq(viewout_write_svg(&set, p, err, sizeof err), 0, "%s", err);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    cr_assert_str_eq(buf, render());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", tmp);
    cr_assert_eq(system(cmd), 0, "only plot.svg is left");
    snprintf(p, sizeof p, "%s/no/plot.svg", tmp);
    cr_assert_eq(viewout_write_svg(&set, p, err, sizeof err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot write the plot: No such file or directory", p);
    cr_assert_str_eq(err, want);
}

Test(viewout, svg_without_losses_says_so)
{
    viewrun_free(&set);
    set.n = 1;
    snprintf(set.run[0].name, sizeof set.run[0].name, "x");
    snprintf(set.run[0].precision, sizeof set.run[0].precision, "-");
    char *svg = render();
    cr_assert_eq(count(svg, "<polyline"), 0);
    cr_assert(strstr(svg, "no losses logged yet"));
    cr_assert(strstr(svg, ">x (-)</text>"));
}
