/* The generic YAML-to-struct walker of the configuration parser. Design: see config.h and config_int.h. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_int.h"
#include "base/duration.h"
#include "base/mem.h"

/* ---------------------------------------------------------------------------------------------- */
/* Errors and paths                                                                                 */

static int failv(cfg_ctx_t *c, const yaml_node_t *node, bool with_path, const char *fmt, va_list ap)
{
    char msg[EM_ERR_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    char pos[64] = "";
    if (node)
        snprintf(pos, sizeof(pos), ":%zu:%zu", node->start_mark.line + 1, node->start_mark.column + 1);
    if (with_path && c->path.len > 0)
        return em_err_set(c->err, EM_EINVAL, "%s%s: %s (%s)", c->file, pos, msg, c->path.data);
    return em_err_set(c->err, EM_EINVAL, "%s%s: %s", c->file, pos, msg);
}

int cfg_fail(cfg_ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, node, false, fmt, ap);
    va_end(ap);
    return rc;
}

int cfg_failp(cfg_ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, node, true, fmt, ap);
    va_end(ap);
    return rc;
}

/* Go's strconv.Quote: printable runes as they are, the usual escapes, \xNN for bad bytes. */
static size_t go_quote(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    const size_t limit = cap - 8; /* room for an escape, the closing quote and NUL */
    out[o++] = '"';
    for (size_t i = 0; i < n && o < limit; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        switch (ch) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\a':
            esc = "\\a";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\v':
            esc = "\\v";
            break;
        default:
            break;
        }
        if (esc) {
            o += (size_t)snprintf(out + o, cap - o, "%s", esc);
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        } else if (ch >= 0x80) {
            /* Keep a valid UTF-8 sequence whole; escape a bad byte. */
            size_t len = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 0;
            if (len && i + len <= n && cfg_utf8_valid(s + i, len) && o + len < limit) {
                memcpy(out + o, s + i, len);
                o += len;
                i += len - 1;
            } else {
                o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
            }
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

const char *cfg_q(cfg_ctx_t *c, const char *s)
{
    char *b = c->qbuf[c->qnext];
    c->qnext = (c->qnext + 1) % 4;
    go_quote(s ? s : "", s ? strlen(s) : 0, b, sizeof(c->qbuf[0]));
    return b;
}

void cfg_path_push_key(cfg_ctx_t *c, const char *key, size_t *saved)
{
    *saved = c->path.len;
    if (c->path.len)
        em_buf_putc(&c->path, '.');
    em_buf_puts(&c->path, key);
}

void cfg_path_push_index(cfg_ctx_t *c, size_t i, size_t *saved)
{
    *saved = c->path.len;
    em_buf_printf(&c->path, "[%zu]", i);
}

void cfg_path_pop(cfg_ctx_t *c, size_t saved)
{
    c->path.len = saved;
    if (c->path.data)
        c->path.data[saved] = '\0';
}

/* ---------------------------------------------------------------------------------------------- */
/* Scalars                                                                                          */

bool cfg_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c0 = *p;
        if (c0 < 0x80) {
            p++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c0 & 0xe0) == 0xc0) {
            len = 2;
            cp = c0 & 0x1f;
        } else if ((c0 & 0xf0) == 0xe0) {
            len = 3;
            cp = c0 & 0x0f;
        } else if ((c0 & 0xf8) == 0xf0) {
            len = 4;
            cp = c0 & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < len)
            return false;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += len;
    }
    return true;
}

bool cfg_label_name_valid(const char *s)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

static bool plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool seq_eq(const yaml_node_t *n, const char *s)
{
    return slen(n) == strlen(s) && memcmp(sval(n), s, slen(n)) == 0;
}

bool cfg_is_null(const yaml_node_t *n)
{
    if (!n)
        return true;
    if (!plain(n))
        return false;
    return slen(n) == 0 || seq_eq(n, "~") || seq_eq(n, "null") || seq_eq(n, "Null") || seq_eq(n, "NULL");
}

typedef enum { R_NULL, R_BOOL, R_INT, R_FLOAT, R_STR } res_t;

static int resolve_bool(const yaml_node_t *n)
{
    static const char *const yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on",  "On",  "ON"};
    static const char *const no[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                     "False", "FALSE", "off", "Off", "OFF"};
    for (size_t i = 0; i < EM_ARRAY_LEN(yes); i++) {
        if (seq_eq(n, yes[i]))
            return 1;
        if (seq_eq(n, no[i]))
            return 0;
    }
    return -1;
}

/* Go's strconv.ParseInt(s, 0, 64) as go-yaml uses it: sign, 0x / 0o / 0b / leading-0 octal, '_'. */
static bool parse_go_int(const char *s, size_t n, bool *neg, uint64_t *mag)
{
    size_t i = 0;
    *neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        *neg = s[i++] == '-';
    if (i >= n)
        return false;
    unsigned base = 10;
    if (n - i > 1 && s[i] == '0') {
        char p = (char)tolower((unsigned char)s[i + 1]);
        if (p == 'x' || p == 'o' || p == 'b') {
            base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
            i += 2;
        } else {
            base = 8;
            i++;
        }
    }
    uint64_t v = 0;
    bool digits = false;
    for (; i < n; i++) {
        if (s[i] == '_')
            continue;
        int d = isdigit((unsigned char)s[i])    ? s[i] - '0'
                : isxdigit((unsigned char)s[i]) ? tolower((unsigned char)s[i]) - 'a' + 10
                                                : 99;
        if (d >= (int)base)
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return false;
        v = v * base + (uint64_t)d;
        digits = true;
    }
    *mag = v;
    return digits || base == 8;
}

/* go-yaml's float form: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? and the .inf/.nan words. */
static bool parse_yaml_float(const char *s, size_t n, double *out)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF"};
    static const char *const nan_[] = {".nan", ".NaN", ".NAN"};
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (size_t k = 0; k < 3; k++) {
        if (n - i == 4 && memcmp(s + i, inf[k], 4) == 0) {
            *out = neg ? -INFINITY : INFINITY;
            return true;
        }
        if (i == 0 && n == 4 && memcmp(s, nan_[k], 4) == 0) {
            *out = NAN;
            return true;
        }
    }
    size_t d0 = i;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    size_t int_digits = i - d0;
    size_t frac_digits = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        frac_digits = i - f0;
    }
    if (int_digits == 0 && frac_digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == e0)
            return false;
    }
    if (i != n || n >= 64)
        return false;
    char tmp[64];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
    return true;
}

static res_t resolve(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || !plain(n))
        return R_STR;
    if (cfg_is_null(n))
        return R_NULL;
    if (resolve_bool(n) >= 0)
        return R_BOOL;
    bool neg;
    uint64_t mag;
    if (parse_go_int(sval(n), slen(n), &neg, &mag))
        return R_INT;
    double d;
    if (parse_yaml_float(sval(n), slen(n), &d))
        return R_FLOAT;
    return R_STR;
}

static const char *tag_name(const yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE)
        return "!!map";
    if (n->type == YAML_SEQUENCE_NODE)
        return "!!seq";
    switch (resolve(n)) {
    case R_NULL:
        return "!!null";
    case R_BOOL:
        return "!!bool";
    case R_INT:
        return "!!int";
    case R_FLOAT:
        return "!!float";
    default:
        return "!!str";
    }
}

/* "cannot unmarshal !!str `abc` into a boolean" in go-yaml's words. */
static int type_error(cfg_ctx_t *c, const yaml_node_t *n, const char *into)
{
    if (n->type == YAML_SCALAR_NODE) {
        char shown[64];
        size_t len = slen(n) < 40 ? slen(n) : 40;
        memcpy(shown, sval(n), len);
        shown[len] = '\0';
        return cfg_failp(c, n, "cannot unmarshal %s `%s%s` into %s", tag_name(n), shown,
                         slen(n) > 40 ? "..." : "", into);
    }
    return cfg_failp(c, n, "cannot unmarshal %s into %s", tag_name(n), into);
}

/* ---------------------------------------------------------------------------------------------- */
/* Nodes, mappings and merge keys                                                                   */

yaml_node_t *cfg_node(cfg_ctx_t *c, int index)
{
    return yaml_document_get_node(c->doc, index);
}

/* Count one node read; a document whose aliases expand it past the bounds is refused. */
static int visit(cfg_ctx_t *c, const yaml_node_t *n)
{
    if (++c->visits > CFG_MAX_VISITS)
        return cfg_fail(c, n, "document too large: more than %u nodes", CFG_MAX_VISITS);
    size_t total = (size_t)(c->doc->nodes.top - c->doc->nodes.start);
    size_t idx = (size_t)(n - c->doc->nodes.start);
    if (idx >= total)
        return EM_OK;
    if (!c->seen)
        c->seen = em_calloc(total, 1);
    if (c->seen[idx] && ++c->revisits > CFG_MAX_REVISITS)
        return cfg_fail(c, n, "document too large: aliases expand to more than %u nodes", CFG_MAX_REVISITS);
    c->seen[idx] = 1;
    return EM_OK;
}

typedef struct pair {
    yaml_node_t *k, *v;
    bool merged;
    bool drop;
} pair_t;

typedef struct pairs {
    pair_t *v;
    size_t n, cap;
} pairs_t;

static int collect(cfg_ctx_t *c, yaml_node_t *map, pairs_t *ps, bool merged, int depth);

static int merge_one(cfg_ctx_t *c, yaml_node_t *val, pairs_t *ps, int depth)
{
    if (val && val->type == YAML_MAPPING_NODE)
        return collect(c, val, ps, true, depth + 1);
    if (val && val->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++) {
            yaml_node_t *m = cfg_node(c, *it);
            if (!m || m->type != YAML_MAPPING_NODE)
                return cfg_failp(c, m ? m : val, "map merge requires map or sequence of maps as the value");
            int rc = collect(c, m, ps, true, depth + 1);
            if (rc)
                return rc;
        }
        return EM_OK;
    }
    return cfg_failp(c, val, "map merge requires map or sequence of maps as the value");
}

static int collect(cfg_ctx_t *c, yaml_node_t *map, pairs_t *ps, bool merged, int depth)
{
    if (depth > CFG_MAX_DEPTH)
        return cfg_fail(c, map, "document nested too deeply (more than %d levels)", CFG_MAX_DEPTH);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        if (!k || !v)
            return cfg_fail(c, map, "malformed mapping");
        int rc = visit(c, k);
        if (rc)
            return rc;
        if (k->type == YAML_SCALAR_NODE && plain(k) && seq_eq(k, "<<")) {
            rc = merge_one(c, v, ps, depth);
            if (rc)
                return rc;
            continue;
        }
        if (k->type != YAML_SCALAR_NODE)
            return type_error(c, k, "a string (mapping key)");
        em_grow((void **)&ps->v, &ps->cap, ps->n + 1, sizeof(pair_t));
        ps->v[ps->n++] = (pair_t){k, v, merged, false};
    }
    return EM_OK;
}

static int key_cmp(const yaml_node_t *a, const yaml_node_t *b)
{
    size_t n = slen(a) < slen(b) ? slen(a) : slen(b);
    int r = memcmp(sval(a), sval(b), n);
    return r ? r : (slen(a) > slen(b)) - (slen(a) < slen(b));
}

static int idx_cmp(const void *x, const void *y, void *arg)
{
    const pair_t *base = arg;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    int r = key_cmp(base[i].k, base[j].k);
    return r ? r : (i > j) - (i < j);
}

/* The effective pairs of a mapping: explicit keys (which must be unique) and merged keys not given
 * explicitly, in document order. The caller frees ps->v. */
static int effective_pairs(cfg_ctx_t *c, yaml_node_t *map, pairs_t *ps)
{
    int rc = collect(c, map, ps, false, c->depth);
    if (rc || ps->n < 2)
        return rc;
    size_t *idx = em_malloc(ps->n * sizeof(size_t));
    for (size_t i = 0; i < ps->n; i++)
        idx[i] = i;
    qsort_r(idx, ps->n, sizeof(size_t), idx_cmp, ps->v);
    for (size_t g = 0; g < ps->n && !rc;) {
        size_t e = g + 1;
        while (e < ps->n && key_cmp(ps->v[idx[g]].k, ps->v[idx[e]].k) == 0)
            e++;
        size_t keep = SIZE_MAX;
        for (size_t i = g; i < e; i++) {
            pair_t *p = &ps->v[idx[i]];
            if (!p->merged && keep != SIZE_MAX && !ps->v[keep].merged) {
                rc = cfg_fail(c, p->k, "key %s already set in map%s%s%s", cfg_q(c, sval(p->k)),
                              c->path.len ? " (" : "", c->path.len ? c->path.data : "",
                              c->path.len ? ")" : "");
                break;
            }
            if (keep == SIZE_MAX || (!p->merged && ps->v[keep].merged))
                keep = idx[i];
        }
        for (size_t i = g; i < e; i++)
            ps->v[idx[i]].drop = idx[i] != keep;
        g = e;
    }
    free(idx);
    return rc;
}

yaml_node_t *cfg_find(cfg_ctx_t *c, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    yaml_node_t *merged = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            continue;
        if (seq_eq(k, key))
            return v;
        if (!merged && plain(k) && seq_eq(k, "<<") && v->type == YAML_MAPPING_NODE && v != map)
            merged = v;
    }
    /* One level of merge is enough for positions in messages. */
    if (merged) {
        for (yaml_node_pair_t *p = merged->data.mapping.pairs.start; p < merged->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = cfg_node(c, p->key);
            if (k && k->type == YAML_SCALAR_NODE && seq_eq(k, key))
                return cfg_node(c, p->value);
        }
    }
    return NULL;
}

const char *cfg_find_str(cfg_ctx_t *c, yaml_node_t *map, const char *key)
{
    yaml_node_t *v = cfg_find(c, map, key);
    if (!v || v->type != YAML_SCALAR_NODE || cfg_is_null(v))
        return NULL;
    return sval(v);
}

/* ---------------------------------------------------------------------------------------------- */
/* Field readers                                                                                    */

static int read_str(cfg_ctx_t *c, yaml_node_t *v, char **out)
{
    free(*out);
    *out = NULL;
    if (cfg_is_null(v))
        return EM_OK;
    if (v->type != YAML_SCALAR_NODE)
        return type_error(c, v, "a string");
    *out = em_strndup(sval(v), slen(v));
    return EM_OK;
}

static int read_bool(cfg_ctx_t *c, yaml_node_t *v, int *out)
{
    if (cfg_is_null(v)) {
        *out = -1;
        return EM_OK;
    }
    int b = v->type == YAML_SCALAR_NODE && plain(v) ? resolve_bool(v) : -1;
    if (b < 0)
        return type_error(c, v, "a boolean");
    *out = b;
    return EM_OK;
}

static int read_int(cfg_ctx_t *c, yaml_node_t *v, bool is_unsigned, int64_t *sv, uint64_t *uv)
{
    *sv = 0;
    *uv = 0;
    if (cfg_is_null(v))
        return EM_OK;
    const char *what = is_unsigned ? "an unsigned integer" : "an integer";
    if (v->type != YAML_SCALAR_NODE || !plain(v))
        return type_error(c, v, what);
    bool neg;
    uint64_t mag;
    res_t r = resolve(v);
    if (r == R_INT && parse_go_int(sval(v), slen(v), &neg, &mag)) {
        if (is_unsigned && neg && mag != 0)
            return type_error(c, v, what);
        if (!is_unsigned && mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
            return type_error(c, v, what);
        *uv = mag;
        *sv = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        return EM_OK;
    }
    double d;
    /* go-yaml stores an integral float into an integer field. */
    if (r == R_FLOAT && parse_yaml_float(sval(v), slen(v), &d) && d == floor(d) &&
        d >= (is_unsigned ? 0 : -9.2e18) && d < 9.2e18) {
        *sv = (int64_t)d;
        *uv = (uint64_t)(d < 0 ? 0 : d);
        return EM_OK;
    }
    return type_error(c, v, what);
}

static int read_float(cfg_ctx_t *c, yaml_node_t *v, double *out)
{
    *out = 0;
    if (cfg_is_null(v))
        return EM_OK;
    res_t r = resolve(v);
    bool neg;
    uint64_t mag;
    if (r == R_INT && parse_go_int(sval(v), slen(v), &neg, &mag)) {
        *out = neg ? -(double)mag : (double)mag;
        return EM_OK;
    }
    if (r == R_FLOAT && parse_yaml_float(sval(v), slen(v), out))
        return EM_OK;
    return type_error(c, v, "a number");
}

/* A scalar's text for types that go-yaml reads through a string (durations, sizes, enums). */
static int read_text(cfg_ctx_t *c, yaml_node_t *v, const char **s, size_t *n)
{
    if (v->type != YAML_SCALAR_NODE)
        return type_error(c, v, "a string");
    *s = sval(v);
    *n = slen(v);
    return EM_OK;
}

static void strs_fini(em_config_strs_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

void em_config_strs_fini(em_config_strs_t *s)
{
    if (s)
        strs_fini(s);
}

static void kvs_fini(em_config_kvs_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].value);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

static void params_fini(em_config_params_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        strs_fini(&m->v[i].values);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

static int read_strs(cfg_ctx_t *c, yaml_node_t *v, em_config_strs_t *out, bool label_names)
{
    strs_fini(out);
    if (cfg_is_null(v))
        return EM_OK;
    if (v->type != YAML_SEQUENCE_NODE)
        return type_error(c, v, "a list of strings");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    out->v = em_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cfg_node(c, v->data.sequence.items.start[i]);
        int rc = visit(c, it);
        if (rc)
            return rc;
        rc = read_str(c, it, &out->v[out->n]);
        if (rc)
            return rc;
        if (!out->v[out->n])
            out->v[out->n] = em_strdup("");
        out->n++;
        if (label_names && !cfg_label_name_valid(out->v[out->n - 1]))
            return cfg_failp(c, it, "%s is not a valid label name", cfg_q(c, out->v[out->n - 1]));
    }
    return EM_OK;
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const em_config_kv_t *)a)->name, ((const em_config_kv_t *)b)->name);
}

static int read_kvs(cfg_ctx_t *c, yaml_node_t *v, em_config_kvs_t *out, bool labels)
{
    kvs_fini(out);
    if (cfg_is_null(v))
        return EM_OK;
    if (v->type != YAML_MAPPING_NODE)
        return type_error(c, v, "a mapping of strings");
    pairs_t ps = {0};
    int rc = effective_pairs(c, v, &ps);
    if (rc)
        goto out;
    out->v = em_calloc(ps.n ? ps.n : 1, sizeof(em_config_kv_t));
    for (size_t i = 0; i < ps.n; i++) {
        if (ps.v[i].drop)
            continue;
        em_config_kv_t *kv = &out->v[out->n];
        kv->name = em_strndup(sval(ps.v[i].k), slen(ps.v[i].k));
        out->n++;
        if ((rc = visit(c, ps.v[i].v)) || (rc = read_str(c, ps.v[i].v, &kv->value)))
            goto out;
        if (!kv->value)
            kv->value = em_strdup("");
        if (labels && !cfg_label_name_valid(kv->name)) {
            rc = cfg_failp(c, ps.v[i].k, "%s is not a valid label name", cfg_q(c, kv->name));
            goto out;
        }
        if (labels && !cfg_utf8_valid(kv->value, strlen(kv->value))) {
            rc = cfg_failp(c, ps.v[i].v, "%s is not a valid label value", cfg_q(c, kv->value));
            goto out;
        }
    }
    em_qsort(out->v, out->n, sizeof(em_config_kv_t), kv_cmp);
out:
    free(ps.v);
    return rc;
}

static int param_cmp(const void *a, const void *b)
{
    return strcmp(((const em_config_param_t *)a)->name, ((const em_config_param_t *)b)->name);
}

static int read_params(cfg_ctx_t *c, yaml_node_t *v, em_config_params_t *out)
{
    params_fini(out);
    if (cfg_is_null(v))
        return EM_OK;
    if (v->type != YAML_MAPPING_NODE)
        return type_error(c, v, "a mapping of string lists");
    pairs_t ps = {0};
    int rc = effective_pairs(c, v, &ps);
    if (rc)
        goto out;
    out->v = em_calloc(ps.n ? ps.n : 1, sizeof(em_config_param_t));
    for (size_t i = 0; i < ps.n; i++) {
        if (ps.v[i].drop)
            continue;
        em_config_param_t *p = &out->v[out->n++];
        p->name = em_strndup(sval(ps.v[i].k), slen(ps.v[i].k));
        if ((rc = read_strs(c, ps.v[i].v, &p->values, false)))
            goto out;
    }
    em_qsort(out->v, out->n, sizeof(em_config_param_t), param_cmp);
out:
    free(ps.v);
    return rc;
}

static int read_tlsver(cfg_ctx_t *c, yaml_node_t *v, em_tls_version_t *out)
{
    static const char *const names[] = {"", "TLS10", "TLS11", "TLS12", "TLS13"};
    *out = EM_TLS_ANY;
    if (cfg_is_null(v))
        return EM_OK;
    const char *s = "";
    size_t n = 0;
    int rc = read_text(c, v, &s, &n);
    if (rc)
        return rc;
    for (int i = 1; i < 5; i++)
        if (seq_eq(v, names[i])) {
            *out = (em_tls_version_t)i;
            return EM_OK;
        }
    return cfg_failp(c, v, "unknown TLS version: %.*s", (int)(n > 64 ? 64 : n), s);
}

static const char *const action_names[] = {"replace",   "keep",      "drop",     "keepequal",
                                           "dropequal", "hashmod",   "labelmap", "labeldrop",
                                           "labelkeep", "lowercase", "uppercase"};

const char *em_relabel_action_name(em_relabel_action_t a)
{
    return (unsigned)a < EM_ARRAY_LEN(action_names) ? action_names[a] : "unknown";
}

static int read_action(cfg_ctx_t *c, yaml_node_t *v, em_relabel_action_t *out)
{
    *out = EM_RELABEL_REPLACE;
    const char *s = "";
    size_t n = 0;
    if (!cfg_is_null(v)) {
        int rc = read_text(c, v, &s, &n);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < EM_ARRAY_LEN(action_names); i++) {
        if (strlen(action_names[i]) == n && strncasecmp(action_names[i], s, n) == 0) {
            *out = (em_relabel_action_t)i;
            return EM_OK;
        }
    }
    char *tmp = em_strndup(s, n);
    int rc = cfg_failp(c, v, "unknown relabel action %s", cfg_q(c, tmp));
    free(tmp);
    return rc;
}

static int read_regex(cfg_ctx_t *c, yaml_node_t *v, em_relabel_config_t *rl)
{
    free(rl->regex_src);
    em_regex_free(rl->regex);
    rl->regex = NULL;
    rl->regex_src = NULL;
    rl->regex_set = true;
    int rc = read_str(c, v, &rl->regex_src);
    if (rc)
        return rc;
    if (!rl->regex_src)
        rl->regex_src = em_strdup(""); /* Prometheus: a null regex is the empty regex */
    em_err_t e;
    if (em_regex_compile(rl->regex_src, strlen(rl->regex_src), &rl->regex, &e) != EM_OK)
        return cfg_failp(c, v, "%s", e.msg);
    return EM_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* The walker                                                                                       */

static void free_field(const cfg_field_t *f, char *base);

static int parse_list(cfg_ctx_t *c, const cfg_field_t *f, char *base, yaml_node_t *v)
{
    void ***arr = (void ***)(base + f->off);
    size_t *count = (size_t *)(base + f->off_n);
    free_field(f, base);
    if (cfg_is_null(v))
        return EM_OK;
    if (v->type != YAML_SEQUENCE_NODE)
        return type_error(c, v, "a list");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    *arr = em_calloc(n ? n : 1, sizeof(void *));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = cfg_node(c, v->data.sequence.items.start[i]);
        size_t saved;
        cfg_path_push_index(c, i, &saved);
        int rc = visit(c, it);
        if (!rc && cfg_is_null(it)) {
            if (f->null_msg)
                rc = cfg_failp(c, it, "%s", f->null_msg);
            else
                rc = cfg_failp(c, it, "empty or null section in %s", f->key);
        }
        if (!rc && it->type != YAML_MAPPING_NODE)
            rc = type_error(c, it, "a mapping");
        if (!rc) {
            void *obj = em_malloc(f->sub->size);
            cfg_init_struct(f->sub, obj);
            (*arr)[(*count)++] = obj;
            rc = cfg_parse_struct(c, f->sub, obj, it);
        }
        cfg_path_pop(c, saved);
        if (rc)
            return rc;
    }
    return EM_OK;
}

static int parse_field(cfg_ctx_t *c, const cfg_field_t *f, char *base, yaml_node_t *v)
{
    void *p = base + f->off;
    int rc = EM_OK, b;
    int64_t sv;
    uint64_t uv;
    const char *s = "";
    size_t n = 0;
    em_err_t e;
    switch ((cfg_kind_t)f->kind) {
    case CK_STR:
    case CK_SECRET:
    case CK_URL:
        return read_str(c, v, (char **)p);
    case CK_BOOL:
        rc = read_bool(c, v, &b);
        *(bool *)p = b == 1;
        return rc;
    case CK_TRIBOOL:
        rc = read_bool(c, v, &b);
        *(int8_t *)p = (int8_t)b;
        return rc;
    case CK_DUR:
        *(int64_t *)p = 0;
        if (cfg_is_null(v))
            return EM_OK;
        if ((rc = read_text(c, v, &s, &n)))
            return rc;
        if (em_duration_parse(s, n, (int64_t *)p, &e) != EM_OK)
            return cfg_failp(c, v, "%s", e.msg);
        return EM_OK;
    case CK_BYTES:
        *(int64_t *)p = 0;
        if (cfg_is_null(v))
            return EM_OK;
        if ((rc = read_text(c, v, &s, &n)))
            return rc;
        if (em_bytes_parse(s, n, (int64_t *)p, &e) != EM_OK)
            return cfg_failp(c, v, "%s", e.msg);
        return EM_OK;
    case CK_UINT:
        rc = read_int(c, v, true, &sv, &uv);
        *(uint64_t *)p = uv;
        return rc;
    case CK_INT:
        rc = read_int(c, v, false, &sv, &uv);
        *(int64_t *)p = sv;
        return rc;
    case CK_FLOAT:
        return read_float(c, v, (double *)p);
    case CK_STRS:
        return read_strs(c, v, p, false);
    case CK_LABELNAMES:
        return read_strs(c, v, p, true);
    case CK_KVS:
        return read_kvs(c, v, p, false);
    case CK_LABELS:
        return read_kvs(c, v, p, true);
    case CK_PARAMS:
        return read_params(c, v, p);
    case CK_TLSVER:
        return read_tlsver(c, v, p);
    case CK_ACTION:
        return read_action(c, v, p);
    case CK_REGEX:
        return read_regex(c, v, (em_relabel_config_t *)base);
    case CK_OBJ: {
        void **obj = p;
        free_field(f, base);
        if (cfg_is_null(v))
            return EM_OK;
        if (v->type != YAML_MAPPING_NODE)
            return type_error(c, v, "a mapping");
        *obj = em_malloc(f->sub->size);
        cfg_init_struct(f->sub, *obj);
        return cfg_parse_struct(c, f->sub, *obj, v);
    }
    case CK_EMBED:
    case CK_GROUP: {
        void *obj = f->kind == CK_GROUP ? (void *)base : p;
        if (cfg_is_null(v)) { /* go-yaml: null sets the zero value */
            if (f->kind == CK_EMBED) {
                cfg_free_struct(f->sub, obj);
                memset(obj, 0, f->sub->size);
            } else {
                for (size_t i = 0; i < f->sub->n_fields; i++)
                    free_field(&f->sub->fields[i], base);
            }
            return EM_OK;
        }
        if (v->type != YAML_MAPPING_NODE)
            return type_error(c, v, "a mapping");
        return cfg_parse_struct(c, f->sub, obj, v);
    }
    case CK_LIST:
        return parse_list(c, f, base, v);
    case CK_IGNORE:
        return EM_OK;
    case CK_UNSUPPORTED: {
        if (cfg_is_null(v))
            return EM_OK;
        const char *dot = strrchr(c->path.data, '.'); /* the path ends with this key */
        if (dot)
            return cfg_fail(c, v, "%.*s: %s is not supported by ember", (int)(dot - c->path.data),
                            c->path.data, f->key);
        return cfg_fail(c, v, "%s is not supported by ember", f->key);
    }
    case CK_INLINE:
        break;
    }
    return EM_OK;
}

/* The field for 'key' in t, looking through inlined structs; *base_out is the struct holding it. */
static const cfg_field_t *find_field(const cfg_type_t *t, char *obj, const yaml_node_t *key, char **base_out)
{
    for (size_t i = 0; i < t->n_fields; i++) {
        const cfg_field_t *f = &t->fields[i];
        if (f->kind == CK_INLINE) {
            const cfg_field_t *g = find_field(f->sub, obj + f->off, key, base_out);
            if (g)
                return g;
        } else if (seq_eq(key, f->key)) {
            *base_out = obj;
            return f;
        }
    }
    return NULL;
}

/* Every service discovery mechanism Prometheus knows (discovery/ *), so that a config written for
 * Prometheus gets "not supported" rather than "unknown field". */
static const char *const sd_names[] = {
    "aws",   "azure",      "consul",      "digitalocean", "docker",   "dockerswarm", "dns",
    "ec2",   "ecs",        "elasticache", "eureka",       "gce",      "hetzner",     "http",
    "ionos", "kubernetes", "kuma",        "lightsail",    "linode",   "marathon",    "msk",
    "nerve", "nomad",      "oci",         "openstack",    "outscale", "ovhcloud",    "puppetdb",
    "rds",   "scaleway",   "serverset",   "stackit",      "triton",   "uyuni",       "vultr",
};

static bool known_sd(const yaml_node_t *key)
{
    static const char suffix[] = "_sd_configs";
    size_t n = slen(key), sl = sizeof(suffix) - 1;
    if (n <= sl || memcmp(sval(key) + n - sl, suffix, sl) != 0)
        return false;
    for (size_t i = 0; i < EM_ARRAY_LEN(sd_names); i++)
        if (strlen(sd_names[i]) == n - sl && memcmp(sd_names[i], sval(key), n - sl) == 0)
            return true;
    return false;
}

static int unknown_key(cfg_ctx_t *c, const cfg_type_t *t, yaml_node_t *map, yaml_node_t *key)
{
    char *k = em_strndup(sval(key), slen(key));
    int rc;
    if (t->sd_owner && known_sd(key)) {
        const char *job = cfg_find_str(c, map, "job_name");
        if (job)
            rc = cfg_fail(c, key,
                          "%s (job %s): %s is not supported by ember; use file_sd_configs or static_configs",
                          c->path.data, cfg_q(c, job), k);
        else
            rc = cfg_fail(c, key, "%s: %s is not supported by ember; use file_sd_configs or static_configs",
                          c->path.data, k);
    } else if (c->path.len) {
        rc = cfg_fail(c, key, "unknown field %s in %s", cfg_q(c, k), c->path.data);
    } else {
        rc = cfg_fail(c, key, "unknown field %s", cfg_q(c, k));
    }
    free(k);
    return rc;
}

int cfg_parse_struct(cfg_ctx_t *c, const cfg_type_t *t, void *obj, yaml_node_t *node)
{
    if (cfg_is_null(node))
        return t->check ? t->check(c, obj, node) : EM_OK;
    if (node->type != YAML_MAPPING_NODE)
        return type_error(c, node, "a mapping");
    if (++c->depth > CFG_MAX_DEPTH) {
        c->depth--;
        return cfg_fail(c, node, "document nested too deeply (more than %d levels)", CFG_MAX_DEPTH);
    }
    pairs_t ps = {0};
    int rc = effective_pairs(c, node, &ps);
    for (size_t i = 0; i < ps.n && !rc; i++) {
        if (ps.v[i].drop)
            continue;
        char *base;
        const cfg_field_t *f = find_field(t, obj, ps.v[i].k, &base);
        if (!f) {
            rc = unknown_key(c, t, node, ps.v[i].k);
            break;
        }
        size_t saved;
        cfg_path_push_key(c, f->key, &saved);
        rc = visit(c, ps.v[i].v);
        if (!rc)
            rc = parse_field(c, f, base, ps.v[i].v);
        if (!rc && f->check)
            rc = f->check(c, base + f->off, ps.v[i].v);
        cfg_path_pop(c, saved);
    }
    free(ps.v);
    c->depth--;
    if (!rc && t->check)
        rc = t->check(c, obj, node);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- */
/* Init, free, directories                                                                          */

static void init_rec(const cfg_type_t *t, char *obj)
{
    for (size_t i = 0; i < t->n_fields; i++) {
        const cfg_field_t *f = &t->fields[i];
        if (f->kind == CK_EMBED || f->kind == CK_INLINE)
            init_rec(f->sub, obj + f->off);
        else if (f->kind == CK_GROUP)
            init_rec(f->sub, obj);
        else if (f->kind == CK_TRIBOOL)
            *(int8_t *)(obj + f->off) = -1;
    }
    if (t->init)
        t->init(obj);
}

void cfg_init_struct(const cfg_type_t *t, void *obj)
{
    memset(obj, 0, t->size);
    init_rec(t, obj);
}

static void free_field(const cfg_field_t *f, char *base)
{
    void *p = base + f->off;
    switch ((cfg_kind_t)f->kind) {
    case CK_STR:
    case CK_SECRET:
    case CK_URL:
        free(*(char **)p);
        *(char **)p = NULL;
        break;
    case CK_STRS:
    case CK_LABELNAMES:
        strs_fini(p);
        break;
    case CK_KVS:
    case CK_LABELS:
        kvs_fini(p);
        break;
    case CK_PARAMS:
        params_fini(p);
        break;
    case CK_REGEX: {
        em_relabel_config_t *rl = (em_relabel_config_t *)base;
        free(rl->regex_src);
        em_regex_free(rl->regex);
        rl->regex_src = NULL;
        rl->regex = NULL;
        break;
    }
    case CK_OBJ:
        if (*(void **)p) {
            cfg_free_struct(f->sub, *(void **)p);
            free(*(void **)p);
            *(void **)p = NULL;
        }
        break;
    case CK_EMBED:
    case CK_INLINE:
        cfg_free_struct(f->sub, p);
        break;
    case CK_GROUP:
        cfg_free_struct(f->sub, base);
        break;
    case CK_LIST: {
        void **arr = *(void ***)p;
        size_t *count = (size_t *)(base + f->off_n);
        for (size_t i = 0; i < *count; i++) {
            cfg_free_struct(f->sub, arr[i]);
            free(arr[i]);
        }
        free(arr);
        *(void ***)p = NULL;
        *count = 0;
        break;
    }
    case CK_TRIBOOL:
        *(int8_t *)p = -1;
        break;
    case CK_BOOL:
        *(bool *)p = false;
        break;
    case CK_DUR:
    case CK_INT:
    case CK_BYTES:
        *(int64_t *)p = 0;
        break;
    case CK_UINT:
        *(uint64_t *)p = 0;
        break;
    case CK_FLOAT:
        *(double *)p = 0;
        break;
    case CK_TLSVER:
        *(em_tls_version_t *)p = EM_TLS_ANY;
        break;
    case CK_ACTION:
        *(em_relabel_action_t *)p = EM_RELABEL_REPLACE;
        break;
    case CK_IGNORE:
    case CK_UNSUPPORTED:
        break;
    }
}

void cfg_free_struct(const cfg_type_t *t, void *obj)
{
    for (size_t i = 0; i < t->n_fields; i++)
        free_field(&t->fields[i], obj);
}

char *cfg_join_dir(const char *dir, const char *path)
{
    if (!dir || !*dir || path[0] == '/' || !*path)
        return em_strdup(path);
    /* filepath.Join cleans the result: drop "." elements and fold "x/.." pairs. */
    em_buf_t b = EM_BUF_INIT;
    em_buf_printf(&b, "%s/%s", dir, path);
    char *s = em_buf_detach(&b, NULL);
    bool abs = s[0] == '/';
    char **parts = em_calloc(strlen(s) + 1, sizeof(char *));
    size_t np = 0;
    for (char *t = s, *next; t; t = next) {
        next = strchr(t, '/');
        if (next)
            *next++ = '\0';
        if (!*t || strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0 && np > 0 && strcmp(parts[np - 1], "..") != 0) {
            np--;
            continue;
        }
        if (strcmp(t, "..") == 0 && abs)
            continue;
        parts[np++] = t;
    }
    em_buf_t o = EM_BUF_INIT;
    if (abs)
        em_buf_putc(&o, '/');
    for (size_t i = 0; i < np; i++) {
        if (i)
            em_buf_putc(&o, '/');
        em_buf_puts(&o, parts[i]);
    }
    if (o.len == 0)
        em_buf_putc(&o, '.');
    free(parts);
    free(s);
    return em_buf_detach(&o, NULL);
}

static void join_in_place(char **p, const char *dir)
{
    if (*p && **p) {
        char *j = cfg_join_dir(dir, *p);
        free(*p);
        *p = j;
    }
}

void cfg_set_directory(const cfg_type_t *t, void *obj, const char *dir)
{
    char *base = obj;
    for (size_t i = 0; i < t->n_fields; i++) {
        const cfg_field_t *f = &t->fields[i];
        void *p = base + f->off;
        if ((f->flags & CF_PATH) && (f->kind == CK_STR || f->kind == CK_SECRET)) {
            join_in_place((char **)p, dir);
        } else if (f->flags & CF_PATH) {
            em_config_strs_t *s = p;
            for (size_t k = 0; k < s->n; k++)
                join_in_place(&s->v[k], dir);
        } else if (f->kind == CK_OBJ && *(void **)p) {
            cfg_set_directory(f->sub, *(void **)p, dir);
        } else if (f->kind == CK_EMBED || f->kind == CK_INLINE) {
            cfg_set_directory(f->sub, p, dir);
        } else if (f->kind == CK_GROUP) {
            cfg_set_directory(f->sub, base, dir);
        } else if (f->kind == CK_LIST) {
            void **arr = *(void ***)p;
            size_t n = *(size_t *)(base + f->off_n);
            for (size_t k = 0; k < n; k++)
                cfg_set_directory(f->sub, arr[k], dir);
        }
    }
}
