/* schedule.c: warmup and cosine decay, as nanoGPT and most ViT recipes do it. */
#include "schedule.h"

#include <math.h>

double
schedule_lr(const struct schedule *s, long step)
{
	double p;

	if (step <= s->warmup)
		return s->lr * step / s->warmup;
	if (step >= s->total)
		return s->min_lr;
	p = (double)(step - s->warmup) / (s->total - s->warmup);
	return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1 + cos(M_PI * p));
}
