#include "http/metrics.h"

#include <stdlib.h>

static const uint64_t bucket_bounds_us[LX_METRICS_NBUCKETS - 1] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
                                                                   100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const bucket_labels[LX_METRICS_NBUCKETS] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                                               "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "+Inf"};

void lx_metrics_observe(lx_metrics_t *m, size_t route, int status, uint64_t duration_us)
{
    if (route >= LX_METRICS_MAX_ROUTES) route = 0;
    if (status < 100 || status > 599) status = 500;
    lx_metrics_inc(&m->requests[route][status], 1);
    size_t b = 0;
    while (b < LX_METRICS_NBUCKETS - 1 && duration_us > bucket_bounds_us[b]) b++;
    lx_metrics_inc(&m->latency_buckets[route][b], 1);
    lx_metrics_inc(&m->latency_sum_us[route], duration_us);
    lx_metrics_inc(&m->latency_count[route], 1);
}

static uint64_t sum(lx_metrics_t *const *pt, size_t n, size_t offset)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += atomic_load_explicit((_Atomic uint64_t *)((char *)pt[i] + offset), memory_order_relaxed);
    return s;
}

#define SUM(field) sum(per_thread, n, offsetof(lx_metrics_t, field))

void lx_metrics_render(lx_metrics_t *const *per_thread, size_t n, const lx_metrics_route_label_t *labels, size_t nroutes,
                       lx_strbuf_t *out)
{
    lx_strbuf_puts(out, "# HELP leadx_http_requests_total HTTP requests answered, by route and status.\n"
                        "# TYPE leadx_http_requests_total counter\n");
    for (size_t r = 0; r < nroutes; r++) {
        for (int s = 100; s < 600; s++) {
            uint64_t v = SUM(requests[r][s]);
            if (v != 0)
                lx_strbuf_printf(out, "leadx_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n", labels[r].route,
                                 labels[r].method, s, (unsigned long long)v);
        }
    }
    lx_strbuf_puts(out, "# HELP leadx_http_request_duration_seconds Time from request to response, by route.\n"
                        "# TYPE leadx_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < nroutes; r++) {
        uint64_t count = SUM(latency_count[r]);
        if (count == 0) continue;
        uint64_t cumulative = 0;
        for (size_t b = 0; b < LX_METRICS_NBUCKETS; b++) {
            cumulative += SUM(latency_buckets[r][b]);
            lx_strbuf_printf(out, "leadx_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%s\"} %llu\n",
                             labels[r].route, labels[r].method, bucket_labels[b], (unsigned long long)cumulative);
        }
        uint64_t us = SUM(latency_sum_us[r]);
        lx_strbuf_printf(out, "leadx_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %llu.%06llu\n", labels[r].route,
                         labels[r].method, (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
        lx_strbuf_printf(out, "leadx_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n", labels[r].route,
                         labels[r].method, (unsigned long long)count);
    }
    lx_strbuf_printf(out,
                     "# HELP leadx_auth_cache_hits_total API-key look-ups answered from the per-thread cache.\n"
                     "# TYPE leadx_auth_cache_hits_total counter\nleadx_auth_cache_hits_total %llu\n"
                     "# HELP leadx_auth_cache_misses_total API-key look-ups that went to the database.\n"
                     "# TYPE leadx_auth_cache_misses_total counter\nleadx_auth_cache_misses_total %llu\n",
                     (unsigned long long)SUM(auth_cache_hits), (unsigned long long)SUM(auth_cache_misses));
}
