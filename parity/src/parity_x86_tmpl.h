/*
 * parity_x86_tmpl.h - the four kernels of one x86 SIMD level, written once.
 *
 * parity_x86.c includes this file once per level (as Linux raid6 does with its .uc
 * templates) after defining:
 *   FN(name)      the level's function name for a kernel
 *   TGT           __attribute__((target(...))) for the level
 *   V, VB         vector type and its size in bytes
 *   U, UX         vectors per loop iteration of the GF kernels and of xor_n (XOR is pure
 *                 load bandwidth and prefers its own unroll); U * VB and UX * VB must
 *                 both divide STEP
 *   STEP          the length granule of every kernel
 *   VLOAD(p), VSTORE(p, v), VXOR(a, b), VZERO()
 *   MUL2_SETUP    declarations MUL2 needs (loop invariants)
 *   MUL2(v)       v times 2 in GF(2^8)
 *   MULC_SETUP(name, k)  loop invariants for multiplying by the parity_gf_const *k
 *   MULC(name, v) v times that constant
 * Lengths are multiples of STEP; every load and store is unaligned.
 */

TGT static void FN(xor_n)(size_t len, int n, const uint8_t *const *src, uint8_t *dst)
{
    for (size_t i = 0; i < len; i += UX * VB) {
        V acc[UX];
        const uint8_t *s = src[0] + i;
#pragma GCC unroll 8
        for (int u = 0; u < UX; u++)
            acc[u] = VLOAD(s + u * VB);
        for (int z = 1; z < n; z++) {
            s = src[z] + i;
#pragma GCC unroll 8
            for (int u = 0; u < UX; u++)
                acc[u] = VXOR(acc[u], VLOAD(s + u * VB));
        }
#pragma GCC unroll 8
        for (int u = 0; u < UX; u++)
            VSTORE(dst + i + u * VB, acc[u]);
    }
}

/* P and Q in one pass, Q by Horner's rule from the highest shard down:
 * Q = ((D_top * 2 ^ D_top-1) * 2 ^ ...) * 2 ^ D_0, a missing shard contributing only the
 * doubling. */
TGT static void FN(pq_n)(size_t len, int n, const uint8_t *const *src, uint8_t *p, uint8_t *q)
{
    int top = n - 1;
    while (top >= 0 && src[top] == NULL)
        top--;
    if (top < 0) {
        memset(p, 0, len);
        memset(q, 0, len);
        return;
    }
    MUL2_SETUP;
    for (size_t i = 0; i < len; i += U * VB) {
        V wp[U], wq[U];
        const uint8_t *s = src[top] + i;
#pragma GCC unroll 8
        for (int u = 0; u < U; u++)
            wq[u] = wp[u] = VLOAD(s + u * VB);
        for (int z = top - 1; z >= 0; z--) {
#pragma GCC unroll 8
            for (int u = 0; u < U; u++)
                wq[u] = MUL2(wq[u]);
            if (src[z] == NULL)
                continue;
            s = src[z] + i;
#pragma GCC unroll 8
            for (int u = 0; u < U; u++) {
                V d = VLOAD(s + u * VB);
                wp[u] = VXOR(wp[u], d);
                wq[u] = VXOR(wq[u], d);
            }
        }
#pragma GCC unroll 8
        for (int u = 0; u < U; u++) {
            VSTORE(p + i + u * VB, wp[u]);
            VSTORE(q + i + u * VB, wq[u]);
        }
    }
}

TGT static void FN(recov2)(size_t len, const uint8_t *p, const uint8_t *q, uint8_t *dx,
                           uint8_t *dy, const parity_gf_const *a, const parity_gf_const *b)
{
    MULC_SETUP(ma, a);
    MULC_SETUP(mb, b);
    for (size_t i = 0; i < len; i += U * VB) {
#pragma GCC unroll 8
        for (int u = 0; u < U; u++) {
            size_t o = i + u * VB;
            V px = VXOR(VLOAD(p + o), VLOAD(dx + o));
            V qx = VXOR(VLOAD(q + o), VLOAD(dy + o));
            V d = VXOR(MULC(ma, px), MULC(mb, qx));
            VSTORE(dy + o, d);
            VSTORE(dx + o, VXOR(d, px));
        }
    }
}

TGT static void FN(recov1)(size_t len, const uint8_t *q, uint8_t *dx, const parity_gf_const *c)
{
    MULC_SETUP(mc, c);
    for (size_t i = 0; i < len; i += U * VB) {
#pragma GCC unroll 8
        for (int u = 0; u < U; u++) {
            size_t o = i + u * VB;
            VSTORE(dx + o, MULC(mc, VXOR(VLOAD(q + o), VLOAD(dx + o))));
        }
    }
}

static const struct parity_kernels FN(kernels) = {
    .step = STEP,
    .xor_n = FN(xor_n),
    .pq_n = FN(pq_n),
    .recov2 = FN(recov2),
    .recov1 = FN(recov1),
};

#undef FN
#undef TGT
#undef V
#undef VB
#undef U
#undef UX
#undef STEP
#undef VLOAD
#undef VSTORE
#undef VXOR
#undef VZERO
#undef MUL2_SETUP
#undef MUL2
#undef MULC_SETUP
#undef MULC
