/* m2m ... --esprim KEYID: the Originator's end of ESPrim (security/esprim.h).
 * Finds the Receiver's nonce object (its esi.esro, else a NOTIFY with
 * m2m:seci sit 3), derives the session key, sends the primitive sealed in a
 * NOTIFY to the Receiver's CSEBase, opens the sealed answer and prints the
 * inner response as if it had been sent in the clear. */
#include "m2m.h"

#include "../cse/base/clock.h"
#include "../cse/core/primitive.h"
#include "../cse/core/rsc.h"
#include "../security/esprim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Receiver's CSEBase for a target: its first segment when CSE-relative
 * ("cse-in/ae1" -> "cse-in"), else the CSE-ID's "-" ("/id-in/x" -> "/id-in/-",
 * "//sp/id-in/x" -> "//sp/id-in/-"): the CSEBase whatever its name. */
static void receiver_of(const char *to, char *out, size_t cap)
{
    const char *p = to;
    bool cse_relative = *p != '/';
    if (!strncmp(p, "//", 2)) p = strchr(p + 2, '/');   /* //sp/cse-id/... */
    else if (*p == '/') p++;                              /* /cse-id/... */
    p = p ? strchr(p + (*p == '/'), '/') : NULL;
    size_t n = p ? (size_t)(p - to) : strlen(to);
    snprintf(out, cap, "%.*s%s", (int)n, to, cse_relative ? "" : "/-");
}

static int hex_bytes(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (!n || n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2);
}

static int load_key(const struct cli *c, uint8_t key[64])
{
    char hex[2 * 64 + 2];
    const char *env = getenv("M2M_ESPRIM_KEY");
    if (c->esprim_key_file) {
        if (cli_read_hex_key(c->esprim_key_file, hex, sizeof hex)) return -1;
    } else if (env && *env) {
        snprintf(hex, sizeof hex, "%s", env);
    } else {
        fprintf(stderr, "m2m: --esprim needs the pairwise key: --esprim-key-file FILE or $M2M_ESPRIM_KEY\n");
        return -1;
    }
    int n = hex_bytes(hex, key, 64);
    memset(hex, 0, sizeof hex);
    if (n <= 0) fprintf(stderr, "m2m: the ESPrim key must be 1 to 64 bytes in hex\n");
    return n;
}

/* The Receiver's nonce object: a valid esi.esro, else asked for (sit 3). */
static int receiver_nonce(struct cli *c, const char *receiver, struct esprim_rand *out)
{
    json_t *doc = NULL;
    int rsc = 0;
    char err[200];
    if (cli_call(c, CLIENT_RETRIEVE, receiver, 0, NULL, NULL, &doc, &rsc)) return 2;
    const char *k;
    json_t *res = NULL, *v;
    json_object_foreach(doc, k, v) res = v;
    json_t *esi = json_object_get(res, "esi");
    bool announced = false;
    size_t i;
    json_array_foreach(json_object_get(esi, "esf"), i, v)
        announced |= json_integer_value(v) == ESPRIM_SUID_PROVISIONED;
    /* Not allowed to read the CSEBase: ask for a nonce object all the same. */
    if (rsc_is_success(rsc) && !announced) {
        fprintf(stderr, "m2m: %s does not announce ESPrim with pre-provisioned keys (esi esf 13; RETRIEVE: %d)\n",
                receiver, rsc);
        json_decref(doc);
        return 1;
    }
    json_t *esro = json_object_get(esi, "esro");
    int64_t now = clock_now_us();
    bool shared = announced && esro && !esprim_rand_parse(esro, true, now, out, err, sizeof err) && out->expiry_us > now;
    json_decref(doc);
    if (shared) return 0;
    if (cli_call(c, CLIENT_NOTIFY, receiver, 0, "{\"m2m:seci\":{\"sit\":3}}", NULL, &doc, &rsc)) return 2;
    struct esprim_seci seci;
    int bad = !rsc_is_success(rsc) || esprim_seci_parse(doc, &seci, err, sizeof err) || seci.sit != 4 ||
              esprim_rand_parse(seci.ero, true, now, out, err, sizeof err);
    if (bad) {
        if (!rsc_is_success(rsc)) cli_print_rsc(rsc, doc);
        else fprintf(stderr, "m2m: the nonce answer is unusable: %s\n", err);
    }
    json_decref(doc);
    return bad ? 1 : 0;
}

static void print_inner(const struct m2m_response *in)
{
    if (in->pc) {
        char *text = json_dumps(in->pc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text) printf("%s\n", text);
        free(text);
    }
    cli_print_rsc(in->rsc, in->pc);
}

int esprim_primitive(struct cli *c, enum client_op op, const char *to, int ty, const char *body)
{
    const struct esprim_crypto *cr = &esprim_crypto_openssl;
    uint8_t key[64];
    int klen = load_key(c, key);
    if (klen <= 0) return 2;
    char receiver[512], err[256];
    if (c->esprim_receiver) snprintf(receiver, sizeof receiver, "%s", c->esprim_receiver);
    else receiver_of(to, receiver, sizeof receiver);
    struct m2m_request inner;
    m2m_request_init(&inner);
    inner.op = (enum m2m_op)op;
    inner.ty = ty;
    inner.rcn = c->rcn;
    inner.pc = body ? json_loads(body, 0, NULL) : NULL;
    if (body && !json_is_object(inner.pc)) {
        fprintf(stderr, "m2m: --esprim needs a JSON object as --body\n");
        json_decref(inner.pc);
        return 2;
    }
    struct esprim_rand recv;
    struct esprim_session s;
    int rc = receiver_nonce(c, receiver, &recv);
    if (!rc && esprim_session_start(cr, c->esprim_kid, key, (size_t)klen, &recv, &s, err, sizeof err)) {
        fprintf(stderr, "m2m: %s\n", err);
        rc = 1;
    }
    memset(key, 0, sizeof key);
    char rqi[32];
    snprintf(rqi, sizeof rqi, "esp%lld", (long long)(clock_now_us() % 1000000000000LL));
    inner.to = (char *)to;
    inner.fr = (char *)c->o.from;
    inner.rqi = (char *)(c->rqi ? c->rqi : rqi);
    inner.rvi = (char *)(c->o.rvi ? c->o.rvi : "3");
    json_t *sealed = rc ? NULL : esprim_seal_request(cr, &s, &inner);
    json_decref(inner.pc);
    if (!rc && !sealed) { fprintf(stderr, "m2m: cannot seal the request\n"); rc = 2; }
    char *text = sealed ? json_dumps(sealed, JSON_COMPACT) : NULL;
    json_decref(sealed);
    if (rc || c->esprim_seal_only) {
        if (!rc) printf("%s\n", text);
        free(text);
        memset(&s, 0, sizeof s);
        return rc;
    }
    json_t *out = NULL;
    int rsc = 0;
    rc = cli_call(c, CLIENT_NOTIFY, receiver, 0, text, NULL, &out, &rsc);
    free(text);
    if (!rc && rsc != RSC_OK) {
        /* Refused before the inner primitive ran: the outer answer is in the clear. */
        fprintf(stderr, "m2m: the receiver refused the sealed request\n");
        cli_print_rsc(rsc, out);
        rc = 1;
    } else if (!rc) {
        struct m2m_response in;
        m2m_response_init(&in);
        json_t *doc = NULL;
        if (esprim_open_response(cr, &s, out, &in, &doc, err, sizeof err)) {
            fprintf(stderr, "m2m: the sealed answer cannot be opened: %s\n", err);
            rc = 3;
        } else {
            print_inner(&in);
            rc = rsc_is_success(in.rsc) ? 0 : 1;
        }
        in.rqi = NULL;
        m2m_response_clear(&in);
        json_decref(doc);
    }
    json_decref(out);
    memset(&s, 0, sizeof s);
    return rc;
}
