/*
 * A lead's contact data at rest: keyed hashes for finding it, envelope
 * encryption for keeping it (pure, no I/O apart from the randomness in
 * lx_pii_seal).
 *
 * Why this exists. The phone, e-mail and name of a person are what a buyer
 * pays for and what a leaked database would give away for free. The threat
 * model is a copy of the database alone (a dump, a backup, a replica, a
 * curious operator with psql): from it nobody learns a phone, an e-mail or a
 * name. The keys that undo this live in files beside the server (src/keys.h),
 * never in the database; whoever holds both the database and the key
 * directory reads everything, and this module does not pretend otherwise.
 *
 * Envelope encryption. Each lead gets a fresh random 32-byte data key; the
 * contact plaintext (a JSON document, handed over as bytes) is encrypted with
 * it, and the data key itself is encrypted ("wrapped") with the master key,
 * data.key. Both are XChaCha20-Poly1305 (IETF) with random 24-byte nonces, so
 * no nonce bookkeeping is needed, and both authenticate the version byte and
 * the lead id as associated data: a ciphertext or wrapped key copied onto
 * another lead's row fails to open instead of showing one person's contact
 * under another lead. Erasure is crypto-shredding: destroy the lead's wrapped
 * key and its ciphertext is noise, in every backup too, without rewriting
 * them. A new master key can be introduced by re-wrapping the 73-byte
 * wrapped keys; the ciphertexts stay untouched.
 *
 *   ciphertext  = 0x01 || nonce (24) || XChaCha20-Poly1305(data key, plaintext) || tag (16)
 *   wrapped key = 0x01 || nonce (24) || XChaCha20-Poly1305(master key, data key (32)) || tag (16)
 *   associated data of both = 0x01 || lead id (16 bytes, the UUID in network order)
 *
 * Keyed hashes. Duplicate detection ("was this phone sold in this niche in
 * the last 30 days?") and erasure requests ("delete everything about
 * +79161234567") need to find rows by contact without decrypting every lead.
 * A plain hash would protect nothing: all Russian mobile numbers
 * (+7 9XX XXX-XX-XX) are 10^9 strings, which a laptop hashes in minutes and
 * then looks up. So the hash is BLAKE2b-256 keyed with dedupe.key:
 *
 *   hash = BLAKE2b-256(key = dedupe key, "leadx-contact-v1\0" || kind || "\0" || value)
 *
 * where kind is "phone" or "email". Without the dedupe key a dump cannot be
 * brute-forced over the phone-number space. The key is never rotated:
 * rotating it would change every hash and every stored lead would stop being a
 * duplicate of the same person arriving tomorrow. The kind is in the hash so
 * that a phone and an e-mail that happen to be the same string never collide.
 *
 * Secrets handled here (the data key, libsodium's hash state) are wiped with
 * sodium_memzero before returning. Callers own and wipe their own plaintext.
 * sodium_init() must have succeeded before any call.
 */
#ifndef LX_LEADS_PII_H
#define LX_LEADS_PII_H

#include <stddef.h>
#include <stdint.h>

#define LX_PII_KEY_BYTES     32 /* master key, dedupe key and per-lead data key */
#define LX_PII_LEAD_ID_BYTES 16 /* the lead's UUID, lx_uuid_t.b */
#define LX_PII_HASH_BYTES    32
#define LX_PII_VERSION       1
#define LX_PII_NONCE_BYTES   24
#define LX_PII_TAG_BYTES     16
/* Version byte, nonce and tag around the encrypted bytes: 41. */
#define LX_PII_OVERHEAD (1 + LX_PII_NONCE_BYTES + LX_PII_TAG_BYTES)
/* A wrapped data key: 1 + 24 + 32 + 16 = 73 bytes. */
#define LX_PII_WRAPPED_KEY_BYTES (LX_PII_OVERHEAD + LX_PII_KEY_BYTES)
/* Ciphertext size for `n` plaintext bytes (a constant expression when `n` is; n must be below SIZE_MAX - 41). */
#define LX_PII_SEALED_SIZE(n) ((size_t)(n) + LX_PII_OVERHEAD)

typedef enum {
    LX_PII_PHONE = 1,
    LX_PII_EMAIL = 2,
} lx_pii_kind_t;

/* Plaintext size of a ciphertext of `ct_len` bytes; 0 when it is too short to be one (lx_pii_open will refuse it). */
static inline size_t lx_pii_opened_size(size_t ct_len)
{
    return ct_len > LX_PII_OVERHEAD ? ct_len - LX_PII_OVERHEAD : 0;
}

/*
 * Writes the keyed contact hash of `normalized` (`len` bytes, need not be
 * NUL-terminated) to `out`. The value must already be in its one stored
 * spelling: the E.164 string from lx_phone_normalize ("+79161234567") for
 * LX_PII_PHONE, the comparison key from lx_email_canonical (all lower case)
 * for LX_PII_EMAIL; two spellings of one contact hash differently. Same key,
 * kind and bytes, same hash. A kind other than the two is a programmer error
 * and aborts. Compare stored hashes with sodium_memcmp.
 */
void lx_pii_hash(const uint8_t dedupe_key[LX_PII_KEY_BYTES], lx_pii_kind_t kind, const char *normalized, size_t len,
                 uint8_t out[LX_PII_HASH_BYTES]);

/*
 * Encrypts `plain` (`plain_len` bytes; may be 0) for the lead `lead_id` under
 * a fresh data key, and wraps that key with `master_key`.
 *
 * Writes LX_PII_SEALED_SIZE(plain_len) bytes to `ct` (capacity `ct_cap`),
 * their number to *ct_len, and LX_PII_WRAPPED_KEY_BYTES bytes to
 * `wrapped_key`; store both in the lead's row. `ct` must not overlap `plain`.
 * Two seals of the same plaintext never give the same bytes. The data key
 * and the nonces come from one randombytes_buf call (one getrandom() per
 * lead) and are wiped before returning.
 *
 * Returns 0, or -1 when `ct_cap` is too small, with nothing written to `ct`
 * or `wrapped_key` and *ct_len set to 0.
 */
__attribute__((warn_unused_result)) int lx_pii_seal(const uint8_t master_key[LX_PII_KEY_BYTES],
                                                    const uint8_t lead_id[LX_PII_LEAD_ID_BYTES], const uint8_t *plain,
                                                    size_t plain_len, uint8_t *ct, size_t ct_cap, size_t *ct_len,
                                                    uint8_t wrapped_key[LX_PII_WRAPPED_KEY_BYTES]);

/*
 * Unwraps the data key from `wrapped_key` (`wrapped_len` bytes) with
 * `master_key` and decrypts `ct` (`ct_len` bytes) into `plain` (capacity
 * `plain_cap`, at least lx_pii_opened_size(ct_len); may be NULL when that is
 * 0), writing the plaintext size to *plain_len. `plain` must not overlap `ct`.
 *
 * Returns 0, or -1 on any failure: a wrapped key or ciphertext of the wrong
 * length or version, a wrong master key, a different lead id, any changed
 * byte, or `plain_cap` too small. The failures are not told apart (nothing
 * useful to an attacker, nothing a caller could repair); on -1 *plain_len is
 * 0 and `plain` holds no plaintext. The unwrapped data key is wiped before
 * returning.
 */
__attribute__((warn_unused_result)) int lx_pii_open(const uint8_t master_key[LX_PII_KEY_BYTES],
                                                    const uint8_t lead_id[LX_PII_LEAD_ID_BYTES], const uint8_t *wrapped_key,
                                                    size_t wrapped_len, const uint8_t *ct, size_t ct_len, uint8_t *plain,
                                                    size_t plain_cap, size_t *plain_len);

#endif
