/*
 * The offline verifier (verify.h). Why it is shaped this way:
 *
 * - One pass per line, as strict as lx_json_parse (RFC 8259 syntax, UTF-8,
 *   no NUL, duplicate members refused, a depth cap) and stricter about shape:
 *   export, head and log lines are scanned in place against their fixed
 *   members (unknown or missing members fail, never "the parts we
 *   understood"); only the receipt object becomes a Jansson tree (built by
 *   util/json_scan.h: Jansson's own parser was a third of a line's time), handed
 *   to the shared checks of billing/receipt.h, so `leadx verify`, the audit
 *   and the server agree on what a valid receipt is.
 * - Ed25519 dominates the cost. A tree head is verified once: heads are
 *   cached by signature and a later copy must match the cached one member for
 *   member (an export proves its receipts against one or a few heads). With
 *   the keyring hook of billing/receipt.h (lx_pubkey_t.prepared) each key
 *   verifies through util/ed25519.h, about 3 times libsodium's speed.
 * - Proofs against one head share their upper nodes, so node hashes are
 *   memoised (keyed by the whole pair: a hit is exact, a tampered hash is a
 *   miss and is computed).
 * - Log entries must come in order from index 0, so the log is an array of
 *   leaf hashes whose size the input bounds (no index from the file ever
 *   sizes an allocation), and every head's root is recomputed in one pass with
 *   a Merkle frontier over the sorted head sizes.
 * - Sales are counted per (lead_digest, mode, share_index) from the log's
 *   entries: a sale gives two receipts (buyer, webmaster) and so two entries,
 *   a refund two more; unrefunded sales = ceil((#sale - #refund) / 2) (the
 *   ceiling covers a log that ends between the two entries of one sale).
 * - The first failure is final and names file, line and JSON Pointer.
 */
#include "verify.h"
#include "billing/merkle.h"
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/canon.h"
#include "util/ed25519.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_DEPTH_MAX  8
#define LINE_MAX_BYTES  ((size_t)1 << 20)
#define KEYS_MAX_BYTES  ((size_t)16 << 20)
#define SHARE_INDEX_MAX 1000000

enum { K_DEPOSIT, K_SALE, K_REFUND, K_SETTLEMENT, K_PAYOUT, K_WITHDRAWAL, K__COUNT };
static const char *const kind_names[] = {"deposit", "sale", "refund", "settlement", "payout", "withdrawal", NULL};
enum { M_EXCLUSIVE, M_SHARED };
static const char *const mode_names[] = {"exclusive", "shared", NULL};

/* ---- a small open-addressing map with fixed-size keys and values ---- */

typedef struct {
    uint8_t *slots; /* cap * esize: [uint64 hash, 0 = empty][uint8 klen][key: ksize][value: vsize] */
    size_t cap, n, ksize, vsize, voff, esize;
} map_t;

static void map_init(map_t *m, size_t ksize, size_t vsize)
{
    m->slots = NULL;
    m->cap = m->n = 0;
    m->ksize = ksize;
    m->vsize = vsize;
    m->voff = (8 + 1 + ksize + 7) & ~(size_t)7; /* values 8-byte aligned */
    m->esize = (m->voff + vsize + 7) & ~(size_t)7;
}

static void map_free(map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    h ^= h >> 29;
    return h | 1; /* never 0: 0 marks an empty slot */
}

#define SLOT_HASH(m, s) (*(uint64_t *)(s))
#define SLOT_KLEN(m, s) ((s)[8])
#define SLOT_KEY(m, s)  ((char *)(s) + 9)
#define SLOT_VAL(m, s)  ((void *)((s) + (m)->voff))

static void map_grow(map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    uint8_t *ns = lx_calloc(ncap, m->esize);
    for (size_t i = 0; i < m->cap; i++) {
        uint8_t *s = m->slots + i * m->esize;
        uint64_t h = SLOT_HASH(m, s);
        if (h == 0) continue;
        size_t j = h & (ncap - 1);
        while (*(uint64_t *)(ns + j * m->esize) != 0) j = (j + 1) & (ncap - 1);
        memcpy(ns + j * m->esize, s, m->esize);
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
}

/* The value of `key`, or NULL; with `create`, a zeroed new value (*created = 1). Pointers die at the next insert. */
static void *map_get(map_t *m, const void *key, size_t klen, int create, int *created)
{
    if (created != NULL) *created = 0;
    if (klen > m->ksize) return NULL;
    if (create && (m->n + 1) * 2 > m->cap) map_grow(m);
    if (m->cap == 0) return NULL;
    uint64_t h = hash_bytes(key, klen);
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        uint8_t *s = m->slots + j * m->esize;
        uint64_t sh = SLOT_HASH(m, s);
        if (sh == 0) {
            if (!create) return NULL;
            *(uint64_t *)s = h;
            SLOT_KLEN(m, s) = (uint8_t)klen;
            memcpy(SLOT_KEY(m, s), key, klen);
            m->n++;
            if (created != NULL) *created = 1;
            return SLOT_VAL(m, s);
        }
        if (sh == h && SLOT_KLEN(m, s) == klen && memcmp(SLOT_KEY(m, s), key, klen) == 0) return SLOT_VAL(m, s);
    }
}

/* ---- state ---- */

typedef struct {
    uint8_t input; /* lx_verify_input_t */
    size_t line;
} origin_t;

typedef struct { /* heads by signature */
    uint64_t tree_size;
    char root_hash[LX_HASH_B64_LEN + 1];
    char timestamp[40];
    char key_id[LX_KEY_ID_LEN + 1];
    uint8_t in_heads_input;
    uint8_t root[32];
} head_rec_t;

typedef struct { /* roots by tree size */
    uint8_t root[32];
    origin_t origin;
} size_rec_t;

typedef struct { /* per (lead_digest, mode, share_index), from the log */
    uint64_t sales, refunds;
    uint64_t first_sale[2]; /* log indexes, for messages */
} count_rec_t;

typedef struct { /* per lead_digest, built at finish */
    uint64_t exclusive, shared;
    uint32_t slots; /* shared slots with an unrefunded sale */
    uint8_t own;    /* a receipt of the input names it */
} digest_rec_t;

typedef struct { /* per account and currency, from the receipts */
    int64_t total[K__COUNT];
    uint64_t count[K__COUNT];
} stmt_rec_t;

typedef struct {
    size_t line;
} seen_rec_t;

#define MEMO_SIZE 16384 /* node hashes remembered (direct-mapped) */
typedef struct {
    lx_hash_t left, right, parent;
    int used;
} memo_t;

struct st_lx_verify_t {
    char *names[LX_VERIFY__INPUTS];
    int given[LX_VERIFY__INPUTS];
    int have_keys;
    lx_keyring_t ring;
    size_t retired_keys;
    char failure[2048];
    lx_status_t failed;
    int finished;
    /* heads */
    map_t heads; /* signature -> head_rec_t */
    map_t sizes; /* uint64 tree_size -> size_rec_t */
    uint64_t heads_lines, head_sigs_checked, max_tree_size;
    /* log */
    lx_hash_t *leaves;
    uint64_t nleaves, leaves_cap;
    map_t counts; /* digest(43) mode(1) share_index(4) -> count_rec_t, of the entries a signed head covers */
    map_t hashes; /* receipt_hash(43) -> seen_rec_t (its log index): an honest log holds a receipt once */
    uint64_t log_kinds[K__COUNT], log_uncovered;
    /* receipts */
    map_t ids;     /* receipt id -> seen_rec_t */
    map_t stmts;   /* account(36) currency(3) -> stmt_rec_t */
    map_t own;     /* lead_digest -> seen_rec_t */
    map_t digests; /* lead_digest -> digest_rec_t, from the log at finish */
    uint64_t receipts, kinds[K__COUNT], proven, unsequenced, bare;
    uint64_t heads_checked_against_log, log_sizes_checked;
    lx_strbuf_t scratch;
    memo_t *memo; /* allocated at the first proof */
};

lx_verify_t *lx_verify_new(void)
{
    lx_verify_t *v = lx_calloc(1, sizeof(*v));
    map_init(&v->heads, LX_SIG_B64_LEN, sizeof(head_rec_t));
    map_init(&v->sizes, 8, sizeof(size_rec_t));
    map_init(&v->counts, LX_HASH_B64_LEN + 5, sizeof(count_rec_t));
    map_init(&v->hashes, LX_HASH_B64_LEN, sizeof(seen_rec_t));
    map_init(&v->ids, 64, sizeof(seen_rec_t));
    map_init(&v->stmts, 64 + 8, sizeof(stmt_rec_t));
    map_init(&v->own, LX_HASH_B64_LEN, sizeof(seen_rec_t));
    map_init(&v->digests, LX_HASH_B64_LEN, sizeof(digest_rec_t));
    lx_strbuf_init(&v->scratch, 1 << 16);
    return v;
}

void lx_verify_free(lx_verify_t *v)
{
    if (v == NULL) return;
    for (int i = 0; i < LX_VERIFY__INPUTS; i++) free(v->names[i]);
    if (v->have_keys) {
#ifdef LX_PUBKEY_PREPARED
        for (size_t i = 0; i < v->ring.n; i++) lx_ed25519_key_free(v->ring.keys[i].prepared);
#endif
        lx_keyring_free(&v->ring);
    }
    map_free(&v->heads);
    map_free(&v->sizes);
    map_free(&v->counts);
    map_free(&v->hashes);
    map_free(&v->ids);
    map_free(&v->stmts);
    map_free(&v->own);
    map_free(&v->digests);
    free(v->leaves);
    lx_strbuf_free(&v->scratch);
    free(v->memo);
    free(v);
}

static const char *const default_names[] = {"keys", "heads", "log", "receipts"};

static const char *input_name(const lx_verify_t *v, int input)
{
    return v->names[input] != NULL ? v->names[input] : default_names[input];
}

void lx_verify_source(lx_verify_t *v, lx_verify_input_t input, const char *name)
{
    free(v->names[input]);
    v->names[input] = lx_strdup(name);
    v->given[input] = 1;
}

const char *lx_verify_failure(const lx_verify_t *v)
{
    return v->failure;
}

/* Records the first failure: "<input>:<line>: <field>: <message>" (line 0: no line; field "" or NULL: none). */
static lx_status_t __attribute__((format(printf, 6, 7)))
fail(lx_verify_t *v, lx_error_t *err, int input, size_t line, const char *field, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v->failed == LX_OK) {
        char where[64] = "";
        if (line > 0) snprintf(where, sizeof(where), ":%zu", line);
        snprintf(v->failure, sizeof(v->failure), "%s%s: %s%s%s", input_name(v, input), where,
                 field != NULL && field[0] != '\0' ? field : "", field != NULL && field[0] != '\0' ? ": " : "", msg);
        v->failed = LX_ERR_VALIDATION;
    }
    lx_error_init(err);
    lx_error_field(err, field != NULL ? field : "", "%s", msg);
    return lx_error_set(err, LX_ERR_VALIDATION, "%s", v->failure);
}

/* A failure reported by a shared checker into `e` (its first field, or its detail). */
static lx_status_t fail_from(lx_verify_t *v, lx_error_t *err, int input, size_t line, const lx_error_t *e)
{
    if (e->nfields > 0) return fail(v, err, input, line, e->fields[0].field, "%s", e->fields[0].message);
    return fail(v, err, input, line, NULL, "%s", e->detail[0] ? e->detail : "invalid");
}

static lx_status_t failed_already(lx_verify_t *v, lx_error_t *err)
{
    lx_error_init(err);
    lx_error_field(err, "", "%s", v->failure);
    return lx_error_set(err, v->failed, "%s", v->failure);
}

/* ---- keys ---- */

lx_status_t lx_verify_keys(lx_verify_t *v, const char *doc, size_t len, lx_error_t *err)
{
    if (v->failed) return failed_already(v, err);
    if (v->have_keys) return fail(v, err, LX_VERIFY_KEYS, 0, NULL, "keys given twice");
    lx_error_t e;
    lx_error_init(&e);
    if (lx_keyring_parse(doc, len, &v->ring, &e) != LX_OK) return fail_from(v, err, LX_VERIFY_KEYS, 0, &e);
    v->have_keys = 1;
#ifdef LX_PUBKEY_PREPARED
    /* Ed25519 is most of the cost: each key gets its fixed-base table once (util/ed25519.h, libsodium's answers) */
    for (size_t i = 0; i < v->ring.n; i++) v->ring.keys[i].prepared = lx_ed25519_key_new(v->ring.keys[i].pk);
#endif
    if (v->ring.n == 0) return fail(v, err, LX_VERIFY_KEYS, 0, "/keys", "lists no key");
    for (size_t i = 0; i < v->ring.n; i++) v->retired_keys += v->ring.keys[i].not_after_us != INT64_MAX;
    return LX_OK;
}

static int enum_index(const char *s, const char *const names[])
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* ---- the line scanner ----
 *
 * Export, head and log lines have a fixed shape, so they are scanned in place against that shape instead of being
 * built into a Jansson tree (which costs most of a line's time besides Ed25519), with util/json_scan.h, the scanner
 * lx_json_parse is built on: RFC 8259 syntax, UTF-8 validated, no NUL (\u0000), no duplicate members, nothing after
 * the value. The receipt object is built into a Jansson tree by lx_json_scan_value (lx_json_parse's rules) for
 * lx_receipt_verify, and a tree head seen for the first time goes through lx_json_parse itself, as its exact bytes, to
 * lx_tree_head_verify. */

#define STR_MAX 128 /* the longest string member value the scanner keeps (hashes, ids, timestamps are shorter) */

typedef lx_json_scan_t scan_t;

/* One object of known members: calls member(i) with s->p at member i's value, which it must consume. Unknown and
 * duplicate members fail. *seen gets a bit per member found. */
typedef int (*member_fn)(scan_t *s, int i, const char *where, void *ctx);

static int scan_object(scan_t *s, const char *base, const char *const names[], int n, unsigned *seen, member_fn fn, void *ctx)
{
    *seen = 0;
    lx_json_scan_space(s);
    if (s->p >= s->end || *s->p != '{') return lx_json_scan_fail(s, base, 0, "must be an object");
    s->p++;
    lx_json_scan_space(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    while (1) {
        char key[64];
        size_t klen;
        lx_json_scan_space(s);
        if (lx_json_scan_string(s, base, key, sizeof(key), &klen) != 0) return -1;
        char where[LX_JSON_POINTER_MAX];
        lx_json_pointer_n(where, base, klen < sizeof(key) ? key : "(a long name)", klen < sizeof(key) ? klen : 13);
        int i = -1;
        if (klen < sizeof(key) && strlen(key) == klen)
            for (int k = 0; k < n && i < 0; k++)
                if (strcmp(key, names[k]) == 0) i = k;
        if (i < 0) return lx_json_scan_fail(s, where, 0, "is not a member of this object");
        if (*seen & (1u << i)) return lx_json_scan_fail(s, where, 0, "duplicate member");
        *seen |= 1u << i;
        lx_json_scan_space(s);
        if (s->p >= s->end || *s->p != ':') return lx_json_scan_fail(s, where, 1, "':' was expected");
        s->p++;
        lx_json_scan_space(s);
        if (fn(s, i, where, ctx) != 0) return -1;
        int more = lx_json_scan_next(s, base, '}');
        if (more <= 0) return more;
    }
}

static int required(scan_t *s, const char *base, const char *const names[], int n, unsigned seen)
{
    for (int i = 0; i < n; i++) {
        if (seen & (1u << i)) continue;
        char where[LX_JSON_POINTER_MAX];
        lx_json_pointer(where, base, names[i]);
        return lx_json_scan_fail(s, where, 0, "is required");
    }
    return 0;
}

/* A string member kept in `out` (STR_MAX), or null when nullable (*is_null). */
static int str_member(scan_t *s, const char *where, char out[STR_MAX], int nullable, int *is_null)
{
    if (is_null != NULL) *is_null = 0;
    if (nullable && lx_json_scan_literal(s, "null")) {
        *is_null = 1;
        out[0] = '\0';
        return 0;
    }
    if (s->p >= s->end || *s->p != '"')
        return lx_json_scan_skip(s, where, 0) != 0
                   ? -1
                   : lx_json_scan_fail(s, where, 0, nullable ? "must be a string or null" : "must be a string");
    size_t len;
    if (lx_json_scan_string(s, where, out, STR_MAX, &len) != 0) return -1;
    if (len >= STR_MAX || strlen(out) != len) return lx_json_scan_fail(s, where, 0, "is not a value this member can have");
    return 0;
}

/* A non-negative integer member below 2^53, or null when nullable. */
static int uint_member(scan_t *s, const char *where, uint64_t *out, int nullable, int *is_null)
{
    if (is_null != NULL) *is_null = 0;
    if (nullable && lx_json_scan_literal(s, "null")) {
        *is_null = 1;
        return 0;
    }
    if (s->p < s->end && (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))) {
        int64_t v;
        if (lx_json_scan_number(s, where, &v) < 0) return -1;
        if (v < 0 || v > LX_CANON_MAX_SAFE_INT) return lx_json_scan_fail(s, where, 0, "must be an integer from 0 to 2^53 - 1");
        *out = (uint64_t)v;
        return 0;
    }
    if (lx_json_scan_skip(s, where, 0) != 0) return -1;
    return lx_json_scan_fail(s, where, 0, nullable ? "must be an integer or null" : "must be an integer");
}

/* lx_b64url_decode_exact for a 32-byte hash (43 characters), by table: the same strict rules (the URL-safe alphabet
 * only, exact length, the last character's 2 unused bits zero), for the hashes every line carries by the dozen
 * (libsodium's constant-time decoder is built for secrets, and was a tenth of a line's time). The unit test compares
 * the two. */
static int b64_hash(const char *s, size_t len, uint8_t out[32])
{
    /* the URL-safe alphabet's values, -1 elsewhere */
    static const int8_t val[256] = {
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
        -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
        22, 23, 24, 25, -1, -1, -1, -1, 63, -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
        45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    };
    if (len != LX_HASH_B64_LEN) return -1;
    const unsigned char *u = (const unsigned char *)s;
    int bad = 0;
    for (int g = 0; g < 10; g++) { /* 40 characters: 30 bytes */
        int a = val[u[4 * g]], b = val[u[4 * g + 1]], c = val[u[4 * g + 2]], d = val[u[4 * g + 3]];
        bad |= a | b | c | d;
        uint32_t w = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 | (uint32_t)(c & 63) << 6 | (uint32_t)(d & 63);
        out[3 * g] = (uint8_t)(w >> 16), out[3 * g + 1] = (uint8_t)(w >> 8), out[3 * g + 2] = (uint8_t)w;
    }
    int a = val[u[40]], b = val[u[41]], c = val[u[42]]; /* 18 bits: 2 bytes and 2 unused bits */
    bad |= a | b | c;
    if (bad < 0 || (c & 3) != 0) return -1;
    uint32_t w = (uint32_t)a << 12 | (uint32_t)b << 6 | (uint32_t)c;
    out[30] = (uint8_t)(w >> 10), out[31] = (uint8_t)(w >> 2);
    return 0;
}

/* ---- log entries ---- */

typedef struct {
    int kind;
    char receipt_hash[STR_MAX];
    char lead_digest[STR_MAX];
    int has_digest;
    int mode;        /* -1 for null */
    int share_index; /* -1 for null */
} entry_t;

static const char *const entry_names[] = {"kind", "receipt_hash", "lead_digest", "mode", "share_index"};

typedef struct {
    entry_t *e;
    char kind[STR_MAX], mode[STR_MAX];
    int digest_null, mode_null, index_null;
    uint64_t share_index;
} entry_scan_t;

static int entry_member(scan_t *s, int i, const char *where, void *ctx)
{
    entry_scan_t *x = ctx;
    switch (i) {
    case 0:
        return str_member(s, where, x->kind, 0, NULL);
    case 1:
        return str_member(s, where, x->e->receipt_hash, 0, NULL);
    case 2:
        return str_member(s, where, x->e->lead_digest, 1, &x->digest_null);
    case 3:
        return str_member(s, where, x->mode, 1, &x->mode_null);
    default:
        return uint_member(s, where, &x->share_index, 1, &x->index_null);
    }
}

/* An entry object at s->p: exactly its five members, of the value space of its kind. */
static int scan_entry(scan_t *s, const char *base, entry_t *e)
{
    entry_scan_t x;
    memset(&x, 0, sizeof(x));
    x.e = e;
    unsigned seen;
    if (scan_object(s, base, entry_names, 5, &seen, entry_member, &x) != 0 || required(s, base, entry_names, 5, seen) != 0)
        return -1;
    char p[LX_JSON_POINTER_MAX];
    uint8_t raw[32];
    e->kind = enum_index(x.kind, kind_names);
    if (e->kind < 0) {
        lx_json_pointer(p, base, "kind");
        return lx_json_scan_fail(s, p, 0, "must be one of deposit, sale, refund, settlement, payout, withdrawal");
    }
    if (b64_hash(e->receipt_hash, strlen(e->receipt_hash), raw) != 0) {
        lx_json_pointer(p, base, "receipt_hash");
        return lx_json_scan_fail(s, p, 0, "must be a SHA-256 hash in unpadded base64url");
    }
    int lead = e->kind == K_SALE || e->kind == K_REFUND;
    if (lead ? x.digest_null || b64_hash(e->lead_digest, strlen(e->lead_digest), raw) != 0 : !x.digest_null) {
        lx_json_pointer(p, base, "lead_digest");
        return lx_json_scan_fail(s, p, 0, lead ? "must be a lead digest (32 bytes, unpadded base64url)" : "must be null");
    }
    e->has_digest = lead;
    e->mode = lead && !x.mode_null ? enum_index(x.mode, mode_names) : -1;
    if (lead ? e->mode < 0 : !x.mode_null) {
        lx_json_pointer(p, base, "mode");
        return lx_json_scan_fail(s, p, 0, lead ? "must be exclusive or shared" : "must be null");
    }
    if (lead ? x.index_null || x.share_index > SHARE_INDEX_MAX : !x.index_null) {
        lx_json_pointer(p, base, "share_index");
        return lx_json_scan_fail(s, p, 0, lead ? "must be an integer from 0 to 1000000" : "must be null");
    }
    e->share_index = lead ? (int)x.share_index : -1;
    return 0;
}

static void entry_canon(const entry_t *e, lx_strbuf_t *out)
{
    lx_strbuf_reset(out);
    lx_log_entry_canon(kind_names[e->kind], e->receipt_hash, e->has_digest ? e->lead_digest : NULL,
                       e->mode >= 0 ? mode_names[e->mode] : NULL, e->share_index, out);
}

/* The scanner's failure as the verifier's. */
static lx_status_t fail_scan(lx_verify_t *v, lx_error_t *err, int input, size_t line, const scan_t *s)
{
    if (s->msg == NULL) return fail(v, err, input, line, NULL, "not valid JSON"); /* not reached: every path says why */
    if (s->syntax) return fail(v, err, input, line, s->where[0] ? s->where : NULL, "not valid JSON: %s", s->msg);
    return fail(v, err, input, line, s->where, "%s", s->msg);
}

/* After the value: only whitespace. */
typedef struct {
    uint64_t index;
    int has_index;
    entry_t entry;
    int has_entry;
    entry_scan_t bare;
    unsigned bare_seen;
} log_scan_t;

static const char *const log_names[] = {"log_index", "entry", "kind", "receipt_hash", "lead_digest", "mode", "share_index"};

static int log_member(scan_t *s, int i, const char *where, void *ctx)
{
    log_scan_t *x = ctx;
    if (i == 0) {
        x->has_index = 1;
        return uint_member(s, where, &x->index, 0, NULL);
    }
    if (i == 1) {
        x->has_entry = 1;
        return scan_entry(s, where, &x->entry);
    }
    return entry_member(s, i - 2, where, &x->bare);
}

static lx_status_t log_line(lx_verify_t *v, size_t line, scan_t *s, lx_error_t *err)
{
    log_scan_t x;
    memset(&x, 0, sizeof(x));
    x.bare.e = &x.entry;
    unsigned seen;
    const char *begin = s->p;
    if (scan_object(s, "", log_names, 7, &seen, log_member, &x) != 0 || lx_json_scan_end(s) != 0)
        return fail_scan(v, err, LX_VERIFY_LOG, line, s);
    if (seen & 3) { /* {"log_index", "entry"} */
        if (required(s, "", log_names, 2, seen) != 0 || (seen & ~3u) != 0) {
            if (s->msg == NULL) lx_json_scan_fail(s, "", 0, "must be {\"log_index\", \"entry\"} or an entry");
            return fail_scan(v, err, LX_VERIFY_LOG, line, s);
        }
    } else { /* a bare entry: scanned again as one, for its checks */
        s->p = begin;
        if (scan_entry(s, "", &x.entry) != 0) return fail_scan(v, err, LX_VERIFY_LOG, line, s);
        x.index = v->nleaves;
    }
    if (x.index != v->nleaves)
        return fail(v, err, LX_VERIFY_LOG, line, (seen & 3) ? "/log_index" : NULL,
                    "log_index %" PRIu64 " where %" PRIu64 " was expected (entries must be contiguous from 0, in order)", x.index,
                    v->nleaves);
    const entry_t *e = &x.entry;
    entry_canon(e, &v->scratch);
    if (v->nleaves == v->leaves_cap) {
        v->leaves_cap = v->leaves_cap ? v->leaves_cap * 2 : 1024;
        v->leaves = lx_realloc(v->leaves, v->leaves_cap * sizeof(lx_hash_t));
    }
    lx_merkle_leaf_hash(v->scratch.base, v->scratch.len, &v->leaves[v->nleaves++]);
    v->log_kinds[e->kind]++;
    int first;
    seen_rec_t *held = map_get(&v->hashes, e->receipt_hash, LX_HASH_B64_LEN, 1, &first);
    if (!first)
        return fail(v, err, LX_VERIFY_LOG, line, (seen & 3) ? "/entry/receipt_hash" : "/receipt_hash",
                    "receipt_hash %.*s is in the log twice (log indexes %zu and %" PRIu64
                    "): an honest log holds each receipt once",
                    LX_HASH_B64_LEN, e->receipt_hash, held->line, x.index);
    held->line = (size_t)x.index;
    /* Only entries a signed head covers are evidence (the heads input is read before the log): one beyond the newest
     * head is signed by nobody, and a refund there could hide a second sale. */
    if (x.index >= v->max_tree_size) {
        v->log_uncovered++;
        return LX_OK;
    }
    if (e->has_digest) {
        char key[LX_HASH_B64_LEN + 5];
        memcpy(key, e->lead_digest, LX_HASH_B64_LEN);
        key[LX_HASH_B64_LEN] = (char)e->mode;
        memcpy(key + LX_HASH_B64_LEN + 1, &e->share_index, 4);
        count_rec_t *c = map_get(&v->counts, key, sizeof(key), 1, NULL);
        if (e->kind == K_SALE) {
            if (c->sales < 2) c->first_sale[c->sales] = x.index;
            c->sales++;
        } else {
            c->refunds++;
        }
    }
    return LX_OK;
}

/* ---- heads ---- */

static const char *const head_names[] = {"tree_size", "root_hash", "timestamp", "key_id", "signature"};

typedef struct {
    uint64_t tree_size;
    char root_hash[STR_MAX], timestamp[STR_MAX], key_id[STR_MAX], signature[STR_MAX];
} head_scan_t;

static int head_member(scan_t *s, int i, const char *where, void *ctx)
{
    head_scan_t *h = ctx;
    switch (i) {
    case 0:
        return uint_member(s, where, &h->tree_size, 0, NULL);
    case 1:
        return str_member(s, where, h->root_hash, 0, NULL);
    case 2:
        return str_member(s, where, h->timestamp, 0, NULL);
    case 3:
        return str_member(s, where, h->key_id, 0, NULL);
    default:
        return str_member(s, where, h->signature, 0, NULL);
    }
}

/*
 * A tree head object at s->p: verified (its exact bytes through lx_json_parse and lx_tree_head_verify) unless the
 * same head, member for member, was verified before; then its root is registered for its size (equal sizes, equal
 * roots).
 */
static lx_status_t check_head(lx_verify_t *v, lx_error_t *err, int input, size_t line, scan_t *s, const char *base, head_rec_t *out)
{
    head_scan_t hs;
    memset(&hs, 0, sizeof(hs));
    unsigned seen;
    lx_json_scan_space(s);
    const char *begin = s->p;
    if (scan_object(s, base, head_names, 5, &seen, head_member, &hs) != 0 || required(s, base, head_names, 5, seen) != 0)
        return fail_scan(v, err, input, line, s);
    head_rec_t *h = NULL, rec;
    if (strlen(hs.signature) == LX_SIG_B64_LEN) {
        h = map_get(&v->heads, hs.signature, LX_SIG_B64_LEN, 0, NULL);
        if (h != NULL && (h->tree_size != hs.tree_size || strcmp(h->root_hash, hs.root_hash) != 0 ||
                          strcmp(h->timestamp, hs.timestamp) != 0 || strcmp(h->key_id, hs.key_id) != 0))
            h = NULL; /* not the same head: verify it in full (and fail there) */
    }
    if (h == NULL) {
        lx_error_t e;
        lx_error_init(&e);
        json_t *doc = lx_json_parse(begin, (size_t)(s->p - begin), JSON_DEPTH_MAX, &e);
        if (doc == NULL) return fail_from(v, err, input, line, &e);
        lx_tree_head_t th;
        lx_status_t st = lx_tree_head_verify(doc, base, &v->ring, &th, &e);
        json_decref(doc);
        if (st != LX_OK) return fail_from(v, err, input, line, &e);
        v->head_sigs_checked++;
        memset(&rec, 0, sizeof(rec));
        rec.tree_size = th.tree_size;
        memcpy(rec.root, th.root, 32);
        lx_b64url_encode(th.root, 32, rec.root_hash);
        lx_str_copy(rec.timestamp, sizeof(rec.timestamp), th.timestamp);
        memcpy(rec.key_id, th.key_id, sizeof(rec.key_id));
        int cache = strlen(hs.signature) == LX_SIG_B64_LEN;
        if (cache) *(head_rec_t *)map_get(&v->heads, hs.signature, LX_SIG_B64_LEN, 1, NULL) = rec;
        int created_size;
        size_rec_t *sz = map_get(&v->sizes, &th.tree_size, 8, 1, &created_size);
        if (created_size) {
            memcpy(sz->root, th.root, 32);
            sz->origin.input = (uint8_t)input;
            sz->origin.line = line;
        } else if (sodium_memcmp(sz->root, th.root, 32) != 0) {
            char other[600];
            snprintf(other, sizeof(other), "%s:%zu", input_name(v, sz->origin.input), sz->origin.line);
            char p[LX_JSON_POINTER_MAX];
            lx_json_pointer(p, base, "root_hash");
            return fail(v, err, input, line, p,
                        "a signed head of tree size %" PRIu64 " with another root than the head of the same size at %s "
                        "(the log forked)",
                        th.tree_size, other);
        }
        if (th.tree_size > v->max_tree_size) v->max_tree_size = th.tree_size;
        if (input == LX_VERIFY_HEADS) rec.in_heads_input = 1;
        h = cache ? map_get(&v->heads, hs.signature, LX_SIG_B64_LEN, 0, NULL) : &rec;
    }
    if (input == LX_VERIFY_HEADS) h->in_heads_input = 1;
    *out = *h;
    return LX_OK;
}

/* ---- inclusion proofs ---- */

/* lx_merkle_node_hash, memoised: proofs against one head share their upper nodes, so most node hashes of an export
 * repeat. A direct-mapped cache keyed by the whole (left, right) pair (a pure function: a hit is exact). */
static void node_hash(lx_verify_t *v, const lx_hash_t *l, const lx_hash_t *r, lx_hash_t *out)
{
    if (v->memo == NULL) v->memo = lx_calloc(MEMO_SIZE, sizeof(memo_t));
    uint32_t a, b;
    memcpy(&a, l->h, 4);
    memcpy(&b, r->h, 4);
    memo_t *m = &v->memo[(a ^ (b * 0x9e3779b1u)) & (MEMO_SIZE - 1)];
    if (m->used && memcmp(m->left.h, l->h, 32) == 0 && memcmp(m->right.h, r->h, 32) == 0) {
        *out = m->parent;
        return;
    }
    lx_hash_t lc = *l, rc = *r;
    lx_merkle_node_hash(&lc, &rc, out);
    m->left = lc;
    m->right = rc;
    m->parent = *out;
    m->used = 1;
}

/* RFC 9162 §2.1.3.2, as lx_merkle_verify_inclusion (the unit test compares the two), with the memoised node hash. */
static int verify_inclusion(lx_verify_t *v, uint64_t m, uint64_t n, const lx_hash_t *leaf, const lx_hash_t *path, size_t len,
                            const uint8_t root[32])
{
    if (len > LX_MERKLE_MAX_PATH || m >= n) return 0;
    uint64_t fn = m, sn = n - 1;
    lx_hash_t r = *leaf;
    for (size_t i = 0; i < len; i++) {
        if (sn == 0) return 0;
        if ((fn & 1) != 0 || fn == sn) {
            node_hash(v, &path[i], &r, &r);
            if ((fn & 1) == 0) {
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            node_hash(v, &r, &path[i], &r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(r.h, root, 32) == 0;
}

/* ---- receipts ---- */

static const char *const export_names[] = {"receipt", "entry", "log_index", "inclusion_proof", "head"};
static const char *const proof_names[] = {"log_index", "tree_size", "hashes"};

typedef struct {
    json_t *receipt; /* owned */
    entry_t entry;
    int entry_null, index_null, proof_null, head_null;
    uint64_t index;
    uint64_t pindex, psize;
    lx_hash_t path[LX_MERKLE_MAX_PATH];
    size_t npath;
    const char *head_begin, *head_end;
    head_rec_t head;
} export_scan_t;

static int proof_member(scan_t *s, int i, const char *where, void *ctx)
{
    export_scan_t *x = ctx;
    if (i == 0) return uint_member(s, where, &x->pindex, 0, NULL);
    if (i == 1) return uint_member(s, where, &x->psize, 0, NULL);
    if (s->p >= s->end || *s->p != '[')
        return lx_json_scan_skip(s, where, 0) != 0 ? -1 : lx_json_scan_fail(s, where, 0, "must be an array of hashes");
    s->p++;
    lx_json_scan_space(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    while (1) {
        char p[LX_JSON_POINTER_MAX], h[STR_MAX];
        if (x->npath >= LX_MERKLE_MAX_PATH) return lx_json_scan_fail(s, where, 0, "holds too many hashes");
        lx_json_scan_space(s);
        size_t hlen;
        if (s->p >= s->end || *s->p != '"' || lx_json_scan_string(s, where, h, sizeof(h), &hlen) != 0 || hlen >= sizeof(h) ||
            b64_hash(h, hlen, x->path[x->npath].h) != 0) {
            snprintf(p, sizeof(p), "%.*s/%zu", LX_JSON_POINTER_MAX - 24, where, x->npath);
            if (s->msg != NULL && s->syntax) return -1;
            s->msg = NULL;
            return lx_json_scan_fail(s, p, 0, "must be a SHA-256 hash in unpadded base64url");
        }
        x->npath++;
        int more = lx_json_scan_next(s, where, ']');
        if (more <= 0) return more;
    }
}

static int export_member(scan_t *s, int i, const char *where, void *ctx)
{
    export_scan_t *x = ctx;
    unsigned seen;
    switch (i) {
    case 0:
        x->receipt = lx_json_scan_value(s, "/receipt", JSON_DEPTH_MAX);
        return x->receipt != NULL ? 0 : -1;
    case 1:
        if (lx_json_scan_literal(s, "null")) {
            x->entry_null = 1;
            return 0;
        }
        return scan_entry(s, where, &x->entry);
    case 2:
        return uint_member(s, where, &x->index, 1, &x->index_null);
    case 3:
        if (lx_json_scan_literal(s, "null")) {
            x->proof_null = 1;
            return 0;
        }
        if (scan_object(s, where, proof_names, 3, &seen, proof_member, x) != 0) return -1;
        return required(s, where, proof_names, 3, seen);
    default:
        if (lx_json_scan_literal(s, "null")) {
            x->head_null = 1;
            return 0;
        }
        x->head_begin = s->p; /* checked after the receipt */
        if (lx_json_scan_skip(s, where, 1) != 0) return -1;
        x->head_end = s->p;
        return 0;
    }
}

static lx_status_t receipt_line(lx_verify_t *v, size_t line, const char *text, size_t len, lx_error_t *err)
{
    const int in = LX_VERIFY_RECEIPTS;
    scan_t s;
    lx_json_scan_init(&s, text, len);
    export_scan_t xs, *x = &xs;
    memset(x, 0, offsetof(export_scan_t, path));
    x->npath = 0;
    memset(&x->head, 0, sizeof(x->head));
    /* a bare receipt object: its first member is one of the receipt's */
    lx_json_scan_space(&s);
    int bare = 0;
    if (s.p < s.end && *s.p == '{') {
        scan_t peek = s;
        peek.p++;
        lx_json_scan_space(&peek);
        char key[16];
        size_t klen;
        if (lx_json_scan_string(&peek, "", key, sizeof(key), &klen) == 0)
            bare = strcmp(key, "body") == 0 || strcmp(key, "key_id") == 0 || strcmp(key, "signature") == 0;
    }
    const char *rbase = bare ? "" : "/receipt";
    unsigned seen = 0;
    if (bare) {
        x->receipt = lx_json_scan_value(&s, "", JSON_DEPTH_MAX);
        v->bare++;
    }
    if (bare ? x->receipt == NULL || lx_json_scan_end(&s) != 0
             : scan_object(&s, "", export_names, 5, &seen, export_member, x) != 0 || required(&s, "", export_names, 5, seen) != 0 ||
                   lx_json_scan_end(&s) != 0) {
        json_decref(x->receipt);
        return fail_scan(v, err, in, line, &s);
    }
    lx_error_t e;
    lx_error_init(&e);
    json_t *doc = x->receipt; /* built while scanning: one pass over the line */
    lx_receipt_view_t view;
    memset(&view, 0, sizeof(view));
    lx_status_t st = lx_receipt_verify(doc, rbase, &v->ring, &view, &e);
    json_decref(doc); /* the view holds its own reference */
    if (st != LX_OK) {
        lx_receipt_view_clear(&view);
        return fail_from(v, err, in, line, &e);
    }
    /* one receipt once */
    int created;
    seen_rec_t *dup = map_get(&v->ids, view.id, strlen(view.id), 1, &created);
    if (dup == NULL) {
        st = fail(v, err, in, line, bare ? "/body/id" : "/receipt/body/id", "is too long");
        goto out;
    }
    if (!created) {
        st = fail(v, err, in, line, bare ? "/body/id" : "/receipt/body/id", "receipt %s also on line %zu", view.id, dup->line);
        goto out;
    }
    dup->line = line;
    if (!bare) {
        /* the entry is the one the receipt makes */
        if (!x->entry_null) {
            entry_canon(&x->entry, &v->scratch);
            if (v->scratch.len != view.entry_len || memcmp(v->scratch.base, view.entry_canon, view.entry_len) != 0) {
                st = fail(v, err, in, line, "/entry", "is not the log entry of this receipt (expected %.*s)", (int)view.entry_len,
                          view.entry_canon);
                goto out;
            }
        }
        if (x->index_null) {
            if (!x->proof_null || !x->head_null) {
                st = fail(v, err, in, line, x->proof_null ? "/head" : "/inclusion_proof", "must be null when log_index is null");
                goto out;
            }
            v->unsequenced++;
        } else {
            if (x->entry_null || x->proof_null || x->head_null) {
                st = fail(v, err, in, line,
                          x->entry_null   ? "/entry"
                          : x->proof_null ? "/inclusion_proof"
                                          : "/head",
                          "must not be null when log_index is set");
                goto out;
            }
            scan_t hs;
            lx_json_scan_init(&hs, x->head_begin, (size_t)(x->head_end - x->head_begin));
            if (check_head(v, err, in, line, &hs, "/head", &x->head) != LX_OK) {
                st = err->status;
                goto out;
            }
            if (x->pindex != x->index) {
                st = fail(v, err, in, line, "/inclusion_proof/log_index", "must equal /log_index");
                goto out;
            }
            if (x->psize <= x->index) {
                st = fail(v, err, in, line, "/inclusion_proof/tree_size", "must be above /log_index");
                goto out;
            }
            if (v->given[LX_VERIFY_HEADS] && !x->head.in_heads_input) {
                st = fail(v, err, in, line, "/head", "is not one of the heads in %s", input_name(v, LX_VERIFY_HEADS));
                goto out;
            }
            if (x->head.tree_size != x->psize) {
                st = fail(v, err, in, line, "/inclusion_proof/tree_size", "must equal /head/tree_size");
                goto out;
            }
            lx_hash_t leaf;
            lx_merkle_leaf_hash(view.entry_canon, view.entry_len, &leaf);
            if (!verify_inclusion(v, x->index, x->psize, &leaf, x->path, x->npath, x->head.root)) {
                st = fail(v, err, in, line, "/inclusion_proof",
                          "does not prove the entry at log_index %" PRIu64 " in the head's tree of size %" PRIu64, x->index,
                          x->psize);
                goto out;
            }
            if (v->given[LX_VERIFY_LOG]) {
                if (x->index >= v->nleaves) {
                    st = fail(v, err, in, line, "/log_index", "%" PRIu64 " is beyond %s (%" PRIu64 " entries)", x->index,
                              input_name(v, LX_VERIFY_LOG), v->nleaves);
                    goto out;
                }
                if (sodium_memcmp(v->leaves[x->index].h, leaf.h, 32) != 0) {
                    st = fail(v, err, in, line, "/entry", "differs from the entry at log_index %" PRIu64 " in %s", x->index,
                              input_name(v, LX_VERIFY_LOG));
                    goto out;
                }
            }
            v->proven++;
        }
    }
    /* the statement */
    int kind = enum_index(view.kind, kind_names);
    if (kind < 0) {
        st = fail(v, err, in, line, bare ? "/body/kind" : "/receipt/body/kind", "unknown kind");
        goto out;
    }
    v->receipts++;
    v->kinds[kind]++;
    char skey[64 + 8];
    size_t alen = strlen(view.account), clen = strlen(view.currency);
    if (alen > 60 || clen > 8) {
        st = fail(v, err, in, line, bare ? "/body/account" : "/receipt/body/account", "is too long");
        goto out;
    }
    memcpy(skey, view.account, alen);
    skey[alen] = ' ';
    memcpy(skey + alen + 1, view.currency, clen);
    stmt_rec_t *sr = map_get(&v->stmts, skey, alen + 1 + clen, 1, NULL);
    if (__builtin_add_overflow(sr->total[kind], view.amount, &sr->total[kind])) {
        st =
            fail(v, err, in, line, bare ? "/body/amount" : "/receipt/body/amount", "the statement's %s total overflows", view.kind);
        goto out;
    }
    sr->count[kind]++;
    if (view.lead_digest != NULL && strlen(view.lead_digest) == LX_HASH_B64_LEN) {
        seen_rec_t *d = map_get(&v->own, view.lead_digest, LX_HASH_B64_LEN, 1, &created);
        if (created) d->line = line;
    }
out:
    lx_receipt_view_clear(&view);
    return st;
}

/* ---- lines ---- */

lx_status_t lx_verify_line(lx_verify_t *v, lx_verify_input_t input, size_t lineno, const char *line, size_t len, lx_error_t *err)
{
    if (v->failed) return failed_already(v, err);
    if (input != LX_VERIFY_HEADS && input != LX_VERIFY_LOG && input != LX_VERIFY_RECEIPTS)
        return fail(v, err, LX_VERIFY_KEYS, 0, NULL, "not a line input");
    if (v->finished) return fail(v, err, input, lineno, NULL, "line after the end");
    if (!v->have_keys) return fail(v, err, LX_VERIFY_KEYS, 0, NULL, "the keys must come first");
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len) return LX_OK; /* blank */
    if (len > LINE_MAX_BYTES) return fail(v, err, input, lineno, NULL, "line longer than %zu bytes", LINE_MAX_BYTES);
    if (input == LX_VERIFY_RECEIPTS) return receipt_line(v, lineno, line, len, err);
    scan_t s;
    lx_json_scan_init(&s, line, len);
    if (input == LX_VERIFY_LOG) return log_line(v, lineno, &s, err);
    head_rec_t h;
    lx_status_t st = check_head(v, err, input, lineno, &s, "", &h);
    if (st == LX_OK && lx_json_scan_end(&s) != 0) st = fail_scan(v, err, input, lineno, &s);
    if (st == LX_OK) v->heads_lines++;
    return st;
}

/* ---- across lines ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static lx_status_t check_roots(lx_verify_t *v, lx_error_t *err)
{
    size_t n = v->sizes.n, k = 0;
    uint64_t *sizes = lx_malloc((n ? n : 1) * sizeof(uint64_t));
    for (size_t i = 0; i < v->sizes.cap; i++) {
        uint8_t *s = v->sizes.slots + i * v->sizes.esize;
        if (SLOT_HASH(&v->sizes, s) != 0) memcpy(&sizes[k++], SLOT_KEY(&v->sizes, s), 8);
    }
    qsort(sizes, k, sizeof(uint64_t), cmp_u64);
    lx_merkle_frontier_t f;
    memset(&f, 0, sizeof(f));
    lx_status_t st = LX_OK;
    for (size_t i = 0; i < k && st == LX_OK; i++) {
        const size_rec_t *rec = map_get(&v->sizes, &sizes[i], 8, 0, NULL);
        if (sizes[i] > v->nleaves) {
            st = fail(v, err, rec->origin.input, rec->origin.line, NULL,
                      "a signed head of tree size %" PRIu64 " is beyond %s (%" PRIu64
                      " entries): export the log entries up to the newest head",
                      sizes[i], input_name(v, LX_VERIFY_LOG), v->nleaves);
            break;
        }
        while (f.size < sizes[i]) lx_merkle_frontier_append(&f, &v->leaves[f.size], NULL, NULL);
        lx_hash_t root;
        lx_merkle_frontier_root(&f, &root);
        if (sodium_memcmp(root.h, rec->root, 32) != 0)
            st = fail(v, err, rec->origin.input, rec->origin.line, NULL,
                      "the root of the first %" PRIu64 " entries of %s is not the signed head's root_hash", sizes[i],
                      input_name(v, LX_VERIFY_LOG));
        else
            v->log_sizes_checked++;
    }
    free(sizes);
    return st;
}

static lx_status_t check_sales(lx_verify_t *v, map_t *digests, lx_error_t *err)
{
    for (size_t i = 0; i < v->counts.cap; i++) {
        uint8_t *s = v->counts.slots + i * v->counts.esize;
        if (SLOT_HASH(&v->counts, s) == 0) continue;
        const char *key = SLOT_KEY(&v->counts, s);
        const count_rec_t *c = SLOT_VAL(&v->counts, s);
        int mode = key[LX_HASH_B64_LEN];
        int share_index;
        memcpy(&share_index, key + LX_HASH_B64_LEN + 1, 4);
        if (c->refunds > c->sales)
            return fail(v, err, LX_VERIFY_LOG, 0, NULL,
                        "lead_digest %.*s: %" PRIu64 " refund entries but %" PRIu64 " sale entries (%s, share_index %d)",
                        LX_HASH_B64_LEN, key, c->refunds, c->sales, mode_names[mode], share_index);
        uint64_t unrefunded = (c->sales - c->refunds + 1) / 2;
        if (unrefunded == 0) continue;
        digest_rec_t *d = map_get(digests, key, LX_HASH_B64_LEN, 1, NULL);
        if (mode == M_EXCLUSIVE) {
            d->exclusive += unrefunded;
        } else {
            d->shared += unrefunded;
            d->slots++;
            if (unrefunded > 1)
                return fail(v, err, LX_VERIFY_LOG, 0, NULL,
                            "lead_digest %.*s: shared slot %d has %" PRIu64 " unrefunded sales (log indexes %" PRIu64 ", %" PRIu64
                            ", ...)",
                            LX_HASH_B64_LEN, key, share_index, unrefunded, c->first_sale[0], c->first_sale[1]);
        }
        if (mode == M_EXCLUSIVE && d->exclusive > 1)
            return fail(v, err, LX_VERIFY_LOG, 0, NULL,
                        "lead_digest %.*s: sold exclusively %" PRIu64 " times without refund (log indexes %" PRIu64 ", %" PRIu64
                        ", ...)",
                        LX_HASH_B64_LEN, key, d->exclusive, c->first_sale[0], c->first_sale[1]);
        if (d->exclusive > 0 && d->shared > 0)
            return fail(v, err, LX_VERIFY_LOG, 0, NULL,
                        "lead_digest %.*s: sold exclusively and shared at once (unrefunded: %" PRIu64 " exclusive, %" PRIu64
                        " shared)",
                        LX_HASH_B64_LEN, key, d->exclusive, d->shared);
    }
    return LX_OK;
}

lx_status_t lx_verify_finish(lx_verify_t *v, lx_error_t *err)
{
    if (v->failed) return failed_already(v, err);
    if (!v->have_keys) return fail(v, err, LX_VERIFY_KEYS, 0, NULL, "no keys given");
    v->finished = 1;
    if (!v->given[LX_VERIFY_LOG]) return LX_OK;
    if (!v->given[LX_VERIFY_HEADS])
        return fail(v, err, LX_VERIFY_LOG, 0, NULL,
                    "the log's entries are evidence only under signed heads: give the heads (--heads heads.jsonl)");
    if (check_roots(v, err) != LX_OK) return err->status;
    return check_sales(v, &v->digests, err);
}

/* ---- summary ---- */

static void put_kinds(lx_strbuf_t *out, const uint64_t counts[K__COUNT])
{
    int first = 1;
    for (int k = 0; k < K__COUNT; k++) {
        if (counts[k] == 0) continue;
        lx_strbuf_printf(out, "%s%s %" PRIu64, first ? "" : ", ", kind_names[k], counts[k]);
        first = 0;
    }
    if (first) lx_strbuf_puts(out, "none");
}

typedef struct {
    const char *key;
    size_t klen;
    const void *val;
} sorted_t;

static int cmp_sorted(const void *a, const void *b)
{
    const sorted_t *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    return c != 0 ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static sorted_t *map_sorted(const map_t *m, size_t *n)
{
    sorted_t *a = lx_malloc((m->n ? m->n : 1) * sizeof(sorted_t));
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++) {
        uint8_t *s = m->slots + i * m->esize;
        if (SLOT_HASH(m, s) == 0) continue;
        a[k].key = SLOT_KEY(m, s);
        a[k].klen = SLOT_KLEN(m, s);
        a[k].val = SLOT_VAL(m, s);
        k++;
    }
    qsort(a, k, sizeof(sorted_t), cmp_sorted);
    *n = k;
    return a;
}

#define SUMMARY_DIGESTS_MAX 100

void lx_verify_summary(const lx_verify_t *v, lx_strbuf_t *out)
{
    lx_strbuf_printf(out, "keys: %zu (%zu retired) from %s\n", v->ring.n, v->retired_keys, input_name(v, LX_VERIFY_KEYS));
    lx_strbuf_printf(out, "receipts: %" PRIu64 " verified (", v->receipts);
    put_kinds(out, v->kinds);
    lx_strbuf_printf(out, "); %" PRIu64 " proven in the log, %" PRIu64 " not yet in the log", v->proven, v->unsequenced);
    if (v->bare) lx_strbuf_printf(out, ", %" PRIu64 " bare receipts without proof", v->bare);
    lx_strbuf_puts(out, "\n");
    lx_strbuf_printf(
        out, "tree heads: %zu distinct, signatures verified, largest tree size %" PRIu64 "; heads of equal size have equal roots\n",
        v->heads.n, v->max_tree_size);
    if (v->given[LX_VERIFY_LOG]) {
        lx_strbuf_printf(out, "log: %" PRIu64 " entries (", v->nleaves);
        put_kinds(out, v->log_kinds);
        lx_strbuf_printf(out, "); the root of every head's tree size (%" PRIu64 " sizes) recomputed and equal\n",
                         v->log_sizes_checked);
        if (v->log_uncovered)
            lx_strbuf_printf(out, "log: %" PRIu64 " entries after the newest signed head, not counted (no head signs them)\n",
                             v->log_uncovered);
    } else {
        lx_strbuf_puts(out, "log: not given (--log entries.jsonl recomputes the heads' roots and counts sales)\n");
    }
    size_t n;
    sorted_t *st = map_sorted(&v->stmts, &n);
    lx_strbuf_printf(out, "statement (amounts in minor units, as the ledger moved them): %zu account%s\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const stmt_rec_t *s = st[i].val;
        lx_strbuf_printf(out, "  %.*s:", (int)st[i].klen, st[i].key);
        int64_t net = 0;
        uint64_t cnt = 0;
        for (int k = 0; k < K__COUNT; k++) {
            if (s->count[k] == 0) continue;
            lx_strbuf_printf(out, " %s %+" PRId64 " (%" PRIu64 ")", kind_names[k], s->total[k], s->count[k]);
            if (__builtin_add_overflow(net, s->total[k], &net)) net = 0;
            cnt += s->count[k];
        }
        lx_strbuf_printf(out, "; net %+" PRId64 " over %" PRIu64 " receipts\n", net, cnt);
    }
    free(st);
    if (v->given[LX_VERIFY_LOG]) {
        sorted_t *own = map_sorted(&v->own, &n);
        lx_strbuf_printf(out,
                         "sales in the log of the %zu lead%s these receipts name (unrefunded; exclusive at most once, "
                         "never exclusive and shared):\n",
                         n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n && i < SUMMARY_DIGESTS_MAX; i++) {
            const digest_rec_t *d = map_get((map_t *)&v->digests, own[i].key, LX_HASH_B64_LEN, 0, NULL);
            lx_strbuf_printf(out, "  %.*s: exclusive %" PRIu64 ", shared %" PRIu64 "\n", LX_HASH_B64_LEN, own[i].key,
                             d != NULL ? d->exclusive : 0, d != NULL ? d->shared : 0);
        }
        if (n > SUMMARY_DIGESTS_MAX) lx_strbuf_printf(out, "  ... and %zu more\n", n - SUMMARY_DIGESTS_MAX);
        free(own);
    }
}

/* ---- the command ---- */

static void verify_usage(FILE *f)
{
    fprintf(f, "Usage: leadx verify --keys keys.json --receipts export.jsonl [--heads heads.jsonl] [--log entries.jsonl]\n\n"
               "Verifies exported receipts offline, with nothing but these files (no server, no database):\n"
               "  --keys FILE      the body of GET /v1/receipts/keys (every receipt-signing public key and its validity)\n"
               "  --receipts FILE  GET /v1/receipts/export output: one {\"receipt\", \"entry\", \"log_index\",\n"
               "                   \"inclusion_proof\", \"head\"} object per line (or a bare receipt object per line)\n"
               "  --heads FILE     signed tree heads, one per line (GET /v1/log/heads items, any order); every receipt's\n"
               "                   head must be one of them\n"
               "  --log FILE       log entries, one {\"log_index\", \"entry\"} per line (GET /v1/log/entries items), in\n"
               "                   order from log_index 0 up to at least the largest head's tree size; needs --heads\n\n"
               "Checks: every receipt's Ed25519 signature by a published key valid at its issued_at (strict: non-canonical\n"
               "base64 or JSON, unknown or duplicate members fail); each line's log entry is the one its receipt makes; its\n"
               "inclusion proof against its signed head; heads of equal size have equal roots; with --log, the root of\n"
               "every head's tree size recomputed from the entries, no receipt twice in the log, and the sales of every\n"
               "lead digest counted from the entries the newest signed head covers (an exclusive sale at most once\n"
               "unrefunded, never exclusive and shared at once; entries after that head are named, not counted). Prints a summary\n"
               "with a statement per account and currency.\n\n"
               "Exit status: 0 all verified; 1 a failure, named on stderr as FILE:LINE: JSON-POINTER: what failed;\n"
               "2 usage error (or a file that cannot be read).\n");
}

typedef struct {
    const char *base;
    size_t len;
    int mapped;
} file_t;

static int file_open(const char *path, file_t *f)
{
    f->base = NULL;
    f->len = 0;
    f->mapped = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "leadx verify: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "leadx verify: %s is not a regular file\n", path);
        close(fd);
        return -1;
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "leadx verify: cannot read %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
        f->base = p;
        f->len = (size_t)st.st_size;
        f->mapped = 1;
    }
    close(fd);
    return 0;
}

static void file_close(file_t *f)
{
    if (f->mapped) munmap((void *)f->base, f->len);
    f->mapped = 0;
}

static int feed_lines(lx_verify_t *v, lx_verify_input_t input, const file_t *f)
{
    lx_error_t err;
    if (f->len == 0) return 0; /* an empty file: nothing mapped */
    const char *p = f->base, *end = f->base + f->len;
    size_t lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        lineno++;
        if (lx_verify_line(v, input, lineno, p, (size_t)(le - p), &err) != LX_OK) return -1;
        p = nl != NULL ? nl + 1 : end;
    }
    return 0;
}

int lx_verify_main(int argc, char **argv)
{
    const char *paths[LX_VERIFY__INPUTS] = {NULL, NULL, NULL, NULL};
    static const char *const flags[LX_VERIFY__INPUTS] = {"--keys", "--heads", "--log", "--receipts"};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            verify_usage(stdout);
            return 0;
        }
    }
    for (int i = 0; i < argc; i++) {
        int k;
        const char *val = NULL;
        for (k = 0; k < LX_VERIFY__INPUTS; k++) {
            size_t n = strlen(flags[k]);
            if (strcmp(argv[i], flags[k]) == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "leadx verify: %s needs a file\n", flags[k]);
                    return 2;
                }
                val = argv[++i];
                break;
            }
            if (strncmp(argv[i], flags[k], n) == 0 && argv[i][n] == '=') {
                val = argv[i] + n + 1;
                break;
            }
        }
        if (k == LX_VERIFY__INPUTS) {
            fprintf(stderr, "leadx verify: unknown argument %s (see leadx verify --help)\n", argv[i]);
            return 2;
        }
        if (paths[k] != NULL) {
            fprintf(stderr, "leadx verify: %s given twice\n", flags[k]);
            return 2;
        }
        if (val[0] == '\0') {
            fprintf(stderr, "leadx verify: %s needs a file\n", flags[k]);
            return 2;
        }
        paths[k] = val;
    }
    if (paths[LX_VERIFY_KEYS] == NULL || paths[LX_VERIFY_RECEIPTS] == NULL) {
        fprintf(stderr, "leadx verify: --keys and --receipts are required\n\n");
        verify_usage(stderr);
        return 2;
    }
    file_t files[LX_VERIFY__INPUTS];
    memset(files, 0, sizeof(files));
    for (int k = 0; k < LX_VERIFY__INPUTS; k++) {
        if (paths[k] != NULL && file_open(paths[k], &files[k]) != 0) {
            for (int j = 0; j < k; j++) file_close(&files[j]);
            return 2;
        }
    }
    int rc = 2;
    if (files[LX_VERIFY_KEYS].len > KEYS_MAX_BYTES) {
        fprintf(stderr, "leadx verify: %s is larger than %zu bytes\n", paths[LX_VERIFY_KEYS], KEYS_MAX_BYTES);
        goto out;
    }
    lx_verify_t *v = lx_verify_new();
    for (int k = 0; k < LX_VERIFY__INPUTS; k++)
        if (paths[k] != NULL) lx_verify_source(v, (lx_verify_input_t)k, paths[k]);
    lx_error_t err;
    int bad =
        lx_verify_keys(v, files[LX_VERIFY_KEYS].base ? files[LX_VERIFY_KEYS].base : "", files[LX_VERIFY_KEYS].len, &err) != LX_OK;
    static const lx_verify_input_t order[] = {LX_VERIFY_HEADS, LX_VERIFY_LOG, LX_VERIFY_RECEIPTS};
    for (size_t i = 0; !bad && i < 3; i++)
        if (paths[order[i]] != NULL) bad = feed_lines(v, order[i], &files[order[i]]) != 0;
    if (!bad) bad = lx_verify_finish(v, &err) != LX_OK;
    if (bad) {
        fprintf(stderr, "leadx verify: FAILED: %s\n", lx_verify_failure(v));
        rc = 1;
    } else {
        lx_strbuf_t out;
        lx_strbuf_init(&out, (size_t)64 << 20);
        lx_verify_summary(v, &out);
        fwrite(out.base, 1, out.len, stdout);
        printf("OK: everything verified\n");
        lx_strbuf_free(&out);
        rc = 0;
    }
    lx_verify_free(v);
out:
    for (int k = 0; k < LX_VERIFY__INPUTS; k++) file_close(&files[k]);
    return rc;
}
