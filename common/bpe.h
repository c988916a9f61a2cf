/* bpe.h: GPT-2's byte-level byte-pair encoding: the byte-to-character map that
 * makes every byte a printable token, the pre-tokenisation regex, encoding by
 * merge rank, and learning merges greedily by pair frequency (see tokenize(1)).
 *
 * Token ids follow the vocabulary file: ids 0..3 are the special tokens, byte b is
 * id BPE_BYTE0 + b, and merge r (from 0) makes id BPE_MERGE0 + r. */
#ifndef VITCAP_BPE_H
#define VITCAP_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "strtab.h"

#define BPE_BYTE0 4
#define BPE_MERGE0 (BPE_BYTE0 + 256)

/* A growable array of token ids. */
struct ids {
	int32_t *v;
	size_t n, cap;
};

void ids_push(struct ids *a, int32_t id);
void ids_free(struct ids *a);

/* GPT-2's bytes_to_unicode(): writes the UTF-8 of the character that stands for
 * byte b in token strings (1 or 2 bytes) to out and returns its length. */
size_t bpe_byte_char(unsigned b, char *out);

/* The inverse: the byte whose character starts s (n > 0 bytes), with the
 * character's length in *len; -1 when s starts with no such character. */
int bpe_char_byte(const char *s, size_t n, size_t *len);

/* The length of the pre-token at the start of s (n > 0 bytes of valid UTF-8), as
 * GPT-2's regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * matches it; \s is Unicode White_Space, as in the regex library of tokenizers. */
size_t bpe_pretoken(const char *s, size_t n);

/* A merge: tokens left and right (ids) become one; count is the pair's frequency
 * when it was learned. */
struct bpe_merge {
	int32_t left, right;
	uint64_t count;
};

/* An encoder for a list of merges, which must make distinct tokens. */
struct bpe;

struct bpe *bpe_new(const struct bpe_merge *merges, size_t n);
void bpe_free(struct bpe *b);

/* Appends the ids of text s (n bytes of valid UTF-8) to out: each pre-token's bytes
 * are merged by rank, lowest first (leftmost first among equals), as GPT-2 and
 * tokenizers do. Distinct pre-tokens are cached, so b changes. */
void bpe_encode(struct bpe *b, const char *s, size_t n, struct ids *out);

/* Learns up to k merges from words (pre-tokens as bytes) seen counts[i] times:
 * each step merges the most frequent adjacent pair, counting a word's pairs once
 * per occurrence; ties go to the pair with the smaller left id, then the smaller
 * right id. A pair whose token would repeat an existing token is never merged
 * (no corpus tried has had one; the rule keeps every token's text unique, which
 * the vocabulary file relies on). Stops early when no pair is seen min_count times or more. Returns the number of
 * merges written to out (room for k). */
size_t bpe_learn(const struct strtab *words, const uint64_t *counts, size_t k,
    uint64_t min_count, struct bpe_merge *out);

#endif
