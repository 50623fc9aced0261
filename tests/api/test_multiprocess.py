"""Two `leadx serve` processes sharing one database (and key files): a key revoked through one is refused by the
other within 1 s; account changes reach the other's cache too; both serve the same data."""
import time

from harness import TwoServerTestCase, bearer, main, problem, psql, wait_for


class TwoProcesses(TwoServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cb1 = cls.b.client(http2=False)

    def new_account(self, role="webmaster"):
        r = self.ca.post("/v1/accounts", json={"role": role, "name": f"{role} x", "currency": "USD"},
                         headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()["account"], r.json()["key"]

    def test_both_serve_the_same_data(self):
        acct, key = self.new_account()
        for c in (self.ca, self.cb, self.cb1):
            self.assertEqual(c.get(f"/v1/accounts/{acct['id']}", headers=bearer(self.op)).json(), acct)
            self.assertEqual(c.get("/v1/me", headers=bearer(key["token"])).json()["account"], acct)

    def test_revocation_reaches_the_other_process_within_a_second(self):
        for attempt in range(3):
            acct, key = self.new_account()
            token = key["token"]
            # B has the key cached (several requests, both connections, so both threads are likely warm).
            for _ in range(4):
                self.assertEqual(self.cb.get("/v1/me", headers=bearer(token)).status_code, 200)
                self.assertEqual(self.cb1.get("/v1/me", headers=bearer(token)).status_code, 200)
            r = self.ca.delete(f"/v1/accounts/{acct['id']}/keys/{key['id']}", headers=bearer(self.op))
            self.assertEqual(r.status_code, 204)
            revoked = time.monotonic()
            problem(self.ca.get("/v1/me", headers=bearer(token)), 401, "unauthorized")  # A: at once

            def refused_by_b():
                return (self.cb.get("/v1/me", headers=bearer(token)).status_code == 401 and
                        self.cb1.get("/v1/me", headers=bearer(token)).status_code == 401)
            wait_for(refused_by_b, 1.0, interval=0.01, what="server B to refuse the revoked key")
            took = time.monotonic() - revoked
            # And it stays refused.
            for _ in range(5):
                problem(self.cb.get("/v1/me", headers=bearer(token)), 401, "unauthorized")
                problem(self.cb1.get("/v1/me", headers=bearer(token)), 401, "unauthorized")
            print(f"revocation seen by B after {took * 1000:.0f} ms", flush=True)

    def test_revocation_through_b_reaches_a(self):
        acct, key = self.new_account("advertiser")
        self.assertEqual(self.ca.get("/v1/me", headers=bearer(key["token"])).status_code, 200)
        r = self.cb.delete(f"/v1/accounts/{acct['id']}/keys/{key['id']}", headers=bearer(key["token"]))
        self.assertEqual(r.status_code, 204)
        wait_for(lambda: self.ca.get("/v1/me", headers=bearer(key["token"])).status_code == 401, 1.0, interval=0.01,
                 what="server A to refuse the key revoked through B")

    def test_suspension_reaches_both_caches(self):
        acct, key = self.new_account()
        for c in (self.ca, self.cb):
            self.assertEqual(c.get("/v1/me", headers=bearer(key["token"])).status_code, 200)
        psql(self.db_url, f"UPDATE accounts SET status = 'suspended' WHERE id = '{acct['id']}'")
        for c in (self.ca, self.cb):
            wait_for(lambda: c.get("/v1/me", headers=bearer(key["token"])).status_code == 403, 1.0, interval=0.01,
                     what="403 after suspension")
        # /v1/me is served from the cache: it shows the new state, not a stale copy.
        psql(self.db_url, f"UPDATE accounts SET status = 'active', name = 'renamed' WHERE id = '{acct['id']}'")
        for c in (self.ca, self.cb):
            def renamed(c=c):
                r = c.get("/v1/me", headers=bearer(key["token"]))  # 403 until the NOTIFY arrives
                return r.status_code == 200 and r.json()["account"]["name"] == "renamed"
            wait_for(renamed, 1.0, interval=0.01, what="the renamed account in /v1/me")


if __name__ == "__main__":
    main()
