/*
 * Unit tests for src/billing/tlog_nodes.h: the log keeps only the nodes of
 * level LX_MERKLE_STORED_LEVEL and up, and computes the lower ones from the
 * leaves' entries.
 *
 * For every tree size 1..70 and every m, the plans of a root, an inclusion
 * proof and a consistency proof go through lx_tlog_nodes_params; the test
 * then builds what the fetch would return from those parameters alone (the
 * stored nodes they name, out of a store that holds levels 4 and up only,
 * and the entries of the leaves they name) and checks that every computation
 * over the finished set gives what it gives over every node of every level.
 * Also: the parameters' text, duplicate rows, and a missing leaf.
 */
#include "billing/tlog_nodes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define N      70
#define LEVELS 8

static char entries[N][48];
static lx_hash_t all[LEVELS][N]; /* every perfect node of the N-leaf log */
static int have[LEVELS][N];

static void keep(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h)
{
    (void)ctx;
    all[level][index] = *h;
    have[level][index] = 1;
}

static const lx_hash_t *get_all(void *ctx, unsigned level, uint64_t index)
{
    (void)ctx;
    return level < LEVELS && index < N && have[level][index] ? &all[level][index] : NULL;
}

static void build(void)
{
    lx_merkle_frontier_t f;
    memset(&f, 0, sizeof(f));
    for (int i = 0; i < N; i++) {
        snprintf(entries[i], sizeof(entries[i]), "{\"kind\":\"sale\",\"i\":%d}", i);
        lx_hash_t leaf;
        lx_merkle_leaf_hash(entries[i], strlen(entries[i]), &leaf);
        lx_merkle_frontier_append(&f, &leaf, keep, NULL);
    }
}

/* Parses "{1,2,3}" into v (capacity cap); returns the count. */
static size_t parse_array(const char *s, uint64_t *v, size_t cap)
{
    size_t n = 0;
    CHECK(s[0] == '{');
    for (const char *p = s + 1; *p != '}' && *p != '\0' && n < cap;) {
        char *end;
        v[n++] = strtoull(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* What the fetch returns for `plan` in a log of n entries: the stored nodes (levels 4 and up) it names and the entries
 * of the leaves it names, as lx_tlog_nodes_load would add them; then finished. */
static void fetch(lx_merkle_node_id_t *plan, size_t len, uint64_t n, lx_tlog_nodes_t *ns)
{
    lx_strbuf_t arg[3];
    for (int i = 0; i < 3; i++) lx_strbuf_init(&arg[i], 1 << 20);
    lx_tlog_nodes_params(plan, len, &arg[0], &arg[1], &arg[2]);
    static uint64_t lv[LX_MERKLE_MAX_PLAN], ix[LX_MERKLE_MAX_PLAN], lf[N * 4];
    size_t nl = parse_array(arg[0].base, lv, LX_MERKLE_MAX_PLAN), ni = parse_array(arg[1].base, ix, LX_MERKLE_MAX_PLAN);
    size_t nf = parse_array(arg[2].base, lf, N * 4);
    CHECK_EQ_INT(nl, ni);
    *ns = (lx_tlog_nodes_t)LX_TLOG_NODES_INIT;
    for (size_t i = 0; i < nl; i++) {
        CHECK(lv[i] >= LX_MERKLE_STORED_LEVEL && lv[i] < LEVELS);
        if (lv[i] < LEVELS && ix[i] < N && have[lv[i]][ix[i]] && (ix[i] + 1) << lv[i] <= n)
            lx_tlog_nodes_add(ns, (unsigned)lv[i], ix[i], &all[lv[i]][ix[i]]);
    }
    for (size_t i = 0; i < nf; i++) {
        CHECK(lf[i] < n);
        CHECK(i == 0 || lf[i] > lf[i - 1]); /* sorted, no duplicates */
        if (lf[i] < n) lx_tlog_nodes_add_leaf(ns, lf[i], entries[lf[i]], strlen(entries[lf[i]]));
    }
    for (int i = 0; i < 3; i++) lx_strbuf_free(&arg[i]);
    lx_tlog_nodes_finish(ns);
}

static void same_path(int rc_a, const lx_hash_t *a, size_t la, int rc_b, const lx_hash_t *b, size_t lb)
{
    CHECK_EQ_INT(rc_a, 0);
    CHECK_EQ_INT(rc_b, 0);
    CHECK_EQ_INT(la, lb);
    CHECK(la == lb && memcmp(a, b, la * sizeof(*a)) == 0);
}

static void test_every_size(void)
{
    static lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    for (uint64_t n = 1; n <= N; n++) {
        CHECK_CTX("root of %" PRIu64, n);
        lx_tlog_nodes_t ns;
        fetch(plan, lx_merkle_plan_root(n, plan), n, &ns);
        lx_hash_t want, got;
        CHECK_EQ_INT(lx_merkle_root(n, get_all, NULL, &want), 0);
        CHECK_EQ_INT(lx_merkle_root(n, lx_tlog_nodes_get, &ns, &got), 0);
        CHECK(memcmp(&want, &got, sizeof(want)) == 0);
        lx_merkle_frontier_t fa, fb;
        CHECK_EQ_INT(lx_merkle_frontier_load(&fa, n, get_all, NULL), 0);
        CHECK_EQ_INT(lx_merkle_frontier_load(&fb, n, lx_tlog_nodes_get, &ns), 0);
        CHECK(memcmp(&fa, &fb, sizeof(fa)) == 0);
        lx_tlog_nodes_free(&ns);
        for (uint64_t m = 0; m < n; m++) {
            lx_hash_t pa[LX_MERKLE_MAX_PATH], pb[LX_MERKLE_MAX_PATH];
            size_t la = 0, lb = 0;
            CHECK_CTX("inclusion of %" PRIu64 " in %" PRIu64, m, n);
            fetch(plan, lx_merkle_plan_inclusion(m, n, plan), n, &ns);
            int ra = lx_merkle_inclusion(m, n, get_all, NULL, pa, &la);
            int rb = lx_merkle_inclusion(m, n, lx_tlog_nodes_get, &ns, pb, &lb);
            same_path(ra, pa, la, rb, pb, lb);
            lx_tlog_nodes_free(&ns);
            CHECK_CTX("consistency of %" PRIu64 " with %" PRIu64, m + 1, n);
            fetch(plan, lx_merkle_plan_consistency(m + 1, n, plan), n, &ns);
            ra = lx_merkle_consistency(m + 1, n, get_all, NULL, pa, &la);
            rb = lx_merkle_consistency(m + 1, n, lx_tlog_nodes_get, &ns, pb, &lb);
            same_path(ra, pa, la, rb, pb, lb);
            lx_tlog_nodes_free(&ns);
        }
    }
}

static void test_params_text(void)
{
    CHECK_CTX("params");
    /* (0, 5) twice, (2, 1), (4, 0) and (5, 1): leaves 4..7 once (5 is inside (2, 1)), stored (4, 0) and (5, 1) */
    lx_merkle_node_id_t ids[] = {{5, 1}, {0, 5}, {2, 1}, {4, 0}, {0, 5}};
    lx_strbuf_t l, i, f;
    lx_strbuf_init(&l, 256);
    lx_strbuf_init(&i, 256);
    lx_strbuf_init(&f, 256);
    lx_tlog_nodes_params(ids, 5, &l, &i, &f);
    CHECK_EQ_STR(l.base, "{4,5}");
    CHECK_EQ_STR(i.base, "{0,1}");
    CHECK_EQ_STR(f.base, "{4,5,6,7}");
    lx_strbuf_reset(&l);
    lx_strbuf_reset(&i);
    lx_strbuf_reset(&f);
    lx_tlog_nodes_params(ids, 0, &l, &i, &f);
    CHECK_EQ_STR(l.base, "{}");
    CHECK_EQ_STR(f.base, "{}");
    lx_strbuf_free(&l);
    lx_strbuf_free(&i);
    lx_strbuf_free(&f);
}

static void test_duplicates_and_gaps(void)
{
    CHECK_CTX("duplicate rows");
    lx_tlog_nodes_t ns = LX_TLOG_NODES_INIT;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 8; i++) lx_tlog_nodes_add_leaf(&ns, (uint64_t)i, entries[i], strlen(entries[i]));
    lx_tlog_nodes_finish(&ns);
    CHECK_EQ_INT(ns.n, 8 + 4 + 2 + 1);
    const lx_hash_t *h = lx_tlog_nodes_get(&ns, 3, 0);
    CHECK(h != NULL && memcmp(h, &all[3][0], sizeof(*h)) == 0);
    lx_tlog_nodes_free(&ns);

    CHECK_CTX("a missing leaf");
    for (int i = 0; i < 8; i++)
        if (i != 6) lx_tlog_nodes_add_leaf(&ns, (uint64_t)i, entries[i], strlen(entries[i]));
    lx_tlog_nodes_finish(&ns);
    CHECK(lx_tlog_nodes_get(&ns, 1, 2) != NULL);
    CHECK(lx_tlog_nodes_get(&ns, 1, 3) == NULL);
    CHECK(lx_tlog_nodes_get(&ns, 2, 1) == NULL);
    CHECK(lx_tlog_nodes_get(&ns, 3, 0) == NULL);
    lx_hash_t root;
    CHECK_EQ_INT(lx_merkle_root(8, lx_tlog_nodes_get, &ns, &root), -1);
    lx_tlog_nodes_free(&ns);
}

int main(void)
{
    build();
    test_every_size();
    test_params_text();
    test_duplicates_and_gaps();
    return check_summary();
}
