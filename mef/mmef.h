/* The Mmef wire mapping, in one place and provisional (docs/decisions.md):
 * TS-0032, which defines the real one, is not public, so TS-0003's MEF
 * procedures (8.3.5, Table 8.3.5.1-1) are carried as oneM2M primitives on
 * paths outside the resource tree, with JSON contents whose element names
 * are TS-0003's:
 *
 *   CREATE   mefClientReg (ty 950)          Client Registration    {"mef:clientReg": {...}}
 *   RETRIEVE mefClientReg/<MEFClientRegID>  Client Configuration Retrieval
 *   UPDATE   mefClientReg/<MEFClientRegID>  Client Registration Update
 *   DELETE   mefClientReg/<MEFClientRegID>  Client De-Registration
 *   CREATE   mefKeyReg (ty 951)             Key Registration       {"mef:keyReg": {...}}
 *   DELETE   mefKeyReg/<RelativeKeyID>/<SUID>  Key De-Registration
 *   RETRIEVE fetchCredentials/<KeID>/<SUID> a target fetches a key (8.3.2.1)
 *   RETRIEVE mefEnrolments[/<KeID|KpmID|MEFClientRegID>]   operators: inventory
 *   DELETE   mefEnrolments/<...>            operators: revoke
 *
 * This file parses and writes those contents; it decides nothing. */
#ifndef IRONBARK_MEF_MMEF_H
#define IRONBARK_MEF_MMEF_H

#include "records.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MMEF_TY_CLIENT_REG 950
#define MMEF_TY_KEY_REG 951

enum mmef_target {
    MMEF_NONE = 0,            /* not an Mmef path: the resource tree's */
    MMEF_CLIENT_REG,          /* mefClientReg[/id] */
    MMEF_KEY_REG,             /* mefKeyReg[/RelativeKeyID/SUID] */
    MMEF_FETCH,               /* fetchCredentials/KeID/SUID */
    MMEF_ENROLMENTS,          /* mefEnrolments[/key] */
    MMEF_BAD,                 /* an Mmef path with a malformed tail */
};

struct mmef_path {
    enum mmef_target target;
    char id[ENROL_KEID_MAX];  /* the first segment after the name, "" if none */
    int suid;                 /* MMEF_KEY_REG / MMEF_FETCH: the SUID segment, 0 if none */
};

/* Classifies a request target ("fetchCredentials/ab..@mef/22", also with a
 * leading '/' or "<csebase>/"). */
struct mmef_path mmef_parse_path(const char *to, const char *csebase_name);

/* Client Registration (and its Update: every element optional). */
struct mmef_client_reg {
    const char *mef_fqdn, *admin_fqdn, *relative_keid;
    bool has_et, has_labels;
    int64_t et_us;
    json_t *labels;           /* borrowed from the content */
};

/* Key Registration. */
struct mmef_key_reg {
    const char *mef_fqdn, *admin_fqdn;
    int64_t et_us;
    bool has_et;
    int suid;
    const char *target;       /* the one targetID (SAEF, MAF, ESPrim: exactly one) */
};

/* Each returns 0, or -1 with a reason naming the element in err. update
 * parses a Registration Update (at least one of expirationTime, labels). */
int mmef_parse_client_reg(const json_t *pc, bool update, struct mmef_client_reg *out, char *err, size_t errlen);
int mmef_parse_key_reg(const json_t *pc, struct mmef_key_reg *out, char *err, size_t errlen);

/* Responses (new references). fields: for an Update, only what was sent. */
json_t *mmef_client_reg_json(const struct mef_enrolment *e, const char *mef_fqdn);
json_t *mmef_key_reg_json(const struct mef_keyreg *k, const struct mef_enrolment *e);
/* fetchCredentials success: Status true, Credential (hex), EnroleeID, Lifetime. */
json_t *mmef_fetch_json(const uint8_t *key, size_t n, const char *enrolee_id, int64_t lifetime_us);
/* An inventory entry (no key material) and its key registrations. */
json_t *mmef_enrolment_json(const struct mef_enrolment *e, json_t *keyregs);
json_t *mmef_keyreg_entry(const struct mef_keyreg *k);

/* What a target reads back from fetchCredentials: 0 and the fields, or -1. */
struct mmef_fetched {
    uint8_t key[64];
    size_t key_len;
    char enrolee_id[256];
    int64_t lifetime_us;
};
int mmef_parse_fetch(const json_t *pc, struct mmef_fetched *out, char *err, size_t errlen);

#endif
