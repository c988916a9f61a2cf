/* bleu.h: corpus BLEU as sacrebleu computes it, and the coco-caption BLEU-1..4 and
 * CIDEr-D, from one set of n-gram statistics over interned tokens. */
#ifndef VITCAP_BLEU_H
#define VITCAP_BLEU_H

#include <stddef.h>
#include <stdint.h>

#include "lines.h"
#include "util.h"

#define BLEU_N 4

enum tokenizer { TOK_13A, TOK_NONE, TOK_COCO };
enum smooth { SMOOTH_EXP, SMOOTH_FLOOR, SMOOTH_ADDK, SMOOTH_NONE };

/* Segment i has hypothesis hyp[i] and references ref[ref_start[i] .. ref_start[i+1]). */
struct corpus {
	size_t n;
	struct span *hyp;
	size_t *ref_start;      /* n + 1 entries */
	struct span *ref;
};

/* Sufficient statistics: lengths (closest reference length, ties to the shorter),
 * matched n-grams (clipped by the largest count in any one reference) and
 * hypothesis n-grams, per order. */
struct bleu_stats {
	uint64_t sys_len, ref_len;
	uint64_t correct[BLEU_N], total[BLEU_N];
};

struct bleu_score {
	double score, bp, ratio;
	double precisions[BLEU_N];
};

struct coco_score {
	double bleu[BLEU_N];    /* coco-caption Bleu_1 .. Bleu_4 */
	double cider_d;         /* coco-caption CIDEr (the CIDEr-D variant) */
};

/* Tokenizes each sentence of c (lowercased first when asked) and computes BLEU's
 * sufficient statistics; also fills *cider_d when it is not NULL (TOK_COCO). */
void bleu_corpus_stats(const struct corpus *c, enum tokenizer tok, int lowercase,
    struct bleu_stats *st, double *cider_d);

/* sacrebleu's BLEU.compute_bleu(); smooth_value < 0 selects its default. */
struct bleu_score bleu_compute(const struct bleu_stats *st, enum smooth sm, double smooth_value);

/* coco-caption's BleuScorer.compute_score(option="closest"). */
void coco_bleu(const struct bleu_stats *st, double out[BLEU_N]);

/* The tokenizers: the tokens of s, space-separated. tokenize_13a replaces out's
 * contents and uses tmp as scratch; tokenize_coco appends to out. */
void tokenize_13a(struct buf *out, struct buf *tmp, const char *s, size_t n);
void tokenize_coco(struct buf *out, const char *s, size_t n);

#endif
