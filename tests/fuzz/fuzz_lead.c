/*
 * libFuzzer target: the lead validator (leads/lead.h), the parser of the
 * busiest outside input. A body goes through lx_json_parse as the server
 * would, then lx_lead_parse against a fixed niche with an attribute schema
 * and a small region catalogue. Properties: every accepted lead is canonical
 * (E.164 phone, normalised e-mail, a region in the catalogue, consent given,
 * form timestamps ordered and not in the future); every rejected one carries
 * at least one field error, each a JSON Pointer; the problem body renders as
 * valid JSON.
 */
#include "http/problem.h"
#include "leads/lead.h"
#include "util/json.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static lx_regions_t *regions;
static lx_niche_t niche;

static void setup(void)
{
    static const char *const codes[] = {"RU", "RU-MOW", "RU-SPE", "US", "US-CA", "PL", "KZ", "GB", "DE", "UA"};
    regions = lx_regions_from_codes(codes, sizeof(codes) / sizeof(codes[0]));
    memset(&niche, 0, sizeof(niche));
    niche.refs = 1;
    strcpy(niche.id, "01900000-0000-7000-8000-000000000001");
    strcpy(niche.slug, "loans");
    strcpy(niche.currency, "RUB");
    niche.dedupe_days = 30;
    niche.attributes = json_loads("{\"age\": {\"type\": \"integer\", \"min\": 18, \"max\": 100, \"required\": true},"
                                  " \"amount\": {\"type\": \"number\", \"min\": 1000},"
                                  " \"purpose\": {\"type\": \"enum\", \"values\": [\"car\", \"home\"]},"
                                  " \"employed\": {\"type\": \"boolean\"},"
                                  " \"comment\": {\"type\": \"string\", \"max_length\": 50}}",
                                  0, NULL);
    FUZZ_ASSERT(niche.attributes != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (regions == NULL) setup();
    lx_error_t err;
    lx_error_init(&err);
    json_t *body = lx_json_parse((const char *)data, size, 32, &err);
    if (body == NULL) return 0;
    const int64_t now_us = INT64_C(1795428000000000); /* 2026-11-23T10:00:00Z */
    lx_lead_t lead;
    lx_status_t st = lx_lead_parse(body, "", &niche, regions, now_us, &lead, &err);
    if (st == LX_OK) {
        FUZZ_ASSERT(err.nfields == 0);
        FUZZ_ASSERT(lead.phone[0] == '+' && strlen(lead.phone) >= 8 && strlen(lead.phone) <= 16);
        FUZZ_ASSERT(strchr(lead.email, '@') != NULL);
        FUZZ_ASSERT(lx_regions_exists(regions, lead.region, strlen(lead.region)));
        FUZZ_ASSERT(lead.contact != NULL && lead.consent != NULL && lead.source != NULL && lead.attributes != NULL);
        FUZZ_ASSERT(json_is_true(json_object_get(lead.consent, "personal_data")));
        FUZZ_ASSERT(lead.consent_given_us <= now_us + LX_LEAD_SKEW_US);
        if (lead.form_started_us >= 0 && lead.form_submitted_us >= 0) FUZZ_ASSERT(lead.form_started_us <= lead.form_submitted_us);
        const char *name = json_string_value(json_object_get(lead.contact, "name"));
        FUZZ_ASSERT(name != NULL && name[0] != '\0' && name[0] != ' ' && name[strlen(name) - 1] != ' ');
        lx_lead_dispose(&lead);
    } else {
        FUZZ_ASSERT(st == LX_ERR_VALIDATION); /* the fixed schema is valid: never LX_ERR_INTERNAL */
        FUZZ_ASSERT(err.nfields + err.nfields_dropped > 0);
        for (size_t i = 0; i < err.nfields; i++) FUZZ_ASSERT(err.fields[i].field[0] == '\0' || err.fields[i].field[0] == '/');
        lx_strbuf_t sb;
        lx_strbuf_init(&sb, 1 << 20);
        lx_problem_render(&err, "fuzz", &sb);
        json_t *p = json_loadb(sb.base, sb.len, 0, NULL);
        FUZZ_ASSERT(p != NULL);
        json_decref(p);
        lx_strbuf_free(&sb);
    }
    json_decref(body);
    return 0;
}
