/* stream.c: the record stream, concatenated safetensors blobs (man 5 tsr).
 *
 * The reader trusts nothing: every length, type and offset in a header is checked
 * before it is used, and memory grows only with the bytes actually read. The
 * writer emits the canonical form that the reader and the safetensors library
 * both accept: __metadata__ first, compact JSON, contiguous offsets, header padded
 * with spaces so the data starts on an 8-byte boundary. */
#include "stream.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Bytes requested from the FILE at a time: a lying header costs at most one chunk
 * beyond what the stream really holds. */
#define CHUNK ((size_t)1 << 20)

static const struct {
	const char *name;
	size_t size;
} dtypes[DT_COUNT] = {
	[DT_BOOL] = {"BOOL", 1},
	[DT_U8] = {"U8", 1},
	[DT_I8] = {"I8", 1},
	[DT_F8_E5M2] = {"F8_E5M2", 1},
	[DT_F8_E4M3] = {"F8_E4M3", 1},
	[DT_I16] = {"I16", 2},
	[DT_U16] = {"U16", 2},
	[DT_F16] = {"F16", 2},
	[DT_BF16] = {"BF16", 2},
	[DT_I32] = {"I32", 4},
	[DT_U32] = {"U32", 4},
	[DT_F32] = {"F32", 4},
	[DT_F64] = {"F64", 8},
	[DT_I64] = {"I64", 8},
	[DT_U64] = {"U64", 8},
};

const char *
dtype_name(int dtype)
{
	return dtype >= 0 && dtype < DT_COUNT ? dtypes[dtype].name : NULL;
}

int
dtype_parse(const char *name)
{
	int i;

	for (i = 0; i < DT_COUNT; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return i;
	return -1;
}

size_t
dtype_size(int dtype)
{
	return dtype >= 0 && dtype < DT_COUNT ? dtypes[dtype].size : 0;
}

/* ---- the record in memory ------------------------------------------------ */

static void
tensor_release(struct tensor *t)
{
	free(t->name);
	if (t->owned)
		free(t->data);
	memset(t, 0, sizeof(*t));
}

void
record_clear(struct record *rec)
{
	size_t i;

	for (i = 0; i < rec->nmeta; i++) {
		free(rec->meta[i].key);
		free(rec->meta[i].value);
	}
	for (i = 0; i < rec->nt; i++)
		tensor_release(&rec->t[i]);
	rec->nmeta = rec->nt = 0;
}

void
record_free(struct record *rec)
{
	record_clear(rec);
	free(rec->meta);
	free(rec->t);
	free(rec->buf);
	free(rec->hdr);
	memset(rec, 0, sizeof(*rec));
}

struct tensor *
record_tensor(const struct record *rec, const char *name)
{
	size_t i;

	for (i = 0; i < rec->nt; i++)
		if (strcmp(rec->t[i].name, name) == 0)
			return &rec->t[i];
	return NULL;
}

const char *
record_meta(const struct record *rec, const char *key)
{
	size_t i;

	for (i = 0; i < rec->nmeta; i++)
		if (strcmp(rec->meta[i].key, key) == 0)
			return rec->meta[i].value;
	return NULL;
}

/* Appends an entry the caller fills in; takes ownership of key and value. */
static void
meta_append(struct record *rec, char *key, char *value)
{
	if (rec->nmeta == rec->metacap) {
		rec->metacap = rec->metacap ? 2 * rec->metacap : 8;
		rec->meta = ereallocarray(rec->meta, rec->metacap, sizeof(*rec->meta));
	}
	rec->meta[rec->nmeta].key = key;
	rec->meta[rec->nmeta].value = value;
	rec->nmeta++;
}

void
record_set_meta(struct record *rec, const char *key, const char *value)
{
	char *copy = estrdup(value); /* before freeing: value may be the old one */
	size_t i;

	for (i = 0; i < rec->nmeta; i++) {
		if (strcmp(rec->meta[i].key, key) == 0) {
			free(rec->meta[i].value);
			rec->meta[i].value = copy;
			return;
		}
	}
	meta_append(rec, estrdup(key), copy);
}

/* Returns a zeroed slot at the end of rec->t. */
static struct tensor *
tensor_append(struct record *rec)
{
	struct tensor *t;

	if (rec->nt == rec->tcap) {
		rec->tcap = rec->tcap ? 2 * rec->tcap : 8;
		rec->t = ereallocarray(rec->t, rec->tcap, sizeof(*rec->t));
	}
	t = &rec->t[rec->nt++];
	memset(t, 0, sizeof(*t));
	return t;
}

/* Bytes of a tensor of this shape; 0 with *ok = 0 when it overflows. */
static size_t
shape_bytes(int dtype, int ndim, const int64_t *shape, int *ok)
{
	size_t n = dtype_size(dtype);
	int i;

	*ok = 1;
	for (i = 0; i < ndim; i++) {
		if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
		    __builtin_mul_overflow(n, (size_t)shape[i], &n)) {
			*ok = 0;
			return 0;
		}
	}
	return n;
}

struct tensor *
record_put(struct record *rec, const char *name, int dtype, int ndim,
    const int64_t *shape, const void *data)
{
	struct tensor *t;
	size_t nbytes;
	void *copy;
	int ok;

	if (!dtype_name(dtype) || ndim < 0 || ndim > TSR_MAX_DIMS)
		eprintf("record_put \"%s\": bad dtype %d or rank %d", name, dtype, ndim);
	nbytes = shape_bytes(dtype, ndim, shape, &ok);
	if (!ok)
		eprintf("record_put \"%s\": negative or overflowing shape", name);
	/* Copy first: data may point into the tensor being replaced. */
	copy = ecalloc(1, nbytes);
	if (data && nbytes)
		memcpy(copy, data, nbytes);
	if ((t = record_tensor(rec, name))) {
		if (t->owned)
			free(t->data);
	} else {
		t = tensor_append(rec);
		t->name = estrdup(name);
	}
	t->dtype = dtype;
	t->ndim = ndim;
	memset(t->shape, 0, sizeof(t->shape));
	if (ndim)
		memcpy(t->shape, shape, ndim * sizeof(*shape));
	t->nbytes = nbytes;
	t->data = copy;
	t->owned = 1;
	t->offset = 0;
	return t;
}

int
record_drop(struct record *rec, const char *name)
{
	struct tensor *t = record_tensor(rec, name);
	size_t i;

	if (!t)
		return 0;
	i = t - rec->t;
	tensor_release(t);
	memmove(&rec->t[i], &rec->t[i + 1], (rec->nt - i - 1) * sizeof(*t));
	rec->nt--;
	return 1;
}

/* ---- error messages ------------------------------------------------------ */

/* Fills r->err with "NAME:record I: byte O: what" and returns -1. Bytes that would
 * break the one-line message (control characters, from names or from jansson's
 * "near '...'" quotes) become '?'. */
static int
fail(struct reader *r, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(struct reader *r, uint64_t at, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	n = snprintf(r->err, sizeof(r->err), "%s:record %llu: byte %llu: ", r->name,
	    (unsigned long long)r->index, (unsigned long long)at);
	if (n < 0 || (size_t)n >= sizeof(r->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - n, fmt, ap);
	va_end(ap);
	for (p = r->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	r->failed = 1;
	return -1;
}

/* A tensor or metadata name as it appears in messages: quoted, with quotes and
 * backslashes escaped, cut at a character boundary when long. */
static const char *
quote(char *out, size_t size, const char *s)
{
	size_t o = 0, max = size - 6; /* room for an escape, "...", closing quote, NUL */

	out[o++] = '"';
	for (; *s && o < max; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	while (*s && o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
		o--;	/* do not leave half a UTF-8 sequence behind the cut */
	if (*s && o > 1 && (unsigned char)out[o - 1] >= 0xc0)
		o--;
	if (*s)
		out[o++] = '.', out[o++] = '.', out[o++] = '.';
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	default: return "null";
	}
}

static const char *
shape_str(char *out, size_t size, int ndim, const int64_t *shape)
{
	size_t o = 0;
	int i;

	o += snprintf(out, size, "[");
	for (i = 0; i < ndim && o < size; i++)
		o += snprintf(out + o, size - o, "%s%lld", i ? "," : "", (long long)shape[i]);
	if (o < size)
		snprintf(out + o, size - o, "]");
	return out;
}

/* ---- reading --------------------------------------------------------------- */

void
reader_init(struct reader *r, FILE *fp, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->fp = fp;
	r->name = name;
}

/* Reads up to need bytes into *buf, growing it (by at most doubling, or one chunk)
 * only as bytes arrive. Returns the count read: short means EOF or an error. */
static size_t
read_grow(FILE *fp, void **buf, size_t *cap, size_t need)
{
	size_t got = 0, want, k;

	if (!*buf) {
		*cap = 64;
		*buf = emalloc(*cap);
	}
	while (got < need) {
		if (got == *cap) {
			want = *cap < CHUNK ? CHUNK : *cap;
			if (want > need - got)
				want = need - got;
			*cap += want;
			*buf = erealloc(*buf, *cap);
		}
		/* Never past need: the next record follows in the same FILE. */
		want = (need < *cap ? need : *cap) - got;
		k = fread((char *)*buf + got, 1, want, fp);
		got += k;
		if (k < want)
			break;
	}
	return got;
}

static int
read_fail(struct reader *r, uint64_t at, const char *what, uint64_t need, size_t got)
{
	if (ferror(r->fp))
		return fail(r, at + got, "read error: %s", strerror(errno));
	return fail(r, at + got, "truncated: %s needs %llu bytes, stream ended after %zu",
	    what, (unsigned long long)need, got);
}

/* A non-negative JSON integer that fits size_t, or -1 with what it is instead
 * written to why ("-3", "a real number"). */
static int
get_size(const json_t *v, size_t *out, char *why, size_t whysize)
{
	json_int_t i;

	if (!json_is_integer(v)) {
		snprintf(why, whysize, "%s", json_kind(v));
		return -1;
	}
	i = json_integer_value(v);
	if (i < 0 || (unsigned long long)i > SIZE_MAX) {
		snprintf(why, whysize, "%lld", (long long)i);
		return -1;
	}
	*out = (size_t)i;
	return 0;
}

static int
parse_meta(struct reader *r, struct record *rec, json_t *obj, uint64_t at)
{
	const char *key;
	json_t *v;
	char q[80];

	if (!json_is_object(obj))
		return fail(r, at, "__metadata__ is %s, not an object", json_kind(obj));
	json_object_foreach(obj, key, v) {
		if (!json_is_string(v))
			return fail(r, at, "__metadata__ %s is %s, not a string",
			    quote(q, sizeof(q), key), json_kind(v));
		meta_append(rec, estrdup(key), estrdup(json_string_value(v)));
	}
	return 0;
}

static int
parse_shape(struct reader *r, struct tensor *t, json_t *shape, uint64_t at, const char *q)
{
	char why[32];
	size_t i, d;
	json_t *v;

	if (!json_is_array(shape))
		return fail(r, at, "tensor %s: shape is %s, not an array", q, json_kind(shape));
	if (json_array_size(shape) > TSR_MAX_DIMS)
		return fail(r, at, "tensor %s: shape has %zu dimensions, more than the limit of %d",
		    q, json_array_size(shape), TSR_MAX_DIMS);
	t->ndim = (int)json_array_size(shape);
	json_array_foreach(shape, i, v) {
		if (get_size(v, &d, why, sizeof(why)) < 0)
			return fail(r, at, "tensor %s: shape dimension %zu is %s, not a "
			    "non-negative integer", q, i, why);
		t->shape[i] = (int64_t)d;
	}
	return 0;
}

/* Fills t from one header entry; t->offset and t->nbytes hold the span's begin
 * and length until the data is read. */
static int
parse_tensor(struct reader *r, struct tensor *t, json_t *e, uint64_t at)
{
	json_t *dtype, *shape, *offs, *v;
	size_t begin, end, need;
	char q[80], s[200];
	const char *key;
	int ok;

	quote(q, sizeof(q), t->name);
	if (!json_is_object(e))
		return fail(r, at, "tensor %s: entry is %s, not an object", q, json_kind(e));
	json_object_foreach(e, key, v)
		if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
			return fail(r, at, "tensor %s: unexpected key %s (an entry has only "
			    "dtype, shape and data_offsets)", q, quote(s, sizeof(s), key));
	if (!(dtype = json_object_get(e, "dtype")) || !(shape = json_object_get(e, "shape")) ||
	    !(offs = json_object_get(e, "data_offsets")))
		return fail(r, at, "tensor %s: missing \"%s\"", q, !dtype ? "dtype" :
		    !shape ? "shape" : "data_offsets");
	if (!json_is_string(dtype))
		return fail(r, at, "tensor %s: dtype is %s, not a string", q, json_kind(dtype));
	if ((t->dtype = dtype_parse(json_string_value(dtype))) < 0)
		return fail(r, at, "tensor %s: unknown dtype %s", q,
		    quote(s, sizeof(s), json_string_value(dtype)));
	if (parse_shape(r, t, shape, at, q) < 0)
		return -1;
	if (!json_is_array(offs) || json_array_size(offs) != 2)
		return fail(r, at, "tensor %s: data_offsets is %s, not an array of two integers",
		    q, json_is_array(offs) ? "an array of another length" : json_kind(offs));
	if (get_size(json_array_get(offs, 0), &begin, s, sizeof(s)) < 0 ||
	    get_size(json_array_get(offs, 1), &end, s, sizeof(s)) < 0)
		return fail(r, at, "tensor %s: data_offsets value is %s, not a non-negative "
		    "integer", q, s);
	if (end < begin)
		return fail(r, at, "tensor %s: data_offsets [%zu,%zu] end before they begin",
		    q, begin, end);
	shape_str(s, sizeof(s), t->ndim, t->shape);
	need = shape_bytes(t->dtype, t->ndim, t->shape, &ok);
	if (!ok)
		return fail(r, at, "tensor %s: shape %s %s is too large: its byte size "
		    "overflows", q, s, dtype_name(t->dtype));
	if (need != end - begin)
		return fail(r, at, "tensor %s: shape %s %s needs %zu bytes but data_offsets "
		    "span %zu", q, s, dtype_name(t->dtype), need, end - begin);
	t->offset = begin;
	t->nbytes = need;
	return 0;
}

static int
by_offset(const void *a, const void *b)
{
	const struct tensor *x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->nbytes != y->nbytes)
		return x->nbytes < y->nbytes ? -1 : 1;
	return strcmp(x->name, y->name); /* zero-size twins: any fixed order will do */
}

/* Sorts the tensors by offset and checks that they tile [0, total) exactly. */
static int
check_layout(struct reader *r, struct record *rec, uint64_t at, size_t *total)
{
	struct tensor *t, *prev = NULL;
	char q[80], p[80];
	size_t i, end = 0;

	if (rec->nt > 1)
		qsort(rec->t, rec->nt, sizeof(*rec->t), by_offset);
	for (i = 0; i < rec->nt; i++) {
		t = &rec->t[i];
		quote(q, sizeof(q), t->name);
		if (t->offset > end && !prev)
			return fail(r, at, "tensor %s: data_offsets [%zu,%zu] leave a gap: the "
			    "data starts at 0", q, t->offset, t->offset + t->nbytes);
		if (t->offset != end)
			return fail(r, at, "tensor %s: data_offsets [%zu,%zu] %s tensor %s [%zu,%zu]",
			    q, t->offset, t->offset + t->nbytes,
			    t->offset > end ? "leave a gap after" : "overlap",
			    quote(p, sizeof(p), prev->name), prev->offset, end);
		end = t->offset + t->nbytes;
		prev = t;
	}
	*total = end;
	return 0;
}

/* Parses and checks the header in rec->hdr; leaves rec's tensors sorted by offset. */
static int
parse_header(struct reader *r, struct record *rec, size_t n, size_t *total)
{
	unsigned char c = *(unsigned char *)rec->hdr;
	uint64_t at = r->offset + 8;
	struct tensor *t;
	const char *key;
	json_error_t je;
	json_t *root, *v;
	size_t pos;
	int rc = 0;

	if (c != '{') {
		if (c > 0x20 && c < 0x7f)
			return fail(r, at, "header must start with '{', not '%c'", c);
		return fail(r, at, "header must start with '{', not byte 0x%02x", c);
	}
	root = json_loadb(rec->hdr, n, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson counts the bytes it consumed, the bad one included,
		 * except for a byte that is not UTF-8. */
		pos = je.position > 0 ? (size_t)je.position - 1 : 0;
		if (json_error_code(&je) == json_error_invalid_utf8)
			pos = je.position;
		return fail(r, at + pos, "JSON error at header byte %zu: %s", pos, je.text);
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "__metadata__") == 0) {
			rc = parse_meta(r, rec, v, at);
		} else {
			t = tensor_append(rec);
			t->name = estrdup(key);
			rc = parse_tensor(r, t, v, at);
		}
		if (rc < 0)
			break;
	}
	json_decref(root);
	if (rc < 0)
		return rc;
	return check_layout(r, rec, at, total);
}

/* Points each tensor into the data buffer, copying those whose offset is not a
 * multiple of their element size (the format allows U8[3] before F32[2]) so
 * every data pointer is aligned for its dtype. */
static void
place_tensors(struct record *rec)
{
	struct tensor *t;
	size_t i;

	for (i = 0; i < rec->nt; i++) {
		t = &rec->t[i];
		t->data = (char *)rec->buf + t->offset;
		if (t->offset % dtype_size(t->dtype) != 0) {
			t->data = memcpy(emalloc(t->nbytes), t->data, t->nbytes);
			t->owned = 1;
		}
	}
}

static int
read_record(struct reader *r, struct record *rec)
{
	unsigned char len[8];
	uint64_t n = 0;
	size_t got, total;
	int i;

	got = fread(len, 1, sizeof(len), r->fp);
	if (got == 0 && !ferror(r->fp))
		return 0;
	if (got < sizeof(len))
		return read_fail(r, r->offset, "record length", 8, got);
	for (i = 7; i >= 0; i--)
		n = n << 8 | len[i];
	if (n > TSR_MAX_HEADER)
		return fail(r, r->offset, "header length %llu exceeds the %u-byte limit",
		    (unsigned long long)n, TSR_MAX_HEADER);
	if (n < 2)
		return fail(r, r->offset, "header length %llu is too short for a JSON object",
		    (unsigned long long)n);
	got = read_grow(r->fp, &rec->hdr, &rec->hdrcap, n);
	if (got < n)
		return read_fail(r, r->offset + 8, "header", n, got);
	if (parse_header(r, rec, n, &total) < 0)
		return -1;
	got = read_grow(r->fp, &rec->buf, &rec->bufcap, total);
	if (got < total)
		return read_fail(r, r->offset + 8 + n, "data", total, got);
	place_tensors(rec);
	r->offset += 8 + n + total;
	r->index++;
	return 1;
}

int
record_read(struct reader *r, struct record *rec)
{
	int rc;

	record_clear(rec);
	if (r->failed)
		return -1;	/* the position in the stream is lost; keep the first error */
	rc = read_record(r, rec);
	if (rc < 0)
		record_clear(rec);
	return rc;
}

/* ---- writing --------------------------------------------------------------- */

static json_t *
tensor_json(const struct tensor *t, size_t begin)
{
	json_t *shape = json_array();
	int d;

	for (d = 0; shape && d < t->ndim; d++)
		json_array_append_new(shape, json_integer(t->shape[d]));
	return json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype_name(t->dtype), "shape", shape,
	    "data_offsets", (json_int_t)begin, (json_int_t)(begin + t->nbytes));
}

/* The compact JSON header, or NULL (errno EINVAL) when rec cannot be a valid
 * record: a name or value that is not UTF-8, or a tensor named __metadata__. */
static char *
header_json(const struct record *rec)
{
	json_t *root = json_object(), *meta = json_object();
	const struct tensor *t;
	size_t i, off = 0, end;
	int bad = !root || !meta;
	char *s = NULL;

	for (i = 0; !bad && i < rec->nmeta; i++)
		bad = json_object_set_new(meta, rec->meta[i].key,
		    json_string(rec->meta[i].value)) != 0;
	if (!bad && rec->nmeta)
		bad = json_object_set(root, "__metadata__", meta) != 0;
	for (i = 0; !bad && i < rec->nt; i++) {
		t = &rec->t[i];
		bad = strcmp(t->name, "__metadata__") == 0 ||
		    __builtin_add_overflow(off, t->nbytes, &end) || end > INT64_MAX ||
		    json_object_set_new(root, t->name, tensor_json(t, off)) != 0;
		off = end;
	}
	if (!bad)
		s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(meta);
	json_decref(root);
	if (!s)
		errno = EINVAL;
	return s;
}

int
record_write(FILE *fp, const struct record *rec)
{
	static const char spaces[8] = "        ";
	unsigned char len[8];
	char *json = header_json(rec);
	size_t n, pad, i;
	int rc = 0;

	if (!json)
		return -1;
	n = strlen(json);
	pad = (8 - n % 8) % 8;
	if (n + pad > TSR_MAX_HEADER) {
		free(json);
		errno = EFBIG;
		return -1;
	}
	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)(n + pad) >> (8 * i));
	if (fwrite(len, 1, 8, fp) != 8 || fwrite(json, 1, n, fp) != n ||
	    fwrite(spaces, 1, pad, fp) != pad)
		rc = -1;
	for (i = 0; rc == 0 && i < rec->nt; i++)
		if (rec->t[i].nbytes && fwrite(rec->t[i].data, 1, rec->t[i].nbytes, fp) !=
		    rec->t[i].nbytes)
			rc = -1;
	free(json);
	return rc;
}

void
tensor_shape_text(char *s, size_t n, const struct tensor *t)
{
	size_t len = snprintf(s, n, "%s[", dtype_name(t->dtype));
	int i;

	for (i = 0; i < t->ndim && len < n; i++)
		len += snprintf(s + len, n - len, "%s%" PRId64, i ? "," : "", t->shape[i]);
	if (len < n)
		snprintf(s + len, n - len, "]");
}
