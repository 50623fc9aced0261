/*
 * Method + path routing (pure, no I/O).
 *
 * Patterns are literal segments and {name} parameters matching one non-empty
 * segment: "/v1/accounts/{id}/keys/{key_id}". A path that matches some pattern
 * but under another method yields LX_ERR_METHOD_NOT_ALLOWED with the Allow
 * list; no pattern at all yields LX_ERR_NOT_FOUND. Of the patterns a path
 * matches, only those with the fewest parameters count ("/v1/leads/batch" over
 * "/v1/leads/{id}"), whatever the method. HEAD is routed as GET, and the Allow
 * list names HEAD wherever it names GET.
 */
#ifndef LX_HTTP_ROUTER_H
#define LX_HTTP_ROUTER_H

#include <stddef.h>

#include "util/error.h"

#define LX_ROUTE_MAX_PARAMS 4

typedef struct st_lx_route_t {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/accounts/{id}" */
    const void *data;    /* the HTTP layer's route descriptor */
} lx_route_t;

typedef struct st_lx_route_param_t {
    const char *name; /* points into the pattern, not NUL-terminated */
    size_t name_len;
    const char *value; /* points into the request path */
    size_t value_len;
} lx_route_param_t;

typedef struct st_lx_route_match_t {
    const lx_route_t *route;
    size_t nparams;
    lx_route_param_t params[LX_ROUTE_MAX_PARAMS];
    char allow[96]; /* "GET, POST" when LX_ERR_METHOD_NOT_ALLOWED */
} lx_route_match_t;

lx_status_t lx_router_match(const lx_route_t *routes, size_t nroutes, const char *method, size_t method_len, const char *path,
                            size_t path_len, lx_route_match_t *m);
/* Value of parameter `name`, or NULL (then *len is 0). */
const char *lx_route_param(const lx_route_match_t *m, const char *name, size_t *len);

#endif
