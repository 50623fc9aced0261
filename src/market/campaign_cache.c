/*
 * Parsed campaign terms by (id, config_version): see campaign_cache.h for why.
 *
 * An open-addressing table (linear probing, a power-of-two capacity at most half full) keyed by the id's text: the
 * only removal is dropping everything (lx_campaign_cache_trim), so probing never meets a tombstone.
 */
#include "market/campaign_cache.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

#define ID_LEN    36 /* a UUID's text */
#define CAP_FIRST 256

typedef struct {
    char id[ID_LEN + 1]; /* "" = free slot */
    int64_t version;
    lx_campaign_terms_t terms;
} slot_t;

struct st_lx_campaign_cache_t {
    slot_t *slots;
    size_t cap, n;
};

static void terms_release(lx_campaign_terms_t *t)
{
    json_decref(t->regions);
    json_decref(t->filters);
    json_decref(t->hours);
    json_decref(t->excluded);
    memset(t, 0, sizeof(*t));
}

/* FNV-1a: the ids are random UUIDs, so any mixing will do. */
static size_t id_hash(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p != '\0'; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return (size_t)h;
}

static slot_t *find(slot_t *slots, size_t cap, const char *id)
{
    for (size_t i = id_hash(id) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (slots[i].id[0] == '\0' || strcmp(slots[i].id, id) == 0) return &slots[i];
}

lx_campaign_cache_t *lx_campaign_cache_new(void)
{
    lx_campaign_cache_t *c = lx_calloc(1, sizeof(*c));
    c->cap = CAP_FIRST;
    c->slots = lx_calloc(c->cap, sizeof(*c->slots));
    return c;
}

static void drop_all(lx_campaign_cache_t *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].id[0] != '\0') terms_release(&c->slots[i].terms);
    memset(c->slots, 0, c->cap * sizeof(*c->slots));
    c->n = 0;
}

void lx_campaign_cache_free(lx_campaign_cache_t *c)
{
    if (c == NULL) return;
    drop_all(c);
    free(c->slots);
    free(c);
}

const lx_campaign_terms_t *lx_campaign_cache_get(lx_campaign_cache_t *c, const char *id, int64_t version)
{
    if (strlen(id) != ID_LEN) return NULL;
    slot_t *s = find(c->slots, c->cap, id);
    return s->id[0] != '\0' && s->version == version ? &s->terms : NULL;
}

static void grow(lx_campaign_cache_t *c)
{
    size_t cap = c->cap * 2;
    slot_t *slots = lx_calloc(cap, sizeof(*slots));
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].id[0] != '\0') *find(slots, cap, c->slots[i].id) = c->slots[i];
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
}

const lx_campaign_terms_t *lx_campaign_cache_put(lx_campaign_cache_t *c, const char *id, int64_t version, lx_campaign_terms_t terms)
{
    if (strlen(id) != ID_LEN) abort(); /* cannot happen: ids come from a uuid column */
    if (2 * (c->n + 1) > c->cap) grow(c);
    slot_t *s = find(c->slots, c->cap, id);
    if (s->id[0] == '\0') {
        memcpy(s->id, id, ID_LEN + 1);
        c->n++;
    } else {
        terms_release(&s->terms);
    }
    s->version = version;
    s->terms = terms;
    return &s->terms;
}

void lx_campaign_cache_trim(lx_campaign_cache_t *c, size_t max)
{
    if (c->n > max) drop_all(c);
}

size_t lx_campaign_cache_size(const lx_campaign_cache_t *c)
{
    return c->n;
}
