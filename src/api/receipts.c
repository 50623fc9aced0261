/*
 * Receipts as the API shows them: GET /v1/receipts/{id}, GET /v1/receipts
 * (a page) and GET /v1/receipts/export (JSON lines, streamed). Each item is
 *   {"receipt": R, "entry": E|null, "log_index": n|null, "inclusion_proof": P|null, "head": H|null}
 * R the receipt exactly as signed (body, key_id, signature), E its log entry,
 * P its RFC 6962 inclusion proof in the tree of signed head H. A receipt the
 * sequencer has not appended yet (or, in an export, appended after the
 * export's head was fixed) has all four null: there is nothing to prove it
 * against yet. `leadx verify --receipts` reads exactly these objects.
 *
 * Visibility: an account sees its own receipts; operators see every one (and
 * may filter lists by account). Another account's receipt is 404.
 *
 * Proofs for a page: the union of its receipts' inclusion plans is fetched
 * with one statement, then each proof is computed in C (billing/merkle.h).
 * The receipts statement runs before the head's, so every entry a page sees
 * lies inside the head it is proven against. An export fixes one head at its
 * start and proves every line against it (receipts sequenced later come out
 * unproven), and streams 1,000 receipts per page, so its memory stays bounded
 * whatever the account's history.
 */
#include "api/common.h"
#include "api/handlers.h"
#include "api/log.h"
#include "billing/receipt.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_PAGE  1000
#define PAGE_DOC_MAX ((size_t)256 << 20)
#define EXPORT_CT    "application/jsonl"

enum { MODE_ONE, MODE_LIST, MODE_EXPORT };

/* Columns of every receipts statement below. */
#define RCPT_COLS "r.id, r.body, r.key_id, r.signature, e.log_index, e.entry"

LX_DB_STMT(rcpt_one, 2,
           "SELECT " RCPT_COLS " FROM receipts r LEFT JOIN log_entries e ON e.receipt_id = r.id "
           "WHERE r.id = $1::uuid AND ($2::uuid IS NULL OR r.account_id = $2::uuid)");
/* One account's receipts by id (receipts_account index), and everybody's (operators). Ids in ($4, $6] (always given,
 * so the index range is used): $4 the cursor, $6 the highest id (exports: ids issued after the export started are
 * left out, so it ends); $5 the page size; $7: entries at or beyond this log index count as not sequenced (exports:
 * the fixed head's tree size). */
#define RCPT_FILTERS                                                                                                               \
    "r.id > $4::uuid AND r.id <= $6::uuid AND ($2::text IS NULL OR r.kind = $2::text) "                                            \
    "AND ($3::timestamptz IS NULL OR r.issued_at >= $3::timestamptz) ORDER BY r.id LIMIT $5::int"
#define RCPT_JOIN "LEFT JOIN log_entries e ON e.receipt_id = r.id AND ($7::bigint IS NULL OR e.log_index < $7::bigint) "
LX_DB_STMT(rcpt_page_account, 7,
           "SELECT " RCPT_COLS " FROM receipts r " RCPT_JOIN "WHERE r.account_id = $1::uuid AND " RCPT_FILTERS);
LX_DB_STMT(rcpt_page_all, 7, "SELECT " RCPT_COLS " FROM receipts r " RCPT_JOIN "WHERE $1::uuid IS NULL AND " RCPT_FILTERS);

static const char *const kinds[] = {"deposit", "sale", "refund", "settlement", "payout", "withdrawal", NULL};

typedef struct {
    size_t receipt, receipt_len; /* offsets into page->text */
    size_t entry, entry_len;     /* entry_len 0: none */
    int64_t log_index;           /* -1: not in the head's tree */
} item_t;

/*
 * One request's page state, in the request's pool with a dispose hook that frees its buffers (so a client that goes
 * away mid-way leaks nothing). An export reuses it for each of its pages.
 */
typedef struct {
    h2o_generator_t gen; /* exports: proceed asks for the next page */
    lx_req_t *lr;
    int mode;
    item_t *items;
    size_t n, cap;
    lx_strbuf_t text; /* receipts and entries of the page */
    lx_strbuf_t out;  /* the rendered answer (exports: the piece in flight) */
    char head[512];   /* the head JSON ("" when there is none) */
    uint64_t head_size;
    int limit;
    char last_id[LX_UUID_STRLEN + 1];
    /* list / export filters */
    char account[LX_UUID_STRLEN + 1], kind[16], since[LX_TS_LEN + 1], upper[LX_UUID_STRLEN + 1];
    char cursor[LX_UUID_STRLEN + 1];
} page_t;

static void page_dispose(void *p)
{
    page_t *pg = p;
    free(pg->items);
    lx_strbuf_free(&pg->text);
    lx_strbuf_free(&pg->out);
}

static page_t *page_new(lx_req_t *lr, int mode)
{
    page_t *pg = h2o_mem_alloc_shared(&lr->req->pool, sizeof(*pg), page_dispose);
    memset(pg, 0, sizeof(*pg));
    pg->lr = lr;
    pg->mode = mode;
    lx_strbuf_init(&pg->text, PAGE_DOC_MAX);
    lx_strbuf_init(&pg->out, PAGE_DOC_MAX);
    return pg;
}

/* Copies the rows (columns RCPT_COLS) into the page; items with an entry at or beyond head_size count as not in the
 * tree. */
static void page_fill(page_t *pg, const PGresult *r)
{
    int n = PQntuples(r);
    pg->n = 0;
    lx_strbuf_reset(&pg->text);
    if ((size_t)n > pg->cap) {
        pg->cap = (size_t)n;
        pg->items = lx_realloc(pg->items, pg->cap * sizeof(*pg->items));
    }
    for (int i = 0; i < n; i++) {
        item_t *it = &pg->items[pg->n++];
        it->receipt = pg->text.len;
        lx_receipt_render(PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), &pg->text);
        it->receipt_len = pg->text.len - it->receipt;
        it->log_index = -1;
        it->entry = pg->text.len;
        it->entry_len = 0;
        if (!PQgetisnull(r, i, 4) && pg->head[0] != '\0') {
            int64_t idx = strtoll(PQgetvalue(r, i, 4), NULL, 10);
            if (idx >= 0 && (uint64_t)idx < pg->head_size) {
                it->log_index = idx;
                lx_strbuf_append(&pg->text, PQgetvalue(r, i, 5), (size_t)PQgetlength(r, i, 5));
                it->entry_len = pg->text.len - it->entry;
            }
        }
    }
    if (n > 0) memcpy(pg->last_id, PQgetvalue(r, n - 1, 0), LX_UUID_STRLEN + 1);
}

static void page_set_head(page_t *pg, const PGresult *r)
{
    pg->head[0] = '\0';
    pg->head_size = 0;
    if (PQntuples(r) != 1) return;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, sizeof(pg->head) - 1);
    lx_tlog_head_render(r, 0, 0, &sb);
    if (!sb.overflow) {
        memcpy(pg->head, sb.base, sb.len);
        pg->head[sb.len] = '\0';
        pg->head_size = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    }
    lx_strbuf_free(&sb);
}

/* Renders item i (with its proof computed over `nodes`) into pg->out; -1 when a node is missing. */
static int render_item(page_t *pg, const item_t *it, lx_tlog_nodes_t *nodes)
{
    lx_strbuf_t *o = &pg->out;
    lx_strbuf_puts(o, "{\"receipt\":");
    lx_strbuf_append(o, pg->text.base + it->receipt, it->receipt_len);
    if (it->log_index < 0) {
        lx_strbuf_puts(o, ",\"entry\":null,\"log_index\":null,\"inclusion_proof\":null,\"head\":null}");
        return 0;
    }
    lx_hash_t path[LX_MERKLE_MAX_PATH];
    size_t len = 0;
    if (lx_merkle_inclusion((uint64_t)it->log_index, pg->head_size, lx_tlog_nodes_get, nodes, path, &len) != 0) return -1;
    lx_strbuf_puts(o, ",\"entry\":");
    lx_strbuf_append(o, pg->text.base + it->entry, it->entry_len);
    lx_strbuf_printf(
        o, ",\"log_index\":%" PRId64 ",\"inclusion_proof\":{\"log_index\":%" PRId64 ",\"tree_size\":%" PRIu64 ",\"hashes\":",
        it->log_index, it->log_index, pg->head_size);
    lx_tlog_hashes_render(path, len, o);
    lx_strbuf_puts(o, "},\"head\":");
    lx_strbuf_puts(o, pg->head);
    lx_strbuf_puts(o, "}");
    return 0;
}

/* Renders the page and answers (one / list) or sends the piece (export). nodes may be NULL when no item is proven. */
static void page_finish(page_t *pg, lx_tlog_nodes_t *nodes)
{
    lx_req_t *lr = pg->lr;
    lx_tlog_nodes_t none = LX_TLOG_NODES_INIT;
    if (nodes == NULL) nodes = &none;
    lx_strbuf_reset(&pg->out);
    if (pg->mode == MODE_LIST) lx_strbuf_puts(&pg->out, "{\"items\":[");
    int bad = 0;
    for (size_t i = 0; i < pg->n && !bad; i++) {
        if (pg->mode == MODE_LIST && i) lx_strbuf_puts(&pg->out, ",");
        bad = render_item(pg, &pg->items[i], nodes) != 0;
        if (pg->mode == MODE_EXPORT) lx_strbuf_puts(&pg->out, "\n");
    }
    if (pg->mode == MODE_LIST) {
        lx_strbuf_puts(&pg->out, "],\"next_cursor\":");
        json_t *next = (int)pg->n == pg->limit ? lx_cursor_json(pg->last_id) : json_null();
        if (json_is_string(next))
            lx_strbuf_printf(&pg->out, "\"%s\"}", json_string_value(next));
        else
            lx_strbuf_puts(&pg->out, "null}");
        json_decref(next);
    }
    if (pg->out.overflow) bad = 1;
    if (pg->mode == MODE_EXPORT) {
        if (lr->req == NULL) return;
        if (bad) {
            lx_log(LX_LOG_ERROR, "export_failed", "request %s: the log's stored nodes are incomplete", lr->request_id);
            h2o_send(lr->req, NULL, 0, H2O_SEND_STATE_ERROR);
            return;
        }
        int last = (int)pg->n < EXPORT_PAGE;
        memcpy(pg->cursor, pg->last_id, sizeof(pg->cursor));
        h2o_iovec_t buf = h2o_iovec_init(pg->out.base, pg->out.len);
        h2o_send(lr->req, &buf, pg->out.len ? 1 : 0, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
        return;
    }
    if (bad) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The log's stored nodes are incomplete; request id %s.", lr->request_id);
        return;
    }
    lx_respond_body(lr, 200, "application/json", pg->out.base, pg->out.len);
}

static void page_abort(page_t *pg, const lx_db_job_t *job)
{
    if (pg->mode == MODE_EXPORT) {
        if (job != NULL && job->status == LX_DB_ERR_QUERY)
            lx_log(LX_LOG_ERROR, "db_query_failed", "request %s: %s %s", pg->lr->request_id, job->sqlstate, job->message);
        if (pg->lr->req != NULL) h2o_send(pg->lr->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (job != NULL) lx_respond_db_failure(pg->lr, job); /* else lx_async_submit has answered already */
}

static int on_nodes(lx_req_t *lr, lx_async_t *a)
{
    (void)lr;
    page_t *pg = a->user;
    if (a->job.status != LX_DB_OK) {
        page_abort(pg, &a->job);
        return 0;
    }
    lx_tlog_nodes_t ns;
    if (lx_tlog_nodes_load(&ns, a->job.results[0]) != 0) ns.n = 0; /* render_item then fails on a missing node */
    page_finish(pg, &ns);
    lx_tlog_nodes_free(&ns);
    return 0;
}

/* The page's rows are in; fetch the nodes of its proofs (one statement), or finish at once when nothing is proven. */
static void page_prove(page_t *pg)
{
    lx_tlog_plan_t plan = {NULL, 0, 0};
    lx_merkle_node_id_t *ids = NULL;
    for (size_t i = 0; i < pg->n; i++) {
        if (pg->items[i].log_index < 0) continue;
        if (ids == NULL) ids = lx_malloc(LX_MERKLE_MAX_PLAN * sizeof(*ids));
        lx_tlog_plan_add(&plan, ids, lx_merkle_plan_inclusion((uint64_t)pg->items[i].log_index, pg->head_size, ids));
    }
    free(ids);
    if (plan.n == 0) {
        free(plan.v);
        page_finish(pg, NULL);
        return;
    }
    lx_async_t *a = lx_async_new(pg->lr, on_nodes);
    a->user = pg;
    lx_tlog_plan_fetch(&plan, a);
    lx_async_submit(a);
    if (pg->mode == MODE_EXPORT && pg->lr->pending == NULL) page_abort(pg, NULL); /* refused at once */
}

/* ---- GET /v1/receipts/{id} ----------------------------------------------------------------------------------- */

static int on_one(lx_req_t *lr, lx_async_t *a)
{
    page_t *pg = a->user;
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    if (PQntuples(a->job.results[0]) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such receipt.");
        return 0;
    }
    page_set_head(pg, a->job.results[1]);
    page_fill(pg, a->job.results[0]);
    page_prove(pg);
    return 0;
}

void lx_api_receipts_get(lx_req_t *lr)
{
    static const char *const names[] = {NULL};
    const char *q[1];
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0 || lx_req_query(lr, names, q) != 0) return;
    page_t *pg = page_new(lr, MODE_ONE);
    lx_async_t *a = lx_async_new(lr, on_one);
    a->user = pg;
    lx_db_call_t *c = lx_db_job_add(&a->job, &rcpt_one);
    lx_db_param(c, 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_db_param(c, 1, lr->who.role == LX_ROLE_OPERATOR ? NULL : lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    lx_db_job_add(&a->job, &lx_tlog_head_latest); /* after the receipt: its entry, if any, is inside this head */
    lx_async_submit(a);
}

/* ---- GET /v1/receipts and /v1/receipts/export ---------------------------------------------------------------- */

/* Parses account, kind and since into pg; answers 400/404 and returns -1 on a bad one. */
static int parse_filters(lx_req_t *lr, page_t *pg, const char *account, const char *kind, const char *since)
{
    if (account != NULL) {
        lx_uuid_t u;
        if (lx_uuid_parse(account, strlen(account), &u) != 0) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.account", "account must be an account id.");
            return -1;
        }
        if (!lx_can_see_account(lr, &u)) { /* another account's receipts are "not found", like its other resources */
            lx_respond_problem(lr, LX_ERR_NOT_FOUND, "query.account", "No such account.");
            return -1;
        }
        lx_uuid_format(&u, pg->account);
    } else if (lr->who.role != LX_ROLE_OPERATOR) {
        memcpy(pg->account, lr->who.account_id_str, sizeof(pg->account));
    }
    if (kind != NULL) {
        size_t i = 0;
        while (kinds[i] != NULL && strcmp(kinds[i], kind) != 0) i++;
        if (kinds[i] == NULL) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.kind",
                               "kind must be one of deposit, sale, refund, settlement, payout, withdrawal.");
            return -1;
        }
        lx_str_copy(pg->kind, sizeof(pg->kind), kind);
    }
    return lx_req_since(lr, since, pg->since);
}

static void add_page_query(page_t *pg, lx_async_t *a, int limit)
{
    char buf[24];
    lx_db_call_t *c = lx_db_job_add(&a->job, pg->account[0] ? &rcpt_page_account : &rcpt_page_all);
    lx_db_param(c, 0, pg->account[0] ? lx_async_dup(a, pg->account, LX_UUID_STRLEN) : NULL);
    lx_db_param(c, 1, pg->kind[0] ? lx_async_dup(a, pg->kind, strlen(pg->kind)) : NULL);
    lx_db_param(c, 2, pg->since[0] ? lx_async_dup(a, pg->since, strlen(pg->since)) : NULL);
    lx_db_param(c, 3, pg->cursor[0] ? lx_async_dup(a, pg->cursor, LX_UUID_STRLEN) : "00000000-0000-0000-0000-000000000000");
    snprintf(buf, sizeof(buf), "%d", limit);
    lx_db_param(c, 4, lx_async_dup(a, buf, strlen(buf)));
    lx_db_param(c, 5, pg->upper[0] ? lx_async_dup(a, pg->upper, LX_UUID_STRLEN) : "ffffffff-ffff-ffff-ffff-ffffffffffff");
    if (pg->mode == MODE_EXPORT) {
        snprintf(buf, sizeof(buf), "%" PRIu64, pg->head_size);
        lx_db_param(c, 6, lx_async_dup(a, buf, strlen(buf)));
    } else {
        lx_db_param(c, 6, NULL);
    }
}

static int on_list(lx_req_t *lr, lx_async_t *a)
{
    page_t *pg = a->user;
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    page_set_head(pg, a->job.results[1]);
    page_fill(pg, a->job.results[0]);
    page_prove(pg);
    return 0;
}

void lx_api_receipts_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "account", "kind", "since", NULL};
    const char *q[5];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    page_t *pg = page_new(lr, MODE_LIST);
    if (parse_filters(lr, pg, q[2], q[3], q[4]) != 0) return;
    memcpy(pg->cursor, cursor, sizeof(pg->cursor));
    pg->limit = limit;
    lx_async_t *a = lx_async_new(lr, on_list);
    a->user = pg;
    add_page_query(pg, a, limit);
    lx_db_job_add(&a->job, &lx_tlog_head_latest); /* after the receipts: every entry they show is inside this head */
    lx_async_submit(a);
}

static int on_export_rows(lx_req_t *lr, lx_async_t *a)
{
    (void)lr;
    page_t *pg = a->user;
    if (a->job.status != LX_DB_OK) {
        page_abort(pg, &a->job);
        return 0;
    }
    page_fill(pg, a->job.results[0]);
    page_prove(pg);
    return 0;
}

static void export_next(page_t *pg)
{
    lx_async_t *a = lx_async_new(pg->lr, on_export_rows);
    a->user = pg;
    add_page_query(pg, a, EXPORT_PAGE);
    lx_async_submit(a);
    if (pg->lr->pending == NULL) page_abort(pg, NULL); /* refused at once (no connection, queue full) */
}

static void export_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    export_next((page_t *)gen); /* gen is page_t's first member */
}

static void export_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)gen;
    (void)req; /* the page goes with the request's pool; a query in flight is dropped by lx_async */
}

static int on_export_head(lx_req_t *lr, lx_async_t *a)
{
    page_t *pg = a->user;
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    page_set_head(pg, a->job.results[0]);
    pg->gen.proceed = export_proceed;
    pg->gen.stop = export_stop;
    if (lx_respond_stream(lr, 200, EXPORT_CT, &pg->gen) != 0) return 0;
    export_next(pg);
    return 0;
}

void lx_api_receipts_export(lx_req_t *lr)
{
    static const char *const names[] = {"account", "kind", "since", NULL};
    const char *q[3];
    if (lx_req_query(lr, names, q) != 0) return;
    page_t *pg = page_new(lr, MODE_EXPORT);
    if (parse_filters(lr, pg, q[0], q[1], q[2]) != 0) return;
    /* Receipts issued from now on are left out (ids are time-ordered), so the export ends however busy the log. */
    lx_uuid_t upper;
    lx_uuid_v7(&upper);
    lx_uuid_format(&upper, pg->upper);
    lx_async_t *a = lx_async_new(lr, on_export_head);
    a->user = pg;
    lx_db_job_add(&a->job, &lx_tlog_head_latest);
    lx_async_submit(a);
}
