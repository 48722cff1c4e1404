/* CBOR <-> JSON with libcbor (cbor_json.h). Decoding streams item headers
 * through cbor_stream_decode() and builds the jansson value directly, so a
 * declared length never allocates before its items arrive. */
#include "cbor_json.h"

#include <cbor.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* --- decoding ------------------------------------------------------------- */

struct frame {
    json_t *c;                  /* the array or object being filled */
    bool indef;
    uint64_t remaining;         /* definite: items still to come (a map counts keys and values) */
    char *key;                  /* a map's key waiting for its value */
};

struct builder {
    struct frame st[CBOR_JSON_MAX_DEPTH];
    int sp;
    json_t *root;
    const char *why;            /* set on the first error; later callbacks do nothing */
};

static void fail(struct builder *b, const char *why)
{
    if (!b->why) b->why = why;
}

/* Ends every definite container whose items are all in. */
static void close_full(struct builder *b)
{
    while (b->sp > 0 && !b->st[b->sp - 1].indef && b->st[b->sp - 1].remaining == 0) b->sp--;
}

/* Places v (stolen) in the container being filled, or as the root. */
static bool attach(struct builder *b, json_t *v)
{
    if (b->why || !v) {
        if (!v) fail(b, "out of memory or invalid UTF-8");
        json_decref(v);
        return false;
    }
    if (b->sp == 0) {
        if (b->root) { json_decref(v); fail(b, "more than one data item"); return false; }
        b->root = v;
        return true;
    }
    struct frame *f = &b->st[b->sp - 1];
    if (!f->indef) f->remaining--;
    if (json_is_object(f->c)) {
        if (!f->key) {
            if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
                json_decref(v);
                fail(b, "a map key that is not a text string without NUL");
                return false;
            }
            f->key = strdup(json_string_value(v));
            json_decref(v);
            if (!f->key) { fail(b, "out of memory"); return false; }
            return true;
        }
        bool dup = json_object_get(f->c, f->key) != NULL;
        int rc = dup ? -1 : json_object_set_new(f->c, f->key, v);
        if (dup) json_decref(v);
        free(f->key);
        f->key = NULL;
        if (rc) { fail(b, dup ? "a duplicate map key" : "out of memory"); return false; }
        return true;
    }
    if (json_array_append_new(f->c, v)) { fail(b, "out of memory"); return false; }
    return true;
}

static void leaf(struct builder *b, json_t *v)
{
    if (attach(b, v)) close_full(b);
}

static void open_container(struct builder *b, json_t *c, bool indef, uint64_t items)
{
    json_t *ref = json_incref(c);
    if (!attach(b, c)) { json_decref(ref); return; }
    json_decref(ref);           /* the parent (or root) holds it */
    if (b->sp == CBOR_JSON_MAX_DEPTH) { fail(b, "nested too deeply"); return; }
    b->st[b->sp++] = (struct frame){ c, indef, items, NULL };
    close_full(b);
}

static void on_uint(void *ctx, uint64_t v)
{
    if (v > INT64_MAX) fail(ctx, "an integer beyond the 64-bit signed range");
    else leaf(ctx, json_integer((json_int_t)v));
}
static void on_u8(void *ctx, uint8_t v) { on_uint(ctx, v); }
static void on_u16(void *ctx, uint16_t v) { on_uint(ctx, v); }
static void on_u32(void *ctx, uint32_t v) { on_uint(ctx, v); }

/* CBOR's negative integer n stands for -1 - n. */
static void on_negint(void *ctx, uint64_t n)
{
    if (n > INT64_MAX) fail(ctx, "an integer beyond the 64-bit signed range");
    else leaf(ctx, json_integer(-1 - (json_int_t)n));
}
static void on_n8(void *ctx, uint8_t n) { on_negint(ctx, n); }
static void on_n16(void *ctx, uint16_t n) { on_negint(ctx, n); }
static void on_n32(void *ctx, uint32_t n) { on_negint(ctx, n); }

static void on_string(void *ctx, cbor_data s, size_t len) { leaf(ctx, json_stringn((const char *)s, len)); }

static void on_double(void *ctx, double d)
{
    if (!isfinite(d)) fail(ctx, "NaN or infinity (JSON has neither)");
    else leaf(ctx, json_real(d));
}
static void on_float(void *ctx, float f) { on_double(ctx, f); }
static void on_null(void *ctx) { leaf(ctx, json_null()); }
static void on_bool(void *ctx, bool v) { leaf(ctx, json_boolean(v)); }

static void on_array(void *ctx, size_t n) { open_container(ctx, json_array(), false, n); }
static void on_indef_array(void *ctx) { open_container(ctx, json_array(), true, 0); }
static void on_map(void *ctx, size_t n)
{
    if (n > SIZE_MAX / 2) fail(ctx, "a map too large");
    else open_container(ctx, json_object(), false, (uint64_t)n * 2);
}
static void on_indef_map(void *ctx) { open_container(ctx, json_object(), true, 0); }

static void on_break(void *ctx)
{
    struct builder *b = ctx;
    if (b->why) return;
    if (b->sp == 0 || !b->st[b->sp - 1].indef) { fail(b, "a break outside an indefinite array or map"); return; }
    if (b->st[b->sp - 1].key) { fail(b, "a map key without a value"); return; }
    b->sp--;
    close_full(b);
}

static void no_bytes(void *ctx, cbor_data s, size_t len) { (void)s; (void)len; fail(ctx, "a byte string (JSON has none)"); }
static void no_bytes_start(void *ctx) { fail(ctx, "a byte string (JSON has none)"); }
static void no_indef_string(void *ctx) { fail(ctx, "an indefinite-length text string"); }
static void no_tag(void *ctx, uint64_t t) { (void)t; fail(ctx, "a tag (JSON has none)"); }
static void no_undefined(void *ctx) { fail(ctx, "undefined (JSON has none)"); }

static const struct cbor_callbacks callbacks = {
    .uint8 = on_u8, .uint16 = on_u16, .uint32 = on_u32, .uint64 = on_uint,
    .negint8 = on_n8, .negint16 = on_n16, .negint32 = on_n32, .negint64 = on_negint,
    .byte_string_start = no_bytes_start, .byte_string = no_bytes,
    .string = on_string, .string_start = no_indef_string,
    .indef_array_start = on_indef_array, .array_start = on_array,
    .indef_map_start = on_indef_map, .map_start = on_map,
    .tag = no_tag,
    .float2 = on_float, .float4 = on_float, .float8 = on_double,
    .undefined = no_undefined, .null = on_null, .boolean = on_bool,
    .indef_break = on_break,
};

json_t *cbor_to_json(const uint8_t *buf, size_t len, const char **why)
{
    struct builder b = { .sp = 0 };
    size_t off = 0;
    while (!b.why && off < len) {
        if (b.root && b.sp == 0) { fail(&b, "bytes after the data item"); break; }
        struct cbor_decoder_result r = cbor_stream_decode(buf + off, len - off, &callbacks, &b);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0) { fail(&b, "malformed or truncated CBOR"); break; }
        off += r.read;
    }
    if (!b.why && (!b.root || b.sp > 0)) fail(&b, len ? "truncated CBOR" : "no CBOR data item");
    for (int i = 0; i < b.sp; i++) free(b.st[i].key);
    if (b.why) {
        json_decref(b.root);
        if (why) *why = b.why;
        return NULL;
    }
    return b.root;
}

/* --- encoding ------------------------------------------------------------- */

struct out {
    uint8_t *p;
    size_t len, cap;
    bool failed;
};

/* Room for one item header (at most 9 bytes) or n bytes of text. */
static uint8_t *room(struct out *o, size_t n)
{
    if (o->failed) return NULL;
    if (o->cap - o->len < n) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n) {
            if (cap > SIZE_MAX / 2) { o->failed = true; return NULL; }
            cap *= 2;
        }
        uint8_t *p = realloc(o->p, cap);
        if (!p) { o->failed = true; return NULL; }
        o->p = p;
        o->cap = cap;
    }
    return o->p + o->len;
}

#define HEADER_MAX 9
#define EMIT(o, call)                                                      \
    do {                                                                   \
        uint8_t *at_ = room((o), HEADER_MAX);                              \
        size_t n_ = at_ ? (call) : 0;                                      \
        if (!n_) (o)->failed = true;                                       \
        (o)->len += n_;                                                    \
    } while (0)
#define AT_ at_, HEADER_MAX

static void put_text(struct out *o, const char *s, size_t n)
{
    EMIT(o, cbor_encode_string_start(n, AT_));
    uint8_t *at = room(o, n);
    if (!at) return;
    memcpy(at, s, n);
    o->len += n;
}

static void encode(struct out *o, const json_t *v, int depth)
{
    if (o->failed) return;
    if (depth > CBOR_JSON_MAX_DEPTH) { o->failed = true; return; }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        EMIT(o, cbor_encode_map_start(json_object_size(v), AT_));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            put_text(o, k, strlen(k));
            encode(o, x, depth + 1);
        }
        break;
    }
    case JSON_ARRAY: {
        EMIT(o, cbor_encode_array_start(json_array_size(v), AT_));
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) encode(o, x, depth + 1);
        break;
    }
    case JSON_STRING: put_text(o, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        if (n >= 0) EMIT(o, cbor_encode_uint((uint64_t)n, AT_));
        else EMIT(o, cbor_encode_negint((uint64_t)(-1 - n), AT_));
        break;
    }
    case JSON_REAL:
        if (!isfinite(json_real_value(v))) o->failed = true;
        else EMIT(o, cbor_encode_double(json_real_value(v), AT_));
        break;
    case JSON_TRUE: EMIT(o, cbor_encode_bool(true, AT_)); break;
    case JSON_FALSE: EMIT(o, cbor_encode_bool(false, AT_)); break;
    case JSON_NULL: EMIT(o, cbor_encode_null(AT_)); break;
    }
}

uint8_t *json_to_cbor(const json_t *v, size_t *len)
{
    struct out o = { 0 };
    if (!v) return NULL;
    encode(&o, v, 0);
    uint8_t *end = room(&o, 1);
    if (o.failed || !end) { free(o.p); return NULL; }
    *end = 0;
    *len = o.len;
    return o.p;
}
