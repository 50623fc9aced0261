#include "db/migrate.h"

#include <libpq-fe.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define MIGRATION_LOCK_ID "7401029384756"

static void checksum_hex(const lx_migration_t *m, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)m->sql, m->len, d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static PGconn *connect_db(const char *conninfo, lx_error_t *err)
{
    const char *keys[] = {"dbname", "application_name", "options", NULL};
    const char *vals[] = {conninfo, "leadx-migrate", "-c client_min_messages=warning", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        lx_error_set(err, LX_ERR_DB_UNAVAILABLE, "cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static int exec_ok(PGconn *pg, const char *sql, lx_error_t *err, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) lx_error_set(err, LX_ERR_INTERNAL, "%s: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static const char create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " name text PRIMARY KEY,"
                                   " checksum text NOT NULL,"
                                   " applied_at timestamptz NOT NULL DEFAULT now())";

/* Compares recorded migrations with the embedded ones. Returns the number of pending files, or -1. */
static int compare(PGconn *pg, int *pending_from, lx_error_t *err)
{
    PGresult *r = PQexec(pg, "SELECT name, checksum FROM schema_migrations ORDER BY name");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        lx_error_set(err, LX_ERR_INTERNAL, "cannot read schema_migrations: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        const char *name = PQgetvalue(r, i, 0);
        if ((size_t)i >= lx_migrations_count || strcmp(name, lx_migrations[i].name) != 0) {
            lx_error_set(err, LX_ERR_INTERNAL,
                         "the database has migration %s which this build does not know; is this binary older than the schema?",
                         name);
            PQclear(r);
            return -1;
        }
        char sum[65];
        checksum_hex(&lx_migrations[i], sum);
        if (strcmp(sum, PQgetvalue(r, i, 1)) != 0) {
            lx_error_set(err, LX_ERR_INTERNAL,
                         "migration %s was changed after it was applied (checksum %s, recorded %s); "
                         "applied migrations must not be edited: add a new one",
                         name, sum, PQgetvalue(r, i, 1));
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    *pending_from = n;
    return (int)lx_migrations_count - n;
}

lx_status_t lx_migrate_apply(const char *conninfo, lx_error_t *err)
{
    PGconn *pg = connect_db(conninfo, err);
    if (pg == NULL) return err->status;
    lx_status_t rc = LX_ERR_INTERNAL;
    if (!exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATION_LOCK_ID ")", err, "advisory lock")) goto out;
    if (!exec_ok(pg, create_table, err, "create schema_migrations")) goto unlock;
    int from;
    int pending = compare(pg, &from, err);
    if (pending < 0) goto unlock;
    for (size_t i = (size_t)from; i < lx_migrations_count; i++) {
        const lx_migration_t *m = &lx_migrations[i];
        char sum[65];
        checksum_hex(m, sum);
        if (!exec_ok(pg, "BEGIN", err, "begin")) goto unlock;
        /* Multi-statement SQL text must go through the simple protocol: PQexec, no parameters. */
        if (!exec_ok(pg, m->sql, err, m->name)) {
            PQclear(PQexec(pg, "ROLLBACK"));
            goto unlock;
        }
        const char *params[2] = {m->name, sum};
        PGresult *r =
            PQexecParams(pg, "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", 2, NULL, params, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok || !exec_ok(pg, "COMMIT", err, "commit")) {
            if (!ok) lx_error_set(err, LX_ERR_INTERNAL, "cannot record migration %s", m->name);
            PQclear(PQexec(pg, "ROLLBACK"));
            goto unlock;
        }
        printf("applied %s\n", m->name);
    }
    if (pending == 0) printf("database is up to date (%zu migrations)\n", lx_migrations_count);
    rc = LX_OK;
unlock:
    PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_ID ")"));
out:
    PQfinish(pg);
    return rc;
}

lx_status_t lx_migrate_check(const char *conninfo, lx_error_t *err)
{
    PGconn *pg = connect_db(conninfo, err);
    if (pg == NULL) return err->status;
    lx_status_t rc = LX_ERR_INTERNAL;
    PGresult *r = PQexec(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    int has_table = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    int from;
    int pending = has_table ? compare(pg, &from, err) : (int)lx_migrations_count;
    if (pending > 0)
        lx_error_set(err, LX_ERR_INTERNAL, "the database is not migrated: %d of %zu migrations pending; run `leadx migrate`",
                     pending, lx_migrations_count);
    else if (pending == 0)
        rc = LX_OK;
    PQfinish(pg);
    return rc;
}
