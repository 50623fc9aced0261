/*
 * Shared pieces of the API handlers: rendering rows as resources, and
 * Idempotency-Key handling for POSTs that create.
 *
 * Idempotency (per account, per key, 24 h): a claim row is committed first
 * (state "in progress"); the creating transaction then records the outcome
 * (status + resource id) in the same commit as the resource. A replay with
 * the same request hash re-renders the stored resource (secrets are never
 * stored, so they come back null); a different hash answers 422; an
 * unfinished claim answers 409 (a claim abandoned by a crash is taken over
 * after 60 s). Exactly one execution per key.
 */
#ifndef LX_API_COMMON_H
#define LX_API_COMMON_H

#include "auth/account.h"
#include "billing/receipts.h"
#include "http/request.h"

#define LX_KEY_COLS "id, account_id, label, created_at, last_used_at, revoked_at"

json_t *lx_key_json(const PGresult *r, int row, int col0);

/* ---- pages and small jobs ---- */
/* Remembers the page size (in a->user) for lx_page_json and returns it as a text parameter. */
const char *lx_async_page_limit(lx_async_t *a, int limit);
/* A copy of `s` that lives as long as `a`, or NULL for NULL. */
const char *lx_async_str(lx_async_t *a, const char *s);
/* {"items": [...], "next_cursor": ...} for rows read with lx_async_page_limit's limit; a row's id is column 0. */
typedef json_t *(*lx_row_render_cb)(const PGresult *r, int row, void *ctx);
json_t *lx_page_json(const lx_async_t *a, const PGresult *r, lx_row_render_cb render, void *ctx);
/* A new UUIDv7 as text in the async's memory (an id for the row a job creates). */
const char *lx_async_new_id(lx_async_t *a);
/* Adds a money movement to the async's transaction: its ledger transactions, its receipts, then its entries (the order
 * billing/receipts.h requires), their columns copied into the async's memory (the rows may be freed at once). */
void lx_async_post(lx_async_t *a, lx_ledger_rows_t *ledger, lx_receipt_rows_t *receipts);
/* One statement with one text parameter, answered by `cb` (a get by id, a replay). */
void lx_async_submit_one(lx_req_t *lr, lx_async_cb_t cb, lx_db_stmt_t *stmt, const char *value);
/* 1 when the caller may see account `id` (operators: all; others: only themselves). */
int lx_can_see_account(const lx_req_t *lr, const lx_uuid_t *id);

typedef struct st_lx_idem_t {
    char *account_id;
    char *key;
    char *operation;
    char *request_hash;
} lx_idem_t;

/*
 * fresh(lr, a, idem): do the work; idem is NULL when no Idempotency-Key was sent. When not NULL, add
 * lx_idem_record(job, idem, status, resource_id) to the creating job and call lx_idem_abandon(idem) if it fails.
 * replay(lr, status, resource_id): re-render the stored outcome.
 */
typedef void (*lx_idem_fresh_cb)(lx_req_t *lr, lx_idem_t *idem);
typedef void (*lx_idem_replay_cb)(lx_req_t *lr, int status, const char *resource_id);

void lx_idem_start(lx_req_t *lr, const char *operation, lx_idem_fresh_cb fresh, lx_idem_replay_cb replay);
/* Adds the outcome-recording statement to a creating job; strings are copied into the async `a`. */
void lx_idem_record(lx_async_t *a, const lx_idem_t *idem, int status, const char *resource_id);
/*
 * Deletes the claim so the client may retry with the same key. Call it before answering: lr's answer (lr may be
 * NULL) is held until the claim is gone, so the client's retry can never find it still there.
 */
void lx_idem_abandon(lx_worker_t *w, lx_req_t *lr, const lx_idem_t *idem);
/* Copies an idem into async-owned memory (the claim's async is freed before the work's callback runs). */
lx_idem_t *lx_idem_copy(lx_async_t *a, const lx_idem_t *idem);

#endif
