/* OpenSSL libcrypto only (enrol_keys.h). */
#include "enrol_keys.h"

#include "hex.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <string.h>

void enrol_split_export(const uint8_t km[ENROL_EXPORT_LEN], uint8_t relkeid[ENROL_RELKEID_LEN],
                        uint8_t ke[ENROL_KEY_LEN])
{
    memcpy(relkeid, km, ENROL_RELKEID_LEN);
    memcpy(ke, km + ENROL_RELKEID_LEN, ENROL_KEY_LEN);
}

int enrol_keid(const uint8_t relkeid[ENROL_RELKEID_LEN], const char *mef_fqdn, char *out, size_t cap)
{
    char hex[2 * ENROL_RELKEID_LEN + 1];
    hex_encode(relkeid, ENROL_RELKEID_LEN, hex);
    int n = snprintf(out, cap, "%s@%s", hex, mef_fqdn);
    if (n >= 0 && (size_t)n < cap && *mef_fqdn) return 0;
    if (cap) out[0] = 0;   /* a cut KeID would name another enrolment */
    return -1;
}

/* HMAC-SHA-256(key, label || a || b): the labels are ASCII without terminator. */
static int hmac3(const uint8_t ke[ENROL_KEY_LEN], const char *label, const char *a, const char *b,
                 uint8_t out[ENROL_KEY_LEN])
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s%s%s", label, a, b ? b : "");
    if (n < 0 || (size_t)n >= sizeof msg) return -1;
    unsigned int len = 0;
    return HMAC(EVP_sha256(), ke, ENROL_KEY_LEN, (const unsigned char *)msg, (size_t)n, out, &len) &&
                   len == ENROL_KEY_LEN ? 0 : -1;
}

int enrol_derive_km(const uint8_t ke[ENROL_KEY_LEN], const char *maf_id, uint8_t out[ENROL_KEY_LEN])
{
    return hmac3(ke, ENROL_LABEL_KM, maf_id, NULL, out);
}

int enrol_derive_kpsa(const uint8_t ke[ENROL_KEY_LEN], const char *enrolee_b_id, uint8_t out[ENROL_KEY_LEN])
{
    return hmac3(ke, ENROL_LABEL_KPSA, enrolee_b_id, NULL, out);
}

int enrol_derive_kuc(const uint8_t ke[ENROL_KEY_LEN], int suid, const char *target_id,
                     uint8_t out[ENROL_KEY_LEN])
{
    char digits[12];
    snprintf(digits, sizeof digits, "%d", suid);
    return hmac3(ke, ENROL_LABEL_KUC, digits, target_id, out);
}

int enrol_derive_for_suid(const uint8_t ke[ENROL_KEY_LEN], int suid, const char *target_id,
                          uint8_t out[ENROL_KEY_LEN])
{
    if (suid == 21) return enrol_derive_km(ke, target_id, out);
    if (suid == 22) return enrol_derive_kpsa(ke, target_id, out);
    if (suid >= 23 && suid <= 25) return enrol_derive_kuc(ke, suid, target_id, out);
    return -1;
}
