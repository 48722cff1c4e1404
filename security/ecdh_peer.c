/* libcrypto only: this file must never include wolfSSL headers (design.md). */
#include "ecdh_peer.h"

#include <openssl/evp.h>

#include <stdatomic.h>
#include <string.h>

static atomic_ulong partial_checks;   /* outbound TLS may run beside the loop */

unsigned long ecdh_peer_partial_checks(void) { return atomic_load_explicit(&partial_checks, memory_order_relaxed); }

/* An EC key on a curve whose cofactor is 1: every point on it but infinity
 * has the group's prime order, so the full check's "order × point =
 * infinity" adds nothing to the partial one. By name, the curves TLS
 * offers (asking the key for its cofactor costs 60 k instructions). */
static int cofactor_one(const EVP_PKEY *key)
{
    static const char *const prime_order[] = { "prime256v1", "secp384r1", "secp521r1" };
    char name[32];
    if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_group_name(key, name, sizeof name, NULL) != 1) return 0;
    for (size_t i = 0; i < sizeof prime_order / sizeof *prime_order; i++)
        if (!strcmp(name, prime_order[i])) return 1;
    return 0;
}

/* libcrypto's own returns the same: -1 when the peer key fails its check. */
int EVP_PKEY_derive_set_peer(EVP_PKEY_CTX *ctx, EVP_PKEY *peer)
{
    if (!ctx || !peer || !cofactor_one(peer)) return EVP_PKEY_derive_set_peer_ex(ctx, peer, 1);
    EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
    int ok = check && EVP_PKEY_public_check_quick(check) == 1;
    EVP_PKEY_CTX_free(check);
    if (!ok) return -1;
    atomic_fetch_add_explicit(&partial_checks, 1, memory_order_relaxed);
    return EVP_PKEY_derive_set_peer_ex(ctx, peer, 0);
}
