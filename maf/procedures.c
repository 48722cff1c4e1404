#include "procedures.h"

#include "mmaf.h"
#include "store.h"
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

#define MAX_CLIENTS 256
#define MAX_KEYS 1024

static struct {
    const char *fqdn;
    int64_t max_key_us;
    struct maf_store *store;
    struct maf_client clients[MAX_CLIENTS];
    struct maf_key keys[MAX_KEYS];
} maf;

static void load_client(void *arg, const struct maf_client *c)
{
    (void)arg;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (!maf.clients[i].reg_id[0]) { maf.clients[i] = *c; return; }
}

static void load_key(void *arg, const struct maf_key *k)
{
    (void)arg;
    for (int i = 0; i < MAX_KEYS; i++)
        if (!maf.keys[i].rel[0]) { maf.keys[i] = *k; return; }
}

int maf_service_set(const char *fqdn, int64_t max_key_us, struct maf_store *store)
{
    maf.fqdn = fqdn;
    maf.max_key_us = max_key_us;
    maf.store = store;
    return maf_store_load(store, clock_now_us(), load_client, load_key, NULL);
}

/* Every change is written before it is answered: a 5000 leaves memory as it was. */
#define STORE_FAILED(rsp) m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "the MAF cannot store the registration")

void maf_forget_all(void) { explicit_bzero(maf.clients, sizeof maf.clients); explicit_bzero(maf.keys, sizeof maf.keys); }

#define refuse(cse, req, rsp, rsc, ...) mm_refuse(cse, "maf", req, rsp, rsc, __VA_ARGS__)

static int answer(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp, int rsc, json_t *pc,
                  const char *what)
{
    mm_granted(cse, "maf", req, what);
    rsp->rsc = rsc;
    rsp->pc = pc;
    return pc || rsc == RSC_DELETED ? 0 : m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "cannot write the answer");
}

/* Who ran the MAF handshake: "12-<KmID>" (a PSK: a pre-provisioned Km, or
 * one the MEF provisioned) or "33-<URI SAN>" (a certificate; the SAEF gate
 * already held the From to that SAN). NULL without one. */
static const char *maf_credential(const struct m2m_request *req)
{
    const char *cred = req->sec.credential_id;
    bool ok = req->sec.authenticated && (!strncmp(cred, "12-", 3) || !strncmp(cred, "33-", 3));
    return ok ? cred : NULL;
}

static struct maf_client *client_of_kmid(const char *kmid)
{
    int64_t now = clock_now_us();
    for (int i = 0; kmid && i < MAX_CLIENTS; i++) {
        struct maf_client *c = &maf.clients[i];
        if (c->reg_id[0] && c->expires_us <= now) explicit_bzero(c, sizeof *c);   /* lapsed */
        if (c->reg_id[0] && !strcmp(c->kmid, kmid)) return c;
    }
    return NULL;
}

static struct maf_key *key_named(const char *rel)
{
    int64_t now = clock_now_us();
    for (int i = 0; i < MAX_KEYS; i++) {
        struct maf_key *k = &maf.keys[i];
        if (k->rel[0] && k->expires_us <= now) explicit_bzero(k, sizeof *k);      /* Kc's lifetime is over */
        if (k->rel[0] && rel && !strcasecmp(k->rel, rel)) return k;
    }
    return NULL;
}

static void drop_keys_of(const char *kmid)
{
    for (int i = 0; i < MAX_KEYS; i++)
        if (maf.keys[i].rel[0] && !strcmp(maf.keys[i].source_kmid, kmid)) explicit_bzero(&maf.keys[i], sizeof maf.keys[i]);
}

static int64_t capped(int64_t et_us, int64_t limit_us)
{
    return et_us < limit_us ? et_us : limit_us;
}

/* MAF Client Registration over the MAF handshake (Km); a new one replaces the
 * client's earlier registration. */
static int client_register(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    const char *kmid = maf_credential(req);
    if (!kmid)
        return refuse(cse, req, rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                      "MAF procedures need the MAF handshake: (D)TLS with the client's Km (KmID) or certificate");
    struct mmaf_client_reg in;
    char err[200];
    if (mmaf_parse_client_reg(req->pc, false, &in, err, sizeof err)) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "%s", err);
    if (strcmp(in.maf_fqdn, maf.fqdn))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "MAF-FQDN '%s' is not this MAF (%s)", in.maf_fqdn, maf.fqdn);
    int64_t now = clock_now_us();
    if (in.et_us <= now) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "expirationTime has passed");
    struct maf_client *c = client_of_kmid(kmid);
    for (int i = 0; !c && i < MAX_CLIENTS; i++)
        if (!maf.clients[i].reg_id[0]) c = &maf.clients[i];
    if (!c) return refuse(cse, req, rsp, RSC_NOT_ACCEPTABLE, "the MAF holds %d registrations already", MAX_CLIENTS);
    uint8_t rnd[8];
    char rhex[17];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "no randomness");
    hex_encode(rnd, sizeof rnd, rhex);
    struct maf_client nc = { 0 };
    snprintf(nc.kmid, sizeof nc.kmid, "%s", kmid);
    snprintf(nc.reg_id, sizeof nc.reg_id, "mafcr-%s", rhex);
    snprintf(nc.client_id, sizeof nc.client_id, "%s", req->fr);
    snprintf(nc.admin_fqdn, sizeof nc.admin_fqdn, "%s", in.admin_fqdn);
    mm_labels_text(in.labels, nc.labels, sizeof nc.labels);
    nc.expires_us = capped(in.et_us, now + maf.max_key_us);
    if (maf_store_put_client(maf.store, &nc)) return STORE_FAILED(rsp);
    *c = nc;
    log_info("maf: %s registered (credential %s) as %s", c->client_id, kmid, c->reg_id);
    char loc[80];
    snprintf(loc, sizeof loc, "mafClientReg/%s", c->reg_id);
    rsp->location = strdup(loc);
    return answer(cse, req, rsp, RSC_CREATED, mmaf_client_reg_json("maf:clientReg", c, maf.fqdn), c->reg_id);
}

/* The caller's own live registration, as every other procedure needs. */
static int own_client(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp, const char *reg_id,
                      struct maf_client **out)
{
    const char *kmid = maf_credential(req);
    if (!kmid)
        return refuse(cse, req, rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                      "MAF procedures need the MAF handshake: (D)TLS with the client's Km (KmID) or certificate");
    struct maf_client *c = client_of_kmid(kmid);
    if (!c || (reg_id && strcmp(c->reg_id, reg_id)))
        return refuse(cse, req, rsp, RSC_NOT_FOUND, "no MAF client registration %s of this client", reg_id ? reg_id : "");
    *out = c;
    return 0;
}

static int client_reg_op(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp, const char *id)
{
    struct maf_client *c;
    int rc = own_client(cse, req, rsp, id, &c);
    if (rc) return rc;
    if (req->op == OP_RETRIEVE)
        return answer(cse, req, rsp, RSC_OK, mmaf_client_reg_json("maf:clientCfg", c, maf.fqdn), c->reg_id);
    if (req->op == OP_DELETE) {
        if (maf_store_drop_client(maf.store, c->kmid)) return STORE_FAILED(rsp);
        log_info("maf: %s de-registered (%s); its keys go with it", c->client_id, c->reg_id);
        drop_keys_of(c->kmid);
        explicit_bzero(c, sizeof *c);
        return answer(cse, req, rsp, RSC_DELETED, NULL, id);
    }
    struct mmaf_client_reg in;
    char err[200];
    if (mmaf_parse_client_reg(req->pc, true, &in, err, sizeof err)) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "%s", err);
    int64_t now = clock_now_us();
    if (in.has_et && in.et_us <= now) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "expirationTime has passed");
    struct maf_client nc = *c;
    if (in.has_et) nc.expires_us = capped(in.et_us, now + maf.max_key_us);
    if (in.has_labels) mm_labels_text(in.labels, nc.labels, sizeof nc.labels);
    if (maf_store_put_client(maf.store, &nc)) return STORE_FAILED(rsp);
    *c = nc;
    return answer(cse, req, rsp, RSC_UPDATED, mmaf_client_reg_json("maf:clientReg", c, maf.fqdn), c->reg_id);
}

/* Key Registration: Kc and KcID are the session's "EXPORTER-oneM2M-Connection"
 * material, named by relativeKeyID and taken once (a replay finds nothing). */
static int key_register(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    struct maf_client *c;
    int rc = own_client(cse, req, rsp, NULL, &c);
    if (rc) return rc;
    struct mmaf_key_reg in;
    char err[200];
    if (mmaf_parse_key_reg(req->pc, false, &in, err, sizeof err)) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "%s", err);
    if (strcmp(in.maf_fqdn, maf.fqdn))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "MAF-FQDN '%s' is not this MAF (%s)", in.maf_fqdn, maf.fqdn);
    int64_t now = clock_now_us();
    if (in.et_us <= now) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "expirationTime has passed");
    struct maf_key k = { .suid = in.suid, .ntargets = in.ntargets };
    for (int i = 0; i < in.ntargets; i++)
        if (!mm_absolute_id(cse, in.targets[i], k.targets[i], sizeof k.targets[i]))
            return refuse(cse, req, rsp, RSC_BAD_REQUEST, "targetIDs: '%s' is not a CSE-ID or AE-ID", in.targets[i]);
    uint8_t km[BOOTSTRAP_LEN];
    if (!bootstrap_take(req->sec.credential_id, in.relative_key_id, km))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST,
                      "relativeKeyID names no fresh MAF handshake of this client (replayed, older than %d s, or "
                      "another session's)", BOOTSTRAP_TTL_S);
    uint8_t kcid[ENROL_RELKEID_LEN];
    enrol_split_export(km, kcid, k.kc);
    explicit_bzero(km, sizeof km);
    hex_encode(kcid, sizeof kcid, k.rel);
    struct maf_key *slot = key_named(k.rel);
    for (int i = 0; !slot && i < MAX_KEYS; i++)
        if (!maf.keys[i].rel[0]) slot = &maf.keys[i];
    if (!slot) {
        explicit_bzero(&k, sizeof k);
        return refuse(cse, req, rsp, RSC_NOT_ACCEPTABLE, "the MAF holds %d keys already", MAX_KEYS);
    }
    snprintf(k.source_kmid, sizeof k.source_kmid, "%s", c->kmid);
    snprintf(k.source_id, sizeof k.source_id, "%s", c->client_id);
    snprintf(k.admin_fqdn, sizeof k.admin_fqdn, "%s", in.admin_fqdn);
    mm_labels_text(in.labels, k.labels, sizeof k.labels);
    /* Kc never outlives the registration that authenticated its source. */
    k.expires_us = capped(capped(in.et_us, now + maf.max_key_us), c->expires_us);
    if (maf_store_put_key(maf.store, &k)) {
        explicit_bzero(&k, sizeof k);
        return STORE_FAILED(rsp);
    }
    *slot = k;
    explicit_bzero(&k, sizeof k);
    log_info("maf: key %s of %s for SUID %d, first target %s", slot->rel, slot->source_id, slot->suid, slot->targets[0]);
    char loc[80];
    snprintf(loc, sizeof loc, "mafKeyReg/%s", slot->rel);
    rsp->location = strdup(loc);
    return answer(cse, req, rsp, RSC_CREATED, mmaf_key_json(slot, maf.fqdn, false), slot->rel);
}

static bool is_target(const struct maf_key *k, const char *abs)
{
    for (int i = 0; i < k->ntargets; i++)
        if (!strcmp(k->targets[i], abs)) return true;
    return false;
}

/* Key Retrieval by a listed target (with the Key Value), or the source's own
 * view (without); anyone else learns nothing, not even that the key exists. */
static int key_op(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp, const char *rel)
{
    const char *kmid = maf_credential(req);
    char who[256];
    if (!kmid)
        return refuse(cse, req, rsp, RSC_SECURITY_ASSOCIATION_REQUIRED,
                      "MAF procedures need the MAF handshake: (D)TLS with the client's Km (KmID) or certificate");
    if (!mm_absolute_id(cse, req->fr, who, sizeof who))
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "the originator is not a CSE-ID or AE-ID");
    struct maf_key *k = key_named(rel);
    bool source = k && !strcmp(k->source_kmid, kmid);
    /* A target needs no registration of its own: its Km in the MAF's store
     * and the From it is bound to (4106 otherwise) identify it. */
    bool target = k && is_target(k, who);
    if (!source && !(target && req->op == OP_RETRIEVE))
        return refuse(cse, req, rsp, RSC_ORIGINATOR_HAS_NO_PRIVILEGE, "key %s: unknown, expired, or not for %s", rel, who);
    if (req->op == OP_RETRIEVE) {
        if (target) log_info("maf: %s retrieved key %s of %s (SUID %d)", who, k->rel, k->source_id, k->suid);
        return answer(cse, req, rsp, RSC_OK, mmaf_key_json(k, maf.fqdn, target), k->rel);
    }
    if (req->op == OP_DELETE) {
        if (maf_store_drop_key(maf.store, k->rel)) return STORE_FAILED(rsp);
        log_info("maf: key %s de-registered by %s", k->rel, k->source_id);
        explicit_bzero(k, sizeof *k);
        return answer(cse, req, rsp, RSC_DELETED, NULL, rel);
    }
    struct mmaf_key_reg in;
    char err[200];
    if (mmaf_parse_key_reg(req->pc, true, &in, err, sizeof err)) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "%s", err);
    int64_t now = clock_now_us();
    if (in.has_et && in.et_us <= now) return refuse(cse, req, rsp, RSC_BAD_REQUEST, "expirationTime has passed");
    if (in.has_targets && (k->suid == 32 || k->suid == 33) && in.ntargets != 1)
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "an SAEF or ESPrim key has exactly one target");
    char targets[MMAF_MAX_TARGETS][256];
    for (int i = 0; in.has_targets && i < in.ntargets; i++)
        if (!mm_absolute_id(cse, in.targets[i], targets[i], sizeof targets[i]))
            return refuse(cse, req, rsp, RSC_BAD_REQUEST, "targetIDs: '%s' is not a CSE-ID or AE-ID", in.targets[i]);
    struct maf_key nk = *k;
    if (in.has_targets) {
        memcpy(nk.targets, targets, sizeof targets);
        nk.ntargets = in.ntargets;
    }
    struct maf_client *c = client_of_kmid(kmid);
    if (in.has_et) nk.expires_us = capped(capped(in.et_us, now + maf.max_key_us), c ? c->expires_us : now);
    if (in.has_labels) mm_labels_text(in.labels, nk.labels, sizeof nk.labels);
    int stored = maf_store_put_key(maf.store, &nk);
    if (!stored) *k = nk;
    explicit_bzero(&nk, sizeof nk);
    if (stored) return STORE_FAILED(rsp);
    return answer(cse, req, rsp, RSC_UPDATED, mmaf_key_json(k, maf.fqdn, false), k->rel);
}

/* RETRIEVE mafKeyReg: the caller's key registrations, no key values. */
static int key_list(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    struct maf_client *c;
    int rc = own_client(cse, req, rsp, NULL, &c);
    if (rc) return rc;
    json_t *all = json_array();
    key_named(NULL);   /* drops the lapsed ones */
    for (int i = 0; i < MAX_KEYS; i++) {
        if (!maf.keys[i].rel[0] || strcmp(maf.keys[i].source_kmid, c->kmid)) continue;
        json_t *one = mmaf_key_json(&maf.keys[i], maf.fqdn, false);
        json_array_append(all, json_object_get(one, "maf:keyReg"));
        json_decref(one);
    }
    return answer(cse, req, rsp, RSC_OK, json_pack("{s:o}", "maf:keyRegs", all), c->reg_id);
}

int maf_request(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp)
{
    struct mmaf_path p = mmaf_parse_path(req->to, cse->cfg.cse_name);
    switch (p.target) {
    case MMAF_NONE:
        return -1;
    case MMAF_BAD:
        return refuse(cse, req, rsp, RSC_BAD_REQUEST, "malformed Mmaf target '%s' (see maf/mmaf.h)", req->to);
    case MMAF_CLIENT_REG:
        if (!p.id[0] && req->op == OP_CREATE) return client_register(cse, req, rsp);
        if (p.id[0] && req->op != OP_CREATE && req->op != OP_NOTIFY) return client_reg_op(cse, req, rsp, p.id);
        break;
    case MMAF_KEY_REG:
        if (!p.id[0] && req->op == OP_CREATE) return key_register(cse, req, rsp);
        if (!p.id[0] && req->op == OP_RETRIEVE) return key_list(cse, req, rsp);
        if (p.id[0] && req->op != OP_CREATE && req->op != OP_NOTIFY) return key_op(cse, req, rsp, p.id);
        break;
    }
    return refuse(cse, req, rsp, RSC_OPERATION_NOT_ALLOWED, "%s is not an Mmaf operation on '%s'", mm_op_name(req),
                  req->to);
}
