/*
 * Campaigns: an advertiser's standing bids in one niche. POST/GET/PATCH
 * /v1/campaigns, POST /v1/campaigns/{id}/pause and /resume.
 *
 * Roles: advertisers create campaigns and see, change, pause and resume only
 * their own (another advertiser's is 404); operators see every campaign and
 * may change only its status (pause, resume, archive), and each change they
 * make goes to the operator action log (campaign.update, campaign.pause,
 * campaign.resume); webmasters get 403.
 *
 * Bodies are checked by market/campaign.h against the niche (read from the
 * database with the caller's currency, one round trip) and the region
 * catalogue, then written by one statement, so a refused request writes
 * nothing. The time zone's existence is PostgreSQL's to judge: every
 * statement that stores one evaluates now() AT TIME ZONE tz, and SQLSTATE
 * 22023 is answered 422 at /schedule/tz. Whenever a price changes, bid_seq
 * takes the next value of campaign_bid_seq: equal bids go to the bid set
 * first, and a bid set again goes to the back. The intake batch reads the
 * campaign rows on every lead, so a change applies to the next lead.
 */
#include "api/action_log.h"
#include "api/common.h"
#include "api/handlers.h"
#include "leads/niche.h"
#include "market/campaign.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Campaign resource: every handler selects these columns (FROM campaigns c JOIN niches n) and renders them with
 * campaign_json. today_count is the daily counter when it belongs to the campaign's local today, else 0. */
#define CAMPAIGN_COLS                                                                                                              \
    "c.id, c.advertiser_id, n.slug, c.name, array_to_json(c.regions), c.price_exclusive, c.price_shared, c.filters, c.tz, "        \
    "c.hours, c.daily_cap, c.budget, c.spent, "                                                                                    \
    "CASE WHEN c.daily_day = (now() AT TIME ZONE c.tz)::date THEN c.daily_count ELSE 0 END, "                                      \
    "array_to_json(c.exclude_sources), c.exclude_bought_contacts_days, c.status, n.currency, c.created_at, c.updated_at"
/* Columns of CAMPAIGN_COLS the PATCH checks read; NICHE_NCOLS: the LX_NICHE_COLS before them in campaign_for_patch. */
enum {
    COL_PRICE_EXCLUSIVE = 5,
    COL_PRICE_SHARED = 6,
    COL_SPENT = 12,
    COL_TODAY = 13,
    COL_STATUS = 16,
    NICHE_NCOLS = LX_NICHE_NCOLS
};
#define CAMPAIGN_FROM " FROM campaigns c JOIN niches n ON n.id = c.niche_id "

/* The update statement tests bit (1 << p) of its mask for parameter p: the SQL below spells the numbers out. */
_Static_assert(LX_CAMPAIGN_NAME == 0 && LX_CAMPAIGN_REGIONS == 1 && LX_CAMPAIGN_PRICE_EXCLUSIVE == 2 &&
                   LX_CAMPAIGN_PRICE_SHARED == 3 && LX_CAMPAIGN_FILTERS == 4 && LX_CAMPAIGN_TZ == 5 && LX_CAMPAIGN_HOURS == 6 &&
                   LX_CAMPAIGN_DAILY_CAP == 7 && LX_CAMPAIGN_BUDGET == 8 && LX_CAMPAIGN_EXCLUDE_SOURCES == 9 &&
                   LX_CAMPAIGN_EXCLUDE_DAYS == 10 && LX_CAMPAIGN_STATUS == 11 && LX_CAMPAIGN__PARAMS == 12,
               "the statements below number the campaign parameters");

/* The niche a create body names, and the caller's currency (column NICHE_NCOLS). */
LX_DB_STMT(campaign_niche, 2,
           "SELECT " LX_NICHE_COLS ", (SELECT a.currency FROM accounts a WHERE a.id = $2::uuid) FROM niches WHERE slug = $1");
LX_DB_STMT(
    campaign_insert, 15,
    "WITH c AS (INSERT INTO campaigns (id, advertiser_id, niche_id, name, regions, price_exclusive, price_shared, filters, tz, "
    "hours, daily_cap, budget, exclude_sources, exclude_bought_contacts_days, status) "
    "SELECT $1::uuid, $2::uuid, $3::uuid, $4::text, $5::text[], $6::bigint, $7::bigint, $8::jsonb, $9::text, $10::jsonb, "
    "$11::int, $12::bigint, $13::text[], $14::int, $15::text "
    "WHERE (now() AT TIME ZONE $9::text) IS NOT NULL RETURNING *) "
    "SELECT " CAMPAIGN_COLS " FROM c JOIN niches n ON n.id = c.niche_id");
LX_DB_STMT(campaign_get, 2,
           "SELECT " CAMPAIGN_COLS CAMPAIGN_FROM "WHERE c.id = $1::uuid AND ($2::uuid IS NULL OR c.advertiser_id = $2::uuid)");
LX_DB_STMT(campaign_list, 5,
           "SELECT " CAMPAIGN_COLS CAMPAIGN_FROM "WHERE ($1::uuid IS NULL OR c.advertiser_id = $1::uuid) AND ($2::text IS NULL OR "
           "n.slug = $2::text) AND ($3::text IS NULL OR c.status = $3::text) AND ($4::uuid IS NULL OR c.id > $4::uuid) "
           "ORDER BY c.id LIMIT $5::int");
/* The stored campaign with its niche: LX_NICHE_COLS first (lx_niche_from_row), then CAMPAIGN_COLS. */
LX_DB_STMT(campaign_for_patch, 2,
           "SELECT n.*, " CAMPAIGN_COLS " FROM campaigns c JOIN (SELECT " LX_NICHE_COLS
           " FROM niches) n ON n.id = c.niche_id WHERE c.id = $1::uuid AND ($2::uuid IS NULL OR c.advertiser_id = $2::uuid)");
#define NEW_TZ     "(CASE WHEN $3::int & 32 <> 0 THEN $9::text ELSE c.tz END)"
#define TZ_CHANGED "($3::int & 32 <> 0 AND $9::text IS DISTINCT FROM c.tz)"
#define NEW_CAP    "(CASE WHEN $3::int & 128 <> 0 THEN $11::int ELSE c.daily_cap END)"
/* The new zone's last midnight as a timestamptz; the sale ids (UUIDv7, made by the intake a moment before its
 * transaction's now()) bound the scan of the buyer's sales, a day to spare. */
#define NEW_MIDNIGHT "(date_trunc('day', now() AT TIME ZONE " NEW_TZ ") AT TIME ZONE " NEW_TZ ")"
/* $16: the operator making the change (NULL: the advertiser), whose action is logged with details $17. */
/* clang-format off */
LX_DB_STMT(campaign_update, 17,
           "WITH u AS (UPDATE campaigns c SET "
           "name = CASE WHEN $3::int & 1 <> 0 THEN $4::text ELSE c.name END, "
           "regions = CASE WHEN $3::int & 2 <> 0 THEN $5::text[] ELSE c.regions END, "
           "price_exclusive = CASE WHEN $3::int & 4 <> 0 THEN $6::bigint ELSE c.price_exclusive END, "
           "price_shared = CASE WHEN $3::int & 8 <> 0 THEN $7::bigint ELSE c.price_shared END, "
           "filters = CASE WHEN $3::int & 16 <> 0 THEN $8::jsonb ELSE c.filters END, "
           "tz = " NEW_TZ ", "
           "hours = CASE WHEN $3::int & 64 <> 0 THEN $10::jsonb ELSE c.hours END, "
           "daily_cap = " NEW_CAP ", "
           "budget = CASE WHEN $3::int & 256 <> 0 THEN $12::bigint ELSE c.budget END, "
           "exclude_sources = CASE WHEN $3::int & 512 <> 0 THEN $13::text[] ELSE c.exclude_sources END, "
           "exclude_bought_contacts_days = CASE WHEN $3::int & 1024 <> 0 THEN $14::int ELSE c.exclude_bought_contacts_days END, "
           "status = CASE WHEN $3::int & 2048 <> 0 THEN $15::text ELSE c.status END, "
           /* a changed price goes to the back of the equal bids; the same price set again keeps its place */
           "bid_seq = CASE WHEN ($3::int & 4 <> 0 AND $6::bigint IS DISTINCT FROM c.price_exclusive) OR "
           "($3::int & 8 <> 0 AND $7::bigint IS DISTINCT FROM c.price_shared) THEN nextval('campaign_bid_seq') ELSE c.bid_seq END, "
           /* a count of an earlier local day is zero today (the intake reads it so); saying so lets the cap's CHECK judge
              a new cap by today's count only. A new zone starts its day elsewhere: today's count is then the campaign's
              sales since the new zone's midnight, refunded ones too, as the intake counts them (zeroing it let a change
              of zone and back buy past the cap; a count above the cap stops the campaign for the day) */
           "daily_count = CASE WHEN " TZ_CHANGED " THEN least((SELECT count(*) FROM sales s "
           "WHERE s.buyer_id = c.advertiser_id AND s.campaign_id = c.id AND s.created_at >= " NEW_MIDNIGHT " "
           "AND s.id >= lx_uuid_v7_floor(" NEW_MIDNIGHT " - interval '1 day')), coalesce(" NEW_CAP ", 2147483647))::int "
           "WHEN c.daily_day = (now() AT TIME ZONE " NEW_TZ ")::date THEN c.daily_count ELSE 0 END, "
           "daily_day = CASE WHEN " TZ_CHANGED " THEN (now() AT TIME ZONE " NEW_TZ ")::date ELSE c.daily_day END, "
           "updated_at = now() "
           "FROM niches n WHERE c.id = $1::uuid AND n.id = c.niche_id AND c.status <> 'archived' "
           "AND ($2::uuid IS NULL OR c.advertiser_id = $2::uuid) AND (now() AT TIME ZONE " NEW_TZ ") IS NOT NULL "
           "RETURNING c.*), "
           "l AS (" LX_ACTION_LOG_INSERT("$16", "'campaign.update'", "u.id::text", "$17") " FROM u WHERE $16::uuid IS NOT NULL) "
           "SELECT " CAMPAIGN_COLS " FROM u c JOIN niches n ON n.id = c.niche_id");
/* clang-format on */
/* Pause or resume: column 0 is the status found (no row: no such campaign), then the campaign as it is now (NULLs when
 * it was archived and nothing changed). $4: the operator doing it (NULL: the advertiser), whose action ($5) is logged
 * when the status changes. */
/* clang-format off */
LX_DB_STMT(campaign_set_status, 5,
           "WITH t AS (SELECT id, status FROM campaigns WHERE id = $1::uuid AND ($2::uuid IS NULL OR advertiser_id = $2::uuid) "
           "FOR UPDATE), "
           "u AS (UPDATE campaigns c SET status = $3::text, "
           "updated_at = CASE WHEN c.status = $3::text THEN c.updated_at ELSE now() END "
           "FROM t WHERE c.id = t.id AND t.status <> 'archived' RETURNING c.*), "
           "l AS (" LX_ACTION_LOG_INSERT("$4", "$5::text", "u.id::text",
                                         "json_build_object('advertiser_id', u.advertiser_id, 'from', t.status, 'to', u.status)")
           " FROM u JOIN t ON t.id = u.id WHERE $4::uuid IS NOT NULL AND t.status <> u.status) "
           "SELECT t.status, " CAMPAIGN_COLS " FROM t LEFT JOIN u c ON true LEFT JOIN niches n ON n.id = c.niche_id");
/* clang-format on */

/* ---- rendering --------------------------------------------------------------------------------- */

static json_t *int_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10));
}

/* A json/jsonb column as JSON, or NULL when SQL NULL (or, logged, unreadable). */
static json_t *json_col(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return NULL;
    json_t *v = json_loadb(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col), JSON_DECODE_ANY, NULL);
    if (v == NULL)
        lx_log(LX_LOG_ERROR, "campaign_json_unreadable", "campaign %s: column %d does not parse", PQgetvalue(r, row, 0), col);
    return v;
}

/* {tz, hours} with the days in week order, or null for a campaign always open on UTC days. */
static json_t *schedule_json(const PGresult *r, int row, int c)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    const char *tz = PQgetvalue(r, row, c + 8);
    json_t *stored = json_col(r, row, c + 9);
    if (stored == NULL && strcmp(tz, "UTC") == 0) return json_null();
    json_t *hours = json_null();
    if (stored != NULL) { /* every day, [] when closed */
        hours = json_object();
        for (size_t d = 0; d < sizeof(days) / sizeof(days[0]); d++) {
            json_t *spans = json_object_get(stored, days[d]);
            json_object_set_new(hours, days[d], spans != NULL ? json_incref(spans) : json_array());
        }
        json_decref(stored);
    }
    return json_pack("{s:s, s:o}", "tz", tz, "hours", hours);
}

/* Every filter member, empty or null when it filters nothing (stored are only those that filter). */
static json_t *filters_json(const PGresult *r, int row, int c)
{
    json_t *stored = json_col(r, row, c + 7);
    json_t *attrs = json_object_get(stored, "attributes"), *required = json_object_get(stored, "required");
    json_t *mq = json_object_get(stored, "min_quality"), *temps = json_object_get(stored, "temperatures");
    json_t *o = json_object();
    json_object_set_new(o, "attributes", attrs != NULL ? json_incref(attrs) : json_object());
    json_object_set_new(o, "required", required != NULL ? json_incref(required) : json_array());
    json_object_set_new(o, "min_quality", mq != NULL ? json_incref(mq) : json_null());
    json_object_set_new(o, "temperatures", temps != NULL ? json_incref(temps) : json_null());
    json_decref(stored);
    return o;
}

/* The CAMPAIGN_COLS columns from `c` on. */
static json_t *campaign_json(const PGresult *r, int row, int c)
{
    json_t *regions = json_col(r, row, c + 4), *excluded = json_col(r, row, c + 14);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(PQgetvalue(r, row, c)));
    json_object_set_new(o, "advertiser_id", json_string(PQgetvalue(r, row, c + 1)));
    json_object_set_new(o, "niche", json_string(PQgetvalue(r, row, c + 2)));
    json_object_set_new(o, "name", PQgetisnull(r, row, c + 3) ? json_null() : json_string(PQgetvalue(r, row, c + 3)));
    json_object_set_new(o, "regions", regions != NULL ? regions : json_array());
    json_object_set_new(o, "price_exclusive", int_or_null(r, row, c + 5));
    json_object_set_new(o, "price_shared", int_or_null(r, row, c + 6));
    json_object_set_new(o, "filters", filters_json(r, row, c));
    json_object_set_new(o, "schedule", schedule_json(r, row, c));
    json_object_set_new(o, "daily_cap", int_or_null(r, row, c + 10));
    json_object_set_new(o, "budget", int_or_null(r, row, c + 11));
    json_object_set_new(o, "spent", int_or_null(r, row, c + 12));
    json_object_set_new(o, "today_count", int_or_null(r, row, c + 13));
    json_object_set_new(o, "exclude_sources", excluded != NULL ? excluded : json_array());
    json_object_set_new(o, "exclude_bought_contacts_days", int_or_null(r, row, c + 15));
    json_object_set_new(o, "status", json_string(PQgetvalue(r, row, c + 16)));
    json_object_set_new(o, "currency", json_string(PQgetvalue(r, row, c + 17)));
    json_object_set_new(o, "created_at", lx_ts_json(r, row, c + 18));
    json_object_set_new(o, "updated_at", lx_ts_json(r, row, c + 19));
    return o;
}

/* The account whose campaigns the caller may touch: its own for an advertiser, NULL (any) for an operator. */
static const char *owner_of(lx_req_t *lr)
{
    return lr->who.role == LX_ROLE_OPERATOR ? NULL : lr->who.account_id_str;
}

/* The operator whose change goes to the action log (api/action_log.h), NULL for an advertiser changing its own. */
static const char *operator_of(lx_req_t *lr)
{
    return lr->who.role == LX_ROLE_OPERATOR ? lr->who.account_id_str : NULL;
}

/* Failures of a statement that stores a campaign: an unknown time zone is the client's; a CHECK failing on an update is
 * a concurrent change's doing (the handler checked the row it read), a conflict; anything else is the server's (an
 * insert of a body the parser accepted passes every CHECK). */
static void respond_write_failure(lx_req_t *lr, const lx_db_job_t *job, int update)
{
    if (job->status == LX_DB_ERR_QUERY && strcmp(job->sqlstate, "22023") == 0)
        lx_respond_problem(lr, LX_ERR_VALIDATION, "/schedule/tz",
                           "is not a time zone PostgreSQL knows (an IANA name such as Europe/Moscow)");
    else if (update && job->status == LX_DB_ERR_QUERY && strcmp(job->sqlstate, "23514") == 0)
        lx_respond_problem(lr, LX_ERR_CONFLICT, NULL,
                           "The campaign changed meanwhile: the change would leave it without a price, with a budget below "
                           "what it spent or a daily cap below today's count. Read it and try again.");
    else
        lx_respond_db_failure(lr, job);
}

/* One campaign row (column 0 on) answered with `status`, or 404. */
static void respond_row(lx_req_t *lr, lx_async_t *a, int status)
{
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1)
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such campaign.");
    else
        lx_respond_json(lr, status, campaign_json(r, 0, 0));
}

/* ---- POST /v1/campaigns ---------------------------------------------------------------------------- */

/* What the create keeps between the niche look-up and the insert (request pool). */
typedef struct {
    char niche_id[LX_UUID_STRLEN + 1];
    char *params[LX_CAMPAIGN__PARAMS];
} create_t;

static int on_created(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_idem_t *idem = a->user;
        if (idem != NULL) lx_idem_abandon(lr->worker, lr, idem);
        respond_write_failure(lr, &a->job, 0);
        return 0;
    }
    respond_row(lr, a, 201);
    return 0;
}

static void create_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    create_t *cr = lr->handler_data;
    lx_async_t *a = lx_async_new(lr, on_created);
    a->user = lx_idem_copy(a, idem);
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    lx_uuid_v7(&id);
    lx_uuid_format(&id, ids);
    lx_db_call_t *c = lx_db_job_add(&a->job, &campaign_insert);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_db_param(c, 1, lx_async_str(a, lr->who.account_id_str));
    lx_db_param(c, 2, lx_async_str(a, cr->niche_id));
    for (int p = 0; p < LX_CAMPAIGN__PARAMS; p++) lx_db_param(c, 3 + p, lx_async_str(a, cr->params[p]));
    if (idem != NULL) lx_idem_record(a, idem, 201, ids);
    lx_async_submit(a);
}

static int on_replayed(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_row(lr, a, 201);
    return 0;
}

static void create_replay(lx_req_t *lr, int status, const char *resource_id)
{
    (void)status;
    lx_async_t *a = lx_async_new(lr, on_replayed);
    lx_db_call_t *c = lx_db_job_add(&a->job, &campaign_get);
    lx_db_param(c, 0, lx_async_str(a, resource_id));
    lx_db_param(c, 1, lx_async_str(a, lr->who.account_id_str));
    lx_async_submit(a);
}

/* Validates the body against the niche (NULL: none of that slug) and goes on to the insert. */
static void create_checked(lx_req_t *lr, const lx_niche_t *niche, const char *currency)
{
    lx_error_t err;
    lx_error_init(&err);
    lx_campaign_t cp;
    if (lx_campaign_parse(lr->body, niche, lr->worker->server->regions, currency, &cp, &err) != LX_OK) {
        lx_respond_error(lr, &err);
        return;
    }
    create_t *cr = h2o_mem_alloc_pool(&lr->req->pool, sizeof(*cr));
    memcpy(cr->niche_id, niche->id, sizeof(cr->niche_id));
    for (int p = 0; p < LX_CAMPAIGN__PARAMS; p++) {
        cr->params[p] = NULL;
        if (cp.params[p] != NULL) {
            size_t len = strlen(cp.params[p]);
            cr->params[p] = h2o_mem_alloc_pool(&lr->req->pool, len + 1);
            memcpy(cr->params[p], cp.params[p], len + 1);
        }
    }
    lx_campaign_dispose(&cp);
    lr->handler_data = cr;
    lx_idem_start(lr, "campaigns.create", create_fresh, create_replay);
}

static int on_create_niche(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    lx_niche_t *niche = PQntuples(r) == 1 ? lx_niche_from_row(r, 0, 0) : NULL;
    const char *currency = PQntuples(r) == 1 && !PQgetisnull(r, 0, NICHE_NCOLS) ? PQgetvalue(r, 0, NICHE_NCOLS) : NULL;
    create_checked(lr, niche, currency);
    lx_niche_unref(niche);
    return 0;
}

void lx_api_campaigns_create(lx_req_t *lr)
{
    const char *slug = lx_campaign_niche_slug(lr->body);
    if (slug == NULL) { /* names no niche: every other problem is still worth reporting, and none needs the database */
        create_checked(lr, NULL, NULL);
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_create_niche);
    lx_db_call_t *c = lx_db_job_add(&a->job, &campaign_niche);
    lx_db_param(c, 0, lx_async_str(a, slug));
    lx_db_param(c, 1, lx_async_str(a, lr->who.account_id_str));
    lx_async_submit(a);
}

/* ---- GET /v1/campaigns, GET /v1/campaigns/{id} ---------------------------------------------------- */

static int on_row(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_row(lr, a, 200);
    return 0;
}

void lx_api_campaigns_get(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_row);
    lx_db_call_t *c = lx_db_job_add(&a->job, &campaign_get);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_db_param(c, 1, lx_async_str(a, owner_of(lr)));
    lx_async_submit(a);
}

static json_t *campaign_row(const PGresult *r, int row, void *ctx)
{
    (void)ctx;
    return campaign_json(r, row, 0);
}

static int on_list(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    lx_respond_json(lr, 200, lx_page_json(a, a->job.results[0], campaign_row, NULL));
    return 0;
}

void lx_api_campaigns_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "niche", "status", NULL};
    const char *q[4];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    if (q[2] != NULL && !lx_niche_slug_valid(q[2], strlen(q[2]))) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.niche", "niche must be a niche slug, e.g. consumer-loans.");
        return;
    }
    if (q[3] != NULL && strcmp(q[3], "active") != 0 && strcmp(q[3], "paused") != 0 && strcmp(q[3], "archived") != 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.status", "status must be active, paused or archived.");
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_list);
    lx_db_call_t *c = lx_db_job_add(&a->job, &campaign_list);
    lx_db_param(c, 0, lx_async_str(a, owner_of(lr)));
    lx_db_param(c, 1, lx_async_str(a, q[2]));
    lx_db_param(c, 2, lx_async_str(a, q[3]));
    lx_db_param(c, 3, cursor[0] ? lx_async_str(a, cursor) : NULL);
    lx_db_param(c, 4, lx_async_page_limit(a, limit));
    lx_async_submit(a);
}

/* ---- PATCH /v1/campaigns/{id} ------------------------------------------------------------------------ */

static int on_updated(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        respond_write_failure(lr, &a->job, 1);
        return 0;
    }
    if (PQntuples(a->job.results[0]) != 1) /* it was there a moment ago: archived since (or gone, which never happens) */
        lx_respond_problem(lr, LX_ERR_CONFLICT, NULL, "The campaign was archived meanwhile; an archived campaign never changes.");
    else
        respond_row(lr, a, 200);
    return 0;
}

static int64_t col_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The checks that need the stored row; 0 when the change may go ahead, else answered. */
static int check_against_row(lx_req_t *lr, const lx_campaign_t *cp, const PGresult *r, int c)
{
    if (strcmp(PQgetvalue(r, 0, c + COL_STATUS), "archived") == 0) {
        lx_respond_problem(lr, LX_ERR_CONFLICT, NULL, "The campaign is archived; an archived campaign never changes.");
        return -1;
    }
    int64_t px = cp->set & (1u << LX_CAMPAIGN_PRICE_EXCLUSIVE) ? cp->price_exclusive : col_int(r, 0, c + COL_PRICE_EXCLUSIVE);
    int64_t ps = cp->set & (1u << LX_CAMPAIGN_PRICE_SHARED) ? cp->price_shared : col_int(r, 0, c + COL_PRICE_SHARED);
    if (px == 0 && ps == 0) {
        lx_error_t err;
        lx_error_init(&err);
        if (cp->set & (1u << LX_CAMPAIGN_PRICE_EXCLUSIVE))
            lx_error_field(&err, "/price_exclusive",
                           "cannot be removed while price_shared is null: a campaign keeps at least one price");
        if (cp->set & (1u << LX_CAMPAIGN_PRICE_SHARED))
            lx_error_field(&err, "/price_shared",
                           "cannot be removed while price_exclusive is null: a campaign keeps at least one price");
        lx_error_set(&err, LX_ERR_VALIDATION, "The change is not valid.");
        lx_respond_error(lr, &err);
        return -1;
    }
    int64_t spent = col_int(r, 0, c + COL_SPENT);
    if ((cp->set & (1u << LX_CAMPAIGN_BUDGET)) && cp->budget != 0 && cp->budget < spent) {
        lx_respond_problem(lr, LX_ERR_CONFLICT, "/budget", "must not be below what the campaign has spent already (%lld)",
                           (long long)spent);
        return -1;
    }
    int64_t today = col_int(r, 0, c + COL_TODAY);
    if ((cp->set & (1u << LX_CAMPAIGN_DAILY_CAP)) && cp->daily_cap != 0 && cp->daily_cap < today) {
        lx_respond_problem(lr, LX_ERR_CONFLICT, "/daily_cap", "must not be below the leads bought today (%lld)", (long long)today);
        return -1;
    }
    return 0;
}

static int on_patch_read(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such campaign.");
        return 0;
    }
    lx_niche_t *niche = lx_niche_from_row(r, 0, 0);
    if (niche == NULL) {
        lx_log(LX_LOG_ERROR, "campaign_niche_unreadable", "campaign %s: its niche row does not read",
               PQgetvalue(r, 0, NICHE_NCOLS));
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The campaign's niche could not be read. Request id %s.", lr->request_id);
        return 0;
    }
    lx_error_t err;
    lx_error_init(&err);
    lx_campaign_t cp;
    lx_status_t st = lx_campaign_parse_patch(lr->body, niche, lr->worker->server->regions, &cp, &err);
    lx_niche_unref(niche);
    if (st != LX_OK) {
        lx_respond_error(lr, &err);
        return 0;
    }
    const int c = NICHE_NCOLS; /* the campaign's columns follow the niche's */
    if (check_against_row(lr, &cp, r, c) != 0) {
        lx_campaign_dispose(&cp);
        return 0;
    }
    lx_async_t *u = lx_async_new(lr, on_updated);
    lx_db_call_t *call = lx_db_job_add(&u->job, &campaign_update);
    char mask[16];
    snprintf(mask, sizeof(mask), "%u", cp.set);
    lx_db_param(call, 0, lx_async_str(u, PQgetvalue(r, 0, c)));
    lx_db_param(call, 1, lx_async_str(u, owner_of(lr)));
    lx_db_param(call, 2, lx_async_str(u, mask));
    for (int p = 0; p < LX_CAMPAIGN__PARAMS; p++) lx_db_param(call, 3 + p, lx_async_str(u, cp.params[p]));
    lx_db_param(call, 3 + LX_CAMPAIGN__PARAMS, lx_async_str(u, operator_of(lr)));
    if (operator_of(lr) != NULL) lx_db_param(call, 4 + LX_CAMPAIGN__PARAMS, lx_action_log_details(u, json_deep_copy(lr->body)));
    lx_campaign_dispose(&cp);
    lx_async_submit(u);
    return 0;
}

void lx_api_campaigns_update(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    if (!json_is_object(lr->body)) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, "", "must be a JSON object (the members to change)");
        return;
    }
    if (lr->who.role == LX_ROLE_OPERATOR) {
        const char *key;
        json_t *v;
        json_object_foreach(lr->body, key, v)
        {
            if (strcmp(key, "status") != 0) {
                lx_respond_problem(lr, LX_ERR_FORBIDDEN, NULL,
                                   "Operators may change only a campaign's status; its bids belong to the advertiser.");
                return;
            }
        }
    }
    lx_async_t *a = lx_async_new(lr, on_patch_read);
    lx_db_call_t *c = lx_db_job_add(&a->job, &campaign_for_patch);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_db_param(c, 1, lx_async_str(a, owner_of(lr)));
    lx_async_submit(a);
}

/* ---- POST /v1/campaigns/{id}/pause, /resume ------------------------------------------------------------ */

static int on_status_set(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1)
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such campaign.");
    else if (strcmp(PQgetvalue(r, 0, 0), "archived") == 0)
        lx_respond_problem(lr, LX_ERR_CONFLICT, NULL, "The campaign is archived; an archived campaign never changes.");
    else
        lx_respond_json(lr, 200, campaign_json(r, 0, 1));
    return 0;
}

static void set_status(lx_req_t *lr, const char *status, const char *action)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_status_set);
    lx_db_call_t *c = lx_db_job_add(&a->job, &campaign_set_status);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_db_param(c, 1, lx_async_str(a, owner_of(lr)));
    lx_db_param(c, 2, status);
    lx_db_param(c, 3, lx_async_str(a, operator_of(lr)));
    lx_db_param(c, 4, action);
    lx_async_submit(a);
}

void lx_api_campaigns_pause(lx_req_t *lr)
{
    set_status(lr, "paused", "campaign.pause");
}

void lx_api_campaigns_resume(lx_req_t *lr)
{
    set_status(lr, "active", "campaign.resume");
}
