/* utf8.h: UTF-8 and the parts of Python's str that scorers depend on.
 * sacrebleu and the coco-caption scorers are Python, so splitting, stripping and
 * lowercasing follow str.split(), str.rstrip() and str.lower() exactly, using tables
 * generated from Python itself (common/gen_unicode_tables.py). */
#ifndef VITCAP_UTF8_H
#define VITCAP_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct urange {
	uint32_t lo, hi;
};

struct ulower {
	uint32_t cp;
	uint16_t off;   /* into uni_lower_pool */
	uint8_t n;      /* code points in the lowercase form (1..3) */
};

extern const struct urange uni_space[], uni_cased[], uni_ignorable[];
extern const size_t uni_space_len, uni_cased_len, uni_ignorable_len;
extern const struct ulower uni_lower[];
extern const size_t uni_lower_len;
extern const uint32_t uni_lower_pool[];

/* Decodes the sequence at s (n > 0 bytes available) into *cp and returns its
 * length, or 0 when it is not well-formed UTF-8 (overlong forms, surrogates and
 * code points past U+10FFFF included, as Python's decoder rejects them). */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Returns the byte offset of the first ill-formed sequence, or n when valid. */
size_t utf8_check(const char *s, size_t n);

/* Writes cp as UTF-8 to out (4 bytes room) and returns the length. */
size_t utf8_encode(uint32_t cp, char *out);

/* Python's str.isspace() for one code point. */
int uni_isspace(uint32_t cp);

/* If a whitespace character starts at s (n > 0 bytes), returns its length; else 0.
 * s must be valid UTF-8. */
size_t utf8_space(const char *s, size_t n);

/* Python's str.rstrip(): the length of s (valid UTF-8) without trailing whitespace. */
size_t utf8_rstrip(const char *s, size_t n);

/* Python's str.lower() of valid UTF-8 s, appended to out (Final_Sigma included). */
void utf8_lower(struct buf *out, const char *s, size_t n);

#endif
