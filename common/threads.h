/* threads.h: the threads of OpenMP and OpenBLAS for the inference programs. */
#ifndef VITCAP_THREADS_H
#define VITCAP_THREADS_H

/* The processors this process may run on (at least 1). */
int threads_available(void);

/* Makes OpenMP's idle threads sleep rather than spin: unless OMP_WAIT_POLICY
 * is set, sets it to passive and executes the program again with argv (libgomp
 * reads it once, before main). Inference runs many short parallel regions, and
 * on a machine shared with other work a spinning thread keeps the CPU from the
 * one that every region waits for: measured, ten times slower. Call first
 * thing in main. */
void threads_passive(char **argv);

/* n threads for OpenMP and OpenBLAS; 0 means threads_available(). */
void threads_set(int n);

#endif
