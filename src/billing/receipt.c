/*
 * Receipts, log entries and tree heads (see receipt.h for the formats).
 *
 * Issuing is the hot side: the intake signs every sale's receipts in its
 * batch, so the body is written canonically straight from the struct, its
 * members in RFC 8785 order (all names are ASCII, so byte order is UTF-16
 * order), with no json_t in between; tests/unit/test_receipt.c proves the
 * result equals util/canon.c's canonical form of the same value built as a
 * json_t, for many bodies.
 *
 * Verifying is the outside side: it trusts nothing but the keys. The body is
 * re-canonicalised from the parsed value (so any byte sequence that parses to
 * the same value verifies the same, and one that does not is refused by the
 * signature), members are checked per kind, and signatures must be in their
 * one strict base64url form, so a verified receipt has exactly one
 * receipt_hash. Ed25519 is nearly all of the cost (about 100 us per
 * signature with libsodium); the rest is a few small buffers.
 *
 * Every refusal is LX_ERR_VALIDATION with one field error: the JSON Pointer
 * (under the caller's `where`) of what failed and a message naming the
 * failure.
 */
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/canon.h"
#include "util/ed25519.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGN_STACK_MAX   4096 /* context || message up to this size is built on the stack */
#define KEYRING_MAX_KEYS 1024 /* a rotation is a rare event; a cap keeps the duplicate check bounded */
#define BODY_CANON_MAX   ((size_t)1 << 20)

/* ---- errors ---- */

/* Records `msg` at where + "/" + member (RFC 6901-escaped), or at `where` itself when member is "". */
static lx_status_t bad(lx_error_t *err, const char *where, const char *member, const char *msg)
{
    char ptr[LX_JSON_POINTER_MAX];
    if (member[0] != '\0')
        lx_json_pointer(ptr, where, member);
    else
        lx_str_copy(ptr, sizeof(ptr), where);
    lx_error_field(err, ptr, "%s", msg);
    return lx_error_set(err, LX_ERR_VALIDATION, "%s: %s", ptr[0] ? ptr : "(document)", msg);
}

/* Every member of `obj` is one of names[0..n); names[0..required) are present. */
static lx_status_t exact_members(const json_t *obj, const char *where, const char *const names[], size_t n, size_t required,
                                 lx_error_t *err)
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
    for (size_t i = 0; i < required && i < n; i++)
        if (json_object_get(obj, names[i]) == NULL) return bad(err, where, names[i], "is required");
    return LX_OK;
}

/* A string member without NUL characters (a json_t built by hand may hold them; what is rendered or compared
 * as a C string must be the whole value), or NULL. */
static const char *str_member(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_string(v)) return NULL;
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL;
}

static int parse_time(const char *s, int64_t *us)
{
    return s != NULL && lx_ts_parse_rfc3339(s, strlen(s), us) == 0;
}

/* ---- keys ---- */

void lx_receipt_key_id(const uint8_t pk[32], char out[LX_KEY_ID_LEN + 1])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof(h), pk, 32, NULL, 0);
    sodium_bin2hex(out, LX_KEY_ID_LEN + 1, h, LX_KEY_ID_LEN / 2);
}

static lx_status_t parse_key(const json_t *k, const char *where, lx_pubkey_t *pk, lx_error_t *err)
{
    static const char *const names[] = {"key_id", "public_key", "not_before", "not_after"};
    lx_status_t st = exact_members(k, where, names, 4, 4, err); /* not_after is required, null while it signs */
    if (st != LX_OK) return st;
    const char *kid = str_member(k, "key_id"), *pub = str_member(k, "public_key");
    if (pub == NULL || lx_b64url_decode_exact(pub, strlen(pub), pk->pk, 32) != 0)
        return bad(err, where, "public_key", "must be 32 bytes in unpadded base64url");
    lx_receipt_key_id(pk->pk, pk->key_id);
    if (kid == NULL || strcmp(kid, pk->key_id) != 0) return bad(err, where, "key_id", "does not match the public key");
    if (!parse_time(str_member(k, "not_before"), &pk->not_before_us))
        return bad(err, where, "not_before", "must be an RFC 3339 time");
    const json_t *na = json_object_get(k, "not_after");
    if (json_is_null(na)) {
        pk->not_after_us = INT64_MAX;
    } else if (!parse_time(str_member(k, "not_after"), &pk->not_after_us) || pk->not_after_us < pk->not_before_us) {
        return bad(err, where, "not_after", "must be null or an RFC 3339 time not before not_before");
    }
    pk->prepared = NULL;
    return LX_OK;
}

lx_status_t lx_keyring_parse(const char *json, size_t len, lx_keyring_t *ring, lx_error_t *err)
{
    ring->keys = NULL;
    ring->n = 0;
    json_error_t je;
    /* Jansson refuses invalid UTF-8 and \u0000 by itself; duplicate members are refused here. */
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        lx_error_field(err, "", "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return lx_error_set(err, LX_ERR_MALFORMED_JSON, "keys: not JSON (%s)", je.text);
    }
    static const char *const top[] = {"keys"};
    lx_status_t st = exact_members(doc, "", top, 1, 1, err);
    const json_t *keys = json_object_get(doc, "keys");
    if (st == LX_OK && !json_is_array(keys)) st = bad(err, "", "keys", "must be an array");
    if (st == LX_OK && json_array_size(keys) > KEYRING_MAX_KEYS) st = bad(err, "", "keys", "lists too many keys");
    if (st == LX_OK) ring->keys = lx_calloc(json_array_size(keys) + 1, sizeof(*ring->keys));
    for (size_t i = 0; st == LX_OK && i < json_array_size(keys); i++) {
        char where[32];
        snprintf(where, sizeof(where), "/keys/%zu", i);
        lx_pubkey_t *pk = &ring->keys[ring->n];
        if ((st = parse_key(json_array_get(keys, i), where, pk, err)) != LX_OK) break;
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
    for (size_t i = 0; i < ring->n; i++) /* key ids are public: no constant time needed */
        if (memcmp(ring->keys[i].key_id, key_id, LX_KEY_ID_LEN) == 0) return &ring->keys[i];
    return NULL;
}

/* ---- issuing ---- */

static int is_sale_kind(const char *kind)
{
    return strcmp(kind, "sale") == 0 || strcmp(kind, "refund") == 0;
}

/* Member names are ASCII without escapes: written as they are. */
static void put_key(lx_strbuf_t *out, const char *name, int *first)
{
    lx_strbuf_append(out, *first ? "{\"" : ",\"", 2);
    lx_strbuf_puts(out, name);
    lx_strbuf_append(out, "\":", 2);
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
    int sale = is_sale_kind(b->kind), refund = strcmp(b->kind, "refund") == 0, first = 1;
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
    if (sale) put_str(out, "region", b->region, &first);
    if (refund) put_str(out, "reverses", b->reverses, &first);
    if (sale) {
        put_str(out, "sale_id", b->sale_id, &first);
        if (b->share_index >= 0) {
            put_key(out, "share_index", &first);
            lx_strbuf_printf(out, "%d", b->share_index);
        }
    }
    put_key(out, "v", &first);
    lx_strbuf_printf(out, "%d}", LX_RECEIPT_VERSION);
}

/* context || msg, on the stack when small: *buf is `stack` or a malloc'd block the caller frees. */
static size_t join(const char *context, const char *msg, size_t len, uint8_t stack[SIGN_STACK_MAX], uint8_t **buf)
{
    size_t clen = strlen(context), total = clen + len;
    *buf = total <= SIGN_STACK_MAX ? stack : lx_malloc(total);
    memcpy(*buf, context, clen);
    if (len > 0) memcpy(*buf + clen, msg, len);
    return total;
}

void lx_sign_b64(const uint8_t sk[64], const char *context, const char *msg, size_t len, char sig[LX_SIG_B64_LEN + 1])
{
    uint8_t stack[SIGN_STACK_MAX], *buf;
    size_t total = join(context, msg, len, stack, &buf);
    uint8_t raw[crypto_sign_BYTES];
    crypto_sign_detached(raw, NULL, buf, total, sk);
    if (buf != stack) free(buf);
    lx_b64url_encode(raw, sizeof(raw), sig);
}

void lx_receipt_render(const char *body_canon, size_t len, const char *key_id, const char *sig, lx_strbuf_t *out)
{
    /* key_id (hex) and sig (base64url) need no escaping; "body" < "key_id" < "signature" */
    lx_strbuf_append(out, "{\"body\":", 8);
    lx_strbuf_append(out, body_canon, len);
    lx_strbuf_printf(out, ",\"key_id\":\"%s\",\"signature\":\"%s\"}", key_id, sig);
}

void lx_sha256_b64(const char *data, size_t len, char out[LX_HASH_B64_LEN + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const uint8_t *)data, len);
    lx_b64url_encode(h, sizeof(h), out);
}

void lx_receipt_hash(const char *body_canon, size_t len, const char *key_id, const char *sig, lx_strbuf_t *scratch,
                     char out[LX_HASH_B64_LEN + 1])
{
    lx_strbuf_reset(scratch);
    lx_receipt_render(body_canon, len, key_id, sig, scratch);
    lx_sha256_b64(scratch->base, scratch->len, out);
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
    sodium_memzero(&st, sizeof(st)); /* it held the keyed state */
    lx_b64url_encode(h, sizeof(h), out);
}

static void put_str_or_null(lx_strbuf_t *out, const char *s)
{
    if (s != NULL)
        lx_canon_string(out, s, strlen(s));
    else
        lx_strbuf_append(out, "null", 4);
}

void lx_log_entry_canon(const char *kind, const char *receipt_hash, const char *lead_digest, const char *mode, int share_index,
                        lx_strbuf_t *out)
{
    lx_strbuf_puts(out, "{\"kind\":");
    lx_canon_string(out, kind, strlen(kind));
    lx_strbuf_puts(out, ",\"lead_digest\":");
    put_str_or_null(out, lead_digest);
    lx_strbuf_puts(out, ",\"mode\":");
    put_str_or_null(out, mode);
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

/* 1 valid, 0 does not verify, -1 not 64 bytes in strict base64url. */
static int sig_ok(const lx_pubkey_t *key, const char *context, const char *msg, size_t len, const char *sig_b64)
{
    uint8_t sig[crypto_sign_BYTES];
    if (lx_b64url_decode_exact(sig_b64, strlen(sig_b64), sig, sizeof(sig)) != 0) return -1;
    uint8_t stack[SIGN_STACK_MAX], *buf;
    size_t total = join(context, msg, len, stack, &buf);
    int ok = (key->prepared != NULL ? lx_ed25519_verify(key->prepared, sig, buf, total)
                                    : crypto_sign_verify_detached(sig, buf, total, key->pk)) == 0;
    if (buf != stack) free(buf);
    return ok;
}

static lx_status_t bad_sig(lx_error_t *err, const char *where, int ok)
{
    return bad(err, where, "signature", ok < 0 ? "must be 64 bytes in strict unpadded base64url" : "signature does not verify");
}

static int is_hex16(const char *s)
{
    if (s == NULL || strlen(s) != LX_KEY_ID_LEN) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

/* The key named by obj's key_id, valid at `at_us`. */
static lx_status_t find_key(const lx_keyring_t *ring, const json_t *obj, const char *where, int64_t at_us, const lx_pubkey_t **out,
                            lx_error_t *err)
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
/* The first 8 are required for every kind. */
static const char *const body_members[] = {"v",      "id",       "kind",        "issued_at", "account",     "ledger_txn",
                                           "amount", "currency", "reference",   "lead_id",   "lead_digest", "niche",
                                           "region", "mode",     "share_index", "sale_id",   "reverses"};
static const char *const kinds[] = {"deposit", "sale", "refund", "settlement", "payout", "withdrawal"};

static lx_status_t check_body(const json_t *body, const char *where, lx_error_t *err)
{
    lx_status_t st = exact_members(body, where, body_members, sizeof(body_members) / sizeof(*body_members), 8, err);
    if (st != LX_OK) return st;
    const json_t *v = json_object_get(body, "v");
    if (!json_is_integer(v) || json_integer_value(v) != LX_RECEIPT_VERSION) return bad(err, where, "v", "must be 1");
    static const char *const strs[] = {"id", "kind", "issued_at", "account", "ledger_txn", "currency"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
        if (str_member(body, strs[i]) == NULL) return bad(err, where, strs[i], "must be a string");
    const char *kind = str_member(body, "kind");
    size_t k = 0;
    while (k < 6 && strcmp(kinds[k], kind) != 0) k++;
    if (k == 6) return bad(err, where, "kind", "is not a receipt kind");
    const json_t *amount = json_object_get(body, "amount");
    if (!json_is_integer(amount) || json_integer_value(amount) > LX_CANON_MAX_SAFE_INT ||
        json_integer_value(amount) < -LX_CANON_MAX_SAFE_INT)
        return bad(err, where, "amount", "must be an integer of magnitude below 2^53");
    const json_t *ref = json_object_get(body, "reference");
    if (ref != NULL && !json_is_string(ref)) return bad(err, where, "reference", "must be a string");
    int sale = is_sale_kind(kind), refund = strcmp(kind, "refund") == 0;
    static const char *const sale_strs[] = {"lead_id", "lead_digest", "niche", "region", "mode", "sale_id"};
    for (size_t i = 0; i < sizeof(sale_strs) / sizeof(*sale_strs); i++) {
        const json_t *m = json_object_get(body, sale_strs[i]);
        if (sale && m == NULL) return bad(err, where, sale_strs[i], "is required");
        if (sale && str_member(body, sale_strs[i]) == NULL) return bad(err, where, sale_strs[i], "must be a string");
        if (!sale && m != NULL) return bad(err, where, sale_strs[i], "belongs to sales and refunds only");
    }
    const json_t *si = json_object_get(body, "share_index");
    if (sale && si == NULL) return bad(err, where, "share_index", "is required");
    if (sale && (!json_is_integer(si) || json_integer_value(si) < 0 || json_integer_value(si) > 19))
        return bad(err, where, "share_index", "must be an integer from 0 to 19");
    if (!sale && si != NULL) return bad(err, where, "share_index", "belongs to sales and refunds only");
    if (sale) {
        const char *mode = str_member(body, "mode");
        if (strcmp(mode, "exclusive") != 0 && strcmp(mode, "shared") != 0)
            return bad(err, where, "mode", "must be exclusive or shared");
        const char *digest = str_member(body, "lead_digest");
        uint8_t raw[32];
        if (lx_b64url_decode_exact(digest, strlen(digest), raw, sizeof(raw)) != 0)
            return bad(err, where, "lead_digest", "must be 32 bytes in unpadded base64url");
    }
    const json_t *rev = json_object_get(body, "reverses");
    if (refund && rev == NULL) return bad(err, where, "reverses", "is required");
    if (refund && !json_is_string(rev)) return bad(err, where, "reverses", "must be a string");
    if (!refund && rev != NULL) return bad(err, where, "reverses", "belongs to refunds only");
    return LX_OK;
}

/* lx_canon_json names what it refused relative to the body: the field error is re-added under `body_ptr`. */
static lx_status_t canon_refused(lx_error_t *err, size_t nfields_before, const char *body_ptr)
{
    if (err->nfields <= nfields_before) return bad(err, body_ptr, "", "is not in the signed value space");
    lx_field_error_t f = err->fields[nfields_before];
    char joined[LX_JSON_POINTER_MAX + LX_ERROR_FIELD_LEN];
    snprintf(joined, sizeof(joined), "%s%s", body_ptr, f.field);
    err->nfields = nfields_before;
    lx_error_field(err, joined, "%s", f.message);
    return lx_error_set(err, LX_ERR_VALIDATION, "%s: %s", err->fields[nfields_before].field, f.message);
}

lx_status_t lx_receipt_verify(const json_t *receipt, const char *where, const lx_keyring_t *ring, lx_receipt_view_t *out,
                              lx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->share_index = -1;
    lx_status_t st = exact_members(receipt, where, receipt_members, 3, 3, err);
    if (st != LX_OK) return st;
    const json_t *body = json_object_get(receipt, "body");
    char bw[LX_JSON_POINTER_MAX];
    lx_json_pointer(bw, where, "body");
    if ((st = check_body(body, bw, err)) != LX_OK) return st;
    int64_t issued;
    if (!parse_time(str_member(body, "issued_at"), &issued)) return bad(err, bw, "issued_at", "must be an RFC 3339 time");
    const lx_pubkey_t *key;
    if ((st = find_key(ring, receipt, where, issued, &key, err)) != LX_OK) return st;
    const char *sig = str_member(receipt, "signature");
    if (sig == NULL) return bad(err, where, "signature", "must be a string");

    /* What was signed: JCS of the body as parsed (not the bytes it came in). */
    lx_strbuf_t canon;
    lx_strbuf_init(&canon, BODY_CANON_MAX);
    size_t nf = err->nfields;
    if (lx_canon_json(body, &canon, err) != LX_OK) {
        lx_strbuf_free(&canon);
        return canon_refused(err, nf, bw);
    }
    if (canon.overflow) {
        lx_strbuf_free(&canon);
        return bad(err, bw, "", "is too large");
    }
    int ok = sig_ok(key, LX_RECEIPT_CONTEXT, canon.base, canon.len, sig);
    if (ok != 1) {
        lx_strbuf_free(&canon);
        return bad_sig(err, where, ok);
    }
    /* receipt_hash: SHA-256 of JCS of the whole receipt, which is the rendering of the canonical body with the
     * verified key_id and the (strictly decoded, hence canonical) signature. */
    lx_strbuf_t whole;
    lx_strbuf_init(&whole, BODY_CANON_MAX + 256);
    lx_receipt_hash(canon.base, canon.len, key->key_id, sig, &whole, out->receipt_hash);
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
    /* kind <= 10, lead_digest 43, mode <= 9, hash 43 characters: always fits (checked anyway) */
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
    /* root (base64url) and ts (RFC 3339) are ASCII without escapes; the buffer never overflows */
    lx_strbuf_t c;
    lx_strbuf_init(&c, 4096);
    lx_tree_head_canon((uint64_t)json_integer_value(size), root, ts, &c);
    int ok = c.overflow ? 0 : sig_ok(key, LX_TREE_HEAD_CONTEXT, c.base, c.len, sig);
    lx_strbuf_free(&c);
    if (ok != 1) return bad_sig(err, where, ok);
    out->tree_size = (uint64_t)json_integer_value(size);
    lx_str_copy(out->timestamp, sizeof(out->timestamp), ts);
    memcpy(out->key_id, key->key_id, sizeof(out->key_id));
    return LX_OK;
}
