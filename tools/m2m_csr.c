/* m2m csr …: the <remoteCSE> resources of a CSE (docs/cse-to-cse.md): the
 * CSEs registered with it, its registrar, and static peers the admin adds. */
#include "m2m.h"

#include "../cse/core/rsc.h"
#include "../resources/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "a, b" for a list attribute, "-" when empty. */
static void list_text(json_t *list, char *out, size_t cap)
{
    size_t i, n = 0;
    json_t *v;
    out[0] = 0;
    json_array_foreach(list, i, v)
        if (json_is_string(v) && n < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", json_string_value(v));
    if (!out[0]) snprintf(out, cap, "-");
}

static int csr_list(struct cli *c, const char *base)
{
    json_t *doc;
    char query[32];
    snprintf(query, sizeof query, "fu=1&ty=%d", TY_CSR);
    int rsc = 0, rc = cli_call(c, CLIENT_RETRIEVE, base, 0, NULL, query, &doc, &rsc);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) { cli_print_rsc(rsc, doc); json_decref(doc); return 1; }
    size_t i;
    json_t *u;
    if (!json_array_size(json_object_get(doc, "m2m:uril"))) printf("(no remote CSEs)\n");
    json_array_foreach(json_object_get(doc, "m2m:uril"), i, u) {
        json_t *d, *csr;
        const char *key;
        if (cli_fetch(c, json_string_value(u), &d, &csr, &key)) continue;
        char poa[512], dcse[512];
        list_text(json_object_get(csr, "poa"), poa, sizeof poa);
        list_text(json_object_get(csr, "dcse"), dcse, sizeof dcse);
        json_t *cst = json_object_get(csr, "cst");
        printf("%-16s cst %s  rr %s  poa %s  dcse %s  (%s)\n", json_string_value(json_object_get(csr, "csi")),
               json_is_integer(cst) ? (json_integer_value(cst) == 1 ? "IN" : json_integer_value(cst) == 2 ? "MN" : "ASN") : "-",
               json_is_true(json_object_get(csr, "rr")) ? "yes" : "no", poa, dcse, json_string_value(u));
        json_decref(d);
    }
    json_decref(doc);
    return 0;
}

/* Static peering: the admin creates the <remoteCSE> of a CSE that does not
 * register itself; its CSE-ID addresses its CSEBase (cb). */
static int csr_add(struct cli *c, const char *csi, const char *poa, const char *base)
{
    json_t *doc = json_pack("{s:{s:s,s:s,s:[s],s:b,s:[s,s,s]}}", "m2m:csr", "csi", csi, "cb", csi, "poa", poa,
                            "rr", 1, "srv", "2a", "3", "4");
    return cli_send_doc(c, CLIENT_CREATE, base, TY_CSR, doc, NULL, NULL);
}

/* The <remoteCSE>'s ri is the CSE-ID without its '/'. */
static int csr_remove(struct cli *c, const char *csi)
{
    json_t *out;
    int rsc = 0, rc = cli_call(c, CLIENT_DELETE, csi[0] == '/' ? csi + 1 : csi, 0, NULL, NULL, &out, &rsc);
    if (rc) return rc;
    cli_print_rsc(rsc, out);
    json_decref(out);
    return rsc_is_success(rsc) ? 0 : 1;
}

int csr_main(struct cli *c)
{
    const char *sub = c->npos > 1 ? c->pos[1] : "";
    const char *a = c->npos > 2 ? c->pos[2] : NULL, *b = c->npos > 3 ? c->pos[3] : NULL;
    if (!strcmp(sub, "list")) return csr_list(c, a ? a : "cse-in");
    if (!strcmp(sub, "rm") && a) return csr_remove(c, a);
    if (!strcmp(sub, "add") && a && b) return csr_add(c, a, b, c->npos > 4 ? c->pos[4] : "cse-in");
    fprintf(stderr, "m2m: csr list [<cse>] | csr add <csi> <poa> [<cse>] | csr rm <csi> (try --help)\n");
    return 2;
}
