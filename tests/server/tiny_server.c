/* A second server executable built from server_main() (cse/core/server.h):
 * the engine plus one made-up resource type, one decider and one setting.
 * tests/integration/test_server_main.py drives it over HTTP. */
#include "cse/core/server.h"
#include "cse/core/rsc.h"
#include "resources/registry.h"
#include "security/acl.h"
#include "security/authz.h"

#include <stdio.h>
#include <string.h>

#define TY_TINY_NOTE 910   /* not a TS-0004 number: a type of this server's own */

static char greeting[64] = "hello";

static int set_greeting(void *data, const char *value, char *err, int errlen)
{
    (void)data;
    if (strlen(value) >= sizeof greeting) {
        snprintf(err, errlen, "greeting: at most %zu characters", sizeof greeting - 1);
        return -1;
    }
    snprintf(greeting, sizeof greeting, "%s", value);
    return 0;
}

static const struct attr_def note_attrs[] = {
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI,
    { "txt", A_STR, M, O, 0, 0 },
    { "grt", A_STR, NP, NP, 0, 0 },
};

/* Every note is stamped with the server's greeting (its own setting). */
static int note_create(struct op_ctx *ctx)
{
    json_object_set_new(ctx->res->attrs, "grt", json_string(greeting));
    return 0;
}

static const struct resource_type tiny_note = {
    .ty = TY_TINY_NOTE, .sn = "note", .key = "tiny:note",
    .parents = (const int[]){ TY_CSEBASE, TY_AE, 0 },
    .attrs = ATTRS(note_attrs),
    .flags = RT_SUBSCRIBABLE,
    .on_create = note_create,
};

/* Guests may read notes, which the ACPs alone would not let them. */
static enum authz_answer guests_read_notes(struct cse *cse, const struct authz_query *q, const char **why)
{
    (void)cse;
    if (q->originator && !strcmp(q->originator, "Cguest") && q->target->ty == TY_TINY_NOTE &&
        q->acop == ACOP_RETRIEVE)
        return AUTHZ_GRANT;
    *why = "not a guest reading a note";
    return AUTHZ_ABSTAIN;
}

static const struct authz_decider guests = { "tiny-guests", guests_read_notes, NULL };

static int on_start(struct cse *cse, void *data)
{
    (void)data;
    fprintf(stderr, "tiny-server: %d types, %d deciders\n", cse->types.n, cse->ndeciders);
    return 0;
}

/* Nothing of ours lives in the store, so there is nothing to recreate. */
static int on_reset(struct cse *cse, void *data)
{
    (void)data;
    fprintf(stderr, "tiny-server: reset, %d types still served\n", cse->types.n);
    return 0;
}

static const struct config_extra settings[] = {
    { "greeting", "text stamped on every note (default hello)", set_greeting, NULL },
    { NULL, NULL, NULL, NULL },
};

static const struct server_profile tiny = {
    .name = "tiny-server",
    .types = (const struct resource_type *const[]){ &tiny_note, NULL },
    .deciders = (const struct authz_decider *const[]){ &guests, NULL },
    .settings = settings,
    .on_start = on_start,
    .on_reset = on_reset,
};

int main(int argc, char **argv)
{
    return server_main(argc, argv, &tiny);
}
