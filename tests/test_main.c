/* Tests for src/main.c: the mptui binary as a user runs it — exit codes, one-line messages
 * for bad input, headless output, and the manual_loop example. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_deadline.h"

static char dir[64];

static void mk(void)
{
    snprintf(dir, sizeof dir, "/tmp/mptui-main-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    test_deadline(120);
}

static void rm(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(main, .init = mk, .fini = rm);

static const char *bin(void)
{
    const char *b = getenv("MPTUI_BIN");
    cr_assert_not_null(b, "MPTUI_BIN is not set (run through make test)");
    return b;
}

typedef struct { int code; char out[8192], err[4096]; } result;

/* Runs `mptui ARGS` with stdout/stderr captured (stdout is a file: not a terminal). */
static void run(result *r, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >out.txt 2>err.txt </dev/null", dir, bin(), args);
    int st = system(cmd);
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char path[128];
    const char *names[2] = {"out.txt", "err.txt"};
    char *dst[2] = {r->out, r->err};
    size_t cap[2] = {sizeof r->out, sizeof r->err};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(dst[i], 1, cap[i] - 1, f) : 0;
        dst[i][n] = 0;
        if (f) fclose(f);
    }
}

static void write_file(const char *name, const void *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* One line on stderr, naming what; nonzero exit; no crash (exit codes >= 128 are signals). */
static void expect_one_line(const char *args, int code, const char *needle)
{
    result r;
    run(&r, args);
    cr_assert_eq(r.code, code, "%s: exit %d, stderr: %s", args, r.code, r.err);
    cr_assert_eq(lines(r.err), 1, "%s: want one line, got: %s", args, r.err);
    cr_assert(strstr(r.err, needle) != NULL, "%s: '%s' not in: %s", args, needle, r.err);
}

#define H "--headless --device cpu --max_steps 2 "

Test(main, missing_data_file) { expect_one_line(H "--data nope.txt", 1, "nope.txt"); }

Test(main, empty_data_file)
{
    write_file("empty.txt", "", 0);
    expect_one_line(H "--data empty.txt", 1, "empty.txt");
}

Test(main, unreadable_data_file) { expect_one_line(H "--data /", 1, "/"); }

Test(main, text_shorter_than_one_window)
{
    write_file("short.txt", "hello world", 11);
    expect_one_line(H "--data short.txt", 1, "short.txt");
}

Test(main, bin_with_wrong_magic)
{
    int32_t hdr[256] = {12345, 1, 4};
    write_file("bad.bin", hdr, sizeof hdr);
    expect_one_line(H "--data bad.bin", 1, "magic");
}

Test(main, bin_truncated_body)
{
    int32_t hdr[256] = {20240520, 1, 100000};
    uint16_t toks[10] = {0};
    char buf[sizeof hdr + sizeof toks];
    memcpy(buf, hdr, sizeof hdr);
    memcpy(buf + sizeof hdr, toks, sizeof toks);
    write_file("trunc.bin", buf, sizeof buf);
    expect_one_line(H "--data trunc.bin", 1, "trunc.bin");
}

Test(main, n_embd_not_divisible_by_n_head) { expect_one_line(H "--n_embd 100 --n_head 3", 2, "n_head"); }
Test(main, zero_batch_size) { expect_one_line(H "--per_device_train_batch_size 0", 2, "per_device_train_batch_size"); }
Test(main, unknown_option) { expect_one_line("--frobnicate 3", 2, "--frobnicate"); }
Test(main, malformed_number) { expect_one_line("--max_steps ten", 2, "--max_steps"); }
Test(main, bad_compare_lists)
{
    expect_one_line(H "--compare fp16", 2, "--compare: 'fp16' needs two or more modes");
    expect_one_line(H "--compare fp16,int8", 2, "'int8' is not one of fp32, fp16, bf16");
    expect_one_line(H "--compare bf16,bf16", 2, "'bf16' given twice");
    expect_one_line(H "--compare ,", 2, "--compare");
}

Test(main, screen_without_terminal_points_to_headless)
{
    expect_one_line("--max_steps 2", 1, "--headless");
}

Test(main, help_and_version)
{
    result r;
    run(&r, "--help");
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "--per_device_train_batch_size") != NULL);
    cr_assert(strstr(r.out, "--headless") != NULL);
    run(&r, "--version");
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "mptui") != NULL, "%s", r.out);
}

Test(main, headless_run_prints_steps_and_writes_csv)
{
    result r;
    run(&r, "--headless --device cpu --n_layer 1 --n_embd 32 --n_head 2 --block_size 32 "
            "--per_device_train_batch_size 4 --max_steps 6 --logging_steps 3 --eval_steps 6 "
            "--save_strategy no --output_dir out");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "step      3/6") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "eval @6") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "done: 6/6 steps") != NULL, "%s", r.out);
    char path[128], line[512];
    snprintf(path, sizeof path, "%s/out/logs/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f)) n++;
    fclose(f);
    cr_assert_eq(n, 1 + 2 + 1, "header + 2 train rows + 1 eval row, got %d lines", n);
}

Test(main, manual_loop_example_trains)
{
    const char *ex = getenv("MPTUI_EXAMPLES");
    cr_assert_not_null(ex);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/manual_loop' fp16 40 >'%s/ml.txt' 2>&1", ex, dir);
    int st = system(cmd);
    char path[128], buf[4096] = "";
    snprintf(path, sizeof path, "%s/ml.txt", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        buf[fread(buf, 1, sizeof buf - 1, f)] = 0;
        fclose(f);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "manual_loop failed: %s", buf);
    cr_assert(strstr(buf, "fp16: loss") != NULL, "%s", buf);
}

/* ---- issue 11: bad option combinations exit 2, limits, NaN, notices ---- */

#define TINY "--headless --device cpu --n_layer 1 --n_embd 32 --n_head 2 --block_size 32 " \
             "--per_device_train_batch_size 4 --sample_length 0 --output_dir out "

Test(main, option_conflicts_and_limits_exit_2)
{
    expect_one_line(H "--override nothing_like_this=fp32", 2,
                    "mptui: --override 'nothing_like_this': no layer of this model matches");
    expect_one_line(H "--resume_from_checkpoint latest --init_from x", 2,
                    "--resume_from_checkpoint and --init_from both given");
    write_file("a.cfg", "max_steps = 1\n", 14);
    expect_one_line(H "--config a.cfg --config a.cfg", 2, "--config: a second config file");
    expect_one_line(H "--init_scale 1e39", 2, "--init_scale: '1e39' must be in (0, ");
    expect_one_line(H "--loss_scale 1e39", 2, "--loss_scale: '1e39' is beyond the fp32 range");
    expect_one_line(H "--evaluation_strategy sometimes", 2,
                    "--evaluation_strategy: 'sometimes' is not one of no, steps, epoch");
}

Test(main, epochs_overflowing_the_step_count_are_one_line)
{
    expect_one_line("--headless --device cpu --max_steps -1 --num_train_epochs 1e300", 1,
                    "--num_train_epochs 1e+300 at ");
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

Test(main, nan_loss_without_a_scaler_exits_1_and_says_so_once)
{
    result r;
    run(&r, TINY "--precision fp32 --learning_rate 1e30 --warmup_steps 0 --max_steps 8 "
                 "--logging_steps 1 --save_strategy no");
    cr_assert_eq(r.code, 1, "exit %d\n%s%s", r.code, r.out, r.err);
    cr_assert_eq(lines(r.err), 1, "%s", r.err);
    cr_assert(strstr(r.err, "mptui: loss is nan at step ") == r.err, "%s", r.err);
    cr_assert(strstr(r.err, "(fp32, no loss scaling): stopped before its optimizer step, the "
                            "state is step ") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "; --on_nan continue trains on\n") != NULL, "%s", r.err);
    cr_assert_eq(count(r.out, "loss is nan") + count(r.err, "loss is nan"), 1, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "done: ") != NULL, "the summary is still printed: %s", r.out);
    run(&r, TINY "--precision fp32 --learning_rate 1e30 --warmup_steps 0 --max_steps 8 "
                 "--logging_steps 1 --save_strategy no --on_nan continue");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "norm     nan") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "-nan") == NULL, "%s", r.out);
}

Test(main, vocab_size_with_text_is_a_notice)
{
    result r;
    run(&r, TINY "--max_steps 1 --save_strategy no --vocab_size 300");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "--vocab_size 300 is ignored: mptui-corpus.txt is text, read as "
                            "bytes (vocabulary 256)\n") == r.out, "%s", r.out);
    cr_assert_str_eq(r.err, "");
}

Test(main, explicit_precision_beats_a_resumed_checkpoint_and_says_so)
{
    result r;
    run(&r, TINY "--max_steps 2 --save_steps 2 --fp16");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run(&r, TINY "--max_steps 3 --save_steps 3 --resume_from_checkpoint latest --bf16");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "precision from the command line (bf16) overrides the "
                            "checkpoint's fp16\n") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "step      3/3 |") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "| bf16\n") != NULL, "%s", r.out);
    run(&r, TINY "--max_steps 4 --save_steps 4 --resume_from_checkpoint latest");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "overrides") == NULL, "no flag, the checkpoint's mode: %s", r.out);
    cr_assert(strstr(r.out, "| bf16\n") != NULL, "%s", r.out);
}

/* ---- issue 16: FP8 ---- */

static void read_text_file(const char *name, char *buf, size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* The train rows of metrics.csv from step 'from' on, without the columns that measure time
 * (time_s, the third, and tokens_per_s onwards). */
static void rows_without_time(const char *csv, int64_t from, char *out, size_t cap)
{
    out[0] = 0;
    for (const char *l = csv; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        long long step = atoll(l);
        if (step >= from && strstr(l, ",train,") && n < 512) {
            char line[512];
            memcpy(line, l, n);
            line[n] = 0;
            char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
            char *c3 = c2 ? strchr(c2 + 1, ',') : NULL, *cut = c3;
            for (int k = 0; cut && k < 8; k++) cut = strchr(cut + 1, ',');
            if (cut) *cut = 0; /* ends after overflow_total */
            if (c3) {
                memmove(c2, c3, strlen(c3) + 1);
                strncat(out, line, cap - strlen(out) - 2);
                strncat(out, "\n", cap - strlen(out) - 1);
            }
        }
        l += n + (e != NULL);
    }
}

/* A delayed-scaling run stopped at a checkpoint resumes bit for bit: fp8_state.bin brings the
 * scales and histories back; without it the run differs; a damaged one is one line. */
Test(main, fp8_resume_is_exact_and_needs_its_state)
{
#define F8 TINY "--precision fp8 --fp8_amax_history_len 3 --logging_steps 1 --save_steps 3 "
    result r;
    run(&r, F8 "--max_steps 6 --output_dir a");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run(&r, F8 "--max_steps 3 --output_dir b");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(system("true"), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd '%s' && test -s b/checkpoint-3/fp8_state.bin && "
             "cp -r b c && rm c/checkpoint-3/fp8_state.bin && cp -r b d && "
             "printf garbage > d/checkpoint-3/fp8_state.bin", dir);
    cr_assert_eq(system(cmd), 0, "the checkpoint holds fp8_state.bin");
    run(&r, F8 "--max_steps 6 --output_dir b --resume_from_checkpoint latest");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run(&r, F8 "--max_steps 6 --output_dir c --resume_from_checkpoint latest");
    cr_assert_eq(r.code, 0, "%s", r.err);
    static char ta[16384], tb[16384], tc[16384], ra[8192], rb[8192], rc[8192];
    read_text_file("a/logs/metrics.csv", ta, sizeof ta);
    read_text_file("b/logs/metrics.csv", tb, sizeof tb);
    read_text_file("c/logs/metrics.csv", tc, sizeof tc);
    rows_without_time(ta, 4, ra, sizeof ra);
    rows_without_time(tb, 4, rb, sizeof rb);
    rows_without_time(tc, 4, rc, sizeof rc);
    cr_assert(strlen(ra) > 0 && strstr(ra, ",fp8,"), "%s", ta);
    cr_assert_str_eq(rb, ra, "resumed with its fp8 state: the same steps 4-6");
    cr_assert_str_neq(rc, ra, "fresh scales at step 4 change the run");
    expect_one_line(F8 "--max_steps 6 --output_dir d --resume_from_checkpoint latest", 1,
                    "d/checkpoint-3/fp8_state.bin: fp8 state: not an mptui fp8 state (7 bytes) "
                    "(remove the file to resume with fresh fp8 scales)");
#undef F8
}

/* The fp8 rows of layers.csv: each Linear's three casts with their scale and history max. */
Test(main, fp8_run_logs_its_casts)
{
    result r;
    run(&r, TINY "--precision fp8 --max_steps 2 --logging_steps 2 --save_strategy no "
                 "--fp8_format e4m3 --override lm_head=bf16");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "| fp8\n") != NULL, "%s", r.out);
    static char csv[1 << 17];
    read_text_file("out/logs/layers.csv", csv, sizeof csv);
    cr_assert(strstr(csv, ",scale,amax_history_max\n") != NULL, "header: %.200s", csv);
    cr_assert(strstr(csv, "2,fp8,h.0.mlp.c_fc,fp8_input,e4m3,") != NULL, "%.2000s", csv);
    cr_assert(strstr(csv, "2,fp8,h.0.mlp.c_fc,fp8_grad,e4m3,") != NULL, "e4m3 everywhere");
    cr_assert(strstr(csv, "lm_head,fp8_") == NULL, "lm_head overridden to bf16");
}

/* ---- issue 13: the memory plan, checked before anything large is allocated ---- */

Test(main, memory_refusal_is_one_line_exit_2)
{
    expect_one_line(H "--n_embd 65536 --n_head 4", 2,
                    "mptui: memory: a 4L/4H/65536d model at batch 16 x 128 in fp16 needs ");
    result r;
    run(&r, H "--n_embd 65536 --n_head 4");
    cr_assert(strstr(r.err, " available; even batch 1 needs ") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "use a smaller model (--n_layer, --n_embd), a shorter --block_size, "
                            "or free memory") != NULL, "%s", r.err);
    cr_assert_str_eq(r.out, "", "nothing trained: %s", r.out);
}

/* 2^20 sequences of 256 tokens need terabytes: the line names a batch that fits. */
Test(main, memory_refusal_names_the_batch_that_fits)
{
    result r;
    run(&r, H "--n_layer 1 --n_embd 64 --n_head 2 --block_size 256 --per_device_eval_batch_size 1 "
              "--per_device_train_batch_size 1048576 --precision bf16");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_eq(lines(r.err), 1, "%s", r.err);
    const char *want = "mptui: memory: a 1L/2H/64d model at batch 1048576 x 256 in bf16 needs ";
    cr_assert(strstr(r.err, want) == r.err, "%s", r.err);
    const char *p = strstr(r.err, " available; --per_device_train_batch_size ");
    cr_assert_not_null(p, "%s", r.err);
    int fit = 0;
    char unit[8];
    double gib;
    cr_assert_eq(sscanf(p, " available; --per_device_train_batch_size %d fits (%lf %3s)", &fit,
                        &gib, unit), 3, "%s", r.err);
    cr_assert(fit >= 1 && fit < 1048576, "%d", fit);
}

#define DRY "--dry_run --device cpu --n_layer 1 --n_embd 32 --n_head 2 --block_size 32 " \
            "--per_device_train_batch_size 4 --per_device_eval_batch_size 4 --output_dir out "

Test(main, dry_run_prints_the_plan_and_trains_nothing)
{
    result r;
    run(&r, DRY "--precision bf16");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert(strstr(r.out, "memory plan: 1L/2H/32d model (vocab 256), batch 4 x 32, bf16, cpu (")
              == r.out, "%s", r.out);
    /* params: 256*32 + 32*32 + 12*32^2 + 13*32 + 2*32 = 21984 floats */
    cr_assert(strstr(r.out, "\n  master weights             fp32  fp32     85.9 KiB    85.9 KiB\n")
              != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "\n  activations                bf16  fp32 ") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "\n  backend workspace          fp32  fp32 ") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "\n  total (peak) ") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, " available: fits\n") != NULL, "%s", r.out);
    cr_assert_null(strstr(r.out, "done:"), "%s", r.out);
    char path[128];
    snprintf(path, sizeof path, "%s/out", dir);
    cr_assert_neq(access(path, F_OK), 0, "a dry run writes nothing");
    /* a config-file key too */
    write_file("dry.cfg", "dry_run = true\n", 15);
    run(&r, "--config dry.cfg --device cpu --n_layer 1 --n_embd 32 --n_head 2 --block_size 32");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "memory plan: 1L/2H/32d model") == r.out, "%s", r.out);
}

Test(main, dry_run_that_does_not_fit_exits_2)
{
    result r;
    run(&r, "--dry_run --device cpu --n_embd 65536 --n_head 4");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert(strstr(r.out, " available: does not fit\n") != NULL, "%s", r.out);
    cr_assert_eq(lines(r.err), 1, "%s", r.err);
    cr_assert(strstr(r.err, "mptui: memory: a 4L/4H/65536d model") == r.err, "%s", r.err);
}

Test(main, headless_summary_has_a_memory_section)
{
    result r;
    run(&r, TINY "--per_device_eval_batch_size 4 --max_steps 1 --save_strategy no --precision fp32");
    cr_assert_eq(r.code, 0, "%s", r.err);
    const char *m = strstr(r.out, "\nmemory (fp32, batch 4 x 32)\n  buffer ");
    cr_assert_not_null(m, "%s", r.out);
    /* fp32: no weight copies, every activation stored in fp32 */
    cr_assert(strstr(m, "\n  weight copies") == NULL, "%s", m);
    cr_assert(strstr(m, "\n  activations                fp32  fp32 ") != NULL, "%s", m);
    cr_assert(strstr(m, "\n  total (peak) ") != NULL, "%s", m);
    cr_assert(strstr(m, " available: fits\n") != NULL, "%s", m);
    cr_assert(strstr(r.out, "done: 1/1 steps") < m, "after the summary line: %s", r.out);
}

/* ---- GPT-2's tokenizer (docs/data.md, "Text through a tokenizer") ---- */

static void write_fox(const char *name, int lines_n)
{
    static const char line[] = "The quick brown fox jumps over the lazy dog.\n";
    size_t n = sizeof line - 1;
    char *buf = malloc(n * (size_t)lines_n);
    for (int i = 0; i < lines_n; i++) memcpy(buf + n * (size_t)i, line, n);
    write_file(name, buf, n * (size_t)lines_n);
    free(buf);
}

static unsigned char *read_all(const char *name, size_t *n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static unsigned char buf[1 << 16];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

Test(main, tokenize_writes_an_llm_c_file)
{
    write_fox("fox.txt", 40);
    result r;
    run(&r, "tokenize --tokenizer_name gpt2 fox.txt fox.bin");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mptui: fox.txt: 1800 bytes -> 440 tokens with gpt2 in "), "%s", r.out);
    cr_assert(strstr(r.out, "; wrote fox.bin"), "%s", r.out);
    cr_assert_str_eq(r.err, "", "no progress line for a small file");
    size_t n;
    const unsigned char *b = read_all("fox.bin", &n);
    cr_assert_eq(n, 1024 + 2 * 440);
    /* "The" " quick" " brown" " fox" ... "." "\n": GPT-2's ids */
    static const int want[11] = {464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13, 198};
    for (int i = 0; i < 440; i++)
        cr_assert_eq(b[1024 + 2 * i] | b[1025 + 2 * i] << 8, want[i % 11], "token %d", i);
    /* the file trains as --data */
    run(&r, H "--data fox.bin --block_size 8 --n_layer 1 --n_embd 16 --n_head 2 "
              "--eval_strategy no --save_strategy no");
    cr_assert_eq(r.code, 0, "%s", r.err);
}

Test(main, tokenize_bad_arguments)
{
    write_fox("fox.txt", 1);
    result r;
    run(&r, "tokenize fox.txt fox.bin");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "mptui tokenize: no tokenizer given\nusage: mptui tokenize"), "%s",
              r.err);
    run(&r, "tokenize --tokenizer_name gpt2 fox.txt");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "give IN.txt and OUT.bin"), "%s", r.err);
    run(&r, "tokenize --tokenizer_name gpt2 --bogus 1 fox.txt x.bin");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "unknown option '--bogus'"), "%s", r.err);
    run(&r, "tokenize --tokenizer_name . fox.txt x.bin");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--tokenizer_name .: no vocab.json + merges.txt or tokenizer.json "
                            "there; give a tokenizer folder or gpt2"), "%s", r.err);
    run(&r, "tokenize --model_name_or_path . fox.txt x.bin");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, ". has no vocab.json + merges.txt or tokenizer.json"), "%s", r.err);
    write_file("latin1.txt", "caf\xe9\n", 5);
    expect_one_line("tokenize --tokenizer_name=gpt2 latin1.txt x.bin", 1,
                    "latin1.txt: invalid UTF-8 at byte 3 (line 1)");
    expect_one_line("tokenize --tokenizer_name gpt2 none.txt x.bin", 1, "none.txt");
}

Test(main, bpe_run_samples_text_and_checkpoints_the_tokenizer)
{
    write_fox("fox.txt", 200);
    const char *args = H "--data fox.txt --tokenizer_name gpt2 --block_size 16 --n_layer 1 "
                         "--n_embd 16 --n_head 2 --eval_steps 2 --eval_max_batches 1 "
                         "--sample_length 4 --save_steps 2 --output_dir out";
    result r;
    run(&r, args);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "sample @2 | The quick brown fox jumps over the lazy dog. The quick "
                            "brown fox jumps|"), "%s", r.out);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cd '%s/out/checkpoint-2' && test -s vocab.json && test -s "
             "merges.txt && test -s tokenizer_config.json && test -s special_tokens_map.json "
             "&& ls ../token-cache/fox.txt.*.bin >/dev/null", dir);
    cr_assert_eq(system(cmd), 0, "checkpoint or cache files missing");
    run(&r, args); /* from the cache this time: the same run */
    cr_assert_eq(r.code, 0, "%s", r.err);
    write_file("latin1.txt", "caf\xe9\n", 5);
    expect_one_line(H "--data latin1.txt --tokenizer_name gpt2", 1,
                    "data file latin1.txt: invalid UTF-8 at byte 3 (line 1)");
    expect_one_line(H "--data fox.txt --tokenizer_name gpt2 --vocab_size 1000", 1,
                    "--vocab_size 1000 is smaller than the vocabulary of tokenizer gpt2 (50257)");
}

/* ---- issue 14: --eval_on_start, --do_train false (docs/options.md) ---- */

static void read_text(const char *name, char *buf, size_t cap)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    buf[fread(buf, 1, cap - 1, f)] = 0;
    fclose(f);
}

Test(main, eval_only_run_prints_one_eval_and_exits_0)
{
    result r;
    static char csv[4096];
    run(&r, TINY "--precision fp32 --eval_max_batches 1 --per_device_eval_batch_size 4 --do_train false");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert(!strncmp(r.out, "eval @0 | loss ", 15), "%s", r.out);
    cr_assert(strstr(r.out, "| 4 windows\nevaluation only (--do_train false): no training step, "
                            "no checkpoint\neval only: eval loss ") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, " @0 | 4 windows | ") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, " s | fp32\nmemory (fp32, batch 4 x 32)\n") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "step ") == NULL, "no train line: %s", r.out);
    read_text("out/logs/metrics.csv", csv, sizeof csv);
    cr_assert_eq(lines(csv), 2, "header + one eval row: %s", csv);
    const char *row = strchr(csv, '\n') + 1;
    cr_assert(!strncmp(row, "0,0,", 4), "%s", row);
    cr_assert(strstr(row, ",eval,fp32,,,,,,,,") != NULL, "%s", row);
    char path[160];
    snprintf(path, sizeof path, "%s/out/checkpoint-0", dir);
    cr_assert(access(path, F_OK) != 0, "an eval-only run saved a checkpoint");
}

Test(main, eval_only_with_nothing_to_do_exits_2)
{
    expect_one_line(TINY "--do_train false --do_eval false", 2,
                    "mptui: --do_train false with --do_eval false: nothing to do; give --do_eval "
                    "to evaluate without training, or drop --do_train false\n");
    expect_one_line(TINY "--do_train false --eval_strategy no", 2,
                    "mptui: --do_train false with --eval_strategy no: nothing to do; add "
                    "--do_eval to evaluate without training\n");
    expect_one_line(TINY "--do_train false --resume_from_checkpoint latest", 2,
                    "to evaluate a checkpoint's weights give --init_from DIR\n");
    expect_one_line(TINY "--do_eval sometimes", 2, "unexpected argument 'sometimes'");
}

Test(main, eval_on_start_logs_step_0_first)
{
    result r;
    run(&r, TINY "--max_steps 2 --logging_steps 1 --eval_strategy no --save_strategy no "
                 "--eval_max_batches 1 --eval_on_start");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(!strncmp(r.out, "eval @0 | loss ", 15), "%s", r.out);
    cr_assert(strstr(r.out, "\nstep      1/2 |") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "eval loss ") != NULL && strstr(r.out, ") @0 |") != NULL,
              "the summary names the step-0 eval: %s", r.out);
}

/* A pretrained-style folder (make_tiny_gpt2, GPT-2's vocabulary) with GPT-2's tokenizer files
 * in it: the run reads text through the folder's tokenizer, samples decode, the checkpoint is
 * a model folder with its tokenizer, and loads back for an eval. */
Test(main, model_folder_with_its_tokenizer_fine_tunes_and_round_trips)
{
    const char *ex = getenv("MPTUI_EXAMPLES");
    cr_assert_not_null(ex);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s/make_tiny_gpt2' gpt2-tiny --n_layer 1 --n_head 2 "
             "--n_embd 16 --n_positions 32 --vocab_size 50257 --dtype BF16 >/dev/null && cp "
             "'%s/datasets/gpt2/vocab.json' '%s/datasets/gpt2/merges.txt' gpt2-tiny/", dir, ex,
             MPTUI_SOURCE_DIR, MPTUI_SOURCE_DIR);
    cr_assert_eq(system(cmd), 0);
    write_fox("fox.txt", 200);
    result r;
    run(&r, H "--model_name_or_path gpt2-tiny --data fox.txt --bf16 --block_size 16 "
              "--eval_steps 2 --eval_max_batches 1 --sample_length 3 --save_steps 2 "
              "--output_dir out");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "sample @2 | The quick brown fox jumps over the lazy dog. The quick "
                            "brown fox jumps|"), "%s", r.out);
    snprintf(cmd, sizeof cmd, "cd '%s/out/checkpoint-2' && cmp vocab.json ../../gpt2-tiny/vocab.json"
             " && cmp merges.txt ../../gpt2-tiny/merges.txt && test -s tokenizer_config.json", dir);
    cr_assert_eq(system(cmd), 0, "the checkpoint lacks the tokenizer");
    run(&r, "--headless --device cpu --model_name_or_path out/checkpoint-2 --data fox.txt "
            "--block_size 16 --do_train false --eval_max_batches 1 --sample_length 0 "
            "--output_dir out2");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "eval only: eval loss "), "%s", r.out);
    /* the same folder without tokenizer files reads text as bytes: refused, with the way out */
    snprintf(cmd, sizeof cmd, "rm '%s/gpt2-tiny/vocab.json'", dir);
    cr_assert_eq(system(cmd), 0);
    expect_one_line(H "--model_name_or_path gpt2-tiny --data fox.txt --block_size 16", 1,
                    "fox.txt: its vocabulary (256, text read as bytes) is not gpt2-tiny/config."
                    "json's vocab_size 50257; the folder has no tokenizer files: give "
                    "--tokenizer_name gpt2 (or the model's tokenizer folder)");
    run(&r, H "--model_name_or_path gpt2-tiny --tokenizer_name gpt2 --data fox.txt "
              "--block_size 16 --eval_strategy no --save_strategy no");
    cr_assert_eq(r.code, 0, "%s", r.err);
}

/* ---- mptui view (docs/view.md) ---- */

#define VIEW_FIX MPTUI_SOURCE_DIR "/tests/fixtures/view"

Test(main, view_summary_of_two_runs_and_the_cut_line_notice)
{
    result r;
    run(&r, "view --summary " VIEW_FIX "/fp16 " VIEW_FIX "/bf16/metrics.csv");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "run   precision  steps  final_loss"), "%s", r.out);
    cr_assert(strstr(r.out, "\nfp16  fp16          30      4.1626 "), "%s", r.out);
    cr_assert(strstr(r.out, "\nbf16  bf16          30      4.1625 "), "%s", r.out);
    cr_assert_str_eq(r.err, "mptui view: notice: " VIEW_FIX "/bf16/metrics.csv: the last line "
                     "is incomplete (a run stopped mid-write?); showing the 9 complete rows\n");
}

Test(main, view_plot_writes_the_svg)
{
    result r;
    run(&r, "view --plot=p.svg " VIEW_FIX "/fp16 " VIEW_FIX "/cmp");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "");
    char path[128], cmd[256];
    snprintf(path, sizeof path, "%s/p.svg", dir);
    snprintf(cmd, sizeof cmd, "test $(grep -c '<polyline class=\"train\"' '%s') -eq 3 && "
             "grep -q '>cmp:bf16 (bf16)</text>' '%s'", path, path);
    cr_assert_eq(system(cmd), 0);
}

Test(main, view_bad_input_is_one_line_and_exit_1)
{
    result r;
    run(&r, "view --summary " VIEW_FIX "/fp16 " VIEW_FIX "/other");
    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.out, "");
    cr_assert_str_eq(r.err, "mptui view: " VIEW_FIX "/other/metrics.csv: not a metrics.csv mptui "
                     "writes: its header starts 'step,loss,...' (expected step,epoch,time_s,kind,"
                     "precision,loss,lr,grad_norm,loss_scale,overflow,overflow_total,tokens_per_s,"
                     "eval_loss,eval_ppl,replica)\n");
    run(&r, "view --summary " VIEW_FIX "/empty");
    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.err, "mptui view: " VIEW_FIX "/empty/metrics.csv: empty file (no header; "
                     "has the run logged a step yet?)\n");
    run(&r, "view --summary nowhere");
    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.err, "mptui view: nowhere: No such file or directory (give an output dir, "
                     "a logging dir or a metrics.csv)\n");
}

Test(main, view_bad_arguments_exit_2)
{
    result r;
    run(&r, "view --summary");
    cr_assert_eq(r.code, 2);
    cr_assert(strncmp(r.err, "mptui view: give one or more runs\nusage: mptui view", 50) == 0, "%s", r.err);
    run(&r, "view --frobnicate " VIEW_FIX "/fp16");
    cr_assert_eq(r.code, 2);
    cr_assert(strncmp(r.err, "mptui view: unknown option '--frobnicate'\n", 42) == 0, "%s", r.err);
    run(&r, "view " VIEW_FIX "/fp16 --plot");
    cr_assert_eq(r.code, 2);
    cr_assert(strncmp(r.err, "mptui view: --plot needs a file name: '--plot'\n", 47) == 0, "%s", r.err);
    run(&r, "view --help");
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "usage: mptui view", 17) == 0);
}

Test(main, view_screen_without_a_terminal_points_to_summary)
{
    result r;
    run(&r, "view " VIEW_FIX "/fp16");
    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.out, "");
    cr_assert_str_eq(r.err, "mptui view: no screen: stdin/stdout is not a terminal; use --summary "
                     "or --plot FILE.svg\n");
}
