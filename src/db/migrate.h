/*
 * Schema migrations: migrations/NNNN_name.sql, compiled into the binary,
 * applied in order, each in its own transaction, recorded with a SHA-256
 * checksum. A file whose checksum differs from the recorded one is refused
 * (history is not rewritten). A session advisory lock makes concurrent
 * `leadx migrate` runs safe. Runs on the CLI thread only (blocking libpq).
 */
#ifndef LX_DB_MIGRATE_H
#define LX_DB_MIGRATE_H

#include <stddef.h>

#include "util/error.h"

typedef struct st_lx_migration_t {
    const char *name; /* "0001_foundation.sql" */
    const char *sql;
    size_t len;
} lx_migration_t;

extern const lx_migration_t lx_migrations[];
extern const size_t lx_migrations_count;

/* Applies pending migrations; prints one line per applied file. */
lx_status_t lx_migrate_apply(const char *conninfo, lx_error_t *err);
/* LX_OK when every embedded migration is applied with a matching checksum and no unknown one is recorded. */
lx_status_t lx_migrate_check(const char *conninfo, lx_error_t *err);

#endif
