/* tokenize: learn a word-level or BPE vocabulary from captions, encode captions
 * into token ids, decode ids into captions (man 1 tokenize). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "stream.h"
#include "util.h"
#include "vocab.h"

static const char *const usage[] = {
	"tokenize build [--allow-missing] [--bpe merges] [--max-size n] [--min-count n]",
	"[-o vocab] [file ...]",
	"tokenize encode [--allow-missing] [--max-len n] -v vocab [file ...]",
	"tokenize decode [--allow-missing] -v vocab [file ...]",
	NULL,
};

enum { BUILD, ENCODE, DECODE };

enum {
	OPT_MISSING = 256, OPT_BPE, OPT_MAXLEN, OPT_MAXSIZE, OPT_MINCOUNT,
};

static int cmd;
static int allow_missing;
static struct vocab *vocab;
static size_t maxlen = 24;
static struct buf out;          /* text output, flushed in large writes */
static int out_stream = -1;     /* encode and decode: inputs are streams (1) or text (0) */

/* ---- inputs: record stream or text ----------------------------------------------- */

/* A record stream starts with its first header's length, at most the reader's
 * limit, so its bytes 4..7 are zero, and then the header's '{'. Text never does. */
static int
looks_like_stream(const unsigned char *h, size_t n)
{
	uint64_t len = 0;
	int i;

	if (n < 9)
		return 0;
	for (i = 7; i >= 0; i--)
		len = len << 8 | h[i];
	return len >= 2 && len <= TSR_MAX_HEADER && h[8] == '{';
}

/* The bytes read to tell a stream from text, handed back before the rest. */
struct peeked {
	FILE *fp;
	unsigned char head[9];
	size_t n, pos;
};

static ssize_t
peek_read(void *cookie, char *dst, size_t size)
{
	struct peeked *p = cookie;
	size_t k;

	if (p->pos < p->n) {
		k = p->n - p->pos < size ? p->n - p->pos : size;
		memcpy(dst, p->head + p->pos, k);
		p->pos += k;
		return k;
	}
	k = fread(dst, 1, size, p->fp);
	return k == 0 && ferror(p->fp) ? -1 : (ssize_t)k;
}

static int
peek_close(void *cookie)
{
	struct peeked *p = cookie;

	return p->fp == stdin ? 0 : fclose(p->fp);
}

/* Opens path ("-" is stdin) and says whether it holds a record stream. Inputs
 * are read one at a time, so one struct peeked serves them all. */
static FILE *
open_input(const char *path, const char **name, int *stream)
{
	static const cookie_io_functions_t io = {.read = peek_read, .close = peek_close};
	static struct peeked peek;
	struct peeked *p = &peek;
	FILE *fp;

	memset(p, 0, sizeof *p);
	*name = strcmp(path, "-") == 0 ? "stdin" : path;
	p->fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!p->fp)
		eprintf("open %s:", path);
	p->n = fread(p->head, 1, sizeof p->head, p->fp);
	if (p->n < sizeof p->head && ferror(p->fp))
		eprintf("read %s:", *name);
	*stream = looks_like_stream(p->head, p->n);
	if (!(fp = fopencookie(p, "rb", io)))
		eprintf("fopencookie:");
	setvbuf(fp, NULL, _IOFBF, 1 << 16);
	return fp;
}

/* ---- output ------------------------------------------------------------------ */

static void
flush_out(int force)
{
	if (out.len && (force || out.len >= (1 << 16))) {
		if (fwrite(out.p, 1, out.len, stdout) != out.len)
			eprintf("write stdout:");
		out.len = 0;
	}
}

static void
put_ids(const int32_t *v, size_t n)
{
	char tmp[12];
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		uint32_t x = v[i];

		buf_reserve(&out, 12);
		if (i)
			out.p[out.len++] = ' ';
		for (k = 0; k == 0 || x; x /= 10)
			tmp[k++] = '0' + x % 10;
		while (k > 0)
			out.p[out.len++] = tmp[--k];
	}
	buf_append(&out, "\n", 1);
	flush_out(0);
}

/* ---- the three jobs, per caption ---------------------------------------------------- */

static struct vocab_counts counts;
static int32_t *row;            /* encode: one row of the tokens tensor */
static struct ids rowids;       /* decode: one row of a record's tokens */

/* Where a caption came from, for messages: "FILE:LINE" or "FILE:record N: caption I". */
struct where {
	const char *name;
	uint64_t line, record, caption;
	int stream;
};

static void __attribute__((noreturn))
bad_utf8(const struct where *w, const char *s, size_t bad)
{
	if (w->stream)
		eprintf("%s:record %" PRIu64 ": caption %" PRIu64 ": invalid UTF-8 (byte 0x%02X "
		    "at offset %zu)", w->name, w->record, w->caption, (unsigned char)s[bad], bad);
	eprintf("%s:%" PRIu64 ": invalid UTF-8 (byte 0x%02X at column %zu)", w->name, w->line,
	    (unsigned char)s[bad], bad + 1);
}

static void
count_caption(const struct where *w, const char *s, size_t n)
{
	size_t bad;

	if (vocab_count(&counts, s, n, &bad) < 0)
		bad_utf8(w, s, bad);
}

/* Encodes one caption into row (maxlen + 1 ids). */
static void
encode_caption(const struct where *w, const char *s, size_t n, int32_t *dst)
{
	size_t bad;

	if (vocab_encode_row(vocab, s, n, maxlen, dst, &bad) < 0)
		bad_utf8(w, s, bad);
}

/* Appends the caption of ids (all in range) and a newline to out. */
static void
decode_ids(const int32_t *ids, size_t n)
{
	size_t bad;

	if (vocab_decode(vocab, ids, n, &out, &bad) < 0)
		eprintf("id %d out of range", ids[bad]);       /* callers checked */
	buf_append(&out, "\n", 1);
	flush_out(0);
}

/* ---- text input ------------------------------------------------------------------ */

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One text line of ids separated by blanks. */
static void
decode_line(const struct where *w, const char *s, size_t n, struct ids *ids)
{
	size_t i, j, k;
	long long x;

	ids->n = 0;
	for (i = 0; i < n; i = j) {
		if (blank(s[i])) {
			j = i + 1;
			continue;
		}
		for (j = i; j < n && !blank(s[j]); j++)
			;
		x = 0;
		for (k = i + (s[i] == '-'); k < j && s[k] >= '0' && s[k] <= '9'; k++)
			if ((x = x * 10 + (s[k] - '0')) > INT32_MAX)
				x = INT32_MAX;  /* out of range all the same */
		if (k < j || k == i + (s[i] == '-'))
			eprintf("%s:%" PRIu64 ": not a token id: \"%.*s\"", w->name, w->line,
			    (int)(j - i < 40 ? j - i : 40), s + i);
		if (s[i] == '-' || (size_t)x >= vocab_size(vocab))
			eprintf("%s:%" PRIu64 ": id %.*s out of range (the vocabulary has %zu tokens)",
			    w->name, w->line, (int)(j - i < 40 ? j - i : 40), s + i, vocab_size(vocab));
		ids_push(ids, x);
	}
	decode_ids(ids->v, ids->n);
}

static void
text_input(FILE *fp, const char *name)
{
	struct where w = {name, 0, 0, 0, 0};
	struct ids ids = {0};
	char *line = NULL;
	size_t cap = 0, n, i;
	ssize_t len;

	while ((len = getline(&line, &cap, fp)) > 0) {
		n = len;
		w.line++;
		if (line[n - 1] == '\n')
			n--;
		if (cmd == BUILD) {
			count_caption(&w, line, n);
		} else if (cmd == ENCODE) {
			encode_caption(&w, line, n, row);
			for (i = 1; i <= maxlen && row[i] != VOCAB_EOS; i++)
				;
			put_ids(row, i + 1);
		} else {
			decode_line(&w, line, n, &ids);
		}
	}
	if (ferror(fp))
		eprintf("read %s:", name);
	free(line);
	ids_free(&ids);
}

/* ---- record input ------------------------------------------------------------------ */

/* The record's captions, a JSON array of strings; NULL when it has none. */
static json_t *
captions(const struct record *rec, const struct where *w)
{
	const char *s = record_meta(rec, "captions");
	json_error_t je;
	json_t *a;
	size_t i;

	if (!s)
		return NULL;
	if (!(a = json_loads(s, 0, &je)))
		eprintf("%s:record %" PRIu64 ": captions: %s", w->name, w->record, je.text);
	for (i = 0; json_is_array(a) && i < json_array_size(a); i++)
		if (!json_is_string(json_array_get(a, i)))
			break;
	if (!json_is_array(a) || i < json_array_size(a))
		eprintf("%s:record %" PRIu64 ": captions is not a JSON array of strings", w->name,
		    w->record);
	return a;
}

static void
decode_record(struct record *rec, const struct where *w)
{
	const struct tensor *t = record_tensor(rec, "tokens");
	const char *key = record_meta(rec, "__key__");
	int64_t rows, cols, r, c;

	if (!t) {
		if (allow_missing)
			return;
		eprintf("%s:record %" PRIu64 ": no tokens tensor", w->name, w->record);
	}
	if ((t->dtype != DT_I32 && t->dtype != DT_I64) || t->ndim < 1 || t->ndim > 2)
		eprintf("%s:record %" PRIu64 ": tokens is %s with %d dimensions, not I32 or I64 "
		    "[n, L] or [L]", w->name, w->record, dtype_name(t->dtype), t->ndim);
	rows = t->ndim == 2 ? t->shape[0] : 1;
	cols = t->shape[t->ndim - 1];
	for (r = 0; r < rows; r++) {
		rowids.n = 0;
		for (c = 0; c < cols; c++) {
			int64_t x = t->dtype == DT_I32 ? ((const int32_t *)t->data)[r * cols + c] :
			    ((const int64_t *)t->data)[r * cols + c];

			if (x < 0 || (uint64_t)x >= vocab_size(vocab))
				eprintf("%s:record %" PRIu64 ": tokens[%" PRId64 "][%" PRId64 "]: id %"
				    PRId64 " out of range (the vocabulary has %zu tokens)", w->name,
				    w->record, r, c, x, vocab_size(vocab));
			ids_push(&rowids, x);
		}
		if (key)
			buf_append(&out, key, strlen(key));
		buf_append(&out, "\t", 1);
		decode_ids(rowids.v, rowids.n);
	}
}

static void
encode_record(struct record *rec, json_t *a, const struct where *w0)
{
	struct where w = *w0;
	int64_t shape[2] = {json_array_size(a), maxlen + 1};
	struct tensor *t = record_put(rec, "tokens", DT_I32, 2, shape, NULL);
	size_t i;

	for (i = 0; i < (size_t)shape[0]; i++) {
		json_t *s = json_array_get(a, i);

		w.caption = i;
		encode_caption(&w, json_string_value(s), json_string_length(s),
		    (int32_t *)t->data + i * (maxlen + 1));
	}
	if (record_write(stdout, rec) < 0)
		eprintf("write stdout:");
}

static void
stream_input(FILE *fp, const char *name, struct record *rec)
{
	struct where w = {name, 0, 0, 0, 1};
	struct reader r;
	json_t *a;
	size_t i;
	int rc;

	reader_init(&r, fp, name);
	while ((rc = record_read(&r, rec)) > 0) {
		w.record = r.index - 1;
		if (cmd == DECODE) {
			decode_record(rec, &w);
			continue;
		}
		if (!(a = captions(rec, &w))) {
			if (!allow_missing)
				eprintf("%s:record %" PRIu64 ": no captions field", name, w.record);
			if (cmd == ENCODE && record_write(stdout, rec) < 0)
				eprintf("write stdout:");
			continue;
		}
		if (cmd == BUILD) {
			for (i = 0; i < json_array_size(a); i++) {
				json_t *s = json_array_get(a, i);

				w.caption = i;
				count_caption(&w, json_string_value(s), json_string_length(s));
			}
		} else {
			encode_record(rec, a, &w);
		}
		json_decref(a);
	}
	if (rc < 0)
		eprintf("%s", r.err);
}

static void
input(const char *path, struct record *rec)
{
	const char *name;
	int stream;
	FILE *fp = open_input(path, &name, &stream);

	if (cmd != BUILD) {
		if (out_stream >= 0 && stream != out_stream)
			eprintf("%s: %s, but the input before it was %s", name,
			    stream ? "a record stream" : "text", out_stream ? "records" : "text");
		out_stream = stream;
	}
	if (stream)
		stream_input(fp, name, rec);
	else
		text_input(fp, name);
	if (fclose(fp) != 0)
		eprintf("close %s:", name);
}

/* ---- the command line -------------------------------------------------------------- */

static const char *const cmdname[] = {"build", "encode", "decode"};

static void __attribute__((noreturn))
usage_error(const char *msg)
{
	if (msg)
		weprintf("%s", msg);
	print_usage(stderr, usage);
	exit(EXIT_USAGE);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{"allow-missing", no_argument, NULL, OPT_MISSING},
		{"bpe", required_argument, NULL, OPT_BPE},
		{"max-len", required_argument, NULL, OPT_MAXLEN},
		{"max-size", required_argument, NULL, OPT_MAXSIZE},
		{"min-count", required_argument, NULL, OPT_MINCOUNT},
		{"output", required_argument, NULL, 'o'},
		{"vocab", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/* which commands take each option: bits of 1 << BUILD, ENCODE, DECODE */
	static const struct { int opt, cmds; const char *name; } allowed[] = {
		{OPT_BPE, 1 << BUILD, "--bpe"}, {OPT_MAXSIZE, 1 << BUILD, "--max-size"},
		{OPT_MINCOUNT, 1 << BUILD, "--min-count"}, {'o', 1 << BUILD, "-o"},
		{OPT_MAXLEN, 1 << ENCODE, "--max-len"},
		{'v', 1 << ENCODE | 1 << DECODE, "-v"},
	};
	const char *output = NULL, *vocab_path = NULL;
	long long bpe = -1, max_size = 0, min_count = 1;
	struct record rec = {0};
	struct buf text = {0};
	size_t i;
	int c, ncmd = -1;

	setprogname(argv[0]);
	if (argc > 1)
		for (i = 0; i < 3; i++)
			if (strcmp(argv[1], cmdname[i]) == 0)
				ncmd = i;
	if (ncmd >= 0) {
		argv++;
		argc--;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ho:v:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MISSING:
			allow_missing = 1;
			break;
		case OPT_BPE:
			bpe = estrtonum(optarg, 0, 1 << 24, "--bpe");
			break;
		case OPT_MAXLEN:
			maxlen = estrtonum(optarg, 1, 1 << 20, "--max-len");
			break;
		case OPT_MAXSIZE:
			max_size = estrtonum(optarg, VOCAB_NSPECIAL, INT32_MAX, "--max-size");
			break;
		case OPT_MINCOUNT:
			min_count = estrtonum(optarg, 1, LLONG_MAX, "--min-count");
			break;
		case 'o':
			output = optarg;
			break;
		case 'v':
			vocab_path = optarg;
			break;
		case 'h':
			print_usage(stdout, usage);
			fshut(stdout, "stdout");
			return EXIT_OK;
		default:
			usage_option(argv, c, usage);
		}
		for (i = 0; i < sizeof allowed / sizeof *allowed; i++)
			if (allowed[i].opt == c && ncmd >= 0 && !(allowed[i].cmds & 1 << ncmd))
				uprintf("%s is not an option of %s", allowed[i].name, cmdname[ncmd]);
	}
	if (ncmd < 0 && optind < argc) {
		weprintf("unknown command %s (build, encode or decode)", argv[optind]);
		usage_error(NULL);
	}
	if (ncmd < 0)
		usage_error("no command: build, encode or decode");
	cmd = ncmd;
	if (cmd == BUILD && bpe >= 0 && max_size > 0)
		uprintf("--max-size is for word-level vocabularies; --bpe sets the size of a "
		    "BPE one");
	if (cmd != BUILD && !vocab_path) {
		weprintf("%s needs -v vocab", cmdname[cmd]);
		usage_error(NULL);
	}

	if (cmd == BUILD)
		vocab_counts_init(&counts, bpe >= 0 ? VOCAB_BPE : VOCAB_WORD);
	else
		vocab = vocab_load(vocab_path);
	row = ereallocarray(NULL, maxlen + 1, sizeof *row);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (optind == argc)
		input("-", &rec);
	for (; optind < argc; optind++)
		input(argv[optind], &rec);
	flush_out(1);

	if (cmd == BUILD) {
		FILE *fp = output ? fopen(output, "w") : stdout;

		if (!fp)
			eprintf("open %s:", output);
		vocab_build(&counts, min_count, max_size, bpe >= 0 ? (size_t)bpe : 0, &text);
		if (fwrite(text.p, 1, text.len, fp) != text.len)
			eprintf("write %s:", output ? output : "stdout");
		if (output)
			fshut(fp, output);
		vocab_counts_free(&counts);
	}
	vocab_free(vocab);
	record_free(&rec);
	buf_free(&text);
	buf_free(&out);
	free(row);
	ids_free(&rowids);
	fshut(stdout, "stdout");
	return EXIT_OK;
}
