/*
 * The settlement thread (billing/settlement.h): why it is a thread with its own blocking connection, like the
 * sequencer — it is background work no request waits for, one transaction per round, and it must survive restarts
 * and run in every server process without coordination (SKIP LOCKED on the sale rows is the coordination).
 */
#include "billing/settlement.h"
#include "db/bgjob.h"
#include "billing/ledger.h"
#include "billing/receipts.h"
#include "util/id.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct st_lx_settlement_t {
    const lx_keys_t *keys;
    lx_bgjob_t *job;
};

/* The due sales, locked; those another process holds are skipped (it is settling them). */
static const char SQL_DUE[] = "SELECT s.id FROM sales s JOIN niches n ON n.id = s.niche_id "
                              "WHERE s.settled_at IS NULL AND s.refunded_at IS NULL AND NOT s.return_pending "
                              "AND s.created_at + make_interval(hours => n.return_window_hours) <= now() "
                              "ORDER BY s.created_at LIMIT $1::int FOR UPDATE OF s SKIP LOCKED";
/* A statement of its own (belt and braces: sales.return_pending is already re-checked on the locked row version by
 * FOR UPDATE; this snapshot follows the locks, so it sees every return committed before them). */
static const char SQL_FINAL[] =
    "SELECT s.id, s.webmaster_id, s.currency, s.payout FROM sales s "
    "WHERE s.id = ANY (string_to_array($1, ',')::uuid[]) AND s.settled_at IS NULL AND s.refunded_at IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM returns r WHERE r.sale_id = s.id AND r.status = 'pending') "
    "ORDER BY s.webmaster_id, s.currency";
static const char SQL_MARK[] =
    "UPDATE sales s SET settled_at = now(), settle_txn = nullif(t.x, '')::uuid "
    "FROM unnest(string_to_array($1, ','), string_to_array($2, ',')) AS t(id, x) WHERE s.id = t.id::uuid";

/* One round; returns the number of sales taken (settled or not), or -1 (rolled back). */
static int round_once(lx_settlement_t *s, PGconn *pg)
{
    if (lx_bgjob_command(s->job, pg, "begin", "BEGIN", 0, NULL) != 0) return -1;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", LX_SETTLEMENT_BATCH_MAX);
    const char *p1[] = {limit};
    PGresult *due = lx_bgjob_run(s->job, pg, "due", SQL_DUE, 1, p1, PGRES_TUPLES_OK);
    if (due == NULL) goto fail;
    int ndue = PQntuples(due);
    if (ndue == 0) {
        PQclear(due);
        return lx_bgjob_command(s->job, pg, "commit", "COMMIT", 0, NULL) == 0 ? 0 : -1;
    }
    lx_strbuf_t ids, txids;
    lx_strbuf_init(&ids, (size_t)1 << 24);
    lx_strbuf_init(&txids, (size_t)1 << 24);
    lx_ledger_rows_t ledger = {0};
    lx_receipt_rows_t receipts = {0};
    for (int i = 0; i < ndue; i++) lx_strbuf_printf(&ids, "%s%s", i ? "," : "", PQgetvalue(due, i, 0));
    PQclear(due);
    const char *p2[] = {ids.base != NULL ? ids.base : ""};
    PGresult *fin = lx_bgjob_run(s->job, pg, "final", SQL_FINAL, 1, p2, PGRES_TUPLES_OK);
    int rc = -1;
    if (fin == NULL) goto done;
    int n = PQntuples(fin);
    lx_strbuf_reset(&ids);
    lx_ledger_rows_start(&ledger);
    lx_receipts_start(&receipts);
    for (int i = 0; i < n;) {
        const char *wm = PQgetvalue(fin, i, 1), *cur = PQgetvalue(fin, i, 2);
        int64_t sum = 0;
        int j = i;
        for (; j < n && strcmp(PQgetvalue(fin, j, 1), wm) == 0 && strcmp(PQgetvalue(fin, j, 2), cur) == 0; j++)
            sum += strtoll(PQgetvalue(fin, j, 3), NULL, 10);
        char txn[LX_UUID_STRLEN + 1] = "";
        if (sum != 0) {
            lx_uuid_t u;
            lx_uuid_v7(&u);
            lx_uuid_format(&u, txn);
            lx_ledger_txn(&ledger, txn, "settlement", cur, NULL, NULL, NULL);
            lx_ledger_entry(&ledger, txn, wm, LX_BOOK_PENDING, -sum, cur);
            lx_ledger_entry(&ledger, txn, wm, LX_BOOK_AVAILABLE, sum, cur);
            lx_receipt_body_t body = {
                .kind = "settlement", .account = wm, .ledger_txn = txn, .amount = sum, .currency = cur, .share_index = -1};
            lx_receipts_add(&receipts, lx_keys_signer(s->keys), LX_BOOK_AVAILABLE, &body, NULL);
        }
        for (int k = i; k < j; k++) {
            int first = ids.len == 0;
            lx_strbuf_printf(&ids, "%s%s", first ? "" : ",", PQgetvalue(fin, k, 0));
            lx_strbuf_printf(&txids, "%s%s", first ? "" : ",", txn);
        }
        i = j;
    }
    PQclear(fin);
    if (n > 0) {
        const char *pm[] = {ids.base, txids.base != NULL ? txids.base : ""};
        if (lx_bgjob_command(s->job, pg, "mark", SQL_MARK, 2, pm) != 0 ||
            lx_bgjob_command_arrays(s->job, pg, "txns", lx_ledger_insert_txns.sql, ledger.txn, LX_TXN_NCOLS) != 0 ||
            lx_bgjob_command_arrays(s->job, pg, "receipts", lx_receipts_insert.sql, receipts.col, LX_RCPT_NCOLS) != 0 ||
            lx_bgjob_command_arrays(s->job, pg, "entries", lx_ledger_insert_entries.sql, ledger.entry, LX_ENTRY_NCOLS) != 0)
            goto done;
    }
    if (lx_bgjob_command(s->job, pg, "commit", "COMMIT", 0, NULL) != 0) goto done;
    if (n > 0) lx_log(LX_LOG_INFO, "settled", "settled %d sales", n);
    rc = ndue;
done:
    lx_strbuf_free(&ids);
    lx_strbuf_free(&txids);
    lx_ledger_rows_free(&ledger);
    lx_receipts_free(&receipts);
    if (rc >= 0) return rc;
fail:
    if (PQstatus(pg) == CONNECTION_OK) {
        PGresult *r = PQexec(pg, "ROLLBACK");
        PQclear(r);
    }
    return -1;
}

static int round_cb(void *ctx, lx_bgjob_t *job, PGconn *pg)
{
    (void)job;
    return round_once(ctx, pg);
}

lx_settlement_t *lx_settlement_start(const char *conninfo, const lx_keys_t *keys, int64_t interval_ms)
{
    lx_settlement_t *s = lx_calloc(1, sizeof(*s));
    s->keys = keys;
    lx_bgjob_config_t cfg = {"settlement", interval_ms, LX_SETTLEMENT_BATCH_MAX, round_cb, s};
    lx_bgjob_start(&s->job, conninfo, &cfg);
    return s;
}

void lx_settlement_stop(lx_settlement_t *s)
{
    lx_bgjob_stop(s->job);
    free(s);
}
