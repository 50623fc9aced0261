/*
 * API key tokens and their hashes (pure, no I/O).
 *
 * A token is "lx_" + the key id as 32 lower-case hex digits + "_" + 32 random
 * bytes in unpadded base64url (43 chars): 79 characters. The key id is public
 * (it finds the row); only BLAKE2b-256("leadx-api-key-v1" || secret || key id) keyed with the
 * API-key hashing key is stored, so a database dump yields no usable token and
 * a stolen hash cannot be replayed against another deployment. Comparisons of
 * hashes are constant-time.
 */
#ifndef LX_AUTH_APIKEY_H
#define LX_AUTH_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "util/id.h"

#define LX_APIKEY_SECRET_BYTES      32
#define LX_APIKEY_HASH_BYTES        32
#define LX_APIKEY_HASHING_KEY_BYTES 32
#define LX_APIKEY_TOKEN_LEN         79

typedef struct st_lx_apikey_t {
    lx_uuid_t id;
    uint8_t secret[LX_APIKEY_SECRET_BYTES];
} lx_apikey_t;

/* New id (UUIDv7) and a fresh random secret. */
void lx_apikey_generate(lx_apikey_t *key);
/* Strict parse; 0 or -1 (any deviation from the format, including non-canonical base64). */
int lx_apikey_parse(const char *token, size_t len, lx_apikey_t *key);
/* Writes the 79-char token + NUL. The caller wipes `out` when done with it. */
void lx_apikey_format(const lx_apikey_t *key, char out[LX_APIKEY_TOKEN_LEN + 1]);
void lx_apikey_hash(const lx_apikey_t *key, const uint8_t hashing_key[LX_APIKEY_HASHING_KEY_BYTES],
                    uint8_t out[LX_APIKEY_HASH_BYTES]);
/* 1 if `key` hashes to `expected` (constant time), else 0. */
int lx_apikey_matches(const lx_apikey_t *key, const uint8_t hashing_key[LX_APIKEY_HASHING_KEY_BYTES],
                      const uint8_t expected[LX_APIKEY_HASH_BYTES]);
void lx_apikey_wipe(lx_apikey_t *key);

#endif
