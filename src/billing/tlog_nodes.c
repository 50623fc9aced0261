/*
 * The log's nodes as merkle nodes (billing/tlog_nodes.h): stored ones from
 * log_nodes, the levels below LX_MERKLE_STORED_LEVEL from the entries of their
 * leaves. PostgreSQL writes bytea as \x and lowercase hex, so that is the one
 * form accepted.
 */
#include "billing/tlog_nodes.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int lx_tlog_node_cmp(const void *a, const void *b)
{
    const lx_merkle_node_id_t *x = a, *y = b;
    if (x->level != y->level) return x->level < y->level ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void lx_tlog_nodes_params(lx_merkle_node_id_t *ids, size_t n, lx_strbuf_t *levels, lx_strbuf_t *idxs, lx_strbuf_t *leaves)
{
    size_t m = 0, nleaves = 0, cap = 0;
    uint64_t *leaf = NULL;
    if (n > 0) {
        qsort(ids, n, sizeof(*ids), lx_tlog_node_cmp);
        for (size_t i = 0; i < n; i++)
            if (m == 0 || lx_tlog_node_cmp(&ids[m - 1], &ids[i]) != 0) ids[m++] = ids[i];
    }
    lx_strbuf_puts(levels, "{");
    lx_strbuf_puts(idxs, "{");
    size_t stored = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned level = ids[i].level;
        if (level >= LX_MERKLE_STORED_LEVEL) {
            lx_strbuf_printf(levels, "%s%u", stored ? "," : "", level);
            lx_strbuf_printf(idxs, "%s%" PRIu64, stored ? "," : "", ids[i].index);
            stored++;
            continue;
        }
        if (ids[i].index > (UINT64_MAX >> level) - 1) continue; /* beyond any log: the computation reports it missing */
        uint64_t first = ids[i].index << level, count = (uint64_t)1 << level;
        if (nleaves + count > cap) {
            cap = (nleaves + count) * 2;
            leaf = lx_realloc(leaf, cap * sizeof(*leaf));
        }
        for (uint64_t k = 0; k < count; k++) leaf[nleaves++] = first + k;
    }
    lx_strbuf_puts(levels, "}");
    lx_strbuf_puts(idxs, "}");
    if (nleaves > 0) qsort(leaf, nleaves, sizeof(*leaf), u64_cmp);
    lx_strbuf_puts(leaves, "{");
    for (size_t i = 0, w = 0; i < nleaves; i++)
        if (i == 0 || leaf[i] != leaf[i - 1]) lx_strbuf_printf(leaves, "%s%" PRIu64, w++ ? "," : "", leaf[i]);
    lx_strbuf_puts(leaves, "}");
    free(leaf);
}

static lx_tlog_node_t *push(lx_tlog_nodes_t *ns)
{
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 64;
        ns->v = lx_realloc(ns->v, ns->cap * sizeof(*ns->v));
    }
    return &ns->v[ns->n++];
}

void lx_tlog_nodes_add(lx_tlog_nodes_t *ns, unsigned level, uint64_t index, const lx_hash_t *h)
{
    lx_tlog_node_t *v = push(ns);
    v->id.level = (uint8_t)level;
    v->id.index = index;
    v->h = *h;
}

void lx_tlog_nodes_add_leaf(lx_tlog_nodes_t *ns, uint64_t index, const char *entry, size_t len)
{
    lx_tlog_node_t *v = push(ns);
    v->id.level = 0;
    v->id.index = index;
    lx_merkle_leaf_hash(entry, len, &v->h);
}

static int node_cmp(const void *a, const void *b)
{
    return lx_tlog_node_cmp(&((const lx_tlog_node_t *)a)->id, &((const lx_tlog_node_t *)b)->id);
}

/* Level by level from the leaves: a parent wherever both children are present (sorted, a left child at an even
 * index is directly followed by its sibling). A duplicate row (the same node twice) is dropped. */
void lx_tlog_nodes_finish(lx_tlog_nodes_t *ns)
{
    if (ns->n == 0) return;
    qsort(ns->v, ns->n, sizeof(*ns->v), node_cmp);
    size_t m = 0;
    for (size_t i = 0; i < ns->n; i++)
        if (m == 0 || node_cmp(&ns->v[m - 1], &ns->v[i]) != 0) ns->v[m++] = ns->v[i];
    ns->n = m;
    for (unsigned level = 1; level < LX_MERKLE_STORED_LEVEL; level++) {
        size_t end = ns->n, added = 0;
        for (size_t i = 0; i + 1 < end; i++) {
            const lx_tlog_node_t *l = &ns->v[i], *r = &ns->v[i + 1];
            if (l->id.level != level - 1 || r->id.level != level - 1 || (l->id.index & 1) != 0 || r->id.index != l->id.index + 1)
                continue;
            lx_hash_t h;
            lx_merkle_node_hash(&l->h, &r->h, &h);
            lx_tlog_nodes_add(ns, level, l->id.index >> 1, &h); /* may move ns->v: l and r are not used after */
            added++;
        }
        if (added == 0) break;
        qsort(ns->v, ns->n, sizeof(*ns->v), node_cmp);
    }
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int lx_tlog_nodes_load(lx_tlog_nodes_t *ns, const PGresult *r)
{
    *ns = (lx_tlog_nodes_t)LX_TLOG_NODES_INIT;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        unsigned level = (unsigned)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        uint64_t index = strtoull(PQgetvalue(r, i, 1), NULL, 10);
        if (!PQgetisnull(r, i, 3)) {
            if (level != 0) return -1;
            lx_tlog_nodes_add_leaf(ns, index, PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3));
            continue;
        }
        const char *v = PQgetvalue(r, i, 2);
        if (PQgetlength(r, i, 2) != 66 || v[0] != '\\' || v[1] != 'x') return -1;
        lx_hash_t h;
        for (int k = 0; k < 32; k++) {
            int hi = hexval(v[2 + 2 * k]), lo = hexval(v[3 + 2 * k]);
            if (hi < 0 || lo < 0) return -1;
            h.h[k] = (uint8_t)(hi << 4 | lo);
        }
        lx_tlog_nodes_add(ns, level, index, &h);
    }
    lx_tlog_nodes_finish(ns);
    return 0;
}

void lx_tlog_nodes_free(lx_tlog_nodes_t *ns)
{
    free(ns->v);
    *ns = (lx_tlog_nodes_t)LX_TLOG_NODES_INIT;
}

const lx_hash_t *lx_tlog_nodes_get(void *ctx, unsigned level, uint64_t index)
{
    const lx_tlog_nodes_t *ns = ctx;
    lx_merkle_node_id_t key = {.level = (uint8_t)level, .index = index};
    size_t lo = 0, hi = ns->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = lx_tlog_node_cmp(&ns->v[mid].id, &key);
        if (c == 0) return &ns->v[mid].h;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
