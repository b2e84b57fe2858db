/* fuzz_safetensors.c — libFuzzer harness: any bytes as a safetensors file; every tensor the
 * validator accepts is read in full (ASan checks the offsets really lie inside the buffer). */
#include <stdint.h>
#include <stdlib.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    st_file *f = st_open_mem(data, size, "fuzz.safetensors", err, sizeof err);
    if (!f) return 0;
    for (int i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        if (st_find(f, t->name) != t) abort();
        float *dst = malloc(t->numel * sizeof *dst + 1);
        /* the format's other dtypes open and refuse a read; ours read in full */
        if (!st_read_f32(f, t, dst, t->numel, err, sizeof err) != (t->dtype != ST_OTHER)) abort();
        if (t->numel && t->dtype != ST_OTHER &&
            st_read_f32_part(f, t, t->numel / 2, dst, t->numel - t->numel / 2, err, sizeof err))
            abort();
        free(dst);
    }
    st_close(f);
    return 0;
}
