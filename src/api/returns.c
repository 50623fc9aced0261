/*
 * Returns as the API shows them (DESIGN.md §3 flow 6):
 *   POST /v1/purchases/{id}/return      the buyer returns a purchase {reason, comment?} (Idempotency-Key honoured)
 *   GET  /v1/returns, /v1/returns/{id}  operators: all; advertisers: their own; webmasters: those of their leads
 *   POST /v1/returns/{id}/decision      operators decide a pending return {decision: accept|reject, note?}
 *   POST /v1/returns/{id}/contest       the lead's webmaster adds its side to a pending return {note}
 *   GET  /v1/returns/reasons            the published reasons and whether each lets the lead be sold again
 *
 * Creating a return and deciding one are one transaction each on a reserved connection, in two round trips:
 *   1. BEGIN; lock the sale row (FOR UPDATE), [the return row,] the campaign it was sold through, the lead, the
 *      buyer's balance row (DESIGN.md §5 order: the sale and return rows only refunds and settlement lock, and
 *      settlement skips locked sales; then campaign, lead, balance as the intake and the purchase take them); then
 *      read, in a statement of its own so its snapshot follows the locks: the existing return, the buyer's accepted
 *      returns and purchases in the niche over 30 days (the policy's rate), the two sale receipts a refund reverses.
 *   decide in C: 404, 409, 422, or the outcome (pending, or accepted by the niche's policy / the operator);
 *   2. the refund when accepted (billing/returns.h: ledger transaction, receipts, entries; then the sale refunded,
 *      the campaign's spent restored, the lead reopened or taken off the market), the return row, the
 *      Idempotency-Key outcome or the operator action log row, the return as answered, COMMIT.
 * Deadlocks and serialisation failures are retried from step 1.
 *
 * Refusals: an unknown purchase or another buyer's is 404; a refunded one, one already returned, one settled, or one
 * past its niche's return window (counted from the sale's created_at, with the niche's current return_window_hours)
 * is 409 `conflict` (path.id; the detail says which). Accepting a return never leaves a negative pending payout: a return exists
 * only inside the window, a pending return keeps its sale from settling (sales.return_pending, re-checked by settlement under its
 * lock), a settled sale refuses a return (409), and the database refuses a sale both refunded and settled.
 *
 * What each role sees of a return: operators everything; the buyer its price and never the supplier; the
 * webmaster its payout and never the buyer (DESIGN.md §2).
 */
#include "api/action_log.h"
#include "api/common.h"
#include "api/handlers.h"
#include "billing/ledger.h"
#include "billing/receipts.h"
#include "billing/returns.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 5    /* deadlocks / serialisation failures before the request is failed */
#define NOTE_CHARS   1000 /* comment, decision note, contest note */

/* ---- the Return resource --------------------------------------------------------------------------------------- */

#define RETURN_COLS                                                                                                                \
    "r.id, r.sale_id, r.lead_id, n.slug, r.reason, r.comment, r.status, r.decided_by IS NULL, r.decided_at, "                      \
    "r.decision_note, r.contest_note, r.contested_at, r.buyer_id, r.webmaster_id, s.price, s.payout, s.currency, "                 \
    "r.refund_txn, r.created_at"
#define RETURN_FROM " FROM returns r JOIN sales s ON s.id = r.sale_id JOIN niches n ON n.id = r.niche_id "

/* $2 / $3: only the buyer's / the webmaster's returns (NULL: no filter). */
LX_DB_STMT(ret_get, 3,
           "SELECT " RETURN_COLS RETURN_FROM "WHERE r.id = $1::uuid AND ($2::uuid IS NULL OR r.buyer_id = $2::uuid) "
           "AND ($3::uuid IS NULL OR r.webmaster_id = $3::uuid)");
LX_DB_STMT(ret_list, 5,
           "SELECT " RETURN_COLS RETURN_FROM "WHERE ($1::uuid IS NULL OR r.buyer_id = $1::uuid) "
           "AND ($2::uuid IS NULL OR r.webmaster_id = $2::uuid) AND ($3::text IS NULL OR r.status = $3) "
           "AND ($4::uuid IS NULL OR r.id > $4::uuid) ORDER BY r.id LIMIT $5::int");

static json_t *str_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

static json_t *int_or_null(const PGresult *r, int row, int col, int show)
{
    return show && !PQgetisnull(r, row, col) ? json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10)) : json_null();
}

/* One return read with RETURN_COLS, as `role` may see it: the buyer never sees the supplier or its payout, the
 * supplier never the buyer or its price. decided_by: "policy" (the niche's, at once) or "operator"; null while
 * pending (the operator's id is in the operator action log). */
static json_t *return_json(const PGresult *r, int row, lx_role_t role)
{
    int op = role == LX_ROLE_OPERATOR, buyer = role == LX_ROLE_ADVERTISER, supplier = role == LX_ROLE_WEBMASTER;
    const char *status = PQgetvalue(r, row, 6);
    json_t *decided_by = strcmp(status, "pending") == 0    ? json_null()
                         : PQgetvalue(r, row, 7)[0] == 't' ? json_string("policy")
                                                           : json_string("operator");
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(PQgetvalue(r, row, 0)));
    json_object_set_new(o, "purchase_id", json_string(PQgetvalue(r, row, 1)));
    json_object_set_new(o, "lead_id", json_string(PQgetvalue(r, row, 2)));
    json_object_set_new(o, "buyer_id", op || buyer ? json_string(PQgetvalue(r, row, 12)) : json_null());
    json_object_set_new(o, "webmaster_id", op || supplier ? json_string(PQgetvalue(r, row, 13)) : json_null());
    json_object_set_new(o, "niche", json_string(PQgetvalue(r, row, 3)));
    json_object_set_new(o, "reason", json_string(PQgetvalue(r, row, 4)));
    json_object_set_new(o, "comment", str_or_null(r, row, 5));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "decided_by", decided_by);
    json_object_set_new(o, "decided_at", lx_ts_json(r, row, 8));
    json_object_set_new(o, "decision_note", str_or_null(r, row, 9));
    json_object_set_new(o, "contest_note", str_or_null(r, row, 10));
    json_object_set_new(o, "contested_at", lx_ts_json(r, row, 11));
    json_object_set_new(o, "price", int_or_null(r, row, 14, op || buyer));
    json_object_set_new(o, "payout", int_or_null(r, row, 15, op || supplier));
    json_object_set_new(o, "currency", json_string(PQgetvalue(r, row, 16)));
    json_object_set_new(o, "refund_txn", str_or_null(r, row, 17));
    json_object_set_new(o, "created_at", lx_ts_json(r, row, 18));
    return o;
}

static json_t *return_row(const PGresult *r, int row, void *ctx)
{
    return return_json(r, row, *(const lx_role_t *)ctx);
}

static void respond_return(lx_req_t *lr, const PGresult *r, int status, lx_status_t missing, const char *detail)
{
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, missing, NULL, "%s", detail);
        return;
    }
    lx_respond_json(lr, status, return_json(r, 0, lr->who.role));
}

/* The visibility filters of ret_get / ret_list for the caller: (buyer, webmaster); operators none. */
static void visibility(lx_req_t *lr, lx_async_t *a, const char **buyer, const char **webmaster)
{
    const char *me = lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN);
    *buyer = lr->who.role == LX_ROLE_ADVERTISER ? me : NULL;
    *webmaster = lr->who.role == LX_ROLE_WEBMASTER ? me : NULL;
}

static void add_get(lx_req_t *lr, lx_async_t *a, const char *id)
{
    const char *buyer, *webmaster;
    visibility(lr, a, &buyer, &webmaster);
    lx_db_call_t *c = lx_db_job_add(&a->job, &ret_get);
    lx_db_param(c, 0, lx_async_str(a, id));
    lx_db_param(c, 1, buyer);
    lx_db_param(c, 2, webmaster);
}

/* ---- GET /v1/returns/reasons ------------------------------------------------------------------------------------- */

void lx_api_return_reasons(lx_req_t *lr)
{
    json_t *items = json_array();
    for (int i = 0; i < LX_RETURN__COUNT; i++)
        json_array_append_new(items, json_pack("{s:s, s:b, s:s}", "reason", lx_return_reasons[i], "resale",
                                               lx_return_reason_resale((lx_return_reason_t)i), "description",
                                               lx_return_reason_description((lx_return_reason_t)i)));
    lx_respond_json(lr, 200, json_pack("{s:o}", "reasons", items));
}

/* ---- GET /v1/returns/{id}, GET /v1/returns ---------------------------------------------------------------------- */

static int on_get(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_return(lr, a->job.results[0], 200, LX_ERR_NOT_FOUND, "No such return.");
    return 0;
}

void lx_api_returns_get(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_get);
    add_get(lr, a, ids);
    lx_async_submit(a);
}

static int on_list(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    lx_role_t role = lr->who.role;
    lx_respond_json(lr, 200, lx_page_json(a, a->job.results[0], return_row, &role));
    return 0;
}

void lx_api_returns_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "status", NULL};
    static const char *const statuses[] = {"pending", "accepted", "rejected", NULL};
    const char *q[3];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    if (q[2] != NULL) {
        int ok = 0;
        for (int i = 0; statuses[i] != NULL; i++) ok |= strcmp(q[2], statuses[i]) == 0;
        if (!ok) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.status", "status must be pending, accepted or rejected.");
            return;
        }
    }
    lx_async_t *a = lx_async_new(lr, on_list);
    const char *limit_s = lx_async_page_limit(a, limit), *buyer, *webmaster;
    visibility(lr, a, &buyer, &webmaster);
    lx_db_call_t *c = lx_db_job_add(&a->job, &ret_list);
    lx_db_param(c, 0, buyer);
    lx_db_param(c, 1, webmaster);
    lx_db_param(c, 2, lx_async_str(a, q[2]));
    lx_db_param(c, 3, cursor[0] ? lx_async_str(a, cursor) : NULL);
    lx_db_param(c, 4, limit_s);
    lx_async_submit(a);
}

/* ---- the transaction: locks and what the decision needs (step 1) ------------------------------------------------ */

/* The sale: $1 its id, or NULL and $2 the id of its return; $3 only this buyer's (NULL: anyone's). */
#define SALE_MATCH                                                                                                                 \
    "s.id = coalesce($1::uuid, (SELECT x.sale_id FROM returns x WHERE x.id = $2::uuid)) "                                          \
    "AND ($3::uuid IS NULL OR s.buyer_id = $3::uuid)"
/* The lowest UUIDv7 of 30 days ago: the buyer's sales index is (buyer_id, id) and sale ids are time-ordered, so the
 * count of its recent purchases reads only the last 30 days of it (created_at then decides exactly). */
#define ID_30_DAYS_AGO                                                                                                             \
    "(SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-0000-0000-000000000000')::uuid FROM (SELECT "                         \
    "lpad(to_hex((extract(epoch FROM now() - interval '30 days') * 1000)::bigint), 12, '0') AS h) t)"

LX_DB_STMT(ret_begin, 0, "BEGIN");
LX_DB_STMT(ret_commit, 0, "COMMIT");
/* clang-format off */
enum {
    S_ID, S_LEAD, S_BUYER, S_CAMPAIGN, S_WEBMASTER, S_NICHE, S_MODE, S_SHARE, S_PRICE, S_FEE, S_PAYOUT, S_CURRENCY, S_TXN,
    S_REFUNDED, S_SETTLED, S_IN_WINDOW, S_WINDOW_END, S_SLUG, S_AUTO, S_MAX_RATE
};
/* clang-format on */
LX_DB_STMT(ret_lock_sale, 3,
           "SELECT s.id, s.lead_id, s.buyer_id, s.campaign_id, s.webmaster_id, s.niche_id, s.mode, s.share_index, s.price, "
           "s.fee, s.payout, s.currency, s.ledger_txn, s.refunded_at IS NOT NULL, s.settled_at IS NOT NULL, "
           "s.created_at + make_interval(hours => n.return_window_hours) > now(), "
           "s.created_at + make_interval(hours => n.return_window_hours), n.slug, n.return_auto_accept, "
           "n.return_max_rate_bps FROM sales s JOIN niches n ON n.id = s.niche_id WHERE " SALE_MATCH " FOR UPDATE OF s");
LX_DB_STMT(ret_lock_return, 1, "SELECT status, reason FROM returns WHERE id = $1::uuid FOR UPDATE");
LX_DB_STMT(ret_lock_campaign, 3,
           "SELECT 1 FROM campaigns WHERE id = (SELECT s.campaign_id FROM sales s WHERE " SALE_MATCH ") FOR NO KEY UPDATE");
LX_DB_STMT(ret_lock_lead, 3,
           "SELECT region FROM leads WHERE id = (SELECT s.lead_id FROM sales s WHERE " SALE_MATCH ") FOR NO KEY UPDATE");
LX_DB_STMT(ret_lock_balance, 3,
           "SELECT 1 FROM ledger_accounts WHERE owner = (SELECT s.buyer_id FROM sales s WHERE " SALE_MATCH ") "
           "AND book = 'balance' FOR NO KEY UPDATE");
enum { C_RETURN, C_ACCEPTED, C_PURCHASES, C_BUYER_RECEIPT, C_WEBMASTER_RECEIPT };
LX_DB_STMT(ret_context, 3,
           "SELECT (SELECT r.id FROM returns r WHERE r.sale_id = s.id), "
           "(SELECT count(*) FROM returns r WHERE r.buyer_id = s.buyer_id AND r.niche_id = s.niche_id "
           " AND r.status = 'accepted' AND r.decided_at > now() - interval '30 days'), "
           "(SELECT count(*) FROM sales x WHERE x.buyer_id = s.buyer_id AND x.niche_id = s.niche_id AND (x.id = s.id OR "
           " (x.id >= " ID_30_DAYS_AGO " AND x.created_at > now() - interval '30 days'))), "
           "(SELECT r.id FROM receipts r WHERE r.ledger_txn = s.ledger_txn AND r.account_id = s.buyer_id "
           " AND r.sale_id = s.id AND r.kind = 'sale' LIMIT 1), "
           "(SELECT r.id FROM receipts r WHERE r.ledger_txn = s.ledger_txn AND r.account_id = s.webmaster_id "
           " AND r.sale_id = s.id AND r.kind = 'sale' LIMIT 1) "
           "FROM sales s WHERE " SALE_MATCH);

/* ---- step 2 ------------------------------------------------------------------------------------------------------ */

/* The refund's row changes: the sale refunded, the campaign's spent restored (its daily count is left as it is: the
 * day's deliveries happened), the lead's slot freed, and the lead kept off the market for good ($2 false: the reason
 * forbids resale; the inventory and the purchase skip resale_blocked leads). Fails (22012) rather than post a refund
 * of a sale it did not change. */
LX_DB_STMT(ret_apply_refund, 2,
           "WITH s AS (UPDATE sales SET refunded_at = now(), return_pending = false WHERE id = $1::uuid "
           "AND refunded_at IS NULL AND settled_at IS NULL RETURNING lead_id, campaign_id, price, payout), "
           "c AS (UPDATE campaigns c SET spent = c.spent - s.price FROM s WHERE c.id = s.campaign_id RETURNING c.id), "
           "l AS (UPDATE leads l SET shares_sold = l.shares_sold - 1, "
           "sold_mode = CASE WHEN l.shares_sold = 1 THEN NULL ELSE l.sold_mode END, "
           "status = CASE WHEN l.shares_sold = 1 AND l.status = 'sold' THEN 'unsold' ELSE l.status END, "
           "payout_total = l.payout_total - s.payout, "
           "resale_blocked = l.resale_blocked OR NOT $2::boolean "
           "FROM s WHERE l.id = s.lead_id RETURNING l.id) "
           "SELECT 1 / (SELECT count(*) FROM s)::int, (SELECT count(*) FROM c), (SELECT count(*) FROM l)");
LX_DB_STMT(ret_insert, 6,
           "WITH r AS (INSERT INTO returns (id, sale_id, lead_id, buyer_id, webmaster_id, niche_id, reason, comment, status, "
           "decided_at, refund_txn) SELECT $1::uuid, s.id, s.lead_id, s.buyer_id, s.webmaster_id, s.niche_id, $3, $4, $5, "
           "CASE WHEN $5 = 'pending' THEN NULL ELSE now() END, $6::uuid FROM sales s WHERE s.id = $2::uuid "
           "RETURNING sale_id, status) "
           "UPDATE sales s SET return_pending = true FROM r WHERE s.id = r.sale_id AND r.status = 'pending'");
LX_DB_STMT(ret_decide, 5,
           "WITH r AS (UPDATE returns SET status = $2, decided_by = $3::uuid, decided_at = now(), decision_note = $4, "
           "refund_txn = $5::uuid WHERE id = $1::uuid AND status = 'pending' RETURNING sale_id) "
           "UPDATE sales s SET return_pending = false FROM r WHERE s.id = r.sale_id");

typedef enum { FLOW_CREATE, FLOW_DECIDE } flow_t;

typedef struct {
    flow_t flow;
    char sale_id[LX_UUID_STRLEN + 1];   /* FLOW_CREATE: the purchase */
    char return_id[LX_UUID_STRLEN + 1]; /* FLOW_CREATE: the new return's id; FLOW_DECIDE: the return decided */
    int reason;                         /* FLOW_CREATE (a decision reads the return's own under its lock) */
    const char *comment;                /* FLOW_CREATE; async memory, may be NULL */
    int accept;                         /* FLOW_DECIDE: the operator's decision */
    const char *note;                   /* FLOW_DECIDE; async memory, may be NULL */
    lx_idem_t *idem;                    /* FLOW_CREATE: async-owned copy, or NULL */
    int attempts;
    /* step 1's result indices */
    size_t i_sale, i_return, i_lead, i_context;
    /* step 2 */
    size_t i_get;
} ret_t;

static void add_step1(lx_async_t *a, lx_req_t *lr, ret_t *t)
{
    const char *sale = t->flow == FLOW_CREATE ? lx_async_str(a, t->sale_id) : NULL;
    const char *ret = t->flow == FLOW_DECIDE ? lx_async_str(a, t->return_id) : NULL;
    const char *buyer = t->flow == FLOW_CREATE ? lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN) : NULL;
    a->job.ncalls = 0;
    a->job.flags = LX_DB_RESERVE;
    a->step = 1;
    lx_db_job_add(&a->job, &ret_begin);
    lx_db_stmt_t *locks[] = {&ret_lock_sale, &ret_lock_return, &ret_lock_campaign, &ret_lock_lead, &ret_lock_balance, &ret_context};
    for (size_t k = 0; k < sizeof(locks) / sizeof(locks[0]); k++) {
        if (locks[k] == &ret_lock_return) {
            if (t->flow != FLOW_DECIDE) continue;
            t->i_return = a->job.ncalls;
            lx_db_param(lx_db_job_add(&a->job, locks[k]), 0, ret);
            continue;
        }
        if (locks[k] == &ret_lock_sale) t->i_sale = a->job.ncalls;
        if (locks[k] == &ret_lock_lead) t->i_lead = a->job.ncalls;
        if (locks[k] == &ret_context) t->i_context = a->job.ncalls;
        lx_db_call_t *c = lx_db_job_add(&a->job, locks[k]);
        lx_db_param(c, 0, sale);
        lx_db_param(c, 1, ret);
        lx_db_param(c, 2, buyer);
    }
}

/* The refusals of step 1 for a new return, or LX_OK. */
static lx_status_t check_create(const lx_async_t *a, const ret_t *t, const char **field, char *detail, size_t len)
{
    const PGresult *sale = a->job.results[t->i_sale], *ctx = a->job.results[t->i_context];
    *field = "path.id";
    if (PQntuples(sale) != 1 || PQntuples(ctx) != 1) {
        snprintf(detail, len, "No such purchase.");
        return LX_ERR_NOT_FOUND;
    }
    if (!PQgetisnull(ctx, 0, C_RETURN)) {
        snprintf(detail, len, "The purchase was already returned (return %s).", PQgetvalue(ctx, 0, C_RETURN));
        return LX_ERR_CONFLICT;
    }
    if (PQgetvalue(sale, 0, S_REFUNDED)[0] == 't') {
        snprintf(detail, len, "The purchase was refunded.");
        return LX_ERR_CONFLICT;
    }
    if (PQgetvalue(sale, 0, S_SETTLED)[0] == 't') {
        snprintf(detail, len, "The purchase is settled: its supplier has been paid and it can no longer be returned.");
        return LX_ERR_CONFLICT;
    }
    if (PQgetvalue(sale, 0, S_IN_WINDOW)[0] != 't') {
        char at[LX_TS_LEN + 1];
        if (lx_ts_from_pg(PQgetvalue(sale, 0, S_WINDOW_END), at) != 0) lx_str_copy(at, sizeof(at), "its end");
        snprintf(detail, len, "The return window of this purchase closed at %s.", at);
        return LX_ERR_CONFLICT;
    }
    return LX_OK;
}

/* The refusals of step 1 for a decision, or LX_OK. */
static lx_status_t check_decide(const lx_async_t *a, const ret_t *t, const char **field, char *detail, size_t len)
{
    const PGresult *sale = a->job.results[t->i_sale], *ret = a->job.results[t->i_return];
    *field = "path.id";
    if (PQntuples(sale) != 1 || PQntuples(ret) != 1) {
        snprintf(detail, len, "No such return.");
        return LX_ERR_NOT_FOUND;
    }
    if (strcmp(PQgetvalue(ret, 0, 0), "pending") != 0) {
        snprintf(detail, len, "The return was already %s.", PQgetvalue(ret, 0, 0));
        return LX_ERR_CONFLICT;
    }
    *field = "/decision";
    if (t->accept && (PQgetvalue(sale, 0, S_REFUNDED)[0] == 't' || PQgetvalue(sale, 0, S_SETTLED)[0] == 't')) {
        /* Not reachable while the rows keep their rules (a pending return keeps its sale unrefunded and unsettled). */
        snprintf(detail, len, "The purchase is already %s.", PQgetvalue(sale, 0, S_REFUNDED)[0] == 't' ? "refunded" : "settled");
        return LX_ERR_CONFLICT;
    }
    return LX_OK;
}

/*
 * Adds the refund's statements to the job (before the return's own). Returns -1 when the sale's receipts are missing
 * (a sale recorded before receipts existed cannot be reversed with linked receipts).
 */
static int add_refund(lx_async_t *a, lx_req_t *lr, const ret_t *t, const char *txn_id, int resale, const char *created_by)
{
    const PGresult *sale = a->job.results[t->i_sale], *ctx = a->job.results[t->i_context];
    const PGresult *lead = a->job.results[t->i_lead];
    lx_refund_sale_t s = {.sale_id = PQgetvalue(sale, 0, S_ID),
                          .lead_id = PQgetvalue(sale, 0, S_LEAD),
                          .buyer_id = PQgetvalue(sale, 0, S_BUYER),
                          .webmaster_id = PQgetvalue(sale, 0, S_WEBMASTER),
                          .currency = PQgetvalue(sale, 0, S_CURRENCY),
                          .niche = PQgetvalue(sale, 0, S_SLUG),
                          .region = PQntuples(lead) == 1 ? PQgetvalue(lead, 0, 0) : NULL,
                          .mode = PQgetvalue(sale, 0, S_MODE),
                          .share_index = (int)lx_db_int64(sale, 0, S_SHARE),
                          .price = lx_db_int64(sale, 0, S_PRICE),
                          .fee = lx_db_int64(sale, 0, S_FEE),
                          .payout = lx_db_int64(sale, 0, S_PAYOUT),
                          .buyer_receipt = lx_db_get(ctx, 0, C_BUYER_RECEIPT),
                          .webmaster_receipt = lx_db_get(ctx, 0, C_WEBMASTER_RECEIPT)};
    if (s.region == NULL) return -1;
    lx_ledger_rows_t ledger = {0};
    lx_receipt_rows_t receipts = {0};
    lx_ledger_rows_start(&ledger);
    lx_receipts_start(&receipts);
    int rc = lx_refund_build(&s, txn_id, created_by, lr->worker->server->keys, &ledger, &receipts);
    if (rc == 0) {
        lx_async_post(a, &ledger, &receipts);
        lx_db_call_t *c = lx_db_job_add(&a->job, &ret_apply_refund);
        lx_db_param(c, 0, lx_async_str(a, s.sale_id));
        lx_db_param(c, 1, resale ? "true" : "false");
    }
    lx_ledger_rows_free(&ledger);
    lx_receipts_free(&receipts);
    return rc;
}

static void add_tail(lx_async_t *a, lx_req_t *lr, ret_t *t)
{
    t->i_get = a->job.ncalls;
    add_get(lr, a, t->return_id);
    lx_db_job_add(&a->job, &ret_commit);
}

/* Step 2 of a new return. */
static void add_create(lx_async_t *a, lx_req_t *lr, ret_t *t)
{
    const PGresult *sale = a->job.results[t->i_sale], *ctx = a->job.results[t->i_context];
    unsigned mask = 0;
    if (lx_return_reasons_from_pg(PQgetvalue(sale, 0, S_AUTO), &mask) != 0) mask = 0;
    int accept = lx_return_auto_accept(mask, (lx_return_reason_t)t->reason, lx_db_int64(ctx, 0, C_ACCEPTED),
                                       lx_db_int64(ctx, 0, C_PURCHASES), (int)lx_db_int64(sale, 0, S_MAX_RATE));
    const char *sale_id = lx_async_str(a, PQgetvalue(sale, 0, S_ID));
    a->job.ncalls = 0; /* from here on step 1's results are only read through copies */
    const char *txn_id = NULL;
    if (accept) {
        txn_id = lx_async_new_id(a);
        /* add_refund reads step 1's results, which stay valid until this callback returns */
        if (add_refund(a, lr, t, txn_id, lx_return_reason_resale((lx_return_reason_t)t->reason), NULL) != 0) {
            lx_log(LX_LOG_WARN, "return_not_refundable", "sale %s lacks the receipts a refund reverses; left pending", sale_id);
            accept = 0, txn_id = NULL;
        }
    }
    lx_db_call_t *c = lx_db_job_add(&a->job, &ret_insert);
    lx_db_param(c, 0, lx_async_str(a, t->return_id));
    lx_db_param(c, 1, sale_id);
    lx_db_param(c, 2, lx_return_reasons[t->reason]);
    lx_db_param(c, 3, t->comment);
    lx_db_param(c, 4, accept ? "accepted" : "pending");
    lx_db_param(c, 5, txn_id);
    if (t->idem != NULL) lx_idem_record(a, t->idem, 201, t->return_id);
    add_tail(a, lr, t);
}

/* Step 2 of a decision; -1 when the refund cannot be built (answered by the caller). */
static int add_decide(lx_async_t *a, lx_req_t *lr, ret_t *t)
{
    const PGresult *sale = a->job.results[t->i_sale], *ret = a->job.results[t->i_return];
    int reason = lx_return_reason_parse(PQgetvalue(ret, 0, 1), (size_t)PQgetlength(ret, 0, 1));
    const char *sale_id = lx_async_str(a, PQgetvalue(sale, 0, S_ID));
    const char *op = lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN);
    a->job.ncalls = 0;
    const char *txn_id = NULL;
    if (t->accept) {
        txn_id = lx_async_new_id(a);
        if (add_refund(a, lr, t, txn_id, reason >= 0 && lx_return_reason_resale((lx_return_reason_t)reason), op) != 0) return -1;
    }
    lx_db_call_t *c = lx_db_job_add(&a->job, &ret_decide);
    lx_db_param(c, 0, lx_async_str(a, t->return_id));
    lx_db_param(c, 1, t->accept ? "accepted" : "rejected");
    lx_db_param(c, 2, op);
    lx_db_param(c, 3, t->note);
    lx_db_param(c, 4, txn_id);
    lx_action_log_add(a, lr, "return.decide", t->return_id,
                      json_pack("{s:s, s:s, s:o, s:o}", "decision", t->accept ? "accept" : "reject", "sale_id", sale_id,
                                "refund_txn", txn_id ? json_string(txn_id) : json_null(), "note",
                                t->note ? json_string(t->note) : json_null()));
    add_tail(a, lr, t);
    return 0;
}

static int retryable(const char *sqlstate)
{
    return strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "40001") == 0;
}

static void abandon(lx_req_t *lr, ret_t *t)
{
    if (t->idem != NULL) lx_idem_abandon(lr->worker, lr, t->idem);
}

static int on_step(lx_req_t *lr, lx_async_t *a)
{
    ret_t *t = a->user;
    if (a->job.status != LX_DB_OK) {
        /* The pool has rolled the transaction back and ended the reservation. */
        if (a->job.status == LX_DB_ERR_QUERY && retryable(a->job.sqlstate) && ++t->attempts < MAX_ATTEMPTS) {
            add_step1(a, lr, t);
            if (lx_db_submit(lr->worker->db, &a->job) == 0) return 1;
        }
        abandon(lr, t);
        if (a->job.status == LX_DB_ERR_QUERY && strcmp(a->job.sqlstate, "23505") == 0)
            lx_respond_problem(lr, LX_ERR_CONFLICT, "path.id", "The purchase was already returned.");
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    if (a->step == 2) {
        respond_return(lr, a->job.results[t->i_get], t->flow == FLOW_CREATE ? 201 : 200, LX_ERR_INTERNAL,
                       "The return was not recorded.");
        return 0;
    }
    const char *field = NULL;
    char detail[192];
    lx_status_t st = t->flow == FLOW_CREATE ? check_create(a, t, &field, detail, sizeof(detail))
                                            : check_decide(a, t, &field, detail, sizeof(detail));
    if (st != LX_OK) {
        abandon(lr, t);
        lx_respond_problem(lr, st, field, "%s", detail);
        return 0; /* the release rolls the transaction back */
    }
    a->step = 2;
    if (t->flow == FLOW_CREATE) {
        add_create(a, lr, t);
    } else if (add_decide(a, lr, t) != 0) {
        lx_respond_problem(lr, LX_ERR_CONFLICT, "/decision",
                           "The purchase has no sale receipts to reverse (it predates receipts); it cannot be refunded here.");
        return 0;
    }
    if (lx_db_continue(&a->job) != 0) {
        abandon(lr, t);
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    return 1;
}

/* ---- POST /v1/purchases/{id}/return ------------------------------------------------------------------------------ */

typedef struct {
    char sale_id[LX_UUID_STRLEN + 1];
    int reason;
    const char *comment; /* request pool, or NULL */
} create_req_t;

static void create_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    const create_req_t *in = lr->handler_data;
    lx_async_t *a = lx_async_new(lr, on_step);
    ret_t *t = lx_async_alloc(a, sizeof(*t));
    memset(t, 0, sizeof(*t));
    t->flow = FLOW_CREATE;
    memcpy(t->sale_id, in->sale_id, sizeof(t->sale_id));
    memcpy(t->return_id, lx_async_new_id(a), LX_UUID_STRLEN + 1);
    t->reason = in->reason;
    t->comment = lx_async_str(a, in->comment);
    t->idem = lx_idem_copy(a, idem);
    a->user = t;
    add_step1(a, lr, t);
    lx_async_submit(a);
}

static int on_replayed(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_return(lr, a->job.results[0], 201, LX_ERR_INTERNAL, "The stored return is missing.");
    return 0;
}

static void create_replay(lx_req_t *lr, int status, const char *resource_id)
{
    (void)status;
    lx_async_t *a = lx_async_new(lr, on_replayed);
    add_get(lr, a, resource_id);
    lx_async_submit(a);
}

/* A comment or note (1 to NOTE_CHARS characters, `flags` as lx_json_string's): 1 and *out when given, 0 when absent
 * (or null, if NULLABLE), -1 on an error added to err. One made only of blanks (lx_text_trim's: spaces, tabs, line
 * breaks, no-break spaces) says nothing and is refused, as blank names and references are. */
static int note_member(json_t *body, const char *key, unsigned flags, const char **out, lx_error_t *err)
{
    int rc = lx_json_string(body, "", key, flags, 1, NOTE_CHARS, out, err);
    if (rc != 1) return rc;
    const char *text = *out;
    size_t len = strlen(text);
    lx_text_trim(&text, &len);
    if (len == 0) {
        char ptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(ptr, "", key);
        lx_error_field(err, ptr, "must not be blank");
        return -1;
    }
    return rc;
}

void lx_api_purchases_return(lx_req_t *lr)
{
    create_req_t *in = h2o_mem_alloc_pool(&lr->req->pool, sizeof(*in));
    memset(in, 0, sizeof(*in));
    lx_uuid_t id;
    if (lx_req_path_uuid(lr, "id", &id, in->sale_id) != 0) return;
    static const char *const allowed[] = {"reason", "comment", NULL};
    lx_error_t err;
    lx_error_init(&err);
    if (lx_json_expect_object(lr->body, "", &err) == 0) {
        lx_json_reject_unknown(lr->body, "", allowed, &err);
        json_t *reason = json_object_get(lr->body, "reason");
        if (reason == NULL)
            lx_error_field(&err, "/reason", "is required");
        else if (!json_is_string(reason) ||
                 (in->reason = lx_return_reason_parse(json_string_value(reason), json_string_length(reason))) < 0)
            lx_error_field(&err, "/reason", "must be one of invalid_contact, duplicate, out_of_region, fake, other");
        const char *comment;
        if (note_member(lr->body, "comment", LX_JF_NULLABLE, &comment, &err) == 1)
            in->comment = h2o_strdup(&lr->req->pool, comment, SIZE_MAX).base;
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The return is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lr->handler_data = in;
    lx_idem_start(lr, "returns.create", create_fresh, create_replay);
}

/* ---- POST /v1/returns/{id}/decision ------------------------------------------------------------------------------ */

void lx_api_returns_decide(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    static const char *const allowed[] = {"decision", "note", NULL};
    static const char *const decisions[] = {"accept", "reject", NULL};
    lx_error_t err;
    lx_error_init(&err);
    int decision = 0;
    const char *note = NULL;
    if (lx_json_expect_object(lr->body, "", &err) == 0) {
        lx_json_reject_unknown(lr->body, "", allowed, &err);
        lx_json_enum(lr->body, "", "decision", LX_JF_REQUIRED, decisions, &decision, &err);
        if (note_member(lr->body, "note", LX_JF_NULLABLE, &note, &err) != 1) note = NULL;
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The decision is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_step);
    ret_t *t = lx_async_alloc(a, sizeof(*t));
    memset(t, 0, sizeof(*t));
    t->flow = FLOW_DECIDE;
    memcpy(t->return_id, ids, sizeof(t->return_id));
    t->accept = decision == 0;
    t->note = lx_async_str(a, note);
    a->user = t;
    add_step1(a, lr, t);
    lx_async_submit(a);
}

/* ---- POST /v1/returns/{id}/contest ------------------------------------------------------------------------------- */

/* Only a pending return of the caller's lead (the note replaces an earlier one); the select says why not otherwise. */
LX_DB_STMT(ret_contest, 3,
           "WITH u AS (UPDATE returns SET contest_note = $3, contested_at = now() WHERE id = $1::uuid "
           "AND webmaster_id = $2::uuid AND status = 'pending' RETURNING id) "
           "SELECT (SELECT count(*) FROM u), r.status FROM returns r "
           "WHERE r.id = $1::uuid AND r.webmaster_id = $2::uuid");

static int on_contest(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, "path.id", "No such return.");
    } else if (strcmp(PQgetvalue(r, 0, 0), "1") != 0) {
        lx_respond_problem(lr, LX_ERR_CONFLICT, "path.id", "The return was already %s.", PQgetvalue(r, 0, 1));
    } else {
        respond_return(lr, a->job.results[1], 200, LX_ERR_INTERNAL, "The contest was not recorded.");
    }
    return 0;
}

void lx_api_returns_contest(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    static const char *const allowed[] = {"note", NULL};
    lx_error_t err;
    lx_error_init(&err);
    const char *note = NULL;
    if (lx_json_expect_object(lr->body, "", &err) == 0) {
        lx_json_reject_unknown(lr->body, "", allowed, &err);
        note_member(lr->body, "note", LX_JF_REQUIRED, &note, &err);
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The contest is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_contest);
    lx_db_call_t *c = lx_db_job_add(&a->job, &ret_contest);
    lx_db_param(c, 0, lx_async_str(a, ids));
    lx_db_param(c, 1, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    lx_db_param(c, 2, lx_async_str(a, note));
    add_get(lr, a, ids);
    lx_async_submit(a);
}
