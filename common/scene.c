/* scene.c: random scenes of coloured shapes and their antialiased drawing.
 * Pixel values come from +, -, *, / alone (no sin or pow, whose last bit
 * differs between C libraries), so a seed gives the same bytes everywhere. */
#include <math.h>
#include <stdlib.h>

#include "scene.h"
#include "util.h"

const char *const scene_kind[NKIND] = {"circle", "square", "triangle", "diamond", "star"};
const char *const scene_kinds[NKIND] = {"circles", "squares", "triangles", "diamonds", "stars"};
const char *const scene_colour[NCOLOUR] = {"red", "orange", "yellow", "green", "blue", "purple"};
const char *const scene_bg[NBG] = {"white", "gray", "black"};
const char *const scene_size[NSIZE] = {"small", "large"};

/* Saturated colours, far apart in hue. JPEG keeps colour at half resolution,
 * so a shape's outline is sharp only where its brightness differs from the
 * background's: the colours' luma lies in 110..200, the backgrounds' outside it. */
static const unsigned char palette[NCOLOUR][3] = {
	{240, 60, 60}, {250, 130, 20}, {235, 205, 35},
	{50, 180, 70}, {70, 120, 250}, {175, 80, 230},
};
static const double bg_base[NBG][2] = {{238, 10}, {56, 14}, {10, 14}}; /* low, span */

const char *
scene_place(int col, int row)
{
	static const char *const names[3][3] = {
		{"top left", "top", "top right"},
		{"left", "middle", "right"},
		{"bottom left", "bottom", "bottom right"},
	};

	return names[row][col];
}

void
srng_seed(struct srng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed;
	int i;

	/* the stream is mixed in after one round, so nearby (seed, stream) pairs
	 * do not give overlapping sequences */
	x = splitmix64(&x) ^ stream * 0xd1342543de82ef95ULL;
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
srng_next(struct srng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double
srng_uniform(struct srng *r)
{
	return (srng_next(r) >> 11) * 0x1.0p-53;
}

int
srng_below(struct srng *r, int n)
{
	return (int)(srng_uniform(r) * n);
}

static double
uniform(struct srng *r, double lo, double hi)
{
	return lo + (hi - lo) * srng_uniform(r);
}

/* The farthest a shape reaches from its centre, in radii (the triangle's apex). */
#define EXTENT 1.15

/* A shape of random kind and colour, of the given size class or (-1) a random
 * one, for an image of size_px pixels; its place comes later. */
static void
random_shape(struct shape *s, int size, int size_px, struct srng *r)
{
	int c;

	s->kind = srng_below(r, NKIND);
	s->colour = srng_below(r, NCOLOUR);
	s->size = size >= 0 ? size : srng_below(r, NSIZE);
	s->r = size_px * (s->size == SIZE_LARGE ? uniform(r, 0.17, 0.19) : uniform(r, 0.105, 0.125));
	for (c = 0; c < 3; c++) {
		int v = palette[s->colour][c] + srng_below(r, 21) - 10;

		s->rgb[c] = v < 0 ? 0 : v > 255 ? 255 : v;
	}
}

static double
clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void
place_one(struct scene *sc, int size, struct srng *r)
{
	struct shape *s = &sc->s[0];
	double ext = EXTENT * s->r + 1;

	sc->col = srng_below(r, 3);
	sc->row = srng_below(r, 3);
	s->x = clamp(size * (0.5 + 0.27 * (sc->col - 1) + uniform(r, -0.03, 0.03)), ext, size - ext);
	s->y = clamp(size * (0.5 + 0.27 * (sc->row - 1) + uniform(r, -0.03, 0.03)), ext, size - ext);
}

/* Two shapes in opposite halves, far enough apart along the split that "left of"
 * or "above" is plain to see, and never touching. */
static void
place_two(struct scene *sc, int size, struct srng *r)
{
	struct shape *a = &sc->s[0], *b = &sc->s[1];
	double ea = EXTENT * a->r + 1, eb = EXTENT * b->r + 1, along[2], across[2], gap;
	int tries;

	sc->vertical = srng_below(r, 2);
	for (tries = 0; tries < 1000; tries++) {
		along[0] = uniform(r, ea, 0.42 * size);
		along[1] = uniform(r, 0.58 * size, size - eb);
		across[0] = uniform(r, ea, size - ea);
		across[1] = uniform(r, eb, size - eb);
		gap = along[1] - along[0];
		if (gap >= 2 * fabs(across[1] - across[0]) &&
		    gap * gap + (across[1] - across[0]) * (across[1] - across[0]) >=
		    (ea + eb + 2) * (ea + eb + 2))
			break;
	}
	if (tries == 1000) {    /* the last resort: level, at the outer edges */
		along[0] = ea, along[1] = size - eb;
		across[0] = across[1] = size / 2.0;
	}
	a->x = sc->vertical ? across[0] : along[0];
	a->y = sc->vertical ? along[0] : across[0];
	b->x = sc->vertical ? across[1] : along[1];
	b->y = sc->vertical ? along[1] : across[1];
}

/* Three small shapes, one to each third of the width, roughly in a row. */
static void
place_three(struct scene *sc, int size, struct srng *r)
{
	int i;

	for (i = 0; i < 3; i++) {
		struct shape *s = &sc->s[i];
		double ext = EXTENT * s->r + 1;

		s->x = clamp(size * (1 + 2 * i) / 6.0 + uniform(r, -0.02, 0.02) * size, ext,
		    size - ext);
		s->y = uniform(r, 0.28 * size, 0.72 * size);
	}
}

void
scene_make(struct scene *sc, int size, struct srng *r)
{
	/* eighths: one shape 3, two different 2, two equal 1, three 1 and 1 */
	static const enum layout pick[8] = {
		LAYOUT_ONE, LAYOUT_ONE, LAYOUT_ONE, LAYOUT_PAIR, LAYOUT_PAIR,
		LAYOUT_TWIN, LAYOUT_TRIO, LAYOUT_TRIPLET,
	};
	int i;

	*sc = (struct scene){0};
	sc->layout = pick[srng_below(r, 8)];
	sc->bg = srng_below(r, NBG);
	sc->bg_rgb[0] = bg_base[sc->bg][0] + uniform(r, 0, bg_base[sc->bg][1]);
	for (i = 1; i < 3; i++) /* neutral, with a slight tint */
		sc->bg_rgb[i] = sc->bg_rgb[0] + uniform(r, -4, 4);
	for (i = 0; i < 2; i++) /* a gentle gradient, in any direction */
		sc->grad[i] = uniform(r, -1, 1) * bg_base[sc->bg][1] / size;

	/* one draw per statement: the order of a call's arguments is unspecified,
	 * and compilers differ */
	switch (sc->layout) {
	case LAYOUT_ONE:
		sc->n = 1;
		random_shape(&sc->s[0], -1, size, r);
		place_one(sc, size, r);
		break;
	case LAYOUT_PAIR:
		sc->n = 2;
		random_shape(&sc->s[0], -1, size, r);
		do
			random_shape(&sc->s[1], -1, size, r);
		while (sc->s[1].kind == sc->s[0].kind && sc->s[1].colour == sc->s[0].colour);
		place_two(sc, size, r);
		break;
	case LAYOUT_TWIN:
		sc->n = 2;
		random_shape(&sc->s[0], -1, size, r);
		sc->s[1] = sc->s[0];
		place_two(sc, size, r);
		break;
	case LAYOUT_TRIO:
		sc->n = 3;
		for (i = 0; i < 3; i++)
			random_shape(&sc->s[i], SIZE_SMALL, size, r);
		if (sc->s[2].kind == sc->s[0].kind && sc->s[2].colour == sc->s[0].colour &&
		    sc->s[1].kind == sc->s[0].kind && sc->s[1].colour == sc->s[0].colour)
			sc->s[2].kind = (sc->s[2].kind + 1) % NKIND;
		place_three(sc, size, r);
		break;
	case LAYOUT_TRIPLET:
		sc->n = 3;
		random_shape(&sc->s[0], SIZE_SMALL, size, r);
		sc->s[1] = sc->s[2] = sc->s[0];
		place_three(sc, size, r);
		break;
	}
}

/* The unit star's ten corners, clockwise from the top point; even ones are the
 * points (radius 1), odd ones the inner corners (radius STAR_INNER). */
#define STAR_INNER 0.45
static const double star_dir[10][2] = {
	{0, -1}, {0.5877852522924731, -0.8090169943749474},
	{0.9510565162951535, -0.3090169943749474}, {0.9510565162951535, 0.3090169943749474},
	{0.5877852522924731, 0.8090169943749474}, {0, 1},
	{-0.5877852522924731, 0.8090169943749474}, {-0.9510565162951535, 0.3090169943749474},
	{-0.9510565162951535, -0.3090169943749474}, {-0.5877852522924731, -0.8090169943749474},
};

static int
in_star(double x, double y)
{
	int i, in = 0;

	for (i = 0; i < 10; i++) {  /* even-odd rule over the ten edges */
		int j = (i + 1) % 10;
		double ri = i % 2 ? STAR_INNER : 1, rj = j % 2 ? STAR_INNER : 1;
		double xi = ri * star_dir[i][0], yi = ri * star_dir[i][1];
		double xj = rj * star_dir[j][0], yj = rj * star_dir[j][1];

		if ((yi > y) != (yj > y) && x < xi + (y - yi) * (xj - xi) / (yj - yi))
			in = !in;
	}
	return in;
}

/* Whether (x, y), in radii from the centre (y down), is inside. The sizes even
 * out the areas, so that "small" and "large" mean the same for every kind. */
static int
inside(int kind, double x, double y)
{
	switch (kind) {
	case KIND_CIRCLE:
		return x * x + y * y <= 1;
	case KIND_SQUARE:
		return fabs(x) <= 0.82 && fabs(y) <= 0.82;
	case KIND_DIAMOND:
		return fabs(x) + fabs(y) <= 1.05;
	case KIND_TRIANGLE:     /* equilateral, apex up, circumradius EXTENT */
		return y <= EXTENT / 2 && fabs(x) <= (y + EXTENT) * 0.5773502691896258;
	default:
		return in_star(x / 1.1, y / 1.1);
	}
}

#define SS 4                    /* samples per pixel along each axis */

static void
draw_shape(const struct shape *s, int size, double *acc)
{
	int x0 = floor(s->x - EXTENT * s->r) - 1, x1 = ceil(s->x + EXTENT * s->r) + 1;
	int y0 = floor(s->y - EXTENT * s->r) - 1, y1 = ceil(s->y + EXTENT * s->r) + 1;
	int px, py, i, j, c;

	for (py = y0 < 0 ? 0 : y0; py < size && py <= y1; py++) {
		for (px = x0 < 0 ? 0 : x0; px < size && px <= x1; px++) {
			int hits = 0;
			double a, *p = acc + ((size_t)py * size + px) * 3;

			for (i = 0; i < SS; i++)
				for (j = 0; j < SS; j++)
					hits += inside(s->kind, (px + (j + 0.5) / SS - s->x) / s->r,
					    (py + (i + 0.5) / SS - s->y) / s->r);
			if (hits == 0)
				continue;
			a = (double)hits / (SS * SS);
			for (c = 0; c < 3; c++)
				p[c] += a * (s->rgb[c] - p[c]);
		}
	}
}

void
scene_draw(const struct scene *sc, int size, struct srng *r, struct image *img)
{
	size_t npx = (size_t)size * size, i;
	double *acc = ereallocarray(NULL, npx * 3, sizeof *acc), half = size / 2.0;
	int x, y, c;

	for (y = 0; y < size; y++)
		for (x = 0; x < size; x++)
			for (c = 0; c < 3; c++)
				acc[((size_t)y * size + x) * 3 + c] = sc->bg_rgb[c] +
				    sc->grad[0] * (x + 0.5 - half) + sc->grad[1] * (y + 0.5 - half);
	for (i = 0; i < (size_t)sc->n; i++)
		draw_shape(&sc->s[i], size, acc);
	image_alloc(img, size, size);
	for (i = 0; i < npx * 3; i++) {
		/* triangular noise of +-9 levels, like a cheap sensor's */
		int noise = srng_below(r, 10) - 9;
		double v = acc[i] + noise + srng_below(r, 10);

		img->px[i] = v < 0 ? 0 : v > 255 ? 255 : (unsigned char)(v + 0.5);
	}
	free(acc);
}
