/*
 * Parsing and reading JSON that comes from outside.
 *
 * lx_json_parse is the only entry point for request bodies: it rejects
 * duplicate object keys, invalid UTF-8, NUL characters and nesting deeper than
 * a cap, so handlers only ever see a well-formed tree of bounded depth.
 *
 * The field readers below check one member of an object and, on failure,
 * record a field error whose path is a JSON Pointer (RFC 6901) built from the
 * object's own pointer and the member name. They return 1 when the member is
 * present and valid, 0 when it is absent (or null and nullable), -1 when it is
 * invalid; validation code calls them all and looks at err->nfields once, so
 * a client learns about every bad field in one answer.
 */
#ifndef LX_UTIL_JSON_H
#define LX_UTIL_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/json_scan.h" /* LX_JSON_POINTER_MAX, lx_json_pointer */
#include "util/strbuf.h"

enum {
    LX_JF_REQUIRED = 1, /* absent -> "is required" */
    LX_JF_NULLABLE = 2, /* explicit null allowed, reads as absent */
};

/* NULL + LX_ERR_MALFORMED_JSON (field "", the detail saying where) on any problem, or LX_ERR_VALIDATION naming an
 * integer beyond the int64 range or a real beyond a double's (valid JSON, so the client is told which field). Any JSON value is
 * accepted at the top level; callers check its type. The caller owns the result (json_decref). */
json_t *lx_json_parse(const char *buf, size_t len, size_t max_depth, lx_error_t *err);

/* Reports every member of `obj` whose name is not in the NULL-terminated `allowed` list. Returns the count. */
int lx_json_reject_unknown(json_t *obj, const char *base, const char *const allowed[], lx_error_t *err);
/* `v` must be an object; otherwise records "must be an object" at `path`. Returns 0/-1. */
int lx_json_expect_object(json_t *v, const char *path, lx_error_t *err);

/* Strings: length counted in Unicode code points; control characters (< 0x20, 0x7f) rejected unless allow_ctl. */
int lx_json_string(json_t *obj, const char *base, const char *key, unsigned flags, size_t min_chars, size_t max_chars,
                   const char **out, lx_error_t *err);
int lx_json_int(json_t *obj, const char *base, const char *key, unsigned flags, int64_t min, int64_t max, int64_t *out,
                lx_error_t *err);
int lx_json_bool(json_t *obj, const char *base, const char *key, unsigned flags, int *out, lx_error_t *err);
/* One of the NULL-terminated `values`; *index receives its position. */
int lx_json_enum(json_t *obj, const char *base, const char *key, unsigned flags, const char *const values[], int *index,
                 lx_error_t *err);

/* Appends `v` as compact JSON (members in Jansson's order; reals in the shortest form that reads back as the same
 * double, so 0.1 stays 0.1). Several times faster than json_dumps, which matters on the intake path. `v` holds valid
 * UTF-8, as lx_json_parse ensures. */
void lx_json_dump(const json_t *v, lx_strbuf_t *out);
/* The same into a new malloc'd NUL-terminated string. */
char *lx_json_dumps(const json_t *v);

/* Number of UTF-8 code points in a valid UTF-8 string. */
size_t lx_utf8_length(const char *s, size_t len);
/* Narrows [*s, *s + *len) past ASCII blanks, line breaks and no-break spaces (U+00A0), in any mix, at both ends. */
void lx_text_trim(const char **s, size_t *len);
/* 1 if `s` holds a C0 control character or DEL. */
int lx_has_control_chars(const char *s, size_t len);

/* 1 for a JSON integer or a finite real. */
int lx_json_is_finite_number(const json_t *v);
/* -1, 0 or 1 as a <, ==, > b, both finite JSON numbers, exactly: an integer is never rounded to a double (it would
 * be above 2^53), so 9007199254740993 > 9007199254740992.0. */
int lx_json_number_cmp(const json_t *a, const json_t *b);
/* Two JSON values are the same value: numbers by lx_json_number_cmp (5 equals 5.0), anything else by json_equal. */
int lx_json_same(json_t *a, json_t *b);
#endif
