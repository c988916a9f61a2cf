/* inputs.c: image files from paths, folders, archives and lists on stdin. */
#include "inputs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* One folder being walked: its entries, sorted, and the next one to look at. */
struct frame {
	char *path;
	char **names;
	size_t n, i;
};

struct inputs {
	char *const *paths;
	int npaths, next;
	int from_stdin;         /* reading operands from the list on stdin */
	char *line;
	size_t linecap;
	struct frame *dirs;
	size_t ndirs, dircap;
	struct archive *arc;
	char *arcname;
	int64_t size;           /* the current member's size by its header, or -1 */
	char *file;             /* the current entry when it is a plain file */
	struct buf name;
	int counting;           /* inputs_count: stop at what cannot be counted */
	int uncountable;
};

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Whether a component of path is hidden: starts with a dot but is not "." or
 * "..", or is macOS's __MACOSX. */
static int
hidden(const char *path)
{
	const char *c = path, *end;
	size_t n;

	for (; *c; c = *end ? end + 1 : end) {
		end = strchr(c, '/');
		if (!end)
			end = c + strlen(c);
		n = end - c;
		if ((n > 0 && c[0] == '.' && !(n == 1 || (n == 2 && c[1] == '.'))) ||
		    (n == 8 && strncmp(c, "__MACOSX", 8) == 0))
			return 1;
	}
	return 0;
}

int
inputs_is_image(const char *path)
{
	return !hidden(path) && (has_suffix(path, ".jpg") || has_suffix(path, ".jpeg") ||
	    has_suffix(path, ".png"));
}

int
inputs_is_archive(const char *path)
{
	static const char *const ext[] = {".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2",
	    ".tbz2", ".tar.xz", ".txz"};
	size_t i;

	for (i = 0; i < sizeof ext / sizeof ext[0]; i++)
		if (has_suffix(path, ext[i]))
			return 1;
	return 0;
}

struct inputs *
inputs_open(char *const *paths, int n)
{
	struct inputs *in = ecalloc(1, sizeof *in);

	in->paths = paths;
	in->npaths = n;
	return in;
}

static void
set_name(struct inputs *in, const char *a, const char *sep, const char *b,
    struct input_entry *e)
{
	const char *slash;

	in->name.len = 0;
	buf_append(&in->name, a, strlen(a));
	buf_append(&in->name, sep, strlen(sep));
	buf_append(&in->name, b, strlen(b) + 1);
	e->name = in->name.p;
	slash = strrchr(b, '/');
	e->key = in->name.p + in->name.len - 1 - strlen(slash ? slash + 1 : b);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
push_dir(struct inputs *in, const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	struct frame *f;
	size_t cap = 0;

	if (!d)
		eprintf("open %s:", path);
	if (in->ndirs == in->dircap) {
		in->dircap = in->dircap ? 2 * in->dircap : 8;
		in->dirs = ereallocarray(in->dirs, in->dircap, sizeof *in->dirs);
	}
	f = &in->dirs[in->ndirs++];
	memset(f, 0, sizeof *f);
	f->path = estrdup(path);
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    hidden(de->d_name))
			continue;
		if (f->n == cap) {
			cap = cap ? 2 * cap : 64;
			f->names = ereallocarray(f->names, cap, sizeof *f->names);
		}
		f->names[f->n++] = estrdup(de->d_name);
	}
	if (errno)
		eprintf("read %s:", path);
	closedir(d);
	if (f->n)
		qsort(f->names, f->n, sizeof *f->names, cmp_name);
}

static void
pop_dir(struct inputs *in)
{
	struct frame *f = &in->dirs[--in->ndirs];
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->names[i]);
	free(f->names);
	free(f->path);
}

static void
close_archive(struct inputs *in)
{
	archive_read_free(in->arc);
	in->arc = NULL;
	free(in->arcname);
	in->arcname = NULL;
}

static void
open_archive(struct inputs *in, const char *path)
{
	struct archive *a = archive_read_new();

	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
		eprintf("%s: %s", path, archive_error_string(a));
	in->arc = a;
	in->arcname = estrdup(path);
	if (archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE)
		in->uncountable = 1;
}

/* The next operand, from the command line or the list on stdin; NULL at the end. */
static const char *
next_operand(struct inputs *in)
{
	ssize_t n;

	for (;;) {
		if (in->from_stdin) {
			if ((n = getline(&in->line, &in->linecap, stdin)) < 0) {
				if (ferror(stdin))
					eprintf("read stdin:");
				in->from_stdin = 0;
				continue;
			}
			if (n > 0 && in->line[n - 1] == '\n')
				in->line[--n] = '\0';
			if (n > 0 && in->line[n - 1] == '\r')
				in->line[--n] = '\0';
			if (n == 0)
				continue;
			return in->line;
		}
		if (in->next == in->npaths)
			return NULL;
		if (strcmp(in->paths[in->next], "-") == 0) {
			in->next++;
			in->from_stdin = 1;
			if (in->counting)
				in->uncountable = 1;
			continue;
		}
		return in->paths[in->next++];
	}
}

int
inputs_next(struct inputs *in, struct input_entry *e)
{
	struct archive_entry *ae;
	const char *path;
	struct stat st;
	char *full;
	int r;

	free(in->file);
	in->file = NULL;
	for (;;) {
		if (in->counting && in->uncountable)
			return 0;
		if (in->arc) {
			r = archive_read_next_header(in->arc, &ae);
			if (r == ARCHIVE_EOF) {
				close_archive(in);
				continue;
			}
			if (r < ARCHIVE_WARN)
				eprintf("%s: %s", in->arcname, archive_error_string(in->arc));
			/* Zip names flagged UTF-8 come out in UTF-8 whatever the locale. */
			if (!(path = archive_entry_pathname_utf8(ae)))
				path = archive_entry_pathname(ae);
			if (!path || archive_entry_filetype(ae) != AE_IFREG || !inputs_is_image(path))
				continue;
			in->size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
			set_name(in, in->arcname, ":", path, e);
			return 1;
		}
		if (in->ndirs) {
			struct frame *f = &in->dirs[in->ndirs - 1];
			size_t len;

			if (f->i == f->n) {
				pop_dir(in);
				continue;
			}
			len = strlen(f->path);
			full = emalloc(len + strlen(f->names[f->i]) + 2);
			sprintf(full, "%s%s%s", f->path, len && f->path[len - 1] == '/' ? "" : "/",
			    f->names[f->i++]);
			/* Links to folders are not followed, so a walk always ends. */
			if (lstat(full, &st) != 0)
				eprintf("%s:", full);
			if (S_ISDIR(st.st_mode)) {
				push_dir(in, full);
				free(full);
				continue;
			}
			if (S_ISLNK(st.st_mode) && stat(full, &st) != 0)
				eprintf("%s:", full);
			if (!S_ISREG(st.st_mode) || !inputs_is_image(f->names[f->i - 1])) {
				free(full);
				continue;
			}
			in->file = full;
			set_name(in, "", "", full, e);
			return 1;
		}
		if (!(path = next_operand(in)))
			return 0;
		if (stat(path, &st) != 0)
			eprintf("%s:", path);
		if (S_ISDIR(st.st_mode)) {
			push_dir(in, path);
		} else if (inputs_is_archive(path)) {
			open_archive(in, path);
		} else {
			/* Named explicitly: taken whatever its name says. */
			in->file = estrdup(path);
			set_name(in, "", "", path, e);
			return 1;
		}
	}
}

static int
read_file(const char *path, struct buf *data, size_t max, char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errsz, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errsz, "larger than %zu MiB", max >> 20);
		close(fd);
		return -1;
	}
	buf_reserve(data, st.st_size + 1);
	for (;;) {
		if (data->len > max) {
			snprintf(err, errsz, "larger than %zu MiB", max >> 20);
			close(fd);
			return -1;
		}
		buf_reserve(data, 1 << 16);
		n = read(fd, data->p + data->len, data->cap - data->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsz, "read: %s", strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		data->len += n;
	}
	close(fd);
	return 0;
}

static int
read_member(struct archive *a, struct buf *data, size_t max, char *err, size_t errsz)
{
	la_ssize_t n;

	for (;;) {
		if (data->len > max) {
			snprintf(err, errsz, "larger than %zu MiB", max >> 20);
			return -1;
		}
		buf_reserve(data, 1 << 16);
		n = archive_read_data(a, data->p + data->len, data->cap - data->len);
		if (n < 0) {
			snprintf(err, errsz, "%s", archive_error_string(a));
			return -1;
		}
		if (n == 0)
			return 0;
		data->len += n;
	}
}

int
inputs_read(struct inputs *in, struct buf *data, size_t max, char *err, size_t errsz)
{
	data->len = 0;
	if (in->file)
		return read_file(in->file, data, max, err, errsz);
	/* A huge member is skipped unread when its header says how big it is;
	 * one that does not say is read up to max. */
	if (in->size > 0 && (uint64_t)in->size > max) {
		snprintf(err, errsz, "larger than %zu MiB", max >> 20);
		return -1;
	}
	if (in->size > 0)
		buf_reserve(data, in->size + 1);
	return read_member(in->arc, data, max, err, errsz);
}

void
inputs_close(struct inputs *in)
{
	if (in->arc)
		close_archive(in);
	while (in->ndirs)
		pop_dir(in);
	free(in->dirs);
	free(in->line);
	free(in->file);
	buf_free(&in->name);
	free(in);
}

int64_t
inputs_count(char *const *paths, int n, int (*want)(const char *key, void *arg), void *arg)
{
	struct inputs *in = inputs_open(paths, n);
	struct input_entry e;
	int64_t count = 0;

	in->counting = 1;
	while (inputs_next(in, &e))
		if (!want || want(e.key, arg))
			count++;
	if (in->uncountable)
		count = -1;
	inputs_close(in);
	return count;
}
