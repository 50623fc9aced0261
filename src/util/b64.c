/*
 * Unpadded base64url through libsodium (constant-time in the data, which
 * matters nowhere here but costs nothing).
 *
 * Strictness, so that a byte string has exactly one accepted encoding:
 *   - the length must be exactly LX_B64URL_LEN(expect): no padding, nothing
 *     missing, nothing extra;
 *   - every byte must be in the URL-safe alphabet, checked here before
 *     libsodium sees the input: libsodium 1.0.18's decoder reads the input
 *     through a (signed) char, and every byte 0x80..0xFF then decodes as '_'
 *     (63) instead of stopping it, so "\xc3\xa9" (an 'é', valid UTF-8 in a
 *     JSON string) would be accepted for "__" and a signature would have a
 *     second encoding (tests/unit/test_canon.c and test_receipt.c keep this);
 *   - no ignore set is passed, so whitespace and every other character outside
 *     the alphabet (including '=', '+', '/') stop the decoder, and b64_end
 *     must then be the end of the input (checked as well, belt and braces);
 *   - libsodium's decoder refuses non-zero unused trailing bits itself
 *     (sodium_base642bin: "acc & ((1U << acc_len) - 1U)" must be 0, checked in
 *     1.0.18; tests/unit/test_canon.c tries every last character of 1..34-byte
 *     strings, so an older or newer libsodium that stopped doing it fails there);
 *   - and it must yield exactly `expect` bytes.
 */
#include "util/b64.h"

#include <sodium.h>

size_t lx_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2base64(out, LX_B64URL_LEN(n) + 1, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return LX_B64URL_LEN(n);
}

static int in_alphabet(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int lx_b64url_decode_exact(const char *in, size_t len, uint8_t *out, size_t expect)
{
    if (len != LX_B64URL_LEN(expect)) return -1;
    for (size_t i = 0; i < len; i++)
        if (!in_alphabet((unsigned char)in[i])) return -1;
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, expect, in, len, NULL, &got, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) return -1;
    if (got != expect || end != in + len) return -1;
    return 0;
}
