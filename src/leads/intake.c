#include "leads/intake.h"
#include "billing/ledger.h"
#include "billing/receipts.h"
#include "db/pgarr.h"
#include "market/campaign_cache.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 5 /* deadlocks / serialisation failures before the batch is failed */

static const char *const status_names[] = {"accepted", "rejected", "duplicate", "sold", "unsold"};

const char *lx_lead_status_name(lx_lead_status_t s)
{
    return status_names[s];
}

int lx_lead_status_accepted(lx_lead_status_t s)
{
    return s == LX_LEAD_ACCEPTED || s == LX_LEAD_SOLD || s == LX_LEAD_UNSOLD;
}

/* ---- statements ------------------------------------------------------------------ */

/*
 * Row sets travel as binary arrays, one per column (db/pgarr.h), read back with unnest(): the server copies them as
 * they are, where a jsonb document cost a parse, key sorts and a text conversion per field.
 */
enum { CLAIM_N, CLAIM_H, CLAIM_L, CLAIM_W, CLAIM_D, CLAIM_NCOLS };
static const uint32_t claim_types[CLAIM_NCOLS] = {LX_PG_UUID, LX_PG_BYTEA, LX_PG_UUID, LX_PG_UUID, LX_PG_INT4};
enum { SIG_I, SIG_IP, SIG_W, SIG_SUB, SIG_PH, SIG_EH, SIG_N, SIG_NCOLS };
static const uint32_t signal_types[SIG_NCOLS] = {LX_PG_INT4,  LX_PG_TEXT,  LX_PG_UUID, LX_PG_TEXT,
                                                 LX_PG_BYTEA, LX_PG_BYTEA, LX_PG_UUID};
enum { VEL_KEY, VEL_N, VEL_NCOLS };
static const uint32_t velocity_types[VEL_NCOLS] = {LX_PG_TEXT, LX_PG_INT4};
/* release uses the first two columns of reassign */
enum { RE_N, RE_H, RE_L, RE_W, RE_NCOLS };
static const uint32_t reassign_types[RE_NCOLS] = {LX_PG_UUID, LX_PG_BYTEA, LX_PG_UUID, LX_PG_UUID};
/* clang-format off */
enum {
    L_ID, L_W, L_N, L_REGION, L_MODE, L_STATUS, L_SCORE, L_TEMP, L_REASONS, L_DUP, L_PH, L_EH, L_PC,
    L_CT, L_CK, L_ATTRS, L_CONSENT, L_SOURCE, L_IP, L_SUB, L_AT, L_MS, L_SM, L_SS, L_PT, L_TTL, LEAD_NCOLS
};
/* clang-format on */
enum { SALE_ID, SALE_L, SALE_B, SALE_C, SALE_W, SALE_N, SALE_M, SALE_K, SALE_P, SALE_F, SALE_O, SALE_CUR, SALE_T, SALE_NCOLS };
static const uint32_t sale_types[SALE_NCOLS] = {LX_PG_UUID, LX_PG_UUID, LX_PG_UUID, LX_PG_UUID, LX_PG_UUID, LX_PG_UUID, LX_PG_TEXT,
                                                LX_PG_INT4, LX_PG_INT8, LX_PG_INT8, LX_PG_INT8, LX_PG_TEXT, LX_PG_UUID};
enum { SPEND_ID, SPEND_S, SPEND_N, SPEND_V, SPEND_NCOLS };
static const uint32_t spend_types[SPEND_NCOLS] = {LX_PG_UUID, LX_PG_INT8, LX_PG_INT4, LX_PG_INT8};
static const uint32_t lead_types[LEAD_NCOLS] = {
    LX_PG_UUID, LX_PG_UUID,  LX_PG_UUID,        LX_PG_TEXT, LX_PG_TEXT,  LX_PG_TEXT,  LX_PG_INT4, LX_PG_TEXT, LX_PG_TEXT,
    LX_PG_UUID, LX_PG_BYTEA, LX_PG_BYTEA,       LX_PG_TEXT, LX_PG_BYTEA, LX_PG_BYTEA, LX_PG_JSON, LX_PG_JSON, LX_PG_JSON,
    LX_PG_TEXT, LX_PG_TEXT,  LX_PG_TIMESTAMPTZ, LX_PG_INT4, LX_PG_TEXT,  LX_PG_INT4,  LX_PG_INT8, LX_PG_INT4};

/* A build configured with -DLEADX_BENCH_WITHOUT_RECEIPTS=ON (CMake) sells without receipts, for tests/bench/receipts.sh
 * alone: the same server with and without them, side by side. Its sales cannot land in a real database: the ledger
 * trigger (lx_ledger_post) refuses any entry without its receipts (invariant 5), and only that bench replaces the
 * function, in its own database. Such a server says so in its log at start. */
#ifdef LEADX_BENCH_WITHOUT_RECEIPTS
#define LX_INTAKE_RECEIPTS 0
#else
#define LX_INTAKE_RECEIPTS 1
#endif

LX_DB_STMT(st_begin, 0, "BEGIN");
LX_DB_STMT(st_commit, 0, "COMMIT");
/* Intake batches share this lock; an erasure takes it EXCLUSIVE, so it waits for every batch that may have read the
 * suppressions before the erasure's own write, and batches after it see that write (api/leads.c). */
LX_DB_STMT(st_guard, 0, "LOCK TABLE suppressions IN ROW SHARE MODE");
/* Every look-up of an intake batch has an index, and must use it whatever the statistics say: velocity counters are
 * pruned to nothing after two idle hours, and a statement planned then (prepared, its plan kept) scanned the whole
 * table for every lead once it had grown again, past statement_timeout (seen in the intake bench); a plan that
 * hashes or merges a batch's few keys against a whole table is the same mistake. Planned with sequential scans, hash
 * and merge joins off, the kept plans are key probes driven by the batch's rows; set_config(..., true) is SET LOCAL,
 * which ends with the transaction. */
LX_DB_STMT(st_index_only, 0,
           "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), "
           "set_config('enable_mergejoin', 'off', true)");
/* Claim every (niche, hash) in key order: new and expired claims become the tentative holder's (the first lead of
 * the batch that has the pair); a live claim keeps its holder. Every row is updated, so RETURNING names the holder of
 * each pair and every row stays locked until COMMIT. */
LX_DB_STMT(st_claim, 5,
           "INSERT INTO contact_claims AS c (niche_id, hash, lead_id, webmaster_id, expires_at) "
           "SELECT x.n, x.h, x.l, x.w, now() + make_interval(days => x.d) "
           "FROM unnest($1::uuid[], $2::bytea[], $3::uuid[], $4::uuid[], $5::int[]) AS x(n, h, l, w, d) ORDER BY x.n, x.h "
           "ON CONFLICT (niche_id, hash) DO UPDATE SET "
           "lead_id = CASE WHEN c.expires_at <= now() THEN EXCLUDED.lead_id ELSE c.lead_id END, "
           "webmaster_id = CASE WHEN c.expires_at <= now() THEN EXCLUDED.webmaster_id ELSE c.webmaster_id END, "
           "expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END "
           "RETURNING c.niche_id, encode(c.hash, 'hex'), c.lead_id, c.webmaster_id");
#define NOW_BUCKET "(extract(epoch from now())::bigint / 600)"
/* A visitor IP's earlier leads are counted in the leads table (index leads_source_ip, migrations/0014), only up to
 * the count at which the penalty is whole ($8, lx_quality_ip_velocity_saturation; NULL for no bound): nearly every
 * IP is new, and a counter row per IP cost an upsert (a heap row, a B-tree entry, a speculative insertion) and a
 * pruning delete for every lead. A sub_id's leads are many and their keys few, so they keep counter rows. */
LX_DB_STMT(st_signals, 8,
           "SELECT x.i, "
           "CASE WHEN x.ip IS NULL THEN 0 ELSE (SELECT count(*) FROM (SELECT FROM leads l WHERE l.source_ip = x.ip::inet "
           "  AND l.created_at > now() - interval '" LX_INTAKE_VELOCITY_WINDOW "' LIMIT $8::bigint) AS l) END, "
           "CASE WHEN x.sub IS NULL THEN 0 ELSE (SELECT coalesce(sum(v.n), 0) FROM intake_velocity v WHERE v.kind = 2 "
           "  AND v.key = x.w::text || ':' || x.sub AND v.bucket > " NOW_BUCKET " - 7) END, "
           "(SELECT coalesce(string_agg(DISTINCT l.niche_id::text, ','), '') FROM leads l WHERE (l.phone_hash = x.ph "
           "  OR l.email_hash = x.eh) AND l.niche_id <> x.n "
           "  AND l.created_at > now() - interval '" LX_INTAKE_OTHER_NICHES_WINDOW "'), "
           "EXISTS (SELECT 1 FROM suppressions s WHERE s.hash IN (x.ph, x.eh)) "
           "FROM unnest($1::int[], $2::text[], $3::uuid[], $4::text[], $5::bytea[], $6::bytea[], $7::uuid[]) AS x(i, ip, w, sub, "
           "ph, eh, n)");
/* The campaigns that may buy a lead of this batch (active, of an active advertiser, in one of its niches, bidding in
 * one of its regions or their countries), in id order, then their buyers' balance rows (what each may still spend),
 * in id order: one statement, one scan of the campaigns. A balance row has no campaign id (MK_ID is NULL) and carries
 * its owner in MK_OWNER and its spendable money in MK_AVAILABLE. A campaign row has what the auction needs except its
 * terms (regions, filters, schedule, excluded sources: the thread's cache has them by config_version, and st_terms
 * fetches the few it lacks), and its clock as the local wall time in seconds, now() AT TIME ZONE tz read as if UTC:
 * glibc's zone handling is process-wide state, so the zone's rules are applied here; the weekday, the minute and the
 * date are calendar arithmetic in C (lx_wall_clock_from_local_s), as is "today's count" (daily_day as days since
 * 1970). Read with four zone conversions and four JSON renderings a row, and the balances by a second scan of the
 * campaigns, the market bench's 500 campaigns and their buyers took 2.5 ms a batch; 1.3 ms now (pgbench).
 * A batch's first attempt reads them without locks: its write checks that the campaigns it sold through are
 * unchanged (st_campaign_spend) and the CHECKs refuse any excess of a cap, budget or balance (migrations/0010). A
 * later attempt, after such a conflict, locks them all in DESIGN.md §5's order (the campaigns by id, then the balance
 * rows by id: the CTEs are read in that order) and so cannot conflict again. */
#define CAMPAIGN_SCOPE                                                                                                             \
    "FROM campaigns c JOIN accounts a ON a.id = c.advertiser_id AND a.status = 'active' "                                          \
    "WHERE c.status = 'active' AND c.niche_id = ANY($1::uuid[]) AND c.regions && $2::text[] "
#define MARKET_CAMPAIGNS                                                                                                           \
    "WITH c AS MATERIALIZED (SELECT c.id, c.advertiser_id, c.niche_id, coalesce(c.price_exclusive, 0) AS pe, "                     \
    "coalesce(c.price_shared, 0) AS ps, c.bid_seq, floor(date_part('epoch', now() AT TIME ZONE c.tz))::bigint AS local_s, "        \
    "coalesce(c.daily_cap, 0) AS cap, c.daily_day - date '1970-01-01' AS day, c.daily_count, coalesce(c.budget, 0) AS budget, "    \
    "c.spent, c.exclude_bought_contacts_days AS ex, c.config_version " CAMPAIGN_SCOPE "ORDER BY c.id"
#define MARKET_BALANCES                                                                                                            \
    "b AS MATERIALIZED (SELECT b.owner, b.balance - b.min_balance AS available FROM ledger_accounts b "                            \
    "WHERE b.book = 'balance' AND b.owner = ANY (ARRAY(SELECT DISTINCT c.advertiser_id FROM c)) ORDER BY b.id"
#define MARKET_ROWS                                                                                                                \
    "SELECT c.*, NULL::bigint FROM c UNION ALL "                                                                                   \
    "SELECT NULL, b.owner, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, b.available FROM b"
enum {
    MK_ID,
    MK_OWNER,
    MK_NICHE,
    MK_PRICE_EXCLUSIVE,
    MK_PRICE_SHARED,
    MK_BID_SEQ,
    MK_LOCAL_S,
    MK_CAP,
    MK_DAY,
    MK_COUNT,
    MK_BUDGET,
    MK_SPENT,
    MK_EXCLUDE_DAYS,
    MK_VERSION,
    MK_AVAILABLE
};
LX_DB_STMT(st_market, 2, MARKET_CAMPAIGNS "), " MARKET_BALANCES ") " MARKET_ROWS);
LX_DB_STMT(st_market_locked, 2, MARKET_CAMPAIGNS " FOR NO KEY UPDATE OF c), " MARKET_BALANCES " FOR NO KEY UPDATE) " MARKET_ROWS);
/* The terms of campaigns the thread has not cached at the version st_market read (rare: a thread's first batches, a
 * changed campaign): (index into the batch's campaigns, terms) of each one still at that version. One that changed
 * meanwhile is missing from the answer, and the attempt is decided again (fill_terms). */
enum { TERMS_ID, TERMS_VERSION, TERMS_INDEX, TERMS_NCOLS };
static const uint32_t terms_types[TERMS_NCOLS] = {LX_PG_UUID, LX_PG_INT8, LX_PG_INT4};
LX_DB_STMT(st_terms, TERMS_NCOLS,
           "SELECT x.k, array_to_json(c.regions), c.filters, c.hours, array_to_json(c.exclude_sources) "
           "FROM unnest($1::uuid[], $2::bigint[], $3::int[]) AS x(id, v, k) "
           "JOIN campaigns c ON c.id = x.id AND c.config_version = x.v");
/* Which buyers bought the batch's people before (any niche), for campaigns that refuse a person bought within N
 * days; skipped at once (a one-time filter) when no campaign in scope asks. The look-up is driven by the batch's
 * people: a LATERAL subquery fenced with OFFSET 0 (so it is not flattened into the join) finds each one's leads by
 * hash, then their sales, and the buyers who ask (EXCLUDING_SCOPE, also the one-time filter) are one array computed
 * once. Written as a plain join, the planner once chose to start from those buyers' campaigns, read every sale they
 * ever made and test each against every lead of the batch: 48,000 comparisons in a 157-lead batch, growing with the
 * sales table (auto_explain, market bench). */
#define EXCLUDING_SCOPE                                                                                                            \
    "FROM campaigns c WHERE c.status = 'active' AND c.exclude_bought_contacts_days > 0 AND c.niche_id = ANY($4::uuid[]) "
LX_DB_STMT(st_recent, 4,
           "SELECT x.i, s.buyer_id, floor(extract(epoch FROM now() - max(s.created_at)))::bigint "
           "FROM unnest($1::int[], $2::bytea[], $3::bytea[]) AS x(i, ph, eh) "
           "CROSS JOIN LATERAL (SELECT s.buyer_id, s.created_at FROM leads l "
           "  JOIN sales s ON s.lead_id = l.id AND s.refunded_at IS NULL "
           "  WHERE (l.phone_hash = x.ph OR l.email_hash = x.eh) AND s.created_at > now() - interval '3650 days' "
           "  OFFSET 0) AS s "
           "WHERE EXISTS (SELECT 1 " EXCLUDING_SCOPE ") "
           "AND s.buyer_id = ANY (ARRAY(SELECT c.advertiser_id " EXCLUDING_SCOPE ")) "
           "GROUP BY 1, 2");
LX_DB_STMT(st_sales, SALE_NCOLS,
           "INSERT INTO sales (id, lead_id, buyer_id, campaign_id, webmaster_id, niche_id, mode, share_index, price, fee, "
           "payout, currency, ledger_txn) "
           "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], "
           "$8::int[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::uuid[])");
/* Spend and today's count of the campaigns the batch sold through, in id order (the lock order), each only while
 * its terms are the version the auction saw, it is active and its advertiser too; lx_campaigns_unchanged fails the
 * batch (serialization_failure, retried) when any is not. The CHECKs on campaigns refuse any excess (DESIGN.md §4.3). */
LX_DB_STMT(st_campaign_spend, SPEND_NCOLS,
           "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::int[], $4::bigint[]) AS x(id, s, n, v)), "
           "u AS (UPDATE campaigns c SET spent = c.spent + x.s, "
           "daily_count = CASE WHEN c.daily_day = (now() AT TIME ZONE c.tz)::date THEN c.daily_count ELSE 0 END + x.n, "
           "daily_day = (now() AT TIME ZONE c.tz)::date "
           "FROM x WHERE c.id = x.id AND c.config_version = x.v AND c.status = 'active' "
           "AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = c.advertiser_id AND a.status = 'active') RETURNING 1) "
           "SELECT lx_campaigns_unchanged((SELECT count(*) FROM u), (SELECT count(*) FROM x))");
/* The balance rows of the buyers the batch sold to, in id order, after the campaigns (DESIGN.md §5): a first attempt
 * read them without locks, and the ledger trigger would otherwise lock them in id order among the webmaster's and
 * platform's books, against the order purchases take (src/api/market.c). A no-op for a retry, which holds them. */
LX_DB_STMT(st_buyers_sold_to, 1,
           "SELECT 1 FROM ledger_accounts b WHERE b.book = 'balance' AND b.owner = ANY ($1::uuid[]) "
           "ORDER BY b.id FOR NO KEY UPDATE");
/* Each backend adds to its own counter row (shard = its pid): concurrent batches never share one. Kind 2, a
 * webmaster's sub_id, is the only kind left (migrations/0014). */
LX_DB_STMT(st_velocity, 2,
           "INSERT INTO intake_velocity AS v (kind, key, bucket, shard, n) "
           "SELECT 2, x.key, " NOW_BUCKET ", pg_backend_pid(), x.n "
           "FROM unnest($1::text[], $2::int[]) AS x(key, n) "
           "ON CONFLICT (kind, key, bucket, shard) DO UPDATE SET n = v.n + EXCLUDED.n");
LX_DB_STMT(st_release, 2,
           "DELETE FROM contact_claims c USING unnest($1::uuid[], $2::bytea[]) AS x(n, h) "
           "WHERE c.niche_id = x.n AND c.hash = x.h");
LX_DB_STMT(st_reassign, 4,
           "UPDATE contact_claims c SET lead_id = x.l, webmaster_id = x.w "
           "FROM unnest($1::uuid[], $2::bytea[], $3::uuid[], $4::uuid[]) AS x(n, h, l, w) "
           "WHERE c.niche_id = x.n AND c.hash = x.h");
LX_DB_STMT(st_insert_leads, LEAD_NCOLS,
           "INSERT INTO leads (id, webmaster_id, niche_id, region, sale_mode, status, quality_score, temperature, reasons, "
           "duplicate_of, phone_hash, email_hash, phone_country, contact_ct, contact_key, attributes, consent, source, "
           "source_ip, sub_id, created_at, max_shares, sold_mode, shares_sold, payout_total, expires_at) "
           "SELECT x.id, x.w, x.n, x.region, x.mode, x.status, x.score, x.temp, string_to_array(x.reasons, ','), x.dup, "
           "x.ph, x.eh, x.pc, x.ct, x.ck, x.attributes, x.consent, x.source, x.ip::inet, x.sub, x.at, x.ms, x.sm, x.ss, "
           "x.pt, x.at + make_interval(hours => x.ttl) "
           "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], "
           "$9::text[], $10::uuid[], $11::bytea[], $12::bytea[], $13::text[], $14::bytea[], $15::bytea[], $16::json[], "
           "$17::json[], $18::json[], $19::text[], $20::text[], $21::timestamptz[], $22::int[], $23::text[], $24::int[], "
           "$25::bigint[], $26::int[]) AS x(id, w, n, region, mode, status, score, temp, reasons, dup, ph, eh, pc, ct, ck, "
           "attributes, consent, source, ip, sub, at, ms, sm, ss, pt, ttl)");
LX_DB_STMT(st_idem, 1,
           "UPDATE idempotency_keys k SET status_code = x.s, resource_id = x.r, outcome = x.o, completed_at = now() "
           "FROM jsonb_to_recordset($1::jsonb) AS x(a uuid, k text, s int, r uuid, o jsonb) "
           "WHERE k.account_id = x.a AND k.key = x.k");

/* ---- items ------------------------------------------------------------------------ */

void lx_intake_item_prepare(lx_intake_item_t *item, lx_lead_t *lead, lx_niche_t *niche, const char *webmaster_id,
                            const uint8_t dedupe_key[32], const uint8_t data_key[32], int64_t now_us)
{
    memset(item, 0, sizeof(*item));
    item->lead = *lead;
    memset(lead, 0, sizeof(*lead));
    item->niche = niche;
    lx_niche_ref(niche);
    lx_uuid_t id;
    lx_uuid_v7_fast(&id);
    lx_uuid_format(&id, item->id);
    item->created_us = now_us;
    lx_str_copy(item->webmaster_id, sizeof(item->webmaster_id), webmaster_id);
    if (item->lead.sub_id != NULL) lx_str_copy(item->sub_id, sizeof(item->sub_id), item->lead.sub_id);
    item->lead.sub_id = NULL; /* it pointed into the request body */
    lx_pii_hash(dedupe_key, LX_PII_PHONE, item->lead.phone, strlen(item->lead.phone), item->phone_hash);
    lx_pii_hash(dedupe_key, LX_PII_EMAIL, item->lead.email_canon, strlen(item->lead.email_canon), item->email_hash);
    char *plain = lx_json_dumps(item->lead.contact);
    size_t plen = strlen(plain);
    item->contact_json = plain;
    item->attributes_json = lx_json_dumps(item->lead.attributes);
    item->consent_json = lx_json_dumps(item->lead.consent);
    item->source_json = lx_json_dumps(item->lead.source);
    item->contact_ct_len = LX_PII_SEALED_SIZE(plen);
    item->contact_ct = lx_malloc(item->contact_ct_len);
    size_t ct_len = 0;
    if (lx_pii_seal(data_key, id.b, (const uint8_t *)plain, plen, item->contact_ct, item->contact_ct_len, &ct_len,
                    item->wrapped_key) != 0)
        abort(); /* the buffer was sized by LX_PII_SEALED_SIZE */
    item->contact_ct_len = ct_len;
}

void lx_intake_item_dispose(lx_intake_item_t *item)
{
    if (item->contact_ct != NULL) sodium_memzero(item->contact_ct, item->contact_ct_len);
    free(item->contact_ct);
    item->contact_ct = NULL;
    if (item->contact_json != NULL) sodium_memzero(item->contact_json, strlen(item->contact_json));
    free(item->contact_json);
    free(item->attributes_json);
    free(item->consent_json);
    free(item->source_json);
    item->contact_json = item->attributes_json = item->consent_json = item->source_json = NULL;
    free(item->sales);
    item->sales = NULL;
    item->nsales = 0;
    lx_lead_dispose(&item->lead);
    lx_niche_unref(item->niche);
    item->niche = NULL;
}

/* ---- the batcher ------------------------------------------------------------------- */

struct st_lx_intake_t {
    h2o_loop_t *loop;
    lx_db_t *db;
    lx_intake_config_t cfg;
    lx_intake_group_t *head, *tail;
    size_t queued_leads;
    size_t in_flight;
    size_t in_flight_leads;
    h2o_timeout_t wait_timeout;
    h2o_timeout_entry_t wait_entry;
    lx_campaign_cache_t *terms; /* the campaigns' parsed terms, batch after batch (market/campaign_cache.h) */
    /* st_signals' $8: lx_quality_ip_velocity_saturation of the rules the batches score with, as text; NULL for no
     * bound. Made once: the rules do not change. */
    const char *ip_count_limit;
    char ip_count_limit_text[24];
};

typedef struct {
    size_t niche_item; /* item whose niche id names the pair */
    const uint8_t *hash;
    size_t first; /* the first item of the batch with this pair: its tentative holder */
    int external; /* held by a live lead outside this batch */
    char ext_lead[LX_UUID_STRLEN + 1], ext_webmaster[LX_UUID_STRLEN + 1];
    ptrdiff_t holder; /* accepted item of this batch holding it, or -1 */
} pair_t;

/* A campaign the batch read (and locked, on a retry): its bid (in the auction's terms) lives in batch_t.bids at the
 * same index. */
typedef struct {
    char id[LX_UUID_STRLEN + 1], buyer_id[LX_UUID_STRLEN + 1], niche_id[LX_UUID_STRLEN + 1];
    json_t *regions, *excluded, *filters, *hours; /* a reference of ours to the thread's cached terms (in->terms) */
    int has_terms;                                /* set_terms has set the four above */
    int64_t spent_add, count_add;                 /* what this batch sold through it */
    int64_t config_version;                       /* of its terms, as read */
} campaign_t;

/* A buyer that bought item's person before (st_recent's rows; auction_all adds the batch's own sales per lead). */
typedef struct {
    size_t item, buyer; /* buyer: index into batch_t.buyers */
    int64_t age_s;
} recent_row_t;

/* The steps of a batch's transaction: read (claims, signals, campaigns, balances), the terms the cache lacks (only
 * then), write (leads, sales, ledger, receipts, commit). */
enum { STEP_READ = 1, STEP_TERMS, STEP_WRITE };

/* A key of an item of the batch (build_links): part a, then part b (NULL: absent), compared as bytes. */
typedef struct {
    const void *a, *b;
    size_t alen, blen;
    size_t item;
} item_key_t;

/* The text parameters and scratch buffers of a batch (row sets go as binary arrays, below). */
enum { P_NICHES, P_REGIONS, P_REASONS, P_IDEM, NPARAMS };

typedef struct {
    lx_db_job_t job;
    lx_intake_t *in;
    lx_intake_group_t *groups;
    lx_intake_item_t **items;
    size_t n;
    pair_t *pairs;
    size_t npairs;
    size_t (*item_pairs)[2]; /* pair index of each item's phone and e-mail, SIZE_MAX = not deduplicated */
    /* each item's latest earlier item with the same phone hash, the same e-mail hash (SIZE_MAX: none), and how many
     * earlier items share its source IP, its (webmaster, sub_id) (build_links) */
    size_t *prev_phone, *prev_email, *ip_before, *sub_before;
    size_t *contacts;               /* scratch: earlier_contacts's answer */
    item_key_t *ip_keys, *sub_keys; /* the items' IPs and (webmaster, sub_id)s, sorted; the latter are velocity_param's rows */
    size_t nip_keys, nsub_keys;
    int attempts;
    int step;
    /* the marketplace: campaigns grouped by niche (bids[] parallel to campaigns[]), their buyers */
    campaign_t *campaigns;
    lx_auction_bid_t *bids;
    size_t ncampaigns;
    const char **lists; /* the bids' regions and excluded sources (set_bid_terms) */
    char (*buyer_ids)[LX_UUID_STRLEN + 1];
    lx_auction_buyer_t *buyers;
    size_t nbuyers;
    recent_row_t *recent; /* earlier purchases of the batch's people by its campaigns' buyers, by item */
    size_t nrecent;
    size_t nmissing_terms;             /* campaigns whose terms the thread's cache lacks: st_terms fetches them */
    int r_signals, r_market, r_recent; /* step 1's result indexes */
    lx_strbuf_t p[NPARAMS];            /* statement parameters; they must outlive the job */
    lx_pgarr_t claim[CLAIM_NCOLS], signal[SIG_NCOLS], velocity[VEL_NCOLS], reassign[RE_NCOLS], release[RE_NCOLS];
    lx_pgarr_t lead[LEAD_NCOLS], sale[SALE_NCOLS], spend[SPEND_NCOLS], terms[TERMS_NCOLS];
    lx_ledger_rows_t ledger;    /* the sold leads' ledger transactions and entries */
    lx_receipt_rows_t receipts; /* and their signed receipts */
} batch_t;

static void flush(lx_intake_t *in);
static void wait_for_turn(lx_intake_t *in);

static int pair_cmp_items(const lx_intake_item_t *a, const uint8_t *ha, const lx_intake_item_t *b, const uint8_t *hb)
{
    int c = strcmp(a->niche->id, b->niche->id);
    return c != 0 ? c : memcmp(ha, hb, LX_PII_HASH_BYTES);
}

typedef struct {
    batch_t *b;
    size_t item;
    int which; /* 0 phone, 1 e-mail */
} pair_ref_t;

static const uint8_t *ref_hash(const pair_ref_t *r)
{
    lx_intake_item_t *it = r->b->items[r->item];
    return r->which == 0 ? it->phone_hash : it->email_hash;
}
static int ref_cmp(const void *x, const void *y)
{
    const pair_ref_t *a = x, *b = y;
    int c = pair_cmp_items(a->b->items[a->item], ref_hash(a), b->b->items[b->item], ref_hash(b));
    if (c != 0) return c;
    return a->item < b->item ? -1 : a->item > b->item;
}

/* Unique (niche, hash) pairs in key order, each with the first item that has it. */
static void build_pairs(batch_t *b)
{
    pair_ref_t *refs = lx_calloc(2 * b->n + 1, sizeof(*refs));
    size_t nrefs = 0;
    b->item_pairs = lx_calloc(b->n + 1, sizeof(*b->item_pairs));
    for (size_t i = 0; i < b->n; i++) {
        b->item_pairs[i][0] = b->item_pairs[i][1] = SIZE_MAX;
        if (b->items[i]->niche->dedupe_days == 0) continue;
        refs[nrefs++] = (pair_ref_t){b, i, 0};
        refs[nrefs++] = (pair_ref_t){b, i, 1};
    }
    qsort(refs, nrefs, sizeof(*refs), ref_cmp);
    b->pairs = lx_calloc(nrefs + 1, sizeof(*b->pairs));
    b->npairs = 0;
    for (size_t r = 0; r < nrefs; r++) {
        lx_intake_item_t *it = b->items[refs[r].item];
        const uint8_t *h = ref_hash(&refs[r]);
        if (b->npairs == 0 ||
            pair_cmp_items(b->items[b->pairs[b->npairs - 1].niche_item], b->pairs[b->npairs - 1].hash, it, h) != 0)
            b->pairs[b->npairs++] = (pair_t){.niche_item = refs[r].item, .hash = h, .first = refs[r].item, .holder = -1};
        b->item_pairs[refs[r].item][refs[r].which] = b->npairs - 1;
    }
    free(refs);
}

/* The pair (niche id, hash) of this batch, by binary search (pairs are in key order), or NULL. */
static pair_t *find_pair(batch_t *b, const char *niche_id, const uint8_t *hash)
{
    size_t lo = 0, hi = b->npairs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        pair_t *p = &b->pairs[mid];
        int c = strcmp(b->items[p->niche_item]->niche->id, niche_id);
        if (c == 0) c = memcmp(p->hash, hash, LX_PII_HASH_BYTES);
        if (c == 0) return p;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*
 * Which earlier items of the batch share a key with each item: its contact hashes, its source IP, its (webmaster,
 * sub_id). The screening counts them as if they were stored already. Found by sorting (item order breaks ties), not by
 * comparing every pair of items: a batch has up to 1,000 leads, and comparing its pairs (each a constant-time compare of
 * two hashes) cost 4-12 % of the server's CPU per sold lead in the market bench. The sorted sub_id keys are also
 * the batch's velocity rows (velocity_param).
 */
static int item_key_part_cmp(const void *x, size_t xlen, const void *y, size_t ylen)
{
    size_t n = xlen < ylen ? xlen : ylen;
    int c = n == 0 ? 0 : memcmp(x, y, n); /* an absent part is (NULL, 0), and memcmp wants pointers even for 0 bytes */
    return c != 0 ? c : (xlen > ylen) - (xlen < ylen);
}

static int item_key_same(const item_key_t *x, const item_key_t *y)
{
    return item_key_part_cmp(x->a, x->alen, y->a, y->alen) == 0 && item_key_part_cmp(x->b, x->blen, y->b, y->blen) == 0;
}

static int item_key_cmp(const void *xp, const void *yp)
{
    const item_key_t *x = xp, *y = yp;
    int c = item_key_part_cmp(x->a, x->alen, y->a, y->alen);
    if (c == 0) c = item_key_part_cmp(x->b, x->blen, y->b, y->blen);
    return c != 0 ? c : (x->item > y->item) - (x->item < y->item);
}

/* prev[i] = the latest item before i with i's key, SIZE_MAX if none (or if i has no key: it is not in keys). */
static void link_same_keys(item_key_t *keys, size_t nkeys, size_t n, size_t *prev)
{
    for (size_t i = 0; i < n; i++) prev[i] = SIZE_MAX;
    qsort(keys, nkeys, sizeof(*keys), item_key_cmp);
    for (size_t k = 1; k < nkeys; k++)
        if (item_key_same(&keys[k - 1], &keys[k])) prev[keys[k].item] = keys[k - 1].item;
}

/* count[i] = how many earlier items share i's key, from prev (link_same_keys): prev[i] < i. */
static void count_earlier(const size_t *prev, size_t n, size_t *count)
{
    for (size_t i = 0; i < n; i++) count[i] = prev[i] == SIZE_MAX ? 0 : count[prev[i]] + 1;
}

/* count[i] = how many earlier items share item i's key, over the nkeys keys the items that have one gave. */
static void count_same_keys(item_key_t *keys, size_t nkeys, size_t n, size_t *prev, size_t *count)
{
    link_same_keys(keys, nkeys, n, prev);
    count_earlier(prev, n, count);
}

static void build_links(batch_t *b)
{
    size_t n = b->n;
    item_key_t *keys = lx_calloc(n + 1, sizeof(*keys));
    size_t *prev = lx_calloc(n + 1, sizeof(*prev));
    b->prev_phone = lx_calloc(n + 1, sizeof(size_t));
    b->prev_email = lx_calloc(n + 1, sizeof(size_t));
    b->ip_before = lx_calloc(n + 1, sizeof(size_t));
    b->sub_before = lx_calloc(n + 1, sizeof(size_t));
    b->contacts = lx_calloc(n + 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++) keys[i] = (item_key_t){b->items[i]->phone_hash, NULL, LX_PII_HASH_BYTES, 0, i};
    link_same_keys(keys, n, n, b->prev_phone);
    for (size_t i = 0; i < n; i++) keys[i] = (item_key_t){b->items[i]->email_hash, NULL, LX_PII_HASH_BYTES, 0, i};
    link_same_keys(keys, n, n, b->prev_email);
    b->ip_keys = lx_calloc(n + 1, sizeof(*keys));
    b->sub_keys = lx_calloc(n + 1, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        const lx_intake_item_t *it = b->items[i];
        const char *ip = it->lead.source_ip;
        if (ip[0] != '\0') b->ip_keys[b->nip_keys++] = (item_key_t){ip, NULL, strlen(ip), 0, i};
        if (it->sub_id[0] != '\0')
            b->sub_keys[b->nsub_keys++] =
                (item_key_t){it->webmaster_id, it->sub_id, strlen(it->webmaster_id), strlen(it->sub_id), i};
    }
    count_same_keys(b->ip_keys, b->nip_keys, n, prev, b->ip_before);
    count_same_keys(b->sub_keys, b->nsub_keys, n, prev, b->sub_before);
    free(keys);
    free(prev);
}

static void links_free(batch_t *b)
{
    free(b->prev_phone);
    free(b->prev_email);
    free(b->ip_before);
    free(b->sub_before);
    free(b->contacts);
    free(b->ip_keys);
    free(b->sub_keys);
}

/*
 * The earlier items of the batch with item i's phone or e-mail, in item order, into b->contacts; returns how many.
 * Each chain holds only items with an equal hash, so this costs the number of such items.
 */
static size_t earlier_contacts(batch_t *b, size_t i)
{
    const lx_intake_item_t *it = b->items[i];
    size_t n = 0;
    for (size_t j = b->prev_phone[i]; j != SIZE_MAX; j = b->prev_phone[j]) b->contacts[n++] = j;
    for (size_t j = b->prev_email[i]; j != SIZE_MAX; j = b->prev_email[j])
        if (sodium_memcmp(b->items[j]->phone_hash, it->phone_hash, LX_PII_HASH_BYTES) != 0) b->contacts[n++] = j;
    for (size_t x = 1; x < n; x++) /* two descending runs, mostly of zero or one item: insertion sort */
        for (size_t y = x; y > 0 && b->contacts[y - 1] > b->contacts[y]; y--) {
            size_t t = b->contacts[y];
            b->contacts[y] = b->contacts[y - 1];
            b->contacts[y - 1] = t;
        }
    return n;
}

static void cols_start(lx_pgarr_t *cols, const uint32_t *types, int n)
{
    for (int i = 0; i < n; i++) lx_pgarr_start(&cols[i], types[i]);
}

static void cols_free(lx_pgarr_t *cols, int n)
{
    for (int i = 0; i < n; i++) lx_pgarr_free(&cols[i]);
}

/* Column `col` as the call's parameter `param`. */
static void bind_col(lx_db_call_t *c, int param, lx_pgarr_t *col)
{
    lx_pgarr_finish(col);
    lx_db_param_bin(c, param, col->buf.base, (int)col->buf.len);
}

static void bind_cols(lx_db_call_t *c, lx_pgarr_t *cols, int n)
{
    for (int i = 0; i < n; i++) bind_col(c, i, &cols[i]);
}

/* The pair's key: its niche id and contact hash, into columns RE_N and RE_H of `cols`. */
static void append_pair_key(lx_pgarr_t *cols, const batch_t *b, const pair_t *p)
{
    lx_pgarr_uuid(&cols[RE_N], b->items[p->niche_item]->niche->id);
    lx_pgarr_bytes(&cols[RE_H], p->hash, LX_PII_HASH_BYTES);
}

static void on_step(lx_db_job_t *job);
static void campaigns_free(batch_t *b);
static size_t velocity_param(batch_t *b);
static int should_start(const lx_intake_t *in);

static void json_id(lx_strbuf_t *sb, const char *key, const char *uuid)
{
    lx_strbuf_printf(sb, ",\"%s\":\"%s\"", key, uuid);
}

static void send_step1(batch_t *b)
{
    for (int i = 0; i < NPARAMS; i++) lx_strbuf_reset(&b->p[i]);
    lx_strbuf_t *niches = &b->p[P_NICHES], *regions = &b->p[P_REGIONS];
    lx_pgarr_t *claim = b->claim, *sig = b->signal;
    cols_start(claim, claim_types, CLAIM_NCOLS);
    for (size_t k = 0; k < b->npairs; k++) {
        pair_t *p = &b->pairs[k];
        p->external = 0;
        p->holder = -1;
        const lx_intake_item_t *first = b->items[p->first];
        lx_pgarr_uuid(&claim[CLAIM_N], first->niche->id);
        lx_pgarr_bytes(&claim[CLAIM_H], p->hash, LX_PII_HASH_BYTES);
        lx_pgarr_uuid(&claim[CLAIM_L], first->id);
        lx_pgarr_uuid(&claim[CLAIM_W], first->webmaster_id);
        lx_pgarr_int4(&claim[CLAIM_D], first->niche->dedupe_days);
    }
    cols_start(sig, signal_types, SIG_NCOLS);
    for (size_t i = 0; i < b->n; i++) {
        const lx_intake_item_t *it = b->items[i];
        lx_pgarr_int4(&sig[SIG_I], (int32_t)i);
        lx_pgarr_text_or_null(&sig[SIG_IP], it->lead.source_ip);
        lx_pgarr_uuid(&sig[SIG_W], it->webmaster_id);
        lx_pgarr_text_or_null(&sig[SIG_SUB], it->sub_id);
        lx_pgarr_bytes(&sig[SIG_PH], it->phone_hash, LX_PII_HASH_BYTES);
        lx_pgarr_bytes(&sig[SIG_EH], it->email_hash, LX_PII_HASH_BYTES);
        lx_pgarr_uuid(&sig[SIG_N], it->niche->id);
    }
    /* the campaigns' scope: the batch's niche ids and its regions with their countries, as array literals */
    lx_strbuf_puts(niches, "{");
    lx_strbuf_puts(regions, "{");
    for (size_t i = 0; i < b->n; i++) {
        const lx_intake_item_t *it = b->items[i];
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = b->items[j]->niche == it->niche;
        if (!seen) lx_strbuf_printf(niches, "%s%s", niches->len > 1 ? "," : "", it->niche->id);
        /* each code once (a long array makes the campaigns' overlap test slow); region codes are [A-Z0-9-]
         * (catalogue entries), safe unquoted */
        int region_seen = 0, country_seen = 0;
        for (size_t j = 0; j < i && !(region_seen && country_seen); j++) {
            const char *r = b->items[j]->lead.region;
            region_seen |= strcmp(r, it->lead.region) == 0;
            country_seen |= strncmp(r, it->lead.region, 2) == 0;
        }
        if (!region_seen) lx_strbuf_printf(regions, "%s%s", regions->len > 1 ? "," : "", it->lead.region);
        if (!country_seen && strlen(it->lead.region) > 2) lx_strbuf_printf(regions, ",%.2s", it->lead.region);
    }
    lx_strbuf_puts(niches, "}");
    lx_strbuf_puts(regions, "}");
    lx_strbuf_append(niches, "", 1); /* NUL-terminate: text parameters */
    lx_strbuf_append(regions, "", 1);

    lx_db_job_init(&b->job, on_step, b);
    b->job.flags = LX_DB_RESERVE;
    lx_db_job_add(&b->job, &st_begin);
    lx_db_job_add(&b->job, &st_guard);
    lx_db_job_add(&b->job, &st_index_only);
    if (b->npairs != 0) bind_cols(lx_db_job_add(&b->job, &st_claim), claim, CLAIM_NCOLS);
    int r = b->npairs != 0 ? 4 : 3; /* BEGIN, the guard, SET LOCAL, the claims */
    b->r_signals = r++;
    lx_db_call_t *signals = lx_db_job_add(&b->job, &st_signals);
    bind_cols(signals, sig, SIG_NCOLS);
    lx_db_param(signals, SIG_NCOLS, b->in->ip_count_limit);
    /* The batch's own velocity counts and the past purchases do not depend on any decision: both run before the
     * campaign reads, which on a retry lock what every concurrent batch of the same niches then waits for. */
    if (velocity_param(b) != 0) {
        bind_cols(lx_db_job_add(&b->job, &st_velocity), b->velocity, VEL_NCOLS);
        r++;
    }
    lx_db_call_t *c = lx_db_job_add(&b->job, &st_recent);
    bind_col(c, 0, &sig[SIG_I]);
    bind_col(c, 1, &sig[SIG_PH]);
    bind_col(c, 2, &sig[SIG_EH]);
    lx_db_param(c, 3, niches->base);
    b->r_recent = r++;
    /* the first attempt reads the campaigns and balances without locks, a retry locks them (st_market_locked) */
    int locking = b->attempts > 0;
    c = lx_db_job_add(&b->job, locking ? &st_market_locked : &st_market);
    lx_db_param(c, 0, niches->base);
    lx_db_param(c, 1, regions->base);
    b->r_market = r++;
    b->step = STEP_READ;
}

/* ---- deciding, in arrival order ------------------------------------------------------- */

/*
 * Distinct other niches the lead's person reached lately: those stored (ids, comma-separated, from the signals
 * statement) united with those of earlier leads of this batch, exactly as if the batch's leads had been stored one by
 * one.
 */
static uint32_t count_other_niches(batch_t *b, size_t i, const char *stored)
{
    const lx_intake_item_t *it = b->items[i];
    uint32_t n = *stored != '\0';
    for (const char *p = stored; *p != '\0'; p++) n += *p == ',';
    size_t nc = earlier_contacts(b, i);
    for (size_t x = 0; x < nc; x++) {
        const lx_intake_item_t *e = b->items[b->contacts[x]];
        if (strcmp(e->niche->id, it->niche->id) == 0 || strstr(stored, e->niche->id) != NULL) continue;
        int seen = 0;
        for (size_t y = 0; y < x && !seen; y++) seen = strcmp(b->items[b->contacts[y]]->niche->id, e->niche->id) == 0;
        n += !seen;
    }
    return n;
}

static void add_reason(lx_intake_item_t *it, const char *reason)
{
    if (it->nreasons < LX_INTAKE_MAX_REASONS) it->reasons[it->nreasons++] = reason;
}

static void decide(batch_t *b)
{
    /* BEGIN, the guard, SET LOCAL, the claims (when there are pairs), the signals, the past purchases and the market
     * (load_market) */
    PGresult *signals = b->job.results[b->r_signals];
    if (b->npairs != 0) {
        PGresult *claims = b->job.results[3];
        for (int r = 0; r < PQntuples(claims); r++) {
            uint8_t hash[LX_PII_HASH_BYTES];
            const char *hex = PQgetvalue(claims, r, 1);
            size_t hlen = 0;
            if (sodium_hex2bin(hash, sizeof(hash), hex, strlen(hex), NULL, &hlen, NULL) != 0 || hlen != sizeof(hash)) continue;
            pair_t *p = find_pair(b, PQgetvalue(claims, r, 0), hash);
            if (p == NULL) continue;
            if (strcmp(PQgetvalue(claims, r, 2), b->items[p->first]->id) != 0) {
                p->external = 1;
                lx_str_copy(p->ext_lead, sizeof(p->ext_lead), PQgetvalue(claims, r, 2));
                lx_str_copy(p->ext_webmaster, sizeof(p->ext_webmaster), PQgetvalue(claims, r, 3));
            }
        }
    }
    uint32_t(*sig)[2] = lx_calloc(b->n + 1, sizeof(*sig));
    const char **stored_niches = lx_calloc(b->n + 1, sizeof(*stored_niches)); /* "id,id" of other niches, stored */
    int *suppressed = lx_calloc(b->n + 1, sizeof(int));
    for (int r = 0; r < PQntuples(signals); r++) {
        size_t i = (size_t)strtoul(PQgetvalue(signals, r, 0), NULL, 10);
        if (i >= b->n) continue;
        for (int c = 0; c < 2; c++) sig[i][c] = (uint32_t)strtoul(PQgetvalue(signals, r, 1 + c), NULL, 10);
        stored_niches[i] = PQgetvalue(signals, r, 3);
        suppressed[i] = PQgetvalue(signals, r, 4)[0] == 't';
    }
    for (size_t i = 0; i < b->n; i++) {
        lx_intake_item_t *it = b->items[i];
        it->nreasons = 0;
        it->duplicate_of[0] = '\0';
        free(it->sales); /* a retried batch decides afresh */
        it->sales = NULL;
        it->nsales = 0;
        it->sold_mode = LX_MODE_ANY;
        it->payout_total = 0;
        /* Velocity and cross-niche signals count the earlier leads of this batch as if already stored. */
        uint32_t ip_recent = sig[i][0] + (uint32_t)b->ip_before[i], sub_recent = sig[i][1] + (uint32_t)b->sub_before[i];
        uint32_t other_niches = count_other_niches(b, i, stored_niches[i] != NULL ? stored_niches[i] : "");
        const lx_lead_t *l = &it->lead;
        lx_quality_input_t q;
        lx_quality_input_init(&q);
        lx_quality_input_set_times(&q, l->form_started_us, l->form_submitted_us, it->created_us);
        q.ip_recent = ip_recent;
        q.sub_id_recent = sub_recent;
        q.has_source_ip = l->source_ip[0] != '\0';
        q.has_sub_id = it->sub_id[0] != '\0';
        q.email_disposable = l->email_disposable;
        q.phone_region_match = lx_phone_country_matches(l->phone, l->region_country);
        q.email_region_match = lx_quality_email_region_match(l->email_canon, l->region);
        q.missing_optional = l->missing_optional;
        q.other_niches_recent = other_niches;
        q.advertising_consent = l->advertising_consent;
        lx_quality_score(&q, &lx_quality_default_rules, &it->quality);

        const size_t *ip = b->item_pairs[i];
        int dup = 0;
        for (int w = 0; w < 2 && !dup; w++) {
            if (ip[w] == SIZE_MAX) continue;
            pair_t *p = &b->pairs[ip[w]];
            if (p->external) {
                dup = 1;
                if (strcmp(p->ext_webmaster, it->webmaster_id) == 0)
                    lx_str_copy(it->duplicate_of, sizeof(it->duplicate_of), p->ext_lead);
            } else if (p->holder >= 0) {
                dup = 1;
                const lx_intake_item_t *h = b->items[p->holder];
                if (strcmp(h->webmaster_id, it->webmaster_id) == 0) lx_str_copy(it->duplicate_of, sizeof(it->duplicate_of), h->id);
            }
        }
        /* The score's own reasons first, then the intake's verdict (quality.h) */
        for (size_t r = 0; r < it->quality.nreasons; r++) add_reason(it, it->quality.reasons[r]);
        if (suppressed[i]) {
            it->status = LX_LEAD_REJECTED;
            add_reason(it, LX_QUALITY_SUPPRESSED);
        } else if (dup) {
            it->status = LX_LEAD_DUPLICATE;
        } else if (it->quality.score < it->niche->min_quality) {
            it->status = LX_LEAD_REJECTED;
            add_reason(it, LX_QUALITY_BELOW_MIN_QUALITY);
        } else {
            it->status = LX_LEAD_ACCEPTED;
            for (int w = 0; w < 2; w++)
                if (ip[w] != SIZE_MAX) b->pairs[ip[w]].holder = (ptrdiff_t)i;
        }
    }
    free(sig);
    free(stored_niches);
    free(suppressed);
}

/* ---- the auction, in arrival order ---------------------------------------------------------- */

static void campaigns_free(batch_t *b)
{
    for (size_t k = 0; k < b->ncampaigns; k++) {
        campaign_t *c = &b->campaigns[k];
        json_decref(c->regions);
        json_decref(c->excluded);
        json_decref(c->filters);
        json_decref(c->hours);
    }
    free(b->lists);
    free(b->campaigns);
    free(b->bids);
    free(b->buyer_ids);
    free(b->buyers);
    free(b->recent);
    b->campaigns = NULL, b->bids = NULL, b->buyer_ids = NULL, b->buyers = NULL, b->recent = NULL, b->lists = NULL;
    b->ncampaigns = b->nbuyers = b->nrecent = b->nmissing_terms = 0;
}

static json_t *json_column(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return NULL;
    return json_loadb(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col), JSON_DECODE_ANY, NULL);
}

/* The strings of a JSON array (pointing into it) from `*next` on; returns how many. */
static size_t string_list(json_t *array, const char ***next)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(array); i++) {
        const char *v = json_string_value(json_array_get(array, i));
        if (v != NULL) (*next)[n++] = v;
    }
    *next += n;
    return n;
}

/* Every bid's terms from its campaign's: filters and schedule as they are, regions and excluded sources as the
 * auction's string lists, all in one block for the batch (a list per campaign had been two allocations a campaign a
 * batch: 500 campaigns in the market bench). Once all terms are in, before the auction. */
static void set_bid_terms(batch_t *b)
{
    size_t total = 0;
    for (size_t k = 0; k < b->ncampaigns; k++)
        total += json_array_size(b->campaigns[k].regions) + json_array_size(b->campaigns[k].excluded);
    free(b->lists);
    b->lists = lx_calloc(total + 1, sizeof(*b->lists));
    const char **next = b->lists;
    for (size_t k = 0; k < b->ncampaigns; k++) {
        const campaign_t *c = &b->campaigns[k];
        lx_auction_bid_t *bid = &b->bids[k];
        bid->filters = c->filters;
        bid->hours = c->hours;
        bid->regions = next;
        bid->nregions = string_list(c->regions, &next);
        bid->excluded_sources = next;
        bid->nexcluded_sources = string_list(c->excluded, &next);
    }
}

static int uuid_str_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static ptrdiff_t buyer_index(const batch_t *b, const char *id)
{
    const char(*hit)[LX_UUID_STRLEN + 1] = bsearch(id, b->buyer_ids, b->nbuyers, sizeof(*b->buyer_ids), uuid_str_cmp);
    return hit == NULL ? -1 : hit - b->buyer_ids;
}

typedef struct {
    const PGresult *r;
    int row;
} row_ref_t;

static int campaign_row_cmp(const void *x, const void *y)
{
    const row_ref_t *a = x, *b = y;
    int c = strcmp(PQgetvalue(a->r, a->row, MK_NICHE), PQgetvalue(b->r, b->row, MK_NICHE));
    return c != 0 ? c : a->row - b->row;
}

static int recent_row_cmp(const void *x, const void *y)
{
    const recent_row_t *a = x, *b = y;
    return (a->item > b->item) - (a->item < b->item);
}

/* A campaign's terms (the thread's cache holds them; the campaign takes its own references; its bid gets them in
 * set_bid_terms). */
static void set_terms(campaign_t *c, const lx_campaign_terms_t *t)
{
    c->has_terms = 1;
    c->regions = json_incref(t->regions);
    c->filters = json_incref(t->filters);
    c->hours = json_incref(t->hours);
    c->excluded = json_incref(t->excluded);
}

/* Step 1's market rows (st_market: campaigns, read and locked only on a retry, then their buyers' balances) and past
 * purchases (st_recent) into the batch: bids grouped by niche (id order within a niche), with their terms when the
 * thread's cache has their version (b->nmissing_terms counts the others), the buyers' spendable money, and the
 * purchases by item. Everything the auction reads afterwards is the batch's own: step 1's results end with its
 * callback, and an auction may wait one more step for terms. */
static void load_market(batch_t *b)
{
    campaigns_free(b);
    const PGresult *r = b->job.results[b->r_market];
    int nrows = PQntuples(r), n = 0;
    while (n < nrows && !PQgetisnull(r, n, MK_ID)) n++; /* the campaigns, then the balance rows */
    row_ref_t *order = lx_calloc((size_t)n + 1, sizeof(*order));
    for (int i = 0; i < n; i++) order[i] = (row_ref_t){r, i};
    qsort(order, (size_t)n, sizeof(*order), campaign_row_cmp);

    b->buyer_ids = lx_calloc((size_t)n + 1, sizeof(*b->buyer_ids));
    for (int i = 0; i < n; i++) lx_str_copy(b->buyer_ids[i], sizeof(*b->buyer_ids), PQgetvalue(r, i, MK_OWNER));
    qsort(b->buyer_ids, (size_t)n, sizeof(*b->buyer_ids), uuid_str_cmp);
    b->nbuyers = 0;
    for (int i = 0; i < n; i++)
        if (b->nbuyers == 0 || strcmp(b->buyer_ids[b->nbuyers - 1], b->buyer_ids[i]) != 0)
            memmove(b->buyer_ids[b->nbuyers++], b->buyer_ids[i], sizeof(*b->buyer_ids));
    b->buyers = lx_calloc(b->nbuyers + 1, sizeof(*b->buyers)); /* a buyer without a balance row spends nothing */
    for (int i = n; i < nrows; i++) {
        ptrdiff_t k = buyer_index(b, PQgetvalue(r, i, MK_OWNER));
        if (k >= 0) b->buyers[k].available = strtoll(PQgetvalue(r, i, MK_AVAILABLE), NULL, 10);
    }

    b->campaigns = lx_calloc((size_t)n + 1, sizeof(*b->campaigns));
    b->bids = lx_calloc((size_t)n + 1, sizeof(*b->bids));
    b->ncampaigns = (size_t)n;
    for (int k = 0; k < n; k++) {
        int row = order[k].row;
        campaign_t *c = &b->campaigns[k];
        lx_auction_bid_t *bid = &b->bids[k];
        lx_str_copy(c->id, sizeof(c->id), PQgetvalue(r, row, MK_ID));
        lx_str_copy(c->buyer_id, sizeof(c->buyer_id), PQgetvalue(r, row, MK_OWNER));
        lx_str_copy(c->niche_id, sizeof(c->niche_id), PQgetvalue(r, row, MK_NICHE));
        c->config_version = strtoll(PQgetvalue(r, row, MK_VERSION), NULL, 10);
        const lx_campaign_terms_t *t = lx_campaign_cache_get(b->in->terms, c->id, c->config_version);
        if (t != NULL)
            set_terms(c, t);
        else
            b->nmissing_terms++;
        lx_wall_clock_t now = lx_wall_clock_from_local_s(strtoll(PQgetvalue(r, row, MK_LOCAL_S), NULL, 10));
        int counted_today = !PQgetisnull(r, row, MK_DAY) && strtoll(PQgetvalue(r, row, MK_DAY), NULL, 10) == now.day;
        bid->buyer = (size_t)buyer_index(b, c->buyer_id);
        bid->price_exclusive = strtoll(PQgetvalue(r, row, MK_PRICE_EXCLUSIVE), NULL, 10);
        bid->price_shared = strtoll(PQgetvalue(r, row, MK_PRICE_SHARED), NULL, 10);
        bid->set_seq = strtoull(PQgetvalue(r, row, MK_BID_SEQ), NULL, 10);
        bid->local_dow = now.weekday;
        bid->local_minute = now.minute;
        bid->daily_cap = strtoll(PQgetvalue(r, row, MK_CAP), NULL, 10);
        bid->daily_count = counted_today ? strtoll(PQgetvalue(r, row, MK_COUNT), NULL, 10) : 0;
        bid->budget = strtoll(PQgetvalue(r, row, MK_BUDGET), NULL, 10);
        bid->spent = strtoll(PQgetvalue(r, row, MK_SPENT), NULL, 10);
        bid->exclude_bought_days = atoi(PQgetvalue(r, row, MK_EXCLUDE_DAYS));
        bid->active = 1;
    }
    free(order);
    lx_campaign_cache_trim(b->in->terms, 4 * (size_t)n + 16384); /* far above what batches read: a few MB a thread */

    /* earlier purchases of each lead's person, as rows (i, buyer, age), by item */
    const PGresult *rr = b->job.results[b->r_recent];
    int nrr = PQntuples(rr);
    b->recent = lx_calloc((size_t)nrr + 1, sizeof(*b->recent));
    for (int row = 0; row < nrr; row++) {
        size_t i = (size_t)strtoul(PQgetvalue(rr, row, 0), NULL, 10);
        ptrdiff_t k = buyer_index(b, PQgetvalue(rr, row, 1));
        if (i < b->n && k >= 0) b->recent[b->nrecent++] = (recent_row_t){i, (size_t)k, strtoll(PQgetvalue(rr, row, 2), NULL, 10)};
    }
    qsort(b->recent, b->nrecent, sizeof(*b->recent), recent_row_cmp);
}

/* Empties the job for the batch's next step, on the connection holding its open transaction. */
static void next_step(batch_t *b)
{
    lx_db_conn_t *reserved = b->job.conn;
    lx_db_job_init(&b->job, on_step, b);
    b->job.flags = LX_DB_RESERVE;
    b->job.conn = reserved;
}

/* The step that fetches the terms the thread's cache lacks, on the open transaction. 0, or -1 (b->job says why). */
static int send_terms(batch_t *b)
{
    lx_pgarr_t *cols = b->terms;
    cols_start(cols, terms_types, TERMS_NCOLS);
    for (size_t k = 0; k < b->ncampaigns; k++) {
        if (b->campaigns[k].has_terms) continue;
        lx_pgarr_uuid(&cols[TERMS_ID], b->campaigns[k].id);
        lx_pgarr_int8(&cols[TERMS_VERSION], b->campaigns[k].config_version);
        lx_pgarr_int4(&cols[TERMS_INDEX], (int32_t)k);
    }
    next_step(b);
    bind_cols(lx_db_job_add(&b->job, &st_terms), cols, TERMS_NCOLS);
    b->step = STEP_TERMS;
    return lx_db_continue(&b->job);
}

/* st_terms's answer into the cache and the campaigns. 0, or -1 when a campaign's terms changed after st_market read
 * it (its row is missing): the attempt must be decided again. */
static int fill_terms(batch_t *b)
{
    const PGresult *r = b->job.results[0];
    for (int row = 0; row < PQntuples(r); row++) {
        size_t k = (size_t)strtoul(PQgetvalue(r, row, 0), NULL, 10);
        if (k >= b->ncampaigns || b->campaigns[k].has_terms) continue;
        campaign_t *c = &b->campaigns[k];
        lx_campaign_terms_t parsed = {json_column(r, row, 1), json_column(r, row, 2), json_column(r, row, 3),
                                      json_column(r, row, 4)};
        set_terms(c, lx_campaign_cache_put(b->in->terms, c->id, c->config_version, parsed));
        b->nmissing_terms--;
    }
    return b->nmissing_terms == 0 ? 0 : -1;
}

/* The first campaign whose niche id is not below (strict: above) `niche_id`; campaigns are sorted by niche id. */
static size_t niche_bound(const batch_t *b, const char *niche_id, int strict)
{
    size_t lo = 0, hi = b->ncampaigns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->campaigns[mid].niche_id, niche_id);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The campaigns of one niche: [*start, *start + *count), found by binary search (this runs for every lead). */
static void niche_range(const batch_t *b, const char *niche_id, size_t *start, size_t *count)
{
    *start = niche_bound(b, niche_id, 0);
    *count = niche_bound(b, niche_id, 1) - *start;
}

static void auction_all(batch_t *b)
{
    set_bid_terms(b);
    int any_exclusion = 0;
    for (size_t k = 0; k < b->ncampaigns; k++) any_exclusion |= b->bids[k].exclude_bought_days > 0;
    size_t room = b->nrecent + 2 * LX_AUCTION_MAX_SHARES * b->n, next_recent = 0; /* b->recent is sorted by item */
    lx_auction_recent_t *recent = lx_calloc(room + 1, sizeof(*recent));

    for (size_t i = 0; i < b->n; i++) {
        lx_intake_item_t *it = b->items[i];
        if (it->status != LX_LEAD_ACCEPTED) continue;
        size_t start, count;
        niche_range(b, it->niche->id, &start, &count);
        size_t nrecent = 0;
        while (next_recent < b->nrecent && b->recent[next_recent].item < i) next_recent++;
        if (any_exclusion) {
            for (size_t x = next_recent; x < b->nrecent && b->recent[x].item == i; x++)
                recent[nrecent++] = (lx_auction_recent_t){b->recent[x].buyer, b->recent[x].age_s};
            /* the same person sold earlier in this batch (another niche: in the same one it is a duplicate) */
            size_t nc = earlier_contacts(b, i);
            for (size_t x = 0; x < nc; x++) {
                const lx_intake_item_t *e = b->items[b->contacts[x]];
                for (size_t s = 0; s < e->nsales; s++) {
                    ptrdiff_t k = buyer_index(b, e->sales[s].buyer_id);
                    if (k >= 0 && nrecent < room) recent[nrecent++] = (lx_auction_recent_t){(size_t)k, 0};
                }
            }
        }
        const lx_lead_t *l = &it->lead;
        lx_auction_lead_t al = {
            .region = l->region,
            .webmaster_id = it->webmaster_id,
            .sub_id = it->sub_id[0] != '\0' ? it->sub_id : NULL,
            .attributes = l->attributes,
            .quality = it->quality.score,
            .temperature = lx_temperature_name(it->quality.temperature),
            .sale_mode = (lx_auction_mode_t)l->sale_mode,
            .recent = recent,
            .nrecent = nrecent,
        };
        const lx_niche_t *nc = it->niche;
        lx_auction_rules_t rules = {nc->max_shares, nc->floor_exclusive, nc->floor_shared, nc->fee_bps};
        lx_auction_result_t res;
        lx_auction_run(&al, b->bids + start, count, b->buyers, &rules, &res);
        if (res.nsales == 0) {
            it->status = LX_LEAD_UNSOLD;
            continue;
        }
        lx_auction_apply(&res, b->bids + start, b->buyers);
        it->status = LX_LEAD_SOLD;
        it->sold_mode = res.mode;
        it->nsales = res.nsales;
        it->sales = lx_calloc(res.nsales, sizeof(*it->sales));
        lx_uuid_t txn;
        lx_uuid_v7_fast(&txn);
        lx_uuid_format(&txn, it->txn_id);
        for (size_t k = 0; k < res.nsales; k++) {
            campaign_t *c = &b->campaigns[start + res.sales[k].bid];
            lx_intake_sale_t *sale = &it->sales[k];
            lx_uuid_t id;
            lx_uuid_v7_fast(&id);
            lx_uuid_format(&id, sale->id);
            memcpy(sale->campaign_id, c->id, sizeof(sale->campaign_id));
            memcpy(sale->buyer_id, c->buyer_id, sizeof(sale->buyer_id));
            sale->price = res.sales[k].price;
            sale->fee = res.sales[k].fee;
            sale->payout = res.sales[k].payout;
            sale->share_index = (int)k;
            it->payout_total += sale->payout;
            c->spent_add += sale->price;
            c->count_add++;
        }
    }
    free(recent);
}

/* ---- writing ------------------------------------------------------------------------ */

static int campaign_id_cmp(const void *x, const void *y)
{
    const campaign_t *const *a = x, *const *b = y;
    return strcmp((*a)->id, (*b)->id);
}

/*
 * The batch's receipts (billing/receipts.h), one per account each sale touches: every buyer's with its price and the
 * supplier's with that sale's payout, so neither shows the other side. One issued_at for the batch: it commits as one.
 */
static void add_receipts(batch_t *b)
{
    const lx_keys_t *keys = b->in->cfg.keys;
    const lx_signer_t *signer = lx_keys_signer(keys); /* before issued_at's time (billing/receipts.h) */
    lx_receipt_rows_t *rows = &b->receipts;
    char issued_at[LX_TS_LEN + 1];
    lx_ts_format_us(lx_ts_now_us(), issued_at);
    lx_receipts_start(rows);
    for (size_t i = 0; i < b->n; i++) {
        const lx_intake_item_t *it = b->items[i];
        if (it->nsales == 0) continue;
        char digest[LX_HASH_B64_LEN + 1];
        lx_lead_digest(keys->lead_digest_key, it->id, digest);
        lx_receipt_body_t body = {.kind = "sale",
                                  .issued_at = issued_at,
                                  .ledger_txn = it->txn_id,
                                  .currency = it->niche->currency,
                                  .lead_id = it->id,
                                  .lead_digest = digest,
                                  .niche = it->niche->slug,
                                  .region = it->lead.region,
                                  .mode = lx_sale_mode_name((lx_sale_mode_t)it->sold_mode)};
        for (size_t k = 0; k < it->nsales; k++) {
            const lx_intake_sale_t *sale = &it->sales[k];
            body.sale_id = sale->id;
            body.share_index = sale->share_index;
            body.account = sale->buyer_id;
            body.amount = -sale->price;
            lx_receipts_add(rows, signer, LX_BOOK_BALANCE, &body, NULL);
            if (sale->payout == 0) continue; /* a 100% fee: the supplier's books do not move */
            body.account = it->webmaster_id;
            body.amount = sale->payout;
            lx_receipts_add(rows, signer, LX_BOOK_PENDING, &body, NULL);
        }
    }
}

/*
 * Step 2, sent in two parts: the leads, the ledger transactions and the sales go out at once
 * (lx_db_continue_partial), so that the server inserts them while this thread signs the receipts; on_step sends the
 * rest with lx_db_continue. The rest begins with the spend update and the buyers' balance rows, which lock what
 * concurrent batches of the same niches may wait for: taken after the signing (most of this thread's share of a
 * batch), they are held only for the server's last statements and the commit. 0, or -1 when the first part could
 * not be sent (b->job says why).
 */
static int send_step2(batch_t *b)
{
    for (int i = 0; i < NPARAMS; i++) lx_strbuf_reset(&b->p[i]);
    lx_strbuf_t *idem = &b->p[P_IDEM], *reasons = &b->p[P_REASONS];
    /* Claims: a pair nobody of this batch holds in the end is released; one held by a later lead than its tentative
     * holder is reassigned. Pairs held outside the batch were never touched. */
    lx_pgarr_t *rel = b->release, *re = b->reassign, *lc = b->lead;
    cols_start(rel, reassign_types, 2);
    cols_start(re, reassign_types, RE_NCOLS);
    int nrel = 0, nre = 0;
    for (size_t k = 0; k < b->npairs; k++) {
        const pair_t *p = &b->pairs[k];
        if (p->external) continue;
        if (p->holder < 0) {
            append_pair_key(rel, b, p);
            nrel++;
        } else if ((size_t)p->holder != p->first) {
            const lx_intake_item_t *h = b->items[p->holder];
            append_pair_key(re, b, p);
            lx_pgarr_uuid(&re[RE_L], h->id);
            lx_pgarr_uuid(&re[RE_W], h->webmaster_id);
            nre++;
        }
    }

    cols_start(lc, lead_types, LEAD_NCOLS);
    for (size_t i = 0; i < b->n; i++) {
        const lx_intake_item_t *it = b->items[i];
        const lx_lead_t *l = &it->lead;
        int accepted = lx_lead_status_accepted(it->status);
        lx_pgarr_uuid(&lc[L_ID], it->id);
        lx_pgarr_uuid(&lc[L_W], it->webmaster_id);
        lx_pgarr_uuid(&lc[L_N], it->niche->id);
        lx_pgarr_text(&lc[L_REGION], l->region);
        lx_pgarr_text(&lc[L_MODE], lx_sale_mode_name(l->sale_mode));
        lx_pgarr_text(&lc[L_STATUS], lx_lead_status_name(it->status));
        lx_pgarr_int4(&lc[L_SCORE], it->quality.score);
        lx_pgarr_text(&lc[L_TEMP], lx_temperature_name(it->quality.temperature));
        lx_strbuf_reset(reasons); /* reason codes are [a-z_]: joined with commas, split by the statement */
        for (size_t r = 0; r < it->nreasons; r++) {
            if (r) lx_strbuf_append(reasons, ",", 1);
            lx_strbuf_puts(reasons, it->reasons[r]);
        }
        lx_pgarr_bytes(&lc[L_REASONS], reasons->base != NULL ? reasons->base : "", reasons->len);
        lx_pgarr_uuid(&lc[L_DUP], it->duplicate_of);
        lx_pgarr_bytes(&lc[L_PH], it->phone_hash, LX_PII_HASH_BYTES);
        lx_pgarr_bytes(&lc[L_EH], it->email_hash, LX_PII_HASH_BYTES);
        lx_pgarr_text_or_null(&lc[L_PC], l->phone_country);
        if (accepted) { /* only accepted leads keep their contact: rejected and duplicate ones keep the keyed hashes */
            lx_pgarr_bytes(&lc[L_CT], it->contact_ct, it->contact_ct_len);
            lx_pgarr_bytes(&lc[L_CK], it->wrapped_key, sizeof(it->wrapped_key));
        } else {
            lx_pgarr_null(&lc[L_CT]);
            lx_pgarr_null(&lc[L_CK]);
        }
        lx_pgarr_json(&lc[L_ATTRS], it->attributes_json, strlen(it->attributes_json));
        lx_pgarr_json(&lc[L_CONSENT], it->consent_json, strlen(it->consent_json));
        lx_pgarr_json(&lc[L_SOURCE], it->source_json, strlen(it->source_json));
        lx_pgarr_text_or_null(&lc[L_IP], l->source_ip);
        lx_pgarr_text_or_null(&lc[L_SUB], it->sub_id);
        lx_pgarr_timestamptz(&lc[L_AT], it->created_us);
        lx_pgarr_int4(&lc[L_MS], it->niche->max_shares);
        lx_pgarr_text(&lc[L_SM], it->nsales != 0 ? lx_sale_mode_name((lx_sale_mode_t)it->sold_mode) : NULL);
        lx_pgarr_int4(&lc[L_SS], (int32_t)it->nsales);
        lx_pgarr_int8(&lc[L_PT], it->payout_total);
        if (accepted)
            lx_pgarr_int4(&lc[L_TTL], it->niche->inventory_ttl_hours);
        else
            lx_pgarr_null(&lc[L_TTL]);
    }

    /* Sales, one ledger transaction per sold lead, and what
     * each campaign spent. */
    lx_ledger_rows_t *ledger = &b->ledger;
    lx_pgarr_t *sc = b->sale, *spend = b->spend;
    cols_start(sc, sale_types, SALE_NCOLS);
    lx_ledger_rows_start(ledger);
    size_t nsales = 0;
    for (size_t i = 0; i < b->n; i++) {
        const lx_intake_item_t *it = b->items[i];
        const char *cur = it->niche->currency;
        if (it->nsales == 0) continue;
        /* One ledger transaction per sold lead: each buyer pays its price, the webmaster's pending payouts and the
         * platform's revenue take the sums (fewer rows per lead than one transaction per sale; each sale row
         * names the transaction, and each sale's price, fee and payout stay on the sale). */
        int64_t fees = 0;
        lx_ledger_txn(ledger, it->txn_id, "sale", cur, NULL, it->id, NULL);
        for (size_t k = 0; k < it->nsales; k++) {
            const lx_intake_sale_t *sale = &it->sales[k];
            nsales++;
            lx_pgarr_uuid(&sc[SALE_ID], sale->id);
            lx_pgarr_uuid(&sc[SALE_L], it->id);
            lx_pgarr_uuid(&sc[SALE_B], sale->buyer_id);
            lx_pgarr_uuid(&sc[SALE_C], sale->campaign_id);
            lx_pgarr_uuid(&sc[SALE_W], it->webmaster_id);
            lx_pgarr_uuid(&sc[SALE_N], it->niche->id);
            lx_pgarr_text(&sc[SALE_M], lx_sale_mode_name((lx_sale_mode_t)it->sold_mode));
            lx_pgarr_int4(&sc[SALE_K], sale->share_index);
            lx_pgarr_int8(&sc[SALE_P], sale->price);
            lx_pgarr_int8(&sc[SALE_F], sale->fee);
            lx_pgarr_int8(&sc[SALE_O], sale->payout);
            lx_pgarr_text(&sc[SALE_CUR], cur);
            lx_pgarr_uuid(&sc[SALE_T], it->txn_id);
            lx_ledger_entry(ledger, it->txn_id, sale->buyer_id, LX_BOOK_BALANCE, -sale->price, cur);
            fees += sale->fee;
        }
        lx_ledger_entry(ledger, it->txn_id, it->webmaster_id, LX_BOOK_PENDING, it->payout_total, cur);
        lx_ledger_entry(ledger, it->txn_id, NULL, LX_BOOK_REVENUE, fees, cur);
    }
    /* in id order, the lock order: b->campaigns is grouped by niche */
    const campaign_t **sold_through = lx_calloc(b->ncampaigns + 1, sizeof(*sold_through));
    size_t nsold_through = 0;
    for (size_t k = 0; k < b->ncampaigns; k++)
        if (b->campaigns[k].count_add != 0) sold_through[nsold_through++] = &b->campaigns[k];
    qsort(sold_through, nsold_through, sizeof(*sold_through), campaign_id_cmp);
    cols_start(spend, spend_types, SPEND_NCOLS);
    for (size_t k = 0; k < nsold_through; k++) {
        const campaign_t *c = sold_through[k];
        lx_pgarr_uuid(&spend[SPEND_ID], c->id);
        lx_pgarr_int8(&spend[SPEND_S], c->spent_add);
        lx_pgarr_int4(&spend[SPEND_N], (int32_t)c->count_add);
        lx_pgarr_int8(&spend[SPEND_V], c->config_version);
    }
    free(sold_through);

    lx_strbuf_puts(idem, "[");
    int nidem = 0;
    for (lx_intake_group_t *g = b->groups; g != NULL; g = g->next) {
        if (g->idem_key == NULL) continue;
        lx_strbuf_printf(idem, "%s{\"a\":\"%s\",\"k\":", nidem++ ? "," : "", g->account_id);
        lx_strbuf_append_json_string(idem, g->idem_key, strlen(g->idem_key));
        lx_strbuf_printf(idem, ",\"s\":%d", g->idem_status);
        if (g->idem_resource_id != NULL) json_id(idem, "r", g->idem_resource_id);
        if (g->idem_outcome != NULL) lx_strbuf_printf(idem, ",\"o\":%s", g->idem_outcome);
        lx_strbuf_puts(idem, "}");
    }
    lx_strbuf_puts(idem, "]");
    lx_strbuf_append(idem, "", 1); /* a text parameter */

    next_step(b);
    if (nrel != 0) bind_cols(lx_db_job_add(&b->job, &st_release), rel, 2);
    if (nre != 0) bind_cols(lx_db_job_add(&b->job, &st_reassign), re, RE_NCOLS);
    bind_cols(lx_db_job_add(&b->job, &st_insert_leads), lc, LEAD_NCOLS);
    size_t early = 0;
    lx_db_call_t *receipts_call = NULL;
    if (nsales != 0) {
        lx_pgarr_t *txc = ledger->txn, *enc = ledger->entry;
        bind_cols(lx_db_job_add(&b->job, &lx_ledger_insert_txns), txc, LX_TXN_NCOLS);
        bind_cols(lx_db_job_add(&b->job, &st_sales), sc, SALE_NCOLS);
        early = b->job.ncalls;
        bind_cols(lx_db_job_add(&b->job, &st_campaign_spend), spend, SPEND_NCOLS);
        bind_col(lx_db_job_add(&b->job, &st_buyers_sold_to), 0, &sc[SALE_B]);
        if (LX_INTAKE_RECEIPTS) receipts_call = lx_db_job_add(&b->job, &lx_receipts_insert); /* before the entries */
        bind_cols(lx_db_job_add(&b->job, &lx_ledger_insert_entries), enc, LX_ENTRY_NCOLS);
    }
    if (nidem != 0) lx_db_param(lx_db_job_add(&b->job, &st_idem), 0, idem->base);
    lx_db_job_add(&b->job, &st_commit);
    b->step = STEP_WRITE;
    if (receipts_call == NULL) return 0;
    if (lx_db_continue_partial(&b->job, early) != 0) return -1;
    add_receipts(b);
    lx_pgarr_t *rcc = b->receipts.col;
    bind_cols(receipts_call, rcc, LX_RCPT_NCOLS);
    return 0;
}

/* Columns (key, n): this batch's leads per webmaster + sub_id, one row per run of equal keys (sorted by build_links),
 * in key order; a visitor IP's are counted in the leads themselves (st_signals). Returns the count. */
static size_t velocity_param(batch_t *b)
{
    cols_start(b->velocity, velocity_types, VEL_NCOLS);
    const item_key_t *keys = b->sub_keys;
    size_t out = 0;
    for (size_t i = 0; i < b->nsub_keys; out++) {
        size_t j = i + 1;
        while (j < b->nsub_keys && item_key_same(&keys[i], &keys[j])) j++;
        char key[LX_UUID_STRLEN + 1 + sizeof(b->items[0]->sub_id)]; /* the stored form of (webmaster, sub_id) */
        snprintf(key, sizeof(key), "%s:%s", (const char *)keys[i].a, (const char *)keys[i].b);
        lx_pgarr_text(&b->velocity[VEL_KEY], key);
        lx_pgarr_int4(&b->velocity[VEL_N], (int32_t)(j - i));
        i = j;
    }
    return out;
}

/* ---- batch life ----------------------------------------------------------------------- */

static void process_batch_ended(lx_intake_t *in)
{
    if (in->cfg.process_in_flight != NULL && atomic_fetch_sub(in->cfg.process_in_flight, 1) == 1 && in->cfg.idle != NULL)
        in->cfg.idle(in->cfg.idle_ctx);
}

static void finish(batch_t *b, lx_db_status_t st, const char *sqlstate, const char *message)
{
    lx_intake_t *in = b->in;
    in->in_flight--;
    in->in_flight_leads -= b->n;
    process_batch_ended(in);
    lx_intake_group_t *g = b->groups;
    while (g != NULL) {
        lx_intake_group_t *next = g->next;
        g->next = NULL;
        g->db_status = st;
        lx_str_copy(g->sqlstate, sizeof(g->sqlstate), sqlstate);
        lx_str_copy(g->message, sizeof(g->message), message);
        g->done(g);
        g = next;
    }
    for (int i = 0; i < NPARAMS; i++) lx_strbuf_free(&b->p[i]);
    cols_free(b->claim, CLAIM_NCOLS);
    cols_free(b->signal, SIG_NCOLS);
    cols_free(b->velocity, VEL_NCOLS);
    cols_free(b->release, RE_NCOLS);
    cols_free(b->reassign, RE_NCOLS);
    cols_free(b->lead, LEAD_NCOLS);
    cols_free(b->sale, SALE_NCOLS);
    cols_free(b->spend, SPEND_NCOLS);
    cols_free(b->terms, TERMS_NCOLS);
    lx_ledger_rows_free(&b->ledger);
    lx_receipts_free(&b->receipts);
    campaigns_free(b);
    free(b->items);
    free(b->pairs);
    free(b->item_pairs);
    links_free(b);
    free(b);
    if (should_start(in))
        flush(in);
    else if (in->head != NULL)
        wait_for_turn(in);
}

/* Deadlock and serialisation failures (a campaign changed since the unlocked read: st_campaign_spend), and a
 * statement whose lazy PREPARE failed (a lock wait past statement_timeout, say) and so aborted the open transaction:
 * the next attempt prepares it again. After the first attempt, which read campaigns and balances without locks, a
 * CHECK violation too: a cap, budget or balance that other batches used up meanwhile; the retry locks them. */
static int retryable(const batch_t *b, const char *sqlstate)
{
    return strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "26000") == 0 ||
           strcmp(sqlstate, "25P02") == 0 || (b->attempts == 0 && strcmp(sqlstate, "23514") == 0);
}

static void start(batch_t *b)
{
    send_step1(b);
    if (lx_db_submit(b->in->db, &b->job) != 0) finish(b, b->job.status, "", b->job.message);
}

/* A failed step: the transaction is rolled back, and the batch decided again when the failure is a conflict
 * (retryable) and attempts remain, else answered with it. */
static void step_failed(batch_t *b, lx_db_status_t st, const char *sqlstate, const char *message)
{
    lx_db_release(&b->job);
    if (st == LX_DB_ERR_QUERY && retryable(b, sqlstate) && ++b->attempts < MAX_ATTEMPTS) {
        lx_log(LX_LOG_INFO, "intake_retry", "batch of %zu leads: %s; retrying", b->n, message);
        start(b);
        return;
    }
    if (st == LX_DB_ERR_QUERY) lx_log(LX_LOG_ERROR, "intake_failed", "batch of %zu leads: %s %s", b->n, sqlstate, message);
    finish(b, st, sqlstate, message);
}

/* The next step could not be sent (b->job says why): the batch is answered with that. */
static void send_failed(batch_t *b)
{
    lx_db_status_t st = b->job.status;
    char message[256];
    lx_str_copy(message, sizeof(message), b->job.message);
    lx_db_release(&b->job);
    finish(b, st, "", message);
}

static void on_step(lx_db_job_t *job)
{
    batch_t *b = job->data;
    if (job->status != LX_DB_OK) {
        char sqlstate[6], message[256];
        lx_str_copy(sqlstate, sizeof(sqlstate), job->sqlstate);
        lx_str_copy(message, sizeof(message), job->message);
        step_failed(b, job->status, sqlstate, message);
        return;
    }
    if (b->step == STEP_READ) {
        decide(b);
        load_market(b);
        int any_accepted = 0; /* the auction reads terms for accepted leads only */
        for (size_t i = 0; i < b->n && b->nmissing_terms != 0 && !any_accepted; i++)
            any_accepted = b->items[i]->status == LX_LEAD_ACCEPTED;
        if (any_accepted) {
            if (send_terms(b) != 0) send_failed(b);
            return;
        }
    } else if (b->step == STEP_TERMS && fill_terms(b) != 0) {
        step_failed(b, LX_DB_ERR_QUERY, "40001", "campaigns changed between the reads of their state and their terms");
        return;
    }
    if (b->step != STEP_WRITE) {
        auction_all(b);
        if (send_step2(b) != 0 || lx_db_continue(&b->job) != 0) send_failed(b);
        return;
    }
    lx_db_release(job);
    finish(b, LX_DB_OK, "", "");
}

static void flush(lx_intake_t *in)
{
    if (h2o_timeout_is_linked(&in->wait_entry)) h2o_timeout_unlink(&in->wait_entry);
    if (in->cfg.waiting != NULL) atomic_store(in->cfg.waiting, 0);
    while (in->head != NULL && in->in_flight < in->cfg.max_in_flight) {
        batch_t *b = lx_calloc(1, sizeof(*b));
        b->in = in;
        for (int i = 0; i < NPARAMS; i++) lx_strbuf_init(&b->p[i], (size_t)64 << 20);
        /* Whole groups, up to batch_max leads (a group larger than that goes alone). */
        lx_intake_group_t **tail = &b->groups;
        size_t n = 0;
        while (in->head != NULL && (n == 0 || n + in->head->nitems <= in->cfg.batch_max)) {
            lx_intake_group_t *g = in->head;
            in->head = g->next;
            if (in->head == NULL) in->tail = NULL;
            g->next = NULL;
            *tail = g;
            tail = &g->next;
            n += g->nitems;
        }
        in->queued_leads -= n;
        b->items = lx_calloc(n + 1, sizeof(*b->items));
        for (lx_intake_group_t *g = b->groups; g != NULL; g = g->next)
            for (size_t i = 0; i < g->nitems; i++) b->items[b->n++] = g->items[i];
        in->in_flight++;
        in->in_flight_leads += b->n;
        if (in->cfg.process_in_flight != NULL) atomic_fetch_add(in->cfg.process_in_flight, 1);
        build_pairs(b);
        build_links(b);
        start(b);
    }
    if (in->head != NULL) wait_for_turn(in);
}

static void on_wait_elapsed(h2o_timeout_entry_t *entry)
{
    lx_intake_t *in = H2O_STRUCT_FROM_MEMBER(lx_intake_t, wait_entry, entry);
    flush(in);
}

lx_intake_t *lx_intake_create(h2o_loop_t *loop, lx_db_t *db, const lx_intake_config_t *cfg)
{
    lx_intake_t *in = lx_calloc(1, sizeof(*in));
    in->loop = loop;
    in->db = db;
    in->cfg = *cfg;
    if (in->cfg.batch_max == 0) in->cfg.batch_max = 1;
    if (in->cfg.max_in_flight == 0) in->cfg.max_in_flight = 1;
    h2o_timeout_init(loop, &in->wait_timeout, in->cfg.batch_wait_ms);
    in->wait_entry.cb = on_wait_elapsed;
    in->terms = lx_campaign_cache_new();
    uint64_t ip_count_limit = lx_quality_ip_velocity_saturation(&lx_quality_default_rules);
    if (ip_count_limit <= INT64_MAX) {
        snprintf(in->ip_count_limit_text, sizeof(in->ip_count_limit_text), "%" PRIu64, ip_count_limit);
        in->ip_count_limit = in->ip_count_limit_text;
    }
    if (!LX_INTAKE_RECEIPTS)
        lx_log(LX_LOG_WARN, "bench_without_receipts",
               "built with LEADX_BENCH_WITHOUT_RECEIPTS: real-time sales issue no receipts (tests/bench/receipts.sh only)");
    return in;
}

void lx_intake_destroy(lx_intake_t *in)
{
    if (in == NULL) return;
    if (h2o_timeout_is_linked(&in->wait_entry)) h2o_timeout_unlink(&in->wait_entry);
    while (in->head != NULL) {
        lx_intake_group_t *g = in->head;
        in->head = g->next;
        g->next = NULL;
        g->db_status = LX_DB_ERR_UNAVAILABLE;
        snprintf(g->message, sizeof(g->message), "server shutting down");
        g->done(g);
    }
    h2o_timeout_dispose(in->loop, &in->wait_timeout);
    lx_campaign_cache_free(in->terms);
    free(in);
}

/*
 * When a batch starts: at once when the thread has none in flight (an idle server answers a lone lead without
 * waiting) or when a full batch is waiting; otherwise leads wait for the batch in flight to finish (natural batching:
 * under load each transaction takes everything that arrived during the previous one) or for batch_wait_ms, after
 * which a further transaction may start beside it (up to max_in_flight on this thread). With process_in_flight, the
 * transaction waited for is any thread's: the threads take turns, so at a moderate rate each transaction carries the
 * leads of both threads and the per-transaction cost (statements, wake-ups, commit) is paid half as often; under
 * load, leads that waited batch_wait_ms start beside it and every thread keeps PostgreSQL busy.
 */
static int should_start(const lx_intake_t *in)
{
    size_t busy = in->cfg.process_in_flight != NULL ? atomic_load(in->cfg.process_in_flight) : in->in_flight;
    return in->head != NULL && in->in_flight < in->cfg.max_in_flight && (busy == 0 || in->queued_leads >= in->cfg.batch_max);
}

/* Leads wait for a transaction to end (this thread's, or any, which kicks: lx_intake_kick) or for batch_wait_ms. */
static void wait_for_turn(lx_intake_t *in)
{
    if (in->cfg.waiting != NULL) atomic_store(in->cfg.waiting, 1);
    if (in->in_flight < in->cfg.max_in_flight && !h2o_timeout_is_linked(&in->wait_entry)) /* else: its own batch's end */
        h2o_timeout_link(in->loop, &in->wait_timeout, &in->wait_entry);
}

void lx_intake_kick(lx_intake_t *in)
{
    if (should_start(in)) flush(in);
}

void lx_intake_submit(lx_intake_t *in, lx_intake_group_t *g)
{
    g->next = NULL;
    if (in->tail != NULL)
        in->tail->next = g;
    else
        in->head = g;
    in->tail = g;
    in->queued_leads += g->nitems;
    if (should_start(in)) {
        flush(in);
        return;
    }
    wait_for_turn(in);
}

size_t lx_intake_pending(const lx_intake_t *in)
{
    return in->queued_leads + in->in_flight_leads;
}
