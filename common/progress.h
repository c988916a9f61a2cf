/* progress.h: a one-line progress display on stderr, only when stderr is a terminal. */
#ifndef VITCAP_PROGRESS_H
#define VITCAP_PROGRESS_H

#include <stdint.h>

struct progress {
	const char *what;       /* "images", "steps" */
	uint64_t total;         /* 0 when unknown: no ETA */
	double start, last;     /* seconds */
	int tty;
};

void progress_init(struct progress *p, const char *what, uint64_t total);
/* Redraws "prog: done/total what, rate what/s, ETA m:ss" at most 10 times a second;
 * extra (may be NULL) is appended, e.g. "loss 2.31". */
void progress_update(struct progress *p, uint64_t done, const char *extra);
/* Clears the line. */
void progress_end(struct progress *p);
double now_seconds(void);

#endif
