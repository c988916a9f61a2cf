/* bleu.c: sacrebleu's corpus BLEU and coco-caption's BLEU-1..4 and CIDEr-D.
 *
 * Both scorers are Python; their numbers are reproduced by doing the same floating
 * point operations in the same order (see the comments citing their code), so that
 * printed digits agree. Tokens are interned to integers and n-grams are keys of up
 * to four token ids, hashed into open-addressing tables. */
#include "bleu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define NOTOK UINT32_MAX        /* pads n-gram keys shorter than BLEU_N */

/* ---- interned tokens ------------------------------------------------------ */

struct interner {
	struct ient {
		uint64_t hash;
		size_t off, len;
		uint32_t id;
	} *tab;
	size_t cap, n;
	struct buf pool;
};

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	while (n--)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static void
interner_grow(struct interner *in)
{
	size_t i, cap = in->cap ? in->cap * 2 : 4096;
	struct ient *tab = ecalloc(cap, sizeof *tab);

	for (i = 0; i < in->cap; i++) {
		size_t j;

		if (in->tab[i].len == 0)
			continue;
		for (j = in->tab[i].hash & (cap - 1); tab[j].len; j = (j + 1) & (cap - 1))
			;
		tab[j] = in->tab[i];
	}
	free(in->tab);
	in->tab = tab;
	in->cap = cap;
}

/* Tokens are never empty, so len == 0 marks a free slot. */
static uint32_t
intern(struct interner *in, const char *s, size_t n)
{
	uint64_t h = hash_bytes(s, n);
	size_t j;

	if (2 * (in->n + 1) > in->cap)
		interner_grow(in);
	for (j = h & (in->cap - 1); in->tab[j].len; j = (j + 1) & (in->cap - 1))
		if (in->tab[j].hash == h && in->tab[j].len == n &&
		    memcmp(in->pool.p + in->tab[j].off, s, n) == 0)
			return in->tab[j].id;
	in->tab[j].hash = h;
	in->tab[j].off = in->pool.len;
	in->tab[j].len = n;
	in->tab[j].id = in->n++;
	buf_append(&in->pool, s, n);
	return in->tab[j].id;
}

/* ---- n-gram tables ---------------------------------------------------------- */

struct gkey {
	uint32_t w[BLEU_N];
};

/* Keys in insertion order, so a per-sentence table lists its n-grams in the order
 * of first occurrence, as Python's dicts do. */
struct gmap {
	uint32_t *slot;         /* cap entries: key index + 1, or 0 when free */
	size_t cap;
	struct gkey *key;
	size_t *where;          /* slot of each key, to clear only what was used */
	size_t n, keycap;
};

static uint64_t
hash_key(const struct gkey *k)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	int i;

	for (i = 0; i < BLEU_N; i++) {
		h ^= k->w[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

static void
gmap_rehash(struct gmap *m, size_t cap)
{
	size_t i;

	free(m->slot);
	m->slot = ecalloc(cap, sizeof *m->slot);
	m->cap = cap;
	for (i = 0; i < m->n; i++) {
		size_t j = hash_key(&m->key[i]) & (cap - 1);

		while (m->slot[j])
			j = (j + 1) & (cap - 1);
		m->slot[j] = i + 1;
		m->where[i] = j;
	}
}

/* Returns the index of k, adding it when new (*added = 1). */
static size_t
gmap_get(struct gmap *m, const struct gkey *k, int *added)
{
	size_t j;

	if (2 * (m->n + 1) > m->cap)
		gmap_rehash(m, m->cap ? m->cap * 2 : 1024);
	for (j = hash_key(k) & (m->cap - 1); m->slot[j]; j = (j + 1) & (m->cap - 1))
		if (memcmp(&m->key[m->slot[j] - 1], k, sizeof *k) == 0) {
			*added = 0;
			return m->slot[j] - 1;
		}
	if (m->n == m->keycap) {
		m->keycap = m->keycap ? m->keycap * 2 : 512;
		m->key = ereallocarray(m->key, m->keycap, sizeof *m->key);
		m->where = ereallocarray(m->where, m->keycap, sizeof *m->where);
	}
	m->key[m->n] = *k;
	m->where[m->n] = j;
	m->slot[j] = m->n + 1;
	*added = 1;
	return m->n++;
}

static void
gmap_clear(struct gmap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		m->slot[m->where[i]] = 0;
	m->n = 0;
}

static void
gmap_free(struct gmap *m)
{
	free(m->slot);
	free(m->key);
	free(m->where);
	memset(m, 0, sizeof *m);
}

static int
gram_order(const struct gkey *k)
{
	int n = 1;

	while (n < BLEU_N && k->w[n] != NOTOK)
		n++;
	return n;
}

/* The n-grams of w[0..len) in precook()'s order: all unigrams, then all bigrams,
 * and so on. */
struct grams {
	struct gkey *k;
	size_t n, cap;
};

static void
grams_of(struct grams *g, const uint32_t *w, size_t len)
{
	size_t n, i, j;

	g->n = 0;
	for (n = 1; n <= BLEU_N; n++)
		for (i = 0; i + n <= len; i++) {
			if (g->n == g->cap) {
				g->cap = g->cap ? g->cap * 2 : 256;
				g->k = ereallocarray(g->k, g->cap, sizeof *g->k);
			}
			for (j = 0; j < BLEU_N; j++)
				g->k[g->n].w[j] = j < n ? w[i + j] : NOTOK;
			g->n++;
		}
}

/* ---- tokenizers --------------------------------------------------------------- */

static size_t
cplen(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static int
isdig(int c)
{
	return c >= '0' && c <= '9';
}

/* str.replace(pat, rep): one left-to-right pass, matches do not overlap. */
static void
replace_all(struct buf *out, const char *s, size_t n, const char *pat, const char *rep)
{
	size_t pl = strlen(pat), i = 0;

	out->len = 0;
	while (i < n) {
		const char *hit = pl <= n - i ? memmem(s + i, n - i, pat, pl) : NULL;

		if (!hit) {
			buf_append(out, s + i, n - i);
			break;
		}
		buf_append(out, s + i, hit - (s + i));
		buf_append(out, rep, strlen(rep));
		i = hit - s + pl;
	}
}

/* sacrebleu's TokenizerRegexp class [\{-\~\[-\` -\&\(-\+\:-\@\/]. */
static int
is_13a_punct(int c)
{
	return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
	    (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

static int
is_dot_comma(int c)
{
	return c == '.' || c == ',';
}

/* Room for n bytes in b (from its start); returns where to write. */
static char *
room(struct buf *b, size_t n)
{
	b->len = 0;
	buf_reserve(b, n);
	return b->p;
}

/* Tokenizer13a: mteval-v13a's escapes, then TokenizerRegexp's four substitutions,
 * each a pass of re.sub over code points, written with raw pointers into buffers
 * sized for the worst case (the tokenizer is most of bleu's run time). The classes
 * are ASCII, so a multi-byte character only ever matches [^0-9]. The result replaces
 * out's contents; tmp is scratch. */
void
tokenize_13a(struct buf *out, struct buf *tmp, const char *s, size_t n)
{
	static const char *const esc[][2] = {
		{"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"},
	};
	struct buf *src = tmp, *dst = out, *t;
	size_t i, k;
	char *d;

	out->len = 0;
	if (n == 0)     /* s may be NULL then */
		return;
	if (memmem(s, n, "<skipped>", 9)) {
		replace_all(src, s, n, "<skipped>", "");
	} else {
		src->len = 0;
		buf_append(src, s, n);
	}
	if (memchr(src->p, '&', src->len))
		for (k = 0; k < 4; k++) {
			replace_all(dst, src->p, src->len, esc[k][0], esc[k][1]);
			t = src, src = dst, dst = t;
		}

	d = room(dst, 3 * src->len + 6);        /* ' ' line ' ', then ([\{-\~...\/]) -> ' \1 ' */
	for (i = 0; i <= src->len + 1; i++) {
		char c = i == 0 || i == src->len + 1 ? ' ' : src->p[i - 1];

		if (is_13a_punct((unsigned char)c))
			*d++ = ' ', *d++ = c, *d++ = ' ';
		else
			*d++ = c;
	}
	dst->len = d - dst->p;
	t = src, src = dst, dst = t;

	if (memchr(src->p, '.', src->len) || memchr(src->p, ',', src->len)) {
		d = room(dst, 2 * src->len);    /* ([^0-9])([\.,]) -> '\1 \2 ' */
		for (i = 0; i < src->len; ) {
			size_t l = cplen(src->p[i]);

			memcpy(d, src->p + i, l), d += l;
			if (!isdig(src->p[i]) && i + l < src->len && is_dot_comma(src->p[i + l])) {
				*d++ = ' ', *d++ = src->p[i + l], *d++ = ' ';
				l++;
			}
			i += l;
		}
		dst->len = d - dst->p;
		t = src, src = dst, dst = t;

		d = room(dst, 2 * src->len);    /* ([\.,])([^0-9]) -> ' \1 \2' */
		for (i = 0; i < src->len; ) {
			size_t l = cplen(src->p[i]);

			if (is_dot_comma(src->p[i]) && i + 1 < src->len && !isdig(src->p[i + 1])) {
				*d++ = ' ', *d++ = src->p[i], *d++ = ' ';
				i++;
				l = cplen(src->p[i]);
			}
			memcpy(d, src->p + i, l), d += l;
			i += l;
		}
		dst->len = d - dst->p;
		t = src, src = dst, dst = t;
	}

	if (memchr(src->p, '-', src->len)) {
		d = room(dst, 2 * src->len);    /* ([0-9])(-) -> '\1 \2 ' */
		for (i = 0; i < src->len; i++) {
			*d++ = src->p[i];
			if (isdig(src->p[i]) && i + 1 < src->len && src->p[i + 1] == '-')
				*d++ = ' ', *d++ = '-', *d++ = ' ', i++;
		}
		dst->len = d - dst->p;
		t = src, src = dst, dst = t;
	}
	if (src != out) {
		out->len = 0;
		buf_append(out, src->p, src->len);
	}
}

/* The punctuation that Stanford's PTBTokenizer splits off and coco-caption's
 * tokenizer then drops (-LRB- and friends are the brackets). */
static int
is_coco_punct(int c)
{
	return c && strchr(".,?!:;\"`()[]{}", c) != NULL;
}

static int
ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n > k && memcmp(s + n - k, suf, k) == 0;
}

/* Lowercased text in; see bleu(1), COCO TOKENIZATION, for the rules. */
void
tokenize_coco(struct buf *out, const char *s, size_t n)
{
	static const char *const clitics[] = {"n't", "'s", "'m", "'d", "'re", "'ve", "'ll"};
	size_t i = 0, k;

	while (i < n) {
		size_t start, end, sp;

		/* a token runs to the next whitespace or punctuation character */
		while (i < n && ((sp = utf8_space(s + i, n - i)) || is_coco_punct(s[i])))
			i += sp ? sp : 1;
		start = i;
		while (i < n && !utf8_space(s + i, n - i) && !is_coco_punct(s[i]))
			i += cplen(s[i]);
		end = i;
		while (start < end && (s[start] == '\'' || s[start] == '-'))
			start++;
		while (end > start && (s[end - 1] == '\'' || s[end - 1] == '-'))
			end--;
		if (start == end)
			continue;
		for (k = 0; k < sizeof clitics / sizeof *clitics; k++)
			if (ends_with(s + start, end - start, clitics[k]))
				break;
		if (k < sizeof clitics / sizeof *clitics) {
			size_t cl = strlen(clitics[k]);

			buf_append(out, s + start, end - start - cl);
			buf_append(out, " ", 1);
			start = end - cl;
		}
		buf_append(out, s + start, end - start);
		buf_append(out, " ", 1);
	}
}

/* ---- corpus statistics ----------------------------------------------------------- */

/* Every sentence of the corpus as token ids: sentence j is ids[off[j] .. off[j+1]).
 * Sentence order: segment i's hypothesis, then its references. */
struct tokenized {
	uint32_t *ids;
	size_t nids, cap;
	size_t *off;
};

static void
push_tokens(struct tokenized *t, struct interner *in, const char *s, size_t n)
{
	size_t i = 0, sp;

	while (i < n) {
		size_t start;

		while (i < n && (sp = utf8_space(s + i, n - i)))
			i += sp;
		if (i == n)
			break;
		start = i;
		while (i < n && !utf8_space(s + i, n - i))
			i += cplen(s[i]);
		if (t->nids == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 65536;
			t->ids = ereallocarray(t->ids, t->cap, sizeof *t->ids);
		}
		t->ids[t->nids++] = intern(in, s + start, i - start);
	}
}

/* BLEU._preprocess_segment(): rstrip, lowercase, rstrip, tokenize; then split(). */
static void
add_sentence(struct tokenized *t, struct interner *in, const struct span *sp,
    enum tokenizer tok, int lowercase, struct buf *low, struct buf *out, struct buf *tmp)
{
	const char *s = sp->s;
	size_t n = utf8_rstrip(s, sp->len);

	if (lowercase || tok == TOK_COCO) {
		low->len = 0;
		utf8_lower(low, s, n);
		s = low->p, n = utf8_rstrip(low->p, low->len);
	}
	out->len = 0;
	if (tok == TOK_13A)
		tokenize_13a(out, tmp, s, n);
	else if (tok == TOK_COCO)
		tokenize_coco(out, s, n);
	else
		buf_append(out, s, n);
	push_tokens(t, in, out->p, out->len);
}

static void
tokenize_corpus(const struct corpus *c, enum tokenizer tok, int lowercase,
    struct tokenized *t)
{
	struct buf low = {0}, out = {0}, tmp = {0};
	struct interner in = {0};
	size_t i, r, j = 0;

	t->off = ereallocarray(NULL, c->n + c->ref_start[c->n] + 1, sizeof *t->off);
	for (i = 0; i < c->n; i++) {
		t->off[j++] = t->nids;
		add_sentence(t, &in, &c->hyp[i], tok, lowercase, &low, &out, &tmp);
		for (r = c->ref_start[i]; r < c->ref_start[i + 1]; r++) {
			t->off[j++] = t->nids;
			add_sentence(t, &in, &c->ref[r], tok, lowercase, &low, &out, &tmp);
		}
	}
	t->off[j] = t->nids;
	buf_free(&low);
	buf_free(&out);
	buf_free(&tmp);
	free(in.tab);
	buf_free(&in.pool);
}

/* Per-key values beside a gmap, grown with it. */
struct gvals {
	uint32_t *a, *b;
	int64_t *stamp;
	double *x;
	size_t cap;
};

static void
gvals_fit(struct gvals *v, size_t n)
{
	if (n < v->cap)
		return;
	v->cap = v->cap ? v->cap * 2 : 512;
	while (v->cap <= n)
		v->cap *= 2;
	v->a = ereallocarray(v->a, v->cap, sizeof *v->a);
	v->b = ereallocarray(v->b, v->cap, sizeof *v->b);
	v->stamp = ereallocarray(v->stamp, v->cap, sizeof *v->stamp);
	v->x = ereallocarray(v->x, v->cap, sizeof *v->x);
}

static void
gvals_free(struct gvals *v)
{
	free(v->a);
	free(v->b);
	free(v->stamp);
	free(v->x);
	memset(v, 0, sizeof *v);
}

#define SENT(t, j) ((t)->ids + (t)->off[j])
#define SLEN(t, j) ((t)->off[(j) + 1] - (t)->off[j])

/* BLEU._compute_segment_statistics(): a = the largest count in any one reference,
 * b = the count in the sentence being read (stamp says which). */
static void
segment_stats(const struct tokenized *t, size_t h, size_t nrefs, struct gmap *m,
    struct gvals *v, struct grams *g, struct bleu_stats *st)
{
	const int64_t HYP = -2;
	size_t r, k, hl = SLEN(t, h), best = 0;
	uint64_t bestdiff = UINT64_MAX;
	int added;

	gmap_clear(m);
	for (r = 0; r < nrefs; r++) {
		size_t rl = SLEN(t, h + 1 + r);
		uint64_t diff = rl > hl ? rl - hl : hl - rl;

		if (diff < bestdiff || (diff == bestdiff && rl < best))
			bestdiff = diff, best = rl;
		grams_of(g, SENT(t, h + 1 + r), rl);
		for (k = 0; k < g->n; k++) {
			size_t idx = gmap_get(m, &g->k[k], &added);

			gvals_fit(v, idx);
			if (added)
				v->a[idx] = 0, v->stamp[idx] = -1;
			if (v->stamp[idx] != (int64_t)r)
				v->stamp[idx] = r, v->b[idx] = 0;
			if (++v->b[idx] > v->a[idx])
				v->a[idx] = v->b[idx];
		}
	}
	grams_of(g, SENT(t, h), hl);
	for (k = 0; k < g->n; k++) {
		size_t idx = gmap_get(m, &g->k[k], &added);

		gvals_fit(v, idx);
		if (added)
			v->a[idx] = 0, v->stamp[idx] = -1;
		if (v->stamp[idx] != HYP)
			v->stamp[idx] = HYP, v->b[idx] = 0;
		v->b[idx]++;
	}
	for (k = 0; k < m->n; k++) {
		int n;

		if (v->stamp[k] != HYP)
			continue;
		n = gram_order(&m->key[k]) - 1;
		st->total[n] += v->b[k];
		st->correct[n] += v->b[k] < v->a[k] ? v->b[k] : v->a[k];
	}
	st->sys_len += hl;
	st->ref_len += best;
}

/* ---- CIDEr-D ---------------------------------------------------------------------- */

static size_t
gmap_find(const struct gmap *m, const struct gkey *k)
{
	size_t j;

	if (m->cap == 0)
		return SIZE_MAX;
	for (j = hash_key(k) & (m->cap - 1); m->slot[j]; j = (j + 1) & (m->cap - 1))
		if (memcmp(&m->key[m->slot[j] - 1], k, sizeof *k) == 0)
			return m->slot[j] - 1;
	return SIZE_MAX;
}

/* The distinct n-grams of a sentence in order of first occurrence, their counts
 * (v->a) and CiderScorer.counts2vec()'s tf-idf weights (v->x). */
struct cvec {
	struct gmap m;
	struct gvals v;
	double norm[BLEU_N];
	uint64_t length;
};

static void
counts2vec(struct cvec *cv, struct grams *g, const uint32_t *w, size_t len,
    const struct gmap *dfmap, const double *df, double log_nimages)
{
	size_t k;
	int added, n;

	gmap_clear(&cv->m);
	grams_of(g, w, len);
	for (k = 0; k < g->n; k++) {
		size_t idx = gmap_get(&cv->m, &g->k[k], &added);

		gvals_fit(&cv->v, idx);
		if (added)
			cv->v.a[idx] = 0;
		cv->v.a[idx]++;
	}
	memset(cv->norm, 0, sizeof cv->norm);
	cv->length = 0;
	for (k = 0; k < cv->m.n; k++) {
		size_t f = gmap_find(dfmap, &cv->m.key[k]);
		double d = f == SIZE_MAX || df[f] < 1.0 ? 1.0 : df[f];

		n = gram_order(&cv->m.key[k]) - 1;
		cv->v.x[k] = (double)cv->v.a[k] * (log_nimages - log(d));
		cv->norm[n] += cv->v.x[k] * cv->v.x[k];
		if (n == 1)     /* sic: the scorer's "length" counts bigrams */
			cv->length += cv->v.a[k];
	}
	for (n = 0; n < BLEU_N; n++)
		cv->norm[n] = sqrt(cv->norm[n]);
}

/* numpy's pairwise summation (8 accumulators, blocks of 128), as np.mean uses it
 * over buffers of 8192 elements; the last digits of a corpus mean depend on it. */
static double
pairwise_sum(const double *a, size_t n)
{
	double r[8], res;
	size_t i, j;

	if (n < 8) {
		for (res = 0., i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128) {
		memcpy(r, a, sizeof r);
		for (i = 8; i < n - n % 8; i += 8)
			for (j = 0; j < 8; j++)
				r[j] += a[i + j];
		res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	i = n / 2;
	i -= i % 8;
	return pairwise_sum(a, i) + pairwise_sum(a + i, n - i);
}

static double
np_mean(const double *a, size_t n)
{
	double res = 0.;
	size_t i;

	for (i = 0; i < n; i += 8192)
		res += pairwise_sum(a + i, n - i < 8192 ? n - i : 8192);
	return res / (double)n;
}

/* CiderScorer.compute_score(): document frequencies over each image's references,
 * then per image the mean over references of the clipped, length-penalised cosine
 * similarity of tf-idf vectors, averaged over n-gram orders, times 10. */
static double
cider_d(const struct tokenized *t, const struct corpus *c)
{
	struct gmap dfmap = {0};
	struct gvals dfv = {0};
	struct cvec hv = {0}, rv = {0};
	double *scores = ereallocarray(NULL, c->n, sizeof *scores), mean, log_n;
	struct grams g = {0};
	size_t i, r, h = 0, k;
	int added, n;

	for (i = 0; i < c->n; i++) {
		size_t nrefs = c->ref_start[i + 1] - c->ref_start[i];

		for (r = 0; r < nrefs; r++) {
			grams_of(&g, SENT(t, h + 1 + r), SLEN(t, h + 1 + r));
			for (k = 0; k < g.n; k++) {
				size_t idx = gmap_get(&dfmap, &g.k[k], &added);

				gvals_fit(&dfv, idx);
				if (added)
					dfv.x[idx] = 0, dfv.stamp[idx] = -1;
				if (dfv.stamp[idx] != (int64_t)i)
					dfv.stamp[idx] = i, dfv.x[idx] += 1;
			}
		}
		h += 1 + nrefs;
	}
	log_n = log((double)c->n);
	for (h = 0, i = 0; i < c->n; i++) {
		size_t nrefs = c->ref_start[i + 1] - c->ref_start[i];
		double score[BLEU_N] = {0};

		counts2vec(&hv, &g, SENT(t, h), SLEN(t, h), &dfmap, dfv.x, log_n);
		for (r = 0; r < nrefs; r++) {
			double val[BLEU_N] = {0}, delta;

			counts2vec(&rv, &g, SENT(t, h + 1 + r), SLEN(t, h + 1 + r), &dfmap, dfv.x, log_n);
			for (k = 0; k < hv.m.n; k++) {
				size_t f = gmap_find(&rv.m, &hv.m.key[k]);
				double vh = hv.v.x[k], vr = f == SIZE_MAX ? 0.0 : rv.v.x[f];

				n = gram_order(&hv.m.key[k]) - 1;
				val[n] += (vr < vh ? vr : vh) * vr;
			}
			delta = (double)hv.length - (double)rv.length;
			for (n = 0; n < BLEU_N; n++) {
				if (hv.norm[n] != 0 && rv.norm[n] != 0)
					val[n] /= hv.norm[n] * rv.norm[n];
				/* np.e ** x is pow(), not exp(): they differ in the last bit */
				val[n] *= pow(M_E, -(delta * delta) / (2 * 6.0 * 6.0));
				score[n] += val[n];
			}
		}
		scores[i] = (((score[0] + score[1]) + score[2]) + score[3]) / BLEU_N;
		scores[i] /= (double)nrefs;
		scores[i] *= 10.0;
		h += 1 + nrefs;
	}
	mean = np_mean(scores, c->n);
	free(scores);
	free(g.k);
	gmap_free(&dfmap);
	gvals_free(&dfv);
	gmap_free(&hv.m);
	gvals_free(&hv.v);
	gmap_free(&rv.m);
	gvals_free(&rv.v);
	return mean;
}

void
bleu_corpus_stats(const struct corpus *c, enum tokenizer tok, int lowercase,
    struct bleu_stats *st, double *cider)
{
	struct tokenized t = {0};
	struct gmap m = {0};
	struct gvals v = {0};
	struct grams g = {0};
	size_t i, h = 0;

	memset(st, 0, sizeof *st);
	tokenize_corpus(c, tok, lowercase, &t);
	for (i = 0; i < c->n; i++) {
		size_t nrefs = c->ref_start[i + 1] - c->ref_start[i];

		segment_stats(&t, h, nrefs, &m, &v, &g, st);
		h += 1 + nrefs;
	}
	if (cider)
		*cider = c->n ? cider_d(&t, c) : 0.0;
	gmap_free(&m);
	gvals_free(&v);
	free(g.k);
	free(t.ids);
	free(t.off);
}

/* ---- scores ------------------------------------------------------------------------ */

static double
my_log(double x)
{
	return x == 0.0 ? -9999999999.0 : log(x);
}

struct bleu_score
bleu_compute(const struct bleu_stats *st, enum smooth sm, double smooth_value)
{
	struct bleu_score s = {0};
	double correct[BLEU_N], total[BLEU_N], smooth_mteval = 1., logsum = 0.;
	int n, any = 0;

	if (smooth_value < 0)
		smooth_value = sm == SMOOTH_FLOOR ? 0.1 : 1;
	s.bp = 1.0;
	if (st->sys_len < st->ref_len)
		s.bp = st->sys_len > 0 ?
		    exp(1 - (double)st->ref_len / (double)st->sys_len) : 0.0;
	s.ratio = st->ref_len ? (double)st->sys_len / (double)st->ref_len : 0;
	for (n = 0; n < BLEU_N; n++) {
		correct[n] = (double)st->correct[n];
		total[n] = (double)st->total[n];
		any |= st->correct[n] != 0;
	}
	if (!any)
		return s;
	for (n = 0; n < BLEU_N; n++) {
		if (sm == SMOOTH_ADDK && n > 0) {
			correct[n] += smooth_value;
			total[n] += smooth_value;
		}
		if (total[n] == 0)
			break;
		if (correct[n] == 0) {
			if (sm == SMOOTH_EXP) {
				smooth_mteval *= 2;
				s.precisions[n] = 100. / (smooth_mteval * total[n]);
			} else if (sm == SMOOTH_FLOOR) {
				s.precisions[n] = 100. * smooth_value / total[n];
			}
		} else {
			s.precisions[n] = 100. * correct[n] / total[n];
		}
	}
	for (n = 0; n < BLEU_N; n++)
		logsum += my_log(s.precisions[n]);
	s.score = s.bp * exp(logsum / BLEU_N);
	return s;
}

void
coco_bleu(const struct bleu_stats *st, double out[BLEU_N])
{
	const double small = 1e-9, tiny = 1e-15;
	double bleu = 1., ratio;
	int k;

	for (k = 0; k < BLEU_N; k++) {
		bleu *= ((double)st->correct[k] + tiny) / ((double)st->total[k] + small);
		out[k] = pow(bleu, 1. / (k + 1));
	}
	ratio = ((double)st->sys_len + tiny) / ((double)st->ref_len + small);
	if (ratio < 1)
		for (k = 0; k < BLEU_N; k++)
			out[k] *= exp(1 - 1 / ratio);
}
