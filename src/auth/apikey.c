#include "auth/apikey.h"

#include <sodium.h>
#include <string.h>

#define B64_LEN 43

void lx_apikey_generate(lx_apikey_t *key)
{
    lx_uuid_v7(&key->id);
    randombytes_buf(key->secret, sizeof(key->secret));
}

int lx_apikey_parse(const char *token, size_t len, lx_apikey_t *key)
{
    if (len != LX_APIKEY_TOKEN_LEN || memcmp(token, "lx_", 3) != 0 || token[3 + LX_UUID_HEXLEN] != '_') return -1;
    if (lx_uuid_parse_hex(token + 3, LX_UUID_HEXLEN, &key->id) != 0) return -1;
    const char *b64 = token + 4 + LX_UUID_HEXLEN;
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(key->secret, sizeof(key->secret), b64, B64_LEN, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        bin_len != sizeof(key->secret) || end != b64 + B64_LEN)
        return -1;
    /* Reject non-canonical encodings (stray low bits in the last character): one token, one spelling. */
    char again[B64_LEN + 1];
    sodium_bin2base64(again, sizeof(again), key->secret, sizeof(key->secret), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (memcmp(again, b64, B64_LEN) != 0) return -1;
    return 0;
}

void lx_apikey_format(const lx_apikey_t *key, char out[LX_APIKEY_TOKEN_LEN + 1])
{
    memcpy(out, "lx_", 3);
    lx_uuid_format_hex(&key->id, out + 3);
    out[3 + LX_UUID_HEXLEN] = '_';
    sodium_bin2base64(out + 4 + LX_UUID_HEXLEN, B64_LEN + 1, key->secret, sizeof(key->secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void lx_apikey_hash(const lx_apikey_t *key, const uint8_t hashing_key[LX_APIKEY_HASHING_KEY_BYTES],
                    uint8_t out[LX_APIKEY_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, hashing_key, LX_APIKEY_HASHING_KEY_BYTES, LX_APIKEY_HASH_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)"leadx-api-key-v1", 16);
    crypto_generichash_update(&st, key->secret, sizeof(key->secret));
    crypto_generichash_update(&st, key->id.b, sizeof(key->id.b));
    crypto_generichash_final(&st, out, LX_APIKEY_HASH_BYTES);
    sodium_memzero(&st, sizeof(st));
}

int lx_apikey_matches(const lx_apikey_t *key, const uint8_t hashing_key[LX_APIKEY_HASHING_KEY_BYTES],
                      const uint8_t expected[LX_APIKEY_HASH_BYTES])
{
    uint8_t h[LX_APIKEY_HASH_BYTES];
    lx_apikey_hash(key, hashing_key, h);
    int ok = sodium_memcmp(h, expected, LX_APIKEY_HASH_BYTES) == 0;
    sodium_memzero(h, sizeof(h));
    return ok;
}

void lx_apikey_wipe(lx_apikey_t *key)
{
    sodium_memzero(key, sizeof(*key));
}
