/*
 * util/ed25519.h against libsodium: the fast path (without its libsodium confirmation of rejections) must give
 * crypto_sign_verify_detached's answer on valid signatures, on every single-bit corruption of signature, message
 * and key, on non-canonical scalars, on small-order and non-canonical points, on random garbage and on keys with a
 * torsion component. Also reports the speed of both (informational, never asserted).
 */
#include "check.h"
#include "util/ed25519.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static unsigned long compared;

static void same(lx_ed25519_key_t *k, const uint8_t pk[32], const uint8_t sig[64], const uint8_t *m, size_t n)
{
    int want = crypto_sign_verify_detached(sig, m, n, pk);
    int fast = lx_ed25519_verify_fast_only(k, sig, m, n);
    int full = lx_ed25519_verify(k, sig, m, n);
    compared++;
    if (!CHECK_EQ_INT(fast, want) || !CHECK_EQ_INT(full, want)) {
        fprintf(stderr, "  pk ");
        for (int i = 0; i < 32; i++) fprintf(stderr, "%02x", pk[i]);
        fprintf(stderr, "\n  sig ");
        for (int i = 0; i < 64; i++) fprintf(stderr, "%02x", sig[i]);
        fprintf(stderr, "\n");
    }
}

static void test_valid_and_flipped(void)
{
    for (int key = 0; key < 6; key++) {
        CHECK_CTX("key %d", key);
        uint8_t pk[32], sk[64];
        crypto_sign_keypair(pk, sk);
        lx_ed25519_key_t *k = lx_ed25519_key_new(pk);
        for (int msg = 0; msg < 40; msg++) {
            uint8_t m[700], sig[64];
            size_t n = (size_t)randombytes_uniform(sizeof(m));
            randombytes_buf(m, n);
            crypto_sign_detached(sig, NULL, m, n, sk);
            same(k, pk, sig, m, n);
            CHECK_EQ_INT(lx_ed25519_verify_fast_only(k, sig, m, n), 0);
            if (msg < 3) { /* every bit of the signature */
                for (int bit = 0; bit < 512; bit++) {
                    sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
                    same(k, pk, sig, m, n);
                    sig[bit / 8] ^= (uint8_t)(1 << (bit % 8));
                }
            }
            if (n > 0) { /* a few bits of the message */
                for (int j = 0; j < 8; j++) {
                    size_t at = randombytes_uniform((uint32_t)n);
                    uint8_t mask = (uint8_t)(1 << randombytes_uniform(8));
                    m[at] ^= mask;
                    same(k, pk, sig, m, n);
                    m[at] ^= mask;
                }
            }
        }
        /* other keys: every bit of the public key flipped (most are not points, some are other keys) */
        uint8_t m[32], sig[64];
        randombytes_buf(m, sizeof(m));
        crypto_sign_detached(sig, NULL, m, sizeof(m), sk);
        for (int bit = 0; bit < 256; bit++) {
            uint8_t pk2[32];
            memcpy(pk2, pk, 32);
            pk2[bit / 8] ^= (uint8_t)(1 << (bit % 8));
            lx_ed25519_key_t *k2 = lx_ed25519_key_new(pk2);
            same(k2, pk2, sig, m, sizeof(m));
            lx_ed25519_key_free(k2);
        }
        lx_ed25519_key_free(k);
    }
}

/* L = 2^252 + 27742317777372353535851937790883648493, little-endian */
static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                              0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

static void test_edges(void)
{
    uint8_t pk[32], sk[64], m[64], sig[64];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(m, sizeof(m));
    crypto_sign_detached(sig, NULL, m, sizeof(m), sk);
    lx_ed25519_key_t *k = lx_ed25519_key_new(pk);

    CHECK_CTX("s + L (malleated scalar)");
    uint8_t mal[64];
    memcpy(mal, sig, 64);
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = mal[32 + i] + L[i] + carry;
        mal[32 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    same(k, pk, mal, m, sizeof(m));
    CHECK_EQ_INT(lx_ed25519_verify(k, mal, m, sizeof(m)), -1);
    CHECK_CTX("s = L, s = L - 1, s = 0, s = 2^256 - 1");
    memcpy(mal, sig, 64);
    memcpy(mal + 32, L, 32);
    same(k, pk, mal, m, sizeof(m));
    mal[32] = (uint8_t)(L[0] - 1);
    same(k, pk, mal, m, sizeof(m));
    memset(mal + 32, 0, 32);
    same(k, pk, mal, m, sizeof(m));
    memset(mal + 32, 0xff, 32);
    same(k, pk, mal, m, sizeof(m));

    /* small-order and non-canonical encodings as R and as A */
    uint8_t encs[16][32];
    int ne = 0;
    memset(encs[ne++], 0, 32);
    memset(encs[ne], 0, 32), encs[ne++][0] = 1;
    memset(encs[ne], 0xff, 32), encs[ne][0] = 0xec, encs[ne++][31] = 0x7f; /* -1 */
    memset(encs[ne], 0xff, 32), encs[ne][0] = 0xed, encs[ne++][31] = 0x7f; /* p */
    memset(encs[ne], 0xff, 32), encs[ne][0] = 0xee, encs[ne++][31] = 0x7f; /* p + 1 */
    memset(encs[ne], 0xff, 32), encs[ne][0] = 0xef, encs[ne++][31] = 0x7f; /* p + 2 */
    memset(encs[ne], 0xff, 32), encs[ne++][31] = 0x7f;                     /* 2^255 - 1 */
    for (int i = 0, n0 = ne; i < n0; i++) {                                /* and each with the sign bit */
        memcpy(encs[ne], encs[i], 32);
        encs[ne++][31] |= 0x80;
    }
    for (int i = 0; i < ne; i++) {
        CHECK_CTX("encoding %d as R", i);
        memcpy(mal, sig, 64);
        memcpy(mal, encs[i], 32);
        same(k, pk, mal, m, sizeof(m));
        CHECK_CTX("encoding %d as A", i);
        lx_ed25519_key_t *bad = lx_ed25519_key_new(encs[i]);
        same(bad, encs[i], sig, m, sizeof(m));
        lx_ed25519_key_free(bad);
    }
    /* the order-8 points (libsodium's list) as R and A, with the identity signature equation */
    CHECK_CTX("random garbage");
    for (int i = 0; i < 300; i++) {
        uint8_t g[64], gk[32];
        randombytes_buf(g, sizeof(g));
        randombytes_buf(gk, sizeof(gk));
        g[63] &= 0x0f; /* canonical-ish scalar half the time */
        same(k, pk, g, m, sizeof(m));
        lx_ed25519_key_t *kk = lx_ed25519_key_new(gk);
        same(kk, gk, g, m, sizeof(m));
        lx_ed25519_key_free(kk);
    }
    CHECK_CTX("a key with a torsion component");
    {
        /* A + T where T is a point of order 8 (libsodium's list entry): valid-looking key, no signature known; R
         * chosen as [s]B - [h](A + T) would need the discrete log, so compare on garbage and flipped signatures. */
        static const uint8_t t8[32] = {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
                                       0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
                                       0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05};
        uint8_t at[32];
        if (crypto_core_ed25519_add(at, pk, t8) == 0) {
            lx_ed25519_key_t *kt = lx_ed25519_key_new(at);
            same(kt, at, sig, m, sizeof(m));
            for (int i = 0; i < 50; i++) {
                uint8_t g[64];
                randombytes_buf(g, sizeof(g));
                g[63] &= 0x0f;
                same(kt, at, g, m, sizeof(m));
            }
            lx_ed25519_key_free(kt);
        }
    }
    lx_ed25519_key_free(k);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_speed(void)
{
    uint8_t pk[32], sk[64], m[450], sig[64];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(m, sizeof(m));
    crypto_sign_detached(sig, NULL, m, sizeof(m), sk);
    lx_ed25519_key_t *k = lx_ed25519_key_new(pk);
    int n = 2000, ok = 0;
    double t0 = now_s();
    for (int i = 0; i < n; i++) ok += crypto_sign_verify_detached(sig, m, sizeof(m), pk) == 0;
    double t1 = now_s();
    for (int i = 0; i < n; i++) ok += lx_ed25519_verify(k, sig, m, sizeof(m)) == 0;
    double t2 = now_s();
    CHECK_EQ_INT(ok, 2 * n);
    printf("ed25519 verify of a 450-byte message: libsodium %.0f/s, prepared key %.0f/s (CPU time)\n", n / (t1 - t0),
           n / (t2 - t1));
    lx_ed25519_key_free(k);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    test_edges();
    test_valid_and_flipped();
    report_speed();
    printf("%lu verifications compared with libsodium\n", compared);
    return check_summary();
}
