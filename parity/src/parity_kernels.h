/*
 * parity_kernels.h - the inner loops each SIMD level provides (internal to the module).
 *
 * parity_core.c cuts a stripe into L1-sized column blocks and calls these on each block,
 * so intermediate results of multi-pass recoveries stay in cache.  A kernel of a SIMD
 * level only sees lengths that are multiples of its `step`; the generic kernels take the
 * tail.  Loads and stores are unaligned: callers pass arbitrary memoryview slices.
 */
#ifndef PARITY_KERNELS_H
#define PARITY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Multiplication by a constant c in GF(2^8), in the forms the kernels use:
 * c*x = lo[x & 15] ^ hi[x >> 4] (pshufb), the bit matrix (GFNI), c itself (shift-and-add). */
typedef struct {
    uint8_t lo[16];
    uint8_t hi[16];
    uint64_t affine;
    uint8_t c;
} parity_gf_const;

struct parity_kernels {
    size_t step; /* lengths passed in are multiples of this */
    /* dst = src[0] ^ ... ^ src[n-1]; no NULL sources, n >= 1. */
    void (*xor_n)(size_t len, int n, const uint8_t *const *src, uint8_t *dst);
    /* p = XOR of src, q = sum g^i * src[i]; a NULL src[i] counts as all zero. */
    void (*pq_n)(size_t len, int n, const uint8_t *const *src, uint8_t *p, uint8_t *q);
    /*
     * Two lost data shards x < y (Linux raid6_2data_recov): on entry dx = P', dy = Q'
     * (syndromes with D_x = D_y = 0).  px = P ^ dx; dy = a*px ^ b*(Q ^ dy); dx = dy ^ px.
     */
    void (*recov2)(size_t len, const uint8_t *p, const uint8_t *q, uint8_t *dx, uint8_t *dy,
                   const parity_gf_const *a, const parity_gf_const *b);
    /* Lost data shard and P (raid6_datap_recov): on entry dx = Q'; dx = c * (Q ^ dx). */
    void (*recov1)(size_t len, const uint8_t *q, uint8_t *dx, const parity_gf_const *c);
};

extern const struct parity_kernels parity_kernels_generic;

/* SIMD kernels for a level, or NULL when this build or CPU lacks them. */
const struct parity_kernels *parity_x86_kernels(int level);
/* Highest SIMD level the CPU supports (0 when none). */
int parity_x86_detect(void);

#endif
