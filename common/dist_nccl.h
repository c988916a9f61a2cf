/* dist_nccl.h: the gradient sum of data-parallel training on GPUs, with NCCL
 * (DESIGN.md, "Distributed training").
 *
 * One communicator over the ranks that dist.h started, from an id that rank 0
 * draws and dist_bcast hands to the others. The sums run on a CUDA stream of
 * their own: dist_nccl_ready, given to model_backward as its grad_ready hook,
 * collects the finished ranges into buckets of at least a few MiB and starts
 * each bucket's all-reduce as soon as the backend's stream has issued the last
 * operation that writes it (an event orders the two streams), so that the sums
 * overlap the rest of the backward; dist_nccl_wait starts what is left and
 * makes the backend's stream wait for every sum. Every rank must make the same
 * calls in the same order, as with any collective.
 *
 * dist_nccl.c in CUDA builds; in others, dist_nccl_none.c, where
 * dist_nccl_init fails with a message and nothing else is reached. */
#ifndef VITCAP_DIST_NCCL_H
#define VITCAP_DIST_NCCL_H

#include <stddef.h>

/* After dist_init, on the GPU that this rank computes on (its current CUDA
 * device), stream being the backend's (a cudaStream_t). Returns 0, or -1 with
 * err (NCCL's reason: two ranks on one GPU, say, with the way around that).
 * Collective. */
int dist_nccl_init(void *stream, char *err, size_t errsz);

/* The grad_ready hook (model.h): g[0..n) of device memory is final on the
 * stream; it is summed in place over the ranks. arg is unused. */
void dist_nccl_ready(void *arg, float *g, size_t n);

/* Starts the bucket not yet started; the backend's stream waits for every
 * sum started. */
void dist_nccl_wait(void);

/* Ends the communicator (at most once; idempotent). */
void dist_nccl_finish(void);

#endif
