/* ESPrim, end-to-end security of primitives (TS-0003 8.4, TS-0004 7.6.2):
 * the nonce ("rand") objects, the session-key derivation, the ESPrim object
 * (JWE compact, "dir" + A256GCM), both ends of a sealed exchange, and the
 * Receiver's gate in the CSE. The crypto primitives come from
 * security/esprim_crypto.h (in ironbark-jose.so for m2m-cse).
 * docs/end-to-end-security.md, "ESPrim"; the byte layout of the KDF input
 * is a decision (docs/decisions.md). */
#ifndef IRONBARK_ESPRIM_H
#define IRONBARK_ESPRIM_H

#include "esprim_crypto.h"

#include "../cse/core/primitive.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define ESPRIM_IV_LEN 12            /* 96-bit GCM IV (RFC 7518 5.3) */
#define ESPRIM_TAG_LEN 16           /* 128-bit GCM tag */
#define ESPRIM_RAND_LEN 16          /* esprimRandValue: 128 bits */
#define ESPRIM_KEY_LEN 32           /* sessionESPrimKey = HMAC-SHA256 output */
#define ESPRIM_ID_MAX 64            /* esprimRandID characters */
#define ESPRIM_KID_MAX 127          /* pairwiseESPrimKeyID characters (credential store limit) */
#define ESPRIM_OBJECT_MAX 65536     /* characters of an epo accepted */
#define ESPRIM_SUID_PROVISIONED 13  /* esf: ESPrim with a pre-provisioned key */
#define ESPRIM_KDF_HMAC_SHA256 1    /* m2m:esprimKeyGenAlgID */
#define ESPRIM_JWE_A256GCM 12       /* m2m:esprimProtocolAndAlgID (10/11 = A128/A192GCM) */
#define ESPRIM_KDF_LABEL "oneM2M HMAC-SHA256 sessionESPrimKey derivation algorithm"
/* The KDF input: receiver value, originator value, label (decisions.md). */
#define ESPRIM_KDF_INPUT_LEN (2 * ESPRIM_RAND_LEN + sizeof ESPRIM_KDF_LABEL - 1)

/* A nonce object: receiverESPrimRandObject or originatorESPrimRandObject. */
struct esprim_rand {
    char id[ESPRIM_ID_MAX + 1];     /* esri */
    uint8_t value[ESPRIM_RAND_LEN]; /* esrv (base64url on the wire) */
    int64_t expiry_us;              /* esrx */
    unsigned kdfs;                  /* bit n: esprimKeyGenAlgID n (receiver esks / originator esk) */
    unsigned aeads;                 /* bit n-10: esprimProtocolAndAlgID n (espa) */
};

/* Parses a nonce object (receiver: esks, originator: esk). now_us resolves a
 * relative esrx. 0, or RSC_BAD_REQUEST with the reason in err. */
int esprim_rand_parse(const json_t *o, bool receiver, int64_t now_us, struct esprim_rand *out,
                      char *err, size_t cap);
json_t *esprim_rand_json(const struct esprim_rand *r, bool receiver);
/* A fresh object offering HMAC-SHA256 and A256GCM; its esri starts with
 * 's' (shared) or 'u' (unshared), TS-0003 8.4.3.1. 0 or -1. */
int esprim_rand_new(const struct esprim_crypto *c, bool shared, int64_t expiry_us, struct esprim_rand *out);

/* Validates an m2m:e2eSecInfo (esf, escert, esro). 0 or RSC_BAD_REQUEST. */
int esprim_esi_check(const json_t *esi, char *err, size_t cap);

/* m2m:seci as far as ESPrim reads it: sit, and epo (sit 5) or ero (sit 4),
 * borrowed from pc. 0 or RSC_BAD_REQUEST. */
struct esprim_seci {
    int sit;
    const char *epo;
    const json_t *ero;
};
int esprim_seci_parse(const json_t *pc, struct esprim_seci *out, char *err, size_t cap);

/* The KDF input bytes (ESPRIM_KDF_INPUT_LEN of them) and the key itself:
 * HMAC-SHA256(pairwise, input), TS-0003 10.3.8.2. 0 or -1. */
void esprim_kdf_input(const struct esprim_rand *recv, const struct esprim_rand *orig,
                      uint8_t out[ESPRIM_KDF_INPUT_LEN]);
int esprim_session_key(const struct esprim_crypto *c, const uint8_t *pairwise, size_t pairwise_len,
                       const struct esprim_rand *recv, const struct esprim_rand *orig,
                       uint8_t out[ESPRIM_KEY_LEN]);

/* What the Receiver reads of an ESPrim object (JWE compact, empty
 * encrypted key) before it has a key: the protected header and the IV. */
struct esprim_object {
    const char *compact;            /* borrowed: the object as received */
    json_t *header;                 /* the protected header */
    const char *alg, *enc, *kid, *ori, *rri; /* borrowed from header */
    uint8_t iv[ESPRIM_IV_LEN];      /* unique per object: what replay detection remembers */
};
/* 0, or RSC_BAD_REQUEST (not five parts, bad base64url or JSON, an
 * encrypted key, a wrong IV or tag length, no ciphertext, alg/enc/kid/ori/rri
 * missing). */
int esprim_object_parse(const char *compact, struct esprim_object *out, char *err, size_t cap);
void esprim_object_clear(struct esprim_object *o);
/* Decrypts o under key: 0 with *plain (malloc'd, '\0'-terminated) and *len,
 * RSC_ESPRIM_BAD_MAC when it does not authenticate, RSC_BAD_REQUEST when
 * the JOSE library refuses its form, RSC_ESPRIM_DECRYPTION_ERROR otherwise. */
int esprim_object_open(const struct esprim_crypto *c, const uint8_t key[ESPRIM_KEY_LEN],
                       const struct esprim_object *o, char **plain, size_t *len);
/* Seals plain under key; header holds kid, ori, rri, cty and maybe oro/rro
 * (alg dir, enc A256GCM are added). The compact object (malloc'd), or NULL. */
char *esprim_object_seal(const struct esprim_crypto *c, const uint8_t key[ESPRIM_KEY_LEN], const json_t *header,
                         const char *plain, size_t len);

/* The Originator's end (the m2m tool). */
struct esprim_session {
    char kid[ESPRIM_KID_MAX + 1];
    uint8_t key[ESPRIM_KEY_LEN];
    struct esprim_rand recv, orig;
};
/* A session with the Receiver's nonce object recv: a fresh originator
 * object (expiring with recv) and the derived key. 0, or -1 with err. */
int esprim_session_start(const struct esprim_crypto *c, const char *kid, const uint8_t *pairwise,
                         size_t pairwise_len, const struct esprim_rand *recv, struct esprim_session *s,
                         char *err, size_t cap);
/* The outer NOTIFY's content {"m2m:seci":{"sit":5,"epo":...}} for inner
 * (carrying oro), or NULL. */
json_t *esprim_seal_request(const struct esprim_crypto *c, const struct esprim_session *s,
                            const struct m2m_request *inner);
/* Opens the outer response's content into the inner response (rsp owns a
 * reference on its pc; *doc holds what rsp borrows: json_decref it after).
 * 0, or an RSC with err (4000 malformed, 4112-4115 not this session's). */
int esprim_open_response(const struct esprim_crypto *c, const struct esprim_session *s, const json_t *pc,
                         struct m2m_response *rsp, json_t **doc, char *err, size_t cap);

/* The Receiver's end, in the CSE. */
struct cse;
struct esprim_receiver;
void esprim_receiver_free(struct esprim_receiver *r);
/* The gate, run by the dispatcher before a primitive is executed: a NOTIFY
 * from a binding to the CSEBase whose content is an m2m:seci of sit 3 or 5,
 * with the esprim setting on. Returns -1 when req is none of its business,
 * else 0 or an RSC with rsp filled (sit 3: the nonce object; sit 5: the
 * inner primitive executed as its authenticated originator and its response
 * sealed; refusals in the clear). */
int esprim_gate(struct cse *cse, struct m2m_request *req, struct m2m_response *rsp);

#endif
