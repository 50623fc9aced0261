/*
 * `leadx verify`: checks exported receipts, inclusion proofs, signed tree
 * heads and log entries offline, with nothing but the files (README
 * "Verifying receipts offline"). Nothing here trusts the server: every
 * signature is checked against the published keys, every proof against a
 * signed head, and with the log every head's root is recomputed and every
 * lead's sales are counted the way a Certificate Transparency monitor would.
 *
 * Inputs (one JSON value per line for the .jsonl files, parsed strictly:
 * duplicate keys, invalid UTF-8 and unknown members are failures):
 *   keys      GET /v1/receipts/keys: {"keys": [{"key_id", "public_key", "not_before", "not_after"}]}
 *   heads     GET /v1/log/heads items: one signed tree head per line, any order
 *   log       GET /v1/log/entries items: {"log_index": n, "entry": {...}} per line (or a bare entry), in order,
 *             contiguous from log_index 0; needs the heads input, and only the entries the newest of its heads covers
 *             are counted as sales (an entry no head signs is evidence of nothing); no receipt_hash twice
 *   receipts  GET /v1/receipts/export: {"receipt", "entry", "log_index", "inclusion_proof", "head"} per line,
 *             or a bare receipt object {"body", "key_id", "signature"}
 *
 * The line-level API below is pure (no I/O) so the fuzz target drives the
 * same code as the command: feed the keys, then heads, then log lines, then
 * receipt lines (cross-checks look back at what came before), then finish.
 * The first failure stops everything: later calls return it again.
 */
#ifndef LX_VERIFY_H
#define LX_VERIFY_H

#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

typedef enum { LX_VERIFY_KEYS = 0, LX_VERIFY_HEADS, LX_VERIFY_LOG, LX_VERIFY_RECEIPTS, LX_VERIFY__INPUTS } lx_verify_input_t;

typedef struct st_lx_verify_t lx_verify_t;

lx_verify_t *lx_verify_new(void);
void lx_verify_free(lx_verify_t *v);

/* Names an input (its file name, for messages) and declares it given: with a heads input every receipt's head must
 * be one of its heads; with a log input receipts are checked against the log and heads' roots recomputed. */
void lx_verify_source(lx_verify_t *v, lx_verify_input_t input, const char *name);

/* The keys document (the whole file). */
lx_status_t lx_verify_keys(lx_verify_t *v, const char *doc, size_t len, lx_error_t *err);

/* One line (without its line break) of a heads, log or receipts input; `lineno` counts from 1 for messages.
 * A blank line is skipped. */
lx_status_t lx_verify_line(lx_verify_t *v, lx_verify_input_t input, size_t lineno, const char *line, size_t len, lx_error_t *err);

/* The checks across lines: heads against the log, contiguity, sales per lead digest. */
lx_status_t lx_verify_finish(lx_verify_t *v, lx_error_t *err);

/* After a failure: "export.jsonl:17: /receipt/signature: signature does not verify" (empty when none). */
const char *lx_verify_failure(const lx_verify_t *v);

/* The human summary (counts, statement totals per account and currency, sales of the receipts' own leads). */
void lx_verify_summary(const lx_verify_t *v, lx_strbuf_t *out);

/* `leadx verify ...`: 0 all verified, 1 a failure (named on stderr), 2 usage. */
int lx_verify_main(int argc, char **argv);

#endif
