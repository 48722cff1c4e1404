/* m2m enrol (a device: bootstrap PSK -> enrolment at the MEF -> key
 * registration for its CSE -> Kpsa derived here -> AE registered at the
 * CSE over the new credential) and m2m mef list|show|revoke (operators).
 * The MEF's wire mapping is mef/mmef.h; the keys, security/enrol_keys.h. */
#include "m2m.h"

#include "../cse/base/clock.h"
#include "../cse/core/rsc.h"
#include "../mef/est.h"
#include "../mef/mmef.h"
#include "../security/enrol_keys.h"
#include "../security/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ENROL_RETRIES 20          /* the CSE's first handshake fails while it fetches the key */
#define ENROL_RETRY_MS 250

static const char *mef_url(const struct cli *c)
{
    const char *u = c->mef_url ? c->mef_url : getenv("M2M_MEF");
    return u && *u ? u : "http://127.0.0.1:8381";
}

static const char *mef_fqdn(const struct cli *c)
{
    return c->mef_fqdn ? c->mef_fqdn : "mef.ironbark.local";
}

/* The Client Registration body, written once the handshake's material is known. */
struct registration {
    const struct cli *c;
    char expiry[TS_LEN];
    char body[1024];
    uint8_t ke[ENROL_KEY_LEN];
    char keid[ENROL_KEID_MAX];
    bool exported;
};

static void on_export(void *data, const unsigned char *km, size_t n)
{
    struct registration *r = data;
    uint8_t relkeid[ENROL_RELKEID_LEN];
    if (n != ENROL_EXPORT_LEN) return;
    enrol_split_export(km, relkeid, r->ke);
    char hex[2 * ENROL_RELKEID_LEN + 1];
    hex_encode(relkeid, sizeof relkeid, hex);
    enrol_keid(relkeid, mef_fqdn(r->c), r->keid, sizeof r->keid);
    json_t *b = json_pack("{s:{s:s, s:s, s:s, s:s}}", "mef:clientReg", "MEF-FQDN", mef_fqdn(r->c),
                          "adminFQDN", r->c->admin_fqdn ? r->c->admin_fqdn : mef_fqdn(r->c),
                          "expirationTime", r->expiry, "relativeKeID", hex);
    char *text = json_dumps(b, JSON_COMPACT);
    snprintf(r->body, sizeof r->body, "%s", text ? text : "");
    free(text);
    json_decref(b);
    r->exported = true;
}

static int lifetime_us(const struct cli *c, int64_t *us)
{
    if (!c->lifetime) { *us = 30LL * 86400 * 1000000; return 0; }
    if (duration_parse(c->lifetime, us) && *us > 0) return 0;
    fprintf(stderr, "m2m: --lifetime needs an ISO 8601 duration (P30D, PT12H)\n");
    return -1;
}

/* A oneM2M error answer, said plainly; returns the exit status. */
static int failed(const char *step, int rsc, json_t *out)
{
    const char *dbg = json_string_value(json_object_get(out, "m2m:dbg"));
    fprintf(stderr, "m2m enrol: %s refused: RSC %d %s%s%s\n", step, rsc, rsc ? rsc_name(rsc) : "MISSING",
            dbg ? ": " : "", dbg ? dbg : "");
    json_decref(out);
    return 1;
}

/* The derived key, in hex, into a new owner-only file. */
static int write_key_file(const char *path, const uint8_t *key, size_t n)
{
    char hex[2 * ENROL_KEY_LEN + 2];
    hex_encode(key, n, hex);
    strcat(hex, "\n");
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, hex, strlen(hex)) == (ssize_t)strlen(hex);
    explicit_bzero(hex, sizeof hex);
    if (fd >= 0 && close(fd)) ok = false;
    if (!ok) fprintf(stderr, "m2m enrol: cannot write %s: %s\n", path, strerror(errno));
    return ok ? 0 : -1;
}

/* The AE at the CSE, over the enrolled credential; the first handshakes fail
 * while the CSE fetches the key from the MEF. */
static int register_ae(struct cli *c, const char *keid, const char *key_hex)
{
    struct client_opts o = c->o;
    o.url = c->cse_url;
    o.psk_identity = keid;
    o.psk_key = key_hex;
    o.export_label = NULL;
    const char *base = c->npos > 1 ? c->pos[1] : "cse-in";
    json_t *ae = json_pack("{s:{s:s, s:b, s:[s]}}", "m2m:ae", "api", c->api ? c->api : "Nenrolled", "rr", 0,
                           "srv", "3");
    if (c->rn) json_object_set_new(json_object_get(ae, "m2m:ae"), "rn", json_string(c->rn));
    char *body = json_dumps(ae, JSON_COMPACT);
    json_decref(ae);
    struct client_request rq = { CLIENT_CREATE, base, 2, body, NULL, NULL, NULL };
    struct client_response rsp;
    char err[512];
    int tries = 0, rc = -1;
    while (tries++ < ENROL_RETRIES && (rc = client_request(&o, &rq, &rsp, err, sizeof err)))
        nanosleep(&(struct timespec){ 0, ENROL_RETRY_MS * 1000000L }, NULL);
    free(body);
    if (rc) {
        fprintf(stderr, "m2m enrol: the CSE at %s did not accept %s after %d handshakes: %s\n", o.url, keid,
                ENROL_RETRIES, err);
        return 2;
    }
    json_t *out = rsp.body_len ? json_loadb(rsp.body, rsp.body_len, 0, NULL) : NULL;
    int rsc = rsp.rsc;
    client_response_clear(&rsp);
    if (!rsc_is_success(rsc)) return failed("AE registration at the CSE", rsc, out);
    const char *aei = json_string_value(json_object_get(json_object_get(out, "m2m:ae"), "aei"));
    printf("registered AE %s at %s over %s (after %d handshake%s)\n", aei ? aei : "?", o.url, keid, tries,
           tries > 1 ? "s" : "");
    json_decref(out);
    return 0;
}

/* EST (RFC 7030) over the MEF handshake: a new P-256 key and CSR (SAN =
 * the Enrolee-ID, challengePassword = the KeID) to /simpleenroll. */
static int est_enroll_step(struct cli *c, const char *mef, const char *keid)
{
    char key_file[600], err[300];
    snprintf(key_file, sizeof key_file, "%s", c->est_key ? c->est_key : "");
    if (!c->est_key) snprintf(key_file, sizeof key_file, "%s.key", c->est_cert);
    char *csr = est_make_csr(key_file, c->o.from, keid, err, sizeof err);
    if (!csr) { fprintf(stderr, "m2m enrol: %s\n", err); return 2; }
    struct client_opts o = c->o;
    o.url = mef;
    o.export_label = NULL;
    struct client_request rq = { CLIENT_CREATE, "/.well-known/est/simpleenroll", 0, csr, NULL, NULL,
                                 "application/pkcs10" };
    struct client_response rsp;
    int rc = client_request(&o, &rq, &rsp, err, sizeof err);
    free(csr);
    if (rc) { fprintf(stderr, "m2m enrol: EST: %s\n", err); return 2; }
    if (rsp.status != 200) {
        fprintf(stderr, "m2m enrol: EST simpleenroll refused: HTTP %d: %s", rsp.status, rsp.body ? rsp.body : "");
        client_response_clear(&rsp);
        return 1;
    }
    rc = est_save_certs(rsp.body, rsp.body_len, c->est_cert, err, sizeof err);
    client_response_clear(&rsp);
    if (rc) { fprintf(stderr, "m2m enrol: EST: %s\n", err); return 1; }
    printf("certificate (EST): %s, key %s (mode 600), subjectAltName URI %s\n", c->est_cert, key_file, c->o.from);
    return 0;
}

int enrol_main(struct cli *c)
{
    if (!c->o.psk_identity || !c->o.psk_key) {
        fprintf(stderr, "m2m enrol: needs the bootstrap credential: --psk-id KPMID with --psk-key-file FILE "
                "(or $M2M_PSK_KEY)\n");
        return 2;
    }
    if (!c->ntarget) {
        fprintf(stderr, "m2m enrol: --target CSE-ID names the CSE the device enrols for (e.g. /id-in)\n");
        return 2;
    }
    /* 22: Kpsa for an SAEF at the target CSE; 21: Km for the target MAF (MEF-provisioned MAF client). */
    int suid = c->suid ? atoi(c->suid) : 22;
    if (suid != 21 && suid != 22) {
        fprintf(stderr, "m2m enrol: --suid 22 (SAEF key for a CSE, the default) or 21 (Km for a MAF)\n");
        return 2;
    }
    int64_t life;
    if (lifetime_us(c, &life)) return 2;
    struct registration r = { .c = c };
    ts_format(clock_now_us() + life, r.expiry);
    r.expiry[15] = 0;

    /* 1. The MEF handshake and Client Registration, on one TLS session. */
    struct client_opts bootstrap = c->o;
    bootstrap.url = c->mef_url ? c->mef_url : "https://127.0.0.1:8382";
    bootstrap.export_label = ENROL_EXPORT_LABEL;
    bootstrap.on_export = on_export;
    bootstrap.export_data = &r;
    struct cli step = *c;
    step.o = bootstrap;
    json_t *out;
    int rsc;
    int rc = cli_call(&step, CLIENT_CREATE, "mefClientReg", MMEF_TY_CLIENT_REG, r.body, NULL, &out, &rsc);
    if (rc || !rsc_is_success(rsc)) explicit_bzero(r.ke, sizeof r.ke);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) return failed("Client Registration at the MEF", rsc, out);
    json_t *reg = json_object_get(out, "mef:clientReg");
    const char *keid = json_string_value(json_object_get(reg, "KeID"));
    if (!r.exported || !keid || strcasecmp(keid, r.keid)) {
        fprintf(stderr, "m2m enrol: the MEF's KeID %s is not the one this session exported (%s)\n",
                keid ? keid : "(none)", r.keid);
        json_decref(out);
        explicit_bzero(r.ke, sizeof r.ke);
        return 1;
    }
    printf("enrolled at %s as %s: KeID %s, MEFClientRegID %s, until %s\n", bootstrap.url, c->o.from, r.keid,
           json_string_value(json_object_get(reg, "MEFClientRegID")),
           json_string_value(json_object_get(reg, "expirationTime")));
    json_decref(out);

    /* 2. Key Registration: the target may fetch the SAEF key (or Km) of this enrolment. */
    step.o = c->o;
    step.o.url = bootstrap.url;
    json_t *kr = json_pack("{s:{s:s, s:s, s:s, s:i, s:[s]}}", "mef:keyReg", "MEF-FQDN", mef_fqdn(c), "adminFQDN",
                           c->admin_fqdn ? c->admin_fqdn : mef_fqdn(c), "expirationTime", r.expiry, "SUID", suid,
                           "targetIDs", c->target[0]);
    char *krb = json_dumps(kr, JSON_COMPACT);
    json_decref(kr);
    rc = cli_call(&step, CLIENT_CREATE, "mefKeyReg", MMEF_TY_KEY_REG, krb, NULL, &out, &rsc);
    free(krb);
    if (rc) { explicit_bzero(r.ke, sizeof r.ke); return rc; }
    if (!rsc_is_success(rsc)) { explicit_bzero(r.ke, sizeof r.ke); return failed("Key Registration at the MEF", rsc, out); }
    const char *target = json_string_value(json_array_get(json_object_get(json_object_get(out, "mef:keyReg"), "targetIDs"), 0));

    /* 3. Kpsa (Km), derived here exactly as the MEF derives it for the target. */
    uint8_t kpsa[ENROL_KEY_LEN];
    rc = target ? enrol_derive_for_suid(r.ke, suid, target, kpsa) : -1;
    explicit_bzero(r.ke, sizeof r.ke);
    if (rc) {
        json_decref(out);
        fprintf(stderr, "m2m enrol: cannot derive the key\n");
        return 1;
    }
    const char *what = suid == 21 ? "Km (MAF client key)" : "SAEF key";
    printf("key registered: %s may fetch the %s (SUID %d) of %s\n", target, what, suid, r.keid);
    json_decref(out);
    const char *key_file = c->file ? c->file : "enrolment.key";
    char key_hex[2 * ENROL_KEY_LEN + 1];
    hex_encode(kpsa, sizeof kpsa, key_hex);
    rc = write_key_file(key_file, kpsa, sizeof kpsa);
    explicit_bzero(kpsa, sizeof kpsa);
    if (rc) { explicit_bzero(key_hex, sizeof key_hex); return 2; }
    if (suid == 21)
        printf("MAF credential: KmID %s, key (Km) in %s (mode 600); m2m --maf URL --psk-id %s --psk-key-file %s\n",
               r.keid, key_file, r.keid, key_file);
    else
        printf("SAEF credential: PSK identity (KpsaID) %s, key (Kpsa) in %s (mode 600)\n", r.keid, key_file);

    /* 4. A certificate over EST, when asked for. */
    if (c->est_cert && (rc = est_enroll_step(c, bootstrap.url, r.keid))) {
        explicit_bzero(key_hex, sizeof key_hex);
        return rc;
    }

    /* 5. The AE, at the CSE, over the SAEF credential. */
    rc = c->cse_url && suid == 22 ? register_ae(c, r.keid, key_hex) : 0;
    explicit_bzero(key_hex, sizeof key_hex);
    if (!c->cse_url && suid == 22) printf("no --cse URL: register with --psk-id %s --psk-key-file %s\n", r.keid, key_file);
    return rc;
}

/* --- operators ------------------------------------------------------------- */

static void print_enrolment(const json_t *e)
{
    printf("%-45s %-10s %-24s until %s\n", json_string_value(json_object_get(e, "KeID")),
           json_string_value(json_object_get(e, "state")), json_string_value(json_object_get(e, "EnroleeID")),
           json_string_value(json_object_get(e, "expirationTime")));
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(e, "keyRegs"), i, k)
        printf("    SUID %lld for %s until %s\n", (long long)json_integer_value(json_object_get(k, "SUID")),
               json_string_value(json_object_get(k, "targetID")),
               json_string_value(json_object_get(k, "expirationTime")));
}

int mef_main(struct cli *c)
{
    const char *cmd = c->npos > 1 ? c->pos[1] : "";
    c->o.url = mef_url(c);
    char target[ENROL_KEID_MAX + 32];
    bool list = !strcmp(cmd, "list"), show = !strcmp(cmd, "show"), revoke = !strcmp(cmd, "revoke");
    if (!list && !show && !revoke) {
        fprintf(stderr, "m2m mef: list | show <KeID|KpmID|MEFClientRegID> | revoke <...>\n");
        return 2;
    }
    if (!list && c->npos < 3) { fprintf(stderr, "m2m mef %s: which enrolment?\n", cmd); return 2; }
    snprintf(target, sizeof target, "mefEnrolments%s%s", list ? "" : "/", list ? "" : c->pos[2]);
    json_t *out;
    int rsc, rc = cli_call(c, revoke ? CLIENT_DELETE : CLIENT_RETRIEVE, target, 0, NULL, NULL, &out, &rsc);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) {
        cli_print_rsc(rsc, out);
        json_decref(out);
        return 1;
    }
    if (list) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(out, "mef:enrolments"), i, e) print_enrolment(e);
        if (!json_array_size(json_object_get(out, "mef:enrolments"))) printf("no enrolments\n");
    } else if (show) {
        char *text = json_dumps(json_object_get(out, "mef:enrolment"), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text) printf("%s\n", text);
        free(text);
    } else {
        printf("revoked %s: its keys are no longer handed to any target\n", c->pos[2]);
    }
    json_decref(out);
    return 0;
}
