/* Signed firmware (issue 14; docs/decisions.md "Signed firmware"): a
 * <firmware> mgmtObj is accepted only when its fwsg attribute is a detached
 * JWS (RFC 7515 Appendix F, ES256) by a key of the operator's trust file
 * over the firmware's name, version, URL and image digest (fwdg). The CSE
 * never fetches the image: the device checks the image against fwdg, the
 * CSE checks that fwdg and the URL are what the operator signed.
 * Verification goes through the jose module table (security/jose_module.h):
 * the core never links cjose. */
#ifndef IRONBARK_FIRMWARE_SIG_H
#define IRONBARK_FIRMWARE_SIG_H

#include <stdbool.h>
#include <stddef.h>

struct jose_module;

/* fwdg: "sha256:" and 64 lowercase hex digits. */
bool fw_digest_valid(const char *dgst);

/* The bytes signed: "ironbark-firmware-v1\n" fwn "\n" vr "\n" url "\n" fwdg
 * (malloc'd). NULL when a field is missing or holds a line break (which
 * would make two different records sign the same bytes). */
char *fw_signed_payload(const char *fwn, const char *vr, const char *url, const char *dgst);

/* The trusted signing keys: a JWK Set file {"keys": [public EC P-256 JWK, ...]}.
 * Private or symmetric keys are refused: the CSE only verifies. */
struct fw_trust;
struct fw_trust *fw_trust_load(const struct jose_module *m, const char *path, char *err, size_t cap);
void fw_trust_free(struct fw_trust *t);

enum fw_verdict {
    FW_OK,
    FW_UNSIGNED,    /* fwsg or fwdg missing */
    FW_MALFORMED,   /* fwdg syntax, fields with line breaks, fwsg not a detached ES256 JWS */
    FW_FORGED,      /* no trusted key verifies the signature over these fields */
};
/* Checks a firmware record; why receives a sentence for the response and audit. */
enum fw_verdict fw_verify(const struct fw_trust *t, const char *fwn, const char *vr, const char *url,
                          const char *dgst, const char *jws, char *why, size_t cap);

#endif
