/*
 * The account resource as the API shows it: the columns to select and their
 * JSON rendering. One definition, used by the account endpoints and by the
 * auth cache (which keeps the rendered account so GET /v1/me needs no query).
 */
#ifndef LX_AUTH_ACCOUNT_H
#define LX_AUTH_ACCOUNT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#define LX_ACCOUNT_COLS  "id, role, name, currency, status, rate_limit, created_at, updated_at, credit_limit"
#define LX_ACCOUNT_NCOLS 9

/* The largest amount of money (minor units) a request body may carry: 2^53 - 1, so every JSON reader, doubles
 * included, holds it exactly. Credit limits and deposits are checked against it. */
#define LX_AMOUNT_MAX ((int64_t)9007199254740991)

/* Renders the LX_ACCOUNT_COLS columns starting at col0 of `row`. `credit_limit` (minor units) is an advertiser's
 * only: other roles render it as null (their column holds the default 0 and means nothing). */
json_t *lx_account_json(const PGresult *r, int row, int col0);

#endif
