#include "billing/ledger.h"

#include <inttypes.h>
#include <string.h>

static const char *const book_names[] = {"balance", "pending", "available", "revenue", "cash"};

const char *lx_book_name(lx_book_t b)
{
    return book_names[b];
}

lx_db_stmt_t lx_ledger_insert_txns = {
    "lx_ledger_insert_txns",
    "INSERT INTO ledger_txns (id, kind, currency, reference, lead_id, created_by) "
    "SELECT x.id, x.kind, x.currency, x.reference, x.lead_id, x.created_by "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, kind text, currency text, reference text, lead_id uuid, "
    "created_by uuid)",
    1, -1};

/* Books are looked up by (owner, book, currency); the platform's have a NULL owner, matched as the nil uuid so the
 * join hashes on all three (an OR of IS NULLs cannot be hashed, and would compare every book of a currency). */
lx_db_stmt_t lx_ledger_insert_entries = {
    "lx_ledger_insert_entries",
    "INSERT INTO ledger_entries (txn_id, ledger_account_id, account_id, book, amount, currency) "
    "SELECT x.t, a.id, a.owner, a.book, x.amount, a.currency "
    "FROM jsonb_to_recordset($1::jsonb) AS x(t uuid, owner uuid, book text, amount bigint, currency text) "
    "JOIN ledger_accounts a ON a.book = x.book AND a.currency = x.currency "
    "AND coalesce(a.owner, '00000000-0000-0000-0000-000000000000') = "
    "coalesce(x.owner, '00000000-0000-0000-0000-000000000000') "
    "ORDER BY x.t",
    1, -1};

void lx_ledger_open(lx_strbuf_t *sb)
{
    lx_strbuf_reset(sb);
    lx_strbuf_puts(sb, "[");
}

static void separator(lx_strbuf_t *sb)
{
    if (sb->len > 1) lx_strbuf_puts(sb, ",");
}

static void put_opt(lx_strbuf_t *sb, const char *key, const char *value)
{
    if (value == NULL) return;
    lx_strbuf_printf(sb, ",\"%s\":", key);
    lx_strbuf_append_json_string(sb, value, strlen(value));
}

void lx_ledger_txn(lx_strbuf_t *txns, const char *id, const char *kind, const char *currency, const char *reference,
                   const char *lead_id, const char *created_by)
{
    separator(txns);
    lx_strbuf_printf(txns, "{\"id\":\"%s\",\"kind\":\"%s\",\"currency\":\"%s\"", id, kind, currency);
    put_opt(txns, "reference", reference);
    put_opt(txns, "lead_id", lead_id);
    put_opt(txns, "created_by", created_by);
    lx_strbuf_puts(txns, "}");
}

void lx_ledger_entry(lx_strbuf_t *entries, const char *txn_id, const char *owner, lx_book_t book, int64_t amount,
                     const char *currency)
{
    if (amount == 0) return;
    separator(entries);
    lx_strbuf_printf(entries, "{\"t\":\"%s\",\"book\":\"%s\",\"amount\":%" PRId64 ",\"currency\":\"%s\"", txn_id,
                     lx_book_name(book), amount, currency);
    put_opt(entries, "owner", owner);
    lx_strbuf_puts(entries, "}");
}

void lx_ledger_close(lx_strbuf_t *sb)
{
    lx_strbuf_puts(sb, "]");
    lx_strbuf_append(sb, "", 1);
}
