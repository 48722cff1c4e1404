/* EST at the MEF (TS-0003 8.3.6.2, RFC 7030): /.well-known/est/cacerts,
 * /csrattrs, /simpleenroll (over the MEF handshake: TLS with the bootstrap
 * PSK, RFC 7030 3.3.3), /simplereenroll (TLS with the certificate issued
 * before). The identity put in the certificate is the Enrolee-ID of the
 * client's enrolment; the challengePassword is its KeID. */
#include "est.h"
#include "procedures.h"
#include "records.h"
#include "cse/base/clock.h"
#include "cse/base/log.h"
#include "cse/core/cse.h"
#include "cse/wire/http.h"
#include "security/acl.h"
#include "security/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char est_prefix[] = "/.well-known/est/";
static const char crl_path[] = "/mef/crl.pem";

struct serials {
    char **list;
    int n, cap;
};

static int collect(void *arg, const char *serial)
{
    struct serials *s = arg;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **l = realloc(s->list, (size_t)cap * sizeof *l);
        if (!l) return -1;
        s->list = l;
        s->cap = cap;
    }
    return (s->list[s->n] = strdup(serial)) ? (s->n++, 0) : -1;
}

int mef_publish_crl(struct cse *cse)
{
    char ca_cert[600], ca_key[600], file[600], err[300];
    snprintf(ca_cert, sizeof ca_cert, "%s/tls/ca.pem", cse->cfg.data_dir);
    snprintf(ca_key, sizeof ca_key, "%s/tls/ca.key", cse->cfg.data_dir);
    snprintf(file, sizeof file, "%s/tls/crl.pem", cse->cfg.data_dir);
    if (access(ca_key, R_OK)) return 0;   /* no CA of its own (tls-cert configured): no EST, no CRL */
    struct serials s = { 0 };
    int rc = mef_each_revoked_cert(mef_service()->records, collect, &s);
    if (!rc) rc = est_write_crl(ca_cert, ca_key, (const char *const *)s.list, s.n, file, err, sizeof err);
    if (rc) log_error("mef: %s", rc < 0 && err[0] ? err : "cannot publish the CRL");
    else log_info("mef: CRL %s lists %d revoked certificate%s", file, s.n, s.n == 1 ? "" : "s");
    for (int i = 0; i < s.n; i++) free(s.list[i]);
    free(s.list);
    return rc;
}

static bool answer(struct http_response *out, int status, const char *ctype, char *body)
{
    out->status = status;
    out->content_type = ctype;
    out->body = body;
    out->body_len = body ? strlen(body) : 0;
    return true;
}

static bool refuse(struct cse *cse, const struct http_request *h, struct http_response *out, int status,
                   const char *who, const char *why)
{
    audit_decision(acl_audit_log(cse), who, h->target, "est", "deny", "mef", why);
    log_info("mef: EST %s refused for %s: %s", h->target, who ? who : "-", why);
    char *body = malloc(strlen(why) + 2);
    if (body) sprintf(body, "%s\n", why);
    return answer(out, status, "text/plain", body);
}

static bool base64_answer(struct http_response *out, const char *ctype, char *b64)
{
    http_add_header(out, "Content-Transfer-Encoding", "base64");
    return answer(out, 200, ctype, b64);
}

/* The enrolment the TLS session speaks for: by the bootstrap PSK for an
 * initial enrolment, by the certificate (its URI SAN, the Enrolee-ID) for a
 * re-enrolment. */
static const char *enrolment_key(const struct http_request *h, bool reenroll)
{
    const char *cred = h->credential_id;
    if (!cred) return NULL;
    if (!reenroll && !strncmp(cred, "12-", 3)) return cred + 3;
    if (reenroll && !strncmp(cred, "33-", 3)) return cred + 3;
    return NULL;
}

static bool enroll(struct cse *cse, const struct http_request *h, struct http_response *out, bool reenroll)
{
    const struct mef_service *svc = mef_service();
    const char *key = enrolment_key(h, reenroll);
    if (!key)
        return refuse(cse, h, out, 401, NULL, reenroll
            ? "simplereenroll needs TLS with the certificate the MEF issued"
            : "simpleenroll needs the MEF handshake: TLS with the bootstrap PSK (KpmID)");
    struct mef_enrolment e;
    int rc = mef_get_enrolment(svc->records, key, false, &e);
    if (rc < 0) return refuse(cse, h, out, 500, key, "the MEF's records are unavailable");
    if (rc || (reenroll ? strcmp(e.enrolee_id, key) : strcmp(e.kpm_id, key)))
        return refuse(cse, h, out, 403, key, "no enrolment of this client: enrol first (m2m enrol)");
    if (e.revoked) return refuse(cse, h, out, 403, key, "the enrolment is revoked");
    if (e.expires_us <= clock_now_us()) return refuse(cse, h, out, 403, key, "the enrolment has expired");
    char ca_cert[600], ca_key[600], serial[80], err[200];
    snprintf(ca_cert, sizeof ca_cert, "%s/tls/ca.pem", cse->cfg.data_dir);
    snprintf(ca_key, sizeof ca_key, "%s/tls/ca.key", cse->cfg.data_dir);
    struct est_issue in = { e.enrolee_id, e.keid, ca_cert, ca_key, e.expires_us / 1000000 };
    char *p7 = est_enroll(h->body ? h->body : "", h->body_len, &in, serial, sizeof serial, err, sizeof err);
    if (!p7) return refuse(cse, h, out, 400, key, err);
    if (mef_put_cert(svc->records, serial, e.keid)) log_error("mef: certificate %s not recorded", serial);
    mef_publish_crl(cse);   /* the first issue makes the (empty) CRL exist for the CSEs */
    audit_decision(acl_audit_log(cse), key, h->target, "est", "grant", "mef", serial);
    log_info("mef: EST issued certificate %s for %s (%s)", serial, e.enrolee_id, e.keid);
    return base64_answer(out, "application/pkcs7-mime; smime-type=certs-only", p7);
}

/* The CRL is public: any client, HTTP or HTTPS. */
static bool serve_crl(struct cse *cse, const struct http_request *h, struct http_response *out)
{
    char file[600];
    snprintf(file, sizeof file, "%s/tls/crl.pem", cse->cfg.data_dir);
    FILE *f = fopen(file, "r");
    char *body = f ? calloc(1, 1 << 16) : NULL;
    size_t n = body ? fread(body, 1, (1 << 16) - 1, f) : 0;
    if (f) fclose(f);
    if (!n) {
        free(body);
        return refuse(cse, h, out, 404, NULL, "no CRL yet: the MEF has issued no certificate");
    }
    return answer(out, 200, "application/x-pem-file", body);
}

bool mef_http(struct cse *cse, const struct http_request *h, struct http_response *out)
{
    if (!strcmp(h->method, "GET") && !strcmp(h->target, crl_path)) return serve_crl(cse, h, out);
    if (strncmp(h->target, est_prefix, sizeof est_prefix - 1)) return false;
    const char *op = h->target + sizeof est_prefix - 1;
    size_t n = strcspn(op, "?");
    bool get = !strcmp(h->method, "GET"), post = !strcmp(h->method, "POST");
    if (!h->secure) return refuse(cse, h, out, 403, NULL, "EST is served over HTTPS only");
    if (get && n == 7 && !strncmp(op, "cacerts", 7)) {
        char file[600], err[200];
        snprintf(file, sizeof file, "%s/tls/ca.pem", cse->cfg.data_dir);
        char *p7 = est_cacerts(file, err, sizeof err);
        return p7 ? base64_answer(out, "application/pkcs7-mime; smime-type=certs-only", p7)
                  : refuse(cse, h, out, 500, NULL, err);
    }
    if (get && n == 8 && !strncmp(op, "csrattrs", 8)) return base64_answer(out, "application/csrattrs", est_csrattrs());
    if (post && n == 12 && !strncmp(op, "simpleenroll", 12)) return enroll(cse, h, out, false);
    if (post && n == 14 && !strncmp(op, "simplereenroll", 14)) return enroll(cse, h, out, true);
    return refuse(cse, h, out, 404, NULL, "not an EST operation of this MEF (cacerts, csrattrs, simpleenroll, simplereenroll)");
}
