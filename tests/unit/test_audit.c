/*
 * The audit report's C checks (billing/audit.h): the action chain's hash
 * against an independent known answer (Python hashlib) and its walk over a
 * gap, a changed row and a head that is not the last row; a stored receipt
 * that is right, and each way it can be wrong (a column, the body's bytes,
 * canonical form, the signature, the logged entry, the lead digest); the log
 * walk over a tree built here, with every stored leaf, node and signed head
 * right, then one of each wrong or missing; and the per-check listing cap.
 */
#include "billing/audit.h"
#include "util/b64.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static uint8_t pk[32], sk[64];
static lx_keyring_t ring;
static char kid[LX_KEY_ID_LEN + 1];

static void setup(void)
{
    uint8_t seed[32];
    memset(seed, 7, sizeof(seed));
    crypto_sign_seed_keypair(pk, sk, seed);
    lx_receipt_key_id(pk, kid);
    char pkb[LX_PK_B64_LEN + 1], json[512];
    lx_b64url_encode(pk, 32, pkb);
    snprintf(json, sizeof(json),
             "{\"keys\":[{\"key_id\":\"%s\",\"public_key\":\"%s\",\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":null}]}",
             kid, pkb);
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_keyring_parse(json, strlen(json), &ring, &err), LX_OK);
}

static json_int_t count_of(const lx_audit_t *au, const char *check)
{
    json_t *v = json_object_get(au->totals, check);
    return v != NULL ? json_integer_value(v) : 0;
}

/* ---- the action chain ---- */

static void make_row(lx_audit_action_t *row, int64_t seq, const uint8_t prev[32], const char *details)
{
    memset(row, 0, sizeof(*row));
    row->seq = seq;
    row->at = "2026-11-23T10:00:00.000000Z";
    row->operator_id = "019a0000-0000-7000-8000-0000000000aa";
    row->action = "deposit.create";
    row->target = "019a0000-0000-7000-8000-0000000000bb";
    row->details = details;
    memcpy(row->prev_hash, prev, 32);
    row->have_prev = row->have_hash = 1;
    lx_audit_action_hash(prev, seq, row->at, row->operator_id, row->action, row->target, details, row->hash);
}

static void test_action_chain(void)
{
    CHECK_CTX("action chain");
    uint8_t zero[32] = {0};
    lx_audit_action_t rows[4];
    make_row(&rows[0], 1, zero, "{\"amount\": 5, \"currency\": \"USD\"}");
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), rows[0].hash, 32);
    CHECK_EQ_STR(hex, "f5277b713f5d0556ae2f7ffea80af663db3f90cc311f03819d2fdc46009ccbb1"); /* Python hashlib */
    for (int i = 1; i < 4; i++) make_row(&rows[i], i + 1, rows[i - 1].hash, "{}");
    CHECK(lx_audit_action_ok(&rows[0], zero));
    CHECK(lx_audit_action_ok(&rows[2], rows[1].hash));
    CHECK(!lx_audit_action_ok(&rows[2], rows[0].hash));

    lx_audit_t au;
    lx_audit_init(&au, 100);
    lx_audit_chain_t c;
    lx_audit_chain_init(&c);
    for (int i = 0; i < 4; i++) lx_audit_chain_row(&c, &au, &rows[i]);
    lx_audit_chain_finish(&c, &au, 4, rows[3].hash);
    CHECK_EQ_INT(au.total, 0);
    lx_audit_free(&au);

    /* Row 2 gone: one gap; a changed row 3: its hash no longer recomputes; the head names a row that is gone. */
    lx_audit_init(&au, 100);
    lx_audit_chain_init(&c);
    lx_audit_chain_row(&c, &au, &rows[0]);
    lx_audit_chain_row(&c, &au, &rows[2]);
    CHECK_EQ_INT(count_of(&au, "action_chain"), 1);
    lx_audit_action_t changed = rows[3];
    changed.details = "{\"amount\": 6}";
    lx_audit_chain_row(&c, &au, &changed);
    CHECK_EQ_INT(count_of(&au, "action_chain"), 2);
    lx_audit_chain_finish(&c, &au, 5, rows[3].hash);
    CHECK_EQ_INT(count_of(&au, "action_chain"), 3);
    json_t *first = json_array_get(au.discrepancies, 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(first, "seq")), 3);
    lx_audit_free(&au);
}

/* ---- receipts ---- */

static const lx_receipt_body_t sale = {.id = "019a0000-0000-7000-8000-000000000001",
                                       .kind = "sale",
                                       .issued_at = "2026-11-23T10:00:00.000000Z",
                                       .account = "019a0000-0000-7000-8000-0000000000aa",
                                       .ledger_txn = "019a0000-0000-7000-8000-0000000000bb",
                                       .amount = -1500,
                                       .currency = "USD",
                                       .lead_id = "019a0000-0000-7000-8000-0000000000cc",
                                       .niche = "loans",
                                       .region = "US-CA",
                                       .mode = "shared",
                                       .share_index = 1,
                                       .sale_id = "019a0000-0000-7000-8000-0000000000dd"};

typedef struct {
    lx_strbuf_t body, entry;
    char sig[LX_SIG_B64_LEN + 1], digest[LX_HASH_B64_LEN + 1];
    lx_audit_receipt_row_t row;
} stored_t;

static void store(stored_t *s, const uint8_t digest_key[32])
{
    lx_receipt_body_t b = sale;
    lx_lead_digest(digest_key, b.lead_id, s->digest);
    b.lead_digest = s->digest;
    lx_strbuf_init(&s->body, 1 << 16);
    lx_strbuf_init(&s->entry, 1 << 16);
    lx_receipt_body_canon(&b, &s->body);
    lx_sign_b64(sk, LX_RECEIPT_CONTEXT, s->body.base, s->body.len, s->sig);
    lx_strbuf_t r;
    lx_strbuf_init(&r, 1 << 16);
    lx_receipt_render(s->body.base, s->body.len, kid, s->sig, &r);
    char hash[LX_HASH_B64_LEN + 1];
    lx_sha256_b64(r.base, r.len, hash);
    lx_strbuf_free(&r);
    lx_log_entry_canon("sale", hash, s->digest, "shared", 1, &s->entry);
    s->row = (lx_audit_receipt_row_t){.id = b.id,
                                      .account_id = b.account,
                                      .kind = "sale",
                                      .ledger_txn = b.ledger_txn,
                                      .amount = "-1500",
                                      .currency = "USD",
                                      .lead_id = b.lead_id,
                                      .sale_id = b.sale_id,
                                      .issued_at = b.issued_at,
                                      .body = s->body.base,
                                      .body_len = s->body.len,
                                      .key_id = kid,
                                      .signature = s->sig,
                                      .log_index = "7",
                                      .log_entry = s->entry.base,
                                      .log_entry_len = s->entry.len};
}

static void test_receipts(void)
{
    uint8_t dkey[32], other[32];
    memset(dkey, 3, sizeof(dkey));
    memset(other, 4, sizeof(other));
    stored_t s;
    store(&s, dkey);
    lx_audit_t au;

    CHECK_CTX("a sound receipt");
    lx_audit_init(&au, 100);
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &s.row), 1);
    s.row.log_index = NULL, s.row.log_entry = NULL; /* not sequenced yet: nothing to compare */
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &s.row), 1);
    CHECK_EQ_INT(au.total, 0);
    lx_audit_free(&au);
    lx_strbuf_free(&s.body);
    lx_strbuf_free(&s.entry);
    store(&s, dkey);

    CHECK_CTX("columns");
    lx_audit_init(&au, 100);
    lx_audit_receipt_row_t row = s.row;
    row.amount = "-1499";
    row.reverses = "019a0000-0000-7000-8000-0000000000ee";
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &row), 1); /* the signature is fine, the columns are not */
    CHECK_EQ_INT(count_of(&au, "receipt_body"), 2);
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, other, &s.row), 1); /* the digest is not this key's */
    CHECK_EQ_INT(count_of(&au, "receipt_body"), 3);
    CHECK_EQ_INT(au.total, 3);
    lx_audit_free(&au);

    CHECK_CTX("body bytes");
    lx_audit_init(&au, 100);
    char *p = strstr(s.body.base, "\"USD\"");
    p[3] = 'E'; /* "USE": still canonical JSON, no longer what was signed or logged */
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &s.row), 0);
    CHECK_EQ_INT(count_of(&au, "receipt_signature"), 1);
    CHECK_EQ_INT(count_of(&au, "receipt_body"), 1);
    CHECK_EQ_INT(count_of(&au, "log_entry"), 1);
    p[3] = 'D';
    row = s.row;
    row.body = "{\"v\": 1}";
    row.body_len = strlen(row.body);
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &row), 0);
    row.body = "not json";
    row.body_len = strlen(row.body);
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &row), 0);
    CHECK_EQ_INT(count_of(&au, "receipt_signature"), 4); /* not canonical + does not verify, then not JSON */
    lx_audit_free(&au);

    CHECK_CTX("signature and entry");
    lx_audit_init(&au, 100);
    row = s.row;
    char sig[LX_SIG_B64_LEN + 1];
    memcpy(sig, s.sig, sizeof(sig));
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    row.signature = sig;
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &row), 0);
    CHECK_EQ_INT(count_of(&au, "receipt_signature"), 1);
    CHECK_EQ_INT(count_of(&au, "log_entry"), 1); /* the receipt hash covers the signature */
    row = s.row;
    row.log_entry = "{}";
    row.log_entry_len = 2;
    CHECK_EQ_INT(lx_audit_receipt(&au, &ring, dkey, &row), 1);
    CHECK_EQ_INT(count_of(&au, "log_entry"), 2);
    lx_audit_free(&au);
    lx_strbuf_free(&s.body);
    lx_strbuf_free(&s.entry);
}

/* ---- the log ---- */

#define NLEAVES 50 /* stored nodes (levels 4 and up, billing/merkle.h): (4, 0..2) and (5, 0) */

static struct {
    lx_hash_t h[7][NLEAVES];
    int have[7][NLEAVES];
} nodes;

static void keep_node(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h)
{
    (void)ctx;
    nodes.h[level][index] = *h;
    nodes.have[level][index] = 1;
}

static const lx_hash_t *get_node(void *ctx, unsigned level, uint64_t index)
{
    (void)ctx;
    return level < 7 && index < NLEAVES && nodes.have[level][index] ? &nodes.h[level][index] : NULL;
}

static char entries[NLEAVES][64];
static json_t *heads[4];
static const uint64_t head_sizes[4] = {0, 1, 5, NLEAVES};

static json_t *signed_head(uint64_t size, const lx_hash_t *root)
{
    char rb[LX_HASH_B64_LEN + 1], sig[LX_SIG_B64_LEN + 1];
    lx_b64url_encode(root->h, 32, rb);
    const char *ts = "2026-11-23T10:00:01.000000Z";
    lx_strbuf_t c;
    lx_strbuf_init(&c, 4096);
    lx_tree_head_canon(size, rb, ts, &c);
    lx_sign_b64(sk, LX_TREE_HEAD_CONTEXT, c.base, c.len, sig);
    lx_strbuf_free(&c);
    return json_pack("{s:I, s:s, s:s, s:s, s:s}", "tree_size", (json_int_t)size, "root_hash", rb, "timestamp", ts, "key_id", kid,
                     "signature", sig);
}

static void build_log(void)
{
    memset(&nodes, 0, sizeof(nodes));
    lx_merkle_frontier_t f;
    memset(&f, 0, sizeof(f));
    int h = 0;
    for (uint64_t i = 0; i <= NLEAVES; i++) {
        if (h < 4 && head_sizes[h] == i) {
            lx_hash_t root;
            lx_merkle_frontier_root(&f, &root);
            heads[h++] = signed_head(i, &root);
        }
        if (i == NLEAVES) break;
        snprintf(entries[i], sizeof(entries[i]), "{\"kind\":\"deposit\",\"n\":%u}", (unsigned)i);
        lx_hash_t leaf;
        lx_merkle_leaf_hash(entries[i], strlen(entries[i]), &leaf);
        lx_merkle_frontier_append(&f, &leaf, keep_node, NULL);
    }
}

/* Walks the stored log, leaving out entry `skip` (-1: none); returns the findings. */
static void walk(lx_audit_t *au, int skip)
{
    lx_audit_init(au, 100);
    lx_audit_log_t lg;
    lx_audit_log_init(&lg);
    int h = 0;
    for (uint64_t i = 0; i < NLEAVES; i++) {
        for (; h < 4 && head_sizes[h] <= i; h++) lx_audit_log_head(&lg, au, &ring, heads[h]);
        if ((int)i == skip) continue;
        lx_audit_log_entry(&lg, au, i, entries[i], strlen(entries[i]), get_node, NULL);
    }
    for (; h < 4; h++) lx_audit_log_head(&lg, au, &ring, heads[h]);
    CHECK_EQ_INT(lg.heads, 4);
}

static void test_log(void)
{
    build_log();
    lx_audit_t au;
    CHECK_CTX("a sound log");
    walk(&au, -1);
    CHECK_EQ_INT(au.total, 0);
    lx_audit_free(&au);

    CHECK_CTX("a changed entry");
    entries[3][2] = 'K';
    walk(&au, -1);
    CHECK_EQ_INT(count_of(&au, "log_node"), 2);      /* (4, 0) and (5, 0) cover it */
    CHECK_EQ_INT(count_of(&au, "log_head_root"), 2); /* the heads of sizes 5 and 50 */
    CHECK_EQ_INT(au.total, 4);
    lx_audit_free(&au);
    entries[3][2] = 'k';

    CHECK_CTX("nodes below the stored levels are not looked up");
    static int have[7][NLEAVES];
    memcpy(have, nodes.have, sizeof(have));
    for (int level = 0; level < LX_MERKLE_STORED_LEVEL; level++)
        for (int i = 0; i < NLEAVES; i++) nodes.have[level][i] = 0;
    walk(&au, -1);
    CHECK_EQ_INT(au.total, 0);
    lx_audit_free(&au);
    memcpy(nodes.have, have, sizeof(have));

    CHECK_CTX("a changed and a missing node");
    nodes.h[4][1].h[31] ^= 0x80;
    nodes.have[5][0] = 0;
    walk(&au, -1);
    CHECK_EQ_INT(count_of(&au, "log_node"), 2);
    CHECK_EQ_INT(au.total, 2);
    lx_audit_free(&au);
    nodes.h[4][1].h[31] ^= 0x80;
    nodes.have[5][0] = 1;

    CHECK_CTX("a head's root");
    json_t *saved = heads[2];
    heads[2] = json_deep_copy(saved);
    json_object_set(heads[2], "root_hash", json_object_get(heads[3], "root_hash"));
    walk(&au, -1);
    CHECK_EQ_INT(count_of(&au, "log_head_root"), 1);
    CHECK_EQ_INT(count_of(&au, "log_head_signature"), 1);
    CHECK_EQ_INT(au.total, 2);
    lx_audit_free(&au);
    json_decref(heads[2]);
    heads[2] = saved;

    CHECK_CTX("a missing entry");
    walk(&au, 7);
    CHECK_EQ_INT(count_of(&au, "log_size"), 1);
    CHECK_EQ_INT(count_of(&au, "log_head_root"), 1); /* the last head cannot be recomputed */
    lx_audit_free(&au);
    for (int i = 0; i < 4; i++) json_decref(heads[i]);
}

static void test_cap(void)
{
    CHECK_CTX("cap");
    lx_audit_t au;
    lx_audit_init(&au, 2);
    for (int i = 0; i < 5; i++) lx_audit_add(&au, "ledger_balanced", NULL, "finding %d", i);
    lx_audit_add_unlisted(&au, "ledger_balanced", 10);
    lx_audit_add_json(&au, json_pack("{s:s, s:s}", "check", "lead_sales", "detail", "x"));
    lx_audit_add_json(&au, json_pack("{s:s}", "detail", "no check"));
    CHECK_EQ_INT(json_array_size(au.discrepancies), 4); /* two of five, lead_sales, and the malformed one as "audit" */
    CHECK_EQ_INT(count_of(&au, "ledger_balanced"), 15);
    CHECK_EQ_INT(count_of(&au, "audit"), 1);
    CHECK_EQ_INT(au.total, 17);
    lx_audit_free(&au);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    setup();
    test_action_chain();
    test_receipts();
    test_log();
    test_cap();
    lx_keyring_free(&ring);
    return check_summary();
}
