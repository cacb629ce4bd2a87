/* ingest/expfmt.h -- the Prometheus text format 0.0.4 and OpenMetrics 1.0 parsers, and the text writer.
 *
 * DESIGN. The parser is an iterator over one scraped page held in memory, modelled on Prometheus 3's
 * model/textparse (promparse.go, openmetricsparse.go). em_expfmt_next() advances one entry (a series
 * sample, HELP, TYPE, UNIT or comment line) and returns its kind; accessors then expose the entry
 * without copying: the raw bytes of `name{labels}` exactly as on the line (the scrape cache keys on
 * them), the value and the optional timestamp. Labels are parsed only when asked for
 * (em_expfmt_labels(), for series the cache does not know yet), into an arena the caller owns. Nothing
 * is allocated per sample: the parser keeps offsets into the page, and em_expfmt_labels() re-reads the
 * series bytes, which em_expfmt_next() has already validated.
 *
 * TWO PATHS. Each format has an exact tokeniser that follows the state machine of Prometheus's lexers
 * (promlex.l, openmetricslex.l) byte for byte, so that what is accepted, what is rejected and every
 * error text are Prometheus's. On top of it a fast path scans the common line shape
 * (`name{a="b",c="d"} 1.5 1712345678000\n`, printable ASCII values without escapes) in one pass; when
 * a line strays from that shape in any way the fast path gives up and the exact tokeniser re-reads the
 * line from its start. The fast path only accepts lines the exact path accepts with the same result
 * (the fuzz target checks this by running both).
 *
 * ENTRY GRAMMAR (text 0.0.4, as promparse accepts it; [ \t]* may separate tokens)
 *   line    := blank | '#' comment | '# HELP' name text | '# TYPE' name type | series
 *   series  := name ['{' labels '}'] value [timestamp]  |  '{' labels-with-quoted-name '}' value [ts]
 *   value   := Go float: decimal, Inf/+Inf/-Inf/Infinity, NaN (any case; no hex, no '_')
 *   ts      := decimal integer milliseconds
 *   A missing final newline is accepted (Prometheus appends one). A NUL byte at the start of a line or
 *   inside a '#' comment ends the page silently, as in Prometheus. CR is not whitespace: "1\r" is not a
 *   number, "counter\r" not a type (HELP text and comments keep the CR).
 * OpenMetrics differs: single spaces only, no blank lines, no comments other than HELP/TYPE/UNIT, label
 * pairs separated by ',' with no spaces, timestamps in float seconds (converted to ms by truncating
 * ts * 1000 like Prometheus), exemplars after " # ", and the page must end with "# EOF" (an optional
 * newline, then nothing).
 *
 * QUOTED NAMES. Like Prometheus 3, both formats accept quoted metric and label names
 * (`{"my.metric", "label.x"="v"}`). Whether names outside [a-zA-Z_:][a-zA-Z0-9_:]* (metric) and
 * [a-zA-Z_][a-zA-Z0-9_]* (label) are then accepted is the validation scheme: by default they are
 * rejected by em_expfmt_labels() ("invalid metric name or label names: ..."), as Prometheus does with
 * metric_name_validation_scheme: legacy; EM_EXPFMT_UTF8_NAMES accepts any valid UTF-8.
 *
 * LABELS. em_expfmt_labels() produces the sorted label set with __name__, unescaping \\ \" and \n in
 * names and values (other backslash sequences are kept as written, as Prometheus's replacer does),
 * drops labels with empty values (Prometheus's WithoutEmpty), rejects duplicate names
 * ("label name \"a\" is not unique: invalid sample") and values holding a NUL byte (which Prometheus
 * stores but C strings cannot), and normalises `le` (after a histogram TYPE) and `quantile` (after a
 * summary TYPE) values to OpenMetrics float text ("1" -> "1.0"), as Prometheus 3 does.
 *
 * ERRORS. A syntax error makes em_expfmt_next() return a negative code (EM_EINVAL) and stays: every
 * later call returns it again. em_expfmt_error() gives the message: "line N: " and then Prometheus 3's
 * text, e.g. `line 12: expected equal, got "}0" ("BCLOSE") while parsing: "{A}0"`, where N is the
 * 1-based line on which the failing entry starts. Quoted excerpts longer than 160 bytes keep their last
 * 160 bytes, after "...". The rules that Prometheus applies later in the scrape (name validity,
 * duplicates, limits) are checked by em_expfmt_labels() and em_expfmt_check_limits() with Prometheus's
 * wording; the scrape manager decides what to do with them.
 *
 * LIMITS. The parser reads nothing outside [buf, buf + len) and never recurses; each call to
 * em_expfmt_next() does work proportional to the bytes of the entries it passes over. Lines and label
 * counts are bounded only by the input; em_expfmt_series_nlabels() gives the pair count of the current
 * line cheaply, and em_expfmt_check_limits() applies label_limit, label_name_length_limit and
 * label_value_length_limit to a label set with Prometheus's messages.
 *
 * WRITER. em_expfmt_write_*() append the text format 0.0.4 to an em_buf_t, as Prometheus's /federate
 * and the Go client write it (prometheus/common expfmt): name outside the braces (inside, quoted, when it
 * is not a legacy name), values escaped (\\ \" \n), HELP escaped (\\ \n), floats as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) with +Inf/-Inf/NaN, and -0 written as "0" like the Go client.
 * They only append to the buffer (which grows by doubling); no other allocation.
 *
 * OWNERSHIP. The caller keeps the page; it must stay unchanged until the parser is finished. Pointers
 * returned by the accessors point into the page or into the parser's scratch buffer and are valid until
 * the next em_expfmt_next() or em_expfmt_parser_fini(). Label sets and exemplars are built in the
 * caller's arena and live as long as it.
 *
 * THREADS. A parser belongs to one thread at a time (the scrape loop's). The writer functions are pure.
 */
#ifndef EMBER_INGEST_EXPFMT_H
#define EMBER_INGEST_EXPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "engine/labels.h"

typedef enum em_expfmt_format {
    EM_EXPFMT_TEXT = 0,        /* text/plain; version=0.0.4 */
    EM_EXPFMT_OPENMETRICS = 1, /* application/openmetrics-text; version=1.0.0 */
} em_expfmt_format_t;

/* Entry kinds returned by em_expfmt_next(); errors are negative EM_E* codes. */
enum {
    EM_EXPFMT_EOF = EM_DONE, /* end of the page (OpenMetrics: "# EOF" seen) */
    EM_EXPFMT_SERIES = 2,
    EM_EXPFMT_HELP = 3,
    EM_EXPFMT_TYPE = 4,
    EM_EXPFMT_UNIT = 5, /* OpenMetrics only */
    EM_EXPFMT_COMMENT = 6,
};

/* Metric types. "untyped" in the text format is EM_EXPFMT_TYPE_UNKNOWN, as in Prometheus. */
typedef enum em_expfmt_type {
    EM_EXPFMT_TYPE_UNKNOWN = 0,
    EM_EXPFMT_TYPE_COUNTER,
    EM_EXPFMT_TYPE_GAUGE,
    EM_EXPFMT_TYPE_HISTOGRAM,
    EM_EXPFMT_TYPE_GAUGEHISTOGRAM,
    EM_EXPFMT_TYPE_SUMMARY,
    EM_EXPFMT_TYPE_INFO,
    EM_EXPFMT_TYPE_STATESET,
} em_expfmt_type_t;

/* Parser options (em_expfmt_parser_set_flags). */
enum {
    /* Accept quoted metric and label names that are valid UTF-8 but not legacy names. */
    EM_EXPFMT_UTF8_NAMES = 1u << 0,
    /* OpenMetrics: enforce the family suffix rules that Prometheus does not check: after TYPE counter
     * "foo", samples named foo_total or foo_created only; histogram: _bucket _count _sum _created;
     * gaugehistogram: _bucket _gcount _gsum; summary: foo, _count _sum _created; info: _info; gauge,
     * stateset, unknown: foo. Off by default so that Ember accepts what Prometheus accepts. */
    EM_EXPFMT_OM_STRICT = 1u << 1,
    /* OpenMetrics: do not return _created samples of counters, summaries and histograms as series
     * (Prometheus's WithOMParserSTSeriesSkipped). */
    EM_EXPFMT_SKIP_CREATED = 1u << 2,
};

#define EM_EXPFMT_MSG_MAX EM_ERR_MSG_MAX
#define EM_EXPFMT_EXEMPLAR_MAX_RUNES 128 /* OpenMetrics: runes of an exemplar's label names + values */

/* The tokeniser's position (private). */
typedef struct em_expfmt_lexer {
    const char *b; /* the page */
    size_t len;    /* its length */
    size_t n; /* logical length: the text format sees a virtual '\n' at b[len], as Prometheus appends one */
    size_t i, tok; /* position, and start of the current token */
    int state;     /* start condition of the lexer state machine */
} em_expfmt_lexer_t;

/* The parser. Fields are private; the struct is public so that callers can keep it on the stack. */
typedef struct em_expfmt_parser {
    em_expfmt_lexer_t lx;
    uint8_t fmt; /* em_expfmt_format_t */
    unsigned flags;
    int sticky;   /* 0, or the error / EOF that every later call returns */
    size_t start; /* first byte of the current entry */
    /* current entry */
    size_t series_end;     /* series: raw = b[start, series_end) */
    size_t name_a, name_b; /* series/meta: metric name (inside quotes when quoted) */
    size_t text_a, text_b; /* meta/comment text */
    uint32_t n_labels;     /* series: label pairs on the line */
    bool name_esc;         /* name was quoted and holds a backslash */
    bool fastpath;         /* series read by the fast path: plain names, values without escapes */
    bool has_ts;
    double v;
    int64_t t_ms;
    em_expfmt_type_t mtype; /* last TYPE seen (Prometheus keeps it across families) */
    /* exemplar of the current OpenMetrics series */
    bool has_ex, ex_has_ts;
    size_t ex_a, ex_b; /* the exemplar's labels: from after '{' to after '}' */
    uint32_t ex_n;     /* its label pairs */
    double ex_v;
    int64_t ex_t_ms;
    /* OpenMetrics strict mode: the family of the last metadata line */
    size_t fam_a, fam_b;
    em_expfmt_type_t fam_type;
    em_buf_t scratch; /* unescaped HELP text and names */
    char msg[EM_EXPFMT_MSG_MAX];
} em_expfmt_parser_t;

/* Start parsing the len bytes at buf in format fmt. The page is borrowed: it must outlive the parser
 * and stay unchanged. Call em_expfmt_parser_fini() when done. Thread: any (then the owner's). */
void em_expfmt_parser_init(em_expfmt_parser_t *p, const char *buf, size_t len, em_expfmt_format_t fmt);
/* Set EM_EXPFMT_* option flags; call before the first em_expfmt_next(). Thread: owner. */
void em_expfmt_parser_set_flags(em_expfmt_parser_t *p, unsigned flags);
/* Release the scratch buffer. The parser may be initialised again afterwards. Thread: owner. */
void em_expfmt_parser_fini(em_expfmt_parser_t *p);

/* Advance to the next entry. Returns EM_EXPFMT_SERIES, _HELP, _TYPE, _UNIT or _COMMENT; EM_EXPFMT_EOF
 * at the end (again on every later call); or EM_EINVAL on malformed input, with the message in
 * em_expfmt_error() (sticky: later calls return EM_EINVAL again). Blank lines (text format) are
 * skipped. Work: proportional to the bytes of the entry. Thread: owner. */
int em_expfmt_next(em_expfmt_parser_t *p);

/* "line N: <what is wrong>" for the last error, "" if there was none. Valid until the next call on the
 * parser. Thread: owner. */
const char *em_expfmt_error(const em_expfmt_parser_t *p);

/* The current EM_EXPFMT_SERIES entry: raw points at the exact bytes of `name{labels}` as written on the
 * line (leading blanks included, as Prometheus includes them) and stays valid as long as the page;
 * has_ts/t_ms the timestamp in milliseconds when the line has one; v the value (NaN is always
 * Prometheus's normal NaN, bits 0x7ff8000000000001). Any out-parameter may be NULL. Thread: owner. */
void em_expfmt_series(const em_expfmt_parser_t *p, const char **raw, size_t *raw_len, bool *has_ts,
                      int64_t *t_ms, double *v);
/* The metric name of the current series as written (inside the quotes if quoted, escapes not resolved;
 * with the line's leading blanks when it has any, as Prometheus). Thread: owner. */
void em_expfmt_series_name(const em_expfmt_parser_t *p, const char **name, size_t *len);
/* The number of label pairs written on the current series line (the metric name not counted). Cheap:
 * counted while scanning. Thread: owner. */
size_t em_expfmt_series_nlabels(const em_expfmt_parser_t *p);

/* Parse the labels of the current series into a sorted label set with __name__, strings and array
 * allocated in 'a' (valid as long as the arena). Returns EM_OK, or EM_EINVAL (message in
 * em_expfmt_error(); the iterator is not affected) for an invalid or missing metric name, an invalid
 * label name under the current validation scheme, a duplicate label name or a NUL byte in a value.
 * *out is set only on success. Thread: owner. */
int em_expfmt_labels(em_expfmt_parser_t *p, em_arena_t *a, em_labels_t *out);

/* The exemplar of the current OpenMetrics series. Returns EM_OK and sets the out-parameters (labels
 * sorted, in 'a'; any pointer but 'a' may be NULL), EM_ENOTFOUND when the line has none, EM_ELIMIT when
 * its label names and values exceed 128 runes ("label length for exemplar exceeds maximum of 128 UTF-8
 * characters": Prometheus drops such exemplars and keeps the sample), or EM_EINVAL for an invalid or
 * duplicate label name. Syntax errors in exemplars are reported by em_expfmt_next(). Thread: owner. */
int em_expfmt_exemplar(em_expfmt_parser_t *p, em_arena_t *a, em_labels_t *labels, double *v, bool *has_ts,
                       int64_t *t_ms);

/* The current HELP entry: family name and help text, both unescaped (text format: \\ and \n;
 * OpenMetrics also \"). Valid until the next em_expfmt_next(). Thread: owner. */
void em_expfmt_help(em_expfmt_parser_t *p, const char **name, size_t *name_len, const char **text,
                    size_t *text_len);
/* The current TYPE entry: family name and type. Thread: owner. */
em_expfmt_type_t em_expfmt_type(em_expfmt_parser_t *p, const char **name, size_t *name_len);
/* The current UNIT entry (OpenMetrics): family name and unit. Thread: owner. */
void em_expfmt_unit(em_expfmt_parser_t *p, const char **name, size_t *name_len, const char **unit,
                    size_t *unit_len);
/* The current COMMENT entry: the whole line from '#' on, without the newline. Thread: owner. */
void em_expfmt_comment(const em_expfmt_parser_t *p, const char **text, size_t *len);

/* Prometheus's name for a type, as the metadata API shows it: "counter", "gauge", "histogram",
 * "gaugehistogram", "summary", "info", "stateset", "unknown". Thread: any. */
const char *em_expfmt_type_name(em_expfmt_type_t t);

/* Map a Content-Type header to a parser format as Prometheus 2 does: application/openmetrics-text (any
 * version, any case, with parameters) is OpenMetrics; everything else, including NULL, "" and
 * unknown types, is the text format. Thread: any. */
em_expfmt_format_t em_expfmt_format_from_content_type(const char *ct);

/* Prometheus 3's stricter choice: text/plain -> text, application/openmetrics-text -> OpenMetrics
 * (EM_OK). A blank, unparsable or unsupported Content-Type uses 'fallback' (a format, or -1 for none
 * configured): with a fallback *out is set, EM_OK is returned and err (may be NULL) holds Prometheus's
 * warning ("non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol
 * ..."); without one EM_EUNSUPPORTED is returned with Prometheus's error text. Thread: any. */
int em_expfmt_format_negotiate(const char *ct, int fallback, em_expfmt_format_t *out, em_err_t *err);

/* Scrape label limits; 0 means unlimited (Prometheus's label_limit, label_name_length_limit,
 * label_value_length_limit). */
typedef struct em_expfmt_limits {
    size_t label_limit;
    size_t label_name_length_limit;
    size_t label_value_length_limit;
} em_expfmt_limits_t;

/* Check a (relabelled) label set against the limits. Returns EM_OK or EM_ELIMIT with Prometheus's
 * message ("label_limit exceeded (metric: up, number of labels: 5, limit: 4)", ...). Lengths are in
 * bytes and the count includes __name__, as in Prometheus. Thread: any. */
int em_expfmt_check_limits(const em_labels_t *ls, const em_expfmt_limits_t *lim, em_err_t *err);

/* Writer: append "# HELP name escaped-help\n". Thread: any. */
void em_expfmt_write_help(em_buf_t *out, const char *name, const char *help);
/* Append "# TYPE name type\n"; types the text format lacks (gaugehistogram, info, stateset, unknown)
 * are written as "untyped". Thread: any. */
void em_expfmt_write_type(em_buf_t *out, const char *name, em_expfmt_type_t type);
/* Append one sample line: name{labels} value [t_ms]\n. The name is the __name__ label (a set without
 * one is written as {labels}); other labels in the set's order. Thread: any. */
void em_expfmt_write_sample(em_buf_t *out, const em_labels_t *ls, double v, bool has_ts, int64_t t_ms);
/* Append a float as the Go client writes it (see WRITER above). Thread: any. */
void em_expfmt_write_float(em_buf_t *out, double v);

#endif
