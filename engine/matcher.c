/* Design: see matcher.h */
#include "engine/matcher.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* ---- classification of regex sources into fast paths ----
 *
 * Every fast path must accept exactly the strings PCRE2 accepts for the anchored pattern. The parser
 * below therefore recognises only a small, unambiguous subset and refuses everything else (the regex is
 * then evaluated by PCRE2): plain characters, a backslash before ASCII punctuation (always the literal
 * character, in RE2 and PCRE2 alike), '|' at the top level, one enclosing (...) or (?:...) group, and
 * ".*" at the very start or end. Flags such as (?i), classes, repetitions, anchors and \d-style escapes
 * all fall back. The pattern was already compiled, so it is syntactically valid. */

static bool is_meta(char c)
{
    return c != '\0' && strchr(".+*?()|[]{}^$\\", c) != NULL;
}

static bool ascii_punct(unsigned char c)
{
    return c > 0x20 && c < 0x7f &&
           !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/* Index just past the ')' matching the '(' at s[0], or 0 if there is none. */
static size_t group_end(const char *s, size_t n)
{
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            i++;
        } else if (c == '[') {
            /* skip a class: a ']' right after '[' or '[^' is literal */
            i++;
            if (i < n && s[i] == '^')
                i++;
            if (i < n && s[i] == ']')
                i++;
            while (i < n && s[i] != ']')
                i += s[i] == '\\' ? 2 : 1;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

/* Remove groups that enclose the whole pattern: "(a|b)", "(?:a|b)", "((a))". */
static void strip_groups(const char **s, size_t *n)
{
    while (*n >= 2 && (*s)[0] == '(' && (*s)[*n - 1] == ')' && group_end(*s, *n) == *n) {
        size_t open = 1;
        if ((*s)[1] == '?') {
            if (*n >= 4 && (*s)[2] == ':')
                open = 3;
            else
                return; /* flags or a named group: leave to PCRE2 */
        }
        *s += open;
        *n -= open + 1;
    }
}

/* Append the literal characters of s[*pos..n) to out until a metacharacter; an escaped ASCII punctuation
 * character is literal. Returns false on any other escape. */
static bool scan_literal(const char *s, size_t n, size_t *pos, em_buf_t *out)
{
    size_t i = *pos;
    while (i < n) {
        char c = s[i];
        if (c == '\\') {
            if (i + 1 >= n || !ascii_punct((unsigned char)s[i + 1]))
                return false;
            em_buf_putc(out, s[i + 1]);
            i += 2;
            continue;
        }
        if (is_meta(c))
            break;
        em_buf_putc(out, c);
        i++;
    }
    *pos = i;
    return true;
}

static int cstr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "lit" or "lit|lit|..." -> LITERAL or SET. */
static bool classify_alternation(em_matcher_t *m, const char *s, size_t n)
{
    size_t cap = 4, k = 0, pos = 0;
    char **alts = em_malloc(cap * sizeof(char *));
    em_buf_t b;
    em_buf_init(&b);
    bool ok = false;
    for (;;) {
        em_buf_reset(&b);
        if (!scan_literal(s, n, &pos, &b))
            goto out;
        if (pos < n && s[pos] != '|')
            goto out;
        if (k == cap) {
            cap *= 2;
            alts = em_realloc(alts, cap * sizeof(char *));
        }
        alts[k++] = em_strndup(b.len ? b.data : "", b.len);
        if (pos == n)
            break;
        pos++; /* the '|' */
    }
    em_qsort(alts, k, sizeof(char *), cstr_cmp);
    size_t w = 0;
    for (size_t r = 0; r < k; r++) {
        if (w > 0 && strcmp(alts[w - 1], alts[r]) == 0)
            free(alts[r]);
        else
            alts[w++] = alts[r];
    }
    k = w;
    if (k == 1) {
        m->fast = EM_MATCH_FAST_LITERAL;
        m->affix = alts[0];
        m->affix_len = strlen(alts[0]);
        free(alts);
    } else {
        m->fast = EM_MATCH_FAST_SET;
        m->set = alts;
        m->n_set = k;
        m->set_len = em_malloc(k * sizeof(size_t));
        for (size_t i = 0; i < k; i++)
            m->set_len[i] = strlen(alts[i]);
    }
    alts = NULL;
    k = 0;
    ok = true;
out:
    for (size_t i = 0; i < k; i++)
        free(alts[i]);
    free(alts);
    em_buf_fini(&b);
    return ok;
}

/* ".*", ".+", "lit.*", ".*lit", ".*lit.*". */
static bool classify_affix(em_matcher_t *m, const char *s, size_t n)
{
    if (n == 2 && s[0] == '.' && s[1] == '+') {
        m->fast = EM_MATCH_FAST_NONEMPTY;
        return true;
    }
    bool lead = n >= 2 && s[0] == '.' && s[1] == '*';
    size_t pos = lead ? 2 : 0;
    em_buf_t b;
    em_buf_init(&b);
    bool ok = false;
    if (!scan_literal(s, n, &pos, &b))
        goto out;
    bool trail = n - pos == 2 && s[pos] == '.' && s[pos + 1] == '*';
    if (pos != n && !trail)
        goto out;
    if (!lead && !trail)
        goto out; /* a plain literal: classify_alternation's job */
    if (b.len == 0)
        m->fast = EM_MATCH_FAST_ANY;
    else
        m->fast = lead && trail ? EM_MATCH_FAST_CONTAINS : lead ? EM_MATCH_FAST_SUFFIX : EM_MATCH_FAST_PREFIX;
    if (b.len) {
        m->affix = em_strndup(b.len ? b.data : "", b.len);
        m->affix_len = b.len;
    }
    ok = true;
out:
    em_buf_fini(&b);
    return ok;
}

/* Is there a '|' outside every group and class? */
static bool top_level_alternation(const char *s, size_t n)
{
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            i++;
        } else if (c == '[') {
            i++;
            if (i < n && s[i] == '^')
                i++;
            if (i < n && s[i] == ']')
                i++;
            while (i < n && s[i] != ']')
                i += s[i] == '\\' ? 2 : 1;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            depth--;
        } else if (c == '|' && depth == 0) {
            return true;
        }
    }
    return false;
}

/* For a regex without a fast path: the literal run at its start, which every match begins with, unless
 * a top-level '|' offers other beginnings. A quantifier after the run may make its last character optional
 * or repeat it, so that character (a whole UTF-8 sequence) is left out then. */
static void find_prefix(em_matcher_t *m, const char *s, size_t n)
{
    if (top_level_alternation(s, n))
        return;
    em_buf_t b;
    em_buf_init(&b);
    size_t pos = 0;
    /* Stopping at an escape such as \d (scan_literal's false) still leaves a required run before it. */
    bool at_meta = scan_literal(s, n, &pos, &b);
    if (at_meta && pos < n && b.len > 0 && strchr("?*+{", s[pos])) {
        while (b.len > 0 && ((unsigned char)b.data[b.len - 1] & 0xc0) == 0x80)
            b.len--; /* continuation bytes */
        if (b.len > 0)
            b.len--; /* the lead byte, or an ASCII character */
    }
    if (b.len > 0) {
        m->prefix = em_strndup(b.data, b.len);
        m->prefix_len = b.len;
    }
    em_buf_fini(&b);
}

static void classify(em_matcher_t *m)
{
    const char *s = m->value;
    size_t n = m->value_len;
    strip_groups(&s, &n);
    if (!classify_alternation(m, s, n) && !classify_affix(m, s, n)) {
        m->fast = EM_MATCH_FAST_NONE;
        find_prefix(m, s, n);
    }
}

/* ---- public API ---- */

int em_matcher_init(em_matcher_t *m, em_match_type_t type, const char *name, const char *value, em_err_t *err)
{
    memset(m, 0, sizeof(*m));
    if (type < EM_MATCH_EQ || type > EM_MATCH_NRE)
        return em_err_set(err, EM_EINVAL, "invalid match type %d", (int)type);
    size_t len = strlen(value);
    if (type == EM_MATCH_RE || type == EM_MATCH_NRE) {
        int rc = em_regex_compile(value, len, &m->re, err);
        if (rc != EM_OK)
            return rc;
    }
    m->type = type;
    m->name = em_strdup(name);
    m->value = em_strndup(value, len);
    m->value_len = len;
    if (m->re)
        classify(m);
    else
        m->fast = EM_MATCH_FAST_LITERAL;
    return EM_OK;
}

void em_matcher_fini(em_matcher_t *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->value);
    em_regex_free(m->re);
    for (size_t i = 0; i < m->n_set; i++)
        free(m->set[i]);
    free(m->set);
    free(m->set_len);
    free(m->affix);
    free(m->prefix);
    memset(m, 0, sizeof(*m));
}

static bool set_contains(const em_matcher_t *m, const char *v, size_t n)
{
    size_t lo = 0, hi = m->n_set;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, sl = m->set_len[mid];
        int c = memcmp(m->set[mid], v, sl < n ? sl : n);
        if (c == 0)
            c = (sl > n) - (sl < n);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool regex_matches(const em_matcher_t *m, const char *v, size_t n)
{
    switch (m->fast) {
    case EM_MATCH_FAST_LITERAL:
        return n == m->affix_len && (n == 0 || memcmp(v, m->affix, n) == 0);
    case EM_MATCH_FAST_SET:
        return set_contains(m, v, n);
    case EM_MATCH_FAST_PREFIX:
        return n >= m->affix_len && memcmp(v, m->affix, m->affix_len) == 0;
    case EM_MATCH_FAST_SUFFIX:
        return n >= m->affix_len && memcmp(v + n - m->affix_len, m->affix, m->affix_len) == 0;
    case EM_MATCH_FAST_CONTAINS:
        return n >= m->affix_len && memmem(v, n, m->affix, m->affix_len) != NULL;
    case EM_MATCH_FAST_ANY:
        return true;
    case EM_MATCH_FAST_NONEMPTY:
        return n > 0;
    case EM_MATCH_FAST_NONE:
    default:
        if (m->prefix && (n < m->prefix_len || memcmp(v, m->prefix, m->prefix_len) != 0))
            return false;
        return em_regex_match(m->re, v, n);
    }
}

bool em_matcher_matches(const em_matcher_t *m, const char *v, size_t n)
{
    switch (m->type) {
    case EM_MATCH_EQ:
        return n == m->value_len && (n == 0 || memcmp(v, m->value, n) == 0);
    case EM_MATCH_NEQ:
        return !(n == m->value_len && (n == 0 || memcmp(v, m->value, n) == 0));
    case EM_MATCH_RE:
        return regex_matches(m, v, n);
    case EM_MATCH_NRE:
        return !regex_matches(m, v, n);
    }
    return false;
}

bool em_matcher_matches_slow(const em_matcher_t *m, const char *v, size_t n)
{
    if (!m->re)
        return em_matcher_matches(m, v, n);
    bool r = em_regex_match(m->re, v, n);
    return m->type == EM_MATCH_RE ? r : !r;
}

bool em_matcher_matches_empty(const em_matcher_t *m)
{
    return em_matcher_matches(m, "", 0);
}

bool em_matcher_matches_everything(const em_matcher_t *m)
{
    return m->type == EM_MATCH_RE && m->fast == EM_MATCH_FAST_ANY;
}

const char *em_match_type_str(em_match_type_t t)
{
    switch (t) {
    case EM_MATCH_EQ:
        return "=";
    case EM_MATCH_NEQ:
        return "!=";
    case EM_MATCH_RE:
        return "=~";
    case EM_MATCH_NRE:
        return "!~";
    }
    return "?";
}

bool em_matcher_literal_values(const em_matcher_t *m, const char *const **values, size_t *n)
{
    if (m->type == EM_MATCH_EQ || m->type == EM_MATCH_NEQ) {
        *values = (const char *const *)&m->value;
        *n = 1;
        return true;
    }
    if (m->fast == EM_MATCH_FAST_LITERAL) {
        /* An empty literal ("" or "()") has no affix string; its one value is the empty string. */
        static const char *const empty[] = {""};
        *values = m->affix ? (const char *const *)&m->affix : empty;
        *n = 1;
        return true;
    }
    if (m->fast == EM_MATCH_FAST_SET) {
        *values = (const char *const *)m->set;
        *n = m->n_set;
        return true;
    }
    return false;
}

bool em_matcher_set_values(const em_matcher_t *m, const char *const **values, size_t *n)
{
    if (m->type != EM_MATCH_EQ && m->type != EM_MATCH_RE)
        return false;
    return em_matcher_literal_values(m, values, n);
}
