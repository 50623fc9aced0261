/*
 * Scanning JSON text in place, strictly (RFC 8259 syntax, UTF-8 validated,
 * no NUL as \u0000, duplicate members refused, a depth cap), and building
 * Jansson trees from it; JSON Pointers (RFC 6901) that name where a value is.
 *
 * Why not json_loadb: Jansson's parser reads its input a byte at a time
 * through a stream callback and copies every string twice; on a 1 KB lead it
 * took 13 us against under 3 us here, a quarter of the server's CPU for an
 * intake lead (perf, the intake bench), and a third of a line's time in
 * `leadx verify`. The trees are the same Jansson values either way, so
 * everything that reads them is unchanged.
 *
 * A scan keeps its first failure: a message, the JSON Pointer of the value it
 * is about, and whether the text is not JSON at all (`syntax`) or is JSON
 * whose value is refused (an integer or real no int64 or double holds).
 */
#ifndef LX_UTIL_JSON_SCAN_H
#define LX_UTIL_JSON_SCAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LX_JSON_POINTER_MAX 1024 /* longer pointers are cut at a character boundary */

typedef struct {
    const char *begin, *p, *end;
    const char *msg;                 /* the first failure, NULL while there is none */
    char where[LX_JSON_POINTER_MAX]; /* its JSON Pointer ("" = the whole text) */
    int syntax;                      /* 1: the text is not valid JSON there; 0: valid JSON, refused value */
    const char *fail_at;             /* where in the text the failure was found */
} lx_json_scan_t;

/* The message of a value nested deeper than lx_json_scan_value's cap (compare the pointer). */
extern const char lx_json_scan_too_deep[];

void lx_json_scan_init(lx_json_scan_t *s, const char *text, size_t len);
/* Records a failure unless one is recorded already; returns -1. */
int lx_json_scan_fail(lx_json_scan_t *s, const char *where, int syntax, const char *msg);
/* 1-based line and column (in characters) of the failure, for messages about a whole document. */
void lx_json_scan_position(const lx_json_scan_t *s, int *line, int *column);

/* Skips blanks (space, tab, CR, LF). */
void lx_json_scan_space(lx_json_scan_t *s);
/* A string at s->p, its decoded bytes into out[0..cap) (NUL-terminated when they fit; *len is the full decoded
 * length either way). out may be NULL to only validate. 0 or -1. */
int lx_json_scan_string(lx_json_scan_t *s, const char *where, char *out, size_t cap, size_t *len);
/* 1 and s->p past `lit` when the text there is that literal, else 0 (nothing recorded). */
int lx_json_scan_literal(lx_json_scan_t *s, const char *lit);
/* A number: 1 with *out when it is an integer of int64 range; -1 otherwise, with a non-syntax failure ("must be an
 * integer", "is out of range") and s->p past it when it is a valid JSON number. */
int lx_json_scan_number(lx_json_scan_t *s, const char *where, int64_t *out);
/* After a member or an element: 1 past a ',' (another follows), 0 past `close` ('}' or ']': the container ends), or -1
 * with a syntax failure at anything else. Blanks before are skipped. */
int lx_json_scan_next(lx_json_scan_t *s, const char *where, char close);
/* Skips any value as strictly as it would be parsed (numbers of any size; duplicate members are not looked for).
 * `depth` is the nesting it starts at; 32 levels at most. 0 or -1. */
int lx_json_scan_skip(lx_json_scan_t *s, const char *where, int depth);
/* Nothing but blanks may follow: 0 or -1. */
int lx_json_scan_end(lx_json_scan_t *s);

/*
 * The value at s->p as a Jansson tree (the caller owns it), or NULL with the failure recorded. At most `max_depth`
 * arrays and objects nest (failure message lx_json_scan_too_deep); a duplicate member name fails at that member.
 * Integers of int64 range become integers, other numbers reals; a number no int64 (an integer) or double (a real)
 * holds fails as "is out of range", not syntax, but only once the rest of the value has been read and found to be
 * valid JSON. `base` is the pointer of the value itself, prefixed to every failure's.
 */
json_t *lx_json_scan_value(lx_json_scan_t *s, const char *base, size_t max_depth);

/* out = base + "/" + key escaped (~ as ~0, / as ~1), cut at a character boundary to fit. */
void lx_json_pointer(char out[LX_JSON_POINTER_MAX], const char *base, const char *key);
/* The same for a key of `klen` bytes (no NUL in them). */
void lx_json_pointer_n(char out[LX_JSON_POINTER_MAX], const char *base, const char *key, size_t klen);

#endif
