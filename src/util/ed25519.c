/*
 * Fixed-base Ed25519 verification (ed25519.h). Field elements mod
 * p = 2^255 - 19 in five 51-bit limbs with 128-bit products; points in
 * extended twisted Edwards coordinates (a = -1) with the usual formulas
 * (Hisil, Wong, Carter, Dawson 2008): p3 = (X:Y:Z:T), p1p1 the completed
 * form an addition produces, precomp = affine (y+x, y-x, 2dxy) table
 * entries. Scalars in signed radix 2^W (W = 8: 32 digits in [-128, 128));
 * table[k][j] = (j+1) * 2^(2Wk) * P, so sum e_i 2^(Wi) P is the odd digits
 * from the table, W doublings, then the even digits: 32 table additions per
 * scalar (ref10's fixed-base radix 16 needs 64; measured: W = 4 2.2 times
 * libsodium's speed, 6 2.9, 7 3.1, 8 3.3), 240 KiB of table per key, built
 * with one field inversion for all its points (Montgomery's trick) and only
 * once a key has verified a few signatures, so small inputs never pay for it. The curve constants are computed at start
 * from their definitions (d = -121665/121666, sqrt(-1) = 2^((p-1)/4), B from
 * its encoding) rather than typed in.
 *
 * Limb bounds: mul/sq take limbs below 2^54 and return them below 2^51 + 2^13;
 * add returns below 2^53 (only ever fed to mul/sq or as sub's first operand);
 * sub adds 4p before subtracting (its second operand is always below 2^53)
 * and carries, so its result is below 2^51 + 2^13 again.
 */
#include "util/ed25519.h"
#include "util/strbuf.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef uint64_t fe[5];

#define MASK51 ((uint64_t)0x7ffffffffffff)

/* ---- field ---- */

static uint64_t load64(const uint8_t *s)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | s[i];
    return v;
}

static void fe_frombytes(fe h, const uint8_t s[32])
{
    uint64_t w0 = load64(s), w1 = load64(s + 8), w2 = load64(s + 16), w3 = load64(s + 24);
    h[0] = w0 & MASK51;
    h[1] = ((w0 >> 51) | (w1 << 13)) & MASK51;
    h[2] = ((w1 >> 38) | (w2 << 26)) & MASK51;
    h[3] = ((w2 >> 25) | (w3 << 39)) & MASK51;
    h[4] = (w3 >> 12) & MASK51;
}

static void fe_tobytes(uint8_t s[32], const fe h)
{
    uint64_t t[5] = {h[0], h[1], h[2], h[3], h[4]};
    for (int pass = 0; pass < 2; pass++) {
        t[1] += t[0] >> 51, t[0] &= MASK51;
        t[2] += t[1] >> 51, t[1] &= MASK51;
        t[3] += t[2] >> 51, t[2] &= MASK51;
        t[4] += t[3] >> 51, t[3] &= MASK51;
        t[0] += 19 * (t[4] >> 51), t[4] &= MASK51;
    }
    /* now t < 2^255 + 19*small; subtract p once if t >= p: q = 1 iff t + 19 >= 2^255 */
    uint64_t q = (t[0] + 19) >> 51;
    q = (t[1] + q) >> 51;
    q = (t[2] + q) >> 51;
    q = (t[3] + q) >> 51;
    q = (t[4] + q) >> 51;
    t[0] += 19 * q;
    t[1] += t[0] >> 51, t[0] &= MASK51;
    t[2] += t[1] >> 51, t[1] &= MASK51;
    t[3] += t[2] >> 51, t[2] &= MASK51;
    t[4] += t[3] >> 51, t[3] &= MASK51;
    t[4] &= MASK51;
    uint64_t w[4] = {t[0] | (t[1] << 51), (t[1] >> 13) | (t[2] << 38), (t[2] >> 26) | (t[3] << 25), (t[3] >> 39) | (t[4] << 12)};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) s[8 * i + j] = (uint8_t)(w[i] >> (8 * j));
}

static void fe_copy(fe h, const fe f)
{
    memcpy(h, f, sizeof(fe));
}

static void fe_set(fe h, uint64_t v)
{
    h[0] = v, h[1] = h[2] = h[3] = h[4] = 0;
}

static void fe_add(fe h, const fe f, const fe g)
{
    for (int i = 0; i < 5; i++) h[i] = f[i] + g[i];
}

static void fe_sub(fe h, const fe f, const fe g)
{
    /* 4p = 4 * (2^255 - 19) in limbs */
    uint64_t t0 = f[0] + 0x1fffffffffffb4 - g[0], t1 = f[1] + 0x1ffffffffffffc - g[1], t2 = f[2] + 0x1ffffffffffffc - g[2],
             t3 = f[3] + 0x1ffffffffffffc - g[3], t4 = f[4] + 0x1ffffffffffffc - g[4];
    t1 += t0 >> 51, t0 &= MASK51;
    t2 += t1 >> 51, t1 &= MASK51;
    t3 += t2 >> 51, t2 &= MASK51;
    t4 += t3 >> 51, t3 &= MASK51;
    t0 += 19 * (t4 >> 51), t4 &= MASK51;
    h[0] = t0, h[1] = t1, h[2] = t2, h[3] = t3, h[4] = t4;
}

static void fe_neg(fe h, const fe f)
{
    fe zero = {0, 0, 0, 0, 0};
    fe_sub(h, zero, f);
}

static inline void fe_carry128(fe h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
    r1 += (uint64_t)(r0 >> 51);
    uint64_t h0 = (uint64_t)r0 & MASK51;
    r2 += (uint64_t)(r1 >> 51);
    uint64_t h1 = (uint64_t)r1 & MASK51;
    r3 += (uint64_t)(r2 >> 51);
    uint64_t h2 = (uint64_t)r2 & MASK51;
    r4 += (uint64_t)(r3 >> 51);
    uint64_t h3 = (uint64_t)r3 & MASK51;
    u128 c = r4 >> 51;
    uint64_t h4 = (uint64_t)r4 & MASK51;
    u128 t0 = (u128)h0 + c * 19;
    h0 = (uint64_t)t0 & MASK51;
    h1 += (uint64_t)(t0 >> 51);
    h[0] = h0, h[1] = h1, h[2] = h2, h[3] = h3, h[4] = h4;
}

static void fe_mul(fe h, const fe f, const fe g)
{
    uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
    uint64_t g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3], g4 = g[4];
    uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
    u128 r0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 + (u128)f3 * g2_19 + (u128)f4 * g1_19;
    u128 r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 + (u128)f3 * g3_19 + (u128)f4 * g2_19;
    u128 r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4_19 + (u128)f4 * g3_19;
    u128 r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4_19;
    u128 r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
    fe_carry128(h, r0, r1, r2, r3, r4);
}

static void fe_sq(fe h, const fe f)
{
    uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
    uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1, f1_38 = 38 * f1, f2_38 = 38 * f2, f3_38 = 38 * f3, f3_19 = 19 * f3, f4_19 = 19 * f4;
    u128 r0 = (u128)f0 * f0 + (u128)f1_38 * f4 + (u128)f2_38 * f3;
    u128 r1 = (u128)f0_2 * f1 + (u128)f2_38 * f4 + (u128)f3_19 * f3;
    u128 r2 = (u128)f0_2 * f2 + (u128)f1 * f1 + (u128)f3_38 * f4;
    u128 r3 = (u128)f0_2 * f3 + (u128)f1_2 * f2 + (u128)f4_19 * f4;
    u128 r4 = (u128)f0_2 * f4 + (u128)f1_2 * f3 + (u128)f2 * f2;
    fe_carry128(h, r0, r1, r2, r3, r4);
}

static void fe_sqn(fe h, const fe f, int n)
{
    fe_sq(h, f);
    for (int i = 1; i < n; i++) fe_sq(h, h);
}

/* z^(2^250 - 1) and z^11, the common part of inversion and the square-root exponent. */
static void fe_pow_2_250_1(fe out, fe z11, const fe z)
{
    fe z2, t, z9, z2_5_0, z2_10_0, z2_20_0, z2_50_0, z2_100_0;
    fe_sq(z2, z);          /* 2 */
    fe_sqn(t, z2, 2);      /* 8 */
    fe_mul(z9, t, z);      /* 9 */
    fe_mul(z11, z9, z2);   /* 11 */
    fe_sq(t, z11);         /* 22 */
    fe_mul(z2_5_0, t, z9); /* 2^5 - 1 */
    fe_sqn(t, z2_5_0, 5);
    fe_mul(z2_10_0, t, z2_5_0);
    fe_sqn(t, z2_10_0, 10);
    fe_mul(z2_20_0, t, z2_10_0);
    fe_sqn(t, z2_20_0, 20);
    fe_mul(t, t, z2_20_0); /* 2^40 - 1 */
    fe_sqn(t, t, 10);
    fe_mul(z2_50_0, t, z2_10_0);
    fe_sqn(t, z2_50_0, 50);
    fe_mul(z2_100_0, t, z2_50_0);
    fe_sqn(t, z2_100_0, 100);
    fe_mul(t, t, z2_100_0); /* 2^200 - 1 */
    fe_sqn(t, t, 50);
    fe_mul(out, t, z2_50_0); /* 2^250 - 1 */
}

static void fe_invert(fe out, const fe z)
{
    fe t, z11;
    fe_pow_2_250_1(t, z11, z);
    fe_sqn(t, t, 5);     /* 2^255 - 32 */
    fe_mul(out, t, z11); /* 2^255 - 21 = p - 2 */
}

static void fe_pow22523(fe out, const fe z)
{
    fe t, z11;
    fe_pow_2_250_1(t, z11, z);
    fe_sqn(t, t, 2);   /* 2^252 - 4 */
    fe_mul(out, t, z); /* 2^252 - 3 = (p - 5) / 8 */
}

static int fe_isnegative(const fe f)
{
    uint8_t s[32];
    fe_tobytes(s, f);
    return s[0] & 1;
}

static int fe_iszero(const fe f)
{
    uint8_t s[32];
    fe_tobytes(s, f);
    uint8_t c = 0;
    for (int i = 0; i < 32; i++) c |= s[i];
    return c == 0;
}

static int fe_equal(const fe f, const fe g)
{
    uint8_t a[32], b[32];
    fe_tobytes(a, f);
    fe_tobytes(b, g);
    return memcmp(a, b, 32) == 0;
}

/* ---- group ---- */

typedef struct {
    fe X, Y, Z, T;
} p3_t;
typedef struct {
    fe X, Y, Z, T;
} p1p1_t;
typedef struct {
    fe X, Y, Z;
} p2_t;
typedef struct {
    fe YpX, YmX, Z, T2d;
} cached_t;
typedef struct st_lx_ed25519_precomp_t {
    fe ypx, ymx, xy2d;
} precomp_t;

#ifndef W
#define W 8 /* window bits */
#endif
#define NDIGITS ((253 + W) / W)     /* digits of a scalar below 2^253, with room for the top carry */
#define NPOS    ((NDIGITS + 1) / 2) /* table positions (odd and even digits share them) */
#define NMULT   (1 << (W - 1))      /* multiples per position */
typedef precomp_t table_t[NPOS][NMULT];

static struct {
    fe d, d2, sqrtm1;
    table_t base;
    int ok;
} C;

static void p3_identity(p3_t *r)
{
    fe_set(r->X, 0), fe_set(r->Y, 1), fe_set(r->Z, 1), fe_set(r->T, 0);
}

static void p1p1_to_p3(p3_t *r, const p1p1_t *p)
{
    fe_mul(r->X, p->X, p->T);
    fe_mul(r->Y, p->Y, p->Z);
    fe_mul(r->Z, p->Z, p->T);
    fe_mul(r->T, p->X, p->Y);
}

static void p1p1_to_p2(p2_t *r, const p1p1_t *p)
{
    fe_mul(r->X, p->X, p->T);
    fe_mul(r->Y, p->Y, p->Z);
    fe_mul(r->Z, p->Z, p->T);
}

static void p2_dbl(p1p1_t *r, const p2_t *p)
{
    fe xx, yy, b, a, aa;
    fe_sq(xx, p->X);
    fe_sq(yy, p->Y);
    fe_sq(b, p->Z);
    fe_add(b, b, b);
    fe_add(a, p->X, p->Y);
    fe_sq(aa, a);
    fe_add(r->Y, yy, xx);
    fe_sub(r->Z, yy, xx);
    fe_sub(r->X, aa, r->Y);
    fe_sub(r->T, b, r->Z);
}

static void p3_to_p2(p2_t *r, const p3_t *p)
{
    fe_copy(r->X, p->X), fe_copy(r->Y, p->Y), fe_copy(r->Z, p->Z);
}

static void p3_to_cached(cached_t *r, const p3_t *p)
{
    fe_add(r->YpX, p->Y, p->X);
    fe_sub(r->YmX, p->Y, p->X);
    fe_copy(r->Z, p->Z);
    fe_mul(r->T2d, p->T, C.d2);
}

static void add_cached(p1p1_t *r, const p3_t *p, const cached_t *q)
{
    fe a, b, c, zz, d, ypx, ymx;
    fe_add(ypx, p->Y, p->X);
    fe_sub(ymx, p->Y, p->X);
    fe_mul(a, ypx, q->YpX);
    fe_mul(b, ymx, q->YmX);
    fe_mul(c, q->T2d, p->T);
    fe_mul(zz, p->Z, q->Z);
    fe_add(d, zz, zz);
    fe_sub(r->X, a, b);
    fe_add(r->Y, a, b);
    fe_add(r->Z, d, c);
    fe_sub(r->T, d, c);
}

static void madd(p1p1_t *r, const p3_t *p, const precomp_t *q)
{
    fe a, b, c, d, ypx, ymx;
    fe_add(ypx, p->Y, p->X);
    fe_sub(ymx, p->Y, p->X);
    fe_mul(a, ypx, q->ypx);
    fe_mul(b, ymx, q->ymx);
    fe_mul(c, q->xy2d, p->T);
    fe_add(d, p->Z, p->Z);
    fe_sub(r->X, a, b);
    fe_add(r->Y, a, b);
    fe_add(r->Z, d, c);
    fe_sub(r->T, d, c);
}

static void msub(p1p1_t *r, const p3_t *p, const precomp_t *q)
{
    fe a, b, c, d, ypx, ymx;
    fe_add(ypx, p->Y, p->X);
    fe_sub(ymx, p->Y, p->X);
    fe_mul(a, ypx, q->ymx);
    fe_mul(b, ymx, q->ypx);
    fe_mul(c, q->xy2d, p->T);
    fe_add(d, p->Z, p->Z);
    fe_sub(r->X, a, b);
    fe_add(r->Y, a, b);
    fe_sub(r->Z, d, c);
    fe_add(r->T, d, c);
}

static void p3_dbl(p3_t *r, const p3_t *p)
{
    p2_t q;
    p1p1_t t;
    p3_to_p2(&q, p);
    p2_dbl(&t, &q);
    p1p1_to_p3(r, &t);
}

static void p3_add(p3_t *r, const p3_t *p, const p3_t *q)
{
    cached_t c;
    p1p1_t t;
    p3_to_cached(&c, q);
    add_cached(&t, p, &c);
    p1p1_to_p3(r, &t);
}

/* Decodes s as a point; with `negate`, returns -P. 0, or -1 when s is not a point (y >= p is accepted as y - p, as
 * libsodium's decoder does; callers check canonicity first). */
static int p3_frombytes(p3_t *h, const uint8_t s[32], int negate)
{
    fe u, v, v3, vxx, check;
    fe_frombytes(h->Y, s);
    fe_set(h->Z, 1);
    fe_sq(u, h->Y);
    fe_mul(v, u, C.d);
    fe_sub(u, u, h->Z); /* y^2 - 1 */
    fe_add(v, v, h->Z); /* d y^2 + 1 */
    fe_sq(v3, v);
    fe_mul(v3, v3, v); /* v^3 */
    fe_sq(h->X, v3);
    fe_mul(h->X, h->X, v);
    fe_mul(h->X, h->X, u); /* u v^7 */
    fe_pow22523(h->X, h->X);
    fe_mul(h->X, h->X, v3);
    fe_mul(h->X, h->X, u); /* u v^3 (u v^7)^((p-5)/8) */
    fe_sq(vxx, h->X);
    fe_mul(vxx, vxx, v);
    fe_sub(check, vxx, u);
    if (!fe_iszero(check)) {
        fe_add(check, vxx, u);
        if (!fe_iszero(check)) return -1;
        fe_mul(h->X, h->X, C.sqrtm1);
    }
    int sign = s[31] >> 7;
    if (fe_isnegative(h->X) != (negate ? !sign : sign)) fe_neg(h->X, h->X);
    fe_mul(h->T, h->X, h->Y);
    return 0;
}

static void p3_tobytes(uint8_t s[32], const fe X, const fe Y, const fe Z)
{
    fe recip, x, y;
    fe_invert(recip, Z);
    fe_mul(x, X, recip);
    fe_mul(y, Y, recip);
    fe_tobytes(s, y);
    s[31] ^= (uint8_t)(fe_isnegative(x) << 7);
}

/* table[k][j] = (j + 1) * 2^(2Wk) * P, affine: every point in extended coordinates first, then all their Z inverted
 * with one inversion (prefix products, Montgomery's trick). */
static void build_table(table_t table, const p3_t *p)
{
    enum { N = NPOS * NMULT };
    p3_t *pts = lx_malloc(N * sizeof(p3_t));
    fe *prefix = lx_malloc(N * sizeof(fe));
    p3_t row = *p;
    for (int i = 0; i < NPOS; i++) {
        pts[i * NMULT] = row;
        for (int j = 1; j < NMULT; j++) p3_add(&pts[i * NMULT + j], &pts[i * NMULT + j - 1], &row);
        for (int k = 0; k < 2 * W; k++) p3_dbl(&row, &row);
    }
    fe_copy(prefix[0], pts[0].Z);
    for (int n = 1; n < N; n++) fe_mul(prefix[n], prefix[n - 1], pts[n].Z);
    fe inv; /* 1 / (Z_0 ... Z_n), walking n down */
    fe_invert(inv, prefix[N - 1]);
    for (int n = N - 1; n >= 0; n--) {
        fe recip, x, y;
        if (n > 0) {
            fe_mul(recip, inv, prefix[n - 1]); /* 1 / Z_n */
            fe_mul(inv, inv, pts[n].Z);
        } else {
            fe_copy(recip, inv);
        }
        precomp_t *e = &table[n / NMULT][n % NMULT];
        fe_mul(x, pts[n].X, recip);
        fe_mul(y, pts[n].Y, recip);
        fe_add(e->ypx, y, x);
        fe_sub(e->ymx, y, x);
        fe_mul(e->xy2d, x, y);
        fe_mul(e->xy2d, e->xy2d, C.d2);
    }
    free(prefix);
    free(pts);
}

static void init_constants(void)
{
    /* d = -121665 / 121666 */
    fe a, b;
    fe_set(a, 121665);
    fe_set(b, 121666);
    fe_invert(b, b);
    fe_mul(a, a, b);
    fe_neg(C.d, a);
    fe_add(C.d2, C.d, C.d);
    fe_sub(C.d2, C.d2, (fe){0, 0, 0, 0, 0}); /* carried */
    /* sqrt(-1) = 2^((p-1)/4), (p-1)/4 = 2^253 - 5: square-and-multiply over its bits */
    uint8_t e[32];
    memset(e, 0xff, sizeof(e));
    e[0] = 0xfb;
    e[31] = 0x1f;
    fe two, r;
    fe_set(two, 2);
    fe_set(r, 1);
    for (int bit = 252; bit >= 0; bit--) {
        fe_sq(r, r);
        if ((e[bit / 8] >> (bit % 8)) & 1) fe_mul(r, r, two);
    }
    fe_copy(C.sqrtm1, r);
    fe m1, one;
    fe_set(one, 1);
    fe_neg(m1, one);
    fe_sq(r, C.sqrtm1);
    int ok = fe_equal(r, m1);
    /* B: y = 4/5, x even */
    uint8_t benc[32];
    memset(benc, 0x66, sizeof(benc));
    benc[0] = 0x58;
    p3_t B;
    ok &= p3_frombytes(&B, benc, 0) == 0;
    if (ok) build_table(C.base, &B);
    C.ok = ok;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- libsodium's encoding checks, the same logic ---- */

static int is_canonical_point(const uint8_t s[32]) /* y < p (the sign bit ignored) */
{
    if ((s[31] & 0x7f) != 0x7f) return 1;
    for (int i = 30; i > 0; i--)
        if (s[i] != 0xff) return 1;
    return s[0] < 0xed;
}

static int has_small_order(const uint8_t s[32])
{
    static const uint8_t list[7][32] = {
        {0},
        {1},
        {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
         0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
        {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
         0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
        {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
        {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    };
    for (int i = 0; i < 7; i++)
        if (memcmp(s, list[i], 31) == 0 && (s[31] & 0x7f) == list[i][31]) return 1;
    return 0;
}

static int scalar_is_canonical(const uint8_t s[32]) /* s < L */
{
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
    for (int i = 31; i >= 0; i--) {
        if (s[i] < L[i]) return 1;
        if (s[i] > L[i]) return 0;
    }
    return 0;
}

/* ---- keys and verification ---- */

#define PREPARE_AFTER 16 /* verifications by libsodium before a key gets its table */

struct st_lx_ed25519_key_t {
    uint8_t pk[32];
    int fast;       /* usable on the fast path (canonical, not of small order, on the curve) */
    unsigned uses;  /* verifications so far, until the table is built */
    table_t *table; /* multiples of -A, or NULL */
};

lx_ed25519_key_t *lx_ed25519_key_new(const uint8_t pk[32])
{
    pthread_once(&once, init_constants);
    lx_ed25519_key_t *k = lx_calloc(1, sizeof(*k));
    memcpy(k->pk, pk, 32);
    p3_t negA;
    k->fast = C.ok && is_canonical_point(pk) && !has_small_order(pk) && p3_frombytes(&negA, pk, 1) == 0;
    return k;
}

void lx_ed25519_key_free(lx_ed25519_key_t *key)
{
    if (key != NULL) free(key->table);
    free(key);
}

/* The key's table, built at its PREPARE_AFTER-th use (NULL before, and for keys off the fast path). */
static const table_t *key_table(lx_ed25519_key_t *k, int now)
{
    if (k->table != NULL || !k->fast) return k->table;
    if (!now && ++k->uses < PREPARE_AFTER) return NULL;
    p3_t negA;
    if (p3_frombytes(&negA, k->pk, 1) != 0) { /* cannot happen: checked at creation */
        k->fast = 0;
        return NULL;
    }
    k->table = lx_malloc(sizeof(table_t));
    build_table(*k->table, &negA);
    return k->table;
}

/* Signed radix-2^W digits of a scalar below 2^253: e[i] in [-2^(W-1), 2^(W-1)), sum e[i] 2^(Wi) = a. */
static void recode(int8_t e[NDIGITS], const uint8_t a[32])
{
    int carry = 0;
    for (int i = 0; i < NDIGITS; i++) {
        int bit = i * W, v = 0;
        for (int k = 0; k < W && bit + k < 256; k++) v |= ((a[(bit + k) / 8] >> ((bit + k) % 8)) & 1) << k;
        v += carry;
        carry = v >= NMULT;
        e[i] = (int8_t)(v - (carry << W));
    }
}

static inline void add_digit(p3_t *r, const precomp_t row[NMULT], int8_t e)
{
    if (e == 0) return;
    p1p1_t t;
    if (e > 0)
        madd(&t, r, &row[e - 1]);
    else
        msub(&t, r, &row[-e - 1]);
    p1p1_to_p3(r, &t);
}

int lx_ed25519_verify_fast_only(lx_ed25519_key_t *key, const uint8_t sig[64], const uint8_t *m, size_t mlen)
{
    const table_t *table = key_table(key, 1);
    if (table == NULL) return crypto_sign_verify_detached(sig, m, mlen, key->pk);
    if (!scalar_is_canonical(sig + 32) || has_small_order(sig)) return -1;
    uint8_t h[64], hr[32];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, sig, 32);
    crypto_hash_sha512_update(&st, key->pk, 32);
    crypto_hash_sha512_update(&st, m, mlen);
    crypto_hash_sha512_final(&st, h);
    crypto_core_ed25519_scalar_reduce(hr, h);
    int8_t es[NDIGITS], eh[NDIGITS];
    recode(es, sig + 32);
    recode(eh, hr);
    p3_t r;
    p3_identity(&r);
    for (int i = 1; i < NDIGITS; i += 2) {
        add_digit(&r, C.base[i / 2], es[i]);
        add_digit(&r, (*table)[i / 2], eh[i]);
    }
    p2_t q;
    p1p1_t t;
    p3_to_p2(&q, &r);
    for (int k = 0; k < W; k++) {
        p2_dbl(&t, &q);
        if (k < W - 1) p1p1_to_p2(&q, &t);
    }
    p1p1_to_p3(&r, &t);
    for (int i = 0; i < NDIGITS; i += 2) {
        add_digit(&r, C.base[i / 2], es[i]);
        add_digit(&r, (*table)[i / 2], eh[i]);
    }
    uint8_t check[32];
    p3_tobytes(check, r.X, r.Y, r.Z);
    return sodium_memcmp(check, sig, 32) == 0 ? 0 : -1;
}

int lx_ed25519_verify(lx_ed25519_key_t *key, const uint8_t sig[64], const uint8_t *m, size_t mlen)
{
    if (key_table(key, 0) == NULL) return crypto_sign_verify_detached(sig, m, mlen, key->pk);
    if (lx_ed25519_verify_fast_only(key, sig, m, mlen) == 0) return 0;
    return crypto_sign_verify_detached(sig, m, mlen, key->pk); /* a rejection is libsodium's word */
}
