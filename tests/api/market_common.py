"""Shared pieces of the money tests: the ledger invariants as one reusable check, a way to post a ledger
transaction straight into the database (the same two statements the server runs), and a test case base that
checks the ledger after every test.

    from market_common import MarketTestCase, assert_ledger_consistent, post_txn

assert_ledger_consistent(db_url) is the check of DESIGN.md §4 invariants 3 and 4 on the whole database: call it
after any test that moves money (MarketTestCase does so after each test).
"""
import json
import secrets
import subprocess
import time

from harness import ServerTestCase, bearer, psql

JSON = {"Content-Type": "application/json"}


def uuid7():
    """A UUIDv7 string (48 bits of Unix ms, version 7, 74 random bits, RFC 4122 variant), as the server makes them."""
    ms = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    v = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{v:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _rows(db_url, sql):
    out = psql(db_url, sql)
    return [line.split("|") for line in out.splitlines() if line]


# The checks: each query returns the rows that break one rule (none when the ledger is sound).
_CHECKS = (
    ("a transaction does not sum to zero in its currency",
     "SELECT txn_id, currency, sum(amount) FROM ledger_entries GROUP BY txn_id, currency HAVING sum(amount) <> 0"),
    ("a transaction has no entries (posted half-way)",
     "SELECT t.id, t.kind FROM ledger_txns t WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.txn_id = t.id)"),
    ("an entry names a missing transaction or another currency than its transaction's",
     "SELECT e.id, e.txn_id FROM ledger_entries e LEFT JOIN ledger_txns t ON t.id = e.txn_id "
     "WHERE t.id IS NULL OR t.currency <> e.currency"),
    ("an entry does not match its book (owner, book, currency)",
     "SELECT e.id FROM ledger_entries e LEFT JOIN ledger_accounts a ON a.id = e.ledger_account_id "
     "WHERE a.id IS NULL OR a.owner IS DISTINCT FROM e.account_id OR a.book <> e.book OR a.currency <> e.currency"),
    ("a balance row differs from the sum of its entries",
     "SELECT a.id, a.owner, a.book, a.balance, coalesce(s.total, 0) FROM ledger_accounts a "
     "LEFT JOIN (SELECT ledger_account_id, sum(amount) AS total FROM ledger_entries GROUP BY 1) s "
     "ON s.ledger_account_id = a.id WHERE a.balance IS NOT NULL AND a.balance <> coalesce(s.total, 0)"),
    ("a platform book has a balance row, or an account book has none",
     "SELECT id, owner, book FROM ledger_accounts WHERE (owner IS NULL) <> (balance IS NULL)"),
    ("a balance is below its floor",
     "SELECT id, owner, book, balance, min_balance FROM ledger_accounts WHERE balance < min_balance"),
    ("an advertiser's floor is not minus its credit limit, or a webmaster's is not zero",
     "SELECT l.id, o.role, l.book, l.min_balance, o.credit_limit FROM ledger_accounts l "
     "JOIN accounts o ON o.id = l.owner "
     "WHERE (o.role = 'advertiser' AND (l.book <> 'balance' OR l.min_balance <> -o.credit_limit)) "
     "OR (o.role = 'webmaster' AND (l.book NOT IN ('pending', 'available') OR l.min_balance <> 0)) "
     "OR o.role = 'operator'"),
    ("an account lacks its books",
     "SELECT a.id, a.role FROM accounts a WHERE a.role <> 'operator' AND (SELECT count(*) FROM ledger_accounts l "
     "WHERE l.owner = a.id AND l.currency = a.currency) <> CASE a.role WHEN 'advertiser' THEN 1 ELSE 2 END"),
)


def assert_ledger_consistent(db_url):
    """Asserts the ledger invariants over the whole database: every transaction has entries and balances to zero per
    currency; every entry matches its transaction and book; every balance row equals the sum of its entries and is
    at or above its floor (an advertiser's: minus its credit limit; a webmaster's: zero); the platform's books have no
    balance row. Raises AssertionError naming each broken rule and up to five offending rows. Returns the number of
    transactions checked."""
    problems = []
    for rule, sql in _CHECKS:
        rows = _rows(db_url, sql)
        if rows:
            problems.append(f"{rule}: {rows[:5]}{' ...' if len(rows) > 5 else ''}")
    if problems:
        raise AssertionError("ledger inconsistent:\n  " + "\n  ".join(problems))
    return int(psql(db_url, "SELECT count(*) FROM ledger_txns"))


def post_txn(db_url, kind, currency, entries, reference=None, lead_id=None, created_by=None, check=True,
             receipts=True, issued_at="now()"):
    """Posts one ledger transaction straight into the database, through the same INSERT shapes as
    src/billing/ledger.c, in one transaction. entries: [(owner account id or None for the platform, book, amount)].
    With receipts=True, each owned (account, book) gets a receipt row matching its entries (unsigned stand-ins, never
    queued for the log: the database checks receipts against entries, not signatures), issued at the SQL expression
    `issued_at`. Returns the transaction id;
    with check=False returns (txn id, CompletedProcess) so a refusal can be inspected."""
    txn_id = uuid7()
    txns = [{"id": txn_id, "kind": kind, "currency": currency, "reference": reference, "lead_id": lead_id,
             "created_by": created_by}]
    rows = [{"t": txn_id, "owner": owner, "book": book, "amount": amount, "currency": currency}
            for owner, book, amount in entries]
    sums = {}
    for owner, book, amount in entries:
        if owner is not None and book in ("balance", "pending", "available"):
            sums[(owner, book)] = sums.get((owner, book), 0) + amount
    sale = kind in ("sale", "refund")
    recs = [{"id": uuid7(), "account_id": owner, "kind": kind, "book": book, "ledger_txn": txn_id, "amount": amount,
             "currency": currency, "lead_id": (lead_id or uuid7()) if sale else None,
             "sale_id": uuid7() if sale else None, "reverses": uuid7() if kind == "refund" else None}
            for (owner, book), amount in sums.items() if amount != 0] if receipts else []
    sql = (
        "BEGIN;\n"
        "INSERT INTO ledger_txns (id, kind, currency, reference, lead_id, created_by) "
        "SELECT x.id, x.kind, x.currency, x.reference, x.lead_id, x.created_by "
        "FROM jsonb_to_recordset(:'txns'::jsonb) AS x(id uuid, kind text, currency text, reference text, lead_id uuid, "
        "created_by uuid);\n"
        "INSERT INTO receipts (id, account_id, kind, book, ledger_txn, amount, currency, lead_id, sale_id, reverses, "
        "issued_at, body, key_id, signature) "
        "SELECT x.id, x.account_id, x.kind, x.book, x.ledger_txn, x.amount, x.currency, x.lead_id, x.sale_id, "
        f"x.reverses, {issued_at}, '{{}}', '0000000000000000', repeat('A', 86) "
        "FROM jsonb_to_recordset(:'receipts'::jsonb) AS x(id uuid, account_id uuid, kind text, book text, "
        "ledger_txn uuid, amount bigint, currency text, lead_id uuid, sale_id uuid, reverses uuid);\n"
        "INSERT INTO ledger_entries (txn_id, ledger_account_id, account_id, book, amount, currency) "
        "SELECT x.t, a.id, a.owner, a.book, x.amount, a.currency "
        "FROM jsonb_to_recordset(:'entries'::jsonb) AS x(t uuid, owner uuid, book text, amount bigint, currency text) "
        "JOIN ledger_accounts a ON a.book = x.book AND a.currency = x.currency "
        "AND (a.owner = x.owner OR (a.owner IS NULL AND x.owner IS NULL)) ORDER BY x.t;\n"
        "COMMIT;\n")
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db_url,
                        "-v", "txns=" + json.dumps(txns), "-v", "entries=" + json.dumps(rows),
                        "-v", "receipts=" + json.dumps(recs)],
                       input=sql, capture_output=True, text=True, timeout=60)
    if not check:
        return txn_id, p
    if p.returncode != 0:
        raise AssertionError(f"posting {kind} {entries} failed:\n{p.stderr}")
    return txn_id


def post_sale(db_url, buyer, webmaster, price, fee, currency="USD", lead_id=None, check=True):
    """A sale as the marketplace posts it: the buyer's balance -price, the webmaster's pending +(price - fee), the
    platform's revenue +fee."""
    return post_txn(db_url, "sale", currency,
                    [(buyer, "balance", -price), (webmaster, "pending", price - fee), (None, "revenue", fee)],
                    lead_id=lead_id or uuid7(), check=check)


class MarketTestCase(ServerTestCase):
    """ServerTestCase that checks the ledger after every test, with money helpers."""

    def tearDown(self):
        super().tearDown()
        assert_ledger_consistent(self.db_url)

    def deposit(self, account_id, amount, currency="USD", reference=None, key=None, token=None, client=None,
                body=None):
        headers = bearer(token or self.op)
        if key is not None:
            headers["Idempotency-Key"] = key
        if body is None:
            body = {"amount": amount, "currency": currency, "reference": reference or f"wire {secrets.token_hex(4)}"}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).post(f"/v1/accounts/{account_id}/deposits", content=content,
                                        headers={**headers, **JSON})

    def balance(self, account_id, token=None, client=None):
        return (client or self.h2).get(f"/v1/accounts/{account_id}/balance", headers=bearer(token or self.op))

    def patch_account(self, account_id, body, token=None, client=None):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).patch(f"/v1/accounts/{account_id}", content=content,
                                         headers={**bearer(token or self.op), **JSON})

    def entries(self, token=None, client=None, **params):
        """Every entry visible with these parameters, walking all pages (limit from params, default 50)."""
        items, cursor, pages = [], None, 0
        while True:
            q = dict(params)
            if cursor is not None:
                q["cursor"] = cursor
            r = (client or self.h2).get("/v1/ledger", params=q, headers=bearer(token or self.op))
            self.assertEqual(r.status_code, 200, r.text)
            doc = r.json()
            items.extend(doc["items"])
            cursor = doc["next_cursor"]
            pages += 1
            if cursor is None:
                return items
            self.assertLess(pages, 1000, "pagination does not end")
