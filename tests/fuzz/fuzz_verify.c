/*
 * libFuzzer target: the offline verifier's parsers (src/verify.h), the same code `leadx verify` runs.
 *
 * Input: one mode byte, then the rest.
 *   mode & 3 == 0: the rest is a keys document (lx_verify_keys), then lx_verify_finish.
 *   otherwise: the rest is lines fed after a fixed keys document (one key from a fixed seed, the key the seed corpus
 *   is signed with); each line's first byte routes it: 'H' a heads line, 'L' a log line, anything else a receipts
 *   line (the byte is dropped). Bit 2 of the mode declares a heads input, bit 3 a log input (so the cross-checks
 *   run: a receipt's head among the heads, entries against the log, roots recomputed, sales counted).
 * Checks: no crash or leak; a failure is final (later calls fail with the same message), names a place ("<input>"
 * or "<input>:<line>") and leaves a non-empty message; a verifier that finished without failure renders a summary.
 */
#include "verify.h"
#include "../unit/verify_fixture.h"

#include <stdint.h>
#include <string.h>

#include "fuzz.h"

static char keys_doc[4096];
static size_t keys_len;

static void init_once(void)
{
    if (keys_len > 0) return;
    FUZZ_ASSERT(sodium_init() >= 0);
    fx_t fx;
    fx_init(&fx, 1);
    FUZZ_ASSERT(fx.keys.len < sizeof(keys_doc));
    memcpy(keys_doc, fx.keys.base, fx.keys.len);
    keys_len = fx.keys.len;
    fx_free(&fx);
}

static void check_failure(lx_verify_t *v, lx_status_t st, const lx_error_t *err)
{
    FUZZ_ASSERT(st == err->status);
    if (st == LX_OK) return;
    const char *f = lx_verify_failure(v);
    FUZZ_ASSERT(f != NULL && f[0] != '\0');
    FUZZ_ASSERT(strncmp(f, "keys", 4) == 0 || strncmp(f, "heads", 5) == 0 || strncmp(f, "log", 3) == 0 ||
                strncmp(f, "receipts", 8) == 0);
    char copy[2048];
    snprintf(copy, sizeof(copy), "%s", f);
    lx_error_t again;
    lx_error_init(&again);
    FUZZ_ASSERT(lx_verify_line(v, LX_VERIFY_RECEIPTS, 99, "{}", 2, &again) != LX_OK);
    FUZZ_ASSERT(strcmp(copy, lx_verify_failure(v)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size == 0) return 0;
    unsigned mode = data[0];
    const char *rest = (const char *)data + 1;
    size_t len = size - 1;
    lx_verify_t *v = lx_verify_new();
    lx_error_t err;
    lx_error_init(&err);
    lx_status_t st;
    if ((mode & 3) == 0) {
        st = lx_verify_keys(v, rest, len, &err);
        check_failure(v, st, &err);
    } else {
        if (mode & 4) lx_verify_source(v, LX_VERIFY_HEADS, "heads");
        if (mode & 8) lx_verify_source(v, LX_VERIFY_LOG, "log");
        st = lx_verify_keys(v, keys_doc, keys_len, &err);
        FUZZ_ASSERT(st == LX_OK);
        size_t lineno = 0;
        const char *p = rest, *end = rest + len;
        while (st == LX_OK && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl != NULL ? nl : end;
            lineno++;
            lx_verify_input_t in = LX_VERIFY_RECEIPTS;
            if (le > p && *p == 'H') in = LX_VERIFY_HEADS;
            if (le > p && *p == 'L') in = LX_VERIFY_LOG;
            const char *b = le > p ? p + 1 : p;
            st = lx_verify_line(v, in, lineno, b, (size_t)(le - b), &err);
            check_failure(v, st, &err);
            p = nl != NULL ? nl + 1 : end;
        }
    }
    if (st == LX_OK) {
        st = lx_verify_finish(v, &err);
        check_failure(v, st, &err);
    }
    if (st == LX_OK) {
        lx_strbuf_t out;
        lx_strbuf_init(&out, 1 << 24);
        lx_verify_summary(v, &out);
        FUZZ_ASSERT(out.len > 0 && !out.overflow);
        lx_strbuf_free(&out);
    }
    lx_verify_free(v);
    return 0;
}
