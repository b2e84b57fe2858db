/* test_safetensors.c — the safetensors writer against a hand parse of its bytes, exact
 * round trips in F32 / F16 / BF16, and every malformed-file case refused with its message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numerics.h"
#include "safetensors.h"
#include "test_deadline.h"

static char tdir[256];
static char err[512];

static void setup(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/mptui-st-XXXXXX");
    cr_assert_not_null(mkdtemp(tdir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(safetensors, .init = setup, .fini = teardown);

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tdir, name);
}

/* A file with an explicit header length field, header text and `datalen` zero data bytes. */
static void write_raw(const char *path, uint64_t hlen_field, const char *hdr, size_t datalen)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(&hlen_field, 8, 1, f), 1);
    fwrite(hdr, 1, strlen(hdr), f);
    for (size_t i = 0; i < datalen; i++) fputc(0, f);
    fclose(f);
}

static void expect_refused(const char *hdr, size_t datalen, const char *needle)
{
    char p[300];
    path_of(p, sizeof p, "bad.safetensors");
    write_raw(p, strlen(hdr), hdr, datalen);
    err[0] = 0;
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_null(f, "accepted: %s", hdr);
    cr_assert_not_null(strstr(err, needle), "message '%s' lacks '%s'", err, needle);
    cr_assert_not_null(strstr(err, "bad.safetensors"), "message '%s' lacks the file", err);
    cr_assert_null(strchr(err, '\n'), "message is not one line: %s", err);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    b[*len] = 0;
    return b;
}

Test(safetensors, f32_round_trip_bit_exact_and_layout)
{
    float a[6] = {1.0f, -0.0f, 3.14159274f, 1e-45f, INFINITY, 65504.0f};
    uint32_t nanbits = 0x7fc01234u;
    memcpy(&a[3], &nanbits, 4); /* a NaN payload must survive too */
    float b[3] = {-2.5f, 7.0f, 1e30f};
    st_wtensor ts[2] = {{.name = "x.weight", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .data = a},
                        {.name = "y", .dtype = ST_F32, .ndim = 1, .shape = {3}, .data = b}};
    char p[300];
    path_of(p, sizeof p, "ok.safetensors");
    cr_assert_eq(st_write(p, ts, 2, err, sizeof err), 0, "%s", err);

    /* by hand: LE length, header padded with spaces to a multiple of 8, data contiguous */
    size_t len;
    uint8_t *raw = slurp(p, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
    cr_assert_eq(hl % 8, 0);
    cr_assert_eq(len, 8 + hl + 36);
    cr_assert_eq(raw[8], '{');
    char *hdr = strndup((char *)raw + 8, hl);
    cr_assert_not_null(strstr(hdr, "\"__metadata__\":{\"format\":\"pt\"}"), "%s", hdr);
    cr_assert_not_null(strstr(hdr, "\"x.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                                   "\"data_offsets\":[0,24]}"), "%s", hdr);
    cr_assert_not_null(strstr(hdr, "\"y\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}"));
    cr_assert_eq(memcmp(raw + 8 + hl, a, 24), 0);
    cr_assert_eq(memcmp(raw + 8 + hl + 24, b, 12), 0);
    free(hdr);
    free(raw);

    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    cr_assert_eq(st_count(f), 2);
    const st_tensor *t = st_find(f, "x.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, ST_F32);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[0], 2);
    cr_assert_eq(t->shape[1], 3);
    cr_assert_eq(t->numel, 6);
    float got[6];
    cr_assert_eq(st_read_f32(f, t, got, 6, err, sizeof err), 0);
    cr_assert_eq(memcmp(got, a, sizeof a), 0);
    cr_assert_null(st_find(f, "missing"));
    cr_assert_neq(st_read_f32(f, t, got, 5, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "x.weight"));
    st_close(f);
}

Test(safetensors, f16_bf16_written_rounded_and_widened_exactly)
{
    enum { N = 5000 }; /* more than one conversion chunk */
    float *a = malloc(N * sizeof *a), *got = malloc(N * sizeof *got);
    for (int i = 0; i < N; i++) a[i] = (float)(sin(i * 0.37) * pow(2.0, (i % 40) - 20));
    st_wtensor ts[2] = {{.name = "h", .dtype = ST_F16, .ndim = 1, .shape = {N}, .data = a},
                        {.name = "b", .dtype = ST_BF16, .ndim = 2, .shape = {N / 5, 5}, .data = a}};
    char p[300];
    path_of(p, sizeof p, "half.safetensors");
    cr_assert_eq(st_write(p, ts, 2, err, sizeof err), 0, "%s", err);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    const st_tensor *h = st_find(f, "h"), *b = st_find(f, "b");
    cr_assert_eq(h->dtype, ST_F16);
    cr_assert_eq(b->dtype, ST_BF16);
    cr_assert_eq(h->end - h->begin, 2 * N);
    cr_assert_eq(st_read_f32(f, h, got, N, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        float want = num_f16_to_f32(num_f32_to_f16(a[i]));
        cr_assert_eq(memcmp(&got[i], &want, 4), 0, "f16 element %d", i);
    }
    cr_assert_eq(st_read_f32(f, b, got, N, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        float want = num_bf16_to_f32(num_f32_to_bf16(a[i]));
        cr_assert_eq(memcmp(&got[i], &want, 4), 0, "bf16 element %d", i);
    }
    st_close(f);
    free(a);
    free(got);
}

Test(safetensors, unaligned_data_section_read)
{
    /* header length 59 (not a multiple of 8): data starts unaligned, F16 1.0 and 2.0 */
    const char *hdr = "{\"t\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
    char p[300];
    path_of(p, sizeof p, "u.safetensors");
    FILE *fp = fopen(p, "wb");
    uint64_t hl = strlen(hdr);
    fwrite(&hl, 8, 1, fp);
    fputs(hdr, fp);
    uint16_t v[2] = {0x3c00, 0x4000};
    fwrite(v, 2, 2, fp);
    fclose(fp);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    float got[2];
    cr_assert_eq(st_read_f32(f, st_find(f, "t"), got, 2, err, sizeof err), 0);
    cr_assert_eq(got[0], 1.0f);
    cr_assert_eq(got[1], 2.0f);
    st_close(f);
}

Test(safetensors, empty_tensor_list_and_zero_size_tensor)
{
    char p[300];
    path_of(p, sizeof p, "e.safetensors");
    cr_assert_eq(st_write(p, NULL, 0, err, sizeof err), 0, "%s", err);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    cr_assert_eq(st_count(f), 0);
    st_close(f);
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}",
                   12, "overlap");
}

Test(safetensors, file_shorter_than_8_bytes)
{
    char p[300];
    path_of(p, sizeof p, "short.safetensors");
    FILE *fp = fopen(p, "wb");
    fputs("abc", fp);
    fclose(fp);
    cr_assert_null(st_open(p, err, sizeof err));
    cr_assert_not_null(strstr(err, "too short"), "%s", err);
    cr_assert_not_null(strstr(err, "short.safetensors"), "%s", err);
    fp = fopen(p, "wb");
    fclose(fp);
    cr_assert_null(st_open(p, err, sizeof err));
    cr_assert_not_null(strstr(err, "too short (0 bytes)"), "%s", err);
}

Test(safetensors, missing_file)
{
    char p[300];
    path_of(p, sizeof p, "nope.safetensors");
    cr_assert_null(st_open(p, err, sizeof err));
    cr_assert_not_null(strstr(err, "nope.safetensors: cannot open"), "%s", err);
}

Test(safetensors, header_length_beyond_file)
{
    char p[300];
    path_of(p, sizeof p, "b.safetensors");
    write_raw(p, 1000, "{}", 0);
    cr_assert_null(st_open(p, err, sizeof err));
    cr_assert_not_null(strstr(err, "header length 1000 beyond the file (10 bytes)"), "%s", err);
    write_raw(p, UINT64_MAX, "{}", 0); /* 8 + hlen would wrap */
    cr_assert_null(st_open(p, err, sizeof err));
    cr_assert_not_null(strstr(err, "beyond the file"), "%s", err);
}

Test(safetensors, malformed_json_and_not_object)
{
    expect_refused("{\"a\": {\"dtype\": \"F32\",", 0, "malformed JSON header");
    expect_refused("", 0, "malformed JSON header");
    expect_refused("{} trailing", 0, "malformed JSON header");
    expect_refused("{\"a\":{},\"a\":{}}", 0, "malformed JSON header"); /* duplicate names */
    expect_refused("[1,2]", 0, "not an object");
    expect_refused("{\"a\":5}", 0, "'a': header entry is not an object");
    expect_refused("{\"__metadata__\":[1]}", 0, "\"__metadata__\" is not an object");
    expect_refused("{\"__metadata__\":{\"format\":3}}", 0, "values must be strings");
}

/* The format's other dtypes open (their sizes checked like any tensor's) and refuse a read. */
static void expect_other_dtype(const char *hdr, size_t datalen, const char *dtype)
{
    char p[300], want[400];
    path_of(p, sizeof p, "other.safetensors");
    write_raw(p, strlen(hdr), hdr, datalen);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s: %s", dtype, err);
    const st_tensor *t = st_find(f, "w");
    cr_assert_eq(t->dtype, ST_OTHER);
    cr_assert_str_eq(t->dtype_text, dtype);
    float v[8];
    snprintf(want, sizeof want, "%s: tensor 'w': dtype %s not supported (F32, F16, BF16 are)", p,
             dtype);
    cr_assert_eq(st_readable(f, t, err, sizeof err), -1);
    cr_assert_str_eq(err, want);
    cr_assert_eq(st_read_f32(f, t, v, t->numel, err, sizeof err), -1);
    cr_assert_str_eq(err, want);
    cr_assert_eq(st_read_f32_part(f, t, 0, v, 1, err, sizeof err), -1);
    cr_assert_str_eq(err, want);
    st_close(f);
}

Test(safetensors, dtype_checks)
{
    expect_other_dtype("{\"w\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
                       "I8");
    expect_other_dtype("{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                       "F64");
    expect_other_dtype("{\"w\":{\"dtype\":\"BOOL\",\"shape\":[1,1,2,2],\"data_offsets\":[0,4]}}",
                       4, "BOOL");
    expect_other_dtype("{\"w\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3,
                       "U8");
    /* an other dtype's size still has to match its span */
    expect_refused("{\"w\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                   "tensor 'w': data_offsets span 4 bytes but shape x I32 needs 8");
    expect_refused("{\"w\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
                   "tensor 'w': dtype F4 not supported (F32, F16, BF16 are)");
    expect_refused("{\"w\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                   "unknown dtype 'Q7'");
    expect_refused("{\"w\":{\"dtype\":\"F\\u00e9\\n\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                   1, "unknown dtype 'F??\?'"); /* non-ASCII / newline made printable */
    expect_refused("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                   "\"dtype\" missing or not a string");
    expect_refused("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                   "\"dtype\" missing or not a string");
}

Test(safetensors, shape_checks)
{
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                   "bad shape (dimension 0");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[1, 2.5],\"data_offsets\":[0,4]}}", 4,
                   "bad shape (dimension 1");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,4]}}", 4,
                   "\"shape\" missing or not an array");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
                   "\"shape\" missing or not an array");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                   "\"data_offsets\":[0,4]}}", 4, "9 dimensions");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                   "\"data_offsets\":[0,4]}}", 4, "element count overflows");
}

Test(safetensors, offset_checks)
{
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                   "data_offsets [0, 8] outside the data section (4 bytes)");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
                   "outside the data section");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
                   "data_offsets span 4 bytes but shape x F32 needs 8");
    expect_refused("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                   "span 8 bytes but shape x BF16 needs 4");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
                   "\"data_offsets\" must be [begin, end]");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
                   "\"data_offsets\" must be [begin, end]");
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
                   "\"data_offsets\" must be [begin, end]");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                   "tensors 'a' and 'b' overlap");
}

Test(safetensors, open_mem_matches_open)
{
    float a[2] = {1.5f, -2.0f};
    st_wtensor t = {.name = "t", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = a};
    char p[300];
    path_of(p, sizeof p, "m.safetensors");
    cr_assert_eq(st_write(p, &t, 1, err, sizeof err), 0, "%s", err);
    size_t len;
    uint8_t *raw = slurp(p, &len);
    st_file *f = st_open_mem(raw, len, "mem", err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    cr_assert_str_eq(st_label(f), "mem");
    float got[2];
    cr_assert_eq(st_read_f32(f, st_at(f, 0), got, 2, err, sizeof err), 0);
    cr_assert_eq(got[1], -2.0f);
    st_close(f);
    cr_assert_null(st_open_mem(raw, len - 1, "cut", err, sizeof err)); /* data truncated */
    cr_assert_not_null(strstr(err, "cut: tensor 't'"), "%s", err);
    free(raw);
}

Test(safetensors, writer_errors)
{
    float a[1] = {0};
    st_wtensor t[2] = {{.name = "t", .dtype = ST_F32, .ndim = 1, .shape = {1}, .data = a},
                       {.name = "t", .dtype = ST_F32, .ndim = 1, .shape = {1}, .data = a}};
    char p[300];
    path_of(p, sizeof p, "dup.safetensors");
    cr_assert_eq(st_write(p, t, 2, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "twice"), "%s", err);
    cr_assert_neq(access(p, F_OK), 0, "no file left behind");
    path_of(p, sizeof p, "no/such/dir.safetensors");
    cr_assert_eq(st_write(p, t, 1, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "cannot create"), "%s", err);
    t[1].ndim = 9;
    t[1].name = "r";
    path_of(p, sizeof p, "rank.safetensors");
    cr_assert_eq(st_write(p, t, 2, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "'r'"), "%s", err);
}

Test(safetensors, disk_full_reported)
{
    if (access("/dev/full", W_OK)) cr_skip_test("no /dev/full");
    float *a = calloc(100000, sizeof *a);
    st_wtensor t = {.name = "t", .dtype = ST_F32, .ndim = 1, .shape = {100000}, .data = a};
    cr_assert_eq(st_write("/dev/full", &t, 1, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "/dev/full: write failed: No space left"), "%s", err);
    cr_assert_eq(access("/dev/full", F_OK), 0, "the device node is not removed");
    free(a);
}

/* A FIFO as a checkpoint's tensor file blocked the open forever (no writer): refused at once,
 * as are devices and directories. The timeout catches a hang. */
#include <sys/stat.h>

Test(safetensors, fifo_and_devices_refused)
{
    test_deadline(20);
    char p[300], want[600];
    path_of(p, sizeof p, "model.safetensors");
    cr_assert_eq(mkfifo(p, 0600), 0);
    cr_assert_null(st_open(p, err, sizeof err));
    snprintf(want, sizeof want, "%s: is a FIFO, not a regular file; give a regular .safetensors "
             "file", p);
    cr_assert_str_eq(err, want);
    cr_assert_null(st_open("/dev/null", err, sizeof err));
    cr_assert_str_eq(err, "/dev/null: is a character device, not a regular file; give a "
                     "regular .safetensors file");
    cr_assert_null(st_open(tdir, err, sizeof err));
    snprintf(want, sizeof want, "%s: is a directory, not a regular file; give a regular "
             ".safetensors file", tdir);
    cr_assert_str_eq(err, want);
}

/* The file must end where the last tensor's data does (8 + header + its end offset). */
Test(safetensors, trailing_bytes_after_data_refused)
{
    expect_refused("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 5,
                   "1 trailing bytes after the tensor data");
    expect_refused("{}", 3, "3 trailing bytes after the tensor data (the file is 13 bytes, its "
                   "header says 10)");
    /* a file st_write wrote, then one byte appended: refused; as written: read */
    float a[2] = {1.5f, -2.0f};
    st_wtensor t = {.name = "t", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = a};
    char p[300];
    path_of(p, sizeof p, "grown.safetensors");
    cr_assert_eq(st_write(p, &t, 1, err, sizeof err), 0, "%s", err);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    st_close(f);
    FILE *fp = fopen(p, "ab");
    cr_assert_not_null(fp);
    fputc(0, fp);
    fclose(fp);
    cr_assert_null(st_open(p, err, sizeof err));
    cr_assert_not_null(strstr(err, "grown.safetensors: 1 trailing bytes after the tensor data"),
                       "%s", err);
    cr_assert_null(strchr(err, '\n'));
}

/* A read drops the tensor's whole mapped pages from the process; a second read of the same
 * tensor (as a checkpoint load's upload pass does) finds the same bytes, for tensors that span
 * many pages, start mid-page, and are narrower than a page, in F32 and BF16. */
Test(safetensors, a_tensor_read_twice_after_its_pages_were_released)
{
    enum { N = 70001 }; /* 280 KB: many pages, not a multiple of one */
    float *a = malloc(N * sizeof *a), *got = malloc(N * sizeof *got);
    cr_assert(a && got);
    for (int i = 0; i < N; i++) a[i] = (float)i * 0.25f - 7.0f;
    float small[3] = {1.0f, 2.0f, 3.0f};
    st_wtensor ts[3] = {{.name = "s", .dtype = ST_F32, .ndim = 1, .shape = {3}, .data = small},
                        {.name = "big", .dtype = ST_F32, .ndim = 1, .shape = {N}, .data = a},
                        {.name = "half", .dtype = ST_BF16, .ndim = 1, .shape = {N}, .data = a}};
    char p[300];
    path_of(p, sizeof p, "pages.safetensors");
    cr_assert_eq(st_write(p, ts, 3, err, sizeof err), 0, "%s", err);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    for (int pass = 0; pass < 2; pass++) {
        float s[3];
        cr_assert_eq(st_read_f32(f, st_find(f, "s"), s, 3, err, sizeof err), 0);
        cr_assert_eq(memcmp(s, small, sizeof s), 0, "pass %d", pass);
        cr_assert_eq(st_read_f32(f, st_find(f, "big"), got, N, err, sizeof err), 0);
        cr_assert_eq(memcmp(got, a, N * sizeof *a), 0, "pass %d", pass);
        cr_assert_eq(st_read_f32(f, st_find(f, "half"), got, N, err, sizeof err), 0);
        for (int i = 0; i < N; i++)
            cr_assert_eq(got[i], num_round1(a[i], DT_BF16), "pass %d, %d", pass, i);
    }
    st_close(f);
    free(a);
    free(got);
}

Test(safetensors, part_reads_are_slices_of_the_whole)
{
    char p[300];
    path_of(p, sizeof p, "part.safetensors");
    float data[10];
    for (int i = 0; i < 10; i++) data[i] = (float)i * 0.375f - 1.0f;
    st_wtensor w[2] = {{"a", ST_F32, 2, {2, 5}, data}, {"b", ST_BF16, 1, {10}, data}};
    cr_assert_eq(st_write(p, w, 2, err, sizeof err), 0, "%s", err);
    st_file *f = st_open(p, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    for (int k = 0; k < 2; k++) {
        const st_tensor *t = st_find(f, k ? "b" : "a");
        float whole[10], part[10];
        cr_assert_eq(st_read_f32(f, t, whole, 10, err, sizeof err), 0, "%s", err);
        cr_assert_eq(st_read_f32_part(f, t, 3, part, 7, err, sizeof err), 0, "%s", err);
        cr_assert_eq(memcmp(part, whole + 3, 7 * 4), 0);
        cr_assert_eq(st_read_f32_part(f, t, 10, part, 0, err, sizeof err), 0, "%s", err);
        cr_assert_eq(st_read_f32_part(f, t, 4, part, 7, err, sizeof err), -1);
        char want[400];
        snprintf(want, sizeof want, "%s: tensor '%s' has 10 elements, [4, 11) asked", p,
                 k ? "b" : "a");
        cr_assert_str_eq(err, want);
    }
    st_close(f);
}
