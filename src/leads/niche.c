#include "leads/niche.h"
#include "billing/returns.h"
#include "leads/attrs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {"active", "paused", "archived", NULL};

const char *lx_niche_status_name(lx_niche_status_t s)
{
    return status_names[s];
}

static int64_t col_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The return_auto_accept column (PostgreSQL's text[] output of reason names) as a JSON array in reason order. */
static json_t *auto_accept_json(const PGresult *r, int row)
{
    unsigned mask = 0;
    if (lx_return_reasons_from_pg(PQgetvalue(r, row, 16), &mask) != 0) /* the column's CHECK allows nothing else */
        lx_log(LX_LOG_ERROR, "niche_policy_unreadable", "niche %s: return_auto_accept %s", PQgetvalue(r, row, 1),
               PQgetvalue(r, row, 16));
    json_t *a = json_array();
    for (int i = 0; i < LX_RETURN__COUNT; i++)
        if (mask & (1u << i)) json_array_append_new(a, json_string(lx_return_reasons[i]));
    return a;
}

json_t *lx_niche_json(const PGresult *r, int row)
{
    const char *attrs_text = PQgetvalue(r, row, 12);
    json_t *attrs = json_loadb(attrs_text, (size_t)PQgetlength(r, row, 12), 0, NULL);
    if (attrs == NULL) { /* schemas are checked before they are stored: this is damage, say so */
        lx_log(LX_LOG_ERROR, "niche_schema_unreadable", "niche %s: stored attribute schema does not parse", PQgetvalue(r, row, 1));
        attrs = json_pack("{s:{s:s}}", "__unreadable__", "type", "damaged"); /* fails lx_attrs_validate: 500 */
    }
    json_t *n =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:o, s:o}", "id", PQgetvalue(r, row, 0),
                  "slug", PQgetvalue(r, row, 1), "name", PQgetvalue(r, row, 2), "currency", PQgetvalue(r, row, 3), "max_shares",
                  (json_int_t)col_int(r, row, 4), "floor_exclusive", (json_int_t)col_int(r, row, 5), "floor_shared",
                  (json_int_t)col_int(r, row, 6), "return_window_hours", (json_int_t)col_int(r, row, 7), "inventory_ttl_hours",
                  (json_int_t)col_int(r, row, 8), "dedupe_days", (json_int_t)col_int(r, row, 9), "fee_bps",
                  (json_int_t)col_int(r, row, 10), "min_quality", (json_int_t)col_int(r, row, 11), "attributes", attrs, "status",
                  PQgetvalue(r, row, 13), "created_at", lx_ts_json(r, row, 14), "updated_at", lx_ts_json(r, row, 15));
    json_object_set_new(n, "return_auto_accept", auto_accept_json(r, row));
    json_object_set_new(n, "return_max_rate_bps", json_integer(col_int(r, row, 17)));
    return n;
}

lx_niche_t *lx_niche_from_row(const PGresult *r, int row, uint64_t now_ms)
{
    if (PQnfields(r) < LX_NICHE_NCOLS || PQgetlength(r, row, 0) != LX_UUID_STRLEN || PQgetlength(r, row, 1) > LX_NICHE_SLUG_MAX ||
        PQgetlength(r, row, 3) != 3)
        return NULL;
    lx_niche_t *n = lx_calloc(1, sizeof(*n));
    n->refs = 1;
    memcpy(n->id, PQgetvalue(r, row, 0), LX_UUID_STRLEN + 1);
    strcpy(n->slug, PQgetvalue(r, row, 1));
    memcpy(n->currency, PQgetvalue(r, row, 3), 4);
    n->max_shares = (int)col_int(r, row, 4);
    n->floor_exclusive = col_int(r, row, 5);
    n->floor_shared = col_int(r, row, 6);
    n->return_window_hours = (int)col_int(r, row, 7);
    n->inventory_ttl_hours = (int)col_int(r, row, 8);
    n->dedupe_days = (int)col_int(r, row, 9);
    n->fee_bps = (int)col_int(r, row, 10);
    n->min_quality = (int)col_int(r, row, 11);
    if (lx_return_reasons_from_pg(PQgetvalue(r, row, 16), &n->return_auto_accept) != 0) n->return_auto_accept = 0;
    n->return_max_rate_bps = (int)col_int(r, row, 17);
    n->status = LX_NICHE_ACTIVE;
    for (int i = 0; status_names[i] != NULL; i++)
        if (strcmp(PQgetvalue(r, row, 13), status_names[i]) == 0) n->status = (lx_niche_status_t)i;
    n->resource = lx_niche_json(r, row);
    n->attributes = json_incref(json_object_get(n->resource, "attributes"));
    n->fetched_ms = now_ms;
    return n;
}

void lx_niche_ref(lx_niche_t *n)
{
    n->refs++;
}

void lx_niche_unref(lx_niche_t *n)
{
    if (n == NULL || --n->refs > 0) return;
    json_decref(n->attributes);
    json_decref(n->resource);
    free(n);
}

/* ---- request bodies ---------------------------------------------------------------- */

int lx_niche_slug_valid(const char *s, size_t len)
{
    /* lower-case words joined by single hyphens: it appears in URLs and bids */
    int ok = len >= 1 && len <= LX_NICHE_SLUG_MAX, prev_hyphen = 1;
    for (size_t i = 0; i < len && ok; i++) {
        if (s[i] == '-')
            ok = !prev_hyphen, prev_hyphen = 1;
        else
            ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'), prev_hyphen = 0;
    }
    return ok && !prev_hyphen;
}

static void check_slug(json_t *body, unsigned flags, lx_error_t *err)
{
    const char *slug;
    if (lx_json_string(body, "", "slug", flags, 1, LX_NICHE_SLUG_MAX, &slug, err) != 1) return;
    if (!lx_niche_slug_valid(slug, strlen(slug)))
        lx_error_field(err, "/slug", "must be lower-case letters and digits in words joined by single hyphens");
}

static void check_currency(json_t *body, lx_error_t *err)
{
    const char *cur;
    if (lx_json_string(body, "", "currency", LX_JF_REQUIRED, 3, 3, &cur, err) != 1) return;
    for (int i = 0; i < 3; i++)
        if (cur[i] < 'A' || cur[i] > 'Z') {
            lx_error_field(err, "/currency", "must be an ISO 4217 currency code");
            return;
        }
}

/* return_auto_accept: an array of distinct return reasons (billing/returns.h). */
static void check_auto_accept(json_t *body, lx_error_t *err)
{
    json_t *a = json_object_get(body, "return_auto_accept");
    if (a == NULL) return;
    if (!json_is_array(a)) {
        lx_error_field(err, "/return_auto_accept", "must be an array of return reasons");
        return;
    }
    unsigned seen = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/return_auto_accept/%zu", i);
        int r = json_is_string(v) ? lx_return_reason_parse(json_string_value(v), json_string_length(v)) : -1;
        if (r < 0)
            lx_error_field(err, ptr, "must be one of invalid_contact, duplicate, out_of_region, fake, other");
        else if (seen & (1u << r))
            lx_error_field(err, ptr, "names %s twice", lx_return_reasons[r]);
        else
            seen |= 1u << r;
        if (i >= LX_RETURN__COUNT) break; /* past five entries one is a repeat or not a reason: reported above */
    }
}

/* The members both create and patch may carry; `required` applies to create. */
static void check_mutable(json_t *body, int create, lx_error_t *err)
{
    unsigned req = create ? LX_JF_REQUIRED : 0;
    const char *s;
    int64_t v;
    int idx;
    lx_json_string(body, "", "name", req, 1, 200, &s, err);
    lx_json_int(body, "", "max_shares", 0, 1, 20, &v, err);
    lx_json_int(body, "", "floor_exclusive", req, 0, INT64_C(1000000000000), &v, err);
    lx_json_int(body, "", "floor_shared", req, 0, INT64_C(1000000000000), &v, err);
    lx_json_int(body, "", "return_window_hours", 0, 0, 8760, &v, err);
    lx_json_int(body, "", "inventory_ttl_hours", 0, 1, 8760, &v, err);
    lx_json_int(body, "", "dedupe_days", 0, 0, 3650, &v, err);
    lx_json_int(body, "", "fee_bps", req, 0, 10000, &v, err);
    lx_json_int(body, "", "min_quality", 0, 0, 100, &v, err);
    lx_json_enum(body, "", "status", 0, status_names, &idx, err);
    json_t *attrs = json_object_get(body, "attributes");
    if (attrs != NULL) lx_attrs_schema_check(attrs, "/attributes", err);
    lx_json_int(body, "", "return_max_rate_bps", 0, 0, 10000, &v, err);
    check_auto_accept(body, err);
}

const char *const lx_niche_members[LX_NICHE_MEMBERS + 1] = {"slug",
                                                            "currency",
                                                            "name",
                                                            "max_shares",
                                                            "floor_exclusive",
                                                            "floor_shared",
                                                            "return_window_hours",
                                                            "inventory_ttl_hours",
                                                            "dedupe_days",
                                                            "fee_bps",
                                                            "min_quality",
                                                            "attributes",
                                                            "status",
                                                            "return_auto_accept",
                                                            "return_max_rate_bps",
                                                            NULL};

lx_status_t lx_niche_check_create(json_t *body, lx_error_t *err)
{
    if (lx_json_expect_object(body, "", err) != 0) return lx_error_set(err, LX_ERR_VALIDATION, "The body must be a JSON object.");
    lx_json_reject_unknown(body, "", lx_niche_members, err);
    check_slug(body, LX_JF_REQUIRED, err);
    check_currency(body, err);
    check_mutable(body, 1, err);
    if (err->nfields != 0) return lx_error_set(err, LX_ERR_VALIDATION, "The niche is not valid.");
    return LX_OK;
}

lx_status_t lx_niche_check_patch(json_t *body, lx_error_t *err)
{
    if (lx_json_expect_object(body, "", err) != 0) return lx_error_set(err, LX_ERR_VALIDATION, "The body must be a JSON object.");
    /* slug and currency are known members that may not change: named as such, not as unknown */
    lx_json_reject_unknown(body, "", lx_niche_members, err);
    if (json_object_get(body, "slug") != NULL) lx_error_field(err, "/slug", "cannot be changed (leads and bids refer to it)");
    if (json_object_get(body, "currency") != NULL)
        lx_error_field(err, "/currency", "cannot be changed (bids and balances are in it)");
    if (json_object_size(body) == 0) lx_error_field(err, "", "must change at least one member");
    check_mutable(body, 0, err);
    if (err->nfields != 0) return lx_error_set(err, LX_ERR_VALIDATION, "The change is not valid.");
    return LX_OK;
}

/* ---- per-thread cache --------------------------------------------------------------- */

void lx_niche_cache_init(lx_niche_cache_t *c, uint64_t ttl_ms)
{
    memset(c, 0, sizeof(*c));
    c->ttl_ms = ttl_ms;
}

void lx_niche_cache_clear(lx_niche_cache_t *c)
{
    c->generation++;
    for (size_t i = 0; i < c->n; i++) lx_niche_unref(c->items[i]);
    c->n = 0;
}

void lx_niche_cache_dispose(lx_niche_cache_t *c)
{
    lx_niche_cache_clear(c);
    free(c->items);
    c->items = NULL;
    c->cap = 0;
}

static size_t find(const lx_niche_cache_t *c, const char *slug)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i]->slug, slug) == 0) return i;
    return SIZE_MAX;
}

lx_niche_t *lx_niche_cache_get(lx_niche_cache_t *c, const char *slug, uint64_t now_ms)
{
    size_t i = find(c, slug);
    if (i == SIZE_MAX) return NULL;
    if (now_ms - c->items[i]->fetched_ms > c->ttl_ms) {
        lx_niche_unref(c->items[i]);
        c->items[i] = c->items[--c->n];
        return NULL;
    }
    return c->items[i];
}

void lx_niche_cache_put(lx_niche_cache_t *c, lx_niche_t *n)
{
    lx_niche_ref(n);
    size_t i = find(c, n->slug);
    if (i != SIZE_MAX) {
        lx_niche_unref(c->items[i]);
        c->items[i] = n;
        return;
    }
    if (c->n == 1024) /* a cache, not a store: a catalogue this large just gets re-read */
        lx_niche_cache_clear(c);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->items = lx_realloc(c->items, c->cap * sizeof(*c->items));
    }
    c->items[c->n++] = n;
}
