/* fuzz_state.c — libFuzzer harness: any bytes as trainer_state.json and as config.json. An
 * accepted state must survive writing and reading back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    ckpt_state st;
    if (!ckpt_state_from_json((const char *)data, size, "trainer_state.json", &st, err,
                              sizeof err)) {
        char *js = ckpt_state_to_json(&st);
        ckpt_state again;
        if (!js || ckpt_state_from_json(js, strlen(js), "again", &again, err, sizeof err))
            abort();
        if (again.global_step != st.global_step || again.n_log != st.n_log ||
            memcmp(&again.data_rng, &st.data_rng, sizeof st.data_rng))
            abort();
        ckpt_state_free(&again);
        free(js);
        ckpt_state_free(&st);
    }
    gpt_config c;
    ckpt_config_from_json((const char *)data, size, "config.json", &c, err, sizeof err);
    return 0;
}
