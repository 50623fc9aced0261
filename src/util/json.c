#include "util/json.h"
#include "util/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *lx_json_parse(const char *buf, size_t len, size_t max_depth, lx_error_t *err)
{
    if (buf == NULL || len == 0) {
        lx_error_field(err, "", "request body is empty; a JSON document is required");
        lx_error_set(err, LX_ERR_MALFORMED_JSON, "The request body is empty.");
        return NULL;
    }
    lx_json_scan_t s;
    lx_json_scan_init(&s, buf, len);
    json_t *root = lx_json_scan_value(&s, "", max_depth);
    if (root != NULL && lx_json_scan_end(&s) == 0) return root;
    json_decref(root);
    if (root == NULL && !s.syntax) { /* the value ended: the text after it must still be valid */
        lx_json_scan_t tail = s;
        tail.msg = NULL;
        if (lx_json_scan_end(&tail) != 0) s = tail;
    }
    if (!s.syntax) { /* valid JSON, but a number no int64 or double holds: the client is told which field */
        lx_error_field(err, s.where, "%s", s.msg);
        lx_error_set(err, LX_ERR_VALIDATION, "A number in the request body is out of range.");
        return NULL;
    }
    int line, column;
    lx_json_scan_position(&s, &line, &column);
    char in[LX_JSON_POINTER_MAX + 8] = ""; /* last: a long pointer is what a cut message loses */
    if (s.where[0] != '\0') snprintf(in, sizeof(in), " (in %s)", s.where);
    int too_deep = s.msg == lx_json_scan_too_deep;
    if (too_deep)
        lx_error_field(err, "", "nesting deeper than %zu levels at line %d, column %d%s", max_depth, line, column, in);
    else
        lx_error_field(err, "", "%s at line %d, column %d%s", s.msg, line, column, in);
    lx_error_set(err, LX_ERR_MALFORMED_JSON,
                 too_deep ? "The request body is nested too deeply." : "The request body is not valid JSON.");
    return NULL;
}

int lx_json_expect_object(json_t *v, const char *path, lx_error_t *err)
{
    if (json_is_object(v)) return 0;
    lx_error_field(err, path, "must be an object");
    return -1;
}

int lx_json_reject_unknown(json_t *obj, const char *base, const char *const allowed[], lx_error_t *err)
{
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int known = 0;
        for (size_t i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], k) == 0) {
                known = 1;
                break;
            }
        }
        if (!known) {
            char ptr[LX_JSON_POINTER_MAX];
            lx_json_pointer(ptr, base, k);
            lx_error_field(err, ptr, "unknown field");
            n++;
        }
    }
    return n;
}

/* Common prologue of the field readers: absent / null handling. Returns 1 to continue with *v set. */
static int member(json_t *obj, const char *base, const char *key, unsigned flags, json_t **v, char ptr[LX_JSON_POINTER_MAX],
                  lx_error_t *err, int *result)
{
    lx_json_pointer(ptr, base, key);
    *v = json_object_get(obj, key);
    if (*v == NULL || (json_is_null(*v) && (flags & LX_JF_NULLABLE))) {
        if ((flags & LX_JF_REQUIRED) && *v == NULL) {
            lx_error_field(err, ptr, "is required");
            *result = -1;
        } else {
            *result = 0;
        }
        return 0;
    }
    return 1;
}

size_t lx_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) n++;
    return n;
}

int lx_has_control_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 1;
    }
    return 0;
}

int lx_json_string(json_t *obj, const char *base, const char *key, unsigned flags, size_t min_chars, size_t max_chars,
                   const char **out, lx_error_t *err)
{
    json_t *v;
    char ptr[LX_JSON_POINTER_MAX];
    int result;
    if (!member(obj, base, key, flags, &v, ptr, err, &result)) return result;
    if (!json_is_string(v)) {
        lx_error_field(err, ptr, "must be a string");
        return -1;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    size_t chars = lx_utf8_length(s, len);
    if (chars < min_chars || chars > max_chars) {
        if (min_chars == max_chars)
            lx_error_field(err, ptr, "must be exactly %zu characters long", min_chars);
        else if (chars < min_chars)
            lx_error_field(err, ptr, "must be at least %zu characters long", min_chars);
        else
            lx_error_field(err, ptr, "must be at most %zu characters long", max_chars);
        return -1;
    }
    if (lx_has_control_chars(s, len)) {
        lx_error_field(err, ptr, "must not contain control characters");
        return -1;
    }
    *out = s;
    return 1;
}

int lx_json_int(json_t *obj, const char *base, const char *key, unsigned flags, int64_t min, int64_t max, int64_t *out,
                lx_error_t *err)
{
    json_t *v;
    char ptr[LX_JSON_POINTER_MAX];
    int result;
    if (!member(obj, base, key, flags, &v, ptr, err, &result)) return result;
    if (!json_is_integer(v)) {
        lx_error_field(err, ptr, "must be an integer");
        return -1;
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        lx_error_field(err, ptr, "must be between %lld and %lld", (long long)min, (long long)max);
        return -1;
    }
    *out = n;
    return 1;
}

int lx_json_bool(json_t *obj, const char *base, const char *key, unsigned flags, int *out, lx_error_t *err)
{
    json_t *v;
    char ptr[LX_JSON_POINTER_MAX];
    int result;
    if (!member(obj, base, key, flags, &v, ptr, err, &result)) return result;
    if (!json_is_boolean(v)) {
        lx_error_field(err, ptr, "must be a boolean");
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int lx_json_enum(json_t *obj, const char *base, const char *key, unsigned flags, const char *const values[], int *index,
                 lx_error_t *err)
{
    json_t *v;
    char ptr[LX_JSON_POINTER_MAX];
    int result;
    if (!member(obj, base, key, flags, &v, ptr, err, &result)) return result;
    if (json_is_string(v)) {
        for (int i = 0; values[i] != NULL; i++) {
            if (strcmp(values[i], json_string_value(v)) == 0) {
                *index = i;
                return 1;
            }
        }
    }
    char allowed[160];
    size_t n = 0;
    allowed[0] = '\0';
    for (int i = 0; values[i] != NULL && n < sizeof(allowed); i++)
        n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s%s", i ? ", " : "", values[i]);
    lx_error_field(err, ptr, "must be one of: %s", allowed);
    return -1;
}

void lx_json_dump(const json_t *v, lx_strbuf_t *out)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lx_strbuf_append(out, "{", 1);
        const char *k;
        json_t *m;
        int first = 1;
        json_object_foreach((json_t *)v, k, m)
        {
            if (!first) lx_strbuf_append(out, ",", 1);
            first = 0;
            lx_strbuf_append_json_string(out, k, strlen(k));
            lx_strbuf_append(out, ":", 1);
            lx_json_dump(m, out);
        }
        lx_strbuf_append(out, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        lx_strbuf_append(out, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) lx_strbuf_append(out, ",", 1);
            lx_json_dump(json_array_get(v, i), out);
        }
        lx_strbuf_append(out, "]", 1);
        break;
    }
    case JSON_STRING:
        lx_strbuf_append_json_string(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        lx_strbuf_append(out, num, (size_t)n);
        break;
    }
    case JSON_REAL: {
        /* the shortest form that reads back as the same double: 0.1, not 0.10000000000000001 */
        double d = json_real_value(v);
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(num, sizeof(num), "%.*g", prec, d);
            if (strtod(num, NULL) == d) break;
        }
        char *e = strchr(num, 'e');
        if (e != NULL) { /* as Jansson writes exponents: no '+', no leading zeros */
            char *src = e + 1, *dst = e + 1;
            if (*src == '+')
                src++;
            else if (*src == '-')
                *dst++ = *src++;
            while (*src == '0' && src[1] != '\0') src++;
            memmove(dst, src, strlen(src) + 1);
            n = (int)strlen(num);
        } else if (strchr(num, '.') == NULL && n + 2 < (int)sizeof(num)) { /* keep it a real when read back */
            memcpy(num + n, ".0", 3), n += 2;
        }
        lx_strbuf_append(out, num, (size_t)n);
        break;
    }
    case JSON_TRUE:
        lx_strbuf_append(out, "true", 4);
        break;
    case JSON_FALSE:
        lx_strbuf_append(out, "false", 5);
        break;
    default:
        lx_strbuf_append(out, "null", 4);
        break;
    }
}

char *lx_json_dumps(const json_t *v)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, SIZE_MAX);
    lx_json_dump(v, &sb);
    lx_strbuf_append(&sb, "", 1);
    return sb.base; /* the buffer is the string: the caller frees it */
}

int lx_json_is_finite_number(const json_t *v)
{
    return json_is_integer(v) || (json_is_real(v) && isfinite(json_real_value(v)));
}

/* Compares an int64 with a finite double exactly. */
static int compare_int_real(int64_t i, double d)
{
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    double whole = trunc(d);
    int64_t w = (int64_t)whole;
    if (i != w) return i < w ? -1 : 1;
    return d > whole ? -1 : (d < whole ? 1 : 0);
}

int lx_json_number_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (json_is_integer(a)) return compare_int_real(json_integer_value(a), json_real_value(b));
    if (json_is_integer(b)) return -compare_int_real(json_integer_value(b), json_real_value(a));
    double x = json_real_value(a), y = json_real_value(b);
    return x < y ? -1 : (x > y ? 1 : 0);
}

int lx_json_same(json_t *a, json_t *b)
{
    if (lx_json_is_finite_number(a) && lx_json_is_finite_number(b)) return lx_json_number_cmp(a, b) == 0;
    return json_equal(a, b);
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void lx_text_trim(const char **s, size_t *len)
{
    for (;;) {
        if (*len > 0 && blank((*s)[0]))
            (*s)++, (*len)--;
        else if (*len >= 2 && (unsigned char)(*s)[0] == 0xc2 && (unsigned char)(*s)[1] == 0xa0)
            (*s) += 2, (*len) -= 2;
        else
            break;
    }
    for (;;) {
        if (*len > 0 && blank((*s)[*len - 1]))
            (*len)--;
        else if (*len >= 2 && (unsigned char)(*s)[*len - 2] == 0xc2 && (unsigned char)(*s)[*len - 1] == 0xa0)
            (*len) -= 2;
        else
            break;
    }
}
