/* capdecode: captions for a record stream of embeddings (or images), by greedy
 * decoding, beam search or sampling (man 1 capdecode).
 *
 * Records are read into a batch of images; the batch is decoded at once
 * (search.h) and its captions are written in input order. Only the batch's
 * embeddings, keys and reference captions are kept, so memory is bounded by
 * the batch whatever the length of the stream. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "half.h"
#include "model.h"
#include "progress.h"
#include "search.h"
#include "stream.h"
#include "threads.h"
#include "util.h"
#include "vocab.h"

static const char *const usage_lines[] = {
	"capdecode [--force] [--images] [-b batch] [--beam k] [--device dev]",
	"[--format fmt] [--length-penalty a] [--max-len n] [--precision p] [--refs file]",
	"[--seed s] [--temperature t] [--threads n] [--top-k k] -m model [file ...]",
	NULL,
};

enum { FMT_TSV, FMT_JSONL, FMT_COCO };
static const char *const formats[] = {"tsv", "jsonl", "coco"};   /* by FMT_ */

static struct model *model;
static struct vocab *vocab;
static struct search *search;
static struct search_opts sopt;
static char fingerprint[17];
static int force, from_images, format = FMT_TSV, S, N, D;
static uint64_t seed = 1, nrecords;
static FILE *refs;
static const char *refs_path;
static struct progress prog;

/* The batch: each image's key, reference captions (a JSON array, or NULL),
 * its record's number and where it came from; the embeddings or the images. */
struct item {
	char *key;
	char *captions;
	uint64_t index;         /* in the whole input, for keys and seeds */
	uint64_t record;        /* in its file, for messages */
	const char *file;
};
static struct item *items;
static float *embed;
static uint8_t *images;
static uint64_t *seeds;
static struct caption *caps;
static int maxB, nb, ncoco;
static struct buf out, text;

/* ---- output ------------------------------------------------------------------------ */

static void
write_failed(const char *name)
{
	/* a reader that stopped early (| head) is a normal end, as for any Unix tool */
	if (errno == EPIPE)
		exit(EXIT_OK);
	eprintf("write %s:", name);
}

static void
put(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/* TSV fields: a tab or line break inside would break the line into fields. */
static void
put_field(struct buf *b, const char *s, size_t n)
{
	size_t i;

	buf_reserve(b, n);
	for (i = 0; i < n; i++)
		b->p[b->len++] = s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
}

static void
put_json_string(struct buf *b, const char *s, size_t n)
{
	char esc[8];
	size_t i;

	buf_append(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = c;
			buf_append(b, esc, 2);
		} else if (c == '\n') {
			put(b, "\\n");
		} else if (c == '\t') {
			put(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			put(b, esc);
		} else {
			buf_append(b, s + i, 1);
		}
	}
	buf_append(b, "\"", 1);
}

/* COCO's image id: the number of a numeric key ("123456.jpg", "123456") or of
 * a COCO file name ("COCO_val2014_000000123456.jpg"), else NULL (the key). */
static int
coco_id(const char *key, char *num, size_t n)
{
	const char *p = key, *dot = strrchr(key, '.'), *end;
	size_t len;

	if (strncmp(p, "COCO_", 5) == 0 && (p = strchr(p + 5, '_')))
		p++;
	else
		p = key;
	end = dot && dot > p ? dot : key + strlen(key);
	while (p < end - 1 && *p == '0')
		p++;
	len = end - p;
	if (len == 0 || len > 18 || strspn(p, "0123456789") < len || len >= n)
		return 0;
	memcpy(num, p, len);
	num[len] = '\0';
	return 1;
}

static void
emit(const struct item *it, const struct caption *c)
{
	char num[32], lp[64];
	size_t bad, i;
	json_t *a = NULL;

	text.len = 0;
	if (vocab_decode(vocab, c->ids, c->n, &text, &bad) != 0)
		eprintf("token id %d out of range", c->ids[bad]);      /* the model's own */
	if (it->captions && (refs || format == FMT_JSONL)) {
		json_error_t je;

		a = json_loads(it->captions, JSON_DECODE_ANY, &je);
		for (i = 0; a && json_is_array(a) && i < json_array_size(a); i++)
			if (!json_is_string(json_array_get(a, i)))
				break;
		if (!a || !json_is_array(a) || i < json_array_size(a))
			eprintf("%s:record %" PRIu64 ": captions is not a JSON array of strings",
			    it->file, it->record);
	}
	switch (format) {
	case FMT_TSV:
		put_field(&out, it->key, strlen(it->key));
		buf_append(&out, "\t", 1);
		put_field(&out, text.p, text.len);
		buf_append(&out, "\n", 1);
		break;
	case FMT_JSONL:
		put(&out, "{\"key\":");
		put_json_string(&out, it->key, strlen(it->key));
		put(&out, ",\"caption\":");
		put_json_string(&out, text.p, text.len);
		if (isfinite(c->logprob))
			snprintf(lp, sizeof lp, ",\"logprob\":%.6f", c->logprob);
		else
			snprintf(lp, sizeof lp, ",\"logprob\":null");
		put(&out, lp);
		if (a) {
			put(&out, ",\"references\":[");
			for (i = 0; i < json_array_size(a); i++) {
				json_t *s = json_array_get(a, i);

				if (i)
					put(&out, ",");
				put_json_string(&out, json_string_value(s), json_string_length(s));
			}
			put(&out, "]");
		}
		put(&out, "}\n");
		break;
	case FMT_COCO:
		put(&out, ncoco++ ? ",\n{\"image_id\":" : "[{\"image_id\":");
		if (coco_id(it->key, num, sizeof num))
			put(&out, num);
		else
			put_json_string(&out, it->key, strlen(it->key));
		put(&out, ",\"caption\":");
		put_json_string(&out, text.p, text.len);
		put(&out, "}");
		break;
	}
	if (refs && a) {
		struct buf line = {0};

		for (i = 0; i < json_array_size(a); i++) {
			json_t *s = json_array_get(a, i);

			line.len = 0;
			put_field(&line, it->key, strlen(it->key));
			buf_append(&line, "\t", 1);
			put_field(&line, json_string_value(s), json_string_length(s));
			buf_append(&line, "\n", 1);
			if (fwrite(line.p, 1, line.len, refs) != line.len)
				write_failed(refs_path);
		}
		buf_free(&line);
	}
	json_decref(a);
}

static void
flush_out(void)
{
	if (out.len && fwrite(out.p, 1, out.len, stdout) != out.len)
		write_failed("stdout");
	out.len = 0;
	if (fflush(stdout) != 0)
		write_failed("stdout");
}

/* ---- the batch ------------------------------------------------------------------------ */

static void
decode_batch(void)
{
	const float *e = embed;
	int i;

	if (nb == 0)
		return;
	if (from_images) {
		/* the encoder output stays in the model for the decoder, unless the
		 * uncached decoder needs it on the host */
		if (model_encode(model, images, nb, sopt.no_cache ? embed : NULL) != 0)
			eprintf("encoder: %s", model->err);
		if (!sopt.no_cache)
			e = NULL;
	}
	if (search_run(search, e, nb, seeds, caps) != 0)
		eprintf("decoder: %s", model->err);
	for (i = 0; i < nb; i++) {
		emit(&items[i], &caps[i]);
		free(items[i].key);
		free(items[i].captions);
	}
	flush_out();
	nrecords += nb;
	nb = 0;
	progress_update(&prog, nrecords, NULL);
}

static void
take_image(const struct record *rec, const char *name, uint64_t index)
{
	const struct tensor *t = record_tensor(rec, "image");
	char shape[128];

	if (!t)
		eprintf("%s:record %" PRIu64 ": no image tensor: make the records with imgshard "
		    "first", name, index);
	if (t->dtype == DT_U8 && t->ndim == 3 && t->shape[2] == 3 &&
	    (t->shape[0] != S || t->shape[1] != S))
		eprintf("%s:record %" PRIu64 ": the image is %" PRId64 "x%" PRId64 ", the model "
		    "wants %dx%d: make the records with imgshard --size %d", name, index,
		    t->shape[1], t->shape[0], S, S, S);
	if (t->dtype != DT_U8 || t->ndim != 3 || t->shape[2] != 3) {
		tensor_shape_text(shape, sizeof shape, t);
		eprintf("%s:record %" PRIu64 ": image is %s, expected U8[%d,%d,3]", name, index,
		    shape, S, S);
	}
	memcpy(images + (size_t)nb * t->nbytes, t->data, t->nbytes);
}

static void
take_embed(const struct record *rec, const char *name, uint64_t index)
{
	const struct tensor *t = record_tensor(rec, "embed");
	const char *fp = record_meta(rec, "encoder");
	char shape[128];

	if (!t)
		eprintf("%s:record %" PRIu64 ": no embed tensor: run vit-embed first%s", name,
		    index, record_tensor(rec, "image") ? ", or capdecode --images" : "");
	if ((t->dtype != DT_F32 && t->dtype != DT_F16 && t->dtype != DT_BF16) ||
	    t->ndim != 2 || t->shape[0] != N || t->shape[1] != D) {
		tensor_shape_text(shape, sizeof shape, t);
		eprintf("%s:record %" PRIu64 ": embed is %s, the model wants F32, F16 or BF16 "
		    "[%d,%d]", name, index, shape, N, D);
	}
	if (!force && !fp)
		eprintf("%s:record %" PRIu64 ": embed has no encoder fingerprint "
		    "(__metadata__.encoder); --force uses it anyway", name, index);
	if (!force && strcmp(fp, fingerprint) != 0)
		eprintf("%s:record %" PRIu64 ": embed is from another encoder (fingerprint %s, "
		    "the model's is %s): run vit-embed with this model, or --force", name, index,
		    fp, fingerprint);
	half_to_f32(embed + (size_t)nb * N * D, t->data, t->dtype, (size_t)N * D);
}

static uint64_t
mix(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void
run(FILE *fp, const char *name)
{
	struct record rec = {0};
	struct reader r;
	const char *key, *captions;
	char num[32];
	int rc;

	reader_init(&r, fp, name);
	while ((rc = record_read(&r, &rec)) > 0) {
		struct item *it = &items[nb];
		uint64_t index = nrecords + nb;

		if (from_images)
			take_image(&rec, name, r.index - 1);
		else
			take_embed(&rec, name, r.index - 1);
		if (!(key = record_meta(&rec, "__key__"))) {
			snprintf(num, sizeof num, "%" PRIu64, index);
			key = num;
		}
		captions = record_meta(&rec, "captions");
		it->key = estrdup(key);
		it->captions = captions ? estrdup(captions) : NULL;
		it->index = index;
		it->record = r.index - 1;
		it->file = name;
		/* the draws of an image depend on the seed and its place alone */
		seeds[nb] = mix(mix(seed) + index);
		if (++nb == maxB)
			decode_batch();
	}
	if (rc < 0)
		eprintf("%s", r.err);
	record_free(&rec);
}

/* ---- setup ------------------------------------------------------------------------------ */

static void
load(const char *path, const struct backend *be)
{
	char err[1024], *text_vocab;
	size_t n;

	if (!(model = model_load(path, be, &text_vocab, err, sizeof err)))
		eprintf("%s", err);
	if (!(vocab = vocab_parse(text_vocab, strlen(text_vocab), err, sizeof err)))
		eprintf("%s: __metadata__.vocab:%s", path, err);
	if ((n = vocab_size(vocab)) != (size_t)model->cfg.vocab)
		eprintf("%s: the vocabulary has %zu tokens, the model %d", path, n,
		    model->cfg.vocab);
	free(text_vocab);
	S = model->cfg.image;
	N = config_enc_len(&model->cfg);
	D = model->cfg.dim;
	model_encoder_fingerprint(model, fingerprint);
}

/* Rows enough to keep the cores busy: 64 images greedy, about 64 rows in
 * beams (16 images at least). A GPU's step costs about the same for a few
 * rows as for hundreds: 512 rows there (64 images at least). */
static int
default_batch(int gpu)
{
	int K = sopt.beam > 1 ? sopt.beam : 1, rows = gpu ? 512 : 64, least = gpu ? 64 : 16;
	int B = rows / K;

	return B < least ? least : B;
}

int
main(int argc, char *argv[])
{
	enum {
		O_FORCE = 256, O_IMAGES, O_BEAM, O_FORMAT, O_ALPHA, O_MAXLEN, O_REFS, O_SEED,
		O_TEMP, O_THREADS, O_TOPK, O_NOCACHE, O_DEVICE, O_PRECISION,
	};
	static const struct option longopts[] = {
		{"batch", required_argument, NULL, 'b'},
		{"model", required_argument, NULL, 'm'},
		{"force", no_argument, NULL, O_FORCE},
		{"images", no_argument, NULL, O_IMAGES},
		{"beam", required_argument, NULL, O_BEAM},
		{"format", required_argument, NULL, O_FORMAT},
		{"length-penalty", required_argument, NULL, O_ALPHA},
		{"max-len", required_argument, NULL, O_MAXLEN},
		{"refs", required_argument, NULL, O_REFS},
		{"seed", required_argument, NULL, O_SEED},
		{"temperature", required_argument, NULL, O_TEMP},
		{"threads", required_argument, NULL, O_THREADS},
		{"top-k", required_argument, NULL, O_TOPK},
		{"no-cache", no_argument, NULL, O_NOCACHE},
		{"device", required_argument, NULL, O_DEVICE},
		{"precision", required_argument, NULL, O_PRECISION},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL, *device = NULL, *precision = NULL;
	const struct backend *be;
	int ch, threads = 0, max_len = -1;

	threads_passive(argv);
	setprogname(argv[0]);
	sopt.alpha = 1.0;
	sopt.temperature = 1.0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":b:m:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b': maxB = estrtonum(optarg, 1, 4096, "--batch"); break;
		case 'm': path = optarg; break;
		case O_FORCE: force = 1; break;
		case O_IMAGES: from_images = 1; break;
		case O_BEAM: sopt.beam = estrtonum(optarg, 1, SEARCH_MAX_BEAM, "--beam"); break;
		case O_FORMAT: format = estrchoice(optarg, formats, 3, "--format"); break;
		case O_ALPHA: sopt.alpha = estrtod(optarg, 0, 10, "--length-penalty"); break;
		case O_MAXLEN: max_len = estrtonum(optarg, 0, 1 << 20, "--max-len"); break;
		case O_REFS: refs_path = optarg; break;
		case O_SEED: seed = estrtonum(optarg, 0, INT64_MAX, "--seed"); break;
		case O_TEMP:
			sopt.temperature = estrtod(optarg, 0, 1e6, "--temperature");
			if (sopt.temperature <= 0)
				uprintf("--temperature: out of range (0, 1e+06]: %s", optarg);
			sopt.sample = 1;
			break;
		case O_THREADS: threads = estrtonum(optarg, 1, 4096, "--threads"); break;
		case O_TOPK: sopt.top_k = estrtonum(optarg, 1, INT32_MAX, "--top-k"); sopt.sample = 1; break;
		case O_NOCACHE: sopt.no_cache = 1; break;
		case O_DEVICE: device = optarg; break;
		case O_PRECISION: precision = optarg; break;
		case 'h':
			print_usage(stdout, usage_lines);
			fshut(stdout, "stdout");
			return EXIT_OK;
		default: usage_option(argv, ch, usage_lines);
		}
	}
	if (!path)
		uprintf("no model: give the checkpoint with -m");
	if (sopt.beam && sopt.sample)
		uprintf("--beam and sampling (--temperature, --top-k) do not go together");
	be = backend_for_options(device, precision);
	if (!threads)
		threads = threads_available();
	threads_set(threads);
	signal(SIGPIPE, SIG_IGN);

	load(path, be);
	if (max_len > model->cfg.dec_len - 1)
		uprintf("--max-len: the model has %d decoder positions, so %d words at most",
		    model->cfg.dec_len, model->cfg.dec_len - 1);
	sopt.max_len = max_len >= 0 ? max_len : model->cfg.dec_len - 1;
	if (!maxB)
		maxB = default_batch(be != &backend_cpu);
	model_reserve(model, search_rows(&sopt, maxB),
	    MODEL_DECODER | (from_images ? MODEL_ENCODER : 0));
	search = search_new(model, maxB, &sopt);
	items = ecalloc(maxB, sizeof *items);
	seeds = ecalloc(maxB, sizeof *seeds);
	caps = ecalloc(maxB, sizeof *caps);
	if (from_images)
		images = ereallocarray(NULL, (size_t)maxB * S * S, 3);
	if (!from_images || sopt.no_cache)
		embed = ereallocarray(NULL, (size_t)maxB * N * D, sizeof *embed);
	if (refs_path && !(refs = fopen(refs_path, "w")))
		eprintf("open %s:", refs_path);
	progress_init(&prog, "images", 0);

	each_input(argc, argv, optind, run);
	decode_batch();
	progress_end(&prog);
	if (format == FMT_COCO)
		put(&out, ncoco ? "]\n" : "[]\n");
	flush_out();
	if (refs)
		fshut(refs, refs_path);
	fshut(stdout, "stdout");
	search_free(search);
	vocab_free(vocab);
	model_free(model);
	free(items);
	free(seeds);
	free(caps);
	free(images);
	free(embed);
	buf_free(&out);
	buf_free(&text);
	return EXIT_OK;
}
