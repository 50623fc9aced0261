/*
 * Receipts, log entries and tree heads: their canonical bytes, signatures and
 * hashes. Pure functions (libsodium and Jansson only, no I/O), shared by the
 * server that issues them, the audit that re-checks them and `leadx verify`
 * that checks them offline.
 *
 * The formats (README "Receipts you can verify", api/openapi.yaml):
 *
 *   receipt   {"body": BODY, "key_id": KID, "signature": SIG}
 *             SIG = unpadded base64url Ed25519 over "leadx-receipt-v1\n" || JCS(BODY)
 *             KID = first 16 hex chars of BLAKE2b-256(public key)
 *   entry     {"kind", "lead_digest", "mode", "receipt_hash", "share_index"}
 *             receipt_hash = unpadded base64url SHA-256(JCS(receipt)); the
 *             last three null where they do not apply (not a sale or refund)
 *   leaf      SHA-256(0x00 || JCS(entry))              (RFC 6962)
 *   head      {"tree_size", "root_hash", "timestamp", "key_id", "signature"}
 *             signature over "leadx-tree-head-v1\n" || JCS({root_hash, timestamp, tree_size})
 *
 * JCS = RFC 8785 canonical JSON (util/canon.h). Bodies hold only strings,
 * integers below 2^53 in magnitude, booleans and null.
 */
#ifndef LX_BILLING_RECEIPT_H
#define LX_BILLING_RECEIPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/strbuf.h"

#define LX_RECEIPT_VERSION   1
#define LX_RECEIPT_CONTEXT   "leadx-receipt-v1\n"
#define LX_TREE_HEAD_CONTEXT "leadx-tree-head-v1\n"
#define LX_KEY_ID_LEN        16 /* hex characters */
#define LX_SIG_B64_LEN       86 /* 64 bytes, unpadded base64url */
#define LX_HASH_B64_LEN      43 /* 32 bytes, unpadded base64url */
#define LX_PK_B64_LEN        43

/* ---- keys ---- */

/* key_id of an Ed25519 public key: 16 lowercase hex characters + NUL. */
void lx_receipt_key_id(const uint8_t pk[32], char out[LX_KEY_ID_LEN + 1]);

/* A published verification key (GET /v1/receipts/keys, keys.json). Times are Unix microseconds; not_after
 * INT64_MAX while the key still signs. */
typedef struct {
    char key_id[LX_KEY_ID_LEN + 1];
    uint8_t pk[32];
    int64_t not_before_us;
    int64_t not_after_us;
    /* Optional: the key prepared for many verifications (util/ed25519.h), owned and freed by whoever set it
     * (`leadx verify`); NULL = libsodium's crypto_sign_verify_detached. Both give the same answers. */
    struct st_lx_ed25519_key_t *prepared;
} lx_pubkey_t;
#define LX_PUBKEY_PREPARED 1 /* src/verify.c prepares its keys when this hook exists */

typedef struct {
    lx_pubkey_t *keys;
    size_t n;
} lx_keyring_t;

/*
 * Parses `{"keys": [{"key_id", "public_key", "not_before", "not_after"|null}, ...]}` (the keys endpoint's body).
 * Strict: unknown or duplicate members, a key_id that does not match its public key, a non-canonical base64url key,
 * bad times are errors naming the JSON Pointer. keyring->keys is malloc'd; free with lx_keyring_free.
 */
lx_status_t lx_keyring_parse(const char *json, size_t len, lx_keyring_t *ring, lx_error_t *err);
void lx_keyring_free(lx_keyring_t *ring);
const lx_pubkey_t *lx_keyring_find(const lx_keyring_t *ring, const char *key_id, size_t len);

/* ---- receipts ---- */

typedef struct {
    const char *id;        /* receipt id (uuid) */
    const char *kind;      /* deposit | sale | refund | settlement | payout | withdrawal */
    const char *issued_at; /* RFC 3339 UTC, as util/time.h writes it */
    const char *account;   /* the account the receipt belongs to */
    const char *ledger_txn;
    int64_t amount; /* for this account, signed as the ledger moves it; |amount| < 2^53 */
    const char *currency;
    const char *reference; /* deposits, payouts, withdrawals: the operator's reference, or NULL (omitted) */
    /* Sales and refunds (NULL / -1 otherwise, and then omitted): */
    const char *lead_id;
    const char *lead_digest; /* lx_lead_digest */
    const char *niche;       /* slug */
    const char *region;
    const char *mode; /* exclusive | shared */
    int share_index;
    const char *sale_id;
    const char *reverses; /* refunds: id of the receipt this one reverses */
} lx_receipt_body_t;

/* Appends JCS(body) to `out`. */
void lx_receipt_body_canon(const lx_receipt_body_t *b, lx_strbuf_t *out);

/* Ed25519 over `context` || msg, as unpadded base64url (LX_SIG_B64_LEN chars + NUL). */
void lx_sign_b64(const uint8_t sk[64], const char *context, const char *msg, size_t len, char sig[LX_SIG_B64_LEN + 1]);

/* Appends the whole receipt object, already canonical: {"body":BODY,"key_id":"...","signature":"..."}. */
void lx_receipt_render(const char *body_canon, size_t len, const char *key_id, const char *sig, lx_strbuf_t *out);

/* Unpadded base64url SHA-256 of `data`. */
void lx_sha256_b64(const char *data, size_t len, char out[LX_HASH_B64_LEN + 1]);

/* receipt_hash of the receipt with canonical body `body_canon`, `key_id` and `sig`: lx_sha256_b64 of its rendering
 * (lx_receipt_render), which is left in `scratch` (reset first). */
void lx_receipt_hash(const char *body_canon, size_t len, const char *key_id, const char *sig, lx_strbuf_t *scratch,
                     char out[LX_HASH_B64_LEN + 1]);

/* lead_digest: unpadded base64url BLAKE2b-256 of "leadx-lead-digest-v1\n" || lead id, keyed with `key`. */
void lx_lead_digest(const uint8_t key[32], const char *lead_id, char out[LX_HASH_B64_LEN + 1]);

/* Appends JCS of the log entry; lead_digest and mode NULL and share_index -1 for null. */
void lx_log_entry_canon(const char *kind, const char *receipt_hash, const char *lead_digest, const char *mode, int share_index,
                        lx_strbuf_t *out);

/* ---- verification (outside input: strict, never trusts the server) ---- */

/* What a verified receipt says (pointers into `json_owner`, which the caller json_decref's). */
typedef struct {
    json_t *json_owner; /* the parsed receipt object */
    const json_t *body; /* its body */
    const char *id, *kind, *account, *currency, *issued_at;
    int64_t amount;
    const char *lead_digest, *mode; /* NULL when absent/null */
    int share_index;                /* -1 when absent/null */
    char receipt_hash[LX_HASH_B64_LEN + 1];
    char entry_canon[512]; /* JCS of its log entry */
    size_t entry_len;
} lx_receipt_view_t;

/*
 * Verifies one receipt object given as a parsed JSON value (`receipt` is borrowed; the view holds a reference):
 * exactly the members body, key_id, signature; a body of the value space with the required members for its kind;
 * a strict base64url signature by a key of the ring whose validity covers issued_at. Error: the first failure,
 * with the JSON Pointer (under `where`, e.g. "/receipt") of what failed.
 */
lx_status_t lx_receipt_verify(const json_t *receipt, const char *where, const lx_keyring_t *ring, lx_receipt_view_t *out,
                              lx_error_t *err);
void lx_receipt_view_clear(lx_receipt_view_t *v);

/* Appends JCS({"root_hash", "timestamp", "tree_size"}): the signed part of a tree head. */
void lx_tree_head_canon(uint64_t tree_size, const char *root_hash_b64, const char *timestamp, lx_strbuf_t *out);

typedef struct {
    uint64_t tree_size;
    uint8_t root[32];
    char timestamp[40];
    char key_id[LX_KEY_ID_LEN + 1];
} lx_tree_head_t;

/* Verifies a signed tree head object (exactly its five members) against the ring. */
lx_status_t lx_tree_head_verify(const json_t *head, const char *where, const lx_keyring_t *ring, lx_tree_head_t *out,
                                lx_error_t *err);

#endif
