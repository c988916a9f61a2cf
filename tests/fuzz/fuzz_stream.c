/* fuzz_stream: libFuzzer target for the record reader (make fuzz).
 *
 * Any bytes: the reader must return records, then 0 or -1 with a one-line
 * message, without a sanitizer report. Every record it accepts must survive
 * record_write and a second read unchanged, and writing that again must give
 * the same bytes (the writer is deterministic). */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same(const struct record *a, const struct record *b)
{
	size_t i;

	if (a->nmeta != b->nmeta || a->nt != b->nt)
		abort();
	for (i = 0; i < a->nmeta; i++)
		if (strcmp(a->meta[i].key, b->meta[i].key) || strcmp(a->meta[i].value, b->meta[i].value))
			abort();
	for (i = 0; i < a->nt; i++) {
		const struct tensor *x = &a->t[i], *y = &b->t[i];

		if (strcmp(x->name, y->name) || x->dtype != y->dtype || x->ndim != y->ndim ||
		    memcmp(x->shape, y->shape, sizeof(x->shape)) || x->nbytes != y->nbytes ||
		    memcmp(x->data, y->data, x->nbytes) ||
		    (uintptr_t)y->data % dtype_size(y->dtype))
			abort();
	}
}

/* Writes rec into a new buffer; the caller frees *p. */
static void
write_mem(const struct record *rec, char **p, size_t *len)
{
	FILE *fp = open_memstream(p, len);

	if (!fp || record_write(fp, rec) != 0)
		abort();
	fclose(fp);
}

static void
round_trip(const struct record *rec)
{
	struct record back = {0};
	char *p1, *p2;
	size_t n1, n2;
	struct reader r;
	FILE *fp;

	write_mem(rec, &p1, &n1);
	fp = fmemopen(p1, n1, "r");
	reader_init(&r, fp, "rewrite");
	if (record_read(&r, &back) != 1) {
		fprintf(stderr, "re-read failed: %s\n", r.err);
		abort();
	}
	same(rec, &back);
	write_mem(&back, &p2, &n2);
	if (n1 != n2 || memcmp(p1, p2, n1) != 0 || record_read(&r, &back) != 0)
		abort();
	fclose(fp);
	free(p1);
	free(p2);
	record_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char empty[1];
	struct record rec = {0};
	struct reader r;
	FILE *fp;
	int rc;

	fp = fmemopen(size ? (void *)data : empty, size, "r");
	if (!fp)
		abort();
	reader_init(&r, fp, "fuzz");
	while ((rc = record_read(&r, &rec)) > 0)
		round_trip(&rec);
	if (rc < 0 && (strncmp(r.err, "fuzz:record ", 12) != 0 || strchr(r.err, '\n') ||
	    rec.nt || rec.nmeta || record_read(&r, &rec) != -1))
		abort();
	if (rc == 0 && r.offset != size)
		abort();
	record_free(&rec);
	fclose(fp);
	return 0;
}
