"""Public probes (/healthz, /readyz, /metrics), request ids, routing errors (404, 405, 431) over HTTP/2 and
HTTP/1.1, and one check with curl --http2-prior-knowledge."""
import re
import shutil
import subprocess
import unittest

import httpx

from harness import CONTRACT, ServerTestCase, UUID_RE, bearer, main, problem, wait_for

METRIC_FAMILIES = {
    "leadx_http_requests_total": "counter",
    "leadx_http_request_duration_seconds": "histogram",
    "leadx_db_connections": "gauge",
    "leadx_db_queue_length": "gauge",
    "leadx_db_queries_total": "counter",
    "leadx_auth_cache_hits_total": "counter",
    "leadx_auth_cache_misses_total": "counter",
}
SAMPLE_RE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?)\})?'
    r' (?P<value>[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+|NaN|\+Inf|-Inf))(?: -?[0-9]+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> ({family: type}, [(name, {label: value}, float)]); asserts the syntax."""
    types, samples = {}, []
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, f"TYPE twice for {name}"
            types[name] = kind
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP ") or not line.startswith("# TYPE"), line
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"bad sample line: {line!r}"
        labels = dict(LABEL_RE.findall(m.group("labels") or ""))
        samples.append((m.group("name"), labels, float(m.group("value"))))
    return types, samples


class Probes(ServerTestCase):
    def test_healthz_both_protocols(self):
        for c in (self.h2, self.h1):
            r = c.get("/healthz")
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.json(), {"status": "ok"})
            self.assertEqual(r.headers["content-type"], "application/json")

    def test_readyz(self):
        for c in (self.h2, self.h1):
            r = c.get("/readyz")
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json(), {"status": "ready"})

    def test_probes_need_no_key_and_ignore_a_bad_one(self):
        r = self.h2.get("/healthz", headers={"Authorization": "Bearer nonsense"})
        self.assertEqual(r.status_code, 200)

    def test_trailing_slash_names_the_same_resource(self):
        self.assertEqual(self.h2.get("/healthz/").status_code, 200)
        self.assertEqual(self.h2.get("/v1/me/", headers=bearer(self.op)).status_code, 200)

    def test_metrics_families_and_format(self):
        # Make some traffic first so the per-route families have samples.
        self.h2.get("/healthz")
        self.h2.get("/v1/me", headers=bearer(self.op))
        self.h2.get("/v1/nothing-here")
        self.h2.get("/v1/me")  # 401
        r = self.h2.get("/metrics")
        self.assertEqual(r.status_code, 200)
        ctype = r.headers["content-type"]
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype)
        types, samples = parse_metrics(r.text)
        for family, kind in METRIC_FAMILIES.items():
            self.assertEqual(types.get(family), kind, f"# TYPE of {family}")
        names = {s[0] for s in samples}

        reqs = [s for s in samples if s[0] == "leadx_http_requests_total"]
        self.assertTrue(reqs)
        for _, labels, value in reqs:
            self.assertTrue({"route", "method", "status"} <= set(labels), labels)
            self.assertRegex(labels["status"], r"^[1-5][0-9][0-9]$")
            self.assertGreaterEqual(value, 1)
        by = {(l["route"], l["method"], l["status"]): v for _, l, v in reqs}
        self.assertGreaterEqual(by.get(("/healthz", "GET", "200"), 0), 1)
        self.assertGreaterEqual(by.get(("/v1/me", "GET", "200"), 0), 1)
        self.assertGreaterEqual(by.get(("/v1/me", "GET", "401"), 0), 1)

        # Histogram: per route, cumulative buckets ending in +Inf == _count, and a _sum.
        buckets = {}
        for name, labels, value in samples:
            if name == "leadx_http_request_duration_seconds_bucket":
                self.assertIn("route", labels)
                self.assertIn("le", labels)
                key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                buckets.setdefault(key, []).append((labels["le"], value))
        self.assertTrue(buckets)
        counts = {tuple(sorted(l.items())): v for n, l, v in samples
                  if n == "leadx_http_request_duration_seconds_count"}
        sums = {tuple(sorted(l.items())): v for n, l, v in samples if n == "leadx_http_request_duration_seconds_sum"}
        for key, series in buckets.items():
            les = [le for le, _ in series]
            self.assertEqual(les[-1], "+Inf", key)
            bounds = [float(le) for le in les[:-1]]
            self.assertEqual(bounds, sorted(bounds), key)
            values = [v for _, v in series]
            self.assertEqual(values, sorted(values), f"buckets of {key} are not cumulative")
            self.assertEqual(values[-1], counts[key], key)
            self.assertIn(key, sums)
            self.assertGreaterEqual(sums[key], 0)

        states = {l.get("state"): v for n, l, v in samples if n == "leadx_db_connections"}
        self.assertEqual(set(states), {"ready", "busy", "connecting", "down"})

        # The pool gauges are sampled by each worker's periodic tick, so they may lag by a tick; once sampled,
        # they account for every connection of every thread's pool (default 4 per thread).
        def pool_states():
            _, smp = parse_metrics(self.h2.get("/metrics").text)
            st = {l["state"]: v for n, l, v in smp if n == "leadx_db_connections"}
            return smp if sum(st.values()) == 4 * self.threads and st["ready"] + st["busy"] >= 1 else None
        samples = wait_for(pool_states, 3, interval=0.1, what="pool gauges covering every connection")
        for single in ("leadx_db_queue_length", "leadx_db_queries_total", "leadx_auth_cache_hits_total",
                       "leadx_auth_cache_misses_total"):
            self.assertIn(single, names)
            self.assertGreaterEqual([v for n, _, v in samples if n == single][0], 0)
        self.assertGreaterEqual([v for n, _, v in samples if n == "leadx_db_queries_total"][0], 1)
        self.assertGreaterEqual([v for n, _, v in samples if n == "leadx_auth_cache_misses_total"][0], 1)

    def test_metrics_counters_grow(self):
        def hits():
            _, samples = parse_metrics(self.h2.get("/metrics").text)
            return {l["status"]: v for n, l, v in samples
                    if n == "leadx_http_requests_total" and l.get("route") == "/readyz"}
        before = hits().get("200", 0)
        for _ in range(3):
            self.h1.get("/readyz")
        self.assertEqual(hits().get("200", 0), before + 3)


class RequestIds(ServerTestCase):
    def test_sane_request_id_is_echoed(self):
        for c in (self.h2, self.h1):
            rid = "client-req-0123456789.ABC:xyz"
            r = c.get("/healthz", headers={"X-Request-Id": rid})
            self.assertEqual(r.headers["x-request-id"], rid)
            r = c.get("/v1/me", headers={"X-Request-Id": rid})
            doc = problem(r, 401, "unauthorized")
            self.assertEqual(doc["request_id"], rid)

    def test_128_chars_echoed_129_replaced(self):
        rid = "a" * 128
        self.assertEqual(self.h2.get("/healthz", headers={"X-Request-Id": rid}).headers["x-request-id"], rid)
        r = self.h2.get("/healthz", headers={"X-Request-Id": "b" * 129})
        self.assertNotEqual(r.headers["x-request-id"], "b" * 129)
        self.assertLessEqual(len(r.headers["x-request-id"]), 128)

    def test_request_id_with_a_space_is_replaced(self):
        r = self.h2.get("/healthz", headers={"X-Request-Id": "has space"})
        self.assertRegex(r.headers["x-request-id"], UUID_RE)

    def test_non_ascii_request_id_is_replaced(self):
        r = self.h1.get("/healthz", headers={"X-Request-Id": b"caf\xe9"})
        self.assertRegex(r.headers["x-request-id"], UUID_RE)

    def test_generated_ids_are_unique_uuidv7(self):
        ids = {self.h2.get("/healthz").headers["x-request-id"] for _ in range(20)}
        self.assertEqual(len(ids), 20)
        for rid in ids:
            self.assertRegex(rid, UUID_RE)


class RoutingErrors(ServerTestCase):
    def test_unknown_path_404(self):
        for c in (self.h2, self.h1):
            for path in ("/v1/nope", "/", "/v2/me", "/v1/accounts/x/y/z/w", "/healthzz"):
                with self.subTest(path=path, proto=c.expect_version):
                    doc = problem(c.get(path), 404, "not_found")
                    self.assertEqual(doc["errors"], [])
            # Unknown route even with a key and a body.
            problem(c.post("/v1/nope", json={}, headers=bearer(self.op)), 404, "not_found")

    def test_wrong_method_405_with_allow(self):
        cases = [("DELETE", "/v1/accounts", {"GET", "HEAD", "POST"}), ("PUT", "/v1/me", {"GET", "HEAD"}),
                 ("POST", "/healthz", {"GET", "HEAD"}), ("PUT", "/v1/accounts/00000000-0000-7000-8000-000000000000",
                                                        {"GET", "HEAD", "PATCH"}),
                 ("GET", "/v1/accounts/00000000-0000-7000-8000-000000000000/keys/x", {"DELETE"}),
                 ("HEAD", "/v1/accounts/00000000-0000-7000-8000-000000000000/keys/x", {"DELETE"}),
                 ("DELETE", "/v1/accounts/x/keys", {"GET", "HEAD", "POST"}),
                 # a literal segment names its own resource: "batch" is not a lead id
                 ("GET", "/v1/leads/batch", {"POST"}), ("HEAD", "/v1/leads/batch", {"POST"})]
        for c in (self.h2, self.h1):
            for method, path, allow in cases:
                with self.subTest(method=method, path=path, proto=c.expect_version):
                    r = c.request(method, path, headers=bearer(self.op))
                    if method == "HEAD":
                        self.assertEqual((r.status_code, r.content), (405, b""))
                    else:
                        problem(r, 405, "method_not_allowed")
                    self.assertEqual(set(r.headers["allow"].split(", ")), allow)

    def test_head_is_get_without_content(self):
        """RFC 9110 §9.3.2: HEAD answers with GET's status and headers and no content, on both protocols, and an
        HTTP/1.1 connection stays in step for the next request (a HEAD answer once carried a body, read by the client
        as the next response)."""
        export = "/v1/receipts/export"
        cases = [("/healthz", None, 200), ("/v1/me", self.op, 200), ("/v1/accounts?limit=2", self.op, 200),
                 ("/v1/me", None, 401), ("/v1/accounts?limit=0", self.op, 400), ("/v1/nope", self.op, 404),
                 (export, self.op, 200)]
        for c in (self.h2, self.h1):
            for path, token, status in cases:
                with self.subTest(path=path, proto=c.expect_version):
                    headers = bearer(token) if token else {}
                    get = c.get(path, headers=headers)
                    head = c.head(path, headers=headers)
                    self.assertEqual((get.status_code, head.status_code), (status, status))
                    self.assertEqual(head.content, b"")
                    self.assertEqual(head.headers["content-type"], get.headers["content-type"])
                    self.assertIn("x-request-id", head.headers)
                    if path != export:  # a streamed body has no length to announce
                        self.assertEqual(head.headers["content-length"], str(len(get.content)))
                    # the same connection answers the next request in step
                    self.assertEqual(c.get("/healthz").json(), {"status": "ok"})

    def test_405_comes_before_authentication(self):
        r = self.h2.put("/v1/me")
        problem(r, 405, "method_not_allowed")

    def test_huge_headers_431(self):
        # 64 KiB of headers in 8 fields (h2o itself refuses more than 100 fields).
        big = {f"X-Filler-{i}": "v" * 8192 for i in range(8)}
        for c in (self.h2, self.h1):
            with self.subTest(proto=c.expect_version):
                problem(c.get("/healthz", headers=big), 431, "request_header_fields_too_large")
                problem(c.get("/v1/me", headers={**big, **bearer(self.op)}), 431, "request_header_fields_too_large")
                # The connection is still usable afterwards.
                self.assertEqual(c.get("/healthz").status_code, 200)

    def test_headers_just_under_the_cap_are_fine(self):
        r = self.h2.get("/v1/me", headers={"X-Filler": "v" * 12000, **bearer(self.op)})
        self.assertEqual(r.status_code, 200)


@unittest.skipIf(shutil.which("curl") is None, "curl is not installed")
class Curl(ServerTestCase):
    def curl(self, *args):
        p = subprocess.run(["curl", "-sS", "-i", "--http2-prior-knowledge", *args], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        head, _, body = p.stdout.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0]
        headers = httpx.Headers([tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln])
        return status_line, headers, body

    def test_curl_http2_prior_knowledge(self):
        status_line, headers, body = self.curl(self.server.base_url + "/healthz")
        self.assertEqual(status_line.split()[:2], ["HTTP/2", "200"])
        CONTRACT.check("GET", "/healthz", 200, headers, body)

        status_line, headers, body = self.curl("-H", f"Authorization: Bearer {self.op}", "-H", "X-Request-Id: curl-1",
                                               self.server.base_url + "/v1/me")
        self.assertEqual(status_line.split()[:2], ["HTTP/2", "200"])
        CONTRACT.check("GET", "/v1/me", 200, headers, body)
        self.assertEqual(headers["x-request-id"], "curl-1")

        status_line, headers, body = self.curl("-X", "POST", "-H", f"Authorization: Bearer {self.op}",
                                               "-H", "Content-Type: application/json", "--data-binary", '{"role":',
                                               self.server.base_url + "/v1/accounts")
        self.assertEqual(status_line.split()[:2], ["HTTP/2", "400"])
        CONTRACT.check("POST", "/v1/accounts", 400, headers, body)


if __name__ == "__main__":
    main()
