/* ingest/metastore.h -- metric metadata (TYPE, HELP, UNIT per metric family) for /api/v1/metadata.
 *
 * DESIGN. Remote-write requests and scrapes report metadata per metric family. The store keeps, per
 * family name, the distinct (type, help, unit) entries seen, newest first, as Prometheus's
 * /api/v1/metadata shows them. It is bounded: at most EM_METASTORE_MAX_FAMILIES families (further new
 * families are counted and dropped) and EM_METASTORE_MAX_PER_FAMILY entries per family (the oldest
 * goes). Strings are copied in.
 *
 * Thread: any; one mutex guards everything (updates are per request, not per sample).
 */
#ifndef EMBER_INGEST_METASTORE_H
#define EMBER_INGEST_METASTORE_H

#include <stddef.h>

#include "base/buf.h"

#define EM_METASTORE_MAX_FAMILIES 200000
#define EM_METASTORE_MAX_PER_FAMILY 8

typedef struct em_metastore em_metastore_t;

em_metastore_t *em_metastore_new(void);
void em_metastore_free(em_metastore_t *m);

/* Record one entry. 'type' is Prometheus's spelling ("counter", "gauge", "histogram", "gaugehistogram",
 * "summary", "info", "stateset", "unknown"); help and unit may be empty. */
void em_metastore_add(em_metastore_t *m, const char *family, const char *type, const char *help, const char *unit);

/* Append the JSON object of /api/v1/metadata's data member: {"name":[{"type":..,"help":..,"unit":..}],..}
 * sorted by name. 'metric' restricts to one family (NULL: all); limit (<0: none) caps the families and
 * limit_per_metric (<0: none) the entries per family. */
void em_metastore_json(em_metastore_t *m, const char *metric, long limit, long limit_per_metric, em_buf_t *out);

size_t em_metastore_families(em_metastore_t *m);

#endif
