/*
 * libFuzzer target for the contact normalisers (src/leads/phone.h, email.h):
 * the two parsers of the most hostile outside input leadx takes, straight from
 * suppliers' web forms.
 *
 * Input: the first byte picks the lead's region (including none, a
 * subdivision, an unknown code and lower case); the rest is fed to both
 * lx_phone_normalize and lx_email_normalize. Beyond "no crash under ASan and
 * UBSan", every run checks the contracts the rest of the server relies on:
 * outputs are NUL-terminated inside their buffers; an accepted phone matches
 * ^\+[1-9][0-9]{6,14}$, belongs to the country reported for it and
 * normalises to itself with or without a region; an accepted e-mail is at
 * most 254 bytes, normalises to itself and has a canonical form of the same
 * length in lower case; a refusal leaves empty outputs and gives a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "leads/email.h"
#include "leads/phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const regions[] = {
    NULL, "RU", "KZ", "US", "CA", "GB", "DE", "PL", "CZ",     "RO",    "UA", "IT", "FR", "HU",
    "BY", "AU", "JP", "MX", "JE", "VA", "JM", "SH", "RU-MOW", "us-ny", "XX", "",   "R",  "RUS",
};
#define NREGIONS (sizeof(regions) / sizeof(regions[0]))

#define REQUIRE(cond)                                                                                                              \
    do {                                                                                                                           \
        if (!(cond)) abort();                                                                                                      \
    } while (0)

static int is_e164(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9') return 0;
    return strspn(s + 1, "0123456789") == n - 1;
}

static void check_phone(const char *in, size_t len, const char *region)
{
    char out[LX_PHONE_E164_SIZE], country[LX_PHONE_COUNTRY_SIZE];
    memset(out, 0xAA, sizeof(out));
    memset(country, 0xAA, sizeof(country));
    const char *why = NULL;
    int rc = lx_phone_normalize(in, len, region, out, country, &why);
    REQUIRE(rc == 0 || rc == -1);
    REQUIRE(memchr(out, '\0', sizeof(out)) != NULL);
    REQUIRE(memchr(country, '\0', sizeof(country)) != NULL);
    if (rc != 0) {
        REQUIRE(out[0] == '\0' && country[0] == '\0');
        REQUIRE(why != NULL && strlen(why) > 0);
        return;
    }
    REQUIRE(is_e164(out));
    REQUIRE(strlen(country) == 2 && country[0] >= 'A' && country[0] <= 'Z' && country[1] >= 'A' && country[1] <= 'Z');
    REQUIRE(lx_phone_country_matches(out, country) == 1);
    char again[LX_PHONE_E164_SIZE], country2[LX_PHONE_COUNTRY_SIZE];
    REQUIRE(lx_phone_normalize(out, strlen(out), NULL, again, country2, NULL) == 0);
    REQUIRE(strcmp(again, out) == 0);
    REQUIRE(lx_phone_normalize(out, strlen(out), region, again, country2, NULL) == 0);
    REQUIRE(strcmp(again, out) == 0 && strcmp(country2, country) == 0);
}

static void check_email(const char *in, size_t len)
{
    char out[LX_EMAIL_SIZE];
    memset(out, 0xAA, sizeof(out));
    const char *why = NULL;
    int rc = lx_email_normalize(in, len, out, sizeof(out), &why);
    REQUIRE(rc == 0 || rc == -1);
    REQUIRE(memchr(out, '\0', sizeof(out)) != NULL);
    if (rc != 0) {
        REQUIRE(out[0] == '\0');
        REQUIRE(why != NULL && strlen(why) > 0);
        return;
    }
    size_t n = strlen(out);
    REQUIRE(n >= 3 && n <= LX_EMAIL_LEN_MAX);
    char again[LX_EMAIL_SIZE];
    REQUIRE(lx_email_normalize(out, n, again, sizeof(again), NULL) == 0);
    REQUIRE(strcmp(again, out) == 0);
    char canon[LX_EMAIL_SIZE];
    lx_email_canonical(out, canon, sizeof(canon));
    REQUIRE(strlen(canon) == n);
    for (size_t i = 0; i < n; i++) REQUIRE(!(canon[i] >= 'A' && canon[i] <= 'Z'));
    int d = lx_email_is_disposable(out);
    REQUIRE(d == 0 || d == 1);
    REQUIRE(lx_email_is_disposable(canon) == d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const char *region = regions[data[0] % NREGIONS];
    /* A copy of exactly the right size, so ASan sees any read past `len`. */
    size_t len = size - 1;
    char *in = malloc(len > 0 ? len : 1);
    REQUIRE(in != NULL);
    memcpy(in, data + 1, len);
    check_phone(in, len, region);
    check_email(in, len);
    free(in);
    return 0;
}
