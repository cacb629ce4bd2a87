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
