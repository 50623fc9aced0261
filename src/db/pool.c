/*
 * The pool's state machine, per connection:
 *
 *   DOWN --(retry timer)--> CONNECTING --(PQconnectPoll OK)--> READY
 *     ^                                                          |
 *     +------------------ any socket / protocol failure ---------+
 *
 * A READY connection carries a FIFO of entries in flight, each one Sync
 * group: a job (the caller's statements), a PREPARE of one statement, or an
 * internal ROLLBACK. Results arrive strictly in send order, so the head of the
 * FIFO always owns the next result; PGRES_PIPELINE_SYNC closes the head.
 * Within a job, a NULL result ends one statement's results; results after the
 * last statement but before the Sync are a failed COMMIT.
 */
#include "db/pool.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CONN_DOWN, CONN_CONNECTING, CONN_READY };
enum { KIND_USER = 0, KIND_PREPARE, KIND_ROLLBACK };
enum { PREP_NONE = 0, PREP_SENT, PREP_DONE };

#define RECONNECT_MS 500
#define WARM_MS      5000 /* how long work waits for a new pool's first connection (struct st_lx_db_t.warm_timeout) */

struct st_lx_db_conn_t {
    lx_db_t *db;
    PGconn *pg;
    h2o_socket_t *sock;
    int state;
    int want_write;
    int reserved;
    size_t inflight;
    lx_db_job_t *head, *tail; /* in flight, send order */
    uint8_t prepared[LX_DB_MAX_STMTS];
    h2o_timeout_entry_t retry;
};

struct st_lx_db_t {
    h2o_loop_t *loop;
    char *conninfo;
    char options[128];
    size_t nconns;
    size_t depth;
    size_t queue_max;
    size_t queued;
    lx_db_job_t *qhead, *qtail; /* waiting: plain jobs */
    lx_db_job_t *rhead, *rtail; /* waiting: jobs that need a reserved connection */
    h2o_timeout_t retry_timeout;
    /* Linked from creation until the first connection is ready or fails (at most WARM_MS): meanwhile work waits for
     * it instead of being refused, so a server that has just started does not answer 503 for its first milliseconds.
     * After that, no ready connection means "unavailable" at once (an outage must not make requests hang). */
    h2o_timeout_t warm_timeout;
    h2o_timeout_entry_t warm_entry;
    uint64_t queries_total;
    lx_db_conn_t *conns;
};

static atomic_int next_stmt_index;

static void conn_connect(lx_db_conn_t *c);
static void conn_fail(lx_db_conn_t *c, const char *what);
static void end_warming(lx_db_t *db);
static void dispatch(lx_db_t *db);
static void drain(lx_db_conn_t *c);
static void stop_waiting(lx_db_t *db);

const char *lx_db_status_text(lx_db_status_t st)
{
    switch (st) {
    case LX_DB_OK:
        return "ok";
    case LX_DB_ERR_QUERY:
        return "query failed";
    case LX_DB_ERR_CONNECTION:
        return "connection lost";
    case LX_DB_ERR_UNAVAILABLE:
        return "database unavailable";
    case LX_DB_ERR_OVERLOADED:
        return "database queue full";
    }
    return "unknown";
}

static int stmt_index(lx_db_stmt_t *s)
{
    int idx = __atomic_load_n(&s->index, __ATOMIC_ACQUIRE);
    if (idx >= 0) return idx;
    int fresh = atomic_fetch_add(&next_stmt_index, 1);
    if (fresh >= LX_DB_MAX_STMTS) {
        lx_log(LX_LOG_ERROR, "db_stmt_overflow", "more than %d prepared statements", LX_DB_MAX_STMTS);
        abort();
    }
    int expected = -1;
    /* Two threads may race on first use; the loser adopts the winner's index (its fresh slot stays unused). */
    if (!__atomic_compare_exchange_n(&s->index, &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return expected;
    return fresh;
}

/* ---- socket plumbing ---------------------------------------------------- */

static void on_readable(h2o_socket_t *sock, const char *err);
static void on_writable(h2o_socket_t *sock, const char *err);

static void unwatch(lx_db_conn_t *c)
{
    if (c->sock != NULL) {
        h2o_socket_read_stop(c->sock);
        h2o_socket_close(c->sock); /* closes our dup(), not libpq's fd */
        c->sock = NULL;
    }
    c->want_write = 0;
}

static int watch(lx_db_conn_t *c)
{
    unwatch(c);
    int fd = dup(PQsocket(c->pg));
    if (fd < 0) return -1;
    c->sock = h2o_evloop_socket_create(c->db->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    c->sock->data = c;
    return 0;
}

static void flush(lx_db_conn_t *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        conn_fail(c, "PQflush");
        return;
    }
    if (r == 1 && !c->want_write) {
        c->want_write = 1;
        h2o_socket_notify_write(c->sock, on_writable);
    }
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    lx_db_conn_t *c = sock->data;
    c->want_write = 0;
    if (err != NULL) {
        conn_fail(c, "write");
        return;
    }
    flush(c);
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    lx_db_conn_t *c = sock->data;
    if (err != NULL || !PQconsumeInput(c->pg)) {
        conn_fail(c, "read");
        return;
    }
    if (!c->want_write) flush(c); /* libpq: on read-ready with output pending, flush again */
    if (c->state == CONN_READY) drain(c);
}

/* ---- connecting --------------------------------------------------------- */

static void on_notice(void *arg, const char *message)
{
    size_t n = strlen(message);
    lx_log(LX_LOG_WARN, "db_notice", "%.*s", (int)(n > 0 && message[n - 1] == '\n' ? n - 1 : n), message);
}

static void on_connect_event(h2o_socket_t *sock, const char *err);

static void connect_wait(lx_db_conn_t *c, PostgresPollingStatusType st)
{
    /* The socket can change between steps (multi-host URIs, SSL retry): watch it afresh each time. */
    if (watch(c) != 0) {
        conn_fail(c, "dup");
        return;
    }
    if (st == PGRES_POLLING_READING)
        h2o_socket_read_start(c->sock, on_connect_event);
    else {
        c->want_write = 1;
        h2o_socket_notify_write(c->sock, on_connect_event);
    }
}

static void on_connect_event(h2o_socket_t *sock, const char *err)
{
    lx_db_conn_t *c = sock->data;
    c->want_write = 0;
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    switch (st) {
    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        connect_wait(c, st);
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        conn_fail(c, "connect");
        return;
    }
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1 || watch(c) != 0) {
        conn_fail(c, "pipeline mode");
        return;
    }
    PQsetNoticeProcessor(c->pg, on_notice, NULL);
    memset(c->prepared, 0, sizeof(c->prepared));
    h2o_socket_read_start(c->sock, on_readable);
    c->state = CONN_READY;
    lx_log(LX_LOG_DEBUG, "db_connected", "connection %zu ready", (size_t)(c - c->db->conns));
    end_warming(c->db);
    dispatch(c->db);
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    lx_db_conn_t *c = H2O_STRUCT_FROM_MEMBER(lx_db_conn_t, retry, entry);
    conn_connect(c);
}

static void conn_connect(lx_db_conn_t *c)
{
    lx_db_t *db = c->db;
    const char *keys[] = {"dbname", "options", "application_name", NULL};
    const char *vals[] = {db->conninfo, db->options, "leadx", NULL};
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "PQconnectStart");
        return;
    }
    c->state = CONN_CONNECTING;
    connect_wait(c, PGRES_POLLING_WRITING); /* libpq docs: behave as if PQconnectPoll returned WRITING first */
}

/* Completes one in-flight entry: user callback, or bookkeeping for internal entries. */
static void complete(lx_db_conn_t *c, lx_db_job_t *job)
{
    if (job->internal_kind == KIND_PREPARE) {
        if (c->state == CONN_READY) c->prepared[job->prepare_index] = job->status == LX_DB_OK ? PREP_DONE : PREP_NONE;
        if (job->status == LX_DB_ERR_QUERY) lx_log(LX_LOG_ERROR, "db_prepare_failed", "%s: %s", job->sqlstate, job->message);
        for (size_t i = 0; i < LX_DB_MAX_CALLS; i++) PQclear(job->results[i]);
        free(job);
        return;
    }
    if (job->internal_kind == KIND_ROLLBACK) {
        for (size_t i = 0; i < LX_DB_MAX_CALLS; i++) PQclear(job->results[i]);
        free(job);
        if (c->state == CONN_READY) c->reserved = 0;
        return;
    }
    /* Results move to the stack: the callback may free the job or reuse it for the next step. */
    PGresult *results[LX_DB_MAX_CALLS];
    memcpy(results, job->results, sizeof(results));
    int keep = (job->flags & LX_DB_RESERVE) && job->status == LX_DB_OK && c->state == CONN_READY;
    if ((job->flags & LX_DB_RESERVE) && !keep && c->reserved) {
        /* The step failed: the reservation ends here; roll back whatever is open. */
        job->conn = NULL;
        if (c->state == CONN_READY) {
            lx_db_job_t tmp = {0};
            tmp.conn = c;
            lx_db_release(&tmp);
        }
    } else {
        job->conn = keep ? c : NULL;
    }
    job->cb(job);
    for (size_t i = 0; i < LX_DB_MAX_CALLS; i++) PQclear(results[i]);
}

static void conn_fail(lx_db_conn_t *c, const char *what)
{
    lx_db_t *db = c->db;
    {
        /* A lost connection is worth a warning; each failed retry while the database is down is not. */
        const char *msg = c->pg != NULL ? PQerrorMessage(c->pg) : "";
        size_t n = strlen(msg);
        lx_log(c->state == CONN_READY ? LX_LOG_WARN : LX_LOG_DEBUG, "db_connection_failed", "%s: %.*s", what,
               (int)(n > 0 && msg[n - 1] == '\n' ? n - 1 : n), msg);
    }
    unwatch(c);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = CONN_DOWN;
    c->reserved = 0;
    lx_db_job_t *list = c->head;
    c->head = c->tail = NULL;
    c->inflight = 0;
    if (!h2o_timeout_is_linked(&c->retry)) h2o_timeout_link(db->loop, &db->retry_timeout, &c->retry);
    /* Fail in-flight work first, then anything queued that no other connection can take. */
    while (list != NULL) {
        lx_db_job_t *j = list;
        list = j->next;
        j->status = LX_DB_ERR_CONNECTION;
        snprintf(j->message, sizeof(j->message), "connection to the database lost");
        complete(c, j);
    }
    stop_waiting(db);
}

/* Every waiting job, when no connection can take it. */
static void fail_queued(lx_db_t *db)
{
    lx_db_job_t *queues[2] = {db->qhead, db->rhead};
    db->qhead = db->qtail = db->rhead = db->rtail = NULL;
    db->queued = 0;
    for (int q = 0; q < 2; q++) {
        while (queues[q] != NULL) {
            lx_db_job_t *j = queues[q];
            queues[q] = j->next;
            j->status = LX_DB_ERR_UNAVAILABLE;
            snprintf(j->message, sizeof(j->message), "database unavailable");
            j->cb(j);
        }
    }
}

static int warming(lx_db_t *db)
{
    return h2o_timeout_is_linked(&db->warm_entry);
}

static void end_warming(lx_db_t *db)
{
    if (warming(db)) h2o_timeout_unlink(&db->warm_entry);
}

/* A connection failed or the warm-up elapsed: from now on no ready connection means "unavailable", for the work
 * already waiting too. */
static void stop_waiting(lx_db_t *db)
{
    end_warming(db);
    if (lx_db_ready(db) == 0) fail_queued(db);
}

static void on_warm_elapsed(h2o_timeout_entry_t *entry)
{
    stop_waiting(H2O_STRUCT_FROM_MEMBER(lx_db_t, warm_entry, entry));
}

/* ---- results ------------------------------------------------------------ */

static void record_error(lx_db_job_t *job, const PGresult *r)
{
    if (job->status != LX_DB_OK) return;
    job->status = LX_DB_ERR_QUERY;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    lx_str_copy(job->sqlstate, sizeof(job->sqlstate), state ? state : "XX000");
    lx_str_copy(job->message, sizeof(job->message), msg ? msg : PQresStatus(PQresultStatus(r)));
}

static void drain(lx_db_conn_t *c)
{
    while (c->state == CONN_READY && c->head != NULL && !PQisBusy(c->pg)) {
        lx_db_job_t *job = c->head;
        PGresult *r = PQgetResult(c->pg);
        if (r == NULL) {
            if (job->cur < job->ncalls) job->cur++; /* end of one statement's results */
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            c->head = job->next;
            if (c->head == NULL) c->tail = NULL;
            c->inflight--;
            job->next = NULL;
            complete(c, job);
            dispatch(c->db);
            continue;
        }
        if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR) {
            record_error(job, r);
        } else if (st == PGRES_PIPELINE_ABORTED) {
            if (job->status == LX_DB_OK) {
                job->status = LX_DB_ERR_QUERY;
                snprintf(job->sqlstate, sizeof(job->sqlstate), "25P02");
                snprintf(job->message, sizeof(job->message), "pipeline aborted");
            }
        }
        if (job->cur < job->ncalls && job->results[job->cur] == NULL) {
            job->results[job->cur] = r;
        } else {
            PQclear(r); /* extra results, or a failed COMMIT after the last statement (already recorded) */
        }
    }
}

/* ---- sending ------------------------------------------------------------ */

static void push_inflight(lx_db_conn_t *c, lx_db_job_t *job)
{
    job->next = NULL;
    job->cur = 0;
    if (c->tail != NULL)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    c->inflight++;
}

static int send_prepare(lx_db_conn_t *c, lx_db_stmt_t *stmt, int idx)
{
    lx_db_job_t *p = lx_calloc(1, sizeof(*p));
    p->internal_kind = KIND_PREPARE;
    p->prepare_index = idx;
    p->ncalls = 1;
    if (!PQsendPrepare(c->pg, stmt->name, stmt->sql, stmt->nparams, NULL) || !PQpipelineSync(c->pg)) {
        free(p);
        return -1;
    }
    c->prepared[idx] = PREP_SENT;
    push_inflight(c, p);
    return 0;
}

/*
 * Sends calls [from, to) of `job`; with `end`, the Sync that closes the job, which then goes in flight. Statements are
 * prepared (each in a Sync group of its own) only when `from` is 0: once a job's first calls are out, a Prepare's
 * Sync would land inside the job, so lx_db_continue_partial prepares the whole job up front.
 */
static int send_calls(lx_db_conn_t *c, lx_db_job_t *job, size_t from, size_t to, int end)
{
    for (size_t i = 0; i < job->ncalls; i++) {
        int idx = stmt_index(job->calls[i].stmt);
        if (c->prepared[idx] != PREP_NONE) continue;
        if (from != 0) {
            lx_log(LX_LOG_ERROR, "db_misuse", "%s was added after the step's first calls were sent", job->calls[i].stmt->name);
            abort();
        }
        if (send_prepare(c, job->calls[i].stmt, idx) != 0) return -1;
    }
    for (size_t i = from; i < to; i++) {
        lx_db_call_t *call = &job->calls[i];
        int formats[LX_DB_MAX_PARAMS];
        for (int k = 0; k < call->stmt->nparams; k++) formats[k] = call->binary[k];
        if (!PQsendQueryPrepared(c->pg, call->stmt->name, call->stmt->nparams, call->values, call->lengths, formats, 0)) return -1;
    }
    c->db->queries_total += to - from;
    if (end) {
        if (!PQpipelineSync(c->pg)) return -1;
        push_inflight(c, job);
    }
    flush(c);
    return 0;
}

static int send_job(lx_db_conn_t *c, lx_db_job_t *job)
{
    return send_calls(c, job, 0, job->ncalls, 1);
}

static lx_db_conn_t *pick(lx_db_t *db, int reserve)
{
    lx_db_conn_t *best = NULL;
    for (size_t i = 0; i < db->nconns; i++) {
        lx_db_conn_t *c = &db->conns[i];
        if (c->state != CONN_READY || c->reserved) continue;
        if (reserve) {
            if (c->inflight == 0) return c;
        } else if (c->inflight < db->depth && (best == NULL || c->inflight < best->inflight)) {
            best = c;
        }
    }
    return best;
}

static void start_on(lx_db_conn_t *c, lx_db_job_t *job)
{
    if (job->flags & LX_DB_RESERVE) c->reserved = 1;
    job->conn = c;
    if (send_job(c, job) != 0) {
        /* The job is not in flight yet: conn_fail won't see it, so fail it here after the connection is reset. */
        conn_fail(c, "send");
        job->status = LX_DB_ERR_CONNECTION;
        snprintf(job->message, sizeof(job->message), "connection to the database lost");
        job->conn = NULL;
        job->cb(job);
    }
}

static lx_db_job_t *pop(lx_db_job_t **head, lx_db_job_t **tail)
{
    lx_db_job_t *j = *head;
    *head = j->next;
    if (*head == NULL) *tail = NULL;
    j->next = NULL;
    return j;
}

static void dispatch(lx_db_t *db)
{
    lx_db_conn_t *c;
    while (db->rhead != NULL && (c = pick(db, 1)) != NULL) {
        db->queued--;
        start_on(c, pop(&db->rhead, &db->rtail));
    }
    while (db->qhead != NULL && (c = pick(db, 0)) != NULL) {
        db->queued--;
        start_on(c, pop(&db->qhead, &db->qtail));
    }
}

/* ---- public API --------------------------------------------------------- */

lx_db_t *lx_db_create(h2o_loop_t *loop, const char *conninfo, size_t nconns, size_t pipeline_depth, size_t queue_max,
                      int64_t statement_timeout_ms)
{
    lx_db_t *db = lx_calloc(1, sizeof(*db));
    db->loop = loop;
    db->conninfo = lx_strdup(conninfo);
    /* jit=off: the server's statements are short OLTP steps; a cost estimate over jit_above_cost (stale statistics
     * on a fresh table are enough) would spend tens of milliseconds compiling code that runs for microseconds. */
    snprintf(db->options, sizeof(db->options), "-c statement_timeout=%lld -c TimeZone=UTC -c DateStyle=ISO -c jit=off",
             (long long)statement_timeout_ms);
    db->nconns = nconns;
    db->depth = pipeline_depth;
    db->queue_max = queue_max;
    h2o_timeout_init(loop, &db->retry_timeout, RECONNECT_MS);
    h2o_timeout_init(loop, &db->warm_timeout, WARM_MS);
    db->warm_entry.cb = on_warm_elapsed;
    h2o_timeout_link(loop, &db->warm_timeout, &db->warm_entry);
    db->conns = lx_calloc(nconns, sizeof(*db->conns));
    for (size_t i = 0; i < nconns; i++) {
        db->conns[i].db = db;
        db->conns[i].retry.cb = on_retry;
        conn_connect(&db->conns[i]);
    }
    return db;
}

void lx_db_destroy(lx_db_t *db)
{
    for (size_t i = 0; i < db->nconns; i++) {
        lx_db_conn_t *c = &db->conns[i];
        if (h2o_timeout_is_linked(&c->retry)) h2o_timeout_unlink(&c->retry);
        unwatch(c);
        if (c->pg != NULL) PQfinish(c->pg);
        while (c->head != NULL) {
            lx_db_job_t *j = pop(&c->head, &c->tail);
            if (j->internal_kind != KIND_USER) {
                for (size_t k = 0; k < LX_DB_MAX_CALLS; k++) PQclear(j->results[k]);
                free(j);
            }
        }
    }
    end_warming(db);
    h2o_timeout_dispose(db->loop, &db->retry_timeout);
    h2o_timeout_dispose(db->loop, &db->warm_timeout);
    free(db->conns);
    free(db->conninfo);
    free(db);
}

void lx_db_job_init(lx_db_job_t *job, lx_db_cb_t cb, void *data)
{
    memset(job, 0, sizeof(*job));
    job->cb = cb;
    job->data = data;
}

lx_db_call_t *lx_db_job_add(lx_db_job_t *job, lx_db_stmt_t *stmt)
{
    if (job->ncalls == LX_DB_MAX_CALLS) {
        lx_log(LX_LOG_ERROR, "db_job_overflow", "more than %d statements in one job", LX_DB_MAX_CALLS);
        abort();
    }
    if (stmt->nparams > LX_DB_MAX_PARAMS) {
        lx_log(LX_LOG_ERROR, "db_job_overflow", "%s has more than %d parameters", stmt->name, LX_DB_MAX_PARAMS);
        abort();
    }
    lx_db_call_t *c = &job->calls[job->ncalls++];
    memset(c, 0, sizeof(*c));
    c->stmt = stmt;
    return c;
}

static void reset_outcome(lx_db_job_t *job)
{
    job->status = LX_DB_OK;
    job->sqlstate[0] = '\0';
    job->message[0] = '\0';
    memset(job->results, 0, sizeof(job->results));
    job->cur = 0;
    job->next = NULL;
}

int lx_db_submit(lx_db_t *db, lx_db_job_t *job)
{
    reset_outcome(job);
    job->conn = NULL;
    if (lx_db_ready(db) == 0 && !warming(db)) {
        job->status = LX_DB_ERR_UNAVAILABLE;
        snprintf(job->message, sizeof(job->message), "database unavailable");
        return -1;
    }
    int reserve = (job->flags & LX_DB_RESERVE) != 0;
    lx_db_conn_t *c = (reserve ? db->rhead : db->qhead) == NULL ? pick(db, reserve) : NULL;
    if (c != NULL) {
        start_on(c, job);
        return 0;
    }
    if (db->queued >= db->queue_max) {
        job->status = LX_DB_ERR_OVERLOADED;
        snprintf(job->message, sizeof(job->message), "database queue full");
        return -1;
    }
    db->queued++;
    if (reserve) {
        if (db->rtail != NULL)
            db->rtail->next = job;
        else
            db->rhead = job;
        db->rtail = job;
    } else {
        if (db->qtail != NULL)
            db->qtail->next = job;
        else
            db->qhead = job;
        db->qtail = job;
    }
    return 0;
}

/* Sends calls [job->sent, to) on the reserved connection; `end` closes the step. */
static int continue_to(lx_db_job_t *job, size_t to, int end)
{
    lx_db_conn_t *c = job->conn;
    size_t from = job->sent;
    if (from == 0) reset_outcome(job); /* a step's results start empty; a partial start already did this */
    job->sent = end ? 0 : to;
    job->flags |= LX_DB_RESERVE;
    if (c == NULL || c->state != CONN_READY || !c->reserved) {
        job->sent = 0;
        job->status = LX_DB_ERR_CONNECTION;
        snprintf(job->message, sizeof(job->message), "reserved connection lost");
        return -1;
    }
    if (send_calls(c, job, from, to, end) != 0) {
        job->sent = 0;
        conn_fail(c, "send");
        job->status = LX_DB_ERR_CONNECTION;
        snprintf(job->message, sizeof(job->message), "connection to the database lost");
        return -1;
    }
    return 0;
}

int lx_db_continue(lx_db_job_t *job)
{
    return continue_to(job, job->ncalls, 1);
}

int lx_db_continue_partial(lx_db_job_t *job, size_t n)
{
    if (job->sent != 0 || n > job->ncalls) abort(); /* one partial start per step, within the step's calls */
    return continue_to(job, n, 0);
}

LX_DB_STMT(lx_db_rollback_stmt, 0, "ROLLBACK");

void lx_db_release(lx_db_job_t *job)
{
    lx_db_conn_t *c = job->conn;
    job->conn = NULL;
    if (c == NULL || c->state != CONN_READY || !c->reserved) return;
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE && c->inflight == 0) {
        c->reserved = 0;
        dispatch(c->db);
        return;
    }
    /* Roll back in flight; the connection stays reserved until the ROLLBACK's Sync returns. */
    lx_db_job_t *rb = lx_calloc(1, sizeof(*rb));
    rb->internal_kind = KIND_ROLLBACK;
    lx_db_call_t *call = lx_db_job_add(rb, &lx_db_rollback_stmt);
    (void)call;
    if (send_job(c, rb) != 0) {
        free(rb);
        conn_fail(c, "send");
    }
}

size_t lx_db_ready(const lx_db_t *db)
{
    size_t n = 0;
    for (size_t i = 0; i < db->nconns; i++) n += db->conns[i].state == CONN_READY;
    return n;
}

void lx_db_stats(const lx_db_t *db, lx_db_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < db->nconns; i++) {
        const lx_db_conn_t *c = &db->conns[i];
        switch (c->state) {
        case CONN_READY:
            if (c->inflight != 0 || c->reserved)
                out->busy++;
            else
                out->ready++;
            break;
        case CONN_CONNECTING:
            out->connecting++;
            break;
        default:
            out->down++;
        }
    }
    out->queue_length = db->queued;
    out->queries_total = db->queries_total;
}
