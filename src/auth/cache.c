#include "auth/cache.h"
#include "util/strbuf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[] = {"operator", "webmaster", "advertiser"};

lx_role_t lx_role_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, role_names[i]) == 0) return (lx_role_t)(1 << i);
    return 0;
}

const char *lx_role_name(lx_role_t role)
{
    switch (role) {
    case LX_ROLE_OPERATOR:
        return "operator";
    case LX_ROLE_WEBMASTER:
        return "webmaster";
    case LX_ROLE_ADVERTISER:
        return "advertiser";
    }
    return "unknown";
}

void lx_auth_cache_init(lx_auth_cache_t *c, size_t nslots_pow2, uint64_t ttl_ms)
{
    c->nslots = nslots_pow2;
    c->slots = lx_calloc(nslots_pow2, sizeof(*c->slots));
    c->used = 0;
    c->ttl_ms = ttl_ms;
}

static void entry_free(lx_auth_entry_t *e)
{
    free(e->account_json);
    sodium_memzero(e, sizeof(*e));
}

void lx_auth_cache_dispose(lx_auth_cache_t *c)
{
    lx_auth_cache_clear(c);
    sodium_memzero(c->slots, c->nslots * sizeof(*c->slots));
    free(c->slots);
    c->slots = NULL;
}

/* Key ids are UUIDv7: the last 8 bytes are random, a good hash as they are. */
static size_t slot_of(const lx_auth_cache_t *c, const lx_uuid_t *id)
{
    uint64_t h;
    memcpy(&h, id->b + 8, 8);
    return (size_t)h & (c->nslots - 1);
}

static lx_auth_entry_t *find(lx_auth_cache_t *c, const lx_uuid_t *id)
{
    for (size_t i = slot_of(c, id), n = 0; n < c->nslots; i = (i + 1) & (c->nslots - 1), n++) {
        lx_auth_entry_t *e = &c->slots[i];
        if (!e->used) return NULL;
        if (memcmp(e->who.key_id.b, id->b, 16) == 0) return e;
    }
    return NULL;
}

lx_auth_entry_t *lx_auth_cache_get(lx_auth_cache_t *c, const lx_uuid_t *key_id, uint64_t now_ms)
{
    lx_auth_entry_t *e = find(c, key_id);
    if (e != NULL && c->ttl_ms != 0 && now_ms - e->fetched_at_ms > c->ttl_ms) return NULL;
    return e;
}

lx_auth_entry_t *lx_auth_cache_put(lx_auth_cache_t *c, const lx_auth_entry_t *src)
{
    lx_auth_entry_t *e = find(c, &src->who.key_id);
    if (e == NULL) {
        if (c->used * 4 >= c->nslots * 3) lx_auth_cache_clear(c);
        size_t i = slot_of(c, &src->who.key_id);
        while (c->slots[i].used) i = (i + 1) & (c->nslots - 1);
        e = &c->slots[i];
        c->used++;
    }
    uint64_t last_used = e->used ? e->last_used_ms : 0, last_flushed = e->used ? e->last_flushed_ms : 0;
    if (e->used && e->account_json != src->account_json) free(e->account_json);
    *e = *src;
    e->used = 1;
    if (last_used > e->last_used_ms) e->last_used_ms = last_used;
    if (last_flushed > e->last_flushed_ms) e->last_flushed_ms = last_flushed;
    return e;
}

lx_auth_entry_t *lx_auth_cache_put_if(lx_auth_cache_t *c, const lx_auth_entry_t *e, uint64_t evictions_then)
{
    return c->evictions == evictions_then ? lx_auth_cache_put(c, e) : NULL;
}

/* Linear probing: removing an entry means re-inserting the rest of its cluster. */
static void remove_at(lx_auth_cache_t *c, size_t i)
{
    entry_free(&c->slots[i]);
    c->used--;
    for (size_t j = (i + 1) & (c->nslots - 1); c->slots[j].used; j = (j + 1) & (c->nslots - 1)) {
        lx_auth_entry_t moved = c->slots[j];
        memset(&c->slots[j], 0, sizeof(c->slots[j]));
        c->used--;
        size_t k = slot_of(c, &moved.who.key_id);
        while (c->slots[k].used) k = (k + 1) & (c->nslots - 1);
        c->slots[k] = moved;
        c->used++;
    }
}

void lx_auth_cache_evict_key(lx_auth_cache_t *c, const lx_uuid_t *key_id)
{
    c->evictions++;
    lx_auth_entry_t *e = find(c, key_id);
    if (e != NULL) remove_at(c, (size_t)(e - c->slots));
}

void lx_auth_cache_evict_account(lx_auth_cache_t *c, const lx_uuid_t *account_id)
{
    c->evictions++;
    for (size_t i = 0; i < c->nslots; i++) {
        while (c->slots[i].used && memcmp(c->slots[i].who.account_id.b, account_id->b, 16) == 0)
            remove_at(c, i); /* the cluster shifts into slot i: look at it again */
    }
}

void lx_auth_cache_clear(lx_auth_cache_t *c)
{
    c->evictions++;
    for (size_t i = 0; i < c->nslots; i++)
        if (c->slots[i].used) free(c->slots[i].account_json);
    sodium_memzero(c->slots, c->nslots * sizeof(*c->slots));
    c->used = 0;
}
