/* ESPrim (security/esprim.h): nonce objects, the session key, the JWE
 * object and the Receiver's gate. */
#include "esprim.h"
#include "maf_keys.h"

#include "credentials.h"
#include "jose_module.h"
#include "saef.h"

#include "../cse/base/b64url.h"
#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/address.h"
#include "../cse/core/cse.h"
#include "../cse/core/primitive_json.h"
#include "../cse/core/rsc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return RSC_BAD_REQUEST;
}

/* --- nonce objects ---------------------------------------------------------- */

static bool valid_rand_id(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > ESPRIM_ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (i && ((ch >= '0' && ch <= '9') || ch == '-' || ch == '.'));
        if (!ok) return false; /* xs:NCName */
    }
    return true;
}

/* A list of integers in [base, max] as a bit set (bit v - base); -1 when bad. */
static long id_set(const json_t *v, int base, int max)
{
    if (!json_is_array(v) || !json_array_size(v)) return -1;
    long set = 0;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        json_int_t n = json_is_integer(e) ? json_integer_value(e) : -1;
        if (n < base || n > max) return -1;
        set |= 1L << (n - base);
    }
    return set;
}

int esprim_rand_parse(const json_t *o, bool receiver, int64_t now_us, struct esprim_rand *out,
                      char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    const char *what = receiver ? "receiverESPrimRandObject" : "originatorESPrimRandObject";
    if (!json_is_object(o)) return bad(err, cap, "the %s is no JSON object", what);
    const char *id = json_string_value(json_object_get(o, "esri"));
    if (!id || !valid_rand_id(id)) return bad(err, cap, "%s: esri must be an NCName of up to %d characters", what, ESPRIM_ID_MAX);
    strcpy(out->id, id);
    const char *v = json_string_value(json_object_get(o, "esrv"));
    if (!v || b64url_decode(v, strlen(v), out->value, sizeof out->value) != ESPRIM_RAND_LEN)
        return bad(err, cap, "%s: esrv must be 16 bytes in base64url", what);
    json_t *x = json_object_get(o, "esrx");
    bool rel = json_is_integer(x) && json_integer_value(x) >= 0;
    if (rel) out->expiry_us = now_us + json_integer_value(x) * 1000;
    else if (!json_is_string(x) || !ts_parse_absrel(json_string_value(x), now_us, &out->expiry_us))
        return bad(err, cap, "%s: esrx must be a timestamp", what);
    long kdfs;
    if (receiver) {
        kdfs = id_set(json_object_get(o, "esks"), 0, 15);
    } else {
        json_t *k = json_object_get(o, "esk");
        kdfs = json_is_integer(k) && json_integer_value(k) >= 0 && json_integer_value(k) < 16
                   ? 1L << json_integer_value(k) : -1;
    }
    if (kdfs < 0) return bad(err, cap, "%s: %s must name key generation algorithms", what, receiver ? "esks" : "esk");
    long aeads = id_set(json_object_get(o, "espa"), 10, 12);
    if (aeads < 0) return bad(err, cap, "%s: espa must list protocol and algorithm IDs (10-12)", what);
    out->kdfs = (unsigned)kdfs;
    out->aeads = (unsigned)aeads;
    return 0;
}

static json_t *id_list(unsigned set, int base)
{
    json_t *a = json_array();
    for (int i = 0; i < 16; i++)
        if (set & (1u << i)) json_array_append_new(a, json_integer(base + i));
    return a;
}

json_t *esprim_rand_json(const struct esprim_rand *r, bool receiver)
{
    char v[b64url_len(ESPRIM_RAND_LEN) + 1];
    b64url_encode(r->value, ESPRIM_RAND_LEN, v);
    ts_buf x;
    ts_format(r->expiry_us, x);
    json_t *o = json_pack("{s:s,s:s,s:s}", "esri", r->id, "esrv", v, "esrx", x);
    if (receiver) {
        json_object_set_new(o, "esks", id_list(r->kdfs, 0));
    } else {
        for (int i = 0; i < 16; i++)
            if (r->kdfs & (1u << i)) { json_object_set_new(o, "esk", json_integer(i)); break; }
    }
    json_object_set_new(o, "espa", id_list(r->aeads, 10));
    return o;
}

int esprim_rand_new(const struct esprim_crypto *c, bool shared, int64_t expiry_us, struct esprim_rand *out)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    memset(out, 0, sizeof *out);
    uint8_t pick[20];
    if (c->random(out->value, sizeof out->value) || c->random(pick, sizeof pick)) return -1;
    out->id[0] = shared ? 's' : 'u';
    for (size_t i = 0; i < sizeof pick; i++) out->id[1 + i] = alnum[pick[i] % 36];
    out->expiry_us = expiry_us;
    out->kdfs = 1u << ESPRIM_KDF_HMAC_SHA256;
    out->aeads = 1u << (ESPRIM_JWE_A256GCM - 10);
    return 0;
}

int esprim_esi_check(const json_t *esi, char *err, size_t cap)
{
    if (!json_is_object(esi)) return bad(err, cap, "esi must be an m2m:e2eSecInfo object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)esi, k, v) {
        if (strcmp(k, "esf") && strcmp(k, "escert") && strcmp(k, "esro"))
            return bad(err, cap, "esi: unknown member '%s' (esf, escert, esro)", k);
    }
    json_t *esf = json_object_get(esi, "esf");
    if (!json_is_array(esf)) return bad(err, cap, "esi needs esf, a list of security usage IDs");
    size_t i;
    json_array_foreach(esf, i, v) {
        /* m2m:suid: tens digit = feature (1 ESPrim ... 4 ESData...), units 1-5. */
        json_int_t s = json_is_integer(v) ? json_integer_value(v) : 0;
        if (s < 11 || s > 45 || s % 10 < 1 || s % 10 > 5)
            return bad(err, cap, "esi: esf entries must be security usage IDs (11-45)");
    }
    json_t *certs = json_object_get(esi, "escert");
    if (certs && !json_is_array(certs)) return bad(err, cap, "esi: escert must be a list of base64 certificates");
    json_array_foreach(certs, i, v) {
        const char *s = json_string_value(v);
        if (!s || !*s || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != strlen(s))
            return bad(err, cap, "esi: escert entries must be base64");
    }
    json_t *esro = json_object_get(esi, "esro");
    struct esprim_rand r;
    if (esro && esprim_rand_parse(esro, true, clock_now_us(), &r, err, cap)) return RSC_BAD_REQUEST;
    return 0;
}

int esprim_seci_parse(const json_t *pc, struct esprim_seci *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    json_t *seci = json_object_get(pc, "m2m:seci");
    if (!json_is_object(seci)) return bad(err, cap, "the content is no m2m:seci object");
    json_t *sit = json_object_get(seci, "sit");
    if (!json_is_integer(sit) || json_integer_value(sit) < 1 || json_integer_value(sit) > 8)
        return bad(err, cap, "m2m:seci needs sit, a securityInfoType 1-8");
    out->sit = (int)json_integer_value(sit);
    if (out->sit == 4) {
        out->ero = json_object_get(seci, "ero");
        if (!json_is_object(out->ero)) return bad(err, cap, "m2m:seci sit 4 needs an ero object");
    } else if (out->sit == 5) {
        out->epo = json_string_value(json_object_get(seci, "epo"));
        if (!out->epo) return bad(err, cap, "m2m:seci sit 5 needs epo, a compact JWE");
        if (strlen(out->epo) > ESPRIM_OBJECT_MAX)
            return bad(err, cap, "the ESPrim object exceeds %d characters", ESPRIM_OBJECT_MAX);
    }
    return 0;
}

/* --- the session key ------------------------------------------------------ */

void esprim_kdf_input(const struct esprim_rand *recv, const struct esprim_rand *orig,
                      uint8_t out[ESPRIM_KDF_INPUT_LEN])
{
    memcpy(out, recv->value, ESPRIM_RAND_LEN);
    memcpy(out + ESPRIM_RAND_LEN, orig->value, ESPRIM_RAND_LEN);
    memcpy(out + 2 * ESPRIM_RAND_LEN, ESPRIM_KDF_LABEL, sizeof ESPRIM_KDF_LABEL - 1);
}

int esprim_session_key(const struct esprim_crypto *c, const uint8_t *pairwise, size_t pairwise_len,
                       const struct esprim_rand *recv, const struct esprim_rand *orig,
                       uint8_t out[ESPRIM_KEY_LEN])
{
    uint8_t in[ESPRIM_KDF_INPUT_LEN];
    esprim_kdf_input(recv, orig, in);
    return c->hmac_sha256(pairwise, pairwise_len, in, sizeof in, out);
}

/* --- the object --------------------------------------------------------------- */

static long decode_part(const char *s, size_t n, uint8_t *out, size_t cap)
{
    return n ? b64url_decode(s, n, out, cap) : -1;
}

int esprim_object_parse(const char *compact, struct esprim_object *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    const char *p[5];
    size_t n[5];
    const char *s = compact;
    for (int i = 0; i < 5; i++) {
        const char *dot = strchr(s, '.');
        if ((i < 4) != (dot != NULL)) return bad(err, cap, "the ESPrim object is no JWE compact (five parts)");
        p[i] = s;
        n[i] = dot ? (size_t)(dot - s) : strlen(s);
        s = dot ? dot + 1 : s;
    }
    if (n[1]) return bad(err, cap, "the ESPrim object carries an encrypted key: only direct encryption is used");
    if (n[0] > ESPRIM_OBJECT_MAX) return bad(err, cap, "the ESPrim object is too large");
    uint8_t *hdr = malloc(n[0] + 1), tag[ESPRIM_TAG_LEN];
    long hn = hdr ? decode_part(p[0], n[0], hdr, n[0]) : -1;
    if (hn > 0) out->header = json_loadb((const char *)hdr, (size_t)hn, JSON_REJECT_DUPLICATES, NULL);
    free(hdr);
    if (!json_is_object(out->header)) {
        esprim_object_clear(out);
        return bad(err, cap, "the ESPrim object's protected header is no base64url JSON object");
    }
    out->compact = compact;
    out->alg = json_string_value(json_object_get(out->header, "alg"));
    out->enc = json_string_value(json_object_get(out->header, "enc"));
    out->kid = json_string_value(json_object_get(out->header, "kid"));
    out->ori = json_string_value(json_object_get(out->header, "ori"));
    out->rri = json_string_value(json_object_get(out->header, "rri"));
    /* The ciphertext's characters only: its bytes are the JOSE library's. */
    bool ct_ok = n[3] && n[3] % 4 != 1 && strspn(p[3], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") >= n[3];
    if (!out->alg || !out->enc || !out->kid || !out->ori || !out->rri || !ct_ok ||
        decode_part(p[2], n[2], out->iv, sizeof out->iv) != ESPRIM_IV_LEN ||
        decode_part(p[4], n[4], tag, sizeof tag) != ESPRIM_TAG_LEN) {
        esprim_object_clear(out);
        return bad(err, cap, "the ESPrim object needs alg, enc, kid, ori and rri, a 96-bit IV, "
                   "a ciphertext and a 128-bit tag");
    }
    return 0;
}

void esprim_object_clear(struct esprim_object *o)
{
    json_decref(o->header);
    memset(o, 0, sizeof *o);
}

int esprim_object_open(const struct esprim_crypto *c, const uint8_t key[ESPRIM_KEY_LEN],
                       const struct esprim_object *o, char **plain, size_t *len)
{
    switch (c->open(key, o->compact, plain, len)) {
    case ESPRIM_OPENED: return 0;
    case ESPRIM_NOT_AUTHENTIC: return RSC_ESPRIM_BAD_MAC;
    case ESPRIM_NOT_OPENABLE: return RSC_BAD_REQUEST;
    default: return RSC_ESPRIM_DECRYPTION_ERROR;
    }
}

char *esprim_object_seal(const struct esprim_crypto *c, const uint8_t key[ESPRIM_KEY_LEN], const json_t *header,
                         const char *plain, size_t len)
{
    /* kid and cty are the JOSE API's own parameters; the rest go as extra. */
    json_t *extra = json_deep_copy(header);
    json_object_del(extra, "kid");
    json_object_del(extra, "cty");
    char *text = json_dumps(extra, JSON_COMPACT);
    char *out = NULL;
    if (!text || c->seal(key, json_string_value(json_object_get(header, "kid")),
                         json_string_value(json_object_get(header, "cty")), text, plain, len, &out))
        out = NULL;
    free(text);
    json_decref(extra);
    return out;
}

/* --- the Originator ----------------------------------------------------------- */

int esprim_session_start(const struct esprim_crypto *c, const char *kid, const uint8_t *pairwise,
                         size_t pairwise_len, const struct esprim_rand *recv, struct esprim_session *s,
                         char *err, size_t cap)
{
    memset(s, 0, sizeof *s);
    if (strlen(kid) > ESPRIM_KID_MAX) return bad(err, cap, "the key ID is too long"), -1;
    if (!(recv->kdfs & (1u << ESPRIM_KDF_HMAC_SHA256)) || !(recv->aeads & (1u << (ESPRIM_JWE_A256GCM - 10))))
        return bad(err, cap, "the receiver accepts neither HMAC-SHA256 nor A256GCM"), -1;
    if (recv->expiry_us <= clock_now_us()) return bad(err, cap, "the receiver's nonce object has expired"), -1;
    strcpy(s->kid, kid);
    s->recv = *recv;
    if (esprim_rand_new(c, false, recv->expiry_us, &s->orig) ||
        esprim_session_key(c, pairwise, pairwise_len, &s->recv, &s->orig, s->key))
        return bad(err, cap, "cannot derive the session key"), -1;
    return 0;
}

static json_t *session_header(const struct esprim_session *s, const char *ori, const char *rri, const char *cty)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "kid", s->kid, "ori", ori, "rri", rri, "cty", cty);
}

/* {"m2m:seci":{"sit":5,"epo":...}} for doc sealed under key, or NULL. */
static json_t *sealed_content(const struct esprim_crypto *c, const uint8_t key[ESPRIM_KEY_LEN], json_t *header,
                              json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    char *epo = text ? esprim_object_seal(c, key, header, text, strlen(text)) : NULL;
    json_t *pc = epo ? json_pack("{s:{s:i,s:s}}", "m2m:seci", "sit", 5, "epo", epo) : NULL;
    free(text);
    free(epo);
    return pc;
}

json_t *esprim_seal_request(const struct esprim_crypto *c, const struct esprim_session *s,
                            const struct m2m_request *inner)
{
    json_t *header = session_header(s, s->orig.id, s->recv.id, "application/vnd.onem2m-preq+json");
    json_object_set_new(header, "oro", esprim_rand_json(&s->orig, false));
    json_t *doc = request_to_json(inner);
    json_t *pc = sealed_content(c, s->key, header, doc);
    json_decref(doc);
    json_decref(header);
    return pc;
}

int esprim_open_response(const struct esprim_crypto *c, const struct esprim_session *s, const json_t *pc,
                         struct m2m_response *rsp, json_t **doc, char *err, size_t cap)
{
    *doc = NULL;
    struct esprim_seci seci;
    int rc = esprim_seci_parse(pc, &seci, err, cap);
    if (rc) return rc;
    if (seci.sit != 5) return bad(err, cap, "the response carries m2m:seci sit %d, not an ESPrim object", seci.sit);
    struct esprim_object o;
    if ((rc = esprim_object_parse(seci.epo, &o, err, cap))) return rc;
    if (strcmp(o.kid, s->kid) || strcmp(o.ori, s->orig.id) || strcmp(o.rri, s->recv.id)) {
        esprim_object_clear(&o);
        snprintf(err, cap, "the sealed response belongs to another session");
        return RSC_ESPRIM_UNKNOWN_KEY_ID;
    }
    char *plain = NULL;
    size_t len = 0;
    rc = esprim_object_open(c, s->key, &o, &plain, &len);
    esprim_object_clear(&o);
    if (rc) {
        snprintf(err, cap, "the sealed response does not open under the session key");
        return rc;
    }
    *doc = json_loadb(plain, len, 0, NULL);
    free(plain);
    rc = *doc ? response_from_json(*doc, rsp, err, cap) : bad(err, cap, "the sealed response is no JSON");
    if (rc) { json_decref(*doc); *doc = NULL; }
    return rc;
}

/* --- the Receiver ------------------------------------------------------------------ */

#define RECEIVER_NONCES 256     /* live receiver objects kept (oldest forgotten first) */
#define RECEIVER_SESSIONS 256   /* live sessions kept (oldest forgotten first) */
#define SESSION_OBJECTS 4096    /* objects one session opens; then a new originator object */

struct session {
    char kid[ESPRIM_KID_MAX + 1];
    char rri[ESPRIM_ID_MAX + 1], ori[ESPRIM_ID_MAX + 1];
    uint8_t key[ESPRIM_KEY_LEN];
    int64_t expiry_us;          /* the earlier of both objects' expiries; 0 = free slot */
    int64_t born_us;
    struct seen *seen;          /* the objects opened: a repeat is a replay */
    int nseen;
};

/* An object opened: its IV, and while its inner request waits for outside
 * answers (deferred), the outer request that will run it again. */
struct seen {
    uint8_t iv[ESPRIM_IV_LEN];
    const struct m2m_request *waiting;
};

struct esprim_receiver {
    struct esprim_rand nonces[RECEIVER_NONCES];  /* expiry_us 0 = free */
    struct session sessions[RECEIVER_SESSIONS];
};

static void session_forget(struct session *s)
{
    free(s->seen);
    memset(s, 0, sizeof *s);   /* the key goes too */
}

void esprim_receiver_free(struct esprim_receiver *r)
{
    if (!r) return;
    for (int i = 0; i < RECEIVER_SESSIONS; i++) session_forget(&r->sessions[i]);
    free(r);
}

/* Where a new nonce object goes: a free or expired slot, else the one that
 * expires first (all share one lifetime: the oldest). */
static int nonce_slot(const struct esprim_receiver *r, int64_t now)
{
    int pick = 0;
    for (int i = 0; i < RECEIVER_NONCES; i++) {
        if (r->nonces[i].expiry_us <= now) return i;
        if (r->nonces[i].expiry_us < r->nonces[pick].expiry_us) pick = i;
    }
    return pick;
}

/* Where a new session goes: a free or expired slot, else the oldest. */
static int session_slot(const struct esprim_receiver *r, int64_t now)
{
    int pick = 0;
    for (int i = 0; i < RECEIVER_SESSIONS; i++) {
        if (r->sessions[i].expiry_us <= now) return i;
        if (r->sessions[i].born_us < r->sessions[pick].born_us) pick = i;
    }
    return pick;
}

static const struct esprim_rand *find_nonce(struct esprim_receiver *r, const char *id, int64_t now)
{
    for (int i = 0; i < RECEIVER_NONCES; i++)
        if (r->nonces[i].expiry_us > now && !strcmp(r->nonces[i].id, id)) return &r->nonces[i];
    return NULL;
}

static struct session *find_session(struct esprim_receiver *r, const struct esprim_object *o, int64_t now)
{
    for (int i = 0; i < RECEIVER_SESSIONS; i++) {
        struct session *s = &r->sessions[i];
        if (s->expiry_us > now && !strcmp(s->kid, o->kid) && !strcmp(s->rri, o->rri) && !strcmp(s->ori, o->ori))
            return s;
    }
    return NULL;
}

static struct esprim_receiver *receiver_of(struct cse *cse)
{
    if (!cse->esprim) cse->esprim = calloc(1, sizeof *cse->esprim);
    return cse->esprim;
}

/* sit 3: a fresh, unshared receiver object, remembered until it expires. */
static int answer_nonce(struct cse *cse, const struct esprim_crypto *c, struct m2m_response *rsp)
{
    struct esprim_receiver *r = receiver_of(cse);
    int64_t now = clock_now_us();
    struct esprim_rand n;
    if (!r || esprim_rand_new(c, false, now + cse->cfg.esprim_nonce_lifetime_s * 1000000LL, &n))
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot make a nonce object");
    int i = nonce_slot(r, now);
    r->nonces[i] = n;
    rsp->rsc = RSC_OK;
    rsp->pc = json_pack("{s:{s:i,s:o}}", "m2m:seci", "sit", 4, "ero", esprim_rand_json(&n, true));
    return 0;
}

/* The session o names, made from its oro when new (recorded only once an
 * object opened under it). 0 or an RSC in rsp. */
static int settle_session(struct esprim_receiver *r, const struct esprim_crypto *c, const struct cred_psk *key,
                          const struct esprim_object *o, int64_t now, struct session *out,
                          struct m2m_response *rsp)
{
    struct session *known = find_session(r, o, now);
    if (known) { *out = *known; return 0; }
    const struct esprim_rand *recv = find_nonce(r, o->rri, now);
    if (!recv) return m2m_error(rsp, RSC_ESPRIM_UNKNOWN_RECV_RAND_ID, "receiver nonce object '%s' is unknown or expired", o->rri);
    json_t *oro = json_object_get(o->header, "oro");
    if (!oro) return m2m_error(rsp, RSC_ESPRIM_UNKNOWN_ORIG_RAND_ID, "originator nonce object '%s' is unknown: send it as oro", o->ori);
    struct esprim_rand orig;
    char err[160];
    if (esprim_rand_parse(oro, false, now, &orig, err, sizeof err)) return m2m_error(rsp, RSC_BAD_REQUEST, "%s", err);
    if (strcmp(orig.id, o->ori)) return m2m_error(rsp, RSC_BAD_REQUEST, "oro's esri is not the header's ori");
    if (orig.expiry_us <= now || orig.expiry_us > recv->expiry_us)
        return m2m_error(rsp, RSC_ESPRIM_UNKNOWN_ORIG_RAND_ID, "originator nonce object '%s' has expired or outlives the receiver's", o->ori);
    if (!(orig.kdfs & recv->kdfs) || (orig.aeads & ~recv->aeads))
        return m2m_error(rsp, RSC_ESPRIM_UNSUPPORTED_OPTION, "the originator object chooses algorithms the receiver does not offer");
    memset(out, 0, sizeof *out);
    snprintf(out->kid, sizeof out->kid, "%s", o->kid);
    snprintf(out->rri, sizeof out->rri, "%s", o->rri);
    snprintf(out->ori, sizeof out->ori, "%s", o->ori);
    out->expiry_us = orig.expiry_us;
    out->born_us = now;
    if (esprim_session_key(c, key->key, key->key_len, recv, &orig, out->key))
        return m2m_error(rsp, RSC_ESPRIM_DECRYPTION_ERROR, "cannot derive the session key");
    return 0;
}

/* Keeps s (opened an object) in the table with iv seen, for outer. 0, or
 * an RSC; *mark is the record (to say whether the inner request waits). */
static int record_object(struct esprim_receiver *r, struct session *s, const uint8_t iv[ESPRIM_IV_LEN],
                         const struct m2m_request *outer, int64_t now, struct seen **mark,
                         struct m2m_response *rsp)
{
    struct session *slot = NULL;
    for (int i = 0; i < RECEIVER_SESSIONS && !slot; i++) {
        struct session *k = &r->sessions[i];
        if (k->expiry_us > now && !strcmp(k->kid, s->kid) && !strcmp(k->rri, s->rri) && !strcmp(k->ori, s->ori))
            slot = k;
    }
    if (!slot) {
        slot = &r->sessions[session_slot(r, now)];
        session_forget(slot);
        *slot = *s;
        slot->seen = NULL;
        slot->nseen = 0;
    }
    for (int i = 0; i < slot->nseen; i++) {
        if (memcmp(slot->seen[i].iv, iv, ESPRIM_IV_LEN)) continue;
        /* Its own request run again once the answers it waited for are in. */
        if (slot->seen[i].waiting == outer) { *mark = &slot->seen[i]; return 0; }
        return m2m_error(rsp, RSC_ESPRIM_BAD_MAC, "the ESPrim object was received before (replay)");
    }
    if (slot->nseen == SESSION_OBJECTS)
        return m2m_error(rsp, RSC_ESPRIM_UNKNOWN_ORIG_RAND_ID, "originator nonce object '%s' is used up: send a new one", s->ori);
    if (!slot->seen && !(slot->seen = malloc(SESSION_OBJECTS * sizeof *slot->seen)))
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
    *mark = &slot->seen[slot->nseen++];
    memcpy((*mark)->iv, iv, ESPRIM_IV_LEN);
    (*mark)->waiting = NULL;
    return 0;
}

/* Does the inner originator speak for the outer one, and may key speak for it? */
static bool same_speaker(struct cse *cse, const struct cred_psk *key, const char *outer, const char *inner)
{
    struct ident_home home = cse_home(cse);
    struct ident_forms a, b;
    return outer && inner && ident_forms(&home, outer, &a) && ident_forms(&home, inner, &b) &&
           !strcmp(a.abs, b.abs) && saef_patterns_allow(cse, key->originators, inner);
}

/* Runs the opened inner primitive as its originator and seals the answer. */
static int execute_inner(struct cse *cse, const struct esprim_crypto *c, struct esprim_receiver *r,
                         struct session *s, const struct cred_psk *key, const struct esprim_object *o,
                         struct m2m_request *outer, const char *plain, size_t len, int64_t now,
                         struct m2m_response *rsp)
{
    json_t *doc = json_loadb(plain, len, 0, NULL);
    struct m2m_request inner;
    m2m_request_init(&inner);
    char err[160] = "the inner primitive is no JSON";
    int rc = doc ? request_from_json(doc, &inner, err, sizeof err) : RSC_BAD_REQUEST;
    json_decref(doc);
    if (rc) {
        m2m_request_clear(&inner);
        return m2m_error(rsp, rc, "%s", err);
    }
    if (!same_speaker(cse, key, outer->fr, inner.fr)) {
        log_info("esprim: key %s: inner originator '%s' refused for outer '%s'", key->identity,
                 inner.fr ? inner.fr : "", outer->fr ? outer->fr : "");
        m2m_request_clear(&inner);
        return m2m_error(rsp, RSC_ESPRIM_IMPERSONATION_ERROR, "the inner originator is not the one the key and the outer request speak for");
    }
    /* Impersonation before replay: a swapped originator is told so. */
    struct seen *mark = NULL;
    if ((rc = record_object(r, s, o->iv, outer, now, &mark, rsp))) {
        m2m_request_clear(&inner);
        return rc;
    }
    struct m2m_security sec = { .authenticated = true };
    snprintf(sec.credential_id, sizeof sec.credential_id, "%s%s", SAEF_ESPRIM_PREFIX, key->identity);
    struct cse_principal who = { PRINCIPAL_ORIGINATOR, inner.fr, &sec };
    struct m2m_response irsp;
    m2m_response_init(&irsp);
    char *fr = strdup(inner.fr);
    who.originator = fr;
    /* The inner request shares the outer one's continuation: what it must
     * wait for (a new subscription's verification) defers the outer request,
     * which the dispatcher runs again, this gate included, once answered. */
    inner.cont = outer->cont;
    cse_submit(cse, &who, &inner, &irsp, NULL, NULL, NULL);
    inner.cont = NULL;
    free(fr);
    bool waits = !irsp.rsc && outer->cont && json_array_size(outer->cont->wanted);
    mark->waiting = waits ? outer : NULL;
    if (waits) {
        m2m_response_clear(&irsp);
        m2m_request_clear(&inner);
        return DISPATCH_PENDING;
    }
    json_t *idoc = response_to_json(&irsp, inner.rvi);
    json_t *header = json_pack("{s:s,s:s,s:s,s:s}", "kid", s->kid, "ori", s->ori, "rri", s->rri,
                               "cty", "application/vnd.onem2m-prsp+json");
    json_t *pc = sealed_content(c, s->key, header, idoc);
    json_decref(header);
    json_decref(idoc);
    m2m_response_clear(&irsp);
    m2m_request_clear(&inner);
    if (!pc) return m2m_error(rsp, RSC_ESPRIM_ENCRYPTION_ERROR, "cannot seal the response");
    rsp->rsc = RSC_OK;
    rsp->pc = pc;
    return 0;
}

/* sit 5: open, check, execute, seal. */
static int open_object(struct cse *cse, const struct esprim_crypto *c, struct m2m_request *req, const char *epo,
                       struct m2m_response *rsp)
{
    struct esprim_receiver *r = receiver_of(cse);
    if (!r) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
    struct esprim_object o;
    char err[200];
    int rc = esprim_object_parse(epo, &o, err, sizeof err);
    if (rc) return m2m_error(rsp, rc, "%s", err);
    struct cred_psk key;
    memset(&key, 0, sizeof key);
    struct session s;
    memset(&s, 0, sizeof s);
    int64_t now = clock_now_us();
    char *plain = NULL;
    size_t len = 0;
    int from_maf = -1;
    if (strcmp(o.alg, "dir") || strcmp(o.enc, "A256GCM"))
        rc = m2m_error(rsp, RSC_ESPRIM_UNSUPPORTED_OPTION, "only alg dir with enc A256GCM is supported");
    /* <RelativeKeyID>@<maf-fqdn>: a MAF-distributed key (SUID 33), asked for while the loop serves on. */
    else if ((from_maf = maf_key_lookup(cse, req, o.kid, MAF_SUID_ESPRIM, RSC_ESPRIM_UNKNOWN_KEY_ID, &key, rsp)) > 0)
        rc = from_maf;
    else if (from_maf < 0 && (!cse->creds || cred_get_esprim_key(cse->creds, o.kid, &key)))
        rc = m2m_error(rsp, RSC_ESPRIM_UNKNOWN_KEY_ID, "ESPrim key '%s' is unknown", o.kid);
    else if (!(rc = settle_session(r, c, &key, &o, now, &s, rsp)) &&
             (rc = esprim_object_open(c, s.key, &o, &plain, &len)))
        rc = m2m_error(rsp, rc, rc == RSC_ESPRIM_BAD_MAC ? "the ESPrim object does not authenticate under the session key"
                                                          : "the ESPrim object cannot be decrypted");
    if (!rc) rc = execute_inner(cse, c, r, &s, &key, &o, req, plain, len, now, rsp);
    free(plain);
    esprim_object_clear(&o);
    memset(&key, 0, sizeof key);
    memset(&s, 0, sizeof s);
    return rc;
}

static bool addresses_cse_base(struct cse *cse, const struct m2m_request *req)
{
    struct address addr;
    if (!req->to || address_parse(cse, req->to, &addr)) return false;
    struct resource *res = NULL;
    bool base = !addr.remote && !addr.attr && !address_resolve(cse, addr.local, &res) && res->ty == TY_CSEBASE;
    resource_free(res);
    address_clear(&addr);
    return base;
}

int esprim_gate(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp)
{
    if (!cse->cfg.esprim || req->op != OP_NOTIFY || req->binding == BINDING_INTERNAL || !req->pc) return -1;
    json_t *seci = json_object_get(req->pc, "m2m:seci");
    json_t *sit = json_object_get(seci, "sit");
    if (!json_is_integer(sit) || (json_integer_value(sit) != 3 && json_integer_value(sit) != 5)) return -1;
    if (!addresses_cse_base(cse, req)) return -1;
    int rc = saef_check(cse, req, rsp);
    if (rc) return rc;
    const struct jose_module *m = jose_load(&cse->cfg);
    const struct esprim_crypto *c = m ? m->esprim : NULL;
    if (!c) return m2m_error(rsp, RSC_ESPRIM_DECRYPTION_ERROR, "the JOSE module is unavailable");
    struct esprim_seci in;
    char err[200];
    if ((rc = esprim_seci_parse(req->pc, &in, err, sizeof err))) return m2m_error(rsp, rc, "%s", err);
    return in.sit == 3 ? answer_nonce(cse, c, rsp) : open_object(cse, c, req, in.epo, rsp);
}
