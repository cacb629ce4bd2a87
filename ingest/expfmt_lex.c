/* Design: see expfmt.h.
 *
 * The two tokenisers. Each is a hand-written copy of the deterministic automaton that golex generates
 * from Prometheus's promlex.l and openmetricslex.l, with the same quirks on purpose, because token
 * boundaries decide Prometheus's error messages:
 *   - no backtracking: a token fails where the automaton has no transition, and lx->i stays on the
 *     byte that failed (which the error's "got" excerpt then shows, plus one more byte);
 *   - advancing past the last byte yields the byte 0 with lx->i == lx->n;
 *   - while lexing in the label-value, help-text and comment conditions, NUL bytes after the first
 *     byte of a token are skipped (Prometheus's lexer.next does this so that NULs may appear there);
 *   - the text format's "#" followed by blanks switches to the comment condition without starting a
 *     new token, so the token keeps starting at '#'.
 */
#include "ingest/expfmt_int.h"

#define CCM (CC_M | CC_MD | CC_L | CC_LD | CC_VAL | CC_VALA | CC_TVAL | CC_OVAL)
#define CCD (CC_MD | CC_LD | CC_VAL | CC_VALA | CC_TVAL | CC_OVAL)
#define CCP (CC_VAL | CC_VALA | CC_TVAL | CC_OVAL)

/* clang-format off */
const uint8_t em_expfmt__cc[256] = {
    [0x01 ... 0x08] = CC_TVAL | CC_OVAL,
    ['\t'] = CC_OVAL,
    ['\v' ... 0x1f] = CC_TVAL | CC_OVAL,
    [' '] = CC_VAL | CC_VALA,
    ['!'] = CCP, ['"'] = CC_TVAL | CC_OVAL, ['#' ... '/'] = CCP,
    ['0' ... '9'] = CCD,
    [':'] = CC_M | CC_MD | CCP,
    [';' ... '@'] = CCP,
    ['A' ... 'Z'] = CCM,
    ['['] = CCP, ['\\'] = CC_TVAL | CC_OVAL, [']' ... '^'] = CCP,
    ['_'] = CCM,
    ['`'] = CCP,
    ['a' ... 'z'] = CCM,
    ['{'] = CC_VAL | CC_VALA | CC_OVAL,
    ['|' ... '~'] = CCP,
    [0x7f] = CC_TVAL | CC_OVAL,
    [0x80 ... 0xff] = CC_VAL | CC_TVAL | CC_OVAL,
};
/* clang-format on */

static const char *const tok_names[] = {
    "EOF",   "LINEBREAK", "WHITESPACE", "HELP",   "TYPE",  "UNIT",   "EOFWORD", "TEXT",  "COMMENT",   "BLANK",
    "MNAME", "QSTRING",   "BOPEN",      "BCLOSE", "LNAME", "LVALUE", "COMMA",   "EQUAL", "TIMESTAMP", "VALUE",
};

const char *em_expfmt__tok_name(int tok)
{
    if (tok == T_INVALID)
        return "INVALID";
    if (tok >= 0 && (size_t)tok < sizeof(tok_names) / sizeof(tok_names[0]))
        return tok_names[tok];
    return "<invalid>";
}

/* lexer.next(): advance one byte; 0 at the end; skip NULs in the conditions where they are allowed. */
static inline int nx(em_expfmt_lexer_t *lx)
{
    lx->i++;
    if (lx->i >= lx->n)
        return 0;
    int c = lx_at(lx, lx->i);
    if (c == 0 && (lx->state == S_LVALUE || lx->state == S_META2 || lx->state == S_COMMENT)) {
        while (c == 0) {
            lx->i++;
            if (lx->i >= lx->n)
                return 0;
            c = lx_at(lx, lx->i);
        }
    }
    return c;
}

static inline int cur(const em_expfmt_lexer_t *lx)
{
    return lx->i < lx->n ? lx_at(lx, lx->i) : 0;
}

static inline bool is_ws(int c)
{
    return c == ' ' || c == '\t';
}

/* [ \t]+ starting at the current byte c (already known to be a blank). */
static int lex_ws(em_expfmt_lexer_t *lx)
{
    int c;
    do
        c = nx(lx);
    while (is_ws(c));
    return T_WHITESPACE;
}

/* \"(\\.|[^\\"])*\" with the opening quote current; 'nl' whether the body may hold '\n'. Returns true
 * when the closing quote was consumed. */
static bool lex_qstring(em_expfmt_lexer_t *lx, bool nl)
{
    for (;;) {
        int c = nx(lx);
        if (c == '"') {
            nx(lx);
            return true;
        }
        if (c == '\\') {
            c = nx(lx);
            if (c == 0 || c == '\n')
                return false;
            continue;
        }
        if (c == 0 || (c == '\n' && !nl))
            return false;
    }
}

/* Consume the rest of a '#' line (text format). Returns T_COMMENT with lx->i on the '\n', or T_EOF at a
 * NUL byte (Prometheus ends the page there). */
static int consume_comment(em_expfmt_lexer_t *lx)
{
    for (int c = cur(lx);; c = nx(lx)) {
        if (c == 0)
            return T_EOF;
        if (c == '\n') {
            lx->state = S_INIT;
            return T_COMMENT;
        }
    }
}

/* Match the literal 'word' (its first byte is current), then at least one blank when 'blanks' (text
 * format: [\t ]+), or exactly one space (OpenMetrics). */
static bool lex_keyword(em_expfmt_lexer_t *lx, const char *word, bool blanks)
{
    int c;
    for (const char *w = word + 1; *w; w++)
        if (nx(lx) != *w)
            return false;
    c = nx(lx);
    if (blanks) {
        if (!is_ws(c))
            return false;
        while (is_ws(c))
            c = nx(lx);
        return true;
    }
    if (c != ' ')
        return false;
    nx(lx);
    return true;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* or [a-zA-Z_][a-zA-Z0-9_]*, first byte current. */
static void lex_ident(em_expfmt_lexer_t *lx, int cls)
{
    int c;
    do
        c = nx(lx);
    while (c && cc_is((unsigned char)c, cls));
}

static int prom_init(em_expfmt_lexer_t *lx, int c)
{
    switch (c) {
    case '\n':
        nx(lx);
        lx->state = S_INIT;
        return T_LINEBREAK;
    case '\t':
    case ' ':
        return lex_ws(lx);
    case 0:
        nx(lx);
        return T_EOF;
    case '{':
        nx(lx);
        lx->state = S_LABELS;
        return T_BOPEN;
    }
    if (cc_is((unsigned char)c, CC_M)) {
        lex_ident(lx, CC_MD);
        lx->state = S_VALUE;
        return T_MNAME;
    }
    return T_INVALID;
}

static int prom_meta2(em_expfmt_lexer_t *lx, int c)
{
    /* {C}* : the rest of the line, possibly empty; blanks alone are whitespace. */
    bool text = false;
    if (is_ws(c)) {
        while (is_ws(c))
            c = nx(lx);
        if (c == 0 || c == '\n')
            return T_WHITESPACE;
        text = true;
    } else if (c != 0 && c != '\n') {
        text = true;
    }
    if (text)
        while (c != 0 && c != '\n')
            c = nx(lx);
    lx->state = S_INIT;
    return T_TEXT;
}

static int prom_labels(em_expfmt_lexer_t *lx, int c)
{
    switch (c) {
    case '"':
        return lex_qstring(lx, true) ? (lx->state = S_LABELS, T_QSTRING) : T_INVALID;
    case ',':
        nx(lx);
        return T_COMMA;
    case '=':
        nx(lx);
        lx->state = S_LVALUE;
        return T_EQUAL;
    case '\t':
    case ' ':
        return lex_ws(lx);
    case '}':
        nx(lx);
        lx->state = S_VALUE;
        return T_BCLOSE;
    }
    if (cc_is((unsigned char)c, CC_L)) {
        lex_ident(lx, CC_LD);
        return T_LNAME;
    }
    return T_INVALID;
}

int em_expfmt__prom_lex(em_expfmt_lexer_t *lx)
{
    if (lx->i >= lx->n)
        return T_EOF;
    int c = lx_at(lx, lx->i);
    lx->tok = lx->i;
    int t = T_INVALID;

    switch (lx->state) {
    case S_INIT:
        if (c != '#')
            return prom_init(lx, c);
        c = nx(lx);
        if (!is_ws(c))
            return consume_comment(lx);
        while (is_ws(c))
            c = nx(lx);
        /* "# " switches condition without starting a new token: it keeps starting at '#'. */
        lx->state = S_COMMENT;
        /* fall through */
    case S_COMMENT:
        if (c == 'H' && lex_keyword(lx, "HELP", true)) {
            lx->state = S_META1;
            return T_HELP;
        }
        if (c == 'T' && lex_keyword(lx, "TYPE", true)) {
            lx->state = S_META1;
            return T_TYPE;
        }
        if (c != 'H' && c != 'T' && is_ws(c))
            return lex_ws(lx);
        return consume_comment(lx);
    case S_META1:
        if (c == '"') {
            if (!lex_qstring(lx, true))
                return T_INVALID;
            lx->state = S_META2;
            return T_MNAME;
        }
        if (cc_is((unsigned char)c, CC_M)) {
            lex_ident(lx, CC_MD);
            lx->state = S_META2;
            return T_MNAME;
        }
        return is_ws(c) ? lex_ws(lx) : T_INVALID;
    case S_META2:
        return prom_meta2(lx, c);
    case S_LABELS:
        return prom_labels(lx, c);
    case S_LVALUE:
        if (c == '"')
            return lex_qstring(lx, true) ? (lx->state = S_LABELS, T_LVALUE) : T_INVALID;
        return is_ws(c) ? lex_ws(lx) : T_INVALID;
    case S_VALUE:
        if (is_ws(c))
            return lex_ws(lx);
        if (c == '{') {
            nx(lx);
            lx->state = S_LABELS;
            return T_BOPEN;
        }
        if (c && cc_is((unsigned char)c, CC_TVAL)) {
            do
                c = nx(lx);
            while (c && cc_is((unsigned char)c, CC_TVAL));
            lx->state = S_TIMESTAMP;
            return T_VALUE;
        }
        return T_INVALID;
    case S_TIMESTAMP:
        if (c == '\n') {
            nx(lx);
            lx->state = S_INIT;
            return T_LINEBREAK;
        }
        if (is_ws(c))
            return lex_ws(lx);
        if (c >= '0' && c <= '9') {
            do
                c = nx(lx);
            while (c >= '0' && c <= '9');
            return T_TIMESTAMP;
        }
        return T_INVALID;
    }
    return t;
}

/* OpenMetrics. */

static int om_comment(em_expfmt_lexer_t *lx, int c)
{
    switch (c) {
    case 'E':
        if (nx(lx) != 'O' || nx(lx) != 'F')
            return T_INVALID;
        if (nx(lx) == '\n')
            nx(lx);
        lx->state = S_INIT;
        return T_EOFWORD;
    case 'H':
        if (!lex_keyword(lx, "HELP", false))
            return T_INVALID;
        lx->state = S_META1;
        return T_HELP;
    case 'T':
        if (!lex_keyword(lx, "TYPE", false))
            return T_INVALID;
        lx->state = S_META1;
        return T_TYPE;
    case 'U':
        if (!lex_keyword(lx, "UNIT", false))
            return T_INVALID;
        lx->state = S_META1;
        return T_UNIT;
    }
    return T_INVALID;
}

/* Label-ish conditions: names, quoted strings, ',', '=', '}' (sLabels and sExemplar). */
static int om_labels(em_expfmt_lexer_t *lx, int c, bool exemplar)
{
    switch (c) {
    case '"':
        /* In sLabels a quoted name may span lines (promlex heritage); in sExemplar it may not. */
        return lex_qstring(lx, !exemplar) ? T_QSTRING : T_INVALID;
    case ',':
        nx(lx);
        return T_COMMA;
    case '=':
        nx(lx);
        lx->state = exemplar ? S_EVALUE : S_LVALUE;
        return T_EQUAL;
    case '}':
        nx(lx);
        lx->state = exemplar ? S_EVALUE : S_VALUE;
        return T_BCLOSE;
    }
    if (cc_is((unsigned char)c, CC_L)) {
        lex_ident(lx, CC_LD);
        return T_LNAME;
    }
    return T_INVALID;
}

/* {S}[^ \n]+ with the space current: a value or timestamp. */
static bool om_spaced(em_expfmt_lexer_t *lx)
{
    int c = nx(lx);
    if (!c || !cc_is((unsigned char)c, CC_OVAL))
        return false;
    do
        c = nx(lx);
    while (c && cc_is((unsigned char)c, CC_OVAL));
    return true;
}

static int om_timestamp(em_expfmt_lexer_t *lx, int c)
{
    if (c == '\n') {
        nx(lx);
        lx->state = S_INIT;
        return T_LINEBREAK;
    }
    if (c != ' ')
        return T_INVALID;
    c = nx(lx);
    if (c == '#') {
        c = nx(lx);
        if (c == ' ') {
            if (nx(lx) != '{')
                return T_INVALID;
            nx(lx);
            lx->state = S_EXEMPLAR;
            return T_COMMENT;
        }
        while (c && cc_is((unsigned char)c, CC_OVAL))
            c = nx(lx);
        return T_TIMESTAMP;
    }
    if (!c || !cc_is((unsigned char)c, CC_OVAL))
        return T_INVALID;
    do
        c = nx(lx);
    while (c && cc_is((unsigned char)c, CC_OVAL));
    return T_TIMESTAMP;
}

int em_expfmt__om_lex(em_expfmt_lexer_t *lx)
{
    if (lx->i >= lx->n)
        return T_EOF;
    int c = lx_at(lx, lx->i);
    lx->tok = lx->i;

    switch (lx->state) {
    case S_INIT:
        if (c == '#') {
            if (nx(lx) != ' ')
                return T_INVALID;
            c = nx(lx);
            lx->state = S_COMMENT;
            return om_comment(lx, c);
        }
        if (cc_is((unsigned char)c, CC_M)) {
            lex_ident(lx, CC_MD);
            lx->state = S_VALUE;
            return T_MNAME;
        }
        if (c == '{') {
            nx(lx);
            lx->state = S_LABELS;
            return T_BOPEN;
        }
        return T_INVALID;
    case S_COMMENT:
        return om_comment(lx, c);
    case S_META1:
        if (c == '"') {
            if (!lex_qstring(lx, true))
                return T_INVALID;
            lx->state = S_META2;
            return T_MNAME;
        }
        if (cc_is((unsigned char)c, CC_M)) {
            lex_ident(lx, CC_MD);
            lx->state = S_META2;
            return T_MNAME;
        }
        return T_INVALID;
    case S_META2:
        /* {S}{C}*\n */
        if (c != ' ')
            return T_INVALID;
        for (;;) {
            c = nx(lx);
            if (c == '\n') {
                nx(lx);
                lx->state = S_INIT;
                return T_TEXT;
            }
            if (c == 0)
                return T_INVALID;
        }
    case S_LABELS:
        return om_labels(lx, c, false);
    case S_EXEMPLAR:
        return om_labels(lx, c, true);
    case S_LVALUE:
    case S_EVALUE:
        if (c == '"') {
            /* label values may not span lines in OpenMetrics */
            if (!lex_qstring(lx, false))
                return T_INVALID;
            lx->state = lx->state == S_LVALUE ? S_LABELS : S_EXEMPLAR;
            return T_LVALUE;
        }
        if (lx->state == S_EVALUE && c == ' ') {
            if (!om_spaced(lx))
                return T_INVALID;
            lx->state = S_ETIMESTAMP;
            return T_VALUE;
        }
        return T_INVALID;
    case S_VALUE:
        if (c == ' ') {
            if (!om_spaced(lx))
                return T_INVALID;
            lx->state = S_TIMESTAMP;
            return T_VALUE;
        }
        if (c == '{') {
            nx(lx);
            lx->state = S_LABELS;
            return T_BOPEN;
        }
        return T_INVALID;
    case S_TIMESTAMP:
        return om_timestamp(lx, c);
    case S_ETIMESTAMP:
        if (c == '\n') {
            nx(lx);
            lx->state = S_INIT;
            return T_LINEBREAK;
        }
        if (c == ' ' && om_spaced(lx))
            return T_TIMESTAMP;
        return T_INVALID;
    }
    return T_INVALID;
}
