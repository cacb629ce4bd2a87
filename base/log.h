/* base/log.h -- structured logging to stderr in logfmt or JSON, as Prometheus logs.
 *
 * DESIGN. One line per event: ts, level, component, msg, then the caller's key=value pairs.
 *     ts=2026-11-23T07:00:00.123Z level=info component=wal msg="Replay completed" segments=3 duration=1.2s
 * The caller writes its pairs in logfmt with a printf format ("segments=%d path=%s"); values that may
 * hold spaces or quotes go through em_q(), which quotes and escapes them. In JSON mode the pairs are
 * re-tokenised from that logfmt text, so callers write one format for both outputs.
 *
 * Thread: any. A line is written with one write(2), so lines from different threads never interleave.
 */
#ifndef EMBER_BASE_LOG_H
#define EMBER_BASE_LOG_H

#include <stdbool.h>

typedef enum { EM_LOG_DEBUG = 0, EM_LOG_INFO, EM_LOG_WARN, EM_LOG_ERROR } em_log_level_t;
typedef enum { EM_LOG_LOGFMT = 0, EM_LOG_JSON } em_log_format_t;

/* Set the minimum level, the format and the output fd (2 by default). Call before threads start. */
void em_log_setup(em_log_level_t min_level, em_log_format_t format, int fd);

/* Parse "debug|info|warn|error" / "logfmt|json". Return EM_OK or EM_EINVAL. */
int em_log_parse_level(const char *s, em_log_level_t *out);
int em_log_parse_format(const char *s, em_log_format_t *out);

bool em_log_enabled(em_log_level_t level);

/* Log one event. 'kvfmt' is a printf format producing logfmt pairs (may be ""). */
void em_log(em_log_level_t level, const char *component, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Quote 's' for a logfmt value ("a b" -> "\"a b\""; plain tokens unchanged). Returns a pointer into one
 * of 8 rotating thread-local buffers: valid until the 8th following call on this thread; long values
 * are truncated at 1 KiB. */
const char *em_q(const char *s);

/* em_info("wal", "Replay completed", "segments=%d", n); the pairs are optional. */
#define em_debug(comp, msg, ...) \
    do { if (em_log_enabled(EM_LOG_DEBUG)) em_log(EM_LOG_DEBUG, comp, msg, "" __VA_ARGS__); } while (0)
#define em_info(comp, msg, ...) em_log(EM_LOG_INFO, comp, msg, "" __VA_ARGS__)
#define em_warn(comp, msg, ...) em_log(EM_LOG_WARN, comp, msg, "" __VA_ARGS__)
#define em_error(comp, msg, ...) em_log(EM_LOG_ERROR, comp, msg, "" __VA_ARGS__)

#endif
