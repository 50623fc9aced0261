"""API keys: list, create (labels, optional body), revoke, self-rotation, last_used_at."""
import datetime
import json
import time

from harness import TOKEN_RE, ServerTestCase, bearer, main, problem, wait_for

JSON = {"Content-Type": "application/json"}


class Keys(ServerTestCase):
    def keys(self, account_id, token=None, **params):
        r = self.h2.get(f"/v1/accounts/{account_id}/keys", params=params, headers=bearer(token or self.op))
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def new_key(self, account_id, token=None, body=None, client=None, **kwargs):
        r = (client or self.h2).post(f"/v1/accounts/{account_id}/keys", json=body, headers=bearer(token or self.op),
                                     **kwargs)
        self.assertEqual(r.status_code, 201, r.text)
        key = r.json()
        self.assertTrue(TOKEN_RE.match(key["token"]), key)
        self.assertEqual(key["token"][3:35], key["id"].replace("-", ""))
        self.assertEqual(key["account_id"], account_id)
        self.assertIsNone(key["revoked_at"])
        self.assertIsNone(key["last_used_at"])
        return key

    def test_create_with_and_without_body(self):
        acct, _ = self.create_account("webmaster")
        aid = acct["id"]
        for c in (self.h2, self.h1):
            # No body at all, with and without a Content-Type.
            r = c.post(f"/v1/accounts/{aid}/keys", headers=bearer(self.op))
            self.assertEqual(r.status_code, 201, r.text)
            self.assertIsNone(r.json()["label"])
            r = c.post(f"/v1/accounts/{aid}/keys", headers={**bearer(self.op), **JSON})
            self.assertEqual(r.status_code, 201, r.text)
            r = c.post(f"/v1/accounts/{aid}/keys", content=b"", headers={**bearer(self.op), "Content-Type": "text/plain"})
            self.assertEqual(r.status_code, 201, r.text)
        self.assertIsNone(self.new_key(aid, body={})["label"])
        self.assertIsNone(self.new_key(aid, body={"label": None})["label"])
        self.assertEqual(self.new_key(aid, body={"label": "ci runner"})["label"], "ci runner")
        self.assertEqual(self.new_key(aid, body={"label": "k" * 100})["label"], "k" * 100)
        self.assertEqual(self.new_key(aid, body={"label": "ключ 🔑"})["label"], "ключ 🔑")

    def test_new_keys_work_and_are_distinct(self):
        acct, first = self.create_account("advertiser")
        keys = [self.new_key(acct["id"]) for _ in range(3)]
        tokens = {first} | {k["token"] for k in keys}
        self.assertEqual(len(tokens), 4)
        for k in keys:
            me = self.me(k["token"]).json()
            self.assertEqual((me["account"]["id"], me["key_id"]), (acct["id"], k["id"]))

    def test_bad_label_bodies(self):
        acct, _ = self.create_account("webmaster")
        url = f"/v1/accounts/{acct['id']}/keys"
        cases = [({"label": ""}, "/label"), ({"label": "k" * 101}, "/label"), ({"label": 5}, "/label"),
                 ({"label": ["a"]}, "/label"), ({"label": "a\nb"}, "/label"), ({"label": "tab\there"}, "/label"),
                 ({"lable": "typo"}, "/lable"), ([], ""), ([{"label": "x"}], "")]
        for body, field in cases:
            with self.subTest(body=body):
                r = self.h2.post(url, content=json.dumps(body).encode(), headers={**bearer(self.op), **JSON})
                problem(r, 422, "validation_failed", field=field)
        problem(self.h2.post(url, content=b"{", headers={**bearer(self.op), **JSON}), 400, "malformed_json", field="")
        problem(self.h2.post(url, content=b'{"label":"a","label":"b"}', headers={**bearer(self.op), **JSON}), 400,
                "malformed_json")
        problem(self.h2.post(url, content=b'{"label":"a"}', headers={**bearer(self.op), "Content-Type": "text/plain"}),
                415, "unsupported_media_type", field="header.content-type")
        # Nothing was created by any of these.
        self.assertEqual(len(self.keys(acct["id"])["items"]), 1)

    def test_top_level_scalar_body_is_422(self):
        """`7`, `null` and `"label"` are valid JSON documents (RFC 8259), just not objects: a wrong type of the
        whole body, so 422 validation_failed on field "", like `[]`; not 400 malformed_json."""
        acct, _ = self.create_account("webmaster")
        for body in (b"7", b"null", b'"label"', b"true"):
            with self.subTest(body=body):
                r = self.h2.post(f"/v1/accounts/{acct['id']}/keys", content=body, headers={**bearer(self.op), **JSON})
                problem(r, 422, "validation_failed", field="")

    def test_list_oldest_first_with_revoked(self):
        acct, token = self.create_account("webmaster")
        aid = acct["id"]
        made = [self.me(token).json()["key_id"]] + [self.new_key(aid, body={"label": f"k{i}"})["id"] for i in range(4)]
        r = self.h2.delete(f"/v1/accounts/{aid}/keys/{made[2]}", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204)
        items = self.keys(aid)["items"]
        self.assertEqual([k["id"] for k in items], made)
        self.assertIsNone(self.keys(aid)["next_cursor"])
        for k in items:
            self.assertEqual(k["account_id"], aid)
            self.assertNotIn("token", k)
            if k["id"] == made[2]:
                self.assertIsNotNone(k["revoked_at"])
                self.assertGreaterEqual(k["revoked_at"], k["created_at"])
            else:
                self.assertIsNone(k["revoked_at"])
        # The account's own key sees the same list.
        self.assertEqual(self.keys(aid, token=token)["items"], items)
        # Pages of two, in the same order.
        got, cursor = [], None
        for _ in range(10):
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = self.keys(aid, **params)
            got += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(got, items)

    def test_list_bad_parameters(self):
        acct, _ = self.create_account("webmaster")
        for query, field in (("limit=0", "query.limit"), ("limit=201", "query.limit"), ("limit=x", "query.limit"),
                             ("cursor=zz", "query.cursor"), ("role=webmaster", "query.role"),
                             ("foo=bar", "query.foo")):
            with self.subTest(query=query):
                r = self.h2.get(f"/v1/accounts/{acct['id']}/keys?{query}", headers=bearer(self.op))
                problem(r, 400, "invalid_parameter", field=field)

    def test_unknown_and_malformed_ids(self):
        acct, _ = self.create_account("webmaster")
        aid = acct["id"]
        key_id = self.keys(aid)["items"][0]["id"]
        unknown = aid[:-1] + ("0" if aid[-1] != "0" else "1")
        problem(self.h2.get(f"/v1/accounts/{unknown}/keys", headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.post(f"/v1/accounts/{unknown}/keys", headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.delete(f"/v1/accounts/{aid}/keys/{unknown}", headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.delete(f"/v1/accounts/{unknown}/keys/{key_id}", headers=bearer(self.op)), 404, "not_found")
        problem(self.h2.get("/v1/accounts/nope/keys", headers=bearer(self.op)), 404, "not_found", field="path.id")
        problem(self.h2.post("/v1/accounts/nope/keys", headers=bearer(self.op)), 404, "not_found", field="path.id")
        problem(self.h2.delete(f"/v1/accounts/{aid}/keys/nope", headers=bearer(self.op)), 404, "not_found",
                field="path.key_id")
        problem(self.h2.delete(f"/v1/accounts/nope/keys/{key_id}", headers=bearer(self.op)), 404, "not_found",
                field="path.id")
        # The key is untouched.
        self.assertIsNone(self.keys(aid)["items"][0]["revoked_at"])

    def test_revoke_is_idempotent_and_immediate(self):
        acct, token = self.create_account("advertiser")
        key_id = self.me(token).json()["key_id"]
        for c in (self.h2, self.h1):
            r = c.delete(f"/v1/accounts/{acct['id']}/keys/{key_id}", headers=bearer(self.op))
            self.assertEqual(r.status_code, 204)
            self.assertEqual(r.content, b"")
            problem(self.me(token), 401, "unauthorized")
        revoked_at = self.keys(acct["id"])["items"][0]["revoked_at"]
        time.sleep(0.01)
        self.h2.delete(f"/v1/accounts/{acct['id']}/keys/{key_id}", headers=bearer(self.op))
        self.assertEqual(self.keys(acct["id"])["items"][0]["revoked_at"], revoked_at, "revoked_at moved")

    def test_self_rotation(self):
        acct, old = self.create_account("webmaster")
        aid = acct["id"]
        old_id = self.me(old).json()["key_id"]
        # The account makes its own new key, switches to it, and revokes the old one with the new one.
        new = self.new_key(aid, token=old, body={"label": "rotated"})
        self.assertEqual(self.me(new["token"]).json()["key_id"], new["id"])
        r = self.h2.delete(f"/v1/accounts/{aid}/keys/{old_id}", headers=bearer(new["token"]))
        self.assertEqual(r.status_code, 204)
        problem(self.me(old), 401, "unauthorized")
        problem(self.h1.get("/v1/me", headers=bearer(old)), 401, "unauthorized")
        self.assertEqual(self.me(new["token"]).status_code, 200)
        items = self.keys(aid, token=new["token"])["items"]
        self.assertEqual([(k["id"], k["revoked_at"] is not None) for k in items], [(old_id, True), (new["id"], False)])
        # A key may revoke itself; it is refused from the next request on.
        r = self.h2.delete(f"/v1/accounts/{aid}/keys/{new['id']}", headers=bearer(new["token"]))
        self.assertEqual(r.status_code, 204)
        problem(self.me(new["token"]), 401, "unauthorized")

    def test_operator_makes_a_key_for_an_account(self):
        acct, _ = self.create_account("advertiser")
        key = self.new_key(acct["id"], body={"label": "by ops"})
        me = self.me(key["token"]).json()
        self.assertEqual(me["account"]["id"], acct["id"])
        self.assertEqual(me["account"]["role"], "advertiser")

    def test_last_used_at_is_recorded(self):
        acct, token = self.create_account("webmaster")
        before = self.keys(acct["id"])["items"][0]
        self.assertIsNone(before["last_used_at"])
        self.assertEqual(self.me(token).status_code, 200)

        def used():
            k = self.keys(acct["id"])["items"][0]
            return k if k["last_used_at"] is not None else None
        k = wait_for(used, 15, interval=0.5, what="last_used_at")
        # A wall-clock time between the key's creation and now.
        self.assertGreaterEqual(k["last_used_at"], k["created_at"])
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.assertLessEqual(k["last_used_at"], now)


if __name__ == "__main__":
    main()
