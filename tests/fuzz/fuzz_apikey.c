/*
 * libFuzzer target: lx_apikey_parse on arbitrary bytes. A token that parses
 * must be exactly 79 bytes and lx_apikey_format must reproduce it byte for
 * byte (one key, one spelling); its hash must match itself.
 */
#include "auth/apikey.h"

#include <sodium.h>
#include <stdint.h>
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;
    if (!initialised) {
        FUZZ_ASSERT(sodium_init() >= 0);
        initialised = 1;
    }
    /* an exact-size copy, so a read past `size` is an ASan report rather than a read of libFuzzer's buffer */
    char *token = malloc(size ? size : 1);
    FUZZ_ASSERT(token != NULL);
    memcpy(token, data, size);
    lx_apikey_t key;
    if (lx_apikey_parse(token, size, &key) == 0) {
        char again[LX_APIKEY_TOKEN_LEN + 1];
        FUZZ_ASSERT(size == LX_APIKEY_TOKEN_LEN);
        lx_apikey_format(&key, again);
        FUZZ_ASSERT(strlen(again) == LX_APIKEY_TOKEN_LEN);
        FUZZ_ASSERT(memcmp(again, token, LX_APIKEY_TOKEN_LEN) == 0);
        static const uint8_t hk[LX_APIKEY_HASHING_KEY_BYTES] = {1, 2, 3};
        uint8_t h[LX_APIKEY_HASH_BYTES];
        lx_apikey_hash(&key, hk, h);
        FUZZ_ASSERT(lx_apikey_matches(&key, hk, h) == 1);
        h[0] ^= 1;
        FUZZ_ASSERT(lx_apikey_matches(&key, hk, h) == 0);
        lx_apikey_wipe(&key);
    }
    free(token);
    return 0;
}
