/*
 * Asynchronous PostgreSQL for event-loop threads.
 *
 * Each event-loop thread owns one lx_db_t: a few non-blocking libpq
 * connections in pipeline mode whose sockets are watched by that thread's
 * h2o loop. Nothing here ever blocks: no PQexec, no PQconnectdb, no
 * PQgetResult while PQisBusy.
 *
 * The unit of work is a job: 1..LX_DB_MAX_CALLS prepared statements sent
 * back to back and closed by one Sync, so they form ONE implicit transaction
 * and cost one round trip. The callback runs after PGRES_PIPELINE_SYNC, i.e.
 * after the commit point: a job reported LX_DB_OK is committed (and durable
 * under synchronous_commit=on); a failing COMMIT (deferred constraint) is
 * reported as LX_DB_ERR_QUERY. Several jobs may be in flight on one
 * connection (pipeline depth); statements are prepared on first use per
 * connection in a Sync group of their own, so one job's failure can never
 * un-prepare a statement another job relies on.
 *
 * Multi-step transactions (read, decide in C, write) use LX_DB_RESERVE: the
 * job runs on an idle connection which stays reserved for the caller after the
 * callback; the caller sends further steps with lx_db_continue and must end
 * with lx_db_release (which rolls back a transaction left open).
 *
 * When no connection is up, lx_db_submit fails at once (the HTTP layer answers
 * 503) and the pool keeps reconnecting in the background.
 */
#ifndef LX_DB_POOL_H
#define LX_DB_POOL_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#define LX_DB_MAX_CALLS  12
#define LX_DB_MAX_STMTS  256
#define LX_DB_MAX_PARAMS 32 /* per statement: the lead insert sends one array per column */

typedef struct st_lx_db_t lx_db_t;
typedef struct st_lx_db_conn_t lx_db_conn_t;
typedef struct st_lx_db_job_t lx_db_job_t;

/* A statement known at compile time. Declare with LX_DB_STMT; the index is assigned on first use. */
typedef struct st_lx_db_stmt_t {
    const char *name;
    const char *sql;
    int nparams;
    int index;
} lx_db_stmt_t;
#define LX_DB_STMT(var, nparams, sqltext) static lx_db_stmt_t var = {#var, sqltext, nparams, -1}

typedef struct st_lx_db_call_t {
    lx_db_stmt_t *stmt;
    const char *values[LX_DB_MAX_PARAMS]; /* text parameters (NULL = SQL NULL) unless binary[i] */
    int lengths[LX_DB_MAX_PARAMS];        /* only for binary parameters */
    int binary[LX_DB_MAX_PARAMS];
} lx_db_call_t;

typedef enum {
    LX_DB_OK = 0,
    LX_DB_ERR_QUERY,       /* the server refused a statement or the commit; see sqlstate/message */
    LX_DB_ERR_CONNECTION,  /* the connection broke while the job was in flight: outcome unknown */
    LX_DB_ERR_UNAVAILABLE, /* no connection is up */
    LX_DB_ERR_OVERLOADED,  /* the wait queue is full */
} lx_db_status_t;

enum { LX_DB_RESERVE = 1 };

typedef void (*lx_db_cb_t)(lx_db_job_t *job);

struct st_lx_db_job_t {
    /* caller fills: */
    lx_db_call_t calls[LX_DB_MAX_CALLS];
    size_t ncalls;
    lx_db_cb_t cb;
    void *data;
    unsigned flags;
    /* valid inside the callback: */
    lx_db_status_t status;
    PGresult *results[LX_DB_MAX_CALLS]; /* owned by the pool; cleared after the callback returns */
    char sqlstate[6];
    char message[256];
    lx_db_conn_t *conn; /* the reserved connection (LX_DB_RESERVE) */
    /* internal: */
    int internal_kind;
    int prepare_index;
    size_t cur;
    size_t sent; /* calls already sent by lx_db_continue_partial */
    lx_db_job_t *next;
};

typedef struct st_lx_db_stats_t {
    uint64_t ready, busy, connecting, down;
    uint64_t queue_length;
    uint64_t queries_total;
} lx_db_stats_t;

/* conninfo: libpq URI; statement_timeout_ms applies to every server connection. */
lx_db_t *lx_db_create(h2o_loop_t *loop, const char *conninfo, size_t nconns, size_t pipeline_depth, size_t queue_max,
                      int64_t statement_timeout_ms);
/* Closes every connection; jobs still in flight are dropped without a callback. */
void lx_db_destroy(lx_db_t *db);

/* Zeroes the job's caller-visible state; call before filling calls. */
void lx_db_job_init(lx_db_job_t *job, lx_db_cb_t cb, void *data);
/* Appends a statement; returns the call so parameters can be set. At most LX_DB_MAX_CALLS. */
lx_db_call_t *lx_db_job_add(lx_db_job_t *job, lx_db_stmt_t *stmt);
static inline void lx_db_param(lx_db_call_t *c, int i, const char *v)
{
    c->values[i] = v;
}
static inline void lx_db_param_bin(lx_db_call_t *c, int i, const void *v, int len)
{
    c->values[i] = v;
    c->lengths[i] = len;
    c->binary[i] = 1;
}

/* Queues the job. 0: the callback will run. -1: job->status says why (no callback). */
int lx_db_submit(lx_db_t *db, lx_db_job_t *job);
/* Next step on the reserved connection (call from or after the previous step's callback). Same contract. */
int lx_db_continue(lx_db_job_t *job);
/*
 * The start of the next step: sends the first `n` of its calls now, so that the server executes them while the caller
 * computes what the rest need; lx_db_continue then sends the rest and ends the step (one Sync: still one step, one
 * callback, results indexed as usual). Every call of the step must already be added (their statements are prepared
 * here; the parameters of calls n and later may still change until lx_db_continue). Same contract otherwise.
 */
int lx_db_continue_partial(lx_db_job_t *job, size_t n);
/* Ends a reservation; an open transaction is rolled back. */
void lx_db_release(lx_db_job_t *job);

/* Number of connections ready for queries (0 = database unreachable from this thread). */
size_t lx_db_ready(const lx_db_t *db);
void lx_db_stats(const lx_db_t *db, lx_db_stats_t *out);

/* Field helpers for results. */
static inline const char *lx_db_get(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
/* A bigint column (NOT NULL) as int64. */
static inline int64_t lx_db_int64(const PGresult *r, int row, int col)
{
    return (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}
const char *lx_db_status_text(lx_db_status_t st);

#endif
