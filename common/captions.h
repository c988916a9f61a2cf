/* captions.h: reference captions by image key, read from the caption files of the
 * usual captioning datasets: Flickr30k's results.csv, Flickr8k's token file, COCO's
 * captions_*.json and Karpathy's dataset_*.json split files. */
#ifndef VITCAP_CAPTIONS_H
#define VITCAP_CAPTIONS_H

#include <stddef.h>

enum capformat {
	CAP_UNKNOWN,
	CAP_FLICKR30K,  /* "image_name| comment_number| comment" lines under a header */
	CAP_FLICKR8K,   /* "name.jpg#i<TAB>caption" lines ("#i" optional) */
	CAP_COCO,       /* {"images": [{id, file_name}], "annotations": [{image_id, caption}]} */
	CAP_KARPATHY,   /* {"images": [{filename, split, sentences: [{raw}]}]} */
};

enum capsplit {
	SPLIT_ALL,      /* no --split: every image */
	SPLIT_TRAIN,    /* Karpathy's train and restval */
	SPLIT_VAL,
	SPLIT_TEST,
};

struct capentry {
	char *key;              /* image file name without directory */
	char **text;            /* captions in file order, whitespace-trimmed */
	size_t n, cap;
	int seen;               /* an input image had this key (imgshard's bookkeeping) */
};

/* A table of entries in the order their keys first appear in the file. */
struct captions {
	struct capentry *v;
	size_t n, cap;
	size_t *slot;           /* open addressing: entry index + 1, 0 when empty */
	size_t nslot;           /* a power of two, at least twice n */
	size_t ncaptions;
	int format;
};

const char *captions_format_name(int format);  /* "flickr30k", NULL when unknown */
int captions_format_parse(const char *name);   /* CAP_*, CAP_UNKNOWN when unknown */

/* Guesses the format of a caption file from its first bytes. */
int captions_detect(const char *data, size_t len);

/* Parses a caption file held in memory (data[len] must be 0) into c, which must be
 * zeroed. format CAP_UNKNOWN detects it. With a split other than SPLIT_ALL only the
 * images of that split are kept (the file must be Karpathy's). Returns 0, or -1
 * with the message's tail in err, ":LINE: what is wrong" or ": what is wrong", to
 * follow the file name. */
int captions_parse(struct captions *c, const char *data, size_t len, int format,
    int split, char *err, size_t errsz);

/* Reads and parses path; exits with "prog: path:LINE: what" on bad input. */
void captions_load(struct captions *c, const char *path, int format, int split);

/* The entry for key, or NULL. */
struct capentry *captions_find(const struct captions *c, const char *key);

/* The entry for key, added without captions when it is not there yet (imgshard
 * keeps one entry per image it has seen, captioned or not). */
struct capentry *captions_entry(struct captions *c, const char *key);

/* The captions of e as a compact JSON array of strings (malloc'd). */
char *captions_json(const struct capentry *e);

void captions_free(struct captions *c);

#endif
