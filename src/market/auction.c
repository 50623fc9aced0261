#include "market/auction.h"
#include "util/json.h"

#include <string.h>

int64_t lx_auction_fee(int64_t price, int fee_bps)
{
    if (price <= 0 || fee_bps <= 0) return 0;
    /* (q * 10000 + r) * bps / 10000 = q * bps + r * bps / 10000, exactly and without overflow */
    return price / 10000 * fee_bps + price % 10000 * fee_bps / 10000;
}

/* One pass, no strlen: every lead is checked against each bid's regions, and most differ at the first letters. */
static int region_covers(const char *bid_region, const char *lead_region)
{
    size_t n = 0;
    while (bid_region[n] != '\0' && bid_region[n] == lead_region[n]) n++;
    if (bid_region[n] != '\0') return 0;
    /* "RU" covers "RU" and "RU-MOW"; "US-CA" covers only itself */
    return lead_region[n] == '\0' || (n == 2 && lead_region[n] == '-');
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(s, list[i]) == 0) return 1;
    return 0;
}

static int condition_holds(json_t *cond, json_t *value)
{
    if (value == NULL || !json_is_object(cond)) return 0;
    const char *op;
    json_t *arg;
    json_object_foreach(cond, op, arg)
    {
        if (strcmp(op, "eq") == 0) {
            if (!lx_json_same(value, arg)) return 0;
        } else if (strcmp(op, "in") == 0) {
            int found = 0;
            size_t i;
            json_t *v;
            json_array_foreach(arg, i, v) found |= lx_json_same(value, v);
            if (!found) return 0;
        } else if (strcmp(op, "gte") == 0 || strcmp(op, "lte") == 0) {
            if (!lx_json_is_finite_number(value) || !lx_json_is_finite_number(arg)) return 0;
            int c = lx_json_number_cmp(value, arg); /* exact: no rounding of large integers */
            if (op[0] == 'g' ? c < 0 : c > 0) return 0;
        } else {
            return 0; /* an operator this version does not know never matches */
        }
    }
    return 1;
}

int lx_auction_filters_match(json_t *filters, const lx_auction_lead_t *lead)
{
    if (filters == NULL) return 1;
    json_t *attrs = json_object_get(filters, "attributes");
    const char *name;
    json_t *cond;
    json_object_foreach(attrs, name, cond)
    {
        if (!condition_holds(cond, lead->attributes ? json_object_get(lead->attributes, name) : NULL)) return 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(filters, "required"), i, v)
    {
        if (!json_is_string(v) || lead->attributes == NULL || json_object_get(lead->attributes, json_string_value(v)) == NULL)
            return 0;
    }
    json_t *mq = json_object_get(filters, "min_quality");
    if (json_is_integer(mq) && lead->quality < json_integer_value(mq)) return 0;
    json_t *temps = json_object_get(filters, "temperatures");
    if (json_is_array(temps)) {
        int found = 0;
        json_array_foreach(temps, i, v) found |=
            json_is_string(v) && lead->temperature != NULL && strcmp(json_string_value(v), lead->temperature) == 0;
        if (!found) return 0;
    }
    return 1;
}

static int hhmm(const char *s)
{
    if (s == NULL || strlen(s) != 5 || s[2] != ':') return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9')) return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
    return h * 60 + m;
}

int lx_auction_schedule_open(json_t *hours, int dow, int minute)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    if (hours == NULL) return 1;
    if (dow < 0 || dow > 6) return 0;
    size_t i;
    json_t *span;
    json_array_foreach(json_object_get(hours, days[dow]), i, span)
    {
        int from = hhmm(json_string_value(json_array_get(span, 0)));
        int to = hhmm(json_string_value(json_array_get(span, 1)));
        if (from >= 0 && to > from && minute >= from && minute < to) return 1;
    }
    return 0;
}

/* The rules that do not depend on the price asked: the bid's campaign is active and its region, sources, earlier
 * purchases, daily cap, schedule and filters allow the lead. */
static int eligible_at_any_price(const lx_auction_lead_t *lead, const lx_auction_bid_t *b)
{
    if (!b->active) return 0;
    int region_ok = 0;
    for (size_t i = 0; i < b->nregions && !region_ok; i++) region_ok = region_covers(b->regions[i], lead->region);
    if (!region_ok) return 0;
    if (in_list(lead->webmaster_id, b->excluded_sources, b->nexcluded_sources) ||
        in_list(lead->sub_id, b->excluded_sources, b->nexcluded_sources))
        return 0;
    if (b->exclude_bought_days > 0)
        for (size_t i = 0; i < lead->nrecent; i++)
            if (lead->recent[i].buyer == b->buyer && lead->recent[i].age_s < (int64_t)b->exclude_bought_days * 86400) return 0;
    if (b->daily_cap > 0 && b->daily_count >= b->daily_cap) return 0;
    if (!lx_auction_schedule_open(b->hours, b->local_dow, b->local_minute)) return 0;
    return lx_auction_filters_match(b->filters, lead);
}

/* The rules that do: the campaign's budget and its buyer's balance cover the price. */
static int affordable(const lx_auction_bid_t *b, const lx_auction_buyer_t *buyers, int64_t price)
{
    if (price <= 0) return 0;
    if (b->budget > 0 && (b->spent > b->budget || price > b->budget - b->spent)) return 0;
    return buyers[b->buyer].available >= price;
}

int lx_auction_eligible(const lx_auction_lead_t *lead, const lx_auction_bid_t *b, const lx_auction_buyer_t *buyers, int64_t price)
{
    return affordable(b, buyers, price) && eligible_at_any_price(lead, b);
}

/* What one lx_auction_run knows of each bid's eligible_at_any_price: the exclusive option and every share of the shared
 * one may ask about the same bid, and the answer cannot change within a lead. Bids past the first LX_AUCTION_MEMO are
 * asked again each time (no allocation here; a niche's campaigns in one region are far fewer). */
#define LX_AUCTION_MEMO 1024
typedef struct {
    uint8_t known[LX_AUCTION_MEMO]; /* 0: not asked yet, 1: eligible, 2: not */
} memo_t;

static int eligible(memo_t *m, const lx_auction_lead_t *lead, const lx_auction_bid_t *bids, size_t i,
                    const lx_auction_buyer_t *buyers, int64_t price)
{
    if (!affordable(&bids[i], buyers, price)) return 0;
    if (i >= LX_AUCTION_MEMO) return eligible_at_any_price(lead, &bids[i]);
    if (m->known[i] == 0) m->known[i] = eligible_at_any_price(lead, &bids[i]) ? 1 : 2;
    return m->known[i] == 1;
}

/* 1 when bid i beats bid j at these prices: the higher price, then the earlier-set bid, then the lower index. */
static int beats(const lx_auction_bid_t *bids, size_t i, int64_t pi, size_t j, int64_t pj)
{
    if (pi != pj) return pi > pj;
    if (bids[i].set_seq != bids[j].set_seq) return bids[i].set_seq < bids[j].set_seq;
    return i < j;
}

void lx_auction_run(const lx_auction_lead_t *lead, const lx_auction_bid_t *bids, size_t nbids, const lx_auction_buyer_t *buyers,
                    const lx_auction_rules_t *rules, lx_auction_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->mode = LX_MODE_ANY;
    memo_t memo;
    memset(memo.known, 0, nbids < LX_AUCTION_MEMO ? nbids : LX_AUCTION_MEMO);
    int64_t floor_x = rules->floor_exclusive > 0 ? rules->floor_exclusive : 1;
    int64_t floor_s = rules->floor_shared > 0 ? rules->floor_shared : 1;

    /* the exclusive option: the best eligible exclusive bid */
    size_t best_x = SIZE_MAX;
    if (lead->sale_mode != LX_MODE_SHARED)
        for (size_t i = 0; i < nbids; i++) {
            int64_t p = bids[i].price_exclusive;
            if (p >= floor_x && eligible(&memo, lead, bids, i, buyers, p) &&
                (best_x == SIZE_MAX || beats(bids, i, p, best_x, bids[best_x].price_exclusive)))
                best_x = i;
        }
    int64_t value_x = best_x == SIZE_MAX ? 0 : bids[best_x].price_exclusive;

    /* the shared option: the best shared bids of up to max_shares distinct buyers (a buyer's best bid counts) */
    size_t chosen[LX_AUCTION_MAX_SHARES];
    size_t nchosen = 0;
    int64_t value_s = 0;
    int max_shares = rules->max_shares < 1                       ? 1
                     : rules->max_shares > LX_AUCTION_MAX_SHARES ? LX_AUCTION_MAX_SHARES
                                                                 : rules->max_shares;
    if (lead->sale_mode != LX_MODE_EXCLUSIVE)
        while (nchosen < (size_t)max_shares) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < nbids; i++) {
                int64_t p = bids[i].price_shared;
                if (p < floor_s || (best != SIZE_MAX && !beats(bids, i, p, best, bids[best].price_shared))) continue;
                int taken = 0;
                for (size_t k = 0; k < nchosen && !taken; k++) taken = bids[chosen[k]].buyer == bids[i].buyer;
                if (!taken && eligible(&memo, lead, bids, i, buyers, p)) best = i;
            }
            if (best == SIZE_MAX) break;
            chosen[nchosen++] = best;
            value_s += bids[best].price_shared;
        }

    if (value_x == 0 && value_s == 0) return;
    if (value_x >= value_s) { /* ties go to exclusive */
        out->mode = LX_MODE_EXCLUSIVE;
        out->value = value_x;
        out->nsales = 1;
        out->sales[0].bid = best_x;
        out->sales[0].price = value_x;
    } else {
        out->mode = LX_MODE_SHARED;
        out->value = value_s;
        out->nsales = nchosen;
        for (size_t k = 0; k < nchosen; k++) {
            out->sales[k].bid = chosen[k];
            out->sales[k].price = bids[chosen[k]].price_shared;
        }
    }
    for (size_t k = 0; k < out->nsales; k++) {
        out->sales[k].fee = lx_auction_fee(out->sales[k].price, rules->fee_bps);
        out->sales[k].payout = out->sales[k].price - out->sales[k].fee;
    }
}

void lx_auction_apply(const lx_auction_result_t *r, lx_auction_bid_t *bids, lx_auction_buyer_t *buyers)
{
    for (size_t k = 0; k < r->nsales; k++) {
        lx_auction_bid_t *b = &bids[r->sales[k].bid];
        b->spent += r->sales[k].price;
        b->daily_count++;
        buyers[b->buyer].available -= r->sales[k].price;
    }
}
