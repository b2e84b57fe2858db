/* safetensors.h — the safetensors file format (8-byte LE header length, JSON header, raw
 * little-endian data): a validating reader that never trusts the file, and an fsync'ing writer. */
#ifndef MPTUI_SAFETENSORS_H
#define MPTUI_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_NAME_MAX 256
/* Larger headers are refused (the reference implementation's limit is 100 MB too). */
#define ST_HEADER_MAX (100u * 1024u * 1024u)

/* ST_OTHER: one of the format's other dtypes (U8, BOOL, I64, F64, ...): its bytes are checked
 * like any tensor's, and reading it as fp32 is refused. A file may then hold tensors the model
 * never reads, such as the uint8 / bool attn.bias buffers of older GPT-2 files. */
typedef enum { ST_F32 = 0, ST_F16 = 1, ST_BF16 = 2, ST_OTHER = 3 } st_dtype;

typedef struct {
    char name[ST_NAME_MAX];
    st_dtype dtype;
    char dtype_text[12]; /* as the header spells it ("F16", "U8", ...) */
    int elem_size;       /* bytes per element */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    uint64_t begin, end; /* byte offsets within the data section */
} st_tensor;

typedef struct st_file st_file;

/* Opens (mmap) and validates the whole header: size, JSON, dtypes, shapes, offsets inside
 * the data section, sizes matching shape x dtype, no overlap. NULL + one line on failure. */
st_file *st_open(const char *path, char *err, size_t errlen);
/* The same on a caller-owned buffer (kept, not copied; must outlive the st_file). `label`
 * stands for the file name in messages. */
st_file *st_open_mem(const void *buf, size_t len, const char *label, char *err, size_t errlen);
void st_close(st_file *f);

int st_count(const st_file *f);
const st_tensor *st_at(const st_file *f, int i);        /* in data-offset order */
const st_tensor *st_find(const st_file *f, const char *name); /* NULL when absent */
const char *st_label(const st_file *f);
const char *st_dtype_name(st_dtype dt);                 /* "F32" / "F16" / "BF16" / "other" */

/* Copies tensor t into dst as fp32 (F16 / BF16 widened exactly). n must equal t->numel. The
 * tensor's mapped pages are then dropped from the process (still cached: a second read of it
 * works and costs no disk). */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n, char *err,
                size_t errlen);
/* 0 when t reads as fp32 (F32 / F16 / BF16); -1 + err naming its dtype otherwise. */
int st_readable(const st_file *f, const st_tensor *t, char *err, size_t errlen);
/* Elements [first, first + n) of tensor t as fp32 (a row-major slice), pages left mapped:
 * comparing two tensors chunk by chunk. An ST_OTHER tensor or a range past its end: -1 + err. */
int st_read_f32_part(const st_file *f, const st_tensor *t, size_t first, float *dst, size_t n,
                     char *err, size_t errlen);

/* A tensor to write: fp32 host data stored as `dtype` (F16 / BF16 rounded to nearest even). */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} st_wtensor;

/* Writes the tensors contiguously in the order given, metadata {"format":"pt"}, header
 * padded with spaces to a multiple of 8; fsyncs the file before returning. 0 ok, -1 + err
 * (the partial file is removed). */
int st_write(const char *path, const st_wtensor *ts, int n, char *err, size_t errlen);

#endif
