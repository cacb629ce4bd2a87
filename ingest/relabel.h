/* ingest/relabel.h -- Prometheus relabelling: target relabel_configs and metric_relabel_configs.
 *
 * DESIGN. The rules come parsed and validated from base/config.h (em_relabel_config_t, with
 * Prometheus's defaults already filled in: separator ";", regex "(.*)" compiled fully anchored,
 * replacement "$1", action replace). em_relabel_process() applies a list of rules in order to a
 * label set held in an em_labels_builder_t, exactly as Prometheus's model/relabel Process does:
 *
 *   value := join(values of source_labels (absent = ""), separator)
 *   replace    if regex matches value: target := expand(target_label), res := expand(replacement);
 *              an invalid target name changes nothing; an empty res deletes target; else sets it.
 *              No match: nothing changes.
 *   keep/drop  drop the set unless / if regex matches value
 *   keepequal  drop the set unless value == value of target_label (absent = "")
 *   dropequal  drop the set if value == value of target_label
 *   hashmod    target := md5(value)[8:16] as a big-endian uint64 % modulus, in decimal
 *   labelmap   for each label (a snapshot taken before the rule) whose name matches: set
 *              expand(replacement, name) to the label's value (the old label stays)
 *   labeldrop  delete every label whose name matches; labelkeep: delete every one that does not
 *   lowercase, uppercase  target := value with ASCII letters folded (an empty value deletes target)
 * Expansion is Go's Regexp.Expand ($1, ${1}, $name; base/regex.h). Setting a label to "" deletes it,
 * as Prometheus's labels.Builder does.
 *
 * DIFFERENCES. lowercase/uppercase fold ASCII letters only; Go's strings.ToLower folds all of
 * Unicode. Values outside ASCII are rare in label values that are case-folded (hostnames, methods).
 *
 * OWNERSHIP. The builder borrows its strings. Strings the rules create (joined values, expansions,
 * hashes) are allocated in the caller's arena, so the builder's contents stay valid as long as both
 * the original strings and the arena do. The rules are only read.
 *
 * THREADS. Pure functions of their arguments: any thread, any number at once (a compiled regex may be
 * shared; base/regex.h).
 */
#ifndef EMBER_INGEST_RELABEL_H
#define EMBER_INGEST_RELABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/config.h"
#include "engine/labels.h"

/* Apply the n rules to the labels in b. Returns true when the set is kept (b holds the result, not
 * necessarily sorted: call em_labels_builder_labels), false when a keep/drop/keepequal/dropequal rule
 * dropped it (b's contents are then unspecified). New strings live in 'a'. Thread: any. */
bool em_relabel_process(em_labels_builder_t *b, em_relabel_config_t *const *rules, size_t n, em_arena_t *a);

/* One rule; same contract as em_relabel_process. Thread: any. */
bool em_relabel_apply(em_labels_builder_t *b, const em_relabel_config_t *rule, em_arena_t *a);

/* Prometheus's hashmod: the last 8 bytes of md5(s) as a big-endian integer, modulo 'modulus' (> 0).
 * Thread: any. */
uint64_t em_relabel_hashmod(const char *s, size_t n, uint64_t modulus);

#endif
