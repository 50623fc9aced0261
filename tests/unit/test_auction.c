/*
 * Unit tests for src/market/auction.h: eligibility rule by rule, option values
 * (exclusive vs the sum of shared bids of distinct buyers), floors, ties,
 * sale_mode, fees, and the evolving state a batch applies lead after lead.
 */
#include "market/auction.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char *const RU[] = {"RU"}, *const MOW[] = {"RU-MOW"}, *const US_CA[] = {"US-CA"};

static lx_auction_bid_t bid(size_t buyer, uint64_t seq, int64_t px, int64_t ps)
{
    lx_auction_bid_t b;
    memset(&b, 0, sizeof(b));
    b.buyer = buyer;
    b.set_seq = seq;
    b.price_exclusive = px;
    b.price_shared = ps;
    b.regions = RU;
    b.nregions = 1;
    b.active = 1;
    return b;
}

static lx_auction_lead_t lead_in(const char *region)
{
    lx_auction_lead_t l;
    memset(&l, 0, sizeof(l));
    l.region = region;
    l.webmaster_id = "wm-1";
    l.sub_id = "s1";
    l.quality = 80;
    l.temperature = "hot";
    l.sale_mode = LX_MODE_ANY;
    return l;
}

static const lx_auction_rules_t RULES = {.max_shares = 3, .floor_exclusive = 500, .floor_shared = 200, .fee_bps = 1500};

static lx_auction_buyer_t buyers[8];

static void rich_buyers(void)
{
    for (size_t i = 0; i < 8; i++) buyers[i].available = 1000000;
}

/* Runs the auction; checks mode and the winning bids (in order) and their prices. */
static void expect(const char *what, const lx_auction_lead_t *l, const lx_auction_bid_t *bids, size_t n,
                   const lx_auction_rules_t *rules, lx_auction_mode_t mode, const size_t *winners, size_t nwinners)
{
    CHECK_CTX("%s", what);
    lx_auction_result_t r;
    memset(&r, 0xa5, sizeof(r));
    lx_auction_run(l, bids, n, buyers, rules, &r);
    CHECK_EQ_INT(r.mode, mode);
    CHECK_EQ_INT(r.nsales, nwinners);
    int64_t value = 0;
    for (size_t k = 0; k < nwinners && k < r.nsales; k++) {
        CHECK_EQ_INT(r.sales[k].bid, winners[k]);
        int64_t want = mode == LX_MODE_EXCLUSIVE ? bids[winners[k]].price_exclusive : bids[winners[k]].price_shared;
        CHECK_EQ_INT(r.sales[k].price, want);
        CHECK_EQ_INT(r.sales[k].fee, lx_auction_fee(want, rules->fee_bps));
        CHECK_EQ_INT(r.sales[k].payout + r.sales[k].fee, want);
        value += want;
    }
    CHECK_EQ_INT(r.value, value);
    CHECK_CTX("%s", "");
}

static void test_options(void)
{
    rich_buyers();
    lx_auction_lead_t l = lead_in("RU-MOW");
    expect("no bids", &l, NULL, 0, &RULES, LX_MODE_ANY, NULL, 0);
    {
        lx_auction_bid_t b[] = {bid(0, 1, 900, 0)};
        expect("one exclusive bid", &l, b, 1, &RULES, LX_MODE_EXCLUSIVE, (size_t[]){0}, 1);
    }
    {
        lx_auction_bid_t b[] = {bid(0, 1, 499, 0), bid(1, 2, 0, 199)};
        expect("bids under the floors", &l, b, 2, &RULES, LX_MODE_ANY, NULL, 0);
    }
    {
        lx_auction_bid_t b[] = {bid(0, 1, 1000, 0), bid(1, 2, 0, 400), bid(2, 3, 0, 300), bid(3, 4, 0, 400)};
        expect("three shares beat one exclusive (1100 > 1000)", &l, b, 4, &RULES, LX_MODE_SHARED, (size_t[]){1, 3, 2}, 3);
    }
    {
        lx_auction_bid_t b[] = {bid(0, 1, 900, 0), bid(1, 2, 0, 450), bid(2, 3, 0, 450)};
        expect("a tie goes to exclusive", &l, b, 3, &RULES, LX_MODE_EXCLUSIVE, (size_t[]){0}, 1);
    }
    {
        lx_auction_rules_t two = RULES;
        two.max_shares = 2;
        lx_auction_bid_t b[] = {bid(0, 1, 1000, 0), bid(1, 2, 0, 400), bid(2, 3, 0, 300), bid(3, 4, 0, 400)};
        expect("max_shares caps the shared option (800 < 1000)", &l, b, 4, &two, LX_MODE_EXCLUSIVE, (size_t[]){0}, 1);
    }
    {
        lx_auction_bid_t b[] = {bid(0, 1, 0, 600), bid(0, 2, 0, 500), bid(1, 3, 0, 300)};
        expect("one share per buyer: its best bid", &l, b, 3, &RULES, LX_MODE_SHARED, (size_t[]){0, 2}, 2);
    }
    {
        lx_auction_bid_t b[] = {bid(0, 5, 700, 0), bid(1, 3, 700, 0), bid(2, 4, 700, 0)};
        expect("equal bids: the one set first", &l, b, 3, &RULES, LX_MODE_EXCLUSIVE, (size_t[]){1}, 1);
    }
    {
        lx_auction_bid_t b[] = {bid(0, 1, 1000, 0), bid(1, 2, 0, 400), bid(2, 3, 0, 400), bid(3, 4, 0, 400)};
        l.sale_mode = LX_MODE_EXCLUSIVE;
        expect("sale_mode exclusive", &l, b, 4, &RULES, LX_MODE_EXCLUSIVE, (size_t[]){0}, 1);
        l.sale_mode = LX_MODE_SHARED;
        lx_auction_bid_t c[] = {bid(0, 1, 5000, 0), bid(1, 2, 0, 400)};
        expect("sale_mode shared", &l, c, 2, &RULES, LX_MODE_SHARED, (size_t[]){1}, 1);
        l.sale_mode = LX_MODE_ANY;
    }
    {
        lx_auction_bid_t b[] = {bid(0, 1, 900, 300)};
        expect("one campaign with both prices", &l, b, 1, &RULES, LX_MODE_EXCLUSIVE, (size_t[]){0}, 1);
    }
}

static void test_eligibility(void)
{
    rich_buyers();
    lx_auction_lead_t l = lead_in("RU-MOW");
    lx_auction_bid_t b = bid(0, 1, 900, 0);
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);
    b.regions = MOW;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);
    lx_auction_lead_t country = lead_in("RU");
    CHECK_EQ_INT(lx_auction_eligible(&country, &b, buyers, 900), 0); /* a subdivision bid does not cover the country */
    b.regions = US_CA;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    lx_auction_lead_t rub = lead_in("RUS");
    b.regions = RU;
    CHECK_EQ_INT(lx_auction_eligible(&rub, &b, buyers, 900), 0); /* a prefix is not a country */
    static const char *const MO[] = {"RU-MO"}, *const R[] = {"R"};
    b.regions = MO;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0); /* a prefix is not a subdivision */
    b.regions = R;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    lx_auction_lead_t mo = lead_in("RU-MO");
    b.regions = MOW;
    CHECK_EQ_INT(lx_auction_eligible(&mo, &b, buyers, 900), 0); /* nor the other way round */

    b = bid(0, 1, 900, 0);
    b.active = 0;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    b = bid(0, 1, 900, 0);
    b.daily_cap = 3, b.daily_count = 3;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    b.daily_count = 2;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);
    b = bid(0, 1, 900, 0);
    b.budget = 1000, b.spent = 101;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    b.spent = 100;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);
    b = bid(0, 1, 900, 0);
    buyers[0].available = 899;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    buyers[0].available = 900;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);

    static const char *const ex_wm[] = {"wm-1"}, *const ex_sub[] = {"s1"}, *const ex_other[] = {"wm-2", "s2"};
    b.excluded_sources = ex_wm, b.nexcluded_sources = 1;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    b.excluded_sources = ex_sub;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    b.excluded_sources = ex_other, b.nexcluded_sources = 2;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);

    lx_auction_recent_t recent[] = {{3, 0}, {0, 5 * 86400}};
    l.recent = recent, l.nrecent = 2;
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1); /* the campaign does not ask */
    b.exclude_bought_days = 6;                                 /* bought 5 days ago: within 6 days */
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 0);
    b.exclude_bought_days = 5; /* exactly 5 days ago is no longer within 5 days */
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);
    b.exclude_bought_days = 30;
    l.nrecent = 1; /* only another buyer bought this person */
    CHECK_EQ_INT(lx_auction_eligible(&l, &b, buyers, 900), 1);
}

static void test_schedule(void)
{
    json_t *h = json_loads("{\"mon\": [[\"09:00\", \"13:00\"], [\"14:00\", \"18:00\"]], \"sun\": [[\"00:00\", \"24:00\"]],"
                           " \"tue\": [[\"18:00\", \"09:00\"]], \"wed\": [[\"9:00\", \"10:00\"]]}",
                           0, NULL);
    static const struct {
        int dow, minute, open;
    } rows[] = {
        {0, 9 * 60 - 1, 0},
        {0, 9 * 60, 1},
        {0, 13 * 60 - 1, 1},
        {0, 13 * 60, 0},
        {0, 14 * 60, 1},
        {0, 18 * 60, 0},
        {6, 0, 1},
        {6, 1439, 1},
        {1, 20 * 60, 0} /* an inverted span never opens */,
        {2, 9 * 60 + 30, 0} /* "9:00" is malformed */,
        {3, 600, 0} /* no hours on Thursday */,
        {7, 600, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        CHECK_CTX("dow %d minute %d", rows[i].dow, rows[i].minute);
        CHECK_EQ_INT(lx_auction_schedule_open(h, rows[i].dow, rows[i].minute), rows[i].open);
    }
    CHECK_EQ_INT(lx_auction_schedule_open(NULL, 3, 100), 1);
    CHECK_CTX("%s", "");
    json_decref(h);
}

static void test_filters(void)
{
    lx_auction_lead_t l = lead_in("RU");
    l.attributes = json_loads("{\"age\": 35, \"income\": 80000.5, \"purpose\": \"car\", \"employed\": true}", 0, NULL);
    static const struct {
        const char *filters;
        int match;
    } rows[] = {
        {"{}", 1},
        {"{\"attributes\": {\"age\": {\"gte\": 25, \"lte\": 45}}}", 1},
        {"{\"attributes\": {\"age\": {\"gte\": 36}}}", 0},
        {"{\"attributes\": {\"age\": {\"lte\": 34}}}", 0},
        {"{\"attributes\": {\"age\": {\"eq\": 35.0}}}", 1},
        {"{\"attributes\": {\"purpose\": {\"in\": [\"home\", \"car\"]}}}", 1},
        {"{\"attributes\": {\"purpose\": {\"in\": [\"home\"]}}}", 0},
        {"{\"attributes\": {\"employed\": {\"eq\": true}}}", 1},
        {"{\"attributes\": {\"income\": {\"gte\": 80000}}}", 1},
        {"{\"attributes\": {\"purpose\": {\"gte\": 1}}}", 0},
        {"{\"attributes\": {\"budget\": {\"gte\": 1}}}", 0}, /* the lead does not have it */
        {"{\"required\": [\"age\", \"purpose\"]}", 1},
        {"{\"required\": [\"age\", \"budget\"]}", 0},
        {"{\"min_quality\": 80}", 1},
        {"{\"min_quality\": 81}", 0},
        {"{\"temperatures\": [\"warm\", \"hot\"]}", 1},
        {"{\"temperatures\": [\"cold\"]}", 0},
        {"{\"attributes\": {\"age\": {\"between\": [1, 2]}}}", 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        CHECK_CTX("%s", rows[i].filters);
        json_t *f = json_loads(rows[i].filters, 0, NULL);
        CHECK_EQ_INT(lx_auction_filters_match(f, &l), rows[i].match);
        json_decref(f);
    }
    CHECK_CTX("%s", "");
    CHECK_EQ_INT(lx_auction_filters_match(NULL, &l), 1);
    json_decref(l.attributes);
}

static void test_fees(void)
{
    static const struct {
        int64_t price;
        int bps;
        int64_t fee;
    } rows[] = {
        {0, 1500, 0},
        {999, 1500, 149},
        {1000, 1500, 150},
        {1, 9999, 0},
        {10000, 1, 1},
        {9999, 1, 0},
        {12345, 0, 0},
        {12345, 10000, 12345},
        {INT64_MAX, 10000, INT64_MAX},
        {INT64_MAX, 1, INT64_MAX / 10000},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        CHECK_CTX("%lld at %d bps", (long long)rows[i].price, rows[i].bps);
        CHECK_EQ_INT(lx_auction_fee(rows[i].price, rows[i].bps), rows[i].fee);
    }
    CHECK_CTX("%s", "");
}

/* A batch applies each sale before the next lead: the budget, the cap and the balance run out in arrival order. */
static void test_evolving_state(void)
{
    rich_buyers();
    lx_auction_bid_t b[] = {bid(0, 1, 900, 0), bid(1, 2, 800, 0)};
    b[0].budget = 1000; /* one lead's worth */
    b[1].daily_cap = 1; /* one lead a day */
    buyers[1].available = 1700;
    lx_auction_lead_t l = lead_in("RU");
    lx_auction_result_t r;
    size_t want[] = {0, 1, SIZE_MAX};
    for (int i = 0; i < 3; i++) {
        CHECK_CTX("lead %d", i);
        lx_auction_run(&l, b, 2, buyers, &RULES, &r);
        if (want[i] == SIZE_MAX) {
            CHECK_EQ_INT(r.nsales, 0);
        } else if (CHECK_EQ_INT(r.nsales, 1)) {
            CHECK_EQ_INT(r.sales[0].bid, want[i]);
        }
        lx_auction_apply(&r, b, buyers);
    }
    CHECK_CTX("%s", "");
    CHECK_EQ_INT(b[0].spent, 900);
    CHECK_EQ_INT(b[1].daily_count, 1);
    CHECK_EQ_INT(buyers[0].available, 1000000 - 900);
    CHECK_EQ_INT(buyers[1].available, 900);
}

/* ---- the rule written another way, against random markets ---------------------------------------------------------
 * The model asks lx_auction_eligible afresh for every bid and builds the shared option from each buyer's best eligible
 * shared bid, sorted, where lx_auction_run scans the bids once per share and remembers what it learnt of each bid
 * within the lead (and stops remembering past its memo's size: markets here reach 1,500 bids). */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(uint64_t n)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17; /* xorshift64 */
    return rng_state % n;
}

/* bid i before bid j: the higher price, the earlier-set bid, the lower index */
static int model_before(const lx_auction_bid_t *b, size_t i, int64_t pi, size_t j, int64_t pj)
{
    if (pi != pj) return pi > pj;
    if (b[i].set_seq != b[j].set_seq) return b[i].set_seq < b[j].set_seq;
    return i < j;
}

static void model_run(const lx_auction_lead_t *l, const lx_auction_bid_t *b, size_t n, const lx_auction_rules_t *rules,
                      lx_auction_result_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t best_x = SIZE_MAX;
    for (size_t i = 0; l->sale_mode != LX_MODE_SHARED && i < n; i++) {
        int64_t p = b[i].price_exclusive;
        if (p >= rules->floor_exclusive && lx_auction_eligible(l, &b[i], buyers, p) &&
            (best_x == SIZE_MAX || model_before(b, i, p, best_x, b[best_x].price_exclusive)))
            best_x = i;
    }
    size_t per_buyer[8], nb = 0; /* each buyer's best eligible shared bid, then sorted */
    for (size_t buyer = 0; l->sale_mode != LX_MODE_EXCLUSIVE && buyer < 8; buyer++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            int64_t p = b[i].price_shared;
            if (b[i].buyer == buyer && p >= rules->floor_shared && lx_auction_eligible(l, &b[i], buyers, p) &&
                (best == SIZE_MAX || model_before(b, i, p, best, b[best].price_shared)))
                best = i;
        }
        if (best != SIZE_MAX) per_buyer[nb++] = best;
    }
    for (size_t i = 1; i < nb; i++)
        for (size_t j = i; j > 0 && model_before(b, per_buyer[j], b[per_buyer[j]].price_shared, per_buyer[j - 1],
                                                 b[per_buyer[j - 1]].price_shared);
             j--) {
            size_t t = per_buyer[j];
            per_buyer[j] = per_buyer[j - 1], per_buyer[j - 1] = t;
        }
    if (nb > (size_t)rules->max_shares) nb = (size_t)rules->max_shares;
    int64_t value_x = best_x == SIZE_MAX ? 0 : b[best_x].price_exclusive, value_s = 0;
    for (size_t k = 0; k < nb; k++) value_s += b[per_buyer[k]].price_shared;
    if (value_x == 0 && value_s == 0) return;
    out->mode = value_x >= value_s ? LX_MODE_EXCLUSIVE : LX_MODE_SHARED;
    out->value = out->mode == LX_MODE_EXCLUSIVE ? value_x : value_s;
    out->nsales = out->mode == LX_MODE_EXCLUSIVE ? 1 : nb;
    for (size_t k = 0; k < out->nsales; k++) out->sales[k].bid = out->mode == LX_MODE_EXCLUSIVE ? best_x : per_buyer[k];
}

static void test_against_model(void)
{
    static const char *const region_sets[][2] = {{"RU", NULL}, {"RU-MOW", NULL}, {"RU-SPE", "RU-MOW"}, {"US-CA", "RU-SPE"}};
    static const size_t region_counts[] = {1, 1, 2, 2};
    static const char *const lead_regions[] = {"RU-MOW", "RU-SPE", "RU", "US-CA"};
    static const char *const sources[] = {"wm-1", "s1"};
    json_t *hours = json_pack("{s:[[s,s]]}", "mon", "09:00", "18:00");
    json_t *filters = json_pack("{s:i}", "min_quality", 50);
    static lx_auction_bid_t b[1500];
    lx_auction_recent_t recent[2] = {{1, 3600}, {2, 40 * 86400}};
    size_t sizes[] = {1, 2, 5, 20, 60, 1500};
    for (size_t round = 0; round < 3000; round++) {
        size_t n = sizes[round % (sizeof(sizes) / sizeof(sizes[0]))];
        if (n == 1500 && round % 60 != 5) n = 300; /* a few rounds past the memo's 1,024 bids */
        for (size_t i = 0; i < 8; i++) buyers[i].available = (int64_t)rng(12) * 100;
        for (size_t i = 0; i < n; i++) {
            b[i] =
                bid(rng(8), rng(5), rng(3) == 0 ? 0 : 300 + (int64_t)rng(8) * 100, rng(3) == 0 ? 0 : 100 + (int64_t)rng(11) * 50);
            size_t rs = rng(4);
            b[i].regions = region_sets[rs];
            b[i].nregions = region_counts[rs];
            b[i].active = rng(10) != 0;
            if (rng(8) == 0) b[i].daily_cap = 5, b[i].daily_count = (int64_t)rng(7);
            if (rng(8) == 0) b[i].budget = 1000, b[i].spent = (int64_t)rng(1200);
            if (rng(10) == 0) b[i].excluded_sources = sources + rng(2), b[i].nexcluded_sources = 1;
            if (rng(6) == 0) b[i].exclude_bought_days = 1 + (int)rng(60);
            if (rng(6) == 0) b[i].hours = hours, b[i].local_dow = (int)rng(2), b[i].local_minute = (int)rng(1440);
            if (rng(6) == 0) b[i].filters = filters;
        }
        lx_auction_lead_t l = lead_in(lead_regions[rng(4)]);
        l.sale_mode = (lx_auction_mode_t)rng(3);
        l.quality = (int)rng(100);
        l.recent = recent, l.nrecent = rng(3);
        lx_auction_rules_t rules = RULES;
        rules.max_shares = 1 + (int)rng(4);
        lx_auction_result_t got, want;
        lx_auction_run(&l, b, n, buyers, &rules, &got);
        model_run(&l, b, n, &rules, &want);
        CHECK_CTX("random market %zu (%zu bids)", round, n);
        CHECK_EQ_INT(got.mode, want.mode);
        CHECK_EQ_INT(got.value, want.value);
        if (CHECK_EQ_INT(got.nsales, want.nsales))
            for (size_t k = 0; k < got.nsales; k++) CHECK_EQ_INT(got.sales[k].bid, want.sales[k].bid);
    }
    CHECK_CTX("%s", "");
    json_decref(hours);
    json_decref(filters);
}

int main(void)
{
    test_options();
    test_eligibility();
    test_schedule();
    test_filters();
    test_fees();
    test_evolving_state();
    test_against_model();
    return check_summary();
}
