/*
 * Unit tests for src/http/problem.h and src/util/error.h: a rendered
 * problem+json body parsed back with Jansson member by member; escaping of
 * quotes, backslashes, control characters and invalid UTF-8 (the output is
 * always valid JSON and valid UTF-8, bad bytes become U+FFFD) in detail,
 * field, message and request id; truncation inside a multi-byte character;
 * the LX_ERROR_MAX_FIELDS cap and its "N more errors not shown" entry; the
 * status table (distinct non-empty codes, 4xx/5xx for every error).
 */
#include "http/problem.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <string.h>

#include "check.h"

#define RID "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"

/* Renders and parses; NULL (and a failed check) if the output is not a JSON object or not valid UTF-8. */
static json_t *render_parse(const lx_error_t *err, const char *request_id)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_problem_render(err, request_id, &sb);
    CHECK(!sb.overflow);
    CHECK(lx_utf8_valid(sb.base, sb.len));
    json_error_t jerr;
    json_t *j = json_loadb(sb.base, sb.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!CHECK(j != NULL && json_is_object(j))) fprintf(stderr, "  output: %s\n  jansson: %s\n", sb.base, jerr.text);
    lx_strbuf_free(&sb);
    return j;
}

static const char *str_member(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_render_members(void)
{
    lx_error_t err;
    lx_error_init(&err);
    lx_error_field(&err, "/name", "is required");
    lx_error_field(&err, "/currency", "must be exactly %d characters long", 3);
    CHECK_EQ_INT(lx_error_set(&err, LX_ERR_VALIDATION, "The account is not valid."), LX_ERR_VALIDATION);
    CHECK_EQ_INT(err.nfields, 2); /* set keeps the fields */
    json_t *j = render_parse(&err, RID);
    if (j == NULL) return;
    CHECK_EQ_INT(json_object_size(j), 7);
    const char *type = str_member(j, "type");
    CHECK_EQ_STR(type, LX_PROBLEM_TYPE_BASE "validation_failed");
    const char *code = str_member(j, "code");
    CHECK_EQ_STR(code, "validation_failed");
    if (type != NULL && code != NULL && strlen(type) >= strlen(code)) CHECK_EQ_STR(type + strlen(type) - strlen(code), code);
    CHECK_EQ_STR(str_member(j, "title"), "Validation failed");
    CHECK(json_is_integer(json_object_get(j, "status")));
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), lx_status_http(LX_ERR_VALIDATION));
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 422);
    CHECK_EQ_STR(str_member(j, "detail"), "The account is not valid.");
    CHECK_EQ_STR(str_member(j, "request_id"), RID);
    json_t *errors = json_object_get(j, "errors");
    if (CHECK(json_is_array(errors)) && CHECK_EQ_INT(json_array_size(errors), 2)) {
        json_t *e0 = json_array_get(errors, 0), *e1 = json_array_get(errors, 1);
        CHECK_EQ_INT(json_object_size(e0), 2);
        CHECK_EQ_STR(str_member(e0, "field"), "/name");
        CHECK_EQ_STR(str_member(e0, "message"), "is required");
        CHECK_EQ_STR(str_member(e1, "field"), "/currency");
        CHECK_EQ_STR(str_member(e1, "message"), "must be exactly 3 characters long");
    }
    json_decref(j);

    /* no fields, empty detail -> title; every status renders its own code and HTTP status */
    for (int s = 0; s < LX_STATUS__COUNT; s++) {
        CHECK_CTX("status %d", s);
        lx_error_init(&err);
        err.status = (lx_status_t)s;
        j = render_parse(&err, "");
        if (j == NULL) continue;
        CHECK_EQ_STR(str_member(j, "detail"), lx_status_title((lx_status_t)s));
        CHECK_EQ_STR(str_member(j, "code"), lx_status_code((lx_status_t)s));
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), lx_status_http((lx_status_t)s));
        CHECK_EQ_STR(str_member(j, "request_id"), "");
        CHECK(json_is_array(json_object_get(j, "errors")) && json_array_size(json_object_get(j, "errors")) == 0);
        json_decref(j);
    }
    CHECK_CTX("%s", "");
}

static void test_escaping(void)
{
    static const struct {
        const char *what, *in, *want;
    } cases[] = {
        {"plain", "hello", "hello"},
        {"quote and backslash", "say \"hi\" \\ bye", "say \"hi\" \\ bye"},
        {"newline, tab, CR", "a\nb\tc\rd", "a\nb\tc\rd"},
        {"C0 controls", "\x01\x08\x0c\x1f", "\x01\x08\x0c\x1f"},
        {"DEL",
         "a\x7f"
         "b",
         "a\x7f"
         "b"},
        {"valid 2/3/4-byte", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"lone 0xff",
         "a\xff"
         "b",
         "a\xef\xbf\xbd"
         "b"},
        {"lone continuation", "\x80", "\xef\xbf\xbd"},
        {"truncated 2-byte at end", "ab\xc3", "ab\xef\xbf\xbd"},
        {"truncated then valid", "\xc3\xc3\xa9", "\xef\xbf\xbd\xc3\xa9"},
        {"overlong '/'", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
        {"overlong 3-byte", "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"surrogate", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"above U+10FFFF", "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"truncated 4-byte", "x\xf0\x9f\x98", "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"quote after bad byte", "\xfe\"", "\xef\xbf\xbd\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("%s", cases[i].what);
        lx_error_t err;
        lx_error_init(&err);
        lx_error_field(&err, cases[i].in, "%s", cases[i].in);
        lx_error_set(&err, LX_ERR_MALFORMED_JSON, "%s", cases[i].in);
        json_t *j = render_parse(&err, cases[i].in);
        if (j == NULL) continue;
        CHECK_EQ_STR(str_member(j, "detail"), cases[i].want);
        CHECK_EQ_STR(str_member(j, "request_id"), cases[i].want);
        json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
        CHECK_EQ_STR(str_member(e0, "field"), cases[i].want);
        CHECK_EQ_STR(str_member(e0, "message"), cases[i].want);
        json_decref(j);
    }
    CHECK_CTX("%s", "");

    /* The exact bytes for a few escapes (JSON allows several spellings; we pin ours). */
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1024);
    lx_strbuf_append_json_string(&sb, "\"\\\n\x01\xff", 5);
    CHECK_EQ_STR(sb.base, "\"\\\"\\\\\\n\\u0001\\ufffd\"");
    lx_strbuf_free(&sb);
}

/* lx_error_set truncates with snprintf, possibly inside a UTF-8 sequence; the body stays valid. Fields and
 * messages are cut at a character boundary. */
static void test_truncation(void)
{
    char longmsg[LX_ERROR_FIELD_LEN + 600];
    memset(longmsg, 'a', sizeof(longmsg));
    /* put 2-byte characters across every truncation point (field 127, message 191, detail 255 bytes kept) */
    for (size_t i = 1; i + 1 < sizeof(longmsg); i += 2) longmsg[i] = (char)0xc3, longmsg[i + 1] = (char)0xa9;
    longmsg[sizeof(longmsg) - 1] = '\0';
    for (int shift = 0; shift < 2; shift++) {
        CHECK_CTX("shift %d", shift);
        lx_error_t err;
        lx_error_init(&err);
        lx_error_field(&err, longmsg + shift, "%s", longmsg + shift);
        lx_error_set(&err, LX_ERR_VALIDATION, "%s", longmsg + shift);
        CHECK_EQ_INT(strlen(err.detail), LX_ERROR_DETAIL_LEN - 1);
        size_t flen = strlen(err.fields[0].field);
        CHECK(flen >= LX_ERROR_FIELD_LEN - 2 && flen <= LX_ERROR_FIELD_LEN - 1);
        CHECK(lx_utf8_valid(err.fields[0].field, flen));
        size_t mlen = strlen(err.fields[0].message);
        CHECK(mlen >= LX_ERROR_MESSAGE_LEN - 2 && mlen <= LX_ERROR_MESSAGE_LEN - 1);
        CHECK(lx_utf8_valid(err.fields[0].message, mlen));
        json_t *j = render_parse(&err, RID);
        json_decref(j);
    }
    CHECK_CTX("%s", "");
}

static void test_field_cap(void)
{
    lx_error_t err;
    lx_error_init(&err);
    for (int i = 0; i < LX_ERROR_MAX_FIELDS + 4; i++) lx_error_field(&err, "/items", "bad item %d", i);
    CHECK_EQ_INT(err.nfields, LX_ERROR_MAX_FIELDS);
    CHECK_EQ_INT(err.nfields_dropped, 4);
    CHECK_EQ_STR(err.fields[LX_ERROR_MAX_FIELDS - 1].message, "bad item 15");
    lx_error_set(&err, LX_ERR_VALIDATION, "many");
    json_t *j = render_parse(&err, RID);
    if (j != NULL) {
        json_t *errors = json_object_get(j, "errors");
        if (CHECK_EQ_INT(json_array_size(errors), LX_ERROR_MAX_FIELDS + 1)) {
            json_t *first = json_array_get(errors, 0);
            CHECK_EQ_STR(str_member(first, "message"), "bad item 0");
            json_t *last = json_array_get(errors, LX_ERROR_MAX_FIELDS);
            CHECK_EQ_STR(str_member(last, "field"), "");
            CHECK_EQ_STR(str_member(last, "message"), "4 more errors not shown");
        }
        json_decref(j);
    }
    /* only dropped fields (no kept ones): still a well-formed array */
    lx_error_init(&err);
    err.status = LX_ERR_VALIDATION;
    err.nfields_dropped = 1;
    j = render_parse(&err, RID);
    if (j != NULL) {
        json_t *errors = json_object_get(j, "errors");
        CHECK_EQ_INT(json_array_size(errors), 1);
        CHECK_EQ_STR(str_member(json_array_get(errors, 0), "message"), "1 more errors not shown");
        json_decref(j);
    }
    /* init clears */
    lx_error_init(&err);
    CHECK_EQ_INT(err.nfields, 0);
    CHECK_EQ_INT(err.nfields_dropped, 0);
    CHECK_EQ_INT(err.status, LX_OK);
}

static void test_status_table(void)
{
    static const int want_http[LX_STATUS__COUNT] = {
        [LX_OK] = 200,
        [LX_ERR_MALFORMED_JSON] = 400,
        [LX_ERR_INVALID_PARAMETER] = 400,
        [LX_ERR_UNAUTHORIZED] = 401,
        [LX_ERR_PAYMENT_REQUIRED] = 402,
        [LX_ERR_FORBIDDEN] = 403,
        [LX_ERR_NOT_FOUND] = 404,
        [LX_ERR_METHOD_NOT_ALLOWED] = 405,
        [LX_ERR_CONFLICT] = 409,
        [LX_ERR_IDEMPOTENCY_IN_PROGRESS] = 409,
        [LX_ERR_PAYLOAD_TOO_LARGE] = 413,
        [LX_ERR_UNSUPPORTED_MEDIA_TYPE] = 415,
        [LX_ERR_VALIDATION] = 422,
        [LX_ERR_IDEMPOTENCY_KEY_REUSED] = 422,
        [LX_ERR_RATE_LIMITED] = 429,
        [LX_ERR_HEADERS_TOO_LARGE] = 431,
        [LX_ERR_INTERNAL] = 500,
        [LX_ERR_DB_UNAVAILABLE] = 503,
        [LX_ERR_OVERLOADED] = 503,
    };
    for (int s = 0; s < LX_STATUS__COUNT; s++) {
        CHECK_CTX("status %d (%s)", s, lx_status_code((lx_status_t)s));
        const char *code = lx_status_code((lx_status_t)s);
        const char *title = lx_status_title((lx_status_t)s);
        int http = lx_status_http((lx_status_t)s);
        CHECK(code != NULL && code[0] != '\0');
        CHECK(title != NULL && title[0] != '\0');
        CHECK_EQ_INT(http, want_http[s]);
        if (s != LX_OK) CHECK(http >= 400 && http <= 599);
        /* codes are URI path segments: lower case, digits, '_' */
        CHECK(code != NULL && strspn(code, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(code));
        for (int t = 0; t < s; t++) CHECK(strcmp(code, lx_status_code((lx_status_t)t)) != 0);
    }
    CHECK_CTX("%s", "");
    /* out-of-range statuses map to 500 rather than reading outside the table */
    CHECK_EQ_INT(lx_status_http(LX_STATUS__COUNT), 500);
    CHECK_EQ_STR(lx_status_code(LX_STATUS__COUNT), "internal_error");
    CHECK_EQ_INT(lx_status_http((lx_status_t)-1), 500);
    CHECK_EQ_STR(lx_status_title((lx_status_t)1000), "Internal server error");
}

/* Rendering into a capped buffer sets overflow instead of writing past the cap. */
static void test_capped_output(void)
{
    lx_error_t err;
    lx_error_init(&err);
    for (int i = 0; i < LX_ERROR_MAX_FIELDS; i++) lx_error_field(&err, "/f", "message %d", i);
    lx_error_set(&err, LX_ERR_VALIDATION, "detail");
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 100);
    lx_problem_render(&err, RID, &sb);
    CHECK_EQ_INT(sb.overflow, 1);
    CHECK(sb.len <= 100);
    lx_strbuf_free(&sb);
}

int main(void)
{
    test_render_members();
    test_escaping();
    test_truncation();
    test_field_cap();
    test_status_table();
    test_capped_output();
    return check_summary();
}
