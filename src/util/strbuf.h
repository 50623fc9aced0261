/*
 * A growable byte buffer with a hard size cap (like curl's dynbuf): appending
 * past `max` sets `overflow` and keeps the content as it was, so callers check
 * once at the end instead of after every append. Allocation failure is fatal.
 */
#ifndef LX_UTIL_STRBUF_H
#define LX_UTIL_STRBUF_H

#include <stddef.h>

typedef struct st_lx_strbuf_t {
    char *base;
    size_t len;
    size_t cap;
    size_t max;
    int overflow;
} lx_strbuf_t;

void lx_strbuf_init(lx_strbuf_t *sb, size_t max);
void lx_strbuf_free(lx_strbuf_t *sb);
void lx_strbuf_reset(lx_strbuf_t *sb);
void lx_strbuf_append(lx_strbuf_t *sb, const char *s, size_t len);
void lx_strbuf_puts(lx_strbuf_t *sb, const char *s);
void lx_strbuf_printf(lx_strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` as a quoted JSON string; bytes < 0x20, '"' and '\\' are escaped, others copied. */
void lx_strbuf_append_json_string(lx_strbuf_t *sb, const char *s, size_t len);

/* Copies `src` (NULL: "") into dst[size], cut to size - 1 bytes and NUL-terminated (size > 0); returns 1 when it
 * was cut. What snprintf(dst, size, "%s", src) does, without the formatting machinery: the intake batch copies a few
 * thousand ids a batch. */
int lx_str_copy(char *dst, size_t size, const char *src);

/* Length of the well-formed UTF-8 sequence at s[i] (no overlongs, no surrogates), or 0. */
size_t lx_utf8_sequence_length(const char *s, size_t len, size_t i);
/* 1 if all of s[0..len) is well-formed UTF-8. */
int lx_utf8_valid(const char *s, size_t len);

/* Aborts the process with a message: the one place small allocation failures go. */
_Noreturn void lx_oom(void);
void *lx_malloc(size_t n);
void *lx_calloc(size_t n, size_t size);
void *lx_realloc(void *p, size_t n);
char *lx_strdup(const char *s);

#endif
