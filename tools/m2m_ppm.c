/* m2m ppm … : a subscriber or provider talking to an m2m-ppm (docs/privacy.md).
 * Documents are ppm:prf / ppm:pol resources, consents ppm:cns, all under the
 * PPM's CSEBase; From (--from) is the subscriber or the provider. */
#include "m2m.h"

#include "../cse/core/rsc.h"
#include "../ppm/records.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int ppm_address(struct cli *c, char *base, size_t cap)
{
    return cli_server_address(c, c->ppm_url, "M2M_PPM", "http://127.0.0.1:8481/~/id-ppm/ppm-in", base, cap);
}

/* Compact text of j, which it consumes. */
static char *dump(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

/* Creates the document, or updates it when the name is taken (a new version). */
static int put_doc(struct cli *c, const char *base, const char *name, int ty, const char *key)
{
    if (!c->file) { fprintf(stderr, "m2m: ppm %s needs --file DOC.json\n", key + 4); return 2; }
    json_error_t e;
    json_t *doc = json_load_file(c->file, 0, &e);
    if (!doc) { fprintf(stderr, "m2m: %s: %s (line %d)\n", c->file, e.text, e.line); return 2; }
    json_t *out = NULL;
    int rsc = 0;
    char *body = dump(json_pack("{s:{s:s,s:O}}", key, "rn", name, "doc", doc));
    int rc = cli_call(c, CLIENT_CREATE, base, ty, body, NULL, &out, &rsc);
    free(body);
    if (!rc && rsc == RSC_CONFLICT) {
        char target[600];
        snprintf(target, sizeof target, "%s/%s", base, name);
        json_decref(out);
        body = dump(json_pack("{s:{s:O}}", key, "doc", doc));
        rc = cli_call(c, CLIENT_UPDATE, target, 0, body, NULL, &out, &rsc);
        free(body);
    }
    json_decref(doc);
    if (rc) return rc;
    cli_print_rsc(rsc, out);
    json_t *res = json_object_get(out, key);
    if (res) printf("%s version %lld\n", name, json_integer_value(json_object_get(res, "ver")));
    json_decref(out);
    return rsc_is_success(rsc) ? 0 : 1;
}

/* The consent's expiry: cet (et keeps the record longer), et before cet existed. */
static const char *consent_end(json_t *cns)
{
    json_t *cet = json_object_get(cns, "cet");
    return json_string_value(cet ? cet : json_object_get(cns, "et"));
}

static void print_consent(json_t *r)
{
    json_t *acc = json_object_get(r, "acc");
    char ops[96];
    cli_ops_text((int)json_integer_value(json_object_get(json_object_get(r, "cpol"), "acop")), ops, sizeof ops);
    printf("%s preferences=%s (v%lld) policy=%s (v%lld) decision=%s at=%s until=%s\n",
           json_string_value(json_object_get(r, "rn")), json_string_value(json_object_get(r, "prf")),
           json_integer_value(json_object_get(r, "prfv")), json_string_value(json_object_get(r, "pol")),
           json_integer_value(json_object_get(r, "polv")), !acc ? "pending" : json_is_true(acc) ? "accepted" : "refused",
           json_string_value(json_object_get(r, "dect")), consent_end(r));
    printf("customised policy: ops=%s\n", ops);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(r, "diff"), i, d) {
        char *asks = json_dumps(json_object_get(d, "asks"), JSON_ENCODE_ANY);
        char *prefers = json_dumps(json_object_get(d, "prefers"), JSON_ENCODE_ANY);
        if (json_object_get(d, "op"))
            printf("asks beyond your preferences: operation %s\n", json_string_value(json_object_get(d, "op")));
        else
            printf("asks beyond your preferences: tag %s = %s (you: %s)\n", json_string_value(json_object_get(d, "tag")),
                   asks, prefers);
        free(asks);
        free(prefers);
    }
    if (!json_array_size(json_object_get(r, "diff"))) printf("no differences from your preferences\n");
}

/* Sends a consent (body consumed), prints the RSC and the consent answered. */
static int send_consent(struct cli *c, enum client_op op, const char *target, json_t *cns)
{
    char *body = dump(json_pack("{s:o}", "ppm:cns", cns));
    json_t *out = NULL;
    int rsc = 0, rc = cli_call(c, op, target, op == CLIENT_CREATE ? TY_PPM_CONSENT : 0, body, NULL, &out, &rsc);
    free(body);
    if (rc) return rc;
    cli_print_rsc(rsc, out);
    if (json_object_get(out, "ppm:cns")) print_consent(json_object_get(out, "ppm:cns"));
    json_decref(out);
    return rsc_is_success(rsc) ? 0 : 1;
}

static int consent_new(struct cli *c, const char *base, const char *name)
{
    if (!c->prefs || !c->policy || !c->until) {
        fprintf(stderr, "m2m: ppm consent needs --prefs NAME --policy NAME --until TIMESTAMP\n");
        return 2;
    }
    json_t *cns = json_pack("{s:s,s:s,s:s,s:s}", "rn", name, "prf", c->prefs, "pol", c->policy, "et", c->until);
    if (c->ntarget) json_object_set_new(cns, "data", cli_split_ids(c->target, c->ntarget));
    return send_consent(c, CLIENT_CREATE, base, cns);
}

static int consent_decide(struct cli *c, const char *target, bool accept)
{
    return send_consent(c, CLIENT_UPDATE, target, json_pack("{s:b}", "acc", accept));
}

static int show(struct cli *c, const char *target)
{
    json_t *doc, *res;
    const char *key;
    int rc = cli_fetch(c, target, &doc, &res, &key);
    if (rc) return rc;
    if (!strcmp(key, "ppm:cns")) {
        print_consent(res);
    } else {
        char *text = json_dumps(json_object_get(res, "doc"), JSON_INDENT(2));
        printf("%s version %lld owner %s\n%s\n", json_string_value(json_object_get(res, "rn")),
               json_integer_value(json_object_get(res, "ver")), json_string_value(json_object_get(res, "own")), text);
        free(text);
    }
    json_decref(doc);
    return 0;
}

/* --- the access log --------------------------------------------------------- */

/* "cse-in/Chome/meter" of "//sp/csi/cse-in/Chome/meter": the form the CSE's audit log names targets in. */
static const char *local_path(const char *abs)
{
    const char *p = abs && !strncmp(abs, "//", 2) ? strchr(abs + 2, '/') : NULL;
    p = p ? strchr(p + 1, '/') : NULL;
    return p ? p + 1 : "";
}

static bool under(const char *path, const char *root)
{
    size_t n = strlen(root);
    return n && !strncmp(path, root, n) && (path[n] == 0 || path[n] == '/');
}

/* Seconds since the epoch of an m2m:timestamp ("20261206T215507,280442"); 0 if bad. */
static time_t seconds_of(const char *ts)
{
    struct tm tm = { 0 };
    const char *end = ts ? strptime(ts, "%Y%m%dT%H%M%S", &tm) : NULL;
    return end ? timegm(&tm) : 0;
}

/* Was the consent in force at ts: created before, not expired, and not withdrawn
 * longer ago than the lifetime of a grant the CSE may still hold (pvl), or at
 * all when the withdrawal reached the CSE (psh rsc 2000: it dropped its grants)? */
static bool in_force(json_t *cns, const char *ts)
{
    const char *ct = json_string_value(json_object_get(cns, "ct"));
    const char *end = consent_end(cns);
    if (!ct || strcmp(ct, ts) > 0 || (end && strcmp(end, ts) < 0)) return false;
    if (json_is_true(json_object_get(cns, "acc"))) return true;
    const char *dect = json_string_value(json_object_get(cns, "dect"));
    bool pushed = json_integer_value(json_object_get(json_object_get(cns, "psh"), "rsc")) == 2000;
    return dect && json_object_get(cns, "acc") &&
           seconds_of(ts) <= seconds_of(dect) + (pushed ? 0 : json_integer_value(json_object_get(cns, "pvl")));
}

/* Microseconds of a timestamp with its fraction ("…T101500,250000"). */
static long long micros_of(const char *ts)
{
    const char *frac = ts ? strchr(ts, ',') : NULL;
    long long us = frac ? strtoll(frac + 1, NULL, 10) : 0;
    for (size_t n = frac ? strspn(frac + 1, "0123456789") : 6; n < 6; n++) us *= 10;
    return (long long)seconds_of(ts) * 1000000 + us;
}

/* What became of a consent since: "", " (withdrawn)", " (expired)". */
static const char *consent_state(json_t *cns, long long now_us)
{
    const char *end = consent_end(cns);
    if (end && micros_of(end) <= now_us) return " (expired)";
    return json_is_true(json_object_get(cns, "acc")) ? "" : " (withdrawn)";
}

/* The consent under which originator's access to target at ts happened: of the
 * subscriber's consents at the PPM in force then whose originators and resources
 * cover it, the latest created. The PPM keeps expired consents for
 * ppm-history-days; one removed (DELETE) or older is gone: none. */
static json_t *consent_for(json_t *consents, const char *originator, const char *target, const char *ts)
{
    json_t *best = NULL;
    const char *best_ct = "";
    size_t i, j, k;
    json_t *cns, *o, *t;
    json_array_foreach(consents, i, cns) {
        const char *ct = json_string_value(json_object_get(cns, "ct"));
        if (!in_force(cns, ts) || strcmp(ct, best_ct) <= 0) continue;
        bool covers = false;
        json_array_foreach(json_object_get(cns, "orp"), j, o) {
            const char *orp = json_string_value(o), *slash = orp ? strrchr(orp, '/') : NULL;
            if (!orp || (strcmp(orp, originator) && (!slash || strcmp(slash + 1, originator)))) continue;
            json_array_foreach(json_object_get(cns, "trp"), k, t)
                covers |= !fnmatch(local_path(json_string_value(t)), target, 0);
        }
        if (covers) {
            best = cns;
            best_ct = ct;
        }
    }
    return best;
}

/* Which originator read or changed which of the subscriber's resources, when, under
 * which consent: the CSE's audit log (audit-grants on) read from a file the operator
 * exported, the subscriber's data from her preferences, her consents from the PPM. */
static int access_log(struct cli *c, const char *base, const char *prefs_target)
{
    if (!c->file) { fprintf(stderr, "m2m: ppm log needs --file AUDIT.LOG (the CSE's, with audit-grants)\n"); return 2; }
    FILE *f = fopen(c->file, "r");
    if (!f) { fprintf(stderr, "m2m: cannot read %s\n", c->file); return 2; }
    json_t *doc, *prf;
    const char *key;
    int rc = cli_fetch(c, prefs_target, &doc, &prf, &key);
    if (rc) { fclose(f); return rc; }
    const char *own = json_string_value(json_object_get(prf, "own"));
    json_t *data = json_object_get(json_object_get(prf, "doc"), "data");
    json_t *consents = json_array(), *found = NULL, *u;
    int rsc = 0;
    size_t i;
    if (!cli_call(c, CLIENT_RETRIEVE, base, 0, NULL, "fu=1&ty=943", &found, &rsc) && rsc_is_success(rsc))
        json_array_foreach(json_object_get(found, "m2m:uril"), i, u) {
            json_t *d, *res;
            const char *k;
            if (cli_fetch(c, json_string_value(u), &d, &res, &k)) continue;
            json_array_append(consents, res);
            json_decref(d);
        }
    json_decref(found);
    char line[8192];
    int n = 0;
    struct timespec ts_now;
    clock_gettime(CLOCK_REALTIME, &ts_now);
    long long now = (long long)ts_now.tv_sec * 1000000 + ts_now.tv_nsec / 1000;
    while (fgets(line, sizeof line, f)) {
        json_t *e = json_loads(line, 0, NULL);
        const char *who = json_string_value(json_object_get(e, "originator"));
        const char *target = json_string_value(json_object_get(e, "target"));
        bool mine = false;
        json_t *v;
        json_array_foreach(data, i, v) mine |= target && under(target, local_path(json_string_value(v)));
        /* Not the subscriber's own, nor the CSE's upkeep (its dynamic ACPs: a CSE-ID). */
        if (mine && who && who[0] != '/' && (!own || strcmp(who, own))) {
            const char *decision = json_string_value(json_object_get(e, "decision"));
            const char *ts = json_string_value(json_object_get(e, "ts"));
            bool permit = decision && !strcmp(decision, "permit");
            json_t *cns = permit ? consent_for(consents, who, target, ts ? ts : "") : NULL;
            printf("%s %s %s %s %s%s%s%s\n", ts, who, json_string_value(json_object_get(e, "op")), target,
                   decision ? decision : "?", permit ? " consent=" : "",
                   !permit ? "" : cns ? json_string_value(json_object_get(cns, "rn")) : "(none on record: removed)",
                   cns ? consent_state(cns, now) : "");
            n++;
        }
        json_decref(e);
    }
    fclose(f);
    if (!n) printf("(no access by others)\n");
    json_decref(consents);
    json_decref(doc);
    return 0;
}

/* A deletion request: what the consent covered, or the resources named; the
 * PPM carries it out at the CSE and answers with the outcome per resource. */
static int erase(struct cli *c, const char *base, const char *name)
{
    if (!c->consent == !c->ntarget) {
        fprintf(stderr, "m2m: ppm erase needs --consent NAME or --target ID... (one of them)\n");
        return 2;
    }
    json_t *dlr = json_pack("{s:s}", "rn", name);
    if (c->consent) json_object_set_new(dlr, "cns", json_string(c->consent));
    else json_object_set_new(dlr, "data", cli_split_ids(c->target, c->ntarget));
    char *body = dump(json_pack("{s:o}", "ppm:dlr", dlr));
    json_t *out = NULL;
    int rsc = 0, rc = cli_call(c, CLIENT_CREATE, base, TY_PPM_DELETION, body, NULL, &out, &rsc);
    free(body);
    if (rc) return rc;
    cli_print_rsc(rsc, out);
    json_t *r = json_object_get(out, "ppm:dlr"), *e;
    size_t i;
    if (r) printf("%s %s\n", name, json_string_value(json_object_get(r, "st")));
    json_array_foreach(json_object_get(r, "res"), i, e)
        printf("%s %lld\n", json_string_value(json_object_get(e, "ri")), json_integer_value(json_object_get(e, "rsc")));
    bool done = r && !strcmp(json_string_value(json_object_get(r, "st")) ? json_string_value(json_object_get(r, "st")) : "", "done");
    json_decref(out);
    return rsc_is_success(rsc) && done ? 0 : 1;
}

int ppm_main(struct cli *c)
{
    const char *what = c->npos > 1 ? c->pos[1] : "", *name = c->npos > 2 ? c->pos[2] : NULL;
    char base[512], target[600];
    if (ppm_address(c, base, sizeof base)) return 2;
    if (!name) { fprintf(stderr, "m2m: ppm %s needs a name (try --help)\n", what); return 2; }
    snprintf(target, sizeof target, "%s/%s", base, name);
    if (!strcmp(what, "prefs")) return put_doc(c, base, name, TY_PPM_PREFERENCES, "ppm:prf");
    if (!strcmp(what, "policy")) return put_doc(c, base, name, TY_PPM_POLICY, "ppm:pol");
    if (!strcmp(what, "consent")) return consent_new(c, base, name);
    if (!strcmp(what, "accept")) return consent_decide(c, target, true);
    if (!strcmp(what, "refuse") || !strcmp(what, "withdraw")) return consent_decide(c, target, false);
    if (!strcmp(what, "show")) return show(c, target);
    if (!strcmp(what, "log")) return access_log(c, base, target);
    if (!strcmp(what, "erase")) return erase(c, base, name);
    if (!strcmp(what, "rm")) {
        json_t *out = NULL;
        int rsc = 0, rc = cli_call(c, CLIENT_DELETE, target, 0, NULL, NULL, &out, &rsc);
        if (rc) return rc;
        cli_print_rsc(rsc, out);
        json_decref(out);
        return rsc_is_success(rsc) ? 0 : 1;
    }
    fprintf(stderr, "m2m: ppm needs prefs|policy|consent|show|accept|refuse|withdraw|rm|log|erase (try --help)\n");
    return 2;
}
