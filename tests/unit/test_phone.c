/*
 * Unit tests for src/leads/phone.h: numbers as people type them into forms in
 * the nine first markets (RU, KZ, US, GB, DE, PL, CZ, RO, UA) and a few
 * others, valid and impossible, with and without a region; the refusal
 * reasons; that every accepted number is a fixed point of normalisation and
 * matches its own country; lx_phone_country_matches on shared codes; and the
 * consistency of the static tables.
 */
#include "leads/phone.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

typedef struct {
    const char *input;
    const char *region;
    const char *e164;    /* NULL: must be refused */
    const char *country; /* expected country when accepted */
    const char *why;     /* when refused: a substring of the reason */
} case_t;

/* Unicode separators pasted from web pages and messengers. */
#define NBSP   "\xc2\xa0"
#define THIN   "\xe2\x80\x89"
#define LRM    "\xe2\x80\x8e"
#define ENDASH "\xe2\x80\x93"

static const case_t cases[] = {
    /* RU */
    {"+7 (916) 123-45-67", NULL, "+79161234567", "RU", NULL},
    {"8 916 123 45 67", "RU", "+79161234567", "RU", NULL},
    {"89161234567", "RU-MOW", "+79161234567", "RU", NULL},
    {"7 916 123 45 67", "RU", "+79161234567", "RU", NULL},
    {"916 123-45-67", "ru", "+79161234567", "RU", NULL},
    {"8 (495) 123-45-67", "RU", "+74951234567", "RU", NULL},
    {"8 800 555 35 35", "RU", "+78005553535", "RU", NULL},
    {"tel:+7-916-123-45-67", NULL, "+79161234567", "RU", NULL},
    {"  00 7 916 123 45 67 ", NULL, "+79161234567", "RU", NULL},
    {"(+7) 916 123-45-67", NULL, "+79161234567", "RU", NULL},
    {"+7 8 916 123 45 67", NULL, "+79161234567", "RU", NULL},
    {"+7" NBSP "916" NBSP "123" ENDASH "45" ENDASH "67", NULL, "+79161234567", "RU", NULL},
    {"+7.916.123.45.67", NULL, "+79161234567", "RU", NULL},
    {"810 49 30 1234567", "RU", "+49301234567", "DE", NULL},
    {"+7 916 123 45 6", "RU", NULL, NULL, "for RU (expected 10 digits after +7)"},
    {"8 916 123 45 678", "RU", NULL, NULL, "for RU (expected 10 digits after +7)"},
    {"+7 (516) 123-45-67", NULL, NULL, NULL, "start with 3, 4, 8 or 9"},
    {"+7 (216) 123-45-67", "RU", NULL, NULL, "start with 3, 4, 8 or 9"},
    {"+7 (870) 123-45-67", "RU", NULL, NULL, "8xx after +7 is not in use"},
    {"8 916 123 456", "RU", NULL, NULL, "for RU (expected 10 digits after +7)"},
    {"8 916 123 45 67", NULL, NULL, NULL, "must start with +"},
    {"+7 916 123 45 67 \xd0\xb4\xd0\xbe\xd0\xb1. 12", NULL, NULL, NULL, "must contain only digits"},
    /* KZ */
    {"+7 701 123 4567", NULL, "+77011234567", "KZ", NULL},
    {"8 701 123 45 67", "KZ", "+77011234567", "KZ", NULL},
    {"8 (7172) 55-55-55", "KZ", "+77172555555", "KZ", NULL},
    {"8 701 123 45 67", "RU", "+77011234567", "KZ", NULL},
    {"+7 701 123 456", "KZ", NULL, NULL, "for KZ (expected 10 digits after +7)"},
    {"8 701 123 456", "KZ", NULL, NULL, "for KZ (expected 10 digits after +7)"},
    /* US / NANP */
    {"(212) 555-1234", "US", "+12125551234", "US", NULL},
    {"1-212-555-1234", "US-NY", "+12125551234", "US", NULL},
    {"+1 212.555.1234", NULL, "+12125551234", "US", NULL},
    {"+1 (416) 555-0199", NULL, "+14165550199", "CA", NULL},
    {"416 555 0199", "CA", "+14165550199", "CA", NULL},
    {"+1 800 555 0199", "CA", "+18005550199", "CA", NULL},
    {"+1 800 555 0199", "RU", "+18005550199", "US", NULL},
    {"+1 876 555 1234", NULL, "+18765551234", "JM", NULL},
    {"011 44 20 7946 0958", "US", "+442079460958", "GB", NULL},
    {"212-555-1234", NULL, NULL, NULL, "must start with +"},
    {"555-1234", "US", NULL, NULL, "expected 10 digits after +1"},
    {"+1 (112) 555-1234", NULL, NULL, NULL, "area code cannot start with 0 or 1"},
    {"+1 911 555 1234", NULL, NULL, NULL, "N11"},
    {"+1 290 555 1234", NULL, NULL, NULL, "reserved"},
    {"+1 212 055 1234", NULL, NULL, NULL, "exchange code cannot start with 0 or 1"},
    {"+1 212 555 12345", NULL, NULL, NULL, "expected 10 digits after +1"},
    /* GB */
    {"07911 123456", "GB", "+447911123456", "GB", NULL},
    {"+44 (0)20 7946 0958", NULL, "+442079460958", "GB", NULL},
    {"020 7946 0958", "GB", "+442079460958", "GB", NULL},
    {"0044 7911 123456", NULL, "+447911123456", "GB", NULL},
    {"+44 1534 123456", "JE", "+441534123456", "JE", NULL},
    {"016977 3456", "GB", "+44169773456", "GB", NULL},
    {"07911 12345", "GB", NULL, NULL, "mobile numbers are 10 digits after +44"},
    {"+44 4123 456789", NULL, NULL, NULL, "start with 1, 2, 3, 5, 7, 8 or 9"},
    {"+44 20 7946 09581", NULL, NULL, NULL, "for GB (expected 10 digits after +44"},
    /* DE */
    {"0151 23456789", "DE", "+4915123456789", "DE", NULL},
    {"+49 (0)30 1234567", NULL, "+49301234567", "DE", NULL},
    {"030/1234567", "DE", "+49301234567", "DE", NULL},
    {"+49 170 1234567", NULL, "+491701234567", "DE", NULL},
    {"0049 89 12345678", NULL, "+498912345678", "DE", NULL},
    {"+49 30 123", NULL, NULL, NULL, "for DE (expected 6 to 11 digits after +49)"},
    {"+49 151 234", NULL, NULL, NULL, "mobile numbers are 10 or 11 digits after +49"},
    {"0170 123456", "DE", NULL, NULL, "mobile numbers are 10 or 11 digits after +49"},
    {"+49 110 12345", NULL, NULL, NULL, "1 is followed by 5, 6 or 7"},
    /* PL */
    {"601 234 567", "PL", "+48601234567", "PL", NULL},
    {"+48 22 123 45 67", NULL, "+48221234567", "PL", NULL},
    {"48 601 234 567", "PL", "+48601234567", "PL", NULL},
    {"0601 234 567", "PL", NULL, NULL, "for PL (expected 9 digits after +48)"},
    {"+48 60 123 456", NULL, NULL, NULL, "for PL (expected 9 digits after +48)"},
    {"+48 101 234 567", NULL, NULL, NULL, "cannot start with 0, 10, 11 or 19"},
    /* CZ */
    {"+420 601 123 456", NULL, "+420601123456", "CZ", NULL},
    {"601 123 456", "CZ", "+420601123456", "CZ", NULL},
    {"+420 123 456 789", NULL, NULL, NULL, "start with 2 to 9"},
    {"00420 601 123 45", NULL, NULL, NULL, "for CZ (expected 9 digits after +420)"},
    /* RO */
    {"0721 234 567", "RO", "+40721234567", "RO", NULL},
    {"+40 21 123 4567", NULL, "+40211234567", "RO", NULL},
    {"+40 621 234 567", NULL, NULL, NULL, "for RO (numbers after +40 start with"},
    {"0721 234 56", "RO", NULL, NULL, "for RO (expected 9 digits after +40)"},
    /* UA */
    {"050 123 45 67", "UA", "+380501234567", "UA", NULL},
    {"+38 (050) 123-45-67", NULL, "+380501234567", "UA", NULL},
    {"+380" LRM " 67 123 45 67", NULL, "+380671234567", "UA", NULL},
    {"+380 50 123 456", NULL, NULL, NULL, "for UA (expected 9 digits after +380)"},
    {"+380 21 234 5678", NULL, NULL, NULL, "start with 3 to 9"},
    /* elsewhere */
    {"+33 6 12 34 56 78", NULL, "+33612345678", "FR", NULL},
    {"06 12 34 56 78", "FR", "+33612345678", "FR", NULL},
    {"+39 06 1234 5678", NULL, "+390612345678", "IT", NULL},
    {"06 1234 5678", "IT", "+390612345678", "IT", NULL},
    {"06 6988 1234", "VA", "+390669881234", "VA", NULL},
    {"+52 1 55 1234 5678", NULL, "+525512345678", "MX", NULL},
    {"06 30 123 4567", "HU", "+36301234567", "HU", NULL},
    {"8 029 123-45-67", "BY", "+375291234567", "BY", NULL},
    {"+290 2345", NULL, "+2902345", "SH", NULL},
    {"+43 2079 5095 00479", NULL, "+432079509500479", "AT", NULL}, /* 15 digits: the E.164 maximum */
    {"+43 (0)2079 5095 00479", NULL, "+432079509500479", "AT", NULL},
    {"+43 2079 5095 004791", NULL, NULL, NULL, "for AT (expected 5 to 13 digits after +43)"},
    {"TEL:+7 916 123 45 67", NULL, "+79161234567", "RU", NULL},
    {"+61" THIN "412" THIN "345" THIN "678", NULL, "+61412345678", "AU", NULL},
    {"0011 7 916 123 45 67", "AU", "+79161234567", "RU", NULL},
    {"+7 916 123 45 67", "XX", "+79161234567", "RU", NULL},
    {"8 916 123 45 67", "XX", NULL, NULL, "must start with +"},
    {"+33 06 12 34 56 78 9", NULL, NULL, NULL, "for FR (expected 9 digits after +33)"},
    {"+999 123 4567", NULL, NULL, NULL, "unknown country calling code"},
    {"+800 1234 5678", NULL, NULL, NULL, "freephone"},
    {"+881 6 1234 5678", NULL, NULL, NULL, "satellite"},
    {"+379 123 4567", NULL, NULL, NULL, "not in service"},
    {"+0 123 4567", NULL, NULL, NULL, "do not start with 0"},
    /* what is not a number at all */
    {"", "RU", NULL, NULL, "must not be empty"},
    {"   ", "RU", NULL, NULL, "must not be empty"},
    {"+", NULL, NULL, NULL, "must contain digits"},
    {"()-", "RU", NULL, NULL, "must contain digits"},
    {"+7 916 CALL-NOW", NULL, NULL, NULL, "must not contain letters"},
    {"+1 212 555 1234 ext 12", NULL, NULL, NULL, "must not contain letters"},
    {"+1 212 555 1234 x12", NULL, NULL, NULL, "must not contain letters"},
    {"+7 916 +123 45 67", NULL, NULL, NULL, "single +"},
    {"79+161234567", "RU", NULL, NULL, "single +"},
    {"++79161234567", NULL, NULL, NULL, "single +"},
    {"((916)) 123 45 67", "RU", NULL, NULL, "unbalanced parentheses"},
    {"+7 (916 123 45 67", NULL, NULL, NULL, "unbalanced parentheses"},
    {"+7 916) 123 45 67(", NULL, NULL, NULL, "unbalanced parentheses"},
    {"+49 30 1234567#", NULL, NULL, NULL, "must contain only digits"},
    {"+1234567890123456", NULL, NULL, NULL, "expected 10 digits after +1"},
    {"+7 916 123 45 67 123 45 67 123 45 67", NULL, NULL, NULL, "too long"},
    {"+7 916 123 45 67                                                  ", NULL, NULL, NULL, "too long"},
    {"tel:", "RU", NULL, NULL, "must not be empty"},
    {"telephone: +7 916 123 45 67", NULL, NULL, NULL, "must not contain letters"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void test_cases(void)
{
    for (size_t i = 0; i < NCASES; i++) {
        const case_t *c = &cases[i];
        CHECK_CTX("case %zu: \"%s\" in %s", i, c->input, c->region ? c->region : "(none)");
        char out[LX_PHONE_E164_SIZE], country[LX_PHONE_COUNTRY_SIZE];
        const char *why = NULL;
        int rc = lx_phone_normalize(c->input, strlen(c->input), c->region, out, country, &why);
        if (c->e164 != NULL) {
            if (!CHECK_EQ_INT(rc, 0)) {
                fprintf(stderr, "  reason: %s\n", why ? why : "(null)");
                continue;
            }
            CHECK_EQ_STR(out, c->e164);
            CHECK_EQ_STR(country, c->country);
            CHECK(lx_phone_country_matches(out, country));
            /* The stored spelling normalises to itself, with or without a region. */
            char again[LX_PHONE_E164_SIZE], country2[LX_PHONE_COUNTRY_SIZE];
            CHECK_EQ_INT(lx_phone_normalize(out, strlen(out), NULL, again, country2, &why), 0);
            CHECK_EQ_STR(again, out);
            CHECK_EQ_INT(lx_phone_normalize(out, strlen(out), "DE", again, NULL, NULL), 0);
            CHECK_EQ_STR(again, out);
        } else {
            CHECK_EQ_INT(rc, -1);
            CHECK_EQ_STR(out, "");
            CHECK_EQ_STR(country, "");
            if (CHECK(why != NULL) && !CHECK(strstr(why, c->why) != NULL)) fprintf(stderr, "  reason: %s\n", why);
        }
    }
    CHECK_CTX("%s", "");
}

/* Only the first `len` bytes are read: the input need not be NUL-terminated and may hold NULs. */
static void test_length_honoured(void)
{
    char out[LX_PHONE_E164_SIZE];
    const char *why = NULL;
    const char buf[] = "+79161234567999";
    CHECK_EQ_INT(lx_phone_normalize(buf, 12, NULL, out, NULL, &why), 0);
    CHECK_EQ_STR(out, "+79161234567");
    const char nul[] = "+7916\0001234567";
    CHECK_EQ_INT(lx_phone_normalize(nul, sizeof(nul) - 1, NULL, out, NULL, &why), -1);
    CHECK(strstr(why, "must contain only digits") != NULL);
    /* reason and country_out are optional */
    CHECK_EQ_INT(lx_phone_normalize("abc", 3, NULL, out, NULL, NULL), -1);
}

static void test_country_matches(void)
{
    CHECK_EQ_INT(lx_phone_country_matches("+79161234567", "RU"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+79161234567", "RU-MOW"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+79161234567", "ru"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+79161234567", "KZ"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+77011234567", "KZ"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+77011234567", "RU"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+12125551234", "US"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+12125551234", "US-CA"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+12125551234", "CA"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+14165550199", "CA"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+14165550199", "US"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+18005550199", "CA"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+18005550199", "US"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+18005550199", "RU"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+447911123456", "GB"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+447911123456", "JE"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+447911123456", "IE"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+49301234567", "DE"), 1);
    CHECK_EQ_INT(lx_phone_country_matches("+49301234567", "AT"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+380501234567", "UA"), 1);
    /* malformed arguments are simply "no" */
    CHECK_EQ_INT(lx_phone_country_matches("79161234567", "RU"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+7916", "RU"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+7916123456a", "RU"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+0916123456", "RU"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+80012345678", "US"), 0);
    CHECK_EQ_INT(lx_phone_country_matches(NULL, "RU"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+79161234567", NULL), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+79161234567", "R"), 0);
    CHECK_EQ_INT(lx_phone_country_matches("+79161234567", "RUS"), 0);
}

static void test_tables(void)
{
    const char *what = NULL;
    if (!CHECK_EQ_INT(lx_phone__check_tables(&what), 0)) fprintf(stderr, "  table problem: %s\n", what);
}

int main(void)
{
    test_tables();
    test_cases();
    test_length_honoured();
    test_country_matches();
    printf("%zu phone cases\n", NCASES);
    return check_summary();
}
