#include "enrol_target.h"

#include "acl.h"
#include "audit.h"
#include "credentials.h"
#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/base/loop.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../cse/events/outbound.h"
#include "../mef/mmef.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PENDING 64
#define REFUSED_SLOTS 64
#define REFUSED_HOLD_US (5LL * 1000000)   /* a refused KeID is not asked again for this long */
#define FETCH_TIMEOUT_MS 5000
#define SUID_SAEF 22                       /* RSPF-provisioned key for an SAEF (m2m:suid) */

struct fetch {
    struct fetch *next;
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
} tgt;

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
static void audit_refusal(const char *keid, const char *why)
{
    audit_decision(acl_audit_log(tgt.cse), keid, tgt.cse->cfg.mef_url, "psk-identity", "deny", "mef", why);
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

/* A key the MEF no longer vouches for (revoked, expired, de-registered)
 * goes at once: its HTTPS connections are closed (cse_credential_withdrawn),
 * requests over CoAPS sessions made with it fail the SAEF gate, and new
 * handshakes with it fail. */
static void withdraw(const char *keid, const char *why)
{
    if (cred_withdraw_lease(tgt.cse->creds, keid) != 0) return;
    log_info("enrolment: %s withdrawn: %s", keid, why);
    char cred[CRED_ID_MAX + 4];
    snprintf(cred, sizeof cred, "12-%s", keid);
    cse_credential_withdrawn(tgt.cse, cred);
}

static void lend(const char *keid, bool recheck, const struct outbound_answer *ans)
{
    struct m2m_response rsp;
    outbound_answer_response(ans, &rsp);
    struct mmef_fetched got;
    char err[300];
    if (rsp.rsc != RSC_OK || mmef_parse_fetch(rsp.pc, &got, err, sizeof err)) {
        if (rsp.rsc != RSC_OK) {
            const char *dbg = json_string_value(json_object_get(rsp.pc, "m2m:dbg"));
            snprintf(err, sizeof err, "the MEF answered %d%s%s", rsp.rsc, dbg ? ": " : "", dbg ? dbg : "");
        }
        log_info("enrolment: no key for %s: %s", keid, err);
        audit_refusal(keid, err);
        remember_refusal(keid);
        if (recheck) withdraw(keid, err);
        json_decref(rsp.pc);
        return;
    }
    json_decref(rsp.pc);
    struct cred_psk psk = { .key_len = got.key_len };
    snprintf(psk.identity, sizeof psk.identity, "%s", keid);
    memcpy(psk.key, got.key, got.key_len);
    snprintf(psk.originators, sizeof psk.originators, "%s", got.enrolee_id);
    int rc = cred_lease_psk(tgt.cse->creds, &psk, got.lifetime_us);
    ts_buf until;
    ts_format(got.lifetime_us, until);
    if (rc) {
        log_info("enrolment: the MEF's key for %s is unusable (expired or malformed)", keid);
        remember_refusal(keid);
    } else {
        log_info("enrolment: %s is now known, bound to %s until %s (from the MEF)", keid, got.enrolee_id, until);
    }
    explicit_bzero(&psk, sizeof psk);
    explicit_bzero(&got, sizeof got);
}

static void fetched(void *data, const struct outbound_answer *ans)
{
    struct fetch *f = data;
    if (tgt.open) {
        if (ans->unreachable) {
            log_info("enrolment: the MEF is unreachable for %s: %s", f->keid, ans->unreachable);
            audit_refusal(f->keid, ans->unreachable);
            remember_refusal(f->keid);
        } else {
            lend(f->keid, f->recheck, ans);
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
    snprintf(url, sizeof url, "%s/fetchCredentials/%s/%d", cse->cfg.mef_url, f->keid, SUID_SAEF);
    snprintf(rqi, sizeof rqi, "mef-fetch-%lu", ++tgt.seq);
    /* The MEF checks that the From of its authenticated peer is the key's target. */
    struct m2m_request req = { .op = OP_RETRIEVE, .fr = cse->csi, .rqi = rqi, .rvi = "3" };
    struct outbound_request r = { .url = url, .req = &req, .timeout_ms = FETCH_TIMEOUT_MS };
    log_info("enrolment: fetching the key of %s from the MEF", f->keid);
    if (outbound_send(cse, &r, fetched, f)) {
        remember_refusal(f->keid);
        unlink_fetch(f);
    }
    return -1;
}

/* Queues a fetch of identity (once at a time); started from the loop. */
static void queue_fetch(const char *identity, bool recheck)
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
    if (tgt.open && enrol_target_is_keid(identity, tgt.cse->cfg.mef_fqdn) && !recently_refused(identity))
        queue_fetch(identity, false);
}

static int recheck_one(void *arg, const struct cred_psk *psk, int64_t until_us)
{
    (void)arg; (void)until_us;
    if (enrol_target_is_keid(psk->identity, tgt.cse->cfg.mef_fqdn)) queue_fetch(psk->identity, true);
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

int enrol_target_open(struct cse *cse)
{
    const struct config *c = &cse->cfg;
    if (!c->mef_url[0]) return 0;   /* m2m-mef sets only its own mef-fqdn */
    if (!c->mef_fqdn[0] || !cse->creds) {
        log_error("enrolment: mef-url needs mef-fqdn (the host part of the MEF's KeIDs)");
        return -1;
    }
    if (!outbound_scheme_known(c->mef_url)) {
        log_error("enrolment: mef-url %s: unknown scheme (coaps:// or https://)", c->mef_url);
        return -1;
    }
    memset(&tgt, 0, sizeof tgt);
    tgt.cse = cse;
    tgt.open = true;
    cred_on_miss(cse->creds, on_unknown, NULL);
    tgt.recheck_timer = loop_add_timer(cse->loop, c->mef_recheck_ms, recheck_all, NULL);
    log_info("enrolment: accepting KeIDs of %s, keys fetched from %s", c->mef_fqdn, c->mef_url);
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
