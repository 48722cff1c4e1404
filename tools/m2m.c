/* m2m: command-line client for devices and operators. Any primitive over
 * the transport the URL names, plus task commands (m2m acp …). */
#include "m2m.h"

#include "../cse/core/rsc.h"
#include "../cse/core/token_syntax.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(void)
{
    puts("Usage: m2m [options] <command> [arguments]\n"
         "\n"
         "Primitives (print the response content and \"RSC <code> <NAME>\"):\n"
         "  retrieve <target>            delete <target>\n"
         "  create <target> --ty N --body JSON|@file\n"
         "  update <target> --body JSON|@file\n"
         "  notify <target> --body JSON|@file\n"
         "Access control (see docs/access-control.md):\n"
         "  acp list [<parent>]                       ACPs below parent (default cse-in)\n"
         "  acp show <acp>                            rules, readable\n"
         "  acp create <parent> <name> [--grant ORIG[,ORIG]:OPS]... [--manage ORIG:OPS]...\n"
         "  acp grant <acp> --to ORIG[,ORIG] --ops OPS [--ip CIDR]... [--window SCHED]...\n"
         "                  [--authenticated] [--pvs]\n"
         "  acp revoke <acp> --to ORIG [--ops OPS] [--pvs]\n"
         "  acp attach <acp> <resource>               add the ACP to the resource's acpi\n"
         "  acp detach <acp> <resource>               remove it again\n"
         "  acp audit [--data-dir DIR | --file PATH] [--tail N] [--deny]\n"
         "Remote CSEs (see docs/cse-to-cse.md):\n"
         "  csr list [<cse>]                          registered CSEs, registrar, static peers\n"
         "  csr add <csi> <poa> [<cse>]               static peering: the admin adds a CSE\n"
         "  csr rm <csi>                              remove a remote CSE (deregister it)\n"
         "Dynamic authorization (see docs/dynamic-authorization.md; --das URL, default\n"
         "$M2M_DAS or http://127.0.0.1:8281/~/id-das/das-in):\n"
         "  das rule add <name> (--who PAT[,PAT] | --role ROLEID)... --ops OPS --target PAT...\n"
         "               [--window SCHED]... [--ip CIDR]... [--rate N] [--lifetime S]\n"
         "               [--issue-tokens] [--authenticated]\n"
         "  das rule list                             das rule rm <name>\n"
         "  das role add --holder ID --role ROLEID [--until TIMESTAMP]\n"
         "  das role list [--holder ID]               das role rm --holder ID --role ROLEID\n"
         "  token get --target TRID --op OP [--role ROLEID]   (From = --from, the device)\n"
         "Privacy (see docs/privacy.md; --ppm URL, default $M2M_PPM or\n"
         "http://127.0.0.1:8481/~/id-ppm/ppm-in; From = --from, the subscriber or provider):\n"
         "  ppm prefs <name> --file DOC.json          register or update preferences\n"
         "  ppm policy <name> --file DOC.json         register or update a policy\n"
         "  ppm consent <name> --prefs P --policy Q --until TIMESTAMP [--target ID]...\n"
         "                                            a pending consent: shows the differences\n"
         "  ppm show|accept|refuse|withdraw|rm <name>\n"
         "  ppm log <prefs> --file AUDIT.LOG          who accessed your data, under which consent\n"
         "                                            (the CSE's audit log, with audit-grants on)\n"
         "  ppm erase <name> --consent C | --target ID...\n"
         "                                            have the PPM delete your data at the CSE\n"
         "End-to-end protected data, ESData (see docs/end-to-end-security.md):\n"
         "  create/update ... --encrypt-for KEY and/or --sign KEY   con sealed, cnf marked :1\n"
         "  retrieve ... --decrypt KEY and/or --verify KEY          con opened and checked\n"
         "  esdata seal|open --body JSON|@file (same key options)   offline, e.g. a notification\n"
         "  KEY: a file (JWK, or a symmetric key in hex; chmod 600 if secret) or cred:KpsaID\n"
         "Signed firmware (see docs/decisions.md):\n"
         "  firmware sign --sign EC-JWK-FILE --body '{\"m2m:fwr\":{...}}' [--image FILE]\n"
         "                prints the body with fwdg (sha256 of the image) and fwsg (detached JWS)\n"
         "  (the credential store in --data-dir, or with --db postgresql://… in that database);\n"
         "  --jwe-alg dir|A128KW|A192KW|A256KW,\n"
         "  --jwe-enc A128GCM|A192GCM|A256GCM (default: AnnnKW by key size, ECDH-ES+A256KW for an\n"
         "  EC public JWK, RSA-OAEP-256 for an RSA one, A256GCM); --jwe-alg ECDH-ES+A128KW|\n"
         "  ECDH-ES+A192KW too\n"
         "End-to-end protected primitives, ESPrim (see docs/end-to-end-security.md):\n"
         "  create|retrieve|update|delete|notify ... --esprim KEYID   the whole primitive sealed\n"
         "  in a NOTIFY to the Receiver's CSEBase, its answer opened; the pairwise key (hex) from\n"
         "  --esprim-key-file FILE (chmod 600) or $M2M_ESPRIM_KEY; --esprim-receiver ADDR (default:\n"
         "  the CSEBase of the target); --esprim-seal-only prints the sealed content, sends nothing\n"
         "Enrolment (see docs/onboarding.md; --mef URL, default $M2M_MEF or http://127.0.0.1:8381):\n"
         "  enrol [<csebase>] --mef https://MEF:8382 --psk-id KPMID --psk-key-file F --from AE-ID\n"
         "        --target CSE-ID [--cse coaps://CSE:5684] [--file KEYFILE] [--lifetime P30D]\n"
         "        [--mef-fqdn FQDN] [--admin-fqdn FQDN] [--api APP-ID] [--rn NAME]\n"
         "        [--est-cert FILE [--est-key FILE]] [--suid 22|21]\n"
         "        bootstrap PSK -> enrolment (KeID) -> key registration for the CSE -> Kpsa in\n"
         "        KEYFILE (default ./enrolment.key) -> with --est-cert, a certificate over EST\n"
         "        (key in --est-key, default FILE.key) -> the AE registered at --cse with the PSK;\n"
         "        --suid 21 --target MAF-ID: Km for that MAF instead (KmID = the KeID)\n"
         "  mef list                                  mef show <KeID|KpmID|MEFClientRegID>\n"
         "  mef revoke <KeID|KpmID|MEFClientRegID>    (operators, From = the MEF's admin)\n"
         "MAF (see docs/security.md; --maf URL, default $M2M_MAF or https://127.0.0.1:8582; the\n"
         "MAF handshake uses --psk-id KMID --psk-key-file F, From = --from):\n"
         "  maf register [--lifetime P7D]             MAF Client Registration\n"
         "  maf key add --target ID [--suid 32|33|34|35] [--lifetime PT1H] [--file maf.key]\n"
         "  maf key get <RelativeKeyID> [--file F]   Key Retrieval by a target (SUID 34/35: an oct\n"
         "                                            JWK, kid = Key Identifier, for ESData)\n"
         "  maf key list                              maf key revoke <RelativeKeyID>\n"
         "  create|retrieve|... --url CSE --maf URL --target CSE-ID   a connection key for the\n"
         "  CSE registered at the MAF and used as this request's PSK (--maf-fqdn, default\n"
         "  maf.ironbark.local)\n"
         "\n"
         "Options:\n"
         "  --url URL        CSE address (default $M2M_URL or http://127.0.0.1:8080)\n"
         "  --from ORIG      originator (default $M2M_ORIGIN or CAdmin)\n"
         "  --rvi V          release version (default 3)\n"
         "  --rcn N          result content      --query k=v   extra query parameter (repeatable)\n"
         "  --rqi ID         request identifier  --timeout MS  per request (default 10000)\n"
         "  -v, --verbose    show the exchange on stderr (tokens left out) and the assigned token IDs\n"
         "Dynamic authorization (see docs/dynamic-authorization.md):\n"
         "  --token JWT|@FILE  a token for the request (repeatable; @FILE keeps it off the command\n"
         "                   line, where every local user could read it)\n"
         "  --tids ID[+ID]   token IDs (id@issuer.fqdn)   --ltids LTI[+LTI]  local token IDs\n"
         "  --rids ROLE[+ROLE] role IDs                    --tqi  ready to fetch a token (tqi=true)\n"
         "Secure transports (https://, coaps://):\n"
         "  --ca FILE        CA that signed the server certificate (e.g. var/tls/ca.pem)\n"
         "  --cert FILE      client certificate (PEM)   --key FILE  its private key\n"
         "  --psk-id ID      pre-shared key identity; the key (hex) comes from\n"
         "  --psk-key-file FILE  a file only you can read (chmod 600), or $M2M_PSK_KEY\n"
         "  --handshake-timeout MS  give up a (D)TLS handshake after MS (default 3000)\n"
         "OPS: create,retrieve,update,delete,notify,discover, all, or a number 1-63.\n"
         "Exit status: 0 for a 2xxx RSC, 1 for other RSCs, 2 for usage or transport errors,\n"
         "3 when ESData protection cannot be applied or checked (wrong key, tampered content).");
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Options with a value, and where each lands. */
static int take_option(struct cli *c, const char *name, const char *v)
{
    #define ADD(list, n) do { if ((n) < CLI_MAX) (list)[(n)++] = v; } while (0)
    if (!strcmp(name, "--url")) c->o.url = v;
    else if (!strcmp(name, "--from")) c->o.from = v;
    else if (!strcmp(name, "--rvi")) c->o.rvi = v;
    else if (!strcmp(name, "--timeout")) c->o.timeout_ms = atoi(v);
    else if (!strcmp(name, "--ca")) c->o.ca_file = v;
    else if (!strcmp(name, "--cert")) c->o.cert_file = v;
    else if (!strcmp(name, "--key")) c->o.key_file = v;
    else if (!strcmp(name, "--psk-id")) c->o.psk_identity = v;
    else if (!strcmp(name, "--psk-key-file")) c->psk_key_file = v;
    else if (!strcmp(name, "--handshake-timeout")) c->o.handshake_timeout_ms = atoi(v);
    else if (!strcmp(name, "--ty")) c->ty = atoi(v);
    else if (!strcmp(name, "--rcn")) c->rcn = atoi(v);
    else if (!strcmp(name, "--body")) c->body = v;
    else if (!strcmp(name, "--rqi")) c->rqi = v;
    else if (!strcmp(name, "--query")) ADD(c->query, c->nquery);
    else if (!strcmp(name, "--to")) ADD(c->to, c->nto);
    else if (!strcmp(name, "--ops")) c->ops = v;
    else if (!strcmp(name, "--ip")) ADD(c->ip, c->nip);
    else if (!strcmp(name, "--window")) ADD(c->window, c->nwindow);
    else if (!strcmp(name, "--grant")) ADD(c->grant, c->ngrant);
    else if (!strcmp(name, "--manage")) ADD(c->manage, c->nmanage);
    else if (!strcmp(name, "--data-dir")) c->data_dir = v;
    else if (!strcmp(name, "--db")) c->db = v;
    else if (!strcmp(name, "--file")) c->file = v;
    else if (!strcmp(name, "--tail")) c->tail = atoi(v);
    else if (!strcmp(name, "--das")) c->das_url = v;
    else if (!strcmp(name, "--ppm")) c->ppm_url = v;
    else if (!strcmp(name, "--prefs")) c->prefs = v;
    else if (!strcmp(name, "--policy")) c->policy = v;
    else if (!strcmp(name, "--consent")) c->consent = v;
    else if (!strcmp(name, "--who")) ADD(c->who, c->nwho);
    else if (!strcmp(name, "--target")) ADD(c->target, c->ntarget);
    else if (!strcmp(name, "--role")) ADD(c->role, c->nrole);
    else if (!strcmp(name, "--holder")) c->holder = v;
    else if (!strcmp(name, "--until")) c->until = v;
    else if (!strcmp(name, "--op")) c->op = v;
    else if (!strcmp(name, "--rate")) c->rate = v;
    else if (!strcmp(name, "--lifetime")) c->lifetime = v;
    else if (!strcmp(name, "--token")) ADD(c->token, c->ntoken);
    else if (!strcmp(name, "--tids")) c->o.tids = v;
    else if (!strcmp(name, "--ltids")) c->o.ltids = v;
    else if (!strcmp(name, "--rids")) c->o.rids = v;
    else if (!strcmp(name, "--encrypt-for")) c->encrypt_for = v;
    else if (!strcmp(name, "--sign")) c->sign_key = v;
    else if (!strcmp(name, "--decrypt")) c->decrypt_key = v;
    else if (!strcmp(name, "--verify")) c->verify_key = v;
    else if (!strcmp(name, "--jwe-alg")) c->jwe_alg = v;
    else if (!strcmp(name, "--jwe-enc")) c->jwe_enc = v;
    else if (!strcmp(name, "--image")) c->image = v;
    else if (!strcmp(name, "--esprim")) c->esprim_kid = v;
    else if (!strcmp(name, "--esprim-key-file")) c->esprim_key_file = v;
    else if (!strcmp(name, "--esprim-receiver")) c->esprim_receiver = v;
    else if (!strcmp(name, "--mef")) c->mef_url = v;
    else if (!strcmp(name, "--mef-fqdn")) c->mef_fqdn = v;
    else if (!strcmp(name, "--maf")) c->maf_url = v;
    else if (!strcmp(name, "--maf-fqdn")) c->maf_fqdn = v;
    else if (!strcmp(name, "--suid")) c->suid = v;
    else if (!strcmp(name, "--cse")) c->cse_url = v;
    else if (!strcmp(name, "--api")) c->api = v;
    else if (!strcmp(name, "--rn")) c->rn = v;
    else if (!strcmp(name, "--admin-fqdn")) c->admin_fqdn = v;
    else if (!strcmp(name, "--est-cert")) c->est_cert = v;
    else if (!strcmp(name, "--est-key")) c->est_key = v;
    else return -1;
    return 0;
    #undef ADD
}

static int parse_args(struct cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 1; }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) { c->o.verbose = true; continue; }
        if (!strcmp(a, "--authenticated")) { c->authenticated = true; continue; }
        if (!strcmp(a, "--pvs")) { c->pvs = true; continue; }
        if (!strcmp(a, "--deny")) { c->deny_only = true; continue; }
        if (!strcmp(a, "--issue-tokens")) { c->issue_tokens = true; continue; }
        if (!strcmp(a, "--tqi")) { c->o.tqi = true; continue; }
        if (!strcmp(a, "--esprim-seal-only")) { c->esprim_seal_only = true; continue; }
        if (!strcmp(a, "--psk-key") || !strncmp(a, "--psk-key=", 10)) {
            fprintf(stderr, "m2m: --psk-key is not accepted: every local user can read a process's "
                    "arguments (/proc/PID/cmdline). Put the key (hex) in a file only you can read and "
                    "give --psk-key-file FILE, or set M2M_PSK_KEY\n");
            return -1;
        }
        if (!strncmp(a, "--", 2) && a[2]) {
            if (i + 1 >= argc) { fprintf(stderr, "m2m: %s needs a value\n", a); return -1; }
            if (take_option(c, a, argv[i + 1])) { fprintf(stderr, "m2m: unknown option %s (try --help)\n", a); return -1; }
            i++;
            continue;
        }
        if (c->npos < CLI_MAX) c->pos[c->npos++] = a;
    }
    return 0;
}

/* Percent-encodes what a query value cannot carry as is. */
static void append_encoded(char *out, size_t cap, const char *s, size_t n)
{
    size_t len = strlen(out);
    for (size_t i = 0; i < n && len + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~/*:,", ch))
            out[len++] = (char)ch;
        else
            len += (size_t)snprintf(out + len, cap - len, "%%%02X", ch);
    }
    out[len] = 0;
}

static void build_query(const struct cli *c, char *out, size_t cap)
{
    out[0] = 0;
    if (c->rcn >= 0) snprintf(out, cap, "rcn=%d", c->rcn);
    for (int i = 0; i < c->nquery; i++) {
        const char *q = c->query[i], *eq = strchr(q, '=');
        size_t kn = eq ? (size_t)(eq - q) : strlen(q);
        if (out[0]) strncat(out, "&", cap - strlen(out) - 1);
        append_encoded(out, cap, q, kn);
        strncat(out, "=", cap - strlen(out) - 1);
        if (eq) append_encoded(out, cap, eq + 1, strlen(eq + 1));
    }
}

int cli_call(struct cli *c, enum client_op op, const char *to, int ty, const char *body,
             const char *query, json_t **out, int *rsc)
{
    struct client_request rq = { op, to, ty, body, query, c->rqi, NULL };
    struct client_response rsp;
    char err[512];
    *out = NULL;
    if (client_request(&c->o, &rq, &rsp, err, sizeof err)) {
        fprintf(stderr, "m2m: %s\n", err);
        return 2;
    }
    *rsc = rsp.rsc;
    if (rsp.ati && c->o.verbose) fprintf(stderr, "m2m: assigned token IDs (X-M2M-ATI): %s\n", rsp.ati);
    if (rsp.body_len) *out = json_loadb(rsp.body, rsp.body_len, 0, NULL);
    if (rsp.body_len && !*out) printf("%s\n", rsp.body);
    client_response_clear(&rsp);
    return 0;
}

void cli_print_rsc(int rsc, json_t *body)
{
    printf("RSC %d %s\n", rsc, rsc ? rsc_name(rsc) : "MISSING");
    const char *dbg = json_string_value(json_object_get(body, "m2m:dbg"));
    if (dbg && !rsc_is_success(rsc)) fprintf(stderr, "m2m: %s\n", dbg);
}

static const char *const op_names[] = { "create", "retrieve", "update", "delete", "notify", "discover" };

int cli_parse_ops(const char *s)
{
    if (!s || !*s) return -1;
    if (!strcmp(s, "all")) return 63;
    char *end;
    long n = strtol(s, &end, 10);
    if (!*end) return n >= 1 && n <= 63 ? (int)n : -1;
    int mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int bit = 0;
        for (int i = 0; i < 6; i++)
            if (!strcmp(t, op_names[i]) || (i == 5 && !strcmp(t, "discovery"))) bit = 1 << i;
        if (!strcmp(t, "all")) bit = 63;
        if (!bit) return -1;
        mask |= bit;
    }
    return mask;
}

void cli_ops_text(int mask, char *out, size_t cap)
{
    out[0] = 0;
    if (mask == 63) { snprintf(out, cap, "all"); return; }
    for (int i = 0; i < 6; i++) {
        if (!(mask & (1 << i))) continue;
        if (out[0]) strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, op_names[i], cap - strlen(out) - 1);
    }
}

static int primitive(struct cli *c, enum client_op op)
{
    if (c->npos < 2) { fprintf(stderr, "m2m: %s needs a target\n", c->pos[0]); return 2; }
    if (op == CLIENT_CREATE && c->ty <= 0) { fprintf(stderr, "m2m: create needs --ty N\n"); return 2; }
    if ((op == CLIENT_CREATE || op == CLIENT_UPDATE || op == CLIENT_NOTIFY) && !c->body) {
        fprintf(stderr, "m2m: %s needs --body JSON or --body @file\n", c->pos[0]);
        return 2;
    }
    char *owned = NULL;
    const char *body = c->body;
    if (body && body[0] == '@') {
        if (!(owned = read_file(body + 1))) { fprintf(stderr, "m2m: cannot read %s\n", body + 1); return 2; }
        body = owned;
    }
    if (body && (c->encrypt_for || c->sign_key)) {
        char *sealed;
        int rc = esdata_protect_body(c, body, &sealed);
        free(owned);
        if (rc) return rc;
        body = owned = sealed;
    }
    if (c->esprim_kid) {
        int rc = c->nquery ? (fprintf(stderr, "m2m: --query does not travel sealed; of the query only --rcn does\n"), 2)
                           : esprim_primitive(c, op, c->pos[1], c->ty, body);
        free(owned);
        return rc;
    }
    char query[4096];
    build_query(c, query, sizeof query);
    json_t *out;
    int rsc = 0, rc = cli_call(c, op, c->pos[1], c->ty, body, query, &out, &rsc);
    free(owned);
    if (rc) return rc;
    int esdata_rc = 0;
    if (out && rsc_is_success(rsc) && op == CLIENT_RETRIEVE && (c->decrypt_key || c->verify_key) &&
        (esdata_rc = esdata_unprotect_doc(c, out))) {
        json_decref(out);
        out = NULL;  /* never print what could not be opened as if it were the content */
    }
    if (out) {
        char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text) printf("%s\n", text);
        free(text);
    }
    cli_print_rsc(rsc, NULL);
    json_decref(out);
    if (esdata_rc) return esdata_rc;
    return rsc_is_success(rsc) ? 0 : 1;
}

/* --token values ('@FILE': read from the file) joined by '+' into o.tokens. */
static int load_tokens(struct cli *c)
{
    static char joined[TOKENS_MAX_BYTES + 1];
    size_t n = 0;
    for (int i = 0; i < c->ntoken; i++) {
        char *owned = c->token[i][0] == '@' ? read_file(c->token[i] + 1) : NULL;
        if (c->token[i][0] == '@' && !owned) {
            fprintf(stderr, "m2m: cannot read the token file %s: %s\n", c->token[i] + 1, strerror(errno));
            return -1;
        }
        const char *tk = owned ? owned : c->token[i];
        size_t len = strcspn(tk, " \t\r\n");
        if (!len || n + len + 2 > sizeof joined) {
            fprintf(stderr, "m2m: --token needs a token (JWS/JWE compact form); %d bytes in all at most\n",
                    TOKENS_MAX_BYTES);
            free(owned);
            return -1;
        }
        n += (size_t)snprintf(joined + n, sizeof joined - n, "%s%.*s", n ? "+" : "", (int)len, tk);
        free(owned);
    }
    if (n) c->o.tokens = joined;
    return 0;
}

/* The PSK, in hex: from --psk-key-file (a file nobody else may read) or
 * $M2M_PSK_KEY (the environment is readable by the same user only). */
int cli_read_hex_key(const char *path, char *hex, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        fprintf(stderr, "m2m: cannot read the key file %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        fprintf(stderr, "m2m: the key file %s may be read by group or others (mode %04o): chmod 600 %s\n",
                path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, hex, cap - 1);
    close(fd);
    while (n > 0 && strchr(" \t\r\n", hex[n - 1])) n--;
    if (n <= 0 || n == (ssize_t)cap - 1) {
        fprintf(stderr, "m2m: the key file %s must hold one key of 1 to 64 bytes in hex\n", path);
        return -1;
    }
    hex[n] = 0;
    return 0;
}

static int load_psk_key(struct cli *c)
{
    static char hex[2 * 64 + 2];
    if (!c->o.psk_identity) return 0;
    if (!c->psk_key_file) {
        const char *env = getenv("M2M_PSK_KEY");
        c->o.psk_key = env && *env ? env : NULL;
        return 0;
    }
    if (cli_read_hex_key(c->psk_key_file, hex, sizeof hex)) return -1;
    c->o.psk_key = hex;
    return 0;
}

int main(int argc, char **argv)
{
    /* A server that drops the connection must give an error message and exit
     * status 2, not a silent death on a write to a closed socket. */
    signal(SIGPIPE, SIG_IGN);
    struct cli c = { .rcn = -1 };
    c.o.url = getenv("M2M_URL") ? getenv("M2M_URL") : "http://127.0.0.1:8080";
    c.o.from = getenv("M2M_ORIGIN") ? getenv("M2M_ORIGIN") : "CAdmin";
    int rc = parse_args(&c, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    if (load_psk_key(&c) || load_tokens(&c)) return 2;
    if (!c.npos) { usage(); return 2; }
    static const char *const prims[] = { "", "create", "retrieve", "update", "delete", "notify" };
    for (int op = CLIENT_CREATE; op <= CLIENT_NOTIFY; op++) {
        if (strcmp(c.pos[0], prims[op])) continue;
        if (!c.maf_url) return primitive(&c, (enum client_op)op);
        if ((rc = maf_connect(&c))) return rc;
        /* The CSE's first handshakes fail while it retrieves the key from the MAF. */
        for (int tries = 0; tries < 20; tries++) {
            if ((rc = primitive(&c, (enum client_op)op)) != 2) return rc;
            nanosleep(&(struct timespec){ 0, 250 * 1000000L }, NULL);
        }
        return rc;
    }
    if (!strcmp(c.pos[0], "acp")) return acp_main(&c);
    if (!strcmp(c.pos[0], "csr")) return csr_main(&c);
    if (!strcmp(c.pos[0], "das")) return das_main(&c);
    if (!strcmp(c.pos[0], "ppm")) return ppm_main(&c);
    if (!strcmp(c.pos[0], "token")) return token_main(&c);
    if (!strcmp(c.pos[0], "esdata") || !strcmp(c.pos[0], "firmware")) {
        char *owned = c.body && c.body[0] == '@' ? read_file(c.body + 1) : NULL;
        if (c.body && c.body[0] == '@' && !owned) { fprintf(stderr, "m2m: cannot read %s\n", c.body + 1); return 2; }
        rc = (c.pos[0][0] == 'e' ? esdata_main : firmware_main)(&c, owned ? owned : c.body);
        free(owned);
        return rc;
    }
    if (!strcmp(c.pos[0], "enrol")) return enrol_main(&c);
    if (!strcmp(c.pos[0], "mef")) return mef_main(&c);
    if (!strcmp(c.pos[0], "maf")) return maf_main(&c);
    fprintf(stderr, "m2m: unknown command '%s' (try --help)\n", c.pos[0]);
    return 2;
}
