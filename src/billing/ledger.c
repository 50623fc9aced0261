#include "billing/ledger.h"

#include <string.h>

static const char *const book_names[] = {"balance", "pending", "available", "revenue", "cash"};

const char *lx_book_name(lx_book_t b)
{
    return book_names[b];
}

lx_db_stmt_t lx_ledger_insert_txns = {
    "lx_ledger_insert_txns",
    "INSERT INTO ledger_txns (id, kind, currency, reference, lead_id, created_by) "
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::uuid[])",
    LX_TXN_NCOLS, -1};

/* Books are looked up by (owner, book, currency); the platform's have a NULL owner, matched as the nil uuid so that
 * ledger_accounts_key (migrations/0008) serves the look-up, currency included (as char(3), the column's type). */
lx_db_stmt_t lx_ledger_insert_entries = {
    "lx_ledger_insert_entries",
    "INSERT INTO ledger_entries (txn_id, ledger_account_id, account_id, book, amount, currency) "
    "SELECT x.t, a.id, a.owner, a.book, x.amount, a.currency "
    "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::text[]) AS x(t, owner, book, amount, currency) "
    "JOIN ledger_accounts a ON a.book = x.book AND a.currency = x.currency::bpchar "
    "AND coalesce(a.owner, '00000000-0000-0000-0000-000000000000') = "
    "coalesce(x.owner, '00000000-0000-0000-0000-000000000000') "
    "ORDER BY x.t",
    LX_ENTRY_NCOLS, -1};

static const uint32_t txn_types[LX_TXN_NCOLS] = {LX_PG_UUID, LX_PG_TEXT, LX_PG_TEXT, LX_PG_TEXT, LX_PG_UUID, LX_PG_UUID};
static const uint32_t entry_types[LX_ENTRY_NCOLS] = {LX_PG_UUID, LX_PG_UUID, LX_PG_TEXT, LX_PG_INT8, LX_PG_TEXT};

void lx_ledger_rows_start(lx_ledger_rows_t *r)
{
    for (int i = 0; i < LX_TXN_NCOLS; i++) lx_pgarr_start(&r->txn[i], txn_types[i]);
    for (int i = 0; i < LX_ENTRY_NCOLS; i++) lx_pgarr_start(&r->entry[i], entry_types[i]);
}

void lx_ledger_rows_free(lx_ledger_rows_t *r)
{
    for (int i = 0; i < LX_TXN_NCOLS; i++) lx_pgarr_free(&r->txn[i]);
    for (int i = 0; i < LX_ENTRY_NCOLS; i++) lx_pgarr_free(&r->entry[i]);
}

void lx_ledger_txn(lx_ledger_rows_t *r, const char *id, const char *kind, const char *currency, const char *reference,
                   const char *lead_id, const char *created_by)
{
    lx_pgarr_uuid(&r->txn[LX_TXN_ID], id);
    lx_pgarr_text(&r->txn[LX_TXN_KIND], kind);
    lx_pgarr_text(&r->txn[LX_TXN_CURRENCY], currency);
    lx_pgarr_text(&r->txn[LX_TXN_REFERENCE], reference);
    lx_pgarr_uuid(&r->txn[LX_TXN_LEAD], lead_id);
    lx_pgarr_uuid(&r->txn[LX_TXN_BY], created_by);
}

void lx_ledger_entry(lx_ledger_rows_t *r, const char *txn_id, const char *owner, lx_book_t book, int64_t amount,
                     const char *currency)
{
    if (amount == 0) return;
    lx_pgarr_uuid(&r->entry[LX_ENTRY_TXN], txn_id);
    lx_pgarr_uuid(&r->entry[LX_ENTRY_OWNER], owner);
    lx_pgarr_text(&r->entry[LX_ENTRY_BOOK], lx_book_name(book));
    lx_pgarr_int8(&r->entry[LX_ENTRY_AMOUNT], amount);
    lx_pgarr_text(&r->entry[LX_ENTRY_CURRENCY], currency);
}
