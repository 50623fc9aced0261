"""Per-key rate limits (token bucket): 429 rate_limited with Retry-After; the account's rate_limit overrides the
server default; public probes are not limited."""
import concurrent.futures
import re
import subprocess
import time

from harness import ServerTestCase, bearer, main, problem, psql


class RateLimit(ServerTestCase):
    server_env = {"LEADX_RATE_LIMIT": "5", "LEADX_RATE_BURST": "5"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The operator sets the tests up: give it its own high limit (before its key is first cached).
        psql(cls.db_url, "UPDATE accounts SET rate_limit = 1000000 WHERE role = 'operator'")

    def fire(self, token, n=20, client=None, path="/v1/me"):
        return [(client or self.h2).get(path, headers=bearer(token)) for _ in range(n)]

    def test_burst_then_429_with_retry_after(self):
        _, token = self.create_account("webmaster")  # rate_limit null: the server default, 5/s with a burst of 5
        time.sleep(1.1)  # a full bucket
        answers = self.fire(token, 20)
        ok = [r for r in answers if r.status_code == 200]
        limited = [r for r in answers if r.status_code == 429]
        self.assertEqual(len(ok) + len(limited), 20, [r.status_code for r in answers])
        self.assertGreaterEqual(len(ok), 5)
        self.assertLessEqual(len(ok), 8)  # the burst, plus what refills while the 20 requests run
        self.assertGreaterEqual(len(limited), 10)
        for r in limited:
            problem(r, 429, "rate_limited")
            self.assertRegex(r.headers["retry-after"], r"^[1-9][0-9]*$")
            self.assertLessEqual(int(r.headers["retry-after"]), 2)
        # After Retry-After, the key works again.
        time.sleep(int(limited[-1].headers["retry-after"]) + 0.1)
        self.assertEqual(self.me(token).status_code, 200)

    def test_limited_on_every_route_and_protocol(self):
        acct, token = self.create_account("advertiser")
        time.sleep(1.1)
        answers = self.fire(token, 6, client=self.h1, path=f"/v1/accounts/{acct['id']}")
        answers += self.fire(token, 6, client=self.h2, path=f"/v1/accounts/{acct['id']}/keys")
        self.assertIn(429, [r.status_code for r in answers])

    def test_concurrent_requests_over_one_connection(self):
        _, token = self.create_account("webmaster")
        time.sleep(1.1)
        # h2load multiplexes 10 streams on one HTTP/2 connection (a sync httpx client shared by threads cannot:
        # it may put stream ids on the wire out of order).
        out = subprocess.run(["h2load", "-n", "20", "-c", "1", "-m", "10", "-H", f"authorization: Bearer {token}",
                              self.server.base_url + "/v1/me"], capture_output=True, text=True, timeout=60).stdout
        m = re.search(r"status codes: (\d+) 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx", out)
        self.assertIsNotNone(m, out)
        ok, client_errors, server_errors = map(int, m.groups())
        self.assertEqual(server_errors, 0, out)
        self.assertEqual(ok + client_errors, 20, out)
        self.assertGreaterEqual(client_errors, 10, out)
        self.assertGreaterEqual(ok, 5, out)

    def test_each_key_has_its_own_bucket(self):
        acct, token = self.create_account("webmaster")
        r = self.h2.post(f"/v1/accounts/{acct['id']}/keys", headers=bearer(self.op))
        other = r.json()["token"]
        time.sleep(1.1)
        self.assertIn(429, [r.status_code for r in self.fire(token, 12)])
        self.assertEqual(self.me(other).status_code, 200)

    def test_account_rate_limit_overrides_the_default(self):
        _, fast = self.create_account("webmaster", rate_limit=1000)
        _, slow = self.create_account("advertiser", rate_limit=1)
        time.sleep(1.1)
        self.assertEqual({r.status_code for r in self.fire(fast, 20)}, {200})
        statuses = [r.status_code for r in self.fire(slow, 6)]
        self.assertIn(429, statuses)
        self.assertLessEqual(statuses.count(200), 3)  # a burst of 2 x 1/s, plus refill

    def test_public_probes_are_not_limited(self):
        for path in ("/healthz", "/readyz", "/metrics"):
            statuses = {self.h2.get(path).status_code for _ in range(20)}
            self.assertEqual(statuses, {200}, path)

    def test_rejected_keys_do_not_get_429(self):
        bad = self.op[:36] + ("A" if self.op[36] != "A" else "B") + self.op[37:]
        statuses = {self.h2.get("/v1/me", headers=bearer(bad)).status_code for _ in range(20)}
        self.assertEqual(statuses, {401})


if __name__ == "__main__":
    main()
