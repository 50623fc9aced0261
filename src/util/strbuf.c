#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void lx_oom(void)
{
    static const char msg[] = "{\"level\":\"fatal\",\"event\":\"out_of_memory\"}\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *lx_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) lx_oom();
    return p;
}

void *lx_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) lx_oom();
    return p;
}

void *lx_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) lx_oom();
    return q;
}

char *lx_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = lx_malloc(n);
    memcpy(p, s, n);
    return p;
}

void lx_strbuf_init(lx_strbuf_t *sb, size_t max)
{
    sb->base = NULL;
    sb->len = 0;
    sb->cap = 0;
    sb->max = max;
    sb->overflow = 0;
}

void lx_strbuf_free(lx_strbuf_t *sb)
{
    free(sb->base);
    lx_strbuf_init(sb, sb->max);
}

void lx_strbuf_reset(lx_strbuf_t *sb)
{
    sb->len = 0;
    sb->overflow = 0;
    if (sb->base != NULL) sb->base[0] = '\0';
}

static int reserve(lx_strbuf_t *sb, size_t extra)
{
    if (sb->overflow || extra > sb->max - sb->len) {
        sb->overflow = 1;
        return -1;
    }
    size_t need = sb->len + extra + 1;
    if (need > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < need) cap *= 2;
        sb->base = lx_realloc(sb->base, cap);
        sb->cap = cap;
    }
    return 0;
}

void lx_strbuf_append(lx_strbuf_t *sb, const char *s, size_t len)
{
    if (reserve(sb, len) != 0) return;
    memcpy(sb->base + sb->len, s, len);
    sb->len += len;
    sb->base[sb->len] = '\0';
}

void lx_strbuf_puts(lx_strbuf_t *sb, const char *s)
{
    lx_strbuf_append(sb, s, strlen(s));
}

void lx_strbuf_printf(lx_strbuf_t *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(small)) {
        lx_strbuf_append(sb, small, (size_t)n);
        return;
    }
    if (reserve(sb, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(sb->base + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no surrogates), or 0. */
size_t lx_utf8_sequence_length(const char *s, size_t len, size_t i)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[i];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (i + n > len) return 0;
    if (u[i + 1] < lo || u[i + 1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((u[i + k] & 0xc0) != 0x80) return 0;
    return n;
}

void lx_strbuf_append_json_string(lx_strbuf_t *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    lx_strbuf_append(sb, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* Output is always valid UTF-8: a bad sequence (e.g. echoed from a parser message) becomes U+FFFD. */
            size_t n = lx_utf8_sequence_length(s, len, i);
            if (n != 0) {
                i += n - 1;
                continue;
            }
            lx_strbuf_append(sb, s + run, i - run);
            lx_strbuf_append(sb, "\\ufffd", 6);
            run = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        lx_strbuf_append(sb, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            lx_strbuf_append(sb, "\\\"", 2);
            break;
        case '\\':
            lx_strbuf_append(sb, "\\\\", 2);
            break;
        case '\n':
            lx_strbuf_append(sb, "\\n", 2);
            break;
        case '\r':
            lx_strbuf_append(sb, "\\r", 2);
            break;
        case '\t':
            lx_strbuf_append(sb, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            lx_strbuf_append(sb, esc, 6);
        }
        }
    }
    lx_strbuf_append(sb, s + run, len - run);
    lx_strbuf_append(sb, "\"", 1);
}

int lx_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x80) continue;
        size_t n = lx_utf8_sequence_length(s, len, i);
        if (n == 0) return 0;
        i += n - 1;
    }
    return 1;
}

int lx_str_copy(char *dst, size_t size, const char *src)
{
    size_t len = src != NULL ? strlen(src) : 0, n = len < size ? len : size - 1;
    if (n > 0) memcpy(dst, src, n);
    dst[n] = '\0';
    return n < len;
}
