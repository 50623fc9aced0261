#include "leads/pii.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The prefixes are the same length and end in NUL, so no (kind, value) pair can be read as another. */
#define PREFIX_PHONE "leadx-contact-v1\0phone\0"
#define PREFIX_EMAIL "leadx-contact-v1\0email\0"
#define PREFIX_LEN   (sizeof(PREFIX_PHONE) - 1)

#define AD_BYTES (1 + LX_PII_LEAD_ID_BYTES)

_Static_assert(sizeof(PREFIX_PHONE) == sizeof(PREFIX_EMAIL), "contact hash prefixes must be the same length");
_Static_assert(LX_PII_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "data and master key size");
_Static_assert(LX_PII_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(LX_PII_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(LX_PII_HASH_BYTES >= crypto_generichash_BYTES_MIN && LX_PII_HASH_BYTES <= crypto_generichash_BYTES_MAX, "hash size");
_Static_assert(LX_PII_KEY_BYTES >= crypto_generichash_KEYBYTES_MIN && LX_PII_KEY_BYTES <= crypto_generichash_KEYBYTES_MAX,
               "dedupe key size");
_Static_assert(LX_PII_WRAPPED_KEY_BYTES == 73, "wrapped key layout");

void lx_pii_hash(const uint8_t dedupe_key[LX_PII_KEY_BYTES], lx_pii_kind_t kind, const char *normalized, size_t len,
                 uint8_t out[LX_PII_HASH_BYTES])
{
    const char *prefix;
    switch (kind) {
    case LX_PII_PHONE:
        prefix = PREFIX_PHONE;
        break;
    case LX_PII_EMAIL:
        prefix = PREFIX_EMAIL;
        break;
    default:
        abort(); /* programmer error: see the header */
    }
    crypto_generichash_state st;
    crypto_generichash_init(&st, dedupe_key, LX_PII_KEY_BYTES, LX_PII_HASH_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)prefix, PREFIX_LEN);
    crypto_generichash_update(&st, (const unsigned char *)normalized, len);
    crypto_generichash_final(&st, out, LX_PII_HASH_BYTES);
    sodium_memzero(&st, sizeof(st));
}

static void make_ad(uint8_t ad[AD_BYTES], const uint8_t lead_id[LX_PII_LEAD_ID_BYTES])
{
    ad[0] = LX_PII_VERSION;
    memcpy(ad + 1, lead_id, LX_PII_LEAD_ID_BYTES);
}

int lx_pii_seal(const uint8_t master_key[LX_PII_KEY_BYTES], const uint8_t lead_id[LX_PII_LEAD_ID_BYTES], const uint8_t *plain,
                size_t plain_len, uint8_t *ct, size_t ct_cap, size_t *ct_len, uint8_t wrapped_key[LX_PII_WRAPPED_KEY_BYTES])
{
    *ct_len = 0;
    if (ct_cap < LX_PII_OVERHEAD || plain_len > ct_cap - LX_PII_OVERHEAD) return -1;

    /* One syscall per lead: data key, key-wrapping nonce, data nonce. */
    uint8_t rnd[LX_PII_KEY_BYTES + 2 * LX_PII_NONCE_BYTES];
    randombytes_buf(rnd, sizeof(rnd));
    const uint8_t *data_key = rnd, *key_nonce = rnd + LX_PII_KEY_BYTES, *ct_nonce = key_nonce + LX_PII_NONCE_BYTES;
    uint8_t ad[AD_BYTES];
    make_ad(ad, lead_id);

    wrapped_key[0] = LX_PII_VERSION;
    memcpy(wrapped_key + 1, key_nonce, LX_PII_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped_key + 1 + LX_PII_NONCE_BYTES, NULL, data_key, LX_PII_KEY_BYTES, ad,
                                               sizeof(ad), NULL, key_nonce, master_key);

    ct[0] = LX_PII_VERSION;
    memcpy(ct + 1, ct_nonce, LX_PII_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct + 1 + LX_PII_NONCE_BYTES, NULL, plain, plain_len, ad, sizeof(ad), NULL, ct_nonce,
                                               data_key);
    sodium_memzero(rnd, sizeof(rnd));
    *ct_len = LX_PII_SEALED_SIZE(plain_len);
    return 0;
}

int lx_pii_open(const uint8_t master_key[LX_PII_KEY_BYTES], const uint8_t lead_id[LX_PII_LEAD_ID_BYTES], const uint8_t *wrapped_key,
                size_t wrapped_len, const uint8_t *ct, size_t ct_len, uint8_t *plain, size_t plain_cap, size_t *plain_len)
{
    *plain_len = 0;
    if (wrapped_len != LX_PII_WRAPPED_KEY_BYTES || wrapped_key[0] != LX_PII_VERSION) return -1;
    if (ct_len < LX_PII_OVERHEAD || ct[0] != LX_PII_VERSION) return -1;
    size_t n = ct_len - LX_PII_OVERHEAD;
    if (plain_cap < n) return -1;

    uint8_t ad[AD_BYTES];
    make_ad(ad, lead_id);
    uint8_t data_key[LX_PII_KEY_BYTES];
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(data_key, NULL, NULL, wrapped_key + 1 + LX_PII_NONCE_BYTES,
                                                   LX_PII_KEY_BYTES + LX_PII_TAG_BYTES, ad, sizeof(ad), wrapped_key + 1,
                                                   master_key) != 0) {
        sodium_memzero(data_key, sizeof(data_key));
        return -1;
    }
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, ct + 1 + LX_PII_NONCE_BYTES, n + LX_PII_TAG_BYTES, ad,
                                                        sizeof(ad), ct + 1, data_key);
    sodium_memzero(data_key, sizeof(data_key));
    if (rc != 0) {
        if (n > 0) sodium_memzero(plain, n); /* libsodium clears it too; do not depend on that */
        return -1;
    }
    *plain_len = n;
    return 0;
}
