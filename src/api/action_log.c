/*
 * Appending operator actions (api/action_log.h). One prepared statement; the
 * chain (seq, time, prev_hash, hash) is the database's work, under the lock of
 * its chain head, so concurrent operators on any number of server processes
 * still build one chain.
 */
#include "api/action_log.h"

#include <stdlib.h>
#include <string.h>

/* clang-format off */
LX_DB_STMT(action_log_insert, 4, LX_ACTION_LOG_INSERT("$1", "$2", "$3", "$4"));
/* clang-format on */

const char *lx_action_log_details(lx_async_t *a, json_t *details)
{
    if (details == NULL) return lx_async_dup(a, "{}", 2);
    char *s = json_dumps(details, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(details);
    if (s == NULL) abort(); /* only out of memory: details are small objects built by the handlers */
    const char *copy = lx_async_dup(a, s, strlen(s));
    free(s);
    return copy;
}

void lx_action_log_add_as(lx_async_t *a, const char *operator_id, const char *action, const char *target, json_t *details)
{
    lx_db_call_t *c = lx_db_job_add(&a->job, &action_log_insert);
    lx_db_param(c, 0, lx_async_dup(a, operator_id, strlen(operator_id)));
    lx_db_param(c, 1, lx_async_dup(a, action, strlen(action)));
    lx_db_param(c, 2, lx_async_dup(a, target, strlen(target)));
    lx_db_param(c, 3, lx_action_log_details(a, details));
}

void lx_action_log_add(lx_async_t *a, const lx_req_t *lr, const char *action, const char *target, json_t *details)
{
    lx_action_log_add_as(a, lr->who.account_id_str, action, target, details);
}
