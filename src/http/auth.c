/*
 * Bearer-key authentication for the request pipeline.
 *
 * The per-thread cache answers almost every request without a database round
 * trip; a miss loads the key and its account in one query and caches it. The
 * cache is trusted only while the NOTIFY listener is connected
 * (server->auth_cache_enabled), so a revocation is never missed silently.
 * last_used_at is not written per request: the worker's tick flushes the
 * times it saw, once per interval, in one UPDATE.
 */
#include "auth/account.h"
#include "http/request.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

LX_DB_STMT(auth_load_key, 1,
           "SELECT k.hash, k.revoked_at IS NOT NULL, a.* FROM api_keys k CROSS JOIN LATERAL "
           "(SELECT id, role, status, rate_limit, " LX_ACCOUNT_COLS " FROM accounts WHERE accounts.id = k.account_id) a "
           "WHERE k.id = $1::uuid");

static void unauthorized(lx_req_t *lr, const char *detail)
{
    if (lr->req != NULL)
        h2o_add_header(&lr->req->pool, &lr->req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"leadx\""));
    lx_respond_problem(lr, LX_ERR_UNAUTHORIZED, "header.authorization", "%s", detail);
}

/* Status, role and rate limit, once the key is known good. */
static void admit(lx_req_t *lr, lx_auth_entry_t *e)
{
    lx_worker_t *w = lr->worker;
    lx_server_t *srv = w->server;
    lr->who = e->who;
    lr->authenticated = 1;
    lr->account_json = e->account_json;
    lr->account_json_len = e->account_json_len;
    if (e->who.suspended) {
        lx_respond_problem(lr, LX_ERR_FORBIDDEN, NULL, "The account is suspended.");
        return;
    }
    if (!(lr->route->roles & (unsigned)e->who.role)) {
        lx_respond_problem(lr, LX_ERR_FORBIDDEN, NULL, "The %s role may not use this endpoint.", lx_role_name(e->who.role));
        return;
    }
    uint64_t now_us = lx_now_us();
    int64_t rate = e->who.rate_limit >= 0 ? e->who.rate_limit : srv->cfg->rate_limit;
    if (rate > 0) {
        uint64_t burst = srv->cfg->rate_burst > 0 && e->who.rate_limit < 0 ? (uint64_t)srv->cfg->rate_burst : (uint64_t)rate * 2;
        uint32_t wait = lx_ratelimit_take(srv->ratelimit, &e->who.key_id, (uint64_t)rate, burst, now_us);
        if (wait != 0) {
            char v[16];
            int n = snprintf(v, sizeof(v), "%u", wait);
            h2o_add_header(&lr->req->pool, &lr->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                           h2o_strdup(&lr->req->pool, v, (size_t)n).base, (size_t)n);
            lx_respond_problem(lr, LX_ERR_RATE_LIMITED, NULL, "Rate limit of %lld requests/s exceeded; retry in %u s.",
                               (long long)rate, wait);
            return;
        }
    }
    e->last_used_ms = lx_wall_ms();
    lx_request_after_auth(lr);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

typedef struct {
    lx_apikey_t key;
    uint64_t evictions; /* the cache's eviction count when the look-up started */
} auth_state_t;

static int on_key_loaded(lx_req_t *lr, lx_async_t *a)
{
    auth_state_t *st = a->user;
    lx_db_job_t *job = &a->job;
    lx_worker_t *w = lr->worker;
    if (job->status != LX_DB_OK) {
        lx_apikey_wipe(&st->key);
        lx_respond_db_failure(lr, job);
        return 0;
    }
    PGresult *r = job->results[0];
    if (PQntuples(r) != 1) {
        lx_apikey_wipe(&st->key);
        unauthorized(lr, "Unknown API key.");
        return 0;
    }
    lx_auth_entry_t e;
    memset(&e, 0, sizeof(e));
    const char *hash = PQgetvalue(r, 0, 0); /* bytea text form: \x + 64 hex */
    int ok = strlen(hash) == 2 + 2 * LX_APIKEY_HASH_BYTES && hash[0] == '\\' && hash[1] == 'x';
    for (size_t i = 0; ok && i < LX_APIKEY_HASH_BYTES; i++) {
        int hi = hexval(hash[2 + 2 * i]), lo = hexval(hash[3 + 2 * i]);
        ok = hi >= 0 && lo >= 0;
        e.hash[i] = (uint8_t)(hi << 4 | lo);
    }
    e.revoked = PQgetvalue(r, 0, 1)[0] == 't';
    e.who.key_id = st->key.id;
    const char *acct = PQgetvalue(r, 0, 2);
    ok = ok && lx_uuid_parse(acct, strlen(acct), &e.who.account_id) == 0;
    lx_uuid_format(&e.who.account_id, e.who.account_id_str);
    e.who.role = lx_role_parse(PQgetvalue(r, 0, 3));
    e.who.suspended = strcmp(PQgetvalue(r, 0, 4), "active") != 0;
    e.who.rate_limit = PQgetisnull(r, 0, 5) ? -1 : strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    e.fetched_at_ms = lx_now_us() / 1000;
    json_t *account = lx_account_json(r, 0, 6);
    const char *currency = json_string_value(json_object_get(account, "currency"));
    ok = ok && currency != NULL && strlen(currency) == 3;
    if (currency != NULL) lx_str_copy(e.who.currency, sizeof(e.who.currency), currency);
    e.account_json = json_dumps(account, JSON_COMPACT);
    json_decref(account);
    if (e.account_json == NULL) lx_oom();
    e.account_json_len = strlen(e.account_json);
    if (!ok || e.who.role == 0) {
        lx_apikey_wipe(&st->key);
        free(e.account_json);
        lx_log(LX_LOG_ERROR, "auth_bad_row", "malformed api_keys row for a key");
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "Key record is malformed.");
        return 0;
    }
    int matches = lx_apikey_matches(&st->key, w->server->keys->apikey_key, e.hash);
    lx_apikey_wipe(&st->key);
    lx_auth_entry_t *cached = &e;
    int owned = 1;
    lx_auth_entry_t *put = NULL;
    if (atomic_load(&w->server->auth_cache_enabled)) put = lx_auth_cache_put_if(&w->auth, &e, st->evictions);
    if (put != NULL) { /* else a revocation or account change arrived meanwhile: the row may predate it */
        cached = put;
        owned = 0;
    }
    if (!matches)
        unauthorized(lr, "Invalid API key.");
    else if (cached->revoked)
        unauthorized(lr, "The API key has been revoked.");
    else
        admit(lr, cached); /* synchronous: the handler has used cached->account_json before this returns */
    if (owned) free(e.account_json);
    return 0;
}

void lx_auth_authenticate(lx_req_t *lr)
{
    size_t len;
    const char *v = lx_req_header(lr, "authorization", &len);
    if (v == NULL) {
        unauthorized(lr, "An Authorization: Bearer <api key> header is required.");
        return;
    }
    if (len < 7 || strncasecmp(v, "bearer ", 7) != 0) {
        unauthorized(lr, "The Authorization scheme must be Bearer.");
        return;
    }
    size_t off = 7;
    while (off < len && v[off] == ' ') off++;
    lx_apikey_t key;
    if (lx_apikey_parse(v + off, len - off, &key) != 0) {
        unauthorized(lr, "Malformed API key.");
        return;
    }
    lx_worker_t *w = lr->worker;
    lx_auth_entry_t *e = NULL;
    if (atomic_load_explicit(&w->server->auth_cache_enabled, memory_order_relaxed))
        e = lx_auth_cache_get(&w->auth, &key.id, lx_now_us() / 1000);
    if (e != NULL) {
        lx_metrics_inc(&w->metrics->auth_cache_hits, 1);
        int matches = lx_apikey_matches(&key, w->server->keys->apikey_key, e->hash);
        lx_apikey_wipe(&key);
        if (!matches)
            unauthorized(lr, "Invalid API key.");
        else if (e->revoked)
            unauthorized(lr, "The API key has been revoked.");
        else
            admit(lr, e);
        return;
    }
    lx_metrics_inc(&w->metrics->auth_cache_misses, 1);
    lx_async_t *a = lx_async_new(lr, on_key_loaded);
    auth_state_t *st = lx_async_alloc(a, sizeof(*st));
    st->key = key;
    st->evictions = w->auth.evictions;
    lx_apikey_wipe(&key);
    a->user = st;
    char *id = lx_async_alloc(a, LX_UUID_STRLEN + 1);
    lx_uuid_format(&st->key.id, id);
    lx_db_param(lx_db_job_add(&a->job, &auth_load_key), 0, id);
    lx_async_submit(a);
}
