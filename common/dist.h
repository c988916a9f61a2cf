/* dist.h: data-parallel training over MPI (DESIGN.md, "Distributed training"),
 * or one process without it.
 *
 * MPI starts only when the program was launched by mpirun (OpenMPI's
 * OMPI_COMM_WORLD_SIZE is in the environment): a plain run is one process
 * that never touches MPI, so it does not depend on a singleton MPI start
 * working on the machine, and it costs nothing. Every collective below must be
 * called by every rank in the same order; with one process they are no-ops. */
#ifndef VITCAP_DIST_H
#define VITCAP_DIST_H

#include <stddef.h>

enum { DIST_SUM, DIST_MIN, DIST_MAX };

/* The rank and world size that mpirun announces in the environment (0 and 1
 * without it), known before dist_init, so that a program can check what every
 * rank checks identically before starting MPI. */
int dist_env_rank(void);
int dist_env_size(void);
int dist_env_local_size(void);          /* ranks on this machine */
int dist_env_local_rank(void);          /* this rank among them, from 0 */

/* Starts MPI under mpirun; exits with a message when it cannot. Idempotent. */
void dist_init(int *argc, char ***argv);
int dist_rank(void);
int dist_size(void);

/* In place over every rank: x = op(x of every rank), elementwise. */
void dist_reduce_float(float *x, size_t n, int op);
void dist_reduce_double(double *x, size_t n, int op);

/* rank 0's bytes to every rank */
void dist_bcast(void *p, size_t bytes);

/* Whether ok is nonzero on every rank. */
int dist_all(int ok);

/* Ends MPI (at most once; also registered with atexit by dist_init, so that an
 * exit every rank takes alike finalizes). */
void dist_finish(void);

/* Ends every rank at once, for a failure on one rank that the others cannot
 * learn of in order. */
void dist_abort(int status) __attribute__((noreturn));

#endif
