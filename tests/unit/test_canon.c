/*
 * RFC 8785 known answers for the value space leadx signs (util/canon.h) and
 * strict base64url (util/b64.h).
 *
 * The canonical forms below marked "Python" were produced once by an
 * independent serializer (json.dumps(ensure_ascii=False) for strings, keys
 * sorted by their UTF-16-BE encoding), not by this code. The key order is
 * also checked against a reference UTF-16 comparison on random names mixing
 * every UTF-8 length and the ranges where UTF-8 and UTF-16 orders differ.
 */
#include "util/b64.h"
#include "util/canon.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void canon_is(const char *json, const char *want)
{
    CHECK_CTX("%s", json);
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!CHECK(v != NULL)) return;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_canon_json(v, &sb, &err), LX_OK);
    lx_strbuf_append(&sb, "", 1);
    CHECK_EQ_STR(sb.base, want);
    lx_strbuf_free(&sb);
    json_decref(v);
}

static void value_refused(json_t *v, const char *field)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_canon_json(v, &sb, &err), LX_ERR_VALIDATION);
    CHECK_EQ_INT(err.status, LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) {
        CHECK_EQ_STR(err.fields[0].field, field);
        CHECK(err.fields[0].message[0] != '\0');
    }
    lx_strbuf_free(&sb);
}

static void canon_refused(const char *json, const char *field)
{
    CHECK_CTX("%s", json);
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!CHECK(v != NULL)) return;
    value_refused(v, field);
    json_decref(v);
}

static void test_known_answers(void)
{
    /* RFC 8785 §3.2.3: names sorted by UTF-16 code units (the emoji's high surrogate sorts before U+FB33). */
    canon_is("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\","
             "\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\",\"\\u00f6\":\"Latin Small "
             "Letter O With Diaeresis\"}",
             "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"Latin Small Letter O With "
             "Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\",\"\xef\xac\xb3\":"
             "\"Hebrew Letter Dalet With Dagesh\"}");
    /* Escapes: the short forms, other controls as lowercase \u00xx, '/', DEL, U+2028 and non-ASCII raw. */
    canon_is("\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\\" \\\\ / \\u007f \\u2028 \\u00e9\"",
             "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\\" \\\\ / \x7f \xe2\x80\xa8 \xc3\xa9\"");
    canon_is("[1,-1,0,9007199254740991,-9007199254740991]", "[1,-1,0,9007199254740991,-9007199254740991]");
    canon_is("{ \"b\" : [ true , false , null ], \"a\" : { \"d\" : {}, \"c\" : [] } }",
             "{\"a\":{\"c\":[],\"d\":{}},\"b\":[true,false,null]}");
    canon_is("{}", "{}");
    canon_is("[]", "[]");
    canon_is("[{},[],[[{}]]]", "[{},[],[[{}]]]");
    canon_is("\"\"", "\"\"");
    canon_is("true", "true");
    canon_is("null", "null");
    canon_is("-0", "0"); /* Jansson reads -0 as the integer 0 */
    canon_is("{\"aa\":1,\"a\":2,\"b\":3,\"\":4}", "{\"\":4,\"a\":2,\"aa\":1,\"b\":3}");

    /* Python (see the top of this file). */
    static const char *const py[][2] = {
        {"{\"\\uffff\": 1, \"\\ud800\\udc00\": 2, \"\\ue000\": 3, \"\\ud7ff\": 4, \"\\udbff\\udfff\": 5, \"\\ud83d\\ude00\": 6, "
         "\"\\ud83d\\ude01\": 7, \"~\": 8, \"\\u007f\": 9, \"\": 10}",
         "{\"\":10,\"~\":8,\"\x7f\":9,\"\xed\x9f\xbf\":4,\"\xf0\x90\x80\x80\":2,\"\xf0\x9f\x98\x80\":6,\"\xf0\x9f\x98\x81\":7,"
         "\"\xf4\x8f\xbf\xbf\":5,\"\xee\x80\x80\":3,\"\xef\xbf\xbf\":1}"},
        {"{\"b\": [1, \"two\", {\"z\": null, \"y\": [true, false]}], \"a\": {\"\\u00e9\": \"caf\\u00e9\", \"e\\u0301\": "
         "\"e+combining\"}, \"A\": -9007199254740991}",
         "{\"A\":-9007199254740991,\"a\":{\"e\xcc\x81\":\"e+combining\",\"\xc3\xa9\":\"caf\xc3\xa9\"},\"b\":[1,\"two\",{\"y\":"
         "[true,false],\"z\":null}]}"},
        {"[\"\\u2028\\u2029\", \"</script>\", \"\\u007f\\u0000\\u001f\", \"tab\\there\", \"\\ud834\\udd1e\", \"\\\"quoted\\\" "
         "\\\\back\\\\\"]",
         "[\"\xe2\x80\xa8\xe2\x80\xa9\",\"</script>\",\"\x7f\\u0000\\u001f\",\"tab\\there\",\"\xf0\x9d\x84\x9e\",\"\\\"quoted\\\" "
         "\\\\back\\\\\"]"},
        {"{\"numbers\": [0, -1, 1, 9007199254740991, -42, 100000000000000], \"nested\": {\"deeper\": {\"deepest\": {}}}, "
         "\"arr\": [[], [[]], {}]}",
         "{\"arr\":[[],[[]],{}],\"nested\":{\"deeper\":{\"deepest\":{}}},\"numbers\":[0,-1,1,9007199254740991,-42,"
         "100000000000000]}"},
        {"{\"peach\": 1, \"p\\u00e9ch\\u00e9\": 2, \"p\\u00eache\": 3, \"sin\": 4, \"\\u0440\\u0443\\u0441\": 5, "
         "\"\\u65e5\\u672c\": 6, \"\\ud869\\uded6\": 7, \"\\ufb01\": 8}",
         "{\"peach\":1,\"p\xc3\xa9"
         "ch\xc3\xa9\":2,\"p\xc3\xaa"
         "che\":3,\"sin\":4,\"\xd1\x80\xd1\x83\xd1\x81\":5,\"\xe6\x97\xa5\xe6\x9c\xac\":6,\"\xf0\xaa\x9b\x96\":7,"
         "\"\xef\xac\x81\":8}"},
    };
    for (size_t i = 0; i < sizeof(py) / sizeof(*py); i++) canon_is(py[i][0], py[i][1]);
    CHECK_CTX("%s", "");
}

/* Every byte below 0x20 (and the two that are always escaped) alone in a string, against a table. */
static void test_every_control_character(void)
{
    static const char hex[] = "0123456789abcdef";
    for (int c = 0; c < 0x80; c++) {
        CHECK_CTX("byte 0x%02x", c);
        char in[1] = {(char)c}, want[16];
        switch (c) {
        case '\b':
            snprintf(want, sizeof(want), "\"\\b\"");
            break;
        case '\t':
            snprintf(want, sizeof(want), "\"\\t\"");
            break;
        case '\n':
            snprintf(want, sizeof(want), "\"\\n\"");
            break;
        case '\f':
            snprintf(want, sizeof(want), "\"\\f\"");
            break;
        case '\r':
            snprintf(want, sizeof(want), "\"\\r\"");
            break;
        case '"':
            snprintf(want, sizeof(want), "\"\\\"\"");
            break;
        case '\\':
            snprintf(want, sizeof(want), "\"\\\\\"");
            break;
        default:
            if (c < 0x20)
                snprintf(want, sizeof(want), "\"\\u00%c%c\"", hex[c >> 4], hex[c & 15]);
            else
                snprintf(want, sizeof(want), "\"%c\"", c); /* '/' and DEL included */
        }
        json_t *s = json_stringn(in, 1);
        lx_strbuf_t sb;
        lx_strbuf_init(&sb, 64);
        lx_error_t err;
        lx_error_init(&err);
        CHECK_EQ_INT(lx_canon_json(s, &sb, &err), LX_OK);
        lx_strbuf_append(&sb, "", 1);
        CHECK_EQ_STR(sb.base, want);
        /* lx_canon_string directly, with the byte between runs of plain text */
        lx_strbuf_reset(&sb);
        char mid[5] = {'a', 'b', (char)c, 'c', 'd'};
        lx_canon_string(&sb, mid, 5);
        lx_strbuf_append(&sb, "", 1);
        char want_mid[24];
        snprintf(want_mid, sizeof(want_mid), "\"ab%.*scd\"", (int)strlen(want) - 2, want + 1);
        CHECK_EQ_STR(sb.base, want_mid);
        lx_strbuf_free(&sb);
        json_decref(s);
    }
    CHECK_CTX("%s", "");
}

static void test_integers_and_refusals(void)
{
    canon_is("9007199254740991", "9007199254740991");
    canon_is("-9007199254740991", "-9007199254740991");
    canon_refused("9007199254740992", "");
    canon_refused("-9007199254740992", "");
    canon_refused("9223372036854775807", "");
    canon_refused("-9223372036854775808", "");
    canon_refused("[9007199254740992]", "/0");
    canon_refused("{\"n\":-9007199254740992}", "/n");
    /* reals, named by their JSON Pointer (RFC 6901: '~' as ~0, '/' as ~1) */
    canon_refused("1.5", "");
    canon_refused("1.0", "");
    canon_refused("1e2", "");
    canon_refused("{\"a\":[1,{\"x/y~\":2.0}]}", "/a/1/x~1y~0");
    canon_refused("{\"a\":{\"\":0.5}}", "/a/");
    canon_refused("[[[[0.0]]]]", "/0/0/0/0");
    canon_refused("{\"~01\":[true,{\"\\u00e9/\":-1e-9}]}", "/~001/1/\xc3\xa9~1");
    canon_refused("[1,2,3,4,5,6,7,8,9,10,11,12.5]", "/11");
    /* members are visited in canonical order: the first refused is the first in that order */
    canon_refused("{\"b\":1.5,\"a\":2.5}", "/a");
    CHECK_CTX("%s", "");

    /* not UTF-8 (a json_t built without Jansson's checks) */
    CHECK_CTX("invalid UTF-8");
    json_t *o = json_object();
    json_t *arr = json_array();
    json_array_append_new(arr, json_stringn_nocheck("ok\xc3(", 4));
    json_object_set_new(o, "s", arr);
    value_refused(o, "/s/0");
    json_decref(o);
    static const char *const bad_utf8[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff", "\x80"};
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(*bad_utf8); i++) {
        json_t *s = json_string_nocheck(bad_utf8[i]);
        value_refused(s, "");
        json_decref(s);
        json_t *obj = json_object();
        json_t *inner = json_object();
        json_object_set_new_nocheck(inner, bad_utf8[i], json_true());
        json_object_set_new(obj, "k", inner);
        value_refused(obj, "/k"); /* a bad name is named by its object */
        json_decref(obj);
    }
    CHECK_CTX("%s", "");

    /* A pointer longer than an error field is cut at a character boundary, never inside a UTF-8 sequence. */
    CHECK_CTX("long pointer");
    char name[3001];
    for (int i = 0; i < 1000; i++) memcpy(name + 3 * i, "\xe2\x82\xac", 3);
    name[3000] = '\0';
    json_t *deep = json_object();
    json_object_set_new(deep, name, json_real(0.5));
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_canon_json(deep, &sb, &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) {
        size_t n = strlen(err.fields[0].field);
        CHECK(n > 900 && n < LX_ERROR_FIELD_LEN);
        CHECK(err.fields[0].field[0] == '/');
        CHECK((n - 1) % 3 == 0);
        CHECK(lx_utf8_valid(err.fields[0].field, n));
    }
    lx_strbuf_free(&sb);
    json_decref(deep);
    CHECK_CTX("%s", "");
}

/* ---- key order against a reference ---- */

static size_t to_utf16(uint32_t cp, uint16_t *u)
{
    if (cp < 0x10000) {
        u[0] = (uint16_t)cp;
        return 1;
    }
    cp -= 0x10000;
    u[0] = (uint16_t)(0xd800 + (cp >> 10));
    u[1] = (uint16_t)(0xdc00 + (cp & 0x3ff));
    return 2;
}

static size_t to_utf8(uint32_t cp, char *s)
{
    if (cp < 0x80) {
        s[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        s[0] = (char)(0xc0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        s[0] = (char)(0xe0 | (cp >> 12)), s[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), s[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    s[0] = (char)(0xf0 | (cp >> 18)), s[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    s[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

typedef struct {
    char s[64];
    size_t len;
    uint16_t u[32];
    size_t ulen;
} name_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void random_name(name_t *n)
{
    /* code points at the edges of every UTF-8 length and of the ranges where UTF-8 and UTF-16 orders part */
    static const uint32_t pool[] = {0x01,   0x1f,    ' ',     'a',     'b',     '~',     0x7f,    0x80,
                                    0xe9,   0x7ff,   0x800,   0x20ac,  0xd7ff,  0xe000,  0xfb33,  0xfffd,
                                    0xffff, 0x10000, 0x10001, 0x103ff, 0x10400, 0x1f600, 0x1f601, 0x10ffff};
    size_t k = rnd() % 6;
    n->len = n->ulen = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t cp = pool[rnd() % (sizeof(pool) / sizeof(*pool))];
        n->len += to_utf8(cp, n->s + n->len);
        n->ulen += to_utf16(cp, n->u + n->ulen);
    }
    n->s[n->len] = '\0';
}

static int ref_cmp(const name_t *a, const name_t *b)
{
    size_t n = a->ulen < b->ulen ? a->ulen : b->ulen;
    for (size_t i = 0; i < n; i++)
        if (a->u[i] != b->u[i]) return a->u[i] < b->u[i] ? -1 : 1;
    return a->ulen < b->ulen ? -1 : a->ulen > b->ulen ? 1 : 0;
}

static int sign_of(int x)
{
    return (x > 0) - (x < 0);
}

static int name_cmp(const void *p, const void *q)
{
    return ref_cmp(p, q);
}

static void test_key_order(void)
{
    /* direct pairs */
    CHECK(lx_canon_key_cmp("\xf0\x9f\x98\x80", 4, "\xef\xac\xb3", 3) < 0); /* U+1F600 < U+FB33 */
    CHECK(lx_canon_key_cmp("\xef\xbf\xbf", 3, "\xf0\x90\x80\x80", 4) > 0); /* U+FFFF > U+10000 */
    CHECK(lx_canon_key_cmp("\xee\x80\x80", 3, "\xf4\x8f\xbf\xbf", 4) > 0); /* U+E000 > U+10FFFF */
    CHECK(lx_canon_key_cmp("\xed\x9f\xbf", 3, "\xf0\x90\x80\x80", 4) < 0); /* U+D7FF < U+10000 */
    CHECK(lx_canon_key_cmp("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x81", 4) < 0);
    CHECK(lx_canon_key_cmp("a\xf0\x9f\x98\x80", 5, "a\xef\xbf\xbd", 4) < 0);
    CHECK(lx_canon_key_cmp("a", 1, "ab", 2) < 0);
    CHECK(lx_canon_key_cmp("b", 1, "ab", 2) > 0);
    CHECK(lx_canon_key_cmp("x", 1, "x", 1) == 0);
    CHECK(lx_canon_key_cmp("", 0, "", 0) == 0);
    CHECK(lx_canon_key_cmp("", 0, "\x01", 1) < 0);
    CHECK(lx_canon_key_cmp("a\0b", 3, "a\0c", 3) < 0); /* by length, not NUL-terminated */

    /* random pairs against the reference */
    unsigned mismatches = 0, antisym = 0;
    for (int i = 0; i < 200000; i++) {
        name_t a, b;
        random_name(&a);
        random_name(&b);
        int got = sign_of(lx_canon_key_cmp(a.s, a.len, b.s, b.len)), want = ref_cmp(&a, &b);
        mismatches += got != want;
        antisym += got != -sign_of(lx_canon_key_cmp(b.s, b.len, a.s, a.len));
    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK_EQ_INT(antisym, 0);

    /* whole objects: lx_canon_json's member order is the reference order */
    for (int round = 0; round < 300; round++) {
        CHECK_CTX("object %d", round);
        name_t names[24];
        size_t n = 0;
        json_t *o = json_object();
        for (int i = 0; i < 24; i++) {
            random_name(&names[n]);
            if (json_object_getn(o, names[n].s, names[n].len) != NULL) continue;
            json_object_setn_new(o, names[n].s, names[n].len, json_integer(i));
            n++;
        }
        qsort(names, n, sizeof(*names), name_cmp);
        lx_strbuf_t want, got;
        lx_strbuf_init(&want, 1 << 16);
        lx_strbuf_init(&got, 1 << 16);
        lx_strbuf_append(&want, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) lx_strbuf_append(&want, ",", 1);
            lx_canon_string(&want, names[i].s, names[i].len);
            lx_strbuf_printf(&want, ":%lld", (long long)json_integer_value(json_object_getn(o, names[i].s, names[i].len)));
        }
        lx_strbuf_append(&want, "}", 1);
        lx_error_t err;
        lx_error_init(&err);
        CHECK_EQ_INT(lx_canon_json(o, &got, &err), LX_OK);
        CHECK(got.len == want.len && memcmp(got.base, want.base, got.len) == 0);
        lx_strbuf_free(&want);
        lx_strbuf_free(&got);
        json_decref(o);
    }
    CHECK_CTX("%s", "");
}

static void test_deep_and_wide(void)
{
    /* 200 levels of arrays and objects, and an object of 1000 members (beyond the stack array of the sorter) */
    lx_strbuf_t in, want;
    lx_strbuf_init(&in, 1 << 20);
    lx_strbuf_init(&want, 1 << 20);
    for (int i = 0; i < 100; i++) {
        lx_strbuf_puts(&in, "{\"k\": [");
        lx_strbuf_puts(&want, "{\"k\":[");
    }
    lx_strbuf_puts(&in, "7");
    lx_strbuf_puts(&want, "7");
    for (int i = 0; i < 100; i++) {
        lx_strbuf_puts(&in, "]}");
        lx_strbuf_puts(&want, "]}");
    }
    lx_strbuf_append(&in, "", 1);
    lx_strbuf_append(&want, "", 1);
    canon_is(in.base, want.base);
    lx_strbuf_reset(&in);
    lx_strbuf_reset(&want);
    lx_strbuf_puts(&in, "{");
    lx_strbuf_puts(&want, "{");
    for (int i = 999; i >= 0; i--) lx_strbuf_printf(&in, "%s\"m%04d\": %d", i == 999 ? "" : ",", i, i);
    for (int i = 0; i < 1000; i++) lx_strbuf_printf(&want, "%s\"m%04d\":%d", i == 0 ? "" : ",", i, i);
    lx_strbuf_puts(&in, "}");
    lx_strbuf_puts(&want, "}");
    lx_strbuf_append(&in, "", 1);
    lx_strbuf_append(&want, "", 1);
    canon_is(in.base, want.base);
    lx_strbuf_free(&in);
    lx_strbuf_free(&want);
    CHECK_CTX("%s", "");
}

/* ---- base64url ---- */

static void test_b64(void)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[40], back[40];
    char enc[64], bent[64];
    for (size_t n = 0; n <= 34; n++) {
        CHECK_CTX("%zu bytes", n);
        for (size_t i = 0; i < n; i++) raw[i] = (uint8_t)rnd();
        size_t len = lx_b64url_encode(raw, n, enc);
        CHECK_EQ_INT(len, LX_B64URL_LEN(n));
        CHECK_EQ_INT(strlen(enc), len);
        CHECK(strspn(enc, alpha) == len);
        CHECK_EQ_INT(lx_b64url_decode_exact(enc, len, back, n), 0);
        CHECK(n == 0 || memcmp(raw, back, n) == 0);
        /* one accepted encoding: of the 64 possible last characters only those with zero unused bits decode, and
         * each of them is the encoding of what it decodes to */
        if (len > 0) {
            unsigned accepted = 0, unique = 1;
            memcpy(bent, enc, len + 1);
            for (int c = 0; c < 64; c++) {
                bent[len - 1] = alpha[c];
                if (lx_b64url_decode_exact(bent, len, back, n) != 0) continue;
                accepted++;
                char again[64];
                lx_b64url_encode(back, n, again);
                unique &= strcmp(again, bent) == 0;
            }
            CHECK_EQ_INT(accepted, n % 3 == 0 ? 64 : n % 3 == 1 ? 4 : 16);
            CHECK(unique);
        }
        /* wrong lengths, padding, the standard alphabet, whitespace, NUL, other bytes */
        CHECK_EQ_INT(lx_b64url_decode_exact(enc, len + 1, back, n), -1); /* the NUL counted */
        if (len > 0) CHECK_EQ_INT(lx_b64url_decode_exact(enc, len - 1, back, n), -1);
        CHECK_EQ_INT(lx_b64url_decode_exact(enc, len, back, n + 1), -1);
        if (n > 0) CHECK_EQ_INT(lx_b64url_decode_exact(enc, len, back, n - 1), -1);
        memcpy(bent, enc, len);
        memcpy(bent + len, "==", 3);
        CHECK_EQ_INT(lx_b64url_decode_exact(bent, len % 4 ? len + 4 - len % 4 : len + 1, back, n), -1);
        static const char intruders[] = {'+', '/', '=', ' ', '\n', '\t', '\0', '.', '\x80', '\xff', '%'};
        for (size_t pos = 0; pos < len; pos++)
            for (size_t k = 0; k < sizeof(intruders); k++) {
                memcpy(bent, enc, len + 1);
                bent[pos] = intruders[k];
                CHECK_EQ_INT(lx_b64url_decode_exact(bent, len, back, n), -1);
            }
    }
    /* Every byte outside the alphabet, at every position of a 4-character group and of a 43-character hash.
     * Regression: libsodium 1.0.18 decodes each byte 0x80..0xFF as '_' (63), so "\xc3\xa9" passed for "__". */
    unsigned outside = 0, refused = 0;
    for (int c = 0; c < 256; c++) {
        if (c < 128 && strchr(alpha, c) != NULL && c != 0) continue;
        outside++;
        int all = 1;
        for (int pos = 0; pos < 4; pos++) {
            char g[5] = "____";
            g[pos] = (char)c;
            all &= lx_b64url_decode_exact(g, 4, back, 3) == -1;
        }
        for (int pos = 0; pos < 43; pos++) {
            memset(bent, '_', 42);
            bent[42] = 'w'; /* 110000: unused bits zero */
            bent[pos] = (char)c;
            all &= lx_b64url_decode_exact(bent, 43, back, 32) == -1;
        }
        refused += (unsigned)all;
    }
    CHECK_EQ_INT(outside, 256 - 64);
    CHECK_EQ_INT(refused, outside);
    CHECK_EQ_INT(lx_b64url_decode_exact("\xc3\xa9__", 4, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("____", 4, back, 3), 0);
    memset(bent, '_', 42);
    bent[42] = 'w';
    CHECK_EQ_INT(lx_b64url_decode_exact(bent, 43, back, 32), 0);
    CHECK_CTX("%s", "");
    CHECK_EQ_INT(lx_b64url_decode_exact("AAAA=", 5, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("AAAA", 4, back, 3), 0);
    CHECK_EQ_INT(lx_b64url_decode_exact("AA+A", 4, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("AA/A", 4, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("AA A", 4, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("-_-_", 4, back, 3), 0);
    CHECK(back[0] == 0xfb && back[1] == 0xff && back[2] == 0xbf);
    CHECK_EQ_INT(lx_b64url_decode_exact("", 0, back, 0), 0);
    /* RFC 4648 §10 vectors, unpadded */
    static const char *const rfc[][2] = {{"f", "Zg"},        {"fo", "Zm8"},        {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 6; i++) {
        lx_b64url_encode((const uint8_t *)rfc[i][0], strlen(rfc[i][0]), enc);
        CHECK_EQ_STR(enc, rfc[i][1]);
    }
}

static void member_is(const char *doc, const char *key, const char *want)
{
    CHECK_CTX("%s in %s", key, doc);
    const char *v = NULL;
    size_t vlen = 0;
    int rc = lx_canon_member(doc, strlen(doc), key, &v, &vlen);
    if (want == NULL) {
        CHECK_EQ_INT(rc, -1);
        return;
    }
    if (CHECK_EQ_INT(rc, 0)) {
        char got[256];
        snprintf(got, sizeof(got), "%.*s", (int)vlen, v);
        CHECK_EQ_STR(got, want);
    }
}

static void test_member(void)
{
    static const char body[] =
        "{\"amount\":-73400,\"lead_digest\":\"AbC-_9\",\"mode\":\"shared\","
        "\"nested\":{\"mode\":\"x\",\"a\":[1,{\"b\":\"]}\"}]},\"note\":\"\\\"mode\\\":\\\"y\",\"share_index\":2}";
    member_is(body, "amount", "-73400");
    member_is(body, "lead_digest", "\"AbC-_9\"");
    member_is(body, "mode", "\"shared\""); /* not the nested one, nor the one inside a string */
    member_is(body, "nested", "{\"mode\":\"x\",\"a\":[1,{\"b\":\"]}\"}]}");
    member_is(body, "note", "\"\\\"mode\\\":\\\"y\"");
    member_is(body, "share_index", "2");
    member_is(body, "b", NULL); /* only top-level members */
    member_is(body, "missing", NULL);
    member_is(" { \"a\" : true , \"b\" : null } ", "b", "null");
    member_is(" { \"a\" : true , \"b\" : null } ", "a", "true");
    member_is("{}", "a", NULL);
    member_is("{\"a\":1", "a", "1"); /* found before the damage */
    static const char *const broken[] = {"",
                                         "[1]",
                                         "\"a\"",
                                         "{\"a\"",
                                         "{\"a\":",
                                         "{\"a\":\"x",
                                         "{\"a\":{\"b\":1",
                                         "{\"a\" 1}",
                                         "{\"a\":1 \"b\":2}",
                                         "{\"a\":1,}",
                                         "{\"x\\",
                                         "{\"a\":\"\\"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) member_is(broken[i], "b", NULL);
    /* never reads past len: a document cut anywhere either ends the scan or still finds members before the cut */
    for (size_t cut = 0; cut < sizeof(body) - 1; cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, body, cut);
        const char *v;
        size_t vlen;
        if (lx_canon_member(copy, cut, "share_index", &v, &vlen) == 0) CHECK(v + vlen <= copy + cut);
        free(copy);
    }
}

int main(void)
{
    test_known_answers();
    test_every_control_character();
    test_integers_and_refusals();
    test_key_order();
    test_deep_and_wide();
    test_b64();
    test_member();
    return check_summary();
}
