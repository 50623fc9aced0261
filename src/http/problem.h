/*
 * RFC 9457 problem+json bodies from an lx_error_t (pure).
 * {"type","title","status","detail","code","request_id","errors":[{"field","message"}]}
 */
#ifndef LX_HTTP_PROBLEM_H
#define LX_HTTP_PROBLEM_H

#include "util/error.h"
#include "util/strbuf.h"

#define LX_PROBLEM_TYPE_BASE "https://leadx.dev/problems/"

/* Appends the body to `out`. An empty detail falls back to the status title. */
void lx_problem_render(const lx_error_t *err, const char *request_id, lx_strbuf_t *out);

#endif
