/* checkpoint.c: building, checking, and atomically writing checkpoint records. */
#include "checkpoint.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
checkpoint_record(struct record *rec, const struct config *c,
    const struct param_table *t, const char *vocab)
{
	char *json = config_json(c);
	int i;

	record_clear(rec);
	record_set_meta(rec, "format", "pt");
	record_set_meta(rec, "config", json);
	record_set_meta(rec, "vocab", vocab ? vocab : "");
	free(json);
	for (i = 0; i < t->n; i++) {
		const struct param *e = &t->v[i];
		int64_t shape[2] = {e->shape[0], e->shape[1]};

		record_put(rec, e->name, DT_F32, e->ndim, shape, NULL);
	}
}

static void
format_shape(char *s, size_t n, int ndim, const int64_t *shape)
{
	size_t len = 0;
	int i;

	len += snprintf(s + len, n - len, "[");
	for (i = 0; i < ndim && len < n; i++)
		len += snprintf(s + len, n - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (len < n)
		snprintf(s + len, n - len, "]");
}

/* Checks rec against t and puts its tensors in table order. */
static int
check_tensors(struct record *rec, const struct param_table *t, char *err, size_t errsz)
{
	struct tensor *sorted;
	size_t j;
	int i, k;

	for (j = 0; j < rec->nt; j++) {
		if (param_find(t, rec->t[j].name) < 0) {
			seterr(err, errsz, "tensor %s: not part of a model of this config",
			    rec->t[j].name);
			return -1;
		}
	}
	for (i = 0; i < t->n; i++) {
		const struct param *e = &t->v[i];
		const struct tensor *x = record_tensor(rec, e->name);
		int64_t want[2] = {e->shape[0], e->shape[1]};
		char got[96], exp[64];

		if (!x) {
			seterr(err, errsz, "tensor %s: missing", e->name);
			return -1;
		}
		if (x->dtype != DT_F32) {
			seterr(err, errsz, "tensor %s: dtype %s, expected F32", e->name,
			    dtype_name(x->dtype));
			return -1;
		}
		for (k = 0; k < e->ndim && x->ndim == e->ndim; k++)
			if (x->shape[k] != want[k])
				break;
		if (x->ndim != e->ndim || k < e->ndim) {
			format_shape(got, sizeof got, x->ndim, x->shape);
			format_shape(exp, sizeof exp, e->ndim, want);
			seterr(err, errsz, "tensor %s: shape %s, expected %s for the config",
			    e->name, got, exp);
			return -1;
		}
	}
	/* every name is in the table and every table name is here: a permutation */
	sorted = ereallocarray(NULL, rec->nt ? rec->nt : 1, sizeof *sorted);
	for (j = 0; j < rec->nt; j++)
		sorted[param_find(t, rec->t[j].name)] = rec->t[j];
	memcpy(rec->t, sorted, rec->nt * sizeof *sorted);
	free(sorted);
	return 0;
}

int
checkpoint_read(const char *path, struct record *rec, struct config *c,
    struct param_table *t, char *err, size_t errsz)
{
	struct record extra = {0};
	struct reader r;
	const char *json;
	char msg[512];
	FILE *fp;
	int rc, more = 0;

	memset(t, 0, sizeof *t);
	if (!(fp = fopen(path, "rb"))) {
		seterr(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	reader_init(&r, fp, path);
	rc = record_read(&r, rec);
	if (rc == 1 && (more = record_read(&r, &extra)) != 0)
		rc = -1;
	record_free(&extra);
	fclose(fp);
	if (rc == 0) {
		seterr(err, errsz, "%s: empty file", path);
		return -1;
	}
	if (rc < 0) {
		if (more == 1)
			seterr(err, errsz, "%s: a second record follows: not a checkpoint", path);
		else
			seterr(err, errsz, "%s", r.err);
		return -1;
	}
	if (!(json = record_meta(rec, "config"))) {
		seterr(err, errsz, "%s: no __metadata__.config: not a vitcap checkpoint", path);
		return -1;
	}
	if (config_parse(c, json, msg, sizeof msg) != 0) {
		seterr(err, errsz, "%s: __metadata__.config: %s", path, msg);
		return -1;
	}
	if (c->vocab == 0) {
		seterr(err, errsz, "%s: __metadata__.config: vocab: missing or 0", path);
		return -1;
	}
	param_table_build(t, c);
	if (check_tensors(rec, t, msg, sizeof msg) != 0) {
		seterr(err, errsz, "%s: %s", path, msg);
		param_table_free(t);
		return -1;
	}
	return 0;
}

int
record_save(const char *path, const struct record *rec, char *err, size_t errsz)
{
	char *dup = estrdup(path), *dir = dirname(dup), *tmp;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strlen(dir) + strlen(base) + 16;
	mode_t mask;
	FILE *fp = NULL;
	int fd, dfd, saved;

	tmp = emalloc(n);
	snprintf(tmp, n, "%s/.%s.XXXXXX", dir, base);
	if ((fd = mkstemp(tmp)) < 0) {
		seterr(err, errsz, "%s: create a temporary file in %s: %s", path, dir,
		    strerror(errno));
		goto fail;
	}
	/* mkstemp makes 0600; a checkpoint gets the usual permissions */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0 || !(fp = fdopen(fd, "wb"))) {
		seterr(err, errsz, "%s: %s", tmp, strerror(errno));
		close(fd);
		goto fail_unlink;
	}
	if (record_write(fp, rec) != 0 || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		seterr(err, errsz, "write %s: %s", tmp, strerror(errno));
		fclose(fp);
		goto fail_unlink;
	}
	if (fclose(fp) != 0) {
		seterr(err, errsz, "write %s: %s", tmp, strerror(errno));
		goto fail_unlink;
	}
	if (rename(tmp, path) != 0) {
		seterr(err, errsz, "rename %s to %s: %s", tmp, path, strerror(errno));
		goto fail_unlink;
	}
	/* the rename itself reaches the disk with the directory */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(tmp);
	free(dup);
	return 0;
fail_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail:
	free(tmp);
	free(dup);
	return -1;
}
