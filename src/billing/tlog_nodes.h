/*
 * Perfect-subtree nodes of the receipt log as read back from the database
 * (billing/merkle.h explains the node model): one fetch statement, one parser
 * of its rows and one look-up for the merkle computations, shared by the
 * API's proofs (api/log.c, api/receipts.c), the sequencer's frontier
 * (billing/sequencer.c) and the audit's log pages (api/audit.c, stored nodes
 * only).
 *
 * Storage: log_nodes keeps the perfect nodes of level LX_MERKLE_STORED_LEVEL
 * (billing/merkle.h, 4) and above only. A node below it covers at most 8
 * leaves and is computed here from their entries (log_entries holds every
 * leaf's preimage). Why: storing every level wrote about two log_nodes rows
 * per receipt (the leaf and, on average, one node above it), the costliest
 * statement of the sequencer in the market bench, and kept about 140 bytes
 * per receipt forever; from level 4 up it is one row per eight receipts,
 * while an inclusion proof reads at most 15 more entries.
 */
#ifndef LX_BILLING_TLOG_NODES_H
#define LX_BILLING_TLOG_NODES_H

#include <libpq-fe.h>

#include "billing/merkle.h"
#include "util/strbuf.h"

/* The fetch: $1 smallint[], $2 bigint[] the stored nodes (level, idx), $3 bigint[] the leaves (log indexes) the lower
 * nodes are computed from; rows (level, idx, hash, entry) in no particular order, for lx_tlog_nodes_load. */
#define LX_TLOG_NODES_SQL                                                                                                          \
    "SELECT level, idx, hash, NULL::text FROM log_nodes "                                                                          \
    "WHERE (level, idx) IN (SELECT * FROM unnest($1::smallint[], $2::bigint[])) "                                                  \
    "UNION ALL SELECT 0, log_index, NULL, entry FROM log_entries WHERE log_index = ANY ($3::bigint[])"

/* Orders node ids by (level, index). */
int lx_tlog_node_cmp(const void *a, const void *b);

/* The fetch's three array parameters (PostgreSQL text form, appended to the buffers) for the nodes of a plan; sorts
 * and dedupes `ids` in place. */
void lx_tlog_nodes_params(lx_merkle_node_id_t *ids, size_t n, lx_strbuf_t *levels, lx_strbuf_t *idxs, lx_strbuf_t *leaves);

typedef struct {
    lx_merkle_node_id_t id;
    lx_hash_t h;
} lx_tlog_node_t;

/* Nodes by (level, index) once finished. */
typedef struct {
    lx_tlog_node_t *v;
    size_t n, cap;
} lx_tlog_nodes_t;

#define LX_TLOG_NODES_INIT                                                                                                         \
    {                                                                                                                              \
        NULL, 0, 0                                                                                                                 \
    }

/* Building by hand (what lx_tlog_nodes_load does with the fetch's rows): add stored nodes and leaf entries, then
 * finish, which computes every node below LX_MERKLE_STORED_LEVEL whose leaves are all present and sorts. */
void lx_tlog_nodes_add(lx_tlog_nodes_t *ns, unsigned level, uint64_t index, const lx_hash_t *h);
void lx_tlog_nodes_add_leaf(lx_tlog_nodes_t *ns, uint64_t index, const char *entry, size_t len);
void lx_tlog_nodes_finish(lx_tlog_nodes_t *ns);

/* Reads the fetch's rows and finishes; 0, or -1 on a malformed row. Free with lx_tlog_nodes_free either way. */
int lx_tlog_nodes_load(lx_tlog_nodes_t *ns, const PGresult *r);
void lx_tlog_nodes_free(lx_tlog_nodes_t *ns);
/* lx_merkle_get_fn over a finished lx_tlog_nodes_t. */
const lx_hash_t *lx_tlog_nodes_get(void *ctx, unsigned level, uint64_t index);

#endif
