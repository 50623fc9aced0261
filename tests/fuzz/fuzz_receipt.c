/*
 * libFuzzer target for src/billing/receipt.h, the checks of signed documents
 * that come from outside (`leadx verify`, the audit): every input is tried as
 *   - a receipt: lx_json_parse (depth cap 16), then lx_receipt_verify under
 *     "/receipt" against a fixed ring (key a: seed 42*32, from 2026-01-01, still
 *     signing; key b: seed 43*32, 2025-01-01 .. 2026-01-01), once with
 *     libsodium and once with prepared keys (util/ed25519.h);
 *   - a signed tree head: lx_json_parse, then lx_tree_head_verify under "/head";
 *   - a keys document: lx_keyring_parse.
 * Contracts beyond "no crash, no leak, no undefined behaviour":
 *   - a refusal is LX_ERR_VALIDATION with exactly one field error, its field
 *     under the given pointer ("/receipt...", "/head..."), a message, and an
 *     empty view; a keys document is refused with one field error whose field
 *     is "" (the document) or starts with "/", and an empty ring;
 *   - prepared keys and libsodium give the same answer, field and message;
 *   - an accepted receipt is consistent: its kind is one of the six, sale and
 *     refund views carry digest, mode and share 0..19 and the others none,
 *     receipt_hash is SHA-256 of lx_receipt_render of JCS(body) with its
 *     key_id and signature, the entry is lx_log_entry_canon of the view, and
 *     that canonical rendering verifies again with the same hash (one receipt,
 *     one hash, whatever bytes it came in);
 *   - an accepted head has its size below 2^53, a root that re-encodes to the
 *     input's root_hash, a key of the ring; an accepted ring has matching key
 *     ids, not_before <= not_after, no key twice.
 *
 * Seed corpus (tests/fuzz/corpus/receipt/): receipts of every kind, by both keys,
 * canonical and loose, a few refused ones, heads and keys documents; signed once
 * with the seeds above by a one-off script (Python, the `cryptography` package).
 */
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/canon.h"
#include "util/ed25519.h"
#include "util/json.h"
#include "util/time.h"

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

static lx_keyring_t ring, prepared;

static void init_once(void)
{
    if (ring.n > 0) return;
    FUZZ_ASSERT(sodium_init() >= 0);
    uint8_t seed[32], pk[2][32], sk[64];
    char json[1024], kid[2][LX_KEY_ID_LEN + 1], pkb[2][LX_PK_B64_LEN + 1];
    for (int i = 0; i < 2; i++) {
        memset(seed, 42 + i, sizeof(seed));
        crypto_sign_seed_keypair(pk[i], sk, seed);
        lx_receipt_key_id(pk[i], kid[i]);
        lx_b64url_encode(pk[i], 32, pkb[i]);
    }
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(seed, sizeof(seed));
    snprintf(json, sizeof(json),
             "{\"keys\":[{\"key_id\":\"%s\",\"public_key\":\"%s\",\"not_before\":\"2026-01-01T00:00:00Z\","
             "\"not_after\":null},{\"key_id\":\"%s\",\"public_key\":\"%s\",\"not_before\":\"2025-01-01T00:00:00Z\","
             "\"not_after\":\"2026-01-01T00:00:00Z\"}]}",
             kid[0], pkb[0], kid[1], pkb[1]);
    lx_error_t err;
    lx_error_init(&err);
    FUZZ_ASSERT(lx_keyring_parse(json, strlen(json), &ring, &err) == LX_OK && ring.n == 2);
    lx_error_init(&err);
    FUZZ_ASSERT(lx_keyring_parse(json, strlen(json), &prepared, &err) == LX_OK && prepared.n == 2);
    for (size_t i = 0; i < prepared.n; i++) prepared.keys[i].prepared = lx_ed25519_key_new(prepared.keys[i].pk);
}

static void check_refusal(lx_status_t st, const lx_error_t *err, const char *where)
{
    FUZZ_ASSERT(st == LX_ERR_VALIDATION && err->status == st && err->detail[0] != '\0');
    FUZZ_ASSERT(err->nfields == 1 && err->nfields_dropped == 0);
    FUZZ_ASSERT(strncmp(err->fields[0].field, where, strlen(where)) == 0);
    FUZZ_ASSERT(err->fields[0].field[strlen(where)] == '\0' || err->fields[0].field[strlen(where)] == '/');
    FUZZ_ASSERT(err->fields[0].message[0] != '\0');
}

static int is_sale_kind(const char *k)
{
    return strcmp(k, "sale") == 0 || strcmp(k, "refund") == 0;
}

static void check_view(const lx_receipt_view_t *v, const json_t *doc)
{
    static const char *const kinds[] = {"deposit", "sale", "refund", "settlement", "payout", "withdrawal"};
    FUZZ_ASSERT(v->json_owner == doc && v->body == json_object_get(doc, "body"));
    FUZZ_ASSERT(v->id != NULL && v->kind != NULL && v->account != NULL && v->currency != NULL && v->issued_at != NULL);
    size_t k = 0;
    while (k < 6 && strcmp(kinds[k], v->kind) != 0) k++;
    FUZZ_ASSERT(k < 6);
    FUZZ_ASSERT(v->amount <= LX_CANON_MAX_SAFE_INT && v->amount >= -LX_CANON_MAX_SAFE_INT);
    if (is_sale_kind(v->kind))
        FUZZ_ASSERT(v->lead_digest != NULL && v->mode != NULL && v->share_index >= 0 && v->share_index <= 19);
    else
        FUZZ_ASSERT(v->lead_digest == NULL && v->mode == NULL && v->share_index == -1);
    FUZZ_ASSERT(strlen(v->receipt_hash) == LX_HASH_B64_LEN);
    FUZZ_ASSERT(v->entry_len == strlen(v->entry_canon));

    /* receipt_hash = SHA-256 of the canonical receipt; the entry is the view's */
    lx_strbuf_t body, whole, entry;
    lx_strbuf_init(&body, 1 << 22);
    lx_strbuf_init(&whole, 1 << 22);
    lx_strbuf_init(&entry, 1024);
    lx_error_t err;
    lx_error_init(&err);
    FUZZ_ASSERT(lx_canon_json(v->body, &body, &err) == LX_OK && !body.overflow);
    const char *kid = json_string_value(json_object_get(doc, "key_id"));
    const char *sig = json_string_value(json_object_get(doc, "signature"));
    FUZZ_ASSERT(kid != NULL && sig != NULL && strlen(kid) == LX_KEY_ID_LEN && strlen(sig) == LX_SIG_B64_LEN);
    FUZZ_ASSERT(lx_keyring_find(&ring, kid, strlen(kid)) != NULL);
    lx_receipt_render(body.base, body.len, kid, sig, &whole);
    char h[LX_HASH_B64_LEN + 1];
    lx_sha256_b64(whole.base, whole.len, h);
    FUZZ_ASSERT(strcmp(h, v->receipt_hash) == 0);
    lx_log_entry_canon(v->kind, v->receipt_hash, v->lead_digest, v->mode, v->share_index, &entry);
    FUZZ_ASSERT(entry.len == v->entry_len && memcmp(entry.base, v->entry_canon, entry.len) == 0);

    /* the canonical rendering is a receipt too, with the same hash */
    json_t *again = lx_json_parse(whole.base, whole.len, 16, &err);
    FUZZ_ASSERT(again != NULL);
    lx_receipt_view_t v2;
    lx_error_init(&err);
    FUZZ_ASSERT(lx_receipt_verify(again, "", &ring, &v2, &err) == LX_OK);
    FUZZ_ASSERT(strcmp(v2.receipt_hash, v->receipt_hash) == 0);
    lx_receipt_view_clear(&v2);
    json_decref(again);
    lx_strbuf_free(&body);
    lx_strbuf_free(&whole);
    lx_strbuf_free(&entry);
}

static void try_receipt(const char *data, size_t size)
{
    lx_error_t err;
    lx_error_init(&err);
    json_t *doc = lx_json_parse(data, size, 16, &err);
    if (doc == NULL) {
        FUZZ_ASSERT(err.status == LX_ERR_MALFORMED_JSON || err.status == LX_ERR_VALIDATION);
        FUZZ_ASSERT(err.nfields >= 1);
        return;
    }
    lx_receipt_view_t v, vp;
    lx_error_init(&err);
    lx_status_t st = lx_receipt_verify(doc, "/receipt", &ring, &v, &err);
    lx_error_t errp;
    lx_error_init(&errp);
    lx_status_t stp = lx_receipt_verify(doc, "/receipt", &prepared, &vp, &errp);
    FUZZ_ASSERT(st == stp);
    if (st != LX_OK) {
        check_refusal(st, &err, "/receipt");
        FUZZ_ASSERT(v.json_owner == NULL && v.kind == NULL && v.share_index == -1);
        FUZZ_ASSERT(strcmp(err.fields[0].field, errp.fields[0].field) == 0);
        FUZZ_ASSERT(strcmp(err.fields[0].message, errp.fields[0].message) == 0);
    } else {
        check_view(&v, doc);
        FUZZ_ASSERT(strcmp(v.receipt_hash, vp.receipt_hash) == 0);
    }
    lx_receipt_view_clear(&v);
    lx_receipt_view_clear(&vp);
    json_decref(doc);
}

static void try_head(const char *data, size_t size)
{
    lx_error_t err;
    lx_error_init(&err);
    json_t *doc = lx_json_parse(data, size, 16, &err);
    if (doc == NULL) return;
    lx_tree_head_t th;
    lx_error_init(&err);
    lx_status_t st = lx_tree_head_verify(doc, "/head", &ring, &th, &err);
    lx_tree_head_t thp;
    lx_error_t errp;
    lx_error_init(&errp);
    FUZZ_ASSERT(lx_tree_head_verify(doc, "/head", &prepared, &thp, &errp) == st);
    if (st != LX_OK) {
        check_refusal(st, &err, "/head");
        FUZZ_ASSERT(strcmp(err.fields[0].field, errp.fields[0].field) == 0);
        FUZZ_ASSERT(strcmp(err.fields[0].message, errp.fields[0].message) == 0);
    } else {
        FUZZ_ASSERT(th.tree_size <= (uint64_t)LX_CANON_MAX_SAFE_INT);
        int64_t at;
        FUZZ_ASSERT(lx_ts_parse_rfc3339(th.timestamp, strlen(th.timestamp), &at) == 0);
        FUZZ_ASSERT(strcmp(th.timestamp, json_string_value(json_object_get(doc, "timestamp"))) == 0);
        char rb[LX_HASH_B64_LEN + 1];
        lx_b64url_encode(th.root, 32, rb);
        FUZZ_ASSERT(strcmp(rb, json_string_value(json_object_get(doc, "root_hash"))) == 0);
        FUZZ_ASSERT(lx_keyring_find(&ring, th.key_id, strlen(th.key_id)) != NULL);
        FUZZ_ASSERT(memcmp(&th, &thp, sizeof(th)) == 0);
    }
    json_decref(doc);
}

static void try_keyring(const char *data, size_t size)
{
    lx_keyring_t r;
    lx_error_t err;
    lx_error_init(&err);
    lx_status_t st = lx_keyring_parse(data, size, &r, &err);
    if (st != LX_OK) {
        FUZZ_ASSERT(st == LX_ERR_MALFORMED_JSON || st == LX_ERR_VALIDATION);
        FUZZ_ASSERT(err.status == st && err.nfields == 1);
        FUZZ_ASSERT(err.fields[0].field[0] == '\0' || err.fields[0].field[0] == '/');
        FUZZ_ASSERT(err.fields[0].message[0] != '\0');
        FUZZ_ASSERT(r.keys == NULL && r.n == 0);
        return;
    }
    FUZZ_ASSERT(r.n <= 1024 && (r.n == 0 || r.keys != NULL));
    for (size_t i = 0; i < r.n; i++) {
        char kid[LX_KEY_ID_LEN + 1];
        lx_receipt_key_id(r.keys[i].pk, kid);
        FUZZ_ASSERT(strcmp(kid, r.keys[i].key_id) == 0);
        FUZZ_ASSERT(r.keys[i].not_before_us <= r.keys[i].not_after_us && r.keys[i].prepared == NULL);
        FUZZ_ASSERT(lx_keyring_find(&r, kid, LX_KEY_ID_LEN) == &r.keys[i]); /* listed once */
    }
    lx_keyring_free(&r);
    FUZZ_ASSERT(r.keys == NULL && r.n == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    const char *s = (const char *)data;
    try_receipt(s, size);
    try_head(s, size);
    try_keyring(s, size);
    return 0;
}
