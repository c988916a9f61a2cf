/* config.h: the model's hyperparameters, the named presets and the JSON form that
 * travels in a checkpoint's __metadata__.config (DESIGN.md, "The model"). */
#ifndef VITCAP_CONFIG_H
#define VITCAP_CONFIG_H

#include <stddef.h>

enum { GELU_TANH, GELU_EXACT };

struct config {
	int image;              /* input side in pixels (square images) */
	int patch;              /* patch side P; image is a multiple of it */
	int dim;                /* model width D, shared by encoder and decoder */
	int heads;              /* attention heads H; dim is a multiple of it */
	int enc_layers, dec_layers;
	int dec_len;            /* decoder positions T (rows of decoder.pos_embed) */
	int vocab;              /* V; 0 until the vocabulary is known */
	int mlp_ratio;          /* MLP hidden width = mlp_ratio * dim */
	int cls_token;          /* the encoder prepends a learned class token */
	int gelu;               /* GELU_TANH, or GELU_EXACT (erf) for imported ViT weights */
	double ln_eps;          /* LayerNorm epsilon */
	double mean[3], std[3]; /* pixel normalisation after scaling to [0, 1], RGB */
};

/* Fills c with a named preset ("tiny", "small", "base"; vocab 0). Returns 0, or -1
 * for an unknown name. */
int config_preset(struct config *c, const char *name);

/* Parses a JSON config. Required keys: image, patch, dim, heads, enc_layers,
 * dec_layers, dec_len; optional: vocab (0), mlp_ratio (4), cls_token (false),
 * gelu ("tanh"), ln_eps (1e-5), mean ([0.5, 0.5, 0.5]), std ([0.5, 0.5, 0.5]).
 * Strict: an unknown key, a wrong type or a value out of range is an error naming
 * the key. Returns 0, or -1 with the message in err. */
int config_parse(struct config *c, const char *json, char *err, size_t errsz);

/* A preset name, or the path of a JSON config file. Returns 0 or -1 with err
 * ("FILE: message" for a file). */
int config_load(struct config *c, const char *name_or_path, char *err, size_t errsz);

/* Checks ranges and divisibility (vocab 0 allowed). Returns 0, or -1 with err. */
int config_check(const struct config *c, char *err, size_t errsz);

/* The config as compact JSON with every key (config_parse reads it back to the
 * same values); the caller frees it. */
char *config_json(const struct config *c);

/* Derived sizes. */
int config_patches(const struct config *c);     /* (image / patch)^2 */
int config_enc_len(const struct config *c);     /* N: patches, +1 with a class token */
int config_hidden(const struct config *c);      /* MLP width mlp_ratio * dim */

#endif
