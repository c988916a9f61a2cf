/* scene_caption.c: five reference captions for a scene. Each layout has five
 * fixed phrasings and every image gets all five, so the words that depend on
 * the picture (colour, kind, size, place, count) are the only thing a captioner
 * has to learn, while the references still differ as human ones do. The
 * vocabulary is listed in capsynth(1); keep the two in step. */
#include <stdio.h>
#include <string.h>

#include "scene.h"

/* "in the top left corner", "on the left", "at the top", "in the middle" */
static void
place_phrase(char *buf, size_t n, int col, int row)
{
	if (col != 1 && row != 1)
		snprintf(buf, n, "in the %s corner", scene_place(col, row));
	else if (col != 1)
		snprintf(buf, n, "on the %s", scene_place(col, row));
	else if (row != 1)
		snprintf(buf, n, "at the %s", scene_place(col, row));
	else
		snprintf(buf, n, "in the middle");
}

/* "colour kind", or "size colour kind" */
static void
noun(char *buf, size_t n, const struct shape *s, int with_size)
{
	if (with_size)
		snprintf(buf, n, "%s %s %s", scene_size[s->size], scene_colour[s->colour],
		    scene_kind[s->kind]);
	else
		snprintf(buf, n, "%s %s", scene_colour[s->colour], scene_kind[s->kind]);
}

/* Turns the article "a" into "an" before a vowel ("an orange circle"). */
static void
articles(char *s)
{
	char *p;

	for (p = s; (p = strstr(p, "a ")) != NULL; p++) {
		if ((p == s || p[-1] == ' ') && strchr("aeiou", p[2]) && p[2] != '\0') {
			memmove(p + 2, p + 1, strlen(p + 1) + 1);
			p[1] = 'n';
		}
	}
}

void
scene_captions(const struct scene *sc, struct srng *r,
    char cap[SCENE_NCAPTIONS][SCENE_CAPTION_MAX])
{
	const struct shape *s = sc->s;
	const char *bg = scene_bg[sc->bg];
	const char *before = sc->vertical ? "above" : "to the left of";
	const char *after = sc->vertical ? "below" : "to the right of";
	char a[32], b[32], c[32], za[32], zb[32], place[32];
	int i;

	noun(a, sizeof a, &s[0], 0);
	noun(za, sizeof za, &s[0], 1);
	if (sc->n > 1) {
		noun(b, sizeof b, &s[1], 0);
		noun(zb, sizeof zb, &s[1], 1);
	}
	if (sc->n > 2)
		noun(c, sizeof c, &s[2], 0);

#define CAP(i, ...) snprintf(cap[i], SCENE_CAPTION_MAX, __VA_ARGS__)
	switch (sc->layout) {
	case LAYOUT_ONE:
		place_phrase(place, sizeof place, sc->col, sc->row);
		CAP(0, "a %s %s", za, place);
		CAP(1, "a %s on a %s background", za, bg);
		CAP(2, "there is one %s %s", a, place);
		CAP(3, "one %s", za);
		CAP(4, "a %s background with a %s %s", bg, a, place);
		break;
	case LAYOUT_PAIR:
		CAP(0, "a %s %s a %s", za, before, zb);
		CAP(1, "a %s %s a %s", b, after, a);
		CAP(2, "two shapes: a %s and a %s", a, b);
		CAP(3, "a %s and a %s", a, b);
		CAP(4, "a %s %s a %s", a, sc->vertical ? "over" : "next to", b);
		break;
	case LAYOUT_TWIN:
		CAP(0, "two %s %s", scene_colour[s->colour], scene_kinds[s->kind]);
		CAP(1, "two %s %s %s %s", scene_size[s->size], scene_colour[s->colour],
		    scene_kinds[s->kind], sc->vertical ? "one above the other" : "side by side");
		CAP(2, "there are two %s %s", scene_colour[s->colour], scene_kinds[s->kind]);
		CAP(3, "a %s %s another %s", a, before, a);
		CAP(4, "a pair of %s %s", scene_colour[s->colour], scene_kinds[s->kind]);
		break;
	case LAYOUT_TRIO:
		CAP(0, "three shapes: a %s, a %s and a %s", a, b, c);
		CAP(1, "from left to right: a %s, a %s and a %s", a, b, c);
		CAP(2, "a %s, a %s and a %s", a, b, c);
		CAP(3, "there are three shapes: a %s, a %s and a %s", scene_kind[s[0].kind],
		    scene_kind[s[1].kind], scene_kind[s[2].kind]);
		CAP(4, "a %s between a %s and a %s", b, a, c);
		break;
	case LAYOUT_TRIPLET:
		CAP(0, "three %s %s", scene_colour[s->colour], scene_kinds[s->kind]);
		CAP(1, "there are three %s %s", scene_colour[s->colour], scene_kinds[s->kind]);
		CAP(2, "three %s %s on a %s background", scene_colour[s->colour],
		    scene_kinds[s->kind], bg);
		CAP(3, "three %s, all of them %s", scene_kinds[s->kind], scene_colour[s->colour]);
		CAP(4, "a group of three %s %s", scene_colour[s->colour], scene_kinds[s->kind]);
		break;
	}
#undef CAP
	for (i = 0; i < SCENE_NCAPTIONS; i++)
		articles(cap[i]);
	for (i = SCENE_NCAPTIONS - 1; i > 0; i--) {     /* references come in no set order */
		char t[SCENE_CAPTION_MAX];
		int j = srng_below(r, i + 1);

		memcpy(t, cap[i], sizeof t);
		memcpy(cap[i], cap[j], sizeof t);
		memcpy(cap[j], t, sizeof t);
	}
}
