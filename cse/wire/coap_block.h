/* Block-wise transfer (RFC 7959) for the CoAP server, in our own code rather
 * than libcoap 4.3.1's (whose Block1 handling two spoofable datagrams could
 * crash: docs/decisions.md). Two bounded tables of transfers in progress,
 * keyed by peer and request: request bodies being assembled (Block1) and
 * responses too large for one datagram whose later pieces are still to be
 * fetched (Block2). Every limit (body size during assembly, entries per
 * peer and in all, bytes, idle time) is checked as blocks arrive, so no
 * sequence of block options can grow memory without bound. No sockets, no
 * libcoap: the clock is passed in, and the tables are unit-tested and fuzzed. */
#ifndef IRONBARK_COAP_BLOCK_H
#define IRONBARK_COAP_BLOCK_H

#include "coap_map.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { COAPOPT_BLOCK2 = 23, COAPOPT_BLOCK1 = 27, COAPOPT_SIZE2 = 28, COAPOPT_SIZE1 = 60,
       COAPOPT_REQUEST_TAG = 292 };

/* A Block1/Block2 option: piece num of 16 << szx bytes, more to follow. */
struct coap_block {
    uint32_t num;
    bool more;
    unsigned szx;
};

static inline size_t coap_block_size(unsigned szx) { return (size_t)16 << szx; }

/* Decodes an option value of 0-3 bytes. -1 when longer, or when SZX is 7
 * (BERT, defined for CoAP over TCP only). */
int coap_block_decode(const uint8_t *value, size_t len, struct coap_block *b);
/* Encodes in the fewest bytes (0 for 0/0/16); returns the length. */
size_t coap_block_encode(const struct coap_block *b, uint8_t out[3]);
/* The Block1 or Block2 option of a request: 1 found, 0 absent, -1 invalid. */
int coap_block_find(const struct coap_msg_in *in, uint16_t number, struct coap_block *b);

/* The piece of a payload of total bytes to send when the request asked for
 * `asked` (NULL: nothing asked) and a datagram has room for `room` payload
 * bytes. Returns 0 when it goes whole (no Block2 needed), 1 with *piece, *off
 * and *len set, -1 when the piece asked for starts past the end, -2 when
 * room is below the smallest block. A smaller block than asked is chosen
 * when the room needs it, at the same offset (RFC 7959 2.4). */
int coap_block2_piece(size_t total, const struct coap_block *asked, size_t room,
                      struct coap_block *piece, size_t *off, size_t *len);

struct coap_blocks_limits {
    size_t max_body;       /* largest request body, checked block by block */
    int max_entries;       /* transfers in progress, both kinds */
    int per_peer;          /* of those, per remote end */
    size_t max_bytes;      /* their bodies together */
    int64_t idle_ms;       /* forgotten after this long without a block */
};

struct coap_blocks;

struct coap_blocks *coap_blocks_new(const struct coap_blocks_limits *lim);
void coap_blocks_free(struct coap_blocks *bs);
int coap_blocks_count(const struct coap_blocks *bs);
size_t coap_blocks_bytes(const struct coap_blocks *bs);

enum coap_block1_status {
    COAP_B1_NONE,          /* no Block1 option: the payload is the whole body */
    COAP_B1_CONTINUE,      /* piece stored: answer 2.31 Continue with echo */
    COAP_B1_DONE,          /* last piece: body is the whole body, run it */
    COAP_B1_ERROR,         /* answer code; the transfer is gone */
};

struct coap_block1_result {
    enum coap_block1_status status;
    int code;              /* COAP_B1_ERROR: 4.00, 4.08, 4.13 or 5.03 (class << 5 | detail) */
    const char *why;       /* COAP_B1_ERROR: for the m2m:dbg answer */
    struct coap_block echo;     /* the Block1 option of the answer */
    uint8_t *body;         /* COAP_B1_DONE: malloc()ed, the caller frees it */
    size_t body_len;
};

/* Takes a request's Block1 piece from peer (e.g. "0|127.0.0.1|5683"). */
void coap_blocks_put(struct coap_blocks *bs, const char *peer, const struct coap_msg_in *in,
                     int64_t now_ms, struct coap_block1_result *r);

/* Keeps a copy of a response whose payload goes out in Block2 pieces, for
 * the follow-up requests of the same peer, method and URI. */
void coap_blocks_keep(struct coap_blocks *bs, const char *peer, const struct coap_msg_in *in,
                      const struct coap_msg_out *out, int64_t now_ms);
/* The response kept for this request, or NULL. */
const struct coap_msg_out *coap_blocks_held(struct coap_blocks *bs, const char *peer,
                                            const struct coap_msg_in *in, int64_t now_ms);

#endif
