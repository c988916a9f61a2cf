/* strtab.h: a hash table of byte strings, each numbered in the order it was first
 * added (0, 1, 2, ...), so callers keep what belongs to a string in plain arrays
 * indexed by that number. Strings live in one pool: no allocation per string. */
#ifndef VITCAP_STRTAB_H
#define VITCAP_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#define STRTAB_NONE SIZE_MAX

/* Zero-initialise before use. */
struct strtab {
	char *pool;
	size_t poollen, poolcap;
	size_t *off;            /* string i is pool[off[i] .. off[i + 1]) */
	uint64_t *hash;
	size_t n, cap;
	uint32_t *slot;         /* open addressing: string number + 1, 0 when empty */
	size_t mask;            /* slots - 1; slots is a power of two over twice n */
};

uint64_t strhash(const void *s, size_t n);

/* The number of string s of n bytes, or STRTAB_NONE. */
size_t strtab_find(const struct strtab *t, const void *s, size_t n);
size_t strtab_find_hash(const struct strtab *t, const void *s, size_t n, uint64_t h);

/* The number of s, added when new (*added set to 1, else 0; added may be NULL). */
size_t strtab_add(struct strtab *t, const void *s, size_t n, int *added);

/* String i and its length; valid until the next add. */
static inline const char *
strtab_str(const struct strtab *t, size_t i, size_t *n)
{
	*n = t->off[i + 1] - t->off[i];
	return t->pool + t->off[i];
}

void strtab_free(struct strtab *t);

#endif
