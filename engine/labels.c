/* Design: see labels.h */
#include "engine/labels.h"

#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "base/mem.h"

static const char SEP = (char)0xff;

uint64_t em_labels_hash(const em_labels_t *ls)
{
    /* One-shot XXH3 over name 0xff value 0xff ... laid out in a stack buffer: several times faster than
     * feeding the streaming API four pieces per label. Larger sets take the streaming path. */
    char buf[1024];
    size_t o = 0;
    for (size_t i = 0; i < ls->n; i++) {
        size_t a = strlen(ls->v[i].name), b = strlen(ls->v[i].value);
        if (o + a + b + 2 > sizeof(buf))
            goto stream;
        memcpy(buf + o, ls->v[i].name, a);
        o += a;
        buf[o++] = SEP;
        memcpy(buf + o, ls->v[i].value, b);
        o += b;
        buf[o++] = SEP;
    }
    return XXH3_64bits(buf, o);
stream:;
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < ls->n; i++) {
        XXH3_64bits_update(&st, ls->v[i].name, strlen(ls->v[i].name));
        XXH3_64bits_update(&st, &SEP, 1);
        XXH3_64bits_update(&st, ls->v[i].value, strlen(ls->v[i].value));
        XXH3_64bits_update(&st, &SEP, 1);
    }
    return XXH3_64bits_digest(&st);
}

static bool in_list(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

uint64_t em_labels_hash_subset(const em_labels_t *ls, const char *const *names, size_t n_names, bool without)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < ls->n; i++) {
        bool listed = in_list(ls->v[i].name, names, n_names);
        if (without ? listed : !listed)
            continue;
        XXH3_64bits_update(&st, ls->v[i].name, strlen(ls->v[i].name));
        XXH3_64bits_update(&st, &SEP, 1);
        XXH3_64bits_update(&st, ls->v[i].value, strlen(ls->v[i].value));
        XXH3_64bits_update(&st, &SEP, 1);
    }
    return XXH3_64bits_digest(&st);
}

int em_labels_cmp(const em_labels_t *a, const em_labels_t *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

bool em_labels_equal(const em_labels_t *a, const em_labels_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
            return false;
    return true;
}

const char *em_labels_get(const em_labels_t *ls, const char *name)
{
    size_t lo = 0, hi = ls->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ls->v[mid].name, name);
        if (c == 0)
            return ls->v[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const em_label_t *)a)->name, ((const em_label_t *)b)->name);
}

void em_labels_sort(em_label_t *v, size_t n)
{
    /* Label sets are short: insertion sort beats qsort's call overhead. */
    if (n > 16) {
        em_qsort(v, n, sizeof(*v), label_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        em_label_t x = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1].name, x.name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

bool em_label_name_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool em_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

int em_labels_validate(const em_labels_t *ls, em_err_t *err)
{
    for (size_t i = 0; i < ls->n; i++) {
        const char *name = ls->v[i].name, *value = ls->v[i].value;
        if (!em_label_name_valid(name, strlen(name)))
            return em_err_set(err, EM_EINVAL, "invalid label name \"%.100s\"", name);
        if (!em_utf8_valid(value, strlen(value)))
            return em_err_set(err, EM_EINVAL, "invalid label value for %s: not valid UTF-8", name);
        if (value[0] == '\0')
            return em_err_set(err, EM_EINVAL, "label %s has an empty value", name);
        if (i > 0) {
            int c = strcmp(ls->v[i - 1].name, name);
            if (c == 0)
                return em_err_set(err, EM_EINVAL, "duplicate label name \"%.100s\"", name);
            if (c > 0)
                return em_err_set(err, EM_EINVAL, "labels are not sorted: \"%.100s\" after \"%.100s\"", name,
                                  ls->v[i - 1].name);
        }
    }
    return EM_OK;
}

em_labels_t em_labels_copy(const em_labels_t *ls, em_arena_t *a)
{
    em_label_t *v = em_arena_alloc(a, sizeof(em_label_t) * (ls->n ? ls->n : 1));
    for (size_t i = 0; i < ls->n; i++) {
        v[i].name = em_arena_strdup(a, ls->v[i].name);
        v[i].value = em_arena_strdup(a, ls->v[i].value);
    }
    return (em_labels_t){v, ls->n};
}

/* Go's strconv.Quote, as labels.String uses it: escapes quotes, backslashes and control characters. */
static void put_quoted(em_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    em_buf_putc(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': em_buf_puts(out, "\\\""); break;
        case '\\': em_buf_puts(out, "\\\\"); break;
        case '\n': em_buf_puts(out, "\\n"); break;
        case '\t': em_buf_puts(out, "\\t"); break;
        case '\r': em_buf_puts(out, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                em_buf_append(out, e, 4);
            } else {
                em_buf_putc(out, (char)c);
            }
        }
    }
    em_buf_putc(out, '"');
}

void em_labels_format(const em_labels_t *ls, em_buf_t *out)
{
    em_buf_putc(out, '{');
    for (size_t i = 0; i < ls->n; i++) {
        if (i)
            em_buf_puts(out, ", ");
        em_buf_puts(out, ls->v[i].name);
        em_buf_putc(out, '=');
        put_quoted(out, ls->v[i].value);
    }
    em_buf_putc(out, '}');
}

/* Exposition-format escaping of label values: backslash, quote and newline only. */
static void put_expo_value(em_buf_t *out, const char *s)
{
    em_buf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '\\')
            em_buf_puts(out, "\\\\");
        else if (*s == '"')
            em_buf_puts(out, "\\\"");
        else if (*s == '\n')
            em_buf_puts(out, "\\n");
        else
            em_buf_putc(out, *s);
    }
    em_buf_putc(out, '"');
}

void em_labels_format_metric(const em_labels_t *ls, em_buf_t *out)
{
    const char *name = em_labels_get(ls, EM_METRIC_NAME);
    if (name)
        em_buf_puts(out, name);
    size_t shown = 0;
    for (size_t i = 0; i < ls->n; i++) {
        if (strcmp(ls->v[i].name, EM_METRIC_NAME) == 0)
            continue;
        em_buf_putc(out, shown++ ? ',' : '{');
        em_buf_puts(out, ls->v[i].name);
        em_buf_putc(out, '=');
        put_expo_value(out, ls->v[i].value);
    }
    if (shown)
        em_buf_putc(out, '}');
    else if (!name)
        em_buf_puts(out, "{}");
}

void em_labels_builder_init(em_labels_builder_t *b, const em_labels_t *base)
{
    b->v = NULL;
    b->n = b->cap = 0;
    em_labels_builder_reset(b, base);
}

void em_labels_builder_fini(em_labels_builder_t *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

void em_labels_builder_reset(em_labels_builder_t *b, const em_labels_t *base)
{
    b->n = 0;
    if (!base || base->n == 0)
        return;
    em_grow((void **)&b->v, &b->cap, base->n, sizeof(em_label_t));
    memcpy(b->v, base->v, sizeof(em_label_t) * base->n);
    b->n = base->n;
}

void em_labels_builder_del(em_labels_builder_t *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].name, name) == 0) {
            memmove(&b->v[i], &b->v[i + 1], sizeof(em_label_t) * (b->n - i - 1));
            b->n--;
            return;
        }
    }
}

void em_labels_builder_set(em_labels_builder_t *b, const char *name, const char *value)
{
    if (!value || !value[0]) {
        em_labels_builder_del(b, name);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].name, name) == 0) {
            b->v[i].value = value;
            return;
        }
    }
    em_grow((void **)&b->v, &b->cap, b->n + 1, sizeof(em_label_t));
    b->v[b->n].name = name;
    b->v[b->n].value = value;
    b->n++;
}

const char *em_labels_builder_get(const em_labels_builder_t *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].name, name) == 0)
            return b->v[i].value;
    return NULL;
}

em_labels_t em_labels_builder_labels(em_labels_builder_t *b)
{
    em_labels_sort(b->v, b->n);
    return (em_labels_t){b->v, b->n};
}
