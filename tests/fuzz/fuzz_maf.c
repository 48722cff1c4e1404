/* The MAF's request parsers (maf/mmaf.c, the provisional Mmaf mapping) and
 * what a CSE reads back from Key Retrieval. Byte 0 chooses: 0 a request
 * target, 1 a Client Registration, 2 its Update, 3 a Key Registration, 4 its
 * Update, 5 a Key Retrieval answer; the rest is the text. */
#include <stdint.h>
#include <string.h>

#include "maf/mmaf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *text = fuzz_text(data, size);
    char err[200];
    int which = data[0] % 6;
    if (which == 0) {
        struct mmaf_path p = mmaf_parse_path(text, "maf-in");
        FUZZ_CHECK(p.target >= MMAF_NONE && p.target <= MMAF_BAD);
        FUZZ_CHECK(strnlen(p.id, sizeof p.id) < sizeof p.id);
        free(text);
        return 0;
    }
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    if (which == 1 || which == 2) {
        struct mmaf_client_reg r;
        if (!mmaf_parse_client_reg(j, which == 2, &r, err, sizeof err) && which == 1)
            FUZZ_CHECK(r.maf_fqdn && r.admin_fqdn && r.has_et);
    } else if (which == 3 || which == 4) {
        struct mmaf_key_reg k;
        if (!mmaf_parse_key_reg(j, which == 4, &k, err, sizeof err)) {
            FUZZ_CHECK(k.ntargets >= 0 && k.ntargets <= MMAF_MAX_TARGETS);
            if (which == 3)
                FUZZ_CHECK(k.maf_fqdn && k.admin_fqdn && strlen(k.relative_key_id) == MMAF_RELKEYID_LEN &&
                           k.suid >= 32 && k.suid <= 35 && k.ntargets >= 1);
        }
    } else {
        struct mmaf_retrieved f;
        if (!mmaf_parse_retrieved(j, 32, "//ironbark.local/id-in", &f, err, sizeof err))
            FUZZ_CHECK(f.key_len == sizeof f.key && f.source_id[0]);
        else
            FUZZ_CHECK(f.key_len == 0);
    }
    json_decref(j);
    return 0;
}
