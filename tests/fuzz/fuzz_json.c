/* Fuzz target for the strict JSON parser (base/json.h) and the meta.json reader built on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/block.h"

static void walk(const em_json_t *v, int depth)
{
    if (depth > EM_JSON_DEFAULT_DEPTH + 1)
        abort();
    if (v->type == EM_JSON_STRING && v->str[v->str_len] != 0)
        abort();
    if (v->type == EM_JSON_NUMBER) {
        int64_t i;
        uint64_t u;
        em_json_int64(v, &i);
        em_json_uint64(v, &u);
    }
    for (size_t i = 0; i < v->n; i++)
        walk(&v->items[i], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    em_arena_t a;
    em_arena_init(&a);
    const em_json_t *v;
    if (em_json_parse((const char *)data, size, &a, EM_JSON_DEFAULT_DEPTH, &v, NULL) == EM_OK) {
        walk(v, 0);
        em_json_get(v, "ulid");
    }
    em_arena_fini(&a);
    em_block_meta_t m;
    if (em_block_meta_parse((const char *)data, size, &m, NULL) == EM_OK) {
        em_buf_t b = EM_BUF_INIT;
        em_block_meta_format(&m, &b);
        em_block_meta_t m2;
        /* what we write we read back the same */
        if (em_block_meta_parse(b.data, b.len, &m2, NULL) != EM_OK || m2.min_time_ms != m.min_time_ms ||
            m2.n_sources != m.n_sources || m2.num_samples != m.num_samples)
            abort();
        em_block_meta_fini(&m2);
        em_buf_fini(&b);
        em_block_meta_fini(&m);
    }
    return 0;
}
