/*
 * E-mail validation and normalisation as a single left-to-right pass with one
 * reason per failure, so a supplier's form developer can fix their input from
 * the message alone. Why the rules are what they are (dot-atom only, ASCII
 * only, lower-cased comparison key without provider-specific folding) is in
 * email.h; this file only has to get them right on arbitrary bytes.
 */
#include "leads/email.h"

#include <stdlib.h>
#include <string.h>

static const char *const disposable_domains[] = {
#include "leads/disposable_domains.inc"
};
#define DISPOSABLE_COUNT (sizeof(disposable_domains) / sizeof(disposable_domains[0]))

#define LX__STR2(x) #x
#define LX__STR(x)  LX__STR2(x)

static int is_blank(const unsigned char *s, size_t len, size_t i, size_t *w)
{
    unsigned char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
        *w = 1;
        return 1;
    }
    if (c == 0xC2 && i + 1 < len && s[i + 1] == 0xA0) { /* U+00A0, pasted from web pages */
        *w = 2;
        return 1;
    }
    return 0;
}

/* The last byte of a blank ending at s[end-1]: NBSP is two bytes, so look back one more. */
static size_t trailing_blank(const unsigned char *s, size_t start, size_t end)
{
    unsigned char c = s[end - 1];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') return 1;
    if (c == 0xA0 && end - start >= 2 && s[end - 2] == 0xC2) return 2;
    return 0;
}

/* RFC 5322 atext without ALPHA and DIGIT. */
static int is_atext_special(unsigned char c)
{
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static const char *check_local(const unsigned char *s, size_t n)
{
    if (n == 0) return "must have a name before the @";
    if (n > LX_EMAIL_LOCAL_LEN_MAX) return "must have at most " LX__STR(LX_EMAIL_LOCAL_LEN_MAX) " characters before the @";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (is_alnum(c) || is_atext_special(c)) continue;
        if (c == '.') {
            if (i == 0 || i == n - 1) return "must not start or end the part before the @ with a dot";
            if (s[i - 1] == '.') return "must not contain two dots in a row";
            continue;
        }
        if (c == ' ' || c == '\t') return "must not contain spaces";
        if (c < 0x20 || c == 0x7f) return "must not contain control characters";
        if (c >= 0x80) return "must use only ASCII letters, digits and punctuation before the @";
        if (c == '"') return "must not use quotes (quoted names before the @ are not accepted)";
        return "contains a character that is not allowed before the @ (letters, digits and !#$%&'*+-/=?^_`{|}~. are)";
    }
    return NULL;
}

static const char *check_domain(const unsigned char *s, size_t n)
{
    if (n == 0) return "must have a domain after the @";
    if (n > LX_EMAIL_DOMAIN_LEN_MAX) return "must have a domain of at most " LX__STR(LX_EMAIL_DOMAIN_LEN_MAX) " characters";
    if (s[0] == '[') return "must use a domain name, not an IP address literal";
    size_t labels = 0, label_start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t ll = i - label_start;
            if (ll == 0) return "must not have an empty label in the domain (check the dots)";
            if (ll > 63) return "must not have a domain label longer than 63 characters";
            if (s[label_start] == '-' || s[i - 1] == '-') return "must not have a domain label that starts or ends with a hyphen";
            labels++;
            if (i == n) {
                int tld_numeric = 1;
                for (size_t j = label_start; j < n; j++) tld_numeric &= s[j] >= '0' && s[j] <= '9';
                if (labels < 2) return "must have a domain with at least two labels, like example.com";
                if (tld_numeric) return "must not have an all-numeric top-level domain";
                if (ll < 2) return "must not have a one-character top-level domain";
            }
            label_start = i + 1;
            continue;
        }
        unsigned char c = s[i];
        if (is_alnum(c) || c == '-') continue;
        if (c >= 0x80) return "must have an ASCII domain (write an internationalised domain in its xn-- form)";
        if (c == ' ' || c == '\t') return "must not contain spaces";
        return "must have a domain of letters, digits, hyphens and dots only";
    }
    return NULL;
}

int lx_email_normalize(const char *input, size_t len, char *out, size_t outlen, const char **reason)
{
    if (outlen < LX_EMAIL_SIZE) abort(); /* programmer error: see the header */
    out[0] = '\0';
    const unsigned char *s = (const unsigned char *)input;
    const char *why = NULL;
    size_t start = 0, end = len, w;
    if (len > LX_EMAIL_INPUT_LEN_MAX) {
        why = "must be at most " LX__STR(LX_EMAIL_LEN_MAX) " characters long";
        goto fail;
    }
    while (start < end && is_blank(s, end, start, &w)) start += w;
    while (end > start && (w = trailing_blank(s, start, end)) > 0) end -= w;
    if (start == end) {
        why = "must not be empty";
        goto fail;
    }
    if (memchr(s + start, '<', end - start) != NULL || memchr(s + start, '>', end - start) != NULL) {
        why = "must be the bare address, without a display name or angle brackets";
        goto fail;
    }
    const unsigned char *at = memchr(s + start, '@', end - start);
    if (at == NULL) {
        why = "must contain an @, like name@example.com";
        goto fail;
    }
    if (memchr(at + 1, '@', (size_t)(s + end - (at + 1))) != NULL) {
        why = "must contain a single @";
        goto fail;
    }
    size_t local_len = (size_t)(at - (s + start)), domain_len = (size_t)(s + end - (at + 1));
    if ((why = check_local(s + start, local_len)) != NULL || (why = check_domain(at + 1, domain_len)) != NULL) goto fail;
    if (end - start > LX_EMAIL_LEN_MAX) {
        why = "must be at most " LX__STR(LX_EMAIL_LEN_MAX) " characters long";
        goto fail;
    }
    memcpy(out, s + start, local_len + 1);
    for (size_t i = 0; i < domain_len; i++) out[local_len + 1 + i] = lower((char)at[1 + i]);
    out[end - start] = '\0';
    return 0;

fail:
    if (reason != NULL) *reason = why;
    return -1;
}

void lx_email_canonical(const char *normalized, char *out, size_t outlen)
{
    size_t n = strlen(normalized);
    if (outlen < n + 1) abort(); /* programmer error: see the header */
    for (size_t i = 0; i <= n; i++) out[i] = lower(normalized[i]);
}

static int is_listed(const char *domain)
{
    size_t lo = 0, hi = DISPOSABLE_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(domain, disposable_domains[mid]);
        if (cmp == 0) return 1;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

int lx_email_is_disposable(const char *normalized)
{
    const char *at = strrchr(normalized, '@');
    if (at == NULL) return 0;
    char domain[LX_EMAIL_DOMAIN_LEN_MAX + 1];
    size_t n = strlen(at + 1);
    if (n == 0 || n > LX_EMAIL_DOMAIN_LEN_MAX) return 0;
    for (size_t i = 0; i <= n; i++) domain[i] = lower(at[1 + i]);
    /* The domain, then each parent that still has a dot: "a.b.mailinator.com", "b.mailinator.com", ... */
    const char *d = domain, *dot;
    while ((dot = strchr(d, '.')) != NULL) {
        if (is_listed(d)) return 1;
        d = dot + 1;
    }
    return 0;
}

int lx_email__check_tables(const char **what)
{
    for (size_t i = 0; i < DISPOSABLE_COUNT; i++) {
        const char *d = disposable_domains[i];
        if (d[0] == '\0' || strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(d) || strchr(d, '.') == NULL)
            return *what = "disposable domain is not a lower-case host name", -1;
        if (i > 0 && strcmp(disposable_domains[i - 1], d) >= 0) return *what = "disposable domains are not sorted and unique", -1;
    }
    return 0;
}
