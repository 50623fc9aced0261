"""Bad input: never a 500, never a partial write, always a 4xx problem naming the field.
JSON syntax (400 malformed_json), field validation (422 validation_failed), media type (415), body size (413, on
HTTP/1.1 and HTTP/2)."""
import json

import httpx

from harness import ServerTestCase, bearer, main, problem

GOOD = {"role": "webmaster", "name": "Valid Name", "currency": "USD"}
JSON = {"Content-Type": "application/json"}


def nested(depth):
    """An object nested `depth` levels deep (the top-level object is level 1)."""
    v = 1
    for _ in range(depth):
        v = {"a": v}
    return json.dumps(v).encode()


class BadInput(ServerTestCase):
    def post(self, body, client=None, headers=None, raw=False):
        content = body if raw else json.dumps(body).encode()
        return (client or self.h2).post("/v1/accounts", content=content,
                                        headers={**bearer(self.op), **JSON, **(headers or {})})

    def count_accounts(self):
        r = self.h2.get("/v1/accounts?limit=200", headers=bearer(self.op))
        self.assertEqual(r.status_code, 200)
        return len(r.json()["items"])

    def setUp(self):
        self.before = self.count_accounts()

    def tearDown(self):
        super().tearDown()
        # Invariant 8: bad input never writes anything. Tests that create on purpose reset self.before.
        self.assertEqual(self.count_accounts(), self.before, "a rejected request created an account")

    # -- 400 malformed_json -------------------------------------------------------------------------------------

    def test_malformed_json(self):
        for c in (self.h2, self.h1):
            for body in (b"{", b'{"role":', b"{'role': 'webmaster'}", b'{"role":"webmaster",}', b"nul",
                         b'{"name":"x"} trailing', b"\xef\xbb\xbf{}", b'{"a":1}{"b":2}', b"[1,]", b'{"a":01}',
                         b'{"a":NaN}', b'{"a":"\\x41"}', b'{"a":"unterminated}'):
                with self.subTest(body=body, proto=c.expect_version):
                    doc = problem(self.post(body, client=c, raw=True), 400, "malformed_json", field="")
                    self.assertEqual(len(doc["errors"]), 1)

    def test_empty_body(self):
        for c in (self.h2, self.h1):
            problem(self.post(b"", client=c, raw=True), 400, "malformed_json", field="")
            r = c.post("/v1/accounts", headers=bearer(self.op))  # no body, no content type
            problem(r, 400, "malformed_json", field="")

    def test_duplicate_keys(self):
        for body in (b'{"role":"webmaster","name":"a","name":"b","currency":"USD"}',
                     b'{"role":"webmaster","name":"a","currency":"USD","currency":"USD"}',
                     b'{"role":"webmaster","name":"a","currency":"USD","x":{"k":1,"k":1}}'):
            with self.subTest(body=body):
                problem(self.post(body, raw=True), 400, "malformed_json", field="")

    def test_nesting_depth(self):
        for c in (self.h2, self.h1):
            problem(self.post(nested(33), client=c, raw=True), 400, "malformed_json", field="")
            problem(self.post(b"[" * 33 + b"]" * 33, client=c, raw=True), 400, "malformed_json", field="")
            problem(self.post(b"[" * 100000 + b"]" * 100000, client=c, raw=True), 400, "malformed_json", field="")
            # 32 levels parse; the document is then just invalid as an account (422, naming the fields).
            doc = problem(self.post(nested(32), client=c, raw=True), 422, "validation_failed", field="/a")
            self.assertIn("/role", [e["field"] for e in doc["errors"]])

    def test_invalid_utf8(self):
        for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf", b"\xe2\x82"):
            with self.subTest(bytes=bad):
                body = b'{"role":"webmaster","name":"x' + bad + b'","currency":"USD"}'
                problem(self.post(body, raw=True), 400, "malformed_json", field="")
        # Invalid UTF-8 in a key, too.
        problem(self.post(b'{"role":"webmaster","name":"x","currency":"USD","\xff":1}', raw=True), 400,
                "malformed_json")

    def test_nul_escape(self):
        problem(self.post(b'{"role":"webmaster","name":"a\\u0000b","currency":"USD"}', raw=True), 400,
                "malformed_json")

    # -- 422 validation_failed ----------------------------------------------------------------------------------

    def test_wrong_types(self):
        cases = [("role", 1), ("role", None), ("name", 123), ("name", None), ("name", ["a"]), ("name", {"x": 1}),
                 ("currency", 840), ("currency", True), ("rate_limit", "5"), ("rate_limit", 5.5),
                 ("rate_limit", True), ("rate_limit", [1]), ("rate_limit", 1e3)]
        for field, value in cases:
            with self.subTest(field=field, value=value):
                doc = problem(self.post({**GOOD, field: value}), 422, "validation_failed", field="/" + field)
                self.assertEqual([e["field"] for e in doc["errors"]], ["/" + field])

    def test_body_not_an_object(self):
        for body in ([], [GOOD], {"role": [GOOD]}):
            with self.subTest(body=body):
                doc = problem(self.post(body), 422, "validation_failed")
                self.assertTrue(doc["errors"])

    def test_top_level_scalars_are_422(self):
        """`7`, `"x"`, `null` are well-formed JSON (RFC 8259), not objects: a wrong type, field ""."""
        for body in (b"7", b'"x"', b"null", b"false"):
            with self.subTest(body=body):
                problem(self.post(body, raw=True), 422, "validation_failed", field="")

    def test_unknown_fields_are_named(self):
        doc = problem(self.post({**GOOD, "email": "a@b.c"}), 422, "validation_failed", field="/email")
        self.assertEqual([e["field"] for e in doc["errors"]], ["/email"])
        doc = problem(self.post({**GOOD, "a/b": 1, "t~x": 2}), 422, "validation_failed")
        self.assertEqual(sorted(e["field"] for e in doc["errors"]), ["/a~1b", "/t~0x"])  # JSON Pointer escapes
        problem(self.post({**GOOD, "status": "active"}), 422, "validation_failed", field="/status")
        problem(self.post({**GOOD, "id": "x"}), 422, "validation_failed", field="/id")

    def test_missing_fields(self):
        for missing in ("role", "name", "currency"):
            with self.subTest(missing=missing):
                body = {k: v for k, v in GOOD.items() if k != missing}
                doc = problem(self.post(body), 422, "validation_failed", field="/" + missing)
                self.assertEqual([e["field"] for e in doc["errors"]], ["/" + missing])
        doc = problem(self.post({}), 422, "validation_failed")
        self.assertEqual(sorted(e["field"] for e in doc["errors"]), ["/currency", "/name", "/role"])

    def test_every_failing_field_is_listed(self):
        body = {"role": "operator", "name": "", "currency": "usd", "rate_limit": 0, "extra": 1}
        doc = problem(self.post(body), 422, "validation_failed")
        self.assertEqual(sorted(e["field"] for e in doc["errors"]),
                         ["/currency", "/extra", "/name", "/rate_limit", "/role"])
        for e in doc["errors"]:
            self.assertTrue(e["message"])

    def test_roles(self):
        for role in ("operator", "admin", "Webmaster", ""):
            with self.subTest(role=role):
                problem(self.post({**GOOD, "role": role}), 422, "validation_failed", field="/role")

    def test_names(self):
        for name in ("", " ", "     ", "a" * 201, "Ж" * 201, "tab\there", "new\nline", "nul\x01", "del\x7f",
                     "esc\x1b[31m", "cr\r"):
            with self.subTest(name=name[:20]):
                problem(self.post({**GOOD, "name": name}), 422, "validation_failed", field="/name")

    def test_currencies(self):
        for cur in ("usd", "US", "USDD", "", "ZZZ", "QQQ", "U$D", "ЕUR", "12A"):
            with self.subTest(currency=cur):
                problem(self.post({**GOOD, "currency": cur}), 422, "validation_failed", field="/currency")

    def test_rate_limits(self):
        for rate in (0, -1, 1000001, 2 ** 31, 2 ** 63 - 1, -(2 ** 63)):
            with self.subTest(rate=rate):
                problem(self.post({**GOOD, "rate_limit": rate}), 422, "validation_failed", field="/rate_limit")

    def test_huge_integer_is_out_of_range(self):
        """A 23-digit integer is well-formed JSON; for rate_limit it is out of range: 422 naming /rate_limit."""
        problem(self.post(b'{"role":"webmaster","name":"a","currency":"USD","rate_limit":99999999999999999999999}',
                          raw=True), 422, "validation_failed", field="/rate_limit")

    def test_boundaries_accepted(self):
        for body in ({**GOOD, "name": "a" * 200}, {**GOOD, "name": "x"}, {**GOOD, "rate_limit": 1},
                     {**GOOD, "rate_limit": 1000000}, {**GOOD, "rate_limit": None}):
            with self.subTest(body=str(body)[:60]):
                self.assertEqual(self.post(body).status_code, 201)
        self.before += 5

    # -- 415 ------------------------------------------------------------------------------------------------

    def test_wrong_content_type(self):
        for c in (self.h2, self.h1):
            for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", "json",
                       "application/json; charset=latin-1", "application/problem+json", "multipart/form-data"):
                with self.subTest(ct=ct, proto=c.expect_version):
                    r = self.post(GOOD, client=c, headers={"Content-Type": ct})
                    problem(r, 415, "unsupported_media_type", field="header.content-type")
            r = c.post("/v1/accounts", content=json.dumps(GOOD).encode(), headers=bearer(self.op))  # no type
            problem(r, 415, "unsupported_media_type", field="header.content-type")

    # -- 413 ------------------------------------------------------------------------------------------------

    def big_body(self, size):
        pad = size - len(json.dumps({**GOOD, "pad": ""}))
        return json.dumps({**GOOD, "pad": "x" * pad}).encode()

    def test_body_over_one_mib_413_http2(self):
        body = self.big_body(1536 * 1024)
        problem(self.post(body, raw=True), 413, "payload_too_large")
        # The connection survives and the next request works.
        self.assertEqual(self.h2.get("/v1/me", headers=bearer(self.op)).status_code, 200)

    def test_body_over_one_mib_413_http1(self):
        body = self.big_body(1536 * 1024)
        problem(self.post(body, client=self.h1, raw=True), 413, "payload_too_large")
        self.assertEqual(self.h1.get("/healthz").status_code, 200)

    def test_body_at_the_cap_is_parsed(self):
        # Exactly 1 MiB is allowed through to the JSON layer (then 422 for the unknown field).
        body = self.big_body(1024 * 1024)
        self.assertEqual(len(body), 1024 * 1024)
        for c in (self.h2, self.h1):
            problem(self.post(body, client=c, raw=True), 422, "validation_failed", field="/pad")
        problem(self.post(body + b" ", raw=True), 413, "payload_too_large")

    def test_body_beyond_twice_the_cap_is_refused_by_h2o(self):
        """Documented protocol-level behaviour: beyond 2 x the largest route cap (the lead batch route's 8 MiB), h2o
        itself refuses the body (HTTP/2: RST_STREAM REFUSED_STREAM, the connection lives on; HTTP/1.1: 413 text/plain
        or a reset)."""
        body = b"x" * (17 << 20)
        with self.assertRaises(httpx.RemoteProtocolError) as ctx:
            self.post(body, raw=True)
        self.assertIn("error_code:7", str(ctx.exception))  # REFUSED_STREAM
        self.assertEqual(self.h2.get("/healthz").status_code, 200)
        with self.h1.unchecked():
            try:
                r = self.post(body, client=self.h1, raw=True)
                self.assertEqual(r.status_code, 413)
            except httpx.TransportError:
                pass
        self.assertEqual(self.h1.get("/healthz").status_code, 200)

    def test_instants_beyond_the_year_9999_are_400(self):
        """A valid RFC 3339 local time whose offset carries the instant past 9999-12-31T23:59:59.999999Z in UTC names
        a time no four-digit year can: 400 naming the parameter, on every route that takes one (it once reached
        PostgreSQL as the year 0000: 500, and a broken stream on the export)."""
        wm_acc, wm = self.create_account("webmaster", currency="RUB")
        _, adv = self.create_account("advertiser", currency="RUB")
        self.before = self.count_accounts()
        late, last = "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999+00:00"
        routes = [("/v1/leads", wm, "since"), ("/v1/ledger", wm, "since"), ("/v1/receipts", wm, "since"),
                  ("/v1/receipts/export", wm, "since"), ("/v1/purchases", adv, "since"), ("/v1/leads", self.op, "since"),
                  ("/v1/audit/actions", self.op, "since"), (f"/v1/accounts/{wm_acc['id']}/statement", wm, "from"),
                  (f"/v1/accounts/{wm_acc['id']}/statement", wm, "to")]
        for path, token, name in routes:
            for c in (self.h2, self.h1):
                with self.subTest(path=path, param=name, http2=c is self.h2):
                    problem(c.get(path, params={name: late}, headers=bearer(token)), 400, "invalid_parameter",
                            f"query.{name}")
                    ok = {"from": "9999-12-31T23:59:58Z", "to": last} if name == "from" else {name: last}
                    self.assertEqual(c.get(path, params=ok, headers=bearer(token)).status_code, 200)

    def test_a_long_unknown_parameter_is_named_whole_characters(self):
        """The field names at most 80 bytes of the parameter, cut between characters, never through one."""
        for name, want in (("ж" * 50, "ж" * 40), ("a" + "ж" * 50, "a" + "ж" * 39), ("x" * 100, "x" * 80), ("€", "€")):
            with self.subTest(name=name[:3]):
                r = self.h2.get("/v1/accounts", params={name: "1"}, headers=bearer(self.op))
                problem(r, 400, "invalid_parameter", f"query.{want}")
                self.assertNotIn("\ufffd", r.text)

    def test_413_before_authentication(self):
        r = self.h2.post("/v1/accounts", content=self.big_body(1536 * 1024), headers=JSON)
        problem(r, 413, "payload_too_large")


if __name__ == "__main__":
    main()
