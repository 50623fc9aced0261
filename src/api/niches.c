/*
 * The niche catalogue: POST/GET/PATCH /v1/niches (operators manage, every
 * role reads) and GET /v1/regions. Writes NOTIFY every process (the niches
 * trigger), so intake on every thread sees a change for its next lead.
 */
#include "api/action_log.h"
#include "api/common.h"
#include "api/handlers.h"
#include "leads/niche.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* return_auto_accept arrives as a JSON array of reason names (checked by lx_niche_check_*). */
#define AUTO_ACCEPT(p) "ARRAY(SELECT jsonb_array_elements_text(" p "::jsonb))"
/* clang-format off */
LX_DB_STMT(niche_insert, 16,
           "INSERT INTO niches (id, slug, currency, name, max_shares, floor_exclusive, floor_shared, return_window_hours, "
           "inventory_ttl_hours, dedupe_days, fee_bps, min_quality, attributes, status, return_auto_accept, "
           "return_max_rate_bps) "
           "VALUES ($1::uuid, $2, $3, $4, coalesce($5::int, 1), $6::bigint, $7::bigint, coalesce($8::int, 72), "
           "coalesce($9::int, 72), coalesce($10::int, 30), $11::int, coalesce($12::int, 0), coalesce($13::jsonb, '{}'), "
           "coalesce($14, 'active'), " AUTO_ACCEPT("$15") ", coalesce($16::int, 1000)) RETURNING " LX_NICHE_COLS);
/* clang-format on */
/* With the operator action log row (api/action_log.h), written only when a niche was updated. */
/* clang-format off */
LX_DB_STMT(niche_update, 16,
           "WITH u AS (UPDATE niches SET name = coalesce($2, name), max_shares = coalesce($3::int, max_shares), "
           "floor_exclusive = coalesce($4::bigint, floor_exclusive), floor_shared = coalesce($5::bigint, floor_shared), "
           "return_window_hours = coalesce($6::int, return_window_hours), "
           "inventory_ttl_hours = coalesce($7::int, inventory_ttl_hours), dedupe_days = coalesce($8::int, dedupe_days), "
           "fee_bps = coalesce($9::int, fee_bps), min_quality = coalesce($10::int, min_quality), "
           "attributes = coalesce($11::jsonb, attributes), status = coalesce($12, status), "
           "return_auto_accept = CASE WHEN $13::jsonb IS NULL THEN return_auto_accept ELSE " AUTO_ACCEPT("$13") " END, "
           "return_max_rate_bps = coalesce($14::int, return_max_rate_bps), updated_at = now() "
           "WHERE slug = $1 RETURNING " LX_NICHE_COLS "), "
           "l AS (" LX_ACTION_LOG_INSERT("$15", "'niche.update'", "u.slug", "$16") " FROM u) "
           "SELECT " LX_NICHE_COLS " FROM u");
/* clang-format on */
LX_DB_STMT(niche_get_id, 1, "SELECT " LX_NICHE_COLS " FROM niches WHERE id = $1::uuid");
LX_DB_STMT(niche_get_slug, 1, "SELECT " LX_NICHE_COLS " FROM niches WHERE slug = $1");
LX_DB_STMT(niche_list, 3,
           "SELECT " LX_NICHE_COLS " FROM niches WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($3::text IS NULL OR "
           "status = $3) ORDER BY id LIMIT $2::int");
LX_DB_STMT(region_list, 3,
           "SELECT code, name, country, kind, parent FROM regions WHERE ($1::text IS NULL AND kind = 'country' OR "
           "country = $1) AND ($2::text IS NULL OR code > $2) ORDER BY code LIMIT $3::int");

/* Body member as a text parameter (integers and strings; objects as JSON text), NULL when absent. */
static const char *param(lx_async_t *a, json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL || json_is_null(v)) return NULL;
    if (json_is_string(v)) return lx_async_dup(a, json_string_value(v), json_string_length(v));
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *copy = lx_async_dup(a, s, strlen(s));
    free(s);
    return copy;
}

static int on_niche_row(lx_req_t *lr, lx_async_t *a, int created)
{
    if (a->job.status != LX_DB_OK) {
        lx_idem_t *idem = a->user;
        if (idem != NULL) lx_idem_abandon(lr->worker, lr, idem);
        if (strcmp(a->job.sqlstate, "23505") == 0)
            lx_respond_problem(lr, LX_ERR_CONFLICT, "/slug", "A niche with this slug exists.");
        else if (strcmp(a->job.sqlstate, "23503") == 0)
            lx_respond_problem(lr, LX_ERR_VALIDATION, "/currency", "must be an ISO 4217 currency code");
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1)
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such niche.");
    else
        lx_respond_json(lr, created ? 201 : 200, lx_niche_json(r, 0));
    return 0;
}

static int on_created(lx_req_t *lr, lx_async_t *a)
{
    return on_niche_row(lr, a, 1);
}

static int on_row(lx_req_t *lr, lx_async_t *a)
{
    return on_niche_row(lr, a, 0);
}

static void create_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    lx_async_t *a = lx_async_new(lr, on_created);
    a->user = lx_idem_copy(a, idem);
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    lx_uuid_v7(&id);
    lx_uuid_format(&id, ids);
    lx_db_call_t *c = lx_db_job_add(&a->job, &niche_insert);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    for (int i = 0; i < LX_NICHE_MEMBERS; i++) lx_db_param(c, i + 1, param(a, lr->body, lx_niche_members[i]));
    json_t *details = json_deep_copy(lr->body);
    json_object_set_new(details, "id", json_string(ids));
    lx_action_log_add(a, lr, "niche.create", json_string_value(json_object_get(lr->body, "slug")), details);
    if (idem != NULL) lx_idem_record(a, idem, 201, ids);
    lx_async_submit(a);
}

static void create_replay(lx_req_t *lr, int status, const char *resource_id)
{
    (void)status;
    lx_async_submit_one(lr, on_created, &niche_get_id, resource_id);
}

void lx_api_niches_create(lx_req_t *lr)
{
    lx_error_t err;
    lx_error_init(&err);
    if (lx_niche_check_create(lr->body, &err) != LX_OK) {
        lx_respond_error(lr, &err);
        return;
    }
    lx_idem_start(lr, "niches.create", create_fresh, create_replay);
}

/* Path parameter {slug}: anything that cannot be a slug names no niche. */
static int path_slug(lx_req_t *lr, const char **out)
{
    size_t len;
    const char *v = lx_route_param(&lr->match, "slug", &len);
    if (v == NULL || !lx_niche_slug_valid(v, len)) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such niche.");
        return -1;
    }
    char *copy = h2o_mem_alloc_pool(&lr->req->pool, len + 1);
    memcpy(copy, v, len);
    copy[len] = '\0';
    *out = copy;
    return 0;
}

void lx_api_niches_get(lx_req_t *lr)
{
    const char *slug;
    if (path_slug(lr, &slug) != 0) return;
    lx_async_submit_one(lr, on_row, &niche_get_slug, slug);
}

void lx_api_niches_update(lx_req_t *lr)
{
    const char *slug;
    if (path_slug(lr, &slug) != 0) return;
    lx_error_t err;
    lx_error_init(&err);
    if (lx_niche_check_patch(lr->body, &err) != LX_OK) {
        lx_respond_error(lr, &err);
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_row);
    lx_db_call_t *c = lx_db_job_add(&a->job, &niche_update);
    lx_db_param(c, 0, lx_async_dup(a, slug, strlen(slug)));
    const char *const *mutable = lx_niche_members + LX_NICHE_FIXED_MEMBERS;
    int i = 0;
    for (; mutable[i] != NULL; i++) lx_db_param(c, i + 1, param(a, lr->body, mutable[i]));
    lx_db_param(c, i + 1, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    lx_db_param(c, i + 2, lx_action_log_details(a, json_deep_copy(lr->body)));
    lx_async_submit(a);
}

static json_t *niche_row(const PGresult *r, int row, void *ctx)
{
    (void)ctx;
    return lx_niche_json(r, row);
}

static int on_list(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    lx_respond_json(lr, 200, lx_page_json(a, a->job.results[0], niche_row, NULL));
    return 0;
}

void lx_api_niches_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "status", NULL};
    const char *q[3];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    if (q[2] != NULL && strcmp(q[2], "active") != 0 && strcmp(q[2], "paused") != 0 && strcmp(q[2], "archived") != 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.status", "status must be active, paused or archived.");
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_list);
    lx_db_call_t *c = lx_db_job_add(&a->job, &niche_list);
    lx_db_param(c, 0, cursor[0] ? lx_async_str(a, cursor) : NULL);
    lx_db_param(c, 1, lx_async_page_limit(a, limit));
    lx_db_param(c, 2, lx_async_str(a, q[2]));
    lx_async_submit(a);
}

/* ---- GET /v1/regions ---------------------------------------------------------------- */

static int on_regions(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    int n = PQntuples(r), limit = *(int *)a->user;
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:o}", "code", PQgetvalue(r, i, 0), "name",
                                               PQgetvalue(r, i, 1), "country", PQgetvalue(r, i, 2), "kind", PQgetvalue(r, i, 3),
                                               "parent", PQgetisnull(r, i, 4) ? json_null() : json_string(PQgetvalue(r, i, 4))));
    json_t *next = n == limit ? json_string(PQgetvalue(r, n - 1, 0)) : json_null();
    lx_respond_json(lr, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
    return 0;
}

static int region_code_ok(const char *s, int country_only)
{
    size_t len = strlen(s);
    if (len < 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z') return 0;
    if (len == 2) return 1;
    if (country_only || s[2] != '-' || len > 6) return 0;
    for (size_t i = 3; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) return 0;
    return 1;
}

void lx_api_regions_list(lx_req_t *lr)
{
    static const char *const names[] = {"country", "limit", "cursor", NULL};
    const char *q[3];
    if (lx_req_query(lr, names, q) != 0) return;
    if (q[0] != NULL && !region_code_ok(q[0], 1)) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.country",
                           "country must be an ISO 3166-1 alpha-2 code in upper case, e.g. RU.");
        return;
    }
    if (q[2] != NULL && !region_code_ok(q[2], 0)) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.cursor", "cursor is not one this server gave out.");
        return;
    }
    int limit = 50;
    if (q[1] != NULL) {
        char *end;
        long v = strtol(q[1], &end, 10);
        if (q[1][0] < '0' || q[1][0] > '9' || *end != '\0' || v < 1 || v > 200) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.limit", "limit must be an integer from 1 to 200.");
            return;
        }
        limit = (int)v;
    }
    lx_async_t *a = lx_async_new(lr, on_regions);
    lx_db_call_t *c = lx_db_job_add(&a->job, &region_list);
    lx_db_param(c, 0, lx_async_str(a, q[0]));
    lx_db_param(c, 1, lx_async_str(a, q[2]));
    lx_db_param(c, 2, lx_async_page_limit(a, limit));
    lx_async_submit(a);
}
