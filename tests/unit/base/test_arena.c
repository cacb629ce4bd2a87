#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"

Test(base_arena, allocations_are_aligned_distinct_and_survive_growth)
{
    em_arena_t a;
    em_arena_init(&a);
    char *ptrs[1000];
    for (int i = 0; i < 1000; i++) {
        ptrs[i] = em_arena_alloc(&a, (size_t)(i % 50) + 1);
        cr_assert_eq((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], i & 0xff, (size_t)(i % 50) + 1);
    }
    for (int i = 0; i < 1000; i++)
        cr_assert_eq((unsigned char)ptrs[i][0], (unsigned char)(i & 0xff));
    char *big = em_arena_alloc(&a, 5 << 20);
    big[(5 << 20) - 1] = 1;
    cr_assert_str_eq(em_arena_strdup(&a, "hello"), "hello");
    em_arena_reset(&a);
    cr_assert_str_eq(em_arena_strndup(&a, "abcdef", 3), "abc");
    em_arena_fini(&a);
}

Test(base_arena, rewind_keeps_blocks_within_budget_and_reuses_them)
{
    em_arena_t a;
    em_arena_init(&a);
    char *big = em_arena_alloc(&a, 3 << 20);
    memset(big, 1, 3 << 20);
    for (int i = 0; i < 100; i++)
        em_arena_alloc(&a, 1000);
    em_arena_rewind(&a, 4 << 20);
    cr_assert_leq(a.total_bytes, (size_t)4 << 20);
    cr_assert_geq(a.total_bytes, (size_t)3 << 20, "the 3 MiB block is kept");
    /* the kept block is handed out again instead of a new one */
    char *again = em_arena_alloc(&a, 2 << 20);
    cr_assert_eq(again, big);
    memset(again, 2, 2 << 20);
    cr_assert_str_eq(em_arena_strdup(&a, "after"), "after");
    em_arena_rewind(&a, 0);
    cr_assert_eq(a.total_bytes, 0);
    cr_assert_null(a.spare);
    em_arena_fini(&a);
}
