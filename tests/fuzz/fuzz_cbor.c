/* CBOR request bodies: cbor_to_json() (cse/base/cbor_json.c) on any bytes.
 * What it accepts must encode again (json_to_cbor) and decode to an equal
 * value, and the re-encoding must be stable: the exact mapping both ways. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cse/base/cbor_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    json_t *v = cbor_to_json(data, size, &why);
    if (!v) {
        if (!why) abort();      /* every refusal says why */
        return 0;
    }
    size_t len = 0, len2 = 0;
    uint8_t *enc = json_to_cbor(v, &len);
    if (!enc) abort();          /* whatever was read can be written */
    json_t *back = cbor_to_json(enc, len, &why);
    if (!back || !json_equal(v, back)) abort();
    uint8_t *enc2 = json_to_cbor(back, &len2);
    if (!enc2 || len2 != len || memcmp(enc, enc2, len)) abort();
    free(enc);
    free(enc2);
    json_decref(v);
    json_decref(back);
    return 0;
}
