#include "http_codec.h"

#include "../core/rsc.h"
#include "../core/token_syntax.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *http_codec_method(enum m2m_op op)
{
    switch (op) {
    case OP_CREATE: case OP_NOTIFY: return "POST";
    case OP_RETRIEVE: return "GET";
    case OP_UPDATE: return "PUT";
    case OP_DELETE: return "DELETE";
    default: return NULL;
    }
}

int http_codec_headers(const struct m2m_request *req, bool has_body, char *out, size_t cap)
{
    if (!http_codec_method(req->op)) return -1;
    size_t n = 0;
    int w;
#define PUT(...) do { \
        w = snprintf(out + n, cap - n, __VA_ARGS__); \
        if (w < 0 || (size_t)w >= cap - n) return -1; \
        n += (size_t)w; \
    } while (0)
    if (cap) out[0] = 0;
    if (req->fr && *req->fr) PUT("X-M2M-Origin: %s\r\n", req->fr);
    PUT("X-M2M-RI: %s\r\n", req->rqi ? req->rqi : "");
    PUT("X-M2M-RVI: %s\r\n", req->rvi && *req->rvi ? req->rvi : "3");
    if (req->ec) PUT("X-M2M-EC: %d\r\n", req->ec);
    if (req->rqet) PUT("X-M2M-RQET: %s\r\n", req->rqet);
    if (req->rset) PUT("X-M2M-RSET: %s\r\n", req->rset);
    if (req->oet) PUT("X-M2M-OET: %s\r\n", req->oet);
    if (req->vsi) PUT("X-M2M-VSI: %s\r\n", req->vsi);
    if (req->tokens) PUT("Authorization: %s\r\n", req->tokens);
    if (req->op == OP_CREATE) PUT("Content-Type: application/json;ty=%d\r\n", req->ty);
    else if (req->cbor_content) PUT("Content-Type: application/cbor\r\n");
    else if (has_body || req->op == OP_NOTIFY) PUT("Content-Type: application/json\r\n");
    PUT("Accept: application/json\r\n");
#undef PUT
    return (int)n;
}

int http_codec_rsc(int status, const char *rsc_header)
{
    char *end;
    long v = rsc_header ? strtol(rsc_header, &end, 10) : 0;
    if (rsc_header && end != rsc_header && v > 0 && v < 100000) return (int)v;
    if (status >= 200 && status < 300) return RSC_OK;
    if (status == 403) return RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
    if (status == 404) return RSC_NOT_FOUND;
    return status >= 500 ? RSC_INTERNAL_SERVER_ERROR : RSC_BAD_REQUEST;
}

struct query_out { char *out; size_t cap, n; bool overflow; };

/* Appends "&key=value", the value percent-encoded (m2m_percent_encode). */
static void put_query_item(void *data, const char *key, const char *value)
{
    struct query_out *q = data;
    char item[8192];
    int head = snprintf(item, sizeof item, "%s%s=", q->n ? "&" : "", key);
    int enc = head > 0 && (size_t)head < sizeof item ? m2m_percent_encode(value, item + head, sizeof item - (size_t)head) : -1;
    size_t n = enc < 0 ? 0 : (size_t)(head + enc);
    if (enc < 0 || q->n + n >= q->cap) { q->overflow = true; return; }
    memcpy(q->out + q->n, item, n);
    q->n += n;
    q->out[q->n] = 0;
}

int http_codec_query(const struct m2m_request *req, char *out, size_t cap)
{
    struct query_out q = { out, cap, 0, false };
    if (!cap) return -1;
    out[0] = 0;
    m2m_token_params(req, false, put_query_item, &q);
    return q.overflow ? -1 : (int)q.n;
}

int http_codec_ati(const char *header, char *out, size_t cap)
{
    if (!header) return 0;
    json_t *ati = ati_parse(header);
    char *canonical = ati_format(ati);
    json_decref(ati);
    int n = canonical && strlen(canonical) < cap ? snprintf(out, cap, "%s", canonical) : -1;
    free(canonical);
    return n;
}
