/* strtab.c: a hash table of byte strings numbered in insertion order. */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static inline uint64_t
mix(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

/* Eight bytes at a time: words and pre-tokens are short, so a byte-at-a-time hash
 * would be most of the cost of a lookup. */
uint64_t
strhash(const void *s, size_t n)
{
	const unsigned char *p = s;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull), w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
		p += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0x94d049bb133111ebull;
	return mix(h);
}

size_t
strtab_find_hash(const struct strtab *t, const void *s, size_t n, uint64_t h)
{
	size_t i;
	uint32_t e;

	if (!t->slot)
		return STRTAB_NONE;
	for (i = h & t->mask; (e = t->slot[i]) != 0; i = (i + 1) & t->mask) {
		e--;
		if (t->hash[e] == h && t->off[e + 1] - t->off[e] == n &&
		    memcmp(t->pool + t->off[e], s, n) == 0)
			return e;
	}
	return STRTAB_NONE;
}

size_t
strtab_find(const struct strtab *t, const void *s, size_t n)
{
	return strtab_find_hash(t, s, n, strhash(s, n));
}

static void
rehash(struct strtab *t, size_t nslot)
{
	size_t i, j;

	free(t->slot);
	t->slot = ecalloc(nslot, sizeof *t->slot);
	t->mask = nslot - 1;
	for (i = 0; i < t->n; i++) {
		for (j = t->hash[i] & t->mask; t->slot[j]; j = (j + 1) & t->mask)
			;
		t->slot[j] = i + 1;
	}
}

size_t
strtab_add(struct strtab *t, const void *s, size_t n, int *added)
{
	uint64_t h = strhash(s, n);
	size_t i = strtab_find_hash(t, s, n, h);

	if (added)
		*added = i == STRTAB_NONE;
	if (i != STRTAB_NONE)
		return i;
	if (t->n >= UINT32_MAX - 1)
		eprintf("more than %u distinct strings", UINT32_MAX - 2);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->off = ereallocarray(t->off, t->cap + 1, sizeof *t->off);
		t->hash = ereallocarray(t->hash, t->cap, sizeof *t->hash);
		t->off[0] = 0;
	}
	if (t->poolcap - t->poollen < n) {
		size_t cap = t->poolcap ? t->poolcap : 4096;

		while (cap - t->poollen < n)
			cap *= 2;
		t->pool = erealloc(t->pool, cap);
		t->poolcap = cap;
	}
	if (n)
		memcpy(t->pool + t->poollen, s, n);
	t->poollen += n;
	i = t->n++;
	t->hash[i] = h;
	t->off[i + 1] = t->poollen;
	if (!t->slot || 2 * t->n > t->mask + 1) {
		rehash(t, t->slot ? 2 * (t->mask + 1) : 512);
	} else {
		size_t j;

		for (j = h & t->mask; t->slot[j]; j = (j + 1) & t->mask)
			;
		t->slot[j] = i + 1;
	}
	return i;
}

void
strtab_free(struct strtab *t)
{
	free(t->pool);
	free(t->off);
	free(t->hash);
	free(t->slot);
	memset(t, 0, sizeof *t);
}
