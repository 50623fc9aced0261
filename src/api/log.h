/*
 * Reading the receipt transparency log for the API (src/api/log.c: the /v1/log routes,
 * src/api/receipts.c: /v1/receipts*): the signed heads, and the stored
 * perfect-subtree nodes that roots and proofs are computed from
 * (billing/merkle.h). A handler asks the merkle plan functions which nodes it
 * needs (for one proof or the union of a page's proofs), fetches them with
 * one statement, and computes over what came back.
 */
#ifndef LX_API_LOG_H
#define LX_API_LOG_H

#include "billing/merkle.h"
#include "billing/tlog_nodes.h"
#include "http/request.h"
#include "util/strbuf.h"

/* Statement: the newest signed head, columns LX_TLOG_HEAD_COLS (no rows before the first head is signed). */
extern lx_db_stmt_t lx_tlog_head_latest;
#define LX_TLOG_HEAD_COLS 5 /* tree_size, root_hash, timestamp, key_id, signature */

/* Appends a head row (columns col0 .. col0 + 4) as the TreeHead JSON object. */
void lx_tlog_head_render(const PGresult *r, int row, int col0, lx_strbuf_t *out);

/* A set of node ids to fetch: add plans, then lx_tlog_plan_fetch adds the statement to the job. */
typedef struct {
    lx_merkle_node_id_t *v;
    size_t n, cap;
} lx_tlog_plan_t;

void lx_tlog_plan_add(lx_tlog_plan_t *p, const lx_merkle_node_id_t *ids, size_t n);
/* Sorts and dedupes the ids, and adds the fetch statement (parameters copied into `a`) to a->job; frees p's memory. */
void lx_tlog_plan_fetch(lx_tlog_plan_t *p, lx_async_t *a);

/* Appends ["b64url", ...]. */
void lx_tlog_hashes_render(const lx_hash_t *path, size_t n, lx_strbuf_t *out);

/* Parses a decimal uint64 of at most 18 digits (no sign, no leading zeros except "0"); 0 or -1. */
int lx_tlog_parse_size(const char *s, uint64_t *out);

#endif
