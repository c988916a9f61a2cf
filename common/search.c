/* search.c: greedy decoding, beam search and sampling over the model's
 * incremental decoding, batched over images.
 *
 * Each step feeds one token per row and gets the next token's logits; the
 * choices are made here, on the host, in double precision. Beam search keeps
 * K rows per image and, after each step, makes row r continue the sequence of
 * its parent (model_decode_reorder). With no_cache, a step runs the decoder
 * over the whole prefix instead (model_next_logits): the same logits, slower,
 * which the tests use to check the cache.
 *
 * Greedy decoding with the cache is the exception: model_decode_greedy makes
 * its choices where the logits are (on a GPU, without a round trip to the host
 * per token), by the rule of run_greedy here, which the uncached search still
 * follows on the host; the tests compare the two. */
#include "search.h"
#include "layers.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cand {
	double score;           /* the beam's log-probability with this token */
	int beam;               /* 0 .. K-1 within the image */
	int32_t tok;
};

struct finished {
	int32_t *ids;           /* L words */
	int n;
	double logprob, score;
};

struct search {
	struct model *m;
	struct search_opts o;
	int maxB, K, V, L, N, D;
	float *logits;          /* [rows, V] */
	int32_t *tok;           /* [rows] the tokens fed next */
	int32_t *parent;        /* [rows] */
	int32_t *seq, *seq2;    /* [rows, L] the words so far */
	int32_t *len;           /* [rows] greedy: words so far */
	double *score;          /* [rows] log-probability so far; -inf: no beam */
	int *done;              /* [maxB] */
	struct finished *fin;   /* [maxB, K] */
	int32_t *finids;        /* [maxB, K, L] */
	int *nfin;              /* [maxB] */
	struct cand *top;       /* [rows, 2K] each row's best tokens */
	struct cand *cand;      /* [maxB, K * 2K] */
	uint64_t *rng;          /* [maxB] */
	int32_t *idx;           /* sampling: [rows, V] */
	double *cum;            /* sampling: [rows, V] */
	/* no_cache */
	int pos;
	int32_t *prefix;        /* [rows, L + 1] */
	int32_t *packed;        /* [rows * (L + 1)] */
	float *rep;             /* [rows, N, D] each image's embeddings K times */
};

int
search_rows(const struct search_opts *o, int B)
{
	return B * (o->beam > 1 ? o->beam : 1);
}

struct search *
search_new(struct model *m, int maxB, const struct search_opts *o)
{
	struct search *s = ecalloc(1, sizeof *s);
	const struct config *c = &m->cfg;
	size_t rows;

	if (o->max_len < 0 || o->max_len > c->dec_len - 1)
		eprintf("search_new: max_len %d, the model allows 0 to %d", o->max_len,
		    c->dec_len - 1);
	if (o->beam < 0 || o->beam > SEARCH_MAX_BEAM || (o->beam && o->sample))
		eprintf("search_new: beam %d with sampling %d", o->beam, o->sample);
	s->m = m;
	s->o = *o;
	s->maxB = maxB;
	s->K = o->beam > 1 ? o->beam : 1;
	s->V = c->vocab;
	s->L = o->max_len;
	s->N = config_enc_len(c);
	s->D = c->dim;
	rows = search_rows(o, maxB);
	if ((int)rows > m->maxB)
		eprintf("search_new: %zu rows, the model is reserved for %d", rows, m->maxB);
	s->logits = ereallocarray(NULL, rows * s->V, sizeof *s->logits);
	s->tok = ereallocarray(NULL, rows, sizeof *s->tok);
	s->parent = ereallocarray(NULL, rows, sizeof *s->parent);
	s->seq = ereallocarray(NULL, rows * (s->L + 1), sizeof *s->seq);
	s->seq2 = ereallocarray(NULL, rows * (s->L + 1), sizeof *s->seq2);
	s->len = ereallocarray(NULL, rows, sizeof *s->len);
	s->score = ereallocarray(NULL, rows, sizeof *s->score);
	s->done = ereallocarray(NULL, maxB, sizeof *s->done);
	s->fin = ereallocarray(NULL, rows, sizeof *s->fin);
	s->finids = ereallocarray(NULL, rows * (s->L + 1), sizeof *s->finids);
	s->nfin = ereallocarray(NULL, maxB, sizeof *s->nfin);
	s->top = ereallocarray(NULL, rows * 2 * s->K, sizeof *s->top);
	s->cand = ereallocarray(NULL, rows * 2 * s->K, sizeof *s->cand);
	s->rng = ereallocarray(NULL, maxB, sizeof *s->rng);
	if (o->sample) {
		s->idx = ereallocarray(NULL, rows * s->V, sizeof *s->idx);
		s->cum = ereallocarray(NULL, rows * s->V, sizeof *s->cum);
	}
	if (o->no_cache) {
		s->prefix = ereallocarray(NULL, rows * (s->L + 1), sizeof *s->prefix);
		s->packed = ereallocarray(NULL, rows * (s->L + 1), sizeof *s->packed);
		s->rep = ereallocarray(NULL, rows * s->N * s->D, sizeof *s->rep);
	}
	return s;
}

void
search_free(struct search *s)
{
	if (!s)
		return;
	free(s->logits);
	free(s->tok);
	free(s->parent);
	free(s->seq);
	free(s->seq2);
	free(s->len);
	free(s->score);
	free(s->done);
	free(s->fin);
	free(s->finids);
	free(s->nfin);
	free(s->top);
	free(s->cand);
	free(s->rng);
	free(s->idx);
	free(s->cum);
	free(s->prefix);
	free(s->packed);
	free(s->rep);
	free(s);
}

/* ---- the decoder, with or without its cache ---------------------------------------- */

static int
begin(struct search *s, const float *embed, int B)
{
	struct model *m = s->m;
	size_t img = (size_t)s->N * s->D;
	int b, k;

	if (s->o.no_cache) {
		if (!embed)
			eprintf("search_run: no_cache needs the embeddings");
		for (b = 0; b < B; b++)
			for (k = 0; k < s->K; k++)
				memcpy(s->rep + (b * s->K + k) * img, embed + b * img,
				    img * sizeof *s->rep);
		s->pos = 0;
		return model_set_embed(m, s->rep, B * s->K);
	}
	if (embed && model_set_embed(m, embed, B) != 0)
		return -1;
	return model_decode_start_beams(m, B, s->K);
}

/* Feeds s->tok, one token per row, and leaves the logits of the next. */
static int
step(struct search *s, int rows)
{
	const int stride = s->L + 1;
	int r, t;

	if (!s->o.no_cache)
		return model_decode_step(s->m, s->tok, s->logits);
	for (r = 0; r < rows; r++)
		s->prefix[r * stride + s->pos] = s->tok[r];
	s->pos++;
	for (r = 0; r < rows; r++)
		for (t = 0; t < s->pos; t++)
			s->packed[r * s->pos + t] = s->prefix[r * stride + t];
	return model_next_logits(s->m, s->packed, rows, s->pos, s->logits);
}

/* Row r continues the sequence of row s->parent[r]. */
static int
reorder(struct search *s, int rows)
{
	const int stride = s->L + 1;
	int r;

	for (r = 0; r < rows && s->parent[r] == r; r++)
		;
	if (r == rows)
		return 0;
	if (!s->o.no_cache)
		return model_decode_reorder(s->m, s->parent);
	for (r = 0; r < rows; r++)
		memcpy(s->packed + r * stride, s->prefix + s->parent[r] * stride,
		    s->pos * sizeof *s->prefix);
	memcpy(s->prefix, s->packed, (size_t)rows * stride * sizeof *s->prefix);
	return 0;
}

/* ---- choosing tokens ---------------------------------------------------------------- */

static int
allowed(int32_t v)
{
	return v != TOK_PAD && v != TOK_BOS;
}

/* The n best allowed tokens of z into top[0 .. *k), best first, equal logits
 * in id order. */
static void
best_tokens(const float *z, int V, int n, int32_t *top, int *k)
{
	int32_t v;
	int i, cnt = 0;

	for (v = 0; v < V; v++) {
		if (!allowed(v) || (cnt == n && !(z[v] > z[top[n - 1]])))
			continue;
		for (i = cnt < n ? cnt++ : n - 1; i > 0 && z[v] > z[top[i - 1]]; i--)
			top[i] = top[i - 1];
		top[i] = v;
	}
	*k = cnt;
}

/* A token drawn from softmax(z / temperature) over the top_k allowed tokens
 * (all when top_k is 0), with the image's generator. */
static int32_t
draw(struct search *s, const float *z, int32_t *idx, double *cum, uint64_t *rng)
{
	const double T = s->o.temperature;
	double u, mx = -INFINITY, total = 0;
	int n = 0, i;
	int32_t v;

	if (s->o.top_k > 0) {
		best_tokens(z, s->V, s->o.top_k < s->V ? s->o.top_k : s->V, idx, &n);
	} else {
		for (v = 0; v < s->V; v++)
			if (allowed(v))
				idx[n++] = v;
	}
	for (i = 0; i < n; i++)
		mx = z[idx[i]] > mx ? z[idx[i]] : mx;
	for (i = 0; i < n; i++) {
		total += exp(((double)z[idx[i]] - mx) / T);
		cum[i] = total;
	}
	u = (splitmix64(rng) >> 11) * 0x1p-53 * total;
	for (i = 0; i < n - 1 && !(u < cum[i]); i++)
		;
	return idx[i];
}

/* ---- greedy decoding and sampling --------------------------------------------------- */

/* The captions of a greedy or sampled search: its words, length and score. */
static void
greedy_out(struct search *s, int B, struct caption *out)
{
	int b;

	for (b = 0; b < B; b++) {
		out[b].ids = s->seq + b * (s->L + 1);
		out[b].n = s->len[b];
		out[b].logprob = out[b].score = s->score[b];
	}
}

static int
run_greedy(struct search *s, int B, struct caption *out)
{
	const int V = s->V, L = s->L;
	int t, b, ndone = 0;

	for (b = 0; b < B; b++) {
		s->tok[b] = TOK_BOS;
		s->done[b] = 0;
		s->len[b] = 0;
		s->score[b] = 0;
	}
	for (t = 0; t <= L && ndone < B; t++) {
		if (step(s, B) != 0)
			return -1;
#pragma omp parallel for schedule(static)
		for (b = 0; b < B; b++) {
			const float *z = s->logits + (size_t)b * V;
			int32_t c;

			if (s->done[b])
				continue;
			if (t == L)
				c = TOK_EOS;
			else if (s->o.sample)
				c = draw(s, z, s->idx + (size_t)b * V, s->cum + (size_t)b * V, &s->rng[b]);
			else
				c = greedy_token(z, V);
			s->score[b] = s->score[b] + ((double)z[c] - logsumexp(z, V));
			if (c == TOK_EOS)
				s->done[b] = 1;
			else
				s->seq[b * (L + 1) + s->len[b]++] = c;
			s->tok[b] = c;
		}
		for (ndone = 0, b = 0; b < B; b++)
			ndone += s->done[b];
	}
	greedy_out(s, B, out);
	return 0;
}

/* Greedy decoding with the model's cache: on the device (model_decode_greedy),
 * the same captions and log-probabilities as run_greedy's. */
static int
run_greedy_device(struct search *s, int B, struct caption *out)
{
	if (model_decode_greedy(s->m, s->L, s->seq, s->len, s->score) != 0)
		return -1;
	greedy_out(s, B, out);
	return 0;
}

/* ---- beam search -------------------------------------------------------------------- */

static int
cmp_cand(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->beam != b->beam)
		return a->beam < b->beam ? -1 : 1;
	return (a->tok > b->tok) - (a->tok < b->tok);
}

/* One step of image i: the candidates of its live beams, the finished
 * hypotheses, and the beams of the next step (parents, tokens, words). */
static void
beam_image(struct search *s, int i, int t)
{
	const int K = s->K, L = s->L, stride = L + 1;
	struct cand *cand = s->cand + (size_t)i * K * 2 * K;
	int j, r, n = 0, rank, live = 0;

	for (j = 0; j < K; j++) {
		r = i * K + j;
		if (s->score[r] == -INFINITY)
			continue;
		for (rank = 0; rank < 2 * K && s->top[r * 2 * K + rank].tok >= 0; rank++)
			cand[n++] = s->top[r * 2 * K + rank];
	}
	qsort(cand, n, sizeof *cand, cmp_cand);
	/* the standard rule: an <eos> among the K best candidates ends a hypothesis,
	 * the best K others go on */
	for (rank = 0; rank < n && rank < 2 * K && live < K && s->nfin[i] < K; rank++) {
		const struct cand *c = &cand[rank];
		const int from = i * K + c->beam;

		if (c->tok == TOK_EOS) {
			struct finished *f;

			if (rank >= K)
				continue;
			f = &s->fin[i * K + s->nfin[i]++];
			f->n = t;       /* every beam of step t has t words */
			memcpy(f->ids, s->seq + from * stride, f->n * sizeof *f->ids);
			f->logprob = c->score;
			f->score = c->score / pow(f->n + 1, s->o.alpha);
			continue;
		}
		r = i * K + live++;
		s->parent[r] = from;
		s->tok[r] = c->tok;
		s->score[r] = c->score;
		memcpy(s->seq2 + r * stride, s->seq + from * stride, t * sizeof *s->seq);
		s->seq2[r * stride + t] = c->tok;
	}
	if (s->nfin[i] >= K || t == L)
		s->done[i] = 1;
	for (j = s->done[i] ? 0 : live; j < K; j++) {
		r = i * K + j;
		s->parent[r] = r;
		s->tok[r] = TOK_EOS;
		s->score[r] = -INFINITY;
	}
}

static int
run_beam(struct search *s, int B, struct caption *out)
{
	const int K = s->K, V = s->V, L = s->L, stride = L + 1, rows = B * K;
	int t, r, i, ndone = 0;
	int32_t *tmp;

	for (r = 0; r < rows; r++) {
		s->tok[r] = TOK_BOS;
		s->score[r] = r % K == 0 ? 0 : -INFINITY;       /* one beam to start */
		s->fin[r].ids = s->finids + (size_t)r * stride;
	}
	for (i = 0; i < B; i++)
		s->done[i] = s->nfin[i] = 0;
	for (t = 0; t <= L && ndone < B; t++) {
		if (step(s, rows) != 0)
			return -1;
#pragma omp parallel for schedule(static)
		for (r = 0; r < rows; r++) {
			const float *z = s->logits + (size_t)r * V;
			struct cand *top = s->top + (size_t)r * 2 * K;
			int32_t best[2 * SEARCH_MAX_BEAM];
			double lse;
			int k = 0, q;

			top[0].tok = -1;
			if (s->done[r / K] || s->score[r] == -INFINITY)
				continue;
			lse = logsumexp(z, V);
			if (t == L)
				best[k++] = TOK_EOS;
			else
				best_tokens(z, V, 2 * K, best, &k);
			for (q = 0; q < k; q++) {
				top[q].score = s->score[r] + ((double)z[best[q]] - lse);
				top[q].beam = r % K;
				top[q].tok = best[q];
			}
			if (k < 2 * K)
				top[k].tok = -1;
		}
#pragma omp parallel for schedule(static)
		for (i = 0; i < B; i++)
			if (!s->done[i])
				beam_image(s, i, t);
		tmp = s->seq;
		s->seq = s->seq2;
		s->seq2 = tmp;
		for (ndone = 0, i = 0; i < B; i++)
			ndone += s->done[i];
		if (ndone < B && reorder(s, rows) != 0)
			return -1;
	}
	for (i = 0; i < B; i++) {
		struct finished *f = s->fin + i * K, *best = NULL;
		int q;

		for (q = 0; q < s->nfin[i]; q++)
			if (!best || f[q].score > best->score)
				best = &f[q];
		out[i].ids = best ? best->ids : s->finids;
		out[i].n = best ? best->n : 0;
		out[i].logprob = best ? best->logprob : -INFINITY;
		out[i].score = best ? best->score : -INFINITY;
	}
	return 0;
}

int
search_run(struct search *s, const float *embed, int B, const uint64_t *seeds,
    struct caption *out)
{
	int b;

	if (B < 1 || B > s->maxB)
		eprintf("search_run: batch of %d, made for 1 to %d", B, s->maxB);
	for (b = 0; b < B; b++)
		s->rng[b] = seeds ? seeds[b] : 0;
	if (begin(s, embed, B) != 0)
		return -1;
	if (s->o.beam)
		return run_beam(s, B, out);
	if (!s->o.sample && !s->o.no_cache)
		return run_greedy_device(s, B, out);
	return run_greedy(s, B, out);
}
