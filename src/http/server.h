/*
 * The HTTP server: N event-loop threads, each with its own h2o context,
 * SO_REUSEPORT listeners (cleartext HTTP/1.1 + h2c, and TLS with ALPN h2 when
 * configured), its own database pool and its own auth cache. Threads share
 * only read-only configuration, the rate limiter and the route table.
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish (bounded by
 * shutdown-timeout-ms), close the database, exit 0.
 */
#ifndef LX_HTTP_SERVER_H
#define LX_HTTP_SERVER_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>

#include "auth/cache.h"
#include "auth/ratelimit.h"
#include "config.h"
#include "db/pool.h"
#include "http/metrics.h"
#include "http/router.h"
#include "keys.h"
#include "leads/intake.h"
#include "leads/niche.h"
#include "leads/regions.h"
#include "util/strbuf.h"

typedef struct st_lx_server_t lx_server_t;
typedef struct st_lx_listener_t lx_listener_t;
typedef struct st_lx_sequencer_t lx_sequencer_t;
typedef struct st_lx_claim_sweep_t lx_claim_sweep_t;

typedef struct st_lx_worker_t {
    h2o_context_t ctx;
    lx_server_t *server;
    size_t index;
    pthread_t tid;
    lx_db_t *db;
    lx_auth_cache_t auth;
    lx_niche_cache_t niches;
    lx_intake_t *intake;
    lx_metrics_t *metrics;
    h2o_multithread_receiver_t shutdown_rcv;
    h2o_multithread_receiver_t auth_rcv;
    /* the intake batchers take turns (leads/intake.h): another thread's last transaction ended */
    h2o_multithread_receiver_t intake_kick_rcv;
    h2o_multithread_message_t intake_kick_msg;
    _Atomic int intake_kick_pending, intake_waiting;
    h2o_socket_t *listeners[2];
    h2o_accept_ctx_t actx[2];
    size_t nconn;
    size_t inflight; /* requests accepted by the router and not yet answered */
    int stopping;
    lx_strbuf_t access_log;
    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick;
    int flushing_last_used;
    uint64_t ticks;
    /* pool gauges published by the owning thread each tick, read by /metrics on any thread */
    _Atomic uint64_t db_ready, db_busy, db_connecting, db_down, db_queue, db_queries;
} lx_worker_t;

struct st_lx_server_t {
    const lx_config_t *cfg;
    const lx_keys_t *keys;
    const lx_regions_t *regions;
    h2o_globalconf_t h2o;
    SSL_CTX *ssl;
    int listen_fds[2]; /* sockets made on the main thread to fail fast on a busy port; workers make their own */
    size_t nworkers;
    lx_worker_t *workers;
    _Atomic size_t intake_in_flight; /* every worker's intake transactions in flight */
    lx_ratelimit_t *ratelimit;
    int access_log_fd; /* -1 = off */
    const lx_route_t *routes;
    size_t nroutes;
    lx_metrics_route_label_t *labels; /* [nroutes + 1]; the last is "unmatched" */
    lx_listener_t *listener;
    lx_sequencer_t *sequencer;     /* the receipt log's sequencer thread (billing/sequencer.h) */
    lx_claim_sweep_t *claim_sweep; /* the sweep of expired dedupe claims (leads/claim_sweep.h) */
    h2o_barrier_t started;
    atomic_int auth_cache_enabled; /* 0 while NOTIFY delivery is not guaranteed */
};

/* Runs until SIGTERM/SIGINT. Returns the process exit code. `keys` is borrowed; the server adopts rotated signing keys
 * into it (billing/keywatch.h), so free it after the return. */
int lx_server_run(const lx_config_t *cfg, lx_keys_t *keys, const lx_regions_t *regions);

/* Auth-cache invalidation, sent by the NOTIFY listener to every worker. */
/* Cache invalidation, sent by the NOTIFY listener to every worker (LX_AUTH_CLEAR drops every cache). */
typedef enum { LX_AUTH_EVICT_KEY, LX_AUTH_EVICT_ACCOUNT, LX_AUTH_CLEAR, LX_NICHES_CLEAR } lx_auth_evict_kind_t;
void lx_server_broadcast_evict(lx_server_t *server, lx_auth_evict_kind_t kind, const lx_uuid_t *id);

/* Monotonic microseconds, for durations. */
uint64_t lx_now_us(void);
/* Wall-clock Unix milliseconds (coarse), for times stored in the database. */
uint64_t lx_wall_ms(void);
/* Appends every worker's HTTP metrics and pool gauges in Prometheus text format. */
void lx_server_render_metrics(lx_server_t *server, lx_strbuf_t *out);
/* Writes out the worker's buffered access-log lines. */
void lx_worker_flush_access_log(lx_worker_t *w);

#endif
