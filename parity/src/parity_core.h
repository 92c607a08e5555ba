/*
 * parity_core.h - RAID5/RAID6 parity over GF(2^8) in plain C, no Python.
 *
 * Shard order: data 0..k-1, then P, then Q.  P = XOR of the data shards;
 * Q = sum of g^i * D_i over GF(2^8) with polynomial 0x11d and generator g = 2,
 * byte for byte the syndrome of Linux md RAID6.
 *
 * The caller validates arguments (the Python binding does); these functions
 * trust them and never allocate, so they can run without the GIL.
 */
#ifndef PARITY_CORE_H
#define PARITY_CORE_H

#include <stddef.h>
#include <stdint.h>

#define PARITY_MIN_DATA 2
#define PARITY_MAX_DATA 32
#define PARITY_MAX_SHARDS (PARITY_MAX_DATA + 2)

/* SIMD levels, lowest first; each one includes what the lower ones need. */
enum parity_level {
    PARITY_LEVEL_GENERIC = 0,
    PARITY_LEVEL_SSE2 = 1,
    PARITY_LEVEL_SSSE3 = 2,
    PARITY_LEVEL_AVX2 = 3,
    PARITY_LEVEL_AVX512 = 4,
    PARITY_LEVEL_AVX512_GFNI = 5,
    PARITY_LEVEL_COUNT = 6
};

/* The best level this CPU runs (detected once). */
int parity_best_level(void);
/* The level in use; starts as parity_best_level(). */
int parity_current_level(void);
/* Choose a level for testing; returns -1 if the CPU cannot run it. */
int parity_set_level(int level);
/* "generic", "sse2", "ssse3", "avx2", "avx512", "avx512gfni"; NULL if unknown. */
const char *parity_level_name(int level);

/*
 * Compute parity for k data shards of len bytes each.
 * p must be non-NULL; q is NULL for nparity 1.
 */
void parity_encode(int k, size_t len, const uint8_t *const *data, uint8_t *p, uint8_t *q);

/*
 * Rebuild missing shards in place.  shards has k + nparity entries; missing ones
 * point at caller-owned output memory and are flagged in missing[] (1 = missing).
 * At most nparity entries are missing.  Returns 0, or -1 if too many are missing.
 */
int parity_reconstruct(int k, int nparity, size_t len, uint8_t *const *shards,
                       const unsigned char *missing);

/* GF(2^8) helpers (polynomial 0x11d), used by the self-test and the kernels. */
uint8_t parity_gf_mul(uint8_t a, uint8_t b);
uint8_t parity_gf_exp(int e);      /* g^e for any e >= 0 */
uint8_t parity_gf_inv(uint8_t a);  /* a != 0 */
/* Multiplication by c as the 8x8 bit matrix operand of gf2p8affineqb. */
uint64_t parity_gf_affine(uint8_t c);

#endif
