/*
 * Receipts, entries and tree heads (billing/receipt.h).
 *
 *   - known answers computed independently, once, with Python (hashlib for
 *     BLAKE2b and SHA-256, the `cryptography` package for Ed25519, a separate
 *     RFC 8785 serializer): key ids, the lead digest, whole receipts (body
 *     bytes, signature, receipt_hash, log entry), a tree head signature, and
 *     RFC 8032 §7.1 TEST 2 through lx_sign_b64;
 *   - the fast body writer against util/canon.c on thousands of random bodies
 *     built independently as json_t (strings needing every escape, non-ASCII,
 *     U+2028, characters above U+FFFF), and each valid one signed and verified;
 *   - every single-bit change of rendered receipts and of a tree head refused;
 *   - signatures in any encoding but the one strict form refused (unused bits,
 *     padding, the standard alphabet, non-ASCII bytes: libsodium 1.0.18 alone
 *     would take "\xc3\xa9" for "__");
 *   - keys: unknown, malformed, outside their validity (both ends, to the
 *     microsecond), a valid key that did not sign;
 *   - members: exactly the receipt's three, the body's per kind, each refusal
 *     naming its JSON Pointer;
 *   - the keyring parser's happy path and each refusal.
 * Ends with an informational printout of sign and verify rates (no timing is
 * asserted).
 */
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/canon.h"
#include "util/ed25519.h"
#include "util/json.h"
#include "util/time.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

/* ---- independent known answers (see the top of this file) ---- */

#define KAT_PK    "GX9rI-FshTLGq8g4-s1ep4m-DHaykgM0A5v6iz02jWE" /* seed 42 * 32 */
#define KAT_KID   "e82a805d5992821d"
#define KAT_PK_B  "RQigeqlBcH8-stuUyIl6gLLBGXR2tt4hOsJz332GxP8" /* seed 43 * 32 */
#define KAT_KID_B "786eabece85e4d74"
#define KAT_SALE_BODY                                                                                                              \
    "{\"account\":\"019a0000-0000-7000-8000-0000000000aa\",\"amount\":-1500,\"currency\":\"USD\",\"id\":\"019a0000-0000-"          \
    "7000-8000-000000000001\",\"issued_at\":\"2026-11-23T10:00:00.000000Z\",\"kind\":\"sale\",\"lead_digest\":"                    \
    "\"2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXs\",\"lead_id\":\"019a0000-0000-7000-8000-0000000000cc\",\"ledger_"               \
    "txn\":\"019a0000-0000-7000-8000-0000000000bb\",\"mode\":\"shared\",\"niche\":\"loans\",\"region\":\"US-CA\","                 \
    "\"sale_id\":\"019a0000-0000-7000-8000-0000000000dd\",\"share_index\":1,\"v\":1}"
#define KAT_SALE_SIG  "9F-1cVcp7Rq9HaSTYHeU24EDJHoUVqb12p2Zmh-wY3UP5Rtj4B2NAckRT2rOElEu0aQXvJ6LoELEPVkMZmhCAw"
#define KAT_SALE_HASH "NetvA5YiJar8PA6VD_qi8pGs2Hm2N-22gj8t9YH2iEk"
#define KAT_SALE_ENTRY                                                                                                             \
    "{\"kind\":\"sale\",\"lead_digest\":\"2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXs\",\"mode\":\"shared\",\"receipt_"            \
    "hash\":\"NetvA5YiJar8PA6VD_qi8pGs2Hm2N-22gj8t9YH2iEk\",\"share_index\":1}"
#define KAT_DEPOSIT_BODY                                                                                                           \
    "{\"account\":\"019a0000-0000-7000-8000-0000000000aa\",\"amount\":9007199254740991,\"currency\":\"EUR\",\"id\":"               \
    "\"019a0000-0000-7000-8000-000000000002\",\"issued_at\":\"2026-11-23T10:00:00.000000Z\",\"kind\":\"deposit\","                 \
    "\"ledger_txn\":\"019a0000-0000-7000-8000-0000000000bc\",\"reference\":\"wire \\\"7\\\" /\\\\ \\u0001\x7f caf\xc3"             \
    "\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80\",\"v\":1}"
#define KAT_DEPOSIT_SIG  "a9XgeJPcXuTSkW9Ow1BDq_me6vhdt-dAB13cVFQ1EkNkMrMbeQSXO3baWXPDQADUdHYAz44wtu20u6rdoCubAA"
#define KAT_DEPOSIT_HASH "FxDarykhDzN7exVC3Ynhjm6RUOP5C_e5C_u3TmbWfmk"
#define KAT_DEPOSIT_ENTRY                                                                                                          \
    "{\"kind\":\"deposit\",\"lead_digest\":null,\"mode\":null,\"receipt_hash\":\"FxDarykhDzN7exVC3Ynhjm6RUOP5C_e5C_"               \
    "u3TmbWfmk\",\"share_index\":null}"
#define KAT_HEAD_SIG "SOIRiUdp-Xnk28abNWGtWFEz8Qb6K5yAlsaSYv-KO4hCH3U9eqbXIFAwt2kAMzkRwrXGJfkQIr2PGc0PSHXbDA"
#define KAT_HEAD_TS  "2026-11-23T10:00:01.000000Z"

static uint8_t pk_a[32], sk_a[64], pk_b[32], sk_b[64];
static lx_keyring_t ring; /* a: from 2026-01-01, still signing; b: 2025-01-01 .. 2026-01-01 (retired) */

static const lx_receipt_body_t sale = {.id = "019a0000-0000-7000-8000-000000000001",
                                       .kind = "sale",
                                       .issued_at = "2026-11-23T10:00:00.000000Z",
                                       .account = "019a0000-0000-7000-8000-0000000000aa",
                                       .ledger_txn = "019a0000-0000-7000-8000-0000000000bb",
                                       .amount = -1500,
                                       .currency = "USD",
                                       .lead_id = "019a0000-0000-7000-8000-0000000000cc",
                                       .lead_digest = "2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXs",
                                       .niche = "loans",
                                       .region = "US-CA",
                                       .mode = "shared",
                                       .share_index = 1,
                                       .sale_id = "019a0000-0000-7000-8000-0000000000dd"};

static const lx_receipt_body_t deposit = {.id = "019a0000-0000-7000-8000-000000000002",
                                          .kind = "deposit",
                                          .issued_at = "2026-11-23T10:00:00.000000Z",
                                          .account = "019a0000-0000-7000-8000-0000000000aa",
                                          .ledger_txn = "019a0000-0000-7000-8000-0000000000bc",
                                          .amount = 9007199254740991LL,
                                          .currency = "EUR",
                                          .reference = "wire \"7\" /\\ \x01\x7f caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80",
                                          .share_index = -1};

static void setup(void)
{
    uint8_t seed[32];
    memset(seed, 42, sizeof(seed));
    crypto_sign_seed_keypair(pk_a, sk_a, seed);
    memset(seed, 43, sizeof(seed));
    crypto_sign_seed_keypair(pk_b, sk_b, seed);
    sodium_memzero(seed, sizeof(seed));
    const char *json = "{\"keys\":[{\"key_id\":\"" KAT_KID "\",\"public_key\":\"" KAT_PK "\","
                       "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":null},"
                       "{\"key_id\":\"" KAT_KID_B "\",\"public_key\":\"" KAT_PK_B "\","
                       "\"not_before\":\"2025-01-01T00:00:00Z\",\"not_after\":\"2026-01-01T00:00:00Z\"}]}";
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_keyring_parse(json, strlen(json), &ring, &err), LX_OK);
    CHECK_EQ_INT(ring.n, 2);
}

/* Body -> canonical body -> signed, rendered receipt. */
static void sign_body_with(const lx_receipt_body_t *b, const uint8_t *sk, const char *kid, lx_strbuf_t *receipt)
{
    lx_strbuf_t body;
    lx_strbuf_init(&body, 1 << 20);
    lx_receipt_body_canon(b, &body);
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(sk, LX_RECEIPT_CONTEXT, body.base, body.len, sig);
    lx_receipt_render(body.base, body.len, kid, sig, receipt);
    lx_strbuf_free(&body);
}

static void sign_body(const lx_receipt_body_t *b, lx_strbuf_t *receipt)
{
    sign_body_with(b, sk_a, KAT_KID, receipt);
}

static json_t *parse(const char *s, size_t len)
{
    lx_error_t err;
    lx_error_init(&err);
    return lx_json_parse(s, len, 16, &err);
}

/* Parses as a server's caller does (lx_json_parse: duplicates, UTF-8, depth) and verifies under "/receipt". */
static lx_status_t verify_bytes(const char *s, size_t len, lx_receipt_view_t *v, lx_error_t *err)
{
    lx_error_init(err);
    memset(v, 0, sizeof(*v));
    json_t *doc = parse(s, len);
    if (doc == NULL) return LX_ERR_MALFORMED_JSON;
    lx_status_t st = lx_receipt_verify(doc, "/receipt", &ring, v, err);
    if (st == LX_OK) CHECK(v->json_owner == doc);
    json_decref(doc); /* the view holds its own reference */
    return st;
}

static int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* `doc` must be refused with exactly one field error at `field` whose message contains `msg`. */
static void refused(const json_t *doc, const char *field, const char *msg)
{
    lx_receipt_view_t v;
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "/receipt", &ring, &v, &err), LX_ERR_VALIDATION);
    CHECK_EQ_INT(err.status, LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) {
        CHECK_EQ_STR(err.fields[0].field, field);
        if (!CHECK(contains(err.fields[0].message, msg)))
            fprintf(stderr, "  message: %s (wanted %s)\n", err.fields[0].message, msg);
    }
    CHECK(v.json_owner == NULL && v.kind == NULL && v.share_index == -1);
    lx_receipt_view_clear(&v);
}

/* ---- known answers ---- */

static void test_known_answers(void)
{
    uint8_t seq[32], key[32];
    for (int i = 0; i < 32; i++) seq[i] = (uint8_t)i;
    char id[LX_KEY_ID_LEN + 1];
    lx_receipt_key_id(seq, id);
    CHECK_EQ_STR(id, "cb2f5160fc1f7e05"); /* hashlib.blake2b(bytes(range(32)), digest_size=32).hexdigest()[:16] */
    lx_receipt_key_id(pk_a, id);
    CHECK_EQ_STR(id, KAT_KID);
    lx_receipt_key_id(pk_b, id);
    CHECK_EQ_STR(id, KAT_KID_B);
    char pkb[LX_PK_B64_LEN + 1];
    lx_b64url_encode(pk_a, 32, pkb);
    CHECK_EQ_STR(pkb, KAT_PK);
    memset(key, 7, sizeof(key));
    char d[LX_HASH_B64_LEN + 1];
    /* hashlib.blake2b(b"leadx-lead-digest-v1\n" + lead_id, key=bytes([7]*32), digest_size=32), unpadded base64url */
    lx_lead_digest(key, "01234567-89ab-7def-8123-456789abcdef", d);
    CHECK_EQ_STR(d, "2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXs");
    /* hashlib.sha256(b"abc") */
    lx_sha256_b64("abc", 3, d);
    CHECK_EQ_STR(d, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");

    /* whole receipts */
    static const struct {
        const lx_receipt_body_t *body;
        const char *canon, *sig, *hash, *entry;
    } kat[] = {
        {&sale, KAT_SALE_BODY, KAT_SALE_SIG, KAT_SALE_HASH, KAT_SALE_ENTRY},
        {&deposit, KAT_DEPOSIT_BODY, KAT_DEPOSIT_SIG, KAT_DEPOSIT_HASH, KAT_DEPOSIT_ENTRY},
    };
    for (size_t i = 0; i < sizeof(kat) / sizeof(*kat); i++) {
        CHECK_CTX("receipt %s", kat[i].body->kind);
        lx_strbuf_t body, rec;
        lx_strbuf_init(&body, 1 << 16);
        lx_strbuf_init(&rec, 1 << 16);
        lx_receipt_body_canon(kat[i].body, &body);
        lx_strbuf_append(&body, "", 1);
        CHECK_EQ_STR(body.base, kat[i].canon);
        char sig[LX_SIG_B64_LEN + 1];
        lx_sign_b64(sk_a, LX_RECEIPT_CONTEXT, body.base, body.len - 1, sig);
        CHECK_EQ_STR(sig, kat[i].sig);
        lx_receipt_render(body.base, body.len - 1, KAT_KID, sig, &rec);
        char h[LX_HASH_B64_LEN + 1];
        lx_sha256_b64(rec.base, rec.len, h);
        CHECK_EQ_STR(h, kat[i].hash);
        lx_receipt_view_t v;
        lx_error_t err;
        if (CHECK_EQ_INT(verify_bytes(rec.base, rec.len, &v, &err), LX_OK)) {
            CHECK_EQ_STR(v.receipt_hash, kat[i].hash);
            CHECK_EQ_STR(v.entry_canon, kat[i].entry);
            CHECK_EQ_INT(v.entry_len, strlen(kat[i].entry));
        }
        lx_receipt_view_clear(&v);
        lx_strbuf_free(&body);
        lx_strbuf_free(&rec);
    }
    CHECK_CTX("%s", "");

    /* tree head */
    uint8_t root[32];
    memset(root, 9, sizeof(root));
    char rb[LX_HASH_B64_LEN + 1], sig[LX_SIG_B64_LEN + 1];
    lx_b64url_encode(root, 32, rb);
    lx_strbuf_t c;
    lx_strbuf_init(&c, 4096);
    lx_tree_head_canon(12345, rb, KAT_HEAD_TS, &c);
    lx_sign_b64(sk_a, LX_TREE_HEAD_CONTEXT, c.base, c.len, sig);
    CHECK_EQ_STR(sig, KAT_HEAD_SIG);
    lx_strbuf_free(&c);

    /* RFC 8032 §7.1 TEST 2 through an empty context: the message 0x72 */
    static const char *const t2_sk = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    static const char *const t2_sig = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
                                      "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
    uint8_t seed[32], pk[32], sk[64], raw[64], want[64];
    CHECK(sodium_hex2bin(seed, 32, t2_sk, 64, NULL, NULL, NULL) == 0);
    CHECK(sodium_hex2bin(want, 64, t2_sig, 128, NULL, NULL, NULL) == 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    lx_sign_b64(sk, "", "\x72", 1, sig);
    CHECK_EQ_STR(sig, "kqAJqfDUyrhyDoILX2QlQKKye1QWUD-Ps3YiI-vbadoIWsHkPhWZbkWPNhPQ8R2MOHsurrQwKu6wDSkWErsMAA");
    CHECK(lx_b64url_decode_exact(sig, strlen(sig), raw, 64) == 0 && memcmp(raw, want, 64) == 0);
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(seed, sizeof(seed));
}

/* ---- the fast writer against util/canon.c ---- */

static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Random valid UTF-8 from pieces that exercise every escape and every UTF-8 length; `buf` holds 64+ bytes. */
static const char *random_text(char *buf, size_t cap)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         " ",
                                         "-",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\x7f",
                                         "\x01",
                                         "\x1f",
                                         "\b",
                                         "\t",
                                         "\n",
                                         "\f",
                                         "\r",
                                         "~",
                                         "<",
                                         "&",
                                         "'",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xe2\x80\xa8",
                                         "\xe2\x80\xa9",
                                         "\xf0\x9f\x98\x80",
                                         "\xef\xbf\xbf",
                                         "\xee\x80\x80",
                                         "\xf4\x8f\xbf\xbf",
                                         "\xc2\x80",
                                         "\\u0041"};
    size_t n = rnd() % 9, len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(*pieces))];
        size_t l = strlen(p);
        if (len + l + 1 > cap) break;
        memcpy(buf + len, p, l);
        len += l;
    }
    buf[len] = '\0';
    return buf;
}

/* The body as a json_t, straight from the member rules of receipt.h (not from the writer). */
static json_t *body_json(const lx_receipt_body_t *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(LX_RECEIPT_VERSION));
    json_object_set_new(o, "id", json_string(b->id));
    json_object_set_new(o, "kind", json_string(b->kind));
    json_object_set_new(o, "issued_at", json_string(b->issued_at));
    json_object_set_new(o, "account", json_string(b->account));
    json_object_set_new(o, "ledger_txn", json_string(b->ledger_txn));
    json_object_set_new(o, "amount", json_integer(b->amount));
    json_object_set_new(o, "currency", json_string(b->currency));
    if (b->reference != NULL) json_object_set_new(o, "reference", json_string(b->reference));
    if (strcmp(b->kind, "sale") == 0 || strcmp(b->kind, "refund") == 0) {
        json_object_set_new(o, "lead_id", json_string(b->lead_id));
        json_object_set_new(o, "lead_digest", json_string(b->lead_digest));
        json_object_set_new(o, "niche", json_string(b->niche));
        json_object_set_new(o, "region", json_string(b->region));
        json_object_set_new(o, "mode", json_string(b->mode));
        if (b->share_index >= 0) json_object_set_new(o, "share_index", json_integer(b->share_index));
        json_object_set_new(o, "sale_id", json_string(b->sale_id));
        if (strcmp(b->kind, "refund") == 0 && b->reverses != NULL) json_object_set_new(o, "reverses", json_string(b->reverses));
    }
    return o;
}

static void test_fast_writer_is_canonical(void)
{
    static const char *const kinds[] = {"deposit", "sale", "refund", "settlement", "payout", "withdrawal"};
    unsigned compared = 0, verified = 0, escapes = 0, supplementary = 0;
    for (int round = 0; round < 3000; round++) {
        CHECK_CTX("body %d", round);
        char t[14][96];
        int valid = round % 3 != 0; /* one in three: random strings everywhere, only compared */
        lx_receipt_body_t b = {0};
        b.kind = kinds[rnd() % 6];
        b.id = random_text(t[0], sizeof(t[0]));
        b.account = random_text(t[1], sizeof(t[1]));
        b.ledger_txn = random_text(t[2], sizeof(t[2]));
        b.currency = random_text(t[3], sizeof(t[3]));
        b.reference = rnd() % 2 ? random_text(t[4], sizeof(t[4])) : NULL;
        b.issued_at = valid ? "2026-03-04T05:06:07.000008Z" : random_text(t[5], sizeof(t[5]));
        int64_t mag = (int64_t)(((uint64_t)rnd() << 32 | rnd()) % (uint64_t)LX_CANON_MAX_SAFE_INT);
        b.amount = rnd() % 4 == 0 ? (rnd() % 2 ? LX_CANON_MAX_SAFE_INT : -LX_CANON_MAX_SAFE_INT) : (rnd() % 2 ? mag : -mag);
        b.lead_id = random_text(t[6], sizeof(t[6]));
        b.lead_digest = valid ? "2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXs" : random_text(t[7], sizeof(t[7]));
        b.niche = random_text(t[8], sizeof(t[8]));
        b.region = random_text(t[9], sizeof(t[9]));
        b.mode = valid ? (rnd() % 2 ? "exclusive" : "shared") : random_text(t[10], sizeof(t[10]));
        b.share_index = (int)(rnd() % 20);
        b.sale_id = random_text(t[11], sizeof(t[11]));
        /* refunds name what they reverse; on another kind the member is not written */
        b.reverses = strcmp(b.kind, "refund") == 0 || rnd() % 2 ? random_text(t[12], sizeof(t[12])) : NULL;
        if (strcmp(b.kind, "sale") != 0 && strcmp(b.kind, "refund") != 0 && rnd() % 2) {
            b.lead_id = b.lead_digest = b.niche = b.region = b.mode = b.sale_id = NULL;
            b.share_index = -1;
        }
        lx_strbuf_t fast, slow;
        lx_strbuf_init(&fast, 1 << 16);
        lx_strbuf_init(&slow, 1 << 16);
        lx_receipt_body_canon(&b, &fast);
        json_t *v = body_json(&b);
        lx_error_t err;
        lx_error_init(&err);
        CHECK_EQ_INT(lx_canon_json(v, &slow, &err), LX_OK);
        if (!CHECK(fast.len == slow.len && memcmp(fast.base, slow.base, fast.len) == 0))
            fprintf(stderr, "  fast: %.*s\n  slow: %.*s\n", (int)fast.len, fast.base, (int)slow.len, slow.base);
        compared++;
        escapes += memchr(fast.base, '\\', fast.len) != NULL;
        supplementary += memchr(fast.base, '\xf0', fast.len) != NULL || memchr(fast.base, '\xf4', fast.len) != NULL;
        if (valid) { /* and it verifies, with the hash of its rendering */
            lx_strbuf_t r;
            lx_strbuf_init(&r, 1 << 16);
            sign_body(&b, &r);
            lx_receipt_view_t view;
            if (CHECK_EQ_INT(verify_bytes(r.base, r.len, &view, &err), LX_OK)) {
                char h[LX_HASH_B64_LEN + 1];
                lx_sha256_b64(r.base, r.len, h);
                CHECK_EQ_STR(view.receipt_hash, h);
                CHECK_EQ_STR(view.kind, b.kind);
                CHECK_EQ_STR(view.id, b.id);
                CHECK_EQ_STR(view.account, b.account);
                CHECK_EQ_STR(view.currency, b.currency);
                CHECK(view.amount == b.amount);
                verified++;
            } else {
                fprintf(stderr, "  %s: %s\n", err.nfields ? err.fields[0].field : "", err.detail);
            }
            lx_receipt_view_clear(&view);
            lx_strbuf_free(&r);
        }
        json_decref(v);
        lx_strbuf_free(&fast);
        lx_strbuf_free(&slow);
    }
    CHECK_CTX("%s", "");
    CHECK(compared == 3000 && verified == 2000);
    CHECK(escapes > 2000 && supplementary > 2000); /* the generator did reach what matters */
}

/* ---- round trips and views ---- */

static void test_round_trips_and_views(void)
{
    lx_receipt_body_t refund = sale;
    refund.kind = "refund", refund.amount = 1500, refund.mode = "exclusive", refund.share_index = 0;
    refund.reverses = "019a0000-0000-7000-8000-000000000001", refund.id = "019a0000-0000-7000-8000-000000000003";
    const lx_receipt_body_t *bodies[] = {&sale, &deposit, &refund};
    for (size_t i = 0; i < 3; i++) {
        const lx_receipt_body_t *b = bodies[i];
        CHECK_CTX("%s", b->kind);
        lx_strbuf_t r;
        lx_strbuf_init(&r, 1 << 16);
        sign_body(b, &r);
        lx_receipt_view_t v;
        lx_error_t err;
        if (!CHECK_EQ_INT(verify_bytes(r.base, r.len, &v, &err), LX_OK)) continue;
        CHECK_EQ_STR(v.kind, b->kind);
        CHECK_EQ_STR(v.id, b->id);
        CHECK_EQ_STR(v.issued_at, b->issued_at);
        CHECK(v.amount == b->amount);
        CHECK(json_is_object(v.body) && v.body == json_object_get(v.json_owner, "body"));
        int sale_like = b->lead_digest != NULL;
        CHECK_EQ_STR(v.lead_digest, sale_like ? b->lead_digest : NULL);
        CHECK_EQ_STR(v.mode, sale_like ? b->mode : NULL);
        CHECK_EQ_INT(v.share_index, sale_like ? b->share_index : -1);
        char h[LX_HASH_B64_LEN + 1];
        lx_sha256_b64(r.base, r.len, h); /* the rendered receipt is already canonical */
        CHECK_EQ_STR(v.receipt_hash, h);
        lx_strbuf_t e;
        lx_strbuf_init(&e, 4096);
        lx_log_entry_canon(b->kind, h, v.lead_digest, v.mode, v.share_index, &e);
        lx_strbuf_append(&e, "", 1);
        CHECK_EQ_STR(v.entry_canon, e.base);
        /* the entry is JCS of its JSON value */
        json_t *ej = json_pack("{s:s, s:s?, s:s?, s:s, s:o}", "kind", b->kind, "lead_digest", v.lead_digest, "mode", v.mode,
                               "receipt_hash", h, "share_index", v.share_index >= 0 ? json_integer(v.share_index) : json_null());
        lx_strbuf_t ec;
        lx_strbuf_init(&ec, 4096);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_canon_json(ej, &ec, &err), LX_OK);
        lx_strbuf_append(&ec, "", 1);
        CHECK_EQ_STR(ec.base, e.base);
        json_decref(ej);
        lx_strbuf_free(&ec);
        /* the same value in other bytes (members reordered, blanks, \u escapes) verifies with the same hash: what is
         * signed and hashed is the canonical form of the value */
        json_t *doc = parse(r.base, r.len);
        char *loose = json_dumps(doc, JSON_INDENT(3) | JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH | JSON_PRESERVE_ORDER);
        json_decref(doc);
        CHECK(loose != NULL && strlen(loose) != r.len);
        lx_receipt_view_t v2;
        if (CHECK_EQ_INT(verify_bytes(loose, strlen(loose), &v2, &err), LX_OK)) CHECK_EQ_STR(v2.receipt_hash, v.receipt_hash);
        lx_receipt_view_clear(&v2);
        free(loose);
        lx_strbuf_free(&e);
        lx_receipt_view_clear(&v);
        CHECK(v.json_owner == NULL && v.share_index == -1);
        lx_strbuf_free(&r);
    }
    CHECK_CTX("%s", "");

    /* log entries and tree heads, written directly, are JCS of their values */
    lx_strbuf_t e;
    lx_strbuf_init(&e, 4096);
    lx_log_entry_canon("deposit", "h", NULL, NULL, -1, &e);
    lx_strbuf_append(&e, "", 1);
    CHECK_EQ_STR(e.base, "{\"kind\":\"deposit\",\"lead_digest\":null,\"mode\":null,\"receipt_hash\":\"h\",\"share_index\":null}");
    lx_strbuf_reset(&e);
    lx_tree_head_canon(9007199254740991ULL, "r", "t", &e);
    lx_strbuf_append(&e, "", 1);
    CHECK_EQ_STR(e.base, "{\"root_hash\":\"r\",\"timestamp\":\"t\",\"tree_size\":9007199254740991}");
    lx_strbuf_free(&e);
}

/* ---- tampering ---- */

/* Flips every bit of `bytes` one at a time; returns how many results still verified. */
static unsigned flips_accepted(const char *bytes, size_t len, unsigned *parsed)
{
    char *buf = malloc(len);
    memcpy(buf, bytes, len);
    unsigned accepted = 0;
    *parsed = 0;
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (char)(1 << bit);
            json_t *doc = parse(buf, len);
            if (doc != NULL) {
                (*parsed)++;
                lx_receipt_view_t v;
                lx_error_t err;
                lx_error_init(&err);
                if (lx_receipt_verify(doc, "/receipt", &ring, &v, &err) == LX_OK) {
                    accepted++;
                    lx_receipt_view_clear(&v);
                } else {
                    CHECK(err.nfields == 1 && strncmp(err.fields[0].field, "/receipt", 8) == 0);
                }
                json_decref(doc);
            }
            buf[i] ^= (char)(1 << bit);
        }
    free(buf);
    return accepted;
}

static void test_every_bit_flip_is_refused(void)
{
    /* Neither receipt has a \u escape with a letter in it (\u001F reads as \u001f: the same value, the same hash,
     * rightly accepted), so no flip may leave the value unchanged. */
    const lx_receipt_body_t *bodies[] = {&sale, &deposit};
    for (size_t k = 0; k < 2; k++) {
        CHECK_CTX("%s", bodies[k]->kind);
        lx_strbuf_t r;
        lx_strbuf_init(&r, 1 << 16);
        sign_body(bodies[k], &r);
        unsigned parsed;
        CHECK_EQ_INT(flips_accepted(r.base, r.len, &parsed), 0);
        CHECK(parsed > r.len); /* many flips still parse: the verifier, not the parser, refused them */
        lx_strbuf_free(&r);
    }
    CHECK_CTX("%s", "");
}

/* ---- signatures ---- */

static json_t *signed_doc(const lx_receipt_body_t *b)
{
    lx_strbuf_t r;
    lx_strbuf_init(&r, 1 << 16);
    sign_body(b, &r);
    json_t *doc = parse(r.base, r.len);
    lx_strbuf_free(&r);
    return doc;
}

static void test_signature_encodings(void)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    json_t *doc = signed_doc(&sale);
    char sig[LX_SIG_B64_LEN + 1], bent[LX_SIG_B64_LEN + 8];
    snprintf(sig, sizeof(sig), "%s", json_string_value(json_object_get(doc, "signature")));
    CHECK_EQ_STR(sig, KAT_SALE_SIG);
    /* 64 bytes in 86 characters: the last carries 4 unused bits; each of the 15 non-zero settings is refused */
    int val = (int)(strchr(alpha, sig[85]) - alpha);
    for (int low = 1; low < 16; low++) {
        CHECK_CTX("unused bits %d", low);
        memcpy(bent, sig, sizeof(sig));
        bent[85] = alpha[(val & ~15) | low];
        json_object_set_new(doc, "signature", json_string(bent));
        refused(doc, "/receipt/signature", "strict unpadded base64url");
    }
    CHECK_CTX("padding, alphabet, length");
    static const char *const suffixes[] = {"=", "==", "A", " ", "\n"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
        snprintf(bent, sizeof(bent), "%s%s", sig, suffixes[i]);
        json_object_set_new(doc, "signature", json_string(bent));
        refused(doc, "/receipt/signature", "strict unpadded base64url");
    }
    snprintf(bent, sizeof(bent), "%.85s", sig);
    json_object_set_new(doc, "signature", json_string(bent));
    refused(doc, "/receipt/signature", "strict unpadded base64url");
    /* the standard alphabet for the URL-safe characters of this signature ('-' at 2, '_' nowhere: forced) */
    for (size_t i = 0; i < LX_SIG_B64_LEN; i++) {
        if (sig[i] != '-' && sig[i] != '_' && i != 40) continue;
        memcpy(bent, sig, sizeof(sig));
        bent[i] = sig[i] == '-' ? '+' : '/';
        json_object_set_new(doc, "signature", json_string(bent));
        refused(doc, "/receipt/signature", "strict unpadded base64url");
    }
    json_object_set_new(doc, "signature", json_integer(1));
    refused(doc, "/receipt/signature", "must be a string");
    json_object_set_new(doc, "signature", json_stringn(sig, 87)); /* sig, its NUL, and nothing more: not a C string */
    refused(doc, "/receipt/signature", "must be a string");
    /* a valid encoding of another signature */
    memcpy(bent, sig, sizeof(sig));
    bent[10] = bent[10] == 'A' ? 'B' : 'A';
    json_object_set_new(doc, "signature", json_string(bent));
    refused(doc, "/receipt/signature", "signature does not verify");
    json_object_set_new(doc, "signature", json_string(sig));
    lx_receipt_view_t v;
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "/receipt", &ring, &v, &err), LX_OK);
    lx_receipt_view_clear(&v);
    json_decref(doc);

    /* Regression (libsodium 1.0.18 decodes every byte >= 0x80 as '_'): a signature with "__" in it, the two
     * characters replaced by U+00E9 (two bytes, valid UTF-8, so it parses), must be refused; so must a single
     * '_' replaced by one byte >= 0x80 in a hand-built json_t. */
    CHECK_CTX("non-ASCII for '_'");
    lx_receipt_body_t b = sale;
    char idbuf[64];
    int found = 0;
    for (int i = 0; i < 5000 && !found; i++) {
        snprintf(idbuf, sizeof(idbuf), "019a0000-0000-7000-8000-%012d", i);
        b.id = idbuf;
        lx_strbuf_t r;
        lx_strbuf_init(&r, 1 << 16);
        sign_body(&b, &r);
        lx_strbuf_append(&r, "", 1);
        char *sigp = strstr(r.base, "\"signature\":\"") + 13, *us = strstr(sigp, "__");
        if (us != NULL && us < sigp + LX_SIG_B64_LEN - 1) {
            found = 1;
            lx_receipt_view_t ok;
            CHECK_EQ_INT(verify_bytes(r.base, r.len - 1, &ok, &err), LX_OK);
            lx_receipt_view_clear(&ok);
            us[0] = '\xc3', us[1] = '\xa9';
            lx_receipt_view_t got;
            CHECK_EQ_INT(verify_bytes(r.base, r.len - 1, &got, &err), LX_ERR_VALIDATION);
            if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, "/receipt/signature");
            lx_receipt_view_clear(&got);
            us[0] = '_', us[1] = '_';
            json_t *d = parse(r.base, r.len - 1);
            snprintf(bent, sizeof(bent), "%.86s", sigp);
            for (int c = 0x80; c <= 0xff; c++) {
                bent[us - sigp] = (char)c;
                json_object_set_new(d, "signature", json_string_nocheck(bent));
                refused(d, "/receipt/signature", "strict unpadded base64url");
            }
            json_decref(d);
        }
        lx_strbuf_free(&r);
    }
    CHECK(found);
    CHECK_CTX("%s", "");
}

/* ---- keys ---- */

static void test_keys(void)
{
    json_t *doc = signed_doc(&sale);
    static const char *const bad_ids[] = {"0123456789abcdef", "E82A805D5992821D", "e82a805d5992821", "e82a805d5992821d0", "",
                                          "e82a805d5992821g"};
    static const char *const msgs[] = {"unknown key_id", "16 lowercase", "16 lowercase",
                                       "16 lowercase",   "16 lowercase", "16 lowercase"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(*bad_ids); i++) {
        CHECK_CTX("key_id %s", bad_ids[i]);
        json_object_set_new(doc, "key_id", json_string(bad_ids[i]));
        refused(doc, "/receipt/key_id", msgs[i]);
    }
    json_object_set_new(doc, "key_id", json_null());
    refused(doc, "/receipt/key_id", "16 lowercase");
    CHECK_CTX("another key of the ring did not sign");
    json_object_set_new(doc, "key_id", json_string(KAT_KID_B));
    refused(doc, "/receipt/key_id", "not valid"); /* 2026-11 is after b's not_after */
    json_decref(doc);

    /* validity, to the microsecond: a from 2026-01-01T00:00:00Z on; b from 2025-01-01 to 2026-01-01T00:00:00Z */
    static const struct {
        const char *at;
        int by_b; /* signed by b, else a */
        int ok;
    } cases[] = {
        {"2026-01-01T00:00:00.000000Z", 0, 1}, {"2025-12-31T23:59:59.999999Z", 0, 0}, {"2026-01-01T00:00:00.000000Z", 1, 1},
        {"2026-01-01T00:00:00.000001Z", 1, 0}, {"2025-01-01T00:00:00.000000Z", 1, 1}, {"2024-12-31T23:59:59.999999Z", 1, 0},
        {"2025-06-01T12:00:00+05:00", 1, 1},   {"2026-01-01T04:59:59+05:00", 1, 1},   {"2099-12-31T23:59:59.999999Z", 0, 1},
        {"1970-01-01T00:00:00Z", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        CHECK_CTX("issued_at %s by %s", cases[i].at, cases[i].by_b ? "b" : "a");
        lx_receipt_body_t b = sale;
        b.issued_at = cases[i].at;
        lx_strbuf_t r;
        lx_strbuf_init(&r, 1 << 16);
        sign_body_with(&b, cases[i].by_b ? sk_b : sk_a, cases[i].by_b ? KAT_KID_B : KAT_KID, &r);
        lx_receipt_view_t v;
        lx_error_t err;
        lx_status_t st = verify_bytes(r.base, r.len, &v, &err);
        CHECK_EQ_INT(st, cases[i].ok ? LX_OK : LX_ERR_VALIDATION);
        if (!cases[i].ok && CHECK_EQ_INT(err.nfields, 1)) {
            CHECK_EQ_STR(err.fields[0].field, "/receipt/key_id");
            CHECK(contains(err.fields[0].message, "not valid for signing at that time"));
        }
        lx_receipt_view_clear(&v);
        lx_strbuf_free(&r);
    }
    CHECK_CTX("%s", "");

    /* b's key_id on a's signature, inside b's validity: the signature is what fails */
    lx_receipt_body_t b = sale;
    b.issued_at = "2025-06-01T00:00:00Z";
    lx_strbuf_t r;
    lx_strbuf_init(&r, 1 << 16);
    sign_body_with(&b, sk_a, KAT_KID_B, &r);
    lx_receipt_view_t v;
    lx_error_t err;
    CHECK_EQ_INT(verify_bytes(r.base, r.len, &v, &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) {
        CHECK_EQ_STR(err.fields[0].field, "/receipt/signature");
        CHECK_EQ_STR(err.fields[0].message, "signature does not verify");
    }
    lx_strbuf_free(&r);

    /* a prepared key gives the same answers */
    lx_keyring_t prepared = ring;
    lx_pubkey_t keys[2] = {ring.keys[0], ring.keys[1]};
    prepared.keys = keys;
    for (int i = 0; i < 2; i++) keys[i].prepared = lx_ed25519_key_new(keys[i].pk);
    json_t *good = signed_doc(&sale), *tampered = signed_doc(&sale);
    json_object_set_new(json_object_get(tampered, "body"), "amount", json_integer(-1501));
    for (int i = 0; i < 40; i++) { /* past the 16 verifications after which the table is built */
        lx_error_init(&err);
        CHECK_EQ_INT(lx_receipt_verify(good, "", &prepared, &v, &err), LX_OK);
        lx_receipt_view_clear(&v);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_receipt_verify(tampered, "", &prepared, &v, &err), LX_ERR_VALIDATION);
    }
    if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, "/signature");
    json_decref(good);
    json_decref(tampered);
    for (int i = 0; i < 2; i++) lx_ed25519_key_free(keys[i].prepared);
}

/* ---- members ---- */

static json_t *with_member(const json_t *base, const char *member, json_t *value /* NULL: removed */)
{
    json_t *doc = json_deep_copy(base);
    json_t *body = json_object_get(doc, "body");
    if (value == NULL)
        json_object_del(body, member);
    else
        json_object_set_new(body, member, value);
    return doc;
}

static void body_refused(const json_t *base, const char *member, json_t *value, const char *field, const char *msg)
{
    CHECK_CTX("body.%s", member);
    json_t *doc = with_member(base, member, value);
    refused(doc, field, msg);
    json_decref(doc);
}

static void test_members(void)
{
    json_t *s = signed_doc(&sale), *d = signed_doc(&deposit);
    lx_receipt_body_t rb = sale;
    rb.kind = "refund", rb.reverses = "019a0000-0000-7000-8000-000000000009";
    json_t *rf = signed_doc(&rb);

    /* the receipt object */
    CHECK_CTX("receipt");
    json_t *doc = json_deep_copy(s);
    json_object_set_new(doc, "extra", json_true());
    refused(doc, "/receipt/extra", "is not a member");
    json_object_del(doc, "extra");
    json_object_set_new(doc, "a/b~", json_true());
    refused(doc, "/receipt/a~1b~0", "is not a member");
    json_object_del(doc, "a/b~");
    static const char *const three[] = {"body", "key_id", "signature"};
    for (int i = 0; i < 3; i++) {
        json_t *c = json_deep_copy(s);
        json_object_del(c, three[i]);
        char f[64];
        snprintf(f, sizeof(f), "/receipt/%s", three[i]);
        refused(c, f, "is required");
        json_decref(c);
    }
    json_object_set_new(doc, "body", json_array());
    refused(doc, "/receipt/body", "must be an object");
    json_decref(doc);
    json_t *arr = json_array();
    refused(arr, "/receipt", "must be an object");
    json_decref(arr);
    json_t *str = json_string("x");
    refused(str, "/receipt", "must be an object");
    json_decref(str);
    CHECK_CTX("%s", "");

    /* every kind: the eight members all share */
    static const char *const common[] = {"v", "id", "kind", "issued_at", "account", "ledger_txn", "amount", "currency"};
    for (int i = 0; i < 8; i++) {
        char f[64];
        snprintf(f, sizeof(f), "/receipt/body/%s", common[i]);
        body_refused(s, common[i], NULL, f, "is required");
        body_refused(d, common[i], NULL, f, "is required");
    }
    body_refused(s, "extra", json_string("x"), "/receipt/body/extra", "is not a member");
    body_refused(s, "a/b", json_string("x"), "/receipt/body/a~1b", "is not a member");
    body_refused(s, "v", json_integer(2), "/receipt/body/v", "must be 1");
    body_refused(s, "v", json_string("1"), "/receipt/body/v", "must be 1");
    body_refused(s, "v", json_real(1.0), "/receipt/body/v", "must be 1");
    body_refused(s, "kind", json_string("gift"), "/receipt/body/kind", "is not a receipt kind");
    body_refused(s, "kind", json_string("Sale"), "/receipt/body/kind", "is not a receipt kind");
    body_refused(s, "id", json_integer(1), "/receipt/body/id", "must be a string");
    body_refused(s, "currency", json_null(), "/receipt/body/currency", "must be a string");
    body_refused(s, "account", json_stringn("a\0b", 3), "/receipt/body/account", "must be a string");
    body_refused(s, "amount", json_string("-1500"), "/receipt/body/amount", "must be an integer");
    body_refused(s, "amount", json_real(-1500.0), "/receipt/body/amount", "must be an integer");
    body_refused(s, "amount", json_integer(9007199254740992LL), "/receipt/body/amount", "below 2^53");
    body_refused(s, "amount", json_integer(-9007199254740992LL), "/receipt/body/amount", "below 2^53");
    body_refused(s, "issued_at", json_string("yesterday"), "/receipt/body/issued_at", "RFC 3339");
    body_refused(s, "issued_at", json_string("2026-11-23 10:00:00"), "/receipt/body/issued_at", "RFC 3339");
    body_refused(d, "reference", json_integer(7), "/receipt/body/reference", "must be a string");

    /* sales and refunds: their seven members, required; on other kinds, refused */
    static const char *const sale_only[] = {"lead_id", "lead_digest", "niche", "region", "mode", "share_index", "sale_id"};
    for (int i = 0; i < 7; i++) {
        char f[64];
        snprintf(f, sizeof(f), "/receipt/body/%s", sale_only[i]);
        body_refused(s, sale_only[i], NULL, f, "is required");
        body_refused(rf, sale_only[i], NULL, f, "is required");
        body_refused(d, sale_only[i], i == 5 ? json_integer(0) : json_string("x"), f, "sales and refunds only");
        if (i != 5) body_refused(s, sale_only[i], json_integer(3), f, "must be a string");
    }
    body_refused(s, "share_index", json_integer(20), "/receipt/body/share_index", "from 0 to 19");
    body_refused(s, "share_index", json_integer(-1), "/receipt/body/share_index", "from 0 to 19");
    body_refused(s, "share_index", json_string("1"), "/receipt/body/share_index", "from 0 to 19");
    body_refused(s, "share_index", json_null(), "/receipt/body/share_index", "from 0 to 19");
    body_refused(s, "mode", json_string("both"), "/receipt/body/mode", "exclusive or shared");
    body_refused(s, "lead_digest", json_string("2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXt"), "/receipt/body/lead_digest",
                 "32 bytes");
    body_refused(s, "lead_digest", json_string("abc"), "/receipt/body/lead_digest", "32 bytes");
    body_refused(rf, "reverses", NULL, "/receipt/body/reverses", "is required");
    body_refused(rf, "reverses", json_integer(1), "/receipt/body/reverses", "must be a string");
    body_refused(s, "reverses", json_string("x"), "/receipt/body/reverses", "refunds only");
    body_refused(d, "reverses", json_string("x"), "/receipt/body/reverses", "refunds only");
    /* a valid member set with a changed value: the signature */
    body_refused(s, "share_index", json_integer(2), "/receipt/signature", "does not verify");
    body_refused(s, "mode", json_string("exclusive"), "/receipt/signature", "does not verify");
    body_refused(d, "reference", NULL, "/receipt/signature", "does not verify");
    CHECK_CTX("%s", "");

    /* a string that is not UTF-8 (a hand-built json_t): refused by canonicalisation, named under the body */
    CHECK_CTX("not UTF-8");
    json_t *bad = with_member(d, "reference", json_string_nocheck("\xff"));
    refused(bad, "/receipt/body/reference", "UTF-8");
    json_decref(bad);
    /* where = "" names members from the root */
    lx_receipt_view_t v;
    lx_error_t err;
    lx_error_init(&err);
    bad = with_member(s, "niche", NULL);
    CHECK_EQ_INT(lx_receipt_verify(bad, "", &ring, &v, &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, "/body/niche");
    json_decref(bad);
    CHECK_CTX("%s", "");

    /* the view: verified sale and refund carry their digest, mode and share; the others null */
    lx_error_init(&err);
    if (CHECK_EQ_INT(lx_receipt_verify(rf, "", &ring, &v, &err), LX_OK)) {
        CHECK_EQ_STR(v.kind, "refund");
        CHECK_EQ_STR(v.mode, "shared");
        CHECK_EQ_INT(v.share_index, 1);
    }
    lx_receipt_view_clear(&v);
    json_decref(s);
    json_decref(d);
    json_decref(rf);
}

/* ---- tree heads ---- */

static int render_head(char *out, size_t cap, const char *size, const char *root, const char *ts, const char *kid,
                       const uint8_t *sk, uint64_t signed_size)
{
    lx_strbuf_t c;
    lx_strbuf_init(&c, 4096);
    lx_tree_head_canon(signed_size, root, ts, &c);
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(sk, LX_TREE_HEAD_CONTEXT, c.base, c.len, sig);
    lx_strbuf_free(&c);
    return snprintf(out, cap, "{\"tree_size\":%s,\"root_hash\":\"%s\",\"timestamp\":\"%s\",\"key_id\":\"%s\",\"signature\":\"%s\"}",
                    size, root, ts, kid, sig);
}

static lx_status_t verify_head(const char *s, size_t len, lx_tree_head_t *th, lx_error_t *err)
{
    lx_error_init(err);
    json_t *doc = parse(s, len);
    if (doc == NULL) return LX_ERR_MALFORMED_JSON;
    lx_status_t st = lx_tree_head_verify(doc, "/head", &ring, th, err);
    json_decref(doc);
    return st;
}

static void head_refused(const char *s, const char *field, const char *msg)
{
    CHECK_CTX("%s", s);
    lx_tree_head_t th;
    lx_error_t err;
    CHECK_EQ_INT(verify_head(s, strlen(s), &th, &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) {
        CHECK_EQ_STR(err.fields[0].field, field);
        CHECK(contains(err.fields[0].message, msg));
    }
}

static void test_tree_heads(void)
{
    uint8_t root[32];
    memset(root, 9, sizeof(root));
    char rb[LX_HASH_B64_LEN + 1];
    lx_b64url_encode(root, 32, rb);
    char head[1024];
    int n = render_head(head, sizeof(head), "12345", rb, KAT_HEAD_TS, KAT_KID, sk_a, 12345);
    CHECK(contains(head, KAT_HEAD_SIG));
    lx_tree_head_t th;
    lx_error_t err;
    if (CHECK_EQ_INT(verify_head(head, (size_t)n, &th, &err), LX_OK)) {
        CHECK(th.tree_size == 12345 && memcmp(th.root, root, 32) == 0);
        CHECK_EQ_STR(th.timestamp, KAT_HEAD_TS);
        CHECK_EQ_STR(th.key_id, KAT_KID);
    }
    /* every bit flip */
    unsigned accepted = 0, parsed = 0;
    for (int i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            head[i] ^= (char)(1 << bit);
            lx_status_t st = verify_head(head, (size_t)n, &th, &err);
            if (st != LX_ERR_MALFORMED_JSON) parsed++;
            if (st == LX_OK) accepted++;
            if (st == LX_ERR_VALIDATION) CHECK(err.nfields == 1 && strncmp(err.fields[0].field, "/head", 5) == 0);
            head[i] ^= (char)(1 << bit);
        }
    CHECK_EQ_INT(accepted, 0);
    CHECK(parsed > (unsigned)n);
    CHECK_CTX("%s", "");

    /* bounds and members */
    char h2[1024];
    render_head(h2, sizeof(h2), "0", rb, KAT_HEAD_TS, KAT_KID, sk_a, 0);
    CHECK_EQ_INT(verify_head(h2, strlen(h2), &th, &err), LX_OK);
    render_head(h2, sizeof(h2), "9007199254740991", rb, KAT_HEAD_TS, KAT_KID, sk_a, 9007199254740991ULL);
    CHECK_EQ_INT(verify_head(h2, strlen(h2), &th, &err), LX_OK);
    render_head(h2, sizeof(h2), "9007199254740992", rb, KAT_HEAD_TS, KAT_KID, sk_a, 9007199254740992ULL);
    head_refused(h2, "/head/tree_size", "2^53");
    render_head(h2, sizeof(h2), "-1", rb, KAT_HEAD_TS, KAT_KID, sk_a, 0);
    head_refused(h2, "/head/tree_size", "2^53");
    render_head(h2, sizeof(h2), "12345.0", rb, KAT_HEAD_TS, KAT_KID, sk_a, 12345);
    head_refused(h2, "/head/tree_size", "2^53");
    render_head(h2, sizeof(h2), "\"12345\"", rb, KAT_HEAD_TS, KAT_KID, sk_a, 12345);
    head_refused(h2, "/head/tree_size", "2^53");
    render_head(h2, sizeof(h2), "12346", rb, KAT_HEAD_TS, KAT_KID, sk_a, 12345);
    head_refused(h2, "/head/signature", "does not verify");
    char rb_bad[64];
    snprintf(rb_bad, sizeof(rb_bad), "%.42s", rb);
    render_head(h2, sizeof(h2), "1", rb_bad, KAT_HEAD_TS, KAT_KID, sk_a, 1);
    head_refused(h2, "/head/root_hash", "32 bytes");
    snprintf(rb_bad, sizeof(rb_bad), "%s=", rb);
    render_head(h2, sizeof(h2), "1", rb_bad, KAT_HEAD_TS, KAT_KID, sk_a, 1);
    head_refused(h2, "/head/root_hash", "32 bytes");
    render_head(h2, sizeof(h2), "1", rb, "2026-11-23", KAT_KID, sk_a, 1);
    head_refused(h2, "/head/timestamp", "RFC 3339");
    render_head(h2, sizeof(h2), "1", rb, KAT_HEAD_TS, "0123456789abcdef", sk_a, 1);
    head_refused(h2, "/head/key_id", "unknown key_id");
    render_head(h2, sizeof(h2), "1", rb, KAT_HEAD_TS, KAT_KID_B, sk_b, 1);
    head_refused(h2, "/head/key_id", "not valid"); /* b retired before 2026-11 */
    render_head(h2, sizeof(h2), "1", rb, "2025-05-05T00:00:00Z", KAT_KID_B, sk_b, 1);
    CHECK_EQ_INT(verify_head(h2, strlen(h2), &th, &err), LX_OK);
    render_head(h2, sizeof(h2), "1", rb, "2025-05-05T00:00:00Z", KAT_KID_B, sk_a, 1);
    head_refused(h2, "/head/signature", "does not verify");
    /* a receipt signature over the same bytes does not make a head signature: the contexts differ */
    lx_strbuf_t c;
    lx_strbuf_init(&c, 4096);
    lx_tree_head_canon(1, rb, KAT_HEAD_TS, &c);
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(sk_a, LX_RECEIPT_CONTEXT, c.base, c.len, sig);
    lx_strbuf_free(&c);
    snprintf(h2, sizeof(h2), "{\"tree_size\":1,\"root_hash\":\"%s\",\"timestamp\":\"%s\",\"key_id\":\"%s\",\"signature\":\"%s\"}",
             rb, KAT_HEAD_TS, KAT_KID, sig);
    head_refused(h2, "/head/signature", "does not verify");
    /* members */
    memcpy(h2, head, (size_t)n + 1);
    h2[n - 1] = '\0';
    char h3[1200];
    snprintf(h3, sizeof(h3), "%s,\"extra\":1}", h2);
    head_refused(h3, "/head/extra", "is not a member");
    snprintf(h3, sizeof(h3), "{\"tree_size\":12345,\"root_hash\":\"%s\",\"timestamp\":\"%s\",\"key_id\":\"%s\"}", rb, KAT_HEAD_TS,
             KAT_KID);
    head_refused(h3, "/head/signature", "is required");
    head_refused("[]", "/head", "must be an object");
    CHECK_CTX("%s", "");
}

/* ---- keyring ---- */

#define K_SEQ_PK "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" /* bytes 0..31, key_id cb2f5160fc1f7e05 */

static void keyring_refused(const char *json, lx_status_t status, const char *field, const char *msg)
{
    CHECK_CTX("%s", json);
    lx_keyring_t r;
    r.keys = (lx_pubkey_t *)&r; /* must be reset */
    r.n = 99;
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_keyring_parse(json, strlen(json), &r, &err), status);
    CHECK(r.keys == NULL && r.n == 0);
    if (CHECK_EQ_INT(err.nfields, 1)) {
        CHECK_EQ_STR(err.fields[0].field, field);
        if (!CHECK(contains(err.fields[0].message, msg))) fprintf(stderr, "  message: %s\n", err.fields[0].message);
    }
}

static void test_keyring(void)
{
    /* happy path: two keys, one retired; find by id */
    const lx_pubkey_t *a = lx_keyring_find(&ring, KAT_KID, 16), *b = lx_keyring_find(&ring, KAT_KID_B, 16);
    if (CHECK(a != NULL && b != NULL)) {
        CHECK(memcmp(a->pk, pk_a, 32) == 0 && memcmp(b->pk, pk_b, 32) == 0);
        CHECK(a->not_after_us == INT64_MAX && a->prepared == NULL);
        int64_t t;
        CHECK(lx_ts_parse_rfc3339("2026-01-01T00:00:00Z", 20, &t) == 0 && a->not_before_us == t && b->not_after_us == t);
    }
    CHECK(lx_keyring_find(&ring, KAT_KID, 15) == NULL);
    CHECK(lx_keyring_find(&ring, "0123456789abcdef", 16) == NULL);
    lx_keyring_t r;
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_keyring_parse("{\"keys\":[]}", 11, &r, &err), LX_OK);
    CHECK(r.n == 0);
    lx_keyring_free(&r);
    const char *spaced = " { \"keys\" : [ { \"not_after\" : \"2027-01-01T00:00:00.5+01:00\", \"not_before\" : "
                         "\"2026-01-01T00:00:00Z\", \"public_key\" : \"" K_SEQ_PK "\", \"key_id\" : \"cb2f5160fc1f7e05\" } ] } ";
    lx_error_init(&err);
    CHECK_EQ_INT(lx_keyring_parse(spaced, strlen(spaced), &r, &err), LX_OK);
    CHECK(r.n == 1 && lx_keyring_find(&r, "cb2f5160fc1f7e05", 16) != NULL);
    lx_keyring_free(&r);
    CHECK(r.keys == NULL && r.n == 0);

#define KEY(kid, pk, nb, na) "{\"key_id\":" kid ",\"public_key\":" pk ",\"not_before\":" nb ",\"not_after\":" na "}"
#define GOOD                 KEY("\"cb2f5160fc1f7e05\"", "\"" K_SEQ_PK "\"", "\"2026-01-01T00:00:00Z\"", "null")
    keyring_refused("", LX_ERR_MALFORMED_JSON, "", "not JSON");
    keyring_refused("{\"keys\":[", LX_ERR_MALFORMED_JSON, "", "not JSON");
    keyring_refused("{\"keys\":[],\"keys\":[]}", LX_ERR_MALFORMED_JSON, "", "not JSON");
    keyring_refused("{\"keys\":[" GOOD "]} x", LX_ERR_MALFORMED_JSON, "", "not JSON");
    keyring_refused("[]", LX_ERR_VALIDATION, "", "must be an object");
    keyring_refused("{}", LX_ERR_VALIDATION, "/keys", "is required");
    keyring_refused("{\"keys\":[],\"x\":1}", LX_ERR_VALIDATION, "/x", "is not a member");
    keyring_refused("{\"keys\":{}}", LX_ERR_VALIDATION, "/keys", "must be an array");
    keyring_refused("{\"keys\":null}", LX_ERR_VALIDATION, "/keys", "must be an array");
    keyring_refused("{\"keys\":[1]}", LX_ERR_VALIDATION, "/keys/0", "must be an object");
    keyring_refused("{\"keys\":[" GOOD "," GOOD "]}", LX_ERR_VALIDATION, "/keys/1/key_id", "listed twice");
    keyring_refused("{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"public_key\":\"" K_SEQ_PK "\",\"not_before\":"
                    "\"2026-01-01T00:00:00Z\",\"not_after\":null,\"x\":1}]}",
                    LX_ERR_VALIDATION, "/keys/0/x", "is not a member");
    keyring_refused("{\"keys\":[{\"public_key\":\"" K_SEQ_PK "\",\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":null}]}",
                    LX_ERR_VALIDATION, "/keys/0/key_id", "is required");
    keyring_refused("{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":null}]}",
                    LX_ERR_VALIDATION, "/keys/0/public_key", "is required");
    keyring_refused("{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"public_key\":\"" K_SEQ_PK "\",\"not_after\":null}]}",
                    LX_ERR_VALIDATION, "/keys/0/not_before", "is required");
    keyring_refused("{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"public_key\":\"" K_SEQ_PK "\",\"not_before\":"
                    "\"2026-01-01T00:00:00Z\"}]}",
                    LX_ERR_VALIDATION, "/keys/0/not_after", "is required");
    static const char *const bad_pks[] = {"\"" K_SEQ_PK "=\"",
                                          "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh\"",
                                          "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A\"",
                                          "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9\"", /* unused bits set */
                                          "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH+8\"",
                                          "\"\\u00e9" K_SEQ_PK "\"",
                                          "32",
                                          "null"};
    for (size_t i = 0; i < sizeof(bad_pks) / sizeof(*bad_pks); i++) {
        char json[512];
        snprintf(json, sizeof(json), "{\"keys\":[" KEY("\"cb2f5160fc1f7e05\"", "%s", "\"2026-01-01T00:00:00Z\"", "null") "]}",
                 bad_pks[i]);
        keyring_refused(json, LX_ERR_VALIDATION, "/keys/0/public_key", "32 bytes in unpadded base64url");
    }
    keyring_refused("{\"keys\":[" KEY("\"cb2f5160fc1f7e06\"", "\"" K_SEQ_PK "\"", "\"2026-01-01T00:00:00Z\"", "null") "]}",
                    LX_ERR_VALIDATION, "/keys/0/key_id", "does not match");
    keyring_refused("{\"keys\":[" KEY("\"CB2F5160FC1F7E05\"", "\"" K_SEQ_PK "\"", "\"2026-01-01T00:00:00Z\"", "null") "]}",
                    LX_ERR_VALIDATION, "/keys/0/key_id", "does not match");
    keyring_refused("{\"keys\":[" KEY("7", "\"" K_SEQ_PK "\"", "\"2026-01-01T00:00:00Z\"", "null") "]}", LX_ERR_VALIDATION,
                    "/keys/0/key_id", "does not match");
    keyring_refused("{\"keys\":[" KEY("\"cb2f5160fc1f7e05\"", "\"" K_SEQ_PK "\"", "\"2026-01-01\"", "null") "]}", LX_ERR_VALIDATION,
                    "/keys/0/not_before", "RFC 3339");
    keyring_refused("{\"keys\":[" KEY("\"cb2f5160fc1f7e05\"", "\"" K_SEQ_PK "\"", "null", "null") "]}", LX_ERR_VALIDATION,
                    "/keys/0/not_before", "RFC 3339");
    keyring_refused("{\"keys\":[" KEY("\"cb2f5160fc1f7e05\"", "\"" K_SEQ_PK "\"", "\"2026-01-01T00:00:00Z\"", "5") "]}",
                    LX_ERR_VALIDATION, "/keys/0/not_after", "RFC 3339");
    keyring_refused(
        "{\"keys\":[" KEY("\"cb2f5160fc1f7e05\"", "\"" K_SEQ_PK "\"", "\"2026-01-01T00:00:00Z\"", "\"2025-12-31T23:59:59Z\"") "]}",
        LX_ERR_VALIDATION, "/keys/0/not_after", "not before not_before");
    keyring_refused("{\"keys\":[" KEY("\"cb2f5160fc1f7e05\"", "\"" K_SEQ_PK "\"", "\"2026-01-01T00:00:00Z\"", "\"never\"") "]}",
                    LX_ERR_VALIDATION, "/keys/0/not_after", "RFC 3339");
    /* the second key is the bad one: the pointer says so, and nothing of the first is kept */
    keyring_refused("{\"keys\":[" GOOD "," KEY("\"e82a805d5992821d\"", "\"" KAT_PK "\"", "\"x\"", "null") "]}", LX_ERR_VALIDATION,
                    "/keys/1/not_before", "RFC 3339");
    /* a cap on the number of keys */
    lx_strbuf_t many;
    lx_strbuf_init(&many, 1 << 22);
    lx_strbuf_puts(&many, "{\"keys\":[");
    for (int i = 0; i < 1025; i++) lx_strbuf_printf(&many, "%s%s", i ? "," : "", GOOD);
    lx_strbuf_puts(&many, "]}");
    lx_strbuf_append(&many, "", 1);
    keyring_refused(many.base, LX_ERR_VALIDATION, "/keys", "too many keys");
    lx_strbuf_free(&many);
#undef GOOD
#undef KEY
    CHECK_CTX("%s", "");
}

/* ---- large messages (the malloc path of sign and verify) ---- */

static void test_large(void)
{
    static char big[20000];
    for (size_t i = 0; i < sizeof(big) - 1; i++) big[i] = (char)('a' + i % 26);
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(sk_a, "ctx\n", big, sizeof(big) - 1, sig);
    uint8_t raw[64];
    CHECK(lx_b64url_decode_exact(sig, strlen(sig), raw, 64) == 0);
    char *m = malloc(sizeof(big) + 3);
    memcpy(m, "ctx\n", 4);
    memcpy(m + 4, big, sizeof(big) - 1);
    CHECK(crypto_sign_verify_detached(raw, (const uint8_t *)m, sizeof(big) + 3, pk_a) == 0);
    free(m);
    lx_receipt_body_t b = deposit;
    b.reference = big;
    lx_strbuf_t r;
    lx_strbuf_init(&r, 1 << 20);
    sign_body(&b, &r);
    lx_receipt_view_t v;
    lx_error_t err;
    CHECK_EQ_INT(verify_bytes(r.base, r.len, &v, &err), LX_OK);
    lx_receipt_view_clear(&v);
    lx_strbuf_free(&r);
}

/* ---- rates (informational only: never an assertion on time) ---- */

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_rates(void)
{
    lx_strbuf_t body, rec;
    lx_strbuf_init(&body, 1 << 16);
    lx_strbuf_init(&rec, 1 << 16);
    char sig[LX_SIG_B64_LEN + 1];
    struct timespec t0;
    const int n = 3000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        lx_strbuf_reset(&body);
        lx_receipt_body_canon(&sale, &body);
        lx_sign_b64(sk_a, LX_RECEIPT_CONTEXT, body.base, body.len, sig);
    }
    double sign_s = seconds_since(&t0);
    lx_receipt_render(body.base, body.len, KAT_KID, sig, &rec);
    json_t *doc = parse(rec.base, rec.len);
    lx_receipt_view_t v;
    lx_error_t err;
    unsigned ok = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        lx_error_init(&err);
        ok += lx_receipt_verify(doc, "", &ring, &v, &err) == LX_OK;
        lx_receipt_view_clear(&v);
    }
    double verify_s = seconds_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        ok += verify_bytes(rec.base, rec.len, &v, &err) == LX_OK;
        lx_receipt_view_clear(&v);
    }
    double parse_verify_s = seconds_since(&t0);
    uint8_t raw[64];
    CHECK(lx_b64url_decode_exact(sig, strlen(sig), raw, 64) == 0);
    char *m = malloc(body.len + sizeof(LX_RECEIPT_CONTEXT));
    memcpy(m, LX_RECEIPT_CONTEXT, sizeof(LX_RECEIPT_CONTEXT) - 1);
    memcpy(m + sizeof(LX_RECEIPT_CONTEXT) - 1, body.base, body.len);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++)
        ok += crypto_sign_verify_detached(raw, (const uint8_t *)m, body.len + sizeof(LX_RECEIPT_CONTEXT) - 1, pk_a) == 0;
    double raw_s = seconds_since(&t0);
    free(m);
    lx_keyring_t prepared = ring;
    lx_pubkey_t keys[2] = {ring.keys[0], ring.keys[1]};
    prepared.keys = keys;
    keys[0].prepared = lx_ed25519_key_new(keys[0].pk);
    keys[1].prepared = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        lx_error_init(&err);
        ok += lx_receipt_verify(doc, "", &prepared, &v, &err) == LX_OK;
        lx_receipt_view_clear(&v);
    }
    double prepared_s = seconds_since(&t0);
    lx_ed25519_key_free(keys[0].prepared);
    CHECK_EQ_INT(ok, 4 * n);
    printf("receipts, one core, informational: body+sign %.0f/s; lx_receipt_verify %.0f/s (libsodium's bare "
           "Ed25519 verify %.0f/s), %.0f/s with a prepared key (util/ed25519.h); lx_json_parse+verify %.0f/s\n",
           n / sign_s, n / verify_s, n / raw_s, n / prepared_s, n / parse_verify_s);
    json_decref(doc);
    lx_strbuf_free(&body);
    lx_strbuf_free(&rec);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    setup();
    test_known_answers();
    test_fast_writer_is_canonical();
    test_round_trips_and_views();
    test_every_bit_flip_is_refused();
    test_signature_encodings();
    test_keys();
    test_members();
    test_tree_heads();
    test_keyring();
    test_large();
    test_rates();
    lx_keyring_free(&ring);
    return check_summary();
}
