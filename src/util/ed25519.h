/*
 * Ed25519 verification for many signatures by few keys (`leadx verify`):
 * exactly the answers of libsodium's crypto_sign_verify_detached, about 3
 * times faster once a key is prepared.
 *
 * Why: an offline check of an export is one Ed25519 verification per
 * receipt, and libsodium's verify (about 16,000/s on one core of the
 * 2-core reference machine) alone would cap `leadx verify` below its target
 * of 15,000 receipts/s. libsodium computes [h](-A) + [s]B with a sliding
 * window over 253 doublings and decompresses A every time; a verifier that
 * knows its few keys in advance can precompute, per key, the kind of
 * fixed-base table libsodium only has for B (multiples of -A), so both
 * scalar multiplications become 32 table additions each with 8 shared
 * doublings (ed25519.c says how).
 *
 * Exactness: the same checks as libsodium 1.0.18 (s < L; R and A not of small
 * order by libsodium's list of encodings; A canonical and on the curve) and
 * the same equation, so an answer can only differ through an arithmetic bug;
 * every rejection is confirmed with libsodium (a bug there can cost speed,
 * never a false rejection), and tests/unit/test_ed25519.c compares both on
 * valid, tampered and adversarial signatures. Variable time: for public data
 * (verification) only, never for secrets.
 */
#ifndef LX_UTIL_ED25519_H
#define LX_UTIL_ED25519_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_lx_ed25519_key_t lx_ed25519_key_t;

/* A public key for many verifications: its table (240 KiB, under a millisecond) is built at its 16th verification,
 * the first ones go to libsodium. Never fails: a key libsodium would refuse, or one this module does not handle, is
 * verified by libsodium alone. One thread at a time per key. Free with lx_ed25519_key_free. */
lx_ed25519_key_t *lx_ed25519_key_new(const uint8_t pk[32]);
void lx_ed25519_key_free(lx_ed25519_key_t *key);

/* crypto_sign_verify_detached(sig, m, mlen, pk): 0 when the signature is valid, -1 otherwise. */
int lx_ed25519_verify(lx_ed25519_key_t *key, const uint8_t sig[64], const uint8_t *m, size_t mlen);

/* The fast path alone, its table built now if need be, without the libsodium confirmation of rejections (the tests
 * compare it with libsodium). */
int lx_ed25519_verify_fast_only(lx_ed25519_key_t *key, const uint8_t sig[64], const uint8_t *m, size_t mlen);

#endif
