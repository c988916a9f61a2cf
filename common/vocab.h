/* vocab.h: token vocabularies, word-level or byte-level BPE: the vocabulary file,
 * captions to ids and back, and learning a vocabulary from captions.
 *
 * The file (tokenize(1) has the details) is UTF-8 text: a first line
 * "#vitcap-vocab word 1" or "#vitcap-vocab bpe 1", then one line per token in id
 * order, "token<TAB>count". Ids 0..3 are <pad>, <bos>, <eos>, <unk> in both kinds.
 * A BPE file goes on with the 256 bytes as GPT-2 prints them (byte b is id 4 + b),
 * then one line per merge, in the order learned, "left right<TAB>count": the
 * merge's token is left and right joined.
 *
 * A program that embeds the vocabulary (captrain stores the file's text in its
 * checkpoint's __metadata__.vocab) parses it from memory with vocab_parse(). */
#ifndef VITCAP_VOCAB_H
#define VITCAP_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "strtab.h"
#include "util.h"

enum { VOCAB_PAD, VOCAB_BOS, VOCAB_EOS, VOCAB_UNK, VOCAB_NSPECIAL };
enum { VOCAB_WORD, VOCAB_BPE };

struct vocab;

/* Parses the text of a vocabulary file. Returns NULL on bad input, with
 * "LINE: what is wrong" in err. */
struct vocab *vocab_parse(const char *text, size_t len, char *err, size_t errsz);

/* Reads and parses path ("-" is stdin); exits with "prog: path:LINE: what". */
struct vocab *vocab_load(const char *path);

void vocab_free(struct vocab *v);

int vocab_kind(const struct vocab *v);          /* VOCAB_WORD or VOCAB_BPE */
size_t vocab_size(const struct vocab *v);       /* ids are 0 .. size - 1 */

/* Token id as the file writes it ("<pad>", "dog", "Ġdog"); NULL when out of range. */
const char *vocab_token(const struct vocab *v, int32_t id, size_t *len);

/* Appends the ids of caption s (n bytes; no <bos> or <eos>) to out. Returns 0, or
 * -1 when s is not UTF-8, with the offset of the first bad byte in *bad. The
 * vocabulary keeps a cache and scratch space: one thread per vocab. */
int vocab_encode(struct vocab *v, const char *s, size_t n, struct ids *out, size_t *bad);

/* One row of a tokens tensor: <bos>, the first maxlen - 1 ids of s, <eos>, then
 * <pad> up to maxlen + 1 entries, so that a decoder with maxlen positions reads
 * row[0 .. maxlen - 1] and predicts row[1 .. maxlen]. Returns as vocab_encode. */
int vocab_encode_row(struct vocab *v, const char *s, size_t n, size_t maxlen,
    int32_t *row, size_t *bad);

/* Appends the text of ids to out: <pad> and <bos> are skipped, the first <eos>
 * ends the text, <unk> is written "<unk>"; word-level tokens are joined by single
 * spaces. Bytes of BPE tokens that do not form UTF-8 become U+FFFD, as Python's
 * bytes.decode(errors="replace") does. Returns 0, or -1 when ids[*bad] is out of
 * range. */
int vocab_decode(const struct vocab *v, const int32_t *ids, size_t n, struct buf *out,
    size_t *bad);

/* The word-level normalisation of s (valid UTF-8): lowercase as Python's
 * str.lower(); punctuation becomes a space, except an apostrophe or hyphen between
 * two word characters; words (runs of neither white space, as str.split(), nor
 * punctuation) joined by single spaces. Punctuation is ASCII's
 * !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ and Unicode's categories Pc Pd Ps Pe Pi Pf Po. */
void vocab_normalize(const char *s, size_t n, struct buf *out);

/* Learning: counts of words (word-level) or pre-tokens (BPE) over captions. */
struct vocab_counts {
	int kind;
	struct strtab tab;
	uint64_t *count;
	size_t cap;
	uint64_t ncaptions;
	struct buf lower;
};

void vocab_counts_init(struct vocab_counts *c, int kind);
void vocab_counts_free(struct vocab_counts *c);

/* Counts one caption. Returns 0, or -1 when s is not UTF-8 (*bad as above). */
int vocab_count(struct vocab_counts *c, const char *s, size_t n, size_t *bad);

/* Appends the vocabulary file to out. Word-level: the words seen min_count times
 * or more, most frequent first (ties in byte order), at most max_size tokens in
 * all with the four special ones (0: no limit); merges is ignored. BPE: up to
 * merges merges, stopping early when no pair is seen min_count times; max_size
 * is ignored. */
void vocab_build(const struct vocab_counts *c, uint64_t min_count, size_t max_size,
    size_t merges, struct buf *out);

#endif
