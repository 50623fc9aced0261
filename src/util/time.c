#include "util/time.h"

#include <time.h>

#include <stdio.h>
#include <string.h>

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

int lx_ts_from_pg(const char *pg, char out[LX_TS_LEN + 1])
{
    /* YYYY-MM-DD HH:MM:SS[.f{1,6}]+00 */
    size_t len = strlen(pg);
    if (len < 22 || !digits(pg, 4) || pg[4] != '-' || !digits(pg + 5, 2) || pg[7] != '-' || !digits(pg + 8, 2) || pg[10] != ' ' ||
        !digits(pg + 11, 2) || pg[13] != ':' || !digits(pg + 14, 2) || pg[16] != ':' || !digits(pg + 17, 2))
        return -1;
    size_t i = 19, nfrac = 0;
    char frac[7] = "000000";
    if (pg[i] == '.') {
        i++;
        while (i < len && pg[i] >= '0' && pg[i] <= '9') {
            if (nfrac == 6) return -1;
            frac[nfrac++] = pg[i++];
        }
        if (nfrac == 0) return -1;
    }
    if (strcmp(pg + i, "+00") != 0) return -1;
    memcpy(out, pg, 10);
    out[10] = 'T';
    memcpy(out + 11, pg + 11, 8);
    out[19] = '.';
    memcpy(out + 20, frac, 6);
    out[26] = 'Z';
    out[27] = '\0';
    return 0;
}

json_t *lx_ts_json(const PGresult *r, int row, int col)
{
    char buf[LX_TS_LEN + 1];
    if (PQgetisnull(r, row, col) || lx_ts_from_pg(PQgetvalue(r, row, col), buf) != 0) return json_null();
    return json_stringn(buf, LX_TS_LEN);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

lx_wall_clock_t lx_wall_clock_from_local_s(int64_t local_s)
{
    int64_t day = local_s / 86400, s = local_s % 86400;
    if (s < 0) s += 86400, day--;    /* floor: 1969-12-31 23:59 is day -1 */
    int64_t weekday = (day + 3) % 7; /* 1970-01-01 was a Thursday (3) */
    if (weekday < 0) weekday += 7;
    return (lx_wall_clock_t){day, (int)weekday, (int)(s / 60)};
}

static unsigned num(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (unsigned)(s[i] - '0');
    return v;
}

int lx_ts_parse_rfc3339(const char *s, size_t len, int64_t *out_us)
{
    /* YYYY-MM-DDTHH:MM:SS[.f+](Z|+HH:MM|-HH:MM) */
    if (len < 20 || len > 40 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' ||
        !digits(s + 17, 2))
        return -1;
    unsigned year = num(s, 4), mon = num(s + 5, 2), day = num(s + 8, 2);
    unsigned hh = num(s + 11, 2), mm = num(s + 14, 2), ss = num(s + 17, 2);
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1970 || mon < 1 || mon > 12 || day < 1) return -1;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > mdays[mon - 1] + (mon == 2 && leap) || hh > 23 || mm > 59 || ss > 60) return -1;
    size_t i = 19;
    int64_t frac_us = 0;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 6) frac_us = frac_us * 10 + (s[i] - '0');
            i++;
        }
        size_t n = i - start;
        if (n == 0 || n > 9) return -1;
        for (size_t k = n; k < 6; k++) frac_us *= 10;
    }
    int64_t offset_s = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        /* UTC */
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) && s[i + 3] == ':' && digits(s + i + 4, 2)) {
        unsigned oh = num(s + i + 1, 2), om = num(s + i + 4, 2);
        if (oh > 23 || om > 59) return -1;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    } else {
        return -1;
    }
    if (ss == 60) { /* a leap second: the last representable instant of that minute */
        ss = 59;
        frac_us = 999999;
    }
    /* The instant itself, in UTC, must fall in 1970..9999 as the local date does: an offset can carry
     * 9999-12-31T23:59-01:00 into the year 10000, which no four-digit form (lx_ts_format_us, PostgreSQL's input)
     * can name. */
    int64_t secs = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss - offset_s;
    if (secs < 0 || secs > LX_TS_MAX_S) return -1;
    *out_us = secs * 1000000 + frac_us;
    return 0;
}

int64_t lx_ts_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void lx_ts_format_us(int64_t us, char out[LX_TS_LEN + 1])
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) frac += 1000000, secs--;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) rem += 86400, days--;
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char buf[64];
    snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02u:%02u:%02u.%06uZ", y % 10000, m % 13, d % 32, (unsigned)(rem / 3600) % 24,
             (unsigned)(rem % 3600 / 60), (unsigned)(rem % 60), (unsigned)frac % 1000000);
    memcpy(out, buf, LX_TS_LEN);
    out[LX_TS_LEN] = '\0';
}
