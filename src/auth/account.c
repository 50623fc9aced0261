#include "auth/account.h"

#include "util/time.h"

#include <stdlib.h>
#include <string.h>

json_t *lx_account_json(const PGresult *r, int row, int c)
{
    json_t *rate = PQgetisnull(r, row, c + 5) ? json_null() : json_integer(strtoll(PQgetvalue(r, row, c + 5), NULL, 10));
    const char *role = PQgetvalue(r, row, c + 1);
    json_t *credit = strcmp(role, "advertiser") == 0 ? json_integer(strtoll(PQgetvalue(r, row, c + 8), NULL, 10)) : json_null();
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id", PQgetvalue(r, row, c), "role", role, "name",
                     PQgetvalue(r, row, c + 2), "currency", PQgetvalue(r, row, c + 3), "status", PQgetvalue(r, row, c + 4),
                     "rate_limit", rate, "credit_limit", credit, "created_at", lx_ts_json(r, row, c + 6), "updated_at",
                     lx_ts_json(r, row, c + 7));
}
