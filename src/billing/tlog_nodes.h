/*
 * Perfect-subtree nodes of the receipt log as read back from log_nodes
 * (billing/merkle.h explains the storage model): one parser of the rows
 * (level, idx, hash as bytea text) and one look-up for the merkle
 * computations, shared by the API's proofs (api/log.c, api/receipts.c) and
 * the sequencer's frontier (billing/sequencer.c).
 */
#ifndef LX_BILLING_TLOG_NODES_H
#define LX_BILLING_TLOG_NODES_H

#include <libpq-fe.h>

#include "billing/merkle.h"

/* Orders node ids by (level, index): the order lx_tlog_nodes_get needs its rows in. */
int lx_tlog_node_cmp(const void *a, const void *b);

/* The nodes a fetch returned, sorted by (level, idx), for lx_tlog_nodes_get. */
typedef struct {
    lx_merkle_node_id_t *id;
    lx_hash_t *h;
    size_t n;
} lx_tlog_nodes_t;

/* Reads rows (level, idx, hash) ordered by level, idx; 0, or -1 on a malformed row. Free with lx_tlog_nodes_free. */
int lx_tlog_nodes_load(lx_tlog_nodes_t *ns, const PGresult *r);
void lx_tlog_nodes_free(lx_tlog_nodes_t *ns);
/* lx_merkle_get_fn over an lx_tlog_nodes_t. */
const lx_hash_t *lx_tlog_nodes_get(void *ctx, unsigned level, uint64_t index);

#endif
