/*
 * The sweep of expired dedupe claims (leads/claim_sweep.h). A round is one statement, so one transaction: the
 * expired claims of the stretch are locked (skipping any another transaction holds) and deleted, and the answer says
 * how many went and how many pages the table has now, which sizes the next stretch and says when to start over.
 * The position is this process's alone: with several server processes each sweeps the whole table on its own
 * schedule, at worst deleting what another would have (the deletes are idempotent).
 */
#include "leads/claim_sweep.h"
#include "db/bgjob.h"
#include "util/log.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* A block number is 32 bits, so a table has at most this many pages; a stretch never runs past the last one. */
#define LAST_BLOCK UINT64_C(0xFFFFFFFF)

struct st_lx_claim_sweep_t {
    lx_bgjob_t *job;
    uint64_t next_page;   /* where the next stretch starts (the thread's own) */
    uint64_t table_pages; /* the table's size at the last round; 0 before the first */
    _Atomic uint64_t deleted_total, passes_total;
};

/* $1 the stretch's first page, $2 the page after its last, $3 the most claims one statement deletes. The TID range
 * scan reads only the stretch's pages; the ctid = ANY (...) delete takes the rows the scan locked, by TID. */
static const char SQL_SWEEP[] =
    "WITH gone AS (DELETE FROM contact_claims c WHERE c.ctid = ANY (ARRAY("
    "SELECT x.ctid FROM contact_claims x WHERE x.ctid >= format('(%s,0)', $1::bigint)::tid "
    "AND x.ctid < format('(%s,0)', $2::bigint)::tid AND x.expires_at <= now() LIMIT $3::int FOR UPDATE SKIP LOCKED)) "
    "RETURNING 1) "
    "SELECT (SELECT count(*) FROM gone), pg_relation_size('contact_claims') / current_setting('block_size')::bigint";

/* The pages of the next stretch for a table of `table_pages` pages. */
static uint64_t stretch_pages(uint64_t table_pages)
{
    uint64_t even = (table_pages + LX_CLAIM_SWEEP_ROUNDS_PER_PASS - 1) / LX_CLAIM_SWEEP_ROUNDS_PER_PASS;
    return even > LX_CLAIM_SWEEP_MIN_PAGES ? even : LX_CLAIM_SWEEP_MIN_PAGES;
}

static int round_cb(void *ctx, lx_bgjob_t *job, PGconn *pg)
{
    lx_claim_sweep_t *s = ctx;
    uint64_t first = s->next_page, end = first + stretch_pages(s->table_pages);
    if (end > LAST_BLOCK) end = LAST_BLOCK;
    char p1[24], p2[24], p3[24];
    snprintf(p1, sizeof(p1), "%" PRIu64, first);
    snprintf(p2, sizeof(p2), "%" PRIu64, end);
    snprintf(p3, sizeof(p3), "%d", LX_CLAIM_SWEEP_DELETE_MAX);
    const char *params[] = {p1, p2, p3};
    PGresult *r = lx_bgjob_run(job, pg, "sweep", SQL_SWEEP, 3, params, PGRES_TUPLES_OK);
    if (r == NULL) return -1;
    int64_t deleted = strtoll(PQgetvalue(r, 0, 0), NULL, 10), pages = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    s->table_pages = pages > 0 ? (uint64_t)pages : 0;
    atomic_fetch_add(&s->deleted_total, (uint64_t)deleted);
    if (deleted >= LX_CLAIM_SWEEP_DELETE_MAX) {
        /* the same stretch again at once (the bgjob goes on when a round returns batch_max): it may hold more */
    } else if (end >= s->table_pages) {
        s->next_page = 0;
        atomic_fetch_add(&s->passes_total, 1);
    } else {
        s->next_page = end;
    }
    if (deleted > 0)
        lx_log(LX_LOG_DEBUG, "claims_swept", "pages %" PRIu64 "-%" PRIu64 ": %" PRId64 " expired claims deleted", first, end - 1,
               deleted);
    return (int)deleted;
}

lx_claim_sweep_t *lx_claim_sweep_start(const char *conninfo, int64_t interval_ms)
{
    lx_claim_sweep_t *s = lx_calloc(1, sizeof(*s));
    lx_bgjob_config_t cfg = {"claims", interval_ms, LX_CLAIM_SWEEP_DELETE_MAX, round_cb, s};
    lx_bgjob_start(&s->job, conninfo, &cfg);
    return s;
}

void lx_claim_sweep_stop(lx_claim_sweep_t *s)
{
    if (s == NULL) return;
    lx_bgjob_stop(s->job);
    free(s);
}

void lx_claim_sweep_render_metrics(lx_claim_sweep_t *s, lx_strbuf_t *out)
{
    lx_bgjob_stats_t st;
    lx_bgjob_stats(s->job, &st);
    lx_strbuf_printf(
        out,
        "# HELP leadx_claims_deleted_total Expired dedupe claims this process's sweep deleted.\n"
        "# TYPE leadx_claims_deleted_total counter\nleadx_claims_deleted_total %llu\n"
        "# HELP leadx_claim_sweep_passes_total Passes this process's sweep completed over the claims table.\n"
        "# TYPE leadx_claim_sweep_passes_total counter\nleadx_claim_sweep_passes_total %llu\n"
        "# HELP leadx_claim_sweep_rounds_total Claim sweep rounds (a stretch of pages, or 10,000 of its claims, each).\n"
        "# TYPE leadx_claim_sweep_rounds_total counter\nleadx_claim_sweep_rounds_total %llu\n"
        "# HELP leadx_claim_sweep_errors_total Claim sweep rounds that failed (rolled back, tried again).\n"
        "# TYPE leadx_claim_sweep_errors_total counter\nleadx_claim_sweep_errors_total %llu\n"
        "# HELP leadx_claim_sweep_seconds_total Time spent in claim sweep rounds.\n"
        "# TYPE leadx_claim_sweep_seconds_total counter\nleadx_claim_sweep_seconds_total %.6f\n"
        "# HELP leadx_claim_sweep_connected 1 while the claim sweep's database connection is up.\n"
        "# TYPE leadx_claim_sweep_connected gauge\nleadx_claim_sweep_connected %d\n",
        (unsigned long long)atomic_load(&s->deleted_total), (unsigned long long)atomic_load(&s->passes_total),
        (unsigned long long)st.rounds, (unsigned long long)st.errors, (double)st.round_us / 1e6, st.connected);
}
