/*
 * parity_x86.c - SSE2, SSSE3, AVX2 and AVX-512BW kernels, chosen at run time.
 *
 * Each level is compiled with a target attribute rather than -m flags, so one binary runs
 * on any x86-64 and only calls a level after __builtin_cpu_supports says the CPU (and the
 * kernel's saved register state) has it.  Multiplication by 2 is the Linux raid6 trick
 * (add the byte to itself, fold 0x1d into bytes whose top bit was set); multiplication by a
 * constant uses two 16-entry nibble tables with pshufb (SSSE3 and up) or shift-and-add over
 * the constant's bits (SSE2, which has no byte shuffle).  With GFNI both are one
 * gf2p8affineqb: multiplying by a constant is linear over GF(2), an 8x8 bit matrix (the
 * instruction's own multiply, gf2p8mulb, is fixed to polynomial 0x11b and cannot be used).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parity_core.h"
#include "parity_kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

/* ------------------------------------------------------------------ SSE2 */

#define TGT_SSE2 __attribute__((target("sse2")))

TGT_SSE2 static inline __m128i sse2_mul2(__m128i v, __m128i poly)
{
    __m128i hi = _mm_cmpgt_epi8(_mm_setzero_si128(), v);
    return _mm_xor_si128(_mm_add_epi8(v, v), _mm_and_si128(hi, poly));
}

TGT_SSE2 static inline __m128i sse2_mulc(__m128i v, unsigned c, __m128i poly)
{
    __m128i r = _mm_setzero_si128();
    for (int bit = 7; bit >= 0; bit--) {
        r = sse2_mul2(r, poly);
        if ((c >> bit) & 1)
            r = _mm_xor_si128(r, v);
    }
    return r;
}

#define FN(name) CAT(sse2_, name)
#define TGT TGT_SSE2
#define V __m128i
#define VB 16
#define U 4
#define UX 4
#define STEP 64
#define VLOAD(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define VSTORE(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define VXOR(a, b) _mm_xor_si128((a), (b))
#define VZERO() _mm_setzero_si128()
#define MUL2_SETUP const __m128i poly = _mm_set1_epi8(0x1d)
#define MUL2(v) sse2_mul2((v), poly)
#define MULC_SETUP(name, k)                                  \
    const unsigned name##_c = (k)->c;                        \
    const __m128i name##_poly = _mm_set1_epi8(0x1d)
#define MULC(name, v) sse2_mulc((v), name##_c, name##_poly)
#include "parity_x86_tmpl.h"

/* ------------------------------------------------------------------ SSSE3 */

#define TGT_SSSE3 __attribute__((target("ssse3")))

TGT_SSSE3 static inline __m128i ssse3_mulc(__m128i v, __m128i lo, __m128i hi, __m128i low4)
{
    __m128i l = _mm_and_si128(v, low4);
    __m128i h = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
    return _mm_xor_si128(_mm_shuffle_epi8(lo, l), _mm_shuffle_epi8(hi, h));
}

#define FN(name) CAT(ssse3_, name)
#define TGT TGT_SSSE3
#define V __m128i
#define VB 16
#define U 4
#define UX 4
#define STEP 64
#define VLOAD(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define VSTORE(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define VXOR(a, b) _mm_xor_si128((a), (b))
#define VZERO() _mm_setzero_si128()
#define MUL2_SETUP const __m128i poly = _mm_set1_epi8(0x1d)
#define MUL2(v) sse2_mul2((v), poly)
#define MULC_SETUP(name, k)                                                 \
    const __m128i name##_lo = _mm_loadu_si128((const __m128i *)(k)->lo);    \
    const __m128i name##_hi = _mm_loadu_si128((const __m128i *)(k)->hi);    \
    const __m128i name##_low4 = _mm_set1_epi8(0x0f)
#define MULC(name, v) ssse3_mulc((v), name##_lo, name##_hi, name##_low4)
#include "parity_x86_tmpl.h"

/* ------------------------------------------------------------------ AVX2 */

#define TGT_AVX2 __attribute__((target("avx2")))

TGT_AVX2 static inline __m256i avx2_mul2(__m256i v, __m256i poly)
{
    __m256i hi = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v);
    return _mm256_xor_si256(_mm256_add_epi8(v, v), _mm256_and_si256(hi, poly));
}

TGT_AVX2 static inline __m256i avx2_mulc(__m256i v, __m256i lo, __m256i hi, __m256i low4)
{
    __m256i l = _mm256_and_si256(v, low4);
    __m256i h = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    return _mm256_xor_si256(_mm256_shuffle_epi8(lo, l), _mm256_shuffle_epi8(hi, h));
}

TGT_AVX2 static inline __m256i avx2_table(const uint8_t *t)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)t));
}

#define FN(name) CAT(avx2_, name)
#define TGT TGT_AVX2
#define V __m256i
#define VB 32
#define U 4
#define UX 8
#define STEP 256
#define VLOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define VSTORE(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define VXOR(a, b) _mm256_xor_si256((a), (b))
#define VZERO() _mm256_setzero_si256()
#define MUL2_SETUP const __m256i poly = _mm256_set1_epi8(0x1d)
#define MUL2(v) avx2_mul2((v), poly)
#define MULC_SETUP(name, k)                           \
    const __m256i name##_lo = avx2_table((k)->lo);    \
    const __m256i name##_hi = avx2_table((k)->hi);    \
    const __m256i name##_low4 = _mm256_set1_epi8(0x0f)
#define MULC(name, v) avx2_mulc((v), name##_lo, name##_hi, name##_low4)
#include "parity_x86_tmpl.h"

/* ------------------------------------------------------------------ AVX-512BW */

#define TGT_AVX512 __attribute__((target("avx512f,avx512bw")))

TGT_AVX512 static inline __m512i avx512_mul2(__m512i v, __m512i poly)
{
    __mmask64 hi = _mm512_movepi8_mask(v);
    return _mm512_xor_si512(_mm512_add_epi8(v, v), _mm512_maskz_mov_epi8(hi, poly));
}

TGT_AVX512 static inline __m512i avx512_mulc(__m512i v, __m512i lo, __m512i hi, __m512i low4)
{
    __m512i l = _mm512_and_si512(v, low4);
    __m512i h = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    return _mm512_xor_si512(_mm512_shuffle_epi8(lo, l), _mm512_shuffle_epi8(hi, h));
}

TGT_AVX512 static inline __m512i avx512_table(const uint8_t *t)
{
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)t));
}

#define FN(name) CAT(avx512_, name)
#define TGT TGT_AVX512
#define V __m512i
#define VB 64
#define U 4
#define UX 2
#define STEP 256
#define VLOAD(p) _mm512_loadu_si512((const void *)(p))
#define VSTORE(p, v) _mm512_storeu_si512((void *)(p), (v))
#define VXOR(a, b) _mm512_xor_si512((a), (b))
#define VZERO() _mm512_setzero_si512()
#define MUL2_SETUP const __m512i poly = _mm512_set1_epi8(0x1d)
#define MUL2(v) avx512_mul2((v), poly)
#define MULC_SETUP(name, k)                             \
    const __m512i name##_lo = avx512_table((k)->lo);    \
    const __m512i name##_hi = avx512_table((k)->hi);    \
    const __m512i name##_low4 = _mm512_set1_epi8(0x0f)
#define MULC(name, v) avx512_mulc((v), name##_lo, name##_hi, name##_low4)
#include "parity_x86_tmpl.h"

/* ------------------------------------------------------------------ AVX-512BW + GFNI */

#define TGT_GFNI __attribute__((target("avx512f,avx512bw,gfni")))

/* The bit matrix of multiplication by 2 (parity_gf_affine(2)). */
#define AFFINE_MUL2 0x8001828488102040ULL

#define FN(name) CAT(avx512gfni_, name)
#define TGT TGT_GFNI
#define V __m512i
#define VB 64
#define U 4
#define UX 2
#define STEP 256
#define VLOAD(p) _mm512_loadu_si512((const void *)(p))
#define VSTORE(p, v) _mm512_storeu_si512((void *)(p), (v))
#define VXOR(a, b) _mm512_xor_si512((a), (b))
#define VZERO() _mm512_setzero_si512()
#define MUL2_SETUP const __m512i mul2_matrix = _mm512_set1_epi64((long long)AFFINE_MUL2)
#define MUL2(v) _mm512_gf2p8affine_epi64_epi8((v), mul2_matrix, 0)
#define MULC_SETUP(name, k) const __m512i name##_matrix = _mm512_set1_epi64((long long)(k)->affine)
#define MULC(name, v) _mm512_gf2p8affine_epi64_epi8((v), name##_matrix, 0)
#include "parity_x86_tmpl.h"

/* ------------------------------------------------------------------ dispatch */

int parity_x86_detect(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("gfni"))
        return PARITY_LEVEL_AVX512_GFNI;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return PARITY_LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return PARITY_LEVEL_AVX2;
    if (__builtin_cpu_supports("ssse3"))
        return PARITY_LEVEL_SSSE3;
    if (__builtin_cpu_supports("sse2"))
        return PARITY_LEVEL_SSE2;
    return PARITY_LEVEL_GENERIC;
}

const struct parity_kernels *parity_x86_kernels(int level)
{
    switch (level) {
    case PARITY_LEVEL_SSE2:
        return &sse2_kernels;
    case PARITY_LEVEL_SSSE3:
        return &ssse3_kernels;
    case PARITY_LEVEL_AVX2:
        return &avx2_kernels;
    case PARITY_LEVEL_AVX512:
        return &avx512_kernels;
    case PARITY_LEVEL_AVX512_GFNI:
        return &avx512gfni_kernels;
    default:
        return NULL;
    }
}

#else /* not x86: the portable kernels only */

int parity_x86_detect(void)
{
    return PARITY_LEVEL_GENERIC;
}

const struct parity_kernels *parity_x86_kernels(int level)
{
    (void)level;
    return NULL;
}

#endif
