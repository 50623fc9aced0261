/*
 * The log_nodes rows as merkle nodes (billing/tlog_nodes.h). PostgreSQL writes
 * bytea as \x and lowercase hex, so that is the one form accepted.
 */
#include "billing/tlog_nodes.h"
#include "util/strbuf.h"

#include <stdlib.h>

int lx_tlog_node_cmp(const void *a, const void *b)
{
    const lx_merkle_node_id_t *x = a, *y = b;
    if (x->level != y->level) return x->level < y->level ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int lx_tlog_nodes_load(lx_tlog_nodes_t *ns, const PGresult *r)
{
    size_t n = (size_t)PQntuples(r);
    ns->n = 0;
    ns->id = lx_malloc((n ? n : 1) * sizeof(*ns->id));
    ns->h = lx_malloc((n ? n : 1) * sizeof(*ns->h));
    for (size_t i = 0; i < n; i++) {
        const char *v = PQgetvalue(r, (int)i, 2);
        if (PQgetlength(r, (int)i, 2) != 66 || v[0] != '\\' || v[1] != 'x') return -1;
        for (int k = 0; k < 32; k++) {
            int hi = hexval(v[2 + 2 * k]), lo = hexval(v[3 + 2 * k]);
            if (hi < 0 || lo < 0) return -1;
            ns->h[i].h[k] = (uint8_t)(hi << 4 | lo);
        }
        ns->id[i].level = (uint8_t)strtoul(PQgetvalue(r, (int)i, 0), NULL, 10);
        ns->id[i].index = strtoull(PQgetvalue(r, (int)i, 1), NULL, 10);
        ns->n++;
    }
    return 0;
}

void lx_tlog_nodes_free(lx_tlog_nodes_t *ns)
{
    free(ns->id);
    free(ns->h);
    ns->id = NULL;
    ns->h = NULL;
    ns->n = 0;
}

const lx_hash_t *lx_tlog_nodes_get(void *ctx, unsigned level, uint64_t index)
{
    const lx_tlog_nodes_t *ns = ctx;
    lx_merkle_node_id_t key = {.level = (uint8_t)level, .index = index};
    size_t lo = 0, hi = ns->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = lx_tlog_node_cmp(&ns->id[mid], &key);
        if (c == 0) return &ns->h[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
