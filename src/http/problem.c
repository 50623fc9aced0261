#include "http/problem.h"

#include <string.h>

void lx_problem_render(const lx_error_t *err, const char *request_id, lx_strbuf_t *out)
{
    const char *code = lx_status_code(err->status);
    const char *title = lx_status_title(err->status);
    const char *detail = err->detail[0] != '\0' ? err->detail : title;
    lx_strbuf_printf(out, "{\"type\":\"" LX_PROBLEM_TYPE_BASE "%s\",\"title\":", code);
    lx_strbuf_append_json_string(out, title, strlen(title));
    lx_strbuf_printf(out, ",\"status\":%d,\"detail\":", lx_status_http(err->status));
    lx_strbuf_append_json_string(out, detail, strlen(detail));
    lx_strbuf_printf(out, ",\"code\":\"%s\",\"request_id\":", code);
    lx_strbuf_append_json_string(out, request_id, strlen(request_id));
    lx_strbuf_puts(out, ",\"errors\":[");
    for (size_t i = 0; i < err->nfields; i++) {
        lx_strbuf_puts(out, i ? ",{\"field\":" : "{\"field\":");
        lx_strbuf_append_json_string(out, err->fields[i].field, strlen(err->fields[i].field));
        lx_strbuf_puts(out, ",\"message\":");
        lx_strbuf_append_json_string(out, err->fields[i].message, strlen(err->fields[i].message));
        lx_strbuf_puts(out, "}");
    }
    if (err->nfields_dropped != 0)
        lx_strbuf_printf(out, "%s{\"field\":\"\",\"message\":\"%zu more errors not shown\"}", err->nfields ? "," : "",
                         err->nfields_dropped);
    lx_strbuf_puts(out, "]}");
}
