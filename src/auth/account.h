/*
 * The account resource as the API shows it: the columns to select and their
 * JSON rendering. One definition, used by the account endpoints and by the
 * auth cache (which keeps the rendered account so GET /v1/me needs no query).
 */
#ifndef LX_AUTH_ACCOUNT_H
#define LX_AUTH_ACCOUNT_H

#include <jansson.h>
#include <libpq-fe.h>

#define LX_ACCOUNT_COLS  "id, role, name, currency, status, rate_limit, created_at, updated_at"
#define LX_ACCOUNT_NCOLS 8

/* Renders the LX_ACCOUNT_COLS columns starting at col0 of `row`. */
json_t *lx_account_json(const PGresult *r, int row, int col0);

#endif
