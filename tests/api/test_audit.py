"""The operator audit (issue 5 item 8, and the crash test of item 10).

* GET /v1/audit/report on a seeded workload through the API (deposits, real-time sales of both modes through
  campaigns, inventory purchases, operator changes) answers ok with counts that match the database; then the
  database is corrupted through psql as a superuser, one thing at a time (a receipt body byte, a receipt amount, a
  ledger entry, a balance row, a log leaf and a higher node, a head's root, a deleted receipt, a deleted or changed
  action log row, a lead sold in two modes at once, a campaign's spend), and each corruption is listed under the
  check that names it, with the ids of what is wrong; each is then restored and the report is ok again.
* The operator action log: every kind of operator action writes one row in the same transaction as its change
  (nothing for a change that did not happen, nothing for non-operators); the hash chain is recomputed here
  independently (hashlib) from the rows; GET /v1/audit/actions pages with a cursor and `since` and says whether
  its page chains; non-operators get 403 on both endpoints.
* Crash: the same kind of workload from several client threads while the server is killed with SIGKILL several
  times and restarted; requests that failed on the connection are retried with the same Idempotency-Key. Then the
  sequencer catches up, the audit report is ok, every acknowledged lead exists, and no lead is oversold.
"""
import base64
import hashlib
import json
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import httpx

from harness import (KEEP, Server, ServerTestCase, bearer, create_operator, log, main, new_database, problem, psql,
                     wait_for)
from leads_common import JSON, lead, niche_body

CHECKS = {"ledger_balanced", "ledger_entries", "balance_entries", "balance_floor", "receipts_cover_ledger",
          "receipts_reproduce_ledger", "receipt_signature", "receipt_body", "receipt_keys", "log_membership", "log_entry",
          "log_node", "log_size", "log_head_signature", "log_head_root", "lead_sales", "lead_state",
          "campaign_limits", "campaign_spend", "action_chain", "money_actions", "audit"}


def rows(db_url, sql):
    out = psql(db_url, sql)
    return [line.split("|") for line in out.splitlines() if line]


def superuser_sql(db_url, sql, **variables):
    """Runs SQL in one psql session with the refuse-change triggers off (session_replication_role = replica: the
    session of a superuser who bypasses the application); psql variables are passed safely as :'name'."""
    args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db_url]
    for k, v in variables.items():
        args += ["-v", f"{k}={v}"]
    p = subprocess.run(args, input="SET session_replication_role = replica;\n" + sql, capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"psql failed on {sql!r}:\n{p.stderr}")
    return p.stdout.strip()


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def wait_sequenced(db_url, timeout=60):
    """Every receipt is in the log and a signed head covers the whole log (the sequencer is idle)."""
    def done():
        (q, size, n, head), = rows(db_url, """
            SELECT (SELECT count(*) FROM receipt_queue), (SELECT tree_size FROM log_state), (SELECT count(*) FROM receipts),
                   EXISTS (SELECT 1 FROM log_heads h JOIN log_state s ON h.tree_size = s.tree_size)""")
        return q == "0" and size == n and head == "t"
    wait_for(done, timeout, interval=0.1, what="the sequencer to log every receipt")


def action_bytes(seq, at, operator_id, action, target, details):
    """The canonical bytes of an operator action (migrations/0007_audit.sql), built here independently."""
    return "\n".join(["leadx-operator-action-v1", str(seq), at, operator_id, action, target, details]).encode()


def verify_chain(db_url):
    """Recomputes the whole action chain with hashlib; returns the rows (seq, at, operator, action, target, details)."""
    out = rows(db_url, """
        SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), operator_id, action, target,
               details::text, encode(prev_hash, 'hex'), encode(hash, 'hex') FROM operator_actions ORDER BY seq""")
    prev = bytes(32)
    for i, (seq, at, op, action, target, details, prev_hex, hash_hex) in enumerate(out):
        assert int(seq) == i + 1, f"seq {seq} at position {i}"
        assert bytes.fromhex(prev_hex) == prev, f"seq {seq}: prev_hash is not the previous hash"
        h = hashlib.sha256(prev + action_bytes(seq, at, op, action, target, details)).digest()
        assert h.hex() == hash_hex, f"seq {seq}: hash does not recompute"
        prev = h
    (head_seq, head_hash), = rows(db_url, "SELECT seq, encode(hash, 'hex') FROM operator_action_head")
    assert int(head_seq) == len(out) and bytes.fromhex(head_hash) == prev, "the chain head is not the last action"
    return [r[:6] for r in out]


# ---------------------------------------------------------------------------------------------------------------
# A seeded workload through the API


class Market:
    """Two niches (one with campaigns of both modes, one without: its leads stay in the inventory), two
    webmasters, four advertisers with deposits and campaigns (one budget- and cap-limited), then leads."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.live = niche_body(max_shares=2, floor_exclusive=50000, floor_shared=20000, fee_bps=1500)
        self.shelf = niche_body(max_shares=2, floor_exclusive=30000, floor_shared=10000, fee_bps=2000)

    def setup(self, client, op):
        for n in (self.live, self.shelf):
            r = client.post("/v1/niches", json=n, headers=bearer(op))
            assert r.status_code == 201, r.text
        self.wm = []
        for k in range(2):
            r = client.post("/v1/accounts", json={"role": "webmaster", "name": f"wm {k}", "currency": "RUB"},
                            headers=bearer(op))
            assert r.status_code == 201, r.text
            self.wm.append((r.json()["account"], r.json()["key"]["token"]))
        self.adv = []
        for k in range(4):
            r = client.post("/v1/accounts", json={"role": "advertiser", "name": f"adv {k}", "currency": "RUB"},
                            headers=bearer(op))
            assert r.status_code == 201, r.text
            acct, token = r.json()["account"], r.json()["key"]["token"]
            r = client.post(f"/v1/accounts/{acct['id']}/deposits", headers=bearer(op),
                            json={"amount": 3_000_000, "currency": "RUB", "reference": f"wire {k}"})
            assert r.status_code == 201, r.text
            self.adv.append((acct, token))
        slug = self.live["slug"]
        campaigns = [(0, {"niche": slug, "regions": ["RU"], "price_exclusive": 60000}),
                     (1, {"niche": slug, "regions": ["RU-MOW"], "price_shared": 25000}),
                     (2, {"niche": slug, "regions": ["RU"], "price_shared": 30000, "budget": 150000, "daily_cap": 4}),
                     (3, {"niche": slug, "regions": ["RU-SPE"], "price_exclusive": 55000, "price_shared": 21000})]
        self.campaigns = []
        for k, body in campaigns:
            r = client.post("/v1/campaigns", json=body, headers=bearer(self.adv[k][1]))
            assert r.status_code == 201, r.text
            self.campaigns.append(r.json())

    def lead_bodies(self, n):
        out = []
        for i in range(n):
            niche = self.live["slug"] if self.rng.random() < 0.7 else self.shelf["slug"]
            body = lead(niche=niche, region=self.rng.choice(["RU-MOW", "RU-SPE", "RU-KDA"]),
                        sale_mode=self.rng.choice(["any", "any", "exclusive", "shared"]))
            out.append((self.rng.randrange(2), body))
        return out


def submit_leads(client, market, bodies):
    ids = []
    for wm, body in bodies:
        r = client.post("/v1/leads", content=json.dumps(body).encode(), headers={**bearer(market.wm[wm][1]), **JSON})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def buy_from_inventory(client, market, buyers, tries):
    """Buyers take exclusive leads and shared slots from the shelf niche; returns the purchases made."""
    bought = 0
    for k in range(tries):
        adv = market.adv[buyers[k % len(buyers)]][1]
        r = client.get("/v1/market/leads", params={"niche": market.shelf["slug"], "limit": 50}, headers=bearer(adv))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if not items:
            break
        item = items[k % len(items)]
        modes = [m for m in ("exclusive", "shared") if item[f"price_{m}"] is not None]
        if not modes:
            continue
        r = client.post(f"/v1/market/leads/{item['id']}/purchase", json={"mode": modes[k % len(modes)]},
                        headers=bearer(adv))
        assert r.status_code in (201, 409), r.text
        bought += r.status_code == 201
    return bought


# ---------------------------------------------------------------------------------------------------------------


class AuditReport(ServerTestCase):
    """One seeded workload; the report is ok on it, and lists each corruption under its check."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.market = Market(2026)
        cls.market.setup(cls.h2, cls.op)
        cls.leads = submit_leads(cls.h2, cls.market, cls.market.lead_bodies(60))
        cls.bought = buy_from_inventory(cls.h2, cls.market, [3, 1, 2], 12)
        # Operator changes: a credit limit, a niche's fee, a key for an advertiser and its revocation.
        adv3 = cls.market.adv[3][0]["id"]
        r = cls.h2.patch(f"/v1/accounts/{adv3}", json={"credit_limit": 100000}, headers=bearer(cls.op))
        assert r.status_code == 200, r.text
        r = cls.h2.patch(f"/v1/niches/{cls.market.shelf['slug']}", json={"fee_bps": 2500}, headers=bearer(cls.op))
        assert r.status_code == 200, r.text
        r = cls.h2.post(f"/v1/accounts/{adv3}/keys", json={"label": "ops"}, headers=bearer(cls.op))
        assert r.status_code == 201, r.text
        r = cls.h2.delete(f"/v1/accounts/{adv3}/keys/{r.json()['id']}", headers=bearer(cls.op))
        assert r.status_code == 204, r.text
        wait_sequenced(cls.db_url)

    def report(self, token=None):
        r = self.h2.get("/v1/audit/report", headers=bearer(token or self.op))
        self.assertEqual(r.status_code, 200, r.text)
        doc = r.json()
        for d in doc["discrepancies"]:
            self.assertIn(d["check"], CHECKS, d)
        self.assertEqual(doc["ok"], not doc["discrepancies"])
        self.assertEqual(sum(doc["discrepancy_counts"].values()) == 0, doc["ok"])
        return doc

    def assert_ok(self):
        doc = self.report()
        self.assertTrue(doc["ok"], json.dumps(doc["discrepancies"][:20], indent=1))
        return doc

    def assert_listed(self, doc, check, **ids):
        """A discrepancy of `check` whose members include `ids`; returns it."""
        self.assertFalse(doc["ok"])
        for d in doc["discrepancies"]:
            if d["check"] == check and all(d.get(k) == v for k, v in ids.items()):
                return d
        self.fail(f"no {check} discrepancy with {ids}: {json.dumps(doc['discrepancies'][:30], indent=1)}")

    def corrupt(self, sql, restore, expect, **variables):
        """Applies `sql`, runs the report, checks every (check, ids) of `expect` is listed, restores, and checks the
        report is ok again. Returns the corrupted report."""
        superuser_sql(self.db_url, sql, **variables)
        try:
            doc = self.report()
            for check, ids in expect:
                self.assert_listed(doc, check, **ids)
            self.assertEqual(doc["discrepancy_counts"].get(expect[0][0], 0) >= 1, True)
        finally:
            superuser_sql(self.db_url, restore, **variables)
        self.assert_ok()
        return doc

    # -- the clean workload ---------------------------------------------------------------------------------------

    def test_clean_workload_is_ok_with_sane_counts(self):
        doc = self.assert_ok()
        c = doc["counts"]
        db = dict(zip(["txns", "entries", "receipts", "log", "heads", "sales", "leads", "actions"], map(int, rows(
            self.db_url, """SELECT (SELECT count(*) FROM ledger_txns), (SELECT count(*) FROM ledger_entries),
            (SELECT count(*) FROM receipts), (SELECT count(*) FROM log_entries), (SELECT count(*) FROM log_heads),
            (SELECT count(*) FROM sales), (SELECT count(*) FROM leads), (SELECT count(*) FROM operator_actions)""")[0])))
        self.assertEqual(c["ledger_txns"], db["txns"])
        self.assertEqual(c["ledger_entries"], db["entries"])
        self.assertEqual(c["receipts"], db["receipts"])
        self.assertEqual(c["receipts_checked"], db["receipts"])
        self.assertEqual(c["receipts_verified"], db["receipts"])
        self.assertEqual(c["receipts_queued"], 0)
        self.assertEqual(c["log_entries"], db["receipts"])
        self.assertEqual(c["log_entries_checked"], db["receipts"])
        self.assertEqual(c["log_tree_size"], db["receipts"])
        self.assertEqual(c["log_heads"], db["heads"])
        self.assertEqual(c["log_heads_checked"], db["heads"])
        self.assertEqual(c["sales"], db["sales"])
        self.assertEqual(c["leads"], db["leads"])
        self.assertEqual(c["operator_actions"], db["actions"])
        self.assertEqual(c["operator_actions_checked"], db["actions"])
        # The workload did what it should: deposits, sales of both modes, purchases, receipts for all of them.
        self.assertGreaterEqual(db["sales"], 20)
        self.assertGreater(self.bought, 0)
        modes = {m for (m,) in rows(self.db_url, "SELECT DISTINCT mode FROM sales")}
        self.assertEqual(modes, {"exclusive", "shared"})
        self.assertGreater(db["receipts"], db["sales"])
        self.assertGreater(db["heads"], 0)
        self.assertEqual(doc["discrepancy_counts"], {})
        self.assertRegex(doc["checked_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

    def test_roles(self):
        for _, token in (self.market.wm[0], self.market.adv[0]):
            problem(self.h2.get("/v1/audit/report", headers=bearer(token)), 403, "forbidden")
            problem(self.h2.get("/v1/audit/actions", headers=bearer(token)), 403, "forbidden")
        problem(self.h2.get("/v1/audit/report"), 401, "unauthorized")
        problem(self.h2.get("/v1/audit/report?x=1", headers=bearer(self.op)), 400, "invalid_parameter", "query.x")

    def test_reports_over_http1_and_concurrently(self):
        r = self.h1.get("/v1/audit/report", headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.json()["ok"])
        # Two at once are allowed; a third at the same time may be refused with 503 overloaded, never anything else.
        results = []

        def one():
            c = self.server.client(http2=True, timeout=60)
            results.append(c.get("/v1/audit/report", headers=bearer(self.op)))

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            if r.status_code == 503:
                self.assertEqual(r.json()["code"], "overloaded")
            else:
                self.assertEqual(r.status_code, 200, r.text)
                self.assertTrue(r.json()["ok"])
        self.assertTrue(any(r.status_code == 200 for r in results))

    def test_client_gone_mid_report(self):
        """Clients that give up (HTTP/2 reset, closed HTTP/1.1 connection) while the report pages: the server frees
        the report's state and its connection and keeps answering (the sanitizer build checks the memory)."""
        for http2 in (True, False, True, False):
            for timeout in (0.001, 0.003, 0.01):
                c = self.server.client(http2=http2, timeout=timeout)
                try:
                    c.get("/v1/audit/report", headers=bearer(self.op))
                except httpx.TimeoutException:
                    pass
                c.close()
        # An abandoned report ends at its next page (it learns only then that its client is gone), so a new one may
        # meet the cap of two running reports for a moment: 503 overloaded, then a slot frees.
        wait_for(lambda: self.h2.get("/v1/audit/report", headers=bearer(self.op)).status_code == 200, timeout=60,
                 interval=0.2, what="the abandoned reports to end")
        self.assert_ok()

    # -- corruption, one thing at a time ---------------------------------------------------------------------------

    def receipt(self, kind):
        (rid, body, amount), = rows(self.db_url, f"SELECT id, body, amount FROM receipts WHERE kind = '{kind}' "
                                                 "ORDER BY id LIMIT 1")
        return rid, body, int(amount)

    def test_receipt_body_byte(self):
        rid, body, _ = self.receipt("deposit")
        bad = body.replace('"currency":"RUB"', '"currency":"RUC"')
        self.assertNotEqual(bad, body)
        doc = self.corrupt("UPDATE receipts SET body = :'bad' WHERE id = :'rid';",
                           "UPDATE receipts SET body = :'body' WHERE id = :'rid';",
                           [("receipt_signature", {"receipt_id": rid}), ("receipt_body", {"receipt_id": rid}),
                            ("log_entry", {"receipt_id": rid})], rid=rid, bad=bad, body=body)
        self.assertEqual(doc["counts"]["receipts_verified"], doc["counts"]["receipts"] - 1)

    def test_receipt_body_not_canonical(self):
        rid, body, _ = self.receipt("deposit")
        bad = body.replace('{"', '{ "', 1)
        self.corrupt("UPDATE receipts SET body = :'bad' WHERE id = :'rid';",
                     "UPDATE receipts SET body = :'body' WHERE id = :'rid';",
                     [("receipt_signature", {"receipt_id": rid})], rid=rid, bad=bad, body=body)

    def test_receipt_amount(self):
        rid, _, amount = self.receipt("sale")
        self.corrupt("UPDATE receipts SET amount = amount - 1 WHERE id = :'rid';",
                     "UPDATE receipts SET amount = amount + 1 WHERE id = :'rid';",
                     [("receipts_reproduce_ledger", {}), ("receipt_body", {"receipt_id": rid, "column": "amount"})],
                     rid=rid)

    def test_receipt_signature(self):
        rid, _, _ = self.receipt("sale")
        (sig,), = rows(self.db_url, f"SELECT signature FROM receipts WHERE id = '{rid}'")
        bad = ("B" if sig[0] != "B" else "C") + sig[1:]
        self.corrupt("UPDATE receipts SET signature = :'bad' WHERE id = :'rid';",
                     "UPDATE receipts SET signature = :'sig' WHERE id = :'rid';",
                     [("receipt_signature", {"receipt_id": rid}), ("log_entry", {"receipt_id": rid})],
                     rid=rid, bad=bad, sig=sig)

    def test_entry_amount(self):
        (eid, txn, owner), = rows(self.db_url, "SELECT id, txn_id, account_id FROM ledger_entries "
                                               "WHERE book = 'balance' ORDER BY id DESC LIMIT 1")
        self.corrupt("UPDATE ledger_entries SET amount = amount + 1 WHERE id = :'eid';",
                     "UPDATE ledger_entries SET amount = amount - 1 WHERE id = :'eid';",
                     [("ledger_balanced", {"txn_id": txn}), ("balance_entries", {"account_id": owner}),
                      ("receipts_reproduce_ledger", {"txn_id": txn, "account_id": owner})], eid=eid)

    def test_balance_row(self):
        (lid, owner), = rows(self.db_url, "SELECT id, owner FROM ledger_accounts WHERE book = 'pending' "
                                          "ORDER BY balance DESC LIMIT 1")
        self.corrupt("UPDATE ledger_accounts SET balance = balance + 7 WHERE id = :'lid';",
                     "UPDATE ledger_accounts SET balance = balance - 7 WHERE id = :'lid';",
                     [("balance_entries", {"ledger_account_id": lid, "account_id": owner})], lid=lid)

    def test_log_higher_node(self):
        (h,), = rows(self.db_url, "SELECT encode(hash, 'hex') FROM log_nodes WHERE level = 4 AND idx = 1")
        self.corrupt("UPDATE log_nodes SET hash = sha256(hash) WHERE level = 4 AND idx = 1;",
                     "UPDATE log_nodes SET hash = decode(:'h', 'hex') WHERE level = 4 AND idx = 1;",
                     [("log_node", {"level": 4, "index": 1})], h=h)

    def test_log_node_missing(self):
        (h,), = rows(self.db_url, "SELECT encode(hash, 'hex') FROM log_nodes WHERE level = 5 AND idx = 0")
        self.corrupt("DELETE FROM log_nodes WHERE level = 5 AND idx = 0;",
                     "INSERT INTO log_nodes (level, idx, hash) VALUES (5, 0, decode(:'h', 'hex'));",
                     [("log_node", {"level": 5, "index": 0})], h=h)

    def test_log_stores_no_node_below_level_4(self):
        (low, n), = rows(self.db_url, "SELECT count(*) FILTER (WHERE level < 4), count(*) FROM log_nodes")
        self.assertEqual(int(low), 0)
        (size,), = rows(self.db_url, "SELECT tree_size FROM log_state")
        self.assertEqual(int(n), sum(int(size) >> level for level in range(4, 64)))

    def test_head_root(self):
        heads = rows(self.db_url, "SELECT tree_size, root_hash FROM log_heads ORDER BY tree_size DESC LIMIT 2")
        self.assertEqual(len(heads), 2, "the workload should have made several heads")
        (size, root), (_, other) = heads
        self.corrupt("UPDATE log_heads SET root_hash = :'other' WHERE tree_size = :'size';",
                     "UPDATE log_heads SET root_hash = :'root' WHERE tree_size = :'size';",
                     [("log_head_root", {"tree_size": int(size)}), ("log_head_signature", {"tree_size": int(size)})],
                     size=size, root=root, other=other)

    def test_log_entry_changed(self):
        (idx, entry), = rows(self.db_url, "SELECT log_index, entry FROM log_entries WHERE entry LIKE '%\"shared\"%' "
                                          "ORDER BY log_index LIMIT 1")
        bad = entry.replace('"shared"', '"exclusive"')
        self.corrupt("UPDATE log_entries SET entry = :'bad' WHERE log_index = :'idx';",
                     "UPDATE log_entries SET entry = :'entry' WHERE log_index = :'idx';",
                     [("log_entry", {"log_index": int(idx)}), ("log_node", {"level": 4, "index": int(idx) >> 4})],
                     idx=idx, bad=bad, entry=entry)

    def test_deleted_log_entry(self):
        (saved, rid), = rows(self.db_url, "SELECT row_to_json(e), receipt_id FROM log_entries e WHERE log_index = 5")
        self.corrupt("DELETE FROM log_entries WHERE log_index = 5;",
                     "INSERT INTO log_entries SELECT * FROM json_populate_record(NULL::log_entries, :'saved');",
                     [("log_size", {"from": 5, "to": 5}), ("log_membership", {"receipt_id": rid}),
                      ("log_head_root", {})], saved=saved)

    def test_deleted_receipt(self):
        rid, _, _ = self.receipt("sale")
        (saved, txn, account), = rows(self.db_url, f"SELECT row_to_json(r), ledger_txn, account_id FROM receipts r "
                                                   f"WHERE id = '{rid}'")
        self.corrupt("DELETE FROM receipts WHERE id = :'rid';",
                     "INSERT INTO receipts SELECT * FROM json_populate_record(NULL::receipts, :'saved');",
                     [("receipts_cover_ledger", {"txn_id": txn, "account_id": account}),
                      ("receipts_reproduce_ledger", {"txn_id": txn, "account_id": account}),
                      ("log_membership", {"receipt_id": rid})], rid=rid, saved=saved)

    def test_deleted_action(self):
        (saved,), = rows(self.db_url, "SELECT row_to_json(a) FROM operator_actions a WHERE seq = 2")
        self.corrupt("DELETE FROM operator_actions WHERE seq = 2;",
                     "INSERT INTO operator_actions SELECT * FROM json_populate_record(NULL::operator_actions, :'saved');",
                     [("action_chain", {"seq": 3})], saved=saved)

    def test_deleted_last_action(self):
        (saved, seq), = rows(self.db_url, "SELECT row_to_json(a), seq FROM operator_actions a ORDER BY seq DESC LIMIT 1")
        self.corrupt("DELETE FROM operator_actions WHERE seq = :'seq';",
                     "INSERT INTO operator_actions SELECT * FROM json_populate_record(NULL::operator_actions, :'saved');",
                     [("action_chain", {"seq": int(seq)})], saved=saved, seq=seq)

    def test_changed_action(self):
        (details,), = rows(self.db_url, "SELECT details::text FROM operator_actions WHERE seq = 3")
        doc = self.corrupt("UPDATE operator_actions SET details = details || '{\"amount\": 1}' WHERE seq = 3;",
                           "UPDATE operator_actions SET details = :'details' WHERE seq = 3;",
                           [("action_chain", {"seq": 3})], details=details)
        self.assertEqual([d["seq"] for d in doc["discrepancies"] if d["check"] == "action_chain"], [3])

    def test_lead_sold_in_two_modes(self):
        found = rows(self.db_url, """
            SELECT s.id, s.lead_id FROM sales s WHERE s.mode = 'shared' AND s.share_index = 0 AND s.refunded_at IS NULL
               AND (SELECT count(*) FROM sales t WHERE t.lead_id = s.lead_id AND t.refunded_at IS NULL) >= 2 LIMIT 1""")
        self.assertTrue(found, "the workload should sell some lead to two buyers")
        (sid, lead_id), = found
        self.corrupt("UPDATE sales SET mode = 'exclusive' WHERE id = :'sid';",
                     "UPDATE sales SET mode = 'shared' WHERE id = :'sid';",
                     [("lead_sales", {"lead_id": lead_id, "source": "sales"}), ("lead_state", {"lead_id": lead_id})],
                     sid=sid)

    def test_sale_moved_to_another_lead(self):
        """A sale's signed receipts name its lead: a sale moved to a lead nobody bought (its buyer would read a contact
        it never paid for) is listed."""
        (sid, lead_id, buyer), = rows(self.db_url, "SELECT id, lead_id, buyer_id FROM sales WHERE refunded_at IS NULL "
                                                   "ORDER BY id LIMIT 1")
        (other,), = rows(self.db_url, "SELECT l.id FROM leads l WHERE NOT EXISTS (SELECT 1 FROM sales s "
                                      "WHERE s.lead_id = l.id) ORDER BY l.id LIMIT 1")
        self.corrupt("UPDATE sales SET lead_id = :'other' WHERE id = :'sid';",
                     "UPDATE sales SET lead_id = :'lead' WHERE id = :'sid';",
                     [("receipts_cover_ledger", {"sale_id": sid, "account_id": buyer})], sid=sid, other=other, lead=lead_id)

    def test_refund_receipt_of_a_sale_not_refunded(self):
        """A sale is refunded exactly when it has a refund receipt: one marked unrefunded again in SQL (its buyer would
        hold both the refund and the lead) is listed."""
        (sid, lead_id, buyer, price, txn, rid), = rows(self.db_url, """
            SELECT s.id, s.lead_id, s.buyer_id, s.price, s.ledger_txn, r.id FROM sales s
              JOIN receipts r ON r.sale_id = s.id AND r.account_id = s.buyer_id
             WHERE s.refunded_at IS NULL ORDER BY s.id LIMIT 1""")
        fake = str(uuid.uuid4())
        self.corrupt("INSERT INTO receipts (id, account_id, kind, book, ledger_txn, amount, currency, lead_id, sale_id, "
                     "reverses, issued_at, body, key_id, signature) SELECT :'fake', account_id, 'refund', book, ledger_txn, "
                     "-amount, currency, lead_id, sale_id, id, now(), '{}', key_id, signature FROM receipts "
                     "WHERE id = :'rid';",
                     "DELETE FROM receipts WHERE id = :'fake';",
                     [("receipts_cover_ledger", {"sale_id": sid, "account_id": buyer})], fake=fake, rid=rid)

    def test_key_published_outside_the_key_directory(self):
        """Keys live in files: a receipt key inserted in the database alone (receipts signed with it would verify
        against GET /v1/receipts/keys) is listed, and so is a published key whose window was widened."""
        raw = os.urandom(32)  # any 32 bytes: the check is about where the key comes from, not its signatures
        kid, pk = hashlib.blake2b(raw, digest_size=32).hexdigest()[:16], base64.urlsafe_b64encode(raw).decode().rstrip("=")
        self.corrupt("INSERT INTO receipt_keys (key_id, public_key, not_before) VALUES (:'kid', :'pk', now());",
                     "DELETE FROM receipt_keys WHERE key_id = :'kid';", [("receipt_keys", {"key_id": kid})], kid=kid, pk=pk)
        (kid, before), = rows(self.db_url, "SELECT key_id, not_before FROM receipt_keys ORDER BY not_before LIMIT 1")
        self.corrupt("UPDATE receipt_keys SET not_before = not_before - interval '1 year' WHERE key_id = :'kid';",
                     "UPDATE receipt_keys SET not_before = :'before' WHERE key_id = :'kid';",
                     [("receipt_keys", {"key_id": kid})], kid=kid, before=before)

    def test_money_moved_without_its_action(self):
        """A deposit, payout or withdrawal has its operator action row: one made around the API is listed."""
        (seq, txn), = rows(self.db_url, "SELECT seq, details->>'txn_id' FROM operator_actions WHERE action = 'deposit.create' "
                                        "ORDER BY seq LIMIT 1")
        self.corrupt("UPDATE operator_actions SET action = 'deposit.made' WHERE seq = :'seq';",
                     "UPDATE operator_actions SET action = 'deposit.create' WHERE seq = :'seq';",
                     [("money_actions", {"txn_id": txn})], seq=seq)

    def test_campaign_spend(self):
        (cid,), = rows(self.db_url, "SELECT id FROM campaigns WHERE spent > 0 ORDER BY id LIMIT 1")
        self.corrupt("UPDATE campaigns SET spent = spent - 1 WHERE id = :'cid';",
                     "UPDATE campaigns SET spent = spent + 1 WHERE id = :'cid';",
                     [("campaign_spend", {"campaign_id": cid})], cid=cid)

    def test_balance_floor(self):
        adv = self.market.adv[0][0]["id"]
        self.corrupt("UPDATE ledger_accounts SET min_balance = -5 WHERE owner = :'adv';",
                     "UPDATE ledger_accounts SET min_balance = 0 WHERE owner = :'adv';",
                     [("balance_floor", {"account_id": adv})], adv=adv)


# ---------------------------------------------------------------------------------------------------------------


class ActionLog(ServerTestCase):
    """Each kind of operator action writes one row in its own transaction; the chain verifies; paging."""

    def actions(self, token=None, **params):
        r = self.h2.get("/v1/audit/actions", params=params, headers=bearer(token or self.op))
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def all_actions(self, limit=200):
        items, cursor = [], None
        while True:
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            doc = self.actions(**q)
            self.assertTrue(doc["verified"], doc)
            items += doc["items"]
            cursor = doc["next_cursor"]
            if cursor is None:
                return items

    def last(self):
        return self.all_actions()[-1]

    def count(self):
        return int(psql(self.db_url, "SELECT count(*) FROM operator_actions"))

    def test_every_operator_action_is_logged(self):
        op_id = self.me(self.op).json()["account"]["id"]
        n0 = self.count()
        acct, token = self.create_account("advertiser", currency="RUB")
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["operator_id"]), ("account.create", acct["id"], op_id))
        self.assertEqual(a["details"], {"role": "advertiser", "name": acct["name"], "currency": "RUB", "rate_limit": None})

        r = self.h2.patch(f"/v1/accounts/{acct['id']}", json={"credit_limit": 5000}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["details"]), ("account.update", acct["id"], {"credit_limit": 5000}))

        r = self.h2.post(f"/v1/accounts/{acct['id']}/deposits", headers=bearer(self.op),
                         json={"amount": 12345, "currency": "RUB", "reference": "wire 77"})
        self.assertEqual(r.status_code, 201, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"]), ("deposit.create", acct["id"]))
        self.assertEqual(a["details"], {"txn_id": r.json()["id"], "amount": 12345, "currency": "RUB",
                                        "reference": "wire 77"})

        r = self.h2.post(f"/v1/accounts/{acct['id']}/keys", json={"label": "second"}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        key_id = r.json()["id"]
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["details"]),
                         ("key.create", acct["id"], {"key_id": key_id, "label": "second"}))
        r = self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{key_id}", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["details"]), ("key.revoke", acct["id"], {"key_id": key_id}))

        body = niche_body()
        r = self.h2.post("/v1/niches", json=body, headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"]), ("niche.create", body["slug"]))
        self.assertEqual(a["details"]["id"], r.json()["id"])
        self.assertEqual(a["details"]["fee_bps"], body["fee_bps"])
        r = self.h2.patch(f"/v1/niches/{body['slug']}", json={"floor_exclusive": 70000}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["details"]),
                         ("niche.update", body["slug"], {"floor_exclusive": 70000}))

        wm, wm_token = self.create_account("webmaster", currency="RUB")
        r = self.h2.post("/v1/leads", json=lead(niche=body["slug"]), headers=bearer(wm_token))
        self.assertEqual(r.status_code, 201, r.text)
        lead_id = r.json()["id"]
        r = self.h2.delete(f"/v1/leads/{lead_id}/contact", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["details"]), ("lead.contact_erase", lead_id, {}))

        r = self.h2.post("/v1/erasures", json={"phone": "+7 916 000-11-22"}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["details"]),
                         ("erasure.create", r.json()["id"], {"phone": True, "email": False}))
        # account.create twice (advertiser, webmaster) and eight other actions.
        self.assertEqual(self.count(), n0 + 10)
        # No contact data in the log: the erased phone is nowhere, as sent or normalised (+79160001122). Its last
        # seven digits, not "916": the details hold random hex ids, and one contains "916" about once in 140.
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM operator_actions WHERE details::text LIKE '%0001122%' "
                                           "OR details::text LIKE '%000-11-22%'"), "0")
        verify_chain(self.db_url)

    def test_operator_campaign_changes_are_logged(self):
        """An operator pausing, resuming or patching the status of an advertiser's campaign is an action; the
        advertiser doing the same to its own, or an operator's pause of a paused campaign, is not."""
        op_id = self.me(self.op).json()["account"]["id"]
        body = niche_body()
        self.assertEqual(self.h2.post("/v1/niches", json=body, headers=bearer(self.op)).status_code, 201)
        acct, token = self.create_account("advertiser", currency="RUB")
        r = self.h2.post("/v1/campaigns", headers=bearer(token),
                         json={"niche": body["slug"], "regions": ["RU"], "price_exclusive": 60000})
        self.assertEqual(r.status_code, 201, r.text)
        cid = r.json()["id"]
        n0 = self.count()
        for path in ("pause", "resume"):  # the advertiser's own
            self.assertEqual(self.h2.post(f"/v1/campaigns/{cid}/{path}", headers=bearer(token)).status_code, 200)
        r = self.h2.patch(f"/v1/campaigns/{cid}", json={"status": "paused", "price_exclusive": 61000},
                          headers=bearer(token))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.count(), n0)
        r = self.h2.post(f"/v1/campaigns/{cid}/resume", headers=bearer(self.op))
        self.assertEqual((r.status_code, r.json()["status"]), (200, "active"), r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["operator_id"]), ("campaign.resume", cid, op_id))
        self.assertEqual(a["details"], {"advertiser_id": acct["id"], "from": "paused", "to": "active"})
        r = self.h2.post(f"/v1/campaigns/{cid}/pause", headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual((self.last()["action"], self.last()["details"]["to"]), ("campaign.pause", "paused"))
        n1 = self.count()
        self.assertEqual(self.h2.post(f"/v1/campaigns/{cid}/pause", headers=bearer(self.op)).status_code, 200)
        self.assertEqual(self.count(), n1)  # already paused: nothing changed
        r = self.h2.patch(f"/v1/campaigns/{cid}", json={"status": "archived"}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        a = self.last()
        self.assertEqual((a["action"], a["target"], a["details"]), ("campaign.update", cid, {"status": "archived"}))
        # an archived campaign never changes: refused, and nothing logged
        problem(self.h2.post(f"/v1/campaigns/{cid}/resume", headers=bearer(self.op)), 409, "conflict")
        problem(self.h2.patch(f"/v1/campaigns/{cid}", json={"status": "active"}, headers=bearer(self.op)), 409,
                "conflict")
        self.assertEqual(self.count(), n1 + 1)
        verify_chain(self.db_url)

    def test_nothing_logged_without_a_change_or_by_others(self):
        acct, token = self.create_account("advertiser", currency="RUB")
        n0 = self.count()
        missing = "019ab1f2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"
        problem(self.h2.patch(f"/v1/accounts/{missing}", json={"status": "suspended"}, headers=bearer(self.op)),
                404, "not_found")
        problem(self.h2.patch("/v1/niches/no-such-niche", json={"fee_bps": 1}, headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.delete(f"/v1/leads/{missing}/contact", headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{missing}", headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.post(f"/v1/accounts/{missing}/keys", json={}, headers=bearer(self.op)), 404, "not_found")
        n1 = self.count()
        self.assertEqual(n1, n0)
        # An account managing its own keys is not an operator action.
        r = self.h2.post(f"/v1/accounts/{acct['id']}/keys", json={}, headers=bearer(token))
        self.assertEqual(r.status_code, 201, r.text)
        r = self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{r.json()['id']}", headers=bearer(token))
        self.assertEqual(r.status_code, 204, r.text)
        # A deposit refused before the claim (wrong currency) logs nothing; an idempotent replay logs nothing more.
        problem(self.h2.post(f"/v1/accounts/{acct['id']}/deposits", headers=bearer(self.op),
                             json={"amount": 5, "currency": "USD", "reference": "x"}), 422, "validation_failed", "/currency")
        headers = {**bearer(self.op), "Idempotency-Key": "dep-" + secrets.token_hex(4)}
        for _ in range(2):
            r = self.h2.post(f"/v1/accounts/{acct['id']}/deposits", headers=headers,
                             json={"amount": 5, "currency": "RUB", "reference": "x"})
            self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(self.count(), n1 + 1)
        verify_chain(self.db_url)

    def test_roles_and_parameters(self):
        acct, token = self.create_account("webmaster")
        problem(self.h2.get("/v1/audit/actions", headers=bearer(token)), 403, "forbidden")
        problem(self.h2.get("/v1/audit/actions"), 401, "unauthorized")
        for query, field in (("limit=0", "query.limit"), ("cursor=zz", "query.cursor"), ("since=yesterday", "query.since"),
                             ("cursor=AAAAAAAAAAAAAAAAAAAAAA", "query.cursor"), ("nope=1", "query.nope")):
            problem(self.h2.get(f"/v1/audit/actions?{query}", headers=bearer(self.op)), 400, "invalid_parameter", field)

    def test_paging_since_and_independent_chain(self):
        for k in range(5):
            self.create_account("webmaster")
        items = self.all_actions(limit=2)
        self.assertEqual([a["seq"] for a in items], list(range(1, len(items) + 1)))
        self.assertEqual(items, self.all_actions(limit=200))
        # The API's hashes are the database's, and they recompute here.
        db = verify_chain(self.db_url)
        for a, (seq, at, op, action, target, details) in zip(items, db):
            self.assertEqual((a["seq"], a["at"], a["operator_id"], a["action"], a["target"]),
                             (int(seq), at, op, action, target))
            self.assertEqual(a["details"], json.loads(details))
        prev = b64url(bytes(32))
        for a in items:
            self.assertEqual(a["prev_hash"], prev)
            prev = a["hash"]
        # since: the actions at or after a time.
        mid = items[len(items) // 2]
        later = self.actions(since=mid["at"])["items"]
        self.assertEqual(later[0]["seq"], mid["seq"])
        self.assertEqual(self.actions(since="2999-01-01T00:00:00Z")["items"], [])

    def test_tampered_row_is_reported(self):
        self.create_account("webmaster")
        self.create_account("webmaster")
        (seq, target), = rows(self.db_url, "SELECT seq, target FROM operator_actions ORDER BY seq DESC LIMIT 1")
        superuser_sql(self.db_url, "UPDATE operator_actions SET target = 'forged' WHERE seq = :'seq';", seq=seq)
        try:
            doc = self.actions(limit=200)
            self.assertFalse(doc["verified"])
            r = self.h2.get("/v1/audit/report", headers=bearer(self.op))
            self.assertEqual(r.status_code, 200)
            found = [d for d in r.json()["discrepancies"] if d["check"] == "action_chain"]
            self.assertEqual([d["seq"] for d in found], [int(seq)], found)
        finally:
            superuser_sql(self.db_url, "UPDATE operator_actions SET target = :'target' WHERE seq = :'seq';",
                          seq=seq, target=target)
        self.assertTrue(self.actions(limit=200)["verified"])

    def test_the_log_refuses_changes(self):
        self.create_account("webmaster")
        for sql in ("UPDATE operator_actions SET target = 'x'", "DELETE FROM operator_actions",
                    "TRUNCATE operator_actions", "UPDATE operator_action_head SET seq = seq + 1",
                    "DELETE FROM operator_action_head"):
            p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.db_url, "-c", sql],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0, sql)
            self.assertRegex(p.stderr, r"never changed or deleted|moves only by appending", sql)
        # Whatever an insert says about seq, time and hashes, the database assigns them.
        psql(self.db_url, "INSERT INTO operator_actions (seq, at, operator_id, action, target, prev_hash, hash) "
                          "VALUES (999, '2000-01-01', gen_random_uuid(), 'test.insert', 'x', '\\x00', '\\x00')")
        (seq, year), = rows(self.db_url, "SELECT seq, extract(year FROM at) FROM operator_actions WHERE action = 'test.insert'")
        self.assertNotEqual(seq, "999")
        self.assertNotEqual(year, "2000")
        verify_chain(self.db_url)


# ---------------------------------------------------------------------------------------------------------------


class Generations:
    """The server of the moment: killed and restarted by the test, found again by the client threads."""

    def __init__(self, db_url, key_dir):
        self.db_url = db_url
        self.key_dir = key_dir
        self.lock = threading.Lock()
        self.gen = 0
        self.servers = []
        self.server = None
        self.local = threading.local()
        self.retries = 0

    def start(self):
        s = Server(self.db_url, key_dir=self.key_dir, name=f"crash-{self.gen}",
                   env={"LEADX_SEQUENCER_INTERVAL_MS": "50"})
        s.start()
        with self.lock:
            self.servers.append(s)
            self.server = s
            self.gen += 1
        return s

    def kill(self):
        with self.lock:
            s = self.server
        s.kill()
        s.assert_clean()

    def client(self):
        with self.lock:
            gen, server = self.gen, self.server
        if getattr(self.local, "gen", None) != gen:
            self.local.client = server.client(http2=True, timeout=20)
            self.local.gen = gen
        return self.local.client

    def call(self, method, path, token, body=None, key=None, deadline_s=240):
        """One request until it gets an answer that is not a lost connection, a 503 or an idempotency claim still
        held by a killed server (taken over after 60 s); retried with the same Idempotency-Key."""
        headers = bearer(token)
        if key is not None:
            headers["Idempotency-Key"] = key
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers.update(JSON)
        deadline = time.monotonic() + deadline_s
        while True:
            assert time.monotonic() < deadline, f"{method} {path}: no answer within {deadline_s} s"
            try:
                r = self.client().request(method, path, content=content, headers=headers)
            except httpx.TransportError:
                with self.lock:
                    self.retries += 1
                time.sleep(0.1)
                continue
            if r.status_code == 503 or (r.status_code == 409 and r.json().get("code") == "idempotency_in_progress"):
                time.sleep(0.3)
                continue
            return r

    def cleanup(self):
        for s in self.servers:
            s.kill()
            for f in ("stdout_f", "stderr_f"):
                if hasattr(s, f):
                    getattr(s, f).close()
            if not KEEP:
                shutil.rmtree(s.dir, ignore_errors=True)


class CrashRecovery(unittest.TestCase):
    """SIGKILL mid-flow, several times; afterwards the audit report is ok and no acknowledged lead is lost."""

    KILL_AT = (0.2, 0.45, 0.7)  # fractions of the leads acknowledged

    def test_kill_9_under_load_then_audit(self):
        db_url = new_database()
        key_dir = tempfile.mkdtemp(prefix="crash-keys-")  # every generation signs and hashes with the same keys
        self.addCleanup(shutil.rmtree, key_dir, True)
        first = Server(db_url, key_dir=key_dir, name="crash-setup")
        self.addCleanup(first.kill)
        first.start()
        op = create_operator(first)
        market = Market(7)
        setup_client = first.client(http2=True)
        market.setup(setup_client, op)
        first.stop()
        gens = Generations(db_url, key_dir)
        self.addCleanup(gens.cleanup)
        gens.start()

        acked, errors = [], []
        lock = threading.Lock()
        stop = threading.Event()
        bodies = market.lead_bodies(400)
        nthreads = 4

        def submitter(k):
            try:
                for i, (wm, body) in enumerate(bodies[k::nthreads]):
                    r = gens.call("POST", "/v1/leads", market.wm[wm][1], body, key=f"lead-{k}-{i}")
                    if r.status_code != 201:
                        raise AssertionError(f"lead {k}/{i}: {r.status_code} {r.text}")
                    with lock:
                        acked.append(r.json()["id"])
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                errors.append(repr(e))

        def buyer():
            try:
                k = 0
                while not stop.is_set() and k < 60:
                    adv = market.adv[3 - k % 2][1]
                    r = gens.call("GET", f"/v1/market/leads?niche={market.shelf['slug']}&limit=20", adv)
                    assert r.status_code == 200, r.text
                    items = r.json()["items"]
                    if items:
                        item = items[k % len(items)]
                        modes = [m for m in ("exclusive", "shared") if item[f"price_{m}"] is not None]
                        if modes:
                            r = gens.call("POST", f"/v1/market/leads/{item['id']}/purchase", adv,
                                          {"mode": modes[k % len(modes)]}, key=f"buy-{k}")
                            assert r.status_code in (201, 402, 409), r.text
                    k += 1
                    time.sleep(0.05)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        def operator():
            try:
                for k in range(20):
                    acct = market.adv[k % 4][0]["id"]
                    r = gens.call("POST", f"/v1/accounts/{acct}/deposits", op,
                                  {"amount": 1000 + k, "currency": "RUB", "reference": f"crash {k}"}, key=f"dep-{k}")
                    assert r.status_code == 201, r.text
                    time.sleep(0.1)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(nthreads)]
        threads += [threading.Thread(target=buyer), threading.Thread(target=operator)]
        for t in threads:
            t.start()
        for kill, frac in enumerate(self.KILL_AT):
            wait_for(lambda: len(acked) >= frac * len(bodies) or errors, 300, interval=0.005,
                     what=f"{frac:.0%} of the leads acknowledged")
            with lock:
                before = len(acked)
            log(f"crash test: SIGKILL {kill + 1} of {len(self.KILL_AT)} after {before} acknowledged leads")
            gens.kill()
            # A claim the killed server left unfinished is taken over after 60 s (migrations/0001 lx_idem_claim);
            # with the only server dead, every such claim is abandoned for sure, so the test lets that time pass
            # instead of waiting for it.
            psql(db_url, "UPDATE idempotency_keys SET created_at = created_at - interval '61 seconds' "
                         "WHERE status_code IS NULL")
            gens.start()
        for t in threads:
            t.join(timeout=600)
        stop.set()
        self.assertEqual(errors, [])
        self.assertEqual(len(acked), len(bodies))
        log(f"crash test: {len(bodies)} leads, {len(self.KILL_AT)} SIGKILLs, {gens.retries} requests retried on a "
            "lost connection")

        # Invariant 1: every acknowledged lead is there, exactly once.
        found = psql(db_url, "SELECT count(*) FROM leads WHERE id = ANY ('{" + ",".join(acked) + "}'::uuid[])")
        self.assertEqual(int(found), len(set(acked)))
        self.assertEqual(len(set(acked)), len(acked))
        wait_sequenced(db_url)
        r = gens.call("GET", "/v1/audit/report", op)
        self.assertEqual(r.status_code, 200, r.text)
        doc = r.json()
        self.assertTrue(doc["ok"], json.dumps(doc["discrepancies"][:20], indent=1))
        self.assertGreater(doc["counts"]["sales"], 0)
        self.assertEqual(doc["counts"]["receipts_verified"], doc["counts"]["receipts"])
        # No lead oversold (the report's lead_sales check, and the database's own view of it).
        self.assertEqual(psql(db_url, """
            SELECT count(*) FROM (SELECT s.lead_id FROM sales s JOIN leads l ON l.id = s.lead_id
              WHERE s.refunded_at IS NULL GROUP BY s.lead_id, l.max_shares
              HAVING count(*) > l.max_shares OR count(DISTINCT s.buyer_id) <> count(*)
                  OR (bool_or(s.mode = 'exclusive') AND count(*) > 1)) x"""), "0")
        verify_chain(db_url)
        gens.server.stop()


if __name__ == "__main__":
    main()
