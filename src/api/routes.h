/* The route table of the public API: method, path pattern, handler, roles, body rules. */
#ifndef LX_API_ROUTES_H
#define LX_API_ROUTES_H

#include <stddef.h>

#include "http/router.h"

const lx_route_t *lx_api_routes(size_t *n);

#endif
