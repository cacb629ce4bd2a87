/* base/duration.h -- Prometheus durations ("1h30m", "15s", "500ms", "1d", "1w", "1y") and times.
 *
 * DESIGN. Mirrors Prometheus's model.ParseDuration and model.Duration.String: units y (365d), w, d, h,
 * m, s, ms, each at most once and in that order, integer amounts only; "0" alone is zero. Durations
 * are int64 milliseconds everywhere in Ember (the unit is in every name: dur_ms).
 */
#ifndef EMBER_BASE_DURATION_H
#define EMBER_BASE_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define EM_MS_PER_SECOND 1000LL
#define EM_MS_PER_MINUTE (60 * EM_MS_PER_SECOND)
#define EM_MS_PER_HOUR (60 * EM_MS_PER_MINUTE)
#define EM_MS_PER_DAY (24 * EM_MS_PER_HOUR)

/* Parse n bytes at s. Returns EM_OK and sets *dur_ms, or EM_EINVAL with
 * `not a valid duration string: "<s>"` (Prometheus's text) in err. Thread: any. */
int em_duration_parse(const char *s, size_t n, int64_t *dur_ms, em_err_t *err);

/* Format as Prometheus does ("1h30m", "0s"); negative durations get a leading '-'. Returns the length
 * (always < 32); 'out' must hold 32 bytes. Thread: any. */
size_t em_duration_format(int64_t dur_ms, char *out);

/* Milliseconds since the Unix epoch, wall clock. */
int64_t em_now_ms(void);
/* Monotonic nanoseconds, for measuring durations. */
int64_t em_mono_ns(void);

/* Format t_ms as RFC 3339 in UTC with milliseconds ("2026-11-23T07:00:00.123Z"); 'out' holds 32 bytes. */
size_t em_time_format_rfc3339(int64_t t_ms, char *out);

/* Parse a time as the Prometheus HTTP API accepts it: Unix seconds with an optional fraction
 * ("1700000000.123") or RFC 3339 ("2023-11-14T22:13:20.123Z", offsets allowed). Result in ms.
 * Returns EM_OK or EM_EINVAL. Thread: any. */
int em_time_parse(const char *s, int64_t *t_ms);

#endif
