/*
 * Unpadded base64url (RFC 4648 §5) for signatures, keys and hashes that leave
 * the server. Decoding is strict: any padding, whitespace, character outside
 * the URL-safe alphabet, or non-zero unused trailing bits is refused, so each
 * byte string has exactly one accepted encoding (a receipt cannot be re-encoded
 * into a second valid form).
 */
#ifndef LX_UTIL_B64_H
#define LX_UTIL_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes (without the NUL). */
#define LX_B64URL_LEN(n) (((n)*4 + 2) / 3)

/* Writes LX_B64URL_LEN(n) characters and a NUL to `out`; returns the length. */
size_t lx_b64url_encode(const uint8_t *in, size_t n, char *out);

/* Decodes exactly `expect` bytes from `in` (`len` chars, no NUL needed). 0 on success, -1 on anything else. */
int lx_b64url_decode_exact(const char *in, size_t len, uint8_t *out, size_t expect);

#endif
