/* bench_gpt2.c — GPT-2 124M (12 layers, 12 heads, 768 wide, vocab 50257) on the CPU backend:
 * steady-state training tok/s per mode (T=256, B=4) as ratios to fp32 measured in one run, next
 * to PyTorch fp32 eager when torch is installed, and the peak RSS of one bf16 and one fp32 step
 * at T=1024, B=4, each in its own process (issue 13's targets; README "Performance").
 * usage: bench_gpt2 [--rounds N] [--no-memory] [--no-speed] [--no-pytorch]
 *        bench_gpt2 --one-step MODE B T   (what the memory line runs in a child) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "lane.h"
#include "model.h"
#include "precision.h"
#include "rng.h"

#include "blas_retune.h"

enum { L = 12, NH = 12, C = 768, V = 50257, MAX_ROUNDS = 15, N_MODES = 3 };
enum { SPEED_B = 4, SPEED_T = 256, MEM_B = 4, MEM_T = 1024 };
#define GIB (1024.0 * 1024.0 * 1024.0)

/* Round order: every mode once per round, so drift on a shared machine hits all alike. */
static const dtype_t modes[N_MODES] = {DT_F32, DT_BF16, DT_F16};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof s[0], cmp_d);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* One model, one lane, synthetic tokens: what the trainer steps, without files or logs. */
typedef struct {
    backend *be;
    gpt *model;
    lane ln;
    mp_config cfg;
    dataset data;
    rng_state rng;
    int32_t *inputs, *targets;
    int B, T;
    int64_t step;
} rig;

static void rig_free(rig *r)
{
    lane_free(&r->ln);
    gpt_free(r->model);
    bk_destroy(r->be);
    free(r->data.train);
    free(r->inputs);
    free(r->targets);
}

/* Random tokens: throughput does not depend on what is learned. */
static int rig_create(rig *r, dtype_t mode, int B, int T, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->B = B, r->T = T;
    cfg_defaults(&r->cfg);
    gpt_config gc = {L, NH, C, MEM_T, V};
    r->be = bk_create(BK_CPU, 0, err, errlen);
    if (!r->be) return -1;
    if (prec_init(&r->ln.policy, L, mode)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* laid out for the mode: a 16-bit run never holds the fp32 layout */
    r->model = gpt_create_for(r->be, &gc, &r->ln.policy, B, T, err, errlen);
    if (!r->model) return -1;
    rng_seed(&r->rng, 1);
    gpt_init_weights(r->model, &r->rng);
    r->data.vocab_size = V;
    r->data.n_train = (size_t)16 * B * (T + 1);
    r->data.train = malloc(r->data.n_train * sizeof(int32_t));
    r->inputs = malloc((size_t)B * T * sizeof(int32_t));
    r->targets = malloc((size_t)B * T * sizeof(int32_t));
    if (!r->data.train || !r->inputs || !r->targets ||
        lane_init(&r->ln, r->model, &r->cfg, 1000)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->data.n_train; i++) r->data.train[i] = (int32_t)(rng_next(&r->rng) % V);
    return 0;
}

/* One optimizer step in `mode` (no statistics: the trainer gathers them on logging steps
 * only); seconds, or -1 when the step did not complete. */
static double rig_step(rig *r, dtype_t mode, int *skipped)
{
    if (r->ln.policy.mode != mode) lane_set_mode(&r->ln, &r->cfg, mode);
    /* a mode switch re-lays the activations out: outside the timed step */
    if (gpt_set_layout(r->model, &r->ln.policy, NULL, 0)) return -1;
    char why[256] = "";
    lane_batches b = {.data = &r->data, .rng = &r->rng, .B = r->B, .T = r->T, .accum = 1,
                      .inputs = r->inputs, .targets = r->targets, .comm = DT_F32,
                      .err = why, .errlen = sizeof why};
    int at = 0;
    double bad = 0, t0 = now_s();
    int rc = lane_step(&r->ln, 1, &b, ++r->step, 0, NULL, 1, &at, &bad);
    double dt = now_s() - t0;
    if (skipped) *skipped += r->ln.last_skipped;
    return rc == LANE_STEP_DONE ? dt : -1;
}

/* ---- memory: one step in a child process ---- */

static int one_step(const char *mode_name, int B, int T)
{
    dtype_t mode;
    char err[512];
    if (dtype_parse(mode_name, &mode) || mode >= DT_COUNT || B < 1 || T < 1 || T > MEM_T) {
        fprintf(stderr, "bench_gpt2: --one-step needs fp32|fp16|bf16, B >= 1, 1 <= T <= %d\n",
                MEM_T);
        return 2;
    }
    rig r;
    if (rig_create(&r, mode, B, T, err, sizeof err)) {
        fprintf(stderr, "bench_gpt2: %s\n", err);
        rig_free(&r);
        return 1;
    }
    double dt = rig_step(&r, mode, NULL);
    rig_free(&r);
    return dt < 0 ? 1 : 0;
}

/* Peak RSS of `bench_gpt2 --one-step MODE B T` in bytes (wait4 gives that child's own
 * ru_maxrss, so the two modes' peaks never mix); -1 on failure. */
static double child_peak(const char *mode, int B, int T, double *secs)
{
    char self[4096], b[16], t[16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    snprintf(b, sizeof b, "%d", B);
    snprintf(t, sizeof t, "%d", T);
    fflush(stdout);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execl(self, self, "--one-step", mode, b, t, (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    pid_t w;
    while ((w = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR) {}
    *secs = now_s() - t0;
    if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (w == pid && WIFSIGNALED(status))
            printf("  %s child killed by signal %d (out of memory?)\n", mode, WTERMSIG(status));
        return -1;
    }
    return (double)ru.ru_maxrss * 1024.0;
}

static void memory_line(void)
{
    gpt_config gc = {L, NH, C, MEM_T, V};
    char err[256];
    backend *be = bk_create(BK_CPU, 0, err, sizeof err);
    prec_policy p;
    gpt_mem_plan plan;
    double est = 0, avail = 0;
    if (be && prec_init(&p, L, DT_F32) == 0) { /* fp32 plans the larger workspace */
        if (gpt_memory_plan(&gc, &p, MEM_B, MEM_T, be, &plan, err, sizeof err) == 0)
            est = (double)plan.total;
        avail = (double)bk_mem_available(be);
        prec_free(&p);
    }
    if (be) bk_destroy(be);
    printf("bench_gpt2 memory: GPT-2 124M, T=%d B=%d, one training step per mode, each in "
           "its own process (peak RSS = wait4 ru_maxrss)\n", MEM_T, MEM_B);
    /* 10% and 1 GiB of headroom: the estimate leaves out the allocator, libraries and data */
    if (est * 1.1 + GIB > avail) {
        printf("  skipped: the memory plan is %.1f GiB (gpt_memory_plan) and only %.1f GiB "
               "is available; free memory or run on a larger machine\n", est / GIB, avail / GIB);
        return;
    }
    const char *names[2] = {"bf16", "fp32"};
    double peak[2], secs[2];
    for (int i = 0; i < 2; i++) {
        peak[i] = child_peak(names[i], MEM_B, MEM_T, &secs[i]);
        if (peak[i] < 0) {
            printf("  %s step failed: no memory line\n", names[i]);
            return;
        }
        printf("  %-4s peak RSS %6.2f GiB  (process %.0f s)\n", names[i], peak[i] / GIB, secs[i]);
    }
    printf("  plan (gpt_memory_plan, fp32) %.2f GiB; target: bf16 peak <= 4.5 GiB: %s; "
           "fp32/bf16 = %.2fx, target >= 1.3x: %s\n", est / GIB,
           peak[0] <= 4.5 * GIB ? "met" : "NOT met", peak[1] / peak[0],
           peak[1] / peak[0] >= 1.3 ? "met" : "NOT met");
}

/* ---- speed ---- */

/* PyTorch fp32 eager tok/s of the same model and batch (bench/pytorch_cpu.py); 0 when torch
 * is missing, -1 when the script failed. */
static double pytorch_tok_s(int steps)
{
    if (system("python3 -c 'import torch' >/dev/null 2>&1") != 0) return 0;
    char cmd[2048], line[512];
    snprintf(cmd, sizeof cmd, "python3 '%s/bench/pytorch_cpu.py' --batch %d --seq %d --steps %d",
             MPTUI_SOURCE_DIR, SPEED_B, SPEED_T, steps);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double tok = -1;
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "tok/s %lf", &tok) != 1) fputs(line, stdout);
    return pclose(p) == 0 ? tok : -1;
}

static int speed_line(int rounds, int with_pytorch)
{
    char err[512];
    rig r;
    printf("bench_gpt2 speed: GPT-2 124M (L%d H%d C%d V%d), T=%d B=%d, synthetic tokens, "
           "one warm-up step per mode, then %d interleaved rounds (fp32 bf16 fp16), medians\n",
           L, NH, C, V, SPEED_T, SPEED_B, rounds);
    if (rig_create(&r, DT_F32, SPEED_B, SPEED_T, err, sizeof err)) {
        printf("  skipped: %s\n", err);
        rig_free(&r);
        return 1;
    }
    printf("  backend: %s\n", bk_describe(r.be));
    double t[N_MODES][MAX_ROUNDS], ratio[N_MODES][MAX_ROUNDS];
    int skipped = 0;
    for (int round = -1; round < rounds; round++)
        for (int m = 0; m < N_MODES; m++) {
            double dt = rig_step(&r, modes[m], round >= 0 ? &skipped : NULL);
            if (dt < 0) {
                printf("  %s step did not complete (non-finite loss)\n", dtype_name(modes[m]));
                rig_free(&r);
                return 1;
            }
            if (round < 0) continue;
            t[m][round] = dt;
            ratio[m][round] = t[0][round] / dt;
        }
    rig_free(&r);
    double tokens = (double)SPEED_B * SPEED_T;
    printf("  %-5s %8s %8s %10s\n", "mode", "s/step", "tok/s", "vs fp32");
    double rel[N_MODES];
    for (int m = 0; m < N_MODES; m++) {
        double s = median(t[m], rounds);
        rel[m] = median(ratio[m], rounds);
        printf("  %-5s %8.2f %8.1f %9.2fx\n", dtype_name(modes[m]), s, tokens / s, rel[m]);
    }
    printf("  (vs fp32 = median over rounds of that round's fp32 step time / the mode's)\n");
    if (skipped) printf("  %d fp16 step(s) skipped the optimizer (loss-scale overflow)\n", skipped);
    printf("  target bf16 >= 0.90x own fp32: %s (%.2fx); fp16: %.2fx\n",
           rel[1] >= 0.9 ? "met" : "NOT met", rel[1], rel[2]);
    double bf16_tok = tokens / median(t[1], rounds);
    double pt = with_pytorch ? pytorch_tok_s(rounds) : 0;
    if (!with_pytorch)
        printf("  PyTorch fp32: not run (--no-pytorch)\n");
    else if (pt == 0)
        printf("  PyTorch fp32: not installed (python3 cannot import torch); the target bf16 >= "
               "1.5x PyTorch fp32 cannot be checked here\n");
    else if (pt < 0)
        printf("  PyTorch fp32: bench/pytorch_cpu.py failed; the target bf16 >= 1.5x PyTorch "
               "fp32 cannot be checked\n");
    else
        printf("  PyTorch fp32 eager %.1f tok/s (measured after ours, not interleaved); mptui "
               "bf16 / PyTorch fp32 = %.2fx, target >= 1.5x: %s\n", pt, bf16_tok / pt,
               bf16_tok / pt >= 1.5 ? "met" : "NOT met");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--one-step") == 0)
        return one_step(argv[2], atoi(argv[3]), atoi(argv[4]));
    blas_retune(argv);
    int rounds = 3, memory = 1, speed = 1, pytorch = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-memory")) memory = 0;
        else if (!strcmp(argv[i], "--no-speed")) speed = 0;
        else if (!strcmp(argv[i], "--no-pytorch")) pytorch = 0;
        else {
            fprintf(stderr, "bench_gpt2: unknown argument '%s'; usage: bench_gpt2 [--rounds N] "
                    "[--no-memory] [--no-speed] [--no-pytorch]\n", argv[i]);
            return 2;
        }
    }
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_gpt2: --rounds must be 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    int rc = speed ? speed_line(rounds, pytorch) : 0;
    fflush(stdout);
    if (memory) memory_line();
    return rc;
}
