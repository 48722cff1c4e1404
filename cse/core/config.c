#include "config.h"

#include "../base/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* IRONBARK_VERSION comes from meson.build (the project version). */

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->cse_id, "id-in");
    strcpy(c->cse_name, "cse-in");
    strcpy(c->sp_id, "ironbark.local");
    strcpy(c->admin, "CAdmin");
    c->cse_type = 1;
    strcpy(c->data_dir, "./var");
    strcpy(c->http_host, "127.0.0.1");
    c->http_port = 8080;
    strcpy(c->coap_host, "127.0.0.1");
    c->coap_port = 5683;
    c->coaps_port = 5684;
    c->coap_piggyback_ms = 500;
    c->coaps_session_cache = 128;
    /* Longer than HTTPS's: RFC 7925 devices start DTLS retransmissions at
     * 9 s on slow radio links, and sign slowly. */
    c->coaps_handshake_timeout_ms = 30000;
    c->coap_max_sessions = 1024;
    c->sync = 1;
    c->log_level = LOG_LVL_INFO;
    c->max_body = 1 << 20;
    c->http_idle_timeout_ms = 60000;
    c->max_connections = 4096;
    c->max_connections_per_client = 64;
    c->http_request_timeout_ms = 30000;
    c->default_et_s = 10LL * 365 * 86400;
    c->expiry_interval_ms = 1000;
    c->notify_target_bytes = 4LL << 20;
    c->notify_total_bytes = 64LL << 20;
    c->notify_drop_report_s = 10;
    c->pch_poll_timeout_ms = 30000;
    c->pch_request_timeout_ms = 30000;
    c->pch_queue = 64;
    c->pch_max_polls = 1024;
    c->strict_query = true;
    c->esprim_nonce_lifetime_s = 300;
    c->audit_max_bytes = 10LL << 20;
    c->audit_keep = 5;
    c->console_session_ttl_s = 900;
    c->https_port = 8443;
    strcpy(c->tls_server_name, "localhost");
    c->tls_handshake_timeout_ms = 5000;
    c->mef_recheck_ms = 60000;
    c->mef_fetch_suid = 22;
    c->registration_check_ms = 60000;
    c->registration_retry_max_ms = 60000;
    c->security_http = SECURITY_AUTO;
    c->security_coap = SECURITY_AUTO;
    /* High enough never to meet a well-behaved client: they are a brake for
     * floods, not a quota (docs/security.md, "Rate limiting"). */
    c->rate_address = (struct config_rate){ 2000, 4000 };
    c->rate_originator = (struct config_rate){ 1000, 2000 };
    c->rate_credential = (struct config_rate){ 2000, 4000 };
    c->rate_handshake = (struct config_rate){ 50, 100 };
    c->rate_limit_entries = 8192;
    c->das_timeout_ms = 3000;
    c->das_cache_size = 1024;
}

static int copy_str(char *dst, size_t cap, const char *v, char *err, int errlen, const char *key)
{
    if (strlen(v) >= cap) {
        snprintf(err, errlen, "%s: value too long (max %zu)", key, cap - 1);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

static int parse_num(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

/* One table drives the file, the flags and --help. */
enum kind { K_STR, K_INT, K_BOOL, K_SYNC, K_LOG, K_LOGFMT, K_SECURITY, K_LIST, K_RATE };
struct setting {
    const char *name;
    enum kind kind;
    size_t off, cap;
    int64_t lo, hi;
    const char *help;
    size_t count_off;          /* K_LIST: offset of the int that counts entries */
    bool secret;               /* holds keys: never a flag (argv is public in
                                * /proc/PID/cmdline), only an owner-only file */
};

#define STR(field, name, help) { name, K_STR, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0, help, 0, false }
#define LIST(field, count, name, help) { name, K_LIST, offsetof(struct config, field), sizeof(((struct config *)0)->field[0]), 0, 0, help, offsetof(struct config, count), false }
#define SECURITY(field, name, help) { name, K_SECURITY, offsetof(struct config, field), sizeof(int), 0, 0, help, 0, false }
#define INT(field, name, lo, hi, help) { name, K_INT, offsetof(struct config, field), sizeof(((struct config *)0)->field), lo, hi, help, 0, false }
#define RATE(field, name, help) { name, K_RATE, offsetof(struct config, field), sizeof(struct config_rate), 0, 0, help, 0, false }

static const struct setting settings[] = {
    STR(cse_id, "cse-id", "CSE-ID without the leading '/' (default id-in)"),
    STR(cse_name, "cse-name", "CSEBase resourceName (default cse-in)"),
    STR(sp_id, "sp-id", "service provider domain for absolute addresses (default ironbark.local)"),
    STR(admin, "admin", "admin originator (default CAdmin)"),
    INT(cse_type, "cse-type", 1, 3, "1 IN-CSE, 2 MN-CSE, 3 ASN-CSE (default 1)"),
    STR(data_dir, "data-dir", "directory for the database and keys (default ./var)"),
    STR(db_file, "db", "SQLite file (default <data-dir>/cse.db) or postgresql:// URI"),
    STR(http_host, "http-host", "HTTP listen address (default 127.0.0.1)"),
    INT(http_port, "http-port", 0, 65535, "HTTP listen port, 0 = off (default 8080)"),
    { "reuse-port", K_BOOL, offsetof(struct config, reuse_port), sizeof(bool), 0, 0,
      "listen on the HTTP(S) ports with SO_REUSEPORT, so several front-ends on one machine share them (default false)", 0, false },
    STR(coap_host, "coap-host", "CoAP listen address (default 127.0.0.1)"),
    INT(coap_port, "coap-port", 0, 65535, "CoAP (UDP) listen port, 0 = off (default 5683)"),
    INT(coaps_port, "coaps-port", 0, 65535, "CoAPS (DTLS) listen port on coap-host, 0 = off (default 5684)"),
    INT(coaps_handshake_timeout_ms, "coaps-handshake-timeout", 100, 600000, "end a CoAPS (DTLS) handshake still unfinished after this many ms, counted as failed (default 30000)"),
    INT(coaps_session_cache, "coaps-session-cache", 0, 100000, "CoAPS sessions kept for resumption (about 13 kB each with a client certificate), 0 = no resumption (default 128)"),
    INT(coap_max_sessions, "coap-max-sessions", 16, 1000000, "idle CoAP and CoAPS peer sessions kept (about 0.5 kB each for plain CoAP); the oldest idle one is dropped beyond (default 1024)"),
    INT(coap_piggyback_ms, "coap-piggyback", 0, 1500, "a deferred CoAP answer ready within this many ms goes on the ACK; later ones follow an empty ACK (default 500)"),
    { "sync", K_SYNC, offsetof(struct config, sync), sizeof(int), 0, 0,
      "durability: off, normal (survives kill -9; default), full (survives power loss)", 0, false },
    { "log-level", K_LOG, offsetof(struct config, log_level), sizeof(int), 0, 0,
      "error, warn, info (default), debug", 0, false },
    { "log-format", K_LOGFMT, offsetof(struct config, log_format), sizeof(int), 0, 0,
      "text (default) or json: one JSON object per log line", 0, false },
    INT(max_body, "max-body", 1024, 1LL << 30, "largest request body in bytes (default 1048576)"),
    INT(http_idle_timeout_ms, "http-idle-timeout", 100, 86400000, "close an HTTP(S) connection idle this long, ms (default 60000)"),
    INT(http_request_timeout_ms, "http-request-timeout", 100, 86400000, "a request must be complete this long after its first byte, ms, else 408 (default 30000)"),
    INT(max_connections, "max-connections", 16, 1000000, "open HTTP(S) connections at most, idle ones are closed for new ones (default 4096)"),
    INT(max_connections_per_client, "max-connections-per-client", 1, 1000000, "open HTTP(S) connections from one address at most (default 64)"),
    INT(default_et_s, "default-lifetime", 1, 100LL * 365 * 86400, "default expirationTime offset in seconds (default 10 years)"),
    INT(expiry_interval_ms, "expiry-interval", 10, 3600000, "how often expired resources are removed, ms (default 1000)"),
    INT(notify_target_bytes, "notify-target-bytes", 4096, 1LL << 40, "notifications queued for one target, bytes; oldest dropped beyond (default 4194304)"),
    INT(notify_total_bytes, "notify-total-bytes", 65536, 1LL << 40, "notifications held overall, bytes; new ones refused beyond (default 67108864)"),
    INT(notify_drop_report_s, "notify-drop-report", 1, 3600, "dropped notifications are summed up in one log line at most this often, seconds (default 10)"),
    INT(pch_poll_timeout_ms, "pch-poll-timeout", 100, 3600000, "a long poll of <pollingChannel>/pcu without rqet waits this long for a request, ms, then 4008 (default 30000)"),
    INT(pch_request_timeout_ms, "pch-request-timeout", 100, 3600000, "a request queued at a polling channel waits this long to be polled and answered, ms (default 30000)"),
    INT(pch_queue, "pch-queue", 1, 100000, "requests waiting per polling channel; the oldest is dropped beyond (default 64)"),
    INT(pch_max_polls, "pch-max-polls", 1, 1000000, "long polls parked at once on all polling channels; the oldest is answered 4008 beyond (default 1024)"),
    { "strict-query", K_BOOL, offsetof(struct config, strict_query), sizeof(bool), 0, 0,
      "reject unknown query parameters with 4000 (default true)", 0, false },
    INT(audit_max_bytes, "audit-max-bytes", 0, 1LL << 40, "rotate <data-dir>/audit.log at this size, 0 = never (default 10485760)"),
    { "audit-grants", K_BOOL, offsetof(struct config, audit_grants), sizeof(bool), 0, 0,
      "audit every granted request as well (originator, target, operation; for the m2m-ppm's access log, "
      "docs/privacy.md; default false)", 0, false },
    INT(audit_keep, "audit-keep", 0, 1000, "rotated audit logs kept (audit.log.1 ...; default 5)"),
    STR(cse_acpi, "cse-acpi", "CSEBase acpi: comma-separated ACP IDs (default none: admin only)"),
    STR(cse_daci, "cse-daci", "CSEBase daci: comma-separated <dynamicAuthorizationConsultation> IDs (default none)"),
    INT(https_port, "https-port", 0, 65535, "HTTPS listen port on http-host, 0 = off (default 8443)"),
    STR(tls_cert, "tls-cert", "server certificate chain, PEM (default: generated under <data-dir>/tls)"),
    STR(tls_key, "tls-key", "private key of tls-cert, PEM"),
    STR(tls_server_name, "tls-server-name", "SNI name and generated certificate DNS name (default localhost)"),
    STR(tls_extra_names, "tls-extra-names", "more DNS names and IP addresses for the generated server certificate, comma-separated (default none; 127.0.0.1 and ::1 always)"),
    INT(tls_handshake_timeout_ms, "tls-handshake-timeout", 100, 600000, "close an HTTPS (TLS) handshake that takes longer, ms (default 5000; CoAPS: coaps-handshake-timeout)"),
    SECURITY(security_http, "security-http", "SAEF policy for HTTP/HTTPS: off, optional, required (default: optional on a loopback http-host, required otherwise)"),
    SECURITY(security_coap, "security-coap", "SAEF policy for CoAP/CoAPS: off, optional, required (default: optional on a loopback coap-host, required otherwise)"),
    { "psk", K_LIST, offsetof(struct config, psk), sizeof(((struct config *)0)->psk[0]), 0, 0,
      "pre-provisioned key identity:hexkey:originator-patterns (repeatable)", offsetof(struct config, npsk), true },
    STR(psk_file, "psk-file", "file of pre-provisioned keys, one identity:hexkey:originator-patterns a line (mode 600)"),
    LIST(trusted_ca, ntrusted_ca, "trusted-ca", "PEM file of a CA trusted for client certificates and https:// notification targets (repeatable)"),
    STR(crl_file, "crl-file", "PEM file of CRLs checked for HTTPS and CoAPS client certificates, reread when it changes; it must cover every trusted CA (e.g. an m2m-mef's tls/crl.pem)"),
    STR(mef_fqdn, "mef-fqdn", "m2m-cse: accept PSK identities <KeID>@<mef-fqdn> issued by this MEF, fetching their keys from mef-url; m2m-mef: its own MEF-FQDN (default mef.ironbark.local)"),
    STR(mef_url, "mef-url", "m2m-cse (and m2m-maf, for its clients' Km): the MEF's base URL for /fetchCredentials (coaps://host:port, authenticated with outbound-psk)"),
    STR(maf_fqdn, "maf-fqdn", "m2m-cse: accept PSK identities <RelativeKeyID>@<maf-fqdn> registered at this MAF, retrieving their keys from maf-url; m2m-maf: its own MAF-FQDN (default maf.ironbark.local)"),
    STR(maf_url, "maf-url", "m2m-cse: the MAF's base URL for Key Retrieval, of (D)TLS and ESPrim keys (coaps://host:port, authenticated with outbound-psk: the CSE's Km)"),
    INT(mef_recheck_ms, "mef-recheck", 100, 86400000, "m2m-cse: ask the MEF (and MAF) again about every key it lent this often, ms; a revoked one is withdrawn (default 60000)"),
    STR(registrar_url, "registrar", "MN/ASN-CSE: the registrar CSE's base URL to register with at start-up, http(s)://host:port or coap(s)://host:port (default: none)"),
    LIST(public_poa, npublic_poa, "public-poa", "a URL this CSE is reached by, http(s):// or coap(s)://, for its CSEBase poa and its registration (repeatable; default: one per listener, from its host)"),
    STR(registrar_csi, "registrar-csi", "the registrar's CSE-ID, /id-in (default: none; needed with registrar)"),
    INT(registration_check_ms, "registration-check", 100, 86400000, "check the registration at the registrar this often, ms: re-register when it is gone, update poa/dcse (default 60000)"),
    INT(registration_retry_max_ms, "registration-retry-max", 100, 86400000, "ceiling of the back-off between registration attempts while the registrar does not answer, ms (default 60000)"),
    STR(outbound_cert, "outbound-cert", "client certificate chain, PEM, presented to https:// targets (a registrar; default: none)"),
    STR(outbound_key, "outbound-key", "private key of outbound-cert, PEM"),
    LIST(outbound_psk, noutbound_psk, "outbound-psk", "coaps:// target (notifications, registrar, MEF, MAF) and the credential store PSK identity to use, host:port=identity (repeatable)"),
    STR(dns_servers, "dns-servers", "DNS servers for the host names of notification targets, host[:port],... (default: /etc/resolv.conf)"),
    STR(transport_module, "transport-module", "HTTPS/CoAP(S) module file (default ironbark-transports.so beside the executable)"),
    STR(jose_module, "jose-module", "JOSE module file: tokens, ESPrim, signed firmware (default ironbark-jose.so beside the executable)"),
    STR(firmware_trust, "firmware-trust", "JWK Set file of the public EC keys firmware must be signed with (fwsg); unset: <firmware> is not signature-checked"),
    { "esprim", K_BOOL, offsetof(struct config, esprim), sizeof(bool), 0, 0,
      "serve end-to-end secured primitives (ESPrim, TS-0003 8.4) to the CSEBase; its esi announces SUID 13 (default false)", 0, false },
    INT(esprim_nonce_lifetime_s, "esprim-nonce-lifetime", 1, 86400, "seconds a receiver nonce object (m2m:seci sit 4) stays usable (default 300)"),
    { "esprim-key", K_LIST, offsetof(struct config, esprim_key), sizeof(((struct config *)0)->esprim_key[0]), 0, 0,
      "pre-provisioned pairwise ESPrim key keyid:hexkey:originator-patterns (repeatable)", offsetof(struct config, nesprim_key), true },
    RATE(rate_address, "rate-per-address", "requests per second from one source address, RATE[,BURST]; 0 = no limit (default 2000,4000)"),
    RATE(rate_originator, "rate-per-originator", "requests per second from one originator, RATE[,BURST] (default 1000,2000)"),
    RATE(rate_credential, "rate-per-credential", "requests per second over one (D)TLS credential, RATE[,BURST] (default 2000,4000)"),
    RATE(rate_handshake, "rate-handshakes-per-address", "TLS/DTLS handshakes per second from one source address, RATE[,BURST] (default 50,100)"),
    { "rate-limit-loopback", K_BOOL, offsetof(struct config, rate_limit_loopback), sizeof(bool), 0, 0,
      "apply the rate limits to loopback peers too (default false: they are exempt)", 0, false },
    INT(rate_limit_entries, "rate-limit-entries", 16, 1000000, "keys remembered per rate limit, least recently used forgotten first (default 8192)"),
    STR(das_default, "das-default", "DAS consulted when no daci up the tree names an enabled <dac>: its consultation URL (default none)"),
    INT(das_timeout_ms, "das-timeout", 100, 600000, "wait for a DAS consultation, role check or token fetch at most this long, ms; then deny (default 3000)"),
    STR(token_trust_file, "token-trust-file", "token issuers trusted, {\"issuers\":[{\"iss\":...,\"jwk\":{...}}]} (default none: every token refused)"),
    INT(das_cache_size, "das-cache-size", 16, 1000000, "DAS decisions, role checks and tokens remembered, each; oldest forgotten first (default 1024)"),
    { "upper-tester", K_BOOL, offsetof(struct config, upper_tester), sizeof(bool), 0, 0,
      "serve the conformance upper tester, POST /__ut__ (Reset empties the CSE!) on a loopback http-host (default false)", 0, false },
    { "upper-tester-remote", K_BOOL, offsetof(struct config, upper_tester_remote), sizeof(bool), 0, 0,
      "with upper-tester: serve it on a non-loopback http-host too, to the admin originator only (default false)", 0, false },
    { "console", K_BOOL, offsetof(struct config, console), sizeof(bool), 0, 0,
      "serve the web console at https://<http-host>:<https-port>/console/ (log in with m2m-cse console-login; default false)", 0, false },
    INT(console_session_ttl_s, "console-session-ttl", 1, 86400, "a web console session ends this many seconds after its login (default 900)"),
    STR(cors_origins, "cors-origins", "browser origins besides the console's own allowed to call the API, https://host:port,... (default none)"),
};

static const struct setting *find_setting(const char *key)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (!strcmp(settings[i].name, key)) return &settings[i];
    return NULL;
}

/* "RATE" or "RATE,BURST"; the burst defaults to twice the rate. */
static int parse_rate(const char *v, struct config_rate *out)
{
    char head[32];
    const char *comma = strchr(v, ',');
    size_t n = comma ? (size_t)(comma - v) : strlen(v);
    if (n >= sizeof head) return -1;
    memcpy(head, v, n);
    head[n] = 0;
    int64_t rate, burst;
    if (parse_num(head, 0, 1000000, &rate)) return -1;
    if (comma && parse_num(comma + 1, 1, 10000000, &burst)) return -1;
    if (!comma) burst = rate ? 2 * rate : 1;
    out->rate = (int)rate;
    out->burst = (int)burst;
    return 0;
}

int config_set(struct config *c, const char *key, const char *value, char *err, int errlen)
{
    const struct setting *s = find_setting(key);
    if (s) {
        void *field = (char *)c + s->off;
        int64_t n;
        switch (s->kind) {
        case K_STR:
            return copy_str(field, s->cap, value, err, errlen, key);
        case K_INT:
            if (parse_num(value, s->lo, s->hi, &n)) {
                snprintf(err, errlen, "%s: expected a number from %lld to %lld, got '%s'",
                         key, (long long)s->lo, (long long)s->hi, value);
                return -1;
            }
            if (s->cap == sizeof(int)) *(int *)field = (int)n;
            else *(int64_t *)field = n;
            return 0;
        case K_BOOL:
            if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes")) *(bool *)field = true;
            else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no")) *(bool *)field = false;
            else { snprintf(err, errlen, "%s: expected true or false, got '%s'", key, value); return -1; }
            return 0;
        case K_SYNC:
            if (!strcmp(value, "off")) *(int *)field = 0;
            else if (!strcmp(value, "normal")) *(int *)field = 1;
            else if (!strcmp(value, "full")) *(int *)field = 2;
            else { snprintf(err, errlen, "sync: expected off, normal or full, got '%s'", value); return -1; }
            return 0;
        case K_LOG:
            if ((n = log_level_parse(value)) < 0) {
                snprintf(err, errlen, "log-level: expected error, warn, info or debug, got '%s'", value);
                return -1;
            }
            *(int *)field = (int)n;
            return 0;
        case K_LOGFMT:
            if ((n = log_format_parse(value)) < 0) {
                snprintf(err, errlen, "log-format: expected text or json, got '%s'", value);
                return -1;
            }
            *(int *)field = (int)n;
            return 0;
        case K_SECURITY:
            if (!strcmp(value, "off")) *(int *)field = SECURITY_OFF;
            else if (!strcmp(value, "optional")) *(int *)field = SECURITY_OPTIONAL;
            else if (!strcmp(value, "required")) *(int *)field = SECURITY_REQUIRED;
            else if (!strcmp(value, "auto")) *(int *)field = SECURITY_AUTO;
            else { snprintf(err, errlen, "%s: expected off, optional, required or auto, got '%s'", key, value); return -1; }
            return 0;
        case K_RATE:
            if (parse_rate(value, field)) {
                snprintf(err, errlen, "%s: expected RATE or RATE,BURST (requests per second 0-1000000, "
                         "burst 1-10000000), got '%s'", key, value);
                return -1;
            }
            return 0;
        case K_LIST: {
            int *count = (int *)((char *)c + s->count_off);
            if (*count >= CONFIG_MAX_LIST) {
                snprintf(err, errlen, "%s: at most %d entries", key, CONFIG_MAX_LIST);
                return -1;
            }
            if (copy_str((char *)field + (size_t)*count * s->cap, s->cap, value, err, errlen, key)) return -1;
            (*count)++;
            return 0;
        }
        }
    }
    for (const struct config_extra *x = c->extra; x && x->name; x++)
        if (!strcmp(x->name, key)) return x->set(x->data, value, err, errlen);
    snprintf(err, errlen, "unknown setting '%s'", key);
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int config_load_file(struct config *c, const char *file, char *err, int errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file %s: %s", file, strerror(errno));
        return -1;
    }
    /* Keys may stand in the file only when nobody else can read it. */
    struct stat st;
    bool private_file = !fstat(fileno(f), &st) && !(st.st_mode & 077);
    char line[1024], msg[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", file, lineno);
            fclose(f);
            return -1;
        }
        *eq = 0;
        char *key = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') { value[vl - 1] = 0; value++; }
        const struct setting *set = find_setting(key);
        if (set && set->secret && !private_file) {
            snprintf(err, errlen, "%s:%d: %s: the file holds a key but group or others may read it "
                     "(mode %04o): chmod 600 %s", file, lineno, key, (unsigned)(st.st_mode & 0777), file);
            memset(line, 0, sizeof line);
            fclose(f);
            return -1;
        }
        int rc = config_set(c, key, value, msg, sizeof msg);
        memset(line, 0, sizeof line);   /* it may have held a key */
        if (rc) {
            snprintf(err, errlen, "%s:%d: %s", file, lineno, msg);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static void usage(const char *prog, const struct config_extra *extra)
{
    printf("Usage: %s [--config FILE] [--SETTING VALUE]...\n\n"
           "Ironbark oneM2M CSE. Runs on embedded defaults with no arguments.\n\n"
           "  --config FILE        read settings from FILE (key = value lines)\n"
           "  --help               show this help\n"
           "  --version            show the version\n\n"
           "Settings (file keys and flags share the names):\n", prog);
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (!settings[i].secret) printf("  --%-19s %s\n", settings[i].name, settings[i].help);
    printf("\nConfig file only (a key in argv is readable by every local user):\n");
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (settings[i].secret) printf("  %-21s %s\n", settings[i].name, settings[i].help);
    if (extra && extra->name) printf("\nSettings of this server:\n");
    for (const struct config_extra *x = extra; x && x->name; x++) printf("  --%-19s %s\n", x->name, x->help);
}

void config_usage(const char *prog)
{
    usage(prog, NULL);
}

int config_parse_args(struct config *c, int argc, char **argv)
{
    char err[512];
    /* The config file goes first so that flags override it wherever they stand. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) { fprintf(stderr, "--config needs a file name\n"); return -1; }
            if (config_load_file(c, argv[i + 1], err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                return -1;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(argv[0], c->extra); return 1; }
        if (!strcmp(a, "--version")) { printf("ironbark %s\n", IRONBARK_VERSION); return 1; }
        if (!strcmp(a, "--config")) { i++; continue; }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "unexpected argument '%s' (try --help)\n", a);
            return -1;
        }
        const char *key = a + 2, *value;
        char keybuf[64];
        const char *eq = strchr(key, '=');
        if (eq) {
            snprintf(keybuf, sizeof keybuf, "%.*s", (int)(eq - key), key);
            key = keybuf;
            value = eq + 1;
        } else {
            if (i + 1 >= argc) { fprintf(stderr, "--%s needs a value (try --help)\n", key); return -1; }
            value = argv[++i];
        }
        const struct setting *set = find_setting(key);
        if (set && set->secret) {
            fprintf(stderr, "--%s is not accepted on the command line: every local user can read a "
                    "process's arguments (/proc/PID/cmdline). Put the keys in a file only you can read "
                    "and give --psk-file FILE, or add them with 'm2m-cse credentials add-psk' "
                    "(docs/security.md)\n", key);
            return -1;
        }
        if (config_set(c, key, value, err, sizeof err)) {
            fprintf(stderr, "%s (try --help)\n", err);
            return -1;
        }
    }
    if (!c->db_file[0]) snprintf(c->db_file, sizeof c->db_file, "%s/cse.db", c->data_dir);
    return 0;
}

bool config_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    /* The usual texts first: local AEs on a gateway ask on every request
     * (rate limits, SAEF), and inet_pton costs 200 instructions a call. */
    if (!strcmp(host, "127.0.0.1") || !strcmp(host, "::1") || !strcmp(host, "localhost")) return true;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) != 1) return false;   /* a name: not known to be */
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

static void resolve_one(int *policy, const char *key, const char *host, const char *binding)
{
    if (*policy != SECURITY_AUTO) return;
    if (config_is_loopback(host)) {
        *policy = SECURITY_OPTIONAL;
        return;
    }
    /* Off loopback a self-declared originator could be anyone: secure by default. */
    *policy = SECURITY_REQUIRED;
    log_info("%s listens on %s, not loopback: %s is 'required' by default (only originators "
             "authenticated over %s are served); set %s to 'optional' to accept self-declared "
             "originators", binding, host, key, !strcmp(binding, "HTTP") ? "HTTPS" : "CoAPS", key);
}

void config_resolve_security(struct config *c)
{
    resolve_one(&c->security_http, "security-http", c->http_host, "HTTP");
    resolve_one(&c->security_coap, "security-coap", c->coap_host, "CoAP");
}
