"""Lead intake, bad input: whatever a webmaster's form (or a broken integration) can send gets a 4xx
application/problem+json naming EVERY failing field by its JSON Pointer, nothing is stored, never a 500.

POST /v1/leads (422 validation_failed, 400 malformed_json, 413, 415, 401/403) and POST /v1/leads/batch (a batch
mixing good and bad leads answers 200 with one result per lead; only the good ones are stored). The accepted
spellings (national phone forms, offsets, IPv6, Unicode names, e-mail trimming) are read back as stored."""
import copy
import datetime
import json
import secrets
import socket

import httpx

from harness import bearer, main, problem, psql
from leads_common import JSON, LeadTestCase, niche_body, now, rfc3339, unique_email, unique_phone

try:  # the httpcore of Debian 12 (0.16); newer ones moved it
    from httpcore.backends.sync import SyncBackend
except ImportError:  # pragma: no cover
    from httpcore._backends.sync import SyncBackend


class NoDelayBackend(SyncBackend):
    """TCP_NODELAY on the client's sockets: httpx writes a request's headers and body separately, and Nagle's
    algorithm then waits for the server's delayed ACK, ~40 ms per request. Hundreds of cases need it off."""

    def connect_tcp(self, *args, **kwargs):
        stream = super().connect_tcp(*args, **kwargs)
        stream.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return stream


def fast_client(server, http2):
    transport = httpx.HTTPTransport(http1=not http2, http2=http2)
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = NoDelayBackend()
    return server.client(http2=http2, transport=transport)


DROP = object()  # a value for at(): remove the member
LEAD_FIELDS_NO_ECHO = ("phone", "email")


def at(body, path, value):
    """A deep copy of `body` with the member at `path` ("contact/name", or a tuple of keys) set to `value` (DROP
    removes it)."""
    body = copy.deepcopy(body)
    keys = path.split("/") if isinstance(path, str) else list(path)
    obj = body
    for k in keys[:-1]:
        obj = obj[k]
    if value is DROP:
        obj.pop(keys[-1], None)
    else:
        obj[keys[-1]] = value
    return body


def fields_of(doc):
    return sorted(e["field"] for e in doc["errors"])


def ts_z(dt):
    """The server's stored spelling of a time: RFC 3339 UTC with six fractional digits."""
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeadInput(LeadTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.h2 = fast_client(cls.server, http2=True)
        cls.h1 = fast_client(cls.server, http2=False)

    # -- helpers ----------------------------------------------------------------------------------------------

    def count_leads(self):
        return int(psql(self.db_url, "SELECT count(*) FROM leads"))

    def setUp(self):
        self.before = self.count_leads()
        self.created = 0  # leads a test stores on purpose

    def tearDown(self):
        super().tearDown()
        # Invariant 8: a rejected request writes nothing (leads, and their keys and duplicate claims with them).
        self.assertEqual(self.count_leads(), self.before + self.created, "a rejected lead was stored")

    def reject(self, body, fields, status=422, code="validation_failed", client=None, raw=None):
        """Submits `body` (a dict, or `raw` bytes) and asserts the problem names exactly `fields`."""
        r = self.submit(raw if raw is not None else body, client=client)
        doc = problem(r, status, code)
        self.assertEqual(fields_of(doc), sorted(fields), doc)
        for e in doc["errors"]:
            self.assertTrue(e["message"], doc)
        # Contact data never comes back in an error.
        if isinstance(body, dict) and isinstance(body.get("contact"), dict):
            for k in LEAD_FIELDS_NO_ECHO:
                v = body["contact"].get(k)
                if isinstance(v, str) and len(v.strip()) >= 6:
                    self.assertNotIn(v.strip(), r.text, f"the {k} is echoed in the problem")
        return doc

    def table(self, cases, client=None):
        """cases: (label, body, [pointers]); each must be a 422 naming exactly those pointers."""
        for label, body, fields in cases:
            with self.subTest(case=label):
                self.reject(body, fields, client=client)

    def accept(self, body, client=None):
        """Submits a lead that must be stored; returns (201 answer, GET /v1/leads/{id} answer)."""
        r = self.submit(body, client=client)
        self.assertEqual(r.status_code, 201, r.text)
        self.created += 1
        lead = r.json()
        self.assertEqual(lead["status"], "unsold", lead)
        got = self.h2.get(f"/v1/leads/{lead['id']}", headers=bearer(self.wm_token))
        self.assertEqual(got.status_code, 200, got.text)
        stored = got.json()
        self.assertEqual(stored["id"], lead["id"])
        return lead, stored

    # -- strings: empty, whitespace, names ----------------------------------------------------------------------

    def test_consent_text_keeps_line_breaks(self):
        """Consent wording is copied from the form page: line breaks and tabs inside it are kept (and trimmed at the
        ends); other control characters are refused."""
        body = self.lead()
        body["consent"]["text"] = "\n  I agree to the processing of my data.\r\n\tDetails: https://example.ru/pd\n"
        r = self.submit(body)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["consent"]["text"], "I agree to the processing of my data.\r\n\tDetails: https://example.ru/pd")
        got = self.h2.get(f"/v1/leads/{r.json()['id']}", headers=bearer(self.wm_token)).json()
        self.assertEqual(got["consent"]["text"], r.json()["consent"]["text"])
        self.created += 1
        for bad in ("I agree\u0007", "I\u001bagree", "\n\r\t "):
            body = self.lead()
            body["consent"]["text"] = bad
            problem(self.submit(body), 422, "validation_failed", "/consent/text")

    def test_empty_strings(self):
        good = self.lead()
        cases = [(p, at(good, p, ""), ["/" + p]) for p in (
            "niche", "region", "sale_mode", "contact/name", "contact/phone", "contact/email", "contact/company",
            "contact/position", "consent/text", "consent/given_at", "consent/ip", "consent/user_agent",
            "consent/page_url", "source/sub_id", "source/click_id", "source/landing_url", "source/ip",
            "source/form_started_at", "source/form_submitted_at")]
        self.table(cases)
        # The four a form leaves empty most often, at once: all four named in one answer.
        body = good
        for p in ("contact/name", "contact/phone", "contact/email", "consent/text"):
            body = at(body, p, "")
        self.reject(body, ["/consent/text", "/contact/email", "/contact/name", "/contact/phone"])

    def test_names_rejected(self):
        good = self.lead()
        for name in ("   ", "\u00a0\u00a0", " \u00a0 ", "Ivan 😀", "😀", "Ivan 2", "Ivan Petrov 3rd", "R2-D2",
                     "A" * 201, "Ж" * 201, "Ivan\tPetrov", "Ivan\nPetrov", "Ivan\x7f", "Ivan <script>",
                     "ivan@example.org", "Ivan_Petrov", "---", "'.'", "Ivan ★", "Ivan ©", "Ivan ١٢", "Иван ８"):
            with self.subTest(name=name[:24]):
                self.reject(at(good, "contact/name", name), ["/contact/name"])

    def test_names_invisible_or_with_digits_of_other_scripts(self):
        """lead.h: names are letters, spaces, hyphens, apostrophes and periods; digits are a bot or a prank. A name
        that is only invisible filler or combining marks has no letter a person could read either."""
        for name in ("\u3164", "\u115f\u1160", "\uffa0", "\ufeff", "Iv\ufeffan", "\u0301\u0301", "Ivan \u09e7\u09e8",
                     "Ivan \u0e51\u0e52", "Ivan \u1041"):
            with self.subTest(name=ascii(name)):
                self.reject(self.lead(name=name), ["/contact/name"])

    def test_mixed_blanks_are_trimmed(self):
        """Trimming takes ASCII blanks and U+00A0 at both ends, in any order: a consent text or a company of
        blanks only is empty, and a name keeps no blank at its ends."""
        for path, blank in (("consent/text", "\u00a0 \u00a0"), ("consent/text", " \u00a0 \u00a0 "),
                            ("contact/company", "\u00a0 \u00a0"), ("contact/position", "\u00a0\u00a0 \u00a0")):
            with self.subTest(path=path, value=ascii(blank)):
                self.reject(at(self.lead(), path, blank), ["/" + path])
        for path, sent, want in (("contact/name", "\u00a0 Ivan Petrov \u00a0", "Ivan Petrov"),
                                 ("contact/name", " \u00a0Ivan Petrov\u00a0 ", "Ivan Petrov"),
                                 ("consent/text", "\u00a0 I agree. \u00a0", "I agree."),
                                 ("contact/company", " \u00a0Romashka\u00a0 ", "Romashka")):
            with self.subTest(path=path, value=ascii(sent)):
                lead, stored = self.accept(at(self.lead(), path, sent))
                group, member = path.split("/")
                self.assertEqual(stored[group][member], want)

    def test_lengths_and_characters(self):
        good = self.lead()
        cases = [("contact/company", "a" * 201), ("contact/position", "Ж" * 201), ("consent/text", "a" * 5001),
                 ("consent/user_agent", "a" * 1001), ("consent/user_agent", "Mozilla\r\nX-Evil: 1"),
                 ("consent/text", "I agree\u0007"), ("source/sub_id", "s" * 65),
                 ("source/sub_id", "s 1"), ("source/sub_id", "канал"), ("source/click_id", "c" * 256),
                 ("source/click_id", "c\t1"), ("consent/page_url", "https://example.ru/\t")]
        self.table([(f"{p}={v[:20]!r}", at(good, p, v), ["/" + p]) for p, v in cases])
        # The limits themselves are accepted.
        body = self.lead()
        for p, v in (("contact/company", "a" * 200), ("contact/position", "Ж" * 200), ("consent/text", "я" * 5000),
                     ("consent/user_agent", "a" * 1000), ("source/sub_id", "s" * 64), ("source/click_id", "~" * 255)):
            body = at(body, p, v)
        lead, stored = self.accept(body)
        self.assertEqual(stored["contact"]["company"], "a" * 200)
        self.assertEqual(stored["consent"]["text"], "я" * 5000)

    def test_long_member_names_are_named_exactly(self):
        """The pointer names the member however long its name is (a prefix of it names nothing)."""
        good = self.lead()
        for path in (("x" * 300,), ("attributes", "Ж" * 70), ("contact", "y" * 130)):  # Ж: 2 bytes, a cut splits it
            with self.subTest(pointer_len=len("/".join(("",) + path).encode())):
                self.reject(at(good, path, 1), ["/" + "/".join(path)])

    def test_names_accepted_and_trimmed(self):
        for sent, stored_name in (("Анна-Мария О'Нил", "Анна-Мария О'Нил"), ("  Jean-Luc Picard  ", "Jean-Luc Picard"),
                                  ("José María Núñez", "José María Núñez"), ("D\u2019Artagnan", "D\u2019Artagnan"),
                                  ("Nguyễn Văn A.", "Nguyễn Văn A."), ("Ж" * 200, "Ж" * 200), ("Q", "Q")):
            with self.subTest(name=sent[:24]):
                lead, stored = self.accept(self.lead(name=sent))
                self.assertEqual(lead["contact"]["name"], stored_name)
                self.assertEqual(stored["contact"]["name"], stored_name)

    # -- phones ---------------------------------------------------------------------------------------------------

    def test_phones_rejected(self):
        good = self.lead()
        for phone in ("+7 916 CALL-ME", "+7 916 123-45-67 ext. 5", "8 916 123 45 6x", "+7 916 123", "916",
                      "+7 916 123 45 67 89", "+79161234567890123", "+", "tel:", "+7 (916) 123-45-67 / +7 (916) 1",
                      "+7 916 123 45 67" + " " * 60, "1" * 65, "++79161234567", "79161234567+", "+7 916 123_45_67",
                      "+800 1234 5678", "+7 ９１６ 123 45 67", "８ 916 123 45 67"):
            with self.subTest(phone=phone):
                self.reject(at(good, "contact/phone", phone), ["/contact/phone"])

    def test_impossible_numbers_by_country(self):
        cases = [
            ("RU", "+7 216 123 45 67"), ("RU", "+7 870 123 45 67"), ("RU", "8 (216) 123-45-67"), ("RU", "8 916 123 45 6"),
            ("US", "+1 123 456 7890"), ("US", "+1 415 055 2671"), ("US", "(911) 555-2671"), ("US", "415 555 267"),
            ("PL", "+48 101 234 567"), ("PL", "+48 601 234 56"), ("PL", "012 345 678"),
            ("DE", "+49 1234 567890"), ("DE", "+49 151 1234"), ("DE", "+49 30 12"),
            ("GB", "+44 4123 456789"), ("GB", "+44 7911 12345"), ("GB", "0611 123 4567"),
            ("KZ", "+7 701 123 456"), ("KZ", "8 701 123 45"),
            ("UA", "+380 123 456 789"), ("UA", "+380 50 123 456"), ("UA", "0123 456 789"),
            ("CZ", "+420 123 456 789"), ("CZ", "+420 601 234 56"),
            ("RO", "+40 412 345 678"), ("RO", "+40 712 345 67"), ("RO", "0412 345 678"),
        ]
        for region, phone in cases:
            with self.subTest(region=region, phone=phone):
                self.reject(self.lead(region=region, phone=phone), ["/contact/phone"])

    def test_national_forms_accepted(self):
        cases = [("RU-MOW", "8 (916) 123-45-67", "+79161234567"), ("RU", "+7 (916) 765 43 21", "+79167654321"),
                 ("RU-SPE", "8\u00a0812\u00a0123-45-67", "+78121234567"), ("US", "(415) 555-2671", "+14155552671"),
                 ("US-CA", "1-415-555-2672", "+14155552672"), ("PL", "601 234 567", "+48601234567"),
                 ("DE", "030 1234567", "+49301234567"), ("GB", "07911 123456", "+447911123456"),
                 ("GB", "+44 (0)20 7946 0958", "+442079460958"), ("KZ", "8 701 123 4567", "+77011234567"),
                 ("UA", "050 123 4567", "+380501234567"), ("CZ", "601 234 567", "+420601234567"),
                 ("RO", "0712 345 678", "+40712345678"), ("RU", "tel:+7-916-555-00-11", "+79165550011")]
        for region, typed, e164 in cases:
            with self.subTest(region=region, phone=typed):
                lead, stored = self.accept(self.lead(region=region, phone=typed))
                self.assertEqual(lead["contact"]["phone"], e164)
                self.assertEqual(stored["contact"]["phone"], e164)
                self.assertEqual(stored["region"], region)

    # -- e-mail ---------------------------------------------------------------------------------------------------

    def test_emails_rejected(self):
        good = self.lead()
        for email in ("ivan.example.org", "ivan petrov@example.org", "ivan@exa mple.org", " ivan @example.org",
                      "a" * 65 + "@example.org", "ivan@@example.org", "ivan@example@org", "@example.org", "ivan@",
                      "ivan@localhost", "ivan@example.c", "ivan@example.123", "ivan@-example.org",
                      "ivan.@example.org", ".ivan@example.org", "iv..an@example.org", '"ivan petrov"@example.org',
                      "Ivan <ivan@example.org>", "ivan@[192.0.2.1]", "иван@example.org", "ivan@почта.рф",
                      "ivan@example.org.", "ivan@" + "a" * 64 + ".org", "x" * 60 + "@" + ("d" * 60 + ".") * 4 + "org"):
            with self.subTest(email=email[:40]):
                self.reject(at(good, "contact/email", email), ["/contact/email"])

    def test_email_trimmed_and_domain_lower_cased(self):
        local = "Ivan.Petrov+" + secrets.token_hex(3)
        lead, stored = self.accept(self.lead(email=f"  \u00a0{local}@Example.ORG "))
        self.assertEqual(lead["contact"]["email"], f"{local}@example.org")
        self.assertEqual(stored["contact"]["email"], f"{local}@example.org")
        # The longest legal part before the @ (64) and punycode domains are accepted.
        for email in ("a" * 64 + "@example.org", f"p{secrets.token_hex(3)}@xn--80a1acny.xn--p1ai"):
            with self.subTest(email=email):
                lead, stored = self.accept(self.lead(email=email))
                self.assertEqual(stored["contact"]["email"], email)

    def test_disposable_email_accepted_with_reason(self):
        for email in (f"p{secrets.token_hex(4)}@mailinator.com", f"p{secrets.token_hex(4)}@Sub.YOPMAIL.com"):
            with self.subTest(email=email):
                lead, stored = self.accept(self.lead(email=email))
                self.assertIn("disposable_email", lead["quality"]["reasons"])
                self.assertIn("disposable_email", stored["quality"]["reasons"])

    # -- members: missing, wrong types, unknown -------------------------------------------------------------------

    def test_missing_required_members(self):
        good = self.lead()
        cases = [(p, at(good, p, DROP), ["/" + p]) for p in (
            "niche", "region", "contact", "contact/name", "contact/phone", "contact/email", "consent", "consent/text",
            "consent/given_at", "consent/personal_data")]
        cases.append(("attributes (age is required)", at(good, "attributes", DROP), ["/attributes/age"]))
        cases.append(("attributes null", at(good, "attributes", None), ["/attributes/age"]))
        cases.append(("empty object", {}, ["/consent", "/contact", "/niche", "/region"]))
        cases.append(("empty contact and consent", at(at(good, "contact", {}), "consent", {}),
                      ["/consent/given_at", "/consent/personal_data", "/consent/text", "/contact/email",
                       "/contact/name", "/contact/phone"]))
        self.table(cases)
        # Optional members may be left out (or null where nullable): the lead is stored.
        minimal = {"niche": self.slug, "region": "RU-MOW", "attributes": {"age": 40},
                   "contact": {"name": "Olga Ivanova", "phone": unique_phone(), "email": unique_email(),
                               "company": None, "position": None},
                   "consent": {"text": "I agree.", "given_at": rfc3339(now(-5)), "personal_data": True},
                   "source": None}
        lead, stored = self.accept(minimal)
        self.assertEqual(stored["sale_mode"], "any")

    def test_personal_data_consent_must_be_true(self):
        self.reject(at(self.lead(), "consent/personal_data", False), ["/consent/personal_data"])
        # advertising consent may be false
        self.accept(at(self.lead(), "consent/advertising", False))

    def test_wrong_types(self):
        good = self.lead()
        cases = [
            ("niche", 5), ("niche", ["loans"]), ("region", 643), ("region", {"code": "RU"}), ("sale_mode", 1),
            ("sale_mode", None), ("contact", "Ivan Petrov"), ("contact", [good["contact"]]), ("contact", None),
            ("contact/name", 123), ("contact/name", ["Ivan"]), ("contact/name", None), ("contact/phone", 79161234567),
            ("contact/phone", ["+79161234567"]), ("contact/phone", None), ("contact/email", {"address": "a@b.org"}),
            ("contact/email", None), ("contact/company", 1), ("contact/position", True),
            ("consent", []), ("consent", "yes"), ("consent", None), ("consent/text", 1), ("consent/text", None),
            ("consent/given_at", 1763892000), ("consent/given_at", None), ("consent/personal_data", "true"),
            ("consent/personal_data", 1), ("consent/personal_data", None), ("consent/advertising", "yes"),
            ("consent/ip", 3325256815), ("consent/user_agent", ["Mozilla"]), ("consent/page_url", {"href": "x"}),
            ("source", []), ("source", "web"), ("source/sub_id", 17), ("source/click_id", ["c"]),
            ("source/landing_url", 1), ("source/ip", 1), ("source/form_started_at", 1763892000),
            ("source/form_submitted_at", True), ("attributes", []), ("attributes", "age=35"),
            ("attributes/age", "35"), ("attributes/age", 35.0), ("attributes/age", 35.5), ("attributes/age", True),
            ("attributes/age", None), ("attributes/amount", "100000"), ("attributes/employed", "yes"),
            ("attributes/employed", 1), ("attributes/purpose", 1), ("attributes/comment", 5),
        ]
        self.table([(f"{p}={v!r}", at(good, p, v), ["/" + p]) for p, v in cases])

    def test_unknown_members(self):
        good = self.lead()
        cases = [(p, at(good, p, 1), ["/" + p]) for p in (
            "extra", "contact/extra", "consent/extra", "source/extra", "attributes/extra", "id", "status",
            "webmaster_id", "contact/phone2", "consent/personal", "source/utm_source", "quality")]
        cases.append(("escaped", at(at(good, ("a/b",), 1), ("contact", "t~x"), 2), ["/a~1b", "/contact/t~0x"]))
        cases.append(("all levels", at(at(at(at(good, "extra", 1), "contact/extra", 1), "consent/extra", 1),
                                       "source/extra", 1),
                      ["/consent/extra", "/contact/extra", "/extra", "/source/extra"]))
        self.table(cases)

    # -- timestamps -----------------------------------------------------------------------------------------------

    def test_timestamps_rejected(self):
        good = self.lead()
        tomorrow = rfc3339(now(86400))
        bad = ("2026-11-23", "23.11.2026 10:00", "2026-11-23 10:00:00", "2026-11-23T10:00:00", "10:00:00Z",
               "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-23T25:00:00Z", "2026-11-23T10:00:00+25:00",
               "now", "1763892000", "1999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
               tomorrow)
        cases = []
        for p in ("consent/given_at", "source/form_started_at", "source/form_submitted_at"):
            for v in bad:
                cases.append((f"{p}={v}", at(good, p, v), ["/" + p]))
        self.table(cases)
        self.table([
            ("given_at tomorrow", at(good, "consent/given_at", tomorrow), ["/consent/given_at"]),
            ("submitted +1 h", at(good, "source/form_submitted_at", rfc3339(now(3600))), ["/source/form_submitted_at"]),
            ("started after submitted", at(at(good, "source/form_started_at", rfc3339(now(-10))),
                                           "source/form_submitted_at", rfc3339(now(-60))),
             ["/source/form_started_at"]),
        ])

    def test_clock_skew(self):
        """A minute of clock skew is allowed; more is the future."""
        self.accept(at(self.lead(), "consent/given_at", rfc3339(now(20))))
        self.reject(at(self.lead(), "consent/given_at", rfc3339(now(300))), ["/consent/given_at"])
        self.reject(at(self.lead(), "source/form_started_at", rfc3339(now(300))), ["/source/form_started_at"])

    def test_timestamp_offsets_normalised_to_utc(self):
        given = now(-600).replace(microsecond=123456)
        started = given - datetime.timedelta(seconds=90)
        msk = datetime.timezone(datetime.timedelta(hours=3))
        nyc = datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))
        body = self.lead()
        body = at(body, "consent/given_at", given.astimezone(msk).isoformat())          # ...+03:00
        body = at(body, "source/form_started_at", started.astimezone(nyc).strftime("%Y-%m-%dT%H:%M:%S.%f-05:30"))
        body = at(body, "source/form_submitted_at", given.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"))
        lead, stored = self.accept(body)
        for doc in (lead, stored):
            self.assertEqual(doc["consent"]["given_at"], ts_z(given))
            self.assertEqual(doc["source"]["form_started_at"], ts_z(started))
            self.assertEqual(doc["source"]["form_submitted_at"], ts_z(given))

    # -- IPs and URLs ---------------------------------------------------------------------------------------------

    def test_ips(self):
        good = self.lead()
        for ip in ("999.1.1.1", "abc", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.4/24", "::g", "2001:db8::1::1",
                   " 1.2.3.4", "1.2.3.4:80", "localhost"):
            with self.subTest(ip=ip):
                self.reject(at(at(good, "source/ip", ip), "consent/ip", ip), ["/consent/ip", "/source/ip"])
        for sent, want in (("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("::ffff:198.51.100.7", "::ffff:198.51.100.7"),
                           ("fe80::1", "fe80::1")):
            with self.subTest(ip=sent):
                lead, stored = self.accept(self.lead(ip=sent))
                self.assertEqual(stored["source"]["ip"], want)
                self.assertEqual(stored["consent"]["ip"], want)

    def test_urls(self):
        good = self.lead()
        for url in ("ftp://x", "javascript:alert(1)", "https://", "http://", "https:///path", "example.ru/form",
                    "//example.ru/", "HTTPS://EXAMPLE.RU/", "https://exa mple.ru/", 'https://example.ru/"><script>',
                    "data:text/html,hi", "https://example.ru/" + "a" * 2048):
            with self.subTest(url=url[:40]):
                self.reject(at(at(good, "consent/page_url", url), "source/landing_url", url),
                            ["/consent/page_url", "/source/landing_url"])
        lead, stored = self.accept(at(self.lead(), "consent/page_url", "http://example.ru/form?utm_source=vk&x=1#top"))
        self.assertEqual(stored["consent"]["page_url"], "http://example.ru/form?utm_source=vk&x=1#top")

    # -- attributes -----------------------------------------------------------------------------------------------

    def test_attributes_rejected(self):
        good = self.lead()
        cases = [
            ("nested object", {"age": {"x": 1}}, ["/attributes/age"]),
            ("array value", {"age": [35]}, ["/attributes/age"]),
            ("array value 2", {"age": 35, "purpose": ["car"]}, ["/attributes/purpose"]),
            ("not in schema", {"age": 35, "colour": "red"}, ["/attributes/colour"]),
            ("not in schema, case", {"Age": 35}, ["/attributes/Age", "/attributes/age"]),
            ("below min", {"age": 17}, ["/attributes/age"]),
            ("above max", {"age": 101}, ["/attributes/age"]),
            ("negative income", {"age": 30, "income": -1}, ["/attributes/income"]),
            ("amount below min", {"age": 30, "amount": 999.99}, ["/attributes/amount"]),
            ("amount above max", {"age": 30, "amount": 5000000.01}, ["/attributes/amount"]),
            ("wrong enum", {"age": 30, "purpose": "boat"}, ["/attributes/purpose"]),
            ("enum case", {"age": 30, "purpose": "Car"}, ["/attributes/purpose"]),
            ("string too long", {"age": 30, "comment": "x" * 201}, ["/attributes/comment"]),
            ("control chars", {"age": 30, "comment": "a\u0007b"}, ["/attributes/comment"]),
            ("required missing", {"purpose": "car"}, ["/attributes/age"]),
            ("empty", {}, ["/attributes/age"]),
            ("huge integer", {"age": 10 ** 30}, ["/attributes/age"]),
            ("all at once", {"age": 0, "income": "1", "amount": 1, "employed": "no", "purpose": "x", "zzz": 1},
             ["/attributes/age", "/attributes/amount", "/attributes/employed", "/attributes/income",
              "/attributes/purpose", "/attributes/zzz"]),
            ("65 members", {"age": 30, **{f"a{i}": i for i in range(64)}}, ["/attributes"]),
            ("escaped name", {"age": 30, "a/b": 1, "c~d": 2}, ["/attributes/a~1b", "/attributes/c~0d"]),
        ]
        self.table([(label, at(good, "attributes", attrs), fields) for label, attrs, fields in cases])
        # Nested past the JSON depth cap: the body itself is refused.
        deep = 1
        for _ in range(40):
            deep = {"x": deep}
        self.reject(None, [""], status=400, code="malformed_json",
                    raw=json.dumps(at(good, "attributes/comment", deep)).encode())
        # The bounds themselves are accepted.
        for attrs in ({"age": 18, "amount": 1000, "comment": "x" * 200}, {"age": 100, "amount": 5000000.0,
                                                                          "income": 0, "employed": False}):
            with self.subTest(attrs=str(attrs)[:40]):
                lead, stored = self.accept(self.lead(attributes=attrs))
                self.assertEqual(stored["attributes"], attrs)

    def test_huge_attributes_413(self):
        # 10 MB of attributes on the single route (cap 64 KiB): 413 before any parsing, on HTTP/2 and HTTP/1.1.
        big = self.lead(attributes={"age": 30, "comment": "x" * (10 * 1000 * 1000)})
        for c in (self.h2, self.h1):
            with self.subTest(proto=c.expect_version):
                self.reject(big, [], status=413, code="payload_too_large", client=c)
        # Sent chunked (HTTP/1.1) or without a length (HTTP/2): the same.
        raw = json.dumps(big).encode()
        for c in (self.h2, self.h1):
            with self.subTest(proto=c.expect_version, streamed=True):
                r = c.post("/v1/leads", content=(raw[i:i + 65536] for i in range(0, len(raw), 65536)),
                           headers={**bearer(self.wm_token), **JSON})
                problem(r, 413, "payload_too_large")
        # Just over 64 KiB is already too much.
        body = json.dumps(self.lead(attributes={"age": 30, "comment": "x" * (64 * 1024)})).encode()
        self.assertGreater(len(body), 64 * 1024)
        self.reject(None, [], status=413, code="payload_too_large", raw=body)
        # ~9 MB on the batch route (cap 8 MiB by default): 413 as well.
        leads = [self.lead(attributes={"age": 30, "comment": "y" * (900 * 1000)}) for _ in range(10)]
        body = json.dumps({"leads": leads}).encode()
        self.assertGreater(len(body), 8 * 1024 * 1024)
        for c in (self.h2, self.h1):
            with self.subTest(route="batch", proto=c.expect_version):
                r = c.post("/v1/leads/batch", content=body, headers={**bearer(self.wm_token), **JSON})
                problem(r, 413, "payload_too_large")
        # The connection survives.
        self.assertEqual(self.h2.get("/v1/me", headers=bearer(self.wm_token)).status_code, 200)

    # -- niche, region, sale mode ---------------------------------------------------------------------------------

    def test_niche_region_sale_mode(self):
        r = self.h2.post("/v1/niches", json=niche_body(status="paused"), headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        paused = r.json()["slug"]
        good = self.lead()
        cases = [(f"niche={v!r}", at(good, "niche", v), ["/niche"]) for v in (
            "no-such-niche", "LOANS", self.slug.upper(), "loans!", " " + self.slug, "x" * 200, "ниша", paused)]
        cases += [(f"region={v!r}", at(good, "region", v), ["/region"]) for v in (
            "XX", "RU-XYZ", "ru", "ru-mow", "R", "RUS", "RU-", "RU-MOW ", "RU_MOW", "643", "EU", "RU-MOW-1", "ZZ")]
        cases += [(f"sale_mode={v!r}", at(good, "sale_mode", v), ["/sale_mode"]) for v in (
            "both", "Exclusive", "", "any ", "shared,exclusive")]
        # Without a region a national phone number cannot be read: both are named.
        cases.append(("bad region, national phone", self.lead(region="XX", phone="8 916 123 45 67"),
                      ["/contact/phone", "/region"]))
        # An unknown niche cannot check attributes: only /niche is named, even with bad attributes.
        cases.append(("unknown niche, bad attributes", at(at(good, "niche", "nope"), "attributes", {"zz": 1}),
                      ["/niche"]))
        self.table(cases)
        for mode in ("any", "exclusive", "shared"):
            with self.subTest(sale_mode=mode):
                lead, stored = self.accept(at(self.lead(), "sale_mode", mode))
                self.assertEqual(stored["sale_mode"], mode)

    # -- the body itself ------------------------------------------------------------------------------------------

    def test_body_not_an_object(self):
        for c in (self.h2, self.h1):
            for raw in (b"[]", b'"x"', b"1", b"null", b"true", json.dumps([self.lead()]).encode()):
                with self.subTest(body=raw[:20], proto=c.expect_version):
                    self.reject(None, [""], raw=raw, client=c)

    def test_malformed_json(self):
        good = json.dumps(self.lead()).encode()
        for c in (self.h2, self.h1):
            for raw in (b"{", good[:-1], good + b"}", b"{'niche': 'x'}", good[:-1] + b",}", b"", b"nul",
                        good.replace(b'"personal_data": true', b'"personal_data": True'),
                        good.replace(b"{", b"{\n//comment\n", 1), b"\xef\xbb\xbf" + good, good + good):
                with self.subTest(body=raw[:30], proto=c.expect_version):
                    self.reject(None, [""], status=400, code="malformed_json", raw=raw, client=c)

    def test_invalid_utf8(self):
        good = json.dumps(self.lead(name="Ivan Petrov"), ensure_ascii=False).encode()
        for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82", b"\xf4\x90\x80\x80"):
            with self.subTest(bytes=bad):
                self.reject(None, [""], status=400, code="malformed_json",
                            raw=good.replace(b"Ivan Petrov", b"Ivan" + bad))
        self.reject(None, [""], status=400, code="malformed_json",
                    raw=good.replace(b'"company"', b'"comp\xffany"'))
        # A lone surrogate escape is not a character either.
        self.reject(None, [""], status=400, code="malformed_json", raw=good.replace(b"Ivan Petrov", b"Ivan \\ud83d"))
        self.reject(None, [""], status=400, code="malformed_json", raw=good.replace(b"Ivan Petrov", b"Ivan\\u0000"))

    def test_duplicate_keys(self):
        good = json.dumps(self.lead()).encode()
        for raw in (good.replace(b'"niche":', b'"niche": "x", "niche":', 1),
                    good.replace(b'"name":', b'"name": "Evil", "name":', 1),
                    good.replace(b'"personal_data": true', b'"personal_data": false, "personal_data": true', 1),
                    good.replace(b'"age": 35', b'"age": 35, "age": 35', 1)):
            with self.subTest(body=raw[:60]):
                self.reject(None, [""], status=400, code="malformed_json", raw=raw)

    def test_number_beyond_double_range(self):
        """1e400 is well-formed JSON that no double holds: a 4xx problem (400 or 422), never a 500, nothing stored."""
        raw = json.dumps(self.lead(attributes={"age": 30, "amount": 1})).replace('"amount": 1', '"amount": 1e400')
        r = self.submit(raw.encode())
        self.assertIn(r.status_code, (400, 422), r.text)
        doc = r.json()
        self.assertIn(doc["code"], ("malformed_json", "validation_failed"))
        self.assertTrue(set(fields_of(doc)) <= {"", "/attributes/amount"}, doc)

    def test_rejected_lead_leaves_no_idempotency_record(self):
        """A 422 is not remembered: the corrected lead under the same Idempotency-Key is stored."""
        key = "fix-" + secrets.token_hex(8)
        bad = self.lead(phone="+7 916 CALL-ME")
        problem(self.submit(bad, key=key), 422, "validation_failed", field="/contact/phone")
        problem(self.submit(bad, key=key), 422, "validation_failed", field="/contact/phone")
        r = self.submit(self.lead(), key=key)
        self.assertEqual(r.status_code, 201, r.text)
        self.created += 1

    def test_wrong_content_type(self):
        content = json.dumps(self.lead()).encode()
        for c in (self.h2, self.h1):
            for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                       "application/jsonx", "application/problem+json", None):
                with self.subTest(ct=ct, proto=c.expect_version):
                    headers = bearer(self.wm_token)
                    if ct is not None:
                        headers["Content-Type"] = ct
                    for route in ("/v1/leads", "/v1/leads/batch"):
                        r = c.post(route, content=content, headers=headers)
                        doc = problem(r, 415, "unsupported_media_type")
                        self.assertEqual(fields_of(doc), ["header.content-type"])
        # A form post, as a browser sends it.
        r = self.h2.post("/v1/leads", data={"niche": self.slug, "name": "Ivan"}, headers=bearer(self.wm_token))
        problem(r, 415, "unsupported_media_type", field="header.content-type")

    def test_many_errors_in_one_answer(self):
        body = self.lead(region="XX", name="Ivan 😀", phone="+7 916 CALL-ME", email="ivan.example.org",
                         attributes={"age": 5, "purpose": "boat"}, sale_mode="both")
        body = at(body, "consent/personal_data", False)
        body = at(body, "consent/given_at", "2026-11-23")
        body = at(body, "source/ip", "999.1.1.1")
        body = at(body, "source/landing_url", "javascript:alert(1)")
        body = at(body, "extra", True)
        self.reject(body, ["/attributes/age", "/attributes/purpose", "/consent/given_at", "/consent/personal_data",
                           "/contact/email", "/contact/name", "/contact/phone", "/extra", "/region", "/sale_mode",
                           "/source/ip", "/source/landing_url"])
        # Past the cap of listed errors, the rest are counted in one more entry (field "").
        body = self.lead()
        for p in ("niche", "region", "sale_mode", "contact/name", "contact/phone", "contact/email", "contact/company",
                  "contact/position", "consent/text", "consent/given_at", "consent/ip", "consent/user_agent",
                  "consent/page_url", "source/sub_id", "source/click_id", "source/landing_url", "source/ip",
                  "source/form_started_at", "source/form_submitted_at"):
            body = at(body, p, "")
        doc = problem(self.submit(body), 422, "validation_failed")
        self.assertEqual(len(doc["errors"]), 17, doc)
        self.assertEqual(doc["errors"][-1]["field"], "")
        self.assertIn("3 more", doc["errors"][-1]["message"])

    # -- batch ----------------------------------------------------------------------------------------------------

    def batch_raw(self, body, client=None):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return (client or self.h2).post("/v1/leads/batch", content=content,
                                        headers={**bearer(self.wm_token), **JSON})

    def test_batch_envelope(self):
        one = self.lead()
        cases = [
            ("empty", {"leads": []}, ["/leads"]),
            ("1001 leads", {"leads": [one] * 1001}, ["/leads"]),
            ("string", {"leads": "x"}, ["/leads"]),
            ("object", {"leads": one}, ["/leads"]),
            ("null", {"leads": None}, ["/leads"]),
            ("missing", {}, ["/leads"]),
            ("unknown member", {"leads": [one], "extra": 1}, ["/extra"]),
            ("unknown and empty", {"leads": [], "dry_run": True}, ["/dry_run", "/leads"]),
            ("array body", [one], [""]),
            ("scalar body", 1, [""]),
            ("string body", "x", [""]),
        ]
        for label, body, fields in cases:
            with self.subTest(case=label):
                doc = problem(self.batch_raw(body), 422, "validation_failed")
                self.assertEqual(fields_of(doc), sorted(fields), doc)
        for raw in (b'{"leads": [', b'{"leads": [], "leads": []}', b'{"leads": ["\xff"]}'):
            with self.subTest(raw=raw):
                problem(self.batch_raw(raw), 400, "malformed_json", field="")

    def test_batch_mixing_good_and_bad(self):
        good = [self.lead() for _ in range(4)]
        bad = {
            1: (at(self.lead(), "contact/phone", "+7 916 CALL-ME"), ["/leads/1/contact/phone"]),
            2: (self.lead(region="XX", attributes={"age": 5}), ["/leads/2/attributes/age", "/leads/2/region"]),
            4: ([], ["/leads/4"]),
            5: (at(self.lead(), "niche", "nope"), ["/leads/5/niche"]),
            6: ("lead", ["/leads/6"]),
            8: (at(at(self.lead(), "extra", 1), "consent/personal_data", False),
                ["/leads/8/consent/personal_data", "/leads/8/extra"]),
        }
        leads, gi = [], iter(good)
        for i in range(10):
            leads.append(bad[i][0] if i in bad else next(gi, None) or self.lead())
        n_good = 10 - len(bad)
        before = self.count_leads()
        for c in (self.h2, self.h1):
            with self.subTest(proto=c.expect_version):
                if c is self.h1:  # new contacts, so the second round is not a round of duplicates
                    leads = [body if i in bad else self.lead() for i, body in enumerate(leads)]
                r = c.post("/v1/leads/batch", content=json.dumps({"leads": leads}).encode(),
                           headers={**bearer(self.wm_token), **JSON})
                self.assertEqual(r.status_code, 200, r.text)
                results = r.json()["results"]
                self.assertEqual([x["index"] for x in results], list(range(10)))
                for i, res in enumerate(results):
                    if i in bad:
                        self.assertEqual(res["status_code"], 422, res)
                        self.assertNotIn("lead", res)
                        p = res["problem"]
                        self.assertEqual((p["status"], p["code"]), (422, "validation_failed"), p)
                        self.assertEqual(p["request_id"], r.headers["x-request-id"])
                        self.assertEqual(p["type"], "https://leadx.dev/problems/validation_failed")
                        self.assertEqual(fields_of(p), sorted(bad[i][1]), p)
                    else:
                        self.assertEqual(res["status_code"], 201, res)
                        self.assertNotIn("problem", res)
                        lead = res["lead"]
                        self.assertEqual(lead["niche"], self.slug)
                        self.assertEqual(lead["contact"]["email"], leads[i]["contact"]["email"])
                        got = self.h2.get(f"/v1/leads/{lead['id']}", headers=bearer(self.wm_token))
                        self.assertEqual(got.status_code, 200, got.text)
                self.created += n_good
                self.assertEqual(self.count_leads(), before + self.created)

    def test_batch_of_bad_leads_only_stores_nothing(self):
        leads = [at(self.lead(), "contact/email", "no-at-sign"), 7, None, self.lead(region="ru")]
        r = self.batch_raw({"leads": leads})
        self.assertEqual(r.status_code, 200, r.text)
        results = r.json()["results"]
        self.assertEqual([(x["index"], x["status_code"]) for x in results], [(i, 422) for i in range(4)])
        self.assertEqual([fields_of(x["problem"]) for x in results],
                         [["/leads/0/contact/email"], ["/leads/1"], ["/leads/2"], ["/leads/3/region"]])

    def test_batch_of_1000_bad_leads(self):
        """The largest batch, every lead bad: one problem each, in order, nothing stored."""
        bad = self.lead(region="ru")
        r = self.batch_raw({"leads": [bad] * 1000})
        self.assertEqual(r.status_code, 200, r.text[:300])
        results = r.json()["results"]
        self.assertEqual(len(results), 1000)
        for i, res in enumerate(results):
            self.assertEqual((res["index"], res["status_code"]), (i, 422))
            self.assertEqual(fields_of(res["problem"]), [f"/leads/{i}/region"])

    def test_batch_item_over_the_single_cap_is_judged_by_its_fields(self):
        """The batch route has its own body cap; a lead inside it is validated field by field."""
        lead = self.lead(attributes={"age": 30, "comment": "x" * 70000})
        r = self.batch_raw({"leads": [lead, self.lead()]})
        self.assertEqual(r.status_code, 200, r.text)
        results = r.json()["results"]
        self.assertEqual(results[0]["status_code"], 422)
        self.assertEqual(fields_of(results[0]["problem"]), ["/leads/0/attributes/comment"])
        self.assertEqual(results[1]["status_code"], 201)
        self.created += 1

    # -- roles ----------------------------------------------------------------------------------------------------

    def test_roles(self):
        _, adv = self.create_account("advertiser", currency="RUB")
        body = self.lead()
        for route, content in (("/v1/leads", body), ("/v1/leads/batch", {"leads": [body]})):
            for label, token in (("operator", self.op), ("advertiser", adv)):
                with self.subTest(route=route, role=label):
                    r = self.h2.post(route, content=json.dumps(content).encode(), headers={**bearer(token), **JSON})
                    problem(r, 403, "forbidden")
            with self.subTest(route=route, role="none"):
                r = self.h2.post(route, content=json.dumps(content).encode(), headers=JSON)
                problem(r, 401, "unauthorized")
                r = self.h2.post(route, content=json.dumps(content).encode(),
                                 headers={**bearer("lx_" + "0" * 32 + "_" + "A" * 43), **JSON})
                problem(r, 401, "unauthorized")
        # A role that may not submit learns nothing about the body: 403 even for garbage.
        r = self.h2.post("/v1/leads", content=b"{", headers={**bearer(adv), **JSON})
        problem(r, 403, "forbidden")


if __name__ == "__main__":
    main()
