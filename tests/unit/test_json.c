/*
 * Unit tests for src/util/json.h: what lx_json_parse refuses (empty body,
 * duplicate keys, invalid UTF-8, \u0000, lone surrogates, trailing garbage,
 * nesting over the cap, while exactly at the cap is accepted), the field
 * readers (string length in code points incl. emoji, control characters, int
 * range, bool, enum message, required vs nullable vs absent), JSON Pointer
 * escaping of '/' and '~', and lx_json_reject_unknown naming each unknown field.
 */
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static json_t *parse(const char *s, size_t max_depth, lx_error_t *err)
{
    lx_error_init(err);
    return lx_json_parse(s, strlen(s), max_depth, err);
}

static void test_parse_rejects(void)
{
    static const struct {
        const char *what, *in;
    } bad[] = {
        {"whitespace only", "   "},
        {"duplicate key", "{\"a\":1,\"a\":2}"},
        {"duplicate key, nested", "{\"o\":{\"b\":true,\"b\":true}}"},
        {"invalid UTF-8 in value", "{\"a\":\"\xff\"}"},
        {"invalid UTF-8 in key", "{\"\xc3\":1}"},
        {"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}"},
        {"raw surrogate UTF-8", "{\"a\":\"\xed\xa0\x80\"}"},
        {"\\u0000 in value", "{\"a\":\"x\\u0000y\"}"},
        {"\\u0000 in key", "{\"\\u0000\":1}"},
        {"lone surrogate escape", "{\"a\":\"\\ud800\"}"},
        {"trailing garbage", "{} x"},
        {"two documents", "{}{}"},
        {"trailing comma", "{\"a\":1,}"},
        {"single quotes", "{'a':1}"},
        {"unterminated", "{\"a\":"},
        {"NaN", "{\"a\":NaN}"},
        {"raw control char in string", "{\"a\":\"x\ny\"}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("%s", bad[i].what);
        lx_error_t err;
        json_t *j = parse(bad[i].in, 32, &err);
        CHECK(j == NULL);
        json_decref(j);
        CHECK_EQ_INT(err.status, LX_ERR_MALFORMED_JSON);
        if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, "");
    }
    CHECK_CTX("%s", "");

    /* an integer beyond int64 is valid JSON: 422 naming the field, not 400 */
    lx_error_t err;
    lx_error_init(&err);
    CHECK(lx_json_parse("{\"a\":[1,{\"b/c\":92233720368547758070}]}", 38, 32, &err) == NULL);
    CHECK_EQ_INT(err.status, LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, "/a/1/b~1c");

    /* empty body: NULL and zero length */
    lx_error_init(&err);
    CHECK(lx_json_parse(NULL, 0, 32, &err) == NULL);
    CHECK_EQ_INT(err.status, LX_ERR_MALFORMED_JSON);
    CHECK_EQ_INT(err.nfields, 1);
    lx_error_init(&err);
    CHECK(lx_json_parse("{}", 0, 32, &err) == NULL);
    CHECK_EQ_INT(err.status, LX_ERR_MALFORMED_JSON);

    /* the length is honoured: bytes after it are not part of the body */
    lx_error_init(&err);
    json_t *j = lx_json_parse("{\"a\":1}garbage", 7, 32, &err);
    CHECK(json_is_object(j));
    json_decref(j);

    /* accepted: valid UTF-8 (incl. escaped surrogate pairs), arrays, unicode keys */
    static const char *const good[] = {
        "{}",
        "[]",
        "{\"a\":1,\"b\":2}",
        "{\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80\"}",
        "{\"e\":\"\\ud83d\\ude00\"}",
        " \n{\"a\" : [1, 2.5, true, null, \"s\"]}\n ",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_CTX("good %zu: %s", i, good[i]);
        j = parse(good[i], 32, &err);
        CHECK(j != NULL);
        CHECK_EQ_INT(err.nfields, 0);
        CHECK_EQ_INT(err.status, LX_OK);
        json_decref(j);
    }
    CHECK_CTX("%s", "");
}

/* n nested arrays "[[...]]" (innermost empty or holding 1), or n wrappers {"a":...} around {} or {"b":1}. */
static char *nested(size_t n, int objects, int scalar)
{
    char *s = malloc(n * 6 + 16), *p = s;
    for (size_t i = 0; i < n; i++) {
        if (objects)
            memcpy(p, "{\"a\":", 5), p += 5;
        else
            *p++ = '[';
    }
    if (scalar) {
        if (objects) /* one more level: an object holding a number */
            memcpy(p, "{\"b\":1}", 7), p += 7;
        else
            *p++ = '1';
    } else if (objects) {
        memcpy(p, "{}", 2), p += 2;
    }
    for (size_t i = 0; i < n; i++) *p++ = objects ? '}' : ']';
    *p = '\0';
    return s;
}

static void test_depth(void)
{
    static const struct {
        size_t n;    /* containers written by nested() */
        int objects; /* {"a":...} instead of [...] */
        int scalar;  /* innermost holds a scalar (objects: one more {"b":1} level) */
        size_t cap;
        int ok;
    } cases[] = {
        {32, 0, 0, 32, 1},
        {33, 0, 0, 32, 0},
        {32, 0, 1, 32, 1},
        {33, 0, 1, 32, 0},
        /* objects: n wrappers + the innermost {} or {"b":1} = n + 1 levels */
        {31, 1, 0, 32, 1},
        {32, 1, 0, 32, 0},
        {31, 1, 1, 32, 1},
        {32, 1, 1, 32, 0},
        {1, 0, 0, 1, 1},
        {2, 0, 0, 1, 0},
        {2, 0, 0, 2, 1},
        {3, 0, 0, 2, 0},
        {256, 0, 0, 256, 1},
        {257, 0, 0, 256, 0},
        /* far past Jansson's own limit (2048): refused, not a stack overflow */
        {100000, 0, 0, 32, 0},
        {100000, 1, 0, 256, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("n=%zu objects=%d scalar=%d cap=%zu", cases[i].n, cases[i].objects, cases[i].scalar, cases[i].cap);
        char *s = nested(cases[i].n, cases[i].objects, cases[i].scalar);
        lx_error_t err;
        json_t *j = parse(s, cases[i].cap, &err);
        CHECK_EQ_INT(j != NULL, cases[i].ok);
        if (!cases[i].ok) {
            CHECK_EQ_INT(err.status, LX_ERR_MALFORMED_JSON);
            CHECK_EQ_INT(err.nfields, 1);
        }
        json_decref(j);
        free(s);
    }
    CHECK_CTX("%s", "");

    /* a wide, shallow document is fine; one deep branch among shallow ones is caught */
    lx_error_t err;
    json_t *j = parse("[[],[[]],[[[]]],{\"a\":{\"b\":{}}}]", 4, &err);
    CHECK(j != NULL);
    json_decref(j);
    j = parse("[[],[[]],[[[[]]]],{}]", 4, &err);
    CHECK(j == NULL);
    json_decref(j);
}

static void test_pointer(void)
{
    static const struct {
        const char *base, *key, *want;
    } cases[] = {
        {"", "name", "/name"},
        {"/contact", "phone", "/contact/phone"},
        {"", "a/b", "/a~1b"},
        {"", "m~n", "/m~0n"},
        {"", "~1", "/~01"},
        {"", "/", "/~1"},
        {"/x~1y", "~/", "/x~1y/~0~1"},
        {"", "", "/"},
        {"/items/0", "caf\xc3\xa9", "/items/0/caf\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("base '%s' key '%s'", cases[i].base, cases[i].key);
        char out[LX_JSON_POINTER_MAX];
        lx_json_pointer(out, cases[i].base, cases[i].key);
        CHECK_EQ_STR(out, cases[i].want);
    }
    CHECK_CTX("%s", "");
    /* long keys and bases stay inside the buffer, NUL-terminated */
    char key[400], base[300], out[LX_JSON_POINTER_MAX + 16];
    memset(key, '~', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memset(base, 'b', sizeof(base) - 1);
    base[sizeof(base) - 1] = '\0';
    memset(out, 'Z', sizeof(out));
    lx_json_pointer(out, "", key);
    CHECK(strnlen(out, LX_JSON_POINTER_MAX) < LX_JSON_POINTER_MAX);
    CHECK(out[LX_JSON_POINTER_MAX] == 'Z');
    lx_json_pointer(out, base, "k");
    CHECK(strnlen(out, LX_JSON_POINTER_MAX) < LX_JSON_POINTER_MAX);
    CHECK(out[LX_JSON_POINTER_MAX] == 'Z');
}

typedef enum { R_STRING, R_INT, R_BOOL, R_ENUM } reader_t;

typedef struct {
    const char *what;
    const char *body; /* an object */
    reader_t reader;
    unsigned flags;
    int64_t min, max; /* chars for strings, values for ints */
    int result;
    const char *message; /* NULL = no field error expected */
    const char *s_want;  /* string / enum value read */
    int64_t i_want;      /* int / bool / enum index read */
} reader_case_t;

static const char *const roles[] = {"webmaster", "advertiser", NULL};

static const reader_case_t reader_cases[] = {
    /* strings */
    {"string ok", "{\"v\":\"Acme\"}", R_STRING, LX_JF_REQUIRED, 1, 200, 1, NULL, "Acme", 0},
    {"string absent, required", "{}", R_STRING, LX_JF_REQUIRED, 1, 200, -1, "is required", NULL, 0},
    {"string absent, optional", "{}", R_STRING, 0, 1, 200, 0, NULL, NULL, 0},
    {"string null, nullable", "{\"v\":null}", R_STRING, LX_JF_NULLABLE, 1, 200, 0, NULL, NULL, 0},
    {"string null, required+nullable", "{\"v\":null}", R_STRING, LX_JF_REQUIRED | LX_JF_NULLABLE, 1, 200, 0, NULL, NULL, 0},
    {"string null, not nullable", "{\"v\":null}", R_STRING, LX_JF_REQUIRED, 1, 200, -1, "must be a string", NULL, 0},
    {"string wrong type", "{\"v\":5}", R_STRING, 0, 1, 200, -1, "must be a string", NULL, 0},
    {"string too short", "{\"v\":\"\"}", R_STRING, 0, 1, 200, -1, "must be at least 1 characters long", NULL, 0},
    {"string too long", "{\"v\":\"abcd\"}", R_STRING, 0, 1, 3, -1, "must be at most 3 characters long", NULL, 0},
    {"string exact", "{\"v\":\"US\"}", R_STRING, 0, 3, 3, -1, "must be exactly 3 characters long", NULL, 0},
    {"2-byte chars count once", "{\"v\":\"\xc3\xb1\xc3\xb1\xc3\xb1\"}", R_STRING, 0, 3, 3, 1, NULL, "\xc3\xb1\xc3\xb1\xc3\xb1", 0},
    {"emoji count once", "{\"v\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}", R_STRING, 0, 1, 2, 1, NULL,
     "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 0},
    {"escaped surrogate pair counts once", "{\"v\":\"\\ud83d\\ude00\"}", R_STRING, 0, 1, 1, 1, NULL, "\xf0\x9f\x98\x80", 0},
    {"emoji over max", "{\"v\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}", R_STRING, 0, 1, 2, -1,
     "must be at most 2 characters long", NULL, 0},
    {"newline", "{\"v\":\"a\\nb\"}", R_STRING, 0, 1, 200, -1, "must not contain control characters", NULL, 0},
    {"tab", "{\"v\":\"a\\tb\"}", R_STRING, 0, 1, 200, -1, "must not contain control characters", NULL, 0},
    {"\\u001f", "{\"v\":\"\\u001f\"}", R_STRING, 0, 1, 200, -1, "must not contain control characters", NULL, 0},
    {"DEL", "{\"v\":\"a\\u007f\"}", R_STRING, 0, 1, 200, -1, "must not contain control characters", NULL, 0},
    {"U+0080 is not C0", "{\"v\":\"\\u0080\"}", R_STRING, 0, 1, 200, 1, NULL, "\xc2\x80", 0},
    /* integers */
    {"int ok", "{\"v\":42}", R_INT, LX_JF_REQUIRED, 1, 1000000, 1, NULL, NULL, 42},
    {"int min", "{\"v\":1}", R_INT, 0, 1, 1000000, 1, NULL, NULL, 1},
    {"int max", "{\"v\":1000000}", R_INT, 0, 1, 1000000, 1, NULL, NULL, 1000000},
    {"int below", "{\"v\":0}", R_INT, 0, 1, 1000000, -1, "must be between 1 and 1000000", NULL, 0},
    {"int above", "{\"v\":1000001}", R_INT, 0, 1, 1000000, -1, "must be between 1 and 1000000", NULL, 0},
    {"int negative", "{\"v\":-9223372036854775808}", R_INT, 0, 1, 1000000, -1, "must be between 1 and 1000000", NULL, 0},
    {"int64 max", "{\"v\":9223372036854775807}", R_INT, 0, INT64_MIN, INT64_MAX, 1, NULL, NULL, INT64_MAX},
    {"int as real", "{\"v\":1.0}", R_INT, 0, 1, 10, -1, "must be an integer", NULL, 0},
    {"int as exponent", "{\"v\":1e2}", R_INT, 0, 1, 1000, -1, "must be an integer", NULL, 0},
    {"int as string", "{\"v\":\"5\"}", R_INT, 0, 1, 10, -1, "must be an integer", NULL, 0},
    {"int as bool", "{\"v\":true}", R_INT, 0, 0, 10, -1, "must be an integer", NULL, 0},
    {"int null, nullable", "{\"v\":null}", R_INT, LX_JF_NULLABLE, 1, 10, 0, NULL, NULL, 0},
    {"int absent, required", "{}", R_INT, LX_JF_REQUIRED, 1, 10, -1, "is required", NULL, 0},
    /* booleans */
    {"bool true", "{\"v\":true}", R_BOOL, 0, 0, 0, 1, NULL, NULL, 1},
    {"bool false", "{\"v\":false}", R_BOOL, LX_JF_REQUIRED, 0, 0, 1, NULL, NULL, 0},
    {"bool as int", "{\"v\":1}", R_BOOL, 0, 0, 0, -1, "must be a boolean", NULL, 0},
    {"bool as string", "{\"v\":\"true\"}", R_BOOL, 0, 0, 0, -1, "must be a boolean", NULL, 0},
    {"bool null, not nullable", "{\"v\":null}", R_BOOL, 0, 0, 0, -1, "must be a boolean", NULL, 0},
    {"bool absent, required", "{}", R_BOOL, LX_JF_REQUIRED, 0, 0, -1, "is required", NULL, 0},
    /* enums */
    {"enum first", "{\"v\":\"webmaster\"}", R_ENUM, LX_JF_REQUIRED, 0, 0, 1, NULL, NULL, 0},
    {"enum second", "{\"v\":\"advertiser\"}", R_ENUM, LX_JF_REQUIRED, 0, 0, 1, NULL, NULL, 1},
    {"enum wrong case", "{\"v\":\"Advertiser\"}", R_ENUM, 0, 0, 0, -1, "must be one of: webmaster, advertiser", NULL, 0},
    {"enum not listed", "{\"v\":\"operator\"}", R_ENUM, 0, 0, 0, -1, "must be one of: webmaster, advertiser", NULL, 0},
    {"enum prefix", "{\"v\":\"web\"}", R_ENUM, 0, 0, 0, -1, "must be one of: webmaster, advertiser", NULL, 0},
    {"enum wrong type", "{\"v\":1}", R_ENUM, 0, 0, 0, -1, "must be one of: webmaster, advertiser", NULL, 0},
    {"enum absent, required", "{}", R_ENUM, LX_JF_REQUIRED, 0, 0, -1, "is required", NULL, 0},
    {"enum null, nullable", "{\"v\":null}", R_ENUM, LX_JF_NULLABLE, 0, 0, 0, NULL, NULL, 0},
};

static void test_readers(void)
{
    for (size_t i = 0; i < sizeof(reader_cases) / sizeof(reader_cases[0]); i++) {
        const reader_case_t *c = &reader_cases[i];
        CHECK_CTX("%s", c->what);
        lx_error_t err;
        json_t *obj = parse(c->body, 32, &err);
        if (!CHECK(obj != NULL)) continue;
        const char *s = NULL;
        int64_t iv = -7;
        int b = -7, idx = -7, r = -2;
        switch (c->reader) {
        case R_STRING:
            r = lx_json_string(obj, "/o", "v", c->flags, (size_t)c->min, (size_t)c->max, &s, &err);
            break;
        case R_INT:
            r = lx_json_int(obj, "/o", "v", c->flags, c->min, c->max, &iv, &err);
            break;
        case R_BOOL:
            r = lx_json_bool(obj, "/o", "v", c->flags, &b, &err);
            break;
        case R_ENUM:
            r = lx_json_enum(obj, "/o", "v", c->flags, roles, &idx, &err);
            break;
        }
        CHECK_EQ_INT(r, c->result);
        if (c->message == NULL) {
            CHECK_EQ_INT(err.nfields, 0);
        } else if (CHECK_EQ_INT(err.nfields, 1)) {
            CHECK_EQ_STR(err.fields[0].field, "/o/v");
            CHECK_EQ_STR(err.fields[0].message, c->message);
        }
        if (r == 1) {
            switch (c->reader) {
            case R_STRING:
                CHECK_EQ_STR(s, c->s_want);
                break;
            case R_INT:
                CHECK_EQ_INT(iv, c->i_want);
                break;
            case R_BOOL:
                CHECK_EQ_INT(b, c->i_want);
                break;
            case R_ENUM:
                CHECK_EQ_INT(idx, c->i_want);
                break;
            }
        } else {
            /* outputs untouched when nothing valid was read */
            CHECK(s == NULL && iv == -7 && b == -7 && idx == -7);
        }
        json_decref(obj);
    }
    CHECK_CTX("%s", "");

    /* the enum message lists every value, bounded even for long lists */
    static const char *const many[] = {
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",      "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "cccccccccccccccccccccccccccccccccccccccccccccccc", "dddddddddddddddddddddddddddddddddddddddd",
        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", NULL};
    lx_error_t err;
    json_t *obj = parse("{\"v\":\"z\"}", 32, &err);
    int idx;
    CHECK_EQ_INT(lx_json_enum(obj, "", "v", 0, many, &idx, &err), -1);
    CHECK(err.nfields == 1 && strncmp(err.fields[0].message, "must be one of: aaaa", 20) == 0);
    json_decref(obj);

    /* keys needing escapes appear escaped in the error path */
    obj = parse("{\"a/b~c\":1}", 32, &err);
    const char *s;
    CHECK_EQ_INT(lx_json_string(obj, "/x", "a/b~c", 0, 1, 10, &s, &err), -1);
    CHECK(err.nfields == 1);
    CHECK_EQ_STR(err.fields[0].field, "/x/a~1b~0c");
    json_decref(obj);

    /* the helpers */
    CHECK_EQ_INT(lx_utf8_length("", 0), 0);
    CHECK_EQ_INT(lx_utf8_length("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10), 4);
    CHECK_EQ_INT(lx_has_control_chars("abc", 3), 0);
    CHECK_EQ_INT(lx_has_control_chars("a\0c", 3), 1);
    CHECK_EQ_INT(lx_has_control_chars("\x7f", 1), 1);
    CHECK_EQ_INT(lx_has_control_chars("\xc2\x80", 2), 0);
}

/* Readers collect every problem in one pass, as the account-creation validator relies on. */
static void test_all_errors_at_once(void)
{
    static const char *const allowed[] = {"role", "name", "currency", "rate_limit", NULL};
    lx_error_t err;
    json_t *obj = parse("{\"role\":\"boss\",\"name\":\"\",\"rate_limit\":0,\"colour\":\"red\",\"a/b\":1,\"~\":2}", 32, &err);
    if (!CHECK(obj != NULL)) return;
    int role;
    const char *name, *currency;
    int64_t rate;
    CHECK_EQ_INT(lx_json_expect_object(obj, "", &err), 0);
    CHECK_EQ_INT(lx_json_reject_unknown(obj, "", allowed, &err), 3);
    CHECK_EQ_INT(lx_json_enum(obj, "", "role", LX_JF_REQUIRED, roles, &role, &err), -1);
    CHECK_EQ_INT(lx_json_string(obj, "", "name", LX_JF_REQUIRED, 1, 200, &name, &err), -1);
    CHECK_EQ_INT(lx_json_string(obj, "", "currency", LX_JF_REQUIRED, 3, 3, &currency, &err), -1);
    CHECK_EQ_INT(lx_json_int(obj, "", "rate_limit", LX_JF_NULLABLE, 1, 1000000, &rate, &err), -1);
    if (CHECK_EQ_INT(err.nfields, 7)) {
        /* unknown fields: each named once, escaped, whatever the iteration order */
        static const char *const unknown[] = {"/colour", "/a~1b", "/~0"};
        for (int u = 0; u < 3; u++) {
            int seen = 0;
            for (size_t f = 0; f < 3; f++)
                if (strcmp(err.fields[f].field, unknown[u]) == 0 && strcmp(err.fields[f].message, "unknown field") == 0) seen++;
            CHECK_CTX("unknown %s", unknown[u]);
            CHECK_EQ_INT(seen, 1);
        }
        CHECK_CTX("%s", "");
        CHECK_EQ_STR(err.fields[3].field, "/role");
        CHECK_EQ_STR(err.fields[4].field, "/name");
        CHECK_EQ_STR(err.fields[5].field, "/currency");
        CHECK_EQ_STR(err.fields[5].message, "is required");
        CHECK_EQ_STR(err.fields[6].field, "/rate_limit");
    }
    json_decref(obj);

    /* nested base, nothing unknown */
    obj = parse("{\"role\":\"webmaster\"}", 32, &err);
    CHECK_EQ_INT(lx_json_reject_unknown(obj, "/account", allowed, &err), 0);
    CHECK_EQ_INT(err.nfields, 0);
    json_decref(obj);
    obj = parse("{\"x\":1}", 32, &err);
    CHECK_EQ_INT(lx_json_reject_unknown(obj, "/account", allowed, &err), 1);
    CHECK(err.nfields == 1 && strcmp(err.fields[0].field, "/account/x") == 0);
    json_decref(obj);

    /* expect_object */
    obj = parse("[1]", 32, &err);
    CHECK_EQ_INT(lx_json_expect_object(obj, "/contact", &err), -1);
    CHECK(err.nfields == 1 && strcmp(err.fields[0].field, "/contact") == 0 &&
          strcmp(err.fields[0].message, "must be an object") == 0);
    json_decref(obj);
    lx_error_init(&err);
    CHECK_EQ_INT(lx_json_expect_object(NULL, "", &err), -1);
}

/* lx_json_dump writes what json_dumps writes, value for value (read back equal), and keeps reals real. */
static void test_dump(void)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "null",
        "true",
        "false",
        "0",
        "-9223372036854775808",
        "9223372036854775807",
        "1.5",
        "1e300",
        "-0.0",
        "2.0",
        "\"\"",
        "\"a\\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\\u001f\\u007f/\"",
        "\"\\u0416\\u0438\\u0437\\u043d\\u044c \\ud83d\\ude00 \\u00a0\"",
        "{\"b\": [1, 2.25, {\"c\": null}], \"a\": \"x\", \"~/\": {\"\": []}}",
        "[[[[[[1]]]]], {\"k\": [true, false]}]",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        CHECK_CTX("%s", docs[i]);
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        if (!CHECK(v != NULL)) continue;
        char *mine = lx_json_dumps(v);
        json_t *back = json_loads(mine, JSON_DECODE_ANY, NULL);
        CHECK(back != NULL && json_equal(v, back));
        if (back != NULL) CHECK_EQ_INT(json_typeof(back), json_typeof(v));
        char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        json_t *back_theirs = json_loads(theirs, JSON_DECODE_ANY, NULL);
        CHECK(back_theirs != NULL && json_equal(back, back_theirs)); /* the same values as Jansson writes */
        json_decref(back_theirs);
        free(mine);
        free(theirs);
        json_decref(back);
        json_decref(v);
    }
    CHECK_CTX("%s", "");
    static const struct {
        const char *in, *out;
    } shortest[] = {{"0.1", "0.1"},
                    {"[2.25, 1e300]", "[2.25,1e300]"},
                    {"250000.5", "250000.5"},
                    {"0.30000000000000004", "0.30000000000000004"},
                    {"2.0", "2.0"},
                    {"1e-7", "1e-7"},
                    {"123456789012.5", "123456789012.5"}};
    for (size_t i = 0; i < sizeof(shortest) / sizeof(shortest[0]); i++) {
        CHECK_CTX("%s", shortest[i].in);
        json_t *v = json_loads(shortest[i].in, JSON_DECODE_ANY, NULL);
        char *mine = lx_json_dumps(v);
        CHECK_EQ_STR(mine, shortest[i].out);
        free(mine);
        json_decref(v);
    }
    CHECK_CTX("%s", "");
}

static void test_number_cmp(void)
{
    static const struct {
        const char *a, *b;
        int cmp, same;
    } cases[] = {
        {"5", "5.0", 0, 1},
        {"5", "5.5", -1, 0},
        {"-1", "-1.5", 1, 0},
        {"9007199254740993", "9007199254740992.0", 1, 0}, /* 2^53 + 1: a double would round it down */
        {"9007199254740992", "9007199254740992.0", 0, 1},
        {"9223372036854775807", "9.3e18", -1, 0},
        {"-9223372036854775807", "-9.3e18", 1, 0},
        {"0.1", "0.2", -1, 0},
        {"\"5\"", "5", 2, 0},
        {"[1]", "[1]", 2, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("%s vs %s", cases[i].a, cases[i].b);
        json_t *a = json_loads(cases[i].a, JSON_DECODE_ANY, NULL), *b = json_loads(cases[i].b, JSON_DECODE_ANY, NULL);
        if (cases[i].cmp != 2) {
            CHECK_EQ_INT(lx_json_number_cmp(a, b), cases[i].cmp);
            CHECK_EQ_INT(lx_json_number_cmp(b, a), -cases[i].cmp);
        }
        CHECK_EQ_INT(lx_json_same(a, b), cases[i].same);
        json_decref(a);
        json_decref(b);
    }
    CHECK_CTX("%s", "");
}

int main(void)
{
    test_number_cmp();
    test_dump();
    test_parse_rejects();
    test_depth();
    test_pointer();
    test_readers();
    test_all_errors_at_once();
    return check_summary();
}
