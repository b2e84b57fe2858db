/* manual_loop.c — a complete mixed-precision training loop written by hand against
 * mptui.h, the C twin of PyTorch's autocast + GradScaler loop:
 *
 *     with torch.autocast("cpu", dtype=torch.float16):
 *         loss = model(x, y)
 *     scaler.scale(loss).backward()
 *     scaler.step(optimizer)      # unscale, skip if inf/nan
 *     scaler.update()
 *
 * usage: manual_loop [fp32|fp16|bf16] [steps] [data-file]   (defaults: fp16 60 built-in corpus)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mptui.h"

int main(int argc, char **argv)
{
    dtype_t mode = DT_F16;
    if (argc > 1 && dtype_parse(argv[1], &mode)) {
        fprintf(stderr, "manual_loop: '%s' is not fp32, fp16 or bf16\n", argv[1]);
        return 2;
    }
    int steps = argc > 2 ? atoi(argv[2]) : 60;
    const char *path = argc > 3 ? argv[3] : data_default_path();
    enum { B = 8, T = 64 };
    char err[512];

    /* 1. backend, data, model */
    backend *be = bk_create(BK_CPU, 0, err, sizeof err);
    dataset data;
    if (!be || !path || data_load(&data, path, NULL, 10, 0, T, err, sizeof err)) {
        fprintf(stderr, "manual_loop: %s\n", path ? err : "no data file");
        return 1;
    }
    gpt_config cfg = {.n_layer = 2, .n_head = 4, .n_embd = 64, .block_size = T,
                      .vocab_size = data.vocab_size};
    gpt *model = gpt_create(be, &cfg, B, T, err, sizeof err);
    if (!model) {
        fprintf(stderr, "manual_loop: %s\n", err);
        return 1;
    }
    rng_state rng;
    rng_seed(&rng, 1337);
    gpt_init_weights(model, &rng);

    /* 2. autocast: the per-layer policy (here lm_head kept in fp32, a common choice) */
    prec_policy policy;
    prec_init(&policy, cfg.n_layer, mode);
    if (mode != DT_F32) prec_set_override(&policy, "lm_head", DT_F32, err, sizeof err);

    /* 3. GradScaler (enabled for fp16 only, as torch.amp recommends) and AdamW */
    scaler sc;
    scaler_init(&sc, mode == DT_F16, 1, 65536.0f, 2.0f, 0.5f, 2000, 0.0f);
    optim opt;
    optim_init(&opt, 3e-3, 0.9, 0.999, 1e-8, 0.0, 1.0, SCHED_CONSTANT, 0, steps);
    int nt;
    optim_tensor *ts = optim_tensors_from_model(model, &nt);

    int32_t x[B * T], y[B * T];
    float first = NAN, loss = NAN;
    for (int step = 1; step <= steps; step++) {
        gpt_refresh_copies(model, &policy);         /* fp32 masters -> low-precision copies */
        gpt_zero_grads(model);                       /* optimizer.zero_grad() */
        data_train_batch(&data, &rng, B, T, x, y);
        float mult = scaler_loss_scale(&sc);
        gpt_prepare_backward(model, mult); /* optional: classifier backward fused in the forward */
        loss = gpt_forward(model, &policy, x, y, B, T, NULL);      /* autocast forward */
        gpt_backward(model, &policy, mult, NULL);    /* scale(loss).backward() */
        int found_inf = 0;                           /* scaler.unscale_(optimizer) */
        for (int i = 0; i < nt; i++)
            found_inf |= bk_unscale(be, ts[i].g, ts[i].n, scaler_inv_scale(&sc));
        float used = scaler_loss_scale(&sc);
        int skipped = scaler_update(&sc, found_inf, step, NULL); /* scaler.update() */
        if (!skipped) {                              /* scaler.step(optimizer) */
            double norm = optim_grad_norm(be, ts, nt);
            optim_step(&opt, be, ts, nt, optim_clip_coef(norm, 1.0));
        }
        if (step == 1) first = loss;
        if (step % 10 == 0 || step == 1)
            printf("step %3d  loss %.4f  scale %-8g %s\n", step, loss, used,
                   skipped ? "skipped (inf/nan)" : "");
    }
    printf("%s: loss %.4f -> %.4f, overflow steps %lld\n", dtype_name(mode), first, loss,
           (long long)sc.overflow_total);
    free(ts);
    prec_free(&policy);
    gpt_free(model);
    data_free(&data);
    bk_destroy(be);
    return loss < first ? 0 : 1;
}
