/*
 * A campaign body, validated and normalised (pure: no I/O, no clock).
 *
 * A campaign is an advertiser's standing bid in one niche: the regions it
 * buys in, an exclusive and/or a shared price, filters on the lead's
 * attributes, quality and temperature, opening hours in its own time zone,
 * a daily cap and a budget, and the sources it does not want. The auction
 * (market/auction.h) reads campaigns on every lead and trusts them: an
 * operator it does not know never matches, a malformed span is never open.
 * So everything is checked here, against the niche's attribute schema and
 * floors and the region catalogue, and every problem is reported with its
 * JSON Pointer (all of them in one answer). What comes out is canonical and
 * ready to bind: text parameters in the order of lx_campaign_param_t.
 *
 * Rules beyond types and lengths, and why:
 *   - prices are integers in minor units of the niche's currency, at least
 *     the niche's floor and below 2^53 (every JSON reader keeps them exact);
 *     the niche's currency must be the advertiser's (balances are in it);
 *   - regions exist in the catalogue, once each; a subdivision of a country
 *     that is listed too is refused as redundant ("RU" covers "RU-MOW");
 *   - filters name attributes of the niche, with values of the attribute's
 *     type inside the schema's range; gte/lte only on integer and number
 *     attributes; a filter nothing could pass (gte above lte, eq outside
 *     in/gte/lte, in with no value inside gte..lte) is refused: a campaign
 *     that silently never buys is worse than an error;
 *   - schedule spans are "HH:MM" pairs, from < to, "24:00" only as an end,
 *     not overlapping within a day, at most LX_CAMPAIGN_SPANS_MAX a day; the
 *     time zone's syntax is checked here and its existence by PostgreSQL
 *     (the statements evaluate now() AT TIME ZONE tz: SQLSTATE 22023);
 *   - exclude_sources are webmaster ids (UUIDs, kept in lower case) or
 *     sub_ids (1 to 64 printable ASCII characters without spaces), once each.
 *
 * Normalised forms: the name trimmed; regions and exclude_sources as
 * PostgreSQL text-array literals with every element quoted; filters as
 * compact JSON holding only the members that filter (NULL = no filters);
 * hours as compact JSON with the days in order mon..sun and each day's
 * spans sorted (NULL = always open); numbers in decimal.
 */
#ifndef LX_MARKET_CAMPAIGN_H
#define LX_MARKET_CAMPAIGN_H

#include <jansson.h>
#include <stdint.h>

#include "leads/niche.h"
#include "leads/regions.h"
#include "util/error.h"

#define LX_CAMPAIGN_NAME_MAX         200 /* characters, after trimming */
#define LX_CAMPAIGN_REGIONS_MAX      500
#define LX_CAMPAIGN_EXCLUDE_MAX      1000 /* exclude_sources */
#define LX_CAMPAIGN_SUB_ID_MAX       64
#define LX_CAMPAIGN_IN_MAX           100 /* values of one `in` filter */
#define LX_CAMPAIGN_SPANS_MAX        10  /* schedule spans per day */
#define LX_CAMPAIGN_TZ_MAX           64
#define LX_CAMPAIGN_EXCLUDE_DAYS_MAX 3650
#define LX_CAMPAIGN_MONEY_LIMIT      (INT64_C(1) << 53) /* prices and budgets stay below it */
#define LX_CAMPAIGN_DAILY_CAP_MAX    INT32_MAX          /* the column is an integer */

/* The columns a body sets, in the order of the create and update statements' parameters. */
typedef enum {
    LX_CAMPAIGN_NAME = 0,
    LX_CAMPAIGN_REGIONS,         /* text[] literal */
    LX_CAMPAIGN_PRICE_EXCLUSIVE, /* bigint */
    LX_CAMPAIGN_PRICE_SHARED,    /* bigint */
    LX_CAMPAIGN_FILTERS,         /* jsonb */
    LX_CAMPAIGN_TZ,              /* text, an IANA zone name ("UTC" without a schedule) */
    LX_CAMPAIGN_HOURS,           /* jsonb */
    LX_CAMPAIGN_DAILY_CAP,       /* integer */
    LX_CAMPAIGN_BUDGET,          /* bigint */
    LX_CAMPAIGN_EXCLUDE_SOURCES, /* text[] literal */
    LX_CAMPAIGN_EXCLUDE_DAYS,    /* integer: exclude_bought_contacts_days */
    LX_CAMPAIGN_STATUS,          /* text */
    LX_CAMPAIGN__PARAMS
} lx_campaign_param_t;

typedef enum { LX_CAMPAIGN_ACTIVE = 0, LX_CAMPAIGN_PAUSED, LX_CAMPAIGN_ARCHIVED } lx_campaign_status_t;

typedef struct st_lx_campaign_t {
    /* Bit (1u << p) for each parameter p the body sets. A create sets them all (absent members take their defaults:
     * no name, no price, no filters, tz "UTC" and no hours, no cap, no budget, no exclusions, 0 days, active); a
     * patch sets those of the members it carries (`schedule` sets both TZ and HOURS). */
    unsigned set;
    /* Text parameters (malloc'd, owned; lx_campaign_dispose frees them); NULL = SQL NULL. Meaningful where set. */
    char *params[LX_CAMPAIGN__PARAMS];
    /* The same values typed, for the caller's checks against a stored row. 0 = none (prices, cap, budget). */
    int64_t price_exclusive, price_shared, daily_cap, budget;
    lx_campaign_status_t status;
} lx_campaign_t;

/* "active", "paused", "archived". */
const char *lx_campaign_status_name(lx_campaign_status_t s);

/* The niche slug a create body names, or NULL when absent, not a string or not a valid slug (the parse reports it). */
const char *lx_campaign_niche_slug(json_t *body);

/* 1 when `s` (`len` bytes) can be an IANA time-zone name: 1..LX_CAMPAIGN_TZ_MAX of [A-Za-z0-9_+-/], no leading '/',
 * no ".."; not a POSIX TZ rule (a single word with digits, such as "UTC+25", but for EST5EDT and its kind), nor
 * "Factory", "localtime" or "posixrules". Whether PostgreSQL knows the zone is another matter (see above). */
int lx_campaign_tz_syntax_valid(const char *s, size_t len);

/*
 * A create body. `niche` is the niche its `niche` member names (NULL: it names none, reported at /niche), `regions`
 * the catalogue, `currency` the advertiser's account currency (a niche in another one is refused at /niche).
 * Borrows everything. LX_OK and a filled `out` (call lx_campaign_dispose); LX_ERR_VALIDATION with every field problem
 * in `err`; LX_ERR_INTERNAL when a filter names an attribute whose stored spec is damaged (the server's fault, never
 * a 422). `out` needs no dispose on failure. Problems already in `err` are kept; only new ones decide the result.
 */
lx_status_t lx_campaign_parse(json_t *body, const lx_niche_t *niche, const lx_regions_t *regions, const char *currency,
                              lx_campaign_t *out, lx_error_t *err) __attribute__((warn_unused_result));

/*
 * A PATCH body of a campaign in `niche` (its stored niche, never NULL): any members but `niche` (422 at /niche: a
 * campaign's niche never changes), at least one. `null` clears name, a price, filters, schedule (always open, day in
 * UTC), daily_cap, budget and exclude_sources. `status` may be active, paused or archived. What depends on the stored
 * row (a price must remain, budget >= spent, daily_cap >= today's count, an archived campaign is final) is the
 * caller's to check, with out->set and the typed values.
 * Same contract as lx_campaign_parse.
 */
lx_status_t lx_campaign_parse_patch(json_t *body, const lx_niche_t *niche, const lx_regions_t *regions, lx_campaign_t *out,
                                    lx_error_t *err) __attribute__((warn_unused_result));

/* Frees the parameters; `c` may be disposed twice or after a failed parse. */
void lx_campaign_dispose(lx_campaign_t *c);

#endif
