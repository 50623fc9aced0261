"""Shared pieces of the lead-intake API tests: a niche, realistic distinct leads, and a test case base that has
an operator, a webmaster and a niche ready."""
import datetime
import itertools
import json
import secrets

from harness import ServerTestCase, bearer

JSON = {"Content-Type": "application/json"}
_counter = itertools.count(1)


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now(offset_s=0.0):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)


_phone_base = secrets.randbelow(10_000_000)


def unique_phone():
    """A valid Russian mobile number in a form people type, never the same twice in a process (7919 is prime to
    10**7, so the first ten million numbers are all different); the random base keeps runs apart."""
    n = _phone_base + next(_counter) * 7919
    digits = f"{n % 10_000_000:07d}"
    return f"+7 916 {digits[:3]}-{digits[3:5]}-{digits[5:]}"


def unique_email():
    return f"person.{secrets.token_hex(5)}@example.org"


def unique_ip():
    """A visitor address no other lead of the test database's last hour has (96 random bits of the IPv6
    documentation prefix), for tests that count an address's leads: the test database outlives a run, and
    addresses drawn from one /24 repeated within the hour after a few runs, failing a velocity test."""
    return "2001:db8:" + ":".join(f"{secrets.randbelow(65536):x}" for _ in range(6))


def lead(niche="loans", region="RU-MOW", phone=None, email=None, name="Ivan Petrov", ip=None, sub_id=None,
         fill_s=45, attributes=None, **top):
    """A realistic, valid lead body; keyword arguments replace top-level members (None removes one)."""
    submitted = now(-1)
    ip = ip or f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    body = {
        "niche": niche,
        "region": region,
        "sale_mode": "any",
        "contact": {"name": name, "phone": phone or unique_phone(), "email": email or unique_email(),
                    "company": "Romashka LLC", "position": "Accountant"},
        "attributes": {"age": 35, "purpose": "car"} if attributes is None else attributes,
        "consent": {"text": "I agree to be contacted about loan offers.", "given_at": rfc3339(submitted),
                    "ip": ip, "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "page_url": "https://example.ru/form",
                    "personal_data": True, "advertising": True},
        "source": {"sub_id": sub_id or f"s{secrets.randbelow(1000)}", "click_id": "c-" + secrets.token_hex(6),
                   "landing_url": "https://example.ru/", "ip": ip,
                   "form_started_at": rfc3339(submitted - datetime.timedelta(seconds=fill_s)),
                   "form_submitted_at": rfc3339(submitted)},
    }
    for k, v in top.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


NICHE_ATTRIBUTES = {
    "age": {"type": "integer", "min": 18, "max": 100, "required": True, "unit": "years"},
    "income": {"type": "integer", "min": 0, "unit": "RUB/month"},
    "amount": {"type": "number", "min": 1000, "max": 5000000},
    "employed": {"type": "boolean"},
    "purpose": {"type": "enum", "values": ["car", "home", "other"]},
    "comment": {"type": "string", "max_length": 200},
}


def niche_body(slug=None, **kw):
    body = {"slug": slug or "loans-" + secrets.token_hex(3), "name": "Consumer loans", "currency": "RUB",
            "max_shares": 3, "floor_exclusive": 50000, "floor_shared": 20000, "return_window_hours": 72,
            "inventory_ttl_hours": 48, "dedupe_days": 30, "fee_bps": 1500, "min_quality": 30,
            "attributes": NICHE_ATTRIBUTES}
    body.update(kw)
    return body


class LeadTestCase(ServerTestCase):
    """Adds a niche (`self.niche`, its slug `self.slug`), a webmaster (`self.wm`, token `self.wm_token`) and
    helpers to submit leads."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.h2.post("/v1/niches", json=niche_body(), headers=bearer(cls.op))
        assert r.status_code == 201, r.text
        cls.niche = r.json()
        cls.slug = cls.niche["slug"]
        r = cls.h2.post("/v1/accounts", json={"role": "webmaster", "name": "wm " + secrets.token_hex(3),
                                               "currency": "RUB"}, headers=bearer(cls.op))
        assert r.status_code == 201, r.text
        cls.wm, cls.wm_token = r.json()["account"], r.json()["key"]["token"]

    def lead(self, **kw):
        kw.setdefault("niche", self.slug)
        return lead(**kw)

    def submit(self, body, token=None, client=None, key=None):
        headers = {**bearer(token or self.wm_token), **JSON}
        if key is not None:
            headers["Idempotency-Key"] = key
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).post("/v1/leads", content=content, headers=headers)

    def submit_batch(self, leads, token=None, client=None, key=None):
        headers = {**bearer(token or self.wm_token), **JSON}
        if key is not None:
            headers["Idempotency-Key"] = key
        return (client or self.h2).post("/v1/leads/batch", content=json.dumps({"leads": leads}).encode(),
                                        headers=headers)
