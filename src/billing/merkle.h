/*
 * RFC 6962 Merkle trees (SHA-256) for the receipt transparency log: leaf and
 * node hashes, roots, inclusion and consistency proofs, and their checks.
 * Pure functions, no I/O.
 *
 * Storage model. The log keeps every *perfect aligned subtree* hash: node
 * (level L, index i) covers leaves [i·2^L, (i+1)·2^L); level 0 are the leaf
 * hashes. Each such node never changes once its last leaf exists, so rows are
 * only ever inserted. Every hash a root or proof of any tree size needs is
 * either one of these nodes or a combination of O(log n) of them (the right
 * edge of a tree decomposes into perfect aligned blocks). So the server asks
 * a plan function which nodes it needs, fetches them in one query, and
 * computes with a look-up callback over what it fetched.
 *
 * Appending uses a frontier (the perfect nodes of the right edge, one per set
 * bit of the tree size): each new leaf completes the nodes it closes, which
 * are emitted for storage.
 *
 * The database stores the nodes of level LX_MERKLE_STORED_LEVEL and above;
 * the lower ones are computed from the leaves' entries when a computation
 * needs them (billing/tlog_nodes.h says why).
 */
#ifndef LX_BILLING_MERKLE_H
#define LX_BILLING_MERKLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t h[32];
} lx_hash_t;

typedef struct {
    uint8_t level;
    uint64_t index;
} lx_merkle_node_id_t;

#define LX_MERKLE_STORED_LEVEL 4

/* Upper bound of any plan's length (proofs of trees up to 2^63 leaves). */
#define LX_MERKLE_MAX_PLAN 4200
#define LX_MERKLE_MAX_PATH 128

void lx_merkle_leaf_hash(const void *data, size_t len, lx_hash_t *out);                  /* H(0x00 || data) */
void lx_merkle_node_hash(const lx_hash_t *left, const lx_hash_t *right, lx_hash_t *out); /* H(0x01 || l || r) */

/* Returns the perfect node (level, index), or NULL when the caller does not have it (the computation then fails). */
typedef const lx_hash_t *(*lx_merkle_get_fn)(void *ctx, unsigned level, uint64_t index);

/* Plans: fill `out` (capacity LX_MERKLE_MAX_PLAN) with the nodes the matching computation asks for; return the count
 * (duplicates possible). Preconditions as for the computations; a plan for an invalid request returns 0. */
size_t lx_merkle_plan_root(uint64_t n, lx_merkle_node_id_t *out);
size_t lx_merkle_plan_inclusion(uint64_t m, uint64_t n, lx_merkle_node_id_t *out);
size_t lx_merkle_plan_consistency(uint64_t m, uint64_t n, lx_merkle_node_id_t *out);

/* MTH of the first n leaves (n >= 1; the empty tree's root is SHA-256 of nothing, see lx_merkle_empty_root).
 * Return 0, or -1 when a node is missing or the arguments are invalid. */
int lx_merkle_root(uint64_t n, lx_merkle_get_fn get, void *ctx, lx_hash_t *out);
void lx_merkle_empty_root(lx_hash_t *out);
/* PATH(m, D[0:n]) of RFC 6962 §2.1.1, 0 <= m < n; *len set to the number of hashes (<= LX_MERKLE_MAX_PATH). */
int lx_merkle_inclusion(uint64_t m, uint64_t n, lx_merkle_get_fn get, void *ctx, lx_hash_t *path, size_t *len);
/* PROOF(m, D[0:n]) of RFC 6962 §2.1.2, 0 < m <= n (m == n: empty proof). */
int lx_merkle_consistency(uint64_t m, uint64_t n, lx_merkle_get_fn get, void *ctx, lx_hash_t *path, size_t *len);

/* Checks (RFC 9162 §2.1.3.2 and §2.1.4.2). Return 1 when the proof is valid, 0 otherwise (never crash on any input). */
int lx_merkle_verify_inclusion(uint64_t m, uint64_t n, const lx_hash_t *leaf, const lx_hash_t *path, size_t len,
                               const lx_hash_t *root);
/* RFC 9162 defines consistency only for 0 < m < n. Here m == n holds iff the proof is empty and root_m equals root_n
 * (PROOF(n, D[0:n]) is empty); m == 0 and m > n never verify. */
int lx_merkle_verify_consistency(uint64_t m, uint64_t n, const lx_hash_t *root_m, const lx_hash_t *root_n, const lx_hash_t *path,
                                 size_t len);

/* ---- appending ---- */
typedef struct {
    uint64_t size;      /* leaves so far */
    lx_hash_t node[64]; /* node[L] = the perfect node of level L on the right edge, valid when bit L of size is set */
} lx_merkle_frontier_t;

/* Called for every node a leaf completes, the leaf itself (level 0) first, then upwards. */
typedef void (*lx_merkle_emit_fn)(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h);

/* The frontier of a tree of `n` leaves from its perfect nodes (exactly lx_merkle_plan_root's nodes). -1 if missing. */
int lx_merkle_frontier_load(lx_merkle_frontier_t *f, uint64_t n, lx_merkle_get_fn get, void *ctx);
/* emit may be NULL. Aborts if f already holds 2^64 - 1 leaves (the size could not count another). */
void lx_merkle_frontier_append(lx_merkle_frontier_t *f, const lx_hash_t *leaf, lx_merkle_emit_fn emit, void *ctx);
/* Root of the frontier's tree (the empty root when size is 0). */
void lx_merkle_frontier_root(const lx_merkle_frontier_t *f, lx_hash_t *out);

#endif
