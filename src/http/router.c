#include "http/router.h"

#include <string.h>

/* Matches one pattern against a path, collecting parameters. */
static int match_pattern(const char *pat, const char *path, size_t path_len, lx_route_match_t *m)
{
    size_t pi = 0, si = 0, plen = strlen(pat);
    m->nparams = 0;
    while (pi < plen && si < path_len) {
        if (pat[pi] != '/' || path[si] != '/') return 0;
        pi++, si++;
        size_t pend = pi, send = si;
        while (pend < plen && pat[pend] != '/') pend++;
        while (send < path_len && path[send] != '/') send++;
        if (pat[pi] == '{') {
            if (send == si || m->nparams == LX_ROUTE_MAX_PARAMS) return 0;
            lx_route_param_t *p = &m->params[m->nparams++];
            p->name = pat + pi + 1;
            p->name_len = pend - pi - 2;
            p->value = path + si;
            p->value_len = send - si;
        } else if (pend - pi != send - si || memcmp(pat + pi, path + si, pend - pi) != 0) {
            return 0;
        }
        pi = pend, si = send;
    }
    return pi == plen && si == path_len;
}

/* Whole-token membership in "GET, POST": "PATCH" is not in "PROPPATCH". */
static int allow_has(const char *allow, const char *method, size_t ml)
{
    for (const char *p = allow; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == ml && memcmp(p, method, ml) == 0) return 1;
        if (end == NULL) break;
        p = end + 2;
    }
    return 0;
}

/* Appends `method` to the Allow list unless it is there already. */
static void allow_add(lx_route_match_t *m, size_t *allow_len, const char *method)
{
    size_t ml = strlen(method);
    if (allow_has(m->allow, method, ml) || *allow_len + ml + 3 >= sizeof(m->allow)) return;
    if (*allow_len != 0) {
        memcpy(m->allow + *allow_len, ", ", 2);
        *allow_len += 2;
    }
    memcpy(m->allow + *allow_len, method, ml);
    *allow_len += ml;
    m->allow[*allow_len] = '\0';
}

lx_status_t lx_router_match(const lx_route_t *routes, size_t nroutes, const char *method, size_t method_len, const char *path,
                            size_t path_len, lx_route_match_t *m)
{
    lx_route_match_t probe, hit;
    size_t allow_len = 0, fewest = LX_ROUTE_MAX_PARAMS + 1;
    const lx_route_t *found = NULL;
    m->route = NULL;
    m->allow[0] = '\0';
    /* HEAD is GET without the content (RFC 9110 §9.3.2): routed as GET; the HTTP layer sends the headers only. */
    if (method_len == 4 && memcmp(method, "HEAD", 4) == 0) method = "GET", method_len = 3;
    /* A trailing slash names the same resource: "/v1/me/" == "/v1/me". */
    if (path_len > 1 && path[path_len - 1] == '/') path_len--;
    /* One pass. Of the patterns a path matches, the most literal (fewest parameters) name its resource:
     * "/v1/leads/batch" is not a lead whose id is "batch", so GET on it is 405 with Allow: POST, not a 404 for a
     * malformed id. A match with fewer parameters than any before starts the answer and the Allow list over; among
     * equals, the first in table order with the method wins. */
    for (size_t i = 0; i < nroutes; i++) {
        if (!match_pattern(routes[i].pattern, path, path_len, &probe) || probe.nparams > fewest) continue;
        if (probe.nparams < fewest) {
            fewest = probe.nparams;
            found = NULL;
            allow_len = 0;
            m->allow[0] = '\0';
        }
        size_t ml = strlen(routes[i].method);
        if (ml == method_len && memcmp(routes[i].method, method, ml) == 0) {
            if (found == NULL) {
                found = &routes[i];
                hit = probe;
            }
            continue;
        }
        /* Collect every method this path answers to, once each. */
        allow_add(m, &allow_len, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0) allow_add(m, &allow_len, "HEAD");
    }
    if (found != NULL) {
        m->nparams = hit.nparams;
        memcpy(m->params, hit.params, sizeof(m->params));
        m->route = found;
        m->allow[0] = '\0';
        return LX_OK;
    }
    return allow_len != 0 ? LX_ERR_METHOD_NOT_ALLOWED : LX_ERR_NOT_FOUND;
}

const char *lx_route_param(const lx_route_match_t *m, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < m->nparams; i++) {
        if (m->params[i].name_len == nl && memcmp(m->params[i].name, name, nl) == 0) {
            *len = m->params[i].value_len;
            return m->params[i].value;
        }
    }
    *len = 0;
    return NULL;
}
