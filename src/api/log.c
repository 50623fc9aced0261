/*
 * The receipt transparency log as the API shows it (README "Transparency
 * log"): GET /v1/log/head, /v1/log/heads and /v1/log/consistency are public
 * (anyone may audit the log without an account, as with Certificate
 * Transparency); GET /v1/log/entries needs a key of any role (entries name no
 * account and no person: kind, receipt hash, lead digest, mode, share index).
 *
 * Everything is read from what the sequencer (billing/sequencer.c) committed:
 * heads are rows as signed, entries are their canonical JSON as hashed, and
 * proofs are computed here in C from the stored perfect-subtree nodes and
 * the entries below them (billing/tlog_nodes.h), fetched with one statement
 * per request. Entries and heads are written into the response as stored
 * text, so a client hashes exactly the bytes the log hashed.
 */
#include "api/log.h"
#include "api/handlers.h"
#include "util/b64.h"
#include "util/time.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRIES_PER_CALL 1000
#define LOG_DOC_MAX      ((size_t)64 << 20)

/* ---- shared with receipts.c ---------------------------------------------------------------------------------- */

lx_db_stmt_t lx_tlog_head_latest = {
    "lx_tlog_head_latest",
    "SELECT tree_size, root_hash, timestamp, key_id, signature FROM log_heads ORDER BY tree_size DESC LIMIT 1", 0, -1};

static lx_db_stmt_t tlog_nodes = {"lx_tlog_nodes", LX_TLOG_NODES_SQL, 3, -1};

void lx_tlog_head_render(const PGresult *r, int row, int c, lx_strbuf_t *out)
{
    lx_strbuf_printf(out, "{\"tree_size\":%s,\"root_hash\":\"%s\",\"timestamp\":\"%s\",\"key_id\":\"%s\",\"signature\":\"%s\"}",
                     PQgetvalue(r, row, c), PQgetvalue(r, row, c + 1), PQgetvalue(r, row, c + 2), PQgetvalue(r, row, c + 3),
                     PQgetvalue(r, row, c + 4));
}

void lx_tlog_plan_add(lx_tlog_plan_t *p, const lx_merkle_node_id_t *ids, size_t n)
{
    if (n == 0) return;
    if (p->n + n > p->cap) {
        p->cap = (p->n + n) * 2 + 64;
        p->v = lx_realloc(p->v, p->cap * sizeof(*p->v));
    }
    memcpy(p->v + p->n, ids, n * sizeof(*ids));
    p->n += n;
}

void lx_tlog_plan_fetch(lx_tlog_plan_t *p, lx_async_t *a)
{
    lx_strbuf_t arg[3];
    for (int i = 0; i < 3; i++) lx_strbuf_init(&arg[i], LOG_DOC_MAX);
    lx_tlog_nodes_params(p->v, p->n, &arg[0], &arg[1], &arg[2]);
    lx_db_call_t *c = lx_db_job_add(&a->job, &tlog_nodes);
    for (int i = 0; i < 3; i++) {
        if (arg[i].overflow) abort(); /* cannot happen: a page's plans are a few hundred thousand ids at most */
        lx_db_param(c, i, lx_async_dup(a, arg[i].base, arg[i].len));
        lx_strbuf_free(&arg[i]);
    }
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

void lx_tlog_hashes_render(const lx_hash_t *path, size_t n, lx_strbuf_t *out)
{
    lx_strbuf_puts(out, "[");
    for (size_t i = 0; i < n; i++) {
        char b64[LX_B64URL_LEN(32) + 1];
        lx_b64url_encode(path[i].h, 32, b64);
        lx_strbuf_printf(out, "%s\"%s\"", i ? "," : "", b64);
    }
    lx_strbuf_puts(out, "]");
}

int lx_tlog_parse_size(const char *s, uint64_t *out)
{
    size_t len = strlen(s);
    if (len == 0 || len > 18 || strspn(s, "0123456789") != len || (len > 1 && s[0] == '0')) return -1;
    *out = strtoull(s, NULL, 10);
    return 0;
}

static void respond_text(lx_req_t *lr, lx_strbuf_t *sb)
{
    if (sb->overflow)
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The answer exceeds its size cap.");
    else
        lx_respond_body(lr, 200, "application/json", sb->base, sb->len);
    lx_strbuf_free(sb);
}

/* ---- GET /v1/log/head ---------------------------------------------------------------------------------------- */

static int on_head(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL,
                           "No tree head has been signed yet (a server signs the empty log's head when it starts).");
        return 0;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 4096);
    lx_tlog_head_render(r, 0, 0, &sb);
    respond_text(lr, &sb);
    return 0;
}

void lx_api_log_head(lx_req_t *lr)
{
    static const char *const names[] = {NULL};
    const char *q[1];
    if (lx_req_query(lr, names, q) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_head);
    lx_db_job_add(&a->job, &lx_tlog_head_latest);
    lx_async_submit(a);
}

/* ---- GET /v1/log/heads ---------------------------------------------------------------------------------------- */

/* Oldest first. The cursor is a tree size in the opaque 16-byte form of the other lists' cursors (eight zero bytes,
 * then the size big-endian), so lx_req_page validates it. */
LX_DB_STMT(tlog_heads_page, 2,
           "SELECT tree_size, root_hash, timestamp, key_id, signature FROM log_heads WHERE tree_size > $1::bigint "
           "ORDER BY tree_size LIMIT $2::int");

static int on_heads(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const PGresult *r = a->job.results[0];
    int n = PQntuples(r), limit = *(const int *)a->user;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, LOG_DOC_MAX);
    lx_strbuf_puts(&sb, "{\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i) lx_strbuf_puts(&sb, ",");
        lx_tlog_head_render(r, i, 0, &sb);
    }
    lx_strbuf_puts(&sb, "],\"next_cursor\":");
    if (n == limit) {
        uint8_t bin[16] = {0};
        uint64_t last = strtoull(PQgetvalue(r, n - 1, 0), NULL, 10);
        for (int k = 0; k < 8; k++) bin[15 - k] = (uint8_t)(last >> (8 * k));
        char b64[32];
        sodium_bin2base64(b64, sizeof(b64), bin, 16, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        lx_strbuf_printf(&sb, "\"%s\"}", b64);
    } else {
        lx_strbuf_puts(&sb, "null}");
    }
    respond_text(lr, &sb);
    return 0;
}

void lx_api_log_heads(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", NULL};
    const char *q[2];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    int64_t after = -1;
    if (cursor[0] != '\0') {
        /* a tree size in the low half of a UUID-shaped cursor: the high half must be zero */
        lx_uuid_t u;
        uint64_t v = 0;
        int ok = lx_uuid_parse(cursor, strlen(cursor), &u) == 0;
        for (int i = 0; ok && i < 16; i++) {
            if (i < 8 && u.b[i] != 0) ok = 0;
            if (i >= 8) v = v << 8 | u.b[i];
        }
        if (!ok || v > (uint64_t)INT64_MAX) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.cursor", "cursor is not a value returned as next_cursor.");
            return;
        }
        after = (int64_t)v;
    }
    lx_async_t *a = lx_async_new(lr, on_heads);
    int *lim = lx_async_alloc(a, sizeof(int));
    *lim = limit;
    a->user = lim;
    char buf[24];
    lx_db_call_t *c = lx_db_job_add(&a->job, &tlog_heads_page);
    snprintf(buf, sizeof(buf), "%" PRId64, after);
    lx_db_param(c, 0, lx_async_dup(a, buf, strlen(buf)));
    snprintf(buf, sizeof(buf), "%d", limit);
    lx_db_param(c, 1, lx_async_dup(a, buf, strlen(buf)));
    lx_async_submit(a);
}

/* ---- GET /v1/log/consistency ------------------------------------------------------------------------------------ */

typedef struct {
    uint64_t from, to;
} range_t;

static int on_consistency(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const range_t *rg = a->user;
    const PGresult *head = a->job.results[0];
    uint64_t size = PQntuples(head) == 1 ? strtoull(PQgetvalue(head, 0, 0), NULL, 10) : 0;
    if (rg->to > size) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.to",
                           "to is beyond the newest signed head's tree_size (%" PRIu64 ").", size);
        return 0;
    }
    lx_tlog_nodes_t ns;
    lx_hash_t path[LX_MERKLE_MAX_PATH];
    size_t len = 0;
    int rc = lx_tlog_nodes_load(&ns, a->job.results[1]);
    if (rc == 0) rc = lx_merkle_consistency(rg->from, rg->to, lx_tlog_nodes_get, &ns, path, &len);
    lx_tlog_nodes_free(&ns);
    if (rc != 0) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The log's stored nodes are incomplete; request id %s.", lr->request_id);
        return 0;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 16384);
    lx_strbuf_printf(&sb, "{\"from\":%" PRIu64 ",\"to\":%" PRIu64 ",\"hashes\":", rg->from, rg->to);
    lx_tlog_hashes_render(path, len, &sb);
    lx_strbuf_puts(&sb, "}");
    respond_text(lr, &sb);
    return 0;
}

void lx_api_log_consistency(lx_req_t *lr)
{
    static const char *const names[] = {"from", "to", NULL};
    const char *q[2];
    if (lx_req_query(lr, names, q) != 0) return;
    range_t rg;
    if (q[0] == NULL || lx_tlog_parse_size(q[0], &rg.from) != 0 || rg.from == 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.from",
                           "from is required: a tree size of at least 1 (the older head's tree_size).");
        return;
    }
    if (q[1] == NULL || lx_tlog_parse_size(q[1], &rg.to) != 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.to", "to is required: a tree size (the newer head's tree_size).");
        return;
    }
    if (rg.from > rg.to) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.from", "from must not exceed to.");
        return;
    }
    lx_merkle_node_id_t *ids = lx_malloc(LX_MERKLE_MAX_PLAN * sizeof(*ids));
    lx_tlog_plan_t plan = {NULL, 0, 0};
    lx_tlog_plan_add(&plan, ids, lx_merkle_plan_consistency(rg.from, rg.to, ids));
    free(ids);
    lx_async_t *a = lx_async_new(lr, on_consistency);
    range_t *copy = lx_async_alloc(a, sizeof(*copy));
    *copy = rg;
    a->user = copy;
    lx_db_job_add(&a->job, &lx_tlog_head_latest); /* before the nodes: every node of a size up to this head exists */
    lx_tlog_plan_fetch(&plan, a);
    lx_async_submit(a);
}

/* ---- GET /v1/log/entries ---------------------------------------------------------------------------------------- */

LX_DB_STMT(tlog_size, 0, "SELECT tree_size FROM log_state");
LX_DB_STMT(tlog_entries, 2,
           "SELECT log_index, entry FROM log_entries WHERE log_index >= $1::bigint AND log_index < $2::bigint "
           "ORDER BY log_index");

typedef struct {
    uint64_t start, end;
    int end_given;
} entries_q_t;

static int on_entries(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const entries_q_t *eq = a->user;
    const PGresult *sr = a->job.results[0], *r = a->job.results[1];
    uint64_t size = PQntuples(sr) == 1 ? strtoull(PQgetvalue(sr, 0, 0), NULL, 10) : 0;
    uint64_t end = eq->end_given ? eq->end : size;
    if (eq->end_given && end > size) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.end", "end is beyond the log's size (%" PRIu64 ").", size);
        return 0;
    }
    if (eq->start > end) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.start", "start is beyond %s (%" PRIu64 ").",
                           eq->end_given ? "end" : "the log's size", end);
        return 0;
    }
    uint64_t stop = end - eq->start > ENTRIES_PER_CALL ? eq->start + ENTRIES_PER_CALL : end;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, LOG_DOC_MAX);
    lx_strbuf_puts(&sb, "{\"items\":[");
    uint64_t next = eq->start;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        uint64_t idx = strtoull(PQgetvalue(r, i, 0), NULL, 10);
        if (idx != next || idx >= stop) break; /* rows past the size read first belong to a later answer */
        if (i) lx_strbuf_puts(&sb, ",");
        lx_strbuf_printf(&sb, "{\"log_index\":%" PRIu64 ",\"entry\":", idx);
        lx_strbuf_append(&sb, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        lx_strbuf_puts(&sb, "}");
        next++;
    }
    if (next != stop) {
        lx_strbuf_free(&sb);
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The log's entries are incomplete; request id %s.", lr->request_id);
        return 0;
    }
    if (next < end)
        lx_strbuf_printf(&sb, "],\"next_start\":%" PRIu64 "}", next);
    else
        lx_strbuf_puts(&sb, "],\"next_start\":null}");
    respond_text(lr, &sb);
    return 0;
}

void lx_api_log_entries(lx_req_t *lr)
{
    static const char *const names[] = {"start", "end", NULL};
    const char *q[2];
    if (lx_req_query(lr, names, q) != 0) return;
    entries_q_t eq = {0, 0, 0};
    if (q[0] != NULL && lx_tlog_parse_size(q[0], &eq.start) != 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.start", "start must be a log index (an integer from 0).");
        return;
    }
    if (q[1] != NULL) {
        if (lx_tlog_parse_size(q[1], &eq.end) != 0) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.end",
                               "end must be a log index (an integer from 0; exclusive).");
            return;
        }
        if (eq.end < eq.start) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.start", "start must not exceed end.");
            return;
        }
        eq.end_given = 1;
    }
    lx_async_t *a = lx_async_new(lr, on_entries);
    entries_q_t *copy = lx_async_alloc(a, sizeof(*copy));
    *copy = eq;
    a->user = copy;
    char from[24], to[24];
    uint64_t upto = eq.end_given && eq.end - eq.start < ENTRIES_PER_CALL ? eq.end : eq.start + ENTRIES_PER_CALL;
    snprintf(from, sizeof(from), "%" PRIu64, eq.start);
    snprintf(to, sizeof(to), "%" PRIu64, upto);
    lx_db_job_add(&a->job, &tlog_size);
    lx_db_call_t *c = lx_db_job_add(&a->job, &tlog_entries);
    lx_db_param(c, 0, lx_async_dup(a, from, strlen(from)));
    lx_db_param(c, 1, lx_async_dup(a, to, strlen(to)));
    lx_async_submit(a);
}
