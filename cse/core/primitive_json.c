#include "primitive_json.h"

#include "rsc.h"

#include <stdio.h>
#include <string.h>

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v) json_object_set_new(o, k, json_string(v));
}

json_t *request_to_json(const struct m2m_request *req)
{
    json_t *o = json_pack("{s:i}", "op", (int)req->op);
    put_str(o, "to", req->to);
    put_str(o, "fr", req->fr);
    put_str(o, "rqi", req->rqi);
    put_str(o, "rvi", req->rvi);
    if (req->ty) json_object_set_new(o, "ty", json_integer(req->ty));
    if (req->pc) json_object_set(o, "pc", req->pc);
    if (req->rcn >= 0) json_object_set_new(o, "rcn", json_integer(req->rcn));
    put_str(o, "ot", req->ot);
    put_str(o, "rqet", req->rqet);
    put_str(o, "rset", req->rset);
    if (req->drt != 1) json_object_set_new(o, "drt", json_integer(req->drt));
    return o;
}

static int bad(char *err, size_t cap, const char *what)
{
    snprintf(err, cap, "%s", what);
    return RSC_BAD_REQUEST;
}

/* Copies string member k into *dst; 0, or -1 when present but no string. */
static int take_str(const json_t *j, const char *k, char **dst)
{
    json_t *v = json_object_get(j, k);
    if (!v) return 0;
    if (!json_is_string(v) || !m2m_text_valid(json_string_value(v))) return -1;
    *dst = strdup(json_string_value(v));
    return 0;
}

static int take_int(const json_t *j, const char *k, int lo, int hi, int *dst)
{
    json_t *v = json_object_get(j, k);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return -1;
    *dst = (int)json_integer_value(v);
    return 0;
}

int request_from_json(const json_t *j, struct m2m_request *req, char *err, size_t cap)
{
    if (!json_is_object(j)) return bad(err, cap, "the primitive is no JSON object");
    int op = 0;
    if (take_int(j, "op", OP_CREATE, OP_NOTIFY, &op) || !op)
        return bad(err, cap, "the primitive needs op 1 to 5");
    req->op = (enum m2m_op)op;
    if (take_str(j, "to", &req->to) || !req->to || !*req->to)
        return bad(err, cap, "the primitive needs a to");
    if (take_str(j, "fr", &req->fr) || take_str(j, "rqi", &req->rqi) || take_str(j, "rvi", &req->rvi) ||
        take_str(j, "ot", &req->ot) || take_str(j, "rqet", &req->rqet) || take_str(j, "rset", &req->rset))
        return bad(err, cap, "fr, rqi, rvi, ot, rqet and rset must be strings");
    if (!req->rqi) return bad(err, cap, "the primitive needs an rqi");
    if (take_int(j, "ty", 1, 65535, &req->ty) || take_int(j, "rcn", 0, 12, &req->rcn) ||
        take_int(j, "drt", 1, 2, &req->drt))
        return bad(err, cap, "ty, rcn and drt must be integers in range");
    json_t *pc = json_object_get(j, "pc");
    if (pc && !json_is_object(pc)) return bad(err, cap, "pc must be a JSON object");
    if (pc) req->pc = json_incref(pc);
    return 0;
}

json_t *response_to_json(const struct m2m_response *rsp, const char *rvi)
{
    json_t *o = json_pack("{s:i}", "rsc", rsp->rsc);
    put_str(o, "rqi", rsp->rqi);
    put_str(o, "rvi", rvi);
    if (rsp->pc) json_object_set(o, "pc", rsp->pc);
    return o;
}

int response_from_json(const json_t *j, struct m2m_response *rsp, char *err, size_t cap)
{
    if (!json_is_object(j)) return bad(err, cap, "the response primitive is no JSON object");
    int rsc = 0;
    if (take_int(j, "rsc", 1000, 6999, &rsc) || !rsc) return bad(err, cap, "the response primitive needs an rsc");
    rsp->rsc = rsc;
    json_t *rqi = json_object_get(j, "rqi");
    if (rqi && !json_is_string(rqi)) return bad(err, cap, "rqi must be a string");
    rsp->rqi = (char *)json_string_value(rqi);
    json_t *pc = json_object_get(j, "pc");
    if (pc) rsp->pc = json_incref(pc);
    return 0;
}
