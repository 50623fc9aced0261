/*
 * A synthetic export for `leadx verify` tests and its benchmark: receipts signed the way the server signs them
 * (billing/receipt.h), their log entries, an RFC 6962 tree built with billing/merkle.h, signed tree heads and the
 * files GET /v1/receipts/keys, /v1/receipts/export, /v1/log/heads and /v1/log/entries would give. Header-only
 * (static functions) so tests/unit/test_verify.c and tests/bench/verify_gen.c share it.
 *
 * The workload: per group of 8 receipts a deposit, an exclusive sale (buyer + webmaster receipts), a shared sale
 * (two receipts), a refund of that shared sale (two receipts) and a settlement; a few accounts; the keys may be
 * rotated half way (two keys, the first retired at the rotation time).
 */
#ifndef LX_TESTS_VERIFY_FIXTURE_H
#define LX_TESTS_VERIFY_FIXTURE_H

#include "billing/merkle.h"
#include "billing/receipt.h"
#include "util/b64.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_T0_US 1780000000000000LL /* 2026-05-28: the first key's not_before */

typedef struct {
    uint8_t sk[2][64];
    uint8_t pk[2][32];
    char kid[2][LX_KEY_ID_LEN + 1];
    int nkeys;
    int64_t rotated_us; /* with two keys: the first key's not_after and the second's not_before */
    /* the tree: every perfect node, per level */
    lx_hash_t *level[64];
    uint64_t count[64], cap[64];
    lx_merkle_frontier_t frontier;
    /* outputs */
    lx_strbuf_t keys, exportl, heads, entries;
    char **entry_json; /* per log index */
    uint64_t n;
} fx_t;

static inline void fx_emit(void *ctx, unsigned level, uint64_t index, const lx_hash_t *h)
{
    fx_t *fx = ctx;
    if (index >= fx->cap[level]) {
        fx->cap[level] = fx->cap[level] ? fx->cap[level] * 2 : 256;
        while (fx->cap[level] <= index) fx->cap[level] *= 2;
        fx->level[level] = realloc(fx->level[level], fx->cap[level] * sizeof(lx_hash_t));
    }
    fx->level[level][index] = *h;
    if (index + 1 > fx->count[level]) fx->count[level] = index + 1;
}

static inline const lx_hash_t *fx_get(void *ctx, unsigned level, uint64_t index)
{
    fx_t *fx = ctx;
    return level < 64 && index < fx->count[level] ? &fx->level[level][index] : NULL;
}

static inline void fx_init(fx_t *fx, int nkeys)
{
    memset(fx, 0, sizeof(*fx));
    fx->nkeys = nkeys;
    for (int k = 0; k < nkeys; k++) {
        uint8_t seed[32];
        memset(seed, 0x40 + k, sizeof(seed));
        crypto_sign_seed_keypair(fx->pk[k], fx->sk[k], seed);
        lx_receipt_key_id(fx->pk[k], fx->kid[k]);
    }
    fx->rotated_us = FX_T0_US + 3600LL * 1000000;
    lx_strbuf_init(&fx->keys, 1 << 20);
    lx_strbuf_init(&fx->exportl, (size_t)1 << 34);
    lx_strbuf_init(&fx->heads, (size_t)1 << 30);
    lx_strbuf_init(&fx->entries, (size_t)1 << 32);
    lx_strbuf_puts(&fx->keys, "{\"keys\": [");
    for (int k = 0; k < nkeys; k++) {
        char pk[LX_PK_B64_LEN + 1], nb[LX_TS_LEN + 1], na[LX_TS_LEN + 1];
        lx_b64url_encode(fx->pk[k], 32, pk);
        lx_ts_format_us(k == 0 ? FX_T0_US : fx->rotated_us, nb);
        lx_ts_format_us(fx->rotated_us, na);
        lx_strbuf_printf(&fx->keys,
                         "%s{\"key_id\": \"%s\", \"public_key\": \"%s\", \"not_before\": \"%s\", \"not_after\": ", k ? ", " : "",
                         fx->kid[k], pk, nb);
        if (k == nkeys - 1)
            lx_strbuf_puts(&fx->keys, "null}");
        else
            lx_strbuf_printf(&fx->keys, "\"%s\"}", na);
    }
    lx_strbuf_puts(&fx->keys, "]}\n");
}

static inline void fx_free(fx_t *fx)
{
    for (int l = 0; l < 64; l++) free(fx->level[l]);
    for (uint64_t i = 0; i < fx->n; i++) free(fx->entry_json[i]);
    free(fx->entry_json);
    lx_strbuf_free(&fx->keys);
    lx_strbuf_free(&fx->exportl);
    lx_strbuf_free(&fx->heads);
    lx_strbuf_free(&fx->entries);
}

/* The signed head of the first `size` leaves as a JSON object, into `out` (appended). */
static inline void fx_head(fx_t *fx, uint64_t size, int64_t at_us, lx_strbuf_t *out)
{
    lx_hash_t root;
    if (size == 0)
        lx_merkle_empty_root(&root);
    else if (lx_merkle_root(size, fx_get, fx, &root) != 0)
        abort();
    char rh[LX_HASH_B64_LEN + 1], ts[LX_TS_LEN + 1], sig[LX_SIG_B64_LEN + 1];
    lx_b64url_encode(root.h, 32, rh);
    lx_ts_format_us(at_us, ts);
    int k = fx->nkeys == 2 && at_us >= fx->rotated_us ? 1 : 0;
    lx_strbuf_t canon;
    lx_strbuf_init(&canon, 4096);
    lx_tree_head_canon(size, rh, ts, &canon);
    lx_sign_b64(fx->sk[k], LX_TREE_HEAD_CONTEXT, canon.base, canon.len, sig);
    lx_strbuf_free(&canon);
    lx_strbuf_printf(out,
                     "{\"tree_size\":%" PRIu64 ",\"root_hash\":\"%s\",\"timestamp\":\"%s\",\"key_id\":\"%s\","
                     "\"signature\":\"%s\"}",
                     size, rh, ts, fx->kid[k], sig);
}

/* Receipt i of the workload: its rendered object into `receipt`, its entry's canonical JSON into `entry`. */
static inline void fx_receipt(fx_t *fx, uint64_t i, int64_t at_us, lx_strbuf_t *receipt, lx_strbuf_t *entry)
{
    static const char *const accounts[] = {"01900000-0000-7000-8000-00000000000a", "01900000-0000-7000-8000-00000000000b",
                                           "01900000-0000-7000-8000-00000000000c", "01900000-0000-7000-8000-00000000000d"};
    uint64_t g = i / 8, r = i % 8;
    char id[64], txn[64], lead[64], sale[64], rev[64], ts[LX_TS_LEN + 1], digest[LX_HASH_B64_LEN + 1];
    snprintf(id, sizeof(id), "01900000-0000-7000-8000-%012" PRIx64, i);
    snprintf(txn, sizeof(txn), "01910000-0000-7000-8000-%012" PRIx64,
             g * 8 + (r == 0   ? 0
                      : r <= 2 ? 1
                      : r <= 4 ? 2
                      : r <= 6 ? 3
                               : 4));
    snprintf(lead, sizeof(lead), "01920000-0000-7000-8000-%012" PRIx64, g * 2 + (r <= 2 ? 0 : 1));
    snprintf(sale, sizeof(sale), "01930000-0000-7000-8000-%012" PRIx64, g * 2 + (r <= 2 ? 0 : 1));
    snprintf(rev, sizeof(rev), "01900000-0000-7000-8000-%012" PRIx64, g * 8 + (r == 5 ? 3 : 4));
    lx_ts_format_us(at_us, ts);
    uint8_t dkey[32];
    memset(dkey, 7, sizeof(dkey));
    lx_receipt_body_t b;
    memset(&b, 0, sizeof(b));
    b.id = id;
    b.issued_at = ts;
    b.ledger_txn = txn;
    b.currency = "USD";
    b.share_index = -1;
    const char *buyer = accounts[g % 2], *wm = accounts[2 + g % 2];
    switch (r) {
    case 0:
        b.kind = "deposit";
        b.account = buyer;
        b.amount = 100000;
        b.reference = "wire 42";
        break;
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
        b.kind = r <= 4 ? "sale" : "refund";
        b.account = r % 2 ? buyer : wm;
        b.amount = (r % 2 ? -2500 : 2250) * (r <= 4 ? 1 : -1);
        b.lead_id = lead;
        lx_lead_digest(dkey, lead, digest);
        b.lead_digest = digest;
        b.niche = "loans";
        b.region = "US-CA";
        b.mode = r <= 2 ? "exclusive" : "shared";
        b.share_index = r <= 2 ? 0 : 1;
        b.sale_id = sale;
        if (r >= 5) b.reverses = rev;
        break;
    default:
        b.kind = "settlement";
        b.account = wm;
        b.amount = 2250;
        break;
    }
    lx_strbuf_t canon;
    lx_strbuf_init(&canon, 1 << 16);
    lx_receipt_body_canon(&b, &canon);
    char sig[LX_SIG_B64_LEN + 1];
    int k = fx->nkeys == 2 && at_us >= fx->rotated_us ? 1 : 0;
    lx_sign_b64(fx->sk[k], LX_RECEIPT_CONTEXT, canon.base, canon.len, sig);
    lx_strbuf_reset(receipt);
    lx_receipt_render(canon.base, canon.len, fx->kid[k], sig, receipt);
    lx_strbuf_free(&canon);
    char hash[LX_HASH_B64_LEN + 1];
    lx_sha256_b64(receipt->base, receipt->len, hash);
    lx_strbuf_reset(entry);
    lx_log_entry_canon(b.kind, hash, b.lead_digest, b.mode, b.share_index, entry);
}

/*
 * Builds `n` receipts (issued one millisecond apart from FX_T0_US + 1 s; with two keys the rotation falls in the
 * middle), a head after every `head_every` receipts and at the end, the export with each receipt proven against the
 * final head, the heads and the entries.
 */
static inline void fx_build(fx_t *fx, uint64_t n, uint64_t head_every)
{
    lx_strbuf_t receipt, entry;
    lx_strbuf_init(&receipt, 1 << 16);
    lx_strbuf_init(&entry, 1 << 16);
    fx->n = n;
    fx->entry_json = calloc(n ? n : 1, sizeof(char *));
    char **receipts = calloc(n ? n : 1, sizeof(char *));
    int64_t step = 1000;
    if (fx->nkeys == 2 && n > 0) step = (fx->rotated_us - FX_T0_US) * 2 / (int64_t)n; /* rotation half way */
    for (uint64_t i = 0; i < n; i++) {
        int64_t at = FX_T0_US + 1000000 + (int64_t)i * step;
        fx_receipt(fx, i, at, &receipt, &entry);
        receipts[i] = strndup(receipt.base, receipt.len);
        fx->entry_json[i] = strndup(entry.base, entry.len);
        lx_hash_t leaf;
        lx_merkle_leaf_hash(entry.base, entry.len, &leaf);
        lx_merkle_frontier_append(&fx->frontier, &leaf, fx_emit, fx);
        lx_strbuf_printf(&fx->entries, "{\"log_index\":%" PRIu64 ",\"entry\":%s}\n", i, fx->entry_json[i]);
        if (head_every > 0 && (i + 1) % head_every == 0 && i + 1 < n) {
            fx_head(fx, i + 1, at + 500, &fx->heads);
            lx_strbuf_puts(&fx->heads, "\n");
        }
    }
    lx_strbuf_t final;
    lx_strbuf_init(&final, 4096);
    int64_t end = FX_T0_US + 1000000 + (int64_t)n * step + 500;
    fx_head(fx, n, end, &final);
    lx_strbuf_append(&fx->heads, final.base, final.len);
    lx_strbuf_puts(&fx->heads, "\n");
    for (uint64_t i = 0; i < n; i++) {
        lx_hash_t path[LX_MERKLE_MAX_PATH];
        size_t len = 0;
        if (lx_merkle_inclusion(i, n, fx_get, fx, path, &len) != 0) abort();
        lx_strbuf_printf(&fx->exportl,
                         "{\"receipt\":%s,\"entry\":%s,\"log_index\":%" PRIu64 ",\"inclusion_proof\":{\"log_index\":%" PRIu64
                         ",\"tree_size\":%" PRIu64 ",\"hashes\":[",
                         receipts[i], fx->entry_json[i], i, i, n);
        for (size_t j = 0; j < len; j++) {
            char h[LX_HASH_B64_LEN + 1];
            lx_b64url_encode(path[j].h, 32, h);
            lx_strbuf_printf(&fx->exportl, "%s\"%s\"", j ? "," : "", h);
        }
        lx_strbuf_printf(&fx->exportl, "]},\"head\":%.*s}\n", (int) final.len, final.base);
        free(receipts[i]);
    }
    free(receipts);
    lx_strbuf_free(&final);
    lx_strbuf_free(&receipt);
    lx_strbuf_free(&entry);
}

#endif
