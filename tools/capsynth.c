/* capsynth: write a synthetic captioned image set of coloured shapes in the
 * layout of Flickr8k, Flickr30k, COCO or Karpathy's splits (man 1 capsynth). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "progress.h"
#include "scene.h"
#include "util.h"

static const char *const usage_lines[] = {
	"capsynth [-n count] [-s seed] [-f format] [-q quality] [--size pixels]",
	"[--scenes file] [--split name] [--val count] [--test count]",
	"[--restval count] -o dir",
	NULL,
};

enum format { FLICKR8K, FLICKR30K, COCO, KARPATHY };
static const char *const format_names[] = {"flickr8k", "flickr30k", "coco", "karpathy"};
static const char *const layout_names[] = {"one", "pair", "twin", "trio", "triplet"};

/* Files written under a temporary name, removed if we exit before renaming
 * them, so that a failed run leaves no half-written file behind. */
enum { SLOT_IMAGE, SLOT_CAPTIONS, SLOT_SCENES, NSLOT };
static char *pending[NSLOT];

static void
remove_pending(void)
{
	size_t i;

	for (i = 0; i < NSLOT; i++)
		if (pending[i])
			unlink(pending[i]);
}

/* Returns path's temporary name, remembered in pending[slot]. */
static char *
tmpname(const char *path, int slot)
{
	size_t n = strlen(path) + 32;
	char *t = emalloc(n);

	snprintf(t, n, "%s.tmp%ld", path, (long)getpid());
	pending[slot] = t;
	return t;
}

static void
commit(const char *path, int slot)
{
	if (rename(pending[slot], path) != 0)
		eprintf("rename %s to %s:", pending[slot], path);
	free(pending[slot]);
	pending[slot] = NULL;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	char *t = tmpname(path, SLOT_IMAGE);
	int fd = open(t, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	const char *p = data;

	if (fd < 0)
		eprintf("open %s:", path);
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			eprintf("write %s:", path);
		p += w;
		len -= w;
	}
	if (close(fd) != 0)
		eprintf("write %s:", path);
	commit(path, SLOT_IMAGE);
}

static FILE *
open_pending(const char *path, int slot)
{
	FILE *fp = fopen(tmpname(path, slot), "w");

	if (!fp)
		eprintf("open %s:", path);
	return fp;
}

static void
close_pending(FILE *fp, const char *path, int slot)
{
	fshut(fp, path);
	commit(path, slot);
}

/* mkdir -p */
static void
mkdirs(const char *dir)
{
	char *p = estrdup(dir), *s;
	struct stat st;

	for (s = p + 1; ; s++) {
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0777) != 0 && errno != EEXIST)
				eprintf("mkdir %s:", p);
			*s = '/';
		} else if (*s == '\0') {
			if (mkdir(p, 0777) != 0 && errno != EEXIST)
				eprintf("mkdir %s:", p);
			break;
		}
	}
	if (stat(p, &st) != 0)
		eprintf("stat %s:", p);
	if (!S_ISDIR(st.st_mode))
		eprintf("%s: not a directory", p);
	free(p);
}

static char *
join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = emalloc(n);

	snprintf(s, n, "%s/%s", a, b);
	return s;
}

/* Flickr captions are tokenized ("A red circle , a blue star ."); COCO's are
 * written as a sentence ("A red circle, a blue star."). */
static void
style(char *out, size_t n, const char *cap, int flickr)
{
	size_t o = 0;
	const char *p;

	for (p = cap; *p && o + 4 < n; p++) {
		if (flickr && (*p == ',' || *p == ':'))
			out[o++] = ' ';
		out[o++] = p == cap && *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p;
	}
	if (flickr)
		out[o++] = ' ';
	out[o++] = '.';
	out[o] = '\0';
}

/* Karpathy's "tokens": the lower-case words, without punctuation. */
static json_t *
tokens(const char *cap)
{
	json_t *a = json_array();
	char *buf = estrdup(cap), *w, *save;

	for (w = strtok_r(buf, " ,:", &save); w; w = strtok_r(NULL, " ,:", &save))
		json_array_append_new(a, json_string(w));
	free(buf);
	return a;
}

static json_t *
round2(double v)
{
	return json_real(round(v * 100) / 100);
}

static json_t *
scene_json(const struct scene *sc, const char *name, char cap[][SCENE_CAPTION_MAX + 8])
{
	json_t *o = json_object(), *shapes = json_array(), *caps = json_array();
	int i;

	json_object_set_new(o, "image", json_string(name));
	json_object_set_new(o, "layout", json_string(layout_names[sc->layout]));
	json_object_set_new(o, "background", json_string(scene_bg[sc->bg]));
	if (sc->layout == LAYOUT_ONE)
		json_object_set_new(o, "place", json_string(scene_place(sc->col, sc->row)));
	if (sc->layout == LAYOUT_PAIR || sc->layout == LAYOUT_TWIN)
		json_object_set_new(o, "relation", json_string(sc->vertical ? "above" : "left of"));
	for (i = 0; i < sc->n; i++) {
		const struct shape *s = &sc->s[i];
		json_t *js = json_object();

		json_object_set_new(js, "kind", json_string(scene_kind[s->kind]));
		json_object_set_new(js, "colour", json_string(scene_colour[s->colour]));
		json_object_set_new(js, "size", json_string(scene_size[s->size]));
		json_object_set_new(js, "x", round2(s->x));
		json_object_set_new(js, "y", round2(s->y));
		json_object_set_new(js, "r", round2(s->r));
		json_array_append_new(shapes, js);
	}
	json_object_set_new(o, "shapes", shapes);
	for (i = 0; i < SCENE_NCAPTIONS; i++)
		json_array_append_new(caps, json_string(cap[i]));
	json_object_set_new(o, "captions", caps);
	return o;
}

struct opts {
	long long n, seed;
	int format, quality, size;
	const char *dir, *scenes, *split;
	long long val, test, restval;
};

/* Karpathy's split of image i (1-based): val first, then test, restval, train. */
static const char *
karpathy_split(const struct opts *o, long long i)
{
	if (i <= o->val)
		return "val";
	if (i <= o->val + o->test)
		return "test";
	if (i <= o->val + o->test + o->restval)
		return "restval";
	return "train";
}

/* Where everything goes, in the chosen format. */
struct out {
	const struct opts *o;
	int flickr;
	char *imgdir[2];        /* images/ or train2014/, and val2014/ */
	char *cap_path, *scenes_path;
	FILE *cap, *scenes;
	json_t *images, *annots;
};

static void
out_open(struct out *w, const struct opts *o)
{
	long long held_out = o->val + o->test + o->restval;
	char file[64];

	*w = (struct out){.o = o, .flickr = o->format == FLICKR8K || o->format == FLICKR30K};
	mkdirs(o->dir);
	if (w->flickr) {
		w->imgdir[0] = join(o->dir, "images");
		w->cap_path = join(o->dir, o->format == FLICKR8K ? "captions.txt" : "results.csv");
		w->cap = open_pending(w->cap_path, SLOT_CAPTIONS);
		if (o->format == FLICKR30K)
			fprintf(w->cap, "image_name| comment_number| comment\n");
	} else if (o->format == COCO) {
		char *annot = join(o->dir, "annotations");

		snprintf(file, sizeof file, "%s2014", o->split);
		w->imgdir[0] = join(o->dir, file);
		mkdirs(annot);
		snprintf(file, sizeof file, "captions_%s2014.json", o->split);
		w->cap_path = join(annot, file);
		free(annot);
		w->annots = json_array();
	} else {
		w->imgdir[0] = join(o->dir, "train2014");
		w->imgdir[1] = join(o->dir, "val2014");
		w->cap_path = join(o->dir, "dataset_coco.json");
	}
	if (!w->flickr)
		w->images = json_array();
	if (o->format != KARPATHY || o->n > held_out)
		mkdirs(w->imgdir[0]);
	if (o->format == KARPATHY && held_out > 0)
		mkdirs(w->imgdir[1]);
	if (o->scenes && strcmp(o->scenes, "-") == 0)
		w->scenes = stdout;
	else if (o->scenes)
		w->scenes = open_pending(w->scenes_path = estrdup(o->scenes), SLOT_SCENES);
}

static void
add_coco(struct out *w, long long i, const char *name, char cap[][SCENE_CAPTION_MAX + 8])
{
	int j;

	json_array_append_new(w->images, json_pack("{s:I, s:s, s:i, s:i}", "id", (json_int_t)i,
	    "file_name", name, "width", w->o->size, "height", w->o->size));
	for (j = 0; j < SCENE_NCAPTIONS; j++)
		json_array_append_new(w->annots, json_pack("{s:I, s:I, s:s}",
		    "image_id", (json_int_t)i, "id", (json_int_t)((i - 1) * SCENE_NCAPTIONS + j + 1),
		    "caption", cap[j]));
}

static void
add_karpathy(struct out *w, long long i, const char *name, const char *folder,
    char base[][SCENE_CAPTION_MAX], char cap[][SCENE_CAPTION_MAX + 8])
{
	json_t *sents = json_array(), *ids = json_array();
	json_int_t imgid = i - 1;
	int j;

	for (j = 0; j < SCENE_NCAPTIONS; j++) {
		json_int_t sentid = imgid * SCENE_NCAPTIONS + j;

		json_array_append_new(ids, json_integer(sentid));
		json_array_append_new(sents, json_pack("{s:o, s:s, s:I, s:I}", "tokens",
		    tokens(base[j]), "raw", cap[j], "imgid", imgid, "sentid", sentid));
	}
	/* the keys in the order of Karpathy's file */
	json_array_append_new(w->images, json_pack("{s:s, s:o, s:s, s:I, s:s, s:o, s:I}",
	    "filepath", folder, "sentids", ids, "filename", name, "imgid", imgid,
	    "split", karpathy_split(w->o, i), "sentences", sents, "cocoid", (json_int_t)i));
}

/* Makes image i and writes it, its captions and its scene. */
static void
out_image(struct out *w, long long i)
{
	const struct opts *o = w->o;
	char base[SCENE_NCAPTIONS][SCENE_CAPTION_MAX], cap[SCENE_NCAPTIONS][SCENE_CAPTION_MAX + 8];
	char name[64], *path;
	const char *split = o->format == COCO ? o->split : "train";
	unsigned char *jpg;
	size_t len;
	struct scene sc;
	struct image img;
	struct srng r;
	int j, val = o->format == KARPATHY && strcmp(karpathy_split(o, i), "train") != 0;

	srng_seed(&r, o->seed, i);
	scene_make(&sc, o->size, &r);
	scene_captions(&sc, &r, base);
	scene_draw(&sc, o->size, &r, &img);
	jpeg_encode(&img, o->quality, &jpg, &len);
	image_free(&img);
	if (val)        /* Karpathy's val, test and restval images are COCO's val2014 */
		split = "val";
	if (w->flickr)
		snprintf(name, sizeof name, "%08lld.jpg", i);
	else
		snprintf(name, sizeof name, "COCO_%s2014_%012lld.jpg", split, i);
	path = join(w->imgdir[val], name);
	write_file(path, jpg, len);
	free(path);
	free(jpg);

	for (j = 0; j < SCENE_NCAPTIONS; j++)
		style(cap[j], sizeof cap[j], base[j], w->flickr);
	for (j = 0; j < SCENE_NCAPTIONS && o->format == FLICKR8K; j++)
		fprintf(w->cap, "%s#%d\t%s\n", name, j, cap[j]);
	for (j = 0; j < SCENE_NCAPTIONS && o->format == FLICKR30K; j++)
		fprintf(w->cap, "%s| %d| %s\n", name, j, cap[j]);
	if (o->format == COCO)
		add_coco(w, i, name, cap);
	if (o->format == KARPATHY)
		add_karpathy(w, i, name, val ? "val2014" : "train2014", base, cap);
	if (w->scenes) {
		json_t *js = scene_json(&sc, name, cap);

		if (json_dumpf(js, w->scenes, JSON_COMPACT | JSON_PRESERVE_ORDER |
		    JSON_REAL_PRECISION(6)) != 0 || fputc('\n', w->scenes) == EOF)
			eprintf("write %s:", w->scenes_path ? w->scenes_path : "stdout");
		json_decref(js);
	}
}

static void
dump_json(json_t *root, const char *path, int slot)
{
	char *t = tmpname(path, slot);

	errno = 0;
	if (json_dump_file(root, t, JSON_PRESERVE_ORDER) != 0)
		eprintf(errno ? "write %s:" : "write %s", path);
	commit(path, slot);
}

static void
out_close(struct out *w)
{
	json_t *root = json_object();

	if (w->flickr) {
		close_pending(w->cap, w->cap_path, SLOT_CAPTIONS);
	} else if (w->o->format == COCO) {
		char desc[128];

		snprintf(desc, sizeof desc, "capsynth synthetic shapes, seed %lld, %s split",
		    w->o->seed, w->o->split);
		json_object_set_new(root, "info", json_pack("{s:s, s:s, s:s}", "description",
		    desc, "version", "1.0", "contributor", "capsynth"));
		json_object_set_new(root, "images", w->images);
		json_object_set_new(root, "licenses", json_array());
		json_object_set_new(root, "annotations", w->annots);
		dump_json(root, w->cap_path, SLOT_CAPTIONS);
	} else {
		json_object_set_new(root, "images", w->images);
		json_object_set_new(root, "dataset", json_string("coco"));
		dump_json(root, w->cap_path, SLOT_CAPTIONS);
	}
	json_decref(root);
	if (w->scenes_path)
		close_pending(w->scenes, w->scenes_path, SLOT_SCENES);
	free(w->scenes_path);
	free(w->cap_path);
	free(w->imgdir[0]);
	free(w->imgdir[1]);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"count", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"format", required_argument, NULL, 'f'},
		{"quality", required_argument, NULL, 'q'},
		{"output", required_argument, NULL, 'o'},
		{"size", required_argument, NULL, 'S'},
		{"scenes", required_argument, NULL, 'C'},
		{"split", required_argument, NULL, 'P'},
		{"val", required_argument, NULL, 'V'},
		{"test", required_argument, NULL, 'T'},
		{"restval", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const splits[] = {"train", "val"};
	struct opts o = {.n = 1000, .seed = 1, .format = FLICKR8K, .quality = 90, .size = 64};
	int ch, held_out_opt = 0;
	long long i;
	struct progress pr;
	struct out w;

	setprogname(argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:s:f:q:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': o.n = estrtonum(optarg, 0, 99999999, "--count"); break;
		case 's': o.seed = estrtonum(optarg, 0, INT64_MAX, "--seed"); break;
		case 'f': o.format = estrchoice(optarg, format_names, 4, "--format"); break;
		case 'q': o.quality = estrtonum(optarg, 1, 100, "--quality"); break;
		case 'o': o.dir = optarg; break;
		case 'S': o.size = estrtonum(optarg, 16, 4096, "--size"); break;
		case 'C': o.scenes = optarg; break;
		case 'P': o.split = splits[estrchoice(optarg, splits, 2, "--split")]; break;
		case 'V': o.val = estrtonum(optarg, 0, 99999999, "--val"), held_out_opt = 1; break;
		case 'T': o.test = estrtonum(optarg, 0, 99999999, "--test"), held_out_opt = 1; break;
		case 'R': o.restval = estrtonum(optarg, 0, 99999999, "--restval"), held_out_opt = 1; break;
		case 'h': print_usage(stdout, usage_lines); fshut(stdout, "stdout"); return 0;
		default: usage_option(argv, ch, usage_lines);
		}
	}
	if (optind < argc)
		uprintf("unexpected argument: %s", argv[optind]);
	if (!o.dir || !*o.dir)
		uprintf("no output folder: give -o dir");
	if (o.split && o.format != COCO)
		uprintf("--split is for --format coco");
	if (!o.split)
		o.split = "train";
	if (held_out_opt && o.format != KARPATHY)
		uprintf("--val, --test and --restval are for --format karpathy");
	if (o.val + o.test + o.restval > o.n)
		uprintf("--val, --test and --restval add up to %lld, more than the %lld images",
		    o.val + o.test + o.restval, o.n);
	atexit(remove_pending);
	out_open(&w, &o);
	progress_init(&pr, "images", o.n);
	for (i = 1; i <= o.n; i++) {
		out_image(&w, i);
		progress_update(&pr, i, NULL);
	}
	progress_end(&pr);
	out_close(&w);
	fshut(stdout, "stdout");
	return 0;
}
