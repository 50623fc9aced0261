"""Authentication (401 with WWW-Authenticate) and role boundaries (403 for a wrong role, 404 for another
account's resources, self-access allowed), suspended accounts (403)."""
import base64
import secrets
import uuid

from harness import ServerTestCase, bearer, main, problem, psql, wait_for

ZERO_ID = "00000000-0000-7000-8000-000000000000"


def random_token():
    key_id = uuid.UUID(bytes=secrets.token_bytes(16)).hex
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f"lx_{key_id}_{secret}"


class Authentication(ServerTestCase):
    def assert_401(self, headers, client=None, path="/v1/me"):
        r = (client or self.h2).get(path, headers=headers)
        doc = problem(r, 401, "unauthorized")
        self.assertTrue(r.headers["www-authenticate"].startswith("Bearer"), r.headers["www-authenticate"])
        return doc

    def test_missing_header(self):
        for c in (self.h2, self.h1):
            doc = self.assert_401({}, client=c)
            self.assertEqual([e["field"] for e in doc["errors"]], ["header.authorization"])

    def test_wrong_scheme(self):
        for value in (f"Basic {base64.b64encode(b'a:b').decode()}", f"Token {self.op}", self.op, "Bearer",
                      "Bearer ", f"Bearer{self.op}"):
            with self.subTest(value=value):
                self.assert_401({"Authorization": value})

    def test_scheme_is_case_insensitive(self):
        self.assertEqual(self.h2.get("/v1/me", headers={"Authorization": f"bearer {self.op}"}).status_code, 200)

    def test_malformed_tokens(self):
        good = self.op
        cases = [
            "lx_", "abc", good[:-1], good + "A", good.replace("lx_", "xx_", 1), good.upper(),
            "lx_" + "g" * 32 + "_" + "A" * 43,  # not hex
            "lx_" + "0" * 31 + "_" + "A" * 44,  # wrong split
            good[:3] + good[3:35].upper() + good[35:],  # upper-case hex key id
            good[:35] + "-" + good[36:],  # wrong separator
            good[:-1] + "=",  # base64 padding / bad alphabet
            good + " trailing",
        ]
        for token in cases:
            with self.subTest(token=token):
                self.assert_401(bearer(token))

    def test_unknown_key_id(self):
        for _ in range(3):
            self.assert_401(bearer(random_token()))

    def test_wrong_secret(self):
        secret = self.op[36:]
        flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
        bad = self.op[:36] + flipped
        for c in (self.h2, self.h1):
            self.assert_401(bearer(bad), client=c)
        # Twice, so the cached copy of the key is exercised too; the real token still works.
        self.assertEqual(self.me(self.op).status_code, 200)
        self.assert_401(bearer(bad))

    def test_every_v1_route_needs_a_key(self):
        acct = ZERO_ID
        for method, path in (("GET", "/v1/me"), ("GET", "/v1/accounts"), ("POST", "/v1/accounts"),
                             ("GET", f"/v1/accounts/{acct}"), ("GET", f"/v1/accounts/{acct}/keys"),
                             ("POST", f"/v1/accounts/{acct}/keys"), ("DELETE", f"/v1/accounts/{acct}/keys/{acct}")):
            with self.subTest(method=method, path=path):
                r = self.h2.request(method, path)
                problem(r, 401, "unauthorized")
                self.assertIn("www-authenticate", r.headers)

    def test_revoked_key_is_refused_at_once_on_the_same_server(self):
        acct, token = self.create_account("webmaster")
        me = self.me(token).json()
        # Warm every thread's cache (two clients, two connections).
        self.assertEqual(self.me(token, client=self.h1).status_code, 200)
        r = self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{me['key_id']}", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204, r.text)
        # "At once" on the process that revoked: the very next request on either connection is refused. Any
        # other thread learns it through NOTIFY, allowed 1 s.
        problem(self.me(token), 401, "unauthorized")
        wait_for(lambda: self.me(token, client=self.h1).status_code == 401, 1.0, what="revocation on HTTP/1.1 conn")
        # It stays refused, and revoking again is still 204.
        problem(self.me(token), 401, "unauthorized")
        r = self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{me['key_id']}", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204)

    def test_me(self):
        acct, token = self.create_account("advertiser", currency="EUR")
        for c in (self.h2, self.h1):
            doc = self.me(token, client=c).json()
            self.assertEqual(doc["account"], acct)
            self.assertEqual(doc["key_id"], token[3:35][:8] + "-" + token[11:15] + "-" + token[15:19] + "-"
                             + token[19:23] + "-" + token[23:35])
        op = self.me(self.op).json()
        self.assertEqual(op["account"]["role"], "operator")
        self.assertEqual(op["account"]["name"], "ops")


class Suspension(ServerTestCase):
    def test_suspended_account_gets_403_everywhere(self):
        acct, token = self.create_account("webmaster")
        self.assertEqual(self.me(token).status_code, 200)
        psql(self.db_url, f"UPDATE accounts SET status = 'suspended' WHERE id = '{acct['id']}'")
        # Caches learn the change through NOTIFY; allow 1 s.
        wait_for(lambda: self.me(token).status_code == 403, 1.0, what="403 after suspension")
        for method, path in (("GET", "/v1/me"), ("GET", f"/v1/accounts/{acct['id']}"),
                             ("GET", f"/v1/accounts/{acct['id']}/keys"),
                             ("POST", f"/v1/accounts/{acct['id']}/keys")):
            with self.subTest(path=path):
                problem(self.h2.request(method, path, headers=bearer(token)), 403, "forbidden")
        # The operator still sees it, as suspended.
        r = self.h2.get(f"/v1/accounts/{acct['id']}", headers=bearer(self.op))
        self.assertEqual(r.json()["status"], "suspended")
        psql(self.db_url, f"UPDATE accounts SET status = 'active' WHERE id = '{acct['id']}'")
        wait_for(lambda: self.me(token).status_code == 200, 1.0, what="200 after reactivation")


class RoleBoundaries(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.accounts = {}
        for role in ("webmaster", "advertiser"):
            for n in (1, 2):
                body = {"role": role, "name": f"{role} {n}", "currency": "USD"}
                r = cls.h2.post("/v1/accounts", json=body, headers=bearer(cls.op))
                assert r.status_code == 201, r.text
                cls.accounts[(role, n)] = (r.json()["account"], r.json()["key"]["token"], r.json()["key"]["id"])

    def test_operator_only_endpoints_are_403_for_others(self):
        for role in ("webmaster", "advertiser"):
            _, token, _ = self.accounts[(role, 1)]
            with self.subTest(role=role):
                problem(self.h2.get("/v1/accounts", headers=bearer(token)), 403, "forbidden")
                problem(self.h2.get("/v1/accounts?limit=1", headers=bearer(token)), 403, "forbidden")
                body = {"role": "webmaster", "name": "sneaky", "currency": "USD"}
                problem(self.h2.post("/v1/accounts", json=body, headers=bearer(token)), 403, "forbidden")

    def test_403_comes_before_body_validation(self):
        _, token, _ = self.accounts[("webmaster", 1)]
        r = self.h2.post("/v1/accounts", content=b"{not json", headers={**bearer(token),
                                                                        "Content-Type": "application/json"})
        problem(r, 403, "forbidden")

    def test_self_access(self):
        for role in ("webmaster", "advertiser"):
            acct, token, key_id = self.accounts[(role, 1)]
            with self.subTest(role=role):
                r = self.h2.get(f"/v1/accounts/{acct['id']}", headers=bearer(token))
                self.assertEqual(r.status_code, 200)
                self.assertEqual(r.json(), acct)
                r = self.h2.get(f"/v1/accounts/{acct['id']}/keys", headers=bearer(token))
                self.assertEqual(r.status_code, 200)
                self.assertIn(key_id, [k["id"] for k in r.json()["items"]])

    def test_other_accounts_are_404(self):
        pairs = [(("webmaster", 1), ("webmaster", 2)), (("webmaster", 1), ("advertiser", 1)),
                 (("advertiser", 2), ("webmaster", 2)), (("advertiser", 1), ("advertiser", 2))]
        op_acct = self.me(self.op).json()["account"]["id"]
        for me_, other in pairs:
            _, token, _ = self.accounts[me_]
            other_acct, _, other_key = self.accounts[other]
            oid = other_acct["id"]
            with self.subTest(me=me_, other=other):
                problem(self.h2.get(f"/v1/accounts/{oid}", headers=bearer(token)), 404, "not_found")
                problem(self.h2.get(f"/v1/accounts/{oid}/keys", headers=bearer(token)), 404, "not_found")
                problem(self.h2.post(f"/v1/accounts/{oid}/keys", headers=bearer(token)), 404, "not_found")
                problem(self.h2.delete(f"/v1/accounts/{oid}/keys/{other_key}", headers=bearer(token)), 404,
                        "not_found")
                problem(self.h2.get(f"/v1/accounts/{op_acct}", headers=bearer(token)), 404, "not_found")
        # The other account's key still works: nothing was revoked.
        for _, token, _ in self.accounts.values():
            self.assertEqual(self.me(token).status_code, 200)

    def test_another_accounts_key_through_ones_own_path_is_404(self):
        acct, token, _ = self.accounts[("webmaster", 1)]
        _, other_token, other_key = self.accounts[("webmaster", 2)]
        r = self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{other_key}", headers=bearer(token))
        problem(r, 404, "not_found")
        self.assertEqual(self.me(other_token).status_code, 200)
        # Same for the operator: the key must belong to the account in the path.
        r = self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{other_key}", headers=bearer(self.op))
        problem(r, 404, "not_found")
        self.assertEqual(self.me(other_token).status_code, 200)

    def test_unknown_ids_look_like_other_accounts(self):
        """Existence is not leaked: an unknown account id answers exactly like another account's."""
        _, token, _ = self.accounts[("webmaster", 1)]
        other = self.accounts[("webmaster", 2)][0]["id"]
        unknown = other[:-1] + ("0" if other[-1] != "0" else "1")  # same shape, never created
        self.assertNotEqual(unknown, other)
        a = self.h2.get(f"/v1/accounts/{other}", headers=bearer(token)).json()
        b = self.h2.get(f"/v1/accounts/{unknown}", headers=bearer(token)).json()
        for d in (a, b):
            d.pop("request_id")
        self.assertEqual(a, b)

    def test_operator_sees_everyone(self):
        for acct, _, key_id in self.accounts.values():
            r = self.h2.get(f"/v1/accounts/{acct['id']}", headers=bearer(self.op))
            self.assertEqual(r.json(), acct)
            r = self.h2.get(f"/v1/accounts/{acct['id']}/keys", headers=bearer(self.op))
            self.assertIn(key_id, [k["id"] for k in r.json()["items"]])


if __name__ == "__main__":
    main()
