/*
 * The transparency-log sequencer (DESIGN.md §3 flow 8, §4 invariant 6): a
 * background thread of `leadx serve` that appends one log entry per committed
 * receipt and signs a tree head after every round that appended anything.
 *
 * Money paths only queue receipts (receipt_queue, in their own transaction,
 * billing/receipts.h); nothing on the hot path waits for the log. Each round
 * is ONE database transaction on the thread's own blocking connection: lock
 * log_state's row (FOR UPDATE SKIP LOCKED: any number of server processes may
 * run a sequencer, one appends at a time and the others skip the round), take
 * up to a batch of queued receipts in receipt-id order, compute their entries,
 * leaf hashes and the new perfect nodes in C (billing/merkle.h frontier), insert
 * log_entries and log_nodes in bulk, delete the queue rows, move
 * log_state.tree_size and insert the signed head; COMMIT. A crash anywhere
 * leaves either the whole round or none of it.
 *
 * An empty log gets a signed head of size 0 in the first round, so
 * GET /v1/log/head always has an answer once any server has started.
 */
#ifndef LX_BILLING_SEQUENCER_H
#define LX_BILLING_SEQUENCER_H

#include <stdint.h>

#include "keys.h"
#include "util/strbuf.h"

typedef struct st_lx_sequencer_t lx_sequencer_t;

/* Receipts appended per round at most (a full round is followed by the next at once). */
#define LX_SEQUENCER_BATCH_MAX 20000

/*
 * Starts the thread. `conninfo` is copied; `keys` is borrowed and must outlive lx_sequencer_stop. The thread
 * connects by itself (retrying with back-off, each attempt bounded by connect_timeout), so this never fails.
 * interval_ms: pause between rounds that found the queue not full.
 */
lx_sequencer_t *lx_sequencer_start(const char *conninfo, const lx_keys_t *keys, int64_t interval_ms);
/* Stops and joins the thread: a round in flight is cancelled (its transaction rolls back; the next sequencer redoes
 * it). Frees `s`. */
void lx_sequencer_stop(lx_sequencer_t *s);

/* Appends the sequencer's counters in Prometheus text format (any thread). */
void lx_sequencer_render_metrics(const lx_sequencer_t *s, lx_strbuf_t *out);

#endif
