/* util.c: errors, checked allocation, checked numbers, checked close. */
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *argv0 = "vitcap";

void
setprogname(const char *name)
{
	const char *slash = strrchr(name, '/');

	argv0 = slash ? slash + 1 : name;
}

/*
 * One write per message: the programs of a pipeline share one stderr, and
 * a line written in pieces interleaves with a neighbour's (a pipe keeps a
 * write of up to PIPE_BUF bytes whole).
 */
static void
vwarn(const char *fmt, va_list ap)
{
	char line[4096];
	size_t n = strlen(fmt), len;
	int saved = errno, k;

	fflush(stdout);
	k = snprintf(line, sizeof line, "%s: ", argv0);
	len = k < 0 ? 0 : (size_t)k;
	if (len < sizeof line) {
		k = vsnprintf(line + len, sizeof line - len, fmt, ap);
		len += k < 0 ? 0 : (size_t)k;
	}
	if (n > 0 && fmt[n - 1] == ':' && len < sizeof line) {
		k = snprintf(line + len, sizeof line - len, " %s", strerror(saved));
		len += k < 0 ? 0 : (size_t)k;
	}
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	fflush(stderr);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(STDERR_FILENO, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void
eprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(EXIT_DATA);
}

void
uprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}

void
weprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void *
emalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		eprintf("malloc %zu bytes:", n);
	return p;
}

void *
ecalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		eprintf("calloc %zu x %zu bytes:", n, size);
	return p;
}

void *
erealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		eprintf("realloc %zu bytes:", n);
	return q;
}

void *
ereallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes))
		eprintf("allocation of %zu x %zu bytes overflows", n, size);
	return erealloc(p, bytes);
}

char *
estrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(emalloc(n), s, n);
}

long long
estrtonum(const char *s, long long min, long long max, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0')
		uprintf("%s: not an integer: %s", what, s);
	if (errno == ERANGE || v < min || v > max)
		uprintf("%s: out of range [%lld, %lld]: %s", what, min, max, s);
	return v;
}

double
estrtod(const char *s, double min, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || isnan(v))
		uprintf("%s: not a number: %s", what, s);
	if (errno == ERANGE || v < min || v > max)
		uprintf("%s: out of range [%g, %g]: %s", what, min, max, s);
	return v;
}

int
estrchoice(const char *arg, const char *const *names, int n, const char *what)
{
	char list[256];
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof list; i++)
		len += snprintf(list + len, sizeof list - len, "%s%s",
		    i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
	uprintf("%s: unknown value %s (%s)", what, arg, list);
}

int
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
fshut(FILE *fp, const char *name)
{
	int bad = ferror(fp);

	if (fflush(fp) != 0)
		bad = 1;
	if (fclose(fp) != 0 || bad)
		eprintf("write %s:", name);
}

void
buf_reserve(struct buf *b, size_t extra)
{
	size_t need;

	if (__builtin_add_overflow(b->len, extra, &need))
		eprintf("buffer size overflows");
	if (need <= b->cap)
		return;
	if (b->cap < 64)
		b->cap = 64;
	while (b->cap < need)
		b->cap = b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
	b->p = erealloc(b->p, b->cap);
}

void
buf_append(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

char *
readfile(const char *path, size_t *len)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b = {0};
	size_t n;

	if (!fp)
		eprintf("open %s:", path);
	do {
		buf_reserve(&b, 65536);
		n = fread(b.p + b.len, 1, b.cap - b.len - 1, fp);
		b.len += n;
	} while (n > 0);
	if (ferror(fp))
		eprintf("read %s:", path);
	if (fp != stdin)
		fclose(fp);
	b.p[b.len] = '\0';
	*len = b.len;
	return b.p;
}

void
each_input(int argc, char **argv, int first, void (*fn)(FILE *fp, const char *name))
{
	int i;

	if (first == argc)
		fn(stdin, "stdin");
	for (i = first; i < argc; i++) {
		FILE *fp = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "rb");

		if (!fp)
			eprintf("open %s:", argv[i]);
		fn(fp, fp == stdin ? "stdin" : argv[i]);
		if (fp != stdin)
			fclose(fp);
	}
}

void
print_usage(FILE *fp, const char *const *lines)
{
	const char *const *l;

	for (l = lines; *l; l++)
		fprintf(fp, "%s%s\n", l == lines ? "usage: " : "       ", *l);
}

void
usage_option(char *const *argv, int ch, const char *const *lines)
{
	const char *arg = argv[optind - 1];

	if (ch == ':')
		weprintf("option %s needs a value", arg);
	else if (optopt && strncmp(arg, "--", 2) != 0)
		weprintf("unknown option -%c", optopt);
	else
		weprintf("unknown option %s", arg);
	print_usage(stderr, lines);
	exit(EXIT_USAGE);
}
