/*
 * Issuing receipts: the one way a money path writes them (DESIGN.md §4
 * invariant 5). Beside its ledger transactions and entries (billing/ledger.h)
 * a money path builds its receipts as column arrays with lx_receipts_add, one
 * receipt per account the transaction touches, signed here in C with the
 * server's current receipt key, and runs lx_receipts_insert BEFORE the entries
 * statement in the same database transaction: the entries trigger refuses
 * entries whose accounts lack matching receipts. The insert also queues each
 * receipt for the transparency-log sequencer (billing/sequencer.h) with its
 * log entry, computed here beside the signature: the sequencer then reads a
 * narrow queue row instead of the wide receipt (billing/sequencer.c). The signed
 * body travels as its exact bytes (a text element), so the database stores
 * what was signed.
 */
#ifndef LX_BILLING_RECEIPTS_H
#define LX_BILLING_RECEIPTS_H

#include "billing/ledger.h"
#include "billing/receipt.h"
#include "db/pool.h"
#include "keys.h"
#include "util/strbuf.h"
#include "util/time.h"

/* The columns of lx_receipts_insert's parameters, in parameter order. */
enum {
    LX_RCPT_ID,
    LX_RCPT_ACCOUNT,
    LX_RCPT_KIND,
    LX_RCPT_BOOK,
    LX_RCPT_TXN,
    LX_RCPT_AMOUNT,
    LX_RCPT_CURRENCY,
    LX_RCPT_LEAD,
    LX_RCPT_SALE,
    LX_RCPT_REVERSES,
    LX_RCPT_ISSUED_AT,
    LX_RCPT_BODY,
    LX_RCPT_KEY_ID,
    LX_RCPT_SIGNATURE,
    LX_RCPT_ENTRY, /* the receipt's log entry (JCS), for its queue row */
    LX_RCPT_NCOLS
};

/* $1..$LX_RCPT_NCOLS: lx_receipt_rows_t.col. Inserts the receipts and their queue rows (each with its log entry). */
extern lx_db_stmt_t lx_receipts_insert;

/* Receipts under construction. Zeroed memory is a valid empty, unstarted value. */
typedef struct st_lx_receipt_rows_t {
    lx_pgarr_t col[LX_RCPT_NCOLS];
    lx_strbuf_t scratch; /* the canonical body being signed */
    lx_strbuf_t render;  /* the whole receipt being hashed, then its log entry */
} lx_receipt_rows_t;

/* Empties the rows (keeping their memory). */
void lx_receipts_start(lx_receipt_rows_t *rows);
void lx_receipts_free(lx_receipt_rows_t *rows);

/*
 * Signs body `b` with `signer` and appends its row. `book` is the book b->amount moves (an advertiser's balance; a
 * webmaster's pending for sales and refunds, available for settlements and payouts). b->issued_at may be NULL: now.
 * b->id may be NULL: a new UUIDv7 (written to id_out when not NULL).
 * Read `signer` with lx_keys_signer BEFORE taking the time a caller puts in b->issued_at: a key adopted after that
 * time is not valid yet at it, while the key read before stays valid for the rotation's grace (keys.h).
 */
void lx_receipts_add(lx_receipt_rows_t *rows, const lx_signer_t *signer, lx_book_t book, const lx_receipt_body_t *b,
                     char id_out[37]);

/* The receipt-facing name of a book ("balance", "pending", "available"). */
const char *lx_receipts_book(lx_book_t book);

#endif
