/* captions.c: caption files of Flickr30k, Flickr8k, COCO and Karpathy's splits. */
#include "captions.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "util.h"

static const char *const format_names[] = {
	[CAP_FLICKR30K] = "flickr30k",
	[CAP_FLICKR8K] = "flickr8k",
	[CAP_COCO] = "coco",
	[CAP_KARPATHY] = "karpathy",
};

const char *
captions_format_name(int format)
{
	return format > CAP_UNKNOWN && format <= CAP_KARPATHY ? format_names[format] : NULL;
}

int
captions_format_parse(const char *name)
{
	int f;

	for (f = CAP_FLICKR30K; f <= CAP_KARPATHY; f++)
		if (strcmp(name, format_names[f]) == 0)
			return f;
	return CAP_UNKNOWN;
}

/* ---- the table -------------------------------------------------------------- */

static uint64_t
hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ull;   /* FNV-1a */

	while (n--)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static size_t *
find_slot(const struct captions *c, const char *key, size_t n)
{
	size_t i = hash(key, n) & (c->nslot - 1);

	for (;; i = (i + 1) & (c->nslot - 1)) {
		const struct capentry *e;

		if (c->slot[i] == 0)
			return &c->slot[i];
		e = &c->v[c->slot[i] - 1];
		if (strncmp(e->key, key, n) == 0 && e->key[n] == '\0')
			return &c->slot[i];
	}
}

static void
grow(struct captions *c)
{
	size_t i, *s;

	free(c->slot);
	c->nslot = c->nslot ? c->nslot * 2 : 1024;
	c->slot = ecalloc(c->nslot, sizeof *c->slot);
	for (i = 0; i < c->n; i++) {
		s = find_slot(c, c->v[i].key, strlen(c->v[i].key));
		*s = i + 1;
	}
}

/* The entry for the key of n bytes at key, created when new. Keys are file names
 * without a directory, so a path in the caption file still matches its image. */
static struct capentry *
entry(struct captions *c, const char *key, size_t n)
{
	const char *slash;
	struct capentry *e;
	size_t *s;

	while ((slash = memchr(key, '/', n))) {
		n -= slash + 1 - key;
		key = slash + 1;
	}
	if (2 * (c->n + 1) > c->nslot)
		grow(c);
	s = find_slot(c, key, n);
	if (*s)
		return &c->v[*s - 1];
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 1024;
		c->v = ereallocarray(c->v, c->cap, sizeof *c->v);
	}
	e = &c->v[c->n];
	memset(e, 0, sizeof *e);
	e->key = memcpy(emalloc(n + 1), key, n);
	e->key[n] = '\0';
	*s = ++c->n;
	return e;
}

static int
isblank_ascii(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f' || ch == '\n';
}

/* Trims ASCII whitespace from both ends of s[0..*n) and returns the new start. */
static const char *
trim(const char *s, size_t *n)
{
	while (*n && isblank_ascii((unsigned char)*s))
		s++, (*n)--;
	while (*n && isblank_ascii((unsigned char)s[*n - 1]))
		(*n)--;
	return s;
}

static void
add(struct captions *c, struct capentry *e, const char *text, size_t n)
{
	text = trim(text, &n);
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 5;
		e->text = ereallocarray(e->text, e->cap, sizeof *e->text);
	}
	e->text[e->n] = memcpy(emalloc(n + 1), text, n);
	e->text[e->n++][n] = '\0';
	c->ncaptions++;
}

struct capentry *
captions_find(const struct captions *c, const char *key)
{
	size_t *s;

	if (c->n == 0)
		return NULL;
	s = find_slot(c, key, strlen(key));
	return *s ? &c->v[*s - 1] : NULL;
}

struct capentry *
captions_entry(struct captions *c, const char *key)
{
	return entry(c, key, strlen(key));
}

char *
captions_json(const struct capentry *e)
{
	json_t *a = json_array();
	char *s;
	size_t i;

	for (i = 0; i < e->n; i++)
		json_array_append_new(a, json_string_nocheck(e->text[i]));
	if (!(s = json_dumps(a, JSON_COMPACT)))
		eprintf("out of memory formatting captions");
	json_decref(a);
	return s;
}

void
captions_free(struct captions *c)
{
	size_t i, j;

	for (i = 0; i < c->n; i++) {
		for (j = 0; j < c->v[i].n; j++)
			free(c->v[i].text[j]);
		free(c->v[i].text);
		free(c->v[i].key);
	}
	free(c->v);
	free(c->slot);
	memset(c, 0, sizeof *c);
}

/* ---- format detection --------------------------------------------------------- */

static const char *
skip_bom(const char *data, size_t *len)
{
	if (*len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
		*len -= 3;
		return data + 3;
	}
	return data;
}

/* Both are objects with "images"; only COCO's has "annotations", and only
 * Karpathy's images have "sentences". */
static int
detect_json(const json_t *root)
{
	json_t *images = json_object_get(root, "images");

	if (json_is_array(json_object_get(root, "annotations")))
		return CAP_COCO;
	if (json_is_array(images) && json_object_get(json_array_get(images, 0), "sentences"))
		return CAP_KARPATHY;
	return CAP_UNKNOWN;
}

int
captions_detect(const char *data, size_t len)
{
	size_t i;

	data = skip_bom(data, &len);
	for (i = 0; i < len && isblank_ascii((unsigned char)data[i]); i++)
		;
	if (i == len)
		return CAP_UNKNOWN;
	if (data[i] == '{') {
		json_t *root = json_loadb(data, len, 0, NULL);
		int f = detect_json(root);

		json_decref(root);
		return f;
	}
	/* Text: whichever separator comes first on the first line. */
	for (; i < len && data[i] != '\n'; i++) {
		if (data[i] == '|')
			return CAP_FLICKR30K;
		if (data[i] == '\t')
			return CAP_FLICKR8K;
	}
	return CAP_UNKNOWN;
}

/* ---- text formats ------------------------------------------------------------- */

static size_t
digits(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* "image_name| comment_number| comment". The header is the first line whose
 * comment_number is not a number. The Kaggle file has one row whose second
 * separator is missing ("2199200615.jpg| 4   A dog runs across the grass ."):
 * a number and a blank where the separator should be stand for it. */
static int
flickr30k_line(struct captions *c, const char *s, size_t n, int *header, size_t lineno,
    char *err, size_t errsz)
{
	const char *bar = memchr(s, '|', n), *rest, *bar2, *name, *num;
	size_t nname, nrest, nnum, d;

	if (!bar)
		goto bad;
	nname = bar - s;
	name = trim(s, &nname);
	rest = bar + 1;
	nrest = n - (rest - s);
	if ((bar2 = memchr(rest, '|', nrest))) {
		nnum = bar2 - rest;
		num = trim(rest, &nnum);
		if (nnum == 0 || digits(num, nnum) != nnum) {
			if (*header) {
				*header = 0;
				return 0;
			}
			goto bad;
		}
		rest = bar2 + 1;
		nrest = n - (rest - s);
	} else {
		rest = trim(rest, &nrest);
		d = digits(rest, nrest);
		if (d == 0 || d == nrest || (rest[d] != ' ' && rest[d] != '\t'))
			goto bad;
		rest += d;
		nrest -= d;
	}
	if (nname == 0)
		goto bad;
	*header = 0;
	add(c, entry(c, name, nname), rest, nrest);
	return 0;
bad:
	seterr(err, errsz, ":%zu: expected image_name| comment_number| comment", lineno);
	return -1;
}

/* "name.jpg#i<TAB>caption"; without "#i" it is the keyed layout of bleu --tsv. */
static int
flickr8k_line(struct captions *c, const char *s, size_t n, size_t lineno, char *err,
    size_t errsz)
{
	const char *tab = memchr(s, '\t', n), *key, *hash_;
	size_t nkey;

	if (!tab) {
		seterr(err, errsz, ":%zu: expected name.jpg#i<TAB>caption", lineno);
		return -1;
	}
	nkey = tab - s;
	key = trim(s, &nkey);
	if ((hash_ = memrchr(key, '#', nkey)) && hash_ + 1 < key + nkey &&
	    digits(hash_ + 1, key + nkey - hash_ - 1) == (size_t)(key + nkey - hash_ - 1))
		nkey = hash_ - key;
	if (nkey == 0) {
		seterr(err, errsz, ":%zu: empty image name", lineno);
		return -1;
	}
	add(c, entry(c, key, nkey), tab + 1, n - (tab + 1 - s));
	return 0;
}

static int
parse_text(struct captions *c, const char *data, size_t len, int format, char *err,
    size_t errsz)
{
	size_t start = 0, lineno = 0;
	int header = 1;

	while (start < len) {
		const char *s = data + start, *nl = memchr(s, '\n', len - start);
		size_t n = nl ? (size_t)(nl - s) : len - start, bad, blank = n;

		lineno++;
		start += n + 1;
		if ((bad = utf8_check(s, n)) != n) {
			seterr(err, errsz, ":%zu: invalid UTF-8 (byte 0x%02X at column %zu)", lineno,
			    (unsigned char)s[bad], bad + 1);
			return -1;
		}
		trim(s, &blank);
		if (blank == 0)
			continue;
		if (format == CAP_FLICKR30K ?
		    flickr30k_line(c, s, n, &header, lineno, err, errsz) :
		    flickr8k_line(c, s, n, lineno, err, errsz))
			return -1;
	}
	return 0;
}

/* ---- JSON formats ------------------------------------------------------------- */

struct idmap {
	json_int_t id;
	size_t entry;
};

static int
cmp_id(const void *a, const void *b)
{
	const struct idmap *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int
parse_coco(struct captions *c, json_t *root, char *err, size_t errsz)
{
	json_t *images = json_object_get(root, "images");
	json_t *anns = json_object_get(root, "annotations"), *v;
	struct idmap *ids, key, *hit;
	size_t i, nimages;

	if (!json_is_array(images) || !json_is_array(anns)) {
		seterr(err, errsz, ": expected \"images\" and \"annotations\" arrays (COCO)");
		return -1;
	}
	nimages = json_array_size(images);
	ids = ereallocarray(NULL, nimages + 1, sizeof *ids);
	json_array_foreach(images, i, v) {
		json_t *id = json_object_get(v, "id"), *name = json_object_get(v, "file_name");

		if (!json_is_integer(id) || !json_is_string(name)) {
			seterr(err, errsz, ": images[%zu]: expected integer \"id\" and string \"file_name\"", i);
			free(ids);
			return -1;
		}
		ids[i].id = json_integer_value(id);
		ids[i].entry = entry(c, json_string_value(name), json_string_length(name)) - c->v;
	}
	qsort(ids, nimages, sizeof *ids, cmp_id);
	json_array_foreach(anns, i, v) {
		json_t *id = json_object_get(v, "image_id"), *cap = json_object_get(v, "caption");

		if (!json_is_integer(id) || !json_is_string(cap)) {
			seterr(err, errsz, ": annotations[%zu]: expected integer \"image_id\" and string \"caption\"", i);
			free(ids);
			return -1;
		}
		key.id = json_integer_value(id);
		if (!(hit = bsearch(&key, ids, nimages, sizeof *ids, cmp_id))) {
			seterr(err, errsz, ": annotations[%zu]: image_id %lld is not among the images", i,
			    (long long)key.id);
			free(ids);
			return -1;
		}
		add(c, &c->v[hit->entry], json_string_value(cap), json_string_length(cap));
	}
	free(ids);
	return 0;
}

static int
in_split(const char *s, int split)
{
	switch (split) {
	case SPLIT_TRAIN:
		return strcmp(s, "train") == 0 || strcmp(s, "restval") == 0;
	case SPLIT_VAL:
		return strcmp(s, "val") == 0;
	case SPLIT_TEST:
		return strcmp(s, "test") == 0;
	default:
		return 1;
	}
}

static int
parse_karpathy(struct captions *c, json_t *root, int split, char *err, size_t errsz)
{
	json_t *images = json_object_get(root, "images"), *v, *s;
	size_t i, j;

	if (!json_is_array(images)) {
		seterr(err, errsz, ": expected an \"images\" array (Karpathy)");
		return -1;
	}
	json_array_foreach(images, i, v) {
		json_t *name = json_object_get(v, "filename"), *sp = json_object_get(v, "split");
		json_t *sents = json_object_get(v, "sentences");
		struct capentry *e;

		if (!json_is_string(name) || !json_is_string(sp) || !json_is_array(sents)) {
			seterr(err, errsz, ": images[%zu]: expected \"filename\", \"split\" and \"sentences\"", i);
			return -1;
		}
		if (!in_split(json_string_value(sp), split))
			continue;
		e = entry(c, json_string_value(name), json_string_length(name));
		json_array_foreach(sents, j, s) {
			json_t *raw = json_object_get(s, "raw");

			if (!json_is_string(raw)) {
				seterr(err, errsz, ": images[%zu].sentences[%zu]: expected a string \"raw\"", i, j);
				return -1;
			}
			add(c, e, json_string_value(raw), json_string_length(raw));
		}
	}
	return 0;
}

static int
is_json(const char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len && isblank_ascii((unsigned char)data[i]); i++)
		;
	return i < len && data[i] == '{';
}

int
captions_parse(struct captions *c, const char *data, size_t len, int format, int split,
    char *err, size_t errsz)
{
	json_error_t jerr;
	json_t *root = NULL;
	int rc;

	data = skip_bom(data, &len);
	/* A JSON file is parsed once, for detection and reading both. */
	if (format == CAP_COCO || format == CAP_KARPATHY ||
	    (format == CAP_UNKNOWN && is_json(data, len))) {
		if (!(root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr))) {
			seterr(err, errsz, ":%d: %s", jerr.line, jerr.text);
			return -1;
		}
		if (format == CAP_UNKNOWN)
			format = detect_json(root);
	} else if (format == CAP_UNKNOWN) {
		format = captions_detect(data, len);
	}
	if (format == CAP_UNKNOWN) {
		seterr(err, errsz, ": not a caption file in a known format (see --format)");
		json_decref(root);
		return -1;
	}
	c->format = format;
	if (split != SPLIT_ALL && format != CAP_KARPATHY) {
		seterr(err, errsz, ": --split needs Karpathy's dataset_*.json, not a %s file",
		    format_names[format]);
		json_decref(root);
		return -1;
	}
	if (!root)
		return parse_text(c, data, len, format, err, errsz);
	if (!json_is_object(root)) {
		seterr(err, errsz, ": expected a JSON object");
		rc = -1;
	} else if (format == CAP_COCO) {
		rc = parse_coco(c, root, err, errsz);
	} else {
		rc = parse_karpathy(c, root, split, err, errsz);
	}
	json_decref(root);
	return rc;
}

void
captions_load(struct captions *c, const char *path, int format, int split)
{
	char err[256];
	size_t len;
	char *data = readfile(path, &len);

	if (captions_parse(c, data, len, format, split, err, sizeof err) != 0)
		eprintf("%s%s", strcmp(path, "-") ? path : "stdin", err);
	free(data);
}
