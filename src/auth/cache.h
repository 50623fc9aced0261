/*
 * Per-thread cache of API keys, so an authenticated request needs no
 * database round trip. Owned by one event-loop thread; never shared.
 *
 * Entries hold the stored key hash (the secret itself is never kept) and the
 * account's role and status. They are dropped when a NOTIFY says the key or
 * its account changed (revocation, suspension: see db/listen.h), when the
 * listener connection was lost (we may have missed a notification), or after
 * a TTL as a last line of defence.
 */
#ifndef LX_AUTH_CACHE_H
#define LX_AUTH_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/apikey.h"
#include "util/id.h"

typedef enum { LX_ROLE_OPERATOR = 1, LX_ROLE_WEBMASTER = 2, LX_ROLE_ADVERTISER = 4 } lx_role_t;
#define LX_ROLE_ANY (LX_ROLE_OPERATOR | LX_ROLE_WEBMASTER | LX_ROLE_ADVERTISER)

/* "operator" -> LX_ROLE_OPERATOR ...; 0 when unknown. */
lx_role_t lx_role_parse(const char *s);
const char *lx_role_name(lx_role_t role);

typedef struct st_lx_principal_t {
    lx_uuid_t key_id;
    lx_uuid_t account_id;
    char account_id_str[LX_UUID_STRLEN + 1];
    lx_role_t role;
    int suspended;
    int64_t rate_limit; /* -1 = server default */
    char currency[4];   /* the account trades only in niches of this currency */
} lx_principal_t;

typedef struct st_lx_auth_entry_t {
    int used;
    int revoked;
    uint8_t hash[LX_APIKEY_HASH_BYTES];
    lx_principal_t who;
    char *account_json; /* the account as GET /v1/me shows it (malloc, owned by the entry) */
    size_t account_json_len;
    uint64_t fetched_at_ms;
    uint64_t last_used_ms;    /* last successful use seen on this thread */
    uint64_t last_flushed_ms; /* last_used_ms already written to the database */
} lx_auth_entry_t;

typedef struct st_lx_auth_cache_t {
    lx_auth_entry_t *slots;
    size_t nslots; /* power of two */
    size_t used;
    uint64_t ttl_ms;
    /* Bumped by every eviction and clear: a look-up that started before an eviction may have read the row the
     * eviction was about, so its result is used once but not cached (lx_auth_cache_put_if). */
    uint64_t evictions;
} lx_auth_cache_t;

void lx_auth_cache_init(lx_auth_cache_t *c, size_t nslots_pow2, uint64_t ttl_ms);
void lx_auth_cache_dispose(lx_auth_cache_t *c);
/* Fresh entry for the key id, or NULL. */
lx_auth_entry_t *lx_auth_cache_get(lx_auth_cache_t *c, const lx_uuid_t *key_id, uint64_t now_ms);
/* Inserts or replaces, taking ownership of e->account_json; a full table is cleared first (a cache, not a store). */
lx_auth_entry_t *lx_auth_cache_put(lx_auth_cache_t *c, const lx_auth_entry_t *e);
/* Like lx_auth_cache_put when no eviction happened since `evictions_then` was read; else NULL (nothing cached). */
lx_auth_entry_t *lx_auth_cache_put_if(lx_auth_cache_t *c, const lx_auth_entry_t *e, uint64_t evictions_then);
void lx_auth_cache_evict_key(lx_auth_cache_t *c, const lx_uuid_t *key_id);
void lx_auth_cache_evict_account(lx_auth_cache_t *c, const lx_uuid_t *account_id);
void lx_auth_cache_clear(lx_auth_cache_t *c);

#endif
