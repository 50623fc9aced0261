/*
 * One-dimensional PostgreSQL arrays in the binary wire format, built in C and
 * sent as statement parameters (`$1::uuid[]`, read with unnest()).
 *
 * Why: a batch sent as one jsonb document costs the server a full JSON parse,
 * a key sort per object and a text-to-type conversion per field before a row
 * exists (a sixth of PostgreSQL's time per lead, measured with perf). A binary
 * array is length-prefixed values the server copies as they are: a uuid is 16
 * bytes, a hash 32 raw bytes, no hex, no escaping.
 *
 * The element type OIDs are PostgreSQL's built-in ones (fixed by pg_type.dat);
 * the server refuses an array whose element type differs from the parameter's.
 * Appends never fail: the buffer grows (allocation failure is fatal).
 */
#ifndef LX_DB_PGARR_H
#define LX_DB_PGARR_H

#include "util/strbuf.h"

#include <stddef.h>
#include <stdint.h>

enum {
    LX_PG_BOOL = 16,
    LX_PG_BYTEA = 17,
    LX_PG_INT8 = 20,
    LX_PG_INT4 = 23,
    LX_PG_TEXT = 25,
    LX_PG_TIMESTAMPTZ = 1184,
    LX_PG_UUID = 2950,
    LX_PG_JSON = 114,
};

typedef struct st_lx_pgarr_t {
    lx_strbuf_t buf; /* header + elements; valid to send after lx_pgarr_finish */
    uint32_t elem_oid;
    int32_t count;
    int has_null;
} lx_pgarr_t;

/* Empties the array (keeping its memory) for elements of type `elem_oid`. */
void lx_pgarr_start(lx_pgarr_t *a, uint32_t elem_oid);
/* Writes the header; then a->buf.base / a->buf.len are the binary parameter (lx_db_param_bin). */
void lx_pgarr_finish(lx_pgarr_t *a);
void lx_pgarr_free(lx_pgarr_t *a);

void lx_pgarr_null(lx_pgarr_t *a);
/* bytea, or text (valid UTF-8 without NUL: the caller's promise) */
void lx_pgarr_bytes(lx_pgarr_t *a, const void *p, size_t n);
/* text; NULL appends SQL NULL */
void lx_pgarr_text(lx_pgarr_t *a, const char *s);
/* text, "" as SQL NULL */
void lx_pgarr_text_or_null(lx_pgarr_t *a, const char *s);
void lx_pgarr_int4(lx_pgarr_t *a, int32_t v);
void lx_pgarr_int8(lx_pgarr_t *a, int64_t v);
void lx_pgarr_bool(lx_pgarr_t *a, int v);
/* A uuid in its canonical 36-character text form; NULL or "" appends SQL NULL. */
void lx_pgarr_uuid(lx_pgarr_t *a, const char *text);
/* JSON text as json (the server checks its syntax and keeps the text). */
void lx_pgarr_json(lx_pgarr_t *a, const char *json, size_t n);
/* Microseconds since the Unix epoch as timestamptz. */
void lx_pgarr_timestamptz(lx_pgarr_t *a, int64_t unix_us);

#endif
