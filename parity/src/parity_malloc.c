/*
 * parity_malloc.c - keep freed parity outputs in the malloc heap so the next call reuses
 * memory that is already mapped.
 *
 * encode and reconstruct return fresh bytes objects, one per output shard (1 MiB each for
 * the store's shards). glibc serves a request of 128 KiB or more with a fresh mmap, and
 * every page of a fresh mmap costs a page fault and a kernel zeroing on first touch: 512
 * faults for the two outputs of a P+Q encode of 1 MiB shards, which made a fresh process
 * encode at 0.09x memcpy while the kernels themselves run at about 1x. glibc raises its
 * threshold by itself once such a chunk is freed, but then trims the heap as soon as two
 * freed outputs sit at its top, so the faults come back call after call.
 *
 * Fixing both thresholds (the values glibc's own adjustment tops out at on 64-bit) serves
 * requests up to 32 MiB from the heap and keeps up to 32 MiB of free memory at the top of
 * each arena: repeated calls reuse mapped pages and fault only when the heap grows. The
 * setting is process wide, so it benefits every large buffer of the process (chunk reads,
 * stripe assembly) alike. An environment that tunes malloc itself (MALLOC_MMAP_THRESHOLD_,
 * MALLOC_TRIM_THRESHOLD_ or malloc tunables in GLIBC_TUNABLES) is left alone.
 */
#include "parity_malloc.h"

#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define PARITY_MMAP_THRESHOLD (32 * 1024 * 1024)
#define PARITY_TRIM_THRESHOLD (32 * 1024 * 1024)

static int tuned = -1;

static int environment_tunes_malloc(void)
{
    const char *tunables = getenv("GLIBC_TUNABLES");
    return getenv("MALLOC_MMAP_THRESHOLD_") != NULL ||
           getenv("MALLOC_TRIM_THRESHOLD_") != NULL ||
           (tunables != NULL && (strstr(tunables, "malloc.mmap_threshold") != NULL ||
                                 strstr(tunables, "malloc.trim_threshold") != NULL));
}

int parity_tune_malloc(void)
{
    if (tuned >= 0)
        return tuned;
    tuned = 0;
#ifdef __GLIBC__
    if (!environment_tunes_malloc() && mallopt(M_MMAP_THRESHOLD, PARITY_MMAP_THRESHOLD) == 1 &&
        mallopt(M_TRIM_THRESHOLD, PARITY_TRIM_THRESHOLD) == 1)
        tuned = 1;
#endif
    return tuned;
}
