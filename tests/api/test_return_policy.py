"""Returns beyond the basic paths of test_returns.py (issue 5 item 6): the published reasons, the niche's return
policy set through the API, refund receipts checked as a client would (fetched with GET /v1/receipts, signatures
verified with an independent Ed25519 implementation, `reverses` naming the same account's sale receipt, the lead's
fields copied), a 100 % fee (no supplier receipt to reverse), `invalid_contact` taking a shared lead off the market
for every buyer, what each role sees of a return, input refusals, idempotency, paging, races (two returns of one
purchase, two decisions of one return, a return against a purchase of the freed slot), the rate counted per niche,
and the audit report clean after it all. MarketCase checks the ledger and the leads' sale state after every test."""
import base64
import concurrent.futures
import json
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness import bearer, main, problem, psql, wait_for
from leads_common import JSON
from test_market import MarketCase, fee, rows

REASONS = ["invalid_contact", "duplicate", "out_of_region", "fake", "other"]
RETURN_KEYS = {"id", "purchase_id", "lead_id", "buyer_id", "webmaster_id", "niche", "reason", "comment", "status",
               "decided_by", "decided_at", "decision_note", "contest_note", "contested_at", "price", "payout",
               "currency", "refund_txn", "created_at"}


def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(v):
    """RFC 8785 for the receipts' value space (strings, integers, booleans, null, objects)."""
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(jcs(k) + ":" + jcs(x) for k, x in items) + "}"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


class ReturnPolicy(MarketCase):
    server_env = {"LEADX_SETTLE_INTERVAL_MS": "3600000"}  # nothing settles during these tests

    # -- helpers ------------------------------------------------------------------------------------------------

    def pniche(self, auto=("duplicate", "fake", "invalid_contact"), bps=10000, **kw):
        return self.new_niche(return_auto_accept=list(auto), return_max_rate_bps=bps, **kw)

    def ret(self, purchase_id, token, reason="duplicate", key=None, body=None, client=None):
        headers = {**bearer(token), **JSON}
        if key is not None:
            headers["Idempotency-Key"] = key
        b = {"reason": reason} if body is None else body
        return (client or self.h2).post(f"/v1/purchases/{purchase_id}/return", content=json.dumps(b).encode(),
                                        headers=headers)

    def decide(self, return_id, decision, token=None, note=None, client=None):
        b = {"decision": decision, **({"note": note} if note is not None else {})}
        return (client or self.h2).post(f"/v1/returns/{return_id}/decision", json=b, headers=bearer(token or self.op))

    def receipts(self, token, **params):
        items, cursor = [], None
        for _ in range(100):
            q = dict(params, **({"cursor": cursor} if cursor else {}))
            r = self.h2.get("/v1/receipts", params=q, headers=bearer(token))
            self.assertEqual(r.status_code, 200, r.text)
            items += [i["receipt"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items
        self.fail("pagination does not end")

    def verify(self, receipt):
        keys = self.h2.get("/v1/receipts/keys").json()["keys"]
        (pk,) = [k["public_key"] for k in keys if k["key_id"] == receipt["key_id"]]
        msg = b"leadx-receipt-v1\n" + jcs(receipt["body"]).encode()
        Ed25519PublicKey.from_public_bytes(b64(pk)).verify(b64(receipt["signature"]), msg)

    # -- the reasons and the policy ----------------------------------------------------------------------------

    def test_reasons_are_published_to_every_role(self):
        _, adv = self.advertiser()
        for token in (self.op, adv, self.wm_token):
            r = self.h2.get("/v1/returns/reasons", headers=bearer(token))
            self.assertEqual(r.status_code, 200, r.text)
            got = r.json()["reasons"]
            self.assertEqual([x["reason"] for x in got], REASONS)
            self.assertEqual({x["reason"]: x["resale"] for x in got},
                             {"invalid_contact": False, "duplicate": True, "out_of_region": True, "fake": False,
                              "other": True})
        problem(self.h2.get("/v1/returns/reasons"), 401, "unauthorized")

    def test_policy_set_through_the_api_decides(self):
        n = self.pniche(auto=("out_of_region",))
        self.assertEqual((n["return_auto_accept"], n["return_max_rate_bps"]), (["out_of_region"], 10000))
        _, adv = self.advertiser(funds=10**6)
        p1, p2 = (self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv) for _ in range(2))
        self.assertEqual(self.ret(p1["id"], adv, "duplicate").json()["status"], "pending")  # not in the list
        r = self.h2.patch(f"/v1/niches/{n['slug']}", json={"return_auto_accept": ["duplicate"]}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        doc = self.ret(p2["id"], adv, "duplicate").json()
        self.assertEqual((doc["status"], doc["decided_by"]), ("accepted", "policy"))
        self.assertIsNotNone(doc["decided_at"])
        pending = [x for x in self.h2.get("/v1/returns", params={"status": "pending"}, headers=bearer(adv)).json()["items"]]
        self.assertEqual(len(pending), 1)
        self.decide(pending[0]["id"], "reject")

    def test_rate_counts_this_niche_only(self):
        a = self.pniche(auto=("duplicate",), bps=5000)  # one accepted return per two purchases
        b = self.pniche(auto=("duplicate",), bps=5000)
        _, adv = self.advertiser(funds=10**7)
        pa = [self.bought(self.new_lead(niche=a["slug"])["id"], "exclusive", adv) for _ in range(2)]
        pb = [self.bought(self.new_lead(niche=b["slug"])["id"], "exclusive", adv) for _ in range(2)]
        self.assertEqual(self.ret(pa[0]["id"], adv).json()["status"], "accepted")
        self.assertEqual(self.ret(pb[0]["id"], adv).json()["status"], "accepted")  # niche a's return does not count
        self.assertEqual(self.ret(pa[1]["id"], adv).json()["status"], "pending")   # 2 of 2 would be 100 %
        # A rejected return does not count against the buyer; an accepted one decided by an operator does.
        r = self.ret(pb[1]["id"], adv, "other").json()
        self.assertEqual(r["status"], "pending")
        self.decide(r["id"], "accept")
        for x in self.h2.get("/v1/returns", params={"status": "pending"}, headers=bearer(adv)).json()["items"]:
            self.decide(x["id"], "reject")

    def test_zero_rate_or_window_closes_the_door(self):
        n = self.pniche(auto=REASONS, bps=0)
        _, adv = self.advertiser(funds=10**6)
        p = self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)
        r = self.ret(p["id"], adv, "fake").json()
        self.assertEqual(r["status"], "pending")  # 0 bps: nothing is accepted without an operator
        self.decide(r["id"], "reject")
        shut = self.pniche(return_window_hours=0)
        p = self.bought(self.new_lead(niche=shut["slug"])["id"], "exclusive", adv)
        doc = problem(self.ret(p["id"], adv), 409, "conflict", "path.id")
        self.assertIn("return window", doc["detail"])

    # -- money and receipts ------------------------------------------------------------------------------------

    def test_refund_receipts_verify_and_reverse_the_sale_receipts(self):
        n = self.pniche(max_shares=2)
        acct, adv = self.advertiser(funds=10**6)
        lead = self.new_lead(niche=n["slug"], region="RU-SPE")
        p = self.bought(lead["id"], "shared", adv)
        doc = self.ret(p["id"], adv, "duplicate").json()
        self.assertEqual(doc["status"], "accepted")
        payout = p["price"] - fee(p["price"], 1500)
        for token, account, amount in ((adv, acct["id"], p["price"]), (self.wm_token, self.wm["id"], -payout)):
            mine = [x for x in self.receipts(token) if x["body"].get("sale_id") == p["id"]]
            sale = [x for x in mine if x["body"]["kind"] == "sale"]
            refund = [x for x in mine if x["body"]["kind"] == "refund"]
            self.assertEqual((len(sale), len(refund)), (1, 1), mine)
            s, f = sale[0]["body"], refund[0]["body"]
            for x in sale + refund:
                self.verify(x)
            self.assertEqual((f["account"], f["amount"], f["currency"], f["ledger_txn"], f["reverses"]),
                             (account, amount, "RUB", doc["refund_txn"], s["id"]))
            self.assertEqual(s["amount"], -amount)
            for k in ("lead_id", "lead_digest", "niche", "region", "mode", "share_index", "sale_id"):
                self.assertEqual(f[k], s[k], k)
            self.assertEqual((f["region"], f["mode"], f["share_index"], f["niche"]), ("RU-SPE", "shared", 0, n["slug"]))
        # The refund's ledger transaction names the lead; operators see both refund receipts.
        self.assertEqual(psql(self.db_url, f"SELECT kind, lead_id FROM ledger_txns WHERE id = '{doc['refund_txn']}'"),
                         f"refund|{lead['id']}")
        both = [x for x in self.receipts(self.op, kind="refund") if x["body"]["ledger_txn"] == doc["refund_txn"]]
        self.assertEqual(sorted(x["body"]["amount"] for x in both), sorted([p["price"], -payout]))

    def test_full_fee_refund_has_no_supplier_side(self):
        n = self.pniche(fee_bps=10000)
        acct, adv = self.advertiser(funds=10**6)
        pend = self.db_balance(self.wm["id"], "pending")
        p = self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)
        rev = self.revenue()
        doc = self.ret(p["id"], adv).json()
        self.assertEqual(doc["status"], "accepted")
        self.assertEqual(self.revenue(), rev - p["price"])
        self.assertEqual(self.db_balance(self.wm["id"], "pending"), pend)
        got = rows(self.db_url, f"SELECT account_id, amount FROM receipts WHERE ledger_txn = '{doc['refund_txn']}'")
        self.assertEqual(got, [[acct["id"], str(p["price"])]])

    def test_invalid_contact_takes_a_shared_lead_off_the_market(self):
        n = self.pniche(max_shares=3)
        lead = self.new_lead(niche=n["slug"])
        (_, a), (_, b), (_, c) = (self.advertiser(funds=10**6) for _ in range(3))
        pa = self.bought(lead["id"], "shared", a)
        self.bought(lead["id"], "shared", b)
        self.assertIn(lead["id"], self.market_ids(c, niche=n["slug"]))
        self.assertEqual(self.ret(pa["id"], a, "invalid_contact").json()["status"], "accepted")
        # Two slots are free now, yet nobody may buy the lead: its contact is bad for everyone.
        self.assertEqual(psql(self.db_url, f"SELECT shares_sold, resale_blocked FROM leads WHERE id = '{lead['id']}'"),
                         "1|t")
        self.assertNotIn(lead["id"], self.market_ids(c, niche=n["slug"]))
        problem(self.buy(lead["id"], "shared", c), 409, "conflict")
        problem(self.buy(lead["id"], "shared", a), 409, "conflict")

    def test_refunded_exclusive_lead_resold_and_returned_again(self):
        n = self.pniche()
        lead = self.new_lead(niche=n["slug"])
        (_, a), (_, b) = (self.advertiser(funds=10**6) for _ in range(2))
        pa = self.bought(lead["id"], "exclusive", a)
        self.assertEqual(self.ret(pa["id"], a, "out_of_region").status_code, 201)
        # out_of_region is not in the auto list: pending (the lead still sold) until an operator accepts.
        state = f"SELECT status, sold_mode IS NULL, shares_sold, payout_total FROM leads WHERE id = '{lead['id']}'"
        self.assertEqual(psql(self.db_url, state), f"sold|f|1|{pa['price'] - fee(pa['price'], 1500)}")
        (r,) = self.h2.get("/v1/returns", params={"status": "pending"}, headers=bearer(a)).json()["items"]
        self.decide(r["id"], "accept", note="checked the region")
        self.assertEqual(psql(self.db_url, state), "unsold|t|0|0")
        pb = self.bought(lead["id"], "exclusive", b)
        self.assertEqual(pb["share_index"], 0)
        self.assertEqual(self.ret(pb["id"], b, "fake").json()["status"], "accepted")
        self.assertEqual(len(rows(self.db_url, f"SELECT id FROM sales WHERE lead_id = '{lead['id']}' "
                                               "AND refunded_at IS NOT NULL")), 2)

    # -- who sees what --------------------------------------------------------------------------------------------

    def test_each_role_sees_its_side(self):
        n = self.pniche(auto=())
        acct, adv = self.advertiser(funds=10**6)
        p = self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)
        created = self.ret(p["id"], adv, body={"reason": "other", "comment": "no answer, 5 calls"}).json()
        self.assertEqual(set(created), RETURN_KEYS)
        payout = p["price"] - fee(p["price"], 1500)
        c = self.h2.post(f"/v1/returns/{created['id']}/contest", json={"note": "first"}, headers=bearer(self.wm_token))
        self.assertEqual(c.status_code, 200, c.text)
        c = self.h2.post(f"/v1/returns/{created['id']}/contest", json={"note": "the person confirmed by phone"},
                         headers=bearer(self.wm_token))
        self.assertEqual(c.json()["contest_note"], "the person confirmed by phone")
        self.assertIsNotNone(c.json()["contested_at"])
        seen = {tok: self.h2.get(f"/v1/returns/{created['id']}", headers=bearer(tok)).json()
                for tok in (self.op, adv, self.wm_token)}
        self.assertEqual({k: seen[self.op][k] for k in ("buyer_id", "webmaster_id", "price", "payout")},
                         {"buyer_id": acct["id"], "webmaster_id": self.wm["id"], "price": p["price"], "payout": payout})
        self.assertEqual({k: seen[adv][k] for k in ("buyer_id", "webmaster_id", "price", "payout")},
                         {"buyer_id": acct["id"], "webmaster_id": None, "price": p["price"], "payout": None})
        self.assertEqual({k: seen[self.wm_token][k] for k in ("buyer_id", "webmaster_id", "price", "payout")},
                         {"buyer_id": None, "webmaster_id": self.wm["id"], "price": None, "payout": payout})
        for doc in seen.values():
            self.assertEqual((doc["comment"], doc["contest_note"], doc["status"]),
                             ("no answer, 5 calls", "the person confirmed by phone", "pending"))
        self.assertNotIn(acct["id"], json.dumps(seen[self.wm_token]))
        self.assertNotIn(self.wm["id"], json.dumps(seen[adv]))
        # Roles: only the buyer returns, only operators decide, only the webmaster contests.
        problem(self.ret(p["id"], self.op), 403, "forbidden")
        problem(self.decide(created["id"], "accept", token=self.wm_token), 403, "forbidden")
        problem(self.h2.post(f"/v1/returns/{created['id']}/contest", json={"note": "x"}, headers=bearer(adv)), 403,
                "forbidden")
        problem(self.h2.post(f"/v1/returns/{created['id']}/contest", json={"note": "x"}, headers=bearer(self.op)), 403,
                "forbidden")
        d = self.decide(created["id"], "reject", note="the buyer reached the person")
        self.assertEqual((d.json()["decided_by"], d.json()["decision_note"]), ("operator", "the buyer reached the person"))
        self.assertEqual(psql(self.db_url, "SELECT operator_id, details->>'decision' FROM operator_actions "
                                           f"WHERE action = 'return.decide' AND target = '{created['id']}'"),
                         f"{self.h2.get('/v1/me', headers=bearer(self.op)).json()['account']['id']}|reject")

    def test_list_pages_and_filters(self):
        n = self.pniche(auto=())
        _, adv = self.advertiser(funds=10**7)
        ids = [self.ret(self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)["id"], adv).json()["id"]
               for _ in range(3)]
        got, cursor = [], None
        for _ in range(10):
            q = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            doc = self.h2.get("/v1/returns", params=q, headers=bearer(adv)).json()
            got += [x["id"] for x in doc["items"]]
            cursor = doc["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(got, ids)
        self.decide(ids[1], "accept")
        self.decide(ids[2], "reject")
        for status, want in (("pending", [ids[0]]), ("accepted", [ids[1]]), ("rejected", [ids[2]])):
            doc = self.h2.get("/v1/returns", params={"status": status}, headers=bearer(adv)).json()
            self.assertEqual([x["id"] for x in doc["items"]], want, status)
        for bad in ({"limit": 0}, {"cursor": "nope"}, {"colour": "red"}):
            problem(self.h2.get("/v1/returns", params=bad, headers=bearer(adv)), 400, "invalid_parameter")
        self.decide(ids[0], "reject")

    # -- refusals and idempotency ---------------------------------------------------------------------------------

    def test_bad_input(self):
        n = self.pniche(auto=())
        _, adv = self.advertiser(funds=10**6)
        p = self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)
        for body, field in (({}, "/reason"), ({"reason": None}, "/reason"), ({"reason": 3}, "/reason"),
                            ({"reason": "FAKE"}, "/reason"), ({"reason": "fake", "comment": ""}, "/comment"),
                            ({"reason": "fake", "comment": "x" * 1001}, "/comment"), ({"reason": "fake", "comment": 5},
                                                                                      "/comment")):
            with self.subTest(body=body):
                problem(self.ret(p["id"], adv, body=body), 422, "validation_failed", field)
        problem(self.h2.post(f"/v1/purchases/{p['id']}/return", content=b"[1]", headers={**bearer(adv), **JSON}), 422,
                "validation_failed", "")
        problem(self.h2.post(f"/v1/purchases/{p['id']}/return", content=b"{", headers={**bearer(adv), **JSON}), 400,
                "malformed_json")
        problem(self.ret("not-a-uuid", adv), 404, "not_found")
        self.assertEqual(psql(self.db_url, f"SELECT count(*) FROM returns WHERE sale_id = '{p['id']}'"), "0")
        r = self.ret(p["id"], adv, "other").json()
        for body, field in (({}, "/decision"), ({"decision": "maybe"}, "/decision"),
                            ({"decision": "accept", "note": ""}, "/note"), ({"decision": "accept", "x": 1}, "/x")):
            with self.subTest(body=body):
                problem(self.h2.post(f"/v1/returns/{r['id']}/decision", json=body, headers=bearer(self.op)), 422,
                        "validation_failed", field)
        problem(self.h2.post(f"/v1/returns/{r['id']}/contest", json={}, headers=bearer(self.wm_token)), 422,
                "validation_failed", "/note")
        problem(self.decide("00000000-0000-7000-8000-000000000000", "accept"), 404, "not_found")
        problem(self.h2.get("/v1/returns/00000000-0000-7000-8000-000000000000", headers=bearer(self.op)), 404,
                "not_found")
        self.assertEqual(self.h2.get(f"/v1/returns/{r['id']}", headers=bearer(self.op)).json()["status"], "pending")
        self.decide(r["id"], "reject")

    def test_idempotency_key(self):
        n = self.pniche()
        acct, adv = self.advertiser(funds=10**6)
        p = self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)
        bal = self.db_balance(acct["id"])
        key = secrets.token_hex(8)
        problem(self.ret(p["id"], adv, "bored", key=key), 422, "validation_failed", "/reason")  # refused: key not burnt
        first = self.ret(p["id"], adv, "duplicate", key=key)
        self.assertEqual(first.status_code, 201, first.text)
        again = self.ret(p["id"], adv, "duplicate", key=key, client=self.h1)
        self.assertEqual((again.status_code, again.json()), (201, first.json()))
        problem(self.ret(p["id"], adv, "fake", key=key), 422, "idempotency_key_reused")
        self.assertEqual(self.db_balance(acct["id"]), bal + p["price"])  # refunded once
        problem(self.ret(p["id"], adv, "duplicate", key=secrets.token_hex(8)), 409, "conflict", "path.id")

    # -- races ------------------------------------------------------------------------------------------------------

    def test_racing_returns_and_decisions(self):
        n = self.pniche(auto=("duplicate",), max_shares=2)
        acct, adv = self.advertiser(funds=10**6)
        p = self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)
        bal = self.db_balance(acct["id"])
        clients = [self.server.client(http2=True) for _ in range(6)]
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            codes = sorted(f.result().status_code for f in [ex.submit(self.ret, p["id"], adv, client=c) for c in clients])
        self.assertEqual(codes, [201, 409, 409, 409, 409, 409])
        self.assertEqual(self.db_balance(acct["id"]), bal + p["price"])
        # Two operators accept one pending return at once: one refund.
        q = self.bought(self.new_lead(niche=n["slug"])["id"], "exclusive", adv)
        r = self.ret(q["id"], adv, "other").json()
        bal = self.db_balance(acct["id"])
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            codes = sorted(f.result().status_code
                           for f in [ex.submit(self.decide, r["id"], "accept", client=c) for c in clients])
        self.assertEqual(codes, [200, 409, 409, 409, 409, 409])
        self.assertEqual(self.db_balance(acct["id"]), bal + q["price"])
        # A shared lead: one buyer returns while two others race for slots; never more than max_shares held.
        lead = self.new_lead(niche=n["slug"])
        (_, a), (_, b), (_, c2) = (self.advertiser(funds=10**6) for _ in range(3))
        pa = self.bought(lead["id"], "shared", a)
        self.bought(lead["id"], "shared", b)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            fr = ex.submit(self.ret, pa["id"], a, client=clients[0])
            fb = ex.submit(self.buy, lead["id"], "shared", c2, client=clients[1])
            self.assertEqual(fr.result().status_code, 201)
            self.assertIn(fb.result().status_code, (201, 409))
        held = rows(self.db_url, f"SELECT share_index FROM sales WHERE lead_id = '{lead['id']}' AND refunded_at IS NULL "
                                 "ORDER BY 1")
        self.assertLessEqual(len(held), 2)
        self.assertEqual(len({h[0] for h in held}), len(held))

    def test_audit_report_is_clean_after_returns(self):
        n = self.pniche(max_shares=2)
        _, adv = self.advertiser(funds=10**6)
        lead = self.new_lead(niche=n["slug"])
        p = self.bought(lead["id"], "shared", adv)
        self.ret(p["id"], adv, "duplicate")
        wait_for(lambda: psql(self.db_url, "SELECT count(*) FROM receipt_queue") == "0", 10, what="the sequencer")

        def clean():
            doc = self.h2.get("/v1/audit/report", headers=bearer(self.op)).json()
            return doc if doc["ok"] else None
        wait_for(clean, 10, interval=0.3, what="a clean audit report")


if __name__ == "__main__":
    main()
