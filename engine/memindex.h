/* engine/memindex.h -- the head's inverted index, one per head shard: label name -> value -> postings.
 *
 * WHAT IT IS FOR. Selecting series by label matchers ({__name__="up", job=~"node|api"}) without looking at
 * every series, as Prometheus's head MemPostings and PostingsForMatchers do; listing label names and values
 * (/api/v1/labels, /api/v1/label/<name>/values); and interning label strings, so that every distinct name
 * or value string is stored once per shard and series point at the shared copy.
 *
 * DATA STRUCTURES.
 *     ix->names   cds_lfht (RCU lock-free hash table): name string -> name_ent
 *     name_ent    interned name; 'values', a cds_lfht: value string -> value_ent (lookups); 'arr', an
 *                 RCU-published array of (value_ent, value string) in creation order (scans: regexes,
 *                 label values), append-only, a dropped value's slot cleared, compacted copy-on-write
 *                 once half the slots are dead
 *     value_ent   interned value; 'list', an RCU pointer to a plist
 *     plist       { n, cap, v[cap] }: the sorted refs of the series having name=value
 *     ix->all     a plist of every series (the "all postings" list)
 *     symtab      interned strings (sym: refcount, length, hash, bytes), an open-addressing table that
 *                 only the writer reads; each name_ent or value_ent holds one reference on its string
 * Refs are added in strictly increasing order (the head allocates them so), so every plist is
 * append-only between removals: the writer stores v[n] and then publishes n+1 with a release store;
 * a full plist is replaced by one twice the size (copy, publish the pointer with a release store, retire
 * the old one). Removal rebuilds the affected plists copy-on-write. A plist is never modified except by
 * appending past its published length, so a reader that loaded (pointer, n) sees a stable sorted array.
 *
 * CONSISTENCY OF A SELECT. Readers see writes in progress, so select() takes care that every ref it returns
 * really matches (labels of a ref never change):
 *   - adds: select first reads the all-list and ignores refs above its last element. The writer appends a
 *     ref to all its value lists before the all-list, so for every ref up to that bound, every list read
 *     later already holds it: a negative matcher cannot miss a ref it should subtract.
 *   - removals: the writer bumps 'gen' to odd, publishes the new all-list FIRST, then rebuilds the value
 *     lists, then bumps 'gen' to even. A reader that saw a rebuilt value list (for instance a negative
 *     matcher's list without ref r while a positive list still had r) will therefore also see the new
 *     all-list; when 'gen' changed during the select (or was odd) the result is intersected with the
 *     all-list re-read at the end, which drops r. Without a concurrent removal that step is skipped.
 *
 * THREADS AND RCU. One writer thread per instance (the shard's ingestion thread) calls add() and
 * remove(); it must be registered with RCU (em_rcu_thread_online) and takes rcu_read_lock itself where
 * cds_lfht requires it (nesting inside a caller's read lock is fine). Any number of registered reader
 * threads call select(), label_names(), label_values() with rcu_read_lock held (urcu-memb flavor).
 * Readers never block the writer and the writer never waits for readers: unlinked memory (old plists,
 * dropped entries and their value tables, released strings) is collected in a garbage batch and freed by
 * one call_rcu() callback per batch, after a grace period. The batch is handed to call_rcu at the end of
 * every remove() and whenever it holds EM_MEMINDEX_GARBAGE_ITEMS items or EM_MEMINDEX_GARBAGE_BYTES bytes,
 * so the memory an idle writer keeps unreturned is bounded. Publication uses C11 release stores and
 * acquire loads (what rcu_assign_pointer / rcu_dereference do, in a form ThreadSanitizer understands).
 * ThreadSanitizer cannot see grace periods (liburcu is not instrumented): in TSan builds the reader
 * functions and the garbage callbacks annotate them (__tsan_release / __tsan_acquire). Code elsewhere
 * that reads interned strings of series being removed concurrently would need the same annotation.
 *
 * OWNERSHIP. The index owns every structure above. Pointers to interned strings handed out by add() stay
 * valid until the series is removed and a grace period has passed. Readers' results (postings, string
 * lists) are copies owned by the caller.
 *
 * COSTS. add(): two hash lookups per label plus an amortised O(1) append; remove(): proportional to the
 * lengths of the lists of the removed series' labels plus the all-list, and no others (plus, amortised, the
 * compaction of value arrays whose slots it cleared). select(): one hash lookup per literal value of
 * EQ/set matchers, a scan of a label's value array only for other regexes (and for name="" / name!=""
 * which need every value); then the matchers are applied smallest first: a matcher with several values
 * is either merged and intersected, or, when much bigger than the running result, intersected value by
 * value (the lists of one label's values are disjoint) and the small parts merged; negative lists are
 * merged and subtracted, or subtracted one by one from a small result (engine/postings.h does the SIMD
 * set algebra).
 */
#ifndef EMBER_ENGINE_MEMINDEX_H
#define EMBER_ENGINE_MEMINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "engine/labels.h"
#include "engine/matcher.h"
#include "engine/postings.h"
#include "engine/querier.h"

/* Bounds on garbage kept before it is handed to call_rcu (see THREADS AND RCU). */
#define EM_MEMINDEX_GARBAGE_ITEMS 256
#define EM_MEMINDEX_GARBAGE_BYTES (256 * 1024)

typedef struct em_memindex em_memindex_t;

/* A new, empty index. Never fails (allocation failure aborts). Thread: any. */
em_memindex_t *em_memindex_new(void);

/* Free the index and everything it holds; NULL is accepted. Call when no reader or writer uses it any
 * more, from a thread registered with RCU and outside a read-side critical section: waits for pending
 * call_rcu callbacks (rcu_barrier), so all memory is returned when it returns. Thread: any. */
void em_memindex_free(em_memindex_t *ix);

/* Index series 'ref' with labels 'ls' (valid: sorted, unique names, non-empty values). 'ref' must be
 * greater than every ref added before (asserted). If 'interned' is not NULL it receives 2 * ls->n
 * pointers -- name, value, name, value, ... -- to the index's copies of the strings, valid until the
 * series is removed and a grace period has passed. The caller keeps 'ls'.
 * Thread: writer (registered with RCU; may hold rcu_read_lock or not). */
void em_memindex_add(em_memindex_t *ix, uint32_t ref, const em_labels_t *ls, const char **interned);

/* Remove n series: refs[i] with labels *labels[i] (the labels it was added with; interned pointers or
 * any equal strings). Refs need not be sorted; unknown refs or labels are ignored. The affected lists are
 * rebuilt without those refs; values (and names) left without series are dropped and their strings
 * released. Memory is retired through call_rcu, never freed under readers' feet. Work is bounded by the
 * removed series' lists and the all-list. Thread: writer (as add). */
void em_memindex_remove(em_memindex_t *ix, const uint32_t *refs, size_t n, const em_labels_t *const *labels);

/* The sorted refs of series matching all n matchers, written to 'out' (replacing its contents; owned by
 * the caller). Prometheus semantics: a matcher that matches "" also selects series lacking the label;
 * positive matchers are intersected (smallest first), negative ones subtracted; n == 0 or matchers that
 * all match "" are allowed here (the caller enforces PromQL's rule). Returns EM_OK.
 * Thread: any, with rcu_read_lock held. */
int em_memindex_select(em_memindex_t *ix, const em_matcher_t *const *ms, size_t n, em_postings_t *out);

/* Append the label names in use -- only those of series in 'restrict' when it is not NULL -- to 'out',
 * copying the strings into 'a'; 'out' is then sorted and made unique (it may already hold names from
 * other sources). Returns EM_OK. Thread: any, with rcu_read_lock held. */
int em_memindex_label_names(em_memindex_t *ix, const em_postings_t *restrict_to, em_arena_t *a,
                            em_strlist_t *out);

/* Likewise for the values of label 'name'. Returns EM_OK (no values is not an error).
 * Thread: any, with rcu_read_lock held. */
int em_memindex_label_values(em_memindex_t *ix, const char *name, const em_postings_t *restrict_to,
                             em_arena_t *a, em_strlist_t *out);

/* Number of series indexed. Thread: any (no lock needed). */
size_t em_memindex_series(em_memindex_t *ix);

/* Approximate heap bytes held by the index (entries, lists with their spare capacity, strings, hash
 * tables; garbage awaiting a grace period is not counted). Thread: any (no lock needed). */
size_t em_memindex_bytes(em_memindex_t *ix);

#endif
