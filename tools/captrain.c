/* captrain: train the captioning model on record shards (man 1 captrain).
 *
 * One process, or one per rank under mpirun (dist.h): every rank holds the
 * whole model and its share of the shards, takes the same steps, and adds its
 * gradients into the others' with one all-reduce per step; rank 0 alone writes
 * the checkpoint, its state file and the log. On GPUs (--device cuda) each rank
 * takes the GPU of its local rank, and NCCL sums the gradients layer by layer
 * while the backward goes on (dist_nccl.h).
 *
 * What every rank would find alike (options, config, vocabulary, checkpoints,
 * the shard list) is checked before MPI starts, each rank exiting on its own
 * with the same message, printed by rank 0; what differs by rank (its shards)
 * is checked after, and the ranks agree on the outcome before any training. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include "checkpoint.h"
#include "config.h"
#include "dist.h"
#include "dist_nccl.h"
#include "model.h"
#include "progress.h"
#include "schedule.h"
#include "stream.h"
#include "train_data.h"
#include "util.h"
#include "vocab.h"

static const char *const usage_lines[] = {
	"captrain [--frozen-encoder] [--no-shuffle] [--resume] [-c config] [-v vocab]",
	"[--batch n] [--clip x] [--device cpu | cuda] [--epochs n | --steps n]",
	"[--init model] [--log file] [--lr x] [--min-lr x] [--pairs all | one]",
	"[--precision fp32 | bf16] [--save-every n] [--seed s] [--stop-at step]",
	"[--threads n] [--val pattern] [--warmup n] [--weight-decay x]",
	"-o model --train pattern [file ...]",
	NULL,
};

#define BETA1 0.9
#define BETA2 0.999
#define ADAM_EPS 1e-8
#define STATE_FORMAT "vitcap-train-state 1"

/* The command line; a negative or NAN value is an option not given, which a
 * resumed run takes from the state file. */
static struct {
	const char *config, *vocab, *output, *init, *log;
	const char *device, *precision;        /* NULL: cpu, the device's default */
	char **train, **val;
	size_t ntrain, nval;
	long epochs, steps, batch, warmup, save_every, stop_at;
	double lr, min_lr, wd, clip;
	long long seed;
	int pairs, shuffle, frozen, resume, threads;
} opt = {
	.epochs = -1, .steps = -1, .batch = -1, .warmup = -1, .lr = NAN, .min_lr = NAN,
	.wd = NAN, .clip = NAN, .seed = -1, .pairs = -1, .shuffle = -1, .frozen = -1,
};

/* The run: its hyperparameters and where it stands. What the state file holds. */
struct run {
	long step;              /* steps done */
	long total;             /* steps of the whole run */
	long epoch_steps;       /* steps per epoch */
	long batch;
	double npairs;          /* pairs per epoch over all ranks */
	struct schedule sched;
	double wd, clip;
	uint64_t seed;
	int pairs, shuffle, frozen, world;
	char encoder[17];       /* the encoder that embeddings must come from */
};

static volatile sig_atomic_t stop_signal;

/* The backend every model is made on (--device, --precision). */
static const struct backend *be = &backend_cpu;

/* How the ranks' gradients are summed. */
static enum {
	SUM_NONE,               /* one process */
	SUM_MPI,                /* MPI_Allreduce over the buffer, host memory (the CPU) */
	SUM_MPI_HOST,           /* GPU gradients through host memory (VITCAP_ALLREDUCE=mpi) */
	SUM_NCCL,               /* NCCL on the GPU, overlapping the backward */
} sum_mode;

/* What is live when an error ends the program stays reachable from here, so
 * that LeakSanitizer does not take it for a leak. */
static struct {
	char *state_file;       /* beside -o */
	char *vocab_text;       /* of --vocab */
	struct record ckpt;     /* the checkpoint read */
	struct model *m;
	char **mine;            /* this rank's shards */
	float *sum_host;        /* SUM_MPI_HOST's copy of the gradients */
} held;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

/* ---- setup shared by every rank ------------------------------------------------- */

static char *
state_path(const char *model)
{
	static const char suffix[] = ".safetensors";
	size_t n = strlen(model), k = sizeof suffix - 1;
	char *s = emalloc(n + 32);

	if (n > k && strcmp(model + n - k, suffix) == 0)
		n -= k;
	snprintf(s, n + 32, "%.*s.state.safetensors", (int)n, model);
	return s;
}

/* Names the first hyperparameter in which a and b differ ("dim 64, but --config
 * tiny has 192", b being what label names), in the encoder's alone with
 * enc_only; returns 0 when none does. */
static int
config_diff(const struct config *a, const struct config *b, int enc_only,
    const char *label, char *what, size_t n)
{
	const struct {
		const char *key;
		int x, y, enc;
	} ints[] = {
		{"image", a->image, b->image, 1}, {"patch", a->patch, b->patch, 1},
		{"dim", a->dim, b->dim, 1}, {"heads", a->heads, b->heads, 1},
		{"enc_layers", a->enc_layers, b->enc_layers, 1},
		{"mlp_ratio", a->mlp_ratio, b->mlp_ratio, 1},
		{"cls_token", a->cls_token, b->cls_token, 1}, {"gelu", a->gelu, b->gelu, 1},
		{"dec_layers", a->dec_layers, b->dec_layers, 0},
		{"dec_len", a->dec_len, b->dec_len, 0}, {"vocab", a->vocab, b->vocab, 0},
	};
	size_t i;

	for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		if ((ints[i].enc || !enc_only) && ints[i].x != ints[i].y) {
			snprintf(what, n, "%s %d, but %s has %d", ints[i].key, ints[i].x, label,
			    ints[i].y);
			return 1;
		}
	}
	if (a->ln_eps != b->ln_eps) {
		snprintf(what, n, "ln_eps %g, but %s has %g", a->ln_eps, label, b->ln_eps);
		return 1;
	}
	for (i = 0; i < 3; i++) {
		if (a->mean[i] != b->mean[i] || a->std[i] != b->std[i]) {
			snprintf(what, n, "mean and std differ from %s's", label);
			return 1;
		}
	}
	return 0;
}

static void
read_vocab(const char *path, char **text, int *size)
{
	char err[512];
	size_t len;
	struct vocab *v;

	*text = readfile(path, &len);
	if (strlen(*text) != len)
		eprintf("%s: a NUL byte: not a vocabulary file", path);
	if (!(v = vocab_parse(*text, len, err, sizeof err)))
		eprintf("%s:%s", path, err);
	*size = (int)vocab_size(v);
	vocab_free(v);
}

static void
upload_tensors(struct model *m, const struct record *rec, const struct param_table *t,
    int encoder_only)
{
	int i, k;

	for (i = 0; i < m->tab.n; i++) {
		const struct param *e = &m->tab.v[i];

		if (encoder_only && !(e->flags & PARAM_ENCODER))
			continue;
		k = param_find(t, e->name);
		m->be->upload(m->params + e->offset, rec->t[k].data, rec->t[k].nbytes);
	}
}

static const char *
meta_or(const struct record *rec, const char *key, const char *def)
{
	const char *s = record_meta(rec, key);

	return s ? s : def;
}

static int
meta_long(const struct record *rec, const char *key, long *v)
{
	const char *s = record_meta(rec, key);
	char *end;

	if (!s)
		return -1;
	errno = 0;
	*v = strtol(s, &end, 10);
	return end == s || *end || errno || *v < 0 ? -1 : 0;
}

static int
meta_double(const struct record *rec, const char *key, double *v)
{
	const char *s = record_meta(rec, key);
	char *end;

	if (!s)
		return -1;
	*v = strtod(s, &end);
	return end == s || *end || !isfinite(*v) ? -1 : 0;
}

/* The model to train: the checkpoint of -o to resume, the --init checkpoint's
 * encoder (and decoder, when it fits), or a fresh one from --config. */
static struct model *
setup_model(char **vocab, struct record *state, long *ckpt_step, char encoder[17])
{
	struct record *rec = &held.ckpt;
	struct param_table t;
	struct config c, want, c0;
	struct model *m;
	char err[1024], what[256], label[256], *vtext;
	int vsize = 0, same_decoder;

	if (opt.vocab)
		read_vocab(opt.vocab, &held.vocab_text, &vsize);
	vtext = held.vocab_text;
	snprintf(label, sizeof label, "--config %s", opt.config ? opt.config : "");
	if (opt.config && config_load(&want, opt.config, err, sizeof err) != 0) {
		if (access(opt.config, F_OK) == 0)
			eprintf("%s", err);
		uprintf("--config: %s", err);
	}
	if (opt.config && opt.vocab) {
		if (want.vocab != 0 && want.vocab != vsize)
			eprintf("%s: vocab %d, but %s has %d tokens", opt.config, want.vocab,
			    opt.vocab, vsize);
		want.vocab = vsize;
	}

	if (opt.resume) {
		const char *sp = held.state_file;
		struct reader r;
		FILE *fp;
		int rc;

		if (checkpoint_read(opt.output, rec, &c, &t, err, sizeof err) != 0)
			eprintf("%s", err);
		if (meta_long(rec, "train_step", ckpt_step) != 0)
			eprintf("%s: no __metadata__.train_step: not written by captrain (start "
			    "from it with --init)", opt.output);
		if (opt.config) {
			if (want.vocab == 0)
				want.vocab = c.vocab;
			if (config_diff(&c, &want, 0, label, what, sizeof what))
				eprintf("%s: a checkpoint of another config: %s", opt.output, what);
		}
		*vocab = estrdup(meta_or(rec, "vocab", ""));
		if (vtext && strcmp(vtext, *vocab) != 0)
			eprintf("%s: trained with another vocabulary than %s", opt.output,
			    opt.vocab);
		m = held.m = model_new(&c, be);
		upload_tensors(m, rec, &t, 0);
		param_table_free(&t);
		if (!(fp = fopen(sp, "rb")))
			eprintf("%s: %s (--resume needs the state file written beside the "
			    "checkpoint)", sp, strerror(errno));
		reader_init(&r, fp, sp);
		if ((rc = record_read(&r, state)) <= 0)
			eprintf("%s", rc ? r.err : "empty state file");
		fclose(fp);
		if (strcmp(meta_or(state, "format", ""), STATE_FORMAT) != 0)
			eprintf("%s: not a captrain state file", sp);
		snprintf(encoder, 17, "%s", meta_or(state, "embed_encoder", ""));
	} else if (opt.init) {
		if (checkpoint_read(opt.init, rec, &c0, &t, err, sizeof err) != 0)
			eprintf("%s", err);
		c = opt.config ? want : c0;
		*vocab = vtext ? estrdup(vtext) : estrdup(meta_or(rec, "vocab", ""));
		if (vtext)
			c.vocab = vsize;
		if (opt.config && config_diff(&c0, &c, 1, label, what, sizeof what))
			eprintf("%s: another encoder: %s", opt.init, what);
		/* a decoder for the same vocabulary carries over; else a fresh one */
		same_decoder = !config_diff(&c0, &c, 0, label, what, sizeof what) &&
		    strcmp(*vocab, meta_or(rec, "vocab", "")) == 0;
		m = held.m = model_new(&c, be);
		model_init(m, opt.seed >= 0 ? (uint64_t)opt.seed : 1);
		upload_tensors(m, rec, &t, !same_decoder);
		/* embeddings made with the --init model carry its fingerprint, which
		 * covers its whole config */
		if (same_decoder) {
			model_encoder_fingerprint(m, encoder);
		} else {
			struct model *m0 = model_new(&c0, be);

			upload_tensors(m0, rec, &t, 1);
			model_encoder_fingerprint(m0, encoder);
			model_free(m0);
		}
		param_table_free(&t);
	} else {
		if (!opt.config)
			uprintf("no model: give --config (or --init, or --resume)");
		if (!opt.vocab)
			uprintf("no vocabulary: give --vocab");
		c = want;
		*vocab = estrdup(vtext);
		m = held.m = model_new(&c, be);
		model_init(m, opt.seed >= 0 ? (uint64_t)opt.seed : 1);
	}
	free(held.vocab_text);
	held.vocab_text = NULL;
	record_free(rec);
	return m;
}

static void
expand(char **patterns, size_t npat, char ***files, size_t *n)
{
	char err[1024];
	size_t i;

	for (i = 0; i < npat; i++)
		if (data_glob(patterns[i], files, n, err, sizeof err) != 0)
			eprintf("%s", err);
	data_sort_unique(*files, n);
}

static int
default_threads(void)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int n = 0, local = dist_env_local_size();
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = online > 0 ? (int)online : 1;
	/* ranks that mpirun did not bind share the machine's cores */
	if (local > 1 && n >= online)
		n = (int)(online / local);
	return n < 1 ? 1 : n;
}

/* ---- the state file ---------------------------------------------------------------- */

static void
set_meta_long(struct record *rec, const char *key, long v)
{
	char s[32];

	snprintf(s, sizeof s, "%ld", v);
	record_set_meta(rec, key, s);
}

static void
set_meta_double(struct record *rec, const char *key, double v)
{
	char s[40];

	snprintf(s, sizeof s, "%.17g", v);
	record_set_meta(rec, key, s);
}

/* Hyperparameters not given on the command line come from the state; those that
 * decide the order of the data must not change. */
static void
restore_run(struct run *run, const struct record *st, const char *path, long ckpt_step)
{
	long v, world, frozen, shuffle;
	double x;
	const char *pairs = record_meta(st, "pairs");

	if (meta_long(st, "step", &run->step) != 0 || meta_long(st, "total_steps", &run->total) ||
	    meta_long(st, "warmup", &run->sched.warmup) ||
	    meta_double(st, "lr", &run->sched.lr) || meta_double(st, "min_lr", &run->sched.min_lr) ||
	    meta_double(st, "weight_decay", &run->wd) || meta_double(st, "clip", &run->clip) ||
	    meta_long(st, "batch", &v) || meta_long(st, "world", &world) ||
	    meta_long(st, "frozen_encoder", &frozen) || meta_double(st, "seed", &x) ||
	    !pairs || meta_long(st, "shuffle", &shuffle) ||
	    meta_long(st, "steps_per_epoch", &run->epoch_steps) ||
	    meta_double(st, "pairs_per_epoch", &run->npairs))
		eprintf("%s: a field of __metadata__ is missing or bad", path);
	run->shuffle = shuffle != 0;
	if (run->step != ckpt_step)
		eprintf("%s: from step %ld, but %s is from step %ld: the last save was cut short "
		    "(start again from the checkpoint with --init)", path, run->step, opt.output,
		    ckpt_step);
	if (opt.batch >= 0 && opt.batch != v)
		eprintf("%s: a run of --batch %ld, not %ld", path, v, opt.batch);
	run->batch = v;
	if (world != dist_env_size())
		eprintf("%s: a run of %ld processes, not %d (the data each one reads would "
		    "change)", path, world, dist_env_size());
	run->world = (int)world;
	if (opt.frozen == 1 && !frozen)
		eprintf("%s: a run that trains the encoder: no --frozen-encoder", path);
	run->frozen = (int)frozen;
	if (opt.seed >= 0 && (double)opt.seed != x)
		eprintf("%s: a run of --seed %.0f, not %lld", path, x, opt.seed);
	run->seed = (uint64_t)x;
	run->pairs = strcmp(pairs, "one") == 0 ? PAIRS_ONE : PAIRS_ALL;
	if (opt.pairs >= 0 && opt.pairs != run->pairs)
		eprintf("%s: a run of --pairs %s", path, pairs);
	if (opt.shuffle == 0 && run->shuffle)
		eprintf("%s: a run with shuffling: no --no-shuffle", path);
	if (!isnan(opt.lr))
		run->sched.lr = opt.lr;
	if (!isnan(opt.min_lr))
		run->sched.min_lr = opt.min_lr;
	else if (!isnan(opt.lr))
		run->sched.min_lr = opt.lr / 10;
	if (opt.warmup >= 0)
		run->sched.warmup = opt.warmup;
	if (!isnan(opt.wd))
		run->wd = opt.wd;
	if (!isnan(opt.clip))
		run->clip = opt.clip;
}

static void
state_record(struct record *rec, struct model *m, const struct run *run)
{
	record_clear(rec);
	record_set_meta(rec, "format", STATE_FORMAT);
	model_optimizer_put(m, rec);
	set_meta_long(rec, "step", run->step);
	set_meta_long(rec, "epoch", run->step / run->epoch_steps);
	set_meta_long(rec, "position", run->step % run->epoch_steps);
	set_meta_long(rec, "steps_per_epoch", run->epoch_steps);
	set_meta_long(rec, "total_steps", run->total);
	set_meta_long(rec, "warmup", run->sched.warmup);
	set_meta_double(rec, "lr", run->sched.lr);
	set_meta_double(rec, "min_lr", run->sched.min_lr);
	set_meta_double(rec, "weight_decay", run->wd);
	set_meta_double(rec, "clip", run->clip);
	set_meta_long(rec, "batch", run->batch);
	set_meta_long(rec, "world", run->world);
	set_meta_long(rec, "frozen_encoder", run->frozen);
	set_meta_double(rec, "pairs_per_epoch", run->npairs);
	set_meta_double(rec, "seed", (double)run->seed);
	record_set_meta(rec, "pairs", run->pairs == PAIRS_ONE ? "one" : "all");
	set_meta_long(rec, "shuffle", run->shuffle);
	/* the data order is a function of these alone (train_data_epoch) */
	record_set_meta(rec, "rng", "splitmix64(seed, epoch, rank)");
	record_set_meta(rec, "embed_encoder", run->encoder);
}

/* Rank 0 writes the checkpoint, then the state; a crash between the two leaves a
 * newer checkpoint than state, which --resume refuses while the checkpoint
 * stays usable. Every rank learns the outcome. */
static int
save(struct model *m, const char *vocab, const struct run *run)
{
	struct record rec = {0};
	char err[1024] = "", fp[17];
	const char *sp = held.state_file;
	int i, ok = 1;

	if (dist_rank() == 0) {
		checkpoint_record(&rec, &m->cfg, &m->tab, vocab);
		for (i = 0; i < m->tab.n; i++)
			m->be->download(rec.t[i].data, m->params + m->tab.v[i].offset,
			    rec.t[i].nbytes);
		set_meta_long(&rec, "train_step", run->step);
		model_encoder_fingerprint(m, fp);
		record_set_meta(&rec, "encoder", fp);
		if (record_save(opt.output, &rec, err, sizeof err) != 0)
			ok = 0;
		if (ok) {
			state_record(&rec, m, run);
			if (record_save(sp, &rec, err, sizeof err) != 0)
				ok = 0;
		}
		if (!ok)
			weprintf("%s", err);
		record_free(&rec);
	}
	dist_bcast(&ok, sizeof ok);
	return ok;
}

/* ---- training ------------------------------------------------------------------------ */

static FILE *logfp;

static void
log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_line(const char *fmt, ...)
{
	va_list ap;

	if (!logfp)
		return;
	va_start(ap, fmt);
	vfprintf(logfp, fmt, ap);
	va_end(ap);
	/* rank 0 alone writes: the others must not wait for it in vain */
	if (fflush(logfp) != 0) {
		weprintf("write %s:", opt.log);
		dist_abort(EXIT_DATA);
	}
}

/* The gradients being trained, summed over the ranks, after model_backward:
 * NCCL's sums, started during the backward (dist_nccl_ready), are waited for. */
static void
allreduce_grads(struct model *m)
{
	size_t n;
	float *g = model_trained_grads(m, &n);

	switch (sum_mode) {
	case SUM_NONE:
		break;
	case SUM_MPI:
		dist_reduce_float(g, n, DIST_SUM);
		break;
	case SUM_MPI_HOST:
		m->be->download(held.sum_host, g, n * sizeof *held.sum_host);
		dist_reduce_float(held.sum_host, n, DIST_SUM);
		m->be->upload(g, held.sum_host, n * sizeof *held.sum_host);
		break;
	case SUM_NCCL:
		dist_nccl_wait();
		m->be->written(g);
		break;
	}
}

/* Chooses how the gradients are summed, once MPI has started and m is
 * reserved for training; on GPUs, NCCL from here on (the ranks agree that it
 * started). */
static void
setup_sum(struct model *m)
{
	const char *how = getenv("VITCAP_ALLREDUCE");
	char err[1024];
	size_t n;
	int ok;

	if (!getenv("OMPI_COMM_WORLD_SIZE") || (dist_size() == 1 && be == &backend_cpu))
		sum_mode = SUM_NONE;
	else if (be == &backend_cpu)
		sum_mode = SUM_MPI;
	else if (how && strcmp(how, "mpi") == 0)
		sum_mode = dist_size() == 1 ? SUM_NONE : SUM_MPI_HOST;
	else
		sum_mode = SUM_NCCL;
	/* the gradients' size is fixed once reserved: one buffer serves every step */
	if (sum_mode == SUM_MPI_HOST) {
		model_trained_grads(m, &n);
		held.sum_host = ereallocarray(NULL, n, sizeof *held.sum_host);
	}
	if (sum_mode != SUM_NCCL)
		return;
	ok = dist_nccl_init(be->stream(), err, sizeof err) == 0;
	if (!ok)
		weprintf("%s", err);
	if (!dist_all(ok))
		exit(EXIT_DATA);
	m->grad_ready = dist_nccl_ready;
	m->grad_ready_arg = NULL;
}

/* The mean loss over every rank's validation captions, and their token count. */
static void
validate(struct model *m, const struct train_data *v, int B, double out[2])
{
	struct batch b = {0};
	uint32_t *order = emalloc((v->nrows ? v->nrows : 1) * sizeof *order);
	double sum[2] = {0, 0};
	size_t i;
	float loss;
	int n;

	for (i = 0; i < v->nrows; i++)
		order[i] = (uint32_t)i;
	for (i = 0; i < v->nrows; i += n) {
		n = v->nrows - i < (size_t)B ? (int)(v->nrows - i) : B;
		batch_make(&b, v, order + i, n);
		if (model_forward(m, v->kind == DATA_IMAGE ? b.samples : NULL,
		    v->kind == DATA_EMBED ? (float *)b.samples : NULL, b.ids, b.targets, n, b.T,
		    &loss) != 0)
			dist_abort(EXIT_DATA);
		sum[0] += (double)loss * b.ntargets;
		sum[1] += b.ntargets;
	}
	dist_reduce_double(sum, 2, DIST_SUM);
	out[0] = sum[1] > 0 ? sum[0] / sum[1] : 0;
	out[1] = sum[1];
	batch_free(&b);
	free(order);
}

/* Loads this rank's shards; the ranks agree on success before going on. */
static void
load_share(struct train_data *d, char **files, size_t n, const struct config *c, int kind,
    const char *encoder)
{
	char err[1024];
	int ok;

	ok = train_data_load(d, files, n, c, kind, encoder, err, sizeof err) == 0;
	if (!ok)
		weprintf("%s", err);
	if (!dist_all(ok))
		exit(EXIT_DATA);
}

static int
train(struct model *m, const char *vocab, struct run *run, struct train_data *data,
    struct train_data *val)
{
	const struct config *c = &m->cfg;
	const int rank = dist_rank(), B = (int)run->batch;
	unsigned flops_flags = MODEL_DECODER | MODEL_TRAIN |
	    (data->kind == DATA_IMAGE ? MODEL_ENCODER : 0) |
	    (run->frozen ? MODEL_FROZEN_ENCODER : 0);
	size_t npairs = train_data_pairs(data, run->pairs), have = 0;
	uint32_t *order = emalloc((npairs ? npairs : 1) * sizeof *order);
	const long start = run->step;
	long last_saved = start, epoch = -1, pos;
	double t_start = now_seconds(), t0, dt, red[4], lsum, loss_g, norm, lr, vl[2];
	struct progress prog = {0};
	struct batch b = {0};
	char extra[96];
	float loss;
	int n, status = 0, interrupted = 0;

	if (rank == 0)
		progress_init(&prog, "steps", (uint64_t)(run->total - start));
	while (run->step < run->total && !(opt.stop_at > 0 && run->step >= opt.stop_at)) {
		t0 = now_seconds();
		if (run->step / run->epoch_steps != epoch) {
			epoch = run->step / run->epoch_steps;
			have = train_data_epoch(data, order, run->seed, epoch, rank, run->pairs,
			    run->shuffle);
		}
		pos = run->step % run->epoch_steps;
		n = have - (size_t)pos * B < (size_t)B ? (int)(have - (size_t)pos * B) : B;
		batch_make(&b, data, order + pos * B, n);

		/* counts over every rank, and whether any rank was asked to stop */
		red[0] = b.ntargets;
		red[1] = n;
		red[2] = model_flops(c, flops_flags, b.T) * n;
		red[3] = stop_signal;
		dist_reduce_double(red, 4, DIST_SUM);
		if (red[3] != 0) {
			interrupted = 1;
			break;
		}

		if (model_forward(m, data->kind == DATA_IMAGE ? b.samples : NULL,
		    data->kind == DATA_EMBED ? (float *)b.samples : NULL, b.ids, b.targets, n,
		    b.T, &loss) != 0) {
			weprintf("step %ld: %s", run->step + 1, m->err);
			dist_abort(EXIT_DATA);
		}
		lsum = (double)loss * b.ntargets;
		dist_reduce_double(&lsum, 1, DIST_SUM);
		loss_g = lsum / red[0];
		if (!isfinite(loss_g)) {
			if (rank == 0)
				weprintf("step %ld: loss is %g: stopping (%s %s)", run->step + 1,
				    loss_g, opt.output, last_saved > 0 ?
				    "holds the last good checkpoint" : "was not written");
			status = EXIT_DATA;
			break;
		}
		model_zero_grad(m);
		model_backward(m, red[0]);
		allreduce_grads(m);
		norm = run->clip > 0 ? model_clip_grad(m, run->clip) : model_grad_norm(m);
		if (!isfinite(norm)) {
			if (rank == 0)
				weprintf("step %ld: gradient norm is %g: stopping (%s %s)",
				    run->step + 1, norm, opt.output, last_saved > 0 ?
				    "holds the last good checkpoint" : "was not written");
			status = EXIT_DATA;
			break;
		}
		lr = schedule_lr(&run->sched, run->step + 1);
		model_adamw(m, lr, BETA1, BETA2, ADAM_EPS, run->wd);
		m->be->sync();
		run->step++;
		dt = now_seconds() - t0;

		if (rank == 0) {
			log_line("{\"step\":%ld,\"epoch\":%ld,\"loss\":%.9g,\"lr\":%.9g,"
			    "\"grad_norm\":%.9g,\"images_per_s\":%.2f,\"tokens_per_s\":%.1f,"
			    "\"gflops\":%.2f,\"time\":%.3f}\n", run->step, epoch + 1, loss_g, lr,
			    norm, red[1] / dt, red[0] / dt, red[2] / dt * 1e-9,
			    now_seconds() - t_start);
			snprintf(extra, sizeof extra, "step %ld, epoch %ld, loss %.4f", run->step,
			    epoch + 1, loss_g);
			progress_update(&prog, (uint64_t)(run->step - start), extra);
		}
		if (val && (run->step % run->epoch_steps == 0 || run->step == run->total)) {
			validate(m, val, B, vl);
			if (rank == 0)
				log_line("{\"step\":%ld,\"epoch\":%ld,\"val_loss\":%.9g,"
				    "\"val_tokens\":%.0f}\n", run->step, epoch + 1, vl[0], vl[1]);
		}
		if (opt.save_every > 0 && run->step % opt.save_every == 0) {
			if (!save(m, vocab, run)) {
				status = EXIT_DATA;
				break;
			}
			last_saved = run->step;
		}
	}
	if (rank == 0)
		progress_end(&prog);
	if (status == 0 && run->step > last_saved && !save(m, vocab, run))
		status = EXIT_DATA;
	/* the signal may have come to another rank */
	if (status == 0 && interrupted)
		status = 128 + (stop_signal ? stop_signal : SIGTERM);
	batch_free(&b);
	free(order);
	return status;
}

/* ---- main ----------------------------------------------------------------------------- */

static int
pick_pairs(const char *s)
{
	if (strcmp(s, "all") == 0)
		return PAIRS_ALL;
	if (strcmp(s, "one") == 0)
		return PAIRS_ONE;
	uprintf("--pairs: expected all or one: %s", s);
}

static void
parse_args(int argc, char **argv)
{
	enum {
		O_BATCH = 256, O_CLIP, O_DEVICE, O_EPOCHS, O_FROZEN, O_INIT, O_LOG, O_LR,
		O_MIN_LR, O_NO_SHUFFLE, O_PAIRS, O_PRECISION, O_RESUME, O_SAVE_EVERY, O_SEED,
		O_STEPS, O_STOP_AT, O_THREADS, O_TRAIN, O_VAL, O_WARMUP, O_WD,
	};
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"vocab", required_argument, NULL, 'v'},
		{"output", required_argument, NULL, 'o'},
		{"train", required_argument, NULL, O_TRAIN},
		{"val", required_argument, NULL, O_VAL},
		{"batch", required_argument, NULL, O_BATCH},
		{"clip", required_argument, NULL, O_CLIP},
		{"device", required_argument, NULL, O_DEVICE},
		{"epochs", required_argument, NULL, O_EPOCHS},
		{"steps", required_argument, NULL, O_STEPS},
		{"frozen-encoder", no_argument, NULL, O_FROZEN},
		{"init", required_argument, NULL, O_INIT},
		{"log", required_argument, NULL, O_LOG},
		{"lr", required_argument, NULL, O_LR},
		{"min-lr", required_argument, NULL, O_MIN_LR},
		{"no-shuffle", no_argument, NULL, O_NO_SHUFFLE},
		{"pairs", required_argument, NULL, O_PAIRS},
		{"precision", required_argument, NULL, O_PRECISION},
		{"resume", no_argument, NULL, O_RESUME},
		{"save-every", required_argument, NULL, O_SAVE_EVERY},
		{"seed", required_argument, NULL, O_SEED},
		{"stop-at", required_argument, NULL, O_STOP_AT},
		{"threads", required_argument, NULL, O_THREADS},
		{"warmup", required_argument, NULL, O_WARMUP},
		{"weight-decay", required_argument, NULL, O_WD},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	opt.train = ecalloc(argc, sizeof *opt.train);
	opt.val = ecalloc(argc, sizeof *opt.val);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:v:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': opt.config = optarg; break;
		case 'v': opt.vocab = optarg; break;
		case 'o': opt.output = optarg; break;
		case O_TRAIN: opt.train[opt.ntrain++] = optarg; break;
		case O_VAL: opt.val[opt.nval++] = optarg; break;
		case O_BATCH: opt.batch = estrtonum(optarg, 1, 65536, "--batch"); break;
		case O_CLIP: opt.clip = estrtod(optarg, 0, 1e30, "--clip"); break;
		case O_DEVICE: opt.device = optarg; break;
		case O_PRECISION: opt.precision = optarg; break;
		case O_EPOCHS: opt.epochs = estrtonum(optarg, 1, 1L << 40, "--epochs"); break;
		case O_STEPS: opt.steps = estrtonum(optarg, 1, 1L << 40, "--steps"); break;
		case O_FROZEN: opt.frozen = 1; break;
		case O_INIT: opt.init = optarg; break;
		case O_LOG: opt.log = optarg; break;
		case O_LR: opt.lr = estrtod(optarg, 0, 1e30, "--lr"); break;
		case O_MIN_LR: opt.min_lr = estrtod(optarg, 0, 1e30, "--min-lr"); break;
		case O_NO_SHUFFLE: opt.shuffle = 0; break;
		case O_PAIRS: opt.pairs = pick_pairs(optarg); break;
		case O_RESUME: opt.resume = 1; break;
		case O_SAVE_EVERY:
			opt.save_every = estrtonum(optarg, 0, 1L << 40, "--save-every");
			break;
		case O_SEED: opt.seed = estrtonum(optarg, 0, 1LL << 53, "--seed"); break;
		case O_STOP_AT: opt.stop_at = estrtonum(optarg, 1, 1L << 40, "--stop-at"); break;
		case O_THREADS: opt.threads = estrtonum(optarg, 1, 4096, "--threads"); break;
		case O_WARMUP: opt.warmup = estrtonum(optarg, 0, 1L << 40, "--warmup"); break;
		case O_WD: opt.wd = estrtod(optarg, 0, 1e30, "--weight-decay"); break;
		case 'h':
			free(opt.train);
			free(opt.val);
			print_usage(stdout, usage_lines);
			fshut(stdout, "stdout");
			exit(0);
		default: usage_option(argv, ch, usage_lines);
		}
	}
	while (optind < argc)
		opt.train[opt.ntrain++] = argv[optind++];
	if (!opt.output)
		uprintf("no output: give -o model");
	if (opt.ntrain == 0)
		uprintf("no training shards: give --train pattern");
	if (opt.epochs >= 0 && opt.steps >= 0)
		uprintf("--epochs and --steps: give one of them");
	if (opt.frozen == 1 && !opt.init && !opt.resume)
		uprintf("--frozen-encoder needs the encoder from --init model");
	if (!isnan(opt.min_lr) && !isnan(opt.lr) && opt.min_lr > opt.lr)
		uprintf("--min-lr %g is above --lr %g", opt.min_lr, opt.lr);
}

/* The backend of --device and --precision; a rank on GPUs takes the one of its
 * local rank (of those visible, round robin), before the first CUDA call. */
static void
pick_backend(void)
{
	if (opt.device && strcmp(opt.device, "cuda") == 0)
		backend_cuda_select(dist_env_local_rank());
	be = backend_for_options(opt.device, opt.precision);
}

int
main(int argc, char **argv)
{
	const int rank = dist_env_rank(), world = dist_env_size();
	struct record state = {0};
	struct train_data data = {0}, val = {0};
	struct run run = {0};
	struct model *m;
	struct sigaction sa;
	char **train_files = NULL, **val_files = NULL, *vocab = NULL, **mine;
	const char *sp;
	size_t ntf = 0, nvf = 0, i, nmine;
	double cnt[3];
	long ckpt_step = 0;
	int quiet = -1, status, kind;

	setprogname(argv[0]);
	/* what every rank finds alike, only rank 0 says */
	if (rank != 0) {
		quiet = dup(STDERR_FILENO);
		if (!freopen("/dev/null", "w", stderr))
			exit(EXIT_DATA);
	}
	parse_args(argc, argv);
	if (opt.threads == 0)
		opt.threads = default_threads();
	omp_set_num_threads(opt.threads);
	openblas_set_num_threads(opt.threads);
	pick_backend();

	expand(opt.train, opt.ntrain, &train_files, &ntf);
	expand(opt.val, opt.nval, &val_files, &nvf);
	if (ntf < (size_t)world)
		eprintf("%zu training shard%s for %d processes: each process reads whole "
		    "shards, at least one", ntf, ntf == 1 ? "" : "s", world);
	held.state_file = state_path(opt.output);
	m = setup_model(&vocab, &state, &ckpt_step, run.encoder);

	sp = held.state_file;
	if (opt.resume) {
		restore_run(&run, &state, sp, ckpt_step);
	} else {
		run.batch = opt.batch >= 0 ? opt.batch : 32;
		run.sched.lr = !isnan(opt.lr) ? opt.lr : 3e-4;
		run.sched.min_lr = !isnan(opt.min_lr) ? opt.min_lr : run.sched.lr / 10;
		run.wd = !isnan(opt.wd) ? opt.wd : 0.01;
		run.clip = !isnan(opt.clip) ? opt.clip : 1.0;
		run.seed = opt.seed >= 0 ? (uint64_t)opt.seed : 1;
		run.pairs = opt.pairs >= 0 ? opt.pairs : PAIRS_ALL;
		run.shuffle = opt.shuffle != 0;
		run.frozen = opt.frozen == 1;
		run.world = world;
		run.sched.warmup = opt.warmup;
	}
	if (run.sched.min_lr > run.sched.lr)
		uprintf("--min-lr %g is above --lr %g", run.sched.min_lr, run.sched.lr);
	model_reserve(m, (int)run.batch, MODEL_ENCODER | MODEL_DECODER | MODEL_TRAIN |
	    (run.frozen ? MODEL_FROZEN_ENCODER : 0));
	if (opt.resume) {
		char err[512];

		if (model_optimizer_get(m, &state, err, sizeof err) != 0)
			eprintf("%s: %s", sp, err);
	}
	record_free(&state);
	if (!run.encoder[0])
		model_encoder_fingerprint(m, run.encoder);
	if (rank != 0) {
		fflush(stderr);
		dup2(quiet, STDERR_FILENO);
		close(quiet);
	}

	/* from here on each rank reads its own share */
	dist_init(&argc, &argv);
	setup_sum(m);
	mine = held.mine = ereallocarray(NULL, ntf + nvf + 1, sizeof *mine);
	for (nmine = 0, i = rank; i < ntf; i += world)
		mine[nmine++] = train_files[i];
	kind = run.frozen ? DATA_AUTO : DATA_IMAGE;
	load_share(&data, mine, nmine, &m->cfg, kind, run.frozen ? run.encoder : NULL);
	cnt[0] = -data.kind;
	cnt[1] = data.kind;
	dist_reduce_double(cnt, 2, DIST_MAX);
	if (-cnt[0] != cnt[1]) {
		if (rank == 0)
			weprintf("the shards mix records with image and with embed");
		exit(EXIT_DATA);
	}
	if (nvf > 0) {
		for (nmine = 0, i = rank; i < nvf; i += world)
			mine[nmine++] = val_files[i];
		load_share(&val, mine, nmine, &m->cfg, data.kind, run.frozen ? run.encoder : NULL);
	}
	free(mine);

	/* every rank takes as many steps per epoch as the one with the fewest pairs */
	cnt[0] = (double)train_data_pairs(&data, run.pairs);
	cnt[1] = ceil(cnt[0] / run.batch);
	cnt[2] = cnt[0];
	dist_reduce_double(cnt + 1, 1, DIST_MIN);
	dist_reduce_double(cnt + 2, 1, DIST_SUM);
	if (cnt[1] < 1) {
		if (cnt[0] < 1)
			weprintf("%s: no captions in %s", world > 1 ? "a process" : "no pairs",
			    world > 1 ? "its shards" : "the training shards");
		exit(EXIT_DATA);
	}
	if (opt.resume && (run.epoch_steps != (long)cnt[1] || run.npairs != cnt[2])) {
		if (rank == 0)
			weprintf("%s: the training data changed: %.0f pairs in %ld steps per "
			    "epoch, now %.0f in %.0f", sp, run.npairs, run.epoch_steps, cnt[2],
			    cnt[1]);
		exit(EXIT_DATA);
	}
	run.epoch_steps = (long)cnt[1];
	run.npairs = cnt[2];
	if (opt.steps > 0)
		run.total = opt.steps;
	else if (opt.epochs > 0 || !opt.resume)
		run.total = (opt.epochs > 0 ? opt.epochs : 10) * run.epoch_steps;
	if (run.sched.warmup < 0)
		run.sched.warmup = run.total / 20;
	run.sched.total = run.total;

	if (opt.log && rank == 0) {
		if (strcmp(opt.log, "-") == 0)
			logfp = stdout;
		else if (!(logfp = fopen(opt.log, opt.resume ? "a" : "w")))
			eprintf("open %s:", opt.log);
	}
	if (opt.resume && run.step >= run.total) {
		if (rank == 0)
			weprintf("%s: trained for %ld steps already", opt.output, run.step);
		status = 0;
	} else {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESETHAND;     /* a second signal ends it at once */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGUSR1, &sa, NULL);
		status = train(m, vocab, &run, &data, nvf ? &val : NULL);
	}
	if (logfp && logfp != stdout)
		fshut(logfp, opt.log);
	if (rank == 0)
		fshut(stdout, "stdout");
	free(held.state_file);
	train_data_free(&data);
	train_data_free(&val);
	for (i = 0; i < ntf; i++)
		free(train_files[i]);
	for (i = 0; i < nvf; i++)
		free(val_files[i]);
	free(train_files);
	free(val_files);
	free(opt.train);
	free(opt.val);
	free(vocab);
	free(held.sum_host);
	dist_nccl_finish();
	model_free(m);
	dist_finish();
	return status;
}
