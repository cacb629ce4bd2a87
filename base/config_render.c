/* Printing a loaded configuration back as YAML, as Prometheus's /api/v1/status/config does.
 * Design: see config.h and config_int.h.
 *
 * go-yaml's encoder is a port of libyaml's emitter, so emitting through libyaml gives the same layout
 * (two-space indent, sequences not indented under their key). What go-yaml adds on top is reproduced
 * here: a string that would read back as another type ("true", "y", "10", "1.5", "") is double-quoted,
 * a string with a newline uses the literal block style, omitempty fields are left out when zero, and
 * maps are printed in key order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_int.h"
#include "base/duration.h"
#include "base/mem.h"
#include "base/strconv.h"

typedef struct rend {
    yaml_emitter_t e;
    bool show_secrets;
    bool failed;
} rend_t;

static int write_cb(void *data, unsigned char *buf, size_t size)
{
    em_buf_append(data, buf, size);
    return 1;
}

/* yaml_emitter_emit owns the event once called; after a failure nothing more is emitted. */
static void emit(rend_t *r, yaml_event_t *ev)
{
    if (r->failed) {
        yaml_event_delete(ev);
        return;
    }
    if (!yaml_emitter_emit(&r->e, ev))
        r->failed = true;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* Would go-yaml read this plain scalar back as something other than a string? */
static bool looks_typed(const char *s)
{
    static const char *const words[] = {"",      "~",     "null",  "Null",  "NULL",  "y",    "Y",     "yes",
                                        "Yes",   "YES",   "n",     "N",     "no",    "No",   "NO",    "true",
                                        "True",  "TRUE",  "false", "False", "FALSE", "on",   "On",    "ON",
                                        "off",   "Off",   "OFF",   ".inf",  ".Inf",  ".INF", "-.inf", "-.Inf",
                                        "-.INF", "+.inf", "+.Inf", "+.INF", ".nan",  ".NaN", ".NAN"};
    for (size_t i = 0; i < EM_ARRAY_LEN(words); i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return false;
    /* Integers (with 0x/0o/0b prefixes and '_'), floats, base-60 numbers and dates all start with a digit
     * or '.', contain only these characters, and are quoted: a string such as "10" or "1:30". */
    if ((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')) {
        size_t n = strlen(p);
        bool numeric = true;
        for (size_t i = 0; i < n && numeric; i++)
            numeric = strchr("0123456789_.:eE+-xXoObBabcdefABCDEF", p[i]) != NULL;
        if (numeric)
            return true;
        /* A timestamp: YYYY-M-D followed by a time. */
        if (n >= 8 && all_digits(p, 4) && p[4] == '-')
            return true;
    }
    return false;
}

static char *valid_utf8(const char *s)
{
    size_t n = strlen(s);
    if (cfg_utf8_valid(s, n))
        return NULL;
    em_buf_t b = EM_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        size_t len = (unsigned char)s[i] < 0x80    ? 1
                     : (unsigned char)s[i] >= 0xf0 ? 4
                     : (unsigned char)s[i] >= 0xe0 ? 3
                                                   : 2;
        if (i + len <= n && cfg_utf8_valid(s + i, len)) {
            em_buf_append(&b, s + i, len);
            i += len - 1;
        } else {
            em_buf_puts(&b, "\xef\xbf\xbd");
        }
    }
    return em_buf_detach(&b, NULL);
}

static void scalar_style(rend_t *r, const char *s, yaml_scalar_style_t style)
{
    char *fixed = valid_utf8(s);
    const char *v = fixed ? fixed : s;
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1, style);
    emit(r, &ev);
    free(fixed);
}

/* A string value. */
static void str(rend_t *r, const char *s)
{
    s = s ? s : "";
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (strchr(s, '\n'))
        style = YAML_LITERAL_SCALAR_STYLE;
    else if (looks_typed(s))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    scalar_style(r, s, style);
}

/* A value that is meant to read back typed (numbers, booleans, durations). */
static void raw(rend_t *r, const char *s)
{
    scalar_style(r, s, YAML_PLAIN_SCALAR_STYLE);
}

static void map_start(rend_t *r)
{
    yaml_event_t ev;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    emit(r, &ev);
}

static void map_end(rend_t *r)
{
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    emit(r, &ev);
}

static void seq_start(rend_t *r, bool flow)
{
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                         flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    emit(r, &ev);
}

static void seq_end(rend_t *r)
{
    yaml_event_t ev;
    yaml_sequence_end_event_initialize(&ev);
    emit(r, &ev);
}

static void strs(rend_t *r, const em_config_strs_t *s, bool flow)
{
    seq_start(r, flow);
    for (size_t i = 0; i < s->n; i++)
        str(r, s->v[i]);
    seq_end(r);
}

/* Go's URL.Redacted: the password, if any, becomes "xxxxx". */
static void url(rend_t *r, const char *u)
{
    const char *auth = u ? strstr(u, "://") : NULL;
    if (!auth) {
        str(r, u);
        return;
    }
    auth += 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon || r->show_secrets) {
        str(r, u);
        return;
    }
    em_buf_t b = EM_BUF_INIT;
    em_buf_append(&b, u, (size_t)(colon + 1 - u));
    em_buf_puts(&b, "xxxxx");
    em_buf_puts(&b, at);
    str(r, b.data);
    em_buf_fini(&b);
}

static bool struct_zero(const cfg_type_t *t, const char *obj);

static bool field_zero(const cfg_field_t *f, const char *base)
{
    const char *p = base + f->off;
    switch ((cfg_kind_t)f->kind) {
    case CK_STR:
    case CK_SECRET:
    case CK_URL:
        return !*(char *const *)p || !**(char *const *)p;
    case CK_BOOL:
        return !*(const bool *)p;
    case CK_TRIBOOL:
        return *(const int8_t *)p < 0;
    case CK_DUR:
    case CK_INT:
    case CK_BYTES:
        return *(const int64_t *)p == 0;
    case CK_UINT:
        return *(const uint64_t *)p == 0;
    case CK_FLOAT:
        return *(const double *)p == 0;
    case CK_STRS:
    case CK_LABELNAMES:
        return ((const em_config_strs_t *)p)->n == 0;
    case CK_KVS:
    case CK_LABELS:
        return ((const em_config_kvs_t *)p)->n == 0;
    case CK_PARAMS:
        return ((const em_config_params_t *)p)->n == 0;
    case CK_TLSVER:
        return *(const em_tls_version_t *)p == EM_TLS_ANY;
    case CK_ACTION:
        return false;
    case CK_REGEX:
        return !((const em_relabel_config_t *)base)->regex_set;
    case CK_OBJ:
        return *(void *const *)p == NULL;
    case CK_EMBED:
        return struct_zero(f->sub, p);
    case CK_INLINE:
        return struct_zero(f->sub, p);
    case CK_GROUP:
        return struct_zero(f->sub, base);
    case CK_LIST:
        return *(const size_t *)(base + f->off_n) == 0;
    case CK_IGNORE:
    case CK_UNSUPPORTED:
        return true;
    }
    return true;
}

static bool struct_zero(const cfg_type_t *t, const char *obj)
{
    for (size_t i = 0; i < t->n_fields; i++)
        if (!field_zero(&t->fields[i], obj))
            return false;
    return true;
}

static void emit_struct(rend_t *r, const cfg_type_t *t, const char *obj);
static void emit_fields(rend_t *r, const cfg_type_t *t, const char *obj);

static void emit_kvs(rend_t *r, const em_config_kvs_t *m)
{
    map_start(r);
    for (size_t i = 0; i < m->n; i++) {
        str(r, m->v[i].name);
        str(r, m->v[i].value);
    }
    map_end(r);
}

static void emit_value(rend_t *r, const cfg_field_t *f, const char *base)
{
    const char *p = base + f->off;
    char num[EM_FLOAT_BUF];
    switch ((cfg_kind_t)f->kind) {
    case CK_STR:
        str(r, *(char *const *)p);
        break;
    case CK_SECRET:
        str(r, r->show_secrets ? *(char *const *)p : "<secret>");
        break;
    case CK_URL:
        url(r, *(char *const *)p);
        break;
    case CK_BOOL:
        raw(r, *(const bool *)p ? "true" : "false");
        break;
    case CK_TRIBOOL:
        raw(r, *(const int8_t *)p > 0 ? "true" : "false");
        break;
    case CK_DUR:
        em_duration_format(*(const int64_t *)p, num);
        raw(r, num);
        break;
    case CK_BYTES:
        em_bytes_format(*(const int64_t *)p, num);
        raw(r, num);
        break;
    case CK_INT:
        snprintf(num, sizeof(num), "%lld", (long long)*(const int64_t *)p);
        raw(r, num);
        break;
    case CK_UINT:
        snprintf(num, sizeof(num), "%llu", (unsigned long long)*(const uint64_t *)p);
        raw(r, num);
        break;
    case CK_FLOAT:
        em_fmt_float(*(const double *)p, 'g', num);
        raw(r, num);
        break;
    case CK_STRS:
        strs(r, (const em_config_strs_t *)p, false);
        break;
    case CK_LABELNAMES:
        strs(r, (const em_config_strs_t *)p, true);
        break;
    case CK_KVS:
    case CK_LABELS:
        emit_kvs(r, (const em_config_kvs_t *)p);
        break;
    case CK_PARAMS: {
        const em_config_params_t *m = (const em_config_params_t *)p;
        map_start(r);
        for (size_t i = 0; i < m->n; i++) {
            str(r, m->v[i].name);
            strs(r, &m->v[i].values, false);
        }
        map_end(r);
        break;
    }
    case CK_TLSVER: {
        static const char *const names[] = {"", "TLS10", "TLS11", "TLS12", "TLS13"};
        raw(r, names[*(const em_tls_version_t *)p]);
        break;
    }
    case CK_ACTION:
        str(r, em_relabel_action_name(*(const em_relabel_action_t *)p));
        break;
    case CK_REGEX:
        str(r, ((const em_relabel_config_t *)base)->regex_src);
        break;
    case CK_OBJ:
        emit_struct(r, f->sub, *(const char *const *)p);
        break;
    case CK_EMBED:
        emit_struct(r, f->sub, p);
        break;
    case CK_GROUP:
        emit_struct(r, f->sub, base);
        break;
    case CK_LIST: {
        const char *const *arr = *(const char *const *const *)p;
        size_t n = *(const size_t *)(base + f->off_n);
        seq_start(r, false);
        for (size_t i = 0; i < n; i++)
            emit_struct(r, f->sub, arr[i]);
        seq_end(r);
        break;
    }
    case CK_INLINE:
    case CK_IGNORE:
    case CK_UNSUPPORTED:
        break;
    }
}

static void emit_fields(rend_t *r, const cfg_type_t *t, const char *obj)
{
    for (size_t i = 0; i < t->n_fields; i++) {
        const cfg_field_t *f = &t->fields[i];
        if (f->kind == CK_INLINE) {
            emit_fields(r, f->sub, obj + f->off);
            continue;
        }
        if (f->kind == CK_IGNORE || f->kind == CK_UNSUPPORTED)
            continue;
        if ((f->flags & CF_OMITEMPTY) && field_zero(f, obj))
            continue;
        raw(r, f->key);
        emit_value(r, f, obj);
    }
}

static void emit_struct(rend_t *r, const cfg_type_t *t, const char *obj)
{
    map_start(r);
    emit_fields(r, t, obj);
    map_end(r);
}

void cfg_render_struct_yaml(const cfg_type_t *t, const void *obj, bool show_secrets, em_buf_t *out)
{
    rend_t r = {.show_secrets = show_secrets};
    if (!yaml_emitter_initialize(&r.e)) {
        em_buf_puts(out, "# cannot initialise the YAML emitter\n");
        return;
    }
    yaml_emitter_set_output(&r.e, write_cb, out);
    yaml_emitter_set_unicode(&r.e, 1);
    yaml_emitter_set_width(&r.e, -1);
    yaml_emitter_set_indent(&r.e, 2);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(&r, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    emit(&r, &ev);
    emit_struct(&r, t, obj);
    yaml_document_end_event_initialize(&ev, 1);
    emit(&r, &ev);
    yaml_stream_end_event_initialize(&ev);
    emit(&r, &ev);
    yaml_emitter_flush(&r.e);
    if (r.failed)
        em_buf_printf(out, "# YAML emitter error: %s\n", r.e.problem ? r.e.problem : "unknown");
    yaml_emitter_delete(&r.e);
}

void em_config_render_yaml(const em_config_t *cfg, em_buf_t *out)
{
    cfg_render_struct_yaml(&cfg_type_config, cfg, false, out);
}
