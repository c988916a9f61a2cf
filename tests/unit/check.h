/* check.h: the assertion of the C unit tests. A failed CHECK prints where and
 * what, counts in failures, and the test goes on, so one run shows every
 * failure; main returns failures != 0. */
#ifndef VITCAP_CHECK_H
#define VITCAP_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)

static int
check(int ok, const char *what, const char *file, int line)
{
	if (!ok) {
		fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
		failures++;
	}
	return ok;
}

#endif
