#include "config.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { T_STRING, T_INT } setting_type_t;

typedef struct {
    const char *name; /* flag without "--"; env is LEADX_ + upper(name with - -> _) */
    setting_type_t type;
    size_t offset;
    const char *def;
    int64_t min, max;
    const char *unit;
    unsigned mask;
    const char *help;
} setting_t;

#define S(name, type, field, def, min, max, unit, mask, help)                                                                      \
    {                                                                                                                              \
        name, type, offsetof(lx_config_t, field), def, min, max, unit, mask, help                                                  \
    }

static const setting_t settings[] = {
    S("database-url", T_STRING, database_url, "", 0, 0, "", LX_CFG_DB | LX_CFG_SERVE, "PostgreSQL connection URI (libpq)"),
    S("listen", T_STRING, listen, "127.0.0.1:8080", 0, 0, "", LX_CFG_SERVE, "cleartext listener (HTTP/1.1, h2c), host:port"),
    S("tls-listen", T_STRING, tls_listen, "", 0, 0, "", LX_CFG_SERVE, "TLS listener (ALPN h2, http/1.1), host:port; empty = off"),
    S("tls-cert", T_STRING, tls_cert, "", 0, 0, "", LX_CFG_SERVE, "PEM certificate chain for the TLS listener"),
    S("tls-key", T_STRING, tls_key, "", 0, 0, "", LX_CFG_SERVE, "PEM private key for the TLS listener"),
    S("key-dir", T_STRING, key_dir, "var/keys", 0, 0, "", LX_CFG_SERVE | LX_CFG_KEYS | LX_CFG_DB,
      "directory holding the key files written by `leadx keygen`"),
    S("access-log", T_STRING, access_log, "-", 0, 0, "", LX_CFG_SERVE, "JSON-lines access log: - (stdout), a file path, or off"),
    S("log-level", T_STRING, log_level, "info", 0, 0, "", LX_CFG_SERVE | LX_CFG_DB | LX_CFG_KEYS, "debug, info, warn or error"),
    S("threads", T_INT, threads, "0", 0, 256, "", LX_CFG_SERVE, "event-loop threads; 0 = number of CPUs"),
    S("db-pool-size", T_INT, db_pool_size, "4", 1, 64, "connections", LX_CFG_SERVE, "PostgreSQL connections per thread"),
    S("db-pipeline-depth", T_INT, db_pipeline_depth, "16", 1, 1024, "transactions", LX_CFG_SERVE,
      "transactions in flight per connection (libpq pipeline mode)"),
    S("db-queue-max", T_INT, db_queue_max, "8192", 1, 1000000, "transactions", LX_CFG_SERVE,
      "transactions waiting for a connection per thread; beyond it 503"),
    S("max-body-bytes", T_INT, max_body_bytes, "1048576", 1024, 268435456, "bytes", LX_CFG_SERVE,
      "request body cap of ordinary routes (413 beyond)"),
    S("max-header-bytes", T_INT, max_header_bytes, "16384", 1024, 1048576, "bytes", LX_CFG_SERVE,
      "total request header size cap (431 beyond)"),
    S("json-max-depth", T_INT, json_max_depth, "32", 2, 256, "levels", LX_CFG_SERVE, "JSON nesting cap for request bodies"),
    S("rate-limit", T_INT, rate_limit, "20000", 0, 100000000, "requests/s", LX_CFG_SERVE,
      "default per-key rate limit; 0 = off; accounts may override"),
    S("rate-burst", T_INT, rate_burst, "0", 0, 100000000, "requests", LX_CFG_SERVE, "token bucket size; 0 = 2 x rate"),
    S("auth-cache-ttl-ms", T_INT, auth_cache_ttl_ms, "300000", 0, 86400000, "ms", LX_CFG_SERVE,
      "how long a cached API key is trusted without a database look-up (revocations are pushed by NOTIFY regardless)"),
    S("shutdown-timeout-ms", T_INT, shutdown_timeout_ms, "10000", 0, 600000, "ms", LX_CFG_SERVE,
      "grace period for in-flight requests on SIGTERM"),
    S("statement-timeout-ms", T_INT, statement_timeout_ms, "10000", 0, 3600000, "ms", LX_CFG_SERVE,
      "PostgreSQL statement_timeout of server connections"),
    S("intake-batch-max", T_INT, intake_batch_max, "256", 1, 10000, "leads", LX_CFG_SERVE,
      "leads per intake transaction (a batch request is never split, so one may exceed it)"),
    S("intake-batch-wait-ms", T_INT, intake_batch_wait_ms, "2", 0, 1000, "ms", LX_CFG_SERVE,
      "while an intake transaction is in flight on any thread, how long new leads wait for it to end before a further "
      "transaction starts beside it (the threads take turns; a lead arriving when none is in flight starts at once; 0: "
      "never wait for another thread's)"),
    S("intake-batches-in-flight", T_INT, intake_batches_in_flight, "1", 1, 64, "transactions", LX_CFG_SERVE,
      "intake transactions in flight per thread (each holds a pool connection); 1: leads that arrive during a batch wait for "
      "it and go together in the next, which measured faster than 2"),
    S("batch-max-body-bytes", T_INT, batch_max_body_bytes, "8388608", 65536, 268435456, "bytes", LX_CFG_SERVE,
      "request body cap of POST /v1/leads/batch (413 beyond)"),
    S("sequencer-interval-ms", T_INT, sequencer_interval_ms, "200", 10, 10000, "ms", LX_CFG_SERVE,
      "how often the receipt-log sequencer looks for new receipts (a full round of 20,000 goes on at once)"),
    S("settle-interval-ms", T_INT, settle_interval_ms, "5000", 10, 3600000, "ms", LX_CFG_SERVE,
      "how often settlement moves payouts whose return window has passed from pending to available (a full round of "
      "1,000 sales goes on at once)"),
    S("claim-sweep-interval-ms", T_INT, claim_sweep_interval_ms, "10000", 10, 3600000, "ms", LX_CFG_SERVE,
      "how often the sweep of expired dedupe claims deletes those of its next stretch of the claims table (at least 1,024 "
      "pages, and enough for a whole pass in 360 rounds: an hour at the default)"),
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static void env_name(const setting_t *s, char out[64])
{
    size_t n = (size_t)snprintf(out, 64, "LEADX_");
    for (const char *p = s->name; *p != '\0' && n < 63; p++)
        out[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    out[n] = '\0';
}

static lx_status_t assign(lx_config_t *cfg, const setting_t *s, const char *value, const char *origin, lx_error_t *err)
{
    void *field = (char *)cfg + s->offset;
    if (s->type == T_STRING) {
        char **p = field;
        free(*p);
        *p = lx_strdup(value);
        return LX_OK;
    }
    char *end;
    errno = 0;
    /* Digits only (an optional leading '-'): strtoll alone would accept " 4" and "+4". */
    long long v = (value[0] >= '0' && value[0] <= '9') || (value[0] == '-' && value[1] >= '0' && value[1] <= '9')
                      ? strtoll(value, &end, 10)
                      : (end = (char *)value, 0);
    if (errno != 0 || end == value || *end != '\0' || v < s->min || v > s->max) {
        lx_error_field(err, origin, "must be an integer between %lld and %lld", (long long)s->min, (long long)s->max);
        return lx_error_set(err, LX_ERR_INVALID_PARAMETER, "invalid value '%s' for %s", value, origin);
    }
    *(int64_t *)field = v;
    return LX_OK;
}

void lx_config_init(lx_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    lx_error_t err;
    lx_error_init(&err);
    for (size_t i = 0; i < NSETTINGS; i++) {
        lx_status_t st = assign(cfg, &settings[i], settings[i].def, settings[i].name, &err);
        (void)st; /* defaults are in range by construction; the config unit test asserts it */
    }
}

void lx_config_free(lx_config_t *cfg)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].type == T_STRING) {
            char **p = (char **)((char *)cfg + settings[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

lx_status_t lx_config_load_env(lx_config_t *cfg, lx_error_t *err)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        char name[64];
        env_name(&settings[i], name);
        const char *v = getenv(name);
        if (v != NULL && assign(cfg, &settings[i], v, name, err) != LX_OK) return err->status;
    }
    return LX_OK;
}

lx_status_t lx_config_load_args(lx_config_t *cfg, unsigned mask, int *argc, char **argv, lx_error_t *err)
{
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        const setting_t *hit = NULL;
        const char *value = NULL;
        if (strncmp(a, "--", 2) == 0) {
            for (size_t k = 0; k < NSETTINGS && hit == NULL; k++) {
                if (!(settings[k].mask & mask)) continue;
                size_t n = strlen(settings[k].name);
                if (strncmp(a + 2, settings[k].name, n) == 0 && (a[2 + n] == '\0' || a[2 + n] == '=')) {
                    hit = &settings[k];
                    value = a[2 + n] == '=' ? a + 3 + n : NULL;
                }
            }
        }
        if (hit == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        char flag[80];
        snprintf(flag, sizeof(flag), "--%s", hit->name);
        if (value == NULL) {
            if (i + 1 >= *argc) {
                lx_error_field(err, flag, "needs a value");
                return lx_error_set(err, LX_ERR_INVALID_PARAMETER, "%s needs a value", flag);
            }
            value = argv[++i];
        }
        if (assign(cfg, hit, value, flag, err) != LX_OK) return err->status;
    }
    *argc = out;
    return LX_OK;
}

int lx_config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') return -1;
        hlen = (size_t)(close - s - 1);
        if (hlen >= hostlen) return -1;
        memcpy(host, s + 1, hlen);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) return -1;
        hlen = (size_t)(colon - s);
        if (hlen >= hostlen || memchr(s, ':', hlen) != NULL) return -1;
        memcpy(host, s, hlen);
    }
    host[hlen] = '\0';
    char *end;
    errno = 0;
    if (colon[1] < '0' || colon[1] > '9') return -1;
    long p = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || p < 0 || p > 65535) return -1;
    *port = (uint16_t)p;
    return 0;
}

lx_status_t lx_config_validate(const lx_config_t *cfg, unsigned mask, lx_error_t *err)
{
    char host[256];
    uint16_t port;
    if (mask & LX_CFG_DB) {
        if (cfg->database_url[0] == '\0') lx_error_field(err, "LEADX_DATABASE_URL", "is required (or --database-url)");
    }
    if (mask & LX_CFG_SERVE) {
        if (lx_config_parse_hostport(cfg->listen, host, sizeof(host), &port) != 0)
            lx_error_field(err, "LEADX_LISTEN", "must be host:port, e.g. 127.0.0.1:8080");
        if (cfg->tls_listen[0] != '\0') {
            if (lx_config_parse_hostport(cfg->tls_listen, host, sizeof(host), &port) != 0)
                lx_error_field(err, "LEADX_TLS_LISTEN", "must be host:port, e.g. 127.0.0.1:8443");
            if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0')
                lx_error_field(err, "LEADX_TLS_CERT", "LEADX_TLS_CERT and LEADX_TLS_KEY are required with LEADX_TLS_LISTEN");
        }
        if (strcmp(cfg->access_log, "") == 0) lx_error_field(err, "LEADX_ACCESS_LOG", "must be -, off or a file path");
        if (cfg->intake_batches_in_flight >= cfg->db_pool_size)
            lx_error_field(err, "LEADX_INTAKE_BATCHES_IN_FLIGHT",
                           "must be below LEADX_DB_POOL_SIZE (each batch holds a connection; others need one too)");
    }
    lx_log_level_t lvl;
    if (lx_log_parse_level(cfg->log_level, &lvl) != 0) lx_error_field(err, "LEADX_LOG_LEVEL", "must be debug, info, warn or error");
    if (cfg->key_dir[0] == '\0' && (mask & (LX_CFG_KEYS | LX_CFG_SERVE))) lx_error_field(err, "LEADX_KEY_DIR", "must not be empty");
    if (err->nfields != 0) return lx_error_set(err, LX_ERR_INVALID_PARAMETER, "invalid configuration");
    return LX_OK;
}

int lx_config_threads(const lx_config_t *cfg)
{
    if (cfg->threads > 0) return (int)cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

void lx_config_print_help(unsigned mask)
{
    printf("Settings (flag / environment variable, default):\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        if (!(s->mask & mask)) continue;
        char env[64];
        env_name(s, env);
        printf("  --%s / %s  (default: %s%s%s)\n      %s", s->name, env, s->def[0] ? s->def : "\"\"", s->unit[0] ? " " : "",
               s->unit, s->help);
        if (s->type == T_INT) printf("; %lld..%lld", (long long)s->min, (long long)s->max);
        printf("\n");
    }
}
