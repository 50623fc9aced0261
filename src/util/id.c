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

static int hexval(char c, int allow_upper)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (allow_upper && c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_hex_digits(const char *s, size_t len, int dashes, int allow_upper, lx_uuid_t *out)
{
    size_t nibble = 0;
    for (size_t i = 0; i < len; i++) {
        if (dashes && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') return -1;
            continue;
        }
        int v = hexval(s[i], allow_upper);
        if (v < 0) return -1;
        if (nibble % 2 == 0)
            out->b[nibble / 2] = (uint8_t)(v << 4);
        else
            out->b[nibble / 2] |= (uint8_t)v;
        nibble++;
    }
    return nibble == 32 ? 0 : -1;
}

int lx_uuid_parse(const char *s, size_t len, lx_uuid_t *out)
{
    if (len != LX_UUID_STRLEN) return -1;
    return parse_hex_digits(s, len, 1, 1, out);
}

int lx_uuid_parse_hex(const char *s, size_t len, lx_uuid_t *out)
{
    if (len != LX_UUID_HEXLEN) return -1;
    return parse_hex_digits(s, len, 0, 0, out);
}
