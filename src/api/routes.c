#include "api/routes.h"
#include "api/handlers.h"
#include "auth/cache.h"

#define OP LX_ROLE_OPERATOR
#define ANY LX_ROLE_ANY

enum {
    M_HEALTHZ,
    M_READYZ,
    M_METRICS,
    M_ME,
    M_ACCOUNTS_CREATE,
    M_ACCOUNTS_LIST,
    M_ACCOUNTS_GET,
    M_KEYS_LIST,
    M_KEYS_CREATE,
    M_KEYS_REVOKE,
    M__COUNT
};

static const lx_route_desc_t healthz = {lx_api_healthz, 0, 0, 0, M_HEALTHZ};
static const lx_route_desc_t readyz = {lx_api_readyz, 0, 0, 0, M_READYZ};
static const lx_route_desc_t metrics = {lx_api_metrics, 0, 0, 0, M_METRICS};
static const lx_route_desc_t me = {lx_api_me, ANY, 0, 0, M_ME};
static const lx_route_desc_t accounts_create = {lx_api_accounts_create, OP, LX_ROUTE_BODY_JSON, 0, M_ACCOUNTS_CREATE};
static const lx_route_desc_t accounts_list = {lx_api_accounts_list, OP, 0, 0, M_ACCOUNTS_LIST};
static const lx_route_desc_t accounts_get = {lx_api_accounts_get, ANY, 0, 0, M_ACCOUNTS_GET};
static const lx_route_desc_t keys_list = {lx_api_keys_list, ANY, 0, 0, M_KEYS_LIST};
static const lx_route_desc_t keys_create = {lx_api_keys_create, ANY, LX_ROUTE_BODY_OPTIONAL, 0, M_KEYS_CREATE};
static const lx_route_desc_t keys_revoke = {lx_api_keys_revoke, ANY, 0, 0, M_KEYS_REVOKE};

/* Order matters only where patterns overlap; the metrics index of each descriptor is its row's label. */
static const lx_route_t routes[M__COUNT] = {
    [M_HEALTHZ] = {"GET", "/healthz", &healthz},
    [M_READYZ] = {"GET", "/readyz", &readyz},
    [M_METRICS] = {"GET", "/metrics", &metrics},
    [M_ME] = {"GET", "/v1/me", &me},
    [M_ACCOUNTS_CREATE] = {"POST", "/v1/accounts", &accounts_create},
    [M_ACCOUNTS_LIST] = {"GET", "/v1/accounts", &accounts_list},
    [M_ACCOUNTS_GET] = {"GET", "/v1/accounts/{id}", &accounts_get},
    [M_KEYS_LIST] = {"GET", "/v1/accounts/{id}/keys", &keys_list},
    [M_KEYS_CREATE] = {"POST", "/v1/accounts/{id}/keys", &keys_create},
    [M_KEYS_REVOKE] = {"DELETE", "/v1/accounts/{id}/keys/{key_id}", &keys_revoke},
};

const lx_route_t *lx_api_routes(size_t *n)
{
    *n = M__COUNT;
    return routes;
}
