/*
 * The sweep of expired dedupe claims.
 *
 * contact_claims holds one row per (niche, keyed contact hash) an intake batch has claimed (migrations/0003): a claim
 * makes later leads with that contact duplicates until its expires_at (the niche's dedupe_days after the lead), and
 * an expired claim counts as absent (the next batch with that contact takes it over). Nothing else ever deleted one, so
 * the table and its primary key, which every lead probes and writes twice at random pages, grew with every lead ever
 * taken instead of with the leads of the dedupe window. In the intake bench's database (10 million leads) they had
 * reached 3.4 GB.
 *
 * A background thread (db/bgjob.h) of each server process walks the table's heap in stretches of pages (a TID range
 * scan: no index on expires_at, which every claim would pay for), deletes the expired claims of one stretch per round
 * and moves on, starting over at the first page after the last. A stretch is at least LX_CLAIM_SWEEP_MIN_PAGES pages
 * and sized so that a pass over the whole table takes at most LX_CLAIM_SWEEP_ROUNDS_PER_PASS stretches, one per
 * interval (an hour at the default of 10 s). So a claim is deleted within about a pass of expiring, and the space it
 * took is reused once autovacuum has passed.
 *
 * The sweep never waits for a row lock: it locks the expired claims of its stretch with SKIP LOCKED, so a claim an
 * intake batch holds (it may be taking the expired claim over) is left for the next pass, and no batch can deadlock
 * with it. A batch that meets a claim the sweep has locked waits for the sweep's one statement (at most
 * LX_CLAIM_SWEEP_DELETE_MAX deletes), then finds the claim gone and inserts its own, exactly as it would have taken
 * the expired one over.
 */
#ifndef LX_LEADS_CLAIM_SWEEP_H
#define LX_LEADS_CLAIM_SWEEP_H

#include "util/strbuf.h"

#include <stdint.h>

#define LX_CLAIM_SWEEP_MIN_PAGES       1024
#define LX_CLAIM_SWEEP_ROUNDS_PER_PASS 360
/* The most claims one round deletes: a round that deletes as many takes the same stretch again at once. It bounds
 * how long a round holds its locks, and so how long an intake batch taking one of those claims over can wait. */
#define LX_CLAIM_SWEEP_DELETE_MAX 10000

typedef struct st_lx_claim_sweep_t lx_claim_sweep_t;

/* Starts the thread: a round every `interval_ms`. Never fails (the thread connects and reconnects on its own). */
lx_claim_sweep_t *lx_claim_sweep_start(const char *conninfo, int64_t interval_ms);
/* Cancels a round in flight (its statement rolls back), joins the thread and frees `s`. NULL is a no-op. */
void lx_claim_sweep_stop(lx_claim_sweep_t *s);
/* Prometheus text: claims deleted, passes completed, rounds, failed rounds, time in rounds, connection up. */
void lx_claim_sweep_render_metrics(lx_claim_sweep_t *s, lx_strbuf_t *out);

#endif
