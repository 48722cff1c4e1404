/* The one symbol ironbark-jose.so exports (security/jose_module.h). */
#include "jose_module.h"

const struct jose_module ironbark_jose_module = {
    .abi = JOSE_MODULE_ABI,
    .trust_new = token_trust_new,
    .trust_free = token_trust_free,
    .trust_add = token_trust_add,
    .trust_load = token_trust_load,
    .trust_count = token_trust_count,
    .verify = token_verify,
    .peek = token_peek,
    .sign = token_sign,
    .new_key = token_new_key,
    .public_jwk = token_public_jwk,
    .verdict_text = token_verdict_text,
    .claims_free = token_claims_free,
    .esprim = &esprim_crypto_openssl,
};
