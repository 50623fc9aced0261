/*
 * Configuration: one table of settings (name, environment variable, type,
 * default, range, unit, help), read from defaults, then LEADX_* variables,
 * then --flags, and validated once at start-up. `--help` prints the table, so
 * the help text cannot drift from what the code reads.
 */
#ifndef LX_CONFIG_H
#define LX_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct st_lx_config_t {
    char *database_url;
    char *listen;
    char *tls_listen;
    char *tls_cert;
    char *tls_key;
    char *key_dir;
    char *access_log;
    char *log_level;
    int64_t threads;
    int64_t db_pool_size;
    int64_t db_pipeline_depth;
    int64_t db_queue_max;
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    int64_t json_max_depth;
    int64_t rate_limit;
    int64_t rate_burst;
    int64_t auth_cache_ttl_ms;
    int64_t shutdown_timeout_ms;
    int64_t statement_timeout_ms;
    int64_t intake_batch_max;
    int64_t intake_batch_wait_ms;
    int64_t intake_batches_in_flight;
    int64_t batch_max_body_bytes;
    int64_t sequencer_interval_ms;
    int64_t settle_interval_ms;
    int64_t claim_sweep_interval_ms;
} lx_config_t;

/* Which sub-commands read a setting (for --help). */
enum { LX_CFG_SERVE = 1, LX_CFG_DB = 2, LX_CFG_KEYS = 4 };

/* Fills defaults. */
void lx_config_init(lx_config_t *cfg);
/* Applies LEADX_* variables from `envp`-style lookups via getenv. Returns LX_OK or a validation error naming the variable. */
lx_status_t lx_config_load_env(lx_config_t *cfg, lx_error_t *err);
/*
 * Consumes recognised --name VALUE / --name=VALUE flags from argv (only settings whose mask intersects `mask`),
 * compacting the rest into argv[0..*argc). Returns LX_OK or an error naming the flag.
 */
lx_status_t lx_config_load_args(lx_config_t *cfg, unsigned mask, int *argc, char **argv, lx_error_t *err);
/* Cross-field validation (ranges are checked as values are read). */
lx_status_t lx_config_validate(const lx_config_t *cfg, unsigned mask, lx_error_t *err);
void lx_config_print_help(unsigned mask);
void lx_config_free(lx_config_t *cfg);

/* Splits "host:port" / "[v6]:port"; host "" means any. Returns 0 or -1. */
int lx_config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);
/* Effective worker thread count (threads == 0 -> number of online CPUs). */
int lx_config_threads(const lx_config_t *cfg);

#endif
