"""Accounts: create, get, list with pagination and filters, query parameter errors."""
import datetime
import urllib.parse

from harness import TOKEN_RE, ServerTestCase, bearer, main, problem


def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


class CreateAndGet(ServerTestCase):
    def test_create_webmaster_and_advertiser(self):
        for c in (self.h2, self.h1):
            for role, currency, rate in (("webmaster", "USD", None), ("advertiser", "RUB", 250)):
                with self.subTest(role=role, proto=c.expect_version):
                    body = {"role": role, "name": f"Acme {role}", "currency": currency}
                    if rate is not None:
                        body["rate_limit"] = rate
                    before = datetime.datetime.now(datetime.timezone.utc)
                    r = c.post("/v1/accounts", json=body, headers=bearer(self.op))
                    self.assertEqual(r.status_code, 201, r.text)
                    doc = r.json()
                    acct, key = doc["account"], doc["key"]
                    self.assertEqual((acct["role"], acct["name"], acct["currency"], acct["status"], acct["rate_limit"]),
                                     (role, f"Acme {role}", currency, "active", rate))
                    self.assertEqual(acct["created_at"], acct["updated_at"])
                    self.assertLess(abs((ts(acct["created_at"]) - before).total_seconds()), 60)
                    self.assertEqual(key["account_id"], acct["id"])
                    self.assertEqual((key["label"], key["last_used_at"], key["revoked_at"]), (None, None, None))
                    self.assertTrue(TOKEN_RE.match(key["token"]))
                    self.assertEqual(key["token"][3:35], key["id"].replace("-", ""))
                    # The new key works and belongs to the new account.
                    me = self.me(key["token"]).json()
                    self.assertEqual(me["account"], acct)
                    self.assertEqual(me["key_id"], key["id"])
                    # GET answers the same account.
                    got = c.get(f"/v1/accounts/{acct['id']}", headers=bearer(self.op))
                    self.assertEqual(got.json(), acct)

    def test_explicit_null_rate_limit_and_bounds(self):
        for rate in (None, 1, 1000000):
            acct, _ = self.create_account("webmaster", rate_limit=rate)
            self.assertEqual(acct["rate_limit"], rate)

    def test_name_is_trimmed_and_unicode_counts_characters(self):
        acct, _ = self.create_account("webmaster", name="  Spaced Out  ")
        self.assertEqual(acct["name"], "Spaced Out")
        name = "Ж" * 200  # 200 characters, 400 bytes
        acct, _ = self.create_account("advertiser", name=name)
        self.assertEqual(acct["name"], name)
        acct, _ = self.create_account("advertiser", name="Ünïcødé 🚀 名前")
        self.assertEqual(acct["name"], "Ünïcødé 🚀 名前")

    def test_charset_utf8_content_type_is_accepted(self):
        for ct in ("application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"):
            with self.subTest(ct=ct):
                r = self.h2.post("/v1/accounts", content=b'{"role":"webmaster","name":"ct","currency":"USD"}',
                                 headers={**bearer(self.op), "Content-Type": ct})
                self.assertEqual(r.status_code, 201, r.text)

    def test_ids_are_time_ordered(self):
        ids = [self.create_account("webmaster")[0]["id"] for _ in range(5)]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 5)

    def test_get_malformed_and_unknown_ids_404(self):
        for bad in ("not-a-uuid", "123", "00000000000070008000000000000000", "x" * 300, "%00",
                    "00000000-0000-7000-8000-00000000000g"):
            with self.subTest(id=bad):
                doc = problem(self.h2.get(f"/v1/accounts/{bad}", headers=bearer(self.op)), 404, "not_found")
                self.assertIn("path.id", [e["field"] for e in doc["errors"]])
        doc = problem(self.h2.get("/v1/accounts/0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee", headers=bearer(self.op)),
                      404, "not_found")


class Listing(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.made = {"webmaster": [], "advertiser": []}
        for i in range(7):
            role = "webmaster" if i % 2 == 0 else "advertiser"
            r = cls.h2.post("/v1/accounts", json={"role": role, "name": f"L{i}", "currency": "USD"},
                            headers=bearer(cls.op))
            assert r.status_code == 201, r.text
            cls.made[role].append(r.json()["account"])
        cls.op_account = cls.h2.get("/v1/me", headers=bearer(cls.op)).json()["account"]

    def walk(self, limit=None, role=None, client=None):
        pages, cursor = [], None
        while True:
            params = {}
            if limit is not None:
                params["limit"] = limit
            if role is not None:
                params["role"] = role
            if cursor is not None:
                params["cursor"] = cursor
            r = (client or self.h2).get("/v1/accounts", params=params, headers=bearer(self.op))
            self.assertEqual(r.status_code, 200, r.text)
            doc = r.json()
            pages.append(doc["items"])
            if limit is not None:
                self.assertLessEqual(len(doc["items"]), limit)
            cursor = doc["next_cursor"]
            if cursor is None:
                return pages
            self.assertEqual(len(doc["items"]), limit or 50, "a partial page must be the last one")
            self.assertLess(len(pages), 50, "pagination does not end")

    def test_default_page_has_everything(self):
        pages = self.walk()
        self.assertEqual(len(pages), 1)
        items = pages[0]
        expected = sorted([self.op_account] + self.made["webmaster"] + self.made["advertiser"], key=lambda a: a["id"])
        self.assertEqual(items, expected)

    def test_pages_of_two(self):
        for c in (self.h2, self.h1):
            pages = self.walk(limit=2, client=c)
            items = [a for p in pages for a in p]
            ids = [a["id"] for a in items]
            self.assertEqual(ids, sorted(ids))
            self.assertEqual(len(ids), len(set(ids)))
            self.assertEqual(len(ids), 8)
            # 2+2+2+2; a full last page may still carry a cursor, whose page is then empty.
            self.assertIn([len(p) for p in pages], ([2, 2, 2, 2], [2, 2, 2, 2, 0]))

    def test_limit_one_and_two_hundred(self):
        self.assertEqual(len([a for p in self.walk(limit=1) for a in p]), 8)
        self.assertEqual(len(self.walk(limit=200)[0]), 8)

    def test_role_filter(self):
        for role in ("webmaster", "advertiser", "operator"):
            with self.subTest(role=role):
                items = [a for p in self.walk(limit=3, role=role) for a in p]
                want = self.made.get(role, []) if role != "operator" else [self.op_account]
                self.assertEqual(items, sorted(want, key=lambda a: a["id"]))

    def test_bad_limits(self):
        for value in ("0", "201", "abc", "-1", "", "1.5", "+5", " 5", "99999999999999999999", "0x10", "1e2"):
            with self.subTest(limit=value):
                r = self.h2.get("/v1/accounts?limit=" + urllib.parse.quote(value), headers=bearer(self.op))
                problem(r, 400, "invalid_parameter", field="query.limit")

    def test_bad_cursors(self):
        good = self.h2.get("/v1/accounts?limit=1", headers=bearer(self.op)).json()["next_cursor"]
        self.assertIsNotNone(good)
        for value in ("garbage", "", good + "A", good[:-1], "!" * len(good), good[:-1] + "=",
                      "AAAAAAAAAAAAAAAAAAAAAA==", "%FF%FE"):
            with self.subTest(cursor=value):
                r = self.h2.get("/v1/accounts?cursor=" + value, headers=bearer(self.op))
                problem(r, 400, "invalid_parameter", field="query.cursor")

    def test_unknown_and_repeated_parameters(self):
        for query, field in (("foo=1", "query.foo"), ("limit=2&bar", "query.bar"), ("LIMIT=2", "query.LIMIT"),
                             ("limit=2&limit=3", "query.limit"), ("role=admin", "query.role"),
                             ("role=", "query.role"), ("offset=10", "query.offset")):
            with self.subTest(query=query):
                r = self.h2.get("/v1/accounts?" + query, headers=bearer(self.op))
                problem(r, 400, "invalid_parameter", field=field)

    def test_empty_query_string_and_separators_are_fine(self):
        for query in ("", "&", "limit=2&"):
            with self.subTest(query=query):
                r = self.h2.get("/v1/accounts?" + query, headers=bearer(self.op))
                self.assertEqual(r.status_code, 200, r.text)

    def test_percent_encoded_parameter(self):
        r = self.h2.get("/v1/accounts?%6Cimit=%31", headers=bearer(self.op))  # limit=1
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len(r.json()["items"]), 1)


if __name__ == "__main__":
    main()
