#include "coap_map.h"

#include "../base/cbor_json.h"
#include "../base/json_text.h"
#include "../core/rsc.h"
#include "../core/token_syntax.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_format { STR, UINT };

struct onem2m_opt { uint16_t number; const char *name; enum opt_format fmt; };

static const struct onem2m_opt onem2m_opts[] = {
#define X(num, name, fmt) { num, #name, fmt },
    ONEM2M_OPTIONS(X)
#undef X
};
#define N_ONEM2M_OPTS (int)(sizeof onem2m_opts / sizeof *onem2m_opts)

static int onem2m_index(unsigned number)
{
    for (int i = 0; i < N_ONEM2M_OPTS; i++)
        if (onem2m_opts[i].number == number) return i;
    return -1;
}

bool coap_is_onem2m_option(unsigned number) { return onem2m_index(number) >= 0; }

const char *coap_onem2m_option_name(unsigned number)
{
    int i = onem2m_index(number);
    return i < 0 ? NULL : onem2m_opts[i].name;
}

bool coap_cf_is_json(unsigned cf)
{
    /* 50 application/json; oneM2M res/ntfy/preq JSON ids; 10015 as ACME and
     * an nRF9161 client use it (see docs/coap.md). */
    return cf == 50 || cf == 10001 || cf == 10003 || cf == 10007 || cf == 10015;
}

/* ---- reading options ---------------------------------------------------- */

static char *opt_strdup(const struct coap_option_in *o)
{
    char *s = malloc(o->len + 1);
    if (!s) return NULL;
    memcpy(s, o->value, o->len);
    s[o->len] = 0;
    return s;
}

/* A CoAP uint is minimal big-endian binary. Some clients send decimal text
 * (tinyIoT accepts both), so a value made only of ASCII digits is read as
 * text; see docs/coap.md for the consequence. */
static bool opt_uint(const struct coap_option_in *o, uint32_t *out)
{
    bool digits = o->len > 0 && o->len <= 9;
    for (size_t i = 0; digits && i < o->len; i++)
        digits = o->value[i] >= '0' && o->value[i] <= '9';
    uint32_t v = 0;
    if (digits) {
        for (size_t i = 0; i < o->len; i++) v = v * 10 + (uint32_t)(o->value[i] - '0');
    } else {
        if (o->len > 4) return false;
        for (size_t i = 0; i < o->len; i++) v = v << 8 | o->value[i];
    }
    *out = v;
    return true;
}

/* The CoAP uint of a standard option (Content-Format, Accept): binary only. */
static uint32_t opt_binary_uint(const struct coap_option_in *o)
{
    uint32_t v = 0;
    for (size_t i = 0; i < o->len && i < 4; i++) v = v << 8 | o->value[i];
    return v;
}

static int set_string_param(const struct coap_option_in *o, char **dst, struct m2m_response *rsp)
{
    if (memchr(o->value, 0, o->len))
        return m2m_error(rsp, RSC_BAD_REQUEST, "oneM2M-%s option contains a NUL byte",
                         coap_onem2m_option_name(o->number));
    free(*dst);
    *dst = opt_strdup(o);
    return *dst ? 0 : m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
}

static int apply_onem2m_option(const struct coap_option_in *o, struct m2m_request *req,
                               struct m2m_response *rsp)
{
    uint32_t v;
    switch (o->number) {
    case M2MOPT_FR: return set_string_param(o, &req->fr, rsp);
    case M2MOPT_RQI: return set_string_param(o, &req->rqi, rsp);
    case M2MOPT_RVI: return set_string_param(o, &req->rvi, rsp);
    case M2MOPT_OT: return set_string_param(o, &req->ot, rsp);
    case M2MOPT_RQET: return set_string_param(o, &req->rqet, rsp);
    case M2MOPT_RSET: return set_string_param(o, &req->rset, rsp);
    case M2MOPT_OET: return set_string_param(o, &req->oet, rsp);
    case M2MOPT_RTURI: return set_string_param(o, &req->rtu, rsp);
    case M2MOPT_GID: return set_string_param(o, &req->gid, rsp);
    case M2MOPT_VSI: return set_string_param(o, &req->vsi, rsp);
    case M2MOPT_GTM: return set_string_param(o, &req->grtm, rsp);
    case M2MOPT_AUS: return set_string_param(o, &req->aus, rsp);
    case M2MOPT_TY:
        if (!opt_uint(o, &v) || v == 0 || v > 100000)
            return m2m_error(rsp, RSC_BAD_REQUEST, "invalid oneM2M-TY option");
        req->ty = (int)v;
        return 0;
    case M2MOPT_EC:
        if (!opt_uint(o, &v) || v > 255)
            return m2m_error(rsp, RSC_BAD_REQUEST, "invalid oneM2M-EC option");
        req->ec = (int)v;
        return 0;
    default:
        /* Response-only (RSC, CTO, CTS, ATI, ASRI) or later-release options
         * (OMR, PRPI, MSU): accepted and not used in a request. */
        return 0;
    }
}

/* ---- target ------------------------------------------------------------- */

struct path_buf { char *s; size_t len, cap; int nseg; bool bad; };

static void path_append(struct path_buf *p, const char *seg, size_t n)
{
    if (p->len + n + 3 > p->cap) {
        size_t cap = (p->cap ? p->cap * 2 : 256) + n;
        char *s = realloc(p->s, cap);
        if (!s) { p->bad = true; return; }
        p->s = s;
        p->cap = cap;
    }
    memcpy(p->s + p->len, seg, n);
    p->len += n;
    p->s[p->len] = 0;
}

/* Uri-Path segments -> To: "~" starts an SP-relative, "_" an absolute target. */
static int add_path_segment(struct path_buf *p, const struct coap_option_in *o,
                            struct m2m_response *rsp)
{
    if (o->len == 0 || memchr(o->value, '/', o->len) || memchr(o->value, 0, o->len))
        return m2m_error(rsp, RSC_BAD_REQUEST, "empty or malformed Uri-Path segment");
    const char *seg = (const char *)o->value;
    if (p->nseg == 0 && o->len == 1 && (seg[0] == '~' || seg[0] == '_'))
        path_append(p, seg[0] == '~' ? "/" : "//", seg[0] == '~' ? 1 : 2);
    else {
        bool after_prefix = p->len > 0 && p->s[p->len - 1] == '/';
        if (p->nseg > 0 && !after_prefix) path_append(p, "/", 1);
        path_append(p, seg, o->len);
    }
    p->nseg++;
    return p->bad ? m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory") : 0;
}

static int apply_query_option(const struct coap_option_in *o, struct m2m_request *req,
                              int *op_query, struct m2m_response *rsp)
{
    if (memchr(o->value, 0, o->len))
        return m2m_error(rsp, RSC_BAD_REQUEST, "Uri-Query contains a NUL byte");
    char *kv = opt_strdup(o);
    if (!kv) return m2m_error(rsp, RSC_INTERNAL_SERVER_ERROR, "out of memory");
    char *eq = strchr(kv, '=');
    const char *value = "";
    if (eq) { *eq = 0; value = eq + 1; }
    int rc = 0;
    if (!*kv) {
        rc = m2m_error(rsp, RSC_BAD_REQUEST, "Uri-Query without a name");
    } else if (!strcmp(kv, "op")) {
        /* Non-blocking requests travel as POST with op (TS-0008 6.2.2). */
        char *end;
        long op = strtol(value, &end, 10);
        if (*end || end == value || op < OP_CREATE || op > OP_NOTIFY)
            rc = m2m_error(rsp, RSC_BAD_REQUEST, "invalid op query parameter '%s'", value);
        else *op_query = (int)op;
    } else if ((rc = m2m_apply_query(req, kv, value))) {
        rc = m2m_error(rsp, rc, "invalid value for query parameter '%s'", kv);
    }
    free(kv);
    return rc;
}

/* ---- request ------------------------------------------------------------ */

static int map_method(int code, int op_query, struct m2m_request *req, struct m2m_response *rsp)
{
    if (op_query && code != COAP_M_POST)
        return m2m_error(rsp, RSC_BAD_REQUEST, "the op query parameter needs POST");
    switch (code) {
    case COAP_M_GET: req->op = OP_RETRIEVE; break;
    case COAP_M_PUT: req->op = OP_UPDATE; break;
    case COAP_M_DELETE: req->op = OP_DELETE; break;
    case COAP_M_POST:
        req->op = op_query ? (enum m2m_op)op_query : req->ty ? OP_CREATE : OP_NOTIFY;
        break;
    default:
        return m2m_error(rsp, RSC_OPERATION_NOT_ALLOWED,
                         "CoAP method %d is not part of the oneM2M CoAP binding", code);
    }
    /* ty is not permitted in a RETRIEVE (TS-0004 Table 7.2.1.1-1); in an
     * UPDATE or DELETE it has long been ignored, and still is. */
    if (req->op == OP_RETRIEVE && req->ty)
        return m2m_error(rsp, RSC_BAD_REQUEST, "ty (the resource type) is not permitted in a RETRIEVE");
    if (req->op != OP_CREATE) req->ty = 0;
    return 0;
}

static int parse_payload(const struct coap_msg_in *in, int cf, struct m2m_request *req,
                         struct m2m_response *rsp)
{
    if (!in->payload_len) return 0;
    /* A missing Content-Format is read as JSON: coap-client and many device
     * stacks omit it (docs/coap.md). */
    if (cf == COAP_CF_CBOR) {
        const char *why = NULL;
        req->pc = cbor_to_json(in->payload, in->payload_len, &why);
        return req->pc ? 0 : m2m_error(rsp, RSC_BAD_REQUEST, "malformed CBOR: %s", why);
    }
    if (cf >= 0 && !coap_cf_is_json((unsigned)cf))
        return m2m_error(rsp, RSC_UNSUPPORTED_MEDIA_TYPE,
                         "unsupported Content-Format %d (JSON or CBOR)", cf);
    json_error_t err;
    req->pc = json_loadb((const char *)in->payload, in->payload_len, JSON_REJECT_DUPLICATES, &err);
    if (!req->pc)
        return m2m_error(rsp, RSC_BAD_REQUEST, "malformed JSON at line %d column %d: %s",
                         err.line, err.column, err.text);
    return 0;
}

static int map_options(const struct coap_msg_in *in, struct m2m_request *req, struct path_buf *path,
                       int *op_query, int *cf, struct m2m_response *rsp)
{
    uint32_t seen = 0;          /* oneM2M options met so far (none is repeatable) */
    int accept_bad = 0;
    for (int i = 0; i < in->nopts; i++) {
        const struct coap_option_in *o = &in->opts[i];
        int rc = 0, idx;
        switch (o->number) {
        case COAPOPT_URI_PATH: rc = add_path_segment(path, o, rsp); break;
        case COAPOPT_URI_QUERY: rc = apply_query_option(o, req, op_query, rsp); break;
        case COAPOPT_CONTENT_FORMAT: *cf = (int)opt_binary_uint(o); break;
        case COAPOPT_ACCEPT:
            if (opt_binary_uint(o) == COAP_CF_CBOR) req->cbor_response = true;
            else if (!coap_cf_is_json(opt_binary_uint(o))) accept_bad = (int)opt_binary_uint(o);
            break;
        default:
            if ((idx = onem2m_index(o->number)) < 0) break;
            if (seen & (1u << idx))
                return m2m_error(rsp, RSC_BAD_REQUEST, "oneM2M-%s option repeated",
                                 onem2m_opts[idx].name);
            seen |= 1u << idx;
            rc = apply_onem2m_option(o, req, rsp);
        }
        if (rc) return rc;
    }
    if (accept_bad)
        return m2m_error(rsp, RSC_NOT_ACCEPTABLE,
                         "Accept %d cannot be produced (JSON or CBOR)", accept_bad);
    return 0;
}

int coap_to_primitive(const struct coap_msg_in *in, struct m2m_request *req,
                      struct m2m_response *rsp)
{
    req->binding = BINDING_COAP;
    if (in->too_many_opts) return m2m_error(rsp, RSC_BAD_REQUEST, "too many CoAP options");
    struct path_buf path = { 0 };
    int op_query = 0, cf = -1;
    int rc = map_options(in, req, &path, &op_query, &cf, rsp);
    if (!rc) rc = map_method(in->code, op_query, req, rsp);
    if (!rc) rc = parse_payload(in, cf, req, rsp);
    if (rc) {
        free(path.s);
        return rc;
    }
    req->to = path.s ? path.s : strdup("");
    return 0;
}

/* ---- response ----------------------------------------------------------- */

/* Field by field: the option room (over 2 KiB) is bounded by nopts and
 * optbuf_used, and zeroing it cost more than the rest of a reply's mapping. */
void coap_msg_out_init(struct coap_msg_out *out)
{
    out->code = 0;
    out->content_format = -1;
    out->nopts = 0;
    out->optbuf_used = 0;
    out->payload = NULL;
    out->payload_len = 0;
    out->max_age = 0;
}

void coap_msg_out_clear(struct coap_msg_out *out)
{
    free(out->payload);
    coap_msg_out_init(out);
}

int coap_msg_out_add(struct coap_msg_out *out, uint16_t number, const void *value, size_t len)
{
    if (out->nopts >= COAP_OUT_MAX_OPTS || len > COAP_OUT_OPTBUF - out->optbuf_used) return -1;
    memcpy(out->optbuf + out->optbuf_used, value, len);
    out->opts[out->nopts].number = number;
    out->opts[out->nopts].off = (uint16_t)out->optbuf_used;
    out->opts[out->nopts].len = (uint16_t)len;
    out->nopts++;
    out->optbuf_used += len;
    return 0;
}

int coap_msg_out_add_uint(struct coap_msg_out *out, uint16_t number, uint32_t value)
{
    uint8_t b[4];
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8)
        if (n || (value >> shift) & 0xff) b[n++] = (uint8_t)(value >> shift);
    return coap_msg_out_add(out, number, b, n);
}

struct coap_msg_out *coap_msg_out_dup(const struct coap_msg_out *out)
{
    struct coap_msg_out *c = malloc(sizeof *c);
    if (!c) return NULL;
    memcpy(c, out, sizeof *c);
    if (out->payload) {
        c->payload = malloc(out->payload_len + 1);
        if (!c->payload) { free(c); return NULL; }
        memcpy(c->payload, out->payload, out->payload_len + 1);
    }
    return c;
}

int coap_target_segments(const char *to, void (*fn)(void *data, const char *seg, size_t len),
                         void *data)
{
    int n = 0;
    const char *p = to;
    if (!strncmp(p, "//", 2)) { fn(data, "_", 1); n++; p += 2; }
    else if (*p == '/') { fn(data, "~", 1); n++; p += 1; }
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len) { fn(data, p, len); n++; }
        p += len;
        if (*p == '/') p++;
    }
    return n;
}

static void add_location_segment(void *data, const char *seg, size_t len)
{
    coap_msg_out_add(data, COAPOPT_LOCATION_PATH, seg, len);
}

void coap_from_primitive(const struct m2m_request *req, const struct m2m_response *rsp,
                         struct coap_msg_out *out)
{
    out->code = rsc_coap_code(rsp->rsc, req->op);
    if (rsp->retry_after_s > 0) {
        out->code = 4 << 5 | 29;
        out->max_age = (uint32_t)rsp->retry_after_s;
    }
    if (rsp->location && rsp->rsc == RSC_CREATED)
        coap_target_segments(rsp->location, add_location_segment, out);
    const char *rvi = req->rvi ? req->rvi : "3";
    coap_msg_out_add(out, M2MOPT_RVI, rvi, strlen(rvi));
    if (req->rqi) coap_msg_out_add(out, M2MOPT_RQI, req->rqi, strlen(req->rqi));
    coap_msg_out_add_uint(out, M2MOPT_RSC, (uint32_t)rsp->rsc);
    struct m2m_echo echo;
    m2m_response_echo(req, &echo);
    if (echo.vsi) coap_msg_out_add(out, M2MOPT_VSI, echo.vsi, strlen(echo.vsi));
    /* Timestamps in CoAP options are 15 bytes at most (TS-0008): whole seconds. */
    if (echo.rset) coap_msg_out_add(out, M2MOPT_RSET, echo.rset, strnlen(echo.rset, 15));
    if (echo.ot[0]) coap_msg_out_add(out, M2MOPT_OT, echo.ot, strlen(echo.ot));
    if (rsp->cnst) {
        coap_msg_out_add_uint(out, M2MOPT_CTO, (uint32_t)rsp->cnot);
        coap_msg_out_add_uint(out, M2MOPT_CTS, (uint32_t)rsp->cnst);
    }
    if (rsp->ati) coap_msg_out_add(out, M2MOPT_ATI, rsp->ati, strlen(rsp->ati));
    /* A successful NOTIFY is answered 2.04 with an empty payload (TS-0008),
     * unless it answers with security information (m2m:seci: an ESPrim
     * nonce or sealed response, a DAS response), which is its content. */
    bool notify_ok = req->op == OP_NOTIFY && rsc_is_success(rsp->rsc) && !json_object_get(rsp->pc, "m2m:seci");
    if (req->cbor_response && (rsp->tqf || (rsp->pc && !notify_ok))) {
        size_t len = 0;
        out->payload = (void *)json_to_cbor(rsp->tqf ? rsp->tqf : rsp->pc, &len);
        out->payload_len = out->payload ? len : 0;
        out->content_format = COAP_CF_CBOR;
    } else if (rsp->tqf) {
        /* The token request information replaces the content (TS-0008 6.2.3). */
        out->payload = json_text(rsp->tqf, &out->payload_len);
        if (!out->payload) out->payload_len = 0;
        out->content_format = COAP_CF_JSON;
    } else if (rsp->pc && !notify_ok && rsp->pc_text && rsp->pc_text_of == rsp->pc &&
        (out->payload = malloc(rsp->pc_text_len + 1))) {
        memcpy(out->payload, rsp->pc_text, rsp->pc_text_len + 1);
        out->payload_len = rsp->pc_text_len;
        out->content_format = COAP_CF_JSON;
    } else if (rsp->pc && !notify_ok) {
        /* The serializer HTTP answers with (json_dumps cost a CoAP CREATE
         * 25 000 instructions; the same text, json_text.h). */
        out->payload = json_text(rsp->pc, &out->payload_len);
        if (!out->payload) out->payload_len = 0;
        out->content_format = COAP_CF_JSON;
    }
}

/* --- requests going out ------------------------------------------------------ */

static void add_uri_path(void *data, const char *seg, size_t len)
{
    struct coap_msg_out *out = data;
    if (coap_msg_out_add(out, COAPOPT_URI_PATH, seg, len)) out->code = -1;
}

/* A URL's path segment or query item as an option: options carry it
 * percent-decoded (RFC 7252 6.4). */
static int add_decoded(struct coap_msg_out *out, uint16_t number, const char *s, size_t len)
{
    char plain[1024];
    int n = m2m_percent_decode(s, len, plain, sizeof plain);
    return n < 0 ? -1 : coap_msg_out_add(out, number, plain, (size_t)n);
}

/* One dynamic-authorization parameter as a Uri-Query option "k=v". */
static void add_uri_query(void *data, const char *key, const char *value)
{
    struct coap_msg_out *out = data;
    char kv[TOKENS_MAX_BYTES + 16];
    int n = snprintf(kv, sizeof kv, "%s=%s", key, value);
    if (n < 0 || (size_t)n >= sizeof kv || coap_msg_out_add(out, COAPOPT_URI_QUERY, kv, (size_t)n)) out->code = -1;
}

int coap_request_from_primitive(const struct m2m_request *req, const char *path, const char *query,
                                bool has_body, struct coap_msg_out *out)
{
    static const int method[] = { [OP_CREATE] = COAP_M_POST, [OP_RETRIEVE] = COAP_M_GET,
                                  [OP_UPDATE] = COAP_M_PUT, [OP_DELETE] = COAP_M_DELETE,
                                  [OP_NOTIFY] = COAP_M_POST };
    if (req->op < OP_CREATE || req->op > OP_NOTIFY) return -1;
    out->code = method[req->op];
    if (!path) {
        coap_target_segments(req->to ? req->to : "", add_uri_path, out);
    } else {
        for (const char *p = path; *p;) {
            while (*p == '/') p++;
            size_t n = strcspn(p, "/");
            if (n && add_decoded(out, COAPOPT_URI_PATH, p, n)) out->code = -1;
            p += n;
        }
    }
    int rc = out->code < 0 ? -1 : 0;
    out->code = method[req->op];
    if (has_body || req->op == OP_CREATE || req->op == OP_NOTIFY)
        rc |= coap_msg_out_add_uint(out, COAPOPT_CONTENT_FORMAT, req->cbor_content ? COAP_CF_CBOR : COAP_CF_JSON);
    for (const char *q = query; q && *q;) {
        size_t n = strcspn(q, "&");
        if (n) rc |= add_decoded(out, COAPOPT_URI_QUERY, q, n);
        q += n + (q[n] == '&');
    }
    m2m_token_params(req, true, add_uri_query, out);
    rc |= out->code < 0 ? -1 : 0;
    out->code = method[req->op];
    rc |= coap_msg_out_add_uint(out, COAPOPT_ACCEPT, COAP_CF_JSON);
    if (req->op == OP_CREATE) rc |= coap_msg_out_add_uint(out, M2MOPT_TY, (uint32_t)req->ty);
    const char *rvi = req->rvi && *req->rvi ? req->rvi : "3";
    rc |= coap_msg_out_add(out, M2MOPT_RVI, rvi, strlen(rvi));
    if (req->fr && *req->fr) rc |= coap_msg_out_add(out, M2MOPT_FR, req->fr, strlen(req->fr));
    const char *rqi = req->rqi ? req->rqi : "";
    rc |= coap_msg_out_add(out, M2MOPT_RQI, rqi, strlen(rqi));
    const char *times[] = { req->rqet, req->rset, req->oet };
    static const uint16_t time_opts[] = { M2MOPT_RQET, M2MOPT_RSET, M2MOPT_OET };
    for (int i = 0; i < 3; i++)
        if (times[i]) rc |= coap_msg_out_add(out, time_opts[i], times[i], strlen(times[i]));
    if (req->ec) rc |= coap_msg_out_add_uint(out, M2MOPT_EC, (uint32_t)req->ec);
    if (req->vsi) rc |= coap_msg_out_add(out, M2MOPT_VSI, req->vsi, strlen(req->vsi));
    return rc ? -1 : 0;
}

int coap_response_rsc(int code, long rsc_opt)
{
    if (rsc_opt >= 0) return (int)rsc_opt;
    if (code >> 5 == 2) return RSC_OK;
    if (code == (4 << 5 | 4)) return RSC_NOT_FOUND;
    if (code == (4 << 5 | 3)) return RSC_ORIGINATOR_HAS_NO_PRIVILEGE;
    return code >> 5 == 5 ? RSC_INTERNAL_SERVER_ERROR : RSC_BAD_REQUEST;
}

const struct coap_option_in *coap_msg_in_option(const struct coap_msg_in *in, uint16_t number)
{
    for (int i = 0; i < in->nopts; i++)
        if (in->opts[i].number == number) return &in->opts[i];
    return NULL;
}
