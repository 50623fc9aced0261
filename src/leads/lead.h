/*
 * A submitted lead, validated and normalised (pure: no I/O, no clock).
 *
 * This is the one place that decides whether a webmaster's JSON is a lead:
 * every member is checked and every problem reported with its JSON Pointer
 * (all of them at once, so a form can be fixed in one round), and what comes
 * out is canonical: the phone in E.164, the e-mail normalised (hashed in its
 * lower-cased canonical form), names trimmed, timestamps as Unix
 * microseconds. Nothing is stored for a lead that fails here.
 *
 * Rules beyond types and lengths, and why:
 *   - personal-data consent must be true: a lead without it may not be sold
 *     or even kept (152-FZ, GDPR, TCPA);
 *   - names are letters (any script), spaces, hyphens, apostrophes and
 *     periods: digits, emoji and symbols in a name are a bot or a prank;
 *   - timestamps may not lie in the future (a minute of clock skew allowed)
 *     and form_started_at may not follow form_submitted_at;
 *   - the region must be in the catalogue, and the phone must be a possible
 *     number (read in the region's country when it has no "+").
 */
#ifndef LX_LEADS_LEAD_H
#define LX_LEADS_LEAD_H

#include <jansson.h>
#include <stdint.h>

#include "leads/email.h"
#include "leads/niche.h"
#include "leads/phone.h"
#include "leads/regions.h"
#include "util/error.h"

#define LX_LEAD_NAME_MAX    200  /* characters */
#define LX_LEAD_TEXT_MAX    200  /* company, position */
#define LX_LEAD_CONSENT_MAX 5000 /* consent text */
#define LX_LEAD_URL_MAX     2048
#define LX_LEAD_SKEW_US     (INT64_C(60) * 1000000)

typedef enum { LX_SALE_ANY = 0, LX_SALE_EXCLUSIVE, LX_SALE_SHARED } lx_sale_mode_t;
const char *lx_sale_mode_name(lx_sale_mode_t m);

typedef struct st_lx_lead_t {
    char region[LX_REGION_CODE_MAX + 1];
    char region_country[3];
    lx_sale_mode_t sale_mode;
    char phone[LX_PHONE_E164_SIZE];
    char phone_country[LX_PHONE_COUNTRY_SIZE];
    char email[LX_EMAIL_SIZE];       /* as the person typed it, domain lower-cased */
    char email_canon[LX_EMAIL_SIZE]; /* lower-cased: compared and hashed */
    int email_disposable;
    int advertising_consent;
    int64_t consent_given_us;
    int64_t form_started_us, form_submitted_us; /* -1 when not sent */
    char source_ip[64];                         /* "" when not sent */
    const char *sub_id;                         /* borrowed from the body; NULL when not sent */
    unsigned missing_optional;                  /* optional members left out (quality signal) */
    /* Canonical JSON pieces to store (owned; lx_lead_dispose frees them). */
    json_t *contact;    /* {name, phone, email, company?, position?}: sealed, never stored in clear */
    json_t *attributes; /* as validated */
    json_t *consent;    /* evidence, timestamps normalised */
    json_t *source;
} lx_lead_t;

/* The niche slug a lead names, or NULL when absent or not a string (lx_lead_parse reports it). */
const char *lx_lead_niche_slug(json_t *lead);

/*
 * Validates `lead` (the object at JSON Pointer `base`, "" for the single route) against `niche` (NULL: the slug
 * named no niche) and `regions`, at time `now_us`. LX_OK and a filled `out` (call lx_lead_dispose), or
 * LX_ERR_VALIDATION with every field problem in `err` and nothing to dispose.
 */
lx_status_t lx_lead_parse(json_t *lead, const char *base, const lx_niche_t *niche, const lx_regions_t *regions, int64_t now_us,
                          lx_lead_t *out, lx_error_t *err);
void lx_lead_dispose(lx_lead_t *lead);

#endif
