/*
 * Leads: submission (single and batch), reading, contact erasure.
 *
 * A submission validates every lead on the loop thread (leads/lead.h) against
 * the niche catalogue (per-thread cache, one query for the slugs it misses),
 * seals the contacts, then hands one group to the thread's intake batcher
 * (leads/intake.h) and answers after the batch commits. The submission state
 * is reference counted: the request may go (HTTP/2 reset) while its leads
 * are in a transaction, and the batch still needs them.
 *
 * Roles: webmasters submit and read their own leads; operators read every
 * lead and erase contacts; anyone else gets 404 for a lead (its existence is
 * not revealed).
 */
#include "api/action_log.h"
#include "api/common.h"
#include "api/handlers.h"
#include "api/lead_view.h"
#include "http/problem.h"
#include "leads/intake.h"
#include "leads/pii.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define LX_BATCH_LEADS_MAX 1000

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* A lead just written by the intake batch. */
static void render_item(lx_strbuf_t *sb, const lx_intake_item_t *it)
{
    char at[LX_TS_LEN + 1];
    lx_ts_format_us(it->created_us, at);
    lx_strbuf_t reasons;
    lx_strbuf_init(&reasons, 4096);
    lx_strbuf_puts(&reasons, "[");
    for (size_t r = 0; r < it->nreasons; r++) {
        if (r) lx_strbuf_puts(&reasons, ",");
        lx_strbuf_append_json_string(&reasons, it->reasons[r], strlen(it->reasons[r]));
    }
    lx_strbuf_append(&reasons, "]", 2); /* and the NUL */
    lx_lead_view_t v = {
        .id = it->id,
        .webmaster_id = it->webmaster_id,
        .niche = it->niche->slug,
        .region = it->lead.region,
        .sale_mode = lx_sale_mode_name(it->lead.sale_mode),
        .status = lx_lead_status_name(it->status),
        .temperature = lx_temperature_name(it->quality.temperature),
        .duplicate_of = it->duplicate_of[0] ? it->duplicate_of : NULL,
        .created_at = at,
        .score = it->quality.score,
        .reasons_json = reasons.base,
        .contact_json = lx_lead_status_accepted(it->status) ? it->contact_json : NULL,
        .sold_mode = it->nsales != 0 ? lx_sale_mode_name((lx_sale_mode_t)it->sold_mode) : NULL,
        .buyers = (int)it->nsales,
        .payout = it->payout_total,
        .currency = it->niche->currency,
        .attributes_json = it->attributes_json,
        .consent_json = it->consent_json,
        .source_json = it->source_json,
    };
    lx_lead_view_render(sb, &v);
    lx_strbuf_free(&reasons);
}

/* One stored lead as the answer (200 or, for a replayed submission, 201), or `missing` when the row is not there. */
static void respond_row(lx_req_t *lr, const PGresult *r, int status, lx_status_t missing, const char *detail)
{
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, missing, NULL, "%s", detail);
        return;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)16 << 20);
    lx_lead_view_render_row(&sb, r, 0, 0, lr->worker->server->keys, LX_LEAD_VIEW_SUPPLIER);
    lx_respond_rendered(lr, status, &sb);
}

/* ---- submission state ---------------------------------------------------------------------- */

typedef struct {
    int refs;
    lx_req_t *lr; /* NULL once the request is gone */
    lx_worker_t *worker;
    int batch;
    size_t ntotal;
    json_t *elements;        /* the submitted leads (batch: the array; single: the body) */
    json_t **problems;       /* [ntotal]: rendered problem of an invalid lead, else NULL */
    lx_intake_item_t *items; /* the valid leads, in order */
    lx_intake_item_t **ptrs;
    size_t *index_of_item; /* item -> position in the request */
    size_t nitems;
    lx_niche_t **niches;       /* referenced niches the request names */
    uint64_t niche_generation; /* of the thread's niche cache when the look-up started */
    size_t nniches;
    lx_intake_group_t group;
    lx_idem_t *idem; /* copy, when an Idempotency-Key was claimed */
    char account_id[LX_UUID_STRLEN + 1];
} submission_t;

static void sub_unref(submission_t *s)
{
    if (--s->refs > 0) return;
    for (size_t i = 0; i < s->nitems; i++) lx_intake_item_dispose(&s->items[i]);
    for (size_t i = 0; s->problems != NULL && i < s->ntotal; i++) json_decref(s->problems[i]);
    for (size_t i = 0; i < s->nniches; i++) lx_niche_unref(s->niches[i]);
    if (s->idem != NULL) {
        free(s->idem->account_id);
        free(s->idem->key);
        free(s->idem->operation);
        free(s->idem->request_hash);
        free(s->idem);
    }
    json_decref(s->elements);
    free(s->group.idem_outcome);
    free(s->problems);
    free(s->items);
    free(s->ptrs);
    free(s->index_of_item);
    free(s->niches);
    free(s);
}

static void on_request_gone(lx_req_t *lr)
{
    submission_t *s = lr->handler_data;
    lr->handler_data = NULL;
    s->lr = NULL;
    sub_unref(s);
}

static lx_niche_t *find_niche(submission_t *s, const char *slug)
{
    for (size_t i = 0; slug != NULL && i < s->nniches; i++)
        if (strcmp(s->niches[i]->slug, slug) == 0) return s->niches[i];
    return NULL;
}

static json_t *problem_json(const lx_error_t *err, const char *request_id)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_problem_render(err, request_id, &sb);
    json_t *p = json_loadb(sb.base, sb.len, 0, NULL);
    lx_strbuf_free(&sb);
    return p;
}

static void respond_results(submission_t *s);

static int problem_status(json_t *problem)
{
    json_int_t st = json_integer_value(json_object_get(problem, "status"));
    return st >= 400 && st <= 599 ? (int)st : 422;
}
static void on_group_done(lx_intake_group_t *g);

/* Every lead validated: the invalid ones have problems, the valid ones become items. */
static void validate_all(submission_t *s)
{
    lx_req_t *lr = s->lr;
    lx_worker_t *w = s->worker;
    int64_t now = wall_us();
    s->problems = lx_calloc(s->ntotal, sizeof(json_t *));
    s->items = lx_calloc(s->ntotal, sizeof(lx_intake_item_t));
    s->ptrs = lx_calloc(s->ntotal, sizeof(lx_intake_item_t *));
    s->index_of_item = lx_calloc(s->ntotal, sizeof(size_t));
    for (size_t i = 0; i < s->ntotal; i++) {
        json_t *el = s->batch ? json_array_get(s->elements, i) : s->elements;
        char base[LX_JSON_POINTER_MAX] = "";
        if (s->batch) snprintf(base, sizeof(base), "/leads/%zu", i);
        lx_error_t err;
        lx_error_init(&err);
        lx_lead_t lead;
        lx_niche_t *niche = find_niche(s, lx_lead_niche_slug(el));
        if (lx_lead_parse(el, base, niche, w->server->regions, now, &lead, &err) != LX_OK) {
            s->problems[i] = problem_json(&err, lr->request_id);
            continue;
        }
        if (strcmp(niche->currency, lr->who.currency) != 0) { /* accounts trade only in their own currency */
            char field[LX_JSON_POINTER_MAX + 8];
            snprintf(field, sizeof(field), "%s/niche", base);
            lx_error_field(&err, field, "The niche trades in %s; this account's currency is %s.", niche->currency,
                           lr->who.currency);
            lx_error_set(&err, LX_ERR_VALIDATION, "The lead is invalid.");
            s->problems[i] = problem_json(&err, lr->request_id);
            lx_lead_dispose(&lead);
            continue;
        }
        lx_intake_item_t *it = &s->items[s->nitems];
        lx_intake_item_prepare(it, &lead, niche, s->account_id, w->server->keys->dedupe_key, w->server->keys->data_key, now);
        s->ptrs[s->nitems] = it;
        s->index_of_item[s->nitems++] = i;
    }
}

static void enqueue(submission_t *s, lx_idem_t *idem)
{
    lx_intake_group_t *g = &s->group;
    memset(g, 0, sizeof(*g));
    lx_str_copy(g->account_id, sizeof(g->account_id), s->account_id);
    g->items = s->ptrs;
    g->nitems = s->nitems;
    g->done = on_group_done;
    g->data = s;
    if (idem != NULL) {
        s->idem = lx_calloc(1, sizeof(*s->idem));
        s->idem->account_id = lx_strdup(idem->account_id);
        s->idem->key = lx_strdup(idem->key);
        s->idem->operation = lx_strdup(idem->operation);
        s->idem->request_hash = lx_strdup(idem->request_hash);
        g->idem_key = s->idem->key;
        if (s->batch) {
            /* The outcome a replay re-renders: lead ids (re-read then) or the problem as answered. */
            json_t *out = json_array();
            size_t k = 0;
            for (size_t i = 0; i < s->ntotal; i++) {
                if (s->problems[i] != NULL)
                    json_array_append_new(
                        out, json_pack("{s:i, s:O}", "status_code", problem_status(s->problems[i]), "problem", s->problems[i]));
                else
                    json_array_append_new(out, json_pack("{s:i, s:s}", "status_code", 201, "lead_id", s->items[k++].id));
            }
            g->idem_status = 200;
            g->idem_outcome = json_dumps(out, JSON_COMPACT);
            json_decref(out);
        } else {
            g->idem_status = 201;
            g->idem_resource_id = s->items[0].id;
        }
    }
    if (s->nitems == 0) {
        /* A batch of invalid leads only: nothing to store but the idempotency outcome. */
        if (idem != NULL) lx_idem_abandon(s->worker, s->lr, idem);
        respond_results(s);
        return;
    }
    s->refs++; /* the batcher's */
    lx_intake_submit(s->worker->intake, g);
}

static void respond_results(submission_t *s)
{
    lx_req_t *lr = s->lr;
    if (lr == NULL) return;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)256 << 20);
    if (!s->batch) {
        render_item(&sb, &s->items[0]);
    } else {
        lx_strbuf_puts(&sb, "{\"results\":[");
        size_t k = 0;
        for (size_t i = 0; i < s->ntotal; i++) {
            char head[64];
            if (s->problems[i] != NULL) {
                snprintf(head, sizeof(head), "%s{\"index\":%zu,\"status_code\":%d,\"problem\":", i ? "," : "", i,
                         problem_status(s->problems[i]));
                lx_strbuf_puts(&sb, head);
                lx_json_dump(s->problems[i], &sb);
            } else {
                snprintf(head, sizeof(head), "%s{\"index\":%zu,\"status_code\":201,\"lead\":", i ? "," : "", i);
                lx_strbuf_puts(&sb, head);
                render_item(&sb, &s->items[k++]);
            }
            lx_strbuf_puts(&sb, "}");
        }
        lx_strbuf_puts(&sb, "]}");
    }
    lx_respond_rendered(lr, s->batch ? 200 : 201, &sb);
}

static void on_group_done(lx_intake_group_t *g)
{
    submission_t *s = g->data;
    if (g->db_status != LX_DB_OK) {
        if (s->idem != NULL) lx_idem_abandon(s->worker, s->lr, s->idem);
        if (s->lr != NULL) {
            lx_db_job_t fake;
            memset(&fake, 0, sizeof(fake));
            fake.status = g->db_status;
            lx_str_copy(fake.sqlstate, sizeof(fake.sqlstate), g->sqlstate);
            lx_str_copy(fake.message, sizeof(fake.message), g->message);
            lx_respond_db_failure(s->lr, &fake);
        }
    } else {
        respond_results(s);
    }
    sub_unref(s);
}

/* ---- idempotency -------------------------------------------------------------------------- */

LX_DB_STMT(lead_get_any, 1, "SELECT " LX_LEAD_COLS LX_LEAD_FROM "WHERE l.id = $1::uuid");
LX_DB_STMT(idem_outcome, 2, "SELECT outcome FROM idempotency_keys WHERE account_id = $1::uuid AND key = $2");

static void fresh(lx_req_t *lr, lx_idem_t *idem)
{
    submission_t *s = lr->handler_data;
    enqueue(s, idem);
}

static int on_single_replay(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_row(lr, a->job.results[0], 201, LX_ERR_INTERNAL, "The stored lead is missing.");
    return 0;
}

static void single_replay(lx_req_t *lr, int status, const char *resource_id)
{
    (void)status;
    lx_async_submit_one(lr, on_single_replay, &lead_get_any, resource_id);
}

static int on_batch_replay(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *o = a->job.results[0], *r = a->job.results[1];
    json_t *outcome = PQntuples(o) == 1 ? json_loadb(PQgetvalue(o, 0, 0), (size_t)PQgetlength(o, 0, 0), 0, NULL) : NULL;
    if (!json_is_array(outcome)) {
        json_decref(outcome);
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The stored outcome is missing.");
        return 0;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)256 << 20);
    lx_strbuf_puts(&sb, "{\"results\":[");
    size_t i;
    json_t *e;
    json_array_foreach(outcome, i, e)
    {
        const char *lead_id = json_string_value(json_object_get(e, "lead_id"));
        char head[64];
        snprintf(head, sizeof(head), "%s{\"index\":%zu,\"status_code\":%d", i ? "," : "", i,
                 (int)json_integer_value(json_object_get(e, "status_code")));
        lx_strbuf_puts(&sb, head);
        if (lead_id == NULL) {
            lx_strbuf_puts(&sb, ",\"problem\":");
            lx_json_dump(json_object_get(e, "problem"), &sb);
        } else {
            for (int row = 0; row < PQntuples(r); row++)
                if (strcmp(PQgetvalue(r, row, 0), lead_id) == 0) {
                    lx_strbuf_puts(&sb, ",\"lead\":");
                    lx_lead_view_render_row(&sb, r, row, 0, lr->worker->server->keys, LX_LEAD_VIEW_SUPPLIER);
                }
        }
        lx_strbuf_puts(&sb, "}");
    }
    lx_strbuf_puts(&sb, "]}");
    json_decref(outcome);
    lx_respond_rendered(lr, 200, &sb);
    return 0;
}

LX_DB_STMT(leads_by_outcome, 2,
           "SELECT " LX_LEAD_COLS LX_LEAD_FROM
           "WHERE l.id IN (SELECT (e->>'lead_id')::uuid FROM idempotency_keys i, jsonb_array_elements(i.outcome) e "
           "WHERE i.account_id = $1::uuid AND i.key = $2 AND e ? 'lead_id')");

static void batch_replay(lx_req_t *lr, int status, const char *resource_id)
{
    (void)status;
    (void)resource_id;
    size_t klen;
    const char *key = lx_req_header(lr, "idempotency-key", &klen);
    lx_async_t *a = lx_async_new(lr, on_batch_replay);
    const char *acct = lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN);
    const char *k = lx_async_dup(a, key, klen);
    lx_db_call_t *c = lx_db_job_add(&a->job, &idem_outcome);
    lx_db_param(c, 0, acct);
    lx_db_param(c, 1, k);
    c = lx_db_job_add(&a->job, &leads_by_outcome);
    lx_db_param(c, 0, acct);
    lx_db_param(c, 1, k);
    lx_async_submit(a);
}

/* ---- niche resolution, then validation ---------------------------------------------------- */

LX_DB_STMT(niches_by_slug, 1, "SELECT " LX_NICHE_COLS " FROM niches WHERE slug = ANY($1::text[])");

/* The single route's answer to a lead that does not validate (s->problems[0]); a claimed key is given up, so the
 * key stays free for a corrected request. */
static void fresh_invalid(lx_req_t *lr, lx_idem_t *idem)
{
    submission_t *s = lr->handler_data;
    if (idem != NULL) lx_idem_abandon(lr->worker, lr, idem);
    char *text = json_dumps(s->problems[0], JSON_COMPACT);
    lr->error_code = json_string_value(json_object_get(s->problems[0], "code"));
    lx_respond_body(lr, problem_status(s->problems[0]), "application/problem+json", text, strlen(text));
    free(text);
}

static void proceed(submission_t *s)
{
    validate_all(s);
    lx_req_t *lr = s->lr;
    if (!s->batch && s->problems[0] != NULL) {
        /* The single route answers the problem itself, but only after the key: a retry of a lead that was stored is
         * a replay even when the niche has changed since so that the body would not validate now (paused, an
         * attribute made required), never a 422 saying nothing was stored. */
        size_t klen;
        if (lx_req_header(lr, "idempotency-key", &klen) == NULL)
            fresh_invalid(lr, NULL);
        else
            lx_idem_start(lr, "leads.create", fresh_invalid, single_replay);
        return;
    }
    lx_idem_start(lr, s->batch ? "leads.batch" : "leads.create", fresh, s->batch ? batch_replay : single_replay);
}

static int on_niches(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    submission_t *s = lr->handler_data;
    lx_worker_t *w = lr->worker;
    PGresult *r = a->job.results[0];
    /* a NOTIFY that cleared the cache meanwhile may concern these very rows: use them, do not cache them */
    int cache = atomic_load(&w->server->auth_cache_enabled) && w->niches.generation == s->niche_generation;
    uint64_t now_ms = lx_wall_ms();
    for (int i = 0; i < PQntuples(r); i++) {
        lx_niche_t *n = lx_niche_from_row(r, i, now_ms);
        if (n == NULL) continue;
        if (cache) lx_niche_cache_put(&w->niches, n);
        s->niches[s->nniches++] = n; /* the reference from_row gave */
    }
    proceed(s);
    return 0;
}

static void start_submission(lx_req_t *lr, json_t *elements, int batch)
{
    lx_worker_t *w = lr->worker;
    submission_t *s = lx_calloc(1, sizeof(*s));
    s->refs = 1; /* the request's */
    s->lr = lr;
    s->worker = w;
    s->batch = batch;
    s->elements = json_incref(elements);
    s->ntotal = batch ? json_array_size(elements) : 1;
    lx_str_copy(s->account_id, sizeof(s->account_id), lr->who.account_id_str);
    s->niches = lx_calloc(s->ntotal, sizeof(lx_niche_t *));
    lr->handler_data = s;
    lr->on_dispose = on_request_gone;

    /* The slugs the request names: from the thread's cache, the rest in one query. */
    int cache = atomic_load(&w->server->auth_cache_enabled);
    uint64_t now_ms = lx_wall_ms();
    lx_strbuf_t missing;
    lx_strbuf_init(&missing, 1 << 20);
    lx_strbuf_puts(&missing, "{");
    size_t nmissing = 0;
    const char **missing_slugs = lx_calloc(s->ntotal, sizeof(*missing_slugs));
    for (size_t i = 0; i < s->ntotal; i++) {
        const char *slug = lx_lead_niche_slug(batch ? json_array_get(elements, i) : elements);
        if (slug == NULL || !lx_niche_slug_valid(slug, strlen(slug)) || find_niche(s, slug) != NULL) continue;
        lx_niche_t *n = cache ? lx_niche_cache_get(&w->niches, slug, now_ms) : NULL;
        if (n != NULL) {
            lx_niche_ref(n);
            s->niches[s->nniches++] = n;
            continue;
        }
        int asked = 0; /* a request names a few niches, however many leads it carries */
        for (size_t j = 0; j < nmissing && !asked; j++) asked = strcmp(missing_slugs[j], slug) == 0;
        if (asked) continue;
        missing_slugs[nmissing] = slug;
        lx_strbuf_printf(&missing, "%s%s", nmissing++ ? "," : "", slug);
    }
    lx_strbuf_puts(&missing, "}");
    free(missing_slugs);
    if (nmissing == 0) {
        lx_strbuf_free(&missing);
        proceed(s);
        return;
    }
    s->niche_generation = w->niches.generation;
    lx_async_t *a = lx_async_new(lr, on_niches);
    lx_db_param(lx_db_job_add(&a->job, &niches_by_slug), 0, lx_async_dup(a, missing.base, missing.len));
    lx_strbuf_free(&missing);
    lx_async_submit(a);
}

void lx_api_leads_create(lx_req_t *lr)
{
    if (!json_is_object(lr->body)) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, "", "must be a JSON object (a lead)");
        return;
    }
    start_submission(lr, lr->body, 0);
}

void lx_api_leads_batch(lx_req_t *lr)
{
    lx_error_t err;
    lx_error_init(&err);
    static const char *const allowed[] = {"leads", NULL};
    if (lx_json_expect_object(lr->body, "", &err) == 0) {
        lx_json_reject_unknown(lr->body, "", allowed, &err);
        json_t *leads = json_object_get(lr->body, "leads");
        if (leads == NULL)
            lx_error_field(&err, "/leads", "is required");
        else if (!json_is_array(leads))
            lx_error_field(&err, "/leads", "must be an array of leads");
        else if (json_array_size(leads) == 0 || json_array_size(leads) > LX_BATCH_LEADS_MAX)
            lx_error_field(&err, "/leads", "must hold 1 to %d leads", LX_BATCH_LEADS_MAX);
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The batch is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    start_submission(lr, json_object_get(lr->body, "leads"), 1);
}

/* ---- reading ------------------------------------------------------------------------------- */

LX_DB_STMT(lead_get, 2,
           "SELECT " LX_LEAD_COLS LX_LEAD_FROM "WHERE l.id = $1::uuid AND ($2::uuid IS NULL OR l.webmaster_id = $2::uuid)");
/* `since` and `status=unsold` (in date) also bound the id (api/lead_view.h), which the scan in id order starts from
 * instead of the account's first lead. */
#define LEAD_LIST_SINCE_FLOOR  LX_LEAD_ID_FLOOR_SQL("coalesce($5::timestamptz, '-infinity')")
#define LEAD_LIST_UNSOLD_FLOOR LX_LEAD_LOOK_BACK_SQL("$4::text IS NULL OR h.slug = $4")
LX_DB_STMT(lead_list, 6,
           "SELECT " LX_LEAD_COLS LX_LEAD_FROM
           "WHERE ($1::uuid IS NULL OR l.webmaster_id = $1::uuid) AND ($2::uuid IS NULL OR l.id > $2::uuid) "
           "AND ($3::text IS NULL OR " LX_LEAD_STATUS_SQL " = $3) AND ($4::text IS NULL OR n.slug = $4) "
           "AND ($5::timestamptz IS NULL OR l.created_at >= $5::timestamptz) "
           "AND l.id >= greatest(" LEAD_LIST_SINCE_FLOOR ", CASE WHEN $3::text = 'unsold' THEN " LEAD_LIST_UNSOLD_FLOOR " END) "
           "ORDER BY l.id LIMIT $6::int");

/* Operators see every lead; a webmaster its own; other roles none (404 either way). */
static const char *owner_filter(lx_req_t *lr, lx_async_t *a)
{
    if (lr->who.role == LX_ROLE_OPERATOR) return NULL;
    return lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN);
}

static int on_lead(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    respond_row(lr, a->job.results[0], 200, LX_ERR_NOT_FOUND, "No such lead.");
    return 0;
}

void lx_api_leads_get(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    if (lr->who.role == LX_ROLE_ADVERTISER) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such lead.");
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_lead);
    lx_db_call_t *c = lx_db_job_add(&a->job, &lead_get);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_db_param(c, 1, owner_filter(lr, a));
    lx_async_submit(a);
}

static int on_lead_list(lx_req_t *lr, lx_async_t *a)
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
        lx_lead_view_render_row(&sb, r, i, 0, lr->worker->server->keys, LX_LEAD_VIEW_SUPPLIER);
    }
    lx_strbuf_puts(&sb, "],\"next_cursor\":");
    json_t *next = n == limit ? lx_cursor_json(PQgetvalue(r, n - 1, 0)) : json_null();
    lx_json_dump(next, &sb);
    json_decref(next);
    lx_strbuf_puts(&sb, "}");
    lx_respond_rendered(lr, 200, &sb);
    return 0;
}

void lx_api_leads_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "status", "niche", "since", NULL};
    const char *q[5];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    static const char *const statuses[] = {"accepted", "rejected", "duplicate", "sold", "unsold", "expired", NULL};
    int ok = q[2] == NULL;
    for (int i = 0; !ok && statuses[i] != NULL; i++) ok = strcmp(q[2], statuses[i]) == 0;
    if (!ok) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.status",
                           "status must be accepted, rejected, duplicate, sold, unsold or expired.");
        return;
    }
    if (q[3] != NULL && !lx_niche_slug_valid(q[3], strlen(q[3]))) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.niche", "niche must be a niche slug.");
        return;
    }
    char since[LX_TS_LEN + 1];
    if (lx_req_since(lr, q[4], since) != 0) return;
    if (lr->who.role == LX_ROLE_ADVERTISER) {
        lx_respond_json(lr, 200, json_pack("{s:[], s:n}", "items", "next_cursor"));
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_lead_list);
    const char *limit_s = lx_async_page_limit(a, limit);
    lx_db_call_t *c = lx_db_job_add(&a->job, &lead_list);
    lx_db_param(c, 0, owner_filter(lr, a));
    lx_db_param(c, 1, cursor[0] ? lx_async_dup(a, cursor, strlen(cursor)) : NULL);
    lx_db_param(c, 2, q[2] ? lx_async_dup(a, q[2], strlen(q[2])) : NULL);
    lx_db_param(c, 3, q[3] ? lx_async_dup(a, q[3], strlen(q[3])) : NULL);
    lx_db_param(c, 4, since[0] ? lx_async_dup(a, since, strlen(since)) : NULL);
    lx_db_param(c, 5, limit_s);
    lx_async_submit(a);
}

/* ---- erasure ------------------------------------------------------------------------------- */

/* Crypto-shredding: the wrapped key goes, so the ciphertext (in backups too) is noise. The operator action log row is
 * written by the same statement when the lead exists (api/action_log.h). */
/* clang-format off */
LX_DB_STMT(lead_erase, 2,
           "WITH u AS (UPDATE leads SET contact_ct = NULL, contact_key = NULL, "
           "contact_erased_at = CASE WHEN contact_ct IS NULL THEN contact_erased_at ELSE now() END "
           "WHERE id = $1::uuid RETURNING id), "
           "l AS (" LX_ACTION_LOG_INSERT("$2", "'lead.contact_erase'", "u.id::text", "NULL") " FROM u) "
           "SELECT id FROM u");
/* clang-format on */

static int on_erased(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    if (PQntuples(a->job.results[0]) != 1)
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such lead.");
    else
        lx_respond_empty(lr, 204);
    return 0;
}

void lx_api_leads_erase_contact(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_erased);
    lx_db_call_t *c = lx_db_job_add(&a->job, &lead_erase);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_db_param(c, 1, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    lx_async_submit(a);
}

/* Waits for intake batches in flight (they hold ROW SHARE on suppressions from their first statement), so none can
 * store this contact after the erasure: the statement below takes its snapshot only once the lock is granted. */
LX_DB_STMT(erasure_begin, 0, "BEGIN"); /* LOCK TABLE needs a transaction block, not the pipeline's implicit one */
LX_DB_STMT(erasure_guard, 0, "LOCK TABLE suppressions IN EXCLUSIVE MODE");
LX_DB_STMT(erasure_commit, 0, "COMMIT");
LX_DB_STMT(erasure_run, 4,
           "WITH l AS (UPDATE leads SET contact_ct = NULL, contact_key = NULL, contact_erased_at = now() "
           "  WHERE (phone_hash = $2::bytea OR email_hash = $3::bytea) AND contact_ct IS NOT NULL RETURNING id), "
           "e AS (INSERT INTO erasures (id, operator_id, phone_hash, email_hash, leads_erased) "
           "  SELECT $1::uuid, $4::uuid, $2::bytea, $3::bytea, count(*) FROM l RETURNING id, leads_erased, created_at), "
           "s AS (INSERT INTO suppressions (hash, kind, erasure_id) SELECT v.h, v.k, $1::uuid FROM "
           "  (VALUES ($2::bytea, 'phone'), ($3::bytea, 'email')) v(h, k) WHERE v.h IS NOT NULL ON CONFLICT (hash) DO NOTHING) "
           "SELECT id, leads_erased, created_at, $2::bytea IS NOT NULL, $3::bytea IS NOT NULL FROM e");
LX_DB_STMT(erasure_get, 1,
           "SELECT id, leads_erased, created_at, phone_hash IS NOT NULL, email_hash IS NOT NULL FROM erasures "
           "WHERE id = $1::uuid");

static int on_erasure(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_idem_t *idem = a->user;
        if (idem != NULL) lx_idem_abandon(lr->worker, lr, idem);
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[a->job.calls[0].stmt == &erasure_begin ? 2 : 0]; /* fresh, or a replay's read */
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The erasure was not recorded.");
        return 0;
    }
    json_t *kinds = json_array();
    if (PQgetvalue(r, 0, 3)[0] == 't') json_array_append_new(kinds, json_string("phone"));
    if (PQgetvalue(r, 0, 4)[0] == 't') json_array_append_new(kinds, json_string("email"));
    lx_respond_json(lr, 201,
                    json_pack("{s:s, s:I, s:o, s:o}", "id", PQgetvalue(r, 0, 0), "leads_erased",
                              (json_int_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10), "suppressed", kinds, "created_at",
                              lx_ts_json(r, 0, 2)));
    return 0;
}

typedef struct {
    uint8_t phone_hash[LX_PII_HASH_BYTES], email_hash[LX_PII_HASH_BYTES];
    int has_phone, has_email;
} erasure_req_t;

static void erasure_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    erasure_req_t *er = lr->handler_data;
    lx_async_t *a = lx_async_new(lr, on_erasure);
    a->user = lx_idem_copy(a, idem);
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    lx_uuid_v7(&id);
    lx_uuid_format(&id, ids);
    uint8_t *ph = lx_async_alloc(a, LX_PII_HASH_BYTES), *eh = lx_async_alloc(a, LX_PII_HASH_BYTES);
    memcpy(ph, er->phone_hash, LX_PII_HASH_BYTES);
    memcpy(eh, er->email_hash, LX_PII_HASH_BYTES);
    lx_db_job_add(&a->job, &erasure_begin);
    lx_db_job_add(&a->job, &erasure_guard);
    lx_db_call_t *c = lx_db_job_add(&a->job, &erasure_run);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    if (er->has_phone) lx_db_param_bin(c, 1, ph, LX_PII_HASH_BYTES);
    if (er->has_email) lx_db_param_bin(c, 2, eh, LX_PII_HASH_BYTES);
    lx_db_param(c, 3, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    /* The operator action log row (no contact data: which kinds were named). */
    lx_action_log_add(a, lr, "erasure.create", ids,
                      json_pack("{s:b, s:b}", "phone", er->has_phone != 0, "email", er->has_email != 0));
    if (idem != NULL) lx_idem_record(a, idem, 201, ids);
    lx_db_job_add(&a->job, &erasure_commit);
    lx_async_submit(a);
}

static void erasure_replay(lx_req_t *lr, int status, const char *resource_id)
{
    (void)status;
    lx_async_submit_one(lr, on_erasure, &erasure_get, resource_id);
}

void lx_api_erasures_create(lx_req_t *lr)
{
    lx_error_t err;
    lx_error_init(&err);
    static const char *const allowed[] = {"phone", "email", NULL};
    erasure_req_t *er = h2o_mem_alloc_pool(&lr->req->pool, sizeof(*er));
    memset(er, 0, sizeof(*er));
    if (lx_json_expect_object(lr->body, "", &err) == 0) {
        lx_json_reject_unknown(lr->body, "", allowed, &err);
        const char *s, *reason = NULL;
        if (lx_json_string(lr->body, "", "phone", LX_JF_NULLABLE, 1, LX_PHONE_INPUT_LEN_MAX, &s, &err) == 1) {
            char e164[LX_PHONE_E164_SIZE];
            /* No region here: the number must carry its country code. */
            if (lx_phone_normalize(s, strlen(s), NULL, e164, NULL, &reason) != 0) {
                lx_error_field(&err, "/phone", "%s", reason);
            } else {
                lx_pii_hash(lr->worker->server->keys->dedupe_key, LX_PII_PHONE, e164, strlen(e164), er->phone_hash);
                er->has_phone = 1;
            }
        }
        if (lx_json_string(lr->body, "", "email", LX_JF_NULLABLE, 1, LX_EMAIL_INPUT_LEN_MAX, &s, &err) == 1) {
            char norm[LX_EMAIL_SIZE], canon[LX_EMAIL_SIZE];
            if (lx_email_normalize(s, strlen(s), norm, sizeof(norm), &reason) != 0) {
                lx_error_field(&err, "/email", "%s", reason);
            } else {
                lx_email_canonical(norm, canon, sizeof(canon));
                lx_pii_hash(lr->worker->server->keys->dedupe_key, LX_PII_EMAIL, canon, strlen(canon), er->email_hash);
                er->has_email = 1;
            }
        }
        if (err.nfields == 0 && !er->has_phone && !er->has_email) lx_error_field(&err, "", "must name a phone or an email");
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The erasure request is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lr->handler_data = er;
    lx_idem_start(lr, "erasures.create", erasure_fresh, erasure_replay);
}
