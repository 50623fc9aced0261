/*
 * Unit tests for src/market/campaign_cache.h: terms are found only at the version they were stored under; a new
 * version replaces the entry and releases the old terms (a caller's own reference keeps them alive); NULL columns
 * stay NULL; growth past the first capacity keeps every entry; trim drops everything only above its bound. Reference
 * counts are checked directly, and ASan's leak check (the sanitizer build) sees anything the cache forgets.
 */
#include "market/campaign_cache.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

static void id_of(int i, char out[37])
{
    snprintf(out, 37, "00000000-0000-7000-8000-%012d", i);
}

static lx_campaign_terms_t terms(const char *region)
{
    lx_campaign_terms_t t = {json_pack("[s]", region), json_pack("{s:[]}", "required"), NULL, json_array()};
    return t;
}

static void test_versions(void)
{
    lx_campaign_cache_t *c = lx_campaign_cache_new();
    char id[37];
    id_of(1, id);
    CHECK(lx_campaign_cache_get(c, id, 1) == NULL);
    const lx_campaign_terms_t *t = lx_campaign_cache_put(c, id, 1, terms("RU-MOW"));
    CHECK_EQ_STR(json_string_value(json_array_get(t->regions, 0)), "RU-MOW");
    CHECK(t->hours == NULL);
    CHECK(lx_campaign_cache_get(c, id, 1) == t);
    CHECK(lx_campaign_cache_get(c, id, 2) == NULL); /* another version is not these terms */
    CHECK_EQ_INT(t->regions->refcount, 1);

    json_t *kept = json_incref(t->regions); /* a batch holding the old terms */
    CHECK_EQ_INT(kept->refcount, 2);
    t = lx_campaign_cache_put(c, id, 2, terms("RU-SPE"));
    CHECK_EQ_INT(kept->refcount, 1); /* the cache let go of it; the batch's reference keeps it */
    CHECK_EQ_STR(json_string_value(json_array_get(kept, 0)), "RU-MOW");
    json_decref(kept);
    CHECK(lx_campaign_cache_get(c, id, 1) == NULL);
    CHECK_EQ_STR(json_string_value(json_array_get(lx_campaign_cache_get(c, id, 2)->regions, 0)), "RU-SPE");
    CHECK_EQ_INT(lx_campaign_cache_size(c), 1);
    lx_campaign_cache_free(c);
}

static void test_growth_and_trim(void)
{
    lx_campaign_cache_t *c = lx_campaign_cache_new();
    char id[37], region[16];
    enum { N = 5000 };
    for (int i = 0; i < N; i++) {
        id_of(i, id);
        snprintf(region, sizeof(region), "R-%d", i);
        lx_campaign_cache_put(c, id, i + 1, terms(region));
    }
    CHECK_EQ_INT(lx_campaign_cache_size(c), N);
    int found = 0;
    for (int i = 0; i < N; i++) {
        id_of(i, id);
        snprintf(region, sizeof(region), "R-%d", i);
        const lx_campaign_terms_t *t = lx_campaign_cache_get(c, id, i + 1);
        found += t != NULL && strcmp(json_string_value(json_array_get(t->regions, 0)), region) == 0;
    }
    CHECK_EQ_INT(found, N);
    lx_campaign_cache_trim(c, N); /* at the bound: kept */
    CHECK_EQ_INT(lx_campaign_cache_size(c), N);
    lx_campaign_cache_trim(c, N - 1); /* above it: all dropped */
    CHECK_EQ_INT(lx_campaign_cache_size(c), 0);
    id_of(7, id);
    CHECK(lx_campaign_cache_get(c, id, 8) == NULL);
    lx_campaign_cache_put(c, id, 8, terms("RU")); /* usable again */
    CHECK(lx_campaign_cache_get(c, id, 8) != NULL);
    lx_campaign_cache_free(c);
}

int main(void)
{
    test_versions();
    test_growth_and_trim();
    return check_summary();
}
