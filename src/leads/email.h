/*
 * E-mail addresses typed into web forms: validation, one stored spelling, a
 * comparison key, and a disposable-domain check (pure, no I/O).
 *
 * Validation is syntax only (no DNS, no SMTP probe: intake must answer in
 * milliseconds and must not leak that a lead arrived). It follows what mail
 * systems actually deliver to rather than everything RFC 5322 can parse:
 *   - surrounding whitespace is trimmed (ASCII blanks and U+00A0);
 *   - RFC 5321 limits: the part before the @ at most 64 octets, the domain at
 *     most 255, the whole address at most 254;
 *   - the part before the @ is a dot-atom: letters, digits and
 *     ! # $ % & ' * + - / = ? ^ _ ` { | } ~, dots only between them. Quoted
 *     strings ("john doe"@example.com), comments and display names
 *     ("John <j@example.com>") are refused: no provider hands them out and
 *     they are a favourite of form-stuffing bots;
 *   - the domain is a host name: labels of 1-63 letters, digits and hyphens,
 *     no hyphen at either end, at least two labels, a top-level domain of at
 *     least two characters that is not all digits; IP literals are refused.
 *   - ASCII only. Internationalised addresses (RFC 6531 UTF-8 local parts,
 *     IDNA U-labels such as "почта.рф") are refused with a reason asking for
 *     the xn-- (Punycode) form of the domain, which is accepted like any
 *     other host name: turning U-labels into A-labels correctly needs the
 *     IDNA2008 mapping and Unicode normalisation tables, and accepting them
 *     unconverted would give one mailbox two spellings and break duplicate
 *     detection.
 *
 * The normalised form keeps the part before the @ exactly as typed (it is
 * case-sensitive by RFC 5321 and the buyer should see what the person wrote)
 * and lower-cases the domain (case-insensitive by DNS).
 */
#ifndef LX_LEADS_EMAIL_H
#define LX_LEADS_EMAIL_H

#include <stddef.h>

#define LX_EMAIL_LEN_MAX        254 /* whole address, RFC 5321 4.5.3.1 via the 256-octet path limit */
#define LX_EMAIL_LOCAL_LEN_MAX  64  /* RFC 5321 4.5.3.1.1 */
#define LX_EMAIL_DOMAIN_LEN_MAX 255 /* RFC 5321 4.5.3.1.2 */
/* Output buffers for lx_email_normalize and lx_email_canonical: the longest address and the NUL. */
#define LX_EMAIL_SIZE (LX_EMAIL_LEN_MAX + 1)
/* Inputs longer than this (bytes, before trimming) are refused without being read further. */
#define LX_EMAIL_INPUT_LEN_MAX 1024

/*
 * Validates `input` (`len` bytes, need not be NUL-terminated, may hold any
 * bytes) and writes the normalised address + NUL to `out`. `outlen` must be
 * at least LX_EMAIL_SIZE; less is a programmer error and aborts.
 *
 * Returns 0, or -1 with `out` an empty string and, if `reason` is not NULL,
 * *reason pointing at a static English message phrased to follow the field
 * name ("must contain a single @"); pass it to
 * lx_error_field(err, "/contact/email", "%s", reason). The message never
 * repeats the address. lx_email_normalize(out) == out for every output.
 */
__attribute__((warn_unused_result)) int lx_email_normalize(const char *input, size_t len, char *out, size_t outlen,
                                                           const char **reason);

/*
 * The comparison key of a normalised address: all of it lower-cased, for the
 * duplicate check and the keyed contact hash. `out` may be `normalized`
 * itself; `outlen` must be at least strlen(normalized) + 1 (aborts if not).
 *
 * The part before the @ is lower-cased although RFC 5321 lets a server tell
 * "John" from "john": no mainstream provider does, and treating the two as
 * different would let the same person be sold twice. Dots and "+tags" are
 * NOT removed: Gmail ignores dots and everything after "+", Yandex treats "-"
 * and "." alike, Outlook honours "+" but not dots, most corporate servers do
 * neither. Guessing the provider's rule from the domain (which may be any
 * custom domain hosted anywhere) would merge different people into one
 * "duplicate" and refuse a real lead, which costs more than the rare resale
 * it prevents.
 */
void lx_email_canonical(const char *normalized, char *out, size_t outlen);

/*
 * 1 if the domain of a normalised address, or any parent domain of it
 * ("x.mailinator.com" -> "mailinator.com"), is a known disposable-mail
 * service, else 0 (also for a string without an @). The list ships in
 * src/leads/disposable_domains.inc: a few hundred long-lived, well-known
 * services, each confirmed against the CC0 community list
 * github.com/disposable-email-domains/disposable-email-domains. It flags,
 * it does not prove: intake decides what a flag costs.
 */
int lx_email_is_disposable(const char *normalized);

/* Internal, for the unit test: 0 if the disposable list is sorted (strcmp), unique and lower-case; else -1. */
int lx_email__check_tables(const char **what);

#endif
