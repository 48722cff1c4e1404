#include "enrol_target.h"

#include "acl.h"
#include "audit.h"
#include "credentials.h"
#include "../cse/base/clock.h"
#include "../cse/base/fiber.h"
#include "../cse/base/log.h"
#include "../cse/base/loop.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/events/outbound.h"
#include "../mef/mmef.h"
#include "../maf/mmaf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PENDING 64
#define REFUSED_SLOTS 64
#define REFUSED_HOLD_US (5LL * 1000000)   /* a refused KeID is not asked again for this long */
#define FETCH_TIMEOUT_MS 5000
#define SUID_MAF_SAEF 32                   /* MAF-distributed key for an SAEF */

/* What a source vouches for: the key, whom it speaks for, until when. */
struct lent {
    uint8_t key[64];
    size_t key_len;
    char originator[256];
    int64_t until_us;
};

/* Where keys of unknown identities come from: the MEF (KeIDs) or the MAF
 * (Key Identifiers); both "<32 hex>@<fqdn>". */
struct source {
    const char *name;                      /* "mef" / "maf": the audit's decider */
    const char *title;                     /* "MEF" / "MAF": logs */
    const char *fqdn, *url;
    void (*request_url)(const struct source *s, const char *identity, char *out, size_t cap);
    int (*parse)(const json_t *pc, struct lent *out, char *err, size_t errlen);
};

struct fetch {
    struct fetch *next;
    const struct source *src;
    char keid[CRED_ID_MAX];
    int64_t timer;                         /* until the request left; 0 after */
    bool recheck;                          /* asking again about a key held already */
};

struct refused {
    char keid[CRED_ID_MAX];
    int64_t until_us;
};

static struct {
    struct cse *cse;
    bool open;
    struct fetch *pending;
    int npending;
    unsigned long seq;
    struct refused refused[REFUSED_SLOTS];
    int next_refused;
    int64_t recheck_timer;
    struct source sources[2];
    int nsources;
    char self_abs[512];                    /* this CSE's absolute CSE-ID: a MAF key must name it */
} tgt;

/* SUID 22 (Kpsa) for a CSE; 21 (Km) for m2m-maf, whose MAF clients the MEF enrolled. */
static void mef_url_of(const struct source *s, const char *identity, char *out, size_t cap)
{
    snprintf(out, cap, "%s/fetchCredentials/%s/%d", s->url, identity, tgt.cse->cfg.mef_fetch_suid);
}

static void fill(struct lent *out, const uint8_t *key, size_t n, const char *originator, int64_t until_us)
{
    memcpy(out->key, key, n);
    out->key_len = n;
    snprintf(out->originator, sizeof out->originator, "%s", originator);
    out->until_us = until_us;
}

static int mef_parse(const json_t *pc, struct lent *out, char *err, size_t errlen)
{
    struct mmef_fetched got;
    if (mmef_parse_fetch(pc, &got, err, errlen)) return -1;
    fill(out, got.key, got.key_len, got.enrolee_id, got.lifetime_us);
    explicit_bzero(&got, sizeof got);
    return 0;
}

/* MAF Key Retrieval: RETRIEVE <maf-url>/mafKeyReg/<RelativeKeyID>. */
static void maf_url_of(const struct source *s, const char *identity, char *out, size_t cap)
{
    snprintf(out, cap, "%s/mafKeyReg/%.*s", s->url, (int)strcspn(identity, "@"), identity);
}

/* The key must be for an SAEF and name this CSE: no other client's key is accepted. */
static int maf_parse(const json_t *pc, struct lent *out, char *err, size_t errlen)
{
    struct mmaf_retrieved got;
    if (mmaf_parse_retrieved(pc, SUID_MAF_SAEF, tgt.self_abs, &got, err, errlen)) return -1;
    fill(out, got.key, got.key_len, got.source_id, got.expires_us);
    explicit_bzero(&got, sizeof got);
    return 0;
}

static const struct source *source_of(const char *identity)
{
    for (int i = 0; i < tgt.nsources; i++)
        if (enrol_target_is_keid(identity, tgt.sources[i].fqdn)) return &tgt.sources[i];
    return NULL;
}

bool enrol_target_is_keid(const char *identity, const char *mef_fqdn)
{
    const char *at = strchr(identity, '@');
    if (!at || at - identity != 32 || strcasecmp(at + 1, mef_fqdn)) return false;
    for (const char *p = identity; p < at; p++)
        if (!isxdigit((unsigned char)*p)) return false;
    return true;
}

static bool recently_refused(const char *keid)
{
    int64_t now = clock_now_us();
    for (int i = 0; i < REFUSED_SLOTS; i++)
        if (tgt.refused[i].until_us > now && !strcasecmp(tgt.refused[i].keid, keid)) return true;
    return false;
}

/* The CSE's audit log gets every KeID it could not accept, with the reason. */
static void audit_refusal(const struct source *src, const char *keid, const char *why)
{
    audit_decision(acl_audit_log(tgt.cse), keid, src->url, "psk-identity", "deny", src->name, why);
}

static void remember_refusal(const char *keid)
{
    struct refused *r = &tgt.refused[tgt.next_refused++ % REFUSED_SLOTS];
    snprintf(r->keid, sizeof r->keid, "%s", keid);
    r->until_us = clock_now_us() + REFUSED_HOLD_US;
}

static void unlink_fetch(struct fetch *f)
{
    for (struct fetch **p = &tgt.pending; *p; p = &(*p)->next)
        if (*p == f) { *p = f->next; tgt.npending--; break; }
    free(f);
}

/* What the MEF's (MAF's) answer asks of the credential store: a lease, or
 * a withdrawal. With a shared store each is a round trip, so it runs in a
 * fiber that yields to the loop while it waits (cred_pg.h). */
struct store_job {
    const struct source *src;
    char keid[CRED_ID_MAX];
    bool withdraw;
    char why[300];
    struct cred_psk psk;
    int64_t until_us;
};

/* A key the MEF no longer vouches for (revoked, expired, de-registered)
 * goes at once: its HTTPS connections are closed (cse_credential_withdrawn),
 * requests over CoAPS sessions made with it fail the SAEF gate, and new
 * handshakes with it fail. */
static void withdraw(const char *keid, const char *why)
{
    if (cred_withdraw_lease(tgt.cse->creds, keid) != 0 || !tgt.open) return;
    log_info("enrolment: %s withdrawn: %s", keid, why);
    char cred[CRED_ID_MAX + 4];
    snprintf(cred, sizeof cred, "12-%s", keid);
    cse_credential_withdrawn(tgt.cse, cred);
}

static void take_lease(const struct store_job *j)
{
    int rc = cred_lease_psk(tgt.cse->creds, &j->psk, j->until_us);
    ts_buf until;
    ts_format(j->until_us, until);
    if (rc) {
        log_info("enrolment: the %s's key for %s is unusable (expired or malformed)", j->src->title, j->keid);
        remember_refusal(j->keid);
    } else {
        log_info("enrolment: %s is now known, bound to %s until %s (from the %s)", j->keid, j->psk.originators,
                 until, j->src->title);
    }
}

static void store_job_run(void *arg)
{
    struct store_job *j = arg;
    /* The target closing lets the fibers at work finish (cred_close). */
    if (j->withdraw) withdraw(j->keid, j->why);
    else if (tgt.open) take_lease(j);
    explicit_bzero(j, sizeof *j);
    free(j);
}

/* Without a fiber to be had it runs here, waiting (bounded). */
static void store_job_start(struct store_job *j)
{
    if (fiber_start(tgt.cse->loop, store_job_run, j) < 0) store_job_run(j);
}

static void lend(const struct source *src, const char *keid, bool recheck, const struct outbound_answer *ans)
{
    struct m2m_response rsp;
    outbound_answer_response(ans, &rsp);
    struct lent got;
    char err[300];
    struct store_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(rsp.pc);
        log_warn("enrolment: no memory for the answer about %s", keid);
        return;
    }
    j->src = src;
    snprintf(j->keid, sizeof j->keid, "%s", keid);
    if (rsp.rsc != RSC_OK || src->parse(rsp.pc, &got, err, sizeof err)) {
        if (rsp.rsc != RSC_OK) {
            const char *dbg = json_string_value(json_object_get(rsp.pc, "m2m:dbg"));
            snprintf(err, sizeof err, "the %s answered %d%s%s", src->title, rsp.rsc, dbg ? ": " : "", dbg ? dbg : "");
        }
        log_info("enrolment: no key for %s: %s", keid, err);
        audit_refusal(src, keid, err);
        remember_refusal(keid);
        json_decref(rsp.pc);
        if (!recheck) {
            free(j);
            return;
        }
        j->withdraw = true;
        snprintf(j->why, sizeof j->why, "%s", err);
        store_job_start(j);
        return;
    }
    json_decref(rsp.pc);
    j->psk.key_len = got.key_len;
    snprintf(j->psk.identity, sizeof j->psk.identity, "%s", keid);
    memcpy(j->psk.key, got.key, got.key_len);
    snprintf(j->psk.originators, sizeof j->psk.originators, "%s", got.originator);
    j->until_us = got.until_us;
    explicit_bzero(&got, sizeof got);
    store_job_start(j);
}

static void fetched(void *data, const struct outbound_answer *ans)
{
    struct fetch *f = data;
    if (tgt.open) {
        if (ans->unreachable) {
            log_info("enrolment: the %s is unreachable for %s: %s", f->src->title, f->keid, ans->unreachable);
            audit_refusal(f->src, f->keid, ans->unreachable);
            remember_refusal(f->keid);
        } else {
            lend(f->src, f->keid, f->recheck, ans);
        }
    }
    unlink_fetch(f);
}

static int64_t start_fetch(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct fetch *f = data;
    f->timer = 0;
    struct cse *cse = tgt.cse;
    char url[sizeof cse->cfg.mef_url + CRED_ID_MAX + 32], rqi[40];
    f->src->request_url(f->src, f->keid, url, sizeof url);
    snprintf(rqi, sizeof rqi, "%s-fetch-%lu", f->src->name, ++tgt.seq);
    /* The MEF (MAF) checks that the From of its authenticated peer is the key's target. */
    struct m2m_request req = { .op = OP_RETRIEVE, .fr = cse->csi, .rqi = rqi, .rvi = "3" };
    struct outbound_request r = { .url = url, .req = &req, .timeout_ms = FETCH_TIMEOUT_MS };
    log_info("enrolment: fetching the key of %s from the %s", f->keid, f->src->title);
    if (outbound_send(cse, &r, fetched, f)) {
        remember_refusal(f->keid);
        unlink_fetch(f);
    }
    return -1;
}

/* Queues a fetch of identity (once at a time); started from the loop. */
static void queue_fetch(const struct source *src, const char *identity, bool recheck)
{
    for (struct fetch *f = tgt.pending; f; f = f->next)
        if (!strcasecmp(f->keid, identity)) return;
    if (tgt.npending >= MAX_PENDING) {
        log_info("enrolment: %d key fetches under way already; %s waits for a later handshake", MAX_PENDING, identity);
        return;
    }
    struct fetch *f = calloc(1, sizeof *f);
    if (!f) return;
    snprintf(f->keid, sizeof f->keid, "%s", identity);
    f->src = src;
    f->recheck = recheck;
    /* Started from the loop, not from inside the (D)TLS library's callback. */
    f->timer = loop_add_timer(tgt.cse->loop, 0, start_fetch, f);
    f->next = tgt.pending;
    tgt.pending = f;
    tgt.npending++;
}

static void on_unknown(void *arg, const char *identity)
{
    (void)arg;
    const struct source *src = tgt.open ? source_of(identity) : NULL;
    if (src && !recently_refused(identity)) queue_fetch(src, identity, false);
}

static int recheck_one(void *arg, const struct cred_psk *psk, int64_t until_us)
{
    (void)arg; (void)until_us;
    const struct source *src = source_of(psk->identity);
    if (src) queue_fetch(src, psk->identity, true);
    return 0;
}

/* Every key lent is asked about again: revocation reaches this CSE within
 * one mef-recheck interval. */
static int64_t recheck_all(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id; (void)data;
    if (tgt.open) cred_each_lease(tgt.cse->creds, recheck_one, NULL);
    return tgt.cse->cfg.mef_recheck_ms;
}

static int add_source(struct cse *cse, const char *name, const char *title, const char *fqdn, const char *url,
                      void (*request_url)(const struct source *, const char *, char *, size_t),
                      int (*parse)(const json_t *, struct lent *, char *, size_t))
{
    if (!url[0]) return 0;   /* m2m-mef and m2m-maf set only their own FQDN */
    if (!fqdn[0] || !cse->creds) {
        log_error("enrolment: %s-url needs %s-fqdn (the host part of the identities it issues)", name, name);
        return -1;
    }
    if (!outbound_scheme_known(url)) {
        log_error("enrolment: %s-url %s: unknown scheme (coaps:// or https://)", name, url);
        return -1;
    }
    tgt.sources[tgt.nsources++] = (struct source){ name, title, fqdn, url, request_url, parse };
    log_info("enrolment: accepting identities <hex>@%s, keys from the %s at %s", fqdn, title, url);
    return 0;
}

int enrol_target_open(struct cse *cse)
{
    const struct config *c = &cse->cfg;
    memset(&tgt, 0, sizeof tgt);
    tgt.cse = cse;
    if (add_source(cse, "mef", "MEF", c->mef_fqdn, c->mef_url, mef_url_of, mef_parse) ||
        add_source(cse, "maf", "MAF", c->maf_fqdn, c->maf_url, maf_url_of, maf_parse))
        return -1;
    if (!tgt.nsources) return 0;
    struct ident_home home = cse_home(cse);
    struct ident_forms self;
    if (ident_forms(&home, cse->csi, &self)) snprintf(tgt.self_abs, sizeof tgt.self_abs, "%s", self.abs);
    tgt.open = true;
    cred_on_miss(cse->creds, on_unknown, NULL);
    tgt.recheck_timer = loop_add_timer(cse->loop, c->mef_recheck_ms, recheck_all, NULL);
    return 0;
}

void enrol_target_close(struct cse *cse)
{
    if (!tgt.open || tgt.cse != cse) return;
    tgt.open = false;
    cred_on_miss(cse->creds, NULL, NULL);
    if (tgt.recheck_timer) loop_del_timer(cse->loop, tgt.recheck_timer);
    tgt.recheck_timer = 0;
    /* Not yet sent: gone now. Sent: freed when outbound ends them. */
    for (struct fetch *f = tgt.pending, *next; f; f = next) {
        next = f->next;
        if (f->timer) {
            loop_del_timer(cse->loop, f->timer);
            unlink_fetch(f);
        }
    }
}
