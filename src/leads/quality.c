/*
 * The quality score as straight-line code: each signal in the order its
 * reason is documented, one helper for the graded penalties, then the
 * clamps and the temperature. What each rule is for and why its default is
 * what it is lives in quality.h; this file only has to apply them exactly.
 */
#include "leads/quality.h"

#include <stdlib.h>
#include <string.h>

#define MS_PER_MINUTE INT64_C(60000)
#define MS_PER_HOUR   (60 * MS_PER_MINUTE)
#define MS_PER_DAY    (24 * MS_PER_HOUR)

const lx_quality_rules_t lx_quality_default_rules = {
    .fill_bot_below_ms = 3000,
    .fill_too_fast_penalty = 80,
    .fill_unknown_penalty = 10,
    .ip_recent_max = 3,
    .ip_velocity_step = 15,
    .ip_velocity_penalty_max = 60,
    .sub_id_recent_max = 100,
    .sub_id_velocity_step = 10,
    .sub_id_velocity_penalty_max = 30,
    .disposable_email_penalty = 35,
    .phone_region_mismatch_penalty = 25,
    .email_region_mismatch_penalty = 10,
    .other_niches_max = 1,
    .other_niches_step = 10,
    .other_niches_penalty_max = 40,
    .missing_optional_max = 4,
    .missing_optional_step = 5,
    .missing_optional_penalty_max = 10,
    .stale_after_ms = MS_PER_DAY,
    .stale_step = 10,
    .stale_penalty_max = 40,
    .advertising_consent_bonus = 5,
    .hot_age_below_ms = 15 * MS_PER_MINUTE,
    .hot_score_min = 70,
    .cold_score_below = 40,
    .hot_when_age_unknown = 0,
    .velocity_window_ms = MS_PER_HOUR,
    .other_niches_window_ms = 30 * MS_PER_DAY,
};

static int points_ok(int v)
{
    return v >= 0 && v <= 100;
}

int lx_quality_rules_check(const lx_quality_rules_t *r, const char **what)
{
    const char *why = NULL;
    if (r->fill_bot_below_ms < 0 || r->stale_after_ms < 0 || r->hot_age_below_ms < 0 || r->velocity_window_ms < 0 ||
        r->other_niches_window_ms < 0)
        why = "times and windows must not be negative";
    else if (!points_ok(r->fill_too_fast_penalty) || !points_ok(r->fill_unknown_penalty) || !points_ok(r->ip_velocity_step) ||
             !points_ok(r->ip_velocity_penalty_max) || !points_ok(r->sub_id_velocity_step) ||
             !points_ok(r->sub_id_velocity_penalty_max) || !points_ok(r->disposable_email_penalty) ||
             !points_ok(r->phone_region_mismatch_penalty) || !points_ok(r->email_region_mismatch_penalty) ||
             !points_ok(r->other_niches_step) || !points_ok(r->other_niches_penalty_max) || !points_ok(r->missing_optional_step) ||
             !points_ok(r->missing_optional_penalty_max) || !points_ok(r->stale_step) || !points_ok(r->stale_penalty_max) ||
             !points_ok(r->advertising_consent_bonus))
        why = "penalties, steps and the bonus must be within 0..100";
    else if (!points_ok(r->hot_score_min) || !points_ok(r->cold_score_below))
        why = "temperature scores must be within 0..100";
    else if (r->cold_score_below > r->hot_score_min)
        why = "cold_score_below must not exceed hot_score_min";
    else if (r->hot_age_below_ms > r->stale_after_ms)
        why = "hot_age_below_ms must not exceed stale_after_ms";
    if (what != NULL) *what = why;
    return why == NULL ? 0 : -1;
}

/*
 * The graded penalty of quality.h: 0 up to `limit`; then `step` for
 * (limit, 2*limit], another for each further doubling, at most `cap`. A limit
 * of 0 grades from 1: 1 costs one step, 2 two, 3-4 three... The loop ends at
 * the cap or after at most 64 doublings, whatever the values.
 */
static int graded(uint64_t value, uint64_t limit, int step, int cap)
{
    if (value <= limit || step <= 0 || cap <= 0) return 0;
    int points = step;
    uint64_t bound = limit > 0 ? limit : 1; /* the top of the current band is 2 * bound, or 1 for a 0 limit */
    if (limit > 0) bound = bound > UINT64_MAX / 2 ? UINT64_MAX : bound * 2;
    while (value > bound && points < cap) {
        points += step;
        bound = bound > UINT64_MAX / 2 ? UINT64_MAX : bound * 2;
    }
    return points < cap ? points : cap;
}

/* The smallest value graded() charges `cap` for (0 when it charges nothing, UINT64_MAX when no value reaches the cap):
 * graded() never falls as the value grows, so a count may stop there. Walks the first values of graded()'s bands. */
static uint64_t graded_saturation(uint64_t limit, int step, int cap)
{
    if (step <= 0 || cap <= 0) return 0;
    uint64_t v = limit == UINT64_MAX ? UINT64_MAX : limit + 1; /* the first value charged */
    for (int i = 0; i < 66 && graded(v, limit, step, cap) < cap; i++) {
        if (v > UINT64_MAX / 2) return UINT64_MAX;
        v = v < 2 ? v + 1 : 2 * v - 1; /* the next band starts past twice the last one's top */
    }
    return graded(v, limit, step, cap) >= cap ? v : UINT64_MAX;
}

uint64_t lx_quality_ip_velocity_saturation(const lx_quality_rules_t *rules)
{
    const lx_quality_rules_t *r = rules != NULL ? rules : &lx_quality_default_rules;
    return graded_saturation(r->ip_recent_max, r->ip_velocity_step, r->ip_velocity_penalty_max);
}

static void add_reason(lx_quality_t *out, const char *code)
{
    if (out->nreasons >= LX_QUALITY_MAX_REASONS) abort(); /* cannot happen: each code at most once, fewer codes than slots */
    out->reasons[out->nreasons++] = code;
}

/* Subtracts `points` from *penalty and records `code`, unless the rule is off (0 points). */
static void charge(lx_quality_t *out, int *penalty, int points, const char *code)
{
    if (points <= 0) return;
    *penalty += points;
    add_reason(out, code);
}

void lx_quality_score(const lx_quality_input_t *in, const lx_quality_rules_t *rules, lx_quality_t *out)
{
    const lx_quality_rules_t *r = rules != NULL ? rules : &lx_quality_default_rules;
    memset(out, 0, sizeof(*out));
    int penalty = 0, bot = 0;

    if (in->fill_ms >= 0) {
        if (in->fill_ms < r->fill_bot_below_ms && r->fill_too_fast_penalty > 0) {
            bot = 1;
            charge(out, &penalty, r->fill_too_fast_penalty, LX_QUALITY_FORM_FILLED_TOO_FAST);
        }
    } else {
        charge(out, &penalty, r->fill_unknown_penalty, LX_QUALITY_FORM_FILL_TIME_UNKNOWN);
    }
    if (in->has_source_ip)
        charge(out, &penalty, graded(in->ip_recent, r->ip_recent_max, r->ip_velocity_step, r->ip_velocity_penalty_max),
               LX_QUALITY_IP_VELOCITY);
    if (in->has_sub_id)
        charge(out, &penalty,
               graded(in->sub_id_recent, r->sub_id_recent_max, r->sub_id_velocity_step, r->sub_id_velocity_penalty_max),
               LX_QUALITY_SUB_ID_VELOCITY);
    if (in->email_disposable) charge(out, &penalty, r->disposable_email_penalty, LX_QUALITY_DISPOSABLE_EMAIL);
    if (in->phone_region_match == 0) charge(out, &penalty, r->phone_region_mismatch_penalty, LX_QUALITY_PHONE_REGION_MISMATCH);
    if (in->email_region_match == 0) charge(out, &penalty, r->email_region_mismatch_penalty, LX_QUALITY_EMAIL_REGION_MISMATCH);
    charge(out, &penalty, graded(in->other_niches_recent, r->other_niches_max, r->other_niches_step, r->other_niches_penalty_max),
           LX_QUALITY_CONTACT_IN_OTHER_NICHES);
    charge(out, &penalty,
           graded(in->missing_optional, r->missing_optional_max, r->missing_optional_step, r->missing_optional_penalty_max),
           LX_QUALITY_MISSING_OPTIONAL_FIELDS);
    int age_known = in->age_ms >= 0;
    if (age_known)
        charge(out, &penalty, graded((uint64_t)in->age_ms, (uint64_t)r->stale_after_ms, r->stale_step, r->stale_penalty_max),
               LX_QUALITY_STALE_LEAD);

    /* Each penalty is at most 100 and there are fewer than 12, so nothing here can overflow an int. */
    int score = 100 - penalty + (in->advertising_consent ? r->advertising_consent_bonus : 0);
    if (score > 100) score = 100;
    if (score < 0) score = 0;
    if (bot && score > 100 - r->fill_too_fast_penalty)
        score = 100 - r->fill_too_fast_penalty; /* the bonus offsets other penalties, never the bot's */
    out->score = score;

    if (score < r->cold_score_below || (age_known && in->age_ms > r->stale_after_ms))
        out->temperature = LX_TEMP_COLD;
    else if (score >= r->hot_score_min && (age_known ? in->age_ms < r->hot_age_below_ms : r->hot_when_age_unknown != 0))
        out->temperature = LX_TEMP_HOT;
    else
        out->temperature = LX_TEMP_WARM;
}

const char *lx_temperature_name(lx_temperature_t t)
{
    switch (t) {
    case LX_TEMP_HOT:
        return "hot";
    case LX_TEMP_WARM:
        return "warm";
    case LX_TEMP_COLD:
        return "cold";
    }
    abort(); /* programmer error: not a temperature */
}

int lx_temperature_parse(const char *name, lx_temperature_t *out)
{
    static const lx_temperature_t all[] = {LX_TEMP_HOT, LX_TEMP_WARM, LX_TEMP_COLD};
    if (name == NULL) return -1;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(name, lx_temperature_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

void lx_quality_input_init(lx_quality_input_t *in)
{
    memset(in, 0, sizeof(*in));
    in->fill_ms = -1;
    in->age_ms = -1;
    in->phone_region_match = -1;
    in->email_region_match = -1;
}

void lx_quality_input_set_times(lx_quality_input_t *in, int64_t form_started_us, int64_t form_submitted_us, int64_t now_us)
{
    if (form_started_us >= 0 && form_submitted_us >= form_started_us)
        in->fill_ms = (form_submitted_us - form_started_us) / 1000;
    else
        in->fill_ms = -1;
    if (form_submitted_us < 0)
        in->age_ms = -1;
    else if (now_us <= form_submitted_us)
        in->age_ms = 0;
    else
        in->age_ms = (now_us - form_submitted_us) / 1000;
}

/*
 * Top-level domains that name a country, sorted by strcmp on the lower-case
 * TLD. Every two-letter TLD in the IANA root zone (as listed by the Public
 * Suffix List) is here, mapped to its ISO 3166-1 code, except:
 *   - .uk, which is GB (the ISO code; .gb exists but is not used);
 *   - ccTLDs marketed and bought worldwide as generic names, whose holders
 *     are no likelier to live in the country than anyone else: the ones
 *     Google Search treats as generic (.ad .as .bz .cc .cd .co .dj .fm .io .la
 *     .me .ms .nu .sc .sr .su .tv .tk .ws), .ai, .ac and .gg (the same
 *     fate since), and .ml .ga .cf .gq (given away free with .tk by Freenom,
 *     a favourite of spam and throw-away mailboxes);
 *   - .eu, a union of countries.
 * Two-letter codes with no delegated TLD (.bl, .bq, .eh, .mf, .um) cannot end
 * a deliverable address and are absent too. The IDN ccTLDs (in their ASCII
 * xn-- form) cover the Cyrillic, Armenian, Georgian and Greek ones near the
 * markets the exchange serves first.
 */
static const struct {
    const char *tld;
    const char *country;
} cctlds[] = {
    {"ae", "AE"},          {"af", "AF"},         {"ag", "AG"},       {"al", "AL"},        {"am", "AM"},         {"ao", "AO"},
    {"aq", "AQ"},          {"ar", "AR"},         {"at", "AT"},       {"au", "AU"},        {"aw", "AW"},         {"ax", "AX"},
    {"az", "AZ"},          {"ba", "BA"},         {"bb", "BB"},       {"bd", "BD"},        {"be", "BE"},         {"bf", "BF"},
    {"bg", "BG"},          {"bh", "BH"},         {"bi", "BI"},       {"bj", "BJ"},        {"bm", "BM"},         {"bn", "BN"},
    {"bo", "BO"},          {"br", "BR"},         {"bs", "BS"},       {"bt", "BT"},        {"bv", "BV"},         {"bw", "BW"},
    {"by", "BY"},          {"ca", "CA"},         {"cg", "CG"},       {"ch", "CH"},        {"ci", "CI"},         {"ck", "CK"},
    {"cl", "CL"},          {"cm", "CM"},         {"cn", "CN"},       {"cr", "CR"},        {"cu", "CU"},         {"cv", "CV"},
    {"cw", "CW"},          {"cx", "CX"},         {"cy", "CY"},       {"cz", "CZ"},        {"de", "DE"},         {"dk", "DK"},
    {"dm", "DM"},          {"do", "DO"},         {"dz", "DZ"},       {"ec", "EC"},        {"ee", "EE"},         {"eg", "EG"},
    {"er", "ER"},          {"es", "ES"},         {"et", "ET"},       {"fi", "FI"},        {"fj", "FJ"},         {"fk", "FK"},
    {"fo", "FO"},          {"fr", "FR"},         {"gb", "GB"},       {"gd", "GD"},        {"ge", "GE"},         {"gf", "GF"},
    {"gh", "GH"},          {"gi", "GI"},         {"gl", "GL"},       {"gm", "GM"},        {"gn", "GN"},         {"gp", "GP"},
    {"gr", "GR"},          {"gs", "GS"},         {"gt", "GT"},       {"gu", "GU"},        {"gw", "GW"},         {"gy", "GY"},
    {"hk", "HK"},          {"hm", "HM"},         {"hn", "HN"},       {"hr", "HR"},        {"ht", "HT"},         {"hu", "HU"},
    {"id", "ID"},          {"ie", "IE"},         {"il", "IL"},       {"im", "IM"},        {"in", "IN"},         {"iq", "IQ"},
    {"ir", "IR"},          {"is", "IS"},         {"it", "IT"},       {"je", "JE"},        {"jm", "JM"},         {"jo", "JO"},
    {"jp", "JP"},          {"ke", "KE"},         {"kg", "KG"},       {"kh", "KH"},        {"ki", "KI"},         {"km", "KM"},
    {"kn", "KN"},          {"kp", "KP"},         {"kr", "KR"},       {"kw", "KW"},        {"ky", "KY"},         {"kz", "KZ"},
    {"lb", "LB"},          {"lc", "LC"},         {"li", "LI"},       {"lk", "LK"},        {"lr", "LR"},         {"ls", "LS"},
    {"lt", "LT"},          {"lu", "LU"},         {"lv", "LV"},       {"ly", "LY"},        {"ma", "MA"},         {"mc", "MC"},
    {"md", "MD"},          {"mg", "MG"},         {"mh", "MH"},       {"mk", "MK"},        {"mm", "MM"},         {"mn", "MN"},
    {"mo", "MO"},          {"mp", "MP"},         {"mq", "MQ"},       {"mr", "MR"},        {"mt", "MT"},         {"mu", "MU"},
    {"mv", "MV"},          {"mw", "MW"},         {"mx", "MX"},       {"my", "MY"},        {"mz", "MZ"},         {"na", "NA"},
    {"nc", "NC"},          {"ne", "NE"},         {"nf", "NF"},       {"ng", "NG"},        {"ni", "NI"},         {"nl", "NL"},
    {"no", "NO"},          {"np", "NP"},         {"nr", "NR"},       {"nz", "NZ"},        {"om", "OM"},         {"pa", "PA"},
    {"pe", "PE"},          {"pf", "PF"},         {"pg", "PG"},       {"ph", "PH"},        {"pk", "PK"},         {"pl", "PL"},
    {"pm", "PM"},          {"pn", "PN"},         {"pr", "PR"},       {"ps", "PS"},        {"pt", "PT"},         {"pw", "PW"},
    {"py", "PY"},          {"qa", "QA"},         {"re", "RE"},       {"ro", "RO"},        {"rs", "RS"},         {"ru", "RU"},
    {"rw", "RW"},          {"sa", "SA"},         {"sb", "SB"},       {"sd", "SD"},        {"se", "SE"},         {"sg", "SG"},
    {"sh", "SH"},          {"si", "SI"},         {"sj", "SJ"},       {"sk", "SK"},        {"sl", "SL"},         {"sm", "SM"},
    {"sn", "SN"},          {"so", "SO"},         {"ss", "SS"},       {"st", "ST"},        {"sv", "SV"},         {"sx", "SX"},
    {"sy", "SY"},          {"sz", "SZ"},         {"tc", "TC"},       {"td", "TD"},        {"tf", "TF"},         {"tg", "TG"},
    {"th", "TH"},          {"tj", "TJ"},         {"tl", "TL"},       {"tm", "TM"},        {"tn", "TN"},         {"to", "TO"},
    {"tr", "TR"},          {"tt", "TT"},         {"tw", "TW"},       {"tz", "TZ"},        {"ua", "UA"},         {"ug", "UG"},
    {"uk", "GB"},          {"us", "US"},         {"uy", "UY"},       {"uz", "UZ"},        {"va", "VA"},         {"vc", "VC"},
    {"ve", "VE"},          {"vg", "VG"},         {"vi", "VI"},       {"vn", "VN"},        {"vu", "VU"},         {"wf", "WF"},
    {"xn--80ao21a", "KZ"}, {"xn--90a3ac", "RS"}, {"xn--90ae", "BG"}, {"xn--90ais", "BY"}, {"xn--d1alf", "MK"},  {"xn--j1amh", "UA"},
    {"xn--l1acc", "MN"},   {"xn--node", "GE"},   {"xn--p1ai", "RU"}, {"xn--qxam", "GR"},  {"xn--y9a3aq", "AM"}, {"ye", "YE"},
    {"yt", "YT"},          {"za", "ZA"},         {"zm", "ZM"},       {"zw", "ZW"},
};
#define CCTLD_COUNT (sizeof(cctlds) / sizeof(cctlds[0]))
#define TLD_LEN_MAX 63 /* a DNS label */

const char *lx_quality_email_country(const char *email)
{
    if (email == NULL) return NULL;
    const char *at = strrchr(email, '@');
    if (at == NULL) return NULL;
    const char *dot = strrchr(at + 1, '.');
    if (dot == NULL || dot == at + 1) /* no dot, or nothing before it: not a dotted domain */
        return NULL;
    const char *tld = dot + 1;
    size_t len = strlen(tld);
    if (len < 2 || len > TLD_LEN_MAX) return NULL;
    char key[TLD_LEN_MAX + 1];
    for (size_t i = 0; i < len; i++) {
        char c = tld[i];
        key[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    key[len] = '\0';
    size_t lo = 0, hi = CCTLD_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(key, cctlds[mid].tld);
        if (cmp == 0) return cctlds[mid].country;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

int lx_quality_email_region_match(const char *email, const char *region)
{
    const char *country = lx_quality_email_country(email);
    if (country == NULL || region == NULL) return -1;
    /* The region's country: two letters, then the end or "-subdivision". */
    if (region[0] == '\0' || region[1] == '\0' || (region[2] != '\0' && region[2] != '-')) return -1;
    return upper(region[0]) == country[0] && upper(region[1]) == country[1] ? 1 : 0;
}

int lx_quality__check_tables(const char **what)
{
    const char *why = NULL;
    for (size_t i = 0; i < CCTLD_COUNT && why == NULL; i++) {
        const char *t = cctlds[i].tld, *c = cctlds[i].country;
        size_t n = strlen(t);
        if (n < 2 || n > TLD_LEN_MAX) why = "a TLD has a bad length";
        for (size_t j = 0; j < n && why == NULL; j++)
            if (!((t[j] >= 'a' && t[j] <= 'z') || (t[j] >= '0' && t[j] <= '9') || t[j] == '-'))
                why = "a TLD is not a lower-case ASCII label";
        if (why == NULL && n != 2 && strncmp(t, "xn--", 4) != 0) why = "a TLD longer than two letters is not an IDN";
        if (why == NULL && (strlen(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z'))
            why = "a country is not two upper-case letters";
        if (why == NULL && i > 0 && strcmp(cctlds[i - 1].tld, t) >= 0) why = "the TLDs are not sorted and unique";
    }
    if (what != NULL) *what = why;
    return why == NULL ? 0 : -1;
}
