/* util.h: errors, checked allocation, checked numbers, checked close.
 * The sbase/OpenBSD helpers every tool uses, so each tool's main reads as its job. */
#ifndef VITCAP_UTIL_H
#define VITCAP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses shared by every program and documented in each man page. */
enum {
	EXIT_OK = 0,
	EXIT_DATA = 1,  /* bad input, a failed read or write, a runtime failure */
	EXIT_USAGE = 2, /* bad command line */
};

extern const char *argv0; /* program name for messages; set by setprogname() */

void setprogname(const char *name);

/* "prog: message"; a message ending in ':' gets ": strerror(errno)" appended.
 * eprintf exits EXIT_DATA, uprintf exits EXIT_USAGE, weprintf returns. */
void eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void weprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *emalloc(size_t n);
void *ecalloc(size_t n, size_t size);
void *erealloc(void *p, size_t n);
void *ereallocarray(void *p, size_t n, size_t size);
char *estrdup(const char *s);

/* Range-checked integer and float parsing of command-line values: a bad value
 * is a usage error naming the option, e.g. "bleu: --width: not a number: x". */
long long estrtonum(const char *s, long long min, long long max, const char *what);
double estrtod(const char *s, double min, double max, const char *what);

/* The index of arg among names[0..n), or a usage error naming what and the
 * choices: "bleu: --smooth: unknown value x (exp, floor, add-k or none)". */
int estrchoice(const char *arg, const char *const *names, int n, const char *what);

/* snprintf into a caller's error buffer: the "char *err, size_t errsz" of the
 * library functions that report instead of exiting. Returns -1, their failure,
 * so that one statement reports and returns. */
int seterr(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* splitmix64: advances *state and returns the next 64 random bits. Small and
 * fast, its whole state is one number, and nearby seeds give independent
 * streams: every seeded generator of the suite (init, data order, scenes,
 * sampling) is built on it. */
uint64_t splitmix64(uint64_t *state);

/* Flush and close a stream, exiting EXIT_DATA with a message naming it on any
 * earlier or final write error (a full disk must change the exit status). */
void fshut(FILE *fp, const char *name);

/* A growable byte buffer. */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_free(struct buf *b);

/* Reads a whole stream ("-" is stdin) into memory; NUL-terminated. */
char *readfile(const char *path, size_t *len);

/* Calls fn on each file operand argv[first..argc) ("-" is stdin), or on stdin
 * when there are none; a file that cannot be opened is an error exit. */
void each_input(int argc, char **argv, int first, void (*fn)(FILE *fp, const char *name));

/* Prints the program's usage lines (the man page SYNOPSIS) to fp. */
void print_usage(FILE *fp, const char *const *lines);

/* For getopt_long with opterr = 0 and an optstring starting with ':': after it
 * returned '?' or ':' (ch), names the bad option, prints the usage lines and
 * exits EXIT_USAGE. */
void usage_option(char *const *argv, int ch, const char *const *lines)
    __attribute__((noreturn));

#endif
