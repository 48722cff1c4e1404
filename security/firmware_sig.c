/* Signed firmware records (security/firmware_sig.h). */
#include "firmware_sig.h"

#include "jose_module.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRUSTED 64
#define PAYLOAD_TAG "ironbark-firmware-v1"

bool fw_digest_valid(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7)) return false;
    d += 7;
    for (int i = 0; i < 64; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f'))) return false;
    return d[64] == 0;
}

char *fw_signed_payload(const char *fwn, const char *vr, const char *url, const char *dgst)
{
    const char *f[] = { fwn, vr, url, dgst };
    for (int i = 0; i < 4; i++)
        if (!f[i] || strpbrk(f[i], "\r\n")) return NULL;
    size_t n = strlen(PAYLOAD_TAG) + strlen(fwn) + strlen(vr) + strlen(url) + strlen(dgst) + 5;
    char *p = malloc(n);
    if (p) snprintf(p, n, PAYLOAD_TAG "\n%s\n%s\n%s\n%s", fwn, vr, url, dgst);
    return p;
}

struct fw_trust {
    const struct jose_module *m;
    struct jose_key *keys[MAX_TRUSTED];
    size_t n;
};

void fw_trust_free(struct fw_trust *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) t->m->jose_key_free(t->keys[i]);
    free(t);
}

struct fw_trust *fw_trust_load(const struct jose_module *m, const char *path, char *err, size_t cap)
{
    if (!m) {
        snprintf(err, cap, "firmware-trust needs the jose module (ironbark-jose.so, setting jose-module)");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = json_object_get(root, "keys");
    struct fw_trust *t = calloc(1, sizeof *t);
    if (!t || !json_is_array(keys) || !json_array_size(keys) || json_array_size(keys) > MAX_TRUSTED) {
        snprintf(err, cap, "%s: expected a JWK Set {\"keys\": [public EC P-256 JWK, ...]} of 1 to %d keys%s%s",
                 path, MAX_TRUSTED, root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        free(t);
        return NULL;
    }
    t->m = m;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        char *text = json_is_object(k) ? json_dumps(k, JSON_COMPACT) : NULL;
        enum jose_error e = JOSE_E_MALFORMED;
        if (kty && !strcmp(kty, "EC") && !json_object_get(k, "d") && text)
            e = m->jose_key_from_jwk(text, &t->keys[t->n]);
        free(text);
        if (e) {
            snprintf(err, cap, "%s: key %zu is not a public EC P-256 JWK (%s)", path, i,
                     kty && strcmp(kty, "EC") ? "only EC public keys verify firmware" : m->jose_error_text(e));
            json_decref(root);
            fw_trust_free(t);
            return NULL;
        }
        t->n++;
    }
    json_decref(root);
    return t;
}

enum fw_verdict fw_verify(const struct fw_trust *t, const char *fwn, const char *vr, const char *url,
                          const char *dgst, const char *jws, char *why, size_t cap)
{
    if (!jws || !dgst) {
        snprintf(why, cap, "firmware must be signed: fwdg (image digest) and fwsg (detached JWS) are required");
        return FW_UNSIGNED;
    }
    if (!fw_digest_valid(dgst)) {
        snprintf(why, cap, "fwdg must be sha256: and 64 lowercase hex digits");
        return FW_MALFORMED;
    }
    char *payload = fw_signed_payload(fwn, vr, url, dgst);
    if (!payload) {
        snprintf(why, cap, "fwn, vr and url must be present and without line breaks to be signed");
        return FW_MALFORMED;
    }
    struct jose_header h = { 0 };
    enum jose_error e = t->m->jose_peek_header(jws, &h);
    bool es256 = !e && h.alg && !strcmp(h.alg, "ES256");
    t->m->jose_header_clear(&h);
    if (!es256 || !strstr(jws, "..")) {
        free(payload);
        snprintf(why, cap, "fwsg must be a detached JWS (header..signature) with alg ES256");
        return FW_MALFORMED;
    }
    /* Any trusted key may have signed it (kid is a hint only, not trusted to choose). */
    enum jose_error last = JOSE_E_SIGNATURE;
    for (size_t i = 0; i < t->n; i++) {
        last = t->m->jose_jws_verify(t->keys[i], jws, (const uint8_t *)payload, strlen(payload), NULL, NULL, NULL);
        if (last == JOSE_OK) break;
    }
    free(payload);
    if (last == JOSE_OK) return FW_OK;
    if (last == JOSE_E_MALFORMED || last == JOSE_E_TOO_LARGE) {
        snprintf(why, cap, "fwsg is not a well-formed detached JWS");
        return FW_MALFORMED;
    }
    snprintf(why, cap, "fwsg does not verify with any key of firmware-trust over fwn, vr, url and fwdg");
    return FW_FORGED;
}
