/*
 * The request pipeline, in the order a request meets it:
 *   request id -> header cap (431) -> route (404/405) -> body cap (413)
 *   -> content type (415) -> API key (401, async on a cache miss)
 *   -> account status and role (403) -> rate limit (429) -> JSON body (400)
 *   -> handler.
 * Every exit goes through finish(), which writes the one response, the
 * metrics and the access-log line.
 */
#include "http/request.h"
#include "http/problem.h"
#include "util/json.h"
#include "util/log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ACCESS_LOG_FLUSH_BYTES 65536

static void pipeline_continue(lx_req_t *lr);

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

static void on_lr_dispose(void *p)
{
    lx_req_t *lr = p;
    if (lr->hold != NULL) {
        lr->hold->lr = NULL; /* the held answer goes with the pool */
        lr->hold = NULL;
    }
    if (lr->pending != NULL) {
        lr->pending->lr = NULL; /* the database answer will be dropped */
        lr->pending = NULL;
    }
    if (lr->on_dispose != NULL) {
        lr->on_dispose(lr);
        lr->on_dispose = NULL;
    }
    if (!lr->responded && lr->worker != NULL) {
        lr->responded = 1;
        lr->worker->inflight--;
    }
    json_decref(lr->body);
    lr->body = NULL;
}

static void access_log(lx_req_t *lr, int status, size_t bytes, uint64_t us)
{
    lx_worker_t *w = lr->worker;
    if (w->server->access_log_fd < 0) return;
    h2o_req_t *req = lr->req;
    char ts[32];
    lx_log_now_rfc3339(ts);
    lx_strbuf_t *sb = &w->access_log;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (plen > 512) plen = 512;
    lx_strbuf_printf(sb, "{\"ts\":\"%s\",\"request_id\":", ts);
    lx_strbuf_append_json_string(sb, lr->request_id, strlen(lr->request_id));
    lx_strbuf_puts(sb, ",\"method\":");
    lx_strbuf_append_json_string(sb, req->method.base, req->method.len > 16 ? 16 : req->method.len);
    lx_strbuf_puts(sb, ",\"path\":");
    lx_strbuf_append_json_string(sb, req->path.base, plen);
    lx_strbuf_printf(sb, ",\"route\":\"%s\",\"status\":%d,\"duration_us\":%llu,\"bytes\":%zu,\"protocol\":\"%s\"",
                     w->server->labels[lr->metrics_index].route, status, (unsigned long long)us, bytes,
                     req->version >= 0x200 ? "h2" : "http/1.1");
    if (lr->authenticated) lx_strbuf_printf(sb, ",\"account_id\":\"%s\"", lr->who.account_id_str);
    if (lr->error_code != NULL) lx_strbuf_printf(sb, ",\"code\":\"%s\"", lr->error_code);
    lx_strbuf_puts(sb, "}\n");
    if (sb->len >= ACCESS_LOG_FLUSH_BYTES || sb->overflow) lx_worker_flush_access_log(w);
}

/* Marks lr answered (metrics, access log) and sets the status and headers; -1 when the client is gone.
 * content_length SIZE_MAX = not known (a streamed body). */
static int begin_response(lx_req_t *lr, int status, const char *content_type, size_t content_length, size_t log_bytes)
{
    lr->responded = 1;
    lx_worker_t *w = lr->worker;
    w->inflight--;
    uint64_t us = lx_now_us() - lr->start_us;
    lx_metrics_observe(w->metrics, lr->metrics_index, status, us);
    h2o_req_t *req = lr->req;
    if (req == NULL) return -1;
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = content_length;
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, lr->request_id,
                          strlen(lr->request_id));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    access_log(lr, status, log_bytes, us);
    return 0;
}

/* HEAD is answered as GET without the content (RFC 9110 §9.3.2; the router routes it as GET): the same status and
 * headers, Content-Length included where GET would have one, and no DATA. */
static int is_head(const h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

int lx_respond_stream(lx_req_t *lr, int status, const char *content_type, h2o_generator_t *gen)
{
    static h2o_generator_t no_content = {NULL, NULL};
    if (lr->responded || lr->hold != NULL) return -1;
    if (begin_response(lr, status, content_type, SIZE_MAX, 0) != 0) return -1;
    if (is_head(lr->req)) { /* the headers are the answer: the caller stops as if the client had gone */
        h2o_start_response(lr->req, &no_content);
        h2o_send(lr->req, NULL, 0, H2O_SEND_STATE_FINAL);
        return -1;
    }
    h2o_start_response(lr->req, gen);
    return 0;
}

static void finish(lx_req_t *lr, int status, const char *content_type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    if (lr->responded) return;
    if (lr->hold != NULL) {
        if (lr->held.set) return; /* exactly one answer: the first */
        lr->held.set = 1;
        lr->held.status = status;
        lr->held.content_type = content_type;
        lr->held.body = body;
        lr->held.len = len;
        return;
    }
    if (begin_response(lr, status, content_type, len, len) != 0) return;
    h2o_req_t *req = lr->req;
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    h2o_send(req, &buf, len != 0 && !is_head(req) ? 1 : 0, H2O_SEND_STATE_FINAL);
}

void lx_req_hold(lx_req_t *lr, lx_req_hold_t *h)
{
    h->lr = NULL;
    if (lr->responded || lr->hold != NULL) return; /* too late to hold, or already held until earlier work ends */
    h->lr = lr;
    lr->hold = h;
}

void lx_req_release(lx_req_hold_t *h)
{
    lx_req_t *lr = h->lr;
    if (lr == NULL) return;
    h->lr = NULL;
    lr->hold = NULL;
    if (lr->held.set) {
        lr->held.set = 0;
        finish(lr, lr->held.status, lr->held.content_type, lr->held.body, lr->held.len);
    }
}

void lx_respond_body(lx_req_t *lr, int status, const char *content_type, const char *body, size_t len)
{
    if (lr->req == NULL) {
        finish(lr, status, NULL, NULL, 0);
        return;
    }
    char *copy = h2o_mem_alloc_pool(&lr->req->pool, len ? len : 1);
    memcpy(copy, body, len);
    finish(lr, status, content_type, copy, len);
}

void lx_respond_json(lx_req_t *lr, int status, json_t *obj)
{
    if (lr->req == NULL) {
        json_decref(obj);
        finish(lr, status, NULL, NULL, 0);
        return;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)256 << 20);
    lx_json_dump(obj, &sb); /* one pass, and reals in their shortest form (0.1, not 0.10000000000000001) */
    json_decref(obj);
    char *buf = h2o_mem_alloc_pool(&lr->req->pool, sb.len + 1);
    memcpy(buf, sb.base, sb.len);
    size_t len = sb.len;
    sodium_memzero(sb.base, sb.len); /* answers may carry a new API key or a contact */
    lx_strbuf_free(&sb);
    finish(lr, status, "application/json", buf, len);
}

void lx_respond_empty(lx_req_t *lr, int status)
{
    finish(lr, status, NULL, NULL, 0);
}

void lx_respond_error(lx_req_t *lr, const lx_error_t *err)
{
    lr->error_code = lx_status_code(err->status);
    if (lr->req == NULL) {
        finish(lr, lx_status_http(err->status), NULL, NULL, 0);
        return;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_problem_render(err, lr->request_id, &sb);
    char *buf = h2o_mem_alloc_pool(&lr->req->pool, sb.len + 1);
    memcpy(buf, sb.base, sb.len);
    size_t len = sb.len;
    lx_strbuf_free(&sb);
    finish(lr, lx_status_http(err->status), "application/problem+json", buf, len);
}

void lx_respond_problem(lx_req_t *lr, lx_status_t status, const char *field, const char *fmt, ...)
{
    lx_error_t err;
    lx_error_init(&err);
    err.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.detail, sizeof(err.detail), fmt, ap);
    va_end(ap);
    if (field != NULL) lx_error_field(&err, field, "%s", err.detail);
    lx_respond_error(lr, &err);
}

void lx_respond_db_failure(lx_req_t *lr, const lx_db_job_t *job)
{
    switch (job->status) {
    case LX_DB_ERR_OVERLOADED:
        lx_respond_problem(lr, LX_ERR_OVERLOADED, NULL, "Too many database requests are waiting; retry shortly.");
        return;
    case LX_DB_ERR_QUERY:
        if (strcmp(job->sqlstate, "LXI01") == 0) { /* migrations/0021: another execution completed the key */
            lx_respond_problem(lr, LX_ERR_IDEMPOTENCY_IN_PROGRESS, "header.idempotency-key",
                               "Another request with this Idempotency-Key completed it; retry to read its outcome.");
            return;
        }
        lx_log(LX_LOG_ERROR, "db_query_failed", "request %s: %s %s", lr->request_id, job->sqlstate, job->message);
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The request failed; it was not applied. Request id %s.", lr->request_id);
        return;
    default:
        lx_respond_problem(lr, LX_ERR_DB_UNAVAILABLE, NULL, "The database is unavailable; retry shortly.");
    }
}

/* ---- request helpers ----------------------------------------------------- */

const char *lx_req_header(lx_req_t *lr, const char *lower_name, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&lr->req->headers, lower_name, strlen(lower_name), -1);
    if (i < 0) {
        *len = 0;
        return NULL;
    }
    *len = lr->req->headers.entries[i].value.len;
    return lr->req->headers.entries[i].value.base;
}

int lx_req_path_uuid(lx_req_t *lr, const char *name, lx_uuid_t *out, char str[LX_UUID_STRLEN + 1])
{
    size_t len;
    const char *v = lx_route_param(&lr->match, name, &len);
    if (v == NULL || lx_uuid_parse(v, len, out) != 0) {
        char field[64];
        snprintf(field, sizeof(field), "path.%s", name);
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, field, "No such resource: the %s is not a valid id.", name);
        return -1;
    }
    lx_uuid_format(out, str);
    return 0;
}

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes into a pool string; '+' is a space (form encoding). NULL on bad escapes or NUL bytes. */
static char *url_decode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexdigit(s[i + 1])) < 0 || (lo = hexdigit(s[i + 2])) < 0) return NULL;
            char c = (char)(hi << 4 | lo);
            if (c == '\0') return NULL;
            *o++ = c;
            i += 2;
        } else {
            *o++ = s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

int lx_req_query(lx_req_t *lr, const char *const names[], const char *values[])
{
    h2o_req_t *req = lr->req;
    size_t nnames = 0;
    while (names[nnames] != NULL) values[nnames++] = NULL;
    if (req->query_at == SIZE_MAX) return 0;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        if (seg_end > p) {
            const char *eq = memchr(p, '=', (size_t)(seg_end - p));
            const char *name_end = eq ? eq : seg_end;
            char *name = url_decode(&req->pool, p, (size_t)(name_end - p));
            char *value = eq ? url_decode(&req->pool, eq + 1, (size_t)(seg_end - eq - 1)) : (char *)"";
            /* The name as the field, cut to 80 bytes at a character boundary (never through a UTF-8 sequence). */
            char field[96];
            const char *shown = name ? name : "?";
            size_t cut = strnlen(shown, 80);
            while (cut > 0 && ((unsigned char)shown[cut] & 0xC0) == 0x80) cut--;
            snprintf(field, sizeof(field), "query.%.*s", (int)cut, shown);
            if (name == NULL || value == NULL || !lx_utf8_valid(name, strlen(name)) || !lx_utf8_valid(value, strlen(value))) {
                lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, field, "Malformed query parameter encoding.");
                return -1;
            }
            size_t i = 0;
            while (i < nnames && strcmp(names[i], name) != 0) i++;
            if (i == nnames) {
                lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, field, "Unknown query parameter.");
                return -1;
            }
            if (values[i] != NULL) {
                lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, field, "Query parameter given more than once.");
                return -1;
            }
            values[i] = value;
        }
        p = seg_end + 1;
    }
    return 0;
}

int lx_req_since(lx_req_t *lr, const char *since_s, char out[LX_TS_LEN + 1])
{
    out[0] = '\0';
    if (since_s == NULL) return 0;
    int64_t us;
    if (lx_ts_parse_rfc3339(since_s, strlen(since_s), &us) != 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.since",
                           "since must be an RFC 3339 date-time such as 2026-11-23T10:00:00Z.");
        return -1;
    }
    lx_ts_format_us(us, out);
    return 0;
}

int lx_req_page(lx_req_t *lr, const char *limit_s, const char *cursor_s, int *limit, char cursor[LX_UUID_STRLEN + 1])
{
    *limit = 50;
    cursor[0] = '\0';
    if (limit_s != NULL) {
        char *end;
        long v = strtol(limit_s, &end, 10);
        if (limit_s[0] == '\0' || *end != '\0' || v < 1 || v > 200 || !isdigit((unsigned char)limit_s[0])) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.limit", "limit must be an integer from 1 to 200.");
            return -1;
        }
        *limit = (int)v;
    }
    if (cursor_s != NULL) {
        uint8_t bin[16];
        size_t bin_len = 0;
        const char *end = NULL;
        lx_uuid_t id;
        char again[32];
        size_t clen = strlen(cursor_s);
        int ok = clen == 22 &&
                 sodium_base642bin(bin, sizeof(bin), cursor_s, clen, NULL, &bin_len, &end,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
                 bin_len == 16 && end == cursor_s + clen;
        if (ok) {
            sodium_bin2base64(again, sizeof(again), bin, 16, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            ok = strcmp(again, cursor_s) == 0;
        }
        if (!ok) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.cursor", "cursor is not a value returned as next_cursor.");
            return -1;
        }
        memcpy(id.b, bin, 16);
        lx_uuid_format(&id, cursor);
    }
    return 0;
}

json_t *lx_cursor_json(const char *last_id)
{
    lx_uuid_t id;
    if (last_id == NULL || lx_uuid_parse(last_id, strlen(last_id), &id) != 0) return json_null();
    char b64[32];
    sodium_bin2base64(b64, sizeof(b64), id.b, 16, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_string(b64);
}

/* ---- async ------------------------------------------------------------------ */

typedef struct extra_block {
    struct extra_block *next;
    char data[];
} extra_block_t;

static void async_free(lx_async_t *a)
{
    extra_block_t *b = a->extra;
    while (b != NULL) {
        extra_block_t *next = b->next;
        free(b);
        b = next;
    }
    sodium_memzero(a->arena, a->arena_used); /* the arena may have held a key being checked */
    free(a);
}

static void async_on_db(lx_db_job_t *job)
{
    lx_async_t *a = job->data;
    lx_req_t *lr = a->lr;
    if (lr == NULL) {
        /* The client is gone: nothing to answer; end a reservation so the connection is not leaked. */
        if (job->conn != NULL) lx_db_release(job);
        async_free(a);
        return;
    }
    /* lr->pending stays set while the callback runs, so a continued step still learns about a disposed request. */
    int more = a->cb(lr, a);
    if (more) return;
    if (job->conn != NULL) lx_db_release(job);
    if (a->lr != NULL && a->lr->pending == a) a->lr->pending = NULL; /* the callback may have started the request's next async */
    async_free(a);
}

lx_async_t *lx_async_new(lx_req_t *lr, lx_async_cb_t cb)
{
    lx_async_t *a = lx_malloc(sizeof(*a));
    lx_db_job_init(&a->job, async_on_db, a);
    a->lr = lr;
    a->cb = cb;
    a->user = NULL;
    a->step = 0;
    a->arena_used = 0;
    a->extra = NULL;
    lr->pending = a;
    return a;
}

void *lx_async_alloc(lx_async_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n <= sizeof(a->arena) - a->arena_used) {
        void *p = a->arena + a->arena_used;
        a->arena_used += n;
        return p;
    }
    extra_block_t *b = lx_malloc(sizeof(*b) + n);
    b->next = a->extra;
    a->extra = b;
    return b->data;
}

char *lx_async_dup(lx_async_t *a, const char *s, size_t len)
{
    char *p = lx_async_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void lx_async_submit(lx_async_t *a)
{
    lx_req_t *lr = a->lr;
    if (lx_db_submit(lr->worker->db, &a->job) != 0) {
        lr->pending = NULL;
        lx_respond_db_failure(lr, &a->job);
        async_free(a);
    }
}

int lx_async_continue(lx_async_t *a)
{
    if (lx_db_continue(&a->job) != 0) {
        /* Report through the normal callback path so the handler sees one kind of failure. */
        lx_req_t *lr = a->lr;
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    return 1;
}

/* ---- the pipeline ------------------------------------------------------------ */

static int header_bytes(const h2o_req_t *req)
{
    size_t total = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        total += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return total > INT32_MAX ? INT32_MAX : (int)total;
}

static int content_type_is_json(const char *v, size_t len)
{
    /* application/json, optionally with "; charset=utf-8" (any case, optional spaces) */
    static const char mt[] = "application/json";
    if (len < sizeof(mt) - 1 || strncasecmp(v, mt, sizeof(mt) - 1) != 0) return 0;
    size_t i = sizeof(mt) - 1;
    while (i < len && v[i] == ' ') i++;
    if (i == len) return 1;
    if (v[i++] != ';') return 0;
    while (i < len && v[i] == ' ') i++;
    return len - i == 13 && strncasecmp(v + i, "charset=utf-8", 13) == 0;
}

static void set_request_id(lx_req_t *lr)
{
    size_t len;
    const char *v = lx_req_header(lr, "x-request-id", &len);
    if (v != NULL && len >= 1 && len <= 128) {
        size_t i = 0;
        while (i < len && v[i] > 0x20 && v[i] < 0x7f) i++;
        if (i == len) {
            memcpy(lr->request_id, v, len);
            lr->request_id[len] = '\0';
            return;
        }
    }
    lx_uuid_t id;
    lx_uuid_v7_fast(&id);
    lx_uuid_format(&id, lr->request_id);
}

int lx_request_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    lx_worker_t *w = H2O_STRUCT_FROM_MEMBER(lx_worker_t, ctx, req->conn->ctx);
    lx_server_t *srv = w->server;
    lx_req_t *lr = h2o_mem_alloc_shared(&req->pool, sizeof(*lr), on_lr_dispose);
    memset(lr, 0, sizeof(*lr));
    lr->req = req;
    lr->worker = w;
    lr->start_us = lx_now_us();
    lr->metrics_index = srv->nroutes; /* "unmatched" until routed */
    w->inflight++;
    set_request_id(lr);

    if (header_bytes(req) > srv->cfg->max_header_bytes) {
        lx_respond_problem(lr, LX_ERR_HEADERS_TOO_LARGE, NULL, "Request headers exceed %lld bytes.",
                           (long long)srv->cfg->max_header_bytes);
        return 0;
    }
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    lx_status_t st =
        lx_router_match(srv->routes, srv->nroutes, req->method.base, req->method.len, req->path.base, path_len, &lr->match);
    if (st == LX_ERR_METHOD_NOT_ALLOWED) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, lr->match.allow, strlen(lr->match.allow));
        lx_respond_problem(lr, LX_ERR_METHOD_NOT_ALLOWED, NULL, "Method %.*s is not allowed here; allowed: %s.",
                           (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base, lr->match.allow);
        return 0;
    }
    if (st != LX_OK) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such route.");
        return 0;
    }
    lr->route = lr->match.route->data;
    lr->metrics_index = lr->route->metrics_index;

    size_t cap = lr->route->flags & LX_ROUTE_BODY_BATCH ? (size_t)srv->cfg->batch_max_body_bytes
                 : lr->route->max_body                  ? lr->route->max_body
                                                        : (size_t)srv->cfg->max_body_bytes;
    if (req->entity.base != NULL && req->entity.len > cap) {
        lx_respond_problem(lr, LX_ERR_PAYLOAD_TOO_LARGE, NULL, "The request body exceeds %zu bytes.", cap);
        return 0;
    }
    if ((lr->route->flags & (LX_ROUTE_BODY_JSON | LX_ROUTE_BODY_OPTIONAL)) && req->entity.len != 0) {
        size_t ctlen;
        const char *ct = lx_req_header(lr, "content-type", &ctlen);
        if (ct == NULL || !content_type_is_json(ct, ctlen)) {
            lx_respond_problem(lr, LX_ERR_UNSUPPORTED_MEDIA_TYPE, "header.content-type",
                               "The request body must be application/json.");
            return 0;
        }
    }
    if (lr->route->roles == 0) {
        pipeline_continue(lr);
        return 0;
    }
    lx_auth_authenticate(lr);
    return 0;
}

void lx_request_after_auth(lx_req_t *lr)
{
    pipeline_continue(lr);
}

static void pipeline_continue(lx_req_t *lr)
{
    h2o_req_t *req = lr->req;
    unsigned flags = lr->route->flags;
    if ((flags & LX_ROUTE_BODY_JSON) || ((flags & LX_ROUTE_BODY_OPTIONAL) && req->entity.len != 0)) {
        lx_error_t err;
        lx_error_init(&err);
        lr->body = lx_json_parse(req->entity.base, req->entity.len, (size_t)lr->worker->server->cfg->json_max_depth, &err);
        if (lr->body == NULL) {
            lx_respond_error(lr, &err);
            return;
        }
    }
    lr->route->handler(lr);
}
