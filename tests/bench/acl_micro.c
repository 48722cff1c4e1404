/* CPU cost of one access decision (acl_check) with 0, 1 and 20 ACPs linked,
 * on an in-memory CSE: isolates access control from HTTP and the store read
 * of the target, which the wrk benchmark (acl_bench.sh) includes. */
#include "cse/base/clock.h"
#include "cse/core/cse.h"
#include "cse/core/engine.h"
#include "security/acl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put(struct cse *cse, int ty, const char *path, json_t *attrs)
{
    struct resource *r = resource_new(ty, attrs, path);
    if (store_insert(cse->store, r)) { fprintf(stderr, "insert %s failed\n", path); exit(1); }
    resource_free(r);
}

static double ns_per_check(struct cse *cse, const char *fr, const char *ri, int n)
{
    struct m2m_request req;
    m2m_request_init(&req);
    req.binding = BINDING_HTTP;
    req.op = OP_RETRIEVE;
    req.fr = strdup(fr);
    snprintf(req.peer.ip, sizeof req.peer.ip, "127.0.0.1");
    struct resource *target;
    if (store_get(cse->store, ri, &target)) { fprintf(stderr, "no %s\n", ri); exit(1); }
    if (acl_check(cse, &req, target, ACOP_RETRIEVE)) { fprintf(stderr, "%s denied on %s\n", fr, ri); exit(1); }
    for (int i = 0; i < n / 10; i++) acl_check(cse, &req, target, ACOP_RETRIEVE); /* warm up */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) acl_check(cse, &req, target, ACOP_RETRIEVE);
    clock_gettime(CLOCK_MONOTONIC, &b);
    resource_free(target);
    m2m_request_clear(&req);
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    struct config cfg;
    config_defaults(&cfg);
    strcpy(cfg.db_file, ":memory:");
    cfg.log_level = 0;
    static struct cse cse;
    if (cse_open(&cse, &cfg, NULL)) return 1;
    put(&cse, 2, "cse-in/bench", json_pack("{s:i,s:s,s:s,s:s}", "ty", 2, "ri", "Cbench", "rn", "bench", "pi", "id-in"));
    json_t *acpi20 = json_array();
    for (int i = 1; i <= 20; i++) {
        char ri[16], who[16], path[64];
        snprintf(ri, sizeof ri, "acp%d", i);
        snprintf(who, sizeof who, i == 20 ? "Cbench" : "Cother%d", i);
        snprintf(path, sizeof path, "cse-in/bench/%s", ri);
        put(&cse, 1, path, json_pack("{s:i,s:s,s:s,s:s,s:{s:[{s:[s],s:i}]},s:{s:[{s:[s],s:i}]}}", "ty", 1,
                                     "ri", ri, "rn", ri, "pi", "Cbench", "pv", "acr", "acor", who, "acop", 34,
                                     "pvs", "acr", "acor", "Cbench", "acop", 63));
        json_array_append_new(acpi20, json_string(ri));
    }
    put(&cse, 3, "cse-in/bench/c0", json_pack("{s:i,s:s,s:s,s:s}", "ty", 3, "ri", "c0", "rn", "c0", "pi", "Cbench"));
    put(&cse, 3, "cse-in/bench/c1", json_pack("{s:i,s:s,s:s,s:s,s:[s]}", "ty", 3, "ri", "c1", "rn", "c1", "pi", "Cbench",
                                              "acpi", "acp20"));
    put(&cse, 3, "cse-in/bench/c20", json_pack("{s:i,s:s,s:s,s:s,s:o}", "ty", 3, "ri", "c20", "rn", "c20", "pi", "Cbench",
                                               "acpi", acpi20));
    printf("| case | ns per decision |\n|---|---|\n");
    printf("| admin originator | %.0f |\n", ns_per_check(&cse, "CAdmin", "c0", n));
    printf("| 0 ACPs (owner rule) | %.0f |\n", ns_per_check(&cse, "Cbench", "c0", n));
    printf("| 1 ACP linked | %.0f |\n", ns_per_check(&cse, "Cbench", "c1", n));
    printf("| 20 ACPs linked (grant in the last) | %.0f |\n", ns_per_check(&cse, "Cbench", "c20", n));
    cse_close(&cse);
    return 0;
}
