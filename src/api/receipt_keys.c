/*
 * GET /v1/receipts/keys (public): every receipt-signing public key the
 * deployment has used, with its validity, as `leadx verify --keys` reads it.
 * The rows come from receipt_keys, which every server fills from its key
 * directory's registry at start and on every rotation it sees while serving
 * (keys.h lx_keys_publish, billing/keywatch.h), so a key retired by a rotation
 * stays listed with its not_after and old receipts keep verifying.
 */
#include "api/handlers.h"
#include "util/time.h"

LX_DB_STMT(rkeys_select, 0, "SELECT key_id, public_key, not_before, not_after FROM receipt_keys ORDER BY not_before, key_id");

static int on_keys(lx_req_t *lr, lx_async_t *a)
{
    if (a->job.status != LX_DB_OK) {
        lx_respond_db_failure(lr, &a->job);
        return 0;
    }
    const PGresult *r = a->job.results[0];
    json_t *keys = json_array();
    for (int i = 0, n = PQntuples(r); i < n; i++)
        json_array_append_new(keys,
                              json_pack("{s:s, s:s, s:o, s:o}", "key_id", PQgetvalue(r, i, 0), "public_key", PQgetvalue(r, i, 1),
                                        "not_before", lx_ts_json(r, i, 2), "not_after", lx_ts_json(r, i, 3)));
    lx_respond_json(lr, 200, json_pack("{s:o}", "keys", keys));
    return 0;
}

void lx_api_receipt_keys(lx_req_t *lr)
{
    lx_async_t *a = lx_async_new(lr, on_keys);
    lx_db_job_add(&a->job, &rkeys_select);
    lx_async_submit(a);
}
