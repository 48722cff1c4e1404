#include "procedures.h"

#include "mmef.h"
#include "records.h"
#include "cse/base/clock.h"
#include "cse/base/log.h"
#include "cse/core/cse.h"
#include "cse/core/rsc.h"
#include "security/acl.h"
#include "security/audit.h"
#include "security/bootstrap.h"
#include "security/enrol_keys.h"
#include "security/hex.h"
#include "security/mm_elements.h"
#include "security/mm_service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

static struct mef_service svc;

void mef_service_set(const struct mef_service *s) { svc = *s; }
const struct mef_service *mef_service(void) { return &svc; }

#define refuse(cse, req, rsp, rsc, ...) mm_refuse(cse, "mef", req, rsp, rsc, __VA_ARGS__)
#define granted(cse, req, what) mm_granted(cse, "mef", req, what)

/* The bootstrap credential (KpmID) of the MEF handshake, or NULL. */
#define kpm_of(req) mm_psk_of(req)

static bool is_admin(struct cse *cse, const struct m2m_request *req)
{
    struct ident_home home = cse_home(cse);
    struct ident_forms from;
    return req->fr && ident_forms(&home, req->fr, &from) && ident_is(&home, cse->cfg.admin, &from);
}

static int reply(struct m2m_response *rsp, int rsc, json_t *pc)
{
    rsp->rsc = rsc;
    rsp->pc = pc;
    return pc ? 0 : m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot write the answer");
}

/* A live enrolment of the client's own bootstrap credential (or any, for the admin). */
static int own_enrolment(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                         const char *key, bool with_key, struct mef_enrolment *e)
{
    const char *kpm = kpm_of(req);
    bool admin = is_admin(cse, req);
    if (!kpm && !admin)
        return refuse(cse, req, rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                      "MEF procedures need the MEF handshake: (D)TLS with the bootstrap PSK (KpmID)");
    int rc = mef_get_enrolment(svc.records, key ? key : kpm, with_key, e);
    if (rc < 0) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the MEF's records are unavailable");
    if (rc || (!admin && strcmp(e->kpm_id, kpm)))
        return refuse(cse, req, rsp, RSC_NOT_FOUND, "no enrolment '%s' of this client", key ? key : kpm);
    if (e->revoked) return refuse(cse, req, rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "enrolment %s is revoked", e->keid);
    if (e->expires_us <= clock_now_us())
        return refuse(cse, req, rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "enrolment %s has expired: enrol again", e->keid);
    return 0;
}

/* Client Registration: the enrolment itself. The session's exported
 * material (named by relativeKeID) becomes Ke and KeID. */
static int client_register(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    const char *kpm = kpm_of(req);
    if (!kpm)
        return refuse(cse, req, rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                      "Client Registration needs the MEF handshake: (D)TLS with the bootstrap PSK (KpmID)");
    struct mmef_client_reg in;
    char err[200];
    if (mmef_parse_client_reg(req->pc, false, &in, err, sizeof err))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "%s", err);
    if (strcmp(in.mef_fqdn, svc.fqdn))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "MEF-FQDN '%s' is not this MEF (%s)", in.mef_fqdn, svc.fqdn);
    int64_t now = clock_now_us();
    if (in.et_us <= now) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "expirationTime has passed");
    uint8_t km[BOOTSTRAP_LEN];
    if (!bootstrap_take(req->sec.credential_id, in.relative_keid, km))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST,
                      "relativeKeID names no fresh MEF handshake of %s (replayed, older than %d s, or another "
                      "session's)", kpm, BOOTSTRAP_TTL_S);
    struct mef_enrolment e = { 0 };
    uint8_t relkeid[ENROL_RELKEID_LEN];
    enrol_split_export(km, relkeid, e.ke);
    explicit_bzero(km, sizeof km);
    uint8_t rnd[8];
    if (enrol_keid(relkeid, svc.fqdn, e.keid, sizeof e.keid) || getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
        explicit_bzero(&e, sizeof e);
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot name the enrolment");
    }
    char rhex[17];
    hex_encode(rnd, sizeof rnd, rhex);
    snprintf(e.reg_id, sizeof e.reg_id, "mcr-%s", rhex);
    snprintf(e.kpm_id, sizeof e.kpm_id, "%s", kpm);
    snprintf(e.enrolee_id, sizeof e.enrolee_id, "%s", req->fr);
    snprintf(e.admin_fqdn, sizeof e.admin_fqdn, "%s", in.admin_fqdn);
    mm_labels_text(in.labels, e.labels, sizeof e.labels);
    e.created_us = now;
    e.expires_us = in.et_us < now + svc.max_enrolment_us ? in.et_us : now + svc.max_enrolment_us;
    int rc = mef_put_enrolment(svc.records, &e);
    explicit_bzero(e.ke, sizeof e.ke);
    if (rc) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot store the enrolment");
    log_info("mef: %s enrolled as %s (bootstrap credential %s)", e.enrolee_id, e.keid, kpm);
    granted(cse, req, e.keid);
    char loc[80];
    snprintf(loc, sizeof loc, "mefClientReg/%s", e.reg_id);
    rsp->location = strdup(loc);
    return reply(rsp, RSC_CREATED, mmef_client_reg_json(&e, svc.fqdn));
}

static int client_reg_op(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp, const char *id)
{
    struct mef_enrolment e;
    int rc = own_enrolment(cse, req, rsp, id, false, &e);
    if (rc) return rc;
    if (req->op == OP_RETRIEVE) return reply(rsp, RSC_OK, mmef_client_reg_json(&e, svc.fqdn));
    if (req->op == OP_DELETE) {
        if (mef_delete_enrolment(svc.records, e.keid) < 0)
            return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot remove the enrolment");
        log_info("mef: %s de-registered (%s)", e.enrolee_id, e.keid);
        granted(cse, req, e.keid);
        rsp->rsc = RSC_DELETED;
        return 0;
    }
    if (req->op != OP_UPDATE) return refuse(cse, req, rsp, RSC_OPERATION_NOT_ALLOWED, "not an Mmef operation");
    struct mmef_client_reg in;
    char err[200];
    if (mmef_parse_client_reg(req->pc, true, &in, err, sizeof err))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "%s", err);
    int64_t now = clock_now_us();
    json_t *sent = json_object();
    if (in.has_et) {
        if (in.et_us <= now) { json_decref(sent); return refuse(cse, req, rsp, RSC_BAD_REQUEST, "expirationTime has passed"); }
        /* Never beyond what a fresh enrolment would get. */
        e.expires_us = in.et_us < e.created_us + svc.max_enrolment_us ? in.et_us : e.created_us + svc.max_enrolment_us;
    }
    if (in.has_labels) mm_labels_text(in.labels, e.labels, sizeof e.labels);
    if (mef_update_enrolment(svc.records, &e)) {
        json_decref(sent);
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot update the enrolment");
    }
    json_t *all = mmef_client_reg_json(&e, svc.fqdn), *body = json_object_get(all, "mef:clientReg");
    if (in.has_et) json_object_set(sent, "expirationTime", json_object_get(body, "expirationTime"));
    if (in.has_labels) json_object_set(sent, "labels", json_object_get(body, "labels"));
    json_decref(all);
    granted(cse, req, e.keid);
    return reply(rsp, RSC_UPDATED, json_pack("{s:o}", "mef:clientReg", sent));
}

static int key_register(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    struct mef_enrolment e;
    int rc = own_enrolment(cse, req, rsp, NULL, false, &e);
    if (rc) return rc;
    struct mmef_key_reg in;
    char err[200];
    if (mmef_parse_key_reg(req->pc, &in, err, sizeof err)) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "%s", err);
    if (strcmp(in.mef_fqdn, svc.fqdn))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "MEF-FQDN '%s' is not this MEF (%s)", in.mef_fqdn, svc.fqdn);
    struct mef_keyreg k = { .suid = in.suid };
    if (!mm_absolute_id(cse, in.target, k.target, sizeof k.target))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "targetIDs: '%s' is not a CSE-ID or AE-ID", in.target);
    if (in.et_us <= clock_now_us()) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "expirationTime has passed");
    /* A key derived from Ke never outlives Ke (TS-0003 10.7). */
    k.expires_us = in.et_us < e.expires_us ? in.et_us : e.expires_us;
    snprintf(k.keid, sizeof k.keid, "%s", e.keid);
    if (mef_put_keyreg(svc.records, &k)) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot store the key registration");
    log_info("mef: %s may fetch the SUID %d key of %s", k.target, k.suid, e.keid);
    granted(cse, req, e.keid);
    char loc[ENROL_KEID_MAX + 32];
    snprintf(loc, sizeof loc, "mefKeyReg/%.*s/%d", (int)strcspn(e.keid, "@"), e.keid, k.suid);
    rsp->location = strdup(loc);
    return reply(rsp, RSC_CREATED, mmef_key_reg_json(&k, &e));
}

static int key_deregister(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                          const struct mmef_path *p)
{
    char keid[ENROL_KEID_MAX + 8];
    snprintf(keid, sizeof keid, "%s@%s", p->id, svc.fqdn);
    struct mef_enrolment e;
    int rc = own_enrolment(cse, req, rsp, keid, false, &e);
    if (rc) return rc;
    rc = mef_delete_keyregs(svc.records, e.keid, p->suid);
    if (rc < 0) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot remove the key registration");
    if (rc) return refuse(cse, req, rsp, RSC_NOT_FOUND, "no key registration for SUID %d of %s", p->suid, e.keid);
    granted(cse, req, e.keid);
    rsp->rsc = RSC_DELETED;
    return 0;
}

/* RETRIEVE /fetchCredentials/<KeID>/<SUID> by an enrolment target (8.3.2.1). */
static int fetch_credentials(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp,
                             const struct mmef_path *p)
{
    if (!req->sec.authenticated)
        return refuse(cse, req, rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                      "a target fetches keys over an authenticated (D)TLS session only");
    char target[256];
    if (!mm_absolute_id(cse, req->fr, target, sizeof target))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "the originator is not a CSE-ID or AE-ID");
    struct mef_enrolment e;
    int rc = mef_get_enrolment(svc.records, p->id, true, &e);
    if (rc < 0) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the MEF's records are unavailable");
    if (rc || strcasecmp(e.keid, p->id)) return refuse(cse, req, rsp, RSC_NOT_FOUND, "unknown KeID '%s'", p->id);
    struct mef_keyreg k;
    int64_t now = clock_now_us();
    const char *why = e.revoked ? "the enrolment is revoked"
                    : e.expires_us <= now ? "the enrolment has expired"
                    : mef_get_keyreg(svc.records, e.keid, p->suid, target, &k) ? "no key registration names this target for this SUID"
                    : k.expires_us <= now ? "the key registration has expired" : NULL;
    uint8_t key[ENROL_KEY_LEN];
    if (!why && enrol_derive_for_suid(e.ke, p->suid, target, key)) why = "the SUID names no key the MEF derives";
    explicit_bzero(e.ke, sizeof e.ke);
    if (why) return refuse(cse, req, rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "%s: %s", e.keid, why);
    log_info("mef: %s fetched the SUID %d key of %s (%s)", target, p->suid, e.keid, e.enrolee_id);
    granted(cse, req, e.keid);
    json_t *pc = mmef_fetch_json(key, sizeof key, e.enrolee_id, k.expires_us);
    explicit_bzero(key, sizeof key);
    return reply(rsp, RSC_OK, pc);
}

static int list_keyreg(void *arg, const struct mef_keyreg *k)
{
    json_array_append_new(arg, mmef_keyreg_entry(k));
    return 0;
}

static int list_enrolment(void *arg, const struct mef_enrolment *e)
{
    json_t *regs = json_array();
    mef_each_keyreg(svc.records, e->keid, list_keyreg, regs);
    json_array_append_new(arg, mmef_enrolment_json(e, regs));
    return 0;
}

/* Operators: the inventory, and revocation. */
static int enrolments(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp, const char *id)
{
    if (!is_admin(cse, req))
        return refuse(cse, req, rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "the enrolment inventory is the admin's");
    if (!*id && req->op == OP_RETRIEVE) {
        json_t *all = json_array();
        if (mef_each_enrolment(svc.records, list_enrolment, all)) {
            json_decref(all);
            return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the MEF's records are unavailable");
        }
        return reply(rsp, RSC_OK, json_pack("{s:o}", "mef:enrolments", all));
    }
    struct mef_enrolment e;
    int rc = *id ? mef_get_enrolment(svc.records, id, false, &e) : 1;
    if (rc < 0) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the MEF's records are unavailable");
    if (rc) return refuse(cse, req, rsp, RSC_NOT_FOUND, "no enrolment '%s'", id);
    if (req->op == OP_RETRIEVE) {
        json_t *one = json_array();
        list_enrolment(one, &e);
        json_t *pc = json_pack("{s:O}", "mef:enrolment", json_array_get(one, 0));
        json_decref(one);
        return reply(rsp, RSC_OK, pc);
    }
    if (req->op != OP_DELETE) return refuse(cse, req, rsp, RSC_OPERATION_NOT_ALLOWED, "RETRIEVE or DELETE (revoke)");
    e.revoked = true;
    if (mef_update_enrolment(svc.records, &e) || mef_revoke_certs(svc.records, e.keid))
        return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot revoke the enrolment");
    mef_publish_crl(cse);   /* its certificates too */
    log_info("mef: enrolment %s of %s revoked", e.keid, e.enrolee_id);
    granted(cse, req, "revoked");
    rsp->rsc = RSC_DELETED;
    return 0;
}

int mef_request(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    struct mmef_path p = mmef_parse_path(req->to, cse->cfg.cse_name);
    switch (p.target) {
    case MMEF_NONE:
        return -1;
    case MMEF_BAD:
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "malformed Mmef target '%s' (see mef/mmef.h)", req->to);
    case MMEF_CLIENT_REG:
        if (!p.id[0] && req->op == OP_CREATE) return client_register(cse, req, rsp);
        if (p.id[0] && req->op != OP_CREATE) return client_reg_op(cse, req, rsp, p.id);
        break;
    case MMEF_KEY_REG:
        if (!p.id[0] && req->op == OP_CREATE) return key_register(cse, req, rsp);
        if (p.id[0] && req->op == OP_DELETE) return key_deregister(cse, req, rsp, &p);
        break;
    case MMEF_FETCH:
        if (req->op == OP_RETRIEVE) return fetch_credentials(cse, req, rsp, &p);
        break;
    case MMEF_ENROLMENTS:
        return enrolments(cse, req, rsp, p.id);
    }
    return refuse(cse, req, rsp, RSC_OPERATION_NOT_ALLOWED, "%s is not an Mmef operation on '%s'",
                  mm_op_name(req), req->to);
}
