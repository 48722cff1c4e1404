/* Settings: embedded defaults, then a config file, then command-line flags. */
#ifndef IRONBARK_CONFIG_H
#define IRONBARK_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_LIST 16
/* cse-type values (TS-0004 m2m:cseTypeID). */
#define CSE_TYPE_IN 1

/* Per-binding SAEF policy: off = no secure transport; optional = secured
 * connections are bound to their credential, plain ones served as before;
 * required = only requests over an authenticated credential are served. */
/* SECURITY_AUTO, the default, is resolved at start by config_resolve_security():
 * optional on a loopback listener, required on any other. */
enum config_security { SECURITY_OFF = 0, SECURITY_OPTIONAL = 1, SECURITY_REQUIRED = 2, SECURITY_AUTO = 3 };

/* A token bucket: `rate` per second, at most `burst` at once; rate 0 = no limit. */
struct config_rate { int rate, burst; };

/* A setting a server profile adds (cse/core/server.h): parsed by its own
 * function, listed in --help after the engine's. */
struct config_extra {
    const char *name;
    const char *help;
    int (*set)(void *data, const char *value, char *err, int errlen);
    void *data;
};

struct config {
    const struct config_extra *extra;   /* NULL-terminated by name; NULL = none */
    char cse_id[64];          /* without the leading '/': "id-in" */
    char cse_name[64];        /* CSEBase resourceName: "cse-in" */
    char sp_id[128];          /* SP domain for absolute addressing */
    char admin[64];           /* admin originator: "CAdmin" */
    int cse_type;             /* 1 IN, 2 MN, 3 ASN */
    char data_dir[256];       /* "./var" */
    char db_file[300];        /* derived from data_dir unless set */
    char http_host[64];
    int http_port;
    bool reuse_port;          /* SO_REUSEPORT on the HTTP(S) listeners: front-ends share a port */
    char coap_host[64];
    int coap_port;            /* UDP; 0 = CoAP off */
    int coaps_port;           /* UDP, DTLS; 0 = CoAPS off */
    int64_t coap_piggyback_ms; /* a deferred CoAP answer ready within this rides on the ACK */
    int coaps_session_cache;  /* DTLS sessions kept for resumption; 0 = none */
    int coaps_handshake_timeout_ms;   /* a server DTLS handshake still open after it is ended */
    int coap_max_sessions;    /* idle CoAP/CoAPS peer sessions libcoap keeps */
    int sync;                 /* enum store_sync */
    int log_level;
    int log_format;           /* enum log_format: text or json lines */
    int64_t max_body;         /* bytes */
    int max_connections;      /* HTTP and HTTPS together */
    int max_connections_per_client; /* from one source address */
    int http_idle_timeout_ms; /* close an HTTP(S) connection silent this long */
    int http_request_timeout_ms; /* a request must be complete this long after its first byte */
    int64_t default_et_s;     /* default lifetime of a resource, seconds */
    int64_t expiry_interval_ms;
    int64_t notify_target_bytes; /* notification queue bound per target */
    int64_t notify_total_bytes;  /* ... and for everything the notifier holds */
    int notify_drop_report_s;    /* drops are summed up in one log line this often */
    int64_t pch_poll_timeout_ms;    /* a pcu long poll without rqet waits this long */
    int64_t pch_request_timeout_ms; /* a request queued at a polling channel waits this long */
    int64_t pch_queue;              /* requests waiting per polling channel; oldest dropped beyond */
    int64_t pch_max_polls;          /* long polls parked at once, all channels */
    bool strict_query;        /* unknown query keys -> 4000 */
    int64_t audit_max_bytes;  /* audit log rotation size, 0 = never rotate */
    int audit_keep;           /* rotated audit logs kept */
    bool audit_grants;        /* every granted request is audited too (a PPM's access log) */
    char cse_acpi[512];       /* CSEBase acpi: comma-separated ACP IDs, "" = none */
    char cse_daci[512];       /* CSEBase daci: comma-separated <dac> IDs, "" = none */
    /* Secure transports and SAEF (security/, docs/security.md). */
    int https_port;           /* 0 = off (default 8443) */
    char tls_cert[256];       /* server certificate chain, PEM; empty = generated */
    char tls_key[256];        /* its private key, PEM */
    char tls_server_name[128];/* SNI host name and certificate DNS name */
    char tls_extra_names[512];/* more DNS names and IP addresses for the generated certificate */
    int tls_handshake_timeout_ms;
    int security_http;        /* enum config_security, for HTTP and HTTPS */
    int security_coap;        /* enum config_security, for CoAP and CoAPS */
    char psk[CONFIG_MAX_LIST][320];        /* "identity:hexkey:originators" (config file only) */
    int npsk;
    char psk_file[256];       /* one psk entry a line; owner-only (security/cred_admin.c) */
    char trusted_ca[CONFIG_MAX_LIST][256]; /* PEM files trusted for client certs */
    int ntrusted_ca;
    /* Enrolment: m2m-mef's own MEF-FQDN; in m2m-cse the MEF whose KeIDs
     * (<hex>@<mef-fqdn>) it accepts, fetching their keys from mef_url. */
    char crl_file[256];       /* CRL(s), PEM, for HTTPS and CoAPS client certificates; "" = none */
    char mef_fqdn[128];
    char mef_url[256];
    /* The SUID of the key fetched for a KeID: 22 (Kpsa, for an SAEF at a CSE);
     * m2m-maf's profile sets 21 (Km: MEF-provisioned MAF clients). Not a setting. */
    int mef_fetch_suid;
    int mef_recheck_ms;       /* how often each key lent by the MEF (or MAF) is asked about again */
    /* MAF-based SAEF: m2m-maf's own MAF-FQDN; in m2m-cse the MAF whose Key
     * Identifiers (<hex KcID>@<maf-fqdn>) it accepts, retrieving Kc from maf_url. */
    char maf_fqdn[128];
    char maf_url[256];
    /* CSE-to-CSE (docs/cse-to-cse.md): an MN/ASN-CSE's registrar, registered
     * with at start-up; "" = none (an IN-CSE, or a CSE registering nowhere). */
    char registrar_url[256];  /* the registrar CSE's base URL (its poa), http(s):// or coap(s):// */
    char registrar_csi[64];   /* its CSE-ID, "/id-in" */
    /* The URLs others reach this CSE by (CSEBase poa, sent when registering);
     * none = one per listener, from its host (unusable when that is 0.0.0.0). */
    char public_poa[CONFIG_MAX_LIST][256];
    int npublic_poa;
    int registration_check_ms; /* how often the registration is checked (and refreshed) */
    int registration_retry_max_ms; /* the back-off's ceiling while the registrar does not answer */
    char outbound_cert[256];  /* client certificate chain (PEM) for https:// targets; "" = none */
    char outbound_key[256];   /* its private key, PEM */
    char outbound_psk[CONFIG_MAX_LIST][200]; /* "host:port=identity": coaps:// targets' PSK */
    int noutbound_psk;
    char dns_servers[256];    /* "host[:port],..." for outbound name lookups; "" = resolv.conf */
    char transport_module[512]; /* ironbark-transports.so; "" = beside the executable */
    char jose_module[512];    /* ironbark-jose.so (tokens); "" = beside the executable */
    char firmware_trust[256]; /* JWK Set of firmware signing keys; "" = firmware not signature-checked */
    /* ESPrim as a Receiver (security/esprim.h, docs/end-to-end-security.md). */
    bool esprim;              /* serve sealed primitives; the CSEBase's esi says so */
    int esprim_nonce_lifetime_s; /* receiver nonce objects (sit 4) live this long */
    char esprim_key[CONFIG_MAX_LIST][320]; /* "keyid:hexkey:originators" (config file only) */
    int nesprim_key;
    /* Rate limits (cse/throttle.h, docs/security.md "Rate limiting"). */
    struct config_rate rate_address;     /* requests per source address */
    struct config_rate rate_originator;  /* requests per originator */
    struct config_rate rate_credential;  /* requests per authenticated credential */
    struct config_rate rate_handshake;   /* TLS and DTLS handshakes per source address */
    bool rate_limit_loopback;            /* limit loopback peers too (default: exempt) */
    int rate_limit_entries;              /* keys remembered per kind */
    /* The upper tester (POST /__ut__, cse/wire/upper_tester.h): off unless
     * upper_tester; on a non-loopback http-host only with upper_tester_remote too. */
    char das_default[512];    /* DAS consulted where no daci names an enabled <dac>; "" = none */
    int das_timeout_ms;       /* a consultation, role check or token fetch waits this long */
    char token_trust_file[256]; /* token issuers trusted: {"issuers":[{"iss","jwk"}]}; "" = none */
    int das_cache_size;       /* DAS decisions, role checks and tokens remembered, each */
    bool upper_tester;
    bool upper_tester_remote;
    /* The web console (docs/console.md): HTTPS only, off unless console. */
    bool console;
    int console_session_ttl_s;   /* a console session lasts this long */
    char cors_origins[1024];     /* origins other than the console's own that browsers may
                                  * call the API from, comma-separated; "" = none */
};

void config_defaults(struct config *c);
/* Applies "key = value" lines; '#' starts a comment. Returns 0 or -1 with a
 * message in err. */
int config_load_file(struct config *c, const char *file, char *err, int errlen);
/* Applies one setting by its name (the same names as the file and flags). */
int config_set(struct config *c, const char *key, const char *value, char *err, int errlen);
/* Parses argv; returns 0 to run, 1 when --help/--version was printed,
 * -1 on a usage error (message printed). */
int config_parse_args(struct config *c, int argc, char **argv);
void config_usage(const char *prog);

/* Is this listen address (numeric, or "localhost") on the loopback? */
bool config_is_loopback(const char *host);
/* Turns SECURITY_AUTO into what the listen addresses call for, and says so
 * when a non-loopback listener made it `required`. */
void config_resolve_security(struct config *c);

#endif
