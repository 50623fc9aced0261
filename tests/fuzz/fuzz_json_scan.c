/*
 * libFuzzer target: lx_json_parse (util/json_scan.h's builder) against Jansson's own parser, json_loadb with
 * JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, the parser it replaced for request bodies. For every input:
 *   - ours accepts  => Jansson accepts, the trees are equal (json_equal) and nest at most 32 deep;
 *   - Jansson accepts and the tree nests at most 32 deep => ours accepts;
 *   - ours refuses a value (a number beyond int64 or a double: 422) => Jansson's failure is that same number
 *     ("too big integer", "too big negative integer", "real number overflow"), and the rest of the text is valid JSON;
 *   - Jansson refuses the syntax => ours reports malformed JSON (400).
 * And the failure a client is shown is always one field error, whose message is valid UTF-8. A NUL byte anywhere is
 * malformed JSON to ours; Jansson stops reading at one outside a string ("1\0x" parses as 1), so such inputs are
 * only checked to be refused.
 */
#include "util/json.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include "fuzz.h"

#define MAX_DEPTH 32

static size_t depth_of(const json_t *v)
{
    size_t max = 0, d;
    const char *k;
    json_t *c;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) if ((d = depth_of(c)) > max) max = d;
        return max + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, c) if ((d = depth_of(c)) > max) max = d;
        return max + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0; /* an empty body is refused before any parser runs */
    lx_error_t err;
    lx_error_init(&err);
    json_t *ours = lx_json_parse((const char *)data, size, MAX_DEPTH, &err);
    if (memchr(data, 0, size) != NULL) {
        FUZZ_ASSERT(ours == NULL && err.status == LX_ERR_MALFORMED_JSON && err.nfields == 1);
        return 0;
    }
    json_error_t jerr;
    json_t *theirs = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    int theirs_ok = theirs != NULL && depth_of(theirs) <= MAX_DEPTH;
    int theirs_range =
        theirs == NULL && (strncmp(jerr.text, "too big ", 8) == 0 || strncmp(jerr.text, "real number overflow", 20) == 0);

    if (ours != NULL) {
        FUZZ_ASSERT(err.status == LX_OK && err.nfields == 0);
        FUZZ_ASSERT(theirs != NULL);
        FUZZ_ASSERT(json_equal(ours, theirs));
        FUZZ_ASSERT(depth_of(ours) <= MAX_DEPTH);
    } else {
        FUZZ_ASSERT(!theirs_ok);
        FUZZ_ASSERT(err.nfields == 1);
        FUZZ_ASSERT(lx_utf8_valid(err.fields[0].message, strlen(err.fields[0].message)));
        if (err.status == LX_ERR_VALIDATION) {
            FUZZ_ASSERT(theirs_range);
            FUZZ_ASSERT(err.fields[0].field[0] == '\0' || err.fields[0].field[0] == '/');
        } else {
            FUZZ_ASSERT(err.status == LX_ERR_MALFORMED_JSON);
            FUZZ_ASSERT(err.fields[0].field[0] == '\0');
            /* Jansson refused the syntax, or accepted something nested too deeply, or stopped at a number out of
             * range before the text's syntax error */
            FUZZ_ASSERT(theirs == NULL || depth_of(theirs) > MAX_DEPTH);
        }
    }
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
