/*
 * Unit tests for src/config.h: defaults and their validation under each
 * sub-command mask, LEADX_* environment overrides, --name VALUE and
 * --name=VALUE flags (consumed, the rest compacted in order), rejection of
 * out-of-range and non-numeric values naming the variable or flag in
 * err.fields[0].field, cross-field validation (TLS, log level, key dir), and
 * lx_config_parse_hostport on good and bad inputs.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

extern char **environ;

/* The test must not depend on the caller's environment. */
static void clear_leadx_env(void)
{
    for (;;) {
        char name[128] = "";
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "LEADX_", 6) == 0) {
                size_t n = strcspn(*e, "=");
                if (n < sizeof(name)) {
                    memcpy(name, *e, n);
                    name[n] = '\0';
                }
                break;
            }
        }
        if (name[0] == '\0') return;
        unsetenv(name);
    }
}

static void test_defaults(void)
{
    lx_config_t cfg;
    lx_error_t err;
    lx_config_init(&cfg);
    CHECK_EQ_STR(cfg.database_url, "");
    CHECK_EQ_STR(cfg.listen, "127.0.0.1:8080");
    CHECK_EQ_STR(cfg.tls_listen, "");
    CHECK_EQ_STR(cfg.key_dir, "var/keys");
    CHECK_EQ_STR(cfg.access_log, "-");
    CHECK_EQ_STR(cfg.log_level, "info");
    /* every integer default was in range (lx_config_init drops out-of-range defaults silently, leaving 0) */
    CHECK_EQ_INT(cfg.threads, 0);
    CHECK_EQ_INT(cfg.db_pool_size, 4);
    CHECK_EQ_INT(cfg.db_pipeline_depth, 16);
    CHECK_EQ_INT(cfg.db_queue_max, 8192);
    CHECK_EQ_INT(cfg.max_body_bytes, 1048576);
    CHECK_EQ_INT(cfg.max_header_bytes, 16384);
    CHECK_EQ_INT(cfg.json_max_depth, 32);
    CHECK_EQ_INT(cfg.rate_limit, 20000);
    CHECK_EQ_INT(cfg.rate_burst, 0);
    CHECK_EQ_INT(cfg.auth_cache_ttl_ms, 300000);
    CHECK_EQ_INT(cfg.shutdown_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.statement_timeout_ms, 10000);

    /* serve and keys need nothing more; db needs a database URL */
    static const struct {
        unsigned mask;
        lx_status_t want;
    } masks[] = {
        {LX_CFG_SERVE, LX_OK},
        {LX_CFG_KEYS, LX_OK},
        {LX_CFG_DB, LX_ERR_INVALID_PARAMETER},
        {LX_CFG_SERVE | LX_CFG_DB, LX_ERR_INVALID_PARAMETER},
        {LX_CFG_SERVE | LX_CFG_DB | LX_CFG_KEYS, LX_ERR_INVALID_PARAMETER},
    };
    for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        CHECK_CTX("mask %u", masks[i].mask);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_validate(&cfg, masks[i].mask, &err), masks[i].want);
        if (masks[i].want == LX_OK) {
            CHECK_EQ_INT(err.nfields, 0);
        } else if (CHECK_EQ_INT(err.nfields, 1)) {
            CHECK_EQ_STR(err.fields[0].field, "LEADX_DATABASE_URL");
        }
    }
    CHECK_CTX("%s", "");
    /* with a URL every mask validates */
    free(cfg.database_url);
    cfg.database_url = strdup("postgresql:///leadx");
    for (unsigned mask = 1; mask <= 7; mask++) {
        CHECK_CTX("mask %u with url", mask);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_validate(&cfg, mask, &err), LX_OK);
    }
    CHECK_CTX("%s", "");
    lx_config_free(&cfg);
    CHECK(cfg.listen == NULL && cfg.database_url == NULL);
}

static void test_env(void)
{
    lx_config_t cfg;
    lx_error_t err;
    lx_config_init(&cfg);
    setenv("LEADX_THREADS", "4", 1);
    setenv("LEADX_DB_POOL_SIZE", "64", 1);
    setenv("LEADX_AUTH_CACHE_TTL_MS", "0", 1);
    setenv("LEADX_LISTEN", "[::1]:9090", 1);
    setenv("LEADX_DATABASE_URL", "postgresql://u@h/db", 1);
    lx_error_init(&err);
    CHECK_EQ_INT(lx_config_load_env(&cfg, &err), LX_OK);
    CHECK_EQ_INT(err.nfields, 0);
    CHECK_EQ_INT(cfg.threads, 4);
    CHECK_EQ_INT(cfg.db_pool_size, 64);
    CHECK_EQ_INT(cfg.auth_cache_ttl_ms, 0);
    CHECK_EQ_STR(cfg.listen, "[::1]:9090");
    CHECK_EQ_STR(cfg.database_url, "postgresql://u@h/db");
    CHECK_EQ_INT(cfg.rate_limit, 20000); /* untouched */
    lx_error_init(&err);
    CHECK_EQ_INT(lx_config_validate(&cfg, LX_CFG_SERVE | LX_CFG_DB, &err), LX_OK);
    CHECK_EQ_INT(lx_config_threads(&cfg), 4);
    lx_config_free(&cfg);
    clear_leadx_env();

    /* rejected values name the variable */
    static const struct {
        const char *var, *value;
    } bad[] = {
        {"LEADX_THREADS", "abc"},
        {"LEADX_THREADS", "257"},
        {"LEADX_THREADS", "-1"},
        {"LEADX_THREADS", "4x"},
        {"LEADX_THREADS", ""},
        {"LEADX_THREADS", "4.0"},
        {"LEADX_THREADS", "0x10"},
        {"LEADX_THREADS", "99999999999999999999"},
        {"LEADX_DB_POOL_SIZE", "0"},
        {"LEADX_DB_POOL_SIZE", "65"},
        {"LEADX_JSON_MAX_DEPTH", "1"},
        {"LEADX_MAX_BODY_BYTES", "1023"},
        {"LEADX_RATE_LIMIT", "100000001"},
        {"LEADX_AUTH_CACHE_TTL_MS", "-5"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("%s=%s", bad[i].var, bad[i].value);
        lx_config_init(&cfg);
        setenv(bad[i].var, bad[i].value, 1);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_load_env(&cfg, &err), LX_ERR_INVALID_PARAMETER);
        CHECK_EQ_INT(err.status, LX_ERR_INVALID_PARAMETER);
        if (CHECK(err.nfields >= 1)) CHECK_EQ_STR(err.fields[0].field, bad[i].var);
        CHECK(strstr(err.detail, bad[i].var) != NULL);
        unsetenv(bad[i].var);
        lx_config_free(&cfg);
    }
    CHECK_CTX("%s", "");

    /* range ends are accepted */
    lx_config_init(&cfg);
    setenv("LEADX_THREADS", "256", 1);
    setenv("LEADX_JSON_MAX_DEPTH", "2", 1);
    lx_error_init(&err);
    CHECK_EQ_INT(lx_config_load_env(&cfg, &err), LX_OK);
    CHECK_EQ_INT(cfg.threads, 256);
    CHECK_EQ_INT(cfg.json_max_depth, 2);
    lx_config_free(&cfg);
    clear_leadx_env();
}

static void test_args(void)
{
    lx_config_t cfg;
    lx_error_t err;

    /* both spellings consumed, everything else kept in order */
    {
        char *argv[] = {"serve",        "--threads", "4", "extra", "--db-pool-size=8", "--unknown", "x", "--listen=0.0.0.0:80",
                        "--threadsx=1", "-",         NULL};
        int argc = 10;
        lx_config_init(&cfg);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_load_args(&cfg, LX_CFG_SERVE, &argc, argv, &err), LX_OK);
        CHECK_EQ_INT(cfg.threads, 4);
        CHECK_EQ_INT(cfg.db_pool_size, 8);
        CHECK_EQ_STR(cfg.listen, "0.0.0.0:80");
        if (CHECK_EQ_INT(argc, 6)) {
            CHECK_EQ_STR(argv[0], "serve");
            CHECK_EQ_STR(argv[1], "extra");
            CHECK_EQ_STR(argv[2], "--unknown");
            CHECK_EQ_STR(argv[3], "x");
            CHECK_EQ_STR(argv[4], "--threadsx=1");
            CHECK_EQ_STR(argv[5], "-");
        }
        lx_config_free(&cfg);
    }
    /* a flag outside the mask is not consumed */
    {
        char *argv[] = {"keygen", "--threads=4", "--key-dir", "/tmp/k", NULL};
        int argc = 4;
        lx_config_init(&cfg);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_load_args(&cfg, LX_CFG_KEYS, &argc, argv, &err), LX_OK);
        CHECK_EQ_INT(cfg.threads, 0);
        CHECK_EQ_STR(cfg.key_dir, "/tmp/k");
        if (CHECK_EQ_INT(argc, 2)) CHECK_EQ_STR(argv[1], "--threads=4");
        lx_config_free(&cfg);
    }
    /* flags override the environment, and the last flag wins */
    {
        char *argv[] = {"serve", "--threads=2", "--threads", "3", NULL};
        int argc = 4;
        setenv("LEADX_THREADS", "7", 1);
        lx_config_init(&cfg);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_load_env(&cfg, &err), LX_OK);
        CHECK_EQ_INT(cfg.threads, 7);
        CHECK_EQ_INT(lx_config_load_args(&cfg, LX_CFG_SERVE, &argc, argv, &err), LX_OK);
        CHECK_EQ_INT(cfg.threads, 3);
        CHECK_EQ_INT(argc, 1);
        lx_config_free(&cfg);
        unsetenv("LEADX_THREADS");
    }
    /* the value of a flag is taken verbatim, even when it looks like a flag */
    {
        char *argv[] = {"serve", "--access-log", "--threads=9", NULL};
        int argc = 3;
        lx_config_init(&cfg);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_load_args(&cfg, LX_CFG_SERVE, &argc, argv, &err), LX_OK);
        CHECK_EQ_STR(cfg.access_log, "--threads=9");
        CHECK_EQ_INT(cfg.threads, 0);
        CHECK_EQ_INT(argc, 1);
        lx_config_free(&cfg);
    }

    /* rejected flags name the flag */
    static const struct {
        const char *a, *b; /* b NULL = single argument */
        const char *field;
    } bad[] = {
        {"--threads=abc", NULL, "--threads"},
        {"--threads", "abc", "--threads"},
        {"--threads=257", NULL, "--threads"},
        {"--threads", "-1", "--threads"},
        {"--threads=", NULL, "--threads"},
        {"--threads", NULL, "--threads"},
        {"--db-pool-size=0", NULL, "--db-pool-size"},
        {"--rate-burst=1e3", NULL, "--rate-burst"},
        {"--statement-timeout-ms", NULL, "--statement-timeout-ms"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_CTX("%s %s", bad[i].a, bad[i].b ? bad[i].b : "");
        char *argv[4] = {"serve", (char *)bad[i].a, (char *)bad[i].b, NULL};
        int argc = bad[i].b ? 3 : 2;
        lx_config_init(&cfg);
        lx_error_init(&err);
        CHECK_EQ_INT(lx_config_load_args(&cfg, LX_CFG_SERVE, &argc, argv, &err), LX_ERR_INVALID_PARAMETER);
        if (CHECK(err.nfields >= 1)) CHECK_EQ_STR(err.fields[0].field, bad[i].field);
        CHECK(strstr(err.detail, bad[i].field) != NULL);
        lx_config_free(&cfg);
    }
    CHECK_CTX("%s", "");
}

static void test_validate(void)
{
    static const struct {
        const char *what;
        const char *tls_listen, *tls_cert, *tls_key, *listen, *log_level, *access_log, *key_dir;
        unsigned mask;
        const char *field; /* NULL = valid */
    } cases[] = {
        {"tls without cert", "127.0.0.1:8443", "", "", NULL, NULL, NULL, NULL, LX_CFG_SERVE, "LEADX_TLS_CERT"},
        {"tls without key", "127.0.0.1:8443", "c.pem", "", NULL, NULL, NULL, NULL, LX_CFG_SERVE, "LEADX_TLS_CERT"},
        {"tls complete", "127.0.0.1:8443", "c.pem", "k.pem", NULL, NULL, NULL, NULL, LX_CFG_SERVE, NULL},
        {"tls bad address", "8443", "c.pem", "k.pem", NULL, NULL, NULL, NULL, LX_CFG_SERVE, "LEADX_TLS_LISTEN"},
        {"tls ignored by keys", "127.0.0.1:8443", "", "", NULL, NULL, NULL, NULL, LX_CFG_KEYS, NULL},
        {"bad listen", NULL, NULL, NULL, "localhost", NULL, NULL, NULL, LX_CFG_SERVE, "LEADX_LISTEN"},
        {"bad port", NULL, NULL, NULL, "localhost:65536", NULL, NULL, NULL, LX_CFG_SERVE, "LEADX_LISTEN"},
        {"v6 listen", NULL, NULL, NULL, "[::]:8080", NULL, NULL, NULL, LX_CFG_SERVE, NULL},
        {"bad log level", NULL, NULL, NULL, NULL, "verbose", NULL, NULL, LX_CFG_KEYS, "LEADX_LOG_LEVEL"},
        {"debug log level", NULL, NULL, NULL, NULL, "debug", NULL, NULL, LX_CFG_SERVE, NULL},
        {"empty access log", NULL, NULL, NULL, NULL, NULL, "", NULL, LX_CFG_SERVE, "LEADX_ACCESS_LOG"},
        {"access log off", NULL, NULL, NULL, NULL, NULL, "off", NULL, LX_CFG_SERVE, NULL},
        {"empty key dir (serve)", NULL, NULL, NULL, NULL, NULL, NULL, "", LX_CFG_SERVE, "LEADX_KEY_DIR"},
        {"empty key dir (keys)", NULL, NULL, NULL, NULL, NULL, NULL, "", LX_CFG_KEYS, "LEADX_KEY_DIR"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("%s", cases[i].what);
        lx_config_t cfg;
        lx_config_init(&cfg);
#define SET(f)                                                                                                                     \
    if (cases[i].f != NULL) {                                                                                                      \
        free(cfg.f);                                                                                                               \
        cfg.f = strdup(cases[i].f);                                                                                                \
    }
        SET(tls_listen)
        SET(tls_cert)
        SET(tls_key)
        SET(listen)
        SET(log_level)
        SET(access_log)
        SET(key_dir)
#undef SET
        lx_error_t err;
        lx_error_init(&err);
        lx_status_t st = lx_config_validate(&cfg, cases[i].mask, &err);
        if (cases[i].field == NULL) {
            CHECK_EQ_INT(st, LX_OK);
            CHECK_EQ_INT(err.nfields, 0);
        } else {
            CHECK_EQ_INT(st, LX_ERR_INVALID_PARAMETER);
            if (CHECK_EQ_INT(err.nfields, 1)) CHECK_EQ_STR(err.fields[0].field, cases[i].field);
        }
        lx_config_free(&cfg);
    }
    CHECK_CTX("%s", "");

    /* every problem is reported at once */
    lx_config_t cfg;
    lx_config_init(&cfg);
    free(cfg.listen);
    cfg.listen = strdup("nope");
    free(cfg.log_level);
    cfg.log_level = strdup("loud");
    lx_error_t err;
    lx_error_init(&err);
    CHECK_EQ_INT(lx_config_validate(&cfg, LX_CFG_SERVE | LX_CFG_DB, &err), LX_ERR_INVALID_PARAMETER);
    CHECK_EQ_INT(err.nfields, 3);
    lx_config_free(&cfg);
}

static void test_hostport(void)
{
    static const struct {
        const char *in;
        int ok;
        const char *host;
        int port;
    } cases[] = {
        {"127.0.0.1:8080", 0, "127.0.0.1", 8080},
        {"localhost:1", 0, "localhost", 1},
        {"[::1]:8080", 0, "::1", 8080},
        {"[::]:443", 0, "::", 443},
        {"[fe80::1%eth0]:80", 0, "fe80::1%eth0", 80},
        {":8080", 0, "", 8080},
        {"0.0.0.0:0", 0, "0.0.0.0", 0},
        {"h:65535", 0, "h", 65535},
        {"h:65536", -1, NULL, 0},
        {"h:99999999999999999999", -1, NULL, 0},
        {"h:-1", -1, NULL, 0},
        {"h:80x", -1, NULL, 0},
        {"h:8.0", -1, NULL, 0},
        {"host:", -1, NULL, 0},
        {"host", -1, NULL, 0},
        {"8080", -1, NULL, 0},
        {"", -1, NULL, 0},
        {":", -1, NULL, 0},
        {"::1:8080", -1, NULL, 0},
        {"[::1]", -1, NULL, 0},
        {"[::1]8080", -1, NULL, 0},
        {"[::1]:", -1, NULL, 0},
        {"[::1:8080", -1, NULL, 0},
        {"a:b:80", -1, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_CTX("\"%s\"", cases[i].in);
        char host[64];
        uint16_t port = 7;
        int r = lx_config_parse_hostport(cases[i].in, host, sizeof(host), &port);
        CHECK_EQ_INT(r, cases[i].ok);
        if (r == 0 && cases[i].ok == 0) {
            CHECK_EQ_STR(host, cases[i].host);
            CHECK_EQ_INT(port, cases[i].port);
        }
    }
    CHECK_CTX("%s", "");

    /* host length against the buffer: hostlen - 1 fits, hostlen does not */
    char in[64], host[16];
    uint16_t port;
    memset(in, 'h', 15);
    memcpy(in + 15, ":80", 4);
    CHECK_EQ_INT(lx_config_parse_hostport(in, host, sizeof(host), &port), 0);
    CHECK_EQ_INT(strlen(host), 15);
    memset(in, 'h', 16);
    memcpy(in + 16, ":80", 4);
    CHECK_EQ_INT(lx_config_parse_hostport(in, host, sizeof(host), &port), -1);
    in[0] = '[';
    memset(in + 1, 'a', 16);
    memcpy(in + 17, "]:80", 5);
    CHECK_EQ_INT(lx_config_parse_hostport(in, host, sizeof(host), &port), -1);
}

int main(void)
{
    clear_leadx_env();
    test_defaults();
    test_env();
    test_args();
    test_validate();
    test_hostport();
    return check_summary();
}
