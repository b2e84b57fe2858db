/* test_checkpoint.c — checkpoint directories on a tiny CPU model: bit-exact save/load, an
 * independent read of the files, rotation, every corrupt-file refusal, init_from, save errors,
 * and SIGKILL at random moments during saves. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "checkpoint.h"
#include "model.h"
#include "safetensors.h"
#include "test_ckpt_util.h"
#include "test_deadline.h"

static char tdir[256];
static char err[1024];
static backend *be;
static const gpt_config tiny = {.n_layer = 2, .n_head = 2, .n_embd = 32, .block_size = 16,
                                 .vocab_size = 64};

static void setup(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/mptui-ckpt-XXXXXX");
    cr_assert_not_null(mkdtemp(tdir));
    be = bk_create(BK_CPU, 1, err, sizeof err);
    cr_assert_not_null(be, "%s", err);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    cr_assert_eq(system(cmd), 0);
    bk_destroy(be);
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static size_t nparams(gpt *m) { return gpt_num_params(m); }

static float *host_copy(gpt *m, float *buf)
{
    size_t n = nparams(m);
    float *h = malloc(n * sizeof *h);
    bk_download(be, h, buf, n * sizeof *h);
    return h;
}

/* Parameters, m and v filled from a seed (v > 0, odd bit patterns included). */
static gpt *make_model(uint64_t seed)
{
    gpt *m = gpt_create(be, &tiny, 1, 16, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    rng_state r;
    rng_seed(&r, seed);
    gpt_init_weights(m, &r);
    size_t n = nparams(m);
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = rng_normal(&r) * 1e-3f;
    h[0] = 1e-40f; /* subnormal */
    bk_upload(be, gpt_adam_m(m), h, n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = rng_uniform(&r) * 1e-6f;
    bk_upload(be, gpt_adam_v(m), h, n * sizeof *h);
    free(h);
    return m;
}

static gpt *empty_model(void)
{
    gpt *m = gpt_create(be, &tiny, 1, 16, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    return m;
}

static void expect_buffers_eq(gpt *a, gpt *b)
{
    float *bufs_a[3] = {gpt_params(a), gpt_adam_m(a), gpt_adam_v(a)};
    float *bufs_b[3] = {gpt_params(b), gpt_adam_m(b), gpt_adam_v(b)};
    for (int k = 0; k < 3; k++) {
        float *x = host_copy(a, bufs_a[k]), *y = host_copy(b, bufs_b[k]);
        cr_assert_eq(memcmp(x, y, nparams(a) * sizeof *x), 0, "buffer %d differs", k);
        free(x);
        free(y);
    }
}

static void save_ok(gpt *m, int64_t step, int limit, char *saved, size_t len)
{
    ckpt_state st;
    fill_state(&st, step);
    cr_assert_eq(ckpt_save(tdir, m, &st, limit, saved, len, err, sizeof err), 0, "%s", err);
    ckpt_state_free(&st);
}

static int exists(const char *fmt, const char *a)
{
    char p[1024];
    snprintf(p, sizeof p, fmt, tdir, a);
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void ckpt_path(char *out, size_t len, int64_t step, const char *file)
{
    snprintf(out, len, "%s/checkpoint-%lld%s%s", tdir, (long long)step, file ? "/" : "",
             file ? file : "");
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    b[*len] = 0;
    fclose(f);
    return b;
}

static void write_all_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* ---- save / load ---- */

Test(checkpoint, save_then_load_is_bit_identical)
{
    gpt *a = make_model(1), *b = make_model(2);
    ckpt_state st, got;
    fill_state(&st, 30);
    char saved[1024];
    cr_assert_eq(ckpt_save(tdir, a, &st, 0, saved, sizeof saved, err, sizeof err), 0, "%s", err);
    char want[1024];
    ckpt_path(want, sizeof want, 30, NULL);
    cr_assert_str_eq(saved, want);
    cr_assert_eq(ckpt_load(saved, b, &got, err, sizeof err), 0, "%s", err);
    expect_buffers_eq(a, b);
    expect_state_eq(&st, &got);
    char latest[1024];
    cr_assert_eq(ckpt_find_latest(tdir, latest, sizeof latest, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(latest, want);
    /* nothing temporary left behind */
    DIR *d = opendir(tdir);
    struct dirent *e;
    while ((e = readdir(d))) cr_assert_neq(strncmp(e->d_name, ".tmp", 4), 0, "%s", e->d_name);
    closedir(d);
    ckpt_state_free(&st);
    ckpt_state_free(&got);
    cr_assert_null(got.log_history);
    gpt_free(a);
    gpt_free(b);
}

/* ZeRO-1 (docs/dist.md): a model holding rank r's share of the AdamW state loads exactly
 * its own tensors' m and v from a full checkpoint; the shares of 3 ranks together are the
 * file's. A save of a share alone is refused; with every share gathered into st it writes
 * the bytes the full model writes. */
Test(checkpoint, zero1_shares_load_their_tensors_and_save_when_gathered)
{
    gpt *a = make_model(7);
    ckpt_state st, got;
    fill_state(&st, 12);
    char saved[1024], again[1024];
    cr_assert_eq(ckpt_save(tdir, a, &st, 0, saved, sizeof saved, err, sizeof err), 0, "%s", err);
    float *am = host_copy(a, gpt_adam_m(a)), *av = host_copy(a, gpt_adam_v(a));
    size_t n = nparams(a), covered = 0;
    for (int r = 0; r < 3; r++) {
        gpt *s = gpt_create_shard(be, &tiny, NULL, 1, 16, r, 3, err, sizeof err);
        cr_assert_not_null(s, "%s", err);
        cr_assert_eq(ckpt_load(saved, s, &got, err, sizeof err), 0, "%s", err);
        ckpt_state_free(&got);
        size_t k = gpt_adam_numel(s);
        float *sm = malloc((k ? k : 1) * sizeof *sm), *sv = malloc((k ? k : 1) * sizeof *sv);
        bk_download(be, sm, gpt_adam_m(s), k * sizeof *sm);
        bk_download(be, sv, gpt_adam_v(s), k * sizeof *sv);
        for (int i = 0; i < gpt_num_tensors(s); i++) {
            const gpt_tensor *t = gpt_tensor_at(s, i);
            float *pm = gpt_tensor_adam_m(s, i);
            cr_assert_eq(pm != NULL, gpt_adam_owner(s, i, 3) == r, "tensor %s", t->name);
            if (!pm) continue;
            size_t at = (size_t)(pm - gpt_adam_m(s));
            cr_assert_eq(memcmp(sm + at, am + t->offset, t->numel * sizeof *sm), 0, "%s", t->name);
            cr_assert_eq(memcmp(sv + at, av + t->offset, t->numel * sizeof *sv), 0, "%s", t->name);
            covered += t->numel;
        }
        /* a share alone cannot make the single-file checkpoint */
        cr_assert_neq(ckpt_save(tdir, s, &st, 0, again, sizeof again, err, sizeof err), 0);
        cr_assert(strstr(err, "holds only its share of the AdamW state") != NULL, "%s", err);
        if (r == 1) { /* gathered: the same bytes as the full model's */
            char p1[1024], p2[1024];
            size_t l1, l2;
            ckpt_path(p1, sizeof p1, 12, "optimizer.safetensors");
            char *full = read_all(p1, &l1);
            st.adam_host[0] = am, st.adam_host[1] = av;
            fill_state(&got, 13);
            got.adam_host[0] = am, got.adam_host[1] = av;
            cr_assert_eq(ckpt_save(tdir, s, &got, 0, again, sizeof again, err, sizeof err), 0,
                         "%s", err);
            ckpt_state_free(&got);
            st.adam_host[0] = st.adam_host[1] = NULL;
            ckpt_path(p2, sizeof p2, 13, "optimizer.safetensors");
            char *mine = read_all(p2, &l2);
            cr_assert_eq(l1, l2);
            cr_assert_eq(memcmp(full, mine, l1), 0, "the gathered save differs");
            free(full);
            free(mine);
        }
        free(sm);
        free(sv);
        gpt_free(s);
    }
    cr_assert_eq(covered, n, "the shares cover every parameter once");
    free(am);
    free(av);
    ckpt_state_free(&st);
    gpt_free(a);
}

Test(checkpoint, same_step_replaced_atomically)
{
    gpt *a = make_model(1), *b = make_model(2), *c = empty_model();
    char saved[1024];
    ckpt_state st;
    save_ok(a, 10, 0, saved, sizeof saved);
    save_ok(b, 10, 0, saved, sizeof saved);
    cr_assert_eq(ckpt_load(saved, c, &st, err, sizeof err), 0, "%s", err);
    expect_buffers_eq(b, c);
    ckpt_state_free(&st);
    cr_assert(!exists("%s/.tmp-old-%s", ""));
    gpt_free(a);
    gpt_free(b);
    gpt_free(c);
}

/* The files read without the reader under test: header by hand, JSON with jansson. */
static json_t *hand_header(const char *path, size_t *data_len)
{
    size_t len;
    uint8_t *raw = (uint8_t *)read_all(path, &len);
    cr_assert_geq(len, 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
    cr_assert_leq(hl, len - 8);
    cr_assert_eq((8 + hl) % 8, 0, "data section 8-byte aligned");
    json_error_t je;
    json_t *h = json_loadb((char *)raw + 8, hl, 0, &je);
    cr_assert_not_null(h, "%s", je.text);
    *data_len = len - 8 - hl;
    free(raw);
    return h;
}

static void expect_tensor(json_t *h, const char *name, int64_t d0, int64_t d1, uint64_t *total)
{
    json_t *e = json_object_get(h, name);
    cr_assert_not_null(e, "tensor %s absent", name);
    cr_assert_str_eq(json_string_value(json_object_get(e, "dtype")), "F32");
    json_t *s = json_object_get(e, "shape"), *o = json_object_get(e, "data_offsets");
    cr_assert_eq(json_array_size(s), d1 ? 2 : 1, "%s rank", name);
    cr_assert_eq(json_integer_value(json_array_get(s, 0)), d0, "%s dim 0", name);
    if (d1) cr_assert_eq(json_integer_value(json_array_get(s, 1)), d1, "%s dim 1", name);
    int64_t b = json_integer_value(json_array_get(o, 0)), en = json_integer_value(json_array_get(o, 1));
    cr_assert_eq(en - b, 4 * d0 * (d1 ? d1 : 1), "%s bytes", name);
    *total += (uint64_t)(en - b);
}

static void expect_gpt2_names(json_t *h, const char *suffix, size_t data_len)
{
    const int C = 32, V = 64, T = 16;
    char nm[128];
    uint64_t total = 0;
    static const struct { const char *n; int r, c; } blk[] = {
        {"ln_1.weight", 1, 0}, {"ln_1.bias", 1, 0}, {"attn.c_attn.weight", 1, 3},
        {"attn.c_attn.bias", 3, 0}, {"attn.c_proj.weight", 1, 1}, {"attn.c_proj.bias", 1, 0},
        {"ln_2.weight", 1, 0}, {"ln_2.bias", 1, 0}, {"mlp.c_fc.weight", 1, 4},
        {"mlp.c_fc.bias", 4, 0}, {"mlp.c_proj.weight", 4, 1}, {"mlp.c_proj.bias", 1, 0}};
    snprintf(nm, sizeof nm, "transformer.wte.weight%s", suffix);
    expect_tensor(h, nm, V, C, &total);
    snprintf(nm, sizeof nm, "transformer.wpe.weight%s", suffix);
    expect_tensor(h, nm, T, C, &total);
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 12; i++) {
            snprintf(nm, sizeof nm, "transformer.h.%d.%s%s", l, blk[i].n, suffix);
            expect_tensor(h, nm, blk[i].r * C, blk[i].c * C, &total);
        }
    snprintf(nm, sizeof nm, "transformer.ln_f.weight%s", suffix);
    expect_tensor(h, nm, C, 0, &total);
    snprintf(nm, sizeof nm, "transformer.ln_f.bias%s", suffix);
    expect_tensor(h, nm, C, 0, &total);
    /* optimizer files hold two moments per tensor: each suffix covers half the section */
    cr_assert_eq(total * (suffix[0] ? 2 : 1), data_len, "data section fully covered");
}

Test(checkpoint, files_readable_by_an_independent_parser)
{
    gpt *a = make_model(3);
    char p[1024];
    save_ok(a, 7, 0, NULL, 0);
    size_t dl;
    ckpt_path(p, sizeof p, 7, "model.safetensors");
    json_t *h = hand_header(p, &dl);
    cr_assert_eq(json_object_size(h), 2 + 2 + 24 + 1, "26 tensors + __metadata__");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(h, "__metadata__"),
                                                       "format")), "pt");
    expect_gpt2_names(h, "", dl);
    json_decref(h);
    ckpt_path(p, sizeof p, 7, "optimizer.safetensors");
    h = hand_header(p, &dl);
    cr_assert_eq(json_object_size(h), 2 * 28 + 1);
    json_t *m1 = json_object_get(h, "transformer.h.1.mlp.c_fc.weight.exp_avg");
    json_t *v1 = json_object_get(h, "transformer.h.1.mlp.c_fc.weight.exp_avg_sq");
    cr_assert_not_null(m1);
    cr_assert_not_null(v1);
    json_decref(h);

    ckpt_path(p, sizeof p, 7, "config.json");
    json_error_t je;
    json_t *c = json_load_file(p, 0, &je);
    cr_assert_not_null(c);
    cr_assert_str_eq(json_string_value(json_object_get(c, "model_type")), "gpt2");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "architectures"), 0)),
                     "GPT2LMHeadModel");
    cr_assert_eq(json_integer_value(json_object_get(c, "n_layer")), 2);
    cr_assert_eq(json_integer_value(json_object_get(c, "n_head")), 2);
    cr_assert_eq(json_integer_value(json_object_get(c, "n_embd")), 32);
    cr_assert_eq(json_integer_value(json_object_get(c, "n_positions")), 16);
    cr_assert_eq(json_integer_value(json_object_get(c, "n_ctx")), 16);
    cr_assert_eq(json_integer_value(json_object_get(c, "vocab_size")), 64);
    cr_assert_str_eq(json_string_value(json_object_get(c, "activation_function")), "gelu_new");
    cr_assert_eq(json_real_value(json_object_get(c, "layer_norm_epsilon")), 1e-5);
    cr_assert(json_is_true(json_object_get(c, "tie_word_embeddings")));
    cr_assert_eq(json_number_value(json_object_get(c, "resid_pdrop")), 0.0);
    json_decref(c);

    /* wte bytes at its offsets equal the model's first V*C parameters */
    ckpt_path(p, sizeof p, 7, "model.safetensors");
    size_t len;
    uint8_t *raw = (uint8_t *)read_all(p, &len);
    h = hand_header(p, &dl);
    json_t *o = json_object_get(json_object_get(h, "transformer.wte.weight"), "data_offsets");
    size_t b = (size_t)json_integer_value(json_array_get(o, 0));
    float *host = host_copy(a, gpt_params(a));
    const gpt_tensor *wte = gpt_tensor_at(a, gpt_find_tensor(a, "transformer.wte.weight"));
    cr_assert_eq(memcmp(raw + (len - dl) + b, host + wte->offset, 64 * 32 * 4), 0);
    free(host);
    free(raw);
    json_decref(h);
    gpt_free(a);
}

Test(checkpoint, optimizer_file_covers_every_tensor_twice)
{
    gpt *a = make_model(3);
    char p[1024];
    save_ok(a, 8, 0, NULL, 0);
    size_t dl;
    ckpt_path(p, sizeof p, 8, "optimizer.safetensors");
    json_t *h = hand_header(p, &dl);
    expect_gpt2_names(h, ".exp_avg", dl);
    expect_gpt2_names(h, ".exp_avg_sq", dl);
    json_decref(h);
    gpt_free(a);
}

/* ---- rotation and latest ---- */

static int count_checkpoints(int64_t *steps, int max)
{
    DIR *d = opendir(tdir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        long long s;
        char tail;
        if (sscanf(e->d_name, "checkpoint-%lld%c", &s, &tail) == 1 && n < max) steps[n++] = s;
    }
    closedir(d);
    for (int i = 0; i < n; i++) /* sort ascending */
        for (int j = i + 1; j < n; j++)
            if (steps[j] < steps[i]) { int64_t t = steps[i]; steps[i] = steps[j]; steps[j] = t; }
    return n;
}

Test(checkpoint, rotation_keeps_newest_n)
{
    gpt *a = make_model(4);
    int64_t s[32];
    for (int step = 10; step <= 60; step += 10) save_ok(a, step, 3, NULL, 0);
    cr_assert_eq(count_checkpoints(s, 32), 3);
    cr_assert_eq(s[0], 40);
    cr_assert_eq(s[1], 50);
    cr_assert_eq(s[2], 60);
    /* an older step just written is never the one deleted */
    save_ok(a, 5, 3, NULL, 0);
    cr_assert_eq(count_checkpoints(s, 32), 3);
    cr_assert_eq(s[0], 5);
    cr_assert_eq(s[1], 50);
    cr_assert_eq(s[2], 60);
    save_ok(a, 70, 1, NULL, 0);
    cr_assert_eq(count_checkpoints(s, 32), 1);
    cr_assert_eq(s[0], 70);
    for (int step = 71; step <= 75; step++) save_ok(a, step, 0, NULL, 0);
    cr_assert_eq(count_checkpoints(s, 32), 6, "limit 0 keeps all");
    gpt_free(a);
}

Test(checkpoint, rotation_removes_stale_tmp_and_ignores_others)
{
    gpt *a = make_model(4);
    char p[1024];
    snprintf(p, sizeof p, "%s/.tmp-checkpoint-7-999999999", tdir); /* no such pid */
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/.tmp-checkpoint-7-999999999/model.safetensors", tdir);
    write_all_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/.tmp-checkpoint-8-%ld", tdir, (long)getppid()); /* alive */
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/checkpoint-99", tdir); /* incomplete: not counted, not touched */
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/checkpoint-abc", tdir);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/.tmp-user-notes", tdir); /* not our name: never removed */
    cr_assert_eq(mkdir(p, 0755), 0);
    save_ok(a, 1, 1, NULL, 0);
    save_ok(a, 2, 1, NULL, 0);
    cr_assert(!exists("%s/.tmp-checkpoint-7-999999999%s", ""));
    char live[64];
    snprintf(live, sizeof live, "%ld", (long)getppid());
    cr_assert(exists("%s/.tmp-checkpoint-8-%s", live));
    cr_assert(exists("%s/checkpoint-99%s", ""));
    cr_assert(exists("%s/checkpoint-abc%s", ""));
    cr_assert(exists("%s/.tmp-user-notes%s", ""));
    cr_assert(!exists("%s/checkpoint-1%s", ""));
    char latest[1024];
    cr_assert_eq(ckpt_find_latest(tdir, latest, sizeof latest, err, sizeof err), 0, "%s", err);
    ckpt_path(p, sizeof p, 2, NULL);
    cr_assert_str_eq(latest, p, "incomplete checkpoint-99 skipped");
    gpt_free(a);
}

Test(checkpoint, find_latest_errors)
{
    char out[1024];
    cr_assert_eq(ckpt_find_latest(tdir, out, sizeof out, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "no complete checkpoint-<step> directory in"), "%s", err);
    char p[1024];
    snprintf(p, sizeof p, "%s/none", tdir);
    cr_assert_eq(ckpt_find_latest(p, out, sizeof out, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "cannot read output_dir"), "%s", err);
}

/* ---- corrupt files ---- */

/* Loads <dir> into a fresh model: must fail with `needle` and change nothing. */
static void expect_load_refused(const char *dir, const char *needle)
{
    gpt *m = make_model(77);
    float *sets[3] = {gpt_params(m), gpt_adam_m(m), gpt_adam_v(m)}, *before[3];
    for (int i = 0; i < 3; i++) before[i] = host_copy(m, sets[i]);
    ckpt_state st;
    memset(&st, 0xab, sizeof st);
    ckpt_state keep = st;
    cr_assert_eq(ckpt_load(dir, m, &st, err, sizeof err), -1, "accepted (wanted '%s')", needle);
    cr_assert_not_null(strstr(err, needle), "message '%s' lacks '%s'", err, needle);
    cr_assert_null(strchr(err, '\n'));
    cr_assert_eq(memcmp(&st, &keep, sizeof st), 0, "state changed on failure");
    for (int i = 0; i < 3; i++) { /* weights, m and v: never half-loaded */
        float *after = host_copy(m, sets[i]);
        cr_assert_eq(memcmp(before[i], after, nparams(m) * sizeof *after), 0, "set %d changed", i);
        free(after);
        free(before[i]);
    }
    gpt_free(m);
}

static void fresh_checkpoint(char *dir, size_t len)
{
    gpt *a = make_model(5);
    save_ok(a, 3, 0, dir, len);
    gpt_free(a);
}

static void put_file(const char *dir, const char *name, const void *data, size_t len)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_all_file(p, data, len);
}

static void put_safetensors_raw(const char *dir, const char *name, uint64_t hl, const char *hdr,
                                size_t datalen)
{
    size_t hlen = strlen(hdr);
    uint8_t *b = calloc(8 + hlen + datalen, 1);
    memcpy(b, &hl, 8);
    memcpy(b + 8, hdr, hlen);
    put_file(dir, name, b, 8 + hlen + datalen);
    free(b);
}

Test(checkpoint, corrupt_safetensors_refused)
{
    char d[1024];
    fresh_checkpoint(d, sizeof d);
    put_file(d, "model.safetensors", "\x10\0\0", 3);
    expect_load_refused(d, "model.safetensors: file too short (3 bytes)");
    put_safetensors_raw(d, "model.safetensors", 4096, "{}", 0);
    expect_load_refused(d, "model.safetensors: header length 4096 beyond the file");
    put_safetensors_raw(d, "model.safetensors", 8, "{\"a\":[1,", 0);
    expect_load_refused(d, "model.safetensors: malformed JSON header");
    fresh_checkpoint(d, sizeof d);
    /* another dtype is refused where the tensor is used (attn.bias buffers in U8 are not) */
    const char *i8 = "{\"transformer.wte.weight.exp_avg\":{\"dtype\":\"I8\",\"shape\":[4],"
                     "\"data_offsets\":[0,4]}}";
    put_safetensors_raw(d, "optimizer.safetensors", strlen(i8), i8, 4);
    expect_load_refused(d, "optimizer.safetensors: tensor 'transformer.wte.weight.exp_avg': "
                        "dtype I8 not supported");
    fresh_checkpoint(d, sizeof d);
    const char *outside = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    put_safetensors_raw(d, "model.safetensors", strlen(outside), outside, 8);
    expect_load_refused(d, "data_offsets [0, 16] outside the data section (8 bytes)");
    const char *overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    put_safetensors_raw(d, "model.safetensors", strlen(overlap), overlap, 12);
    expect_load_refused(d, "tensors 'a' and 'b' overlap");
}

/* A FIFO in place of a checkpoint file blocked the open forever (no writer): now refused at
 * once, naming the file. The timeout catches a hang. */
static void put_fifo(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(mkfifo(p, 0600), 0);
}

Test(checkpoint, fifo_files_refused)
{
    test_deadline(30);
    static const char *const names[] = {"model.safetensors", "optimizer.safetensors",
                                        "config.json", "trainer_state.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char d[1024], want[1200];
        fresh_checkpoint(d, sizeof d);
        put_fifo(d, names[i]);
        snprintf(want, sizeof want, "%s: is a FIFO, not a regular file", names[i]);
        expect_load_refused(d, want);
    }
}

/* Rewrites <dir>/model.safetensors from the model, with one tensor dropped or transposed. */
static void rewrite_model_file(const char *dir, gpt *m, const char *drop, const char *transpose)
{
    int n = gpt_num_tensors(m), k = 0;
    st_wtensor *w = calloc((size_t)n, sizeof *w);
    float *host = host_copy(m, gpt_params(m));
    for (int i = 0; i < n; i++) {
        const gpt_tensor *t = gpt_tensor_at(m, i);
        if (drop && !strcmp(t->name, drop)) continue;
        w[k] = (st_wtensor){.name = t->name, .dtype = ST_F32, .ndim = t->ndim,
                            .data = host + t->offset};
        for (int d = 0; d < t->ndim; d++) w[k].shape[d] = t->shape[d];
        if (transpose && !strcmp(t->name, transpose)) {
            w[k].shape[0] = t->shape[1];
            w[k].shape[1] = t->shape[0];
        }
        k++;
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    cr_assert_eq(st_write(p, w, k, err, sizeof err), 0, "%s", err);
    free(w);
    free(host);
}

Test(checkpoint, missing_and_misshapen_tensors_refused)
{
    char d[1024];
    fresh_checkpoint(d, sizeof d);
    gpt *a = make_model(5);
    rewrite_model_file(d, a, "transformer.ln_f.bias", NULL);
    expect_load_refused(d, "model.safetensors: tensor 'transformer.ln_f.bias' missing");
    rewrite_model_file(d, a, NULL, "transformer.h.0.attn.c_attn.weight");
    expect_load_refused(d, "tensor 'transformer.h.0.attn.c_attn.weight' has shape [96, 32], "
                           "config.json says [32, 96]");
    rewrite_model_file(d, a, NULL, NULL);
    /* optimizer file lacking one moment */
    char p[1024];
    snprintf(p, sizeof p, "%s/optimizer.safetensors", d);
    float z[32] = {0};
    st_wtensor w = {.name = "transformer.ln_f.bias.exp_avg", .dtype = ST_F32, .ndim = 1,
                    .shape = {32}, .data = z};
    cr_assert_eq(st_write(p, &w, 1, err, sizeof err), 0);
    expect_load_refused(d, "optimizer.safetensors: tensor 'transformer.wte.weight.exp_avg' missing");
    gpt_free(a);
}

/* Edits one field of <dir>/<file> (a JSON path "a" or "a.b" or "a[i].b"); value NULL deletes. */
static void edit_json(const char *dir, const char *file, const char *key, const char *sub,
                      int index, json_t *value)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je), *o = root;
    cr_assert_not_null(root);
    if (sub) {
        o = json_object_get(root, key);
        if (index >= 0) o = json_array_get(o, (size_t)index);
        key = sub;
    }
    if (value) json_object_set_new(o, key, value);
    else json_object_del(o, key);
    cr_assert_eq(json_dump_file(root, p, 0), 0);
    json_decref(root);
}

Test(checkpoint, trainer_state_fields_validated)
{
    char d[1024];
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "optim_t", NULL, -1, NULL);
    expect_load_refused(d, "trainer_state.json: field 'optim_t' missing");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "scaler", "scale", -1, json_string("big"));
    expect_load_refused(d, "trainer_state.json: field 'scaler.scale' has the wrong type");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "global_step", NULL, -1, json_real(3.5));
    expect_load_refused(d, "field 'global_step' has the wrong type (expected an integer)");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "log_history", "kind", 1, json_integer(3));
    expect_load_refused(d, "field 'log_history[1].kind' has the wrong type");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "log_history", "loss", 2, NULL);
    expect_load_refused(d, "field 'log_history[2].loss' missing");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "data_rng", NULL, -1, json_string("0x1"));
    expect_load_refused(d, "field 'data_rng' has the wrong type");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "mode", NULL, -1, json_string("int8"));
    expect_load_refused(d, "field 'mode' is not fp32, fp16, bf16 or fp8");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "scaler", "first_nonfinite", -1,
              json_string("0123456789012345678901234567890123456789012345678901234567890123456789"));
    expect_load_refused(d, "field 'scaler.first_nonfinite' too long");
    fresh_checkpoint(d, sizeof d);
    put_file(d, "trainer_state.json", "{\"format\": ", 11);
    expect_load_refused(d, "trainer_state.json: malformed JSON");
    put_file(d, "trainer_state.json", "[]", 2);
    expect_load_refused(d, "trainer_state.json: JSON is not an object");
    char p[1024];
    snprintf(p, sizeof p, "%s/trainer_state.json", d);
    unlink(p);
    expect_load_refused(d, "trainer_state.json: cannot open");
}

Test(checkpoint, config_json_checked_against_model)
{
    char d[1024];
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "config.json", "n_embd", NULL, -1, json_integer(64));
    expect_load_refused(d, "config.json: n_embd 64 does not match the model (32)");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "config.json", "n_positions", NULL, -1, json_integer(1024));
    expect_load_refused(d, "config.json: n_positions 1024 does not match the model (16)");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "config.json", "n_head", NULL, -1, NULL);
    expect_load_refused(d, "config.json: field 'n_head' missing");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "config.json", "vocab_size", NULL, -1, json_string("64"));
    expect_load_refused(d, "config.json: field 'vocab_size' has the wrong type");
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "config.json", "model_type", NULL, -1, json_string("bert"));
    expect_load_refused(d, "config.json: field 'model_type' is not \"gpt2\"");
}

/* ---- init_from ---- */

/* A weights file as transformers writes it: optional prefix, chosen dtype, an extra buffer. */
static void write_hf_file(const char *path, gpt *m, const char *prefix, st_dtype dt,
                          const char *transpose, const char *drop)
{
    int n = gpt_num_tensors(m), k = 0;
    st_wtensor *w = calloc((size_t)n + 1, sizeof *w);
    char (*names)[96] = calloc((size_t)n, sizeof *names);
    float *host = host_copy(m, gpt_params(m));
    static float bias_buf[16 * 16];
    for (int i = 0; i < n; i++) {
        const gpt_tensor *t = gpt_tensor_at(m, i);
        const char *bare = t->name + strlen("transformer.");
        if (drop && !strcmp(bare, drop)) continue;
        snprintf(names[k], 96, "%s%s", prefix, bare);
        w[k] = (st_wtensor){.name = names[k], .dtype = dt, .ndim = t->ndim,
                            .data = host + t->offset};
        for (int d = 0; d < t->ndim; d++) w[k].shape[d] = t->shape[d];
        if (transpose && !strcmp(bare, transpose)) w[k].shape[0] = w[k].shape[1] = 32;
        k++;
    }
    w[k++] = (st_wtensor){.name = "h.0.attn.bias", .dtype = ST_F32, .ndim = 4,
                          .shape = {1, 1, 16, 16}, .data = bias_buf};
    cr_assert_eq(st_write(path, w, k, err, sizeof err), 0, "%s", err);
    free(w);
    free(names);
    free(host);
}

static void expect_params_rounded(gpt *src, gpt *dst, dtype_t dt)
{
    float *x = host_copy(src, gpt_params(src)), *y = host_copy(dst, gpt_params(dst));
    for (size_t i = 0; i < nparams(src); i++) {
        float want = num_round1(x[i], dt);
        cr_assert_eq(memcmp(&want, &y[i], 4), 0, "param %zu: %a vs %a", i, want, y[i]);
    }
    free(x);
    free(y);
}

Test(checkpoint, init_from_checkpoint_dir_and_hf_files)
{
    gpt *a = make_model(9), *b = empty_model();
    char d[1024], p[1024];
    save_ok(a, 12, 0, d, sizeof d);
    cr_assert_eq(ckpt_load_weights(d, b, err, sizeof err), 0, "%s", err);
    expect_params_rounded(a, b, DT_F32);
    float *mv = host_copy(b, gpt_adam_m(b));
    for (size_t i = 0; i < nparams(b); i++) cr_assert_eq(mv[i], 0.0f, "m untouched");
    free(mv);

    snprintf(p, sizeof p, "%s/bare_f16.safetensors", tdir);
    write_hf_file(p, a, "", ST_F16, NULL, NULL);
    gpt *c = empty_model();
    cr_assert_eq(ckpt_load_weights(p, c, err, sizeof err), 0, "%s", err);
    expect_params_rounded(a, c, DT_F16);

    snprintf(p, sizeof p, "%s/prefixed_bf16.safetensors", tdir);
    write_hf_file(p, a, "transformer.", ST_BF16, NULL, NULL);
    cr_assert_eq(ckpt_load_weights(p, c, err, sizeof err), 0, "%s", err);
    expect_params_rounded(a, c, DT_BF16);
    gpt_free(a);
    gpt_free(b);
    gpt_free(c);
}

Test(checkpoint, init_from_refuses_by_name)
{
    gpt *a = make_model(9), *b = make_model(10);
    float *before = host_copy(b, gpt_params(b));
    char p[1024];
    snprintf(p, sizeof p, "%s/w.safetensors", tdir);
    write_hf_file(p, a, "", ST_F32, "wpe.weight", NULL);
    cr_assert_eq(ckpt_load_weights(p, b, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "w.safetensors: tensor 'wpe.weight' has shape [32, 32], the "
                                   "model expects [16, 32]"), "%s", err);
    write_hf_file(p, a, "transformer.", ST_F32, NULL, "h.1.mlp.c_proj.bias");
    cr_assert_eq(ckpt_load_weights(p, b, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "tensor 'transformer.h.1.mlp.c_proj.bias' missing"), "%s", err);
    float *after = host_copy(b, gpt_params(b));
    cr_assert_eq(memcmp(before, after, nparams(b) * 4), 0, "nothing loaded on refusal");
    snprintf(p, sizeof p, "%s/none.safetensors", tdir);
    cr_assert_eq(ckpt_load_weights(p, b, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "none.safetensors"), "%s", err);
    free(before);
    free(after);
    gpt_free(a);
    gpt_free(b);
}

/* ---- save errors ---- */

Test(checkpoint, unwritable_output_dir_reported)
{
    gpt *a = make_model(11);
    char p[1024];
    snprintf(p, sizeof p, "%s/file", tdir);
    write_all_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/file/out", tdir);
    ckpt_state st;
    fill_state(&st, 1);
    cr_assert_eq(ckpt_save(p, a, &st, 0, NULL, 0, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "cannot create output_dir"), "%s", err);
    cr_assert_not_null(strstr(err, "Not a directory"), "%s", err);
    ckpt_state_free(&st);
    gpt_free(a);
}

/* A file-size limit makes the writes fail like a full disk, in a child process. */
Test(checkpoint, disk_full_leaves_previous_checkpoint_untouched)
{
    gpt *a = make_model(12);
    char d[1024], p[1024];
    save_ok(a, 1, 1, d, sizeof d);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    size_t len0;
    char *orig = read_all(p, &len0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &rl);
        ckpt_state st;
        fill_state(&st, 2);
        int rc = ckpt_save(tdir, a, &st, 1, NULL, 0, err, sizeof err);
        _exit(rc == -1 && strstr(err, "write failed: File too large") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "save did not fail cleanly");
    cr_assert(!exists("%s/checkpoint-2%s", ""));
    size_t len1;
    char *now = read_all(p, &len1);
    cr_assert_eq(len0, len1);
    cr_assert_eq(memcmp(orig, now, len0), 0, "previous checkpoint untouched");
    DIR *dd = opendir(tdir);
    struct dirent *e;
    while ((e = readdir(dd))) cr_assert_neq(strncmp(e->d_name, ".tmp", 4), 0, "%s", e->d_name);
    closedir(dd);
    gpt *b = empty_model();
    ckpt_state st;
    cr_assert_eq(ckpt_load(d, b, &st, err, sizeof err), 0, "%s", err);
    ckpt_state_free(&st);
    free(orig);
    free(now);
    gpt_free(a);
    gpt_free(b);
}

/* ---- crash safety ---- */

/* Every buffer holds a value derived from the step, so a mix of two saves is detected. */
static void stamp_model(gpt *m, int64_t step, float *host)
{
    size_t n = nparams(m);
    for (size_t i = 0; i < n; i++) host[i] = (float)step + (float)(i % 7) * 0.125f;
    bk_upload(be, gpt_params(m), host, n * 4);
    for (size_t i = 0; i < n; i++) host[i] = (float)step * 2.0f;
    bk_upload(be, gpt_adam_m(m), host, n * 4);
    for (size_t i = 0; i < n; i++) host[i] = (float)step * 4.0f;
    bk_upload(be, gpt_adam_v(m), host, n * 4);
}

static void check_stamped(gpt *m, int64_t step)
{
    float *p = host_copy(m, gpt_params(m)), *mm = host_copy(m, gpt_adam_m(m)),
          *v = host_copy(m, gpt_adam_v(m));
    for (size_t i = 0; i < nparams(m); i++) {
        cr_assert_eq(p[i], (float)step + (float)(i % 7) * 0.125f, "step %lld param %zu",
                     (long long)step, i);
        cr_assert_eq(mm[i], (float)step * 2.0f);
        cr_assert_eq(v[i], (float)step * 4.0f);
    }
    free(p);
    free(mm);
    free(v);
}

Test(checkpoint, sigkill_during_saves_leaves_a_loadable_latest)
{
    gpt *m = empty_model();
    float *host = malloc(nparams(m) * 4);
    stamp_model(m, 0, host);
    save_ok(m, 0, 2, NULL, 0);
    rng_state r;
    rng_seed(&r, 2024);
    int64_t next = 1, progressed = 0;
    for (int trial = 0; trial < 24; trial++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            for (int64_t s = next;; s++) {
                ckpt_state st;
                fill_state(&st, s);
                stamp_model(m, s, host);
                if (ckpt_save(tdir, m, &st, 2, NULL, 0, err, sizeof err)) _exit(3);
                ckpt_state_free(&st);
                if (s == next && write(fds[1], "x", 1) != 1) _exit(4);
            }
        }
        /* after the first save of this trial (so every trial makes progress, however slow the
         * machine), kill at a random moment of the following ones */
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        char c;
        cr_assert_eq(poll(&pf, 1, 20000), 1, "trial %d: child made no save in 20 s", trial);
        cr_assert_eq(read(fds[0], &c, 1), 1);
        close(fds[0]);
        close(fds[1]);
        usleep((useconds_t)rng_below(&r, 20000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "child ended by itself (status %d): save failed", status);
        char latest[1024];
        cr_assert_eq(ckpt_find_latest(tdir, latest, sizeof latest, err, sizeof err), 0, "%s", err);
        gpt *g = empty_model();
        ckpt_state st;
        cr_assert_eq(ckpt_load(latest, g, &st, err, sizeof err), 0, "trial %d: %s", trial, err);
        check_stamped(g, st.global_step);
        cr_assert_eq(st.optim_t, st.global_step - st.global_step / 3);
        cr_assert_eq(st.n_log, 3);
        if (st.global_step >= next) progressed++;
        next = st.global_step + 1;
        ckpt_state_free(&st);
        gpt_free(g);
    }
    cr_assert_eq(progressed, 24, "saves progressed in only %lld of 24 trials",
                 (long long)progressed);
    free(host);
    gpt_free(m);
}

Test(checkpoint, a_scale_beyond_fp32_refused)
{
    /* refused, not converted with undefined behaviour */
    char d[1024];
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "scaler", "scale", -1, json_real(1e300));
    expect_load_refused(d, "field 'scaler.scale' out of range for fp32");
}

/* ---- values that parse but cannot be right (one line each: file, field, what to do) ---- */

static void expect_state_refused(const char *key, const char *sub, json_t *value,
                                 const char *needle)
{
    char d[1024];
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", key, sub, -1, value);
    expect_load_refused(d, needle);
    cr_assert_not_null(strstr(err, "trainer_state.json: field '"), "%s", err);
    cr_assert_not_null(strstr(err, "resume from another checkpoint"), "%s", err);
}

Test(checkpoint, scaler_values_validated)
{
    expect_state_refused("scaler", "scale", json_real(0), "field 'scaler.scale' is 0, must be a "
                         "finite number > 0");
    expect_state_refused("scaler", "scale", json_real(-2), "'scaler.scale' is -2, must be");
    expect_state_refused("scaler", "scale", json_string("Infinity"), "'scaler.scale' is inf, must");
    expect_state_refused("scaler", "scale", json_null(), "'scaler.scale' is null, must");
    expect_state_refused("scaler", "growth_factor", json_real(1), "'scaler.growth_factor' is 1, "
                         "must be > 1 (as --growth_factor)");
    expect_state_refused("scaler", "growth_factor", json_null(), "'scaler.growth_factor' is null");
    expect_state_refused("scaler", "backoff_factor", json_real(1), "'scaler.backoff_factor' is 1, "
                         "must be in (0, 1) (as --backoff_factor)");
    expect_state_refused("scaler", "backoff_factor", json_real(0), "'scaler.backoff_factor' is 0");
    expect_state_refused("scaler", "min_scale", json_real(-1), "'scaler.min_scale' is -1, must be "
                         ">= 0 (as --min_loss_scale)");
    expect_state_refused("scaler", "growth_interval", json_integer(0), "'scaler.growth_interval' "
                         "is 0, must be in [1, 1073741824] (as --growth_interval)");
    expect_state_refused("scaler", "growth_interval", json_integer((1 << 30) + 1),
                         "'scaler.growth_interval' is 1073741825");
    expect_state_refused("scaler", "growth_tracker", json_integer(2000), "'scaler.growth_tracker' "
                         "is 2000, must be below growth_interval 2000");
}

Test(checkpoint, steps_rng_and_elapsed_validated)
{
    expect_state_refused("optim_t", NULL, json_integer(4), "field 'optim_t' is 4, beyond "
                         "global_step 3");
    expect_state_refused("optim_t", NULL, json_integer(-1), "field 'optim_t' is -1, must be >= 0");
    expect_state_refused("global_step", NULL, json_integer(-3), "field 'global_step' is -3, must be >= 0");
    json_t *zero = json_array();
    for (int i = 0; i < 4; i++) json_array_append_new(zero, json_string("0x0000000000000000"));
    expect_state_refused("data_rng", NULL, json_deep_copy(zero), "field 'data_rng' is all zero");
    expect_state_refused("sample_rng", NULL, zero, "field 'sample_rng' is all zero");
    expect_state_refused("elapsed_s", NULL, json_string("Infinity"), "field 'elapsed_s' is inf, "
                         "must be a finite number of seconds >= 0");
    expect_state_refused("elapsed_s", NULL, json_null(), "field 'elapsed_s' is null");
    expect_state_refused("elapsed_s", NULL, json_real(-1), "field 'elapsed_s' is -1");
}

Test(checkpoint, log_window_validated_and_optional)
{
    expect_state_refused("log_window", "loss_n", json_integer(9), "field 'log_window.loss_n' is 9, "
                         "must be in [0, 3]");
    expect_state_refused("log_window", "steps", json_integer(4), "field 'log_window.steps' is 4, "
                         "must be in [0, 3]"); /* beyond global_step 3 */
    expect_state_refused("log_window", "loss_sum", json_null(), "'log_window.loss_sum' is null, "
                         "must be finite");
    expect_state_refused("log_window", "time_s", json_real(-1), "'log_window.time_s' is -1");
    /* a checkpoint from before the window was kept still loads: window unknown, not empty */
    char d[1024];
    fresh_checkpoint(d, sizeof d);
    edit_json(d, "trainer_state.json", "log_window", NULL, -1, NULL);
    gpt *m = empty_model();
    ckpt_state st;
    cr_assert_eq(ckpt_load(d, m, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st.win.known, 0);
    ckpt_state_free(&st);
    fresh_checkpoint(d, sizeof d);
    cr_assert_eq(ckpt_load(d, m, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st.win.known, 1);
    cr_assert_eq(st.win.steps, 3);
    cr_assert_eq(st.win.loss_sum, 12.345678901234567);
    ckpt_state_free(&st);
    gpt_free(m);
}

/* Saves model 5 at step 3 with one value of buffer k (0 params, 1 m, 2 v) replaced. */
static const gpt_tensor *checkpoint_with_value_in(char *d, size_t len, int k, float v, int ti)
{
    gpt *m = make_model(5);
    float *bufs[3] = {gpt_params(m), gpt_adam_m(m), gpt_adam_v(m)};
    float *h = host_copy(m, bufs[k]);
    const gpt_tensor *t = gpt_tensor_at(m, ti < 0 ? gpt_num_tensors(m) - 1 : ti);
    static gpt_tensor keep;
    keep = *t;
    h[t->offset + 2] = v;
    bk_upload(be, bufs[k], h, nparams(m) * sizeof *h);
    free(h);
    save_ok(m, 3, 0, d, len);
    gpt_free(m);
    return &keep;
}

/* Element 2 of tensor 1 (wpe) of set k (weights, m, v) set to v. */
static const gpt_tensor *checkpoint_with_value(char *d, size_t len, int k, float v)
{
    return checkpoint_with_value_in(d, len, k, v, 1);
}

Test(checkpoint, non_finite_and_negative_tensor_values_refused)
{
    char d[1024], want[512];
    const gpt_tensor *t = checkpoint_with_value(d, sizeof d, 0, NAN);
    snprintf(want, sizeof want, "checkpoint-3/model.safetensors: tensor '%s' holds nan at element "
             "2 (not a finite number); the run had diverged or the file is damaged: resume from an "
             "earlier checkpoint", t->name);
    expect_load_refused(d, want);
    t = checkpoint_with_value(d, sizeof d, 1, -INFINITY);
    snprintf(want, sizeof want, "optimizer.safetensors: tensor '%s.exp_avg' holds -inf at element 2",
             t->name);
    expect_load_refused(d, want);
    t = checkpoint_with_value(d, sizeof d, 2, -1e-9f);
    snprintf(want, sizeof want, "optimizer.safetensors: tensor '%s.exp_avg_sq' holds -1e-09 at "
             "element 2 (a second moment is never negative)", t->name);
    expect_load_refused(d, want);
    t = checkpoint_with_value(d, sizeof d, 2, INFINITY);
    snprintf(want, sizeof want, "tensor '%s.exp_avg_sq' holds inf at element 2 (not a finite",
             t->name);
    expect_load_refused(d, want);
    /* the last tensor of the last set: everything before it was read and checked, and the
     * model is still untouched (a load streams one tensor at a time, checking all first) */
    t = checkpoint_with_value_in(d, sizeof d, 2, NAN, -1);
    snprintf(want, sizeof want, "tensor '%s.exp_avg_sq' holds nan at element 2", t->name);
    expect_load_refused(d, want);
    /* a negative first moment is normal */
    t = checkpoint_with_value(d, sizeof d, 1, -1.0f);
    gpt *m = empty_model();
    ckpt_state st;
    cr_assert_eq(ckpt_load(d, m, &st, err, sizeof err), 0, "%s", err);
    ckpt_state_free(&st);
    gpt_free(m);
}

Test(checkpoint, folder_number_must_match_its_step)
{
    char d[1024], moved[1024];
    fresh_checkpoint(d, sizeof d); /* checkpoint-3 */
    snprintf(moved, sizeof moved, "%s/checkpoint-7", tdir);
    cr_assert_eq(rename(d, moved), 0);
    expect_load_refused(moved, "checkpoint-7: the folder says step 7 but its trainer_state.json "
                        "says global_step 3; rename the folder to checkpoint-3 or resume from "
                        "another checkpoint");
    strcat(moved, "/");
    expect_load_refused(moved, "the folder says step 7");
    /* any other folder name is the user's choice */
    char named[1024];
    snprintf(named, sizeof named, "%s/best", tdir);
    moved[strlen(moved) - 1] = 0;
    cr_assert_eq(rename(moved, named), 0);
    gpt *m = empty_model();
    ckpt_state st;
    cr_assert_eq(ckpt_load(named, m, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st.global_step, 3);
    ckpt_state_free(&st);
    gpt_free(m);
}

Test(checkpoint, trailing_bytes_in_a_tensor_file_refused)
{
    char d[1024], p[1100];
    fresh_checkpoint(d, sizeof d);
    snprintf(p, sizeof p, "%s/optimizer.safetensors", d);
    FILE *f = fopen(p, "ab");
    cr_assert_not_null(f);
    fputs("junk", f);
    fclose(f);
    expect_load_refused(d, "optimizer.safetensors: 4 trailing bytes after the tensor data");
}

/* A regular file named checkpoint-<N> is the user's: not replaced by a save of step N, not
 * removed by rotation, not taken as the latest checkpoint. */
Test(checkpoint, a_file_named_like_a_checkpoint_is_never_touched)
{
    char p[1024], saved[1024], latest[1024];
    size_t len;
    snprintf(p, sizeof p, "%s/checkpoint-5", tdir);
    write_all_file(p, "my notes", 8);
    gpt *m = make_model(1);
    ckpt_state st;
    fill_state(&st, 5);
    err[0] = 0;
    cr_assert_eq(ckpt_save(tdir, m, &st, 1, saved, sizeof saved, err, sizeof err), -1);
    ckpt_state_free(&st);
    cr_assert_not_null(strstr(err, "checkpoint-5 exists and is not a directory; it is left alone: "
                              "move it away or choose another --output_dir"), "%s", err);
    cr_assert_null(strchr(err, '\n'));
    char *text = read_all(p, &len);
    cr_assert_eq(len, 8);
    cr_assert_eq(memcmp(text, "my notes", 8), 0);
    free(text);
    save_ok(m, 3, 1, saved, sizeof saved);
    save_ok(m, 4, 1, saved, sizeof saved); /* rotation to 1 */
    save_ok(m, 6, 1, saved, sizeof saved);
    text = read_all(p, &len);
    cr_assert_eq(len, 8, "rotation removed or changed the file");
    free(text);
    cr_assert_eq(ckpt_find_latest(tdir, latest, sizeof latest, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(strstr(latest, "checkpoint-6"), "%s", latest);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", latest);
    cr_assert_eq(system(cmd), 0);
    /* only the file is left under a checkpoint-<N> name: no latest */
    cr_assert_eq(ckpt_find_latest(tdir, latest, sizeof latest, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "no complete checkpoint-<step> directory"), "%s", err);
    gpt_free(m);
}
