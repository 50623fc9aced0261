/*
 * The status table: the single place where an internal status becomes an
 * HTTP status, a stable problem code and a title. Adding a status means adding
 * one row here; nothing else in the code maps statuses.
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int http;
    const char *code;
    const char *title;
} status_table[LX_STATUS__COUNT] = {
    [LX_OK] = {200, "ok", "OK"},
    [LX_ERR_MALFORMED_JSON] = {400, "malformed_json", "Malformed JSON"},
    [LX_ERR_INVALID_PARAMETER] = {400, "invalid_parameter", "Invalid parameter"},
    [LX_ERR_UNAUTHORIZED] = {401, "unauthorized", "Unauthorized"},
    [LX_ERR_PAYMENT_REQUIRED] = {402, "insufficient_funds", "Insufficient funds"},
    [LX_ERR_FORBIDDEN] = {403, "forbidden", "Forbidden"},
    [LX_ERR_NOT_FOUND] = {404, "not_found", "Not found"},
    [LX_ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "Method not allowed"},
    [LX_ERR_CONFLICT] = {409, "conflict", "Conflict"},
    [LX_ERR_IDEMPOTENCY_IN_PROGRESS] = {409, "idempotency_in_progress", "Request with this idempotency key is in progress"},
    [LX_ERR_PAYLOAD_TOO_LARGE] = {413, "payload_too_large", "Payload too large"},
    [LX_ERR_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported_media_type", "Unsupported media type"},
    [LX_ERR_VALIDATION] = {422, "validation_failed", "Validation failed"},
    [LX_ERR_IDEMPOTENCY_KEY_REUSED] = {422, "idempotency_key_reused", "Idempotency key reused with a different request"},
    [LX_ERR_RATE_LIMITED] = {429, "rate_limited", "Too many requests"},
    [LX_ERR_HEADERS_TOO_LARGE] = {431, "request_header_fields_too_large", "Request header fields too large"},
    [LX_ERR_INTERNAL] = {500, "internal_error", "Internal server error"},
    [LX_ERR_DB_UNAVAILABLE] = {503, "database_unavailable", "Database unavailable"},
    [LX_ERR_OVERLOADED] = {503, "overloaded", "Server overloaded"},
};

void lx_error_init(lx_error_t *err)
{
    err->status = LX_OK;
    err->detail[0] = '\0';
    err->nfields = 0;
    err->nfields_dropped = 0;
}

lx_status_t lx_error_set(lx_error_t *err, lx_status_t status, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    return status;
}

/* Copies `src` into dst[cap], cut at a character boundary when it does not fit (src holds at least one byte past
 * the cut whenever it is cut, so a continuation byte there shows the cut splits a character). */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    if (len >= cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80) len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void lx_error_field(lx_error_t *err, const char *field, const char *fmt, ...)
{
    if (err->nfields == LX_ERROR_MAX_FIELDS) {
        err->nfields_dropped++;
        return;
    }
    lx_field_error_t *f = &err->fields[err->nfields++];
    copy_cut(f->field, sizeof(f->field), field);
    char message[sizeof(f->message) + 1]; /* one byte past the cut, for copy_cut to look at */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    copy_cut(f->message, sizeof(f->message), message);
}

static int valid(lx_status_t s)
{
    return s >= 0 && s < LX_STATUS__COUNT;
}

int lx_status_http(lx_status_t s)
{
    return valid(s) ? status_table[s].http : 500;
}

const char *lx_status_code(lx_status_t s)
{
    return valid(s) ? status_table[s].code : "internal_error";
}

const char *lx_status_title(lx_status_t s)
{
    return valid(s) ? status_table[s].title : "Internal server error";
}
