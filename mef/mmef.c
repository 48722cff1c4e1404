#include "mmef.h"

#include "../cse/base/clock.h"
#include "../security/hex.h"
#include "../security/mm_elements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first segment of s into out; the rest after its '/' (or "") in *rest. */
static bool segment(const char *s, char *out, size_t cap, const char **rest)
{
    size_t n = strcspn(s, "/");
    if (n >= cap) return false;
    memcpy(out, s, n);
    out[n] = 0;
    *rest = s[n] ? s + n + 1 : s + n;
    return true;
}

static int suid_of(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 10 && v <= 99 ? (int)v : -1;
}

struct mmef_path mmef_parse_path(const char *to, const char *csebase_name)
{
    struct mmef_path p = { 0 };
    if (!to) return p;
    while (*to == '/') to++;
    size_t bn = csebase_name ? strlen(csebase_name) : 0;
    if (bn && !strncmp(to, csebase_name, bn) && to[bn] == '/') to += bn + 1;
    static const struct { const char *name; enum mmef_target t; } names[] = {
        { "mefClientReg", MMEF_CLIENT_REG }, { "mefKeyReg", MMEF_KEY_REG },
        { "fetchCredentials", MMEF_FETCH }, { "mefEnrolments", MMEF_ENROLMENTS },
    };
    char head[32];
    const char *rest;
    if (!segment(to, head, sizeof head, &rest)) return p;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(head, names[i].name)) p.target = names[i].t;
    if (!p.target) return p;
    if (*rest && !segment(rest, p.id, sizeof p.id, &rest)) { p.target = MMEF_BAD; return p; }
    bool two = p.target == MMEF_FETCH || (p.target == MMEF_KEY_REG && p.id[0]);
    if (two) {
        p.suid = suid_of(rest);
        if (!p.id[0] || p.suid < 0) p.target = MMEF_BAD;
    } else if (*rest) {
        p.target = MMEF_BAD;
    }
    return p;
}

int mmef_parse_client_reg(const json_t *pc, bool update, struct mmef_client_reg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *b = mm_body(pc, "mef:clientReg", err, errlen);
    if (!b) return -1;
    bool bad = false;
    if (update) {
        mm_time(b, false, &out->et_us, &out->has_et, &bad, err, errlen);
        mm_labels(b, &out->labels, &bad, err, errlen);
        out->has_labels = out->labels != NULL;
        if (!bad && !out->has_et && !out->has_labels) {
            snprintf(err, errlen, "a Client Registration Update needs expirationTime or labels");
            return -1;
        }
        if (!bad && json_object_size(b) != (size_t)out->has_et + out->has_labels) {
            snprintf(err, errlen, "a Client Registration Update may change only expirationTime and labels");
            return -1;
        }
        return bad ? -1 : 0;
    }
    out->mef_fqdn = mm_str(b, "MEF-FQDN", true, &bad, err, errlen);
    out->admin_fqdn = mm_str(b, "adminFQDN", true, &bad, err, errlen);
    mm_time(b, true, &out->et_us, &out->has_et, &bad, err, errlen);
    mm_labels(b, &out->labels, &bad, err, errlen);
    out->has_labels = out->labels != NULL;
    out->relative_keid = mm_str(b, "relativeKeID", true, &bad, err, errlen);
    uint8_t probe[ENROL_RELKEID_LEN];
    if (!bad && (strlen(out->relative_keid) != 2 * ENROL_RELKEID_LEN ||
                 hex_decode(out->relative_keid, probe, sizeof probe) != ENROL_RELKEID_LEN)) {
        snprintf(err, errlen, "relativeKeID must be the 32 hex digits of the session's exported RelativeKeID");
        bad = true;
    }
    return bad ? -1 : 0;
}

int mmef_parse_key_reg(const json_t *pc, struct mmef_key_reg *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *b = mm_body(pc, "mef:keyReg", err, errlen);
    if (!b) return -1;
    bool bad = false;
    out->mef_fqdn = mm_str(b, "MEF-FQDN", true, &bad, err, errlen);
    out->admin_fqdn = mm_str(b, "adminFQDN", true, &bad, err, errlen);
    mm_time(b, true, &out->et_us, &out->has_et, &bad, err, errlen);
    if (json_object_get(b, "Key Value") || json_object_get(b, "keyValue")) {
        if (!bad) snprintf(err, errlen, "a self-generated Key Value is not accepted: the MEF derives the key from Ke");
        bad = true;
    }
    const json_t *s = json_object_get(b, "SUID");
    out->suid = json_is_integer(s) ? (int)json_integer_value(s) : -1;
    if (!bad && (out->suid < 21 || out->suid > 25)) {
        snprintf(err, errlen, "SUID must be an RSPF-provisioned key usage, 21 to 25 (m2m:suid)");
        bad = true;
    }
    const json_t *t = json_object_get(b, "targetIDs");
    if (!bad && (!json_is_array(t) || json_array_size(t) != 1 || !json_is_string(json_array_get(t, 0)) ||
                 !json_string_length(json_array_get(t, 0)) || json_string_length(json_array_get(t, 0)) > 255)) {
        snprintf(err, errlen, "targetIDs must list exactly one absolute CSE-ID or AE-ID (at most 255 characters)");
        bad = true;
    }
    if (!bad) out->target = json_string_value(json_array_get(t, 0));
    return bad ? -1 : 0;
}

json_t *mmef_client_reg_json(const struct mef_enrolment *e, const char *mef_fqdn)
{
    return json_pack("{s:{s:s, s:o, s:o, s:s, s:s, s:s, s:s}}", "mef:clientReg",
                     "MEFClientRegID", e->reg_id, "labels", mm_labels_json(e->labels),
                     "expirationTime", mm_ts_json(e->expires_us), "MEFClientID", e->enrolee_id,
                     "adminFQDN", e->admin_fqdn, "MEF-FQDN", mef_fqdn, "KeID", e->keid);
}

json_t *mmef_key_reg_json(const struct mef_keyreg *k, const struct mef_enrolment *e)
{
    char rel[ENROL_KEID_MAX];
    snprintf(rel, sizeof rel, "%.*s", (int)strcspn(k->keid, "@"), k->keid);
    return json_pack("{s:{s:s, s:o, s:s, s:s, s:i, s:[s], s:s}}", "mef:keyReg",
                     "RelativeKeyID", rel, "expirationTime", mm_ts_json(k->expires_us),
                     "SourceMEFClientID", e->enrolee_id, "adminFQDN", e->admin_fqdn, "SUID", k->suid,
                     "targetIDs", k->target, "keyIdentifier", k->keid);
}

json_t *mmef_fetch_json(const uint8_t *key, size_t n, const char *enrolee_id, int64_t lifetime_us)
{
    char hex[2 * 64 + 1];
    if (n > 64) return NULL;
    hex_encode(key, n, hex);
    json_t *j = json_pack("{s:{s:b, s:s, s:s, s:o}}", "mef:fetchCredentials", "Status", 1, "Credential", hex,
                          "EnroleeID", enrolee_id, "Lifetime", mm_ts_json(lifetime_us));
    explicit_bzero(hex, sizeof hex);
    return j;
}

json_t *mmef_keyreg_entry(const struct mef_keyreg *k)
{
    return json_pack("{s:i, s:s, s:o}", "SUID", k->suid, "targetID", k->target,
                     "expirationTime", mm_ts_json(k->expires_us));
}

json_t *mmef_enrolment_json(const struct mef_enrolment *e, json_t *keyregs)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "KeID", e->keid,
                     "MEFClientRegID", e->reg_id, "KpmID", e->kpm_id, "EnroleeID", e->enrolee_id,
                     "adminFQDN", e->admin_fqdn, "enrolled", mm_ts_json(e->created_us),
                     "expirationTime", mm_ts_json(e->expires_us), "labels", mm_labels_json(e->labels),
                     "state", e->revoked ? "revoked" : e->expires_us <= clock_now_us() ? "expired" : "active",
                     "keyRegs", keyregs ? keyregs : json_array());
}

int mmef_parse_fetch(const json_t *pc, struct mmef_fetched *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *b = mm_body(pc, "mef:fetchCredentials", err, errlen);
    if (!b) return -1;
    const char *cred = json_string_value(json_object_get(b, "Credential"));
    const char *who = json_string_value(json_object_get(b, "EnroleeID"));
    const char *life = json_string_value(json_object_get(b, "Lifetime"));
    if (!json_is_true(json_object_get(b, "Status"))) {
        const char *why = json_string_value(json_object_get(b, "ErrorString"));
        snprintf(err, errlen, "the MEF refused: %s", why ? why : "Status is not true");
        return -1;
    }
    int n = cred ? hex_decode(cred, out->key, sizeof out->key) : -1;
    if (n < 16 || !who || !*who || strlen(who) >= sizeof out->enrolee_id || !life ||
        !ts_parse(life, &out->lifetime_us)) {
        snprintf(err, errlen, "the MEF's answer lacks a Credential (16-64 bytes hex), EnroleeID or Lifetime");
        explicit_bzero(out, sizeof *out);
        return -1;
    }
    out->key_len = (size_t)n;
    snprintf(out->enrolee_id, sizeof out->enrolee_id, "%s", who);
    return 0;
}
