/*
 * libFuzzer target: "METHOD /path" (split at the first space; no space = GET
 * and the whole input as path) routed against a copy of the API table in
 * src/api/routes.c plus a few overlapping rows. Checks: params point inside
 * the path and are non-empty single segments, the matched route has the
 * request's method (GET for HEAD), 404 has no Allow and 405 one that does not
 * list the request's method, and the result agrees with a simple reference
 * matcher (of the patterns a path matches, those with the fewest parameters
 * name its resource).
 */
#include "http/router.h"

#include <stdint.h>
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const lx_route_t routes[] = {
    {"GET", "/healthz", NULL},
    {"GET", "/readyz", NULL},
    {"GET", "/metrics", NULL},
    {"GET", "/v1/me", NULL},
    {"POST", "/v1/accounts", NULL},
    {"GET", "/v1/accounts", NULL},
    {"GET", "/v1/accounts/{id}", NULL},
    {"GET", "/v1/accounts/{id}/keys", NULL},
    {"POST", "/v1/accounts/{id}/keys", NULL},
    {"DELETE", "/v1/accounts/{id}/keys/{key_id}", NULL},
    /* overlapping rows: a literal after its parameterised sibling, a second method, the parameter cap */
    {"PUT", "/v1/accounts/{id}/keys/{key_id}", NULL},
    {"GET", "/v1/accounts/{id}/keys/current", NULL},
    {"GET", "/{a}/{b}/{c}/{d}", NULL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Reference: one pattern against a path, segment by segment. */
static int ref_match(const char *pat, const char *path, size_t len)
{
    size_t plen = strlen(pat), pi = 0, si = 0;
    if (len == 0 || path[0] != '/') return 0;
    for (;;) {
        /* both at a '/' */
        if (pi >= plen || si >= len || pat[pi] != '/' || path[si] != '/') return 0;
        size_t pe = pi + 1, se = si + 1;
        while (pe < plen && pat[pe] != '/') pe++;
        while (se < len && path[se] != '/') se++;
        if (pat[pi + 1] == '{') {
            if (se == si + 1) return 0;
        } else if (pe - pi != se - si || memcmp(pat + pi, path + si, pe - pi) != 0) {
            return 0;
        }
        pi = pe, si = se;
        if (pi == plen || si == len) return pi == plen && si == len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sp = memchr(data, ' ', size);
    size_t mlen = sp ? (size_t)(sp - data) : 3;
    size_t plen = sp ? size - mlen - 1 : size;
    /* exact-size heap copies: reading past method_len / path_len is an ASan report */
    char *method = malloc(mlen ? mlen : 1), *path = malloc(plen ? plen : 1);
    FUZZ_ASSERT(method != NULL && path != NULL);
    memcpy(method, sp ? (const char *)data : "GET", mlen);
    memcpy(path, sp ? (const char *)sp + 1 : (const char *)data, plen);

    lx_route_match_t m;
    memset(&m, 0x5a, sizeof(m));
    lx_status_t st = lx_router_match(routes, NROUTES, method, mlen, path, plen, &m);
    FUZZ_ASSERT(st == LX_OK || st == LX_ERR_NOT_FOUND || st == LX_ERR_METHOD_NOT_ALLOWED);
    FUZZ_ASSERT(memchr(m.allow, '\0', sizeof(m.allow)) != NULL);

    /* reference answer: HEAD is GET; only the most literal matching patterns count */
    size_t rlen = plen > 1 && path[plen - 1] == '/' ? plen - 1 : plen;
    int head = mlen == 4 && memcmp(method, "HEAD", 4) == 0;
    const char *emethod = head ? "GET" : method;
    size_t emlen = head ? 3 : mlen;
    const lx_route_t *want = NULL;
    int path_known = 0;
    size_t fewest = SIZE_MAX;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!ref_match(routes[i].pattern, path, rlen)) continue;
        size_t n = 0;
        for (const char *c = routes[i].pattern; *c != '\0'; c++) n += *c == '{';
        if (n < fewest) fewest = n;
    }
    for (size_t i = 0; i < NROUTES && want == NULL; i++) {
        if (!ref_match(routes[i].pattern, path, rlen)) continue;
        size_t n = 0;
        for (const char *c = routes[i].pattern; *c != '\0'; c++) n += *c == '{';
        if (n != fewest) continue;
        path_known = 1;
        if (strlen(routes[i].method) == emlen && memcmp(routes[i].method, emethod, emlen) == 0) want = &routes[i];
    }

    if (st == LX_OK) {
        FUZZ_ASSERT(m.route == want);
        FUZZ_ASSERT(m.allow[0] == '\0');
        FUZZ_ASSERT(m.nparams <= LX_ROUTE_MAX_PARAMS);
        const char *pat = m.route->pattern;
        for (size_t i = 0; i < m.nparams; i++) {
            const lx_route_param_t *p = &m.params[i];
            FUZZ_ASSERT(p->value >= path && p->value_len >= 1 && p->value_len <= plen && p->value + p->value_len <= path + plen);
            FUZZ_ASSERT(memchr(p->value, '/', p->value_len) == NULL);
            FUZZ_ASSERT(p->value[-1] == '/');
            FUZZ_ASSERT(p->name > pat && p->name + p->name_len < pat + strlen(pat) && p->name[-1] == '{' &&
                        p->name[p->name_len] == '}');
            size_t len;
            char name[32];
            FUZZ_ASSERT(p->name_len < sizeof(name));
            memcpy(name, p->name, p->name_len);
            name[p->name_len] = '\0';
            FUZZ_ASSERT(lx_route_param(&m, name, &len) != NULL && len >= 1);
        }
    } else {
        FUZZ_ASSERT(m.route == NULL);
        FUZZ_ASSERT(want == NULL);
        FUZZ_ASSERT(st == (path_known ? LX_ERR_METHOD_NOT_ALLOWED : LX_ERR_NOT_FOUND));
        if (st == LX_ERR_NOT_FOUND) {
            FUZZ_ASSERT(m.allow[0] == '\0');
        } else {
            FUZZ_ASSERT(m.allow[0] != '\0');
            /* the request's own method (nor GET for HEAD) is never offered back as an alternative */
            const char *a = m.allow;
            while (*a != '\0') {
                size_t n = strcspn(a, ",");
                FUZZ_ASSERT(!(n == mlen && memcmp(a, method, mlen) == 0));
                FUZZ_ASSERT(!(n == emlen && memcmp(a, emethod, emlen) == 0));
                a += n;
                if (*a == ',') a += 2;
            }
        }
    }
    free(method);
    free(path);
    return 0;
}
