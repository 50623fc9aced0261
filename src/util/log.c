#include "util/log.h"
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static lx_log_level_t min_level = LX_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void lx_log_set_level(lx_log_level_t level)
{
    min_level = level;
}

int lx_log_parse_level(const char *s, lx_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (lx_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void lx_log_now_rfc3339(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%06dZ", (int)(ts.tv_nsec / 1000) % 1000000);
}

void lx_log(lx_log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < min_level) return;
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lx_log_now_rfc3339(ts);
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, 4096);
    lx_strbuf_printf(&sb, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts, level_names[level]);
    lx_strbuf_append_json_string(&sb, event, strlen(event));
    lx_strbuf_puts(&sb, ",\"msg\":");
    lx_strbuf_append_json_string(&sb, msg, strlen(msg));
    lx_strbuf_puts(&sb, "}\n");
    if (!sb.overflow) {
        ssize_t r = write(2, sb.base, sb.len);
        (void)r;
    }
    lx_strbuf_free(&sb);
}
