#include "api/lead_view.h"
#include "leads/pii.h"
#include "util/json.h"
#include "util/log.h"
#include "util/time.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `key` (the literal '"name":' with its separator) and `value` as a JSON string, or null. */
static void put_str(lx_strbuf_t *sb, const char *key, const char *value)
{
    lx_strbuf_puts(sb, key);
    if (value != NULL)
        lx_strbuf_append_json_string(sb, value, strlen(value));
    else
        lx_strbuf_puts(sb, "null");
}

static void put_raw(lx_strbuf_t *sb, const char *key, const char *json)
{
    lx_strbuf_puts(sb, key);
    lx_strbuf_puts(sb, json != NULL ? json : "null");
}

void lx_lead_view_render(lx_strbuf_t *sb, const lx_lead_view_t *v)
{
    char score[16];
    snprintf(score, sizeof(score), "%d", v->score);
    put_str(sb, "{\"id\":", v->id);
    put_str(sb, ",\"webmaster_id\":", v->webmaster_id);
    put_str(sb, ",\"niche\":", v->niche);
    put_str(sb, ",\"region\":", v->region);
    put_str(sb, ",\"sale_mode\":", v->sale_mode);
    put_str(sb, ",\"status\":", v->status);
    put_raw(sb, ",\"quality\":{\"score\":", score);
    put_str(sb, ",\"temperature\":", v->temperature);
    put_raw(sb, ",\"reasons\":", v->reasons_json);
    put_str(sb, "},\"duplicate_of\":", v->duplicate_of);
    if (v->sold_mode != NULL) {
        lx_strbuf_printf(sb, ",\"sale\":{\"mode\":\"%s\",\"buyers\":%d,\"payout\":%" PRId64 ",\"currency\":\"%s\"}", v->sold_mode,
                         v->buyers, v->payout, v->currency);
    } else {
        lx_strbuf_puts(sb, ",\"sale\":null");
    }
    put_raw(sb, ",\"contact\":", v->contact_json);
    put_raw(sb, ",\"contact_erased\":", v->contact_erased ? "true" : "false");
    put_raw(sb, ",\"attributes\":", v->attributes_json);
    put_raw(sb, ",\"consent\":", v->consent_json);
    put_raw(sb, ",\"source\":", v->source_json);
    put_str(sb, ",\"created_at\":", v->created_at);
    lx_strbuf_puts(sb, "}");
}

void lx_respond_rendered(lx_req_t *lr, int status, lx_strbuf_t *sb)
{
    char *body = h2o_mem_alloc_pool(&lr->req->pool, sb->len + 1);
    memcpy(body, sb->base, sb->len);
    size_t len = sb->len;
    sodium_memzero(sb->base, sb->len);
    lx_strbuf_free(sb);
    lx_respond_body(lr, status, "application/json", body, len);
}

/* The stored contact opened with the master key, as JSON text (malloc: the caller wipes and frees it); NULL when there
 * is none (erased, rejected, duplicate). */
static char *open_contact(const PGresult *r, int row, int c, const lx_keys_t *keys)
{
    if (PQgetisnull(r, row, c + 9) || PQgetisnull(r, row, c + 10)) return NULL;
    lx_uuid_t id;
    if (lx_uuid_parse(PQgetvalue(r, row, c), (size_t)PQgetlength(r, row, c), &id) != 0) return NULL;
    const char *ct_hex = PQgetvalue(r, row, c + 9), *wk_hex = PQgetvalue(r, row, c + 10);
    size_t ct_cap = (size_t)PQgetlength(r, row, c + 9) / 2, wk_len = 0, ct_len = 0, plain_len = 0;
    uint8_t *ct = lx_malloc(ct_cap + 1), wk[LX_PII_WRAPPED_KEY_BYTES + 1];
    char *contact = NULL;
    if (sodium_hex2bin(ct, ct_cap + 1, ct_hex, strlen(ct_hex), NULL, &ct_len, NULL) == 0 &&
        sodium_hex2bin(wk, sizeof(wk), wk_hex, strlen(wk_hex), NULL, &wk_len, NULL) == 0) {
        size_t cap = lx_pii_opened_size(ct_len);
        uint8_t *plain = lx_malloc(cap + 1);
        if (lx_pii_open(keys->data_key, id.b, wk, wk_len, ct, ct_len, plain, cap, &plain_len) == 0) {
            plain[plain_len] = '\0';
            contact = (char *)plain;
        } else {
            lx_log(LX_LOG_ERROR, "contact_unreadable", "lead %s: the contact does not open with this data key",
                   PQgetvalue(r, row, c));
            sodium_memzero(plain, cap + 1);
            free(plain);
        }
    }
    sodium_memzero(wk, sizeof(wk));
    free(ct);
    return contact;
}

/* A jsonb column in the compact form every answer uses (PostgreSQL's text puts a space after each colon). */
static char *compact_json(const PGresult *r, int row, int col)
{
    json_t *v = json_loadb(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col), JSON_DECODE_ANY, NULL);
    char *text = lx_json_dumps(v != NULL ? v : json_null());
    json_decref(v);
    return text;
}

void lx_lead_view_render_row(lx_strbuf_t *sb, const PGresult *r, int row, int c, const lx_keys_t *keys,
                             lx_lead_view_audience_t audience)
{
    char at[LX_TS_LEN + 1];
    if (lx_ts_from_pg(PQgetvalue(r, row, c + 15), at) != 0) snprintf(at, sizeof(at), "1970-01-01T00:00:00.000000Z");
    char *contact = keys != NULL ? open_contact(r, row, c, keys) : NULL;
    char *attributes = compact_json(r, row, c + 12), *consent = compact_json(r, row, c + 13),
         *source = compact_json(r, row, c + 14);
    lx_lead_view_t v = {
        .id = PQgetvalue(r, row, c),
        .niche = PQgetvalue(r, row, c + 1),
        .region = PQgetvalue(r, row, c + 2),
        .sale_mode = PQgetvalue(r, row, c + 3),
        .status = PQgetvalue(r, row, c + 4),
        .score = atoi(PQgetvalue(r, row, c + 5)),
        .temperature = PQgetvalue(r, row, c + 6),
        .reasons_json = PQgetvalue(r, row, c + 7),
        .duplicate_of = PQgetisnull(r, row, c + 8) ? NULL : PQgetvalue(r, row, c + 8),
        .contact_json = contact,
        .contact_erased = PQgetvalue(r, row, c + 11)[0] == 't',
        .attributes_json = attributes,
        .consent_json = consent,
        .source_json = source,
        .created_at = at,
        .webmaster_id = PQgetvalue(r, row, c + 16),
        .sold_mode = audience == LX_LEAD_VIEW_BUYER || PQgetisnull(r, row, c + 17) ? NULL : PQgetvalue(r, row, c + 17),
        .buyers = atoi(PQgetvalue(r, row, c + 18)),
        .payout = strtoll(PQgetvalue(r, row, c + 19), NULL, 10),
        .currency = PQgetvalue(r, row, c + 20),
    };
    lx_lead_view_render(sb, &v);
    free(attributes);
    free(consent);
    free(source);
    if (contact != NULL) {
        sodium_memzero(contact, strlen(contact));
        free(contact);
    }
}
