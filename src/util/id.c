#include "util/id.h"

#include <sodium.h>
#include <time.h>

void lx_uuid_v7(lx_uuid_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    randombytes_buf(out->b + 6, 10);
    for (int i = 0; i < 6; i++) out->b[i] = (uint8_t)(ms >> (40 - 8 * i));
    out->b[6] = (uint8_t)(0x70 | (out->b[6] & 0x0f)); /* version 7 */
    out->b[8] = (uint8_t)(0x80 | (out->b[8] & 0x3f)); /* variant 10 */
}

static _Thread_local uint64_t fast_state[2];

static uint64_t xorshift128plus(void)
{
    if (fast_state[0] == 0 && fast_state[1] == 0) {
        randombytes_buf(fast_state, sizeof(fast_state));
        fast_state[0] |= 1;
    }
    uint64_t s1 = fast_state[0];
    const uint64_t s0 = fast_state[1];
    fast_state[0] = s0;
    s1 ^= s1 << 23;
    fast_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return fast_state[1] + s0;
}

/* RFC 9562 §6.2 method 1: a 12-bit counter in rand_a, started at a random point in its lower half on each new
 * millisecond, so a thread's ids are strictly increasing even within one tick of the coarse clock (about 4 ms);
 * a counter that runs out borrows the next millisecond. */
static _Thread_local uint64_t fast_last_ms;
static _Thread_local uint16_t fast_seq;

void lx_uuid_v7_fast(lx_uuid_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint64_t a = xorshift128plus(), b = xorshift128plus();
    if (ms > fast_last_ms) {
        fast_last_ms = ms;
        fast_seq = (uint16_t)(a & 0x7ff);
    } else if (++fast_seq > 0xfff) {
        fast_last_ms++;
        fast_seq = 0;
    }
    ms = fast_last_ms;
    for (int i = 0; i < 6; i++) out->b[i] = (uint8_t)(ms >> (40 - 8 * i));
    out->b[6] = (uint8_t)(0x70 | (fast_seq >> 8)); /* version 7 */
    out->b[7] = (uint8_t)(fast_seq & 0xff);
    for (int i = 0; i < 8; i++) out->b[8 + i] = (uint8_t)(b >> (8 * i));
    out->b[8] = (uint8_t)(0x80 | (out->b[8] & 0x3f)); /* variant 10 */
}

static const char hexdigits[] = "0123456789abcdef";

void lx_uuid_format(const lx_uuid_t *id, char out[LX_UUID_STRLEN + 1])
{
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hexdigits[id->b[i] >> 4];
        *p++ = hexdigits[id->b[i] & 15];
    }
    *p = '\0';
}

void lx_uuid_format_hex(const lx_uuid_t *id, char out[LX_UUID_HEXLEN + 1])
{
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hexdigits[id->b[i] >> 4];
        out[2 * i + 1] = hexdigits[id->b[i] & 15];
    }
    out[32] = '\0';
}

/* A digit's value plus one by byte (0: not a hex digit). Ids are parsed for every row the server sends the database
 * (db/pgarr.h): a look-up per character and two characters a byte at fixed places keep that off the profile. */
static const uint8_t hex_digit_values[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Where each byte's two digits start in the canonical 8-4-4-4-12 form (without dashes, byte k's start at 2 k). */
static const uint8_t dashed_offsets[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

static int parse_hex_digits(const char *s, int dashes, int allow_upper, lx_uuid_t *out)
{
    if (dashes && (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')) return -1;
    for (size_t k = 0; k < sizeof(out->b); k++) {
        size_t at = dashes ? dashed_offsets[k] : 2 * k;
        unsigned char hi = (unsigned char)s[at], lo = (unsigned char)s[at + 1];
        int vh = hex_digit_values[hi] - 1, vl = hex_digit_values[lo] - 1;
        if (vh < 0 || vl < 0) return -1;
        if (!allow_upper && ((hi >= 'A' && hi <= 'F') || (lo >= 'A' && lo <= 'F'))) return -1;
        out->b[k] = (uint8_t)(vh << 4 | vl);
    }
    return 0;
}

int lx_uuid_parse(const char *s, size_t len, lx_uuid_t *out)
{
    if (len != LX_UUID_STRLEN) return -1;
    return parse_hex_digits(s, 1, 1, out);
}

int lx_uuid_parse_hex(const char *s, size_t len, lx_uuid_t *out)
{
    if (len != LX_UUID_HEXLEN) return -1;
    return parse_hex_digits(s, 0, 0, out);
}
