/* base/strconv.h -- float formatting and parsing with Go's strconv semantics.
 *
 * DESIGN. Prometheus's API and exposition formats print floats with Go's strconv.FormatFloat(v, fmt,
 * -1, 64): the shortest digit string that parses back to the same double. em_fmt_float reproduces that
 * for the 'f', 'e' and 'g' formats, plus Prometheus's spellings of the specials ("+Inf", "-Inf", "NaN").
 */
#ifndef EMBER_BASE_STRCONV_H
#define EMBER_BASE_STRCONV_H

#include <stdbool.h>
#include <stddef.h>

#define EM_FLOAT_BUF 400 /* enough for any double in 'f' format */

/* Format v like Go's strconv.FormatFloat(v, fmt, -1, 64) ('g' is also what fmt's %v prints), except infinities are "+Inf"/"-Inf" and NaN
 * is "NaN" (Prometheus's spelling). fmt is 'f', 'e' or 'g'. Returns the length; out holds EM_FLOAT_BUF.
 * Thread: any. */
size_t em_fmt_float(double v, char fmt, char *out);

/* Parse a float the way Prometheus's parsers accept one: decimal or hex literals, "Inf"/"+Inf"/"-Inf"
 * and "NaN" in any case. The whole string must be consumed. Returns true on success. */
bool em_parse_float(const char *s, size_t n, double *out);

#endif
