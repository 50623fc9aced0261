/*
 * Parsed campaign terms, kept per intake thread from batch to batch and keyed by (campaign id, config_version).
 *
 * Why: every intake batch reads the campaigns of its niches and regions (hundreds of rows) and the auction needs
 * four of their columns as JSON (regions, filters, hours, excluded sources). Parsing them again for every batch was
 * 8 % of a server thread's time in the market bench (perf), for terms that change rarely. config_version
 * (migrations/0010) is bumped by the database on any change of a column the auction reads, whichever statement makes
 * it, so terms cached under a version are the terms of that version (campaign ids are never reused: the server
 * makes them, UUIDv7): a campaign read at another version has its terms fetched (src/leads/intake.c st_terms) and
 * parsed again, and they replace its entry.
 *
 * Ownership: the cache holds one reference to each JSON value; a caller that keeps a value past its next call into
 * the cache takes its own (json_incref). One thread only (the intake batcher's loop thread), like lx_intake_t.
 * Bounded: lx_campaign_cache_trim drops everything once the cache holds more campaigns than the caller allows
 * (archived campaigns and those outside every recent batch's scope are never looked up again).
 */
#ifndef LX_MARKET_CAMPAIGN_CACHE_H
#define LX_MARKET_CAMPAIGN_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    json_t *regions, *filters, *hours, *excluded; /* each may be NULL (an SQL NULL) */
} lx_campaign_terms_t;

typedef struct st_lx_campaign_cache_t lx_campaign_cache_t;

lx_campaign_cache_t *lx_campaign_cache_new(void);
void lx_campaign_cache_free(lx_campaign_cache_t *cache);

/* The terms of campaign `id` (a UUID's text) at `version`, or NULL when none are cached at that version. */
const lx_campaign_terms_t *lx_campaign_cache_get(lx_campaign_cache_t *cache, const char *id, int64_t version);

/* Stores `terms` (taking their references) as campaign `id`'s at `version`, replacing any other version's; returns
 * the stored terms. `id` must be a UUID's text (36 characters). */
const lx_campaign_terms_t *lx_campaign_cache_put(lx_campaign_cache_t *cache, const char *id, int64_t version,
                                                 lx_campaign_terms_t terms);

/* Drops every entry when more than `max` campaigns are cached. */
void lx_campaign_cache_trim(lx_campaign_cache_t *cache, size_t max);

size_t lx_campaign_cache_size(const lx_campaign_cache_t *cache);

#endif
