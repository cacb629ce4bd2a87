/* Design: see relabel.h */
#include "ingest/relabel.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/regex.h"

uint64_t em_relabel_hashmod(const char *s, size_t n, uint64_t modulus)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(s, n, md, &md_len, EVP_md5(), NULL) != 1 || md_len != 16)
        abort(); /* MD5 is always available in OpenSSL's default provider */
    /* Prometheus: "Use only the last 8 bytes of the hash to give the same result as earlier versions". */
    uint64_t v = em_be64(md + 8);
    return v % modulus;
}

/* join(values of source_labels, separator) in the arena. */
static const char *source_value(const em_labels_builder_t *b, const em_relabel_config_t *r, em_arena_t *a,
                                size_t *len)
{
    size_t n = r->source_labels.n;
    if (n == 1) {
        const char *v = em_labels_builder_get(b, r->source_labels.v[0]);
        *len = v ? strlen(v) : 0;
        return v ? v : "";
    }
    size_t sep_len = strlen(r->separator), total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = em_labels_builder_get(b, r->source_labels.v[i]);
        total += (v ? strlen(v) : 0) + (i ? sep_len : 0);
    }
    char *out = em_arena_alloc(a, total + 1), *p = out;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(p, r->separator, sep_len);
            p += sep_len;
        }
        const char *v = em_labels_builder_get(b, r->source_labels.v[i]);
        size_t vl = v ? strlen(v) : 0;
        memcpy(p, v ? v : "", vl);
        p += vl;
    }
    *p = '\0';
    *len = total;
    return out;
}

/* Expand tmpl against val; NULL when the regex does not match. The result lives in the arena. */
static const char *expand(const em_relabel_config_t *r, const char *val, size_t n, const char *tmpl,
                          em_arena_t *a)
{
    em_buf_t out = EM_BUF_INIT;
    const char *res = NULL;
    if (em_regex_replace(r->regex, val, n, tmpl, strlen(tmpl), &out))
        res = em_arena_strndup(a, out.data ? out.data : "", out.len);
    em_buf_fini(&out);
    return res;
}

static void do_replace(em_labels_builder_t *b, const em_relabel_config_t *r, const char *val, size_t n,
                       em_arena_t *a)
{
    /* Prometheus's fast path: an empty value with the default regex sets the label without expansion. */
    if (n == 0 && strcmp(r->regex_src, "(.*)") == 0 && !strchr(r->target_label, '$') &&
        !strchr(r->replacement, '$')) {
        em_labels_builder_set(b, r->target_label, r->replacement);
        return;
    }
    const char *target = expand(r, val, n, r->target_label, a);
    if (!target) /* no match: no replacement */
        return;
    if (!em_label_name_valid(target, strlen(target)))
        return;
    const char *res = expand(r, val, n, r->replacement, a);
    em_labels_builder_set(b, target, res); /* "" deletes */
}

static void fold_case(em_labels_builder_t *b, const char *target, const char *val, size_t n, bool upper,
                      em_arena_t *a)
{
    char *out = em_arena_strndup(a, val, n);
    for (size_t i = 0; i < n; i++) {
        char c = out[i];
        if (upper && c >= 'a' && c <= 'z')
            out[i] = (char)(c - 'a' + 'A');
        else if (!upper && c >= 'A' && c <= 'Z')
            out[i] = (char)(c - 'A' + 'a');
    }
    em_labels_builder_set(b, target, out);
}

/* labelmap, labeldrop and labelkeep work over a snapshot of the labels taken before the rule, as
 * Prometheus's Builder.Range does. */
static void by_name(em_labels_builder_t *b, const em_relabel_config_t *r, em_arena_t *a)
{
    size_t n = b->n;
    em_label_t *snap = em_arena_alloc(a, sizeof(em_label_t) * (n ? n : 1));
    memcpy(snap, b->v, sizeof(em_label_t) * n);
    for (size_t i = 0; i < n; i++) {
        const char *name = snap[i].name;
        size_t nl = strlen(name);
        switch (r->action) {
        case EM_RELABEL_LABELMAP: {
            const char *res = expand(r, name, nl, r->replacement, a);
            if (res)
                em_labels_builder_set(b, res, snap[i].value);
            break;
        }
        case EM_RELABEL_LABELDROP:
            if (em_regex_match(r->regex, name, nl))
                em_labels_builder_del(b, name);
            break;
        case EM_RELABEL_LABELKEEP:
            if (!em_regex_match(r->regex, name, nl))
                em_labels_builder_del(b, name);
            break;
        default:
            break;
        }
    }
}

bool em_relabel_apply(em_labels_builder_t *b, const em_relabel_config_t *r, em_arena_t *a)
{
    size_t n = 0;
    const char *val = "";
    if (r->source_labels.n)
        val = source_value(b, r, a, &n);
    const char *tv;
    switch (r->action) {
    case EM_RELABEL_DROP:
        return !em_regex_match(r->regex, val, n);
    case EM_RELABEL_KEEP:
        return em_regex_match(r->regex, val, n);
    case EM_RELABEL_KEEPEQUAL:
        tv = em_labels_builder_get(b, r->target_label);
        return strcmp(tv ? tv : "", val) == 0;
    case EM_RELABEL_DROPEQUAL:
        tv = em_labels_builder_get(b, r->target_label);
        return strcmp(tv ? tv : "", val) != 0;
    case EM_RELABEL_REPLACE:
        do_replace(b, r, val, n, a);
        return true;
    case EM_RELABEL_LOWERCASE:
        fold_case(b, r->target_label, val, n, false, a);
        return true;
    case EM_RELABEL_UPPERCASE:
        fold_case(b, r->target_label, val, n, true, a);
        return true;
    case EM_RELABEL_HASHMOD: {
        char num[24];
        int len =
            snprintf(num, sizeof(num), "%llu", (unsigned long long)em_relabel_hashmod(val, n, r->modulus));
        em_labels_builder_set(b, r->target_label, em_arena_strndup(a, num, (size_t)len));
        return true;
    }
    case EM_RELABEL_LABELMAP:
    case EM_RELABEL_LABELDROP:
    case EM_RELABEL_LABELKEEP:
        by_name(b, r, a);
        return true;
    }
    return true;
}

bool em_relabel_process(em_labels_builder_t *b, em_relabel_config_t *const *rules, size_t n, em_arena_t *a)
{
    for (size_t i = 0; i < n; i++)
        if (!em_relabel_apply(b, rules[i], a))
            return false;
    return true;
}
