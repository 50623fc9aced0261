/*
 * libFuzzer target for src/market/campaign.h: advertisers' campaign bodies,
 * straight from POST and PATCH requests.
 *
 * Input: a request body through lx_json_parse (depth cap 32), parsed as a
 * create against a fixed niche (attribute schema, floors, RUB) and a small
 * region catalogue, as a create naming no niche, and as a PATCH. Contracts
 * checked beyond "no crash under ASan and UBSan":
 *   - a refused body has at least one field error, every field a JSON
 *     Pointer, the output empty, and its problem+json renders and parses;
 *     with a valid fixed schema the answer is never LX_ERR_INTERNAL; a body
 *     naming no niche is always refused at /niche;
 *   - an accepted body's parameters are canonical: prices at or above the
 *     floors and below 2^53, at least one price on create, text arrays with
 *     as many quoted elements as the body's list, a time zone of valid
 *     syntax, filters and hours that are JSON objects;
 *   - normalisation is a fixed point: the accepted body with its filters and
 *     hours replaced by their normal forms is accepted again with the very
 *     same parameters;
 *   - the normal forms mean what the body meant to the auction: the same
 *     hours are open at every minute of the week, and the same leads (one
 *     built from the filter's own values, one without attributes) pass the
 *     filters.
 */
#include "http/problem.h"
#include "market/auction.h"
#include "market/campaign.h"
#include "util/json.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

static lx_regions_t *regions;
static lx_niche_t niche;

static void setup(void)
{
    static const char *const codes[] = {"RU", "RU-MOW", "RU-SPE", "US", "US-CA", "DE", "DE-BE", "KZ"};
    regions = lx_regions_from_codes(codes, sizeof(codes) / sizeof(codes[0]));
    memset(&niche, 0, sizeof(niche));
    niche.refs = 1;
    strcpy(niche.id, "01900000-0000-7000-8000-000000000001");
    strcpy(niche.slug, "loans");
    strcpy(niche.currency, "RUB");
    niche.max_shares = 3;
    niche.floor_exclusive = 50000;
    niche.floor_shared = 20000;
    niche.attributes = json_loads("{\"age\": {\"type\": \"integer\", \"min\": 18, \"max\": 100, \"required\": true},"
                                  " \"income\": {\"type\": \"integer\", \"min\": 0},"
                                  " \"amount\": {\"type\": \"number\", \"min\": 1000, \"max\": 5000000.5},"
                                  " \"score\": {\"type\": \"number\"},"
                                  " \"purpose\": {\"type\": \"enum\", \"values\": [\"car\", \"home\", \"other\"]},"
                                  " \"employed\": {\"type\": \"boolean\"},"
                                  " \"comment\": {\"type\": \"string\", \"min_length\": 2, \"max_length\": 20}}",
                                  0, NULL);
    FUZZ_ASSERT(niche.attributes != NULL);
}

static void check_refused(lx_status_t st, const lx_error_t *err, lx_campaign_t *out)
{
    FUZZ_ASSERT(st == LX_ERR_VALIDATION);
    FUZZ_ASSERT(err->status == LX_ERR_VALIDATION && err->detail[0] != '\0');
    FUZZ_ASSERT(err->nfields + err->nfields_dropped > 0);
    for (size_t i = 0; i < err->nfields; i++) {
        FUZZ_ASSERT(err->fields[i].field[0] == '\0' || err->fields[i].field[0] == '/');
        FUZZ_ASSERT(err->fields[i].message[0] != '\0');
    }
    FUZZ_ASSERT(out->set == 0);
    for (int p = 0; p < LX_CAMPAIGN__PARAMS; p++) FUZZ_ASSERT(out->params[p] == NULL);
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_problem_render(err, "fuzz", &sb);
    FUZZ_ASSERT(!sb.overflow && lx_utf8_valid(sb.base, sb.len));
    json_t *doc = json_loadb(sb.base, sb.len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_ASSERT(doc != NULL);
    json_decref(doc);
    lx_strbuf_free(&sb);
}

/* Elements of a text-array literal as this module writes it: {"a","b\"c"}. -1 if it is not one. */
static long array_elements(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '{' || s[n - 1] != '}') return -1;
    long count = 0;
    size_t i = 1;
    while (i < n - 1) {
        if (s[i] != '"') return -1;
        for (i++; i < n - 1 && s[i] != '"'; i++)
            if (s[i] == '\\') i++;
        if (i >= n - 1) return -1;
        i++; /* the closing quote */
        count++;
        if (i < n - 1 && s[i++] != ',') return -1;
    }
    return count;
}

static int64_t price_of(const lx_campaign_t *c, lx_campaign_param_t p)
{
    return c->params[p] != NULL ? strtoll(c->params[p], NULL, 10) : 0;
}

static json_t *load(const char *text)
{
    return text != NULL ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
}

/* A lead whose attributes take each condition's first value (eq, else in[0], else gte, else lte). */
static json_t *lead_from(json_t *filters)
{
    json_t *attrs = json_object();
    const char *name;
    json_t *cond;
    json_object_foreach(json_object_get(filters, "attributes"), name, cond)
    {
        json_t *v = json_object_get(cond, "eq");
        if (v == NULL) v = json_array_get(json_object_get(cond, "in"), 0);
        if (v == NULL) v = json_object_get(cond, "gte");
        if (v == NULL) v = json_object_get(cond, "lte");
        if (v != NULL) json_object_set(attrs, name, v);
    }
    return attrs;
}

/* The normal forms mean to the auction what the body meant. */
static void check_meaning(json_t *body, const lx_campaign_t *c)
{
    json_t *schedule = json_object_get(body, "schedule");
    json_t *hours_in = json_object_get(schedule, "hours");
    if (json_is_null(hours_in)) hours_in = NULL;
    json_t *hours = load(c->params[LX_CAMPAIGN_HOURS]);
    FUZZ_ASSERT((hours == NULL) == (hours_in == NULL));
    for (int d = 0; hours != NULL && d < 7; d++)
        for (int m = 0; m < 1440; m++)
            FUZZ_ASSERT(lx_auction_schedule_open(hours_in, d, m) == lx_auction_schedule_open(hours, d, m));
    json_decref(hours);

    json_t *filters_in = json_object_get(body, "filters");
    if (json_is_null(filters_in)) filters_in = NULL;
    json_t *filters = load(c->params[LX_CAMPAIGN_FILTERS]);
    json_t *attrs = lead_from(filters_in);
    static const char *const temps[] = {"hot", "warm", "cold"};
    for (int t = 0; t < 3; t++)
        for (int q = 0; q <= 100; q += 50) {
            lx_auction_lead_t lead = {
                .region = "RU", .webmaster_id = "w", .attributes = attrs, .quality = q, .temperature = temps[t]};
            lx_auction_lead_t bare = lead;
            bare.attributes = NULL;
            FUZZ_ASSERT(lx_auction_filters_match(filters_in, &lead) == lx_auction_filters_match(filters, &lead));
            FUZZ_ASSERT(lx_auction_filters_match(filters_in, &bare) == lx_auction_filters_match(filters, &bare));
        }
    json_decref(attrs);
    json_decref(filters);
}

/* The body with its filters and hours in normal form is accepted again, with the same parameters. */
static void check_fixed_point(json_t *body, const lx_campaign_t *c, int create)
{
    json_t *again = json_deep_copy(body);
    if (json_object_get(body, "filters") != NULL) {
        json_t *f = load(c->params[LX_CAMPAIGN_FILTERS]);
        json_object_set_new(again, "filters", f != NULL ? f : json_null());
    }
    json_t *schedule = json_object_get(again, "schedule");
    if (json_is_object(schedule) && json_object_get(schedule, "hours") != NULL) {
        json_t *h = load(c->params[LX_CAMPAIGN_HOURS]);
        json_object_set_new(schedule, "hours", h != NULL ? h : json_null());
    }
    lx_error_t err;
    lx_error_init(&err);
    lx_campaign_t c2;
    lx_status_t st = create ? lx_campaign_parse(again, &niche, regions, "RUB", &c2, &err)
                            : lx_campaign_parse_patch(again, &niche, regions, &c2, &err);
    FUZZ_ASSERT(st == LX_OK);
    FUZZ_ASSERT(c2.set == c->set);
    for (int p = 0; p < LX_CAMPAIGN__PARAMS; p++) {
        FUZZ_ASSERT((c2.params[p] == NULL) == (c->params[p] == NULL));
        if (c->params[p] != NULL) FUZZ_ASSERT(strcmp(c2.params[p], c->params[p]) == 0);
    }
    lx_campaign_dispose(&c2);
    json_decref(again);
}

static void check_accepted(json_t *body, lx_campaign_t *c, const lx_error_t *err, int create)
{
    FUZZ_ASSERT(err->nfields == 0 && err->nfields_dropped == 0);
    if (create) FUZZ_ASSERT(c->set == (1u << LX_CAMPAIGN__PARAMS) - 1);
    FUZZ_ASSERT(c->set != 0);
    int64_t px = price_of(c, LX_CAMPAIGN_PRICE_EXCLUSIVE), ps = price_of(c, LX_CAMPAIGN_PRICE_SHARED);
    if (create) FUZZ_ASSERT(px > 0 || ps > 0);
    FUZZ_ASSERT(px == c->price_exclusive && ps == c->price_shared);
    FUZZ_ASSERT(px == 0 || (px >= niche.floor_exclusive && px < LX_CAMPAIGN_MONEY_LIMIT));
    FUZZ_ASSERT(ps == 0 || (ps >= niche.floor_shared && ps < LX_CAMPAIGN_MONEY_LIMIT));
    if (c->set & (1u << LX_CAMPAIGN_REGIONS)) {
        json_t *list = json_object_get(body, "regions");
        FUZZ_ASSERT(c->params[LX_CAMPAIGN_REGIONS] != NULL);
        FUZZ_ASSERT(array_elements(c->params[LX_CAMPAIGN_REGIONS]) == (long)json_array_size(list));
        FUZZ_ASSERT(json_array_size(list) >= 1 && json_array_size(list) <= LX_CAMPAIGN_REGIONS_MAX);
    }
    if (c->set & (1u << LX_CAMPAIGN_EXCLUDE_SOURCES)) {
        FUZZ_ASSERT(c->params[LX_CAMPAIGN_EXCLUDE_SOURCES] != NULL);
        FUZZ_ASSERT(array_elements(c->params[LX_CAMPAIGN_EXCLUDE_SOURCES]) ==
                    (long)json_array_size(json_object_get(body, "exclude_sources")));
    }
    if (c->set & (1u << LX_CAMPAIGN_TZ)) {
        const char *tz = c->params[LX_CAMPAIGN_TZ];
        FUZZ_ASSERT(tz != NULL && lx_campaign_tz_syntax_valid(tz, strlen(tz)));
    }
    static const lx_campaign_param_t json_params[] = {LX_CAMPAIGN_FILTERS, LX_CAMPAIGN_HOURS};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = load(c->params[json_params[i]]);
        FUZZ_ASSERT(c->params[json_params[i]] == NULL || (json_is_object(v) && json_object_size(v) > 0));
        json_decref(v);
    }
    if (c->params[LX_CAMPAIGN_NAME] != NULL) {
        const char *name = c->params[LX_CAMPAIGN_NAME];
        size_t len = strlen(name);
        FUZZ_ASSERT(len > 0 && name[0] != ' ' && name[len - 1] != ' ');
    }
    check_meaning(body, c);
    check_fixed_point(body, c, create);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (regions == NULL) setup();
    lx_error_t err;
    lx_error_init(&err);
    json_t *body = lx_json_parse((const char *)data, size, 32, &err);
    if (body == NULL) return 0;

    lx_campaign_t c;
    lx_error_init(&err);
    lx_status_t st = lx_campaign_parse(body, &niche, regions, "RUB", &c, &err);
    if (st == LX_OK) {
        check_accepted(body, &c, &err, 1);
        lx_campaign_dispose(&c);
    } else {
        check_refused(st, &err, &c);
    }

    /* no such niche: always refused, and at /niche when the body is an object */
    lx_error_init(&err);
    st = lx_campaign_parse(body, NULL, regions, "RUB", &c, &err);
    check_refused(st, &err, &c);
    int at_niche = 0;
    for (size_t i = 0; i < err.nfields; i++) at_niche |= strcmp(err.fields[i].field, "/niche") == 0;
    FUZZ_ASSERT(at_niche || !json_is_object(body) || err.nfields_dropped > 0);

    lx_error_init(&err);
    st = lx_campaign_parse_patch(body, &niche, regions, &c, &err);
    if (st == LX_OK) {
        check_accepted(body, &c, &err, 0);
        lx_campaign_dispose(&c);
    } else {
        check_refused(st, &err, &c);
    }
    json_decref(body);
    return 0;
}
