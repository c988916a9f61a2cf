/* schedule.h: the learning rate of each step: linear warmup, then cosine decay. */
#ifndef VITCAP_SCHEDULE_H
#define VITCAP_SCHEDULE_H

struct schedule {
	double lr;              /* the peak, reached at the end of the warmup */
	double min_lr;          /* the floor, reached at the last step */
	long warmup;            /* steps of linear warmup (0: none) */
	long total;             /* steps of the whole run */
};

/* The rate of step (counted from 1): lr * step / warmup during the warmup, then
 * min_lr + (lr - min_lr) (1 + cos(pi p)) / 2 with p going from 0 just after the
 * warmup to 1 at step total; min_lr past it. */
double schedule_lr(const struct schedule *s, long step);

#endif
