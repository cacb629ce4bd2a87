/* Design: see expfmt.h.
 *
 * The text format 0.0.4 writer, byte for byte as prometheus/common's expfmt (MetricFamilyToText) writes
 * what /federate and the Go client serve.
 */
#include <string.h>

#include "base/strconv.h"
#include "ingest/expfmt_int.h"

static bool legacy_metric_name(const char *s)
{
    if (!cc_is((unsigned char)s[0], CC_M))
        return false;
    for (s++; *s; s++)
        if (!cc_is((unsigned char)*s, CC_MD))
            return false;
    return true;
}

/* Escape \ and newline, and " when 'quote' (expfmt's escaper / quotedEscaper). */
static void put_escaped(em_buf_t *out, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        if (*s != '\\' && *s != '\n' && !(quote && *s == '"'))
            continue;
        em_buf_append(out, run, (size_t)(s - run));
        em_buf_putc(out, '\\');
        em_buf_putc(out, *s == '\n' ? 'n' : *s);
        run = s + 1;
    }
    em_buf_append(out, run, (size_t)(s - run));
}

/* A metric name as is when it is a legacy name, otherwise quoted (expfmt's writeName). */
static void put_metric_name(em_buf_t *out, const char *name)
{
    if (legacy_metric_name(name)) {
        em_buf_puts(out, name);
        return;
    }
    em_buf_putc(out, '"');
    put_escaped(out, name, true);
    em_buf_putc(out, '"');
}

void em_expfmt_write_float(em_buf_t *out, double v)
{
    /* expfmt's writeFloat: 1, 0 (also -0), -1 and the specials hard-coded, else %g shortest. */
    if (v == 0) {
        em_buf_putc(out, '0');
        return;
    }
    char tmp[EM_FLOAT_BUF];
    size_t n = em_fmt_float(v, 'g', tmp);
    em_buf_append(out, tmp, n);
}

void em_expfmt_write_help(em_buf_t *out, const char *name, const char *help)
{
    em_buf_puts(out, "# HELP ");
    put_metric_name(out, name);
    em_buf_putc(out, ' ');
    put_escaped(out, help, false);
    em_buf_putc(out, '\n');
}

void em_expfmt_write_type(em_buf_t *out, const char *name, em_expfmt_type_t type)
{
    const char *t = "untyped";
    switch (type) {
    case EM_EXPFMT_TYPE_COUNTER:
    case EM_EXPFMT_TYPE_GAUGE:
    case EM_EXPFMT_TYPE_HISTOGRAM:
    case EM_EXPFMT_TYPE_SUMMARY:
        t = em_expfmt_type_name(type);
        break;
    default:
        break;
    }
    em_buf_puts(out, "# TYPE ");
    put_metric_name(out, name);
    em_buf_putc(out, ' ');
    em_buf_puts(out, t);
    em_buf_putc(out, '\n');
}

void em_expfmt_write_sample(em_buf_t *out, const em_labels_t *ls, double v, bool has_ts, int64_t t_ms)
{
    const char *name = NULL;
    for (size_t k = 0; k < ls->n; k++)
        if (strcmp(ls->v[k].name, EM_METRIC_NAME) == 0)
            name = ls->v[k].value;
    char sep = '{';
    bool inside = name && !legacy_metric_name(name);
    if (name && !inside) {
        em_buf_puts(out, name);
    } else if (name) {
        em_buf_putc(out, sep);
        sep = ',';
        put_metric_name(out, name);
    }
    for (size_t k = 0; k < ls->n; k++) {
        const char *ln = ls->v[k].name;
        if (strcmp(ln, EM_METRIC_NAME) == 0)
            continue;
        em_buf_putc(out, sep);
        sep = ',';
        if (em_label_name_valid(ln, strlen(ln))) {
            em_buf_puts(out, ln);
        } else {
            em_buf_putc(out, '"');
            put_escaped(out, ln, true);
            em_buf_putc(out, '"');
        }
        em_buf_puts(out, "=\"");
        put_escaped(out, ls->v[k].value, true);
        em_buf_putc(out, '"');
    }
    if (sep == ',')
        em_buf_putc(out, '}');
    else if (!name)
        em_buf_puts(out, "{}");
    em_buf_putc(out, ' ');
    em_expfmt_write_float(out, v);
    if (has_ts) {
        /* strconv.AppendInt, without printf's overhead on the hot /federate path. */
        char tmp[24];
        size_t k = sizeof(tmp);
        uint64_t u = t_ms < 0 ? 0 - (uint64_t)t_ms : (uint64_t)t_ms;
        do
            tmp[--k] = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (t_ms < 0)
            tmp[--k] = '-';
        tmp[--k] = ' ';
        em_buf_append(out, tmp + k, sizeof(tmp) - k);
    }
    em_buf_putc(out, '\n');
}
