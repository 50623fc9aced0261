/*
 * Unit tests for src/leads/quality.h: every reason alone and at the edges of
 * its grading, combinations and their order, clamping at 0 and 100, the bot
 * ceiling, temperatures on both sides of each boundary, rules that switch a
 * signal off or are invalid, the timestamp helper, and the ccTLD country of
 * an e-mail address.
 */
#include "leads/quality.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

#define SEC  INT64_C(1000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

/*
 * One row's input, column by column: fill_ms, age_ms (-1 unknown), earlier
 * leads from the IP and from the sub_id (-1: none sent), disposable,
 * phone_region_match, email_region_match (1 / 0 / -1), missing optional
 * fields, other niches, advertising consent.
 */
#define IN(fill, age, ip, sub, disp, phone, email, missing, other, adv)                                                            \
    {                                                                                                                              \
        .fill_ms = (fill), .age_ms = (age), .has_source_ip = (int64_t)(ip) >= 0,                                                   \
        .ip_recent = (int64_t)(ip) >= 0 ? (uint32_t)(ip) : 0, .has_sub_id = (int64_t)(sub) >= 0,                                   \
        .sub_id_recent = (int64_t)(sub) >= 0 ? (uint32_t)(sub) : 0, .email_disposable = (disp), .phone_region_match = (phone),     \
        .email_region_match = (email), .missing_optional = (missing), .other_niches_recent = (other), .advertising_consent = (adv) \
    }
/* A clean lead: filled in 30 s, a minute ago, nothing else from its IP or sub_id, everything in region. */
#define CLEAN_FILL (30 * SEC)
#define CLEAN_AGE  MIN

typedef struct {
    const char *name;
    lx_quality_input_t in;
    int score;
    lx_temperature_t temperature;
    const char *reasons; /* space-separated, in order; "" for none */
} case_t;

#define HOT  LX_TEMP_HOT
#define WARM LX_TEMP_WARM
#define COLD LX_TEMP_COLD

static const case_t cases[] = {
    {"clean", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 0), 100, HOT, ""},
    {"clean, nothing optional known", IN(CLEAN_FILL, CLEAN_AGE, -1, -1, 0, -1, -1, 0, 0, 0), 100, HOT, ""},

    /* fill time: under 3 s is a bot, whatever else; exactly 3 s is a person */
    {"fill 0 ms", IN(0, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 0), 20, COLD, "form_filled_too_fast"},
    {"fill 2999 ms", IN(2999, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 0), 20, COLD, "form_filled_too_fast"},
    {"fill 3000 ms", IN(3000, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 0), 100, HOT, ""},
    {"fill 2 hours", IN(2 * HOUR, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 0), 100, HOT, ""},
    {"fill unknown", IN(-1, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 0), 90, HOT, "form_fill_time_unknown"},
    {"fill and age unknown", IN(-1, -1, 0, 0, 0, 1, 1, 0, 0, 0), 90, WARM, "form_fill_time_unknown"},
    {"any negative fill is unknown", IN(-5000, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 0), 90, HOT, "form_fill_time_unknown"},

    /* IP velocity: 3 free, then -15 per doubling up to -60 */
    {"ip 3", IN(CLEAN_FILL, CLEAN_AGE, 3, 0, 0, 1, 1, 0, 0, 0), 100, HOT, ""},
    {"ip 4", IN(CLEAN_FILL, CLEAN_AGE, 4, 0, 0, 1, 1, 0, 0, 0), 85, HOT, "ip_velocity"},
    {"ip 6", IN(CLEAN_FILL, CLEAN_AGE, 6, 0, 0, 1, 1, 0, 0, 0), 85, HOT, "ip_velocity"},
    {"ip 7", IN(CLEAN_FILL, CLEAN_AGE, 7, 0, 0, 1, 1, 0, 0, 0), 70, HOT, "ip_velocity"},
    {"ip 12", IN(CLEAN_FILL, CLEAN_AGE, 12, 0, 0, 1, 1, 0, 0, 0), 70, HOT, "ip_velocity"},
    {"ip 13", IN(CLEAN_FILL, CLEAN_AGE, 13, 0, 0, 1, 1, 0, 0, 0), 55, WARM, "ip_velocity"},
    {"ip 24", IN(CLEAN_FILL, CLEAN_AGE, 24, 0, 0, 1, 1, 0, 0, 0), 55, WARM, "ip_velocity"},
    {"ip 25", IN(CLEAN_FILL, CLEAN_AGE, 25, 0, 0, 1, 1, 0, 0, 0), 40, WARM, "ip_velocity"},
    {"ip 4294967295", IN(CLEAN_FILL, CLEAN_AGE, UINT32_MAX, 0, 0, 1, 1, 0, 0, 0), 40, WARM, "ip_velocity"},

    /* sub_id velocity: 100 free, then -10 per doubling up to -30 */
    {"sub_id 100", IN(CLEAN_FILL, CLEAN_AGE, 0, 100, 0, 1, 1, 0, 0, 0), 100, HOT, ""},
    {"sub_id 101", IN(CLEAN_FILL, CLEAN_AGE, 0, 101, 0, 1, 1, 0, 0, 0), 90, HOT, "sub_id_velocity"},
    {"sub_id 200", IN(CLEAN_FILL, CLEAN_AGE, 0, 200, 0, 1, 1, 0, 0, 0), 90, HOT, "sub_id_velocity"},
    {"sub_id 201", IN(CLEAN_FILL, CLEAN_AGE, 0, 201, 0, 1, 1, 0, 0, 0), 80, HOT, "sub_id_velocity"},
    {"sub_id 400", IN(CLEAN_FILL, CLEAN_AGE, 0, 400, 0, 1, 1, 0, 0, 0), 80, HOT, "sub_id_velocity"},
    {"sub_id 401", IN(CLEAN_FILL, CLEAN_AGE, 0, 401, 0, 1, 1, 0, 0, 0), 70, HOT, "sub_id_velocity"},
    {"sub_id 1000000", IN(CLEAN_FILL, CLEAN_AGE, 0, 1000000, 0, 1, 1, 0, 0, 0), 70, HOT, "sub_id_velocity"},

    /* flags */
    {"disposable", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 1, 1, 1, 0, 0, 0), 65, WARM, "disposable_email"},
    {"phone mismatch", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 0, 1, 0, 0, 0), 75, HOT, "phone_region_mismatch"},
    {"phone unknown", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, -1, 1, 0, 0, 0), 100, HOT, ""},
    {"email mismatch", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 0, 0, 0, 0), 90, HOT, "email_region_mismatch"},
    {"email unknown", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, -1, 0, 0, 0), 100, HOT, ""},

    /* other niches: 1 free, then -10 per doubling up to -40 */
    {"other niches 1", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 1, 0), 100, HOT, ""},
    {"other niches 2", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 2, 0), 90, HOT, "contact_in_other_niches"},
    {"other niches 3", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 3, 0), 80, HOT, "contact_in_other_niches"},
    {"other niches 4", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 4, 0), 80, HOT, "contact_in_other_niches"},
    {"other niches 5", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 5, 0), 70, HOT, "contact_in_other_niches"},
    {"other niches 8", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 8, 0), 70, HOT, "contact_in_other_niches"},
    {"other niches 9", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 9, 0), 60, WARM, "contact_in_other_niches"},
    {"other niches 500", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 500, 0), 60, WARM, "contact_in_other_niches"},

    /* missing optional fields: 4 free, then -5 per doubling up to -10 */
    {"missing 4", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 4, 0, 0), 100, HOT, ""},
    {"missing 5", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 5, 0, 0), 95, HOT, "missing_optional_fields"},
    {"missing 8", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 8, 0, 0), 95, HOT, "missing_optional_fields"},
    {"missing 9", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 9, 0, 0), 90, HOT, "missing_optional_fields"},
    {"missing 40", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 40, 0, 0), 90, HOT, "missing_optional_fields"},

    /* age: hot under 15 min, warm up to 24 h, then stale (-10 per doubling up to -40) and cold */
    {"age 0", IN(CLEAN_FILL, 0, 0, 0, 0, 1, 1, 0, 0, 0), 100, HOT, ""},
    {"age 15 min - 1 ms", IN(CLEAN_FILL, 15 * MIN - 1, 0, 0, 0, 1, 1, 0, 0, 0), 100, HOT, ""},
    {"age 15 min", IN(CLEAN_FILL, 15 * MIN, 0, 0, 0, 1, 1, 0, 0, 0), 100, WARM, ""},
    {"age 24 h", IN(CLEAN_FILL, DAY, 0, 0, 0, 1, 1, 0, 0, 0), 100, WARM, ""},
    {"age 24 h + 1 ms", IN(CLEAN_FILL, DAY + 1, 0, 0, 0, 1, 1, 0, 0, 0), 90, COLD, "stale_lead"},
    {"age 48 h", IN(CLEAN_FILL, 2 * DAY, 0, 0, 0, 1, 1, 0, 0, 0), 90, COLD, "stale_lead"},
    {"age 48 h + 1 ms", IN(CLEAN_FILL, 2 * DAY + 1, 0, 0, 0, 1, 1, 0, 0, 0), 80, COLD, "stale_lead"},
    {"age 4 d + 1 ms", IN(CLEAN_FILL, 4 * DAY + 1, 0, 0, 0, 1, 1, 0, 0, 0), 70, COLD, "stale_lead"},
    {"age 8 d + 1 ms", IN(CLEAN_FILL, 8 * DAY + 1, 0, 0, 0, 1, 1, 0, 0, 0), 60, COLD, "stale_lead"},
    {"age INT64_MAX", IN(CLEAN_FILL, INT64_MAX, 0, 0, 0, 1, 1, 0, 0, 0), 60, COLD, "stale_lead"},
    {"age unknown", IN(CLEAN_FILL, -1, 0, 0, 0, 1, 1, 0, 0, 0), 100, WARM, ""},

    /* advertising consent: +5, only offsetting penalties, never lifting a bot */
    {"advertising alone", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 1), 100, HOT, ""},
    {"advertising + disposable", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 1, 1, 1, 0, 0, 1), 70, HOT, "disposable_email"},
    {"advertising + bot", IN(10, CLEAN_AGE, 0, 0, 0, 1, 1, 0, 0, 1), 20, COLD, "form_filled_too_fast"},

    /* combinations, reasons in the documented order */
    {"bot + disposable: clamped at 0", IN(1500, CLEAN_AGE, 0, 0, 1, 1, 1, 0, 0, 0), 0, COLD,
     "form_filled_too_fast disposable_email"},
    {"bot from a busy IP", IN(900, 0, 30, 0, 0, 1, 1, 0, 0, 0), 0, COLD, "form_filled_too_fast ip_velocity"},
    {"no timestamps, a typical minimal form", IN(-1, -1, -1, -1, 0, 1, -1, 7, 0, 0), 85, WARM,
     "form_fill_time_unknown missing_optional_fields"},
    {"foreign contact", IN(-1, CLEAN_AGE, 0, 0, 1, 0, 0, 0, 0, 0), 20, COLD,
     "form_fill_time_unknown disposable_email phone_region_mismatch email_region_mismatch"},
    {"resold list", IN(CLEAN_FILL, 3 * DAY, 0, 0, 0, 1, 1, 0, 6, 0), 50, COLD, "contact_in_other_niches stale_lead"},
    {"busy source", IN(CLEAN_FILL, CLEAN_AGE, 4, 101, 0, 1, 1, 0, 2, 0), 65, WARM,
     "ip_velocity sub_id_velocity contact_in_other_niches"},
    {"busy IP, agreed to ads", IN(CLEAN_FILL, CLEAN_AGE, 7, 0, 0, 1, 1, 0, 0, 1), 75, HOT, "ip_velocity"},
    {"disposable + email mismatch", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 1, 1, 0, 0, 0, 0) /* 100-35-10 = 55 */, 55, WARM,
     "disposable_email email_region_mismatch"},
    {"three flags: cold", IN(CLEAN_FILL, CLEAN_AGE, 0, 0, 1, 0, 1, 5, 0, 0), 35, COLD,
     "disposable_email phone_region_mismatch missing_optional_fields"},
    {"everything, fill unknown", IN(-1, 30 * DAY, 1000, 1000, 1, 0, 0, 100, 100, 1), 0, COLD,
     "form_fill_time_unknown ip_velocity sub_id_velocity disposable_email phone_region_mismatch email_region_mismatch "
     "contact_in_other_niches missing_optional_fields stale_lead"},
    {"everything, bot", IN(0, 30 * DAY, 1000, 1000, 1, 0, 0, 100, 100, 1), 0, COLD,
     "form_filled_too_fast ip_velocity sub_id_velocity disposable_email phone_region_mismatch email_region_mismatch "
     "contact_in_other_niches missing_optional_fields stale_lead"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* The reasons joined with single spaces. */
static void join_reasons(const lx_quality_t *q, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < q->nreasons && i < LX_QUALITY_MAX_REASONS; i++) {
        int n = snprintf(buf + pos, size - pos, "%s%s", i > 0 ? " " : "", q->reasons[i]);
        if (n < 0 || (size_t)n >= size - pos) return;
        pos += (size_t)n;
    }
}

static void check_result(const lx_quality_t *q, int score, lx_temperature_t temperature, const char *reasons)
{
    char got[1024];
    CHECK_EQ_INT(q->score, score);
    CHECK_EQ_STR(lx_temperature_name(q->temperature), lx_temperature_name(temperature));
    CHECK(q->nreasons <= LX_QUALITY_MAX_REASONS);
    join_reasons(q, got, sizeof(got));
    CHECK_EQ_STR(got, reasons);
    for (size_t i = q->nreasons; i < LX_QUALITY_MAX_REASONS; i++) CHECK(q->reasons[i] == NULL);
}

static void test_cases(void)
{
    for (size_t i = 0; i < NCASES; i++) {
        const case_t *c = &cases[i];
        CHECK_CTX("case %zu: %s", i, c->name);
        lx_quality_t q, again;
        memset(&q, 0xa5, sizeof(q)); /* the output is written completely */
        lx_quality_score(&c->in, NULL, &q);
        check_result(&q, c->score, c->temperature, c->reasons);
        /* deterministic, and NULL rules are the defaults */
        lx_quality_score(&c->in, &lx_quality_default_rules, &again);
        CHECK(memcmp(&q, &again, sizeof(q)) == 0);
        /* the headline promise: a bot is under any sensible min_quality by itself */
        if (c->in.fill_ms >= 0 && c->in.fill_ms < lx_quality_default_rules.fill_bot_below_ms) CHECK(q.score <= 20);
    }
    CHECK_CTX("%s", "");
}

/* Counts are ignored when the thing they count was not sent. */
static void test_absent_sources(void)
{
    lx_quality_input_t in;
    lx_quality_t q;
    lx_quality_input_init(&in);
    in.fill_ms = CLEAN_FILL;
    in.age_ms = CLEAN_AGE;
    in.ip_recent = 1000;     /* e.g. a count over every lead without an IP */
    in.sub_id_recent = 1000; /* over every lead without a sub_id */
    CHECK_CTX("absent IP and sub_id");
    lx_quality_score(&in, NULL, &q);
    check_result(&q, 100, HOT, "");
    in.has_source_ip = 1;
    lx_quality_score(&in, NULL, &q);
    check_result(&q, 40, WARM, "ip_velocity");
    in.has_source_ip = 0;
    in.has_sub_id = 1;
    lx_quality_score(&in, NULL, &q);
    check_result(&q, 70, HOT, "sub_id_velocity");
    CHECK_CTX("%s", "");
}

/* Temperature exactly at and next to each score boundary: one penalty set to the exact amount. */
static void test_temperature_boundaries(void)
{
    static const struct {
        int penalty;
        int64_t age_ms;
        int score;
        lx_temperature_t temperature;
    } rows[] = {
        {30, 0, 70, HOT},  {31, 0, 69, WARM},       {30, 15 * MIN - 1, 70, HOT}, {30, 15 * MIN, 70, WARM}, {60, 0, 40, WARM},
        {61, 0, 39, COLD}, {60, DAY, 40, WARM},     {0, DAY, 100, WARM},         {0, -1, 100, WARM},       {100, 0, 0, COLD},
        {0, 0, 100, HOT},  {59, 5 * MIN, 41, WARM},
    };
    lx_quality_rules_t r = lx_quality_default_rules;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        CHECK_CTX("boundary row %zu: penalty %d, age %lld ms", i, rows[i].penalty, (long long)rows[i].age_ms);
        r.disposable_email_penalty = rows[i].penalty;
        lx_quality_input_t in;
        lx_quality_input_init(&in);
        in.fill_ms = CLEAN_FILL;
        in.age_ms = rows[i].age_ms;
        in.email_disposable = 1;
        lx_quality_t q;
        lx_quality_score(&in, &r, &q);
        CHECK_EQ_INT(q.score, rows[i].score);
        CHECK_EQ_STR(lx_temperature_name(q.temperature), lx_temperature_name(rows[i].temperature));
        CHECK_EQ_INT(q.nreasons, rows[i].penalty > 0 ? 1 : 0);
    }
    CHECK_CTX("%s", "");
}

static void test_rules(void)
{
    lx_quality_input_t in;
    lx_quality_t q;
    lx_quality_rules_t r;

    /* a penalty of 0 switches its signal off: no points and no reason */
    CHECK_CTX("rules: switched off");
    r = lx_quality_default_rules;
    r.disposable_email_penalty = 0;
    r.fill_too_fast_penalty = 0;
    r.ip_velocity_step = 0;
    r.stale_step = 0;
    lx_quality_input_init(&in);
    in.fill_ms = 100;
    in.age_ms = 3 * DAY;
    in.email_disposable = 1;
    in.has_source_ip = 1;
    in.ip_recent = 50;
    lx_quality_score(&in, &r, &q);
    check_result(&q, 100, COLD, ""); /* still cold: too old to call, points or not */

    /* a limit of 0 grades from the first one */
    CHECK_CTX("rules: limit 0");
    r = lx_quality_default_rules;
    r.other_niches_max = 0;
    static const int expect[] = {100, 90, 80, 70, 70, 60, 60, 60, 60, 60};
    for (uint32_t n = 0; n < sizeof(expect) / sizeof(expect[0]); n++) {
        lx_quality_input_init(&in);
        in.fill_ms = CLEAN_FILL;
        in.age_ms = CLEAN_AGE;
        in.other_niches_recent = n;
        lx_quality_score(&in, &r, &q);
        if (!CHECK_EQ_INT(q.score, expect[n])) fprintf(stderr, "  other_niches_recent %u\n", (unsigned)n);
    }

    /* a cap that is not a multiple of the step is still the cap */
    CHECK_CTX("rules: uneven cap");
    r = lx_quality_default_rules;
    r.ip_velocity_step = 25;
    r.ip_velocity_penalty_max = 60;
    lx_quality_input_init(&in);
    in.fill_ms = CLEAN_FILL;
    in.age_ms = CLEAN_AGE;
    in.has_source_ip = 1;
    in.ip_recent = 7;
    lx_quality_score(&in, &r, &q);
    CHECK_EQ_INT(q.score, 50);
    in.ip_recent = 13;
    lx_quality_score(&in, &r, &q);
    CHECK_EQ_INT(q.score, 40);

    /* trusting arrival time for an unknown age */
    CHECK_CTX("rules: hot_when_age_unknown");
    r = lx_quality_default_rules;
    r.hot_when_age_unknown = 1;
    lx_quality_input_init(&in);
    in.fill_ms = CLEAN_FILL;
    lx_quality_score(&in, &r, &q);
    check_result(&q, 100, HOT, "");
    in.email_disposable = 1;
    lx_quality_score(&in, &r, &q);
    check_result(&q, 65, WARM, "disposable_email");

    /* a lower bot ceiling, and the bonus still cannot lift the bot */
    CHECK_CTX("rules: bot penalty 95");
    r = lx_quality_default_rules;
    r.fill_too_fast_penalty = 95;
    r.advertising_consent_bonus = 50;
    lx_quality_input_init(&in);
    in.fill_ms = 1;
    in.age_ms = 0;
    in.advertising_consent = 1;
    lx_quality_score(&in, &r, &q);
    check_result(&q, 5, COLD, "form_filled_too_fast");

    /* validation */
    CHECK_CTX("rules: check");
    const char *what = "x";
    CHECK_EQ_INT(lx_quality_rules_check(&lx_quality_default_rules, &what), 0);
    CHECK(what == NULL);
    static const struct {
        const char *name, *why;
    } bad[] = {
        {"fill_bot_below_ms", "negative"},      {"stale_after_ms", "negative"},          {"disposable_email_penalty", "0..100"},
        {"ip_velocity_penalty_max", "0..100"},  {"advertising_consent_bonus", "0..100"}, {"hot_score_min", "0..100"},
        {"cold_above_hot", "cold_score_below"}, {"hot_after_stale", "hot_age_below_ms"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("rules: bad %s", bad[i].name);
        r = lx_quality_default_rules;
        if (strcmp(bad[i].name, "fill_bot_below_ms") == 0)
            r.fill_bot_below_ms = -1;
        else if (strcmp(bad[i].name, "stale_after_ms") == 0)
            r.stale_after_ms = -1;
        else if (strcmp(bad[i].name, "disposable_email_penalty") == 0)
            r.disposable_email_penalty = 101;
        else if (strcmp(bad[i].name, "ip_velocity_penalty_max") == 0)
            r.ip_velocity_penalty_max = -1;
        else if (strcmp(bad[i].name, "advertising_consent_bonus") == 0)
            r.advertising_consent_bonus = 1000;
        else if (strcmp(bad[i].name, "hot_score_min") == 0)
            r.hot_score_min = 101;
        else if (strcmp(bad[i].name, "cold_above_hot") == 0)
            r.cold_score_below = 80;
        else
            r.hot_age_below_ms = 2 * DAY;
        what = NULL;
        CHECK_EQ_INT(lx_quality_rules_check(&r, &what), -1);
        if (CHECK(what != NULL) && !CHECK(strstr(what, bad[i].why) != NULL)) fprintf(stderr, "  what: %s\n", what);
        CHECK_EQ_INT(lx_quality_rules_check(&r, NULL), -1);
    }
    CHECK_CTX("%s", "");
}

static void test_input_helpers(void)
{
    lx_quality_input_t in;
    memset(&in, 0x5a, sizeof(in));
    lx_quality_input_init(&in);
    CHECK_EQ_INT(in.fill_ms, -1);
    CHECK_EQ_INT(in.age_ms, -1);
    CHECK_EQ_INT(in.phone_region_match, -1);
    CHECK_EQ_INT(in.email_region_match, -1);
    CHECK_EQ_INT(in.has_source_ip, 0);
    CHECK_EQ_INT(in.has_sub_id, 0);
    CHECK_EQ_INT(in.ip_recent, 0);
    CHECK_EQ_INT(in.sub_id_recent, 0);
    CHECK_EQ_INT(in.email_disposable, 0);
    CHECK_EQ_INT(in.missing_optional, 0);
    CHECK_EQ_INT(in.other_niches_recent, 0);
    CHECK_EQ_INT(in.advertising_consent, 0);
    /* an input with nothing known: only the missing timestamps cost, and it is not promised hot */
    lx_quality_t q;
    lx_quality_score(&in, NULL, &q);
    check_result(&q, 90, WARM, "form_fill_time_unknown");

    static const struct {
        int64_t started_us, submitted_us, now_us;
        int64_t fill_ms, age_ms;
    } rows[] = {
        {-1, -1, 1000000000, -1, -1},
        {1000000, 31000000, 91000000, 30000, 60000},
        {-1, 31000000, 91000000, -1, 60000},
        {1000000, -1, 91000000, -1, -1},
        {31000000, 1000000, 91000000, -1, 90000}, /* started after submitted: no fill time */
        {1000000, 1000000, 1000000, 0, 0},        /* same instant: a 0 ms fill, a bot */
        {1000000, 3999999, 5000000, 2999, 1000},  /* truncated, not rounded up past the bot limit */
        {1000000, 31000000, 1000000, 30000, 0},   /* submitted ahead of our clock: age 0, not unknown */
        {1000000, 31000000, 31000999, 30000, 0},  /* under a millisecond */
        {0, 0, 0, 0, 0},                          /* the epoch is a time like any other */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        CHECK_CTX("set_times row %zu", i);
        lx_quality_input_init(&in);
        lx_quality_input_set_times(&in, rows[i].started_us, rows[i].submitted_us, rows[i].now_us);
        CHECK_EQ_INT(in.fill_ms, rows[i].fill_ms);
        CHECK_EQ_INT(in.age_ms, rows[i].age_ms);
    }
    CHECK_CTX("%s", "");
}

static void test_temperature_names(void)
{
    CHECK_EQ_STR(lx_temperature_name(LX_TEMP_HOT), "hot");
    CHECK_EQ_STR(lx_temperature_name(LX_TEMP_WARM), "warm");
    CHECK_EQ_STR(lx_temperature_name(LX_TEMP_COLD), "cold");
    lx_temperature_t t = LX_TEMP_COLD;
    CHECK_EQ_INT(lx_temperature_parse("hot", &t), 0);
    CHECK_EQ_INT(t, LX_TEMP_HOT);
    CHECK_EQ_INT(lx_temperature_parse("warm", &t), 0);
    CHECK_EQ_INT(t, LX_TEMP_WARM);
    CHECK_EQ_INT(lx_temperature_parse("cold", &t), 0);
    CHECK_EQ_INT(t, LX_TEMP_COLD);
    static const char *const bad[] = {"HOT", "Warm", "", "hotter", "ho", " cold", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("parse \"%s\"", bad[i] ? bad[i] : "(null)");
        t = LX_TEMP_WARM;
        CHECK_EQ_INT(lx_temperature_parse(bad[i], &t), -1);
        CHECK_EQ_INT(t, LX_TEMP_WARM);
    }
    CHECK_CTX("%s", "");
}

static const struct {
    const char *email;
    const char *country; /* NULL: says nothing about a country */
} countries[] = {
    {"ivan@mail.ru", "RU"},
    {"ivan@yandex.ru", "RU"},
    {"x@mail.yandex.ru", "RU"},
    {"IVAN@MAIL.RU", "RU"},
    {"Ivan@Mail.Yandex.Ru", "RU"},
    {"olena@ukr.net", NULL}, /* Ukrainian, but on .net */
    {"olena@i.ua", "UA"},
    {"olena@meta.ua", "UA"},
    {"aigul@mail.kz", "KZ"},
    {"hans@gmx.de", "DE"},
    {"hans@web.de", "DE"},
    {"jan@wp.pl", "PL"},
    {"jan@o2.pl", "PL"},
    {"petr@seznam.cz", "CZ"},
    {"ion@yahoo.ro", "RO"},
    {"j@bbc.co.uk", "GB"},
    {"j@example.uk", "GB"},
    {"j@EXAMPLE.UK", "GB"},
    {"j@example.gb", "GB"},
    {"j@example.us", "US"},
    {"j@example.by", "BY"},
    {"j@example.com.tr", "TR"},
    {"x@gmail.com", NULL},
    {"x@example.net", NULL},
    {"x@example.org", NULL},
    {"x@startup.io", NULL},
    {"x@example.co", NULL},
    {"x@proton.me", NULL},
    {"x@example.tv", NULL},
    {"x@example.ai", NULL},
    {"x@example.su", NULL},
    {"x@example.tk", NULL},
    {"x@europa.eu", NULL},
    {"x@example.moscow", NULL},
    {"x@example.info", NULL},
    {"x@example.zz", NULL}, /* two letters no country holds */
    {"x@example.bl", NULL}, /* ISO code without a delegated TLD */
    /* IDN ccTLDs in their xn-- form */
    {"info@xn--80a1acny.xn--p1ai", "RU"}, /* почта.рф */
    {"info@EXAMPLE.XN--P1AI", "RU"},
    {"info@example.xn--j1amh", "UA"},   /* .укр */
    {"info@example.xn--80ao21a", "KZ"}, /* .қаз */
    {"info@example.xn--90ais", "BY"},   /* .бел */
    {"info@example.xn--p1acf", NULL},   /* .рус: a generic TLD */
    /* the table's ends */
    {"x@example.ae", "AE"},
    {"x@example.zw", "ZW"},
    /* not an address with a dotted domain */
    {"mail.ru", NULL},
    {"", NULL},
    {"x@", NULL},
    {"x@ru", NULL},
    {"x@.ru", NULL},
    {"x@mail.ru.", NULL},
    {"x@mail.r", NULL},
    {"a@b@gmx.de", "DE"}, /* the last @ */
    {"x@mail.ru@gmail.com", NULL},
};

static const struct {
    const char *email, *region;
    int match;
} region_matches[] = {
    {"ivan@mail.ru", "RU", 1},     {"ivan@mail.ru", "RU-MOW", 1},
    {"ivan@mail.ru", "ru-mow", 1}, {"ivan@mail.ru", "KZ", 0},
    {"ivan@mail.ru", "DE-BE", 0},  {"j@bbc.co.uk", "GB", 1},
    {"j@bbc.co.uk", "GB-LND", 1},  {"hans@web.de", "AT", 0},
    {"x@gmail.com", "RU", -1},     {"ivan@mail.ru", NULL, -1},
    {"ivan@mail.ru", "", -1},      {"ivan@mail.ru", "R", -1},
    {"ivan@mail.ru", "RUS", -1},   {NULL, "RU", -1},
    {"olena@i.ua", "UA-30", 1},
};

static void test_email_country(void)
{
    for (size_t i = 0; i < sizeof(countries) / sizeof(countries[0]); i++) {
        CHECK_CTX("country of \"%s\"", countries[i].email);
        CHECK_EQ_STR(lx_quality_email_country(countries[i].email), countries[i].country);
    }
    CHECK_CTX("country of NULL");
    CHECK(lx_quality_email_country(NULL) == NULL);
    /* a TLD longer than a DNS label is not read into the lookup buffer */
    char longtld[200] = "x@example.";
    memset(longtld + 10, 'a', 150);
    longtld[160] = '\0';
    CHECK(lx_quality_email_country(longtld) == NULL);
    for (size_t i = 0; i < sizeof(region_matches) / sizeof(region_matches[0]); i++) {
        CHECK_CTX("\"%s\" in region \"%s\"", region_matches[i].email ? region_matches[i].email : "(null)",
                  region_matches[i].region ? region_matches[i].region : "(null)");
        CHECK_EQ_INT(lx_quality_email_region_match(region_matches[i].email, region_matches[i].region), region_matches[i].match);
    }
    CHECK_CTX("%s", "");
    const char *what = NULL;
    if (!CHECK_EQ_INT(lx_quality__check_tables(&what), 0)) fprintf(stderr, "  table problem: %s\n", what);
}

/* The score of a lead whose only penalised signal is `ip_recent` earlier leads from its IP. */
static int ip_score(const lx_quality_rules_t *r, uint32_t ip_recent)
{
    lx_quality_input_t in;
    lx_quality_t q;
    lx_quality_input_init(&in);
    in.has_source_ip = 1;
    in.ip_recent = ip_recent;
    lx_quality_score(&in, r, &q);
    return q.score;
}

/* The intake counts a visitor IP's earlier leads up to the saturation only: it must be the first count whose score
 * no higher count lowers, under the defaults and under rules with other limits, steps and maxima. */
static void test_ip_velocity_saturation(void)
{
    static const struct {
        uint32_t limit;
        int step, cap;
        uint64_t want;
    } sat_cases[] = {
        {3, 15, 60, 25}, /* the defaults: 4-6, 7-12, 13-24, 25 and more */
        {0, 15, 60, 5},  /* a limit of 0 grades 1, 2, 3-4, then 5 and more */
        {1, 100, 100, 2}, {3, 5, 7, 7}, {10, 10, 10, 11}, {3, 0, 60, 0}, {3, 15, 0, 0}, {0, 1, 100, UINT64_MAX},
    };
    CHECK_EQ_INT(lx_quality_ip_velocity_saturation(NULL), 25);
    for (size_t i = 0; i < sizeof(sat_cases) / sizeof(sat_cases[0]); i++) {
        lx_quality_rules_t r = lx_quality_default_rules;
        r.ip_recent_max = sat_cases[i].limit;
        r.ip_velocity_step = sat_cases[i].step;
        r.ip_velocity_penalty_max = sat_cases[i].cap;
        CHECK_CTX("saturation case %zu", i);
        uint64_t sat = lx_quality_ip_velocity_saturation(&r);
        CHECK(sat == sat_cases[i].want);
        if (sat == UINT64_MAX) continue; /* 1 point a doubling never reaches 100 in 32 bits: count everything */
        CHECK_EQ_INT(ip_score(&r, (uint32_t)sat), ip_score(&r, UINT32_MAX));
        if (sat > 0) CHECK(ip_score(&r, (uint32_t)sat - 1) > ip_score(&r, (uint32_t)sat));
    }
    CHECK_CTX("%s", "");
}

int main(void)
{
    test_cases();
    test_absent_sources();
    test_temperature_boundaries();
    test_rules();
    test_ip_velocity_saturation();
    test_input_helpers();
    test_temperature_names();
    test_email_country();
    printf("%zu quality cases, %zu e-mail countries\n", NCASES, sizeof(countries) / sizeof(countries[0]));
    return check_summary();
}
