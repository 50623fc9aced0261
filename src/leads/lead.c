#include "leads/lead.h"
#include "leads/attrs.h"
#include "util/json.h"
#include "util/time.h"

#include <arpa/inet.h>
#include <string.h>

static const char *const sale_modes[] = {"any", "exclusive", "shared", NULL};

const char *lx_sale_mode_name(lx_sale_mode_t m)
{
    return sale_modes[m];
}

const char *lx_lead_niche_slug(json_t *lead)
{
    json_t *v = json_is_object(lead) ? json_object_get(lead, "niche") : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Next code point of valid UTF-8 (the JSON parser guarantees validity). */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (n == 2)
        c = ((c & 0x1f) << 6) | (s[1] & 0x3f);
    else if (n == 3)
        c = ((c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    else if (n == 4)
        c = ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) | ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    *p = s + n;
    return c;
}

/* Decimal digits of other scripts (Unicode Nd outside ASCII): a name with digits is a bot or a prank. */
static const uint32_t other_digits[][2] = {
    {0x0660, 0x0669}, {0x06f0, 0x06f9}, {0x07c0, 0x07c9}, {0x0966, 0x096f}, {0x09e6, 0x09ef}, {0x0a66, 0x0a6f},
    {0x0ae6, 0x0aef}, {0x0b66, 0x0b6f}, {0x0be6, 0x0bef}, {0x0c66, 0x0c6f}, {0x0ce6, 0x0cef}, {0x0d66, 0x0d6f},
    {0x0de6, 0x0def}, {0x0e50, 0x0e59}, {0x0ed0, 0x0ed9}, {0x0f20, 0x0f29}, {0x1040, 0x1049}, {0x1090, 0x1099},
    {0x17e0, 0x17e9}, {0x1810, 0x1819}, {0x1946, 0x194f}, {0x19d0, 0x19d9}, {0x1a80, 0x1a89}, {0x1a90, 0x1a99},
    {0x1b50, 0x1b59}, {0x1bb0, 0x1bb9}, {0x1c40, 0x1c49}, {0x1c50, 0x1c59}, {0xa620, 0xa629}, {0xa8d0, 0xa8d9},
    {0xa900, 0xa909}, {0xa9d0, 0xa9d9}, {0xa9f0, 0xa9f9}, {0xaa50, 0xaa59}, {0xabf0, 0xabf9}, {0xff10, 0xff19},
};

/* Characters that render as nothing: a name made of them looks filled in and is not. */
static int invisible(uint32_t c)
{
    return c == 0x00ad || c == 0x034f || c == 0x061c || c == 0x115f || c == 0x1160 || c == 0x17b4 || c == 0x17b5 || c == 0x180e ||
           c == 0x3164 || c == 0xfeff || c == 0xffa0 || (c >= 0x2000 && c <= 0x206f);
}

/* Combining marks accent a letter; alone they are not one. */
static int combining(uint32_t c)
{
    return (c >= 0x0300 && c <= 0x036f) || (c >= 0x1ab0 && c <= 0x1aff) || (c >= 0x1dc0 && c <= 0x1dff) ||
           (c >= 0xfe20 && c <= 0xfe2f);
}

/* Letters of any script, combining marks, spaces and the punctuation names really carry. */
static int name_char_ok(uint32_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' ' || c == '-' || c == '\'' || c == '.') return 1;
    if (c < 0xc0) return c == 0xb7;                                         /* middle dot (Catalan) */
    if (c == 0xd7 || c == 0xf7) return 0;                                   /* multiplication and division signs */
    if (c == 0x2019 || c == 0x2010 || c == 0x2011 || c == 0x02bc) return 1; /* typographic apostrophes and hyphens */
    if (invisible(c) || (c >= 0x2000 && c <= 0x2bff))
        return 0; /* general punctuation, symbols, arrows, technical, box drawing, dingbats */
    if ((c >= 0x3000 && c <= 0x303f) || (c >= 0xe000 && c <= 0xf8ff) || (c >= 0xfe00 && c <= 0xfe0f) ||
        (c >= 0xfff0 && c <= 0xffff) || c >= 0x1f000)
        return 0; /* CJK punctuation, private use, variation selectors, specials, emoji and pictographs */
    for (size_t i = 0; i < sizeof(other_digits) / sizeof(other_digits[0]); i++)
        if (c >= other_digits[i][0] && c <= other_digits[i][1]) return 0;
    return 1;
}

/* A trimmed, non-empty, capped text member; returns a new JSON string or NULL (absent or invalid). */
enum { TEXT_PLAIN = 0, TEXT_NAME = 1, TEXT_MULTILINE = 2 };

/* A string member that may hold line breaks and tabs (text copied from a web page), but no other control character. */
static int multiline_member(json_t *obj, const char *ptr, const char *key, unsigned flags, size_t max_bytes, const char **out,
                            lx_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || (json_is_null(v) && (flags & LX_JF_NULLABLE))) {
        if (flags & LX_JF_REQUIRED) lx_error_field(err, ptr, "is required");
        return 0;
    }
    if (!json_is_string(v)) {
        lx_error_field(err, ptr, "must be a string");
        return -1;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len > max_bytes) {
        lx_error_field(err, ptr, "is too long");
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') || s[i] == 0x7f) {
            lx_error_field(err, ptr, "must not contain control characters other than line breaks and tabs");
            return -1;
        }
    *out = s;
    return 1;
}

static json_t *text_member(json_t *obj, const char *base, const char *key, unsigned flags, size_t max_chars, int mode,
                           lx_error_t *err)
{
    const char *s;
    char ptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(ptr, base, key);
    int name_rules = mode == TEXT_NAME;
    int rc = mode == TEXT_MULTILINE ? multiline_member(obj, ptr, key, flags, max_chars * 4, &s, err)
                                    : lx_json_string(obj, base, key, flags, 0, max_chars * 4, &s, err);
    if (rc != 1) return NULL;
    size_t len = strlen(s);
    lx_text_trim(&s, &len);
    size_t chars = lx_utf8_length(s, len);
    if (chars == 0) {
        lx_error_field(err, ptr, "must not be empty");
        return NULL;
    }
    if (chars > max_chars) {
        lx_error_field(err, ptr, "must be at most %zu characters long", max_chars);
        return NULL;
    }
    if (name_rules) {
        const unsigned char *p = (const unsigned char *)s, *end = p + len;
        int letters = 0;
        while (p < end) {
            uint32_t c = next_cp(&p);
            if (!name_char_ok(c)) {
                lx_error_field(err, ptr, "must contain only letters, spaces, hyphens, apostrophes and periods");
                return NULL;
            }
            letters += c != ' ' && c != '-' && c != '\'' && c != '.' && !combining(c);
        }
        if (letters == 0) {
            lx_error_field(err, ptr, "must contain letters");
            return NULL;
        }
    }
    return json_stringn(s, len);
}

/* RFC 3339, not in the future; returns 1 and sets *us, 0 when absent, -1 when invalid. */
static int time_member(json_t *obj, const char *base, const char *key, unsigned flags, int64_t now_us, int64_t *us, lx_error_t *err)
{
    const char *s;
    char ptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(ptr, base, key);
    int rc = lx_json_string(obj, base, key, flags, 1, 40, &s, err);
    if (rc != 1) return rc;
    if (lx_ts_parse_rfc3339(s, strlen(s), us) != 0) {
        lx_error_field(err, ptr, "must be an RFC 3339 date-time such as 2026-11-23T10:00:00Z");
        return -1;
    }
    if (*us > now_us + LX_LEAD_SKEW_US) {
        lx_error_field(err, ptr, "must not be in the future");
        return -1;
    }
    if (*us < INT64_C(946684800) * 1000000) {
        lx_error_field(err, ptr, "must not be before 2000-01-01");
        return -1;
    }
    return 1;
}

static int ip_member(json_t *obj, const char *base, const char *key, char out[64], lx_error_t *err)
{
    const char *s;
    char ptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(ptr, base, key);
    int rc = lx_json_string(obj, base, key, 0, 1, 45, &s, err);
    if (rc != 1) return rc;
    unsigned char buf[16];
    if (inet_pton(AF_INET, s, buf) == 1) {
        inet_ntop(AF_INET, buf, out, 64);
        return 1;
    }
    if (inet_pton(AF_INET6, s, buf) == 1) {
        inet_ntop(AF_INET6, buf, out, 64);
        return 1;
    }
    lx_error_field(err, ptr, "must be an IPv4 or IPv6 address");
    return -1;
}

static int url_member(json_t *obj, const char *base, const char *key, lx_error_t *err)
{
    const char *s;
    char ptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(ptr, base, key);
    int rc = lx_json_string(obj, base, key, 0, 1, LX_LEAD_URL_MAX, &s, err);
    if (rc != 1) return rc;
    size_t scheme = strncmp(s, "https://", 8) == 0 ? 8 : strncmp(s, "http://", 7) == 0 ? 7 : 0;
    int ok = scheme != 0 && s[scheme] != '\0' && s[scheme] != '/';
    for (const char *p = s; ok && *p != '\0'; p++) ok = *p != ' ' && *p != '"' && *p != '<' && *p != '>' && *p != '\\';
    if (!ok) {
        lx_error_field(err, ptr, "must be an absolute http or https URL");
        return -1;
    }
    return 1;
}

/* Token-like identifiers from trackers: printable ASCII without spaces. */
static int token_member(json_t *obj, const char *base, const char *key, size_t max, const char **out, lx_error_t *err)
{
    char ptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(ptr, base, key);
    int rc = lx_json_string(obj, base, key, 0, 1, max, out, err);
    if (rc != 1) return rc;
    for (const char *p = *out; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f) {
            lx_error_field(err, ptr, "must be printable ASCII without spaces");
            return -1;
        }
    return 1;
}

static void set_time(json_t *obj, const char *key, int64_t us)
{
    char ts[LX_TS_LEN + 1];
    lx_ts_format_us(us, ts);
    json_object_set_new(obj, key, json_string(ts));
}

static void parse_contact(json_t *lead, const char *base, lx_lead_t *out, lx_error_t *err)
{
    char cbase[LX_JSON_POINTER_MAX];
    lx_json_pointer(cbase, base, "contact");
    json_t *c = json_object_get(lead, "contact");
    if (c == NULL) {
        lx_error_field(err, cbase, "is required");
        return;
    }
    if (lx_json_expect_object(c, cbase, err) != 0) return;
    static const char *const allowed[] = {"name", "phone", "email", "company", "position", NULL};
    lx_json_reject_unknown(c, cbase, allowed, err);
    json_t *name = text_member(c, cbase, "name", LX_JF_REQUIRED, LX_LEAD_NAME_MAX, TEXT_NAME, err);
    json_t *company = text_member(c, cbase, "company", LX_JF_NULLABLE, LX_LEAD_TEXT_MAX, TEXT_PLAIN, err);
    json_t *position = text_member(c, cbase, "position", LX_JF_NULLABLE, LX_LEAD_TEXT_MAX, TEXT_PLAIN, err);
    out->missing_optional += (company == NULL) + (position == NULL);

    char ptr[LX_JSON_POINTER_MAX];
    const char *s, *reason = NULL;
    lx_json_pointer(ptr, cbase, "phone");
    if (lx_json_string(c, cbase, "phone", LX_JF_REQUIRED, 1, LX_PHONE_INPUT_LEN_MAX, &s, err) == 1 &&
        lx_phone_normalize(s, strlen(s), out->region_country[0] ? out->region_country : NULL, out->phone, out->phone_country,
                           &reason) != 0)
        lx_error_field(err, ptr, "%s", reason);
    lx_json_pointer(ptr, cbase, "email");
    if (lx_json_string(c, cbase, "email", LX_JF_REQUIRED, 1, LX_EMAIL_INPUT_LEN_MAX, &s, err) == 1) {
        if (lx_email_normalize(s, strlen(s), out->email, sizeof(out->email), &reason) != 0) {
            lx_error_field(err, ptr, "%s", reason);
        } else {
            lx_email_canonical(out->email, out->email_canon, sizeof(out->email_canon));
            out->email_disposable = lx_email_is_disposable(out->email);
        }
    }
    if (name != NULL && out->phone[0] != '\0' && out->email[0] != '\0') {
        out->contact = json_pack("{s:O, s:s, s:s}", "name", name, "phone", out->phone, "email", out->email);
        /* Every member present (null when not given): the stored and answered shape never varies. */
        json_object_set_new(out->contact, "company", company != NULL ? json_incref(company) : json_null());
        json_object_set_new(out->contact, "position", position != NULL ? json_incref(position) : json_null());
    }
    json_decref(name);
    json_decref(company);
    json_decref(position);
}

static void parse_consent(json_t *lead, const char *base, int64_t now_us, lx_lead_t *out, lx_error_t *err)
{
    char cbase[LX_JSON_POINTER_MAX];
    lx_json_pointer(cbase, base, "consent");
    json_t *c = json_object_get(lead, "consent");
    if (c == NULL) {
        lx_error_field(err, cbase, "is required");
        return;
    }
    if (lx_json_expect_object(c, cbase, err) != 0) return;
    static const char *const allowed[] = {"text", "given_at", "ip", "user_agent", "page_url", "personal_data", "advertising", NULL};
    size_t before = err->nfields;
    lx_json_reject_unknown(c, cbase, allowed, err);
    json_t *text = text_member(c, cbase, "text", LX_JF_REQUIRED, LX_LEAD_CONSENT_MAX, TEXT_MULTILINE, err);
    int personal = 0, advertising = 0;
    char ptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(ptr, cbase, "personal_data");
    if (lx_json_bool(c, cbase, "personal_data", LX_JF_REQUIRED, &personal, err) == 1 && !personal)
        lx_error_field(err, ptr, "must be true: a lead without consent to process personal data cannot be accepted");
    if (lx_json_bool(c, cbase, "advertising", 0, &advertising, err) == 0) out->missing_optional++;
    out->advertising_consent = advertising;
    int64_t given = 0;
    time_member(c, cbase, "given_at", LX_JF_REQUIRED, now_us, &given, err);
    char ip[64] = "";
    int has_ip = ip_member(c, cbase, "ip", ip, err);
    const char *ua = NULL;
    int has_ua = lx_json_string(c, cbase, "user_agent", 0, 1, 1000, &ua, err);
    int has_page = url_member(c, cbase, "page_url", err);
    out->missing_optional += (has_ip == 0) + (has_ua == 0) + (has_page == 0);
    if (err->nfields == before && text != NULL) {
        out->consent_given_us = given;
        out->consent = json_pack("{s:O, s:b, s:b}", "text", text, "personal_data", 1, "advertising", advertising);
        set_time(out->consent, "given_at", given);
        json_object_set_new(out->consent, "ip", has_ip == 1 ? json_string(ip) : json_null());
        json_object_set_new(out->consent, "user_agent", has_ua == 1 ? json_string(ua) : json_null());
        json_object_set_new(out->consent, "page_url", has_page == 1 ? json_incref(json_object_get(c, "page_url")) : json_null());
    }
    json_decref(text);
}

static void parse_source(json_t *lead, const char *base, int64_t now_us, lx_lead_t *out, lx_error_t *err)
{
    char sbase[LX_JSON_POINTER_MAX];
    lx_json_pointer(sbase, base, "source");
    json_t *s = json_object_get(lead, "source");
    out->form_started_us = out->form_submitted_us = -1;
    out->source = json_pack("{s:n, s:n, s:n, s:n, s:n, s:n}", "sub_id", "click_id", "landing_url", "ip", "form_started_at",
                            "form_submitted_at"); /* every member present, null when not given */
    if (s == NULL || json_is_null(s)) {
        out->missing_optional += 6;
        return;
    }
    if (lx_json_expect_object(s, sbase, err) != 0) return;
    static const char *const allowed[] = {"sub_id", "click_id", "landing_url", "ip", "form_started_at", "form_submitted_at", NULL};
    lx_json_reject_unknown(s, sbase, allowed, err);
    const char *sub_id = NULL, *click_id = NULL;
    int has_sub = token_member(s, sbase, "sub_id", 64, &sub_id, err);
    int has_click = token_member(s, sbase, "click_id", 255, &click_id, err);
    int has_landing = url_member(s, sbase, "landing_url", err);
    int has_ip = ip_member(s, sbase, "ip", out->source_ip, err);
    int64_t started = -1, submitted = -1;
    int has_started = time_member(s, sbase, "form_started_at", 0, now_us, &started, err);
    int has_submitted = time_member(s, sbase, "form_submitted_at", 0, now_us, &submitted, err);
    if (has_started == 1 && has_submitted == 1 && started > submitted) {
        char ptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(ptr, sbase, "form_started_at");
        lx_error_field(err, ptr, "must not be later than form_submitted_at");
    }
    out->missing_optional +=
        (has_sub == 0) + (has_click == 0) + (has_landing == 0) + (has_ip == 0) + (has_started == 0) + (has_submitted == 0);
    if (has_sub == 1) {
        out->sub_id = sub_id;
        json_object_set_new(out->source, "sub_id", json_string(sub_id));
    }
    if (has_click == 1) json_object_set_new(out->source, "click_id", json_string(click_id));
    if (has_landing == 1) json_object_set_new(out->source, "landing_url", json_incref(json_object_get(s, "landing_url")));
    if (has_ip == 1) json_object_set_new(out->source, "ip", json_string(out->source_ip));
    if (has_started == 1) {
        out->form_started_us = started;
        set_time(out->source, "form_started_at", started);
    }
    if (has_submitted == 1) {
        out->form_submitted_us = submitted;
        set_time(out->source, "form_submitted_at", submitted);
    }
}

lx_status_t lx_lead_parse(json_t *lead, const char *base, const lx_niche_t *niche, const lx_regions_t *regions, int64_t now_us,
                          lx_lead_t *out, lx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    size_t before = err->nfields + err->nfields_dropped;
    if (lx_json_expect_object(lead, base, err) != 0) return lx_error_set(err, LX_ERR_VALIDATION, "The lead must be a JSON object.");
    static const char *const allowed[] = {"niche", "region", "sale_mode", "contact", "attributes", "consent", "source", NULL};
    lx_json_reject_unknown(lead, base, allowed, err);

    char ptr[LX_JSON_POINTER_MAX];
    const char *slug;
    lx_json_pointer(ptr, base, "niche");
    if (lx_json_string(lead, base, "niche", LX_JF_REQUIRED, 1, LX_NICHE_SLUG_MAX * 4, &slug, err) == 1) {
        if (niche == NULL)
            lx_error_field(err, ptr, "is not a niche of this exchange");
        else if (niche->status != LX_NICHE_ACTIVE)
            lx_error_field(err, ptr, "is %s and takes no leads", lx_niche_status_name(niche->status));
    }
    const char *region;
    lx_json_pointer(ptr, base, "region");
    if (lx_json_string(lead, base, "region", LX_JF_REQUIRED, 2, LX_REGION_CODE_MAX, &region, err) == 1) {
        if (!lx_regions_exists(regions, region, strlen(region))) {
            lx_error_field(err, ptr, "is not an ISO 3166 region code in the catalogue");
        } else {
            strcpy(out->region, region);
            memcpy(out->region_country, region, 2);
        }
    }
    int mode = 0;
    lx_json_enum(lead, base, "sale_mode", 0, sale_modes, &mode, err);
    out->sale_mode = (lx_sale_mode_t)mode;

    parse_contact(lead, base, out, err);
    parse_consent(lead, base, now_us, out, err);
    parse_source(lead, base, now_us, out, err);

    char abase[LX_JSON_POINTER_MAX];
    lx_json_pointer(abase, base, "attributes");
    json_t *attrs = json_object_get(lead, "attributes");
    if (attrs != NULL && json_is_null(attrs)) attrs = NULL;
    lx_status_t attrs_status = LX_OK;
    if (niche != NULL) {
        attrs_status = lx_attrs_validate(niche->attributes, attrs, abase, err);
        if (attrs_status == LX_OK) out->missing_optional += (unsigned)lx_attrs_count_missing_optional(niche->attributes, attrs);
    } else if (attrs != NULL && !json_is_object(attrs)) {
        lx_error_field(err, abase, "must be an object");
    }
    out->attributes = attrs != NULL ? json_deep_copy(attrs) : json_object();

    if (attrs_status != LX_OK || err->nfields + err->nfields_dropped != before || out->contact == NULL || out->consent == NULL) {
        lx_lead_dispose(out);
        if (attrs_status == LX_ERR_INTERNAL) /* a damaged stored schema is the server's fault, not the lead's */
            return lx_error_set(err, LX_ERR_INTERNAL, "The niche's attribute schema is damaged.");
        if (err->nfields == 0) lx_error_field(err, base, "is not a valid lead");
        return lx_error_set(err, LX_ERR_VALIDATION, "The lead is not valid.");
    }
    return LX_OK;
}

void lx_lead_dispose(lx_lead_t *lead)
{
    json_decref(lead->contact);
    json_decref(lead->attributes);
    json_decref(lead->consent);
    json_decref(lead->source);
    lead->contact = lead->attributes = lead->consent = lead->source = NULL;
}
