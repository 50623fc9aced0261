/*
 * Unit tests for src/util/time.h lx_ts_from_pg: PostgreSQL's ISO text of a UTC
 * timestamptz ("2026-11-23 04:55:27.1234+00", fraction trimmed or absent)
 * becomes RFC 3339 with exactly six fractional digits and 'Z'; anything else
 * (other offsets, more than six fractional digits, garbage) is refused.
 */
#include "util/time.h"

#include <string.h>
#include <time.h>

#include "check.h"

static void test_good(void)
{
    static const struct {
        const char *pg, *want;
    } cases[] = {
        {"2026-11-23 04:55:27.123456+00", "2026-11-23T04:55:27.123456Z"},
        {"2026-11-23 04:55:27.1+00", "2026-11-23T04:55:27.100000Z"},
        {"2026-11-23 04:55:27.12+00", "2026-11-23T04:55:27.120000Z"},
        {"2026-11-23 04:55:27.12345+00", "2026-11-23T04:55:27.123450Z"},
        {"2026-11-23 04:55:27.000001+00", "2026-11-23T04:55:27.000001Z"},
        {"2026-11-23 04:55:27+00", "2026-11-23T04:55:27.000000Z"},
        {"1970-01-01 00:00:00+00", "1970-01-01T00:00:00.000000Z"},
        {"0001-01-01 00:00:00+00", "0001-01-01T00:00:00.000000Z"},
        {"9999-12-31 23:59:59.999999+00", "9999-12-31T23:59:59.999999Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("%s", cases[i].pg);
        char out[LX_TS_LEN + 8];
        memset(out, 'Z', sizeof(out));
        CHECK_EQ_INT(lx_ts_from_pg(cases[i].pg, out), 0);
        CHECK_EQ_STR(out, cases[i].want);
        CHECK_EQ_INT(strlen(out), LX_TS_LEN);
        CHECK(out[LX_TS_LEN + 1] == 'Z'); /* nothing written past the NUL */
    }
    CHECK_CTX("%s", "");
}

static void test_bad(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "2026-11-23",
        "2026-11-23 04:55:27", /* no offset */
        "2026-11-23 04:55:27Z",
        "2026-11-23 04:55:27+01", /* other offsets */
        "2026-11-23 04:55:27-00",
        "2026-11-23 04:55:27+00:00",
        "2026-11-23 04:55:27+0000",
        "2026-11-23 04:55:27+05:30",
        "2026-11-23 04:55:27.123456+01",
        "2026-11-23 04:55:27.1234567+00", /* 7 fractional digits */
        "2026-11-23 04:55:27.+00",        /* empty fraction */
        "2026-11-23 04:55:27,123+00",
        "2026-11-23 04:55:27.12a+00",
        "2026-11-23T04:55:27.123456+00", /* RFC 3339 'T' is not PostgreSQL's form */
        "2026-11-23 04:55:27.123456Z",
        "2026-11-23 04:55:27.123456+00 BC", /* BC dates */
        "2026-11-23 04:55:27+00 ",
        " 2026-11-23 04:55:27+00",
        "26-11-23 04:55:27+00",
        "12026-11-23 04:55:27+00", /* five-digit years */
        "2026/11/23 04:55:27+00",
        "2026-1-23 04:55:27+00",
        "2026-11-23 4:55:27+00",
        "2026-11-23 04:55+00",
        "2026-11-23 04:55:2+00",
        "abcd-ef-gh ij:kl:mn+00",
        "infinity",
        "-infinity",
        "2026-11-23 04:55:27+0",
        "2026-11-23 04:55:27.123456",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("\"%s\"", bad[i]);
        char out[LX_TS_LEN + 1];
        CHECK_EQ_INT(lx_ts_from_pg(bad[i], out), -1);
    }
    CHECK_CTX("%s", "");
}

/* RFC 3339 from outside: the expected values were computed with Python's datetime. */
static void test_rfc3339(void)
{
    static const struct {
        const char *in;
        long long us;
        const char *back;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0LL, "1970-01-01T00:00:00.000000Z"},
        {"2026-11-23T10:00:00Z", 1795428000000000LL, "2026-11-23T10:00:00.000000Z"},
        {"2026-11-23t10:00:00z", 1795428000000000LL, "2026-11-23T10:00:00.000000Z"},
        {"2026-11-23T13:00:00+03:00", 1795428000000000LL, "2026-11-23T10:00:00.000000Z"},
        {"2026-11-23T05:30:00-04:30", 1795428000000000LL, "2026-11-23T10:00:00.000000Z"},
        {"2026-11-23T10:00:00.5Z", 1795428000500000LL, "2026-11-23T10:00:00.500000Z"},
        {"2026-11-23T10:00:00.123456789Z", 1795428000123456LL, "2026-11-23T10:00:00.123456Z"},
        {"2024-02-29T23:59:59.999999Z", 1709251199999999LL, "2024-02-29T23:59:59.999999Z"},
        {"2016-12-31T23:59:60Z", 1483228799999999LL, "2016-12-31T23:59:59.999999Z"},
        {"2000-03-01T00:00:00+00:00", 951868800000000LL, "2000-03-01T00:00:00.000000Z"},
        {"9999-12-31T23:59:59Z", 253402300799000000LL, "9999-12-31T23:59:59.000000Z"},
        {"9999-12-31T23:59:60.5Z", 253402300799999999LL, "9999-12-31T23:59:59.999999Z"},
        {"9999-12-31T23:59:59.999999-00:00", 253402300799999999LL, "9999-12-31T23:59:59.999999Z"},
        {"9999-12-31T23:59:59+01:00", 253402297199000000LL, "9999-12-31T22:59:59.000000Z"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK_CTX("%s", good[i].in);
        int64_t us = -7;
        CHECK_EQ_INT(lx_ts_parse_rfc3339(good[i].in, strlen(good[i].in), &us), 0);
        CHECK_EQ_INT(us, good[i].us);
        char back[LX_TS_LEN + 1];
        lx_ts_format_us(us, back);
        CHECK_EQ_STR(back, good[i].back);
    }
    static const char *const bad[] = {
        "",
        "2026-11-23",
        "2026-11-23T10:00:00",
        "2026-11-23 10:00:00Z",
        "2026-11-23T10:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z",
        "2026-11-23T10:00:61Z",
        "2026-11-23T10:00:00.Z",
        "2026-11-23T10:00:00.1234567890Z",
        "2026-11-23T10:00:00+0300",
        "2026-11-23T10:00:00+24:00",
        "2026-11-23T10:00:00+03:60",
        "2026-11-23T10:00:00Z ",
        " 2026-11-23T10:00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01", /* in UTC the year 10000 */
        "9999-12-31T23:00:00-23:59",
        "+2026-11-23T10:00:00Z",
        "2026-11-2310:00:00Z",
        "２０２６-11-23T10:00:00Z",
        "2026-11-23T10:00:00ZZ",
        "2026-11-23T1a:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("\"%s\"", bad[i]);
        int64_t us = 0;
        CHECK_EQ_INT(lx_ts_parse_rfc3339(bad[i], strlen(bad[i]), &us), -1);
    }
    CHECK_CTX("%s", "");
}

/* Calendar arithmetic of a wall clock: known dates, then every 7,919 s over 1960..2100 against glibc's gmtime_r (a
 * local time read as UTC is what lx_wall_clock_from_local_s takes). */
static void test_wall_clock(void)
{
    static const struct {
        int64_t local_s;
        int64_t day;
        int weekday, minute;
    } known[] = {
        {0, 0, 3, 0},                 /* 1970-01-01 00:00, a Thursday */
        {-1, -1, 2, 1439},            /* 1969-12-31 23:59:59, a Wednesday */
        {-86400, -1, 2, 0},           /* 1969-12-31 00:00 */
        {-86401, -2, 1, 1439},        /* 1969-12-30 23:59:59 */
        {951827640, 11016, 1, 754},   /* 2000-02-29 12:34, a Tuesday */
        {1735516800, 20087, 0, 0},    /* 2024-12-30 00:00, a Monday */
        {1735516799, 20086, 6, 1439}, /* 2024-12-29 23:59:59, a Sunday */
        {1795564859, 20782, 2, 0},    /* 2026-11-25 00:00:59, a Wednesday */
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        CHECK_CTX("local_s %lld", (long long)known[i].local_s);
        lx_wall_clock_t c = lx_wall_clock_from_local_s(known[i].local_s);
        CHECK_EQ_INT(c.day, known[i].day);
        CHECK_EQ_INT(c.weekday, known[i].weekday);
        CHECK_EQ_INT(c.minute, known[i].minute);
    }
    for (int64_t s = -315619200; s < 4102444800; s += 7919) { /* 1960-01-01 .. 2100-01-01 */
        CHECK_CTX("local_s %lld", (long long)s);
        time_t t = (time_t)s;
        struct tm tm;
        CHECK(gmtime_r(&t, &tm) != NULL);
        lx_wall_clock_t c = lx_wall_clock_from_local_s(s);
        CHECK_EQ_INT(c.weekday, (tm.tm_wday + 6) % 7);
        CHECK_EQ_INT(c.minute, tm.tm_hour * 60 + tm.tm_min);
        CHECK_EQ_INT(c.day * 86400 + c.minute * 60 + tm.tm_sec, s);
    }
    CHECK_CTX("%s", "");
}

int main(void)
{
    test_wall_clock();
    test_good();
    test_bad();
    test_rfc3339();
    return check_summary();
}
