/* Design: see duration.h */
#include "base/duration.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *unit;
    int64_t ms;
} units[] = {
    {"y", 365 * EM_MS_PER_DAY}, {"w", 7 * EM_MS_PER_DAY}, {"d", EM_MS_PER_DAY}, {"h", EM_MS_PER_HOUR},
    {"m", EM_MS_PER_MINUTE},    {"s", EM_MS_PER_SECOND},  {"ms", 1},
};

static int bad(em_err_t *err, const char *s, size_t n)
{
    return em_err_set(err, EM_EINVAL, "not a valid duration string: \"%.*s\"", (int)(n > 200 ? 200 : n), s);
}

int em_duration_parse(const char *s, size_t n, int64_t *dur_ms, em_err_t *err)
{
    if (n == 1 && s[0] == '0') {
        *dur_ms = 0;
        return EM_OK;
    }
    if (n == 0)
        return bad(err, s, n);
    size_t i = 0;
    size_t next_unit = 0; /* units must appear in order, each once */
    int64_t total = 0;
    while (i < n) {
        if (!isdigit((unsigned char)s[i]))
            return bad(err, s, n);
        uint64_t num = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            num = num * 10 + (uint64_t)(s[i] - '0');
            if (num > (uint64_t)INT64_MAX)
                return bad(err, s, n);
            i++;
        }
        size_t ustart = i;
        while (i < n && isalpha((unsigned char)s[i]))
            i++;
        size_t ulen = i - ustart;
        size_t u;
        for (u = next_unit; u < (sizeof(units) / sizeof(units[0])); u++)
            if (strlen(units[u].unit) == ulen && memcmp(units[u].unit, s + ustart, ulen) == 0)
                break;
        if (u == (sizeof(units) / sizeof(units[0])))
            return bad(err, s, n);
        next_unit = u + 1;
        if (num > (uint64_t)(INT64_MAX / units[u].ms))
            return em_err_set(err, EM_EINVAL, "duration out of range: \"%.*s\"", (int)n, s);
        int64_t part = (int64_t)num * units[u].ms;
        if (total > INT64_MAX - part)
            return em_err_set(err, EM_EINVAL, "duration out of range: \"%.*s\"", (int)n, s);
        total += part;
    }
    *dur_ms = total;
    return EM_OK;
}

size_t em_duration_format(int64_t dur_ms, char *out)
{
    if (dur_ms == 0)
        return (size_t)snprintf(out, 32, "0s");
    size_t o = 0;
    uint64_t ms = (uint64_t)dur_ms;
    if (dur_ms < 0) {
        out[o++] = '-';
        ms = (uint64_t)0 - (uint64_t)dur_ms;
    }
    for (size_t u = 0; u < (sizeof(units) / sizeof(units[0])); u++) {
        uint64_t um = (uint64_t)units[u].ms;
        if (ms >= um) {
            uint64_t q = ms / um;
            ms -= q * um;
            o += (size_t)snprintf(out + o, 32 - o, "%llu%s", (unsigned long long)q, units[u].unit);
        }
    }
    out[o] = '\0';
    return o;
}

int64_t em_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t em_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

size_t em_time_format_rfc3339(int64_t t_ms, char *out)
{
    int64_t sec = t_ms / 1000, ms = t_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        sec--;
    }
    time_t tt = (time_t)sec;
    struct tm tm;
    gmtime_r(&tt, &tm);
    return (size_t)snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int parse_rfc3339(const char *s, int64_t *t_ms)
{
    int Y, M, D, h, m, sec;
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return EM_EINVAL;
    if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &m) || !digits(s + 17, 2, &sec))
        return EM_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
        return EM_EINVAL;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        int64_t scale = 100;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3)
                frac_ms += (*p - '0') * scale;
            scale /= 10;
            nd++;
            p++;
        }
        if (nd == 0)
            return EM_EINVAL;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || p[3] != ':' || !digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om))
            return EM_EINVAL;
        off_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return EM_EINVAL;
    }
    if (*p)
        return EM_EINVAL;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + h * 3600 + m * 60 + sec - off_s;
    *t_ms = secs * 1000 + frac_ms;
    return EM_OK;
}

int em_time_parse(const char *s, int64_t *t_ms)
{
    if (!*s)
        return EM_EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (*end == '\0' && end != s) {
        if (!isfinite(v) || v > 9.2e15 || v < -9.2e15)
            return EM_EINVAL;
        /* Prometheus rounds seconds with a fraction to the nearest millisecond. */
        *t_ms = (int64_t)llround(v * 1000.0);
        return EM_OK;
    }
    return parse_rfc3339(s, t_ms);
}
