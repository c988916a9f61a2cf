/* test_bpe: GPT-2 byte-level BPE (common/bpe.c): the byte alphabet, the
 * pre-tokenisation regex on its awkward cases (the expected splits are what the
 * tokenizers library's ByteLevel pre-tokenizer gives), encoding by rank, and
 * learning on words whose merges can be worked out by hand. */
#include "bpe.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static void
test_alphabet(void)
{
	char c[4];
	size_t len;
	unsigned b;

	for (b = 0; b < 256; b++) {
		size_t n = bpe_byte_char(b, c);

		CHECK(bpe_char_byte(c, n, &len) == (int)b && len == n);
	}
	CHECK(bpe_byte_char(' ', c) == 2 && memcmp(c, "\xC4\xA0", 2) == 0);   /* U+0120 */
	CHECK(bpe_byte_char('\n', c) == 2 && memcmp(c, "\xC4\x8A", 2) == 0);  /* U+010A */
	CHECK(bpe_byte_char(0xAD, c) == 2 && memcmp(c, "\xC5\x83", 2) == 0);  /* U+0143 */
	CHECK(bpe_byte_char('a', c) == 1 && c[0] == 'a');
	CHECK(bpe_byte_char(0xE9, c) == 2 && memcmp(c, "\xC3\xA9", 2) == 0);  /* é */
	CHECK(bpe_char_byte("\xC5\x84", 2, &len) == -1);                      /* U+0144 */
	CHECK(bpe_char_byte("\xE4\xB8\xAD", 3, &len) == -1);
}

/* The pre-tokens of s joined by '|'. */
static const char *
split(const char *s)
{
	static char out[512];
	size_t n = strlen(s), i, k, o = 0;

	for (i = 0; i < n; i += k) {
		k = bpe_pretoken(s + i, n - i);
		if (i)
			out[o++] = '|';
		memcpy(out + o, s + i, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}

static void
test_pretoken(void)
{
	static const char *const cases[][2] = {
		{"a  dog's 12 x\t\ty \n z!!  ?'''s", "a| | dog|'s| 12| x|\t|\t|y| \n| z|!!| | ?'''|s"},
		{"I'M don't they're we've I'll he'd 'x", "I|'|M| don|'t| they|'re| we|'ve| I|'ll| he|'d| '|x"},
		{"x   ", "x|   "},
		{"   x", "  | x"},
		{" ", " "},
		{"'", "'"},
		{"'s's", "'s|'s"},
		{"abc123def", "abc|123|def"},
		{"a, b. (c)", "a|,| b|.| (|c|)"},
		{"caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87", "caf\xC3\xA9| \xE4\xB8\xAD\xE6\x96\x87"},
		{"e\xCC\x81", "e|\xCC\x81"},                            /* a combining mark is neither L nor N */
		{"x\xC2\xBD", "x|\xC2\xBD"},                            /* ½ is a number */
		{"a\xC2\xA0\xC2\xA0" "b", "a|\xC2\xA0|\xC2\xA0|b"},     /* no-break spaces are \s */
		{"a\x1C\x1C" "b", "a|\x1C\x1C|b"},                      /* U+001C is not */
		{"\n\n", "\n\n"},
		{"a\n\nb", "a|\n|\n|b"},
		{"a \t b", "a| \t| b"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++)
		if (!CHECK(strcmp(split(cases[i][0]), cases[i][1]) == 0))
			fprintf(stderr, "  \"%s\" split as \"%s\"\n", cases[i][0], split(cases[i][0]));
}

static int
ids_are(const struct ids *a, const int32_t *want, size_t n)
{
	return a->n == n && memcmp(a->v, want, n * sizeof *want) == 0;
}

#define ID(c) (BPE_BYTE0 + (unsigned char)(c))

static void
test_encode(void)
{
	const struct bpe_merge m[] = {
		{ID('a'), ID('a'), 0},          /* 260 aa */
		{ID('a'), ID('b'), 0},          /* 261 ab */
		{261, ID('c'), 0},              /* 262 abc */
		{ID(' '), 262, 0},              /* 263 " abc" */
		{ID('b'), ID('c'), 0},          /* 264 bc: after ab, so abc is ab c */
	};
	struct bpe *b = bpe_new(m, sizeof m / sizeof *m);
	struct ids out = {0};
	int r;

	for (r = 0; r < 2; r++) {       /* the second round comes from the cache */
		out.n = 0;
		bpe_encode(b, "aaaa", 4, &out);
		CHECK(ids_are(&out, (int32_t[]){260, 260}, 2));
		out.n = 0;
		bpe_encode(b, "aaa", 3, &out);
		CHECK(ids_are(&out, (int32_t[]){260, ID('a')}, 2));
		out.n = 0;
		bpe_encode(b, "abc abc bcd", 11, &out);
		CHECK(ids_are(&out, (int32_t[]){262, 263, ID(' '), 264, ID('d')}, 5));
		out.n = 0;
		bpe_encode(b, "aabc", 4, &out);        /* aa (rank 0) before ab (rank 1) */
		CHECK(ids_are(&out, (int32_t[]){260, 264}, 2));
	}
	ids_free(&out);
	bpe_free(b);
}

static void
test_learn(void)
{
	struct strtab w = {0};
	uint64_t counts[3];
	struct bpe_merge m[10];
	size_t n;

	/* "aaa" once: a-a counts 2, merged left to right into aa a; then aa-a once */
	strtab_add(&w, "aaa", 3, NULL);
	counts[0] = 1;
	n = bpe_learn(&w, counts, 10, 1, m);
	CHECK(n == 2);
	CHECK(m[0].left == ID('a') && m[0].right == ID('a') && m[0].count == 2);
	CHECK(m[1].left == 260 && m[1].right == ID('a') && m[1].count == 1);
	/* min_count stops learning, k limits it */
	CHECK(bpe_learn(&w, counts, 10, 2, m) == 1);
	CHECK(bpe_learn(&w, counts, 0, 1, m) == 0);
	strtab_free(&w);

	/* ties: "ab" x3 and "cd" x3: a-b has the smaller left id */
	strtab_add(&w, "cd", 2, NULL);
	strtab_add(&w, "ab", 2, NULL);
	strtab_add(&w, "x", 1, NULL);
	counts[0] = counts[1] = 3;
	counts[2] = 100;
	n = bpe_learn(&w, counts, 10, 1, m);
	CHECK(n == 2);
	CHECK(m[0].left == ID('a') && m[1].left == ID('c') && m[1].count == 3);
	strtab_free(&w);
}

int
main(void)
{
	setprogname("test_bpe");
	test_alphabet();
	test_pretoken();
	test_encode();
	test_learn();
	if (failures)
		fprintf(stderr, "test_bpe: %d failures\n", failures);
	return failures ? 1 : 0;
}
