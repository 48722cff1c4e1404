#include "mmaf.h"

#include "../cse/base/clock.h"
#include "../security/hex.h"
#include "../security/mm_elements.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mmaf_path mmaf_parse_path(const char *to, const char *csebase_name)
{
    struct mmaf_path p = { 0 };
    if (!to) return p;
    to += strspn(to, "/");
    size_t bn = csebase_name ? strlen(csebase_name) : 0;
    if (bn && !strncmp(to, csebase_name, bn) && to[bn] == '/') to += bn + 1;
    const char *tail;
    if (!strncmp(to, "mafClientReg", 12)) { p.target = MMAF_CLIENT_REG; tail = to + 12; }
    else if (!strncmp(to, "mafKeyReg", 9)) { p.target = MMAF_KEY_REG; tail = to + 9; }
    else return p;
    if (!*tail) return p;
    if (*tail != '/') { p.target = MMAF_NONE; return p; }   /* mafKeyRegX: another name */
    tail++;
    size_t n = strlen(tail);
    bool ok = n > 0 && n < sizeof p.id;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)tail[i]) || tail[i] == '-' || tail[i] == '_' || tail[i] == '.';
    if (!ok) { p.target = MMAF_BAD; return p; }
    memcpy(p.id, tail, n + 1);
    return p;
}

int mmaf_parse_client_reg(const json_t *pc, bool update, struct mmaf_client_reg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *b = mm_body(pc, "maf:clientReg", err, errlen);
    if (!b) return -1;
    bool bad = false;
    if (!update) {
        out->maf_fqdn = mm_str(b, "MAF-FQDN", true, &bad, err, errlen);
        out->admin_fqdn = mm_str(b, "adminFQDN", true, &bad, err, errlen);
    }
    mm_time(b, !update, &out->et_us, &out->has_et, &bad, err, errlen);
    mm_labels(b, &out->labels, &bad, err, errlen);
    out->has_labels = out->labels != NULL;
    if (bad) return -1;
    size_t known = (size_t)out->has_et + out->has_labels + (update ? 0 : 2);
    if (update && !known) {
        snprintf(err, errlen, "a MAF Client Registration Update needs expirationTime or labels");
        return -1;
    }
    if (json_object_size(b) != known) {
        snprintf(err, errlen, "maf:clientReg: only MAF-FQDN, adminFQDN, expirationTime and labels%s",
                 update ? " (an Update: expirationTime and labels)" : "");
        return -1;
    }
    return 0;
}

static bool targets_el(const json_t *b, struct mmaf_key_reg *out, bool *bad, char *err, size_t errlen)
{
    const json_t *t = json_object_get(b, "targetIDs");
    out->has_targets = t != NULL;
    if (!t) return true;
    bool ok = json_is_array(t) && json_array_size(t) >= 1 && json_array_size(t) <= MMAF_MAX_TARGETS;
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v) {
        ok = ok && json_is_string(v) && json_string_length(v) && json_string_length(v) <= 255;
        if (ok) out->targets[out->ntargets++] = json_string_value(v);
    }
    if (!ok && !*bad) snprintf(err, errlen, "targetIDs must list 1 to %d CSE-IDs or AE-IDs", MMAF_MAX_TARGETS);
    *bad |= !ok;
    return ok;
}

int mmaf_parse_key_reg(const json_t *pc, bool update, struct mmaf_key_reg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *b = mm_body(pc, "maf:keyReg", err, errlen);
    if (!b) return -1;
    bool bad = false;
    mm_time(b, !update, &out->et_us, &out->has_et, &bad, err, errlen);
    mm_labels(b, &out->labels, &bad, err, errlen);
    out->has_labels = out->labels != NULL;
    targets_el(b, out, &bad, err, errlen);
    size_t known = (size_t)out->has_et + out->has_labels + out->has_targets;
    if (update) {
        if (!bad && (!known || json_object_size(b) != known)) {
            snprintf(err, errlen, "a Key Registration Update changes expirationTime, labels or targetIDs, nothing else");
            return -1;
        }
        return bad ? -1 : 0;
    }
    out->maf_fqdn = mm_str(b, "MAF-FQDN", true, &bad, err, errlen);
    out->admin_fqdn = mm_str(b, "adminFQDN", true, &bad, err, errlen);
    out->relative_key_id = mm_str(b, "relativeKeyID", true, &bad, err, errlen);
    if (json_object_get(b, "Key Value") || json_object_get(b, "keyValue")) {
        if (!bad) snprintf(err, errlen, "a self-generated Key Value is not accepted: Kc is exported from the MAF handshake");
        bad = true;
    }
    const json_t *s = json_object_get(b, "SUID");
    out->suid = json_is_integer(s) ? (int)json_integer_value(s) : -1;
    if (!bad && (out->suid < 32 || out->suid > 35)) {
        snprintf(err, errlen, "SUID must be a MAF-distributed key usage: 32 SAEF, 33 ESPrim, 34-35 ESData (m2m:suid)");
        bad = true;
    }
    if (!bad && !out->has_targets) {
        snprintf(err, errlen, "targetIDs is mandatory: who may retrieve the key");
        bad = true;
    }
    if (!bad && (out->suid == 32 || out->suid == 33) && out->ntargets != 1) {
        snprintf(err, errlen, "an SAEF or ESPrim key has exactly one target (TS-0003 Table 8.8.1-1)");
        bad = true;
    }
    uint8_t probe[16];
    if (!bad && (strlen(out->relative_key_id) != MMAF_RELKEYID_LEN ||
                 hex_decode(out->relative_key_id, probe, sizeof probe) != sizeof probe)) {
        snprintf(err, errlen, "relativeKeyID must be the 32 hex digits of the session's exported KcID");
        bad = true;
    }
    if (!bad && json_object_size(b) != 5 + (size_t)out->has_labels + 1) {
        snprintf(err, errlen, "maf:keyReg: unknown elements (MAF-FQDN, adminFQDN, expirationTime, labels, SUID, "
                              "targetIDs, relativeKeyID)");
        bad = true;
    }
    return bad ? -1 : 0;
}

json_t *mmaf_client_reg_json(const char *root, const struct maf_client *c, const char *maf_fqdn)
{
    return json_pack("{s:{s:s, s:s, s:o, s:o, s:s, s:s}}", root, "mafClientRegID", c->reg_id, "MAFClientID",
                     c->client_id, "labels", mm_labels_json(c->labels), "expirationTime", mm_ts_json(c->expires_us),
                     "adminFQDN", c->admin_fqdn, "MAF-FQDN", maf_fqdn);
}

json_t *mmaf_key_json(const struct maf_key *k, const char *maf_fqdn, bool with_key)
{
    char kid[MMAF_RELKEYID_LEN + 160];
    snprintf(kid, sizeof kid, "%s@%s", k->rel, maf_fqdn);
    json_t *targets = json_array();
    for (int i = 0; i < k->ntargets; i++) json_array_append_new(targets, json_string(k->targets[i]));
    json_t *j = json_pack("{s:{s:s, s:s, s:o, s:s, s:o, s:s, s:i, s:o}}", "maf:keyReg", "RelativeKeyID", k->rel,
                          "keyIdentifier", kid, "expirationTime", mm_ts_json(k->expires_us), "SourceMAFClientID",
                          k->source_id, "labels", mm_labels_json(k->labels), "adminFQDN", k->admin_fqdn,
                          "SUID", k->suid, "targetIDs", targets);
    if (j && with_key) {
        char hex[2 * sizeof k->kc + 1];
        hex_encode(k->kc, sizeof k->kc, hex);
        json_object_set_new(json_object_get(j, "maf:keyReg"), "Key Value", json_string(hex));
        explicit_bzero(hex, sizeof hex);
    }
    return j;
}

int mmaf_parse_retrieved(const json_t *pc, int suid, const char *target, struct mmaf_retrieved *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *b = mm_body(pc, "maf:keyReg", err, errlen);
    if (!b) return -1;
    const char *val = json_string_value(json_object_get(b, "Key Value"));
    const char *src = json_string_value(json_object_get(b, "SourceMAFClientID"));
    const char *et = json_string_value(json_object_get(b, "expirationTime"));
    int n = val ? hex_decode(val, out->key, sizeof out->key) : -1;
    if (n != (int)sizeof out->key || !src || !*src || strlen(src) >= sizeof out->source_id || !et ||
        !ts_parse(et, &out->expires_us)) {
        snprintf(err, errlen, "the MAF's answer lacks a Key Value (32 bytes hex), SourceMAFClientID or expirationTime");
        explicit_bzero(out, sizeof *out);
        return -1;
    }
    out->key_len = (size_t)n;
    snprintf(out->source_id, sizeof out->source_id, "%s", src);
    const json_t *s = json_object_get(b, "SUID");
    bool listed = false;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(b, "targetIDs"), i, t) listed |= json_is_string(t) && !strcmp(json_string_value(t), target);
    const char *why = !json_is_integer(s) || json_integer_value(s) != suid ? "it is registered for another usage (SUID)"
                    : !listed ? "this CSE is not among its targetIDs" : NULL;
    if (why) {
        snprintf(err, errlen, "the MAF's key is not for this use: %s", why);
        explicit_bzero(out, sizeof *out);
        return -1;
    }
    return 0;
}
