/*
 * The transparency-log sequencer: see sequencer.h for the contract.
 *
 * Why a polling thread with blocking libpq and not a NOTIFY per receipt:
 * NOTIFY takes a global lock at commit and would serialise every money
 * transaction; a poll every interval costs one cheap query when idle. Why
 * blocking libpq: the thread has nothing else to do while a round runs, and
 * the event loops never see this connection (like db/listen.c).
 *
 * Why everything is computed in C and written in bulk: a round of 20,000
 * receipts is a handful of statements (the arrays travel as text parameters),
 * so sequencing keeps far ahead of intake; the receipt hash and entry bytes
 * are produced by the same functions `leadx verify` and the audit use
 * (billing/receipt.h), so the server cannot log something they would
 * compute differently.
 *
 * Why one transaction per round: the lock on log_state's single row is the
 * "one sequencer at a time" guarantee across processes, and log_entries,
 * log_nodes, the queue, tree_size and the head move together or not at all,
 * so a crash or a cancelled round never leaves a log whose stored nodes
 * disagree with its size.
 */
#include "billing/sequencer.h"
#include "db/bgjob.h"
#include "billing/merkle.h"
#include "billing/receipt.h"
#include "billing/tlog_nodes.h"
#include "util/b64.h"
#include "util/canon.h"
#include "util/log.h"
#include "util/time.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_DOC_MAX ((size_t)256 << 20) /* hard cap of one round's parameter documents (far above 20,000 rows) */

struct st_lx_sequencer_t {
    const lx_keys_t *keys;
    lx_bgjob_t *job;
    _Atomic uint64_t tree_size, entries_total, heads_total;
    int vacuum_due; /* the last round deleted queue rows */
    /* A round's documents, kept from round to round (the thread's only; large rounds would fault fresh pages in). */
    lx_strbuf_t ids, entries, scratch, canon, levels, idxs, hashes;
};

/* ---- statements ------------------------------------------------------------------------------------------------ */

/* Anything to do? (no lock, no transaction: the idle poll) */
static const char SQL_CHECK[] = "SELECT EXISTS (SELECT 1 FROM receipt_queue) OR NOT EXISTS "
                                "(SELECT 1 FROM log_heads h JOIN log_state s ON h.tree_size = s.tree_size)";
/* The sequencer's lock: another process holding it means that process is appending; skip the round. */
static const char SQL_LOCK[] =
    "SELECT s.tree_size, EXISTS (SELECT 1 FROM log_heads h WHERE h.tree_size = s.tree_size) FROM log_state s "
    "FOR UPDATE SKIP LOCKED";
static const char SQL_NODES[] = LX_TLOG_NODES_SQL;
/* A queued row carries its entry (billing/receipts.h); a row an earlier server queued without one (NULL) is derived
 * from its receipt, which the lateral join reads only for such rows (OFFSET 0 keeps the subquery whole, so
 * q.entry IS NULL gates its index probe instead of filtering after it). */
static const char SQL_QUEUE[] =
    "SELECT q.receipt_id, q.entry, r.kind, r.body, r.key_id, r.signature FROM receipt_queue q "
    "LEFT JOIN LATERAL (SELECT r.kind, r.body, r.key_id, r.signature FROM receipts r "
    "WHERE q.entry IS NULL AND r.id = q.receipt_id OFFSET 0) r ON true ORDER BY q.receipt_id LIMIT $1::int";
/* Entries are canonical JSON: RFC 8785 escapes every control character, so a raw LF separates them safely. */
static const char SQL_ENTRIES[] =
    "INSERT INTO log_entries (log_index, receipt_id, entry) SELECT $1::bigint + t.o - 1, t.r::uuid, t.e "
    "FROM unnest(string_to_array($2, ','), string_to_array($3, E'\\n')) WITH ORDINALITY AS t(r, e, o)";
static const char SQL_NODES_INSERT[] =
    "INSERT INTO log_nodes (level, idx, hash) SELECT t.l, t.i, decode(t.h, 'hex') "
    "FROM unnest(string_to_array($1, ',')::smallint[], string_to_array($2, ',')::bigint[], string_to_array($3, ',')) "
    "AS t(l, i, h)";
static const char SQL_DEQUEUE[] = "DELETE FROM receipt_queue WHERE receipt_id = ANY (string_to_array($1, ',')::uuid[])";
static const char SQL_STATE[] = "UPDATE log_state SET tree_size = $1::bigint";
/* Outside a round's transaction. SKIP_LOCKED: another process's sequencer vacuuming the queue is as good. */
static const char SQL_VACUUM[] = "VACUUM (SKIP_LOCKED) receipt_queue";
static const char SQL_HEAD[] = "INSERT INTO log_heads (tree_size, root_hash, timestamp, key_id, signature) "
                               "VALUES ($1::bigint, $2, $3, $4, $5) ON CONFLICT (tree_size) DO NOTHING";

/* ---- helpers ----------------------------------------------------------------------------------------------------- */

/* ---- the frontier's nodes ---------------------------------------------------------------------------------------- */

static int load_frontier(lx_sequencer_t *s, PGconn *pg, uint64_t size, lx_merkle_frontier_t *f)
{
    memset(f, 0, sizeof(*f));
    if (size == 0) return 0;
    lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    size_t n = lx_merkle_plan_root(size, plan);
    lx_strbuf_t arg[3];
    for (int i = 0; i < 3; i++) lx_strbuf_init(&arg[i], 8192);
    lx_tlog_nodes_params(plan, n, &arg[0], &arg[1], &arg[2]);
    const char *params[] = {arg[0].base, arg[1].base, arg[2].base};
    PGresult *r = arg[0].overflow || arg[1].overflow || arg[2].overflow
                      ? NULL
                      : lx_bgjob_run(s->job, pg, "frontier", SQL_NODES, 3, params, PGRES_TUPLES_OK);
    for (int i = 0; i < 3; i++) lx_strbuf_free(&arg[i]);
    if (r == NULL) return -1;
    lx_tlog_nodes_t ns;
    int bad = lx_tlog_nodes_load(&ns, r) != 0 || lx_merkle_frontier_load(f, size, lx_tlog_nodes_get, &ns) != 0;
    lx_tlog_nodes_free(&ns);
    PQclear(r);
    if (bad) {
        lx_log(LX_LOG_ERROR, "sequencer_corrupt", "the log's nodes and entries lack the right edge of the tree of size %" PRIu64,
               size);
        return -1;
    }
    return 0;
}

/* ---- one round ---------------------------------------------------------------------------------------------------- */

typedef struct {
    lx_strbuf_t *levels, *idxs, *hashes; /* the nodes the appended leaves complete, as log_nodes rows */
    size_t n;
} emitted_t;

/* Appends "," (unless first) and the decimal of v: no printf, it runs for every node. */
static void put_u64(lx_strbuf_t *sb, int first, uint64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (!first) *--p = ',';
    lx_strbuf_append(sb, p, (size_t)(buf + sizeof(buf) - p));
}

static void on_emit(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h)
{
    if (level < LX_MERKLE_STORED_LEVEL) return; /* computed from the entries when needed (billing/tlog_nodes.h) */
    emitted_t *e = ctx;
    static const char hex[] = "0123456789abcdef";
    char buf[65], *p = buf;
    if (e->n) *p++ = ',';
    for (int i = 0; i < 32; i++) {
        *p++ = hex[h->h[i] >> 4];
        *p++ = hex[h->h[i] & 15];
    }
    put_u64(e->levels, e->n == 0, level);
    put_u64(e->idxs, e->n == 0, index);
    lx_strbuf_append(e->hashes, buf, (size_t)(p - buf));
    e->n++;
}

/* A sale's or refund's fields for its log entry, read from the body's canonical text: a member scan, not a parse into
 * a tree (a round reads up to 20,000 bodies; building Jansson's tree was most of this thread's time). Absent or malformed
 * fields stay empty / -1, and the caller warns. The digest is base64url and the mode a word, so neither has an
 * escape to undo: a value with a backslash is malformed. */
typedef struct {
    char digest[LX_HASH_B64_LEN + 1], mode[16];
    int share_index;
} sale_fields_t;

static void member_word(const char *body, size_t len, const char *key, char *out, size_t cap)
{
    const char *v;
    size_t vlen;
    out[0] = '\0';
    if (lx_canon_member(body, len, key, &v, &vlen) != 0 || vlen < 2 || vlen - 2 >= cap || v[0] != '"' || v[vlen - 1] != '"' ||
        memchr(v, '\\', vlen) != NULL)
        return;
    memcpy(out, v + 1, vlen - 2);
    out[vlen - 2] = '\0';
}

static void sale_fields(const char *body, size_t len, sale_fields_t *f)
{
    member_word(body, len, "lead_digest", f->digest, sizeof(f->digest));
    member_word(body, len, "mode", f->mode, sizeof(f->mode));
    f->share_index = -1;
    const char *v;
    size_t vlen;
    if (lx_canon_member(body, len, "share_index", &v, &vlen) != 0 || vlen > 10 || (vlen > 1 && v[0] == '0')) return;
    int64_t k = 0;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9') return;
        k = k * 10 + (v[i] - '0');
    }
    if (k <= INT32_MAX) f->share_index = (int)k;
}

/* The log entry of queue row i that came without one, derived from its receipt (columns 2-5: kind, body, key_id,
 * signature) into `canon`. */
static void entry_from_receipt(const PGresult *q, int i, lx_strbuf_t *scratch, lx_strbuf_t *canon)
{
    const char *id = PQgetvalue(q, i, 0), *kind = PQgetvalue(q, i, 2), *body = PQgetvalue(q, i, 3);
    size_t len = (size_t)PQgetlength(q, i, 3);
    char receipt_hash[LX_HASH_B64_LEN + 1];
    lx_receipt_hash(body, len, PQgetvalue(q, i, 4), PQgetvalue(q, i, 5), scratch, receipt_hash);
    sale_fields_t sf = {.share_index = -1};
    if (strcmp(kind, "sale") == 0 || strcmp(kind, "refund") == 0) {
        sale_fields(body, len, &sf);
        if (sf.digest[0] == '\0' || sf.mode[0] == '\0' || sf.share_index < 0)
            lx_log(LX_LOG_WARN, "sequencer_odd_receipt", "receipt %s (%s) lacks lead_digest, mode or share_index", id, kind);
    }
    lx_log_entry_canon(kind, receipt_hash, sf.digest[0] ? sf.digest : NULL, sf.mode[0] ? sf.mode : NULL, sf.share_index, canon);
}

/* Returns the number of receipts appended (0: nothing to do or another sequencer holds the lock), or -1. */
static int round_once(lx_sequencer_t *s, PGconn *pg)
{
    /* The rows the last round deleted, before this round scans the queue (migrations/0011). Not right after that
     * round's commit: money transactions that began before it still see those rows, so they could not go yet. A
     * failure is only logged; the next round tries again. */
    if (s->vacuum_due) {
        PGresult *v = lx_bgjob_run(s->job, pg, "vacuum", SQL_VACUUM, 0, NULL, PGRES_COMMAND_OK);
        if (v != NULL) {
            PQclear(v);
            s->vacuum_due = 0;
        }
    }
    PGresult *r = lx_bgjob_run(s->job, pg, "check", SQL_CHECK, 0, NULL, PGRES_TUPLES_OK);
    if (r == NULL) return -1;
    int work = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!work) return 0;

    if (lx_bgjob_command(s->job, pg, "begin", "BEGIN", 0, NULL) != 0) return -1;
    int appended = -1;
    lx_strbuf_t *ids = &s->ids, *entries = &s->entries, *scratch = &s->scratch, *canon = &s->canon;
    emitted_t em = {&s->levels, &s->idxs, &s->hashes, 0};
    lx_strbuf_reset(ids);
    lx_strbuf_reset(entries);
    lx_strbuf_reset(em.levels);
    lx_strbuf_reset(em.idxs);
    lx_strbuf_reset(em.hashes);
    PGresult *q = NULL;

    if ((r = lx_bgjob_run(s->job, pg, "lock", SQL_LOCK, 0, NULL, PGRES_TUPLES_OK)) == NULL) goto out;
    if (PQntuples(r) != 1) { /* another process's sequencer holds the lock */
        PQclear(r);
        appended = 0;
        goto out;
    }
    uint64_t size = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    int has_head = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);

    char limit[16];
    snprintf(limit, sizeof(limit), "%d", LX_SEQUENCER_BATCH_MAX);
    const char *qp[] = {limit};
    if ((q = lx_bgjob_run(s->job, pg, "queue", SQL_QUEUE, 1, qp, PGRES_TUPLES_OK)) == NULL) goto out;
    int n = PQntuples(q);
    if (n == 0 && has_head) {
        appended = 0;
        goto out;
    }
    lx_merkle_frontier_t f;
    if (load_frontier(s, pg, size, &f) != 0) goto out;
    int appended_n = 0;
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(q, i, 0);
        lx_strbuf_reset(canon);
        if (!PQgetisnull(q, i, 1)) {
            lx_strbuf_append(canon, PQgetvalue(q, i, 1), (size_t)PQgetlength(q, i, 1));
        } else if (PQgetisnull(q, i, 2)) {
            /* Left queued: the audit reports a queue row whose receipt does not exist. */
            lx_log(LX_LOG_WARN, "sequencer_odd_receipt", "queued receipt %s does not exist", id);
            continue;
        } else {
            entry_from_receipt(q, i, scratch, canon);
        }
        lx_hash_t leaf;
        lx_merkle_leaf_hash(canon->base, canon->len, &leaf);
        lx_merkle_frontier_append(&f, &leaf, on_emit, &em);
        if (appended_n++) {
            lx_strbuf_puts(ids, ",");
            lx_strbuf_puts(entries, "\n");
        }
        lx_strbuf_puts(ids, id);
        lx_strbuf_append(entries, canon->base, canon->len);
    }
    if (ids->overflow || entries->overflow || em.levels->overflow || em.idxs->overflow || em.hashes->overflow || canon->overflow) {
        lx_log(LX_LOG_ERROR, "sequencer_failed", "a round's documents exceed their cap");
        goto out;
    }
    lx_strbuf_append(ids, "", 1);
    lx_strbuf_append(entries, "", 1);
    lx_strbuf_append(em.levels, "", 1);
    lx_strbuf_append(em.idxs, "", 1);
    lx_strbuf_append(em.hashes, "", 1);

    char first[24], new_size[24];
    snprintf(first, sizeof(first), "%" PRIu64, size);
    snprintf(new_size, sizeof(new_size), "%" PRIu64, f.size);
    if (appended_n > 0) {
        const char *ep[] = {first, ids->base, entries->base};
        const char *np[] = {em.levels->base, em.idxs->base, em.hashes->base};
        const char *dp[] = {ids->base};
        const char *sp[] = {new_size};
        if (lx_bgjob_command(s->job, pg, "entries", SQL_ENTRIES, 3, ep) != 0 ||
            (em.n != 0 && lx_bgjob_command(s->job, pg, "nodes", SQL_NODES_INSERT, 3, np) != 0) ||
            lx_bgjob_command(s->job, pg, "dequeue", SQL_DEQUEUE, 1, dp) != 0 ||
            lx_bgjob_command(s->job, pg, "state", SQL_STATE, 1, sp) != 0)
            goto out;
    }
    /* The signed head of the new size. */
    lx_hash_t root;
    lx_merkle_frontier_root(&f, &root);
    char root_b64[LX_HASH_B64_LEN + 1], ts[LX_TS_LEN + 1], sig[LX_SIG_B64_LEN + 1];
    lx_b64url_encode(root.h, 32, root_b64);
    const lx_signer_t *signer = lx_keys_signer(s->keys); /* before the timestamp (billing/receipts.h) */
    lx_ts_format_us(lx_ts_now_us(), ts);
    lx_strbuf_reset(canon);
    lx_tree_head_canon(f.size, root_b64, ts, canon);
    lx_sign_b64(signer->sk, LX_TREE_HEAD_CONTEXT, canon->base, canon->len, sig);
    const char *hp[] = {new_size, root_b64, ts, signer->key_id, sig};
    if (lx_bgjob_command(s->job, pg, "head", SQL_HEAD, 5, hp) != 0) goto out;
    if (lx_bgjob_command(s->job, pg, "commit", "COMMIT", 0, NULL) != 0) goto out;
    atomic_store(&s->tree_size, f.size);
    atomic_fetch_add(&s->entries_total, (uint64_t)appended_n);
    atomic_fetch_add(&s->heads_total, 1);
    lx_log(LX_LOG_DEBUG, "log_sequenced", "appended %d receipts; tree size %" PRIu64 ", head signed", appended_n, f.size);
    appended = appended_n;
    s->vacuum_due = appended_n > 0;
out:
    if (q != NULL) PQclear(q);
    if (appended < 0 || PQtransactionStatus(pg) != PQTRANS_IDLE) {
        PGresult *rb = PQexec(pg, "ROLLBACK");
        PQclear(rb);
    }
    return appended;
}

/* ---- the thread ---------------------------------------------------------------------------------------------------- */

static int round_cb(void *ctx, lx_bgjob_t *job, PGconn *pg)
{
    (void)job;
    return round_once(ctx, pg);
}

lx_sequencer_t *lx_sequencer_start(const char *conninfo, const lx_keys_t *keys, int64_t interval_ms)
{
    lx_sequencer_t *s = lx_calloc(1, sizeof(*s));
    s->keys = keys;
    lx_strbuf_init(&s->ids, ROUND_DOC_MAX);
    lx_strbuf_init(&s->entries, ROUND_DOC_MAX);
    lx_strbuf_init(&s->scratch, 1 << 20);
    lx_strbuf_init(&s->canon, 4096);
    lx_strbuf_init(&s->levels, ROUND_DOC_MAX);
    lx_strbuf_init(&s->idxs, ROUND_DOC_MAX);
    lx_strbuf_init(&s->hashes, ROUND_DOC_MAX);
    lx_bgjob_config_t cfg = {"sequencer", interval_ms, LX_SEQUENCER_BATCH_MAX, round_cb, s};
    lx_bgjob_start(&s->job, conninfo, &cfg);
    return s;
}

void lx_sequencer_stop(lx_sequencer_t *s)
{
    lx_bgjob_stop(s->job); /* a round in flight is cancelled and rolls back; the next sequencer redoes it */
    lx_strbuf_t *bufs[] = {&s->ids, &s->entries, &s->scratch, &s->canon, &s->levels, &s->idxs, &s->hashes};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) lx_strbuf_free(bufs[i]);
    free(s);
}

void lx_sequencer_render_metrics(const lx_sequencer_t *s, lx_strbuf_t *out)
{
    lx_sequencer_t *m = (lx_sequencer_t *)s; /* atomics are read only */
    lx_bgjob_stats_t st;
    lx_bgjob_stats(m->job, &st);
    lx_strbuf_printf(out,
                     "# HELP leadx_log_tree_size Entries in the receipt transparency log after this process's last round.\n"
                     "# TYPE leadx_log_tree_size gauge\nleadx_log_tree_size %llu\n"
                     "# HELP leadx_log_entries_appended_total Receipts this process's sequencer appended to the log.\n"
                     "# TYPE leadx_log_entries_appended_total counter\nleadx_log_entries_appended_total %llu\n"
                     "# HELP leadx_log_heads_signed_total Signed tree heads this process's sequencer published.\n"
                     "# TYPE leadx_log_heads_signed_total counter\nleadx_log_heads_signed_total %llu\n"
                     "# HELP leadx_log_sequencer_rounds_total Sequencer polls (idle ones included).\n"
                     "# TYPE leadx_log_sequencer_rounds_total counter\nleadx_log_sequencer_rounds_total %llu\n"
                     "# HELP leadx_log_sequencer_errors_total Sequencer rounds that failed (rolled back and retried).\n"
                     "# TYPE leadx_log_sequencer_errors_total counter\nleadx_log_sequencer_errors_total %llu\n"
                     "# HELP leadx_log_sequencer_seconds_total Time spent in sequencer rounds.\n"
                     "# TYPE leadx_log_sequencer_seconds_total counter\nleadx_log_sequencer_seconds_total %.6f\n"
                     "# HELP leadx_log_sequencer_connected 1 while the sequencer's database connection is up.\n"
                     "# TYPE leadx_log_sequencer_connected gauge\nleadx_log_sequencer_connected %d\n",
                     (unsigned long long)atomic_load(&m->tree_size), (unsigned long long)atomic_load(&m->entries_total),
                     (unsigned long long)atomic_load(&m->heads_total), (unsigned long long)st.rounds, (unsigned long long)st.errors,
                     (double)st.round_us / 1e6, st.connected);
}
