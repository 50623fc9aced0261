/*
 * Money as the API shows it: deposits (POST /v1/accounts/{id}/deposits), balances
 * (GET /v1/accounts/{id}/balance), the platform's books (GET /v1/ledger/platform) and the
 * entries themselves (GET /v1/ledger).
 *
 * Money moves only through billing/ledger.h: a deposit is one ledger transaction of kind
 * 'deposit' whose two entries (the platform's cash book -amount, the advertiser's balance
 * +amount) are posted by lx_ledger_insert_txns then lx_ledger_insert_entries in the same
 * pipelined job, i.e. in one transaction with the Idempotency-Key outcome. The database's
 * statement trigger proves the transaction balances and moves the balance row with it.
 *
 * Visibility: an account reads its own balance and entries; operators read everything,
 * the platform's books included (owner NULL). Another account's are 404, like every other
 * resource, so existence is not revealed.
 */
#include "api/common.h"
#include "api/handlers.h"
#include "billing/ledger.h"
#include "util/json.h"
#include "util/time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFERENCE_CHARS_MAX 200
#define LEDGER_DOC_MAX      4096 /* one transaction or two entries, the reference at most 200 x 6 escaped bytes */

static json_t *int_json(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10));
}

static json_t *str_json(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* ---- POST /v1/accounts/{id}/deposits -------------------------------------------------------- */

/* The account a deposit names: checked before the Idempotency-Key is claimed, so a refused deposit leaves no claim. */
LX_DB_STMT(deposit_target, 1, "SELECT role, currency FROM accounts WHERE id = $1::uuid");
/* The Deposit resource. Inside the posting transaction `balance` is the balance right after this deposit; read later
 * (an idempotent replay) it is the balance now. */
LX_DB_STMT(deposit_get, 1,
           "SELECT t.id, e.account_id, e.amount, t.currency, t.reference, t.created_at, l.balance "
           "FROM ledger_txns t JOIN ledger_entries e ON e.txn_id = t.id AND e.book = 'balance' "
           "JOIN ledger_accounts l ON l.id = e.ledger_account_id WHERE t.id = $1::uuid AND t.kind = 'deposit'");

typedef struct {
    char account_id[LX_UUID_STRLEN + 1];
    char currency[4];
    int64_t amount;
    const char *reference; /* request pool */
} deposit_t;

static json_t *deposit_json(const PGresult *r)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o}", "id", PQgetvalue(r, 0, 0), "account_id", PQgetvalue(r, 0, 1), "amount",
                     int_json(r, 0, 2), "currency", PQgetvalue(r, 0, 3), "reference", str_json(r, 0, 4), "created_at",
                     lx_ts_json(r, 0, 5), "balance", int_json(r, 0, 6));
}

static int on_deposit(lx_req_t *lr, lx_async_t *a)
{
    lx_idem_t *idem = a->user;
    if (a->job.status != LX_DB_OK) {
        if (idem != NULL) lx_idem_abandon(lr->worker, lr, idem);
        if (strcmp(a->job.sqlstate, "22003") == 0) /* bigint out of range: the balance would pass 2^63 - 1 */
            lx_respond_problem(lr, LX_ERR_VALIDATION, "/amount", "would take the balance beyond the largest amount");
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[a->job.ncalls - 1];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The deposit was not recorded.");
        return 0;
    }
    lx_respond_json(lr, 201, deposit_json(r));
    return 0;
}

static void deposit_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    const deposit_t *d = lr->handler_data;
    lx_async_t *a = lx_async_new(lr, on_deposit);
    a->user = lx_idem_copy(a, idem);
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    lx_uuid_v7(&id);
    lx_uuid_format(&id, ids);
    const char *txn_id = lx_async_dup(a, ids, LX_UUID_STRLEN);

    /* Money comes in from outside: the platform's cash book gives, the advertiser's balance takes. */
    lx_strbuf_t txns, entries;
    lx_strbuf_init(&txns, LEDGER_DOC_MAX);
    lx_strbuf_init(&entries, LEDGER_DOC_MAX);
    lx_ledger_open(&txns);
    lx_ledger_txn(&txns, txn_id, "deposit", d->currency, d->reference, NULL, lr->who.account_id_str);
    lx_ledger_close(&txns);
    lx_ledger_open(&entries);
    lx_ledger_entry(&entries, txn_id, NULL, LX_BOOK_CASH, -d->amount, d->currency);
    lx_ledger_entry(&entries, txn_id, d->account_id, LX_BOOK_BALANCE, d->amount, d->currency);
    lx_ledger_close(&entries);
    if (txns.overflow || entries.overflow) abort(); /* cannot happen: the reference is capped far below LEDGER_DOC_MAX */
    lx_db_param(lx_db_job_add(&a->job, &lx_ledger_insert_txns), 0, lx_async_dup(a, txns.base, txns.len));
    lx_db_param(lx_db_job_add(&a->job, &lx_ledger_insert_entries), 0, lx_async_dup(a, entries.base, entries.len));
    lx_strbuf_free(&txns);
    lx_strbuf_free(&entries);
    if (idem != NULL) lx_idem_record(a, idem, 201, txn_id);
    lx_db_param(lx_db_job_add(&a->job, &deposit_get), 0, txn_id);
    lx_async_submit(a);
}

static int on_deposit_replayed(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The stored result of this Idempotency-Key is gone.");
        return 0;
    }
    lx_respond_json(lr, *(int *)a->user, deposit_json(r));
    return 0;
}

static void deposit_replay(lx_req_t *lr, int status, const char *resource_id)
{
    lx_async_t *a = lx_async_new(lr, on_deposit_replayed);
    int *code = lx_async_alloc(a, sizeof(int));
    *code = status;
    a->user = code;
    lx_db_param(lx_db_job_add(&a->job, &deposit_get), 0, lx_async_dup(a, resource_id, strlen(resource_id)));
    lx_async_submit(a);
}

static int on_deposit_target(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const deposit_t *d = lr->handler_data;
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
    } else if (strcmp(PQgetvalue(r, 0, 0), "advertiser") != 0) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, "path.id", "deposits go to advertiser accounts only (this one is a %s)",
                           PQgetvalue(r, 0, 0));
    } else if (strcmp(PQgetvalue(r, 0, 1), d->currency) != 0) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, "/currency", "must be the account's currency, %s", PQgetvalue(r, 0, 1));
    } else {
        lx_idem_start(lr, "deposits.create", deposit_fresh, deposit_replay);
    }
    return 0;
}

void lx_api_deposits_create(lx_req_t *lr)
{
    static const char *const allowed[] = {"amount", "currency", "reference", NULL};
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    lx_error_t err;
    lx_error_init(&err);
    json_t *body = lr->body;
    deposit_t *d = h2o_mem_alloc_pool(&lr->req->pool, sizeof(*d));
    memset(d, 0, sizeof(*d));
    if (lx_json_expect_object(body, "", &err) == 0) {
        const char *currency, *reference;
        lx_json_reject_unknown(body, "", allowed, &err);
        lx_json_int(body, "", "amount", LX_JF_REQUIRED, 1, LX_AMOUNT_MAX, &d->amount, &err);
        if (lx_json_string(body, "", "currency", LX_JF_REQUIRED, 3, 3, &currency, &err) == 1) {
            if (strspn(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
                lx_error_field(&err, "/currency", "must be an ISO 4217 code in upper case, e.g. USD");
            else
                memcpy(d->currency, currency, 4);
        }
        if (lx_json_string(body, "", "reference", LX_JF_REQUIRED, 1, REFERENCE_CHARS_MAX, &reference, &err) == 1) {
            if (reference[strspn(reference, " ")] == '\0')
                lx_error_field(&err, "/reference", "must not be blank");
            else
                d->reference = h2o_strdup(&lr->req->pool, reference, SIZE_MAX).base;
        }
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "The deposit is not valid.");
        lx_respond_error(lr, &err);
        return;
    }
    memcpy(d->account_id, ids, sizeof(d->account_id));
    lr->handler_data = d;
    lx_async_submit_one(lr, on_deposit_target, &deposit_target, ids);
}

/* ---- GET /v1/accounts/{id}/balance ------------------------------------------------------------ */

LX_DB_STMT(balance_get, 1,
           "SELECT a.id, a.role, a.currency, a.credit_limit, b.balance, p.balance, v.balance FROM accounts a "
           "LEFT JOIN ledger_accounts b ON b.owner = a.id AND b.book = 'balance' AND b.currency = a.currency "
           "LEFT JOIN ledger_accounts p ON p.owner = a.id AND p.book = 'pending' AND p.currency = a.currency "
           "LEFT JOIN ledger_accounts v ON v.owner = a.id AND v.book = 'available' AND v.currency = a.currency "
           "WHERE a.id = $1::uuid");

/*
 * One shape for both roles (nullable members): an advertiser's `balance`, `credit_limit` and `available` (what it
 * may spend: balance + credit limit); a webmaster's `pending` (payouts inside the return window) and `available`
 * (payouts it may withdraw). Operators hold no books of their own: their "balance" is 404 like any missing resource.
 */
static int on_balance(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        return 0;
    }
    const char *role = PQgetvalue(r, 0, 1);
    json_t *balance, *credit, *pending, *available;
    if (strcmp(role, "advertiser") == 0 && !PQgetisnull(r, 0, 4)) {
        int64_t b = strtoll(PQgetvalue(r, 0, 4), NULL, 10), c = strtoll(PQgetvalue(r, 0, 3), NULL, 10), sum;
        if (__builtin_add_overflow(b, c, &sum)) sum = INT64_MAX; /* only past 2^63 - 1: unreachable with real money */
        balance = json_integer(b), credit = json_integer(c), pending = json_null(), available = json_integer(sum);
    } else if (strcmp(role, "webmaster") == 0 && !PQgetisnull(r, 0, 5) && !PQgetisnull(r, 0, 6)) {
        balance = json_null(), credit = json_null(), pending = int_json(r, 0, 5), available = int_json(r, 0, 6);
    } else {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "This account holds no balance (operators have no books).");
        return 0;
    }
    lx_respond_json(lr, 200,
                    json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "account_id", PQgetvalue(r, 0, 0), "role", role, "currency",
                              PQgetvalue(r, 0, 2), "balance", balance, "credit_limit", credit, "pending", pending, "available",
                              available));
    return 0;
}

void lx_api_balance_get(lx_req_t *lr)
{
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    if (!lx_can_see_account(lr, &id)) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        return;
    }
    lx_async_submit_one(lr, on_balance, &balance_get, ids);
}

/* ---- GET /v1/ledger/platform ------------------------------------------------------------------- */

/* The platform's books have no balance row (no single row every sale would update): their balances are the sums of
 * their entries, read here through the (ledger_account_id, id) index. */
LX_DB_STMT(platform_books, 1,
           "SELECT la.book, coalesce((SELECT sum(e.amount) FROM ledger_entries e WHERE e.ledger_account_id = la.id), 0)::bigint "
           "FROM ledger_accounts la WHERE la.owner IS NULL AND la.currency = $1");

static int on_platform(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    json_t *revenue = NULL, *cash = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), lx_book_name(LX_BOOK_REVENUE)) == 0) revenue = int_json(r, i, 1);
        if (strcmp(PQgetvalue(r, i, 0), lx_book_name(LX_BOOK_CASH)) == 0) cash = int_json(r, i, 1);
    }
    if (revenue == NULL || cash == NULL) {
        json_decref(revenue);
        json_decref(cash);
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.currency", "currency is not in the ISO 4217 catalogue.");
        return 0;
    }
    lx_respond_json(lr, 200, json_pack("{s:s, s:o, s:o}", "currency", (const char *)a->user, "revenue", revenue, "cash", cash));
    return 0;
}

void lx_api_ledger_platform(lx_req_t *lr)
{
    static const char *const names[] = {"currency", NULL};
    const char *q[1];
    if (lx_req_query(lr, names, q) != 0) return;
    if (q[0] == NULL || strlen(q[0]) != 3 || strspn(q[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.currency",
                           "currency is required: an ISO 4217 code in upper case, e.g. USD.");
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_platform);
    a->user = lx_async_dup(a, q[0], 3);
    lx_db_param(lx_db_job_add(&a->job, &platform_books), 0, a->user);
    lx_async_submit(a);
}

/* ---- GET /v1/ledger ----------------------------------------------------------------------------- */

/*
 * Entries oldest first (by id), as every list. Entry ids are bigints; the page cursor carries one in the same opaque
 * 16-byte form as the other lists' UUID cursors (eight zero bytes, then the id big-endian), so lx_page_json and
 * lx_req_page serve here too: column 0 is that cursor value.
 */
LX_DB_STMT(ledger_list, 4,
           "SELECT lpad(to_hex(e.id), 32, '0')::uuid, e.id, e.txn_id, t.kind, e.account_id, e.book, e.amount, e.currency, "
           "t.reference, t.lead_id, e.created_at FROM ledger_entries e JOIN ledger_txns t ON t.id = e.txn_id "
           "WHERE ($1::uuid IS NULL OR e.account_id = $1::uuid) AND ($2::bigint IS NULL OR e.id > $2::bigint) "
           "AND ($3::timestamptz IS NULL OR e.created_at >= $3::timestamptz) ORDER BY e.id LIMIT $4::int");

static json_t *entry_row(const PGresult *r, int row, void *ctx)
{
    (void)ctx;
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:o}", "id", PQgetvalue(r, row, 1), "txn_id",
                     PQgetvalue(r, row, 2), "kind", PQgetvalue(r, row, 3), "account_id", str_json(r, row, 4), "book",
                     PQgetvalue(r, row, 5), "amount", int_json(r, row, 6), "currency", PQgetvalue(r, row, 7), "reference",
                     str_json(r, row, 8), "lead_id", str_json(r, row, 9), "created_at", lx_ts_json(r, row, 10));
}

static int on_ledger(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    lx_respond_json(lr, 200, lx_page_json(a, a->job.results[0], entry_row, NULL));
    return 0;
}

/* The entry id inside a cursor that lx_req_page decoded to UUID form; -1 when it is not one of ours. */
static int64_t cursor_entry_id(const char *cursor)
{
    static const char zero_half[] = "00000000-0000-0000-";
    if (strncmp(cursor, zero_half, sizeof(zero_half) - 1) != 0) return -1;
    const char *p = cursor + sizeof(zero_half) - 1; /* "hhhh-hhhhhhhhhhhh" */
    uint64_t v = 0;
    for (; *p != '\0'; p++) {
        if (*p == '-') continue;
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    return v >= 1 && v <= (uint64_t)INT64_MAX ? (int64_t)v : -1;
}

void lx_api_ledger_list(lx_req_t *lr)
{
    static const char *const names[] = {"limit", "cursor", "account", "since", NULL};
    const char *q[4];
    int limit;
    char cursor[LX_UUID_STRLEN + 1];
    if (lx_req_query(lr, names, q) != 0 || lx_req_page(lr, q[0], q[1], &limit, cursor) != 0) return;
    int64_t after = 0;
    if (cursor[0] != '\0' && (after = cursor_entry_id(cursor)) < 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.cursor", "cursor is not a value returned as next_cursor.");
        return;
    }
    lx_uuid_t account;
    char account_s[LX_UUID_STRLEN + 1] = "";
    if (q[2] != NULL) {
        if (lx_uuid_parse(q[2], strlen(q[2]), &account) != 0) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.account", "account must be an account id.");
            return;
        }
        /* Another account's entries are "not found", like its other resources. */
        if (!lx_can_see_account(lr, &account)) {
            lx_respond_problem(lr, LX_ERR_NOT_FOUND, "query.account", "No such account.");
            return;
        }
        lx_uuid_format(&account, account_s);
    } else if (lr->who.role != LX_ROLE_OPERATOR) {
        memcpy(account_s, lr->who.account_id_str, sizeof(account_s));
    }
    char since[LX_TS_LEN + 1] = "";
    if (q[3] != NULL) {
        int64_t since_us;
        if (lx_ts_parse_rfc3339(q[3], strlen(q[3]), &since_us) != 0) {
            lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.since",
                               "since must be an RFC 3339 date-time such as 2026-11-23T10:00:00Z.");
            return;
        }
        lx_ts_format_us(since_us, since);
    }
    lx_async_t *a = lx_async_new(lr, on_ledger);
    const char *limit_s = lx_async_page_limit(a, limit);
    char after_s[24];
    snprintf(after_s, sizeof(after_s), "%" PRId64, after);
    lx_db_call_t *c = lx_db_job_add(&a->job, &ledger_list);
    lx_db_param(c, 0, account_s[0] ? lx_async_dup(a, account_s, LX_UUID_STRLEN) : NULL);
    lx_db_param(c, 1, after > 0 ? lx_async_dup(a, after_s, strlen(after_s)) : NULL);
    lx_db_param(c, 2, since[0] ? lx_async_dup(a, since, strlen(since)) : NULL);
    lx_db_param(c, 3, limit_s);
    lx_async_submit(a);
}
