"""Receipt keys and `leadx verify` end to end (issue 5 items 3 and 9).

KeyFiles (no server): `leadx keygen` writes the public registry receipt-keys.json beside the key files (and for an
older key directory without one, from the key file's modification time); `leadx keygen --rotate` adds a new key,
retires the old one and wipes its secret, never touching data.key, dedupe.key or apikey-hash.key; a rotation cut
short by a crash (before or after its commit point) is undone or finished by the next keygen, and a server refuses
to start in between.

VerifyExport (a real server): accounts, deposits, real-time sales (exclusive and shared) and inventory purchases;
once the log has sequenced every receipt, the buyer's and the webmaster's exports, the heads, the log entries and
GET /v1/receipts/keys go to files and `leadx verify` must accept them with the right counts and statement totals
(equal to the balances the API reports); then one flipped bit anywhere in a receipt line, an entry line, a proof
hash or a head line (a sample of positions and bits) must fail naming the file and line; a non-canonical base64
signature, a key missing from keys.json and a receipt outside its key's validity must fail too.

Rotation (a real server): `leadx keygen --rotate` with the server's key directory while deposits keep coming; the
running server publishes the new key and signs with it within seconds, and every receipt and head verifies, those
the old key signed after the rotation (in its 10 s grace) included; a directory whose data.key is another
deployment's is refused until it is right again. After a restart, new receipts carry the new key_id,
GET /v1/receipts/keys lists both keys (the old with not_after = the rotation time + the grace), old and new receipts
verify together, the other key files are byte-identical, and a server started with a copy of the key directory from
before the rotation refuses to start.
"""
import datetime
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path

from harness import (LEADX_BIN, SANITIZER_MARKERS, Server, bearer, create_operator, free_port, main, new_database, run_cli,
                     sanitizer_env, wait_for)
from leads_common import lead, niche_body

OTHER_KEY_FILES = ("data.key", "dedupe.key", "apikey-hash.key")
GRACE_S = 10  # keys.h LX_KEYS_ROTATION_GRACE_S: a retired key stays valid for signing this long after the rotation


def ts_us(ts):
    """An RFC 3339 UTC time as leadx writes it (YYYY-MM-DDTHH:MM:SS.ffffffZ) in microseconds since the epoch."""
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond
FAIL_RE = re.compile(r"^leadx verify: FAILED: (?P<file>[^:]+):(?P<line>\d+): (?P<what>.*)$")


def file_hashes(key_dir):
    return {name: hashlib.sha256((Path(key_dir) / name).read_bytes()).hexdigest() for name in OTHER_KEY_FILES}


def keygen(key_dir, *args, check=True):
    return run_cli(["keygen", *args], env={"LEADX_KEY_DIR": str(key_dir)}, check=check)


def registry(key_dir):
    return json.loads((Path(key_dir) / "receipt-keys.json").read_text())


def verify(files, check=None, **extra):
    """Runs leadx verify on a dict of files (keys, receipts, heads, log); returns the CompletedProcess."""
    args = ["verify"]
    for flag in ("keys", "receipts", "heads", "log"):
        if flag in files:
            args += [f"--{flag}", str(files[flag])]
    p = subprocess.run([str(LEADX_BIN), *args], env={**os.environ, **sanitizer_env()}, capture_output=True, text=True,
                       timeout=300)
    for marker in SANITIZER_MARKERS:
        assert marker not in p.stderr, f"sanitizer report:\n{p.stderr}"
    if check is not None:
        assert p.returncode == check, f"leadx verify exited {p.returncode}, expected {check}:\n{p.stdout}\n{p.stderr}"
    return p


class KeyFiles(unittest.TestCase):
    """keygen, the registry and rotation on a key directory alone."""

    def setUp(self):
        if not LEADX_BIN.exists():
            raise unittest.SkipTest(f"{LEADX_BIN} does not exist")
        self.dir = Path(tempfile.mkdtemp(prefix="lx-keys-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.kd = self.dir / "keys"

    def test_keygen_writes_the_registry(self):
        before = time.time()
        p = keygen(self.kd)
        self.assertIn("receipt-keys.json", p.stdout)
        reg = registry(self.kd)
        self.assertEqual(len(reg["keys"]), 1)
        k = reg["keys"][0]
        self.assertEqual(set(k), {"key_id", "public_key", "not_before", "not_after"})
        self.assertRegex(k["key_id"], r"^[0-9a-f]{16}$")
        self.assertIsNone(k["not_after"])
        self.assertRegex(k["not_before"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(os.stat(self.kd / "receipt-signing.key").st_mode & 0o777, 0o600)
        # a second keygen changes nothing
        snapshot = {f.name: f.read_bytes() for f in self.kd.iterdir()}
        p = keygen(self.kd)
        self.assertEqual(p.stdout, "")
        self.assertEqual(snapshot, {f.name: f.read_bytes() for f in self.kd.iterdir()})
        self.assertLess(abs(time.time() - before), 60)

    def test_older_key_directory_gets_a_registry_from_the_key_file_time(self):
        keygen(self.kd)
        (self.kd / "receipt-keys.json").unlink()
        os.utime(self.kd / "receipt-signing.key", (1780000000.25, 1780000000.25))
        keygen(self.kd)
        k = registry(self.kd)["keys"][0]
        self.assertEqual(k["not_before"], "2026-05-28T20:26:40.250000Z")
        self.assertIsNone(k["not_after"])

    def test_rotate(self):
        keygen(self.kd)
        old = registry(self.kd)["keys"][0]
        others = file_hashes(self.kd)
        old_secret = (self.kd / "receipt-signing.key").read_bytes()
        p = keygen(self.kd, "--rotate")
        self.assertIn("retired " + old["key_id"], p.stdout)
        reg = registry(self.kd)["keys"]
        self.assertEqual(len(reg), 2)
        self.assertEqual(reg[0]["key_id"], old["key_id"])
        self.assertEqual(reg[0]["public_key"], old["public_key"])
        self.assertEqual(reg[0]["not_before"], old["not_before"])
        self.assertIsNotNone(reg[0]["not_after"])
        self.assertEqual(ts_us(reg[0]["not_after"]) - ts_us(reg[1]["not_before"]), GRACE_S * 1_000_000)
        self.assertIsNone(reg[1]["not_after"])
        self.assertNotEqual(reg[1]["key_id"], old["key_id"])
        self.assertIn(reg[1]["key_id"], p.stdout)
        self.assertEqual(file_hashes(self.kd), others, "rotation touched another key file")
        self.assertNotEqual((self.kd / "receipt-signing.key").read_bytes(), old_secret)
        self.assertEqual(os.stat(self.kd / "receipt-signing.key").st_mode & 0o777, 0o600)
        self.assertEqual(sorted(f.name for f in self.kd.iterdir()),
                         ["apikey-hash.key", "data.key", "dedupe.key", "receipt-keys.json", "receipt-signing.key"])
        # and again: three keys, two retired
        keygen(self.kd, "--rotate")
        reg = registry(self.kd)["keys"]
        self.assertEqual([k["not_after"] is None for k in reg], [False, False, True])
        self.assertEqual(file_hashes(self.kd), others)

    def test_rotate_needs_a_key(self):
        p = keygen(self.kd, "--rotate", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("key directory", p.stderr)
        self.kd.mkdir(mode=0o700)
        p = keygen(self.kd, "--rotate", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("receipt-signing.key", p.stderr)
        self.assertEqual(list(self.kd.iterdir()), [])

    def test_interrupted_rotation_is_finished_or_undone(self):
        keygen(self.kd)
        before = self.dir / "before"
        shutil.copytree(self.kd, before)
        keygen(self.kd, "--rotate")
        new_secret = (self.kd / "receipt-signing.key").read_bytes()
        new_registry = (self.kd / "receipt-keys.json").read_bytes()
        # A crash after the registry's rename (the commit point), before the key's: the old key file, the new
        # registry, the new key waiting as .next.
        crashed = self.dir / "crashed"
        shutil.copytree(before, crashed)
        (crashed / "receipt-keys.json").write_bytes(new_registry)
        (crashed / "receipt-signing.key.next").write_bytes(new_secret)
        os.chmod(crashed / "receipt-signing.key.next", 0o600)
        p = run_cli(["serve", "--database-url", "postgresql:///nonexistent"], env={"LEADX_KEY_DIR": str(crashed)},
                    check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("rotation was interrupted", p.stderr)
        keygen(crashed)
        self.assertEqual((crashed / "receipt-signing.key").read_bytes(), new_secret)
        self.assertFalse((crashed / "receipt-signing.key.next").exists())
        self.assertEqual((crashed / "receipt-keys.json").read_bytes(), new_registry)
        # A crash before the commit point: the old key and registry, a stray .next: removed, nothing else changes.
        early = self.dir / "early"
        shutil.copytree(before, early)
        (early / "receipt-signing.key.next").write_bytes(new_secret)
        keygen(early)
        self.assertFalse((early / "receipt-signing.key.next").exists())
        self.assertEqual((early / "receipt-signing.key").read_bytes(), (before / "receipt-signing.key").read_bytes())
        self.assertEqual(registry(early), registry(before))

    def test_mismatched_registry_is_refused(self):
        keygen(self.kd)
        other = self.dir / "other"
        keygen(other)
        shutil.copy(other / "receipt-keys.json", self.kd / "receipt-keys.json")
        p = run_cli(["serve", "--database-url", "postgresql:///nonexistent"], env={"LEADX_KEY_DIR": str(self.kd)},
                    check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("does not list", p.stderr)
        # a registry without its key: keygen refuses to make a key the registry would not know
        (self.kd / "receipt-signing.key").unlink()
        p = keygen(self.kd, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("restore the signing key", p.stderr)

    def test_verify_usage(self):
        p = run_cli(["verify", "--help"])
        self.assertIn("--keys", p.stdout)
        self.assertIn("--receipts", p.stdout)
        self.assertIn("verify", run_cli(["--help"]).stdout)
        self.assertIn("--rotate", run_cli(["keygen", "--help"]).stdout)
        for args in ([], ["--keys", "x"], ["--receipts", "x"], ["--keys", "a", "--receipts", "b", "--bogus"],
                     ["--keys", "/nonexistent", "--receipts", "/nonexistent"]):
            p = run_cli(["verify", *args], check=False)
            self.assertEqual(p.returncode, 2, (args, p.stderr))

    def test_version_names_the_allocator(self):
        lines = run_cli(["--version"]).stdout.splitlines()
        self.assertRegex(lines[0], r"^leadx \d+\.\d+\.\d+$")
        # the release build links jemalloc (CMakeLists.txt); the sanitizer build keeps the sanitizer's allocator
        linked = subprocess.run(["ldd", str(LEADX_BIN)], capture_output=True, text=True).stdout
        want = "allocator: jemalloc " if "libjemalloc" in linked else "allocator: the C library's malloc"
        self.assertTrue(lines[1].startswith(want), (lines, linked))


# ---------------------------------------------------------------------------------------------------------------
# With a server


class Deployment:
    """A database, a key directory of its own (so it survives restarts) and one server at a time."""

    def __init__(self, case, name):
        self.case = case
        self.db_url = new_database()
        self.dir = Path(tempfile.mkdtemp(prefix="lx-verify-"))
        case.addClassCleanup(shutil.rmtree, self.dir, True)
        self.key_dir = self.dir / "keys"
        self.name = name
        self.server = None
        self.start()
        self.op = create_operator(self.server)

    def start(self):
        self.server = Server(self.db_url, key_dir=self.key_dir, name=self.name)
        self.case.addClassCleanup(self.server.kill)
        self.server.start()
        self.h2 = self.server.client(http2=True, timeout=60)

    def stop(self):
        self.server.stop()

    def sql(self, q):
        from harness import psql
        return psql(self.db_url, q)

    # -- money ------------------------------------------------------------------------------------------------

    def account(self, role, deposit=0, currency="RUB"):
        r = self.h2.post("/v1/accounts", json={"role": role, "name": f"{role} {secrets.token_hex(3)}",
                                               "currency": currency}, headers=bearer(self.op))
        assert r.status_code == 201, r.text
        acct, token = r.json()["account"], r.json()["key"]["token"]
        if deposit:
            self.deposit(acct["id"], deposit, currency)
        return acct, token

    def deposit(self, account_id, amount, currency="RUB"):
        r = self.h2.post(f"/v1/accounts/{account_id}/deposits", headers=bearer(self.op),
                         json={"amount": amount, "currency": currency, "reference": "wire " + secrets.token_hex(3)})
        assert r.status_code == 201, r.text

    def balance(self, account_id):
        r = self.h2.get(f"/v1/accounts/{account_id}/balance", headers=bearer(self.op))
        assert r.status_code == 200, r.text
        return r.json()

    # -- the log and the exports --------------------------------------------------------------------------------

    def wait_sequenced(self, timeout=30):
        """Until the log holds every receipt the database has and GET /v1/log/head covers them."""
        def done():
            n = int(self.sql("SELECT count(*) FROM receipts"))
            r = self.h2.get("/v1/log/head")
            return r.status_code == 200 and r.json()["tree_size"] >= n and n
        return wait_for(done, timeout, interval=0.1, what="the log to sequence every receipt")

    def pages(self, path, token=None, params=None):
        items, cursor = [], None
        for _ in range(10000):
            q = dict(params or {}, **({"cursor": cursor} if cursor else {}))
            r = self.h2.get(path, params=q, headers=bearer(token) if token else {})
            assert r.status_code == 200, (path, r.text)
            doc = r.json()
            items += doc["items"]
            cursor = doc.get("next_cursor")
            if not cursor:
                return items
        raise AssertionError(f"{path}: pagination does not end")

    def export(self, out_dir, token):
        """keys.json, export.jsonl (the token's receipts), heads.jsonl and entries.jsonl into out_dir."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        r = self.h2.get("/v1/receipts/keys")
        assert r.status_code == 200, r.text
        (out / "keys.json").write_bytes(r.content)
        r = self.h2.get("/v1/receipts/export", headers=bearer(token))
        assert r.status_code == 200, r.text
        (out / "export.jsonl").write_bytes(r.content)
        heads = self.pages("/v1/log/heads")
        (out / "heads.jsonl").write_text("".join(json.dumps(h, separators=(",", ":")) + "\n" for h in heads))
        size = self.h2.get("/v1/log/head").json()["tree_size"]
        entries, start = [], 0
        while start is not None and start < size:
            r = self.h2.get("/v1/log/entries", params={"start": start, "end": size}, headers=bearer(token))
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["items"], f"no entries from {start}"
            entries += doc["items"]
            start = doc["next_start"]
        (out / "entries.jsonl").write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))
        return {"keys": out / "keys.json", "receipts": out / "export.jsonl", "heads": out / "heads.jsonl",
                "log": out / "entries.jsonl"}


def statement(stdout, account_id, currency="RUB"):
    """{kind: (total, count)} and the net of one account's statement line in leadx verify's summary."""
    for line in stdout.splitlines():
        if line.strip().startswith(f"{account_id} {currency}:"):
            kinds = {k: (int(t), int(c)) for k, t, c in re.findall(r" (\w+) ([+-]\d+) \((\d+)\)", line)}
            net = int(re.search(r"net ([+-]\d+)", line).group(1))
            return kinds, net
    raise AssertionError(f"no statement of {account_id} in:\n{stdout}")


class VerifyExport(unittest.TestCase):
    """Real sales through the real server, exported and verified offline; tampering always detected."""

    @classmethod
    def setUpClass(cls):
        if not LEADX_BIN.exists():
            raise unittest.SkipTest(f"{LEADX_BIN} does not exist")
        d = cls.d = Deployment(cls, "verify")
        h2, op = d.h2, d.op
        r = h2.post("/v1/niches", json=niche_body(max_shares=2), headers=bearer(op))
        assert r.status_code == 201, r.text
        cls.slug = slug = r.json()["slug"]
        cls.wm, cls.wm_token = d.account("webmaster")
        cls.x, cls.x_token = d.account("advertiser", deposit=1_000_000)  # exclusive bids
        cls.y, cls.y_token = d.account("advertiser", deposit=500_000)    # shared bids
        cls.z, cls.z_token = d.account("advertiser", deposit=500_000)    # shared bids
        cls.w, cls.w_token = d.account("advertiser", deposit=300_000)    # buys from the inventory
        for token, body in ((cls.x_token, {"price_exclusive": 60000}), (cls.y_token, {"price_shared": 25000}),
                            (cls.z_token, {"price_shared": 26000})):
            r = h2.post("/v1/campaigns", json={"niche": slug, "regions": ["RU-MOW"], **body}, headers=bearer(token))
            assert r.status_code == 201, r.text
        statuses = []
        for mode in ("exclusive",) * 3 + ("shared",) * 3:
            r = h2.post("/v1/leads", json=lead(niche=slug, region="RU-MOW", sale_mode=mode),
                        headers=bearer(cls.wm_token))
            assert r.status_code == 201, r.text
            statuses.append(r.json()["status"])
        assert statuses == ["sold"] * 6, statuses
        # two leads nobody bids on (another region), bought from the inventory: exclusive and a shared slot
        for mode in ("exclusive", "shared"):
            r = h2.post("/v1/leads", json=lead(niche=slug, region="RU-SPE"), headers=bearer(cls.wm_token))
            assert r.status_code == 201 and r.json()["status"] == "unsold", r.text
            r = h2.post(f"/v1/market/leads/{r.json()['id']}/purchase", json={"mode": mode}, headers=bearer(cls.w_token))
            assert r.status_code == 201, r.text
        cls.nreceipts = d.wait_sequenced()
        cls.tmp = Path(tempfile.mkdtemp(prefix="lx-verify-files-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.files = d.export(cls.tmp / "op", op)

    def test_export_verifies_with_counts_and_totals(self):
        self.assertEqual(self.nreceipts, 4 + 3 * 2 + 3 * 2 * 2 + 2 * 2)
        p = verify(self.files, check=0)
        out = p.stdout
        self.assertIn(f"receipts: {self.nreceipts} verified (deposit 4, sale 22); {self.nreceipts} proven in the log, "
                      "0 not yet in the log", out)
        self.assertIn("OK: everything verified", out)
        self.assertRegex(out, r"log: \d+ entries \(deposit 4, sale 22\)")
        for acct in (self.x, self.y, self.z, self.w):
            kinds, net = statement(out, acct["id"])
            self.assertEqual(net, self.d.balance(acct["id"])["balance"], acct)
            self.assertEqual(kinds["deposit"][1], 1)
        kinds, net = statement(out, self.x["id"])
        self.assertEqual(kinds["sale"], (-180000, 3))
        kinds, net = statement(out, self.wm["id"])
        b = self.d.balance(self.wm["id"])
        self.assertEqual(net, b["pending"] + b["available"])
        self.assertEqual(kinds["sale"][1], 3 + 6 + 2)
        # the buyer's own export: its receipts only, its leads' sales counted from the log
        files = self.d.export(self.tmp / "x", self.x_token)
        out = verify(files, check=0).stdout
        self.assertIn("receipts: 4 verified (deposit 1, sale 3)", out)
        self.assertIn("statement (amounts in minor units, as the ledger moved them): 1 account", out)
        self.assertIn("sales in the log of the 3 leads these receipts name", out)
        self.assertEqual(len(re.findall(r": exclusive 1, shared 0$", out, re.M)), 3, out)
        # without heads and log, and bare receipts
        verify({"keys": files["keys"], "receipts": files["receipts"]}, check=0)

    def test_a_flipped_bit_is_always_detected(self):
        rng = random.Random(5)
        lines = self.files["receipts"].read_text().splitlines(keepends=True)
        heads = self.files["heads"].read_text().splitlines(keepends=True)
        entries = self.files["log"].read_text().splitlines(keepends=True)
        work = self.tmp / "flip"
        work.mkdir(exist_ok=True)
        cases = []  # (which file, line index, byte offset in that line)
        for _ in range(70):  # in a receipt object
            i = rng.randrange(len(lines))
            a = lines[i].index('"receipt":') + 10
            cases.append(("receipts", i, rng.randrange(a, lines[i].index(',"entry":'))))
        for _ in range(30):  # in an entry of the export
            i = rng.randrange(len(lines))
            a = lines[i].index('"entry":') + 8
            cases.append(("receipts", i, rng.randrange(a, lines[i].index(',"log_index":'))))
        for _ in range(40):  # in a proof hash
            i = rng.randrange(len(lines))
            spans = [m.span(1) for m in re.finditer(r'"([A-Za-z0-9_-]{43})"', lines[i][lines[i].index('"hashes":'):])]
            if not spans:
                continue
            off = lines[i].index('"hashes":')
            a, b = rng.choice(spans)
            cases.append(("receipts", i, off + rng.randrange(a, b)))
        for _ in range(30):  # in a head of heads.jsonl
            i = rng.randrange(len(heads))
            cases.append(("heads", i, rng.randrange(len(heads[i]) - 1)))
        for _ in range(30):  # in a log entry
            i = rng.randrange(len(entries))
            cases.append(("log", i, rng.randrange(len(entries[i]) - 1)))
        self.assertGreaterEqual(len(cases), 190)
        names = {"receipts": "export.jsonl", "heads": "heads.jsonl", "log": "entries.jsonl"}
        for which, i, off in cases:
            src = {"receipts": lines, "heads": heads, "log": entries}[which]
            bit = 1 << rng.randrange(8)
            raw = bytearray(src[i].encode())
            raw[off] ^= bit
            doc = b"".join(x.encode() for x in src[:i]) + bytes(raw) + b"".join(x.encode() for x in src[i + 1:])
            files = dict(self.files)
            files[which] = work / names[which]
            files[which].write_bytes(doc)
            p = verify(files)
            with self.subTest(file=which, line=i + 1, byte=off, bit=bit):
                self.assertEqual(p.returncode, 1, f"undetected: {bytes(raw)!r}\n{p.stdout}\n{p.stderr}")
                m = FAIL_RE.match(p.stderr.strip().splitlines()[-1])
                self.assertIsNotNone(m, p.stderr)
                if which != "log":  # a log entry is caught where a head's root or a receipt disagrees with it
                    self.assertEqual((Path(m["file"]).name, int(m["line"])), (names[which], i + 1), p.stderr)

    def test_named_failures(self):
        lines = self.files["receipts"].read_text().splitlines()
        keys = json.loads(self.files["keys"].read_text())
        work = self.tmp / "named"
        work.mkdir(exist_ok=True)

        def run(export_lines=None, keys_doc=None, expect=None, only_receipts=False):
            files = dict(self.files)
            if only_receipts:  # the heads and the log are read first: leave them out to see the receipts fail
                del files["heads"], files["log"]
            if export_lines is not None:
                files["receipts"] = work / "export.jsonl"
                files["receipts"].write_text("\n".join(export_lines) + "\n")
            if keys_doc is not None:
                files["keys"] = work / "keys.json"
                files["keys"].write_text(json.dumps(keys_doc))
            p = verify(files, check=1)
            if expect:
                self.assertRegex(p.stderr, expect)
            return p

        # a non-canonical base64url signature: the last character's 4 unused bits set
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        doc = json.loads(lines[3])
        sig = doc["receipt"]["signature"]
        doc["receipt"]["signature"] = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]
        self.assertNotEqual(doc["receipt"]["signature"], sig)
        run(lines[:3] + [json.dumps(doc, separators=(",", ":"))] + lines[4:],
            expect=r"export\.jsonl:4: /receipt/signature")
        # a key that keys.json does not have
        run(keys_doc={"keys": []}, expect=r"keys\.json")
        other = dict(keys["keys"][0], key_id="0123456789abcdef")
        run(keys_doc={"keys": [other]}, expect=r"keys\.json|export\.jsonl:1: /receipt/key_id")
        # every receipt issued after its key's not_after
        early = dict(keys["keys"][0], not_after=keys["keys"][0]["not_before"])
        run(keys_doc={"keys": [early] + keys["keys"][1:]}, expect=r"heads\.jsonl:1: /key_id: the key was not valid")
        run(keys_doc={"keys": [early] + keys["keys"][1:]}, only_receipts=True,
            expect=r"export\.jsonl:1: /receipt/key_id: the key was not valid for signing at that time")
        # the entry of another receipt
        a, b = json.loads(lines[1]), json.loads(lines[2])
        a["entry"] = b["entry"]
        run(lines[:1] + [json.dumps(a)] + lines[2:], expect=r"export\.jsonl:2: /entry")
        # the same receipt twice
        run(lines + lines[:1], expect=rf"export\.jsonl:{len(lines) + 1}: .*also on line 1")


class Rotation(unittest.TestCase):
    """keygen --rotate with a running deployment: picked up while serving, and after a restart."""

    @classmethod
    def setUpClass(cls):
        if not LEADX_BIN.exists():
            raise unittest.SkipTest(f"{LEADX_BIN} does not exist")
        cls.d = Deployment(cls, "rotation")
        cls.tmp = Path(tempfile.mkdtemp(prefix="lx-rotation-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def test_rotate_and_restart(self):
        d = self.d
        adv, _ = d.account("advertiser", deposit=100_000)
        d.wait_sequenced()
        old = d.h2.get("/v1/receipts/keys").json()["keys"]
        self.assertEqual(len(old), 1)
        self.assertIsNone(old[0]["not_after"])
        self.assertEqual(old, registry(d.key_dir)["keys"])
        before = d.export(self.tmp / "before", d.op)
        verify(before, check=0)
        stale = self.tmp / "stale-keys"
        shutil.copytree(d.key_dir, stale)
        others = file_hashes(d.key_dir)

        keygen(d.key_dir, "--rotate")
        self.assertEqual(file_hashes(d.key_dir), others)
        reg = registry(d.key_dir)["keys"]
        d.stop()
        d.start()
        keys = d.h2.get("/v1/receipts/keys").json()["keys"]
        self.assertEqual(keys, reg)
        self.assertEqual(len(keys), 2)
        self.assertEqual(keys[0]["key_id"], old[0]["key_id"])
        self.assertEqual(ts_us(keys[0]["not_after"]) - ts_us(keys[1]["not_before"]), GRACE_S * 1_000_000)
        self.assertIsNone(keys[1]["not_after"])

        d.deposit(adv["id"], 5_000)
        d.wait_sequenced()
        after = d.export(self.tmp / "after", d.op)
        receipts = [json.loads(x)["receipt"] for x in after["receipts"].read_text().splitlines()]
        kids = {r["key_id"] for r in receipts}
        self.assertEqual(kids, {keys[0]["key_id"], keys[1]["key_id"]})
        newest = max(receipts, key=lambda r: r["body"]["issued_at"])
        self.assertEqual(newest["key_id"], keys[1]["key_id"])
        out = verify(after, check=0).stdout
        self.assertIn("keys: 2 (1 retired)", out)
        # the old keys.json does not know the new key
        p = verify(dict(after, keys=before["keys"]), check=1)
        self.assertIn("key_id", p.stderr)

        # a server with the key directory from before the rotation refuses to start
        env = {**os.environ, **sanitizer_env(), "LEADX_DATABASE_URL": d.db_url, "LEADX_KEY_DIR": str(stale)}
        p = subprocess.run([str(LEADX_BIN), "serve", "--listen", f"127.0.0.1:{free_port()}"], env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("retired", p.stderr)

    def test_foreign_key_directory_is_refused(self):
        """A reload whose never-rotating keys differ (another deployment's data.key) is refused: the server logs
        keys_reload_refused and keeps its key; once the directory is right again, the next round takes the rotation."""
        d = Deployment(self, "rotation-foreign")
        adv, _ = d.account("advertiser", deposit=1_000)
        old_id = registry(d.key_dir)["keys"][0]["key_id"]
        data_key = (d.key_dir / "data.key").read_bytes()
        (d.key_dir / "data.key").write_bytes(secrets.token_bytes(len(data_key)))
        keygen(d.key_dir, "--rotate")
        new_id = registry(d.key_dir)["keys"][-1]["key_id"]
        wait_for(lambda: "keys_reload_refused" in d.server.stderr_path.read_text(), 15, what="the refusal")
        self.assertIn("data.key", d.server.stderr_path.read_text())
        d.deposit(adv["id"], 5)
        self.assertEqual(d.sql("SELECT key_id FROM receipts ORDER BY issued_at DESC, id DESC LIMIT 1"), old_id)
        self.assertNotIn(new_id, [k["key_id"] for k in d.h2.get("/v1/receipts/keys").json()["keys"]])
        (d.key_dir / "data.key").write_bytes(data_key)
        wait_for(lambda: any(k["key_id"] == new_id for k in d.h2.get("/v1/receipts/keys").json()["keys"]), 15,
                 what="the rotation once the directory is right")
        d.deposit(adv["id"], 5)
        self.assertEqual(d.sql("SELECT key_id FROM receipts ORDER BY issued_at DESC, id DESC LIMIT 1"), new_id)

    def test_rotate_while_serving(self):
        """No restart: deposits keep coming while keygen --rotate runs; the server publishes the new key and signs
        receipts and tree heads with it within seconds, and every receipt and head, those the old key signed in its
        grace included, verifies offline; the audit report stays clean."""
        d = self.d
        adv, _ = d.account("advertiser", deposit=1_000)
        d.wait_sequenced()
        old_id = [k for k in d.h2.get("/v1/receipts/keys").json()["keys"] if k["not_after"] is None][0]["key_id"]
        stop, failures, made = threading.Event(), [], [0]

        def pump():
            client = d.server.client(http2=True, timeout=60)
            while not stop.is_set():
                r = client.post(f"/v1/accounts/{adv['id']}/deposits", headers=bearer(d.op),
                                json={"amount": 7, "currency": "RUB", "reference": "live " + secrets.token_hex(4)})
                if r.status_code != 201:
                    failures.append(r.text)
                made[0] += 1
            client.close()

        pumper = threading.Thread(target=pump)
        pumper.start()
        try:
            wait_for(lambda: made[0] >= 20, 30, what="deposits before the rotation")
            keygen(d.key_dir, "--rotate")
            new_id = registry(d.key_dir)["keys"][-1]["key_id"]
            self.assertNotEqual(new_id, old_id)
            wait_for(lambda: any(k["key_id"] == new_id for k in d.h2.get("/v1/receipts/keys").json()["keys"]), 15,
                     what="the running server to publish the new key")
            wait_for(lambda: d.sql("SELECT key_id FROM receipts ORDER BY issued_at DESC, id DESC LIMIT 1") == new_id,
                     15, what="receipts signed with the new key")
            n = made[0]
            wait_for(lambda: made[0] >= n + 20, 30, what="deposits after the switch")
        finally:
            stop.set()
            pumper.join()
        self.assertEqual(failures, [])
        self.assertEqual(d.h2.get("/v1/receipts/keys").json()["keys"], registry(d.key_dir)["keys"])
        d.wait_sequenced()
        wait_for(lambda: d.h2.get("/v1/log/head").json()["key_id"] == new_id, 15, what="a head signed with the new key")
        out = d.export(self.tmp / "live", d.op)
        receipts = [json.loads(x)["receipt"] for x in out["receipts"].read_text().splitlines()]
        self.assertIn(old_id, {r["key_id"] for r in receipts})
        self.assertIn(new_id, {r["key_id"] for r in receipts})
        # after the first receipt of the new key, the old one signs nothing issued later than its grace allows
        switch = min(ts_us(r["body"]["issued_at"]) for r in receipts if r["key_id"] == new_id)
        rotated_at = ts_us(registry(d.key_dir)["keys"][-1]["not_before"])
        self.assertGreaterEqual(switch, rotated_at)
        self.assertLess(switch - rotated_at, GRACE_S * 1_000_000)
        verify(out, check=0)
        r = d.h2.get("/v1/audit/report", headers=bearer(d.op))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.json()["ok"], json.dumps(r.json()["discrepancies"][:10], indent=1))


class LogEvidence(unittest.TestCase):
    """Sales are counted only from log entries a signed head covers, each receipt at most once in the log, and the
    log needs heads at all: unsigned entries past the newest head (two made-up refunds) or a refund pair logged twice
    once hid a lead sold exclusively twice. Files made here with a test key: the verifier trusts nothing else."""

    def setUp(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        import log_verifier as V
        self.V, self.sk = V, Ed25519PrivateKey.generate()
        pk = self.sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.kid = hashlib.blake2b(pk, digest_size=32).hexdigest()[:16]
        self.keys = {"keys": [{"key_id": self.kid, "public_key": V.b64e(pk), "not_before": "2026-01-01T00:00:00Z",
                               "not_after": None}]}
        self.ts, self.digest, self.lead_id = "2026-11-20T10:00:00.000000Z", V.b64e(os.urandom(32)), str(uuid.uuid4())
        self.n = 0

    def receipt(self, kind, account, amount):
        V = self.V
        self.n += 1
        body = {"v": 1, "id": f"00000000-0000-7000-8000-{self.n:012d}", "kind": kind, "issued_at": self.ts,
                "account": account, "ledger_txn": str(uuid.uuid4()), "amount": amount, "currency": "RUB",
                "lead_id": self.lead_id, "lead_digest": self.digest, "niche": "loans", "region": "RU-MOW",
                "mode": "exclusive", "share_index": 0, "sale_id": str(uuid.uuid4())}
        if kind == "refund":
            body["reverses"] = str(uuid.uuid4())
        return {"body": body, "key_id": self.kid, "signature": V.b64e(self.sk.sign(b"leadx-receipt-v1\n" + V.jcs_bytes(body)))}

    def verify(self, receipts, entries, signed, heads=True):
        """leadx verify of `receipts` proven under one head of the first `signed` entries, the log being `entries`."""
        V = self.V
        leaves = [V.leaf_hash(V.jcs_bytes(e)) for e in entries[:signed]]
        root = V.b64e(V.mth(leaves))
        head = {"tree_size": signed, "root_hash": root, "timestamp": self.ts, "key_id": self.kid}
        head["signature"] = V.b64e(self.sk.sign(b"leadx-tree-head-v1\n" + V.jcs_bytes(
            {"root_hash": root, "timestamp": self.ts, "tree_size": signed})))
        d = Path(tempfile.mkdtemp(prefix="lx-evidence-"))
        self.addCleanup(shutil.rmtree, d)
        lines = [{"receipt": r, "entry": entries[i], "log_index": i, "head": head,
                  "inclusion_proof": {"log_index": i, "tree_size": signed,
                                      "hashes": [V.b64e(x) for x in V.ref_path(i, leaves)]}}
                 for i, r in enumerate(receipts) if i < signed]
        (d / "keys.json").write_text(json.dumps(self.keys))
        (d / "export.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        (d / "heads.jsonl").write_text(json.dumps(head) + "\n")
        (d / "entries.jsonl").write_text("".join(json.dumps({"log_index": i, "entry": e}) + "\n"
                                                 for i, e in enumerate(entries)))
        args = ["verify", "--keys", str(d / "keys.json"), "--receipts", str(d / "export.jsonl"), "--log",
                str(d / "entries.jsonl")] + (["--heads", str(d / "heads.jsonl")] if heads else [])
        return run_cli(args, check=False)

    def sold_twice(self):
        a, b, wm = (str(uuid.uuid4()) for _ in range(3))
        rs = [self.receipt("sale", a, -1000), self.receipt("sale", wm, 850), self.receipt("sale", b, -1000),
              self.receipt("sale", wm, 850)]
        return rs, [self.V.entry_of(r) for r in rs]

    def test_a_double_sale_under_a_head_fails(self):
        rs, es = self.sold_twice()
        p = self.verify(rs, es, 4)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("sold exclusively 2 times", p.stderr)

    def test_entries_past_the_newest_head_are_not_counted(self):
        rs, es = self.sold_twice()
        fake = [{"kind": "refund", "receipt_hash": self.V.b64e(os.urandom(32)), "lead_digest": self.digest,
                 "mode": "exclusive", "share_index": 0} for _ in range(2)]
        p = self.verify(rs, es + fake, 4)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("sold exclusively 2 times", p.stderr)
        # an honest log a little longer than its newest head: verified, the rest named and not counted
        p = self.verify(rs[:2], es, 2)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 entries after the newest signed head, not counted", p.stdout)

    def test_a_receipt_logged_twice_fails(self):
        a, b, wm = (str(uuid.uuid4()) for _ in range(3))
        rs = [self.receipt("sale", a, -1000), self.receipt("sale", wm, 850), self.receipt("refund", a, 1000),
              self.receipt("refund", wm, -850), self.receipt("sale", b, -1000), self.receipt("sale", wm, 850)]
        es = [self.V.entry_of(r) for r in rs]
        p = self.verify(rs, es + es[2:4], 8)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("is in the log twice", p.stderr)

    def test_the_log_needs_heads(self):
        rs, es = self.sold_twice()
        p = self.verify(rs[:2], es[:2], 2, heads=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("give the heads", p.stderr)


if __name__ == "__main__":
    main()
