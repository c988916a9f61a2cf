/* tsrinfo: list the records of a stream (man 1 tsrinfo). */
#include "stream.h"
#include "util.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {"tsrinfo [-cj] [file ...]", NULL};

static enum { LIST, COUNT, JSON } mode = LIST;
static int showfile;            /* more than one input: say which each record is from */
static unsigned long long total;

/* Prints s so that it stays one tab-separated field: C escapes for the
 * backslash and control characters. */
static void
putfield(const char *s)
{
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '\\')
			fputs("\\\\", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void
list(const char *file, uint64_t index, const struct record *rec)
{
	const char *key = record_meta(rec, "__key__");
	const struct tensor *t;
	size_t i;
	int d;

	if (showfile) {
		putfield(file);
		putchar('\t');
	}
	printf("%llu", (unsigned long long)index);
	if (key) {
		fputs("\tkey=", stdout);
		putfield(key);
	}
	for (i = 0; i < rec->nt; i++) {
		t = &rec->t[i];
		putchar('\t');
		putfield(t->name);
		printf(" %s[", dtype_name(t->dtype));
		for (d = 0; d < t->ndim; d++)
			printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
		putchar(']');
	}
	for (i = 0; i < rec->nmeta; i++) {
		if (strcmp(rec->meta[i].key, "__key__") == 0)
			continue;
		putchar('\t');
		putfield(rec->meta[i].key);
		putchar('=');
		putfield(rec->meta[i].value);
	}
	putchar('\n');
}

static void
json(const char *file, uint64_t index, const struct record *rec)
{
	json_t *o = json_object(), *meta = json_object(), *ts = json_object(), *shape;
	const char *key = record_meta(rec, "__key__");
	const struct tensor *t;
	char *s;
	size_t i;
	int d;

	if (showfile)
		json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "record", json_integer((json_int_t)index));
	json_object_set_new(o, "key", key ? json_string(key) : json_null());
	for (i = 0; i < rec->nmeta; i++)
		json_object_set_new(meta, rec->meta[i].key, json_string(rec->meta[i].value));
	json_object_set_new(o, "metadata", meta);
	for (i = 0; i < rec->nt; i++) {
		t = &rec->t[i];
		shape = json_array();
		for (d = 0; d < t->ndim; d++)
			json_array_append_new(shape, json_integer(t->shape[d]));
		json_object_set_new(ts, t->name, json_pack("{s:s, s:o}", "dtype",
		    dtype_name(t->dtype), "shape", shape));
	}
	json_object_set_new(o, "tensors", ts);
	/* A file name that is not UTF-8 cannot be a JSON string: jansson drops it. */
	if (!(s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		eprintf("out of memory formatting record %llu", (unsigned long long)index);
	puts(s);
	free(s);
	json_decref(o);
}

static void
info(const char *path, struct record *rec)
{
	int isstdin = strcmp(path, "-") == 0;
	const char *name = isstdin ? "stdin" : path;
	FILE *fp = isstdin ? stdin : fopen(path, "rb");
	struct reader r;
	int rc;

	if (!fp)
		eprintf("open %s:", path);
	reader_init(&r, fp, name);
	while ((rc = record_read(&r, rec)) > 0) {
		if (mode == LIST)
			list(name, r.index - 1, rec);
		else if (mode == JSON)
			json(name, r.index - 1, rec);
		total++;
	}
	if (rc < 0)
		eprintf("%s", r.err);
	if (!isstdin)
		fclose(fp);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{"count", no_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct record rec = {0};
	int c, i;

	setprogname(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":cj", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			mode = COUNT;
			break;
		case 'j':
			mode = JSON;
			break;
		case 'h':
			print_usage(stdout, usage);
			fshut(stdout, "stdout");
			return EXIT_OK;
		default:
			usage_option(argv, c, usage);
		}
	}
	showfile = argc - optind > 1;
	if (optind == argc)
		info("-", &rec);
	for (i = optind; i < argc; i++)
		info(argv[i], &rec);
	if (mode == COUNT)
		printf("%llu\n", total);
	record_free(&rec);
	fshut(stdout, "stdout");
	return EXIT_OK;
}
