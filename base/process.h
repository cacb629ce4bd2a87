/* base/process.h -- the process_* metrics every Prometheus server exports, read from /proc/self.
 *
 * process_cpu_seconds_total, process_open_fds, process_max_fds, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_virtual_memory_max_bytes, process_start_time_seconds, with the
 * client libraries' names and meanings. Also the runtime facts /api/v1/status/runtimeinfo shows.
 */
#ifndef EMBER_BASE_PROCESS_H
#define EMBER_BASE_PROCESS_H

#include <stdint.h>

/* Register the process collectors with base/metrics.h (once; later calls do nothing). Thread: main. */
void em_process_metrics_register(void);

typedef struct em_process_info {
    double cpu_seconds;
    uint64_t rss_bytes, vsize_bytes;
    int64_t open_fds, max_fds;
    double start_time_seconds;
    int n_threads;
} em_process_info_t;

/* Read the current figures (zeros where /proc is unavailable). Thread: any. */
void em_process_info(em_process_info_t *out);

#endif
