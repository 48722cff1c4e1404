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
    const char *psk_key_file;
    int tail;
    const char *token[CLI_MAX]; int ntoken;    /* --token JWT|@file, joined into o.tokens */
};

/* Sends one primitive; *out receives the parsed JSON body (NULL if none or
 * not JSON), *rsc the response code. Returns 0, or 2 after printing a
 * transport error. */
int cli_call(struct cli *c, enum client_op op, const char *to, int ty, const char *body,
             const char *query, json_t **out, int *rsc);
/* Prints "RSC <code> <NAME>" (and the debug message of an error). */
void cli_print_rsc(int rsc, json_t *body);
/* Parses "retrieve,discover" / "all" / "34" into an acop mask; -1 if bad. */
int cli_parse_ops(const char *s);
/* "create,retrieve" for a mask. */
void cli_ops_text(int mask, char *out, size_t cap);

int acp_main(struct cli *c);

#endif
