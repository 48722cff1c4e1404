/* What every module may ask of the CSE it runs in: identifiers, the group
 * commit, the parent cache, representations. Opening and closing, which
 * involve every module, are in engine.c. */
#include "cse.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../base/loop.h"
#include "metrics.h"
#include "rsc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* xorshift128+ seeded from the kernel: identifiers need to be unpredictable
 * enough not to collide, not to be secret (keys use the crypto libraries). */
static uint64_t rng_state[2];

static uint64_t rng_next(void)
{
    if (!rng_state[0] && !rng_state[1]) {
        if (getrandom(rng_state, sizeof rng_state, 0) != sizeof rng_state) {
            rng_state[0] = (uint64_t)clock_now_us();
            rng_state[1] = (uint64_t)(uintptr_t)&rng_state ^ 0x9e3779b97f4a7c15ULL;
        }
        rng_state[0] |= 1;
    }
    uint64_t s1 = rng_state[0];
    const uint64_t s0 = rng_state[1];
    rng_state[0] = s0;
    s1 ^= s1 << 23;
    rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_state[1] + s0;
}

struct ident_home cse_home(const struct cse *cse)
{
    return (struct ident_home){ cse->cfg.sp_id, cse->cfg.cse_id };
}

/* prefix + 7 base62 digits of the millisecond clock + 6 random ones. The
 * alphabet is in ASCII order, so identifiers (and the default names built
 * from them) sort by creation time: the store's ri and path indexes then grow
 * at their right edge instead of touching a random page per insert. 62^6
 * random values per millisecond keep collisions negligible (and retried). */
void cse_new_id(const char *prefix, char *out, size_t cap)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if (cap < 14) { if (cap) out[0] = 0; return; }
    size_t n = strlen(prefix);
    if (n + 14 > cap) n = cap - 14;
    memcpy(out, prefix, n);
    uint64_t ms = (uint64_t)clock_now_us() / 1000;
    for (int i = 6; i >= 0; i--) {
        out[n + (size_t)i] = alphabet[ms % 62];
        ms /= 62;
    }
    n += 7;
    uint64_t r = rng_next();
    for (int i = 0; i < 6; i++) {
        out[n++] = alphabet[r % 62];
        r /= 62;
    }
    out[n] = 0;
}

void cse_note_expiry(struct cse *cse, const char *et)
{
    if (et && (!cse->next_expiry[0] || strcmp(et, cse->next_expiry) < 0))
        snprintf(cse->next_expiry, sizeof cse->next_expiry, "%s", et);
}

bool cse_batch_pending(const struct cse *cse)
{
    return cse->store && store_batch_pending(cse->store);
}

int cse_commit(struct cse *cse)
{
    if (!cse->store) return 0;
    metrics_batch(cse->metrics, store_batch_size(cse->store));
    int rc = store_batch_commit(cse->store);
    /* A plain transaction may have committed (or failed to commit) the
     * batch meanwhile: held responses learn the outcome either way. */
    if (store_batch_take_failure(cse->store) && !rc) rc = RSC_INTERNAL_SERVER_ERROR;
    if (rc) {
        log_error("group commit failed: the round's changes were rolled back");
        store_next_expiry(cse->store, cse->next_expiry);
    }
    for (int i = 0; i < cse->non_commit; i++) cse->on_commit[i].fn(cse->on_commit[i].data, rc == 0);
    return rc;
}

int cse_on_commit(struct cse *cse, cse_commit_fn *fn, void *data)
{
    int max = (int)(sizeof cse->on_commit / sizeof *cse->on_commit);
    if (cse->non_commit == max) return -1;
    cse->on_commit[cse->non_commit].fn = fn;
    cse->on_commit[cse->non_commit++].data = data;
    return 0;
}

void cse_off_commit(struct cse *cse, cse_commit_fn *fn, void *data)
{
    for (int i = 0; i < cse->non_commit; i++)
        if (cse->on_commit[i].fn == fn && cse->on_commit[i].data == data) {
            memmove(&cse->on_commit[i], &cse->on_commit[i + 1],
                    (size_t)(cse->non_commit - i - 1) * sizeof cse->on_commit[0]);
            cse->non_commit--;
            return;
        }
}

int cse_on_withdraw(struct cse *cse, cse_withdraw_fn *fn, void *data)
{
    int max = (int)(sizeof cse->on_withdraw / sizeof *cse->on_withdraw);
    if (cse->non_withdraw == max) return -1;
    cse->on_withdraw[cse->non_withdraw].fn = fn;
    cse->on_withdraw[cse->non_withdraw++].data = data;
    return 0;
}

void cse_credential_withdrawn(struct cse *cse, const char *credential_id)
{
    for (int i = 0; i < cse->non_withdraw; i++) cse->on_withdraw[i].fn(cse->on_withdraw[i].data, credential_id);
}

/* One parent, current while the store's generation is unchanged. Replaced
 * entries are retired, not freed, because a caller (a hook, an access
 * decision further up the stack) may still read them during the primitive. */
struct parent_cache {
    struct resource *current;
    uint64_t generation;
    struct resource **retired;
    size_t nretired, cap;
    int in_primitive;
};

static void retire(struct parent_cache *pc, struct resource *r)
{
    if (!r) return;
    if (pc->nretired == pc->cap) {
        size_t cap = pc->cap ? pc->cap * 2 : 8;
        struct resource **grown = realloc(pc->retired, cap * sizeof *grown);
        if (!grown) { resource_free(r); return; }   /* only reachable without memory */
        pc->retired = grown;
        pc->cap = cap;
    }
    pc->retired[pc->nretired++] = r;
}

static void free_retired(struct parent_cache *pc)
{
    for (size_t i = 0; i < pc->nretired; i++) resource_free(pc->retired[i]);
    pc->nretired = 0;
}

static struct parent_cache *parent_cache_of(struct cse *cse)
{
    if (!cse->parents) cse->parents = calloc(1, sizeof *cse->parents);
    return cse->parents;
}

struct resource *cse_parent(struct cse *cse, const struct resource *res)
{
    const char *pi = res_pi(res);
    struct parent_cache *pc = parent_cache_of(cse);
    if (!pi || !*pi || !pc) return NULL;
    uint64_t gen = store_generation(cse->store);
    if (pc->current && pc->generation == gen && !strcmp(res_ri(pc->current), pi)) return pc->current;
    if (!pc->in_primitive) free_retired(pc);
    retire(pc, pc->current);
    pc->current = NULL;
    if (store_get(cse->store, pi, &pc->current)) return NULL;
    pc->generation = gen;
    return pc->current;
}

void cse_primitive_begin(struct cse *cse)
{
    struct parent_cache *pc = parent_cache_of(cse);
    if (pc) pc->in_primitive++;
}

void cse_primitive_end(struct cse *cse)
{
    struct parent_cache *pc = cse->parents;
    if (pc && pc->in_primitive > 0 && !--pc->in_primitive) free_retired(pc);
}

void cse_forget_parents(struct cse *cse)
{
    struct parent_cache *pc = cse->parents;
    if (!pc) return;
    free_retired(pc);
    free(pc->retired);
    resource_free(pc->current);
    free(pc);
    cse->parents = NULL;
}

json_t *representation(const struct cse *cse, const struct resource *res, json_t *attrs)
{
    const struct resource_type *t = registry_find(&cse->types, res->ty);
    json_t *o = json_object();
    json_object_set_new(o, t ? type_key(t, res) : "m2m:unknown", wire_attrs(attrs));
    return o;
}
