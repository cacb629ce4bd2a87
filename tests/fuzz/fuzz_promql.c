/* Fuzz target: the PromQL parser on arbitrary bytes, with and without the experimental features, and the
 * series-selector parser. Whatever parses must print, parse again and print identically, in both the
 * one-line and the pretty form. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/parse.h"

static void roundtrip(const char *s, size_t n, const em_promql_opts_t *opts)
{
    em_arena_t a;
    em_arena_init(&a);
    em_ast_t *ast = NULL, *again = NULL;
    em_err_t err;
    if (em_promql_parse(s, n, &a, opts, &ast, &err) != EM_OK) {
        if (strstr(err.msg, "parse error") == NULL) {
            fprintf(stderr, "error without position: %s\n", err.msg);
            abort();
        }
        em_arena_fini(&a);
        return;
    }
    em_buf_t b = EM_BUF_INIT, b2 = EM_BUF_INIT, p = EM_BUF_INIT;
    em_promql_format(ast->root, &b);
    if (em_promql_parse(b.data, b.len, &a, opts, &again, &err) != EM_OK) {
        fprintf(stderr, "REPARSE FAIL: %s\n%.*s\n", err.msg, (int)b.len, b.data);
        abort();
    }
    em_promql_format(again->root, &b2);
    if (b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0) {
        fprintf(stderr, "PRINT DIFFERS\n%.*s\n%.*s\n", (int)b.len, b.data, (int)b2.len, b2.data);
        abort();
    }
    em_ast_fini(again);
    again = NULL;
    em_promql_pretty(ast->root, &p);
    if (em_promql_parse(p.data, p.len, &a, opts, &again, &err) != EM_OK) {
        fprintf(stderr, "PRETTY REPARSE FAIL: %s\n%.*s\n", err.msg, (int)p.len, p.data);
        abort();
    }
    em_ast_fini(again);
    em_ast_fini(ast);
    em_buf_fini(&b);
    em_buf_fini(&b2);
    em_buf_fini(&p);
    em_arena_fini(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const em_promql_opts_t all = {true, true, true, true, true, true};
    if (size > 1 << 16)
        return 0;
    roundtrip((const char *)data, size, NULL);
    roundtrip((const char *)data, size, &all);
    em_arena_t a;
    em_arena_init(&a);
    em_ast_t *ast = NULL;
    em_err_t err;
    if (em_promql_parse_selector((const char *)data, size, &a, &ast, &err) == EM_OK)
        em_ast_fini(ast);
    em_arena_fini(&a);
    return 0;
}
