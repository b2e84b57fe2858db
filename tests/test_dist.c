/* Tests for src/train/dist.c in one process: launch detection, a world of one (rank 0 of 1,
 * every collective a no-op that leaves the values bit for bit), and NULL as that world. The
 * collectives across ranks are checked by tests/test_ddp.c under mpirun. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

static void clear_launch_env(void)
{
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("PMIX_RANK");
}

Test(dist, launch_detection)
{
    clear_launch_env();
    cr_assert_not(dist_launched());
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (int i = 0; i < 3; i++) {
        setenv(vars[i], "2", 1);
        cr_assert(dist_launched(), "%s", vars[i]);
        unsetenv(vars[i]);
    }
#ifdef MPTUI_MPI
    cr_assert(dist_built_with_mpi());
#else
    cr_assert_not(dist_built_with_mpi());
#endif
}

Test(dist, a_world_of_one_leaves_every_value)
{
    clear_launch_env();
    char err[256] = "";
    dist *d = dist_init(NULL, NULL, 5.0, err, sizeof err);
    cr_assert_not_null(d, "%s", err);
    cr_assert_eq(dist_rank(d), 0);
    cr_assert_eq(dist_size(d), 1);
    cr_assert_eq(dist_local_rank(d), 0);
    cr_assert_eq(dist_local_size(d), 1);
    float x[3] = {1.0f / 3.0f, -0.0f, 65504.0f * 4}, x0[3];
    memcpy(x0, x, sizeof x);
    for (int c = DT_F32; c <= DT_BF16; c++) {
        cr_assert_eq(dist_allreduce_sum_f32(d, x, 3, (dtype_t)c, NULL, err, sizeof err), 0);
        cr_assert_eq(memcmp(x, x0, sizeof x), 0, "comm %d changed a value of one rank", c);
    }
    double s[2] = {1.5, -2.25};
    cr_assert_eq(dist_allreduce_sum_f64(d, s, 2, err, sizeof err), 0);
    cr_assert(s[0] == 1.5 && s[1] == -2.25);
    int32_t m[2] = {0, 7};
    cr_assert_eq(dist_allreduce_max_i32(d, m, 2, err, sizeof err), 0);
    cr_assert(m[0] == 0 && m[1] == 7);
    num_stats st = {3.0f, 0.5f, 10, 1, 2, 0};
    cr_assert_eq(dist_allreduce_stats(d, &st, 1, err, sizeof err), 0);
    cr_assert(st.amax == 3.0f && st.count == 10 && st.overflow == 1 && st.underflow == 2);
    char buf[4] = "abc", all[4] = "";
    cr_assert_eq(dist_bcast(d, buf, 4, 0, err, sizeof err), 0);
    cr_assert_str_eq(buf, "abc");
    cr_assert_eq(dist_gather(d, buf, all, 4, 0, err, sizeof err), 0);
    cr_assert_str_eq(all, "abc", "rank 0 gathers its own bytes");
    cr_assert_eq(dist_comm_seconds(d), 0.0);
    dist_abort(d, 3); /* returns in a world of one: the caller's exit ends the run */
    dist_finalize(d);
}

Test(dist, null_is_a_world_of_one)
{
    char err[64];
    float x = 2.0f;
    cr_assert_eq(dist_rank(NULL), 0);
    cr_assert_eq(dist_size(NULL), 1);
    cr_assert_eq(dist_local_size(NULL), 1);
    cr_assert_eq(dist_allreduce_sum_f32(NULL, &x, 1, DT_F16, NULL, err, sizeof err), 0);
    cr_assert_eq(x, 2.0f);
    cr_assert_eq(dist_comm_seconds(NULL), 0.0);
    dist_finalize(NULL);
}

#ifndef MPTUI_MPI
/* Launched by mpirun but built without MPI: one line that says how to fix it. */
Test(dist, launched_without_mpi_says_to_rebuild)
{
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    char err[256] = "";
    cr_assert_null(dist_init(NULL, NULL, 0, err, sizeof err));
    cr_assert(strstr(err, "install libopenmpi-dev"), "%s", err);
    clear_launch_env();
}
#endif
