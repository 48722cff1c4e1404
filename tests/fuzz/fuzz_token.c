/* Tokens of dynamic authorization (security/token.c): token_verify() and
 * token_peek() on what an originator sends in tkns. The trust list holds a
 * fixed EC P-256 key and a fixed HMAC key for one issuer, so that the seeds
 * (valid tokens made with them) reach the signature and claim checks.
 * Byte 0: bit 0 = 0, the rest is a compact token; 1, the rest is
 * "header JSON\npayload JSON\nsignature" and the target base64url-encodes
 * the two JSON texts (so mutations reach the JSON, not only its encoding).
 * Bit 1: holder and csi checked. Bits 2-3: the clock. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>

#include "security/token.h"
#include "fuzz.h"

#define ISS "//ironbark.local/id-das"
#define HOLDER "//ironbark.local/id-in/CAE1"
#define CSI "//ironbark.local/id-in"
/* Test keys of this target only (the seeds in corpus/token are signed with them). */
#define EC_PUBLIC "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"5sSbR-OTKBIpZJsPBR3YkoO0LnGkBFKUu9ZFOa6pE48\"," \
                  "\"y\":\"ld_gGSknxDP-KTy_9A4LfIsX80VvGG4yL4daJ0f0tEg\"}"
#define HMAC_KEY "{\"kty\":\"oct\",\"k\":\"ZnV6ei10YXJnZXQtdGVzdC1rZXktbm90LWEtc2VjcmV0LTAx\"}"

static struct token_trust *trust(void)
{
    static struct token_trust *t;
    if (t) return t;
    char err[256];
    t = token_trust_new();
    FUZZ_CHECK(t && !token_trust_add(t, ISS, EC_PUBLIC, err, sizeof err) &&
               !token_trust_add(t, ISS, HMAC_KEY, err, sizeof err));
    return t;
}

static char *b64(const char *s, size_t n)
{
    char *out = NULL;
    size_t len;
    cjose_err e;
    if (!cjose_base64url_encode((const uint8_t *)s, n, &out, &len, &e)) return NULL;
    return out;
}

/* "header\npayload\nsignature" -> compact form; NULL when not three lines. */
static char *from_parts(const char *in)
{
    const char *nl1 = strchr(in, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (!nl2) return NULL;
    char *h = b64(in, (size_t)(nl1 - in)), *p = b64(nl1 + 1, (size_t)(nl2 - nl1 - 1));
    char *out = NULL;
    if (h && p && asprintf(&out, "%s.%s.%s", h, p, nl2 + 1) < 0) out = NULL;
    free(h);
    free(p);
    return out;
}

static bool claims_empty(const struct token_claims *c)
{
    return !c->version && !c->id && !c->holder && !c->issuer && !c->name && !c->audience && !c->permissions &&
           !c->extension && !c->not_before && !c->not_after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const int64_t clocks[] = { 1800000000, 1700000050, 0, INT64_MAX };
    int64_t now = clocks[(data[0] >> 2) & 3];
    bool checked = data[0] & 2;
    char *text = strndup((const char *)data + 1, size - 1);
    if (!text) return 0;
    char *jwt = (data[0] & 1) ? from_parts(text) : text;
    if (!jwt) { free(text); return 0; }

    struct token_claims peeked, out;
    int peek_rc = token_peek(jwt, &peeked);
    if (peek_rc) FUZZ_CHECK(claims_empty(&peeked));
    enum token_verdict v = token_verify(trust(), jwt, checked ? HOLDER : NULL, checked ? CSI : NULL, now, &out);
    FUZZ_CHECK(v >= TOKEN_OK && v <= TOKEN_WRONG_HOLDER);
    FUZZ_CHECK(token_verdict_text(v) != NULL);
    if (v == TOKEN_OK) {
        /* A valid token is one peek reads, of the trusted issuer, within its time, for its holder. */
        FUZZ_CHECK(peek_rc == 0);
        FUZZ_CHECK(out.id && out.holder && out.issuer && !strcmp(out.issuer, ISS));
        FUZZ_CHECK(out.not_before <= now && now <= out.not_after);
        FUZZ_CHECK(!strcmp(out.holder, peeked.holder) && !strcmp(out.id, peeked.id));
        if (checked) FUZZ_CHECK(!strcmp(out.holder, HOLDER));
        FUZZ_CHECK(strlen(jwt) <= TOKEN_MAX_BYTES);
    } else {
        FUZZ_CHECK(claims_empty(&out));
    }
    token_claims_free(&out);
    token_claims_free(&peeked);
    if (jwt != text) free(jwt);
    free(text);
    return 0;
}
