"""Shared helpers of the API tests.

The tests run the real `leadx` binary against a real PostgreSQL (a throw-away
cluster managed with deploy/pg.sh) with real HTTP/2 and HTTP/1.1 clients, and
check EVERY response they receive against api/openapi.yaml (Contract.check):
the status must be listed for the operation, the body must validate against
its schema (JSON Schema 2020-12), problem+json bodies against Problem, and
every response must carry X-Request-Id.

Environment:
  LEADX_BIN          the leadx binary (default: <source>/build/leadx)
  LEADX_TEST_PGDIR   the cluster directory (default: <source>/build/test-pg;
                     started on first use when it is not running)
  LEADX_SOURCE_DIR   the source tree (default: two levels above this file)
  LEADX_TEST_KEEP    set to 1 to keep the servers' temp dirs (logs, keys)
"""
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from pathlib import Path

import httpcore.backends.sync
import httpx
import yaml
from jsonschema import Draft202012Validator, RefResolver

SRC = Path(os.environ.get("LEADX_SOURCE_DIR") or Path(__file__).resolve().parents[2])
LEADX_BIN = Path(os.environ.get("LEADX_BIN") or SRC / "build" / "leadx")
PGDIR = Path(os.environ.get("LEADX_TEST_PGDIR") or SRC / "build" / "test-pg")
PG_SH = Path(os.environ.get("LEADX_PG_SH") or SRC / "deploy" / "pg.sh")
SPEC_PATH = SRC / "api" / "openapi.yaml"
KEEP = os.environ.get("LEADX_TEST_KEEP") == "1"

def _with_nodelay(connect_tcp):
    """httpx writes a request's headers and its body separately; with Nagle's algorithm on, the body waits for the
    server's delayed ACK (about 40 ms per POST). Test connections send at once (the server is not affected: its
    answers are the same)."""

    def connect(self, *args, **kwargs):
        stream = connect_tcp(self, *args, **kwargs)
        stream.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return stream

    return connect


httpcore.backends.sync.SyncBackend.connect_tcp = _with_nodelay(httpcore.backends.sync.SyncBackend.connect_tcp)

TOKEN_RE = re.compile(r"^lx_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")

# The stable problem codes and their HTTP statuses (the contract's error table).
PROBLEM_STATUS = {
    "malformed_json": 400, "invalid_parameter": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "method_not_allowed": 405, "conflict": 409, "idempotency_in_progress": 409, "payload_too_large": 413,
    "unsupported_media_type": 415, "validation_failed": 422, "idempotency_key_reused": 422, "rate_limited": 429,
    "request_header_fields_too_large": 431, "internal_error": 500, "database_unavailable": 503, "overloaded": 503,
    "insufficient_funds": 402,
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL


def pg_sh(cmd, *args, pgdir=None, dbname=None, check=True, timeout=120, input=None):
    """Runs deploy/pg.sh CMD ARGS with PGDIR (and DBNAME); returns the CompletedProcess."""
    env = dict(os.environ, PGDIR=str(pgdir or PGDIR), LEADX_HUGE_PAGES="off")  # as in cluster.py
    if dbname is not None:
        env["DBNAME"] = dbname
    if not PG_SH.exists():
        raise unittest.SkipTest(f"{PG_SH} does not exist yet")
    p = subprocess.run([str(PG_SH), cmd, *args], env=env, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"deploy/pg.sh {cmd} {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def pg_url(pgdir=None, dbname=None):
    return pg_sh("url", pgdir=pgdir, dbname=dbname).stdout.strip().splitlines()[-1]


_cluster_checked = False


def ensure_cluster():
    """The shared test cluster runs (ctest starts it as a fixture; a standalone run starts it here)."""
    global _cluster_checked
    if _cluster_checked:
        return
    if pg_sh("status", check=False).returncode != 0:
        log(f"harness: starting the test cluster in {PGDIR}")
        pg_sh("start", timeout=300)
    _cluster_checked = True


def psql(url, sql, check=True, timeout=60):
    """Runs SQL through psql against a libpq URL; returns stdout (unaligned, tuples only)."""
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"psql failed ({p.returncode}) on {sql!r}:\n{p.stderr}")
    return p.stdout.strip()


def new_database(pgdir=None):
    """A fresh, empty database in the test cluster; returns its URL."""
    if pgdir is None:
        ensure_cluster()
    name = "lxt_" + secrets.token_hex(6)
    # Owned by the role of the cluster's URL, whoever `pg.sh psql` connects as (PostgreSQL 15: only the
    # database owner may create objects in its public schema).
    owner = urllib.parse.urlsplit(pg_url(pgdir=pgdir)).username or "leadx"
    pg_sh("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}" OWNER "{owner}"',
          pgdir=pgdir)
    return pg_url(pgdir=pgdir, dbname=name)


class PgLock:
    """Holds `LOCK TABLE <table> IN <mode> MODE` (default ACCESS EXCLUSIVE) in an open transaction of a psql session, so the
    server's queries on that table wait until release(). Used to keep requests in flight on purpose."""

    def __init__(self, url, table, mode="ACCESS EXCLUSIVE", sql=None):
        """With `sql` (say `SELECT 1 FROM t WHERE id = ... FOR UPDATE`), holds what that statement locks instead: row
        locks do not stop a statement's parse (which takes table locks), so a server statement prepared lazily in
        the middle of a pipeline still parses and then waits where it runs."""
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        hold = sql if sql is not None else f"LOCK TABLE {table} IN {mode} MODE"
        self.p.stdin.write(f"BEGIN;\n{hold} \\g /dev/null\nSELECT 'locked';\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        if line != "locked":
            self.p.kill()  # so reading its stderr cannot wait for ever
            raise AssertionError(f"could not lock {table}: {line!r} {self.p.stderr.read()}")

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write("COMMIT;\n\\q\n")
            self.p.stdin.flush()
            self.p.stdin.close()
            self.p.wait(timeout=30)
            self.p.stdout.close()
            self.p.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def wait_for(predicate, timeout, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value; returns it, or raises AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except (httpx.TransportError, ConnectionError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------------------------
# The contract


def _essence(content_type):
    return content_type.split(";", 1)[0].strip().lower() if content_type else ""


class Contract:
    """api/openapi.yaml, and the check of one response against it."""

    def __init__(self, path=SPEC_PATH):
        with open(path, encoding="utf-8") as f:
            self.spec = yaml.safe_load(f)
        self.resolver = RefResolver.from_schema(self.spec)
        self.routes = []  # (regex, template, path item)
        for template, item in self.spec["paths"].items():
            rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            self.routes.append((re.compile(rx), template, item))
        self._validators = {}
        self.checked = 0
        self.lock = threading.Lock()

    def deref(self, obj):
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
            seen += 1
            if seen > 20:
                raise AssertionError("$ref loop")
        return obj

    def validator(self, pointer, schema):
        with self.lock:
            v = self._validators.get(pointer)
            if v is None:
                v = Draft202012Validator(schema, resolver=RefResolver.from_schema(self.spec))
                self._validators[pointer] = v
            return v

    def validate(self, pointer, schema, instance):
        errors = sorted(self.validator(pointer, schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]]
            raise AssertionError(f"does not match {pointer}:\n" + "\n".join(lines))

    def validate_problem(self, instance):
        self.validate("#/components/schemas/Problem", {"$ref": "#/components/schemas/Problem"}, instance)

    def find(self, path):
        """(template, path item) of the path, or (None, None). A trailing slash names the same resource."""
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        # The most literal template names the resource (the server's router): /v1/leads/batch, not /v1/leads/{id}.
        found = [(template.count("{"), template, item) for rx, template, item in self.routes if rx.match(path)]
        if not found:
            return None, None
        _, template, item = min(found, key=lambda f: f[0])
        return template, item

    def check(self, method, path, status, headers, body):
        """Checks one response; raises AssertionError describing every mismatch.
        headers: a case-insensitive mapping (httpx.Headers); body: bytes."""
        with self.lock:
            self.checked += 1
        where = f"{method} {path} -> {status}"
        try:
            self._check(method, path, status, headers, body)
        except AssertionError as e:
            raise AssertionError(f"contract violation: {where}: {e}\n  body: {body[:600]!r}") from None

    def _check(self, method, path, status, headers, body):
        rid = headers.get("x-request-id")
        assert rid, "no X-Request-Id header"
        assert 1 <= len(rid) <= 128, f"X-Request-Id {rid!r} is not 1-128 characters"
        ctype = headers.get("content-type", "")
        template, item = self.find(path)
        # HEAD is GET without the content: GET's statuses and headers, and an empty body.
        head = method.upper() == "HEAD"
        op = item.get("get" if head else method.lower()) if item else None
        if op is None:
            # Unknown route or method: only the generic answers, as Problem.
            allowed = {404, 431} if item is None else {405, 431}
            assert status in allowed, f"status {status} for {'an unknown route' if item is None else 'a wrong method'}"
            if status == 405:
                allow = headers.get("allow")
                assert allow, "405 without Allow"
                want = {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
                want |= {"HEAD"} if "get" in item else set()
                assert set(allow.split(", ")) == want, f"Allow {allow!r}, expected {sorted(want)}"
            if head:
                assert body == b"", "a HEAD answer with content"
                return
            self._check_problem(status, ctype, headers, body, None)
            return
        responses = op["responses"]
        resp = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        assert resp is not None, f"status {status} is not listed for {op['operationId']} ({sorted(responses)})"
        resp = self.deref(resp)
        for name, h in (resp.get("headers") or {}).items():
            h = self.deref(h)
            value = headers.get(name)
            if h.get("required"):
                assert value is not None, f"required header {name} missing"
            if value is not None and "schema" in h:
                pat = h["schema"].get("pattern")
                assert pat is None or re.search(pat, value), f"header {name}: {value!r} does not match {pat}"
        content = resp.get("content")
        if not content or head:
            assert body == b"", f"{status} must have no body" if not head else "a HEAD answer with content"
            return
        media = None
        for key in content:
            if _essence(key) == _essence(ctype):
                media = key
                break
        assert media is not None, f"Content-Type {ctype!r} is not one of {list(content)}"
        for param in media.split(";")[1:]:
            assert param.strip().lower() in ctype.lower(), f"Content-Type {ctype!r} lacks {param.strip()}"
        if status >= 400:
            self._check_problem(status, ctype, headers, body, content[media]["schema"],
                                f"{template}/{method}/{status}")
            return
        if _essence(media).endswith("json"):
            try:
                doc = json.loads(body)
            except ValueError as e:
                raise AssertionError(f"body is not JSON: {e}")
            self.validate(f"{template}/{method}/{status}", content[media]["schema"], doc)
        else:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise AssertionError("text body is not UTF-8")

    def _check_problem(self, status, ctype, headers, body, schema, pointer=None):
        assert _essence(ctype) == "application/problem+json", f"error with Content-Type {ctype!r}"
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise AssertionError(f"problem body is not JSON: {e}")
        self.validate_problem(doc)
        if schema is not None:
            self.validate(pointer, schema, doc)
        assert doc["status"] == status, f"problem status {doc['status']} != HTTP {status}"
        assert doc["request_id"] == headers.get("x-request-id"), "problem request_id != X-Request-Id"
        assert doc["type"] == "https://leadx.dev/problems/" + doc["code"], "problem type does not end with its code"
        want = PROBLEM_STATUS.get(doc["code"])
        assert want == status, f"code {doc['code']} with status {status} (expected {want})"


CONTRACT = Contract()


class CheckedClient(httpx.Client):
    """An httpx client that checks every response against the contract and the HTTP version it was made for.
    `with client.unchecked():` turns the check off (only for answers h2o gives before leadx sees the request)."""

    def __init__(self, *args, expect_version, **kwargs):
        super().__init__(*args, **kwargs)
        self.expect_version = expect_version
        self._check = True

    @contextlib.contextmanager
    def unchecked(self):
        self._check = False
        try:
            yield self
        finally:
            self._check = True

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        response.read()
        if self._check:
            assert response.http_version == self.expect_version, \
                f"{request.method} {request.url.path}: answered over {response.http_version}, not {self.expect_version}"
            CONTRACT.check(request.method, request.url.path, response.status_code, response.headers, response.content)
        return response


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def problem(response, status, code, field=None):
    """Asserts a problem answer with this status and code (and, if given, an errors entry naming field);
    returns the parsed body."""
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text[:600]}"
    doc = response.json()
    assert doc["code"] == code, f"expected code {code}, got {doc['code']}: {doc}"
    if field is not None:
        fields = [e["field"] for e in doc["errors"]]
        assert field in fields, f"expected an error on {field!r}, got {fields}: {doc}"
    return doc


# ---------------------------------------------------------------------------------------------------------------
# The binary and servers


def run_cli(args, env=None, check=True, timeout=120):
    """Runs `leadx ARGS` with os.environ + env; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run([str(LEADX_BIN), *args], env=full_env, capture_output=True, text=True, timeout=timeout)
    for marker in SANITIZER_MARKERS:
        assert marker not in p.stderr, f"leadx {' '.join(args)}: sanitizer report:\n{p.stderr}"
    if check and p.returncode != 0:
        raise AssertionError(f"leadx {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_env():
    """Defaults for ASan/UBSan builds (harmless otherwise); the caller's settings win."""
    env = {}
    supp = SRC / "tests" / "lsan.supp"
    if "LSAN_OPTIONS" not in os.environ and supp.exists():
        env["LSAN_OPTIONS"] = f"suppressions={supp}:print_suppressions=0"
    if "UBSAN_OPTIONS" not in os.environ:
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    if "ASAN_OPTIONS" not in os.environ:
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    return env


class Server:
    """One `leadx serve` process on a free port, with its own temp dir (logs, and keys unless shared)."""

    def __init__(self, db_url, key_dir=None, env=None, threads=2, name="leadx"):
        self.db_url = db_url
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.key_dir = Path(key_dir) if key_dir else self.dir / "keys"
        self.extra_env = dict(env or {})
        self.threads = threads
        self.name = name
        self.proc = None
        self.port = None
        self.stdout_path = self.dir / "stdout.log"
        self.stderr_path = self.dir / "stderr.log"
        self._clients = []
        self._stopped = False

    @property
    def env(self):
        env = sanitizer_env()
        env.update({"LEADX_DATABASE_URL": self.db_url, "LEADX_KEY_DIR": str(self.key_dir)})
        env.update(self.extra_env)
        return env

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def cli(self, args, check=True):
        return run_cli(args, env=self.env, check=check)

    def start(self, timeout=20):
        if not LEADX_BIN.exists():
            raise unittest.SkipTest(f"{LEADX_BIN} does not exist (build it first)")
        if not (self.key_dir / "apikey-hash.key").exists():
            self.key_dir.mkdir(parents=True, exist_ok=True)
            self.cli(["keygen"])
        self.cli(["migrate"])
        last_error = None
        for _ in range(3):  # the free port may be taken between the probe and the bind
            self.port = free_port()
            full_env = dict(os.environ)
            full_env.update(self.env)
            self.stdout_f = open(self.stdout_path, "ab")
            self.stderr_f = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen(
                [str(LEADX_BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--threads", str(self.threads)],
                env=full_env, stdout=self.stdout_f, stderr=self.stderr_f, stdin=subprocess.DEVNULL)
            stderr_before = self.read_stderr()
            try:
                self.wait_healthy(timeout)
                return self
            except AssertionError as e:
                last_error = e
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.stdout_f.close()
                self.stderr_f.close()
                # Retry only a lost race for the port; any other failure (a crash above all) is the answer.
                if "in use" not in self.read_stderr()[len(stderr_before):]:
                    break
        self._stopped = True
        message = f"{self.name} did not start: {last_error}\n{self.log_tail()}"
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)
        raise AssertionError(message)

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"exited with {self.proc.returncode} while starting")
                try:
                    if c.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"/healthz did not answer within {timeout} s")

    def client(self, http2=True, timeout=15, **kwargs):
        """A contract-checking client: HTTP/2 with prior knowledge (h2c), or HTTP/1.1."""
        c = CheckedClient(base_url=self.base_url, http1=not http2, http2=http2, timeout=timeout,
                          expect_version="HTTP/2" if http2 else "HTTP/1.1", **kwargs)
        self._clients.append(c)
        return c

    def read_stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_report(self):
        err = self.read_stderr()
        for marker in SANITIZER_MARKERS:
            i = err.find(marker)
            if i >= 0:
                return err[max(0, i - 2000):i + 6000]
        return None

    def assert_clean(self):
        report = self.sanitizer_report()
        assert report is None, f"{self.name}: sanitizer report in stderr:\n{report}"

    def log_tail(self, lines=60):
        out = []
        for path in (self.stdout_path, self.stderr_path):
            try:
                text = path.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            out.append(f"----- {self.name} {path.name} (last {lines} lines of {len(text)}) -----")
            out.extend(text[-lines:])
        return "\n".join(out)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM; asserts a clean exit (status 0) within `timeout` s and no sanitizer report."""
        if self._stopped or self.proc is None:
            return
        self._stopped = True
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not exit within {timeout} s of SIGTERM\n{self.log_tail()}")
            self.assert_clean()
            assert rc == 0, f"{self.name} exited with status {rc}\n{self.log_tail()}"
        finally:
            self.stdout_f.close()
            self.stderr_f.close()
            if not KEEP:
                shutil.rmtree(self.dir, ignore_errors=True)
            else:
                log(f"harness: kept {self.dir}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def create_operator(server, name="ops"):
    """An operator account made with the CLI; returns its token (the only stdout line)."""
    p = server.cli(["accounts", "create", "--role", "operator", "--name", name])
    token = p.stdout.strip()
    assert TOKEN_RE.match(token), f"accounts create printed {p.stdout!r}"
    return token


# ---------------------------------------------------------------------------------------------------------------
# Test case base


class ServersTestCase(unittest.TestCase):
    """Prints the tail of every server's logs when a test fails, and asserts after every test that each logged nothing
    unexpected. Subclasses list their servers in servers()."""

    log_lines = 60  # of each server's log, on a failure

    @classmethod
    def start_server(cls, db_url, **kw):
        """A started Server(db_url, **kw), killed (if still running) and stopped when the class is done."""
        server = Server(db_url, **kw)
        cls.addClassCleanup(server.kill)
        server.start()
        cls.addClassCleanup(server.stop)
        return server

    def servers(self):
        raise NotImplementedError

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result is not None else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            logs = "\n".join(s.log_tail(self.log_lines) for s in self.servers())
            log(f"\n{self.id()} failed; server logs:\n{logs}\n")
        return out

    def tearDown(self):
        for s in self.servers():
            s.assert_clean()


class TwoServerTestCase(ServersTestCase):
    """Two server processes on one database and one key directory (what a deployment behind a load balancer runs):
    `cls.a` and `cls.b`, an HTTP/2 client on each (`cls.ca`, `cls.cb`), an operator token `cls.op`. On a failing test
    the tail of both servers' logs is printed; after every test both must have logged nothing unexpected."""

    server_env = {}

    @classmethod
    def setUpClass(cls):
        cls.db_url = new_database()
        cls.a = cls.start_server(cls.db_url, name="server-A", env=cls.server_env)
        cls.b = cls.start_server(cls.db_url, key_dir=cls.a.key_dir, name="server-B", env=cls.server_env)
        cls.op = create_operator(cls.a)
        cls.ca = cls.a.client(http2=True)
        cls.cb = cls.b.client(http2=True)

    def servers(self):
        return (self.a, self.b)


class ServerTestCase(ServersTestCase):
    """One database and one server per test class; `self.h2` (HTTP/2) and `self.h1` (HTTP/1.1) clients and an
    operator token `self.op`. On a failing test the tail of the server's logs is printed."""

    server_env = {}
    threads = 2

    @classmethod
    def setUpClass(cls):
        cls.db_url = new_database()
        cls.server = cls.start_server(cls.db_url, env=cls.server_env, threads=cls.threads, name=cls.__name__)
        cls.op = create_operator(cls.server)
        cls.h2 = cls.server.client(http2=True)
        cls.h1 = cls.server.client(http2=False)

    def servers(self):
        return (self.server,)

    # -- helpers ----------------------------------------------------------------------------------------------

    def create_account(self, role="webmaster", name=None, currency="USD", client=None, **extra):
        """Creates an account as the operator; returns (account, token)."""
        body = {"role": role, "name": name or f"{role} {secrets.token_hex(4)}", "currency": currency, **extra}
        r = (client or self.h2).post("/v1/accounts", json=body, headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        doc = r.json()
        self.assertTrue(TOKEN_RE.match(doc["key"]["token"]))
        return doc["account"], doc["key"]["token"]

    def me(self, token, client=None):
        return (client or self.h2).get("/v1/me", headers=bearer(token))


def main():
    unittest.main(verbosity=2)
