/* CSE life cycle: opening the store, the CSEBase, expiry, identifiers. */
#include "cse.h"

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "nonblocking.h"
#include "notify.h"
#include "rsc.h"
#include "throttle.h"
#include "../resources/registry.h"
#include "../security/acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

/* xorshift128+ seeded from the kernel: identifiers need to be unpredictable
 * enough not to collide, not to be secret (keys use the crypto libraries). */
static uint64_t rng_state[2];

static uint64_t rng_next(void)
{
    if (!rng_state[0] && !rng_state[1]) {
        if (getrandom(rng_state, sizeof rng_state, 0) != sizeof rng_state) {
            rng_state[0] = (uint64_t)clock_now_us();
            rng_state[1] = (uint64_t)(uintptr_t)&rng_state ^ 0x9e3779b97f4a7c15ULL;
        }
        rng_state[0] |= 1;
    }
    uint64_t s1 = rng_state[0];
    const uint64_t s0 = rng_state[1];
    rng_state[0] = s0;
    s1 ^= s1 << 23;
    rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_state[1] + s0;
}

struct ident_home cse_home(const struct cse *cse)
{
    return (struct ident_home){ cse->cfg.sp_id, cse->cfg.cse_id };
}

/* prefix + 7 base62 digits of the millisecond clock + 6 random ones. The
 * alphabet is in ASCII order, so identifiers (and the default names built
 * from them) sort by creation time: the store's ri and path indexes then grow
 * at their right edge instead of touching a random page per insert. 62^6
 * random values per millisecond keep collisions negligible (and retried). */
void cse_new_id(const char *prefix, char *out, size_t cap)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if (cap < 14) { if (cap) out[0] = 0; return; }
    size_t n = strlen(prefix);
    if (n + 14 > cap) n = cap - 14;
    memcpy(out, prefix, n);
    uint64_t ms = (uint64_t)clock_now_us() / 1000;
    for (int i = 6; i >= 0; i--) {
        out[n + (size_t)i] = alphabet[ms % 62];
        ms /= 62;
    }
    n += 7;
    uint64_t r = rng_next();
    for (int i = 0; i < 6; i++) {
        out[n++] = alphabet[r % 62];
        r /= 62;
    }
    out[n] = 0;
}

static int mkdir_p(const char *dir)
{
    char buf[300];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0700) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) && errno != EEXIST ? -1 : 0;
}

/* One URL per transport that is switched on (port 0 or security off means
 * no listener, so nothing to announce). */
static void add_poa(json_t *list, const char *scheme, const char *host, int port)
{
    if (!port) return;
    char url[160];
    bool ipv6 = strchr(host, ':') != NULL;  /* a literal needs brackets in a URL */
    snprintf(url, sizeof url, "%s://%s%s%s:%d", scheme, ipv6 ? "[" : "", host, ipv6 ? "]" : "", port);
    json_array_append_new(list, json_string(url));
}

static json_t *points_of_access(const struct config *cfg)
{
    json_t *poa = json_array();
    add_poa(poa, "http", cfg->http_host, cfg->http_port);
    add_poa(poa, "https", cfg->http_host, cfg->security_http != SECURITY_OFF ? cfg->https_port : 0);
    add_poa(poa, "coap", cfg->coap_host, cfg->coap_port);
    add_poa(poa, "coaps", cfg->coap_host, cfg->security_coap != SECURITY_OFF ? cfg->coaps_port : 0);
    return poa;
}

/* Creates the CSEBase on first start; afterwards refreshes what follows from
 * the configuration (types, points of access). */
static int ensure_cse_base(struct cse *cse)
{
    const struct config *cfg = &cse->cfg;
    struct resource *base = NULL;
    int rc = store_get(cse->store, cfg->cse_id, &base);
    if (rc && rc != RSC_NOT_FOUND) return rc;
    if (base && strcmp(res_rn(base), cfg->cse_name)) {
        log_error("the store at %s belongs to CSEBase '%s', not '%s'", cfg->db_file,
                  res_rn(base), cfg->cse_name);
        resource_free(base);
        return RSC_CONFLICT;
    }
    bool fresh = !base;
    if (fresh) {
        ts_buf now;
        ts_format(clock_now_us(), now);
        base = resource_new(TY_CSEBASE, json_pack("{s:i,s:s,s:s,s:s,s:s,s:s}", "ty", TY_CSEBASE, "ri", cfg->cse_id,
                                         "rn", cfg->cse_name, "pi", "", "ct", now, "lt", now),
                            cfg->cse_name);
    }
    int types[64];
    int n = registry_types(&cse->types, types, 64);
    json_t *srt = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(srt, json_integer(types[i]));
    json_object_set_new(base->attrs, "cst", json_integer(cfg->cse_type));
    json_object_set_new(base->attrs, "csi", json_string(cse->csi));
    json_object_set_new(base->attrs, "srt", srt);
    json_object_set_new(base->attrs, "poa", points_of_access(cfg));
    json_object_set_new(base->attrs, "csz", json_pack("[s]", "json"));
    json_object_set_new(base->attrs, "srv", json_pack("[s,s,s]", "2a", "3", "4"));
    /* The CSEBase's acpi is read-only over the API and set by configuration. */
    json_t *acpi = json_array();
    char list[sizeof cfg->cse_acpi];
    snprintf(list, sizeof list, "%s", cfg->cse_acpi);
    for (char *save = NULL, *id = strtok_r(list, ", ", &save); id; id = strtok_r(NULL, ", ", &save))
        json_array_append_new(acpi, json_string(id));
    if (json_array_size(acpi)) json_object_set_new(base->attrs, "acpi", acpi);
    else { json_object_del(base->attrs, "acpi"); json_decref(acpi); }
    rc = store_begin(cse->store);
    if (!rc) rc = fresh ? store_insert(cse->store, base) : store_update(cse->store, base);
    if (rc == RSC_CONFLICT)
        log_error("the store at %s already holds a CSEBase '%s' under another CSE-ID than '%s'",
                  cfg->db_file, cfg->cse_name, cfg->cse_id);
    if (!rc) rc = store_commit(cse->store);
    else store_rollback(cse->store);
    resource_free(base);
    if (!rc && fresh) log_info("created CSEBase '%s' (%s)", cfg->cse_name, cse->csi);
    return rc;
}

struct expired_list { const struct cse *cse; struct resource **items; int n, cap; };

static int collect_expired(struct resource *res, void *data)
{
    struct expired_list *l = data;
    if (type_flags(&l->cse->types, res->ty) & RT_ROOT) return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->n++] = resource_dup(res);
    return 0;
}

/* Expiry is a deletion too: subscribers hear of it like of a DELETE. */
static void announce_expired(struct cse *cse, struct resource **gone, int n)
{
    for (int i = 0; i < n; i++) notify_event(cse, NET_DELETE, gone[i], NULL, NULL);
    notify_removed_commit(cse);
    for (int i = 0; i < n; i++) {
        struct resource *parent = NULL;
        if (res_pi(gone[i]) && !store_get(cse->store, res_pi(gone[i]), &parent))
            notify_event(cse, NET_DELETE_CHILD, gone[i], parent, NULL);
        resource_free(parent);
    }
}

int cse_expire_now(struct cse *cse)
{
    ts_buf now;
    ts_format(clock_now_us(), now);
    struct expired_list l = { .cse = cse };
    if (store_begin(cse->store)) return 0;
    store_expired(cse->store, now, collect_expired, &l);
    int removed = 0;
    struct resource **gone = calloc((size_t)l.n + 1, sizeof *gone);
    for (int i = 0; i < l.n && gone; i++) {
        struct resource *still;
        /* An earlier removal may have taken this one with its subtree. */
        if (!store_get(cse->store, res_ri(l.items[i]), &still)) {
            struct m2m_response rsp;
            m2m_response_init(&rsp);
            if (!cse_delete_resource(cse, still, &rsp)) {
                gone[removed++] = l.items[i];
                l.items[i] = NULL;
                log_debug("expired %s", still->path);
            }
            m2m_response_clear(&rsp);
            resource_free(still);
        }
        resource_free(l.items[i]);
    }
    if (store_commit(cse->store)) {
        store_rollback(cse->store);
        notify_removed_abort(cse);
    } else {
        announce_expired(cse, gone, removed);
    }
    for (int i = 0; i < removed; i++) resource_free(gone[i]);
    for (int i = 0; !gone && i < l.n; i++) resource_free(l.items[i]);
    free(gone);
    free(l.items);
    /* A backlog (or an undeletable resource) leaves the earliest et in the
     * past: let the timer deal with it instead of every request. */
    if (store_next_expiry(cse->store, cse->next_expiry) || (cse->next_expiry[0] && strcmp(cse->next_expiry, now) < 0))
        ts_format(clock_now_us() + cse->cfg.expiry_interval_ms * 1000, cse->next_expiry);
    if (removed) acl_invalidate(cse);
    return removed;
}

void cse_expire_due(struct cse *cse)
{
    if (!cse->next_expiry[0]) return;
    /* Runs before every primitive: compare microseconds, not formatted
     * timestamps, and parse next_expiry only when it changes. */
    static _Thread_local ts_buf parsed;
    static _Thread_local int64_t next_us;
    if (strcmp(parsed, cse->next_expiry)) {
        if (!ts_parse(cse->next_expiry, &next_us)) next_us = INT64_MIN;
        snprintf(parsed, sizeof parsed, "%s", cse->next_expiry);
    }
    if (clock_now_us() > next_us) cse_expire_now(cse);
}

void cse_note_expiry(struct cse *cse, const char *et)
{
    if (et && (!cse->next_expiry[0] || strcmp(et, cse->next_expiry) < 0))
        snprintf(cse->next_expiry, sizeof cse->next_expiry, "%s", et);
}

static int64_t expiry_tick(struct loop *loop, int64_t id, void *data)
{
    (void)loop; (void)id;
    struct cse *cse = data;
    cse_expire_now(cse);
    return cse->cfg.expiry_interval_ms;
}

/* The loop round is over: its writes become durable together. */
static void commit_round(struct loop *loop, void *data)
{
    (void)loop;
    cse_commit(data);
}

int cse_open(struct cse *cse, const struct config *cfg, struct loop *loop)
{
    return cse_open_with(cse, cfg, loop, NULL);
}

int cse_open_with(struct cse *cse, const struct config *cfg, struct loop *loop,
                  const struct resource_type *const *extra_types)
{
    memset(cse, 0, sizeof *cse);
    registry_init_core(&cse->types);
    for (const struct resource_type *const *t = extra_types; t && *t; t++)
        if (registry_add(&cse->types, *t)) {
            log_error("resource type %d (%s) cannot be added: its number or key is taken", (*t)->ty, (*t)->key);
            return -1;
        }
    cse->cfg = *cfg;
    cse->loop = loop;
    snprintf(cse->csi, sizeof cse->csi, "/%s", cfg->cse_id);
    if (strcmp(cfg->db_file, ":memory:") && mkdir_p(cfg->data_dir)) {
        log_error("cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    if (store_open(&cse->store, cfg->db_file, (enum store_sync)cfg->sync)) return -1;
    if (ensure_cse_base(cse) || acl_open(cse)) {
        acl_close(cse);
        store_close(cse->store);
        cse->store = NULL;
        return -1;
    }
    store_next_expiry(cse->store, cse->next_expiry);
    if (!(cse->throttle = throttle_new(cfg, acl_audit_log(cse))) || notify_open(cse)) {
        throttle_free(cse->throttle);
        cse->throttle = NULL;
        acl_close(cse);
        store_close(cse->store);
        cse->store = NULL;
        return -1;
    }
    if (loop) {
        cse->expiry_timer = loop_add_timer(loop, cfg->expiry_interval_ms, expiry_tick, cse);
        /* Registered before any binding starts, so that the commit runs
         * before a binding's own before-sleep work. */
        store_batch_enable(cse->store, true);
        loop_before_sleep(loop, commit_round, cse);
    }
    return 0;
}

bool cse_batch_pending(const struct cse *cse)
{
    return cse->store && store_batch_pending(cse->store);
}

int cse_commit(struct cse *cse)
{
    if (!cse->store) return 0;
    int rc = store_batch_commit(cse->store);
    /* A plain transaction may have committed (or failed to commit) the
     * batch meanwhile: held responses learn the outcome either way. */
    if (store_batch_take_failure(cse->store) && !rc) rc = RSC_INTERNAL_SERVER_ERROR;
    if (rc) {
        log_error("group commit failed: the round's changes were rolled back");
        acl_invalidate(cse);              /* it may have cached rolled-back policies */
        store_next_expiry(cse->store, cse->next_expiry);
    }
    for (int i = 0; i < cse->non_commit; i++) cse->on_commit[i].fn(cse->on_commit[i].data, rc == 0);
    return rc;
}

int cse_on_commit(struct cse *cse, cse_commit_fn *fn, void *data)
{
    int max = (int)(sizeof cse->on_commit / sizeof *cse->on_commit);
    if (cse->non_commit == max) return -1;
    cse->on_commit[cse->non_commit].fn = fn;
    cse->on_commit[cse->non_commit++].data = data;
    return 0;
}

/* One parent, current while the store's generation is unchanged. Replaced
 * entries are retired, not freed, because a caller (a hook, an access
 * decision further up the stack) may still read them during the primitive. */
struct parent_cache {
    struct resource *current;
    uint64_t generation;
    struct resource **retired;
    size_t nretired, cap;
    int in_primitive;
};

static void retire(struct parent_cache *pc, struct resource *r)
{
    if (!r) return;
    if (pc->nretired == pc->cap) {
        size_t cap = pc->cap ? pc->cap * 2 : 8;
        struct resource **grown = realloc(pc->retired, cap * sizeof *grown);
        if (!grown) { resource_free(r); return; }   /* only reachable without memory */
        pc->retired = grown;
        pc->cap = cap;
    }
    pc->retired[pc->nretired++] = r;
}

static void free_retired(struct parent_cache *pc)
{
    for (size_t i = 0; i < pc->nretired; i++) resource_free(pc->retired[i]);
    pc->nretired = 0;
}

static struct parent_cache *parent_cache_of(struct cse *cse)
{
    if (!cse->parents) cse->parents = calloc(1, sizeof *cse->parents);
    return cse->parents;
}

struct resource *cse_parent(struct cse *cse, const struct resource *res)
{
    const char *pi = res_pi(res);
    struct parent_cache *pc = parent_cache_of(cse);
    if (!pi || !*pi || !pc) return NULL;
    uint64_t gen = store_generation(cse->store);
    if (pc->current && pc->generation == gen && !strcmp(res_ri(pc->current), pi)) return pc->current;
    if (!pc->in_primitive) free_retired(pc);
    retire(pc, pc->current);
    pc->current = NULL;
    if (store_get(cse->store, pi, &pc->current)) return NULL;
    pc->generation = gen;
    return pc->current;
}

void cse_primitive_begin(struct cse *cse)
{
    struct parent_cache *pc = parent_cache_of(cse);
    if (pc) pc->in_primitive++;
}

void cse_primitive_end(struct cse *cse)
{
    struct parent_cache *pc = cse->parents;
    if (pc && pc->in_primitive > 0 && !--pc->in_primitive) free_retired(pc);
}

static void parent_cache_free(struct cse *cse)
{
    struct parent_cache *pc = cse->parents;
    if (!pc) return;
    free_retired(pc);
    free(pc->retired);
    resource_free(pc->current);
    free(pc);
    cse->parents = NULL;
}

void cse_close(struct cse *cse)
{
    cse->non_commit = 0;       /* the bindings are gone by now */
    cse_commit(cse);
    if (cse->loop && cse->expiry_timer) loop_del_timer(cse->loop, cse->expiry_timer);
    nonblocking_close(cse);
    cse_abandon_deferred(cse); /* before notify_close, which ends their exchanges */
    notify_close(cse);
    parent_cache_free(cse);
    throttle_free(cse->throttle);
    cse->throttle = NULL;
    acl_close(cse);
    store_close(cse->store);
    cse->store = NULL;
}
