"""Returns of purchases (issue 5 item 6): every path of POST /v1/purchases/{id}/return (automatic acceptance under the
niche's policy, pending, late, repeated, foreign, unknown reason, refunded), operator decisions (accept / reject,
only once), the webmaster's contest note, who sees which returns, and what an acceptance does: the money reversed
(buyer refunded, webmaster pending payout and platform fee reversed, campaign spent restored), refund receipts that
reverse the sale receipts, the lead back on the market for `duplicate` and never for `fake`, and a reopened shared
slot bought by another buyer. MarketCase checks the ledger and the leads' sale state after every test."""
import json
import secrets

from harness import bearer, main, problem, psql
from leads_common import JSON
from test_market import MarketCase, fee, rows


class Returns(MarketCase):
    server_env = {"LEADX_SETTLE_INTERVAL_MS": "3600000"}  # no settlement during these tests

    # -- helpers ------------------------------------------------------------------------------------------------

    def policy(self, slug, auto=(), bps=1000, window=None):
        arr = "ARRAY[" + ",".join(f"'{a}'" for a in auto) + "]::text[]" if auto else "'{}'::text[]"
        extra = f", return_window_hours = {window}" if window is not None else ""
        psql(self.db_url, f"UPDATE niches SET return_auto_accept = {arr}, return_max_rate_bps = {bps}{extra} "
                          f"WHERE slug = '{slug}'")

    def ret(self, purchase_id, token, reason="duplicate", comment=None, key=None, body=None):
        headers = {**bearer(token), **JSON}
        if key is not None:
            headers["Idempotency-Key"] = key
        b = {"reason": reason, **({"comment": comment} if comment else {})} if body is None else body
        return self.h2.post(f"/v1/purchases/{purchase_id}/return", content=json.dumps(b).encode(), headers=headers)

    def decide(self, return_id, decision, token=None, note=None):
        b = {"decision": decision, **({"note": note} if note else {})}
        return self.h2.post(f"/v1/returns/{return_id}/decision", json=b, headers=bearer(token or self.op))

    def setup_sale(self, mode="exclusive", auto=("duplicate", "fake"), bps=10000, **niche_kw):
        niche = self.new_niche(**niche_kw)
        self.policy(niche["slug"], auto, bps)
        acct, adv = self.advertiser(funds=10**6)
        lead = self.new_lead(niche=niche["slug"])
        p = self.bought(lead["id"], mode, adv)
        return niche, acct, adv, lead, p

    # -- tests -----------------------------------------------------------------------------------------------------

    def test_auto_accept_refunds_and_reverses_receipts(self):
        niche, acct, adv, lead, p = self.setup_sale()
        price = p["price"]
        bal, pend, rev = self.db_balance(acct["id"]), self.db_balance(self.wm["id"], "pending"), self.revenue()
        r = self.ret(p["id"], adv, "duplicate", comment="called twice")
        self.assertEqual(r.status_code, 201, r.text)
        doc = r.json()
        self.assertEqual((doc["status"], doc["reason"], doc["purchase_id"], doc["comment"], doc["webmaster_id"]),
                         ("accepted", "duplicate", p["id"], "called twice", None))
        self.assertIsNotNone(doc["refund_txn"])
        payout = price - fee(price, 1500)
        self.assertEqual(self.db_balance(acct["id"]), bal + price)
        self.assertEqual(self.db_balance(self.wm["id"], "pending"), pend - payout)
        self.assertEqual(self.revenue(), rev - fee(price, 1500))
        got = self.h2.get(f"/v1/purchases/{p['id']}", headers=bearer(adv)).json()
        self.assertIsNotNone(got["refunded_at"])
        # Refund receipts reverse the same account's sale receipts.
        rec = rows(self.db_url, "SELECT r.account_id, r.amount, r.book, s.id, s.amount FROM receipts r "
                                "JOIN receipts s ON s.id = r.reverses "
                                f"WHERE r.kind = 'refund' AND r.sale_id = '{p['id']}' ORDER BY r.book")
        self.assertEqual(rec, [[acct["id"], str(price), "balance", rec[0][3], str(-price)],
                               [self.wm["id"], str(-payout), "pending", rec[1][3], str(payout)]])
        self.assertEqual(psql(self.db_url, f"SELECT DISTINCT ledger_txn FROM receipts WHERE kind = 'refund' "
                                           f"AND sale_id = '{p['id']}'"), doc["refund_txn"])
        # duplicate allows resale: the exclusive lead is on the market again, and sellable.
        _, other = self.advertiser(funds=10**6)
        self.assertIn(lead["id"], self.market_ids(other, niche=niche["slug"]))
        self.bought(lead["id"], "exclusive", other)
        # Repeated: 409; refunded purchases cannot be returned again.
        problem(self.ret(p["id"], adv), 409, "conflict", "path.id")

    def test_a_returned_lead_is_not_the_returners_again(self):
        """A buyer that returned a lead gets its money back and gives the lead back: its purchase shows no contact any
        more, its inventory leaves the lead out and buying it again is 409, while other buyers may buy it. (Before, it
        could win the lead in the auction, return it as a duplicate and buy it back at the floor.)"""
        niche, acct, adv, lead, p = self.setup_sale()
        self.assertIsNotNone(p["lead"]["contact"])
        self.assertEqual(self.ret(p["id"], adv, "duplicate").json()["status"], "accepted")
        for token in (adv, self.op):
            got = self.h2.get(f"/v1/purchases/{p['id']}", headers=bearer(token)).json()
            self.assertIsNotNone(got["refunded_at"])
            self.assertEqual((got["lead"]["contact"], got["lead"]["contact_erased"]), (None, False))
            listed = [i for i in self.h2.get("/v1/purchases", headers=bearer(token)).json()["items"] if i["id"] == p["id"]]
            self.assertEqual(listed[0]["lead"]["contact"], None)
        self.assertNotIn(lead["id"], self.market_ids(adv, niche=niche["slug"]))
        for mode in ("exclusive", "shared"):
            problem(self.buy(lead["id"], mode, adv), 409, "conflict", "path.id")
        _, other = self.advertiser(funds=10**6)
        self.assertIn(lead["id"], self.market_ids(other, niche=niche["slug"]))
        q = self.bought(lead["id"], "exclusive", other)
        self.assertIsNotNone(q["lead"]["contact"])
        # the returned sale stays what it was: refunded, its contact closed
        self.assertIsNone(self.h2.get(f"/v1/purchases/{p['id']}", headers=bearer(adv)).json()["lead"]["contact"])
        self.assertEqual(self.sales_of(lead["id"]), [[self.h2.get("/v1/me", headers=bearer(other)).json()["account"]["id"],
                                                     "exclusive", "0", str(q["price"])]])

    def test_blank_and_null_notes(self):
        """A comment or note of white space only says nothing: 422 naming it, nothing written; null is none."""
        niche, acct, adv, lead, p = self.setup_sale(auto=())
        for blank in (" ", "\n\t ", "\r\n"):
            with self.subTest(blank=blank):
                problem(self.ret(p["id"], adv, body={"reason": "other", "comment": blank}), 422, "validation_failed",
                        "/comment")
        self.assertEqual(psql(self.db_url, f"SELECT count(*) FROM returns WHERE sale_id = '{p['id']}'"), "0")
        r = self.ret(p["id"], adv, body={"reason": "other", "comment": None})
        self.assertEqual((r.status_code, r.json()["comment"], r.json()["status"]), (201, None, "pending"), r.text)
        ret_id = r.json()["id"]
        c = self.h2.post(f"/v1/returns/{ret_id}/contest", json={"note": "  "}, headers=bearer(self.wm_token))
        problem(c, 422, "validation_failed", "/note")
        problem(self.h2.post(f"/v1/returns/{ret_id}/decision", json={"decision": "reject", "note": " \n"},
                             headers=bearer(self.op)), 422, "validation_failed", "/note")
        self.assertEqual(psql(self.db_url, f"SELECT status, contest_note IS NULL FROM returns WHERE id = '{ret_id}'"),
                         "pending|t")
        r = self.h2.post(f"/v1/returns/{ret_id}/decision", json={"decision": "reject", "note": None},
                         headers=bearer(self.op))
        self.assertEqual((r.status_code, r.json()["status"]), (200, "rejected"), r.text)

    def test_fake_keeps_the_lead_off_the_market(self):
        niche, acct, adv, lead, p = self.setup_sale()
        r = self.ret(p["id"], adv, "fake")
        self.assertEqual(r.json()["status"], "accepted", r.text)
        _, other = self.advertiser(funds=10**6)
        self.assertNotIn(lead["id"], self.market_ids(other, niche=niche["slug"]))
        problem(self.buy(lead["id"], "exclusive", other), 409, "conflict")
        self.assertEqual(psql(self.db_url, f"SELECT resale_blocked FROM leads WHERE id = '{lead['id']}'"), "t")

    def test_pending_then_accept_or_reject(self):
        niche, acct, adv, lead, p = self.setup_sale(auto=())
        bal = self.db_balance(acct["id"])
        r = self.ret(p["id"], adv, "out_of_region")
        self.assertEqual(r.status_code, 201, r.text)
        ret = r.json()
        self.assertEqual((ret["status"], ret["refund_txn"]), ("pending", None))
        self.assertEqual(self.db_balance(acct["id"]), bal)
        # The webmaster contests; it sees the return without the buyer.
        c = self.h2.post(f"/v1/returns/{ret['id']}/contest", json={"note": "the lead was real"},
                         headers=bearer(self.wm_token))
        self.assertEqual(c.status_code, 200, c.text)
        self.assertEqual((c.json()["contest_note"], c.json()["buyer_id"]), ("the lead was real", None))
        # Only operators decide.
        problem(self.decide(ret["id"], "accept", token=adv), 403, "forbidden")
        d = self.decide(ret["id"], "accept", note="checked")
        self.assertEqual(d.status_code, 200, d.text)
        self.assertEqual((d.json()["status"], d.json()["decided_by"] is not None), ("accepted", True))
        self.assertEqual(self.db_balance(acct["id"]), bal + p["price"])
        problem(self.decide(ret["id"], "reject"), 409, "conflict")
        problem(self.h2.post(f"/v1/returns/{ret['id']}/contest", json={"note": "late"}, headers=bearer(self.wm_token)),
                409, "conflict")
        log = psql(self.db_url, f"SELECT action FROM operator_actions WHERE target = '{ret['id']}'")
        self.assertEqual(log, "return.decide")
        # A second sale, rejected: nothing moves.
        lead2 = self.new_lead(niche=niche["slug"])
        p2 = self.bought(lead2["id"], "exclusive", adv)
        bal = self.db_balance(acct["id"])
        ret2 = self.ret(p2["id"], adv, "other").json()
        d = self.decide(ret2["id"], "reject", note="no")
        self.assertEqual((d.json()["status"], d.json()["decision_note"], d.json()["refund_txn"]), ("rejected", "no", None))
        self.assertEqual(self.db_balance(acct["id"]), bal)
        problem(self.ret(p2["id"], adv, "other"), 409, "conflict", "path.id")

    def test_rate_limit_leaves_returns_pending(self):
        niche = self.new_niche()
        self.policy(niche["slug"], ("duplicate",), bps=5000)  # one accepted return per two purchases
        _, adv = self.advertiser(funds=10**6)
        ps = [self.bought(self.new_lead(niche=niche["slug"])["id"], "exclusive", adv) for _ in range(2)]
        self.assertEqual(self.ret(ps[0]["id"], adv).json()["status"], "accepted")
        self.assertEqual(self.ret(ps[1]["id"], adv).json()["status"], "pending")

    def test_refusals(self):
        niche, acct, adv, lead, p = self.setup_sale()
        _, other = self.advertiser(funds=10**6)
        problem(self.ret(p["id"], other), 404, "not_found")  # foreign
        problem(self.ret("00000000-0000-7000-8000-000000000000", adv), 404, "not_found")
        problem(self.ret(p["id"], adv, body={"reason": "bored"}), 422, "validation_failed", "/reason")
        problem(self.ret(p["id"], adv, body={"reason": "fake", "x": 1}), 422, "validation_failed", "/x")
        problem(self.ret(p["id"], self.wm_token), 403, "forbidden")
        # Late: the window is over.
        psql(self.db_url, f"UPDATE sales SET created_at = now() - interval '73 hours' WHERE id = '{p['id']}'")
        r = problem(self.ret(p["id"], adv), 409, "conflict", "path.id")
        # Refunded (by whatever means) and settled purchases: 409.
        lead2 = self.new_lead(niche=niche["slug"])
        p2 = self.bought(lead2["id"], "exclusive", adv)
        psql(self.db_url, f"UPDATE sales SET settled_at = now() WHERE id = '{p2['id']}'")
        problem(self.ret(p2["id"], adv), 409, "conflict", "path.id")
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM returns WHERE sale_id IN "
                                           f"('{p['id']}', '{p2['id']}')"), "0")
        psql(self.db_url, f"UPDATE sales SET settled_at = NULL WHERE id = '{p2['id']}'")

    def test_idempotent_replay(self):
        niche, acct, adv, lead, p = self.setup_sale()
        key = secrets.token_hex(8)
        a = self.ret(p["id"], adv, key=key)
        b = self.ret(p["id"], adv, key=key)
        self.assertEqual((a.status_code, b.status_code), (201, 201), b.text)
        self.assertEqual(a.json(), b.json())

    def test_visibility_and_lists(self):
        niche, acct, adv, lead, p = self.setup_sale(auto=())
        ret = self.ret(p["id"], adv).json()
        _, other = self.advertiser()
        wm2, wm2_token = self.webmaster()
        problem(self.h2.get(f"/v1/returns/{ret['id']}", headers=bearer(other)), 404, "not_found")
        problem(self.h2.get(f"/v1/returns/{ret['id']}", headers=bearer(wm2_token)), 404, "not_found")
        problem(self.h2.post(f"/v1/returns/{ret['id']}/contest", json={"note": "x"}, headers=bearer(wm2_token)),
                404, "not_found")
        self.assertEqual(self.h2.get(f"/v1/returns/{ret['id']}", headers=bearer(self.op)).json()["buyer_id"], acct["id"])
        ids = lambda tok, **q: [x["id"] for x in self.h2.get("/v1/returns", params=q, headers=bearer(tok)).json()["items"]]
        self.assertEqual(ids(adv), [ret["id"]])
        self.assertEqual(ids(other), [])
        self.assertIn(ret["id"], ids(self.wm_token))
        self.assertIn(ret["id"], ids(self.op, status="pending"))
        self.assertNotIn(ret["id"], ids(self.op, status="accepted"))
        problem(self.h2.get("/v1/returns", params={"status": "bad"}, headers=bearer(self.op)), 400,
                "invalid_parameter", "query.status")
        self.decide(ret["id"], "reject")

    def test_shared_slot_reopens_for_another_buyer(self):
        niche = self.new_niche(max_shares=2, floor_shared=20000)
        self.policy(niche["slug"], ("duplicate",), bps=10000)
        lead = self.new_lead(niche=niche["slug"])
        (_, a), (_, b), (_, c) = (self.advertiser(funds=10**6) for _ in range(3))
        pa = self.bought(lead["id"], "shared", a)
        pb = self.bought(lead["id"], "shared", b)
        self.assertEqual((pa["share_index"], pb["share_index"]), (0, 1))
        self.assertEqual(self.ret(pa["id"], a).json()["status"], "accepted")
        # Slot 0 is free again (slot 1 still held): the next buyer gets slot 0.
        pc = self.bought(lead["id"], "shared", c)
        self.assertEqual(pc["share_index"], 0)

    def test_real_time_sale_restores_campaign_spent(self):
        niche = self.new_niche(max_shares=1, fee_bps=1500)
        self.policy(niche["slug"], ("duplicate",), bps=10000)
        acct, adv = self.advertiser(funds=10**6)
        r = self.h2.post("/v1/campaigns", json={"niche": niche["slug"], "regions": ["RU"], "price_exclusive": 60000,
                                                "budget": 120000}, headers=bearer(adv))
        self.assertEqual(r.status_code, 201, r.text)
        campaign = r.json()["id"]
        lead = self.new_lead(niche=niche["slug"])
        self.assertEqual(lead["status"], "sold", lead)
        (p,) = self.h2.get("/v1/purchases", headers=bearer(adv)).json()["items"]
        spent = int(psql(self.db_url, f"SELECT spent FROM campaigns WHERE id = '{campaign}'"))
        self.assertEqual(spent, 60000)
        self.assertEqual(self.ret(p["id"], adv).json()["status"], "accepted")
        self.assertEqual(psql(self.db_url, f"SELECT spent FROM campaigns WHERE id = '{campaign}'"), "0")


if __name__ == "__main__":
    main()
