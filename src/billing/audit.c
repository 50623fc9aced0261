/*
 * The audit report's C checks (billing/audit.h). Everything here re-derives
 * what the server once computed from what the database holds now, with the
 * same pure functions an outside verifier uses (billing/receipt.h,
 * billing/merkle.h, util/canon.h), and reports every difference it finds: a
 * check that stops at the first problem would let one corrupted row hide the
 * next.
 */
#include "billing/audit.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "util/canon.h"

/* ---- findings ---- */

void lx_audit_init(lx_audit_t *au, size_t cap_per_check)
{
    au->discrepancies = json_array();
    au->totals = json_object();
    au->listed = json_object();
    au->cap_per_check = cap_per_check;
    au->total = 0;
}

void lx_audit_free(lx_audit_t *au)
{
    json_decref(au->discrepancies);
    json_decref(au->totals);
    json_decref(au->listed);
    au->discrepancies = au->totals = au->listed = NULL;
}

static void bump(json_t *counts, const char *check, uint64_t n)
{
    json_t *v = json_object_get(counts, check);
    json_int_t now = v != NULL ? json_integer_value(v) : 0;
    json_object_set_new(counts, check, json_integer(now + (json_int_t)n));
}

static void list(lx_audit_t *au, const char *check, json_t *obj)
{
    au->total++;
    bump(au->totals, check, 1);
    json_t *listed = json_object_get(au->listed, check);
    if (listed != NULL && (size_t)json_integer_value(listed) >= au->cap_per_check) {
        json_decref(obj);
        return;
    }
    bump(au->listed, check, 1);
    json_array_append_new(au->discrepancies, obj);
}

void lx_audit_add(lx_audit_t *au, const char *check, json_t *obj, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (obj == NULL) obj = json_object();
    json_object_set_new(obj, "check", json_string(check));
    /* Details quote stored data, which may be anything: keep them valid UTF-8. */
    json_t *d = json_string(detail);
    json_object_set_new(obj, "detail", d != NULL ? d : json_string("(the detail quotes bytes that are not UTF-8)"));
    list(au, check, obj);
}

void lx_audit_add_json(lx_audit_t *au, json_t *obj)
{
    const char *check = json_string_value(json_object_get(obj, "check"));
    if (!json_is_object(obj) || check == NULL || !json_is_string(json_object_get(obj, "detail"))) {
        json_decref(obj);
        lx_audit_add(au, "audit", NULL, "a check produced a finding it could not describe");
        return;
    }
    list(au, check, obj);
}

void lx_audit_add_unlisted(lx_audit_t *au, const char *check, uint64_t n)
{
    if (n == 0) return;
    au->total += n;
    bump(au->totals, check, n);
}

/* ---- the operator action log ---- */

void lx_audit_action_bytes(int64_t seq, const char *at, const char *operator_id, const char *action, const char *target,
                           const char *details, lx_strbuf_t *out)
{
    lx_strbuf_printf(out, LX_AUDIT_ACTION_CONTEXT "%" PRId64 "\n", seq);
    const char *parts[] = {at, operator_id, action, target};
    for (size_t i = 0; i < 4; i++) {
        lx_strbuf_puts(out, parts[i]);
        lx_strbuf_puts(out, "\n");
    }
    lx_strbuf_puts(out, details);
}

void lx_audit_action_hash(const uint8_t prev[32], int64_t seq, const char *at, const char *operator_id, const char *action,
                          const char *target, const char *details, uint8_t out[32])
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)1 << 30);
    lx_audit_action_bytes(seq, at, operator_id, action, target, details, &sb);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, prev, 32);
    crypto_hash_sha256_update(&st, (const uint8_t *)sb.base, sb.len);
    crypto_hash_sha256_final(&st, out);
    lx_strbuf_free(&sb);
}

static int row_recomputes(const lx_audit_action_t *row)
{
    if (!row->have_prev || !row->have_hash) return 0;
    uint8_t h[32];
    lx_audit_action_hash(row->prev_hash, row->seq, row->at, row->operator_id, row->action, row->target, row->details, h);
    return memcmp(h, row->hash, 32) == 0;
}

int lx_audit_action_ok(const lx_audit_action_t *row, const uint8_t expect_prev[32])
{
    return row_recomputes(row) && memcmp(row->prev_hash, expect_prev, 32) == 0;
}

void lx_audit_chain_init(lx_audit_chain_t *c)
{
    memset(c, 0, sizeof(*c));
}

static json_t *seq_json(int64_t seq)
{
    return json_pack("{s:I}", "seq", (json_int_t)seq);
}

void lx_audit_chain_row(lx_audit_chain_t *c, lx_audit_t *au, const lx_audit_action_t *row)
{
    int contiguous = row->seq == c->seq + 1;
    if (!contiguous && row->seq == c->seq + 2)
        lx_audit_add(au, "action_chain", seq_json(row->seq), "operator action %" PRId64 " is missing from the chain", c->seq + 1);
    else if (!contiguous)
        lx_audit_add(au, "action_chain", seq_json(row->seq),
                     row->seq > c->seq ? "operator actions %" PRId64 "..%" PRId64 " are missing from the chain"
                                       : "operator action %" PRId64 " is out of order (after %" PRId64 ")",
                     row->seq > c->seq ? c->seq + 1 : row->seq, row->seq > c->seq ? row->seq - 1 : c->seq);
    else if (!row->have_prev || memcmp(row->prev_hash, c->hash, 32) != 0)
        lx_audit_add(au, "action_chain", seq_json(row->seq),
                     "operator action %" PRId64 ": prev_hash is not the hash of the action before it", row->seq);
    if (!row_recomputes(row))
        lx_audit_add(au, "action_chain", seq_json(row->seq),
                     "operator action %" PRId64 ": its hash does not recompute from its content (the row was changed)", row->seq);
    c->seq = row->seq;
    if (row->have_hash)
        memcpy(c->hash, row->hash, 32);
    else
        memset(c->hash, 0, 32);
    c->rows++;
}

void lx_audit_chain_finish(lx_audit_chain_t *c, lx_audit_t *au, int64_t head_seq, const uint8_t *head_hash)
{
    if (head_seq != c->seq)
        lx_audit_add(au, "action_chain", seq_json(head_seq),
                     "the chain head names operator action %" PRId64 " but the last action stored is %" PRId64, head_seq, c->seq);
    else if (head_hash == NULL || memcmp(head_hash, c->hash, 32) != 0)
        lx_audit_add(au, "action_chain", seq_json(head_seq), "the chain head's hash is not the last action's hash");
}

/* What a verifier's error says: its detail, or its first field's message when the detail is empty. */
static const char *failure(const lx_error_t *err)
{
    if (err->detail[0] != '\0') return err->detail;
    return err->nfields ? err->fields[0].message : "(no reason given)";
}

/* ---- receipts ---- */

static json_t *receipt_ids(const lx_audit_receipt_row_t *row)
{
    json_t *o = json_object();
    if (row->id != NULL) json_object_set_new(o, "receipt_id", json_string(row->id));
    if (row->account_id != NULL) json_object_set_new(o, "account_id", json_string(row->account_id));
    if (row->ledger_txn != NULL) json_object_set_new(o, "txn_id", json_string(row->ledger_txn));
    if (row->log_index != NULL) json_object_set_new(o, "log_index", json_integer(strtoll(row->log_index, NULL, 10)));
    return o;
}

/* The body's member `key` as text for comparing with a column: NULL when absent or null. *ok = 0 when it is another
 * type than a string. */
static const char *body_str(const json_t *body, const char *key, int *ok)
{
    const json_t *v = json_object_get(body, key);
    if (v == NULL || json_is_null(v)) return NULL;
    if (!json_is_string(v)) {
        *ok = 0;
        return NULL;
    }
    return json_string_value(v);
}

static void compare_column(lx_audit_t *au, const lx_audit_receipt_row_t *row, const json_t *body, const char *member,
                           const char *column, const char *value)
{
    int ok = 1;
    const char *b = body_str(body, member, &ok);
    if (ok && ((b == NULL && value == NULL) || (b != NULL && value != NULL && strcmp(b, value) == 0))) return;
    json_t *ids = receipt_ids(row);
    json_object_set_new(ids, "column", json_string(column));
    lx_audit_add(au, "receipt_body", ids, "receipt %s: column %s (%s) differs from the signed body's %s", row->id, column,
                 value != NULL ? value : "null", member);
}

static void compare_columns(lx_audit_t *au, const lx_audit_receipt_row_t *row, const json_t *body, const uint8_t *digest_key)
{
    compare_column(au, row, body, "id", "id", row->id);
    compare_column(au, row, body, "account", "account_id", row->account_id);
    compare_column(au, row, body, "kind", "kind", row->kind);
    compare_column(au, row, body, "ledger_txn", "ledger_txn", row->ledger_txn);
    compare_column(au, row, body, "currency", "currency", row->currency);
    compare_column(au, row, body, "issued_at", "issued_at", row->issued_at);
    compare_column(au, row, body, "lead_id", "lead_id", row->lead_id);
    compare_column(au, row, body, "sale_id", "sale_id", row->sale_id);
    compare_column(au, row, body, "reverses", "reverses", row->reverses);
    const json_t *amount = json_object_get(body, "amount");
    char *end = NULL;
    long long col = row->amount != NULL ? strtoll(row->amount, &end, 10) : 0;
    if (!json_is_integer(amount) || row->amount == NULL || *end != '\0' || json_integer_value(amount) != col) {
        json_t *ids = receipt_ids(row);
        json_object_set_new(ids, "column", json_string("amount"));
        lx_audit_add(au, "receipt_body", ids, "receipt %s: column amount (%s) differs from the signed body's amount", row->id,
                     row->amount != NULL ? row->amount : "null");
    }
    int ok = 1;
    const char *lead = body_str(body, "lead_id", &ok), *digest = body_str(body, "lead_digest", &ok);
    if (digest_key != NULL && lead != NULL && digest != NULL) {
        char want[LX_HASH_B64_LEN + 1];
        lx_lead_digest(digest_key, lead, want);
        if (strcmp(want, digest) != 0)
            lx_audit_add(au, "receipt_body", receipt_ids(row), "receipt %s: lead_digest is not the digest of lead %s", row->id,
                         lead);
    }
}

/* The log entry this receipt must have: from the stored bytes (body, key_id, signature) as they are. */
static void expected_entry(const lx_audit_receipt_row_t *row, const json_t *body, lx_strbuf_t *out)
{
    lx_strbuf_t rendered;
    lx_strbuf_init(&rendered, (size_t)1 << 30);
    char hash[LX_HASH_B64_LEN + 1];
    lx_receipt_hash(row->body, row->body_len, row->key_id, row->signature, &rendered, hash);
    lx_strbuf_free(&rendered);
    int ok = 1;
    const char *kind = body_str(body, "kind", &ok);
    const json_t *si = json_object_get(body, "share_index");
    int share_index =
        json_is_integer(si) && json_integer_value(si) >= 0 && json_integer_value(si) < 1000 ? (int)json_integer_value(si) : -1;
    lx_log_entry_canon(kind != NULL ? kind : row->kind, hash, body_str(body, "lead_digest", &ok), body_str(body, "mode", &ok),
                       share_index, out);
}

int lx_audit_receipt(lx_audit_t *au, const lx_keyring_t *ring, const uint8_t *digest_key, const lx_audit_receipt_row_t *row)
{
    json_error_t jerr;
    json_t *body = json_loadb(row->body, row->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        lx_audit_add(au, "receipt_signature", receipt_ids(row), "receipt %s: the stored body is not a JSON object (%s)", row->id,
                     body == NULL ? jerr.text : "another JSON value");
        json_decref(body);
        return 0;
    }
    int good = 1;
    lx_strbuf_t canon;
    lx_strbuf_init(&canon, (size_t)1 << 30);
    lx_error_t err;
    lx_error_init(&err);
    if (lx_canon_json(body, &canon, &err) != LX_OK) {
        lx_audit_add(au, "receipt_signature", receipt_ids(row),
                     "receipt %s: the body holds a value receipts never carry (%s at %s)", row->id,
                     err.nfields ? err.fields[0].message : err.detail, err.nfields ? err.fields[0].field : "");
        good = 0;
    } else if (canon.len != row->body_len || memcmp(canon.base, row->body, canon.len) != 0) {
        lx_audit_add(au, "receipt_signature", receipt_ids(row), "receipt %s: the stored body is not in canonical form (RFC 8785)",
                     row->id);
        good = 0;
    }
    lx_strbuf_free(&canon);

    json_t *obj = json_object();
    json_object_set(obj, "body", body);
    json_t *kid = json_string(row->key_id), *sig = json_string(row->signature);
    if (kid == NULL || sig == NULL) {
        lx_audit_add(au, "receipt_signature", receipt_ids(row), "receipt %s: key_id or signature is not text", row->id);
        good = 0;
        json_decref(kid);
        json_decref(sig);
    } else {
        json_object_set_new(obj, "key_id", kid);
        json_object_set_new(obj, "signature", sig);
        lx_receipt_view_t view;
        memset(&view, 0, sizeof(view));
        lx_error_init(&err);
        if (lx_receipt_verify(obj, "", ring, &view, &err) != LX_OK) {
            json_t *ids = receipt_ids(row);
            if (err.nfields) json_object_set_new(ids, "field", json_string(err.fields[0].field));
            lx_audit_add(au, "receipt_signature", ids, "receipt %s does not verify: %s", row->id, failure(&err));
            good = 0;
        } else {
            lx_receipt_view_clear(&view);
        }
    }
    json_decref(obj);

    compare_columns(au, row, body, digest_key);

    if (row->log_entry != NULL) {
        lx_strbuf_t want;
        lx_strbuf_init(&want, (size_t)1 << 20);
        expected_entry(row, body, &want);
        if (want.len != row->log_entry_len || memcmp(want.base, row->log_entry, want.len) != 0)
            lx_audit_add(au, "log_entry", receipt_ids(row), "receipt %s: its log entry (index %s) is not the entry derived from it",
                         row->id, row->log_index != NULL ? row->log_index : "?");
        lx_strbuf_free(&want);
    }
    json_decref(body);
    return good;
}

/* ---- the transparency log ---- */

void lx_audit_log_init(lx_audit_log_t *lg)
{
    memset(lg, 0, sizeof(*lg));
}

void lx_audit_log_skip_to(lx_audit_log_t *lg, lx_audit_t *au, uint64_t index)
{
    if (index <= lg->position) return;
    json_t *ids = json_pack("{s:I, s:I}", "from", (json_int_t)lg->position, "to", (json_int_t)(index - 1));
    if (index - 1 == lg->position)
        lx_audit_add(au, "log_size", ids, "log entry %" PRIu64 " is missing", lg->position);
    else
        lx_audit_add(au, "log_size", ids, "log entries %" PRIu64 "..%" PRIu64 " are missing", lg->position, index - 1);
    lg->position = index;
}

typedef struct {
    lx_audit_t *au;
    lx_merkle_get_fn stored;
    void *ctx;
} emit_ctx_t;

static void on_node(void *p, unsigned level, uint64_t index, const lx_hash_t *h)
{
    if (level < LX_MERKLE_STORED_LEVEL) return; /* not stored: computed from the entries when needed */
    emit_ctx_t *e = p;
    const lx_hash_t *s = e->stored(e->ctx, level, index);
    if (s == NULL)
        lx_audit_add(e->au, "log_node", json_pack("{s:i, s:I}", "level", (int)level, "index", (json_int_t)index),
                     "log node (level %u, index %" PRIu64 ") is missing", level, index);
    else if (memcmp(s->h, h->h, 32) != 0)
        lx_audit_add(e->au, "log_node", json_pack("{s:i, s:I}", "level", (int)level, "index", (json_int_t)index),
                     "log node (level %u, index %" PRIu64 ") is not the hash of its children", level, index);
}

void lx_audit_log_entry(lx_audit_log_t *lg, lx_audit_t *au, uint64_t log_index, const char *entry, size_t len,
                        lx_merkle_get_fn stored, void *ctx)
{
    if (log_index < lg->position) {
        lx_audit_add(au, "log_size", json_pack("{s:I}", "log_index", (json_int_t)log_index), "log entry %" PRIu64 " came twice",
                     log_index);
        return;
    }
    lx_audit_log_skip_to(lg, au, log_index);
    lx_hash_t leaf;
    lx_merkle_leaf_hash(entry, len, &leaf);
    emit_ctx_t e = {au, stored, ctx};
    lx_merkle_frontier_append(&lg->frontier, &leaf, on_node, &e);
    lg->position = log_index + 1;
}

void lx_audit_log_head(lx_audit_log_t *lg, lx_audit_t *au, const lx_keyring_t *ring, const json_t *head)
{
    const json_t *ts = json_object_get(head, "tree_size");
    json_int_t size = json_is_integer(ts) ? json_integer_value(ts) : -1;
    json_t *ids = json_pack("{s:I}", "tree_size", size);
    if (size < 0) {
        lx_audit_add(au, "log_head_root", ids, "a signed head has no tree size");
        return;
    }
    lx_audit_log_skip_to(lg, au, (uint64_t)size);
    lg->heads++;
    lx_tree_head_t th;
    lx_error_t err;
    lx_error_init(&err);
    if (lx_tree_head_verify(head, "", ring, &th, &err) != LX_OK)
        lx_audit_add(au, "log_head_signature", json_deep_copy(ids),
                     "the signed head of size %" JSON_INTEGER_FORMAT " does not verify: %s", size, failure(&err));
    const char *root_b64 = json_string_value(json_object_get(head, "root_hash"));
    uint8_t root[32];
    if (root_b64 == NULL || lx_b64url_decode_exact(root_b64, strlen(root_b64), root, sizeof(root)) != 0) {
        lx_audit_add(au, "log_head_root", ids, "the head of size %" JSON_INTEGER_FORMAT " has no readable root_hash", size);
        return;
    }
    if (lg->frontier.size != (uint64_t)size) {
        lx_audit_add(au, "log_head_root", ids,
                     "the head of size %" JSON_INTEGER_FORMAT " cannot be recomputed: the log holds %" PRIu64 " of its entries",
                     size, lg->frontier.size);
        return;
    }
    lx_hash_t mine;
    lx_merkle_frontier_root(&lg->frontier, &mine);
    if (memcmp(mine.h, root, 32) != 0)
        lx_audit_add(au, "log_head_root", ids,
                     "the root recomputed from the log's first %" JSON_INTEGER_FORMAT " entries differs from the signed head's",
                     size);
    else
        json_decref(ids);
}
