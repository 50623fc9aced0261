"""Settlement (issue 5 item 7, the pending -> available half): a sale's payout moves from the webmaster's pending book
to its available book once the niche's return window has passed and no return on it is pending, with one settlement
ledger transaction and one settlement receipt per webmaster and currency per round; never while a return is pending;
exactly once with two server processes settling the same database. MarketCase checks the ledger and the leads' sale
state after every test."""
import time

from harness import Server, bearer, main, psql, wait_for
from test_market import MarketCase, fee, rows


class Settlement(MarketCase):
    server_env = {"LEADX_SETTLE_INTERVAL_MS": "100"}

    def unsettled(self, sale_ids):
        ids = ",".join(f"'{i}'" for i in sale_ids)
        return int(psql(self.db_url, f"SELECT count(*) FROM sales WHERE id IN ({ids}) AND settled_at IS NULL"))

    def sales(self, slug, n, adv):
        return [self.bought(self.new_lead(niche=slug)["id"], "exclusive", adv) for _ in range(n)]

    def test_settles_after_the_window(self):
        niche = self.new_niche(return_window_hours=0)
        wm, wm_token = self.webmaster()
        _, adv = self.advertiser(funds=10**6)
        ps = [self.bought(self.new_lead(niche=niche["slug"], token=wm_token)["id"], "exclusive", adv) for _ in range(3)]
        wait_for(lambda: self.unsettled([p["id"] for p in ps]) == 0, 10, what="settlement")
        payout = sum(p["price"] - fee(p["price"], 1500) for p in ps)
        self.assertEqual(self.db_balance(wm["id"], "pending"), 0)
        self.assertEqual(self.db_balance(wm["id"], "available"), payout)
        rec = rows(self.db_url, f"SELECT kind, book, sum(amount) FROM receipts WHERE account_id = '{wm['id']}' "
                                "AND kind = 'settlement' GROUP BY 1, 2")
        self.assertEqual(rec, [["settlement", "available", str(payout)]])
        # Each settled sale names a settlement transaction whose receipts match it.
        bad = rows(self.db_url, "SELECT s.id FROM sales s LEFT JOIN ledger_txns t ON t.id = s.settle_txn "
                                f"WHERE s.webmaster_id = '{wm['id']}' AND (t.kind IS DISTINCT FROM 'settlement' "
                                "OR NOT EXISTS (SELECT 1 FROM receipts r WHERE r.ledger_txn = t.id))")
        self.assertEqual(bad, [])

    def test_not_inside_the_window(self):
        niche = self.new_niche(return_window_hours=1)
        _, adv = self.advertiser(funds=10**6)
        (p,) = self.sales(niche["slug"], 1, adv)
        time.sleep(0.5)
        self.assertEqual(self.unsettled([p["id"]]), 1)

    def test_not_while_a_return_is_pending(self):
        niche = self.new_niche(return_window_hours=1)
        psql(self.db_url, f"UPDATE niches SET return_auto_accept = '{{}}' WHERE slug = '{niche['slug']}'")
        _, adv = self.advertiser(funds=10**6)
        (p,) = self.sales(niche["slug"], 1, adv)
        r = self.h2.post(f"/v1/purchases/{p['id']}/return", json={"reason": "other"}, headers=bearer(adv))
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["status"], "pending")
        # The window passes while the return is pending: the sale stays unsettled.
        psql(self.db_url, f"UPDATE sales SET created_at = now() - interval '2 hours' WHERE id = '{p['id']}'")
        time.sleep(0.6)
        self.assertEqual(self.unsettled([p["id"]]), 1)
        # Rejected: it settles.
        d = self.h2.post(f"/v1/returns/{r.json()['id']}/decision", json={"decision": "reject"}, headers=bearer(self.op))
        self.assertEqual(d.status_code, 200, d.text)
        wait_for(lambda: self.unsettled([p["id"]]) == 0, 10, what="settlement after the rejection")

    def test_exactly_once_with_two_processes(self):
        other = Server(self.db_url, key_dir=self.server.key_dir, env={"LEADX_SETTLE_INTERVAL_MS": "20"}, name="settle-B")
        self.addCleanup(other.kill)
        other.start()
        self.addCleanup(other.stop)
        niche = self.new_niche(return_window_hours=1)
        wm, wm_token = self.webmaster()
        _, adv = self.advertiser(funds=10**7)
        ps = [self.bought(self.new_lead(niche=niche["slug"], token=wm_token)["id"], "exclusive", adv) for _ in range(30)]
        ids = [p["id"] for p in ps]
        # All become due at once; both processes race for them.
        psql(self.db_url, "UPDATE sales SET created_at = now() - interval '2 hours' WHERE id IN ("
                          + ",".join(f"'{i}'" for i in ids) + ")")
        wait_for(lambda: self.unsettled(ids) == 0, 15, what="settlement by two processes")
        time.sleep(0.3)
        payout = sum(p["price"] - fee(p["price"], 1500) for p in ps)
        self.assertEqual(self.db_balance(wm["id"], "pending"), 0)
        self.assertEqual(self.db_balance(wm["id"], "available"), payout)
        moved = psql(self.db_url, "SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e JOIN ledger_txns t "
                                  f"ON t.id = e.txn_id WHERE t.kind = 'settlement' AND e.account_id = '{wm['id']}' "
                                  "AND e.book = 'available'")
        self.assertEqual(int(moved), payout)
        other.assert_clean()


if __name__ == "__main__":
    main()
