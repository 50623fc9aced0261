/*
 * The Lead resource: one renderer for every place a lead is answered.
 *
 * The intake answers leads it holds in memory, the lead routes read stored
 * rows, and a purchase embeds the lead it bought: all three go through
 * lx_lead_view_render, so a lead has one shape wherever it appears. JSON-valued
 * members are given as JSON text (the pieces the intake serialised once, or
 * PostgreSQL's jsonb), so no JSON tree is built per lead.
 */
#ifndef LX_API_LEAD_VIEW_H
#define LX_API_LEAD_VIEW_H

#include <libpq-fe.h>
#include <stdint.h>

#include "http/request.h"
#include "keys.h"
#include "util/strbuf.h"

typedef struct st_lx_lead_view_t {
    const char *id, *webmaster_id, *niche, *region, *sale_mode, *status, *temperature, *duplicate_of, *created_at;
    int score, contact_erased;
    const char *reasons_json, *contact_json, *attributes_json, *consent_json, *source_json; /* NULL renders null */
    /* the sale summary: sold_mode NULL = none ("sale": null) */
    const char *sold_mode, *currency;
    int buyers;
    int64_t payout;
} lx_lead_view_t;

void lx_lead_view_render(lx_strbuf_t *sb, const lx_lead_view_t *v);

/* A lead left unsold past its niche's inventory TTL is expired: derived when read, so nothing rewrites old rows. */
#define LX_LEAD_STATUS_SQL "(CASE WHEN l.status = 'unsold' AND l.expires_at <= now() THEN 'expired' ELSE l.status END)"

/* The smallest lead id made at or after time TS. Lead ids are UUIDv7 made by the intake from the clock created_at is
 * read from, a few ms after it at most (migrations/0016), so listings in id order bound their scan with this; the
 * second to spare is far more than that lag. */
#define LX_LEAD_ID_FLOOR_SQL(ts) "lx_uuid_v7_floor((" ts ") - interval '1 second')"
/* The lowest id a lead still in the inventory can have, among the niches (alias h) that WHERE selects: now minus the
 * longest inventory TTL they have had (niches.inventory_ttl_hours_max, migrations/0016). NULL when none is selected. */
#define LX_LEAD_LOOK_BACK_SQL(where)                                                                                               \
    "(SELECT " LX_LEAD_ID_FLOOR_SQL(                                                                                               \
        "now() - make_interval(hours => max(h.inventory_ttl_hours_max))") " FROM niches h WHERE " where ")"

/* The columns lx_lead_view_render_row reads (LX_LEAD_NCOLS of them), with LX_LEAD_FROM's aliases l and n. */
#define LX_LEAD_COLS                                                                                                               \
    "l.id, n.slug, l.region, l.sale_mode, " LX_LEAD_STATUS_SQL ", l.quality_score, l.temperature, array_to_json(l.reasons), "      \
    "l.duplicate_of, encode(l.contact_ct, 'hex'), encode(l.contact_key, 'hex'), l.contact_erased_at IS NOT NULL, "                 \
    "l.attributes, l.consent, l.source, l.created_at, l.webmaster_id, l.sold_mode, l.shares_sold, l.payout_total, n.currency"
#define LX_LEAD_NCOLS 21
#define LX_LEAD_FROM  " FROM leads l JOIN niches n ON n.id = l.niche_id "

typedef enum {
    LX_LEAD_VIEW_SUPPLIER = 0, /* its webmaster and operators: everything, the sale summary included */
    LX_LEAD_VIEW_BUYER,        /* a buyer of the lead: "sale" is null (other buyers' prices are not its business) */
} lx_lead_view_audience_t;

/*
 * Renders the lead read with LX_LEAD_COLS starting at column col0. With `keys`, the contact is opened with the
 * master data key (its plaintext is wiped after rendering); NULL renders "contact": null.
 */
void lx_lead_view_render_row(lx_strbuf_t *sb, const PGresult *r, int row, int col0, const lx_keys_t *keys,
                             lx_lead_view_audience_t audience);

/* Answers with a rendered body, then wipes and frees the scratch buffer (answers may carry contacts in clear). */
void lx_respond_rendered(lx_req_t *lr, int status, lx_strbuf_t *sb);

#endif
