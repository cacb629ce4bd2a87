/* Design: see api.h. This file: match[] selectors to matchers, through the PromQL parser. */
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/mem.h"
#include "net/api.h"
#include "query/parse.h"

int api_parse_matchers(const char *sel, em_matcher_t **out, size_t *n_out, em_err_t *err)
{
    em_arena_t a;
    em_arena_init(&a);
    em_ast_t *ast = NULL;
    int rc = em_promql_parse_selector(sel, strlen(sel), &a, &ast, err);
    if (rc != EM_OK)
        goto out;
    const em_vector_sel_t *vs = &ast->root->vs;
    em_matcher_t *ms = em_calloc(vs->n_matchers ? vs->n_matchers : 1, sizeof(em_matcher_t));
    size_t n = 0;
    /* Copies: the AST's matchers go with it. */
    for (; n < vs->n_matchers && rc == EM_OK; n++) {
        const em_matcher_t *m = vs->matchers[n];
        rc = em_matcher_init(&ms[n], m->type, m->name, m->value, err);
    }
    if (rc != EM_OK) {
        for (size_t i = 0; i < n; i++)
            em_matcher_fini(&ms[i]);
        free(ms);
    } else {
        *out = ms;
        *n_out = n;
    }
    em_ast_fini(ast);
out:
    em_arena_fini(&a);
    return rc;
}
