/*
 * parity_malloc.h - malloc thresholds that let parity outputs reuse mapped memory.
 */
#ifndef PARITY_MALLOC_H
#define PARITY_MALLOC_H

/* Set glibc's mmap and trim thresholds once per process (see parity_malloc.c).
 * Returns 1 if this call or an earlier one set them, 0 if they were left alone (not
 * glibc, or the environment tunes malloc itself). */
int parity_tune_malloc(void);

#endif
