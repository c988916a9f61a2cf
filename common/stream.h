/* stream.h: the record stream, concatenated safetensors blobs (man 5 tsr).
 *
 * A record is one complete safetensors blob: u64 little-endian header length N,
 * N bytes of JSON header, then the data buffer that the header's data_offsets
 * cover exactly. A reader knows each record's length from its header alone, so it
 * streams from pipes with memory bounded by one record, and EOF is legal only on a
 * record boundary. Records are numbered from 0 in messages. */
#ifndef VITCAP_STREAM_H
#define VITCAP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum dtype {
	DT_BOOL, DT_U8, DT_I8, DT_F8_E5M2, DT_F8_E4M3, DT_I16, DT_U16, DT_F16,
	DT_BF16, DT_I32, DT_U32, DT_F32, DT_F64, DT_I64, DT_U64, DT_COUNT
};

const char *dtype_name(int dtype);      /* "F32", or NULL when unknown */
int dtype_parse(const char *name);      /* DT_F32, or -1 when unknown */
size_t dtype_size(int dtype);           /* bytes per element, 0 when unknown */

#define TSR_MAX_DIMS 8                  /* more dimensions than this is bad input */
#define TSR_MAX_HEADER (100u << 20)     /* the safetensors library's own header cap */

struct tensor {
	char *name;
	int dtype;
	int ndim;
	int64_t shape[TSR_MAX_DIMS];
	size_t nbytes;                  /* elements x dtype_size */
	void *data;                     /* nbytes, aligned for the dtype, never NULL */
	int owned;                      /* data is ours to free (else in the record's buffer) */
	size_t offset;                  /* where the data began in the record read (else 0) */
};

struct meta {
	char *key, *value;
};

/* A record in memory: metadata in header order, tensors in data-offset order.
 * Zero-initialise before first use; record_free releases everything. Tensor
 * data read from a stream lives in buf until the next record_read; a tensor
 * whose offset in the record is not a multiple of its element size is copied
 * into memory of its own (owned), so every data pointer is aligned. */
struct record {
	struct meta *meta;
	size_t nmeta, metacap;
	struct tensor *t;
	size_t nt, tcap;
	void *buf;                      /* reader-owned data buffer */
	size_t bufcap;
	void *hdr;                      /* reader-owned header buffer */
	size_t hdrcap;
};

struct reader {
	FILE *fp;
	const char *name;               /* for messages: the file name, or "stdin" */
	uint64_t index;                 /* records read so far */
	uint64_t offset;                /* byte offset of the next record */
	char err[512];                  /* after -1: "NAME:record I: byte O: what is wrong" */
	int failed;                     /* after -1 every later read fails the same way */
};

void reader_init(struct reader *r, FILE *fp, const char *name);

/* Reads the next record into rec (reusing its memory). Returns 1 for a record, 0 at
 * a clean end of stream, -1 for bad input or a read error, with r->err set and rec
 * left empty. Memory grows with the bytes actually read, so a header that lies
 * about its size fails at EOF instead of allocating what it claims. O in r->err
 * is the stream offset of the problem: the record start for a bad length, the
 * header start for a bad entry, the failing byte for JSON syntax, the end of the
 * stream for a truncation. */
int record_read(struct reader *r, struct record *rec);

/* Lookups return NULL when absent. */
struct tensor *record_tensor(const struct record *rec, const char *name);
const char *record_meta(const struct record *rec, const char *key);

/* Writes "F32[2,3]" into s (n bytes), truncated to fit. */
void tensor_shape_text(char *s, size_t n, const struct tensor *t);

/* Adds or replaces a metadata entry (copies both strings). */
void record_set_meta(struct record *rec, const char *key, const char *value);

/* Adds or replaces a tensor, copying nbytes of data (zeros when data is NULL);
 * returns it so callers may fill it in place. A replaced tensor keeps its place,
 * a new one goes last. The pointer is valid until the next put, drop or read.
 * A bad dtype, rank or shape is a programming error: it exits with a message. */
struct tensor *record_put(struct record *rec, const char *name, int dtype, int ndim,
    const int64_t *shape, const void *data);

/* Removes a tensor by name; returns 0 when it was not there. */
int record_drop(struct record *rec, const char *name);

/* Empties rec for reuse, keeping its allocations. */
void record_clear(struct record *rec);
void record_free(struct record *rec);

/* Writes rec as one safetensors blob: __metadata__ first (omitted when empty),
 * tensors laid out in order, compact JSON padded with spaces so the data starts
 * at a multiple of 8 bytes. Returns 0, or -1 with errno set on a write error, or
 * to EINVAL for a record no reader would accept (a string that is not UTF-8, a
 * tensor named __metadata__) or EFBIG for a header over TSR_MAX_HEADER. */
int record_write(FILE *fp, const struct record *rec);

#endif
