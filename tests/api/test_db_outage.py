"""PostgreSQL stopped under a running server: /readyz and database-backed routes answer 503 at once (no hanging),
liveness stays 200; when PostgreSQL is back the same server process recovers within 10 s, without a restart.
Runs its own private cluster (in a temp dir, via deploy/pg.sh) because it stops PostgreSQL.
And a server whose first connections take a while (a proxy that holds each one 1.5 s): requests that arrive
meanwhile wait for them instead of answering 503."""
import concurrent.futures
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from harness import (KEEP, Server, ServersTestCase, bearer, create_operator, main, new_database, pg_sh, pg_url, problem,
                     wait_for)


class DatabaseOutage(ServersTestCase):
    log_lines = 100

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="leadx-outage-"))
        os.chmod(cls.tmp, 0o755)  # the cluster may run as another user (postgres) when the tests run as root
        cls.pgdir = cls.tmp / "pg"
        cls.addClassCleanup(cls.cleanup_cluster)
        pg_sh("start", pgdir=cls.pgdir, timeout=300)
        cls.db_url = pg_url(pgdir=cls.pgdir)
        cls.server = cls.start_server(cls.db_url, name="outage", env={"LEADX_LOG_LEVEL": "info"})
        cls.op = create_operator(cls.server)
        cls.h2 = cls.server.client(http2=True, timeout=5)
        cls.h1 = cls.server.client(http2=False, timeout=5)

    @classmethod
    def cleanup_cluster(cls):
        pg_sh("destroy", pgdir=cls.pgdir, check=False)
        if not KEEP:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def servers(self):
        return (self.server,)

    def timed(self, fn):
        start = time.monotonic()
        r = fn()
        return r, time.monotonic() - start

    def test_stop_and_restart_postgres(self):
        acct = self.h2.post("/v1/accounts", json={"role": "webmaster", "name": "before", "currency": "USD"},
                            headers=bearer(self.op))
        self.assertEqual(acct.status_code, 201, acct.text)
        acct = acct.json()["account"]
        self.assertEqual(self.h2.get("/readyz").status_code, 200)

        pg_sh("stop", pgdir=self.pgdir)
        stopped = time.monotonic()

        # At once: each answer within 2 s, and no 5xx other than 503.
        for c in (self.h2, self.h1):
            r, took = self.timed(lambda: c.get("/readyz"))
            problem(r, 503, "database_unavailable")
            self.assertLess(took, 2.0, f"/readyz took {took:.2f} s")
            r, took = self.timed(lambda: c.get("/v1/accounts", headers=bearer(self.op)))
            problem(r, 503, "database_unavailable")
            self.assertLess(took, 2.0, f"GET /v1/accounts took {took:.2f} s")
            r, took = self.timed(lambda: c.get(f"/v1/accounts/{acct['id']}", headers=bearer(self.op)))
            problem(r, 503, "database_unavailable")
            r, took = self.timed(lambda: c.post("/v1/accounts", json={"role": "webmaster", "name": "during",
                                                                      "currency": "USD"}, headers=bearer(self.op)))
            problem(r, 503, "database_unavailable")
            self.assertLess(took, 2.0)
            # Liveness does not depend on the database.
            self.assertEqual(c.get("/healthz").status_code, 200)
            # /v1/me may be answered from the key cache, or refused while the cache cannot be trusted.
            self.assertIn(c.get("/v1/me", headers=bearer(self.op)).status_code, (200, 503))
        # The pool gauges show it (sampled once a second).
        wait_for(lambda: "leadx_db_connections{state=\"ready\"} 0\n" in self.h2.get("/metrics").text, 3,
                 interval=0.2, what="no ready connections in /metrics")
        self.assertLess(time.monotonic() - stopped, 30)

        pg_sh("start", pgdir=self.pgdir, timeout=300)
        restarted = time.monotonic()
        # Each event-loop thread has its own pool, which reconnects on its own retry timer, and the two clients'
        # connections may be served by different threads: both must be back.
        for c in (self.h2, self.h1):
            wait_for(lambda: c.get("/readyz").status_code == 200, 10, interval=0.1, what="/readyz 200 again")
            wait_for(lambda: c.get("/v1/accounts", headers=bearer(self.op)).status_code == 200, 10, interval=0.1,
                     what="GET /v1/accounts 200 again")
        print(f"recovered {time.monotonic() - restarted:.2f} s after PostgreSQL started", flush=True)
        self.assertLess(time.monotonic() - restarted, 10)
        for c in (self.h2, self.h1):
            self.assertEqual(c.get("/readyz").status_code, 200)
            self.assertEqual(c.get(f"/v1/accounts/{acct['id']}", headers=bearer(self.op)).json(), acct)
            r = c.post("/v1/accounts", json={"role": "advertiser", "name": "after", "currency": "EUR"},
                       headers=bearer(self.op))
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(c.get("/v1/me", headers=bearer(r.json()["key"]["token"])).status_code, 200)
        # Nothing was written while the database was down.
        names = [a["name"] for a in self.h2.get("/v1/accounts", headers=bearer(self.op)).json()["items"]]
        self.assertNotIn("during", names)
        # A revocation still reaches the cache once the NOTIFY listener is back.
        key = r.json()["key"]
        d = self.h2.delete(f"/v1/accounts/{key['account_id']}/keys/{key['id']}", headers=bearer(self.op))
        self.assertEqual(d.status_code, 204)
        wait_for(lambda: self.h1.get("/v1/me", headers=bearer(key["token"])).status_code == 401, 1.0, interval=0.02,
                 what="revocation after the outage")


class SlowProxy:
    """TCP on 127.0.0.1 to the cluster's Unix socket, each connection held `delay` s before it is forwarded."""

    def __init__(self, db_url, delay):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(db_url).query)
        self.target = f"{q['host'][0]}/.s.PGSQL.{(q.get('port') or ['5432'])[0] or '5432'}"
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def url(self, db_url):
        parts = urllib.parse.urlsplit(db_url)
        return f"postgresql://{parts.username}@127.0.0.1:{self.port}{parts.path}"

    def accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client):
        time.sleep(self.delay)
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(self.target)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:  # either side's end ends both; the other pump then fails its recv or sendall and stops
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.closed = True
        self.listener.close()


class SlowFirstConnection(ServersTestCase):
    """Each event-loop thread's pool starts connecting when the server starts, and /healthz answers at once: work
    that arrives before a pool's first connection is ready waits for it (up to 5 s) instead of answering 503."""

    @classmethod
    def setUpClass(cls):
        db_url = new_database()
        cls.proxy = SlowProxy(db_url, delay=1.5)
        cls.addClassCleanup(cls.proxy.close)
        cls.server = cls.start_server(cls.proxy.url(db_url), name="slow-first", threads=2)

    def servers(self):
        return (self.server,)

    def test_requests_wait_for_the_first_connection(self):
        started = time.monotonic()

        def ready(_):
            with self.server.client(http2=True, timeout=10) as c:  # one connection each: both threads serve some
                return c.get("/readyz").status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(ready, range(8)))
        self.assertEqual(codes, [200] * 8)
        # They did wait: the server answered /healthz before any database connection was through the proxy.
        self.assertGreater(time.monotonic() - started, 0.5)


if __name__ == "__main__":
    main()
