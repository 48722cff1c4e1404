/* base64url without padding (RFC 4648 section 5), as JOSE writes it. */
#ifndef IRONBARK_B64URL_H
#define IRONBARK_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Characters b64url_encode writes for n bytes, '\0' not counted. */
static inline size_t b64url_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

/* Writes b64url_len(n) characters and a '\0' to out. */
void b64url_encode(const uint8_t *in, size_t n, char *out);

/* Decodes len characters into out (room for cap bytes). Returns the byte
 * count, or -1 on a character outside the alphabet, padding, a length no
 * encoding has (len % 4 == 1), non-zero trailing bits, or overflow. */
long b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
