/* m2m maf register|key add|key get|key list|key revoke (MAF clients) and
 * m2m --maf URL (connect to a CSE with a key the MAF establishes). The
 * MAF's wire mapping is maf/mmaf.h; the exporter split, security/enrol_keys.h. */
#include "m2m.h"

#include "../cse/base/b64url.h"
#include "../cse/base/clock.h"
#include "../cse/core/rsc.h"
#include "../maf/mmaf.h"
#include "../security/enrol_keys.h"
#include "../security/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *maf_url(const struct cli *c)
{
    const char *u = c->maf_url ? c->maf_url : getenv("M2M_MAF");
    return u && *u ? u : "https://127.0.0.1:8582";
}

static const char *maf_fqdn(const struct cli *c)
{
    return c->maf_fqdn ? c->maf_fqdn : "maf.ironbark.local";
}

static int expiry(const struct cli *c, const char *dflt, char out[TS_LEN])
{
    int64_t us;
    if (!duration_parse(c->lifetime ? c->lifetime : dflt, &us) || us <= 0) {
        fprintf(stderr, "m2m maf: --lifetime needs an ISO 8601 duration (PT1H, P7D)\n");
        return -1;
    }
    ts_format(clock_now_us() + us, out);
    out[15] = 0;
    return 0;
}

static int refused(const char *step, int rsc, json_t *out)
{
    fprintf(stderr, "m2m maf: %s refused: ", step);
    fflush(stderr);
    cli_print_rsc(rsc, out);
    json_decref(out);
    return 1;
}

/* The Key Registration body, written once the session's material is known. */
struct key_reg {
    const struct cli *c;
    int suid;
    char expiry[TS_LEN];
    char body[2048];
    char rel[MMAF_RELKEYID_LEN + 1];
    uint8_t kc[ENROL_KEY_LEN];
    bool exported;
};

static void on_export(void *data, const unsigned char *km, size_t n)
{
    struct key_reg *r = data;
    uint8_t kcid[ENROL_RELKEID_LEN];
    if (n != ENROL_EXPORT_LEN) return;
    enrol_split_export(km, kcid, r->kc);
    hex_encode(kcid, sizeof kcid, r->rel);
    json_t *b = json_pack("{s:{s:s, s:s, s:s, s:i, s:o, s:s}}", "maf:keyReg", "MAF-FQDN", maf_fqdn(r->c),
                          "adminFQDN", r->c->admin_fqdn ? r->c->admin_fqdn : maf_fqdn(r->c), "expirationTime",
                          r->expiry, "SUID", r->suid, "targetIDs", cli_split_ids(r->c->target, r->c->ntarget),
                          "relativeKeyID", r->rel);
    char *text = json_dumps(b, JSON_COMPACT);
    snprintf(r->body, sizeof r->body, "%s", text ? text : "");
    free(text);
    json_decref(b);
    r->exported = true;
}

/* MAF handshake + Key Registration: Kc (hex) into kc_hex and the Key
 * Identifier into kid. 0, or the exit status after a message. */
static int key_add(struct cli *c, char *kid, size_t kid_cap, char kc_hex[2 * ENROL_KEY_LEN + 1])
{
    if (!c->ntarget) {
        fprintf(stderr, "m2m maf: --target ID names who may retrieve the key (e.g. /id-in)\n");
        return 2;
    }
    struct key_reg r = { .c = c, .suid = c->suid ? atoi(c->suid) : 32 };
    if (expiry(c, "PT1H", r.expiry)) return 2;
    struct cli step = *c;
    step.o.url = maf_url(c);
    step.o.export_label = MAF_EXPORT_LABEL;
    step.o.on_export = on_export;
    step.o.export_data = &r;
    json_t *out;
    int rsc, rc = cli_call(&step, CLIENT_CREATE, "mafKeyReg", MMAF_TY_KEY_REG, r.body, NULL, &out, &rsc);
    if (rc || !rsc_is_success(rsc) || !r.exported) {
        explicit_bzero(r.kc, sizeof r.kc);
        if (rc) return rc;
        if (!rsc_is_success(rsc)) return refused("Key Registration", rsc, out);
        fprintf(stderr, "m2m maf: the session exported no keying material (a PSK handshake is needed)\n");
        json_decref(out);
        return 1;
    }
    const char *got = json_string_value(json_object_get(json_object_get(out, "maf:keyReg"), "RelativeKeyID"));
    if (!got || strcasecmp(got, r.rel)) {
        fprintf(stderr, "m2m maf: the MAF's RelativeKeyID %s is not this session's KcID %s\n", got ? got : "(none)", r.rel);
        json_decref(out);
        explicit_bzero(r.kc, sizeof r.kc);
        return 1;
    }
    snprintf(kid, kid_cap, "%s@%s", r.rel, maf_fqdn(c));
    hex_encode(r.kc, sizeof r.kc, kc_hex);
    explicit_bzero(r.kc, sizeof r.kc);
    printf("key registered at the MAF: Key Identifier %s, SUID %d, for %s, until %s\n", kid, r.suid,
           c->target[0], json_string_value(json_object_get(json_object_get(out, "maf:keyReg"), "expirationTime")));
    json_decref(out);
    return 0;
}

static bool esdata_suid(int suid) { return suid == 34 || suid == 35; }

/* Kc into an owner-only file: hex for a PSK (SAEF) or ESPrim key; for an
 * ESData key (SUID 34/35) an oct JWK whose kid is the Key Identifier, so
 * --encrypt-for/--sign name it in the JOSE header and the target knows
 * which key to retrieve. */
static int write_key(const char *path, const char *kid, int suid, const char *hex)
{
    char text[512], k64[64];
    uint8_t kc[ENROL_KEY_LEN];
    if (esdata_suid(suid) && hex_decode(hex, kc, sizeof kc) == sizeof kc) {
        b64url_encode(kc, sizeof kc, k64);
        snprintf(text, sizeof text, "{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"%s\"}\n", kid, k64);
    } else {
        snprintf(text, sizeof text, "%s\n", hex);
    }
    explicit_bzero(kc, sizeof kc);
    explicit_bzero(k64, sizeof k64);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    explicit_bzero(text, sizeof text);
    if (fd >= 0 && close(fd)) ok = false;
    if (!ok) fprintf(stderr, "m2m maf: cannot write %s: %s\n", path, strerror(errno));
    return ok ? 0 : 2;
}

static void how_to_use(int suid, const char *kid, const char *file)
{
    if (esdata_suid(suid))
        printf("ESData: %s %s (kid %s)\n", suid == 34 ? "--encrypt-for / --decrypt" : "--sign / --verify", file, kid);
    else if (suid == 33)
        printf("ESPrim: --esprim %s --esprim-key-file %s\n", kid, file);
    else
        printf("connect with --psk-id %s --psk-key-file %s\n", kid, file);
}

/* Key Retrieval by a target: m2m maf key get <RelativeKeyID or Key Identifier> [--file F]. */
static int key_get(struct cli *c, const char *which)
{
    char target[128];
    snprintf(target, sizeof target, "mafKeyReg/%.*s", (int)strcspn(which, "@") > 64 ? 64 : (int)strcspn(which, "@"),
             which);
    json_t *out;
    int rsc, rc = cli_call(c, CLIENT_RETRIEVE, target, 0, NULL, NULL, &out, &rsc);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) return refused("Key Retrieval", rsc, out);
    json_t *k = json_object_get(out, "maf:keyReg");
    const char *hex = json_string_value(json_object_get(k, "Key Value"));
    const char *kid = json_string_value(json_object_get(k, "keyIdentifier"));
    int suid = (int)json_integer_value(json_object_get(k, "SUID"));
    if (!hex || !kid || strlen(hex) != 2 * ENROL_KEY_LEN) {
        fprintf(stderr, "m2m maf: the MAF gave no Key Value: this client is not among the key's targets\n");
        json_decref(out);
        return 1;
    }
    const char *file = c->file ? c->file : "maf.key";
    rc = write_key(file, kid, suid, hex);
    if (!rc) {
        printf("retrieved %s (SUID %d) of %s, until %s, into %s (mode 600)\n", kid, suid,
               json_string_value(json_object_get(k, "SourceMAFClientID")),
               json_string_value(json_object_get(k, "expirationTime")), file);
        how_to_use(suid, kid, file);
    }
    json_decref(out);
    return rc;
}

static int client_register(struct cli *c)
{
    char et[TS_LEN];
    if (expiry(c, "P7D", et)) return 2;
    json_t *b = json_pack("{s:{s:s, s:s, s:s}}", "maf:clientReg", "MAF-FQDN", maf_fqdn(c), "adminFQDN",
                          c->admin_fqdn ? c->admin_fqdn : maf_fqdn(c), "expirationTime", et);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *out;
    int rsc, rc = cli_call(c, CLIENT_CREATE, "mafClientReg", MMAF_TY_CLIENT_REG, body, NULL, &out, &rsc);
    free(body);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) return refused("MAF Client Registration", rsc, out);
    json_t *reg = json_object_get(out, "maf:clientReg");
    printf("registered at the MAF as %s: mafClientRegID %s, until %s\n",
           json_string_value(json_object_get(reg, "MAFClientID")), json_string_value(json_object_get(reg, "mafClientRegID")),
           json_string_value(json_object_get(reg, "expirationTime")));
    json_decref(out);
    return 0;
}

int maf_main(struct cli *c)
{
    const char *cmd = c->npos > 1 ? c->pos[1] : "", *sub = c->npos > 2 ? c->pos[2] : "";
    c->o.url = maf_url(c);
    if (!strcmp(cmd, "register")) return client_register(c);
    if (!strcmp(cmd, "key") && !strcmp(sub, "add")) {
        char kid[MMAF_RELKEYID_LEN + 160], hex[2 * ENROL_KEY_LEN + 1];
        int rc = key_add(c, kid, sizeof kid, hex);
        if (rc) return rc;
        const char *file = c->file ? c->file : "maf.key";
        int suid = c->suid ? atoi(c->suid) : 32;
        rc = write_key(file, kid, suid, hex);
        explicit_bzero(hex, sizeof hex);
        if (!rc) how_to_use(suid, kid, file);
        return rc;
    }
    if (!strcmp(cmd, "key") && !strcmp(sub, "get") && c->npos > 3) return key_get(c, c->pos[3]);
    bool list = !strcmp(cmd, "key") && !strcmp(sub, "list"), revoke = !strcmp(cmd, "key") && !strcmp(sub, "revoke");
    if (!list && !(revoke && c->npos > 3)) {
        fprintf(stderr, "m2m maf: register | key add --target ID [--suid 32] | key get <RelativeKeyID> | key list | "
                "key revoke <RelativeKeyID>\n");
        return 2;
    }
    char target[128];
    snprintf(target, sizeof target, "mafKeyReg%s%.*s", list ? "" : "/", list ? 0 : 64, list ? "" : c->pos[3]);
    json_t *out;
    int rsc, rc = cli_call(c, list ? CLIENT_RETRIEVE : CLIENT_DELETE, target, 0, NULL, NULL, &out, &rsc);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) return refused(list ? "key list" : "key revoke", rsc, out);
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(out, "maf:keyRegs"), i, k)
        printf("%s SUID %lld for %s until %s\n", json_string_value(json_object_get(k, "keyIdentifier")),
               (long long)json_integer_value(json_object_get(k, "SUID")),
               json_string_value(json_array_get(json_object_get(k, "targetIDs"), 0)),
               json_string_value(json_object_get(k, "expirationTime")));
    if (list && !json_array_size(json_object_get(out, "maf:keyRegs"))) printf("no keys registered\n");
    if (revoke) printf("de-registered %s: no target can retrieve it any more\n", c->pos[3]);
    json_decref(out);
    return 0;
}

int maf_connect(struct cli *c)
{
    static char kid[MMAF_RELKEYID_LEN + 160], hex[2 * ENROL_KEY_LEN + 1];
    struct cli step = *c;
    int rc = key_add(&step, kid, sizeof kid, hex);
    if (rc) return rc;
    c->o.psk_identity = kid;
    c->o.psk_key = hex;
    return 0;
}
