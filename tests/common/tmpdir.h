/* Test helper: a fresh temporary directory per test, removed afterwards. */
#ifndef EMBER_TESTS_TMPDIR_H
#define EMBER_TESTS_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"

static inline void em_test_tmpdir(char *out, size_t n, const char *tag)
{
    snprintf(out, n, "/tmp/ember-test-%s-XXXXXX", tag);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        abort();
    }
}

static inline void em_test_rmdir(const char *path)
{
    em_remove_all(path, NULL);
}

#endif
