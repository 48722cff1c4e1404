/* Generic attribute validation (resources/schema.c) against the real type
 * tables, and the registry lookups it relies on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cse/core/rsc.h"
#include "resources/registry.h"

/* The engine's own types, as every CSE starts with them. */
static const struct registry *core(void)
{
    static struct registry r;
    if (!r.n) registry_init_core(&r);
    return &r;
}

/* Validates a JSON text against type t; returns the RSC (0 when valid) and
 * checks that a failure always carries an m2m:dbg message. */
static int check_with(const struct resource_type *t, enum m2m_op op, const char *text)
{
    json_error_t err;
    json_t *content = json_loads(text, 0, &err);
    assert_non_null(content);
    struct m2m_response rsp;
    m2m_response_init(&rsp);
    int rc = schema_validate(t, op, content, &rsp);
    if (rc) {
        assert_int_equal(rsp.rsc, rc);
        assert_true(json_is_string(json_object_get(rsp.pc, "m2m:dbg")));
    }
    m2m_response_clear(&rsp);
    json_decref(content);
    return rc;
}

static int check(int ty, enum m2m_op op, const char *text)
{
    return check_with(registry_find(core(), ty), op, text);
}

#define VALID(ty, op, text) assert_int_equal(check(ty, op, text), 0)
#define BAD(ty, op, text) assert_int_equal(check(ty, op, text), RSC_BAD_REQUEST)

static void registry_lookups(void **state)
{
    (void)state;
    assert_string_equal(registry_find(core(), 2)->key, "m2m:ae");
    assert_string_equal(registry_find(core(), 3)->sn, "cnt");
    assert_null(registry_find(core(), 99));
    assert_int_equal(registry_find_key(core(), "m2m:cin")->ty, 4);
    assert_null(registry_find_key(core(), "m2m:nope"));
    int tys[16];
    assert_true(registry_types(core(), tys, 16) >= 4); /* other types join later */
    assert_true(type_allows_parent(registry_find(core(), 3), 3));
    assert_true(type_allows_parent(registry_find(core(), 4), 3));
    assert_false(type_allows_parent(registry_find(core(), 4), 2));
    assert_false(type_allows_parent(registry_find(core(), 2), 2));
    assert_false(type_allows_parent(registry_find(core(), 5), 5));
    assert_non_null(type_attr(registry_find(core(), 3), "mni"));
    assert_null(type_attr(registry_find(core(), 3), "con"));
    assert_true(registry_is_attribute_name(core(), "rn"));
    assert_true(registry_is_attribute_name(core(), "con"));
    assert_false(registry_is_attribute_name(core(), "nope"));
}

/* mgmtObj: a closed set of specialisations, each with its own table. */
static void specialisations(void **state)
{
    (void)state;
    const struct resource_type *mgo = registry_find(core(), 13);
    const struct resource_type *fwr = type_specialisation(mgo, "m2m:fwr");
    assert_non_null(fwr);
    assert_int_equal(fwr->ty, 13);
    assert_non_null(type_attr(fwr, "fwn"));
    assert_null(type_attr(fwr, "mma"));
    assert_non_null(type_attr(type_specialisation(mgo, "m2m:mem"), "mma"));
    assert_null(type_specialisation(mgo, "m2m:mgo"));
    assert_null(type_specialisation(mgo, "cod:fwr"));
    /* A type without a closed set is its own specialisation for any key. */
    const struct resource_type *fcnt = registry_find(core(), 28);
    assert_ptr_equal(type_specialisation(fcnt, "cod:tmpSr"), fcnt);
    /* A resource is governed by the specialisation it keeps. */
    struct resource *res = resource_new(13, json_pack("{s:s}", ATTR_INSTANCE_KEY, "m2m:bat"), "/x");
    assert_ptr_equal(type_of_resource(mgo, res), type_specialisation(mgo, "m2m:bat"));
    resource_free(res);
    assert_true(registry_is_attribute_name(core(), "mgd"));
    assert_true(registry_is_attribute_name(core(), "btl"));
    assert_int_equal(check_with(fwr, OP_CREATE, "{\"mgd\":1001,\"vr\":\"1\",\"fwn\":\"f\",\"url\":\"u\",\"ud\":false}"), 0);
    assert_int_equal(check_with(fwr, OP_CREATE, "{\"mgd\":1002,\"vr\":\"1\",\"fwn\":\"f\",\"url\":\"u\",\"ud\":false}"),
                     RSC_BAD_REQUEST);
    assert_int_equal(check_with(fwr, OP_UPDATE, "{\"uds\":{}}"), RSC_BAD_REQUEST);
}

static void resource_names(void **state)
{
    (void)state;
    assert_true(schema_valid_name("a"));
    assert_true(schema_valid_name("Temp-1.2_x"));
    assert_true(schema_valid_name("9lives"));
    assert_false(schema_valid_name(""));
    assert_false(schema_valid_name(NULL));
    assert_false(schema_valid_name(".hidden"));
    assert_false(schema_valid_name("-x"));
    assert_false(schema_valid_name("a/b"));
    assert_false(schema_valid_name("a b"));
    assert_false(schema_valid_name("a#b"));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[299] = 0;
    assert_false(schema_valid_name(longname));
    longname[255] = 0;
    assert_true(schema_valid_name(longname));
}

static void kinds(void **state)
{
    (void)state;
    /* A_NNINT */
    VALID(3, OP_CREATE, "{\"mni\": 0}");
    VALID(3, OP_CREATE, "{\"mni\": 100000}");
    BAD(3, OP_CREATE, "{\"mni\": -1}");
    BAD(3, OP_CREATE, "{\"mni\": 1.5}");
    BAD(3, OP_CREATE, "{\"mni\": \"5\"}");
    /* A_BOOL */
    VALID(3, OP_CREATE, "{\"disr\": false}");
    BAD(3, OP_CREATE, "{\"disr\": 0}");
    /* A_LABELS */
    VALID(3, OP_CREATE, "{\"lbl\": []}");
    VALID(3, OP_CREATE, "{\"lbl\": [\"a\", \"b/c\", \"key:value\", \"\u00e9t\u00e9\"]}");
    BAD(3, OP_CREATE, "{\"lbl\": \"a\"}");
    BAD(3, OP_CREATE, "{\"lbl\": [1]}");
    BAD(3, OP_CREATE, "{\"lbl\": [\"\"]}");
    BAD(3, OP_CREATE, "{\"lbl\": [\"a b\"]}");
    BAD(3, OP_CREATE, "{\"lbl\": [\"a\\tb\"]}");
    BAD(3, OP_CREATE, "{\"lbl\": [\"ok\", \"nl\\n\"]}");
    BAD(3, OP_CREATE, "{\"lbl\": [\"del\\u007f\"]}");
    BAD(2, OP_UPDATE, "{\"lbl\": [\" lead\"]}");
    /* A_STRLIST */
    VALID(2, OP_CREATE, "{\"api\": \"Nx\", \"rr\": true, \"srv\": [\"3\"], \"poa\": [\"http://h\"]}");
    BAD(2, OP_CREATE, "{\"api\": \"Nx\", \"rr\": true, \"srv\": [3]}");
    /* A_URILIST */
    VALID(3, OP_CREATE, "{\"acpi\": [\"acp1\"]}");
    BAD(3, OP_CREATE, "{\"acpi\": [\"\"]}");
    /* A_TS */
    VALID(3, OP_CREATE, "{\"et\": \"20991231T235959\"}");
    VALID(3, OP_CREATE, "{\"et\": \"20991231T235959,123\"}");
    BAD(3, OP_CREATE, "{\"et\": \"2099-12-31\"}");
    BAD(3, OP_CREATE, "{\"et\": \"20991332T000000\"}");
    BAD(3, OP_CREATE, "{\"et\": 20991231}");
    /* A_NAME */
    VALID(3, OP_CREATE, "{\"rn\": \"box-1\"}");
    BAD(3, OP_CREATE, "{\"rn\": \"a/b\"}");
    BAD(3, OP_CREATE, "{\"rn\": 5}");
    /* A_ID / A_URI */
    VALID(2, OP_CREATE, "{\"api\": \"Nx\", \"rr\": true, \"srv\": [\"3\"]}");
    BAD(2, OP_CREATE, "{\"api\": \"\", \"rr\": true, \"srv\": [\"3\"]}");
    BAD(3, OP_CREATE, "{\"or\": \"\"}");
    /* A_ENUM */
    VALID(2, OP_UPDATE, "{\"regs\": 1}");
    VALID(2, OP_UPDATE, "{\"regs\": 2}");
    BAD(2, OP_UPDATE, "{\"regs\": 3}");
    BAD(2, OP_UPDATE, "{\"regs\": 0}");
    /* A_OBJ / A_LIST / A_ANY */
    VALID(2, OP_UPDATE, "{\"esi\": {}}");
    BAD(2, OP_UPDATE, "{\"esi\": []}");
    VALID(2, OP_UPDATE, "{\"scp\": [{}]}");
    BAD(2, OP_UPDATE, "{\"scp\": {}}");
    VALID(4, OP_CREATE, "{\"con\": {\"a\": [1, 2]}}");
    VALID(4, OP_CREATE, "{\"con\": 5}");
    VALID(4, OP_CREATE, "{\"con\": \"\"}");
}

static void presence(void **state)
{
    (void)state;
    /* Unknown attributes and not-present (RO) attributes. */
    BAD(3, OP_CREATE, "{\"foo\": 1}");
    BAD(3, OP_CREATE, "{\"con\": \"x\"}");
    const char *ro[] = { "ri", "pi", "ty", "ct", "lt", "st", "cni", "cbs", "li" };
    for (size_t i = 0; i < sizeof ro / sizeof *ro; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"%s\": \"x\"}", ro[i]);
        BAD(3, OP_CREATE, text);
        BAD(3, OP_UPDATE, text);
    }
    /* Write-once attributes: allowed in CREATE, not in UPDATE. */
    VALID(3, OP_CREATE, "{\"rn\": \"x\"}");
    BAD(3, OP_UPDATE, "{\"rn\": \"x\"}");
    BAD(2, OP_UPDATE, "{\"api\": \"Nx\"}");
    BAD(4, OP_UPDATE, "{\"lbl\": []}");
    BAD(4, OP_UPDATE, "{\"et\": \"20991231T235959\"}");
    /* Mandatory attributes in CREATE. */
    BAD(2, OP_CREATE, "{\"rr\": true, \"srv\": [\"3\"]}");
    BAD(2, OP_CREATE, "{\"api\": \"Nx\", \"srv\": [\"3\"]}");
    BAD(2, OP_CREATE, "{\"api\": \"Nx\", \"rr\": true}");
    VALID(4, OP_CREATE, "{\"conr\": \"http://x/y\"}");    /* con or conr: checked by the type */
    VALID(2, OP_UPDATE, "{}");
    VALID(3, OP_CREATE, "{}");
    /* The CSEBase takes nothing from a client. */
    BAD(5, OP_CREATE, "{\"lbl\": []}");
    BAD(5, OP_UPDATE, "{\"csi\": \"x\"}");
}

static void nulls_and_creator(void **state)
{
    (void)state;
    VALID(3, OP_CREATE, "{\"cr\": null}");
    BAD(3, OP_CREATE, "{\"cr\": \"Cme\"}");
    BAD(3, OP_UPDATE, "{\"cr\": null}");
    BAD(3, OP_CREATE, "{\"lbl\": null}");
    VALID(3, OP_UPDATE, "{\"lbl\": null}");     /* UPDATE: null deletes */
    VALID(3, OP_UPDATE, "{\"mni\": null, \"mbs\": null}");
    BAD(2, OP_CREATE, "{\"cr\": null, \"api\": \"Nx\", \"rr\": true, \"srv\": [\"3\"]}");
}

/* The announced variants derived from the announceable types (announced.c). */
static void announced_types(void **state)
{
    (void)state;
    const struct resource_type *cnta = registry_find(core(), 10003);
    assert_non_null(cnta);
    assert_string_equal(cnta->key, "m2m:cntA");
    assert_string_equal(registry_find(core(), 10002)->key, "m2m:aeA");
    assert_non_null(registry_find(core(), 10001));
    assert_non_null(registry_find(core(), 10009));
    assert_non_null(registry_find(core(), 10028));
    assert_null(registry_find(core(), 10023));          /* subscriptions are not announceable */
    assert_true(type_allows_parent(cnta, 16));           /* under the announcing CSE's <remoteCSE> */
    assert_true(type_allows_parent(cnta, 10002));        /* under an announced AE */
    assert_false(type_allows_parent(cnta, 2));
    assert_true(type_allows_parent(registry_find(core(), 10004), 10003));
    /* lnk mandatory; the original's attributes optional; at/aa/cr not there. */
    VALID(10003, OP_CREATE, "{\"lnk\": \"/id-mn/cnt1\", \"mni\": 3}");
    BAD(10003, OP_CREATE, "{\"mni\": 3}");
    BAD(10003, OP_CREATE, "{\"lnk\": \"/id-mn/cnt1\", \"at\": [\"/id-in\"]}");
    BAD(10003, OP_UPDATE, "{\"lnk\": \"/id-mn/cnt2\"}");
    VALID(10002, OP_CREATE, "{\"lnk\": \"/id-mn/Cx\"}");   /* api, rr, srv: no longer mandatory */
    VALID(10002, OP_UPDATE, "{\"apn\": \"x\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_lookups),
        cmocka_unit_test(specialisations),
        cmocka_unit_test(resource_names),
        cmocka_unit_test(kinds),
        cmocka_unit_test(presence),
        cmocka_unit_test(nulls_and_creator),
        cmocka_unit_test(announced_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
