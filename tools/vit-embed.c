/* vit-embed: the ViT encoder over a record stream: records with an image in,
 * records with its patch embeddings out (man 1 vit-embed).
 *
 * Records are read into a batch, the batch goes through the encoder at once,
 * and the records are written back in input order, so memory is bounded by the
 * batch whatever the length of the stream. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "half.h"
#include "model.h"
#include "progress.h"
#include "stream.h"
#include "threads.h"
#include "util.h"

static const char *const usage_lines[] = {
	"vit-embed [--keep-image] [-b batch] [--device dev] [--dtype type]",
	"[--precision p] [--threads n] -m model [file ...]",
	NULL,
};

static struct model *model;
static char fingerprint[17];
static int keep_image, out_dtype = DT_F32, S, N, D;
static const char *const dtype_names[] = {"f32", "f16", "bf16"};
static const int dtypes[] = {DT_F32, DT_F16, DT_BF16};
static struct progress prog;
static uint64_t nimages;

/* The batch: records as read, their images side by side, the embeddings. */
static struct record *recs;
static uint8_t *images;
static float *embed;
static int maxB, nb;

static void
write_failed(void)
{
	/* a reader that stopped early (| head) is a normal end, as for any Unix tool */
	if (errno == EPIPE)
		exit(EXIT_OK);
	eprintf("write stdout:");
}

static void
flush_batch(void)
{
	const int64_t shape[2] = {N, D};
	const size_t per = (size_t)N * D;
	struct tensor *t;
	int i;

	if (nb == 0)
		return;
	if (model_encode(model, images, nb, embed) != 0)
		eprintf("encoder: %s", model->err);
	for (i = 0; i < nb; i++) {
		struct record *rec = &recs[i];

		if (!keep_image)
			record_drop(rec, "image");
		t = record_put(rec, "embed", out_dtype, 2, shape, NULL);
		f32_to_half(t->data, embed + i * per, out_dtype, per);
		record_set_meta(rec, "encoder", fingerprint);
		if (record_write(stdout, rec) != 0)
			write_failed();
	}
	if (fflush(stdout) != 0)
		write_failed();
	nimages += nb;
	nb = 0;
	progress_update(&prog, nimages, NULL);
}

static void
run(FILE *fp, const char *name)
{
	struct reader r;
	struct tensor *t;
	char shape[128];
	int rc;

	reader_init(&r, fp, name);
	while ((rc = record_read(&r, &recs[nb])) > 0) {
		uint64_t index = r.index - 1;

		if (!(t = record_tensor(&recs[nb], "image")))
			eprintf("%s:record %" PRIu64 ": no image tensor: make the records with "
			    "imgshard first", name, index);
		if (t->dtype == DT_U8 && t->ndim == 3 && t->shape[2] == 3 &&
		    (t->shape[0] != S || t->shape[1] != S))
			eprintf("%s:record %" PRIu64 ": the image is %" PRId64 "x%" PRId64 ", the "
			    "model wants %dx%d: make the records with imgshard --size %d", name,
			    index, t->shape[1], t->shape[0], S, S, S);
		if (t->dtype != DT_U8 || t->ndim != 3 || t->shape[2] != 3) {
			tensor_shape_text(shape, sizeof shape, t);
			eprintf("%s:record %" PRIu64 ": image is %s, expected U8[%d,%d,3]", name,
			    index, shape, S, S);
		}
		memcpy(images + (size_t)nb * t->nbytes, t->data, t->nbytes);
		if (++nb == maxB)
			flush_batch();
	}
	if (rc < 0)
		eprintf("%s", r.err);
}

/* A batch that keeps the cores busy and its memory (activations, images and
 * records) within an eighth of the machine's, at most 1 GiB; 64 at most. A GPU
 * wants large batches to be busy: 256, with the activations within 8 GiB of
 * its memory and the images and embeddings within the host's budget. */
static int
default_batch(int threads, int gpu)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	double budget = pages > 0 && psize > 0 ? (double)pages * psize / 8 : 1 << 30;
	double acts, host;
	int B;

	if (budget > (double)(1 << 30))
		budget = 1 << 30;
	model_reserve(model, 1, MODEL_ENCODER);
	acts = model->nacts * 4.0;
	host = 2.0 * S * S * 3 + 2.0 * N * D * 4;
	if (gpu) {
		B = (int)fmin(8.0 * (1 << 30) / acts, budget / host);
		return B > 256 ? 256 : B < 1 ? 1 : B;
	}
	B = (int)(budget / (acts + host));
	if (B > 64)
		B = 64;
	if (B > 8 * threads && B > 16)
		B = 8 * threads > 16 ? 8 * threads : 16;
	return B < 1 ? 1 : B;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{"batch", required_argument, NULL, 'b'},
		{"model", required_argument, NULL, 'm'},
		{"dtype", required_argument, NULL, 'D'},
		{"keep-image", no_argument, NULL, 'K'},
		{"device", required_argument, NULL, 'G'},
		{"precision", required_argument, NULL, 'P'},
		{"threads", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL, *device = NULL, *precision = NULL;
	const struct backend *be;
	char err[1024];
	int ch, threads = 0, i;

	threads_passive(argv);
	setprogname(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":b:m:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b': maxB = estrtonum(optarg, 1, 4096, "--batch"); break;
		case 'm': path = optarg; break;
		case 'D': out_dtype = dtypes[estrchoice(optarg, dtype_names, 3, "--dtype")]; break;
		case 'K': keep_image = 1; break;
		case 'G': device = optarg; break;
		case 'P': precision = optarg; break;
		case 'T': threads = estrtonum(optarg, 1, 4096, "--threads"); break;
		case 'h':
			print_usage(stdout, usage_lines);
			fshut(stdout, "stdout");
			return EXIT_OK;
		default: usage_option(argv, ch, usage_lines);
		}
	}
	if (!path)
		uprintf("no model: give the checkpoint with -m");
	if (isatty(STDOUT_FILENO))
		uprintf("will not write records to a terminal: use a pipe or redirect");
	be = backend_for_options(device, precision);
	if (!threads)
		threads = threads_available();
	threads_set(threads);
	signal(SIGPIPE, SIG_IGN);

	if (!(model = model_load(path, be, NULL, err, sizeof err)))
		eprintf("%s", err);
	S = model->cfg.image;
	N = config_enc_len(&model->cfg);
	D = model->cfg.dim;
	model_encoder_fingerprint(model, fingerprint);
	if (!maxB)
		maxB = default_batch(threads, be != &backend_cpu);
	model_reserve(model, maxB, MODEL_ENCODER);
	recs = ecalloc(maxB, sizeof *recs);
	images = ereallocarray(NULL, (size_t)maxB * S * S, 3);
	embed = ereallocarray(NULL, (size_t)maxB * N * D, sizeof *embed);
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	progress_init(&prog, "images", 0);

	each_input(argc, argv, optind, run);
	flush_batch();
	progress_end(&prog);
	if (fflush(stdout) != 0)
		write_failed();
	fshut(stdout, "stdout");
	for (i = 0; i < maxB; i++)
		record_free(&recs[i]);
	free(recs);
	free(images);
	free(embed);
	model_free(model);
	return EXIT_OK;
}
