/* lines.c: reading line-oriented UTF-8 text files. */
#include "lines.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

void
lines_read(struct lines *l, const char *path)
{
	const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
	size_t len, cap = 0, start = 0;
	char *end;

	l->data = readfile(path, &len);
	l->v = NULL;
	l->n = 0;
	while (start < len) {
		size_t stop, bad;

		end = memchr(l->data + start, '\n', len - start);
		stop = end ? (size_t)(end - l->data) : len;
		bad = utf8_check(l->data + start, stop - start);
		if (bad != stop - start)
			eprintf("%s:%zu: invalid UTF-8 (byte 0x%02X at column %zu)", name,
			    l->n + 1, (unsigned char)l->data[start + bad], bad + 1);
		if (l->n == cap) {
			cap = cap ? cap * 2 : 1024;
			l->v = ereallocarray(l->v, cap, sizeof *l->v);
		}
		l->v[l->n].s = l->data + start;
		l->v[l->n].len = stop - start;
		l->n++;
		start = stop + 1;
	}
}

void
lines_free(struct lines *l)
{
	free(l->data);
	free(l->v);
	memset(l, 0, sizeof *l);
}
