/*
 * One error model for the whole server.
 *
 * Fallible functions return an lx_status_t (LX_OK = 0) and, when they fail,
 * fill an lx_error_t: the status, a human detail and a list of
 * {field, message} pairs where `field` is a JSON Pointer into the request body
 * ("/contact/phone"), or "query.NAME" / "header.NAME" / "path.NAME". The HTTP
 * layer turns it into RFC 9457 problem+json; every status maps 1:1 to an HTTP
 * status code and a stable `code` string (see lx_status_http / lx_status_code).
 *
 * The struct is fixed-size and allocation-free so that pure modules
 * (validation, router, auction) can report errors without a memory pool.
 */
#ifndef LX_UTIL_ERROR_H
#define LX_UTIL_ERROR_H

#include <stddef.h>

typedef enum {
    LX_OK = 0,
    LX_ERR_MALFORMED_JSON,          /* 400 */
    LX_ERR_INVALID_PARAMETER,       /* 400 */
    LX_ERR_UNAUTHORIZED,            /* 401 */
    LX_ERR_PAYMENT_REQUIRED,        /* 402 insufficient funds */
    LX_ERR_FORBIDDEN,               /* 403 */
    LX_ERR_NOT_FOUND,               /* 404 */
    LX_ERR_METHOD_NOT_ALLOWED,      /* 405 */
    LX_ERR_CONFLICT,                /* 409 */
    LX_ERR_IDEMPOTENCY_IN_PROGRESS, /* 409 */
    LX_ERR_PAYLOAD_TOO_LARGE,       /* 413 */
    LX_ERR_UNSUPPORTED_MEDIA_TYPE,  /* 415 */
    LX_ERR_VALIDATION,              /* 422 */
    LX_ERR_IDEMPOTENCY_KEY_REUSED,  /* 422 */
    LX_ERR_RATE_LIMITED,            /* 429 */
    LX_ERR_HEADERS_TOO_LARGE,       /* 431 */
    LX_ERR_INTERNAL,                /* 500 */
    LX_ERR_DB_UNAVAILABLE,          /* 503 */
    LX_ERR_OVERLOADED,              /* 503 */
    LX_STATUS__COUNT
} lx_status_t;

#define LX_ERROR_MAX_FIELDS  16
#define LX_ERROR_FIELD_LEN   1024 /* a member name up to about a thousand bytes is named whole */
#define LX_ERROR_MESSAGE_LEN 192
#define LX_ERROR_DETAIL_LEN  256

typedef struct st_lx_field_error_t {
    char field[LX_ERROR_FIELD_LEN];
    char message[LX_ERROR_MESSAGE_LEN];
} lx_field_error_t;

typedef struct st_lx_error_t {
    lx_status_t status;
    char detail[LX_ERROR_DETAIL_LEN];
    size_t nfields;
    size_t nfields_dropped; /* field errors past LX_ERROR_MAX_FIELDS, counted not kept */
    lx_field_error_t fields[LX_ERROR_MAX_FIELDS];
} lx_error_t;

void lx_error_init(lx_error_t *err);
/* Sets status and detail (printf-style); keeps any field errors already added. Returns `status`. */
lx_status_t lx_error_set(lx_error_t *err, lx_status_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends a {field, message}; past the cap it is counted in nfields_dropped. */
void lx_error_field(lx_error_t *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int lx_status_http(lx_status_t status);
/* Stable machine-readable code for problem+json, e.g. "validation_failed". */
const char *lx_status_code(lx_status_t status);
/* Short human title, e.g. "Validation failed". */
const char *lx_status_title(lx_status_t status);

#endif
