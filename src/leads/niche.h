/*
 * The niche catalogue: what a niche is (floors, fees, windows, the attribute
 * schema its leads carry), how the API validates and renders it, and a small
 * per-thread cache so intake validates a lead without a database round trip.
 *
 * Niches change rarely and are read on every lead, so each event-loop thread
 * keeps the ones it has used. Any INSERT/UPDATE on `niches` NOTIFYs every
 * process (migrations/0003), which clears the caches; while the NOTIFY
 * listener is down the cache is bypassed (same rule as the API-key cache), and
 * a TTL bounds staleness as a last line of defence. Entries are reference
 * counted because a lead waiting in the intake batch keeps its niche after the
 * cache dropped it; all of this is single-threaded (one cache per thread).
 */
#ifndef LX_LEADS_NICHE_H
#define LX_LEADS_NICHE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/id.h"

#define LX_NICHE_COLS                                                                                                              \
    "id, slug, name, currency, max_shares, floor_exclusive, floor_shared, return_window_hours, inventory_ttl_hours, "              \
    "dedupe_days, fee_bps, min_quality, attributes, status, created_at, updated_at, return_auto_accept, return_max_rate_bps"
#define LX_NICHE_NCOLS    18
#define LX_NICHE_SLUG_MAX 64

typedef enum { LX_NICHE_ACTIVE = 0, LX_NICHE_PAUSED, LX_NICHE_ARCHIVED } lx_niche_status_t;

typedef struct st_lx_niche_t {
    int refs;
    char id[LX_UUID_STRLEN + 1];
    char slug[LX_NICHE_SLUG_MAX + 1];
    char currency[4];
    int max_shares;
    int64_t floor_exclusive, floor_shared;
    int return_window_hours, inventory_ttl_hours, dedupe_days, fee_bps, min_quality;
    unsigned return_auto_accept; /* bit (1 << lx_return_reason_t) per reason accepted without an operator */
    int return_max_rate_bps;
    lx_niche_status_t status;
    json_t *attributes; /* the attribute schema (checked when it was stored) */
    json_t *resource;   /* the niche as the API renders it */
    uint64_t fetched_ms;
} lx_niche_t;

/* 1 when `s` (`len` bytes) is a slug: ^[a-z0-9]+(-[a-z0-9]+)*$, at most LX_NICHE_SLUG_MAX bytes. */
int lx_niche_slug_valid(const char *s, size_t len);

/* Renders the LX_NICHE_COLS columns of `row` as the Niche resource. */
json_t *lx_niche_json(const PGresult *r, int row);
/* A new niche (refs = 1) from the LX_NICHE_COLS columns of `row`; NULL if the row is malformed. */
lx_niche_t *lx_niche_from_row(const PGresult *r, int row, uint64_t now_ms);
void lx_niche_ref(lx_niche_t *n);
void lx_niche_unref(lx_niche_t *n);
const char *lx_niche_status_name(lx_niche_status_t s);

/*
 * Request bodies. Create: slug, name, currency, floor_exclusive, floor_shared and fee_bps are required; the rest
 * default (max_shares 1, return_window_hours 72, inventory_ttl_hours 72, dedupe_days 30, min_quality 0,
 * attributes {}, status active, return_auto_accept [] (reasons of billing/returns.h, each at most once),
 * return_max_rate_bps 1000). Patch: any of the mutable members (not slug, not currency), at least one.
 * Every problem is reported with its JSON Pointer.
 */
lx_status_t lx_niche_check_create(json_t *body, lx_error_t *err);
/* Every member a niche body may carry, NULL-terminated: the LX_NICHE_FIXED_MEMBERS set only at creation (slug,
 * currency), then the mutable ones. The order is that of the create and update statements' parameters. */
extern const char *const lx_niche_members[];
#define LX_NICHE_FIXED_MEMBERS 2
#define LX_NICHE_MEMBERS       15
lx_status_t lx_niche_check_patch(json_t *body, lx_error_t *err);

typedef struct st_lx_niche_cache_t {
    lx_niche_t **items;
    size_t n, cap;
    uint64_t ttl_ms;
    uint64_t generation; /* bumped by every clear: a look-up started before one must not fill the cache after it */
} lx_niche_cache_t;

void lx_niche_cache_init(lx_niche_cache_t *c, uint64_t ttl_ms);
void lx_niche_cache_dispose(lx_niche_cache_t *c);
/* A fresh entry for `slug` (borrowed: take a ref to keep it past this turn of the loop), or NULL. */
lx_niche_t *lx_niche_cache_get(lx_niche_cache_t *c, const char *slug, uint64_t now_ms);
/* Adds or replaces (the cache takes its own reference). */
void lx_niche_cache_put(lx_niche_cache_t *c, lx_niche_t *n);
void lx_niche_cache_clear(lx_niche_cache_t *c);

#endif
