/* imgshard: images and their captions to records (man 1 imgshard).
 *
 * The main thread walks the inputs, reads each image's bytes into a slot of a
 * ring, and writes the slots out in input order; worker threads decode and
 * resize the slots in between. Output bytes therefore do not depend on the
 * number of threads, and memory is bounded by the ring, not the data set. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "captions.h"
#include "image.h"
#include "inputs.h"
#include "progress.h"
#include "stream.h"
#include "utf8.h"
#include "util.h"

static const char *const usage_lines[] = {
	"imgshard [-v] [-c captions] [-j jobs] [-o out] [-s size] [--format fmt]",
	"[--keys file] [--max-pixels n] [--resize mode] [--shard-size k | --shards n]",
	"[--split split] [--strict] path ...",
	NULL,
};

#define MAX_ENTRY_BYTES ((size_t)256 << 20)     /* compressed bytes read per image */
#define WINDOW_BYTES ((size_t)512 << 20)        /* compressed bytes waiting at once */
#define KEEP_BYTES ((size_t)16 << 20)           /* a slot keeps a buffer this big */

static int size = 224, resize_mode = RESIZE_SQUASH, strict, verbose;
static uint64_t max_pixels = 100000000;
static struct captions caps;    /* the captions, and one entry for every image seen */
static struct captions keys;    /* --keys: the images to write (entries without captions) */
static int have_keys;

/* ---- decoding ------------------------------------------------------------------ */

struct slot {
	char *name;             /* for messages */
	size_t entry;           /* in caps: the key and captions (an index, as caps grows) */
	struct buf data;        /* the file's bytes */
	struct image img;       /* decoded and resized */
	int done;
	char err[256];          /* nonempty: skipped, and why */
};

static void
decode(struct slot *s)
{
	struct image full = {0};

	if (s->err[0])
		return;
	if (s->data.len == 0) {
		snprintf(s->err, sizeof s->err, "empty file");
		return;
	}
	/* Decoding at a DCT scale no smaller than the output keeps big JPEGs cheap. */
	if (image_decode(s->data.p, s->data.len, resize_mode == RESIZE_PAD ? 0 : size,
	    resize_mode == RESIZE_PAD ? size : 0, max_pixels, &full, s->err, sizeof s->err)) {
		if (!s->err[0])
			snprintf(s->err, sizeof s->err, "cannot decode");
		return;
	}
	image_free(&s->img);
	image_resize(&full, size, resize_mode, &s->img);
	image_free(&full);
}

/* The ring: slots head..tail-1 are in use (counters, taken modulo nslot);
 * take is the next one for a worker. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct slot *slot;
	size_t nslot, head, take, tail, bytes;
	int quit;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER};

static void *
worker(void *arg)
{
	struct slot *s;

	(void)arg;
	pthread_mutex_lock(&q.mu);
	for (;;) {
		while (q.take == q.tail && !q.quit)
			pthread_cond_wait(&q.work, &q.mu);
		if (q.take == q.tail)
			break;
		s = &q.slot[q.take++ % q.nslot];
		pthread_mutex_unlock(&q.mu);
		decode(s);
		pthread_mutex_lock(&q.mu);
		s->done = 1;
		pthread_cond_signal(&q.done);
	}
	pthread_mutex_unlock(&q.mu);
	return NULL;
}

/* ---- output ---------------------------------------------------------------------- */

/* A file is written under a hidden temporary name beside its final one and
 * renamed when complete, so a crash or a kill never leaves a partial shard under
 * a shard's name. The handlers remove the temporary file on the way out. */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t have_tmp;

static struct {
	const char *pattern;    /* NULL: stdout */
	int sharded;            /* pattern has a %d */
	long long shard_size;
	int64_t nshards, total; /* --shards: nshards shards of total records between them */
	int index;              /* the number of the next shard */
	long long count;        /* records in the open file */
	FILE *fp;
	char path[PATH_MAX];
	mode_t mode;
} out;

static void
remove_tmp(void)
{
	if (have_tmp) {
		unlink(tmp_path);
		have_tmp = 0;
	}
}

static void
on_signal(int sig)
{
	remove_tmp();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Checks that p has exactly one conversion, an integer one (%d or %i with
 * flags and a width, like %04d), and no other '%' but "%%". */
static int
count_conversions(const char *p)
{
	int n = 0;

	for (; *p; p++) {
		if (*p != '%')
			continue;
		if (*++p == '%')
			continue;
		p += strspn(p, "-+ #0");
		p += strspn(p, "0123456789");
		if (*p != 'd' && *p != 'i')
			return -1;
		n++;
	}
	return n;
}

/* Creates the folders leading to path, as mkdir -p does. */
static void
make_parents(const char *path)
{
	char dir[PATH_MAX], *p;

	snprintf(dir, sizeof dir, "%s", path);
	for (p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0777) != 0 && errno != EEXIST)
			eprintf("mkdir %s:", dir);
		*p = '/';
	}
}

static void
open_output(void)
{
	const char *slash;
	int fd, n;

	if (out.sharded)
		n = snprintf(out.path, sizeof out.path, out.pattern, out.index);
	else
		n = snprintf(out.path, sizeof out.path, "%s", out.pattern);
	if (n < 0 || (size_t)n >= sizeof out.path)
		eprintf("%s: name too long", out.pattern);
	slash = strrchr(out.path, '/');
	n = slash ? (int)(slash + 1 - out.path) : 0;
	if (snprintf(tmp_path, sizeof tmp_path, "%.*s.%s.XXXXXX", n, out.path, out.path + n) >=
	    (int)sizeof tmp_path)
		eprintf("%s: name too long", out.path);
	if (out.index == 0)
		make_parents(out.path);
	if ((fd = mkstemp(tmp_path)) < 0)
		eprintf("create %s:", out.path);
	have_tmp = 1;
	if (fchmod(fd, out.mode) != 0 || !(out.fp = fdopen(fd, "wb")))
		eprintf("%s:", tmp_path);
	setvbuf(out.fp, NULL, _IOFBF, 1 << 20);
	out.count = 0;
}

static void
sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path + 1) : 1,
	    slash ? path : ".");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void
close_output(void)
{
	if (fflush(out.fp) != 0 || ferror(out.fp) || fsync(fileno(out.fp)) != 0)
		eprintf("write %s:", out.path);
	if (fclose(out.fp) != 0)
		eprintf("write %s:", out.path);
	out.fp = NULL;
	if (rename(tmp_path, out.path) != 0)
		eprintf("rename %s to %s:", tmp_path, out.path);
	have_tmp = 0;
	sync_dir(out.path);
	out.index++;
}

/* The records of shard i: --shard-size, or with --shards the ith of nshards
 * nearly equal parts of the total (sizes differ by one at most). */
static long long
shard_target(int64_t i)
{
	if (!out.nshards)
		return out.shard_size;
	return (i + 1) * out.total / out.nshards - i * out.total / out.nshards;
}

static void
write_record(const struct record *rec)
{
	if (!out.pattern) {
		if (record_write(stdout, rec) != 0)
			eprintf("write stdout:");
		return;
	}
	/* --shards with fewer records than shards: the empty ones come first. */
	while (!out.fp && out.index + 1 < out.nshards && shard_target(out.index) == 0) {
		open_output();
		close_output();
	}
	if (!out.fp)
		open_output();
	if (record_write(out.fp, rec) != 0)
		eprintf("write %s:", out.path);
	if (out.sharded && ++out.count == shard_target(out.index))
		close_output();
}

/* ---- the run ------------------------------------------------------------------------ */

static int have_captions;
static struct record rec;
static struct progress prog;
static uint64_t nimages, nskipped, nuncaptioned;

static void
emit(struct slot *s)
{
	static const char *const key = "__key__";
	int64_t shape[3] = {size, size, 3};
	struct capentry *e;
	char *json;

	if (s->err[0]) {
		progress_end(&prog);
		if (strict)
			eprintf("%s: %s", s->name, s->err);
		weprintf("%s: %s", s->name, s->err);
		nskipped++;
	} else {
		e = &caps.v[s->entry];
		record_clear(&rec);
		record_set_meta(&rec, key, e->key);
		if (e->n) {
			json = captions_json(e);
			record_set_meta(&rec, "captions", json);
			free(json);
		} else {
			nuncaptioned++;
		}
		record_put(&rec, "image", DT_U8, 3, shape, s->img.px);
		write_record(&rec);
		nimages++;
	}
	if (s->data.cap > KEEP_BYTES)
		buf_free(&s->data);
	progress_update(&prog, nimages + nskipped, NULL);
}

/* Waits for the oldest slot, writes it and frees its place in the ring. */
static void
retire(void)
{
	struct slot *s = &q.slot[q.head % q.nslot];

	pthread_mutex_lock(&q.mu);
	while (!s->done)
		pthread_cond_wait(&q.done, &q.mu);
	pthread_mutex_unlock(&q.mu);
	q.bytes -= s->data.len;
	emit(s);
	q.head++;
}

/* Whether the image key is one to write: in the split (whose images alone are
 * in the table) and in --keys. */
static int
wanted(const char *key, int split)
{
	return (split == SPLIT_ALL || captions_find(&caps, key)) &&
	    (!have_keys || captions_find(&keys, key));
}

static int
wanted_count(const char *key, void *arg)
{
	return wanted(key, *(int *)arg);
}

/* --keys: one image a line, a file name whose directory is ignored, as in
 * Flickr8k's Flickr_8k.testImages.txt; blank lines are skipped. */
static void
load_keys(const char *path)
{
	size_t len;
	char *data = readfile(path, &len), *line, *next, *end, *slash;

	for (line = data; *line; line = next) {
		if ((next = strchr(line, '\n')))
			*next++ = '\0';
		else
			next = line + strlen(line);
		end = line + strlen(line);
		while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		slash = strrchr(line, '/');
		if (slash)
			line = slash + 1;
		if (utf8_check(line, strlen(line)) != strlen(line))
			eprintf("%s: a key is not UTF-8", path);
		if (*line)
			captions_entry(&keys, line);
	}
	free(data);
	have_keys = 1;
}

static void
run(char **paths, int npaths, int split, int jobs)
{
	struct inputs *in = inputs_open(paths, npaths);
	pthread_t *th = ereallocarray(NULL, jobs, sizeof *th);
	struct input_entry e;
	struct capentry *ent;
	struct slot *s;
	size_t klen;
	int i, err;

	q.nslot = jobs == 1 ? 1 : 4 * (size_t)jobs;
	q.slot = ecalloc(q.nslot, sizeof *q.slot);
	for (i = 0; jobs > 1 && i < jobs; i++)
		if ((err = pthread_create(&th[i], NULL, worker, NULL)) != 0) {
			errno = err;
			eprintf("pthread_create:");
		}
	while (inputs_next(in, &e)) {
		if (!wanted(e.key, split))
			continue;
		while (q.tail - q.head == q.nslot || (q.tail > q.head && q.bytes > WINDOW_BYTES))
			retire();
		s = &q.slot[q.tail % q.nslot];
		free(s->name);
		s->name = estrdup(e.name);
		s->err[0] = '\0';
		s->done = 0;
		s->data.len = 0;
		klen = strlen(e.key);
		if (utf8_check(e.key, klen) != klen) {
			snprintf(s->err, sizeof s->err, "file name is not UTF-8");
		} else if ((ent = captions_entry(&caps, e.key))->seen) {
			snprintf(s->err, sizeof s->err, "duplicate key %s", e.key);
		} else {
			ent->seen = 1;
			s->entry = ent - caps.v;
			if (inputs_read(in, &s->data, MAX_ENTRY_BYTES, s->err, sizeof s->err) != 0 &&
			    !s->err[0])
				snprintf(s->err, sizeof s->err, "cannot read");
		}
		q.bytes += s->data.len;
		if (jobs == 1) {
			decode(s);
			s->done = 1;
			q.tail++;
			retire();
			continue;
		}
		pthread_mutex_lock(&q.mu);
		q.tail++;
		pthread_cond_signal(&q.work);
		pthread_mutex_unlock(&q.mu);
		/* Write what is ready without waiting, so the ring keeps moving. */
		for (;;) {
			int ready;

			pthread_mutex_lock(&q.mu);
			ready = q.head < q.tail && q.slot[q.head % q.nslot].done;
			pthread_mutex_unlock(&q.mu);
			if (!ready)
				break;
			retire();
		}
	}
	while (q.head < q.tail)
		retire();
	pthread_mutex_lock(&q.mu);
	q.quit = 1;
	pthread_cond_broadcast(&q.work);
	pthread_mutex_unlock(&q.mu);
	for (i = 0; jobs > 1 && i < jobs; i++)
		pthread_join(th[i], NULL);
	for (i = 0; (size_t)i < q.nslot; i++) {
		free(q.slot[i].name);
		buf_free(&q.slot[i].data);
		image_free(&q.slot[i].img);
	}
	free(q.slot);
	free(th);
	inputs_close(in);
}

static int
ncpu(void)
{
	cpu_set_t set;
	int n = 1;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > 64 ? 64 : n;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{"captions", required_argument, NULL, 'c'},
		{"jobs", required_argument, NULL, 'j'},
		{"output", required_argument, NULL, 'o'},
		{"size", required_argument, NULL, 's'},
		{"verbose", no_argument, NULL, 'v'},
		{"format", required_argument, NULL, 'F'},
		{"max-pixels", required_argument, NULL, 'P'},
		{"resize", required_argument, NULL, 'R'},
		{"keys", required_argument, NULL, 'k'},
		{"shard-size", required_argument, NULL, 'K'},
		{"shards", required_argument, NULL, 'N'},
		{"split", required_argument, NULL, 'S'},
		{"strict", no_argument, NULL, 'X'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const modes[] = {"squash", "center-crop", "pad"};
	static const char *const splits[] = {"all", "train", "val", "test"};
	static const int sigs[] = {SIGHUP, SIGINT, SIGTERM, SIGPIPE};
	const char *capfile = NULL, *keyfile = NULL;
	int ch, format = CAP_UNKNOWN, split = SPLIT_ALL, jobs = 0, nconv;
	long long shard_size = 0, nshards = 0;
	uint64_t unmatched = 0;
	int64_t total = 0;
	mode_t um;
	size_t i;

	setprogname(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:j:o:s:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': capfile = optarg; break;
		case 'j': jobs = estrtonum(optarg, 1, 256, "--jobs"); break;
		case 'o': out.pattern = optarg; break;
		case 's': size = estrtonum(optarg, 1, 8192, "--size"); break;
		case 'v': verbose = 1; break;
		case 'F':
			if ((format = captions_format_parse(optarg)) == CAP_UNKNOWN)
				uprintf("--format: unknown value %s", optarg);
			break;
		case 'P': max_pixels = estrtonum(optarg, 1, 1LL << 40, "--max-pixels"); break;
		case 'R': resize_mode = estrchoice(optarg, modes, 3, "--resize"); break;
		case 'k': keyfile = optarg; break;
		case 'K': shard_size = estrtonum(optarg, 1, LLONG_MAX, "--shard-size"); break;
		case 'N': nshards = estrtonum(optarg, 1, 100000, "--shards"); break;
		case 'S': split = estrchoice(optarg, splits + 1, 3, "--split") + 1; break;
		case 'X': strict = 1; break;
		case 'h':
			print_usage(stdout, usage_lines);
			fshut(stdout, "stdout");
			return EXIT_OK;
		default: usage_option(argv, ch, usage_lines);
		}
	}
	if (optind == argc)
		uprintf("no input: give images, folders, archives or - for a list on stdin");
	if (shard_size && nshards)
		uprintf("--shard-size and --shards: give one");
	if ((format != CAP_UNKNOWN || split != SPLIT_ALL) && !capfile)
		uprintf("--format and --split need --captions");
	if (split != SPLIT_ALL && format != CAP_UNKNOWN && format != CAP_KARPATHY)
		uprintf("--split needs --format karpathy");
	if (out.pattern && strcmp(out.pattern, "-") == 0)
		out.pattern = NULL;
	if (out.pattern) {
		if ((nconv = count_conversions(out.pattern)) < 0 || nconv > 1)
			uprintf("-o %s: a shard name needs one %%d conversion (like %%04d) and no other %%",
			    out.pattern);
		out.sharded = nconv == 1;
		out.shard_size = shard_size ? shard_size : 1000;
		out.nshards = nshards;
	}
	if ((shard_size || nshards) && !out.sharded)
		uprintf("%s needs -o with a %%d in the name, like train-%%04d.tsr",
		    shard_size ? "--shard-size" : "--shards");
	if (!out.pattern && isatty(STDOUT_FILENO))
		uprintf("will not write records to a terminal: use -o or a pipe");
	if (!jobs)
		jobs = ncpu();

	um = umask(0);
	umask(um);
	out.mode = 0666 & ~um;
	atexit(remove_tmp);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], on_signal);
	if (!out.pattern)
		setvbuf(stdout, NULL, _IOFBF, 1 << 20);

	if (capfile) {
		captions_load(&caps, capfile, format, split);
		have_captions = 1;
	}
	if (keyfile)
		load_keys(keyfile);
	if (out.nshards) {
		if ((out.total = inputs_count(argv + optind, argc - optind, wanted_count, &split)) < 0)
			uprintf("--shards: cannot count the images of a list on stdin or a compressed "
			    "tar without reading them all: use --shard-size");
	}
	progress_init(&prog, "images", 0);
	if (prog.tty && (total = out.nshards ? out.total : inputs_count(argv + optind,
	    argc - optind, wanted_count, &split)) > 0)
		prog.total = total;

	run(argv + optind, argc - optind, split, jobs);
	progress_end(&prog);

	if (out.pattern && (out.fp || (!out.sharded && out.index == 0))) {
		if (!out.fp)
			open_output();          /* no images: an empty stream, still a file */
		close_output();
	}
	/* --shards n makes n files, whatever was skipped: process r of n reads shard r. */
	while (out.index < out.nshards) {
		open_output();
		close_output();
	}
	/* Before stdout closes, so that a reader's output comes after it. (Every key of
	 * caps is in the split, so wanted() asks only whether it is in --keys.) */
	for (i = 0; i < caps.n; i++)
		if (!caps.v[i].seen && wanted(caps.v[i].key, split))
			unmatched += caps.v[i].n;
	if (!have_captions && (nskipped || verbose))
		weprintf("%llu images, %llu skipped", (unsigned long long)nimages,
		    (unsigned long long)nskipped);
	else if (have_captions && (nskipped || unmatched || nuncaptioned || verbose))
		weprintf("%llu images, %llu skipped, %llu captions without an image, "
		    "%llu images without captions", (unsigned long long)nimages,
		    (unsigned long long)nskipped, (unsigned long long)unmatched,
		    (unsigned long long)nuncaptioned);
	if (!out.pattern)
		fshut(stdout, "stdout");
	record_free(&rec);
	captions_free(&caps);
	captions_free(&keys);
	return EXIT_OK;
}
