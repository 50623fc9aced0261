"""Idempotency-Key on the POSTs that create: replay (same status, same resource, token null), a different request
under the same key (422), a request while the first is in flight (409), key format (400), scope per account."""
import concurrent.futures
import json
import secrets
import threading

from harness import TOKEN_RE, PgLock, ServerTestCase, bearer, create_operator, main, problem, psql, wait_for

JSON = {"Content-Type": "application/json"}


class Idempotency(ServerTestCase):
    # One transaction per connection at a time, so a request blocked on a lock never holds up another one queued
    # behind it on the same connection (the in-flight test needs the second request to reach the database).
    server_env = {"LEADX_DB_PIPELINE_DEPTH": "1"}

    def create(self, body, key, token=None, client=None):
        headers = {**bearer(token or self.op), **JSON}
        if key is not None:
            headers["Idempotency-Key"] = key
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).post("/v1/accounts", content=content, headers=headers)

    def body(self, **kw):
        return {"role": "webmaster", "name": "Idem " + secrets.token_hex(3), "currency": "USD", **kw}

    def count_accounts(self):
        return len(self.h2.get("/v1/accounts?limit=200", headers=bearer(self.op)).json()["items"])

    def test_replay_gives_the_same_account_and_no_token(self):
        key, body = "create-" + secrets.token_hex(8), self.body(rate_limit=7)
        first = self.create(body, key)
        self.assertEqual(first.status_code, 201, first.text)
        n = self.count_accounts()
        for c in (self.h2, self.h1, self.h2):
            again = self.create(body, key, client=c)
            self.assertEqual(again.status_code, 201, again.text)
            a, b = first.json(), again.json()
            self.assertEqual(b["account"], a["account"])
            self.assertIsNone(b["key"]["token"])
            self.assertTrue(TOKEN_RE.match(a["key"]["token"]))
            self.assertEqual({**b["key"], "token": a["key"]["token"]}, a["key"])
        self.assertEqual(self.count_accounts(), n, "a replay created another account")
        # The first token is the account's one and only key, and it works.
        self.assertEqual(self.me(first.json()["key"]["token"]).status_code, 200)

    def test_different_body_same_key_is_422(self):
        key, body = "k-" + secrets.token_hex(8), self.body()
        self.assertEqual(self.create(body, key).status_code, 201)
        n = self.count_accounts()
        for other in (self.body(), {**body, "currency": "EUR"}, {**body, "rate_limit": 5}):
            with self.subTest(other=other):
                problem(self.create(other, key), 422, "idempotency_key_reused", field="header.idempotency-key")
        # The same JSON with different bytes is a different request.
        problem(self.create(json.dumps(body, indent=2).encode(), key), 422, "idempotency_key_reused",
                field="header.idempotency-key")
        self.assertEqual(self.count_accounts(), n)

    def test_the_resource_not_the_path_spelling(self):
        """The key binds the resource a path names, not its spelling: a retry with a trailing slash, the id in upper
        case or a bare "?" is a replay; the same key and body on another resource is 422."""
        r = self.create(self.body(role="advertiser"), None)
        a, b = r.json()["account"]["id"], self.create(self.body(role="advertiser"), None).json()["account"]["id"]
        key, body = "dep-" + secrets.token_hex(8), {"amount": 700, "currency": "USD", "reference": "wire 1"}
        headers = {**bearer(self.op), **JSON, "Idempotency-Key": key}
        first = self.h2.post(f"/v1/accounts/{a}/deposits", json=body, headers=headers)
        self.assertEqual(first.status_code, 201, first.text)
        for path in (f"/v1/accounts/{a}/deposits/", f"/v1/accounts/{a.upper()}/deposits", f"/v1/accounts/{a}/deposits?"):
            with self.subTest(path=path):
                again = self.h2.post(path, json=body, headers=headers)
                self.assertEqual((again.status_code, again.json()["id"]), (201, first.json()["id"]), again.text)
        problem(self.h2.post(f"/v1/accounts/{b}/deposits", json=body, headers=headers), 422, "idempotency_key_reused",
                field="header.idempotency-key")
        self.assertEqual(psql(self.db_url, f"SELECT balance FROM ledger_accounts WHERE owner = '{a}' AND book = 'balance'"),
                         "700")

    def test_without_a_key_every_request_creates(self):
        body = self.body()
        a, b = self.create(body, None), self.create(body, None)
        self.assertEqual((a.status_code, b.status_code), (201, 201))
        self.assertNotEqual(a.json()["account"]["id"], b.json()["account"]["id"])

    def test_key_formats(self):
        body = self.body()
        # (A DEL or other control byte in a header never reaches leadx: h2o answers 400 text/plain itself.)
        for key in ("k" * 256, "tab\tkey"):
            with self.subTest(key=key[:10]):
                problem(self.create(body, key, client=self.h1), 400, "invalid_parameter",
                        field="header.idempotency-key")
        problem(self.create(body, "", client=self.h1), 400, "invalid_parameter", field="header.idempotency-key")
        for key in ("k" * 255, "a", "with spaces and !@#$%^&*()", "550e8400-e29b-41d4-a716-446655440000"):
            with self.subTest(key=key[:10]):
                r = self.create(self.body(), key)
                self.assertEqual(r.status_code, 201, r.text)

    def test_invalid_request_does_not_burn_the_key(self):
        key = "burn-" + secrets.token_hex(6)
        problem(self.create({"role": "webmaster", "name": "", "currency": "USD"}, key), 422, "validation_failed",
                field="/name")
        problem(self.create(b"{", key), 400, "malformed_json")
        r = self.create(self.body(), key)
        self.assertEqual(r.status_code, 201, r.text)

    def test_failed_database_check_does_not_burn_the_key(self):
        key = "zzz-" + secrets.token_hex(6)
        problem(self.create({**self.body(), "currency": "ZZZ"}, key), 422, "validation_failed", field="/currency")
        r = self.create(self.body(), key)
        self.assertEqual(r.status_code, 201, r.text)

    def test_keys_are_scoped_per_account(self):
        other_op = create_operator(self.server, name="second operator")
        key, body = "shared-" + secrets.token_hex(6), self.body()
        a = self.create(body, key)
        b = self.create(body, key, token=other_op)
        self.assertEqual((a.status_code, b.status_code), (201, 201))
        self.assertNotEqual(a.json()["account"]["id"], b.json()["account"]["id"])
        self.assertIsNotNone(b.json()["key"]["token"])

    def test_same_key_on_another_operation_is_422(self):
        acct, token = self.create_account("webmaster")
        key = "cross-" + secrets.token_hex(6)
        r = self.h2.post(f"/v1/accounts/{acct['id']}/keys", headers={**bearer(self.op), "Idempotency-Key": key})
        self.assertEqual(r.status_code, 201)
        problem(self.create(self.body(), key), 422, "idempotency_key_reused", field="header.idempotency-key")

    def test_create_key_replay(self):
        acct, token = self.create_account("advertiser")
        url = f"/v1/accounts/{acct['id']}/keys"
        key = "key-" + secrets.token_hex(6)
        headers = {**bearer(token), **JSON, "Idempotency-Key": key}
        first = self.h2.post(url, content=b'{"label":"deploy"}', headers=headers)
        self.assertEqual(first.status_code, 201, first.text)
        again = self.h1.post(url, content=b'{"label":"deploy"}', headers=headers)
        self.assertEqual(again.status_code, 201, again.text)
        self.assertEqual({**again.json(), "token": first.json()["token"]}, first.json())
        self.assertIsNone(again.json()["token"])
        problem(self.h2.post(url, content=b'{"label":"other"}', headers=headers), 422, "idempotency_key_reused",
                field="header.idempotency-key")
        # No body and an empty body are the same request bytes; a label is not.
        k2 = {**bearer(token), "Idempotency-Key": "nobody-" + secrets.token_hex(4)}
        a = self.h2.post(url, headers=k2)
        b = self.h2.post(url, headers=k2)
        self.assertEqual((a.status_code, b.status_code), (201, 201))
        self.assertEqual(a.json()["id"], b.json()["id"])
        items = self.h2.get(url, headers=bearer(token)).json()["items"]
        self.assertEqual(len(items), 3)  # the first key, "deploy", and the body-less one
        # The path is part of the request: the same key and body for another account's keys is a reuse.
        other, _ = self.create_account("advertiser")
        k3 = {**bearer(self.op), **JSON, "Idempotency-Key": "path-" + secrets.token_hex(4)}
        self.assertEqual(self.h2.post(url, content=b"{}", headers=k3).status_code, 201)
        problem(self.h2.post(f"/v1/accounts/{other['id']}/keys", content=b"{}", headers=k3), 422,
                "idempotency_key_reused", field="header.idempotency-key")

    def test_in_flight_duplicate_is_409(self):
        # Warm the operator's key in every thread's cache so no API-key look-up touches the locked table.
        for c in (self.h2, self.h1):
            self.assertEqual(self.me(self.op, client=c).status_code, 200)
        key, body = "inflight-" + secrets.token_hex(6), self.body()
        first = {}
        lock = PgLock(self.db_url, "api_keys")  # the account's first key cannot be inserted until release
        try:
            t = threading.Thread(target=lambda: first.setdefault("r", self.create(body, key, client=self.h1)))
            t.start()
            wait_for(lambda: psql(self.db_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                               "AND query LIKE 'INSERT INTO api_keys%'") != "0",
                     10, interval=0.05, what="the first request to wait on the lock")
            dup = self.create(body, key)
            problem(dup, 409, "idempotency_in_progress", field="header.idempotency-key")
        finally:
            lock.release()
        t.join(15)
        self.assertEqual(first["r"].status_code, 201, first["r"].text)
        again = self.create(body, key)
        self.assertEqual(again.status_code, 201)
        self.assertEqual(again.json()["account"], first["r"].json()["account"])
        self.assertIsNone(again.json()["key"]["token"])

    def test_a_takeover_still_executes_once(self):
        """A claim left in progress for more than 60 s may be taken over by a retry (its server may have died), but if
        the first execution is still working, only one of the two commits: the second to record its outcome is 409
        and rolls back (before migrations/0021 both committed: two accounts under one key)."""
        for c in (self.h2, self.h1):
            self.assertEqual(self.me(self.op, client=c).status_code, 200)
        key, body = "takeover-" + secrets.token_hex(6), self.body()
        n = self.count_accounts()
        out = {}
        waiting = lambda k: lambda: psql(self.db_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                                      "'Lock' AND query LIKE 'INSERT INTO api_keys%'") == k
        lock = PgLock(self.db_url, "api_keys")  # both executions wait to insert the account's key
        try:
            t1 = threading.Thread(target=lambda: out.setdefault("first", self.create(body, key, client=self.h1)))
            t1.start()
            wait_for(waiting("1"), 10, interval=0.05, what="the first execution to wait on the lock")
            psql(self.db_url, f"UPDATE idempotency_keys SET created_at = now() - interval '61 seconds' WHERE key = '{key}'")
            t2 = threading.Thread(target=lambda: out.setdefault("second", self.create(body, key)))
            t2.start()
            wait_for(waiting("2"), 10, interval=0.05, what="the retry to take the claim over and wait on the lock")
        finally:
            lock.release()
        t1.join(15)
        t2.join(15)
        answers = sorted((out["first"], out["second"]), key=lambda r: r.status_code)
        self.assertEqual(answers[0].status_code, 201, answers[0].text)
        problem(answers[1], 409, "idempotency_in_progress", field="header.idempotency-key")
        self.assertEqual(self.count_accounts(), n + 1, "the two executions both committed")
        again = self.create(body, key)
        self.assertEqual((again.status_code, again.json()["account"]), (201, answers[0].json()["account"]))

    def test_concurrent_duplicates_create_one_account(self):
        key, body = "race-" + secrets.token_hex(6), self.body()
        n = self.count_accounts()
        # One client per thread: a shared sync HTTP/2 client can put stream ids on the wire out of order from
        # several threads, which h2o rightly answers with GOAWAY PROTOCOL_ERROR.
        clients = [self.server.client(http2=bool(i % 2)) for i in range(10)]
        try:
            with concurrent.futures.ThreadPoolExecutor(10) as pool:
                results = list(pool.map(lambda i: self.create(body, key, client=clients[i]), range(10)))
        finally:
            for c in clients:
                c.close()
        statuses = sorted(r.status_code for r in results)
        self.assertTrue(set(statuses) <= {201, 409}, statuses)
        created = [r.json() for r in results if r.status_code == 201]
        self.assertTrue(created)
        self.assertEqual(len({c["account"]["id"] for c in created}), 1)
        self.assertLessEqual(len([c for c in created if c["key"]["token"] is not None]), 1)
        self.assertEqual(self.count_accounts(), n + 1)
        for r in results:
            if r.status_code == 409:
                problem(r, 409, "idempotency_in_progress")


if __name__ == "__main__":
    main()
