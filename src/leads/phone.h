/*
 * Phone numbers typed into web forms, normalised to E.164 (pure, no I/O).
 *
 * A lead's phone is the thing a buyer pays for, so a number that cannot be
 * dialled is a pseudo-lead: intake rejects it with a reason instead of selling
 * it, and stores one canonical spelling ("+79161234567") so the duplicate
 * check and the keyed contact hash see the same string however the supplier's
 * form formatted it.
 *
 * What is accepted: digits with spaces, tabs, '-', '.', '/', '(' ')' and their
 * common Unicode look-alikes (no-break and thin spaces, hyphens, dashes, the
 * minus sign); one leading "+" (before any digit); a leading "tel:"; the
 * international prefixes "00" (everywhere), "011" (NANP regions) and "810"
 * (RU, KZ, BY); the region's national trunk prefix ("8" in RU/KZ, "1" in
 * NANP, "0" in most of the world, "06" in HU, none in PL, CZ, IT...); the
 * "+44 (0)20..." habit of keeping the trunk 0 after the country code. Letters
 * (extensions included) and any other character are refused.
 *
 * A number without an international prefix is read in the lead's region, in
 * this order: with the trunk prefix stripped, as a national significant
 * number (NSN) as is, then as the region's country code written without the
 * "+" ("7 916 123 45 67" in RU). Without a region, the "+" (or "00") is
 * required.
 *
 * The country calling code table covers every code ITU-T E.164 assigns. Each
 * country has NSN length limits and, for RU, KZ, US/NANP, GB, DE, PL, CZ, RO
 * and UA, leading-digit rules; international non-geographic codes (+800,
 * +870, +881...) are refused because they are not a person's phone. Shared
 * codes are resolved to a country: +7 6xx/7xx is KZ, the rest of +7 is RU;
 * +1 goes by area code (Canadian and Caribbean area codes to their country,
 * everything else to US; a non-geographic area code such as 800 takes the
 * region's country when the region is a NANP member); other shared codes
 * (+44 GB/GG/JE/IM, +262 RE/YT, +590 GP/BL/MF...) report the main country
 * unless the region is one of the others.
 *
 * The checks are plausibility rules, not a live numbering database: a number
 * that passes may still be unassigned, but one that fails cannot exist.
 */
#ifndef LX_LEADS_PHONE_H
#define LX_LEADS_PHONE_H

#include <stddef.h>

/* "+" and at most 15 digits (E.164), plus the NUL: 17, one more than "char out[16]" would give. */
#define LX_PHONE_E164_SIZE 17
/* ISO 3166-1 alpha-2 and the NUL. */
#define LX_PHONE_COUNTRY_SIZE 3
/* Inputs longer than this (bytes, before trimming) are refused without being read further. */
#define LX_PHONE_INPUT_LEN_MAX 64

/*
 * Normalises `input` (`len` bytes, need not be NUL-terminated, may contain any
 * bytes) to E.164.
 *
 * `region_country` is the lead's region: an ISO 3166-1 alpha-2 code ("RU") or
 * an ISO 3166-2 subdivision ("RU-MOW", only the country part is used), either
 * case; NULL, "" or an unknown code means "no region".
 *
 * On success returns 0 and writes the NUL-terminated E.164 string to `out`
 * (it matches ^\+[1-9][0-9]{6,14}$) and, if `country_out` is not NULL, the
 * number's country in upper case + NUL. On failure returns -1, leaves `out`
 * an empty string and `country_out` (if given) an empty string, and, if
 * `reason` is not NULL, points it at a static English message phrased to
 * follow the field name ("must not contain letters", "is not a valid phone
 * number for RU (expected 10 digits after +7)"); the caller passes it to
 * lx_error_field(err, "/contact/phone", "%s", reason). The message never
 * repeats the number (contact data stays out of errors and logs).
 */
__attribute__((warn_unused_result)) int lx_phone_normalize(const char *input, size_t len, const char *region_country,
                                                           char out[LX_PHONE_E164_SIZE], char *country_out, const char **reason);

/*
 * 1 if the E.164 number `e164` (as produced by lx_phone_normalize) belongs to
 * `country` (alpha-2 or ISO 3166-2 subdivision, either case), else 0 (also for
 * a malformed `e164` or an unknown country). Shared codes count for every
 * country that uses them: +44 matches GB, GG, JE and IM; a NANP toll-free or
 * other non-geographic number matches every NANP member. Used by the lead
 * quality score (phone country vs lead region).
 */
int lx_phone_country_matches(const char *e164, const char *country);

/*
 * Internal, for the unit test: checks the static tables (calling codes sorted
 * and prefix-free, every country's NSN lengths within E.164's 7..15 digits,
 * ISO codes two upper-case letters, NANP area codes sorted). Returns 0, or -1
 * and points `what` at a static description of the first problem.
 */
int lx_phone__check_tables(const char **what);

#endif
