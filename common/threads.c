/* threads.c: OpenMP and OpenBLAS threads. */
#include "threads.h"

#include <cblas.h>
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int
threads_available(void)
{
	cpu_set_t set;
	int n = 1;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	return n < 1 ? 1 : n;
}

void
threads_passive(char **argv)
{
	if (getenv("OMP_WAIT_POLICY"))
		return;
	if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0)
		return;
	execv("/proc/self/exe", argv);
	/* still here: go on spinning */
}

void
threads_set(int n)
{
	if (n <= 0)
		n = threads_available();
	omp_set_num_threads(n);
	openblas_set_num_threads(n);
}
