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
 * Rotation (`leadx keygen --rotate`) replaces only the receipt-signing key: a new key is added with not_before =
 * now, the old entry of the registry gets not_after = now + LX_KEYS_ROTATION_GRACE_S, and the retired secret key is
 * overwritten and deleted. Old public keys stay in the registry (and so on the keys endpoint) for ever, so old
 * receipts keep verifying. A running server notices the rotation within a second (billing/keywatch.h), publishes the
 * registry and signs with the new key from then on (lx_keys_adopt); the grace keeps every receipt and tree head it
 * signed with the old key before it noticed inside that key's validity. Every server of a deployment must read the
 * same key directory contents.
 */
#ifndef LX_KEYS_H
#define LX_KEYS_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdint.h>

#include "billing/receipt.h"
#include "util/error.h"

#define LX_KEYS_REGISTRY_FILE      "receipt-keys.json"
#define LX_KEYS_SIGNING_FILE       "receipt-signing.key"
#define LX_KEYS_REGISTRY_MAX_BYTES ((size_t)1 << 20)
/* How long a retired signing key stays valid after a rotation: far longer than a server takes to notice it. */
#define LX_KEYS_ROTATION_GRACE_S 10

/* A receipt-signing key: what signs receipts and tree heads. */
typedef struct st_lx_signer_t {
    uint8_t sk[64];
    uint8_t pk[32];
    char key_id[17]; /* of pk (billing/receipt.h) */
} lx_signer_t;

typedef struct st_lx_keys_t {
    lx_signer_t signer; /* the receipt-signing key as loaded; sign with lx_keys_signer, which follows rotations */
    uint8_t data_key[32];
    uint8_t dedupe_key[32];
    uint8_t apikey_key[32];
    /* Derived at load: */
    uint8_t lead_digest_key[32]; /* BLAKE2b(key = dedupe key, "leadx-lead-digest-key-v1"): never rotates either */
    /* The registry (receipt-keys.json), ordered as in the file; its keys array is malloc'd and freed by lx_keys_free.
     * signer.key_id is in it with not_after_us == INT64_MAX. When the file does not exist yet (a key directory made
     * by an older keygen) it holds the current key alone, valid from the key file's modification time. */
    lx_keyring_t registry;
    /* The keys a running server adopted after a rotation (lx_keys_adopt), newest last; owned, freed with these. */
    struct st_lx_keys_t *_Atomic newer;
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
/* Frees `keys` and every key it adopted (sodium_free wipes them). */
void lx_keys_free(lx_keys_t *keys);

/* The key to sign with now: the newest adopted one, else keys->signer. Safe from any thread; the result stays valid
 * until lx_keys_free. Read it once per receipt or head, and take the key id from the same result. */
const lx_signer_t *lx_keys_signer(const lx_keys_t *keys);
/* The newest keys: `keys` or the last it adopted (whose registry is the newest this server has seen). */
const lx_keys_t *lx_keys_newest(const lx_keys_t *keys);
/* Hands `fresh` (lx_keys_load) over to `keys`: signing switches to fresh->signer. One adopting thread at a time. */
void lx_keys_adopt(lx_keys_t *keys, lx_keys_t *fresh);

/* Appends the registry as the keys endpoint's JSON document (one key per line). */
void lx_keys_registry_render(const lx_keyring_t *ring, lx_strbuf_t *out);

/*
 * Publishes the registry in the database (blocking libpq: `serve` start and the key watcher): every entry is inserted into
 * receipt_keys, and an entry retired since it was published gets its not_after. Refuses (error) when the database
 * says the key this server would sign with was retired: its key directory is older than another server's.
 */
lx_status_t lx_keys_publish(const char *conninfo, const lx_keys_t *keys, lx_error_t *err);
/* The same on an open connection (left open). */
lx_status_t lx_keys_publish_on(PGconn *pg, const lx_keys_t *keys, lx_error_t *err);

#endif
