/*
 * Unit tests for src/auth/ratelimit.h (token buckets: burst then refusal with
 * a wait >= 1 s, refill with simulated time, cap on refill, rate 0 =
 * unlimited, independent keys incl. colliding ones and table growth, exact
 * accounting under concurrent threads) and src/auth/cache.h (put/get, TTL,
 * replace, evict key, evict account under linear-probing collisions incl.
 * wrap-around, a randomised model check, clear, the clear-when-full rule, and
 * ownership of the malloc'd account_json: run under the ASan build too).
 */
#include "auth/cache.h"
#include "auth/ratelimit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define SEC 1000000ull /* microseconds */

/* An id whose hash bytes (8..15) are chosen: bytes 0..7 = tag, byte 8 = low, bytes 9..15 = high. */
static lx_uuid_t crafted(uint64_t tag, uint8_t low, uint8_t high)
{
    lx_uuid_t u;
    for (int i = 0; i < 8; i++) u.b[i] = (uint8_t)(tag >> (8 * i));
    u.b[8] = low;
    memset(u.b + 9, high, 7);
    return u;
}

/* ---- rate limiter --------------------------------------------------------------------------------------------- */

static void test_burst_and_refill(void)
{
    lx_ratelimit_t *rl = lx_ratelimit_create();
    lx_uuid_t k;
    lx_uuid_v7(&k);
    uint64_t t = 1000 * SEC;
    /* rate 10/s, burst 5: five at once, then refused */
    for (int i = 0; i < 5; i++) {
        CHECK_CTX("take %d", i);
        CHECK_EQ_INT(lx_ratelimit_take(rl, &k, 10, 5, t), 0);
    }
    CHECK_CTX("%s", "");
    uint32_t w = lx_ratelimit_take(rl, &k, 10, 5, t);
    CHECK(w >= 1);
    CHECK_EQ_INT(w, 1); /* 0.1 s missing rounds up to one second */
    /* refused takes cost nothing: still refused, still 1 */
    CHECK_EQ_INT(lx_ratelimit_take(rl, &k, 10, 5, t), 1);
    /* half a token later: refused */
    CHECK(lx_ratelimit_take(rl, &k, 10, 5, t + SEC / 20) >= 1);
    /* one token after 100 ms: exactly one more */
    CHECK_EQ_INT(lx_ratelimit_take(rl, &k, 10, 5, t + SEC / 10), 0);
    CHECK(lx_ratelimit_take(rl, &k, 10, 5, t + SEC / 10) >= 1);
    /* a long pause refills to the burst, not beyond */
    t += 3600 * SEC;
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(lx_ratelimit_take(rl, &k, 10, 5, t), 0);
    CHECK(lx_ratelimit_take(rl, &k, 10, 5, t) >= 1);
    /* a clock that goes backwards (another thread's older timestamp) refills nothing and breaks nothing */
    CHECK(lx_ratelimit_take(rl, &k, 10, 5, t - SEC) >= 1);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &k, 10, 5, t + SEC / 10), 0);

    /* slow rates ask for longer waits: 1 per 1 s, drained -> wait 1; rate 1, burst 1 */
    lx_uuid_t s;
    lx_uuid_v7(&s);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &s, 1, 1, t), 0);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &s, 1, 1, t), 1);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &s, 1, 1, t + SEC / 2), 1);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &s, 1, 1, t + SEC), 0);

    /* burst 0 is one token */
    lx_uuid_t z;
    lx_uuid_v7(&z);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &z, 1000, 0, t), 0);
    CHECK(lx_ratelimit_take(rl, &z, 1000, 0, t) >= 1);

    /* a lowered limit caps the tokens already banked */
    lx_uuid_t l;
    lx_uuid_v7(&l);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &l, 100, 100, t), 0); /* 99 left */
    CHECK_EQ_INT(lx_ratelimit_take(rl, &l, 1, 2, t), 0);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &l, 1, 2, t), 0);
    CHECK(lx_ratelimit_take(rl, &l, 1, 2, t) >= 1);

    /* rate 0 = unlimited */
    lx_uuid_t u;
    lx_uuid_v7(&u);
    int refused = 0;
    for (int i = 0; i < 10000; i++) refused += lx_ratelimit_take(rl, &u, 0, 0, t) != 0;
    CHECK_EQ_INT(refused, 0);
    lx_ratelimit_destroy(rl);
}

static void test_independent_keys(void)
{
    lx_ratelimit_t *rl = lx_ratelimit_create();
    uint64_t t = 50 * SEC;
    /* same stripe and same slot inside it (identical bytes 8..15), different ids */
    lx_uuid_t a = crafted(1, 0x85, 0x11), b = crafted(2, 0x85, 0x11);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &a, 1, 2, t), 0);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &a, 1, 2, t), 0);
    CHECK(lx_ratelimit_take(rl, &a, 1, 2, t) >= 1);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &b, 1, 2, t), 0);
    CHECK_EQ_INT(lx_ratelimit_take(rl, &b, 1, 2, t), 0);
    CHECK(lx_ratelimit_take(rl, &b, 1, 2, t) >= 1);

    /* thousands of keys, many in one stripe: the tables grow and every bucket keeps its own state */
    enum { N = 3000 };
    static lx_uuid_t keys[N];
    for (int i = 0; i < N; i++)
        keys[i] = i % 2 ? crafted((uint64_t)i + 100, 0x80 | 0x05, (uint8_t)i) : crafted((uint64_t)i + 100, (uint8_t)i, 0);
    for (int i = 0; i < N; i++) CHECK_EQ_INT(lx_ratelimit_take(rl, &keys[i], 1, 1, t), 0);
    int allowed = 0;
    for (int i = 0; i < N; i++) allowed += lx_ratelimit_take(rl, &keys[i], 1, 1, t) == 0;
    CHECK_EQ_INT(allowed, 0);
    CHECK(lx_ratelimit_take(rl, &a, 1, 2, t) >= 1); /* survived the rehashing */
    allowed = 0;
    for (int i = 0; i < N; i++) allowed += lx_ratelimit_take(rl, &keys[i], 1, 1, t + SEC) == 0;
    CHECK_EQ_INT(allowed, N);
    lx_ratelimit_destroy(rl);
}

typedef struct {
    lx_ratelimit_t *rl;
    lx_uuid_t key;
    int allowed;
} thread_arg_t;

static void *taker(void *p)
{
    thread_arg_t *a = p;
    for (int i = 0; i < 5000; i++) a->allowed += lx_ratelimit_take(a->rl, &a->key, 1, 8000, 7 * SEC) == 0;
    return NULL;
}

/* Threads sharing one key share one bucket: exactly `burst` takes succeed in total. */
static void test_threads(void)
{
    lx_ratelimit_t *rl = lx_ratelimit_create();
    lx_uuid_t k;
    lx_uuid_v7(&k);
    enum { T = 4 };
    pthread_t th[T];
    thread_arg_t args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (thread_arg_t){rl, k, 0};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, taker, &args[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        total += args[i].allowed;
    }
    CHECK_EQ_INT(total, 8000);
    lx_ratelimit_destroy(rl);
}

/* ---- auth cache ----------------------------------------------------------------------------------------------- */

static lx_auth_entry_t entry(lx_uuid_t key_id, lx_uuid_t account_id, uint64_t fetched_at_ms)
{
    lx_auth_entry_t e;
    memset(&e, 0, sizeof(e));
    e.who.key_id = key_id;
    e.who.account_id = account_id;
    lx_uuid_format(&account_id, e.who.account_id_str);
    e.who.role = LX_ROLE_ADVERTISER;
    e.who.rate_limit = -1;
    memset(e.hash, key_id.b[0], sizeof(e.hash));
    char json[96];
    int n = snprintf(json, sizeof(json), "{\"id\":\"%s\"}", e.who.account_id_str);
    e.account_json = strdup(json);
    e.account_json_len = (size_t)n;
    e.fetched_at_ms = fetched_at_ms;
    return e;
}

/* Keys with home slot `home` in a 16-slot table (slot = byte 8 & 15). */
static lx_uuid_t key_at(uint64_t tag, uint8_t home)
{
    return crafted(tag, (uint8_t)(0x80 | home), 0x5a);
}

static int present(lx_auth_cache_t *c, const lx_uuid_t *k)
{
    lx_auth_entry_t *e = lx_auth_cache_get(c, k, 0);
    return e != NULL && memcmp(e->who.key_id.b, k->b, 16) == 0;
}

static void test_cache_basics(void)
{
    lx_auth_cache_t c;
    lx_auth_cache_init(&c, 16, 1000);
    lx_uuid_t acct = crafted(0xacc, 1, 1), k1, k2;
    lx_uuid_v7(&k1);
    lx_uuid_v7(&k2);

    CHECK(lx_auth_cache_get(&c, &k1, 0) == NULL);
    lx_auth_entry_t e = entry(k1, acct, 5000);
    char *json = e.account_json;
    lx_auth_entry_t *p = lx_auth_cache_put(&c, &e);
    CHECK(p != NULL && p->used);
    CHECK_EQ_INT(c.used, 1);
    lx_auth_entry_t *g = lx_auth_cache_get(&c, &k1, 5000);
    if (CHECK(g != NULL)) {
        CHECK(g == p);
        CHECK(g->account_json == json); /* ownership moved, not copied */
        CHECK(memcmp(&g->who.account_id, &acct, sizeof(acct)) == 0);
        CHECK_EQ_INT(g->who.role, LX_ROLE_ADVERTISER);
    }
    CHECK(lx_auth_cache_get(&c, &k2, 5000) == NULL);

    /* TTL: fresh up to and including ttl_ms, then gone from get (but not from the table) */
    CHECK(lx_auth_cache_get(&c, &k1, 6000) != NULL);
    CHECK(lx_auth_cache_get(&c, &k1, 6001) == NULL);
    CHECK_EQ_INT(c.used, 1);

    /* replace: the old account_json is freed by the cache (LSan would report it otherwise), usage times kept */
    p = lx_auth_cache_get(&c, &k1, 5000);
    p->last_used_ms = 777;
    p->last_flushed_ms = 555;
    e = entry(k1, acct, 7000);
    e.who.suspended = 1;
    e.last_used_ms = 100;
    p = lx_auth_cache_put(&c, &e);
    CHECK_EQ_INT(c.used, 1);
    CHECK_EQ_INT(p->who.suspended, 1);
    CHECK_EQ_INT(p->last_used_ms, 777);
    CHECK_EQ_INT(p->last_flushed_ms, 555);
    CHECK(lx_auth_cache_get(&c, &k1, 7500) == p);

    /* re-putting an entry with the pointer it already owns must not free it */
    lx_auth_entry_t same = *p;
    same.fetched_at_ms = 8000;
    p = lx_auth_cache_put(&c, &same);
    CHECK(p->account_json == same.account_json);
    CHECK(p->account_json != NULL && p->account_json[0] == '{'); /* ASan: no use after free */
    CHECK(lx_auth_cache_get(&c, &k1, 8500) == p);

    /* ttl 0: never expires */
    lx_auth_cache_t forever;
    lx_auth_cache_init(&forever, 8, 0);
    e = entry(k2, acct, 0);
    lx_auth_cache_put(&forever, &e);
    CHECK(lx_auth_cache_get(&forever, &k2, UINT64_MAX / 2) != NULL);
    lx_auth_cache_dispose(&forever);

    /* evict key */
    lx_auth_cache_evict_key(&c, &k2); /* absent: no-op */
    CHECK_EQ_INT(c.used, 1);
    lx_auth_cache_evict_key(&c, &k1);
    CHECK_EQ_INT(c.used, 0);
    CHECK(lx_auth_cache_get(&c, &k1, 8500) == NULL);

    /* A look-up that started before an eviction (of any key) is not cached: its row may predate the revocation. */
    uint64_t then = c.evictions;
    lx_auth_cache_evict_key(&c, &k2);
    e = entry(k1, acct, 9000);
    CHECK(lx_auth_cache_put_if(&c, &e, then) == NULL);
    CHECK(lx_auth_cache_get(&c, &k1, 9000) == NULL);
    free(e.account_json);
    e = entry(k1, acct, 9000);
    CHECK(lx_auth_cache_put_if(&c, &e, c.evictions) != NULL); /* none since: cached */
    CHECK(lx_auth_cache_get(&c, &k1, 9000) != NULL);
    lx_auth_cache_dispose(&c);
    CHECK(c.slots == NULL);
}

static void test_cache_collisions(void)
{
    lx_auth_cache_t c;
    lx_auth_cache_init(&c, 16, 0);
    lx_uuid_t A = crafted(0xa, 0, 0), B = crafted(0xb, 0, 0);
    /* one cluster from slot 3: accounts interleaved, plus later homes that land inside it */
    struct {
        lx_uuid_t key, acct;
    } rows[] = {
        {key_at(1, 3), A},
        {key_at(2, 3), B},
        {key_at(3, 3), A},
        {key_at(4, 3), B},
        {key_at(5, 3), A},
        {key_at(6, 4), B},
        {key_at(7, 5), A},
        {key_at(8, 9), B},
        /* and one that wraps from slot 15 to 0 and 1 */
        {key_at(9, 15), A},
        {key_at(10, 15), B},
        {key_at(11, 15), A},
        {key_at(12, 0), A},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    for (size_t i = 0; i < n; i++) {
        lx_auth_entry_t e = entry(rows[i].key, rows[i].acct, 0);
        lx_auth_cache_put(&c, &e);
    }
    CHECK_EQ_INT(c.used, n);
    for (size_t i = 0; i < n; i++) {
        CHECK_CTX("row %zu before", i);
        CHECK(present(&c, &rows[i].key));
    }
    /* evicting one key in the middle of the cluster keeps the rest reachable */
    lx_auth_cache_evict_key(&c, &rows[1].key);
    CHECK_EQ_INT(c.used, n - 1);
    for (size_t i = 0; i < n; i++) {
        CHECK_CTX("row %zu after evict_key", i);
        CHECK_EQ_INT(present(&c, &rows[i].key), i != 1);
    }
    /* evicting account A removes all of A's keys and only those */
    lx_auth_cache_evict_account(&c, &A);
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        int is_b = memcmp(&rows[i].acct, &B, sizeof(B)) == 0 && i != 1;
        nb += is_b;
        CHECK_CTX("row %zu after evict_account", i);
        CHECK_EQ_INT(present(&c, &rows[i].key), is_b);
        if (is_b) {
            lx_auth_entry_t *e = lx_auth_cache_get(&c, &rows[i].key, 0);
            CHECK(e != NULL && e->account_json != NULL && strstr(e->account_json, e->who.account_id_str) != NULL);
        }
    }
    CHECK_CTX("%s", "");
    CHECK_EQ_INT(c.used, nb);
    /* and the account's keys can come back */
    lx_auth_entry_t e = entry(rows[0].key, A, 0);
    lx_auth_cache_put(&c, &e);
    CHECK(present(&c, &rows[0].key));
    /* clear */
    lx_auth_cache_clear(&c);
    CHECK_EQ_INT(c.used, 0);
    for (size_t i = 0; i < n; i++) CHECK(!present(&c, &rows[i].key));
    lx_auth_cache_dispose(&c);
}

/* Puts, key evictions and account evictions at random against a plain list: the cache must agree after every step. */
static void test_cache_model(void)
{
    enum { NSLOTS = 64, NKEYS = 40, NACCTS = 4, STEPS = 20000 };
    lx_auth_cache_t c;
    lx_auth_cache_init(&c, NSLOTS, 0);
    lx_uuid_t keys[NKEYS], accts[NACCTS];
    int acct_of[NKEYS], in[NKEYS];
    for (int a = 0; a < NACCTS; a++) accts[a] = crafted(0xa000 + (uint64_t)a, 0, 0);
    for (int k = 0; k < NKEYS; k++) {
        /* homes crowded into a few slots, some near the end so clusters wrap */
        keys[k] = crafted((uint64_t)k + 1, (uint8_t)((k % 5) * 15 + (k % 2) * 3), 0);
        in[k] = 0;
        acct_of[k] = 0;
    }
    uint32_t seed = 12345;
    int mismatches = 0;
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = seed >> 8;
        int op = (int)(r % 10), k = (int)((r / 10) % NKEYS), a = (int)((r / 400) % NACCTS);
        if (op < 6) {
            lx_auth_entry_t e = entry(keys[k], accts[a], 0);
            lx_auth_cache_put(&c, &e);
            in[k] = 1;
            acct_of[k] = a;
        } else if (op < 9) {
            lx_auth_cache_evict_key(&c, &keys[k]);
            in[k] = 0;
        } else {
            lx_auth_cache_evict_account(&c, &accts[a]);
            for (int j = 0; j < NKEYS; j++)
                if (in[j] && acct_of[j] == a) in[j] = 0;
        }
        size_t want_used = 0;
        for (int j = 0; j < NKEYS; j++) {
            want_used += (size_t)in[j];
            lx_auth_entry_t *e = lx_auth_cache_get(&c, &keys[j], 0);
            if ((e != NULL) != in[j] || (e != NULL && memcmp(&e->who.account_id, &accts[acct_of[j]], sizeof(lx_uuid_t)) != 0))
                mismatches++;
        }
        if (c.used != want_used) mismatches++;
    }
    CHECK_EQ_INT(mismatches, 0);
    lx_auth_cache_dispose(&c);
}

/* "A full table is cleared first": at 3/4 load a new key empties the table (and frees what it held). */
static void test_cache_full(void)
{
    lx_auth_cache_t c;
    lx_auth_cache_init(&c, 4, 0);
    lx_uuid_t acct = crafted(0xacc, 0, 0), k[4];
    for (int i = 0; i < 4; i++) k[i] = crafted((uint64_t)i + 1, (uint8_t)i, 0);
    for (int i = 0; i < 3; i++) {
        lx_auth_entry_t e = entry(k[i], acct, 0);
        lx_auth_cache_put(&c, &e);
    }
    CHECK_EQ_INT(c.used, 3);
    /* replacing an existing key does not clear */
    lx_auth_entry_t e = entry(k[0], acct, 0);
    lx_auth_cache_put(&c, &e);
    CHECK_EQ_INT(c.used, 3);
    CHECK(present(&c, &k[1]));
    /* a new key does */
    e = entry(k[3], acct, 0);
    lx_auth_cache_put(&c, &e);
    CHECK_EQ_INT(c.used, 1);
    CHECK(present(&c, &k[3]));
    CHECK(!present(&c, &k[0]) && !present(&c, &k[1]) && !present(&c, &k[2]));
    lx_auth_cache_dispose(&c);
}

static void test_roles(void)
{
    CHECK_EQ_INT(lx_role_parse("operator"), LX_ROLE_OPERATOR);
    CHECK_EQ_INT(lx_role_parse("webmaster"), LX_ROLE_WEBMASTER);
    CHECK_EQ_INT(lx_role_parse("advertiser"), LX_ROLE_ADVERTISER);
    CHECK_EQ_INT(lx_role_parse("Operator"), 0);
    CHECK_EQ_INT(lx_role_parse(""), 0);
    CHECK_EQ_STR(lx_role_name(LX_ROLE_OPERATOR), "operator");
    CHECK_EQ_STR(lx_role_name(LX_ROLE_WEBMASTER), "webmaster");
    CHECK_EQ_STR(lx_role_name(LX_ROLE_ADVERTISER), "advertiser");
    CHECK_EQ_STR(lx_role_name((lx_role_t)0), "unknown");
}

int main(void)
{
    if (!CHECK(sodium_init() >= 0)) return check_summary();
    test_burst_and_refill();
    test_independent_keys();
    test_threads();
    test_cache_basics();
    test_cache_collisions();
    test_cache_model();
    test_cache_full();
    test_roles();
    return check_summary();
}
