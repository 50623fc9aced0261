"""Graceful shutdown: on SIGTERM the server stops accepting, finishes the requests in flight (held in flight here
by a table lock in PostgreSQL), and exits 0."""
import concurrent.futures
import re
import shutil
import signal
import subprocess
import time
import unittest

import httpx

from harness import PgLock, Server, bearer, create_operator, main, new_database, psql, wait_for


@unittest.skipIf(shutil.which("nghttp") is None, "nghttp (nghttp2-client) is not installed")
class GracefulShutdown(unittest.TestCase):
    def start_server(self, **env):
        db = new_database()
        server = Server(db, name=self.id().rsplit(".", 1)[-1], env=env)
        self.addCleanup(server.kill)
        server.start()
        self.server = server
        return server, db

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result is not None else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before and hasattr(self, "server"):
            print(f"\n{self.id()} failed; server logs:\n{self.server.log_tail()}\n", flush=True)
        return out

    def test_in_flight_requests_complete(self):
        server, db = self.start_server()
        op = create_operator(server)
        h2 = server.client(http2=True, timeout=30)
        h1s = [server.client(http2=False, timeout=30) for _ in range(3)]
        me = h2.get("/v1/me", headers=bearer(op)).json()
        for c in h1s:  # the key is cached on every connection's thread
            self.assertEqual(c.get("/v1/me", headers=bearer(op)).status_code, 200)
        path = f"/v1/accounts/{me['account']['id']}"

        def h2_in_flight():
            """Four requests multiplexed on one HTTP/2 connection, by nghttp. h2o's graceful shutdown sends GOAWAY
            first with the largest stream id (RFC 9113 6.8); python-h2 (so httpx) ends every stream on any
            GOAWAY, and curl 7.88 fails multiplexed transfers on it, so neither can take part here. nghttp
            also merges identical URLs, so the four differ."""
            urls = [server.base_url + p for p in (path, path + "/keys", "/v1/accounts?limit=1", "/v1/accounts?limit=2")]
            return subprocess.run(["nghttp", "-nv", "-H", f"authorization: Bearer {op}", *urls],
                                  capture_output=True, text=True, timeout=60)

        lock = PgLock(db, "accounts")
        try:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                nghttp = pool.submit(h2_in_flight)
                futures = [pool.submit(c.get, path, headers=bearer(op)) for c in h1s]
                wait_for(lambda: int(psql(db, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND query LIKE 'SELECT%accounts%'")) >= 1,
                         10, interval=0.05, what="requests waiting on the lock")
                time.sleep(0.3)  # let every request reach the server
                self.assertFalse(nghttp.done() or any(f.done() for f in futures),
                                 "a request finished while the table was locked")
                server.signal(signal.SIGTERM)
                time.sleep(0.7)
                self.assertIsNone(server.proc.poll(), "the server exited with requests in flight")
                # New connections are no longer served once shutdown has begun.
                with httpx.Client(base_url=server.base_url, timeout=2) as fresh:
                    try:
                        r = fresh.get("/healthz")
                        self.assertNotEqual(r.status_code, 200, "a new connection was served after SIGTERM")
                    except httpx.TransportError:
                        pass
                lock.release()
                answers = [f.result(timeout=20) for f in futures]
                p = nghttp.result(timeout=30)
        finally:
            lock.release()
        for r in answers:
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json(), me["account"])
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
        statuses = re.findall(r"recv \(stream_id=(\d+)\) :status: (\d+)", p.stdout)
        self.assertEqual(len(statuses), 4, p.stdout[-3000:])
        self.assertEqual({s for _, s in statuses}, {"200"}, p.stdout[-3000:])
        self.assertEqual(len(re.findall(r"recv \(stream_id=\d+\) x-request-id: ", p.stdout)), 4)
        server.stop(timeout=10)  # asserts exit status 0 within 10 s of SIGTERM (already sent)

    def test_idle_connections_do_not_hold_shutdown(self):
        server, _ = self.start_server()
        clients = [server.client(http2=h2) for h2 in (True, False, True, False)]
        for c in clients:
            self.assertEqual(c.get("/healthz").status_code, 200)
        start = time.monotonic()
        server.stop(timeout=10)
        self.assertLess(time.monotonic() - start, 5, "idle keep-alive connections delayed the shutdown")

    def test_repeated_start_and_stop(self):
        """Twenty starts and SIGTERMs in a row, each clean (no crash while the threads and the NOTIFY listener
        come up, exit status 0)."""
        db = new_database()
        first = Server(db, name="restart-0")
        self.addCleanup(first.kill)
        first.start()
        first.stop()
        for i in range(1, 21):
            s = Server(db, key_dir=None, name=f"restart-{i}")
            self.server = s
            self.addCleanup(s.kill)
            s.start()
            with s.client(http2=True) as c:
                self.assertEqual(c.get("/readyz").status_code, 200)
            s.stop()

    def test_shutdown_timeout_bounds_a_stuck_request(self):
        server, db = self.start_server(LEADX_SHUTDOWN_TIMEOUT_MS="1500")
        op = create_operator(server)
        h2 = server.client(http2=True, timeout=30)
        acct = h2.get("/v1/me", headers=bearer(op)).json()["account"]
        lock = PgLock(db, "accounts")
        try:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                f = pool.submit(h2.get, f"/v1/accounts/{acct['id']}", headers=bearer(op))
                time.sleep(0.5)
                start = time.monotonic()
                server.signal(signal.SIGTERM)
                rc = server.proc.wait(timeout=10)
                took = time.monotonic() - start
                self.assertLess(took, 6, f"exited {took:.1f} s after SIGTERM with a 1.5 s grace period")
                try:
                    f.result(timeout=10)  # whatever it got; it must not hang
                except (httpx.TransportError, AssertionError):
                    pass
        finally:
            lock.release()
        server.assert_clean()
        self.assertIn(rc, (0,), "exit status after the grace period")
        server.stop()


if __name__ == "__main__":
    main()
