/* The engine: one CSE instance with its store, settings and event loop.
 * Bindings hand it primitives through cse_dispatch(); nothing else enters. */
#ifndef IRONBARK_CSE_H
#define IRONBARK_CSE_H

#include "config.h"
#include "ident.h"
#include "primitive.h"
#include "resource.h"
#include "../store/store.h"
#include "../../resources/registry.h"

struct loop;
struct acl_state;
struct das_state;
struct maf_key_cache;
struct credentials;
struct console_sessions;
struct notifier;
struct polling;
struct outbound;
struct registration;
struct ae_refs;
struct coap_client;
struct deferral;
struct fiber_call;
struct nb_pending;
struct authz_decider;
struct throttle;
struct fw_trust;
struct esprim_receiver;
struct announcer;
struct metrics;
struct feed;

/* After a group commit: ok = the batch is durable; otherwise it was rolled
 * back and every response that depended on it must become an error. */
typedef void cse_commit_fn(void *data, bool ok);
/* Told when a credential stops being valid (a key the MEF withdrew): the
 * secure bindings close the sessions that authenticated with it. */
typedef void cse_withdraw_fn(void *data, const char *credential_id);

struct http_request;
struct http_response;

struct cse {
    struct config cfg;
    struct registry types;     /* the resource types served (resources/registry.h) */
    struct store *store;
    struct credentials *creds;  /* SAEF credential store; NULL = none */
    struct console_sessions *console; /* web console sessions (security/console_session.h); NULL = off */
    struct loop *loop;
    char csi[66];              /* SP-relative CSE-ID: "/id-in" */
    int64_t expiry_timer;
    int64_t configured_expiry_ms; /* expiry-interval as set at start (cse_set_expiry_interval) */
    char next_expiry[23];      /* earliest et in the store ("" = none) */
    char next_expiry_parsed[23]; /* next_expiry as last parsed into next_expiry_us */
    int64_t next_expiry_us;
    struct acl_state *acl;     /* access control: ACP cache and audit log */
    struct das_state *das;     /* dynamic authorization (security/das.h): caches, trust list */
    struct maf_key_cache *maf_keys; /* keys fetched from the MAF (security/maf_keys.c) */
    /* Authorization: the chain of deciders (security/authz.h), ACP first. */
    const struct authz_decider *deciders[8];
    int ndeciders;
    int fanout_depth;          /* nested <group>/fopt fan-outs now running (group.c) */
    struct notifier *notify;   /* cse/notify.c: subscriptions and delivery */
    struct polling *polling;   /* cse/events/polling.c: polling channels; NULL until first used */
    struct outbound *outbound; /* cse/events/outbound.c: senders, HTTP client, resolver */
    struct announcer *announce; /* cse/events/announce.c: announcements out of step; NULL until used */
    struct registration *registration; /* cse/core/registration.c: at our registrar; NULL = none */
    struct ae_refs *ae_refs;   /* cse/core/ae_refs.c: AE references told to the IN-CSE; NULL until used */
    struct coap_client *coap_client; /* cse/wire/coap_notify.c (transport module): CoAP/DTLS client */
    struct deferral *deferred; /* requests waiting for outside answers (dispatch.c) */
    struct fiber_call *in_fibers; /* primitives running in fibers (a PostgreSQL store, dispatch.c) */
    bool commit_in_fiber;      /* the round's commit waits in a fiber (engine.c) */
    bool expiry_in_fiber;      /* the expiry sweep waits in a fiber (engine.c) */
    /* Closing or resetting from the main context: store work outside
     * primitives runs in place, so that no fiber outlives what the close
     * frees (store_job.c). */
    bool store_fibers_off;
    /* Store jobs held while an upper tester Reset waits (store_job.h). */
    struct { struct store_job *head, **tail; bool on; } held_jobs;
    struct console_login *console_logins; /* code checks waiting in fibers (cse/wire/console.c) */
    struct cse_reset *reset;   /* a Reset under way in a fiber (engine.c); NULL = none */
    struct nb_pending *nb_unstarted; /* rt 1/2 requests not yet started (nonblocking.c) */
    struct parent_cache *parents;    /* cse_parent(); NULL until first used */
    struct throttle *throttle;       /* rate limits the bindings ask (cse/throttle.h) */
    struct metrics *metrics;         /* operator counters, request log (cse/metrics.h) */
    struct feed *feed;               /* changes other front-ends commit (cse/core/feed.h); NULL = unshared store */
    int64_t started_us;              /* when it opened (the health endpoint's uptime) */
    /* What a resource type keeps in memory (a timeSeries' missing-data
     * timers), one slot per registered type (cse_type_state()); the type
     * frees it in its on_cse_stop hook, or the server serving the type in
     * its on_stop (m2m-ppm's option 0, ppm/option0.c). */
    void *type_state[REGISTRY_MAX];
    struct fw_trust *fw_trust;       /* firmware-trust keys (security/firmware_sig.h); NULL = unset */
    struct esprim_receiver *esprim;  /* ESPrim nonces and sessions (security/esprim.h); NULL until used */
    /* After cse_reset(): what a server profile recreates (server.h on_reset). */
    int (*on_reset)(struct cse *cse, void *data);
    void *on_reset_data;
    /* A server's own endpoints outside the resource tree (server.h
     * on_request): -1 = not its own, else the RSC it answered. */
    int (*on_request)(struct cse *cse, const struct m2m_request *req, struct m2m_response *rsp);
    /* Plain HTTP(S) endpoints of a server (server.h on_http): true when answered. */
    bool (*on_http)(struct cse *cse, const struct http_request *h, struct http_response *out);
    /* Group commit (cse_commit): told after every batch commit. */
    struct { cse_commit_fn *fn; void *data; } on_commit[8];
    int non_commit;
    struct { cse_withdraw_fn *fn; void *data; } on_withdraw[4];
    int non_withdraw;
};

/* Group commit. With a loop, the writes of all primitives executed in one
 * loop round share one store transaction (each primitive in its own
 * savepoint), committed by a before-sleep hook. Bindings must not send a
 * response while cse_batch_pending() (it may show uncommitted writes): they
 * hold it until the commit callback (cse_on_commit) or commit at once with
 * cse_commit(), which returns 0 or RSC_INTERNAL_SERVER_ERROR (the batch was
 * rolled back). */
bool cse_batch_pending(const struct cse *cse);
/* The in-memory state slot of the type numbered ty (NULL: not registered). */
void **cse_type_state(struct cse *cse, int ty);
int cse_commit(struct cse *cse);
int cse_on_commit(struct cse *cse, cse_commit_fn *fn, void *data);
/* Forgets a callback registered with cse_on_commit (a binding that stops). */
void cse_off_commit(struct cse *cse, cse_commit_fn *fn, void *data);

/* Withdrawn credentials: bindings register (-1 when full); security code
 * announces one ("12-<KpsaID>") and every registered binding is told. */
int cse_on_withdraw(struct cse *cse, cse_withdraw_fn *fn, void *data);
void cse_credential_withdrawn(struct cse *cse, const char *credential_id);

/* Opening and closing: cse/engine.h. */

/* Executes one request primitive and fills the response. Never fails to
 * answer: every error becomes an RSC with an m2m:dbg message. */
void cse_dispatch(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp);

/* Like cse_dispatch, but a request that needs outside answers first (the
 * verification of a new subscription's targets) may be deferred: then it
 * returns 1 and later calls done(data) from the loop, with rsp filled; req
 * and rsp must stay alive until then. Returns 0 when rsp is already final. */
typedef void cse_done_fn(void *data);
/* abandon(data) replaces done when the CSE closes first: rsp is then not
 * filled, and the caller only releases what it holds. */
int cse_dispatch_async(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp,
                       cse_done_fn *done, cse_done_fn *abandon, void *data);
/* One way back in: work the CSE does on its own behalf (the exc countdown,
 * group fan-out, non-blocking execution) re-enters as a primitive submitted
 * with an explicit principal: the CSE itself (granted everything), or an
 * originator with the security association its original request came with
 * (judged like that request). Never inferred from empty fields. */
enum principal_kind { PRINCIPAL_CSE, PRINCIPAL_ORIGINATOR };
struct cse_principal {
    enum principal_kind kind;
    const char *originator;            /* PRINCIPAL_ORIGINATOR */
    const struct m2m_security *sec;    /* PRINCIPAL_ORIGINATOR: NULL = none */
};
/* Runs req for who. With done NULL it answers at once (req->cont as the
 * caller set it) and returns 0; else as cse_dispatch_async(). */
int cse_submit(struct cse *cse, const struct cse_principal *who, struct m2m_request *req,
               struct m2m_response *rsp, cse_done_fn *done, cse_done_fn *abandon, void *data);

/* A DELETE of the resource ri that the CSE submits for itself (an expiration
 * counter at zero, a contentInstance's dcnt used up), with the delete hooks
 * and notifications of any DELETE; tag names it in the request ID. Returns
 * the RSC (2002 when deleted). Not inside a transaction of the caller's. */
int cse_delete_itself(struct cse *cse, const char *ri, const char *tag);
/* Any primitive the CSE runs on itself, synchronously, with the CSE's own
 * rights and every hook and notification a request would have: op on `to`
 * (ty for a CREATE, else 0), pc taken over (NULL for none), rqi naming the
 * feature in logs and request IDs, rcn nothing. rsp is initialised here and
 * the caller clears it. Returns rsp->rsc. Not inside a caller's transaction. */
int cse_run_itself(struct cse *cse, int op, int ty, const char *to, const char *rqi, json_t *pc,
                   struct m2m_response *rsp);

/* At shutdown: every deferred request is abandoned (see above). */
void cse_abandon_deferred(struct cse *cse);
/* At a reset (cse_reset): every deferred request is answered rsc (why) now. */
void cse_fail_deferred(struct cse *cse, int rsc, const char *why);
/* Primitives waiting in fibers for a store that waits for a server
 * (store_fiber_lock()): with abandon, the one holding the store runs to its
 * end (blocking) and all are abandoned; else all run to their end. From the
 * main context; before anything they use is closed. */
void cse_settle_fibers(struct cse *cse, bool abandon);
/* A Reset waiting in a fiber (cse_reset_async) tells nobody of its end. */
void cse_abandon_reset(struct cse *cse);
/* Store work outside primitives (timers, answers): cse/core/store_job.h. */

/* What a resource hook returns when it asked for work through
 * req->cont->wanted: the dispatcher rolls back and runs the request again
 * once that work is done. Never an RSC. */
#define DISPATCH_PENDING 1

/* Removing resources: cse/removal.h; expiry: cse/expiry.h. */
/* Tells the engine about an et just stored, so the next sweep is not late. */
void cse_note_expiry(struct cse *cse, const char *et);

/* The parent of res (NULL for the CSEBase or when it is gone), read from
 * the store at most once while the store does not change: access control
 * (types without acpi take their parent's) and the retrieve hooks both need
 * it for the same request, and a discovery asks for the same container for
 * each of its instances. The result belongs to the cache: read it, do not
 * modify or free it. It stays valid until the current primitive has been
 * answered (cse_dispatch), or, outside a primitive, until the next
 * cse_parent() call. */
struct resource *cse_parent(struct cse *cse, const struct resource *res);

/* Bracket one primitive's execution (cse_dispatch does): parents read by
 * cse_parent() meanwhile stay valid until the end. Nests. */
void cse_primitive_begin(struct cse *cse);
void cse_primitive_end(struct cse *cse);

/* Frees the parent cache (at close). */
void cse_forget_parents(struct cse *cse);

/* {"<wire key>": attrs} for a resource: its type's key, or its own
 * specialisation's (registry.h type_key). */
json_t *representation(const struct cse *cse, const struct resource *res, json_t *attrs);

/* Generates a fresh identifier: prefix followed by random alphanumerics. */
void cse_new_id(const char *prefix, char *out, size_t cap);

/* This CSE's SP-ID and CSE-ID, for comparing originators (cse/ident.h). */
struct ident_home cse_home(const struct cse *cse);

#endif
