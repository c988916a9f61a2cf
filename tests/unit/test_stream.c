/* test_stream: the record reader and writer (common/stream.c).
 *
 *   test_stream                     run the tests; exit 1 on any failure
 *   test_stream write numpy|all F   write the cross-check stream to F
 *   test_stream dump F              print each tensor's dtype, shape and hash
 *
 * The two extra modes let tests/ref/stream_check.py compare our writer and reader
 * with the safetensors library; fill() is the pattern both sides compute. */
#include "stream.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Byte j of the k-th tensor of the cross-check stream (BOOL gets 0/1). */
static void
fill(void *data, size_t n, int k, int dtype)
{
	unsigned char *p = data;
	size_t j;

	for (j = 0; j < n; j++)
		p[j] = dtype == DT_BOOL ? (j * 7 + k) % 3 == 0 : (unsigned char)(j * 31 + k * 17 + 5);
}

/* ---- memory streams ---------------------------------------------------------- */

struct mem {
	char *p;
	size_t len;
};

static struct mem
write_records(struct record *recs, int n)
{
	struct mem m = {0};
	FILE *fp = open_memstream(&m.p, &m.len);
	int i;

	for (i = 0; i < n; i++)
		CHECK(record_write(fp, &recs[i]) == 0);
	fclose(fp);
	return m;
}

/* Opens the bytes for reading (glibc since 2.22 takes a zero length). */
static FILE *
open_mem(const void *p, size_t len)
{
	static char empty[1];
	FILE *fp = fmemopen(len ? (void *)p : empty, len, "r");

	if (!fp)
		eprintf("fmemopen:");
	return fp;
}

static int
same_record(const struct record *a, const struct record *b)
{
	const struct tensor *x, *y;
	size_t i;

	if (!CHECK(a->nmeta == b->nmeta) || !CHECK(a->nt == b->nt))
		return 0;
	for (i = 0; i < a->nmeta; i++)
		if (!CHECK(strcmp(a->meta[i].key, b->meta[i].key) == 0) ||
		    !CHECK(strcmp(a->meta[i].value, b->meta[i].value) == 0))
			return 0;
	for (i = 0; i < a->nt; i++) {
		x = &a->t[i];
		y = &b->t[i];
		if (!CHECK(strcmp(x->name, y->name) == 0) || !CHECK(x->dtype == y->dtype) ||
		    !CHECK(x->ndim == y->ndim) ||
		    !CHECK(memcmp(x->shape, y->shape, sizeof(x->shape)) == 0) ||
		    !CHECK(x->nbytes == y->nbytes) ||
		    !CHECK(memcmp(x->data, y->data, x->nbytes) == 0) ||
		    !CHECK((uintptr_t)y->data % dtype_size(y->dtype) == 0))
			return 0;
	}
	return 1;
}

/* Reads exactly n records from m and compares them with want. */
static void
read_back(struct mem m, struct record *want, int n)
{
	FILE *fp = open_mem(m.p, m.len);
	struct record rec = {0};
	struct reader r;
	int i;

	reader_init(&r, fp, "mem");
	for (i = 0; i < n; i++) {
		if (!CHECK(record_read(&r, &rec) == 1)) {
			fprintf(stderr, "  record %d: %s\n", i, r.err);
			break;
		}
		same_record(&want[i], &rec);
	}
	CHECK(record_read(&r, &rec) == 0);
	CHECK(record_read(&r, &rec) == 0); /* EOF stays EOF */
	CHECK(r.index == (uint64_t)n);
	CHECK(r.offset == m.len);
	record_free(&rec);
	fclose(fp);
}

/* The message record_read gives for these bytes ("" when it reads them all). */
static const char *
read_error(const void *p, size_t len)
{
	static char err[512];
	FILE *fp = open_mem(p, len);
	struct record rec = {0};
	struct reader r;
	int rc;

	reader_init(&r, fp, "t.tsr");
	while ((rc = record_read(&r, &rec)) > 0)
		;
	strcpy(err, rc < 0 ? r.err : "");
	if (rc < 0) {
		CHECK(rec.nt == 0 && rec.nmeta == 0);
		CHECK(record_read(&r, &rec) == -1); /* the first error sticks */
	}
	record_free(&rec);
	fclose(fp);
	return err;
}

/* A record from a header string and data bytes. */
static struct mem
raw(const char *header, const void *data, size_t ndata)
{
	struct mem m = {0};
	FILE *fp = open_memstream(&m.p, &m.len);
	uint64_t n = strlen(header);
	int i;

	for (i = 0; i < 8; i++)
		fputc((int)(n >> (8 * i) & 0xff), fp);
	fputs(header, fp);
	fwrite(data, 1, ndata, fp);
	fclose(fp);
	return m;
}

static int
expect_error(const char *header, const void *data, size_t ndata, const char *want)
{
	struct mem m = raw(header, data, ndata);
	const char *got = read_error(m.p, m.len);
	int ok = strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "header %s\n  want: %s\n  got:  %s\n", header, want, got);
	free(m.p);
	return CHECK(ok);
}

/* ---- the tests ----------------------------------------------------------------- */

/* One tensor of every dtype, in several shapes, and awkward metadata. */
static void
test_every_dtype(void)
{
	static const int64_t shapes[][3] = {{3, 2, 1}, {5, 1, 1}, {0, 4, 1}, {1, 1, 1}};
	static const int ndims[] = {2, 1, 2, 0};
	struct record rec = {0};
	struct tensor *t;
	struct mem m;
	char name[32];
	int d;

	record_set_meta(&rec, "__key__", "img_01.jpg");
	record_set_meta(&rec, "captions", "[\"a \\\"dog\\\"\", \"caf\xc3\xa9\tbar\\n\"]");
	record_set_meta(&rec, "empty", "");
	record_set_meta(&rec, "ctl", "\x01\x1f/\\\n");
	for (d = 0; d < DT_COUNT; d++) {
		snprintf(name, sizeof(name), "t_%s", dtype_name(d));
		t = record_put(&rec, name, d, ndims[d % 4], shapes[d % 4], NULL);
		fill(t->data, t->nbytes, d, d);
		CHECK(dtype_parse(dtype_name(d)) == d);
	}
	CHECK(dtype_parse("F33") == -1 && dtype_name(DT_COUNT) == NULL && dtype_size(-1) == 0);
	m = write_records(&rec, 1);
	CHECK((8 + (unsigned char)m.p[0] + 256 * (unsigned char)m.p[1]) % 8 == 0);
	read_back(m, &rec, 1);
	free(m.p);
	record_free(&rec);
}

/* Exact bytes: the writer's output is part of the format's contract. */
static void
test_exact_bytes(void)
{
	static const char want[] =
	    "\x58\0\0\0\0\0\0\0"
	    "{\"__metadata__\":{\"__key__\":\"k\"},"
	    "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   "
	    "\0\0\x80\x3f\0\0\0\x40";
	static const float v[2] = {1, 2};
	struct record rec = {0}, empty = {0};
	int64_t n = 2;
	struct mem m;

	record_put(&rec, "x", DT_F32, 1, &n, v);
	record_set_meta(&rec, "__key__", "k");
	m = write_records(&rec, 1);
	CHECK(m.len == sizeof(want) - 1 && memcmp(m.p, want, m.len) == 0);
	free(m.p);
	m = write_records(&empty, 1);
	CHECK(m.len == 16 && memcmp(m.p, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
	read_back(m, &empty, 1);
	free(m.p);
	record_free(&rec);
}

static void
test_back_to_back(void)
{
	struct record recs[4] = {{0}};
	int64_t shape[2] = {2, 3};
	struct tensor *t;
	struct mem m;
	int i;

	for (i = 0; i < 4; i++) {
		shape[0] = i + 1;
		t = record_put(&recs[i], "image", DT_U8, 2, shape, NULL);
		fill(t->data, t->nbytes, i, DT_U8);
		if (i != 2) /* one record with no metadata at all */
			record_set_meta(&recs[i], "__key__", i ? "b" : "a");
		t = record_put(&recs[i], "tokens", DT_I32, 1, shape + 1, NULL);
		fill(t->data, t->nbytes, i + 10, DT_I32);
	}
	m = write_records(recs, 4);
	read_back(m, recs, 4);
	free(m.p);
	for (i = 0; i < 4; i++)
		record_free(&recs[i]);
}

/* Zero-size tensors first, between, and last; plus a layout where a tensor's
 * offset is not a multiple of its element size. */
static void
test_zero_size_and_alignment(void)
{
	static const int64_t zero[2] = {0, 5}, three = 3, two = 2;
	struct record rec = {0}, back = {0};
	struct reader r;
	struct tensor *t;
	struct mem m;
	FILE *fp;

	record_put(&rec, "a_empty", DT_F64, 2, zero, NULL);
	fill(record_put(&rec, "bytes", DT_U8, 1, &three, NULL)->data, 3, 1, DT_U8);
	record_put(&rec, "c_empty", DT_I16, 1, zero, NULL);
	fill(record_put(&rec, "floats", DT_F32, 1, &two, NULL)->data, 8, 2, DT_F32);
	record_put(&rec, "z_empty", DT_U64, 2, zero, NULL);
	m = write_records(&rec, 1);
	read_back(m, &rec, 1);
	fp = open_mem(m.p, m.len);
	reader_init(&r, fp, "mem");
	CHECK(record_read(&r, &back) == 1);
	t = record_tensor(&back, "floats");
	CHECK(t && t->offset == 3 && t->owned && (uintptr_t)t->data % 4 == 0);
	t = record_tensor(&back, "bytes");
	CHECK(t && t->offset == 0 && !t->owned);
	record_free(&back);
	fclose(fp);
	free(m.p);
	record_free(&rec);
}

static void
test_put_drop_meta(void)
{
	static const int64_t s2[2] = {2, 2}, s1 = 4;
	static const int32_t v[4] = {1, 2, 3, 4};
	struct record rec = {0};
	struct tensor *t;
	int i;

	record_put(&rec, "a", DT_U8, 1, &s1, "abcd");
	record_put(&rec, "b", DT_U8, 1, &s1, "efgh");
	record_put(&rec, "c", DT_U8, 1, &s1, NULL);
	t = record_put(&rec, "b", DT_I32, 2, s2, v); /* replace keeps the place */
	CHECK(rec.nt == 3 && t == &rec.t[1] && t->nbytes == 16 && t->ndim == 2);
	CHECK(memcmp(t->data, v, 16) == 0);
	t = record_tensor(&rec, "c");
	CHECK(t && memcmp(t->data, "\0\0\0\0", 4) == 0);
	/* Replacing a tensor with its own data must copy before it frees. */
	t = record_tensor(&rec, "a");
	t = record_put(&rec, "a", DT_U8, 1, &s1, t->data);
	CHECK(memcmp(t->data, "abcd", 4) == 0);
	CHECK(record_drop(&rec, "a") == 1 && record_drop(&rec, "a") == 0);
	CHECK(rec.nt == 2 && strcmp(rec.t[0].name, "b") == 0 && strcmp(rec.t[1].name, "c") == 0);
	CHECK(record_tensor(&rec, "a") == NULL && record_meta(&rec, "x") == NULL);
	record_set_meta(&rec, "x", "1");
	record_set_meta(&rec, "y", "2");
	record_set_meta(&rec, "x", record_meta(&rec, "x")); /* aliasing again */
	record_set_meta(&rec, "y", "3");
	CHECK(rec.nmeta == 2 && strcmp(record_meta(&rec, "x"), "1") == 0 &&
	    strcmp(record_meta(&rec, "y"), "3") == 0);
	record_clear(&rec);
	CHECK(rec.nt == 0 && rec.nmeta == 0 && rec.tcap > 0);
	for (i = 0; i < 100; i++) /* growth past the first allocation */
		record_set_meta(&rec, (char[]){'k', (char)('0' + i % 10), (char)('0' + i / 10), 0}, "v");
	CHECK(rec.nmeta == 100);
	record_free(&rec);
	CHECK(rec.t == NULL && rec.meta == NULL && rec.nt == 0);
}

/* One record struct reused across reads of different sizes, one of them larger
 * than a read chunk so the buffer grows in steps. */
static void
test_reuse(void)
{
	struct record recs[3] = {{0}}, rec = {0};
	int64_t big = (3 << 20) + 5, small = 7;
	struct reader r;
	struct mem m;
	FILE *fp;
	int i;

	fill(record_put(&recs[0], "x", DT_U8, 1, &small, NULL)->data, small, 0, DT_U8);
	fill(record_put(&recs[1], "x", DT_U8, 1, &big, NULL)->data, big, 1, DT_U8);
	record_set_meta(&recs[1], "m", "big");
	fill(record_put(&recs[2], "y", DT_I16, 1, &small, NULL)->data, 2 * small, 2, DT_I16);
	m = write_records(recs, 3);
	fp = open_mem(m.p, m.len);
	reader_init(&r, fp, "mem");
	for (i = 0; i < 3; i++) {
		CHECK(record_read(&r, &rec) == 1);
		same_record(&recs[i], &rec);
	}
	CHECK(record_read(&r, &rec) == 0 && rec.nt == 0);
	fclose(fp);
	free(m.p);
	record_free(&rec);
	for (i = 0; i < 3; i++)
		record_free(&recs[i]);
}

static void
test_write_refuses(void)
{
	struct record rec = {0};
	int64_t one = 1;
	FILE *fp = fopen("/dev/null", "w");

	record_put(&rec, "__metadata__", DT_U8, 1, &one, NULL);
	errno = 0;
	CHECK(record_write(fp, &rec) == -1 && errno == EINVAL);
	record_clear(&rec);
	record_set_meta(&rec, "key", "\xff\xfe");
	errno = 0;
	CHECK(record_write(fp, &rec) == -1 && errno == EINVAL);
	record_free(&rec);
	fclose(fp);
}

/* The reader's messages; tests/stream.bats covers many more through tsrinfo. */
static void
test_errors(void)
{
	static const char tensor[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
	static const char big[] = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1000000000000000],"
	    "\"data_offsets\":[0,1000000000000000]}}";
	struct mem m;

	expect_error(tensor, "abcdefgh", 8, "");
	expect_error(tensor, "abcd", 4, "t.tsr:record 0: byte 66: truncated: data needs "
	    "8 bytes, stream ended after 4");
	/* A header that claims a petabyte must fail at EOF, not in malloc. */
	expect_error(big, "abcd", 4, "t.tsr:record 0: byte 95: truncated: data needs "
	    "1000000000000000 bytes, stream ended after 4");
	expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,7]}}", "", 0,
	    "t.tsr:record 0: byte 8: tensor \"a\": shape [2] F32 needs 8 bytes but "
	    "data_offsets span 7");
	expect_error("{\"a\":1,}", "", 0, "t.tsr:record 0: byte 15: JSON error at header "
	    "byte 7: string or '}' expected near '}'");
	m = raw(tensor, "abcdefgh", 8);
	CHECK(strcmp(read_error(m.p, 3), "t.tsr:record 0: byte 3: truncated: record length "
	    "needs 8 bytes, stream ended after 3") == 0);
	CHECK(strcmp(read_error(m.p, 20), "t.tsr:record 0: byte 20: truncated: header "
	    "needs 54 bytes, stream ended after 12") == 0);
	CHECK(strcmp(read_error(m.p, 0), "") == 0);
	free(m.p);
}

/* ---- the cross-check modes ------------------------------------------------------- */

/* Record 0: every dtype numpy knows (or all of them), with metadata that needs
 * escaping; record 1: empty; record 2: zero-size tensors and a misaligned F32. */
static int
write_stream(const char *which, const char *path)
{
	static const int64_t shape[3] = {2, 3, 4}, zero[2] = {0, 3}, three = 3, two = 2;
	int all = strcmp(which, "all") == 0, d;
	struct record recs[3] = {{0}};
	struct tensor *t;
	char name[32];
	FILE *fp;

	if (!all && strcmp(which, "numpy") != 0)
		return 2;
	record_set_meta(&recs[0], "__key__", "img 0.jpg");
	record_set_meta(&recs[0], "captions", "[\"a \\\"red\\\" circle\", \"caf\xc3\xa9\\tbar\"]");
	record_set_meta(&recs[0], "odd", "tab\there\nnewline \\ \xe2\x82\xac");
	for (d = 0; d < DT_COUNT; d++) {
		if (!all && (d == DT_BF16 || d == DT_F8_E4M3 || d == DT_F8_E5M2))
			continue;
		snprintf(name, sizeof(name), "t_%s", dtype_name(d));
		t = record_put(&recs[0], name, d, 1 + d % 3, shape + 2 - d % 3, NULL);
		fill(t->data, t->nbytes, d, d);
	}
	record_put(&recs[2], "empty_f32", DT_F32, 2, zero, NULL);
	fill(record_put(&recs[2], "bytes", DT_U8, 1, &three, NULL)->data, 3, 1, DT_U8);
	fill(record_put(&recs[2], "floats", DT_F32, 1, &two, NULL)->data, 8, 2, DT_F32);
	record_put(&recs[2], "empty_i64", DT_I64, 2, zero, NULL);
	if (!(fp = fopen(path, "wb")))
		eprintf("open %s:", path);
	for (d = 0; d < 3; d++) {
		if (record_write(fp, &recs[d]) < 0)
			eprintf("write %s:", path);
		record_free(&recs[d]);
	}
	fshut(fp, path);
	return 0;
}

static uint64_t
fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 14695981039346656037ULL;

	while (n--)
		h = (h ^ *b++) * 1099511628211ULL;
	return h;
}

/* "I NAME DTYPE [SHAPE] FNV1A64" per tensor, in stream order. */
static int
dump_stream(const char *path)
{
	FILE *fp = fopen(path, "rb");
	struct record rec = {0};
	struct reader r;
	struct tensor *t;
	size_t i;
	int rc, d;

	if (!fp)
		eprintf("open %s:", path);
	reader_init(&r, fp, path);
	while ((rc = record_read(&r, &rec)) > 0) {
		for (i = 0; i < rec.nt; i++) {
			t = &rec.t[i];
			if ((uintptr_t)t->data % dtype_size(t->dtype))
				eprintf("%s: misaligned", t->name);
			printf("%llu %s %s [", (unsigned long long)r.index - 1, t->name,
			    dtype_name(t->dtype));
			for (d = 0; d < t->ndim; d++)
				printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
			printf("] %016llx\n", (unsigned long long)fnv1a(t->data, t->nbytes));
		}
	}
	if (rc < 0)
		eprintf("%s", r.err);
	fclose(fp);
	record_free(&rec);
	fshut(stdout, "stdout");
	return 0;
}

int
main(int argc, char *argv[])
{
	setprogname(argv[0]);
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return write_stream(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "dump") == 0)
		return dump_stream(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: test_stream [write numpy|all file | dump file]\n");
		return 2;
	}
	test_every_dtype();
	test_exact_bytes();
	test_back_to_back();
	test_zero_size_and_alignment();
	test_put_drop_meta();
	test_reuse();
	test_write_refuses();
	test_errors();
	if (failures)
		fprintf(stderr, "test_stream: %d checks failed\n", failures);
	else
		printf("test_stream: all passed\n");
	return failures != 0;
}
