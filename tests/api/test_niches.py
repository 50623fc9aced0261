"""The niche catalogue and the region catalogue: POST/GET/PATCH /v1/niches (defaults, the attribute schema, every bad
field named, roles, idempotency), listing with pages and filters, the per-thread niche caches cleared by NOTIFY (a
change reaches intake on every thread and in every process within moments), and GET /v1/regions."""
import datetime
import json
import secrets
import threading
import time

import harness
from harness import UUID_RE, Server, ServerTestCase, bearer, main, problem
from leads_common import JSON, LeadTestCase, NICHE_ATTRIBUTES, niche_body

# The contract's error table lists 409 `conflict` (a niche slug that exists); harness.PROBLEM_STATUS does not have it
# yet, so every contract check of that answer would fail on the harness's side. A no-op once the harness has it.
harness.PROBLEM_STATUS.setdefault("conflict", 409)

NICHE_MEMBERS = {"id", "slug", "name", "currency", "max_shares", "floor_exclusive", "floor_shared",
                 "return_window_hours", "inventory_ttl_hours", "dedupe_days", "fee_bps", "min_quality", "attributes",
                 "status", "created_at", "updated_at", "return_auto_accept", "return_max_rate_bps"}
NOTIFY_WAIT_S = 2.0  # how long a change may take to reach every cache (NOTIFY is asynchronous)


def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def slug(prefix="n"):
    return f"{prefix}-{secrets.token_hex(4)}"


def minimal_body(s=None, **kw):
    """Only the required members."""
    return {"slug": s or slug("min"), "name": "Minimal", "currency": "USD", "floor_exclusive": 1000,
            "floor_shared": 400, "fee_bps": 1000, **kw}


def fields(doc):
    return [e["field"] for e in doc["errors"]]


class NicheApi(ServerTestCase):
    """Helpers shared by the niche test classes."""

    def post_niche(self, body, token=None, client=None, key=None, headers=None):
        h = {**bearer(token or self.op), **JSON, **(headers or {})}
        if key is not None:
            h["Idempotency-Key"] = key
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).post("/v1/niches", content=content, headers=h)

    def patch_niche(self, s, body, token=None, client=None, headers=None):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).patch(f"/v1/niches/{s}", content=content,
                                         headers={**bearer(token or self.op), **JSON, **(headers or {})})

    def create_niche(self, **kw):
        r = self.post_niche(niche_body(**kw))
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def get_niche(self, s, token=None, client=None):
        return (client or self.h2).get(f"/v1/niches/{s}", headers=bearer(token or self.op))

    def all_niches(self, query="", token=None):
        items, cursor = [], None
        while True:
            q = f"/v1/niches?limit=200{query}" + (f"&cursor={cursor}" if cursor else "")
            r = self.h2.get(q, headers=bearer(token or self.op))
            self.assertEqual(r.status_code, 200, r.text)
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items

    def assert_422(self, r, *pointers):
        doc = problem(r, 422, "validation_failed")
        for p in pointers:
            self.assertIn(p, fields(doc), doc)
        return doc


# ---------------------------------------------------------------------------------------------------------------
# POST /v1/niches


class Create(NicheApi):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.wm = cls.h2.post("/v1/accounts", json={"role": "webmaster", "name": "wm", "currency": "RUB"},
                             headers=bearer(cls.op)).json()["key"]["token"]
        cls.adv = cls.h2.post("/v1/accounts", json={"role": "advertiser", "name": "adv", "currency": "RUB"},
                              headers=bearer(cls.op)).json()["key"]["token"]

    def setUp(self):
        self.before = len(self.all_niches())

    def tearDown(self):
        super().tearDown()
        # Bad input never writes anything; tests that create on purpose move self.before.
        self.assertEqual(len(self.all_niches()), self.before, "a refused request created a niche")

    def test_defaults_are_applied(self):
        for c in (self.h2, self.h1):
            with self.subTest(proto=c.expect_version):
                body = minimal_body()
                before = datetime.datetime.now(datetime.timezone.utc)
                r = self.post_niche(body, client=c)
                self.assertEqual(r.status_code, 201, r.text)
                n = r.json()
                self.assertEqual(set(n), NICHE_MEMBERS)
                self.assertRegex(n["id"], UUID_RE)
                self.assertEqual({k: n[k] for k in body}, body)
                self.assertEqual((n["max_shares"], n["return_window_hours"], n["inventory_ttl_hours"],
                                  n["dedupe_days"], n["min_quality"], n["attributes"], n["status"]),
                                 (1, 72, 72, 30, 0, {}, "active"))
                self.assertEqual((n["return_auto_accept"], n["return_max_rate_bps"]), ([], 1000))
                self.assertEqual(n["created_at"], n["updated_at"])
                self.assertLess(abs((ts(n["created_at"]) - before).total_seconds()), 60)
                self.assertEqual(self.get_niche(n["slug"], client=c).json(), n)
                self.before += 1

    def test_every_member_given(self):
        body = niche_body(max_shares=20, floor_exclusive=0, floor_shared=1000000000000, return_window_hours=0,
                          inventory_ttl_hours=8760, dedupe_days=3650, fee_bps=10000, min_quality=100,
                          status="paused", currency="EUR",
                          return_auto_accept=["invalid_contact", "duplicate", "out_of_region", "fake", "other"],
                          return_max_rate_bps=10000)
        r = self.post_niche(body)
        self.assertEqual(r.status_code, 201, r.text)
        n = r.json()
        self.assertEqual({k: n[k] for k in body}, body)
        self.assertEqual(set(n), NICHE_MEMBERS)
        self.before += 1
        for other in ({"return_window_hours": 8760, "inventory_ttl_hours": 1, "dedupe_days": 0, "fee_bps": 0,
                       "min_quality": 0, "max_shares": 1, "status": "archived", "return_auto_accept": [],
                       "return_max_rate_bps": 0}, {"status": "active", "return_auto_accept": ["fake"]}):
            r = self.post_niche(niche_body(**other))
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual({k: r.json()[k] for k in other}, other)
            self.before += 1

    def test_slug_edges_accepted(self):
        for s in ("x" * 64, "7", "a1-b2-c3", "0-0", "loans-" + secrets.token_hex(2)):
            with self.subTest(slug=s):
                r = self.post_niche(minimal_body(s))
                self.assertEqual(r.status_code, 201, r.text)
                self.assertEqual(r.json()["slug"], s)
                self.assertEqual(self.get_niche(s).json(), r.json())
                self.before += 1

    def test_attribute_schema_round_trips(self):
        schema = {
            **NICHE_ATTRIBUTES,
            "region_code": {"type": "string", "min_length": 2, "max_length": 6, "required": True,
                            "description": "Where the person lives"},
            "area": {"type": "number", "min": 0.5, "max": 12500.75, "unit": "m2"},
            "balance": {"type": "integer", "min": -9223372036854775808, "max": 9223372036854775807},
            "timeframe": {"type": "enum", "values": ["now", "this month", "later", "Ünïcødé 🚀"]},
            "bant_budget": {"type": "boolean", "required": False},
            "z": {"type": "string"},
        }
        n = self.create_niche(attributes=schema)
        self.before += 1
        self.assertEqual(n["attributes"], schema)
        self.assertEqual(self.get_niche(n["slug"]).json()["attributes"], schema)
        self.assertEqual(self.get_niche(n["slug"], client=self.h1).json(), n)
        # 64 attributes is the cap, not over it
        many = {f"a{i}": {"type": "boolean"} for i in range(64)}
        self.assertEqual(self.create_niche(attributes=many)["attributes"], many)
        self.before += 1

    def test_number_bounds_round_trip_as_given(self):
        """"Stored and answered as given": a large real bound comes back equal after its trip through jsonb (which
        keeps 1e15 as the integer 1000000000000000); bounds past 2^53, which a double cannot hold exactly and an int64
        reader cannot take back from jsonb, are refused naming the bound."""
        self.assert_422(self.post_niche(niche_body(attributes={"amount": {"type": "number", "max": 1e20}})),
                        "/attributes/amount/max")
        schema = {"amount": {"type": "number", "min": 0.1, "max": 1e15, "required": True}}
        r = self.post_niche(niche_body(attributes=schema))
        self.assertEqual(r.status_code, 201, r.text)
        self.before += 1
        n = r.json()
        self.assertEqual(n["attributes"], schema)
        self.assertEqual(self.get_niche(n["slug"]).json()["attributes"], schema)

    def test_duplicate_slug_is_409(self):
        s = slug("dup")
        self.assertEqual(self.post_niche(minimal_body(s)).status_code, 201)
        self.before += 1
        for c in (self.h2, self.h1):
            for body in (minimal_body(s), niche_body(s, currency="USD", name="Other")):
                with self.subTest(proto=c.expect_version):
                    problem(self.post_niche(body, client=c), 409, "conflict", field="/slug")
        # an invalid body with a taken slug is 422 (validation comes first)
        self.assert_422(self.post_niche(minimal_body(s, fee_bps=-1)), "/fee_bps")

    def test_bad_slugs(self):
        for bad in ("Loans", "a--b", "-a", "a-", "-", "", "x" * 65, "loans_1", "loans 1", "loans.ru", "ло", "a/b",
                    5, None, ["loans"]):
            with self.subTest(slug=bad):
                doc = self.assert_422(self.post_niche(minimal_body(slug=bad)), "/slug")
                self.assertEqual(fields(doc), ["/slug"])

    def test_bad_currencies(self):
        for bad in ("rub", "RUBL", "RU", "", "R1B", 643, None):
            with self.subTest(currency=bad):
                doc = self.assert_422(self.post_niche(minimal_body(currency=bad)), "/currency")
                self.assertEqual(fields(doc), ["/currency"])
        # well-formed but not in the currency catalogue: refused by the database's foreign key, same answer
        for bad in ("XXX", "ZZZ", "ABC"):
            with self.subTest(currency=bad):
                doc = self.assert_422(self.post_niche(minimal_body(currency=bad)), "/currency")
                self.assertEqual(fields(doc), ["/currency"])

    def test_bad_numbers_are_named(self):
        cases = [
            ("floor_exclusive", -1), ("floor_shared", -1), ("floor_exclusive", 1000000000001), ("floor_shared", 1.5),
            ("floor_exclusive", "100"), ("fee_bps", 10001), ("fee_bps", -1), ("max_shares", 0), ("max_shares", 21),
            ("min_quality", 101), ("min_quality", -1), ("return_window_hours", -1), ("return_window_hours", 8761),
            ("inventory_ttl_hours", 0), ("inventory_ttl_hours", 8761), ("dedupe_days", -1), ("dedupe_days", 3651),
            ("max_shares", 2.0), ("min_quality", True), ("fee_bps", 2 ** 62), ("max_shares", None),
            ("return_max_rate_bps", -1), ("return_max_rate_bps", 10001), ("return_max_rate_bps", "5"),
            ("return_auto_accept", "fake"), ("return_auto_accept", {"fake": True}),
        ]
        for member, value in cases:
            with self.subTest(member=member, value=value):
                doc = self.assert_422(self.post_niche(niche_body(**{member: value})), f"/{member}")
                self.assertEqual(fields(doc), [f"/{member}"])

    def test_bad_return_policy_entries_are_named(self):
        for value, pointer in ((["fake", "bored"], "/return_auto_accept/1"), (["fake", "fake"], "/return_auto_accept/1"),
                               ([7], "/return_auto_accept/0"), ([None], "/return_auto_accept/0"),
                               (["FAKE"], "/return_auto_accept/0")):
            with self.subTest(value=value):
                doc = self.assert_422(self.post_niche(niche_body(return_auto_accept=value)), pointer)
                self.assertEqual(fields(doc), [pointer])

    def test_bad_names_and_status(self):
        for member, value in (("name", ""), ("name", "x" * 201), ("name", "tab\there"), ("name", 7),
                              ("status", "deleted"), ("status", "ACTIVE"), ("status", "")):
            with self.subTest(member=member, value=value):
                doc = self.assert_422(self.post_niche(niche_body(**{member: value})), f"/{member}")
                self.assertEqual(fields(doc), [f"/{member}"])

    def test_missing_and_unknown_members(self):
        doc = self.assert_422(self.post_niche({}), "/slug", "/name", "/currency", "/floor_exclusive", "/floor_shared",
                              "/fee_bps")
        self.assertEqual(len(doc["errors"]), 6, doc)
        for member in ("slug", "name", "currency", "floor_exclusive", "floor_shared", "fee_bps"):
            body = minimal_body()
            del body[member]
            with self.subTest(missing=member):
                self.assertEqual(fields(self.assert_422(self.post_niche(body))), [f"/{member}"])
        for extra in ("color", "id", "created_at", "Slug", ""):
            with self.subTest(unknown=extra):
                doc = self.assert_422(self.post_niche({**minimal_body(), extra: 1}), f"/{extra}")
                self.assertEqual(len(doc["errors"]), 1, doc)

    def test_every_failing_field_is_listed(self):
        body = {"slug": "Bad--Slug", "name": "", "currency": "rub", "floor_exclusive": -5, "floor_shared": -5,
                "fee_bps": 10001, "max_shares": 0, "min_quality": 101, "status": "gone", "colour": "red",
                "attributes": {"Age": {"type": "integer"}, "amount": {"type": "number", "min": 10, "max": 1}}}
        doc = self.assert_422(self.post_niche(body), "/slug", "/name", "/currency", "/floor_exclusive",
                              "/floor_shared", "/fee_bps", "/max_shares", "/min_quality", "/status", "/colour",
                              "/attributes/Age", "/attributes/amount/max")

    def test_body_not_an_object(self):
        for body in (b"[]", b'"niche"', b"42", b"null", b"true"):
            with self.subTest(body=body):
                problem(self.post_niche(body), 422, "validation_failed", field="")

    def test_attribute_schema_errors_have_their_pointers(self):
        cases = [
            ({"age": {"type": "integer", "min": "18"}}, "/attributes/age/min"),
            ({"age": {"type": "integer", "min": 18.5}}, "/attributes/age/min"),
            ({"age": {"type": "integer", "min": 50, "max": 10}}, "/attributes/age/max"),
            ({"amount": {"type": "number", "min": 10.5, "max": 10.25}}, "/attributes/amount/max"),
            ({"amount": {"type": "number", "max": "big"}}, "/attributes/amount/max"),
            ({"purpose": {"type": "enum"}}, "/attributes/purpose/values"),
            ({"purpose": {"type": "enum", "values": []}}, "/attributes/purpose/values"),
            ({"purpose": {"type": "enum", "values": "car"}}, "/attributes/purpose/values"),
            ({"purpose": {"type": "enum", "values": ["car", "car"]}}, "/attributes/purpose/values/1"),
            ({"purpose": {"type": "enum", "values": ["car", 5]}}, "/attributes/purpose/values/1"),
            ({"purpose": {"type": "enum", "values": [""]}}, "/attributes/purpose/values/0"),
            ({"purpose": {"type": "enum", "values": [f"v{i}" for i in range(101)]}}, "/attributes/purpose/values"),
            ({"Age": {"type": "integer"}}, "/attributes/Age"),
            ({"1st": {"type": "integer"}}, "/attributes/1st"),
            ({"a" * 41: {"type": "integer"}}, "/attributes/" + "a" * 41),
            ({"a/b": {"type": "boolean"}}, "/attributes/a~1b"),
            ({"a~b": {"type": "boolean"}}, "/attributes/a~0b"),
            ({"x": {"type": "float"}}, "/attributes/x/type"),
            ({"x": {}}, "/attributes/x/type"),
            ({"x": "integer"}, "/attributes/x"),
            ({"x": {"type": "integer", "maximum": 5}}, "/attributes/x/maximum"),
            ({"x": {"type": "string", "values": ["a"]}}, "/attributes/x/values"),
            ({"x": {"type": "boolean", "min": 0}}, "/attributes/x/min"),
            ({"x": {"type": "string", "max_length": 0}}, "/attributes/x/max_length"),
            ({"x": {"type": "string", "max_length": 1001}}, "/attributes/x/max_length"),
            ({"x": {"type": "string", "min_length": 5, "max_length": 4}}, "/attributes/x/min_length"),
            ({"x": {"type": "string", "min_length": 201}}, "/attributes/x/min_length"),
            ({"x": {"type": "boolean", "required": "yes"}}, "/attributes/x/required"),
            ({"x": {"type": "boolean", "unit": ""}}, "/attributes/x/unit"),
            ({"x": {"type": "boolean", "unit": "u" * 33}}, "/attributes/x/unit"),
            ({"x": {"type": "boolean", "description": "d" * 201}}, "/attributes/x/description"),
            ({f"a{i}": {"type": "boolean"} for i in range(65)}, "/attributes"),
            ([], "/attributes"),
            ("age", "/attributes"),
            (None, "/attributes"),
        ]
        for schema, pointer in cases:
            with self.subTest(pointer=pointer, schema=str(schema)[:60]):
                self.assert_422(self.post_niche(niche_body(attributes=schema)), pointer)

    def test_every_schema_problem_is_listed(self):
        schema = {"age": {"type": "integer", "min": 50, "max": 10}, "purpose": {"type": "enum"}, "Bad": {},
                  "ok": {"type": "boolean"}}
        doc = self.assert_422(self.post_niche(niche_body(attributes=schema)), "/attributes/age/max",
                              "/attributes/purpose/values", "/attributes/Bad", "/attributes/Bad/type")
        self.assertFalse([f for f in fields(doc) if f.startswith("/attributes/ok")], doc)

    def test_roles(self):
        for token in (self.wm, self.adv):
            for c in (self.h2, self.h1):
                problem(self.post_niche(niche_body(), token=token, client=c), 403, "forbidden")
                # 403 comes before body validation
                problem(self.post_niche(b"{", token=token, client=c), 403, "forbidden")
        for headers in ({}, {"Authorization": "Bearer lx_nope"}):
            r = self.h2.post("/v1/niches", json=niche_body(), headers=headers)
            problem(r, 401, "unauthorized")
            self.assertIn("Bearer", r.headers.get("www-authenticate", ""))

    def test_wrong_content_type_is_415(self):
        for c in (self.h2, self.h1):
            for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
                with self.subTest(ct=ct, proto=c.expect_version):
                    r = self.post_niche(niche_body(), client=c, headers={"Content-Type": ct})
                    problem(r, 415, "unsupported_media_type", field="header.content-type")
            r = c.post("/v1/niches", content=json.dumps(niche_body()).encode(), headers=bearer(self.op))
            problem(r, 415, "unsupported_media_type", field="header.content-type")

    def test_malformed_json_is_400(self):
        for c in (self.h2, self.h1):
            for body in (b"{", b'{"slug":', b'{"slug":"a",}', b"", b"{'slug': 'a'}",
                         json.dumps(niche_body()).encode()[:-1],
                         b'{"slug":"dup-keys","slug":"dup-keys","name":"n","currency":"USD","floor_exclusive":1,'
                         b'"floor_shared":1,"fee_bps":1}'):
                with self.subTest(body=body[:30], proto=c.expect_version):
                    problem(self.post_niche(body, client=c), 400, "malformed_json", field="")

    def test_method_not_allowed(self):
        r = self.h2.delete("/v1/niches", headers=bearer(self.op))
        problem(r, 405, "method_not_allowed")
        r = self.h2.post(f"/v1/niches/{slug()}", json={}, headers=bearer(self.op))
        problem(r, 405, "method_not_allowed")

    # -- Idempotency-Key -------------------------------------------------------------------------------------

    def test_idempotent_replay(self):
        key, body = "niche-" + secrets.token_hex(6), niche_body()
        first = self.post_niche(body, key=key)
        self.assertEqual(first.status_code, 201, first.text)
        self.before += 1
        for c in (self.h2, self.h1):
            again = self.post_niche(body, key=key, client=c)
            self.assertEqual(again.status_code, 201, again.text)
            self.assertEqual(again.json(), first.json())
        self.assertEqual(len(self.all_niches()), self.before, "a replay created a niche")
        # a replay answers the niche as it is now
        changed = self.patch_niche(body["slug"], {"name": "Renamed"})
        self.assertEqual(changed.status_code, 200, changed.text)
        again = self.post_niche(body, key=key)
        self.assertEqual(again.status_code, 201, again.text)
        self.assertEqual(again.json(), changed.json())
        # a different request under the same key
        for other in (niche_body(), {**body, "fee_bps": 1}, json.dumps(body, indent=1).encode()):
            with self.subTest(other=str(other)[:40]):
                problem(self.post_niche(other, key=key), 422, "idempotency_key_reused",
                        field="header.idempotency-key")
        # the same key on another operation is a reuse too
        problem(self.h2.post("/v1/accounts", json={"role": "webmaster", "name": "k", "currency": "USD"},
                             headers={**bearer(self.op), "Idempotency-Key": key}),
                422, "idempotency_key_reused", field="header.idempotency-key")

    def test_refused_requests_do_not_burn_the_key(self):
        taken = self.create_niche()["slug"]
        self.before += 1
        key = "burn-" + secrets.token_hex(6)
        self.assert_422(self.post_niche(minimal_body(fee_bps=-1), key=key), "/fee_bps")
        self.assert_422(self.post_niche(minimal_body(currency="XXX"), key=key), "/currency")  # the database's FK
        problem(self.post_niche(minimal_body(taken), key=key), 409, "conflict", field="/slug")  # the unique index
        body = minimal_body()
        r = self.post_niche(body, key=key)
        self.assertEqual(r.status_code, 201, r.text)
        self.before += 1
        self.assertEqual(self.post_niche(body, key=key).json(), r.json())

    def test_a_refusal_frees_the_key_before_it_answers(self):
        # The retry goes out the moment the refusal arrives, on another connection: the claim must be gone by then.
        taken = self.create_niche()["slug"]
        self.before += 1
        # Busy database pools on every worker thread, so a fire-and-forget clean-up would queue behind other work.
        stop = threading.Event()

        def load():
            with self.server.client() as c:
                while not stop.is_set():
                    c.get("/v1/niches", headers=bearer(self.op))

        loaders = [threading.Thread(target=load) for _ in range(6)]
        for t in loaders:
            t.start()
        self.addCleanup(lambda: (stop.set(), [t.join() for t in loaders]))
        for i in range(40):
            key = f"race-{i}-" + secrets.token_hex(6)
            first, retry = (self.h1, self.h2) if i % 2 else (self.h2, self.h1)
            problem(self.post_niche(minimal_body(taken), key=key, client=first), 409, "conflict", field="/slug")
            self.assert_422(self.post_niche(minimal_body(currency="XXX"), key=key, client=retry), "/currency")


# ---------------------------------------------------------------------------------------------------------------
# GET /v1/niches, GET and PATCH /v1/niches/{slug}


class ListGetPatch(NicheApi):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tokens = {"operator": cls.op}
        for role in ("webmaster", "advertiser"):
            r = cls.h2.post("/v1/accounts", json={"role": role, "name": role, "currency": "RUB"},
                            headers=bearer(cls.op))
            cls.tokens[role] = r.json()["key"]["token"]
        # A fresh database: exactly these niches, in creation order.
        cls.created = []
        for i, status in enumerate(("active", "active", "paused", "active", "archived", "active", "paused")):
            r = cls.h2.post("/v1/niches", json=niche_body(f"list-{i}-{secrets.token_hex(2)}", status=status),
                            headers=bearer(cls.op))
            assert r.status_code == 201, r.text
            cls.created.append(r.json())

    def test_list_pages_in_creation_order(self):
        for token in self.tokens.values():
            for limit in (1, 3, 7, 200):
                seen, cursor, pages = [], None, 0
                while True:
                    q = f"/v1/niches?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
                    r = self.h2.get(q, headers=bearer(token))
                    self.assertEqual(r.status_code, 200, r.text)
                    page = r.json()
                    self.assertLessEqual(len(page["items"]), limit)
                    seen += page["items"]
                    pages += 1
                    cursor = page["next_cursor"]
                    if cursor is None:
                        self.assertLess(len(page["items"]), limit)
                        break
                    self.assertEqual(len(page["items"]), limit)
                self.assertEqual([n["id"] for n in seen], [n["id"] for n in self.created])
                self.assertEqual(pages, len(self.created) // limit + 1)
        # the default page size holds them all; GET of one answers what the list shows
        page = self.h1.get("/v1/niches", headers=bearer(self.op)).json()
        self.assertEqual(page["items"], self.all_niches())
        self.assertIsNone(page["next_cursor"])
        for n in page["items"]:
            self.assertEqual(self.get_niche(n["slug"], token=self.tokens["advertiser"]).json(), n)

    def test_status_filter(self):
        for status in ("active", "paused", "archived"):
            want = [n["id"] for n in self.created if n["status"] == status]
            got = [n["id"] for n in self.all_niches(f"&status={status}")]
            self.assertEqual(got, want, status)
            page = self.h2.get(f"/v1/niches?status={status}&limit=1", headers=bearer(self.tokens["webmaster"]))
            self.assertEqual([n["id"] for n in page.json()["items"]], want[:1])

    def test_bad_query_parameters(self):
        cases = [("limit=0", "query.limit"), ("limit=201", "query.limit"), ("limit=abc", "query.limit"),
                 ("limit=-1", "query.limit"), ("limit=", "query.limit"), ("limit=1&limit=2", "query.limit"),
                 ("cursor=zzz", "query.cursor"), ("cursor=", "query.cursor"),
                 (f"cursor={self.created[0]['id']}", "query.cursor"), ("status=ACTIVE", "query.status"),
                 ("status=deleted", "query.status"), ("status=", "query.status"), ("foo=1", "query.foo"),
                 ("country=RU", "query.country")]
        for q, field in cases:
            with self.subTest(q=q):
                problem(self.h2.get(f"/v1/niches?{q}", headers=bearer(self.op)), 400, "invalid_parameter",
                        field=field)

    def test_list_and_get_need_a_key(self):
        problem(self.h2.get("/v1/niches"), 401, "unauthorized")
        problem(self.h2.get(f"/v1/niches/{self.created[0]['slug']}"), 401, "unauthorized")

    def test_get_one(self):
        n = self.created[2]
        for token in self.tokens.values():
            for c in (self.h2, self.h1):
                r = self.get_niche(n["slug"], token=token, client=c)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.json()["id"], n["id"])
        for bad in ("no-such-niche", "UPPER", "a%20b", "a_b", "x" * 65, "a--b", "%00", "list-0",
                    self.created[0]["slug"].upper(), self.created[0]["id"]):
            with self.subTest(slug=bad):
                problem(self.get_niche(bad), 404, "not_found")

    def test_patch_applies_and_moves_updated_at(self):
        n = self.create_niche()
        self.created_extra(n)
        change = {"name": "Mortgages", "max_shares": 5, "floor_exclusive": 123456, "floor_shared": 0,
                  "return_window_hours": 24, "inventory_ttl_hours": 1, "dedupe_days": 0, "fee_bps": 10000,
                  "min_quality": 100, "status": "paused",
                  "attributes": {"budget": {"type": "integer", "min": 0, "required": True}},
                  "return_auto_accept": ["out_of_region", "duplicate"], "return_max_rate_bps": 2500}
        time.sleep(0.002)
        r = self.patch_niche(n["slug"], change)
        self.assertEqual(r.status_code, 200, r.text)
        after = r.json()
        # return_auto_accept comes back in the published order of reasons
        self.assertEqual({k: after[k] for k in change}, {**change, "return_auto_accept": ["duplicate", "out_of_region"]})
        for k in ("id", "slug", "currency", "created_at"):
            self.assertEqual(after[k], n[k], k)
        self.assertGreater(ts(after["updated_at"]), ts(n["updated_at"]))
        self.assertEqual(self.get_niche(n["slug"], client=self.h1).json(), after)
        # one member at a time; the others stay
        for c, (k, v) in zip((self.h1, self.h2, self.h1, self.h2), (("status", "active"), ("min_quality", 0),
                                                                     ("attributes", {}), ("return_auto_accept", []))):
            time.sleep(0.002)
            r = self.patch_niche(n["slug"], {k: v}, client=c)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json(), {**after, k: v, "updated_at": r.json()["updated_at"]})
            self.assertGreater(ts(r.json()["updated_at"]), ts(after["updated_at"]))
            after = r.json()
        # the same change twice is harmless
        again = self.patch_niche(n["slug"], {"attributes": {}})
        self.assertEqual({**again.json(), "updated_at": None}, {**after, "updated_at": None})

    def created_extra(self, n):
        """Keeps the listing tests exact: niches made by other tests of this class are not theirs to count."""
        type(self).created.append(n)

    def test_patch_refusals(self):
        n = self.create_niche()
        self.created_extra(n)
        s = n["slug"]
        doc = self.assert_422(self.patch_niche(s, {"slug": "new-slug"}), "/slug")
        self.assertEqual(fields(doc), ["/slug"])
        self.assert_422(self.patch_niche(s, {"slug": s}), "/slug")  # even to the same value
        doc = self.assert_422(self.patch_niche(s, {"currency": "USD"}), "/currency")
        self.assertEqual(fields(doc), ["/currency"])
        self.assert_422(self.patch_niche(s, {"slug": "x", "currency": "EUR", "name": "ok"}), "/slug", "/currency")
        problem(self.patch_niche(s, {}), 422, "validation_failed", field="")
        for body in (b"[]", b"null", b'"x"'):
            problem(self.patch_niche(s, body), 422, "validation_failed", field="")
        for member, value in (("max_shares", 0), ("max_shares", 21), ("fee_bps", 10001), ("min_quality", 101),
                              ("floor_exclusive", -1), ("floor_shared", -1), ("name", ""), ("status", "deleted"),
                              ("inventory_ttl_hours", 0), ("colour", "red"), ("id", n["id"]),
                              ("return_max_rate_bps", 10001), ("return_auto_accept", "nope"),
                              ("created_at", n["created_at"])):
            with self.subTest(member=member, value=value):
                doc = self.assert_422(self.patch_niche(s, {member: value}), f"/{member}")
                self.assertEqual(fields(doc), [f"/{member}"])
        self.assert_422(self.patch_niche(s, {"attributes": {"age": {"type": "integer", "min": 9, "max": 1}}}),
                        "/attributes/age/max")
        self.assert_422(self.patch_niche(s, {"attributes": {"purpose": {"type": "enum"}}}),
                        "/attributes/purpose/values")
        problem(self.patch_niche(s, b"{"), 400, "malformed_json", field="")
        problem(self.patch_niche(s, {"name": "x"}, headers={"Content-Type": "text/plain"}), 415,
                "unsupported_media_type", field="header.content-type")
        # nothing of it was applied
        self.assertEqual(self.get_niche(s).json(), n)

    def test_patch_unknown_and_impossible_slugs_404(self):
        for bad in ("no-such-niche", "UPPER", "a%20b", "x" * 65):
            with self.subTest(slug=bad):
                problem(self.patch_niche(bad, {"name": "x"}), 404, "not_found")

    def test_patch_roles(self):
        s = self.created[0]["slug"]
        for role in ("webmaster", "advertiser"):
            for c in (self.h2, self.h1):
                problem(self.patch_niche(s, {"status": "paused"}, token=self.tokens[role], client=c), 403,
                        "forbidden")
                problem(self.patch_niche(s, b"{", token=self.tokens[role], client=c), 403, "forbidden")
        problem(self.h2.patch(f"/v1/niches/{s}", json={"status": "paused"}), 401, "unauthorized")
        self.assertEqual(self.get_niche(s).json(), self.created[0])


# ---------------------------------------------------------------------------------------------------------------
# The niche caches: a change reaches intake on every thread and in every process


class CacheAndIntake(LeadTestCase, NicheApi):
    def until(self, make, accept, what, timeout=NOTIFY_WAIT_S):
        """Calls make() (a new request each time) until accept(response); returns that response."""
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            r = make()
            tries += 1
            if accept(r):
                return r
            if time.monotonic() >= deadline:
                self.fail(f"{what}: not seen within {timeout} s ({tries} tries); last answer "
                          f"{r.status_code}: {r.text[:600]}")
            time.sleep(0.02)

    def imperfect_lead(self, niche):
        """A valid lead that scores below 100 for a known reason (a clean lead scores 100, which min_quality 100
        does not reject): a throw-away mailbox."""
        return self.lead(niche=niche, email=f"p.{secrets.token_hex(5)}@mailinator.com")

    def accepted(self, r):
        return r.status_code == 201 and r.json()["status"] == "unsold"

    def warm(self, niche, body=None):
        """Submits one lead over each client (each connection is served by one thread) so the niche is cached."""
        for c in (self.h2, self.h1):
            r = self.submit(body(niche) if body else self.lead(niche=niche), client=c)
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(r.json()["status"], "unsold", r.text)
        return r.json()

    def test_min_quality_change_reaches_intake(self):
        s = self.create_niche(min_quality=30)["slug"]
        first = self.warm(s, self.imperfect_lead)
        self.assertLess(first["quality"]["score"], 100)
        self.assertIn("disposable_email", first["quality"]["reasons"])
        self.assertEqual(self.patch_niche(s, {"min_quality": 100}).status_code, 200)
        for c in (self.h2, self.h1):
            r = self.until(lambda: self.submit(self.imperfect_lead(s), client=c),
                           lambda r: r.status_code == 201 and r.json()["status"] == "rejected",
                           f"min_quality 100 on {c.expect_version}")
            self.assertIn("below_min_quality", r.json()["quality"]["reasons"])
            self.assertEqual(r.json()["quality"]["reasons"][-1], "below_min_quality")
        self.assertEqual(self.patch_niche(s, {"min_quality": 0}).status_code, 200)
        for c in (self.h2, self.h1):
            self.until(lambda: self.submit(self.imperfect_lead(s), client=c), self.accepted,
                       f"min_quality 0 on {c.expect_version}")

    def test_pause_and_resume_reach_intake(self):
        s = self.create_niche()["slug"]
        self.warm(s)
        for status in ("paused", "archived"):
            self.assertEqual(self.patch_niche(s, {"status": status}).status_code, 200)
            for c in (self.h2, self.h1):
                r = self.until(lambda: self.submit(self.lead(niche=s), client=c), lambda r: r.status_code == 422,
                               f"status {status} on {c.expect_version}")
                doc = problem(r, 422, "validation_failed", field="/niche")
                self.assertEqual(fields(doc), ["/niche"])
                # the batch names the element
                b = self.submit_batch([self.lead(niche=s)], client=c)
                self.assertEqual(b.status_code, 200, b.text)
                res = b.json()["results"][0]
                self.assertEqual(res["status_code"], 422, res)
                self.assertIn("/leads/0/niche", fields(res["problem"]))
            self.assertEqual(self.patch_niche(s, {"status": "active"}).status_code, 200)
            for c in (self.h2, self.h1):
                self.until(lambda: self.submit(self.lead(niche=s), client=c), self.accepted,
                           f"active again on {c.expect_version}")

    def test_attribute_schema_change_reaches_intake(self):
        s = self.create_niche()["slug"]
        self.warm(s)
        schema = {**NICHE_ATTRIBUTES, "income": {**NICHE_ATTRIBUTES["income"], "required": True}}
        self.assertEqual(self.patch_niche(s, {"attributes": schema}).status_code, 200)
        for c in (self.h2, self.h1):
            r = self.until(lambda: self.submit(self.lead(niche=s), client=c), lambda r: r.status_code == 422,
                           f"the new schema on {c.expect_version}")
            problem(r, 422, "validation_failed", field="/attributes/income")
            ok = self.submit(self.lead(niche=s, attributes={"age": 40, "income": 90000}), client=c)
            self.assertTrue(self.accepted(ok), ok.text)

    def test_change_reaches_another_process(self):
        """The second server shares the database and nothing else: only NOTIFY can tell it."""
        other = Server(self.db_url, key_dir=self.server.key_dir, threads=2, name="second")
        self.addCleanup(other.kill)
        other.start()
        self.addCleanup(other.stop)
        c2 = other.client(http2=True)
        s = self.create_niche()["slug"]
        for _ in range(4):  # both of its threads, most likely
            self.assertTrue(self.accepted(self.submit(self.lead(niche=s), client=c2)))
        self.assertEqual(self.patch_niche(s, {"status": "paused"}).status_code, 200)
        r = self.until(lambda: self.submit(self.lead(niche=s), client=c2), lambda r: r.status_code == 422,
                       "the pause in the other process")
        problem(r, 422, "validation_failed", field="/niche")
        # and several times in a row: no thread of it still has the old niche
        for _ in range(6):
            problem(self.submit(self.lead(niche=s), client=other.client(http2=False)), 422, "validation_failed",
                    field="/niche")

    def test_lead_without_form_timestamps_is_answered_per_contract(self):
        """Not a niche matter, but met here first: a lead without source.form_started_at/form_submitted_at is
        answered with those members as null, which the Lead schema does not allow."""
        body = self.lead()
        del body["source"]["form_started_at"]
        del body["source"]["form_submitted_at"]
        r = self.submit(body)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertIn("form_fill_time_unknown", r.json()["quality"]["reasons"])

    def test_real_bound_beyond_int64_is_enforced_at_intake(self):
        """The schema intake checks leads against is the stored one: a number bound of 1e20 must not turn it into {}
        (which would refuse every attribute as unknown and stop enforcing `required`)."""
        s = self.create_niche(attributes={"amount": {"type": "number", "min": 0.5, "max": 1e15, "required": True}})["slug"]
        ok = self.submit(self.lead(niche=s, attributes={"amount": 250000}))
        self.assertTrue(self.accepted(ok), ok.text)
        problem(self.submit(self.lead(niche=s, attributes={})), 422, "validation_failed", field="/attributes/amount")
        problem(self.submit(self.lead(niche=s, attributes={"amount": 0.25})), 422, "validation_failed",
                field="/attributes/amount")

    def test_unknown_niche_is_422(self):
        for bad in ("no-such-niche-" + secrets.token_hex(3), "Loans", "a--b", "", "x" * 65, "ло"):
            with self.subTest(niche=bad):
                doc = problem(self.submit(self.lead(niche=bad)), 422, "validation_failed", field="/niche")
                self.assertNotIn("/region", fields(doc))
        for bad in (5, None, ["loans"]):
            with self.subTest(niche=bad):
                body = self.lead()
                body["niche"] = bad
                problem(self.submit(body), 422, "validation_failed", field="/niche")

    def test_niche_created_after_a_miss_is_usable_at_once(self):
        s = slug("later")
        for c in (self.h2, self.h1):
            problem(self.submit(self.lead(niche=s), client=c), 422, "validation_failed", field="/niche")
        r = self.post_niche(niche_body(s))
        self.assertEqual(r.status_code, 201, r.text)
        for c in (self.h2, self.h1, self.h2):
            ok = self.submit(self.lead(niche=s), client=c)
            self.assertTrue(self.accepted(ok), ok.text)
            self.assertEqual(ok.json()["niche"], s)

    def test_region_must_exist(self):
        for bad in ("RU-XXX", "ru-mow", "Ru-MOW", "RU-", "XX", "ZZ-ABC", "RUS", "R", "", "RU MOW", "RU-MOWW",
                    "ru"):
            with self.subTest(region=bad):
                doc = problem(self.submit(self.lead(region=bad)), 422, "validation_failed", field="/region")
                self.assertNotIn("/niche", fields(doc))
        for good in ("RU", "RU-MOW", "RU-SPE", "RU-SVE"):
            with self.subTest(region=good):
                r = self.submit(self.lead(region=good))
                self.assertEqual(r.status_code, 201, r.text)
                self.assertEqual(r.json()["region"], good)


# ---------------------------------------------------------------------------------------------------------------
# GET /v1/regions


class Regions(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tokens = [cls.op]
        for role in ("webmaster", "advertiser"):
            r = cls.h2.post("/v1/accounts", json={"role": role, "name": role, "currency": "USD"},
                            headers=bearer(cls.op))
            cls.tokens.append(r.json()["key"]["token"])

    def get(self, query="", token=None, client=None):
        return (client or self.h2).get(f"/v1/regions{query}", headers=bearer(token or self.op))

    def walk(self, country=None, limit=200, token=None):
        items, cursor, pages = [], None, 0
        while True:
            q = [f"limit={limit}"] + ([f"country={country}"] if country else []) + (
                [f"cursor={cursor}"] if cursor else [])
            r = self.get("?" + "&".join(q), token=token)
            self.assertEqual(r.status_code, 200, r.text)
            page = r.json()
            self.assertLessEqual(len(page["items"]), limit)
            items += page["items"]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                return items, pages
            self.assertEqual(len(page["items"]), limit)
            self.assertLess(pages, 100)

    def test_countries(self):
        countries, pages = self.walk()
        self.assertEqual(pages, 2)
        codes = [r["code"] for r in countries]
        self.assertEqual(len(codes), 249)
        self.assertEqual(codes, sorted(set(codes)))
        for r in countries:
            self.assertEqual((r["kind"], r["parent"], r["country"]), ("country", None, r["code"]), r)
        by = {r["code"]: r for r in countries}
        for code in ("RU", "US", "GB", "DE", "KZ", "BY"):
            self.assertIn(code, by)
        self.assertTrue(by["RU"]["name"])
        # the default page is 50, and a small page size walks to the same list
        first = self.get().json()
        self.assertEqual(first["items"], countries[:50])
        self.assertIsNotNone(first["next_cursor"])
        small, pages = self.walk(limit=37)
        self.assertEqual(small, countries)
        self.assertEqual(pages, 7)

    def test_one_country_and_its_subdivisions(self):
        ru, _ = self.walk("RU")
        by = {r["code"]: r for r in ru}
        self.assertEqual(ru[0]["code"], "RU")
        self.assertEqual((by["RU"]["kind"], by["RU"]["parent"]), ("country", None))
        self.assertEqual(by["RU-MOW"]["parent"], "RU")
        self.assertNotEqual(by["RU-MOW"]["kind"], "country")
        for code in ("RU-SPE", "RU-SVE", "RU-TA"):
            self.assertIn(code, by)
        self.assertEqual(len(ru), 84)  # the country and its 83 subdivisions
        self.assertEqual([r["code"] for r in ru], sorted(by))
        for r in ru:
            self.assertEqual(r["country"], "RU")
            self.assertTrue(r["code"] == "RU" or r["code"].startswith("RU-"), r)
            self.assertTrue(r["code"] == "RU" or r["parent"] in by, r)
        us = {r["code"]: r for r in self.walk("US", limit=30)[0]}
        self.assertEqual((us["US-CA"]["parent"], us["US-CA"]["kind"]), ("US", "state"))
        self.assertIn("US-NY", us)
        gb_list, pages = self.walk("GB", limit=50)
        gb = {r["code"]: r for r in gb_list}
        self.assertGreater(pages, 2)
        self.assertEqual(len(gb), len(gb_list))
        self.assertEqual((gb["GB-ENG"]["parent"], gb["GB-ENG"]["kind"]), ("GB", "constituent country"))
        self.assertEqual(gb["GB-LND"]["parent"], "GB-ENG")  # a subdivision's parent may be a subdivision
        for r in gb_list:
            self.assertTrue(r["parent"] is None or r["parent"] in gb, r)
        # a country not in the catalogue: an empty list
        empty = self.get("?country=ZZ").json()
        self.assertEqual(empty, {"items": [], "next_cursor": None})

    def test_cursor_continues_after_the_code(self):
        page = self.get("?country=RU&limit=5").json()
        nxt = self.get(f"?country=RU&limit=5&cursor={page['next_cursor']}").json()
        self.assertGreater(nxt["items"][0]["code"], page["items"][-1]["code"])
        all_ru, _ = self.walk("RU")
        self.assertEqual(page["items"] + nxt["items"], all_ru[:10])

    def test_every_role_may_read(self):
        for token in self.tokens:
            for c in (self.h2, self.h1):
                r = self.get("?country=RU&limit=3", token=token, client=c)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual([x["code"] for x in r.json()["items"]], ["RU", "RU-AD", "RU-AL"])
        for headers in ({}, {"Authorization": "Bearer lx_nope"}):
            r = self.h2.get("/v1/regions", headers=headers)
            problem(r, 401, "unauthorized")

    def test_bad_query_parameters(self):
        cases = [("country=ru", "query.country"), ("country=RUS", "query.country"), ("country=R1", "query.country"),
                 ("country=R", "query.country"), ("country=", "query.country"), ("country=RU-MOW", "query.country"),
                 ("country=%D0%AF%D0%AF", "query.country"), ("limit=0", "query.limit"), ("limit=201", "query.limit"),
                 ("limit=x", "query.limit"), ("limit=", "query.limit"), ("cursor=bad!", "query.cursor"),
                 ("cursor=ru", "query.cursor"), ("cursor=", "query.cursor"), ("foo=1", "query.foo"),
                 ("status=active", "query.status"), ("country=RU&country=US", "query.country")]
        for q, field in cases:
            with self.subTest(q=q):
                problem(self.get("?" + q), 400, "invalid_parameter", field=field)

    def test_method_not_allowed(self):
        problem(self.h2.post("/v1/regions", json={}, headers=bearer(self.op)), 405, "method_not_allowed")


if __name__ == "__main__":
    main()
