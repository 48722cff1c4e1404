/* m2m das … (an operator managing an m2m-das's rules and role assignments)
 * and m2m token get (a device asking an m2m-das for tokens), all over the
 * wire: rules are das:rule resources, roles <role> resources (named by
 * role_resource_name()), a token request a NOTIFY of m2m:seci to the DAS's
 * CSEBase (docs/dynamic-authorization.md). */
#include "m2m.h"

#include "../cse/core/rsc.h"
#include "../das/rules.h"
#include "../resources/types.h"
#include "../security/role_name.h"
#include "../security/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --das URL: "http://host:port/~/id-das/das-in" -> url "http://host:port" and
 * the CSEBase as a target ("/id-das/das-in"); a bare server URL means das-in. */
static int das_address(struct cli *c, char *base, size_t cap)
{
    return cli_server_address(c, c->das_url, "M2M_DAS", "http://127.0.0.1:8281/~/id-das/das-in", base, cap);
}

int cli_server_address(struct cli *c, const char *given, const char *env, const char *fallback, char *base,
                       size_t cap)
{
    static char server[512];
    const char *url = given ? given : getenv(env);
    if (!url || !*url) url = fallback;
    const char *sep = strstr(url, "://");
    const char *path = sep ? strchr(sep + 3, '/') : NULL;
    if (!sep || strlen(url) >= sizeof server) {
        fprintf(stderr, "m2m: '%s' is not a URL (like %s)\n", url, fallback);
        return -1;
    }
    snprintf(server, sizeof server, "%.*s", (int)(path ? (size_t)(path - url) : strlen(url)), url);
    c->o.url = server;
    const char *p = path && path[1] ? path + 1 : strrchr(fallback, '/') + 1;
    if (!strncmp(p, "~/", 2)) snprintf(base, cap, "%s", p + 1);
    else if (!strncmp(p, "_/", 2)) snprintf(base, cap, "/%s", p + 1);
    else snprintf(base, cap, "%s", p);
    size_t n = strlen(base);
    while (n && base[n - 1] == '/') base[--n] = 0;
    return 0;
}

static void child(char *out, size_t cap, const char *base, const char *name)
{
    snprintf(out, cap, "%s/%s", base, name);
}

/* --- rules ---------------------------------------------------------------- */

static json_t *strings(const char *const *list, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(list[i]));
    return a;
}

static int positive(const char *s, const char *what, long long *out)
{
    char *end;
    long long v = s ? strtoll(s, &end, 10) : -1;
    if (!s || *end || v < 0 || (v == 0 && strcmp(what, "--rate"))) {
        fprintf(stderr, "m2m: %s needs a whole number%s\n", what, strcmp(what, "--rate") ? " above 0" : "");
        return -1;
    }
    *out = v;
    return 0;
}

static json_t *ip_ranges(const struct cli *c)
{
    json_t *v4 = json_array(), *v6 = json_array();
    for (int i = 0; i < c->nip; i++) json_array_append_new(strchr(c->ip[i], ':') ? v6 : v4, json_string(c->ip[i]));
    json_t *acip = json_object();
    if (json_array_size(v4)) json_object_set(acip, "ipv4", v4);
    if (json_array_size(v6)) json_object_set(acip, "ipv6", v6);
    json_decref(v4);
    json_decref(v6);
    return acip;
}

static int rule_add(struct cli *c, const char *base, const char *name)
{
    int ops = cli_parse_ops(c->ops);
    if (ops < 0) { fprintf(stderr, "m2m: rule add needs --ops OPS (e.g. retrieve,notify)\n"); return 2; }
    if (!c->nwho && !c->nrole) { fprintf(stderr, "m2m: rule add needs --who PATTERN or --role ROLEID\n"); return 2; }
    if (!c->ntarget) { fprintf(stderr, "m2m: rule add needs --target PATTERN\n"); return 2; }
    json_t *rule = json_pack("{s:s,s:i,s:o}", "rn", name, "acop", ops, "trp", strings(c->target, c->ntarget));
    if (c->nwho) json_object_set_new(rule, "orp", cli_split_ids(c->who, c->nwho));
    if (c->nrole) json_object_set_new(rule, "rlid", strings(c->role, c->nrole));
    if (c->nwindow) json_object_set_new(rule, "ctw", strings(c->window, c->nwindow));
    if (c->nip) json_object_set_new(rule, "acip", ip_ranges(c));
    long long v;
    if (c->rate && positive(c->rate, "--rate", &v)) goto usage;
    if (c->rate) json_object_set_new(rule, "rate", json_integer(v));
    if (c->lifetime && positive(c->lifetime, "--lifetime", &v)) goto usage;
    if (c->lifetime) json_object_set_new(rule, "pvl", json_integer(v));
    if (c->issue_tokens) json_object_set_new(rule, "tkn", json_true());
    if (c->authenticated) json_object_set_new(rule, "aut", json_true());
    return cli_send_doc(c, CLIENT_CREATE, base, TY_DAS_RULE, json_pack("{s:o}", "das:rule", rule), NULL, NULL);
usage:
    json_decref(rule);
    return 2;
}

static void print_list(const char *label, json_t *list)
{
    if (!json_array_size(list)) return;
    printf(" %s=", label);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) printf("%s%s", i ? "," : "", json_string_value(v) ? json_string_value(v) : "?");
}

static void print_rule(json_t *r)
{
    char ops[96];
    cli_ops_text((int)json_integer_value(json_object_get(r, "acop")), ops, sizeof ops);
    printf("%s ops=%s", json_string_value(json_object_get(r, "rn")), ops);
    print_list("who", json_object_get(r, "orp"));
    print_list("roles", json_object_get(r, "rlid"));
    print_list("targets", json_object_get(r, "trp"));
    print_list("windows", json_object_get(r, "ctw"));
    print_list("ipv4", json_object_get(json_object_get(r, "acip"), "ipv4"));
    print_list("ipv6", json_object_get(json_object_get(r, "acip"), "ipv6"));
    if (json_integer_value(json_object_get(r, "rate"))) printf(" rate=%lld/min", json_integer_value(json_object_get(r, "rate")));
    if (json_object_get(r, "pvl")) printf(" lifetime=%llds", json_integer_value(json_object_get(r, "pvl")));
    if (json_is_true(json_object_get(r, "tkn"))) printf(" issue-tokens");
    if (json_is_true(json_object_get(r, "aut"))) printf(" authenticated");
    printf("\n");
}

static void print_role(json_t *r)
{
    printf("%s holder=%s role=%s from=%s until=%s issuer=%s\n", json_string_value(json_object_get(r, "rn")),
           json_string_value(json_object_get(r, "tkhd")), json_string_value(json_object_get(r, "rlid")),
           json_string_value(json_object_get(r, "tknb")), json_string_value(json_object_get(r, "tkna")),
           json_string_value(json_object_get(r, "tkis")));
}

/* Discovers the children of type ty and prints those keep() accepts. */
static int list_type(struct cli *c, const char *base, int ty, void (*print)(json_t *),
                     bool (*keep)(const struct cli *, json_t *))
{
    char query[32];
    snprintf(query, sizeof query, "fu=1&ty=%d", ty);
    json_t *doc;
    int rsc = 0, rc = cli_call(c, CLIENT_RETRIEVE, base, 0, NULL, query, &doc, &rsc);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) { cli_print_rsc(rsc, doc); json_decref(doc); return 1; }
    size_t i, n = 0;
    json_t *u;
    json_array_foreach(json_object_get(doc, "m2m:uril"), i, u) {
        json_t *d, *res;
        const char *key;
        if (cli_fetch(c, json_string_value(u), &d, &res, &key)) continue;
        if (!keep || keep(c, res)) { print(res); n++; }
        json_decref(d);
    }
    if (!n) printf("(none)\n");
    json_decref(doc);
    return 0;
}

static int delete_child(struct cli *c, const char *base, const char *name)
{
    char target[600];
    child(target, sizeof target, base, name);
    json_t *out;
    int rsc = 0, rc = cli_call(c, CLIENT_DELETE, target, 0, NULL, NULL, &out, &rsc);
    if (rc) return rc;
    cli_print_rsc(rsc, out);
    json_decref(out);
    return rsc_is_success(rsc) ? 0 : 1;
}

/* --- roles ---------------------------------------------------------------- */

static void timestamp(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y%m%dT%H%M%S", &tm);
}

static bool holder_matches(const struct cli *c, json_t *r)
{
    const char *h = json_string_value(json_object_get(r, "tkhd"));
    return !c->holder || (h && !strcmp(h, c->holder));
}

static int role_add(struct cli *c, const char *base)
{
    if (!c->holder || !c->nrole) { fprintf(stderr, "m2m: role add needs --holder ID and --role ROLEID\n"); return 2; }
    if (strncmp(c->holder, "//", 2))
        fprintf(stderr, "m2m: warning: the DAS wants an absolute holder (//sp-id/cse-id/ae-id)\n");
    /* The issuer is the DAS itself: its CSE-ID, from its CSEBase. */
    json_t *doc, *cb;
    const char *key;
    int rc = cli_fetch(c, base, &doc, &cb, &key);
    if (rc) return rc;
    char tknb[32], tkna[32];
    time_t now = time(NULL);
    timestamp(now, tknb, sizeof tknb);
    if (c->until) snprintf(tkna, sizeof tkna, "%s", c->until);
    else timestamp(now + 365 * 86400, tkna, sizeof tkna);
    int status = 0;
    for (int i = 0; i < c->nrole && !status; i++) {
        char name[ROLE_NAME_LEN];
        role_resource_name(c->holder, c->role[i], name);
        json_t *role = json_pack("{s:{s:s,s:s,s:s,s:O,s:s,s:s}}", "m2m:rol", "rn", name, "rlid", c->role[i],
                                 "tkhd", c->holder, "tkis", json_object_get(cb, "csi"), "tknb", tknb, "tkna", tkna);
        printf("%s/%s\n", base, name);
        status = cli_send_doc(c, CLIENT_CREATE, base, TY_ROL, role, NULL, NULL);
    }
    json_decref(doc);
    return status;
}

static int role_rm(struct cli *c, const char *base)
{
    if (!c->holder || !c->nrole) { fprintf(stderr, "m2m: role rm needs --holder ID and --role ROLEID\n"); return 2; }
    int status = 0;
    for (int i = 0; i < c->nrole && !status; i++) {
        char name[ROLE_NAME_LEN];
        role_resource_name(c->holder, c->role[i], name);
        status = delete_child(c, base, name);
    }
    return status;
}

int das_main(struct cli *c)
{
    const char *what = c->npos > 1 ? c->pos[1] : "", *sub = c->npos > 2 ? c->pos[2] : "";
    const char *name = c->npos > 3 ? c->pos[3] : NULL;
    char base[512];
    if (das_address(c, base, sizeof base)) return 2;
    if (!strcmp(what, "rule")) {
        if (!strcmp(sub, "list")) return list_type(c, base, TY_DAS_RULE, print_rule, NULL);
        if (!name) { fprintf(stderr, "m2m: das rule %s needs a rule name (try --help)\n", sub); return 2; }
        if (!strcmp(sub, "add")) return rule_add(c, base, name);
        if (!strcmp(sub, "rm")) return delete_child(c, base, name);
    } else if (!strcmp(what, "role")) {
        if (!strcmp(sub, "list")) return list_type(c, base, TY_ROL, print_role, holder_matches);
        if (!strcmp(sub, "add")) return role_add(c, base);
        if (!strcmp(sub, "rm")) return role_rm(c, base);
    }
    fprintf(stderr, "m2m: das needs rule add|list|rm or role add|list|rm (try --help)\n");
    return 2;
}

/* --- tokens --------------------------------------------------------------- */

static const char *const op_words[] = { "create", "retrieve", "update", "delete", "notify" };

int token_main(struct cli *c)
{
    if (c->npos < 2 || strcmp(c->pos[1], "get")) { fprintf(stderr, "m2m: token needs get (try --help)\n"); return 2; }
    int op = 0;
    for (int i = 0; c->op && i < 5; i++)
        if (!strcmp(c->op, op_words[i])) op = i + 1;
    if (!c->ntarget || !op) {
        fprintf(stderr, "m2m: token get needs --target TRID and --op create|retrieve|update|delete|notify\n");
        return 2;
    }
    if (c->target[0][0] != '/') {
        fprintf(stderr, "m2m: --target must be the absolute (//sp-id/cse-id/...) or SP-relative (/cse-id/...) "
                "address of the resource on its CSE\n");
        return 2;
    }
    if (!c->o.from || c->o.from[0] != '/')
        fprintf(stderr, "m2m: warning: --from should be your SP-relative or absolute ID (//sp-id/cse-id/ae-id)\n");
    char base[512];
    if (das_address(c, base, sizeof base)) return 2;
    json_t *dreq = json_pack("{s:s,s:i,s:s}", "or", c->o.from, "op", op, "trid", c->target[0]);
    if (c->nrole) json_object_set_new(dreq, "rids", strings(c->role, c->nrole));
    json_t *doc = json_pack("{s:{s:i,s:o}}", "m2m:seci", "sit", 1, "dreq", dreq);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_t *out;
    int rsc = 0, rc = cli_call(c, CLIENT_NOTIFY, base, 0, body, NULL, &out, &rsc);
    free(body);
    if (rc) return rc;
    json_t *tkns = json_object_get(json_object_get(json_object_get(out, "m2m:seci"), "dres"), "tkns"), *t;
    size_t i;
    json_array_foreach(tkns, i, t) {
        struct token_claims claims;
        const char *jwt = json_string_value(t);
        if (!jwt) continue;
        bool peeked = !token_peek(jwt, &claims);
        printf("tkid %s\n%s\n", peeked && claims.id ? claims.id : "?", jwt);
        if (peeked) token_claims_free(&claims);
    }
    bool granted = rsc_is_success(rsc) && json_array_size(tkns);
    if (rsc_is_success(rsc) && !granted) fprintf(stderr, "m2m: the DAS granted no token\n");
    cli_print_rsc(rsc, out);
    json_decref(out);
    return granted ? 0 : 1;
}
