/* ppm/privacy.h: the Annex J vocabulary, document checks, the comparison. */
#include "privacy.h"
#include "security/acl.h"
#include "security/acr.h"

#include <stdio.h>
#include <string.h>

/* How a tag's values compare: ordered words (a later word asks more),
 * numbers where more asks more (retention days) or less asks more (seconds
 * between samples), yes/no (yes asks more), or free text (shown, not compared). */
enum tag_kind { T_ORDERED, T_MORE, T_LESS, T_BOOL, T_TEXT };

struct tag {
    const char *id, *name;
    enum tag_kind kind;
    const char *const *words;  /* T_ORDERED, least first */
};

static const char *const what_words[] = { "not-collected", "non-personal", "anonymized", "personal",
                                          "sensitive", "medical", NULL };
static const char *const when_words[] = { "not-collected", "event", "monthly", "weekly", "daily", "hourly",
                                          "minutes", "realtime-triggered", "realtime-full", NULL };
static const char *const period_words[] = { "not-collected", "current", "sample", "full-history", NULL };
static const char *const where_words[] = { "not-collected", "local", "country", "bloc", "anywhere", NULL };

static const struct tag tags[] = {
    { "1.0", "who", T_TEXT, NULL },
    { "1.1", "id", T_TEXT, NULL },
    { "2.0", "what", T_ORDERED, what_words },
    { "3.0", "when", T_ORDERED, when_words },
    { "3.1", "time period", T_ORDERED, period_words },
    { "3.2", "sample rate (seconds between samples)", T_LESS, NULL },
    { "4.0", "where stored", T_ORDERED, where_words },
    { "4.1", "where collected", T_ORDERED, where_words },
    { "4.2", "where processed", T_ORDERED, where_words },
    { "4.3", "where accessed", T_ORDERED, where_words },
    { "5.0", "why", T_TEXT, NULL },
    { "6.0", "retention (days)", T_MORE, NULL },
    { "6.1", "retention anonymized (days)", T_MORE, NULL },
    { "6.2", "retention summary (days)", T_MORE, NULL },
    { "7.0", "sharing full", T_BOOL, NULL },
    { "7.1", "sharing anonymized", T_BOOL, NULL },
    { "7.2", "sharing summary", T_BOOL, NULL },
    { "8.0", "informing", T_TEXT, NULL },
    { "9.0", "obtaining consent", T_TEXT, NULL },
    { "10.0", "protection", T_TEXT, NULL },
    { "11.0", "age", T_MORE, NULL },
};

static const struct tag *find_tag(const char *id)
{
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++)
        if (!strcmp(tags[i].id, id)) return &tags[i];
    return NULL;
}

static int word_rank(const struct tag *t, const char *w)
{
    for (int i = 0; w && t->words[i]; i++)
        if (!strcmp(t->words[i], w)) return i;
    return -1;
}

static const struct { const char *name; int bit; } op_names[] = {
    { "create", ACOP_CREATE }, { "retrieve", ACOP_RETRIEVE }, { "update", ACOP_UPDATE },
    { "delete", ACOP_DELETE }, { "notify", ACOP_NOTIFY }, { "discover", ACOP_DISCOVERY },
};

static int op_bit(const char *name)
{
    for (size_t i = 0; name && i < sizeof op_names / sizeof *op_names; i++)
        if (!strcmp(op_names[i].name, name)) return op_names[i].bit;
    return 0;
}

#define FAIL(...) do { snprintf(err, cap, __VA_ARGS__); return -1; } while (0)

static int check_value(const struct tag *t, json_t *v, char *err, size_t cap)
{
    switch (t->kind) {
    case T_ORDERED:
        if (word_rank(t, json_string_value(v)) < 0) {
            char list[200] = "";
            for (int i = 0; t->words[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", t->words[i]);
            FAIL("tag %s (%s): one of %s", t->id, t->name, list);
        }
        return 0;
    case T_MORE: case T_LESS:
        if (!json_is_integer(v) || json_integer_value(v) < 0) FAIL("tag %s (%s): a whole number >= 0", t->id, t->name);
        return 0;
    case T_BOOL:
        if (!json_is_boolean(v)) FAIL("tag %s (%s): true or false", t->id, t->name);
        return 0;
    case T_TEXT:
        if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 256)
            FAIL("tag %s (%s): a text of 1 to 256 characters", t->id, t->name);
        return 0;
    }
    return 0;
}

static int check_strings(json_t *list, const char *what, size_t max, char *err, size_t cap)
{
    if (!list) return 0;
    if (!json_is_array(list) || json_array_size(list) > max) FAIL("%s: a list of at most %zu strings", what, max);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 400)
            FAIL("%s: entry %zu is not a string of 1 to 400 characters", what, i);
    return 0;
}

/* "Not collected" for what or when, yet operations asked: the document says both. */
static bool not_collected(json_t *tagobj, const char *id)
{
    const char *v = json_string_value(json_object_get(tagobj, id));
    return v && !strcmp(v, "not-collected");
}

static bool path_under(const char *path, const char *root)
{
    size_t n = strlen(root);
    return !strncmp(path, root, n) && (path[n] == 0 || path[n] == '/');
}

int ppm_doc_check(json_t *doc, enum ppm_doc_kind kind, const char *owner_root, char *err, size_t cap)
{
    if (!json_is_object(doc)) FAIL("a privacy document is a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
        if (strcmp(key, "tags") && strcmp(key, "ops") && strcmp(key, "windows") &&
            strcmp(key, kind == PPM_POLICY ? "originators" : "data"))
            FAIL("unknown member '%s' (a %s has tags, ops, windows and %s)", key,
                 kind == PPM_POLICY ? "policy" : "preference", kind == PPM_POLICY ? "originators" : "data");
    json_t *tagobj = json_object_get(doc, "tags");
    if (!json_is_object(tagobj)) FAIL("tags: an object of Annex J tag IDs (\"2.0\", \"3.0\", ...) to values");
    json_object_foreach(tagobj, key, v) {
        const struct tag *t = find_tag(key);
        if (!t) FAIL("tag '%s' is not an Annex J tag this PPM knows (1.0 .. 11.0)", key);
        if (check_value(t, v, err, cap)) return -1;
    }
    json_t *ops = json_object_get(doc, "ops");
    if (check_strings(ops, "ops", 6, err, cap)) return -1;
    if (!json_array_size(ops)) FAIL("ops: at least one of create, retrieve, update, delete, notify, discover");
    size_t i;
    json_array_foreach(ops, i, v)
        if (!op_bit(json_string_value(v)))
            FAIL("ops: '%s' is not one of create, retrieve, update, delete, notify, discover", json_string_value(v));
    if (not_collected(tagobj, "2.0") || not_collected(tagobj, "3.0"))
        FAIL("contradictory: tag %s says the data is not collected, yet ops grant access",
             not_collected(tagobj, "2.0") ? "2.0" : "3.0");
    json_t *windows = json_object_get(doc, "windows");
    if (check_strings(windows, "windows", 16, err, cap)) return -1;
    json_array_foreach(windows, i, v)
        if (!acr_schedule_valid(json_string_value(v)))
            FAIL("windows: '%s' is not a schedule entry (sec min hour dom month dow year)", json_string_value(v));
    const char *listname = kind == PPM_POLICY ? "originators" : "data";
    json_t *list = json_object_get(doc, listname);
    if (check_strings(list, listname, 64, err, cap)) return -1;
    if (!json_array_size(list))
        FAIL("%s: at least one %s", listname, kind == PPM_POLICY ? "absolute AE-ID (//sp-id/cse-id/ae-id)"
                                                                 : "absolute resource ID of the subscriber's data");
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        if (strncmp(s, "//", 2) || strpbrk(s, "*?[]"))
            FAIL("%s: '%s' must be absolute (//sp-id/...) and name no pattern", listname, s);
        if (kind == PPM_PREFERENCES && !path_under(s, owner_root))
            FAIL("data: '%s' is not the subscriber's: their resources are at or below %s", s, owner_root);
    }
    return 0;
}

#undef FAIL

int ppm_doc_ops(json_t *doc)
{
    int bits = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "ops"), i, v) bits |= op_bit(json_string_value(v));
    return bits;
}

static void differ(json_t *diffs, const char *field, const char *id, json_t *asks, json_t *prefers)
{
    json_array_append_new(diffs, json_pack("{s:s, s:O, s:O}", field, id, "asks", asks,
                                           "prefers", prefers ? prefers : json_null()));
}

/* Does the policy's value ask beyond the preference's? (absent preference: yes) */
static bool beyond(const struct tag *t, json_t *asks, json_t *prefers)
{
    if (!prefers) return t->kind != T_TEXT;
    switch (t->kind) {
    case T_ORDERED: return word_rank(t, json_string_value(asks)) > word_rank(t, json_string_value(prefers));
    case T_MORE: return json_integer_value(asks) > json_integer_value(prefers);
    case T_LESS: return json_integer_value(asks) < json_integer_value(prefers);
    case T_BOOL: return json_is_true(asks) && !json_is_true(prefers);
    case T_TEXT: return false;
    }
    return false;
}

static bool in_list(json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (!strcmp(json_string_value(v), s)) return true;
    return false;
}

json_t *ppm_customise(json_t *prefs, json_t *policy, json_t *data, json_t **differences, char *err, size_t cap)
{
    json_t *pdata = json_object_get(prefs, "data");
    size_t i;
    json_t *v;
    if (data) {
        if (check_strings(data, "data", 64, err, cap)) return NULL;
        json_array_foreach(data, i, v)
            if (!in_list(pdata, json_string_value(v))) {
                snprintf(err, cap, "data: '%s' is not among the resources the subscriber's preferences name",
                         json_string_value(v));
                return NULL;
            }
    }
    json_t *diffs = json_array();
    json_t *ptags = json_object_get(prefs, "tags");
    const char *key;
    json_object_foreach(json_object_get(policy, "tags"), key, v) {
        const struct tag *t = find_tag(key);
        if (t && beyond(t, v, json_object_get(ptags, key))) differ(diffs, "tag", key, v, json_object_get(ptags, key));
    }
    int pref_ops = ppm_doc_ops(prefs), granted = 0;
    json_t *ops = json_array();
    json_array_foreach(json_object_get(policy, "ops"), i, v) {
        const char *op = json_string_value(v);
        if (pref_ops & op_bit(op)) {
            json_array_append(ops, v);
            granted |= op_bit(op);
        } else {
            differ(diffs, "op", op, json_true(), json_false());
        }
    }
    json_t *windows = json_object_get(prefs, "windows");
    if (!json_array_size(windows)) windows = json_object_get(policy, "windows");
    json_t *custom = json_pack("{s:o, s:i, s:o, s:O, s:O}", "ops", ops, "acop", granted,
                               "windows", windows ? json_incref(windows) : json_array(), "originators",
                               json_object_get(policy, "originators"), "data", data ? data : pdata);
    *differences = diffs;
    return custom;
}
