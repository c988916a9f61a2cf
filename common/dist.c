/* dist.c: the MPI calls of data-parallel training, in one place. */
#include "dist.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

static int started, finished, rank, size = 1;

static int
env_int(const char *name, int def)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	return *end || v < 0 || v > INT_MAX ? def : (int)v;
}

int
dist_env_rank(void)
{
	return env_int("OMPI_COMM_WORLD_RANK", 0);
}

int
dist_env_size(void)
{
	int n = env_int("OMPI_COMM_WORLD_SIZE", 1);

	return n > 0 ? n : 1;
}

int
dist_env_local_size(void)
{
	int n = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);

	return n > 0 ? n : 1;
}

int
dist_env_local_rank(void)
{
	return env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
}

void
dist_init(int *argc, char ***argv)
{
	int provided;

	if (started || !getenv("OMPI_COMM_WORLD_SIZE"))
		return;
	/* OpenMP threads compute; only the main thread calls MPI */
	if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		eprintf("MPI_Init failed");
	started = 1;
	atexit(dist_finish);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (rank != dist_env_rank() || size != dist_env_size())
		dist_abort(EXIT_DATA);
}

int
dist_rank(void)
{
	return rank;
}

int
dist_size(void)
{
	return size;
}

static MPI_Op
mpi_op(int op)
{
	return op == DIST_MIN ? MPI_MIN : op == DIST_MAX ? MPI_MAX : MPI_SUM;
}

/* MPI counts are int: a long vector goes in pieces */
#define CHUNK ((size_t)1 << 28)

void
dist_reduce_float(float *x, size_t n, int op)
{
	size_t i, k;

	if (!started || size == 1)
		return;
	for (i = 0; i < n; i += k) {
		k = n - i < CHUNK ? n - i : CHUNK;
		MPI_Allreduce(MPI_IN_PLACE, x + i, (int)k, MPI_FLOAT, mpi_op(op), MPI_COMM_WORLD);
	}
}

void
dist_reduce_double(double *x, size_t n, int op)
{
	size_t i, k;

	if (!started || size == 1)
		return;
	for (i = 0; i < n; i += k) {
		k = n - i < CHUNK ? n - i : CHUNK;
		MPI_Allreduce(MPI_IN_PLACE, x + i, (int)k, MPI_DOUBLE, mpi_op(op), MPI_COMM_WORLD);
	}
}

void
dist_bcast(void *p, size_t bytes)
{
	size_t i, k;

	if (!started || size == 1)
		return;
	for (i = 0; i < bytes; i += k) {
		k = bytes - i < CHUNK ? bytes - i : CHUNK;
		MPI_Bcast((char *)p + i, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD);
	}
}

int
dist_all(int ok)
{
	double v = ok != 0;

	dist_reduce_double(&v, 1, DIST_MIN);
	return v != 0;
}

void
dist_finish(void)
{
	if (started && !finished) {
		finished = 1;
		MPI_Finalize();
	}
}

void
dist_abort(int status)
{
	if (started && !finished)
		MPI_Abort(MPI_COMM_WORLD, status);
	exit(status);
}
