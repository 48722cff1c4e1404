/* The MEF's request parsers (mef/mmef.c, the provisional Mmef mapping), what
 * a CSE reads back from /fetchCredentials, and EST's CSR check (mef/est.c).
 * Byte 0 chooses: 0 a request target, 1 a Client Registration, 2 its Update,
 * 3 a Key Registration, 4 a fetchCredentials answer, 5 an EST simpleenroll
 * body (base64 DER PKCS#10); the rest is the text. */
#include <stdint.h>
#include <string.h>

#include "mef/est.h"
#include "mef/mmef.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *text = fuzz_text(data, size);
    char err[200];
    int which = data[0] % 6;
    if (which == 5) {
        /* No CA files: a CSR that passes every check still issues nothing. */
        struct est_issue in = { "Cdev1", "pw-1", "/nonexistent/ca.pem", "/nonexistent/ca.key", 0 };
        char serial[80];
        char *p7 = est_enroll(text, size - 1, &in, serial, sizeof serial, err, sizeof err);
        FUZZ_CHECK(!p7 && err[0]);
        free(text);
        return 0;
    }
    if (which == 0) {
        struct mmef_path p = mmef_parse_path(text, "mef-in");
        FUZZ_CHECK(p.target >= MMEF_NONE && p.target <= MMEF_BAD);
        FUZZ_CHECK(strnlen(p.id, sizeof p.id) < sizeof p.id);
        if (p.target == MMEF_FETCH) FUZZ_CHECK(p.id[0] && p.suid >= 10 && p.suid <= 99);
        free(text);
        return 0;
    }
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    if (which == 1 || which == 2) {
        struct mmef_client_reg r;
        if (!mmef_parse_client_reg(j, which == 2, &r, err, sizeof err) && which == 1) {
            FUZZ_CHECK(r.mef_fqdn && r.admin_fqdn && r.relative_keid && r.has_et);
            FUZZ_CHECK(strlen(r.relative_keid) == 32);
        }
    } else if (which == 3) {
        struct mmef_key_reg k;
        if (!mmef_parse_key_reg(j, &k, err, sizeof err))
            FUZZ_CHECK(k.mef_fqdn && k.admin_fqdn && k.target && k.suid >= 21 && k.suid <= 25);
    } else {
        struct mmef_fetched f;
        if (!mmef_parse_fetch(j, &f, err, sizeof err))
            FUZZ_CHECK(f.key_len >= 16 && f.key_len <= sizeof f.key && f.enrolee_id[0]);
    }
    json_decref(j);
    return 0;
}
