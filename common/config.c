/* config.c: model presets, the strict JSON config parser and its writer. */
#include "config.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
defaults(struct config *c)
{
	int i;

	memset(c, 0, sizeof *c);
	c->mlp_ratio = 4;
	c->gelu = GELU_TANH;
	c->ln_eps = 1e-5;
	for (i = 0; i < 3; i++) {
		c->mean[i] = 0.5;
		c->std[i] = 0.5;
	}
}

int
config_preset(struct config *c, const char *name)
{
	static const struct {
		const char *name;
		int image, patch, dim, heads, enc_layers, dec_layers, dec_len;
	} presets[] = {
		{"tiny", 64, 8, 192, 6, 4, 4, 24},
		{"small", 224, 16, 384, 6, 6, 6, 32},
		{"base", 224, 16, 768, 12, 12, 6, 40},
	};
	size_t i;

	for (i = 0; i < sizeof presets / sizeof presets[0]; i++) {
		if (strcmp(name, presets[i].name) != 0)
			continue;
		defaults(c);
		c->image = presets[i].image;
		c->patch = presets[i].patch;
		c->dim = presets[i].dim;
		c->heads = presets[i].heads;
		c->enc_layers = presets[i].enc_layers;
		c->dec_layers = presets[i].dec_layers;
		c->dec_len = presets[i].dec_len;
		return 0;
	}
	return -1;
}

int
config_patches(const struct config *c)
{
	int g = c->image / c->patch;

	return g * g;
}

int
config_enc_len(const struct config *c)
{
	return config_patches(c) + (c->cls_token != 0);
}

int
config_hidden(const struct config *c)
{
	return c->mlp_ratio * c->dim;
}

/* Limits keep every tensor size and index within int and every buffer within
 * size_t, so the kernels need no overflow checks of their own. */
int
config_check(const struct config *c, char *err, size_t errsz)
{
	static const char *rgb[] = {"red", "green", "blue"};
	const struct {
		const char *key;
		int v, lo, hi;
	} ints[] = {
		{"image", c->image, 1, 8192},
		{"patch", c->patch, 1, 8192},
		{"dim", c->dim, 1, 16384},
		{"heads", c->heads, 1, 1024},
		{"enc_layers", c->enc_layers, 0, 1024},
		{"dec_layers", c->dec_layers, 0, 1024},
		{"dec_len", c->dec_len, 1, 65536},
		{"mlp_ratio", c->mlp_ratio, 1, 64},
	};
	size_t i;

	for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		if (ints[i].v < ints[i].lo || ints[i].v > ints[i].hi) {
			seterr(err, errsz, "%s: %d is out of range [%d, %d]", ints[i].key,
			    ints[i].v, ints[i].lo, ints[i].hi);
			return -1;
		}
	}
	if (c->vocab != 0 && (c->vocab < 4 || c->vocab > (1 << 24))) {
		seterr(err, errsz, "vocab: %d is out of range [4, %d] (4 special tokens)",
		    c->vocab, 1 << 24);
		return -1;
	}
	if (c->image % c->patch != 0) {
		seterr(err, errsz, "patch: %d does not divide image %d", c->patch, c->image);
		return -1;
	}
	if (c->dim % c->heads != 0) {
		seterr(err, errsz, "heads: %d does not divide dim %d", c->heads, c->dim);
		return -1;
	}
	if (config_patches(c) > 65536) {
		seterr(err, errsz, "patch: %d gives %d patches, more than 65536", c->patch,
		    config_patches(c));
		return -1;
	}
	if ((long long)c->patch * c->patch * 3 * c->dim > (1LL << 30)) {
		seterr(err, errsz, "patch: a %d-pixel patch makes encoder.patch_embed.weight too large",
		    c->patch);
		return -1;
	}
	if (c->cls_token != 0 && c->cls_token != 1) {
		seterr(err, errsz, "cls_token: must be true or false");
		return -1;
	}
	if (c->gelu != GELU_TANH && c->gelu != GELU_EXACT) {
		seterr(err, errsz, "gelu: must be \"tanh\" or \"exact\"");
		return -1;
	}
	if (!(c->ln_eps > 0 && c->ln_eps <= 1)) {
		seterr(err, errsz, "ln_eps: %g is out of range (0, 1]", c->ln_eps);
		return -1;
	}
	for (i = 0; i < 3; i++) {
		if (!isfinite(c->mean[i]) || fabs(c->mean[i]) > 1e6) {
			seterr(err, errsz, "mean: the %s value %g is not a sane number", rgb[i],
			    c->mean[i]);
			return -1;
		}
		if (!(c->std[i] > 1e-6 && c->std[i] < 1e6)) {
			seterr(err, errsz, "std: the %s value %g is out of range (1e-6, 1e6)", rgb[i],
			    c->std[i]);
			return -1;
		}
	}
	return 0;
}

static int
get_int(json_t *v, const char *key, int *out, char *err, size_t errsz)
{
	json_int_t n;

	if (!json_is_integer(v)) {
		seterr(err, errsz, "%s: expected an integer", key);
		return -1;
	}
	n = json_integer_value(v);
	if (n < -(1LL << 30) || n > (1LL << 30)) {
		seterr(err, errsz, "%s: %lld is out of range", key, (long long)n);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int
get_triple(json_t *v, const char *key, double out[3], char *err, size_t errsz)
{
	size_t i;

	if (!json_is_array(v) || json_array_size(v) != 3) {
		seterr(err, errsz, "%s: expected an array of 3 numbers (R, G, B)", key);
		return -1;
	}
	for (i = 0; i < 3; i++) {
		if (!json_is_number(json_array_get(v, i))) {
			seterr(err, errsz, "%s: expected an array of 3 numbers (R, G, B)", key);
			return -1;
		}
		out[i] = json_number_value(json_array_get(v, i));
	}
	return 0;
}

int
config_parse(struct config *c, const char *text, char *err, size_t errsz)
{
	static const char *required[] = {"image", "patch", "dim", "heads", "enc_layers",
		"dec_layers", "dec_len"};
	struct {
		const char *key;
		int *p;
	} ints[] = {
		{"image", &c->image}, {"patch", &c->patch}, {"dim", &c->dim},
		{"heads", &c->heads}, {"enc_layers", &c->enc_layers},
		{"dec_layers", &c->dec_layers}, {"dec_len", &c->dec_len},
		{"vocab", &c->vocab}, {"mlp_ratio", &c->mlp_ratio},
	};
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	size_t i;
	int rc = -1;

	defaults(c);
	if (!(root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr))) {
		seterr(err, errsz, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		seterr(err, errsz, "expected a JSON object");
		goto out;
	}
	for (i = 0; i < sizeof required / sizeof required[0]; i++) {
		if (!json_object_get(root, required[i])) {
			seterr(err, errsz, "%s: missing", required[i]);
			goto out;
		}
	}
	json_object_foreach(root, key, v) {
		size_t j;

		for (j = 0; j < sizeof ints / sizeof ints[0]; j++)
			if (strcmp(key, ints[j].key) == 0)
				break;
		if (j < sizeof ints / sizeof ints[0]) {
			if (get_int(v, key, ints[j].p, err, errsz) != 0)
				goto out;
		} else if (strcmp(key, "cls_token") == 0) {
			if (!json_is_boolean(v)) {
				seterr(err, errsz, "cls_token: expected true or false");
				goto out;
			}
			c->cls_token = json_is_true(v);
		} else if (strcmp(key, "gelu") == 0) {
			const char *s = json_string_value(v);

			if (s && strcmp(s, "tanh") == 0) {
				c->gelu = GELU_TANH;
			} else if (s && strcmp(s, "exact") == 0) {
				c->gelu = GELU_EXACT;
			} else {
				seterr(err, errsz, "gelu: expected \"tanh\" or \"exact\"");
				goto out;
			}
		} else if (strcmp(key, "ln_eps") == 0) {
			if (!json_is_number(v)) {
				seterr(err, errsz, "ln_eps: expected a number");
				goto out;
			}
			c->ln_eps = json_number_value(v);
		} else if (strcmp(key, "mean") == 0) {
			if (get_triple(v, key, c->mean, err, errsz) != 0)
				goto out;
		} else if (strcmp(key, "std") == 0) {
			if (get_triple(v, key, c->std, err, errsz) != 0)
				goto out;
		} else {
			seterr(err, errsz, "%s: unknown key", key);
			goto out;
		}
	}
	rc = config_check(c, err, errsz);
out:
	json_decref(root);
	return rc;
}

int
config_load(struct config *c, const char *arg, char *err, size_t errsz)
{
	char msg[256];
	size_t len;
	char *text;
	FILE *fp;
	int rc;

	if (config_preset(c, arg) == 0)
		return 0;
	if (!(fp = fopen(arg, "r"))) {
		if (!strchr(arg, '/') && !strchr(arg, '.'))
			seterr(err, errsz, "%s: not a preset (tiny, small, base) nor a file", arg);
		else
			seterr(err, errsz, "%s: %s", arg, strerror(errno));
		return -1;
	}
	fclose(fp);
	text = readfile(arg, &len);
	if (strlen(text) != len) {
		seterr(err, errsz, "%s: contains a NUL byte", arg);
		free(text);
		return -1;
	}
	rc = config_parse(c, text, msg, sizeof msg);
	if (rc != 0)
		seterr(err, errsz, "%s: %s", arg, msg);
	free(text);
	return rc;
}

char *
config_json(const struct config *c)
{
	json_t *o = json_object(), *mean = json_array(), *std = json_array();
	char *s;
	int i;

	json_object_set_new(o, "image", json_integer(c->image));
	json_object_set_new(o, "patch", json_integer(c->patch));
	json_object_set_new(o, "dim", json_integer(c->dim));
	json_object_set_new(o, "heads", json_integer(c->heads));
	json_object_set_new(o, "enc_layers", json_integer(c->enc_layers));
	json_object_set_new(o, "dec_layers", json_integer(c->dec_layers));
	json_object_set_new(o, "dec_len", json_integer(c->dec_len));
	json_object_set_new(o, "vocab", json_integer(c->vocab));
	json_object_set_new(o, "mlp_ratio", json_integer(c->mlp_ratio));
	json_object_set_new(o, "cls_token", json_boolean(c->cls_token));
	json_object_set_new(o, "gelu", json_string(c->gelu == GELU_EXACT ? "exact" : "tanh"));
	json_object_set_new(o, "ln_eps", json_real(c->ln_eps));
	for (i = 0; i < 3; i++) {
		json_array_append_new(mean, json_real(c->mean[i]));
		json_array_append_new(std, json_real(c->std[i]));
	}
	json_object_set_new(o, "mean", mean);
	json_object_set_new(o, "std", std);
	/* 15 digits: values a person typed read back as the same double, and
	 * 1e-5 prints as 1e-05 rather than 1.0000000000000001e-05 */
	if (!(s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))))
		eprintf("out of memory formatting the model config");
	json_decref(o);
	return s;
}
