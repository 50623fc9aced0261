/*
 * One request's life in leadx: routing, caps, authentication, rate limit,
 * body parsing, the handler, and exactly one response (JSON or problem+json),
 * recorded in metrics and the access log.
 *
 * Memory: the lx_req_t and everything a handler needs for the response come
 * from the request's pool. Work that outlives a handler call (a database job)
 * lives in an lx_async_t (malloc), which learns through a pool dispose hook
 * when the client has gone (HTTP/2 reset, closed connection) and then drops
 * the result instead of touching freed memory.
 */
#ifndef LX_HTTP_REQUEST_H
#define LX_HTTP_REQUEST_H

#include <jansson.h>

#include "auth/cache.h"
#include "db/pool.h"
#include "http/router.h"
#include "http/server.h"
#include "util/error.h"
#include "util/time.h"

typedef struct st_lx_req_t lx_req_t;
typedef struct st_lx_async_t lx_async_t;

/* A hold on a request's response (lx_req_hold); lr is NULL once released or once the client is gone. */
typedef struct st_lx_req_hold_t {
    lx_req_t *lr;
} lx_req_hold_t;

enum {
    LX_ROUTE_BODY_JSON = 1,     /* a JSON body is required */
    LX_ROUTE_BODY_OPTIONAL = 2, /* a JSON body is allowed but may be empty */
    LX_ROUTE_BODY_BATCH = 4,    /* body capped by batch-max-body-bytes instead of max-body-bytes */
};

typedef struct st_lx_route_desc_t {
    void (*handler)(lx_req_t *lr);
    unsigned roles;  /* 0 = public; else LX_ROLE_* mask allowed to call it */
    unsigned flags;  /* LX_ROUTE_BODY_* */
    size_t max_body; /* 0 = the configured default */
    size_t metrics_index;
} lx_route_desc_t;

struct st_lx_req_t {
    h2o_req_t *req; /* NULL once the client is gone */
    lx_worker_t *worker;
    const lx_route_desc_t *route; /* NULL when no route matched */
    size_t metrics_index;
    lx_route_match_t match;
    lx_principal_t who; /* valid once authenticated */
    /* The caller's account as rendered JSON, from the auth cache: valid only during the synchronous part of the
     * handler (the cache entry may be evicted once the loop turns). */
    const char *account_json;
    size_t account_json_len;
    int authenticated;
    json_t *body; /* parsed body, or NULL */
    lx_async_t *pending;
    /* Handler state that may outlive the request (leads waiting in the intake batch): on_dispose runs when the
     * request's memory goes, answered or not, so the state can forget the request. */
    void *handler_data;
    void (*on_dispose)(lx_req_t *lr);
    char request_id[129];
    uint64_t start_us;
    int responded;
    const char *error_code; /* for the access log */
    /* While held, the answer waits here (body in the request's pool). */
    lx_req_hold_t *hold;
    struct {
        int set;
        int status;
        const char *content_type; /* a string constant */
        const char *body;
        size_t len;
    } held;
};

/* ---- responses (exactly one per request) ---- */
/* Steals `obj`. */
void lx_respond_json(lx_req_t *lr, int status, json_t *obj);
void lx_respond_body(lx_req_t *lr, int status, const char *content_type, const char *body, size_t len);
void lx_respond_empty(lx_req_t *lr, int status);
void lx_respond_error(lx_req_t *lr, const lx_error_t *err);
/* Shorthand: one status, a detail and optionally one field error (field may be NULL). */
void lx_respond_problem(lx_req_t *lr, lx_status_t status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * A body sent piece by piece (GET /v1/receipts/export): sends the status and headers now (no Content-Length: chunked
 * on HTTP/1.1) and counts the request as answered (metrics; access log with bytes 0). The caller then sends with
 * h2o_send(lr->req, ...): a non-final piece must stay valid until gen->proceed runs, the final one until the request's
 * pool goes; gen->stop runs if the client goes away first. -1 (nothing sent) when already answered, held or gone,
 * and -1 after sending the headers alone to a HEAD request: the caller stops there as for a client gone.
 */
int lx_respond_stream(lx_req_t *lr, int status, const char *content_type, h2o_generator_t *gen);
/* Maps a failed database job: unavailable/lost -> 503, queue full -> 503, query error -> 500 (logged). */
void lx_respond_db_failure(lx_req_t *lr, const lx_db_job_t *job);

/*
 * Holding the response: work that the client's next request must find done (deleting an abandoned idempotency
 * claim) holds the request; whatever the handler answers meanwhile is kept and sent by lx_req_release. One hold at a
 * time; `h` lives with that work and must stay valid until released. Release is safe after the client has gone.
 */
void lx_req_hold(lx_req_t *lr, lx_req_hold_t *h);
void lx_req_release(lx_req_hold_t *h);

/* ---- request helpers ---- */
/* Path parameter as a UUID; on failure answers 404 (an id that cannot exist names no resource) and returns -1. */
int lx_req_path_uuid(lx_req_t *lr, const char *name, lx_uuid_t *out, char str[LX_UUID_STRLEN + 1]);
/* Header value or NULL. */
const char *lx_req_header(lx_req_t *lr, const char *lower_name, size_t *len);

/*
 * Query parameters: lx_req_query parses the query string against the allowed names (NULL-terminated); unknown names,
 * repeated names and bad percent-encoding answer 400 and return -1. Values are NUL-terminated pool strings or NULL.
 */
int lx_req_query(lx_req_t *lr, const char *const names[], const char *values[]);
/* limit: 1..200 (default 50); cursor: opaque id from a previous page (NULL = first page). Answers 400 on error. */
int lx_req_page(lx_req_t *lr, const char *limit_s, const char *cursor_s, int *limit, char cursor[LX_UUID_STRLEN + 1]);
/* since: an RFC 3339 date-time, written to `out` in leadx's canonical form ("" when since_s is NULL). Answers 400
 * naming query.since and returns -1 when it is not one. */
int lx_req_since(lx_req_t *lr, const char *since_s, char out[LX_TS_LEN + 1]);
/* Encodes a page cursor (the last item's id) as a JSON string value. */
json_t *lx_cursor_json(const char *last_id);

/* ---- async database work tied to a request ---- */
/* Return 0 when done (the async is freed), 1 when the job was continued/resubmitted. */
typedef int (*lx_async_cb_t)(lx_req_t *lr, lx_async_t *a);

struct st_lx_async_t {
    lx_db_job_t job;
    lx_req_t *lr;
    lx_async_cb_t cb;
    void *user;
    int step;
    size_t arena_used;
    void *extra; /* malloc'd overflow blocks, singly linked */
    char arena[1024];
};

lx_async_t *lx_async_new(lx_req_t *lr, lx_async_cb_t cb);
/* Copies into memory that lives as long as the async (parameters must outlive a queued job). */
char *lx_async_dup(lx_async_t *a, const char *s, size_t len);
void *lx_async_alloc(lx_async_t *a, size_t n);
/* Submits a->job; on immediate failure answers 503 and frees the async. */
void lx_async_submit(lx_async_t *a);
/* Sends the next step on the reserved connection (from inside the callback). Returns 1 (for the callback's return). */
int lx_async_continue(lx_async_t *a);

/* Authenticates lr (http/auth.c): answers 401/403/429 itself, else continues the pipeline. */
void lx_auth_authenticate(lx_req_t *lr);

/* The h2o handler entry point (registered at "/"). */
int lx_request_on_req(h2o_handler_t *self, h2o_req_t *req);
/* Resumes the pipeline after authentication completed asynchronously. */
void lx_request_after_auth(lx_req_t *lr);

#endif
