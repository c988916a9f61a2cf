/* utf8.c: UTF-8 decoding and Python-compatible whitespace and lowercasing. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

size_t
utf8_decode(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c = s[0];
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		c &= 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		c &= 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

size_t
utf8_check(const char *s, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_decode(s + i, n - i, &cp)) == 0)
			return i;
		i += k;
	}
	return n;
}

size_t
utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;

	if (cp < 0x80) {
		o[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = 0xC0 | cp >> 6;
		o[1] = 0x80 | (cp & 0x3F);
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = 0xE0 | cp >> 12;
		o[1] = 0x80 | (cp >> 6 & 0x3F);
		o[2] = 0x80 | (cp & 0x3F);
		return 3;
	}
	o[0] = 0xF0 | cp >> 18;
	o[1] = 0x80 | (cp >> 12 & 0x3F);
	o[2] = 0x80 | (cp >> 6 & 0x3F);
	o[3] = 0x80 | (cp & 0x3F);
	return 4;
}

static int
in_ranges(const struct urange *r, size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

int
uni_isspace(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
	return in_ranges(uni_space, uni_space_len, cp);
}

size_t
utf8_space(const char *s, size_t n)
{
	uint32_t cp;
	size_t k;

	if ((unsigned char)s[0] < 0x80)
		return uni_isspace((unsigned char)s[0]);
	k = utf8_decode(s, n, &cp);
	return k && uni_isspace(cp) ? k : 0;
}

size_t
utf8_rstrip(const char *s, size_t n)
{
	while (n > 0) {
		size_t start = n - 1;
		uint32_t cp;

		/* step back to the lead byte of the last character */
		while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80)
			start--;
		if (!utf8_decode(s + start, n - start, &cp) || !uni_isspace(cp))
			break;
		n = start;
	}
	return n;
}

static const struct ulower *
lower_entry(uint32_t cp)
{
	size_t lo = 0, hi = uni_lower_len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < uni_lower[mid].cp)
			hi = mid;
		else if (cp > uni_lower[mid].cp)
			lo = mid + 1;
		else
			return &uni_lower[mid];
	}
	return NULL;
}

/* Unicode's Final_Sigma condition, as Python's handle_capital_sigma() tests it:
 * a cased letter before the sigma (case-ignorable characters skipped) and none after. */
static int
final_sigma(const uint32_t *cps, size_t n, size_t i)
{
	size_t j;

	for (j = i; j > 0 && in_ranges(uni_ignorable, uni_ignorable_len, cps[j - 1]); j--)
		;
	if (j == 0 || !in_ranges(uni_cased, uni_cased_len, cps[j - 1]))
		return 0;
	for (j = i + 1; j < n && in_ranges(uni_ignorable, uni_ignorable_len, cps[j]); j++)
		;
	return j == n || !in_ranges(uni_cased, uni_cased_len, cps[j]);
}

void
utf8_lower(struct buf *out, const char *s, size_t n)
{
	uint32_t *cps;
	size_t i, k, ncp = 0;
	char enc[4];

	for (i = 0; i < n && (unsigned char)s[i] < 0x80; i++)
		;
	if (i == n) { /* ASCII: the common case */
		buf_reserve(out, n);
		for (i = 0; i < n; i++)
			out->p[out->len++] = s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i];
		return;
	}
	cps = ereallocarray(NULL, n, sizeof *cps);
	for (i = 0; i < n; i += k) {
		k = utf8_decode(s + i, n - i, &cps[ncp++]);
		if (k == 0)
			k = 1; /* callers validate first; never loop forever */
	}
	for (i = 0; i < ncp; i++) {
		const struct ulower *e;

		if (cps[i] == 0x3A3) {
			buf_append(out, enc, utf8_encode(final_sigma(cps, ncp, i) ? 0x3C2 : 0x3C3, enc));
		} else if ((e = lower_entry(cps[i])) != NULL) {
			for (k = 0; k < e->n; k++)
				buf_append(out, enc, utf8_encode(uni_lower_pool[e->off + k], enc));
		} else {
			buf_append(out, enc, utf8_encode(cps[i], enc));
		}
	}
	free(cps);
}
