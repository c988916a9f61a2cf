/* bpe.c: GPT-2 byte-level BPE: pre-tokenisation, encoding, learning. */
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

#include "uniclass.h"
#include "utf8.h"
#include "util.h"

void
ids_push(struct ids *a, int32_t id)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 64;
		a->v = ereallocarray(a->v, a->cap, sizeof *a->v);
	}
	a->v[a->n++] = id;
}

void
ids_free(struct ids *a)
{
	free(a->v);
	memset(a, 0, sizeof *a);
}

/* ---- the byte alphabet --------------------------------------------------- */

/* bytes_to_unicode() keeps the printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC,
 * U+00AE..U+00FF) as themselves and numbers the 68 others from U+0100 in byte
 * order, so a space is U+0120 'Ġ' and a newline U+010A 'Ċ'. */
static uint32_t
byte_cp(unsigned b)
{
	if (b <= 0x20)
		return 0x100 + b;
	if (b >= 0x7F && b <= 0xA0)
		return 0x100 + 33 + (b - 0x7F);
	if (b == 0xAD)
		return 0x100 + 67;
	return b;
}

size_t
bpe_byte_char(unsigned b, char *out)
{
	return utf8_encode(byte_cp(b & 0xFF), out);
}

int
bpe_char_byte(const char *s, size_t n, size_t *len)
{
	uint32_t cp;

	if ((*len = utf8_decode(s, n, &cp)) == 0)
		return -1;
	if (cp >= 0x100 && cp <= 0x120)
		return cp - 0x100;
	if (cp >= 0x121 && cp <= 0x142)
		return 0x7F + (cp - 0x121);
	if (cp == 0x143)
		return 0xAD;
	if (cp < 0x100 && byte_cp(cp) == cp)
		return cp;
	return -1;
}

/* ---- pre-tokenisation ------------------------------------------------------ */

enum { PC_SPACE, PC_LETTER, PC_NUMBER, PC_OTHER };

/* \s of the regex: Unicode White_Space (the onig library's \s). Unlike Python's
 * str.isspace() it leaves out U+001C..U+001F. */
static int
white_space(uint32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
	    cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
	    cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static const unsigned char ascii_pc[128] = {
	['\t'] = PC_SPACE + 1, ['\n'] = PC_SPACE + 1, ['\v'] = PC_SPACE + 1,
	['\f'] = PC_SPACE + 1, ['\r'] = PC_SPACE + 1, [' '] = PC_SPACE + 1,
	['0'] = PC_NUMBER + 1, ['1'] = PC_NUMBER + 1, ['2'] = PC_NUMBER + 1,
	['3'] = PC_NUMBER + 1, ['4'] = PC_NUMBER + 1, ['5'] = PC_NUMBER + 1,
	['6'] = PC_NUMBER + 1, ['7'] = PC_NUMBER + 1, ['8'] = PC_NUMBER + 1,
	['9'] = PC_NUMBER + 1,
};

/* The class of the character at s (n > 0) and its length. */
static int
pclass(const char *s, size_t n, size_t *len)
{
	unsigned char c = s[0];
	uint32_t cp;
	int u;

	if (c < 0x80) {
		*len = 1;
		if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			return PC_LETTER;
		return ascii_pc[c] ? ascii_pc[c] - 1 : PC_OTHER;
	}
	if ((*len = utf8_decode(s, n, &cp)) == 0) {
		*len = 1;       /* callers pass valid UTF-8; never loop forever */
		return PC_OTHER;
	}
	if (white_space(cp))
		return PC_SPACE;
	u = uni_class(cp);
	return u == UC_LETTER ? PC_LETTER : u == UC_NUMBER ? PC_NUMBER : PC_OTHER;
}

/* The end of the run of characters of class cls that starts at i. */
static size_t
run(const char *s, size_t n, size_t i, int cls)
{
	size_t k;

	while (i < n && pclass(s + i, n - i, &k) == cls)
		i += k;
	return i;
}

size_t
bpe_pretoken(const char *s, size_t n)
{
	size_t k, j, last;
	int c;

	if (s[0] == '\'' && n >= 2) {
		if (s[1] && strchr("stmd", s[1]))
			return 2;
		if (n >= 3 && ((s[1] == 'r' && s[2] == 'e') || (s[1] == 'v' && s[2] == 'e') ||
		    (s[1] == 'l' && s[2] == 'l')))
			return 3;
	}
	/* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': a space joins the run after it */
	if (s[0] == ' ' && n > 1 && (c = pclass(s + 1, n - 1, &k)) != PC_SPACE)
		return run(s, n, 1 + k, c);
	if ((c = pclass(s, n, &k)) != PC_SPACE)
		return run(s, n, k, c);
	/* '\s+(?!\S)' leaves the last white space before a non-space to the next
	 * pre-token, and '\s+' takes a lone one */
	for (j = 0, last = 0; j < n && pclass(s + j, n - j, &k) == PC_SPACE; j += k)
		last = j;
	return j == n || last == 0 ? j : last;
}

/* ---- pair tables ------------------------------------------------------------ */

/* (left, right) -> a number, open addressing; ids are at least BPE_BYTE0, so the
 * key 0 marks an empty slot. */
struct pairmap {
	uint64_t *key;
	uint32_t *val;
	size_t n, mask;
};

static inline uint64_t
pairkey(int32_t a, int32_t b)
{
	return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static inline size_t
pairslot(uint64_t key, size_t mask)
{
	key *= 0x9e3779b97f4a7c15ull;
	return (key ^ key >> 29) & mask;
}

/* The value of (a, b), or UINT32_MAX. */
static inline uint32_t
pair_get(const struct pairmap *m, int32_t a, int32_t b)
{
	uint64_t k = pairkey(a, b);
	size_t i;

	if (!m->key)
		return UINT32_MAX;
	for (i = pairslot(k, m->mask); m->key[i]; i = (i + 1) & m->mask)
		if (m->key[i] == k)
			return m->val[i];
	return UINT32_MAX;
}

static void
pair_grow(struct pairmap *m)
{
	uint64_t *okey = m->key;
	uint32_t *oval = m->val;
	size_t on = okey ? m->mask + 1 : 0, i, j;

	m->mask = on ? 2 * on - 1 : 1023;
	m->key = ecalloc(m->mask + 1, sizeof *m->key);
	m->val = ereallocarray(NULL, m->mask + 1, sizeof *m->val);
	for (i = 0; i < on; i++) {
		if (!okey[i])
			continue;
		for (j = pairslot(okey[i], m->mask); m->key[j]; j = (j + 1) & m->mask)
			;
		m->key[j] = okey[i];
		m->val[j] = oval[i];
	}
	free(okey);
	free(oval);
}

/* The value of (a, b); when absent, val is stored and *added set. */
static uint32_t
pair_put(struct pairmap *m, int32_t a, int32_t b, uint32_t val, int *added)
{
	uint64_t k = pairkey(a, b);
	size_t i;

	*added = 0;
	if (!m->key || 2 * (m->n + 1) > m->mask + 1)
		pair_grow(m);
	for (i = pairslot(k, m->mask); m->key[i]; i = (i + 1) & m->mask)
		if (m->key[i] == k)
			return m->val[i];
	m->key[i] = k;
	m->val[i] = val;
	m->n++;
	*added = 1;
	return val;
}

static void
pair_free(struct pairmap *m)
{
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof *m);
}

/* ---- encoding ----------------------------------------------------------------- */

/* Distinct pre-tokens cached past this many would only cost memory: a corpus has
 * far fewer, an adversarial input more. */
#define CACHE_MAX (1u << 21)

struct sym {
	int32_t id;             /* -1 once merged into the symbol before it */
	int32_t prev, next;
};

struct cand {
	uint32_t rank, pos;
};

struct bpe {
	struct pairmap rank;    /* (left, right) -> merge rank */
	struct strtab cache;    /* pre-token bytes -> ids[cstart[i] .. cstart[i] + clen[i]) */
	size_t *cstart;
	uint32_t *clen;
	size_t ccap;
	struct ids cids;
	struct sym *sym;        /* scratch for one pre-token */
	struct cand *heap;
	size_t symcap, heapcap;
};

struct bpe *
bpe_new(const struct bpe_merge *merges, size_t n)
{
	struct bpe *b = ecalloc(1, sizeof *b);
	size_t r;
	int added;

	for (r = 0; r < n; r++) {
		pair_put(&b->rank, merges[r].left, merges[r].right, r, &added);
		if (!added)
			eprintf("bpe: merge %zu repeats an earlier merge", r);
	}
	return b;
}

void
bpe_free(struct bpe *b)
{
	if (!b)
		return;
	pair_free(&b->rank);
	strtab_free(&b->cache);
	free(b->cstart);
	free(b->clen);
	ids_free(&b->cids);
	free(b->sym);
	free(b->heap);
	free(b);
}

static inline int
cand_less(struct cand a, struct cand b)
{
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void
cand_push(struct bpe *b, size_t *n, uint32_t rank, uint32_t pos)
{
	size_t i = (*n)++;

	if (*n > b->heapcap) {
		b->heapcap = 2 * *n;
		b->heap = ereallocarray(b->heap, b->heapcap, sizeof *b->heap);
	}
	while (i > 0 && cand_less((struct cand){rank, pos}, b->heap[(i - 1) / 2])) {
		b->heap[i] = b->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	b->heap[i] = (struct cand){rank, pos};
}

static struct cand
cand_pop(struct bpe *b, size_t *n)
{
	struct cand top = b->heap[0], last = b->heap[--*n];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < *n) {
		if (c + 1 < *n && cand_less(b->heap[c + 1], b->heap[c]))
			c++;
		if (!cand_less(b->heap[c], last))
			break;
		b->heap[i] = b->heap[c];
		i = c;
	}
	b->heap[i] = last;
	return top;
}

/* Merges the bytes of one pre-token by rank, as tokenizers' Word::merge_all does:
 * the lowest-ranked pair first, the leftmost of equals, until no pair has a merge. */
static void
merge_word(struct bpe *b, const unsigned char *s, size_t n, struct ids *out)
{
	struct sym *y;
	size_t i, nh = 0;
	uint32_t r;
	int32_t p;

	if (n > INT32_MAX)
		eprintf("bpe: a pre-token of %zu bytes", n);
	if (n > b->symcap) {
		b->symcap = n;
		b->sym = ereallocarray(b->sym, n, sizeof *b->sym);
	}
	y = b->sym;
	for (i = 0; i < n; i++)
		y[i] = (struct sym){BPE_BYTE0 + s[i], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
	for (i = 0; i + 1 < n; i++)
		if ((r = pair_get(&b->rank, y[i].id, y[i + 1].id)) != UINT32_MAX)
			cand_push(b, &nh, r, i);
	while (nh > 0) {
		struct cand c = cand_pop(b, &nh);
		int32_t nx = y[c.pos].next;

		if (y[c.pos].id < 0 || nx < 0 || pair_get(&b->rank, y[c.pos].id, y[nx].id) != c.rank)
			continue;
		y[c.pos].id = BPE_MERGE0 + c.rank;
		y[c.pos].next = y[nx].next;
		y[nx].id = -1;
		if (y[nx].next >= 0)
			y[y[nx].next].prev = c.pos;
		if ((p = y[c.pos].prev) >= 0 &&
		    (r = pair_get(&b->rank, y[p].id, y[c.pos].id)) != UINT32_MAX)
			cand_push(b, &nh, r, p);
		if ((nx = y[c.pos].next) >= 0 &&
		    (r = pair_get(&b->rank, y[c.pos].id, y[nx].id)) != UINT32_MAX)
			cand_push(b, &nh, r, c.pos);
	}
	for (p = 0; p >= 0; p = y[p].next)
		ids_push(out, y[p].id);
}

void
bpe_encode(struct bpe *b, const char *s, size_t n, struct ids *out)
{
	size_t i, k, j, e;
	uint64_t h;
	int added;

	for (i = 0; i < n; i += k) {
		k = bpe_pretoken(s + i, n - i);
		if (k == 1) {
			ids_push(out, BPE_BYTE0 + (unsigned char)s[i]);
			continue;
		}
		h = strhash(s + i, k);
		if ((e = strtab_find_hash(&b->cache, s + i, k, h)) != STRTAB_NONE) {
			for (j = 0; j < b->clen[e]; j++)
				ids_push(out, b->cids.v[b->cstart[e] + j]);
			continue;
		}
		j = out->n;
		merge_word(b, (const unsigned char *)s + i, k, out);
		if (b->cache.n >= CACHE_MAX)
			continue;
		e = strtab_add(&b->cache, s + i, k, &added);
		if (e >= b->ccap) {
			b->ccap = b->ccap ? 2 * b->ccap : 1024;
			b->cstart = ereallocarray(b->cstart, b->ccap, sizeof *b->cstart);
			b->clen = ereallocarray(b->clen, b->ccap, sizeof *b->clen);
		}
		b->cstart[e] = b->cids.n;
		b->clen[e] = out->n - j;
		for (; j < out->n; j++)
			ids_push(&b->cids, out->v[j]);
	}
}

/* ---- learning ----------------------------------------------------------------- */

struct wordlist {
	uint32_t *v;
	uint32_t n, cap;
};

struct hent {
	uint64_t count;
	int32_t left, right;
	uint32_t pair;
};

/* The learner's state: words as symbol ids, and for every adjacent pair its
 * count and the words it may occur in (a superset: entries go stale as words
 * change, and are skipped then). */
struct learn {
	int32_t *sym;
	size_t *wstart;
	uint32_t *wlen;
	const uint64_t *wcount;
	uint32_t *wstamp;
	struct pairmap pairs;   /* (left, right) -> pair number */
	int32_t *pleft, *pright;
	int64_t *pcount;
	struct wordlist *pwords;
	uint32_t *pstamp;
	unsigned char *banned;
	size_t np, pcap;
	struct hent *heap;
	size_t nh, hcap;
	uint32_t *touched;      /* pairs whose count grew in this step */
	size_t ntouched, tcap;
	uint32_t step;
};

static inline int
hent_better(const struct hent *a, const struct hent *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	if (a->left != b->left)
		return a->left < b->left;
	return a->right < b->right;
}

static void
heap_push(struct learn *L, uint32_t p)
{
	struct hent e = {(uint64_t)L->pcount[p], L->pleft[p], L->pright[p], p};
	size_t i = L->nh++;

	if (L->nh > L->hcap) {
		L->hcap = 2 * L->nh;
		L->heap = ereallocarray(L->heap, L->hcap, sizeof *L->heap);
	}
	while (i > 0 && hent_better(&e, &L->heap[(i - 1) / 2])) {
		L->heap[i] = L->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	L->heap[i] = e;
}

static struct hent
heap_pop(struct learn *L)
{
	struct hent top = L->heap[0], last = L->heap[--L->nh];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < L->nh) {
		if (c + 1 < L->nh && hent_better(&L->heap[c + 1], &L->heap[c]))
			c++;
		if (!hent_better(&L->heap[c], &last))
			break;
		L->heap[i] = L->heap[c];
		i = c;
	}
	L->heap[i] = last;
	return top;
}

static void
wordlist_add(struct wordlist *l, uint32_t w)
{
	if (l->n > 0 && l->v[l->n - 1] == w)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4;
		l->v = ereallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n++] = w;
}

/* Adds delta occurrences of pair (a, b) in word w. */
static void
change(struct learn *L, int32_t a, int32_t b, int64_t delta, uint32_t w)
{
	int added;
	uint32_t p = pair_put(&L->pairs, a, b, L->np, &added);

	if (added) {
		if (L->np == UINT32_MAX - 1)
			eprintf("bpe: too many distinct pairs");
		if (L->np == L->pcap) {
			L->pcap = L->pcap ? 2 * L->pcap : 4096;
			L->pleft = ereallocarray(L->pleft, L->pcap, sizeof *L->pleft);
			L->pright = ereallocarray(L->pright, L->pcap, sizeof *L->pright);
			L->pcount = ereallocarray(L->pcount, L->pcap, sizeof *L->pcount);
			L->pwords = ereallocarray(L->pwords, L->pcap, sizeof *L->pwords);
			L->pstamp = ereallocarray(L->pstamp, L->pcap, sizeof *L->pstamp);
			L->banned = ereallocarray(L->banned, L->pcap, sizeof *L->banned);
		}
		L->pleft[p] = a;
		L->pright[p] = b;
		L->pcount[p] = 0;
		L->pwords[p] = (struct wordlist){0};
		L->pstamp[p] = 0;
		L->banned[p] = 0;
		L->np++;
	}
	L->pcount[p] += delta;
	if (delta > 0) {
		wordlist_add(&L->pwords[p], w);
		if (L->pstamp[p] != L->step) {
			L->pstamp[p] = L->step;
			if (L->ntouched == L->tcap) {
				L->tcap = L->tcap ? 2 * L->tcap : 1024;
				L->touched = ereallocarray(L->touched, L->tcap, sizeof *L->touched);
			}
			L->touched[L->ntouched++] = p;
		}
	}
}

/* Replaces every (a, b) in word w by id, left to right, and updates the counts
 * of the pairs around each replacement. */
static void
merge_in_word(struct learn *L, uint32_t w, int32_t a, int32_t b, int32_t id)
{
	int32_t *s = L->sym + L->wstart[w];
	int64_t c = (int64_t)L->wcount[w];
	size_t r = 0, o = 0, n = L->wlen[w];

	while (r < n) {
		if (r + 1 < n && s[r] == a && s[r + 1] == b) {
			if (o > 0) {
				change(L, s[o - 1], a, -c, w);
				change(L, s[o - 1], id, c, w);
			}
			change(L, a, b, -c, w);
			if (r + 2 < n) {
				change(L, b, s[r + 2], -c, w);
				change(L, id, s[r + 2], c, w);
			}
			s[o++] = id;
			r += 2;
		} else {
			s[o++] = s[r++];
		}
	}
	L->wlen[w] = o;
}

size_t
bpe_learn(const struct strtab *words, const uint64_t *counts, size_t k,
    uint64_t min_count, struct bpe_merge *out)
{
	struct learn L = {0};
	struct strtab tok = {0};        /* token bytes -> id - BPE_BYTE0 */
	struct buf cat = {0};
	size_t nw = words->n, total = 0, i, j, nm = 0;
	uint32_t w;

	if (min_count < 1)
		min_count = 1;
	for (i = 0; i < 256; i++) {
		unsigned char c = i;

		strtab_add(&tok, &c, 1, NULL);
	}
	for (w = 0; w < nw; w++)
		total += words->off[w + 1] - words->off[w];
	L.sym = ereallocarray(NULL, total + 1, sizeof *L.sym);
	L.wstart = ereallocarray(NULL, nw + 1, sizeof *L.wstart);
	L.wlen = ereallocarray(NULL, nw + 1, sizeof *L.wlen);
	L.wstamp = ecalloc(nw + 1, sizeof *L.wstamp);
	L.wcount = counts;
	total = 0;
	L.step = 1;     /* pstamp 0 is "never" */
	for (w = 0; w < nw; w++) {
		size_t n;
		const unsigned char *s = (const unsigned char *)strtab_str(words, w, &n);

		if (n > UINT32_MAX)
			eprintf("bpe: a pre-token of %zu bytes", n);
		L.wstart[w] = total;
		L.wlen[w] = n;
		for (j = 0; j < n; j++)
			L.sym[total + j] = BPE_BYTE0 + s[j];
		total += n;
		for (j = 0; j + 1 < n; j++)
			change(&L, L.sym[L.wstart[w] + j], L.sym[L.wstart[w] + j + 1],
			    (int64_t)counts[w], w);
	}
	for (i = 0; i < L.ntouched; i++)
		heap_push(&L, L.touched[i]);
	L.ntouched = 0;
	while (nm < k && L.nh > 0) {
		struct hent e = heap_pop(&L);
		uint32_t p = e.pair;
		size_t la, lb;
		const char *sa, *sb;
		int32_t id;

		if ((int64_t)e.count != L.pcount[p]) {
			if (L.pcount[p] > 0)
				heap_push(&L, p);
			continue;
		}
		if (e.count < min_count)
			break;
		if (L.banned[p])
			continue;
		sa = strtab_str(&tok, e.left - BPE_BYTE0, &la);
		sb = strtab_str(&tok, e.right - BPE_BYTE0, &lb);
		cat.len = 0;
		buf_append(&cat, sa, la);
		buf_append(&cat, sb, lb);
		if (strtab_find(&tok, cat.p, cat.len) != STRTAB_NONE) {
			L.banned[p] = 1;
			continue;
		}
		id = BPE_BYTE0 + strtab_add(&tok, cat.p, cat.len, NULL);
		out[nm++] = (struct bpe_merge){e.left, e.right, e.count};
		L.step++;
		/* change() may move L.pwords, never grow this list (its pairs hold id) */
		for (i = 0; i < L.pwords[p].n; i++) {
			w = L.pwords[p].v[i];
			if (L.wstamp[w] == L.step)
				continue;
			L.wstamp[w] = L.step;
			merge_in_word(&L, w, e.left, e.right, id);
		}
		free(L.pwords[p].v);
		L.pwords[p] = (struct wordlist){0};
		for (i = 0; i < L.ntouched; i++)
			if (L.pcount[L.touched[i]] > 0)
				heap_push(&L, L.touched[i]);
		L.ntouched = 0;
	}
	for (i = 0; i < L.np; i++)
		free(L.pwords[i].v);
	free(L.pwords);
	free(L.pleft);
	free(L.pright);
	free(L.pcount);
	free(L.pstamp);
	free(L.banned);
	free(L.heap);
	free(L.touched);
	pair_free(&L.pairs);
	free(L.sym);
	free(L.wstart);
	free(L.wlen);
	free(L.wstamp);
	strtab_free(&tok);
	buf_free(&cat);
	return nm;
}
