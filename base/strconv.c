/* Design: see strconv.h */
#include "base/strconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Shortest decimal digits of |v| (v finite, non-zero): digits in 'd' (no dot), count in *nd, and the
 * decimal point position *dp (value = 0.d1d2... * 10^dp), as Go's decimal conversion reports them. */
static void shortest_digits(double v, char *d, int *nd, int *dp)
{
    char tmp[40];
    if (v < 9007199254740992.0 && v == floor(v)) {
        /* Below 2^53 every integer is a double, so an integer's shortest form is all its digits. */
        int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
        *dp = n;
        while (n > 1 && tmp[n - 1] == '0')
            n--;
        memcpy(d, tmp, (size_t)n);
        d[n] = '\0';
        *nd = n;
        return;
    }
    /* For a normal double, a decimal of at most 15 significant digits that reads back as v is what
     * %.14e prints (the 15-digit grid is coarser than twice v's rounding error, so rounding v to it
     * lands on that decimal), so trying 15, 16 and 17 digits finds the shortest form. Subnormals,
     * whose rounding error is large relative to them, search from one digit up. */
    int first = v < 2.2250738585072014e-308 ? 0 : 14;
    for (int prec = first; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp is "d.ddddde[+-]xx" (no sign: caller passes |v|) */
    int n = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            d[n++] = *p;
    int exp10 = atoi(p + 1);
    while (n > 1 && d[n - 1] == '0')
        n--;
    d[n] = '\0';
    *nd = n;
    *dp = exp10 + 1;
}

static size_t fmt_e(char *out, bool neg, const char *d, int nd, int dp)
{
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    out[o++] = d[0];
    if (nd > 1) {
        out[o++] = '.';
        memcpy(out + o, d + 1, (size_t)nd - 1);
        o += (size_t)nd - 1;
    }
    int e = dp - 1;
    out[o++] = 'e';
    out[o++] = e < 0 ? '-' : '+';
    if (e < 0)
        e = -e;
    if (e < 10) {
        out[o++] = '0';
        out[o++] = (char)('0' + e);
    } else {
        o += (size_t)snprintf(out + o, 8, "%d", e);
    }
    out[o] = '\0';
    return o;
}

static size_t fmt_f(char *out, bool neg, const char *d, int nd, int dp)
{
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (dp <= 0) {
        out[o++] = '0';
    } else {
        for (int i = 0; i < dp; i++)
            out[o++] = i < nd ? d[i] : '0';
    }
    if (nd > dp) {
        out[o++] = '.';
        for (int i = dp; i < nd; i++)
            out[o++] = i < 0 ? '0' : d[i];
    }
    out[o] = '\0';
    return o;
}

static size_t special(double v, char *out)
{
    if (isnan(v))
        return (size_t)snprintf(out, EM_FLOAT_BUF, "NaN");
    return (size_t)snprintf(out, EM_FLOAT_BUF, v > 0 ? "+Inf" : "-Inf");
}

static size_t fmt_float(double v, char fmt, int eprec_shortest, char *out)
{
    if (!isfinite(v))
        return special(v, out);
    bool neg = signbit(v);
    if (v == 0) {
        const char *z = fmt == 'e' ? "0e+00" : "0";
        return (size_t)snprintf(out, EM_FLOAT_BUF, "%s%s", neg ? "-" : "", z);
    }
    char d[32];
    int nd, dp;
    shortest_digits(fabs(v), d, &nd, &dp);
    if (fmt == 'e')
        return fmt_e(out, neg, d, nd, dp);
    if (fmt == 'g') {
        int eprec = eprec_shortest;
        int exp = dp - 1;
        if (exp < -4 || exp >= eprec)
            return fmt_e(out, neg, d, nd, dp);
    }
    return fmt_f(out, neg, d, nd, dp);
}

size_t em_fmt_float(double v, char fmt, char *out)
{
    /* Go: "if precision was the shortest possible, use precision 6 for this decision", so %g switches
     * to exponent form from 1e+06 on and below 1e-04 (fmt.Sprint(1e6) == "1e+06"). */
    return fmt_float(v, fmt, 6, out);
}

bool em_parse_float(const char *s, size_t n, double *out)
{
    char tmp[128];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    const char *p = tmp;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (strcasecmp(p, "nan") == 0) {
        *out = NAN;
        return true;
    }
    /* Reject what strtod accepts but Go does not: leading spaces, "nan(...)" and the like. */
    if (!((*p >= '0' && *p <= '9') || *p == '.'))
        return false;
    char *end;
    double v = strtod(tmp, &end);
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}
