/* The composition of one CSE: opening the store and the CSEBase, then the
 * modules around the core (access control, rate limits, notifications,
 * expiry), and closing them in reverse. Only executables and tests include
 * engine.h; every module includes cse.h, so none depends on the others
 * through the CSE. */
#include "engine.h"

#include "../base/clock.h"
#include "../base/fiber.h"
#include "ae_refs.h"
#include "expiry.h"
#include "feed.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/loop_waits.h"
#include "nonblocking.h"
#include "../events/announce.h"
#include "../events/notify.h"
#include "../events/polling.h"
#include "metrics.h"
#include "rsc.h"
#include "store_job.h"
#include "throttle.h"
#include "../../security/firmware_sig.h"
#include "../../resources/registry.h"
#include "../../security/acl.h"
#include "../../security/das.h"
#include "../../security/esprim.h"
#include "../../security/maf_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    /* Configured: what a CSE behind 0.0.0.0, a NAT or a proxy is reached by. */
    for (int i = 0; i < cfg->npublic_poa; i++) json_array_append_new(poa, json_string(cfg->public_poa[i]));
    if (cfg->npublic_poa) return poa;
    add_poa(poa, "http", cfg->http_host, cfg->http_port);
    add_poa(poa, "https", cfg->http_host, cfg->security_http != SECURITY_OFF ? cfg->https_port : 0);
    add_poa(poa, "coap", cfg->coap_host, cfg->coap_port);
    add_poa(poa, "coaps", cfg->coap_host, cfg->security_coap != SECURITY_OFF ? cfg->coaps_port : 0);
    return poa;
}

/* A comma- or space-separated list setting as a list attribute of the
 * CSEBase (absent when empty). */
static void set_id_list(struct resource *base, const char *sn, const char *setting)
{
    json_t *ids = json_array();
    char list[512];
    snprintf(list, sizeof list, "%s", setting);
    for (char *save = NULL, *id = strtok_r(list, ", ", &save); id; id = strtok_r(NULL, ", ", &save))
        json_array_append_new(ids, json_string(id));
    if (json_array_size(ids)) json_object_set_new(base->attrs, sn, ids);
    else { json_object_del(base->attrs, sn); json_decref(ids); }
}

/* Creates the CSEBase on first start; afterwards refreshes what follows from
 * the configuration (types, points of access, acpi, daci). */
static int ensure_cse_base(struct cse *cse)
{
    const struct config *cfg = &cse->cfg;
    struct resource *base = NULL;
    int rc = store_get(cse->store, cfg->cse_id, &base);
    if (rc && rc != RSC_NOT_FOUND) return rc;
    char db[sizeof cfg->db_file];
    store_printable(cfg->db_file, db, sizeof db);   /* a URI's password never logged */
    if (base && strcmp(res_rn(base), cfg->cse_name)) {
        log_error("the store at %s belongs to CSEBase '%s', not '%s'", db,
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
    /* The serializations this CSE reads and writes, as media types (TS-0004 m2m:serializations). */
    json_object_set_new(base->attrs, "csz", json_pack("[s,s]", "application/json", "application/cbor"));
    json_object_set_new(base->attrs, "srv", json_pack("[s,s,s]", "2a", "3", "4"));
    /* The CSEBase's acpi and daci are read-only over the API and set by configuration. */
    set_id_list(base, "acpi", cfg->cse_acpi);
    set_id_list(base, "daci", cfg->cse_daci);
    /* esi: ESPrim with pre-provisioned keys when served; no esro, so an
     * Originator asks for a nonce object (sit 3). */
    if (cfg->esprim) json_object_set_new(base->attrs, "esi", json_pack("{s:[i]}", "esf", ESPRIM_SUID_PROVISIONED));
    else json_object_del(base->attrs, "esi");
    rc = store_begin(cse->store);
    if (!rc) rc = fresh ? store_insert(cse->store, base) : store_update(cse->store, base);
    /* A shared store: another front-end may have made it meanwhile (the
     * caller tries again, then finds it). */
    if (rc == RSC_CONFLICT && !(fresh && store_shared(cse->store)))
        log_error("the store at %s already holds a CSEBase '%s' under another CSE-ID than '%s'",
                  db, cfg->cse_name, cfg->cse_id);
    if (!rc) rc = store_commit(cse->store);
    else store_rollback(cse->store);
    resource_free(base);
    if (!rc && fresh) log_info("created CSEBase '%s' (%s)", cfg->cse_name, cse->csi);
    return rc;
}

/* What start-up makes, in one place for the start and an upper tester Reset:
 * the CSEBase, then the system resources the types hold (defaultNTP). */
static int make_start_resources(struct cse *cse)
{
    int rc = ensure_cse_base(cse);
    for (int i = 0; !rc && i < cse->types.n; i++)
        if (cse->types.types[i]->on_cse_start) rc = cse->types.types[i]->on_cse_start(cse);
    return rc;
}

/* Front-ends of a shared store starting together race to make the same
 * resources: the loser of a name finds the winner's copy the second time. */
static int ensure_start_resources(struct cse *cse)
{
    int rc = make_start_resources(cse);
    if ((rc == RSC_CONFLICT || rc == RSC_ALREADY_EXISTS) && store_shared(cse->store)) {
        log_info("start-up resources were made by another front-end meanwhile: reading them");
        rc = make_start_resources(cse);
        char db[sizeof cse->cfg.db_file];
        if (rc == RSC_CONFLICT)
            log_error("the store at %s already holds a CSEBase '%s' under another CSE-ID than '%s'",
                      store_printable(cse->cfg.db_file, db, sizeof db), cse->cfg.cse_name, cse->cfg.cse_id);
    }
    return rc;
}

/* With a store that waits for a server, the sweep and the round's commit
 * wait in fibers too, holding the store's lock like a primitive. */
static void expire_in_fiber(void *data)
{
    struct cse *cse = data;
    if (fiber_lock_acquire(store_fiber_lock(cse->store))) cse_expire_now(cse);
    cse->expiry_in_fiber = false;
}

static int64_t expiry_tick(struct loop *loop, int64_t id, void *data)
{
    (void)id;
    struct cse *cse = data;
    if (!store_fiber_lock(cse->store)) {
        cse_expire_now(cse);
    } else if (!cse->expiry_in_fiber) {   /* else the last sweep still waits */
        cse->expiry_in_fiber = true;
        if (fiber_start(loop, expire_in_fiber, cse) < 0) expire_in_fiber(cse);
    }
    return cse->cfg.expiry_interval_ms;
}

static void commit_in_fiber(void *data)
{
    struct cse *cse = data;
    if (fiber_lock_acquire(store_fiber_lock(cse->store))) cse_commit(cse);
    cse->commit_in_fiber = false;
}

/* The loop round is over: its writes become durable together. A primitive
 * waiting mid-way holds the store (its writes are not all made): the round
 * in which it finishes commits. Nothing to commit costs no round trip. */
static void commit_round(struct loop *loop, void *data)
{
    struct cse *cse = data;
    struct fiber_lock *lock = store_fiber_lock(cse->store);
    if (!lock) {
        cse_commit(cse);
        return;
    }
    if (cse->commit_in_fiber || fiber_lock_busy(lock)) return;
    /* A batch that a plain transaction failed to commit meanwhile has its
     * next expiry read again (cse_commit()): a round trip, in the fiber. */
    if (!cse_batch_pending(cse) && !store_batch_failed(cse->store)) {
        cse_commit(cse);       /* no COMMIT: only the held answers are told */
        return;
    }
    cse->commit_in_fiber = true;
    if (fiber_start(loop, commit_in_fiber, cse) < 0) commit_in_fiber(cse);
}

static long long file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : (long long)st.st_size;
}

/* What the engine's other modules count, for the metrics (cse/metrics.h). */
static void module_metrics(void *data, struct metrics_text *out)
{
    struct cse *cse = data;
    static const char *const throttle_names[THROTTLE_KINDS] = { "address", "originator", "credential", "handshake" };
    metrics_head(out, "ironbark_rate_limited_total", "counter", "Requests and handshakes refused by a rate limit, by key.");
    for (int k = 0; k < THROTTLE_KINDS; k++)
        metrics_line(out, "ironbark_rate_limited_total{key=\"%s\"} %lld", throttle_names[k],
                     throttle_refused(cse->throttle, (enum throttle_kind)k));

    struct notify_stats ns = { 0 };
    notify_get_stats(cse, &ns);
    metrics_head(out, "ironbark_notification_queue_depth", "gauge", "Notifications waiting or in flight.");
    metrics_line(out, "ironbark_notification_queue_depth %lld", (long long)ns.pending);
    metrics_head(out, "ironbark_notification_queue_bytes", "gauge", "Bytes the notification queues hold.");
    metrics_line(out, "ironbark_notification_queue_bytes %zu", ns.bytes);
    metrics_head(out, "ironbark_notifications_dropped_total", "counter", "Notifications dropped by a queue's byte bound.");
    metrics_line(out, "ironbark_notifications_dropped_total %llu", (unsigned long long)ns.dropped);
    metrics_head(out, "ironbark_notifications_total", "counter", "Notifications by outcome.");
    metrics_line(out, "ironbark_notifications_total{outcome=\"queued\"} %llu", (unsigned long long)ns.queued);
    metrics_line(out, "ironbark_notifications_total{outcome=\"delivered\"} %llu", (unsigned long long)ns.delivered);
    metrics_line(out, "ironbark_notifications_total{outcome=\"failed\"} %llu", (unsigned long long)ns.failed);

    metrics_head(out, "ironbark_store_bytes", "gauge", "Size of the store's database file and its write-ahead log.");
    char wal[sizeof cse->cfg.db_file + 8];
    snprintf(wal, sizeof wal, "%s-wal", cse->cfg.db_file);
    bool on_disk = strcmp(cse->cfg.db_file, ":memory:") != 0;
    metrics_line(out, "ironbark_store_bytes{file=\"db\"} %lld", on_disk ? file_bytes(cse->cfg.db_file) : 0);
    metrics_line(out, "ironbark_store_bytes{file=\"wal\"} %lld", on_disk ? file_bytes(wal) : 0);

    /* A store that waits for a server (PostgreSQL): how often the loop waited for it. */
    struct fiber_lock *lock = store_fiber_lock(cse->store);
    metrics_head(out, "ironbark_store_lock_driven_total", "counter",
                 "Times the main context finished a fiber holding the store, blocking the loop.");
    metrics_line(out, "ironbark_store_lock_driven_total %llu", (unsigned long long)(lock ? lock->driven : 0));
    metrics_head(out, "ironbark_store_waits_outside_fiber_total", "counter",
                 "Database round trips waited for outside a fiber, blocking the loop (after start-up).");
    metrics_line(out, "ironbark_store_waits_outside_fiber_total %llu",
                 (unsigned long long)store_waits_outside_fiber(cse->store));
    /* Where: the resource and credential stores' waits, by the functions that asked. */
    size_t n_sites;
    const struct loop_wait_site *sites = loop_wait_sites(&n_sites);
    metrics_head(out, "ironbark_loop_waits_total", "counter",
                 "Times the event loop waited itself after start-up (a database round trip outside a fiber, a fiber "
                 "driven to its end), by kind and site.");
    for (size_t i = 0; i < n_sites; i++)
        metrics_line(out, "ironbark_loop_waits_total{kind=\"%s\",site=\"%s\"} %llu",
                     loop_wait_kind_name(sites[i].kind), sites[i].site, (unsigned long long)sites[i].count);
    metrics_head(out, "ironbark_feed_changes_total", "counter",
                 "Changes committed by other front-ends of the shared database, applied here.");
    metrics_line(out, "ironbark_feed_changes_total %llu", (unsigned long long)feed_applied(cse));
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
        if (registry_add(&cse->types, *t) && registry_replace(&cse->types, *t)) {
            log_error("resource type %d (%s) cannot be added: its number or key is taken", (*t)->ty, (*t)->key);
            return -1;
        }
    cse->cfg = *cfg;
    cse->configured_expiry_ms = cfg->expiry_interval_ms;
    cse->loop = loop;
    snprintf(cse->csi, sizeof cse->csi, "/%s", cfg->cse_id);
    if (strcmp(cfg->db_file, ":memory:") && mkdir_p(cfg->data_dir)) {
        log_error("cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    cse->started_us = clock_now_us();
    if (store_open(&cse->store, cfg->db_file, (enum store_sync)cfg->sync)) return -1;
    if (ensure_start_resources(cse) || acl_open(cse)) {
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
    if (feed_open(cse)) log_warn("feed: out of memory: changes of other front-ends are not followed");
    /* Without it (out of memory) the CSE serves on, uncounted. */
    cse->metrics = metrics_new();
    metrics_add_source(cse->metrics, module_metrics, cse);
    return 0;
}

void **cse_type_state(struct cse *cse, int ty)
{
    for (int i = 0; i < cse->types.n; i++)
        if (cse->types.types[i]->ty == ty) return &cse->type_state[i];
    return NULL;
}

/* The types' in-memory state (their timers) goes before the store does. */
static void stop_types(struct cse *cse)
{
    for (int i = 0; i < cse->types.n; i++)
        if (cse->types.types[i]->on_cse_stop) cse->types.types[i]->on_cse_stop(cse);
}

void cse_close(struct cse *cse)
{
    cse_settle_fibers(cse, true);
    cse->non_commit = 0;       /* the bindings are gone by now */
    cse_commit(cse);
    if (cse->loop && cse->expiry_timer) loop_del_timer(cse->loop, cse->expiry_timer);
    feed_close(cse);
    stop_types(cse);
    nonblocking_close(cse);
    announce_close(cse);
    ae_refs_close(cse);
    cse_abandon_deferred(cse); /* before notify_close, which ends their exchanges */
    polling_close(cse);        /* before notify_close: its requests belong to notify's queues */
    notify_close(cse);
    cse_forget_parents(cse);
    throttle_free(cse->throttle);
    cse->throttle = NULL;
    das_close(cse);
    fw_trust_free(cse->fw_trust);
    cse->fw_trust = NULL;
    esprim_receiver_free(cse->esprim);
    cse->esprim = NULL;
    maf_keys_clear(cse);
    acl_close(cse);
    store_close(cse->store);
    cse->store = NULL;
    metrics_free(cse->metrics);
    cse->metrics = NULL;
}

/* --- reset ------------------------------------------------------------------ */

struct children { struct resource **v; size_t n, cap; };

static int collect_child(struct resource *res, void *data)
{
    struct children *c = data;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct resource **v = realloc(c->v, cap * sizeof *v);
        if (!v) return RSC_INTERNAL_SERVER_ERROR;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = resource_dup(res);
    return 0;
}

/* One transaction: the store holds the CSEBase alone, or nothing changed. */
static int remove_below_base(struct cse *cse)
{
    struct children c = { 0 };
    int rc = store_begin(cse->store);
    if (!rc) rc = store_children(cse->store, cse->cfg.cse_id, 0, collect_child, &c);
    for (size_t i = 0; !rc && i < c.n; i++) rc = store_delete_subtree(cse->store, c.v[i], NULL, NULL);
    if (!rc) rc = store_commit(cse->store);
    else store_rollback(cse->store);
    for (size_t i = 0; i < c.n; i++) resource_free(c.v[i]);
    free(c.v);
    return rc;
}

int cse_reset(struct cse *cse)
{
    /* What this round wrote so far is settled first: the reset stands alone. */
    cse_settle_fibers(cse, false);
    if (cse_commit(cse)) return RSC_INTERNAL_SERVER_ERROR;
    /* What the modules' closing below sets off runs in place (in the
     * reset's fiber it does anyway; from the main context it blocks). */
    bool fibers_off = cse->store_fibers_off;
    if (!fiber_current()) cse->store_fibers_off = true;
    cse_fail_deferred(cse, RSC_INTERNAL_SERVER_ERROR, "the CSE was reset while the request waited");
    nonblocking_close(cse);
    announce_close(cse);
    ae_refs_close(cse);
    polling_close(cse);
    stop_types(cse);
    notify_close(cse);          /* queues, batches and exchanges in flight end here */
    int rc = remove_below_base(cse);
    if (rc) log_error("reset: the resources could not be removed (%d)", rc);
    if (!rc) rc = ensure_start_resources(cse);
    acl_invalidate(cse);
    das_forget(cse);
    cse_forget_parents(cse);
    cse->next_expiry[0] = 0;
    store_next_expiry(cse->store, cse->next_expiry);
    if (!cse->throttle) cse->throttle = throttle_new(&cse->cfg, acl_audit_log(cse));
    else throttle_clear(cse->throttle, &cse->cfg, acl_audit_log(cse));
    if (notify_open(cse) && !rc) rc = RSC_INTERNAL_SERVER_ERROR;
    cse->store_fibers_off = fibers_off;
    if (!rc && cse->on_reset && cse->on_reset(cse, cse->on_reset_data)) rc = RSC_INTERNAL_SERVER_ERROR;
    if (!rc) log_info("reset: CSEBase '%s' is as at start-up", cse->cfg.cse_name);
    return rc;
}

/* A Reset waiting in a fiber: who hears of its end. */
struct cse_reset {
    cse_reset_done_fn *done;
    cse_done_fn *abandon;
    void *data;
    int rc;                    /* when it ended without yielding */
    bool abandoned;            /* the CSE closes: nobody to tell */
};

/* Queued on the store's lock like a primitive, it gets the store once the
 * primitives and jobs before it finished; primitives after it queue behind
 * it and see the tree reset. Jobs the loop starts meanwhile are held and
 * run here before the modules close (store_job.h). */
static void reset_in_fiber(void *data)
{
    struct cse *cse = data;
    struct cse_reset *r = cse->reset;
    bool held = fiber_lock_acquire(store_fiber_lock(cse->store)) && !r->abandoned;
    cse_release_store_jobs(cse, held);
    int rc = held ? cse_reset(cse) : RSC_INTERNAL_SERVER_ERROR;
    cse->reset = NULL;
    if (!fiber_has_yielded()) {
        r->rc = rc;
        return;
    }
    if (r->abandoned) r->abandon(r->data);
    else r->done(r->data, rc);
    free(r);
}

int cse_reset_async(struct cse *cse, cse_reset_done_fn *done, cse_done_fn *abandon, void *data)
{
    struct cse_reset *r = NULL;
    if (cse->loop && store_fiber_lock(cse->store) && !fiber_current() && !cse->reset && !cse->store_fibers_off)
        r = malloc(sizeof *r);
    if (!r) return cse_reset(cse);
    *r = (struct cse_reset){ done, abandon, data, 0, false };
    cse->reset = r;
    cse_hold_store_jobs(cse);
    int started = fiber_start(cse->loop, reset_in_fiber, cse);
    if (started == 1) return -1;
    int rc = r->rc;
    if (started < 0) {         /* no fiber to be had: as from the main context */
        cse->reset = NULL;
        cse_release_store_jobs(cse, true);
        rc = cse_reset(cse);
    }
    free(r);
    return rc;
}

void cse_abandon_reset(struct cse *cse)
{
    if (cse->reset) cse->reset->abandoned = true;
}

void cse_set_expiry_interval(struct cse *cse, int64_t ms)
{
    cse->cfg.expiry_interval_ms = ms > 0 ? ms : cse->configured_expiry_ms;
    if (!cse->loop) return;
    if (cse->expiry_timer) loop_del_timer(cse->loop, cse->expiry_timer);
    cse->expiry_timer = loop_add_timer(cse->loop, cse->cfg.expiry_interval_ms, expiry_tick, cse);
}
