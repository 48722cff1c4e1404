/* ESData for the m2m tool (docs/end-to-end-security.md): --encrypt-for and
 * --sign turn a create/update body's con into a JOSE compact envelope and
 * mark cnf; --decrypt and --verify undo that on a retrieved resource (or on
 * a body given to `m2m esdata open`). The CSE in between never has the key. */
#include "m2m.h"

#include "../security/credentials.h"
#include "../cse/store/store.h"
#include "../cse/store/store_pg.h"
#include "../security/key_seal.h"
#include "../security/firmware_sig.h"
#include "../security/jose.h"

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 16384

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* A key from the credential store: "cred:KpsaID" names a pre-provisioned
 * symmetric key in <data-dir>/credentials.db (the same store m2m-cse keeps),
 * or in the PostgreSQL database --db names (the store of front-ends on it). */
static struct jose_key *key_from_store(const struct cli *c, const char *id, char **kid)
{
    char path[4200];
    bool shared = c->db && pg_store_wanted(c->db);
    if (shared) store_printable(c->db, path, sizeof path);
    else snprintf(path, sizeof path, "%s/credentials.db", c->data_dir ? c->data_dir : "./var");
    if (!shared && access(path, R_OK)) {
        fprintf(stderr, "m2m: cannot read the credential store %s (--data-dir): %s\n", path, strerror(errno));
        return NULL;
    }
    char root[4200];
    snprintf(root, sizeof root, "%s/%s", c->data_dir ? c->data_dir : "./var", CRED_ROOT_FILE);
    struct credentials *cs = shared ? cred_open_shared(c->db, path, root, key_seal_openssl())
                                    : cred_open(path, root, key_seal_openssl());
    struct cred_psk psk;
    int rc = cs ? cred_get_psk(cs, id, &psk) : -1;
    cred_close(cs);
    if (rc) {
        fprintf(stderr, "m2m: no key '%s' in the credential store %s\n", id, path);
        return NULL;
    }
    struct jose_key *k = NULL;
    enum jose_error e = jose_key_from_bytes(psk.key, psk.key_len, &k);
    explicit_bzero(&psk, sizeof psk);
    if (e) fprintf(stderr, "m2m: key '%s': %s\n", id, jose_error_text(e));
    *kid = strdup(id);
    return k;
}

/* A key file: a JWK (JSON) or a symmetric key in hex. A file holding a
 * secret (oct, hex, or a private "d") must be mode 0600; a public JWK
 * (for --verify) may be readable by others. */
static struct jose_key *key_from_file(const char *path, char **kid)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        fprintf(stderr, "m2m: cannot read the key file %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    char *text = calloc(1, KEY_FILE_MAX + 1);
    ssize_t n = text ? read(fd, text, KEY_FILE_MAX + 1) : -1;
    close(fd);
    if (n <= 0 || n > KEY_FILE_MAX) {
        fprintf(stderr, "m2m: the key file %s must hold a JWK or a hex key of at most %d bytes\n", path, KEY_FILE_MAX);
        free(text);
        return NULL;
    }
    while (n > 0 && strchr(" \t\r\n", text[n - 1])) text[--n] = 0;
    bool jwk = text[0] == '{';
    bool secret = !jwk || strstr(text, "\"k\"") || strstr(text, "\"d\"");
    struct jose_key *k = NULL;
    if (secret && (st.st_mode & 077)) {
        fprintf(stderr, "m2m: the key file %s holds a secret and may be read by group or others (mode %04o): chmod 600 %s\n",
                path, (unsigned)(st.st_mode & 0777), path);
    } else if (jwk) {
        enum jose_error e = jose_key_from_jwk(text, &k);
        if (e) fprintf(stderr, "m2m: the key file %s: %s\n", path, jose_error_text(e));
    } else {
        uint8_t raw[64];
        size_t len = (size_t)n / 2;
        bool ok = n % 2 == 0 && len >= 1 && len <= sizeof raw;
        for (size_t i = 0; ok && i < len; i++) {
            int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            raw[i] = (uint8_t)(hi << 4 | lo);
        }
        if (!ok) fprintf(stderr, "m2m: the key file %s is neither a JWK nor a key of 1 to 64 bytes in hex\n", path);
        else if (jose_key_from_bytes(raw, len, &k)) fprintf(stderr, "m2m: the key file %s is not usable\n", path);
        explicit_bzero(raw, sizeof raw);
    }
    explicit_bzero(text, KEY_FILE_MAX);
    free(text);
    if (k && jose_key_kid(k)) *kid = strdup(jose_key_kid(k));
    return k;
}

static struct jose_key *load_key(const struct cli *c, const char *spec, char **kid)
{
    *kid = NULL;
    if (!strncmp(spec, "cred:", 5)) return key_from_store(c, spec + 5, kid);
    return key_from_file(spec, kid);
}

static int wrap_alg_for(const struct jose_key *k, const char *enc, const char **alg)
{
    /* the wrap algorithm the key implies: 16/24/32 bytes -> A128KW/A192KW/A256KW; an EC
     * (certificate-style) public key -> ECDH-ES+A256KW; an RSA one -> RSA-OAEP-256 */
    static const char *const kw[] = { "A128KW", "A192KW", "A256KW", "ECDH-ES+A256KW", "RSA-OAEP-256" };
    for (size_t i = 0; i < sizeof kw / sizeof *kw; i++) {
        struct jose_params p = { .alg = kw[i], .enc = enc };
        char *probe = NULL;
        if (jose_jwe_seal(k, &p, (const uint8_t *)"", 0, &probe) == JOSE_OK) {
            free(probe);
            *alg = kw[i];
            return 0;
        }
    }
    return -1;
}

/* The envelope for plain: JWS (--sign), then JWE (--encrypt-for) around it. */
static char *protect(const struct cli *c, const char *plain)
{
    char *kid = NULL, *inner = NULL, *outer = NULL;
    enum jose_error e = JOSE_OK;
    const char *text = plain;
    if (c->sign_key) {
        struct jose_key *k = load_key(c, c->sign_key, &kid);
        if (!k) return NULL;
        /* the key's type picks the algorithm: EC P-256 signs ES256, oct HS256 */
        struct jose_params probe = { .alg = "ES256" };
        char *tmp = NULL;
        const char *alg = jose_jws_sign(k, &probe, (const uint8_t *)"", 0, true, &tmp) == JOSE_OK ? "ES256" : "HS256";
        free(tmp);
        struct jose_params p = { .alg = alg, .kid = kid };
        e = jose_jws_sign(k, &p, (const uint8_t *)text, strlen(text), false, &inner);
        jose_key_free(k);
        free(kid);
        kid = NULL;
        if (e) { fprintf(stderr, "m2m: --sign: %s\n", jose_error_text(e)); return NULL; }
        text = inner;
    }
    if (c->encrypt_for) {
        struct jose_key *k = load_key(c, c->encrypt_for, &kid);
        if (!k) { free(inner); return NULL; }
        const char *enc = c->jwe_enc ? c->jwe_enc : "A256GCM", *alg = c->jwe_alg;
        if (!alg && wrap_alg_for(k, enc, &alg)) alg = "dir";
        /* nested (sign-then-encrypt): the JWE says its content is a JOSE object (RFC 7516 4.1.12) */
        struct jose_params p = { .alg = alg, .enc = enc, .kid = kid, .cty = inner ? "JOSE" : NULL };
        e = jose_jwe_seal(k, &p, (const uint8_t *)text, strlen(text), &outer);
        jose_key_free(k);
        free(kid);
        free(inner);
        if (e) { fprintf(stderr, "m2m: --encrypt-for (%s, %s): %s\n", alg, enc, jose_error_text(e)); return NULL; }
        return outer;
    }
    return inner;
}

/* The resource object in a request or response body ({"m2m:cin": {...}}). */
static json_t *inner_resource(json_t *doc)
{
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) if (json_is_object(v) && json_object_get(v, "con")) return v;
    return NULL;
}

int esdata_protect_body(const struct cli *c, const char *body, char **out)
{
    *out = NULL;
    json_t *doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    json_t *res = inner_resource(doc);
    if (!res) {
        fprintf(stderr, "m2m: --encrypt-for/--sign need a body with a con, e.g. {\"m2m:cin\":{\"con\":\"...\"}}\n");
        json_decref(doc);
        return 2;
    }
    json_t *con = json_object_get(res, "con");
    char *plain = json_is_string(con) ? strdup(json_string_value(con)) : json_dumps(con, JSON_COMPACT | JSON_ENCODE_ANY);
    /* cnf describes the content before protection; :1 = JOSE compact (TS-0004 6.3.4.2.38) */
    const char *cnf = json_string_value(json_object_get(res, "cnf"));
    char mark[300];
    if (cnf && strchr(cnf, ':')) {
        const char *first = strchr(cnf, ':'), *second = strchr(first + 1, ':');
        int keep = second ? (int)(second - cnf) : (int)strlen(cnf);
        snprintf(mark, sizeof mark, "%.*s:1", keep, cnf);
    } else {
        snprintf(mark, sizeof mark, "%s:0:1", json_is_string(con) ? "text/plain" : "application/json");
    }
    char *env = plain ? protect(c, plain) : NULL;
    if (plain) { explicit_bzero(plain, strlen(plain)); free(plain); }
    if (!env) { json_decref(doc); return CLI_EXIT_ESDATA; }
    json_object_set_new(res, "con", json_string(env));
    json_object_set_new(res, "cnf", json_string(mark));
    free(env);
    *out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return *out ? 0 : 2;
}

/* Undoes the envelope in place: JWE opened with --decrypt, JWS checked with
 * --verify. A protected con without the needed key, a wrong key or a
 * tampered envelope is an error (exit 3), never a silent pass-through. */
static int unprotect_con(const struct cli *c, json_t *res)
{
    const char *cnf = json_string_value(json_object_get(res, "cnf"));
    const char *env = json_string_value(json_object_get(res, "con"));
    if (!env) { fprintf(stderr, "m2m: ESData: con is not a string envelope\n"); return CLI_EXIT_ESDATA; }
    char *text = strdup(env), *kid = NULL;
    size_t parts = 0;
    for (const char *p = text; *p; p++) parts += *p == '.';
    bool verified = false;
    if (parts == 4) {
        if (!c->decrypt_key) { fprintf(stderr, "m2m: ESData: con is encrypted (JWE): give --decrypt KEY\n"); free(text); return CLI_EXIT_ESDATA; }
        struct jose_key *k = load_key(c, c->decrypt_key, &kid);
        free(kid);
        if (!k) { free(text); return CLI_EXIT_ESDATA; }
        uint8_t *plain = NULL;
        size_t len = 0;
        enum jose_error e = jose_jwe_open(k, text, &plain, &len, NULL);
        jose_key_free(k);
        free(text);
        if (e) { fprintf(stderr, "m2m: ESData: cannot decrypt con: %s\n", jose_error_text(e)); return CLI_EXIT_ESDATA; }
        text = (char *)plain;
        parts = 0;
        for (const char *p = text; *p; p++) parts += *p == '.';
        if (strlen(text) != len) parts = 0;  /* binary content: not a JWS */
    }
    if (c->verify_key) {
        if (parts != 2) { fprintf(stderr, "m2m: ESData: --verify given but con is not signed (no JWS)\n"); free(text); return CLI_EXIT_ESDATA; }
        struct jose_key *k = load_key(c, c->verify_key, &kid);
        free(kid);
        if (!k) { free(text); return CLI_EXIT_ESDATA; }
        uint8_t *payload = NULL;
        size_t len = 0;
        enum jose_error e = jose_jws_verify(k, text, NULL, 0, &payload, &len, NULL);
        jose_key_free(k);
        free(text);
        if (e) { fprintf(stderr, "m2m: ESData: con's signature: %s\n", jose_error_text(e)); return CLI_EXIT_ESDATA; }
        text = (char *)payload;
        verified = true;
    }
    /* The plaintext per cnf's media type: JSON back into JSON. */
    json_t *value = NULL;
    if (cnf && strstr(cnf, "json:")) value = json_loads(text, JSON_DECODE_ANY, NULL);
    json_object_set_new(res, "con", value ? value : json_string(text));
    if (cnf) {
        const char *second = strchr(strchr(cnf, ':') + 1, ':');
        if (second) json_object_set_new(res, "cnf", json_stringn(cnf, (size_t)(second - cnf)));
    }
    explicit_bzero(text, strlen(text));
    free(text);
    if (verified) fprintf(stderr, "m2m: ESData: signature verified\n");
    return 0;
}

int esdata_unprotect_doc(const struct cli *c, json_t *doc)
{
    json_t *res = inner_resource(doc);
    if (!res) { fprintf(stderr, "m2m: ESData: the response holds no con to open\n"); return CLI_EXIT_ESDATA; }
    return unprotect_con(c, res);
}

/* m2m esdata seal --body JSON|@file (--encrypt-for KEY | --sign KEY): prints the body with con protected.
 * m2m esdata open --body JSON|@file (--decrypt KEY | --verify KEY): prints it with con opened. */
int esdata_main(struct cli *c, const char *body)
{
    const char *verb = c->npos > 1 ? c->pos[1] : "";
    if (!body) { fprintf(stderr, "m2m: esdata %s needs --body JSON|@file\n", verb); return 2; }
    if (!strcmp(verb, "seal")) {
        char *out;
        int rc = esdata_protect_body(c, body, &out);
        if (!rc) printf("%s\n", out);
        free(out);
        return rc;
    }
    if (!strcmp(verb, "open")) {
        json_t *doc = json_loads(body, 0, NULL);
        int rc = doc ? esdata_unprotect_doc(c, doc) : 2;
        if (!doc) fprintf(stderr, "m2m: esdata open: the body is not JSON\n");
        if (!rc) {
            char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", text);
            free(text);
        }
        json_decref(doc);
        return rc;
    }
    fprintf(stderr, "m2m: esdata seal|open (try --help)\n");
    return 2;
}

/* fwdg of an image file: "sha256:<hex>" (the device checks the image it downloads against it). */
static int image_digest(const char *path, char out[72])
{
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "m2m: cannot read the image %s: %s\n", path, strerror(errno)); return -1; }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char buf[65536], h[32];
    unsigned hn = 0;
    size_t n;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(md, buf, n);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, h, &hn) && hn == 32;
    EVP_MD_CTX_free(md);
    fclose(f);
    if (!ok) { fprintf(stderr, "m2m: cannot hash the image %s\n", path); return -1; }
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++) sprintf(out + 7 + 2 * i, "%02x", h[i]);
    return 0;
}

/* m2m firmware sign --sign KEY --body '{"m2m:fwr":{...}}' [--image FILE]: prints the body with
 * fwdg (from --image, else as given) and fwsg, the detached JWS the CSE's firmware-trust checks. */
int firmware_main(struct cli *c, const char *body)
{
    if (c->npos < 2 || strcmp(c->pos[1], "sign") || !c->sign_key || !body) {
        fprintf(stderr, "m2m: firmware sign --sign KEY --body JSON|@file [--image FILE]\n");
        return 2;
    }
    json_t *doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    json_t *fwr = json_object_get(doc, "m2m:fwr");
    if (!json_is_object(fwr)) {
        fprintf(stderr, "m2m: firmware sign needs a body {\"m2m:fwr\": {\"fwn\", \"vr\", \"url\", ...}}\n");
        json_decref(doc);
        return 2;
    }
    char dg[72];
    if (c->image && (image_digest(c->image, dg) || json_object_set_new(fwr, "fwdg", json_string(dg)))) {
        json_decref(doc);
        return 2;
    }
    char *payload = fw_signed_payload(json_string_value(json_object_get(fwr, "fwn")),
                                      json_string_value(json_object_get(fwr, "vr")),
                                      json_string_value(json_object_get(fwr, "url")),
                                      json_string_value(json_object_get(fwr, "fwdg")));
    if (!payload || !fw_digest_valid(json_string_value(json_object_get(fwr, "fwdg")))) {
        fprintf(stderr, "m2m: firmware sign needs fwn, vr, url (no line breaks) and fwdg \"sha256:<hex>\" or --image FILE\n");
        free(payload);
        json_decref(doc);
        return 2;
    }
    char *kid = NULL, *jws = NULL;
    struct jose_key *k = load_key(c, c->sign_key, &kid);
    struct jose_params p = { .alg = "ES256", .kid = kid };
    enum jose_error e = k ? jose_jws_sign(k, &p, (const uint8_t *)payload, strlen(payload), true, &jws) : JOSE_E_KEY;
    jose_key_free(k);
    free(kid);
    free(payload);
    if (e) {
        fprintf(stderr, "m2m: firmware sign: %s (an EC P-256 private JWK signs firmware)\n", jose_error_text(e));
        json_decref(doc);
        return CLI_EXIT_ESDATA;
    }
    json_object_set_new(fwr, "fwsg", json_string(jws));
    free(jws);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    json_decref(doc);
    return 0;
}
