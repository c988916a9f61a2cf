/* dist_nccl_none.c: dist_nccl.h in a build without CUDA, which has no GPU to
 * sum gradients on: dist_nccl_init says so, and nothing else is reached. */
#include "dist_nccl.h"
#include "util.h"

int
dist_nccl_init(void *stream, char *err, size_t errsz)
{
	(void)stream;
	seterr(err, errsz, "NCCL: this build has no CUDA (make CUDA=1)");
	return -1;
}

void
dist_nccl_ready(void *arg, float *g, size_t n)
{
	(void)arg;
	(void)g;
	(void)n;
	eprintf("dist_nccl_ready: a build without CUDA");
}

void
dist_nccl_wait(void)
{
}

void
dist_nccl_finish(void)
{
}
