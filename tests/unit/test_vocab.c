/* test_vocab: vocabularies (common/vocab.c) through the API that captrain and
 * capdecode use: parsing a vocabulary held in memory, rows of a tokens tensor,
 * decoding, the word-level normalisation, learning in memory, bad files. */
#include "vocab.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char words[] =
    "#vitcap-vocab word 1\n"
    "<pad>\t0\n<bos>\t2\n<eos>\t2\n<unk>\t0\n"
    "a\t2\ndog\t1\ncat\t1\ndog's\t1\n";

static int
row_is(const int32_t *row, const int32_t *want, size_t n)
{
	return memcmp(row, want, n * sizeof *row) == 0;
}

static void
test_words(void)
{
	char err[256];
	struct vocab *v = vocab_parse(words, strlen(words), err, sizeof err);
	int32_t row[8];
	struct buf out = {0};
	size_t bad, len;
	const char *t;

	if (!CHECK(v != NULL))
		return;
	CHECK(vocab_kind(v) == VOCAB_WORD);
	CHECK(vocab_size(v) == 8);
	CHECK((t = vocab_token(v, 6, &len)) && len == 3 && memcmp(t, "cat", 3) == 0);
	CHECK((t = vocab_token(v, 3, &len)) && len == 5 && memcmp(t, "<unk>", 5) == 0);
	CHECK(vocab_token(v, 8, &len) == NULL && vocab_token(v, -1, &len) == NULL);

	/* maxlen 4: <bos>, three words, <eos>; then pads */
	CHECK(vocab_encode_row(v, "A cat, a DOG'S zebra!", 21, 4, row, &bad) == 0);
	CHECK(row_is(row, (int32_t[]){1, 4, 6, 4, 2}, 5));
	CHECK(vocab_encode_row(v, "A cat", 5, 7, row, &bad) == 0);
	CHECK(row_is(row, (int32_t[]){1, 4, 6, 2, 0, 0, 0, 0}, 8));
	CHECK(vocab_encode_row(v, "zebra", 5, 1, row, &bad) == 0);
	CHECK(row_is(row, (int32_t[]){1, 2}, 2));
	CHECK(vocab_encode_row(v, "", 0, 2, row, &bad) == 0);
	CHECK(row_is(row, (int32_t[]){1, 2, 0}, 3));
	CHECK(vocab_encode_row(v, "a \xC3\x28", 4, 4, row, &bad) == -1 && bad == 2);

	CHECK(vocab_decode(v, (int32_t[]){1, 4, 3, 0, 7, 2, 5}, 7, &out, &bad) == 0);
	CHECK(out.len == 13 && memcmp(out.p, "a <unk> dog's", 13) == 0);
	out.len = 0;
	CHECK(vocab_decode(v, (int32_t[]){4, 5, 8}, 3, &out, &bad) == -1 && bad == 2);
	CHECK(vocab_decode(v, (int32_t[]){-1}, 1, &out, &bad) == -1 && bad == 0);
	buf_free(&out);
	vocab_free(v);
}

static void
test_normalize(void)
{
	static const char *const cases[][2] = {
		{"The Dog's T-Shirt, isn't it?", "the dog's t-shirt isn't it"},
		{"dogs' -x- a--b a-'b 'q'", "dogs x a b a b q"},
		{"3.5 km/h", "3 5 km h"},
		{"\xCE\xA3\xCE\x91\xCE\xA3!", "\xCF\x83\xCE\xB1\xCF\x82"},    /* ΣΑΣ: final sigma */
		{"\xE2\x80\x9CHi\xE2\x80\x9D\xE2\x80\x94yes", "hi yes"},     /* “Hi”—yes */
		{"  tabs\tand\x1Cseps  ", "tabs and seps"},
		{"", ""},
		{"...", ""},
	};
	struct buf out = {0};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		out.len = 0;
		vocab_normalize(cases[i][0], strlen(cases[i][0]), &out);
		if (!CHECK(out.len == strlen(cases[i][1]) && memcmp(out.p, cases[i][1], out.len) == 0))
			fprintf(stderr, "  \"%s\" -> \"%.*s\"\n", cases[i][0], (int)out.len, out.p);
	}
	buf_free(&out);
}

/* Learns a BPE vocabulary in memory, parses its text, and round-trips captions. */
static void
test_bpe(void)
{
	static const char *const caps[] = {
		"a dog runs", "a dog sits", "two dogs run", "caf\xC3\xA9 \xE4\xB8\xAD", "",
	};
	struct vocab_counts c;
	struct buf text = {0}, out = {0};
	struct ids ids = {0};
	struct vocab *v;
	char err[256];
	size_t i, bad;

	vocab_counts_init(&c, VOCAB_BPE);
	for (i = 0; i < sizeof caps / sizeof *caps; i++)
		CHECK(vocab_count(&c, caps[i], strlen(caps[i]), &bad) == 0);
	CHECK(vocab_count(&c, "\xFF", 1, &bad) == -1 && bad == 0);
	vocab_build(&c, 2, 0, 1000, &text);
	vocab_counts_free(&c);
	v = vocab_parse(text.p, text.len, err, sizeof err);
	if (!CHECK(v != NULL)) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK(vocab_kind(v) == VOCAB_BPE);
	CHECK(vocab_size(v) > BPE_MERGE0);
	for (i = 0; i < sizeof caps / sizeof *caps; i++) {
		ids.n = out.len = 0;
		CHECK(vocab_encode(v, caps[i], strlen(caps[i]), &ids, &bad) == 0);
		CHECK(vocab_decode(v, ids.v, ids.n, &out, &bad) == 0);
		CHECK(out.len == strlen(caps[i]) && memcmp(out.p, caps[i], out.len) == 0);
	}
	/* " dog" was seen twice: one token */
	ids.n = 0;
	vocab_encode(v, " dog", 4, &ids, &bad);
	CHECK(ids.n == 1 && ids.v[0] >= BPE_MERGE0);
	/* bytes that are not UTF-8: E2 82 'x' FF, as Python's errors="replace" */
	out.len = 0;
	CHECK(vocab_decode(v, (int32_t[]){4 + 0xE2, 4 + 0x82, 4 + 'x', 4 + 0xFF}, 4, &out,
	    &bad) == 0);
	CHECK(out.len == 7 && memcmp(out.p, "\xEF\xBF\xBDx\xEF\xBF\xBD", 7) == 0);
	ids_free(&ids);
	buf_free(&out);
	buf_free(&text);
	vocab_free(v);
}

static void
test_bad(void)
{
	static const char *const cases[][2] = {
		{"", "1: not a vocabulary file"},
		{"#vitcap-vocab word 3\n", "1: unsupported vocabulary format"},
		{"#vitcap-vocab word 1\n<pad>\t0\n", "3: expected <bos>"},
		{"#vitcap-vocab word 1\n<pad>\t0\n<bos>\t0\n<eos>\t0\n<unk>\t0\na\t1\na\t2\n",
		    "7: token \"a\" repeats line 6"},
		{"#vitcap-vocab bpe 1\n<pad>\t0\n<bos>\t0\n<eos>\t0\n<unk>\t0\nx\t0\n",
		    "6: expected \xC4\x80, the token of byte 0x00"},
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		CHECK(vocab_parse(cases[i][0], strlen(cases[i][0]), err, sizeof err) == NULL);
		if (!CHECK(strncmp(err, cases[i][1], strlen(cases[i][1])) == 0))
			fprintf(stderr, "  got \"%s\"\n", err);
	}
}

int
main(void)
{
	setprogname("test_vocab");
	test_words();
	test_normalize();
	test_bpe();
	test_bad();
	if (failures)
		fprintf(stderr, "test_vocab: %d failures\n", failures);
	return failures ? 1 : 0;
}
