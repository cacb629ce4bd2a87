/* Design: see json.h */
#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

typedef struct parser {
    const char *s, *end, *start;
    em_arena_t *a;
    size_t depth, max_depth;
    em_err_t *err;
    em_buf_t tmp; /* string decoding scratch */
} parser_t;

static int fail(parser_t *p, int code, const char *what)
{
    return em_err_set(p->err, code, "json: offset %zu: %s", (size_t)(p->s - p->start), what);
}

static void skip_ws(parser_t *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int parse_value(parser_t *p, em_json_t *out);

static int hex4(parser_t *p, unsigned *out)
{
    if (p->end - p->s < 4)
        return fail(p, EM_EINVAL, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(p, EM_EINVAL, "bad \\u escape");
    }
    p->s += 4;
    *out = v;
    return EM_OK;
}

static void put_utf8(em_buf_t *b, unsigned cp)
{
    if (cp < 0x80) {
        em_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        em_buf_putc(b, (char)(0xc0 | (cp >> 6)));
        em_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        em_buf_putc(b, (char)(0xe0 | (cp >> 12)));
        em_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        em_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        em_buf_putc(b, (char)(0xf0 | (cp >> 18)));
        em_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        em_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        em_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

static int parse_escape(parser_t *p)
{
    char c = *p->s++;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        em_buf_putc(&p->tmp, to[k - from]);
        return EM_OK;
    }
    if (c != 'u')
        return fail(p, EM_EINVAL, "bad escape");
    unsigned cp;
    if (hex4(p, &cp) != EM_OK)
        return EM_EINVAL;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(p, EM_EINVAL, "lone low surrogate");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (p->end - p->s < 2 || p->s[0] != '\\' || p->s[1] != 'u')
            return fail(p, EM_EINVAL, "lone high surrogate");
        p->s += 2;
        if (hex4(p, &lo) != EM_OK)
            return EM_EINVAL;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail(p, EM_EINVAL, "bad surrogate pair");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    put_utf8(&p->tmp, cp);
    return EM_OK;
}

/* A string starting at the opening quote; the decoded bytes go to the arena. */
static int parse_string(parser_t *p, const char **out, size_t *len)
{
    p->s++; /* opening quote */
    em_buf_reset(&p->tmp);
    const char *run = p->s;
    for (;;) {
        if (p->s >= p->end)
            return fail(p, EM_EINVAL, "unterminated string");
        unsigned char c = (unsigned char)*p->s;
        if (c == '"' || c == '\\') {
            em_buf_append(&p->tmp, run, (size_t)(p->s - run));
            p->s++;
            if (c == '"')
                break;
            if (p->s >= p->end)
                return fail(p, EM_EINVAL, "unterminated string");
            if (parse_escape(p) != EM_OK)
                return EM_EINVAL;
            run = p->s;
            continue;
        }
        if (c < 0x20)
            return fail(p, EM_EINVAL, "control character in string");
        p->s++;
    }
    /* Escapes produce valid UTF-8 by construction; raw bytes must be checked. */
    const char *d = p->tmp.data ? p->tmp.data : "";
    size_t n = p->tmp.len;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)d[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07;
        } else {
            return fail(p, EM_EINVAL, "invalid UTF-8 in string");
        }
        if (i + k >= n)
            return fail(p, EM_EINVAL, "invalid UTF-8 in string");
        for (size_t j = 1; j <= k; j++) {
            unsigned char cc = (unsigned char)d[i + j];
            if ((cc & 0xc0) != 0x80)
                return fail(p, EM_EINVAL, "invalid UTF-8 in string");
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return fail(p, EM_EINVAL, "invalid UTF-8 in string");
        i += k + 1;
    }
    char *s = em_arena_alloc(p->a, n + 1);
    memcpy(s, d, n);
    s[n] = 0;
    *out = s;
    *len = n;
    return EM_OK;
}

static int parse_number(parser_t *p, em_json_t *out)
{
    const char *b = p->s;
    if (p->s < p->end && *p->s == '-')
        p->s++;
    if (p->s >= p->end)
        return fail(p, EM_EINVAL, "bad number");
    if (*p->s == '0') {
        p->s++;
    } else if (*p->s >= '1' && *p->s <= '9') {
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    } else {
        return fail(p, EM_EINVAL, "bad number");
    }
    if (p->s < p->end && *p->s == '.') {
        p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            return fail(p, EM_EINVAL, "bad fraction");
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            return fail(p, EM_EINVAL, "bad exponent");
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    }
    size_t n = (size_t)(p->s - b);
    char *raw = em_arena_strndup(p->a, b, n);
    out->type = EM_JSON_NUMBER;
    out->num = strtod(raw, NULL);
    out->num_raw = raw;
    out->num_raw_len = n;
    return EM_OK;
}

static int parse_literal(parser_t *p, const char *lit, em_json_t *out, em_json_type_t t, bool b)
{
    size_t n = strlen(lit);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, lit, n) != 0)
        return fail(p, EM_EINVAL, "unexpected character");
    p->s += n;
    out->type = t;
    out->b = b;
    return EM_OK;
}

/* Children are collected in a heap array, then copied into the arena at the end, so a long array costs
 * O(n) arena space rather than the sum of its doublings. */
static int parse_container(parser_t *p, em_json_t *out, bool object)
{
    if (++p->depth > p->max_depth)
        return fail(p, EM_ELIMIT, "nesting too deep");
    p->s++;
    em_json_t *items = NULL;
    const char **keys = NULL;
    size_t *klen = NULL;
    size_t n = 0, cap = 0, kcap = 0, lcap = 0;
    int rc = EM_EINVAL;
    skip_ws(p);
    char close = object ? '}' : ']';
    if (p->s < p->end && *p->s == close) {
        p->s++;
        goto done;
    }
    for (;;) {
        em_grow((void **)&items, &cap, n + 1, sizeof(*items));
        memset(&items[n], 0, sizeof(items[n]));
        if (object) {
            em_grow((void **)&keys, &kcap, n + 1, sizeof(*keys));
            em_grow((void **)&klen, &lcap, n + 1, sizeof(*klen));
            skip_ws(p);
            if (p->s >= p->end || *p->s != '"') {
                rc = fail(p, EM_EINVAL, "expected object key");
                goto out;
            }
            if ((rc = parse_string(p, &keys[n], &klen[n])) != EM_OK)
                goto out;
            skip_ws(p);
            if (p->s >= p->end || *p->s != ':') {
                rc = fail(p, EM_EINVAL, "expected ':'");
                goto out;
            }
            p->s++;
        }
        if ((rc = parse_value(p, &items[n])) != EM_OK)
            goto out;
        n++;
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            break;
        }
        rc = fail(p, EM_EINVAL, object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto out;
    }
done:
    out->type = object ? EM_JSON_OBJECT : EM_JSON_ARRAY;
    out->n = n;
    if (n > 0) {
        out->items = em_arena_alloc(p->a, n * sizeof(*items));
        memcpy(out->items, items, n * sizeof(*items));
        if (object) {
            out->keys = em_arena_alloc(p->a, n * sizeof(*keys));
            memcpy(out->keys, keys, n * sizeof(*keys));
            out->key_lens = em_arena_alloc(p->a, n * sizeof(*klen));
            memcpy(out->key_lens, klen, n * sizeof(*klen));
        }
    }
    p->depth--;
    rc = EM_OK;
out:
    free(items);
    free(keys);
    free(klen);
    return rc;
}

static int parse_value(parser_t *p, em_json_t *out)
{
    skip_ws(p);
    if (p->s >= p->end)
        return fail(p, EM_EINVAL, "unexpected end of input");
    memset(out, 0, sizeof(*out));
    switch (*p->s) {
    case '{':
        return parse_container(p, out, true);
    case '[':
        return parse_container(p, out, false);
    case '"':
        out->type = EM_JSON_STRING;
        return parse_string(p, &out->str, &out->str_len);
    case 't':
        return parse_literal(p, "true", out, EM_JSON_BOOL, true);
    case 'f':
        return parse_literal(p, "false", out, EM_JSON_BOOL, false);
    case 'n':
        return parse_literal(p, "null", out, EM_JSON_NULL, false);
    default:
        return parse_number(p, out);
    }
}

int em_json_parse(const char *s, size_t n, em_arena_t *a, size_t max_depth, const em_json_t **out,
                  em_err_t *err)
{
    parser_t p = {.s = s, .end = s + n, .start = s, .a = a, .max_depth = max_depth, .err = err};
    em_buf_init(&p.tmp);
    em_json_t *root = em_arena_alloc(a, sizeof(*root));
    int rc = parse_value(&p, root);
    if (rc == EM_OK) {
        skip_ws(&p);
        if (p.s != p.end)
            rc = fail(&p, EM_EINVAL, "data after the value");
    }
    em_buf_fini(&p.tmp);
    if (rc == EM_OK)
        *out = root;
    return rc;
}

const em_json_t *em_json_get(const em_json_t *v, const char *key)
{
    if (!v || v->type != EM_JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = v->n; i-- > 0;)
        if (v->key_lens[i] == kl && memcmp(v->keys[i], key, kl) == 0)
            return &v->items[i];
    return NULL;
}

int em_json_int64(const em_json_t *v, int64_t *out)
{
    if (!v || v->type != EM_JSON_NUMBER)
        return EM_EINVAL;
    char *end;
    errno = 0;
    long long x = strtoll(v->num_raw, &end, 10);
    if (end == v->num_raw + v->num_raw_len && errno == 0) {
        *out = x;
        return EM_OK;
    }
    /* 1e3 or 5.0: integral but not written as an integer */
    double d = v->num;
    if (errno == 0 && isfinite(d) && d == floor(d) && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0) {
        *out = (int64_t)d;
        return EM_OK;
    }
    return EM_EINVAL;
}

int em_json_uint64(const em_json_t *v, uint64_t *out)
{
    if (!v || v->type != EM_JSON_NUMBER || (v->num_raw_len > 0 && v->num_raw[0] == '-'))
        return EM_EINVAL;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v->num_raw, &end, 10);
    if (end == v->num_raw + v->num_raw_len && errno == 0) {
        *out = x;
        return EM_OK;
    }
    double d = v->num;
    if (errno == 0 && isfinite(d) && d == floor(d) && d >= 0 && d < 18446744073709551616.0) {
        *out = (uint64_t)d;
        return EM_OK;
    }
    return EM_EINVAL;
}
