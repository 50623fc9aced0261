/*
 * Prometheus metrics. Each event-loop thread owns one lx_metrics_t and is its
 * only writer (relaxed atomic load+store, no lock, no shared cache line);
 * /metrics sums every thread's counters at read time.
 */
#ifndef LX_HTTP_METRICS_H
#define LX_HTTP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define LX_METRICS_MAX_ROUTES 64
#define LX_METRICS_NBUCKETS   14

typedef struct st_lx_metrics_t {
    _Atomic uint64_t requests[LX_METRICS_MAX_ROUTES][600];
    _Atomic uint64_t latency_buckets[LX_METRICS_MAX_ROUTES][LX_METRICS_NBUCKETS];
    _Atomic uint64_t latency_sum_us[LX_METRICS_MAX_ROUTES];
    _Atomic uint64_t latency_count[LX_METRICS_MAX_ROUTES];
    _Atomic uint64_t auth_cache_hits, auth_cache_misses;
} lx_metrics_t;

static inline void lx_metrics_inc(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by, memory_order_relaxed);
}

/* Route index: 0 .. LX_METRICS_MAX_ROUTES-1; status 100..599 (others counted as 500). */
void lx_metrics_observe(lx_metrics_t *m, size_t route, int status, uint64_t duration_us);

/* A route's label pair for the exposition: method + pattern. */
typedef struct st_lx_metrics_route_label_t {
    const char *method;
    const char *route;
} lx_metrics_route_label_t;

/* Sums `n` per-thread metrics and appends the HTTP and auth families to `out`. */
void lx_metrics_render(lx_metrics_t *const *per_thread, size_t n, const lx_metrics_route_label_t *labels, size_t nroutes,
                       lx_strbuf_t *out);

#endif
