#include "token_syntax.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool token_id_valid(const char *s)
{
    const char *at = s ? strchr(s, '@') : NULL;
    if (!at || at == s || strlen(s) > TOKEN_ID_MAX_LEN) return false;
    for (const char *p = s; p < at; p++)
        if (!is_alpha(*p) && !is_digit(*p) && *p != '.' && *p != '_' && *p != '-') return false;
    /* FQDN: non-empty labels, no leading or trailing '-', lowercase. */
    const char *label = at + 1;
    if (!*label) return false;
    for (const char *p = label;; p++) {
        if (*p == '.' || !*p) {
            if (p == label || label[0] == '-' || p[-1] == '-') return false;
            if (!*p) return true;
            label = p + 1;
        } else if (!(*p >= 'a' && *p <= 'z') && !is_digit(*p) && *p != '-') {
            return false;
        }
    }
}

bool local_token_id_valid(const char *s)
{
    if (!s || !(is_alpha(s[0]) || s[0] == '_') || strlen(s) > LOCAL_TOKEN_ID_MAX_LEN) return false;
    for (const char *p = s + 1; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && *p != '.' && *p != '-' && *p != '_') return false;
    return true;
}

bool compact_jwt_valid(const char *s)
{
    if (!s || strlen(s) > TOKENS_MAX_BYTES) return false;
    size_t len[5] = { 0 };
    int parts = 1;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (++parts > 5) return false;
        } else if (is_alpha(*p) || is_digit(*p) || *p == '-' || *p == '_') {
            len[parts - 1]++;
        } else {
            return false;
        }
    }
    if (parts == 3) return len[0] && len[2];
    return parts == 5 && len[0] && len[3];
}

bool token_text_valid(const char *s)
{
    if (!s || !*s || strlen(s) > TOKENS_MAX_BYTES) return false;
    for (const char *p = s; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && *p != '-' && *p != '_' && *p != '.') return false;
    return true;
}

bool token_list_valid(const char *list, bool (*ok)(const char *item), char *out, size_t cap)
{
    char buf[TOKENS_MAX_BYTES + 1];
    if (!list || strlen(list) > TOKENS_MAX_BYTES) return false;
    strcpy(buf, list);
    size_t used = 0;
    int n = 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, "+ ", &save); item; item = strtok_r(NULL, "+ ", &save)) {
        if (++n > TOKENS_MAX_COUNT || !ok(item)) return false;
        if (!out) continue;
        size_t len = strlen(item);
        if (used + len + 2 > cap) return false;
        if (used) out[used++] = '+';
        memcpy(out + used, item, len + 1);
        used += len;
    }
    return n > 0;
}

json_t *ati_parse(const char *text)
{
    char buf[TOKENS_MAX_BYTES + 1];
    if (!text || strlen(text) > TOKENS_MAX_BYTES) return NULL;
    strcpy(buf, text);
    json_t *ltia = json_array();
    char *save = NULL;
    for (char *pair = strtok_r(buf, "+ ", &save); pair; pair = strtok_r(NULL, "+ ", &save)) {
        char *colon = strchr(pair, ':');
        if (colon) *colon = 0;
        if (!colon || !local_token_id_valid(pair) || !token_id_valid(colon + 1)) {
            json_decref(ltia);
            return NULL;
        }
        json_array_append_new(ltia, json_pack("{s:s,s:s}", "lti", pair, "tkid", colon + 1));
    }
    if (!json_array_size(ltia)) {
        json_decref(ltia);
        return NULL;
    }
    return json_pack("{s:o}", "ltia", ltia);
}

char *ati_format(const json_t *ati)
{
    json_t *ltia = json_object_get(ati, "ltia"), *a;
    size_t i, cap = 1;
    if (!json_array_size(ltia)) return NULL;
    json_array_foreach(ltia, i, a) {
        const char *lti = json_string_value(json_object_get(a, "lti"));
        const char *tkid = json_string_value(json_object_get(a, "tkid"));
        if (!local_token_id_valid(lti) || !token_id_valid(tkid)) return NULL;
        cap += strlen(lti) + strlen(tkid) + 2;
    }
    char *out = malloc(cap), *w = out;
    if (!out) return NULL;
    json_array_foreach(ltia, i, a) {
        w += sprintf(w, "%s%s:%s", i ? "+" : "", json_string_value(json_object_get(a, "lti")),
                     json_string_value(json_object_get(a, "tkid")));
    }
    return out;
}
