/*
 * Unit tests for src/billing/returns.h: the published reasons and which allow resale, the niche's text[] policy
 * column as PostgreSQL prints it, the policy's rate arithmetic at its edges, and the refund's documents: the exact
 * negation of the sale's entries, one receipt per account touched (none for a zero payout), each signed (verified
 * here with the same verifier `leadx verify` uses), reversing the same account's sale receipt and carrying the sale's
 * lead fields; nothing at all when a sale receipt to reverse is missing.
 */
#include "billing/ledger.h"
#include "billing/receipt.h"
#include "billing/receipts.h"
#include "billing/returns.h"
#include "util/id.h"

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

static void test_reasons(void)
{
    static const char *const names[] = {"invalid_contact", "duplicate", "out_of_region", "fake", "other"};
    for (int i = 0; i < LX_RETURN__COUNT; i++) {
        CHECK_CTX("%s", names[i]);
        CHECK_EQ_STR(lx_return_reasons[i], names[i]);
        CHECK_EQ_INT(lx_return_reason_parse(names[i], strlen(names[i])), i);
        CHECK(lx_return_reason_description((lx_return_reason_t)i)[0] != '\0');
    }
    CHECK_CTX("%s", "");
    CHECK(lx_return_reasons[LX_RETURN__COUNT] == NULL);
    CHECK(!lx_return_reason_resale(LX_RETURN_INVALID_CONTACT));
    CHECK(!lx_return_reason_resale(LX_RETURN_FAKE));
    CHECK(lx_return_reason_resale(LX_RETURN_DUPLICATE));
    CHECK(lx_return_reason_resale(LX_RETURN_OUT_OF_REGION));
    CHECK(lx_return_reason_resale(LX_RETURN_OTHER));
    static const char *const bad[] = {"", "FAKE", "fake ", "fak", "fakes", "invalid-contact", "other\0x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("bad %zu", i);
        CHECK_EQ_INT(lx_return_reason_parse(bad[i], i == 6 ? 7 : strlen(bad[i])), -1);
    }
    CHECK_CTX("%s", "");
}

static void test_from_pg(void)
{
    unsigned m = 99;
    CHECK_EQ_INT(lx_return_reasons_from_pg("{}", &m), 0);
    CHECK_EQ_INT(m, 0);
    CHECK_EQ_INT(lx_return_reasons_from_pg("{fake}", &m), 0);
    CHECK_EQ_INT(m, 1u << LX_RETURN_FAKE);
    CHECK_EQ_INT(lx_return_reasons_from_pg("{other,invalid_contact,duplicate}", &m), 0);
    CHECK_EQ_INT(m, (1u << LX_RETURN_OTHER) | (1u << LX_RETURN_INVALID_CONTACT) | (1u << LX_RETURN_DUPLICATE));
    static const char *const bad[] = {"",           "{",      "}",       "fake", "{fake,}", "{,fake}", "{fake,,other}",
                                      "{\"fake\"}", "{FAKE}", "{fake} ", "NULL"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("%s", bad[i]);
        CHECK_EQ_INT(lx_return_reasons_from_pg(bad[i], &m), -1);
    }
    CHECK_CTX("%s", "");
}

static void test_policy(void)
{
    unsigned dup = 1u << LX_RETURN_DUPLICATE;
    /* Not in the list: never, whatever the rate. */
    CHECK(!lx_return_auto_accept(dup, LX_RETURN_FAKE, 0, 1000, 10000));
    /* (accepted + 1) * 10000 <= bps * purchases, exactly at the edge. */
    CHECK(lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, 0, 1, 10000));
    CHECK(!lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, 0, 1, 9999));
    CHECK(lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, 0, 10, 1000));    /* 1 of 10 = 10 % */
    CHECK(!lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, 1, 10, 1000));   /* 2 of 10 */
    CHECK(lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, 1, 20, 1000));    /* 2 of 20 */
    CHECK(!lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, 0, 1000000, 0)); /* 0 bps: an operator decides all */
    CHECK(!lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, 0, 0, 10000));   /* no purchase counted: refuse */
    CHECK(!lx_return_auto_accept(dup, LX_RETURN_DUPLICATE, -1, 10, 10000));
    CHECK(lx_return_auto_accept(0x1f, LX_RETURN_OTHER, INT64_C(999999999), INT64_C(1000000000), 10000));
}

typedef struct {
    lx_keys_t keys;
    lx_pubkey_t pub;
    lx_keyring_t ring;
} fixture_t;

static void fixture(fixture_t *f)
{
    memset(f, 0, sizeof(*f));
    crypto_sign_keypair(f->keys.signer.pk, f->keys.signer.sk);
    lx_receipt_key_id(f->keys.signer.pk, f->keys.signer.key_id);
    randombytes_buf(f->keys.lead_digest_key, sizeof(f->keys.lead_digest_key));
    memcpy(f->pub.key_id, f->keys.signer.key_id, sizeof(f->pub.key_id));
    memcpy(f->pub.pk, f->keys.signer.pk, 32);
    f->pub.not_before_us = 0;
    f->pub.not_after_us = INT64_MAX;
    f->ring.keys = &f->pub;
    f->ring.n = 1;
}

static const lx_refund_sale_t SALE = {.sale_id = "01a20000-0000-7000-8000-000000000001",
                                      .lead_id = "01a20000-0000-7000-8000-000000000002",
                                      .buyer_id = "01a20000-0000-7000-8000-000000000003",
                                      .webmaster_id = "01a20000-0000-7000-8000-000000000004",
                                      .currency = "RUB",
                                      .niche = "loans",
                                      .region = "RU-MOW",
                                      .mode = "shared",
                                      .share_index = 2,
                                      .price = 20000,
                                      .fee = 3000,
                                      .payout = 17000,
                                      .buyer_receipt = "01a20000-0000-7000-8000-0000000000b1",
                                      .webmaster_receipt = "01a20000-0000-7000-8000-0000000000b2"};
#define TXN "01a20000-0000-7000-8000-0000000000f1"

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The rows of binary array columns (db/pgarr.h) as a JSON array of objects keyed by `names`, SQL NULLs left out:
 * uuids as text, int8 as integers, text as strings. */
static json_t *rows_json(lx_pgarr_t *cols, const char *const *names, int n)
{
    json_t *rows = json_array();
    for (int c = 0; c < n; c++) {
        lx_pgarr_finish(&cols[c]);
        const unsigned char *p = (const unsigned char *)cols[c].buf.base;
        uint32_t ndim = get32(p), oid = get32(p + 8), count = ndim == 0 ? 0 : get32(p + 12);
        p += ndim == 0 ? 12 : 20;
        for (uint32_t i = 0; i < count; i++) {
            if (json_array_size(rows) <= i) json_array_append_new(rows, json_object());
            uint32_t len = get32(p);
            p += 4;
            if (len == UINT32_MAX) continue;
            json_t *v;
            if (oid == LX_PG_UUID) {
                lx_uuid_t u;
                memcpy(u.b, p, 16);
                char text[LX_UUID_STRLEN + 1];
                lx_uuid_format(&u, text);
                v = json_string(text);
            } else if (oid == LX_PG_INT8) {
                uint64_t x = (uint64_t)get32(p) << 32 | get32(p + 4);
                v = json_integer((json_int_t)(int64_t)x);
            } else {
                v = json_stringn((const char *)p, len);
            }
            json_object_set_new(json_array_get(rows, i), names[c], v);
            p += len;
        }
    }
    return rows;
}

static const char *const TXN_NAMES[LX_TXN_NCOLS] = {"id", "kind", "currency", "reference", "lead_id", "created_by"};
static const char *const ENTRY_NAMES[LX_ENTRY_NCOLS] = {"t", "owner", "book", "amount", "currency"};
static const char *const RECEIPT_NAMES[LX_RCPT_NCOLS] = {"id",        "account_id", "kind",    "book",     "ledger_txn",
                                                         "amount",    "currency",   "lead_id", "sale_id",  "reverses",
                                                         "issued_at", "body",       "key_id",  "signature"};

/* Builds the refund of `s`; returns its rows (txns, entries, receipt rows) as JSON. */
static int build(const fixture_t *f, const lx_refund_sale_t *s, json_t **txns, json_t **entries, json_t **rows)
{
    lx_ledger_rows_t ledger = {0};
    lx_receipt_rows_t receipts = {0};
    lx_ledger_rows_start(&ledger);
    lx_receipts_start(&receipts);
    int rc = lx_refund_build(s, TXN, "01a20000-0000-7000-8000-0000000000c1", &f->keys, &ledger, &receipts);
    *txns = rows_json(ledger.txn, TXN_NAMES, LX_TXN_NCOLS);
    *entries = rows_json(ledger.entry, ENTRY_NAMES, LX_ENTRY_NCOLS);
    *rows = rows_json(receipts.col, RECEIPT_NAMES, LX_RCPT_NCOLS);
    lx_ledger_rows_free(&ledger);
    lx_receipts_free(&receipts);
    return rc;
}

static int64_t entry_amount(json_t *entries, const char *owner, const char *book)
{
    size_t i;
    json_t *x;
    int64_t sum = 0;
    json_array_foreach(entries, i, x)
    {
        json_t *o = json_object_get(x, "owner");
        int same_owner = owner == NULL ? o == NULL : json_is_string(o) && strcmp(json_string_value(o), owner) == 0;
        if (same_owner && strcmp(json_string_value(json_object_get(x, "book")), book) == 0)
            sum += json_integer_value(json_object_get(x, "amount"));
    }
    return sum;
}

/* Verifies one receipt row (its body as signed) and returns the parsed body (caller decrefs), or NULL. */
static json_t *verified_body(const fixture_t *f, json_t *row)
{
    json_t *body = json_loads(json_string_value(json_object_get(row, "body")), 0, NULL);
    if (!CHECK(body != NULL)) return NULL;
    json_t *receipt = json_pack("{s:O, s:O, s:O}", "body", body, "key_id", json_object_get(row, "key_id"), "signature",
                                json_object_get(row, "signature"));
    lx_receipt_view_t view;
    lx_error_t err;
    lx_error_init(&err);
    lx_status_t st = lx_receipt_verify(receipt, "", &f->ring, &view, &err);
    CHECK_EQ_INT(st, LX_OK);
    if (st == LX_OK) lx_receipt_view_clear(&view);
    json_decref(receipt);
    return body;
}

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_refund_documents(void)
{
    fixture_t f;
    fixture(&f);
    json_t *txns, *entries, *rows;
    CHECK_EQ_INT(build(&f, &SALE, &txns, &entries, &rows), 0);
    if (!CHECK(txns && entries && rows)) return;
    /* One transaction of kind refund naming the lead and the deciding operator. */
    CHECK_EQ_INT(json_array_size(txns), 1);
    json_t *t = json_array_get(txns, 0);
    CHECK_EQ_STR(str(t, "id"), TXN);
    CHECK_EQ_STR(str(t, "kind"), "refund");
    CHECK_EQ_STR(str(t, "lead_id"), SALE.lead_id);
    CHECK_EQ_STR(str(t, "created_by"), "01a20000-0000-7000-8000-0000000000c1");
    /* The sale's entries negated, summing to zero. */
    CHECK_EQ_INT(json_array_size(entries), 3);
    CHECK_EQ_INT(entry_amount(entries, SALE.buyer_id, "balance"), 20000);
    CHECK_EQ_INT(entry_amount(entries, SALE.webmaster_id, "pending"), -17000);
    CHECK_EQ_INT(entry_amount(entries, NULL, "revenue"), -3000);
    /* Two receipts, each verified, reversing its account's sale receipt, with the sale's lead fields. */
    CHECK_EQ_INT(json_array_size(rows), 2);
    char digest[LX_HASH_B64_LEN + 1];
    lx_lead_digest(f.keys.lead_digest_key, SALE.lead_id, digest);
    static const struct {
        const char *account, *book, *reverses;
        int64_t amount;
    } want[] = {{"01a20000-0000-7000-8000-000000000003", "balance", "01a20000-0000-7000-8000-0000000000b1", 20000},
                {"01a20000-0000-7000-8000-000000000004", "pending", "01a20000-0000-7000-8000-0000000000b2", -17000}};
    for (size_t i = 0; i < 2 && i < json_array_size(rows); i++) {
        CHECK_CTX("receipt %zu", i);
        json_t *row = json_array_get(rows, i);
        CHECK_EQ_STR(str(row, "account_id"), want[i].account);
        CHECK_EQ_STR(str(row, "book"), want[i].book);
        CHECK_EQ_STR(str(row, "kind"), "refund");
        CHECK_EQ_STR(str(row, "ledger_txn"), TXN);
        CHECK_EQ_STR(str(row, "reverses"), want[i].reverses);
        CHECK_EQ_STR(str(row, "sale_id"), SALE.sale_id);
        CHECK_EQ_INT(json_integer_value(json_object_get(row, "amount")), want[i].amount);
        json_t *b = verified_body(&f, row);
        if (b == NULL) continue;
        CHECK_EQ_STR(str(b, "kind"), "refund");
        CHECK_EQ_STR(str(b, "account"), want[i].account);
        CHECK_EQ_INT(json_integer_value(json_object_get(b, "amount")), want[i].amount);
        CHECK_EQ_STR(str(b, "currency"), "RUB");
        CHECK_EQ_STR(str(b, "reverses"), want[i].reverses);
        CHECK_EQ_STR(str(b, "lead_id"), SALE.lead_id);
        CHECK_EQ_STR(str(b, "lead_digest"), digest);
        CHECK_EQ_STR(str(b, "niche"), "loans");
        CHECK_EQ_STR(str(b, "region"), "RU-MOW");
        CHECK_EQ_STR(str(b, "mode"), "shared");
        CHECK_EQ_INT(json_integer_value(json_object_get(b, "share_index")), 2);
        CHECK_EQ_STR(str(b, "sale_id"), SALE.sale_id);
        CHECK_EQ_STR(str(b, "ledger_txn"), TXN);
        CHECK(json_object_get(b, "reference") == NULL);
        json_decref(b);
    }
    CHECK_CTX("%s", "");
    json_decref(txns);
    json_decref(entries);
    json_decref(rows);
}

static void test_zero_payout_and_zero_fee(void)
{
    fixture_t f;
    fixture(&f);
    json_t *txns, *entries, *rows;
    lx_refund_sale_t s = SALE;
    s.fee = s.price, s.payout = 0, s.webmaster_receipt = NULL; /* a 100 % fee: the supplier's books never moved */
    CHECK_EQ_INT(build(&f, &s, &txns, &entries, &rows), 0);
    CHECK_EQ_INT(json_array_size(rows), 1);
    CHECK_EQ_STR(str(json_array_get(rows, 0), "account_id"), s.buyer_id);
    CHECK_EQ_INT(json_array_size(entries), 2);
    CHECK_EQ_INT(entry_amount(entries, NULL, "revenue"), -20000);
    json_decref(txns), json_decref(entries), json_decref(rows);
    s = SALE;
    s.fee = 0, s.payout = s.price; /* no fee: no revenue entry */
    CHECK_EQ_INT(build(&f, &s, &txns, &entries, &rows), 0);
    CHECK_EQ_INT(json_array_size(entries), 2);
    CHECK_EQ_INT(json_array_size(rows), 2);
    json_decref(txns), json_decref(entries), json_decref(rows);
}

static void test_missing_sale_receipts(void)
{
    fixture_t f;
    fixture(&f);
    json_t *txns, *entries, *rows;
    lx_refund_sale_t s = SALE;
    s.buyer_receipt = NULL;
    CHECK_EQ_INT(build(&f, &s, &txns, &entries, &rows), -1);
    CHECK_EQ_INT(json_array_size(txns), 0);
    CHECK_EQ_INT(json_array_size(entries), 0);
    CHECK_EQ_INT(json_array_size(rows), 0);
    json_decref(txns), json_decref(entries), json_decref(rows);
    s = SALE;
    s.webmaster_receipt = NULL; /* a paid supplier must have its sale receipt */
    CHECK_EQ_INT(build(&f, &s, &txns, &entries, &rows), -1);
    CHECK_EQ_INT(json_array_size(rows), 0);
    json_decref(txns), json_decref(entries), json_decref(rows);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    test_reasons();
    test_from_pg();
    test_policy();
    test_refund_documents();
    test_zero_payout_and_zero_fee();
    test_missing_sale_receipts();
    return check_summary();
}
