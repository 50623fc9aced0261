/*
 * The intake batcher: where everything a lead causes is written.
 *
 * Requests validate their leads on their own loop thread (leads/lead.h),
 * seal the contact and compute the keyed hashes, then hand a group (one
 * request's leads) to their thread's batcher. The batcher runs one
 * transaction for up to `batch_max` leads, or for what arrived within
 * `batch_wait_ms` of the first waiting lead, with at most `max_in_flight`
 * transactions per thread, the threads of a process taking turns while
 * load allows, and calls each group back after COMMIT (a 2xx is
 * only ever sent for a durable lead: DESIGN.md §4.1). A request's group is
 * never split across transactions, so a batch submission and its
 * Idempotency-Key outcome commit together.
 *
 * One transaction, two round trips (three when the thread lacks some
 * campaign terms):
 *   1. BEGIN; upsert a contact claim for every (niche, hash) of the batch in
 *      key order (taking over expired claims; live ones are only locked), read
 *      back who holds each, read the screening signals (velocity per source IP
 *      and sub_id, the contact in other niches, suppression); add the batch's
 *      velocity counts, read which buyers bought the batch's people before
 *      (for campaigns that exclude them), and last, in one statement, the
 *      active campaigns of active advertisers that bid in the batch's niches
 *      and regions (their state, version and local wall time, not their
 *      terms), then their buyers' balance rows. A first attempt reads them
 *      without locks; a retry after a conflict locks them, the campaigns in
 *      id order, then the balance rows in id order (DESIGN.md §5): last,
 *      because a concurrent batch of the same niches waits on those rows.
 *   (1b. only for campaign versions the thread has not cached: their terms,
 *      at the version read; one changed meanwhile makes the attempt retry.)
 *   2. in C, in arrival order: suppressed -> rejected; a hash held by another
 *      live lead or by an earlier accepted lead of this batch -> duplicate;
 *      score under the niche's min_quality -> rejected; else accepted, and it
 *      holds the claims; then the auction (market/auction.h) for each accepted
 *      lead against the evolving campaign and balance state: sold or unsold.
 *      Then release the claims no accepted lead holds, insert the leads, the
 *      sales, one ledger transaction per sold lead (each buyer's balance ->
 *      the webmaster's pending payout + platform revenue, billing/ledger.h),
 *      the campaigns' spend and daily counts (each only while its version is
 *      the one the auction saw), the receipts, the Idempotency-Key outcomes,
 *      COMMIT. Step 2 leaves in two parts of one round trip: the claims,
 *      leads, sales and ledger transactions at once, then, once the thread has
 *      signed the receipts, the spend, balance locks, receipts, entries and
 *      COMMIT (db/pool.h lx_db_continue_partial): the database writes while
 *      the thread signs, and the campaign locks are held that much less.
 * Because step 2 walks the batch in arrival order against the claims it
 * holds and the campaigns as they are when it writes (else it retries), a
 * batch decides exactly what the same leads sent one by one would.
 * Concurrent batches on other threads or processes wait on the claim and
 * campaign rows they share; a deadlock or serialisation failure
 * retries the whole batch. The database backs every decision with its
 * constraints (budget, daily cap, balance floor, one sale per slot and buyer).
 */
#ifndef LX_LEADS_INTAKE_H
#define LX_LEADS_INTAKE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "db/pool.h"
#include "leads/lead.h"
#include "leads/niche.h"
#include "leads/pii.h"
#include "leads/quality.h"
#include "market/auction.h"

/* ACCEPTED is the batch's working state between screening and the auction; a committed lead is one of the others. */
typedef enum { LX_LEAD_ACCEPTED = 0, LX_LEAD_REJECTED, LX_LEAD_DUPLICATE, LX_LEAD_SOLD, LX_LEAD_UNSOLD } lx_lead_status_t;
const char *lx_lead_status_name(lx_lead_status_t s);
/* 1 for a lead that passed screening (it keeps its contact and holds its duplicate claims). */
int lx_lead_status_accepted(lx_lead_status_t s);

/* One sale of a lead, as the auction decided it (ids are the batch's; the buyer's price is never shown to the
 * supplier). A lead's sales share one ledger transaction (lx_intake_item_t.txn_id). */
typedef struct st_lx_intake_sale_t {
    char id[LX_UUID_STRLEN + 1];
    char campaign_id[LX_UUID_STRLEN + 1];
    char buyer_id[LX_UUID_STRLEN + 1];
    int64_t price, fee, payout;
    int share_index;
} lx_intake_sale_t;

#define LX_INTAKE_MAX_REASONS (LX_QUALITY_MAX_REASONS + 2)

typedef struct st_lx_intake_item_t {
    /* filled by the caller (lx_intake_item_prepare) */
    lx_niche_t *niche; /* a reference, released by lx_intake_item_dispose */
    lx_lead_t lead;    /* owned */
    char id[LX_UUID_STRLEN + 1];
    char webmaster_id[LX_UUID_STRLEN + 1];
    int64_t created_us;
    char sub_id[65];
    uint8_t phone_hash[LX_PII_HASH_BYTES], email_hash[LX_PII_HASH_BYTES];
    uint8_t *contact_ct; /* sealed contact (malloc) */
    /* The lead's JSON pieces, serialised once for both the database and the answer (malloc). */
    char *contact_json; /* plaintext: wiped when disposed */
    char *attributes_json, *consent_json, *source_json;
    size_t contact_ct_len;
    uint8_t wrapped_key[LX_PII_WRAPPED_KEY_BYTES];
    /* decided by the batch */
    lx_lead_status_t status;
    lx_quality_t quality;
    const char *reasons[LX_INTAKE_MAX_REASONS];
    size_t nreasons;
    char duplicate_of[LX_UUID_STRLEN + 1]; /* "" unless the earlier lead is the same webmaster's */
    lx_auction_mode_t sold_mode;           /* LX_MODE_ANY: not sold */
    lx_intake_sale_t *sales;               /* [nsales] (malloc) */
    char txn_id[LX_UUID_STRLEN + 1];       /* the ledger transaction of its sales */
    size_t nsales;
    int64_t payout_total;
} lx_intake_item_t;

typedef struct st_lx_intake_group_t lx_intake_group_t;
typedef void (*lx_intake_done_cb)(lx_intake_group_t *g);

struct st_lx_intake_group_t {
    lx_intake_group_t *next;
    char account_id[LX_UUID_STRLEN + 1]; /* the submitting account (Idempotency-Key owner) */
    lx_intake_item_t **items;
    size_t nitems;
    /* Idempotency-Key outcome recorded in the same commit (idem_key NULL: none). */
    char *idem_key;
    int idem_status;
    const char *idem_resource_id; /* may be NULL */
    char *idem_outcome;           /* JSON text, may be NULL */
    lx_intake_done_cb done;
    void *data;
    /* result: LX_DB_OK, or why the transaction failed (nothing of the group was stored) */
    lx_db_status_t db_status;
    char sqlstate[6];
    char message[256];
};

typedef struct st_lx_intake_config_t {
    size_t batch_max;
    uint64_t batch_wait_ms;
    size_t max_in_flight;
    const struct st_lx_keys_t *keys; /* signs the batch's receipts */
    /* The threads of one process take turns (NULL: this thread alone). process_in_flight counts every thread's intake
     * transactions in flight: a thread starts a batch at once only while none is, or when a full batch waits; else
     * its leads wait for one to end (or batch_wait_ms). *waiting is set while this thread has leads waiting so; when
     * the process's last transaction ends, idle(idle_ctx) runs on the thread that ended it, to have the threads
     * whose *waiting is set call lx_intake_kick on their own loops. */
    _Atomic size_t *process_in_flight;
    _Atomic int *waiting;
    void (*idle)(void *ctx);
    void *idle_ctx;
} lx_intake_config_t;

typedef struct st_lx_intake_t lx_intake_t;

lx_intake_t *lx_intake_create(h2o_loop_t *loop, lx_db_t *db, const lx_intake_config_t *cfg);
/* Groups still queued are failed (LX_DB_ERR_UNAVAILABLE); batches in flight are dropped with the pool. */
void lx_intake_destroy(lx_intake_t *in);
void lx_intake_submit(lx_intake_t *in, lx_intake_group_t *g);
/* Another thread's transaction ended and none is in flight: start a batch if leads wait (on this batcher's thread). */
void lx_intake_kick(lx_intake_t *in);
/* Leads waiting or in flight, for shutdown and metrics. */
size_t lx_intake_pending(const lx_intake_t *in);

/*
 * Fills the item from a validated lead (taking ownership of *lead and a reference to the niche): a fresh id and
 * timestamp, the keyed hashes (dedupe key) and the sealed contact (master data key).
 */
void lx_intake_item_prepare(lx_intake_item_t *item, lx_lead_t *lead, lx_niche_t *niche, const char *webmaster_id,
                            const uint8_t dedupe_key[32], const uint8_t data_key[32], int64_t now_us);
void lx_intake_item_dispose(lx_intake_item_t *item);

/* Screening windows the signals are counted over (documented in the API). */
#define LX_INTAKE_VELOCITY_WINDOW     "1 hour"
#define LX_INTAKE_OTHER_NICHES_WINDOW "30 days"

#endif
