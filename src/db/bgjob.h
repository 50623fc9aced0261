/*
 * Background jobs: a thread with its own blocking libpq connection that runs
 * rounds of database work no request waits for (the receipt-log sequencer,
 * settlement). Blocking calls are fine here: this thread has no event loop.
 *
 * The thread connects (bounded connect_timeout; statement, idle-in-transaction
 * and lock timeouts so a stuck round cannot hold its locks for long),
 * reconnects with back-off, and calls the job's round function: a round that
 * did a full batch is followed by the next at once, otherwise the thread
 * waits the interval. Stopping cancels a statement in flight (the round's
 * transaction rolls back: every round must be one transaction, so it is
 * redone by the next round, here or in another process) and joins the thread.
 */
#ifndef LX_DB_BGJOB_H
#define LX_DB_BGJOB_H

#include "db/pgarr.h"

#include <libpq-fe.h>
#include <stdint.h>

typedef struct st_lx_bgjob_t lx_bgjob_t;

typedef struct {
    const char *name;    /* "sequencer": the connection's application_name leadx-NAME and log events NAME_* */
    int64_t interval_ms; /* the wait after a round that was not full */
    int batch_max;       /* a round returning at least this many goes again at once */
    /* One round, one transaction: returns what it took (>= 0), or -1 after a failure (already logged). */
    int (*round)(void *ctx, lx_bgjob_t *job, PGconn *pg);
    void *ctx;
} lx_bgjob_config_t;

typedef struct {
    uint64_t rounds, errors, round_us;
    int connected;
} lx_bgjob_stats_t;

/* Starts the thread; *out is set before it runs (the round may use it). */
void lx_bgjob_start(lx_bgjob_t **out, const char *conninfo, const lx_bgjob_config_t *cfg);
/* Cancels what runs, joins and frees. */
void lx_bgjob_stop(lx_bgjob_t *job);
int lx_bgjob_stopping(lx_bgjob_t *job);
void lx_bgjob_stats(lx_bgjob_t *job, lx_bgjob_stats_t *out);

/* One statement: the result when its status is `want`; else logs NAME_failed with `what`, clears and returns NULL
 * (at once, without running it, when stopping). */
PGresult *lx_bgjob_run(lx_bgjob_t *job, PGconn *pg, const char *what, const char *sql, int n, const char *const *params,
                       ExecStatusType want);
/* lx_bgjob_run for a statement returning no rows: 0 or -1. */
int lx_bgjob_command(lx_bgjob_t *job, PGconn *pg, const char *what, const char *sql, int n, const char *const *params);
/* lx_bgjob_command with binary array parameters: $1..$n are the columns (finished here), at most 32. */
int lx_bgjob_command_arrays(lx_bgjob_t *job, PGconn *pg, const char *what, const char *sql, lx_pgarr_t *cols, int n);

#endif
