"""Balances and the ledger: deposits (with Idempotency-Key and under concurrency), balances per role, the platform's
books, the entries list (paging, filters, visibility), credit limits and account suspension. After every test the
whole ledger is checked (market_common.assert_ledger_consistent)."""
import concurrent.futures
import datetime
import json
import secrets
import subprocess
import threading
import unittest
import urllib.parse

from harness import Server, UUID_RE, bearer, create_operator, main, new_database, problem, psql, run_cli, wait_for
from market_common import MarketTestCase, assert_ledger_consistent, post_sale, post_txn, uuid7

MAX = 2 ** 53 - 1


def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


class Deposits(MarketTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.op_id = cls.h2.get("/v1/me", headers=bearer(cls.op)).json()["account"]["id"]

    def setUp(self):
        self.adv, self.adv_token = self.create_account("advertiser", currency="USD")

    def test_deposit_credits_the_balance(self):
        before = datetime.datetime.now(datetime.timezone.utc)
        r = self.deposit(self.adv["id"], 12_345, reference="wire 2026-11-23 #42")
        self.assertEqual(r.status_code, 201, r.text)
        d = r.json()
        self.assertRegex(d["id"], UUID_RE)
        self.assertEqual((d["account_id"], d["amount"], d["currency"], d["reference"], d["balance"]),
                         (self.adv["id"], 12_345, "USD", "wire 2026-11-23 #42", 12_345))
        self.assertLess(abs((ts(d["created_at"]) - before).total_seconds()), 60)
        r = self.deposit(self.adv["id"], 655, client=self.h1)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["balance"], 13_000)
        bal = self.balance(self.adv["id"]).json()
        self.assertEqual(bal, {"account_id": self.adv["id"], "role": "advertiser", "currency": "USD", "balance": 13_000,
                               "credit_limit": 0, "pending": None, "available": 13_000})
        # One transaction of kind deposit, by this operator, with two entries: cash -amount, balance +amount.
        row = psql(self.db_url, f"SELECT kind, currency, reference, created_by, lead_id IS NULL FROM ledger_txns "
                                f"WHERE id = '{d['id']}'")
        self.assertEqual(row, f"deposit|USD|wire 2026-11-23 #42|{self.op_id}|t")
        entries = [e for e in self.entries() if e["txn_id"] == d["id"]]
        self.assertEqual(sorted(((e["account_id"], e["book"], e["amount"]) for e in entries), key=lambda t: t[1]),
                         [(self.adv["id"], "balance", 12_345), (None, "cash", -12_345)])
        for e in entries:
            self.assertEqual((e["kind"], e["currency"], e["reference"], e["lead_id"], e["created_at"]),
                             ("deposit", "USD", "wire 2026-11-23 #42", None, d["created_at"]))

    def test_largest_amount_and_unicode_reference(self):
        ref = "Платёж №7 — " + "Ж" * 188  # 200 characters
        r = self.deposit(self.adv["id"], MAX, reference=ref)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual((r.json()["amount"], r.json()["balance"], r.json()["reference"]), (MAX, MAX, ref))
        # A balance stays at or below 2^53 - 1 too (migrations/0019): exact for every JSON reader, and with a credit
        # limit (at most as much) what the advertiser may spend stays inside 64 bits.
        before = psql(self.db_url, "SELECT count(*) FROM ledger_txns")
        problem(self.deposit(self.adv["id"], 1, reference="x"), 422, "validation_failed", field="/amount")
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM ledger_txns"), before)
        r = self.h2.patch(f"/v1/accounts/{self.adv['id']}", json={"credit_limit": MAX}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual((self.balance(self.adv["id"]).json()["balance"], self.balance(self.adv["id"]).json()["available"]),
                         (MAX, 2 * MAX))

    def assert_nothing_posted(self, before):
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM ledger_txns"), before)
        self.assertEqual(self.balance(self.adv["id"]).json()["balance"], 0)

    def test_bad_amounts(self):
        before = psql(self.db_url, "SELECT count(*) FROM ledger_txns")
        for amount in (0, -1, -500, 1.5, 100.0, "100", None, True, [], {}, 2 ** 53, 2 ** 63 - 1, -2 ** 63):
            with self.subTest(amount=amount):
                body = {"amount": amount, "currency": "USD", "reference": "r"}
                problem(self.deposit(self.adv["id"], None, body=body), 422, "validation_failed", field="/amount")
        for raw in (b'{"amount":1e3,"currency":"USD","reference":"r"}',
                    b'{"amount":99999999999999999999999,"currency":"USD","reference":"r"}',
                    b'{"currency":"USD","reference":"r"}'):
            with self.subTest(raw=raw):
                problem(self.deposit(self.adv["id"], None, body=raw), 422, "validation_failed", field="/amount")
        self.assert_nothing_posted(before)

    def test_bad_currencies(self):
        before = psql(self.db_url, "SELECT count(*) FROM ledger_txns")
        for currency in ("usd", "US", "USDD", "", 840, None, True, "EUR", "XXX", "RUB"):
            with self.subTest(currency=currency):
                body = {"amount": 100, "currency": currency, "reference": "r"}
                problem(self.deposit(self.adv["id"], None, body=body), 422, "validation_failed", field="/currency")
        problem(self.deposit(self.adv["id"], None, body={"amount": 100, "reference": "r"}), 422, "validation_failed",
                field="/currency")
        self.assert_nothing_posted(before)

    def test_bad_references(self):
        before = psql(self.db_url, "SELECT count(*) FROM ledger_txns")
        for ref in ("", " ", "   ", "a" * 201, "Ж" * 201, "line\nbreak", "tab\there", "\u007f", 5, None, ["r"]):
            with self.subTest(reference=ref):
                body = {"amount": 100, "currency": "USD", "reference": ref}
                problem(self.deposit(self.adv["id"], None, body=body), 422, "validation_failed", field="/reference")
        problem(self.deposit(self.adv["id"], None, body={"amount": 100, "currency": "USD"}), 422, "validation_failed",
                field="/reference")
        self.assert_nothing_posted(before)

    def test_bad_bodies(self):
        before = psql(self.db_url, "SELECT count(*) FROM ledger_txns")
        doc = problem(self.deposit(self.adv["id"], None, body={"amount": 0, "currency": "usd", "reference": "",
                                                              "memo": "x"}), 422, "validation_failed")
        self.assertEqual(sorted(e["field"] for e in doc["errors"]), ["/amount", "/currency", "/memo", "/reference"])
        for body in ([], "deposit", 5, None):
            with self.subTest(body=body):
                problem(self.deposit(self.adv["id"], None, body=json.dumps(body).encode()), 422, "validation_failed",
                        field="")
        problem(self.deposit(self.adv["id"], None, body=b""), 400, "malformed_json")
        problem(self.deposit(self.adv["id"], None, body=b'{"amount":1,"amount":2,"currency":"USD","reference":"r"}'),
                400, "malformed_json")
        r = self.h2.post(f"/v1/accounts/{self.adv['id']}/deposits", content=b"amount=1",
                         headers={**bearer(self.op), "Content-Type": "application/x-www-form-urlencoded"})
        problem(r, 415, "unsupported_media_type")
        self.assert_nothing_posted(before)

    def test_targets_that_take_no_deposit(self):
        wm, _ = self.create_account("webmaster", currency="USD")
        before = psql(self.db_url, "SELECT count(*) FROM ledger_txns")
        for target in (wm["id"], self.op_id):
            with self.subTest(target=target):
                doc = problem(self.deposit(target, 100), 422, "validation_failed", field="path.id")
                self.assertIn("advertiser", doc["errors"][0]["message"])
        problem(self.deposit(uuid7(), 100), 404, "not_found")
        problem(self.deposit("not-an-id", 100), 404, "not_found", field="path.id")
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM ledger_txns"), before)

    def test_another_currency(self):
        eur, _ = self.create_account("advertiser", currency="EUR")
        doc = problem(self.deposit(eur["id"], 100, currency="USD"), 422, "validation_failed", field="/currency")
        self.assertIn("EUR", doc["errors"][0]["message"])
        r = self.deposit(eur["id"], 100, currency="EUR")
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual((r.json()["currency"], r.json()["balance"]), ("EUR", 100))
        self.assertEqual(self.balance(eur["id"]).json()["currency"], "EUR")

    def test_only_operators_deposit(self):
        wm, wm_token = self.create_account("webmaster", currency="USD")
        for token in (self.adv_token, wm_token):
            problem(self.deposit(self.adv["id"], 100, token=token), 403, "forbidden")
        problem(self.h2.post(f"/v1/accounts/{self.adv['id']}/deposits", json={"amount": 1}), 401, "unauthorized")
        self.assertEqual(self.balance(self.adv["id"]).json()["balance"], 0)

    def test_idempotent_replay(self):
        key = "dep-" + secrets.token_hex(6)
        body = {"amount": 2_500, "currency": "USD", "reference": "invoice 17"}
        first = self.deposit(self.adv["id"], None, body=body, key=key)
        self.assertEqual(first.status_code, 201, first.text)
        for client in (self.h2, self.h1):
            again = self.deposit(self.adv["id"], None, body=body, key=key, client=client)
            self.assertEqual(again.status_code, 201, again.text)
            self.assertEqual(again.json(), first.json())
        self.assertEqual(self.balance(self.adv["id"]).json()["balance"], 2_500)
        # A later deposit moves the balance; a replay of the first shows the deposit with the balance now.
        self.assertEqual(self.deposit(self.adv["id"], 500).status_code, 201)
        again = self.deposit(self.adv["id"], None, body=body, key=key).json()
        self.assertEqual({**again, "balance": None}, {**first.json(), "balance": None})
        self.assertEqual(again["balance"], 3_000)
        # The same key with another body, or for another account, is 422.
        for other_body, target in (({**body, "amount": 2_501}, self.adv["id"]), ({**body, "reference": "other"},
                                                                                self.adv["id"])):
            problem(self.deposit(target, None, body=other_body, key=key), 422, "idempotency_key_reused",
                    field="header.idempotency-key")
        adv2, _ = self.create_account("advertiser", currency="USD")
        problem(self.deposit(adv2["id"], None, body=body, key=key), 422, "idempotency_key_reused")
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM ledger_txns WHERE reference = 'invoice 17'"), "1")
        self.assertEqual(self.balance(adv2["id"]).json()["balance"], 0)

    def test_refused_deposit_does_not_use_up_the_key(self):
        key = "dep-" + secrets.token_hex(6)
        problem(self.deposit(self.adv["id"], 100, currency="EUR", key=key), 422, "validation_failed")
        problem(self.deposit(self.adv["id"], 0, key=key), 422, "validation_failed")
        r = self.deposit(self.adv["id"], 100, key=key, reference="good")
        self.assertEqual(r.status_code, 201, r.text)
        problem(self.deposit(self.adv["id"], 100, key="", reference="good"), 400, "invalid_parameter",
                field="header.idempotency-key")

    def test_concurrent_deposits(self):
        """32 deposits at once over 32 connections (HTTP/2 and HTTP/1.1): all credited, the balance is their sum. One
        connection per thread: httpcore's HTTP/2 connection is not thread-safe (two threads may send their streams out
        of id order, which h2o rightly refuses with GOAWAY)."""
        clients = [self.server.client(http2=i % 2 == 0) for i in range(32)]
        amounts = [1_000 + 37 * i for i in range(32)]
        barrier = threading.Barrier(32)

        def one(i):
            barrier.wait()
            return self.deposit(self.adv["id"], amounts[i], reference=f"c{i}", client=clients[i % len(clients)])

        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            results = list(ex.map(one, range(32)))
        for r in results:
            self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(len({r.json()["id"] for r in results}), 32)
        # Each answer's balance is the balance right after it: all different, the largest is the sum.
        self.assertEqual(len({r.json()["balance"] for r in results}), 32)
        self.assertEqual(max(r.json()["balance"] for r in results), sum(amounts))
        self.assertEqual(self.balance(self.adv["id"]).json()["balance"], sum(amounts))
        mine = self.entries(account=self.adv["id"], limit=200)
        self.assertEqual(sorted(e["amount"] for e in mine), sorted(amounts))
        for c in clients:
            c.close()

    def test_concurrent_same_key(self):
        """One Idempotency-Key raced by 8 requests: one deposit; every 201 is that deposit, the rest 409."""
        key = "race-" + secrets.token_hex(6)
        body = {"amount": 777, "currency": "USD", "reference": "race"}
        clients = [self.server.client(http2=True) for _ in range(8)]  # one per thread (see above)
        barrier = threading.Barrier(8)

        def one(i):
            barrier.wait()
            return self.deposit(self.adv["id"], None, body=body, key=key, client=clients[i])

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(one, range(8)))
        ok = [r for r in results if r.status_code == 201]
        self.assertGreaterEqual(len(ok), 1)
        for r in results:
            if r.status_code != 201:
                problem(r, 409, "idempotency_in_progress")
        self.assertEqual(len({r.json()["id"] for r in ok}), 1)
        self.assertEqual(self.balance(self.adv["id"]).json()["balance"], 777)
        for c in clients:
            c.close()


class Balances(MarketTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.op_id = cls.h2.get("/v1/me", headers=bearer(cls.op)).json()["account"]["id"]

    def setUp(self):
        self.adv, self.adv_token = self.create_account("advertiser", currency="USD")
        self.wm, self.wm_token = self.create_account("webmaster", currency="USD")

    def test_shapes_per_role(self):
        for token in (self.op, self.adv_token):
            r = self.balance(self.adv["id"], token=token)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json(), {"account_id": self.adv["id"], "role": "advertiser", "currency": "USD",
                                        "balance": 0, "credit_limit": 0, "pending": None, "available": 0})
        for token in (self.op, self.wm_token):
            r = self.balance(self.wm["id"], token=token, client=self.h1)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json(), {"account_id": self.wm["id"], "role": "webmaster", "currency": "USD",
                                        "balance": None, "credit_limit": None, "pending": 0, "available": 0})

    def test_money_moves_show(self):
        self.assertEqual(self.deposit(self.adv["id"], 10_000).status_code, 201)
        self.assertEqual(self.patch_account(self.adv["id"], {"credit_limit": 3_000}).status_code, 200)
        post_sale(self.db_url, self.adv["id"], self.wm["id"], price=12_000, fee=1_800)
        # Settlement: the webmaster's pending payout becomes available.
        post_txn(self.db_url, "settlement", "USD",
                 [(self.wm["id"], "pending", -4_000), (self.wm["id"], "available", 4_000)])
        adv = self.balance(self.adv["id"], token=self.adv_token).json()
        self.assertEqual((adv["balance"], adv["credit_limit"], adv["available"]), (-2_000, 3_000, 1_000))
        wm = self.balance(self.wm["id"], token=self.wm_token).json()
        self.assertEqual((wm["pending"], wm["available"]), (10_200 - 4_000, 4_000))
        # Each balance is the sum of the book's entries as the account itself lists them.
        adv_entries = self.entries(token=self.adv_token)
        self.assertEqual(sum(e["amount"] for e in adv_entries), adv["balance"])
        wm_entries = self.entries(token=self.wm_token)
        self.assertEqual(sum(e["amount"] for e in wm_entries if e["book"] == "pending"), wm["pending"])
        self.assertEqual(sum(e["amount"] for e in wm_entries if e["book"] == "available"), wm["available"])

    def test_visibility(self):
        other_adv, other_token = self.create_account("advertiser", currency="USD")
        for token, target in ((self.adv_token, self.wm["id"]), (self.wm_token, self.adv["id"]),
                              (other_token, self.adv["id"]), (self.adv_token, other_adv["id"]),
                              (self.adv_token, self.op_id), (self.wm_token, uuid7())):
            with self.subTest(target=target):
                problem(self.balance(target, token=token), 404, "not_found")
        # Operators hold no books; unknown and malformed ids are 404 too.
        problem(self.balance(self.op_id), 404, "not_found")
        problem(self.balance(uuid7()), 404, "not_found")
        problem(self.balance("12345"), 404, "not_found", field="path.id")

    def test_platform_books(self):
        def books(currency="USD"):
            r = self.h2.get("/v1/ledger/platform", params={"currency": currency}, headers=bearer(self.op))
            self.assertEqual(r.status_code, 200, r.text)
            doc = r.json()
            self.assertEqual(doc["currency"], currency)
            return doc

        before, rub_before = books(), books("RUB")
        self.assertEqual(self.deposit(self.adv["id"], 7_000).status_code, 201)
        post_sale(self.db_url, self.adv["id"], self.wm["id"], price=5_000, fee=750)
        after = books()
        self.assertEqual((after["cash"] - before["cash"], after["revenue"] - before["revenue"]), (-7_000, 750))
        self.assertEqual(books("RUB"), rub_before)
        # The platform's books are the sums of their entries (they have no balance row), and with every account's
        # books the currency sums to zero.
        sums = dict(line.split("|") for line in psql(
            self.db_url, "SELECT a.book, coalesce(sum(e.amount), 0) FROM ledger_accounts a LEFT JOIN ledger_entries e "
                         "ON e.ledger_account_id = a.id WHERE a.owner IS NULL AND a.currency = 'USD' GROUP BY 1").splitlines())
        self.assertEqual((after["revenue"], after["cash"]), (int(sums["revenue"]), int(sums["cash"])))
        held = int(psql(self.db_url, "SELECT coalesce(sum(balance), 0) FROM ledger_accounts WHERE currency = 'USD' "
                                     "AND owner IS NOT NULL"))
        self.assertEqual(held + after["revenue"] + after["cash"], 0)

    def test_platform_books_errors(self):
        for token in (self.adv_token, self.wm_token):
            problem(self.h2.get("/v1/ledger/platform?currency=USD", headers=bearer(token)), 403, "forbidden")
        for query in ("", "currency=", "currency=usd", "currency=US", "currency=USDD", "currency=XXX",
                      "currency=%00SD", "currency=USD&currency=EUR"):
            with self.subTest(query=query):
                problem(self.h2.get("/v1/ledger/platform?" + query, headers=bearer(self.op)), 400,
                        "invalid_parameter", field="query.currency")
        problem(self.h2.get("/v1/ledger/platform?currency=USD&limit=5", headers=bearer(self.op)), 400,
                "invalid_parameter", field="query.limit")


class LedgerList(MarketTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.op_id = cls.h2.get("/v1/me", headers=bearer(cls.op)).json()["account"]["id"]
        cls.a, cls.a_token = cls.make("advertiser")
        cls.b, cls.b_token = cls.make("advertiser")
        cls.w, cls.w_token = cls.make("webmaster")
        for i, (acct, amount) in enumerate(((cls.a, 1_000), (cls.b, 2_000), (cls.a, 3_000), (cls.b, 4_000),
                                            (cls.a, 5_000))):
            r = cls.h2.post(f"/v1/accounts/{acct['id']}/deposits", headers=bearer(cls.op),
                            json={"amount": amount, "currency": "USD", "reference": f"seed {i}"})
            assert r.status_code == 201, r.text
        cls.lead_id = uuid7()
        cls.sale = post_sale(cls.db_url, cls.a["id"], cls.w["id"], price=2_000, fee=300, lead_id=cls.lead_id)

    @classmethod
    def make(cls, role):
        r = cls.h2.post("/v1/accounts", json={"role": role, "name": f"{role} {secrets.token_hex(3)}", "currency": "USD"},
                        headers=bearer(cls.op))
        assert r.status_code == 201, r.text
        return r.json()["account"], r.json()["key"]["token"]

    def db_entries(self, where="TRUE"):
        return [int(x) for x in psql(self.db_url, f"SELECT id FROM ledger_entries WHERE {where} ORDER BY id").split()]

    def test_operator_sees_every_entry_in_order(self):
        for limit in (1, 2, 3, 50, 200):
            with self.subTest(limit=limit):
                items = self.entries(limit=limit)
                self.assertEqual([int(e["id"]) for e in items], self.db_entries())
        items = self.entries()
        # Platform books have no owner; every transaction sums to zero.
        self.assertTrue(any(e["account_id"] is None and e["book"] == "cash" for e in items))
        self.assertTrue(any(e["account_id"] is None and e["book"] == "revenue" for e in items))
        by_txn = {}
        for e in items:
            by_txn.setdefault(e["txn_id"], []).append(e)
        for txn, es in by_txn.items():
            self.assertEqual(sum(e["amount"] for e in es), 0, txn)
            self.assertEqual(len({(e["kind"], e["reference"], e["lead_id"], e["created_at"]) for e in es}), 1)
        sale = by_txn[self.sale]
        self.assertEqual(sorted(((e["account_id"], e["book"], e["amount"]) for e in sale), key=lambda t: t[1]),
                         [(self.a["id"], "balance", -2_000), (self.w["id"], "pending", 1_700), (None, "revenue", 300)])
        self.assertTrue(all(e["kind"] == "sale" and e["lead_id"] == self.lead_id for e in sale))

    def test_pages_have_cursors(self):
        r = self.h2.get("/v1/ledger?limit=2", headers=bearer(self.op))
        doc = r.json()
        self.assertEqual(len(doc["items"]), 2)
        self.assertIsNotNone(doc["next_cursor"])
        total = len(self.db_entries())
        r = self.h2.get(f"/v1/ledger?limit={total}", headers=bearer(self.op))
        self.assertEqual(len(r.json()["items"]), total)
        nxt = r.json()["next_cursor"]  # a full last page may carry a cursor whose page is empty
        if nxt is not None:
            r = self.h2.get("/v1/ledger", params={"cursor": nxt}, headers=bearer(self.op))
            self.assertEqual(r.json(), {"items": [], "next_cursor": None})

    def test_new_entries_come_after_the_cursor(self):
        first = self.h2.get("/v1/ledger?limit=1", headers=bearer(self.op)).json()
        acct, _ = self.make("advertiser")
        self.assertEqual(self.deposit(acct["id"], 99).status_code, 201)
        rest = self.entries(cursor=first["next_cursor"])
        self.assertEqual([int(e["id"]) for e in first["items"] + rest], self.db_entries())
        self.assertEqual(rest[-1]["amount"], 99)

    def test_operator_filters_by_account(self):
        for acct in (self.a, self.b, self.w):
            with self.subTest(account=acct["role"]):
                items = self.entries(account=acct["id"], limit=2)
                self.assertEqual([int(e["id"]) for e in items], self.db_entries(f"account_id = '{acct['id']}'"))
                self.assertTrue(all(e["account_id"] == acct["id"] for e in items))
        self.assertEqual(self.entries(account=self.op_id), [])
        self.assertEqual(self.entries(account=uuid7()), [])

    def test_accounts_see_only_their_own(self):
        for acct, token in ((self.a, self.a_token), (self.b, self.b_token), (self.w, self.w_token)):
            with self.subTest(account=acct["role"]):
                own = self.entries(token=token, limit=2)
                self.assertEqual([int(e["id"]) for e in own], self.db_entries(f"account_id = '{acct['id']}'"))
                self.assertEqual(self.entries(token=token, account=acct["id"]), own)
                for other in (self.a, self.b, self.w):
                    if other is not acct:
                        r = self.h2.get("/v1/ledger", params={"account": other["id"]}, headers=bearer(token))
                        problem(r, 404, "not_found", field="query.account")
                problem(self.h2.get("/v1/ledger", params={"account": self.op_id}, headers=bearer(token)), 404,
                        "not_found", field="query.account")
                problem(self.h2.get("/v1/ledger", params={"account": uuid7()}, headers=bearer(token)), 404,
                        "not_found", field="query.account")
        # The webmaster sees its payout of the sale, with the lead, and nothing of the buyer.
        w = self.entries(token=self.w_token)
        self.assertEqual([(e["kind"], e["book"], e["amount"], e["lead_id"]) for e in w],
                         [("sale", "pending", 1_700, self.lead_id)])
        self.assertNotIn(self.a["id"], json.dumps(w))
        a_sum = sum(e["amount"] for e in self.entries(token=self.a_token))
        self.assertEqual(a_sum, self.balance(self.a["id"]).json()["balance"])

    def test_since(self):
        items = self.entries()
        future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(self.entries(since=future), [])
        self.assertEqual(self.entries(since="2000-01-01T00:00:00Z"), items)
        self.assertEqual(self.entries(since="2000-01-01T03:00:00+03:00"), items)
        # The sale was posted last: from its time on, only its entries (and later ones).
        sale_at = [e for e in items if e["txn_id"] == self.sale][0]["created_at"]
        later = self.entries(since=sale_at)
        self.assertTrue(later)
        self.assertTrue(all(ts(e["created_at"]) >= ts(sale_at) for e in later))
        self.assertIn(self.sale, {e["txn_id"] for e in later})
        self.assertEqual(self.entries(since=sale_at, token=self.b_token),
                         [e for e in self.entries(token=self.b_token) if ts(e["created_at"]) >= ts(sale_at)])

    def test_bad_parameters(self):
        accounts_cursor = self.h2.get("/v1/accounts?limit=1", headers=bearer(self.op)).json()["next_cursor"]
        good = self.h2.get("/v1/ledger?limit=1", headers=bearer(self.op)).json()["next_cursor"]
        cases = [("limit=0", "query.limit"), ("limit=201", "query.limit"), ("limit=x", "query.limit"),
                 ("cursor=garbage", "query.cursor"), ("cursor=" + good + "A", "query.cursor"),
                 ("cursor=" + accounts_cursor, "query.cursor"), ("cursor=AAAAAAAAAAAAAAAAAAAAAA", "query.cursor"),
                 ("account=abc", "query.account"), ("account=", "query.account"),
                 ("since=yesterday", "query.since"), ("since=2026-13-01T00:00:00Z", "query.since"),
                 ("since=2026-11-23", "query.since"), ("since=", "query.since"),
                 ("book=cash", "query.book"), ("limit=2&limit=3", "query.limit")]
        for token in (self.op, self.a_token):
            for query, field in cases:
                with self.subTest(query=query):
                    problem(self.h2.get("/v1/ledger?" + query, headers=bearer(token)), 400, "invalid_parameter",
                            field=field)

    def test_percent_encoded_since(self):
        since = urllib.parse.quote("2000-01-01T05:00:00+05:00", safe="")
        r = self.h2.get(f"/v1/ledger?since={since}&limit=1", headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len(r.json()["items"]), 1)


class CreditLimitAndStatus(MarketTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.op_account = cls.h2.get("/v1/me", headers=bearer(cls.op)).json()["account"]

    def setUp(self):
        self.adv, self.adv_token = self.create_account("advertiser", currency="USD")
        self.wm, self.wm_token = self.create_account("webmaster", currency="USD")

    def test_account_renders_credit_limit(self):
        self.assertEqual(self.adv["credit_limit"], 0)
        self.assertIsNone(self.wm["credit_limit"])
        self.assertIsNone(self.op_account["credit_limit"])
        self.assertEqual(self.me(self.adv_token).json()["account"], self.adv)

    def test_set_credit_limit(self):
        r = self.patch_account(self.adv["id"], {"credit_limit": 5_000})
        self.assertEqual(r.status_code, 200, r.text)
        acct = r.json()
        self.assertEqual({**acct, "updated_at": None}, {**self.adv, "credit_limit": 5_000, "updated_at": None})
        self.assertGreater(ts(acct["updated_at"]), ts(self.adv["updated_at"]))
        self.assertEqual(self.h2.get(f"/v1/accounts/{self.adv['id']}", headers=bearer(self.op)).json(), acct)
        # The advertiser's own cached view follows at once.
        self.assertEqual(self.me(self.adv_token).json()["account"], acct)
        self.assertEqual(self.balance(self.adv["id"]).json()["available"], 5_000)
        self.assertEqual(psql(self.db_url, f"SELECT min_balance FROM ledger_accounts WHERE owner = '{self.adv['id']}'"),
                         "-5000")
        # The same value again changes nothing, not even updated_at.
        again = self.patch_account(self.adv["id"], {"credit_limit": 5_000}, client=self.h1)
        self.assertEqual(again.status_code, 200, again.text)
        self.assertEqual(again.json(), acct)
        r = self.patch_account(self.adv["id"], {"credit_limit": MAX})
        self.assertEqual(r.json()["credit_limit"], MAX)
        r = self.patch_account(self.adv["id"], {"credit_limit": 0, "status": "active"})
        self.assertEqual((r.json()["credit_limit"], r.json()["status"]), (0, "active"))

    def test_bad_changes(self):
        for value in (-1, 1.5, 10.0, "5", None, True, [], 2 ** 53, 2 ** 63 - 1):
            with self.subTest(credit_limit=value):
                problem(self.patch_account(self.adv["id"], {"credit_limit": value}), 422, "validation_failed",
                        field="/credit_limit")
        for value in ("banned", "", "Active", None, 1, ["active"]):
            with self.subTest(status=value):
                problem(self.patch_account(self.adv["id"], {"status": value}), 422, "validation_failed",
                        field="/status")
        for body, field in (({}, ""), ({"name": "x"}, "/name"), ({"role": "operator"}, "/role"), ([], ""), (5, ""),
                            ({"credit_limit": 1, "rate_limit": 5}, "/rate_limit")):
            with self.subTest(body=body):
                problem(self.patch_account(self.adv["id"], body), 422, "validation_failed", field=field)
        problem(self.patch_account(self.adv["id"], b""), 400, "malformed_json")
        problem(self.patch_account(self.adv["id"], b'{"status":"active","status":"suspended"}'), 400, "malformed_json")
        # Only advertisers have a credit limit (nothing else changes either).
        for target in (self.wm["id"], self.op_account["id"]):
            with self.subTest(target=target):
                problem(self.patch_account(target, {"credit_limit": 100, "status": "active"}), 422, "validation_failed",
                        field="/credit_limit")
        self.assertEqual(self.h2.get(f"/v1/accounts/{self.adv['id']}", headers=bearer(self.op)).json(), self.adv)

    def test_roles_and_ids(self):
        for token in (self.adv_token, self.wm_token):
            problem(self.patch_account(self.adv["id"], {"credit_limit": 1}, token=token), 403, "forbidden")
            problem(self.patch_account(self.wm["id"], {"status": "suspended"}, token=token), 403, "forbidden")
        problem(self.patch_account(uuid7(), {"status": "active"}), 404, "not_found")
        problem(self.patch_account(uuid7(), {"credit_limit": 5}), 404, "not_found")
        problem(self.patch_account("nope", {"status": "active"}), 404, "not_found", field="path.id")
        r = self.h2.put(f"/v1/accounts/{self.adv['id']}", json={"status": "active"}, headers=bearer(self.op))
        problem(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "GET, HEAD, PATCH")

    def test_limit_cannot_go_below_debt(self):
        self.assertEqual(self.patch_account(self.adv["id"], {"credit_limit": 10_000}).status_code, 200)
        post_sale(self.db_url, self.adv["id"], self.wm["id"], price=6_000, fee=600)
        self.assertEqual(self.balance(self.adv["id"]).json()["available"], 4_000)
        for limit in (5_999, 0):
            with self.subTest(limit=limit):
                doc = problem(self.patch_account(self.adv["id"], {"credit_limit": limit, "status": "suspended"}), 409,
                              "conflict", field="/credit_limit")
                self.assertIn("6000", doc["detail"])
        acct = self.h2.get(f"/v1/accounts/{self.adv['id']}", headers=bearer(self.op)).json()
        self.assertEqual((acct["credit_limit"], acct["status"]), (10_000, "active"))  # nothing changed
        self.assertEqual(self.patch_account(self.adv["id"], {"credit_limit": 6_000}).json()["credit_limit"], 6_000)
        self.assertEqual(self.balance(self.adv["id"]).json()["available"], 0)
        # A sale beyond the credit limit is refused by the database itself.
        _, p = post_sale(self.db_url, self.adv["id"], self.wm["id"], price=1, fee=0, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("check constraint", p.stderr)
        # The balance row's CHECK is the last word, whatever path changes the limit.
        psql(self.db_url, f"UPDATE accounts SET credit_limit = 0 WHERE id = '{self.adv['id']}'", check=False)
        self.assertEqual(psql(self.db_url, f"SELECT credit_limit FROM accounts WHERE id = '{self.adv['id']}'"), "6000")
        # Paying the debt lets the limit go back to zero.
        self.assertEqual(self.deposit(self.adv["id"], 6_000).json()["balance"], 0)
        self.assertEqual(self.patch_account(self.adv["id"], {"credit_limit": 0}).json()["credit_limit"], 0)

    def warm(self, token, n=6):
        """Requests over fresh connections, so the key is cached on every server thread."""
        for i in range(n):
            c = self.server.client(http2=i % 2 == 0)
            self.assertEqual(self.me(token, client=c).status_code, 200)
            c.close()

    def test_suspension_takes_effect_at_once(self):
        self.warm(self.adv_token)
        r = self.patch_account(self.adv["id"], {"status": "suspended"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["status"], "suspended")
        # The very next requests, on the same and on fresh connections (any thread), are refused.
        problem(self.me(self.adv_token), 403, "forbidden")
        problem(self.balance(self.adv["id"], token=self.adv_token), 403, "forbidden")
        for i in range(6):
            c = self.server.client(http2=i % 2 == 0)
            doc = problem(self.me(self.adv_token, client=c), 403, "forbidden")
            self.assertIn("suspended", doc["detail"])
            c.close()
        # Other accounts are untouched; operators still see and credit the suspended account.
        self.assertEqual(self.me(self.wm_token).status_code, 200)
        self.assertEqual(self.deposit(self.adv["id"], 100).status_code, 201)
        r = self.patch_account(self.adv["id"], {"status": "active"})
        self.assertEqual(r.json()["status"], "active")
        self.assertEqual(self.me(self.adv_token).json()["account"]["status"], "active")
        for i in range(4):
            c = self.server.client(http2=i % 2 == 0)
            self.assertEqual(self.balance(self.adv["id"], token=self.adv_token, client=c).json()["balance"], 100)
            c.close()

    def test_suspending_a_webmaster_and_another_operator(self):
        self.warm(self.wm_token)
        self.assertEqual(self.patch_account(self.wm["id"], {"status": "suspended"}).status_code, 200)
        problem(self.h2.get("/v1/ledger", headers=bearer(self.wm_token)), 403, "forbidden")
        op2 = create_operator(self.server, name="second operator")
        op2_id = self.me(op2).json()["account"]["id"]
        self.assertEqual(self.patch_account(op2_id, {"status": "suspended"}).status_code, 200)
        problem(self.me(op2), 403, "forbidden")
        self.assertEqual(self.patch_account(op2_id, {"status": "active"}).status_code, 200)
        self.assertEqual(self.patch_account(self.wm["id"], {"status": "active"}, token=op2).status_code, 200)
        self.assertEqual(self.me(self.wm_token).status_code, 200)

    def test_operator_cannot_suspend_itself(self):
        doc = problem(self.patch_account(self.op_account["id"], {"status": "suspended"}), 422, "validation_failed",
                      field="/status")
        self.assertIn("own account", doc["errors"][0]["message"])
        self.assertEqual(self.me(self.op).status_code, 200)
        r = self.patch_account(self.op_account["id"], {"status": "active"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["updated_at"], self.op_account["updated_at"])

    def test_suspension_reaches_another_process(self):
        """A second server on the same database learns of the suspension by NOTIFY, within a second."""
        other = Server(self.db_url, key_dir=self.server.key_dir, name="ledger-second")
        other.start()
        try:
            with other.client() as c:
                self.assertEqual(self.me(self.adv_token, client=c).status_code, 200)  # cached there now
                self.assertEqual(self.patch_account(self.adv["id"], {"status": "suspended"}).status_code, 200)
                wait_for(lambda: self.me(self.adv_token, client=c).status_code == 403, timeout=5,
                         what="the suspension to reach the second server")
                self.assertEqual(self.patch_account(self.adv["id"], {"status": "active"}).status_code, 200)
                wait_for(lambda: self.me(self.adv_token, client=c).status_code == 200, timeout=5,
                         what="the reactivation to reach the second server")
        finally:
            other.stop()
        assert_ledger_consistent(self.db_url)


class ReceiptsCoverEntries(unittest.TestCase):
    """The entries trigger refuses money movements whose accounts lack matching receipts (invariant 5)."""

    def test_entries_need_matching_receipts(self):
        url = new_database()
        run_cli(["migrate"], env={"LEADX_DATABASE_URL": url})
        adv, wm = uuid7(), uuid7()
        psql(url, f"INSERT INTO accounts (id, role, name, currency) VALUES ('{adv}', 'advertiser', 'a', 'USD'), "
                  f"('{wm}', 'webmaster', 'w', 'USD')")
        _, p = post_txn(url, "deposit", "USD", [(None, "cash", -1_000), (adv, "balance", 1_000)], check=False,
                        receipts=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("without a receipt", p.stderr)
        post_txn(url, "deposit", "USD", [(None, "cash", -1_000), (adv, "balance", 1_000)])
        # A receipt that states another amount than the entries.
        txn = uuid7()
        p = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url], capture_output=True, text=True, input=(
                "BEGIN;\n"
                f"INSERT INTO ledger_txns (id, kind, currency) VALUES ('{txn}', 'deposit', 'USD');\n"
                "INSERT INTO receipts (id, account_id, kind, book, ledger_txn, amount, currency, issued_at, body, key_id, "
                f"signature) VALUES ('{uuid7()}', '{adv}', 'deposit', 'balance', '{txn}', 499, 'USD', now(), '{{}}', "
                "'0000000000000000', repeat('A', 86));\n"
                "INSERT INTO ledger_entries (txn_id, ledger_account_id, account_id, book, amount, currency) "
                f"SELECT '{txn}', id, owner, book, CASE WHEN owner IS NULL THEN -500 ELSE 500 END, currency "
                f"FROM ledger_accounts WHERE currency = 'USD' AND (owner = '{adv}' OR (owner IS NULL AND book = 'cash'));\n"
                "COMMIT;\n"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("do not match its entries", p.stderr)
        # Receipts are never changed or deleted.
        with self.assertRaises(AssertionError):
            psql(url, "DELETE FROM receipts")
        self.assertEqual(psql(url, "SELECT count(*) FROM receipts"), "1")
        self.assertEqual(assert_ledger_consistent(url), 1)


class ReceiptsCommitWithinTheHour(unittest.TestCase):
    """A posting whose receipts are more than an hour old when it ends is refused (serialization_failure: the poster
    signs anew and retries), so a statement of a period that ended more than 61 minutes ago is final
    (migrations/0020)."""

    def test_old_receipts_are_refused(self):
        url = new_database()
        run_cli(["migrate"], env={"LEADX_DATABASE_URL": url})
        adv = uuid7()
        psql(url, f"INSERT INTO accounts (id, role, name, currency) VALUES ('{adv}', 'advertiser', 'a', 'USD')")
        deposit = [(None, "cash", -1_000), (adv, "balance", 1_000)]
        _, p = post_txn(url, "deposit", "USD", deposit, check=False, issued_at="now() - interval '61 minutes'")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("older than the hour a posting may take", p.stderr)
        self.assertEqual(psql(url, "SELECT count(*) FROM ledger_txns"), "0")
        post_txn(url, "deposit", "USD", deposit, issued_at="now() - interval '59 minutes'")
        self.assertEqual(psql(url, f"SELECT balance FROM ledger_accounts WHERE owner = '{adv}'"), "1000")


class ConsistencyCheckSelfTest(unittest.TestCase):
    """assert_ledger_consistent itself: it passes on a sound ledger and names each kind of damage. Runs on a database
    of its own (migrated, no server), damaged on purpose behind the triggers' back."""

    def test_each_kind_of_damage_is_caught(self):
        url = new_database()
        run_cli(["migrate"], env={"LEADX_DATABASE_URL": url})
        adv, wm = uuid7(), uuid7()
        psql(url, f"INSERT INTO accounts (id, role, name, currency) VALUES ('{adv}', 'advertiser', 'a', 'USD'), "
                  f"('{wm}', 'webmaster', 'w', 'USD')")
        post_txn(url, "deposit", "USD", [(None, "cash", -1_000), (adv, "balance", 1_000)], reference="seed")
        post_sale(url, adv, wm, price=400, fee=40)
        self.assertEqual(assert_ledger_consistent(url), 2)

        def damaged(sql, undo, rule):
            psql(url, sql)
            with self.assertRaises(AssertionError) as cm:
                assert_ledger_consistent(url)
            self.assertIn(rule, str(cm.exception))
            if undo is not None:
                psql(url, undo)
                assert_ledger_consistent(url)

        damaged(f"UPDATE ledger_accounts SET balance = balance + 1 WHERE owner = '{adv}'",
                f"UPDATE ledger_accounts SET balance = balance - 1 WHERE owner = '{adv}'",
                "a balance row differs from the sum of its entries")
        damaged(f"UPDATE ledger_accounts SET min_balance = -5 WHERE owner = '{adv}'",
                f"UPDATE ledger_accounts SET min_balance = 0 WHERE owner = '{adv}'",
                "an advertiser's floor is not minus its credit limit")
        # Past the entries trigger (a superuser may): an unbalanced transaction, then one without entries.
        txn = uuid7()
        damaged(f"SET session_replication_role = replica; "
                f"INSERT INTO ledger_txns (id, kind, currency) VALUES ('{txn}', 'deposit', 'USD'); "
                f"INSERT INTO ledger_entries (txn_id, ledger_account_id, account_id, book, amount, currency) "
                f"SELECT '{txn}', id, owner, book, 5, currency FROM ledger_accounts WHERE owner IS NULL AND book = 'cash' "
                f"AND currency = 'USD'", None, "a transaction does not sum to zero")
        damaged(f"INSERT INTO ledger_txns (id, kind, currency) VALUES ('{uuid7()}', 'payout', 'USD')", None,
                "a transaction has no entries")


if __name__ == "__main__":
    main()
