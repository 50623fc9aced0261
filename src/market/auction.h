/*
 * The real-time auction (pure: no I/O, no clock, no allocation).
 *
 * One lead, the bids of the campaigns that might want it, the buyers'
 * spendable balances and the niche's rules go in; the sale (or none) comes
 * out. DESIGN.md §3: a campaign is eligible when its niche, region, filters,
 * schedule, daily cap, budget, its buyer's balance, its source exclusions and
 * its "do not sell me a person I bought lately" rule all allow the lead. The
 * exclusive option is worth the best eligible exclusive bid; the shared option
 * the sum of the best eligible shared bids of up to max_shares distinct
 * buyers. Every bid must reach its floor. The higher option wins, ties go to
 * exclusive; the lead's sale_mode may rule one option out. Each buyer pays
 * its own bid (first price); equal bids go to the bid set first; the platform
 * fee is floor(price * fee_bps / 10000) and the webmaster's payout the rest.
 *
 * The intake batch runs it for each lead in arrival order and applies every
 * sale to the evolving state (lx_auction_apply: spend, daily count, buyer
 * balance), so a batch sells exactly what the same leads sent one by one
 * would. Times are the caller's: the schedule is checked against the
 * campaign's local weekday and minute, from its local wall time that the
 * database computes in the campaign's time zone (glibc's zone handling is
 * process-wide state; util/time.h lx_wall_clock_from_local_s does the rest).
 */
#ifndef LX_MARKET_AUCTION_H
#define LX_MARKET_AUCTION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LX_AUCTION_MAX_SHARES 20

typedef enum { LX_MODE_ANY = 0, LX_MODE_EXCLUSIVE = 1, LX_MODE_SHARED = 2 } lx_auction_mode_t;

typedef struct st_lx_auction_rules_t {
    int max_shares; /* 1..LX_AUCTION_MAX_SHARES */
    int64_t floor_exclusive, floor_shared;
    int fee_bps; /* 0..10000 */
} lx_auction_rules_t;

typedef struct st_lx_auction_lead_t {
    const char *region; /* "RU-MOW" or "RU" */
    const char *webmaster_id;
    const char *sub_id;                          /* may be NULL */
    json_t *attributes;                          /* flat object, validated against the niche (may be NULL) */
    int quality;                                 /* 0..100 */
    const char *temperature;                     /* "hot", "warm", "cold" */
    lx_auction_mode_t sale_mode;                 /* what the supplier allows */
    const struct st_lx_auction_recent_t *recent; /* buyers that bought this person before (any niche), and when */
    size_t nrecent;
} lx_auction_lead_t;

typedef struct st_lx_auction_recent_t {
    size_t buyer;  /* index into the buyers array */
    int64_t age_s; /* seconds since its latest unrefunded purchase of this person (0: in this very batch) */
} lx_auction_recent_t;

typedef struct st_lx_auction_bid_t {
    size_t buyer;               /* index into the buyers array */
    uint64_t set_seq;           /* when the bid was set: the smaller wins between equal bids */
    int64_t price_exclusive;    /* 0 = no exclusive bid */
    int64_t price_shared;       /* 0 = no shared bid */
    const char *const *regions; /* a country covers its subdivisions */
    size_t nregions;
    json_t *filters;                     /* {"attributes": {NAME: {"eq"|"in"|"gte"|"lte": ...}}, "required": [...],
                                            "min_quality": N, "temperatures": [...]}, or NULL */
    json_t *hours;                       /* {"mon": [["09:00", "18:00"]], ...}, or NULL = always open */
    int local_dow;                       /* 0 = Monday .. 6 = Sunday, in the campaign's zone, now */
    int local_minute;                    /* 0..1439 */
    int64_t daily_cap, daily_count;      /* cap 0 = none */
    int64_t budget, spent;               /* budget 0 = none */
    const char *const *excluded_sources; /* webmaster ids or sub_ids */
    size_t nexcluded_sources;
    int exclude_bought_days; /* > 0: not a person its buyer bought within this many days (any niche) */
    int active;
} lx_auction_bid_t;

typedef struct st_lx_auction_buyer_t {
    int64_t available; /* balance + credit limit: what it may still spend */
} lx_auction_buyer_t;

typedef struct st_lx_auction_sale_t {
    size_t bid;
    int64_t price, fee, payout;
} lx_auction_sale_t;

typedef struct st_lx_auction_result_t {
    lx_auction_mode_t mode; /* LX_MODE_ANY when unsold */
    size_t nsales;
    int64_t value; /* the winning option's total */
    lx_auction_sale_t sales[LX_AUCTION_MAX_SHARES];
} lx_auction_result_t;

/* 1 when bid `b` may buy the lead at `price` (all eligibility rules but the floor). */
int lx_auction_eligible(const lx_auction_lead_t *lead, const lx_auction_bid_t *b, const lx_auction_buyer_t *buyers, int64_t price);
/* 1 when `filters` (see lx_auction_bid_t) accept the lead. */
int lx_auction_filters_match(json_t *filters, const lx_auction_lead_t *lead);
/* 1 when `hours` is open at (dow, minute); NULL hours are always open. */
int lx_auction_schedule_open(json_t *hours, int dow, int minute);

/* Decides the lead's sale; writes `out` completely. Reads only. */
void lx_auction_run(const lx_auction_lead_t *lead, const lx_auction_bid_t *bids, size_t nbids, const lx_auction_buyer_t *buyers,
                    const lx_auction_rules_t *rules, lx_auction_result_t *out);
/* Applies a result to the evolving state: each winning bid's spend and daily count, each buyer's balance. */
void lx_auction_apply(const lx_auction_result_t *r, lx_auction_bid_t *bids, lx_auction_buyer_t *buyers);
/* floor(price * fee_bps / 10000) without overflow for any price up to INT64_MAX. */
int64_t lx_auction_fee(int64_t price, int fee_bps);

#endif
