/* The m2m-ppm's privacy document parser and comparison (ppm/privacy.h).
 * Byte 0 chooses: even the text is a preference, odd a policy; a document
 * that passes is compared with a fixed valid counterpart both ways round
 * (as preference against the fixed policy, as policy against the fixed
 * preference). Invariants: a refusal says why, the customised policy never
 * grants an operation the preference does not allow. */
#include <stdint.h>
#include <string.h>

#include "ppm/privacy.h"
#include "fuzz.h"

static const char *const root = "//sp/id-in/cse-in/Chome";
static const char *const fixed_prefs =
    "{\"tags\": {\"2.0\": \"personal\", \"6.0\": 30}, \"ops\": [\"retrieve\"], "
    "\"data\": [\"//sp/id-in/cse-in/Chome/meter\"]}";
static const char *const fixed_policy =
    "{\"tags\": {\"3.0\": \"hourly\", \"7.0\": true}, \"ops\": [\"retrieve\", \"update\"], "
    "\"originators\": [\"//sp/id-in/Cadvice\"]}";

static void compare(json_t *prefs, json_t *policy)
{
    json_t *diff = NULL;
    char err[400] = "";
    json_t *custom = ppm_customise(prefs, policy, NULL, &diff, err, sizeof err);
    FUZZ_CHECK(custom && json_is_array(diff));
    int granted = (int)json_integer_value(json_object_get(custom, "acop"));
    FUZZ_CHECK((granted & ~ppm_doc_ops(prefs)) == 0);
    FUZZ_CHECK((granted & ~ppm_doc_ops(policy)) == 0);
    json_decref(custom);
    json_decref(diff);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    json_t *doc = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    enum ppm_doc_kind kind = data[0] % 2 ? PPM_POLICY : PPM_PREFERENCES;
    char err[400] = "";
    if (!doc || ppm_doc_check(doc, kind, root, err, sizeof err)) {
        FUZZ_CHECK(!doc || err[0]);
        json_decref(doc);
        return 0;
    }
    json_t *other = json_loads(kind == PPM_POLICY ? fixed_prefs : fixed_policy, 0, NULL);
    FUZZ_CHECK(!ppm_doc_check(other, kind == PPM_POLICY ? PPM_PREFERENCES : PPM_POLICY, root, err, sizeof err));
    if (kind == PPM_POLICY) compare(other, doc);
    else compare(doc, other);
    json_decref(other);
    json_decref(doc);
    return 0;
}
