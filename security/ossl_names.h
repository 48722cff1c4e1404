/* OpenSSL 3.0 answers "which names does this key type have" by walking its
 * whole name map (~400 entries, ~11 k instructions) every time:
 * EVP_PKEY_CTX_new_from_pkey(), EVP_PKEY_set_type_by_keymgmt() and others
 * ask it ~8 times a TLS 1.3 ECDHE handshake. ossl_names.c defines
 * EVP_KEYMGMT_names_do_all() in the transports module (libcrypto calls it
 * through its PLT, so ours runs) and answers from a copy of libcrypto's own
 * answer, in the same order, once the name map can no longer change:
 * ossl_names_freeze() has every operation of every active provider of the
 * default context registered (which adds all the names those providers will
 * ever add) and records those providers. Until then, and for key types of
 * another context or provider, libcrypto answers. Sound while no provider is
 * loaded or unloaded after the freeze, as for ossl_fetch.h (docs/decisions.md,
 * "OpenSSL key-type names"). No wolfSSL headers with this one. */
#ifndef IRONBARK_OSSL_NAMES_H
#define IRONBARK_OSSL_NAMES_H

/* Registers every algorithm of the default context's active providers, then
 * lets EVP_KEYMGMT_names_do_all() answer from its cache. Call after the
 * OpenSSL configuration is loaded (after SSL_CTX_new); idempotent. */
void ossl_names_freeze(void);

/* Answers given from the cache since start: > 0 once it is effective. */
unsigned long ossl_names_hits(void);

#endif
