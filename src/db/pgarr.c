#include "db/pgarr.h"
#include "util/id.h"

#include <string.h>

#define HEADER_BYTES       20                /* ndim, flags, element type, one dimension's length and lower bound */
#define PG_EPOCH_OFFSET_US 946684800000000LL /* 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix microseconds */

static void put32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24), p[1] = (char)(v >> 16), p[2] = (char)(v >> 8), p[3] = (char)v;
}

static void append32(lx_pgarr_t *a, uint32_t v)
{
    char b[4];
    put32(b, v);
    lx_strbuf_append(&a->buf, b, 4);
}

static void element(lx_pgarr_t *a, const void *p, size_t n)
{
    append32(a, (uint32_t)n);
    lx_strbuf_append(&a->buf, p, n);
    a->count++;
}

void lx_pgarr_start(lx_pgarr_t *a, uint32_t elem_oid)
{
    if (a->buf.max == 0) lx_strbuf_init(&a->buf, (size_t)1 << 30);
    lx_strbuf_reset(&a->buf);
    char zero[HEADER_BYTES] = {0};
    lx_strbuf_append(&a->buf, zero, sizeof(zero));
    a->elem_oid = elem_oid;
    a->count = 0;
    a->has_null = 0;
}

void lx_pgarr_finish(lx_pgarr_t *a)
{
    char *h = a->buf.base;
    if (a->count == 0) { /* an empty array has no dimensions */
        put32(h, 0), put32(h + 4, 0), put32(h + 8, a->elem_oid);
        a->buf.len = 12;
        return;
    }
    put32(h, 1);
    put32(h + 4, (uint32_t)a->has_null);
    put32(h + 8, a->elem_oid);
    put32(h + 12, (uint32_t)a->count);
    put32(h + 16, 1);
}

void lx_pgarr_free(lx_pgarr_t *a)
{
    lx_strbuf_free(&a->buf);
    memset(a, 0, sizeof(*a));
}

void lx_pgarr_null(lx_pgarr_t *a)
{
    append32(a, UINT32_MAX); /* length -1 */
    a->count++;
    a->has_null = 1;
}

void lx_pgarr_bytes(lx_pgarr_t *a, const void *p, size_t n)
{
    element(a, p, n);
}

void lx_pgarr_text(lx_pgarr_t *a, const char *s)
{
    if (s == NULL)
        lx_pgarr_null(a);
    else
        element(a, s, strlen(s));
}

void lx_pgarr_text_or_null(lx_pgarr_t *a, const char *s)
{
    lx_pgarr_text(a, s != NULL && *s != '\0' ? s : NULL);
}

void lx_pgarr_int4(lx_pgarr_t *a, int32_t v)
{
    char b[4];
    put32(b, (uint32_t)v);
    element(a, b, 4);
}

void lx_pgarr_int8(lx_pgarr_t *a, int64_t v)
{
    char b[8];
    put32(b, (uint32_t)((uint64_t)v >> 32));
    put32(b + 4, (uint32_t)v);
    element(a, b, 8);
}

void lx_pgarr_bool(lx_pgarr_t *a, int v)
{
    char b = v ? 1 : 0;
    element(a, &b, 1);
}

void lx_pgarr_uuid(lx_pgarr_t *a, const char *text)
{
    lx_uuid_t id;
    if (text == NULL || *text == '\0' || lx_uuid_parse(text, strlen(text), &id) != 0) {
        lx_pgarr_null(a); /* callers pass ids they made or read back; a NOT NULL column refuses a stray one */
        return;
    }
    element(a, id.b, sizeof(id.b));
}

void lx_pgarr_json(lx_pgarr_t *a, const char *json, size_t n)
{
    element(a, json, n); /* json's binary format is its text */
}

void lx_pgarr_timestamptz(lx_pgarr_t *a, int64_t unix_us)
{
    lx_pgarr_int8(a, unix_us - PG_EPOCH_OFFSET_US);
}
