/* scene.h: the synthetic scenes of capsynth(1): one to three coloured shapes on a
 * plain or graded background, drawn antialiased (scene.c), and five reference
 * captions that say what is drawn (scene_caption.c). A scene and its captions
 * depend only on (seed, index), so any image can be made alone. */
#ifndef VITCAP_SCENE_H
#define VITCAP_SCENE_H

#include <stdint.h>

#include "image.h"

/* xoshiro256** seeded through splitmix64: the same numbers on every platform. */
struct srng {
	uint64_t s[4];
};

void srng_seed(struct srng *r, uint64_t seed, uint64_t stream);
uint64_t srng_next(struct srng *r);
double srng_uniform(struct srng *r);            /* [0, 1) */
int srng_below(struct srng *r, int n);          /* 0 .. n-1 */

enum { KIND_CIRCLE, KIND_SQUARE, KIND_TRIANGLE, KIND_DIAMOND, KIND_STAR, NKIND };
enum { COL_RED, COL_ORANGE, COL_YELLOW, COL_GREEN, COL_BLUE, COL_PURPLE, NCOLOUR };
enum { BG_WHITE, BG_GRAY, BG_BLACK, NBG };
enum { SIZE_SMALL, SIZE_LARGE, NSIZE };

extern const char *const scene_kind[NKIND], *const scene_kinds[NKIND];
extern const char *const scene_colour[NCOLOUR], *const scene_bg[NBG];
extern const char *const scene_size[NSIZE];

/* Where a lone shape is: a cell of a 3 x 3 grid, "top left" .. "bottom right". */
const char *scene_place(int col, int row);

enum layout {
	LAYOUT_ONE,             /* one shape in a cell of the 3 x 3 grid */
	LAYOUT_PAIR,            /* two shapes that differ in colour or kind */
	LAYOUT_TWIN,            /* two equal shapes */
	LAYOUT_TRIO,            /* three small shapes, not all equal */
	LAYOUT_TRIPLET,         /* three equal small shapes */
};

struct shape {
	int kind, colour, size;
	double x, y, r;         /* centre and outer radius, in pixels */
	unsigned char rgb[3];
};

struct scene {
	enum layout layout;
	int n;                  /* shapes */
	int vertical;           /* pairs and twins: one above the other, not side by side */
	int col, row;           /* a lone shape's cell, 0..2 each */
	int bg;
	double bg_rgb[3];       /* at the centre */
	double grad[2];         /* change of every channel per pixel along x and y */
	struct shape s[3];      /* left to right, or top to bottom when vertical */
};

/* Picks a random scene for an image of size x size pixels. */
void scene_make(struct scene *sc, int size, struct srng *r);
/* Renders it with 4 x 4 supersampling and adds pixel noise. */
void scene_draw(const struct scene *sc, int size, struct srng *r, struct image *img);

#define SCENE_NCAPTIONS 5
#define SCENE_CAPTION_MAX 160

/* The five reference captions, in lower case without a final full stop; each is
 * a different phrasing, in random order. */
void scene_captions(const struct scene *sc, struct srng *r,
    char cap[SCENE_NCAPTIONS][SCENE_CAPTION_MAX]);

#endif
