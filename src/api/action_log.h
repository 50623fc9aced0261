/*
 * The operator action log (migrations/0007_audit.sql): every operator action
 * that changes money, prices, niches or accounts appends one row in the SAME
 * database transaction as the change, so the log holds exactly the changes
 * that committed. The database assigns seq and time and chains the hashes;
 * GET /v1/audit/actions lists the rows and the audit report recomputes the
 * chain.
 *
 * Two ways to write the row, both inside the change's job:
 *
 *  - lx_action_log_add appends one INSERT statement to the async's job. Use it
 *    when the change's statements either change something or fail the job
 *    (a deposit, an account or niche creation, a payout): the row then commits
 *    exactly when the change does.
 *  - LX_ACTION_LOG_INSERT is the same INSERT as SQL text for a data-modifying
 *    CTE over a change that may match no row (PATCH of an unknown id, a
 *    refused guard): `WITH u AS (UPDATE ... RETURNING ...), l AS (`
 *    LX_ACTION_LOG_INSERT("$7", "'thing.update'", "u.id::text", "$8") ` FROM u)
 *    SELECT ... FROM u`, so nothing is logged when nothing changed. The
 *    details parameter comes from lx_action_log_details.
 *
 * Order: add the log row after the change's own writes. The insert locks the
 * chain head until commit; taken last, it never waits while holding a lock
 * another writer needs (only other operator actions wait for it).
 *
 * Details never hold contact data, keys or tokens: amounts, references,
 * requested values, ids.
 */
#ifndef LX_API_ACTION_LOG_H
#define LX_API_ACTION_LOG_H

#include <jansson.h>

#include "http/request.h"

/* SQL of the insert for a CTE: `op`, `action`, `target`, `details` are SQL expressions (parameters, literals, columns);
 * the statement continues with FROM/WHERE. */
#define LX_ACTION_LOG_INSERT(op, action, target, details)                                                                          \
    "INSERT INTO operator_actions (operator_id, action, target, details) SELECT " op "::uuid, " action ", " target ", "            \
    "coalesce(" details "::jsonb, '{}')"

/*
 * Appends the log row of the caller's action to a->job: operator = lr's account, `action` a dotted lower-case name
 * ("deposit.create"), `target` what it acted on (an account id, a niche slug; 1-200 characters), `details` a JSON
 * object (stolen; NULL = {}). Strings are copied into `a`. Counts as one of the job's LX_DB_MAX_CALLS statements.
 */
void lx_action_log_add(lx_async_t *a, const lx_req_t *lr, const char *action, const char *target, json_t *details);

/* The same with an explicit operator id (background work acting on an operator's behalf). */
void lx_action_log_add_as(lx_async_t *a, const char *operator_id, const char *action, const char *target, json_t *details);

/* `details` (stolen; NULL = {}) as compact JSON text owned by `a`, for a LX_ACTION_LOG_INSERT parameter. */
const char *lx_action_log_details(lx_async_t *a, json_t *details);

#endif
