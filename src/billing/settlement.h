/*
 * Settlement (issue 5 item 7, DESIGN.md §3): a background thread of `leadx serve` that moves each sale's payout from
 * the webmaster's pending book to its available book once the sale's return window (its niche's
 * return_window_hours after the sale) has passed and no return on it is pending.
 *
 * Each round is ONE database transaction on the thread's own blocking connection: take up to
 * LX_SETTLEMENT_BATCH_MAX due sales (unrefunded, unsettled) FOR UPDATE OF sales SKIP LOCKED, re-read which of them
 * have no pending return in a statement of its own (its snapshot is taken after the locks were granted: a return
 * created meanwhile has locked the sale row first and committed, so it is seen), group them per webmaster and
 * currency, and write one 'settlement' ledger transaction per group (pending -sum, available +sum) with one
 * settlement receipt (+sum, the available book), and mark the sales settled (settled_at, settle_txn); COMMIT.
 * A settled sale is never taken again and SKIP LOCKED keeps two processes off the same sales, so any number of
 * server processes may run it; a crash rolls the round back and a later round redoes it.
 */
#ifndef LX_BILLING_SETTLEMENT_H
#define LX_BILLING_SETTLEMENT_H

#include <stdint.h>

#include "keys.h"

typedef struct st_lx_settlement_t lx_settlement_t;

#define LX_SETTLEMENT_BATCH_MAX 1000 /* sales per round (a full round is followed by the next at once) */

/* Starts the thread (connects by itself, retrying with back-off; never fails). `keys` is borrowed. */
lx_settlement_t *lx_settlement_start(const char *conninfo, const lx_keys_t *keys, int64_t interval_ms);
/* Stops and joins the thread; a round in flight is cancelled and rolls back. Frees `s`. */
void lx_settlement_stop(lx_settlement_t *s);

#endif
