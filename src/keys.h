/*
 * The server's secret keys, each in its own file under the key directory
 * (never in the database), written by `leadx keygen` with mode 0600:
 *   receipt-signing.key  Ed25519 secret key (64 bytes) for receipts and tree heads: the CURRENT signing key
 *   receipt-keys.json    the public registry of every receipt-signing key the deployment has used, the same
 *                        document as GET /v1/receipts/keys: {"keys": [{"key_id", "public_key", "not_before",
 *                        "not_after"|null}]}; the current key is the one entry whose not_after is null
 *   data.key             master key wrapping per-lead contact-data keys (32 bytes)
 *   dedupe.key           BLAKE2b key for duplicate-detection hashes (32 bytes; never rotated)
 *   apikey-hash.key      BLAKE2b key for stored API-key hashes (32 bytes)
 * Keys live in sodium-guarded memory and are wiped by lx_keys_free.
 *
 * Rotation (`leadx keygen --rotate`) replaces only the receipt-signing key: the old entry of the registry gets
 * not_after = now, a new key is added with not_before = now, and the retired secret key is overwritten and deleted.
 * Old public keys stay in the registry (and so on the keys endpoint) for ever, so old receipts keep verifying.
 * A running server keeps signing with the key it loaded: restart every server after a rotation (and every server of
 * a deployment must read the same key directory contents).
 */
#ifndef LX_KEYS_H
#define LX_KEYS_H

#include <stdint.h>

#include "billing/receipt.h"
#include "util/error.h"

#define LX_KEYS_REGISTRY_FILE "receipt-keys.json"
#define LX_KEYS_REGISTRY_MAX_BYTES ((size_t)1 << 20)

typedef struct st_lx_keys_t {
    uint8_t receipt_sk[64];
    uint8_t receipt_pk[32];
    uint8_t data_key[32];
    uint8_t dedupe_key[32];
    uint8_t apikey_key[32];
    /* Derived at load: */
    char receipt_key_id[17];     /* of receipt_pk (billing/receipt.h) */
    uint8_t lead_digest_key[32]; /* BLAKE2b(key = dedupe key, "leadx-lead-digest-key-v1"): never rotates either */
    /* The registry (receipt-keys.json), ordered as in the file; its keys array is malloc'd and freed by lx_keys_free.
     * receipt_key_id is in it with not_after_us == INT64_MAX. When the file does not exist yet (a key directory made
     * by an older keygen) it holds the current key alone, valid from the key file's modification time. */
    lx_keyring_t registry;
} lx_keys_t;

/*
 * Creates the directory (0700) and every missing key file; existing key files are left alone. Creates the registry
 * when it is missing (the current key, not_before = the key file's modification time), and finishes a rotation that
 * a crash interrupted. Prints what it wrote.
 */
lx_status_t lx_keys_generate_missing(const char *dir, lx_error_t *err);
/*
 * Replaces the receipt-signing key by a new one (see above); the other key files are never opened for writing.
 * Serialised against concurrent keygen runs by a lock on the directory. Crash-safe: the registry's rename is the
 * commit point; a rotation interrupted after it is finished by the next keygen. Prints the old and new key ids.
 */
lx_status_t lx_keys_rotate(const char *dir, lx_error_t *err);
/* Loads all keys and the registry; *out is allocated with sodium_malloc. Error names the missing or malformed file. */
lx_status_t lx_keys_load(const char *dir, lx_keys_t **out, lx_error_t *err);
void lx_keys_free(lx_keys_t *keys);

/* Appends the registry as the keys endpoint's JSON document (one key per line). */
void lx_keys_registry_render(const lx_keyring_t *ring, lx_strbuf_t *out);

/*
 * Publishes the registry in the database (blocking libpq: `serve` start only): every entry is inserted into
 * receipt_keys, and an entry retired since it was published gets its not_after. Refuses (error) when the database
 * says the key this server would sign with was retired: its key directory is older than another server's.
 */
lx_status_t lx_keys_publish(const char *conninfo, const lx_keys_t *keys, lx_error_t *err);

#endif
