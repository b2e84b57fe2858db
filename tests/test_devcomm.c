/* test_devcomm.c — the device communicator's contract where no GPU runs (docs/dist.md): the
 * CPU backend never takes the NCCL path, and a build without NCCL says so in every call. The
 * NCCL all-reduce itself is checked end to end by ddp/nccl_* on a machine with 2 GPUs. */
#include <criterion/criterion.h>
#include <string.h>

#include "backend.h"
#include "devcomm.h"

Test(devcomm, the_cpu_backend_keeps_gradients_on_mpi)
{
    char err[256] = "";
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    cr_assert_eq(devcomm_available(be), 0);
    cr_assert_eq(devcomm_available(NULL), 0);
    uint8_t id[DEVCOMM_ID_BYTES] = {0};
    cr_assert_null(devcomm_init(be, id, 2, 0, 1.0, err, sizeof err));
    cr_assert(strstr(err, devcomm_built() ? "NCCL needs the CUDA backend" : "without NCCL") != NULL,
              "%s", err);
    bk_destroy(be);
}

Test(devcomm, a_build_without_nccl_refuses_every_call)
{
    if (devcomm_built()) cr_skip_test("this build has NCCL");
    char err[256] = "";
    uint8_t id[DEVCOMM_ID_BYTES];
    cr_assert_eq(devcomm_unique_id(id, err, sizeof err), -1);
    cr_assert(strstr(err, "built without NCCL") != NULL, "%s", err);
    float x = 1.0f;
    err[0] = 0;
    cr_assert_eq(devcomm_allreduce_sum(NULL, &x, 1, DT_F32, err, sizeof err), -1);
    cr_assert(strstr(err, "built without NCCL") != NULL, "%s", err);
    cr_assert_float_eq(x, 1.0f, 0, "nothing touched");
    cr_assert_float_eq(devcomm_seconds(NULL), 0.0, 0);
    devcomm_destroy(NULL);
}
