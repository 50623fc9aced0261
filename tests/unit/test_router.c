/*
 * Unit tests for src/http/router.h: literal and {param} routes, the trailing
 * slash rule, 404 vs 405 with the Allow list (table order, no duplicates,
 * bounded), empty segments, LX_ROUTE_MAX_PARAMS, very long paths, and that
 * method_len / path_len are honoured (no reliance on NUL terminators).
 */
#include "http/router.h"
#include "api/routes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Same shape as src/api/routes.c; `data` carries the row index so a match can be identified. */
static const lx_route_t api[] = {
    {"GET", "/healthz", (void *)0},
    {"GET", "/readyz", (void *)1},
    {"GET", "/metrics", (void *)2},
    {"GET", "/v1/me", (void *)3},
    {"POST", "/v1/accounts", (void *)4},
    {"GET", "/v1/accounts", (void *)5},
    {"GET", "/v1/accounts/{id}", (void *)6},
    {"GET", "/v1/accounts/{id}/keys", (void *)7},
    {"POST", "/v1/accounts/{id}/keys", (void *)8},
    {"DELETE", "/v1/accounts/{id}/keys/{key_id}", (void *)9},
    {"PATCH", "/v1/accounts/{id}", (void *)10},
    {"POST", "/v1/accounts/{id}/deposits", (void *)11},
    {"GET", "/v1/accounts/{id}/balance", (void *)12},
    {"GET", "/v1/ledger", (void *)13},
    {"GET", "/v1/ledger/platform", (void *)14},
    {"POST", "/v1/niches", (void *)15},
    {"GET", "/v1/niches", (void *)16},
    {"GET", "/v1/niches/{slug}", (void *)17},
    {"PATCH", "/v1/niches/{slug}", (void *)18},
    {"GET", "/v1/regions", (void *)19},
    {"POST", "/v1/campaigns", (void *)20},
    {"GET", "/v1/campaigns", (void *)21},
    {"GET", "/v1/campaigns/{id}", (void *)22},
    {"PATCH", "/v1/campaigns/{id}", (void *)23},
    {"POST", "/v1/campaigns/{id}/pause", (void *)24},
    {"POST", "/v1/campaigns/{id}/resume", (void *)25},
    {"POST", "/v1/leads", (void *)26},
    {"POST", "/v1/leads/batch", (void *)27},
    {"GET", "/v1/leads", (void *)28},
    {"GET", "/v1/leads/{id}", (void *)29},
    {"DELETE", "/v1/leads/{id}/contact", (void *)30},
    {"POST", "/v1/erasures", (void *)31},
    {"GET", "/v1/market/leads", (void *)32},
    {"POST", "/v1/market/leads/{id}/purchase", (void *)33},
    {"GET", "/v1/purchases", (void *)34},
    {"GET", "/v1/purchases/{id}", (void *)35},
};
#define NAPI (sizeof(api) / sizeof(api[0]))

typedef struct {
    const char *method, *path;
    lx_status_t status;
    int route;         /* index into api[] when LX_OK */
    const char *allow; /* expected Allow when 405 */
    const char *p1, *v1, *p2, *v2;
} case_t;

static const case_t cases[] = {
    /* literals */
    {"GET", "/healthz", LX_OK, 0, "", NULL, NULL, NULL, NULL},
    {"GET", "/readyz", LX_OK, 1, "", NULL, NULL, NULL, NULL},
    {"GET", "/v1/me", LX_OK, 3, "", NULL, NULL, NULL, NULL},
    {"GET", "/v1/accounts", LX_OK, 5, "", NULL, NULL, NULL, NULL},
    {"POST", "/v1/accounts", LX_OK, 4, "", NULL, NULL, NULL, NULL},
    /* trailing slash names the same resource, once */
    {"GET", "/healthz/", LX_OK, 0, "", NULL, NULL, NULL, NULL},
    {"GET", "/v1/accounts/", LX_OK, 5, "", NULL, NULL, NULL, NULL},
    {"GET", "/healthz//", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    /* near misses */
    {"GET", "/", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "healthz", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "/HEALTHZ", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "/healthzz", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "/health", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "//healthz", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "/v1", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "/v2/me", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    /* a literal segment beside a parameter names its own resource, whatever the method: "batch" is no lead id */
    {"POST", "/v1/leads/batch", LX_OK, 27, "", NULL, NULL, NULL, NULL},
    {"GET", "/v1/leads/batch", LX_ERR_METHOD_NOT_ALLOWED, -1, "POST", NULL, NULL, NULL, NULL},
    {"HEAD", "/v1/leads/batch", LX_ERR_METHOD_NOT_ALLOWED, -1, "POST", NULL, NULL, NULL, NULL},
    {"DELETE", "/v1/leads/batch", LX_ERR_METHOD_NOT_ALLOWED, -1, "POST", NULL, NULL, NULL, NULL},
    {"GET", "/v1/leads/batch2", LX_OK, 29, "", "id", "batch2", NULL, NULL},
    {"PATCH", "/v1/niches/loans", LX_OK, 18, "", "slug", "loans", NULL, NULL},
    {"DELETE", "/v1/niches/loans", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD, PATCH", NULL, NULL, NULL, NULL},
    {"DELETE", "/v1/leads/x/contact", LX_OK, 30, "", "id", "x", NULL, NULL},
    {"GET", "/v1/leads/x/contact", LX_ERR_METHOD_NOT_ALLOWED, -1, "DELETE", NULL, NULL, NULL, NULL},
    /* parameters */
    {"GET", "/v1/accounts/abc", LX_OK, 6, "", "id", "abc", NULL, NULL},
    {"GET", "/v1/accounts/abc/", LX_OK, 6, "", "id", "abc", NULL, NULL},
    {"GET", "/v1/accounts/0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", LX_OK, 6, "", "id", "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", NULL,
     NULL},
    {"GET", "/v1/accounts/abc/keys", LX_OK, 7, "", "id", "abc", NULL, NULL},
    {"POST", "/v1/accounts/abc/keys", LX_OK, 8, "", "id", "abc", NULL, NULL},
    {"DELETE", "/v1/accounts/a/keys/k", LX_OK, 9, "", "id", "a", "key_id", "k"},
    {"DELETE", "/v1/accounts/a/keys/k/", LX_OK, 9, "", "id", "a", "key_id", "k"},
    /* empty segments never bind a parameter */
    {"GET", "/v1/accounts//keys", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "/v1/accounts//", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"DELETE", "/v1/accounts/a/keys//", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"DELETE", "/v1/accounts//keys/k", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    {"GET", "/v1/accounts/a/keys/k/extra", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    /* 405 with Allow in table order, HEAD after each GET */
    {"POST", "/healthz", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD", NULL, NULL, NULL, NULL},
    {"DELETE", "/v1/accounts", LX_ERR_METHOD_NOT_ALLOWED, -1, "POST, GET, HEAD", NULL, NULL, NULL, NULL},
    {"PUT", "/v1/accounts/abc", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD, PATCH", NULL, NULL, NULL, NULL},
    {"PATCH", "/v1/accounts/abc/keys", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD, POST", NULL, NULL, NULL, NULL},
    {"DELETE", "/v1/accounts/abc/keys", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD, POST", NULL, NULL, NULL, NULL},
    {"GET", "/v1/accounts/a/keys/k", LX_ERR_METHOD_NOT_ALLOWED, -1, "DELETE", NULL, NULL, NULL, NULL},
    /* HEAD is routed as GET, and only where GET is */
    {"HEAD", "/healthz", LX_OK, 0, "", NULL, NULL, NULL, NULL},
    {"HEAD", "/v1/accounts/abc/keys", LX_OK, 7, "", "id", "abc", NULL, NULL},
    {"HEAD", "/v1/accounts/a/keys/k", LX_ERR_METHOD_NOT_ALLOWED, -1, "DELETE", NULL, NULL, NULL, NULL},
    {"HEAD", "/v1/erasures", LX_ERR_METHOD_NOT_ALLOWED, -1, "POST", NULL, NULL, NULL, NULL},
    {"HEAD", "/nowhere", LX_ERR_NOT_FOUND, -1, "", NULL, NULL, NULL, NULL},
    /* methods are case-sensitive and compared by length */
    {"get", "/healthz", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD", NULL, NULL, NULL, NULL},
    {"head", "/healthz", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD", NULL, NULL, NULL, NULL},
    {"HEADS", "/healthz", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD", NULL, NULL, NULL, NULL},
    {"GE", "/healthz", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD", NULL, NULL, NULL, NULL},
    {"GETS", "/healthz", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD", NULL, NULL, NULL, NULL},
    {"", "/healthz", LX_ERR_METHOD_NOT_ALLOWED, -1, "GET, HEAD", NULL, NULL, NULL, NULL},
};

static void check_param(const lx_route_match_t *m, const char *name, const char *want, const char *path, size_t path_len)
{
    size_t len = 99;
    const char *v = lx_route_param(m, name, &len);
    if (!CHECK(v != NULL)) return;
    CHECK_EQ_INT(len, strlen(want));
    CHECK(len == strlen(want) && memcmp(v, want, len) == 0);
    CHECK(v >= path && v + len <= path + path_len); /* points into the request path */
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const case_t *c = &cases[i];
        CHECK_CTX("%s %s", c->method, c->path);
        lx_route_match_t m;
        memset(&m, 0xa5, sizeof(m)); /* garbage in: the router must initialise what it reports */
        lx_status_t st = lx_router_match(api, NAPI, c->method, strlen(c->method), c->path, strlen(c->path), &m);
        CHECK_EQ_INT(st, c->status);
        if (c->status == LX_OK) {
            if (CHECK(m.route != NULL)) CHECK_EQ_INT((uintptr_t)m.route->data, c->route);
            CHECK_EQ_STR(m.allow, "");
            CHECK_EQ_INT(m.nparams, (c->p1 != NULL) + (c->p2 != NULL));
            if (c->p1 != NULL) check_param(&m, c->p1, c->v1, c->path, strlen(c->path));
            if (c->p2 != NULL) check_param(&m, c->p2, c->v2, c->path, strlen(c->path));
        } else {
            CHECK(m.route == NULL);
            CHECK_EQ_STR(m.allow, c->allow);
        }
    }
    CHECK_CTX("%s", "");
}

/* A concrete path for a pattern: each {param} replaced by "x1". */
static void instantiate(const char *pattern, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 3 < cap; p++) {
        if (*p == '{') {
            while (*p && *p != '}') p++;
            out[o++] = 'x';
            out[o++] = '1';
            if (!*p) break;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/*
 * The real table from src/api/routes.c: every route of the copy above is in it, no (method, pattern) twice, and
 * every row is reachable: a concrete path of its pattern matches that very row (an earlier literal or parameter
 * route cannot shadow it). Guards against drift without freezing the table's order.
 */
static void test_real_table(void)
{
    size_t n;
    const lx_route_t *routes = lx_api_routes(&n);
    CHECK(n >= NAPI);
    for (size_t i = 0; i < NAPI; i++) {
        CHECK_CTX("copy row %zu %s %s", i, api[i].method, api[i].pattern);
        int found = 0;
        for (size_t j = 0; j < n; j++)
            found += strcmp(routes[j].method, api[i].method) == 0 && strcmp(routes[j].pattern, api[i].pattern) == 0;
        CHECK_EQ_INT(found, 1);
    }
    for (size_t j = 0; j < n; j++) {
        CHECK_CTX("real row %zu %s %s", j, routes[j].method, routes[j].pattern);
        for (size_t k = j + 1; k < n; k++)
            CHECK(strcmp(routes[j].method, routes[k].method) != 0 || strcmp(routes[j].pattern, routes[k].pattern) != 0);
        char path[256];
        instantiate(routes[j].pattern, path, sizeof(path));
        lx_route_match_t m;
        CHECK_EQ_INT(lx_router_match(routes, n, routes[j].method, strlen(routes[j].method), path, strlen(path), &m), LX_OK);
        CHECK(m.route == &routes[j]);
    }
    CHECK_CTX("%s", "");
    lx_route_match_t m;
    CHECK_EQ_INT(lx_router_match(routes, n, "DELETE", 6, "/v1/accounts", 12, &m), LX_ERR_METHOD_NOT_ALLOWED);
    CHECK_EQ_STR(m.allow, "POST, GET, HEAD");
}

/* method_len and path_len bound the comparison: the bytes after them are not part of the request. */
static void test_lengths_honoured(void)
{
    lx_route_match_t m;
    CHECK_EQ_INT(lx_router_match(api, NAPI, "GETXYZ", 3, "/healthzXYZ", 8, &m), LX_OK);
    CHECK(m.route == &api[0]);
    CHECK_EQ_INT(lx_router_match(api, NAPI, "GET", 3, "/v1/accounts/abc/keys", 16, &m), LX_OK);
    CHECK(m.route == &api[6]);
    size_t len;
    const char *v = lx_route_param(&m, "id", &len);
    CHECK(v != NULL && len == 3 && memcmp(v, "abc", 3) == 0);
}

static void test_param_lookup(void)
{
    lx_route_match_t m;
    const char *path = "/v1/accounts/acc/keys/key";
    CHECK_EQ_INT(lx_router_match(api, NAPI, "DELETE", 6, path, strlen(path), &m), LX_OK);
    size_t len = 7;
    /* "id" must not be confused with "key_id", nor a prefix accepted */
    const char *v = lx_route_param(&m, "id", &len);
    CHECK(v == path + 13 && len == 3);
    v = lx_route_param(&m, "key_id", &len);
    CHECK(v == path + 22 && len == 3);
    len = 7;
    CHECK(lx_route_param(&m, "key", &len) == NULL);
    CHECK_EQ_INT(len, 0);
    len = 7;
    CHECK(lx_route_param(&m, "", &len) == NULL);
    CHECK_EQ_INT(len, 0);
    len = 7;
    CHECK(lx_route_param(&m, "ids", &len) == NULL);
    CHECK_EQ_INT(len, 0);
}

/* The most literal patterns a path matches name its resource, in whatever order the table lists them: a literal
 * segment beats a parameterised sibling for every method, and two parameters lose to one. The Allow list collects
 * each method once, in table order. */
static void test_overlap_and_allow_dedup(void)
{
    static const lx_route_t t[] = {
        {"POST", "/v1/items/{id}", NULL}, {"GET", "/v1/items/new", NULL},  {"GET", "/v1/items/{id}", NULL},
        {"PUT", "/v1/items/{id}", NULL},  {"GET", "/v1/items/{id}", NULL}, {"POST", "/v1/items/{id}", NULL},
        {"DELETE", "/v1/other", NULL},    {"GET", "/v1/{a}/{b}/x", NULL},  {"PUT", "/v1/{a}/b/x", NULL},
    };
    size_t n = sizeof(t) / sizeof(t[0]);
    lx_route_match_t m;
    CHECK_EQ_INT(lx_router_match(t, n, "GET", 3, "/v1/items/new", 13, &m), LX_OK);
    CHECK(m.route == &t[1]);
    CHECK_EQ_INT(m.nparams, 0);
    CHECK_EQ_INT(lx_router_match(t, n, "GET", 3, "/v1/items/old", 13, &m), LX_OK);
    CHECK(m.route == &t[2]);
    CHECK_EQ_INT(lx_router_match(t, n, "POST", 4, "/v1/items/new", 13, &m), LX_ERR_METHOD_NOT_ALLOWED);
    CHECK_EQ_STR(m.allow, "GET, HEAD");
    CHECK_EQ_INT(lx_router_match(t, n, "DELETE", 6, "/v1/items/x", 11, &m), LX_ERR_METHOD_NOT_ALLOWED);
    CHECK_EQ_STR(m.allow, "POST, GET, HEAD, PUT");
    CHECK_EQ_INT(lx_router_match(t, n, "GET", 3, "/v1/a/b/x", 9, &m), LX_ERR_METHOD_NOT_ALLOWED);
    CHECK_EQ_STR(m.allow, "PUT");
    CHECK_EQ_INT(lx_router_match(t, n, "GET", 3, "/v1/a/c/x", 9, &m), LX_OK);
    CHECK(m.route == &t[7]);
    /* an empty table routes nothing */
    CHECK_EQ_INT(lx_router_match(t, 0, "GET", 3, "/v1/items/new", 13, &m), LX_ERR_NOT_FOUND);
    CHECK_EQ_STR(m.allow, "");
}

#if 1 /* fixed: Allow membership is by whole token */
/* Known bug (reported, not fixed here): the duplicate check is a substring search, so a method that is a
 * substring of one already listed (PATCH after PROPPATCH, LOCK after UNLOCK) is left out of Allow. */
static void test_allow_substring_methods(void)
{
    static const lx_route_t t[] = {{"PROPPATCH", "/r", NULL}, {"PATCH", "/r", NULL}, {"UNLOCK", "/r", NULL}, {"LOCK", "/r", NULL}};
    lx_route_match_t m;
    CHECK_EQ_INT(lx_router_match(t, 4, "GET", 3, "/r", 2, &m), LX_ERR_METHOD_NOT_ALLOWED);
    CHECK_EQ_STR(m.allow, "PROPPATCH, PATCH, UNLOCK, LOCK");
}
#endif

/* Many methods on one path: the Allow list stays within its buffer, NUL-terminated, without a dangling ", ". */
static void test_allow_cap(void)
{
    static const lx_route_t t[] = {
        {"METHOD-A", "/x", NULL}, {"METHOD-B", "/x", NULL}, {"METHOD-C", "/x", NULL}, {"METHOD-D", "/x", NULL},
        {"METHOD-E", "/x", NULL}, {"METHOD-F", "/x", NULL}, {"METHOD-G", "/x", NULL}, {"METHOD-H", "/x", NULL},
        {"METHOD-I", "/x", NULL}, {"METHOD-J", "/x", NULL}, {"METHOD-K", "/x", NULL}, {"METHOD-L", "/x", NULL},
        {"METHOD-M", "/x", NULL}, {"METHOD-N", "/x", NULL},
    };
    lx_route_match_t m;
    memset(&m, 'Z', sizeof(m));
    CHECK_EQ_INT(lx_router_match(t, sizeof(t) / sizeof(t[0]), "GET", 3, "/x", 2, &m), LX_ERR_METHOD_NOT_ALLOWED);
    size_t len = strnlen(m.allow, sizeof(m.allow));
    CHECK(len < sizeof(m.allow));
    CHECK(strncmp(m.allow, "METHOD-A, METHOD-B, ", 20) == 0);
    CHECK(len >= 2 && m.allow[len - 1] != ' ' && m.allow[len - 2] != ',');
    CHECK_EQ_INT(len % 10, 8); /* whole "METHOD-x" entries separated by ", " */
}

static void test_max_params(void)
{
    static const lx_route_t t[] = {
        {"GET", "/four/{a}/{b}/{c}/{d}", NULL},
        {"GET", "/five/{a}/{b}/{c}/{d}/{e}", NULL},
    };
    lx_route_match_t m;
    const char *p4 = "/four/1/22/333/4444";
    CHECK_EQ_INT(LX_ROUTE_MAX_PARAMS, 4);
    CHECK_EQ_INT(lx_router_match(t, 2, "GET", 3, p4, strlen(p4), &m), LX_OK);
    CHECK_EQ_INT(m.nparams, LX_ROUTE_MAX_PARAMS);
    check_param(&m, "a", "1", p4, strlen(p4));
    check_param(&m, "b", "22", p4, strlen(p4));
    check_param(&m, "c", "333", p4, strlen(p4));
    check_param(&m, "d", "4444", p4, strlen(p4));
    /* One parameter over the cap: the pattern can never match, and nothing is written past params[]. */
    const char *p5 = "/five/1/2/3/4/5";
    CHECK_EQ_INT(lx_router_match(t, 2, "GET", 3, p5, strlen(p5), &m), LX_ERR_NOT_FOUND);
    CHECK(m.route == NULL);
}

static void test_long_paths(void)
{
    size_t n = 1 << 16;
    char *p = malloc(n + 1);
    if (!CHECK(p != NULL)) return;
    lx_route_match_t m;
    /* many short segments */
    for (size_t i = 0; i < n; i += 2) p[i] = '/', p[i + 1] = 'a';
    CHECK_EQ_INT(lx_router_match(api, NAPI, "GET", 3, p, n, &m), LX_ERR_NOT_FOUND);
    /* only slashes */
    memset(p, '/', n);
    CHECK_EQ_INT(lx_router_match(api, NAPI, "GET", 3, p, n, &m), LX_ERR_NOT_FOUND);
    /* one huge parameter value */
    memcpy(p, "/v1/accounts/", 13);
    memset(p + 13, 'x', n - 13);
    CHECK_EQ_INT(lx_router_match(api, NAPI, "GET", 3, p, n, &m), LX_OK);
    CHECK(m.route == &api[6]);
    size_t len;
    const char *v = lx_route_param(&m, "id", &len);
    CHECK(v == p + 13 && len == n - 13);
    /* huge literal segment that shares a prefix with a route */
    memcpy(p, "/healthz", 8);
    memset(p + 8, 'z', n - 8);
    CHECK_EQ_INT(lx_router_match(api, NAPI, "GET", 3, p, n, &m), LX_ERR_NOT_FOUND);
    free(p);
}

int main(void)
{
    test_table();
    test_real_table();
    test_lengths_honoured();
    test_param_lookup();
    test_overlap_and_allow_dedup();
#if 1 /* fixed: Allow membership is by whole token */
    test_allow_substring_methods();
#endif
    test_allow_cap();
    test_max_params();
    test_long_paths();
    return check_summary();
}
