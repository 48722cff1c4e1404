/* The oneM2M CoAP binding's mapping (TS-0008): CoAP request -> request
 * primitive and response primitive -> CoAP response. Pure functions on plain
 * structs, so the rules are unit-testable without sockets or libcoap; the
 * libcoap glue lives in coap.c. */
#ifndef IRONBARK_COAP_MAP_H
#define IRONBARK_COAP_MAP_H

#include "../core/primitive.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CoAP method and option numbers used here (RFC 7252, 7959). */
enum {
    COAP_M_GET = 1, COAP_M_POST = 2, COAP_M_PUT = 3, COAP_M_DELETE = 4,
    COAPOPT_LOCATION_PATH = 8, COAPOPT_URI_PATH = 11, COAPOPT_CONTENT_FORMAT = 12,
    COAPOPT_URI_QUERY = 15, COAPOPT_ACCEPT = 17,
};

/* oneM2M CoAP options (TS-0008 Table 6.2.2.4.0-1): critical and unsafe. */
#define ONEM2M_OPTIONS(X) \
    X(259, OT, STR) X(263, RTURI, STR) X(267, TY, UINT) X(271, RVI, STR) \
    X(275, ASRI, STR) X(279, FR, STR) X(283, RQI, STR) X(291, RQET, STR) \
    X(295, RSET, STR) X(299, OET, STR) X(303, EC, UINT) X(307, RSC, UINT) \
    X(311, GID, STR) X(319, CTO, UINT) X(323, CTS, UINT) X(327, ATI, STR) \
    X(331, VSI, STR) X(335, GTM, STR) X(339, AUS, STR) X(343, OMR, STR) \
    X(347, PRPI, STR) X(351, MSU, STR)

enum onem2m_option {
#define X(num, name, fmt) M2MOPT_##name = num,
    ONEM2M_OPTIONS(X)
#undef X
};

/* Is this a oneM2M option number (one of the table above)? */
bool coap_is_onem2m_option(unsigned number);
/* Short name ("FR") of a oneM2M option, NULL for other numbers. */
const char *coap_onem2m_option_name(unsigned number);

/* Content-Format 50 (application/json) is what this CSE writes, or 60
 * (application/cbor) to an originator whose Accept asks for it. */
#define COAP_CF_JSON 50
#define COAP_CF_CBOR 60
/* Does this Content-Format carry JSON (50 or a oneM2M JSON id)? */
bool coap_cf_is_json(unsigned cf);

#define COAP_MAP_MAX_OPTS 128

struct coap_option_in {
    uint16_t number;
    const uint8_t *value;
    size_t len;
};

/* A received CoAP request, reduced to what the mapping needs. */
struct coap_msg_in {
    int code;                                   /* COAP_M_* */
    struct coap_option_in opts[COAP_MAP_MAX_OPTS];
    int nopts;                                  /* in wire (ascending) order */
    bool too_many_opts;
    const uint8_t *payload;
    size_t payload_len;
};

#define COAP_OUT_MAX_OPTS 40
#define COAP_OUT_OPTBUF 2048

/* A CoAP response to send: code, options in ascending order, payload. */
struct coap_msg_out {
    int code;                                   /* class << 5 | detail */
    int content_format;                         /* -1 = no payload format */
    struct { uint16_t number, off, len; } opts[COAP_OUT_MAX_OPTS];
    int nopts;
    uint8_t optbuf[COAP_OUT_OPTBUF];
    size_t optbuf_used;
    char *payload;                              /* malloc()ed, owned, NUL after payload_len */
    size_t payload_len;
    uint32_t max_age;                           /* Max-Age sent with a payload: 0 (not
                                                   cacheable), or a 4.29's wait (RFC 8516) */
};

/* The first option of this number in a request, or NULL. */
const struct coap_option_in *coap_msg_in_option(const struct coap_msg_in *in, uint16_t number);

/* Maps a CoAP request onto a request primitive (req initialised by the
 * caller). Returns 0, or an RSC with an m2m:dbg explanation in rsp. */
int coap_to_primitive(const struct coap_msg_in *in, struct m2m_request *req,
                      struct m2m_response *rsp);

/* Writes a response primitive as a CoAP response; a rate-limit refusal
 * (rsp->retry_after_s) becomes 4.29 Too Many Requests with that Max-Age. */
void coap_from_primitive(const struct m2m_request *req, const struct m2m_response *rsp,
                         struct coap_msg_out *out);

void coap_msg_out_init(struct coap_msg_out *out);
void coap_msg_out_clear(struct coap_msg_out *out);
/* Appends an option (caller keeps ascending order); 0 or -1 when full. */
int coap_msg_out_add(struct coap_msg_out *out, uint16_t number, const void *value, size_t len);
int coap_msg_out_add_uint(struct coap_msg_out *out, uint16_t number, uint32_t value);
/* Deep copy (for the duplicate cache); NULL on allocation failure. */
struct coap_msg_out *coap_msg_out_dup(const struct coap_msg_out *out);

/* The other direction, for requests the CSE (cse/wire/coap_notify.c) and
 * the m2m client send: a request primitive as a CoAP request. out gets the
 * method and, in ascending order, Uri-Path (the segments of path, a URL
 * path "/a/b", percent-decoded; NULL: of req->to as a oneM2M target,
 * "~"/"_" prefixes),
 * Content-Format 50 (with a body, and always for CREATE and NOTIFY),
 * Uri-Query (query split at '&', percent-decoded; may be NULL; then tkns, tids, ltids,
 * rids, tqi from req: m2m_token_params()), Accept 50, and the oneM2M
 * options TY (CREATE), RVI (rvi, else "3"), FR (when set), RQI, RQET, RSET,
 * OET, EC, VSI (each when set). The payload is the caller's. Returns 0, or -1 when it does not fit
 * or the operation is unknown. */
int coap_request_from_primitive(const struct m2m_request *req, const char *path, const char *query,
                                bool has_body, struct coap_msg_out *out);
/* The RSC of a CoAP answer: its oneM2M-RSC option (rsc_opt >= 0), else
 * derived from the code (class << 5 | detail). */
int coap_response_rsc(int code, long rsc_opt);

/* Splits a oneM2M target ("cse-in/ae", "/id-in/x", "//sp/id-in/x") into
 * Uri-Path style segments ("~" and "_" prefixes). Calls fn per segment;
 * returns the number of segments. */
int coap_target_segments(const char *to, void (*fn)(void *data, const char *seg, size_t len),
                         void *data);

#endif
