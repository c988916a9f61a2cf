/* train_data.h: a trainer's data: shard files found by glob patterns, their
 * records loaded into memory and checked against the model, and the batches of
 * each epoch in a deterministic, seeded order.
 *
 * A record gives one sample (an image U8 [S, S, 3], or an embedding F32, F16 or
 * BF16 [N, D] that an encoder made from one) and the token rows of its captions
 * (tokens I32 [captions, L], tokenize(1)). Everything is held in memory: a
 * 64x64 image is 12 KiB, so ten thousand images with five captions each are
 * about 125 MiB. */
#ifndef VITCAP_TRAIN_DATA_H
#define VITCAP_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum { DATA_IMAGE = 1, DATA_EMBED = 2, DATA_AUTO = 3 };
enum { PAIRS_ALL, PAIRS_ONE };

struct train_data {
	int kind;               /* DATA_IMAGE or DATA_EMBED (0 before the first record) */
	int width;              /* ids per stored row: the model's dec_len + 1 */
	size_t nrecords, nrows;
	size_t sample_bytes;    /* an image U8 [S, S, 3] or an embedding F32 [N, D] */
	unsigned char *samples; /* nrecords samples */
	size_t *first_row;      /* [nrecords + 1]: record i has rows first_row[i] .. [i + 1] - 1 */
	uint32_t *row_record;   /* [nrows] */
	int32_t *rows;          /* [nrows, width], padded with <pad> */
	int chosen;             /* the kind is the first record's (DATA_AUTO) */
	char encoder[17];       /* the first embedding's __metadata__.encoder, or "" */
	size_t cap;             /* records allocated */
	size_t rowcap;
};

/* Appends to *paths (n of them) the files that pattern matches, expanded with
 * glob(3) and sorted; a pattern without wildcards names one file, which must
 * exist. Returns 0, or -1 with err when nothing matches. */
int data_glob(const char *pattern, char ***paths, size_t *n, char *err, size_t errsz);

/* Sorts paths bytewise and drops repeats. */
void data_sort_unique(char **paths, size_t *n);

/* Reads the records of files into d (zeroed before the first call), checking
 * each against config c (image size, embedding shape, decoder positions,
 * vocabulary size): kind DATA_IMAGE or DATA_EMBED wants that field in every
 * record, DATA_AUTO takes the kind of the first record. With encoder non-NULL,
 * an embedding whose __metadata__.encoder differs is an error. Returns 0, or -1
 * with err "FILE:record N: what is wrong". */
int train_data_load(struct train_data *d, char *const *files, size_t nfiles,
    const struct config *c, int kind, const char *encoder, char *err, size_t errsz);
void train_data_free(struct train_data *d);

/* The (sample, caption) pairs an epoch visits: every caption, or one per record. */
size_t train_data_pairs(const struct train_data *d, int pairs);

/* Fills order (train_data_pairs entries) with the rows of epoch (from 0) in the
 * order they are trained on: with shuffle, a permutation drawn from a generator
 * seeded by seed, epoch and rank alone, so that any position of any epoch can be
 * found again on resuming; without, file order. PAIRS_ONE picks each record's
 * caption with the same generator (without shuffle: caption epoch mod n).
 * Returns the number of entries. */
size_t train_data_epoch(const struct train_data *d, uint32_t *order, uint64_t seed,
    long epoch, int rank, int pairs, int shuffle);

struct batch {
	int n;                  /* samples */
	int T;                  /* decoder positions: the longest caption's, not dec_len */
	long ntargets;          /* targets that count (not <pad>) */
	unsigned char *samples; /* n samples */
	int32_t *ids, *targets; /* [n, T]: row[0 .. T-1] and row[1 .. T] */
	int cap;
};

/* The batch of rows order[0 .. n-1]. */
void batch_make(struct batch *b, const struct train_data *d, const uint32_t *order, int n);
void batch_free(struct batch *b);

#endif
