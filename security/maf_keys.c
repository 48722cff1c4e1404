#include "maf_keys.h"

#include "acl.h"
#include "audit.h"
#include "enrol_target.h"
#include "../cse/base/clock.h"
#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/ident.h"
#include "../cse/core/rsc.h"
#include "../cse/events/notify.h"
#include "../maf/mmaf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CACHED 64
#define ASK_TIMEOUT_MS 5000

struct cached {
    struct cred_psk key;
    int suid;
    int64_t until_us;       /* 0: free */
};

/* Per CSE (not per process): two engines in one process (the tests'
 * in-process CSEs, a multi-tenant front-end) must not see each other's keys. */
struct maf_key_cache {
    struct cached slot[CACHED];
};

void maf_keys_clear(struct cse *cse)
{
    if (!cse->maf_keys) return;
    explicit_bzero(cse->maf_keys, sizeof *cse->maf_keys);
    free(cse->maf_keys);
    cse->maf_keys = NULL;
}

static struct cached *cached_key(struct cse *cse, const char *kid, int suid, int64_t now)
{
    if (!cse->maf_keys) return NULL;
    struct cached *cache = cse->maf_keys->slot;
    for (int i = 0; i < CACHED; i++) {
        struct cached *c = &cache[i];
        if (c->until_us && c->until_us <= now) explicit_bzero(c, sizeof *c);   /* its lifetime is over */
        if (c->until_us && c->suid == suid && !strcasecmp(c->key.identity, kid)) return c;
    }
    return NULL;
}

int maf_key_cached(struct cse *cse, const char *kid, int suid, struct cred_psk *out)
{
    const struct cached *c = cached_key(cse, kid, suid, clock_now_us());
    if (!c) return -1;
    *out = c->key;
    return 0;
}

/* A free slot, else the one that expires first; NULL without memory. */
static struct cached *free_slot(struct cse *cse)
{
    if (!cse->maf_keys && !(cse->maf_keys = calloc(1, sizeof *cse->maf_keys))) return NULL;
    struct cached *cache = cse->maf_keys->slot;
    struct cached *pick = &cache[0];
    for (int i = 0; i < CACHED; i++) {
        if (!cache[i].until_us) return &cache[i];
        if (cache[i].until_us < pick->until_us) pick = &cache[i];
    }
    return pick;
}

static int refuse(struct cse *cse, const char *kid, int rsc, struct m2m_response *rsp, const char *why)
{
    log_info("maf: no key for %s: %s", kid, why);
    audit_decision(acl_audit_log(cse), kid, cse->cfg.maf_url, "maf-key", "deny", "maf", why);
    return m2m_error(rsp, rsc, "key '%s' is unknown: %s", kid, why);
}

int maf_key_lookup(struct cse *cse, const struct m2m_request *req, const char *kid, int suid, int unknown_rsc,
                   struct cred_psk *out, struct m2m_response *rsp)
{
    const struct config *cfg = &cse->cfg;
    if (!cfg->maf_url[0] || !cfg->maf_fqdn[0] || !kid || !enrol_target_is_keid(kid, cfg->maf_fqdn)) return -1;
    int64_t now = clock_now_us();
    struct cached *hit = cached_key(cse, kid, suid, now);
    if (hit) {
        *out = hit->key;
        return 0;
    }
    char key[CRED_ID_MAX + 16], to[80];
    snprintf(key, sizeof key, "maf-key %d %s", suid, kid);
    snprintf(to, sizeof to, "mafKeyReg/%.*s", (int)strcspn(kid, "@"), kid);
    json_t *urls = json_pack("[s]", cfg->maf_url), *answer = NULL;
    int rc = urls ? notify_ask(cse, req, key, urls, OP_RETRIEVE, to, NULL, ASK_TIMEOUT_MS, &answer) : RSC_INTERNAL_SERVER_ERROR;
    json_decref(urls);
    if (rc == DISPATCH_PENDING) {
        log_info("maf: asking the MAF for key %s (SUID %d)", kid, suid);
        return rc;
    }
    char why[300] = "";
    struct mmaf_retrieved got = { 0 };
    struct ident_home home = cse_home(cse);
    struct ident_forms self;
    if (rc != RSC_OK) {
        const char *dbg = json_string_value(json_object_get(answer, "m2m:dbg"));
        snprintf(why, sizeof why, "the MAF answered %d%s%s", rc, dbg ? ": " : "", dbg ? dbg : "");
    } else if (!ident_forms(&home, cse->csi, &self)) {
        snprintf(why, sizeof why, "this CSE has no absolute CSE-ID");
    } else if (mmaf_parse_retrieved(answer, suid, self.abs, &got, why, sizeof why)) {
        /* why says what is wrong with the key: usage, target, form */
    } else if (got.expires_us <= now) {
        snprintf(why, sizeof why, "it has expired");
        explicit_bzero(&got, sizeof got);
    } else {
        json_decref(answer);
        struct cached *c = free_slot(cse);
        if (!c) {
            explicit_bzero(&got, sizeof got);
            return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "no memory for the MAF key");
        }
        explicit_bzero(c, sizeof *c);
        snprintf(c->key.identity, sizeof c->key.identity, "%s", kid);
        memcpy(c->key.key, got.key, got.key_len);
        c->key.key_len = got.key_len;
        snprintf(c->key.originators, sizeof c->key.originators, "%s", got.source_id);
        c->suid = suid;
        c->until_us = got.expires_us;
        explicit_bzero(&got, sizeof got);
        ts_buf until;
        ts_format(c->until_us, until);
        log_info("maf: key %s (SUID %d) is now known, bound to %s until %s", kid, suid, c->key.originators, until);
        *out = c->key;
        return 0;
    }
    json_decref(answer);
    return refuse(cse, kid, unknown_rsc, rsp, why);
}
