/*
 * Accounts and their API keys: /v1/me, /v1/accounts, /v1/accounts/{id}/keys.
 * Operators see every account; an account sees itself; anyone else gets 404,
 * so the existence of an account is never revealed. Operators also change an
 * account's credit limit and status (PATCH /v1/accounts/{id}).
 */
#include "api/action_log.h"
#include "api/common.h"
#include "api/handlers.h"
#include "util/json.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LX_DB_STMT(acct_get, 1, "SELECT " LX_ACCOUNT_COLS " FROM accounts WHERE id = $1::uuid");
LX_DB_STMT(acct_list, 3,
           "SELECT " LX_ACCOUNT_COLS " FROM accounts WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($3::text IS NULL OR role = $3) "
           "ORDER BY id LIMIT $2::int");
LX_DB_STMT(acct_insert, 5,
           "INSERT INTO accounts (id, role, name, currency, rate_limit) VALUES ($1::uuid, $2, $3, $4, $5::int) "
           "RETURNING " LX_ACCOUNT_COLS);
LX_DB_STMT(key_insert, 4,
           "INSERT INTO api_keys (id, account_id, hash, label) VALUES ($1::uuid, $2::uuid, $3, $4) RETURNING " LX_KEY_COLS);
LX_DB_STMT(key_insert_checked, 4,
           "INSERT INTO api_keys (id, account_id, hash, label) SELECT $1::uuid, a.id, $3, $4 FROM accounts a "
           "WHERE a.id = $2::uuid RETURNING " LX_KEY_COLS);
/* An operator's key creation and revocation, with their action log rows (api/action_log.h): logged only when a key
 * was written, in the same statement. */
/* clang-format off */
LX_DB_STMT(key_insert_logged, 5,
           "WITH k AS (INSERT INTO api_keys (id, account_id, hash, label) SELECT $1::uuid, a.id, $3, $4 FROM accounts a "
           "WHERE a.id = $2::uuid RETURNING " LX_KEY_COLS "), "
           "l AS (" LX_ACTION_LOG_INSERT("$5", "'key.create'", "k.account_id::text",
                                         "jsonb_build_object('key_id', k.id, 'label', k.label)") " FROM k) "
           "SELECT " LX_KEY_COLS " FROM k");
/* clang-format on */
/* clang-format off */
LX_DB_STMT(key_revoke_logged, 3,
           "WITH k AS (UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1::uuid AND account_id = $2::uuid "
           "RETURNING id, account_id), "
           "l AS (" LX_ACTION_LOG_INSERT("$3", "'key.revoke'", "k.account_id::text", "jsonb_build_object('key_id', k.id)")
           " FROM k) SELECT id FROM k");
/* clang-format on */
LX_DB_STMT(key_first, 1, "SELECT " LX_KEY_COLS " FROM api_keys WHERE account_id = $1::uuid ORDER BY id LIMIT 1");
LX_DB_STMT(key_get, 1, "SELECT " LX_KEY_COLS " FROM api_keys WHERE id = $1::uuid");
LX_DB_STMT(key_list, 3,
           "SELECT " LX_KEY_COLS ", (SELECT count(*) FROM accounts WHERE id = $1::uuid) FROM api_keys "
           "WHERE account_id = $1::uuid AND ($2::uuid IS NULL OR id > $2::uuid) ORDER BY id LIMIT $3::int");
LX_DB_STMT(acct_exists, 1, "SELECT 1 FROM accounts WHERE id = $1::uuid");
/* The api_keys trigger NOTIFYs every process at commit (migrations/0001). */
LX_DB_STMT(key_revoke, 2,
           "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1::uuid AND account_id = $2::uuid "
           "RETURNING id");

/* ---- GET /v1/me ---------------------------------------------------------------- */

/* Served from the auth cache: no database round trip. Any change to the account NOTIFYs the cache. */
void lx_api_me(lx_req_t *lr)
{
    static const char head[] = "{\"account\":", mid[] = ",\"key_id\":\"", tail[] = "\"}";
    char key_id[LX_UUID_STRLEN + 1];
    lx_uuid_format(&lr->who.key_id, key_id);
    size_t len = sizeof(head) - 1 + lr->account_json_len + sizeof(mid) - 1 + LX_UUID_STRLEN + sizeof(tail) - 1;
    char *buf = h2o_mem_alloc_pool(&lr->req->pool, len), *p = buf;
    memcpy(p, head, sizeof(head) - 1), p += sizeof(head) - 1;
    memcpy(p, lr->account_json, lr->account_json_len), p += lr->account_json_len;
    memcpy(p, mid, sizeof(mid) - 1), p += sizeof(mid) - 1;
    memcpy(p, key_id, LX_UUID_STRLEN), p += LX_UUID_STRLEN;
    memcpy(p, tail, sizeof(tail) - 1);
    lx_respond_body(lr, 200, "application/json", buf, len);
}

/* ---- GET /v1/accounts/{id} ---------------------------------------------------------- */

static int on_account(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1)
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
    else
        lx_respond_json(lr, 200, lx_account_json(r, 0, 0));
    return 0;
}

void lx_api_accounts_get(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    if (!lx_can_see_account(lr, &id)) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_account);
    lx_db_param(lx_db_job_add(&a->job, &acct_get), 0, lx_async_dup(a, ids, LX_UUID_STRLEN));
    lx_async_submit(a);
}

/* ---- PATCH /v1/accounts/{id} ------------------------------------------------------- */

/*
 * An operator changes an account's credit limit (advertisers only) and status. The first statement locks the
 * advertiser's balance row when the limit changes (lock order: balance rows, then accounts), so the guard in the
 * second ("the new limit still covers what is owed") and the change see the same balance; the balance row's CHECK
 * (balance >= -credit_limit, kept in step by the accounts_credit_limit trigger) stays the last word: 23514 is 409 too.
 * A suspension is a cut-off (migrations/0018): it first locks the advertiser's active campaigns, in id order, then its
 * balance row (DESIGN.md §5's order), so it waits for every intake batch and inventory purchase already selling to it,
 * and the accounts_suspended trigger bumps those campaigns' versions, which fails any batch that decided before.
 * updated_at moves only when something changed, and so does the accounts_notify NOTIFY that drops cached keys. The
 * operator action log row is written by the same statement, only when the account row was updated.
 */
LX_DB_STMT(acct_patch_read, 3,
           "WITH c AS (SELECT id FROM campaigns WHERE advertiser_id = $1::uuid AND status = 'active' AND $3::text = 'suspended' "
           "ORDER BY id FOR NO KEY UPDATE), "
           "b AS (SELECT balance FROM ledger_accounts WHERE owner = $1::uuid AND book = 'balance' "
           "AND ($2::bigint IS NOT NULL OR $3::text = 'suspended') AND (SELECT count(*) FROM c) >= 0 FOR NO KEY UPDATE) "
           "SELECT role, (SELECT balance FROM b) FROM accounts WHERE id = $1::uuid");
/* clang-format off */
LX_DB_STMT(acct_patch, 5,
           "WITH u AS (UPDATE accounts a SET credit_limit = coalesce($2::bigint, a.credit_limit), status = coalesce($3, a.status), "
           "updated_at = CASE WHEN (coalesce($2::bigint, a.credit_limit), coalesce($3, a.status)) IS DISTINCT FROM "
           "(a.credit_limit, a.status) THEN now() ELSE a.updated_at END "
           "WHERE a.id = $1::uuid AND ($2::bigint IS NULL OR a.role = 'advertiser' AND $2::bigint >= -coalesce("
           "(SELECT l.balance FROM ledger_accounts l WHERE l.owner = a.id AND l.book = 'balance'), 0)) "
           "RETURNING " LX_ACCOUNT_COLS "), "
           /* the operator action log row, only when the account was changed (api/action_log.h) */
           "l AS (" LX_ACTION_LOG_INSERT("$4", "'account.update'", "u.id::text", "$5") " FROM u) "
           "SELECT " LX_ACCOUNT_COLS " FROM u");
/* clang-format on */

static int on_account_patched(lx_req_t *lr, lx_async_t *a)
{
    const lx_uuid_t *id = a->user;
    if (a->job.status != LX_DB_OK) {
        if (strcmp(a->job.sqlstate, "23514") == 0) /* the balance row's floor: a sale got in first */
            lx_respond_problem(lr, LX_ERR_CONFLICT, "/credit_limit",
                               "The advertiser owes more than this credit limit; deposit first or keep a higher limit.");
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *read = a->job.results[0], *updated = a->job.results[1];
    if (PQntuples(read) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        return 0;
    }
    if (PQntuples(updated) != 1) {
        if (strcmp(PQgetvalue(read, 0, 0), "advertiser") != 0) {
            lx_respond_problem(lr, LX_ERR_VALIDATION, "/credit_limit", "only advertiser accounts have a credit limit");
        } else {
            long long balance = strtoll(PQgetvalue(read, 0, 1), NULL, 10);
            lx_respond_problem(lr, LX_ERR_CONFLICT, "/credit_limit",
                               "The advertiser owes %lld (balance %lld): the credit limit cannot go below that.", -balance,
                               balance);
        }
        return 0;
    }
    /* Every process drops the account's cached keys when the NOTIFY arrives; this one does it now as well, so the
     * next request of a suspended account is refused without waiting for the round trip. */
    lx_auth_cache_evict_account(&lr->worker->auth, id);
    lx_server_broadcast_evict(lr->worker->server, LX_AUTH_EVICT_ACCOUNT, id);
    lx_respond_json(lr, 200, lx_account_json(updated, 0, 0));
    return 0;
}

void lx_api_accounts_update(lx_req_t *lr)
{
    static const char *const allowed[] = {"credit_limit", "status", NULL};
    static const char *const statuses[] = {"active", "suspended", NULL};
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    lx_error_t err;
    lx_error_init(&err);
    json_t *body = lr->body;
    int64_t limit = 0;
    int status = -1, has_limit = 0, has_status = 0;
    if (lx_json_expect_object(body, "", &err) == 0) {
        lx_json_reject_unknown(body, "", allowed, &err);
        has_limit = lx_json_int(body, "", "credit_limit", 0, 0, LX_AMOUNT_MAX, &limit, &err) == 1;
        has_status = lx_json_enum(body, "", "status", 0, statuses, &status, &err) == 1;
        if (err.nfields == 0 && !has_limit && !has_status) lx_error_field(&err, "", "must change credit_limit or status");
        /* An operator locked out by its own hand needs the CLI to get back in. */
        if (has_status && status == 1 && memcmp(id.b, lr->who.account_id.b, sizeof(id.b)) == 0)
            lx_error_field(&err, "/status", "an operator may not suspend its own account");
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The account change is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_account_patched);
    lx_uuid_t *idp = lx_async_alloc(a, sizeof(*idp));
    *idp = id;
    a->user = idp;
    char limit_s[24];
    snprintf(limit_s, sizeof(limit_s), "%lld", (long long)limit);
    const char *id_p = lx_async_dup(a, ids, LX_UUID_STRLEN);
    const char *limit_p = has_limit ? lx_async_dup(a, limit_s, strlen(limit_s)) : NULL;
    lx_db_call_t *c = lx_db_job_add(&a->job, &acct_patch_read);
    lx_db_param(c, 0, id_p);
    lx_db_param(c, 1, limit_p);
    lx_db_param(c, 2, has_status ? statuses[status] : NULL);
    c = lx_db_job_add(&a->job, &acct_patch);
    lx_db_param(c, 0, id_p);
    lx_db_param(c, 1, limit_p);
    lx_db_param(c, 2, has_status ? statuses[status] : NULL);
    lx_db_param(c, 3, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    json_t *details = json_object();
    if (has_limit) json_object_set_new(details, "credit_limit", json_integer(limit));
    if (has_status) json_object_set_new(details, "status", json_string(statuses[status]));
    lx_db_param(c, 4, lx_action_log_details(a, details));
    lx_async_submit(a);
}

/* ---- GET /v1/accounts --------------------------------------------------------------- */

static json_t *account_row(const PGresult *r, int row, void *ctx)
{
    (void)ctx;
    return lx_account_json(r, row, 0);
}

static json_t *key_row(const PGresult *r, int row, void *ctx)
{
    (void)ctx;
    return lx_key_json(r, row, 0);
}

static int on_accounts(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    lx_respond_json(lr, 200, lx_page_json(a, a->job.results[0], account_row, NULL));
    return 0;
}

void lx_api_accounts_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "role", NULL};
    const char *q[3];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    if (q[2] != NULL && lx_role_parse(q[2]) == 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.role", "role must be operator, webmaster or advertiser.");
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_accounts);
    lx_db_call_t *c = lx_db_job_add(&a->job, &acct_list);
    lx_db_param(c, 0, cursor[0] ? lx_async_str(a, cursor) : NULL);
    lx_db_param(c, 1, lx_async_page_limit(a, limit));
    lx_db_param(c, 2, lx_async_str(a, q[2]));
    lx_async_submit(a);
}

/* ---- POST /v1/accounts --------------------------------------------------------------- */

/* A fresh key: its token goes to the client once; only the keyed hash is stored. */
typedef struct {
    lx_apikey_t key;
    char id[LX_UUID_STRLEN + 1];
    uint8_t hash[LX_APIKEY_HASH_BYTES];
} new_key_t;

static new_key_t *new_key(lx_async_t *a, const lx_keys_t *keys)
{
    new_key_t *k = lx_async_alloc(a, sizeof(*k));
    lx_apikey_generate(&k->key);
    lx_uuid_format(&k->key.id, k->id);
    lx_apikey_hash(&k->key, keys->apikey_key, k->hash);
    return k;
}

static void add_key_insert(lx_async_t *a, lx_db_stmt_t *stmt, new_key_t *k, const char *account_id, const char *label)
{
    lx_db_call_t *c = lx_db_job_add(&a->job, stmt);
    lx_db_param(c, 0, k->id);
    lx_db_param(c, 1, account_id);
    lx_db_param_bin(c, 2, k->hash, sizeof(k->hash));
    lx_db_param(c, 3, label);
}

/* The NewKey object: the Key fields plus the token (or null on replay). */
static json_t *new_key_json(const PGresult *r, int row, new_key_t *k)
{
    json_t *obj = lx_key_json(r, row, 0);
    if (k != NULL) {
        char token[LX_APIKEY_TOKEN_LEN + 1];
        lx_apikey_format(&k->key, token);
        json_object_set_new(obj, "token", json_string(token));
        sodium_memzero(token, sizeof(token));
        lx_apikey_wipe(&k->key);
    } else {
        json_object_set_new(obj, "token", json_null());
    }
    return obj;
}

typedef struct {
    new_key_t *key;
    lx_idem_t *idem;
} create_state_t;

static int on_account_created(lx_req_t *lr, lx_async_t *a)
{
    create_state_t *st = a->user;
    if (a->job.status != LX_DB_OK) {
        lx_apikey_wipe(&st->key->key);
        if (st->idem != NULL) lx_idem_abandon(lr->worker, lr, st->idem);
        if (strcmp(a->job.sqlstate, "23503") == 0) /* currency not in the ISO 4217 catalogue */
            lx_respond_problem(lr, LX_ERR_VALIDATION, "/currency", "must be an ISO 4217 currency code");
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    json_t *account = lx_account_json(a->job.results[0], 0, 0);
    json_t *key = new_key_json(a->job.results[1], 0, st->key);
    lx_respond_json(lr, 201, json_pack("{s:o, s:o}", "account", account, "key", key));
    return 0;
}

static void create_account_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    static const char *const roles[] = {"webmaster", "advertiser", NULL};
    json_t *body = lr->body;
    int role;
    const char *name, *currency;
    int64_t rate = 0;
    lx_error_t err;
    lx_error_init(&err);
    /* Validated again here (not only before the claim) so a replayed key runs the same checks: cheap and pure. */
    lx_json_enum(body, "", "role", LX_JF_REQUIRED, roles, &role, &err);
    lx_json_string(body, "", "name", LX_JF_REQUIRED, 1, 200, &name, &err);
    lx_json_string(body, "", "currency", LX_JF_REQUIRED, 3, 3, &currency, &err);
    int has_rate = lx_json_int(body, "", "rate_limit", LX_JF_NULLABLE, 1, 1000000, &rate, &err);
    if (err.nfields != 0) {
        if (idem != NULL) lx_idem_abandon(lr->worker, lr, idem);
        lx_error_set(&err, LX_ERR_VALIDATION, "The account is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_account_created);
    create_state_t *st = lx_async_alloc(a, sizeof(*st));
    a->user = st;
    st->idem = lx_idem_copy(a, idem);
    lx_uuid_t id;
    lx_uuid_v7(&id);
    char *ids = lx_async_alloc(a, LX_UUID_STRLEN + 1);
    lx_uuid_format(&id, ids);
    char rate_s[16];
    snprintf(rate_s, sizeof(rate_s), "%lld", (long long)rate);
    /* Names are stored trimmed: "  Acme " and "Acme" are the same account name. */
    size_t nlen = strlen(name);
    while (nlen > 0 && name[0] == ' ') name++, nlen--;
    while (nlen > 0 && name[nlen - 1] == ' ') nlen--;
    lx_db_call_t *c = lx_db_job_add(&a->job, &acct_insert);
    lx_db_param(c, 0, ids);
    lx_db_param(c, 1, roles[role]);
    lx_db_param(c, 2, lx_async_dup(a, name, nlen));
    lx_db_param(c, 3, lx_async_dup(a, currency, 3));
    lx_db_param(c, 4, has_rate == 1 ? lx_async_dup(a, rate_s, strlen(rate_s)) : NULL);
    st->key = new_key(a, lr->worker->server->keys);
    add_key_insert(a, &key_insert, st->key, ids, NULL);
    json_t *details = json_pack("{s:s, s:s%, s:s%}", "role", roles[role], "name", name, nlen, "currency", currency, (size_t)3);
    json_object_set_new(details, "rate_limit", has_rate == 1 ? json_integer(rate) : json_null());
    lx_action_log_add(a, lr, "account.create", ids, details);
    if (st->idem != NULL) lx_idem_record(a, st->idem, 201, ids);
    lx_async_submit(a);
}

static int on_account_replayed(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *acct = a->job.results[0], *key = a->job.results[1];
    if (PQntuples(acct) != 1 || PQntuples(key) != 1) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The stored result of this Idempotency-Key is gone.");
        return 0;
    }
    lx_respond_json(lr, *(int *)a->user,
                    json_pack("{s:o, s:o}", "account", lx_account_json(acct, 0, 0), "key", new_key_json(key, 0, NULL)));
    return 0;
}

static void create_account_replay(lx_req_t *lr, int status, const char *resource_id)
{
    lx_async_t *a = lx_async_new(lr, on_account_replayed);
    int *code = lx_async_alloc(a, sizeof(int));
    *code = status;
    a->user = code;
    char *id = lx_async_dup(a, resource_id, strlen(resource_id));
    lx_db_param(lx_db_job_add(&a->job, &acct_get), 0, id);
    lx_db_param(lx_db_job_add(&a->job, &key_first), 0, id);
    lx_async_submit(a);
}

void lx_api_accounts_create(lx_req_t *lr)
{
    static const char *const allowed[] = {"role", "name", "currency", "rate_limit", NULL};
    static const char *const roles[] = {"webmaster", "advertiser", NULL};
    lx_error_t err;
    lx_error_init(&err);
    json_t *body = lr->body;
    if (lx_json_expect_object(body, "", &err) == 0) {
        int role;
        const char *name, *currency;
        int64_t rate;
        lx_json_reject_unknown(body, "", allowed, &err);
        lx_json_enum(body, "", "role", LX_JF_REQUIRED, roles, &role, &err);
        if (lx_json_string(body, "", "name", LX_JF_REQUIRED, 1, 200, &name, &err) == 1) {
            size_t n = strlen(name), lead = strspn(name, " ");
            if (lead == n) lx_error_field(&err, "/name", "must not be blank");
        }
        if (lx_json_string(body, "", "currency", LX_JF_REQUIRED, 3, 3, &currency, &err) == 1 &&
            strspn(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
            lx_error_field(&err, "/currency", "must be an ISO 4217 code in upper case, e.g. USD");
        lx_json_int(body, "", "rate_limit", LX_JF_NULLABLE, 1, 1000000, &rate, &err);
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The account is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lx_idem_start(lr, "create_account", create_account_fresh, create_account_replay);
}

/* ---- /v1/accounts/{id}/keys ----------------------------------------------------------- */

static int on_keys(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *exists = a->job.results[0];
    if (PQntuples(exists) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        return 0;
    }
    lx_respond_json(lr, 200, lx_page_json(a, a->job.results[1], key_row, NULL));
    return 0;
}

/* Common prologue of the key routes: the {id} must be an account the caller may see. */
static int account_param(lx_req_t *lr, char ids[LX_UUID_STRLEN + 1])
{
    lx_uuid_t id;
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return -1;
    if (!lx_can_see_account(lr, &id)) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        return -1;
    }
    return 0;
}

void lx_api_keys_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", NULL};
    const char *q[2];
    int limit;
    char cursor[LX_UUID_STRLEN + 1], ids[LX_UUID_STRLEN + 1];
    if (account_param(lr, ids) != 0 || lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_keys);
    const char *limit_s = lx_async_page_limit(a, limit);
    char *id = lx_async_dup(a, ids, LX_UUID_STRLEN);
    lx_db_param(lx_db_job_add(&a->job, &acct_exists), 0, id);
    lx_db_call_t *c = lx_db_job_add(&a->job, &key_list);
    lx_db_param(c, 0, id);
    lx_db_param(c, 1, cursor[0] ? lx_async_dup(a, cursor, LX_UUID_STRLEN) : NULL);
    lx_db_param(c, 2, limit_s);
    lx_async_submit(a);
}

static int on_key_created(lx_req_t *lr, lx_async_t *a)
{
    create_state_t *st = a->user;
    if (a->job.status != LX_DB_OK || PQntuples(a->job.results[0]) != 1) {
        int missing = a->job.status == LX_DB_OK;
        lx_apikey_wipe(&st->key->key);
        if (st->idem != NULL) lx_idem_abandon(lr->worker, lr, st->idem);
        if (missing)
            lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    lx_respond_json(lr, 201, new_key_json(a->job.results[0], 0, st->key));
    return 0;
}

static const char *key_label(lx_req_t *lr, lx_error_t *err)
{
    static const char *const allowed[] = {"label", NULL};
    const char *label = NULL;
    if (lr->body == NULL || lx_json_expect_object(lr->body, "", err) != 0) return NULL;
    lx_json_reject_unknown(lr->body, "", allowed, err);
    lx_json_string(lr->body, "", "label", LX_JF_NULLABLE, 1, 100, &label, err);
    return label;
}

static void create_key_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    lx_error_t err;
    lx_error_init(&err);
    const char *label = key_label(lr, &err);
    char ids[LX_UUID_STRLEN + 1];
    size_t len;
    const char *v = lx_route_param(&lr->match, "id", &len);
    snprintf(ids, sizeof(ids), "%.*s", (int)len, v);
    lx_async_t *a = lx_async_new(lr, on_key_created);
    create_state_t *st = lx_async_alloc(a, sizeof(*st));
    a->user = st;
    st->idem = lx_idem_copy(a, idem);
    st->key = new_key(a, lr->worker->server->keys);
    /* An operator's key creation (for any account, its own included) goes to the operator action log. */
    int logged = lr->who.role == LX_ROLE_OPERATOR;
    add_key_insert(a, logged ? &key_insert_logged : &key_insert_checked, st->key, lx_async_dup(a, ids, strlen(ids)),
                   label ? lx_async_dup(a, label, strlen(label)) : NULL);
    if (logged) lx_db_param(&a->job.calls[a->job.ncalls - 1], 4, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    if (st->idem != NULL) lx_idem_record(a, st->idem, 201, st->key->id);
    lx_async_submit(a);
}

static int on_key_replayed(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    if (PQntuples(a->job.results[0]) != 1) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The stored result of this Idempotency-Key is gone.");
        return 0;
    }
    lx_respond_json(lr, *(int *)a->user, new_key_json(a->job.results[0], 0, NULL));
    return 0;
}

static void create_key_replay(lx_req_t *lr, int status, const char *resource_id)
{
    lx_async_t *a = lx_async_new(lr, on_key_replayed);
    int *code = lx_async_alloc(a, sizeof(int));
    *code = status;
    a->user = code;
    lx_db_param(lx_db_job_add(&a->job, &key_get), 0, lx_async_dup(a, resource_id, strlen(resource_id)));
    lx_async_submit(a);
}

void lx_api_keys_create(lx_req_t *lr)
{
    char ids[LX_UUID_STRLEN + 1];
    if (account_param(lr, ids) != 0) return;
    lx_error_t err;
    lx_error_init(&err);
    key_label(lr, &err);
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The key request is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    lx_idem_start(lr, "create_key", create_key_fresh, create_key_replay);
}

static int on_key_revoked(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    if (PQntuples(a->job.results[0]) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such key.");
        return 0;
    }
    /* This process's caches learn it through the same NOTIFY as every other process; evict here too so the
     * revoking client's very next request on this thread is refused without waiting for the round trip. */
    lx_uuid_t key_id;
    lx_uuid_parse(PQgetvalue(a->job.results[0], 0, 0), LX_UUID_STRLEN, &key_id);
    lx_auth_cache_evict_key(&lr->worker->auth, &key_id);
    lx_server_broadcast_evict(lr->worker->server, LX_AUTH_EVICT_KEY, &key_id);
    lx_respond_empty(lr, 204);
    return 0;
}

void lx_api_keys_revoke(lx_req_t *lr)
{
    char ids[LX_UUID_STRLEN + 1], kids[LX_UUID_STRLEN + 1];
    lx_uuid_t kid;
    if (account_param(lr, ids) != 0 || lx_req_path_uuid(lr, "key_id", &kid, kids) != 0) return;
    lx_async_t *a = lx_async_new(lr, on_key_revoked);
    int logged = lr->who.role == LX_ROLE_OPERATOR; /* with its operator action log row */
    lx_db_call_t *c = lx_db_job_add(&a->job, logged ? &key_revoke_logged : &key_revoke);
    lx_db_param(c, 0, lx_async_dup(a, kids, LX_UUID_STRLEN));
    lx_db_param(c, 1, lx_async_dup(a, ids, LX_UUID_STRLEN));
    if (logged) lx_db_param(c, 2, lx_async_dup(a, lr->who.account_id_str, LX_UUID_STRLEN));
    lx_async_submit(a);
}
