/* bench_ddp.c — data-parallel throughput on the CPU (docs/dist.md): the default model with a
 * global batch of 16 as one process and as 2 ranks of 8 under mpirun, and the ranks' comm time.
 * usage: bench_ddp [steps] [rounds]   (defaults 40, 3; median of the rounds) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

/* Runs mptui (under mpirun when ranks > 1); seconds of training and the comm share, from
 * the headless summary. */
static int run(const char *bin, int ranks, int steps, double *secs, double *comm_pct)
{
    char cmd[1024], line[1024];
    snprintf(cmd, sizeof cmd,
             "%s%s --headless --max_steps %d --logging_steps %d --eval_strategy no "
             "--save_strategy no --sample_length 0 --per_device_train_batch_size %d "
             "--output_dir /tmp/mptui-bench-ddp-%d 2>&1",
             ranks > 1 ? "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun "
                         "--allow-run-as-root --oversubscribe -np 2 " : "",
             bin, steps, steps, 16 / ranks, ranks);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    *secs = -1;
    *comm_pct = 0;
    while (fgets(line, sizeof line, p)) {
        const char *d = strstr(line, " steps in ");
        if (strncmp(line, "done: ", 6) == 0 && d) *secs = atof(d + 10);
        const char *c = strstr(line, "rank 0 in collectives ");
        const char *q = c ? strchr(c, '(') : NULL;
        if (q) *comm_pct = atof(q + 1);
    }
    int st = pclose(p);
    return st == 0 && *secs > 0 ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 40, rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (steps < 2) steps = 2;
    if (rounds < 1 || rounds > 16) rounds = 3;
    if (!dist_built_with_mpi() || system("command -v mpirun >/dev/null 2>&1") != 0) {
        printf("bench_ddp: skipped: %s\n", dist_built_with_mpi() ? "mpirun not installed"
                                                                 : "built without MPI");
        return 0;
    }
    const char *bin = getenv("MPTUI_BIN") ? getenv("MPTUI_BIN") : "./build/mptui";
    double one[16], two[16], ratio[16], comm[16];
    for (int r = 0; r < rounds; r++) { /* alternated: a busy machine slows both alike */
        double pct1;
        if (run(bin, 1, steps, &one[r], &pct1) || run(bin, 2, steps, &two[r], &comm[r])) {
            fprintf(stderr, "bench_ddp: a run failed (%s)\n", bin);
            return 1;
        }
        ratio[r] = one[r] / two[r];
    }
    double tok = (double)steps * 16 * 128;
    qsort(one, (size_t)rounds, sizeof *one, cmp);
    qsort(two, (size_t)rounds, sizeof *two, cmp);
    qsort(ratio, (size_t)rounds, sizeof *ratio, cmp);
    qsort(comm, (size_t)rounds, sizeof *comm, cmp);
    int m = rounds / 2;
    printf("bench_ddp: default model, global batch 16 x 128, fp16, %d steps, median of %d\n"
           "  1 process (all cores)       %8.0f tok/s\n"
           "  2 ranks x 8 (cores shared)  %8.0f tok/s  %.2fx  rank 0 in collectives %.1f%% of "
           "the run\n", steps, rounds, tok / one[m], tok / two[m], ratio[m], comm[m]);
    return system("rm -rf /tmp/mptui-bench-ddp-1 /tmp/mptui-bench-ddp-2") == 0 ? 0 : 1;
}
