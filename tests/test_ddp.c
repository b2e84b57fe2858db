/* test_ddp.c — data-parallel runs end to end (docs/dist.md): mptui under mpirun against one
 * process with the whole batch, global scaler decisions, ZeRO-1 against stage 0, a 2-rank
 * checkpoint resumed alone, a killed rank, options that differ. Skipped without mpirun. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devcomm.h"
#include "dist.h"
#include "test_deadline.h"

static char dir[64];

static void mk(void)
{
    snprintf(dir, sizeof dir, "/tmp/mptui-ddp-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    test_deadline(300);
}

static void rm(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(ddp, .init = mk, .fini = rm);

static const char *bin(void)
{
    const char *b = getenv("MPTUI_BIN");
    cr_assert_not_null(b, "MPTUI_BIN is not set (run through make test)");
    return b;
}

/* mpirun as CI runs it (root, more ranks than cores, no cross-process memory mapping in
 * containers); the test is skipped where there is no MPI. Under AddressSanitizer the ranks
 * run without leak checks: OpenMPI's plugins leave allocations LeakSanitizer cannot even
 * name (they are unloaded); the single-process tests check mptui's own leaks. mpirun runs
 * in a session of its own: when a rank fails it ends the job's process group, which must not
 * be the test runner's (other tests' processes were killed that way). */
static void need_mpi(void)
{
    if (!dist_built_with_mpi()) cr_skip_test("ddp: this build has no MPI (install libopenmpi-dev)");
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test("ddp: mpirun is not installed (openmpi-bin)");
}

#define MPIRUN "OMPI_MCA_btl_vader_single_copy_mechanism=none ASAN_OPTIONS=detect_leaks=0 " \
               "setsid -w mpirun -x ASAN_OPTIONS --allow-run-as-root --oversubscribe -np 2 "
#define TINY "--headless --device cpu --n_layer 1 --n_embd 32 --n_head 2 --block_size 32 " \
             "--sample_length 0 --logging_steps 1 --eval_strategy no --warmup_steps 0 " \
             "--learning_rate 3e-3 --threads 1 "

/* Runs a shell command in dir; returns the exit status, output in out.txt / err.txt. */
static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[4096], inner[3072];
    snprintf(inner, sizeof inner, fmt, a, b);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s >out.txt 2>err.txt </dev/null", dir, inner);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *name)
{
    static char buf[4][1 << 16];
    static int k;
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *b = buf[k++ % 4];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(b, 1, sizeof buf[0] - 1, f) : 0;
    b[n] = 0;
    if (f) fclose(f);
    return b;
}

/* metrics.csv train rows: loss, grad_norm, loss_scale, overflow (columns 6, 8, 9, 10). */
typedef struct {
    int n;
    double loss[64], norm[64], scale[64];
    int ovf[64];
} rows;

static rows read_rows(const char *out)
{
    char name[128];
    snprintf(name, sizeof name, "%s/logs/metrics.csv", out);
    rows r = {0};
    char *text = slurp(name), *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l && r.n < 64; l = strtok_r(NULL, "\n", &save)) {
        if (!strstr(l, ",train,")) continue;
        char *f[16] = {0}, *s2 = NULL;
        int k = 0;
        for (char *c = strtok_r(l, ",", &s2); c && k < 16; c = strtok_r(NULL, ",", &s2)) f[k++] = c;
        if (k < 10) continue;
        r.loss[r.n] = atof(f[5]);
        r.norm[r.n] = atof(f[7]);
        r.scale[r.n] = atof(f[8]);
        r.ovf[r.n] = atoi(f[9]);
        r.n++;
    }
    return r;
}

static void close_rel(double a, double b, double tol, const char *what, int i)
{
    cr_assert(fabs(a - b) <= tol * fabs(b), "%s at row %d: %.9g vs %.9g", what, i, a, b);
}

/* Two ranks of B=2 take the batches of one process with B=4: the same losses to summation
 * order (1e-5 relative in fp32), every step. */
Test(ddp, two_ranks_match_one_process_with_twice_the_batch_fp32)
{
    need_mpi();
    cr_assert_eq(sh(MPIRUN "%s " TINY "--precision fp32 --max_steps 5 --per_device_train_batch_size 2 "
                    "--output_dir two%s", bin(), ""), 0, "%s", slurp("err.txt"));
    cr_assert(strstr(slurp("out.txt"), "step      5/5") != NULL, "rank 0 prints: %s",
              slurp("out.txt"));
    cr_assert_eq(sh("%s " TINY "--precision fp32 --max_steps 5 --per_device_train_batch_size 4 "
                    "--output_dir one%s", bin(), ""), 0, "%s", slurp("err.txt"));
    rows a = read_rows("two"), b = read_rows("one");
    cr_assert_eq(a.n, 5, "rank 0 alone writes metrics.csv: 5 rows, not 10");
    cr_assert_eq(b.n, 5);
    for (int i = 0; i < 5; i++) {
        close_rel(a.loss[i], b.loss[i], 1e-5, "loss", i);
        close_rel(a.norm[i], b.norm[i], 1e-4, "grad norm", i);
    }
}

/* fp16 with a scale far too large: every overflow, skip and back-off happens at the same step
 * as in one process, on every rank (the scaler is global). */
Test(ddp, fp16_overflows_give_the_same_scaler_decisions)
{
    need_mpi();
    const char *o = "--precision fp16 --init_scale 1e30 --growth_interval 2 --max_steps 12 ";
    cr_assert_eq(sh(MPIRUN "%s " TINY "--per_device_train_batch_size 2 --output_dir two %s", bin(), o),
                 0, "%s", slurp("err.txt"));
    cr_assert_eq(sh("%s " TINY "--per_device_train_batch_size 4 --output_dir one %s", bin(), o), 0,
                 "%s", slurp("err.txt"));
    rows a = read_rows("two"), b = read_rows("one");
    cr_assert_eq(a.n, 12);
    int skipped = 0;
    for (int i = 0; i < a.n; i++) {
        cr_assert_eq(a.scale[i], b.scale[i], "loss scale at row %d", i);
        cr_assert_eq(a.ovf[i], b.ovf[i], "overflow at row %d", i);
        skipped += a.ovf[i];
    }
    cr_assert(skipped >= 3, "the scale should back off several times (%d)", skipped);
    cr_assert(a.scale[a.n - 1] < 1e30, "it backed off");
}

/* ZeRO-1 updates each tensor on its owner only, each rank holding only its share of m and v:
 * the same bits as stage 0, down to the checkpoint files gathered on rank 0. */
Test(ddp, zero1_equals_stage_0)
{
    need_mpi();
    const char *o = "--precision bf16 --max_steps 4 --save_steps 4 --per_device_train_batch_size 2 ";
    cr_assert_eq(sh(MPIRUN "%s " TINY "--output_dir z0 %s", bin(), o), 0, "%s", slurp("err.txt"));
    cr_assert(strstr(slurp("out.txt"), "AdamW m+v here") == NULL, "stage 0 does not shard");
    cr_assert_eq(sh(MPIRUN "%s " TINY "--output_dir z1 --zero_stage 1 %s", bin(), o), 0, "%s",
                 slurp("err.txt"));
    const char *share = strstr(slurp("out.txt"), "ZeRO-1 (AdamW m+v here: ");
    cr_assert_not_null(share, "%s", slurp("out.txt"));
    double held = atof(share + 24), all = atof(strstr(share, " of ") + 4);
    cr_assert(held > 0 && held < 0.8 * all, "rank 0 holds %g of %g", held, all);
    rows a = read_rows("z0"), b = read_rows("z1");
    cr_assert_eq(a.n, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(a.loss[i], b.loss[i], "loss at row %d", i);
        cr_assert_eq(a.norm[i], b.norm[i], "grad norm at row %d", i);
    }
    cr_assert_eq(sh("cmp z0/checkpoint-4/optimizer.safetensors z1/checkpoint-4/optimizer.safetensors"
                    " && cmp z0/checkpoint-4/model.safetensors z1/checkpoint-4/model.safetensors%s%s",
                    "", ""), 0, "%s", slurp("out.txt"));
}

/* A 1-process checkpoint resumes in 2 ranks under ZeRO-1 (each rank loads its share) and goes
 * on like the 1-process run. */
Test(ddp, one_process_checkpoint_resumes_in_two_sharded_ranks)
{
    need_mpi();
    const char *o = "--precision fp32 --save_steps 3 --lr_scheduler_type constant ";
    cr_assert_eq(sh("%s " TINY "--per_device_train_batch_size 4 --max_steps 6 --output_dir a %s",
                    bin(), o), 0, "%s", slurp("err.txt"));
    cr_assert_eq(sh("%s " TINY "--per_device_train_batch_size 4 --max_steps 3 --output_dir b %s",
                    bin(), o), 0, "%s", slurp("err.txt"));
    cr_assert_eq(sh(MPIRUN "%s " TINY "--per_device_train_batch_size 2 --max_steps 6 --output_dir b "
                    "--zero_stage 1 --resume_from_checkpoint latest %s", bin(), o),
                 0, "%s", slurp("err.txt"));
    cr_assert(strstr(slurp("out.txt"), "resumed from b/checkpoint-3 at step 3") != NULL, "%s",
              slurp("out.txt"));
    rows x = read_rows("a"), y = read_rows("b");
    cr_assert_eq(y.n, 6);
    for (int i = 3; i < 6; i++) close_rel(y.loss[i], x.loss[i], 1e-5, "resumed loss", i);
}

/* A checkpoint written by 2 ranks (ZeRO-1: m and v gathered first) resumes in one process
 * with the global batch, and goes on like the 2-rank run. */
Test(ddp, two_rank_checkpoint_resumes_in_one_process)
{
    need_mpi();
    /* constant: the first run stops at 3 of 6 steps, and a linear schedule would differ */
    const char *o = "--precision fp32 --save_steps 3 --zero_stage 1 --lr_scheduler_type constant ";
    cr_assert_eq(sh(MPIRUN "%s " TINY "--per_device_train_batch_size 2 --max_steps 6 "
                    "--output_dir a %s", bin(), o), 0, "%s", slurp("err.txt"));
    cr_assert_eq(sh(MPIRUN "%s " TINY "--per_device_train_batch_size 2 --max_steps 3 "
                    "--output_dir b %s", bin(), o), 0, "%s", slurp("err.txt"));
    cr_assert_eq(sh("%s " TINY "--per_device_train_batch_size 4 --max_steps 6 --output_dir b "
                    "--resume_from_checkpoint latest %s", bin(),
                    "--precision fp32 --save_steps 3 --lr_scheduler_type constant"),
                 0, "%s", slurp("err.txt"));
    cr_assert(strstr(slurp("out.txt"), "resumed from b/checkpoint-3 at step 3") != NULL, "%s",
              slurp("out.txt"));
    rows x = read_rows("a"), y = read_rows("b");
    cr_assert_eq(x.n, 6);
    cr_assert_eq(y.n, 6);
    for (int i = 3; i < 6; i++) close_rel(y.loss[i], x.loss[i], 1e-5, "resumed loss", i);
}

/* A rank killed mid-run ends the run on every rank: a nonzero exit, no hang. */
Test(ddp, a_killed_rank_ends_the_run)
{
    need_mpi();
    time_t t0 = time(NULL);
    /* timeout kills its own child only: a kill by PID after a sleep could hit another
     * process once PIDs wrap around (pid_max 32768 on CI machines) */
    int rc = sh(MPIRUN "sh -c 'k=; [ \"$OMPI_COMM_WORLD_RANK\" = 1 ] && k=\"timeout -s KILL 2\"; "
                "exec $k %s " TINY "--max_steps 100000 --ddp_timeout 20 --output_dir k %s'",
                bin(), "");
    cr_assert_neq(rc, 0, "the run went on: %s", slurp("out.txt"));
    cr_assert(time(NULL) - t0 < 120, "it took %lld s to end", (long long)(time(NULL) - t0));
}

/* Every rank must get the same options: the first that differs is named. */
Test(ddp, ranks_with_other_options_are_refused)
{
    need_mpi();
    int rc = sh(MPIRUN "sh -c 'exec %s " TINY "--max_steps 2 --output_dir o "
                "--learning_rate $((OMPI_COMM_WORLD_RANK + 1))e-3%s'", bin(), "");
    cr_assert_neq(rc, 0);
    cr_assert(strstr(slurp("err.txt"), "rank 1 was started with other options than rank 0") !=
                  NULL, "%s", slurp("err.txt"));
}

/* --compare runs its replicas in one process: refused under mpirun, one line. */
Test(ddp, compare_is_refused)
{
    need_mpi();
    int rc = sh(MPIRUN "%s " TINY "--max_steps 2 --compare fp16,bf16 --output_dir c%s", bin(), "");
    cr_assert_neq(rc, 0);
    cr_assert(strstr(slurp("err.txt"), "--compare runs its replicas in one process") != NULL,
              "%s", slurp("err.txt"));
}

/* The gradients on the wire in bf16 or fp16 (each rank's contribution rounded, the sum rounded
 * again): close to fp32 traffic, and not the same bits (the rounding is real). */
Test(ddp, comm_dtypes_round_the_traffic)
{
    need_mpi();
    const char *o = "--precision fp32 --max_steps 4 --per_device_train_batch_size 2 ";
    cr_assert_eq(sh(MPIRUN "%s " TINY "--output_dir c32 %s", bin(), o), 0, "%s", slurp("err.txt"));
    cr_assert_eq(sh(MPIRUN "%s " TINY "--output_dir c16 --ddp_comm_dtype fp16 %s", bin(), o), 0,
                 "%s", slurp("err.txt"));
    cr_assert(strstr(slurp("out.txt"), "comm fp16 over MPI") != NULL, "%s", slurp("out.txt"));
    cr_assert_eq(sh(MPIRUN "%s " TINY "--output_dir cb --ddp_comm_dtype bf16 %s", bin(), o), 0,
                 "%s", slurp("err.txt"));
    rows a = read_rows("c32"), h = read_rows("c16"), b = read_rows("cb");
    cr_assert_eq(a.n, 4);
    int diff16 = 0, diffb = 0;
    for (int i = 0; i < 4; i++) {
        close_rel(h.loss[i], a.loss[i], 1e-3, "fp16 traffic loss", i);
        close_rel(b.loss[i], a.loss[i], 1e-2, "bf16 traffic loss", i);
        diff16 += h.norm[i] != a.norm[i];
        diffb += b.norm[i] != a.norm[i];
    }
    cr_assert(diff16 > 0 && diffb > 0, "16-bit traffic should round the gradients");
}

/* The precision map's all-reduce row, as layers.csv records it: one row per logged step in the
 * wire dtype; fp16 on the wire overflows under a huge loss scale, where fp32 cannot. */
Test(ddp, layers_csv_records_what_the_wire_dtype_did)
{
    need_mpi();
    const char *o = "--precision fp16 --init_scale 1e6 --max_steps 3 --per_device_train_batch_size 2 ";
    cr_assert_eq(sh(MPIRUN "%s " TINY "--output_dir w16 --ddp_comm_dtype fp16 %s", bin(), o), 0,
                 "%s", slurp("err.txt"));
    cr_assert_eq(sh(MPIRUN "%s " TINY "--output_dir w32 %s", bin(), o), 0, "%s", slurp("err.txt"));
    const char *want[2] = {"w16", "w32"};
    for (int k = 0; k < 2; k++) {
        char name[64], *save = NULL;
        snprintf(name, sizeof name, "%s/logs/layers.csv", want[k]);
        int rows = 0;
        long ovf1 = -1;
        for (char *l = strtok_r(slurp(name), "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            if (!strstr(l, ",ddp grad all-reduce,")) continue;
            rows++;
            cr_assert(strstr(l, k ? ",fp32," : ",fp16,") != NULL, "%s", l);
            char *f[12] = {0}, *s2 = NULL;
            int n = 0;
            for (char *c = strtok_r(l, ",", &s2); c && n < 12; c = strtok_r(NULL, ",", &s2)) f[n++] = c;
            if (atoi(f[0]) == 1) ovf1 = atol(f[7]);
        }
        cr_assert_eq(rows, 3, "%s: one row per logged step", want[k]);
        if (k == 0) cr_assert(ovf1 > 0, "fp16 on the wire overflows at step 1 (%ld)", ovf1);
        else cr_assert_eq(ovf1, 0, "fp32 on the wire does not overflow");
    }
}

/* NCCL (a CUDA build that found it, and 2 GPUs): the gradients all-reduced GPU to GPU give the
 * single-process run of twice the batch in fp32, as the MPI path does. */
Test(ddp, nccl_two_gpus_match_one_process_with_twice_the_batch)
{
    need_mpi();
    if (!devcomm_built()) cr_skip_test("ddp: this build has no NCCL");
    if (system("[ \"$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')\" -ge 2 ]") != 0)
        cr_skip_test("ddp: NCCL between ranks needs 2 GPUs");
    const char *o = "--device cuda --precision fp32 --max_steps 5 ";
    cr_assert_eq(sh(MPIRUN "%s " TINY "--per_device_train_batch_size 2 --output_dir two %s",
                    bin(), o), 0, "%s", slurp("err.txt"));
    cr_assert(strstr(slurp("out.txt"), "comm fp32 over NCCL") != NULL, "%s", slurp("out.txt"));
    cr_assert_eq(sh("%s " TINY "--per_device_train_batch_size 4 --output_dir one %s", bin(), o), 0,
                 "%s", slurp("err.txt"));
    rows a = read_rows("two"), b = read_rows("one");
    cr_assert_eq(a.n, 5);
    for (int i = 0; i < 5; i++) close_rel(a.loss[i], b.loss[i], 1e-5, "loss", i);
}

/* A stop that reaches rank 0 alone (SIGINT, or q on its screen) at any moment: every rank
 * leaves at the same step boundary, evaluates and saves together (ZeRO-1's gather included)
 * and exits 0. Rank 0 once read its own flag at the loop's top and left alone, and rank 1
 * then waited for a broadcast that never came. */
Test(ddp, a_stop_on_rank_0_alone_ends_every_rank_together)
{
    need_mpi();
    for (int i = 0; i < 3; i++) { /* the signal lands at a different point each time */
        char d[16];
        snprintf(d, sizeof d, "q%d", i);
        int rc = sh(MPIRUN "sh -c 'k=; [ \"$OMPI_COMM_WORLD_RANK\" = 0 ] && k=\"timeout "
                    "--preserve-status -s INT 2\"; exec $k %s " TINY "--max_steps 1000000 "
                    "--eval_strategy steps --eval_steps 40 --zero_stage 1 --save_steps 100000 "
                    "--ddp_timeout 15 --logging_steps 100 --per_device_train_batch_size 2 "
                    "--output_dir %s'", bin(), d);
        cr_assert_eq(rc, 0, "run %d: exit %d: %s%s", i, rc, slurp("err.txt"), slurp("out.txt"));
        const char *done = strstr(slurp("out.txt"), "done: ");
        cr_assert_not_null(done, "%s", slurp("out.txt"));
        long step = atol(done + 6);
        char ck[64];
        snprintf(ck, sizeof ck, "test -s %s/checkpoint-%ld/optimizer.safetensors", d, step);
        cr_assert_eq(sh("%s%s", ck, ""), 0, "run %d: the stop's save at step %ld", i, step);
    }
}

/* The size on the "AdamW m" line of a --dry_run table, in bytes (0: no such line). */
static double adam_m_bytes(const char *table)
{
    const char *l = strstr(table, "\n  AdamW m "); /* a row, not the title's words */
    double v = 0;
    char unit[8] = "";
    if (!l || sscanf(l + 11, " fp32 fp32 %lf %7s", &v, unit) != 2) return 0;
    return v * (!strcmp(unit, "KiB") ? 1024.0 : !strcmp(unit, "MiB") ? 1048576.0 : 1.0);
}

/* --dry_run under mpirun prints rank 0's plan: its share of AdamW m and v under ZeRO-1, all
 * of them without, and says which rank and how many. */
Test(ddp, dry_run_plans_one_rank_and_its_zero1_share)
{
    need_mpi();
    cr_assert_eq(sh("%s " TINY "--dry_run%s", bin(), ""), 0, "%s", slurp("err.txt"));
    double one = adam_m_bytes(slurp("out.txt"));
    cr_assert_gt(one, 0, "%s", slurp("out.txt"));
    cr_assert_eq(sh(MPIRUN "%s " TINY "--dry_run --zero_stage 1%s", bin(), ""), 0, "%s",
                 slurp("err.txt"));
    const char *t = slurp("out.txt");
    cr_assert(strstr(t, ", rank 0 of 2 (ZeRO-1: its share of AdamW m and v)\n") != NULL, "%s", t);
    cr_assert_eq(strstr(strstr(t, "memory plan:") + 1, "memory plan:"), NULL, "one table: %s", t);
    double share = adam_m_bytes(t);
    cr_assert(share > 0 && share < one, "share %g of %g", share, one);
    cr_assert_eq(sh(MPIRUN "%s " TINY "--dry_run --zero_stage 0%s", bin(), ""), 0);
    t = slurp("out.txt");
    cr_assert(strstr(t, ", rank 0 of 2\n") != NULL, "%s", t);
    cr_assert_eq(adam_m_bytes(t), one);
}
