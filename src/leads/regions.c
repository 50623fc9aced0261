#include "leads/regions.h"
#include "util/strbuf.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct st_lx_regions_t {
    char (*codes)[LX_REGION_CODE_MAX + 1]; /* sorted */
    size_t n;
};

static int cmp_code(const void *a, const void *b)
{
    return strcmp(a, b);
}

static lx_regions_t *build(size_t n)
{
    lx_regions_t *r = lx_calloc(1, sizeof(*r));
    r->codes = lx_calloc(n ? n : 1, sizeof(*r->codes));
    return r;
}

static void finish(lx_regions_t *r)
{
    qsort(r->codes, r->n, sizeof(*r->codes), cmp_code);
}

lx_regions_t *lx_regions_from_codes(const char *const codes[], size_t n)
{
    lx_regions_t *r = build(n);
    for (size_t i = 0; i < n; i++)
        if (strlen(codes[i]) <= LX_REGION_CODE_MAX) strcpy(r->codes[r->n++], codes[i]);
    finish(r);
    return r;
}

lx_status_t lx_regions_load(const char *conninfo, lx_regions_t **out, lx_error_t *err)
{
    *out = NULL;
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        lx_error_set(err, LX_ERR_DB_UNAVAILABLE, "cannot load the region catalogue: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return err->status;
    }
    PGresult *res = PQexec(pg, "SELECT code FROM regions");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        lx_error_set(err, LX_ERR_INTERNAL, "cannot load the region catalogue: %s", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(pg);
        return err->status;
    }
    size_t n = (size_t)PQntuples(res);
    lx_regions_t *r = build(n);
    for (size_t i = 0; i < n; i++) {
        const char *code = PQgetvalue(res, (int)i, 0);
        if (strlen(code) <= LX_REGION_CODE_MAX) strcpy(r->codes[r->n++], code);
    }
    finish(r);
    PQclear(res);
    PQfinish(pg);
    *out = r;
    return LX_OK;
}

void lx_regions_free(lx_regions_t *r)
{
    if (r == NULL) return;
    free(r->codes);
    free(r);
}

size_t lx_regions_count(const lx_regions_t *r)
{
    return r->n;
}

int lx_regions_exists(const lx_regions_t *r, const char *code, size_t len)
{
    if (len == 0 || len > LX_REGION_CODE_MAX) return 0;
    char key[LX_REGION_CODE_MAX + 1];
    memcpy(key, code, len);
    key[len] = '\0';
    return bsearch(key, r->codes, r->n, sizeof(*r->codes), cmp_code) != NULL;
}
