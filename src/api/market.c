/*
 * The marketplace for buyers: the inventory (GET /v1/market/leads), inventory purchases
 * (POST /v1/market/leads/{id}/purchase) and every buyer's purchases (GET /v1/purchases, GET /v1/purchases/{id}).
 *
 * The inventory is the leads with something left to buy (the leads_market index: sold or unsold, not sold
 * exclusive, a shared slot free), not expired, with their contact still there, in a niche of the buyer's currency
 * and neither held nor returned by the buyer. Advertisers see anonymised previews only: never contact data, never the
 * supplier. One rule (offered()) decides which modes a lead offers, for the previews and for the purchase alike.
 *
 * Price: the niche's floor for the mode (floor_exclusive or floor_shared), at least 1 minor unit. There is no aging
 * discount in this version: a lead costs the same until its niche's inventory_ttl_hours are over. The platform fee
 * is lx_auction_fee(price, fee_bps), the webmaster's payout the rest, exactly as in a real-time sale.
 *
 * A purchase is one transaction on a reserved connection, in two round trips:
 *   1. BEGIN; lock the lead row (FOR UPDATE OF l, with its niche's floors, fee and currency), then the buyer's balance
 *      row (FOR UPDATE); then read whether the buyer holds the lead, in a statement of its own, so its snapshot is
 *      taken after the lead's lock was granted and sees the sale of whoever held it before;
 *   decide in C: 404, 409, 402, or go on;
 *   2. the lead's sale state, the sale row, one ledger transaction of kind "sale" (buyer balance -price, webmaster
 *      pending +payout, platform revenue +fee), the idempotency outcome, the purchase as answered, COMMIT.
 * Lock order: the lead row, then the buyer's balance row, then (the ledger trigger) the webmaster's pending book.
 * Intake batches never lock existing leads (they insert new ones) and lock advertiser balances before other
 * accounts (DESIGN.md §5), so this order closes no cycle with them; concurrent purchases of one lead serialise on
 * its row. A deadlock or serialisation failure all the same is retried from step 1. The database backs the checks
 * made in C: the balance CHECK (23514 from the entries: 402), the lead's share CHECKs (23514: 409) and the unique
 * indexes on unrefunded sales (23505: 409).
 *
 * Sales made by the intake's real-time auction are rows of the same table (campaign_id set), so they are purchases
 * too: PURCHASE_COLS and render_purchase are the one way a purchase is answered.
 */
#include "api/common.h"
#include "api/handlers.h"
#include "api/lead_view.h"
#include "billing/ledger.h"
#include "billing/receipts.h"
#include "leads/niche.h"
#include "leads/regions.h"
#include "market/auction.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 5 /* deadlocks / serialisation failures before a purchase is failed */

static const char *const mode_names[] = {"exclusive", "shared", NULL};

static long col_long(const PGresult *r, int row, int col)
{
    return strtol(PQgetvalue(r, row, col), NULL, 10);
}

/* The one rule for what a lead offers now, from its sale state: exclusive only while nobody holds it and the supplier
 * allows it; a shared slot while the supplier allows it, it is not sold exclusive and a slot is free. */
static int offered(lx_auction_mode_t mode, const char *sale_mode, const char *sold_mode, long shares_sold, long max_shares)
{
    if (mode == LX_MODE_EXCLUSIVE) return shares_sold == 0 && strcmp(sale_mode, "shared") != 0;
    return strcmp(sale_mode, "exclusive") != 0 && (sold_mode == NULL || strcmp(sold_mode, "exclusive") != 0) &&
           shares_sold < max_shares;
}

/* The inventory price of a mode: the niche's floor, at least 1 (a sale has a positive price). No aging discount. */
static int64_t inventory_price(int64_t floor_minor)
{
    return floor_minor >= 1 ? floor_minor : 1;
}

/* ---- the purchase resource ------------------------------------------------------------------------------------ */

#define PURCHASE_COLS                                                                                                              \
    "s.id, s.lead_id, s.buyer_id, s.mode, s.share_index, s.price, s.currency, s.created_at, s.campaign_id, "                       \
    "s.refunded_at, " LX_LEAD_COLS
#define PURCHASE_NCOLS 10 /* before the lead's columns */
#define PURCHASE_FROM  " FROM sales s JOIN leads l ON l.id = s.lead_id JOIN niches n ON n.id = l.niche_id "

LX_DB_STMT(purchase_get, 2,
           "SELECT " PURCHASE_COLS PURCHASE_FROM "WHERE s.id = $1::uuid AND ($2::uuid IS NULL OR s.buyer_id = $2::uuid)");
LX_DB_STMT(purchase_list, 4,
           "SELECT " PURCHASE_COLS PURCHASE_FROM
           "WHERE ($1::uuid IS NULL OR s.buyer_id = $1::uuid) AND ($2::uuid IS NULL OR s.id > $2::uuid) "
           "AND ($3::timestamptz IS NULL OR s.created_at >= $3::timestamptz) ORDER BY s.id LIMIT $4::int");

static void put_ts(lx_strbuf_t *sb, const char *key, const PGresult *r, int row, int col)
{
    char at[LX_TS_LEN + 1];
    lx_strbuf_puts(sb, key);
    if (PQgetisnull(r, row, col) || lx_ts_from_pg(PQgetvalue(r, row, col), at) != 0)
        lx_strbuf_puts(sb, "null");
    else
        lx_strbuf_printf(sb, "\"%s\"", at);
}

/* A purchase read with PURCHASE_COLS; its lead as its buyer sees it (contact opened unless refunded, consent evidence, no sale
 * summary). Every value but the lead's comes from a typed column (uuid, integer, enum, char(3)) and needs no escaping. */
static void render_purchase(lx_strbuf_t *sb, const PGresult *r, int row, const lx_keys_t *keys)
{
    const char *campaign = lx_db_get(r, row, 8);
    lx_strbuf_printf(sb, "{\"id\":\"%s\",\"lead_id\":\"%s\",\"buyer_id\":\"%s\",\"mode\":\"%s\",\"share_index\":%s,\"price\":%s",
                     PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), PQgetvalue(r, row, 2), PQgetvalue(r, row, 3),
                     PQgetvalue(r, row, 4), PQgetvalue(r, row, 5));
    lx_strbuf_printf(sb, ",\"currency\":\"%s\"", PQgetvalue(r, row, 6));
    put_ts(sb, ",\"purchased_at\":", r, row, 7);
    lx_strbuf_printf(sb, ",\"source\":\"%s\",\"campaign_id\":", campaign != NULL ? "auction" : "inventory");
    if (campaign != NULL)
        lx_strbuf_printf(sb, "\"%s\"", campaign);
    else
        lx_strbuf_puts(sb, "null");
    put_ts(sb, ",\"refunded_at\":", r, row, 9);
    lx_strbuf_puts(sb, ",\"lead\":");
    /* A refund gives the lead back: the purchase no longer opens its contact (another buyer may hold it now). */
    lx_lead_view_render_row(sb, r, row, PURCHASE_NCOLS, PQgetisnull(r, row, 9) ? keys : NULL, LX_LEAD_VIEW_BUYER);
    lx_strbuf_puts(sb, "}");
}

/* One purchase as the answer, or `missing` when the row is not there. */
static void respond_purchase_row(lx_req_t *lr, const PGresult *r, int status, lx_status_t missing, const char *detail)
{
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, missing, NULL, "%s", detail);
        return;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)16 << 20);
    render_purchase(&sb, r, 0, lr->worker->server->keys);
    lx_respond_rendered(lr, status, &sb);
}

/* Operators see every purchase; an advertiser its own. */
static const char *buyer_filter(lx_req_t *lr, lx_async_t *a)
{
    if (lr->who.role == LX_ROLE_OPERATOR) return NULL;
    return lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN);
}

static void submit_purchase_get(lx_req_t *lr, lx_async_cb_t cb, const char *id)
{
    lx_async_t *a = lx_async_new(lr, cb);
    lx_db_call_t *c = lx_db_job_add(&a->job, &purchase_get);
    lx_db_param(c, 0, lx_async_str(a, id));
    lx_db_param(c, 1, buyer_filter(lr, a));
    lx_async_submit(a);
}

static int on_purchase(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_purchase_row(lr, a->job.results[0], 200, LX_ERR_NOT_FOUND, "No such purchase.");
    return 0;
}

void lx_api_purchases_get(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    submit_purchase_get(lr, on_purchase, ids);
}

static int on_purchase_list(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    int n = PQntuples(r), limit = *(const int *)a->user;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)256 << 20);
    lx_strbuf_puts(&sb, "{\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i) lx_strbuf_puts(&sb, ",");
        render_purchase(&sb, r, i, lr->worker->server->keys);
    }
    lx_strbuf_puts(&sb, "],\"next_cursor\":");
    json_t *next = n == limit ? lx_cursor_json(PQgetvalue(r, n - 1, 0)) : json_null();
    lx_json_dump(next, &sb);
    json_decref(next);
    lx_strbuf_puts(&sb, "}");
    lx_respond_rendered(lr, 200, &sb);
    return 0;
}

void lx_api_purchases_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "since", NULL};
    const char *q[3];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    char since[LX_TS_LEN + 1];
    if (lx_req_since(lr, q[2], since) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_purchase_list);
    const char *limit_s = lx_async_page_limit(a, limit);
    lx_db_call_t *c = lx_db_job_add(&a->job, &purchase_list);
    lx_db_param(c, 0, buyer_filter(lr, a));
    lx_db_param(c, 1, cursor[0] ? lx_async_str(a, cursor) : NULL);
    lx_db_param(c, 2, since[0] ? lx_async_str(a, since) : NULL);
    lx_db_param(c, 3, limit_s);
    lx_async_submit(a);
}

/* ---- the inventory ------------------------------------------------------------------------------------------ */

/* The leads_market index's predicate, plus the rest of the inventory's rules. The last id bound is the inventory's
 * look-back (api/lead_view.h): no lead older than the longest TTL its niche has had can still be in date, so the scan
 * starts there instead of at the first lead ever taken. */
#define INVENTORY_ID_FLOOR                                                                                                         \
    LX_LEAD_LOOK_BACK_SQL("h.currency = (SELECT a.currency FROM accounts a WHERE a.id = $1::uuid) AND ($2::text IS NULL OR "       \
                          "h.slug = $2)")
LX_DB_STMT(market_list, 6,
           "SELECT l.id, n.slug, l.region, l.attributes, l.quality_score, l.temperature, l.created_at, l.expires_at, "
           "l.sale_mode, l.sold_mode, l.shares_sold, l.max_shares, n.floor_exclusive, n.floor_shared, n.currency, "
           "greatest(0, floor(extract(epoch FROM now() - l.created_at)))::bigint "
           "FROM leads l JOIN niches n ON n.id = l.niche_id "
           "WHERE l.status IN ('sold', 'unsold') AND l.sold_mode IS DISTINCT FROM 'exclusive' AND l.shares_sold < l.max_shares "
           "AND l.expires_at > now() AND l.contact_ct IS NOT NULL AND NOT l.resale_blocked "
           "AND n.currency = (SELECT a.currency FROM accounts a WHERE a.id = $1::uuid) "
           "AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.lead_id = l.id AND s.buyer_id = $1::uuid AND s.refunded_at IS NULL) "
           "AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.lead_id = l.id AND s.buyer_id = $1::uuid AND s.refunded_at IS NOT NULL) "
           "AND ($2::text IS NULL OR n.slug = $2) "
           "AND ($3::text IS NULL OR l.region = $3 OR (length($3) = 2 AND l.region LIKE $3 || '-%')) "
           "AND ($4::int IS NULL OR l.quality_score >= $4::int) AND ($5::uuid IS NULL OR l.id > $5::uuid) "
           "AND l.id >= " INVENTORY_ID_FLOOR " ORDER BY l.id LIMIT $6::int");

static json_t *preview_json(const PGresult *r, int i, void *ctx)
{
    (void)ctx;
    const char *sale_mode = PQgetvalue(r, i, 8), *sold_mode = lx_db_get(r, i, 9);
    long sold = col_long(r, i, 10), max = col_long(r, i, 11);
    int exclusive = offered(LX_MODE_EXCLUSIVE, sale_mode, sold_mode, sold, max);
    int shared = offered(LX_MODE_SHARED, sale_mode, sold_mode, sold, max);
    json_t *attributes = json_loadb(PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3), 0, NULL);
    json_t *price_exclusive = exclusive ? json_integer(inventory_price(lx_db_int64(r, i, 12))) : json_null();
    json_t *price_shared = shared ? json_integer(inventory_price(lx_db_int64(r, i, 13))) : json_null();
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:s}, s:o, s:I, s:o, s:s, s:I, s:o, s:o, s:s}", "id", PQgetvalue(r, i, 0),
                     "niche", PQgetvalue(r, i, 1), "region", PQgetvalue(r, i, 2), "attributes",
                     attributes != NULL ? attributes : json_object(), "quality", "score", (json_int_t)col_long(r, i, 4),
                     "temperature", PQgetvalue(r, i, 5), "created_at", lx_ts_json(r, i, 6), "age_seconds",
                     (json_int_t)lx_db_int64(r, i, 15), "expires_at", lx_ts_json(r, i, 7), "sale_mode", sale_mode,
                     "shared_slots_left", (json_int_t)(shared ? max - sold : 0), "price_exclusive", price_exclusive, "price_shared",
                     price_shared, "currency", PQgetvalue(r, i, 14));
}

static int on_market_list(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    lx_respond_json(lr, 200, lx_page_json(a, a->job.results[0], preview_json, NULL));
    return 0;
}

void lx_api_market_leads_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "niche", "region", "min_quality", NULL};
    const char *q[5];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    if (q[2] != NULL && !lx_niche_slug_valid(q[2], strlen(q[2]))) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.niche", "niche must be a niche slug.");
        return;
    }
    if (q[3] != NULL && !lx_regions_exists(lr->worker->server->regions, q[3], strlen(q[3]))) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.region",
                           "region must be an ISO 3166 code of the catalogue, e.g. RU or RU-MOW (a country covers its "
                           "subdivisions).");
        return;
    }
    if (q[4] != NULL) {
        char *end;
        long v = strtol(q[4], &end, 10);
        if (q[4][0] < '0' || q[4][0] > '9' || *end != '\0' || v > 100) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.min_quality", "min_quality must be an integer from 0 to 100.");
            return;
        }
    }
    lx_async_t *a = lx_async_new(lr, on_market_list);
    const char *limit_s = lx_async_page_limit(a, limit);
    lx_db_call_t *c = lx_db_job_add(&a->job, &market_list);
    lx_db_param(c, 0, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    lx_db_param(c, 1, lx_async_str(a, q[2]));
    lx_db_param(c, 2, lx_async_str(a, q[3]));
    lx_db_param(c, 3, lx_async_str(a, q[4]));
    lx_db_param(c, 4, cursor[0] ? lx_async_str(a, cursor) : NULL);
    lx_db_param(c, 5, limit_s);
    lx_async_submit(a);
}

/* ---- the purchase ----------------------------------------------------------------------------------------------- */

LX_DB_STMT(purchase_begin, 0, "BEGIN");
LX_DB_STMT(purchase_commit, 0, "COMMIT");
LX_DB_STMT(lock_lead, 1,
           "SELECT l.status, l.sale_mode, l.sold_mode, l.shares_sold, l.max_shares, coalesce(l.expires_at > now(), false), "
           "l.contact_ct IS NOT NULL, l.webmaster_id, n.id, n.currency, n.floor_exclusive, n.floor_shared, n.fee_bps, "
           "n.slug, l.region, l.resale_blocked, "
           "(SELECT min(i) FROM generate_series(0, l.max_shares - 1) AS i WHERE NOT EXISTS (SELECT 1 FROM sales s "
           "WHERE s.lead_id = l.id AND s.share_index = i AND s.refunded_at IS NULL)) "
           "FROM leads l JOIN niches n ON n.id = l.niche_id WHERE l.id = $1::uuid FOR UPDATE OF l");
LX_DB_STMT(lock_balance, 1,
           "SELECT balance - min_balance, currency FROM ledger_accounts WHERE owner = $1::uuid AND book = 'balance' FOR UPDATE");
/* Whether the buyer holds the lead, whether it returned it (migrations/0017: a returned lead is not sold to the same
 * buyer again; two look-ups, each by the partial index of its predicate), and whether its account is still active:
 * read after its balance row's lock was granted, which a suspension takes too (migrations/0018), so a purchase
 * either commits before a suspension or sees it. */
LX_DB_STMT(buyer_holds, 2,
           "SELECT EXISTS (SELECT 1 FROM sales WHERE lead_id = $1::uuid AND buyer_id = $2::uuid AND refunded_at IS NULL), "
           "EXISTS (SELECT 1 FROM sales WHERE lead_id = $1::uuid AND buyer_id = $2::uuid AND refunded_at IS NOT NULL), "
           "EXISTS (SELECT 1 FROM accounts WHERE id = $2::uuid AND status = 'active')");
LX_DB_STMT(mark_lead, 3,
           "UPDATE leads SET status = 'sold', sold_mode = $2, shares_sold = shares_sold + 1, "
           "payout_total = payout_total + $3::bigint WHERE id = $1::uuid");
LX_DB_STMT(insert_sale, 12,
           "INSERT INTO sales (id, lead_id, buyer_id, campaign_id, webmaster_id, niche_id, mode, share_index, price, fee, "
           "payout, currency, ledger_txn) VALUES ($1::uuid, $2::uuid, $3::uuid, NULL, $4::uuid, $5::uuid, $6, $7::smallint, "
           "$8::bigint, $9::bigint, $10::bigint, $11, $12::uuid)");

typedef struct {
    char lead_id[LX_UUID_STRLEN + 1];
    lx_auction_mode_t mode;
    lx_idem_t *idem; /* async-owned copy, or NULL */
    int attempts;
    size_t get_call; /* step 2: the index of the purchase read back */
} purchase_t;

/* The request's parsed input, from the handler to fresh() (request pool memory). */
typedef struct {
    char lead_id[LX_UUID_STRLEN + 1];
    lx_auction_mode_t mode;
} purchase_req_t;

static void add_step1(lx_async_t *a, lx_req_t *lr, const purchase_t *p)
{
    const char *buyer = lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN);
    const char *lead = lx_async_str(a, p->lead_id);
    a->job.ncalls = 0;
    a->job.flags = LX_DB_RESERVE;
    a->step = 1;
    lx_db_job_add(&a->job, &purchase_begin);
    lx_db_param(lx_db_job_add(&a->job, &lock_lead), 0, lead);
    lx_db_param(lx_db_job_add(&a->job, &lock_balance), 0, buyer);
    lx_db_call_t *c = lx_db_job_add(&a->job, &buyer_holds);
    lx_db_param(c, 0, lead);
    lx_db_param(c, 1, buyer);
}

static const char *async_int(lx_async_t *a, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    return lx_async_dup(a, buf, (size_t)n);
}

/* Unknown leads, leads that were never for sale (rejected, duplicate) and leads of another currency are not the
 * buyer's to see. */
static lx_status_t not_found(const char **field, const char **detail)
{
    *field = "path.id";
    *detail = "No such lead in the inventory.";
    return LX_ERR_NOT_FOUND;
}

/* The refusals of step 1, or LX_OK with the price to charge. `field`/`detail` describe a refusal. */
static lx_status_t decide(const lx_async_t *a, const purchase_t *p, int64_t *price, const char **field, const char **detail)
{
    const PGresult *lead = a->job.results[1], *bal = a->job.results[2], *holds = a->job.results[3];
    if (PQntuples(lead) != 1) return not_found(field, detail);
    const char *status = PQgetvalue(lead, 0, 0), *sale_mode = PQgetvalue(lead, 0, 1), *sold_mode = lx_db_get(lead, 0, 2);
    long sold = col_long(lead, 0, 3), max = col_long(lead, 0, 4);
    if (strcmp(status, "rejected") == 0 || strcmp(status, "duplicate") == 0) return not_found(field, detail);
    if (PQntuples(bal) != 1 || strcmp(PQgetvalue(bal, 0, 1), PQgetvalue(lead, 0, 9)) != 0) return not_found(field, detail);
    if (PQgetvalue(holds, 0, 2)[0] != 't') {
        *detail = "The account is suspended.";
        return LX_ERR_FORBIDDEN;
    }
    *field = "path.id";
    if (PQgetvalue(holds, 0, 0)[0] == 't') {
        *detail = "You already hold this lead.";
        return LX_ERR_CONFLICT;
    }
    if (PQgetvalue(holds, 0, 1)[0] == 't') {
        *detail = "You returned this lead; a returned lead is not sold to the same buyer again.";
        return LX_ERR_CONFLICT;
    }
    *field = "/mode";
    if ((strcmp(status, "sold") != 0 && strcmp(status, "unsold") != 0) || PQgetvalue(lead, 0, 5)[0] != 't') {
        *detail = "The lead is no longer in the inventory (its time there is over).";
        return LX_ERR_CONFLICT;
    }
    if (PQgetvalue(lead, 0, 15)[0] == 't') {
        *detail = "The lead is no longer in the inventory (it was returned as invalid or fake).";
        return LX_ERR_CONFLICT;
    }
    if (PQgetvalue(lead, 0, 6)[0] != 't') {
        *detail = "The lead is no longer in the inventory (its contact was erased).";
        return LX_ERR_CONFLICT;
    }
    if (!offered(p->mode, sale_mode, sold_mode, sold, max)) {
        if (p->mode == LX_MODE_EXCLUSIVE)
            *detail = strcmp(sale_mode, "shared") == 0 ? "The supplier sells this lead only shared."
                                                       : "The lead is no longer available exclusively: it has a buyer.";
        else if (strcmp(sale_mode, "exclusive") == 0)
            *detail = "The supplier sells this lead only exclusively.";
        else
            *detail = sold_mode != NULL && strcmp(sold_mode, "exclusive") == 0 ? "The lead was sold exclusively."
                                                                               : "The lead has no shared slot left.";
        return LX_ERR_CONFLICT;
    }
    *price = inventory_price(lx_db_int64(lead, 0, p->mode == LX_MODE_EXCLUSIVE ? 10 : 11));
    if (lx_db_int64(bal, 0, 0) < *price) {
        *field = NULL;
        *detail = "The balance (with the credit limit) does not cover the price.";
        return LX_ERR_PAYMENT_REQUIRED;
    }
    return LX_OK;
}

/* Step 2: writes everything, reads the purchase back, commits. Parameters are copied from step 1's results (which
 * are cleared once this callback returns). */
static void add_step2(lx_async_t *a, lx_req_t *lr, purchase_t *p, int64_t price)
{
    const PGresult *lead = a->job.results[1];
    const char *mode = mode_names[p->mode == LX_MODE_EXCLUSIVE ? 0 : 1];
    const char *webmaster = lx_async_str(a, PQgetvalue(lead, 0, 7)), *niche = lx_async_str(a, PQgetvalue(lead, 0, 8));
    const char *currency = lx_async_str(a, PQgetvalue(lead, 0, 9));
    int64_t fee = lx_auction_fee(price, (int)col_long(lead, 0, 12)), payout = price - fee;
    const char *buyer = lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN);
    /* The sale's id names its ledger transaction too, as in the intake's real-time sales. */
    const char *lead_id = lx_async_str(a, p->lead_id), *sale_id = lx_async_new_id(a), *txn_id = sale_id;
    /* The lowest free slot: refunded slots are free again, so counting the slots taken would name one still held. */
    long slot = PQgetisnull(lead, 0, 16) ? col_long(lead, 0, 3) : col_long(lead, 0, 16);
    const char *share_index = async_int(a, slot);

    lx_ledger_rows_t ledger = {0};
    lx_ledger_rows_start(&ledger);
    lx_ledger_txn(&ledger, txn_id, "sale", currency, NULL, lead_id, NULL);
    lx_ledger_entry(&ledger, txn_id, buyer, LX_BOOK_BALANCE, -price, currency);
    lx_ledger_entry(&ledger, txn_id, webmaster, LX_BOOK_PENDING, payout, currency);
    lx_ledger_entry(&ledger, txn_id, NULL, LX_BOOK_REVENUE, fee, currency);

    /* Two receipts: the buyer's with its price, the supplier's with its payout (neither names the other). */
    const lx_keys_t *keys = lr->worker->server->keys;
    char digest[LX_HASH_B64_LEN + 1];
    lx_lead_digest(keys->lead_digest_key, lead_id, digest);
    lx_receipt_rows_t receipts = {0};
    lx_receipts_start(&receipts);
    lx_receipt_body_t body = {.kind = "sale",
                              .account = buyer,
                              .ledger_txn = txn_id,
                              .amount = -price,
                              .currency = currency,
                              .lead_id = lead_id,
                              .lead_digest = digest,
                              .niche = PQgetvalue(lead, 0, 13),
                              .region = PQgetvalue(lead, 0, 14),
                              .mode = mode,
                              .share_index = (int)slot,
                              .sale_id = sale_id};
    const lx_signer_t *signer = lx_keys_signer(keys);
    lx_receipts_add(&receipts, signer, LX_BOOK_BALANCE, &body, NULL);
    body.account = webmaster;
    body.amount = payout;
    if (payout != 0) lx_receipts_add(&receipts, signer, LX_BOOK_PENDING, &body, NULL);

    a->job.ncalls = 0;
    a->step = 2;
    lx_db_call_t *c = lx_db_job_add(&a->job, &mark_lead);
    lx_db_param(c, 0, lead_id);
    lx_db_param(c, 1, mode);
    lx_db_param(c, 2, async_int(a, payout));
    c = lx_db_job_add(&a->job, &insert_sale);
    const char *sale[] = {sale_id, lead_id, buyer, webmaster, niche, mode, share_index};
    for (int i = 0; i < 7; i++) lx_db_param(c, i, sale[i]);
    lx_db_param(c, 7, async_int(a, price));
    lx_db_param(c, 8, async_int(a, fee));
    lx_db_param(c, 9, async_int(a, payout));
    lx_db_param(c, 10, currency);
    lx_db_param(c, 11, txn_id);
    lx_async_post(a, &ledger, &receipts);
    lx_ledger_rows_free(&ledger);
    lx_receipts_free(&receipts);
    if (p->idem != NULL) lx_idem_record(a, p->idem, 201, sale_id);
    p->get_call = a->job.ncalls;
    c = lx_db_job_add(&a->job, &purchase_get);
    lx_db_param(c, 0, sale_id);
    lx_db_param(c, 1, NULL);
    lx_db_job_add(&a->job, &purchase_commit);
}

/* The result of statement `stmt` when it is the one that failed the job with `sqlstate`, else NULL. It carries
 * PostgreSQL's error fields (table, constraint); a failed COMMIT or a lost connection has none. */
static const PGresult *failed_with(const lx_db_job_t *job, const lx_db_stmt_t *stmt, const char *sqlstate)
{
    if (job->status != LX_DB_ERR_QUERY || strcmp(job->sqlstate, sqlstate) != 0) return NULL;
    for (size_t i = 0; i < job->ncalls; i++) {
        const PGresult *r = job->results[i];
        if (r != NULL && PQresultStatus(r) == PGRES_FATAL_ERROR) return job->calls[i].stmt == stmt ? r : NULL;
    }
    return NULL;
}

static int error_field_is(const PGresult *r, int field, const char *value)
{
    const char *v = r != NULL ? PQresultErrorField(r, field) : NULL;
    return v != NULL && strcmp(v, value) == 0;
}

static int retryable(const char *sqlstate)
{
    return strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "40001") == 0;
}

static int on_purchase_step(lx_req_t *lr, lx_async_t *a)
{
    purchase_t *p = a->user;
    if (a->job.status != LX_DB_OK) {
        /* The pool has rolled the transaction back and ended the reservation. What follows are the database's own
         * guards of what step 1 checked: the balance row's floor (a CHECK on ledger_accounts, raised from the
         * entries' trigger), the lead's share CHECKs, the unique indexes on unrefunded sales. An unbalanced ledger
         * transaction (23514 raised by the trigger itself, no table) is a bug, not a refusal: it stays a 500. */
        int no_funds =
            error_field_is(failed_with(&a->job, &lx_ledger_insert_entries, "23514"), PG_DIAG_TABLE_NAME, "ledger_accounts");
        const PGresult *dup = failed_with(&a->job, &insert_sale, "23505");
        int held = error_field_is(dup, PG_DIAG_CONSTRAINT_NAME, "sales_one_per_buyer");
        int taken = (dup != NULL && !held) || failed_with(&a->job, &mark_lead, "23514") != NULL;
        if (a->job.status == LX_DB_ERR_QUERY && retryable(a->job.sqlstate) && ++p->attempts < MAX_ATTEMPTS) {
            add_step1(a, lr, p);
            if (lx_db_submit(lr->worker->db, &a->job) == 0) return 1;
        }
        if (p->idem != NULL) lx_idem_abandon(lr->worker, lr, p->idem);
        if (no_funds)
            lx_respond_problem(lr, LX_ERR_PAYMENT_REQUIRED, NULL, "The balance (with the credit limit) does not cover the price.");
        else if (held)
            lx_respond_problem(lr, LX_ERR_CONFLICT, "path.id", "You already hold this lead.");
        else if (taken)
            lx_respond_problem(lr, LX_ERR_CONFLICT, "/mode", "The lead is no longer available in this mode.");
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    if (a->step == 2) {
        respond_purchase_row(lr, a->job.results[p->get_call], 201, LX_ERR_INTERNAL, "The purchase was not recorded.");
        return 0;
    }
    int64_t price = 0;
    const char *field = NULL, *detail = "";
    lx_status_t st = decide(a, p, &price, &field, &detail);
    if (st != LX_OK) {
        if (p->idem != NULL) lx_idem_abandon(lr->worker, lr, p->idem);
        lx_respond_problem(lr, st, field, "%s", detail);
        return 0; /* the release rolls the transaction back */
    }
    add_step2(a, lr, p, price);
    if (lx_db_continue(&a->job) != 0) {
        if (p->idem != NULL) lx_idem_abandon(lr->worker, lr, p->idem);
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    return 1;
}

static void purchase_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    const purchase_req_t *in = lr->handler_data;
    lx_async_t *a = lx_async_new(lr, on_purchase_step);
    purchase_t *p = lx_async_alloc(a, sizeof(*p));
    memset(p, 0, sizeof(*p));
    memcpy(p->lead_id, in->lead_id, sizeof(p->lead_id));
    p->mode = in->mode;
    p->idem = lx_idem_copy(a, idem);
    a->user = p;
    add_step1(a, lr, p);
    lx_async_submit(a);
}

static int on_purchase_replay(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_purchase_row(lr, a->job.results[0], 201, LX_ERR_INTERNAL, "The stored purchase is missing.");
    return 0;
}

static void purchase_replay(lx_req_t *lr, int status, const char *resource_id)
{
    (void)status;
    submit_purchase_get(lr, on_purchase_replay, resource_id);
}

void lx_api_market_purchase(lx_req_t *lr)
{
    purchase_req_t *in = h2o_mem_alloc_pool(&lr->req->pool, sizeof(*in));
    lx_uuid_t id;
    if (lx_req_path_uuid(lr, "id", &id, in->lead_id) != 0) return;
    lx_error_t err;
    lx_error_init(&err);
    static const char *const allowed[] = {"mode", NULL};
    int mode = 0;
    if (lx_json_expect_object(lr->body, "", &err) == 0) {
        lx_json_reject_unknown(lr->body, "", allowed, &err);
        lx_json_enum(lr->body, "", "mode", LX_JF_REQUIRED, mode_names, &mode, &err);
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The purchase is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    in->mode = mode == 0 ? LX_MODE_EXCLUSIVE : LX_MODE_SHARED;
    lr->handler_data = in;
    lx_idem_start(lr, "market.purchase", purchase_fresh, purchase_replay);
}
