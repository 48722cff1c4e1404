/* The MEF (or MAF) handshake's exported keying material, from the (D)TLS layer to
 * the MEF's request handlers. The transports export TS-0003's bootstrap
 * material (enrol_keys.h) after each PSK handshake, but only in a server
 * that enabled it (m2m-mef, m2m-maf); the Client Registration that follows on that
 * session names the RelativeKeID it computed, and takes the record once.
 * Requests never carry keys, and the records live for a short while only. */
#ifndef IRONBARK_BOOTSTRAP_H
#define IRONBARK_BOOTSTRAP_H

#include <stdbool.h>
#include <stdint.h>

#define BOOTSTRAP_LEN 48
#define BOOTSTRAP_TTL_S 120    /* a registration later than this needs a new handshake */

/* label: the RFC 5705 label to export with (m2m-mef: TS-0003's bootstrap
 * label, m2m-maf: its connection label), NULL to stop. */
void bootstrap_enable(const char *label);
/* After bootstrap_enable: client certificate handshakes export too (m2m-maf,
 * whose clients may hold a certificate instead of Km; not m2m-mef). */
void bootstrap_enable_certificates(bool on);
bool bootstrap_for_certificates(void);
bool bootstrap_enabled(void);
const char *bootstrap_label(void);

/* Records the material of a finished handshake authenticated as
 * credential_id ("12-<KpmID>", "33-<URI SAN>"); the same session recorded twice is one record. */
void bootstrap_record(const char *credential_id, const uint8_t km[BOOTSTRAP_LEN]);

/* Takes (and forgets) the record of credential_id whose first 16 bytes are
 * relkeid_hex (32 hex digits, any case): true and km filled, or false. */
bool bootstrap_take(const char *credential_id, const char *relkeid_hex, uint8_t km[BOOTSTRAP_LEN]);

/* Forgets everything (tests, shutdown). */
void bootstrap_clear(void);

#endif
