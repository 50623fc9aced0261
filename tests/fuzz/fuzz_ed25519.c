/*
 * libFuzzer target: util/ed25519.h (the verifier `leadx verify` runs on every receipt and head) against libsodium's
 * crypto_sign_verify_detached, on signatures near valid ones as well as on garbage. A false acceptance here would
 * let a forged receipt pass the offline check, so the fast path alone (lx_ed25519_verify_fast_only, without its
 * libsodium confirmation of rejections) and the full call must both give libsodium's answer on every input.
 *
 * Input: one mode byte, then the rest.
 *   mode & 3     the key: one of three fixed keys (prepared once, so their tables are reused), or 3: the next 32
 *                bytes are the public key, prepared for this input (any bytes: off-curve, non-canonical, small order)
 *   mode & 4     the signature is the fixed key's (key 0's for an input key) valid signature of the message, XORed
 *                with the next 64 bytes (fewer: the rest of the mask is zero); else the next 64 bytes are the signature
 *   mode & 8     then L is added to its S (a non-canonical scalar that both must refuse)
 *   mode & 16    a derived signature is made with another fixed key than the one verifying
 * The remaining bytes are the message.
 */
#include "util/ed25519.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#define NKEYS 3

static uint8_t pks[NKEYS][32], sks[NKEYS][64];
static lx_ed25519_key_t *keys[NKEYS];

static void init_once(void)
{
    if (keys[0] != NULL) return;
    FUZZ_ASSERT(sodium_init() >= 0);
    for (int i = 0; i < NKEYS; i++) {
        uint8_t seed[32];
        memset(seed, 0x5a + i, sizeof(seed));
        FUZZ_ASSERT(crypto_sign_seed_keypair(pks[i], sks[i], seed) == 0);
        keys[i] = lx_ed25519_key_new(pks[i]);
    }
}

/* s += L (little-endian, 32 bytes, mod 2^256: a masked s may wrap, which is just another input). */
static void add_l(uint8_t s[32])
{
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = (unsigned)s[i] + L[i] + carry;
        s[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 1) return 0;
    unsigned mode = data[0];
    data++, size--;

    unsigned which = mode & 3;
    uint8_t pk[32];
    lx_ed25519_key_t *key, *own = NULL;
    if (which == 3) {
        if (size < 32) return 0;
        memcpy(pk, data, 32);
        data += 32, size -= 32;
        key = own = lx_ed25519_key_new(pk);
        which = 0;
    } else {
        memcpy(pk, pks[which], 32);
        key = keys[which];
    }

    uint8_t sig[64] = {0}, mask[64] = {0};
    size_t take = size < 64 ? size : 64;
    const uint8_t *m = data + take;
    size_t mlen = size - take;
    if (mode & 4) {
        memcpy(mask, data, take);
        unsigned signer = (mode & 16) ? (which + 1) % NKEYS : which;
        FUZZ_ASSERT(crypto_sign_detached(sig, NULL, m, mlen, sks[signer]) == 0);
        for (int i = 0; i < 64; i++) sig[i] ^= mask[i];
    } else {
        if (take < 64) goto out;
        memcpy(sig, data, 64);
    }
    if (mode & 8) add_l(sig + 32);

    int want = crypto_sign_verify_detached(sig, m, mlen, pk);
    int fast = lx_ed25519_verify_fast_only(key, sig, m, mlen);
    int full = lx_ed25519_verify(key, sig, m, mlen);
    if (fast != want || full != want) {
        fprintf(stderr, "libsodium %d, fast path %d, full %d\n", want, fast, full);
        FUZZ_ASSERT(0);
    }
out:
    lx_ed25519_key_free(own);
    return 0;
}
