/*
 * Receipts, log entries and tree heads (see receipt.h for the formats).
 *
 * Issuing is the hot side: the intake signs every sale's receipts in its
 * batch, so the body is written canonically straight from the struct, its
 * members in RFC 8785 order (all names are ASCII, so byte order is UTF-16
 * order), with no json_t in between; tests/unit/test_receipt.c proves the
 * result equals util/canon.c's canonical form of the same value.
 *
 * Verifying is the outside side: it trusts nothing but the keys. The body is
 * re-canonicalised from the parsed value (so any byte sequence that parses to
 * the same value verifies the same, and one that does not is refused by the
 * signature), members are checked per kind, and signatures must be in their
 * one strict base64url form.
 */
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/canon.h"
#include "util/ed25519.h"
#include "util/time.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SIGN_STACK_MAX 4096

/* ---- keys ---- */

void lx_receipt_key_id(const uint8_t pk[32], char out[LX_KEY_ID_LEN + 1])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof(h), pk, 32, NULL, 0);
    sodium_bin2hex(out, LX_KEY_ID_LEN + 1, h, LX_KEY_ID_LEN / 2);
}

static lx_status_t bad(lx_error_t *err, const char *where, const char *member, const char *msg)
{
    char ptr[256];
    snprintf(ptr, sizeof(ptr), "%s%s%s", where, member[0] ? "/" : "", member);
    lx_error_field(err, ptr, "%s", msg);
    return lx_error_set(err, LX_ERR_VALIDATION, "%s: %s", ptr, msg);
}

/* Exactly the members of `names` (count n), each present. */
static lx_status_t exact_members(const json_t *obj, const char *where, const char *const names[], size_t n,
                                 size_t optional_from, lx_error_t *err)
{
    if (!json_is_object(obj)) return bad(err, where, "", "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(names[i], key) != 0) i++;
        if (i == n) return bad(err, where, key, "is not a member of this object");
    }
    for (size_t i = 0; i < optional_from && i < n; i++)
        if (json_object_get(obj, names[i]) == NULL) return bad(err, where, names[i], "is required");
    return LX_OK;
}

static const char *str_member(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int parse_time(const char *s, int64_t *us)
{
    return s != NULL && lx_ts_parse_rfc3339(s, strlen(s), us) == 0;
}

lx_status_t lx_keyring_parse(const char *json, size_t len, lx_keyring_t *ring, lx_error_t *err)
{
    ring->keys = NULL;
    ring->n = 0;
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) return lx_error_set(err, LX_ERR_MALFORMED_JSON, "keys: not JSON (%s)", je.text);
    static const char *const top[] = {"keys"};
    lx_status_t st = exact_members(doc, "", top, 1, 1, err);
    json_t *keys = json_object_get(doc, "keys");
    if (st == LX_OK && !json_is_array(keys)) st = bad(err, "", "keys", "must be an array");
    if (st == LX_OK) ring->keys = calloc(json_array_size(keys) + 1, sizeof(*ring->keys));
    for (size_t i = 0; st == LX_OK && i < json_array_size(keys); i++) {
        char where[64];
        snprintf(where, sizeof(where), "/keys/%zu", i);
        const json_t *k = json_array_get(keys, i);
        static const char *const names[] = {"key_id", "public_key", "not_before", "not_after"};
        if ((st = exact_members(k, where, names, 4, 3, err)) != LX_OK) break;
        lx_pubkey_t *pk = &ring->keys[ring->n];
        const char *kid = str_member(k, "key_id"), *pub = str_member(k, "public_key");
        const json_t *na = json_object_get(k, "not_after");
        if (pub == NULL || lx_b64url_decode_exact(pub, strlen(pub), pk->pk, 32) != 0) {
            st = bad(err, where, "public_key", "must be 32 bytes in unpadded base64url");
            break;
        }
        lx_receipt_key_id(pk->pk, pk->key_id);
        if (kid == NULL || strcmp(kid, pk->key_id) != 0) {
            st = bad(err, where, "key_id", "does not match the public key");
            break;
        }
        if (!parse_time(str_member(k, "not_before"), &pk->not_before_us)) {
            st = bad(err, where, "not_before", "must be an RFC 3339 time");
            break;
        }
        if (na == NULL || json_is_null(na)) {
            pk->not_after_us = INT64_MAX;
        } else if (!parse_time(json_string_value(na), &pk->not_after_us) || pk->not_after_us < pk->not_before_us) {
            st = bad(err, where, "not_after", "must be null or an RFC 3339 time not before not_before");
            break;
        }
        if (lx_keyring_find(ring, pk->key_id, LX_KEY_ID_LEN) != NULL) {
            st = bad(err, where, "key_id", "is listed twice");
            break;
        }
        ring->n++;
    }
    json_decref(doc);
    if (st != LX_OK) lx_keyring_free(ring);
    return st;
}

void lx_keyring_free(lx_keyring_t *ring)
{
    free(ring->keys);
    ring->keys = NULL;
    ring->n = 0;
}

const lx_pubkey_t *lx_keyring_find(const lx_keyring_t *ring, const char *key_id, size_t len)
{
    if (len != LX_KEY_ID_LEN) return NULL;
    for (size_t i = 0; i < ring->n; i++)
        if (memcmp(ring->keys[i].key_id, key_id, LX_KEY_ID_LEN) == 0) return &ring->keys[i];
    return NULL;
}

/* ---- issuing ---- */

static int is_sale_kind(const char *kind)
{
    return strcmp(kind, "sale") == 0 || strcmp(kind, "refund") == 0;
}

static void put_key(lx_strbuf_t *out, const char *name, int *first)
{
    lx_strbuf_puts(out, *first ? "{\"" : ",\"");
    lx_strbuf_puts(out, name);
    lx_strbuf_puts(out, "\":");
    *first = 0;
}

static void put_str(lx_strbuf_t *out, const char *name, const char *value, int *first)
{
    if (value == NULL) return;
    put_key(out, name, first);
    lx_canon_string(out, value, strlen(value));
}

void lx_receipt_body_canon(const lx_receipt_body_t *b, lx_strbuf_t *out)
{
    /* RFC 8785 order of every member a body can have: account, amount, currency, id, issued_at, kind, lead_digest,
     * lead_id, ledger_txn, mode, niche, reference, region, reverses, sale_id, share_index, v. */
    int sale = is_sale_kind(b->kind), first = 1;
    put_str(out, "account", b->account, &first);
    put_key(out, "amount", &first);
    lx_strbuf_printf(out, "%" PRId64, b->amount);
    put_str(out, "currency", b->currency, &first);
    put_str(out, "id", b->id, &first);
    put_str(out, "issued_at", b->issued_at, &first);
    put_str(out, "kind", b->kind, &first);
    if (sale) {
        put_str(out, "lead_digest", b->lead_digest, &first);
        put_str(out, "lead_id", b->lead_id, &first);
    }
    put_str(out, "ledger_txn", b->ledger_txn, &first);
    if (sale) {
        put_str(out, "mode", b->mode, &first);
        put_str(out, "niche", b->niche, &first);
    }
    put_str(out, "reference", b->reference, &first);
    if (sale) {
        put_str(out, "region", b->region, &first);
        put_str(out, "reverses", b->reverses, &first);
        put_str(out, "sale_id", b->sale_id, &first);
        if (b->share_index >= 0) {
            put_key(out, "share_index", &first);
            lx_strbuf_printf(out, "%d", b->share_index);
        }
    }
    put_key(out, "v", &first);
    lx_strbuf_printf(out, "%d}", LX_RECEIPT_VERSION);
}

void lx_sign_b64(const uint8_t sk[64], const char *context, const char *msg, size_t len, char sig[LX_SIG_B64_LEN + 1])
{
    size_t clen = strlen(context), total = clen + len;
    uint8_t stack[SIGN_STACK_MAX], *buf = total <= sizeof(stack) ? stack : malloc(total);
    memcpy(buf, context, clen);
    memcpy(buf + clen, msg, len);
    uint8_t raw[crypto_sign_BYTES];
    crypto_sign_detached(raw, NULL, buf, total, sk);
    if (buf != stack) free(buf);
    lx_b64url_encode(raw, sizeof(raw), sig);
}

void lx_receipt_render(const char *body_canon, size_t len, const char *key_id, const char *sig, lx_strbuf_t *out)
{
    lx_strbuf_puts(out, "{\"body\":");
    lx_strbuf_append(out, body_canon, len);
    lx_strbuf_printf(out, ",\"key_id\":\"%s\",\"signature\":\"%s\"}", key_id, sig);
}

void lx_sha256_b64(const char *data, size_t len, char out[LX_HASH_B64_LEN + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const uint8_t *)data, len);
    lx_b64url_encode(h, sizeof(h), out);
}

void lx_lead_digest(const uint8_t key[32], const char *lead_id, char out[LX_HASH_B64_LEN + 1])
{
    static const char ctx[] = "leadx-lead-digest-v1\n";
    crypto_generichash_state st;
    uint8_t h[32];
    crypto_generichash_init(&st, key, 32, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof(ctx) - 1);
    crypto_generichash_update(&st, (const uint8_t *)lead_id, strlen(lead_id));
    crypto_generichash_final(&st, h, sizeof(h));
    lx_b64url_encode(h, sizeof(h), out);
}

void lx_log_entry_canon(const char *kind, const char *receipt_hash, const char *lead_digest, const char *mode,
                        int share_index, lx_strbuf_t *out)
{
    lx_strbuf_puts(out, "{\"kind\":");
    lx_canon_string(out, kind, strlen(kind));
    lx_strbuf_puts(out, ",\"lead_digest\":");
    if (lead_digest != NULL)
        lx_canon_string(out, lead_digest, strlen(lead_digest));
    else
        lx_strbuf_puts(out, "null");
    lx_strbuf_puts(out, ",\"mode\":");
    if (mode != NULL)
        lx_canon_string(out, mode, strlen(mode));
    else
        lx_strbuf_puts(out, "null");
    lx_strbuf_puts(out, ",\"receipt_hash\":");
    lx_canon_string(out, receipt_hash, strlen(receipt_hash));
    if (share_index >= 0)
        lx_strbuf_printf(out, ",\"share_index\":%d}", share_index);
    else
        lx_strbuf_puts(out, ",\"share_index\":null}");
}

void lx_tree_head_canon(uint64_t tree_size, const char *root_hash_b64, const char *timestamp, lx_strbuf_t *out)
{
    lx_strbuf_puts(out, "{\"root_hash\":");
    lx_canon_string(out, root_hash_b64, strlen(root_hash_b64));
    lx_strbuf_puts(out, ",\"timestamp\":");
    lx_canon_string(out, timestamp, strlen(timestamp));
    lx_strbuf_printf(out, ",\"tree_size\":%" PRIu64 "}", tree_size);
}

/* ---- verifying ---- */

static int sig_ok(const lx_pubkey_t *key, const char *context, const char *msg, size_t len, const char *sig_b64)
{
    uint8_t sig[crypto_sign_BYTES];
    if (lx_b64url_decode_exact(sig_b64, strlen(sig_b64), sig, sizeof(sig)) != 0) return -1;
    size_t clen = strlen(context), total = clen + len;
    uint8_t stack[SIGN_STACK_MAX], *buf = total <= sizeof(stack) ? stack : malloc(total);
    memcpy(buf, context, clen);
    memcpy(buf + clen, msg, len);
    int ok = (key->prepared != NULL ? lx_ed25519_verify(key->prepared, sig, buf, total)
                                    : crypto_sign_verify_detached(sig, buf, total, key->pk)) == 0;
    if (buf != stack) free(buf);
    return ok;
}

static int is_hex16(const char *s)
{
    if (s == NULL || strlen(s) != LX_KEY_ID_LEN) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

/* The key named by `kid`, valid at `at_us`. */
static lx_status_t find_key(const lx_keyring_t *ring, const json_t *obj, const char *where, int64_t at_us,
                            const lx_pubkey_t **out, lx_error_t *err)
{
    const char *kid = str_member(obj, "key_id");
    if (!is_hex16(kid)) return bad(err, where, "key_id", "must be 16 lowercase hexadecimal characters");
    const lx_pubkey_t *key = lx_keyring_find(ring, kid, strlen(kid));
    if (key == NULL) return bad(err, where, "key_id", "unknown key_id");
    if (at_us < key->not_before_us || at_us > key->not_after_us)
        return bad(err, where, "key_id", "the key was not valid for signing at that time");
    *out = key;
    return LX_OK;
}

static const char *const receipt_members[] = {"body", "key_id", "signature"};
static const char *const body_members[] = {"v",       "id",          "kind",    "issued_at", "account", "ledger_txn",
                                           "amount",  "currency",    "reference", "lead_id", "lead_digest", "niche",
                                           "region",  "mode",        "share_index", "sale_id", "reverses"};
static const char *const kinds[] = {"deposit", "sale", "refund", "settlement", "payout", "withdrawal"};

static lx_status_t check_body(const json_t *body, const char *where, lx_error_t *err)
{
    lx_status_t st = exact_members(body, where, body_members, sizeof(body_members) / sizeof(*body_members), 8, err);
    if (st != LX_OK) return st;
    const json_t *v = json_object_get(body, "v");
    if (!json_is_integer(v) || json_integer_value(v) != LX_RECEIPT_VERSION) return bad(err, where, "v", "must be 1");
    static const char *const strs[] = {"id", "kind", "issued_at", "account", "ledger_txn", "currency"};
    for (size_t i = 0; i < 6; i++)
        if (str_member(body, strs[i]) == NULL) return bad(err, where, strs[i], "must be a string");
    const char *kind = str_member(body, "kind");
    size_t k = 0;
    while (k < 6 && strcmp(kinds[k], kind) != 0) k++;
    if (k == 6) return bad(err, where, "kind", "is not a receipt kind");
    if (!json_is_integer(json_object_get(body, "amount"))) return bad(err, where, "amount", "must be an integer");
    const json_t *ref = json_object_get(body, "reference");
    if (ref != NULL && !json_is_string(ref)) return bad(err, where, "reference", "must be a string");
    int sale = is_sale_kind(kind);
    static const char *const sale_strs[] = {"lead_id", "lead_digest", "niche", "region", "mode", "sale_id"};
    for (size_t i = 0; i < 6; i++) {
        const json_t *m = json_object_get(body, sale_strs[i]);
        if (sale && !json_is_string(m)) return bad(err, where, sale_strs[i], "must be a string");
        if (!sale && m != NULL) return bad(err, where, sale_strs[i], "belongs to sales and refunds only");
    }
    const json_t *si = json_object_get(body, "share_index");
    if (sale && (!json_is_integer(si) || json_integer_value(si) < 0 || json_integer_value(si) > 19))
        return bad(err, where, "share_index", "must be an integer from 0 to 19");
    if (!sale && si != NULL) return bad(err, where, "share_index", "belongs to sales and refunds only");
    if (sale) {
        const char *mode = str_member(body, "mode");
        if (strcmp(mode, "exclusive") != 0 && strcmp(mode, "shared") != 0)
            return bad(err, where, "mode", "must be exclusive or shared");
        const char *digest = str_member(body, "lead_digest");
        uint8_t raw[32];
        if (lx_b64url_decode_exact(digest, strlen(digest), raw, 32) != 0)
            return bad(err, where, "lead_digest", "must be 32 bytes in unpadded base64url");
    }
    const json_t *rev = json_object_get(body, "reverses");
    if (strcmp(kind, "refund") == 0 && !json_is_string(rev)) return bad(err, where, "reverses", "must be a string");
    if (strcmp(kind, "refund") != 0 && rev != NULL) return bad(err, where, "reverses", "belongs to refunds only");
    return LX_OK;
}

lx_status_t lx_receipt_verify(const json_t *receipt, const char *where, const lx_keyring_t *ring,
                              lx_receipt_view_t *out, lx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->share_index = -1;
    lx_status_t st = exact_members(receipt, where, receipt_members, 3, 3, err);
    if (st != LX_OK) return st;
    const json_t *body = json_object_get(receipt, "body");
    char bw[256];
    snprintf(bw, sizeof(bw), "%s/body", where);
    if ((st = check_body(body, bw, err)) != LX_OK) return st;
    int64_t issued;
    if (!parse_time(str_member(body, "issued_at"), &issued)) return bad(err, bw, "issued_at", "must be an RFC 3339 time");
    const lx_pubkey_t *key;
    if ((st = find_key(ring, receipt, where, issued, &key, err)) != LX_OK) return st;
    const char *sig = str_member(receipt, "signature");
    if (sig == NULL) return bad(err, where, "signature", "must be a string");

    lx_strbuf_t canon;
    lx_strbuf_init(&canon, (size_t)1 << 20);
    st = lx_canon_json(body, &canon, err);
    int ok = st == LX_OK && !canon.overflow ? sig_ok(key, LX_RECEIPT_CONTEXT, canon.base, canon.len, sig) : 0;
    if (st == LX_OK && ok != 1) {
        lx_strbuf_free(&canon);
        return bad(err, where, "signature",
                   ok < 0 ? "must be 64 bytes in strict unpadded base64url" : "signature does not verify");
    }
    if (st != LX_OK) {
        lx_strbuf_free(&canon);
        return st;
    }
    lx_strbuf_t whole;
    lx_strbuf_init(&whole, (size_t)1 << 20);
    lx_receipt_render(canon.base, canon.len, key->key_id, sig, &whole);
    lx_sha256_b64(whole.base, whole.len, out->receipt_hash);
    lx_strbuf_free(&whole);
    lx_strbuf_free(&canon);

    out->json_owner = json_incref((json_t *)receipt);
    out->body = body;
    out->id = str_member(body, "id");
    out->kind = str_member(body, "kind");
    out->account = str_member(body, "account");
    out->currency = str_member(body, "currency");
    out->issued_at = str_member(body, "issued_at");
    out->amount = (int64_t)json_integer_value(json_object_get(body, "amount"));
    if (is_sale_kind(out->kind)) {
        out->lead_digest = str_member(body, "lead_digest");
        out->mode = str_member(body, "mode");
        out->share_index = (int)json_integer_value(json_object_get(body, "share_index"));
    }
    lx_strbuf_t e;
    lx_strbuf_init(&e, sizeof(out->entry_canon) - 1);
    lx_log_entry_canon(out->kind, out->receipt_hash, out->lead_digest, out->mode, out->share_index, &e);
    if (e.overflow) {
        lx_strbuf_free(&e);
        lx_receipt_view_clear(out);
        return bad(err, bw, "", "is too large for a log entry");
    }
    memcpy(out->entry_canon, e.base, e.len);
    out->entry_canon[e.len] = '\0';
    out->entry_len = e.len;
    lx_strbuf_free(&e);
    return LX_OK;
}

void lx_receipt_view_clear(lx_receipt_view_t *v)
{
    json_decref(v->json_owner);
    memset(v, 0, sizeof(*v));
    v->share_index = -1;
}

lx_status_t lx_tree_head_verify(const json_t *head, const char *where, const lx_keyring_t *ring, lx_tree_head_t *out,
                                lx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    static const char *const names[] = {"tree_size", "root_hash", "timestamp", "key_id", "signature"};
    lx_status_t st = exact_members(head, where, names, 5, 5, err);
    if (st != LX_OK) return st;
    const json_t *size = json_object_get(head, "tree_size");
    if (!json_is_integer(size) || json_integer_value(size) < 0 || json_integer_value(size) > LX_CANON_MAX_SAFE_INT)
        return bad(err, where, "tree_size", "must be an integer from 0 to 2^53 - 1");
    const char *root = str_member(head, "root_hash"), *ts = str_member(head, "timestamp");
    if (root == NULL || lx_b64url_decode_exact(root, strlen(root), out->root, 32) != 0)
        return bad(err, where, "root_hash", "must be 32 bytes in unpadded base64url");
    int64_t at;
    if (!parse_time(ts, &at) || strlen(ts) >= sizeof(out->timestamp))
        return bad(err, where, "timestamp", "must be an RFC 3339 time");
    const lx_pubkey_t *key;
    if ((st = find_key(ring, head, where, at, &key, err)) != LX_OK) return st;
    const char *sig = str_member(head, "signature");
    if (sig == NULL) return bad(err, where, "signature", "must be a string");
    lx_strbuf_t c;
    lx_strbuf_init(&c, 4096);
    lx_tree_head_canon((uint64_t)json_integer_value(size), root, ts, &c);
    int ok = sig_ok(key, LX_TREE_HEAD_CONTEXT, c.base, c.len, sig);
    lx_strbuf_free(&c);
    if (ok != 1)
        return bad(err, where, "signature", ok < 0 ? "must be 64 bytes in strict unpadded base64url" : "signature does not verify");
    out->tree_size = (uint64_t)json_integer_value(size);
    snprintf(out->timestamp, sizeof(out->timestamp), "%s", ts);
    memcpy(out->key_id, key->key_id, sizeof(out->key_id));
    return LX_OK;
}
