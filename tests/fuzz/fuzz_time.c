/*
 * libFuzzer target: lx_ts_from_pg on a NUL-terminated copy of the input. When
 * it accepts, the output must be 27 bytes of RFC 3339 ("YYYY-MM-DDTHH:MM:SS.ffffffZ")
 * carrying the input's date, time and (zero-padded) fraction.
 */
#include "util/time.h"

#include <stdint.h>
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *pg = malloc(size + 1);
    FUZZ_ASSERT(pg != NULL);
    memcpy(pg, data, size);
    pg[size] = '\0';
    char out[LX_TS_LEN + 2];
    out[LX_TS_LEN + 1] = 'X';
    if (lx_ts_from_pg(pg, out) == 0) {
        size_t len = strlen(pg);
        FUZZ_ASSERT(len >= 22 && len <= 29);
        FUZZ_ASSERT(out[LX_TS_LEN] == '\0' && out[LX_TS_LEN + 1] == 'X');
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
        for (size_t i = 0; i < LX_TS_LEN; i++) FUZZ_ASSERT(shape[i] == 'd' ? is_digit(out[i]) : out[i] == shape[i]);
        FUZZ_ASSERT(memcmp(out, pg, 10) == 0 && pg[10] == ' ' && memcmp(out + 11, pg + 11, 8) == 0);
        FUZZ_ASSERT(strcmp(pg + len - 3, "+00") == 0);
        /* the fraction: present digits copied, the rest zeros */
        size_t nfrac = pg[19] == '.' ? len - 3 - 20 : 0;
        FUZZ_ASSERT(nfrac <= 6 && (pg[19] != '.' || nfrac >= 1));
        FUZZ_ASSERT(memcmp(out + 20, pg + 20, nfrac) == 0);
        for (size_t i = nfrac; i < 6; i++) FUZZ_ASSERT(out[20 + i] == '0');
    }
    free(pg);
    return 0;
}
