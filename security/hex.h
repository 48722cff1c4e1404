/* Lowercase hex of bytes, and back: key material in JSON and identifiers. */
#ifndef IRONBARK_HEX_H
#define IRONBARK_HEX_H

#include <stddef.h>
#include <stdint.h>

/* n bytes into out (2n + 1 chars, NUL-terminated). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Hex (either case) into at most cap bytes: the byte count, or -1 on odd
 * length, a non-hex digit or overflow. */
int hex_decode(const char *hex, uint8_t *out, size_t cap);

#endif
