/*
 * Unit tests for src/market/campaign.h: create and PATCH bodies against a
 * niche (its attribute schema, floors, currency, status) and the region
 * catalogue. Every rule, good and bad: the niche (unknown, archived, another
 * currency), name trimming, regions (catalogue, duplicates, a subdivision
 * of a listed country), prices (integers, floors, 2^53, at least one),
 * filters (names and types from the schema, ranges, gte/lte only on
 * numbers, contradictions, required, min_quality, temperatures), schedules
 * (tz syntax, days, HH:MM, 24:00 only as an end, overlaps, at most 10 spans
 * a day), cap, budget, exclusions, days, status; each cap at and past its
 * edge; the exact JSON Pointer and message of every error; the normalised
 * parameters of every accepted body; a damaged stored schema answered as the
 * server's fault.
 *
 * JSON in the tables is written with single quotes, turned into double quotes
 * before parsing, so the tables stay readable.
 */
#include "market/campaign.h"
#include "util/json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAX_EXPECT 8
#define MAX_PARAMS 6

typedef struct {
    const char *field;
    const char *message;
} expect_t;

/* An expected parameter: P(LX_CAMPAIGN_...) (0 ends the list) and its text, or NULL for SQL NULL. */
#define P(p) ((p) + 1)
typedef struct {
    int param;
    const char *value;
} param_t;

static const char schema_text[] = "{'age': {'type': 'integer', 'min': 18, 'max': 100, 'required': true},"
                                  " 'income': {'type': 'integer', 'min': 0},"
                                  " 'amount': {'type': 'number', 'min': 1000, 'max': 5000000},"
                                  " 'score': {'type': 'number'},"
                                  " 'employed': {'type': 'boolean'},"
                                  " 'purpose': {'type': 'enum', 'values': ['car', 'home', 'other']},"
                                  " 'comment': {'type': 'string', 'min_length': 2, 'max_length': 20}}";

static const char *const region_codes[] = {"RU", "RU-MOW", "RU-SPE", "US", "US-CA", "US-NY", "DE", "DE-BE"};

/* Parses single-quoted JSON the way request bodies are parsed; NULL (and a failed check) if it does not parse. */
static json_t *parse(const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    for (size_t i = 0; i <= len; i++) copy[i] = text[i] == '\'' ? '"' : text[i];
    lx_error_t err;
    lx_error_init(&err);
    json_t *j = lx_json_parse(copy, len, 32, &err);
    if (!CHECK(j != NULL)) fprintf(stderr, "  does not parse: %s (%s)\n", copy, err.fields[0].message);
    free(copy);
    return j;
}

static json_t *parsef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *parsef(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    json_t *j = parse(text);
    free(text);
    return j;
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static lx_niche_t loans, paused, archived, damaged;
static lx_regions_t *regions;

static void make_niche(lx_niche_t *n, const char *slug, const char *schema, lx_niche_status_t status)
{
    memset(n, 0, sizeof(*n));
    n->refs = 1;
    snprintf(n->slug, sizeof(n->slug), "%s", slug);
    snprintf(n->id, sizeof(n->id), "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");
    memcpy(n->currency, "RUB", 4);
    n->max_shares = 3;
    n->floor_exclusive = 50000;
    n->floor_shared = 20000;
    n->status = status;
    n->attributes = parse(schema);
}

static void setup(void)
{
    make_niche(&loans, "loans", schema_text, LX_NICHE_ACTIVE);
    make_niche(&paused, "loans", schema_text, LX_NICHE_PAUSED);
    make_niche(&archived, "loans", schema_text, LX_NICHE_ARCHIVED);
    make_niche(&damaged, "loans", "{'age': {'type': 'weird'}, 'income': {'type': 'integer'}}", LX_NICHE_ACTIVE);
    /* the catalogue, and 501 subdivisions of a made-up country for the 500-region cap */
    size_t n = sizeof(region_codes) / sizeof(region_codes[0]);
    const char **codes = malloc((n + 501) * sizeof(*codes));
    char(*made)[8] = malloc(501 * sizeof(*made));
    for (size_t i = 0; i < n; i++) codes[i] = region_codes[i];
    for (size_t i = 0; i < 501; i++) {
        snprintf(made[i], sizeof(made[i]), "QQ-%zu", i);
        codes[n + i] = made[i];
    }
    regions = lx_regions_from_codes(codes, n + 501);
    free(codes);
    free(made);
}

static void teardown(void)
{
    json_decref(loans.attributes);
    json_decref(paused.attributes);
    json_decref(archived.attributes);
    json_decref(damaged.attributes);
    lx_regions_free(regions);
}

/* ---- checks -------------------------------------------------------------------------------- */

/* The call's result against the expected errors: the status, exactly these {field, message} pairs, in any order. */
static void check_errors(lx_status_t rc, const lx_error_t *err, const expect_t *expect)
{
    size_t n = 0;
    while (n < MAX_EXPECT && expect[n].field != NULL) n++;
    CHECK_EQ_INT(rc, n ? LX_ERR_VALIDATION : LX_OK);
    CHECK_EQ_INT(err->status, n ? LX_ERR_VALIDATION : LX_OK);
    if (n) CHECK(err->detail[0] != '\0');
    CHECK_EQ_INT(err->nfields, n);
    for (size_t i = 0; i < n; i++) {
        const lx_field_error_t *same_field = NULL;
        int found = 0;
        for (size_t f = 0; f < err->nfields && !found; f++) {
            if (strcmp(err->fields[f].field, expect[i].field) != 0) continue;
            same_field = &err->fields[f];
            found = strcmp(err->fields[f].message, expect[i].message) == 0;
        }
        if (found) continue;
        if (same_field != NULL)
            CHECK_EQ_STR(same_field->message, expect[i].message);
        else if (!CHECK(!"an expected error is missing"))
            fprintf(stderr, "  missing: %s: %s\n", expect[i].field, expect[i].message);
    }
    if (err->nfields != n)
        for (size_t f = 0; f < err->nfields; f++) fprintf(stderr, "  got: %s: %s\n", err->fields[f].field, err->fields[f].message);
}

static void check_params(const lx_campaign_t *c, const param_t *expect)
{
    for (size_t i = 0; i < MAX_PARAMS && expect[i].param != 0; i++) {
        int p = expect[i].param - 1;
        if (!CHECK(c->set & (1u << p))) fprintf(stderr, "  parameter %d not set\n", p);
        CHECK_EQ_STR(c->params[p], expect[i].value);
    }
}

/* After a failed parse the output holds nothing (no dispose needed, and a dispose is harmless). */
static void check_empty(lx_campaign_t *c)
{
    CHECK_EQ_INT(c->set, 0);
    for (int p = 0; p < LX_CAMPAIGN__PARAMS; p++) CHECK(c->params[p] == NULL);
    lx_campaign_dispose(c);
}

/* ---- create ---------------------------------------------------------------------------------- */

enum { N_LOANS = 0, N_NONE, N_PAUSED, N_ARCHIVED, N_USD_ACCOUNT };

typedef struct {
    const char *what;
    int niche;
    const char *body;
    expect_t errors[MAX_EXPECT];
    param_t params[MAX_PARAMS];
} create_case_t;

#define BASE     "'niche': 'loans', 'regions': ['RU'], 'price_exclusive': 50000"
#define B(extra) "{" BASE ", " extra "}"
#define F(f)     B("'filters': " f)
#define A(a)     F("{'attributes': " a "}")
#define S(s)     B("'schedule': " s)
#define H(h)     S("{'tz': 'Europe/Moscow', 'hours': " h "}")

#define TZ_RULE     "must be an IANA time-zone name such as Europe/Moscow"
#define FROM_RULE   "must be a time HH:MM from 00:00 to 23:59"
#define TO_RULE     "must be a time HH:MM from 00:01 to 24:00"
#define SOURCE_RULE "must be a webmaster id (a UUID) or a sub_id of 1 to 64 printable ASCII characters without spaces"
#define NO_PRICE    "is required when price_shared is not given (a campaign bids at least one price)"
#define PURPOSES    "must be one of: car, home, other"
#define NOT_ATTR    "is not an attribute of this niche"
#define ONE_OF_TEMP "must be one of: hot, warm, cold"

static const create_case_t create_cases[] = {
    /* valid: the defaults */
    {"the minimum",
     N_LOANS,
     "{" BASE "}",
     {{0}},
     {{P(LX_CAMPAIGN_NAME), NULL},
      {P(LX_CAMPAIGN_REGIONS), "{\"RU\"}"},
      {P(LX_CAMPAIGN_PRICE_EXCLUSIVE), "50000"},
      {P(LX_CAMPAIGN_PRICE_SHARED), NULL},
      {P(LX_CAMPAIGN_FILTERS), NULL},
      {P(LX_CAMPAIGN_HOURS), NULL}}},
    {"the minimum, other defaults",
     N_LOANS,
     "{" BASE "}",
     {{0}},
     {{P(LX_CAMPAIGN_TZ), "UTC"},
      {P(LX_CAMPAIGN_DAILY_CAP), NULL},
      {P(LX_CAMPAIGN_BUDGET), NULL},
      {P(LX_CAMPAIGN_EXCLUDE_SOURCES), "{}"},
      {P(LX_CAMPAIGN_EXCLUDE_DAYS), "0"},
      {P(LX_CAMPAIGN_STATUS), "active"}}},
    {"only a shared price, at its floor",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['US-CA'], 'price_shared': 20000}",
     {{0}},
     {{P(LX_CAMPAIGN_PRICE_EXCLUSIVE), NULL}, {P(LX_CAMPAIGN_PRICE_SHARED), "20000"}}},
    {"an exclusive price null, a shared one given",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['US-CA'], 'price_exclusive': null, 'price_shared': 20001}",
     {{0}},
     {{P(LX_CAMPAIGN_PRICE_EXCLUSIVE), NULL}, {P(LX_CAMPAIGN_PRICE_SHARED), "20001"}}},
    {"the largest price",
     N_LOANS,
     B("'price_shared': 9007199254740991"),
     {{0}},
     {{P(LX_CAMPAIGN_PRICE_SHARED), "9007199254740991"}}},
    {"the name trimmed", N_LOANS, B("'name': ' \\t Moscow loans \\n'"), {{0}}, {{P(LX_CAMPAIGN_NAME), "Moscow loans"}}},
    {"the name trimmed of no-break spaces",
     N_LOANS,
     B("'name': '\xc2\xa0\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0\xc2\xa0'"),
     {{0}},
     {{P(LX_CAMPAIGN_NAME), "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"}}},
    {"the name null", N_LOANS, B("'name': null"), {{0}}, {{P(LX_CAMPAIGN_NAME), NULL}}},
    {"regions in several countries",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['RU', 'US-CA', 'DE-BE', 'US-NY'], 'price_exclusive': 50000}",
     {{0}},
     {{P(LX_CAMPAIGN_REGIONS), "{\"RU\",\"US-CA\",\"DE-BE\",\"US-NY\"}"}}},
    {"a subdivision of a country not listed",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['US', 'RU-MOW'], 'price_exclusive': 50000}",
     {{0}},
     {{P(LX_CAMPAIGN_REGIONS), "{\"US\",\"RU-MOW\"}"}}},
    {"every filter",
     N_LOANS,
     F("{'temperatures': ['hot', 'warm'], 'min_quality': 50, 'required': ['income'],"
       " 'attributes': {'age': {'gte': 25, 'lte': 45}}}"),
     {{0}},
     {{P(LX_CAMPAIGN_FILTERS), "{\"attributes\":{\"age\":{\"gte\":25,\"lte\":45}},\"required\":[\"income\"],\"min_quality\":50,"
                               "\"temperatures\":[\"hot\",\"warm\"]}"}}},
    {"filters that filter nothing", N_LOANS, F("{'attributes': {}, 'required': []}"), {{0}}, {{P(LX_CAMPAIGN_FILTERS), NULL}}},
    {"filters with null members",
     N_LOANS,
     F("{'attributes': null, 'required': null, 'min_quality': null, 'temperatures': null}"),
     {{0}},
     {{P(LX_CAMPAIGN_FILTERS), NULL}}},
    {"filters null", N_LOANS, F("null"), {{0}}, {{P(LX_CAMPAIGN_FILTERS), NULL}}},
    {"min_quality 0 still filters", N_LOANS, F("{'min_quality': 0}"), {{0}}, {{P(LX_CAMPAIGN_FILTERS), "{\"min_quality\":0}"}}},
    {"enum eq and in, boolean, string, reals",
     N_LOANS,
     A("{'purpose': {'in': ['car', 'home'], 'eq': 'car'}, 'employed': {'eq': true}, 'comment': {'in': ['ab', 'cd']},"
       " 'amount': {'gte': 1000.5, 'lte': 5000000}, 'score': {'gte': -0.25}}"),
     {{0}},
     {{P(LX_CAMPAIGN_FILTERS), "{\"attributes\":{\"purpose\":{\"in\":[\"car\",\"home\"],\"eq\":\"car\"},\"employed\":{\"eq\":true},"
                               "\"comment\":{\"in\":[\"ab\",\"cd\"]},\"amount\":{\"gte\":1000.5,\"lte\":5000000},\"score\":{"
                               "\"gte\":-0.25}}}"}}},
    {"integer conditions at the schema's edges and consistent with each other",
     N_LOANS,
     A("{'age': {'eq': 18, 'in': [18, 100], 'gte': 18, 'lte': 18}, 'income': {'gte': 0}}"),
     {{0}},
     {{0}}},
    {"gte equal to lte", N_LOANS, A("{'age': {'gte': 30, 'lte': 30}}"), {{0}}, {{0}}},
    {"in with one value inside gte..lte", N_LOANS, A("{'age': {'in': [20, 30, 90], 'gte': 25, 'lte': 35}}"), {{0}}, {{0}}},
    {"number eq as an integer against real bounds",
     N_LOANS,
     A("{'amount': {'eq': 1000, 'gte': 1000.0, 'lte': 1000.5}}"),
     {{0}},
     {{0}}},
    {"a number attribute without bounds at 2^53", N_LOANS, A("{'score': {'lte': 9007199254740992}}"), {{0}}, {{0}}},
    {"a schedule, normalised",
     N_LOANS,
     H("{'fri': [['12:00', '24:00'], ['00:00', '03:00']], 'mon': [['09:00', '18:00']], 'sun': []}"),
     {{0}},
     {{P(LX_CAMPAIGN_TZ), "Europe/Moscow"},
      {P(LX_CAMPAIGN_HOURS), "{\"mon\":[[\"09:00\",\"18:00\"]],\"fri\":[[\"00:00\",\"03:00\"],[\"12:00\",\"24:00\"]]}"}}},
    {"touching spans", N_LOANS, H("{'tue': [['12:00', '18:00'], ['09:00', '12:00']]}"), {{0}}, {{0}}},
    {"a whole day",
     N_LOANS,
     H("{'sat': [['00:00', '24:00']]}"),
     {{0}},
     {{P(LX_CAMPAIGN_HOURS), "{\"sat\":[[\"00:00\",\"24:00\"]]}"}}},
    {"a time zone without hours",
     N_LOANS,
     S("{'tz': 'America/Argentina/Buenos_Aires'}"),
     {{0}},
     {{P(LX_CAMPAIGN_TZ), "America/Argentina/Buenos_Aires"}, {P(LX_CAMPAIGN_HOURS), NULL}}},
    {"a time zone with hours null", N_LOANS, S("{'tz': 'Etc/GMT+3', 'hours': null}"), {{0}}, {{P(LX_CAMPAIGN_TZ), "Etc/GMT+3"}}},
    {"the schedule null", N_LOANS, S("null"), {{0}}, {{P(LX_CAMPAIGN_TZ), "UTC"}, {P(LX_CAMPAIGN_HOURS), NULL}}},
    {"cap, budget, days, status",
     N_LOANS,
     B("'daily_cap': 2147483647, 'budget': 9007199254740991, 'exclude_bought_contacts_days': 3650, 'status': 'paused'"),
     {{0}},
     {{P(LX_CAMPAIGN_DAILY_CAP), "2147483647"},
      {P(LX_CAMPAIGN_BUDGET), "9007199254740991"},
      {P(LX_CAMPAIGN_EXCLUDE_DAYS), "3650"},
      {P(LX_CAMPAIGN_STATUS), "paused"}}},
    {"cap and budget null",
     N_LOANS,
     B("'daily_cap': null, 'budget': null"),
     {{0}},
     {{P(LX_CAMPAIGN_DAILY_CAP), NULL}, {P(LX_CAMPAIGN_BUDGET), NULL}}},
    {"the smallest cap and budget",
     N_LOANS,
     B("'daily_cap': 1, 'budget': 1"),
     {{0}},
     {{P(LX_CAMPAIGN_DAILY_CAP), "1"}, {P(LX_CAMPAIGN_BUDGET), "1"}}},
    {"exclusions: a UUID lower-cased, sub_ids quoted",
     N_LOANS,
     B("'exclude_sources': ['0190A1B2-C3D4-7E5F-8A6B-7C8D9E0F1A2B', 'a\\\"b', 'x\\\\y', 'sub-1']"),
     {{0}},
     {{P(LX_CAMPAIGN_EXCLUDE_SOURCES), "{\"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b\",\"a\\\"b\",\"x\\\\y\",\"sub-1\"}"}}},
    {"exclusions empty or null", N_LOANS, B("'exclude_sources': null"), {{0}}, {{P(LX_CAMPAIGN_EXCLUDE_SOURCES), "{}"}}},
    {"a paused niche takes campaigns", N_PAUSED, B("'status': 'active'"), {{0}}, {{P(LX_CAMPAIGN_STATUS), "active"}}},

    /* the body and its members */
    {"the body an array", N_LOANS, "[]", {{"", "must be an object"}}, {{0}}},
    {"the body null", N_LOANS, "null", {{"", "must be an object"}}, {{0}}},
    {"an unknown member", N_LOANS, B("'bid': 1"), {{"/bid", "unknown field"}}, {{0}}},
    {"id and spent are not the client's",
     N_LOANS,
     B("'id': 'x', 'spent': 0"),
     {{"/id", "unknown field"}, {"/spent", "unknown field"}},
     {{0}}},

    /* the niche */
    {"the niche missing", N_NONE, "{'regions': ['RU'], 'price_exclusive': 50000}", {{"/niche", "is required"}}, {{0}}},
    {"the niche unknown", N_NONE, "{" BASE "}", {{"/niche", "is not a niche of this exchange"}}, {{0}}},
    {"the niche not a string",
     N_NONE,
     "{'niche': 5, 'regions': ['RU'], 'price_exclusive': 50000}",
     {{"/niche", "must be a niche slug (a string)"}},
     {{0}}},
    {"the niche archived", N_ARCHIVED, "{" BASE "}", {{"/niche", "is archived and takes no new campaigns"}}, {{0}}},
    {"the niche in another currency",
     N_USD_ACCOUNT,
     "{" BASE "}",
     {{"/niche", "is priced in RUB, and this account's balance is in USD"}},
     {{0}}},
    {"an unknown niche: the rest is still checked, floors and attributes aside",
     N_NONE,
     "{'niche': 'loans', 'regions': ['XX'], 'price_exclusive': 1, 'filters': {'attributes': {'nope': {'eq': 1}}, 'min_quality': "
     "101}}",
     {{"/niche", "is not a niche of this exchange"},
      {"/regions/0", "is not an ISO 3166 region code in the catalogue"},
      {"/filters/min_quality", "must be between 0 and 100"}},
     {{0}}},

    /* name */
    {"the name blank", N_LOANS, B("'name': ' \\u00a0 '"), {{"/name", "must not be empty"}}, {{0}}},
    {"the name with a control character",
     N_LOANS,
     B("'name': 'a\\u0007b'"),
     {{"/name", "must not contain control characters"}},
     {{0}}},
    {"the name a number", N_LOANS, B("'name': 5"), {{"/name", "must be a string"}}, {{0}}},

    /* regions */
    {"regions missing", N_LOANS, "{'niche': 'loans', 'price_exclusive': 50000}", {{"/regions", "is required"}}, {{0}}},
    {"regions empty",
     N_LOANS,
     "{'niche': 'loans', 'regions': [], 'price_exclusive': 50000}",
     {{"/regions", "must be an array of 1 to 500 region codes"}},
     {{0}}},
    {"regions a string",
     N_LOANS,
     "{'niche': 'loans', 'regions': 'RU', 'price_exclusive': 50000}",
     {{"/regions", "must be an array of 1 to 500 region codes"}},
     {{0}}},
    {"regions null",
     N_LOANS,
     "{'niche': 'loans', 'regions': null, 'price_exclusive': 50000}",
     {{"/regions", "must be an array of 1 to 500 region codes"}},
     {{0}}},
    {"regions: unknown, lower case, not a string, repeated, covered",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['US-CA', 'XX', 'ru', 7, 'US-CA', 'RU-MOW', 'RU'], 'price_exclusive': 50000}",
     {{"/regions/1", "is not an ISO 3166 region code in the catalogue"},
      {"/regions/2", "is not an ISO 3166 region code in the catalogue"},
      {"/regions/3", "must be a region code (a string)"},
      {"/regions/4", "repeats regions/0"},
      {"/regions/5", "is covered by regions/6 (a country covers its subdivisions)"}},
     {{0}}},
    {"a subdivision after its country",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['DE', 'DE-BE'], 'price_exclusive': 50000}",
     {{"/regions/1", "is covered by regions/0 (a country covers its subdivisions)"}},
     {{0}}},

    /* prices */
    {"no price", N_LOANS, "{'niche': 'loans', 'regions': ['RU']}", {{"/price_exclusive", NO_PRICE}}, {{0}}},
    {"both prices null",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['RU'], 'price_exclusive': null, 'price_shared': null}",
     {{"/price_exclusive", NO_PRICE}},
     {{0}}},
    {"prices below the floors",
     N_LOANS,
     "{'niche': 'loans', 'regions': ['RU'], 'price_exclusive': 49999, 'price_shared': 19999}",
     {{"/price_exclusive", "must be at least 50000, the niche's floor_exclusive"},
      {"/price_shared", "must be at least 20000, the niche's floor_shared"}},
     {{0}}},
    {"a price 0", N_LOANS, B("'price_shared': 0"), {{"/price_shared", "must be greater than 0"}}, {{0}}},
    {"a price negative", N_LOANS, B("'price_shared': -20000"), {{"/price_shared", "must be greater than 0"}}, {{0}}},
    {"a price as a real",
     N_LOANS,
     B("'price_shared': 20000.0"),
     {{"/price_shared", "must be an integer amount in minor units"}},
     {{0}}},
    {"a price as a string",
     N_LOANS,
     B("'price_shared': '20000'"),
     {{"/price_shared", "must be an integer amount in minor units"}},
     {{0}}},
    {"a price at 2^53",
     N_LOANS,
     B("'price_shared': 9007199254740992"),
     {{"/price_shared", "must be below 9007199254740992"}},
     {{0}}},
    {"a price at the int64 limit",
     N_LOANS,
     B("'price_shared': 9223372036854775807"),
     {{"/price_shared", "must be below 9007199254740992"}},
     {{0}}},

    /* filters: shape */
    {"filters a list", N_LOANS, F("[]"), {{"/filters", "must be an object or null"}}, {{0}}},
    {"filters with an unknown member", N_LOANS, F("{'attrs': {}}"), {{"/filters/attrs", "unknown field"}}, {{0}}},
    {"attributes a list", N_LOANS, A("[]"), {{"/filters/attributes", "must be an object of attribute conditions"}}, {{0}}},
    {"an attribute the niche does not have",
     N_LOANS,
     A("{'height': {'eq': 180}}"),
     {{"/filters/attributes/height", NOT_ATTR}},
     {{0}}},
    {"a condition not an object",
     N_LOANS,
     A("{'age': 30}"),
     {{"/filters/attributes/age", "must be an object with at least one of eq, in, gte, lte"}},
     {{0}}},
    {"an empty condition",
     N_LOANS,
     A("{'age': {}}"),
     {{"/filters/attributes/age", "must be an object with at least one of eq, in, gte, lte"}},
     {{0}}},
    {"an unknown operator",
     N_LOANS,
     A("{'age': {'gt': 30, 'lte': 40}}"),
     {{"/filters/attributes/age/gt", "unknown operator (use eq, in, gte or lte)"}},
     {{0}}},

    /* filters: types and ranges */
    {"an integer attribute with a real",
     N_LOANS,
     A("{'age': {'eq': 30.0}}"),
     {{"/filters/attributes/age/eq", "must be an integer"}},
     {{0}}},
    {"an integer attribute with a string",
     N_LOANS,
     A("{'age': {'gte': '30'}}"),
     {{"/filters/attributes/age/gte", "must be an integer"}},
     {{0}}},
    {"an integer below the schema's min",
     N_LOANS,
     A("{'age': {'eq': 17}}"),
     {{"/filters/attributes/age/eq", "must be at least 18, the attribute's min"}},
     {{0}}},
    {"an integer above the schema's max",
     N_LOANS,
     A("{'age': {'lte': 101}}"),
     {{"/filters/attributes/age/lte", "must be at most 100, the attribute's max"}},
     {{0}}},
    {"a number below the schema's min",
     N_LOANS,
     A("{'amount': {'gte': 999}}"),
     {{"/filters/attributes/amount/gte", "must be at least 1000, the attribute's min"}},
     {{0}}},
    {"a number as a string",
     N_LOANS,
     A("{'amount': {'eq': '1000'}}"),
     {{"/filters/attributes/amount/eq", "must be a number"}},
     {{0}}},
    {"a number past 2^53",
     N_LOANS,
     A("{'score': {'gte': 1e16}}"),
     {{"/filters/attributes/score/gte", "must be between -9007199254740992 and 9007199254740992"}},
     {{0}}},
    {"an integer-valued number past 2^53",
     N_LOANS,
     A("{'score': {'lte': -9007199254740993}}"),
     {{"/filters/attributes/score/lte", "must be between -9007199254740992 and 9007199254740992"}},
     {{0}}},
    {"an enum value not in the schema",
     N_LOANS,
     A("{'purpose': {'eq': 'boat'}}"),
     {{"/filters/attributes/purpose/eq", PURPOSES}},
     {{0}}},
    {"an enum value of another case",
     N_LOANS,
     A("{'purpose': {'in': ['car', 'Home']}}"),
     {{"/filters/attributes/purpose/in/1", PURPOSES}},
     {{0}}},
    {"an enum value not a string", N_LOANS, A("{'purpose': {'eq': 1}}"), {{"/filters/attributes/purpose/eq", PURPOSES}}, {{0}}},
    {"a boolean as a string",
     N_LOANS,
     A("{'employed': {'eq': 'yes'}}"),
     {{"/filters/attributes/employed/eq", "must be true or false"}},
     {{0}}},
    {"a string too short",
     N_LOANS,
     A("{'comment': {'eq': 'a'}}"),
     {{"/filters/attributes/comment/eq", "must be 2 to 20 characters long"}},
     {{0}}},
    {"a string not a string",
     N_LOANS,
     A("{'comment': {'eq': 12}}"),
     {{"/filters/attributes/comment/eq", "must be a string"}},
     {{0}}},
    {"a string with a control character",
     N_LOANS,
     A("{'comment': {'eq': 'a\\nb'}}"),
     {{"/filters/attributes/comment/eq", "must not contain control characters"}},
     {{0}}},
    {"a null value", N_LOANS, A("{'age': {'eq': null}}"), {{"/filters/attributes/age/eq", "must not be null"}}, {{0}}},
    {"gte on an enum",
     N_LOANS,
     A("{'purpose': {'gte': 'car'}}"),
     {{"/filters/attributes/purpose/gte", "applies only to integer and number attributes"}},
     {{0}}},
    {"lte on a boolean, gte on a string",
     N_LOANS,
     A("{'employed': {'lte': 1}, 'comment': {'gte': 'ab'}}"),
     {{"/filters/attributes/employed/lte", "applies only to integer and number attributes"},
      {"/filters/attributes/comment/gte", "applies only to integer and number attributes"}},
     {{0}}},
    {"in empty", N_LOANS, A("{'age': {'in': []}}"), {{"/filters/attributes/age/in", "must be an array of 1 to 100 values"}}, {{0}}},
    {"in not a list",
     N_LOANS,
     A("{'age': {'in': 30}}"),
     {{"/filters/attributes/age/in", "must be an array of 1 to 100 values"}},
     {{0}}},
    {"in with repeats",
     N_LOANS,
     A("{'amount': {'in': [1000, 2000, 1000.0]}, 'purpose': {'in': ['car', 'car']}}"),
     {{"/filters/attributes/amount/in/2", "repeats in/0"}, {"/filters/attributes/purpose/in/1", "repeats in/0"}},
     {{0}}},
    {"in with a bad element",
     N_LOANS,
     A("{'age': {'in': [30, 17, 'x']}}"),
     {{"/filters/attributes/age/in/1", "must be at least 18, the attribute's min"},
      {"/filters/attributes/age/in/2", "must be an integer"}},
     {{0}}},

    /* filters: contradictions */
    {"gte above lte",
     N_LOANS,
     A("{'age': {'gte': 46, 'lte': 45}}"),
     {{"/filters/attributes/age/lte", "must not be less than gte"}},
     {{0}}},
    {"gte above lte, reals",
     N_LOANS,
     A("{'amount': {'gte': 2000.5, 'lte': 2000.25}}"),
     {{"/filters/attributes/amount/lte", "must not be less than gte"}},
     {{0}}},
    {"eq not in in",
     N_LOANS,
     A("{'purpose': {'eq': 'car', 'in': ['home', 'other']}}"),
     {{"/filters/attributes/purpose/eq", "is not one of the values of in"}},
     {{0}}},
    {"eq below gte", N_LOANS, A("{'age': {'eq': 20, 'gte': 21}}"), {{"/filters/attributes/age/eq", "is below gte"}}, {{0}}},
    {"eq above lte",
     N_LOANS,
     A("{'amount': {'eq': 2000.5, 'lte': 2000}}"),
     {{"/filters/attributes/amount/eq", "is above lte"}},
     {{0}}},
    {"in outside gte..lte",
     N_LOANS,
     A("{'age': {'in': [20, 60], 'gte': 30, 'lte': 50}}"),
     {{"/filters/attributes/age/in", "holds no value that gte and lte allow"}},
     {{0}}},
    {"in below gte",
     N_LOANS,
     A("{'income': {'in': [1, 2], 'gte': 3}}"),
     {{"/filters/attributes/income/in", "holds no value that gte and lte allow"}},
     {{0}}},

    /* filters: required, min_quality, temperatures */
    {"required not a list",
     N_LOANS,
     F("{'required': 'age'}"),
     {{"/filters/required", "must be an array of at most 64 attribute names"}},
     {{0}}},
    {"required: unknown, not a string, repeated",
     N_LOANS,
     F("{'required': ['age', 'height', 1, 'age']}"),
     {{"/filters/required/1", NOT_ATTR},
      {"/filters/required/2", "must be an attribute name"},
      {"/filters/required/3", "repeats required/0"}},
     {{0}}},
    {"min_quality over 100", N_LOANS, F("{'min_quality': 101}"), {{"/filters/min_quality", "must be between 0 and 100"}}, {{0}}},
    {"min_quality negative", N_LOANS, F("{'min_quality': -1}"), {{"/filters/min_quality", "must be between 0 and 100"}}, {{0}}},
    {"min_quality a real", N_LOANS, F("{'min_quality': 50.5}"), {{"/filters/min_quality", "must be an integer"}}, {{0}}},
    {"temperatures empty",
     N_LOANS,
     F("{'temperatures': []}"),
     {{"/filters/temperatures", "must be an array of 1 to 3 of hot, warm, cold"}},
     {{0}}},
    {"temperatures a string",
     N_LOANS,
     F("{'temperatures': 'hot'}"),
     {{"/filters/temperatures", "must be an array of 1 to 3 of hot, warm, cold"}},
     {{0}}},
    {"temperatures: unknown, repeated",
     N_LOANS,
     F("{'temperatures': ['hot', 'tepid', 'hot']}"),
     {{"/filters/temperatures/1", ONE_OF_TEMP}, {"/filters/temperatures/2", "repeats temperatures/0"}},
     {{0}}},
    {"temperatures four",
     N_LOANS,
     F("{'temperatures': ['hot', 'warm', 'cold', 'hot']}"),
     {{"/filters/temperatures", "must be an array of 1 to 3 of hot, warm, cold"}},
     {{0}}},

    /* schedule */
    {"the schedule a string",
     N_LOANS,
     S("'9-18'"),
     {{"/schedule", "must be an object {tz, hours}, or null for always open"}},
     {{0}}},
    {"the schedule with an unknown member", N_LOANS, S("{'tz': 'UTC', 'days': {}}"), {{"/schedule/days", "unknown field"}}, {{0}}},
    {"the time zone missing", N_LOANS, S("{'hours': {'mon': [['09:00', '18:00']]}}"), {{"/schedule/tz", "is required"}}, {{0}}},
    {"the time zone a number", N_LOANS, S("{'tz': 3}"), {{"/schedule/tz", "must be a string"}}, {{0}}},
    {"the time zone empty", N_LOANS, S("{'tz': ''}"), {{"/schedule/tz", "must be at least 1 characters long"}}, {{0}}},
    {"the time zone walking up", N_LOANS, S("{'tz': '../../etc/passwd'}"), {{"/schedule/tz", TZ_RULE}}, {{0}}},
    {"the time zone absolute", N_LOANS, S("{'tz': '/usr/share/zoneinfo/UTC'}"), {{"/schedule/tz", TZ_RULE}}, {{0}}},
    {"the time zone with a space", N_LOANS, S("{'tz': 'Europe/Moscow time'}"), {{"/schedule/tz", TZ_RULE}}, {{0}}},
    {"the time zone with a dot", N_LOANS, S("{'tz': 'Europe/Moscow.'}"), {{"/schedule/tz", TZ_RULE}}, {{0}}},
    {"the time zone with a colon", N_LOANS, S("{'tz': 'UTC+03:00'}"), {{"/schedule/tz", TZ_RULE}}, {{0}}},
    {"the hours a list",
     N_LOANS,
     H("[]"),
     {{"/schedule/hours", "must be an object of days (mon to sun), or null for always open"}},
     {{0}}},
    {"an unknown day",
     N_LOANS,
     H("{'monday': [['09:00', '18:00']], 'tue': [['09:00', '18:00']]}"),
     {{"/schedule/hours/monday", "unknown day (use mon, tue, wed, thu, fri, sat, sun)"}},
     {{0}}},
    {"a day not a list",
     N_LOANS,
     H("{'mon': '09:00-18:00'}"),
     {{"/schedule/hours/mon", "must be an array of at most 10 [from, to] spans"}},
     {{0}}},
    {"spans not pairs",
     N_LOANS,
     H("{'mon': [['09:00'], ['10:00', '11:00', '12:00'], '13:00', ['14:00', '15:00']]}"),
     {{"/schedule/hours/mon/0", "must be a [from, to] pair of HH:MM times"},
      {"/schedule/hours/mon/1", "must be a [from, to] pair of HH:MM times"},
      {"/schedule/hours/mon/2", "must be a [from, to] pair of HH:MM times"}},
     {{0}}},
    {"bad times",
     N_LOANS,
     H("{'mon': [['9:00', '18:00'], ['24:00', '24:00'], ['10:60', '25:00'], [900, '23:59:00'], ['aa:bb', '24:01']]}"),
     {{"/schedule/hours/mon/0/0", FROM_RULE},
      {"/schedule/hours/mon/1/0", FROM_RULE},
      {"/schedule/hours/mon/2/0", FROM_RULE},
      {"/schedule/hours/mon/2/1", TO_RULE},
      {"/schedule/hours/mon/3/0", FROM_RULE},
      {"/schedule/hours/mon/3/1", TO_RULE},
      {"/schedule/hours/mon/4/0", FROM_RULE},
      {"/schedule/hours/mon/4/1", TO_RULE}},
     {{0}}},
    {"a span ending where it starts, one ending before",
     N_LOANS,
     H("{'wed': [['09:00', '09:00'], ['18:00', '09:00'], ['10:00', '00:00']]}"),
     {{"/schedule/hours/wed/0", "must end after it starts"},
      {"/schedule/hours/wed/1", "must end after it starts"},
      {"/schedule/hours/wed/2", "must end after it starts"}},
     {{0}}},
    {"overlapping spans",
     N_LOANS,
     H("{'thu': [['12:00', '13:00'], ['09:00', '18:00'], ['17:59', '20:00'], ['20:00', '21:00']]}"),
     {{"/schedule/hours/thu/0", "overlaps thu/1"}, {"/schedule/hours/thu/2", "overlaps thu/1"}},
     {{0}}},
    {"a span inside a longer one, after another",
     N_LOANS,
     H("{'fri': [['09:00', '18:00'], ['10:00', '11:00'], ['12:00', '13:00']]}"),
     {{"/schedule/hours/fri/1", "overlaps fri/0"}, {"/schedule/hours/fri/2", "overlaps fri/0"}},
     {{0}}},
    {"the same span twice",
     N_LOANS,
     H("{'sat': [['09:00', '18:00'], ['09:00', '18:00']]}"),
     {{"/schedule/hours/sat/1", "overlaps sat/0"}},
     {{0}}},
    {"hours that never open",
     N_LOANS,
     H("{}"),
     {{"/schedule/hours", "must open on at least one day (null means always open)"}},
     {{0}}},
    {"hours with only closed days",
     N_LOANS,
     H("{'mon': [], 'sun': []}"),
     {{"/schedule/hours", "must open on at least one day (null means always open)"}},
     {{0}}},

    /* cap, budget, exclusions, days, status */
    {"a cap 0", N_LOANS, B("'daily_cap': 0"), {{"/daily_cap", "must be between 1 and 2147483647"}}, {{0}}},
    {"a cap past int32", N_LOANS, B("'daily_cap': 2147483648"), {{"/daily_cap", "must be between 1 and 2147483647"}}, {{0}}},
    {"a cap as a real", N_LOANS, B("'daily_cap': 10.0"), {{"/daily_cap", "must be an integer"}}, {{0}}},
    {"a budget 0", N_LOANS, B("'budget': 0"), {{"/budget", "must be between 1 and 9007199254740991"}}, {{0}}},
    {"a budget at 2^53", N_LOANS, B("'budget': 9007199254740992"), {{"/budget", "must be between 1 and 9007199254740991"}}, {{0}}},
    {"a budget as a string", N_LOANS, B("'budget': '100'"), {{"/budget", "must be an integer"}}, {{0}}},
    {"exclusions a string",
     N_LOANS,
     B("'exclude_sources': 'sub-1'"),
     {{"/exclude_sources", "must be an array of at most 1000 webmaster ids or sub_ids"}},
     {{0}}},
    {"exclusions: bad elements",
     N_LOANS,
     B("'exclude_sources': ['', 'a b', 7, 'x\\u00e9', "
       "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']"),
     {{"/exclude_sources/0", SOURCE_RULE},
      {"/exclude_sources/1", SOURCE_RULE},
      {"/exclude_sources/2", SOURCE_RULE},
      {"/exclude_sources/3", SOURCE_RULE},
      {"/exclude_sources/4", SOURCE_RULE}},
     {{0}}},
    {"exclusions repeated, a UUID in either case",
     N_LOANS,
     B("'exclude_sources': ['s1', '0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b', 's1', '0190A1B2-C3D4-7E5F-8A6B-7C8D9E0F1A2B']"),
     {{"/exclude_sources/2", "repeats exclude_sources/0"}, {"/exclude_sources/3", "repeats exclude_sources/1"}},
     {{0}}},
    {"days past 3650",
     N_LOANS,
     B("'exclude_bought_contacts_days': 3651"),
     {{"/exclude_bought_contacts_days", "must be between 0 and 3650"}},
     {{0}}},
    {"days negative",
     N_LOANS,
     B("'exclude_bought_contacts_days': -1"),
     {{"/exclude_bought_contacts_days", "must be between 0 and 3650"}},
     {{0}}},
    {"days null",
     N_LOANS,
     B("'exclude_bought_contacts_days': null"),
     {{"/exclude_bought_contacts_days", "must be an integer"}},
     {{0}}},
    {"created archived", N_LOANS, B("'status': 'archived'"), {{"/status", "must be one of: active, paused"}}, {{0}}},

    /* everything in one answer */
    {"several members, several problems",
     N_USD_ACCOUNT,
     "{'niche': 'loans', 'regions': ['RU', 'RU'], 'price_exclusive': 1, 'daily_cap': 0,"
     " 'schedule': {'tz': 'Mars/../Olympus'}, 'filters': {'attributes': {'age': {'gte': 50, 'lte': 40}}}}",
     {{"/niche", "is priced in RUB, and this account's balance is in USD"},
      {"/regions/1", "repeats regions/0"},
      {"/price_exclusive", "must be at least 50000, the niche's floor_exclusive"},
      {"/filters/attributes/age/lte", "must not be less than gte"},
      {"/schedule/tz", TZ_RULE},
      {"/daily_cap", "must be between 1 and 2147483647"}},
     {{0}}},
};

static const lx_niche_t *niche_of(int kind, const char **currency)
{
    *currency = kind == N_USD_ACCOUNT ? "USD" : "RUB";
    switch (kind) {
    case N_NONE:
        return NULL;
    case N_ARCHIVED:
        return &archived;
    case N_PAUSED:
        return &paused;
    default:
        return &loans;
    }
}

static void test_create_table(void)
{
    for (size_t i = 0; i < sizeof(create_cases) / sizeof(create_cases[0]); i++) {
        const create_case_t *c = &create_cases[i];
        CHECK_CTX("create: %s", c->what);
        json_t *body = parse(c->body);
        if (body == NULL) continue;
        const char *currency;
        const lx_niche_t *niche = niche_of(c->niche, &currency);
        lx_error_t err;
        lx_error_init(&err);
        lx_campaign_t out;
        lx_status_t rc = lx_campaign_parse(body, niche, regions, currency, &out, &err);
        check_errors(rc, &err, c->errors);
        if (rc == LX_OK) {
            CHECK_EQ_INT(out.set, (1u << LX_CAMPAIGN__PARAMS) - 1);
            check_params(&out, c->params);
            lx_campaign_dispose(&out);
        } else {
            check_empty(&out);
        }
        json_decref(body);
    }
    CHECK_CTX("%s", "");
}

/* The typed values of an accepted create. */
static void test_create_typed(void)
{
    CHECK_CTX("typed values");
    json_t *body = parse(B("'price_shared': 30000, 'daily_cap': 7, 'budget': 900000, 'status': 'paused'"));
    lx_error_t err;
    lx_error_init(&err);
    lx_campaign_t out;
    if (CHECK_EQ_INT(lx_campaign_parse(body, &loans, regions, "RUB", &out, &err), LX_OK)) {
        CHECK_EQ_INT(out.price_exclusive, 50000);
        CHECK_EQ_INT(out.price_shared, 30000);
        CHECK_EQ_INT(out.daily_cap, 7);
        CHECK_EQ_INT(out.budget, 900000);
        CHECK_EQ_INT(out.status, LX_CAMPAIGN_PAUSED);
        lx_campaign_dispose(&out);
        lx_campaign_dispose(&out); /* twice is harmless */
    }
    json_decref(body);

    /* no currency given: not checked */
    body = parse("{" BASE "}");
    lx_error_init(&err);
    CHECK_EQ_INT(lx_campaign_parse(body, &loans, regions, NULL, &out, &err), LX_OK);
    lx_campaign_dispose(&out);
    json_decref(body);
    CHECK_CTX("%s", "");
}

/* ---- PATCH ------------------------------------------------------------------------------------------ */

typedef struct {
    const char *what;
    const char *body;
    unsigned set;
    expect_t errors[MAX_EXPECT];
    param_t params[MAX_PARAMS];
} patch_case_t;

#define BIT(p) (1u << (p))

static const patch_case_t patch_cases[] = {
    {"the name", "{'name': 'Night shift'}", BIT(LX_CAMPAIGN_NAME), {{0}}, {{P(LX_CAMPAIGN_NAME), "Night shift"}}},
    {"the name removed", "{'name': null}", BIT(LX_CAMPAIGN_NAME), {{0}}, {{P(LX_CAMPAIGN_NAME), NULL}}},
    {"archived", "{'status': 'archived'}", BIT(LX_CAMPAIGN_STATUS), {{0}}, {{P(LX_CAMPAIGN_STATUS), "archived"}}},
    {"paused", "{'status': 'paused'}", BIT(LX_CAMPAIGN_STATUS), {{0}}, {{P(LX_CAMPAIGN_STATUS), "paused"}}},
    {"an exclusive price removed, a shared one set",
     "{'price_exclusive': null, 'price_shared': 25000}",
     BIT(LX_CAMPAIGN_PRICE_EXCLUSIVE) | BIT(LX_CAMPAIGN_PRICE_SHARED),
     {{0}},
     {{P(LX_CAMPAIGN_PRICE_EXCLUSIVE), NULL}, {P(LX_CAMPAIGN_PRICE_SHARED), "25000"}}},
    {"the schedule removed",
     "{'schedule': null}",
     BIT(LX_CAMPAIGN_TZ) | BIT(LX_CAMPAIGN_HOURS),
     {{0}},
     {{P(LX_CAMPAIGN_TZ), "UTC"}, {P(LX_CAMPAIGN_HOURS), NULL}}},
    {"a schedule",
     "{'schedule': {'tz': 'Asia/Tokyo', 'hours': {'sun': [['10:00', '11:00']]}}}",
     BIT(LX_CAMPAIGN_TZ) | BIT(LX_CAMPAIGN_HOURS),
     {{0}},
     {{P(LX_CAMPAIGN_TZ), "Asia/Tokyo"}, {P(LX_CAMPAIGN_HOURS), "{\"sun\":[[\"10:00\",\"11:00\"]]}"}}},
    {"the filters removed", "{'filters': null}", BIT(LX_CAMPAIGN_FILTERS), {{0}}, {{P(LX_CAMPAIGN_FILTERS), NULL}}},
    {"cap and budget removed",
     "{'daily_cap': null, 'budget': null}",
     BIT(LX_CAMPAIGN_DAILY_CAP) | BIT(LX_CAMPAIGN_BUDGET),
     {{0}},
     {{P(LX_CAMPAIGN_DAILY_CAP), NULL}, {P(LX_CAMPAIGN_BUDGET), NULL}}},
    {"exclusions cleared",
     "{'exclude_sources': []}",
     BIT(LX_CAMPAIGN_EXCLUDE_SOURCES),
     {{0}},
     {{P(LX_CAMPAIGN_EXCLUDE_SOURCES), "{}"}}},
    {"regions", "{'regions': ['DE']}", BIT(LX_CAMPAIGN_REGIONS), {{0}}, {{P(LX_CAMPAIGN_REGIONS), "{\"DE\"}"}}},
    {"days", "{'exclude_bought_contacts_days': 30}", BIT(LX_CAMPAIGN_EXCLUDE_DAYS), {{0}}, {{P(LX_CAMPAIGN_EXCLUDE_DAYS), "30"}}},

    {"nothing", "{}", 0, {{"", "must change at least one member"}}, {{0}}},
    {"not an object", "'paused'", 0, {{"", "must be an object"}}, {{0}}},
    {"the niche", "{'niche': 'loans'}", 0, {{"/niche", "cannot be changed (create a campaign in the other niche instead)"}}, {{0}}},
    {"an unknown member", "{'paused': true}", 0, {{"/paused", "unknown field"}}, {{0}}},
    {"an unknown status", "{'status': 'deleted'}", 0, {{"/status", "must be one of: active, paused, archived"}}, {{0}}},
    {"a price below the floor",
     "{'price_shared': 100}",
     0,
     {{"/price_shared", "must be at least 20000, the niche's floor_shared"}},
     {{0}}},
    {"regions null", "{'regions': null}", 0, {{"/regions", "must be an array of 1 to 500 region codes"}}, {{0}}},
    {"a bad schedule",
     "{'schedule': {'tz': 'UTC', 'hours': {'mon': [['18:00', '09:00']]}}}",
     0,
     {{"/schedule/hours/mon/0", "must end after it starts"}},
     {{0}}},
    {"a bad filter",
     "{'filters': {'attributes': {'purpose': {'eq': 'yacht'}}}}",
     0,
     {{"/filters/attributes/purpose/eq", PURPOSES}},
     {{0}}},
};

static void test_patch_table(void)
{
    for (size_t i = 0; i < sizeof(patch_cases) / sizeof(patch_cases[0]); i++) {
        const patch_case_t *c = &patch_cases[i];
        CHECK_CTX("patch: %s", c->what);
        json_t *body = parse(c->body);
        if (body == NULL) continue;
        lx_error_t err;
        lx_error_init(&err);
        lx_campaign_t out;
        lx_status_t rc = lx_campaign_parse_patch(body, &loans, regions, &out, &err);
        check_errors(rc, &err, c->errors);
        if (rc == LX_OK) {
            CHECK_EQ_INT(out.set, c->set);
            check_params(&out, c->params);
            lx_campaign_dispose(&out);
        } else {
            check_empty(&out);
        }
        json_decref(body);
    }
    CHECK_CTX("%s", "");

    /* typed values of a patch: a removed price reads 0 */
    json_t *body = parse("{'price_exclusive': null, 'price_shared': 30000, 'budget': 5, 'status': 'archived'}");
    lx_error_t err;
    lx_error_init(&err);
    lx_campaign_t out;
    if (CHECK_EQ_INT(lx_campaign_parse_patch(body, &loans, regions, &out, &err), LX_OK)) {
        CHECK_EQ_INT(out.price_exclusive, 0);
        CHECK_EQ_INT(out.price_shared, 30000);
        CHECK_EQ_INT(out.budget, 5);
        CHECK_EQ_INT(out.status, LX_CAMPAIGN_ARCHIVED);
        lx_campaign_dispose(&out);
    }
    json_decref(body);
}

/* ---- caps, at and past their edges ---------------------------------------------------------------------- */

static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    for (size_t i = 0; i < n; i++) memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

/* quote prefix 0 quote, quote prefix 1 quote, ..., up to n-1, joined by ", " (a fresh buffer). */
static char *list_of(const char *prefix, const char *quote, size_t n)
{
    size_t size = n * (strlen(prefix) + 2 * strlen(quote) + 16) + 1, len = 0;
    char *s = malloc(size);
    s[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, size - len, "%s%s%s%zu%s", i ? ", " : "", quote, prefix, i, quote);
    return s;
}

static void check_edge(const char *what, json_t *valid, json_t *invalid, const char *field, const char *message)
{
    lx_error_t err;
    lx_campaign_t out;
    CHECK_CTX("edge: %s, at the cap", what);
    if (CHECK(valid != NULL)) {
        lx_error_init(&err);
        check_errors(lx_campaign_parse(valid, &loans, regions, "RUB", &out, &err), &err, (expect_t[MAX_EXPECT]){{0}});
        lx_campaign_dispose(&out);
    }
    CHECK_CTX("edge: %s, past the cap", what);
    if (CHECK(invalid != NULL)) {
        lx_error_init(&err);
        check_errors(lx_campaign_parse(invalid, &loans, regions, "RUB", &out, &err), &err,
                     (expect_t[MAX_EXPECT]){{field, message}});
        lx_campaign_dispose(&out);
    }
    json_decref(valid);
    json_decref(invalid);
    CHECK_CTX("%s", "");
}

static void test_caps(void)
{
    char *name200 = repeat("\xd0\xb4", 200), *name201 = repeat("\xd0\xb4", 201);
    check_edge("name of 200 characters", parsef(B("'name': '%s'"), name200), parsef(B("'name': '%s'"), name201), "/name",
               "must be at most 200 characters long");
    free(name200);
    free(name201);

    char *r500 = list_of("QQ-", "'", 500), *r501 = list_of("QQ-", "'", 501);
    check_edge("500 regions", parsef("{'niche': 'loans', 'regions': [%s], 'price_shared': 20000}", r500),
               parsef("{'niche': 'loans', 'regions': [%s], 'price_shared': 20000}", r501), "/regions",
               "must be an array of 1 to 500 region codes");
    free(r500);
    free(r501);

    char *s1000 = list_of("s", "'", 1000), *s1001 = list_of("s", "'", 1001);
    check_edge("1000 exclusions", parsef(B("'exclude_sources': [%s]"), s1000), parsef(B("'exclude_sources': [%s]"), s1001),
               "/exclude_sources", "must be an array of at most 1000 webmaster ids or sub_ids");
    free(s1000);
    free(s1001);

    char *sub64 = repeat("s", 64), *sub65 = repeat("s", 65);
    check_edge("a sub_id of 64 characters", parsef(B("'exclude_sources': ['%s']"), sub64),
               parsef(B("'exclude_sources': ['%s']"), sub65), "/exclude_sources/0", SOURCE_RULE);
    free(sub64);
    free(sub65);

    char *in100 = list_of("", "", 100), *in101 = list_of("", "", 101);
    check_edge("in with 100 values", parsef(A("{'income': {'in': [%s]}}"), in100), parsef(A("{'income': {'in': [%s]}}"), in101),
               "/filters/attributes/income/in", "must be an array of 1 to 100 values");
    free(in100);
    free(in101);

    /* ten spans of a minute each, then an eleventh */
    char spans10[512] = "", spans11[512] = "";
    for (int i = 0; i < 11; i++) {
        char span[40];
        snprintf(span, sizeof(span), "%s['10:%02d', '10:%02d']", i ? ", " : "", i * 2, i * 2 + 1);
        if (i < 10) strcat(spans10, span);
        strcat(spans11, span);
    }
    check_edge("10 spans a day", parsef(H("{'mon': [%s]}"), spans10), parsef(H("{'mon': [%s]}"), spans11), "/schedule/hours/mon",
               "must be an array of at most 10 [from, to] spans");

    char *tz64 = repeat("Z", 64), *tz65 = repeat("Z", 65);
    check_edge("a time zone of 64 characters", parsef(S("{'tz': '%s'}"), tz64), parsef(S("{'tz': '%s'}"), tz65), "/schedule/tz",
               "must be at most 64 characters long");
    free(tz64);
    free(tz65);

    /* more problems than the error list holds: counted, and still a failure */
    char *bad = list_of("X", "'", 20);
    json_t *body = parsef("{'niche': 'loans', 'regions': [%s], 'price_shared': 20000}", bad);
    lx_error_t err;
    lx_error_init(&err);
    lx_campaign_t out;
    CHECK_CTX("more problems than fit");
    CHECK_EQ_INT(lx_campaign_parse(body, &loans, regions, "RUB", &out, &err), LX_ERR_VALIDATION);
    CHECK_EQ_INT(err.nfields, LX_ERROR_MAX_FIELDS);
    CHECK_EQ_INT(err.nfields_dropped, 20 - LX_ERROR_MAX_FIELDS);
    CHECK_CTX("%s", "");
    json_decref(body);
    free(bad);
}

/* ---- the rest ------------------------------------------------------------------------------------------- */

static void test_tz_syntax(void)
{
    static const char *const good[] = {"UTC",
                                       "Europe/Moscow",
                                       "America/Argentina/Buenos_Aires",
                                       "Etc/GMT+3",
                                       "Etc/GMT-14",
                                       "EST5EDT",
                                       "PST8PDT",
                                       "GMT-0",
                                       "NZ-CHAT",
                                       "W-SU",
                                       "a",
                                       "posix/Europe/Moscow"};
    static const char *const bad[] = {
        "",        "/UTC",           "../etc",   "Europe/../Moscow", "Europe/Moscow.", "Europe Moscow",
        "UTC:3",   "Europe\\Moscow", "\xc3\xa9", "UTC+25",           "STD-167",        "1e9",
        "+1",      "EST5",           "GMT+3",    "Factory",          "localtime",      "posixrules",
        "EST5EDT4"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_CTX("tz %s", good[i]);
        CHECK(lx_campaign_tz_syntax_valid(good[i], strlen(good[i])));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("tz %s", bad[i]);
        CHECK(!lx_campaign_tz_syntax_valid(bad[i], strlen(bad[i])));
    }
    CHECK_CTX("tz of 65 characters");
    char tz[66];
    memset(tz, 'a', 65);
    tz[65] = '\0';
    CHECK(lx_campaign_tz_syntax_valid(tz, 64));
    CHECK(!lx_campaign_tz_syntax_valid(tz, 65));
    CHECK_CTX("%s", "");
}

static void test_niche_slug(void)
{
    json_t *body = parse("{'niche': 'loans'}");
    CHECK_EQ_STR(lx_campaign_niche_slug(body), "loans");
    json_decref(body);
    body = parse("{'niche': 'Loans'}");
    CHECK(lx_campaign_niche_slug(body) == NULL);
    json_decref(body);
    body = parse("{'niche': 5}");
    CHECK(lx_campaign_niche_slug(body) == NULL);
    json_decref(body);
    body = parse("['loans']");
    CHECK(lx_campaign_niche_slug(body) == NULL);
    json_decref(body);
    CHECK(lx_campaign_niche_slug(NULL) == NULL);
    CHECK_EQ_STR(lx_campaign_status_name(LX_CAMPAIGN_ACTIVE), "active");
    CHECK_EQ_STR(lx_campaign_status_name(LX_CAMPAIGN_PAUSED), "paused");
    CHECK_EQ_STR(lx_campaign_status_name(LX_CAMPAIGN_ARCHIVED), "archived");
}

/* A damaged stored schema is the server's fault, and only when a filter names the damaged attribute. */
static void test_damaged_schema(void)
{
    lx_error_t err;
    lx_campaign_t out;
    CHECK_CTX("damaged schema, named");
    json_t *body = parse(A("{'age': {'eq': 30}}"));
    lx_error_init(&err);
    CHECK_EQ_INT(lx_campaign_parse(body, &damaged, regions, "RUB", &out, &err), LX_ERR_INTERNAL);
    CHECK_EQ_INT(err.status, LX_ERR_INTERNAL);
    check_empty(&out);
    json_decref(body);

    CHECK_CTX("damaged schema, named in a patch with other problems");
    body = parse("{'filters': {'attributes': {'age': {'eq': 30}}}, 'budget': 0}");
    lx_error_init(&err);
    CHECK_EQ_INT(lx_campaign_parse_patch(body, &damaged, regions, &out, &err), LX_ERR_INTERNAL);
    CHECK_EQ_INT(err.nfields, 1);
    json_decref(body);

    CHECK_CTX("damaged schema, not named");
    body = parse(A("{'income': {'gte': 30}}"));
    lx_error_init(&err);
    CHECK_EQ_INT(lx_campaign_parse(body, &damaged, regions, "RUB", &out, &err), LX_OK);
    lx_campaign_dispose(&out);
    json_decref(body);
    CHECK_CTX("%s", "");
}

/* A caller's earlier problems stay in err and do not decide this parse. */
static void test_keeps_earlier_errors(void)
{
    lx_error_t err;
    lx_error_init(&err);
    lx_error_field(&err, "header.x", "earlier problem");
    lx_campaign_t out;
    json_t *body = parse("{" BASE "}");
    CHECK_EQ_INT(lx_campaign_parse(body, &loans, regions, "RUB", &out, &err), LX_OK);
    CHECK_EQ_INT(err.nfields, 1);
    lx_campaign_dispose(&out);
    json_decref(body);
    body = parse("{'niche': 'loans', 'regions': ['RU']}");
    CHECK_EQ_INT(lx_campaign_parse(body, &loans, regions, "RUB", &out, &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 2)) {
        CHECK_EQ_STR(err.fields[0].field, "header.x");
        CHECK_EQ_STR(err.fields[1].field, "/price_exclusive");
    }
    json_decref(body);
}

int main(void)
{
    setup();
    test_create_table();
    test_create_typed();
    test_patch_table();
    test_caps();
    test_tz_syntax();
    test_niche_slug();
    test_damaged_schema();
    test_keeps_earlier_errors();
    teardown();
    return check_summary();
}
