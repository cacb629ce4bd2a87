/* Test helper: run the exposition-format parser over a page and describe every entry as one line of
 * text, so that tests can compare whole transcripts. Shared by test_expfmt.c and test_expfmt_om.c. */
#ifndef EMBER_TESTS_EXPFMT_DUMP_H
#define EMBER_TESTS_EXPFMT_DUMP_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/strconv.h"
#include "ingest/expfmt.h"
#include "ingest/expfmt_int.h"

static void dump_value(em_buf_t *out, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    if (isnan(v)) {
        em_buf_printf(out, "NaN(%016" PRIx64 ")", bits);
        return;
    }
    char tmp[EM_FLOAT_BUF];
    em_fmt_float(v, 'g', tmp);
    em_buf_puts(out, tmp);
}

/* One line per entry: "series <raw>|<labels> <value>[ @<t_ms>][ ex:<labels> <v>[ @t]]", "help <name>|<text>",
 * "type <name>|<type>", "unit <name>|<unit>", "comment <text>", then "eof" or "error <message>". A
 * labels failure is shown as "labels-error <message>". */
static char *expfmt_dump(const char *in, size_t len, em_expfmt_format_t fmt, unsigned flags)
{
    em_expfmt_parser_t p;
    em_arena_t a;
    em_buf_t out = EM_BUF_INIT;
    em_arena_init(&a);
    em_expfmt_parser_init(&p, in, len, fmt);
    em_expfmt_parser_set_flags(&p, flags);
    for (int guard = 0; guard < 100000; guard++) {
        int k = em_expfmt_next(&p);
        const char *s, *t;
        size_t sn, tn;
        if (k < 0) {
            em_buf_printf(&out, "error %s\n", em_expfmt_error(&p));
            break;
        }
        if (k == EM_EXPFMT_EOF) {
            em_buf_puts(&out, "eof\n");
            break;
        }
        switch (k) {
        case EM_EXPFMT_SERIES: {
            bool has_ts;
            int64_t ts;
            double v;
            em_labels_t ls;
            em_expfmt_series(&p, &s, &sn, &has_ts, &ts, &v);
            em_buf_puts(&out, "series ");
            em_buf_append(&out, s, sn);
            em_buf_putc(&out, '|');
            if (em_expfmt_labels(&p, &a, &ls) == EM_OK)
                em_labels_format(&ls, &out);
            else
                em_buf_printf(&out, "labels-error %s", em_expfmt_error(&p));
            em_buf_putc(&out, ' ');
            dump_value(&out, v);
            if (has_ts)
                em_buf_printf(&out, " @%" PRId64, ts);
            double ev;
            bool eh;
            int64_t et;
            int rc = em_expfmt_exemplar(&p, &a, &ls, &ev, &eh, &et);
            if (rc == EM_OK) {
                em_buf_puts(&out, " ex:");
                em_labels_format(&ls, &out);
                em_buf_putc(&out, ' ');
                dump_value(&out, ev);
                if (eh)
                    em_buf_printf(&out, " @%" PRId64, et);
            } else if (rc != EM_ENOTFOUND) {
                em_buf_printf(&out, " ex-error %s", em_expfmt_error(&p));
            }
            em_buf_putc(&out, '\n');
            break;
        }
        case EM_EXPFMT_HELP:
            em_expfmt_help(&p, &s, &sn, &t, &tn);
            em_buf_puts(&out, "help ");
            em_buf_append(&out, s, sn);
            em_buf_putc(&out, '|');
            em_buf_append(&out, t, tn);
            em_buf_putc(&out, '\n');
            break;
        case EM_EXPFMT_TYPE: {
            em_expfmt_type_t ty = em_expfmt_type(&p, &s, &sn);
            em_buf_puts(&out, "type ");
            em_buf_append(&out, s, sn);
            em_buf_printf(&out, "|%s\n", em_expfmt_type_name(ty));
            break;
        }
        case EM_EXPFMT_UNIT:
            em_expfmt_unit(&p, &s, &sn, &t, &tn);
            em_buf_puts(&out, "unit ");
            em_buf_append(&out, s, sn);
            em_buf_putc(&out, '|');
            em_buf_append(&out, t, tn);
            em_buf_putc(&out, '\n');
            break;
        case EM_EXPFMT_COMMENT:
            em_expfmt_comment(&p, &t, &tn);
            em_buf_puts(&out, "comment ");
            em_buf_append(&out, t, tn);
            em_buf_putc(&out, '\n');
            break;
        default:
            em_buf_printf(&out, "unexpected kind %d\n", k);
        }
    }
    em_expfmt_parser_fini(&p);
    em_arena_fini(&a);
    if (!out.data)
        em_buf_puts(&out, "");
    size_t n;
    return em_buf_detach(&out, &n);
}

#endif
