/*
 * Unit tests for src/leads/attrs.h: the operator's schema (every rule, each
 * cap at and past its edge, members of the wrong type, all problems in one
 * answer) and a lead's attributes against it (types with 18.0 refused for an
 * integer, bounds compared exactly, emoji counted as one character, nested
 * values and null refused, unknown and missing names, the 64-member cap),
 * the exact JSON Pointer of each error, that no message repeats a submitted
 * value, a damaged stored schema answered as the server's fault, and the
 * count of optional attributes left out.
 *
 * JSON in the tables is written with single quotes, turned into double quotes
 * before parsing, so the tables stay readable (no value here needs a quote).
 */
#include "leads/attrs.h"
#include "util/json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAX_EXPECT 6

typedef struct {
    const char *field;
    const char *message;
} expect_t;

static const char example_schema[] = "{'age': {'type': 'integer', 'min': 18, 'max': 100, 'required': true, 'unit': 'years'},"
                                     " 'income': {'type': 'integer', 'min': 0, 'unit': 'RUB/month'},"
                                     " 'loan_amount': {'type': 'number', 'min': 1000, 'max': 5000000},"
                                     " 'employed': {'type': 'boolean'},"
                                     " 'purpose': {'type': 'enum', 'values': ['car', 'home', 'other'], 'required': true},"
                                     " 'comment': {'type': 'string', 'max_length': 500},"
                                     " 'timeframe': {'type': 'enum', 'values': ['now', '3m', '6m', 'later']}}";

#define NAME_RULE  "must be a lower-case letter then up to 39 lower-case letters, digits or underscores"
#define TYPE_RULE  "must be one of: string, integer, number, boolean, enum"
#define AN_INTEGER "must be an integer"

/* Parses single-quoted JSON the way request bodies are parsed; NULL (and a failed check) if it does not parse. */
static json_t *parse(const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    for (size_t i = 0; i <= len; i++) copy[i] = text[i] == '\'' ? '"' : text[i];
    lx_error_t err;
    lx_error_init(&err);
    json_t *j = lx_json_parse(copy, len, 32, &err);
    if (!CHECK(j != NULL)) fprintf(stderr, "  does not parse: %s (%s)\n", copy, err.fields[0].message);
    free(copy);
    return j;
}

/* printf into a fresh buffer, then parse(). */
static json_t *parsef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *parsef(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    json_t *j = parse(text);
    free(text);
    return j;
}

/* `unit` n times, in a fresh buffer. */
static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    for (size_t i = 0; i < n; i++) memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

/* The call's result against the expected errors: the status, exactly these {field, message} pairs, in any order. */
static void check_errors(lx_status_t rc, const lx_error_t *err, const expect_t *expect)
{
    size_t n = 0;
    while (n < MAX_EXPECT && expect[n].field != NULL) n++;
    CHECK_EQ_INT(rc, n ? LX_ERR_VALIDATION : LX_OK);
    CHECK_EQ_INT(err->status, n ? LX_ERR_VALIDATION : LX_OK);
    if (n) CHECK(err->detail[0] != '\0');
    CHECK_EQ_INT(err->nfields, n);
    for (size_t i = 0; i < n; i++) {
        const lx_field_error_t *same_field = NULL;
        int found = 0;
        for (size_t f = 0; f < err->nfields && !found; f++) {
            if (strcmp(err->fields[f].field, expect[i].field) != 0) continue;
            same_field = &err->fields[f];
            found = strcmp(err->fields[f].message, expect[i].message) == 0;
        }
        if (found) continue;
        if (same_field != NULL)
            CHECK_EQ_STR(same_field->message, expect[i].message);
        else if (!CHECK(!"an expected error is missing"))
            fprintf(stderr, "  missing: %s: %s\n", expect[i].field, expect[i].message);
    }
    if (err->nfields != n)
        for (size_t f = 0; f < err->nfields; f++) fprintf(stderr, "  got: %s: %s\n", err->fields[f].field, err->fields[f].message);
}

/* ---- the schema ------------------------------------------------------------------------- */

typedef struct {
    const char *what;
    const char *schema;
    expect_t errors[MAX_EXPECT];
} schema_case_t;

static const schema_case_t schema_cases[] = {
    /* valid */
    {"the example schema", example_schema, {{0}}},
    {"no attributes", "{}", {{0}}},
    {"every optional member",
     "{'area': {'type': 'number', 'min': 0.5, 'max': 99.75, 'unit': 'm2', 'required': false, 'description': 'Floor area'},"
     " 'code': {'type': 'string', 'min_length': 2, 'max_length': 2, 'required': true},"
     " 'count': {'type': 'integer', 'min': -5, 'max': -5},"
     " 'flag': {'type': 'boolean', 'required': true, 'description': 'Has a car'},"
     " 'kind': {'type': 'enum', 'values': ['a']}}",
     {{0}}},
    {"number bounds mixing integer and real", "{'x': {'type': 'number', 'min': 1, 'max': 1.5}}", {{0}}},
    {"number bounds equal as integer and real", "{'x': {'type': 'number', 'min': 10, 'max': 10.0}}", {{0}}},
    {"number with one bound", "{'x': {'type': 'number', 'max': -0.25}}", {{0}}},
    {"integer at the int64 limits", "{'x': {'type': 'integer', 'min': -9223372036854775808, 'max': 9223372036854775807}}", {{0}}},
    {"string min_length up to the default max", "{'x': {'type': 'string', 'min_length': 200}}", {{0}}},
    {"string min_length 0", "{'x': {'type': 'string', 'min_length': 0, 'max_length': 1}}", {{0}}},
    {"names with digits and underscores",
     "{'a': {'type': 'boolean'}, 'a1_b_2': {'type': 'boolean'}, 'z_': {'type': 'boolean'}}",
     {{0}}},
    {"enum values in any script", "{'x': {'type': 'enum', 'values': ['\xd0\xb4\xd0\xb0', '\xe2\x9c\x93', 'n/a']}}", {{0}}},

    /* the schema itself */
    {"schema is an array", "[]", {{"/attributes", "must be an object"}}},
    {"schema is a string", "'age'", {{"/attributes", "must be an object"}}},
    {"schema is null", "null", {{"/attributes", "must be an object"}}},

    /* names */
    {"name with upper case", "{'Age': {'type': 'boolean'}}", {{"/attributes/Age", NAME_RULE}}},
    {"name starting with a digit", "{'1st': {'type': 'boolean'}}", {{"/attributes/1st", NAME_RULE}}},
    {"name starting with an underscore", "{'_x': {'type': 'boolean'}}", {{"/attributes/_x", NAME_RULE}}},
    {"name with a hyphen", "{'a-b': {'type': 'boolean'}}", {{"/attributes/a-b", NAME_RULE}}},
    {"name with a space", "{'a b': {'type': 'boolean'}}", {{"/attributes/a b", NAME_RULE}}},
    {"empty name", "{'': {'type': 'boolean'}}", {{"/attributes/", NAME_RULE}}},
    {"name with a slash is escaped in the path", "{'a/b~': {'type': 'boolean'}}", {{"/attributes/a~1b~0", NAME_RULE}}},
    {"non-ASCII name", "{'\xc3\xa9t\xc3\xa9': {'type': 'boolean'}}", {{"/attributes/\xc3\xa9t\xc3\xa9", NAME_RULE}}},
    {"bad name and bad spec both reported",
     "{'Age': {'type': 'int'}}",
     {{"/attributes/Age", NAME_RULE}, {"/attributes/Age/type", TYPE_RULE}}},

    /* spec shape and common members */
    {"spec is a string", "{'age': 'integer'}", {{"/attributes/age", "must be an object"}}},
    {"spec is an array", "{'age': ['integer']}", {{"/attributes/age", "must be an object"}}},
    {"spec is null", "{'age': null}", {{"/attributes/age", "must be an object"}}},
    {"type missing", "{'age': {'min': 1}}", {{"/attributes/age/type", "is required"}}},
    {"type unknown", "{'age': {'type': 'float'}}", {{"/attributes/age/type", TYPE_RULE}}},
    {"type in upper case", "{'age': {'type': 'Integer'}}", {{"/attributes/age/type", TYPE_RULE}}},
    {"type not a string", "{'age': {'type': 1}}", {{"/attributes/age/type", TYPE_RULE}}},
    {"type null", "{'age': {'type': null}}", {{"/attributes/age/type", TYPE_RULE}}},
    {"unknown member", "{'age': {'type': 'integer', 'maximum': 100}}", {{"/attributes/age/maximum", "unknown field"}}},
    {"unknown member, invalid type",
     "{'age': {'type': 'int', 'maximum': 100, 'max': 100}}",
     {{"/attributes/age/type", TYPE_RULE}, {"/attributes/age/maximum", "unknown field"}}},
    {"max_length on an integer",
     "{'age': {'type': 'integer', 'max_length': 3}}",
     {{"/attributes/age/max_length", "does not apply to type integer"}}},
    {"min on a boolean", "{'b': {'type': 'boolean', 'min': 0}}", {{"/attributes/b/min", "does not apply to type boolean"}}},
    {"values on a string",
     "{'s': {'type': 'string', 'values': ['a']}}",
     {{"/attributes/s/values", "does not apply to type string"}}},
    {"min on an enum",
     "{'e': {'type': 'enum', 'values': ['a'], 'min': 1}}",
     {{"/attributes/e/min", "does not apply to type enum"}}},
    {"min_length on a number",
     "{'n': {'type': 'number', 'min_length': 1}}",
     {{"/attributes/n/min_length", "does not apply to type number"}}},
    {"unit not a string", "{'x': {'type': 'boolean', 'unit': 5}}", {{"/attributes/x/unit", "must be a string"}}},
    {"unit empty", "{'x': {'type': 'boolean', 'unit': ''}}", {{"/attributes/x/unit", "must be at least 1 characters long"}}},
    {"unit with a control character",
     "{'x': {'type': 'boolean', 'unit': 'a\\tb'}}",
     {{"/attributes/x/unit", "must not contain control characters"}}},
    {"required not a boolean", "{'x': {'type': 'boolean', 'required': 'yes'}}", {{"/attributes/x/required", "must be a boolean"}}},
    {"required as 1", "{'x': {'type': 'boolean', 'required': 1}}", {{"/attributes/x/required", "must be a boolean"}}},
    {"description not a string",
     "{'x': {'type': 'boolean', 'description': ['a']}}",
     {{"/attributes/x/description", "must be a string"}}},

    /* integer */
    {"integer min as a real", "{'age': {'type': 'integer', 'min': 18.0}}", {{"/attributes/age/min", AN_INTEGER}}},
    {"integer max as a string", "{'age': {'type': 'integer', 'max': '100'}}", {{"/attributes/age/max", AN_INTEGER}}},
    {"integer min null", "{'age': {'type': 'integer', 'min': null}}", {{"/attributes/age/min", AN_INTEGER}}},
    {"integer min above max",
     "{'age': {'type': 'integer', 'min': 100, 'max': 18}}",
     {{"/attributes/age/max", "must not be less than min"}}},

    /* number */
    {"number min as a string", "{'x': {'type': 'number', 'min': '1000'}}", {{"/attributes/x/min", "must be a number"}}},
    {"number max as a boolean", "{'x': {'type': 'number', 'max': true}}", {{"/attributes/x/max", "must be a number"}}},
    {"number bound past 2^53",
     "{'x': {'type': 'number', 'max': 1e20}}",
     {{"/attributes/x/max", "must be between -9007199254740992 and 9007199254740992"}}},
    {"integer-valued number bound past 2^53",
     "{'x': {'type': 'number', 'min': -9007199254740993}}",
     {{"/attributes/x/min", "must be between -9007199254740992 and 9007199254740992"}}},
    {"number min above max, reals",
     "{'x': {'type': 'number', 'min': 1.5, 'max': 1.25}}",
     {{"/attributes/x/max", "must not be less than min"}}},
    {"number min above max, mixed",
     "{'x': {'type': 'number', 'min': 2, 'max': 1.999}}",
     {{"/attributes/x/max", "must not be less than min"}}},

    /* string */
    {"string max_length 0",
     "{'s': {'type': 'string', 'max_length': 0}}",
     {{"/attributes/s/max_length", "must be between 1 and 1000"}}},
    {"string max_length 1001",
     "{'s': {'type': 'string', 'max_length': 1001}}",
     {{"/attributes/s/max_length", "must be between 1 and 1000"}}},
    {"string max_length as a real", "{'s': {'type': 'string', 'max_length': 10.0}}", {{"/attributes/s/max_length", AN_INTEGER}}},
    {"string min_length negative",
     "{'s': {'type': 'string', 'min_length': -1}}",
     {{"/attributes/s/min_length", "must be between 0 and 1000"}}},
    {"string min_length above max_length",
     "{'s': {'type': 'string', 'min_length': 5, 'max_length': 4}}",
     {{"/attributes/s/min_length", "must not exceed max_length"}}},
    {"string min_length above the default",
     "{'s': {'type': 'string', 'min_length': 201}}",
     {{"/attributes/s/min_length", "must not exceed max_length (200 when not given)"}}},

    /* enum */
    {"enum without values", "{'e': {'type': 'enum'}}", {{"/attributes/e/values", "is required"}}},
    {"enum values not an array", "{'e': {'type': 'enum', 'values': 'a,b'}}", {{"/attributes/e/values", "must be an array"}}},
    {"enum values empty", "{'e': {'type': 'enum', 'values': []}}", {{"/attributes/e/values", "must hold 1 to 100 values"}}},
    {"enum value not a string",
     "{'e': {'type': 'enum', 'values': ['a', 1, null]}}",
     {{"/attributes/e/values/1", "must be a string"}, {"/attributes/e/values/2", "must be a string"}}},
    {"enum value empty",
     "{'e': {'type': 'enum', 'values': ['a', '']}}",
     {{"/attributes/e/values/1", "must be 1 to 64 characters long"}}},
    {"enum value with a newline",
     "{'e': {'type': 'enum', 'values': ['a\\nb']}}",
     {{"/attributes/e/values/0", "must not contain control characters"}}},
    {"enum value repeated",
     "{'e': {'type': 'enum', 'values': ['a', 'b', 'a', 'b']}}",
     {{"/attributes/e/values/2", "repeats values/0"}, {"/attributes/e/values/3", "repeats values/1"}}},
    {"enum values differing only in case are distinct", "{'e': {'type': 'enum', 'values': ['a', 'A']}}", {{0}}},

    /* everything in one answer */
    {"several attributes, several problems",
     "{'Age': {'type': 'integer', 'min': 5, 'max': 1},"
     " 'purpose': {'type': 'enum', 'values': ['car', 'car'], 'unit': ''},"
     " 'ok': {'type': 'boolean'},"
     " 'x': {'typ': 'string'}}",
     {{"/attributes/Age", NAME_RULE},
      {"/attributes/Age/max", "must not be less than min"},
      {"/attributes/purpose/values/1", "repeats values/0"},
      {"/attributes/purpose/unit", "must be at least 1 characters long"},
      {"/attributes/x/type", "is required"},
      {"/attributes/x/typ", "unknown field"}}},
};

static void test_schema_table(void)
{
    for (size_t i = 0; i < sizeof(schema_cases) / sizeof(schema_cases[0]); i++) {
        const schema_case_t *c = &schema_cases[i];
        CHECK_CTX("schema: %s", c->what);
        json_t *schema = parse(c->schema);
        if (schema == NULL) continue;
        lx_error_t err;
        lx_error_init(&err);
        lx_status_t rc = lx_attrs_schema_check(schema, "/attributes", &err);
        check_errors(rc, &err, c->errors);
        json_decref(schema);
    }
    CHECK_CTX("%s", "");
}

/* Each cap at its edge and one past it: `valid` and `invalid` differ by one. */
static void check_schema_edge(const char *what, json_t *valid, json_t *invalid, const char *field, const char *message)
{
    lx_error_t err;
    CHECK_CTX("schema edge: %s, at the cap", what);
    if (CHECK(valid != NULL)) {
        lx_error_init(&err);
        check_errors(lx_attrs_schema_check(valid, "/attributes", &err), &err, (expect_t[MAX_EXPECT]){{0}});
    }
    CHECK_CTX("schema edge: %s, past the cap", what);
    if (CHECK(invalid != NULL)) {
        lx_error_init(&err);
        check_errors(lx_attrs_schema_check(invalid, "/attributes", &err), &err, (expect_t[MAX_EXPECT]){{field, message}});
    }
    json_decref(valid);
    json_decref(invalid);
    CHECK_CTX("%s", "");
}

/* {"a0": spec, ..., "a<n-1>": spec} */
static json_t *many_attributes(size_t n, json_t *spec)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "a%zu", i);
        json_object_set(o, name, spec);
    }
    json_decref(spec);
    return o;
}

/* ["v0", ..., "v<n-1>"] */
static char *enum_values(size_t n)
{
    size_t size = n * 8 + 3, len = 1;
    char *s = malloc(size);
    s[0] = '[';
    for (size_t i = 0; i < n; i++) len += (size_t)snprintf(s + len, size - len, "%s'v%zu'", i ? "," : "", i);
    snprintf(s + len, size - len, "]");
    return s;
}

static void test_schema_caps(void)
{
    check_schema_edge("64 attributes", many_attributes(64, parse("{'type': 'boolean'}")),
                      many_attributes(65, parse("{'type': 'boolean'}")), "/attributes", "must have at most 64 attributes");

    char *name40 = repeat("n", 40), *name41 = repeat("n", 41);
    char path41[64];
    snprintf(path41, sizeof(path41), "/attributes/%s", name41);
    check_schema_edge("name of 40 characters", parsef("{'%s': {'type': 'boolean'}}", name40),
                      parsef("{'%s': {'type': 'boolean'}}", name41), path41, NAME_RULE);
    free(name40);
    free(name41);

    /* characters, not bytes: 32 two-byte letters */
    char *unit32 = repeat("\xd0\xb4", 32), *unit33 = repeat("\xd0\xb4", 33);
    check_schema_edge("unit of 32 characters", parsef("{'x': {'type': 'boolean', 'unit': '%s'}}", unit32),
                      parsef("{'x': {'type': 'boolean', 'unit': '%s'}}", unit33), "/attributes/x/unit",
                      "must be at most 32 characters long");
    free(unit32);
    free(unit33);

    char *desc200 = repeat("\xf0\x9f\x9a\x97", 200), *desc201 = repeat("\xf0\x9f\x9a\x97", 201);
    check_schema_edge("description of 200 emoji", parsef("{'x': {'type': 'boolean', 'description': '%s'}}", desc200),
                      parsef("{'x': {'type': 'boolean', 'description': '%s'}}", desc201), "/attributes/x/description",
                      "must be at most 200 characters long");
    free(desc200);
    free(desc201);

    check_schema_edge("max_length 1000", parse("{'s': {'type': 'string', 'max_length': 1000, 'min_length': 1000}}"),
                      parse("{'s': {'type': 'string', 'max_length': 1000, 'min_length': 1001}}"), "/attributes/s/min_length",
                      "must be between 0 and 1000");

    char *values100 = enum_values(100), *values101 = enum_values(101);
    check_schema_edge("100 enum values", parsef("{'e': {'type': 'enum', 'values': %s}}", values100),
                      parsef("{'e': {'type': 'enum', 'values': %s}}", values101), "/attributes/e/values",
                      "must hold 1 to 100 values");
    free(values100);
    free(values101);

    char *value64 = repeat("\xe2\x82\xac", 64), *value65 = repeat("\xe2\x82\xac", 65);
    check_schema_edge("enum value of 64 characters", parsef("{'e': {'type': 'enum', 'values': ['a', '%s']}}", value64),
                      parsef("{'e': {'type': 'enum', 'values': ['a', '%s']}}", value65), "/attributes/e/values/1",
                      "must be 1 to 64 characters long");
    free(value64);
    free(value65);
}

/* The check adds to a caller's earlier errors and judges only its own. */
static void test_schema_keeps_earlier_errors(void)
{
    lx_error_t err;
    lx_error_init(&err);
    lx_error_field(&err, "/slug", "earlier problem");
    json_t *schema = parse(example_schema);
    CHECK_EQ_INT(lx_attrs_schema_check(schema, "/attributes", &err), LX_OK);
    CHECK_EQ_INT(err.nfields, 1);
    json_decref(schema);
    schema = parse("{'x': {}}");
    CHECK_EQ_INT(lx_attrs_schema_check(schema, "/attributes", &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 2)) {
        CHECK_EQ_STR(err.fields[0].field, "/slug");
        CHECK_EQ_STR(err.fields[1].field, "/attributes/x/type");
    }
    json_decref(schema);

    /* past the error cap the problems are still counted, and still fail the check */
    lx_error_init(&err);
    for (int i = 0; i < LX_ERROR_MAX_FIELDS; i++) lx_error_field(&err, "/x", "filler");
    schema = parse("{'x': {}}");
    CHECK_EQ_INT(lx_attrs_schema_check(schema, "/attributes", &err), LX_ERR_VALIDATION);
    CHECK_EQ_INT(err.nfields_dropped, 1);
    json_decref(schema);
}

/* ---- a lead's attributes ------------------------------------------------------------------ */

typedef struct {
    const char *what;
    const char *attributes; /* NULL: the lead has no `attributes` member */
    expect_t errors[MAX_EXPECT];
} validate_case_t;

#define ENUM_PURPOSE "must be one of: car, home, other"

static const validate_case_t validate_cases[] = {
    /* valid */
    {"every attribute",
     "{'age': 35, 'income': 120000, 'loan_amount': 250000.5, 'employed': true, 'purpose': 'home',"
     " 'comment': 'call after 6pm', 'timeframe': '3m'}",
     {{0}}},
    {"required only", "{'age': 18, 'purpose': 'car'}", {{0}}},
    {"bounds are inclusive", "{'age': 100, 'purpose': 'other', 'loan_amount': 5000000, 'income': 0}", {{0}}},
    {"number bounds as reals", "{'age': 18, 'purpose': 'car', 'loan_amount': 1000.0}", {{0}}},
    {"number given as an integer", "{'age': 18, 'purpose': 'car', 'loan_amount': 1000}", {{0}}},
    {"integer without max at int64 max", "{'age': 18, 'purpose': 'car', 'income': 9223372036854775807}", {{0}}},
    {"false is a value", "{'age': 18, 'purpose': 'car', 'employed': false}", {{0}}},
    {"empty string", "{'age': 18, 'purpose': 'car', 'comment': ''}", {{0}}},
    {"string kept as given, blanks included", "{'age': 18, 'purpose': 'car', 'comment': '  a  '}", {{0}}},
    {"string with emoji and Cyrillic",
     "{'age': 18, 'purpose': 'car', 'comment': '\xf0\x9f\x9a\x97 \xd0\xbc\xd0\xb0\xd1\x88\xd0\xb8\xd0\xbd\xd0\xb0'}",
     {{0}}},

    /* the object */
    {"absent", NULL, {{"/attributes/age", "is required"}, {"/attributes/purpose", "is required"}}},
    {"empty", "{}", {{"/attributes/age", "is required"}, {"/attributes/purpose", "is required"}}},
    {"an array", "[{'age': 18}]", {{"/attributes", "must be an object"}}},
    {"a string", "'age=18'", {{"/attributes", "must be an object"}}},
    {"null", "null", {{"/attributes", "must be an object"}}},

    /* names */
    {"unknown attribute",
     "{'age': 18, 'purpose': 'car', 'colour': 'red'}",
     {{"/attributes/colour", "is not an attribute of this niche"}}},
    {"names are case-sensitive",
     "{'Age': 18, 'purpose': 'car'}",
     {{"/attributes/Age", "is not an attribute of this niche"}, {"/attributes/age", "is required"}}},
    {"unknown name escaped in the path",
     "{'age': 18, 'purpose': 'car', 'a/b~c': 1}",
     {{"/attributes/a~1b~0c", "is not an attribute of this niche"}}},

    /* null, nested */
    {"required attribute null",
     "{'age': null, 'purpose': 'car'}",
     {{"/attributes/age", "must not be null; leave the attribute out when it is not known"}}},
    {"optional attribute null",
     "{'age': 18, 'purpose': 'car', 'comment': null}",
     {{"/attributes/comment", "must not be null; leave the attribute out when it is not known"}}},
    {"nested object for an integer", "{'age': {'value': 18}, 'purpose': 'car'}", {{"/attributes/age", AN_INTEGER}}},
    {"array for an integer", "{'age': [18], 'purpose': 'car'}", {{"/attributes/age", AN_INTEGER}}},
    {"nested object for a string",
     "{'age': 18, 'purpose': 'car', 'comment': {'text': 'x'}}",
     {{"/attributes/comment", "must be a string"}}},
    {"array for a number",
     "{'age': 18, 'purpose': 'car', 'loan_amount': [1000]}",
     {{"/attributes/loan_amount", "must be a number"}}},
    {"array for an enum", "{'age': 18, 'purpose': ['car']}", {{"/attributes/purpose", ENUM_PURPOSE}}},
    {"nested object for a boolean",
     "{'age': 18, 'purpose': 'car', 'employed': {}}",
     {{"/attributes/employed", "must be a boolean"}}},

    /* integer */
    {"integer as a whole real", "{'age': 18.0, 'purpose': 'car'}", {{"/attributes/age", AN_INTEGER}}},
    {"integer as a real", "{'age': 30.5, 'purpose': 'car'}", {{"/attributes/age", AN_INTEGER}}},
    {"integer as an exponent", "{'age': 2e1, 'purpose': 'car'}", {{"/attributes/age", AN_INTEGER}}},
    {"integer as a string", "{'age': '18', 'purpose': 'car'}", {{"/attributes/age", AN_INTEGER}}},
    {"integer as a boolean", "{'age': true, 'purpose': 'car'}", {{"/attributes/age", AN_INTEGER}}},
    {"integer below min", "{'age': 17, 'purpose': 'car'}", {{"/attributes/age", "must be at least 18"}}},
    {"integer above max", "{'age': 101, 'purpose': 'car'}", {{"/attributes/age", "must be at most 100"}}},
    {"integer negative", "{'age': 18, 'purpose': 'car', 'income': -1}", {{"/attributes/income", "must be at least 0"}}},
    {"integer at int64 max", "{'age': 9223372036854775807, 'purpose': 'car'}", {{"/attributes/age", "must be at most 100"}}},
    {"integer at int64 min", "{'age': -9223372036854775808, 'purpose': 'car'}", {{"/attributes/age", "must be at least 18"}}},

    /* number */
    {"number below min",
     "{'age': 18, 'purpose': 'car', 'loan_amount': 999.99}",
     {{"/attributes/loan_amount", "must be at least 1000"}}},
    {"number above max by a fraction",
     "{'age': 18, 'purpose': 'car', 'loan_amount': 5000000.01}",
     {{"/attributes/loan_amount", "must be at most 5000000"}}},
    {"number huge real",
     "{'age': 18, 'purpose': 'car', 'loan_amount': 1e300}",
     {{"/attributes/loan_amount", "must be at most 5000000"}}},
    {"number tiny negative real",
     "{'age': 18, 'purpose': 'car', 'loan_amount': -1e300}",
     {{"/attributes/loan_amount", "must be at least 1000"}}},
    {"number as a string",
     "{'age': 18, 'purpose': 'car', 'loan_amount': '1000'}",
     {{"/attributes/loan_amount", "must be a number"}}},
    {"number as a boolean",
     "{'age': 18, 'purpose': 'car', 'loan_amount': false}",
     {{"/attributes/loan_amount", "must be a number"}}},

    /* boolean */
    {"boolean as 1", "{'age': 18, 'purpose': 'car', 'employed': 1}", {{"/attributes/employed", "must be a boolean"}}},
    {"boolean as a string", "{'age': 18, 'purpose': 'car', 'employed': 'true'}", {{"/attributes/employed", "must be a boolean"}}},

    /* enum */
    {"enum not a value", "{'age': 18, 'purpose': 'boat'}", {{"/attributes/purpose", ENUM_PURPOSE}}},
    {"enum is case-sensitive", "{'age': 18, 'purpose': 'Car'}", {{"/attributes/purpose", ENUM_PURPOSE}}},
    {"enum with blanks", "{'age': 18, 'purpose': ' car'}", {{"/attributes/purpose", ENUM_PURPOSE}}},
    {"enum empty", "{'age': 18, 'purpose': ''}", {{"/attributes/purpose", ENUM_PURPOSE}}},
    {"enum as a number", "{'age': 18, 'purpose': 1}", {{"/attributes/purpose", ENUM_PURPOSE}}},
    {"enum of another attribute",
     "{'age': 18, 'purpose': 'car', 'timeframe': 'home'}",
     {{"/attributes/timeframe", "must be one of: now, 3m, 6m, later"}}},

    /* string */
    {"string as a number", "{'age': 18, 'purpose': 'car', 'comment': 5}", {{"/attributes/comment", "must be a string"}}},
    {"string with a newline",
     "{'age': 18, 'purpose': 'car', 'comment': 'a\\nb'}",
     {{"/attributes/comment", "must not contain control characters"}}},
    {"string with a tab",
     "{'age': 18, 'purpose': 'car', 'comment': 'a\\tb'}",
     {{"/attributes/comment", "must not contain control characters"}}},
    {"string with DEL",
     "{'age': 18, 'purpose': 'car', 'comment': 'a\\u007fb'}",
     {{"/attributes/comment", "must not contain control characters"}}},

    /* everything in one answer */
    {"many problems at once",
     "{'age': 17, 'purpose': 'boat', 'colour': 'red', 'employed': 'yes', 'loan_amount': 18.5}",
     {{"/attributes/age", "must be at least 18"},
      {"/attributes/purpose", ENUM_PURPOSE},
      {"/attributes/colour", "is not an attribute of this niche"},
      {"/attributes/employed", "must be a boolean"},
      {"/attributes/loan_amount", "must be at least 1000"}}},
    {"wrong values and a missing required one",
     "{'income': 1.5, 'comment': [], 'timeframe': null}",
     {{"/attributes/income", AN_INTEGER},
      {"/attributes/comment", "must be a string"},
      {"/attributes/timeframe", "must not be null; leave the attribute out when it is not known"},
      {"/attributes/age", "is required"},
      {"/attributes/purpose", "is required"}}},
};

static void test_validate_table(void)
{
    json_t *schema = parse(example_schema);
    lx_error_t err;
    lx_error_init(&err);
    if (!CHECK_EQ_INT(lx_attrs_schema_check(schema, "/attributes", &err), LX_OK)) return;
    for (size_t i = 0; i < sizeof(validate_cases) / sizeof(validate_cases[0]); i++) {
        const validate_case_t *c = &validate_cases[i];
        CHECK_CTX("attributes: %s", c->what);
        json_t *attributes = NULL;
        if (c->attributes != NULL && (attributes = parse(c->attributes)) == NULL) continue;
        lx_error_init(&err);
        lx_status_t rc = lx_attrs_validate(schema, attributes, "/attributes", &err);
        check_errors(rc, &err, c->errors);
        json_decref(attributes);
    }
    CHECK_CTX("%s", "");
    json_decref(schema);
}

/* One schema, one lead: the errors expected (none when the first field is NULL). */
static void check_validate(const char *what, json_t *schema, json_t *attributes, const char *field, const char *message)
{
    CHECK_CTX("%s", what);
    lx_error_t err;
    lx_error_init(&err);
    if (CHECK(schema != NULL && attributes != NULL)) {
        CHECK_EQ_INT(lx_attrs_schema_check(schema, "/a", &err), LX_OK);
        lx_status_t rc = lx_attrs_validate(schema, attributes, "/a", &err);
        check_errors(rc, &err, (expect_t[MAX_EXPECT]){{field, message}});
    }
    json_decref(schema);
    json_decref(attributes);
    CHECK_CTX("%s", "");
}

static void test_validate_caps(void)
{
    /* 64 members is the cap; past it the object is refused once, not member by member */
    json_t *schema = many_attributes(64, parse("{'type': 'integer', 'required': true}"));
    check_validate("64 attributes", json_incref(schema), many_attributes(64, json_integer(1)), NULL, NULL);
    check_validate("65 attributes", json_incref(schema), many_attributes(65, json_integer(1)), "/a",
                   "must have at most 64 attributes");
    json_decref(schema);

    /* emoji are one character each (4 bytes in UTF-8) */
    char *emoji500 = repeat("\xf0\x9f\x9a\x97", 500), *emoji501 = repeat("\xf0\x9f\x9a\x97", 501);
    check_validate("500 emoji", parse("{'c': {'type': 'string', 'max_length': 500}}"), parsef("{'c': '%s'}", emoji500), NULL, NULL);
    check_validate("501 emoji", parse("{'c': {'type': 'string', 'max_length': 500}}"), parsef("{'c': '%s'}", emoji501), "/a/c",
                   "must be at most 500 characters long");
    free(emoji500);
    free(emoji501);

    /* strings default to 200 characters */
    char *s200 = repeat("\xc3\xa9", 200), *s201 = repeat("\xc3\xa9", 201);
    check_validate("200 characters by default", parse("{'s': {'type': 'string'}}"), parsef("{'s': '%s'}", s200), NULL, NULL);
    check_validate("201 characters by default", parse("{'s': {'type': 'string'}}"), parsef("{'s': '%s'}", s201), "/a/s",
                   "must be at most 200 characters long");
    free(s200);
    free(s201);

    check_validate("exact length, emoji", parse("{'s': {'type': 'string', 'min_length': 2, 'max_length': 2}}"),
                   parse("{'s': '\xf0\x9f\x9a\x97\xf0\x9f\x9a\x95'}"), NULL, NULL);
    check_validate("exact length, one short", parse("{'s': {'type': 'string', 'min_length': 2, 'max_length': 2}}"),
                   parse("{'s': 'R'}"), "/a/s", "must be exactly 2 characters long");
    check_validate("min_length", parse("{'s': {'type': 'string', 'min_length': 3}}"), parse("{'s': 'ab'}"), "/a/s",
                   "must be at least 3 characters long");
    check_validate("min_length, empty", parse("{'s': {'type': 'string', 'min_length': 1}}"), parse("{'s': ''}"), "/a/s",
                   "must be at least 1 characters long");

    /* past the error cap problems are counted, not kept */
    lx_error_t err;
    lx_error_init(&err);
    schema = parse("{}");
    json_t *attributes = many_attributes(20, json_true());
    CHECK_CTX("%s", "20 unknown attributes");
    CHECK_EQ_INT(lx_attrs_validate(schema, attributes, "/a", &err), LX_ERR_VALIDATION);
    CHECK_EQ_INT(err.nfields, LX_ERROR_MAX_FIELDS);
    CHECK_EQ_INT(err.nfields_dropped, 20 - LX_ERROR_MAX_FIELDS);
    CHECK_CTX("%s", "");
    json_decref(schema);
    json_decref(attributes);
}

/* Bounds of number attributes: reals, mixed with integers, compared exactly, printed as the operator wrote them. */
static void test_number_bounds(void)
{
    static const char area[] = "{'area': {'type': 'number', 'min': 0.5, 'max': 99.75}}";
    check_validate("real bounds, inside", parse(area), parse("{'area': 50}"), NULL, NULL);
    check_validate("real bounds, at min", parse(area), parse("{'area': 0.5}"), NULL, NULL);
    check_validate("real bounds, at max", parse(area), parse("{'area': 99.75}"), NULL, NULL);
    check_validate("real min, real below", parse(area), parse("{'area': 0.4}"), "/a/area", "must be at least 0.5");
    check_validate("real min, integer below", parse(area), parse("{'area': 0}"), "/a/area", "must be at least 0.5");
    check_validate("real max, real above", parse(area), parse("{'area': 99.76}"), "/a/area", "must be at most 99.75");
    check_validate("real max, integer above", parse(area), parse("{'area': 100}"), "/a/area", "must be at most 99.75");
    check_validate("bound printed in its shortest form", parse("{'p': {'type': 'number', 'min': 0.1}}"), parse("{'p': 0.05}"),
                   "/a/p", "must be at least 0.1");
    check_validate("negative real bound", parse("{'p': {'type': 'number', 'min': -0.5}}"), parse("{'p': -1}"), "/a/p",
                   "must be at least -0.5");
    check_validate("negative zero printed as 0", parse("{'p': {'type': 'number', 'max': -0.0}}"), parse("{'p': 0.5}"), "/a/p",
                   "must be at most 0");
    check_validate("whole real bound printed without a fraction", parse("{'p': {'type': 'number', 'max': 1000.0}}"),
                   parse("{'p': 1000.5}"), "/a/p", "must be at most 1000");
    check_validate("large real bound", parse("{'p': {'type': 'number', 'max': 1e15}}"), parse("{'p': 1e21}"), "/a/p",
                   "must be at most 1e+15");
    check_validate("int64 max over a large real bound", parse("{'p': {'type': 'number', 'max': 9e15}}"),
                   parse("{'p': 9223372036854775807}"), "/a/p", "must be at most 9e+15");
    check_validate("integer just under a large real bound", parse("{'p': {'type': 'number', 'max': 9e15}}"),
                   parse("{'p': 8999999999999999}"), NULL, NULL);
    check_validate("integer just above a large negative real bound", parse("{'p': {'type': 'number', 'min': -9e15}}"),
                   parse("{'p': -8999999999999999}"), NULL, NULL);

    /* above 2^53 a double cannot tell these apart; the comparison must */
    check_validate("integer bound, integer one above 2^53", parse("{'n': {'type': 'number', 'max': 9007199254740992}}"),
                   parse("{'n': 9007199254740993}"), "/a/n", "must be at most 9007199254740992");
    check_validate("real bound, integer one above 2^53", parse("{'n': {'type': 'number', 'max': 9007199254740992.0}}"),
                   parse("{'n': 9007199254740993}"), "/a/n", "must be at most 9007199254740992");
    check_validate("real bound, integer one below 2^53", parse("{'n': {'type': 'number', 'min': 9007199254740992.0}}"),
                   parse("{'n': 9007199254740991}"), "/a/n", "must be at least 9007199254740992");
    check_validate("integer bound, equal real", parse("{'n': {'type': 'number', 'max': 9007199254740992}}"),
                   parse("{'n': 9007199254740992.0}"), NULL, NULL);
    check_validate("integer attribute at the int64 bounds",
                   parse("{'i': {'type': 'integer', 'min': -9223372036854775808, 'max': 9223372036854775807}}"),
                   parse("{'i': -9223372036854775808}"), NULL, NULL);
}

/* Integers beyond int64 never reach this module: lx_json_parse refuses them and names the field. */
static void test_huge_integers(void)
{
    static const char body[] = "{\"attributes\":{\"age\":92233720368547758070}}";
    lx_error_t err;
    lx_error_init(&err);
    json_t *j = lx_json_parse(body, sizeof(body) - 1, 32, &err);
    CHECK(j == NULL);
    json_decref(j);
    CHECK_EQ_INT(err.status, LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, "/attributes/age");
}

/* Attribute values are personal data: whatever the rule broken, the message names the rule, not the value. */
static void test_messages_never_repeat_values(void)
{
    json_t *schema = parse("{'s': {'type': 'string', 'max_length': 5}, 'i': {'type': 'integer', 'max': 100},"
                           " 'n': {'type': 'number', 'max': 100}, 'b': {'type': 'boolean'},"
                           " 'e': {'type': 'enum', 'values': ['x', 'y']}}");
    static const char *const leads[] = {
        "{'s': 'SECRET4111111111111111'}",
        "{'s': 'SEC\\n'}",
        "{'s': 4111111111111111}",
        "{'i': 4111111111111111}",
        "{'i': 'SECRET4111111111111111'}",
        "{'i': 4111111111111111.5}",
        "{'n': 4111111111111111.5}",
        "{'n': 'SECRET4111111111111111'}",
        "{'b': 'SECRET4111111111111111'}",
        "{'e': 'SECRET4111111111111111'}",
        "{'e': 4111111111111111}",
        "{'unknown': 'SECRET4111111111111111'}",
        "{'s': {'SECRET': 4111111111111111}}",
        "{'e': ['SECRET4111111111111111']}",
    };
    for (size_t i = 0; i < sizeof(leads) / sizeof(leads[0]); i++) {
        CHECK_CTX("privacy: %s", leads[i]);
        json_t *attributes = parse(leads[i]);
        lx_error_t err;
        lx_error_init(&err);
        CHECK_EQ_INT(lx_attrs_validate(schema, attributes, "/attributes", &err), LX_ERR_VALIDATION);
        CHECK_EQ_INT(err.nfields, 1);
        CHECK(strstr(err.detail, "SEC") == NULL && strstr(err.detail, "4111") == NULL);
        for (size_t f = 0; f < err.nfields; f++) {
            if (!CHECK(strstr(err.fields[f].message, "SEC") == NULL && strstr(err.fields[f].message, "4111") == NULL))
                fprintf(stderr, "  message: %s\n", err.fields[f].message);
        }
        json_decref(attributes);
    }
    CHECK_CTX("%s", "");
    json_decref(schema);
}

/* A stored schema the check would refuse is the server's fault: 500, never a 422 blaming the lead, never a crash. */
static void test_damaged_schema(void)
{
    static const struct {
        const char *what, *schema, *attributes;
        size_t nfields;
    } cases[] = {
        {"schema is an array", "[]", "{}", 0},
        {"unknown type", "{'x': {'type': 'float'}}", "{'x': 1}", 0},
        {"unknown type, value not sent", "{'x': {'type': 'float'}}", "{}", 0},
        {"spec not an object", "{'x': 'integer'}", "{'x': 1}", 0},
        {"integer with a real bound", "{'x': {'type': 'integer', 'min': 1.5}}", "{'x': 1}", 0},
        {"number with a string bound", "{'x': {'type': 'number', 'max': '5'}}", "{'x': 1}", 0},
        {"string with a negative max_length", "{'x': {'type': 'string', 'max_length': -1}}", "{'x': 'a'}", 0},
        {"enum without values", "{'x': {'type': 'enum'}}", "{'x': 'a'}", 0},
        {"enum with a number value", "{'x': {'type': 'enum', 'values': [1]}}", "{'x': 1}", 0},
        {"the lead's own problems are still named", "{'x': {'type': 'float'}, 'y': {'type': 'integer', 'required': true}}",
         "{'z': 1}", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("damaged: %s", cases[i].what);
        json_t *schema = parse(cases[i].schema), *attributes = parse(cases[i].attributes);
        lx_error_t err;
        lx_error_init(&err);
        CHECK_EQ_INT(lx_attrs_validate(schema, attributes, "/attributes", &err), LX_ERR_INTERNAL);
        CHECK_EQ_INT(err.status, LX_ERR_INTERNAL);
        CHECK_EQ_INT(err.nfields, cases[i].nfields);
        /* and lx_attrs_schema_check would not have let it in */
        lx_error_init(&err);
        CHECK_EQ_INT(lx_attrs_schema_check(schema, "/attributes", &err), LX_ERR_VALIDATION);
        json_decref(schema);
        json_decref(attributes);
    }
    CHECK_CTX("%s", "");

    /* no schema at all is a niche without attributes, not a damaged one */
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_attrs_validate(NULL, NULL, "/attributes", &err), LX_OK);
    json_t *attributes = parse("{'x': 1}");
    CHECK_EQ_INT(lx_attrs_validate(NULL, attributes, "/attributes", &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, "/attributes/x");
    json_decref(attributes);
}

/* Paths are rooted at the caller's base (a lead inside a batch). */
static void test_base(void)
{
    json_t *schema = parse(example_schema), *attributes = parse("{'purpose': 'boat', 'x~': 1}");
    lx_error_t err;
    lx_error_init(&err);
    lx_error_field(&err, "/leads/0/phone", "earlier problem");
    lx_status_t rc = lx_attrs_validate(schema, attributes, "/leads/2/attributes", &err);
    check_errors(rc, &err,
                 (expect_t[MAX_EXPECT]){{"/leads/0/phone", "earlier problem"},
                                        {"/leads/2/attributes/purpose", ENUM_PURPOSE},
                                        {"/leads/2/attributes/x~0", "is not an attribute of this niche"},
                                        {"/leads/2/attributes/age", "is required"}});
    json_decref(attributes);

    /* a caller's earlier errors do not fail a valid lead */
    attributes = parse("{'age': 40, 'purpose': 'car'}");
    lx_error_init(&err);
    lx_error_field(&err, "/contact/phone", "earlier problem");
    CHECK_EQ_INT(lx_attrs_validate(schema, attributes, "/attributes", &err), LX_OK);
    CHECK_EQ_INT(err.nfields, 1);
    json_decref(attributes);
    json_decref(schema);
}

/* A long enum list is cut short in the message, which stays within its buffer. */
static void test_long_enum_message(void)
{
    json_t *values = json_array();
    for (int i = 0; i < 100; i++) {
        char v[65];
        snprintf(v, sizeof(v), "value-%02d-%s", i, "padding-padding-padding-padding-padding-padding-pad");
        json_array_append_new(values, json_string(v));
    }
    json_t *schema = json_pack("{s:{s:s, s:o}}", "e", "type", "enum", "values", values);
    json_t *attributes = json_pack("{s:s}", "e", "none");
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_attrs_schema_check(schema, "", &err), LX_OK);
    CHECK_EQ_INT(lx_attrs_validate(schema, attributes, "", &err), LX_ERR_VALIDATION);
    if (CHECK_EQ_INT(err.nfields, 1)) {
        const char *m = err.fields[0].message;
        size_t n = strlen(m);
        CHECK(strncmp(m, "must be one of: value-00-", 25) == 0);
        CHECK(n >= 5 && strcmp(m + n - 5, ", ...") == 0);
        CHECK(n < LX_ERROR_MESSAGE_LEN - 1);
    }
    json_decref(schema);
    json_decref(attributes);
}

static void test_count_missing_optional(void)
{
    static const struct {
        const char *attributes; /* NULL: absent */
        size_t missing;
    } cases[] = {
        {NULL, 5},
        {"{}", 5},
        {"[]", 5},
        {"{'age': 18, 'purpose': 'car'}", 5},
        {"{'age': 18, 'purpose': 'car', 'income': 1}", 4},
        {"{'income': 'not a number', 'employed': null}", 3}, /* present counts as given, valid or not */
        {"{'income': 1, 'loan_amount': 1000, 'employed': true, 'comment': '', 'timeframe': 'now'}", 0},
        {"{'colour': 'red'}", 5},
    };
    json_t *schema = parse(example_schema);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("missing optional: %s", cases[i].attributes ? cases[i].attributes : "(absent)");
        json_t *attributes = cases[i].attributes ? parse(cases[i].attributes) : NULL;
        CHECK_EQ_INT(lx_attrs_count_missing_optional(schema, attributes), cases[i].missing);
        json_decref(attributes);
    }
    CHECK_CTX("%s", "");
    json_decref(schema);
    json_t *empty = parse("{}");
    CHECK_EQ_INT(lx_attrs_count_missing_optional(empty, NULL), 0);
    CHECK_EQ_INT(lx_attrs_count_missing_optional(NULL, NULL), 0);
    json_decref(empty);
}

int main(void)
{
    test_schema_table();
    test_schema_caps();
    test_schema_keeps_earlier_errors();
    test_validate_table();
    test_validate_caps();
    test_number_bounds();
    test_huge_integers();
    test_messages_never_repeat_values();
    test_damaged_schema();
    test_base();
    test_long_enum_message();
    test_count_missing_optional();
    return check_summary();
}
