#include "http/server.h"
#include "api/routes.h"
#include "billing/sequencer.h"
#include "billing/keywatch.h"
#include "billing/settlement.h"
#include "db/listen.h"
#include "leads/claim_sweep.h"
#include "http/request.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS               1000
#define PRUNE_TICKS           60 /* once a minute */
#define LAST_USED_FLUSH_TICKS 10

uint64_t lx_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t lx_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- listening sockets ------------------------------------------------------ */

static int open_listener(const char *hostport, int *out, char *err, size_t errlen)
{
    char host[256];
    uint16_t port;
    if (lx_config_parse_hostport(hostport, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "bad listen address %s", hostport);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", hostport, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", hostport, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    *out = fd;
    return 0;
}

static void on_sock_close(void *data)
{
    lx_worker_t *w = data;
    w->nconn--;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    h2o_accept_ctx_t *actx = listener->data;
    lx_worker_t *w = H2O_STRUCT_FROM_MEMBER(lx_worker_t, ctx, actx->ctx);
    for (int n = 0; n < 16; ++n) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) break;
        w->nconn++;
        sock->on_close.cb = on_sock_close;
        sock->on_close.data = w;
        h2o_accept(actx, sock);
    }
}

/* ---- access log and periodic work --------------------------------------------- */

void lx_worker_flush_access_log(lx_worker_t *w)
{
    lx_strbuf_t *sb = &w->access_log;
    const char *p = sb->base;
    size_t n = sb->len;
    while (n > 0) {
        ssize_t r = write(w->server->access_log_fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            break; /* a full disk must not stop the server; the lines are dropped */
        }
        p += r;
        n -= (size_t)r;
    }
    lx_strbuf_reset(sb);
}

typedef struct {
    lx_db_job_t job;
    lx_worker_t *w;
    lx_strbuf_t ids, times;
} last_used_flush_t;

LX_DB_STMT(auth_touch_keys, 2,
           "UPDATE api_keys k SET last_used_at = greatest(k.last_used_at, k.created_at, 'epoch'::timestamptz + v.ms * interval '1 "
           "millisecond') "
           "FROM unnest($1::uuid[], $2::bigint[]) AS v(id, ms) WHERE k.id = v.id");

static void on_last_used_flushed(lx_db_job_t *job)
{
    last_used_flush_t *f = job->data;
    if (job->status != LX_DB_OK && job->status != LX_DB_ERR_UNAVAILABLE)
        lx_log(LX_LOG_WARN, "last_used_flush_failed", "%s %s", job->sqlstate, job->message);
    f->w->flushing_last_used = 0;
    lx_strbuf_free(&f->ids);
    lx_strbuf_free(&f->times);
    free(f);
}

/* One UPDATE for every key this thread saw used since the last flush. */
static void flush_last_used(lx_worker_t *w)
{
    if (w->flushing_last_used) return;
    last_used_flush_t *f = NULL;
    size_t n = 0;
    for (size_t i = 0; i < w->auth.nslots && n < 10000; i++) {
        lx_auth_entry_t *e = &w->auth.slots[i];
        if (!e->used || e->last_used_ms <= e->last_flushed_ms) continue;
        if (f == NULL) {
            f = lx_calloc(1, sizeof(*f));
            f->w = w;
            lx_strbuf_init(&f->ids, 1 << 22);
            lx_strbuf_init(&f->times, 1 << 22);
        }
        char id[LX_UUID_STRLEN + 1];
        lx_uuid_format(&e->who.key_id, id);
        lx_strbuf_printf(&f->ids, "%s%s", n ? "," : "{", id);
        lx_strbuf_printf(&f->times, "%s%llu", n ? "," : "{", (unsigned long long)e->last_used_ms);
        e->last_flushed_ms = e->last_used_ms;
        n++;
    }
    if (f == NULL) return;
    lx_strbuf_puts(&f->ids, "}");
    lx_strbuf_puts(&f->times, "}");
    lx_db_job_init(&f->job, on_last_used_flushed, f);
    lx_db_call_t *c = lx_db_job_add(&f->job, &auth_touch_keys);
    lx_db_param(c, 0, f->ids.base);
    lx_db_param(c, 1, f->times.base);
    w->flushing_last_used = 1;
    if (lx_db_submit(w->db, &f->job) != 0) on_last_used_flushed(&f->job);
}

/* Housekeeping, from one thread of each process (idempotent deletes; several processes may run it). */
LX_DB_STMT(prune_velocity, 0, "DELETE FROM intake_velocity WHERE bucket < extract(epoch from now())::bigint / 600 - 12");
LX_DB_STMT(prune_idempotency, 0, "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'");

static void on_pruned(lx_db_job_t *job)
{
    if (job->status != LX_DB_OK && job->status != LX_DB_ERR_UNAVAILABLE)
        lx_log(LX_LOG_WARN, "prune_failed", "%s %s", job->sqlstate, job->message);
    free(job);
}

static void prune(lx_worker_t *w)
{
    lx_db_job_t *job = lx_calloc(1, sizeof(*job));
    lx_db_job_init(job, on_pruned, NULL);
    lx_db_job_add(job, &prune_velocity);
    lx_db_job_add(job, &prune_idempotency);
    if (lx_db_submit(w->db, job) != 0) free(job);
}

static void publish_db_stats(lx_worker_t *w)
{
    lx_db_stats_t st;
    lx_db_stats(w->db, &st);
    atomic_store_explicit(&w->db_ready, st.ready, memory_order_relaxed);
    atomic_store_explicit(&w->db_busy, st.busy, memory_order_relaxed);
    atomic_store_explicit(&w->db_connecting, st.connecting, memory_order_relaxed);
    atomic_store_explicit(&w->db_down, st.down, memory_order_relaxed);
    atomic_store_explicit(&w->db_queue, st.queue_length, memory_order_relaxed);
    atomic_store_explicit(&w->db_queries, st.queries_total, memory_order_relaxed);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    lx_worker_t *w = H2O_STRUCT_FROM_MEMBER(lx_worker_t, tick, entry);
    if (w->server->access_log_fd >= 0 && w->access_log.len != 0) lx_worker_flush_access_log(w);
    publish_db_stats(w);
    if (++w->ticks % LAST_USED_FLUSH_TICKS == 0) flush_last_used(w);
    if (w->index == 0 && w->ticks % PRUNE_TICKS == 0) prune(w);
    h2o_timeout_link(w->ctx.loop, &w->tick_timeout, &w->tick);
}

/* ---- cross-thread messages ------------------------------------------------------ */

typedef struct {
    h2o_multithread_message_t super;
    lx_auth_evict_kind_t kind;
    lx_uuid_t id;
} evict_msg_t;

static void on_evict(h2o_multithread_receiver_t *rcv, h2o_linklist_t *messages)
{
    lx_worker_t *w = H2O_STRUCT_FROM_MEMBER(lx_worker_t, auth_rcv, rcv);
    while (!h2o_linklist_is_empty(messages)) {
        evict_msg_t *m = H2O_STRUCT_FROM_MEMBER(evict_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        switch (m->kind) {
        case LX_AUTH_EVICT_KEY:
            lx_auth_cache_evict_key(&w->auth, &m->id);
            break;
        case LX_AUTH_EVICT_ACCOUNT:
            lx_auth_cache_evict_account(&w->auth, &m->id);
            break;
        case LX_AUTH_CLEAR:
            lx_auth_cache_clear(&w->auth);
            lx_niche_cache_clear(&w->niches);
            break;
        case LX_NICHES_CLEAR:
            lx_niche_cache_clear(&w->niches);
            break;
        }
        free(m);
    }
}

void lx_server_broadcast_evict(lx_server_t *srv, lx_auth_evict_kind_t kind, const lx_uuid_t *id)
{
    for (size_t i = 0; i < srv->nworkers; i++) {
        evict_msg_t *m = lx_calloc(1, sizeof(*m));
        m->kind = kind;
        if (id != NULL) m->id = *id;
        h2o_multithread_send_message(&srv->workers[i].auth_rcv, &m->super);
    }
}

static void on_shutdown_msg(h2o_multithread_receiver_t *rcv, h2o_linklist_t *messages)
{
    lx_worker_t *w = H2O_STRUCT_FROM_MEMBER(lx_worker_t, shutdown_rcv, rcv);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        free(m);
    }
    w->stopping = 1;
}

/* The NOTIFY listener: payload "key:<uuid>" or "account:<uuid>" on channel leadx_auth. */
static void on_notify(void *data, const char *channel, const char *payload)
{
    lx_server_t *srv = data;
    lx_uuid_t id;
    if (strncmp(payload, "key:", 4) == 0 && lx_uuid_parse(payload + 4, strlen(payload + 4), &id) == 0)
        lx_server_broadcast_evict(srv, LX_AUTH_EVICT_KEY, &id);
    else if (strncmp(payload, "account:", 8) == 0 && lx_uuid_parse(payload + 8, strlen(payload + 8), &id) == 0)
        lx_server_broadcast_evict(srv, LX_AUTH_EVICT_ACCOUNT, &id);
    else if (strcmp(payload, "niches") == 0)
        lx_server_broadcast_evict(srv, LX_NICHES_CLEAR, NULL);
    else
        lx_server_broadcast_evict(srv, LX_AUTH_CLEAR, NULL);
}

static void on_listen_state(void *data, int connected)
{
    lx_server_t *srv = data;
    if (!connected) {
        atomic_store(&srv->auth_cache_enabled, 0);
        lx_server_broadcast_evict(srv, LX_AUTH_CLEAR, NULL);
        return;
    }
    /* Anything cached before LISTEN took effect may have missed a revocation. */
    lx_server_broadcast_evict(srv, LX_AUTH_CLEAR, NULL);
    atomic_store(&srv->auth_cache_enabled, 1);
}

/* ---- worker threads ---------------------------------------------------------------- */

/* The process's last intake transaction ended (on w's thread): kick the workers whose leads wait for a turn. The
 * receiver is registered before the worker's batcher can set intake_waiting, and stays registered to the end (a kick
 * may still be queued for it at exit; the worker's memory outlives every thread). */
static void on_intake_idle(void *ctx)
{
    lx_worker_t *self = ctx;
    lx_server_t *srv = self->server;
    for (size_t i = 0; i < srv->nworkers; i++) {
        lx_worker_t *w = &srv->workers[i];
        if (w == self || !atomic_load(&w->intake_waiting)) continue;
        if (!atomic_exchange(&w->intake_kick_pending, 1)) h2o_multithread_send_message(&w->intake_kick_rcv, &w->intake_kick_msg);
    }
}

static void on_intake_kick(h2o_multithread_receiver_t *rcv, h2o_linklist_t *messages)
{
    lx_worker_t *w = H2O_STRUCT_FROM_MEMBER(lx_worker_t, intake_kick_rcv, rcv);
    while (!h2o_linklist_is_empty(messages)) h2o_linklist_unlink(messages->next);
    atomic_store(&w->intake_kick_pending, 0); /* before looking: a later kick is then sent, or this look sees its cause */
    if (w->intake != NULL) lx_intake_kick(w->intake);
}

static void *worker_main(void *arg)
{
    lx_worker_t *w = arg;
    lx_server_t *srv = w->server;
    const lx_config_t *cfg = srv->cfg;
    h2o_context_init(&w->ctx, h2o_evloop_create(), &srv->h2o);
    h2o_multithread_register_receiver(w->ctx.queue, &w->shutdown_rcv, on_shutdown_msg);
    h2o_multithread_register_receiver(w->ctx.queue, &w->auth_rcv, on_evict);
    w->db = lx_db_create(w->ctx.loop, cfg->database_url, (size_t)cfg->db_pool_size, (size_t)cfg->db_pipeline_depth,
                         (size_t)cfg->db_queue_max, cfg->statement_timeout_ms);
    lx_auth_cache_init(&w->auth, 1 << 14, (uint64_t)cfg->auth_cache_ttl_ms);
    lx_niche_cache_init(&w->niches, 60000);
    h2o_multithread_register_receiver(w->ctx.queue, &w->intake_kick_rcv, on_intake_kick);
    lx_intake_config_t icfg = {(size_t)cfg->intake_batch_max,
                               (uint64_t)cfg->intake_batch_wait_ms,
                               (size_t)cfg->intake_batches_in_flight,
                               w->server->keys,
                               &srv->intake_in_flight,
                               &w->intake_waiting,
                               on_intake_idle,
                               w};
    w->intake = lx_intake_create(w->ctx.loop, w->db, &icfg);
    lx_strbuf_init(&w->access_log, 1 << 20);
    h2o_timeout_init(w->ctx.loop, &w->tick_timeout, TICK_MS);
    w->tick.cb = on_tick;
    h2o_timeout_link(w->ctx.loop, &w->tick_timeout, &w->tick);

    const char *addrs[2] = {cfg->listen, cfg->tls_listen};
    for (int i = 0; i < 2; i++) {
        if (srv->listen_fds[i] < 0) continue;
        int fd = srv->listen_fds[i];
        char err[256];
        if (w->index != 0 && open_listener(addrs[i], &fd, err, sizeof(err)) != 0) {
            lx_log(LX_LOG_ERROR, "listen_failed", "%s", err);
            abort(); /* the main thread bound the same address a moment ago: this cannot fail quietly */
        }
        w->actx[i] = (h2o_accept_ctx_t){.ctx = &w->ctx, .hosts = srv->h2o.hosts, .ssl_ctx = i == 1 ? srv->ssl : NULL};
        w->listeners[i] = h2o_evloop_socket_create(w->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        w->listeners[i]->data = &w->actx[i];
        h2o_socket_read_start(w->listeners[i], on_accept);
    }
    h2o_barrier_wait(&srv->started);

    while (!w->stopping) h2o_evloop_run(w->ctx.loop, INT32_MAX);

    /* Graceful stop: no new connections, GOAWAY / close idle keep-alive, finish what is in flight. */
    for (int i = 0; i < 2; i++) {
        if (w->listeners[i] != NULL) {
            h2o_socket_read_stop(w->listeners[i]);
            h2o_socket_close(w->listeners[i]);
            w->listeners[i] = NULL;
        }
    }
    h2o_context_request_shutdown(&w->ctx);
    uint64_t deadline = h2o_now(w->ctx.loop) + (uint64_t)cfg->shutdown_timeout_ms;
    /* Leads whose client went away are still in the batcher: their transaction finishes too (the leads are valid and
     * an Idempotency-Key retry will find them). */
    while ((w->nconn != 0 || w->inflight != 0 || lx_intake_pending(w->intake) != 0) && h2o_now(w->ctx.loop) < deadline)
        h2o_evloop_run(w->ctx.loop, 50);
    if (w->inflight != 0 || w->nconn != 0)
        lx_log(LX_LOG_WARN, "shutdown_timeout", "worker %zu: %zu requests and %zu connections left", w->index, w->inflight,
               w->nconn);
    if (srv->access_log_fd >= 0 && w->access_log.len != 0) lx_worker_flush_access_log(w);
    h2o_timeout_unlink(&w->tick);
    lx_intake_destroy(w->intake);
    w->intake = NULL;
    atomic_store(&w->intake_waiting, 0);
    lx_db_destroy(w->db);
    lx_auth_cache_dispose(&w->auth);
    lx_niche_cache_dispose(&w->niches);
    lx_strbuf_free(&w->access_log);
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->shutdown_rcv);
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->auth_rcv);
    h2o_timeout_dispose(w->ctx.loop, &w->tick_timeout);
    /* No h2o_context_dispose: 2.2.5 asserts on timeouts its own connection code may still hold at exit, and the
     * process ends here anyway (tests/lsan.supp lists what libh2o keeps). */
    return NULL;
}

static SSL_CTX *make_ssl_ctx(const lx_config_t *cfg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        lx_log(LX_LOG_ERROR, "tls_setup_failed", "certificate %s / key %s: %s", cfg->tls_cert, cfg->tls_key, buf);
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols); /* h2 and http/1.1 */
    return ctx;
}

int lx_server_run(const lx_config_t *cfg, lx_keys_t *keys, const lx_regions_t *regions)
{
    lx_server_t *srv = lx_calloc(1, sizeof(*srv));
    srv->cfg = cfg;
    srv->keys = keys;
    srv->regions = regions;
    srv->listen_fds[0] = srv->listen_fds[1] = -1;
    signal(SIGPIPE, SIG_IGN);

    srv->routes = lx_api_routes(&srv->nroutes);
    srv->labels = lx_calloc(srv->nroutes + 1, sizeof(*srv->labels));
    size_t largest_body = (size_t)cfg->max_body_bytes;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const lx_route_desc_t *d = srv->routes[i].data;
        srv->labels[d->metrics_index] = (lx_metrics_route_label_t){srv->routes[i].method, srv->routes[i].pattern};
        size_t cap = d->flags & LX_ROUTE_BODY_BATCH ? (size_t)cfg->batch_max_body_bytes : d->max_body;
        if (cap > largest_body) largest_body = cap;
    }
    srv->labels[srv->nroutes] = (lx_metrics_route_label_t){"", "unmatched"};

    h2o_config_init(&srv->h2o);
    srv->h2o.server_name = h2o_iovec_init(H2O_STRLIT("leadx"));
    /* h2o resets HTTP/2 streams beyond its own limit before any handler runs; keep it a bounded multiple above the
     * largest route cap so every body up to 2x that cap still reaches the handler and gets a proper 413. */
    srv->h2o.max_request_entity_size = largest_body * 2;
    h2o_hostconf_t *host = h2o_config_register_host(&srv->h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = lx_request_on_req;

    int rc = 1;
    char err[256];
    if (open_listener(cfg->listen, &srv->listen_fds[0], err, sizeof(err)) != 0) {
        lx_log(LX_LOG_ERROR, "listen_failed", "%s", err);
        goto out;
    }
    if (cfg->tls_listen[0] != '\0') {
        if ((srv->ssl = make_ssl_ctx(cfg)) == NULL) goto out;
        if (open_listener(cfg->tls_listen, &srv->listen_fds[1], err, sizeof(err)) != 0) {
            lx_log(LX_LOG_ERROR, "listen_failed", "%s", err);
            goto out;
        }
    }
    if (strcmp(cfg->access_log, "off") == 0)
        srv->access_log_fd = -1;
    else if (strcmp(cfg->access_log, "-") == 0)
        srv->access_log_fd = dup(1);
    else if ((srv->access_log_fd = open(cfg->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0) {
        lx_log(LX_LOG_ERROR, "access_log_failed", "cannot open %s: %s", cfg->access_log, strerror(errno));
        goto out;
    }
    srv->ratelimit = lx_ratelimit_create();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by every thread started below */

    /* Before the workers: /metrics on any worker reads it, and it outlives them (stopped after their join). */
    srv->sequencer = lx_sequencer_start(cfg->database_url, keys, cfg->sequencer_interval_ms);
    lx_settlement_t *settlement = lx_settlement_start(cfg->database_url, keys, cfg->settle_interval_ms);
    lx_keywatch_t *keywatch = lx_keywatch_start(cfg->database_url, cfg->key_dir, keys); /* rotations while serving */
    srv->claim_sweep = lx_claim_sweep_start(cfg->database_url, cfg->claim_sweep_interval_ms);
    srv->nworkers = (size_t)lx_config_threads(cfg);
    srv->workers = lx_calloc(srv->nworkers, sizeof(*srv->workers));
    h2o_barrier_init(&srv->started, srv->nworkers + 1);
    for (size_t i = 0; i < srv->nworkers; i++) {
        lx_worker_t *w = &srv->workers[i];
        w->server = srv;
        w->index = i;
        w->metrics = lx_calloc(1, sizeof(*w->metrics));
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) lx_oom();
    }
    h2o_barrier_wait(&srv->started);
    /* Only now: every worker has registered its receiver, so evictions have somewhere to go. Until the listener
     * is connected, auth_cache_enabled is 0 and every key is looked up in the database. */
    static const char *const channels[] = {"leadx_auth", NULL};
    srv->listener = lx_listener_start(cfg->database_url, channels, on_notify, on_listen_state, srv);
    lx_log(LX_LOG_INFO, "listening", "leadx serving http://%s (HTTP/1.1 and h2c) with %zu threads", cfg->listen, srv->nworkers);
    if (srv->ssl != NULL) lx_log(LX_LOG_INFO, "listening", "leadx serving https://%s (TLS, ALPN h2 and http/1.1)", cfg->tls_listen);

    int sig = 0;
    sigwait(&sigs, &sig);
    lx_log(LX_LOG_INFO, "shutdown", "signal %d: stopping; finishing requests in flight", sig);
    /* The NOTIFY listener goes first: it sends to the workers' receivers, which the workers unregister as they
     * exit. Requests still draining look their keys up in the database from here on. */
    lx_listener_stop(srv->listener);
    atomic_store(&srv->auth_cache_enabled, 0); /* after the join: the listener can no longer turn it back on */
    for (size_t i = 0; i < srv->nworkers; i++)
        h2o_multithread_send_message(&srv->workers[i].shutdown_rcv, lx_calloc(1, sizeof(h2o_multithread_message_t)));
    for (size_t i = 0; i < srv->nworkers; i++) pthread_join(srv->workers[i].tid, NULL);
    lx_sequencer_stop(srv->sequencer);     /* a round in flight is cancelled and rolls back */
    lx_settlement_stop(settlement);        /* likewise */
    lx_claim_sweep_stop(srv->claim_sweep); /* likewise */
    lx_keywatch_stop(keywatch);            /* before `keys` goes: it adopts into them */
    lx_log(LX_LOG_INFO, "stopped", "leadx stopped");
    rc = 0;
    for (size_t i = 0; i < srv->nworkers; i++) free(srv->workers[i].metrics);
    free(srv->workers);
    lx_ratelimit_destroy(srv->ratelimit);
out:
    if (srv->access_log_fd >= 0) close(srv->access_log_fd);
    if (srv->ssl != NULL) SSL_CTX_free(srv->ssl);
    free(srv->labels);
    free(srv);
    return rc;
}

/* /metrics needs every worker's counters and pool gauges. */
void lx_server_render_metrics(lx_server_t *srv, lx_strbuf_t *out)
{
    lx_metrics_t *per[256] = {0};
    size_t n = srv->nworkers < 256 ? srv->nworkers : 256;
    for (size_t i = 0; i < n; i++) per[i] = srv->workers[i].metrics;
    lx_metrics_render(per, n, srv->labels, srv->nroutes + 1, out);
    uint64_t ready = 0, busy = 0, connecting = 0, down = 0, queue = 0, queries = 0;
    for (size_t i = 0; i < n; i++) {
        lx_worker_t *w = &srv->workers[i];
        ready += atomic_load_explicit(&w->db_ready, memory_order_relaxed);
        busy += atomic_load_explicit(&w->db_busy, memory_order_relaxed);
        connecting += atomic_load_explicit(&w->db_connecting, memory_order_relaxed);
        down += atomic_load_explicit(&w->db_down, memory_order_relaxed);
        queue += atomic_load_explicit(&w->db_queue, memory_order_relaxed);
        queries += atomic_load_explicit(&w->db_queries, memory_order_relaxed);
    }
    lx_strbuf_printf(out,
                     "# HELP leadx_db_connections PostgreSQL connections of the pools, by state.\n"
                     "# TYPE leadx_db_connections gauge\n"
                     "leadx_db_connections{state=\"ready\"} %llu\nleadx_db_connections{state=\"busy\"} %llu\n"
                     "leadx_db_connections{state=\"connecting\"} %llu\nleadx_db_connections{state=\"down\"} %llu\n"
                     "# HELP leadx_db_queue_length Transactions waiting for a pool connection.\n"
                     "# TYPE leadx_db_queue_length gauge\nleadx_db_queue_length %llu\n"
                     "# HELP leadx_db_queries_total Statements sent to PostgreSQL.\n"
                     "# TYPE leadx_db_queries_total counter\nleadx_db_queries_total %llu\n",
                     (unsigned long long)ready, (unsigned long long)busy, (unsigned long long)connecting, (unsigned long long)down,
                     (unsigned long long)queue, (unsigned long long)queries);
    if (srv->sequencer != NULL) lx_sequencer_render_metrics(srv->sequencer, out);
    if (srv->claim_sweep != NULL) lx_claim_sweep_render_metrics(srv->claim_sweep, out);
}
