/*
 * Per-key token buckets shared by every thread of a process (a client's
 * connections land on different threads, so a per-thread bucket would
 * multiply its allowance). Striped mutexes keep threads off each other's
 * locks. Each process enforces the limit on its own share of traffic.
 * Integer arithmetic only: tokens are counted in millionths.
 */
#ifndef LX_AUTH_RATELIMIT_H
#define LX_AUTH_RATELIMIT_H

#include <stdint.h>

#include "util/id.h"

typedef struct st_lx_ratelimit_t lx_ratelimit_t;

lx_ratelimit_t *lx_ratelimit_create(void);
void lx_ratelimit_destroy(lx_ratelimit_t *rl);
/*
 * Takes one token from the key's bucket (rate per second, burst tokens).
 * Returns 0 when allowed; otherwise the number of seconds to wait (>= 1).
 */
uint32_t lx_ratelimit_take(lx_ratelimit_t *rl, const lx_uuid_t *key_id, uint64_t rate, uint64_t burst, uint64_t now_us);

#endif
