/* Tests for src/train/memplan.c and model_plan.c (the model's buffer list and plan): the plan
 * against what gpt_create and one training step take from the heap, rows of a small shape
 * counted by hand, the largest-batch search and the refusal line (exit code: test_main.c). */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "memplan.h"
#include "model.h"
#include "precision.h"
#include "rng.h"

static const mem_row *find_row(const gpt_mem_plan *p, mem_kind k, int dt, int idle)
{
    for (int i = 0; i < p->n; i++)
        if (p->rows[i].kind == k && p->rows[i].dt == dt && p->rows[i].idle == idle)
            return &p->rows[i];
    return NULL;
}

static size_t heap_used(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* gpt_create plus one forward / backward / AdamW step under mode, measured with mallinfo2
 * against the plan: the model's buffers (create) and the backend's workspace (the step). */
static void check_heap_of(const gpt_config cfg, dtype_t mode, int nthreads)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("ASan's allocator does not report through mallinfo2");
#endif
    int B = 4, T = 64;
    char err[256];
    prec_policy p;
    cr_assert_eq(prec_init(&p, cfg.n_layer, mode), 0);
    backend *be = bk_create(BK_CPU, nthreads, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    gpt_mem_plan plan;
    cr_assert_eq(gpt_memory_plan(&cfg, &p, B, T, be, &plan, err, sizeof err), 0, "%s", err);
    int32_t in[4 * 64], tg[4 * 64];
    for (int i = 0; i < B * T; i++) in[i] = (i * 7) % 256, tg[i] = (i * 11 + 3) % cfg.vocab_size;

    size_t h0 = heap_used();
    gpt *m = gpt_create_for(be, &cfg, &p, B, T, err, sizeof err); /* laid out for p */
    cr_assert_not_null(m, "%s", err);
    size_t h1 = heap_used();
    rng_state r;
    rng_seed(&r, 1);
    gpt_init_weights(m, &r);
    gpt_refresh_copies(m, &p);
    gpt_row_stats *st = calloc((size_t)p.n, sizeof *st);
    cr_assert_not_null(st);
    float loss = gpt_forward(m, &p, in, tg, B, T, st);
    cr_assert(loss > 0, "loss %g", loss);
    gpt_backward(m, &p, 1.0f, st);
    /* the gradient norm's reduction of the largest tensor (wte, first in the flat buffer) */
    double ss = bk_sumsq(be, gpt_grads(m), (size_t)cfg.vocab_size * (size_t)cfg.n_embd);
    cr_assert(ss > 0);
    size_t n = gpt_num_params(m);
    bk_adamw(be, gpt_params(m), gpt_grads(m), gpt_adam_m(m), gpt_adam_v(m), n, 1e-3, 0.9, 0.999,
             1e-8, 0.0, 1, 1.0f);
    cr_assert_eq(bk_status(be, err, sizeof err), 0, "%s", err);
    free(st);
    size_t h2 = heap_used();

    const mem_row *ws = find_row(&plan, MEM_WORKSPACE, DT_F32, 0);
    const mem_row *stage = find_row(&plan, MEM_STAGING, DT_F32, 0);
    cr_assert_not_null(ws);
    cr_assert_not_null(stage);
    size_t C = (size_t)cfg.n_embd, wte = (size_t)cfg.vocab_size * C, fc = 4 * C * C;
    cr_assert_eq(stage->values, wte > fc ? wte : fc, "a checkpoint load's buffer: wte or c_fc");
    double model = (double)(plan.total - ws->bytes - stage->bytes), got = (double)(h1 - h0);
    /* per buffer: bk_alloc's 64-byte header and malloc's own few bytes or page */
    cr_assert(got >= model && got <= model * 1.02 + 65536, "%s: plan %.0f, allocated %.0f",
              dtype_name(mode), model, got);
    double step = (double)h2 - (double)h1, wsb = (double)ws->bytes;
    cr_assert(step >= wsb && step <= wsb + 8 * 4096, "%s x%d: workspace plan %.0f, step took %.0f",
              dtype_name(mode), nthreads, wsb, step);
    /* the model's part in fp32 is gpt_memory_bytes (what the comparison fork checks) */
    if (mode == DT_F32)
        cr_assert_eq(gpt_memory_bytes(&cfg, B, T), plan.total - ws->bytes - stage->bytes);
    gpt_mem_plan live;
    gpt_model_memory_plan(m, &p, &live);
    cr_assert_eq(live.total, plan.total);
    gpt_free(m);
    bk_destroy(be);
    prec_free(&p);
}

static void check_heap(dtype_t mode, int nthreads)
{
    check_heap_of((gpt_config){2, 2, 64, 64, 256}, mode, nthreads);
}

Test(memplan, plan_matches_heap_fp32) { check_heap(DT_F32, 1); }
Test(memplan, plan_matches_heap_bf16) { check_heap(DT_BF16, 2); }
Test(memplan, plan_matches_heap_fp16) { check_heap(DT_F16, 1); }

/* The bf16 plan of cfg at B x T on a CPU backend of nthreads (returned; p is the policy). */
static backend *bf16_plan(const gpt_config *cfg, int nthreads, int B, int T, prec_policy *p,
                          gpt_mem_plan *plan)
{
    char err[256];
    cr_assert_eq(prec_init(p, cfg->n_layer, DT_BF16), 0);
    backend *be = bk_create(BK_CPU, nthreads, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    cr_assert_eq(gpt_memory_plan(cfg, p, B, T, be, plan, err, sizeof err), 0, "%s", err);
    return be;
}

/* GPT-2's vocabulary: lm_head reads the tied wte (50257 x 256) from its master, rounded one
 * tile at a time by both classifier GEMMs (their tiles split the vocabulary, then the 256
 * columns), so neither a 16-bit copy of it nor a whole rounded one exists: the workspace is
 * the 2 threads' tiles (tiles of 3152 rows, then of 64 columns, of the wte) and the heap
 * matches the plan. */
Test(memplan, plan_matches_heap_bf16_gpt2_vocabulary)
{
    const gpt_config cfg = {1, 2, 256, 64, 50257};
    check_heap_of(cfg, DT_BF16, 2);
    prec_policy p;
    gpt_mem_plan plan;
    backend *be = bf16_plan(&cfg, 2, 4, 64, &p, &plan);
    /* the biases only: c_attn 768 + attn.c_proj 256 + c_fc 1024 + mlp.c_proj 256 */
    cr_assert_eq(find_row(&plan, MEM_WCOPY, DT_BF16, 0)->values, 2304);
    size_t ws = find_row(&plan, MEM_WORKSPACE, DT_F32, 0)->bytes;
    cr_assert_lt(ws, (size_t)50257 * 256 * 4, "workspace %zu: a whole rounded wte", ws);
    cr_assert_geq(ws, (size_t)2 * 64 * 50257 * 4, "workspace %zu: two tiles of 64 columns", ws);
    bk_destroy(be);
    prec_free(&p);
}

/* L=1, NH=2, C=8, block 4, V=16 at B=2, T=4, bf16, counted by hand (docs/memory.md). */
Test(memplan, rows_by_hand)
{
    const gpt_config cfg = {1, 2, 8, 4, 16};
    char err[256];
    prec_policy p;
    gpt_mem_plan plan;
    backend *be = bf16_plan(&cfg, 1, 2, 4, &p, &plan);
    /* params: wte 16*8 + wpe 4*8 + block 12*64 + 13*8 + ln_f 16 = 1048 */
    static const struct { mem_kind k; int dt, store; size_t values; } want[] = {
        {MEM_MASTER, DT_F32, DT_F32, 1048},
        {MEM_GRAD, DT_F32, DT_F32, 1048},
        {MEM_ADAM_M, DT_F32, DT_F32, 1048},
        {MEM_ADAM_V, DT_F32, DT_F32, 1048},
        /* copies: the biases c_attn 24, attn.c_proj 8, c_fc 32, mlp.c_proj 8; the weight
         * matrices, lm_head's tied wte included, are rounded by the GEMM from the masters */
        {MEM_WCOPY, DT_BF16, DT_F32, 72},
        /* LN mean/rstd 6 x 8, att row stats (2,2,4,2) 32, res3 64 (the encoder's output and
         * res2 are formed in it, not kept), losses 8 */
        {MEM_ACT, DT_F32, DT_F32, 152},
        {MEM_ACT, DT_BF16, DT_F32, 128}, /* a chunk of logits (then dlogits) */
        /* ln1 qkv atty ln2 fch gelu, ln_f */
        {MEM_ACT, DT_BF16, DT_BF16, 64 + 192 + 64 + 64 + 256 + 256 + 64},
        {MEM_TOKENS, MEM_DT_I32, MEM_DT_I32, 16},
        /* dres 64, unp (T,3C) 96 (batch 2: dc is smaller than a row); lm_head's dW sums in
         * wte's gradient (no 16 x 8 apart) */
        {MEM_SCRATCH, DT_F32, DT_F32, 160},
        /* dc 64, dc2 64 (dlnf too), d4c 256 (attention's d3c after the MLP's); no qkv_cast */
        {MEM_SCRATCH, DT_BF16, DT_F32, 384},
        /* the largest weight matrix rounded from its master (B: c_fc's 32 x 8; the tied wte
         * is 16 x 8, whole: a tile per thread would be larger), the fp32 weight
         * gradient (OUT) 256 floats, attention 1 thread x (2 x 4 x 4 query block + 2 x 4 x 4
         * dK / dV), partials 8 -> 64 bytes */
        {MEM_WORKSPACE, DT_F32, DT_F32, 256 + 256 + 64 + 16},
        {MEM_STAGING, DT_F32, DT_F32, 256}, /* a checkpoint load's buffer: the largest tensor */
    };
    size_t n = sizeof want / sizeof want[0], total = 0, total32 = 0;
    cr_assert_eq(plan.n, (int)n);
    for (size_t i = 0; i < n; i++) {
        const mem_row *r = &plan.rows[i];
        cr_assert_eq(r->kind, want[i].k, "row %zu", i);
        cr_assert_eq(r->dt, want[i].dt, "row %zu", i);
        cr_assert_eq(r->idle, 0, "row %zu", i);
        cr_assert_eq(r->store, want[i].store, "row %zu", i);
        cr_assert_eq(r->values, want[i].values, "row %zu (%s): %zu", i, mem_kind_name(r->kind),
                     r->values);
        size_t bytes = want[i].values * (want[i].store == DT_BF16 ? 2 : 4);
        cr_assert_eq(r->bytes, bytes, "row %zu", i);
        cr_assert_eq(r->fp32_bytes, 4 * want[i].values);
        total += bytes;
        total32 += 4 * want[i].values;
    }
    cr_assert_eq(plan.total, total);
    cr_assert_eq(plan.total_fp32, total32);
    /* an fp32 policy: no copies, no 16-bit storage, no unpack buffer; the GEMMs read
     * every operand as it is (no workspace slot for A, B or C) */
    prec_set_mode(&p, DT_F32);
    cr_assert_eq(gpt_memory_plan(&cfg, &p, 2, 4, be, &plan, err, sizeof err), 0);
    cr_assert_null(find_row(&plan, MEM_WCOPY, DT_F32, 0));
    cr_assert_null(find_row(&plan, MEM_WCOPY, DT_F32, 1));
    cr_assert_null(find_row(&plan, MEM_WCOPY, DT_BF16, 0));
    cr_assert_eq(find_row(&plan, MEM_ACT, DT_F32, 0)->values, 152 + 192 + 896);
    cr_assert_eq(find_row(&plan, MEM_SCRATCH, DT_F32, 0)->values, 64 + 384);
    cr_assert_eq(find_row(&plan, MEM_WORKSPACE, DT_F32, 0)->bytes, 1024 + 256 + 64);
    for (int i = 0; i < plan.n; i++) cr_assert_eq(plan.rows[i].bytes, plan.rows[i].fp32_bytes);
    /* an override that makes c_attn (weight and bias copies, output and gradient in bf16) read
     * ln_1's fp32 output: rounded copies of that input for the forward (A: 8 x 8) and for dW
     * (C: 8 x 8), and of its weight matrix from the master (B: 8 x 24); attention (fp32) then
     * reads c_attn's bf16 output through a cast copy (qkv_cast), and the unpack buffer exists */
    cr_assert_eq(prec_set_override(&p, "h.0.attn.c_attn", DT_BF16, err, sizeof err), 1, "%s", err);
    cr_assert_eq(gpt_memory_plan(&cfg, &p, 2, 4, be, &plan, err, sizeof err), 0);
    cr_assert_eq(find_row(&plan, MEM_WORKSPACE, DT_F32, 0)->bytes,
                 1024 + 256 + 64 + 4 * (64 + 64 + 192));
    cr_assert_eq(find_row(&plan, MEM_WCOPY, DT_BF16, 0)->values, 24);
    cr_assert_eq(find_row(&plan, MEM_ACT, DT_BF16, 0)->values, 192);
    cr_assert_eq(find_row(&plan, MEM_SCRATCH, DT_F32, 0)->values, 64 + 384 + 192 + 96);
    /* from batch 3 up dc (B x T x C) holds a batch row of c_attn's output (T x 3C): no unp */
    cr_assert_eq(gpt_memory_plan(&cfg, &p, 3, 4, be, &plan, err, sizeof err), 0);
    size_t bt = 3 * 4; /* dres, dc, dc2 (BT x C), d4c (BT x 4C), qkv_cast (BT x 3C) */
    cr_assert_eq(find_row(&plan, MEM_SCRATCH, DT_F32, 0)->values, bt * (3 * 8 + 32 + 24));
    /* gradient accumulation keeps lm_head's sum apart: 16 x 8 more */
    size_t before = find_row(&plan, MEM_SCRATCH, DT_F32, 0)->values;
    gpt_memory_plan_add_grad_sum(&cfg, &plan);
    cr_assert_eq(find_row(&plan, MEM_SCRATCH, DT_F32, 0)->values, before + 128);
    bk_destroy(be);
    prec_free(&p);
}

Test(memplan, bad_shape)
{
    const gpt_config bad = {1, 3, 8, 4, 16};
    char err[256];
    gpt_mem_plan plan;
    cr_assert_eq(gpt_memory_plan(&bad, NULL, 1, 4, NULL, &plan, err, sizeof err), -1);
    cr_assert_str_eq(err, "model: n_embd (8) must be divisible by n_head (3)");
    const gpt_config ok = {1, 2, 8, 4, 16};
    cr_assert_eq(gpt_memory_plan(&ok, NULL, 1, 5, NULL, &plan, err, sizeof err), -1);
    cr_assert_str_eq(err, "model: batch 1 x 5 does not fit (block_size 4)");
    cr_assert_eq(gpt_memory_bytes(&bad, 1, 4), 0);
}

/* The fp32-equivalent column: what the same values would take in fp32, whatever they are
 * stored in. Rows are added by hand here, so a 16-bit storage is visible too. */
Test(memplan, fp32_equivalent)
{
    gpt_mem_plan p;
    memset(&p, 0, sizeof p);
    mem_plan_add(&p, MEM_ACT, DT_BF16, 0, 1000);
    mem_plan_add(&p, MEM_ACT, DT_F32, 0, 10);
    mem_plan_add(&p, MEM_ACT, DT_BF16, 0, 24);
    mem_plan_add(&p, MEM_MASTER, DT_F32, 0, 5);
    mem_plan_add_bytes(&p, MEM_WORKSPACE, 6);
    mem_plan_add_bytes(&p, MEM_WORKSPACE, 0);
    cr_assert_eq(p.n, 4);
    cr_assert_eq(p.rows[0].kind, MEM_MASTER); /* sorted by kind, then dtype */
    cr_assert_eq(p.rows[1].dt, DT_F32);
    cr_assert_eq(p.rows[2].dt, DT_BF16);
    cr_assert_eq(p.rows[2].values, 1024);
    cr_assert_eq(p.rows[2].fp32_bytes, 4096);
    cr_assert_eq(p.rows[2].bytes, 1024 * 4); /* mem_plan_add: stored as fp32 */
    cr_assert_eq(p.rows[2].store, DT_F32);
    cr_assert_eq(p.rows[3].bytes, 8); /* 6 bytes -> 2 fp32 slots */
    cr_assert_eq(p.total_fp32, 4 * (1024 + 10 + 5 + 2));
    cr_assert_eq(mem_dt_bytes(DT_BF16), 2);
    cr_assert_eq(mem_dt_bytes(DT_F16), 2);
    cr_assert_eq(mem_dt_bytes(DT_F32), 4);
    cr_assert_eq(mem_dt_bytes(MEM_DT_I32), 4);
    /* stored in 16 bits: half the bytes, the same fp32-equivalent; its own row */
    mem_plan_add_stored(&p, MEM_ACT, DT_BF16, DT_BF16, 100);
    cr_assert_eq(p.n, 5);
    cr_assert_eq(p.rows[3].store, DT_BF16);
    cr_assert_eq(p.rows[3].bytes, 200);
    cr_assert_eq(p.rows[3].fp32_bytes, 400);
    cr_assert_eq(p.total_fp32, 4 * (1024 + 10 + 5 + 2 + 100));
    cr_assert_eq(p.total, 4 * (1024 + 10 + 5 + 2) + 200);
}

Test(memplan, format)
{
    gpt_mem_plan p;
    memset(&p, 0, sizeof p);
    mem_plan_add(&p, MEM_MASTER, DT_F32, 0, 256 << 10);
    mem_plan_add(&p, MEM_WCOPY, DT_BF16, 0, 1 << 20);
    mem_plan_add(&p, MEM_WCOPY, DT_F32, 1, 256);
    char out[2048];
    mem_plan_format(&p, "memory plan: test", (size_t)3 << 30, out, sizeof out);
    cr_assert_str_eq(out,
                     "memory plan: test\n"
                     "  buffer                     dtype stored      bytes  fp32-equiv\n"
                     "  master weights             fp32  fp32      1.0 MiB     1.0 MiB\n"
                     "  weight copies              bf16  fp32      4.0 MiB     4.0 MiB\n"
                     "  weight copies (idle)       fp32  fp32      1.0 KiB     1.0 KiB\n"
                     "  total (peak)                               5.0 MiB     5.0 MiB\n"
                     "  peak 5.0 MiB, 3.0 GiB available: fits\n");
    mem_plan_format(&p, "t", (size_t)4 << 20, out, sizeof out);
    cr_assert(strstr(out, "  peak 5.0 MiB, 4.0 MiB available: does not fit\n") != NULL, "%s", out);
    mem_plan_format(&p, "t", 0, out, sizeof out);
    cr_assert_null(strstr(out, "available"));
    char small[40];
    mem_plan_format(&p, "memory plan: test", 0, small, sizeof small); /* truncates safely */
    cr_assert_eq(strlen(small), sizeof small - 1);
}

/* peak(B) = 100 + 10 B bytes */
static size_t linear_peak(void *ctx, int B)
{
    (void)ctx;
    return B < 1 ? 0 : 100 + 10 * (size_t)B;
}

Test(memplan, largest_batch)
{
    cr_assert_eq(mem_largest_batch(linear_peak, NULL, 64, 150), 5);
    cr_assert_eq(mem_largest_batch(linear_peak, NULL, 64, 149), 4);
    cr_assert_eq(mem_largest_batch(linear_peak, NULL, 3, 1000), 3);
    cr_assert_eq(mem_largest_batch(linear_peak, NULL, 64, 109), 0);
    cr_assert_eq(mem_largest_batch(linear_peak, NULL, 0, 1000), 0);
    cr_assert_eq(mem_largest_batch(linear_peak, NULL, 1 << 20, (size_t)1 << 40), 1 << 20);
}

/* The run's own search: a real plan, a made-up available figure. */
static size_t gpt_peak(void *ctx, int B)
{
    const gpt_config *c = ctx;
    return gpt_memory_bytes(c, B, 64);
}

Test(memplan, largest_batch_of_a_model)
{
    gpt_config c = {2, 2, 64, 64, 256};
    size_t at5 = gpt_memory_bytes(&c, 5, 64), at6 = gpt_memory_bytes(&c, 6, 64);
    cr_assert(at5 < at6);
    cr_assert_eq(mem_largest_batch(gpt_peak, &c, 16, at5), 5);
    cr_assert_eq(mem_largest_batch(gpt_peak, &c, 16, at6 - 1), 5);
    cr_assert_eq(mem_largest_batch(gpt_peak, &c, 16, gpt_memory_bytes(&c, 1, 64) - 1), 0);
}

Test(memplan, refusal)
{
    char out[512];
    size_t gib = (size_t)1 << 30;
    mem_refusal(out, sizeof out, "12L/12H/768d model", 4, 1024, "bf16", 9 * gib + gib / 10,
                6 * gib + gib / 5, 2, 5 * gib + 4 * gib / 5);
    cr_assert_str_eq(out, "memory: a 12L/12H/768d model at batch 4 x 1024 in bf16 needs 9.1 GiB, "
                          "6.2 GiB available; --per_device_train_batch_size 2 fits (5.8 GiB)");
    mem_refusal(out, sizeof out, "1L/1H/65536d model", 1, 64, "fp32", 80 * gib, gib, 0, 80 * gib);
    cr_assert_str_eq(out, "memory: a 1L/1H/65536d model at batch 1 x 64 in fp32 needs 80.0 GiB, "
                          "1.0 GiB available; even batch 1 needs 80.0 GiB: use a smaller model "
                          "(--n_layer, --n_embd), a shorter --block_size, or free memory");
}

Test(memplan, names)
{
    cr_assert_str_eq(mem_kind_name(MEM_ADAM_V), "AdamW v");
    cr_assert_str_eq(mem_kind_name(MEM_WORKSPACE), "backend workspace");
    cr_assert_str_eq(mem_kind_name(MEM_KIND_COUNT), "?");
    cr_assert_str_eq(mem_dt_name(MEM_DT_I32), "int32");
    cr_assert_str_eq(mem_dt_name(DT_BF16), "bf16");
    char b[32];
    mem_fmt_bytes(512, b, sizeof b);
    cr_assert_str_eq(b, "512 B");
    mem_fmt_bytes(1536, b, sizeof b);
    cr_assert_str_eq(b, "1.5 KiB");
}

/* What the backend reports it can still give. */
Test(memplan, mem_available)
{
    char err[256];
    backend *be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
    size_t a = bk_mem_available(be);
    cr_assert(a > ((size_t)16 << 20) && a < SIZE_MAX, "%zu", a);
    bk_destroy(be);
}
