"""Campaigns: POST/GET/PATCH /v1/campaigns, POST /v1/campaigns/{id}/pause and /resume.

Creation with defaults and with every member (normalised: name trimmed, hours sorted by day and time, a UUID exclusion
lower-cased), Idempotency-Key replays, roles (advertisers own, operators read everything and change only the status,
webmasters 403, another advertiser's campaign 404), listing with filters and pages, every bad input of the issue (prices
below the floors, unknown niches or regions, contradictory filters, bad schedules and time zones PostgreSQL does not know)
answered 4xx naming the field and writing nothing, bid_seq moving only when a price changes (read with psql),
today_count against the campaign's own time zone, budget and daily-cap conflicts, archiving as final."""
import json
import secrets
import subprocess
import threading

from harness import UUID_RE, ServerTestCase, bearer, main, problem, psql, wait_for
from leads_common import JSON, NICHE_ATTRIBUTES, niche_body

MEMBERS = {"id", "advertiser_id", "niche", "name", "regions", "price_exclusive", "price_shared", "filters", "schedule",
           "daily_cap", "budget", "spent", "today_count", "exclude_sources", "exclude_bought_contacts_days", "status",
           "currency", "created_at", "updated_at"}
NO_FILTERS = {"attributes": {}, "required": [], "min_quality": None, "temperatures": None}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def fields(doc):
    return [e["field"] for e in doc["errors"]]


class CampaignApi(ServerTestCase):
    """A RUB niche with the attribute schema of the lead tests (floors 50000 / 20000), a USD niche, an archived niche,
    two RUB advertisers, a USD advertiser and a webmaster."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.slug = cls.make_niche()["slug"]
        cls.usd_slug = cls.make_niche(currency="USD")["slug"]
        cls.archived_slug = cls.make_niche(status="archived")["slug"]
        cls.adv_account, cls.adv = cls.account("advertiser", "RUB")
        cls.adv2_account, cls.adv2 = cls.account("advertiser", "RUB")
        cls.usd_account, cls.adv_usd = cls.account("advertiser", "USD")
        cls.wm_account, cls.wm = cls.account("webmaster", "RUB")

    @classmethod
    def make_niche(cls, **kw):
        r = cls.h2.post("/v1/niches", json=niche_body(**kw), headers=bearer(cls.op))
        assert r.status_code == 201, r.text
        return r.json()

    @classmethod
    def account(cls, role, currency):
        r = cls.h2.post("/v1/accounts", json={"role": role, "name": f"{role} {secrets.token_hex(3)}",
                                               "currency": currency}, headers=bearer(cls.op))
        assert r.status_code == 201, r.text
        return r.json()["account"], r.json()["key"]["token"]

    # -- helpers ----------------------------------------------------------------------------------------------

    def body(self, **kw):
        """A valid create body; keyword arguments replace members (None removes one)."""
        b = {"niche": self.slug, "regions": ["RU"], "price_exclusive": 50000}
        for k, v in kw.items():
            if v is None:
                b.pop(k, None)
            else:
                b[k] = v
        return b

    def post(self, body, token=None, client=None, key=None, headers=None):
        h = {**bearer(token or self.adv), **JSON, **(headers or {})}
        if key is not None:
            h["Idempotency-Key"] = key
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).post("/v1/campaigns", content=content, headers=h)

    def create(self, token=None, **kw):
        r = self.post(self.body(**kw), token=token)
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def patch(self, cid, body, token=None, client=None):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).patch(f"/v1/campaigns/{cid}", content=content,
                                         headers={**bearer(token or self.adv), **JSON})

    def get(self, cid, token=None, client=None):
        return (client or self.h2).get(f"/v1/campaigns/{cid}", headers=bearer(token or self.adv))

    def action(self, cid, verb, token=None, client=None):
        return (client or self.h2).post(f"/v1/campaigns/{cid}/{verb}", headers=bearer(token or self.adv))

    def sql(self, query):
        return psql(self.db_url, query)

    def count(self):
        return int(self.sql("SELECT count(*) FROM campaigns"))

    def bid_seq(self, cid):
        return int(self.sql(f"SELECT bid_seq FROM campaigns WHERE id = '{cid}'"))

    def assert_422(self, r, *pointers):
        doc = problem(r, 422, "validation_failed")
        for p in pointers:
            self.assertIn(p, fields(doc), doc)
        return doc


# ---------------------------------------------------------------------------------------------------------------
# POST /v1/campaigns


class Create(CampaignApi):
    def setUp(self):
        self.before = self.count()

    def tearDown(self):
        super().tearDown()
        # Bad input never writes anything; tests that create on purpose move self.before.
        self.assertEqual(self.count(), self.before, "a refused request wrote a campaign")

    def test_defaults(self):
        for c in (self.h2, self.h1):
            with self.subTest(proto=c.expect_version):
                r = self.post(self.body(), client=c)
                self.assertEqual(r.status_code, 201, r.text)
                self.before += 1
                cp = r.json()
                self.assertEqual(set(cp), MEMBERS)
                self.assertRegex(cp["id"], UUID_RE)
                self.assertEqual(cp["advertiser_id"], self.adv_account["id"])
                self.assertEqual((cp["niche"], cp["name"], cp["regions"], cp["price_exclusive"], cp["price_shared"]),
                                 (self.slug, None, ["RU"], 50000, None))
                self.assertEqual((cp["filters"], cp["schedule"], cp["daily_cap"], cp["budget"], cp["spent"],
                                  cp["today_count"], cp["exclude_sources"], cp["exclude_bought_contacts_days"],
                                  cp["status"], cp["currency"]),
                                 (NO_FILTERS, None, None, None, 0, 0, [], 0, "active", "RUB"))
                self.assertEqual(cp["created_at"], cp["updated_at"])
                self.assertEqual(self.get(cp["id"], client=c).json(), cp)
                row = self.sql(f"SELECT tz, hours IS NULL, filters IS NULL, niche_id = (SELECT id FROM niches WHERE "
                               f"slug = '{self.slug}') FROM campaigns WHERE id = '{cp['id']}'")
                self.assertEqual(row, "UTC|t|t|t")

    def test_every_member(self):
        body = self.body(
            name="  Moscow loans, evenings \u00a0", regions=["RU-MOW", "US-CA", "DE"], price_exclusive=65000,
            price_shared=20000,
            filters={"attributes": {"age": {"gte": 25, "lte": 45}, "purpose": {"in": ["car", "home"]},
                                    "amount": {"gte": 1000.5}, "employed": {"eq": True}},
                     "required": ["income"], "min_quality": 40, "temperatures": ["hot", "warm"]},
            schedule={"tz": "Europe/Moscow", "hours": {"fri": [["18:00", "24:00"], ["00:00", "02:00"]],
                                                       "mon": [["09:00", "12:00"], ["12:00", "18:00"]]}},
            daily_cap=25, budget=5_000_000, exclude_sources=["0190A1B2-C3D4-7E5F-8A6B-7C8D9E0F1A2B", "spam-7"],
            exclude_bought_contacts_days=90, status="paused")
        r = self.post(body)
        self.assertEqual(r.status_code, 201, r.text)
        self.before += 1
        cp = r.json()
        self.assertEqual(cp["name"], "Moscow loans, evenings")
        self.assertEqual(cp["regions"], ["RU-MOW", "US-CA", "DE"])
        self.assertEqual((cp["price_exclusive"], cp["price_shared"]), (65000, 20000))
        self.assertEqual(cp["filters"], body["filters"])
        hours = {d: [] for d in DAYS}
        hours["mon"] = [["09:00", "12:00"], ["12:00", "18:00"]]
        hours["fri"] = [["00:00", "02:00"], ["18:00", "24:00"]]
        self.assertEqual(cp["schedule"], {"tz": "Europe/Moscow", "hours": hours})
        self.assertEqual((cp["daily_cap"], cp["budget"], cp["exclude_bought_contacts_days"], cp["status"]),
                         (25, 5_000_000, 90, "paused"))
        self.assertEqual(cp["exclude_sources"], ["0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", "spam-7"])
        self.assertEqual(self.get(cp["id"], client=self.h1).json(), cp)
        # what the auction reads: the filters as given, the hours with the days the buyer named, sorted
        stored = json.loads(self.sql(f"SELECT hours FROM campaigns WHERE id = '{cp['id']}'"))
        self.assertEqual(stored, {"mon": hours["mon"], "fri": hours["fri"]})
        # the answer is accepted back as it is (a client may GET, edit and PATCH)
        r = self.patch(cp["id"], {k: cp[k] for k in ("name", "regions", "filters", "schedule", "exclude_sources")})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual({k: r.json()[k] for k in ("filters", "schedule")}, {k: cp[k] for k in ("filters", "schedule")})

    def test_schedule_without_hours_and_zones_postgresql_knows(self):
        for tz in ("America/New_York", "Asia/Kolkata", "Etc/GMT-14", "UTC"):
            with self.subTest(tz=tz):
                cp = self.create(schedule={"tz": tz})
                self.before += 1
                self.assertEqual(cp["schedule"], None if tz == "UTC" else {"tz": tz, "hours": None})
        cp = self.create(schedule=None, price_shared=20000, price_exclusive=None)
        self.before += 1
        self.assertEqual((cp["schedule"], cp["price_exclusive"], cp["price_shared"]), (None, None, 20000))

    def test_time_zones_are_checked_by_postgresql(self):
        for tz in ("Mars/Olympus", "Europe/Atlantis", "Nowhere"):
            with self.subTest(tz=tz):
                doc = self.assert_422(self.post(self.body(schedule={"tz": tz, "hours": {"mon": [["09:00", "18:00"]]}})),
                                      "/schedule/tz")
                self.assertEqual(fields(doc), ["/schedule/tz"])

    def test_bad_input_names_the_field(self):
        big = 10 ** 30
        cases = [
            # prices
            ({"price_exclusive": 49999}, "/price_exclusive"),
            ({"price_shared": 19999}, "/price_shared"),
            ({"price_exclusive": 0}, "/price_exclusive"),
            ({"price_exclusive": 50000.0}, "/price_exclusive"),
            ({"price_exclusive": "50000"}, "/price_exclusive"),
            ({"price_exclusive": 2 ** 53}, "/price_exclusive"),
            ({"price_exclusive": big}, "/price_exclusive"),
            ({"price_exclusive": None}, "/price_exclusive"),
            # niches
            ({"niche": "no-such-niche"}, "/niche"),
            ({"niche": "Not A Slug"}, "/niche"),
            ({"niche": 7}, "/niche"),
            ({"niche": None}, "/niche"),
            ({"niche": self.archived_slug}, "/niche"),
            ({"niche": self.usd_slug}, "/niche"),
            # regions
            ({"regions": ["XX"]}, "/regions/0"),
            ({"regions": ["RU-MOW", "ru-spe"]}, "/regions/1"),
            ({"regions": ["RU", "RU-MOW"]}, "/regions/1"),
            ({"regions": ["US-CA", "US-CA"]}, "/regions/1"),
            ({"regions": []}, "/regions"),
            ({"regions": "RU"}, "/regions"),
            ({"regions": None}, "/regions"),
            # filters
            ({"filters": {"attributes": {"age": {"gte": 50, "lte": 40}}}}, "/filters/attributes/age/lte"),
            ({"filters": {"attributes": {"purpose": {"eq": "car", "in": ["home"]}}}}, "/filters/attributes/purpose/eq"),
            ({"filters": {"attributes": {"age": {"eq": 30, "gte": 31}}}}, "/filters/attributes/age/eq"),
            ({"filters": {"attributes": {"age": {"in": [20, 21], "gte": 30}}}}, "/filters/attributes/age/in"),
            ({"filters": {"attributes": {"age": {"eq": 17}}}}, "/filters/attributes/age/eq"),
            ({"filters": {"attributes": {"age": {"eq": 30.5}}}}, "/filters/attributes/age/eq"),
            ({"filters": {"attributes": {"purpose": {"eq": "yacht"}}}}, "/filters/attributes/purpose/eq"),
            ({"filters": {"attributes": {"purpose": {"gte": "car"}}}}, "/filters/attributes/purpose/gte"),
            ({"filters": {"attributes": {"height": {"eq": 180}}}}, "/filters/attributes/height"),
            ({"filters": {"attributes": {"age": {"between": [1, 2]}}}}, "/filters/attributes/age/between"),
            ({"filters": {"attributes": {"age": {}}}}, "/filters/attributes/age"),
            ({"filters": {"attributes": {"purpose": {"in": []}}}}, "/filters/attributes/purpose/in"),
            ({"filters": {"required": ["age", "age"]}}, "/filters/required/1"),
            ({"filters": {"required": ["height"]}}, "/filters/required/0"),
            ({"filters": {"min_quality": 101}}, "/filters/min_quality"),
            ({"filters": {"temperatures": ["tepid"]}}, "/filters/temperatures/0"),
            ({"filters": {"temperatures": []}}, "/filters/temperatures"),
            ({"filters": {"colour": "red"}}, "/filters/colour"),
            ({"filters": []}, "/filters"),
            # schedules
            ({"schedule": {"tz": "../../etc/passwd"}}, "/schedule/tz"),
            ({"schedule": {"tz": "/UTC"}}, "/schedule/tz"),
            ({"schedule": {"tz": "Europe/Moscow time"}}, "/schedule/tz"),
            ({"schedule": {"tz": ""}}, "/schedule/tz"),
            ({"schedule": {"tz": "Z" * 65}}, "/schedule/tz"),
            # POSIX TZ rules and non-zones that PostgreSQL would take: not IANA names
            ({"schedule": {"tz": "UTC+25"}}, "/schedule/tz"),
            ({"schedule": {"tz": "STD-167"}}, "/schedule/tz"),
            ({"schedule": {"tz": "+1"}}, "/schedule/tz"),
            ({"schedule": {"tz": "Factory"}}, "/schedule/tz"),
            ({"schedule": {"tz": "localtime"}}, "/schedule/tz"),
            ({"schedule": {"hours": {"mon": [["09:00", "18:00"]]}}}, "/schedule/tz"),
            ({"schedule": {"tz": "UTC", "hours": {"monday": [["09:00", "18:00"]]}}}, "/schedule/hours/monday"),
            ({"schedule": {"tz": "UTC", "hours": {"mon": [["24:00", "24:00"]]}}}, "/schedule/hours/mon/0/0"),
            ({"schedule": {"tz": "UTC", "hours": {"mon": [["09:00", "25:00"]]}}}, "/schedule/hours/mon/0/1"),
            ({"schedule": {"tz": "UTC", "hours": {"mon": [["9:00", "18:00"]]}}}, "/schedule/hours/mon/0/0"),
            ({"schedule": {"tz": "UTC", "hours": {"tue": [["18:00", "09:00"]]}}}, "/schedule/hours/tue/0"),
            ({"schedule": {"tz": "UTC", "hours": {"wed": [["09:00", "13:00"], ["12:00", "18:00"]]}}},
             "/schedule/hours/wed/1"),
            ({"schedule": {"tz": "UTC", "hours": {"thu": [["09:00"]]}}}, "/schedule/hours/thu/0"),
            ({"schedule": {"tz": "UTC", "hours": {"fri": [[f"10:{2 * i:02d}", f"10:{2 * i + 1:02d}"]
                                                          for i in range(11)]}}}, "/schedule/hours/fri"),
            ({"schedule": {"tz": "UTC", "hours": {}}}, "/schedule/hours"),
            ({"schedule": {"tz": "UTC", "days": {}}}, "/schedule/days"),
            ({"schedule": "always"}, "/schedule"),
            # the rest
            ({"daily_cap": 0}, "/daily_cap"),
            ({"daily_cap": 2 ** 31}, "/daily_cap"),
            ({"budget": 0}, "/budget"),
            ({"budget": 2 ** 53}, "/budget"),
            ({"exclude_sources": ["s1", "s1"]}, "/exclude_sources/1"),
            ({"exclude_sources": ["has space"]}, "/exclude_sources/0"),
            ({"exclude_sources": ["x" * 65]}, "/exclude_sources/0"),
            ({"exclude_sources": [f"s{i}" for i in range(1001)]}, "/exclude_sources"),
            ({"exclude_bought_contacts_days": 3651}, "/exclude_bought_contacts_days"),
            ({"exclude_bought_contacts_days": -1}, "/exclude_bought_contacts_days"),
            ({"name": "   "}, "/name"),
            ({"name": "x" * 201}, "/name"),
            ({"status": "archived"}, "/status"),
            ({"bid": 1}, "/bid"),
            ({"spent": 0}, "/spent"),
        ]
        for change, pointer in cases:
            with self.subTest(pointer=pointer, change=str(change)[:80]):
                body = {**self.body(), **change}  # None is sent as null
                self.assert_422(self.post(body), pointer)

    def test_no_price_and_a_real_price(self):
        doc = self.assert_422(self.post(self.body(price_exclusive=None)), "/price_exclusive")
        self.assertEqual(fields(doc), ["/price_exclusive"])
        self.assert_422(self.post({"niche": self.slug, "regions": ["RU"], "price_exclusive": None,
                                   "price_shared": None}), "/price_exclusive")
        self.assert_422(self.post(self.body(price_shared=1.5)), "/price_shared")

    def test_every_failing_field_is_listed(self):
        body = {"niche": self.slug, "regions": ["RU", "XX"], "price_exclusive": 1, "price_shared": 2,
                "filters": {"attributes": {"age": {"gte": 60, "lte": 30}}, "temperatures": ["hot", "hot"]},
                "schedule": {"tz": "Bad Zone"}, "daily_cap": 0, "colour": "red"}
        doc = self.assert_422(self.post(body), "/regions/1", "/price_exclusive", "/price_shared",
                              "/filters/attributes/age/lte", "/filters/temperatures/1", "/schedule/tz", "/daily_cap",
                              "/colour")
        self.assertEqual(len(doc["errors"]), 8, doc)

    def test_currency_and_niche_messages(self):
        doc = self.assert_422(self.post(self.body(niche=self.usd_slug)), "/niche")
        self.assertIn("USD", doc["errors"][0]["message"])
        self.assertIn("RUB", doc["errors"][0]["message"])
        cp = self.create(token=self.adv_usd, niche=self.usd_slug)
        self.before += 1
        self.assertEqual((cp["currency"], cp["advertiser_id"]), ("USD", self.usd_account["id"]))
        doc = self.assert_422(self.post(self.body(niche=self.archived_slug)), "/niche")
        self.assertIn("archived", doc["errors"][0]["message"])

    def test_body_not_an_object_and_malformed_json(self):
        for body in (b"[]", b'"x"', b"42", b"null"):
            with self.subTest(body=body):
                problem(self.post(body), 422, "validation_failed", field="")
        for c in (self.h2, self.h1):
            for body in (b"{", b'{"niche":', b'{"niche":"a",}', b"", b'{"niche": "a", "niche": "b"}'):
                with self.subTest(body=body, proto=c.expect_version):
                    problem(self.post(body, client=c), 400, "malformed_json")
        problem(self.post(self.body(), headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type",
                field="header.content-type")

    def test_roles(self):
        for token in (self.op, self.wm):
            for c in (self.h2, self.h1):
                with self.subTest(proto=c.expect_version):
                    problem(self.post(self.body(), token=token, client=c), 403, "forbidden")
        r = self.h2.post("/v1/campaigns", json=self.body())
        problem(r, 401, "unauthorized")

    def test_idempotency(self):
        key = "camp-" + secrets.token_hex(8)
        first = self.post(self.body(name="Replay"), key=key)
        self.assertEqual(first.status_code, 201, first.text)
        self.before += 1
        for c in (self.h2, self.h1):
            again = self.post(self.body(name="Replay"), key=key, client=c)
            self.assertEqual(again.status_code, 201, again.text)
            self.assertEqual(again.json(), first.json())
        problem(self.post(self.body(name="Other"), key=key), 422, "idempotency_key_reused",
                field="header.idempotency-key")
        # keys are per account: the same key for another advertiser creates its own campaign
        other = self.post(self.body(name="Replay"), key=key, token=self.adv2)
        self.assertEqual(other.status_code, 201, other.text)
        self.before += 1
        self.assertNotEqual(other.json()["id"], first.json()["id"])
        # a replay re-renders the campaign as it is now
        self.assertEqual(self.patch(first.json()["id"], {"name": "Renamed"}).status_code, 200)
        self.assertEqual(self.post(self.body(name="Replay"), key=key).json()["name"], "Renamed")
        # a refused body under a key leaves the key free for the corrected body
        key2 = "camp-" + secrets.token_hex(8)
        self.assert_422(self.post(self.body(price_exclusive=1), key=key2), "/price_exclusive")
        r = self.post(self.body(price_exclusive=50001), key=key2)
        self.assertEqual(r.status_code, 201, r.text)
        self.before += 1
        self.assertEqual(self.post(self.body(price_exclusive=50001), key=key2).json()["id"], r.json()["id"])
        problem(self.post(self.body(), key="x" * 256), 400, "invalid_parameter", field="header.idempotency-key")


# ---------------------------------------------------------------------------------------------------------------
# GET /v1/campaigns, GET /v1/campaigns/{id}


class Read(CampaignApi):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mine = []
        for i in range(5):
            r = cls.h2.post("/v1/campaigns", json={"niche": cls.slug, "regions": ["RU"], "price_shared": 20000 + i,
                                                   "status": "paused" if i % 2 else "active"}, headers=bearer(cls.adv))
            assert r.status_code == 201, r.text
            cls.mine.append(r.json())
        r = cls.h2.post("/v1/campaigns", json={"niche": cls.slug, "regions": ["DE"], "price_exclusive": 70000},
                        headers=bearer(cls.adv2))
        assert r.status_code == 201, r.text
        cls.theirs = r.json()
        other = cls.make_niche()["slug"]
        r = cls.h2.post("/v1/campaigns", json={"niche": other, "regions": ["US"], "price_exclusive": 70000},
                        headers=bearer(cls.adv))
        assert r.status_code == 201, r.text
        cls.other_niche = r.json()

    def all(self, query="", token=None, limit=200):
        items, cursor = [], None
        while True:
            q = f"/v1/campaigns?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
            r = self.h2.get(q, headers=bearer(token or self.adv))
            self.assertEqual(r.status_code, 200, r.text)
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items

    def test_advertisers_see_their_own_operators_everything(self):
        mine = [c["id"] for c in self.mine] + [self.other_niche["id"]]
        self.assertEqual([c["id"] for c in self.all()], sorted(mine))
        self.assertEqual([c["id"] for c in self.all(token=self.adv2)], [self.theirs["id"]])
        self.assertEqual(len(self.all(token=self.op)), len(mine) + 1)
        self.assertEqual(self.all(token=self.adv_usd), [])
        self.assertEqual(self.get(self.mine[0]["id"]).json(), self.mine[0])
        self.assertEqual(self.get(self.theirs["id"], token=self.op).json(), self.theirs)

    def test_another_advertisers_campaign_is_404(self):
        cid = self.theirs["id"]
        problem(self.get(cid), 404, "not_found")
        problem(self.patch(cid, {"name": "mine now"}), 404, "not_found")
        problem(self.action(cid, "pause"), 404, "not_found")
        problem(self.action(cid, "resume"), 404, "not_found")
        self.assertEqual(self.get(cid, token=self.adv2).json(), self.theirs)
        for bad in ("nope", "00000000-0000-0000-0000-000000000000", self.theirs["id"].upper() + "0"):
            problem(self.get(bad), 404, "not_found")
            problem(self.action(bad, "pause"), 404, "not_found")

    def test_webmasters_are_refused(self):
        for path in ("/v1/campaigns", f"/v1/campaigns/{self.mine[0]['id']}"):
            problem(self.h2.get(path, headers=bearer(self.wm)), 403, "forbidden")
        problem(self.patch(self.mine[0]["id"], {"name": "x"}, token=self.wm), 403, "forbidden")
        problem(self.action(self.mine[0]["id"], "pause", token=self.wm), 403, "forbidden")
        problem(self.action(self.mine[0]["id"], "resume", token=self.wm), 403, "forbidden")

    def test_filters_and_pages(self):
        paused = [c["id"] for c in self.mine if c["status"] == "paused"]
        self.assertEqual([c["id"] for c in self.all("&status=paused")], paused)
        self.assertEqual([c["id"] for c in self.all(f"&niche={self.slug}")], [c["id"] for c in self.mine])
        self.assertEqual([c["id"] for c in self.all(f"&niche={self.slug}&status=active")],
                         [c["id"] for c in self.mine if c["status"] == "active"])
        self.assertEqual(self.all("&niche=no-such-niche"), [])
        self.assertEqual(self.all("&status=archived"), [])
        # pages of 2 walk the same list
        self.assertEqual([c["id"] for c in self.all(limit=2)], [c["id"] for c in self.all()])
        r = self.h1.get("/v1/campaigns?limit=2", headers=bearer(self.adv))
        self.assertEqual(len(r.json()["items"]), 2)
        self.assertIsNotNone(r.json()["next_cursor"])

    def test_bad_query_parameters(self):
        for q, field in (("status=gone", "query.status"), ("niche=Not%20A%20Slug", "query.niche"),
                         ("limit=0", "query.limit"), ("limit=201", "query.limit"), ("cursor=zzz", "query.cursor"),
                         ("colour=red", None), ("status=active&status=paused", None)):
            with self.subTest(q=q):
                problem(self.h2.get(f"/v1/campaigns?{q}", headers=bearer(self.adv)), 400, "invalid_parameter",
                        field=field)


# ---------------------------------------------------------------------------------------------------------------
# PATCH, pause, resume


class Update(CampaignApi):
    def assert_unchanged(self, cp):
        self.assertEqual(self.get(cp["id"]).json(), cp, "a refused change wrote something")

    def test_changes_apply_and_nothing_else_moves(self):
        cp = self.create(name="Before", price_shared=25000, daily_cap=10, budget=100000)
        changes = [
            {"name": "After"}, {"name": None}, {"regions": ["US", "RU-MOW"]}, {"price_exclusive": 80000},
            {"price_shared": None}, {"price_shared": 30000},
            {"filters": {"attributes": {"purpose": {"eq": "home"}}, "min_quality": 20}},
            {"schedule": {"tz": "Asia/Tokyo", "hours": {"sun": [["10:00", "11:00"]]}}}, {"schedule": None},
            {"daily_cap": None}, {"daily_cap": 3}, {"budget": None}, {"budget": 7},
            {"exclude_sources": ["sub-9"]}, {"exclude_sources": []}, {"exclude_bought_contacts_days": 7},
            {"filters": None}, {"status": "paused"}, {"status": "active"},
        ]
        for change in changes:
            with self.subTest(change=change):
                r = self.patch(cp["id"], change)
                self.assertEqual(r.status_code, 200, r.text)
                new = r.json()
                expect = dict(cp)
                for k, v in change.items():
                    expect[k] = v
                if "filters" in change:
                    expect["filters"] = {**NO_FILTERS, **(change["filters"] or {})}
                if change.get("schedule"):
                    expect["schedule"] = {"tz": change["schedule"]["tz"],
                                          "hours": {d: change["schedule"]["hours"].get(d, []) for d in DAYS}}
                self.assertGreaterEqual(new["updated_at"], cp["updated_at"])
                expect["updated_at"] = new["updated_at"]
                self.assertEqual(new, expect)
                self.assertEqual(self.get(cp["id"], client=self.h1).json(), new)
                cp = new

    def test_bid_seq_moves_only_when_a_price_changes(self):
        a = self.create(price_shared=20000)
        b = self.create()
        seq = self.bid_seq(a["id"])
        self.assertLess(seq, self.bid_seq(b["id"]), "bids are ordered by when they were set")
        for change in ({"name": "x"}, {"regions": ["DE"]}, {"price_exclusive": 50000}, {"price_shared": 20000},
                       {"daily_cap": 5}, {"status": "paused"}, {"status": "active"}, {"filters": {"min_quality": 1}}):
            with self.subTest(change=change):
                self.assertEqual(self.patch(a["id"], change).status_code, 200)
                self.assertEqual(self.bid_seq(a["id"]), seq, "bid_seq moved without a price change")
        for verb in ("pause", "resume"):
            self.assertEqual(self.action(a["id"], verb).status_code, 200)
            self.assertEqual(self.bid_seq(a["id"]), seq)
        for change in ({"price_exclusive": 50001}, {"price_shared": 20001}, {"price_shared": None},
                       {"price_shared": 20000, "price_exclusive": 60000}):
            with self.subTest(change=change):
                self.assertEqual(self.patch(a["id"], change).status_code, 200)
                now = self.bid_seq(a["id"])
                self.assertGreater(now, seq, "a changed price keeps its place")
                self.assertGreater(now, self.bid_seq(b["id"]), "a re-set bid goes behind the equal bids")
                seq = now
        # a refused change moves nothing
        self.assert_422(self.patch(a["id"], {"price_exclusive": 1}), "/price_exclusive")
        self.assertEqual(self.bid_seq(a["id"]), seq)

    def test_a_campaign_keeps_one_price(self):
        cp = self.create(price_shared=20000)
        doc = self.assert_422(self.patch(cp["id"], {"price_exclusive": None, "price_shared": None}),
                              "/price_exclusive", "/price_shared")
        self.assertEqual(len(doc["errors"]), 2)
        self.assert_unchanged(cp)
        r = self.patch(cp["id"], {"price_exclusive": None})
        self.assertEqual(r.status_code, 200, r.text)
        cp = r.json()
        self.assertEqual((cp["price_exclusive"], cp["price_shared"]), (None, 20000))
        self.assertEqual(fields(self.assert_422(self.patch(cp["id"], {"price_shared": None}))), ["/price_shared"])
        self.assert_unchanged(cp)

    def test_bad_changes_name_the_field_and_write_nothing(self):
        cp = self.create(schedule={"tz": "Europe/Berlin", "hours": {"mon": [["08:00", "20:00"]]}})
        cases = [
            ({}, ""), ({"niche": self.usd_slug}, "/niche"), ({"niche": self.slug}, "/niche"),
            ({"price_exclusive": 49999}, "/price_exclusive"), ({"price_shared": 1}, "/price_shared"),
            ({"regions": ["XX"]}, "/regions/0"), ({"regions": None}, "/regions"), ({"regions": []}, "/regions"),
            ({"filters": {"attributes": {"age": {"gte": 90, "lte": 20}}}}, "/filters/attributes/age/lte"),
            ({"filters": {"attributes": {"nope": {"eq": 1}}}}, "/filters/attributes/nope"),
            ({"schedule": {"tz": "Mars/Olympus"}}, "/schedule/tz"),
            ({"schedule": {"tz": "Mars/Olympus", "hours": {"mon": [["09:00", "10:00"]]}}}, "/schedule/tz"),
            ({"schedule": {"tz": "UTC", "hours": {"mon": [["10:00", "09:00"]]}}}, "/schedule/hours/mon/0"),
            ({"daily_cap": 0}, "/daily_cap"), ({"budget": -1}, "/budget"), ({"status": "deleted"}, "/status"),
            ({"exclude_bought_contacts_days": None}, "/exclude_bought_contacts_days"), ({"id": cp["id"]}, "/id"),
        ]
        for change, pointer in cases:
            with self.subTest(change=change):
                self.assert_422(self.patch(cp["id"], change), pointer)
                self.assert_unchanged(cp)
        for body in (b"[]", b"null", b'"paused"'):
            problem(self.patch(cp["id"], body), 422, "validation_failed", field="")
        problem(self.patch(cp["id"], b"{"), 400, "malformed_json")
        self.assertEqual(self.sql(f"SELECT tz FROM campaigns WHERE id = '{cp['id']}'"), "Europe/Berlin")

    def test_operators_change_only_the_status(self):
        cp = self.create()
        for change in ({"name": "ops"}, {"status": "paused", "price_exclusive": 90000}, {"daily_cap": 1}):
            with self.subTest(change=change):
                problem(self.patch(cp["id"], change, token=self.op), 403, "forbidden")
                self.assert_unchanged(cp)
        r = self.patch(cp["id"], {"status": "paused"}, token=self.op)
        self.assertEqual((r.status_code, r.json()["status"]), (200, "paused"), r.text)
        self.assertEqual(self.action(cp["id"], "resume", token=self.op).json()["status"], "active")
        self.assertEqual(self.action(cp["id"], "pause", token=self.op).json()["status"], "paused")
        self.assert_422(self.patch(cp["id"], {"status": "gone"}, token=self.op), "/status")

    def test_pause_and_resume(self):
        cp = self.create()
        for c in (self.h2, self.h1):
            with self.subTest(proto=c.expect_version):
                r = self.action(cp["id"], "pause", client=c)
                self.assertEqual(r.status_code, 200, r.text)
                paused = r.json()
                self.assertEqual(paused["status"], "paused")
                # pausing again changes nothing, not even updated_at
                again = self.action(cp["id"], "pause", client=c).json()
                self.assertEqual(again, paused)
                r = self.action(cp["id"], "resume", client=c)
                self.assertEqual(r.json()["status"], "active")
                self.assertEqual(self.action(cp["id"], "resume", client=c).json(), r.json())
                self.assertEqual(self.get(cp["id"]).json(), r.json())

    def test_archived_is_final(self):
        cp = self.create()
        r = self.patch(cp["id"], {"status": "archived"})
        self.assertEqual((r.status_code, r.json()["status"]), (200, "archived"), r.text)
        archived = r.json()
        for change in ({"status": "active"}, {"name": "revived"}, {"status": "archived"}):
            problem(self.patch(cp["id"], change), 409, "conflict")
        problem(self.patch(cp["id"], {"status": "active"}, token=self.op), 409, "conflict")
        for verb in ("resume", "pause"):
            problem(self.action(cp["id"], verb), 409, "conflict")
            problem(self.action(cp["id"], verb, token=self.op), 409, "conflict")
        self.assertEqual(self.get(cp["id"]).json(), archived)
        archived_ids = [c["id"] for c in self.h2.get("/v1/campaigns?status=archived&limit=200",
                                                     headers=bearer(self.adv)).json()["items"]]
        self.assertIn(cp["id"], archived_ids)
        self.assertNotIn(cp["id"], [c["id"] for c in self.h2.get("/v1/campaigns?status=active&limit=200",
                                                                 headers=bearer(self.adv)).json()["items"]])

    def test_budget_below_spent_is_409(self):
        cp = self.create(budget=10000)
        self.sql(f"UPDATE campaigns SET spent = 6000 WHERE id = '{cp['id']}'")
        problem(self.patch(cp["id"], {"budget": 5999}), 409, "conflict", field="/budget")
        cp = self.get(cp["id"]).json()
        self.assertEqual((cp["budget"], cp["spent"]), (10000, 6000))
        self.assertEqual(self.patch(cp["id"], {"budget": 6000}).json()["budget"], 6000)
        self.assertEqual(self.patch(cp["id"], {"budget": None}).json()["budget"], None)

    def racing_change(self, cid, sql, change):
        """PATCHes `change` while another transaction holds the row with `sql` done and not committed: the PATCH
        reads the committed row, passes its checks, waits on the row lock, then meets the other change. Returns the
        PATCH's answer (the other transaction commits)."""
        session = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.db_url],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        session.stdin.write(f"BEGIN;\n{sql};\nSELECT 'held';\n")
        session.stdin.flush()
        self.assertEqual(session.stdout.readline().strip(), "held", session.stderr.read() if session.poll() else "")
        answer = {}
        client = self.server.client(http2=False)
        t = threading.Thread(target=lambda: answer.setdefault("r", self.patch(cid, change, client=client)))
        try:
            t.start()
            wait_for(lambda: self.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND query LIKE '%UPDATE campaigns c SET%'") != "0",
                     10, interval=0.05, what="the PATCH to wait on the row")
        finally:
            session.stdin.write("COMMIT;\n\\q\n")
            session.stdin.flush()
            session.stdin.close()
            session.wait(timeout=30)
            t.join(15)
        return answer["r"]

    def test_a_concurrent_change_is_a_conflict_and_writes_nothing(self):
        cp = self.create(budget=10000, name="racing")
        r = self.racing_change(cp["id"], f"UPDATE campaigns SET spent = 9000 WHERE id = '{cp['id']}'",
                               {"budget": 5000, "name": "lost"})
        problem(r, 409, "conflict")
        now = self.get(cp["id"]).json()
        self.assertEqual((now["budget"], now["spent"], now["name"]), (10000, 9000, "racing"))
        cp = now
        r = self.racing_change(cp["id"], f"UPDATE campaigns SET status = 'archived' WHERE id = '{cp['id']}'",
                               {"name": "lost"})
        problem(r, 409, "conflict")
        self.assertEqual(self.get(cp["id"]).json()["name"], "racing")

    def test_today_count_in_the_campaigns_time_zone(self):
        # Kiritimati is UTC+14, Pago Pago UTC-11: their dates always differ
        cp = self.create(daily_cap=10, schedule={"tz": "Pacific/Kiritimati"})
        self.assertEqual(cp["today_count"], 0)
        self.sql(f"UPDATE campaigns SET daily_count = 4, daily_day = (now() AT TIME ZONE 'Pacific/Kiritimati')::date "
                 f"WHERE id = '{cp['id']}'")
        self.assertEqual(self.get(cp["id"]).json()["today_count"], 4)
        listed = [c for c in self.h2.get("/v1/campaigns?limit=200", headers=bearer(self.adv)).json()["items"]
                  if c["id"] == cp["id"]]
        self.assertEqual(listed[0]["today_count"], 4)
        # a cap below today's count conflicts; at it is fine
        problem(self.patch(cp["id"], {"daily_cap": 3}), 409, "conflict", field="/daily_cap")
        self.assertEqual(self.patch(cp["id"], {"daily_cap": 4}).json()["daily_cap"], 4)
        # a count of another local day is not today's
        self.sql(f"UPDATE campaigns SET daily_day = daily_day - 1 WHERE id = '{cp['id']}'")
        self.assertEqual(self.get(cp["id"]).json()["today_count"], 0)
        self.assertEqual(self.patch(cp["id"], {"daily_cap": 1}).json()["today_count"], 0)
        # moving the campaign to a zone on another date: the count was that zone's yesterday or tomorrow
        self.sql(f"UPDATE campaigns SET daily_cap = NULL, daily_count = 4, "
                 f"daily_day = (now() AT TIME ZONE 'Pacific/Kiritimati')::date WHERE id = '{cp['id']}'")
        r = self.patch(cp["id"], {"schedule": {"tz": "Pacific/Pago_Pago"}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["today_count"], 0)
        self.assertEqual(self.patch(cp["id"], {"daily_cap": 1}).status_code, 200)


if __name__ == "__main__":
    main()
