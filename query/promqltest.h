/* query/promqltest.h -- the runner of Prometheus's PromQL test scripts (promql/promqltest).
 *
 * DESIGN. A script (../shared/conformance/FORMAT.md) is a list of commands: `load <step>` with series
 * in the expanding notation (`0+10x100`, `_`, `stale`, `1x5`), `clear`, and `eval instant at <t>` /
 * `eval range from <a> to <b> step <s>` followed by `expect ...` lines and the expected series or
 * scalar. The runner mirrors promqltest/test.go:
 *   - data goes into a real head (engine/head.h) with its WAL in a temporary directory; `clear` opens
 *     a new one; queries run through em_query_exec_* with the engine options of Prometheus's test
 *     engine (max 10k... raised to the default, 5m lookback, 1m default subquery step, every feature
 *     flag on: experimental functions, duration expressions, extended range selectors, binop fill
 *     modifiers, delayed name removal);
 *   - an instant eval is also run with every selector pinned by `@ <t>` at other evaluation times and
 *     once more as a range query around t (unless it uses start()/end()/range()/step() or an
 *     `expect range vector`/`expect string`), each compared with the same expectation;
 *   - values compare with a relative tolerance of 1e-6 (almost.Equal), series by label set, order only
 *     with `expect ordered`; annotations and errors as the expect lines say.
 * Native histograms are not supported: a load line with {{...}} is not loaded (its label set is
 * remembered), and an eval whose expectation has histograms or whose selectors can match such a series
 * is skipped, with the reason listed under --verbose.
 *
 * OUTPUT. One line per failed eval: `file:line: expr: what differs`; then `N passed, M failed, K
 * skipped`. Thread: one run at a time per thread (it registers the thread with RCU).
 */
#ifndef EMBER_QUERY_PROMQLTEST_H
#define EMBER_QUERY_PROMQLTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

typedef struct em_promqltest_opts {
    bool verbose; /* list skipped evals and why */
    FILE *out;    /* NULL: stdout */
} em_promqltest_opts_t;

typedef struct em_promqltest_stats {
    size_t passed, failed, skipped;
} em_promqltest_stats_t;

/* Run every file named (directories: their *.test files, sorted), adding to *st. Returns EM_OK when
 * every file could be read and parsed (failed evals are not errors), else the first error with detail
 * in err. */
int em_promqltest_run(const char *const *paths, size_t n_paths, const em_promqltest_opts_t *o,
                      em_promqltest_stats_t *st, em_err_t *err);

/* The `embertool test promql` command: parses args (FILE|DIR... [--verbose]), runs, prints the summary.
 * Returns the process exit code (0 when nothing failed, 1 on failures, 2 on usage or I/O errors). */
int em_promqltest_main(int argc, char **argv);

#endif
