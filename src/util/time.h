/*
 * Timestamps. The API speaks RFC 3339 UTC with exactly six fractional digits
 * ("2026-11-23T04:55:27.123456Z"). PostgreSQL sessions run with TimeZone=UTC
 * and DateStyle=ISO, so timestamptz text is "2026-11-23 04:55:27.1234+00"
 * (fraction trimmed, or absent); converting that in C is much cheaper than
 * to_char() on the server for every row.
 */
#ifndef LX_UTIL_TIME_H
#define LX_UTIL_TIME_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define LX_TS_LEN   27                    /* without the NUL */
#define LX_TS_MAX_S INT64_C(253402300799) /* 9999-12-31T23:59:59Z, the last second RFC 3339's four-digit year names */

/* Converts PostgreSQL's ISO text of a UTC timestamptz. Returns 0, or -1 if `pg` is not in that form. */
int lx_ts_from_pg(const char *pg, char out[LX_TS_LEN + 1]);
/* The column as an RFC 3339 JSON string, or JSON null when SQL NULL (or unparsable). */
json_t *lx_ts_json(const PGresult *r, int row, int col);

/*
 * Parses an RFC 3339 date-time from outside ("2026-11-23T10:00:00Z", "...T10:00:00.5+03:00"; 'T'/'t' and 'Z'/'z';
 * up to 9 fractional digits, kept to the microsecond; leap second 60 read as 59.999999; years 1970..9999, and so
 * is the instant in UTC: from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z).
 * `len` bytes, no NUL needed. Returns 0 and Unix microseconds (UTC) in *out_us, or -1.
 */
int lx_ts_parse_rfc3339(const char *s, size_t len, int64_t *out_us);
/* The wall clock now, as Unix microseconds. */
int64_t lx_ts_now_us(void);
/* Unix microseconds as RFC 3339 UTC with six fractional digits (LX_TS_LEN chars + NUL). */
void lx_ts_format_us(int64_t us, char out[LX_TS_LEN + 1]);

/* A wall-clock reading in some time zone: its date as days since 1970-01-01, its ISO weekday from Monday = 0 to
 * Sunday = 6, and its minute of the day (0..1439). */
typedef struct st_lx_wall_clock_t {
    int64_t day;
    int weekday;
    int minute;
} lx_wall_clock_t;
/* The reading whose local date and time, counted as if they were UTC, are `local_s` seconds after 1970-01-01 00:00:00
 * (PostgreSQL's epoch of a timestamp without time zone, such as now() AT TIME ZONE tz; before 1970 too). The zone's
 * rules stay in the database: this is calendar arithmetic only. */
lx_wall_clock_t lx_wall_clock_from_local_s(int64_t local_s);

#endif
