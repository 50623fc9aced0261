/*
 * RFC 8785 (JSON Canonicalization Scheme) for the value space leadx signs:
 * objects, arrays, strings, integers with |n| < 2^53, true, false, null.
 * No floating point ever reaches a signed document, so the number rule of
 * RFC 8785 (ECMAScript shortest form) reduces to plain decimal integers, and
 * a real or an integer outside the exact range is an error, not a rounding.
 *
 * Why not Jansson's JSON_SORT_KEYS | JSON_COMPACT: it sorts keys by bytes
 * (RFC 8785 orders by UTF-16 code units, which differs for characters above
 * U+FFFF against U+E000..U+FFFF), escapes '/' and non-ASCII differently and
 * writes reals in its own way.
 *
 * Pure functions, no I/O.
 */
#ifndef LX_UTIL_CANON_H
#define LX_UTIL_CANON_H

#include <jansson.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

#define LX_CANON_MAX_SAFE_INT 9007199254740991LL /* 2^53 - 1 */

/*
 * Appends the canonical form of `v` to `out`. Fails (LX_ERR_VALIDATION, with the JSON Pointer of the offending
 * value as the error's field) on a real, on an integer with |n| >= 2^53, or on a string that is not valid UTF-8.
 * On failure `out` may hold a partial document.
 */
lx_status_t lx_canon_json(const json_t *v, lx_strbuf_t *out, lx_error_t *err);

/* Appends one string as RFC 8785 writes it (quotes included); `s` must be valid UTF-8 of `len` bytes. */
void lx_canon_string(lx_strbuf_t *out, const char *s, size_t len);

/* strcmp for object keys in RFC 8785 order (UTF-16 code units of valid UTF-8 strings). */
int lx_canon_key_cmp(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Finds the top-level member `key` of a JSON object's text without building a tree: for readers of many stored
 * canonical documents (the log sequencer reads three members of every sale receipt's body). On 0, *val and *vlen are
 * the member's raw value text (a string keeps its quotes and escapes). -1 when the member is absent or `doc` is not an
 * object this scanner can walk (an unterminated string, unbalanced brackets, a missing ':' or ','). Keys are compared
 * as raw text, so a key written with escapes never matches; values are delimited, not validated.
 */
int lx_canon_member(const char *doc, size_t len, const char *key, const char **val, size_t *vlen);

#endif
