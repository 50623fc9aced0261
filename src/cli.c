/*
 * Sub-commands. Everything here runs on the main thread before (or instead
 * of) the event loops, so blocking libpq is allowed.
 */
#include "cli.h"
#include "auth/apikey.h"
#include "auth/cache.h"
#include "config.h"
#include "db/migrate.h"
#include "http/server.h"
#include "keys.h"
#include "leads/regions.h"
#include "util/id.h"
#include "util/log.h"
#include "verify.h"

#ifdef LEADX_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define LEADX_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "leadx %s — lead-exchange marketplace server\n\n"
            "Usage: leadx <command> [options]\n\n"
            "Commands:\n"
            "  serve      run the HTTP/1.1 + HTTP/2 API server\n"
            "  migrate    apply pending database migrations\n"
            "  keygen     create missing key files (receipt signing, data encryption, dedupe, API-key hashing);\n"
            "             keygen --rotate replaces the receipt-signing key (old public keys stay published)\n"
            "  accounts   accounts create --role operator --name NAME [--currency CUR]: prints a new key once\n"
            "  verify     verify exported receipts, proofs, tree heads and log entries offline:\n"
            "             verify --keys keys.json --receipts export.jsonl [--heads heads.jsonl] [--log entries.jsonl]\n\n"
            "`leadx --version` prints the version and the memory allocator linked in.\n"
            "`leadx <command> --help` lists the command's settings. Every setting is also read from its LEADX_*\n"
            "environment variable; flags win over the environment.\n",
            LEADX_VERSION);
}

static int is_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

static void print_error(const lx_error_t *err)
{
    fprintf(stderr, "leadx: %s\n", err->detail);
    for (size_t i = 0; i < err->nfields; i++) fprintf(stderr, "  %s: %s\n", err->fields[i].field, err->fields[i].message);
}

/* Loads env + flags for `mask`; anything left over in argv is an error unless extra_ok. */
static int load_config(lx_config_t *cfg, unsigned mask, int *argc, char **argv, int extra_ok)
{
    lx_error_t err;
    lx_error_init(&err);
    lx_config_init(cfg);
    if (lx_config_load_env(cfg, &err) != LX_OK || lx_config_load_args(cfg, mask, argc, argv, &err) != LX_OK ||
        lx_config_validate(cfg, mask, &err) != LX_OK) {
        print_error(&err);
        return -1;
    }
    if (!extra_ok && *argc > 0) {
        fprintf(stderr, "leadx: unknown argument %s (see --help)\n", argv[0]);
        return -1;
    }
    lx_log_level_t lvl;
    if (lx_log_parse_level(cfg->log_level, &lvl) == 0) lx_log_set_level(lvl);
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        printf("Usage: leadx serve [settings]\n\nServes the API until SIGTERM/SIGINT (graceful: in-flight requests finish).\n"
               "Refuses to start on a database that is not fully migrated.\n\n");
        lx_config_print_help(LX_CFG_SERVE);
        return 0;
    }
    lx_config_t cfg;
    if (load_config(&cfg, LX_CFG_SERVE | LX_CFG_DB, &argc, argv, 0) != 0) return 2;
    lx_error_t err;
    lx_error_init(&err);
    lx_keys_t *keys = NULL;
    lx_regions_t *regions = NULL;
    int rc = 1;
    if (lx_keys_load(cfg.key_dir, &keys, &err) != LX_OK || lx_migrate_check(cfg.database_url, &err) != LX_OK ||
        lx_keys_publish(cfg.database_url, keys, &err) != LX_OK || lx_regions_load(cfg.database_url, &regions, &err) != LX_OK) {
        print_error(&err);
        goto out;
    }
    rc = lx_server_run(&cfg, keys, regions);
out:
    lx_regions_free(regions);
    lx_keys_free(keys);
    lx_config_free(&cfg);
    return rc;
}

static int cmd_migrate(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        printf("Usage: leadx migrate [settings]\n\nApplies the migrations compiled into this binary, in order, each in a\n"
               "transaction; refuses if an applied migration was edited. Safe to run concurrently.\n\n");
        lx_config_print_help(LX_CFG_DB);
        return 0;
    }
    lx_config_t cfg;
    if (load_config(&cfg, LX_CFG_DB, &argc, argv, 0) != 0) return 2;
    lx_error_t err;
    lx_error_init(&err);
    int rc = 0;
    if (lx_migrate_apply(cfg.database_url, &err) != LX_OK) {
        print_error(&err);
        rc = 1;
    }
    lx_config_free(&cfg);
    return rc;
}

/* Removes a valueless --name from argv; returns 1 when it was there. */
static int take_switch(int *argc, char **argv, const char *name)
{
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            memmove(argv + i, argv + i + 1, (size_t)(*argc - i - 1) * sizeof(char *));
            (*argc)--;
            return 1;
        }
    }
    return 0;
}

static int cmd_keygen(int argc, char **argv)
{
    if (is_help(argc, argv)) {
        printf("Usage: leadx keygen [--rotate] [settings]\n\n"
               "Creates every missing key file in the key directory (mode 0600): receipt-signing.key, data.key,\n"
               "dedupe.key, apikey-hash.key, and receipt-keys.json, the public registry of receipt-signing keys (the\n"
               "document GET /v1/receipts/keys publishes). Existing key files are never overwritten.\n\n"
               "  --rotate   replace the receipt-signing key: a new key signs from now on (not_before = now), the\n"
               "             current key is retired (not_after = now + 10 s) but stays in the registry, and the retired\n"
               "             secret key is overwritten and deleted. data.key, dedupe.key and apikey-hash.key are not\n"
               "             touched. Running servers switch to the new key within a second (no restart); the 10 s\n"
               "             grace keeps what they signed with the old key until then valid.\n\n");
        lx_config_print_help(LX_CFG_KEYS);
        return 0;
    }
    int rotate = take_switch(&argc, argv, "--rotate");
    lx_config_t cfg;
    if (load_config(&cfg, LX_CFG_KEYS, &argc, argv, 0) != 0) return 2;
    lx_error_t err;
    lx_error_init(&err);
    int rc = 0;
    if ((rotate ? lx_keys_rotate(cfg.key_dir, &err) : lx_keys_generate_missing(cfg.key_dir, &err)) != LX_OK) {
        print_error(&err);
        rc = 1;
    }
    lx_config_free(&cfg);
    return rc;
}

static const char *take_flag(int *argc, char **argv, const char *name)
{
    for (int i = 0; i < *argc; i++) {
        size_t n = strlen(name);
        const char *v = NULL;
        int consumed = 0;
        if (strcmp(argv[i], name) == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            consumed = 2;
        } else if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
            v = argv[i] + n + 1;
            consumed = 1;
        }
        if (v != NULL) {
            memmove(argv + i, argv + i + consumed, (size_t)(*argc - i - consumed) * sizeof(char *));
            *argc -= consumed;
            return v;
        }
    }
    return NULL;
}

static int cmd_accounts(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "create") != 0 || is_help(argc, argv)) {
        FILE *f = is_help(argc, argv) ? stdout : stderr;
        fprintf(f, "Usage: leadx accounts create --role operator|webmaster|advertiser --name NAME [--currency CUR] [settings]\n\n"
                   "Creates an account and its first API key and prints the key on stdout, once: it is stored only\n"
                   "as a keyed hash. This is how the first operator key is made.\n\n");
        if (f == stdout) lx_config_print_help(LX_CFG_DB);
        return f == stdout ? 0 : 2;
    }
    argc--, argv++;
    const char *role = take_flag(&argc, argv, "--role");
    const char *name = take_flag(&argc, argv, "--name");
    const char *currency = take_flag(&argc, argv, "--currency");
    if (currency == NULL) currency = "USD";
    if (role == NULL || lx_role_parse(role) == 0 || name == NULL || name[0] == '\0' || strlen(name) > 200) {
        fprintf(stderr, "leadx: --role operator|webmaster|advertiser and --name (1-200 chars) are required\n");
        return 2;
    }
    lx_config_t cfg;
    if (load_config(&cfg, LX_CFG_DB, &argc, argv, 0) != 0) return 2;
    lx_error_t err;
    lx_error_init(&err);
    lx_keys_t *keys = NULL;
    int rc = 1;
    PGconn *pg = NULL;
    if (lx_keys_load(cfg.key_dir, &keys, &err) != LX_OK || lx_migrate_check(cfg.database_url, &err) != LX_OK) {
        print_error(&err);
        goto out;
    }
    const char *ck[] = {"dbname", "application_name", NULL};
    const char *cv[] = {cfg.database_url, "leadx-cli", NULL};
    pg = PQconnectdbParams(ck, cv, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "leadx: cannot connect: %s", PQerrorMessage(pg));
        goto out;
    }
    lx_uuid_t account_id;
    char acct[LX_UUID_STRLEN + 1], keyid[LX_UUID_STRLEN + 1], token[LX_APIKEY_TOKEN_LEN + 1];
    lx_uuid_v7(&account_id);
    lx_uuid_format(&account_id, acct);
    lx_apikey_t key;
    uint8_t hash[LX_APIKEY_HASH_BYTES];
    lx_apikey_generate(&key);
    lx_uuid_format(&key.id, keyid);
    lx_apikey_hash(&key, keys->apikey_key, hash);
    const char *vals[6] = {acct, role, name, currency, keyid, (const char *)hash};
    int lens[6] = {0, 0, 0, 0, 0, sizeof(hash)};
    int fmts[6] = {0, 0, 0, 0, 0, 1};
    PGresult *r = PQexecParams(pg,
                               "WITH a AS (INSERT INTO accounts (id, role, name, currency) VALUES ($1::uuid, $2, $3, $4) "
                               "RETURNING id) INSERT INTO api_keys (id, account_id, hash, label) SELECT $5::uuid, a.id, $6, "
                               "'created by leadx accounts create' FROM a",
                               6, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "leadx: cannot create the account: %s", PQresultErrorMessage(r));
        PQclear(r);
        lx_apikey_wipe(&key);
        goto out;
    }
    PQclear(r);
    lx_apikey_format(&key, token);
    lx_apikey_wipe(&key);
    fprintf(stderr, "created %s account %s (%s); its API key follows, shown only this once:\n", role, acct, name);
    printf("%s\n", token);
    fflush(stdout);
    sodium_memzero(token, sizeof(token));
    rc = 0;
out:
    if (pg != NULL) PQfinish(pg);
    lx_keys_free(keys);
    lx_config_free(&cfg);
    return rc;
}

int lx_cli_main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "leadx: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("leadx %s\n", LEADX_VERSION);
#ifdef LEADX_JEMALLOC
        const char *version = NULL;
        size_t size = sizeof(version);
        if (mallctl("version", &version, &size, NULL, 0) == 0) printf("allocator: jemalloc %s\n", version);
#else
#if defined(__SANITIZE_ADDRESS__)
        printf("allocator: the C library's malloc, replaced by AddressSanitizer's in this build\n");
#else
        printf("allocator: the C library's malloc\n");
#endif
#endif
        return 0;
    }
    int sub_argc = argc - 2;
    char **sub_argv = argv + 2;
    if (strcmp(argv[1], "serve") == 0) return cmd_serve(sub_argc, sub_argv);
    if (strcmp(argv[1], "migrate") == 0) return cmd_migrate(sub_argc, sub_argv);
    if (strcmp(argv[1], "keygen") == 0) return cmd_keygen(sub_argc, sub_argv);
    if (strcmp(argv[1], "accounts") == 0) return cmd_accounts(sub_argc, sub_argv);
    if (strcmp(argv[1], "verify") == 0) return lx_verify_main(sub_argc, sub_argv);
    fprintf(stderr, "leadx: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
