/* The MEF's records (<data-dir>/mef.db, owner-only): enrolments (one per
 * bootstrap credential KpmID: a new Client Registration replaces the old,
 * which is re-enrolment) and key registrations (which target may fetch a
 * key of an enrolment, for which SUID, until when). Ke is stored sealed by
 * the vault, never in the clear. */
#ifndef IRONBARK_MEF_RECORDS_H
#define IRONBARK_MEF_RECORDS_H

#include "../security/enrol_keys.h"

#include <stdbool.h>
#include <stdint.h>

struct vault;
struct mef_records;

struct mef_enrolment {
    char keid[ENROL_KEID_MAX];
    char reg_id[48];           /* MEFClientRegID */
    char kpm_id[128];          /* the bootstrap credential (KpmID) */
    char enrolee_id[256];      /* MEF Client ID = Enrolee-ID the MEF vouches for */
    char admin_fqdn[128];
    char labels[512];          /* JSON array text, "" = none */
    int64_t created_us, expires_us;
    bool revoked;
    uint8_t ke[ENROL_KEY_LEN]; /* filled by mef_get(..., with_key) only */
};

struct mef_keyreg {
    char keid[ENROL_KEID_MAX];
    int suid;
    char target[256];
    int64_t expires_us;
};

struct mef_records *mef_records_open(const char *file, struct vault *v);
void mef_records_close(struct mef_records *r);

/* Stores a new enrolment (its ke sealed), removing any earlier one of the
 * same KpmID with its key registrations. 0 or -1. */
int mef_put_enrolment(struct mef_records *r, const struct mef_enrolment *e);
/* By KeID, MEFClientRegID, KpmID or Enrolee-ID: 0 found, 1 unknown, -1 error (also when
 * with_key and the sealed key does not open). */
int mef_get_enrolment(struct mef_records *r, const char *key, bool with_key, struct mef_enrolment *out);
int mef_update_enrolment(struct mef_records *r, const struct mef_enrolment *e);
/* Removes it and its key registrations: 0, 1 unknown, -1. */
int mef_delete_enrolment(struct mef_records *r, const char *keid);
int mef_each_enrolment(struct mef_records *r, int (*fn)(void *arg, const struct mef_enrolment *e), void *arg);

int mef_put_keyreg(struct mef_records *r, const struct mef_keyreg *k);
int mef_get_keyreg(struct mef_records *r, const char *keid, int suid, const char *target, struct mef_keyreg *out);
int mef_delete_keyregs(struct mef_records *r, const char *keid, int suid);
int mef_each_keyreg(struct mef_records *r, const char *keid, int (*fn)(void *arg, const struct mef_keyreg *k),
                    void *arg);

/* Certificates EST issued, by serial (hex): revoked with their enrolment. */
int mef_put_cert(struct mef_records *r, const char *serial, const char *keid);
int mef_revoke_certs(struct mef_records *r, const char *keid);
/* Calls fn for each revoked serial; for the CRL. */
int mef_each_revoked_cert(struct mef_records *r, int (*fn)(void *arg, const char *serial), void *arg);

#endif
