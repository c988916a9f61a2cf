/* inputs.h: walks the image files named on a command line, in an order that does
 * not depend on the file system: files as given, folders recursively with the
 * names of each sorted bytewise, archives (zip, tar, tar.gz, read in place with
 * libarchive) in their own order, and "-" for a list of such paths on stdin. */
#ifndef VITCAP_INPUTS_H
#define VITCAP_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct inputs;

struct input_entry {
	const char *name;       /* for messages: "dir/a.jpg", "set.zip:dir/a.jpg" */
	const char *key;        /* the file name without its directory */
};

/* Whether a folder or archive member with this path is taken: .jpg, .jpeg or
 * .png in any case, and nothing on the path hidden (a name starting with '.',
 * such as the "._" files macOS leaves in zips, or a folder __MACOSX). */
int inputs_is_image(const char *path);

/* Whether a path names an archive: .zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz. */
int inputs_is_archive(const char *path);

struct inputs *inputs_open(char *const *paths, int n);

/* The next image; returns 1, or 0 at the end. The entry stays valid until the
 * next call. A path or archive that cannot be read ends the program with a
 * message: a partial walk would make a data set silently incomplete. */
int inputs_next(struct inputs *in, struct input_entry *e);

/* Reads the current entry's bytes into data (replacing its contents). An entry
 * over max bytes is not read. Returns 0, or -1 with the reason in err. */
int inputs_read(struct inputs *in, struct buf *data, size_t max, char *err, size_t errsz);

void inputs_close(struct inputs *in);

/* How many entries the walk would give for which want() (NULL: all) returns
 * nonzero, found without reading image data; -1 when counting would mean reading
 * everything (a list on stdin, a compressed tar). */
int64_t inputs_count(char *const *paths, int n, int (*want)(const char *key, void *arg),
    void *arg);

#endif
