/* Shared between the m2m tool's files: parsed command line and helpers. */
#ifndef IRONBARK_M2M_H
#define IRONBARK_M2M_H

#include "client.h"

#include <jansson.h>

#define CLI_MAX 32

struct cli {
    struct client_opts o;
    const char *pos[CLI_MAX]; int npos;        /* positional arguments */
    int ty, rcn;                               /* rcn -1 = absent */
    const char *body, *rqi;
    const char *query[CLI_MAX]; int nquery;    /* "k=v" */
    /* acp commands */
    const char *to[CLI_MAX]; int nto;          /* --to (comma lists are split later) */
    const char *ops;
    const char *ip[CLI_MAX]; int nip;
    const char *window[CLI_MAX]; int nwindow;
    const char *grant[CLI_MAX]; int ngrant;    /* ORIG[,ORIG]:OPS */
    const char *manage[CLI_MAX]; int nmanage;
    bool authenticated, pvs, deny_only;
    const char *data_dir, *file;
    const char *db;            /* cred:KpsaID in a PostgreSQL credential store (--db) */
    const char *psk_key_file;
    /* das and token commands */
    const char *das_url, *holder, *until, *op, *rate, *lifetime;
    const char *who[CLI_MAX]; int nwho;
    const char *target[CLI_MAX]; int ntarget;
    const char *role[CLI_MAX]; int nrole;
    bool issue_tokens;
    int tail;
    const char *token[CLI_MAX]; int ntoken;    /* --token JWT|@file, joined into o.tokens */
    /* ESData (tools/m2m_esdata.c): key files or cred:KpsaID */
    const char *encrypt_for, *sign_key, *decrypt_key, *verify_key, *jwe_alg, *jwe_enc;
    const char *image;                         /* firmware sign --image FILE */
    /* ESPrim (tools/m2m_esprim.c): the pairwise key's ID; its key (hex)
     * from esprim_key_file or $M2M_ESPRIM_KEY; the Receiver's CSEBase. */
    const char *esprim_kid, *esprim_key_file, *esprim_receiver;
    bool esprim_seal_only;                     /* print the outer NOTIFY's content, send nothing */
    /* enrol and mef commands */
    const char *mef_url, *mef_fqdn, *cse_url, *api, *rn, *admin_fqdn, *est_cert, *est_key;
    /* ppm commands (tools/m2m_ppm.c) */
    const char *ppm_url, *prefs, *policy, *consent;
    /* maf commands and --maf */
    const char *maf_url, *maf_fqdn, *suid;
};

/* Sends one primitive; *out receives the parsed JSON body (NULL if none or
 * not JSON), *rsc the response code. Returns 0, or 2 after printing a
 * transport error. */
int cli_call(struct cli *c, enum client_op op, const char *to, int ty, const char *body,
             const char *query, json_t **out, int *rsc);
/* Reads a key in hex from a file only its owner may read into hex (room
 * for cap characters, '\0' included). 0, or -1 after a message. */
int cli_read_hex_key(const char *path, char *hex, size_t cap);
/* Sends the primitive sealed (ESPrim) and prints the inner response; the
 * exit status as primitive() has it. body: JSON text or NULL. */
int esprim_primitive(struct cli *c, enum client_op op, const char *to, int ty, const char *body);
/* Prints "RSC <code> <NAME>" (and the debug message of an error). */
void cli_print_rsc(int rsc, json_t *body);
/* Parses "retrieve,discover" / "all" / "34" into an acop mask; -1 if bad. */
int cli_parse_ops(const char *s);
/* "create,retrieve" for a mask. */
void cli_ops_text(int mask, char *out, size_t cap);

/* RETRIEVE target; on success *res is the inner object and *key its root
 * key ("m2m:acp"). Returns 0, or the exit status after reporting. */
int cli_fetch(struct cli *c, const char *target, json_t **doc, json_t **res, const char **key);
/* Sends doc (consumed) and prints the RSC; before that, `created` (if
 * not NULL) sees a successful response. Returns the exit status. */
int cli_send_doc(struct cli *c, enum client_op op, const char *target, int ty, json_t *doc,
                 void (*created)(json_t *out, void *data), void *data);

/* The items of comma-separated lists, as a JSON array of strings. */
json_t *cli_split_ids(const char *const *list, int n);

/* A server's URL (given, else $env, else fallback, "http://host:port/~/csi/name")
 * split: c->o.url the server, base its CSEBase as a target. 0, or -1 after a message. */
int cli_server_address(struct cli *c, const char *given, const char *env, const char *fallback, char *base,
                       size_t cap);

int acp_main(struct cli *c);
/* m2m csr list|add|rm (remote CSEs): tools/m2m_csr.c. */
int csr_main(struct cli *c);
/* m2m ppm … (subscribers and providers of an m2m-ppm): tools/m2m_ppm.c. */
int ppm_main(struct cli *c);
/* m2m das … (operators of an m2m-das) and m2m token get (devices): tools/m2m_das.c. */
int das_main(struct cli *c);
int token_main(struct cli *c);
/* m2m enrol (devices) and m2m mef list|show|revoke (operators): tools/m2m_mef.c. */
int enrol_main(struct cli *c);
/* m2m maf register|key add|key list|key revoke: tools/m2m_maf.c. */
int maf_main(struct cli *c);
/* --maf: registers a connection key for --target at the MAF and makes it
 * this run's PSK (identity and key). 0, or the exit status. */
int maf_connect(struct cli *c);
int mef_main(struct cli *c);

/* ESData (tools/m2m_esdata.c). Exit status 3: a protection step failed. */
#define CLI_EXIT_ESDATA 3
/* body with its con sealed per --sign/--encrypt-for and cnf marked ":1"; *out malloc'd. */
int esdata_protect_body(const struct cli *c, const char *body, char **out);
/* Opens the con of the resource in doc per --decrypt/--verify, in place. */
int esdata_unprotect_doc(const struct cli *c, json_t *doc);
/* m2m esdata seal|open --body JSON|@file */
int esdata_main(struct cli *c, const char *body);
/* m2m firmware sign --sign KEY --body JSON|@file [--image FILE] */
int firmware_main(struct cli *c, const char *body);

#endif
