/*
 * Opaque, time-ordered identifiers: UUIDv7 (RFC 9562), made in process
 * without a database round trip. 48 bits of Unix milliseconds, then 74 random
 * bits, so ids sort by creation time and keyset pagination over them is stable.
 */
#ifndef LX_UTIL_ID_H
#define LX_UTIL_ID_H

#include <stddef.h>
#include <stdint.h>

#define LX_UUID_STRLEN 36 /* 8-4-4-4-12, without the NUL */
#define LX_UUID_HEXLEN 32

typedef struct st_lx_uuid_t {
    uint8_t b[16];
} lx_uuid_t;

void lx_uuid_v7(lx_uuid_t *out);
/* Same layout, random bits from a per-thread generator seeded once from the OS: for request ids and other
 * non-secret labels on the hot path, where a getrandom() per call would show up in profiles. A thread's ids are
 * strictly increasing (a counter orders those of one millisecond), so one thread's rows list in creation order. */
void lx_uuid_v7_fast(lx_uuid_t *out);
/* Writes 36 chars + NUL. */
void lx_uuid_format(const lx_uuid_t *id, char out[LX_UUID_STRLEN + 1]);
/* Writes 32 lower-case hex chars + NUL. */
void lx_uuid_format_hex(const lx_uuid_t *id, char out[LX_UUID_HEXLEN + 1]);
/* Strict parse of the canonical 36-char form (either hex case). Returns 0 or -1. */
int lx_uuid_parse(const char *s, size_t len, lx_uuid_t *out);
/* Parse of the 32-char hex form (lower case only). Returns 0 or -1. */
int lx_uuid_parse_hex(const char *s, size_t len, lx_uuid_t *out);

#endif
