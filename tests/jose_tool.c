/* Drives security/jose.h from the command line for the interop tests
 * (tests/integration/test_jose_interop.py, against python3-jwcrypto):
 *   jose_tool seal ALG ENC JWK-FILE   < plaintext  > compact JWE
 *   jose_tool open JWK-FILE           < JWE        > plaintext
 *   jose_tool sign ALG JWK-FILE [detached] < payload > compact JWS
 *   jose_tool verify JWK-FILE [DETACHED-PAYLOAD-FILE] < JWS > payload
 * Exit 0, or 1 with jose_error_text() on stderr. */
#include "security/jose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += r) == cap) buf = realloc(buf, (cap *= 2) + 1);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

static char *slurp_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    char *s = slurp(f, len);
    fclose(f);
    return s;
}

static int fail(enum jose_error e)
{
    fprintf(stderr, "jose_tool: %s\n", jose_error_text(e));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: see the comment in tests/jose_tool.c\n"); return 2; }
    const char *cmd = argv[1];
    bool seal = !strcmp(cmd, "seal"), sign = !strcmp(cmd, "sign");
    const char *keyfile = seal ? (argc > 4 ? argv[4] : NULL) : sign ? argv[3] : argv[2];
    if (!keyfile) return 2;
    size_t kn, n;
    char *jwk = slurp_path(keyfile, &kn);
    struct jose_key *k;
    enum jose_error e = jose_key_from_jwk(jwk, &k);
    free(jwk);
    if (e) return fail(e);
    char *in = slurp(stdin, &n);
    char *out = NULL;
    uint8_t *plain = NULL;
    size_t plen = 0;
    if (seal) {
        struct jose_params p = { .alg = argv[2], .enc = argv[3], .kid = jose_key_kid(k) };
        if (!(e = jose_jwe_seal(k, &p, (uint8_t *)in, n, &out))) fputs(out, stdout);
    } else if (sign) {
        struct jose_params p = { .alg = argv[2], .kid = jose_key_kid(k) };
        bool detached = argc > 4 && !strcmp(argv[4], "detached");
        if (!(e = jose_jws_sign(k, &p, (uint8_t *)in, n, detached, &out))) fputs(out, stdout);
    } else if (!strcmp(cmd, "open")) {
        in[strcspn(in, "\r\n")] = 0;
        if (!(e = jose_jwe_open(k, in, &plain, &plen, NULL))) fwrite(plain, 1, plen, stdout);
    } else if (!strcmp(cmd, "verify")) {
        in[strcspn(in, "\r\n")] = 0;
        size_t dn = 0;
        char *det = argc > 3 ? slurp_path(argv[3], &dn) : NULL;
        e = jose_jws_verify(k, in, (uint8_t *)det, dn, det ? NULL : &plain, det ? NULL : &plen, NULL);
        if (!e && plain) fwrite(plain, 1, plen, stdout);
        free(det);
    } else {
        e = JOSE_E_ARGUMENT;
    }
    free(in);
    free(out);
    free(plain);
    jose_key_free(k);
    return e ? fail(e) : 0;
}
