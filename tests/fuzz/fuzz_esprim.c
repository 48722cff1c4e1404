/* ESPrim's parsers (security/esprim.c) on what an Originator sends: the
 * outer NOTIFY's m2m:seci, the ESPrim object (JWE compact) and the nonce
 * objects, then the object opened under a fixed session key (the one of
 * tests/unit/test_esprim.c's vector, so seeds sealed with it reach the inner
 * primitive's parser). Byte 0: bit 0 = 0, the rest is the NOTIFY's content
 * (JSON); 1, the rest is an ESPrim object. Bit 1: the content is an esi. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cse/base/clock.h"
#include "cse/core/primitive_json.h"
#include "security/esprim.h"
#include "fuzz.h"

static const uint8_t session_key[32] = {
    0x0a, 0xbc, 0x78, 0x3b, 0xc4, 0xc1, 0xd3, 0x7c, 0x9b, 0xdb, 0x9e, 0xfe, 0xdd, 0x22, 0x19, 0xee,
    0xe7, 0x65, 0xcb, 0x65, 0xb7, 0x80, 0x0d, 0x58, 0x8b, 0xb3, 0xcf, 0x92, 0x50, 0xe7, 0x8b, 0x43,
};

static void open_object(const char *compact)
{
    struct esprim_object o;
    char err[256];
    if (esprim_object_parse(compact, &o, err, sizeof err)) return;
    FUZZ_CHECK(o.alg && o.enc && o.kid && o.ori && o.rri);
    struct esprim_rand orig;
    json_t *oro = json_object_get(o.header, "oro");
    if (oro) esprim_rand_parse(oro, false, clock_now_us(), &orig, err, sizeof err);
    char *plain = NULL;
    size_t len = 0;
    int rc = esprim_object_open(&esprim_crypto_openssl, session_key, &o, &plain, &len);
    FUZZ_CHECK(rc ? plain == NULL : plain != NULL && plain[len] == 0);
    if (!rc) {
        json_t *doc = json_loadb(plain, len, 0, NULL);
        struct m2m_request req;
        m2m_request_init(&req);
        if (doc && !request_from_json(doc, &req, err, sizeof err)) FUZZ_CHECK(req.op >= OP_CREATE && req.to && req.rqi);
        m2m_request_clear(&req);
        json_decref(doc);
    }
    free(plain);
    esprim_object_clear(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size || size > 70000) return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    char err[256];
    if (data[0] & 1) {
        open_object(text);
    } else {
        json_t *pc = json_loads(text, 0, NULL);
        if (data[0] & 2) {
            esprim_esi_check(pc, err, sizeof err);
        } else {
            struct esprim_seci s;
            struct esprim_rand r;
            if (pc && !esprim_seci_parse(pc, &s, err, sizeof err)) {
                FUZZ_CHECK(s.sit >= 1 && s.sit <= 8);
                if (s.sit == 4) esprim_rand_parse(s.ero, true, clock_now_us(), &r, err, sizeof err);
                if (s.sit == 5) open_object(s.epo);
            }
        }
        json_decref(pc);
    }
    free(text);
    return 0;
}
