"""The inventory and purchases end to end (issue 4 items 5, 6 and the inventory half of item 7): anonymised previews
and their filters and visibility, exclusive and shared purchases with the money they move, the refusals (404, 409,
402, 422), idempotent replays, every buyer's purchases (inventory and real-time alike), and buyers racing for
exclusive leads and shared slots. After every test the ledger sums to zero, every balance equals its entries, and
every lead's sale state agrees with its sales and their ledger transactions."""
import concurrent.futures
import json
import random
import secrets
import threading


from harness import bearer, main, problem, psql
from leads_common import JSON, LeadTestCase, niche_body, unique_phone
from market_common import MarketTestCase, uuid7


PREVIEW_KEYS = {"id", "niche", "region", "attributes", "quality", "created_at", "age_seconds", "expires_at", "sale_mode",
                "shared_slots_left", "price_exclusive", "price_shared", "currency"}
PURCHASE_KEYS = {"id", "lead_id", "buyer_id", "mode", "share_index", "price", "currency", "purchased_at", "source",
                 "campaign_id", "refunded_at", "lead"}


def rows(db_url, sql):
    return [line.split("|") for line in psql(db_url, sql).splitlines() if line]


# Each query returns the rows that break one rule of a lead's sale state (DESIGN.md §4 invariant 2) or of the money
# a sale moved; none when all is well.
_SALE_CHECKS = (
    ("a lead's shares_sold differs from its unrefunded sales",
     "SELECT l.id, l.shares_sold, count(s.id) FROM leads l LEFT JOIN sales s ON s.lead_id = l.id "
     "AND s.refunded_at IS NULL GROUP BY l.id HAVING l.shares_sold <> count(s.id)"),
    ("a lead's sold_mode differs from its sales' modes",
     "SELECT l.id, l.sold_mode, array_agg(DISTINCT s.mode) FROM leads l JOIN sales s ON s.lead_id = l.id "
     "AND s.refunded_at IS NULL GROUP BY l.id HAVING count(DISTINCT s.mode) <> 1 OR l.sold_mode <> min(s.mode)"),
    ("an exclusive lead has more than one sale, or a shared lead more than max_shares",
     "SELECT l.id FROM leads l JOIN sales s ON s.lead_id = l.id AND s.refunded_at IS NULL "
     "GROUP BY l.id, l.max_shares HAVING (min(s.mode) = 'exclusive' AND count(*) > 1) OR count(*) > l.max_shares"),
    ("a buyer holds a lead twice",
     "SELECT lead_id, buyer_id FROM sales WHERE refunded_at IS NULL GROUP BY 1, 2 HAVING count(*) > 1"),
    ("a lead's payout_total differs from its sales' payouts",
     "SELECT l.id FROM leads l LEFT JOIN sales s ON s.lead_id = l.id AND s.refunded_at IS NULL "
     "GROUP BY l.id HAVING l.payout_total <> coalesce(sum(s.payout), 0)"),
    ("a sale's buyer did not pay exactly its price in the sale's ledger transaction",
     "SELECT s.id FROM sales s WHERE NOT EXISTS (SELECT 1 FROM ledger_txns t WHERE t.id = s.ledger_txn "
     "AND t.kind = 'sale' AND t.lead_id = s.lead_id AND t.currency = s.currency) "
     "OR coalesce((SELECT sum(e.amount) FROM ledger_entries e WHERE e.txn_id = s.ledger_txn "
     "AND e.account_id = s.buyer_id AND e.book = 'balance'), 0) <> -s.price"),
    # A real-time sale of several shares is one ledger transaction (the payouts and fees summed); a purchase from
    # the inventory is one of its own.
    ("a sale transaction's payout or fee entries are not the sums of its sales",
     "SELECT x.ledger_txn FROM (SELECT ledger_txn, webmaster_id, sum(payout) AS payout, sum(fee) AS fee FROM sales "
     "GROUP BY 1, 2) x WHERE coalesce((SELECT sum(e.amount) FROM ledger_entries e WHERE e.txn_id = x.ledger_txn "
     "AND e.account_id = x.webmaster_id AND e.book = 'pending'), 0) <> x.payout "
     "OR coalesce((SELECT sum(e.amount) FROM ledger_entries e WHERE e.txn_id = x.ledger_txn AND e.account_id IS NULL "
     "AND e.book = 'revenue'), 0) <> x.fee"),
)


def assert_sales_consistent(db_url):
    problems = []
    for rule, sql in _SALE_CHECKS:
        bad = rows(db_url, sql)
        if bad:
            problems.append(f"{rule}: {bad[:5]}")
    if problems:
        raise AssertionError("sales inconsistent:\n  " + "\n  ".join(problems))


def fee(price, bps):
    return price * bps // 10000


def digits(s):
    return "".join(c for c in s if c.isdigit())


class MarketCase(LeadTestCase, MarketTestCase):
    """A RUB niche (`self.slug`: max_shares 3, floors 50000 / 20000, fee 15 %) and its webmaster come from
    LeadTestCase; MarketTestCase checks the ledger after every test, and so does tearDown here for the sales."""

    def tearDown(self):
        super().tearDown()
        assert_sales_consistent(self.db_url)

    # -- helpers ----------------------------------------------------------------------------------------------

    def new_niche(self, **kw):
        r = self.h2.post("/v1/niches", json=niche_body(**kw), headers=bearer(self.op))
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def advertiser(self, funds=0, currency="RUB"):
        acct, token = self.create_account("advertiser", currency=currency)
        if funds:
            r = self.deposit(acct["id"], funds, currency=currency)
            self.assertEqual(r.status_code, 201, r.text)
        return acct, token

    def webmaster(self, currency="RUB"):
        return self.create_account("webmaster", currency=currency)

    def new_lead(self, token=None, **kw):
        r = self.submit(self.lead(**kw), token=token)
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def buy(self, lead_id, mode, token, key=None, client=None, body=None):
        headers = {**bearer(token), **JSON}
        if key is not None:
            headers["Idempotency-Key"] = key
        content = json.dumps({"mode": mode} if body is None else body).encode()
        return (client or self.h2).post(f"/v1/market/leads/{lead_id}/purchase", content=content, headers=headers)

    def bought(self, lead_id, mode, token, **kw):
        r = self.buy(lead_id, mode, token, **kw)
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def market(self, token, **params):
        """Every preview visible with these parameters, walking all pages."""
        items, cursor = [], None
        for _ in range(1000):
            q = dict(params, **({"cursor": cursor} if cursor else {}))
            r = self.h2.get("/v1/market/leads", params=q, headers=bearer(token))
            self.assertEqual(r.status_code, 200, r.text)
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items
        self.fail("pagination does not end")

    def market_ids(self, token, **params):
        return [i["id"] for i in self.market(token, **params)]

    def db_balance(self, owner, book="balance"):
        return int(psql(self.db_url, f"SELECT balance FROM ledger_accounts WHERE owner = '{owner}' AND book = '{book}'"))

    def revenue(self, currency="RUB"):
        return int(psql(self.db_url, "SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e WHERE e.account_id IS NULL "
                                     f"AND e.book = 'revenue' AND e.currency = '{currency}'"))

    def sales_of(self, lead_id):
        return rows(self.db_url, f"SELECT buyer_id, mode, share_index, price FROM sales WHERE lead_id = '{lead_id}' "
                                 "AND refunded_at IS NULL ORDER BY share_index")


class Inventory(MarketCase):
    def test_preview_is_anonymous_and_priced(self):
        niche = self.new_niche()
        body = self.lead(niche=niche["slug"], region="RU-SPE")
        doc = self.submit(body).json()
        self.assertEqual(doc["status"], "unsold", doc)
        _, adv = self.advertiser()
        r = self.h2.get("/v1/market/leads", params={"niche": niche["slug"]}, headers=bearer(adv))
        self.assertEqual(r.status_code, 200, r.text)
        items = r.json()["items"]
        self.assertEqual([i["id"] for i in items], [doc["id"]])
        p = items[0]
        self.assertEqual(set(p), PREVIEW_KEYS)
        self.assertEqual((p["niche"], p["region"], p["sale_mode"], p["currency"]), (niche["slug"], "RU-SPE", "any", "RUB"))
        self.assertEqual(p["attributes"], doc["attributes"])
        self.assertEqual(p["quality"], {"score": doc["quality"]["score"], "temperature": doc["quality"]["temperature"]})
        self.assertEqual(p["created_at"], doc["created_at"])
        self.assertEqual((p["price_exclusive"], p["price_shared"], p["shared_slots_left"]), (50000, 20000, 3))
        self.assertGreaterEqual(p["age_seconds"], 0)
        self.assertLess(p["age_seconds"], 60)
        self.assertEqual(psql(self.db_url, f"SELECT expires_at = created_at + interval '48 hours' FROM leads "
                                           f"WHERE id = '{doc['id']}'"), "t")
        # Never contact data, the source or the supplier, in any form.
        text = r.text
        contact = body["contact"]
        for secret in (contact["email"], contact["name"], contact["company"], contact["position"],
                       digits(contact["phone"])[1:], self.wm["id"], body["source"]["click_id"], body["consent"]["ip"]):
            self.assertNotIn(secret, text)
        for key in ("contact", "phone", "email", "consent", "source", "webmaster"):
            self.assertNotIn(f'"{key}', text)

    def test_look_back_is_the_longest_ttl_the_niche_had(self):
        """The listing reads only leads whose ids are younger than the longest inventory TTL their niche has had
        (migrations/0016), so a TTL lowered by PATCH keeps the leads taken under the longer one listed until they
        expire, and nothing older is read at all. The API cannot backdate a lead: the old ones here are copies of a
        real one with an id (UUIDv7: its first 48 bits are the time) and times set hours back."""
        niche = self.new_niche(inventory_ttl_hours=5)
        slug = niche["slug"]
        lead = self.new_lead(niche=slug)
        r = self.h2.patch(f"/v1/niches/{slug}", json={"inventory_ttl_hours": 1}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        horizon = f"SELECT inventory_ttl_hours, inventory_ttl_hours_max FROM niches WHERE slug = '{slug}'"
        self.assertEqual(rows(self.db_url, horizon), [["1", "5"]])
        psql(self.db_url, f"UPDATE niches SET inventory_ttl_hours_max = 1 WHERE slug = '{slug}'")  # never lowered
        self.assertEqual(rows(self.db_url, horizon), [["1", "5"]])

        def backdated(hours_ago):
            return psql(self.db_url,
                        "INSERT INTO leads SELECT * FROM jsonb_populate_record(NULL::leads, (SELECT to_jsonb(l) || "
                        "jsonb_build_object('id', (substr(lx_uuid_v7_floor(now() - make_interval(hours => "
                        f"{hours_ago}))::text, 1, 14) || '7' || substr(gen_random_uuid()::text, 16))::uuid, "
                        f"'created_at', now() - make_interval(hours => {hours_ago}), "
                        "'expires_at', now() + interval '1 hour') "
                        f"FROM leads l WHERE l.id = '{lead['id']}')) RETURNING id")

        under_longer_ttl, past_every_ttl = backdated(3), backdated(6)
        _, adv = self.advertiser()
        self.assertEqual(self.market_ids(adv, niche=slug), [under_longer_ttl, lead["id"]])
        # Across niches the look-back is the longest of them all (others here have longer TTLs): still listed.
        self.assertEqual([i for i in self.market_ids(adv) if i in (under_longer_ttl, lead["id"])],
                         [under_longer_ttl, lead["id"]])
        # Raised again, the longest TTL follows.
        r = self.h2.patch(f"/v1/niches/{slug}", json={"inventory_ttl_hours": 8}, headers=bearer(self.op))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(rows(self.db_url, horizon), [["8", "8"]])
        self.assertEqual(self.market_ids(adv, niche=slug), [past_every_ttl, under_longer_ttl, lead["id"]])

    def test_floor_zero_costs_one(self):
        niche = self.new_niche(floor_exclusive=0, floor_shared=0)
        lead = self.new_lead(niche=niche["slug"])
        _, adv = self.advertiser(funds=10)
        (p,) = self.market(adv, niche=niche["slug"])
        self.assertEqual((p["price_exclusive"], p["price_shared"]), (1, 1))
        got = self.bought(lead["id"], "shared", adv)
        self.assertEqual(got["price"], 1)

    def test_filters_and_pages(self):
        niche = self.new_niche(min_quality=0)
        mow = [self.new_lead(niche=niche["slug"], region="RU-MOW") for _ in range(3)]
        spe = self.new_lead(niche=niche["slug"], region="RU-SPE")
        country = self.new_lead(niche=niche["slug"], region="RU")
        bot = self.new_lead(niche=niche["slug"], region="RU-MOW", fill_s=1)  # form filled in 1 s: a low score
        _, adv = self.advertiser()
        every = [m["id"] for m in mow] + [spe["id"], country["id"], bot["id"]]
        self.assertEqual(self.market_ids(adv, niche=niche["slug"]), every)  # oldest first
        self.assertEqual(self.market_ids(adv, niche=niche["slug"], limit=2), every)  # pages of two
        self.assertEqual(self.market_ids(adv, niche=niche["slug"], region="RU"), every)  # a country covers its parts
        self.assertEqual(self.market_ids(adv, niche=niche["slug"], region="RU-MOW"), [m["id"] for m in mow] + [bot["id"]])
        self.assertEqual(self.market_ids(adv, niche=niche["slug"], region="RU-SPE"), [spe["id"]])
        self.assertEqual(self.market_ids(adv, niche=niche["slug"], region="BY"), [])
        low = bot["quality"]["score"]
        self.assertLess(low, min(m["quality"]["score"] for m in mow))
        above = self.market_ids(adv, niche=niche["slug"], min_quality=low + 1)
        self.assertEqual(above, [i for i in every if i != bot["id"]])
        self.assertEqual(self.market_ids(adv, niche=niche["slug"], min_quality=0), every)
        self.assertEqual(self.market_ids(adv, niche="no-such-niche"), [])
        # Without a niche: every niche of the buyer's currency (this class's other tests add leads too).
        everything = self.market_ids(adv, limit=200)
        self.assertTrue(set(every) <= set(everything))
        self.assertEqual(everything, sorted(everything))

    def test_bad_queries(self):
        _, adv = self.advertiser()
        for query, field in (("region=XX-ZZZ", "query.region"), ("region=ru", "query.region"),
                             ("region=RU-", "query.region"), ("min_quality=101", "query.min_quality"),
                             ("min_quality=-1", "query.min_quality"), ("min_quality=x", "query.min_quality"),
                             ("min_quality=", "query.min_quality"), ("niche=Bad_Slug", "query.niche"),
                             ("limit=0", "query.limit"), ("limit=201", "query.limit"), ("cursor=nope", "query.cursor"),
                             ("colour=red", "query.colour"), ("region=RU&region=BY", "query.region")):
            with self.subTest(query=query):
                problem(self.h2.get(f"/v1/market/leads?{query}", headers=bearer(adv)), 400, "invalid_parameter", field)

    def test_roles(self):
        lead = self.new_lead()
        for token in (self.op, self.wm_token):
            problem(self.h2.get("/v1/market/leads", headers=bearer(token)), 403, "forbidden")
            problem(self.buy(lead["id"], "exclusive", token), 403, "forbidden")
        problem(self.h2.get("/v1/purchases", headers=bearer(self.wm_token)), 403, "forbidden")
        problem(self.h2.get(f"/v1/purchases/{uuid7()}", headers=bearer(self.wm_token)), 403, "forbidden")
        problem(self.h2.get("/v1/market/leads"), 401, "unauthorized")

    def test_what_never_shows(self):
        niche = self.new_niche()
        slug = niche["slug"]
        _, adv = self.advertiser(funds=10**6)
        _, other = self.advertiser(funds=10**6)
        rejected = self.new_lead(niche=slug, fill_s=1)  # a bot: under the niche's min_quality
        self.assertEqual(rejected["status"], "rejected")
        phone = unique_phone()
        first = self.new_lead(niche=slug, phone=phone)
        duplicate = self.new_lead(niche=slug, phone=phone)
        self.assertEqual(duplicate["status"], "duplicate")
        expired = self.new_lead(niche=slug)
        psql(self.db_url, f"UPDATE leads SET expires_at = now() - interval '1 second' WHERE id = '{expired['id']}'")
        erased = self.new_lead(niche=slug)
        r = self.h2.delete(f"/v1/leads/{erased['id']}/contact", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204, r.text)
        held = self.new_lead(niche=slug)
        self.bought(held["id"], "shared", adv)
        exclusive = self.new_lead(niche=slug)
        self.bought(exclusive["id"], "exclusive", other)
        full = self.new_lead(niche=slug)
        for _ in range(3):
            self.bought(full["id"], "shared", self.advertiser(funds=10**6)[1])

        self.assertEqual(self.market_ids(adv, niche=slug), [first["id"]])
        self.assertEqual(self.market_ids(other, niche=slug), [first["id"], held["id"]])

        # Buying them: never for sale or unknown -> 404; gone from the inventory -> 409 on /mode; held -> 409.
        for lead in (rejected, duplicate):
            problem(self.buy(lead["id"], "shared", adv), 404, "not_found", "path.id")
        _, third = self.advertiser(funds=10**6)
        for lead, mode in ((expired, "shared"), (erased, "exclusive"), (exclusive, "shared"), (full, "shared"),
                           (held, "exclusive")):
            with self.subTest(lead=lead["id"], mode=mode):
                doc = problem(self.buy(lead["id"], mode, third), 409, "conflict", "/mode")
                self.assertNotIn("path.id", [e["field"] for e in doc["errors"]])
        problem(self.buy(held["id"], "shared", adv), 409, "conflict", "path.id")
        problem(self.buy(held["id"], "exclusive", adv), 409, "conflict", "path.id")

    def test_other_currency(self):
        usd = self.new_niche(currency="USD")
        _, wm_usd = self.webmaster(currency="USD")
        lead = self.new_lead(niche=usd["slug"], token=wm_usd)
        self.assertEqual(lead["status"], "unsold")
        _, rub = self.advertiser(funds=10**6)
        _, dollars = self.advertiser(funds=10**6, currency="USD")
        self.assertEqual(self.market_ids(rub, niche=usd["slug"]), [])
        self.assertEqual(self.market_ids(dollars, niche=usd["slug"]), [lead["id"]])
        problem(self.buy(lead["id"], "exclusive", rub), 404, "not_found", "path.id")
        got = self.bought(lead["id"], "exclusive", dollars)
        self.assertEqual((got["currency"], got["price"]), ("USD", 50000))


class Purchases(MarketCase):
    def test_exclusive_purchase_moves_the_money(self):
        niche = self.new_niche(fee_bps=1500)
        body = self.lead(niche=niche["slug"])
        lead = self.submit(body).json()
        adv_acct, adv = self.advertiser(funds=120000)
        revenue0, pending0 = self.revenue(), self.db_balance(self.wm["id"], "pending")
        r = self.buy(lead["id"], "exclusive", adv)
        self.assertEqual(r.status_code, 201, r.text)
        p = r.json()
        self.assertEqual(set(p), PURCHASE_KEYS)
        self.assertEqual((p["lead_id"], p["buyer_id"], p["mode"], p["share_index"], p["price"], p["currency"]),
                         (lead["id"], adv_acct["id"], "exclusive", 0, 50000, "RUB"))
        self.assertEqual((p["source"], p["campaign_id"], p["refunded_at"]), ("inventory", None, None))
        # The lead as its buyer sees it: the contact, the consent evidence, no sale summary.
        got = p["lead"]
        self.assertEqual(got["id"], lead["id"])
        self.assertEqual(got["status"], "sold")
        self.assertIsNone(got["sale"])
        self.assertEqual(got["contact"]["email"], body["contact"]["email"])
        self.assertEqual(digits(got["contact"]["phone"]), digits(body["contact"]["phone"]))
        self.assertEqual(got["contact"]["name"], body["contact"]["name"])
        self.assertEqual(got["consent"]["text"], body["consent"]["text"])
        self.assertEqual(got["consent"]["ip"], body["consent"]["ip"])
        self.assertEqual(got["consent"]["page_url"], body["consent"]["page_url"])
        self.assertEqual(got["attributes"], lead["attributes"])
        # The money: exactly one sale, priced at the floor, fee floor(price * fee_bps / 10000).
        self.assertEqual(self.db_balance(adv_acct["id"]), 120000 - 50000)
        self.assertEqual(self.db_balance(self.wm["id"], "pending") - pending0, 50000 - fee(50000, 1500))
        self.assertEqual(self.revenue() - revenue0, fee(50000, 1500))
        sales = rows(self.db_url, f"SELECT id, ledger_txn, fee, payout FROM sales WHERE lead_id = '{lead['id']}'")
        self.assertEqual(sales, [[p["id"], p["id"], "7500", "42500"]])
        # The supplier sees the sale summary, never the buyer.
        mine = self.h2.get(f"/v1/leads/{lead['id']}", headers=bearer(self.wm_token)).json()
        self.assertEqual(mine["status"], "sold")
        self.assertEqual(mine["sale"], {"mode": "exclusive", "buyers": 1, "payout": 42500, "currency": "RUB"})
        self.assertNotIn(adv_acct["id"], json.dumps(mine))
        # Gone from the inventory; nobody else can buy it in any mode; the buyer holds it.
        _, other = self.advertiser(funds=10**6)
        self.assertNotIn(lead["id"], self.market_ids(other, niche=niche["slug"]))
        problem(self.buy(lead["id"], "exclusive", other), 409, "conflict", "/mode")
        problem(self.buy(lead["id"], "shared", other), 409, "conflict", "/mode")
        problem(self.buy(lead["id"], "exclusive", adv), 409, "conflict", "path.id")
        # The same object from GET /v1/purchases/{id} and the list.
        self.assertEqual(self.h2.get(f"/v1/purchases/{p['id']}", headers=bearer(adv)).json(), p)
        self.assertEqual(self.h1.get(f"/v1/purchases/{p['id']}", headers=bearer(self.op)).json(), p)
        self.assertEqual(self.h2.get("/v1/purchases", headers=bearer(adv)).json(), {"items": [p], "next_cursor": None})

    def test_shared_slots(self):
        niche = self.new_niche(max_shares=3, floor_shared=20000, fee_bps=333)
        lead = self.new_lead(niche=niche["slug"])
        buyers = [self.advertiser(funds=30000) for _ in range(4)]
        pending0 = self.db_balance(self.wm["id"], "pending")
        got = []
        for i, (acct, token) in enumerate(buyers[:3]):
            p = self.bought(lead["id"], "shared", token)
            self.assertEqual((p["mode"], p["share_index"], p["price"]), ("shared", i, 20000))
            got.append(p)
            self.assertEqual(self.db_balance(acct["id"]), 10000)
            if i < 2:
                (preview,) = self.market(buyers[3][1], niche=niche["slug"])
                self.assertEqual((preview["shared_slots_left"], preview["price_exclusive"], preview["price_shared"]),
                                 (2 - i, None, 20000))
                self.assertNotIn(lead["id"], self.market_ids(token, niche=niche["slug"]))  # held by this buyer
        problem(self.buy(lead["id"], "shared", buyers[3][1]), 409, "conflict", "/mode")
        problem(self.buy(lead["id"], "exclusive", buyers[3][1]), 409, "conflict", "/mode")
        self.assertEqual(self.market_ids(buyers[3][1], niche=niche["slug"]), [])
        self.assertEqual(self.db_balance(self.wm["id"], "pending") - pending0, 3 * (20000 - fee(20000, 333)))
        mine = self.h2.get(f"/v1/leads/{lead['id']}", headers=bearer(self.wm_token)).json()
        self.assertEqual(mine["sale"], {"mode": "shared", "buyers": 3, "payout": 3 * (20000 - fee(20000, 333)),
                                        "currency": "RUB"})

    def test_exclusive_after_a_shared_sale_is_refused(self):
        niche = self.new_niche()
        lead = self.new_lead(niche=niche["slug"])
        self.bought(lead["id"], "shared", self.advertiser(funds=10**6)[1])
        problem(self.buy(lead["id"], "exclusive", self.advertiser(funds=10**6)[1]), 409, "conflict", "/mode")

    def test_sale_mode_of_the_supplier(self):
        niche = self.new_niche()
        only_exclusive = self.new_lead(niche=niche["slug"], sale_mode="exclusive")
        only_shared = self.new_lead(niche=niche["slug"], sale_mode="shared")
        _, adv = self.advertiser(funds=10**6)
        previews = {p["id"]: p for p in self.market(adv, niche=niche["slug"])}
        excl = previews[only_exclusive["id"]]
        self.assertEqual((excl["price_exclusive"], excl["price_shared"], excl["shared_slots_left"]), (50000, None, 0))
        self.assertEqual(previews[only_shared["id"]]["price_exclusive"], None)
        self.assertEqual(previews[only_shared["id"]]["price_shared"], 20000)
        problem(self.buy(only_exclusive["id"], "shared", adv), 409, "conflict", "/mode")
        problem(self.buy(only_shared["id"], "exclusive", adv), 409, "conflict", "/mode")
        self.assertEqual(self.bought(only_shared["id"], "shared", adv)["mode"], "shared")
        self.assertEqual(self.bought(only_exclusive["id"], "exclusive", adv)["mode"], "exclusive")

    def test_insufficient_funds_writes_nothing(self):
        lead = self.new_lead()
        acct, adv = self.advertiser(funds=49999)
        revenue0 = self.revenue()
        doc = problem(self.buy(lead["id"], "exclusive", adv), 402, "insufficient_funds")
        self.assertEqual(doc["type"], "https://leadx.dev/problems/insufficient_funds")
        self.assertEqual(self.db_balance(acct["id"]), 49999)
        self.assertEqual(self.sales_of(lead["id"]), [])
        self.assertEqual(psql(self.db_url, f"SELECT status, shares_sold FROM leads WHERE id = '{lead['id']}'"), "unsold|0")
        self.assertEqual(self.revenue(), revenue0)
        # A shared slot is cheaper; a credit limit lets the balance go below zero, down to minus the limit.
        self.assertEqual(self.bought(lead["id"], "shared", adv)["price"], 20000)
        self.assertEqual(self.db_balance(acct["id"]), 29999)
        second = self.new_lead()
        problem(self.buy(second["id"], "exclusive", adv), 402, "insufficient_funds")
        r = self.patch_account(acct["id"], {"credit_limit": 20001})
        self.assertEqual(r.status_code, 200, r.text)
        self.bought(second["id"], "exclusive", adv)
        self.assertEqual(self.db_balance(acct["id"]), -20001)
        third = self.new_lead()
        problem(self.buy(third["id"], "shared", adv), 402, "insufficient_funds")

    def test_the_database_backs_the_checks(self):
        """Every share slot taken behind the lead's back (its sale state not moved): the purchase takes the lowest
        free slot, finds none, and the unique index on unrefunded sales refuses it: 409 on /mode, nothing written."""
        lead = self.new_lead()
        acct, adv = self.advertiser(funds=10**6)
        strays = [uuid7() for _ in range(3)]  # the niche's max_shares
        for k, stray in enumerate(strays):
            psql(self.db_url,
                 "INSERT INTO sales (id, lead_id, buyer_id, webmaster_id, niche_id, mode, share_index, price, fee, "
                 f"payout, currency, ledger_txn) SELECT '{stray}', l.id, '{uuid7()}', l.webmaster_id, l.niche_id, "
                 f"'shared', {k}, 1, 0, 1, 'RUB', '{uuid7()}' FROM leads l WHERE l.id = '{lead['id']}'")
        try:
            problem(self.buy(lead["id"], "shared", adv), 409, "conflict", "/mode")
            self.assertEqual(self.db_balance(acct["id"]), 10**6)
            self.assertEqual(psql(self.db_url, f"SELECT shares_sold FROM leads WHERE id = '{lead['id']}'"), "0")
        finally:
            psql(self.db_url, "DELETE FROM sales WHERE id IN (" + ", ".join(f"'{x}'" for x in strays) + ")")
        self.assertEqual(self.bought(lead["id"], "shared", adv)["share_index"], 0)

    def test_unknown_and_bad_ids(self):
        _, adv = self.advertiser(funds=10**6)
        problem(self.buy(uuid7(), "exclusive", adv), 404, "not_found", "path.id")
        problem(self.buy("not-a-uuid", "exclusive", adv), 404, "not_found", "path.id")
        problem(self.h2.get(f"/v1/purchases/{uuid7()}", headers=bearer(adv)), 404, "not_found")
        problem(self.h2.get("/v1/purchases/12345", headers=bearer(adv)), 404, "not_found", "path.id")

    def test_bad_bodies_write_nothing(self):
        lead = self.new_lead()
        acct, adv = self.advertiser(funds=10**6)
        for body, field in (({}, "/mode"), ({"mode": "both"}, "/mode"), ({"mode": None}, "/mode"), ({"mode": 1}, "/mode"),
                            ({"mode": "shared", "price": 1}, "/price"), ([], ""), ("shared", "")):
            with self.subTest(body=body):
                problem(self.buy(lead["id"], None, adv, body=body, key="k-bad"), 422, "validation_failed", field)
        headers = {**bearer(adv), **JSON}
        url = f"/v1/market/leads/{lead['id']}/purchase"
        problem(self.h2.post(url, content=b'{"mode": "shared"', headers=headers), 400, "malformed_json")
        problem(self.h2.post(url, content=b'{"mode": "shared", "mode": "exclusive"}', headers=headers), 400,
                "malformed_json")
        problem(self.h2.post(url, content=b'{"mode": "shared"}', headers=bearer(adv)), 415, "unsupported_media_type")
        self.assertEqual(self.sales_of(lead["id"]), [])
        self.assertEqual(self.db_balance(acct["id"]), 10**6)
        # The key was not used up by the invalid bodies.
        self.assertEqual(self.bought(lead["id"], "shared", adv, key="k-bad")["mode"], "shared")

    def test_idempotent_replay(self):
        lead = self.new_lead()
        acct, adv = self.advertiser(funds=10**6)
        key = "buy-" + secrets.token_hex(8)
        first = self.bought(lead["id"], "exclusive", adv, key=key)
        for client in (self.h2, self.h1):
            again = self.buy(lead["id"], "exclusive", adv, key=key, client=client)
            self.assertEqual(again.status_code, 201, again.text)
            self.assertEqual(again.json(), first)
        self.assertEqual(len(self.sales_of(lead["id"])), 1)
        self.assertEqual(self.db_balance(acct["id"]), 10**6 - 50000)
        problem(self.buy(lead["id"], "shared", adv, key=key), 422, "idempotency_key_reused", "header.idempotency-key")
        other = self.new_lead()
        problem(self.buy(other["id"], "exclusive", adv, key=key), 422, "idempotency_key_reused")
        # Keys are per account: another buyer's same key is its own.
        problem(self.buy(lead["id"], "exclusive", self.advertiser(funds=10**6)[1], key=key), 409, "conflict", "/mode")

    def test_refusals_do_not_use_up_the_key(self):
        lead = self.new_lead()
        acct, adv = self.advertiser(funds=100)
        key = "poor-" + secrets.token_hex(8)
        problem(self.buy(lead["id"], "exclusive", adv, key=key), 402, "insufficient_funds")
        self.assertEqual(self.deposit(acct["id"], 10**6, currency="RUB").status_code, 201)
        p = self.bought(lead["id"], "exclusive", adv, key=key)
        self.assertEqual(self.bought(lead["id"], "exclusive", adv, key=key), p)

    def test_concurrent_same_key_runs_once(self):
        lead = self.new_lead()
        acct, adv = self.advertiser(funds=10**6)
        key = "race-" + secrets.token_hex(8)
        barrier = threading.Barrier(8)

        def go(_):
            with self.server.client(http2=True) as c:
                barrier.wait()
                return self.buy(lead["id"], "shared", adv, key=key, client=c)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(go, range(8)))
        codes = [r.status_code for r in rs]
        self.assertTrue(set(codes) <= {201, 409}, codes)
        self.assertIn(201, codes)
        for r in rs:
            if r.status_code == 409:
                self.assertEqual(r.json()["code"], "idempotency_in_progress")
        self.assertEqual(len({r.json()["id"] for r in rs if r.status_code == 201}), 1)
        self.assertEqual(len(self.sales_of(lead["id"])), 1)
        self.assertEqual(self.db_balance(acct["id"]), 10**6 - 20000)

    def test_purchase_lists_and_isolation(self):
        acct, adv = self.advertiser(funds=10**6)
        other_acct, other = self.advertiser(funds=10**6)
        mine = [self.bought(self.new_lead()["id"], mode, adv) for mode in ("exclusive", "shared", "shared")]
        theirs = self.bought(self.new_lead()["id"], "exclusive", other)
        # Oldest first, in pages; the same objects as the purchase answers.
        seen, cursor = [], None
        while True:
            q = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = self.h2.get("/v1/purchases", params=q, headers=bearer(adv)).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, mine)
        since = mine[1]["purchased_at"]
        self.assertEqual(self.h2.get("/v1/purchases", params={"since": since}, headers=bearer(adv)).json()["items"],
                         mine[1:])
        self.assertEqual(self.h2.get("/v1/purchases?since=2999-01-01T00:00:00Z", headers=bearer(adv)).json(),
                         {"items": [], "next_cursor": None})
        for query, field in (("since=yesterday", "query.since"), ("limit=0", "query.limit"), ("cursor=x", "query.cursor"),
                             ("buyer=me", "query.buyer")):
            problem(self.h2.get(f"/v1/purchases?{query}", headers=bearer(adv)), 400, "invalid_parameter", field)
        # Another buyer's purchase does not exist for this one; operators see every purchase.
        problem(self.h2.get(f"/v1/purchases/{theirs['id']}", headers=bearer(adv)), 404, "not_found")
        problem(self.h2.get(f"/v1/purchases/{mine[0]['id']}", headers=bearer(other)), 404, "not_found")
        self.assertEqual(self.h2.get("/v1/purchases", headers=bearer(other)).json()["items"], [theirs])
        everything = self.h2.get("/v1/purchases", params={"limit": 200}, headers=bearer(self.op)).json()["items"]
        ids = [p["id"] for p in everything]
        self.assertTrue({p["id"] for p in mine + [theirs]} <= set(ids))
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(self.h2.get(f"/v1/purchases/{theirs['id']}", headers=bearer(self.op)).json(), theirs)
        # An erased contact stays erased in the purchase; the consent evidence stays.
        r = self.h2.delete(f"/v1/leads/{mine[0]['lead_id']}/contact", headers=bearer(self.op))
        self.assertEqual(r.status_code, 204)
        again = self.h2.get(f"/v1/purchases/{mine[0]['id']}", headers=bearer(adv)).json()
        self.assertEqual((again["lead"]["contact"], again["lead"]["contact_erased"]), (None, True))
        self.assertEqual(again["lead"]["consent"], mine[0]["lead"]["consent"])

    def test_real_time_sales_are_purchases(self):
        """A sale the intake's auction made is the buyer's purchase (source auction, its campaign), listed and read
        like an inventory purchase; a shared lead sold in real time keeps its free slots in the inventory."""
        niche = self.new_niche(max_shares=3, floor_shared=20000, fee_bps=1500)
        acct, adv = self.advertiser(funds=10**6)
        r = self.h2.post("/v1/campaigns", json={"niche": niche["slug"], "regions": ["RU"], "price_shared": 25000,
                                                "budget": 25000}, headers=bearer(adv))
        self.assertEqual(r.status_code, 201, r.text)
        campaign = r.json()["id"]
        lead = self.new_lead(niche=niche["slug"])
        self.assertEqual(lead["status"], "sold", lead)
        (p,) = self.h2.get("/v1/purchases", headers=bearer(adv)).json()["items"]
        self.assertEqual((p["lead_id"], p["source"], p["campaign_id"], p["mode"], p["share_index"], p["price"]),
                         (lead["id"], "auction", campaign, "shared", 0, 25000))
        self.assertEqual(p["lead"]["contact"], lead["contact"])
        self.assertIsNone(p["lead"]["sale"])
        self.assertEqual(self.h2.get(f"/v1/purchases/{p['id']}", headers=bearer(adv)).json(), p)
        # Held already: the inventory neither shows it to this buyer nor sells it again; others get the next slot.
        self.assertNotIn(lead["id"], self.market_ids(adv, niche=niche["slug"]))
        problem(self.buy(lead["id"], "shared", adv), 409, "conflict", "path.id")
        _, other = self.advertiser(funds=10**6)
        (preview,) = self.market(other, niche=niche["slug"])
        self.assertEqual((preview["shared_slots_left"], preview["price_exclusive"], preview["price_shared"]),
                         (2, None, 20000))
        problem(self.buy(lead["id"], "exclusive", other), 409, "conflict", "/mode")
        got = self.bought(lead["id"], "shared", other)
        self.assertEqual((got["source"], got["campaign_id"], got["share_index"], got["price"]),
                         ("inventory", None, 1, 20000))
        mine = self.h2.get(f"/v1/leads/{lead['id']}", headers=bearer(self.wm_token)).json()
        self.assertEqual(mine["sale"], {"mode": "shared", "buyers": 2, "currency": "RUB",
                                        "payout": 25000 - fee(25000, 1500) + 20000 - fee(20000, 1500)})

    def test_a_person_bought_recently_goes_to_another_buyer(self):
        """exclude_bought_contacts_days: a campaign does not buy a person (same phone or same e-mail) its advertiser
        bought in any niche within N days, whether that sale was in an earlier transaction or earlier in the same
        batch; the lead goes to the next buyer, and people the advertiser never bought still go to it."""
        a, b = self.new_niche(), self.new_niche()
        x_acct, x = self.advertiser(funds=10**7)
        y_acct, y = self.advertiser(funds=10**7)
        for token, body in ((x, {"niche": a["slug"], "price_exclusive": 60000}),
                            (x, {"niche": b["slug"], "price_exclusive": 90000, "exclude_bought_contacts_days": 30}),
                            (y, {"niche": b["slug"], "price_exclusive": 55000})):
            r = self.h2.post("/v1/campaigns", json={"regions": ["RU"], **body}, headers=bearer(token))
            self.assertEqual(r.status_code, 201, r.text)

        def buyer_of(lead_id):
            (sale,) = rows(self.db_url, f"SELECT buyer_id, price FROM sales WHERE lead_id = '{lead_id}'")
            return sale[0], int(sale[1])

        # The same person again; the same e-mail with another phone; the same phone with another e-mail.
        for same_phone, same_email in ((True, True), (False, True), (True, False)):
            with self.subTest(same_phone=same_phone, same_email=same_email):
                phone, email = unique_phone(), f"p{secrets.token_hex(4)}@example.org"
                first = self.new_lead(niche=a["slug"], phone=phone, email=email)
                self.assertEqual(buyer_of(first["id"]), (x_acct["id"], 60000))
                again = self.new_lead(niche=b["slug"], phone=phone if same_phone else None,
                                      email=email if same_email else None)
                self.assertEqual(buyer_of(again["id"]), (y_acct["id"], 55000), "sold to the buyer who asked not to")
        # Someone X never bought goes to X's higher bid.
        self.assertEqual(buyer_of(self.new_lead(niche=b["slug"])["id"]), (x_acct["id"], 90000))
        # Earlier in the same batch counts too.
        phone2, email2 = unique_phone(), f"p{secrets.token_hex(4)}@example.org"
        r = self.submit_batch([self.lead(niche=a["slug"], phone=phone2, email=email2),
                               self.lead(niche=b["slug"], phone=phone2, email=email2)])
        self.assertEqual(r.status_code, 200, r.text)
        first, second = (item["lead"] for item in r.json()["results"])
        self.assertEqual(buyer_of(first["id"]), (x_acct["id"], 60000))
        self.assertEqual(buyer_of(second["id"]), (y_acct["id"], 55000))


class Contention(MarketCase):
    """Buyers racing for the same leads, over several HTTP/2 connections from many threads."""

    threads = 4

    def race(self, tasks, nthreads=50):
        """Runs tasks [(lead_id, mode, token)] from `nthreads` threads, each with its own HTTP/2 connection (httpx's
        HTTP/2 connections are not safe to share between threads), all starting together; returns
        [(task, status, body)]."""
        barrier = threading.Barrier(nthreads)
        chunks = [tasks[i::nthreads] for i in range(nthreads)]

        def worker(i):
            out = []
            with self.server.client(http2=True, timeout=60) as c:
                c.get("/healthz")  # connected before the start
                barrier.wait()
                for lead_id, mode, token in chunks[i]:
                    r = self.buy(lead_id, mode, token, client=c)
                    out.append(((lead_id, mode, token), r.status_code, r.json()))
            return out

        with concurrent.futures.ThreadPoolExecutor(nthreads) as ex:
            return [x for part in ex.map(worker, range(nthreads)) for x in part]

    def leads(self, slug, n, **kw):
        out = []
        while len(out) < n:
            batch = [self.lead(niche=slug, **kw) for _ in range(min(200, n - len(out)))]
            r = self.submit_batch(batch)
            self.assertEqual(r.status_code, 200, r.text)
            for res in r.json()["results"]:
                self.assertEqual(res["status_code"], 201, res)
                self.assertEqual(res["lead"]["status"], "unsold", res)
                out.append(res["lead"]["id"])
        return out

    def test_fifty_buyers_race_for_200_exclusive_leads(self):
        niche = self.new_niche(floor_exclusive=100, floor_shared=40, fee_bps=1000)
        leads = self.leads(niche["slug"], 200)
        buyers = [self.advertiser(funds=200 * 100) for _ in range(50)]
        token_of = {tok: acct["id"] for acct, tok in buyers}
        # Every buyer goes for every lead; each thread walks the leads in its own order so the races spread out.
        tasks = []
        for _, tok in buyers:
            order = leads[:]
            random.shuffle(order)
            tasks += [(lead_id, "exclusive", tok) for lead_id in order]
        results = self.race(tasks)
        self.assertEqual(len(results), 50 * 200)
        winners = {}
        for (lead_id, _, tok), status, body in results:
            self.assertIn(status, (201, 409), body)
            if status == 201:
                self.assertNotIn(lead_id, winners, "two buyers got one exclusive lead")
                winners[lead_id] = (token_of[tok], body["id"])
            else:
                self.assertEqual((body["code"], [e["field"] for e in body["errors"]]), ("conflict", ["/mode"]))
        self.assertEqual(set(winners), set(leads))
        sold = rows(self.db_url, "SELECT s.lead_id, s.buyer_id, s.id FROM sales s JOIN leads l ON l.id = s.lead_id "
                                 f"WHERE l.niche_id = '{niche['id']}' AND s.refunded_at IS NULL")
        self.assertEqual(len(sold), 200)
        self.assertEqual({lead: (buyer, sale) for lead, buyer, sale in sold}, winners)
        self.assertEqual(psql(self.db_url, f"SELECT count(*) FROM leads WHERE niche_id = '{niche['id']}' "
                                           "AND (status, sold_mode, shares_sold) = ('sold', 'exclusive', 1)"), "200")
        wins = {}
        for buyer, _ in winners.values():
            wins[buyer] = wins.get(buyer, 0) + 1
        for acct, _ in buyers:
            self.assertEqual(self.db_balance(acct["id"]), 200 * 100 - 100 * wins.get(acct["id"], 0))
        self.assertEqual(self.market_ids(buyers[0][1], niche=niche["slug"]), [])

    def test_buyers_race_for_shared_slots(self):
        niche = self.new_niche(max_shares=5, floor_exclusive=100, floor_shared=40, fee_bps=1000)
        leads = self.leads(niche["slug"], 20)
        buyers = [self.advertiser(funds=20 * 40) for _ in range(50)]
        token_of = {tok: acct["id"] for acct, tok in buyers}
        # Each buyer asks twice for every lead, on different connections: never twice to one buyer.
        tasks = [(lead_id, "shared", tok) for lead_id in leads for _, tok in buyers for _ in range(2)]
        random.shuffle(tasks)
        results = self.race(tasks)
        got = {lead_id: [] for lead_id in leads}
        for (lead_id, _, tok), status, body in results:
            self.assertIn(status, (201, 409), body)
            if status == 201:
                got[lead_id].append((token_of[tok], body["share_index"]))
        for lead_id, sales in got.items():
            self.assertEqual(len(sales), 5, sales)
            self.assertEqual(len({b for b, _ in sales}), 5, "a buyer holds a slot twice")
            self.assertEqual(sorted(i for _, i in sales), [0, 1, 2, 3, 4])
            db = self.sales_of(lead_id)
            self.assertEqual(sorted((b, int(i)) for b, _, i, _ in db), sorted(sales))
        self.assertEqual(psql(self.db_url, f"SELECT count(*) FROM leads WHERE niche_id = '{niche['id']}' "
                                           "AND (status, sold_mode, shares_sold) = ('sold', 'shared', 5)"), "20")

    def test_a_buyer_racing_itself_never_overspends(self):
        niche = self.new_niche(floor_exclusive=100, floor_shared=40, fee_bps=1000)
        leads = self.leads(niche["slug"], 12)
        acct, adv = self.advertiser(funds=3 * 100)
        results = self.race([(lead_id, "exclusive", adv) for lead_id in leads], nthreads=12)
        statuses = sorted(status for _, status, _ in results)
        self.assertEqual(statuses, [201] * 3 + [402] * 9)
        self.assertEqual(self.db_balance(acct["id"]), 0)

    def test_exclusive_and_shared_racing_never_mix(self):
        niche = self.new_niche(max_shares=4, floor_exclusive=100, floor_shared=40, fee_bps=0)
        leads = self.leads(niche["slug"], 30)
        buyers = [self.advertiser(funds=30 * 100) for _ in range(20)]
        tasks = [(lead_id, random.choice(("exclusive", "shared")), tok) for lead_id in leads for _, tok in buyers]
        random.shuffle(tasks)
        results = self.race(tasks, nthreads=20)
        self.assertTrue({status for _, status, _ in results} <= {201, 409})
        for lead_id in leads:
            modes = [m for _, m, _, _ in self.sales_of(lead_id)]
            self.assertTrue(modes == ["exclusive"] or (modes and set(modes) == {"shared"} and len(modes) <= 4), modes)


if __name__ == "__main__":
    main()
