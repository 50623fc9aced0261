/*
 * Posting to the double-entry ledger: the one way money moves.
 *
 * Every money path (deposits, real-time sales, inventory purchases, later
 * refunds, settlements and payouts) builds two JSON documents with the
 * helpers below and runs the two statements, in this order, inside its own
 * transaction: the transactions first, then their entries. A book is named by
 * (owner account, book, currency); the platform's books have no owner. The
 * database does the rest (migrations/0004_market.sql): each INSERT of entries
 * must balance per transaction and currency, every entry must name an existing
 * book of its currency, and the balance rows move with their entries under a
 * CHECK that keeps them at or above their floor (an advertiser's is minus its
 * credit limit; 23514 from the entries statement means "would go below").
 * Entries whose book does not exist are dropped by the join and so make the
 * transaction unbalanced: nothing half-posted can commit.
 */
#ifndef LX_BILLING_LEDGER_H
#define LX_BILLING_LEDGER_H

#include <stdint.h>

#include "db/pool.h"
#include "util/strbuf.h"

typedef enum {
    LX_BOOK_BALANCE = 0, /* an advertiser's spendable money */
    LX_BOOK_PENDING,     /* a webmaster's payouts inside the return window */
    LX_BOOK_AVAILABLE,   /* a webmaster's payouts it may withdraw */
    LX_BOOK_REVENUE,     /* the platform's fees (no owner) */
    LX_BOOK_CASH,        /* money outside leadx: deposits come from it, payouts go to it (no owner) */
} lx_book_t;
const char *lx_book_name(lx_book_t b);

/* Parameter $1 of each: the JSON array built with the helpers below. */
extern lx_db_stmt_t lx_ledger_insert_txns;
extern lx_db_stmt_t lx_ledger_insert_entries;

/*
 * Appends one ledger transaction to `txns` (an array under construction: call lx_ledger_open first and
 * lx_ledger_close last). `reference`, `lead_id` and `created_by` may be NULL.
 */
void lx_ledger_txn(lx_strbuf_t *txns, const char *id, const char *kind, const char *currency, const char *reference,
                   const char *lead_id, const char *created_by);
/* Appends one entry of transaction `txn_id`: `owner` NULL for the platform's books. Zero amounts are skipped. */
void lx_ledger_entry(lx_strbuf_t *entries, const char *txn_id, const char *owner, lx_book_t book, int64_t amount,
                     const char *currency);
void lx_ledger_open(lx_strbuf_t *sb);
/* Closes the array and NUL-terminates it (a text parameter). An empty array posts nothing. */
void lx_ledger_close(lx_strbuf_t *sb);

#endif
