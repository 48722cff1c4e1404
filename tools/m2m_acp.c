/* m2m acp …: the common access-control tasks as one-line commands. Each
 * is a RETRIEVE of the policy (or resource), an edit of its JSON here, and
 * one UPDATE back — the CSE validates and enforces as for any client. */
#include "m2m.h"

#include "../cse/core/rsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fetch(struct cli *c, const char *target, json_t **doc, json_t **res, const char **key)
{
    int rsc = 0;
    int rc = cli_call(c, CLIENT_RETRIEVE, target, 0, NULL, NULL, doc, &rsc);
    if (rc) return rc;
    if (!rsc_is_success(rsc) || !json_is_object(*doc) || json_object_size(*doc) != 1) {
        cli_print_rsc(rsc, *doc);
        json_decref(*doc);
        return 1;
    }
    void *it = json_object_iter(*doc);
    *key = json_object_iter_key(it);
    *res = json_object_iter_value(it);
    return 0;
}

int cli_send_doc(struct cli *c, enum client_op op, const char *target, int ty, json_t *doc,
                    void (*created)(json_t *out, void *data), void *data)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_t *out;
    int rsc = 0, rc = cli_call(c, op, target, ty, body, NULL, &out, &rsc);
    free(body);
    if (rc) return rc;
    if (created && rsc_is_success(rsc)) created(out, data);
    cli_print_rsc(rsc, out);
    json_decref(out);
    return rsc_is_success(rsc) ? 0 : 1;
}

/* UPDATE target with {key: {attr: value}}. */
static int store_attr(struct cli *c, const char *target, const char *key, const char *attr, json_t *value)
{
    return cli_send_doc(c, CLIENT_UPDATE, target, 0, json_pack("{s:{s:O}}", key, attr, value), NULL, NULL);
}

json_t *cli_split_ids(const char *const *list, int n)
{
    json_t *ids = json_array();
    for (int i = 0; i < n; i++) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", list[i]);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(ids, json_string(t));
    }
    return ids;
}

/* "ORIG[,ORIG]:OPS" -> {"acor": [...], "acop": n}. */
static json_t *rule_from_spec(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    int ops = colon ? cli_parse_ops(colon + 1) : 63;
    if (ops < 0 || colon == spec) return NULL;
    char *who = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
    const char *list[1] = { who };
    json_t *rule = json_pack("{s:o,s:i}", "acor", cli_split_ids(list, 1), "acop", ops);
    free(who);
    return rule;
}

static void print_rules(const char *title, json_t *set)
{
    printf("%s:\n", title);
    json_t *acr = json_object_get(set, "acr");
    if (!json_array_size(acr)) { printf("  (no rules)\n"); return; }
    size_t i, k;
    json_t *r, *v;
    json_array_foreach(acr, i, r) {
        char who[512] = "", ops[96];
        json_array_foreach(json_object_get(r, "acor"), k, v) {
            if (k) strncat(who, ",", sizeof who - strlen(who) - 1);
            strncat(who, json_string_value(v) ? json_string_value(v) : "?", sizeof who - strlen(who) - 1);
        }
        cli_ops_text((int)json_integer_value(json_object_get(r, "acop")), ops, sizeof ops);
        printf("  %zu. %-24s %s", i + 1, who, ops);
        json_t *ctx;
        size_t m;
        json_array_foreach(json_object_get(r, "acco"), m, ctx) {
            char *t = json_dumps(ctx, JSON_COMPACT);
            printf("  when %s", t ? t : "?");
            free(t);
        }
        if (json_is_true(json_object_get(r, "acaf"))) printf("  authenticated only");
        if (json_object_get(r, "acod")) {
            char *t = json_dumps(json_object_get(r, "acod"), JSON_COMPACT);
            printf("  objects %s", t ? t : "?");
            free(t);
        }
        printf("\n");
    }
}

static int acp_show(struct cli *c, const char *target)
{
    json_t *doc, *acp;
    const char *key;
    int rc = cli_fetch(c, target, &doc, &acp, &key);
    if (rc) return rc;
    printf("%s (ri %s)\n", target, json_string_value(json_object_get(acp, "ri")));
    print_rules("privileges (pv)", json_object_get(acp, "pv"));
    print_rules("selfPrivileges (pvs)", json_object_get(acp, "pvs"));
    json_decref(doc);
    return 0;
}

static int acp_list(struct cli *c, const char *parent)
{
    json_t *doc;
    int rsc = 0, rc = cli_call(c, CLIENT_RETRIEVE, parent, 0, NULL, "fu=1&ty=1", &doc, &rsc);
    if (rc) return rc;
    if (!rsc_is_success(rsc)) { cli_print_rsc(rsc, doc); json_decref(doc); return 1; }
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(doc, "m2m:uril"), i, u) {
        json_t *d, *acp;
        const char *key;
        if (cli_fetch(c, json_string_value(u), &d, &acp, &key)) continue;
        printf("%-40s %-20s pv %zu rules, pvs %zu rules\n", json_string_value(u),
               json_string_value(json_object_get(acp, "ri")),
               json_array_size(json_object_get(json_object_get(acp, "pv"), "acr")),
               json_array_size(json_object_get(json_object_get(acp, "pvs"), "acr")));
        json_decref(d);
    }
    json_decref(doc);
    return 0;
}

static void print_created(json_t *out, void *where)
{
    printf("created %s (ri %s)\n", (const char *)where,
           json_string_value(json_object_get(json_object_get(out, "m2m:acp"), "ri")));
}

static int acp_create(struct cli *c, const char *parent, const char *name)
{
    json_t *pv = json_array(), *pvs = json_array();
    for (int i = 0; i < c->ngrant + c->nmanage; i++) {
        const char *spec = i < c->ngrant ? c->grant[i] : c->manage[i - c->ngrant];
        json_t *rule = rule_from_spec(spec);
        if (!rule) {
            fprintf(stderr, "m2m: '%s' is not ORIG[,ORIG]:OPS\n", spec);
            json_decref(pv); json_decref(pvs);
            return 2;
        }
        json_array_append_new(i < c->ngrant ? pv : pvs, rule);
    }
    /* Whoever creates it can manage it unless told otherwise. */
    if (!c->nmanage) json_array_append_new(pvs, json_pack("{s:[s],s:i}", "acor", c->o.from, "acop", 63));
    json_t *doc = json_pack("{s:{s:s,s:{s:o},s:{s:o}}}", "m2m:acp", "rn", name, "pv", "acr", pv, "pvs", "acr", pvs);
    char where[1024];
    snprintf(where, sizeof where, "%s/%s", parent, name);
    return cli_send_doc(c, CLIENT_CREATE, parent, 1, doc, print_created, where);
}

static bool same_ids(json_t *a, json_t *b)
{
    if (json_array_size(a) != json_array_size(b)) return false;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        bool found = false;
        size_t k;
        json_t *w;
        json_array_foreach(b, k, w) found |= json_equal(v, w);
        if (!found) return false;
    }
    return true;
}

static json_t *grant_contexts(const struct cli *c)
{
    if (!c->nip && !c->nwindow) return NULL;
    json_t *ctx = json_object();
    if (c->nwindow) json_object_set_new(ctx, "actw", json_array());
    for (int i = 0; i < c->nwindow; i++)
        json_array_append_new(json_object_get(ctx, "actw"), json_string(c->window[i]));
    if (c->nip) {
        json_t *v4 = json_array(), *v6 = json_array();
        for (int i = 0; i < c->nip; i++) json_array_append_new(strchr(c->ip[i], ':') ? v6 : v4, json_string(c->ip[i]));
        json_t *acip = json_object();
        if (json_array_size(v4)) json_object_set(acip, "ipv4", v4);
        if (json_array_size(v6)) json_object_set(acip, "ipv6", v6);
        json_decref(v4); json_decref(v6);
        json_object_set_new(ctx, "acip", acip);
    }
    return json_pack("[o]", ctx);
}

/* Adds a rule, or widens an existing plain rule for exactly these originators. */
static void add_grant(json_t *acr, json_t *ids, int ops, const struct cli *c)
{
    json_t *ctx = grant_contexts(c);
    size_t i;
    json_t *r;
    if (!ctx && !c->authenticated) {
        json_array_foreach(acr, i, r) {
            if (json_object_get(r, "acco") || json_object_get(r, "acaf") || json_object_get(r, "acod")) continue;
            if (!same_ids(json_object_get(r, "acor"), ids)) continue;
            int have = (int)json_integer_value(json_object_get(r, "acop"));
            json_object_set_new(r, "acop", json_integer(have | ops));
            return;
        }
    }
    r = json_pack("{s:O,s:i}", "acor", ids, "acop", ops);
    if (ctx) json_object_set_new(r, "acco", ctx);
    if (c->authenticated) json_object_set_new(r, "acaf", json_true());
    json_array_append_new(acr, r);
}

/* Takes `ops` away from `who` in every rule naming it; a shared rule is
 * split so the other originators keep what they had. */
static int remove_grant(json_t *acr, const char *who, int ops)
{
    int touched = 0;
    json_t *extra = json_array();
    for (size_t i = 0; i < json_array_size(acr);) {
        json_t *r = json_array_get(acr, i), *acor = json_object_get(r, "acor");
        size_t k, at = (size_t)-1;
        json_t *v;
        json_array_foreach(acor, k, v) if (json_is_string(v) && !strcmp(json_string_value(v), who)) at = k;
        if (at == (size_t)-1) { i++; continue; }
        touched++;
        int left = (int)json_integer_value(json_object_get(r, "acop")) & ~ops;
        if (json_array_size(acor) > 1) {
            if (left) {
                json_t *mine = json_deep_copy(r);
                json_object_set_new(mine, "acor", json_pack("[s]", who));
                json_object_set_new(mine, "acop", json_integer(left));
                json_array_append_new(extra, mine);
            }
            json_array_remove(acor, at);
            i++;
        } else if (left) {
            json_object_set_new(r, "acop", json_integer(left));
            i++;
        } else {
            json_array_remove(acr, i);
        }
    }
    json_array_extend(acr, extra);
    json_decref(extra);
    return touched;
}

static int acp_edit(struct cli *c, const char *target, bool grant)
{
    int ops = c->ops ? cli_parse_ops(c->ops) : grant ? -1 : 63;
    if (!c->nto || ops < 0) {
        fprintf(stderr, "m2m: acp %s needs --to ORIG%s\n", grant ? "grant" : "revoke",
                grant ? " --ops OPS (e.g. retrieve,discover)" : " [--ops OPS]");
        return 2;
    }
    json_t *doc, *acp;
    const char *key;
    int rc = cli_fetch(c, target, &doc, &acp, &key);
    if (rc) return rc;
    const char *sn = c->pvs ? "pvs" : "pv";
    json_t *set = json_object_get(acp, sn);
    if (!json_is_object(set)) { set = json_object(); json_object_set_new(acp, sn, set); }
    json_t *acr = json_object_get(set, "acr");
    if (!json_is_array(acr)) { acr = json_array(); json_object_set_new(set, "acr", acr); }
    json_t *ids = cli_split_ids(c->to, c->nto);
    if (grant) {
        add_grant(acr, ids, ops, c);
    } else {
        size_t i;
        json_t *v;
        int touched = 0;
        json_array_foreach(ids, i, v) touched += remove_grant(acr, json_string_value(v), ops);
        if (!touched) fprintf(stderr, "m2m: no rule in %s names %s; nothing to revoke\n", sn, c->to[0]);
    }
    json_decref(ids);
    rc = store_attr(c, target, key, sn, set);
    json_decref(doc);
    return rc;
}

static int acp_link(struct cli *c, const char *acp_target, const char *res_target, bool attach)
{
    json_t *adoc, *acp, *rdoc, *res;
    const char *akey, *rkey;
    int rc = cli_fetch(c, acp_target, &adoc, &acp, &akey);
    if (rc) return rc;
    if (strcmp(akey, "m2m:acp")) {
        fprintf(stderr, "m2m: %s is a %s, not an accessControlPolicy\n", acp_target, akey);
        json_decref(adoc);
        return 2;
    }
    const char *ri = json_string_value(json_object_get(acp, "ri"));
    if ((rc = cli_fetch(c, res_target, &rdoc, &res, &rkey))) { json_decref(adoc); return rc; }
    json_t *acpi = json_object_get(res, "acpi");
    acpi = json_is_array(acpi) ? json_deep_copy(acpi) : json_array();
    bool present = false;
    for (size_t i = 0; i < json_array_size(acpi);) {
        const char *id = json_string_value(json_array_get(acpi, i));
        bool same = id && (!strcmp(id, ri) || !strcmp(id, acp_target));
        present |= same;
        if (same && !attach) json_array_remove(acpi, i);
        else i++;
    }
    if (attach && !present) json_array_append_new(acpi, json_string(ri));
    if (attach == present) fprintf(stderr, "m2m: %s is %s linked to %s\n", acp_target, attach ? "already" : "not", res_target);
    rc = store_attr(c, res_target, rkey, "acpi", json_array_size(acpi) ? acpi : json_null());
    json_decref(acpi);
    json_decref(adoc);
    json_decref(rdoc);
    return rc;
}

/* The audit log is a local file: operators read it on the CSE host. */
static int acp_audit(struct cli *c)
{
    char path[1024];
    if (c->file) snprintf(path, sizeof path, "%s", c->file);
    else snprintf(path, sizeof path, "%s/audit.log", c->data_dir ? c->data_dir : "./var");
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "m2m: cannot read %s\n", path); return 2; }
    char **lines = NULL;
    size_t n = 0, cap = 0;
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        json_t *e = json_loads(buf, 0, NULL);
        if (!e) continue;
        const char *d = json_string_value(json_object_get(e, "decision"));
        if (!c->deny_only || (d && !strcmp(d, "deny"))) {
            char line[2048];
            snprintf(line, sizeof line, "%s  %-6s %-9s %-20s %-30s %s",
                     json_string_value(json_object_get(e, "ts")), d ? d : "?",
                     json_string_value(json_object_get(e, "op")) ? json_string_value(json_object_get(e, "op")) : "",
                     json_string_value(json_object_get(e, "originator")) ? json_string_value(json_object_get(e, "originator")) : "",
                     json_string_value(json_object_get(e, "target")) ? json_string_value(json_object_get(e, "target")) : "",
                     json_string_value(json_object_get(e, "reason")) ? json_string_value(json_object_get(e, "reason")) : "");
            if (n == cap) lines = realloc(lines, (cap = cap ? cap * 2 : 64) * sizeof *lines);
            lines[n++] = strdup(line);
        }
        json_decref(e);
    }
    fclose(f);
    size_t from = c->tail > 0 && (size_t)c->tail < n ? n - (size_t)c->tail : 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= from) printf("%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return 0;
}

int acp_main(struct cli *c)
{
    const char *sub = c->npos > 1 ? c->pos[1] : "";
    const char *a = c->npos > 2 ? c->pos[2] : NULL, *b = c->npos > 3 ? c->pos[3] : NULL;
    if (!strcmp(sub, "list")) return acp_list(c, a ? a : "cse-in");
    if (!strcmp(sub, "audit")) return acp_audit(c);
    if (!a) { fprintf(stderr, "m2m: acp %s needs a target (try --help)\n", sub); return 2; }
    if (!strcmp(sub, "show")) return acp_show(c, a);
    if (!strcmp(sub, "grant")) return acp_edit(c, a, true);
    if (!strcmp(sub, "revoke")) return acp_edit(c, a, false);
    if (!b) { fprintf(stderr, "m2m: acp %s needs two arguments (try --help)\n", sub); return 2; }
    if (!strcmp(sub, "create")) return acp_create(c, a, b);
    if (!strcmp(sub, "attach")) return acp_link(c, a, b, true);
    if (!strcmp(sub, "detach")) return acp_link(c, a, b, false);
    fprintf(stderr, "m2m: unknown acp command '%s' (try --help)\n", sub);
    return 2;
}
