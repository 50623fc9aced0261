#include "market/campaign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leads/attrs.h"
#include "util/id.h"
#include "util/json.h"
#include "util/strbuf.h"

static const char *const status_names[] = {"active", "paused", "archived", NULL};
static const char *const create_statuses[] = {"active", "paused", NULL};
static const char *const members[] = {"niche",
                                      "name",
                                      "regions",
                                      "price_exclusive",
                                      "price_shared",
                                      "filters",
                                      "schedule",
                                      "daily_cap",
                                      "budget",
                                      "exclude_sources",
                                      "exclude_bought_contacts_days",
                                      "status",
                                      NULL};
static const char *const filter_members[] = {"attributes", "required", "min_quality", "temperatures", NULL};
static const char *const operators[] = {"eq", "in", "gte", "lte", NULL};
static const char *const temperatures[] = {"hot", "warm", "cold", NULL};
static const char *const schedule_members[] = {"tz", "hours", NULL};
static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

const char *lx_campaign_status_name(lx_campaign_status_t s)
{
    return status_names[s];
}

/* Field errors recorded so far, including those past the cap: a check failed iff this grew. */
static size_t error_count(const lx_error_t *err)
{
    return err->nfields + err->nfields_dropped;
}

static int index_of(const char *const list[], const char *s)
{
    for (int i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0) return i;
    return -1;
}

/* ---- parameters ------------------------------------------------------------------------- */

static void set_param(lx_campaign_t *c, lx_campaign_param_t p, char *value)
{
    free(c->params[p]);
    c->params[p] = value;
    c->set |= 1u << p;
}

static void set_text(lx_campaign_t *c, lx_campaign_param_t p, const char *s, size_t len)
{
    char *v = lx_malloc(len + 1);
    memcpy(v, s, len);
    v[len] = '\0';
    set_param(c, p, v);
}

static void set_int(lx_campaign_t *c, lx_campaign_param_t p, int64_t n)
{
    char buf[24];
    int len = snprintf(buf, sizeof(buf), "%lld", (long long)n);
    set_text(c, p, buf, (size_t)len);
}

static void set_json(lx_campaign_t *c, lx_campaign_param_t p, json_t *v)
{
    set_param(c, p, v != NULL ? lx_json_dumps(v) : NULL);
}

void lx_campaign_dispose(lx_campaign_t *c)
{
    for (int p = 0; p < LX_CAMPAIGN__PARAMS; p++) {
        free(c->params[p]);
        c->params[p] = NULL;
    }
}

/* Appends `s` as a quoted element of a PostgreSQL array literal: {"a","b\"c"}. */
static void array_element(lx_strbuf_t *sb, const char *s, size_t len)
{
    lx_strbuf_append(sb, sb->len > 1 ? ",\"" : "\"", sb->len > 1 ? 2 : 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') lx_strbuf_append(sb, "\\", 1);
        lx_strbuf_append(sb, &s[i], 1);
    }
    lx_strbuf_append(sb, "\"", 1);
}

/* ---- the niche ------------------------------------------------------------------------------ */

const char *lx_campaign_niche_slug(json_t *body)
{
    json_t *v = json_is_object(body) ? json_object_get(body, "niche") : NULL;
    if (!json_is_string(v) || !lx_niche_slug_valid(json_string_value(v), json_string_length(v))) return NULL;
    return json_string_value(v);
}

static void check_niche(json_t *body, const lx_niche_t *niche, const char *currency, lx_error_t *err)
{
    json_t *v = json_object_get(body, "niche");
    if (v == NULL) {
        lx_error_field(err, "/niche", "is required");
    } else if (!json_is_string(v)) {
        lx_error_field(err, "/niche", "must be a niche slug (a string)");
    } else if (niche == NULL || strcmp(niche->slug, json_string_value(v)) != 0) {
        lx_error_field(err, "/niche", "is not a niche of this exchange");
    } else if (niche->status == LX_NICHE_ARCHIVED) {
        lx_error_field(err, "/niche", "is archived and takes no new campaigns");
    } else if (currency != NULL && strcmp(niche->currency, currency) != 0) {
        lx_error_field(err, "/niche", "is priced in %s, and this account's balance is in %s", niche->currency, currency);
    }
}

/* ---- name -------------------------------------------------------------------------------------- */

static void parse_name(json_t *body, lx_campaign_t *out, lx_error_t *err)
{
    json_t *v = json_object_get(body, "name");
    if (v == NULL) return;
    if (json_is_null(v)) {
        set_param(out, LX_CAMPAIGN_NAME, NULL);
        return;
    }
    if (!json_is_string(v)) {
        lx_error_field(err, "/name", "must be a string");
        return;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    lx_text_trim(&s, &len);
    size_t chars = lx_utf8_length(s, len);
    if (chars == 0)
        lx_error_field(err, "/name", "must not be empty");
    else if (chars > LX_CAMPAIGN_NAME_MAX)
        lx_error_field(err, "/name", "must be at most %d characters long", LX_CAMPAIGN_NAME_MAX);
    else if (lx_has_control_chars(s, len))
        lx_error_field(err, "/name", "must not contain control characters");
    else
        set_text(out, LX_CAMPAIGN_NAME, s, len);
}

/* ---- regions ------------------------------------------------------------------------------------ */

static void parse_regions(json_t *body, int required, const lx_regions_t *regions, lx_campaign_t *out, lx_error_t *err)
{
    json_t *list = json_object_get(body, "regions");
    if (list == NULL) {
        if (required) lx_error_field(err, "/regions", "is required");
        return;
    }
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > LX_CAMPAIGN_REGIONS_MAX) {
        /* past the cap the elements are not read: the checks below are quadratic */
        lx_error_field(err, "/regions", "must be an array of 1 to %d region codes", LX_CAMPAIGN_REGIONS_MAX);
        return;
    }
    size_t before = error_count(err);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        char ptr[32];
        snprintf(ptr, sizeof(ptr), "/regions/%zu", i);
        if (!json_is_string(v)) {
            lx_error_field(err, ptr, "must be a region code (a string)");
            continue;
        }
        const char *code = json_string_value(v);
        size_t len = json_string_length(v);
        if (!lx_regions_exists(regions, code, len)) {
            lx_error_field(err, ptr, "is not an ISO 3166 region code in the catalogue");
            continue;
        }
        int reported = 0;
        for (size_t j = 0; j < i && !reported; j++)
            if (json_equal(v, json_array_get(list, j))) {
                lx_error_field(err, ptr, "repeats regions/%zu", j);
                reported = 1;
            }
        /* a subdivision whose country is listed too would never change what the campaign buys */
        for (size_t j = 0; j < n && !reported && len > 2; j++) {
            json_t *w = json_array_get(list, j);
            if (json_is_string(w) && json_string_length(w) == 2 && memcmp(json_string_value(w), code, 2) == 0) {
                lx_error_field(err, ptr, "is covered by regions/%zu (a country covers its subdivisions)", j);
                reported = 1;
            }
        }
    }
    if (error_count(err) != before) return;
    lx_strbuf_t sb;
    lx_strbuf_init(&sb, SIZE_MAX);
    lx_strbuf_append(&sb, "{", 1);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        array_element(&sb, json_string_value(v), json_string_length(v));
    }
    lx_strbuf_append(&sb, "}", 2); /* and the NUL */
    set_param(out, LX_CAMPAIGN_REGIONS, sb.base);
}

/* ---- prices, cap, budget, days ------------------------------------------------------------------ */

/* 1 when set (*value 0 for null), 0 when absent, -1 when invalid (reported). `floor` < 0: no floor known. */
static int parse_price(json_t *body, const char *key, lx_campaign_param_t p, int64_t floor, const char *floor_name,
                       lx_campaign_t *out, int64_t *value, lx_error_t *err)
{
    json_t *v = json_object_get(body, key);
    char ptr[LX_JSON_POINTER_MAX];
    lx_json_pointer(ptr, "", key);
    *value = 0;
    if (v == NULL) return 0;
    if (json_is_null(v)) {
        set_param(out, p, NULL);
        return 1;
    }
    if (!json_is_integer(v)) {
        lx_error_field(err, ptr, "must be an integer amount in minor units");
        return -1;
    }
    int64_t n = json_integer_value(v);
    if (n <= 0) {
        lx_error_field(err, ptr, "must be greater than 0");
        return -1;
    }
    if (n >= LX_CAMPAIGN_MONEY_LIMIT) {
        lx_error_field(err, ptr, "must be below %lld", (long long)LX_CAMPAIGN_MONEY_LIMIT);
        return -1;
    }
    if (floor >= 0 && n < floor) {
        lx_error_field(err, ptr, "must be at least %lld, the niche's %s", (long long)floor, floor_name);
        return -1;
    }
    *value = n;
    set_int(out, p, n);
    return 1;
}

/* An integer member that null clears; *value 0 for null. */
static void parse_optional_int(json_t *body, const char *key, lx_campaign_param_t p, int64_t min, int64_t max, lx_campaign_t *out,
                               int64_t *value, lx_error_t *err)
{
    json_t *v = json_object_get(body, key);
    int64_t n = 0;
    if (v == NULL) return;
    if (json_is_null(v)) {
        *value = 0;
        set_param(out, p, NULL);
    } else if (lx_json_int(body, "", key, 0, min, max, &n, err) == 1) {
        *value = n;
        set_int(out, p, n);
    }
}

/* ---- exclude_sources ----------------------------------------------------------------------------- */

static int sub_id_valid(const char *s, size_t len)
{
    if (len < 1 || len > LX_CAMPAIGN_SUB_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f) return 0;
    return 1;
}

static void parse_exclude_sources(json_t *body, lx_campaign_t *out, lx_error_t *err)
{
    json_t *list = json_object_get(body, "exclude_sources");
    if (list == NULL) return;
    if (json_is_null(list)) {
        set_text(out, LX_CAMPAIGN_EXCLUDE_SOURCES, "{}", 2);
        return;
    }
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n > LX_CAMPAIGN_EXCLUDE_MAX) {
        lx_error_field(err, "/exclude_sources", "must be an array of at most %d webmaster ids or sub_ids", LX_CAMPAIGN_EXCLUDE_MAX);
        return;
    }
    /* normalised values: a UUID in lower case (webmaster ids are rendered so), a sub_id as given */
    char(*norm)[LX_CAMPAIGN_SUB_ID_MAX + 1] = lx_calloc(n ? n : 1, sizeof(*norm));
    size_t before = error_count(err);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        char ptr[40];
        snprintf(ptr, sizeof(ptr), "/exclude_sources/%zu", i);
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        lx_uuid_t id;
        if (s != NULL && lx_uuid_parse(s, len, &id) == 0) {
            lx_uuid_format(&id, norm[i]);
        } else if (s != NULL && sub_id_valid(s, len)) {
            memcpy(norm[i], s, len);
        } else {
            lx_error_field(err, ptr,
                           "must be a webmaster id (a UUID) or a sub_id of 1 to %d printable ASCII characters without spaces",
                           LX_CAMPAIGN_SUB_ID_MAX);
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(norm[i], norm[j]) == 0) {
                lx_error_field(err, ptr, "repeats exclude_sources/%zu", j);
                break;
            }
    }
    if (error_count(err) == before) {
        lx_strbuf_t sb;
        lx_strbuf_init(&sb, SIZE_MAX);
        lx_strbuf_append(&sb, "{", 1);
        for (size_t i = 0; i < n; i++) array_element(&sb, norm[i], strlen(norm[i]));
        lx_strbuf_append(&sb, "}", 2);
        set_param(out, LX_CAMPAIGN_EXCLUDE_SOURCES, sb.base);
    }
    free(norm);
}

/* ---- filters ------------------------------------------------------------------------------------- */

/* One filter value of the attribute's type, inside the schema's range. 1 valid, 0 not (reported). */
static int check_value(const lx_attr_spec_t *spec, json_t *v, const char *ptr, lx_error_t *err)
{
    char bound[40];
    if (json_is_null(v)) {
        lx_error_field(err, ptr, "must not be null");
        return 0;
    }
    switch (spec->type) {
    case LX_ATTR_STRING: {
        if (!json_is_string(v)) {
            lx_error_field(err, ptr, "must be a string");
            return 0;
        }
        size_t chars = lx_utf8_length(json_string_value(v), json_string_length(v));
        if (chars < spec->min_length || chars > spec->max_length) {
            lx_error_field(err, ptr, "must be %zu to %zu characters long", spec->min_length, spec->max_length);
            return 0;
        }
        if (lx_has_control_chars(json_string_value(v), json_string_length(v))) {
            lx_error_field(err, ptr, "must not contain control characters");
            return 0;
        }
        return 1;
    }
    case LX_ATTR_INTEGER:
    case LX_ATTR_NUMBER: {
        if (spec->type == LX_ATTR_INTEGER ? !json_is_integer(v) : !json_is_number(v)) {
            lx_error_field(err, ptr, spec->type == LX_ATTR_INTEGER ? "must be an integer" : "must be a number");
            return 0;
        }
        /* PostgreSQL keeps 1e20 as the integer 100000000000000000000, which no JSON reader here takes back */
        const json_int_t lim = (json_int_t)1 << 53;
        if (spec->type == LX_ATTR_NUMBER && (json_is_integer(v) ? json_integer_value(v) > lim || json_integer_value(v) < -lim
                                                                : fabs(json_real_value(v)) > (double)lim)) {
            lx_error_field(err, ptr, "must be between -9007199254740992 and 9007199254740992");
            return 0;
        }
        if (spec->min != NULL && lx_json_number_cmp(v, spec->min) < 0) {
            lx_attrs_format_number(spec->min, bound, sizeof(bound));
            lx_error_field(err, ptr, "must be at least %s, the attribute's min", bound);
            return 0;
        }
        if (spec->max != NULL && lx_json_number_cmp(v, spec->max) > 0) {
            lx_attrs_format_number(spec->max, bound, sizeof(bound));
            lx_error_field(err, ptr, "must be at most %s, the attribute's max", bound);
            return 0;
        }
        return 1;
    }
    case LX_ATTR_BOOLEAN:
        if (!json_is_boolean(v)) {
            lx_error_field(err, ptr, "must be true or false");
            return 0;
        }
        return 1;
    case LX_ATTR_ENUM:
        for (size_t i = 0; json_is_string(v) && i < json_array_size(spec->values); i++)
            if (json_equal(v, json_array_get(spec->values, i))) return 1;
        char allowed[LX_ERROR_MESSAGE_LEN - sizeof("must be one of: ")];
        lx_attrs_join_values(spec->values, allowed, sizeof(allowed));
        lx_error_field(err, ptr, "must be one of: %s", allowed);
        return 0;
    case LX_ATTR__COUNT:
        break;
    }
    return 0;
}

/* One attribute's condition {"eq"|"in"|"gte"|"lte": ...}, at `ptr`. */
static void check_condition(const lx_attr_spec_t *spec, json_t *cond, const char *ptr, lx_error_t *err)
{
    if (!json_is_object(cond) || json_object_size(cond) == 0) {
        lx_error_field(err, ptr, "must be an object with at least one of eq, in, gte, lte");
        return;
    }
    char opptr[4][LX_JSON_POINTER_MAX];
    json_t *arg[4] = {NULL, NULL, NULL, NULL};
    int ok[4] = {0, 0, 0, 0};
    const char *op;
    json_t *v;
    json_object_foreach(cond, op, v)
    {
        int k = index_of(operators, op);
        if (k < 0) {
            char p[LX_JSON_POINTER_MAX];
            lx_json_pointer(p, ptr, op);
            lx_error_field(err, p, "unknown operator (use eq, in, gte or lte)");
            continue;
        }
        arg[k] = v;
        lx_json_pointer(opptr[k], ptr, op);
    }
    enum { EQ = 0, IN, GTE, LTE };
    if (arg[EQ] != NULL) ok[EQ] = check_value(spec, arg[EQ], opptr[EQ], err);
    if (arg[IN] != NULL) {
        size_t n = json_array_size(arg[IN]);
        if (!json_is_array(arg[IN]) || n == 0 || n > LX_CAMPAIGN_IN_MAX) {
            lx_error_field(err, opptr[IN], "must be an array of 1 to %d values", LX_CAMPAIGN_IN_MAX);
        } else {
            size_t before = error_count(err);
            for (size_t i = 0; i < n; i++) {
                char iptr[LX_JSON_POINTER_MAX], index[24];
                snprintf(index, sizeof(index), "%zu", i);
                lx_json_pointer(iptr, opptr[IN], index);
                json_t *el = json_array_get(arg[IN], i);
                if (!check_value(spec, el, iptr, err)) continue;
                for (size_t j = 0; j < i; j++)
                    if (lx_json_same(el, json_array_get(arg[IN], j))) {
                        lx_error_field(err, iptr, "repeats in/%zu", j);
                        break;
                    }
            }
            ok[IN] = error_count(err) == before;
        }
    }
    for (int k = GTE; k <= LTE; k++) {
        if (arg[k] == NULL) continue;
        if (spec->type != LX_ATTR_INTEGER && spec->type != LX_ATTR_NUMBER)
            lx_error_field(err, opptr[k], "applies only to integer and number attributes");
        else
            ok[k] = check_value(spec, arg[k], opptr[k], err);
    }
    /* contradictions: a condition no lead could meet */
    if (ok[GTE] && ok[LTE] && lx_json_number_cmp(arg[GTE], arg[LTE]) > 0) {
        lx_error_field(err, opptr[LTE], "must not be less than gte");
        return;
    }
    if (ok[EQ] && ok[IN]) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(arg[IN]) && !found; i++) found = lx_json_same(arg[EQ], json_array_get(arg[IN], i));
        if (!found) lx_error_field(err, opptr[EQ], "is not one of the values of in");
    }
    if (ok[EQ] && ok[GTE] && lx_json_number_cmp(arg[EQ], arg[GTE]) < 0) lx_error_field(err, opptr[EQ], "is below gte");
    if (ok[EQ] && ok[LTE] && lx_json_number_cmp(arg[EQ], arg[LTE]) > 0) lx_error_field(err, opptr[EQ], "is above lte");
    if (ok[IN] && (ok[GTE] || ok[LTE])) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(arg[IN]) && !found; i++) {
            json_t *el = json_array_get(arg[IN], i);
            found = (!ok[GTE] || lx_json_number_cmp(el, arg[GTE]) >= 0) && (!ok[LTE] || lx_json_number_cmp(el, arg[LTE]) <= 0);
        }
        if (!found) lx_error_field(err, opptr[IN], "holds no value that gte and lte allow");
    }
}

/* 1 when every attribute the filters name has a readable spec; 0 when one is damaged (the server's fault). */
static int check_attribute_filters(json_t *attrs, json_t *schema, lx_error_t *err)
{
    if (!json_is_object(attrs)) {
        lx_error_field(err, "/filters/attributes", "must be an object of attribute conditions");
        return 1;
    }
    if (json_object_size(attrs) > LX_ATTRS_COUNT_MAX) {
        lx_error_field(err, "/filters/attributes", "must filter at most %d attributes", LX_ATTRS_COUNT_MAX);
        return 1;
    }
    if (schema == NULL) return 1; /* no niche: nothing to judge the names and values by */
    int intact = 1;
    const char *name;
    json_t *cond;
    json_object_foreach(attrs, name, cond)
    {
        char ptr[LX_JSON_POINTER_MAX];
        lx_json_pointer(ptr, "/filters/attributes", name);
        json_t *spec_json = json_object_get(schema, name);
        lx_attr_spec_t spec;
        if (spec_json == NULL)
            lx_error_field(err, ptr, "is not an attribute of this niche");
        else if (lx_attrs_spec_read(spec_json, &spec) != 0)
            intact = 0;
        else
            check_condition(&spec, cond, ptr, err);
    }
    return intact;
}

static void check_required(json_t *list, json_t *schema, lx_error_t *err)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n > LX_ATTRS_COUNT_MAX) {
        lx_error_field(err, "/filters/required", "must be an array of at most %d attribute names", LX_ATTRS_COUNT_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        char ptr[40];
        snprintf(ptr, sizeof(ptr), "/filters/required/%zu", i);
        if (!json_is_string(v)) {
            lx_error_field(err, ptr, "must be an attribute name");
            continue;
        }
        if (schema != NULL && json_object_get(schema, json_string_value(v)) == NULL) {
            lx_error_field(err, ptr, "is not an attribute of this niche");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (json_equal(v, json_array_get(list, j))) {
                lx_error_field(err, ptr, "repeats required/%zu", j);
                break;
            }
    }
}

static void check_temperatures(json_t *list, lx_error_t *err)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > 3) {
        lx_error_field(err, "/filters/temperatures", "must be an array of 1 to 3 of hot, warm, cold");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        char ptr[40];
        snprintf(ptr, sizeof(ptr), "/filters/temperatures/%zu", i);
        if (!json_is_string(v) || index_of(temperatures, json_string_value(v)) < 0) {
            lx_error_field(err, ptr, "must be one of: hot, warm, cold");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (json_equal(v, json_array_get(list, j))) {
                lx_error_field(err, ptr, "repeats temperatures/%zu", j);
                break;
            }
    }
}

/* 0, or -1 when a filter names an attribute whose stored spec is damaged. */
static int parse_filters(json_t *body, const lx_niche_t *niche, lx_campaign_t *out, lx_error_t *err)
{
    json_t *f = json_object_get(body, "filters");
    if (f == NULL) return 0;
    if (json_is_null(f)) {
        set_param(out, LX_CAMPAIGN_FILTERS, NULL);
        return 0;
    }
    if (!json_is_object(f)) {
        lx_error_field(err, "/filters", "must be an object or null");
        return 0;
    }
    size_t before = error_count(err);
    lx_json_reject_unknown(f, "/filters", filter_members, err);
    json_t *schema = niche != NULL ? niche->attributes : NULL;
    /* null reads as absent: the resource shows every member, null or empty when it filters nothing */
    json_t *attrs = json_object_get(f, "attributes"), *required = json_object_get(f, "required");
    json_t *temps = json_object_get(f, "temperatures");
    if (json_is_null(attrs)) attrs = NULL;
    if (json_is_null(required)) required = NULL;
    if (json_is_null(temps)) temps = NULL;
    int intact = attrs == NULL || check_attribute_filters(attrs, schema, err);
    if (required != NULL) check_required(required, schema, err);
    int64_t min_quality = 0;
    int has_mq = lx_json_int(f, "/filters", "min_quality", LX_JF_NULLABLE, 0, 100, &min_quality, err) == 1;
    if (temps != NULL) check_temperatures(temps, err);
    if (!intact) return -1;
    if (error_count(err) != before || niche == NULL) return 0;

    /* only the members that filter: an empty list or object would filter nothing */
    json_t *norm = json_object();
    if (json_object_size(attrs) > 0) json_object_set_new(norm, "attributes", json_deep_copy(attrs));
    if (json_array_size(required) > 0) json_object_set_new(norm, "required", json_deep_copy(required));
    if (has_mq) json_object_set_new(norm, "min_quality", json_integer(min_quality));
    if (temps != NULL) json_object_set_new(norm, "temperatures", json_deep_copy(temps));
    set_json(out, LX_CAMPAIGN_FILTERS, json_object_size(norm) > 0 ? norm : NULL);
    json_decref(norm);
    return 0;
}

/* ---- schedule ------------------------------------------------------------------------------------ */

/* Whether `s` is `len` bytes equal to the NUL-terminated `t`. */
static int same(const char *s, size_t len, const char *t)
{
    return strlen(t) == len && memcmp(s, t, len) == 0;
}

int lx_campaign_tz_syntax_valid(const char *s, size_t len)
{
    if (len < 1 || len > LX_CAMPAIGN_TZ_MAX || s[0] == '/') return 0;
    int digits = 0, slash = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        /* no '.' at all, so no ".." either: the name never walks out of the zone directory */
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' ||
              c == '/'))
            return 0;
        digits |= c >= '0' && c <= '9';
        slash |= c == '/';
    }
    /* PostgreSQL reads a name it has no zone file for as a POSIX TZ rule ("UTC+25", "STD-167": an abbreviation and an
     * offset); a rule holds no '/', and of the single-word IANA names only these few hold digits. Not zones at all:
     * "Factory" (offset -00), "localtime" and "posixrules" (the database server's own settings). */
    static const char *const with_digits[] = {"EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", "GMT0", "GMT+0", "GMT-0", NULL};
    static const char *const not_zones[] = {"Factory", "localtime", "posixrules", NULL};
    if (!slash && digits) {
        for (const char *const *n = with_digits; *n != NULL; n++)
            if (same(s, len, *n)) return 1;
        return 0;
    }
    for (const char *const *n = not_zones; *n != NULL; n++)
        if (same(s, len, *n)) return 0;
    return 1;
}

/* "HH:MM" as minutes since midnight: 00:00..23:59, and 24:00 when `end`; -1 otherwise. */
static int parse_hhmm(json_t *v, int end)
{
    const char *s = json_string_value(v);
    if (s == NULL || json_string_length(v) != 5 || s[2] != ':') return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9')) return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !end))) return -1;
    return h * 60 + m;
}

typedef struct {
    int from, to;
    size_t index; /* in the day's array as given */
} span_t;

static int cmp_span(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    return x->from != y->from ? (x->from < y->from ? -1 : 1) : (x->index < y->index ? -1 : x->index > y->index);
}

/* A day's spans at `ptr`; appends the sorted ones to `norm_day`. Returns how many were valid. */
static size_t check_day(json_t *list, const char *ptr, json_t *norm_day, lx_error_t *err)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n > LX_CAMPAIGN_SPANS_MAX) {
        lx_error_field(err, ptr, "must be an array of at most %d [from, to] spans", LX_CAMPAIGN_SPANS_MAX);
        return 0;
    }
    span_t spans[LX_CAMPAIGN_SPANS_MAX];
    size_t nvalid = 0, before = error_count(err);
    for (size_t i = 0; i < n; i++) {
        json_t *span = json_array_get(list, i);
        char sptr[LX_JSON_POINTER_MAX], index[24];
        snprintf(index, sizeof(index), "%zu", i);
        lx_json_pointer(sptr, ptr, index);
        if (!json_is_array(span) || json_array_size(span) != 2) {
            lx_error_field(err, sptr, "must be a [from, to] pair of HH:MM times");
            continue;
        }
        int from = parse_hhmm(json_array_get(span, 0), 0), to = parse_hhmm(json_array_get(span, 1), 1);
        char tptr[LX_JSON_POINTER_MAX];
        if (from < 0) {
            lx_json_pointer(tptr, sptr, "0");
            lx_error_field(err, tptr, "must be a time HH:MM from 00:00 to 23:59");
        }
        if (to < 0) {
            lx_json_pointer(tptr, sptr, "1");
            lx_error_field(err, tptr, "must be a time HH:MM from 00:01 to 24:00");
        }
        if (from < 0 || to < 0) continue;
        if (to <= from) {
            lx_error_field(err, sptr, "must end after it starts");
            continue;
        }
        spans[nvalid++] = (span_t){from, to, i};
    }
    qsort(spans, nvalid, sizeof(spans[0]), cmp_span);
    /* sorted by start, a span overlaps an earlier one iff it starts before the furthest end so far */
    for (size_t k = 1, reach = 0; k < nvalid; k++) {
        if (spans[k].from < spans[reach].to) {
            char sptr[LX_JSON_POINTER_MAX], index[24];
            snprintf(index, sizeof(index), "%zu", spans[k].index);
            lx_json_pointer(sptr, ptr, index);
            lx_error_field(err, sptr, "overlaps %s/%zu", strrchr(ptr, '/') + 1, spans[reach].index); /* "mon/0" */
        }
        if (spans[k].to > spans[reach].to) reach = k;
    }
    if (error_count(err) != before) return 0;
    for (size_t k = 0; k < nvalid; k++) json_array_append(norm_day, json_array_get(list, spans[k].index));
    return nvalid;
}

/* The hours at /schedule/hours, normalised (days in week order, spans sorted, empty days left out); NULL on errors. */
static json_t *check_hours(json_t *hours, lx_error_t *err)
{
    if (!json_is_object(hours)) {
        lx_error_field(err, "/schedule/hours", "must be an object of days (mon to sun), or null for always open");
        return NULL;
    }
    size_t before = error_count(err), total = 0;
    const char *key;
    json_t *v;
    json_object_foreach(hours, key, v)
    {
        if (index_of(days, key) < 0) {
            char ptr[LX_JSON_POINTER_MAX];
            lx_json_pointer(ptr, "/schedule/hours", key);
            lx_error_field(err, ptr, "unknown day (use mon, tue, wed, thu, fri, sat, sun)");
        }
    }
    json_t *norm = json_object();
    for (int d = 0; days[d] != NULL; d++) {
        json_t *list = json_object_get(hours, days[d]);
        if (list == NULL) continue;
        char ptr[40];
        snprintf(ptr, sizeof(ptr), "/schedule/hours/%s", days[d]);
        json_t *day = json_array();
        total += check_day(list, ptr, day, err);
        if (json_array_size(day) > 0)
            json_object_set_new(norm, days[d], day);
        else
            json_decref(day);
    }
    if (error_count(err) == before && total == 0)
        lx_error_field(err, "/schedule/hours", "must open on at least one day (null means always open)");
    if (error_count(err) != before) {
        json_decref(norm);
        return NULL;
    }
    return norm;
}

static void parse_schedule(json_t *body, lx_campaign_t *out, lx_error_t *err)
{
    json_t *s = json_object_get(body, "schedule");
    if (s == NULL) return;
    if (json_is_null(s)) {
        set_text(out, LX_CAMPAIGN_TZ, "UTC", 3);
        set_param(out, LX_CAMPAIGN_HOURS, NULL);
        return;
    }
    if (!json_is_object(s)) {
        lx_error_field(err, "/schedule", "must be an object {tz, hours}, or null for always open");
        return;
    }
    size_t before = error_count(err);
    lx_json_reject_unknown(s, "/schedule", schedule_members, err);
    const char *tz = NULL;
    if (lx_json_string(s, "/schedule", "tz", LX_JF_REQUIRED, 1, LX_CAMPAIGN_TZ_MAX, &tz, err) == 1 &&
        !lx_campaign_tz_syntax_valid(tz, strlen(tz))) {
        lx_error_field(err, "/schedule/tz", "must be an IANA time-zone name such as Europe/Moscow");
        tz = NULL;
    }
    json_t *hours = json_object_get(s, "hours"), *norm = NULL;
    if (hours != NULL && !json_is_null(hours)) norm = check_hours(hours, err);
    if (error_count(err) == before) {
        set_text(out, LX_CAMPAIGN_TZ, tz, strlen(tz));
        set_json(out, LX_CAMPAIGN_HOURS, norm);
    }
    json_decref(norm);
}

/* ---- the bodies --------------------------------------------------------------------------------- */

/* Every member but niche; `create` makes regions required and refuses `archived`. 0, or -1 on a damaged schema. */
static int parse_members(json_t *body, const lx_niche_t *niche, const lx_regions_t *regions, int create, lx_campaign_t *out,
                         lx_error_t *err)
{
    parse_name(body, out, err);
    parse_regions(body, create, regions, out, err);
    int64_t floor_x = niche != NULL ? niche->floor_exclusive : -1, floor_s = niche != NULL ? niche->floor_shared : -1;
    parse_price(body, "price_exclusive", LX_CAMPAIGN_PRICE_EXCLUSIVE, floor_x, "floor_exclusive", out, &out->price_exclusive, err);
    parse_price(body, "price_shared", LX_CAMPAIGN_PRICE_SHARED, floor_s, "floor_shared", out, &out->price_shared, err);
    int damaged = parse_filters(body, niche, out, err) != 0;
    parse_schedule(body, out, err);
    parse_optional_int(body, "daily_cap", LX_CAMPAIGN_DAILY_CAP, 1, LX_CAMPAIGN_DAILY_CAP_MAX, out, &out->daily_cap, err);
    parse_optional_int(body, "budget", LX_CAMPAIGN_BUDGET, 1, LX_CAMPAIGN_MONEY_LIMIT - 1, out, &out->budget, err);
    parse_exclude_sources(body, out, err);
    int64_t days_n = 0;
    if (lx_json_int(body, "", "exclude_bought_contacts_days", 0, 0, LX_CAMPAIGN_EXCLUDE_DAYS_MAX, &days_n, err) == 1)
        set_int(out, LX_CAMPAIGN_EXCLUDE_DAYS, days_n);
    int status = 0;
    if (lx_json_enum(body, "", "status", 0, create ? create_statuses : status_names, &status, err) == 1) {
        out->status = (lx_campaign_status_t)status;
        set_text(out, LX_CAMPAIGN_STATUS, status_names[status], strlen(status_names[status]));
    }
    return damaged ? -1 : 0;
}

static lx_status_t finish(lx_campaign_t *out, int damaged, size_t before, lx_error_t *err, const char *what)
{
    if (damaged || error_count(err) != before) {
        lx_campaign_dispose(out);
        memset(out, 0, sizeof(*out));
        if (damaged) return lx_error_set(err, LX_ERR_INTERNAL, "The niche's attribute schema is damaged.");
        return lx_error_set(err, LX_ERR_VALIDATION, "%s", what);
    }
    return LX_OK;
}

lx_status_t lx_campaign_parse(json_t *body, const lx_niche_t *niche, const lx_regions_t *regions, const char *currency,
                              lx_campaign_t *out, lx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    size_t before = error_count(err);
    if (lx_json_expect_object(body, "", err) != 0) return lx_error_set(err, LX_ERR_VALIDATION, "The body must be a JSON object.");
    lx_json_reject_unknown(body, "", members, err);
    check_niche(body, niche, currency, err);
    /* the defaults: every column is set by a create */
    out->set = (1u << LX_CAMPAIGN__PARAMS) - 1;
    set_text(out, LX_CAMPAIGN_TZ, "UTC", 3);
    set_text(out, LX_CAMPAIGN_EXCLUDE_SOURCES, "{}", 2);
    set_text(out, LX_CAMPAIGN_EXCLUDE_DAYS, "0", 1);
    set_text(out, LX_CAMPAIGN_STATUS, "active", 6);
    int damaged = parse_members(body, niche, regions, 1, out, err) != 0;
    json_t *px = json_object_get(body, "price_exclusive"), *ps = json_object_get(body, "price_shared");
    if ((px == NULL || json_is_null(px)) && (ps == NULL || json_is_null(ps)))
        lx_error_field(err, "/price_exclusive", "is required when price_shared is not given (a campaign bids at least one price)");
    return finish(out, damaged, before, err, "The campaign is not valid.");
}

lx_status_t lx_campaign_parse_patch(json_t *body, const lx_niche_t *niche, const lx_regions_t *regions, lx_campaign_t *out,
                                    lx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    size_t before = error_count(err);
    if (lx_json_expect_object(body, "", err) != 0) return lx_error_set(err, LX_ERR_VALIDATION, "The body must be a JSON object.");
    lx_json_reject_unknown(body, "", members, err);
    if (json_object_get(body, "niche") != NULL)
        lx_error_field(err, "/niche", "cannot be changed (create a campaign in the other niche instead)");
    if (json_object_size(body) == 0) lx_error_field(err, "", "must change at least one member");
    int damaged = parse_members(body, niche, regions, 0, out, err) != 0;
    return finish(out, damaged, before, err, "The change is not valid.");
}
