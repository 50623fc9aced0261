/*
 * RFC 8785 known answers for the value space leadx signs (util/canon.h) and
 * strict base64url (util/b64.h).
 */
#include "util/b64.h"
#include "util/canon.h"

#include <jansson.h>
#include <string.h>

#include "check.h"

static void canon_is(const char *json, const char *want)
{
    CHECK_CTX("%s", json);
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    CHECK(v != NULL);
    if (v == NULL) return;
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

static void canon_refused(const char *json, const char *field)
{
    CHECK_CTX("%s", json);
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    CHECK(v != NULL);
    if (v == NULL) return;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 1 << 20);
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_canon_json(v, &sb, &err), LX_ERR_VALIDATION);
    CHECK(err.nfields == 1);
    if (err.nfields == 1) CHECK_EQ_STR(err.fields[0].field, field);
    lx_strbuf_free(&sb);
    json_decref(v);
}

int main(void)
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
    canon_is("{\"aa\":1,\"a\":2,\"b\":3,\"\":4}", "{\"\":4,\"a\":2,\"aa\":1,\"b\":3}");
    canon_refused("1.5", "");
    canon_refused("{\"a\":[1,{\"x/y~\":2.0}]}", "/a/1/x~1y~0");
    canon_refused("[9007199254740992]", "/0");
    canon_refused("{\"n\":-9007199254740992}", "/n");

    /* Key order helper directly. */
    CHECK(lx_canon_key_cmp("\xf0\x9f\x98\x80", 4, "\xef\xac\xb3", 3) < 0);
    CHECK(lx_canon_key_cmp("a", 1, "ab", 2) < 0);
    CHECK(lx_canon_key_cmp("b", 1, "ab", 2) > 0);
    CHECK(lx_canon_key_cmp("x", 1, "x", 1) == 0);

    /* base64url: one accepted form per byte string. */
    uint8_t raw[32], back[32];
    for (int i = 0; i < 32; i++) raw[i] = (uint8_t)(i * 37 + 11);
    char enc[LX_B64URL_LEN(32) + 1];
    CHECK_EQ_INT(lx_b64url_encode(raw, 32, enc), 43);
    CHECK(strchr(enc, '=') == NULL && strchr(enc, '+') == NULL && strchr(enc, '/') == NULL);
    CHECK_EQ_INT(lx_b64url_decode_exact(enc, 43, back, 32), 0);
    CHECK(memcmp(raw, back, 32) == 0);
    char bad[64];
    memcpy(bad, enc, 44);
    bad[42] = 'B'; /* 000001: the last char carries 2 unused bits, here not zero */
    CHECK_EQ_INT(lx_b64url_decode_exact(bad, 43, back, 32), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("AAAA=", 5, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("AAAA", 4, back, 3), 0);
    CHECK_EQ_INT(lx_b64url_decode_exact("AA+A", 4, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact("AA A", 4, back, 3), -1);
    CHECK_EQ_INT(lx_b64url_decode_exact(enc, 42, back, 32), -1);
    return check_summary();
}
