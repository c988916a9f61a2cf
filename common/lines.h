/* lines.h: a text file in memory, split into lines as Python splits a file opened
 * with newline="\n" (only '\n' ends a line; a last line without one still counts). */
#ifndef VITCAP_LINES_H
#define VITCAP_LINES_H

#include <stddef.h>

struct span {
	const char *s;
	size_t len;
};

struct lines {
	char *data;
	struct span *v;
	size_t n;
};

/* Reads path ("-" is stdin), checks that it is UTF-8 and splits it. Exits with
 * "prog: PATH:LINE: invalid UTF-8 (byte 0xXX at column C)" or a read error. */
void lines_read(struct lines *l, const char *path);
void lines_free(struct lines *l);

#endif
