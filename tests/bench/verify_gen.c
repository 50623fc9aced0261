/*
 * verify_gen — writes a synthetic export for `leadx verify` (tests/unit/verify_fixture.h): N receipts signed as the
 * server signs them (deposits, exclusive and shared sales, refunds, settlements), their log entries, a signed tree
 * head every N/100 receipts and one at the end, and each receipt's inclusion proof against the last head.
 * tests/bench/verify.sh builds it against the build's liblxcore.a:
 *
 *   verify_gen DIR N [KEYS]   -> DIR/keys.json DIR/export.jsonl DIR/heads.jsonl DIR/entries.jsonl
 *
 * KEYS = 2 rotates the signing key half way (two keys, the first retired).
 */
#include "verify_fixture.h"

#include <stdio.h>
#include <stdlib.h>

static int write_file(const char *dir, const char *name, const lx_strbuf_t *sb)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(sb->base, 1, sb->len, f) != sb->len || fclose(f) != 0) {
        fprintf(stderr, "verify_gen: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || sodium_init() < 0) {
        fprintf(stderr, "usage: verify_gen DIR N [KEYS]\n");
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    int nkeys = argc > 3 ? atoi(argv[3]) : 1;
    fx_t fx;
    fx_init(&fx, nkeys == 2 ? 2 : 1);
    fx_build(&fx, n, n >= 100 ? n / 100 : 0);
    int rc = write_file(argv[1], "keys.json", &fx.keys) || write_file(argv[1], "export.jsonl", &fx.exportl) ||
             write_file(argv[1], "heads.jsonl", &fx.heads) || write_file(argv[1], "entries.jsonl", &fx.entries);
    if (rc == 0) printf("wrote %" PRIu64 " receipts (%zu bytes of export) to %s\n", n, fx.exportl.len, argv[1]);
    fx_free(&fx);
    return rc ? 1 : 0;
}
