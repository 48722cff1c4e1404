/* das:rule (das/rules.h): the type, its validation, and the pure match. */
#include "rules.h"

#include "cse/base/clock.h"
#include "cse/core/rsc.h"
#include "resources/registry.h"
#include "security/acr.h"

#include <fnmatch.h>
#include <string.h>

static const struct attr_def rule_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL,
    { "orp", A_STRLIST, O, O, 0, 64 },    /* originator patterns */
    { "rlid", A_STRLIST, O, O, 0, 64 },   /* role IDs */
    { "aut", A_BOOL, O, O, 0, 0 },        /* only originators vouched for by a credential */
    { "acop", A_ENUM, M, O, 1, 63 },      /* operations granted */
    { "trp", A_STRLIST, M, O, 0, 64 },    /* target (trid) patterns */
    { "ctw", A_STRLIST, O, O, 0, 64 },    /* time windows, m2m:scheduleEntry */
    { "acip", A_OBJ, O, O, 0, 0 },        /* {"ipv4": [CIDR], "ipv6": [CIDR]} */
    { "rate", A_NNINT, O, O, 0, 0 },      /* grants per originator per minute, 0 = any */
    { "pvl", A_POSINT, O, O, 0, 0 },      /* privileges lifetime, seconds */
    { "tkn", A_BOOL, O, O, 0, 0 },        /* consultations are answered with tokens too */
};

static int check_list(struct op_ctx *ctx, const char *sn, json_t *list, bool (*valid)(const char *),
                      const char *what)
{
    json_t *v;
    size_t i;
    json_array_foreach(list, i, v)
        if (!valid(json_string_value(v)))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "%s: '%s' is not %s", sn, json_string_value(v), what);
    return 0;
}

static bool valid_v4(const char *s) { return acr_cidr_valid(s, false); }
static bool valid_v6(const char *s) { return acr_cidr_valid(s, true); }
static bool valid_pattern(const char *s) { return s && *s; }

/* Only what the table cannot say: a rule names someone, and its contexts parse. */
static int rule_check(struct op_ctx *ctx)
{
    json_t *a = ctx->res->attrs;
    if (!json_array_size(json_object_get(a, "orp")) && !json_array_size(json_object_get(a, "rlid")))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "a rule needs orp (originator patterns) or rlid (role IDs)");
    if (!json_array_size(json_object_get(a, "trp")))
        return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "a rule needs at least one target pattern (trp)");
    int rc = check_list(ctx, "orp", json_object_get(a, "orp"), valid_pattern, "an originator pattern");
    if (!rc) rc = check_list(ctx, "trp", json_object_get(a, "trp"), valid_pattern, "a target pattern");
    if (!rc) rc = check_list(ctx, "ctw", json_object_get(a, "ctw"), acr_schedule_valid,
                             "a schedule entry (sec min hour dom month dow year)");
    json_t *acip = json_object_get(a, "acip");
    const char *key;
    json_t *v;
    json_object_foreach(acip, key, v) {
        if (rc) break;
        if ((strcmp(key, "ipv4") && strcmp(key, "ipv6")) || !json_is_array(v))
            return m2m_error(ctx->rsp, RSC_BAD_REQUEST, "acip holds ipv4 and ipv6 lists only");
        rc = check_list(ctx, key, v, key[3] == '4' ? valid_v4 : valid_v6, "an address range");
    }
    return rc;
}

const struct resource_type type_das_rule = {
    .ty = TY_DAS_RULE, .sn = "dasr", .key = DAS_RULE_KEY,
    .parents = (const int[]){ TY_CSEBASE, 0 },
    .attrs = ATTRS(rule_attrs),
    .on_create = rule_check,
    .on_update = rule_check,
};

bool das_pattern_match(const char *pattern, const char *text)
{
    return pattern && text && !fnmatch(pattern, text, 0);
}

static bool any_pattern(json_t *list, const char *text)
{
    json_t *v;
    size_t i;
    json_array_foreach(list, i, v)
        if (das_pattern_match(json_string_value(v), text)) return true;
    return false;
}

static bool names_subject(json_t *rule, const struct das_subject *s)
{
    if (any_pattern(json_object_get(rule, "orp"), s->originator)) return true;
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(rule, "rlid"), i, v)
        if (s->holds_role && s->holds_role(s->role_data, json_string_value(v))) return true;
    return false;
}

static bool in_ranges(json_t *list, const char *ip)
{
    json_t *v;
    size_t i;
    json_array_foreach(list, i, v)
        if (ip && *ip && acr_ip_in(json_string_value(v), ip)) return true;
    return false;
}

enum das_match das_rule_match(json_t *rule, const struct das_subject *s, const char **why)
{
    if (!(json_integer_value(json_object_get(rule, "acop")) & s->op_bit)) {
        *why = "operation not granted";
        return DAS_NOT_APPLICABLE;
    }
    if (!names_subject(rule, s)) {
        *why = "originator not named";
        return DAS_NOT_APPLICABLE;
    }
    if (!any_pattern(json_object_get(rule, "trp"), s->target)) {
        *why = "target not named";
        return DAS_NOT_APPLICABLE;
    }
    /* A record may outlive the rule it holds (an m2m-ppm consent kept past its expiry). */
    const char *cet = json_string_value(json_object_get(rule, "cet"));
    int64_t end;
    if (cet && (!ts_parse(cet, &end) || end <= s->now_us)) {
        *why = "the consent has expired";
        return DAS_NOT_APPLICABLE;
    }
    if (json_is_true(json_object_get(rule, "aut")) && !s->authenticated) {
        *why = "originator not authenticated";
        return DAS_CONTEXT_DENIED;
    }
    json_t *ctw = json_object_get(rule, "ctw");
    bool in_window = !json_array_size(ctw);
    json_t *v;
    size_t i;
    json_array_foreach(ctw, i, v)
        in_window |= acr_schedule_match(json_string_value(v), s->now_us);
    if (!in_window) {
        *why = "outside the rule's time windows";
        return DAS_CONTEXT_DENIED;
    }
    json_t *acip = json_object_get(rule, "acip");
    if (json_object_size(acip) && !in_ranges(json_object_get(acip, "ipv4"), s->ip4) &&
        !in_ranges(json_object_get(acip, "ipv6"), s->ip6)) {
        *why = "originator address outside the rule's ranges";
        return DAS_CONTEXT_DENIED;
    }
    return DAS_MATCH;
}
