/* <mgmtObj> (ty 13) with its TS-0001 Annex D specialisations, under a <node> (node.c).
 *
 * A mgmtObj's specialisation is a closed set: each wire key ("m2m:fwr") has
 * its own descriptor with its own attribute table and its own mgmtDefinition
 * (`mgd`, mandatory on CREATE and fixed per key: an A_ENUM of one value). The
 * engine picks the descriptor by the CREATE's key (`specialisations`) and by
 * the key the resource keeps afterwards (RT_SPECIALIZED). Presences follow
 * TS-0001 Annex D: what the device reports is mandatory, status objects the
 * management server fills in are not writable through Mca. With the
 * firmware-trust setting, a <firmware> must carry the operator's detached
 * JWS (fwsg) over its name, version, URL and image digest (fwdg):
 * security/firmware_sig.h, docs/decisions.md "Signed firmware". */
#include "registry.h"

#include "../cse/base/log.h"
#include "../cse/core/cse.h"
#include "../cse/core/rsc.h"
#include "../security/acl.h"
#include "../security/audit.h"
#include "../security/firmware_sig.h"
#include "../security/jose_module.h"

/* The attributes every specialisation has (TS-0001 9.6.15), mgd fixed to its value. */
#define MGMT_COMMON(mgd)                                                             \
    ATTR_UNIVERSAL, ATTR_ET, ATTR_LBL, ATTR_ACPI, ATTR_AT, ATTR_AA, ATTR_DACI, ATTR_CSTN, \
    { "mgd", A_ENUM, M, NP, mgd, mgd },                                              \
    { "obis", A_URILIST, O, NP, 0, 0 },                                              \
    { "obps", A_URILIST, O, NP, 0, 0 },                                              \
    { "dc", A_STR, O, O, 0, 0 },                                                     \
    { "mgs", A_URI, O, NP, 0, 0 },                                                   \
    { "cmlk", A_URILIST, O, O, 0, 0 }

static const struct attr_def firmware[] = {
    MGMT_COMMON(1001),
    { "vr", A_STR, M, O, 0, 0 },          /* version */
    { "fwn", A_STR, M, O, 0, 0 },         /* firmwareName */
    { "url", A_URI, M, O, 0, 0 },         /* where the package is */
    { "ud", A_BOOL, M, O, 0, 0 },         /* update: the action trigger */
    { "uds", A_OBJ, NP, NP, 0, 0 },       /* updateStatus {acn, sus} */
    /* Not oneM2M (it has no firmware signature): docs/decisions.md "Signed firmware". */
    { "fwdg", A_STR, O, O, 0, 0 },        /* image digest, "sha256:<hex>" */
    { "fwsg", A_STR, O, O, 0, 0 },        /* detached JWS (ES256) over fwn, vr, url, fwdg */
};

static const struct attr_def software[] = {
    MGMT_COMMON(1002),
    { "vr", A_STR, M, O, 0, 0 },
    { "swn", A_STR, M, O, 0, 0 },         /* softwareName */
    { "url", A_URI, M, O, 0, 0 },
    { "in", A_BOOL, M, O, 0, 0 },         /* install */
    { "un", A_BOOL, M, O, 0, 0 },         /* uninstall */
    { "ins", A_OBJ, NP, NP, 0, 0 },       /* installStatus */
    { "act", A_BOOL, M, O, 0, 0 },        /* activate */
    { "dea", A_BOOL, M, O, 0, 0 },        /* deactivate */
    { "acts", A_OBJ, NP, NP, 0, 0 },      /* activeStatus */
};

static const struct attr_def memory[] = {
    MGMT_COMMON(1003),
    { "mma", A_NNINT, M, O, 0, 0 },       /* memAvailable */
    { "mmt", A_NNINT, M, O, 0, 0 },       /* memTotal */
};

static const struct attr_def area_nwk_info[] = {
    MGMT_COMMON(1004),
    { "ant", A_STR, M, O, 0, 0 },         /* areaNwkType */
    { "ldv", A_STRLIST, M, O, 0, 0 },     /* listOfDevices */
};

static const struct attr_def area_nwk_device_info[] = {
    MGMT_COMMON(1005),
    { "dvd", A_STR, M, O, 0, 0 },         /* devID */
    { "dvt", A_STR, M, O, 0, 0 },         /* devType */
    { "awi", A_STR, M, O, 0, 0 },         /* areaNwkId */
    { "sli", A_NNINT, O, O, 0, 0 },       /* sleepInterval */
    { "sld", A_NNINT, O, O, 0, 0 },       /* sleepDuration */
    { "ss", A_STR, O, O, 0, 0 },          /* status */
    { "lnh", A_STRLIST, M, O, 0, 0 },     /* listOfNeighbors */
};

static const struct attr_def battery[] = {
    MGMT_COMMON(1006),
    { "btl", A_ENUM, M, O, 0, 100 },      /* batteryLevel, percent */
    { "bts", A_ENUM, M, O, 1, 7 },        /* batteryStatus (m2m:batteryStatus) */
};

static const struct attr_def device_info[] = {
    MGMT_COMMON(1007),
    { "dlb", A_STR, M, O, 0, 0 },         /* deviceLabel */
    { "man", A_STR, M, O, 0, 0 },         /* manufacturer */
    { "mfdl", A_STR, O, O, 0, 0 },        /* manufacturerDetailsLink */
    { "mfd", A_TS, O, O, 0, 0 },          /* manufacturingDate */
    { "mod", A_STR, M, O, 0, 0 },         /* model */
    { "smod", A_STR, O, O, 0, 0 },        /* subModel */
    { "dty", A_STR, M, O, 0, 0 },         /* deviceType */
    { "dvnm", A_STR, O, O, 0, 0 },        /* deviceName */
    { "fwv", A_STR, O, O, 0, 0 },         /* fwVersion */
    { "swv", A_STR, O, O, 0, 0 },         /* swVersion */
    { "hwv", A_STR, O, O, 0, 0 },         /* hwVersion */
    { "osv", A_STR, O, O, 0, 0 },         /* osVersion */
    { "cnty", A_STR, O, O, 0, 0 },        /* country */
    { "loc", A_STR, O, O, 0, 0 },         /* location */
    { "syst", A_TS, O, O, 0, 0 },         /* systemTime */
    { "spur", A_URI, O, O, 0, 0 },        /* supportURL */
    { "purl", A_URI, O, O, 0, 0 },        /* presentationURL */
    { "ptl", A_STRLIST, O, O, 0, 0 },     /* protocol */
};

static const struct attr_def device_capability[] = {
    MGMT_COMMON(1008),
    { "can", A_STR, M, O, 0, 0 },         /* capabilityName */
    { "att", A_BOOL, M, O, 0, 0 },        /* attached */
    { "cas", A_OBJ, NP, NP, 0, 0 },       /* capabilityActionStatus */
    { "cus", A_BOOL, M, O, 0, 0 },        /* currentState */
    { "ena", A_BOOL, O, O, 0, 0 },        /* enable */
    { "dis", A_BOOL, O, O, 0, 0 },        /* disable */
};

static const struct attr_def reboot[] = {
    MGMT_COMMON(1009),
    { "rbo", A_BOOL, M, O, 0, 0 },        /* reboot */
    { "far", A_BOOL, M, O, 0, 0 },        /* factoryReset */
};

static const struct attr_def event_log[] = {
    MGMT_COMMON(1010),
    { "lgt", A_ENUM, M, O, 1, 5 },        /* logTypeId (m2m:logTypeId) */
    { "lgd", A_STRLIST, M, O, 0, 0 },     /* logData */
    { "lgst", A_ENUM, NP, NP, 1, 5 },     /* logStatus, set by the device */
    { "lga", A_BOOL, M, O, 0, 0 },        /* logStart */
    { "lgo", A_BOOL, M, O, 0, 0 },        /* logStop */
};

static const struct attr_def mgmt_generic[] = { MGMT_COMMON(0) };

/* Loads firmware-trust once (at start; a Reset keeps it): a bad file stops the start. */
static int load_firmware_trust(struct cse *cse)
{
    if (!cse->cfg.firmware_trust[0] || cse->fw_trust) return 0;
    char err[600];
    cse->fw_trust = fw_trust_load(jose_load(&cse->cfg), cse->cfg.firmware_trust, err, sizeof err);
    if (!cse->fw_trust) {
        log_error("firmware-trust: %s", err);
        return RSC_INTERNAL_SERVER_ERROR;
    }
    return 0;
}

/* A <firmware> as it will be stored must be signed by a trusted key:
 * missing or malformed signature 4000, one no trusted key made 4103; both audited. */
static int check_firmware_signature(struct op_ctx *ctx)
{
    struct cse *cse = ctx->cse;
    if (!cse->cfg.firmware_trust[0]) return 0;
    int rc = load_firmware_trust(cse);
    if (rc) return m2m_error(ctx->rsp, rc, "firmware-trust cannot be loaded (see the log)");
    const struct resource *r = ctx->res;
    char why[300];
    enum fw_verdict v = fw_verify(cse->fw_trust, res_str(r, "fwn"), res_str(r, "vr"), res_str(r, "url"),
                                  res_str(r, "fwdg"), res_str(r, "fwsg"), why, sizeof why);
    const char *op = ctx->req && ctx->req->op == OP_CREATE ? "CREATE" : "UPDATE";
    const char *fr = ctx->req ? ctx->req->fr : NULL, *to = ctx->req ? ctx->req->to : NULL;
    if (v == FW_OK) {
        audit_record(acl_audit_log(cse), fr, to, op, "permit", "firmware signature verified");
        return 0;
    }
    char reason[340];
    snprintf(reason, sizeof reason, "firmware refused: %s", why);
    audit_record(acl_audit_log(cse), fr, to, op, "deny", reason);
    return m2m_error(ctx->rsp, v == FW_FORGED ? RSC_ORIGINATOR_HAS_NO_PRIVILEGE : RSC_BAD_REQUEST, "%s", why);
}

#define MGMT_OBJ_HOOKED(short, table, check)                                         \
    {                                                                                \
        .ty = TY_MGMTOBJ, .sn = short, .key = "m2m:" short,                          \
        .parents = (const int[]){ TY_NOD, 0 },                                       \
        .attrs = ATTRS(table),                                                       \
        .flags = RT_SUBSCRIBABLE | RT_ANNOUNCEABLE | RT_SPECIALIZED,                 \
        .on_create = check, .on_update = check,                                      \
    }
#define MGMT_OBJ(short, table) MGMT_OBJ_HOOKED(short, table, NULL)

static const struct resource_type specialisations[] = {
    MGMT_OBJ_HOOKED("fwr", firmware, check_firmware_signature),
    MGMT_OBJ("swr", software),
    MGMT_OBJ("mem", memory),
    MGMT_OBJ("ani", area_nwk_info),
    MGMT_OBJ("andi", area_nwk_device_info),
    MGMT_OBJ("bat", battery),
    MGMT_OBJ("dvi", device_info),
    MGMT_OBJ("dvc", device_capability),
    MGMT_OBJ("rbo", reboot),
    MGMT_OBJ("evl", event_log),
};

/* The registered descriptor: what the engine sees before it knows the key
 * ("m2m:mgo" itself names no specialisation, so a CREATE with it is refused). */
const struct resource_type type_mgmt_obj = {
    .ty = TY_MGMTOBJ, .sn = "mgo", .key = "m2m:mgo",
    .parents = (const int[]){ TY_NOD, 0 },
    .attrs = ATTRS(mgmt_generic),
    .flags = RT_SUBSCRIBABLE | RT_ANNOUNCEABLE | RT_SPECIALIZED,
    .on_cse_start = load_firmware_trust,
    .specialisations = (const struct resource_type *const[]){
        &specialisations[0], &specialisations[1], &specialisations[2], &specialisations[3],
        &specialisations[4], &specialisations[5], &specialisations[6], &specialisations[7],
        &specialisations[8], &specialisations[9], NULL },
};
