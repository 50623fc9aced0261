/*
 * Niche attribute schemas, and a lead's attributes checked against them (pure:
 * no I/O, no allocation beyond what Jansson already holds).
 *
 * A niche (loans, mortgages, car insurance, B2B software...) declares the
 * qualification attributes its leads carry, so that buyers can filter on them
 * ("age 25..45, purpose = home, loan_amount >= 1,000,000"). Filters are only
 * as good as the data behind them, so both sides are strict: the operator's
 * schema is checked when a niche is created or changed, and every lead's
 * `attributes` object is checked against it at intake. A lead that does not
 * fit is refused with every problem named, never stored half-right.
 *
 * The schema is a JSON object of at most 64 attributes:
 *
 *   {"age":     {"type": "integer", "min": 18, "max": 100, "required": true, "unit": "years"},
 *    "amount":  {"type": "number", "min": 1000, "max": 5000000},
 *    "purpose": {"type": "enum", "values": ["car", "home", "other"], "required": true},
 *    "comment": {"type": "string", "max_length": 500}}
 *
 *   - names match ^[a-z][a-z0-9_]{0,39}$: they become filter keys and column
 *     labels in buyers' exports, so they are plain identifiers;
 *   - every spec has a `type` (string, integer, number, boolean, enum) and may
 *     have `unit` (1..32 characters), `required` (default false) and
 *     `description` (1..200 characters);
 *   - integer: `min`/`max` JSON integers; number: `min`/`max` any finite JSON
 *     numbers (a loan amount, an area in m2: a qualification, never money that
 *     is added up); string: `max_length` 1..1000 (default 200) and
 *     `min_length` 0..1000, in code points; enum: `values`, 1..100 distinct
 *     strings of 1..64 characters. min never exceeds max;
 *   - members a type does not use, and unknown members, are refused rather
 *     than ignored: a typo such as "maximum" would otherwise silently drop a
 *     rule the operator believes is enforced.
 *
 * A lead's attributes are a flat object of at most 64 members, each a name
 * from the schema with a value of its type: integer attributes take JSON
 * integers only (18.0 is refused: a real that happens to be whole is a sign of
 * a form that sends floats), number attributes take integers or reals, and
 * bounds are compared exactly (an integer is not rounded to a double). null,
 * objects and arrays are refused; strings are kept as given but may not hold
 * control characters. A missing required attribute is reported at its own
 * path. Attribute values are personal data, so no error message ever repeats
 * one: messages name the rule ("must be at least 18", "must be one of: car,
 * home, other"), which only quotes the schema.
 *
 * Errors follow util/error.h: each problem is a field error whose JSON Pointer
 * is rooted at the caller's `base` ("/attributes", "/leads/3/attributes"), all
 * of them are collected, and the call then returns LX_ERR_VALIDATION. Both
 * checks add to errors already in `err`, so a caller may run them among its
 * other field checks and look at err->nfields once.
 */
#ifndef LX_LEADS_ATTRS_H
#define LX_LEADS_ATTRS_H

#include <jansson.h>
#include <stddef.h>

#include "util/error.h"

#define LX_ATTRS_COUNT_MAX          64   /* attributes in a schema, members in a lead's object */
#define LX_ATTRS_NAME_MAX           40   /* characters */
#define LX_ATTRS_UNIT_MAX           32   /* characters */
#define LX_ATTRS_DESCRIPTION_MAX    200  /* characters */
#define LX_ATTRS_STRING_DEFAULT_MAX 200  /* max_length when the spec has none, in code points */
#define LX_ATTRS_STRING_MAX         1000 /* the largest max_length a spec may set, in code points */
#define LX_ATTRS_ENUM_VALUES_MAX    100
#define LX_ATTRS_ENUM_VALUE_MAX     64 /* characters */

/*
 * Checks an operator's attribute schema (the `attributes` member of a niche body), found at JSON Pointer `base`.
 * Borrows `schema`. LX_OK when it is valid; otherwise every problem is added to `err` with its path (e.g.
 * base + "/age/min") and err->status becomes LX_ERR_VALIDATION, which is returned.
 */
lx_status_t lx_attrs_schema_check(json_t *schema, const char *base, lx_error_t *err);

/*
 * Checks a lead's attributes, found at JSON Pointer `base`, against `schema`, which must have passed
 * lx_attrs_schema_check (NULL reads as a schema without attributes). `attributes` NULL means the lead has no
 * `attributes` member and reads as {}. Borrows both. Returns:
 *   LX_OK                  the attributes are valid;
 *   LX_ERR_VALIDATION      every problem has been added to `err` with its path;
 *   LX_ERR_INTERNAL        `schema` is not one lx_attrs_schema_check accepts (a damaged stored schema): the server's
 *                          fault, not the lead's, so it must not be answered as a 422; the problems with the lead
 *                          that could still be seen are in `err` all the same.
 */
lx_status_t lx_attrs_validate(json_t *schema, json_t *attributes, const char *base, lx_error_t *err);

/* One attribute's spec as validation reads it (campaign filters use it too, market/campaign.c). */
typedef enum { LX_ATTR_STRING = 0, LX_ATTR_INTEGER, LX_ATTR_NUMBER, LX_ATTR_BOOLEAN, LX_ATTR_ENUM, LX_ATTR__COUNT } lx_attr_type_t;
typedef struct st_lx_attr_spec_t {
    lx_attr_type_t type;
    int required;
    json_t *min, *max;             /* integer, number: NULL when unbounded (borrowed from the schema) */
    size_t min_length, max_length; /* string, in code points */
    json_t *values;                /* enum (borrowed) */
} lx_attr_spec_t;

/* Reads one spec lx_attrs_schema_check accepted into `spec`. -1 when it is not one: only a damaged stored schema
 * gets here, and then no value can be judged against it. */
int lx_attrs_spec_read(json_t *json, lx_attr_spec_t *spec);
/* A bound as the operator wrote it: integers as such, reals in their shortest round-trip form. */
void lx_attrs_format_number(json_t *n, char *out, size_t size);
/* An enum's values for a message, "car, home, other", cut short with ", ..." when they do not fit `size`. */
void lx_attrs_join_values(json_t *values, char *out, size_t size);

/* Optional schema attributes the lead left out (a quality-score signal). `attributes` may be NULL or not an object,
 * which leaves all of them out; a member that is present counts as given, even when it is invalid. */
size_t lx_attrs_count_missing_optional(json_t *schema, json_t *attributes);

#endif
