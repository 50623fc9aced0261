"""The receipt transparency log and the receipt read endpoints (issue 5 items 4 and 5), checked with an INDEPENDENT
verifier (tests/api/log_verifier.py: its own RFC 8785 canonicaliser, Ed25519 from python3-cryptography, SHA-256 from
hashlib, RFC 6962 / RFC 9162 trees and proof checks; nothing shared with the C side).

- Deposits, inventory purchases and real-time sales produce receipts; once sequenced (polled, never slept for),
  every receipt's signature verifies with the published key, every inclusion proof against its signed head, every
  head's signature; consecutive and random pairs of heads are consistent; the root recomputed from
  GET /v1/log/entries equals each head's root; the server's proofs equal the RFC 6962 reference proofs.
- Entries never name an account; each account sees its own receipts only, operators all; the log's public
  endpoints need no key, entries and receipts do; bad parameters are 400 problems naming the query field.
- A flipped bit in a receipt, entry, proof or head is always rejected by the verifier.
- The C side and Python agree on receipt_hash and entry bytes both ways: entries the server logged for receipts
  the server signed, and for receipts signed here in Python with the server's key and queued straight into the
  database.
- An empty log has a signed head of size 0; a receipt not sequenced yet shows nulls; exports stream one head.
- Two server processes on one database, each running a sequencer: every receipt is in the log exactly once, at
  contiguous indexes, and every head is consistent with every earlier one.
"""
import concurrent.futures
import hashlib
import json
import random
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import log_verifier as V
from harness import (CONTRACT, PgLock, Server, ServerTestCase, TwoServerTestCase, bearer, create_operator, main, new_database, problem,
                     psql, wait_for)
from leads_common import JSON, LeadTestCase
from market_common import MarketTestCase, uuid7

EMPTY_ROOT = V.b64e(hashlib.sha256(b"").digest())


# ---- helpers shared by the test classes ----------------------------------------------------------------------


def keyring(client, server):
    """The published keys (GET /v1/receipts/keys), or the key file's public half when that endpoint is absent."""
    r = client.get("/v1/receipts/keys")
    if r.status_code == 200:
        return V.Keyring(r.json())
    return V.Keyring.from_secret_key_file(server.key_dir / "receipt-signing.key")


def all_receipts(client, token, **params):
    """Every receipt item visible with these parameters, walking the pages."""
    items, cursor = [], None
    for _ in range(10000):
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        r = client.get("/v1/receipts", params=q, headers=bearer(token))
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination does not end")


def all_heads(client, limit=200):
    heads, cursor = [], None
    for _ in range(10000):
        q = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = client.get("/v1/log/heads", params=q)
        assert r.status_code == 200, r.text
        heads += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return heads
    raise AssertionError("pagination does not end")


def all_entries(client, token, size, check_raw=True):
    """Entries [0, size) through GET /v1/log/entries (1,000 per call); each entry's canonical form must appear verbatim
    in the answer (the server sends the bytes it hashed)."""
    entries, start = [], 0
    while start < size:
        r = client.get("/v1/log/entries", params={"start": start, "end": size}, headers=bearer(token))
        assert r.status_code == 200, r.text
        doc = V.loads(r.text)
        assert doc["items"], doc
        for i, it in enumerate(doc["items"]):
            assert it["log_index"] == start + i, (it["log_index"], start + i)
            V.check_entry(it["entry"])
            if check_raw:
                assert V.jcs(it["entry"]) in r.text, "an entry was not sent in its canonical form"
            entries.append(it["entry"])
        start += len(doc["items"])
        assert doc["next_start"] == (start if start < size else None), (doc["next_start"], start, size)
    return entries


def leaves_of(entries):
    return [V.leaf_hash(V.jcs_bytes(e)) for e in entries]


def wait_sequenced(client, token, ids, timeout=30):
    """Polls GET /v1/receipts (operator: every receipt) until each of `ids` has a log_index; returns the items."""
    ids = set(ids)

    def done():
        items = all_receipts(client, token)
        got = {i["receipt"]["body"]["id"]: i for i in items}
        if ids <= {k for k, v in got.items() if v["log_index"] is not None}:
            return items
        return None
    return wait_for(done, timeout, interval=0.05, what="the receipts to be sequenced")


def flip_bit(data, bit):
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def sign_receipts(key_dir, account, n, currency="RUB"):
    """n deposit receipts for `account`, signed here in Python with the server's receipt key (seed = first 32 bytes
    of libsodium's secret key), bodies canonicalised by the test's own RFC 8785 code."""
    raw = (key_dir / "receipt-signing.key").read_bytes()
    sk = Ed25519PrivateKey.from_private_bytes(raw[:32])
    key_id = hashlib.blake2b(raw[32:], digest_size=32).hexdigest()[:16]
    now = time.time()
    out = []
    for i in range(n):
        t = now + i * 1e-6
        issued = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}Z"
        body = {"v": 1, "id": uuid7(), "kind": "deposit", "issued_at": issued, "account": account,
                "ledger_txn": uuid7(), "amount": 1 + i, "currency": currency,
                "reference": f"py {i} \u00e9\u20ac\U0001F600 \"q\" \\ \t"}  # escapes and non-ASCII in the signed bytes
        sig = sk.sign(V.RECEIPT_CONTEXT + V.jcs_bytes(body))
        out.append({"body": body, "key_id": key_id, "signature": V.b64e(sig)})
    return out


def queue_receipts(db_url, receipts, book="balance"):
    """Inserts receipts and their queue rows straight into the database, as lx_receipts_insert did before migration
    0011: the queue rows without entries."""
    rows = [{"id": r["body"]["id"], "account_id": r["body"]["account"], "kind": r["body"]["kind"], "book": book,
             "ledger_txn": r["body"]["ledger_txn"], "amount": r["body"]["amount"], "currency": r["body"]["currency"],
             "issued_at": r["body"]["issued_at"], "body": V.jcs(r["body"]), "key_id": r["key_id"],
             "signature": r["signature"]} for r in receipts]
    doc = json.dumps(rows)
    assert "$lxq$" not in doc
    sql = ("WITH r AS (INSERT INTO receipts (id, account_id, kind, book, ledger_txn, amount, currency, issued_at, body, "
           "key_id, signature) SELECT x.id, x.account_id, x.kind, x.book, x.ledger_txn, x.amount, x.currency, "
           "x.issued_at, x.body, x.key_id, x.signature FROM json_to_recordset($lxq$" + doc + "$lxq$::json) AS "
           "x(id uuid, account_id uuid, kind text, book text, ledger_txn uuid, amount bigint, currency text, "
           "issued_at timestamptz, body text, key_id text, signature text) RETURNING id) "
           "INSERT INTO receipt_queue (receipt_id) SELECT id FROM r;\n")
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db_url], input=sql, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr


# ---- the verifier's own known answers -------------------------------------------------------------------------


class IndependentVerifier(unittest.TestCase):
    """The Python verifier itself against published vectors, so a bug on both sides cannot cancel out."""

    # RFC 6962 test leaves of the certificate-transparency project (merkle_tree_test), and its roots.
    LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
              b"\x50\x51\x52\x53\x54\x55\x56\x57",
              b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]
    ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
             "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
             "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
             "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
             "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
             "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]

    def test_rfc6962_roots_and_proofs(self):
        leaves = [V.leaf_hash(x) for x in self.LEAVES]
        self.assertEqual(V.mth([]).hex(), hashlib.sha256(b"").hexdigest())
        for n in range(1, 9):
            self.assertEqual(V.mth(leaves[:n]).hex(), self.ROOTS[n - 1], n)
        for n in range(1, 9):
            root = V.mth(leaves[:n])
            for m in range(n):
                path = V.ref_path(m, leaves[:n])
                self.assertTrue(V.verify_inclusion(m, n, leaves[m], path, root), (m, n))
                self.assertFalse(V.verify_inclusion(m, n, leaves[(m + 1) % 8], path, root) and n > 1, (m, n))
                if path:
                    self.assertFalse(V.verify_inclusion(m, n, leaves[m], path[:-1], root))
                    self.assertFalse(V.verify_inclusion(m, n, leaves[m], path + [root], root))
                if m == n - 1 and n > 1:  # (a tree size is bound by the signed head, not by the path)
                    self.assertFalse(V.verify_inclusion(m, n + 1, leaves[m], path, root))
            for m in range(1, n + 1):
                proof = V.ref_proof(m, leaves[:n])
                self.assertTrue(V.verify_consistency(m, n, V.mth(leaves[:m]), root, proof), (m, n))
                if m < n:
                    self.assertFalse(V.verify_consistency(m, n, V.mth(leaves[:m]), leaves[0], proof))
                    bad = [bytes(32)] + proof[1:]
                    self.assertFalse(V.verify_consistency(m, n, V.mth(leaves[:m]), root, bad))
        # RFC 6962 §2.1.3's worked example (7 leaves): PATH(0) = [b, h, l], PATH(3) = [c, g, l], PATH(4) = [f, j, k],
        # PATH(6) = [i, k]; PROOF(3) = [c, d, g, l], PROOF(4) = [l], PROOF(6) = [i, j, k].
        t = leaves[:7]  # RFC 6962's figure: a..f the leaves d0..d5, j the leaf d6
        a, b, c, d, e, f, j = t
        g, h, i = V.node_hash(a, b), V.node_hash(c, d), V.node_hash(e, f)
        k, l = V.node_hash(g, h), V.node_hash(i, j)
        self.assertEqual(V.mth(t), V.node_hash(k, l))
        self.assertEqual(V.ref_path(0, t), [b, h, l])
        self.assertEqual(V.ref_path(3, t), [c, g, l])
        self.assertEqual(V.ref_path(4, t), [f, j, k])
        self.assertEqual(V.ref_path(6, t), [i, k])
        self.assertEqual(V.ref_proof(3, t), [c, d, g, l])
        self.assertEqual(V.ref_proof(4, t), [l])
        self.assertEqual(V.ref_proof(6, t), [i, j, k])

    def test_rfc8785(self):
        # RFC 8785 §3.2.3's sorting example (keys ordered by UTF-16 code units, not by code points).
        obj = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
               "1": "One", "\U0001F600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
        order = [k for k in V.loads(V.jcs(obj))]
        self.assertEqual(order, ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001F600", "\ufb33"])
        self.assertEqual(V.jcs({"b": [1, -2, 0, True, False, None], "a": "\u0000\u001f\b\t\n\f\r\"\\/\u007f\u00e9"}),
                         '{"a":"\\u0000\\u001f\\b\\t\\n\\f\\r\\"\\\\/\u007f\u00e9","b":[1,-2,0,true,false,null]}')
        self.assertEqual(V.jcs({"n": 9007199254740991, "m": -9007199254740991}),
                         '{"m":-9007199254740991,"n":9007199254740991}')
        with self.assertRaises(V.VerifyError):
            V.jcs({"x": 2 ** 53})
        with self.assertRaises(V.VerifyError):
            V.loads('{"a": 1, "a": 2}')
        with self.assertRaises(V.VerifyError):
            V.loads('{"a": 1.5}')

    def test_base64url_is_strict(self):
        raw = bytes(range(32))
        s = V.b64e(raw)
        self.assertEqual(V.b64d(s, 32, "x"), raw)
        for bad in (s + "=", s[:-1] + chr(ord(s[-1]) + 1), s[:-1], s + "A", s.replace("A", "+"), " " + s[1:]):
            with self.assertRaises(V.VerifyError):
                V.b64d(bad, 32, "x")


# ---- one server: a realistic workload ------------------------------------------------------------------------


class TransparencyLog(LeadTestCase, MarketTestCase):
    """Deposits, inventory purchases (exclusive and shared) and a real-time sale, all sequenced."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c, op = cls.h2, cls.op
        # Before any money moves: the empty log's signed head.
        cls.empty_head = wait_for(lambda: c.get("/v1/log/head").status_code == 200 and c.get("/v1/log/head").json(),
                                  10, what="the empty log's head")

        def account(role):
            r = c.post("/v1/accounts", json={"role": role, "name": f"{role} {secrets.token_hex(3)}",
                                              "currency": "RUB"}, headers=bearer(op))
            assert r.status_code == 201, r.text
            return r.json()["account"], r.json()["key"]["token"]

        def deposit(acct, amount):
            r = c.post(f"/v1/accounts/{acct['id']}/deposits", json={"amount": amount, "currency": "RUB",
                                                                   "reference": f"wire {secrets.token_hex(3)}"},
                       headers=bearer(op))
            assert r.status_code == 201, r.text

        def new_lead(token):
            body = cls.lead_body()
            r = c.post("/v1/leads", content=json.dumps(body).encode(), headers={**bearer(token), **JSON})
            assert r.status_code == 201, r.text
            return r.json()

        def buy(lead_id, mode, token):
            r = c.post(f"/v1/market/leads/{lead_id}/purchase", content=json.dumps({"mode": mode}).encode(),
                       headers={**bearer(token), **JSON})
            assert r.status_code == 201, r.text
            return r.json()

        cls.advs = [account("advertiser") for _ in range(3)]
        for a, _ in cls.advs:
            deposit(a, 1_000_000)
            deposit(a, 500_000)
        cls.wm2 = account("webmaster")
        (a1, t1), (a2, t2), (a3, t3) = cls.advs
        l1, l2, l3 = new_lead(cls.wm_token), new_lead(cls.wm_token), new_lead(cls.wm_token)
        l4 = new_lead(cls.wm2[1])
        cls.leads = [l1, l2, l3, l4]
        buy(l1["id"], "exclusive", t1)
        buy(l2["id"], "shared", t2)
        buy(l2["id"], "shared", t3)
        buy(l3["id"], "shared", t1)
        buy(l4["id"], "exclusive", t2)
        # A real-time sale: a campaign of a3 buys the next lead at intake.
        r = c.post("/v1/campaigns", json={"niche": cls.slug, "regions": ["RU"], "price_exclusive": 60000,
                                          "budget": 60000}, headers=bearer(t3))
        assert r.status_code == 201, r.text
        l5 = new_lead(cls.wm_token)
        assert l5["status"] == "sold", l5
        cls.leads.append(l5)
        ids = [i["receipt"]["body"]["id"] for i in all_receipts(c, op)]
        cls.ids = ids
        cls.items = wait_sequenced(c, op, ids)
        cls.ring = keyring(c, cls.server)

    @classmethod
    def lead_body(cls):
        from leads_common import lead
        return lead(niche=cls.slug)

    # -- the receipts ----------------------------------------------------------------------------------------------

    def test_workload_made_the_receipts(self):
        kinds = {}
        for it in self.items:
            kinds[it["receipt"]["body"]["kind"]] = kinds.get(it["receipt"]["body"]["kind"], 0) + 1
        # 6 deposits; 6 sales x (buyer + webmaster)
        self.assertGreaterEqual(kinds.get("deposit", 0), 6, kinds)
        self.assertGreaterEqual(kinds.get("sale", 0), 12, kinds)
        # the buyer's receipt states minus the price on its balance, the webmaster's plus its payout; neither names
        # the other side
        accounts = {a["id"] for a, _ in self.advs} | {self.wm["id"], self.wm2[0]["id"]}
        for it in self.items:
            b = it["receipt"]["body"]
            if b["kind"] != "sale":
                continue
            others = accounts - {b["account"]}
            text = json.dumps(it)
            for other in others:
                self.assertNotIn(other, text)
            if b["account"] in (self.wm["id"], self.wm2[0]["id"]):
                self.assertGreater(b["amount"], 0)
            else:
                self.assertLess(b["amount"], 0)

    def test_every_receipt_verifies_and_is_proven(self):
        items = all_receipts(self.h2, self.op)
        self.assertEqual({i["receipt"]["body"]["id"] for i in items}, set(self.ids) | {i["receipt"]["body"]["id"]
                                                                                     for i in items})
        head = self.h2.get("/v1/log/head").json()
        size, root = V.verify_head(head, self.ring)
        entries = all_entries(self.h2, self.op, size)
        leaves = leaves_of(entries)
        self.assertEqual(V.mth(leaves), root)
        proven = 0
        for it in items:
            index, leaf = V.verify_item(it, self.ring)
            self.assertIsNotNone(index)
            # the entry at that index is this receipt's, and the proof is exactly RFC 6962's PATH
            n = it["inclusion_proof"]["tree_size"]
            self.assertEqual(entries[index], it["entry"])
            self.assertEqual([V.b64d(h, 32, "h") for h in it["inclusion_proof"]["hashes"]],
                             V.ref_path(index, leaves[:n]))
            proven += 1
        self.assertEqual(proven, len(items))
        # one by one, as its owner sees it
        owners = {a["id"]: t for a, t in self.advs}
        owners[self.wm["id"]] = self.wm_token
        owners[self.wm2[0]["id"]] = self.wm2[1]
        for it in items[:12]:
            b = it["receipt"]["body"]
            r = self.h2.get(f"/v1/receipts/{b['id']}", headers=bearer(owners[b["account"]]))
            self.assertEqual(r.status_code, 200, r.text)
            one = r.json()
            self.assertEqual(one["receipt"], it["receipt"])
            self.assertEqual(one["entry"], it["entry"])
            self.assertEqual(one["log_index"], it["log_index"])
            V.verify_item(one, self.ring)
            self.assertEqual(self.h1.get(f"/v1/receipts/{b['id']}", headers=bearer(self.op)).json()["receipt"],
                             it["receipt"])

    def test_c_and_python_agree_on_receipt_hash_and_entry_bytes(self):
        """The entry the sequencer (C) logged for each receipt the server (C) signed is, byte for byte, the entry the
        Python code derives from the receipt: same receipt_hash (SHA-256 of the receipt's canonical JSON), same
        lead_digest/mode/share_index, same canonical entry bytes, so the same leaf hash."""
        size = self.h2.get("/v1/log/head").json()["tree_size"]
        r = self.h2.get("/v1/log/entries", params={"start": 0, "end": min(size, 1000)}, headers=bearer(self.op))
        by_index = {it["log_index"]: it["entry"] for it in V.loads(r.text)["items"]}
        for it in self.items:
            mine = V.entry_of(it["receipt"])
            self.assertEqual(V.jcs(mine), V.jcs(by_index[it["log_index"]]))
            self.assertIn(V.jcs(mine), r.text)
            self.assertEqual(V.jcs(mine), V.jcs(it["entry"]))
            body = it["receipt"]["body"]
            if body["kind"] == "sale":
                self.assertEqual((mine["lead_digest"], mine["mode"], mine["share_index"]),
                                 (body["lead_digest"], body["mode"], body["share_index"]))
                self.assertIsNotNone(mine["lead_digest"])
            else:
                self.assertEqual((mine["lead_digest"], mine["mode"], mine["share_index"]), (None, None, None))

    # -- the log ---------------------------------------------------------------------------------------------------

    def test_empty_log_has_a_signed_head(self):
        h = self.empty_head
        self.assertEqual((h["tree_size"], h["root_hash"]), (0, EMPTY_ROOT))
        self.assertEqual(V.verify_head(h, self.ring), (0, hashlib.sha256(b"").digest()))
        self.assertEqual(all_heads(self.h2)[0], h)

    def test_entries_name_no_account_and_rebuild_every_head(self):
        heads = all_heads(self.h2)
        latest = heads[-1]
        size, root = V.verify_head(latest, self.ring)
        entries = all_entries(self.h1, self.wm_token, size)  # any role reads the whole log
        leaves = leaves_of(entries)
        self.assertEqual(V.mth(leaves), root)
        secrets_ = {a["id"] for a, _ in self.advs} | {self.wm["id"], self.wm2[0]["id"]} | \
            {lead["id"] for lead in self.leads} | {i["receipt"]["body"]["ledger_txn"] for i in self.items}
        r = self.h2.get("/v1/log/entries", headers=bearer(self.wm_token))
        for s in secrets_:
            self.assertNotIn(s, r.text)
        for e in entries:
            self.assertEqual(set(e), {"kind", "receipt_hash", "lead_digest", "mode", "share_index"})
        prev = None
        for h in heads:
            n, hroot = V.verify_head(h, self.ring)
            self.assertEqual(V.mth(leaves[:n]), hroot, f"head {n}")
            if prev is not None:
                self.assertGreater(n, prev)
            prev = n
        # Sales counted from the log alone: per (digest, mode, share index) at most one unrefunded sale (two
        # receipts), and an exclusive digest is never also shared.
        per = {}
        for e in entries:
            if e["lead_digest"] is not None:
                key = (e["lead_digest"], e["mode"], e["share_index"])
                per[key] = per.get(key, 0) + (1 if e["kind"] == "sale" else -1)
        self.assertTrue(per)
        for key, n in per.items():
            self.assertEqual(n, 2, key)
        modes = {}
        for d, m, _ in per:
            modes.setdefault(d, set()).add(m)
        self.assertTrue(all(len(m) == 1 for m in modes.values()), modes)
        self.assertEqual(len(modes), len(self.leads))  # one digest per lead, the same in every receipt of it

    def test_entries_windows(self):
        size = self.h2.get("/v1/log/head").json()["tree_size"]
        whole = V.loads(self.h2.get("/v1/log/entries", headers=bearer(self.op)).text)
        self.assertEqual([i["log_index"] for i in whole["items"]], list(range(size)))
        self.assertIsNone(whole["next_start"])
        r = self.h2.get("/v1/log/entries", params={"start": 2, "end": 5}, headers=bearer(self.op)).json()
        self.assertEqual(r["items"], whole["items"][2:5])
        self.assertIsNone(r["next_start"])
        r = self.h2.get("/v1/log/entries", params={"start": 3, "end": 3}, headers=bearer(self.op)).json()
        self.assertEqual(r, {"items": [], "next_start": None})
        r = self.h2.get("/v1/log/entries", params={"start": size}, headers=bearer(self.op)).json()
        self.assertEqual(r, {"items": [], "next_start": None})

    def test_heads_are_signed_and_consistent(self):
        heads = [h for h in all_heads(self.h2, limit=2) if h["tree_size"] > 0]
        self.assertEqual(heads, [h for h in all_heads(self.h2) if h["tree_size"] > 0])  # pages of two = one page
        self.assertGreaterEqual(len(heads), 1)
        size, _ = V.verify_head(heads[-1], self.ring)
        leaves = leaves_of(all_entries(self.h2, self.op, size))
        roots = {}
        for h in heads:
            n, root = V.verify_head(h, self.ring)
            roots[n] = root
        pairs = list(zip(heads, heads[1:]))
        rng = random.Random(5)
        sizes = sorted(roots)
        checks = [(a["tree_size"], b["tree_size"]) for a, b in pairs]
        checks += [tuple(sorted(rng.sample(range(1, size + 1), 2))) for _ in range(12)] if size > 1 else []
        checks += [(1, size), (size, size)]
        for m, n in checks:
            r = self.h2.get("/v1/log/consistency", params={"from": m, "to": n})
            self.assertEqual(r.status_code, 200, r.text)
            doc = r.json()
            self.assertEqual((doc["from"], doc["to"]), (m, n))
            proof = [V.b64d(x, 32, "h") for x in doc["hashes"]]
            self.assertEqual(proof, V.ref_proof(m, leaves[:n]) if m < n else [], (m, n))
            rm = roots.get(m, V.mth(leaves[:m]))
            rn = roots.get(n, V.mth(leaves[:n]))
            self.assertTrue(V.verify_consistency(m, n, rm, rn, proof), (m, n))
        self.assertTrue(sizes)

    def test_export_streams_one_head(self):
        a1, t1 = self.advs[0]
        mine = all_receipts(self.h2, t1)
        for client, token, expect in ((self.h2, t1, mine), (self.h1, t1, mine), (self.h2, self.op, None)):
            r = client.get("/v1/receipts/export", headers=bearer(token))
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.headers["content-type"], "application/jsonl")
            self.assertTrue(r.text.endswith("\n"))
            lines = [V.loads(x) for x in r.text.split("\n")[:-1]]
            head = lines[0]["head"]
            for line in lines:
                CONTRACT.validate("#/components/schemas/ReceiptItem", {"$ref": "#/components/schemas/ReceiptItem"},
                                  line)
                V.verify_item(line, self.ring, expect_head=head)
            if expect is not None:
                self.assertEqual([x["receipt"] for x in lines], [x["receipt"] for x in expect])
                self.assertTrue(all(x["receipt"]["body"]["account"] == a1["id"] for x in lines))
            else:
                self.assertGreaterEqual(len(lines), len(self.items))
        # filters
        r = self.h2.get("/v1/receipts/export", params={"kind": "sale"}, headers=bearer(t1))
        lines = [V.loads(x) for x in r.text.split("\n")[:-1]]
        self.assertEqual(len(lines), len([x for x in mine if x["receipt"]["body"]["kind"] == "sale"]))
        r = self.h2.get("/v1/receipts/export", params={"since": "2999-01-01T00:00:00Z"}, headers=bearer(t1))
        self.assertEqual((r.status_code, r.text), (200, ""))

    def test_not_yet_sequenced_shows_nulls(self):
        """While another sequencer holds the log's lock (here: a psql session), a new receipt waits unsequenced and
        shows nulls everywhere; once the lock goes, it is appended."""
        a1, t1 = self.advs[0]
        with PgLock(self.db_url, "log_state", sql="SELECT 1 FROM log_state FOR UPDATE"):
            r = self.deposit(a1["id"], 777, currency="RUB")
            self.assertEqual(r.status_code, 201, r.text)
            time.sleep(0.5)  # let the sequencer try (and skip) a couple of rounds while the lock is held
            (it,) = [x for x in all_receipts(self.h2, t1) if x["receipt"]["body"]["amount"] == 777]
            self.assertEqual((it["entry"], it["log_index"], it["inclusion_proof"], it["head"]), (None,) * 4)
            V.verify_item(it, self.ring)
            rid = it["receipt"]["body"]["id"]
            one = self.h2.get(f"/v1/receipts/{rid}", headers=bearer(t1)).json()
            self.assertEqual(one, it)
            lines = [V.loads(x) for x in self.h2.get("/v1/receipts/export", headers=bearer(t1)).text.split("\n")[:-1]]
            self.assertEqual([x for x in lines if x["receipt"]["body"]["id"] == rid], [it])
            # Its queue row carries the entry the money path computed beside the signature: Python's, byte for byte.
            self.assertEqual(psql(self.db_url, f"SELECT entry FROM receipt_queue WHERE receipt_id = '{rid}'"),
                             V.jcs(V.entry_of(it["receipt"])))
        got = wait_for(lambda: (lambda x: x if x["log_index"] is not None else None)(
            self.h2.get(f"/v1/receipts/{rid}", headers=bearer(t1)).json()), 20, interval=0.05, what="sequencing")
        V.verify_item(got, self.ring)

    def test_sequencer_vacuums_its_queue(self):
        """The round after one that appended vacuums the queue, so its dead rows do not wait for autovacuum's visit
        (migrations/0011): the queue's own vacuum count grows, and autovacuum cannot account for it."""
        def vacuums():
            return psql(self.db_url, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'receipt_queue'")
        wait_for(lambda: int(vacuums()) >= 1, 20, interval=0.1, what="the sequencer's vacuum of its queue")
        self.assertEqual(psql(self.db_url, "SELECT reloptions FROM pg_class WHERE relname = 'receipt_queue'"),
                         "{vacuum_truncate=false}")

    # -- who sees what ---------------------------------------------------------------------------------------------

    def test_each_account_sees_its_own(self):
        (a1, t1), (a2, t2), _ = self.advs
        wm_items = all_receipts(self.h2, self.wm_token)
        self.assertTrue(wm_items)
        self.assertTrue(all(i["receipt"]["body"]["account"] == self.wm["id"] for i in wm_items))
        self.assertTrue(all(i["receipt"]["body"]["kind"] == "sale" for i in wm_items))
        a1_items = all_receipts(self.h2, t1)
        self.assertTrue(all(i["receipt"]["body"]["account"] == a1["id"] for i in a1_items))
        self.assertEqual(all_receipts(self.h2, t1, account=a1["id"]), a1_items)
        # operators: all, and by account
        self.assertEqual(all_receipts(self.h2, self.op, account=a1["id"]), a1_items)
        # another account's receipt: 404, its id in a filter: 404
        other = a1_items[0]["receipt"]["body"]["id"]
        problem(self.h2.get(f"/v1/receipts/{other}", headers=bearer(self.wm_token)), 404, "not_found")
        problem(self.h2.get(f"/v1/receipts/{other}", headers=bearer(t2)), 404, "not_found")
        problem(self.h2.get("/v1/receipts", params={"account": a1["id"]}, headers=bearer(t2)), 404, "not_found",
                "query.account")
        problem(self.h2.get("/v1/receipts/export", params={"account": a1["id"]}, headers=bearer(self.wm_token)), 404,
                "not_found", "query.account")
        problem(self.h2.get(f"/v1/receipts/{uuid7()}", headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.get("/v1/receipts/not-an-id", headers=bearer(self.op)), 404, "not_found")
        # pages, kinds, since
        paged = all_receipts(self.h2, self.op, limit=3)
        self.assertEqual(paged, all_receipts(self.h2, self.op))
        ids = [i["receipt"]["body"]["id"] for i in paged]
        self.assertEqual(ids, sorted(ids))
        sales = all_receipts(self.h2, t1, kind="sale")
        self.assertEqual(sales, [i for i in a1_items if i["receipt"]["body"]["kind"] == "sale"])
        self.assertEqual(all_receipts(self.h2, t1, kind="refund"), [])
        mid = a1_items[len(a1_items) // 2]["receipt"]["body"]["issued_at"]
        self.assertEqual(all_receipts(self.h2, t1, since=mid),
                         [i for i in a1_items if i["receipt"]["body"]["issued_at"] >= mid])

    def test_keys_and_public_endpoints(self):
        for path in ("/v1/log/head", "/v1/log/heads", "/v1/log/consistency?from=1&to=1"):
            self.assertEqual(self.h2.get(path).status_code, 200, path)
            self.assertEqual(self.h1.get(path).status_code, 200, path)
        for path in ("/v1/log/entries", "/v1/receipts", "/v1/receipts/export", f"/v1/receipts/{self.ids[0]}"):
            problem(self.h2.get(path), 401, "unauthorized")
            problem(self.h2.get(path, headers=bearer("lx_" + "0" * 32 + "_" + "A" * 43)), 401, "unauthorized")
        self.assertEqual(self.h2.get("/v1/log/entries", headers=bearer(self.wm_token)).status_code, 200)
        self.assertEqual(self.h2.get("/v1/log/entries", headers=bearer(self.advs[0][1])).status_code, 200)

    def test_bad_parameters(self):
        t = self.advs[0][1]
        size = self.h2.get("/v1/log/head").json()["tree_size"]
        cases = [
            ("/v1/log/consistency", {}, "query.from"),
            ("/v1/log/consistency", {"to": 2}, "query.from"),
            ("/v1/log/consistency", {"from": 1}, "query.to"),
            ("/v1/log/consistency", {"from": 0, "to": 2}, "query.from"),
            ("/v1/log/consistency", {"from": -1, "to": 2}, "query.from"),
            ("/v1/log/consistency", {"from": "x", "to": 2}, "query.from"),
            ("/v1/log/consistency", {"from": "01", "to": 2}, "query.from"),
            ("/v1/log/consistency", {"from": 3, "to": 2}, "query.from"),
            ("/v1/log/consistency", {"from": 1, "to": size + 1}, "query.to"),
            ("/v1/log/consistency", {"from": 1, "to": 10 ** 30}, "query.to"),
            ("/v1/log/consistency", {"from": 1, "to": 2, "x": 1}, "query.x"),
            ("/v1/log/heads", {"limit": 0}, "query.limit"),
            ("/v1/log/heads", {"limit": 201}, "query.limit"),
            ("/v1/log/heads", {"cursor": "nope"}, "query.cursor"),
            ("/v1/log/heads", {"cursor": "AQIDBAUGBwgJCgsMDQ4PEA"}, "query.cursor"),
            ("/v1/log/head", {"x": 1}, "query.x"),
            ("/v1/log/entries", {"start": "a"}, "query.start"),
            ("/v1/log/entries", {"start": -1}, "query.start"),
            ("/v1/log/entries", {"end": "1.5"}, "query.end"),
            ("/v1/log/entries", {"start": 5, "end": 4}, "query.start"),
            ("/v1/log/entries", {"end": size + 1}, "query.end"),
            ("/v1/log/entries", {"start": size + 1}, "query.start"),
            ("/v1/receipts", {"kind": "gift"}, "query.kind"),
            ("/v1/receipts", {"since": "yesterday"}, "query.since"),
            ("/v1/receipts", {"account": "nope"}, "query.account"),
            ("/v1/receipts", {"limit": 500}, "query.limit"),
            ("/v1/receipts", {"cursor": "!"}, "query.cursor"),
            ("/v1/receipts", {"kind": "sale", "x": 1}, "query.x"),
            ("/v1/receipts/export", {"kind": "SALE"}, "query.kind"),
            ("/v1/receipts/export", {"limit": 5}, "query.limit"),
            ("/v1/receipts/export", {"since": "2026-13-01T00:00:00Z"}, "query.since"),
            (f"/v1/receipts/{self.ids[0]}", {"x": 1}, "query.x"),
        ]
        for path, params, field in cases:
            with self.subTest(path=path, params=params):
                for c in (self.h2, self.h1):
                    problem(c.get(path, params=params, headers=bearer(t)), 400, "invalid_parameter", field)

    # -- tampering -------------------------------------------------------------------------------------------------

    def test_a_flipped_bit_is_always_detected(self):
        """Every single-bit flip of a receipt item (receipt, entry, proof, head, as the canonical JSON a client
        stores) and of a signed head makes the independent verifier refuse it; so do targeted edits."""
        rng = random.Random(7)
        sale = next(i for i in self.items if i["receipt"]["body"]["kind"] == "sale" and i["log_index"] > 0)
        deposit = next(i for i in self.items if i["receipt"]["body"]["kind"] == "deposit")
        head = self.h2.get("/v1/log/head").json()

        def rejected(text, check):
            try:
                check(V.loads(text))
            except (V.VerifyError, KeyError, TypeError, AttributeError, ValueError):
                return True
            return False

        for item in (sale, deposit):
            text = V.jcs_bytes(item)
            V.verify_item(V.loads(text.decode()), self.ring)  # the original verifies
            bits = list(range(len(text) * 8))
            for bit in rng.sample(bits, 600):
                flipped = flip_bit(text, bit)
                try:
                    s = flipped.decode("utf-8")
                except UnicodeDecodeError:
                    continue  # not even text: refused by any parser
                self.assertTrue(rejected(s, lambda d: V.verify_item(d, self.ring)), f"bit {bit}: {s[:200]}")
        htext = V.jcs_bytes(head)
        for bit in range(len(htext) * 8):
            try:
                s = flip_bit(htext, bit).decode("utf-8")
            except UnicodeDecodeError:
                continue
            self.assertTrue(rejected(s, lambda d: V.verify_head(d, self.ring)), f"head bit {bit}")
        # targeted: a proof hash, the index, the tree size, the entry's hash, an amount
        def edited(f):
            d = json.loads(json.dumps(sale))
            f(d)
            return lambda: V.verify_item(d, self.ring)

        def flip_b64(s, bit=0):
            raw = V.b64d(s, 32 if len(s) == 43 else 64, "x")
            return V.b64e(flip_bit(raw, bit))
        edits = [
            lambda d: d["inclusion_proof"]["hashes"].__setitem__(0, flip_b64(d["inclusion_proof"]["hashes"][0])),
            lambda d: d["inclusion_proof"]["hashes"].reverse() if len(d["inclusion_proof"]["hashes"]) > 1
            else d["inclusion_proof"]["hashes"].append(d["head"]["root_hash"]),
            lambda d: d.update(log_index=d["log_index"] - 1) or d["inclusion_proof"].update(log_index=d["log_index"]),
            lambda d: d["inclusion_proof"].update(tree_size=d["inclusion_proof"]["tree_size"] + 1) or
            d["head"].update(tree_size=d["head"]["tree_size"] + 1),
            lambda d: d["entry"].update(receipt_hash=flip_b64(d["entry"]["receipt_hash"], 255)),
            lambda d: d["receipt"]["body"].update(amount=d["receipt"]["body"]["amount"] + 1),
            lambda d: d["receipt"]["body"].update(share_index=d["receipt"]["body"]["share_index"] + 1),
            lambda d: d["receipt"].update(signature=flip_b64(d["receipt"]["signature"], 100)),
            lambda d: d["head"].update(root_hash=flip_b64(d["head"]["root_hash"], 9)),
            lambda d: d["head"].update(timestamp=d["head"]["timestamp"].replace("Z", "0Z")),
            lambda d: d["head"].update(signature=d["receipt"]["signature"]),
        ]
        for i, e in enumerate(edits):
            with self.assertRaises(V.VerifyError, msg=f"edit {i}"):
                edited(e)()

    def test_metrics(self):
        text = self.h2.get("/metrics").text
        self.assertIn("leadx_log_tree_size ", text)
        size = int(next(x for x in text.splitlines() if x.startswith("leadx_log_tree_size ")).split()[1])
        self.assertGreaterEqual(size, len(self.ids))
        self.assertIn("leadx_log_sequencer_connected 1", text)


# ---- receipts signed in Python, many of them ---------------------------------------------------------------------


class PythonSignedReceipts(ServerTestCase):
    """2,500 receipts signed here (not by the server) and queued straight into the database as a server before
    migration 0011 queued them, without their log entries, so the sequencer derives each from its receipt: its
    entries agree with Python's byte for byte; entries come 1,000 per call; an export spans three pages under one
    head; a client leaving mid-export harms nothing."""

    N = 2500

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.h2.post("/v1/accounts", json={"role": "advertiser", "name": "many", "currency": "RUB"},
                        headers=bearer(cls.op))
        assert r.status_code == 201, r.text
        cls.acct, cls.token = r.json()["account"], r.json()["key"]["token"]
        cls.receipts = sorted(sign_receipts(cls.server.key_dir, cls.acct["id"], cls.N), key=lambda r: r["body"]["id"])
        queue_receipts(cls.db_url, cls.receipts)
        wait_for(lambda: psql(cls.db_url, "SELECT count(*) FROM receipt_queue") == "0" and
                 cls.h2.get("/v1/log/head").json()["tree_size"] >= cls.N, 60, interval=0.05, what="sequencing")
        cls.ring = keyring(cls.h2, cls.server)

    def test_entries_match_python(self):
        head = self.h2.get("/v1/log/head").json()
        size, root = V.verify_head(head, self.ring)
        entries = all_entries(self.h2, self.token, size)
        self.assertEqual(len(entries), self.N)
        self.assertEqual(V.mth(leaves_of(entries)), root)
        mine = {V.receipt_hash(r): V.entry_of(r) for r in self.receipts}
        self.assertEqual(len(mine), self.N)
        for e in entries:
            self.assertEqual(V.jcs(e), V.jcs(mine[e["receipt_hash"]]))
        # The rows as the sequencer stored them: every receipt once, indexes 0..N-1 in receipt-id order.
        rows = psql(self.db_url, "SELECT count(*), count(DISTINCT receipt_id), min(log_index), max(log_index) "
                                 "FROM log_entries")
        self.assertEqual(rows, f"{self.N}|{self.N}|0|{self.N - 1}")
        first = self.h2.get("/v1/log/entries", headers=bearer(self.token)).json()
        self.assertEqual((len(first["items"]), first["next_start"]), (1000, 1000))
        last = self.h2.get("/v1/log/entries", params={"start": 2000}, headers=bearer(self.token)).json()
        self.assertEqual((len(last["items"]), last["next_start"]), (self.N - 2000, None))

    def test_export_of_many_pages(self):
        for client in (self.h2, self.h1):
            r = client.get("/v1/receipts/export", headers=bearer(self.token), timeout=60)
            self.assertEqual(r.status_code, 200)
            lines = [V.loads(x) for x in r.text.split("\n")[:-1]]
            self.assertEqual(len(lines), self.N)
            head = lines[0]["head"]
            self.assertIsNotNone(head)
            leaves = None
            for i, line in enumerate(lines):
                self.assertEqual(line["receipt"], self.receipts[i])  # byte-identical receipts, id order
                V.verify_item(line, self.ring, expect_head=head)
                if i % 250 == 0:
                    if leaves is None:
                        leaves = leaves_of(all_entries(self.h2, self.token, head["tree_size"], check_raw=False))
                    self.assertEqual([V.b64d(h, 32, "h") for h in line["inclusion_proof"]["hashes"]],
                                     V.ref_path(line["log_index"], leaves[:head["tree_size"]]))

    def test_client_leaving_mid_export(self):
        for http2 in (True, False):
            with httpx.Client(base_url=self.server.base_url, http2=http2, http1=not http2, timeout=30) as c:
                with c.stream("GET", "/v1/receipts/export", headers=bearer(self.token)) as r:
                    self.assertEqual(r.status_code, 200)
                    for _ in r.iter_lines():
                        break  # one line, then hang up
        self.assertEqual(self.h2.get("/healthz").status_code, 200)
        self.assertEqual(len(self.h2.get("/v1/receipts/export", headers=bearer(self.token)).text.split("\n")),
                         self.N + 1)


class StopMidRound(unittest.TestCase):
    """SIGTERM while the sequencer appends a large round: the server still exits at once and cleanly (the round is
    cancelled and rolls back), and the next server appends everything exactly once."""

    def test_sigterm_mid_round(self):
        db = new_database()
        keys = tempfile.mkdtemp(prefix="stop-mid-round-keys-")  # outlives the first server's own directory
        self.addCleanup(shutil.rmtree, keys, True)
        first = Server(db, key_dir=keys, name="stop-mid-round")
        self.addCleanup(first.kill)
        first.start()
        op = create_operator(first)
        with first.client() as c:
            r = c.post("/v1/accounts", json={"role": "advertiser", "name": "x", "currency": "RUB"}, headers=bearer(op))
            self.assertEqual(r.status_code, 201, r.text)
            acct = r.json()["account"]
        n = 20000
        with PgLock(db, "log_state", sql="SELECT 1 FROM log_state FOR UPDATE"):
            queue_receipts(db, sign_receipts(first.key_dir, acct["id"], n))
        # The lock is gone: the sequencer takes the whole queue in one round (about a second); stop it inside.
        wait_for(lambda: int(psql(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                      "'leadx-sequencer' AND state = 'active'")) > 0 or
                 psql(db, "SELECT count(*) FROM receipt_queue") == "0", 10, interval=0.005, what="a round")
        t0 = time.monotonic()
        first.stop(timeout=10)
        took = time.monotonic() - t0
        print(f"stopped {took * 1000:.0f} ms after SIGTERM; {psql(db, 'SELECT tree_size FROM log_state')} entries "
              "were appended before", flush=True)
        second = Server(db, key_dir=keys, name="after-stop")
        self.addCleanup(second.kill)
        second.start()
        self.addCleanup(second.stop)
        with second.client() as c:
            wait_for(lambda: c.get("/v1/log/head").json()["tree_size"] == n, 60, interval=0.05, what="the rest")
            ring = keyring(c, second)
            heads = all_heads(c)
            leaves = leaves_of(all_entries(c, op, n, check_raw=False))
            for h in heads:
                size, root = V.verify_head(h, ring)
                self.assertEqual(V.mth(leaves[:size]), root)
        self.assertEqual(psql(db, "SELECT count(*), count(DISTINCT receipt_id), min(log_index), max(log_index) "
                                  "FROM log_entries"), f"{n}|{n}|0|{n - 1}")


# ---- two processes, two sequencers --------------------------------------------------------------------------------


class TwoSequencers(TwoServerTestCase):
    """Two `leadx serve` processes on one database, each with its sequencer: receipts issued through both (and a
    bulk queued directly) are each logged exactly once, at contiguous indexes, and the heads of both form one
    append-only history."""

    server_env = {"LEADX_SEQUENCER_INTERVAL_MS": "20"}

    def test_every_receipt_once_and_heads_consistent(self):
        r = self.ca.post("/v1/accounts", json={"role": "advertiser", "name": "two", "currency": "RUB"},
                         headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        acct = r.json()["account"]
        stop = threading.Event()
        heads_seen = []

        def watch():
            """Reads heads from both servers all along: each must be consistent with every earlier one."""
            while not stop.is_set():
                for c in (self.a, self.b):
                    try:
                        with httpx.Client(base_url=c.base_url, timeout=10) as h:
                            heads_seen.append(h.get("/v1/log/head").json())
                    except httpx.HTTPError:
                        pass
                time.sleep(0.01)

        def deposits(server, n):
            with server.client(http2=True, timeout=30) as c:
                for i in range(n):
                    r = c.post(f"/v1/accounts/{acct['id']}/deposits",
                               json={"amount": 100 + i, "currency": "RUB", "reference": f"{server.name} {i}"},
                               headers=bearer(self.op))
                    assert r.status_code == 201, r.text

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                futs = [pool.submit(deposits, s, 60) for s in (self.a, self.b, self.a, self.b)]
                queue_receipts(self.db_url, sign_receipts(self.a.key_dir, acct["id"], 3000))
                for f in futs:
                    f.result()
            total = int(psql(self.db_url, "SELECT count(*) FROM receipts"))
            self.assertEqual(total, 240 + 3000)
            wait_for(lambda: self.ca.get("/v1/log/head").json()["tree_size"] == total, 60, interval=0.05,
                     what="every receipt sequenced")
        finally:
            stop.set()
            watcher.join()
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM receipt_queue"), "0")
        self.assertEqual(psql(self.db_url, "SELECT count(*), count(DISTINCT receipt_id), min(log_index), "
                                           "max(log_index) FROM log_entries"), f"{total}|{total}|0|{total - 1}")
        self.assertEqual(psql(self.db_url, "SELECT count(*) FROM receipts r LEFT JOIN log_entries e "
                                           "ON e.receipt_id = r.id WHERE e.receipt_id IS NULL"), "0")
        ring = keyring(self.ca, self.a)
        heads = all_heads(self.cb)
        self.assertEqual(heads, all_heads(self.ca))
        leaves = leaves_of(all_entries(self.cb, self.op, total, check_raw=False))
        by_size = {}
        for h in heads:
            n, root = V.verify_head(h, ring)
            self.assertEqual(V.mth(leaves[:n]), root, f"head {n}")
            by_size[n] = root
        for h in heads_seen:
            n, root = V.verify_head(h, ring)
            self.assertEqual(by_size.get(n), root, f"a head of size {n} seen during the run is not the published one")
        sizes = sorted(by_size)
        self.assertGreater(len(sizes), 2)
        for m, n in zip(sizes, sizes[1:]):
            if m == 0:
                continue
            c = self.ca if n % 2 else self.cb
            proof = [V.b64d(x, 32, "h") for x in c.get("/v1/log/consistency", params={"from": m, "to": n}).json()["hashes"]]
            self.assertTrue(V.verify_consistency(m, n, by_size[m], by_size[n], proof), (m, n))
        # Both processes' sequencers ran (each answers /metrics for its own), and together appended every receipt.
        appended = 0
        for c in (self.ca, self.cb):
            text = c.get("/metrics").text
            appended += int(next(x for x in text.splitlines()
                                 if x.startswith("leadx_log_entries_appended_total ")).split()[1])
        self.assertEqual(appended, total)


if __name__ == "__main__":
    main()
