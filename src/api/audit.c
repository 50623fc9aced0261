/*
 * Operator audit (issue 5 item 8): GET /v1/audit/actions lists the hash-chained
 * operator action log (migrations/0007_audit.sql), GET /v1/audit/report
 * re-checks the books, the receipts, the transparency log and the action log
 * against each other and lists every discrepancy it finds.
 *
 * The report reads one consistent snapshot: its steps run on one reserved
 * connection inside a REPEATABLE READ READ ONLY transaction, so a sale
 * committing meanwhile is either wholly in or wholly out of what is checked.
 * Set-based checks run in SQL (each returns its discrepancies as JSON objects,
 * counted per check and fetched up to a cap); the checks that need
 * cryptography or a stream over a whole table (every receipt's signature,
 * the Merkle tree, the action chain) read keyset pages and run in C
 * (billing/audit.h). Each page's C work is bounded (a page of receipts costs
 * a few milliseconds of signature checks), so the event loop keeps serving
 * other requests between pages; no blocking call runs on it. At most
 * REPORTS_MAX reports run at once per process (each holds a connection).
 *
 * The report's state belongs to the request (lr->handler_data, freed by
 * lr->on_dispose however the request ends); job parameters live in the
 * async, which outlives every job it sends.
 */
#include "api/common.h"
#include "api/handlers.h"
#include "billing/audit.h"
#include "billing/merkle.h"
#include "billing/tlog_nodes.h"
#include "util/b64.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP_PER_CHECK     1000 /* discrepancies listed per check; every one is counted */
#define RECEIPT_PAGE      256  /* receipts per page: a few ms of Ed25519 verification */
#define LOG_PAGE          4096 /* log indexes per page */
#define ACTION_PAGE       1000
#define STR_(x)           #x
#define STR(x)            STR_(x)
#define STORED_LEVEL_SQL  STR(LX_MERKLE_STORED_LEVEL) /* "4" */
#define REPORTS_MAX       2
#define REPORT_TIMEOUT_MS "600000" /* per statement, inside the report's transaction */

/* ---- GET /v1/audit/actions ------------------------------------------------------------------------------------ */

/* Rows with their predecessor's hash, so each page says whether it chains. Column 0 is the page cursor (the seq in the
 * opaque 16-byte form the other lists' UUID cursors have, as GET /v1/ledger does for entry ids). */
LX_DB_STMT(audit_actions_list, 3,
           "SELECT lpad(to_hex(a.seq), 32, '0')::uuid, a.seq, a.at, a.operator_id, a.action, a.target, a.details::text, "
           "encode(a.prev_hash, 'hex'), encode(a.hash, 'hex'), encode(p.hash, 'hex') "
           "FROM operator_actions a LEFT JOIN operator_actions p ON p.seq = a.seq - 1 "
           "WHERE ($1::bigint IS NULL OR a.seq > $1::bigint) AND ($2::timestamptz IS NULL OR a.at >= $2::timestamptz) "
           "ORDER BY a.seq LIMIT $3::int");

static int hex32(const char *hex, uint8_t out[32])
{
    size_t n = 0;
    return hex != NULL && strlen(hex) == 64 && sodium_hex2bin(out, 32, hex, 64, NULL, &n, NULL) == 0 && n == 32;
}

static json_t *b64_json(const uint8_t h[32], int have)
{
    if (!have) return json_null();
    char s[LX_B64URL_LEN(32) + 1];
    sodium_bin2base64(s, sizeof(s), h, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return json_string(s);
}

/* Reads an action row from columns c..c+7 (seq, at, operator_id, action, target, details, prev hex, hash hex). `at` is
 * converted into `at_buf`. Returns 0, or -1 when `at` does not read (the row then never verifies). */
static int action_row(const PGresult *r, int row, int c, lx_audit_action_t *a, char at_buf[LX_TS_LEN + 1])
{
    a->seq = strtoll(PQgetvalue(r, row, c), NULL, 10);
    int ok = lx_ts_from_pg(PQgetvalue(r, row, c + 1), at_buf) == 0;
    a->at = at_buf;
    a->operator_id = PQgetvalue(r, row, c + 2);
    a->action = PQgetvalue(r, row, c + 3);
    a->target = PQgetvalue(r, row, c + 4);
    a->details = PQgetvalue(r, row, c + 5);
    a->have_prev = hex32(PQgetvalue(r, row, c + 6), a->prev_hash);
    a->have_hash = hex32(PQgetvalue(r, row, c + 7), a->hash);
    return ok ? 0 : -1;
}

static int on_actions(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const PGresult *r = a->job.results[0];
    int n = PQntuples(r), limit = *(const int *)a->user, verified = 1;
    json_t *items = json_array();
    for (int i = 0; i < n; i++) {
        lx_audit_action_t row;
        char at[LX_TS_LEN + 1];
        int at_ok = action_row(r, i, 1, &row, at) == 0;
        uint8_t expect[32] = {0};
        int have_expect = row.seq == 1 || hex32(lx_db_get(r, i, 9), expect);
        if (!at_ok || !have_expect || !lx_audit_action_ok(&row, expect)) verified = 0;
        json_error_t jerr;
        json_t *details = json_loads(row.details, 0, &jerr);
        json_array_append_new(items, json_pack("{s:I, s:o, s:s, s:s, s:s, s:o, s:o, s:o}", "seq", (json_int_t)row.seq, "at",
                                               lx_ts_json(r, i, 2), "operator_id", row.operator_id, "action", row.action, "target",
                                               row.target, "details", details != NULL ? details : json_object(), "prev_hash",
                                               b64_json(row.prev_hash, row.have_prev), "hash", b64_json(row.hash, row.have_hash)));
    }
    json_t *next = n == limit ? lx_cursor_json(PQgetvalue(r, n - 1, 0)) : json_null();
    lx_respond_json(lr, 200, json_pack("{s:o, s:o, s:b}", "items", items, "next_cursor", next, "verified", verified));
    return 0;
}

/* The seq inside a cursor lx_req_page decoded to UUID form; -1 when it is not one of ours. */
static int64_t cursor_seq(const char *cursor)
{
    static const char zero_half[] = "00000000-0000-0000-";
    if (strncmp(cursor, zero_half, sizeof(zero_half) - 1) != 0) return -1;
    uint64_t v = 0;
    for (const char *p = cursor + sizeof(zero_half) - 1; *p != '\0'; p++) {
        if (*p == '-') continue;
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    return v >= 1 && v <= (uint64_t)INT64_MAX ? (int64_t)v : -1;
}

void lx_api_audit_actions(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "since", NULL};
    const char *q[3];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    int64_t after = 0;
    if (cursor[0] != '\0' && (after = cursor_seq(cursor)) < 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.cursor", "cursor is not a value returned as next_cursor.");
        return;
    }
    char since[LX_TS_LEN + 1];
    if (lx_req_since(lr, q[2], since) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_actions);
    const char *limit_s = lx_async_page_limit(a, limit);
    char after_s[24];
    snprintf(after_s, sizeof(after_s), "%" PRId64, after);
    lx_db_call_t *c = lx_db_job_add(&a->job, &audit_actions_list);
    lx_db_param(c, 0, after > 0 ? lx_async_str(a, after_s) : NULL);
    lx_db_param(c, 1, since[0] ? lx_async_str(a, since) : NULL);
    lx_db_param(c, 2, limit_s);
    lx_async_submit(a);
}

/* ---- GET /v1/audit/report: the SQL checks --------------------------------------------------------------------- */

/*
 * Every check statement is a UNION of SELECTs of one jsonb column, each row one discrepancy object {"check", "detail",
 * ...ids}. The wrapper numbers each check's rows and returns at most $1 of each, with the check's full count.
 */
#define CHECKS(body)                                                                                                               \
    "SELECT d::text, n FROM (SELECT d, count(*) OVER w AS n, row_number() OVER w AS k FROM (" body ") AS u(d) "                    \
    "WINDOW w AS (PARTITION BY d->>'check')) AS x WHERE k <= $1::int"

/* (a) Every ledger transaction sums to zero per currency; entries match their transaction and book; every deposit,
 * payout and withdrawal has its operator action. */
LX_DB_STMT(audit_chk_ledger, 1,
           CHECKS("SELECT jsonb_build_object('check', 'ledger_balanced', 'detail', format('ledger transaction %s does not sum "
                  "to zero in %s (sum %s)', txn_id, currency, sum(amount)), 'txn_id', txn_id, 'currency', currency, 'sum', "
                  "sum(amount)) FROM ledger_entries GROUP BY txn_id, currency HAVING sum(amount) <> 0 "
                  "UNION ALL SELECT jsonb_build_object('check', 'ledger_balanced', 'detail', format('ledger transaction %s has "
                  "no entries', t.id), 'txn_id', t.id) FROM ledger_txns t "
                  "WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.txn_id = t.id) "
                  "UNION ALL SELECT jsonb_build_object('check', 'ledger_entries', 'detail', format('ledger entry %s names a "
                  "missing transaction or another currency than its transaction''s', e.id), 'entry_id', e.id, 'txn_id', "
                  "e.txn_id) FROM ledger_entries e LEFT JOIN ledger_txns t ON t.id = e.txn_id "
                  "WHERE t.id IS NULL OR t.currency <> e.currency "
                  "UNION ALL SELECT jsonb_build_object('check', 'ledger_entries', 'detail', format('ledger entry %s does not "
                  "match its book (owner, book or currency)', e.id), 'entry_id', e.id, 'txn_id', e.txn_id, "
                  "'ledger_account_id', e.ledger_account_id) FROM ledger_entries e "
                  "LEFT JOIN ledger_accounts a ON a.id = e.ledger_account_id WHERE a.id IS NULL OR a.owner IS DISTINCT FROM "
                  "e.account_id OR a.book <> e.book OR a.currency <> e.currency "
                  /* money moved by an operator is in the action log (api/action_log.h): a deposit, payout or
                     withdrawal without its action row was made around the API */
                  "UNION ALL SELECT jsonb_build_object('check', 'money_actions', 'detail', format('the %s %s has no %s.create "
                  "row in the operator action log', t.kind, t.id, t.kind), 'txn_id', t.id) FROM ledger_txns t "
                  "WHERE t.kind IN ('deposit', 'payout', 'withdrawal') AND NOT EXISTS (SELECT 1 FROM operator_actions o "
                  "WHERE o.action = t.kind || '.create' AND o.details->>'txn_id' = t.id::text)"));

/* (b) Every balance row equals the sum of its entries; (h) balances at or above their floors, the floors as set. */
LX_DB_STMT(audit_chk_balances, 1,
           CHECKS("SELECT jsonb_build_object('check', 'balance_entries', 'detail', format('the %s book of account %s holds %s "
                  "but its entries sum to %s', a.book, a.owner, a.balance, coalesce(s.total, 0)), 'ledger_account_id', a.id, "
                  "'account_id', a.owner, 'book', a.book, 'balance', a.balance, 'entries_sum', coalesce(s.total, 0)) "
                  "FROM ledger_accounts a LEFT JOIN (SELECT ledger_account_id, sum(amount) AS total FROM ledger_entries "
                  "GROUP BY 1) s ON s.ledger_account_id = a.id WHERE a.balance IS NOT NULL AND a.balance <> coalesce(s.total, 0) "
                  "UNION ALL SELECT jsonb_build_object('check', 'balance_floor', 'detail', format('the %s book of account %s "
                  "holds %s, below its floor %s', book, owner, balance, min_balance), 'ledger_account_id', id, 'account_id', "
                  "owner, 'book', book, 'balance', balance, 'floor', min_balance) FROM ledger_accounts "
                  "WHERE balance < min_balance "
                  "UNION ALL SELECT jsonb_build_object('check', 'balance_floor', 'detail', format('the %s book of %s account "
                  "%s has the floor %s, not the one the account sets', l.book, o.role, o.id, l.min_balance), "
                  "'ledger_account_id', l.id, 'account_id', o.id, 'book', l.book) FROM ledger_accounts l "
                  "JOIN accounts o ON o.id = l.owner WHERE (o.role = 'advertiser' AND (l.book <> 'balance' OR "
                  "l.min_balance <> -o.credit_limit)) OR (o.role = 'webmaster' AND (l.book NOT IN ('pending', 'available') "
                  "OR l.min_balance <> 0)) OR o.role = 'operator'"));

/* (c) Every ledger transaction has its receipts (one per owned account it touches), every receipt its transaction,
 * every sale its buyer's and supplier's receipts naming its lead, and a sale is refunded exactly when it has a refund
 * receipt (moving a sale to another lead, or un-refunding it, in SQL would otherwise pass: a money-path review). */
LX_DB_STMT(
    audit_chk_cover, 1,
    CHECKS("SELECT jsonb_build_object('check', 'receipts_cover_ledger', 'detail', format('ledger transaction %s moves "
           "the books of account %s without a receipt', e.txn_id, e.account_id), 'txn_id', e.txn_id, 'account_id', "
           "e.account_id) FROM (SELECT DISTINCT txn_id, account_id FROM ledger_entries WHERE account_id IS NOT NULL) e "
           "WHERE NOT EXISTS (SELECT 1 FROM receipts r WHERE r.ledger_txn = e.txn_id AND r.account_id = e.account_id) "
           "UNION ALL SELECT jsonb_build_object('check', 'receipts_cover_ledger', 'detail', CASE WHEN t.id IS NULL "
           "THEN format('receipt %s names ledger transaction %s, which does not exist', r.id, r.ledger_txn) "
           "ELSE format('receipt %s is a %s receipt in %s, its ledger transaction a %s in %s', r.id, r.kind, "
           "r.currency, t.kind, t.currency) END, 'receipt_id', r.id, 'txn_id', r.ledger_txn) FROM receipts r "
           "LEFT JOIN ledger_txns t ON t.id = r.ledger_txn WHERE t.id IS NULL OR t.kind <> r.kind OR "
           "t.currency <> r.currency "
           "UNION ALL SELECT jsonb_build_object('check', 'receipts_cover_ledger', 'detail', format(v.say, x.id, "
           "x.lead_id), 'sale_id', x.id, 'txn_id', x.ledger_txn, 'account_id', v.account) "
           "FROM (SELECT s.id, s.lead_id, s.ledger_txn, s.buyer_id, s.webmaster_id, s.payout, s.refunded_at, "
           "bool_or(r.kind = 'sale' AND r.account_id = s.buyer_id AND r.amount = -s.price AND r.lead_id = s.lead_id) AS buyer, "
           "bool_or(r.kind = 'sale' AND r.account_id = s.webmaster_id AND r.amount = s.payout AND r.lead_id = s.lead_id) "
           "AS supplier, "
           "bool_or(r.kind = 'refund' AND r.account_id = s.buyer_id AND r.amount = s.price AND r.lead_id = s.lead_id) "
           "AS refund, bool_or(r.kind = 'refund') AS any_refund "
           "FROM sales s LEFT JOIN receipts r ON r.sale_id = s.id GROUP BY s.id) x "
           /* each side's receipt names the sale's lead; a refund receipt, and only it, makes a sale refunded */
           "CROSS JOIN LATERAL (VALUES "
           "('sale %s of lead %s has no buyer''s receipt of its amount for that lead', x.buyer_id, "
           "coalesce(x.buyer, false)), "
           "('sale %s of lead %s has no supplier''s receipt of its amount for that lead', x.webmaster_id, "
           "coalesce(x.supplier, false) OR x.payout = 0), "
           "('sale %s of lead %s is refunded without a refund receipt of its amount for that lead', x.buyer_id, "
           "x.refunded_at IS NULL OR coalesce(x.refund, false)), "
           "('sale %s of lead %s has a refund receipt but is not refunded', x.buyer_id, "
           "x.refunded_at IS NOT NULL OR NOT coalesce(x.any_refund, false))) AS v(say, account, ok) "
           "WHERE NOT v.ok"));

/* (d) Receipts reproduce the ledger: per transaction, account and book, receipt amounts = entry sums. A settlement's
 * receipt states the available book's movement; its pending movement is implied (the same amount, negated), so the
 * pending side of settlements is checked against the available side instead. */
LX_DB_STMT(audit_chk_reproduce, 1,
           CHECKS("SELECT jsonb_build_object('check', 'receipts_reproduce_ledger', 'detail', format('in ledger transaction %s "
                  "the %s book of account %s moves by %s in the entries but by %s in the receipts', "
                  "coalesce(r.ledger_txn, e.txn_id), coalesce(r.book, e.book), coalesce(r.account_id, e.account_id), "
                  "coalesce(e.total, 0), coalesce(r.total, 0)), 'txn_id', coalesce(r.ledger_txn, e.txn_id), 'account_id', "
                  "coalesce(r.account_id, e.account_id), 'book', coalesce(r.book, e.book), 'entries_sum', "
                  "coalesce(e.total, 0), 'receipts_sum', coalesce(r.total, 0)) "
                  "FROM (SELECT ledger_txn, account_id, book, sum(amount) AS total FROM receipts GROUP BY 1, 2, 3) r "
                  "FULL JOIN (SELECT g.* FROM (SELECT txn_id, account_id, book, sum(amount) AS total FROM ledger_entries "
                  "WHERE account_id IS NOT NULL GROUP BY 1, 2, 3) g LEFT JOIN ledger_txns t ON t.id = g.txn_id "
                  "WHERE t.kind IS DISTINCT FROM 'settlement' OR g.book <> 'pending') e "
                  "ON e.txn_id = r.ledger_txn AND e.account_id = r.account_id AND e.book = r.book "
                  "WHERE r.total IS DISTINCT FROM e.total "
                  "UNION ALL SELECT jsonb_build_object('check', 'receipts_reproduce_ledger', 'detail', format('settlement %s "
                  "moves %s out of the pending book of account %s but %s into its available book', x.txn_id, "
                  "-x.pending, x.account_id, x.available), 'txn_id', x.txn_id, 'account_id', x.account_id) "
                  "FROM (SELECT e.txn_id, e.account_id, coalesce(sum(e.amount) FILTER (WHERE e.book = 'pending'), 0) AS "
                  "pending, coalesce(sum(e.amount) FILTER (WHERE e.book = 'available'), 0) AS available "
                  "FROM ledger_entries e JOIN ledger_txns t ON t.id = e.txn_id AND t.kind = 'settlement' "
                  "WHERE e.account_id IS NOT NULL GROUP BY 1, 2) x WHERE x.pending <> -x.available"));

/* (f) Every receipt is either waiting for the sequencer or in the log (exactly once: log_entries.receipt_id is
 * unique), never both; queue rows and entries name receipts that exist; the log's size agrees with its entries and
 * holds no node beyond it. */
LX_DB_STMT(audit_chk_log, 1,
           CHECKS("SELECT jsonb_build_object('check', 'log_membership', 'detail', CASE WHEN e.receipt_id IS NULL THEN "
                  "format('receipt %s is neither in the log nor waiting for it', r.id) ELSE format('receipt %s is in the log "
                  "(index %s) and still waiting for it', r.id, e.log_index) END, 'receipt_id', r.id) FROM receipts r "
                  "LEFT JOIN log_entries e ON e.receipt_id = r.id LEFT JOIN receipt_queue q ON q.receipt_id = r.id "
                  "WHERE (e.receipt_id IS NULL) = (q.receipt_id IS NULL) "
                  "UNION ALL SELECT jsonb_build_object('check', 'log_membership', 'detail', format('the sequencer''s queue "
                  "holds receipt %s, which does not exist', q.receipt_id), 'receipt_id', q.receipt_id) FROM receipt_queue q "
                  "WHERE NOT EXISTS (SELECT 1 FROM receipts r WHERE r.id = q.receipt_id) "
                  "UNION ALL SELECT jsonb_build_object('check', 'log_membership', 'detail', format('log entry %s names "
                  "receipt %s, which does not exist', e.log_index, e.receipt_id), 'receipt_id', e.receipt_id, 'log_index', "
                  "e.log_index) FROM log_entries e WHERE NOT EXISTS (SELECT 1 FROM receipts r WHERE r.id = e.receipt_id) "
                  "UNION ALL SELECT jsonb_build_object('check', 'log_size', 'detail', format('the log''s state says %s "
                  "entries, the log holds %s', s.tree_size, c.n), 'tree_size', s.tree_size) FROM log_state s, "
                  "(SELECT count(*) AS n FROM log_entries) c WHERE s.tree_size <> c.n "
                  "UNION ALL SELECT jsonb_build_object('check', 'log_node', 'detail', format('log node (level %s, index %s) "
                  "lies beyond the log''s %s entries', n.level, n.idx, s.tree_size), 'level', n.level, 'index', n.idx) "
                  "FROM log_nodes n, log_state s WHERE n.idx >= (s.tree_size >> n.level)"));

/* (g) No lead has more unrefunded sales than its mode allows: in the sales, and counted from the log as a buyer would
 * (per slot: sale entries - refund entries > 0 is a slot held); the lead's own counters agree with its sales. */
LX_DB_STMT(audit_chk_leads, 1,
           CHECKS("SELECT jsonb_build_object('check', 'lead_sales', 'detail', format('lead %s has %s unrefunded sales (%s "
                  "exclusive, %s shared, %s buyers, %s slots; max_shares %s)', x.lead_id, x.n, x.excl, x.shared, x.buyers, "
                  "x.slots, x.max_shares), 'lead_id', x.lead_id, 'source', 'sales') FROM (SELECT s.lead_id, "
                  "max(l.max_shares) AS max_shares, count(*) AS n, count(*) FILTER (WHERE s.mode = 'exclusive') AS excl, "
                  "count(*) FILTER (WHERE s.mode = 'shared') AS shared, count(DISTINCT s.buyer_id) AS buyers, "
                  "count(DISTINCT s.share_index) AS slots, max(s.share_index) AS top FROM sales s "
                  "LEFT JOIN leads l ON l.id = s.lead_id WHERE s.refunded_at IS NULL GROUP BY s.lead_id) x "
                  "WHERE x.excl > 1 OR (x.excl > 0 AND x.shared > 0) OR x.max_shares IS NULL OR x.shared > x.max_shares "
                  "OR x.buyers <> x.n OR x.slots <> x.n OR x.top >= x.max_shares "
                  "UNION ALL SELECT jsonb_build_object('check', 'lead_sales', 'detail', format('the log shows %s exclusive and "
                  "%s shared slots of lead %s held (max_shares %s)', h.excl, h.shared, h.lead_id, l.max_shares), 'lead_id', "
                  "h.lead_id, 'source', 'log') FROM (SELECT lead_id, count(*) FILTER (WHERE mode = 'exclusive' AND net > 0) "
                  "AS excl, count(*) FILTER (WHERE mode = 'shared' AND net > 0) AS shared, count(*) FILTER (WHERE net < 0) "
                  "AS negative FROM (SELECT r.lead_id, e.entry::jsonb->>'mode' AS mode, e.entry::jsonb->>'share_index' AS "
                  "slot, sum(CASE e.entry::jsonb->>'kind' WHEN 'sale' THEN 1 WHEN 'refund' THEN -1 ELSE 0 END) AS net "
                  "FROM log_entries e JOIN receipts r ON r.id = e.receipt_id WHERE r.kind IN ('sale', 'refund') "
                  "GROUP BY 1, 2, 3) s GROUP BY lead_id) h LEFT JOIN leads l ON l.id = h.lead_id "
                  "WHERE h.excl > 1 OR (h.excl > 0 AND h.shared > 0) OR h.shared > coalesce(l.max_shares, 1) "
                  "OR h.negative > 0 "
                  "UNION ALL SELECT jsonb_build_object('check', 'lead_state', 'detail', format('lead %s records %s sold "
                  "shares (%s) but has %s unrefunded sales', l.id, l.shares_sold, coalesce(l.sold_mode, 'unsold'), "
                  "coalesce(s.n, 0)), 'lead_id', l.id) FROM leads l LEFT JOIN (SELECT lead_id, count(*) AS n, min(mode) AS "
                  "mode, max(mode) AS mode_max FROM sales WHERE refunded_at IS NULL GROUP BY 1) s ON s.lead_id = l.id "
                  "WHERE l.shares_sold <> coalesce(s.n, 0) OR (s.n > 0 AND (l.sold_mode IS DISTINCT FROM s.mode OR "
                  "s.mode <> s.mode_max))"));

/* (h) Campaigns: never past the budget or the daily cap; spent is what their unrefunded sales cost. */
LX_DB_STMT(audit_chk_campaigns, 1,
           CHECKS("SELECT jsonb_build_object('check', 'campaign_limits', 'detail', format('campaign %s has spent %s of its "
                  "budget %s and bought %s of its daily cap %s', id, spent, coalesce(budget::text, 'none'), daily_count, "
                  "coalesce(daily_cap::text, 'none')), 'campaign_id', id) FROM campaigns "
                  "WHERE (budget IS NOT NULL AND spent > budget) OR (daily_cap IS NOT NULL AND daily_count > daily_cap) "
                  "OR spent < 0 OR daily_count < 0 "
                  "UNION ALL SELECT jsonb_build_object('check', 'campaign_spend', 'detail', format('campaign %s has spent %s "
                  "but its unrefunded sales cost %s', c.id, c.spent, coalesce(s.total, 0)), 'campaign_id', c.id) "
                  "FROM campaigns c LEFT JOIN (SELECT campaign_id, sum(price) AS total FROM sales WHERE campaign_id IS NOT "
                  "NULL AND refunded_at IS NULL GROUP BY 1) s ON s.campaign_id = c.id WHERE c.spent <> coalesce(s.total, 0)"));

/* ---- GET /v1/audit/report: the snapshot, counts and pages ------------------------------------------------------ */

LX_DB_STMT(audit_begin, 0, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
LX_DB_STMT(audit_timeout, 0, "SELECT set_config('statement_timeout', '" REPORT_TIMEOUT_MS "', true)");
/* Snapshot time, the log's size, how far the log scan must go (entries, state or heads, whichever is furthest), and
 * the action chain's head (NULLs when its row is gone). */
LX_DB_STMT(audit_meta, 0,
           "SELECT now(), (SELECT tree_size FROM log_state), greatest(coalesce((SELECT tree_size FROM log_state), 0), "
           "coalesce((SELECT max(log_index) + 1 FROM log_entries), 0), coalesce((SELECT max(tree_size) FROM log_heads), 0)), "
           "h.seq, encode(h.hash, 'hex') FROM (SELECT 1) AS one LEFT JOIN operator_action_head h ON true");
static const char *const count_names[] = {"ledger_txns", "ledger_entries",   "balances", "receipts",         "receipts_queued",
                                          "log_entries", "log_heads",        "sales",    "sales_unrefunded", "leads",
                                          "campaigns",   "operator_actions", NULL};
LX_DB_STMT(audit_counts, 0,
           "SELECT (SELECT count(*) FROM ledger_txns), (SELECT count(*) FROM ledger_entries), "
           "(SELECT count(*) FROM ledger_accounts WHERE balance IS NOT NULL), (SELECT count(*) FROM receipts), "
           "(SELECT count(*) FROM receipt_queue), (SELECT count(*) FROM log_entries), (SELECT count(*) FROM log_heads), "
           "(SELECT count(*) FROM sales), (SELECT count(*) FROM sales WHERE refunded_at IS NULL), "
           "(SELECT count(*) FROM leads), (SELECT count(*) FROM campaigns), (SELECT count(*) FROM operator_actions)");
LX_DB_STMT(audit_keys, 0, "SELECT key_id, public_key, not_before, not_after FROM receipt_keys ORDER BY not_before, key_id");
LX_DB_STMT(audit_receipts_page, 2,
           "SELECT r.id, r.account_id, r.kind, r.ledger_txn, r.amount, r.currency, r.lead_id, r.sale_id, r.reverses, "
           "r.issued_at, r.body, r.key_id, r.signature, e.log_index, e.entry FROM receipts r "
           "LEFT JOIN log_entries e ON e.receipt_id = r.id WHERE ($1::uuid IS NULL OR r.id > $1::uuid) ORDER BY r.id "
           "LIMIT $2::int");
/* Log indexes [$1, $2): the entries, the stored nodes their leaves may complete (billing/tlog_nodes.h: from level
 * LX_MERKLE_STORED_LEVEL up), and the signed heads whose size ends in the range (size 0 with the first range). */
LX_DB_STMT(audit_log_entries, 2,
           "SELECT e.log_index, e.entry FROM log_entries e "
           "WHERE e.log_index >= $1::bigint AND e.log_index < $2::bigint ORDER BY e.log_index");
LX_DB_STMT(audit_log_nodes, 2,
           "SELECT n.level, n.idx, encode(n.hash, 'hex') FROM generate_series(" STORED_LEVEL_SQL ", 63) AS l(level) "
           "CROSS JOIN LATERAL "
           "(SELECT level, idx, hash FROM log_nodes WHERE level = l.level AND idx >= ($1::bigint >> l.level) "
           "AND idx <= ($2::bigint >> l.level)) AS n ORDER BY 1, 2");
LX_DB_STMT(audit_log_heads, 2,
           "SELECT tree_size, root_hash, timestamp, key_id, signature FROM log_heads "
           "WHERE (tree_size > $1::bigint OR ($1::bigint = 0 AND tree_size = 0)) AND tree_size <= $2::bigint "
           "ORDER BY tree_size");
LX_DB_STMT(audit_actions_page, 2,
           "SELECT seq, at, operator_id, action, target, details::text, encode(prev_hash, 'hex'), encode(hash, 'hex') "
           "FROM operator_actions WHERE seq > $1::bigint ORDER BY seq LIMIT $2::int");

static lx_db_stmt_t *const sql_checks[] = {&audit_chk_ledger, &audit_chk_balances, &audit_chk_cover,    &audit_chk_reproduce,
                                           &audit_chk_log,    &audit_chk_leads,    &audit_chk_campaigns};
#define NCHECKS (sizeof(sql_checks) / sizeof(sql_checks[0]))

enum { STEP_START = 1, STEP_CHECKS, STEP_RECEIPTS, STEP_LOG, STEP_ACTIONS };

static atomic_int reports_running;

typedef struct {
    lx_audit_t au;
    lx_keyring_t ring;
    int have_ring;
    json_t *counts;
    char checked_at[LX_TS_LEN + 1];
    /* receipts */
    char last_receipt[LX_UUID_STRLEN + 1];
    uint64_t receipts_checked, receipts_verified;
    /* the log */
    lx_audit_log_t log;
    uint64_t log_state_size, log_bound, log_from, log_entries_checked;
    /* the action chain */
    lx_audit_chain_t chain;
    int64_t head_seq;
    uint8_t head_hash[32];
    int have_head, have_head_hash;
    /* parameters of the current page, owned by the async */
    char *p1, *p2;
    char *cap; /* the SQL checks' parameter */
} report_t;

static void report_free(lx_req_t *lr)
{
    report_t *rp = lr->handler_data;
    lr->handler_data = NULL;
    if (rp == NULL) return;
    lx_audit_free(&rp->au);
    if (rp->have_ring) lx_keyring_free(&rp->ring);
    json_decref(rp->counts);
    free(rp);
    atomic_fetch_sub(&reports_running, 1);
}

static void set_count(report_t *rp, const char *name, uint64_t n)
{
    json_object_set_new(rp->counts, name, json_integer((json_int_t)n));
}

/* Adds a SQL check's rows: each is a discrepancy object, the check's full count beside it. */
static void take_check_rows(report_t *rp, const PGresult *r)
{
    json_t *seen = json_object(); /* check -> [rows, count] */
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        json_error_t jerr;
        json_t *obj = json_loads(PQgetvalue(r, i, 0), 0, &jerr);
        const char *check = json_string_value(json_object_get(obj, "check"));
        if (check != NULL) {
            json_t *s = json_object_get(seen, check);
            if (s == NULL)
                json_object_set_new(seen, check, s = json_pack("[i, I]", 0, (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10)));
            json_array_set_new(s, 0, json_integer(json_integer_value(json_array_get(s, 0)) + 1));
        }
        lx_audit_add_json(&rp->au, obj);
    }
    const char *check;
    json_t *s;
    json_object_foreach(seen, check, s)
    {
        json_int_t listed = json_integer_value(json_array_get(s, 0)), total = json_integer_value(json_array_get(s, 1));
        if (total > listed) lx_audit_add_unlisted(&rp->au, check, (uint64_t)(total - listed));
    }
    json_decref(seen);
}

/* Lists every published key that is not the key directory's: a row of receipt_keys this server's registry
 * (receipt-keys.json, the newest it adopted) lacks, or holds with another public key or window. The table is what
 * GET /v1/receipts/keys serves and what the signatures below are checked against, but the keys live in files
 * (DESIGN.md §5): a key inserted in the database alone would make receipts signed with it verify, here and offline. */
static void compare_with_registry(report_t *rp, const lx_keyring_t *published, const lx_keyring_t *registry)
{
    for (size_t i = 0; i < published->n; i++) {
        const lx_pubkey_t *k = &published->keys[i], *r = lx_keyring_find(registry, k->key_id, strlen(k->key_id));
        if (r == NULL)
            lx_audit_add(&rp->au, "receipt_keys", json_pack("{s:s}", "key_id", k->key_id),
                         "receipt key %s is published in the database but is not in the key directory's registry", k->key_id);
        else if (sodium_memcmp(r->pk, k->pk, 32) != 0 || r->not_before_us != k->not_before_us || r->not_after_us != k->not_after_us)
            lx_audit_add(&rp->au, "receipt_keys", json_pack("{s:s}", "key_id", k->key_id),
                         "receipt key %s is published with another public key or validity than the key directory's registry "
                         "holds",
                         k->key_id);
    }
}

/* The published keys as GET /v1/receipts/keys shows them, parsed by the same code `leadx verify --keys` uses, and
 * compared with the key directory's registry. */
static void take_keys(report_t *rp, const PGresult *r, const lx_keyring_t *registry)
{
    json_t *keys = json_array();
    for (int i = 0, n = PQntuples(r); i < n; i++)
        json_array_append_new(keys,
                              json_pack("{s:s, s:s, s:o, s:o}", "key_id", PQgetvalue(r, i, 0), "public_key", PQgetvalue(r, i, 1),
                                        "not_before", lx_ts_json(r, i, 2), "not_after", lx_ts_json(r, i, 3)));
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    lx_error_t err;
    lx_error_init(&err);
    if (text != NULL && lx_keyring_parse(text, strlen(text), &rp->ring, &err) == LX_OK) {
        rp->have_ring = 1;
        compare_with_registry(rp, &rp->ring, registry);
    } else {
        lx_audit_add(&rp->au, "receipt_keys", NULL, "the published receipt keys do not read: %s %s", err.detail,
                     err.nfields ? err.fields[0].field : "");
        rp->ring.keys = NULL;
        rp->ring.n = 0;
    }
    free(text);
}

static void add_receipts_page(lx_async_t *a, report_t *rp)
{
    a->job.ncalls = 0;
    a->step = STEP_RECEIPTS;
    lx_db_call_t *c = lx_db_job_add(&a->job, &audit_receipts_page);
    snprintf(rp->p1, 64, "%s", rp->last_receipt);
    snprintf(rp->p2, 64, "%d", RECEIPT_PAGE);
    lx_db_param(c, 0, rp->last_receipt[0] ? rp->p1 : NULL);
    lx_db_param(c, 1, rp->p2);
}

static void add_log_page(lx_async_t *a, report_t *rp)
{
    a->job.ncalls = 0;
    a->step = STEP_LOG;
    snprintf(rp->p1, 64, "%" PRIu64, rp->log_from);
    snprintf(rp->p2, 64, "%" PRIu64, rp->log_from + LOG_PAGE);
    lx_db_stmt_t *stmts[] = {&audit_log_entries, &audit_log_nodes, &audit_log_heads};
    for (size_t i = 0; i < 3; i++) {
        lx_db_call_t *c = lx_db_job_add(&a->job, stmts[i]);
        lx_db_param(c, 0, rp->p1);
        lx_db_param(c, 1, rp->p2);
    }
}

static void add_actions_page(lx_async_t *a, report_t *rp)
{
    a->job.ncalls = 0;
    a->step = STEP_ACTIONS;
    snprintf(rp->p1, 64, "%" PRId64, rp->chain.seq);
    snprintf(rp->p2, 64, "%d", ACTION_PAGE);
    lx_db_call_t *c = lx_db_job_add(&a->job, &audit_actions_page);
    lx_db_param(c, 0, rp->p1);
    lx_db_param(c, 1, rp->p2);
}

static void take_receipts(lx_req_t *lr, report_t *rp, const PGresult *r)
{
    const uint8_t *digest_key = lr->worker->server->keys->lead_digest_key;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        char issued[LX_TS_LEN + 1];
        const char *issued_pg = PQgetvalue(r, i, 9);
        lx_audit_receipt_row_t row = {.id = PQgetvalue(r, i, 0),
                                      .account_id = lx_db_get(r, i, 1),
                                      .kind = PQgetvalue(r, i, 2),
                                      .ledger_txn = lx_db_get(r, i, 3),
                                      .amount = lx_db_get(r, i, 4),
                                      .currency = lx_db_get(r, i, 5),
                                      .lead_id = lx_db_get(r, i, 6),
                                      .sale_id = lx_db_get(r, i, 7),
                                      .reverses = lx_db_get(r, i, 8),
                                      .issued_at = lx_ts_from_pg(issued_pg, issued) == 0 ? issued : issued_pg,
                                      .body = PQgetvalue(r, i, 10),
                                      .body_len = (size_t)PQgetlength(r, i, 10),
                                      .key_id = PQgetvalue(r, i, 11),
                                      .signature = PQgetvalue(r, i, 12),
                                      .log_index = lx_db_get(r, i, 13),
                                      .log_entry = lx_db_get(r, i, 14),
                                      .log_entry_len = (size_t)PQgetlength(r, i, 14)};
        if (lx_audit_receipt(&rp->au, &rp->ring, digest_key, &row)) rp->receipts_verified++;
        rp->receipts_checked++;
    }
    if (PQntuples(r) > 0) lx_str_copy(rp->last_receipt, sizeof(rp->last_receipt), PQgetvalue(r, PQntuples(r) - 1, 0));
}

static void feed_head(report_t *rp, const PGresult *heads, int row)
{
    json_t *head = json_pack("{s:I, s:s, s:s, s:s, s:s}", "tree_size", (json_int_t)strtoll(PQgetvalue(heads, row, 0), NULL, 10),
                             "root_hash", PQgetvalue(heads, row, 1), "timestamp", PQgetvalue(heads, row, 2), "key_id",
                             PQgetvalue(heads, row, 3), "signature", PQgetvalue(heads, row, 4));
    if (head == NULL) {
        lx_audit_add(&rp->au, "log_head_signature", json_pack("{s:s}", "tree_size", PQgetvalue(heads, row, 0)),
                     "the signed head of size %s holds bytes that are not text", PQgetvalue(heads, row, 0));
        return;
    }
    lx_audit_log_head(&rp->log, &rp->au, &rp->ring, head);
    json_decref(head);
}

static void take_log_page(report_t *rp, const PGresult *entries, const PGresult *nodes, const PGresult *heads)
{
    lx_tlog_nodes_t pn = LX_TLOG_NODES_INIT; /* the page's stored nodes, for the Merkle frontier's look-ups */
    for (int i = 0; i < PQntuples(nodes); i++) {
        lx_hash_t h;
        if (hex32(PQgetvalue(nodes, i, 2), h.h)) /* a node that is not 32 bytes counts as missing */
            lx_tlog_nodes_add(&pn, (unsigned)strtoul(PQgetvalue(nodes, i, 0), NULL, 10),
                              strtoull(PQgetvalue(nodes, i, 1), NULL, 10), &h);
    }
    lx_tlog_nodes_finish(&pn);
    int h = 0, nheads = PQntuples(heads);
    for (int i = 0, n = PQntuples(entries); i < n; i++) {
        uint64_t index = strtoull(PQgetvalue(entries, i, 0), NULL, 10);
        for (; h < nheads && strtoull(PQgetvalue(heads, h, 0), NULL, 10) <= index; h++) feed_head(rp, heads, h);
        lx_audit_log_entry(&rp->log, &rp->au, index, PQgetvalue(entries, i, 1), (size_t)PQgetlength(entries, i, 1),
                           lx_tlog_nodes_get, &pn);
        rp->log_entries_checked++;
    }
    for (; h < nheads; h++) feed_head(rp, heads, h);
    lx_tlog_nodes_free(&pn);
}

static void take_actions(report_t *rp, const PGresult *r)
{
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        lx_audit_action_t row;
        char at[LX_TS_LEN + 1];
        if (action_row(r, i, 0, &row, at) != 0) row.at = PQgetvalue(r, i, 1); /* then the hash cannot recompute */
        lx_audit_chain_row(&rp->chain, &rp->au, &row);
    }
}

static void respond_report(lx_req_t *lr, report_t *rp)
{
    set_count(rp, "receipts_checked", rp->receipts_checked);
    set_count(rp, "receipts_verified", rp->receipts_verified);
    set_count(rp, "log_entries_checked", rp->log_entries_checked);
    set_count(rp, "log_heads_checked", rp->log.heads);
    set_count(rp, "operator_actions_checked", rp->chain.rows);
    json_t *doc = json_pack("{s:b, s:s, s:O, s:O, s:O}", "ok", rp->au.total == 0, "checked_at", rp->checked_at, "counts",
                            rp->counts, "discrepancy_counts", rp->au.totals, "discrepancies", rp->au.discrepancies);
    lx_respond_json(lr, 200, doc); /* the last touch of rp: the request may be disposed from here on */
}

static int on_report_step(lx_req_t *lr, lx_async_t *a)
{
    report_t *rp = lr->handler_data;
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    switch (a->step) {
    case STEP_START: {
        const PGresult *meta = a->job.results[2], *counts = a->job.results[3];
        if (lx_ts_from_pg(PQgetvalue(meta, 0, 0), rp->checked_at) != 0) lx_str_copy(rp->checked_at, sizeof(rp->checked_at), "");
        rp->log_state_size = PQgetisnull(meta, 0, 1) ? 0 : strtoull(PQgetvalue(meta, 0, 1), NULL, 10);
        rp->log_bound = strtoull(PQgetvalue(meta, 0, 2), NULL, 10);
        rp->have_head = !PQgetisnull(meta, 0, 3);
        rp->head_seq = rp->have_head ? strtoll(PQgetvalue(meta, 0, 3), NULL, 10) : -1;
        rp->have_head_hash = hex32(lx_db_get(meta, 0, 4), rp->head_hash);
        if (PQgetisnull(meta, 0, 1)) lx_audit_add(&rp->au, "log_size", NULL, "the log's state row is missing");
        if (!rp->have_head) lx_audit_add(&rp->au, "action_chain", NULL, "the operator action chain's head row is missing");
        for (int i = 0; count_names[i] != NULL; i++) set_count(rp, count_names[i], strtoull(PQgetvalue(counts, 0, i), NULL, 10));
        set_count(rp, "log_tree_size", rp->log_state_size);
        take_keys(rp, a->job.results[4], &lx_keys_newest(lr->worker->server->keys)->registry);
        for (size_t i = 5; i < a->job.ncalls; i++) take_check_rows(rp, a->job.results[i]);
        /* The remaining SQL checks, then the pages. */
        a->job.ncalls = 0;
        a->step = STEP_CHECKS;
        for (size_t i = LX_DB_MAX_CALLS - 5; i < NCHECKS; i++) lx_db_param(lx_db_job_add(&a->job, sql_checks[i]), 0, rp->cap);
        if (a->job.ncalls == 0) add_receipts_page(a, rp);
        return lx_async_continue(a);
    }
    case STEP_CHECKS:
        for (size_t i = 0; i < a->job.ncalls; i++) take_check_rows(rp, a->job.results[i]);
        add_receipts_page(a, rp);
        return lx_async_continue(a);
    case STEP_RECEIPTS: {
        const PGresult *r = a->job.results[0];
        take_receipts(lr, rp, r);
        if (PQntuples(r) == RECEIPT_PAGE) {
            add_receipts_page(a, rp);
        } else {
            rp->log_from = 0; /* at least one page: an empty log may still have heads of size 0 */
            add_log_page(a, rp);
        }
        return lx_async_continue(a);
    }
    case STEP_LOG:
        take_log_page(rp, a->job.results[0], a->job.results[1], a->job.results[2]);
        rp->log_from += LOG_PAGE;
        if (rp->log_from < rp->log_bound) {
            add_log_page(a, rp);
        } else {
            lx_audit_log_skip_to(&rp->log, &rp->au, rp->log_state_size);
            add_actions_page(a, rp);
        }
        return lx_async_continue(a);
    case STEP_ACTIONS: {
        const PGresult *r = a->job.results[0];
        take_actions(rp, r);
        if (PQntuples(r) == ACTION_PAGE) {
            add_actions_page(a, rp);
            return lx_async_continue(a);
        }
        if (rp->have_head) lx_audit_chain_finish(&rp->chain, &rp->au, rp->head_seq, rp->have_head_hash ? rp->head_hash : NULL);
        respond_report(lr, rp);
        return 0; /* the release rolls the read-only transaction back */
    }
    }
    lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The audit report lost its place.");
    return 0;
}

void lx_api_audit_report(lx_req_t *lr)
{
    static const char *const names[] = {NULL};
    const char *q[1];
    if (lx_req_query(lr, names, q) != 0) return;
    if (atomic_fetch_add(&reports_running, 1) >= REPORTS_MAX) {
        atomic_fetch_sub(&reports_running, 1);
        lx_respond_problem(lr, LX_ERR_OVERLOADED, NULL, "%d audit reports are running already; retry when one has finished.",
                           REPORTS_MAX);
        return;
    }
    report_t *rp = lx_calloc(1, sizeof(*rp));
    lx_audit_init(&rp->au, CAP_PER_CHECK);
    lx_audit_log_init(&rp->log);
    lx_audit_chain_init(&rp->chain);
    rp->counts = json_object();
    lr->handler_data = rp;
    lr->on_dispose = report_free;

    lx_async_t *a = lx_async_new(lr, on_report_step);
    rp->p1 = lx_async_alloc(a, 64);
    rp->p2 = lx_async_alloc(a, 64);
    rp->cap = lx_async_alloc(a, 16);
    snprintf(rp->cap, 16, "%d", CAP_PER_CHECK);
    a->job.flags = LX_DB_RESERVE;
    a->step = STEP_START;
    lx_db_job_add(&a->job, &audit_begin);
    lx_db_job_add(&a->job, &audit_timeout);
    lx_db_job_add(&a->job, &audit_meta);
    lx_db_job_add(&a->job, &audit_counts);
    lx_db_job_add(&a->job, &audit_keys);
    for (size_t i = 0; i < NCHECKS && a->job.ncalls < LX_DB_MAX_CALLS; i++)
        lx_db_param(lx_db_job_add(&a->job, sql_checks[i]), 0, rp->cap);
    lx_async_submit(a);
}
