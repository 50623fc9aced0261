/*
 * libFuzzer target: a request body through lx_json_parse (depth cap 32), then,
 * when it is an object, every field reader and lx_json_reject_unknown the way
 * the account-creation validator runs them (plus the same readers on every
 * member name the input brings, and on nested objects, to exercise JSON
 * Pointer escaping); finally the lx_error_t is rendered with
 * lx_problem_render and the output must be valid UTF-8 and parse as JSON.
 */
#include "http/problem.h"
#include "util/json.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdint.h>
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const allowed[] = {"role", "name", "currency", "rate_limit", "active", NULL};
static const char *const roles[] = {"webmaster", "advertiser", NULL};

/* Every reader on one member; checks what the readers promise about their outputs. */
static void read_member(json_t *obj, const char *base, const char *key, lx_error_t *err)
{
    const char *s = NULL;
    int64_t i = 0;
    int b = -1, idx = -1;
    int r = lx_json_string(obj, base, key, LX_JF_NULLABLE, 1, 8, &s, err);
    FUZZ_ASSERT(r >= -1 && r <= 1);
    if (r == 1) {
        size_t len = strlen(s);
        size_t chars = lx_utf8_length(s, len);
        FUZZ_ASSERT(chars >= 1 && chars <= 8);
        FUZZ_ASSERT(lx_utf8_valid(s, len));
        FUZZ_ASSERT(!lx_has_control_chars(s, len));
    }
    r = lx_json_int(obj, base, key, LX_JF_REQUIRED, -5, 1000000, &i, err);
    FUZZ_ASSERT(r >= -1 && r <= 1);
    if (r == 1) FUZZ_ASSERT(i >= -5 && i <= 1000000);
    r = lx_json_bool(obj, base, key, 0, &b, err);
    FUZZ_ASSERT(r >= -1 && r <= 1);
    if (r == 1) FUZZ_ASSERT(b == 0 || b == 1);
    r = lx_json_enum(obj, base, key, LX_JF_REQUIRED | LX_JF_NULLABLE, roles, &idx, err);
    FUZZ_ASSERT(r >= -1 && r <= 1);
    if (r == 1) FUZZ_ASSERT(idx == 0 || idx == 1);
}

/* As lx_api_accounts_create validates a body. */
static void validate_account(json_t *body, const char *base, lx_error_t *err)
{
    if (lx_json_expect_object(body, base, err) != 0) return;
    int role;
    const char *name, *currency;
    int64_t rate;
    int active;
    int unknown = lx_json_reject_unknown(body, base, allowed, err);
    FUZZ_ASSERT(unknown >= 0 && (size_t)unknown <= json_object_size(body));
    lx_json_enum(body, base, "role", LX_JF_REQUIRED, roles, &role, err);
    if (lx_json_string(body, base, "name", LX_JF_REQUIRED, 1, 200, &name, err) == 1) {
        size_t n = strlen(name);
        FUZZ_ASSERT(lx_utf8_length(name, n) <= 200);
    }
    if (lx_json_string(body, base, "currency", LX_JF_REQUIRED, 3, 3, &currency, err) == 1)
        FUZZ_ASSERT(lx_utf8_length(currency, strlen(currency)) == 3);
    if (lx_json_int(body, base, "rate_limit", LX_JF_NULLABLE, 1, 1000000, &rate, err) == 1)
        FUZZ_ASSERT(rate >= 1 && rate <= 1000000);
    lx_json_bool(body, base, "active", 0, &active, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lx_error_t err;
    lx_error_init(&err);
    json_t *body = lx_json_parse((const char *)data, size, 32, &err);
    if (body == NULL) {
        /* unparsable: 400 at ""; valid JSON with an integer beyond int64: 422 naming that field */
        FUZZ_ASSERT(err.status == LX_ERR_MALFORMED_JSON || err.status == LX_ERR_VALIDATION);
        FUZZ_ASSERT(err.nfields >= 1);
    } else {
        FUZZ_ASSERT(err.status == LX_OK && err.nfields == 0);
        validate_account(body, "", &err);
        if (json_is_object(body)) {
            const char *k;
            json_t *v;
            json_object_foreach(body, k, v)
            {
                read_member(body, "", k, &err);
                if (json_is_object(v)) {
                    char ptr[LX_JSON_POINTER_MAX];
                    lx_json_pointer(ptr, "", k);
                    FUZZ_ASSERT(strlen(ptr) < LX_JSON_POINTER_MAX);
                    validate_account(v, ptr, &err);
                    const char *k2;
                    json_t *v2;
                    json_object_foreach(v, k2, v2)
                    {
                        read_member(v, ptr, k2, &err);
                    }
                }
            }
        }
        json_decref(body);
        FUZZ_ASSERT(err.nfields <= LX_ERROR_MAX_FIELDS);
        if (err.nfields != 0 || err.nfields_dropped != 0) lx_error_set(&err, LX_ERR_VALIDATION, "The account is not valid.");
    }

    lx_strbuf_t out;
    lx_strbuf_init(&out, 1 << 20);
    lx_problem_render(&err, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", &out);
    FUZZ_ASSERT(!out.overflow);
    FUZZ_ASSERT(lx_utf8_valid(out.base, out.len));
    json_error_t jerr;
    json_t *doc = json_loadb(out.base, out.len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) fprintf(stderr, "problem body does not parse: %s\n%s\n", jerr.text, out.base);
    FUZZ_ASSERT(doc != NULL);
    json_t *errors = json_object_get(doc, "errors");
    FUZZ_ASSERT(json_is_array(errors));
    FUZZ_ASSERT(json_array_size(errors) == err.nfields + (err.nfields_dropped != 0));
    FUZZ_ASSERT(json_integer_value(json_object_get(doc, "status")) == lx_status_http(err.status));
    json_decref(doc);
    lx_strbuf_free(&out);
    return 0;
}
