/*
 * Issuing receipts: the one way a money path writes them (DESIGN.md §4
 * invariant 5). Beside its ledger transactions and entries (billing/ledger.h)
 * a money path builds a third JSON document with lx_receipts_add, one receipt
 * per account the transaction touches, signed here in C with the server's
 * current receipt key, and runs lx_receipts_insert BEFORE the entries
 * statement in the same database transaction: the entries trigger refuses
 * entries whose accounts lack matching receipts. The insert also queues each
 * receipt for the transparency-log sequencer (billing/sequencer.h).
 */
#ifndef LX_BILLING_RECEIPTS_H
#define LX_BILLING_RECEIPTS_H

#include "billing/ledger.h"
#include "billing/receipt.h"
#include "db/pool.h"
#include "keys.h"
#include "util/strbuf.h"
#include "util/time.h"

/* $1: the JSON array built below. Inserts the receipts and their queue rows. */
extern lx_db_stmt_t lx_receipts_insert;

void lx_receipts_open(lx_strbuf_t *rows);
/* Closes the array and NUL-terminates it (a text parameter). */
void lx_receipts_close(lx_strbuf_t *rows);

/*
 * Signs body `b` with the current receipt key and appends its row. `book` is the book b->amount moves (an advertiser's
 * balance; a webmaster's pending for sales and refunds, available for settlements and payouts). b->issued_at may be
 * NULL: now. b->id may be NULL: a new UUIDv7 (written to id_out when not NULL). `scratch` is reused between calls.
 */
void lx_receipts_add(lx_strbuf_t *rows, lx_strbuf_t *scratch, const lx_keys_t *keys, lx_book_t book,
                     const lx_receipt_body_t *b, char id_out[37]);

/* The receipt-facing name of a book ("balance", "pending", "available"). */
const char *lx_receipts_book(lx_book_t book);

#endif
