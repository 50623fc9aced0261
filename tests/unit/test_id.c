/*
 * Unit tests for src/util/id.h: UUIDv7 version and variant bits, the 48-bit
 * millisecond timestamp (close to the wall clock, ordered across calls a few
 * milliseconds apart), uniqueness, canonical and hex format/parse round trips,
 * and strict rejection of malformed forms, for lx_uuid_v7 and lx_uuid_v7_fast.
 */
#include "util/id.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "check.h"

typedef void (*gen_t)(lx_uuid_t *);

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static uint64_t ts_of(const lx_uuid_t *u)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++) ms = ms << 8 | u->b[i];
    return ms;
}

static void test_layout(const char *name, gen_t gen)
{
    CHECK_CTX("%s", name);
    for (int i = 0; i < 1000; i++) {
        lx_uuid_t u;
        uint64_t before = now_ms();
        gen(&u);
        uint64_t after = now_ms();
        CHECK_EQ_INT(u.b[6] >> 4, 7); /* version 7 */
        CHECK_EQ_INT(u.b[8] >> 6, 2); /* variant 10 */
        /* the coarse clock of the fast variant may lag by a tick (a few ms) */
        CHECK(ts_of(&u) + 50 >= before && ts_of(&u) <= after);
    }
    /* 10000 ids, no duplicate among neighbours; random bits actually vary */
    lx_uuid_t prev, cur;
    gen(&prev);
    int same_rand = 0;
    for (int i = 0; i < 10000; i++) {
        gen(&cur);
        CHECK(memcmp(&prev, &cur, sizeof(cur)) != 0);
        same_rand += memcmp(prev.b + 9, cur.b + 9, 7) == 0;
        prev = cur;
    }
    CHECK_EQ_INT(same_rand, 0);
    CHECK_CTX("%s", "");
}

/* Ids made a few milliseconds apart sort by creation time (byte-wise and as strings). */
static void test_ordering(const char *name, gen_t gen, long gap_ms)
{
    CHECK_CTX("%s, %ld ms apart", name, gap_ms);
    lx_uuid_t a, b;
    char sa[LX_UUID_STRLEN + 1], sb[LX_UUID_STRLEN + 1];
    gen(&a);
    for (int i = 0; i < 20; i++) {
        sleep_ms(gap_ms);
        gen(&b);
        CHECK(ts_of(&b) > ts_of(&a));
        CHECK(memcmp(a.b, b.b, 16) < 0);
        lx_uuid_format(&a, sa);
        lx_uuid_format(&b, sb);
        CHECK(strcmp(sa, sb) < 0);
        a = b;
    }
    CHECK_CTX("%s", "");
}

/* Back to back, within one tick of the coarse clock: still strictly increasing, on one thread. */
static void test_fast_is_monotonic(void)
{
    lx_uuid_t a, b;
    lx_uuid_v7_fast(&a);
    int ok = 1;
    for (int i = 0; i < 100000; i++) {
        lx_uuid_v7_fast(&b);
        ok &= memcmp(a.b, b.b, 16) < 0 && (b.b[6] >> 4) == 7 && (b.b[8] >> 6) == 2;
        a = b;
    }
    CHECK(ok);
}

static void test_format_parse(void)
{
    lx_uuid_t u = {{0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0}}, back;
    char s[LX_UUID_STRLEN + 1], h[LX_UUID_HEXLEN + 1];
    lx_uuid_format(&u, s);
    CHECK_EQ_STR(s, "01122334-4556-6778-899a-abbccddeeff0");
    lx_uuid_format_hex(&u, h);
    CHECK_EQ_STR(h, "0112233445566778899aabbccddeeff0");
    CHECK_EQ_INT(lx_uuid_parse(s, strlen(s), &back), 0);
    CHECK(memcmp(&u, &back, sizeof(u)) == 0);
    CHECK_EQ_INT(lx_uuid_parse_hex(h, strlen(h), &back), 0);
    CHECK(memcmp(&u, &back, sizeof(u)) == 0);
    /* the canonical form accepts either case */
    CHECK_EQ_INT(lx_uuid_parse("01122334-4556-6778-899A-ABBCCDDEEFF0", 36, &back), 0);
    CHECK(memcmp(&u, &back, sizeof(u)) == 0);

    for (int i = 0; i < 1000; i++) {
        lx_uuid_t g;
        if (i & 1)
            lx_uuid_v7(&g);
        else
            lx_uuid_v7_fast(&g);
        lx_uuid_format(&g, s);
        lx_uuid_format_hex(&g, h);
        CHECK_EQ_INT(strlen(s), LX_UUID_STRLEN);
        CHECK_EQ_INT(strlen(h), LX_UUID_HEXLEN);
        memset(&back, 0, sizeof(back));
        CHECK(lx_uuid_parse(s, LX_UUID_STRLEN, &back) == 0 && memcmp(&g, &back, sizeof(g)) == 0);
        memset(&back, 0, sizeof(back));
        CHECK(lx_uuid_parse_hex(h, LX_UUID_HEXLEN, &back) == 0 && memcmp(&g, &back, sizeof(g)) == 0);
    }

    static const char *const bad[] = {
        "",
        "01122334-4556-6778-899a-abbccddeeff",   /* short */
        "01122334-4556-6778-899a-abbccddeeff00", /* long */
        "0112233404556-6778-899a-abbccddeeff0",  /* dash replaced */
        "01122334-455606778-899a-abbccddeeff0",
        "011223344-556-6778-899a-abbccddeeff0", /* dash moved */
        "01122334-4556-6778-899a-abbccddeeffg", /* not hex */
        "01122334-4556-6778-899a-abbccddeef f",
        "{1122334-4556-6778-899a-abbccddeeff}",
        "0112233445566778899aabbccddeeff0abcd", /* hex form padded to 36 */
        "01122334-4556-6778-899a-abbccddee-f0",
        "01122334-4556-6778-899a+abbccddeeff0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("parse \"%s\"", bad[i]);
        CHECK_EQ_INT(lx_uuid_parse(bad[i], strlen(bad[i]), &back), -1);
    }
    static const char *const bad_hex[] = {
        "",
        "0112233445566778899aabbccddeeff",   /* short */
        "0112233445566778899aabbccddeeff00", /* long */
        "0112233445566778899AABBCCDDEEFF0",  /* upper case */
        "0112233445566778899aabbccddeeffG",
        "01122334-4556-6778-899a-abbccddeeff0", /* canonical form */
        "0112233445566778 99aabbccddeeff0",
        "-112233445566778899aabbccddeeff0",
    };
    for (size_t i = 0; i < sizeof(bad_hex) / sizeof(bad_hex[0]); i++) {
        CHECK_CTX("parse_hex \"%s\"", bad_hex[i]);
        CHECK_EQ_INT(lx_uuid_parse_hex(bad_hex[i], strlen(bad_hex[i]), &back), -1);
    }
    CHECK_CTX("%s", "");
    /* the length argument is what counts, not a NUL */
    CHECK_EQ_INT(lx_uuid_parse("01122334-4556-6778-899a-abbccddeeff0xyz", 36, &back), 0);
    CHECK_EQ_INT(lx_uuid_parse("01122334-4556-6778-899a-abbccddeeff0", 35, &back), -1);
    CHECK_EQ_INT(lx_uuid_parse_hex("0112233445566778899aabbccddeeff0", 31, &back), -1);
}

int main(void)
{
    if (!CHECK(sodium_init() >= 0)) return check_summary();
    test_layout("v7", lx_uuid_v7);
    test_layout("v7_fast", lx_uuid_v7_fast);
    test_ordering("v7", lx_uuid_v7, 2);
    /* CLOCK_REALTIME_COARSE ticks every few ms (4 ms at HZ=250): 2 ms apart may share a timestamp */
    test_ordering("v7_fast", lx_uuid_v7_fast, 10);
    test_fast_is_monotonic();
    test_format_parse();
    return check_summary();
}
