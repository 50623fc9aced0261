/*
 * Posting to the double-entry ledger: the one way money moves.
 *
 * Every money path (deposits, real-time sales, inventory purchases, later
 * refunds, settlements and payouts) builds its transactions and entries as
 * column arrays with the helpers below (sent as binary PostgreSQL arrays,
 * db/pgarr.h: no JSON for the database to parse) and runs the two statements,
 * in this order, inside its own transaction: the transactions first, then
 * their entries. A book is named by (owner account, book, currency); the
 * platform's books have no owner. The database does the rest
 * (migrations/0004_market.sql): each INSERT of entries must balance per
 * transaction and currency, every entry must name an existing book of its
 * currency, and the balance rows move with their entries under a CHECK that
 * keeps them at or above their floor (an advertiser's is minus its credit
 * limit; 23514 from the entries statement means "would go below"). Entries
 * whose book does not exist are dropped by the join and so make the
 * transaction unbalanced: nothing half-posted can commit.
 */
#ifndef LX_BILLING_LEDGER_H
#define LX_BILLING_LEDGER_H

#include <stdint.h>

#include "db/pgarr.h"
#include "db/pool.h"

typedef enum {
    LX_BOOK_BALANCE = 0, /* an advertiser's spendable money */
    LX_BOOK_PENDING,     /* a webmaster's payouts inside the return window */
    LX_BOOK_AVAILABLE,   /* a webmaster's payouts it may withdraw */
    LX_BOOK_REVENUE,     /* the platform's fees (no owner) */
    LX_BOOK_CASH,        /* money outside leadx: deposits come from it, payouts go to it (no owner) */
} lx_book_t;
const char *lx_book_name(lx_book_t b);

/* The columns of the two statements' parameters, in parameter order. */
enum { LX_TXN_ID, LX_TXN_KIND, LX_TXN_CURRENCY, LX_TXN_REFERENCE, LX_TXN_LEAD, LX_TXN_BY, LX_TXN_NCOLS };
enum { LX_ENTRY_TXN, LX_ENTRY_OWNER, LX_ENTRY_BOOK, LX_ENTRY_AMOUNT, LX_ENTRY_CURRENCY, LX_ENTRY_NCOLS };

/* $1..$LX_TXN_NCOLS: lx_ledger_rows_t.txn */
extern lx_db_stmt_t lx_ledger_insert_txns;
/* $1..$LX_ENTRY_NCOLS: lx_ledger_rows_t.entry */
extern lx_db_stmt_t lx_ledger_insert_entries;

/* A money path's transactions and entries under construction. Zeroed memory is a valid empty, unstarted value. */
typedef struct st_lx_ledger_rows_t {
    lx_pgarr_t txn[LX_TXN_NCOLS];
    lx_pgarr_t entry[LX_ENTRY_NCOLS];
} lx_ledger_rows_t;

/* Empties the rows (keeping their memory) for a new posting. */
void lx_ledger_rows_start(lx_ledger_rows_t *r);
void lx_ledger_rows_free(lx_ledger_rows_t *r);

/* reference, lead_id and created_by may be NULL. */
void lx_ledger_txn(lx_ledger_rows_t *r, const char *id, const char *kind, const char *currency, const char *reference,
                   const char *lead_id, const char *created_by);
/* owner NULL: the platform's book. A zero amount moves nothing and appends nothing. */
void lx_ledger_entry(lx_ledger_rows_t *r, const char *txn_id, const char *owner, lx_book_t book, int64_t amount,
                     const char *currency);

#endif
