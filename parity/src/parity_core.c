/*
 * parity_core.c - GF(2^8) arithmetic, the portable kernels, SIMD dispatch, and the
 * encode / reconstruct drivers that pick the recovery formula for each set of lost shards.
 */
#include "parity_core.h"

#include <stdlib.h>
#include <string.h>

#include "parity_kernels.h"

/* Column block processed by every pass before moving on: small enough that a block of
 * each output plus a scratch block stay in L1 across the passes of a recovery. */
#define PARITY_BLOCK 8192

/* ---------------------------------------------------------------- GF(2^8), 0x11d */

static uint8_t gf_exp_table[510];
static uint8_t gf_log_table[256];
static int gf_ready;

static void gf_init(void)
{
    unsigned x = 1;
    if (gf_ready)
        return;
    for (int i = 0; i < 255; i++) {
        gf_exp_table[i] = (uint8_t)x;
        gf_exp_table[i + 255] = (uint8_t)x;
        gf_log_table[x] = (uint8_t)i;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11d;
    }
    gf_log_table[0] = 0; /* never used: log(0) is undefined */
    gf_ready = 1;
}

uint8_t parity_gf_mul(uint8_t a, uint8_t b)
{
    gf_init();
    if (a == 0 || b == 0)
        return 0;
    return gf_exp_table[gf_log_table[a] + gf_log_table[b]];
}

uint8_t parity_gf_exp(int e)
{
    gf_init();
    return gf_exp_table[e % 255];
}

uint8_t parity_gf_inv(uint8_t a)
{
    gf_init();
    return gf_exp_table[(255 - gf_log_table[a]) % 255];
}

uint64_t parity_gf_affine(uint8_t c)
{
    /* Row i (byte 7 - i of the operand) selects the input bits whose products with c
     * have bit i set; the instruction XORs the selected bits into output bit i. */
    uint64_t matrix = 0;
    for (int i = 0; i < 8; i++) {
        unsigned row = 0;
        for (int j = 0; j < 8; j++)
            row |= (unsigned)((parity_gf_mul(c, (uint8_t)(1u << j)) >> i) & 1) << j;
        matrix |= (uint64_t)row << (8 * (7 - i));
    }
    return matrix;
}

static void gf_const_make(parity_gf_const *k, uint8_t c)
{
    k->c = c;
    k->affine = parity_gf_affine(c);
    for (int i = 0; i < 16; i++) {
        k->lo[i] = parity_gf_mul(c, (uint8_t)i);
        k->hi[i] = parity_gf_mul(c, (uint8_t)(i << 4));
    }
}

/* ---------------------------------------------------------------- portable kernels */

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void st64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Multiply eight bytes by 2 at once (Linux raid6 int.uc): bytes with the top bit set
 * get 0x1d folded in after the shift. */
static inline uint64_t mul2_64(uint64_t v)
{
    uint64_t hb = v & 0x8080808080808080ULL;
    uint64_t mask = (hb << 1) - (hb >> 7);
    return ((v << 1) & 0xfefefefefefefefeULL) ^ (mask & 0x1d1d1d1d1d1d1d1dULL);
}

static inline uint8_t mul2_8(uint8_t v)
{
    return (uint8_t)((v << 1) ^ ((v & 0x80) ? 0x1d : 0));
}

static inline uint8_t gf_const_apply(const parity_gf_const *k, uint8_t x)
{
    return (uint8_t)(k->lo[x & 15] ^ k->hi[x >> 4]);
}

static void generic_xor_n(size_t len, int n, const uint8_t *const *src, uint8_t *dst)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t acc = ld64(src[0] + i);
        for (int z = 1; z < n; z++)
            acc ^= ld64(src[z] + i);
        st64(dst + i, acc);
    }
    for (; i < len; i++) {
        uint8_t acc = src[0][i];
        for (int z = 1; z < n; z++)
            acc ^= src[z][i];
        dst[i] = acc;
    }
}

static void generic_pq_n(size_t len, int n, const uint8_t *const *src, uint8_t *p, uint8_t *q)
{
    int top = n - 1;
    while (top >= 0 && src[top] == NULL)
        top--;
    if (top < 0) {
        memset(p, 0, len);
        memset(q, 0, len);
        return;
    }
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t wp = ld64(src[top] + i), wq = wp;
        for (int z = top - 1; z >= 0; z--) {
            wq = mul2_64(wq);
            if (src[z]) {
                uint64_t d = ld64(src[z] + i);
                wp ^= d;
                wq ^= d;
            }
        }
        st64(p + i, wp);
        st64(q + i, wq);
    }
    for (; i < len; i++) {
        uint8_t wp = src[top][i], wq = wp;
        for (int z = top - 1; z >= 0; z--) {
            wq = mul2_8(wq);
            if (src[z]) {
                wp ^= src[z][i];
                wq ^= src[z][i];
            }
        }
        p[i] = wp;
        q[i] = wq;
    }
}

static void generic_recov2(size_t len, const uint8_t *p, const uint8_t *q, uint8_t *dx,
                           uint8_t *dy, const parity_gf_const *a, const parity_gf_const *b)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t px = p[i] ^ dx[i];
        uint8_t qx = gf_const_apply(b, q[i] ^ dy[i]);
        uint8_t d = gf_const_apply(a, px) ^ qx;
        dy[i] = d;
        dx[i] = d ^ px;
    }
}

static void generic_recov1(size_t len, const uint8_t *q, uint8_t *dx, const parity_gf_const *c)
{
    for (size_t i = 0; i < len; i++)
        dx[i] = gf_const_apply(c, q[i] ^ dx[i]);
}

const struct parity_kernels parity_kernels_generic = {
    .step = 1,
    .xor_n = generic_xor_n,
    .pq_n = generic_pq_n,
    .recov2 = generic_recov2,
    .recov1 = generic_recov1,
};

/* ---------------------------------------------------------------- dispatch */

static int best_level = -1;
static int current_level = -1;

static const struct parity_kernels *kernels_for(int level)
{
    if (level == PARITY_LEVEL_GENERIC)
        return &parity_kernels_generic;
    return parity_x86_kernels(level);
}

static void dispatch_init(void)
{
    if (best_level >= 0)
        return;
    gf_init();
    int level = parity_x86_detect();
    while (level > 0 && kernels_for(level) == NULL)
        level--;
    best_level = level;
    current_level = level;
    /* Tests and benchmarks can pin a lower level for a whole process. */
    const char *wanted = getenv("PARITY_SIMD_LEVEL");
    for (int l = 0; wanted != NULL && l <= best_level; l++)
        if (strcmp(wanted, parity_level_name(l)) == 0 && kernels_for(l) != NULL)
            current_level = l;
}

int parity_best_level(void)
{
    dispatch_init();
    return best_level;
}

int parity_current_level(void)
{
    dispatch_init();
    return current_level;
}

int parity_set_level(int level)
{
    dispatch_init();
    if (level < 0 || level > best_level || kernels_for(level) == NULL)
        return -1;
    current_level = level;
    return 0;
}

const char *parity_level_name(int level)
{
    static const char *const names[PARITY_LEVEL_COUNT] = {
        "generic", "sse2", "ssse3", "avx2", "avx512", "avx512gfni",
    };
    if (level < 0 || level >= PARITY_LEVEL_COUNT)
        return NULL;
    return names[level];
}

/* ---------------------------------------------------------------- drivers */

/* How to rebuild one set of lost shards; computed once, applied to every block. */
struct plan {
    int k;
    int nparity;
    int x, y;            /* lost data shards (-1 if none), x < y */
    int lost_p, lost_q;  /* parity shards to recompute */
    int lost_data;       /* 0, 1 or 2 */
    parity_gf_const a, b;
};

/* Rebuild [off, off + len) of the lost shards with one kernel set. */
static void run_block(const struct plan *pl, const struct parity_kernels *kern,
                      uint8_t *const *shards, size_t off, size_t len, uint8_t *scratch)
{
    const uint8_t *src[PARITY_MAX_SHARDS] = {NULL};
    const int k = pl->k;
    uint8_t *pp = shards[k] + off;
    uint8_t *qq = pl->nparity == 2 ? shards[k + 1] + off : NULL;

    if (pl->lost_data == 0) {
        for (int i = 0; i < k; i++)
            src[i] = shards[i] + off;
        if (pl->lost_q)
            kern->pq_n(len, k, src, pl->lost_p ? pp : scratch, qq);
        else
            kern->xor_n(len, k, src, pp);
        return;
    }

    if (pl->lost_data == 1 && !pl->lost_p) {
        /* P survives: the lost data shard is the XOR of P and the other data shards. */
        uint8_t *dx = shards[pl->x] + off;
        int n = 0;
        for (int i = 0; i < k; i++)
            if (i != pl->x)
                src[n++] = shards[i] + off;
        src[n++] = pp;
        kern->xor_n(len, n, src, dx);
        if (pl->lost_q) {
            for (int i = 0; i < k; i++)
                src[i] = shards[i] + off;
            kern->pq_n(len, k, src, scratch, qq);
        }
        return;
    }

    if (pl->lost_data == 1) {
        /* Data x and P lost: Q' with D_x = 0 gives g^x * D_x = Q ^ Q'. */
        uint8_t *dx = shards[pl->x] + off;
        for (int i = 0; i < k; i++)
            src[i] = i == pl->x ? NULL : shards[i] + off;
        kern->pq_n(len, k, src, scratch, dx);
        kern->recov1(len, qq, dx, &pl->a);
        src[0] = scratch;
        src[1] = dx;
        kern->xor_n(len, 2, src, pp);
        return;
    }

    /* Two data shards lost: P survives and Q survives (only two may be lost). */
    uint8_t *dx = shards[pl->x] + off;
    uint8_t *dy = shards[pl->y] + off;
    for (int i = 0; i < k; i++)
        src[i] = (i == pl->x || i == pl->y) ? NULL : shards[i] + off;
    kern->pq_n(len, k, src, dx, dy);
    kern->recov2(len, pp, qq, dx, dy, &pl->a, &pl->b);
}

static void run_plan(const struct plan *pl, uint8_t *const *shards, size_t len)
{
    _Alignas(64) uint8_t scratch[PARITY_BLOCK];
    const struct parity_kernels *kern = kernels_for(parity_current_level());
    size_t body = len - len % kern->step;
    size_t off = 0;
    /* Single-pass plans (no scratch, nothing read back) need no column blocks. */
    size_t block = (pl->lost_data == 0 && (pl->lost_p || !pl->lost_q)) ||
                           (pl->lost_data == 1 && !pl->lost_p && !pl->lost_q)
                       ? body : PARITY_BLOCK;
    while (off < body) {
        size_t n = body - off < block ? body - off : block;
        run_block(pl, kern, shards, off, n, scratch);
        off += n;
    }
    if (off < len)
        run_block(pl, &parity_kernels_generic, shards, off, len - off, scratch);
}

void parity_encode(int k, size_t len, const uint8_t *const *data, uint8_t *p, uint8_t *q)
{
    uint8_t *shards[PARITY_MAX_SHARDS];
    struct plan pl;
    memset(&pl, 0, sizeof pl);
    for (int i = 0; i < k; i++)
        shards[i] = (uint8_t *)data[i]; /* read only: no data shard is lost */
    shards[k] = p;
    shards[k + 1] = q;
    pl.k = k;
    pl.nparity = q ? 2 : 1;
    pl.x = pl.y = -1;
    pl.lost_p = 1;
    pl.lost_q = q != NULL;
    run_plan(&pl, shards, len);
}

int parity_reconstruct(int k, int nparity, size_t len, uint8_t *const *shards,
                       const unsigned char *missing)
{
    struct plan pl;
    int nlost = 0;
    memset(&pl, 0, sizeof pl);
    pl.k = k;
    pl.nparity = nparity;
    pl.x = pl.y = -1;
    for (int i = 0; i < k + nparity; i++) {
        if (!missing[i])
            continue;
        nlost++;
        if (i < k) {
            if (pl.x < 0)
                pl.x = i;
            else
                pl.y = i;
            pl.lost_data++;
        } else if (i == k) {
            pl.lost_p = 1;
        } else {
            pl.lost_q = 1;
        }
    }
    if (nlost > nparity)
        return -1;
    if (nlost == 0)
        return 0;

    if (nparity == 1 && pl.lost_data == 1) {
        /* XOR parity: the lost data shard is the XOR of everything else. */
        pl.lost_q = 0;
    } else if (pl.lost_data == 1 && pl.lost_p) {
        gf_const_make(&pl.a, parity_gf_inv(parity_gf_exp(pl.x)));
    } else if (pl.lost_data == 2) {
        uint8_t gx = parity_gf_exp(pl.x), gy = parity_gf_exp(pl.y);
        /* Linux: pbmul = 1 / (g^(y-x) + 1), qmul = 1 / (g^x + g^y). */
        gf_const_make(&pl.a, parity_gf_inv(parity_gf_exp(pl.y - pl.x) ^ 1));
        gf_const_make(&pl.b, parity_gf_inv(gx ^ gy));
    }
    run_plan(&pl, shards, len);
    return 0;
}
