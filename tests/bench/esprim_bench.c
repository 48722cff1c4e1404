/* A sealed RETRIEVE (ESPrim) against a plain one, in the same run, on one
 * m2m-cse (tests/bench/esprim_bench.sh starts it): N plain RETRIEVEs of a
 * container, then N sealed ones in one session (one nonce exchange first),
 * each a fresh HTTP connection as the m2m client makes them. Prints both
 * rates and their ratio, and the JWE seal+open rate of the crypto alone.
 * Usage: esprim_bench URL KEYID HEXKEY TARGET ORIGINATOR [N] */
#include "../../cse/base/clock.h"
#include "../../cse/core/primitive_json.h"
#include "../../cse/core/rsc.h"
#include "../../security/esprim.h"
#include "../../tools/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double now_s(void) { return (double)clock_now_us() / 1e6; }

static int call(const struct client_opts *o, enum client_op op, const char *to, const char *body,
                json_t **out)
{
    struct client_request rq = { .op = op, .to = to, .body = body };
    struct client_response rsp;
    char err[256];
    if (client_request(o, &rq, &rsp, err, sizeof err)) { fprintf(stderr, "%s\n", err); return -1; }
    int rsc = rsp.rsc;
    if (out) *out = rsp.body_len ? json_loadb(rsp.body, rsp.body_len, 0, NULL) : NULL;
    client_response_clear(&rsp);
    return rsc;
}

int main(int argc, char **argv)
{
    if (argc < 6) { fprintf(stderr, "usage: esprim_bench URL KEYID HEXKEY TARGET ORIGINATOR [N]\n"); return 2; }
    const struct esprim_crypto *c = &esprim_crypto_openssl;
    int n = argc > 6 ? atoi(argv[6]) : 2000;
    if (n < 1 || n > 4000) n = 2000;   /* one session opens 4096 objects at most */
    uint8_t key[64];
    size_t klen = strlen(argv[3]) / 2;
    for (size_t i = 0; i < klen && i < sizeof key; i++) sscanf(argv[3] + 2 * i, "%2hhx", &key[i]);
    struct client_opts o = { .url = argv[1], .from = argv[5] };
    const char *receiver = "cse-in";

    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (call(&o, CLIENT_RETRIEVE, argv[4], NULL, NULL) != RSC_OK) { fprintf(stderr, "plain RETRIEVE failed\n"); return 1; }
    double plain = n / (now_s() - t0);

    json_t *doc;
    char err[256];
    struct esprim_seci s;
    struct esprim_rand recv;
    struct esprim_session ses;
    if (call(&o, CLIENT_NOTIFY, receiver, "{\"m2m:seci\":{\"sit\":3}}", &doc) != RSC_OK ||
        esprim_seci_parse(doc, &s, err, sizeof err) || s.sit != 4 ||
        esprim_rand_parse(s.ero, true, clock_now_us(), &recv, err, sizeof err) ||
        esprim_session_start(c, argv[2], key, klen, &recv, &ses, err, sizeof err)) {
        fprintf(stderr, "no ESPrim session: %s\n", err);
        return 1;
    }
    json_decref(doc);
    struct m2m_request inner;
    m2m_request_init(&inner);
    inner.op = OP_RETRIEVE;
    inner.to = argv[4];
    inner.fr = argv[5];
    inner.rqi = "bench";
    inner.rvi = "3";
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        json_t *pc = esprim_seal_request(c, &ses, &inner);
        char *text = json_dumps(pc, JSON_COMPACT);
        json_decref(pc);
        json_t *out = NULL, *held = NULL;
        int rsc = call(&o, CLIENT_NOTIFY, receiver, text, &out);
        free(text);
        struct m2m_response in;
        m2m_response_init(&in);
        if (rsc != RSC_OK || esprim_open_response(c, &ses, out, &in, &held, err, sizeof err) || in.rsc != RSC_OK) {
            fprintf(stderr, "sealed RETRIEVE %d failed: %d %s\n", i, rsc, err);
            return 1;
        }
        in.rqi = NULL;
        m2m_response_clear(&in);
        json_decref(held);
        json_decref(out);
    }
    double sealed = n / (now_s() - t0);

    /* The JWE alone: seal and open a 300-byte primitive. */
    char plainbuf[301];
    memset(plainbuf, 'x', 300);
    plainbuf[300] = 0;
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "kid", "k", "ori", "u1", "rri", "u2");
    int m = 20000;
    t0 = now_s();
    for (int i = 0; i < m; i++) {
        char *epo = esprim_object_seal(c, ses.key, hdr, plainbuf, 300);
        struct esprim_object ob;
        char *p = NULL;
        size_t len;
        if (!epo || esprim_object_parse(epo, &ob, err, sizeof err) || esprim_object_open(c, ses.key, &ob, &p, &len)) return 1;
        esprim_object_clear(&ob);
        free(p);
        free(epo);
    }
    double jwe = m / (now_s() - t0);
    json_decref(hdr);
    printf("plain RETRIEVE  %8.0f /s\nsealed RETRIEVE %8.0f /s\nratio sealed/plain %.2f\n"
           "JWE seal+open (300 B) %8.0f /s\n", plain, sealed, sealed / plain, jwe);
    return 0;
}
