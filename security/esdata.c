/* ESData envelope forms (security/esdata.h). */
#include "esdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum esdata_security esdata_security_of(const char *cnf)
{
    const char *colon = cnf ? strchr(cnf, ':') : NULL;
    const char *sec = colon ? strchr(colon + 1, ':') : NULL;
    if (!sec || sec[1] < '0' || sec[1] > '5') return ESDATA_NONE;
    return (enum esdata_security)(sec[1] - '0');
}

/* Value of a base64 (url: base64url) character, -1 when outside the alphabet. */
static int b64_value(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

/* Decodes base64url (no padding) or base64 (padding allowed, no whitespace).
 * malloc'd, NUL-terminated; NULL when not valid. */
static char *b64_decode(const char *s, size_t n, bool url, size_t *out_len)
{
    if (!url) while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return NULL;
    char *out = malloc(n / 4 * 3 + 3);
    if (!out) return NULL;
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i], url);
        if (v < 0) { free(out); return NULL; }
        acc = acc << 6 | (unsigned)v;
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[k++] = (char)(acc >> bits & 0xff);
        }
    }
    out[k] = 0;
    *out_len = k;
    return out;
}

static bool all_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b64_value((unsigned char)s[i], true) < 0) return false;
    return true;
}

/* The protected header names alg (not "none") and, for a JWE, enc. */
static bool header_ok(const char *s, size_t n, bool jwe)
{
    size_t len;
    char *text = b64_decode(s, n, true, &len);
    json_t *h = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(text);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    bool ok = json_is_object(h) && alg && strcmp(alg, "none") &&
              (!jwe || json_is_string(json_object_get(h, "enc")));
    json_decref(h);
    return ok;
}

enum esdata_form esdata_compact_form(const char *s, size_t len)
{
    const char *part[5];
    size_t plen[5], n = 0;
    const char *start = s;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') continue;
        if (n == 5) return ESDATA_NOT_JOSE;
        part[n] = start;
        plen[n++] = (size_t)(s + i - start);
        start = s + i + 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!all_b64url(part[i], plen[i]) || plen[i] % 4 == 1) return ESDATA_NOT_JOSE;
    if (n == 5 && plen[0] && plen[3] && header_ok(part[0], plen[0], true)) return ESDATA_JWE;
    if (n == 3 && plen[0] && plen[2] && header_ok(part[0], plen[0], false)) return ESDATA_JWS;
    return ESDATA_NOT_JOSE;
}

/* A JWE or JWS in JSON serialisation (RFC 7516 7.2, RFC 7515 7.2), general or flattened. */
static bool jose_json_ok(const json_t *o)
{
    if (!json_is_object(o)) return false;
    if (json_is_string(json_object_get(o, "ciphertext"))) return true;
    return json_is_string(json_object_get(o, "payload")) &&
           (json_is_string(json_object_get(o, "signature")) || json_is_array(json_object_get(o, "signatures")));
}

static bool xml_ok(const char *s) { while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++; return *s == '<'; }

int esdata_check(const char *cnf, const json_t *con, char *why, size_t cap)
{
    enum esdata_security sec = esdata_security_of(cnf);
    if (sec == ESDATA_NONE || !con) return 0;
    const char *text = json_string_value(con);
    size_t len = text ? json_string_length(con) : 0;
    bool ok = false;
    const char *want = "";
    switch (sec) {
    case ESDATA_NONE: return 0;
    case ESDATA_JOSE_COMPACT:
        ok = text && esdata_compact_form(text, len) != ESDATA_NOT_JOSE;
        want = "a JWE or JWS compact serialisation (string)";
        break;
    case ESDATA_JOSE_JSON: {
        json_t *parsed = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
        ok = jose_json_ok(text ? parsed : con);
        json_decref(parsed);
        want = "a JWE or JWS JSON serialisation";
        break;
    }
    case ESDATA_JOSE_JSON_B64: {
        size_t n = 0;
        char *raw = text ? b64_decode(text, len, false, &n) : NULL;
        json_t *parsed = raw ? json_loadb(raw, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
        ok = jose_json_ok(parsed);
        json_decref(parsed);
        free(raw);
        want = "a base64-encoded JWE or JWS JSON serialisation";
        break;
    }
    case ESDATA_XML:
        ok = text && xml_ok(text);
        want = "an XML-Enc or XML-DSig document";
        break;
    case ESDATA_XML_B64: {
        size_t n = 0;
        char *raw = text ? b64_decode(text, len, false, &n) : NULL;
        ok = raw && xml_ok(raw);
        free(raw);
        want = "a base64-encoded XML-Enc or XML-DSig document";
        break;
    }
    }
    if (!ok) snprintf(why, cap, "cnf '%s' says the content is end-to-end protected, but con is not %s", cnf, want);
    return ok ? 0 : -1;
}
