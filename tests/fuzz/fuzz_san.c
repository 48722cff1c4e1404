/* Certificate subjectAltName URI extraction (security/cert_san.c), the step
 * that turns a client certificate into a "33-<AE-ID>" Credential-ID for
 * HTTPS and CoAPS alike. Byte 0 chooses: even, the rest is a DER
 * certificate for cert_san_uri(); odd, the rest is a URI for
 * san_uri_valid() alone (its rules without the DER framing). */
#include <stdint.h>
#include <string.h>

#include "security/cert_san.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        bool ok = san_uri_valid(in, n);
        /* What is valid is bindable: within the length, no NUL, no byte
         * below 0x21 or above 0x7e. */
        if (ok) {
            FUZZ_CHECK(n >= 1 && n <= SAN_URI_MAX);
            for (size_t i = 0; i < n; i++) FUZZ_CHECK(in[i] > 0x20 && in[i] < 0x7f);
        }
        return 0;
    }
    char out[SAN_URI_MAX + 1];
    memset(out, 'x', sizeof out);
    enum san_uri r = cert_san_uri(in, n, out, sizeof out);
    FUZZ_CHECK(r == SAN_URI_OK || r == SAN_URI_NONE || r == SAN_URI_BAD);
    if (r == SAN_URI_OK) {
        size_t len = strnlen(out, sizeof out);
        FUZZ_CHECK(len < sizeof out);                        /* NUL-terminated within */
        FUZZ_CHECK(san_uri_valid((const uint8_t *)out, len)); /* what is bound is valid */
    }
    return 0;
}
