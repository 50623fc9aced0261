/*
 * Receipt rows for lx_receipts_insert. The signed body is carried as a JSON
 * string so the database stores exactly the bytes that were signed; the
 * columns beside it repeat what queries and the entries trigger need.
 */
#include "billing/receipts.h"
#include "util/id.h"

#include <inttypes.h>
#include <string.h>

lx_db_stmt_t lx_receipts_insert = {
    "lx_receipts_insert",
    "WITH r AS (INSERT INTO receipts (id, account_id, kind, book, ledger_txn, amount, currency, lead_id, sale_id, "
    "reverses, issued_at, body, key_id, signature) "
    "SELECT x.id, x.account_id, x.kind, x.book, x.ledger_txn, x.amount, x.currency, x.lead_id, x.sale_id, x.reverses, "
    "x.issued_at, x.body, x.key_id, x.signature "
    "FROM json_to_recordset($1::json) AS x(id uuid, account_id uuid, kind text, book text, ledger_txn uuid, "
    "amount bigint, currency text, lead_id uuid, sale_id uuid, reverses uuid, issued_at timestamptz, body text, "
    "key_id text, signature text) RETURNING id) "
    "INSERT INTO receipt_queue (receipt_id) SELECT id FROM r",
    1, -1};

const char *lx_receipts_book(lx_book_t book)
{
    return lx_book_name(book);
}

void lx_receipts_open(lx_strbuf_t *rows)
{
    lx_strbuf_reset(rows);
    lx_strbuf_puts(rows, "[");
}

void lx_receipts_close(lx_strbuf_t *rows)
{
    lx_strbuf_puts(rows, "]");
    lx_strbuf_append(rows, "", 1);
}

static void put_str(lx_strbuf_t *sb, const char *key, const char *value)
{
    if (value == NULL) return;
    lx_strbuf_printf(sb, ",\"%s\":", key);
    lx_strbuf_append_json_string(sb, value, strlen(value));
}

void lx_receipts_add(lx_strbuf_t *rows, lx_strbuf_t *scratch, const lx_keys_t *keys, lx_book_t book,
                     const lx_receipt_body_t *b, char id_out[37])
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
    lx_strbuf_reset(scratch);
    lx_receipt_body_canon(&body, scratch);
    char sig[LX_SIG_B64_LEN + 1];
    lx_sign_b64(keys->receipt_sk, LX_RECEIPT_CONTEXT, scratch->base, scratch->len, sig);

    if (rows->len > 1) lx_strbuf_puts(rows, ",");
    lx_strbuf_printf(rows, "{\"id\":\"%s\",\"account_id\":\"%s\",\"kind\":\"%s\",\"book\":\"%s\",\"ledger_txn\":\"%s\","
                           "\"amount\":%" PRId64 ",\"currency\":\"%s\",\"issued_at\":\"%s\",\"key_id\":\"%s\","
                           "\"signature\":\"%s\"",
                     body.id, body.account, body.kind, lx_book_name(book), body.ledger_txn, body.amount, body.currency,
                     body.issued_at, keys->receipt_key_id, sig);
    put_str(rows, "lead_id", body.lead_id);
    put_str(rows, "sale_id", body.sale_id);
    put_str(rows, "reverses", body.reverses);
    lx_strbuf_puts(rows, ",\"body\":");
    lx_strbuf_append_json_string(rows, scratch->base, scratch->len);
    lx_strbuf_puts(rows, "}");
}
