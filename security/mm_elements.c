#include "mm_elements.h"

#include "../cse/base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const json_t *mm_body(const json_t *pc, const char *key, char *err, size_t errlen)
{
    const json_t *b = json_object_get(pc, key);
    if (!json_is_object(b)) snprintf(err, errlen, "the content must be {\"%s\": {...}}", key);
    return json_is_object(b) ? b : NULL;
}

const char *mm_str(const json_t *b, const char *name, bool mandatory, bool *bad, char *err, size_t errlen)
{
    const json_t *v = json_object_get(b, name);
    if (!v && !mandatory) return NULL;
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 255) {
        if (!*bad) snprintf(err, errlen, "%s must be a non-empty string of at most 255 characters", name);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

bool mm_time(const json_t *b, bool mandatory, int64_t *us, bool *present, bool *bad, char *err,
                    size_t errlen)
{
    const json_t *v = json_object_get(b, "expirationTime");
    *present = v != NULL;
    if (!v && !mandatory) return true;
    if (!json_is_string(v) || !ts_parse(json_string_value(v), us)) {
        if (!*bad) snprintf(err, errlen, "expirationTime must be a oneM2M timestamp (YYYYMMDDThhmmss)");
        *bad = true;
        return false;
    }
    return true;
}

bool mm_labels(const json_t *b, json_t **labels, bool *bad, char *err, size_t errlen)
{
    json_t *v = json_object_get(b, "labels");
    *labels = v;
    if (!v) return true;
    bool ok = json_is_array(v) && json_array_size(v) <= 16;
    size_t i;
    json_t *l;
    json_array_foreach(v, i, l) ok = ok && json_is_string(l) && json_string_length(l) <= 64;
    if (!ok && !*bad) snprintf(err, errlen, "labels must be a list of at most 16 strings of at most 64 characters");
    *bad |= !ok;
    return ok;
}

json_t *mm_ts_json(int64_t us)
{
    ts_buf t;
    ts_format(us, t);
    t[15] = 0;   /* seconds are enough on the wire */
    return json_string(t);
}

json_t *mm_labels_json(const char *text)
{
    json_t *l = text && *text ? json_loads(text, 0, NULL) : NULL;
    return l ? l : json_array();
}

void mm_labels_text(const json_t *labels, char *out, size_t cap)
{
    char *t = labels ? json_dumps(labels, JSON_COMPACT) : NULL;
    snprintf(out, cap, "%s", t && strlen(t) < cap ? t : "");
    free(t);
}
