/* tests/tsan/criterion/criterion.h -- a minimal stand-in for Criterion, used only by the ThreadSanitizer
 * build of the "concurrent" tests.
 *
 * WHY. Criterion cannot start under ThreadSanitizer: its runner maps a shared "inheritable arena" at a
 * random fixed address between 0x2000'0000'0000 and 0x7f00'0000'0000, and TSan reserves (or shadows) all
 * of that range, so every attempt fails and the runner aborts with "Could not initialize inheritable
 * arena: Resource temporarily unavailable" (Snaipe/Criterion issue #274). In the TSan build
 * tests/CMakeLists.txt puts this directory first on the include path of tsan-labelled tests and does not
 * link libcriterion, so the same test source compiles against this header instead.
 *
 * WHAT. The subset our tests use: Test(suite, name, .init, .fini, .timeout, .disabled, .description),
 * TestSuite(suite, .init, .fini), the cr_assert_ and cr_expect_ macros (every failure ends the process with
 * status 1: tests run one after the other in one process, without forking), cr_log_*. The main() runs every
 * test in registration order, or those named on the command line ("suite::name" or "suite").
 */
#ifndef EMBER_TESTS_TSAN_CRITERION_H
#define EMBER_TESTS_TSAN_CRITERION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cr_tsan_test {
    const char *suite, *name;
    void (*fn)(void);
    void (*init)(void);
    void (*fini)(void);
    double timeout;
    bool disabled;
    const char *description;
    int exit_code, signal;
    struct cr_tsan_test *next;
};

struct cr_tsan_suite {
    const char *name;
    void (*init)(void);
    void (*fini)(void);
    double timeout;
    bool disabled;
    const char *description;
    struct cr_tsan_suite *next;
};

static struct cr_tsan_test *cr_tsan_tests, **cr_tsan_tail = &cr_tsan_tests;
static struct cr_tsan_suite *cr_tsan_suites;
static const struct cr_tsan_test *cr_tsan_current;

#define Test(s_, n_, ...)                                                                                    \
    static void s_##_##n_##_impl(void);                                                                      \
    static struct cr_tsan_test s_##_##n_##_desc = {                                                          \
        .suite = #s_, .name = #n_, .fn = s_##_##n_##_impl, __VA_ARGS__};                                     \
    __attribute__((constructor)) static void s_##_##n_##_reg(void)                                           \
    {                                                                                                        \
        *cr_tsan_tail = &s_##_##n_##_desc;                                                                   \
        cr_tsan_tail = &s_##_##n_##_desc.next;                                                               \
    }                                                                                                        \
    static void s_##_##n_##_impl(void)

#define TestSuite(s_, ...)                                                                                   \
    static struct cr_tsan_suite s_##_suite_desc = {.name = #s_, __VA_ARGS__};                                \
    __attribute__((constructor)) static void s_##_suite_reg(void)                                            \
    {                                                                                                        \
        s_##_suite_desc.next = cr_tsan_suites;                                                               \
        cr_tsan_suites = &s_##_suite_desc;                                                                   \
    }

/* No printf format attribute: the message is optional, and an empty format would trip -Wformat. */
__attribute__((noreturn, unused)) static void cr_tsan_fail(const char *file, int line, const char *expr,
                                                           const char *fmt, ...)
{
    fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n", file, line, expr);
    if (fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "[----]   ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    if (cr_tsan_current)
        fprintf(stderr, "[FAIL] %s::%s\n", cr_tsan_current->suite, cr_tsan_current->name);
    exit(1);
}

/* The message, when given, must start with a string literal (as with Criterion in practice). */
#define cr_assert(cond, ...)                                                                                 \
    do {                                                                                                     \
        if (!(cond))                                                                                         \
            cr_tsan_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);                                         \
    } while (0)
#define cr_assert_not(cond, ...) cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) cr_assert(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_fail(...) cr_assert(0, __VA_ARGS__)
#define cr_expect cr_assert
#define cr_expect_eq cr_assert_eq
#define cr_expect_neq cr_assert_neq
#define cr_expect_lt cr_assert_lt
#define cr_expect_gt cr_assert_gt
#define cr_expect_str_eq cr_assert_str_eq

#define cr_log_info(...) (fprintf(stderr, "[----] " __VA_ARGS__), fputc('\n', stderr))
#define cr_log_warn cr_log_info
#define cr_log_error cr_log_info

static const struct cr_tsan_suite *cr_tsan_suite_of(const char *name)
{
    for (const struct cr_tsan_suite *s = cr_tsan_suites; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static bool cr_tsan_selected(const struct cr_tsan_test *t, int argc, char **argv)
{
    bool any = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            /* Criterion options are accepted and ignored, with the value of those that take one. */
            if ((strcmp(argv[i], "--jobs") == 0 || strcmp(argv[i], "-j") == 0) && i + 1 < argc)
                i++;
            continue;
        }
        any = true;
        char full[256];
        snprintf(full, sizeof(full), "%s::%s", t->suite, t->name);
        if (strcmp(argv[i], full) == 0 || strcmp(argv[i], t->suite) == 0)
            return true;
    }
    return !any;
}

int main(int argc, char **argv)
{
    int ran = 0;
    for (const struct cr_tsan_test *t = cr_tsan_tests; t; t = t->next) {
        const struct cr_tsan_suite *s = cr_tsan_suite_of(t->suite);
        if (t->disabled || (s && s->disabled) || !cr_tsan_selected(t, argc, argv))
            continue;
        cr_tsan_current = t;
        fprintf(stderr, "[RUN ] %s::%s\n", t->suite, t->name);
        if (s && s->init)
            s->init();
        if (t->init)
            t->init();
        t->fn();
        if (t->fini)
            t->fini();
        if (s && s->fini)
            s->fini();
        fprintf(stderr, "[PASS] %s::%s\n", t->suite, t->name);
        ran++;
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: 0 | Crashing: 0\n", ran, ran);
    return 0;
}

#endif
