/*
 * The background-job thread (db/bgjob.h). One implementation of the
 * connection life, back-off, pacing and cancellable stop that the sequencer
 * and settlement share; their rounds are all that differs.
 */
#include "db/bgjob.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

struct st_lx_bgjob_t {
    lx_bgjob_config_t cfg;
    char *conninfo;
    char app_name[64], ev_failed[64], ev_unavailable[64], ev_connected[64], ev_notice[64];
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;         /* under mu */
    PGcancel *cancel; /* under mu: the connection's cancel handle while connected */
    _Atomic uint64_t rounds, errors, round_us;
    _Atomic int connected;
};

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int lx_bgjob_stopping(lx_bgjob_t *job)
{
    pthread_mutex_lock(&job->mu);
    int stop = job->stop;
    pthread_mutex_unlock(&job->mu);
    return stop;
}

/* Waits up to ms, or until stop is requested. */
static void pause_ms(lx_bgjob_t *job, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&job->mu);
    while (!job->stop && pthread_cond_timedwait(&job->cv, &job->mu, &until) == 0) {
    }
    pthread_mutex_unlock(&job->mu);
}

static void on_notice(void *arg, const char *message)
{
    lx_bgjob_t *job = arg;
    lx_log(LX_LOG_DEBUG, job->ev_notice, "%.*s", (int)strcspn(message, "\n"), message);
}

static PGconn *connect_db(lx_bgjob_t *job)
{
    /* connect_timeout bounds how long a shutdown can wait for this thread; a value in the URL wins. */
    const char *keys[] = {"connect_timeout", "dbname", "application_name", NULL};
    const char *vals[] = {"5", job->conninfo, job->app_name, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, on_notice, job);
    /* A stuck round must end (its transaction may hold a lock others wait for), and an abandoned one must not linger.
     * No parallel workers: each is a process started for one query, and a round's statements are short. The
     * sequencer's queue read was planned with two once the queue had some churn: 51 ms, of which the workers'
     * share of the scan took 1.7 ms (auto_explain, market bench), and more CPU than the round's own writes. */
    PGresult *r = PQexec(pg, "SET statement_timeout = '60s'; SET idle_in_transaction_session_timeout = '60s'; "
                             "SET lock_timeout = '10s'; SET max_parallel_workers_per_gather = 0");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(pg);
        return NULL;
    }
    pthread_mutex_lock(&job->mu);
    job->cancel = PQgetCancel(pg);
    pthread_mutex_unlock(&job->mu);
    return pg;
}

static void disconnect_db(lx_bgjob_t *job, PGconn *pg)
{
    pthread_mutex_lock(&job->mu);
    if (job->cancel != NULL) PQfreeCancel(job->cancel);
    job->cancel = NULL;
    pthread_mutex_unlock(&job->mu);
    PQfinish(pg);
    atomic_store(&job->connected, 0);
}

static PGresult *run(lx_bgjob_t *job, PGconn *pg, const char *what, const char *sql, int n, const char *const *params,
                     const int *lengths, const int *formats, ExecStatusType want)
{
    if (lx_bgjob_stopping(job)) return NULL; /* shutting down: the round rolls back (a query running now is cancelled) */
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, lengths, formats, 0);
    if (PQresultStatus(r) == want) return r;
    if (!lx_bgjob_stopping(job)) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorMessage(r);
        lx_log(LX_LOG_WARN, job->ev_failed, "%s: %s %.*s", what, state ? state : "-", (int)strcspn(msg, "\n"), msg);
    }
    PQclear(r);
    return NULL;
}

PGresult *lx_bgjob_run(lx_bgjob_t *job, PGconn *pg, const char *what, const char *sql, int n, const char *const *params,
                       ExecStatusType want)
{
    return run(job, pg, what, sql, n, params, NULL, NULL, want);
}

int lx_bgjob_command(lx_bgjob_t *job, PGconn *pg, const char *what, const char *sql, int n, const char *const *params)
{
    PGresult *r = lx_bgjob_run(job, pg, what, sql, n, params, PGRES_COMMAND_OK);
    if (r == NULL) return -1;
    PQclear(r);
    return 0;
}

int lx_bgjob_command_arrays(lx_bgjob_t *job, PGconn *pg, const char *what, const char *sql, lx_pgarr_t *cols, int n)
{
    enum { MAX_COLS = 32 };
    const char *values[MAX_COLS];
    int lengths[MAX_COLS], formats[MAX_COLS];
    if (n > MAX_COLS) abort();
    for (int i = 0; i < n; i++) {
        lx_pgarr_finish(&cols[i]);
        values[i] = cols[i].buf.base;
        lengths[i] = (int)cols[i].buf.len;
        formats[i] = 1;
    }
    PGresult *r = run(job, pg, what, sql, n, values, lengths, formats, PGRES_COMMAND_OK);
    if (r == NULL) return -1;
    PQclear(r);
    return 0;
}

static int64_t backoff_next(int64_t b)
{
    return b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
}

static void *thread_main(void *arg)
{
    lx_bgjob_t *job = arg;
    PGconn *pg = NULL;
    int64_t backoff = BACKOFF_MIN_MS;
    int warned = 0;
    while (!lx_bgjob_stopping(job)) {
        if (pg == NULL) {
            pg = connect_db(job);
            if (pg == NULL) {
                if (!warned) lx_log(LX_LOG_WARN, job->ev_unavailable, "%s cannot connect to the database; retrying", job->cfg.name);
                warned = 1;
                pause_ms(job, backoff);
                backoff = backoff_next(backoff);
                continue;
            }
            if (warned) lx_log(LX_LOG_INFO, job->ev_connected, "%s connected again", job->cfg.name);
            warned = 0;
            atomic_store(&job->connected, 1);
        }
        uint64_t t0 = monotonic_us();
        int n = job->cfg.round(job->cfg.ctx, job, pg);
        atomic_fetch_add(&job->rounds, 1);
        atomic_fetch_add(&job->round_us, monotonic_us() - t0);
        if (n < 0) {
            if (lx_bgjob_stopping(job)) break;
            atomic_fetch_add(&job->errors, 1);
            if (PQstatus(pg) != CONNECTION_OK) { /* the round rolled back what it could; a broken connection goes */
                disconnect_db(job, pg);
                pg = NULL;
            }
            pause_ms(job, backoff);
            backoff = backoff_next(backoff);
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        if (n < job->cfg.batch_max) pause_ms(job, job->cfg.interval_ms);
    }
    if (pg != NULL) disconnect_db(job, pg);
    return NULL;
}

void lx_bgjob_start(lx_bgjob_t **out, const char *conninfo, const lx_bgjob_config_t *cfg)
{
    lx_bgjob_t *job = lx_calloc(1, sizeof(*job));
    job->cfg = *cfg;
    if (job->cfg.interval_ms <= 0) job->cfg.interval_ms = 1;
    job->conninfo = lx_strdup(conninfo);
    snprintf(job->app_name, sizeof(job->app_name), "leadx-%s", cfg->name);
    snprintf(job->ev_failed, sizeof(job->ev_failed), "%s_failed", cfg->name);
    snprintf(job->ev_unavailable, sizeof(job->ev_unavailable), "%s_unavailable", cfg->name);
    snprintf(job->ev_connected, sizeof(job->ev_connected), "%s_connected", cfg->name);
    snprintf(job->ev_notice, sizeof(job->ev_notice), "%s_notice", cfg->name);
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->cv, NULL);
    *out = job;
    if (pthread_create(&job->tid, NULL, thread_main, job) != 0) lx_oom();
}

void lx_bgjob_stop(lx_bgjob_t *job)
{
    pthread_mutex_lock(&job->mu);
    job->stop = 1;
    if (job->cancel != NULL) {
        char errbuf[256];
        (void)PQcancel(job->cancel, errbuf, sizeof(errbuf)); /* best effort: a round that still finishes is as good */
    }
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
    pthread_join(job->tid, NULL);
    pthread_cond_destroy(&job->cv);
    pthread_mutex_destroy(&job->mu);
    free(job->conninfo);
    free(job);
}

void lx_bgjob_stats(lx_bgjob_t *job, lx_bgjob_stats_t *out)
{
    out->rounds = atomic_load(&job->rounds);
    out->errors = atomic_load(&job->errors);
    out->round_us = atomic_load(&job->round_us);
    out->connected = atomic_load(&job->connected);
}
