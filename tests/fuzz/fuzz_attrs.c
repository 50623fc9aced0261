/*
 * libFuzzer target for src/leads/attrs.h: operators' attribute schemas and
 * leads' attributes, both straight from request bodies.
 *
 * Input: a request body through lx_json_parse (depth cap 32). When it is an
 * array, element 0 is taken as a schema and element 1 as a lead's
 * attributes; otherwise the whole document is the schema. Each run:
 *   - checks the schema, and the whole document as a schema;
 *   - validates the attributes against the schema when it passed the check,
 *     and also when it did not (a damaged stored schema must not crash);
 *   - validates the attributes, the schema and the document against a fixed
 *     realistic schema, so attribute checks are reached without the fuzzer
 *     first having to build a valid schema.
 * Contracts checked beyond "no crash under ASan and UBSan": a call returns
 * LX_OK exactly when it added no field error (a damaged schema aside, which
 * is LX_ERR_INTERNAL and only for a schema the check refuses); every error
 * path starts with the caller's base; an accepted lead names only schema
 * attributes and carries every required one; the count of optional
 * attributes left out is right; no message repeats a submitted string value
 * (only schema enum values may appear in one); and the problem+json rendered
 * from the errors is valid UTF-8 and parses.
 */
#include "http/problem.h"
#include "leads/attrs.h"
#include "util/json.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

static const char example_schema_text[] =
    "{\"age\": {\"type\": \"integer\", \"min\": 18, \"max\": 100, \"required\": true, \"unit\": \"years\"},"
    " \"income\": {\"type\": \"integer\", \"min\": 0, \"unit\": \"RUB/month\"},"
    " \"loan_amount\": {\"type\": \"number\", \"min\": 1000.5, \"max\": 5000000},"
    " \"employed\": {\"type\": \"boolean\"},"
    " \"purpose\": {\"type\": \"enum\", \"values\": [\"car\", \"home\", \"other\"], \"required\": true},"
    " \"comment\": {\"type\": \"string\", \"max_length\": 20, \"min_length\": 2},"
    " \"timeframe\": {\"type\": \"enum\", \"values\": [\"now\", \"3m\", \"6m\", \"later\"]}}";

static size_t error_count(const lx_error_t *err)
{
    return err->nfields + err->nfields_dropped;
}

/* What every call promises about err, given how many errors it held before. */
static void check_err(lx_status_t rc, const lx_error_t *err, size_t before, const char *base)
{
    FUZZ_ASSERT(err->nfields <= LX_ERROR_MAX_FIELDS);
    FUZZ_ASSERT(rc == LX_OK || rc == LX_ERR_VALIDATION || rc == LX_ERR_INTERNAL);
    if (rc == LX_ERR_VALIDATION) FUZZ_ASSERT(error_count(err) > before);
    if (rc == LX_OK) FUZZ_ASSERT(error_count(err) == before);
    if (rc != LX_OK) FUZZ_ASSERT(err->status == rc && err->detail[0] != '\0');
    for (size_t i = 0; i < err->nfields; i++) {
        FUZZ_ASSERT(strncmp(err->fields[i].field, base, strlen(base)) == 0);
        FUZZ_ASSERT(err->fields[i].message[0] != '\0');
    }
}

/* 1 if some enum value of `schema` contains `s`. */
static int in_enum_values(json_t *schema, const char *s)
{
    const char *name;
    json_t *spec;
    json_object_foreach(schema, name, spec)
    {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(spec, "values"), i, v)
        {
            if (json_is_string(v) && strstr(json_string_value(v), s) != NULL) return 1;
        }
    }
    return 0;
}

/* A value that can only reach a message by being repeated: 12+ letters and digits (longer than any word of the
 * message templates) with a letter no printed number holds. */
static int is_marker(const char *s)
{
    size_t n = strlen(s);
    int letter = 0;
    if (n < 12) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
        if (((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) && c != 'e' && c != 'E') letter = 1;
    }
    return letter;
}

/* Messages name rules, never submitted values: a marker value in a message must be (part of) a schema value. */
static void check_privacy(json_t *schema, json_t *attributes, const lx_error_t *err, size_t before)
{
    const char *name;
    json_t *v;
    json_object_foreach(attributes, name, v)
    {
        if (!json_is_string(v) || !is_marker(json_string_value(v))) continue;
        for (size_t i = before < err->nfields ? before : err->nfields; i < err->nfields; i++)
            if (strstr(err->fields[i].message, json_string_value(v)) != NULL)
                FUZZ_ASSERT(in_enum_values(schema, json_string_value(v)));
    }
}

static void render(const lx_error_t *err)
{
    lx_strbuf_t out;
    lx_strbuf_init(&out, 1 << 20);
    lx_problem_render(err, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", &out);
    FUZZ_ASSERT(!out.overflow);
    FUZZ_ASSERT(lx_utf8_valid(out.base, out.len));
    json_t *doc = json_loadb(out.base, out.len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_ASSERT(doc != NULL);
    json_decref(doc);
    lx_strbuf_free(&out);
}

static lx_status_t check_schema(json_t *schema, const char *base)
{
    lx_error_t err;
    lx_error_init(&err);
    lx_status_t rc = lx_attrs_schema_check(schema, base, &err);
    FUZZ_ASSERT(rc != LX_ERR_INTERNAL);
    check_err(rc, &err, 0, base);
    if (rc != LX_OK) render(&err);
    return rc;
}

/* Attributes against a schema; `checked` says the schema passed lx_attrs_schema_check. */
static void validate(json_t *schema, json_t *attributes, int checked)
{
    static const char base[] = "/leads/0/attributes";
    lx_error_t err;
    lx_error_init(&err);
    /* an earlier problem from the caller must neither be lost nor fail the call */
    lx_error_field(&err, "/leads/0/phone", "earlier problem");
    lx_status_t rc = lx_attrs_validate(schema, attributes, base, &err);
    FUZZ_ASSERT(strcmp(err.fields[0].field, "/leads/0/phone") == 0);
    if (checked) FUZZ_ASSERT(rc != LX_ERR_INTERNAL);
    for (size_t i = 1; i < err.nfields; i++) FUZZ_ASSERT(strncmp(err.fields[i].field, base, sizeof(base) - 1) == 0);
    check_err(rc, &err, 1, "/leads/0/");
    check_privacy(schema, attributes, &err, 1);

    size_t missing = lx_attrs_count_missing_optional(schema, attributes);
    if (checked) {
        size_t optional = 0, optional_given = 0;
        const char *name;
        json_t *spec;
        json_object_foreach(schema, name, spec)
        {
            int required = json_is_true(json_object_get(spec, "required"));
            int given = json_object_get(attributes, name) != NULL;
            if (!required) {
                optional++;
                optional_given += given;
            }
            if (rc == LX_OK && required) FUZZ_ASSERT(given);
        }
        FUZZ_ASSERT(missing == optional - optional_given);
        if (rc == LX_OK) {
            json_t *v;
            json_object_foreach(attributes, name, v)
            {
                FUZZ_ASSERT(json_object_get(schema, name) != NULL);
                FUZZ_ASSERT(!json_is_null(v) && !json_is_object(v) && !json_is_array(v));
            }
            FUZZ_ASSERT(json_object_size(attributes) <= LX_ATTRS_COUNT_MAX);
        }
    }
    if (rc != LX_OK) render(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *example;
    if (example == NULL) {
        example = json_loads(example_schema_text, 0, NULL);
        lx_error_t err;
        lx_error_init(&err);
        FUZZ_ASSERT(example != NULL && lx_attrs_schema_check(example, "", &err) == LX_OK);
    }

    lx_error_t err;
    lx_error_init(&err);
    json_t *doc = lx_json_parse((const char *)data, size, 32, &err);
    if (doc == NULL) return 0;
    json_t *schema = json_is_array(doc) ? json_array_get(doc, 0) : doc;
    json_t *attributes = json_is_array(doc) ? json_array_get(doc, 1) : NULL;

    check_schema(doc, "");
    int checked = schema != NULL && check_schema(schema, "/attributes") == LX_OK;
    if (schema != NULL) validate(schema, attributes, checked);
    validate(example, attributes, 1);
    validate(example, schema, 1);
    validate(example, doc, 1);
    json_decref(doc);
    return 0;
}
