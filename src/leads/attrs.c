#include "leads/attrs.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

static const char *const type_names[] = {"string", "integer", "number", "boolean", "enum", NULL};

/* Members any spec may carry; then, per type, the members only that type uses (each list NULL-terminated). */
static const char *const common_members[] = {"type", "unit", "required", "description", NULL};
static const char *const type_members[LX_ATTR__COUNT][3] = {
    [LX_ATTR_STRING] = {"min_length", "max_length", NULL},
    [LX_ATTR_INTEGER] = {"min", "max", NULL},
    [LX_ATTR_NUMBER] = {"min", "max", NULL},
    [LX_ATTR_BOOLEAN] = {NULL},
    [LX_ATTR_ENUM] = {"values", NULL},
};

/* Field errors recorded so far, including those past the cap: a call failed iff this grew. */
static size_t error_count(const lx_error_t *err)
{
    return err->nfields + err->nfields_dropped;
}

static int index_of(const char *const list[], const char *s)
{
    for (int i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0) return i;
    return -1;
}

static int is_attribute_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LX_ATTRS_NAME_MAX || s[0] < 'a' || s[0] > 'z') return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

/* A schema bound as the operator would write it: integers as such, reals in the shortest form that reads back the
 * same value (0.1, not 0.10000000000000001), whole reals without a fraction. */
void lx_attrs_format_number(json_t *n, char *out, size_t size)
{
    if (json_is_integer(n)) {
        snprintf(out, size, "%lld", (long long)json_integer_value(n));
        return;
    }
    double d = json_real_value(n);
    if (d == 0) {
        snprintf(out, size, "0"); /* and not "-0" */
    } else if (d == trunc(d) && fabs(d) < 1e15) {
        snprintf(out, size, "%.0f", d);
    } else {
        for (int precision = 1; precision <= 17; precision++) {
            snprintf(out, size, "%.*g", precision, d);
            if (strtod(out, NULL) == d) break;
        }
    }
}

/* "car, home, other", cut short with ", ..." when the values do not fit: the message has a fixed size. */
void lx_attrs_join_values(json_t *values, char *out, size_t size)
{
    static const char more[] = ", ...";
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(values); i++) {
        const char *sep = i ? ", " : "";
        json_t *v = json_array_get(values, i);
        size_t need = strlen(sep) + json_string_length(v);
        int last = i + 1 == json_array_size(values);
        if (n + need + (last ? 0 : sizeof(more) - 1) >= size) {
            snprintf(out + n, size - n, "%s", i ? more : "...");
            return;
        }
        n += (size_t)snprintf(out + n, size - n, "%s%s", sep, json_string_value(v));
    }
}

/* ---- the schema ---------------------------------------------------------------------- */

/* Members not in the common list nor in the type's own: "does not apply" when another type uses them (the operator
 * mixed types up), "unknown field" otherwise. With no valid type only the truly unknown ones are named. */
static void check_spec_members(json_t *spec, const char *ptr, int type, lx_error_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(spec, key, v)
    {
        if (index_of(common_members, key) >= 0 || (type >= 0 && index_of(type_members[type], key) >= 0)) continue;
        int other_type = 0;
        for (int t = 0; t < LX_ATTR__COUNT; t++)
            if (index_of(type_members[t], key) >= 0) other_type = 1;
        if (other_type && type < 0) continue;
        char mptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(mptr, ptr, key);
        if (other_type)
            lx_error_field(err, mptr, "does not apply to type %s", type_names[type]);
        else
            lx_error_field(err, mptr, "unknown field");
    }
}

static void check_integer_bounds(json_t *spec, const char *ptr, lx_error_t *err)
{
    int64_t min = 0, max = 0;
    int has_min = lx_json_int(spec, ptr, "min", 0, INT64_MIN, INT64_MAX, &min, err) == 1;
    int has_max = lx_json_int(spec, ptr, "max", 0, INT64_MIN, INT64_MAX, &max, err) == 1;
    if (has_min && has_max && min > max) {
        char mptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(mptr, ptr, "max");
        lx_error_field(err, mptr, "must not be less than min");
    }
}

/* lx_json_* has no reader for "any JSON number", hence this one, in the same contract: 1 present, 0 absent,
 * -1 invalid (reported). */
static int read_number_bound(json_t *spec, const char *ptr, const char *key, json_t **out, lx_error_t *err)
{
    json_t *v = json_object_get(spec, key);
    if (v == NULL) return 0;
    if (!lx_json_is_finite_number(v)) {
        char mptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(mptr, ptr, key);
        lx_error_field(err, mptr, "must be a number");
        return -1;
    }
    /* PostgreSQL keeps a whole bound such as 1e20 as the integer 100000000000000000000, which no int64 reader takes
     * back; and past 2^53 a double no longer holds every whole number. Bounds stay within +-2^53. */
    const json_int_t lim = (json_int_t)1 << 53;
    int outside = json_is_integer(v) ? json_integer_value(v) > lim || json_integer_value(v) < -lim
                                     : json_real_value(v) > (double)lim || json_real_value(v) < -(double)lim;
    if (outside) {
        char mptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(mptr, ptr, key);
        lx_error_field(err, mptr, "must be between -9007199254740992 and 9007199254740992");
        return -1;
    }
    *out = v;
    return 1;
}

static void check_number_bounds(json_t *spec, const char *ptr, lx_error_t *err)
{
    json_t *min = NULL, *max = NULL;
    int has_min = read_number_bound(spec, ptr, "min", &min, err) == 1;
    int has_max = read_number_bound(spec, ptr, "max", &max, err) == 1;
    if (has_min && has_max && lx_json_number_cmp(min, max) > 0) {
        char mptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(mptr, ptr, "max");
        lx_error_field(err, mptr, "must not be less than min");
    }
}

static void check_string_lengths(json_t *spec, const char *ptr, lx_error_t *err)
{
    int64_t min_length = 0, max_length = LX_ATTRS_STRING_DEFAULT_MAX;
    int has_min = lx_json_int(spec, ptr, "min_length", 0, 0, LX_ATTRS_STRING_MAX, &min_length, err);
    int has_max = lx_json_int(spec, ptr, "max_length", 0, 1, LX_ATTRS_STRING_MAX, &max_length, err);
    if (has_min == 1 && has_max != -1 && min_length > max_length) {
        char mptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(mptr, ptr, "min_length");
        if (has_max == 1)
            lx_error_field(err, mptr, "must not exceed max_length");
        else
            lx_error_field(err, mptr, "must not exceed max_length (%d when not given)", LX_ATTRS_STRING_DEFAULT_MAX);
    }
}

static void check_enum_values(json_t *spec, const char *ptr, lx_error_t *err)
{
    char vptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(vptr, ptr, "values");
    json_t *values = json_object_get(spec, "values");
    if (values == NULL) {
        lx_error_field(err, vptr, "is required");
        return;
    }
    if (!json_is_array(values)) {
        lx_error_field(err, vptr, "must be an array");
        return;
    }
    size_t n = json_array_size(values);
    if (n == 0 || n > LX_ATTRS_ENUM_VALUES_MAX) {
        /* past the cap the elements are not read: the duplicate check below is quadratic */
        lx_error_field(err, vptr, "must hold 1 to %d values", LX_ATTRS_ENUM_VALUES_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(values, i);
        char index[24], iptr[LX_JSON_POINTER_MAX];
        snprintf(index, sizeof(index), "%zu", i);
        lx_json_pointer(iptr, vptr, index);
        if (!json_is_string(v)) {
            lx_error_field(err, iptr, "must be a string");
            continue;
        }
        size_t len = json_string_length(v), chars = lx_utf8_length(json_string_value(v), len);
        if (chars < 1 || chars > LX_ATTRS_ENUM_VALUE_MAX) {
            lx_error_field(err, iptr, "must be 1 to %d characters long", LX_ATTRS_ENUM_VALUE_MAX);
            continue;
        }
        if (lx_has_control_chars(json_string_value(v), len)) {
            lx_error_field(err, iptr, "must not contain control characters");
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (json_equal(v, json_array_get(values, j))) {
                lx_error_field(err, iptr, "repeats values/%zu", j);
                break;
            }
        }
    }
}

static void check_spec(json_t *spec, const char *ptr, lx_error_t *err)
{
    int type;
    const char *text;
    int flag;
    if (lx_json_enum(spec, ptr, "type", LX_JF_REQUIRED, type_names, &type, err) != 1) type = -1;
    check_spec_members(spec, ptr, type, err);
    lx_json_string(spec, ptr, "unit", 0, 1, LX_ATTRS_UNIT_MAX, &text, err);
    lx_json_bool(spec, ptr, "required", 0, &flag, err);
    lx_json_string(spec, ptr, "description", 0, 1, LX_ATTRS_DESCRIPTION_MAX, &text, err);
    switch (type) {
    case LX_ATTR_STRING:
        check_string_lengths(spec, ptr, err);
        break;
    case LX_ATTR_INTEGER:
        check_integer_bounds(spec, ptr, err);
        break;
    case LX_ATTR_NUMBER:
        check_number_bounds(spec, ptr, err);
        break;
    case LX_ATTR_ENUM:
        check_enum_values(spec, ptr, err);
        break;
    default: /* boolean has no rules of its own; an invalid type was reported above */
        break;
    }
}

lx_status_t lx_attrs_schema_check(json_t *schema, const char *base, lx_error_t *err)
{
    size_t errors_before = error_count(err);
    if (lx_json_expect_object(schema, base, err) != 0)
        return lx_error_set(err, LX_ERR_VALIDATION, "The attribute schema is not valid.");
    if (json_object_size(schema) > LX_ATTRS_COUNT_MAX) {
        /* over the cap nothing more is read: the operator has to remove attributes anyway */
        lx_error_field(err, base, "must have at most %d attributes", LX_ATTRS_COUNT_MAX);
        return lx_error_set(err, LX_ERR_VALIDATION, "The attribute schema is not valid.");
    }
    const char *name;
    json_t *spec;
    json_object_foreach(schema, name, spec)
    {
        char ptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(ptr, base, name);
        if (!is_attribute_name(name))
            lx_error_field(err, ptr, "must be a lower-case letter then up to %d lower-case letters, digits or underscores",
                           LX_ATTRS_NAME_MAX - 1);
        if (lx_json_expect_object(spec, ptr, err) == 0) check_spec(spec, ptr, err);
    }
    if (error_count(err) != errors_before) return lx_error_set(err, LX_ERR_VALIDATION, "The attribute schema is not valid.");
    return LX_OK;
}

/* ---- a lead's attributes --------------------------------------------------------------- */

/* Reads a spec lx_attrs_schema_check accepted. -1 when it is not one: only a damaged stored schema gets here, and
 * then no value can be judged against it. Just what validation relies on is re-checked, so nothing below can
 * misread a spec. */
int lx_attrs_spec_read(json_t *json, lx_attr_spec_t *spec)
{
    memset(spec, 0, sizeof(*spec));
    const char *type_name = json_string_value(json_object_get(json, "type"));
    int type = type_name != NULL ? index_of(type_names, type_name) : -1;
    if (type < 0) return -1;
    spec->type = (lx_attr_type_t)type;
    spec->required = json_is_true(json_object_get(json, "required"));
    switch (spec->type) {
    case LX_ATTR_INTEGER:
    case LX_ATTR_NUMBER:
        spec->min = json_object_get(json, "min");
        spec->max = json_object_get(json, "max");
        for (int i = 0; i < 2; i++) {
            json_t *bound = i ? spec->max : spec->min;
            if (bound != NULL && (spec->type == LX_ATTR_INTEGER ? !json_is_integer(bound) : !lx_json_is_finite_number(bound)))
                return -1;
        }
        break;
    case LX_ATTR_STRING: {
        json_t *min = json_object_get(json, "min_length"), *max = json_object_get(json, "max_length");
        if ((min != NULL && (!json_is_integer(min) || json_integer_value(min) < 0)) ||
            (max != NULL && (!json_is_integer(max) || json_integer_value(max) < 0)))
            return -1;
        spec->min_length = min != NULL ? (size_t)json_integer_value(min) : 0;
        spec->max_length = max != NULL ? (size_t)json_integer_value(max) : LX_ATTRS_STRING_DEFAULT_MAX;
        break;
    }
    case LX_ATTR_ENUM:
        spec->values = json_object_get(json, "values");
        if (!json_is_array(spec->values) || json_array_size(spec->values) == 0) return -1;
        for (size_t i = 0; i < json_array_size(spec->values); i++)
            if (!json_is_string(json_array_get(spec->values, i))) return -1;
        break;
    default:
        break;
    }
    return 0;
}

static int is_enum_value(json_t *values, json_t *v)
{
    if (!json_is_string(v)) return 0;
    for (size_t i = 0; i < json_array_size(values); i++)
        if (json_equal(v, json_array_get(values, i))) return 1;
    return 0;
}

static void check_bounds(const lx_attr_spec_t *spec, json_t *value, const char *ptr, lx_error_t *err)
{
    char bound[40];
    if (spec->min != NULL && lx_json_number_cmp(value, spec->min) < 0) {
        lx_attrs_format_number(spec->min, bound, sizeof(bound));
        lx_error_field(err, ptr, "must be at least %s", bound);
    } else if (spec->max != NULL && lx_json_number_cmp(value, spec->max) > 0) {
        lx_attrs_format_number(spec->max, bound, sizeof(bound));
        lx_error_field(err, ptr, "must be at most %s", bound);
    }
}

static void check_string(const lx_attr_spec_t *spec, json_t *value, const char *ptr, lx_error_t *err)
{
    const char *s = json_string_value(value);
    size_t len = json_string_length(value);
    size_t chars = lx_utf8_length(s, len);
    if (chars < spec->min_length || chars > spec->max_length) {
        if (spec->min_length == spec->max_length)
            lx_error_field(err, ptr, "must be exactly %zu characters long", spec->min_length);
        else if (chars < spec->min_length)
            lx_error_field(err, ptr, "must be at least %zu characters long", spec->min_length);
        else
            lx_error_field(err, ptr, "must be at most %zu characters long", spec->max_length);
        return;
    }
    if (lx_has_control_chars(s, len)) lx_error_field(err, ptr, "must not contain control characters");
}

/* One attribute value. The messages name the rule and never the value: attribute values are personal data. */
static void check_value(const lx_attr_spec_t *spec, json_t *value, const char *ptr, lx_error_t *err)
{
    if (json_is_null(value)) {
        lx_error_field(err, ptr, "must not be null; leave the attribute out when it is not known");
        return;
    }
    switch (spec->type) {
    case LX_ATTR_STRING:
        if (!json_is_string(value))
            lx_error_field(err, ptr, "must be a string");
        else
            check_string(spec, value, ptr, err);
        break;
    case LX_ATTR_INTEGER:
        if (!json_is_integer(value))
            lx_error_field(err, ptr, "must be an integer");
        else
            check_bounds(spec, value, ptr, err);
        break;
    case LX_ATTR_NUMBER:
        if (!lx_json_is_finite_number(value))
            lx_error_field(err, ptr, "must be a number");
        else
            check_bounds(spec, value, ptr, err);
        break;
    case LX_ATTR_BOOLEAN:
        if (!json_is_boolean(value)) lx_error_field(err, ptr, "must be a boolean");
        break;
    case LX_ATTR_ENUM:
        if (!is_enum_value(spec->values, value)) {
            char allowed[LX_ERROR_MESSAGE_LEN - sizeof("must be one of: ")];
            lx_attrs_join_values(spec->values, allowed, sizeof(allowed));
            lx_error_field(err, ptr, "must be one of: %s", allowed);
        }
        break;
    default:
        break;
    }
}

lx_status_t lx_attrs_validate(json_t *schema, json_t *attributes, const char *base, lx_error_t *err)
{
    size_t errors_before = error_count(err);
    int damaged = schema != NULL && !json_is_object(schema);
    const char *name;
    json_t *json;
    lx_attr_spec_t spec;

    if (attributes != NULL) {
        if (lx_json_expect_object(attributes, base, err) != 0)
            return lx_error_set(err, LX_ERR_VALIDATION, "The lead's attributes are not valid.");
        if (json_object_size(attributes) > LX_ATTRS_COUNT_MAX) {
            /* over the cap nothing more is read: at least one of them is unknown anyway */
            lx_error_field(err, base, "must have at most %d attributes", LX_ATTRS_COUNT_MAX);
            return lx_error_set(err, LX_ERR_VALIDATION, "The lead's attributes are not valid.");
        }
        json_object_foreach(attributes, name, json)
        {
            char ptr[LX_JSON_POINTER_MAX];
            lx_json_pointer(ptr, base, name);
            json_t *spec_json = json_object_get(schema, name);
            if (spec_json == NULL)
                lx_error_field(err, ptr, "is not an attribute of this niche");
            else if (lx_attrs_spec_read(spec_json, &spec) == 0)
                check_value(&spec, json, ptr, err);
        }
    }
    json_object_foreach(schema, name, json)
    {
        if (lx_attrs_spec_read(json, &spec) != 0) {
            damaged = 1;
        } else if (spec.required && json_object_get(attributes, name) == NULL) {
            char ptr[LX_JSON_POINTER_MAX];
            lx_json_pointer(ptr, base, name);
            lx_error_field(err, ptr, "is required");
        }
    }
    if (damaged) return lx_error_set(err, LX_ERR_INTERNAL, "The niche's attribute schema is damaged.");
    if (error_count(err) != errors_before) return lx_error_set(err, LX_ERR_VALIDATION, "The lead's attributes are not valid.");
    return LX_OK;
}

size_t lx_attrs_count_missing_optional(json_t *schema, json_t *attributes)
{
    size_t missing = 0;
    const char *name;
    json_t *spec;
    json_object_foreach(schema, name, spec)
    {
        if (!json_is_true(json_object_get(spec, "required")) && json_object_get(attributes, name) == NULL) missing++;
    }
    return missing;
}
