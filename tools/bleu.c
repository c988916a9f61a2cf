/* bleu: score caption hypotheses against references, as sacrebleu and the
 * coco-caption scorers do (see bleu(1)). */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bleu.h"
#include "lines.h"
#include "utf8.h"
#include "util.h"

/* The sacrebleu release whose scores and output format bleu reproduces. */
#define SACREBLEU_VERSION "2.6.0"

static const char *const usage_lines[] = {
	"bleu [-bcjlt] [--smooth method] [--smooth-value x] [--tokenize tok] [-w width]",
	"-r ref [-r ref ...] [hyp]",
	NULL,
};

struct keyed {
	struct span key, text;
	const char *file;
	size_t line;
	size_t seg;             /* references: the hypothesis they belong to */
};

static int
spancmp(const struct span *a, const struct span *b)
{
	int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int
cmp_key(const void *a, const void *b)
{
	const struct keyed *x = *(const struct keyed *const *)a, *y = *(const struct keyed *const *)b;
	int c = spancmp(&x->key, &y->key);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The index in sorted byk of the entry with this key, or SIZE_MAX. */
static size_t
find_key(struct keyed *const *byk, size_t n, const struct span *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (spancmp(&byk[mid]->key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && spancmp(&byk[lo]->key, key) == 0 ? lo : SIZE_MAX;
}

/* Splits "key<TAB>caption" lines; blank lines are skipped. */
static struct keyed *
read_tsv(const char *path, struct lines *l, size_t *n)
{
	struct keyed *v = ereallocarray(NULL, l->n, sizeof *v);
	size_t i;

	*n = 0;
	for (i = 0; i < l->n; i++) {
		const char *s = l->v[i].s, *tab;
		size_t len = l->v[i].len;

		if (utf8_rstrip(s, len) == 0)
			continue;
		if (!(tab = memchr(s, '\t', len)))
			eprintf("%s:%zu: expected key<TAB>caption", path, i + 1);
		v[*n].key = (struct span){s, tab - s};
		v[*n].text = (struct span){tab + 1, utf8_rstrip(tab + 1, len - (tab + 1 - s))};
		v[*n].file = path;
		v[*n].line = i + 1;
		(*n)++;
	}
	return v;
}

/* The keyed lines being grouped. main owns it, so that what it points to stays
 * reachable (for LeakSanitizer) when an error exits from inside load_tsv. */
struct tsv {
	struct keyed *h, *r, **byk;
	size_t nh, nr, *count;
};

/* Hypotheses in file order; each key once, with at least one reference, and every
 * reference's key among the hypotheses'. */
static void
load_tsv(struct corpus *c, struct tsv *t, const char *hyp, char **refs, size_t nref,
    struct lines *texts)
{
	size_t i, j;

	lines_read(&texts[0], hyp);
	t->h = read_tsv(strcmp(hyp, "-") ? hyp : "stdin", &texts[0], &t->nh);
	t->byk = ereallocarray(NULL, t->nh, sizeof *t->byk);
	for (i = 0; i < t->nh; i++)
		t->byk[i] = &t->h[i], t->h[i].seg = i;
	qsort(t->byk, t->nh, sizeof *t->byk, cmp_key);
	for (i = 1; i < t->nh; i++)
		if (spancmp(&t->byk[i]->key, &t->byk[i - 1]->key) == 0)
			eprintf("%s:%zu: duplicate key \"%.*s\" (first on line %zu)",
			    t->byk[i]->file, t->byk[i]->line, (int)t->byk[i]->key.len,
			    t->byk[i]->key.s, t->byk[i - 1]->line);
	for (j = 0; j < nref; j++) {
		size_t n;
		struct keyed *v;

		lines_read(&texts[1 + j], refs[j]);
		v = read_tsv(refs[j], &texts[1 + j], &n);
		t->r = ereallocarray(t->r, t->nr + n, sizeof *t->r);
		memcpy(t->r + t->nr, v, n * sizeof *v);
		t->nr += n;
		free(v);
	}
	t->count = ecalloc(t->nh + 1, sizeof *t->count);
	for (i = 0; i < t->nr; i++) {
		struct keyed *r = &t->r[i];
		size_t k = find_key(t->byk, t->nh, &r->key);

		if (k == SIZE_MAX)
			eprintf("%s:%zu: key \"%.*s\" has references but no hypothesis",
			    r->file, r->line, (int)r->key.len, r->key.s);
		r->seg = t->byk[k]->seg;
		t->count[r->seg]++;
	}
	for (i = 0; i < t->nh; i++)
		if (t->count[i] == 0)
			eprintf("%s:%zu: key \"%.*s\" has no references", t->h[i].file,
			    t->h[i].line, (int)t->h[i].key.len, t->h[i].key.s);
	c->n = t->nh;
	c->hyp = ereallocarray(NULL, t->nh, sizeof *c->hyp);
	c->ref_start = ecalloc(t->nh + 1, sizeof *c->ref_start);
	c->ref = ereallocarray(NULL, t->nr, sizeof *c->ref);
	for (i = 0; i < t->nh; i++) {
		c->hyp[i] = t->h[i].text;
		c->ref_start[i + 1] = c->ref_start[i] + t->count[i];
		t->count[i] = c->ref_start[i];
	}
	for (i = 0; i < t->nr; i++)     /* file order within each key */
		c->ref[t->count[t->r[i].seg]++] = t->r[i].text;
}

/* Line i of the hypothesis file against line i of every reference file. */
static void
load_aligned(struct corpus *c, const char *hyp, char **refs, size_t nref, struct lines *texts)
{
	size_t i, j;

	lines_read(&texts[0], hyp);
	for (j = 0; j < nref; j++) {
		lines_read(&texts[1 + j], refs[j]);
		if (texts[1 + j].n != texts[0].n)
			eprintf("%s has %zu lines but %s has %zu", refs[j], texts[1 + j].n,
			    strcmp(hyp, "-") ? hyp : "stdin", texts[0].n);
	}
	c->n = texts[0].n;
	c->hyp = texts[0].v;
	c->ref_start = ereallocarray(NULL, c->n + 1, sizeof *c->ref_start);
	c->ref = ereallocarray(NULL, c->n * nref + 1, sizeof *c->ref);
	for (i = 0; i < c->n; i++) {
		c->ref_start[i] = i * nref;
		for (j = 0; j < nref; j++)
			c->ref[i * nref + j] = texts[1 + j].v[i];
	}
	c->ref_start[c->n] = c->n * nref;
}

/* Python's repr() of a float, as json.dumps writes it. */
static void
print_pyfloat(double x)
{
	char digits[32], *e;
	int p, exp10, nd, i;

	if (x == 0) {
		printf("%s", signbit(x) ? "-0.0" : "0.0");
		return;
	}
	for (p = 1; p <= 17; p++) {     /* the shortest digits that read back as x */
		snprintf(digits, sizeof digits, "%.*e", p - 1, x);
		if (strtod(digits, NULL) == x)
			break;
	}
	if (x < 0) {
		putchar('-');
		memmove(digits, digits + 1, strlen(digits));
	}
	e = strchr(digits, 'e');
	exp10 = atoi(e + 1);
	*e = '\0';
	if (digits[1] == '.')
		memmove(digits + 1, digits + 2, strlen(digits + 1));
	nd = strlen(digits);
	if (exp10 < -4 || exp10 >= 16) {
		printf("%c%s%.*s", digits[0], nd > 1 ? "." : "", nd - 1, digits + 1);
		printf("e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
	} else if (exp10 < 0) {
		printf("0.");
		for (i = 0; i < -exp10 - 1; i++)
			putchar('0');
		printf("%s", digits);
	} else if (exp10 + 1 >= nd) {
		printf("%s", digits);
		for (i = 0; i < exp10 + 1 - nd; i++)
			putchar('0');
		printf(".0");
	} else {
		printf("%.*s.%s", exp10 + 1, digits, digits + exp10 + 1);
	}
}

static const char *const smooth_names[] = {"exp", "floor", "add-k", "none"};

static void
print_sacrebleu(const struct bleu_score *s, const struct bleu_stats *st, const char *nrefs,
    int lowercase, int tok, int sm, double smooth_value, int width, int json, int score_only)
{
	char sig[256], smooth[64], verbose[256], score[64];
	int n, off;

	if (sm == SMOOTH_FLOOR || sm == SMOOTH_ADDK)
		snprintf(smooth, sizeof smooth, "%s[%.2f]", smooth_names[sm],
		    smooth_value >= 0 ? smooth_value : sm == SMOOTH_FLOOR ? 0.1 : 1.0);
	else
		snprintf(smooth, sizeof smooth, "%s", smooth_names[sm]);
	snprintf(sig, sizeof sig, "nrefs:%s|case:%s|eff:no|tok:%s|smooth:%s|version:%s",
	    nrefs, lowercase ? "lc" : "mixed", tok == TOK_13A ? "13a" : "none", smooth,
	    SACREBLEU_VERSION);
	off = 0;
	for (n = 0; n < BLEU_N; n++)
		off += snprintf(verbose + off, sizeof verbose - off, "%s%.1f", n ? "/" : "",
		    s->precisions[n]);
	snprintf(verbose + off, sizeof verbose - off,
	    " (BP = %.3f ratio = %.3f hyp_len = %llu ref_len = %llu)", s->bp, s->ratio,
	    (unsigned long long)st->sys_len, (unsigned long long)st->ref_len);
	snprintf(score, sizeof score, "%.*f", width, s->score);
	if (json) {
		printf("{\n \"name\": \"BLEU\",\n \"score\": ");
		print_pyfloat(strtod(score, NULL));
		printf(",\n \"signature\": \"%s\",\n \"verbose_score\": \"%s\",\n", sig, verbose);
		printf(" \"nrefs\": \"%s\",\n \"case\": \"%s\",\n \"eff\": \"no\",\n", nrefs,
		    lowercase ? "lc" : "mixed");
		printf(" \"tok\": \"%s\",\n \"smooth\": \"%s\",\n \"version\": \"%s\"\n}\n",
		    tok == TOK_13A ? "13a" : "none", smooth, SACREBLEU_VERSION);
	} else if (score_only) {
		printf("%s\n", score);
	} else {
		printf("BLEU|%s = %s %s\n", sig, score, verbose);
	}
}

static void
print_coco(const double b[BLEU_N], double cider, size_t n, int width, int json, int score_only)
{
	int k;

	if (json) {
		printf("{\n");
		for (k = 0; k < BLEU_N; k++)
			printf(" \"Bleu_%d\": %.*f,\n", k + 1, width, b[k]);
		printf(" \"CIDEr-D\": %.*f,\n \"images\": %zu,\n \"tok\": \"coco\"\n}\n", width,
		    cider, n);
	} else if (score_only) {
		for (k = 0; k < BLEU_N; k++)
			printf("%.*f ", width, b[k]);
		printf("%.*f\n", width, cider);
	} else {
		for (k = 0; k < BLEU_N; k++)
			printf("Bleu_%d: %.*f\n", k + 1, width, b[k]);
		printf("CIDEr-D: %.*f\n", width, cider);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ref", required_argument, NULL, 'r'},
		{"tsv", no_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"coco", no_argument, NULL, 'c'},
		{"lowercase", no_argument, NULL, 'l'},
		{"score-only", no_argument, NULL, 'b'},
		{"width", required_argument, NULL, 'w'},
		{"tokenize", required_argument, NULL, 'T'},
		{"smooth", required_argument, NULL, 'S'},
		{"smooth-value", required_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const toks[] = {"13a", "none"};
	char **refs = ereallocarray(NULL, argc, sizeof *refs);
	int ch, tsv = 0, json = 0, coco = 0, lowercase = 0, score_only = 0, width = -1;
	int tok = TOK_13A, sm = SMOOTH_EXP, sacre_opts = 0;
	double smooth_value = -1, cider;
	size_t nref = 0, i;
	const char *hyp = "-";
	struct corpus c = {0};
	struct tsv tsvs = {0};
	struct lines *texts;
	struct bleu_stats st;
	char nrefs[32];

	setprogname(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":r:tjclbw:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': refs[nref++] = optarg; break;
		case 't': tsv = 1; break;
		case 'j': json = 1; break;
		case 'c': coco = 1; break;
		case 'l': lowercase = 1, sacre_opts = 1; break;
		case 'b': score_only = 1; break;
		case 'w': width = estrtonum(optarg, 0, 17, "--width"); break;
		case 'T': tok = estrchoice(optarg, toks, 2, "--tokenize"), sacre_opts = 1; break;
		case 'S': sm = estrchoice(optarg, smooth_names, 4, "--smooth"), sacre_opts = 1; break;
		case 'V': smooth_value = estrtod(optarg, 0, 1e9, "--smooth-value"), sacre_opts = 1; break;
		case 'h':
			free(refs);
			print_usage(stdout, usage_lines);
			fshut(stdout, "stdout");
			return 0;
		default: usage_option(argv, ch, usage_lines);
		}
	}
	if (optind < argc)
		hyp = argv[optind++];
	if (optind < argc)
		uprintf("one hypothesis file at most, got %s and %s", hyp, argv[optind]);
	if (nref == 0)
		uprintf("no references: give at least one -r ref");
	if (coco && sacre_opts)
		uprintf("--coco has its own tokenization: no --lowercase, --tokenize or --smooth");
	if (width < 0)
		width = coco ? 6 : 1;

	texts = ecalloc(nref + 1, sizeof *texts);
	if (tsv)
		load_tsv(&c, &tsvs, hyp, refs, nref, texts);
	else
		load_aligned(&c, hyp, refs, nref, texts);
	if (c.n == 0)
		eprintf("%s: no hypotheses", strcmp(hyp, "-") ? hyp : "stdin");

	/* sacrebleu's signature says "var" when segments have different numbers of references */
	snprintf(nrefs, sizeof nrefs, "%zu", c.ref_start[1]);
	for (i = 1; i < c.n; i++)
		if (c.ref_start[i + 1] - c.ref_start[i] != c.ref_start[1])
			snprintf(nrefs, sizeof nrefs, "var");

	if (coco) {
		double b[BLEU_N];

		bleu_corpus_stats(&c, TOK_COCO, 1, &st, &cider);
		coco_bleu(&st, b);
		print_coco(b, cider, c.n, width, json, score_only);
	} else {
		struct bleu_score s;

		bleu_corpus_stats(&c, tok, lowercase, &st, NULL);
		s = bleu_compute(&st, sm, smooth_value);
		print_sacrebleu(&s, &st, nrefs, lowercase, tok, sm, smooth_value, width, json,
		    score_only);
	}
	fshut(stdout, "stdout");
	for (i = 0; i <= nref; i++)
		lines_free(&texts[i]);
	free(texts);
	if (tsv)
		free(c.hyp);
	free(tsvs.h);
	free(tsvs.r);
	free(tsvs.byk);
	free(tsvs.count);
	free(c.ref_start);
	free(c.ref);
	free(refs);
	return 0;
}
