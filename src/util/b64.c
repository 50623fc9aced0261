/*
 * Unpadded base64url through libsodium. libsodium's decoder already refuses
 * characters outside the alphabet (no ignore set is passed), padding in the
 * no-padding variant, and non-zero unused trailing bits; on top of that the
 * whole input must be consumed and yield exactly the expected length, so a
 * byte string has one accepted encoding.
 */
#include "util/b64.h"

#include <sodium.h>

size_t lx_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2base64(out, LX_B64URL_LEN(n) + 1, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return LX_B64URL_LEN(n);
}

int lx_b64url_decode_exact(const char *in, size_t len, uint8_t *out, size_t expect)
{
    if (len != LX_B64URL_LEN(expect)) return -1;
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, expect, in, len, NULL, &got, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) return -1;
    if (got != expect || end != in + len) return -1;
    return 0;
}
