/*
 * RFC 8785 canonical JSON for the value space leadx signs (see canon.h).
 *
 * Strings are written as ECMAScript's JSON.stringify writes them (RFC 8785
 * §3.2.2.2): the two-character escapes for \b \t \n \f \r " and \, \u00xx
 * with lowercase hex for the other controls below 0x20, and every other code
 * point as its raw UTF-8 (so '/', DEL and U+2028 are not escaped). Object
 * members are sorted by their names as arrays of UTF-16 code units (§3.2.3).
 */
#include "util/canon.h"
#include "util/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one UTF-8 sequence at s[*i] (strict: no overlongs, no surrogates, <= U+10FFFF). Returns the code point or
 * -1. */
static int32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return (int32_t)c;
    }
    size_t n;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
        n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    for (size_t k = 1; k <= n; k++) {
        if (*i + k >= len) return -1;
        unsigned cc = s[*i + k];
        if ((cc & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    *i += n + 1;
    return (int32_t)cp;
}

static int utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len)
        if (utf8_next((const unsigned char *)s, len, &i) < 0) return 0;
    return 1;
}

void lx_canon_string(lx_strbuf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    lx_strbuf_append(out, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c >= 0x20) continue;
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
        }
        lx_strbuf_append(out, s + run, i - run);
        if (esc != NULL)
            lx_strbuf_append(out, esc, strlen(esc));
        else
            lx_strbuf_append(out, u, 6);
        run = i + 1;
    }
    lx_strbuf_append(out, s + run, len - run);
    lx_strbuf_append(out, "\"", 1);
}

/* Code points compare as UTF-16 code units except that U+10000..U+10FFFF (surrogate pairs, 0xD800..0xDBFF first)
 * sort before U+E000..U+FFFF. Map each code point to the first unit's order, then the rest. */
static uint32_t utf16_rank(int32_t cp)
{
    if (cp >= 0x10000) return 0xd800 + (uint32_t)((cp - 0x10000) >> 10); /* its high surrogate */
    return (uint32_t)cp;
}

int lx_canon_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (i < alen && j < blen) {
        size_t i0 = i, j0 = j;
        int32_t ca = utf8_next(x, alen, &i), cb = utf8_next(y, blen, &j);
        if (ca < 0 || cb < 0) { /* invalid input: bytes decide (never for canonical documents) */
            i = i0 + 1, j = j0 + 1;
            if (x[i0] != y[j0]) return x[i0] < y[j0] ? -1 : 1;
            continue;
        }
        if (ca == cb) continue;
        uint32_t ra = utf16_rank(ca), rb = utf16_rank(cb);
        if (ra != rb) return ra < rb ? -1 : 1;
        /* same high surrogate: the low surrogates order as the code points do */
        return ca < cb ? -1 : 1;
    }
    if (i < alen) return 1;
    if (j < blen) return -1;
    return 0;
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

static lx_status_t canon(const json_t *v, lx_strbuf_t *out, char *path, size_t plen, size_t pcap, lx_error_t *err)
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
        if (n > LX_CANON_MAX_SAFE_INT || n < -LX_CANON_MAX_SAFE_INT) {
            lx_error_field(err, plen ? path : "", "must be an integer of magnitude below 2^53");
            return lx_error_set(err, LX_ERR_VALIDATION, "A number cannot be represented exactly.");
        }
        lx_strbuf_printf(out, "%lld", (long long)n);
        return LX_OK;
    }
    case JSON_REAL:
        lx_error_field(err, plen ? path : "", "must not be a floating-point number");
        return lx_error_set(err, LX_ERR_VALIDATION, "Signed documents hold no floating-point numbers.");
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (!utf8_valid(s, len)) {
            lx_error_field(err, plen ? path : "", "must be valid UTF-8");
            return lx_error_set(err, LX_ERR_VALIDATION, "A string is not valid UTF-8.");
        }
        lx_canon_string(out, s, len);
        return LX_OK;
    }
    case JSON_ARRAY: {
        lx_strbuf_append(out, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) lx_strbuf_append(out, ",", 1);
            size_t n = plen;
            int w = snprintf(path + plen, pcap - plen, "/%zu", i);
            if (w > 0 && (size_t)w < pcap - plen) n = plen + (size_t)w;
            lx_status_t st = canon(json_array_get(v, i), out, path, n, pcap, err);
            path[plen] = '\0';
            if (st != LX_OK) return st;
        }
        lx_strbuf_append(out, "]", 1);
        return LX_OK;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0;
        member_t *m = n ? malloc(n * sizeof(*m)) : NULL;
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
            if (!utf8_valid(m[i].key, m[i].len)) {
                lx_error_field(err, plen ? path : "", "member names must be valid UTF-8");
                st = lx_error_set(err, LX_ERR_VALIDATION, "A member name is not valid UTF-8.");
            }
        if (st == LX_OK && k > 1) qsort(m, k, sizeof(*m), member_cmp);
        if (st == LX_OK) lx_strbuf_append(out, "{", 1);
        for (size_t i = 0; i < k && st == LX_OK; i++) {
            if (i) lx_strbuf_append(out, ",", 1);
            lx_canon_string(out, m[i].key, m[i].len);
            lx_strbuf_append(out, ":", 1);
            /* RFC 6901: '~' as ~0, '/' as ~1 */
            size_t p = plen;
            if (p + 1 < pcap) path[p++] = '/';
            for (size_t c = 0; c < m[i].len && p + 2 < pcap; c++) {
                char ch = m[i].key[c];
                if (ch == '~' || ch == '/') {
                    path[p++] = '~';
                    path[p++] = ch == '~' ? '0' : '1';
                } else {
                    path[p++] = ch;
                }
            }
            path[p] = '\0';
            st = canon(m[i].value, out, path, p, pcap, err);
            path[plen] = '\0';
        }
        free(m);
        if (st == LX_OK) lx_strbuf_append(out, "}", 1);
        return st;
    }
    }
    return lx_error_set(err, LX_ERR_VALIDATION, "Unknown JSON value.");
}

lx_status_t lx_canon_json(const json_t *v, lx_strbuf_t *out, lx_error_t *err)
{
    char path[512];
    path[0] = '\0';
    return canon(v, out, path, 0, sizeof(path), err);
}
