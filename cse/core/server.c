/* server_main(): what every server executable of Ironbark runs (m2m-cse
 * and, with their own profiles, the security servers). Settings, signals,
 * descriptors, the CSE with the profile's types and deciders, the
 * listeners, the loop; then everything in reverse. */
#include "server.h"

#include "config.h"
#include "engine.h"
#include "registration.h"
#include "store_tool.h"
#include "metrics.h"
#include "throttle.h"
#include "../base/fd_limit.h"
#include "../base/json_text.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "../base/loop_waits.h"
#include "../wire/coap.h"
#include "../wire/console.h"
#include "../wire/http.h"
#include "../wire/http_binding.h"
#include "../wire/transport.h"
#include "../../security/authz.h"
#include "../../security/cred_admin.h"
#include "../../security/cred_follow.h"
#include "../../security/console_session.h"
#include "../../security/credentials.h"
#include "../../security/enrol_target.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEREGISTRATION_WAIT_MS 2000

static void on_signal(struct loop *loop, int fd, void *data, int mask)
{
    (void)data; (void)mask;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof si) == sizeof si)
        log_info("received %s, shutting down", strsignal((int)si.ssi_signo));
    loop_stop(loop);
}

/* After the group commit: held HTTP(S) responses go out (or their 5000). */
static void release_http(void *srv, bool ok)
{
    http_server_release(srv, ok);
}

/* A withdrawn credential: its HTTPS connections end now. */
static void close_withdrawn(void *srv, const char *credential_id)
{
    int n = http_server_close_credential(srv, credential_id);
    if (n) log_info("closed %d HTTPS connection%s of the withdrawn credential %s", n, n > 1 ? "s" : "", credential_id);
}

/* Each TLS connection starts a handshake: the per-address handshake limit. */
static bool admit_handshake(void *throttle, const char *peer_ip)
{
    return throttle_handshake(throttle, peer_ip);
}

static void https_handshake_failed(void *metrics)
{
    metrics_handshake_failed(metrics, "https");
}

/* The listeners' gauges, which the engine does not own. */
static void listener_metrics(void *limits, struct metrics_text *out)
{
    metrics_head(out, "ironbark_open_connections", "gauge", "Open HTTP and HTTPS connections.");
    metrics_line(out, "ironbark_open_connections{transport=\"http\"} %d", http_limits_open(limits));
}

/* The HTTPS listener: the HTTP server over the wolfSSL transport. */
/* Settings both HTTP listeners share (their connections count together). */
static struct http_options http_options_of(const struct config *cfg, struct http_limits *limits, int port)
{
    return (struct http_options){
        .host = cfg->http_host, .port = port, .reuse_port = cfg->reuse_port, .limits = limits, .max_body = cfg->max_body,
        .idle_timeout_ms = cfg->http_idle_timeout_ms,
        .request_timeout_ms = cfg->http_request_timeout_ms,
    };
}

static struct http_server *start_https(struct loop *loop, const struct config *cfg, struct cse *cse,
                                       const struct transport_module *tm, struct http_limits *limits,
                                       struct tls_server **tls)
{
    *tls = tm->tls_server_create(cfg, cse->creds);
    if (!*tls) return NULL;
    struct http_options opt = http_options_of(cfg, limits, cfg->https_port);
    opt.transport = tm->tls_http_transport();
    opt.transport_data = *tls;
    opt.handshake_timeout_ms = cfg->tls_handshake_timeout_ms;
    opt.admit = admit_handshake;
    opt.admit_data = cse->throttle;
    opt.handshake_failed = https_handshake_failed;
    opt.handshake_failed_data = cse->metrics;
    struct http_server *srv = http_server_start(loop, &opt, http_binding_handle, cse);
    if (srv) log_info("HTTPS on %s:%d", cfg->http_host, http_server_port(srv));
    if (srv) cse_on_commit(cse, release_http, srv);
    if (srv) cse_on_withdraw(cse, close_withdrawn, srv);
    return srv;
}

static void restrict_file(const char *path)
{
    struct stat st;
    if (lstat(path, &st) || !S_ISREG(st.st_mode) || !(st.st_mode & 077)) return;
    unsigned mode = (unsigned)(st.st_mode & 0777);
    if (chmod(path, st.st_mode & 0700))
        log_warn("%s is readable by group or others (mode %04o) and cannot be restricted: %s",
                 path, mode, strerror(errno));
    else
        log_warn("%s was readable by group or others (mode %04o): now owner-only", path, mode);
}

/* Files an earlier version left readable by group or others (it created
 * them under the caller's umask) are made owner-only: they hold the
 * resource tree, the audit trail and keys. */
static void restrict_data_files(const struct config *cfg)
{
    static const char *const db_suffixes[] = { "", "-wal", "-shm", "-journal" };
    static const char *const in_data_dir[] = { "audit.log", "credentials.db", "credentials.db-wal",
                                               "credentials.db-shm", "tls/ca.key", "tls/server.key" };
    char path[600];
    for (size_t i = 0; strcmp(cfg->db_file, ":memory:") && i < sizeof db_suffixes / sizeof *db_suffixes; i++) {
        snprintf(path, sizeof path, "%s%s", cfg->db_file, db_suffixes[i]);
        restrict_file(path);
    }
    for (size_t i = 0; i < sizeof in_data_dir / sizeof *in_data_dir; i++) {
        snprintf(path, sizeof path, "%s/%s", cfg->data_dir, in_data_dir[i]);
        restrict_file(path);
    }
    for (int i = 1; i <= cfg->audit_keep; i++) {   /* rotated audit logs */
        snprintf(path, sizeof path, "%s/audit.log.%d", cfg->data_dir, i);
        restrict_file(path);
    }
}

void server_defaults(struct config *cfg, const char *cse_id, const char *cse_name, const char *data_dir,
                     int http_port, int https_port, int coap_port, int coaps_port)
{
    snprintf(cfg->cse_id, sizeof cfg->cse_id, "%s", cse_id);
    snprintf(cfg->cse_name, sizeof cfg->cse_name, "%s", cse_name);
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", data_dir);
    cfg->http_port = http_port;
    cfg->https_port = https_port;
    cfg->coap_port = coap_port;
    cfg->coaps_port = coaps_port;
}

int server_main(int argc, char **argv, const struct server_profile *profile)
{
    /* Everything the CSE creates (the database and its WAL, the audit log,
     * keys, the credential store) is for its own user only. */
    umask(077);
    json_pool_install();   /* before any JSON value exists */
    if (argc > 1 && !strcmp(argv[1], "credentials")) return cred_admin_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "console-login")) return console_login_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "store")) return store_tool_main(argc - 1, argv + 1);
    struct config cfg;
    config_defaults(&cfg);
    if (profile->defaults) profile->defaults(&cfg);
    cfg.extra = profile->settings;
    int rc = config_parse_args(&cfg, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    log_set_level(cfg.log_level);
    log_set_format(cfg.log_format);
    config_resolve_security(&cfg);
    restrict_data_files(&cfg);

    /* Signals arrive through the loop, so shutdown happens between requests. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    /* Before anything opens files: descriptors bound the connections. */
    long nofile = fd_limit_prepare(&cfg.max_connections);
    struct loop *loop = loop_create((int)nofile);
    struct http_limits *limits = http_limits_create(cfg.max_connections, cfg.max_connections_per_client);
    static struct cse cse;
    if (!loop || !limits || cse_open_with(&cse, &cfg, loop, profile->types)) {
        log_error("cannot start %s", profile->name);
        http_limits_free(limits);
        loop_destroy(loop);
        return 1;
    }
    loop_watch(loop, sfd, LOOP_READABLE, on_signal, NULL);
    metrics_add_source(cse.metrics, listener_metrics, limits);

    /* Every listener, or none: a failure stops the start and unwinds below.
     * HTTPS comes first so that its generated CA exists before any port answers. */
    int status = 1;
    struct http_server *http = NULL, *https = NULL;
    struct tls_server *tls = NULL;
    struct coap_server *coap = NULL;
    /* HTTPS and CoAP(S) live in the transport module: loaded only when one
     * of them is on, so an HTTP-only CSE never maps the TLS libraries. */
    const struct transport_module *tm = NULL;
    bool started = false;
    for (const struct authz_decider *const *d = profile->deciders; d && *d; d++)
        if (authz_add(&cse, *d)) {
            log_error("too many authorization deciders");
            goto out;
        }
    if (profile->on_start && profile->on_start(&cse, profile->data)) {
        log_error("%s: start-up failed", profile->name);
        goto out;
    }
    started = true;
    cse.on_reset = profile->on_reset;
    cse.on_request = profile->on_request;
    cse.on_http = profile->on_http;
    cse.on_reset_data = profile->data;
    if (registration_check_settings(&cse)) goto out;
    if (transport_needed(&cfg) && !(tm = transport_load(&cfg))) goto out;
    /* Credentials serve the secure transports (PSK, trusted CAs) and ESPrim
     * (pairwise keys); the store is still opened when the config provisions
     * some, so that they are imported (and checked) at every start as before. */
    if ((tm || cfg.npsk || cfg.psk_file[0] || cfg.ntrusted_ca || cfg.esprim || cfg.nesprim_key) &&
        !(cse.creds = cred_open_provisioned(&cfg)))
        goto out;
    if (cse.creds && (cred_follow_open(&cse) || enrol_target_open(&cse))) goto out;
    if (cfg.console && !(cse.console = console_sessions_create(cfg.console_session_ttl_s * 1000000LL))) goto out;
    if (cfg.https_port && cfg.security_http != SECURITY_OFF &&
        !(https = start_https(loop, &cfg, &cse, tm, limits, &tls)))
        goto out;
    if (cfg.http_port) {
        struct http_options opt = http_options_of(&cfg, limits, cfg.http_port);
        if (!(http = http_server_start(loop, &opt, http_binding_handle, &cse))) goto out;
        cse_on_commit(&cse, release_http, http);
        log_info("HTTP on %s:%d", cfg.http_host, http_server_port(http));
    }
    int coaps_port = cfg.security_coap != SECURITY_OFF ? cfg.coaps_port : 0;
    if (cfg.coap_port || coaps_port) {
        struct coap_options copt = {
            .host = cfg.coap_host, .port = cfg.coap_port, .max_body = cfg.max_body,
            .max_sessions = cfg.coap_max_sessions, .dedup_entries = 4096, .secure_port = coaps_port,
            .piggyback_ms = cfg.coap_piggyback_ms,
        };
        if (!(coap = tm->coap_server_start(loop, &cse, &copt))) goto out;
        if (cfg.coap_port) log_info("CoAP on %s:%d", cfg.coap_host, cfg.coap_port);
    }
    if (cfg.console && https)
        log_info("web console on https://%s:%d/console/ (log in with: %s console-login)", cfg.tls_server_name,
                 http_server_port(https), profile->name);
    else if (cfg.console)
        log_warn("console = true, but the console is served over HTTPS only and https-port is off");
    if (cfg.upper_tester && !config_is_loopback(cfg.http_host) && !cfg.upper_tester_remote)
        log_warn("upper-tester is off: http-host %s is not loopback (set upper-tester-remote too)", cfg.http_host);
    else if (cfg.upper_tester)
        log_warn("the upper tester is on: POST /__ut__ (Reset removes every resource)");
    if (registration_start(&cse)) goto out;
    char db[sizeof cfg.db_file];
    log_info("%s: CSE %s ('%s') ready, admin originator %s, data in %s", profile->name,
             cse.csi, cfg.cse_name, cfg.admin, store_printable(cfg.db_file, db, sizeof db));
    loop_run(loop);
    status = 0;
    /* A clean stop deregisters, waiting a bounded time for the answer. */
    registration_stop(&cse, DEREGISTRATION_WAIT_MS);
    loop_waits_log();

out:
    /* Primitives still waiting for the database end before their bindings do. */
    cse_settle_fibers(&cse, true);
    console_abandon_logins(&cse);
    if (started && profile->on_stop) profile->on_stop(&cse, profile->data);
    if (coap) tm->coap_server_stop(coap);
    http_server_stop(http);
    http_server_stop(https);
    http_limits_free(limits);
    if (tls) tm->tls_server_free(tls);
    if (cse.creds) enrol_target_close(&cse);
    cred_follow_close(&cse);
    cred_close(cse.creds);
    console_sessions_free(cse.console);
    cse.console = NULL;
    cse_close(&cse);
    loop_destroy(loop);
    close(sfd);
    json_pool_release();
    if (status) return status;
    log_info("stopped");
    return 0;
}
