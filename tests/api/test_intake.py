"""Lead intake end to end: acceptance and what is stored, duplicates (keyed hashes, the niche window, the same
batch, 32 racing clients on one and on two server processes), quality screening, encryption at rest, contact
erasure and suppression, reading and role isolation."""
import concurrent.futures
import json
import secrets
import threading
import time

from harness import PgLock, Server, bearer, create_operator, main, new_database, problem, psql, wait_for
from leads_common import JSON, LeadTestCase, lead, niche_body, unique_email, unique_ip, unique_phone


def db_count(url, sql):
    return int(psql(url, sql))


class Intake(LeadTestCase):
    def test_accepted_lead_shape_and_read_back(self):
        body = self.lead(phone="8 (916) 555-01-02".replace("555-01-02", unique_phone()[-9:]), region="RU-SPE")
        r = self.submit(body)
        self.assertEqual(r.status_code, 201, r.text)
        doc = r.json()
        self.assertEqual(doc["status"], "unsold")
        self.assertEqual(doc["niche"], self.slug)
        self.assertEqual(doc["region"], "RU-SPE")
        self.assertEqual(doc["webmaster_id"], self.wm["id"])
        self.assertRegex(doc["contact"]["phone"], r"^\+79\d{9}$")
        self.assertEqual(doc["contact"]["email"], body["contact"]["email"])
        self.assertIn(doc["quality"]["temperature"], ("hot", "warm", "cold"))
        self.assertTrue(0 <= doc["quality"]["score"] <= 100)
        self.assertFalse(doc["contact_erased"])
        for c in (self.h2, self.h1):
            got = c.get(f"/v1/leads/{doc['id']}", headers=bearer(self.wm_token))
            self.assertEqual(got.status_code, 200, got.text)
            self.assertEqual(got.json(), doc)  # re-rendered from storage, contact decrypted
        op = self.h2.get(f"/v1/leads/{doc['id']}", headers=bearer(self.op))
        self.assertEqual(op.json(), doc)

    def test_only_niches_of_the_accounts_currency(self):
        """Accounts trade only in niches of their own currency: a USD webmaster's lead for a RUB niche is 422 naming
        the niche, alone in a batch too, and nothing is stored."""
        _, usd = self.create_account(role="webmaster", currency="USD")
        r = self.submit(self.lead(), token=usd)
        problem(r, 422, "validation_failed", field="/niche")
        r = self.submit_batch([self.lead(), self.lead()], token=usd)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual([x["status_code"] for x in r.json()["results"]], [422, 422])
        self.assertEqual(r.json()["results"][1]["problem"]["errors"][0]["field"], "/leads/1/niche")
        self.assertEqual(self.submit(self.lead()).status_code, 201)  # the RUB webmaster still may

    def test_real_attributes_come_back_as_sent(self):
        """A real attribute keeps its shortest spelling through intake, storage and reading (250000.7, not
        250000.69999999998)."""
        doc = self.submit(self.lead(attributes={"age": 35, "amount": 250000.7})).json()
        for r in (self.submit(self.lead(attributes={"age": 36, "amount": 1000.1})),
                  self.h2.get(f"/v1/leads/{doc['id']}", headers=bearer(self.wm_token))):
            self.assertIn(r.status_code, (200, 201), r.text)
            self.assertRegex(r.text, r'"amount":(250000\.7|1000\.1)[,}]')

    def test_other_accounts_get_404(self):
        doc = self.submit(self.lead()).json()
        _, other_wm = self.create_account("webmaster", currency="RUB")
        _, adv = self.create_account("advertiser", currency="RUB")
        for token in (other_wm, adv):
            problem(self.h2.get(f"/v1/leads/{doc['id']}", headers=bearer(token)), 404, "not_found")
            items = self.h2.get("/v1/leads", headers=bearer(token)).json()["items"]
            self.assertNotIn(doc["id"], [i["id"] for i in items])
        problem(self.h2.get("/v1/leads/not-a-uuid", headers=bearer(self.wm_token)), 404, "not_found")

    def test_list_filters_and_pages(self):
        _, wm = self.create_account("webmaster", currency="RUB")
        ids = [self.submit(self.lead(), token=wm).json()["id"] for _ in range(5)]
        dup_phone = unique_phone()
        self.submit(self.lead(phone=dup_phone), token=wm)
        dup = self.submit(self.lead(phone=dup_phone), token=wm).json()
        self.assertEqual(dup["status"], "duplicate")
        seen, cursor = [], None
        while True:
            q = "/v1/leads?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = self.h2.get(q, headers=bearer(wm)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(len(seen), 7)
        self.assertEqual(seen[:5], ids)
        dups = self.h2.get("/v1/leads?status=duplicate", headers=bearer(wm)).json()["items"]
        self.assertEqual([d["id"] for d in dups], [dup["id"]])
        by_niche = self.h2.get(f"/v1/leads?niche={self.slug}&since=2000-01-01T00:00:00Z", headers=bearer(wm))
        self.assertEqual(len(by_niche.json()["items"]), 7)
        future = self.h2.get("/v1/leads?since=2999-01-01T00:00:00Z", headers=bearer(wm)).json()["items"]
        self.assertEqual(future, [])
        # `since` and status=unsold also bound the ids scanned (UUIDv7): a lead made at `since` itself is in.
        first = self.h2.get(f"/v1/leads/{ids[0]}", headers=bearer(wm)).json()
        since = self.h2.get("/v1/leads", params={"since": first["created_at"]}, headers=bearer(wm)).json()["items"]
        self.assertEqual([i["id"] for i in since], seen)
        unsold = self.h2.get("/v1/leads?status=unsold", headers=bearer(wm)).json()["items"]
        self.assertEqual([i["id"] for i in unsold], [i for i in seen if i != dup["id"]])
        old = self.h2.get(f"/v1/leads?status=unsold&niche={self.slug}&since=1970-01-01T00:00:00Z", headers=bearer(wm))
        self.assertEqual([i["id"] for i in old.json()["items"]], [i for i in seen if i != dup["id"]])
        problem(self.h2.get("/v1/leads?status=sold-out", headers=bearer(wm)), 400, "invalid_parameter", "query.status")
        problem(self.h2.get("/v1/leads?since=yesterday", headers=bearer(wm)), 400, "invalid_parameter", "query.since")
        problem(self.h2.get("/v1/leads?niche=Bad%20Slug", headers=bearer(wm)), 400, "invalid_parameter", "query.niche")

    # -- duplicates -----------------------------------------------------------------------------------------

    def test_same_phone_or_email_in_the_niche_is_a_duplicate(self):
        phone, email = unique_phone(), unique_email()
        first = self.submit(self.lead(phone=phone, email=email)).json()
        self.assertEqual(first["status"], "unsold")
        # the same phone typed differently, another e-mail
        same_phone = self.submit(self.lead(phone=phone.replace(" ", "").replace("-", ""))).json()
        self.assertEqual(same_phone["status"], "duplicate")
        self.assertEqual(same_phone["duplicate_of"], first["id"])  # same webmaster: it may know
        self.assertIsNone(same_phone["contact"])
        # the same e-mail in other letter case
        same_email = self.submit(self.lead(email=email.upper())).json()
        self.assertEqual(same_email["status"], "duplicate")
        # another webmaster's duplicate reveals nothing about the earlier lead
        _, other = self.create_account("webmaster", currency="RUB")
        theirs = self.submit(self.lead(phone=phone), token=other).json()
        self.assertEqual(theirs["status"], "duplicate")
        self.assertIsNone(theirs["duplicate_of"])
        # another niche is not a duplicate
        n2 = self.h2.post("/v1/niches", json=niche_body(), headers=bearer(self.op)).json()
        elsewhere = self.submit(self.lead(niche=n2["slug"], phone=phone)).json()
        self.assertEqual(elsewhere["status"], "unsold")

    def test_duplicate_window_ends(self):
        phone = unique_phone()
        first = self.submit(self.lead(phone=phone)).json()
        self.assertEqual(self.submit(self.lead(phone=phone)).json()["status"], "duplicate")
        psql(self.db_url, f"UPDATE contact_claims SET expires_at = now() - interval '1 second' "
                          f"WHERE lead_id = '{first['id']}'")
        again = self.submit(self.lead(phone=phone)).json()
        self.assertEqual(again["status"], "unsold")
        self.assertEqual(self.submit(self.lead(phone=phone)).json()["duplicate_of"], again["id"])

    def test_dedupe_off_when_niche_window_is_zero(self):
        n = self.h2.post("/v1/niches", json=niche_body(dedupe_days=0), headers=bearer(self.op)).json()
        phone = unique_phone()
        a = self.submit(self.lead(niche=n["slug"], phone=phone)).json()
        b = self.submit(self.lead(niche=n["slug"], phone=phone)).json()
        self.assertEqual((a["status"], b["status"]), ("unsold", "unsold"))

    def test_same_contact_in_one_batch(self):
        phone, email = unique_phone(), unique_email()
        r = self.submit_batch([self.lead(phone=phone), self.lead(), self.lead(email=email),
                               self.lead(phone=phone, email=email), self.lead(email=email.upper())])
        self.assertEqual(r.status_code, 200, r.text)
        res = r.json()["results"]
        self.assertEqual([x["index"] for x in res], [0, 1, 2, 3, 4])
        self.assertEqual([x["lead"]["status"] for x in res], ["unsold", "unsold", "unsold", "duplicate",
                                                               "duplicate"])
        self.assertIn(res[3]["lead"]["duplicate_of"], (res[0]["lead"]["id"], res[2]["lead"]["id"]))
        self.assertEqual(res[4]["lead"]["duplicate_of"], res[2]["lead"]["id"])

    def test_full_batch_of_realistic_leads(self):
        """1,000 realistic leads (the batch maximum) in one request fit the batch body cap and are all stored, in
        one transaction, in order."""
        leads = [self.lead() for _ in range(1000)]
        body = json.dumps({"leads": leads}).encode()
        self.assertGreater(len(body), 64 << 10)  # far past the single route's cap
        r = self.h2.post("/v1/leads/batch", content=body, headers={**bearer(self.wm_token), **JSON})
        self.assertEqual(r.status_code, 200, r.text[:500])
        res = r.json()["results"]
        self.assertEqual([x["index"] for x in res], list(range(1000)))
        self.assertEqual({x["status_code"] for x in res}, {201})
        ids = [x["lead"]["id"] for x in res]
        self.assertEqual({x["lead"]["status"] for x in res}, {"unsold"})
        self.assertEqual([x["lead"]["contact"]["phone"][-7:] for x in res],
                         ["".join(c for c in le["contact"]["phone"] if c.isdigit())[-7:] for le in leads])
        self.assertEqual(db_count(self.db_url, "SELECT count(*) FROM leads WHERE id IN (" +
                                  ",".join(f"'{i}'" for i in ids) + ")"), 1000)

    def test_batch_decides_like_one_by_one(self):
        """A rejected lead does not hold its contact: the next lead with it in the same batch is accepted, as it
        would be if the two were sent one after the other."""
        phone = unique_phone()
        bot = self.lead(phone=phone, fill_s=1)  # filled in 1 s: a bot, under min_quality 30
        human = self.lead(phone=phone)
        res = self.submit_batch([bot, human]).json()["results"]
        self.assertEqual(res[0]["lead"]["status"], "rejected")
        self.assertEqual(res[0]["lead"]["quality"]["reasons"][-1], "below_min_quality")
        self.assertIn("form_filled_too_fast", res[0]["lead"]["quality"]["reasons"])
        self.assertEqual(res[1]["lead"]["status"], "unsold")
        phone2 = unique_phone()
        one = self.submit(self.lead(phone=phone2, fill_s=1)).json()
        two = self.submit(self.lead(phone=phone2)).json()
        self.assertEqual((one["status"], two["status"]), ("rejected", "unsold"))

    def test_batch_counts_signals_like_one_by_one(self):
        """Velocity per source IP and per sub_id and the person's other niches count the earlier leads of the same
        batch exactly as stored ones: 106 leads over three niches, sharing two IPs, one sub_id, a phone and an e-mail,
        the last two with no source at all, get the same statuses, scores and reasons in one batch as one by one."""
        slugs = [self.slug] + [self.h2.post("/v1/niches", json=niche_body(), headers=bearer(self.op)).json()["slug"]
                               for _ in range(2)]

        def variant():
            ips = [unique_ip() for _ in range(2)]
            sub = "v" + secrets.token_hex(4)
            phone, email = unique_phone(), unique_email()
            out = []
            for k in range(106):
                body = self.lead(niche=slugs[k % 3], ip=ips[k % 2], sub_id=sub,
                                 phone=phone if k in (0, 3, 4, 5, 6, 9) else None,
                                 email=email if k in (1, 5, 7) else None)
                if k >= 104:  # no source: neither an IP nor a sub_id to count
                    body.pop("source")
                    body["consent"].pop("ip")
                out.append(body)
            return out

        res = self.submit_batch(variant()).json()["results"]
        batch = [r["lead"] for r in res]
        single = [self.submit(body).json() for body in variant()]
        pick = [(d["status"], d["quality"]["score"], d["quality"]["reasons"]) for d in batch]
        self.assertEqual(pick, [(d["status"], d["quality"]["score"], d["quality"]["reasons"]) for d in single])
        # the signals did fire within the batch, and not where they must not
        reasons = [set(d["quality"]["reasons"]) for d in batch]
        self.assertNotIn("ip_velocity", reasons[5])
        self.assertIn("ip_velocity", reasons[8])  # 4 earlier leads from its IP
        self.assertIn("contact_in_other_niches", reasons[5])  # the phone in niches 0 and 1, the e-mail in 1
        self.assertNotIn("contact_in_other_niches", reasons[4])
        self.assertIn("sub_id_velocity", reasons[103])  # 103 earlier leads with its sub_id
        self.assertNotIn("sub_id_velocity", reasons[100])
        self.assertEqual(reasons[104] & {"ip_velocity", "sub_id_velocity"}, set())
        self.assertEqual([d["status"] for d in batch[:12]].count("duplicate"), 4, pick[:12])

    # -- what is stored -----------------------------------------------------------------------------------------

    def test_contact_is_encrypted_at_rest(self):
        name = "Zinaida Kukushkina"
        phone, email = unique_phone(), unique_email()
        doc = self.submit(self.lead(phone=phone, email=email, name=name)).json()
        digits = "".join(ch for ch in phone if ch.isdigit())
        dump = psql(self.db_url, f"SELECT l::text FROM leads l WHERE l.id = '{doc['id']}'")
        for secret in (digits, digits[1:], email, email.split("@")[0], "Kukushkina"):
            self.assertNotIn(secret, dump)
        self.assertEqual(psql(self.db_url, f"SELECT length(contact_key) FROM leads WHERE id = '{doc['id']}'"), "73")

    def test_rejected_and_duplicate_leads_keep_no_contact(self):
        phone = unique_phone()
        self.submit(self.lead(phone=phone))
        dup = self.submit(self.lead(phone=phone)).json()
        rej = self.submit(self.lead(fill_s=0.5)).json()
        self.assertEqual((dup["status"], rej["status"]), ("duplicate", "rejected"))
        for d in (dup, rej):
            row = psql(self.db_url, f"SELECT contact_ct IS NULL, length(phone_hash), contact_key IS NULL FROM leads l "
                                    f"WHERE id = '{d['id']}'")
            self.assertEqual(row, "t|32|t")
            self.assertIsNone(self.h2.get(f"/v1/leads/{d['id']}", headers=bearer(self.wm_token)).json()["contact"])

    # -- quality ------------------------------------------------------------------------------------------

    def test_quality_signals(self):
        ip = unique_ip()
        statuses = [self.submit(self.lead(ip=ip)).json() for _ in range(6)]
        self.assertNotIn("ip_velocity", statuses[0]["quality"]["reasons"])
        self.assertIn("ip_velocity", statuses[-1]["quality"]["reasons"])
        self.assertLess(statuses[-1]["quality"]["score"], statuses[0]["quality"]["score"])
        disp = self.submit(self.lead(email=f"x{secrets.token_hex(4)}@mailinator.com")).json()
        self.assertIn("disposable_email", disp["quality"]["reasons"])
        abroad = self.submit(self.lead(phone=f"+48 512 {secrets.randbelow(1000):03d} {secrets.randbelow(1000):03d}"))
        self.assertEqual(abroad.status_code, 201, abroad.text)
        abroad = abroad.json()
        self.assertIn("phone_region_mismatch", abroad["quality"]["reasons"])
        bare = self.lead()
        bare["contact"].pop("company")
        bare["contact"].pop("position")
        bare.pop("source")
        for k in ("ip", "user_agent", "page_url", "advertising"):
            bare["consent"].pop(k)
        doc = self.submit(bare).json()
        self.assertIn("form_fill_time_unknown", doc["quality"]["reasons"])
        self.assertIn("missing_optional_fields", doc["quality"]["reasons"])
        self.assertEqual(doc["quality"]["temperature"], "warm")  # age unknown: never hot

    def test_contact_in_other_niches(self):
        phone = unique_phone()
        slugs = [self.h2.post("/v1/niches", json=niche_body(), headers=bearer(self.op)).json()["slug"]
                 for _ in range(3)]
        docs = [self.submit(self.lead(niche=s, phone=phone)).json() for s in slugs]
        self.assertNotIn("contact_in_other_niches", docs[0]["quality"]["reasons"])
        self.assertIn("contact_in_other_niches", docs[2]["quality"]["reasons"])

    # -- erasure and suppression ---------------------------------------------------------------------------

    def test_erase_one_lead_contact(self):
        doc = self.submit(self.lead()).json()
        problem(self.h2.delete(f"/v1/leads/{doc['id']}/contact", headers=bearer(self.wm_token)), 403, "forbidden")
        r = self.h2.delete(f"/v1/leads/{doc['id']}/contact", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204, r.text)
        got = self.h2.get(f"/v1/leads/{doc['id']}", headers=bearer(self.wm_token)).json()
        self.assertIsNone(got["contact"])
        self.assertTrue(got["contact_erased"])
        self.assertEqual((got["status"], got["attributes"], got["consent"]), (doc["status"], doc["attributes"],
                                                                              doc["consent"]))
        self.assertEqual(psql(self.db_url, f"SELECT contact_ct IS NULL, contact_key IS NULL FROM leads l "
                                           f"WHERE id = '{doc['id']}'"), "t|t")
        self.assertEqual(self.h2.delete(f"/v1/leads/{doc['id']}/contact", headers=bearer(self.op)).status_code, 204)
        problem(self.h2.delete("/v1/leads/01a20000-0000-7000-8000-000000000000/contact", headers=bearer(self.op)),
                404, "not_found")

    def test_erasure_request_erases_everywhere_and_suppresses(self):
        phone, email = unique_phone(), unique_email()
        n2 = self.h2.post("/v1/niches", json=niche_body(), headers=bearer(self.op)).json()["slug"]
        _, other = self.create_account("webmaster", currency="RUB")
        a = self.submit(self.lead(phone=phone)).json()
        b = self.submit(self.lead(niche=n2, email=email), token=other).json()
        keep = self.submit(self.lead()).json()
        r = self.h2.post("/v1/erasures", json={"phone": phone.replace(" ", ""), "email": email.upper()},
                         headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["leads_erased"], 2)
        self.assertEqual(sorted(r.json()["suppressed"]), ["email", "phone"])
        for d, tok in ((a, self.wm_token), (b, other)):
            got = self.h2.get(f"/v1/leads/{d['id']}", headers=bearer(tok)).json()
            self.assertIsNone(got["contact"])
            self.assertTrue(got["contact_erased"])
        self.assertIsNotNone(self.h2.get(f"/v1/leads/{keep['id']}", headers=bearer(self.wm_token)).json()["contact"])
        for body in (self.lead(phone=phone), self.lead(niche=n2, email=email)):
            doc = self.submit(body, token=other).json()
            self.assertEqual(doc["status"], "rejected")
            self.assertEqual(doc["quality"]["reasons"][-1], "suppressed")
            self.assertIsNone(doc["contact"])
        again = self.h2.post("/v1/erasures", json={"phone": phone}, headers=bearer(self.op))
        self.assertEqual(again.json()["leads_erased"], 0)

    def test_erasure_waits_for_a_batch_in_flight(self):
        """A lead whose batch read the suppressions before an erasure of its contact committed must still be erased:
        the erasure waits for the batch (table lock on suppressions), then sees the stored lead."""
        phone = unique_phone()
        # A campaign that buys the lead: its row held here, the batch waits there when it writes what the campaign
        # spent (its second round trip), long after it took its share of the suppressions lock and read them.
        acct, adv = self.create_account(role="advertiser", currency="RUB")
        d = self.h2.post(f"/v1/accounts/{acct['id']}/deposits", headers=bearer(self.op),
                         json={"amount": 1_000_000, "currency": "RUB", "reference": "erasure race"})
        self.assertEqual(d.status_code, 201, d.text)
        r = self.h2.post("/v1/campaigns", json={"niche": self.slug, "regions": ["RU"], "price_exclusive": 60000},
                         headers=bearer(adv))
        self.assertEqual(r.status_code, 201, r.text)
        # the other tests of this class sell nothing
        self.addCleanup(lambda: self.assertEqual(self.h2.post(f"/v1/campaigns/{r.json()['id']}/pause",
                                                              headers=bearer(adv)).status_code, 200))
        lock = PgLock(self.db_url, "campaigns", sql=f"SELECT 1 FROM campaigns WHERE id = '{r.json()['id']}' FOR UPDATE")
        out = {}
        try:
            t = threading.Thread(target=lambda: out.setdefault("lead", self.submit(self.lead(phone=phone),
                                                                                    client=self.h1)))
            t.start()
            wait_for(lambda: psql(self.db_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                               "AND query LIKE 'WITH x AS (SELECT * FROM unnest%campaigns%'") != "0",
                     10, interval=0.05, what="the batch to wait on the campaign")
            e = threading.Thread(target=lambda: out.setdefault("erasure", self.h2.post(
                "/v1/erasures", json={"phone": phone.replace(" ", "")}, headers=bearer(self.op))))
            e.start()
            wait_for(lambda: psql(self.db_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                               "AND query LIKE 'LOCK TABLE suppressions%'") != "0",
                     10, interval=0.05, what="the erasure to wait for the batch")
        finally:
            lock.release()
        t.join(15)
        e.join(15)
        self.assertEqual(out["lead"].status_code, 201, out["lead"].text)
        self.assertEqual(out["lead"].json()["status"], "sold")
        self.assertEqual(out["erasure"].status_code, 201, out["erasure"].text)
        self.assertEqual(out["erasure"].json()["leads_erased"], 1)
        got = self.h2.get(f"/v1/leads/{out['lead'].json()['id']}", headers=bearer(self.wm_token)).json()
        self.assertIsNone(got["contact"])
        self.assertTrue(got["contact_erased"])

    def test_erasure_input(self):
        op = bearer(self.op)
        problem(self.h2.post("/v1/erasures", json={}, headers=op), 422, "validation_failed", "")
        problem(self.h2.post("/v1/erasures", json={"phone": "8 916 123 45 67"}, headers=op), 422,
                "validation_failed", "/phone")
        problem(self.h2.post("/v1/erasures", json={"email": "no-at-sign"}, headers=op), 422, "validation_failed",
                "/email")
        problem(self.h2.post("/v1/erasures", json={"phone": "+79161234567", "name": "x"}, headers=op), 422,
                "validation_failed", "/name")
        problem(self.h2.post("/v1/erasures", json={"phone": "+79161234567"}, headers=bearer(self.wm_token)), 403,
                "forbidden")

    # -- idempotency ----------------------------------------------------------------------------------------

    def test_idempotent_single_submission(self):
        key, body = "lead-" + secrets.token_hex(6), self.lead()
        first = self.submit(body, key=key)
        self.assertEqual(first.status_code, 201, first.text)
        for c in (self.h1, self.h2):
            again = self.submit(body, key=key, client=c)
            self.assertEqual(again.status_code, 201)
            self.assertEqual(again.json(), first.json())
        problem(self.submit(self.lead(), key=key), 422, "idempotency_key_reused", "header.idempotency-key")
        # an erased contact stays erased in the replay
        self.h2.delete(f"/v1/leads/{first.json()['id']}/contact", headers=bearer(self.op))
        replay = self.submit(body, key=key).json()
        self.assertEqual(replay["id"], first.json()["id"])
        self.assertIsNone(replay["contact"])
        self.assertEqual(db_count(self.db_url, f"SELECT count(*) FROM leads WHERE id = '{first.json()['id']}'"), 1)

    def test_a_retry_replays_after_the_niche_changed(self):
        """A retry of a stored lead replays it even when the niche changed since so that its body would not validate
        now (it once got 422 validation_failed, "nothing stored", for a lead stored and perhaps sold); an invalid
        lead under a fresh key is 422 and leaves the key free."""
        slug = self.h2.post("/v1/niches", json=niche_body(), headers=bearer(self.op)).json()["slug"]
        key, body = "lead-" + secrets.token_hex(6), self.lead(niche=slug)
        first = self.submit(body, key=key)
        self.assertEqual(first.status_code, 201, first.text)
        r = self.h2.patch(f"/v1/niches/{slug}", json={"status": "paused"}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        wait_for(lambda: self.submit(self.lead(niche=slug)).status_code == 422, 10, what="the pause to reach the server")
        for c in (self.h1, self.h2):
            again = self.submit(body, key=key, client=c)
            self.assertEqual((again.status_code, again.json()["id"]), (201, first.json()["id"]), again.text)
        fresh_key = "lead-" + secrets.token_hex(6)
        problem(self.submit(self.lead(niche=slug), key=fresh_key), 422, "validation_failed", "/niche")
        self.assertEqual(self.submit(self.lead(), key=fresh_key).status_code, 201)

    def test_idempotent_batch(self):
        key = "batch-" + secrets.token_hex(6)
        leads = [self.lead(), self.lead(region="XX"), self.lead()]
        first = self.submit_batch(leads, key=key)
        self.assertEqual(first.status_code, 200, first.text)
        again = self.submit_batch(leads, key=key)
        self.assertEqual(again.status_code, 200)
        a, b = first.json()["results"], again.json()["results"]
        self.assertEqual([x["status_code"] for x in b], [201, 422, 201])
        self.assertEqual([x.get("lead", {}).get("id") for x in a], [x.get("lead", {}).get("id") for x in b])
        self.assertEqual(a[1]["problem"]["errors"], b[1]["problem"]["errors"])
        self.assertEqual(a[0]["lead"], b[0]["lead"])

    def test_concurrent_same_key_executes_once(self):
        key, body = "race-" + secrets.token_hex(6), self.lead()
        barrier = threading.Barrier(8)

        def go(_):
            with self.server.client(http2=True) as c:
                barrier.wait()
                return self.submit(body, key=key, client=c)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(go, range(8)))
        codes = sorted(r.status_code for r in rs)
        self.assertTrue(set(codes) <= {201, 409}, codes)
        ids = {r.json()["id"] for r in rs if r.status_code == 201}
        self.assertEqual(len(ids), 1)
        phone = body["contact"]["phone"]
        self.assertEqual(db_count(self.db_url, f"SELECT count(*) FROM leads WHERE webmaster_id = '{self.wm['id']}' "
                                               f"AND id = '{ids.pop()}'"), 1)


def race(test, servers, token, body_for, n=32):
    """n clients (own connections, spread over `servers`) post the same contact at once; returns the statuses."""
    barrier = threading.Barrier(n)

    def go(i):
        with servers[i % len(servers)].client(http2=True) as c:
            barrier.wait()
            return c.post("/v1/leads", content=json.dumps(body_for(i)).encode(), headers={**bearer(token), **JSON})

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        rs = list(ex.map(go, range(n)))
    for r in rs:
        test.assertEqual(r.status_code, 201, r.text)
    return [r.json()["status"] for r in rs]


class DuplicateRace(LeadTestCase):
    """The same contact from 32 concurrent clients: exactly one accepted."""

    def test_race_on_one_server(self):
        for _ in range(3):
            phone = unique_phone()
            statuses = race(self, [self.server], self.wm_token, lambda i: self.lead(phone=phone))
            self.assertEqual(statuses.count("unsold"), 1, statuses)
            self.assertEqual(statuses.count("duplicate"), 31, statuses)
            email = unique_email()
            statuses = race(self, [self.server], self.wm_token, lambda i: self.lead(email=email.upper() if i % 2
                                                                                      else email))
            self.assertEqual(statuses.count("unsold"), 1, statuses)

    def test_race_on_two_processes_batch_size_one(self):
        """Two more server processes on the same database, each writing one lead per transaction: only the
        database's claim rows can keep the second copy out."""
        servers = []
        for name in ("race-a", "race-b"):
            s = Server(self.db_url, key_dir=self.server.key_dir, env={"LEADX_INTAKE_BATCH_MAX": "1"}, name=name)
            self.addCleanup(s.kill)
            s.start()
            self.addCleanup(s.stop)
            servers.append(s)
        for _ in range(3):
            phone = unique_phone()
            statuses = race(self, servers, self.wm_token, lambda i: self.lead(phone=phone))
            self.assertEqual(statuses.count("unsold"), 1, statuses)
            self.assertEqual(statuses.count("duplicate"), 31, statuses)
        self.assertEqual(db_count(self.db_url, "SELECT count(*) FROM (SELECT niche_id, phone_hash FROM leads "
                                               "WHERE status = 'unsold' GROUP BY 1, 2 HAVING count(*) > 1) d"), 0)


class ClaimSweep(LeadTestCase):
    """Expired dedupe claims are deleted in the background (src/leads/claim_sweep.h), live ones never, whatever their
    place in the table; the sweep races intake batches taking the same expired claims over without a duplicate let in
    or a deadlock."""
    server_env = {"LEADX_CLAIM_SWEEP_INTERVAL_MS": "50"}

    def claims_of(self, lead_ids):
        ids = ",".join(f"'{i}'" for i in lead_ids)
        return db_count(self.db_url, f"SELECT count(*) FROM contact_claims WHERE lead_id IN ({ids})")

    def metric(self, name):
        for line in self.h2.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail(f"/metrics has no {name}")

    def test_expired_claims_go_live_ones_stay(self):
        bodies = [self.lead() for _ in range(6)]
        docs = [self.submit(b).json() for b in bodies]
        self.assertEqual([d["status"] for d in docs], ["unsold"] * 6)
        old, live = [d["id"] for d in docs[:3]], [d["id"] for d in docs[3:]]
        self.assertEqual(self.claims_of(old + live), 12)  # a phone and an e-mail each
        deleted_before = self.metric("leadx_claims_deleted_total")
        psql(self.db_url, "UPDATE contact_claims SET expires_at = now() - interval '1 second' WHERE lead_id IN ("
                          + ",".join(f"'{i}'" for i in old) + ")")
        wait_for(lambda: self.claims_of(old) == 0, 10, interval=0.05, what="the expired claims deleted")
        self.assertEqual(self.claims_of(live), 6)
        self.assertGreaterEqual(self.metric("leadx_claims_deleted_total") - deleted_before, 6)
        # The leads themselves are untouched; the contacts of the expired claims are free again, the others not.
        ids = ",".join(f"'{d['id']}'" for d in docs)
        self.assertEqual(db_count(self.db_url, f"SELECT count(*) FROM leads WHERE id IN ({ids}) AND status = 'unsold' "
                                               "AND contact_ct IS NOT NULL"), 6)
        again = self.submit(self.lead(phone=bodies[0]["contact"]["phone"])).json()
        self.assertEqual(again["status"], "unsold")
        self.assertEqual(self.submit(self.lead(email=bodies[5]["contact"]["email"])).json()["status"], "duplicate")

    def test_whole_table_in_stretches(self):
        """A table of several stretches (at least 1,024 pages each) is swept to its end and started over: expired
        claims on its first and its last pages go, the live ones between them stay. Every other claim is expired, more
        than one round may delete in a stretch (10,000), so stretches are taken again until they hold none."""
        fake_niche = "00000000-0000-7000-8000-00000000c1a1"
        psql(self.db_url, "INSERT INTO contact_claims (niche_id, hash, lead_id, webmaster_id, expires_at) "
                          f"SELECT '{fake_niche}', sha256(g::text::bytea), gen_random_uuid(), gen_random_uuid(), "
                          "CASE WHEN g % 2 = 0 THEN now() - interval '1 day' ELSE now() + interval '1 day' END "
                          "FROM generate_series(1, 250000) g")
        try:
            pages = db_count(self.db_url, "SELECT pg_relation_size('contact_claims') / 8192")
            self.assertGreater(pages, 2 * 1024)
            passes = self.metric("leadx_claim_sweep_passes_total")
            count = f"SELECT count(*) FROM contact_claims WHERE niche_id = '{fake_niche}'"
            wait_for(lambda: db_count(self.db_url, count + " AND expires_at <= now()") == 0, 30, interval=0.1,
                     what="every expired claim deleted")
            self.assertEqual(db_count(self.db_url, count), 125000)
            wait_for(lambda: self.metric("leadx_claim_sweep_passes_total") >= passes + 1, 10, interval=0.1,
                     what="a pass completed")
        finally:
            psql(self.db_url, f"DELETE FROM contact_claims WHERE niche_id = '{fake_niche}'")

    def test_sweep_races_intake_taking_expired_claims_over(self):
        """Expired claims taken over by 8 racing clients while the sweep deletes them: each contact is accepted
        exactly once, and no transaction deadlocks or fails."""
        contacts = [self.lead() for _ in range(24)]
        first = [self.submit(b).json()["id"] for b in contacts]
        psql(self.db_url, "UPDATE contact_claims SET expires_at = now() - interval '1 second' WHERE lead_id IN ("
                          + ",".join(f"'{i}'" for i in first) + ")")
        for b in contacts:
            phone, email = b["contact"]["phone"], b["contact"]["email"]
            statuses = race(self, [self.server], self.wm_token, lambda i: self.lead(phone=phone, email=email), n=8)
            self.assertEqual(sorted(statuses), ["duplicate"] * 7 + ["unsold"], statuses)
        err = self.server.read_stderr()
        for event in ("claims_failed", "intake_retry", "deadlock"):
            self.assertNotIn(event, err)


class PrepareFailureRetried(LeadTestCase):
    """A statement prepared lazily inside the open intake transaction whose PREPARE times out (a lock wait past
    statement_timeout) aborts the transaction; the batch is retried and the lead stored, not answered 500."""
    server_env = {"LEADX_STATEMENT_TIMEOUT_MS": "400"}

    def test_lead_is_stored_after_prepare_timeouts(self):
        out = {}
        lock = PgLock(self.db_url, "leads", "SHARE")  # reads (and their PREPAREs) pass; the INSERT's PREPARE waits
        try:
            t = threading.Thread(target=lambda: out.setdefault("r", self.submit(self.lead(), client=self.h1)))
            t.start()
            time.sleep(1.0)  # two or so attempts time out meanwhile
        finally:
            lock.release()
        t.join(20)
        self.assertEqual(out["r"].status_code, 201, out["r"].text)
        self.assertIn("intake_retry", self.server.read_stderr())


class CrashDurability(LeadTestCase):
    """Invariant 1: a lead answered 2xx is in the database after the server is killed (SIGKILL) under load."""

    def test_acknowledged_leads_survive_kill_9(self):
        s = Server(self.db_url, key_dir=self.server.key_dir, name="crash")
        self.addCleanup(s.kill)
        s.start()
        acked, stop = [], threading.Event()
        lock = threading.Lock()

        def load(i):
            with s.client(http2=True) as c:
                while not stop.is_set():
                    leads = [self.lead() for _ in range(1 + i % 3)]
                    try:
                        if i % 2:
                            r = c.post("/v1/leads", content=json.dumps(leads[0]).encode(),
                                       headers={**bearer(self.wm_token), **JSON})
                            ids = [r.json()["id"]] if r.status_code == 201 else []
                        else:
                            r = c.post("/v1/leads/batch", content=json.dumps({"leads": leads}).encode(),
                                       headers={**bearer(self.wm_token), **JSON})
                            ids = [x["lead"]["id"] for x in r.json()["results"]] if r.status_code == 200 else []
                    except Exception:  # the connection dies with the server: that answer never came
                        return
                    with lock:
                        acked.extend(ids)

        threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        s.kill()  # SIGKILL: no graceful anything
        stop.set()
        for t in threads:
            t.join(20)
        self.assertGreater(len(acked), 20, "the load never got going")
        ids = ",".join(f"'{i}'" for i in acked)
        self.assertEqual(db_count(self.db_url, f"SELECT count(*) FROM leads WHERE id IN ({ids})"), len(acked))
        # what the killed server had in flight left no half-written lead: every stored one is complete
        self.assertEqual(db_count(self.db_url, "SELECT count(*) FROM leads WHERE status = 'unsold' AND "
                                               "(contact_ct IS NULL) <> (contact_erased_at IS NOT NULL)"), 0)


if __name__ == "__main__":
    main()
