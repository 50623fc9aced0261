/*
 * The audit report's checks that run in C (GET /v1/audit/report, issue 5
 * item 8): pure functions over rows the caller reads, no I/O. The SQL checks
 * (ledger sums, balances, receipts against entries, sale counts, campaign
 * limits) live with the handler (api/audit.c); what needs cryptography or a
 * stream over a whole table lives here:
 *
 *  - every stored receipt: its body parses, is canonical (RFC 8785, byte for
 *    byte) and is signed by a published key; the columns say what the signed
 *    body says; its log entry, once sequenced, is the one derived from it;
 *  - the transparency log: every stored perfect node (levels from
 *    LX_MERKLE_STORED_LEVEL up, billing/tlog_nodes.h) equals the one the
 *    entries complete, and
 *    the root recomputed at every signed head's size equals that head's root
 *    (the frontier passes through every head size in order, so matching roots
 *    prove the heads mutually consistent), every head's signature verifies;
 *  - the operator action log's hash chain (migrations/0007_audit.sql).
 *
 * Findings go to an lx_audit_t: a list of discrepancy objects
 * {"check", "detail", ...ids}, every one counted per check, and listed up to
 * a cap per check (the count tells how many were not listed; nothing is
 * dropped silently).
 */
#ifndef LX_BILLING_AUDIT_H
#define LX_BILLING_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "billing/merkle.h"
#include "billing/receipt.h"
#include "util/strbuf.h"

#define LX_AUDIT_ACTION_CONTEXT "leadx-operator-action-v1\n"

/* ---- findings ---- */

typedef struct {
    json_t *discrepancies; /* array of {"check", "detail", ...} */
    json_t *totals;        /* {check: number found}, listed or not */
    json_t *listed;        /* {check: number listed} */
    size_t cap_per_check;
    uint64_t total;
} lx_audit_t;

void lx_audit_init(lx_audit_t *au, size_t cap_per_check);
void lx_audit_free(lx_audit_t *au);
/* Counts one discrepancy of `check` and lists it (under the cap): `obj` (stolen; NULL = {}) gets "check" and "detail"
 * (printf-style) members. */
void lx_audit_add(lx_audit_t *au, const char *check, json_t *obj, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same for an object that already has its "check" and "detail" (rendered by a SQL check); stolen. A value that is
 * not such an object is itself reported (check "audit"). */
void lx_audit_add_json(lx_audit_t *au, json_t *obj);
/* Counts `n` discrepancies of `check` found but not fetched (a SQL check reads at most the cap). */
void lx_audit_add_unlisted(lx_audit_t *au, const char *check, uint64_t n);

/* ---- the operator action log ---- */

/* Appends the canonical bytes of one action (migrations/0007_audit.sql); `at` is RFC 3339 UTC with 6 digits and
 * `details` the jsonb value's text as PostgreSQL prints it. */
void lx_audit_action_bytes(int64_t seq, const char *at, const char *operator_id, const char *action, const char *target,
                           const char *details, lx_strbuf_t *out);
/* SHA-256(prev || bytes). */
void lx_audit_action_hash(const uint8_t prev[32], int64_t seq, const char *at, const char *operator_id, const char *action,
                          const char *target, const char *details, uint8_t out[32]);

/* One stored action row; hashes decoded (`have_*` 0 when the stored value was not 32 bytes). */
typedef struct {
    int64_t seq;
    const char *at, *operator_id, *action, *target, *details;
    uint8_t prev_hash[32], hash[32];
    int have_prev, have_hash;
} lx_audit_action_t;

/* 1 when the row's hash recomputes from its own prev_hash and content, and prev_hash equals `expect_prev` (the hash of
 * the row before it; zeros before seq 1). */
int lx_audit_action_ok(const lx_audit_action_t *row, const uint8_t expect_prev[32]);

/* The chain walk, in seq order. */
typedef struct {
    int64_t seq;      /* the last row seen; 0 before the first */
    uint8_t hash[32]; /* its stored hash; zeros before the first */
    uint64_t rows;
} lx_audit_chain_t;

void lx_audit_chain_init(lx_audit_chain_t *c);
/* Checks the next row (action_chain discrepancies: a seq gap, a broken link, a hash that does not recompute). */
void lx_audit_chain_row(lx_audit_chain_t *c, lx_audit_t *au, const lx_audit_action_t *row);
/* At the end: the chain head (seq, hash) must be the last row's. `head_hash` NULL when unreadable. */
void lx_audit_chain_finish(lx_audit_chain_t *c, lx_audit_t *au, int64_t head_seq, const uint8_t *head_hash);

/* ---- receipts ---- */

/* One stored receipt row, every column as text (NULL = SQL NULL); issued_at already RFC 3339 (util/time.h). */
typedef struct {
    const char *id, *account_id, *kind, *ledger_txn, *amount, *currency, *lead_id, *sale_id, *reverses, *issued_at;
    const char *body;
    size_t body_len;
    const char *key_id, *signature;
    const char *log_index; /* NULL when not sequenced */
    const char *log_entry;
    size_t log_entry_len;
} lx_audit_receipt_row_t;

/*
 * Checks one receipt: receipt_signature (body not JSON, not canonical, signature or key not valid), receipt_body (a
 * column differs from the signed body; with `digest_key`, a lead_digest that is not the lead's), log_entry (the logged
 * entry is not the one derived from this receipt). Returns 1 when the body is canonical and the signature verifies.
 */
int lx_audit_receipt(lx_audit_t *au, const lx_keyring_t *ring, const uint8_t *digest_key, const lx_audit_receipt_row_t *row);

/* ---- the transparency log ---- */

typedef struct {
    lx_merkle_frontier_t frontier;
    uint64_t position; /* the next log index expected */
    uint64_t heads;    /* heads checked */
} lx_audit_log_t;

void lx_audit_log_init(lx_audit_log_t *lg);
/*
 * Feeds the entry stored at `log_index` (>= position; indexes skipped are reported missing, log_size). `stored` looks
 * up the stored perfect nodes the entry completes, those of level LX_MERKLE_STORED_LEVEL and up (log_node when missing
 * or different).
 */
void lx_audit_log_entry(lx_audit_log_t *lg, lx_audit_t *au, uint64_t log_index, const char *entry, size_t len,
                        lx_merkle_get_fn stored, void *ctx);
/* Reports the indexes from position up to `index` (exclusive) as missing and moves past them. */
void lx_audit_log_skip_to(lx_audit_log_t *lg, lx_audit_t *au, uint64_t index);
/*
 * Checks one signed head (the object as GET /v1/log/head shows it) once every entry below its tree_size has been fed:
 * its signature against `ring` (log_head_signature) and its root against the root recomputed from the entries at its
 * size (log_head_root).
 */
void lx_audit_log_head(lx_audit_log_t *lg, lx_audit_t *au, const lx_keyring_t *ring, const json_t *head);

#endif
