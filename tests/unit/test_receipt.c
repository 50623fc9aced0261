/*
 * Receipts, entries and tree heads (billing/receipt.h): the fast canonical
 * writer against util/canon.c, sign/verify round trips, every single-bit
 * change of a rendered receipt or head refused, strict members and keys, and
 * independently computed known answers (Python hashlib) for the key id and the
 * lead digest.
 */
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/canon.h"
#include "util/time.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"

static uint8_t pk[32], sk[64];
static lx_keyring_t ring;
static char kid[LX_KEY_ID_LEN + 1];

static void setup(void)
{
    uint8_t seed[32];
    memset(seed, 42, sizeof(seed));
    crypto_sign_seed_keypair(pk, sk, seed);
    lx_receipt_key_id(pk, kid);
    char pkb[LX_PK_B64_LEN + 1], json[512];
    lx_b64url_encode(pk, 32, pkb);
    snprintf(json, sizeof(json),
             "{\"keys\":[{\"key_id\":\"%s\",\"public_key\":\"%s\",\"not_before\":\"2026-01-01T00:00:00Z\","
             "\"not_after\":null}]}",
             kid, pkb);
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_keyring_parse(json, strlen(json), &ring, &err), LX_OK);
}

static void sign_body(const lx_receipt_body_t *b, lx_strbuf_t *receipt)
{
    lx_strbuf_t body;
    lx_strbuf_init(&body, 1 << 16);
    lx_receipt_body_canon(b, &body);
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(sk, LX_RECEIPT_CONTEXT, body.base, body.len, sig);
    lx_receipt_render(body.base, body.len, kid, sig, receipt);
    lx_strbuf_free(&body);
}

static lx_status_t verify_bytes(const char *s, size_t len, lx_receipt_view_t *v)
{
    json_t *doc = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL) return LX_ERR_MALFORMED_JSON;
    lx_error_t err;
    lx_error_init(&err);
    lx_status_t st = lx_receipt_verify(doc, "", &ring, v, &err);
    if (st == LX_OK) CHECK(v->json_owner == doc);
    json_decref(doc);
    return st;
}

static const lx_receipt_body_t sale = {
    .id = "019a0000-0000-7000-8000-000000000001", .kind = "sale", .issued_at = "2026-11-23T10:00:00.000000Z",
    .account = "019a0000-0000-7000-8000-0000000000aa", .ledger_txn = "019a0000-0000-7000-8000-0000000000bb",
    .amount = -1500, .currency = "USD", .lead_id = "019a0000-0000-7000-8000-0000000000cc",
    .lead_digest = "2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXs", .niche = "loans", .region = "US-CA",
    .mode = "shared", .share_index = 1, .sale_id = "019a0000-0000-7000-8000-0000000000dd"};

static void test_fast_writer_is_canonical(void)
{
    lx_receipt_body_t bodies[4] = {sale, sale, sale, sale};
    bodies[1].kind = "deposit", bodies[1].reference = "wire \"7\" /\\ \x01 caf\xc3\xa9 \xf0\x9f\x98\x80";
    bodies[1].amount = 9007199254740991LL;
    bodies[2].kind = "refund", bodies[2].reverses = "019a0000-0000-7000-8000-0000000000ee", bodies[2].amount = 1500;
    bodies[3].kind = "payout", bodies[3].amount = -9007199254740991LL, bodies[3].reference = NULL;
    for (int i = 0; i < 4; i++) {
        CHECK_CTX("body %d", i);
        lx_strbuf_t fast, slow;
        lx_strbuf_init(&fast, 1 << 16);
        lx_strbuf_init(&slow, 1 << 16);
        lx_receipt_body_canon(&bodies[i], &fast);
        json_t *v = json_loadb(fast.base, fast.len, JSON_REJECT_DUPLICATES, NULL);
        CHECK(v != NULL);
        lx_error_t err;
        lx_error_init(&err);
        CHECK_EQ_INT(lx_canon_json(v, &slow, &err), LX_OK);
        CHECK(fast.len == slow.len && memcmp(fast.base, slow.base, fast.len) == 0);
        /* and the receipt verifies */
        lx_strbuf_t r;
        lx_strbuf_init(&r, 1 << 16);
        sign_body(&bodies[i], &r);
        lx_receipt_view_t view;
        CHECK_EQ_INT(verify_bytes(r.base, r.len, &view), LX_OK);
        lx_receipt_view_clear(&view);
        json_decref(v);
        lx_strbuf_free(&r);
        lx_strbuf_free(&fast);
        lx_strbuf_free(&slow);
    }
    CHECK_CTX("%s", "");
}

static void test_round_trip_and_entry(void)
{
    lx_strbuf_t r;
    lx_strbuf_init(&r, 1 << 16);
    sign_body(&sale, &r);
    lx_receipt_view_t v;
    CHECK_EQ_INT(verify_bytes(r.base, r.len, &v), LX_OK);
    CHECK_EQ_STR(v.kind, "sale");
    CHECK_EQ_INT(v.amount, -1500);
    CHECK_EQ_INT(v.share_index, 1);
    char h[LX_HASH_B64_LEN + 1];
    lx_sha256_b64(r.base, r.len, h);
    CHECK_EQ_STR(v.receipt_hash, h); /* the rendered receipt is already canonical */
    lx_strbuf_t e;
    lx_strbuf_init(&e, 4096);
    lx_log_entry_canon("sale", h, sale.lead_digest, "shared", 1, &e);
    lx_strbuf_append(&e, "", 1);
    CHECK_EQ_STR(v.entry_canon, e.base);
    lx_receipt_view_clear(&v);
    lx_strbuf_reset(&e);
    lx_log_entry_canon("deposit", "h", NULL, NULL, -1, &e);
    lx_strbuf_append(&e, "", 1);
    CHECK_EQ_STR(e.base, "{\"kind\":\"deposit\",\"lead_digest\":null,\"mode\":null,\"receipt_hash\":\"h\",\"share_index\":null}");
    lx_strbuf_free(&e);
    lx_strbuf_free(&r);
}

static void test_every_bit_flip_is_refused(void)
{
    lx_strbuf_t r;
    lx_strbuf_init(&r, 1 << 16);
    sign_body(&sale, &r);
    char buf[2048];
    memcpy(buf, r.base, r.len);
    unsigned accepted = 0, total = 0;
    for (size_t i = 0; i < r.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (char)(1 << bit);
            lx_receipt_view_t v;
            if (verify_bytes(buf, r.len, &v) == LX_OK) {
                /* Only a change that leaves the same JSON value may pass (e.g. none exist here: no whitespace). */
                accepted++;
                lx_receipt_view_clear(&v);
            }
            total++;
            buf[i] ^= (char)(1 << bit);
        }
    CHECK_EQ_INT(accepted, 0);
    CHECK(total == r.len * 8);
    lx_strbuf_free(&r);
}

static void test_strictness(void)
{
    lx_strbuf_t r;
    lx_strbuf_init(&r, 1 << 16);
    sign_body(&sale, &r);
    json_t *doc = json_loadb(r.base, r.len, 0, NULL);
    lx_receipt_view_t v;
    lx_error_t err;
    /* A non-canonical signature encoding: set the unused low bits of the last character. */
    char sig[LX_SIG_B64_LEN + 1];
    snprintf(sig, sizeof(sig), "%s", json_string_value(json_object_get(doc, "signature")));
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int val = (int)(strchr(alpha, sig[85]) - alpha);
    char bent[LX_SIG_B64_LEN + 1];
    memcpy(bent, sig, sizeof(bent));
    bent[85] = alpha[val | 1];
    json_object_set_new(doc, "signature", json_string(bent));
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "/receipt", &ring, &v, &err), LX_ERR_VALIDATION);
    CHECK_EQ_STR(err.fields[0].field, "/receipt/signature");
    json_object_set_new(doc, "signature", json_string(sig));
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "", &ring, &v, &err), LX_OK);
    lx_receipt_view_clear(&v);
    /* Unknown member, unknown key, key outside validity, missing kind member, floats. */
    json_object_set_new(doc, "extra", json_true());
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "", &ring, &v, &err), LX_ERR_VALIDATION);
    CHECK_EQ_STR(err.fields[0].field, "/extra");
    json_object_del(doc, "extra");
    json_object_set_new(doc, "key_id", json_string("0123456789abcdef"));
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "", &ring, &v, &err), LX_ERR_VALIDATION);
    CHECK_EQ_STR(err.fields[0].field, "/key_id");
    json_object_set_new(doc, "key_id", json_string(kid));
    json_t *body = json_object_get(doc, "body");
    json_object_set_new(body, "issued_at", json_string("2025-06-01T00:00:00.000000Z"));
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "", &ring, &v, &err), LX_ERR_VALIDATION);
    CHECK_EQ_STR(err.fields[0].field, "/key_id");
    json_object_set_new(body, "issued_at", json_string(sale.issued_at));
    json_object_del(body, "sale_id");
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "", &ring, &v, &err), LX_ERR_VALIDATION);
    CHECK_EQ_STR(err.fields[0].field, "/body/sale_id");
    json_object_set_new(body, "sale_id", json_string(sale.sale_id));
    json_object_set_new(body, "amount", json_real(-1500.0));
    lx_error_init(&err);
    CHECK_EQ_INT(lx_receipt_verify(doc, "", &ring, &v, &err), LX_ERR_VALIDATION);
    CHECK_EQ_STR(err.fields[0].field, "/body/amount");
    json_decref(doc);
    lx_strbuf_free(&r);
}

static void test_tree_heads(void)
{
    uint8_t root[32];
    memset(root, 9, sizeof(root));
    char rb[LX_HASH_B64_LEN + 1];
    lx_b64url_encode(root, 32, rb);
    const char *ts = "2026-11-23T10:00:01.000000Z";
    lx_strbuf_t c;
    lx_strbuf_init(&c, 4096);
    lx_tree_head_canon(12345, rb, ts, &c);
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(sk, LX_TREE_HEAD_CONTEXT, c.base, c.len, sig);
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "{\"tree_size\":12345,\"root_hash\":\"%s\",\"timestamp\":\"%s\",\"key_id\":\"%s\",\"signature\":\"%s\"}",
                     rb, ts, kid, sig);
    json_t *doc = json_loadb(head, (size_t)n, 0, NULL);
    lx_tree_head_t th;
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_tree_head_verify(doc, "/head", &ring, &th, &err), LX_OK);
    CHECK(th.tree_size == 12345 && memcmp(th.root, root, 32) == 0);
    json_decref(doc);
    unsigned accepted = 0;
    for (int i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            head[i] ^= (char)(1 << bit);
            json_t *d = json_loadb(head, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
            lx_error_init(&err);
            if (d != NULL && lx_tree_head_verify(d, "", &ring, &th, &err) == LX_OK) accepted++;
            json_decref(d);
            head[i] ^= (char)(1 << bit);
        }
    CHECK_EQ_INT(accepted, 0);
    lx_strbuf_free(&c);
}

static void test_known_answers_and_keyring(void)
{
    uint8_t seq[32], key[32];
    for (int i = 0; i < 32; i++) seq[i] = (uint8_t)i;
    char id[LX_KEY_ID_LEN + 1];
    lx_receipt_key_id(seq, id);
    CHECK_EQ_STR(id, "cb2f5160fc1f7e05"); /* hashlib.blake2b(bytes(range(32)), digest_size=32).hexdigest()[:16] */
    memset(key, 7, sizeof(key));
    char d[LX_HASH_B64_LEN + 1];
    lx_lead_digest(key, "01234567-89ab-7def-8123-456789abcdef", d);
    CHECK_EQ_STR(d, "2WInz_9GwraVOxuqgyk8Y8q6qETcr61N2zvgZsKvSXs");

    lx_keyring_t r;
    lx_error_t err;
    const char *bad[] = {
        "{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"public_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\","
        "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":\"2025-01-01T00:00:00Z\"}]}",
        "{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e06\",\"public_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\","
        "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":null}]}",
        "{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"public_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
        "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":null}]}",
        "{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"public_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\","
        "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":null,\"x\":1}]}",
        "{\"keys\":{}}",
        "{\"keys\":[],\"keys\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        CHECK_CTX("bad keyring %zu", i);
        lx_error_init(&err);
        CHECK(lx_keyring_parse(bad[i], strlen(bad[i]), &r, &err) != LX_OK);
        CHECK(r.keys == NULL);
    }
    CHECK_CTX("%s", "");
    const char *good = "{\"keys\":[{\"key_id\":\"cb2f5160fc1f7e05\",\"public_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\","
                       "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":\"2026-06-01T00:00:00Z\"}]}";
    lx_error_init(&err);
    CHECK_EQ_INT(lx_keyring_parse(good, strlen(good), &r, &err), LX_OK);
    CHECK(r.n == 1 && lx_keyring_find(&r, "cb2f5160fc1f7e05", 16) != NULL);
    lx_keyring_free(&r);
}

static void test_rates(void)
{
    /* Informational only: never an assertion on time. */
    lx_strbuf_t body, rec;
    lx_strbuf_init(&body, 1 << 16);
    lx_strbuf_init(&rec, 1 << 16);
    lx_receipt_body_canon(&sale, &body);
    char sig[LX_SIG_B64_LEN + 1];
    struct timespec t0, t1;
    int n = 2000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        lx_strbuf_reset(&body);
        lx_receipt_body_canon(&sale, &body);
        lx_sign_b64(sk, LX_RECEIPT_CONTEXT, body.base, body.len, sig);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sign_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    lx_receipt_render(body.base, body.len, kid, sig, &rec);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        lx_receipt_view_t v;
        if (verify_bytes(rec.base, rec.len, &v) == LX_OK) lx_receipt_view_clear(&v);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double verify_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("receipts: body+sign %.0f/s, parse+verify %.0f/s (one core, informational)\n", n / sign_s, n / verify_s);
    lx_strbuf_free(&body);
    lx_strbuf_free(&rec);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    setup();
    test_fast_writer_is_canonical();
    test_round_trip_and_entry();
    test_every_bit_flip_is_refused();
    test_strictness();
    test_tree_heads();
    test_known_answers_and_keyring();
    test_rates();
    lx_keyring_free(&ring);
    return check_summary();
}
