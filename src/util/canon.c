/*
 * RFC 8785 canonical JSON for the value space leadx signs (see canon.h).
 *
 * Why by hand: a signature is only checkable by a third party if both sides
 * produce the same bytes for the same value, and Jansson's own writer differs
 * from RFC 8785 in key order, escaping and numbers (canon.h says how).
 *
 * Strings are written as ECMAScript's JSON.stringify writes them (RFC 8785
 * §3.2.2.2): the two-character escapes for \b \t \n \f \r " and \, \u00xx
 * with lowercase hex for the other controls below 0x20, and every other code
 * point as its raw UTF-8 (so '/', DEL and U+2028 are not escaped).
 *
 * Object members are sorted by their names as arrays of UTF-16 code units
 * (§3.2.3). For valid UTF-8 that is byte order with one exception, so the
 * comparison needs no decoding: UTF-8 byte order is code point order, and
 * UTF-16 order agrees with it except that a code point above U+FFFF (a
 * surrogate pair, first unit 0xD800..0xDBFF) sorts before U+E000..U+FFFF.
 * At the first differing byte of two names both sides are at the same
 * position of a character (the bytes before are equal); if that byte is a
 * lead byte 0xF0..0xF4 (above U+FFFF) against 0xEE or 0xEF (U+E000..U+FFFF),
 * the order is reversed, otherwise the bytes decide. Within one lead byte the
 * orders agree (surrogate pairs preserve the order of supplementary code
 * points).
 *
 * Error pointers (RFC 6901, '~' as ~0 and '/' as ~1) are built in one buffer
 * shared by the whole walk, so deep documents cost no stack per level beyond
 * the recursion itself (lx_json_parse bounds the depth of outside input).
 */
#include "util/canon.h"
#include "util/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lx_canon_string(lx_strbuf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* the two-character escapes; the other bytes below 0x20 become \u00xx */
    static const char short_escape[128] = {
        ['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
    lx_strbuf_append(out, "\"", 1);
    size_t run = 0; /* start of the bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        lx_strbuf_append(out, s + run, i - run);
        if (short_escape[c] != 0) {
            char esc[2] = {'\\', short_escape[c]};
            lx_strbuf_append(out, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            lx_strbuf_append(out, esc, 6);
        }
        run = i + 1;
    }
    lx_strbuf_append(out, s + run, len - run);
    lx_strbuf_append(out, "\"", 1);
}

int lx_canon_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i]) i++;
    if (i == n) return alen < blen ? -1 : alen > blen ? 1 : 0;
    unsigned x = (unsigned char)a[i], y = (unsigned char)b[i];
    int x_supp = x >= 0xf0 && x <= 0xf4, y_supp = y >= 0xf0 && y <= 0xf4;
    if (x_supp && (y == 0xee || y == 0xef)) return -1; /* surrogate pair before U+E000..U+FFFF */
    if (y_supp && (x == 0xee || x == 0xef)) return 1;
    return x < y ? -1 : 1;
}

typedef struct {
    const char *key;
    size_t len;
    json_t *value;
} member_t;

static int member_cmp(const void *p, const void *q)
{
    const member_t *a = p, *b = q;
    return lx_canon_key_cmp(a->key, a->len, b->key, b->len);
}

/* The pointer under construction: buf[0..len), NUL-terminated, cut (when too long) at a character boundary. */
typedef struct {
    char buf[LX_JSON_POINTER_MAX];
    size_t len;
} pointer_t;

/* Appends "/" + escaped(key); a name that does not fit whole is cut before the first character that does not. */
static void pointer_push_key(pointer_t *p, const char *key, size_t klen)
{
    size_t n = p->len, cap = sizeof(p->buf) - 1; /* room for the NUL */
    if (n + 1 > cap) return;
    p->buf[n++] = '/';
    for (size_t i = 0; i < klen;) {
        unsigned char c = (unsigned char)key[i];
        size_t seq = c < 0x80 ? 1 : lx_utf8_sequence_length(key, klen, i);
        if (seq == 0) seq = 1; /* never for the valid names this is called with */
        size_t need = c == '~' || c == '/' ? 2 : seq;
        if (n + need > cap) break;
        if (c == '~' || c == '/') {
            p->buf[n++] = '~';
            p->buf[n++] = c == '~' ? '0' : '1';
        } else {
            memcpy(p->buf + n, key + i, seq);
            n += seq;
        }
        i += seq;
    }
    p->buf[n] = '\0';
    p->len = n;
}

static void pointer_push_index(pointer_t *p, size_t index)
{
    char tmp[24];
    int w = snprintf(tmp, sizeof(tmp), "/%zu", index);
    if (w <= 0 || p->len + (size_t)w >= sizeof(p->buf)) return; /* does not fit: the parent's pointer stays */
    memcpy(p->buf + p->len, tmp, (size_t)w + 1);
    p->len += (size_t)w;
}

static void pointer_pop(pointer_t *p, size_t len)
{
    p->len = len;
    p->buf[len] = '\0';
}

static lx_status_t refuse(lx_error_t *err, const pointer_t *p, const char *field_msg, const char *detail)
{
    lx_error_field(err, p->buf, "%s", field_msg);
    return lx_error_set(err, LX_ERR_VALIDATION, "%s", detail);
}

static lx_status_t canon(const json_t *v, lx_strbuf_t *out, pointer_t *p, lx_error_t *err)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        lx_strbuf_append(out, "null", 4);
        return LX_OK;
    case JSON_TRUE:
        lx_strbuf_append(out, "true", 4);
        return LX_OK;
    case JSON_FALSE:
        lx_strbuf_append(out, "false", 5);
        return LX_OK;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        if (n > LX_CANON_MAX_SAFE_INT || n < -LX_CANON_MAX_SAFE_INT)
            return refuse(err, p, "must be an integer of magnitude below 2^53", "A number cannot be represented exactly.");
        lx_strbuf_printf(out, "%lld", (long long)n);
        return LX_OK;
    }
    case JSON_REAL:
        return refuse(err, p, "must not be a floating-point number", "Signed documents hold no floating-point numbers.");
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (!lx_utf8_valid(s, len)) return refuse(err, p, "must be valid UTF-8", "A string is not valid UTF-8.");
        lx_canon_string(out, s, len);
        return LX_OK;
    }
    case JSON_ARRAY: {
        size_t base = p->len, n = json_array_size(v);
        lx_strbuf_append(out, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) lx_strbuf_append(out, ",", 1);
            pointer_push_index(p, i);
            lx_status_t st = canon(json_array_get(v, i), out, p, err);
            pointer_pop(p, base);
            if (st != LX_OK) return st;
        }
        lx_strbuf_append(out, "]", 1);
        return LX_OK;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0, base = p->len;
        if (n == 0) {
            lx_strbuf_append(out, "{}", 2);
            return LX_OK;
        }
        member_t small[20], *m = n <= 20 ? small : lx_malloc(n * sizeof(*m)); /* a receipt body has at most 17 */
        const char *key;
        size_t klen;
        json_t *val;
        void *tmp;
        json_object_keylen_foreach_safe((json_t *)v, tmp, key, klen, val)
        {
            m[k].key = key, m[k].len = klen, m[k].value = val;
            k++;
        }
        lx_status_t st = LX_OK;
        for (size_t i = 0; i < k && st == LX_OK; i++)
            if (!lx_utf8_valid(m[i].key, m[i].len)) /* named by its object: the name itself cannot be quoted */
                st = refuse(err, p, "member names must be valid UTF-8", "A member name is not valid UTF-8.");
        if (st == LX_OK) {
            qsort(m, k, sizeof(*m), member_cmp);
            lx_strbuf_append(out, "{", 1);
        }
        for (size_t i = 0; i < k && st == LX_OK; i++) {
            if (i) lx_strbuf_append(out, ",", 1);
            lx_canon_string(out, m[i].key, m[i].len);
            lx_strbuf_append(out, ":", 1);
            pointer_push_key(p, m[i].key, m[i].len);
            st = canon(m[i].value, out, p, err);
            pointer_pop(p, base);
        }
        if (m != small) free(m);
        if (st == LX_OK) lx_strbuf_append(out, "}", 1);
        return st;
    }
    }
    return refuse(err, p, "is not a JSON value", "Unknown JSON value.");
}

lx_status_t lx_canon_json(const json_t *v, lx_strbuf_t *out, lx_error_t *err)
{
    pointer_t p;
    p.buf[0] = '\0';
    p.len = 0;
    return canon(v, out, &p, err);
}

/* ---- reading members of a stored document ---------------------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* The index past the string that starts at s[i] (a '"'), or 0 when it is unterminated. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* The index past the value that starts at s[i], or 0 when there is none or it does not end. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n) return 0;
    if (s[i] == '"') return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            if (s[i] == '"') {
                if ((i = skip_string(s, i, n)) == 0) return 0;
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return 0;
    }
    size_t j = i; /* a number or a literal runs to the next delimiter */
    while (j < n && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r') j++;
    return j > i ? j : 0;
}

int lx_canon_member(const char *doc, size_t len, const char *key, const char **val, size_t *vlen)
{
    size_t klen = strlen(key), i = skip_ws(doc, 0, len);
    if (i >= len || doc[i] != '{') return -1;
    i = skip_ws(doc, i + 1, len);
    while (i < len && doc[i] == '"') {
        size_t kend = skip_string(doc, i, len);
        if (kend == 0) return -1;
        int match = kend - i - 2 == klen && memcmp(doc + i + 1, key, klen) == 0;
        i = skip_ws(doc, kend, len);
        if (i >= len || doc[i] != ':') return -1;
        i = skip_ws(doc, i + 1, len);
        size_t vend = skip_value(doc, i, len);
        if (vend == 0) return -1;
        if (match) {
            *val = doc + i;
            *vlen = vend - i;
            return 0;
        }
        i = skip_ws(doc, vend, len);
        if (i >= len || doc[i] != ',') return -1; /* the closing '}' (absent) or garbage */
        i = skip_ws(doc, i + 1, len);
    }
    return -1;
}
