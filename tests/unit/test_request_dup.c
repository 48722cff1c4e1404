/* m2m_request_dup: a deep copy that outlives the original (non-blocking
 * requests run after the binding freed theirs). Under ASan, a field the copy
 * shares instead of duplicating shows up as a double free. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cse/core/primitive.h"

#include <stdlib.h>
#include <string.h>

static void fill(struct m2m_request *r)
{
    m2m_request_init(r);
    char **strs[] = { &r->to, &r->fr, &r->rqi, &r->rvi, &r->rtu, &r->ot, &r->rqet, &r->rset,
                      &r->oet, &r->rp, &r->vsi, &r->gid, &r->tokens, &r->rids, &r->tids, &r->ltids, &r->grtm, &r->aus,
                      &r->fc.arp };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) *strs[i] = strdup("v");
    r->atrl[r->natrl++] = strdup("lbl");
    struct m2m_filter *f = &r->fc;
    f->lbl[f->nlbl++] = strdup("a");
    f->clbl[f->nclbl++] = strdup("b");
    f->palb[f->npalb++] = strdup("c");
    f->cty[f->ncty++] = strdup("text/plain");
    f->atr_nm[f->natr] = strdup("rn");
    f->atr_val[f->natr++] = strdup("x");
    f->lbq[f->nlbq++] = strdup("a EQ b");
    f->catr_nm[f->ncatr] = strdup("cni");
    f->catr_val[f->ncatr++] = strdup("1");
    f->patr_nm[f->npatr] = strdup("rn");
    f->patr_val[f->npatr++] = strdup("p");
    r->pc = json_pack("{s:{s:s}}", "m2m:cin", "con", "x");
    r->rt = 2;
}

static void copy_is_independent(void **state)
{
    (void)state;
    struct m2m_request r;
    fill(&r);
    struct m2m_request *d = m2m_request_dup(&r);
    assert_non_null(d);
    assert_ptr_not_equal(d->to, r.to);
    assert_string_equal(d->grtm, "v");
    assert_string_equal(d->fc.lbq[0], "a EQ b");
    assert_ptr_not_equal(d->pc, r.pc);
    assert_true(json_equal(d->pc, r.pc));
    assert_null(d->cont);
    assert_int_equal(d->rt, 2);
    m2m_request_clear(&r);               /* the original goes first */
    assert_string_equal(d->fr, "v");     /* the copy still reads fine */
    assert_string_equal(d->fc.patr_val[0], "p");
    m2m_request_clear(d);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(copy_is_independent) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
