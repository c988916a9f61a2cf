/* progress.c: a one-line progress display for long work. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
progress_init(struct progress *p, const char *what, uint64_t total)
{
	p->what = what;
	p->total = total;
	p->start = p->last = now_seconds();
	p->tty = isatty(STDERR_FILENO);
}

void
progress_update(struct progress *p, uint64_t done, const char *extra)
{
	double t = now_seconds(), rate;

	if (!p->tty || (t - p->last < 0.1 && done != p->total))
		return;
	p->last = t;
	rate = t > p->start ? done / (t - p->start) : 0;
	fprintf(stderr, "\r\033[K%s: %llu", argv0, (unsigned long long)done);
	if (p->total)
		fprintf(stderr, "/%llu", (unsigned long long)p->total);
	fprintf(stderr, " %s, %.1f %s/s", p->what, rate, p->what);
	if (p->total && rate > 0 && done < p->total) {
		unsigned long eta = (unsigned long)((p->total - done) / rate);

		fprintf(stderr, ", ETA %lu:%02lu", eta / 60, eta % 60);
	}
	if (extra)
		fprintf(stderr, ", %s", extra);
	fflush(stderr);
}

void
progress_end(struct progress *p)
{
	if (p->tty)
		fprintf(stderr, "\r\033[K");
}
