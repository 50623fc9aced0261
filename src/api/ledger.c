/*
 * Money as the API shows it: deposits, payouts and withdrawals (POST /v1/accounts/{id}/deposits,
 * /payouts, /withdrawals), balances (GET /v1/accounts/{id}/balance), statements derived from
 * receipts (GET /v1/accounts/{id}/statement), the platform's books (GET /v1/ledger/platform)
 * and the entries themselves (GET /v1/ledger).
 *
 * Money moves only through billing/ledger.h: a deposit (a payout, a withdrawal: the same code,
 * see movement_kind_t) is one ledger transaction whose two entries (the platform's cash book
 * and the account's book) are posted with the account's one receipt (billing/receipts.h) and
 * the operator action-log row in the same pipelined job, i.e. in one transaction with the
 * Idempotency-Key outcome. The database's statement trigger proves the transaction balances,
 * has its receipts, and moves the balance row with it.
 *
 * Visibility: an account reads its own balance and entries; operators read everything,
 * the platform's books included (owner NULL). Another account's are 404, like every other
 * resource, so existence is not revealed.
 */
#include "api/action_log.h"
#include "api/common.h"
#include "api/handlers.h"
#include "billing/ledger.h"
#include "billing/receipts.h"
#include "util/json.h"
#include "util/time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFERENCE_CHARS_MAX 200

static json_t *int_json(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10));
}

static json_t *str_json(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* ---- POST /v1/accounts/{id}/deposits, /payouts, /withdrawals ---------------------------------------------------- */

/*
 * Three operator-recorded movements between the platform's cash book and one account's book, one code path that
 * differs only by the descriptor below:
 *
 *   deposit     cash -A, advertiser balance +A     receipt +A on `balance`
 *   withdrawal  advertiser balance -A, cash +A     receipt -A on `balance`
 *   payout      webmaster available -A, cash +A    receipt -A on `available`
 *
 * Money going out may only take what is there: the job's first statement, lx_require_funds (migrations/0006), locks
 * the book and raises check_violation on ledger_accounts when it holds less than A. For an advertiser that is
 * stricter than the balance row's CHECK (which lets the balance go down to -credit_limit): a withdrawal gives back
 * unused money, never credit. A webmaster's available book has floor 0, so its CHECK would refuse the same payout
 * from the entries statement; either way 23514 on ledger_accounts is 402 insufficient_funds.
 */
typedef struct {
    const char *kind;       /* the ledger transaction's and the receipt's kind */
    const char *role;       /* the account must have this role (422 at path.id otherwise) */
    const char *wrong_role; /* the 422 detail's start: "<wrong_role> <role> accounts only" */
    lx_book_t book;         /* the account's book */
    int sign;               /* +1: money comes in (from cash); -1: it goes out (to cash) */
    const char *operation;  /* Idempotency-Key operation */
    const char *action;     /* operator action log */
    const char *invalid;    /* the 422 title of a bad body */
} movement_kind_t;

static const movement_kind_t DEPOSIT = {"deposit", "advertiser",      "deposits go to", LX_BOOK_BALANCE,
                                        1,         "deposits.create", "deposit.create", "The deposit is not valid."};
static const movement_kind_t WITHDRAWAL = {
    "withdrawal", "advertiser",         "withdrawals come from", LX_BOOK_BALANCE,
    -1,           "withdrawals.create", "withdrawal.create",     "The withdrawal is not valid."};
static const movement_kind_t PAYOUT = {"payout", "webmaster",      "payouts go to", LX_BOOK_AVAILABLE,
                                       -1,       "payouts.create", "payout.create", "The payout is not valid."};

/* The account a movement names: checked before the Idempotency-Key is claimed, so a refused one leaves no claim. */
LX_DB_STMT(movement_target, 1, "SELECT role, currency FROM accounts WHERE id = $1::uuid");
/* Locks the book and refuses (23514 on ledger_accounts) an amount above its balance: money going out. */
LX_DB_STMT(movement_guard, 4, "SELECT lx_require_funds($1::uuid, $2, $3, $4::bigint)");
/* Locks the book and refuses (22003) an amount that would take it past 2^53 - 1: money coming in (migrations/0019). */
LX_DB_STMT(movement_room, 4, "SELECT lx_require_room($1::uuid, $2, $3, $4::bigint)");
/* The resource, read through indexed rows only (the transaction, its one receipt, the book's balance row). Inside the
 * posting transaction `balance` is the book's balance right after this movement; read later (an idempotent replay)
 * it is the balance now. */
LX_DB_STMT(movement_get, 2,
           "SELECT t.id, r.account_id, abs(r.amount), t.currency, t.reference, t.created_at, l.balance, r.book, r.id "
           "FROM ledger_txns t JOIN receipts r ON r.ledger_txn = t.id "
           "JOIN ledger_accounts l ON l.owner = r.account_id AND l.book = r.book AND l.currency = t.currency "
           "WHERE t.id = $1::uuid AND t.kind = $2");

typedef struct {
    const movement_kind_t *k;
    char account_id[LX_UUID_STRLEN + 1];
    char currency[4];
    int64_t amount;
    const char *reference; /* request pool */
    lx_idem_t *idem;       /* async-owned copy, or NULL */
    int status;            /* a replay's stored status */
} movement_t;

/* A Deposit: {id, account_id, amount, currency, reference, created_at, balance}; payouts and withdrawals add `kind`,
 * `book` and `receipt_id`. `amount` is positive in all three: the kind says which way it went. */
static json_t *movement_json(const movement_kind_t *k, const PGresult *r)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o}", "id", PQgetvalue(r, 0, 0), "account_id", PQgetvalue(r, 0, 1),
                          "amount", int_json(r, 0, 2), "currency", PQgetvalue(r, 0, 3), "reference", str_json(r, 0, 4),
                          "created_at", lx_ts_json(r, 0, 5), "balance", int_json(r, 0, 6));
    if (k != &DEPOSIT) {
        json_object_set_new(o, "kind", json_string(k->kind));
        json_object_set_new(o, "book", json_string(PQgetvalue(r, 0, 7)));
        json_object_set_new(o, "receipt_id", json_string(PQgetvalue(r, 0, 8)));
    }
    return o;
}

/* The result of the job's statement that failed, or NULL. */
static const PGresult *failed_result(const lx_db_job_t *job)
{
    for (size_t i = 0; i < job->ncalls; i++) {
        const PGresult *r = job->results[i];
        if (r != NULL && PQresultStatus(r) == PGRES_FATAL_ERROR) return r;
    }
    return NULL;
}

static int on_movement(lx_req_t *lr, lx_async_t *a)
{
    const movement_t *m = a->user;
    if (a->job.status != LX_DB_OK) {
        if (m->idem != NULL) lx_idem_abandon(lr->worker, lr, m->idem);
        const PGresult *f = failed_result(&a->job);
        const char *table = f != NULL ? PQresultErrorField(f, PG_DIAG_TABLE_NAME) : NULL;
        if (a->job.status == LX_DB_ERR_QUERY && m->k->sign < 0 && strcmp(a->job.sqlstate, "23514") == 0 && table != NULL &&
            strcmp(table, "ledger_accounts") == 0)
            lx_respond_problem(lr, LX_ERR_PAYMENT_REQUIRED, "/amount", "The account's %s book does not hold %" PRId64 " %s.",
                               lx_book_name(m->k->book), m->amount, m->currency);
        else if (strcmp(a->job.sqlstate, "22003") == 0) /* lx_require_room: the book would pass 2^53 - 1 */
            lx_respond_problem(lr, LX_ERR_VALIDATION, "/amount", "would take the balance beyond the largest amount (%" PRId64 ")",
                               LX_AMOUNT_MAX);
        else
            lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[a->job.ncalls - 1];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The %s was not recorded.", m->k->kind);
        return 0;
    }
    lx_respond_json(lr, 201, movement_json(m->k, r));
    return 0;
}

static void movement_fresh(lx_req_t *lr, lx_idem_t *idem)
{
    const movement_t *req = lr->handler_data;
    const movement_kind_t *k = req->k;
    lx_async_t *a = lx_async_new(lr, on_movement);
    movement_t *m = lx_async_alloc(a, sizeof(*m));
    *m = *req;
    m->idem = lx_idem_copy(a, idem);
    a->user = m;
    const char *txn_id = lx_async_new_id(a);
    int64_t moved = k->sign * m->amount; /* what the account's book moves by */

    lx_ledger_rows_t ledger = {0};
    lx_ledger_rows_start(&ledger);
    lx_ledger_txn(&ledger, txn_id, k->kind, m->currency, m->reference, NULL, lr->who.account_id_str);
    lx_ledger_entry(&ledger, txn_id, NULL, LX_BOOK_CASH, -moved, m->currency);
    lx_ledger_entry(&ledger, txn_id, m->account_id, k->book, moved, m->currency);
    /* The account's receipt: the only account the movement touches (cash is the platform's). */
    lx_receipt_rows_t receipts = {0};
    lx_receipts_start(&receipts);
    lx_receipt_body_t body = {.kind = k->kind,
                              .account = m->account_id,
                              .ledger_txn = txn_id,
                              .amount = moved,
                              .currency = m->currency,
                              .reference = m->reference,
                              .share_index = -1};
    lx_receipts_add(&receipts, lx_keys_signer(lr->worker->server->keys), k->book, &body, NULL);
    /* The book, locked: money going out must be there, money coming in must fit */
    char amount_s[24];
    snprintf(amount_s, sizeof(amount_s), "%" PRId64, m->amount);
    lx_db_call_t *guard = lx_db_job_add(&a->job, k->sign < 0 ? &movement_guard : &movement_room);
    lx_db_param(guard, 0, m->account_id);
    lx_db_param(guard, 1, lx_book_name(k->book));
    lx_db_param(guard, 2, m->currency);
    lx_db_param(guard, 3, lx_async_dup(a, amount_s, strlen(amount_s)));
    lx_async_post(a, &ledger, &receipts);
    lx_ledger_rows_free(&ledger);
    lx_receipts_free(&receipts);
    /* The operator action log row, last among the writes (api/action_log.h). */
    lx_action_log_add(a, lr, k->action, m->account_id,
                      json_pack("{s:s, s:I, s:s, s:s}", "txn_id", txn_id, "amount", (json_int_t)m->amount, "currency", m->currency,
                                "reference", m->reference));
    if (idem != NULL) lx_idem_record(a, idem, 201, txn_id);
    lx_db_call_t *g = lx_db_job_add(&a->job, &movement_get);
    lx_db_param(g, 0, txn_id);
    lx_db_param(g, 1, k->kind);
    lx_async_submit(a);
}

static int on_movement_replayed(lx_req_t *lr, lx_async_t *a)
{
    const movement_t *m = a->user;
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The stored result of this Idempotency-Key is gone.");
        return 0;
    }
    lx_respond_json(lr, m->status, movement_json(m->k, r));
    return 0;
}

static void movement_replay(lx_req_t *lr, int status, const char *resource_id)
{
    const movement_t *req = lr->handler_data;
    lx_async_t *a = lx_async_new(lr, on_movement_replayed);
    movement_t *m = lx_async_alloc(a, sizeof(*m));
    *m = *req;
    m->status = status;
    a->user = m;
    lx_db_call_t *c = lx_db_job_add(&a->job, &movement_get);
    lx_db_param(c, 0, lx_async_dup(a, resource_id, strlen(resource_id)));
    lx_db_param(c, 1, m->k->kind);
    lx_async_submit(a);
}

static int on_movement_target(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const movement_t *m = lr->handler_data;
    PGresult *r = a->job.results[0];
    if (PQntuples(r) != 1) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
    } else if (strcmp(PQgetvalue(r, 0, 0), m->k->role) != 0) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, "path.id", "%s %s accounts only (this one is a %s)", m->k->wrong_role, m->k->role,
                           PQgetvalue(r, 0, 0));
    } else if (strcmp(PQgetvalue(r, 0, 1), m->currency) != 0) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, "/currency", "must be the account's currency, %s", PQgetvalue(r, 0, 1));
    } else {
        lx_idem_start(lr, m->k->operation, movement_fresh, movement_replay);
    }
    return 0;
}

/* Parses and validates {amount, currency, reference}, then checks the account. */
static void movement_create(lx_req_t *lr, const movement_kind_t *k)
{
    static const char *const allowed[] = {"amount", "currency", "reference", NULL};
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0) return;
    lx_error_t err;
    lx_error_init(&err);
    json_t *body = lr->body;
    movement_t *m = h2o_mem_alloc_pool(&lr->req->pool, sizeof(*m));
    memset(m, 0, sizeof(*m));
    m->k = k;
    if (lx_json_expect_object(body, "", &err) == 0) {
        const char *currency, *reference;
        lx_json_reject_unknown(body, "", allowed, &err);
        lx_json_int(body, "", "amount", LX_JF_REQUIRED, 1, LX_AMOUNT_MAX, &m->amount, &err);
        if (lx_json_string(body, "", "currency", LX_JF_REQUIRED, 3, 3, &currency, &err) == 1) {
            if (strspn(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
                lx_error_field(&err, "/currency", "must be an ISO 4217 code in upper case, e.g. USD");
            else
                memcpy(m->currency, currency, 4);
        }
        if (lx_json_string(body, "", "reference", LX_JF_REQUIRED, 1, REFERENCE_CHARS_MAX, &reference, &err) == 1) {
            if (reference[strspn(reference, " ")] == '\0')
                lx_error_field(&err, "/reference", "must not be blank");
            else
                m->reference = h2o_strdup(&lr->req->pool, reference, SIZE_MAX).base;
        }
    }
    if (err.nfields != 0) {
        lx_error_set(&err, LX_ERR_VALIDATION, "%s", k->invalid);
        lx_respond_error(lr, &err);
        return;
    }
    memcpy(m->account_id, ids, sizeof(m->account_id));
    lr->handler_data = m;
    lx_async_submit_one(lr, on_movement_target, &movement_target, ids);
}

void lx_api_deposits_create(lx_req_t *lr)
{
    movement_create(lr, &DEPOSIT);
}

void lx_api_payouts_create(lx_req_t *lr)
{
    movement_create(lr, &PAYOUT);
}

void lx_api_withdrawals_create(lx_req_t *lr)
{
    movement_create(lr, &WITHDRAWAL);
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

/* ---- GET /v1/accounts/{id}/statement ------------------------------------------------------------------------------ */

/*
 * A statement is derived from the account's receipts alone (what the account can verify), never from the entries:
 * opening balance per book = the sum of its receipts issued before `from`; lines = its receipts issued in [from, to)
 * ordered by (issued_at, id); closing = opening + the lines. A settlement receipt states +amount on `available`; the
 * -amount it moves on `pending` is implied, so `pending` counts settlements negated. With no `from` the statement
 * starts at the beginning (openings 0); `to` defaults to the time of the request.
 *
 * At most STATEMENT_LINES_MAX lines: a longer period is 422 at query.from asking for a narrower one (a statement is a
 * document with an opening and a closing, so it is not paginated). The lines are read with one more row than the cap.
 */
#define STATEMENT_LINES_MAX 10000

/* Column 2: whether the period is final. A receipt becomes visible within the hour after its issued_at or never (the
 * posting trigger's commit window, migrations/0020), so a period that ended more than that, and a minute for the
 * commit's own flush, before now (the database's clock, the window's) has all its lines. */
LX_DB_STMT(statement_account, 2,
           "SELECT role, currency, $2::timestamptz <= now() - interval '61 minutes' FROM accounts WHERE id = $1::uuid");
LX_DB_STMT(statement_opening, 2,
           "SELECT x.book, sum(x.amount)::bigint FROM ("
           "SELECT book, amount FROM receipts WHERE account_id = $1::uuid AND issued_at < $2::timestamptz "
           "UNION ALL SELECT 'pending', -amount FROM receipts WHERE account_id = $1::uuid AND kind = 'settlement' "
           "AND issued_at < $2::timestamptz) x GROUP BY x.book");
LX_DB_STMT(statement_lines, 4,
           "SELECT issued_at, id, kind, book, amount, currency, lead_id, sale_id, ledger_txn, body::jsonb ->> 'reference' "
           "FROM receipts WHERE account_id = $1::uuid AND ($2::timestamptz IS NULL OR issued_at >= $2::timestamptz) "
           "AND issued_at < $3::timestamptz ORDER BY issued_at, id LIMIT $4::int");

enum { SL_ISSUED, SL_ID, SL_KIND, SL_BOOK, SL_AMOUNT, SL_CURRENCY, SL_LEAD, SL_SALE, SL_TXN, SL_REFERENCE, SL__COUNT };

typedef struct {
    int csv;
    char account_id[LX_UUID_STRLEN + 1];
    char from[LX_TS_LEN + 1]; /* "" = the beginning */
    char to[LX_TS_LEN + 1];
} statement_t;

/* Every member is always there: the books of the other role are null, kinds without lines are {count 0, amount 0}. */
static const char *const STATEMENT_BOOKS[] = {"balance", "pending", "available", NULL};
static const char *const STATEMENT_KINDS[] = {"deposit", "sale", "refund", "settlement", "payout", "withdrawal", NULL};

/* Adds `v` to the integer member `name` of `o` (created at 0). */
static void add_to(json_t *o, const char *name, int64_t v)
{
    json_t *cur = json_object_get(o, name);
    int64_t sum = cur != NULL ? (int64_t)json_integer_value(cur) : 0;
    if (__builtin_add_overflow(sum, v, &sum)) sum = v < 0 ? INT64_MIN : INT64_MAX; /* receipts are < 2^53 each */
    json_object_set_new(o, name, json_integer(sum));
}

/*
 * RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled. `text` marks free text (a reference an
 * operator typed): one starting with = + - @ TAB or CR gets a leading ' so that a spreadsheet opening the statement
 * shows it instead of running it as a formula (OWASP "CSV injection"); ids, kinds and amounts never need it.
 */
static void csv_field(lx_strbuf_t *b, const char *s, int text, int last)
{
    int defuse = text && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
    if (!defuse && s[strcspn(s, ",\"\r\n")] == '\0') {
        lx_strbuf_puts(b, s);
    } else {
        lx_strbuf_puts(b, defuse ? "\"'" : "\"");
        for (const char *p = s; *p != '\0'; p++) {
            if (*p == '"') lx_strbuf_puts(b, "\"");
            lx_strbuf_append(b, p, 1);
        }
        lx_strbuf_puts(b, "\"");
    }
    lx_strbuf_puts(b, last ? "\r\n" : ",");
}

static void respond_csv(lx_req_t *lr, const PGresult *lines, int n)
{
    static const char header[] = "issued_at,receipt_id,kind,book,amount,currency,lead_id,sale_id,ledger_txn,reference\r\n";
    lx_strbuf_t b;
    lx_strbuf_init(&b, (size_t)n * 2048 + sizeof(header) + 64);
    lx_strbuf_puts(&b, header);
    for (int i = 0; i < n; i++) {
        char ts[LX_TS_LEN + 1];
        if (lx_ts_from_pg(PQgetvalue(lines, i, SL_ISSUED), ts) != 0) ts[0] = '\0';
        csv_field(&b, ts, 0, 0);
        for (int c = SL_ID; c < SL__COUNT; c++) /* NULL = "" */
            csv_field(&b, PQgetvalue(lines, i, c), c == SL_REFERENCE, c == SL__COUNT - 1);
    }
    if (b.overflow) {
        lx_strbuf_free(&b);
        lx_respond_problem(lr, LX_ERR_INTERNAL, NULL, "The statement is too large to render.");
        return;
    }
    lx_respond_body(lr, 200, "text/csv; charset=utf-8", b.base, b.len);
    lx_strbuf_free(&b);
}

static int on_statement(lx_req_t *lr, lx_async_t *a)
{
    const statement_t *s = a->user;
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const PGresult *acc = a->job.results[0], *open = a->job.results[1], *lines = a->job.results[2];
    if (PQntuples(acc) != 1 || strcmp(PQgetvalue(acc, 0, 0), "operator") == 0) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL,
                           PQntuples(acc) != 1 ? "No such account." : "This account holds no books (operators have none).");
        return 0;
    }
    int n = PQntuples(lines);
    if (n > STATEMENT_LINES_MAX) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, s->from[0] ? "query.from" : "query.to",
                           "More than %d receipts in this period: ask for a narrower one (from/to).", STATEMENT_LINES_MAX);
        return 0;
    }
    if (s->csv) {
        respond_csv(lr, lines, n);
        return 0;
    }
    int advertiser = strcmp(PQgetvalue(acc, 0, 0), "advertiser") == 0;
    json_t *opening = json_object(), *closing = json_object(), *totals = json_object(), *items = json_array();
    for (const char *const *b = STATEMENT_BOOKS; *b != NULL; b++)
        json_object_set_new(opening, *b, (strcmp(*b, "balance") == 0) == advertiser ? json_integer(0) : json_null());
    for (const char *const *k = STATEMENT_KINDS; *k != NULL; k++)
        json_object_set_new(totals, *k, json_pack("{s:i, s:I}", "count", 0, "amount", (json_int_t)0));
    for (int i = 0; i < PQntuples(open); i++) add_to(opening, PQgetvalue(open, i, 0), strtoll(PQgetvalue(open, i, 1), NULL, 10));
    json_object_update(closing, opening); /* copies the members (integers are immutable values here) */
    for (int i = 0; i < n; i++) {
        const char *kind = PQgetvalue(lines, i, SL_KIND), *book = PQgetvalue(lines, i, SL_BOOK);
        int64_t amount = strtoll(PQgetvalue(lines, i, SL_AMOUNT), NULL, 10);
        json_array_append_new(items,
                              json_pack("{s:o, s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:s, s:o}", "issued_at",
                                        lx_ts_json(lines, i, SL_ISSUED), "receipt_id", PQgetvalue(lines, i, SL_ID), "kind", kind,
                                        "book", book, "amount", (json_int_t)amount, "currency", PQgetvalue(lines, i, SL_CURRENCY),
                                        "lead_id", str_json(lines, i, SL_LEAD), "sale_id", str_json(lines, i, SL_SALE),
                                        "ledger_txn", PQgetvalue(lines, i, SL_TXN), "reference", str_json(lines, i, SL_REFERENCE)));
        add_to(closing, book, amount);
        if (strcmp(kind, "settlement") == 0) add_to(closing, "pending", -amount);
        json_t *t = json_object_get(totals, kind);
        if (t == NULL) continue; /* the receipts table admits only these kinds */
        json_object_set_new(t, "count", json_integer(json_integer_value(json_object_get(t, "count")) + 1));
        add_to(t, "amount", amount);
    }
    lx_respond_json(
        lr, 200,
        json_pack("{s:s, s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:o, s:o}", "account_id", s->account_id, "role", PQgetvalue(acc, 0, 0),
                  "currency", PQgetvalue(acc, 0, 1), "from", s->from[0] ? json_string(s->from) : json_null(), "to", s->to, "final",
                  PQgetvalue(acc, 0, 2)[0] == 't', "opening", opening, "lines", items, "totals", totals, "closing", closing));
    return 0;
}

static int statement_time(lx_req_t *lr, const char *value, const char *field, int64_t *us)
{
    if (lx_ts_parse_rfc3339(value, strlen(value), us) != 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, field, "%s must be an RFC 3339 date-time such as 2026-11-23T10:00:00Z.",
                           field + strlen("query."));
        return -1;
    }
    return 0;
}

void lx_api_statement_get(lx_req_t *lr)
{
    static const char *const names[] = {"from", "to", "format", NULL};
    const char *q[3];
    lx_uuid_t id;
    char ids[LX_UUID_STRLEN + 1];
    if (lx_req_path_uuid(lr, "id", &id, ids) != 0 || lx_req_query(lr, names, q) != 0) return;
    if (!lx_can_see_account(lr, &id)) {
        lx_respond_problem(lr, LX_ERR_NOT_FOUND, NULL, "No such account.");
        return;
    }
    int csv = 0;
    if (q[2] != NULL && strcmp(q[2], "csv") == 0)
        csv = 1;
    else if (q[2] != NULL && strcmp(q[2], "json") != 0) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.format", "format must be json or csv.");
        return;
    }
    int64_t from_us = 0, to_us;
    if (q[0] != NULL && statement_time(lr, q[0], "query.from", &from_us) != 0) return;
    if (q[1] != NULL) {
        if (statement_time(lr, q[1], "query.to", &to_us) != 0) return;
    } else {
        to_us = lx_ts_now_us();
    }
    if (q[0] != NULL && from_us >= to_us) {
        lx_respond_problem(lr, LX_ERR_VALIDATION, "query.to", "to must be later than from.");
        return;
    }
    lx_async_t *a = lx_async_new(lr, on_statement);
    statement_t *s = lx_async_alloc(a, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->csv = csv;
    memcpy(s->account_id, ids, sizeof(s->account_id));
    if (q[0] != NULL) lx_ts_format_us(from_us, s->from);
    lx_ts_format_us(to_us, s->to);
    a->user = s;
    char limit_s[16];
    snprintf(limit_s, sizeof(limit_s), "%d", STATEMENT_LINES_MAX + 1);
    lx_db_call_t *acc = lx_db_job_add(&a->job, &statement_account);
    lx_db_param(acc, 0, s->account_id);
    lx_db_param(acc, 1, s->to);
    lx_db_call_t *c = lx_db_job_add(&a->job, &statement_opening);
    lx_db_param(c, 0, s->account_id);
    lx_db_param(c, 1, s->from[0] ? s->from : NULL);
    c = lx_db_job_add(&a->job, &statement_lines);
    lx_db_param(c, 0, s->account_id);
    lx_db_param(c, 1, s->from[0] ? s->from : NULL);
    lx_db_param(c, 2, s->to);
    lx_db_param(c, 3, lx_async_dup(a, limit_s, strlen(limit_s)));
    lx_async_submit(a);
}

/* ---- GET /v1/ledger/platform ------------------------------------------------------------------- */

/* The platform's books have no balance row (no single row every sale would update): their balances are the sums of
 * their entries, read here through the (ledger_account_id, id) index. */
/* The sums are numeric: the cash book's is the negated sum of every deposit in the currency, over all accounts, which
 * no per-account bound keeps inside 64 bits. They are answered exactly, as the decimal integers PostgreSQL gives. */
LX_DB_STMT(platform_books, 1,
           "SELECT la.book, coalesce((SELECT sum(e.amount) FROM ledger_entries e WHERE e.ledger_account_id = la.id), 0) "
           "FROM ledger_accounts la WHERE la.owner IS NULL AND la.currency = $1");

/* An integer in PostgreSQL's text (an optional minus, digits), else NULL. */
static const char *integer_text(const PGresult *r, int row, int col)
{
    const char *v = PQgetvalue(r, row, col);
    const char *d = v + (*v == '-');
    return *d != '\0' && strspn(d, "0123456789") == strlen(d) ? v : NULL;
}

static int on_platform(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    PGresult *r = a->job.results[0];
    const char *revenue = NULL, *cash = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), lx_book_name(LX_BOOK_REVENUE)) == 0) revenue = integer_text(r, i, 1);
        if (strcmp(PQgetvalue(r, i, 0), lx_book_name(LX_BOOK_CASH)) == 0) cash = integer_text(r, i, 1);
    }
    if (revenue == NULL || cash == NULL) {
        lx_respond_problem(lr, LX_ERR_INVALID_PARAMETER, "query.currency", "currency is not in the ISO 4217 catalogue.");
        return 0;
    }
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 4096);
    lx_strbuf_printf(&sb, "{\"currency\":\"%.3s\",\"revenue\":%s,\"cash\":%s}", (const char *)a->user, revenue, cash);
    lx_respond_body(lr, 200, "application/json", sb.base, sb.len);
    lx_strbuf_free(&sb);
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
    char since[LX_TS_LEN + 1];
    if (lx_req_since(lr, q[3], since) != 0) return;
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
