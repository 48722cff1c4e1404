/* libssl's ECDH peer-key check, made proportionate: OpenSSL 3.0's
 * EVP_PKEY_derive_set_peer() runs EVP_PKEY_public_check() on every peer
 * key share, whose order check (a full scalar multiplication, ~21 % of a
 * P-256 TLS 1.3 PSK handshake) proves nothing on a curve of cofactor 1.
 * ecdh_peer.c defines EVP_PKEY_derive_set_peer() itself; libssl (HTTPS,
 * and libcoap's DTLS) calls it through its PLT, so ours runs instead
 * (docs/decisions.md, "ECDH peer keys"). No wolfSSL headers with this one. */
#ifndef IRONBARK_ECDH_PEER_H
#define IRONBARK_ECDH_PEER_H

/* Peer keys checked the partial way (SP 800-56A rev. 3, 5.6.2.3.4: not the
 * point at infinity, coordinates in range, on the curve) since start: > 0
 * once a handshake went through our definition, i.e. it is effective. */
unsigned long ecdh_peer_partial_checks(void);

#endif
