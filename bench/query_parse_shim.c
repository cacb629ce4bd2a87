/* C side of bench/query_parse.cc: parse (and print) one expression in a reused arena. */
#include <string.h>

#include "base/arena.h"
#include "query/parse.h"

static const em_promql_opts_t all = {true, true, true, true, true, true};

/* Parse 'expr' once; returns the number of bytes of its canonical form when 'print' (0 otherwise), or -1
 * on a parse error. */
long bench_parse_once(const char *expr, int print)
{
    static __thread em_arena_t a;
    static __thread int init;
    if (!init) {
        em_arena_init(&a);
        init = 1;
    }
    em_ast_t *ast = NULL;
    em_err_t err;
    long n = 0;
    if (em_promql_parse(expr, strlen(expr), &a, &all, &ast, &err) != EM_OK) {
        em_arena_reset(&a);
        return -1;
    }
    if (print) {
        em_buf_t b = EM_BUF_INIT;
        em_promql_format(ast->root, &b);
        n = (long)b.len;
        em_buf_fini(&b);
    }
    em_ast_fini(ast);
    em_arena_reset(&a);
    return n;
}
