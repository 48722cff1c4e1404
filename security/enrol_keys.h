/* Enrolment keys of the MEF (TS-0003 10.3): the bootstrap export split into
 * RelativeKeID and Ke, the KeID, and the three HMAC-SHA-256 derivations
 * (Km for a MAF, Kpsa for a PSK SAEF, Kuc usage-constrained). Pure functions
 * on byte arrays; the MEF, the m2m tool and the unit tests share them.
 * OpenSSL libcrypto only: never include wolfSSL headers with this one. */
#ifndef IRONBARK_ENROL_KEYS_H
#define IRONBARK_ENROL_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define ENROL_EXPORT_LABEL "EXPORTER-oneM2M-Bootstrap"   /* TS-0003 10.3.1 */
#define MAF_EXPORT_LABEL "EXPORTER-oneM2M-Connection"    /* TS-0003 10.3.1: Kc/KcID after the MAF handshake */
#define ENROL_EXPORT_LEN 48
#define ENROL_RELKEID_LEN 16
#define ENROL_KEY_LEN 32
#define ENROL_KEID_MAX 128     /* "<32 hex>@<mef-fqdn>" with '\0' */

#define ENROL_LABEL_KM   "oneM2M Enrolment Key to Master Credential derivation"
#define ENROL_LABEL_KPSA "oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
#define ENROL_LABEL_KUC  "oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"

/* The 48 exported bytes: the first 16 are RelativeKeID, the last 32 Ke
 * (our reading of "most/least significant", docs/decisions.md). */
void enrol_split_export(const uint8_t km[ENROL_EXPORT_LEN], uint8_t relkeid[ENROL_RELKEID_LEN],
                        uint8_t ke[ENROL_KEY_LEN]);

/* KeID = lowercase hex(RelativeKeID) "@" MEF-FQDN (10.3.4). -1 when it does not fit.
 * The MAF's Key Identifier has the same form: hex(KcID) "@" MAF-FQDN (10.3.5). */
int enrol_keid(const uint8_t relkeid[ENROL_RELKEID_LEN], const char *mef_fqdn, char *out, size_t cap);

/* Km = HMAC(Ke, LABEL_KM || MAF-ID) (10.3.2). */
int enrol_derive_km(const uint8_t ke[ENROL_KEY_LEN], const char *maf_id, uint8_t out[ENROL_KEY_LEN]);
/* Kpsa = HMAC(Ke, LABEL_KPSA || Enrolee-B-ID) (10.3.3). */
int enrol_derive_kpsa(const uint8_t ke[ENROL_KEY_LEN], const char *enrolee_b_id, uint8_t out[ENROL_KEY_LEN]);
/* Kuc = HMAC(Ke, LABEL_KUC || SUID || Enrolment-Target-ID) (10.3.7); the
 * SUID as decimal ASCII digits ("22"), our choice where TS-0003 is silent. */
int enrol_derive_kuc(const uint8_t ke[ENROL_KEY_LEN], int suid, const char *target_id,
                     uint8_t out[ENROL_KEY_LEN]);

/* The key a target fetches for a SUID (decisions.md): 21 (MAF) Km with the
 * target as MAF-ID, 22 (SAEF) Kpsa with the target as Enrolee-B-ID, 23-25
 * Kuc. -1 for another SUID. */
int enrol_derive_for_suid(const uint8_t ke[ENROL_KEY_LEN], int suid, const char *target_id,
                          uint8_t out[ENROL_KEY_LEN]);

#endif
