/* dist_nccl.c: the NCCL calls of data-parallel training on GPUs (dist_nccl.h).
 * Built only with CUDA=1. */
#include "dist.h"
#include "dist_nccl.h"
#include "util.h"

#include <string.h>

#include <cuda_runtime.h>
#include <nccl.h>

/* A bucket is started once it holds this many floats (or at the end): a
 * layer's gradients of the small and base models, a few layers of tiny. */
#define BUCKET_MIN ((size_t)1 << 20)

static struct {
	int on;
	ncclComm_t comm;
	cudaStream_t compute;           /* the backend's */
	cudaStream_t comm_stream;       /* the sums' */
	cudaEvent_t ready, done;
	float *lo;                      /* the bucket collected, not yet started */
	size_t n;
	int started;                    /* sums started since the last wait */
} nc;

static void
cuda_check(cudaError_t e, const char *what)
{
	if (e != cudaSuccess) {
		weprintf("CUDA: %s: %s", what, cudaGetErrorString(e));
		dist_abort(EXIT_DATA);
	}
}

static void
nccl_check(ncclResult_t r, const char *what)
{
	if (r != ncclSuccess) {
		const char *last = ncclGetLastError(nc.comm);

		weprintf("NCCL: %s: %s%s%s", what, ncclGetErrorString(r), last && *last ? ": " : "",
		    last ? last : "");
		dist_abort(EXIT_DATA);
	}
}

int
dist_nccl_init(void *stream, char *err, size_t errsz)
{
	struct {
		ncclUniqueId id;
		int ok;
	} u;
	ncclResult_t r = ncclSuccess;
	int lo, hi;

	if (nc.on)
		return 0;
	memset(&u, 0, sizeof u);
	if (dist_rank() == 0)
		u.ok = (r = ncclGetUniqueId(&u.id)) == ncclSuccess;
	/* the others learn whether rank 0 drew an id: given zeros instead, their
	 * ncclCommInitRank would wait for a rank 0 that never comes */
	dist_bcast(&u, sizeof u);
	if (!u.ok) {
		if (dist_rank() == 0)
			seterr(err, errsz, "NCCL: ncclGetUniqueId: %s", ncclGetErrorString(r));
		else
			seterr(err, errsz, "NCCL: rank 0 could not draw the communicator's id");
		return -1;
	}
	if ((r = ncclCommInitRank(&nc.comm, dist_size(), u.id, dist_rank())) != ncclSuccess) {
		const char *last = ncclGetLastError(NULL);
		/* NCCL's reason when two ranks share a GPU names no way around it */
		const char *hint = last && strstr(last, "uplicate GPU") ? " (NCCL takes one "
		    "process per GPU; VITCAP_ALLREDUCE=mpi sums through host memory instead)" : "";

		seterr(err, errsz, "NCCL: ncclCommInitRank: %s%s%s%s", ncclGetErrorString(r),
		    last && *last ? ": " : "", last ? last : "", hint);
		nc.comm = NULL;
		return -1;
	}
	nc.compute = (cudaStream_t)stream;
	/* the sums' stream goes first when both have work ready */
	cuda_check(cudaDeviceGetStreamPriorityRange(&lo, &hi), "stream priorities");
	cuda_check(cudaStreamCreateWithPriority(&nc.comm_stream, cudaStreamNonBlocking, hi),
	    "cudaStreamCreateWithPriority");
	cuda_check(cudaEventCreateWithFlags(&nc.ready, cudaEventDisableTiming), "cudaEventCreate");
	cuda_check(cudaEventCreateWithFlags(&nc.done, cudaEventDisableTiming), "cudaEventCreate");
	nc.on = 1;
	return 0;
}

/* The all-reduce of the bucket collected, after what the compute stream has
 * issued so far. */
static void
start_bucket(void)
{
	if (nc.n == 0)
		return;
	/* a wait sees the event's latest record; re-recording it later is fine */
	cuda_check(cudaEventRecord(nc.ready, nc.compute), "cudaEventRecord");
	cuda_check(cudaStreamWaitEvent(nc.comm_stream, nc.ready, 0), "cudaStreamWaitEvent");
	nccl_check(ncclAllReduce(nc.lo, nc.lo, nc.n, ncclFloat, ncclSum, nc.comm, nc.comm_stream),
	    "ncclAllReduce");
	nc.started = 1;
	nc.lo = NULL;
	nc.n = 0;
}

void
dist_nccl_ready(void *arg, float *g, size_t n)
{
	(void)arg;
	if (!nc.on)
		eprintf("dist_nccl_ready: no dist_nccl_init");
	/* the ranges come downwards; one that does not touch the bucket ends it */
	if (nc.n && g + n != nc.lo)
		start_bucket();
	nc.lo = g;
	nc.n += n;
	if (nc.n >= BUCKET_MIN)
		start_bucket();
}

void
dist_nccl_wait(void)
{
	if (!nc.on)
		return;
	start_bucket();
	if (nc.started) {
		cuda_check(cudaEventRecord(nc.done, nc.comm_stream), "cudaEventRecord");
		cuda_check(cudaStreamWaitEvent(nc.compute, nc.done, 0), "cudaStreamWaitEvent");
		nc.started = 0;
	}
}

void
dist_nccl_finish(void)
{
	if (!nc.on)
		return;
	nc.on = 0;
	cudaStreamSynchronize(nc.comm_stream);
	ncclCommDestroy(nc.comm);
	cudaEventDestroy(nc.ready);
	cudaEventDestroy(nc.done);
	cudaStreamDestroy(nc.comm_stream);
}
