/* Generic validation of request content against a type's attribute table. */
#include "registry.h"

#include "../cse/base/clock.h"
#include "../cse/core/rsc.h"

#include <ctype.h>
#include <string.h>

bool schema_valid_name(const char *s)
{
    if (!s || !isalnum((unsigned char)s[0])) return false;
    size_t n = strlen(s);
    if (n > 255) return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_') return false;
    }
    return true;
}

static bool all_items(json_t *v, bool (*ok)(json_t *))
{
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
        if (!ok(item)) return false;
    return true;
}

static bool is_str(json_t *v) { return json_is_string(v); }
static bool is_nonempty_str(json_t *v) { return json_is_string(v) && json_string_length(v) > 0; }
static bool is_int(json_t *v) { return json_is_integer(v); }

/* m2m:labels is a list of xs:token items: an item with white space would
 * be two items in XML, an empty one none. */
static bool is_label(json_t *v)
{
    if (!is_nonempty_str(v)) return false;
    for (const unsigned char *c = (const unsigned char *)json_string_value(v); *c; c++)
        if (*c <= ' ' || *c == 0x7f) return false;
    return true;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case A_STR: case A_ID: case A_URI: return "a string";
    case A_NAME: return "a resource name ([A-Za-z0-9][A-Za-z0-9._-]*)";
    case A_NNINT: return "a non-negative integer";
    case A_POSINT: return "a positive integer";
    case A_ENUM: return "an enumeration value";
    case A_BOOL: return "a boolean";
    case A_TS: return "a timestamp (YYYYMMDDThhmmss[,ffffff])";
    case A_STRLIST: return "a list of strings";
    case A_URILIST: return "a list of non-empty strings";
    case A_INTLIST: return "a list of integers";
    case A_OBJ: return "an object";
    case A_LIST: return "a list";
    case A_LABELS: return "a list of labels (non-empty, without white space)";
    default: return "a value";
    }
}

/* Checks one value against its definition. */
static bool value_ok(const struct attr_def *a, json_t *v)
{
    switch (a->kind) {
    case A_STR: return json_is_string(v);
    case A_ID: case A_URI: return is_nonempty_str(v);
    case A_NAME: return json_is_string(v) && schema_valid_name(json_string_value(v));
    case A_NNINT: return json_is_integer(v) && json_integer_value(v) >= 0;
    case A_POSINT: return json_is_integer(v) && json_integer_value(v) >= 1;
    case A_ENUM:
        return json_is_integer(v) && json_integer_value(v) >= a->min &&
               json_integer_value(v) <= a->max;
    case A_BOOL: return json_is_boolean(v);
    case A_TS: {
        int64_t us;
        return json_is_string(v) && ts_parse(json_string_value(v), &us);
    }
    case A_STRLIST: return json_is_array(v) && all_items(v, is_str);
    case A_URILIST: return json_is_array(v) && all_items(v, is_nonempty_str);
    case A_INTLIST: return json_is_array(v) && all_items(v, is_int);
    case A_OBJ: return json_is_object(v);
    case A_LIST: return json_is_array(v);
    case A_LABELS: return json_is_array(v) && all_items(v, is_label);
    default: return true;
    }
}

int schema_validate(const struct resource_type *t, enum m2m_op op, json_t *content,
                    struct m2m_response *rsp)
{
    const char *key;
    json_t *v;
    json_object_foreach(content, key, v) {
        const struct attr_def *a = type_attr(t, key);
        if (!a && (t->flags & RT_CUSTOM_ATTRS)) {
            if (!is_custom_attr_name(key))
                return m2m_error(rsp, RSC_BAD_REQUEST, "'%s' is not a valid custom attribute name", key);
            if (op == OP_CREATE && json_is_null(v))
                return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' must not be null", key);
            continue;
        }
        if (!a)
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' is not defined for %s", key, t->key);
        int presence = op == OP_CREATE ? a->create : a->update;
        if (presence == NP)
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' must not be present in %s of %s",
                             key, op == OP_CREATE ? "CREATE" : "UPDATE", t->key);
        if (json_is_null(v)) {
            /* null: CREATE only for `cr` (ask the CSE to fill in the creator);
             * UPDATE deletes the attribute, checked by the dispatcher. */
            if (op == OP_CREATE && strcmp(key, "cr"))
                return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' must not be null", key);
            continue;
        }
        if (!strcmp(key, "cr"))
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute 'cr' may only be sent as null");
        if (!value_ok(a, v) && a->kind != A_ENUM)
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' must be %s", key, kind_name(a->kind));
        if (!value_ok(a, v) && a->min == a->max) /* a value fixed by the type (a mgmtObj's mgd) */
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' must be %lld for %s", key,
                             (long long)a->min, t->key);
        if (!value_ok(a, v))
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' must be an integer from %lld to %lld",
                             key, (long long)a->min, (long long)a->max);
        if (a->max > 0 && json_is_array(v) && a->kind != A_ENUM && (int64_t)json_array_size(v) > a->max)
            return m2m_error(rsp, RSC_BAD_REQUEST, "attribute '%s' has more than %lld entries",
                             key, (long long)a->max);
    }
    if (op == OP_CREATE) {
        for (int i = 0; i < t->nattrs; i++) {
            const struct attr_def *a = &t->attrs[i];
            if (a->create == M && !json_object_get(content, a->sn))
                return m2m_error(rsp, RSC_BAD_REQUEST, "mandatory attribute '%s' is missing", a->sn);
        }
    }
    return 0;
}
