/*
 * The in-place JSON scanner and tree builder (json_scan.h). Why it is shaped this way:
 *
 * - Runs of plain ASCII, most of any document, are skipped in one loop; only escapes and non-ASCII bytes take the
 *   slow path, and every non-ASCII sequence is checked to be well-formed UTF-8 (RFC 3629).
 * - A string without escapes is handed to Jansson straight from the text (Jansson copies it once); only a string
 *   with escapes is decoded, into a stack buffer unless it is long. Member names likewise.
 * - Where a failure is (its JSON Pointer) is worked out only when there is one: the builder keeps a chain of frames
 *   on the C stack (member name or array index), not a pointer string per value.
 * - Numbers out of range are not syntax: the builder notes the first, goes on with a null in its place, and reports
 *   it only if the rest of the value is valid JSON, so malformed text is always reported as such.
 */
#include "util/json_scan.h"
#include "util/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKIP_DEPTH_MAX 32
#define INLINE_STRING  256 /* decoded strings and names with escapes up to this size stay on the stack */

const char lx_json_scan_too_deep[] = "nested too deeply";
static const char not_an_integer[] = "must be an integer"; /* a valid real: the builder makes it one */

void lx_json_scan_init(lx_json_scan_t *s, const char *text, size_t len)
{
    s->begin = s->p = text;
    s->end = text + len;
    s->msg = NULL;
    s->where[0] = '\0';
    s->syntax = 0;
    s->fail_at = text;
}

int lx_json_scan_fail(lx_json_scan_t *s, const char *where, int syntax, const char *msg)
{
    if (s->msg == NULL) {
        s->msg = msg;
        s->syntax = syntax;
        s->fail_at = s->p;
        lx_str_copy(s->where, sizeof(s->where), where);
    }
    return -1;
}

void lx_json_scan_position(const lx_json_scan_t *s, int *line, int *column)
{
    int l = 1, c = 1;
    for (const char *q = s->begin; q < s->fail_at && q < s->end; q++) {
        if (*q == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)*q & 0xc0) != 0x80) { /* a character starts here */
            c++;
        }
    }
    *line = l;
    *column = c;
}

void lx_json_scan_space(lx_json_scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) s->p++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

int lx_json_scan_string(lx_json_scan_t *s, const char *where, char *out, size_t cap, size_t *len)
{
    if (s->p >= s->end || *s->p != '"') return lx_json_scan_fail(s, where, 1, "a string was expected");
    s->p++;
    size_t n = 0;
#define PUT(c)                                                                                                                     \
    do {                                                                                                                           \
        if (out != NULL && n + 1 < cap) out[n] = (char)(c);                                                                        \
        n++;                                                                                                                       \
    } while (0)
    while (1) {
        /* a run of plain ASCII in one go */
        const char *run = s->p;
        while (run < s->end && (unsigned char)*run >= 0x20 && (unsigned char)*run < 0x80 && *run != '"' && *run != '\\') run++;
        if (run > s->p) {
            size_t k = (size_t)(run - s->p);
            if (out != NULL && n + 1 < cap) memcpy(out + n, s->p, n + k + 1 < cap ? k : cap - 1 - n);
            n += k;
            s->p = run;
        }
        if (s->p >= s->end) return lx_json_scan_fail(s, where, 1, "unterminated string");
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            break;
        }
        if (c < 0x20) return lx_json_scan_fail(s, where, 1, "control character in a string");
        if (c == '\\') {
            if (s->end - s->p < 2) return lx_json_scan_fail(s, where, 1, "unterminated escape");
            char e = s->p[1];
            s->p += 2;
            switch (e) {
            case '"':
                PUT('"');
                break;
            case '\\':
                PUT('\\');
                break;
            case '/':
                PUT('/');
                break;
            case 'b':
                PUT('\b');
                break;
            case 'f':
                PUT('\f');
                break;
            case 'n':
                PUT('\n');
                break;
            case 'r':
                PUT('\r');
                break;
            case 't':
                PUT('\t');
                break;
            case 'u': {
                unsigned cp, lo;
                if (hex4(s->p, s->end, &cp) != 0) return lx_json_scan_fail(s, where, 1, "invalid \\u escape");
                s->p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff) return lx_json_scan_fail(s, where, 1, "lone low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || hex4(s->p + 2, s->end, &lo) != 0 || lo < 0xdc00 ||
                        lo > 0xdfff)
                        return lx_json_scan_fail(s, where, 1, "lone high surrogate");
                    s->p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0) return lx_json_scan_fail(s, where, 1, "\\u0000 in a string");
                if (cp < 0x80) {
                    PUT(cp);
                } else if (cp < 0x800) {
                    PUT(0xc0 | cp >> 6);
                    PUT(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    PUT(0xe0 | cp >> 12);
                    PUT(0x80 | (cp >> 6 & 0x3f));
                    PUT(0x80 | (cp & 0x3f));
                } else {
                    PUT(0xf0 | cp >> 18);
                    PUT(0x80 | (cp >> 12 & 0x3f));
                    PUT(0x80 | (cp >> 6 & 0x3f));
                    PUT(0x80 | (cp & 0x3f));
                }
                break;
            }
            default:
                return lx_json_scan_fail(s, where, 1, "invalid escape");
            }
            continue;
        }
        size_t k = lx_utf8_sequence_length(s->p, (size_t)(s->end - s->p), 0);
        if (k == 0) return lx_json_scan_fail(s, where, 1, "invalid UTF-8");
        for (size_t i = 0; i < k; i++) PUT(s->p[i]);
        s->p += k;
    }
#undef PUT
    if (out != NULL && cap > 0) out[n < cap ? n : cap - 1] = '\0';
    *len = n;
    return 0;
}

int lx_json_scan_literal(lx_json_scan_t *s, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0) return 0;
    s->p += n;
    return 1;
}

int lx_json_scan_number(lx_json_scan_t *s, const char *where, int64_t *out)
{
    const char *p = s->p;
    int neg = p < s->end && *p == '-';
    if (neg) p++;
    if (p >= s->end || *p < '0' || *p > '9') return lx_json_scan_fail(s, where, 1, "a value was expected");
    const char *digits = p;
    if (*p == '0')
        p++;
    else
        while (p < s->end && *p >= '0' && *p <= '9') p++;
    size_t ndig = (size_t)(p - digits);
    int real = 0;
    if (p < s->end && *p == '.') {
        p++;
        if (p >= s->end || *p < '0' || *p > '9') return lx_json_scan_fail(s, where, 1, "invalid number");
        while (p < s->end && *p >= '0' && *p <= '9') p++;
        real = 1;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-')) p++;
        if (p >= s->end || *p < '0' || *p > '9') return lx_json_scan_fail(s, where, 1, "invalid number");
        while (p < s->end && *p >= '0' && *p <= '9') p++;
        real = 1;
    }
    s->p = p;
    if (real) return lx_json_scan_fail(s, where, 0, not_an_integer);
    uint64_t v = 0;
    for (size_t i = 0; i < ndig; i++) {
        unsigned d = (unsigned)(digits[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return lx_json_scan_fail(s, where, 0, "is out of range");
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return lx_json_scan_fail(s, where, 0, "is out of range");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

int lx_json_scan_next(lx_json_scan_t *s, const char *where, char close)
{
    lx_json_scan_space(s);
    if (s->p < s->end && (*s->p == ',' || *s->p == close)) return *s->p++ == ',';
    return lx_json_scan_fail(s, where, 1, close == '}' ? "',' or '}' was expected" : "',' or ']' was expected");
}

int lx_json_scan_skip(lx_json_scan_t *s, const char *where, int depth)
{
    if (depth > SKIP_DEPTH_MAX) return lx_json_scan_fail(s, where, 1, lx_json_scan_too_deep);
    lx_json_scan_space(s);
    if (s->p >= s->end) return lx_json_scan_fail(s, where, 1, "a value was expected");
    char c = *s->p;
    size_t len;
    int64_t i;
    if (c == '"') return lx_json_scan_string(s, where, NULL, 0, &len);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        s->p++;
        lx_json_scan_space(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return 0;
        }
        while (1) {
            if (c == '{') {
                lx_json_scan_space(s);
                if (lx_json_scan_string(s, where, NULL, 0, &len) != 0) return -1;
                lx_json_scan_space(s);
                if (s->p >= s->end || *s->p != ':') return lx_json_scan_fail(s, where, 1, "':' was expected");
                s->p++;
            }
            if (lx_json_scan_skip(s, where, depth + 1) != 0) return -1;
            int more = lx_json_scan_next(s, where, close);
            if (more <= 0) return more;
        }
    }
    if (lx_json_scan_literal(s, "true") || lx_json_scan_literal(s, "false") || lx_json_scan_literal(s, "null")) return 0;
    if (c == '-' || (c >= '0' && c <= '9')) {
        int r = lx_json_scan_number(s, where, &i);
        if (r < 0 && !s->syntax) { /* reals and big integers are valid JSON; what they mean is judged elsewhere */
            s->msg = NULL;
            return 0;
        }
        return r < 0 ? -1 : 0;
    }
    return lx_json_scan_fail(s, where, 1, "a value was expected");
}

int lx_json_scan_end(lx_json_scan_t *s)
{
    lx_json_scan_space(s);
    return s->p == s->end ? 0 : lx_json_scan_fail(s, "", 1, "text after the value");
}

/* ---- the tree builder ---- */

/* Where the value being built is: a member name (key != NULL) or an array index, and its container's frame. */
typedef struct frame {
    const struct frame *up;
    const char *key;
    size_t klen, index;
} frame_t;

typedef struct {
    lx_json_scan_t *s;
    const char *base;
    size_t max_depth;
    const char *range_msg; /* the first number out of range, reported if the rest is valid */
    char range_where[LX_JSON_POINTER_MAX];
    const char *range_at;
} builder_t;

/* base, then each frame's member name or index from the outermost in (the chain is as deep as the nesting, which
 * the builder caps). */
static void frame_pointer(const builder_t *b, const frame_t *f, char out[LX_JSON_POINTER_MAX])
{
    if (f == NULL) {
        snprintf(out, LX_JSON_POINTER_MAX, "%s", b->base);
        return;
    }
    frame_pointer(b, f->up, out);
    char index[24];
    const char *key = f->key;
    size_t klen = f->klen;
    if (key == NULL) {
        klen = (size_t)snprintf(index, sizeof(index), "%zu", f->index);
        key = index;
    }
    lx_json_pointer_n(out, out, key, klen);
}

/* A failure that a scan primitive recorded at "": it is about the value at frame f. */
static void place_failure(builder_t *b, const frame_t *f)
{
    if (b->s->msg != NULL && b->s->where[0] == '\0') frame_pointer(b, f, b->s->where);
}

static json_t *fail_at(builder_t *b, const frame_t *f, const char *msg)
{
    lx_json_scan_fail(b->s, "", 1, msg);
    place_failure(b, f);
    return NULL;
}

/* The string at s->p, decoded: straight from the text when it has no escapes (its decoded length is then its length
 * in the text, as every escape is longer than what it stands for), else into `inline_buf` or, when longer, a buffer
 * the caller frees (*owned). */
static const char *string_at(builder_t *b, const frame_t *f, char inline_buf[INLINE_STRING], char **owned, size_t *len)
{
    lx_json_scan_t *s = b->s;
    const char *at = s->p;
    *owned = NULL;
    if (lx_json_scan_string(s, "", NULL, 0, len) != 0) {
        place_failure(b, f);
        return NULL;
    }
    if (*len == (size_t)(s->p - at) - 2) return at + 1;
    char *out = *len < INLINE_STRING ? inline_buf : (*owned = lx_malloc(*len + 1));
    const char *after = s->p;
    s->p = at;
    lx_json_scan_string(s, "", out, *len + 1, len); /* valid: it was just scanned */
    s->p = after;
    return out;
}

static json_t *build(builder_t *b, const frame_t *f, size_t depth);

static json_t *build_object(builder_t *b, const frame_t *f, size_t depth)
{
    lx_json_scan_t *s = b->s;
    json_t *o = json_object();
    s->p++;
    lx_json_scan_space(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return o;
    }
    while (1) {
        lx_json_scan_space(s);
        char inline_key[INLINE_STRING], *owned;
        frame_t child = {f, NULL, 0, 0};
        child.key = string_at(b, f, inline_key, &owned, &child.klen);
        if (child.key == NULL) break;
        json_t *val = NULL;
        if (json_object_getn(o, child.key, child.klen) != NULL) {
            fail_at(b, &child, "duplicate object key");
        } else {
            lx_json_scan_space(s);
            if (s->p < s->end && *s->p == ':') {
                s->p++;
                val = build(b, &child, depth);
            } else {
                fail_at(b, f, "':' was expected");
            }
        }
        if (val != NULL) json_object_setn_new_nocheck(o, child.key, child.klen, val);
        free(owned);
        if (val == NULL) break;
        int more = lx_json_scan_next(s, "", '}');
        if (more == 0) return o;
        if (more < 0) {
            place_failure(b, f);
            break;
        }
    }
    json_decref(o);
    return NULL;
}

static json_t *build_array(builder_t *b, const frame_t *f, size_t depth)
{
    lx_json_scan_t *s = b->s;
    json_t *a = json_array();
    s->p++;
    lx_json_scan_space(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return a;
    }
    for (size_t i = 0;; i++) {
        frame_t child = {f, NULL, 0, i};
        json_t *val = build(b, &child, depth);
        if (val == NULL) break;
        json_array_append_new(a, val);
        int more = lx_json_scan_next(s, "", ']');
        if (more == 0) return a;
        if (more < 0) {
            place_failure(b, f);
            break;
        }
    }
    json_decref(a);
    return NULL;
}

/* A number whose value an int64 (integer) or double (real) does not hold is noted and stands in as null. */
static json_t *build_number(builder_t *b, const frame_t *f)
{
    lx_json_scan_t *s = b->s;
    const char *at = s->p;
    int64_t i;
    if (lx_json_scan_number(s, "", &i) == 1) return json_integer(i);
    if (s->syntax) {
        place_failure(b, f);
        return NULL;
    }
    const char *msg = s->msg;
    s->msg = NULL; /* valid JSON: "must be an integer" is a real, "is out of range" an integer beyond int64 */
    json_t *real = NULL;
    if (msg == not_an_integer) {
        char small[64], *text = (size_t)(s->p - at) < sizeof(small) ? small : lx_malloc((size_t)(s->p - at) + 1);
        memcpy(text, at, (size_t)(s->p - at)); /* strtod needs a terminated copy: the text may end right here */
        text[s->p - at] = '\0';
        real = json_real(strtod(text, NULL)); /* NULL when beyond a double (infinite) */
        if (text != small) free(text);
        msg = "is out of range";
    }
    if (real != NULL) return real;
    if (b->range_msg == NULL) {
        b->range_msg = msg;
        b->range_at = at;
        frame_pointer(b, f, b->range_where);
    }
    return json_null();
}

static json_t *build(builder_t *b, const frame_t *f, size_t depth)
{
    lx_json_scan_t *s = b->s;
    lx_json_scan_space(s);
    if (s->p >= s->end) return fail_at(b, f, "a value was expected");
    char c = *s->p;
    if (c == '"') {
        char inline_buf[INLINE_STRING], *owned;
        size_t len;
        const char *text = string_at(b, f, inline_buf, &owned, &len);
        json_t *v = text != NULL ? json_stringn_nocheck(text, len) : NULL;
        free(owned);
        return v;
    }
    if (c == '{' || c == '[') {
        if (depth >= b->max_depth) return fail_at(b, f, lx_json_scan_too_deep);
        return c == '{' ? build_object(b, f, depth + 1) : build_array(b, f, depth + 1);
    }
    if (lx_json_scan_literal(s, "true")) return json_true();
    if (lx_json_scan_literal(s, "false")) return json_false();
    if (lx_json_scan_literal(s, "null")) return json_null();
    if (c == '-' || (c >= '0' && c <= '9')) return build_number(b, f);
    return fail_at(b, f, "a value was expected");
}

json_t *lx_json_scan_value(lx_json_scan_t *s, const char *base, size_t max_depth)
{
    builder_t b = {.s = s, .base = base, .max_depth = max_depth};
    json_t *v = build(&b, NULL, 0);
    if (v != NULL && b.range_msg != NULL) {
        json_decref(v);
        const char *p = s->p;
        s->p = b.range_at;
        lx_json_scan_fail(s, b.range_where, 0, b.range_msg);
        s->p = p;
        return NULL;
    }
    return v;
}

/* ---- JSON Pointers ---- */

void lx_json_pointer_n(char out[LX_JSON_POINTER_MAX], const char *base, const char *key, size_t klen)
{
    size_t n = strlen(base);
    if (n >= LX_JSON_POINTER_MAX - 2) { /* cannot happen with pointers built here; keep the base, cut */
        n = LX_JSON_POINTER_MAX - 2;
        while (n > 0 && ((unsigned char)base[n] & 0xc0) == 0x80) n--;
    }
    memmove(out, base, n);
    out[n++] = '/';
    for (size_t i = 0; i < klen && n < LX_JSON_POINTER_MAX - 3; i++) {
        /* never cut a UTF-8 sequence: stop before a lead byte whose sequence would not fit */
        unsigned char c = (unsigned char)key[i];
        size_t seq = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (seq > 1 && n + seq > LX_JSON_POINTER_MAX - 3) break;
        if (c == '~') {
            out[n++] = '~';
            out[n++] = '0';
        } else if (c == '/') {
            out[n++] = '~';
            out[n++] = '1';
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
}

void lx_json_pointer(char out[LX_JSON_POINTER_MAX], const char *base, const char *key)
{
    lx_json_pointer_n(out, base, key, strlen(key));
}
