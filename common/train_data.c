/* train_data.c: shard lists, loading and checking records, epochs and batches. */
#include "train_data.h"

#include "half.h"
#include "stream.h"
#include "util.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- file lists ---------------------------------------------------------------- */

int
data_glob(const char *pattern, char ***paths, size_t *n, char *err, size_t errsz)
{
	glob_t g;
	struct stat st;
	size_t i;
	int rc;

	if (!strpbrk(pattern, "*?[")) {
		/* a plain name: say why it cannot be used, as open(2) would */
		if (stat(pattern, &st) != 0)
			return seterr(err, errsz, "%s: %s", pattern, strerror(errno));
		*paths = ereallocarray(*paths, *n + 1, sizeof **paths);
		(*paths)[(*n)++] = estrdup(pattern);
		return 0;
	}
	rc = glob(pattern, 0, NULL, &g);
	if (rc == GLOB_NOMATCH)
		return seterr(err, errsz, "%s: no files match", pattern);
	if (rc != 0)
		return seterr(err, errsz, "%s: %s", pattern,
		    rc == GLOB_NOSPACE ? "out of memory" : "cannot read a folder");
	*paths = ereallocarray(*paths, *n + g.gl_pathc, sizeof **paths);
	for (i = 0; i < g.gl_pathc; i++)
		(*paths)[(*n)++] = estrdup(g.gl_pathv[i]);
	globfree(&g);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
data_sort_unique(char **paths, size_t *n)
{
	size_t i, k = 0;

	if (*n == 0)
		return;
	qsort(paths, *n, sizeof *paths, cmp_str);
	for (i = 0; i < *n; i++) {
		if (k > 0 && strcmp(paths[k - 1], paths[i]) == 0)
			free(paths[i]);
		else
			paths[k++] = paths[i];
	}
	*n = k;
}

/* ---- loading -------------------------------------------------------------------- */

/* Checks the sample of a record and copies it (as F32 for an embedding) to dst. */
static int
take_sample(const struct train_data *d, const struct record *rec, const struct config *c,
    const char *encoder, unsigned char *dst, const char *where, char *err, size_t errsz)
{
	const int S = c->image, N = config_enc_len(c), D = c->dim;
	struct tensor *t;
	const char *fp;
	char shape[128];

	if (d->kind == DATA_IMAGE) {
		if (!(t = record_tensor(rec, "image")))
			return seterr(err, errsz, "%s: no image%s", where, !record_tensor(rec, "embed") ?
			    "" : d->chosen ? ", an embed (a training set is all images or all "
			    "embeddings)" : " (records with embed train with --frozen-encoder --init "
			    "MODEL)");
		if (t->dtype != DT_U8 || t->ndim != 3 || t->shape[2] != 3) {
			tensor_shape_text(shape, sizeof shape, t);
			return seterr(err, errsz, "%s: image is %s, not U8[%d,%d,3]", where, shape,
			    S, S);
		}
		if (t->shape[0] != S || t->shape[1] != S)
			return seterr(err, errsz, "%s: image is %lldx%lld, the model takes %dx%d "
			    "(make the shards with imgshard --size %d)", where,
			    (long long)t->shape[1], (long long)t->shape[0], S, S, S);
		memcpy(dst, t->data, t->nbytes);
		return 0;
	}
	if (!(t = record_tensor(rec, "embed")))
		return seterr(err, errsz, "%s: no embed%s", where, record_tensor(rec, "image") ?
		    ", an image (a training set is all images or all embeddings)" : "");
	if ((t->dtype != DT_F32 && t->dtype != DT_F16 && t->dtype != DT_BF16) ||
	    t->ndim != 2 || t->shape[0] != N || t->shape[1] != D) {
		tensor_shape_text(shape, sizeof shape, t);
		return seterr(err, errsz, "%s: embed is %s, the model's encoder gives F32[%d,%d]",
		    where, shape, N, D);
	}
	fp = record_meta(rec, "encoder");
	if (encoder && fp && strcmp(fp, encoder) != 0)
		return seterr(err, errsz, "%s: embeddings of encoder %s, the model's is %s "
		    "(make them with vit-embed -m from the --init model)", where, fp, encoder);
	half_to_f32((float *)dst, t->data, t->dtype, (size_t)N * D);
	return 0;
}

/* Checks the tokens of a record and appends its rows. */
static int
take_rows(struct train_data *d, const struct record *rec, const struct config *c,
    const char *where, char *err, size_t errsz)
{
	struct tensor *t = record_tensor(rec, "tokens");
	const int32_t *ids;
	char shape[128];
	int64_t i, j, n, L;

	if (!t)
		return seterr(err, errsz, "%s: no tokens (add them with tokenize encode -v VOCAB "
		    "--max-len %d)", where, c->dec_len);
	if (t->dtype != DT_I32 || t->ndim != 2) {
		tensor_shape_text(shape, sizeof shape, t);
		return seterr(err, errsz, "%s: tokens is %s, not I32[captions,length]", where, shape);
	}
	n = t->shape[0];
	L = t->shape[1];
	if (L < 2 || L > d->width)
		return seterr(err, errsz, "%s: tokens rows of %lld ids, the model reads rows of 2 "
		    "to %d (encode with tokenize encode --max-len %d)", where, (long long)L,
		    d->width, c->dec_len);
	ids = t->data;
	for (i = 0; i < n * L; i++)
		if (ids[i] < 0 || ids[i] >= c->vocab)
			return seterr(err, errsz, "%s: token id %d (caption %lld, position %lld) is "
			    "not in the vocabulary of %d tokens (encode with the same vocabulary)",
			    where, ids[i], (long long)(i / L), (long long)(i % L), c->vocab);
	if (d->nrows + n > UINT32_MAX)
		return seterr(err, errsz, "%s: more than %u captions", where, UINT32_MAX);
	if (d->nrows + n > d->rowcap) {
		while (d->nrows + n > d->rowcap)
			d->rowcap = d->rowcap ? 2 * d->rowcap : 1024;
		d->rows = ereallocarray(d->rows, d->rowcap, d->width * sizeof *d->rows);
		d->row_record = ereallocarray(d->row_record, d->rowcap, sizeof *d->row_record);
	}
	for (i = 0; i < n; i++) {
		int32_t *row = d->rows + (d->nrows + i) * d->width;

		for (j = 0; j < d->width; j++)
			row[j] = j < L ? ids[i * L + j] : 0;
		d->row_record[d->nrows + i] = (uint32_t)d->nrecords;
	}
	d->nrows += n;
	return 0;
}

static size_t
sample_bytes(int kind, const struct config *c)
{
	return kind == DATA_IMAGE ? (size_t)c->image * c->image * 3 :
	    (size_t)config_enc_len(c) * c->dim * sizeof(float);
}

static int
load_file(struct train_data *d, const char *path, const struct config *c,
    const char *encoder, char *err, size_t errsz)
{
	struct record rec = {0};
	struct reader r;
	char where[512];
	FILE *fp;
	int rc, bad = 0;

	if (!(fp = fopen(path, "rb")))
		return seterr(err, errsz, "%s: %s", path, strerror(errno));
	reader_init(&r, fp, path);
	while ((rc = record_read(&r, &rec)) == 1) {
		snprintf(where, sizeof where, "%s:record %llu", path,
		    (unsigned long long)(r.index - 1));
		if (d->kind == 0) {
			d->kind = record_tensor(&rec, "embed") ? DATA_EMBED : DATA_IMAGE;
			d->chosen = 1;
			d->sample_bytes = sample_bytes(d->kind, c);
		}
		if (d->kind == DATA_EMBED && !d->encoder[0] && record_meta(&rec, "encoder"))
			snprintf(d->encoder, sizeof d->encoder, "%s", record_meta(&rec, "encoder"));
		if (d->nrecords + 1 >= d->cap) {
			d->cap = d->cap ? 2 * d->cap : 256;
			d->samples = ereallocarray(d->samples, d->cap, d->sample_bytes);
			d->first_row = ereallocarray(d->first_row, d->cap + 1, sizeof *d->first_row);
		}
		if (take_sample(d, &rec, c, encoder, d->samples + d->nrecords * d->sample_bytes,
		    where, err, errsz) != 0 || take_rows(d, &rec, c, where, err, errsz) != 0) {
			bad = 1;
			break;
		}
		d->nrecords++;
		d->first_row[d->nrecords] = d->nrows;
	}
	if (rc < 0)
		seterr(err, errsz, "%s", r.err);
	record_free(&rec);
	fclose(fp);
	return rc < 0 || bad ? -1 : 0;
}

int
train_data_load(struct train_data *d, char *const *files, size_t nfiles,
    const struct config *c, int kind, const char *encoder, char *err, size_t errsz)
{
	size_t i;

	d->width = c->dec_len + 1;
	if (!d->first_row) {
		d->first_row = ecalloc(1, sizeof *d->first_row);
		d->kind = kind == DATA_AUTO ? 0 : kind;
		if (d->kind)
			d->sample_bytes = sample_bytes(d->kind, c);
	}
	for (i = 0; i < nfiles; i++) {
		if (load_file(d, files[i], c, encoder, err, errsz) != 0)
			return -1;
	}
	return 0;
}

void
train_data_free(struct train_data *d)
{
	free(d->samples);
	free(d->first_row);
	free(d->row_record);
	free(d->rows);
	memset(d, 0, sizeof *d);
}

/* ---- epochs ---------------------------------------------------------------------- */

/* uniform in [0, n) without modulo bias */
static uint64_t
below(uint64_t *s, uint64_t n)
{
	uint64_t r, lim = -n % n;

	do
		r = splitmix64(s);
	while (r < lim);
	return r % n;
}

size_t
train_data_pairs(const struct train_data *d, int pairs)
{
	size_t i, n = 0;

	if (pairs == PAIRS_ALL)
		return d->nrows;
	for (i = 0; i < d->nrecords; i++)
		n += d->first_row[i + 1] > d->first_row[i];
	return n;
}

size_t
train_data_epoch(const struct train_data *d, uint32_t *order, uint64_t seed, long epoch,
    int rank, int pairs, int shuffle)
{
	uint64_t s = seed, t;
	size_t i, n = 0, k;

	/* one independent stream per (seed, epoch, rank) */
	s = splitmix64(&s) ^ (uint64_t)epoch;
	s = splitmix64(&s) ^ (uint64_t)rank;
	s = splitmix64(&s);
	if (pairs == PAIRS_ALL) {
		for (i = 0; i < d->nrows; i++)
			order[n++] = (uint32_t)i;
	} else {
		for (i = 0; i < d->nrecords; i++) {
			k = d->first_row[i + 1] - d->first_row[i];
			if (k == 0)
				continue;
			order[n++] = (uint32_t)(d->first_row[i] + (shuffle ? below(&s, k) :
			    (uint64_t)epoch % k));
		}
	}
	if (shuffle) {
		for (i = n; i > 1; i--) {
			k = below(&s, i);
			t = order[i - 1];
			order[i - 1] = order[k];
			order[k] = (uint32_t)t;
		}
	}
	return n;
}

void
batch_make(struct batch *b, const struct train_data *d, const uint32_t *order, int n)
{
	int i, j, T = 1, w = d->width;

	if (n > b->cap) {
		b->samples = ereallocarray(b->samples, n, d->sample_bytes);
		b->ids = ereallocarray(b->ids, (size_t)n * w, sizeof *b->ids);
		b->targets = ereallocarray(b->targets, (size_t)n * w, sizeof *b->targets);
		b->cap = n;
	}
	/* positions after every caption's last target only add work: trim them */
	for (i = 0; i < n; i++) {
		const int32_t *row = d->rows + (size_t)order[i] * w;

		for (j = w - 1; j > T; j--)
			if (row[j] != 0)
				break;
		if (j > T)
			T = j;
	}
	b->n = n;
	b->T = T;
	b->ntargets = 0;
	for (i = 0; i < n; i++) {
		const int32_t *row = d->rows + (size_t)order[i] * w;

		memcpy(b->samples + (size_t)i * d->sample_bytes,
		    d->samples + (size_t)d->row_record[order[i]] * d->sample_bytes,
		    d->sample_bytes);
		for (j = 0; j < T; j++) {
			b->ids[i * T + j] = row[j];
			b->targets[i * T + j] = row[j + 1];
			b->ntargets += row[j + 1] != 0;
		}
	}
}

void
batch_free(struct batch *b)
{
	free(b->samples);
	free(b->ids);
	free(b->targets);
	memset(b, 0, sizeof *b);
}
