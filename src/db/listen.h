/*
 * A LISTEN connection in a thread of its own (blocking libpq is fine off the
 * event loops). It delivers NOTIFY payloads to a callback and reports when
 * it is connected and listening, so callers can distrust caches while it is
 * not: a notification sent while we were disconnected is lost for good.
 */
#ifndef LX_DB_LISTEN_H
#define LX_DB_LISTEN_H

typedef struct st_lx_listener_t lx_listener_t;

typedef void (*lx_listener_notify_cb)(void *data, const char *channel, const char *payload);
/* connected: 1 once LISTEN is in effect (after every reconnect), 0 when the connection is lost. */
typedef void (*lx_listener_state_cb)(void *data, int connected);

lx_listener_t *lx_listener_start(const char *conninfo, const char *const channels[], lx_listener_notify_cb on_notify,
                                 lx_listener_state_cb on_state, void *data);
void lx_listener_stop(lx_listener_t *l);

#endif
