/* checkpoint.c — checkpoint directories: tensors through safetensors.c, the JSON halves through
 * ckpt_state.c, atomic install, rotation, validated load, --init_from. */
#include "checkpoint.h"
#include "ckpt_tok.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errfmt.h"
#include "fsutil.h"
#include "safetensors.h"

/* Paths here are a directory within the one path limit (CFG_PATH_MAX, what configuration
 * accepts) plus the names a checkpoint adds below it. */
#define CKPT_NAME_ROOM 128
#define CKPT_PATH_MAX (CFG_PATH_MAX + CKPT_NAME_ROOM)
_Static_assert(CKPT_NAME_ROOM >= sizeof "/.tmp-delete-checkpoint-9223372036854775807-2147483647"
               && CKPT_NAME_ROOM >= sizeof "/checkpoint-9223372036854775807/optimizer.safetensors",
               "the longest name a checkpoint adds to its directory fits");

/* How a non-regular file in a checkpoint is refused (fsutil_open_file). */
#define REGULAR_ONLY "a checkpoint holds regular files only"

/* ================= tensors ================= */

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

static int write_tensors(const char *path, gpt *m, const float *const *bufs,
                         const char *const *suffixes, int nbuf, char *err, size_t errlen)
{
    int nt = gpt_num_tensors(m);
    st_wtensor *ws = calloc((size_t)(nt * nbuf), sizeof *ws);
    char (*names)[GPT_NAME_MAX + 16] = calloc((size_t)(nt * nbuf), sizeof *names);
    int rc = -1;
    if (!ws || !names) {
        errfmt(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < nt; i++)
        for (int b = 0; b < nbuf; b++) {
            const gpt_tensor *t = gpt_tensor_at(m, i);
            int k = i * nbuf + b;
            snprintf(names[k], sizeof names[k], "%s%s", t->name, suffixes[b]);
            ws[k] = (st_wtensor){.name = names[k], .dtype = ST_F32, .ndim = t->ndim,
                                 .data = bufs[b] + t->offset};
            for (int d = 0; d < t->ndim; d++) ws[k].shape[d] = t->shape[d];
        }
    rc = st_write(path, ws, nt * nbuf, err, errlen);
out:
    free(ws);
    free(names);
    return rc;
}

/* A source of one file: its tensors by name. */
static const st_tensor *file_find(void *ctx, const char *name, const st_file **file)
{
    *file = ctx;
    return st_find(ctx, name);
}

static ckpt_source file_source(const st_file *f)
{
    return (ckpt_source){file_find, (void *)f, st_label(f)};
}

/* The tensor for model tensor t (+suffix), or, when allowed, its name without "transformer.". */
static const st_tensor *find_tensor(const ckpt_source *src, const gpt_tensor *t,
                                    const char *suffix, int allow_bare, const st_file **f,
                                    char *name, size_t len)
{
    snprintf(name, len, "%s%s", t->name, suffix);
    const st_tensor *s = src->find(src->ctx, name, f);
    const char *pre = "transformer.";
    if (!s && allow_bare && !strncmp(t->name, pre, strlen(pre))) {
        char bare[GPT_NAME_MAX + 16];
        snprintf(bare, sizeof bare, "%s%s", t->name + strlen(pre), suffix);
        s = src->find(src->ctx, bare, f);
    }
    return s;
}

/* What a pass over a set checks beyond names and shapes: nothing, finite values, or finite
 * and non-negative (second moments). */
enum { CHECK_NONE, CHECK_FINITE, CHECK_NONNEG };

/* A NaN / Inf weight or moment, or a negative second moment, would poison every step after
 * the resume: refused with the tensor and the first bad element. */
static int check_values(const st_file *f, const gpt_tensor *t, const char *suffix,
                        const float *v, int check, char *err, size_t errlen)
{
    for (size_t k = 0; check != CHECK_NONE && k < t->numel; k++) {
        if (isfinite(v[k]) && !(check == CHECK_NONNEG && v[k] < 0)) continue;
        errfmt(err, errlen, "%s: tensor '%s%s' holds %g at element %zu (%s); the run had "
               "diverged or the file is damaged: resume from an earlier checkpoint", st_label(f),
               t->name, suffix, (double)v[k], k, isfinite(v[k]) ? "a second moment is never "
               "negative" : "not a finite number");
        return -1;
    }
    return 0;
}

/* Where tensor i's values go on the backend; NULL: this process does not hold them. */
typedef float *(*tensor_dst)(gpt *m, int i);

static float *param_dst(gpt *m, int i) { return gpt_params(m) + gpt_tensor_at(m, i)->offset; }

/* One pass over the model's tensors in f (+suffix): each found, its shape checked, read into
 * tmp (as large as the largest tensor) and its values checked; with dst, then uploaded to
 * where dst says (dst NULL: read and check only). A load checks every set with dst NULL before
 * uploading any (never half-loaded), so it holds one tensor on the host, not whole copies
 * (docs/memory.md). A model that holds a ZeRO-1 share of the AdamW state (docs/dist.md) takes
 * its own tensors' m and v and checks every other's. `expects` words the reference in the
 * shape message ("config.json says" / "the model expects"). */
static int stream_tensors(const ckpt_source *src, gpt *m, const char *suffix, int allow_bare,
                          const char *expects, int check, float *tmp, tensor_dst dst, char *err,
                          size_t errlen)
{
    char name[GPT_NAME_MAX + 16], got[128], want[128];
    for (int i = 0; i < gpt_num_tensors(m); i++) {
        const gpt_tensor *t = gpt_tensor_at(m, i);
        const st_file *f = NULL;
        const st_tensor *s = find_tensor(src, t, suffix, allow_bare, &f, name, sizeof name);
        if (!s) {
            errfmt(err, errlen, "%s: tensor '%s' missing", src->label, name);
            return -1;
        }
        if (st_readable(f, s, err, errlen)) return -1;
        int64_t ws[2] = {t->shape[0], t->shape[1]};
        int same = s->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == ws[d];
        if (!same) {
            shape_str(got, sizeof got, s->ndim, s->shape);
            shape_str(want, sizeof want, t->ndim, ws);
            errfmt(err, errlen, "%s: tensor '%s' has shape %s, %s %s", st_label(f), s->name, got,
                   expects, want);
            return -1;
        }
        if (st_read_f32(f, s, tmp, t->numel, err, errlen) ||
            check_values(f, t, suffix, tmp, check, err, errlen))
            return -1;
        float *to = dst ? dst(m, i) : NULL;
        if (to) bk_upload(gpt_backend(m), to, tmp, t->numel * sizeof(float));
    }
    return 0;
}

/* A host buffer for the largest tensor of m (what stream_tensors reads through). */
static float *tensor_tmp(gpt *m)
{
    size_t big = gpt_largest_tensor(m);
    return malloc((big ? big : 1) * sizeof(float));
}

/* The FP8 scales and amax histories (docs/fp8.md, "Checkpoints"), when the model has cast in
 * FP8: without them a resumed delayed-scaling run would start from scale 1 again. */
static int save_fp8(const char *dir, gpt *m, char *err, size_t errlen)
{
    const fp8_state *f = gpt_fp8_const(m);
    if (!f->meta) return 0;
    char path[CKPT_PATH_MAX];
    size_t n = fp8_state_bytes(f);
    uint8_t *b = malloc(n);
    if (!b) return errfmt(err, errlen, "%s: out of memory saving the fp8 state", dir), -1;
    fp8_state_write(f, b);
    snprintf(path, sizeof path, "%s/fp8_state.bin", dir);
    int rc = fsutil_write_file(path, b, n, err, errlen);
    free(b);
    return rc;
}

/* ================= save ================= */

static int save_files(const char *dir, gpt *m, const ckpt_state *st, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    size_t n = gpt_num_params(m), bytes = n * sizeof(float);
    backend *be = gpt_backend(m);
    /* where the host can read the backend's memory in place (the CPU), no copy at all */
    int in_place = bk_host_readable(be);
    float *a = in_place ? NULL : malloc(bytes ? bytes : 1);
    float *b = in_place ? NULL : malloc(bytes ? bytes : 1);
    char *js = NULL;
    int rc = -1;
    if (!in_place && (!a || !b)) {
        errfmt(err, errlen, "checkpoint: out of memory copying %zu parameters to the host", n);
        goto out;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!in_place) bk_download(be, a, gpt_params(m), bytes);
    if (bk_status(be, err, errlen)) goto out;
    const float *pb[1] = {in_place ? gpt_params(m) : a};
    const char *ps[1] = {""};
    if (write_tensors(path, m, pb, ps, 1, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    /* ZeRO-1: the model holds its share; the caller gathered every rank's into st */
    int gathered = st->adam_host[0] && st->adam_host[1];
    if (!gathered && gpt_adam_numel(m) != n) {
        errfmt(err, errlen, "checkpoint: this process holds only its share of the AdamW "
               "state and nothing gathered the rest");
        goto out;
    }
    if (!in_place && !gathered) {
        bk_download(be, a, gpt_adam_m(m), bytes);
        bk_download(be, b, gpt_adam_v(m), bytes);
    }
    if (bk_status(be, err, errlen)) goto out;
    const float *ob[2] = {in_place ? gpt_adam_m(m) : a, in_place ? gpt_adam_v(m) : b};
    if (gathered) ob[0] = st->adam_host[0], ob[1] = st->adam_host[1];
    const char *os[2] = {".exp_avg", ".exp_avg_sq"};
    if (write_tensors(path, m, ob, os, 2, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    if (!(js = ckpt_state_to_json(st))) {
        errfmt(err, errlen, "%s: cannot encode the trainer state", path);
        goto out;
    }
    if (fsutil_write_file(path, js, strlen(js), err, errlen)) goto out;
    free(js);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!(js = ckpt_config_to_json(gpt_get_config(m)))) goto out;
    rc = fsutil_write_file(path, js, strlen(js), err, errlen);
    if (!rc && st->tokenizer_dir)
        rc = ckpt_tok_write(dir, st->tokenizer_dir, st->block_size, err, errlen);
    if (!rc) rc = save_fp8(dir, m, err, errlen);
out:
    free(js);
    free(a);
    free(b);
    return rc;
}

/* ================= directories ================= */

typedef struct {
    int64_t step;
    char name[64];
} ckdir;

/* "checkpoint-<digits>" -> step; -1 for any other name. */
static int64_t step_of(const char *name)
{
    const char *pre = "checkpoint-";
    size_t pl = strlen(pre);
    if (strncmp(name, pre, pl) || !name[pl] || strlen(name + pl) > 18) return -1;
    for (const char *q = name + pl; *q; q++)
        if (*q < '0' || *q > '9') return -1;
    return strtoll(name + pl, NULL, 10);
}

static int is_complete(const char *output_dir, const char *name)
{
    static const char *const files[] = {"model.safetensors", "optimizer.safetensors",
                                        "trainer_state.json", "config.json"};
    char p[CKPT_PATH_MAX];
    struct stat sb;
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", output_dir, name, files[i]);
        if (stat(p, &sb) || !S_ISREG(sb.st_mode)) return 0;
    }
    return 1;
}

/* One of our temporary names (".tmp-checkpoint-<step>-<pid>", ".tmp-delete-checkpoint-...",
 * ".tmp-old-<pid>") whose writer is gone, or is us (ours are finished by now). Anything else
 * in output_dir belongs to the user and is left alone. */
static int is_stale_tmp(const char *name)
{
    if (strncmp(name, ".tmp-checkpoint-", 16) && strncmp(name, ".tmp-delete-checkpoint-", 23) &&
        strncmp(name, ".tmp-old-", 9))
        return 0;
    const char *dash = strrchr(name, '-');
    char *end;
    long pid = strtol(dash + 1, &end, 10);
    if (*end || pid <= 0 || end == dash + 1) return 0;
    if (pid == (long)getpid()) return 1;
    return kill((pid_t)pid, 0) && errno == ESRCH;
}

/* Complete checkpoints under dir (and, when stale != NULL, stale temporary names). */
static int scan_dir(const char *dir, ckdir **out, size_t *n, ckdir **stale, size_t *nstale)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t cap = 0, scap = 0;
    struct dirent *e;
    *out = NULL;
    *n = 0;
    if (stale) { *stale = NULL; *nstale = 0; }
    while ((e = readdir(d))) {
        if (strlen(e->d_name) >= sizeof((ckdir *)0)->name) continue;
        if (stale && is_stale_tmp(e->d_name)) {
            if (*nstale == scap) {
                scap = scap ? 2 * scap : 8;
                ckdir *s = realloc(*stale, scap * sizeof *s);
                if (!s) break;
                *stale = s;
            }
            snprintf((*stale)[(*nstale)++].name, sizeof(ckdir){0}.name, "%s", e->d_name);
            continue;
        }
        int64_t s = step_of(e->d_name);
        if (s < 0 || !is_complete(dir, e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            ckdir *v = realloc(*out, cap * sizeof *v);
            if (!v) break;
            *out = v;
        }
        (*out)[*n].step = s;
        snprintf((*out)[(*n)++].name, sizeof(ckdir){0}.name, "%s", e->d_name);
    }
    closedir(d);
    return 0;
}

static int cmp_step_desc(const void *a, const void *b)
{
    const ckdir *x = a, *y = b;
    return (x->step < y->step) - (x->step > y->step);
}

/* Renamed away first, so a checkpoint-<step> name never points at a half-deleted directory. */
static void remove_checkpoint(const char *output_dir, const char *name)
{
    char from[CKPT_PATH_MAX], to[CKPT_PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", output_dir, name);
    snprintf(to, sizeof to, "%s/.tmp-delete-%s-%ld", output_dir, name, (long)getpid());
    if (!rename(from, to)) fsutil_rm_rf(to);
}

/* Keeps the newest `limit` complete checkpoints, `keep_step` always among them. */
static void rotate(const char *output_dir, int64_t keep_step, int limit)
{
    ckdir *v, *stale;
    size_t n, ns;
    char p[CKPT_PATH_MAX];
    if (scan_dir(output_dir, &v, &n, &stale, &ns)) return;
    for (size_t i = 0; i < ns; i++) {
        snprintf(p, sizeof p, "%s/%s", output_dir, stale[i].name);
        fsutil_rm_rf(p);
    }
    if (limit > 0) {
        qsort(v, n, sizeof *v, cmp_step_desc);
        int kept = 1;
        for (size_t i = 0; i < n; i++) {
            if (v[i].step == keep_step) continue;
            if (kept < limit) kept++;
            else remove_checkpoint(output_dir, v[i].name);
        }
    }
    free(v);
    free(stale);
}

/* 1 when path exists as anything but a real directory (a user's file, a link): never ours to
 * replace or remove. */
static int not_a_dir(const char *path)
{
    struct stat sb;
    return !lstat(path, &sb) && !S_ISDIR(sb.st_mode);
}

/* tmp -> final; an existing final is swapped out atomically (or moved aside where the file
 * system lacks renameat2 flags) and then removed. */
static int install(const char *output_dir, const char *tmp, const char *final, char *err,
                   size_t errlen)
{
    if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE)) return 0;
    if (errno == EEXIST && !renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE)) {
        if (not_a_dir(tmp)) { /* a file appeared there since ckpt_save looked: put it back */
            renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE);
            errfmt(err, errlen, "checkpoint: %s exists and is not a directory; it is left alone: "
                   "move it away or choose another --output_dir", final);
            return -1;
        }
        fsutil_rm_rf(tmp); /* now holds the replaced checkpoint */
        return 0;
    }
    if (errno == EINVAL || errno == ENOSYS || errno == EEXIST) {
        struct stat sb;
        if (lstat(final, &sb)) {
            if (!rename(tmp, final)) return 0;
        } else if (!S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
        } else {
            char old[CKPT_PATH_MAX];
            snprintf(old, sizeof old, "%s/.tmp-old-%ld", output_dir, (long)getpid());
            fsutil_rm_rf(old);
            if (!rename(final, old)) {
                if (!rename(tmp, final)) { fsutil_rm_rf(old); return 0; }
                int e = errno;
                rename(old, final);
                errno = e;
            }
        }
    }
    errfmt(err, errlen, "checkpoint: cannot rename %s to %s: %s", tmp, final, strerror(errno));
    return -1;
}

int ckpt_save(const char *output_dir, gpt *m, const ckpt_state *st, int save_total_limit,
              char *saved_dir, size_t saved_len, char *err, size_t errlen)
{
    char tmp[CKPT_PATH_MAX], final[CKPT_PATH_MAX];
    if (!output_dir || !output_dir[0] || strlen(output_dir) >= CFG_PATH_MAX) {
        errfmt(err, errlen, "checkpoint: output_dir empty or too long");
        return -1;
    }
    if (st->global_step < 0) {
        errfmt(err, errlen, "checkpoint: negative global_step %lld", (long long)st->global_step);
        return -1;
    }
    if (fsutil_mkdir_p(output_dir, 0755, NULL)) {
        errfmt(err, errlen, "checkpoint: cannot create output_dir %s: %s", output_dir,
               strerror(errno));
        return -1;
    }
    snprintf(final, sizeof final, "%s/checkpoint-%lld", output_dir, (long long)st->global_step);
    if (not_a_dir(final)) {
        errfmt(err, errlen, "checkpoint: %s exists and is not a directory; it is left alone: move "
               "it away or choose another --output_dir", final);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/.tmp-checkpoint-%lld-%ld", output_dir,
             (long long)st->global_step, (long)getpid());
    fsutil_rm_rf(tmp);
    if (mkdir(tmp, 0755)) {
        errfmt(err, errlen, "checkpoint: cannot create %s: %s (output_dir not writable?)", tmp,
               strerror(errno));
        return -1;
    }
    if (save_files(tmp, m, st, err, errlen)) goto fail;
    if (fsutil_fsync_dir(tmp)) {
        errfmt(err, errlen, "checkpoint: cannot sync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (install(output_dir, tmp, final, err, errlen)) goto fail;
    if (fsutil_fsync_dir(output_dir)) {
        errfmt(err, errlen, "checkpoint: %s written but syncing %s failed: %s", final, output_dir,
               strerror(errno));
        return -1;
    }
    rotate(output_dir, st->global_step, save_total_limit);
    if (saved_dir && saved_len) snprintf(saved_dir, saved_len, "%s", final);
    return 0;
fail:
    fsutil_rm_rf(tmp);
    return -1;
}

int ckpt_find_latest(const char *output_dir, char *out, size_t outlen, char *err, size_t errlen)
{
    ckdir *v;
    size_t n;
    if (scan_dir(output_dir, &v, &n, NULL, NULL)) {
        errfmt(err, errlen, "checkpoint: cannot read output_dir %s: %s", output_dir,
               strerror(errno));
        return -1;
    }
    if (!n) {
        errfmt(err, errlen, "checkpoint: no complete checkpoint-<step> directory in %s",
               output_dir);
        free(v);
        return -1;
    }
    qsort(v, n, sizeof *v, cmp_step_desc);
    snprintf(out, outlen, "%s/%s", output_dir, v[0].name);
    free(v);
    return 0;
}

/* ================= load ================= */

static int check_config(const char *dir, const gpt_config *mc, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = fsutil_slurp(path, 1u << 20, REGULAR_ONLY, &len, err, errlen);
    if (!txt) return -1;
    gpt_config fc;
    int rc = ckpt_config_from_json(txt, len, path, &fc, err, errlen);
    free(txt);
    if (rc) return -1;
    const struct { const char *key; int file, model; } f[] = {
        {"n_layer", fc.n_layer, mc->n_layer},       {"n_head", fc.n_head, mc->n_head},
        {"n_embd", fc.n_embd, mc->n_embd},          {"n_positions", fc.block_size, mc->block_size},
        {"vocab_size", fc.vocab_size, mc->vocab_size},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].file != f[i].model) {
            errfmt(err, errlen, "%s: %s %d does not match the model (%d)", path, f[i].key,
                   f[i].file, f[i].model);
            return -1;
        }
    return 0;
}

static int load_state(const char *dir, ckpt_state *st, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    char *txt = fsutil_slurp(path, 1u << 30, REGULAR_ONLY, &len, err, errlen);
    if (!txt) return -1;
    int rc = ckpt_state_from_json(txt, len, path, st, err, errlen);
    free(txt);
    if (rc) return -1;
    /* optional: only runs that cast in FP8 write it */
    snprintf(path, sizeof path, "%s/fp8_state.bin", dir);
    struct stat sb;
    if (lstat(path, &sb) && errno == ENOENT) return 0;
    st->fp8 = (uint8_t *)fsutil_slurp(path, 1u << 30, REGULAR_ONLY, &st->fp8_n, err, errlen);
    if (st->fp8) return 0;
    ckpt_state_free(st);
    return -1;
}

static st_file *open_in(const char *dir, const char *file, char *err, size_t errlen)
{
    char path[CKPT_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return st_open(path, err, errlen);
}

/* checkpoint-<N> must hold step N: resuming "latest" picks folders by that number. */
static int check_folder_step(const char *dir, int64_t step, char *err, size_t errlen)
{
    char name[CKPT_PATH_MAX];
    snprintf(name, sizeof name, "%s", dir);
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/') name[--n] = 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    int64_t s = step_of(base);
    if (s < 0 || s == step) return 0;
    errfmt(err, errlen, "%s: the folder says step %lld but its trainer_state.json says "
           "global_step %lld; rename the folder to checkpoint-%lld or resume from another "
           "checkpoint", dir, (long long)s, (long long)step, (long long)step);
    return -1;
}

/* Every set of a checkpoint's two files, checked (dst NULL) or uploaded. */
static int stream_all(st_file *const *f, gpt *m, float *tmp, int upload, char *err,
                      size_t errlen)
{
    static const char *const sfx[3] = {"", ".exp_avg", ".exp_avg_sq"};
    static const int chk[3] = {CHECK_FINITE, CHECK_FINITE, CHECK_NONNEG};
    const tensor_dst dst[3] = {param_dst, gpt_tensor_adam_m, gpt_tensor_adam_v};
    for (int i = 0; i < 3; i++) {
        ckpt_source src = file_source(f[i > 0]);
        if (stream_tensors(&src, m, sfx[i], 0, "config.json says", chk[i], tmp,
                           upload ? dst[i] : NULL, err, errlen))
            return -1;
    }
    return 0;
}

int ckpt_load(const char *dir, gpt *m, ckpt_state *st, char *err, size_t errlen)
{
    float *tmp = tensor_tmp(m);
    st_file *f[2] = {NULL, NULL};
    ckpt_state tmps;
    memset(&tmps, 0, sizeof tmps);
    int rc = -1;
    if (!tmp) {
        errfmt(err, errlen, "%s: out of memory loading a checkpoint", dir);
        goto out;
    }
    if (check_config(dir, gpt_get_config(m), err, errlen) ||
        !(f[0] = open_in(dir, "model.safetensors", err, errlen)) ||
        !(f[1] = open_in(dir, "optimizer.safetensors", err, errlen)) ||
        stream_all(f, m, tmp, 0, err, errlen) || load_state(dir, &tmps, err, errlen))
        goto out;
    if (check_folder_step(dir, tmps.global_step, err, errlen)) {
        ckpt_state_free(&tmps);
        goto out;
    }
    /* everything checked: the second pass reads the same mapped bytes and uploads them */
    if (stream_all(f, m, tmp, 1, err, errlen) || bk_status(gpt_backend(m), err, errlen)) {
        ckpt_state_free(&tmps);
        goto out;
    }
    *st = tmps;
    rc = 0;
out:
    st_close(f[0]);
    st_close(f[1]);
    free(tmp);
    return rc;
}

int ckpt_load_weights_from(const ckpt_source *src, gpt *m, const char *expects, char *err,
                           size_t errlen)
{
    float *tmp = tensor_tmp(m);
    if (!tmp) {
        errfmt(err, errlen, "%s: out of memory", src->label);
        return -1;
    }
    /* checked first, uploaded second: a bad file leaves the model as it was */
    int rc = stream_tensors(src, m, "", 1, expects, CHECK_NONE, tmp, NULL, err, errlen);
    if (!rc) {
        stream_tensors(src, m, "", 1, expects, CHECK_NONE, tmp, param_dst, err, errlen);
        rc = bk_status(gpt_backend(m), err, errlen);
    }
    free(tmp);
    return rc;
}

int ckpt_load_weights(const char *path, gpt *m, char *err, size_t errlen)
{
    char file[CKPT_PATH_MAX];
    struct stat sb;
    if (stat(path, &sb)) {
        errfmt(err, errlen, "init_from %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(file, sizeof file, S_ISDIR(sb.st_mode) ? "%s/model.safetensors" : "%s", path);
    st_file *f = st_open(file, err, errlen);
    if (!f) return -1;
    ckpt_source src = file_source(f);
    int rc = ckpt_load_weights_from(&src, m, "the model expects", err, errlen);
    st_close(f);
    return rc;
}
