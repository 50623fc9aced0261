/*
 * The server's secret keys, each in its own file under the key directory
 * (never in the database), written by `leadx keygen` with mode 0600:
 *   receipt-signing.key  Ed25519 secret key (64 bytes) for receipts and tree heads
 *   data.key             master key wrapping per-lead contact-data keys (32 bytes)
 *   dedupe.key           BLAKE2b key for duplicate-detection hashes (32 bytes; never rotated)
 *   apikey-hash.key      BLAKE2b key for stored API-key hashes (32 bytes)
 * Keys live in sodium-guarded memory and are wiped by lx_keys_free.
 */
#ifndef LX_KEYS_H
#define LX_KEYS_H

#include <stdint.h>

#include "util/error.h"

typedef struct st_lx_keys_t {
    uint8_t receipt_sk[64];
    uint8_t receipt_pk[32];
    uint8_t data_key[32];
    uint8_t dedupe_key[32];
    uint8_t apikey_key[32];
} lx_keys_t;

/* Creates the directory (0700) and every missing key file; existing files are left alone. Prints what it wrote. */
lx_status_t lx_keys_generate_missing(const char *dir, lx_error_t *err);
/* Loads all keys; *out is allocated with sodium_malloc. Error names the missing or malformed file. */
lx_status_t lx_keys_load(const char *dir, lx_keys_t **out, lx_error_t *err);
void lx_keys_free(lx_keys_t *keys);

#endif
