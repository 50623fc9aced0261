/*
 * Unit tests for src/billing/merkle.h.
 *
 * Everything is compared with a reference written straight from RFC 6962 §2.1
 * (recursive MTH, PATH, SUBPROOF over the leaf data, one-shot SHA-256 of the
 * concatenated bytes) that shares no code with merkle.c:
 *   - known answers: the Certificate Transparency test leaves (roots of sizes
 *     1..8, some inclusion and consistency proofs), re-derived independently
 *     with Python's hashlib before they were written down here;
 *   - every tree size 1..130 and every m: the node store built by appending
 *     through the frontier (each emitted node checked against the reference
 *     perfect subtree), roots, frontiers loaded back, inclusion and consistency
 *     proofs; every request a computation makes must be in its plan and every
 *     planned node must be requested; withholding any one planned node fails
 *     the computation;
 *   - every proof verifies; a flipped bit of a path hash, the leaf or a root
 *     (all 256 bits of every hash for n <= 16, 4 per hash above), a wrong m or
 *     n (with the true root of that size), a truncated or extended path, a
 *     hostile len, never verifies;
 *   - n = 2^20 + 7 with a real store, and sizes up to 2^64 - 1 over a tree of
 *     identical leaves (whose perfect nodes are one hash per level, so the
 *     reference stays cheap) for the 64-bit edges; random 64-bit (m, n) for the
 *     plan bounds.
 */
#include "billing/merkle.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define N_SMALL      130 /* tree sizes tested exhaustively */
#define N_STORE      131 /* leaves in the small store (one more, for the "wrong n" checks) */
#define LEVELS_SMALL 8

static unsigned long verifications; /* verifier calls, reported at the end */

/* ---- leaves ---- */

/* The leaves of the CT test vectors (Go/Python certificate-transparency code), then generated ones of varied length. */
static const struct {
    const char *data;
    size_t len;
} CT_LEAVES[8] = {
    {"", 0},
    {"\x00", 1},
    {"\x10", 1},
    {"\x20\x21", 2},
    {"\x30\x31", 2},
    {"\x40\x41\x42\x43", 4},
    {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
    {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};

/* Writes leaf i's data into buf (>= 80 bytes); returns its length. */
static size_t leaf_data(uint64_t i, uint8_t *buf)
{
    if (i < 8) {
        memcpy(buf, CT_LEAVES[i].data, CT_LEAVES[i].len);
        return CT_LEAVES[i].len;
    }
    size_t len = 8 + (size_t)(i * 7 % 72);
    for (size_t j = 0; j < 8; j++) buf[j] = (uint8_t)(i >> (8 * j));
    for (size_t j = 8; j < len; j++) buf[j] = (uint8_t)(i * 31 + j * 17);
    return len;
}

/* ---- the reference: RFC 6962 §2.1 as written ---- */

static void ref_sha256(const uint8_t *buf, size_t len, lx_hash_t *out)
{
    crypto_hash_sha256(out->h, buf, len);
}

static void ref_leaf(uint64_t i, lx_hash_t *out)
{
    uint8_t buf[1 + 80];
    buf[0] = 0x00;
    size_t len = leaf_data(i, buf + 1);
    ref_sha256(buf, 1 + len, out);
}

static void ref_node(const lx_hash_t *l, const lx_hash_t *r, lx_hash_t *out)
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, l->h, 32);
    memcpy(buf + 33, r->h, 32);
    ref_sha256(buf, sizeof(buf), out);
}

/* "the largest power of two smaller than n", by counting */
static uint64_t ref_k(uint64_t n)
{
    uint64_t k = 1;
    while (k < n - k) k *= 2; /* k * 2 < n without overflowing */
    return k;
}

/* A reference tree: MTH(D[lo:hi]) for 0 <= lo < hi. */
typedef struct ref_tree ref_tree_t;
struct ref_tree {
    void (*mth)(const ref_tree_t *t, uint64_t lo, uint64_t hi, lx_hash_t *out);
    const lx_hash_t *leaves; /* leaf hashes, for the data trees */
    lx_hash_t **perfect;     /* big tree only: perfect[L][i], built by the reference by hashing pairs level by level */
    lx_hash_t z[64];         /* identical-leaf tree: z[L] = MTH of 2^L leaves */
};

/* MTH over real leaves: recursion exactly as §2.1 (the leaf hashes are precomputed by ref_leaf). */
static void ref_mth_data(const ref_tree_t *t, uint64_t lo, uint64_t hi, lx_hash_t *out)
{
    uint64_t n = hi - lo;
    if (n == 1) {
        *out = t->leaves[lo];
        return;
    }
    if (t->perfect != NULL && (n & (n - 1)) == 0 && lo % n == 0) {
        unsigned level = 0;
        while ((UINT64_C(1) << level) != n) level++;
        *out = t->perfect[level][lo >> level];
        return;
    }
    uint64_t k = ref_k(n);
    lx_hash_t l, r;
    ref_mth_data(t, lo, lo + k, &l);
    ref_mth_data(t, lo + k, hi, &r);
    ref_node(&l, &r, out);
}

/* MTH over identical leaves: depends on the size only; the same recursion, cut short at powers of two. */
static void ref_mth_same(const ref_tree_t *t, uint64_t lo, uint64_t hi, lx_hash_t *out)
{
    uint64_t n = hi - lo;
    if ((n & (n - 1)) == 0) {
        unsigned level = 0;
        while ((UINT64_C(1) << level) != n) level++;
        *out = t->z[level];
        return;
    }
    uint64_t k = ref_k(n);
    lx_hash_t l, r;
    ref_mth_same(t, lo, lo + k, &l);
    ref_mth_same(t, lo + k, hi, &r);
    ref_node(&l, &r, out);
}

/* PATH(m, D[lo:hi]), m relative to lo */
static void ref_path(const ref_tree_t *t, uint64_t m, uint64_t lo, uint64_t hi, lx_hash_t *out, size_t *len)
{
    uint64_t n = hi - lo;
    if (n <= 1) return;
    uint64_t k = ref_k(n);
    if (m < k) {
        ref_path(t, m, lo, lo + k, out, len);
        t->mth(t, lo + k, hi, &out[(*len)++]);
    } else {
        ref_path(t, m - k, lo + k, hi, out, len);
        t->mth(t, lo, lo + k, &out[(*len)++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b), m relative to lo */
static void ref_subproof(const ref_tree_t *t, uint64_t m, uint64_t lo, uint64_t hi, int b, lx_hash_t *out, size_t *len)
{
    uint64_t n = hi - lo;
    if (m == n) {
        if (!b) t->mth(t, lo, hi, &out[(*len)++]);
        return;
    }
    uint64_t k = ref_k(n);
    if (m <= k) {
        ref_subproof(t, m, lo, lo + k, b, out, len);
        t->mth(t, lo + k, hi, &out[(*len)++]);
    } else {
        ref_subproof(t, m - k, lo + k, hi, 0, out, len);
        t->mth(t, lo, lo + k, &out[(*len)++]);
    }
}

static void ref_root(const ref_tree_t *t, uint64_t n, lx_hash_t *out)
{
    t->mth(t, 0, n, out);
}

/* ---- node sources and the recording get() ---- */

typedef const lx_hash_t *(*source_fn)(const void *src, unsigned level, uint64_t index);

#define MAX_REQ 8192

typedef struct {
    source_fn source;
    const void *src;
    uint64_t n;                      /* tree size of the computation: nodes beyond it do not exist yet */
    const lx_merkle_node_id_t *plan; /* NULL: accept anything (building the store) */
    size_t nplan;
    long withhold;                    /* index into plan of a node to answer NULL for, or -1 */
    lx_merkle_node_id_t req[MAX_REQ]; /* every request, in order */
    size_t nreq;
    unsigned long outside_plan, outside_tree;
} getter_t;

static const lx_hash_t *recording_get(void *ctx, unsigned level, uint64_t index)
{
    getter_t *g = ctx;
    if (g->nreq < MAX_REQ) g->req[g->nreq] = (lx_merkle_node_id_t){.level = (uint8_t)level, .index = index};
    g->nreq++;
    if (level >= 64 || index >= (g->n >> level)) {
        g->outside_tree++;
        return NULL;
    }
    if (g->plan != NULL) {
        long found = -1;
        for (size_t i = 0; i < g->nplan && found < 0; i++)
            if (g->plan[i].level == level && g->plan[i].index == index) found = (long)i;
        if (found < 0) {
            g->outside_plan++;
            return NULL;
        }
        if (g->withhold >= 0 && g->plan[g->withhold].level == level && g->plan[g->withhold].index == index) return NULL;
    }
    return g->source(g->src, level, index);
}

static void getter_init(getter_t *g, source_fn source, const void *src, uint64_t n, const lx_merkle_node_id_t *plan, size_t nplan)
{
    g->source = source;
    g->src = src;
    g->n = n;
    g->plan = plan;
    g->nplan = nplan;
    g->withhold = -1;
    g->nreq = 0;
    g->outside_plan = g->outside_tree = 0;
}

static int same_id(lx_merkle_node_id_t a, lx_merkle_node_id_t b)
{
    return a.level == b.level && a.index == b.index;
}

/* The requests are exactly the plan's nodes (as sets), and each planned node lies inside the tree, aligned. */
static void check_requests_match_plan(const getter_t *g)
{
    CHECK_EQ_INT(g->outside_plan, 0);
    CHECK_EQ_INT(g->outside_tree, 0);
    CHECK(g->nreq <= MAX_REQ);
    size_t unrequested = 0;
    for (size_t i = 0; i < g->nplan; i++) {
        int found = 0;
        for (size_t j = 0; j < g->nreq && j < MAX_REQ && !found; j++) found = same_id(g->plan[i], g->req[j]);
        unrequested += !found;
    }
    CHECK_EQ_INT(unrequested, 0);
    size_t outside = 0;
    for (size_t i = 0; i < g->nplan; i++) outside += g->plan[i].level >= 64 || g->plan[i].index >= (g->n >> g->plan[i].level);
    CHECK_EQ_INT(outside, 0);
}

static int hash_eq(const lx_hash_t *a, const lx_hash_t *b)
{
    return memcmp(a->h, b->h, 32) == 0;
}

static int paths_eq(const lx_hash_t *a, const lx_hash_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!hash_eq(&a[i], &b[i])) return 0;
    return 1;
}

/* ---- the small store: every perfect node of the first N_STORE leaves, as emitted by the frontier ---- */

static struct {
    lx_hash_t node[LEVELS_SMALL][N_STORE];
    int have[LEVELS_SMALL][N_STORE];
    unsigned long duplicates, out_of_range, bad_order;
    uint64_t expect_level, appending; /* the next emission must be (expect_level, appending >> expect_level) */
} store;

static lx_merkle_frontier_t frontiers[N_STORE + 1]; /* the frontier after n appends */
static lx_hash_t leaf_hashes[N_STORE];
static lx_hash_t small_roots[N_STORE + 1]; /* reference MTH of the first n leaves, n >= 1 */
static ref_tree_t small_ref;

static const lx_hash_t *small_source(const void *src, unsigned level, uint64_t index)
{
    (void)src;
    if (level >= LEVELS_SMALL || index >= N_STORE || !store.have[level][index]) return NULL;
    return &store.node[level][index];
}

static void small_emit(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h)
{
    (void)ctx;
    if (level != store.expect_level || index != (store.appending >> level)) store.bad_order++;
    store.expect_level = level + 1;
    if (level >= LEVELS_SMALL || index >= N_STORE) {
        store.out_of_range++;
        return;
    }
    if (store.have[level][index]) store.duplicates++;
    store.have[level][index] = 1;
    store.node[level][index] = *h;
}

static void test_build_small_store(void)
{
    CHECK_CTX("build store");
    for (uint64_t i = 0; i < N_STORE; i++) ref_leaf(i, &leaf_hashes[i]);
    small_ref.mth = ref_mth_data;
    small_ref.leaves = leaf_hashes;

    lx_merkle_frontier_t f;
    memset(&f, 0, sizeof(f));
    frontiers[0] = f;
    lx_hash_t empty, root;
    lx_merkle_empty_root(&empty);
    lx_merkle_frontier_root(&f, &root);
    CHECK(hash_eq(&root, &empty));
    unsigned long root_mismatch = 0, emitted_total = 0, wrong_count = 0;
    for (uint64_t i = 0; i < N_STORE; i++) {
        uint8_t buf[80];
        size_t len = leaf_data(i, buf);
        lx_hash_t leaf;
        lx_merkle_leaf_hash(buf, len, &leaf);
        CHECK(hash_eq(&leaf, &leaf_hashes[i]));
        store.expect_level = 0;
        store.appending = i;
        unsigned long before = 0;
        for (unsigned l = 0; l < LEVELS_SMALL; l++)
            for (uint64_t j = 0; j < N_STORE; j++) before += (unsigned long)store.have[l][j];
        lx_merkle_frontier_append(&f, &leaf, small_emit, NULL);
        unsigned long after = 0;
        for (unsigned l = 0; l < LEVELS_SMALL; l++)
            for (uint64_t j = 0; j < N_STORE; j++) after += (unsigned long)store.have[l][j];
        /* leaf i closes one node per trailing one bit of i, plus the leaf itself */
        unsigned long expect = 1;
        for (uint64_t b = i; b & 1; b >>= 1) expect++;
        wrong_count += after - before != expect;
        emitted_total = after;
        CHECK_EQ_INT(f.size, i + 1);
        frontiers[i + 1] = f;
        lx_hash_t want;
        ref_root(&small_ref, i + 1, &want);
        small_roots[i + 1] = want;
        lx_merkle_frontier_root(&f, &root);
        root_mismatch += !hash_eq(&root, &want);
    }
    CHECK_EQ_INT(root_mismatch, 0);
    CHECK_EQ_INT(wrong_count, 0);
    CHECK_EQ_INT(store.duplicates, 0);
    CHECK_EQ_INT(store.out_of_range, 0);
    CHECK_EQ_INT(store.bad_order, 0);

    /* exactly the perfect nodes of N_STORE leaves, each equal to the reference MTH of its range */
    unsigned long missing = 0, extra = 0, wrong = 0, total = 0;
    for (unsigned l = 0; l < LEVELS_SMALL; l++) {
        for (uint64_t j = 0; j < N_STORE; j++) {
            int perfect = ((j + 1) << l) <= N_STORE;
            if (perfect && !store.have[l][j]) missing++;
            if (!perfect && store.have[l][j]) extra++;
            if (perfect && store.have[l][j]) {
                lx_hash_t want;
                ref_mth_data(&small_ref, j << l, (j + 1) << l, &want);
                wrong += !hash_eq(&want, &store.node[l][j]);
                total++;
            }
        }
    }
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(extra, 0);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(total, emitted_total);
    CHECK_EQ_INT(total, 2 * N_STORE - 3); /* 131 leaves = 128 + 2 + 1: 255 + 3 + 1 perfect nodes */
}

/* ---- known answers (CT vectors; re-derived with Python hashlib, see the header comment) ---- */

static void from_hex(const char *hex, lx_hash_t *out)
{
    for (size_t i = 0; i < 32; i++) {
        unsigned v = 0;
        for (size_t j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
        }
        out->h[i] = (uint8_t)v;
    }
}

static const char *const CT_ROOTS[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static const struct {
    int consistency; /* 0: PATH(m, D[0:n]), 1: PROOF(m, D[0:n]) */
    uint64_t m, n;
    size_t len;
    const char *hash[4];
} CT_PROOFS[] = {
    {0,
     0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {0,
     5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {0, 2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {0,
     1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {1,
     1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {1,
     6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {1,
     2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {1,
     3,
     7,
     4,
     {"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
      "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"}},
    {1, 4, 7, 1, {"837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"}},
};

static void test_known_answers(void)
{
    lx_hash_t want, got;
    CHECK_CTX("known answers: empty root");
    from_hex(CT_ROOTS[0], &want);
    lx_merkle_empty_root(&got);
    CHECK(hash_eq(&got, &want));
    CHECK_CTX("known answers: leaf hash of the empty string");
    from_hex(CT_ROOTS[1], &want);
    lx_merkle_leaf_hash("", 0, &got);
    CHECK(hash_eq(&got, &want));
    lx_merkle_leaf_hash(NULL, 0, &got);
    CHECK(hash_eq(&got, &want));

    for (uint64_t n = 1; n <= 8; n++) {
        CHECK_CTX("known answers: root of %llu CT leaves", (unsigned long long)n);
        from_hex(CT_ROOTS[n], &want);
        lx_merkle_frontier_root(&frontiers[n], &got);
        CHECK(hash_eq(&got, &want));
        getter_t g;
        getter_init(&g, small_source, NULL, n, NULL, 0);
        CHECK_EQ_INT(lx_merkle_root(n, recording_get, &g, &got), 0);
        CHECK(hash_eq(&got, &want));
        ref_root(&small_ref, n, &got);
        CHECK(hash_eq(&got, &want)); /* the test's own reference agrees too */
    }

    for (size_t t = 0; t < sizeof(CT_PROOFS) / sizeof(CT_PROOFS[0]); t++) {
        uint64_t m = CT_PROOFS[t].m, n = CT_PROOFS[t].n;
        CHECK_CTX("known answers: %s(%llu, %llu)", CT_PROOFS[t].consistency ? "PROOF" : "PATH", (unsigned long long)m,
                  (unsigned long long)n);
        lx_hash_t expect[4], path[LX_MERKLE_MAX_PATH];
        for (size_t i = 0; i < CT_PROOFS[t].len; i++) from_hex(CT_PROOFS[t].hash[i], &expect[i]);
        getter_t g;
        getter_init(&g, small_source, NULL, n, NULL, 0);
        size_t len = 99;
        int rc = CT_PROOFS[t].consistency ? lx_merkle_consistency(m, n, recording_get, &g, path, &len)
                                          : lx_merkle_inclusion(m, n, recording_get, &g, path, &len);
        CHECK_EQ_INT(rc, 0);
        if (CHECK_EQ_INT(len, CT_PROOFS[t].len)) CHECK(paths_eq(path, expect, len));
        lx_hash_t root_n, root_m;
        from_hex(CT_ROOTS[n], &root_n);
        verifications++;
        if (CT_PROOFS[t].consistency) {
            from_hex(CT_ROOTS[m], &root_m);
            CHECK_EQ_INT(lx_merkle_verify_consistency(m, n, &root_m, &root_n, expect, CT_PROOFS[t].len), 1);
        } else {
            CHECK_EQ_INT(lx_merkle_verify_inclusion(m, n, &leaf_hashes[m], expect, CT_PROOFS[t].len, &root_n), 1);
        }
    }
}

/* ---- tampering ---- */

static void flip(lx_hash_t *h, unsigned bit)
{
    h->h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Trees up to this size get every one of the 256 bit flips of every hash; larger ones 4 per hash, one in each 64-bit
 * word at a position that moves with m, n and the hash's place in the path, so that over the run every bit position
 * is hit many times (all 256 flips everywhere would take minutes). */
#define TAMPER_ALL_BITS_N 16

static unsigned tamper_bits(uint64_t m, uint64_t n, unsigned *bits)
{
    unsigned count = 0;
    if (n <= TAMPER_ALL_BITS_N) {
        for (unsigned b = 0; b < 256; b++) bits[count++] = b;
    } else {
        for (unsigned w = 0; w < 4; w++) bits[count++] = w * 64 + (unsigned)((m * 7 + n * 13 + w * 5) % 64);
    }
    return count;
}

/* Single-bit changes of each path hash, the leaf and the root are all rejected. Returns the number accepted. */
static unsigned long tamper_inclusion(uint64_t m, uint64_t n, const lx_hash_t *leaf, const lx_hash_t *path, size_t len,
                                      const lx_hash_t *root)
{
    lx_hash_t p[LX_MERKLE_MAX_PATH], l = *leaf, r = *root;
    unsigned long accepted = 0;
    unsigned bits[256], nbits = tamper_bits(m, n, bits);
    memcpy(p, path, len * sizeof(*p));
    for (unsigned j = 0; j < nbits; j++) {
        unsigned bit = bits[j];
        for (size_t i = 0; i < len; i++) {
            unsigned b = (bit + 29 * (unsigned)i) % 256;
            flip(&p[i], b);
            accepted += (unsigned long)lx_merkle_verify_inclusion(m, n, &l, p, len, &r);
            flip(&p[i], b);
        }
        flip(&l, bit);
        accepted += (unsigned long)lx_merkle_verify_inclusion(m, n, &l, p, len, &r);
        flip(&l, bit);
        flip(&r, bit);
        accepted += (unsigned long)lx_merkle_verify_inclusion(m, n, &l, p, len, &r);
        flip(&r, bit);
        verifications += len + 2;
    }
    return accepted;
}

static unsigned long tamper_consistency(uint64_t m, uint64_t n, const lx_hash_t *root_m, const lx_hash_t *root_n,
                                        const lx_hash_t *path, size_t len)
{
    lx_hash_t p[LX_MERKLE_MAX_PATH], rm = *root_m, rn = *root_n;
    unsigned long accepted = 0;
    unsigned bits[256], nbits = tamper_bits(m, n, bits);
    memcpy(p, path, len * sizeof(*p));
    for (unsigned j = 0; j < nbits; j++) {
        unsigned bit = bits[j];
        for (size_t i = 0; i < len; i++) {
            unsigned b = (bit + 29 * (unsigned)i) % 256;
            flip(&p[i], b);
            accepted += (unsigned long)lx_merkle_verify_consistency(m, n, &rm, &rn, p, len);
            flip(&p[i], b);
        }
        flip(&rm, bit);
        accepted += (unsigned long)lx_merkle_verify_consistency(m, n, &rm, &rn, p, len);
        flip(&rm, bit);
        flip(&rn, bit);
        accepted += (unsigned long)lx_merkle_verify_consistency(m, n, &rm, &rn, p, len);
        flip(&rn, bit);
        verifications += len + 2;
    }
    return accepted;
}

/* ---- exhaustive small trees ---- */

typedef struct {
    unsigned long root_bad, incl_bad, cons_bad, verify_bad, tamper_accepted, wrong_accepted, withhold_bad, plan_bad;
} tally_t;

static void small_root(uint64_t n, tally_t *t)
{
    lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    static getter_t g;
    size_t nplan = lx_merkle_plan_root(n, plan);
    lx_hash_t want, got;
    want = small_roots[n];

    getter_init(&g, small_source, NULL, n, plan, nplan);
    int rc = lx_merkle_root(n, recording_get, &g, &got);
    t->root_bad += rc != 0 || !hash_eq(&got, &want);
    check_requests_match_plan(&g);
    /* for a power of two the root is the single perfect node (log2 n, 0) */
    if ((n & (n - 1)) == 0) t->plan_bad += nplan != 1 || plan[0].index != 0 || (UINT64_C(1) << plan[0].level) != n;
    t->plan_bad += nplan != (size_t)__builtin_popcountll(n);

    /* the frontier from the store equals the one built by appending, and continues correctly */
    lx_merkle_frontier_t f;
    getter_init(&g, small_source, NULL, n, plan, nplan);
    rc = lx_merkle_frontier_load(&f, n, recording_get, &g);
    t->root_bad += rc != 0 || f.size != n;
    check_requests_match_plan(&g);
    for (unsigned l = 0; l < 64; l++)
        if ((n >> l) & 1) t->root_bad += !hash_eq(&f.node[l], &frontiers[n].node[l]);
    lx_merkle_frontier_root(&f, &got);
    t->root_bad += !hash_eq(&got, &want);
    lx_merkle_frontier_append(&f, &leaf_hashes[n], NULL, NULL);
    lx_merkle_frontier_root(&f, &got);
    want = small_roots[n + 1];
    t->root_bad += !hash_eq(&got, &want);

    /* withholding any planned node fails the computation */
    for (size_t w = 0; w < nplan; w++) {
        getter_init(&g, small_source, NULL, n, plan, nplan);
        g.withhold = (long)w;
        t->withhold_bad += lx_merkle_root(n, recording_get, &g, &got) != -1;
        getter_init(&g, small_source, NULL, n, plan, nplan);
        g.withhold = (long)w;
        t->withhold_bad += lx_merkle_frontier_load(&f, n, recording_get, &g) != -1;
    }
}

static void small_inclusion(uint64_t m, uint64_t n, tally_t *t)
{
    lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    static getter_t g;
    lx_hash_t want[LX_MERKLE_MAX_PATH], path[LX_MERKLE_MAX_PATH + 1], root, root_other;
    size_t want_len = 0, len = 999;
    ref_path(&small_ref, m, 0, n, want, &want_len);
    root = small_roots[n];

    size_t nplan = lx_merkle_plan_inclusion(m, n, plan);
    getter_init(&g, small_source, NULL, n, plan, nplan);
    int rc = lx_merkle_inclusion(m, n, recording_get, &g, path, &len);
    check_requests_match_plan(&g);
    if (rc != 0 || len != want_len || !paths_eq(path, want, len)) {
        t->incl_bad++;
        return;
    }
    for (size_t w = 0; w < nplan; w++) {
        getter_init(&g, small_source, NULL, n, plan, nplan);
        g.withhold = (long)w;
        lx_hash_t scratch[LX_MERKLE_MAX_PATH];
        t->withhold_bad += lx_merkle_inclusion(m, n, recording_get, &g, scratch, &len) != -1 || len != 0;
    }
    len = want_len;

    const lx_hash_t *leaf = &leaf_hashes[m];
    verifications++;
    t->verify_bad += lx_merkle_verify_inclusion(m, n, leaf, path, len, &root) != 1;
    t->tamper_accepted += tamper_inclusion(m, n, leaf, path, len, &root);

    /* wrong m, n (each with its true root), truncated, shortened from the front, extended */
    unsigned long acc = 0;
    if (m > 0) acc += (unsigned long)lx_merkle_verify_inclusion(m - 1, n, leaf, path, len, &root);
    if (m + 1 < n) acc += (unsigned long)lx_merkle_verify_inclusion(m + 1, n, leaf, path, len, &root);
    acc += (unsigned long)lx_merkle_verify_inclusion(n, n, leaf, path, len, &root);
    acc += (unsigned long)lx_merkle_verify_inclusion(m, 0, leaf, path, len, &root);
    if (m < n - 1) {
        root_other = small_roots[n - 1];
        acc += (unsigned long)lx_merkle_verify_inclusion(m, n - 1, leaf, path, len, &root_other);
    }
    root_other = small_roots[n + 1];
    acc += (unsigned long)lx_merkle_verify_inclusion(m, n + 1, leaf, path, len, &root_other);
    if (len > 0) {
        acc += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, path, len - 1, &root);
        acc += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, path + 1, len - 1, &root);
    }
    path[len] = root; /* an extra hash: the root itself, or a copy of the last one */
    acc += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, path, len + 1, &root);
    if (len > 0) {
        path[len] = path[len - 1];
        acc += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, path, len + 1, &root);
    }
    /* a hostile len over an array of exactly len hashes: nothing past it is read (ASan); LX_MERKLE_MAX_PATH gets past
     * the early length cap, so there it is RFC 9162's step 4a that must stop the loop */
    lx_hash_t *exact = malloc((len > 0 ? len : 1) * sizeof(*exact));
    if (exact != NULL) {
        memcpy(exact, path, len * sizeof(*exact));
        acc += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, exact, SIZE_MAX, &root);
        acc += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, exact, LX_MERKLE_MAX_PATH, &root);
        acc += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, exact, len + 1000, &root);
        free(exact);
    }
    verifications += 13;
    t->wrong_accepted += acc;
}

static void small_consistency(uint64_t m, uint64_t n, tally_t *t)
{
    lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    static getter_t g;
    lx_hash_t want[LX_MERKLE_MAX_PATH], path[LX_MERKLE_MAX_PATH + 1], root_m, root_n, root_other;
    size_t want_len = 0, len = 999;
    ref_subproof(&small_ref, m, 0, n, 1, want, &want_len);
    root_m = small_roots[m];
    root_n = small_roots[n];

    size_t nplan = lx_merkle_plan_consistency(m, n, plan);
    getter_init(&g, small_source, NULL, n, plan, nplan);
    int rc = lx_merkle_consistency(m, n, recording_get, &g, path, &len);
    check_requests_match_plan(&g);
    if (rc != 0 || len != want_len || !paths_eq(path, want, len)) {
        t->cons_bad++;
        return;
    }
    t->cons_bad += (m == n) != (len == 0);
    for (size_t w = 0; w < nplan; w++) {
        getter_init(&g, small_source, NULL, n, plan, nplan);
        g.withhold = (long)w;
        lx_hash_t scratch[LX_MERKLE_MAX_PATH];
        t->withhold_bad += lx_merkle_consistency(m, n, recording_get, &g, scratch, &len) != -1 || len != 0;
    }
    len = want_len;

    verifications++;
    t->verify_bad += lx_merkle_verify_consistency(m, n, &root_m, &root_n, path, len) != 1;
    t->tamper_accepted += tamper_consistency(m, n, &root_m, &root_n, path, len);

    unsigned long acc = 0;
    if (m > 1) {
        root_other = small_roots[m - 1];
        acc += (unsigned long)lx_merkle_verify_consistency(m - 1, n, &root_other, &root_n, path, len);
        acc += (unsigned long)lx_merkle_verify_consistency(m - 1, n, &root_m, &root_n, path, len);
    }
    if (m < n) {
        root_other = small_roots[m + 1];
        acc += (unsigned long)lx_merkle_verify_consistency(m + 1, n, &root_other, &root_n, path, len);
        acc += (unsigned long)lx_merkle_verify_consistency(m + 1, n, &root_m, &root_n, path, len);
    }
    if (n - 1 > m) {
        root_other = small_roots[n - 1];
        acc += (unsigned long)lx_merkle_verify_consistency(m, n - 1, &root_m, &root_other, path, len);
    }
    root_other = small_roots[n + 1];
    acc += (unsigned long)lx_merkle_verify_consistency(m, n + 1, &root_m, &root_other, path, len);
    acc += (unsigned long)lx_merkle_verify_consistency(0, n, &root_m, &root_n, path, len);
    acc += (unsigned long)lx_merkle_verify_consistency(n + 1, n, &root_m, &root_n, path, len);
    acc += (unsigned long)lx_merkle_verify_consistency(m, 0, &root_m, &root_n, path, len);
    if (len > 0) {
        acc += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, path, len - 1);
        acc += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, path + 1, len - 1);
        path[len] = path[len - 1];
        acc += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, path, len + 1);
    }
    path[len] = root_m; /* what a prover might wrongly prepend */
    acc += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, path, len + 1);
    lx_hash_t *exact = malloc((len > 0 ? len : 1) * sizeof(*exact));
    if (exact != NULL) {
        memcpy(exact, path, len * sizeof(*exact));
        acc += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, exact, SIZE_MAX);
        acc += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, exact, LX_MERKLE_MAX_PATH);
        acc += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, exact, len + 1000);
        free(exact);
    }
    verifications += 16;
    t->wrong_accepted += acc;
}

static void test_small_trees(void)
{
    tally_t t;
    memset(&t, 0, sizeof(t));
    for (uint64_t n = 1; n <= N_SMALL; n++) {
        CHECK_CTX("n=%llu", (unsigned long long)n);
        small_root(n, &t);
        for (uint64_t m = 0; m < n; m++) small_inclusion(m, n, &t);
        for (uint64_t m = 1; m <= n; m++) small_consistency(m, n, &t);
    }
    CHECK_CTX("small trees, totals");
    CHECK_EQ_INT(t.root_bad, 0);
    CHECK_EQ_INT(t.plan_bad, 0);
    CHECK_EQ_INT(t.incl_bad, 0);
    CHECK_EQ_INT(t.cons_bad, 0);
    CHECK_EQ_INT(t.verify_bad, 0);
    CHECK_EQ_INT(t.tamper_accepted, 0);
    CHECK_EQ_INT(t.wrong_accepted, 0);
    CHECK_EQ_INT(t.withhold_bad, 0);
}

/* ---- invalid requests ---- */

static void test_invalid(void)
{
    CHECK_CTX("invalid requests");
    lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    lx_hash_t h, path[LX_MERKLE_MAX_PATH];
    size_t len = 7;
    static getter_t g;
    getter_init(&g, small_source, NULL, N_STORE, NULL, 0);

    CHECK_EQ_INT(lx_merkle_plan_root(0, plan), 0);
    CHECK_EQ_INT(lx_merkle_plan_inclusion(0, 0, plan), 0);
    CHECK_EQ_INT(lx_merkle_plan_inclusion(5, 5, plan), 0);
    CHECK_EQ_INT(lx_merkle_plan_inclusion(UINT64_MAX, 5, plan), 0);
    CHECK_EQ_INT(lx_merkle_plan_inclusion(0, 1, plan), 0); /* valid, but the path is empty */
    CHECK_EQ_INT(lx_merkle_plan_consistency(0, 5, plan), 0);
    CHECK_EQ_INT(lx_merkle_plan_consistency(6, 5, plan), 0);
    CHECK_EQ_INT(lx_merkle_plan_consistency(5, 5, plan), 0); /* valid, empty */

    CHECK_EQ_INT(lx_merkle_root(0, recording_get, &g, &h), -1);
    CHECK_EQ_INT(lx_merkle_inclusion(5, 5, recording_get, &g, path, &len), -1);
    CHECK_EQ_INT(len, 0);
    len = 7;
    CHECK_EQ_INT(lx_merkle_inclusion(0, 0, recording_get, &g, path, &len), -1);
    CHECK_EQ_INT(lx_merkle_consistency(0, 5, recording_get, &g, path, &len), -1);
    CHECK_EQ_INT(lx_merkle_consistency(6, 5, recording_get, &g, path, &len), -1);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_INT(g.nreq, 0);
    CHECK_EQ_INT(lx_merkle_consistency(5, 5, recording_get, &g, path, &len), 0);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_INT(lx_merkle_inclusion(0, 1, recording_get, &g, path, &len), 0);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_INT(g.nreq, 0);

    lx_merkle_frontier_t f;
    CHECK_EQ_INT(lx_merkle_frontier_load(&f, 0, recording_get, &g), 0);
    CHECK_EQ_INT(f.size, 0);
    lx_hash_t empty;
    lx_merkle_empty_root(&empty);
    lx_merkle_frontier_root(&f, &h);
    CHECK(hash_eq(&h, &empty));

    /* verifiers on nonsense: never crash, never accept */
    lx_hash_t root, leaf = leaf_hashes[0];
    root = small_roots[1];
    memset(path, 0, sizeof(path));
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, 1, &leaf, NULL, 0, &root), 1); /* the one-leaf tree */
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, 1, &leaf, path, 1, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, 0, &leaf, NULL, 0, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(1, 1, &leaf, NULL, 0, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(UINT64_MAX, UINT64_MAX, &leaf, NULL, 0, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, 1, NULL, NULL, 0, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, 1, &leaf, NULL, 0, NULL), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, 2, &leaf, NULL, 3, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, UINT64_MAX, &leaf, NULL, 0, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(0, UINT64_MAX, &leaf, path, LX_MERKLE_MAX_PATH, &root), 0);
    CHECK_EQ_INT(lx_merkle_verify_inclusion(UINT64_MAX - 1, UINT64_MAX, &leaf, path, 64, &root), 0);

    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 1, &root, &root, NULL, 0), 1); /* m == n: empty proof, equal roots */
    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 1, &root, &empty, NULL, 0), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 1, &root, &root, path, 1), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(0, 0, &root, &root, NULL, 0), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(0, 1, &empty, &root, NULL, 0), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(2, 1, &root, &root, NULL, 0), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 2, &root, &root, NULL, 0), 0); /* RFC 9162 step 1 */
    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 2, NULL, &root, path, 1), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 2, &root, NULL, path, 1), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 2, &root, &root, NULL, 1), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(3, UINT64_MAX, &root, &root, path, LX_MERKLE_MAX_PATH), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(UINT64_MAX - 1, UINT64_MAX, &root, &root, path, 64), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(UINT64_MAX, UINT64_MAX, &root, &root, path, SIZE_MAX), 0);
    CHECK_EQ_INT(lx_merkle_verify_consistency(1, 2, &root, &root, path, SIZE_MAX), 0);

    /* a store that has nothing */
    getter_init(&g, small_source, NULL, 0, NULL, 0); /* n = 0: every request is outside the tree, answered NULL */
    CHECK_EQ_INT(lx_merkle_root(5, recording_get, &g, &h), -1);
    CHECK_EQ_INT(lx_merkle_frontier_load(&f, 5, recording_get, &g), -1);
    CHECK_EQ_INT(lx_merkle_inclusion(1, 5, recording_get, &g, path, &len), -1);
    CHECK_EQ_INT(lx_merkle_consistency(3, 5, recording_get, &g, path, &len), -1);
}

/* ---- a large real tree: n = 2^20 + 7 ----
 *
 * The reference builds every perfect node itself, pairwise level by level (a different algorithm from the frontier),
 * and its MTH uses them for perfect aligned ranges, which keeps reference proofs cheap. Every node the frontier
 * emits is compared with that table as it is emitted, and the computations then read the (identical) table. */

typedef struct {
    lx_hash_t **level;
    uint64_t n;
    unsigned long emitted[64], bad;
} big_store_t;

static const lx_hash_t *big_source(const void *src, unsigned level, uint64_t index)
{
    const big_store_t *s = src;
    if (level >= 64 || s->level[level] == NULL || index >= (s->n >> level)) return NULL;
    return &s->level[level][index];
}

static void big_emit(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h)
{
    big_store_t *s = ctx;
    if (level >= 64 || s->level[level] == NULL || index >= (s->n >> level) || !hash_eq(h, &s->level[level][index])) {
        s->bad++;
        return;
    }
    s->emitted[level]++;
}

/* Computes a proof, checks requests against the plan, the reference (when given) and the verifier, with a sample
 * of tampering. */
static void big_check(const ref_tree_t *ref, int with_ref, int consistency, uint64_t m, uint64_t n, source_fn source,
                      const void *src, const lx_hash_t *leaf)
{
    CHECK_CTX("%s(%llu, %llu)", consistency ? "consistency" : "inclusion", (unsigned long long)m, (unsigned long long)n);
    lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    static getter_t g;
    lx_hash_t path[LX_MERKLE_MAX_PATH], want[LX_MERKLE_MAX_PATH], root_n, root_m;
    size_t len = 999, want_len = 0;
    size_t nplan = consistency ? lx_merkle_plan_consistency(m, n, plan) : lx_merkle_plan_inclusion(m, n, plan);
    CHECK(nplan <= LX_MERKLE_MAX_PLAN);
    getter_init(&g, source, src, n, plan, nplan);
    int rc = consistency ? lx_merkle_consistency(m, n, recording_get, &g, path, &len)
                         : lx_merkle_inclusion(m, n, recording_get, &g, path, &len);
    if (!CHECK_EQ_INT(rc, 0)) return;
    CHECK(len <= LX_MERKLE_MAX_PATH);
    check_requests_match_plan(&g);

    ref_root(ref, n, &root_n);
    if (consistency) ref_root(ref, m, &root_m);
    if (with_ref) {
        if (consistency)
            ref_subproof(ref, m, 0, n, 1, want, &want_len);
        else
            ref_path(ref, m, 0, n, want, &want_len);
        if (CHECK_EQ_INT(len, want_len)) CHECK(paths_eq(path, want, len));
    }
    unsigned long accepted = 0;
    if (consistency) {
        CHECK_EQ_INT(lx_merkle_verify_consistency(m, n, &root_m, &root_n, path, len), 1);
        for (size_t i = 0; i < len; i++) {
            path[i].h[i % 32] ^= 0x10;
            accepted += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, path, len);
            path[i].h[i % 32] ^= 0x10;
        }
        if (len > 0) accepted += (unsigned long)lx_merkle_verify_consistency(m, n, &root_m, &root_n, path, len - 1);
        if (m > 1) accepted += (unsigned long)lx_merkle_verify_consistency(m - 1, n, &root_m, &root_n, path, len);
    } else {
        CHECK_EQ_INT(lx_merkle_verify_inclusion(m, n, leaf, path, len, &root_n), 1);
        for (size_t i = 0; i < len; i++) {
            path[i].h[i % 32] ^= 0x10;
            accepted += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, path, len, &root_n);
            path[i].h[i % 32] ^= 0x10;
        }
        if (len > 0) accepted += (unsigned long)lx_merkle_verify_inclusion(m, n, leaf, path, len - 1, &root_n);
    }
    verifications += len + 4;
    CHECK_EQ_INT(accepted, 0);
}

static void test_big_tree(void)
{
    const uint64_t n = (UINT64_C(1) << 20) + 7;
    CHECK_CTX("big tree n=%llu", (unsigned long long)n);
    static lx_hash_t *levels[64];
    big_store_t s;
    memset(&s, 0, sizeof(s));
    s.n = n;
    s.level = levels;
    int ok = 1;
    for (unsigned l = 0; l < 64 && (n >> l) > 0; l++) ok &= (levels[l] = malloc((n >> l) * sizeof(lx_hash_t))) != NULL;
    if (!CHECK(ok)) goto out;

    /* the reference's leaves and perfect nodes */
    for (uint64_t i = 0; i < n; i++) ref_leaf(i, &levels[0][i]);
    for (unsigned l = 1; l < 64 && (n >> l) > 0; l++)
        for (uint64_t i = 0; i < (n >> l); i++) ref_node(&levels[l - 1][2 * i], &levels[l - 1][2 * i + 1], &levels[l][i]);
    ref_tree_t ref;
    memset(&ref, 0, sizeof(ref));
    ref.mth = ref_mth_data;
    ref.leaves = levels[0];
    ref.perfect = levels;

    /* appending through the frontier emits exactly these nodes, each once */
    lx_merkle_frontier_t f;
    memset(&f, 0, sizeof(f));
    unsigned long root_mismatch = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t buf[80];
        size_t len = leaf_data(i, buf);
        lx_hash_t leaf;
        lx_merkle_leaf_hash(buf, len, &leaf);
        lx_merkle_frontier_append(&f, &leaf, big_emit, &s);
        if ((i & 0xffff) == 0 || i + 2 >= n) { /* the running root now and then */
            lx_hash_t want, got;
            ref_root(&ref, i + 1, &want);
            lx_merkle_frontier_root(&f, &got);
            root_mismatch += !hash_eq(&got, &want);
        }
    }
    CHECK_EQ_INT(s.bad, 0);
    CHECK_EQ_INT(root_mismatch, 0);
    for (unsigned l = 0; l < 64; l++) CHECK_EQ_INT(s.emitted[l], n >> l);

    lx_hash_t want, got;
    ref_root(&ref, n, &want);
    lx_merkle_frontier_root(&f, &got);
    CHECK(hash_eq(&got, &want));
    lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
    static getter_t g;
    size_t nplan = lx_merkle_plan_root(n, plan);
    getter_init(&g, big_source, &s, n, plan, nplan);
    CHECK_EQ_INT(lx_merkle_root(n, recording_get, &g, &got), 0);
    CHECK(hash_eq(&got, &want));
    check_requests_match_plan(&g);
    lx_merkle_frontier_t loaded;
    getter_init(&g, big_source, &s, n, plan, nplan);
    CHECK_EQ_INT(lx_merkle_frontier_load(&loaded, n, recording_get, &g), 0);
    CHECK(loaded.size == n);
    unsigned long frontier_bad = 0;
    for (unsigned l = 0; l < 64; l++)
        if ((n >> l) & 1) frontier_bad += !hash_eq(&loaded.node[l], &f.node[l]);
    CHECK_EQ_INT(frontier_bad, 0);
    lx_merkle_frontier_root(&loaded, &got);
    CHECK(hash_eq(&got, &want));

    /* edges around the powers of two and the end, and a pseudo-random sample */
    uint64_t ms[64 + 40];
    size_t count = 0;
    const uint64_t fixed[] = {0,
                              1,
                              2,
                              3,
                              12345,
                              UINT64_C(1) << 19,
                              (UINT64_C(1) << 19) + 1,
                              (UINT64_C(1) << 20) - 2,
                              (UINT64_C(1) << 20) - 1,
                              UINT64_C(1) << 20,
                              (UINT64_C(1) << 20) + 1,
                              (UINT64_C(1) << 20) + 3,
                              (UINT64_C(1) << 20) + 4,
                              n - 3,
                              n - 2,
                              n - 1};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) ms[count++] = fixed[i];
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < 64; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ms[count++] = x % n;
    }
    for (size_t i = 0; i < count; i++) {
        big_check(&ref, 1, 0, ms[i], n, big_source, &s, &levels[0][ms[i]]);
        big_check(&ref, 1, 1, ms[i] + 1, n, big_source, &s, NULL);
    }

out:
    for (unsigned l = 0; l < 64; l++) free(levels[l]);
}

/* ---- 64-bit sizes over identical leaves ---- */

static ref_tree_t same_ref;

static const lx_hash_t *same_source(const void *src, unsigned level, uint64_t index)
{
    (void)src;
    (void)index;
    return level < 64 ? &same_ref.z[level] : NULL;
}

static unsigned long same_bad_emit;

static void same_emit(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h)
{
    const uint64_t *old = ctx;
    if (level >= 64 || index != (*old >> level) || !hash_eq(h, &same_ref.z[level])) same_bad_emit++;
}

static void test_huge_sizes(void)
{
    same_ref.mth = ref_mth_same;
    ref_leaf(3, &same_ref.z[0]);
    for (unsigned l = 1; l < 64; l++) ref_node(&same_ref.z[l - 1], &same_ref.z[l - 1], &same_ref.z[l]);

    const uint64_t top = UINT64_C(1) << 63;
    const uint64_t sizes[] = {UINT64_MAX,
                              UINT64_MAX - 1,
                              top + 1,
                              top,
                              top - 1,
                              (UINT64_C(1) << 32) + 1,
                              (UINT64_C(3) << 40) + 5,
                              UINT64_C(0xaaaaaaaaaaaaaaaa),
                              UINT64_C(0x5555555555555555)};
    size_t max_plan = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint64_t n = sizes[s];
        CHECK_CTX("huge n=%llu", (unsigned long long)n);
        lx_hash_t want, got;
        ref_root(&same_ref, n, &want);
        lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
        static getter_t g;
        size_t nplan = lx_merkle_plan_root(n, plan);
        getter_init(&g, same_source, NULL, n, plan, nplan);
        CHECK_EQ_INT(lx_merkle_root(n, recording_get, &g, &got), 0);
        CHECK(hash_eq(&got, &want));
        check_requests_match_plan(&g);
        lx_merkle_frontier_t f;
        getter_init(&g, same_source, NULL, n, plan, nplan);
        CHECK_EQ_INT(lx_merkle_frontier_load(&f, n, recording_get, &g), 0);
        lx_merkle_frontier_root(&f, &got);
        CHECK(hash_eq(&got, &want));

        const uint64_t ms[] = {0, 1, 2, 3, n / 2, n / 3, n - 1, n - 2, n - 3, (n / 2) | 1, top - 1, top, top + 1};
        for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
            uint64_t m = ms[i];
            if (m < n) {
                big_check(&same_ref, 1, 0, m, n, same_source, NULL, &same_ref.z[0]);
                size_t k = lx_merkle_plan_inclusion(m, n, plan);
                if (k > max_plan) max_plan = k;
            }
            if (m < n) {
                big_check(&same_ref, 1, 1, m + 1, n, same_source, NULL, NULL);
                size_t k = lx_merkle_plan_consistency(m + 1, n, plan);
                if (k > max_plan) max_plan = k;
            }
        }
    }
    /* random 64-bit sizes: plan lengths (a left turn on the right edge leaves it for good, so at most one sibling is
     * not a single perfect node: a plan has at most about 2 * 64 nodes, well inside LX_MERKLE_MAX_PLAN) */
    uint64_t x = 0x2545f4914f6cdd1du;
    for (unsigned i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t n = x >> (x % 64);
        if (n < 2) continue;
        uint64_t m = (x * 0x9e3779b97f4a7c15u) % n;
        lx_merkle_node_id_t plan[LX_MERKLE_MAX_PLAN];
        size_t k = lx_merkle_plan_inclusion(m, n, plan);
        if (k > max_plan) max_plan = k;
        k = lx_merkle_plan_consistency(m + 1, n, plan);
        if (k > max_plan) max_plan = k;
        if (i % 5000 == 0) {
            big_check(&same_ref, 1, 0, m, n, same_source, NULL, &same_ref.z[0]);
            big_check(&same_ref, 1, 1, m + 1, n, same_source, NULL, NULL);
        }
    }
    CHECK_CTX("huge sizes: plan bound");
    CHECK(max_plan <= 2 * 64);
    printf("longest plan seen: %zu nodes\n", max_plan);

    /* appending the leaf that completes a 2^63 tree closes 64 nodes, levels 0..63 */
    CHECK_CTX("append at 2^63 - 1");
    lx_merkle_frontier_t f;
    static getter_t g;
    getter_init(&g, same_source, NULL, top - 1, NULL, 0);
    CHECK_EQ_INT(lx_merkle_frontier_load(&f, top - 1, recording_get, &g), 0);
    CHECK_EQ_INT(g.nreq, 63);
    uint64_t old = top - 1;
    lx_merkle_frontier_append(&f, &same_ref.z[0], same_emit, &old);
    CHECK_EQ_INT(same_bad_emit, 0);
    CHECK(f.size == top);
    lx_hash_t got;
    lx_merkle_frontier_root(&f, &got);
    CHECK(hash_eq(&got, &same_ref.z[63]));
    old = top;
    lx_merkle_frontier_append(&f, &same_ref.z[0], same_emit, &old);
    CHECK_EQ_INT(same_bad_emit, 0);
    lx_hash_t want;
    ref_root(&same_ref, top + 1, &want);
    lx_merkle_frontier_root(&f, &got);
    CHECK(hash_eq(&got, &want));
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    test_build_small_store();
    test_known_answers();
    test_invalid();
    test_small_trees();
    test_big_tree();
    test_huge_sizes();
    CHECK_CTX("%s", "");
    printf("%lu verifications\n", verifications);
    return check_summary();
}
