/*
 * Lead quality: a score 0-100, the reasons that lowered it, and a
 * temperature (hot / warm / cold), for screening pseudo-leads (pure: no I/O,
 * no clock, no allocation).
 *
 * Pseudo-leads are bots filling forms, typos, a supplier's own staff,
 * pranks, and real people whose contact is sold again and again. None of
 * them can be proven from one lead, but each leaves traces: a form filled
 * faster than a person can type, many leads from one address or one traffic
 * source within the hour, a throw-away mailbox, a phone or mailbox from
 * another country than the lead's region, a contact that turns up in many
 * niches. Each trace costs the lead points; the intake rejects a lead whose
 * score is under its niche's `min_quality` (with these reasons, so the
 * supplier can see what to fix) and the buyer sees the score of the rest.
 *
 * The score starts at 100; every signal that fires subtracts its penalty
 * and adds its reason code; the sum is clamped to 0..100. Graded signals
 * (velocity, other niches, missing fields, staleness) are free up to a limit
 * and then cost `step` points, and another `step` for each doubling past the
 * limit, up to `max`: with a limit L, (L, 2L] costs one step, (2L, 4L] two,
 * (4L, 8L] three... (a limit of 0 counts from 1). Doublings rather than a
 * price per unit, because the counts span orders of magnitude (a source with
 * 5 leads an hour and one with 500 must not both hit the cap) and because
 * the evidence grows with the ratio, not the difference: 8 leads from one IP
 * where 4 is plausible says as much as 80 where 40 is. The function is
 * deterministic: the same input and rules always give the same result, so
 * a batch decides what the same leads sent one by one would.
 *
 * Defaults (lx_quality_default_rules), with how far one signal alone takes a
 * clean lead:
 *   form filled in under 3 s            form_filled_too_fast      -80  -> 20, and never above 20
 *   no form timestamps                  form_fill_time_unknown    -10  -> 90
 *   source IP: > 3 earlier in the hour  ip_velocity               -15 per doubling, max -60 (4-6: 85, 25+: 40)
 *   sub_id: > 100 earlier in the hour   sub_id_velocity           -10 per doubling, max -30 (101-200: 90)
 *   disposable mailbox                  disposable_email          -35  -> 65
 *   phone from another country          phone_region_mismatch     -25  -> 75
 *   mailbox on another country's ccTLD  email_region_mismatch     -10  -> 90
 *   contact in > 1 other niche (30 d)   contact_in_other_niches   -10 per doubling, max -40 (2: 90, 3-4: 80)
 *   > 4 optional fields left empty      missing_optional_fields    -5 per doubling, max -10 (5-8: 95, 9+: 90)
 *   submitted more than 24 h ago        stale_lead                -10 per doubling, max -40 (24-48 h: 90)
 *   also agreed to advertising          (no reason)                +5, only offsetting penalties
 * Reasons appear in this order, at most once each.
 *
 * Temperature (speed to lead: a person called within five minutes of
 * filling in the form is many times likelier to be reached and to convert
 * than one called the next day):
 *   cold  score < 40, or submitted more than 24 h ago (the person has moved
 *         on or bought elsewhere; also every stale_lead);
 *   hot   score >= 70 and submitted less than 15 minutes ago: sold and
 *         delivered now, the buyer can still call within the golden minutes;
 *   warm  everything else, including a good lead whose submission time is
 *         unknown: "hot" is a promise about timing that only the supplier's
 *         form_submitted_at can back, and accepting it without one would
 *         make dropping the timestamps the way to get the hot price
 *         (rules.hot_when_age_unknown = 1 trusts arrival time instead).
 * Score and temperature are fixed at intake and stored with the lead. Both
 * depend on age_ms, so recomputing with the current age later (inventory
 * previews) gives the lead's current temperature.
 */
#ifndef LX_LEADS_QUALITY_H
#define LX_LEADS_QUALITY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reason codes: stable snake_case strings that appear in the API (lead
 * status, rejections) and in api/openapi.yaml. Never rename one; add new ones.
 */
#define LX_QUALITY_FORM_FILLED_TOO_FAST    "form_filled_too_fast"    /* fill time under rules.fill_bot_below_ms: a bot */
#define LX_QUALITY_FORM_FILL_TIME_UNKNOWN  "form_fill_time_unknown"  /* form_started_at or form_submitted_at not sent */
#define LX_QUALITY_IP_VELOCITY             "ip_velocity"             /* many recent leads from the visitor's IP */
#define LX_QUALITY_SUB_ID_VELOCITY         "sub_id_velocity"         /* many recent leads from the supplier's sub_id */
#define LX_QUALITY_DISPOSABLE_EMAIL        "disposable_email"        /* throw-away mailbox service */
#define LX_QUALITY_PHONE_REGION_MISMATCH   "phone_region_mismatch"   /* phone's country is not the region's */
#define LX_QUALITY_EMAIL_REGION_MISMATCH   "email_region_mismatch"   /* mailbox on another country's ccTLD */
#define LX_QUALITY_CONTACT_IN_OTHER_NICHES "contact_in_other_niches" /* same phone or e-mail in other niches lately */
#define LX_QUALITY_MISSING_OPTIONAL_FIELDS "missing_optional_fields" /* many optional fields left empty */
#define LX_QUALITY_STALE_LEAD              "stale_lead"              /* submitted long before it reached us */
/*
 * Not produced by lx_quality_score: the intake adds these itself.
 * "suppressed": the phone or e-mail belongs to a person who asked to be
 * erased or withdrew consent (the lead is rejected whatever its score);
 * "below_min_quality": the score is under the niche's min_quality (added
 * after this module's reasons, which say why).
 */
#define LX_QUALITY_SUPPRESSED        "suppressed"
#define LX_QUALITY_BELOW_MIN_QUALITY "below_min_quality"

/* lx_quality_score gives each code at most once, 9 at most (the two fill-time codes exclude each other). */
#define LX_QUALITY_MAX_REASONS 12

/*
 * The signals, gathered by the caller: some from the request, some from the
 * intake batch's database round trip. A zeroed struct is NOT "nothing
 * known" (fill_ms 0 is a bot, phone_region_match 0 a mismatch): start from
 * lx_quality_input_init. Times in milliseconds; any negative value of fill_ms
 * or age_ms means unknown (lx_quality_input_set_times fills both correctly).
 */
typedef struct st_lx_quality_input_t {
    int64_t fill_ms;              /* form_submitted_at - form_started_at; -1 when the supplier did not send both */
    int64_t age_ms;               /* now - form_submitted_at, 0 if that is a little ahead of our clock; -1 unknown */
    uint32_t ip_recent;           /* earlier leads from the same visitor IP in the velocity window, all suppliers */
    uint32_t sub_id_recent;       /* earlier leads from the same supplier + sub_id in the velocity window */
    int has_source_ip;            /* 0: ip_recent is ignored (no IP sent; NULL IPs must not count as one address) */
    int has_sub_id;               /* 0: sub_id_recent is ignored */
    int email_disposable;         /* lx_email_is_disposable */
    int phone_region_match;       /* 1 phone's country is the region's, 0 another country, -1 unknown */
    int email_region_match;       /* lx_quality_email_region_match: 1 same, 0 another country's ccTLD, -1 unknown */
    uint32_t missing_optional;    /* optional fields left empty (lx_lead_t.missing_optional) */
    uint32_t other_niches_recent; /* other niches that received the same phone or e-mail in their window */
    int advertising_consent;      /* the person also agreed to advertising */
} lx_quality_input_t;

/* Everything unknown, nothing counted: the starting point for an input (fills all of `in`). */
void lx_quality_input_init(lx_quality_input_t *in);

/*
 * Thresholds and penalties. Penalties are points (0..100) subtracted from
 * 100; a penalty or step of 0 turns its signal off (no points, no reason).
 * Graded signals: free up to `*_max` (a count, or milliseconds for age),
 * then `*_step` per doubling up to `*_penalty_max` (see the top of this file).
 */
typedef struct st_lx_quality_rules_t {
    /*
     * Bots. A person needs several seconds to type a name, a phone and an
     * e-mail even with browser autofill (focus, pick the suggestion, click
     * submit); a script posts within milliseconds of loading the page. A
     * lead filled faster than this is a bot: the penalty alone puts it under
     * any sensible min_quality, and nothing (not the advertising bonus)
     * lifts it above 100 - fill_too_fast_penalty.
     */
    int64_t fill_bot_below_ms; /* 3000 */
    int fill_too_fast_penalty; /* 80 */
    /*
     * Without both form timestamps the bot check cannot run and the lead's
     * age is unknown. A small penalty makes sending them worth a supplier's
     * while without punishing simple integrations hard.
     */
    int fill_unknown_penalty; /* 10 */
    /*
     * Velocity per visitor IP across all suppliers: a form-filling farm, a
     * supplier's staff typing leads in from the office, one prankster. A
     * household, an office or a mobile carrier's shared (CGNAT) address can
     * honestly send a few an hour, hence the free allowance and the gentle
     * grading. The IP must be the visitor's as reported by the supplier,
     * never the address of the supplier's server that calls the API.
     */
    uint32_t ip_recent_max;      /* 3 */
    int ip_velocity_step;        /* 15 */
    int ip_velocity_penalty_max; /* 60 */
    /*
     * Velocity per supplier sub_id (one traffic source: a site, a placement,
     * a sub-affiliate). A big honest source sends many leads an hour, so the
     * allowance is large and the penalty mild; a sudden flood far past it is
     * motivated or fake traffic being pushed through one channel.
     */
    uint32_t sub_id_recent_max;      /* 100 */
    int sub_id_velocity_step;        /* 10 */
    int sub_id_velocity_penalty_max; /* 30 */
    /*
     * A throw-away mailbox: the person (or bot) did not mean to be reached.
     * The phone may still be real, so this lowers the lead out of "hot"
     * rather than rejecting it outright.
     */
    int disposable_email_penalty; /* 35 */
    /*
     * The phone belongs to another country than the lead's region: a typo
     * in the country code, a lead routed to the wrong region to reach a
     * better price, or a real person abroad whom a local buyer cannot serve.
     */
    int phone_region_mismatch_penalty; /* 25 */
    /*
     * The mailbox is on another country's ccTLD. Weak evidence (emigrants
     * keep their mail.ru or seznam.cz address), so the penalty is small;
     * generic TLDs (.com, .io, .me...) say nothing and cost nothing.
     */
    int email_region_mismatch_penalty; /* 10 */
    /*
     * The same phone or e-mail reached other niches recently. One related
     * niche is normal (a car buyer wants a loan and insurance); a contact in
     * many is a list being resold, a prankster's number, or a staff member's.
     */
    uint32_t other_niches_max;    /* 1 */
    int other_niches_step;        /* 10 */
    int other_niches_penalty_max; /* 40 */
    /*
     * Optional fields left empty. Mild: many forms never ask for a company
     * or a position, but a lead with almost nothing beyond the required
     * fields tells the buyer little and comes with little consent evidence.
     */
    uint32_t missing_optional_max;    /* 4 */
    int missing_optional_step;        /* 5 */
    int missing_optional_penalty_max; /* 10 */
    /*
     * Staleness (speed to lead): a lead submitted long before it reached us
     * was held back or comes from an old database; the person may have
     * bought already. Past stale_after_ms a lead is also cold.
     */
    int64_t stale_after_ms; /* 24 h */
    int stale_step;         /* 10 */
    int stale_penalty_max;  /* 40 */
    /*
     * Agreeing to advertising too shows a person who expects and accepts
     * calls, worth a little to a buyer. A bonus only offsets penalties (the
     * score never exceeds 100) and never lifts a bot.
     */
    int advertising_consent_bonus; /* 5 */
    /* Temperature (see the top of this file). */
    int64_t hot_age_below_ms; /* 15 min */
    int hot_score_min;        /* 70 */
    int cold_score_below;     /* 40 */
    int hot_when_age_unknown; /* 0 */
    /*
     * Documentation only: the windows the caller counts ip_recent and
     * sub_id_recent (1 h) and other_niches_recent (30 days) over. The intake
     * counts over LX_INTAKE_VELOCITY_WINDOW and LX_INTAKE_OTHER_NICHES_WINDOW
     * (leads/intake.h), which must say the same.
     */
    int64_t velocity_window_ms;     /* 1 h */
    int64_t other_niches_window_ms; /* 30 days */
} lx_quality_rules_t;

extern const lx_quality_rules_t lx_quality_default_rules;

/*
 * 0 if `rules` is usable: penalties, steps, bonus and scores within 0..100,
 * times and windows not negative, cold_score_below <= hot_score_min,
 * hot_age_below_ms <= stale_after_ms. Else -1 and `what` (if not NULL) points
 * at a static description of the first problem. For rules read from
 * configuration; lx_quality_score assumes valid rules.
 */
__attribute__((warn_unused_result)) int lx_quality_rules_check(const lx_quality_rules_t *rules, const char **what);

typedef enum { LX_TEMP_HOT = 0, LX_TEMP_WARM, LX_TEMP_COLD } lx_temperature_t;

typedef struct st_lx_quality_t {
    int score; /* 0..100 */
    lx_temperature_t temperature;
    size_t nreasons;
    const char *reasons[LX_QUALITY_MAX_REASONS]; /* static strings, the LX_QUALITY_* codes above, in their order */
} lx_quality_t;

/*
 * Scores `in` under `rules` (NULL: lx_quality_default_rules) into `out`,
 * which is written completely. Never fails; `in` and `out` must not be NULL.
 */
void lx_quality_score(const lx_quality_input_t *in, const lx_quality_rules_t *rules, lx_quality_t *out);

/*
 * The smallest ip_recent for which `rules` (NULL: the defaults) charge the
 * whole ip_velocity penalty: a count of a visitor IP's earlier leads may stop
 * there, since no higher count changes a score (the intake's LIMIT, so a busy
 * address costs no more to count than a quiet one). 0 when the rules charge
 * nothing for it; UINT64_MAX when no count reaches the maximum.
 */
uint64_t lx_quality_ip_velocity_saturation(const lx_quality_rules_t *rules);

/* "hot", "warm", "cold" (the API's and the leads.temperature column's spelling). Aborts on any other value. */
const char *lx_temperature_name(lx_temperature_t t);
/* The reverse, exact lower case: 0 and *out set, or -1 for anything else (NULL included). */
__attribute__((warn_unused_result)) int lx_temperature_parse(const char *name, lx_temperature_t *out);

/*
 * Sets in->fill_ms and in->age_ms from the lead's form timestamps and the
 * current time, all Unix microseconds, a negative timestamp meaning "not
 * sent" (lx_lead_t's -1). fill_ms is -1 unless both were sent and started
 * <= submitted; age_ms is -1 when submitted was not sent and 0 when it is a
 * little ahead of `now_us` (clock skew lead parsing tolerates), so a fresh
 * lead is never mistaken for one of unknown age. Milliseconds are truncated.
 */
void lx_quality_input_set_times(lx_quality_input_t *in, int64_t form_started_us, int64_t form_submitted_us, int64_t now_us);

/*
 * The country whose ccTLD an e-mail address's domain ends in, as an upper-case
 * ISO 3166-1 alpha-2 static string ("ivan@mail.ru" -> "RU",
 * "x@mail.yandex.kz" -> "KZ", "x@bbc.co.uk" -> "GB", "x@почта.рф" in its
 * xn--p1ai form -> "RU"), or NULL when the top-level domain says nothing
 * about a country:
 *   - generic TLDs (.com, .net, .org, .info, new gTLDs such as .moscow);
 *   - ccTLDs sold worldwide as generic names (.io, .co, .me, .tv, .cc, .ws,
 *     .su, .tk...: the ones Google Search treats as generic, plus .ai, .ac,
 *     .gg and .ml/.ga/.cf/.gq, once given away free like .tk), and .eu (a
 *     union, not a country);
 *   - anything that is not an address with a dotted domain, or a two-letter
 *     TLD no country holds.
 * The domain may be in any case; `email` need not be normalised (the part
 * after the last @ is read, up to the NUL). IDN ccTLDs are recognised for the
 * region's neighbourhood (.рф .укр .қаз .бел .срб .мкд .бг .мон .հայ .გე
 * .ελ, in xn-- form); others give NULL (unknown costs nothing).
 */
const char *lx_quality_email_country(const char *email);

/*
 * email_region_match for lx_quality_input_t: 1 when the address's ccTLD
 * country (lx_quality_email_country) is `region`'s country, 0 when it is
 * another country, -1 when either is unknown. `region` is an ISO 3166-1
 * alpha-2 code or an ISO 3166-2 subdivision ("RU-MOW"), either case; NULL or
 * "" is unknown.
 */
int lx_quality_email_region_match(const char *email, const char *region);

/* Internal, for the unit test: 0 if the ccTLD table is sorted, unique and well-formed; else -1 and `what`. */
int lx_quality__check_tables(const char **what);

#endif
