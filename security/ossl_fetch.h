/* OpenSSL 3.0 looks its algorithms up by name on every use: libssl and the
 * default provider fetch the digest, KDF, MAC and cipher of each key-schedule
 * step, record key and ticket anew (~3 k instructions a fetch, ~60 fetches a
 * TLS 1.3 handshake). ossl_fetch.c defines EVP_MD_fetch(), EVP_KDF_fetch(),
 * EVP_MAC_fetch(), EVP_CIPHER_fetch(), EVP_SIGNATURE_fetch(), EVP_KEYEXCH_fetch()
 * and EVP_KEYMGMT_fetch() in the transports module, so libssl
 * and libcrypto call ours through their PLT: a fetch from the default library
 * context without properties is made once and its object handed out again
 * (a new reference, as OpenSSL's own method store does). It also defines
 * EC_GROUP_new_by_curve_name_ex(): a P-256/384/521 group is a copy of one
 * built before, not built again from its parameters. Sound while no
 * provider is loaded or unloaded after start, which Ironbark never does
 * (docs/decisions.md, "OpenSSL fetches"). No wolfSSL headers with this one. */
#ifndef IRONBARK_OSSL_FETCH_H
#define IRONBARK_OSSL_FETCH_H

/* Fetches and groups answered from the cache since start: > 0 once the
 * interposition is effective in this process. */
unsigned long ossl_fetch_hits(void);

/* libcrypto's definition of symbol (OpenSSL 3.0's version): the next one
 * after ours, for an interposing definition to call; NULL if none. */
void *ossl_next_definition(const char *symbol);

#endif
