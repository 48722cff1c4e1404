/* Dynamic authorization messages: build what TS-0004 V3.32 names, read
 * what the implementations listed in security-research.md 5.2 send. */
#include "das_msg.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

json_t *das_split_list(const char *raw)
{
    json_t *list = json_array();
    if (!raw) return list;
    const char *p = raw;
    while (*p) {
        while (*p == '+' || *p == ',' || *p == ' ') p++;
        const char *end = p;
        while (*end && *end != '+' && *end != ',' && *end != ' ') end++;
        if (end > p) json_array_append_new(list, json_stringn(p, (size_t)(end - p)));
        p = end;
    }
    return list;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v && *v) json_object_set_new(o, key, json_string(v));
}

static void set_list(json_t *o, const char *key, json_t *list)
{
    if (json_array_size(list)) json_object_set(o, key, list);
    json_decref(list);
}

json_t *das_dreq(const struct das_facts *f)
{
    json_t *d = json_object();
    set_str(d, "or", f->originator);
    if (f->target_ty > 0) json_object_set_new(d, "trt", json_integer(f->target_ty));
    json_object_set_new(d, "op", json_integer(f->op));
    if (f->ip && *f->ip)
        json_object_set_new(d, "oip", json_pack("{s:s}", strchr(f->ip, ':') ? "ip6" : "ip4", f->ip));
    set_str(d, "rts", f->rts);
    set_str(d, "trid", f->trid);
    set_str(d, "ppl", f->ppl);
    if (json_array_size(f->rfa)) json_object_set(d, "rfa", f->rfa);
    set_list(d, "orid", das_split_list(f->rids));
    set_list(d, "tids", das_split_list(f->tids));
    return d;
}

json_t *das_consultation(const struct das_facts *f)
{
    return json_pack("{s:{s:i,s:o}}", "m2m:seci", "sit", 1, "dreq", das_dreq(f));
}

json_t *das_token_request_info(const char *uri, json_t *dreq)
{
    return json_pack("{s:[{s:s,s:O}]}", "dasi", "uri", uri, "dreq", dreq);
}

void das_answer_clear(struct das_answer *a)
{
    json_decref(a->gp);
    json_decref(a->tkns);
    memset(a, 0, sizeof *a);
}

/* A rule as TS-0004 spells it: acco a list, acaf a boolean. */
static json_t *normalise_rule(json_t *rule)
{
    if (!json_is_object(rule)) return json_incref(rule);
    json_t *r = json_copy(rule);
    json_t *acco = json_object_get(r, "acco");
    if (json_is_object(acco)) json_object_set_new(r, "acco", json_pack("[O]", acco));
    json_t *acaf = json_object_get(r, "acaf");
    if (json_is_string(acaf)) {
        const char *v = json_string_value(acaf);
        if (!strcasecmp(v, "true")) json_object_set_new(r, "acaf", json_true());
        else if (!strcasecmp(v, "false")) json_object_set_new(r, "acaf", json_false());
    }
    return r;
}

json_t *das_normalise_privileges(json_t *gp)
{
    json_t *rules = json_is_array(gp) ? gp : json_is_object(gp) ? json_object_get(gp, "acr") : NULL;
    if (!rules) return json_is_object(gp) ? json_copy(gp) : NULL; /* acr_parse says what is wrong */
    if (!json_is_array(rules)) return json_copy(gp);
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) json_array_append_new(out, normalise_rule(r));
    json_t *set = json_is_object(gp) ? json_copy(gp) : json_object();
    json_object_set_new(set, "acr", out);
    return set;
}

static json_t *seci_of(json_t *content)
{
    json_t *seci = json_object_get(content, "m2m:seci");
    return seci ? seci : content;
}

#define FAIL(...) do { snprintf(err, cap, __VA_ARGS__); das_answer_clear(out); return -1; } while (0)

int das_answer_parse(json_t *content, struct das_answer *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!content || json_is_null(content)) return 0;     /* no content: nothing granted */
    if (!json_is_object(content)) FAIL("the answer is not a JSON object");
    json_t *seci = seci_of(content);
    if (!json_is_object(seci)) FAIL("m2m:seci is not an object");
    json_t *sit = json_object_get(seci, "sit");
    if (!json_is_integer(sit) || json_integer_value(sit) != 2)
        FAIL("the answer is not a dynamic authorization response (sit 2)");
    json_t *dres = json_object_get(seci, "dres");
    if (!dres || json_is_null(dres)) return 0;
    if (!json_is_object(dres)) FAIL("dres is not an object");
    json_t *dai = json_object_get(dres, "dai");
    if (dai && !json_is_null(dai)) {
        if (!json_is_object(dai)) FAIL("dai is not an object");
        json_t *gp = json_object_get(dai, "gp");
        if (gp && !json_is_null(gp) && !(out->gp = das_normalise_privileges(gp)))
            FAIL("gp is neither a rule set nor a list of rules");
        json_t *pl = json_object_get(dai, "pl");
        if (pl && !json_is_string(pl)) FAIL("pl is not a timestamp");
        if (pl && json_string_length(pl) >= sizeof out->pl) FAIL("pl is too long");
        if (pl) snprintf(out->pl, sizeof out->pl, "%s", json_string_value(pl));
    }
    json_t *tkns = json_object_get(dres, "tkns");
    if (tkns && !json_is_null(tkns)) {
        if (!json_is_array(tkns)) FAIL("tkns is not a list");
        size_t i;
        json_t *t;
        json_array_foreach(tkns, i, t)
            if (!json_is_string(t)) FAIL("tkns entries must be strings");
        out->tkns = json_incref(tkns);
    }
    return 0;
}

bool das_absolute(const char *sp_id, const char *csi, const char *id, char *out, size_t cap)
{
    int n;
    if (!id || !*id) return false;
    if (!strncmp(id, "//", 2)) n = snprintf(out, cap, "%s", id);
    else if (id[0] == '/') n = snprintf(out, cap, "//%s%s", sp_id, id);
    else n = snprintf(out, cap, "//%s%s/%s", sp_id, csi, id);
    if (n < 0 || (size_t)n >= cap) return false;
    /* SP-IDs are domain names: lower case, as cse/ident.h writes them. */
    for (char *c = out + 2; *c && *c != '/'; c++) *c = (char)tolower((unsigned char)*c);
    return true;
}
