#include "api/common.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

json_t *lx_key_json(const PGresult *r, int row, int c)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "id", PQgetvalue(r, row, c), "account_id", PQgetvalue(r, row, c + 1),
                     "label", str_or_null(r, row, c + 2), "created_at", lx_ts_json(r, row, c + 3), "last_used_at",
                     lx_ts_json(r, row, c + 4), "revoked_at", lx_ts_json(r, row, c + 5));
}

const char *lx_async_page_limit(lx_async_t *a, int limit)
{
    int *lim = lx_async_alloc(a, sizeof(int));
    *lim = limit;
    a->user = lim;
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d", limit);
    return lx_async_dup(a, buf, (size_t)n);
}

static void bind_copies(lx_async_t *a, lx_db_call_t *c, lx_pgarr_t *cols, int n)
{
    for (int i = 0; i < n; i++) {
        lx_pgarr_finish(&cols[i]);
        lx_db_param_bin(c, i, lx_async_dup(a, cols[i].buf.base, cols[i].buf.len), (int)cols[i].buf.len);
    }
}

void lx_async_post(lx_async_t *a, lx_ledger_rows_t *ledger, lx_receipt_rows_t *receipts)
{
    bind_copies(a, lx_db_job_add(&a->job, &lx_ledger_insert_txns), ledger->txn, LX_TXN_NCOLS);
    bind_copies(a, lx_db_job_add(&a->job, &lx_receipts_insert), receipts->col, LX_RCPT_NCOLS);
    bind_copies(a, lx_db_job_add(&a->job, &lx_ledger_insert_entries), ledger->entry, LX_ENTRY_NCOLS);
}

const char *lx_async_str(lx_async_t *a, const char *s)
{
    return s != NULL ? lx_async_dup(a, s, strlen(s)) : NULL;
}

json_t *lx_page_json(const lx_async_t *a, const PGresult *r, lx_row_render_cb render, void *ctx)
{
    int n = PQntuples(r), limit = *(const int *)a->user;
    json_t *items = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(items, render(r, i, ctx));
    json_t *next = n == limit ? lx_cursor_json(PQgetvalue(r, n - 1, 0)) : json_null();
    return json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
}

const char *lx_async_new_id(lx_async_t *a)
{
    lx_uuid_t id;
    char s[LX_UUID_STRLEN + 1];
    lx_uuid_v7(&id);
    lx_uuid_format(&id, s);
    return lx_async_dup(a, s, LX_UUID_STRLEN);
}

void lx_async_submit_one(lx_req_t *lr, lx_async_cb_t cb, lx_db_stmt_t *stmt, const char *value)
{
    lx_async_t *a = lx_async_new(lr, cb);
    lx_db_param(lx_db_job_add(&a->job, stmt), 0, lx_async_str(a, value));
    lx_async_submit(a);
}

int lx_can_see_account(const lx_req_t *lr, const lx_uuid_t *id)
{
    return lr->who.role == LX_ROLE_OPERATOR || memcmp(lr->who.account_id.b, id->b, 16) == 0;
}

/* ---- idempotency ------------------------------------------------------------ */

LX_DB_STMT(idem_claim, 4, "SELECT state, status_code, resource_id FROM lx_idem_claim($1::uuid, $2, $3, $4)");
/* Only while the key is not completed (migrations/0021): LXI01 after a takeover, rolling back the execution. */
LX_DB_STMT(idem_record, 4, "SELECT lx_idem_complete($1::uuid, $2, $3::int, $4::uuid)");
LX_DB_STMT(idem_delete, 2, "DELETE FROM idempotency_keys WHERE account_id = $1::uuid AND key = $2 AND status_code IS NULL");

typedef struct {
    lx_idem_t idem;
    lx_idem_fresh_cb fresh;
    lx_idem_replay_cb replay;
} claim_t;

lx_idem_t *lx_idem_copy(lx_async_t *a, const lx_idem_t *idem)
{
    if (idem == NULL) return NULL;
    lx_idem_t *c = lx_async_alloc(a, sizeof(*c));
    c->account_id = lx_async_dup(a, idem->account_id, strlen(idem->account_id));
    c->key = lx_async_dup(a, idem->key, strlen(idem->key));
    c->operation = lx_async_dup(a, idem->operation, strlen(idem->operation));
    c->request_hash = lx_async_dup(a, idem->request_hash, strlen(idem->request_hash));
    return c;
}

static int on_claimed(lx_req_t *lr, lx_async_t *a)
{
    claim_t *cl = a->user;
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    const char *state = PQgetvalue(r, 0, 0);
    if (strcmp(state, "claimed") == 0) {
        /* The claim's memory dies with this async; fresh() copies what it keeps (lx_idem_copy). */
        cl->fresh(lr, &cl->idem);
    } else if (strcmp(state, "done") == 0) {
        cl->replay(lr, atoi(PQgetvalue(r, 0, 1)), PQgetvalue(r, 0, 2));
    } else if (strcmp(state, "mismatch") == 0) {
        lx_respond_problem(lr, LX_ERR_IDEMPOTENCY_KEY_REUSED, "header.idempotency-key",
                           "This Idempotency-Key was used with a different request.");
    } else {
        lx_respond_problem(lr, LX_ERR_IDEMPOTENCY_IN_PROGRESS, "header.idempotency-key",
                           "A request with this Idempotency-Key is still in progress.");
    }
    return 0;
}

void lx_idem_start(lx_req_t *lr, const char *operation, lx_idem_fresh_cb fresh, lx_idem_replay_cb replay)
{
    size_t klen;
    const char *key = lx_req_header(lr, "idempotency-key", &klen);
    if (key == NULL) {
        fresh(lr, NULL);
        return;
    }
    int ok = klen >= 1 && klen <= 255;
    for (size_t i = 0; ok && i < klen; i++) ok = key[i] >= 0x20 && key[i] < 0x7f;
    if (!ok) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "header.idempotency-key",
                           "Idempotency-Key must be 1 to 255 printable ASCII characters.");
        return;
    }
    /* The request hash binds the key to this request: the operation, the resource it names and the body bytes. The
     * resource is the route's parameters, an id in its canonical form: the path's spelling is not the request (a
     * trailing slash, an id in upper case or a bare "?" name the same resource, and a retry so spelt is a replay). */
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)operation, strlen(operation) + 1);
    for (size_t i = 0; i < lr->match.nparams; i++) {
        const lx_route_param_t *p = &lr->match.params[i];
        lx_uuid_t id;
        char canon[LX_UUID_STRLEN + 1];
        crypto_generichash_update(&st, (const uint8_t *)p->name, p->name_len);
        crypto_generichash_update(&st, (const uint8_t *)"=", 1);
        if (lx_uuid_parse(p->value, p->value_len, &id) == 0) {
            lx_uuid_format(&id, canon);
            crypto_generichash_update(&st, (const uint8_t *)canon, LX_UUID_STRLEN);
        } else {
            crypto_generichash_update(&st, (const uint8_t *)p->value, p->value_len);
        }
        crypto_generichash_update(&st, (const uint8_t *)"\n", 1);
    }
    crypto_generichash_update(&st, (const uint8_t *)"\n", 1);
    if (lr->req->entity.base != NULL) crypto_generichash_update(&st, (const uint8_t *)lr->req->entity.base, lr->req->entity.len);
    crypto_generichash_final(&st, h, sizeof(h));
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));

    lx_async_t *a = lx_async_new(lr, on_claimed);
    claim_t *cl = lx_async_alloc(a, sizeof(*cl));
    cl->fresh = fresh;
    cl->replay = replay;
    cl->idem.account_id = lx_async_dup(a, lr->who.account_id_str, strlen(lr->who.account_id_str));
    cl->idem.key = lx_async_dup(a, key, klen);
    cl->idem.operation = lx_async_dup(a, operation, strlen(operation));
    cl->idem.request_hash = lx_async_dup(a, hex, 64);
    a->user = cl;
    lx_db_call_t *c = lx_db_job_add(&a->job, &idem_claim);
    lx_db_param(c, 0, cl->idem.account_id);
    lx_db_param(c, 1, cl->idem.key);
    lx_db_param(c, 2, cl->idem.operation);
    lx_db_param(c, 3, cl->idem.request_hash);
    lx_async_submit(a);
}

void lx_idem_record(lx_async_t *a, const lx_idem_t *idem, int status, const char *resource_id)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    lx_db_call_t *c = lx_db_job_add(&a->job, &idem_record);
    lx_db_param(c, 0, idem->account_id);
    lx_db_param(c, 1, idem->key);
    lx_db_param(c, 2, lx_async_dup(a, code, strlen(code)));
    lx_db_param(c, 3, lx_async_dup(a, resource_id, strlen(resource_id)));
}

typedef struct {
    lx_db_job_t job;
    lx_req_hold_t hold;
    char account_id[LX_UUID_STRLEN + 1];
    char key[256];
} abandon_t;

static void on_abandoned(lx_db_job_t *job)
{
    if (job->status != LX_DB_OK)
        lx_log(LX_LOG_WARN, "idempotency_abandon_failed", "%s (the claim expires after 60 s)", job->message);
    abandon_t *ab = job->data;
    lx_req_release(&ab->hold);
    free(ab);
}

void lx_idem_abandon(lx_worker_t *w, lx_req_t *lr, const lx_idem_t *idem)
{
    abandon_t *ab = lx_calloc(1, sizeof(*ab));
    if (lr != NULL) lx_req_hold(lr, &ab->hold);
    lx_str_copy(ab->account_id, sizeof(ab->account_id), idem->account_id);
    lx_str_copy(ab->key, sizeof(ab->key), idem->key);
    lx_db_job_init(&ab->job, on_abandoned, ab);
    lx_db_call_t *c = lx_db_job_add(&ab->job, &idem_delete);
    lx_db_param(c, 0, ab->account_id);
    lx_db_param(c, 1, ab->key);
    if (lx_db_submit(w->db, &ab->job) != 0) on_abandoned(&ab->job);
}
