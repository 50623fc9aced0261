#include "auth/ratelimit.h"
#include "util/strbuf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NSTRIPES 64
#define UNIT     1000000ull

typedef struct {
    lx_uuid_t id;
    uint64_t tokens; /* millionths of a request */
    uint64_t updated_us;
    int used;
} bucket_t;

typedef struct {
    pthread_mutex_t lock;
    bucket_t *slots;
    size_t nslots, used;
    char pad[64];
} stripe_t;

struct st_lx_ratelimit_t {
    stripe_t stripes[NSTRIPES];
};

lx_ratelimit_t *lx_ratelimit_create(void)
{
    lx_ratelimit_t *rl = lx_calloc(1, sizeof(*rl));
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_init(&rl->stripes[i].lock, NULL);
        rl->stripes[i].nslots = 64;
        rl->stripes[i].slots = lx_calloc(64, sizeof(bucket_t));
    }
    return rl;
}

void lx_ratelimit_destroy(lx_ratelimit_t *rl)
{
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_destroy(&rl->stripes[i].lock);
        free(rl->stripes[i].slots);
    }
    free(rl);
}

static uint64_t hash_of(const lx_uuid_t *id)
{
    uint64_t h;
    memcpy(&h, id->b + 8, 8);
    return h;
}

static bucket_t *lookup(stripe_t *s, const lx_uuid_t *id, uint64_t h)
{
    if (s->used * 2 >= s->nslots) {
        bucket_t *old = s->slots;
        size_t oldn = s->nslots;
        s->nslots *= 2;
        s->slots = lx_calloc(s->nslots, sizeof(bucket_t));
        for (size_t i = 0; i < oldn; i++) {
            if (!old[i].used) continue;
            size_t j = (size_t)(hash_of(&old[i].id) >> 6) & (s->nslots - 1);
            while (s->slots[j].used) j = (j + 1) & (s->nslots - 1);
            s->slots[j] = old[i];
        }
        free(old);
    }
    size_t j = (size_t)(h >> 6) & (s->nslots - 1);
    while (s->slots[j].used && memcmp(s->slots[j].id.b, id->b, 16) != 0) j = (j + 1) & (s->nslots - 1);
    return &s->slots[j];
}

uint32_t lx_ratelimit_take(lx_ratelimit_t *rl, const lx_uuid_t *key_id, uint64_t rate, uint64_t burst, uint64_t now_us)
{
    if (rate == 0) return 0;
    if (burst == 0) burst = 1;
    uint64_t h = hash_of(key_id);
    stripe_t *s = &rl->stripes[h & (NSTRIPES - 1)];
    uint32_t wait = 0;
    pthread_mutex_lock(&s->lock);
    bucket_t *b = lookup(s, key_id, h);
    uint64_t cap = burst * UNIT;
    if (!b->used) {
        b->used = 1;
        b->id = *key_id;
        b->tokens = cap;
        b->updated_us = now_us;
        s->used++;
    } else if (now_us > b->updated_us) {
        uint64_t elapsed = now_us - b->updated_us;
        /* rate tokens per second == rate millionths per microsecond */
        uint64_t add = elapsed > cap / rate ? cap : elapsed * rate;
        b->tokens = b->tokens + add > cap ? cap : b->tokens + add;
        b->updated_us = now_us;
    }
    if (b->tokens > cap) b->tokens = cap; /* the limit was lowered */
    if (b->tokens >= UNIT) {
        b->tokens -= UNIT;
    } else {
        uint64_t missing_us = (UNIT - b->tokens + rate - 1) / rate;
        wait = (uint32_t)((missing_us + 999999) / 1000000);
        if (wait == 0) wait = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return wait;
}
