/*
 * Receipt rows for lx_receipts_insert. The signed body is carried as its exact bytes (a text element of a binary
 * array) so the database stores exactly what was signed; the columns beside it repeat what queries and the entries
 * trigger need.
 */
#include "billing/receipts.h"
#include "util/id.h"

#include <stdlib.h>
#include <string.h>

lx_db_stmt_t lx_receipts_insert = {
    "lx_receipts_insert",
    "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::bigint[], $7::text[], "
    "$8::uuid[], $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]) AS x(id, "
    "account_id, kind, book, ledger_txn, amount, currency, lead_id, sale_id, reverses, issued_at, body, key_id, signature, "
    "entry)), "
    "r AS (INSERT INTO receipts (id, account_id, kind, book, ledger_txn, amount, currency, lead_id, sale_id, reverses, "
    "issued_at, body, key_id, signature) "
    "SELECT x.id, x.account_id, x.kind, x.book, x.ledger_txn, x.amount, x.currency, x.lead_id, x.sale_id, x.reverses, "
    "x.issued_at::timestamptz, x.body, x.key_id, x.signature FROM x) "
    "INSERT INTO receipt_queue (receipt_id, entry) SELECT x.id, x.entry FROM x",
    LX_RCPT_NCOLS, -1};

static const uint32_t receipt_types[LX_RCPT_NCOLS] = {
    [LX_RCPT_ID] = LX_PG_UUID,     [LX_RCPT_ACCOUNT] = LX_PG_UUID,   [LX_RCPT_KIND] = LX_PG_TEXT,      [LX_RCPT_BOOK] = LX_PG_TEXT,
    [LX_RCPT_TXN] = LX_PG_UUID,    [LX_RCPT_AMOUNT] = LX_PG_INT8,    [LX_RCPT_CURRENCY] = LX_PG_TEXT,  [LX_RCPT_LEAD] = LX_PG_UUID,
    [LX_RCPT_SALE] = LX_PG_UUID,   [LX_RCPT_REVERSES] = LX_PG_UUID,  [LX_RCPT_ISSUED_AT] = LX_PG_TEXT, [LX_RCPT_BODY] = LX_PG_TEXT,
    [LX_RCPT_KEY_ID] = LX_PG_TEXT, [LX_RCPT_SIGNATURE] = LX_PG_TEXT, [LX_RCPT_ENTRY] = LX_PG_TEXT,
};

const char *lx_receipts_book(lx_book_t book)
{
    return lx_book_name(book);
}

void lx_receipts_start(lx_receipt_rows_t *rows)
{
    for (int i = 0; i < LX_RCPT_NCOLS; i++) lx_pgarr_start(&rows->col[i], receipt_types[i]);
    if (rows->scratch.max == 0) lx_strbuf_init(&rows->scratch, (size_t)1 << 20);
    if (rows->render.max == 0) lx_strbuf_init(&rows->render, (size_t)1 << 20);
}

void lx_receipts_free(lx_receipt_rows_t *rows)
{
    for (int i = 0; i < LX_RCPT_NCOLS; i++) lx_pgarr_free(&rows->col[i]);
    lx_strbuf_free(&rows->scratch);
    lx_strbuf_free(&rows->render);
    memset(rows, 0, sizeof(*rows));
}

void lx_receipts_add(lx_receipt_rows_t *rows, const lx_signer_t *signer, lx_book_t book, const lx_receipt_body_t *b,
                     char id_out[37])
{
    lx_receipt_body_t body = *b;
    char id[LX_UUID_STRLEN + 1], ts[LX_TS_LEN + 1];
    if (body.id == NULL) {
        lx_uuid_t u;
        lx_uuid_v7_fast(&u);
        lx_uuid_format(&u, id);
        body.id = id;
    }
    if (body.issued_at == NULL) {
        lx_ts_format_us(lx_ts_now_us(), ts);
        body.issued_at = ts;
    }
    if (id_out != NULL) memcpy(id_out, body.id, LX_UUID_STRLEN + 1);
    lx_strbuf_t *canon = &rows->scratch;
    lx_strbuf_reset(canon);
    lx_receipt_body_canon(&body, canon);
    if (canon->overflow) abort(); /* cannot happen: a body is ids, a few short strings and integers (1 MiB cap) */
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(signer->sk, LX_RECEIPT_CONTEXT, canon->base, canon->len, sig);

    lx_pgarr_t *c = rows->col;
    lx_pgarr_uuid(&c[LX_RCPT_ID], body.id);
    lx_pgarr_uuid(&c[LX_RCPT_ACCOUNT], body.account);
    lx_pgarr_text(&c[LX_RCPT_KIND], body.kind);
    lx_pgarr_text(&c[LX_RCPT_BOOK], lx_book_name(book));
    lx_pgarr_uuid(&c[LX_RCPT_TXN], body.ledger_txn);
    lx_pgarr_int8(&c[LX_RCPT_AMOUNT], body.amount);
    lx_pgarr_text(&c[LX_RCPT_CURRENCY], body.currency);
    lx_pgarr_uuid(&c[LX_RCPT_LEAD], body.lead_id);
    lx_pgarr_uuid(&c[LX_RCPT_SALE], body.sale_id);
    lx_pgarr_uuid(&c[LX_RCPT_REVERSES], body.reverses);
    lx_pgarr_text(&c[LX_RCPT_ISSUED_AT], body.issued_at);
    lx_pgarr_bytes(&c[LX_RCPT_BODY], canon->base, canon->len);
    lx_pgarr_text(&c[LX_RCPT_KEY_ID], signer->key_id);
    lx_pgarr_text(&c[LX_RCPT_SIGNATURE], sig);

    /* Its log entry, as the sequencer would derive it from the stored receipt (the audit checks that it does). */
    char receipt_hash[LX_HASH_B64_LEN + 1];
    lx_receipt_hash(canon->base, canon->len, signer->key_id, sig, &rows->render, receipt_hash);
    int sale = strcmp(body.kind, "sale") == 0 || strcmp(body.kind, "refund") == 0;
    lx_strbuf_reset(&rows->render);
    lx_log_entry_canon(body.kind, receipt_hash, sale ? body.lead_digest : NULL, sale ? body.mode : NULL,
                       sale ? body.share_index : -1, &rows->render);
    if (rows->render.overflow) abort(); /* cannot happen, as above */
    lx_pgarr_bytes(&c[LX_RCPT_ENTRY], rows->render.base, rows->render.len);
}
