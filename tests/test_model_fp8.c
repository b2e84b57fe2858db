/* Tests for src/train/model_fp8.c: Linear layers in FP8 under each recipe: losses and
 * gradients near bf16's, the cast counts per tensor, the delayed scales a step leaves, current
 * scaling's own amax, recording only inside a step, overrides, thread independence. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"
#include "precision.h"
#include "rng.h"

static const gpt_config tiny = {2, 2, 32, 16, 64};
enum { B = 2, T = 16, C = 32 };

typedef struct {
    backend *be;
    gpt *m;
    prec_policy p;
    gpt_row_stats *st;
} rig;

static rig rig_new(dtype_t mode, fp8_recipe_kind kind, int threads)
{
    rig r;
    char err[256];
    r.be = bk_create(BK_CPU, threads, err, sizeof err);
    cr_assert_not_null(r.be, "%s", err);
    cr_assert_eq(prec_init(&r.p, tiny.n_layer, mode), 0);
    r.p.fp8.kind = kind;
    r.m = gpt_create_for(r.be, &tiny, &r.p, B, T, err, sizeof err);
    cr_assert_not_null(r.m, "%s", err);
    rng_state s;
    rng_seed(&s, 11);
    gpt_init_weights(r.m, &s);
    r.st = calloc((size_t)r.p.n, sizeof *r.st);
    return r;
}

static void rig_free(rig *r)
{
    free(r->st);
    prec_free(&r->p);
    gpt_free(r->m);
    bk_destroy(r->be);
}

static void batch(int32_t *x, int32_t *y, int salt)
{
    for (int i = 0; i < B * T; i++) {
        x[i] = (i * 7 + 3 + salt) % tiny.vocab_size;
        y[i] = (i * 5 + 1 + 2 * salt) % tiny.vocab_size;
    }
}

/* One training micro-batch inside a step (begin, refresh, forward, backward, commit),
 * gradients zeroed first; returns the loss. */
static float train_step(rig *r, int salt, int with_stats)
{
    int32_t x[B * T], y[B * T];
    batch(x, y, salt);
    memset(r->st, 0, (size_t)r->p.n * sizeof *r->st);
    gpt_fp8_step_begin(r->m, &r->p);
    gpt_refresh_copies(r->m, &r->p);
    gpt_zero_grads(r->m);
    float loss = gpt_forward(r->m, &r->p, x, y, B, T, with_stats ? r->st : NULL);
    gpt_backward(r->m, &r->p, 1.0f, with_stats ? r->st : NULL);
    gpt_fp8_step_commit(r->m, with_stats ? r->st : NULL);
    return loss;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

static float max_abs(const float *x, size_t n)
{
    float a = 0;
    for (size_t i = 0; i < n; i++) a = fabsf(x[i]) > a ? fabsf(x[i]) : a;
    return a;
}

static const float *param(rig *r, const char *name)
{
    int i = gpt_find_tensor(r->m, name);
    cr_assert_geq(i, 0, "%s", name);
    return gpt_params(r->m) + gpt_tensor_at(r->m, i)->offset;
}

/* FP8 stays near bf16 (same init, same batch) and each fp8 tensor's casts are counted:
 * inputs N x IC, weights IC x OC (once per step), output gradients N x OC. */
static void near_bf16(fp8_recipe_kind kind)
{
    rig f = rig_new(DT_FP8, kind, 1), b = rig_new(DT_BF16, kind, 1);
    float lf = train_step(&f, 0, 1), lb = train_step(&b, 0, 1);
    cr_assert(isfinite(lf));
    cr_assert(fabsf(lf - lb) < 0.02f, "%s: fp8 %g vs bf16 %g", fp8_recipe_name(kind), lf, lb);
    cr_assert(lf != lb, "fp8 casts changed nothing");
    size_t P = gpt_num_params(f.m);
    double c = cosine(gpt_grads(f.m), gpt_grads(b.m), P);
    cr_assert(c > 0.99, "%s: gradient cosine %g", fp8_recipe_name(kind), c);
    int fc = prec_find(&f.p, "h.1.mlp.c_fc"), pj = prec_find(&f.p, "h.0.mlp.c_proj");
    int lh = prec_row_lmhead(&f.p), ln = prec_find(&f.p, "h.0.ln_1");
    size_t N = (size_t)B * T;
    cr_assert_eq(f.st[fc].fp8[FP8_T_INPUT].count, N * C);
    cr_assert_eq(f.st[fc].fp8[FP8_T_WEIGHT].count, (size_t)C * 4 * C);
    cr_assert_eq(f.st[fc].fp8[FP8_T_GRAD].count, N * 4 * C);
    cr_assert_eq(f.st[pj].fp8[FP8_T_INPUT].count, N * 4 * C);
    /* attention's c_proj runs again in the backward (res2, docs/memory.md): counted once */
    int ap = prec_find(&f.p, "h.0.attn.c_proj");
    cr_assert_eq(f.st[ap].fp8[FP8_T_INPUT].count, N * C, "the backward's second forming counts");
    cr_assert_eq(f.st[ap].act.count, N * C);
    cr_assert_eq(f.st[lh].fp8[FP8_T_INPUT].count, N * C, "ln_f's output, once per forward");
    cr_assert_eq(f.st[lh].fp8[FP8_T_WEIGHT].count, (size_t)tiny.vocab_size * C);
    cr_assert_eq(f.st[lh].fp8[FP8_T_GRAD].count, N * tiny.vocab_size);
    cr_assert_eq(f.st[ln].fp8[FP8_T_INPUT].count, 0, "LayerNorm rows cast nothing");
    cr_assert_eq(b.st[fc].fp8[FP8_T_INPUT].count, 0, "bf16 casts nothing to fp8");
    /* the weight's amax is the master's, unscaled */
    cr_assert_eq(f.st[fc].fp8[FP8_T_WEIGHT].amax, max_abs(param(&f, "transformer.h.1.mlp.c_fc.weight"),
                                                         (size_t)C * 4 * C));
    /* the policy's act and grad dtypes are bf16: the activations are rounded as bf16's */
    cr_assert_eq(f.st[fc].act.count, N * 4 * C);
    rig_free(&f);
    rig_free(&b);
}

Test(model_fp8, delayed_near_bf16_and_counted) { near_bf16(FP8_DELAYED); }
Test(model_fp8, current_near_bf16_and_counted) { near_bf16(FP8_CURRENT); }
Test(model_fp8, mxfp8_near_bf16_and_counted) { near_bf16(FP8_MXFP8); }

/* After one step the delayed scales are fp8_max / (that step's amax): TE starts at 1, and the
 * history of one entry decides the next step's scale. */
Test(model_fp8, delayed_scales_after_a_step)
{
    rig f = rig_new(DT_FP8, FP8_DELAYED, 1);
    const fp8_state *s = gpt_fp8_const(f.m);
    int fc = prec_find(&f.p, "h.0.mlp.c_fc");
    cr_assert_eq(s->meta[fp8_index(fc, FP8_T_WEIGHT)].scale, 1.0f);
    float wmax = max_abs(param(&f, "transformer.h.0.mlp.c_fc.weight"), (size_t)C * 4 * C);
    train_step(&f, 0, 1);
    cr_assert_eq(s->steps, 1);
    cr_assert_eq(s->meta[fp8_index(fc, FP8_T_WEIGHT)].scale, 448.0f / wmax);
    cr_assert_eq(s->meta[fp8_index(fc, FP8_T_INPUT)].scale,
                 448.0f / f.st[fc].fp8[FP8_T_INPUT].amax);
    cr_assert_eq(s->meta[fp8_index(fc, FP8_T_GRAD)].scale,
                 57344.0f / f.st[fc].fp8[FP8_T_GRAD].amax, "hybrid: E5M2 gradients");
    cr_assert_eq(fp8_history_max(s, fc, FP8_T_INPUT), f.st[fc].fp8[FP8_T_INPUT].amax);
    /* step 1 cast unscaled: gradients of ~1e-3 underflow E5M2 (min 2^-16) partly; with the
     * scale from step 1's amax, step 2 flushes far fewer */
    uint64_t uf1 = f.st[fc].fp8[FP8_T_GRAD].underflow;
    train_step(&f, 0, 1);
    uint64_t uf2 = f.st[fc].fp8[FP8_T_GRAD].underflow;
    cr_assert(uf1 > 0, "unscaled E5M2 gradients should underflow at step 1");
    cr_assert(uf2 < uf1 / 4, "step 2's scale should rescue them (%llu -> %llu)",
              (unsigned long long)uf1, (unsigned long long)uf2);
    rig_free(&f);
}

/* A forward outside a step (evaluation) casts with the scales but records nothing. */
Test(model_fp8, evaluation_records_nothing)
{
    rig f = rig_new(DT_FP8, FP8_DELAYED, 1);
    train_step(&f, 0, 0);
    const fp8_state *s = gpt_fp8_const(f.m);
    size_t nb = fp8_state_bytes(s);
    uint8_t *before = malloc(nb), *after = malloc(nb);
    fp8_state_write(s, before);
    int32_t x[B * T], y[B * T];
    batch(x, y, 5);
    gpt_refresh_copies(f.m, &f.p);
    float l1 = gpt_forward(f.m, &f.p, x, y, B, T, NULL);
    float l2 = gpt_forward(f.m, &f.p, x, y, B, T, f.st);
    cr_assert_eq(l1, l2, "an eval forward is repeatable");
    fp8_state_write(s, after);
    cr_assert_eq(memcmp(before, after, nb), 0, "the state changed outside a step");
    free(before);
    free(after);
    rig_free(&f);
}

/* Current scaling: each cast's scale is fp8_max / the tensor's own amax. */
Test(model_fp8, current_scale_is_the_tensors_own)
{
    rig f = rig_new(DT_FP8, FP8_CURRENT, 1);
    train_step(&f, 0, 1);
    const fp8_state *s = gpt_fp8_const(f.m);
    int fc = prec_find(&f.p, "h.1.mlp.c_fc");
    float wmax = max_abs(param(&f, "transformer.h.1.mlp.c_fc.weight"), (size_t)C * 4 * C);
    cr_assert_eq(s->meta[fp8_index(fc, FP8_T_WEIGHT)].used_scale, 448.0f / wmax);
    cr_assert_eq(s->meta[fp8_index(fc, FP8_T_INPUT)].used_scale,
                 448.0f / f.st[fc].fp8[FP8_T_INPUT].amax);
    cr_assert_eq(f.st[fc].fp8[FP8_T_INPUT].overflow, 0, "nothing saturates at its own amax");
    cr_assert_eq(f.st[fc].fp8[FP8_T_GRAD].overflow, 0);
    rig_free(&f);
}

/* A scale far too large saturates: every nonzero input of the row counts as overflow and the
 * loss moves away from bf16's. */
Test(model_fp8, a_bad_scale_saturates_and_is_counted)
{
    rig f = rig_new(DT_FP8, FP8_DELAYED, 1), b = rig_new(DT_BF16, FP8_DELAYED, 1);
    fp8_state *s = gpt_fp8(f.m);
    int fc = prec_find(&f.p, "h.0.mlp.c_fc");
    s->meta[fp8_index(fc, FP8_T_INPUT)].scale = 1e6f;
    float lf = train_step(&f, 0, 1), lb = train_step(&b, 0, 1);
    const num_stats *in = &f.st[fc].fp8[FP8_T_INPUT];
    cr_assert_gt(in->overflow, in->count * 9 / 10, "%llu of %llu saturated",
                 (unsigned long long)in->overflow, (unsigned long long)in->count);
    (void)lf, (void)lb;
    /* every input is +-448 / 1e6 after the cast: c_fc's output collapses next to bf16's */
    cr_assert(f.st[fc].act.amax < 0.1f * b.st[fc].act.amax, "c_fc out amax %g vs bf16 %g",
              (double)f.st[fc].act.amax, (double)b.st[fc].act.amax);
    /* the next step's delayed scale comes from the amax, which saturation does not hide */
    cr_assert_eq(s->meta[fp8_index(fc, FP8_T_INPUT)].scale, 448.0f / in->amax);
    rig_free(&f);
    rig_free(&b);
}

/* An override puts one Linear in FP8 inside a bf16 run; only it casts. */
Test(model_fp8, one_row_by_override)
{
    rig f = rig_new(DT_BF16, FP8_DELAYED, 1);
    char err[256];
    cr_assert_eq(prec_set_override(&f.p, "h.1.attn.c_proj", DT_FP8, err, sizeof err), 1, "%s", err);
    train_step(&f, 0, 1);
    for (int i = 0; i < f.p.n; i++)
        for (int t = 0; t < FP8_TENSORS; t++)
            cr_assert_eq(f.st[i].fp8[t].count > 0, strcmp(f.p.rows[i].name, "h.1.attn.c_proj") == 0,
                         "%s %s", f.p.rows[i].name, fp8_tensor_name((fp8_tensor)t));
    cr_assert_eq(prec_set_override(&f.p, "h.0.ln_1", DT_FP8, err, sizeof err), -1);
    rig_free(&f);
}

/* Bits do not depend on the thread count, in any recipe. */
static void threads_agree(fp8_recipe_kind kind)
{
    rig a = rig_new(DT_FP8, kind, 1), b = rig_new(DT_FP8, kind, 2);
    for (int k = 0; k < 3; k++) {
        float la = train_step(&a, k, 1), lb = train_step(&b, k, 1);
        cr_assert_eq(la, lb, "%s step %d", fp8_recipe_name(kind), k);
    }
    size_t P = gpt_num_params(a.m);
    cr_assert_eq(memcmp(gpt_grads(a.m), gpt_grads(b.m), P * sizeof(float)), 0);
    size_t n = fp8_state_bytes(gpt_fp8_const(a.m));
    uint8_t *sa = malloc(n), *sb = malloc(n);
    fp8_state_write(gpt_fp8_const(a.m), sa);
    fp8_state_write(gpt_fp8_const(b.m), sb);
    cr_assert_eq(memcmp(sa, sb, n), 0, "scales and histories");
    free(sa);
    free(sb);
    rig_free(&a);
    rig_free(&b);
}

Test(model_fp8, threads_agree_delayed) { threads_agree(FP8_DELAYED); }
Test(model_fp8, threads_agree_mxfp8) { threads_agree(FP8_MXFP8); }

/* The memory plan names the fp8 buffers; MXFP8 adds the backward weight copy. */
Test(model_fp8, memory_plan_counts_the_casts)
{
    prec_policy p;
    cr_assert_eq(prec_init(&p, tiny.n_layer, DT_BF16), 0);
    gpt_mem_plan bf, d, mx;
    char err[256];
    cr_assert_eq(gpt_memory_plan(&tiny, &p, B, T, NULL, &bf, err, sizeof err), 0, "%s", err);
    prec_set_mode(&p, DT_FP8);
    cr_assert_eq(gpt_memory_plan(&tiny, &p, B, T, NULL, &d, err, sizeof err), 0, "%s", err);
    p.fp8.kind = FP8_MXFP8;
    cr_assert_eq(gpt_memory_plan(&tiny, &p, B, T, NULL, &mx, err, sizeof err), 0, "%s", err);
    size_t q = 2 * (size_t)B * T * 4 * C; /* q_a and q_g */
    size_t lin = (size_t)tiny.n_layer * 12 * C * C + (size_t)tiny.vocab_size * C;
    /* fp8 adds its casts (bf16 reads the tied wte from its master: no copy), and ln_f's
     * output, which lm_head's casts read whole, is kept in fp32 instead of bf16 */
    cr_assert_eq(d.total - bf.total, 4 * (q + lin) + 2 * (size_t)B * T * C);
    size_t big = (size_t)4 * C * C > (size_t)tiny.vocab_size * C ? (size_t)4 * C * C
                                                                : (size_t)tiny.vocab_size * C;
    cr_assert_eq(mx.total - d.total, 4 * big, "MXFP8's backward copy of the largest weight");
    int found = 0;
    for (int i = 0; i < d.n; i++) found += d.rows[i].dt == DT_FP8;
    cr_assert_eq(found, 2, "weight copies and scratch rows in fp8");
    prec_free(&p);
}
