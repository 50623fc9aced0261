/*
 * RFC 6962 Merkle trees over the store of perfect aligned subtrees.
 *
 * Why it is built this way. RFC 6962 defines MTH, PATH and PROOF recursively
 * over ranges of leaves. Following the recursion from the top, every range it
 * visits is either a left child, which is a perfect aligned subtree (one stored
 * node), or a right child, which ends at the tree size n and starts at a
 * multiple of a power of two at least as large as itself. Such a right-edge
 * range [a, n) is the concatenation of perfect aligned blocks, one per set bit
 * of n - a, largest first, and MTH's own split rule (k = the largest power of
 * two < size) peels exactly those blocks off the left, so its hash is the
 * blocks folded right to left: H(b1, H(b2, ... H(bk-1, bk))).
 *
 * So a root or proof is first described as a list of ranges (walk_*), with no
 * hashing at all; the plan functions expand those ranges into blocks, and the
 * computations fetch the same blocks and fold them. Plan and computation share
 * the walk, which is what guarantees a computation asks get() for nothing its
 * plan did not list. A walk yields at most 65 ranges and a range at most 64
 * blocks, hence LX_MERKLE_MAX_PLAN (4200 >= 65 * 64) and LX_MERKLE_MAX_PATH.
 *
 * The verifiers are RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. They read
 * path[i] only for i < len and only while the proof's shape still allows
 * another hash (at most 64 of them for 64-bit sizes), so a hostile len or
 * size cannot make them run long or read past a correctly sized array.
 */
#include "billing/merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* At most one range per level of the walk plus the terminal one of a consistency proof. */
#define WALK_MAX 66

typedef struct {
    uint64_t begin, end; /* leaves [begin, end); begin is a multiple of a power of two >= end - begin */
} range_t;

void lx_merkle_leaf_hash(const void *data, size_t len, lx_hash_t *out)
{
    static const uint8_t prefix = 0x00;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (len > 0) crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out->h);
}

void lx_merkle_node_hash(const lx_hash_t *left, const lx_hash_t *right, lx_hash_t *out)
{
    static const uint8_t prefix = 0x01;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    crypto_hash_sha256_update(&st, left->h, sizeof(left->h));
    crypto_hash_sha256_update(&st, right->h, sizeof(right->h));
    crypto_hash_sha256_final(&st, out->h); /* out may alias left or right: both were read before this */
}

void lx_merkle_empty_root(lx_hash_t *out)
{
    crypto_hash_sha256(out->h, NULL, 0);
}

/* The largest power of two strictly below s (s >= 2): RFC 6962's split point k. */
static uint64_t split_point(uint64_t s)
{
    return UINT64_C(1) << (63 - __builtin_clzll(s - 1));
}

/* ---- walks: the ranges whose MTH a root or proof consists of, in output order ---- */

/* PATH(m, D[0:n]) (RFC 6962 §2.1.1): the sibling of each range on the way down to leaf m. The recursion appends
 * the sibling after the deeper part of the path, so the list is built top-down and emitted bottom-up. */
static size_t walk_inclusion(uint64_t m, uint64_t n, range_t *out)
{
    range_t top_down[WALK_MAX];
    size_t count = 0;
    uint64_t a = 0, b = n;
    while (b - a > 1) {
        uint64_t k = split_point(b - a);
        if (m - a < k) {
            top_down[count++] = (range_t){a + k, b};
            b = a + k;
        } else {
            top_down[count++] = (range_t){a, a + k};
            a += k;
        }
    }
    for (size_t i = 0; i < count; i++) out[i] = top_down[count - 1 - i];
    return count;
}

/* PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true) (RFC 6962 §2.1.2), 0 < m <= n. */
static size_t walk_consistency(uint64_t m, uint64_t n, range_t *out)
{
    range_t top_down[WALK_MAX];
    size_t count = 0;
    uint64_t a = 0, b = n;
    int whole = 1; /* SUBPROOF's b: the range so far is the old tree's own root, which the verifier already has */
    for (;;) {
        if (m - a == b - a) {
            if (!whole) top_down[count++] = (range_t){a, b};
            break;
        }
        uint64_t k = split_point(b - a); /* m - a < b - a here, so b - a >= 2 */
        if (m - a <= k) {
            top_down[count++] = (range_t){a + k, b};
            b = a + k;
        } else {
            top_down[count++] = (range_t){a, a + k};
            a += k;
            whole = 0;
        }
    }
    for (size_t i = 0; i < count; i++) out[i] = top_down[count - 1 - i];
    return count;
}

/* ---- ranges as perfect blocks ---- */

/* Appends the perfect blocks of `r`, largest first. */
static size_t range_blocks(range_t r, lx_merkle_node_id_t *out)
{
    size_t count = 0;
    uint64_t pos = r.begin, size = r.end - r.begin;
    for (unsigned level = 64; level-- > 0;) {
        uint64_t block = UINT64_C(1) << level;
        if ((size & block) == 0) continue;
        out[count++] = (lx_merkle_node_id_t){.level = (uint8_t)level, .index = pos >> level};
        pos += block;
    }
    return count;
}

/* MTH of `r` from its blocks, folded right to left. -1 when get() lacks one. */
static int range_hash(range_t r, lx_merkle_get_fn get, void *ctx, lx_hash_t *out)
{
    lx_merkle_node_id_t ids[64];
    lx_hash_t blocks[64]; /* copied at once: get() may hand out a buffer it reuses on the next call */
    size_t count = range_blocks(r, ids);
    for (size_t i = 0; i < count; i++) {
        const lx_hash_t *h = get(ctx, ids[i].level, ids[i].index);
        if (h == NULL) return -1;
        blocks[i] = *h;
    }
    *out = blocks[count - 1];
    for (size_t i = count - 1; i-- > 0;) lx_merkle_node_hash(&blocks[i], out, out);
    return 0;
}

static size_t plan_ranges(const range_t *ranges, size_t nranges, lx_merkle_node_id_t *out)
{
    size_t count = 0;
    for (size_t i = 0; i < nranges; i++) count += range_blocks(ranges[i], out + count);
    return count;
}

static int hash_ranges(const range_t *ranges, size_t nranges, lx_merkle_get_fn get, void *ctx, lx_hash_t *path, size_t *len)
{
    for (size_t i = 0; i < nranges; i++) {
        if (range_hash(ranges[i], get, ctx, &path[i]) != 0) {
            *len = 0;
            return -1;
        }
    }
    *len = nranges;
    return 0;
}

/* ---- plans and computations ---- */

size_t lx_merkle_plan_root(uint64_t n, lx_merkle_node_id_t *out)
{
    if (n == 0) return 0;
    return range_blocks((range_t){0, n}, out);
}

size_t lx_merkle_plan_inclusion(uint64_t m, uint64_t n, lx_merkle_node_id_t *out)
{
    range_t ranges[WALK_MAX];
    if (m >= n) return 0;
    return plan_ranges(ranges, walk_inclusion(m, n, ranges), out);
}

size_t lx_merkle_plan_consistency(uint64_t m, uint64_t n, lx_merkle_node_id_t *out)
{
    range_t ranges[WALK_MAX];
    if (m == 0 || m > n) return 0;
    return plan_ranges(ranges, walk_consistency(m, n, ranges), out);
}

int lx_merkle_root(uint64_t n, lx_merkle_get_fn get, void *ctx, lx_hash_t *out)
{
    if (n == 0) return -1;
    return range_hash((range_t){0, n}, get, ctx, out);
}

int lx_merkle_inclusion(uint64_t m, uint64_t n, lx_merkle_get_fn get, void *ctx, lx_hash_t *path, size_t *len)
{
    range_t ranges[WALK_MAX];
    *len = 0;
    if (m >= n) return -1;
    return hash_ranges(ranges, walk_inclusion(m, n, ranges), get, ctx, path, len);
}

int lx_merkle_consistency(uint64_t m, uint64_t n, lx_merkle_get_fn get, void *ctx, lx_hash_t *path, size_t *len)
{
    range_t ranges[WALK_MAX];
    *len = 0;
    if (m == 0 || m > n) return -1;
    return hash_ranges(ranges, walk_consistency(m, n, ranges), get, ctx, path, len);
}

/* ---- verification (RFC 9162) ---- */

static int hash_equal(const lx_hash_t *a, const lx_hash_t *b)
{
    return sodium_memcmp(a->h, b->h, sizeof(a->h)) == 0;
}

/* §2.1.3.2; the numbered comments are the RFC's steps. */
int lx_merkle_verify_inclusion(uint64_t m, uint64_t n, const lx_hash_t *leaf, const lx_hash_t *path, size_t len,
                               const lx_hash_t *root)
{
    if (leaf == NULL || root == NULL || (path == NULL && len > 0)) return 0;
    if (len > LX_MERKLE_MAX_PATH) return 0; /* the loop below would fail anyway: sn reaches 0 within 64 hashes */
    if (m >= n) return 0;                   /* 1 */
    uint64_t fn = m, sn = n - 1;            /* 2 */
    lx_hash_t r = *leaf;                    /* 3 */
    for (size_t i = 0; i < len; i++) {      /* 4 */
        if (sn == 0) return 0;              /* a */
        if ((fn & 1) != 0 || fn == sn) {    /* b */
            lx_merkle_node_hash(&path[i], &r, &r);
            if ((fn & 1) == 0) {
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            lx_merkle_node_hash(&r, &path[i], &r);
        }
        fn >>= 1; /* c */
        sn >>= 1;
    }
    return sn == 0 && hash_equal(&r, root); /* 5 */
}

/* Element i of RFC 9162's consistency_path after step 2 (root_m prepended when `prepended`), without copying. */
static const lx_hash_t *consistency_elem(size_t i, size_t prepended, const lx_hash_t *root_m, const lx_hash_t *path)
{
    return i < prepended ? root_m : &path[i - prepended];
}

/* §2.1.4.2 for 0 < m < n; the numbered comments are the RFC's steps. The RFC leaves m == n out; PROOF(n, D[0:n]) is
 * empty (what lx_merkle_consistency returns), so that case holds exactly when the proof is empty and the two roots
 * are equal. */
int lx_merkle_verify_consistency(uint64_t m, uint64_t n, const lx_hash_t *root_m, const lx_hash_t *root_n, const lx_hash_t *path,
                                 size_t len)
{
    if (root_m == NULL || root_n == NULL || (path == NULL && len > 0)) return 0;
    if (len > LX_MERKLE_MAX_PATH) return 0; /* would fail in step 6a anyway; also keeps len + 1 from wrapping */
    if (m == 0 || m > n) return 0;
    if (m == n) return len == 0 && hash_equal(root_m, root_n);
    if (len == 0) return 0;                        /* 1 */
    size_t prepended = (m & (m - 1)) == 0 ? 1 : 0; /* 2 */
    size_t total = len + prepended;
    uint64_t fn = m - 1, sn = n - 1; /* 3 */
    while ((fn & 1) != 0) {          /* 4 */
        fn >>= 1;
        sn >>= 1;
    }
    lx_hash_t fr = *consistency_elem(0, prepended, root_m, path), sr = fr; /* 5 */
    for (size_t i = 1; i < total; i++) {                                   /* 6 */
        if (sn == 0) return 0;                                             /* a */
        const lx_hash_t *c = consistency_elem(i, prepended, root_m, path);
        if ((fn & 1) != 0 || fn == sn) { /* b */
            lx_merkle_node_hash(c, &fr, &fr);
            lx_merkle_node_hash(c, &sr, &sr);
            if ((fn & 1) == 0) {
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            lx_merkle_node_hash(&sr, c, &sr);
        }
        fn >>= 1; /* c */
        sn >>= 1;
    }
    return sn == 0 && hash_equal(&fr, root_m) && hash_equal(&sr, root_n); /* 7 */
}

/* ---- frontier ---- */

int lx_merkle_frontier_load(lx_merkle_frontier_t *f, uint64_t n, lx_merkle_get_fn get, void *ctx)
{
    lx_merkle_node_id_t ids[64];
    size_t count = lx_merkle_plan_root(n, ids);
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < count; i++) {
        const lx_hash_t *h = get(ctx, ids[i].level, ids[i].index);
        if (h == NULL) {
            memset(f, 0, sizeof(*f));
            return -1;
        }
        f->node[ids[i].level] = *h;
    }
    f->size = n;
    return 0;
}

void lx_merkle_frontier_append(lx_merkle_frontier_t *f, const lx_hash_t *leaf, lx_merkle_emit_fn emit, void *ctx)
{
    /* 2^64 - 1 leaves is the most a uint64_t size can count: another one is a programmer error, not an input error */
    if (f->size == UINT64_MAX) abort();
    uint64_t old = f->size;
    lx_hash_t h = *leaf; /* a copy: leaf may point into f->node */
    unsigned level = 0;
    if (emit != NULL) emit(ctx, 0, old, &h);
    /* each set low bit of the old size is a finished left sibling waiting for this right-hand neighbour */
    while ((old >> level) & 1) {
        lx_merkle_node_hash(&f->node[level], &h, &h);
        level++;
        if (emit != NULL) emit(ctx, level, old >> level, &h);
    }
    f->node[level] = h;
    f->size = old + 1;
}

void lx_merkle_frontier_root(const lx_merkle_frontier_t *f, lx_hash_t *out)
{
    if (f->size == 0) {
        lx_merkle_empty_root(out);
        return;
    }
    unsigned level = (unsigned)__builtin_ctzll(f->size);
    lx_hash_t root = f->node[level];
    for (level++; level < 64; level++) {
        if ((f->size >> level) & 1) lx_merkle_node_hash(&f->node[level], &root, &root);
    }
    *out = root;
}
