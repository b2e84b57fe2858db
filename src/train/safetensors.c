/* safetensors.c — safetensors reader (mmap, every header field validated before any byte of
 * data is trusted) and writer (contiguous data, space-padded header, fsync). */
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errfmt.h"
#include "fsutil.h"
#include "numerics.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format's byte order)"
#endif

struct st_file {
    const uint8_t *base; /* whole file */
    size_t size;
    int mapped;
    const uint8_t *data; /* data section */
    uint64_t data_len;
    st_tensor *ts;
    int n;
    char label[512];
};

/* Untrusted text (tensor names, dtype strings) made safe for a one-line message. */
static const char *printable(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 4 < len && i < 80; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i]) { buf[i++] = '.'; buf[i++] = '.'; buf[i++] = '.'; }
    buf[i] = 0;
    return buf;
}

const char *st_dtype_name(st_dtype dt)
{
    switch (dt) {
    case ST_F32: return "F32";
    case ST_F16: return "F16";
    case ST_BF16: return "BF16";
    case ST_OTHER: return "other";
    }
    return "?";
}

static size_t st_dtype_size(st_dtype dt) { return dt == ST_F32 ? 4 : 2; } /* the writer's */

/* The format's other dtypes and their sizes: valid, checked like any tensor, but not something
 * a GPT's weights load from (sub-byte ones, F4 / F6, are refused at open: no byte size). */
static const struct { const char *name; int size; } other_dtypes[] = {
    {"F64", 8}, {"I64", 8}, {"U64", 8}, {"C64", 8}, {"I32", 4}, {"U32", 4}, {"I16", 2},
    {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    {"F8_E8M0", 1},
};

/* dtype text -> dtype and element size; -1 for an unknown dtype, -2 for a sub-byte one. */
static int parse_dtype(const char *s, st_dtype *out, int *size)
{
    for (int d = ST_F32; d <= ST_BF16; d++)
        if (!strcmp(s, st_dtype_name((st_dtype)d))) {
            *out = (st_dtype)d;
            *size = d == ST_F32 ? 4 : 2;
            return 0;
        }
    for (size_t i = 0; i < sizeof other_dtypes / sizeof other_dtypes[0]; i++)
        if (!strcmp(s, other_dtypes[i].name)) {
            *out = ST_OTHER;
            *size = other_dtypes[i].size;
            return 0;
        }
    return !strcmp(s, "F4") || !strcmp(s, "F6_E2M3") || !strcmp(s, "F6_E3M2") ? -2 : -1;
}

static int parse_shape(const st_file *f, const char *nm, json_t *shape, st_tensor *t, char *err,
                       size_t errlen)
{
    if (!json_is_array(shape)) {
        errfmt(err, errlen, "%s: tensor '%s': \"shape\" missing or not an array", f->label, nm);
        return -1;
    }
    size_t nd = json_array_size(shape);
    if (nd > ST_MAX_DIMS) {
        errfmt(err, errlen, "%s: tensor '%s': shape has %zu dimensions (at most %d supported)",
               f->label, nm, nd, ST_MAX_DIMS);
        return -1;
    }
    size_t numel = 1;
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0) {
            errfmt(err, errlen, "%s: tensor '%s': bad shape (dimension %zu is not an integer >= 0)",
                   f->label, nm, i);
            return -1;
        }
        t->shape[i] = json_integer_value(d);
        if (__builtin_mul_overflow(numel, (size_t)t->shape[i], &numel) || numel > SIZE_MAX / 4) {
            errfmt(err, errlen, "%s: tensor '%s': bad shape (element count overflows)", f->label, nm);
            return -1;
        }
    }
    t->numel = numel;
    return 0;
}

static int parse_offsets(const st_file *f, const char *nm, json_t *offs, st_tensor *t, char *err,
                         size_t errlen)
{
    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(b) ||
        !json_is_integer(e) || json_integer_value(b) < 0 || json_integer_value(e) < 0) {
        errfmt(err, errlen, "%s: tensor '%s': \"data_offsets\" must be [begin, end], integers >= 0",
               f->label, nm);
        return -1;
    }
    t->begin = (uint64_t)json_integer_value(b);
    t->end = (uint64_t)json_integer_value(e);
    if (t->begin > t->end || t->end > f->data_len) {
        errfmt(err, errlen,
               "%s: tensor '%s': data_offsets [%llu, %llu] outside the data section (%llu bytes)",
               f->label, nm, (unsigned long long)t->begin, (unsigned long long)t->end,
               (unsigned long long)f->data_len);
        return -1;
    }
    uint64_t need = (uint64_t)t->numel * (uint64_t)t->elem_size;
    if (t->end - t->begin != need) {
        errfmt(err, errlen,
               "%s: tensor '%s': data_offsets span %llu bytes but shape x %s needs %llu",
               f->label, nm, (unsigned long long)(t->end - t->begin), t->dtype_text,
               (unsigned long long)need);
        return -1;
    }
    return 0;
}

static int parse_entry(const st_file *f, const char *name, json_t *v, st_tensor *t, char *err,
                       size_t errlen)
{
    char nb[96], db[96];
    const char *nm = printable(name, nb, sizeof nb);
    if (strlen(name) >= ST_NAME_MAX || !name[0]) {
        errfmt(err, errlen, "%s: tensor name '%s' empty or longer than %d bytes", f->label, nm,
               ST_NAME_MAX - 1);
        return -1;
    }
    if (!json_is_object(v)) {
        errfmt(err, errlen, "%s: tensor '%s': header entry is not an object", f->label, nm);
        return -1;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    json_t *dt = json_object_get(v, "dtype");
    if (!json_is_string(dt)) {
        errfmt(err, errlen, "%s: tensor '%s': \"dtype\" missing or not a string", f->label, nm);
        return -1;
    }
    int known = parse_dtype(json_string_value(dt), &t->dtype, &t->elem_size);
    if (known) {
        const char *ds = printable(json_string_value(dt), db, sizeof db);
        if (known == -2)
            errfmt(err, errlen, "%s: tensor '%s': dtype %s not supported (F32, F16, BF16 are)",
                   f->label, nm, ds);
        else
            errfmt(err, errlen, "%s: tensor '%s': unknown dtype '%s'", f->label, nm, ds);
        return -1;
    }
    snprintf(t->dtype_text, sizeof t->dtype_text, "%s", json_string_value(dt));
    if (parse_shape(f, nm, json_object_get(v, "shape"), t, err, errlen)) return -1;
    return parse_offsets(f, nm, json_object_get(v, "data_offsets"), t, err, errlen);
}

static int check_metadata(const st_file *f, json_t *v, char *err, size_t errlen)
{
    const char *k;
    json_t *x;
    if (!json_is_object(v)) {
        errfmt(err, errlen, "%s: \"__metadata__\" is not an object", f->label);
        return -1;
    }
    json_object_foreach(v, k, x) {
        if (!json_is_string(x)) {
            errfmt(err, errlen, "%s: \"__metadata__\" values must be strings", f->label);
            return -1;
        }
    }
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int check_overlap(const st_file *f, char *err, size_t errlen)
{
    char b1[96], b2[96];
    qsort(f->ts, (size_t)f->n, sizeof *f->ts, cmp_begin);
    const st_tensor *prev = NULL;
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->ts[i];
        if (t->begin == t->end) continue; /* empty tensors occupy no bytes */
        if (prev && t->begin < prev->end) {
            errfmt(err, errlen, "%s: tensors '%s' and '%s' overlap in the data section", f->label,
                   printable(prev->name, b1, sizeof b1), printable(t->name, b2, sizeof b2));
            return -1;
        }
        prev = t;
    }
    return 0;
}

/* The data section ends where the last tensor does (as the safetensors library requires):
 * bytes past it are a damaged or foreign file, not padding to ignore. */
static int check_data_end(const st_file *f, char *err, size_t errlen)
{
    uint64_t end = 0;
    for (int i = 0; i < f->n; i++)
        if (f->ts[i].end > end) end = f->ts[i].end;
    if (end == f->data_len) return 0;
    errfmt(err, errlen, "%s: %llu trailing bytes after the tensor data (the file is %zu bytes, "
           "its header says %llu): damaged or not written as safetensors; use another copy",
           f->label, (unsigned long long)(f->data_len - end), f->size,
           (unsigned long long)(f->size - f->data_len + end));
    return -1;
}

static int parse_tensors(st_file *f, json_t *root, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    f->ts = calloc(json_object_size(root) + 1, sizeof *f->ts);
    if (!f->ts) {
        errfmt(err, errlen, "%s: out of memory reading the header", f->label);
        return -1;
    }
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (check_metadata(f, v, err, errlen)) return -1;
            continue;
        }
        if (parse_entry(f, key, v, &f->ts[f->n], err, errlen)) return -1;
        f->n++;
    }
    return check_overlap(f, err, errlen) || check_data_end(f, err, errlen) ? -1 : 0;
}

static int parse_file(st_file *f, char *err, size_t errlen)
{
    if (f->size < 8) {
        errfmt(err, errlen, "%s: file too short (%zu bytes) for a safetensors header length",
               f->label, f->size);
        return -1;
    }
    uint64_t hlen;
    memcpy(&hlen, f->base, 8);
    if (hlen > f->size - 8) {
        errfmt(err, errlen, "%s: header length %llu beyond the file (%zu bytes): truncated or not "
               "safetensors", f->label, (unsigned long long)hlen, f->size);
        return -1;
    }
    if (hlen > ST_HEADER_MAX) {
        errfmt(err, errlen, "%s: header length %llu larger than the %u-byte limit", f->label,
               (unsigned long long)hlen, ST_HEADER_MAX);
        return -1;
    }
    f->data = f->base + 8 + hlen;
    f->data_len = f->size - 8 - hlen;
    json_error_t je;
    json_t *root = json_loadb((const char *)f->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        errfmt(err, errlen, "%s: malformed JSON header (byte %d: %s)", f->label, je.position,
               je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root))
        errfmt(err, errlen, "%s: JSON header is not an object", f->label);
    else
        rc = parse_tensors(f, root, err, errlen);
    json_decref(root);
    return rc;
}

static st_file *st_new(const char *label)
{
    st_file *f = calloc(1, sizeof *f);
    if (f) snprintf(f->label, sizeof f->label, "%s", label ? label : "safetensors");
    return f;
}

st_file *st_open_mem(const void *buf, size_t len, const char *label, char *err, size_t errlen)
{
    st_file *f = st_new(label);
    if (!f) {
        errfmt(err, errlen, "%s: out of memory", label ? label : "safetensors");
        return NULL;
    }
    f->base = buf;
    f->size = len;
    if (parse_file(f, err, errlen)) {
        st_close(f);
        return NULL;
    }
    return f;
}

st_file *st_open(const char *path, char *err, size_t errlen)
{
    int fd = fsutil_open_file(path, "give a regular .safetensors file", err, errlen);
    if (fd < 0) return NULL;
    struct stat sb;
    st_file *f = NULL;
    if (fstat(fd, &sb)) {
        errfmt(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (!(f = st_new(path))) {
        errfmt(err, errlen, "%s: out of memory", path);
        goto out;
    }
    f->size = (size_t)sb.st_size;
    if (f->size >= 8) {
        void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            errfmt(err, errlen, "%s: cannot map: %s", path, strerror(errno));
            st_close(f);
            f = NULL;
            goto out;
        }
        f->base = p;
        f->mapped = 1;
    }
    if (parse_file(f, err, errlen)) {
        st_close(f);
        f = NULL;
    }
out:
    close(fd);
    return f;
}

void st_close(st_file *f)
{
    if (!f) return;
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f->ts);
    free(f);
}

int st_count(const st_file *f) { return f->n; }
const st_tensor *st_at(const st_file *f, int i) { return i >= 0 && i < f->n ? &f->ts[i] : NULL; }
const char *st_label(const st_file *f) { return f->label; }

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->ts[i].name, name)) return &f->ts[i];
    return NULL;
}

/* The whole pages of a mapped tensor's bytes leave this process (the page cache keeps them, so
 * a second read costs no disk): a file read tensor by tensor never sits in the process's
 * memory as a whole (docs/memory.md, checkpoint staging). */
static void release_pages(const st_file *f, const st_tensor *t)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (!f->mapped || pg <= 0) return;
    uintptr_t a = (uintptr_t)(f->data + t->begin), b = (uintptr_t)(f->data + t->end);
    a = (a + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    b &= ~((uintptr_t)pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

int st_readable(const st_file *f, const st_tensor *t, char *err, size_t errlen)
{
    char nb[96];
    if (t->dtype != ST_OTHER) return 0;
    errfmt(err, errlen, "%s: tensor '%s': dtype %s not supported (F32, F16, BF16 are)",
           f->label, printable(t->name, nb, sizeof nb), t->dtype_text);
    return -1;
}

/* Elements [first, first + n) of t widened to fp32 (F16 / BF16 exactly). */
static int read_range(const st_file *f, const st_tensor *t, size_t first, float *dst, size_t n,
                      char *err, size_t errlen)
{
    char nb[96];
    if (st_readable(f, t, err, errlen)) return -1;
    if (first > t->numel || n > t->numel - first) {
        errfmt(err, errlen, "%s: tensor '%s' has %zu elements, [%zu, %zu) asked", f->label,
               printable(t->name, nb, sizeof nb), t->numel, first, first + n);
        return -1;
    }
    const uint8_t *p = f->data + t->begin + first * (size_t)t->elem_size;
    if (t->dtype == ST_F32) {
        memcpy(dst, p, n * 4);
        return 0;
    }
    uint16_t tmp[4096]; /* the data may be unaligned: widen through an aligned copy */
    for (size_t i = 0; i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        memcpy(tmp, p + 2 * i, 2 * k);
        if (t->dtype == ST_F16)
            num_f16_to_f32_array(dst + i, tmp, k);
        else
            num_bf16_to_f32_array(dst + i, tmp, k);
    }
    return 0;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n, char *err,
                size_t errlen)
{
    if (n != t->numel) {
        errfmt(err, errlen, "%s: tensor '%s' has %zu elements, %zu expected", f->label, t->name,
               t->numel, n);
        return -1;
    }
    if (read_range(f, t, 0, dst, n, err, errlen)) return -1;
    release_pages(f, t);
    return 0;
}

int st_read_f32_part(const st_file *f, const st_tensor *t, size_t first, float *dst, size_t n,
                     char *err, size_t errlen)
{
    return read_range(f, t, first, dst, n, err, errlen);
}

/* ---- writer ---- */

static size_t wnumel(const st_wtensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

static int check_wtensor(const char *path, const st_wtensor *t, char *err, size_t errlen)
{
    if (!t->name || !t->name[0] || strlen(t->name) >= ST_NAME_MAX || t->ndim < 0 ||
        t->ndim > ST_MAX_DIMS || t->dtype < ST_F32 || t->dtype > ST_BF16) {
        errfmt(err, errlen, "%s: cannot write tensor '%s': bad name, rank or dtype", path,
               t->name ? t->name : "(null)");
        return -1;
    }
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0) {
            errfmt(err, errlen, "%s: cannot write tensor '%s': negative dimension", path, t->name);
            return -1;
        }
    return 0;
}

static json_t *tensor_entry(const st_wtensor *t, uint64_t begin, uint64_t end)
{
    json_t *shape = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
    json_t *offs = json_array();
    json_array_append_new(offs, json_integer((json_int_t)begin));
    json_array_append_new(offs, json_integer((json_int_t)end));
    json_t *e = json_object();
    json_object_set_new(e, "dtype", json_string(st_dtype_name(t->dtype)));
    json_object_set_new(e, "shape", shape);
    json_object_set_new(e, "data_offsets", offs);
    return e;
}

/* The header text padded with spaces so the data section starts 8-byte aligned. */
static char *build_header(const char *path, const st_wtensor *ts, int n, size_t *hlen, char *err,
                          size_t errlen)
{
    json_t *root = json_object(), *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(root, "__metadata__", meta);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (check_wtensor(path, &ts[i], err, errlen)) goto fail;
        if (json_object_get(root, ts[i].name)) {
            errfmt(err, errlen, "%s: cannot write tensor '%s' twice", path, ts[i].name);
            goto fail;
        }
        uint64_t sz = (uint64_t)wnumel(&ts[i]) * st_dtype_size(ts[i].dtype);
        json_object_set_new(root, ts[i].name, tensor_entry(&ts[i], off, off + sz));
        off += sz;
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) goto oom;
    size_t len = strlen(s), padded = (len + 7) & ~(size_t)7;
    char *h = realloc(s, padded + 1);
    if (!h) { free(s); goto oom; }
    memset(h + len, ' ', padded - len);
    h[padded] = 0;
    *hlen = padded;
    return h;
oom:
    errfmt(err, errlen, "%s: out of memory building the header", path);
    return NULL;
fail:
    json_decref(root);
    return NULL;
}

static int write_tensor_data(int fd, const st_wtensor *t)
{
    size_t n = wnumel(t);
    if (t->dtype == ST_F32) return fsutil_write_all(fd, t->data, n * 4);
    uint16_t tmp[4096];
    for (size_t i = 0; i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        if (t->dtype == ST_F16)
            num_f32_to_f16_array(tmp, t->data + i, k);
        else
            num_f32_to_bf16_array(tmp, t->data + i, k);
        if (fsutil_write_all(fd, tmp, 2 * k)) return -1;
    }
    return 0;
}

int st_write(const char *path, const st_wtensor *ts, int n, char *err, size_t errlen)
{
    size_t hlen;
    char *h = build_header(path, ts, n, &hlen, err, errlen);
    if (!h) return -1;
    int fd = fsutil_create(path, err, errlen);
    if (fd < 0) {
        free(h);
        return -1;
    }
    uint64_t hl = hlen;
    int rc = fsutil_write_all(fd, &hl, 8) || fsutil_write_all(fd, h, hlen);
    for (int i = 0; i < n && !rc; i++) rc = write_tensor_data(fd, &ts[i]);
    rc = fsutil_finish(fd, path, rc, err, errlen); /* errno still the failed write's */
    free(h);
    return rc;
}
