#include "db/listen.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct st_lx_listener_t {
    char *conninfo;
    char **channels;
    size_t nchannels;
    lx_listener_notify_cb on_notify;
    lx_listener_state_cb on_state;
    void *data;
    pthread_t tid;
    atomic_int stop;
};

static PGconn *connect_and_listen(lx_listener_t *l)
{
    /* connect_timeout bounds how long a shutdown can wait for this thread; a value in the URL wins. */
    const char *keys[] = {"connect_timeout", "dbname", "application_name", NULL};
    const char *vals[] = {"5", l->conninfo, "leadx-listen", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        PQfinish(pg);
        return NULL;
    }
    for (size_t i = 0; i < l->nchannels; i++) {
        char *ident = PQescapeIdentifier(pg, l->channels[i], strlen(l->channels[i]));
        char sql[256];
        snprintf(sql, sizeof(sql), "LISTEN %s", ident ? ident : "\"\"");
        PQfreemem(ident);
        PGresult *r = PQexec(pg, sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            PQfinish(pg);
            return NULL;
        }
    }
    return pg;
}

static void *run(void *arg)
{
    lx_listener_t *l = arg;
    PGconn *pg = NULL;
    int warned = 0;
    while (!atomic_load(&l->stop)) {
        if (pg == NULL) {
            pg = connect_and_listen(l);
            if (pg == NULL) {
                if (!warned) lx_log(LX_LOG_WARN, "listen_unavailable", "cannot LISTEN for cache invalidations; retrying");
                warned = 1;
                usleep(250 * 1000);
                continue;
            }
            warned = 0;
            l->on_state(l->data, 1);
        }
        struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
        int n = poll(&pfd, 1, 200);
        if (n < 0) continue;
        if (n > 0 && !PQconsumeInput(pg)) {
            lx_log(LX_LOG_WARN, "listen_lost", "LISTEN connection lost; caches disabled until it is back");
            l->on_state(l->data, 0);
            PQfinish(pg);
            pg = NULL;
            continue;
        }
        PGnotify *nt;
        while ((nt = PQnotifies(pg)) != NULL) {
            l->on_notify(l->data, nt->relname, nt->extra);
            PQfreemem(nt);
        }
    }
    if (pg != NULL) PQfinish(pg);
    return NULL;
}

lx_listener_t *lx_listener_start(const char *conninfo, const char *const channels[], lx_listener_notify_cb on_notify,
                                 lx_listener_state_cb on_state, void *data)
{
    lx_listener_t *l = lx_calloc(1, sizeof(*l));
    l->conninfo = lx_strdup(conninfo);
    while (channels[l->nchannels] != NULL) l->nchannels++;
    l->channels = lx_calloc(l->nchannels, sizeof(char *));
    for (size_t i = 0; i < l->nchannels; i++) l->channels[i] = lx_strdup(channels[i]);
    l->on_notify = on_notify;
    l->on_state = on_state;
    l->data = data;
    if (pthread_create(&l->tid, NULL, run, l) != 0) lx_oom();
    return l;
}

void lx_listener_stop(lx_listener_t *l)
{
    atomic_store(&l->stop, 1);
    pthread_join(l->tid, NULL);
    for (size_t i = 0; i < l->nchannels; i++) free(l->channels[i]);
    free(l->channels);
    free(l->conninfo);
    free(l);
}
