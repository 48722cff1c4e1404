/* The Mmaf wire mapping, in one place and provisional (docs/decisions.md):
 * TS-0032 is not public, so TS-0003's MAF procedures (8.8) are carried as
 * oneM2M primitives on paths outside the resource tree, with JSON contents
 * whose element names are TS-0003's (as the Mmef mapping, mef/mmef.h):
 *
 *   CREATE   mafClientReg (ty 952)            MAF Client Registration   {"maf:clientReg": {...}}
 *   RETRIEVE mafClientReg/<mafClientRegID>    Client Configuration Retrieval ({"maf:clientCfg"})
 *   UPDATE   mafClientReg/<mafClientRegID>    Client Registration Update
 *   DELETE   mafClientReg/<mafClientRegID>    Client De-Registration
 *   CREATE   mafKeyReg (ty 953)               Key Registration          {"maf:keyReg": {...}}
 *   RETRIEVE mafKeyReg                        the caller's key registrations (no key values)
 *   RETRIEVE mafKeyReg/<RelativeKeyID>        Key Retrieval (a target: with the Key Value)
 *   UPDATE   mafKeyReg/<RelativeKeyID>        Key Registration Update
 *   DELETE   mafKeyReg/<RelativeKeyID>        Key De-Registration
 *
 * This file parses and writes those contents; it decides nothing. */
#ifndef IRONBARK_MAF_MMAF_H
#define IRONBARK_MAF_MMAF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMAF_TY_CLIENT_REG 952
#define MMAF_TY_KEY_REG 953
#define MMAF_MAX_TARGETS 8
#define MMAF_RELKEYID_LEN 32      /* hex(KcID): 16 bytes */

enum mmaf_target { MMAF_NONE = 0, MMAF_CLIENT_REG, MMAF_KEY_REG, MMAF_BAD };

struct mmaf_path {
    enum mmaf_target target;
    char id[64];              /* mafClientRegID or RelativeKeyID, "" if none */
};

/* Classifies a request target ("mafKeyReg/<hex>", also with a leading '/' or "<csebase>/"). */
struct mmaf_path mmaf_parse_path(const char *to, const char *csebase_name);

/* A MAF client registration as the MAF holds it. */
struct maf_client {
    char kmid[136];           /* the MAF handshake's Credential-ID: "12-<KmID>" or "33-<URI SAN>" */
    char reg_id[48];          /* mafClientRegID */
    char client_id[256];      /* MAF Client ID: the originator the MAF vouches for */
    char admin_fqdn[128];
    char labels[512];         /* JSON array text */
    int64_t expires_us;
};

/* A key registration as the MAF holds it (Kc only in memory). */
struct maf_key {
    char rel[MMAF_RELKEYID_LEN + 1];   /* RelativeKeyID */
    char source_kmid[136];    /* its source's Credential-ID (maf_client.kmid) */
    char source_id[256];      /* Source MAF Client ID */
    int suid;
    char targets[MMAF_MAX_TARGETS][256];
    int ntargets;
    char labels[512];
    char admin_fqdn[128];
    int64_t expires_us;
    uint8_t kc[32];
};

/* Client Registration (update: only expirationTime and labels, at least one). */
struct mmaf_client_reg {
    const char *maf_fqdn, *admin_fqdn;
    bool has_et, has_labels;
    int64_t et_us;
    json_t *labels;
};

/* Key Registration (update: expirationTime, labels, targetIDs, at least one). */
struct mmaf_key_reg {
    const char *maf_fqdn, *admin_fqdn, *relative_key_id;
    bool has_et, has_labels, has_targets;
    int64_t et_us;
    json_t *labels;
    int suid;
    const char *targets[MMAF_MAX_TARGETS];
    int ntargets;
};

int mmaf_parse_client_reg(const json_t *pc, bool update, struct mmaf_client_reg *out, char *err, size_t errlen);
int mmaf_parse_key_reg(const json_t *pc, bool update, struct mmaf_key_reg *out, char *err, size_t errlen);

/* Responses (new references). */
json_t *mmaf_client_reg_json(const char *root, const struct maf_client *c, const char *maf_fqdn);
/* with_key: the Key Value too (Key Retrieval by a target only). */
json_t *mmaf_key_json(const struct maf_key *k, const char *maf_fqdn, bool with_key);

/* What a target reads back from Key Retrieval; mmaf_parse_retrieved also
 * checks that the key is for usage suid and lists target (absolute ID). */
struct mmaf_retrieved {
    uint8_t key[32];
    size_t key_len;
    char source_id[256];
    int64_t expires_us;
};
int mmaf_parse_retrieved(const json_t *pc, int suid, const char *target, struct mmaf_retrieved *out, char *err,
                         size_t errlen);

#endif
