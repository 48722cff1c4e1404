/* JOSE throughput (security/jose.c): JWE seal/open and JWS sign/verify per
 * second for a 256-byte reading, each beside raw AES-256-GCM of the same
 * bytes measured in the same run (OpenSSL EVP, the cipher cjose uses), so
 * the ratio says what the JOSE framing (base64url, JSON header, key wrap,
 * checks) costs over the cipher. Machine info is printed with the table.
 *   jose_bench [seconds-per-case]   (default 1) */
#include "security/jose.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#define PLAIN_BYTES 256

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef int bench_fn(void *arg);

/* Calls fn for about `secs`; returns calls per second (-1 when fn failed). */
static double per_second(bench_fn *fn, void *arg, double secs)
{
    long n = 0;
    double start = now_s(), end = start + secs, t;
    do {
        for (int i = 0; i < 16; i++, n++)
            if (fn(arg)) return -1;
    } while ((t = now_s()) < end);
    return (double)n / (t - start);
}

static uint8_t plain[PLAIN_BYTES], aes_key[32];

static int raw_gcm(void *arg)
{
    (void)arg;
    uint8_t iv[12], out[PLAIN_BYTES], tag[16];
    int len;
    RAND_bytes(iv, sizeof iv);  /* as a JWE does: a fresh IV per message */
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, aes_key, iv) &&
             EVP_EncryptUpdate(c, out, &len, plain, sizeof plain) && EVP_EncryptFinal_ex(c, out + len, &len) &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(c);
    return !ok;
}

struct jwe_case { struct jose_key *key; struct jose_params p; char *sealed; };

static int seal(void *arg)
{
    struct jwe_case *c = arg;
    char *out;
    if (jose_jwe_seal(c->key, &c->p, plain, sizeof plain, &out)) return 1;
    free(out);
    return 0;
}

static int open_(void *arg)
{
    struct jwe_case *c = arg;
    uint8_t *pt;
    size_t n;
    if (jose_jwe_open(c->key, c->sealed, &pt, &n, NULL)) return 1;
    free(pt);
    return 0;
}

struct jws_case { struct jose_key *sign, *verify; struct jose_params p; char *signed_; };

static int sign(void *arg)
{
    struct jws_case *c = arg;
    char *out;
    if (jose_jws_sign(c->sign, &c->p, plain, sizeof plain, false, &out)) return 1;
    free(out);
    return 0;
}

static int verify(void *arg)
{
    struct jws_case *c = arg;
    return jose_jws_verify(c->verify, c->signed_, NULL, 0, NULL, NULL, NULL) != JOSE_OK;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    RAND_bytes(plain, sizeof plain);
    RAND_bytes(aes_key, sizeof aes_key);
    struct utsname u;
    uname(&u);
    printf("machine: %s %s, %s; %d-byte payload, %.1f s per case\n\n", u.sysname, u.release, u.machine,
           PLAIN_BYTES, secs);
    double gcm = per_second(raw_gcm, NULL, secs);
    printf("| operation | per second | ratio to raw AES-256-GCM (%.0f/s) |\n|---|---|---|\n", gcm);

    static const char *const algs[] = { "dir", "A256KW" };
    for (int i = 0; i < 2; i++) {
        struct jwe_case c = { .p = { .alg = algs[i], .enc = "A256GCM", .kid = "bench" } };
        if (jose_key_from_bytes(aes_key, 32, &c.key) || jose_jwe_seal(c.key, &c.p, plain, sizeof plain, &c.sealed)) {
            fprintf(stderr, "jose_bench: cannot seal with %s\n", algs[i]);
            return 1;
        }
        double s = per_second(seal, &c, secs), o = per_second(open_, &c, secs);
        printf("| JWE seal %s+A256GCM | %.0f | %.3f |\n", algs[i], s, s / gcm);
        printf("| JWE open %s+A256GCM | %.0f | %.3f |\n", algs[i], o, o / gcm);
        free(c.sealed);
        jose_key_free(c.key);
    }
    char *ec = jose_new_jwk(0, "bench"), *ec_pub = jose_public_jwk(ec);
    {
        /* ECDH-ES+A256KW to an EC P-256 key: sealed with the public half, opened with the private one */
        struct jwe_case sealer = { .p = { .alg = "ECDH-ES+A256KW", .enc = "A256GCM" } }, opener = sealer;
        if (jose_key_from_jwk(ec_pub, &sealer.key) || jose_key_from_jwk(ec, &opener.key) ||
            jose_jwe_seal(sealer.key, &sealer.p, plain, sizeof plain, &opener.sealed))
            return 1;
        double s = per_second(seal, &sealer, secs), o = per_second(open_, &opener, secs);
        printf("| JWE seal ECDH-ES+A256KW+A256GCM | %.0f | %.3f |\n", s, s / gcm);
        printf("| JWE open ECDH-ES+A256KW+A256GCM | %.0f | %.3f |\n", o, o / gcm);
        free(opener.sealed);
        jose_key_free(sealer.key);
        jose_key_free(opener.key);
    }
    struct jws_case cases[2] = { { .p = { .alg = "HS256" } }, { .p = { .alg = "ES256" } } };
    if (jose_key_from_bytes(aes_key, 32, &cases[0].sign) || jose_key_from_jwk(ec, &cases[1].sign) ||
        jose_key_from_jwk(ec_pub, &cases[1].verify))
        return 1;
    cases[0].verify = cases[0].sign;
    for (int i = 0; i < 2; i++) {
        struct jws_case *c = &cases[i];
        if (jose_jws_sign(c->sign, &c->p, plain, sizeof plain, false, &c->signed_)) return 1;
        double s = per_second(sign, c, secs), v = per_second(verify, c, secs);
        printf("| JWS sign %s | %.0f | %.3f |\n", c->p.alg, s, s / gcm);
        printf("| JWS verify %s | %.0f | %.3f |\n", c->p.alg, v, v / gcm);
        free(c->signed_);
    }
    jose_key_free(cases[0].sign);
    jose_key_free(cases[1].sign);
    jose_key_free(cases[1].verify);
    free(ec);
    free(ec_pub);
    return 0;
}
