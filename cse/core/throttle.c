#include "throttle.h"

#include "config.h"
#include "ident.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/ratelimit.h"
#include "rsc.h"
#include "../../security/audit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const kind_name[THROTTLE_KINDS] = {
    "source address", "originator", "credential", "source address",
};

struct throttle {
    struct ratelimit *table[THROTTLE_KINDS];  /* NULL: that limit is off */
    struct config_rate rate[THROTTLE_KINDS];
    bool limit_loopback;
    char sp_id[128], cse_id[64];               /* to bring originators into one form */
    struct audit *audit;
    long long refused[THROTTLE_KINDS];
    struct log_burst log;
    int64_t audit_window_start;
    int audits_in_window;
    long long audits_skipped;
};

struct throttle *throttle_new(const struct config *cfg, struct audit *audit)
{
    struct throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->rate[THROTTLE_ADDRESS] = cfg->rate_address;
    t->rate[THROTTLE_ORIGINATOR] = cfg->rate_originator;
    t->rate[THROTTLE_CREDENTIAL] = cfg->rate_credential;
    t->rate[THROTTLE_HANDSHAKE] = cfg->rate_handshake;
    t->limit_loopback = cfg->rate_limit_loopback;
    snprintf(t->sp_id, sizeof t->sp_id, "%s", cfg->sp_id);
    snprintf(t->cse_id, sizeof t->cse_id, "%s", cfg->cse_id);
    t->audit = audit;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = (uint64_t)loop_now_ms() * 0x9e3779b97f4a7c15ull;
    for (int k = 0; k < THROTTLE_KINDS; k++) {
        if (!t->rate[k].rate) continue;
        struct ratelimit_params p = {
            .rate = t->rate[k].rate, .burst = t->rate[k].burst, .max_entries = cfg->rate_limit_entries,
            .report_after = THROTTLE_REPORT_AFTER, .window_ms = THROTTLE_WINDOW_MS,
        };
        if (!(t->table[k] = ratelimit_new(&p, seed + (uint64_t)k))) {
            throttle_free(t);
            return NULL;
        }
    }
    return t;
}

static long long requests_refused(const struct throttle *t)
{
    return t->refused[THROTTLE_ADDRESS] + t->refused[THROTTLE_ORIGINATOR] + t->refused[THROTTLE_CREDENTIAL];
}

void throttle_free(struct throttle *t)
{
    if (!t) return;
    long long requests = requests_refused(t);
    if (requests || t->refused[THROTTLE_HANDSHAKE])
        log_info("rate limits refused %lld requests (%lld by source address, %lld by originator, "
                 "%lld by credential) and %lld handshakes", requests, t->refused[THROTTLE_ADDRESS],
                 t->refused[THROTTLE_ORIGINATOR], t->refused[THROTTLE_CREDENTIAL],
                 t->refused[THROTTLE_HANDSHAKE]);
    if (t->audits_skipped)
        log_info("rate limits: %lld repeat offenders were not audited (more than %d in a minute)",
                 t->audits_skipped, THROTTLE_AUDITS_PER_WINDOW);
    for (int k = 0; k < THROTTLE_KINDS; k++) ratelimit_free(t->table[k]);
    free(t);
}

int throttle_clear(struct throttle *t, const struct config *cfg, struct audit *audit)
{
    struct throttle *fresh = throttle_new(cfg, audit);
    if (!fresh) return -1;
    struct throttle old = *t;
    *t = *fresh;
    *fresh = old;
    throttle_free(fresh);      /* the old buckets, their counts logged */
    return 0;
}

long long throttle_refused(const struct throttle *t, enum throttle_kind kind)
{
    return t ? t->refused[kind] : 0;
}

void throttle_address_key(const char *ip, char *out, size_t cap)
{
    struct in6_addr a6;
    if (inet_pton(AF_INET6, ip, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)cap);
            return;
        }
        memset(&a6.s6_addr[8], 0, 8);
        char prefix[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6, prefix, sizeof prefix);
        snprintf(out, cap, "%s/64", prefix);
        return;
    }
    snprintf(out, cap, "%s", ip);
}

/* A repeat offender: one audit record per key and window, and no more than
 * THROTTLE_AUDITS_PER_WINDOW in all (a flood of spoofed keys must not fill
 * the audit log); the log line says how many were left out. */
static void audit_offender(struct throttle *t, enum throttle_kind kind, const char *key,
                           const char *originator, unsigned refused, int64_t now)
{
    if (now - t->audit_window_start >= THROTTLE_WINDOW_MS) {
        t->audit_window_start = now;
        t->audits_in_window = 0;
    }
    if (t->audits_in_window >= THROTTLE_AUDITS_PER_WINDOW) {
        t->audits_skipped++;
        return;
    }
    t->audits_in_window++;
    char reason[256];
    snprintf(reason, sizeof reason, "%s %.100s refused more than %u times within %d s (limit %d/s, burst %d)",
             kind_name[kind], key, refused - 1, THROTTLE_WINDOW_MS / 1000, t->rate[kind].rate,
             t->rate[kind].burst);
    audit_record(t->audit, originator, NULL, kind == THROTTLE_HANDSHAKE ? "HANDSHAKE" : "REQUEST",
                 "rate-limited", reason);
}

/* Takes a token of kind for key; 0 when admitted, else the wait in ms
 * (the refusal counted, logged and, for a repeat offender, audited). */
static int64_t take(struct throttle *t, enum throttle_kind kind, const char *key,
                    const char *originator, int64_t now)
{
    if (!t->table[kind]) return 0;
    struct ratelimit_refusal why;
    int64_t wait = ratelimit_take(t->table[kind], key, now, &why);
    if (!wait) return 0;
    t->refused[kind]++;
    log_debug("rate limit: %s %s refused for %lld ms", kind_name[kind], key, (long long)wait);
    char skipped[64] = "";
    if (t->audits_skipped)
        snprintf(skipped, sizeof skipped, "; %lld repeat offenders not audited", t->audits_skipped);
    log_burst_write(&t->log, LOG_LVL_INFO, now, THROTTLE_WINDOW_MS,
                    "rate limit: refused a %s from %s %.100s (refused since start: %lld requests, "
                    "%lld handshakes%s)", kind == THROTTLE_HANDSHAKE ? "handshake" : "request",
                    kind_name[kind], key, requests_refused(t), t->refused[THROTTLE_HANDSHAKE], skipped);
    if (why.report) audit_offender(t, kind, key, originator, why.refused, now);
    return wait;
}

static bool exempt(const struct throttle *t, const char *ip)
{
    return !t || (!t->limit_loopback && ip && config_is_loopback(ip));
}

static int refuse(enum throttle_kind kind, const char *shown, int64_t wait_ms, struct m2m_response *rsp)
{
    int seconds = (int)((wait_ms + 999) / 1000);
    m2m_response_clear(rsp);
    rsp->retry_after_s = seconds;
    return m2m_error(rsp, RSC_BAD_REQUEST, "too many requests from %s %.100s; retry after %d s",
                     kind_name[kind], shown, seconds);
}

int throttle_request(struct throttle *t, const struct m2m_request *req, struct m2m_response *rsp)
{
    if (exempt(t, req->peer.ip)) return 0;
    int64_t now = loop_now_ms(), wait;
    const char *fr = req->fr && *req->fr ? req->fr : NULL;
    /* Cheapest first: the address needs no parsing and is not chosen by the client. */
    if (req->peer.ip[0]) {
        char key[INET6_ADDRSTRLEN + 4];
        throttle_address_key(req->peer.ip, key, sizeof key);
        if ((wait = take(t, THROTTLE_ADDRESS, key, fr, now)))
            return refuse(THROTTLE_ADDRESS, req->peer.ip, wait, rsp);
    }
    if (fr && t->table[THROTTLE_ORIGINATOR]) {
        /* One bucket per entity, whichever of its spellings is used. */
        struct ident_forms forms;
        struct ident_home home = { t->sp_id, t->cse_id };
        const char *key = ident_forms(&home, fr, &forms) ? forms.abs : fr;
        if ((wait = take(t, THROTTLE_ORIGINATOR, key, fr, now)))
            return refuse(THROTTLE_ORIGINATOR, fr, wait, rsp);
    }
    if (req->sec.authenticated && (wait = take(t, THROTTLE_CREDENTIAL, req->sec.credential_id, fr, now)))
        return refuse(THROTTLE_CREDENTIAL, req->sec.credential_id, wait, rsp);
    return 0;
}

bool throttle_handshake(struct throttle *t, const char *ip)
{
    if (exempt(t, ip) || !ip || !ip[0]) return true;
    char key[INET6_ADDRSTRLEN + 4];
    throttle_address_key(ip, key, sizeof key);
    return take(t, THROTTLE_HANDSHAKE, key, NULL, loop_now_ms()) == 0;
}
