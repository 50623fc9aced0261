/*
 * Server log: one JSON object per line on stderr, written with a single
 * write(2) so lines from different threads never interleave. Contact data and
 * secrets never go here; callers log ids and stable codes.
 */
#ifndef LX_UTIL_LOG_H
#define LX_UTIL_LOG_H

typedef enum { LX_LOG_DEBUG, LX_LOG_INFO, LX_LOG_WARN, LX_LOG_ERROR } lx_log_level_t;

void lx_log_set_level(lx_log_level_t level);
/* "debug" | "info" | "warn" | "error" -> 0, else -1. */
int lx_log_parse_level(const char *s, lx_log_level_t *out);
/* {"ts":..., "level":..., "event": event, "msg": formatted} */
void lx_log(lx_log_level_t level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Formats the current UTC time as RFC 3339 with microseconds into out[32]. */
void lx_log_now_rfc3339(char out[32]);

#endif
