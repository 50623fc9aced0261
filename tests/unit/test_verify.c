/*
 * The offline verifier (src/verify.h) on synthetic exports (verify_fixture.h): a valid export verifies with the
 * right counts and totals; every flipped bit of a receipt line, a head line and a log entry is detected; each named
 * failure (non-canonical signature, unknown key, a receipt outside its key's validity, a forked head, a gap in the
 * log, an exclusive lead sold twice, ...) names its file, line and JSON Pointer; the command's usage errors exit 2.
 */
#include "check.h"
#include "verify.h"
#include "verify_fixture.h"
#include "util/b64.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *keys, *heads, *log, *exp; /* NUL-terminated documents; NULL = input not given */
} inputs_t;

static char last_failure[4096];
static lx_strbuf_t last_summary;

/* Feeds every line of `doc`; returns the status of the first failing call. */
static lx_status_t feed(lx_verify_t *v, lx_verify_input_t input, const char *doc, lx_error_t *err)
{
    size_t lineno = 0;
    for (const char *p = doc; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (lx_verify_line(v, input, ++lineno, p, len, err) != LX_OK) return err->status;
        p += len + (nl != NULL);
    }
    return LX_OK;
}

/* 0 when everything verifies (summary in last_summary), else 1 (message in last_failure). */
static int run(const inputs_t *in)
{
    lx_verify_t *v = lx_verify_new();
    lx_error_t err;
    lx_error_init(&err);
    if (in->heads != NULL) lx_verify_source(v, LX_VERIFY_HEADS, "heads.jsonl");
    if (in->log != NULL) lx_verify_source(v, LX_VERIFY_LOG, "entries.jsonl");
    lx_verify_source(v, LX_VERIFY_RECEIPTS, "export.jsonl");
    lx_verify_source(v, LX_VERIFY_KEYS, "keys.json");
    int bad = lx_verify_keys(v, in->keys, strlen(in->keys), &err) != LX_OK ||
              (in->heads != NULL && feed(v, LX_VERIFY_HEADS, in->heads, &err) != LX_OK) ||
              (in->log != NULL && feed(v, LX_VERIFY_LOG, in->log, &err) != LX_OK) ||
              (in->exp != NULL && feed(v, LX_VERIFY_RECEIPTS, in->exp, &err) != LX_OK) || lx_verify_finish(v, &err) != LX_OK;
    snprintf(last_failure, sizeof(last_failure), "%s", lx_verify_failure(v));
    lx_strbuf_reset(&last_summary);
    if (!bad) lx_verify_summary(v, &last_summary);
    lx_strbuf_append(&last_summary, "", 1);
    if (bad) CHECK(last_failure[0] != '\0' && err.status != LX_OK);
    lx_verify_free(v);
    return bad;
}

static int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

#define CHECK_FAILS_WITH(in, needle)                                                                                               \
    do {                                                                                                                           \
        CHECK(run(in) == 1);                                                                                                       \
        if (!CHECK(contains(last_failure, needle))) fprintf(stderr, "  failure was: %s\n", last_failure);                          \
    } while (0)

/* The receipts of an export, one bare receipt object per line. */
static char *bare_receipts(const char *exp)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)1 << 30);
    for (const char *p = exp; *p != '\0';) {
        const char *e = strchr(p, '\n');
        const char *r = p + strlen("{\"receipt\":"), *re = strstr(p, ",\"entry\":");
        lx_strbuf_append(&sb, r, (size_t)(re - r));
        lx_strbuf_puts(&sb, "\n");
        p = e ? e + 1 : p + strlen(p);
    }
    lx_strbuf_append(&sb, "", 1);
    return sb.base;
}

/* Line `n` (1-based) of `doc` as a new string. */
static char *line_of(const char *doc, size_t n)
{
    const char *p = doc;
    for (size_t i = 1; i < n; i++) p = strchr(p, '\n') + 1;
    const char *e = strchr(p, '\n');
    return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

/* `doc` with line `n` replaced by `repl` (NULL = removed). */
static char *replace_line(const char *doc, size_t n, const char *repl)
{
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, (size_t)1 << 30);
    size_t i = 1;
    for (const char *p = doc; *p != '\0'; i++) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
        if (i != n) {
            lx_strbuf_append(&sb, p, len);
        } else if (repl != NULL) {
            lx_strbuf_puts(&sb, repl);
            lx_strbuf_puts(&sb, "\n");
        }
        p += len;
    }
    lx_strbuf_append(&sb, "", 1);
    return sb.base;
}

/* Replaces the first occurrence of `from` in `s` by `to` (new string). */
static char *subst(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    if (at == NULL) return strdup(s);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    size_t a = (size_t)(at - s);
    memcpy(out, s, a);
    memcpy(out + a, to, strlen(to));
    strcpy(out + a + strlen(to), at + strlen(from));
    return out;
}

static char *z(const lx_strbuf_t *sb)
{
    return strndup(sb->base, sb->len);
}

static void test_valid(void)
{
    CHECK_CTX("valid export");
    fx_t fx;
    fx_init(&fx, 1);
    fx_build(&fx, 64, 16);
    char *keys = z(&fx.keys), *heads = z(&fx.heads), *log = z(&fx.entries), *exp = z(&fx.exportl);
    inputs_t all = {keys, heads, log, exp};
    CHECK(run(&all) == 0);
    if (last_failure[0]) fprintf(stderr, "  failure: %s\n", last_failure);
    const char *s = last_summary.base;
    CHECK(contains(s, "receipts: 64 verified (deposit 8, sale 32, refund 16, settlement 8); 64 proven in the log, 0 not yet"));
    CHECK(contains(s, "log: 64 entries"));
    CHECK(contains(s, "(4 sizes) recomputed"));
    CHECK(contains(s, "01900000-0000-7000-8000-00000000000a USD: deposit +400000 (4) sale -20000 (8) refund +10000 (4); "
                      "net +390000 over 16 receipts"));
    CHECK(contains(s, "01900000-0000-7000-8000-00000000000c USD: sale +18000 (8) refund -9000 (4) settlement +9000 (4); "
                      "net +18000 over 16 receipts"));
    CHECK(contains(s, "sales in the log of the 16 leads"));
    CHECK(contains(s, ": exclusive 1, shared 0"));
    if (!CHECK(!contains(s, ": exclusive 0, shared 1"))) fprintf(stderr, "%s", s);

    /* without heads, without log; blank lines and CRLF */
    inputs_t bare = {keys, NULL, NULL, exp};
    CHECK(run(&bare) == 0);
    CHECK(contains(last_summary.base, "log: not given"));
    char *crlf = subst(exp, "\n", "\r\n\n  \n");
    inputs_t c = {keys, heads, log, crlf};
    CHECK(run(&c) == 0);
    free(crlf);

    /* bare receipts, and a receipt not yet in the log */
    char *l1 = line_of(exp, 1);
    char *r1 = strndup(l1 + strlen("{\"receipt\":"), (size_t)(strstr(l1, ",\"entry\":") - l1) - strlen("{\"receipt\":"));
    char *e1 = strndup(strstr(l1, ",\"entry\":") + 9, (size_t)(strstr(l1, ",\"log_index\":") - strstr(l1, ",\"entry\":") - 9));
    char unseq[8192];
    snprintf(unseq, sizeof(unseq), "%s\n{\"receipt\":%s,\"entry\":%s,\"log_index\":null,\"inclusion_proof\":null,\"head\":null}\n",
             r1, r1, e1);
    inputs_t u = {keys, NULL, NULL, unseq};
    CHECK_FAILS_WITH(&u, "export.jsonl:2: /receipt/body/id: receipt "); /* the same receipt twice */
    char *unseq2 = replace_line(exp, 1, strchr(unseq, '\n') + 1);
    char *unseq3 = subst(unseq2, "\n\n", "\n");
    inputs_t u2 = {keys, heads, log, unseq3};
    CHECK(run(&u2) == 0);
    CHECK(contains(last_summary.base, "63 proven in the log, 1 not yet in the log"));
    snprintf(unseq, sizeof(unseq), "%s\n", r1);
    char *bare_line = replace_line(exp, 1, r1);
    inputs_t b = {keys, heads, log, bare_line};
    CHECK(run(&b) == 0);
    CHECK(contains(last_summary.base, "1 bare receipts without proof"));
    free(l1), free(r1), free(e1), free(unseq2), free(unseq3), free(bare_line);
    free(keys), free(heads), free(log), free(exp);
    fx_free(&fx);
}

static void test_named_failures(void)
{
    fx_t fx;
    fx_init(&fx, 1);
    fx_build(&fx, 40, 8);
    char *keys = z(&fx.keys), *heads = z(&fx.heads), *log = z(&fx.entries), *exp = z(&fx.exportl);
    char *l2 = line_of(exp, 2), *l3 = line_of(exp, 3);

    CHECK_CTX("non-canonical base64 signature");
    {
        /* 64 bytes = 86 characters whose last carries 4 unused bits: set one and the bytes decode the same */
        char *sig = strstr(strstr(l2, "\"key_id\""), "\"signature\":\"") + 13;
        char *line = strdup(l2);
        char *s2 = line + (sig - l2);
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        int idx = (int)(strchr(alphabet, s2[85]) - alphabet);
        s2[85] = alphabet[idx | 1];
        CHECK(idx != (idx | 1));
        char *doc = replace_line(exp, 2, line);
        inputs_t in = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in, "export.jsonl:2: /receipt/signature");
        free(doc), free(line);
    }
    CHECK_CTX("a key not in keys.json");
    {
        fx_t other;
        fx_init(&other, 2); /* its second key is not fx's */
        char *k2 = z(&other.keys);
        /* keys.json with only the other fixture's second key */
        char *only = strdup(k2);
        char *second = strstr(only, "}, {");
        char buf[4096];
        snprintf(buf, sizeof(buf), "{\"keys\": [%s", second + 3);
        inputs_t in = {buf, NULL, NULL, exp};
        CHECK_FAILS_WITH(&in, "export.jsonl:1: /receipt/key_id");
        free(k2), free(only);
        fx_free(&other);
    }
    CHECK_CTX("a receipt issued outside its key's validity");
    {
        char nb[LX_TS_LEN + 1], late[LX_TS_LEN + 1];
        lx_ts_format_us(FX_T0_US, nb);
        lx_ts_format_us(FX_T0_US + 1000000 + 10 * 1000 + 500, late); /* between receipts 10 and 11 */
        char from[64], to[128];
        snprintf(from, sizeof(from), "\"not_after\": null");
        snprintf(to, sizeof(to), "\"not_after\": \"%s\"", late);
        char *k = subst(keys, from, to);
        char *bare = bare_receipts(exp); /* no heads: theirs are later still */
        inputs_t in = {k, NULL, NULL, bare};
        CHECK(run(&in) == 1);
        CHECK(contains(last_failure, "export.jsonl:12: /"));
        inputs_t valid = {keys, NULL, NULL, bare};
        CHECK(run(&valid) == 0);
        free(k);
        /* and before it: not_before after the first receipt */
        lx_ts_format_us(FX_T0_US + 1000000 + 5 * 1000, late);
        snprintf(to, sizeof(to), "\"%s\"", late);
        snprintf(from, sizeof(from), "\"%s\"", nb);
        k = subst(keys, from, to);
        inputs_t in2 = {k, NULL, NULL, bare};
        CHECK(run(&in2) == 1);
        CHECK(contains(last_failure, "export.jsonl:1: /"));
        free(k), free(bare);
    }
    CHECK_CTX("the entry is not the receipt's");
    {
        char *e3 = strndup(strstr(l3, ",\"entry\":") + 9, (size_t)(strstr(l3, ",\"log_index\":") - strstr(l3, ",\"entry\":") - 9));
        char *e2 = strndup(strstr(l2, ",\"entry\":") + 9, (size_t)(strstr(l2, ",\"log_index\":") - strstr(l2, ",\"entry\":") - 9));
        char *line = subst(l2, e2, e3);
        char *doc = replace_line(exp, 2, line);
        inputs_t in = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in, "export.jsonl:2: /entry: is not the log entry of this receipt");
        free(e2), free(e3), free(line), free(doc);
    }
    CHECK_CTX("unknown and duplicate members");
    {
        char *line = subst(l2, "{\"receipt\":", "{\"x\":1,\"receipt\":");
        char *doc = replace_line(exp, 2, line);
        inputs_t in = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in, "export.jsonl:2: /x: is not a member");
        free(line), free(doc);
        line = subst(l2, "{\"receipt\":", "{\"log_index\":1,\"receipt\":");
        doc = replace_line(exp, 2, line);
        inputs_t in2 = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in2, "export.jsonl:2: /log_index: duplicate member");
        free(line), free(doc);
        line = subst(l2, "\"log_index\":1,", "\"log_index\":1.0,");
        doc = replace_line(exp, 2, line);
        inputs_t in3 = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in3, "export.jsonl:2: /log_index");
        free(line), free(doc);
    }
    CHECK_CTX("a proof for another index");
    {
        char *line = subst(l2, "\"log_index\":1,\"inclusion_proof\":{\"log_index\":1,",
                           "\"log_index\":2,\"inclusion_proof\":{\"log_index\":2,");
        char *doc = replace_line(exp, 2, line);
        inputs_t in = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in, "export.jsonl:2: /inclusion_proof: does not prove");
        free(line), free(doc);
        line = subst(l2, "\"inclusion_proof\":{\"log_index\":1,", "\"inclusion_proof\":{\"log_index\":2,");
        doc = replace_line(exp, 2, line);
        inputs_t in2 = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in2, "export.jsonl:2: /inclusion_proof/log_index");
        free(line), free(doc);
        line = subst(l2, "\"log_index\":1,\"inclusion_proof\":{", "\"log_index\":null,\"inclusion_proof\":{");
        doc = replace_line(exp, 2, line);
        inputs_t in3 = {keys, NULL, NULL, doc};
        CHECK_FAILS_WITH(&in3, "export.jsonl:2: /inclusion_proof: must be null when log_index is null");
        free(line), free(doc);
    }
    CHECK_CTX("the head is not among the heads given");
    {
        char *h = replace_line(heads, 5, NULL); /* the final head is the 5th line (sizes 8..32, then 40) */
        inputs_t in = {keys, h, NULL, exp};
        CHECK_FAILS_WITH(&in, "export.jsonl:1: /head: is not one of the heads in heads.jsonl");
        free(h);
    }
    CHECK_CTX("a forked log: two heads of one size with different roots");
    {
        lx_strbuf_t fork;
        lx_strbuf_init(&fork, 1 << 20);
        fx_t other;
        fx_init(&other, 1);
        fx_build(&other, 8, 0); /* same key, a different first 8 receipts? no: the same workload; change one leaf */
        lx_hash_t bogus;
        memset(bogus.h, 0x55, 32);
        other.level[0][3] = bogus;
        for (int l = 1; l < 64; l++) other.count[l] = 0; /* force the root through lx_merkle_root over level 0 */
        lx_merkle_frontier_t f;
        memset(&f, 0, sizeof(f));
        for (int i = 0; i < 8; i++) lx_merkle_frontier_append(&f, &other.level[0][i], fx_emit, &other);
        fx_head(&other, 8, FX_T0_US + 5000000, &fork);
        lx_strbuf_puts(&fork, "\n");
        lx_strbuf_append(&fork, heads, strlen(heads));
        lx_strbuf_append(&fork, "", 1);
        inputs_t in = {keys, fork.base, NULL, exp};
        CHECK_FAILS_WITH(&in, "heads.jsonl:2: /root_hash: a signed head of tree size 8 with another root than the head of "
                              "the same size at heads.jsonl:1 (the log forked)");
        lx_strbuf_free(&fork);
        fx_free(&other);
    }
    CHECK_CTX("the log: gaps, shortness, a different entry");
    {
        char *l = replace_line(log, 7, NULL);
        inputs_t in = {keys, heads, l, exp};
        CHECK_FAILS_WITH(&in, "entries.jsonl:7: /log_index: log_index 7 where 6 was expected");
        free(l);
        char *cut = strdup(log);
        char *at = strstr(cut, "{\"log_index\":33,");
        *at = '\0';
        inputs_t in2 = {keys, heads, cut, NULL};
        CHECK_FAILS_WITH(&in2, "heads.jsonl:5: a signed head of tree size 40 is beyond entries.jsonl (33 entries)");
        inputs_t in3 = {keys, NULL, cut, exp};
        CHECK_FAILS_WITH(&in3, "export.jsonl:34: /log_index: 33 is beyond entries.jsonl (33 entries)");
        free(cut);
        /* entries 9 and 10 swapped (indexes kept): the roots differ */
        char *e9 = line_of(log, 10), *e10 = line_of(log, 11);
        char *e10as9 = subst(e10, "{\"log_index\":10,", "{\"log_index\":9,");
        char *e9as10 = subst(e9, "{\"log_index\":9,", "{\"log_index\":10,");
        char *half = replace_line(log, 10, e10as9);
        l = replace_line(half, 11, e9as10);
        inputs_t in4 = {keys, heads, l, NULL};
        CHECK_FAILS_WITH(&in4, "heads.jsonl:2: the root of the first 16 entries of entries.jsonl is not");
        inputs_t in5 = {keys, NULL, l, exp};
        CHECK_FAILS_WITH(&in5, "export.jsonl:10: /entry: differs from the entry at log_index 9 in entries.jsonl");
        /* entry 9 replaced by entry 10: a receipt in the log twice */
        char *dup = replace_line(log, 10, e10as9);
        inputs_t in7 = {keys, heads, dup, NULL};
        CHECK_FAILS_WITH(&in7, "entries.jsonl:11: /entry/receipt_hash: receipt_hash");
        CHECK(contains(last_failure, "is in the log twice (log indexes 9 and 10)"));
        free(l), free(half), free(dup), free(e9), free(e10), free(e10as9), free(e9as10);
        /* a bare entry per line is accepted */
        lx_strbuf_t bare;
        lx_strbuf_init(&bare, 1 << 24);
        for (uint64_t i = 0; i < fx.n; i++) {
            lx_strbuf_puts(&bare, fx.entry_json[i]);
            lx_strbuf_puts(&bare, "\n");
        }
        lx_strbuf_append(&bare, "", 1);
        inputs_t in6 = {keys, heads, bare.base, exp};
        CHECK(run(&in6) == 0);
        lx_strbuf_free(&bare);
    }
    free(l2), free(l3), free(keys), free(heads), free(log), free(exp);
    fx_free(&fx);
}

/* A log of hand-made entries for one lead digest; their tree goes into `fx` (fx_head signs a head of it). */
static char *sales_log(const char *spec, fx_t *fx)
{
    lx_strbuf_t sb, e;
    lx_strbuf_init(&sb, 1 << 20);
    lx_strbuf_init(&e, 4096);
    const char *digest = "ZGlnZXN0LWRpZ2VzdC1kaWdlc3QtZGlnZXN0LWRpZ2U";
    uint64_t i = 0;
    /* spec: a list of "S|R" "E|S" digit: sale/refund, exclusive/shared, share index */
    for (const char *p = spec; p[0] && p[1] && p[2]; p += 3) {
        char hash[LX_HASH_B64_LEN + 1];
        uint8_t raw[32];
        memset(raw, (int)i, sizeof(raw));
        lx_b64url_encode(raw, 32, hash);
        lx_strbuf_reset(&e);
        lx_log_entry_canon(p[0] == 'S' ? "sale" : "refund", hash, digest, p[1] == 'E' ? "exclusive" : "shared", p[2] - '0', &e);
        lx_hash_t leaf;
        lx_merkle_leaf_hash(e.base, e.len, &leaf);
        lx_merkle_frontier_append(&fx->frontier, &leaf, fx_emit, fx);
        lx_strbuf_printf(&sb, "{\"log_index\":%" PRIu64 ",\"entry\":%.*s}\n", i++, (int)e.len, e.base);
    }
    lx_strbuf_append(&sb, "", 1);
    lx_strbuf_free(&e);
    return sb.base;
}

static void test_sale_counts(void)
{
    fx_t fx;
    fx_init(&fx, 1);
    char *keys = z(&fx.keys);
    struct {
        const char *spec, *failure;
    } cases[] = {
        {"SE0SE0", NULL},                          /* one exclusive sale: buyer + webmaster */
        {"SE0SE0RE0RE0SE0SE0", NULL},              /* sold, refunded, sold again */
        {"SE0SE0SE0", "sold exclusively 2 times"}, /* three entries: at least two sales */
        {"SE0SE0SE0SE0", "sold exclusively 2 times"},
        {"SS1SS1SS2SS2SS3SS3", NULL}, /* three shared slots */
        {"SS1SS1SS1SS1", "shared slot 1 has 2 unrefunded sales"},
        {"SS1SS1SE0SE0", "sold exclusively and shared at once"},
        {"SS1SS1RS1RS1SE0SE0", NULL}, /* the shared sale refunded, then exclusive */
        {"SE0RE0RE0", "2 refund entries but 1 sale entries"},
        {"SE0", NULL}, /* a log that ends between a sale's two entries */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("sales %s", cases[i].spec);
        fx_t tree; /* the same key as fx (seeded), a tree of this log alone */
        fx_init(&tree, 1);
        char *log = sales_log(cases[i].spec, &tree);
        lx_strbuf_t head; /* the log is evidence only under a signed head (src/verify.h) */
        lx_strbuf_init(&head, 4096);
        fx_head(&tree, strlen(cases[i].spec) / 3, FX_T0_US + 1000000, &head);
        lx_strbuf_puts(&head, "\n");
        char *heads = z(&head);
        inputs_t in = {keys, heads, log, NULL};
        if (cases[i].failure == NULL) {
            CHECK(run(&in) == 0);
            if (last_failure[0]) fprintf(stderr, "  failure: %s\n", last_failure);
        } else {
            CHECK_FAILS_WITH(&in, cases[i].failure);
            CHECK(contains(last_failure, "entries.jsonl: lead_digest ZGlnZXN0"));
        }
        free(log), free(heads);
        lx_strbuf_free(&head);
        fx_free(&tree);
    }
    CHECK_CTX("sales: the log needs heads, and counts only what they cover");
    {
        fx_t tree;
        fx_init(&tree, 1);
        char *log = sales_log("SE0SE0SE0SE0", &tree); /* sold exclusively twice */
        inputs_t bare = {keys, NULL, log, NULL};
        CHECK_FAILS_WITH(&bare, "give the heads (--heads heads.jsonl)");
        lx_strbuf_t head;
        lx_strbuf_init(&head, 4096);
        fx_head(&tree, 2, FX_T0_US + 1000000, &head); /* a head of the first sale only */
        lx_strbuf_puts(&head, "\n");
        char *heads = z(&head);
        inputs_t first = {keys, heads, log, NULL};
        CHECK(run(&first) == 0);
        CHECK(contains(last_summary.base, "2 entries after the newest signed head, not counted"));
        free(log), free(heads);
        lx_strbuf_free(&head);
        fx_free(&tree);
    }
    free(keys);
    fx_free(&fx);
}

static void test_rotation(void)
{
    CHECK_CTX("two keys, rotated half way");
    fx_t fx;
    fx_init(&fx, 2);
    fx_build(&fx, 48, 8);
    char *keys = z(&fx.keys), *heads = z(&fx.heads), *log = z(&fx.entries), *exp = z(&fx.exportl);
    CHECK(contains(exp, fx.kid[0]) && contains(exp, fx.kid[1]));
    inputs_t in = {keys, heads, log, exp};
    CHECK(run(&in) == 0);
    if (last_failure[0]) fprintf(stderr, "  failure: %s\n", last_failure);
    CHECK(contains(last_summary.base, "keys: 2 (1 retired)"));
    /* the old key signing after its retirement: swap which key is retired */
    char *k = subst(keys, "\"not_after\": null", "\"not_after\": \"2026-05-28T00:00:00.000000Z\"");
    inputs_t in2 = {k, heads, log, exp};
    CHECK(run(&in2) == 1);
    free(k), free(keys), free(heads), free(log), free(exp);
    fx_free(&fx);
}

/* Flips every bit of line `n` of input `which`; each variant must fail. */
static void flip_all(const inputs_t *base, int which, size_t n, size_t stride)
{
    const char *docs[4] = {base->keys, base->heads, base->log, base->exp};
    char *line = line_of(docs[which], n);
    size_t len = strlen(line), undetected = 0, tried = 0;
    for (size_t i = 0; i < len; i += stride) {
        for (int bit = 0; bit < 8; bit++) {
            char *t = strdup(line);
            t[i] = (char)(t[i] ^ (1 << bit));
            if (t[i] == '\0' || t[i] == '\n') { /* the line would end here: a different line, still bad */
                free(t);
                continue;
            }
            char *doc = replace_line(docs[which], n, t);
            inputs_t in = *base;
            if (which == 1) in.heads = doc;
            if (which == 2) in.log = doc;
            if (which == 3) in.exp = doc;
            tried++;
            if (run(&in) == 0) {
                undetected++;
                if (undetected < 5) fprintf(stderr, "  undetected flip at byte %zu bit %d: %s\n", i, bit, t);
            }
            free(doc);
            free(t);
        }
    }
    CHECK_EQ_INT(undetected, 0);
    CHECK(tried > 0);
    free(line);
}

static void test_bit_flips(void)
{
    fx_t fx;
    fx_init(&fx, 1);
    fx_build(&fx, 12, 4);
    char *keys = z(&fx.keys), *heads = z(&fx.heads), *log = z(&fx.entries), *exp = z(&fx.exportl);
    /* one line of each: only the flipped input and what it is checked against */
    CHECK_CTX("flips in a sale receipt line");
    char *one = line_of(exp, 2);
    inputs_t r = {keys, heads, log, one};
    flip_all(&r, 3, 1, 1);
    CHECK_CTX("flips in a head line");
    inputs_t h = {keys, heads, log, NULL};
    flip_all(&h, 1, 2, 1);
    CHECK_CTX("flips in a log entry line");
    inputs_t l = {keys, heads, log, NULL};
    flip_all(&l, 2, 3, 1);
    free(one), free(keys), free(heads), free(log), free(exp);
    fx_free(&fx);
}

/* Every tree size from 1 to 40: every leaf's proof verifies; a proof with a hash missing, one too many, two swapped
 * or its index moved is refused. (The verifier has its own memoised copy of RFC 9162's inclusion check.) */
static void test_proof_shapes(void)
{
    fx_t key;
    fx_init(&key, 1);
    char *keys = z(&key.keys);
    for (uint64_t n = 1; n <= 40; n++) {
        CHECK_CTX("tree size %" PRIu64, n);
        fx_t fx;
        fx_init(&fx, 1);
        fx_build(&fx, n, 0);
        char *exp = z(&fx.exportl);
        inputs_t in = {keys, NULL, NULL, exp};
        CHECK(run(&in) == 0);
        if (last_failure[0]) fprintf(stderr, "  failure: %s\n", last_failure);
        for (uint64_t i = 0; i < n; i += 3) {
            char *l = line_of(exp, i + 1);
            char *hashes = strstr(l, "\"hashes\":[") + 10, *end = strchr(hashes, ']');
            size_t nh = 0;
            for (char *q = hashes; q < end; q++) nh += *q == '"';
            nh /= 2;
            char *variants[4] = {NULL, NULL, NULL, NULL};
            if (nh > 0) { /* the last hash dropped: the text from its comma (or the first quote) to the ']' */
                size_t first = (size_t)(hashes - l), close = (size_t)(end - l), from = close;
                while (from > first && l[from] != ',') from--;
                variants[0] = malloc(strlen(l) + 8);
                sprintf(variants[0], "%.*s%s", (int)from, l, end);
            }
            { /* one hash too many */
                char extra[64];
                snprintf(extra, sizeof(extra), "%s\"%s\"]", nh ? "," : "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
                variants[1] = malloc(strlen(l) + 64);
                sprintf(variants[1], "%.*s%s%s", (int)(end - l), l, extra, end + 1);
            }
            if (nh >= 2) { /* the first two swapped */
                variants[2] = strdup(l);
                char *h0 = variants[2] + (hashes - l) + 1, tmp[43];
                memcpy(tmp, h0, 43);
                memcpy(h0, h0 + 46, 43);
                memcpy(h0 + 46, tmp, 43);
            }
            if (n > 1) { /* another index, with its tree size kept */
                char from[96], to[96];
                snprintf(from, sizeof(from), "\"log_index\":%" PRIu64 ",\"inclusion_proof\":{\"log_index\":%" PRIu64, i, i);
                snprintf(to, sizeof(to), "\"log_index\":%" PRIu64 ",\"inclusion_proof\":{\"log_index\":%" PRIu64, (i + 1) % n,
                         (i + 1) % n);
                variants[3] = subst(l, from, to);
            }
            for (int k = 0; k < 4; k++) {
                if (variants[k] == NULL) continue;
                CHECK_CTX("tree size %" PRIu64 ", leaf %" PRIu64 ", variant %d", n, i, k);
                char doc[16384];
                snprintf(doc, sizeof(doc), "%s\n", variants[k]);
                inputs_t bad = {keys, NULL, NULL, doc};
                CHECK_FAILS_WITH(&bad, "export.jsonl:1: /inclusion_proof");
                free(variants[k]);
            }
            free(l);
        }
        free(exp);
        fx_free(&fx);
    }
    free(keys);
    fx_free(&key);
}

/* The last character of a proof hash in each of its 64 forms: exactly the ones lx_b64url_decode_exact accepts are
 * read (and then only the original proves anything); the verifier's own base64 decoder must agree. */
static void test_hash_encodings(void)
{
    fx_t fx;
    fx_init(&fx, 1);
    fx_build(&fx, 8, 0);
    char *keys = z(&fx.keys), *l = line_of(fx.exportl.base, 3);
    char *h = strstr(l, "\"hashes\":[\"") + 11; /* the first hash's characters */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char orig = h[42];
    for (int i = 0; i < 64; i++) {
        CHECK_CTX("last character %c", alphabet[i]);
        h[42] = alphabet[i];
        uint8_t raw[32];
        int decodes = lx_b64url_decode_exact(h, 43, raw, 32) == 0;
        char doc[16384];
        snprintf(doc, sizeof(doc), "%s\n", l);
        inputs_t in = {keys, NULL, NULL, doc};
        if (alphabet[i] == orig) {
            CHECK(run(&in) == 0);
        } else if (decodes) {
            CHECK_FAILS_WITH(&in, "/inclusion_proof: does not prove");
        } else {
            CHECK_FAILS_WITH(&in, "/inclusion_proof/hashes/0: must be a SHA-256 hash in unpadded base64url");
        }
    }
    h[42] = orig;
    for (int c = 1; c < 256; c++) { /* any other byte in the middle */
        if (strchr(alphabet, c) != NULL || c == '"' || c == '\\' || c == '\n') continue;
        CHECK_CTX("byte %d", c);
        char save = h[10];
        h[10] = (char)c;
        char doc[16384];
        snprintf(doc, sizeof(doc), "%s\n", l);
        inputs_t in = {keys, NULL, NULL, doc};
        CHECK(run(&in) == 1);
        h[10] = save;
    }
    free(l), free(keys);
    fx_free(&fx);
}

/* The receipt object is parsed as strictly as lx_json_parse would: duplicate keys, numbers out of range, reals,
 * nesting; and a byte-different but equal JSON value (escapes, spacing, member order) is the same receipt. */
static void test_receipt_json(void)
{
    fx_t fx;
    fx_init(&fx, 1);
    fx_build(&fx, 8, 0);
    char *keys = z(&fx.keys), *l = line_of(fx.exportl.base, 2);
    struct {
        const char *from, *to, *failure; /* failure NULL: still verifies */
    } cases[] = {
        {"\"niche\":\"loans\"", "\"niche\":\"lo\\u0061ns\"", NULL},
        {"\"region\":\"US-CA\"", "\"region\" : \"US\\u002dCA\" ", NULL},
        {"{\"body\":{", "{ \"body\" :\t{ ", NULL},
        {"\"mode\":\"exclusive\",", "\"mode\":\"exclusive\",\"mode\":\"exclusive\",", "duplicate object key"},
        {"\"amount\":-2500", "\"amount\":-2500.0", "/receipt/body/amount"},
        {"\"amount\":-2500", "\"amount\":-99999999999999999999", "/receipt/body/amount: is out of range"},
        {"\"v\":1", "\"v\":1,\"x\":[[[[[[[[[[1]]]]]]]]]]", "nested too deeply"},
        {"\"v\":1", "\"v\":1,\"x\":{\"a\":[true,false,null,\"\\ud83d\\ude00\"]}", "/receipt/body/x"},
        {"\"niche\":\"loans\"", "\"niche\":\"lo\\u0000ns\"", "not valid JSON"},
        {"\"niche\":\"loans\"", "\"niche\":\"lo\\ud800ns\"", "not valid JSON"},
        {"\"niche\":\"loans\"", "\"niche\":\"lo\xc3ns\"", "not valid JSON"},
        {"\"niche\":\"loans\"", "\"niche\":\"lo\tns\"", "not valid JSON"},
        {"\"niche\":\"loans\"", "\"niche\":\"loans\",", "not valid JSON"},
        {"\"v\":1", "\"v\":01", "not valid JSON"},
        {"\"amount\":-2500", "\"amount\":1e999", "/receipt/body/amount: is out of range"},
        {"\"amount\":-2500", "\"amount\":-1e-999", "/receipt/body/amount"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("receipt JSON case %zu: %s", i, cases[i].to);
        char *line = subst(l, cases[i].from, cases[i].to);
        CHECK(strcmp(line, l) != 0);
        char doc[16384];
        snprintf(doc, sizeof(doc), "%s\n", line);
        inputs_t in = {keys, NULL, NULL, doc};
        if (cases[i].failure == NULL) {
            CHECK(run(&in) == 0);
            if (last_failure[0]) fprintf(stderr, "  failure: %s\n", last_failure);
        } else {
            CHECK_FAILS_WITH(&in, cases[i].failure);
            CHECK(contains(last_failure, "export.jsonl:1: "));
        }
        free(line);
    }
    free(l), free(keys);
    fx_free(&fx);
}

static void test_state(void)
{
    CHECK_CTX("order and finality");
    lx_verify_t *v = lx_verify_new();
    lx_error_t err;
    lx_error_init(&err);
    CHECK(lx_verify_line(v, LX_VERIFY_RECEIPTS, 1, "{}", 2, &err) != LX_OK);
    CHECK(contains(lx_verify_failure(v), "the keys must come first"));
    CHECK(lx_verify_finish(v, &err) != LX_OK); /* the first failure stays */
    CHECK(contains(lx_verify_failure(v), "the keys must come first"));
    lx_verify_free(v);
    v = lx_verify_new();
    CHECK(lx_verify_keys(v, "{\"keys\": []}", 12, &err) != LX_OK);
    lx_verify_free(v);
    v = lx_verify_new();
    CHECK(lx_verify_keys(v, "{\"keys\": [", 10, &err) != LX_OK);
    CHECK(contains(lx_verify_failure(v), "keys"));
    lx_verify_free(v);
}

static int run_main(int argc, char **argv)
{
    fflush(stdout);
    return lx_verify_main(argc, argv);
}

static void write_file(const char *path, const lx_strbuf_t *sb)
{
    FILE *f = fopen(path, "wb");
    if (sb->len > 0) fwrite(sb->base, 1, sb->len, f);
    fclose(f);
}

static void test_command(void)
{
    CHECK_CTX("the command");
    char dir[] = "/tmp/lx-verify-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    fx_t fx;
    fx_init(&fx, 1);
    fx_build(&fx, 16, 4);
    char kp[256], ep[256], hp[256], lp[256];
    snprintf(kp, sizeof(kp), "%s/keys.json", dir);
    snprintf(ep, sizeof(ep), "%s/export.jsonl", dir);
    snprintf(hp, sizeof(hp), "%s/heads.jsonl", dir);
    snprintf(lp, sizeof(lp), "%s/entries.jsonl", dir);
    write_file(kp, &fx.keys);
    write_file(ep, &fx.exportl);
    write_file(hp, &fx.heads);
    write_file(lp, &fx.entries);
    char *ok[] = {"--keys", kp, "--receipts", ep, "--heads", hp, "--log", lp};
    CHECK_EQ_INT(run_main(8, ok), 0);
    char ke[300], ee[300];
    snprintf(ke, sizeof(ke), "--keys=%s", kp);
    snprintf(ee, sizeof(ee), "--receipts=%s", ep);
    char *eq[] = {ke, ee};
    CHECK_EQ_INT(run_main(2, eq), 0);
    char *help[] = {"--help"};
    CHECK_EQ_INT(run_main(1, help), 0);
    char *none[] = {NULL};
    CHECK_EQ_INT(run_main(0, none), 2);
    char *missing[] = {"--keys", kp};
    CHECK_EQ_INT(run_main(2, missing), 2);
    char *unknown[] = {"--keys", kp, "--receipts", ep, "--frobnicate"};
    CHECK_EQ_INT(run_main(5, unknown), 2);
    char *twice[] = {"--keys", kp, "--receipts", ep, "--keys", kp};
    CHECK_EQ_INT(run_main(6, twice), 2);
    char *nofile[] = {"--keys", "/nonexistent/keys.json", "--receipts", ep};
    CHECK_EQ_INT(run_main(4, nofile), 2);
    char *novalue[] = {"--keys", kp, "--receipts"};
    CHECK_EQ_INT(run_main(3, novalue), 2);
    /* a failure: exit 1 */
    fx.exportl.base[100] ^= 1;
    write_file(ep, &fx.exportl);
    CHECK_EQ_INT(run_main(8, ok), 1);
    /* an empty receipts file verifies (nothing to check) */
    lx_strbuf_t empty = {0};
    write_file(ep, &empty);
    CHECK_EQ_INT(run_main(8, ok), 0);
    unlink(kp), unlink(ep), unlink(hp), unlink(lp), rmdir(dir);
    fx_free(&fx);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    lx_strbuf_init(&last_summary, 1 << 24);
    test_state();
    test_valid();
    test_named_failures();
    test_sale_counts();
    test_rotation();
    test_proof_shapes();
    test_hash_encodings();
    test_receipt_json();
    test_command();
    test_bit_flips();
    lx_strbuf_free(&last_summary);
    return check_summary();
}
