/* adamw.c: the AdamW update on the CPU. */
#include "adamw.h"
#include "vecmath.h"

#include <math.h>

/* The operations and their order follow torch/optim/adamw.py (_single_tensor_adamw):
 * scalars in double, cast to float where PyTorch applies them to float tensors. */
VEC_CLONES
void
adamw_update(float *p, const float *g, float *m, float *v, size_t n, double lr,
    double beta1, double beta2, double eps, double wd, long step)
{
	const float decay = (float)(1 - lr * wd);
	const float b1 = (float)beta1, b2 = (float)beta2;
	const float a1 = (float)(1 - beta1), a2 = (float)(1 - beta2);
	const float bc2_sqrt = (float)sqrt(1 - pow(beta2, (double)step));
	const float step_size = (float)(lr / (1 - pow(beta1, (double)step)));
	const float feps = (float)eps;
	long i;

#pragma omp parallel for simd schedule(static)
	for (i = 0; i < (long)n; i++) {
		float denom;

		p[i] *= decay;
		m[i] = m[i] * b1 + g[i] * a1;
		v[i] = v[i] * b2 + a2 * g[i] * g[i];
		denom = sqrtf(v[i]) / bc2_sqrt + feps;
		p[i] += -step_size * (m[i] / denom);
	}
}
