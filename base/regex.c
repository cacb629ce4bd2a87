/* Design: see regex.h */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "base/regex.h"
#include "base/mem.h"

#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct em_regex {
    pcre2_code *code;
    uint32_t n_groups;
    char *pattern;
};

/* RE2 refuses these Perl constructs; PCRE2 would accept them. Returns the offending text or NULL. */
static const char *unsupported_construct(const char *p, size_t n, size_t *len)
{
    static const char *const perl[] = {"(?=", "(?!", "(?<=", "(?<!", "(?>", "(?|", "(?R", "(?&", "(?(", "(?C",
                                       "(?+", "(*"};
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            if (!in_class && ((e >= '1' && e <= '9') || e == 'g' || e == 'k' || e == 'K' || e == 'G' ||
                              e == 'R' || e == 'X' || e == 'Z' || e == 'h' || e == 'H' || e == 'V' || e == 'N' ||
                              e == 'o' || e == 'c' || e == 'e')) {
                *len = 2;
                return p + i;
            }
            i++;
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = false;
            continue;
        }
        if (c == '[') {
            in_class = true;
            if (i + 1 < n && p[i + 1] == '^')
                i++;
            if (i + 1 < n && p[i + 1] == ']')
                i++; /* a leading ']' is literal */
            continue;
        }
        if (c == '(') {
            for (size_t k = 0; k < EM_ARRAY_LEN(perl); k++) {
                size_t l = strlen(perl[k]);
                if (i + l <= n && memcmp(p + i, perl[k], l) == 0) {
                    *len = l;
                    return p + i;
                }
            }
            /* (?1) style recursion */
            if (i + 2 < n && p[i + 1] == '?' && isdigit((unsigned char)p[i + 2])) {
                *len = 3;
                return p + i;
            }
        }
        if ((c == '+') && i > 0 && (p[i - 1] == '*' || p[i - 1] == '+' || p[i - 1] == '?' || p[i - 1] == '}') &&
            !(i > 1 && p[i - 2] == '\\')) {
            *len = 2;
            return p + i - 1;
        }
    }
    return NULL;
}

int em_regex_compile(const char *pattern, size_t n, em_regex_t **out, em_err_t *err)
{
    size_t bad_len = 0;
    const char *bad = unsupported_construct(pattern, n, &bad_len);
    if (bad) {
        if (bad[0] == '\\')
            return em_err_set(err, EM_EINVAL, "error parsing regexp: invalid escape sequence: `%.*s`",
                              (int)bad_len, bad);
        if (bad[0] == '(')
            return em_err_set(err, EM_EINVAL, "error parsing regexp: invalid or unsupported Perl syntax: `%.*s`",
                              (int)bad_len, bad);
        return em_err_set(err, EM_EINVAL, "error parsing regexp: invalid nested repetition operator: `%.*s`",
                          (int)bad_len, bad);
    }
    int ecode;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOTALL | PCRE2_ANCHORED | PCRE2_ENDANCHORED |
                    PCRE2_DOLLAR_ENDONLY;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, n, opts, &ecode, &eoff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        return em_err_set(err, EM_EINVAL, "error parsing regexp: %s at offset %zu: `%.*s`", (const char *)msg,
                          (size_t)eoff, (int)(n > 200 ? 200 : n), pattern);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* best effort: falls back to the interpreter */
    em_regex_t *re = EM_NEW(em_regex_t);
    re->code = code;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->n_groups);
    re->pattern = em_strndup(pattern, n);
    *out = re;
    return EM_OK;
}

void em_regex_free(em_regex_t *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re->pattern);
    free(re);
}

const char *em_regex_pattern(const em_regex_t *re)
{
    return re->pattern;
}

/* Thread-local match data, grown to the largest group count seen on this thread. A pthread key with a
 * destructor frees it when the thread exits (threads other than main would leak it otherwise). */
static _Thread_local pcre2_match_data *tl_md;
static _Thread_local uint32_t tl_md_pairs;
static pthread_key_t md_key;
static pthread_once_t md_key_once = PTHREAD_ONCE_INIT;

static void md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void md_key_create(void)
{
    if (pthread_key_create(&md_key, md_free) != 0)
        abort();
}

static pcre2_match_data *match_data(uint32_t pairs)
{
    if (!tl_md || tl_md_pairs < pairs) {
        if (tl_md)
            pcre2_match_data_free(tl_md);
        tl_md_pairs = pairs < 16 ? 16 : pairs;
        tl_md = pcre2_match_data_create(tl_md_pairs, NULL);
        if (!tl_md)
            abort();
        pthread_once(&md_key_once, md_key_create);
        pthread_setspecific(md_key, tl_md);
    }
    return tl_md;
}

static int do_match(const em_regex_t *re, const char *s, size_t n, pcre2_match_data *md)
{
    return pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), n, 0, 0, md, NULL);
}

bool em_regex_match(const em_regex_t *re, const char *s, size_t n)
{
    pcre2_match_data *md = match_data(1);
    return do_match(re, s, n, md) >= 0;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

bool em_regex_replace(const em_regex_t *re, const char *s, size_t n, const char *tmpl, size_t tmpl_len,
                      em_buf_t *out)
{
    pcre2_match_data *md = match_data(re->n_groups + 1);
    int rc = do_match(re, s, n, md);
    if (rc < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    const char *t = tmpl, *end = tmpl + tmpl_len;
    while (t < end) {
        const char *dollar = memchr(t, '$', (size_t)(end - t));
        if (!dollar) {
            em_buf_append(out, t, (size_t)(end - t));
            break;
        }
        em_buf_append(out, t, (size_t)(dollar - t));
        t = dollar + 1;
        if (t < end && *t == '$') {
            em_buf_putc(out, '$');
            t++;
            continue;
        }
        bool brace = t < end && *t == '{';
        const char *ns = brace ? t + 1 : t, *ne = ns;
        while (ne < end && name_char(*ne))
            ne++;
        if (ne == ns || (brace && (ne >= end || *ne != '}'))) {
            em_buf_putc(out, '$'); /* malformed: the '$' is literal text */
            continue;
        }
        t = brace ? ne + 1 : ne;
        size_t nl = (size_t)(ne - ns);
        long num = -1;
        bool all_digits = true;
        for (const char *q = ns; q < ne; q++)
            all_digits = all_digits && isdigit((unsigned char)*q);
        if (all_digits) {
            num = 0;
            for (const char *q = ns; q < ne && num < 100000000; q++)
                num = num * 10 + (*q - '0');
            if (num >= 100000000)
                num = -1;
        } else {
            char name[256];
            if (nl < sizeof(name)) {
                memcpy(name, ns, nl);
                name[nl] = '\0';
                int g = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
                num = g > 0 ? g : -1;
            }
        }
        if (num >= 0 && num < rc && (uint32_t)num <= re->n_groups && ov[2 * num] != PCRE2_UNSET)
            em_buf_append(out, s + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
    return true;
}
