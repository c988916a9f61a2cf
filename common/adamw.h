/* adamw.h: the AdamW update (Loshchilov & Hutter), computed as PyTorch's
 * torch.optim.AdamW does it, so a run can be checked step by step against it. */
#ifndef VITCAP_ADAMW_H
#define VITCAP_ADAMW_H

#include <stddef.h>

/* One step over n floats: p (parameters), m and v (the moments, zero before the
 * first step) updated in place from g. step counts from 1 (bias correction);
 * wd is the decoupled weight decay (0 for tensors that take none). */
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, double lr,
    double beta1, double beta2, double eps, double wd, long step);

#endif
