/* ESData envelopes (TS-0003 8.5, TS-0004 6.3.4.2.38): the form of an
 * end-to-end protected content checked against what its contentInfo (cnf)
 * claims, without any key. The CSE never decrypts or verifies ESData: it
 * only refuses content that claims protection and is not such an envelope,
 * then stores and forwards it unchanged. Pure text checks on jansson values,
 * no cjose: part of the engine core. docs/end-to-end-security.md. */
#ifndef IRONBARK_ESDATA_H
#define IRONBARK_ESDATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* contentSecurity, the third field of cnf "<type>/<subtype>:<encoding>[:<security>]". */
enum esdata_security {
    ESDATA_NONE = 0,          /* absent or 0 */
    ESDATA_JOSE_COMPACT = 1,  /* JWE and/or JWS compact serialisation */
    ESDATA_JOSE_JSON = 2,     /* JWE/JWS JSON serialisation */
    ESDATA_JOSE_JSON_B64 = 3, /* the same, base64-encoded */
    ESDATA_XML = 4,           /* XML-Enc / XML-DSig */
    ESDATA_XML_B64 = 5,       /* the same, base64-encoded */
};
/* The contentSecurity of a syntactically valid cnf (instances_valid_cnf). */
enum esdata_security esdata_security_of(const char *cnf);

enum esdata_form { ESDATA_NOT_JOSE = 0, ESDATA_JWE, ESDATA_JWS };
/* What a compact string is: a JWE (5 parts, header/IV-less forms per
 * m2m:e2eCompactJWE: parts 1 and 4 non-empty), a JWS (3 parts, parts 1 and
 * 3 non-empty), each part base64url, the header a JSON object naming alg
 * (and enc for a JWE; alg "none" is not protection). */
enum esdata_form esdata_compact_form(const char *s, size_t len);

/* 0 when con has the form cnf's contentSecurity demands (always 0 for
 * ESDATA_NONE or a NULL con); -1 with why (a sentence for the 4000 response). */
int esdata_check(const char *cnf, const json_t *con, char *why, size_t cap);

#endif
