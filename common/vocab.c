/* vocab.c: vocabulary files, word-level normalisation, encoding and decoding. */
#include "vocab.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "uniclass.h"
#include "utf8.h"

#define MAGIC "#vitcap-vocab"

static const char *const special[VOCAB_NSPECIAL] = {"<pad>", "<bos>", "<eos>", "<unk>"};

struct vocab {
	int kind;
	struct strtab tok;      /* token text as in the file; string i is id i */
	struct buf raw;         /* BPE: the bytes of each token, */
	size_t *rawoff;         /* id i is raw.p[rawoff[i] .. rawoff[i + 1]) */
	size_t rawcap;
	struct bpe *bpe;
	struct buf lower;       /* scratch */
	struct ids ids;         /* scratch */
};

/* ---- word-level normalisation ---------------------------------------------------- */

enum { CH_WORD, CH_SPACE, CH_PUNCT };

/* Python's str.isspace() and string.punctuation for ASCII. */
static const unsigned char ascii_ch[128] = {
	['\t'] = CH_SPACE, ['\n'] = CH_SPACE, ['\v'] = CH_SPACE, ['\f'] = CH_SPACE,
	['\r'] = CH_SPACE, [0x1C] = CH_SPACE, [0x1D] = CH_SPACE, [0x1E] = CH_SPACE,
	[0x1F] = CH_SPACE, [' '] = CH_SPACE,
	['!'] = CH_PUNCT, ['"'] = CH_PUNCT, ['#'] = CH_PUNCT, ['$'] = CH_PUNCT,
	['%'] = CH_PUNCT, ['&'] = CH_PUNCT, ['\''] = CH_PUNCT, ['('] = CH_PUNCT,
	[')'] = CH_PUNCT, ['*'] = CH_PUNCT, ['+'] = CH_PUNCT, [','] = CH_PUNCT,
	['-'] = CH_PUNCT, ['.'] = CH_PUNCT, ['/'] = CH_PUNCT, [':'] = CH_PUNCT,
	[';'] = CH_PUNCT, ['<'] = CH_PUNCT, ['='] = CH_PUNCT, ['>'] = CH_PUNCT,
	['?'] = CH_PUNCT, ['@'] = CH_PUNCT, ['['] = CH_PUNCT, ['\\'] = CH_PUNCT,
	[']'] = CH_PUNCT, ['^'] = CH_PUNCT, ['_'] = CH_PUNCT, ['`'] = CH_PUNCT,
	['{'] = CH_PUNCT, ['|'] = CH_PUNCT, ['}'] = CH_PUNCT, ['~'] = CH_PUNCT,
};

static inline int
chclass(const char *s, size_t n, size_t *len)
{
	unsigned char c = s[0];
	uint32_t cp;

	if (c < 0x80) {
		*len = 1;
		return ascii_ch[c];
	}
	if ((*len = utf8_decode(s, n, &cp)) == 0) {
		*len = 1;       /* callers pass valid UTF-8; never loop forever */
		return CH_WORD;
	}
	if (uni_isspace(cp))
		return CH_SPACE;
	return uni_class(cp) == UC_PUNCT ? CH_PUNCT : CH_WORD;
}

/* Finds the next word of lowercased text t at or after *pos: [*a, *b). A word
 * cannot start with a kept apostrophe or hyphen (nothing before it is a word
 * character), and inside a word the character before one always is. */
static int
next_word(const char *t, size_t m, size_t *pos, size_t *a, size_t *b)
{
	size_t i = *pos, k, k2;
	int c;

	while (i < m && chclass(t + i, m - i, &k) != CH_WORD)
		i += k;
	if (i == m) {
		*pos = i;
		return 0;
	}
	*a = i;
	while (i < m) {
		if ((c = chclass(t + i, m - i, &k)) == CH_WORD)
			i += k;
		else if ((t[i] == '\'' || t[i] == '-') && i + 1 < m &&
		    chclass(t + i + 1, m - i - 1, &k2) == CH_WORD)
			i += 1;
		else
			break;
	}
	*b = *pos = i;
	return 1;
}

void
vocab_normalize(const char *s, size_t n, struct buf *out)
{
	struct buf t = {0};
	size_t pos = 0, a, b, start = out->len;

	utf8_lower(&t, s, n);
	while (next_word(t.p, t.len, &pos, &a, &b)) {
		if (out->len > start)
			buf_append(out, " ", 1);
		buf_append(out, t.p + a, b - a);
	}
	buf_free(&t);
}

/* ---- the vocabulary file ------------------------------------------------------- */

static int
fail(char *err, size_t errsz, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t errsz, size_t line, const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(err, errsz, "%zu: ", line);

	va_start(ap, fmt);
	if (k >= 0 && (size_t)k < errsz)
		vsnprintf(err + k, errsz - k, fmt, ap);
	va_end(ap);
	return -1;
}

/* Token text for messages: at most 40 bytes, cut on a character boundary. */
static int
shown(const char *s, size_t n)
{
	size_t k = n < 40 ? n : 40;

	while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	return (int)k;
}

static void
add_raw(struct vocab *v, const void *s, size_t n)
{
	size_t id = v->tok.n - 1;

	buf_append(&v->raw, s, n);
	if (id + 2 > v->rawcap) {
		v->rawcap = 2 * (id + 2);
		v->rawoff = ereallocarray(v->rawoff, v->rawcap, sizeof *v->rawoff);
	}
	v->rawoff[id + 1] = v->raw.len;
}

/* A BPE merge line's token "left right": the ids of both halves. */
static int
parse_merge(struct vocab *v, const char *s, size_t n, size_t line, int32_t *lr,
    char *err, size_t errsz)
{
	const char *sp = memchr(s, ' ', n);
	size_t i, a, b;

	if (!sp || memchr(sp + 1, ' ', n - (sp + 1 - s)))
		return fail(err, errsz, line, "expected a merge \"left right\", got \"%.*s\"",
		    shown(s, n), s);
	a = strtab_find(&v->tok, s, sp - s);
	b = strtab_find(&v->tok, sp + 1, n - (sp + 1 - s));
	for (i = 0; i < 2; i++) {
		size_t id = i ? b : a;
		const char *t = i ? sp + 1 : s;
		size_t len = i ? n - (sp + 1 - s) : (size_t)(sp - s);

		if (id == STRTAB_NONE || id < VOCAB_NSPECIAL)
			return fail(err, errsz, line, "merge of \"%.*s\", which is not an earlier token",
			    shown(t, len), t);
	}
	lr[0] = a;
	lr[1] = b;
	return 0;
}

/* Parses one "token<TAB>count" line into the vocabulary. */
static int
parse_line(struct vocab *v, const char *s, size_t n, size_t line, struct bpe_merge **merges,
    size_t *nmerge, char *err, size_t errsz)
{
	const char *tab = memchr(s, '\t', n), *c;
	size_t id = v->tok.n, len, i, k;
	uint64_t count = 0;
	int32_t lr[2] = {0, 0};
	uint32_t cp;
	char ch[4];
	int added;

	if (!tab)
		return fail(err, errsz, line, "expected token<TAB>count");
	len = tab - s;
	if (len == 0)
		return fail(err, errsz, line, "empty token");
	if (tab + 1 == s + n)
		return fail(err, errsz, line, "no count after the tab");
	for (c = tab + 1; c < s + n; c++) {
		if (*c < '0' || *c > '9' || count > (UINT64_MAX - 9) / 10)
			return fail(err, errsz, line, "count is not a number: \"%.*s\"",
			    shown(tab + 1, s + n - tab - 1), tab + 1);
		count = count * 10 + (*c - '0');
	}
	if (id >= INT32_MAX)
		return fail(err, errsz, line, "more than %d tokens", INT32_MAX);
	if (id < VOCAB_NSPECIAL) {
		if (len != strlen(special[id]) || memcmp(s, special[id], len) != 0)
			return fail(err, errsz, line, "expected %s, the special token with id %zu",
			    special[id], id);
	} else if (v->kind == VOCAB_WORD) {
		for (i = 0; i < len; i += k) {
			if (utf8_space(s + i, len - i) > 0)
				return fail(err, errsz, line, "token \"%.*s\" contains white space",
				    shown(s, len), s);
			k = utf8_decode(s + i, len - i, &cp);
		}
	} else if (id < BPE_MERGE0) {
		k = bpe_byte_char(id - BPE_BYTE0, ch);
		if (len != k || memcmp(s, ch, k) != 0)
			return fail(err, errsz, line, "expected %.*s, the token of byte 0x%02zX",
			    (int)k, ch, id - BPE_BYTE0);
	} else {
		if (parse_merge(v, s, len, line, lr, err, errsz) < 0)
			return -1;
		*merges = ereallocarray(*merges, *nmerge + 1, sizeof **merges);
		(*merges)[(*nmerge)++] = (struct bpe_merge){lr[0], lr[1], count};
	}
	if (v->kind == VOCAB_BPE && id >= BPE_MERGE0) {
		/* the token is the halves joined: its text drops the space */
		const char *sp = memchr(s, ' ', len);
		struct buf t = {0};

		buf_append(&t, s, sp - s);
		buf_append(&t, sp + 1, len - (sp + 1 - s));
		k = strtab_add(&v->tok, t.p, t.len, &added);
		buf_free(&t);
	} else {
		k = strtab_add(&v->tok, s, len, &added);
	}
	if (!added) {
		const char *t = strtab_str(&v->tok, k, &len);

		return fail(err, errsz, line, "token \"%.*s\" repeats line %zu", shown(t, len),
		    t, k + 2);
	}
	if (v->kind == VOCAB_BPE) {
		if (id < VOCAB_NSPECIAL) {
			add_raw(v, s, len);
		} else if (id < BPE_MERGE0) {
			unsigned char b = id - BPE_BYTE0;

			add_raw(v, &b, 1);
		} else {
			struct buf t = {0};

			buf_append(&t, v->raw.p + v->rawoff[lr[0]], v->rawoff[lr[0] + 1] - v->rawoff[lr[0]]);
			buf_append(&t, v->raw.p + v->rawoff[lr[1]], v->rawoff[lr[1] + 1] - v->rawoff[lr[1]]);
			add_raw(v, t.p, t.len);
			buf_free(&t);
		}
	}
	return 0;
}

struct vocab *
vocab_parse(const char *text, size_t len, char *err, size_t errsz)
{
	struct vocab *v = ecalloc(1, sizeof *v);
	struct bpe_merge *merges = NULL;
	size_t nmerge = 0, line = 1, start, stop, bad;
	const char *nl;

	nl = memchr(text, '\n', len);
	stop = nl ? (size_t)(nl - text) : len;
	if (stop == strlen(MAGIC " word 1") && memcmp(text, MAGIC " word 1", stop) == 0) {
		v->kind = VOCAB_WORD;
	} else if (stop == strlen(MAGIC " bpe 1") && memcmp(text, MAGIC " bpe 1", stop) == 0) {
		v->kind = VOCAB_BPE;
	} else if (stop > sizeof MAGIC && memcmp(text, MAGIC " ", sizeof MAGIC) == 0) {
		fail(err, errsz, 1, "unsupported vocabulary format \"%.*s\" (this program reads "
		    "\"" MAGIC " word 1\" and \"" MAGIC " bpe 1\")", shown(text, stop), text);
		goto bad;
	} else {
		fail(err, errsz, 1, "not a vocabulary file (the first line is not \"" MAGIC
		    " word 1\" or \"" MAGIC " bpe 1\")");
		goto bad;
	}
	if ((bad = utf8_check(text, len)) != len) {
		for (start = 0; start < bad; start++)
			line += text[start] == '\n';
		fail(err, errsz, line, "invalid UTF-8 (byte 0x%02X)", (unsigned char)text[bad]);
		goto bad;
	}
	v->rawoff = ecalloc(1, sizeof *v->rawoff);
	v->rawcap = 1;
	for (start = stop + 1; start < len; start = stop + 1) {
		line++;
		nl = memchr(text + start, '\n', len - start);
		stop = nl ? (size_t)(nl - text) : len;
		if (parse_line(v, text + start, stop - start, line, &merges, &nmerge, err,
		    errsz) < 0)
			goto bad;
	}
	if (v->tok.n < VOCAB_NSPECIAL) {
		fail(err, errsz, line + 1, "expected %s, the special token with id %zu",
		    special[v->tok.n], v->tok.n);
		goto bad;
	}
	if (v->kind == VOCAB_BPE) {
		if (v->tok.n < BPE_MERGE0) {
			char ch[4];
			size_t k = bpe_byte_char(v->tok.n - BPE_BYTE0, ch);

			fail(err, errsz, line + 1, "expected %.*s, the token of byte 0x%02zX",
			    (int)k, ch, v->tok.n - BPE_BYTE0);
			goto bad;
		}
		v->bpe = bpe_new(merges, nmerge);
	}
	free(merges);
	return v;
bad:
	free(merges);
	vocab_free(v);
	return NULL;
}

struct vocab *
vocab_load(const char *path)
{
	char err[512], *text;
	size_t len;
	struct vocab *v;

	text = readfile(path, &len);
	if (!(v = vocab_parse(text, len, err, sizeof err)))
		eprintf("%s:%s", strcmp(path, "-") ? path : "stdin", err);
	free(text);
	return v;
}

void
vocab_free(struct vocab *v)
{
	if (!v)
		return;
	strtab_free(&v->tok);
	buf_free(&v->raw);
	free(v->rawoff);
	bpe_free(v->bpe);
	buf_free(&v->lower);
	ids_free(&v->ids);
	free(v);
}

int
vocab_kind(const struct vocab *v)
{
	return v->kind;
}

size_t
vocab_size(const struct vocab *v)
{
	return v->tok.n;
}

const char *
vocab_token(const struct vocab *v, int32_t id, size_t *len)
{
	if (id < 0 || (size_t)id >= v->tok.n)
		return NULL;
	return strtab_str(&v->tok, id, len);
}

/* ---- encoding and decoding ------------------------------------------------------ */

int
vocab_encode(struct vocab *v, const char *s, size_t n, struct ids *out, size_t *bad)
{
	size_t pos = 0, a, b, id;

	if ((*bad = utf8_check(s, n)) != n)
		return -1;
	if (v->kind == VOCAB_BPE) {
		bpe_encode(v->bpe, s, n, out);
		return 0;
	}
	v->lower.len = 0;
	utf8_lower(&v->lower, s, n);
	while (next_word(v->lower.p, v->lower.len, &pos, &a, &b)) {
		id = strtab_find(&v->tok, v->lower.p + a, b - a);
		ids_push(out, id == STRTAB_NONE ? VOCAB_UNK : (int32_t)id);
	}
	return 0;
}

int
vocab_encode_row(struct vocab *v, const char *s, size_t n, size_t maxlen, int32_t *row,
    size_t *bad)
{
	size_t m;

	v->ids.n = 0;
	if (vocab_encode(v, s, n, &v->ids, bad) < 0)
		return -1;
	m = maxlen > 0 && v->ids.n > maxlen - 1 ? maxlen - 1 : v->ids.n;
	row[0] = VOCAB_BOS;
	if (m > 0)
		memcpy(row + 1, v->ids.v, m * sizeof *row);
	if (m + 1 <= maxlen)
		row[m + 1] = VOCAB_EOS;
	if (m + 2 <= maxlen)
		memset(row + m + 2, 0, (maxlen - m - 1) * sizeof *row);
	return 0;
}

/* Appends s to out with each maximal ill-formed subsequence replaced by U+FFFD,
 * the practice Unicode recommends and Python follows. */
static void
append_replacing(struct buf *out, const char *s, size_t n)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	size_t i = 0, k, j, need;
	unsigned char c, lo, hi;
	uint32_t cp;

	while (i < n) {
		if ((k = utf8_decode(s + i, n - i, &cp)) > 0) {
			buf_append(out, s + i, k);
			i += k;
			continue;
		}
		c = s[i];
		need = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 :
		    c >= 0xF0 && c <= 0xF4 ? 3 : 0;
		lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
		/* the lead byte and the continuation bytes that could still have
		 * completed it are one subsequence */
		for (j = 1; j <= need && i + j < n; j++) {
			unsigned char d = s[i + j];

			if (d < (j == 1 ? lo : 0x80) || d > (j == 1 ? hi : 0xBF))
				break;
		}
		buf_append(out, fffd, 3);
		i += j;
	}
}

int
vocab_decode(const struct vocab *v, const int32_t *ids, size_t n, struct buf *out,
    size_t *bad)
{
	struct buf bytes = {0};
	size_t i, len, words = 0;
	const char *t;

	for (i = 0; i < n; i++)
		if (ids[i] < 0 || (size_t)ids[i] >= v->tok.n) {
			*bad = i;
			return -1;
		}
	for (i = 0; i < n && ids[i] != VOCAB_EOS; i++) {
		if (ids[i] == VOCAB_PAD || ids[i] == VOCAB_BOS)
			continue;
		if (v->kind == VOCAB_WORD) {
			t = strtab_str(&v->tok, ids[i], &len);
			if (words++)
				buf_append(out, " ", 1);
			buf_append(out, t, len);
		} else {
			buf_append(&bytes, v->raw.p + v->rawoff[ids[i]],
			    v->rawoff[ids[i] + 1] - v->rawoff[ids[i]]);
		}
	}
	if (v->kind == VOCAB_BPE && bytes.len)
		append_replacing(out, bytes.p, bytes.len);
	buf_free(&bytes);
	return 0;
}

/* ---- learning ----------------------------------------------------------------- */

void
vocab_counts_init(struct vocab_counts *c, int kind)
{
	memset(c, 0, sizeof *c);
	c->kind = kind;
}

void
vocab_counts_free(struct vocab_counts *c)
{
	strtab_free(&c->tab);
	free(c->count);
	buf_free(&c->lower);
	memset(c, 0, sizeof *c);
}

static void
count_one(struct vocab_counts *c, const char *s, size_t n)
{
	int added;
	size_t i = strtab_add(&c->tab, s, n, &added);

	if (added) {
		if (i >= c->cap) {
			c->cap = c->cap ? 2 * c->cap : 4096;
			c->count = ereallocarray(c->count, c->cap, sizeof *c->count);
		}
		c->count[i] = 0;
	}
	c->count[i]++;
}

int
vocab_count(struct vocab_counts *c, const char *s, size_t n, size_t *bad)
{
	size_t pos = 0, a, b, k;

	if ((*bad = utf8_check(s, n)) != n)
		return -1;
	c->ncaptions++;
	if (c->kind == VOCAB_BPE) {
		for (a = 0; a < n; a += k) {
			k = bpe_pretoken(s + a, n - a);
			count_one(c, s + a, k);
		}
		return 0;
	}
	c->lower.len = 0;
	utf8_lower(&c->lower, s, n);
	while (next_word(c->lower.p, c->lower.len, &pos, &a, &b))
		count_one(c, c->lower.p + a, b - a);
	return 0;
}

static void
put_line(struct buf *out, const char *a, size_t na, const char *b, size_t nb, uint64_t count)
{
	char num[32];
	int k = snprintf(num, sizeof num, "\t%" PRIu64 "\n", count);

	buf_append(out, a, na);
	if (b) {
		buf_append(out, " ", 1);
		buf_append(out, b, nb);
	}
	buf_append(out, num, k);
}

struct entry {
	uint64_t count;
	const char *s;
	size_t n;
};

/* Most frequent first, ties in byte order: the same counts give the same file. */
static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static void
build_words(const struct vocab_counts *c, uint64_t min_count, size_t max_size,
    struct buf *out)
{
	struct entry *e = ereallocarray(NULL, c->tab.n + 1, sizeof *e);
	size_t i, keep = 0;
	uint64_t unk = 0;

	for (i = 0; i < c->tab.n; i++) {
		e[i].s = strtab_str(&c->tab, i, &e[i].n);
		e[i].count = c->count[i];
	}
	qsort(e, c->tab.n, sizeof *e, cmp_entry);
	while (keep < c->tab.n && e[keep].count >= min_count)
		keep++;
	if (max_size > 0 && keep > max_size - VOCAB_NSPECIAL)
		keep = max_size > VOCAB_NSPECIAL ? max_size - VOCAB_NSPECIAL : 0;
	for (i = keep; i < c->tab.n; i++)
		unk += e[i].count;
	put_line(out, "<pad>", 5, NULL, 0, 0);
	put_line(out, "<bos>", 5, NULL, 0, c->ncaptions);
	put_line(out, "<eos>", 5, NULL, 0, c->ncaptions);
	put_line(out, "<unk>", 5, NULL, 0, unk);
	for (i = 0; i < keep; i++)
		put_line(out, e[i].s, e[i].n, NULL, 0, e[i].count);
	free(e);
}

static void
build_bpe(const struct vocab_counts *c, uint64_t min_count, size_t merges, struct buf *out)
{
	struct bpe_merge *m = ereallocarray(NULL, merges + 1, sizeof *m);
	uint64_t bytes[256] = {0};
	struct buf text = {0};          /* token texts as the file shows them */
	size_t *off, nm, i, j, n;
	const unsigned char *s;
	char ch[4];

	nm = bpe_learn(&c->tab, c->count, merges, min_count, m);
	for (i = 0; i < c->tab.n; i++) {
		s = (const unsigned char *)strtab_str(&c->tab, i, &n);
		for (j = 0; j < n; j++)
			bytes[s[j]] += c->count[i];
	}
	put_line(out, "<pad>", 5, NULL, 0, 0);
	put_line(out, "<bos>", 5, NULL, 0, c->ncaptions);
	put_line(out, "<eos>", 5, NULL, 0, c->ncaptions);
	put_line(out, "<unk>", 5, NULL, 0, 0);
	off = ereallocarray(NULL, BPE_MERGE0 + nm + 1, sizeof *off);
	memset(off, 0, (BPE_BYTE0 + 1) * sizeof *off);
	for (i = 0; i < 256; i++) {
		buf_append(&text, ch, bpe_byte_char(i, ch));
		off[BPE_BYTE0 + i + 1] = text.len;
		put_line(out, text.p + off[BPE_BYTE0 + i], text.len - off[BPE_BYTE0 + i], NULL,
		    0, bytes[i]);
	}
	for (i = 0; i < nm; i++) {
		int32_t a = m[i].left, b = m[i].right;

		/* reserve first: appending moves text.p, which the source points into */
		buf_reserve(&text, off[a + 1] - off[a] + off[b + 1] - off[b]);
		buf_append(&text, text.p + off[a], off[a + 1] - off[a]);
		buf_append(&text, text.p + off[b], off[b + 1] - off[b]);
		off[BPE_MERGE0 + i + 1] = text.len;
		put_line(out, text.p + off[a], off[a + 1] - off[a], text.p + off[b],
		    off[b + 1] - off[b], m[i].count);
	}
	free(off);
	free(m);
	buf_free(&text);
}

void
vocab_build(const struct vocab_counts *c, uint64_t min_count, size_t max_size,
    size_t merges, struct buf *out)
{
	if (c->kind == VOCAB_BPE) {
		buf_append(out, MAGIC " bpe 1\n", strlen(MAGIC " bpe 1\n"));
		build_bpe(c, min_count, merges, out);
	} else {
		buf_append(out, MAGIC " word 1\n", strlen(MAGIC " word 1\n"));
		build_words(c, min_count, max_size, out);
	}
}
