/* Design: see log.h */
#include "base/log.h"
#include "base/buf.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static em_log_level_t g_min = EM_LOG_INFO;
static em_log_format_t g_format = EM_LOG_LOGFMT;
static int g_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void em_log_setup(em_log_level_t min_level, em_log_format_t format, int fd)
{
    g_min = min_level;
    g_format = format;
    g_fd = fd;
}

int em_log_parse_level(const char *s, em_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (em_log_level_t)i;
            return EM_OK;
        }
    }
    return EM_EINVAL;
}

int em_log_parse_format(const char *s, em_log_format_t *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = EM_LOG_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = EM_LOG_JSON;
    else
        return EM_EINVAL;
    return EM_OK;
}

bool em_log_enabled(em_log_level_t level)
{
    return level >= g_min;
}

static bool needs_quote(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            return true;
    }
    return false;
}

const char *em_q(const char *s)
{
    static _Thread_local char bufs[8][1024];
    static _Thread_local unsigned next;
    char *b = bufs[next++ % 8];
    if (!s)
        s = "";
    if (!needs_quote(s)) {
        snprintf(b, 1024, "%s", s);
        return b;
    }
    size_t o = 0;
    b[o++] = '"';
    for (; *s && o < 1020; s++) {
        char c = *s;
        if (c == '"' || c == '\\') {
            b[o++] = '\\';
            b[o++] = c;
        } else if (c == '\n') {
            b[o++] = '\\';
            b[o++] = 'n';
        } else if (c == '\t') {
            b[o++] = '\\';
            b[o++] = 't';
        } else if ((unsigned char)c < ' ') {
            b[o++] = ' ';
        } else {
            b[o++] = c;
        }
    }
    b[o++] = '"';
    b[o] = '\0';
    return b;
}

static void format_ts(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Re-tokenise logfmt pairs into JSON members: key=value or key="quoted \" value". */
static void kv_to_json(em_buf_t *b, const char *kv)
{
    const char *p = kv;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - k);
        if (klen == 0)
            break;
        em_buf_puts(b, ",");
        em_buf_put_json_str(b, k, klen);
        em_buf_puts(b, ":");
        if (*p != '=') {
            em_buf_puts(b, "\"\"");
            continue;
        }
        p++;
        em_buf_t v;
        em_buf_init(&v);
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) {
                    p++;
                    em_buf_putc(&v, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
                } else {
                    em_buf_putc(&v, *p);
                }
                p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ' ')
                em_buf_putc(&v, *p++);
        }
        em_buf_put_json_str(b, v.data ? v.data : "", v.len);
        em_buf_fini(&v);
    }
}

void em_log(em_log_level_t level, const char *component, const char *msg, const char *kvfmt, ...)
{
    if (level < g_min)
        return;
    char ts[40];
    char kv[4096];
    format_ts(ts, sizeof(ts));
    va_list ap;
    va_start(ap, kvfmt);
    vsnprintf(kv, sizeof(kv), kvfmt, ap);
    va_end(ap);

    em_buf_t b;
    em_buf_init(&b);
    if (g_format == EM_LOG_JSON) {
        em_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts, level_names[level]);
        em_buf_put_json_str(&b, component, strlen(component));
        em_buf_puts(&b, ",\"msg\":");
        em_buf_put_json_str(&b, msg, strlen(msg));
        kv_to_json(&b, kv);
        em_buf_puts(&b, "}\n");
    } else {
        em_buf_printf(&b, "ts=%s level=%s component=%s msg=%s", ts, level_names[level], component, em_q(msg));
        if (kv[0]) {
            em_buf_putc(&b, ' ');
            em_buf_puts(&b, kv);
        }
        em_buf_putc(&b, '\n');
    }
    ssize_t w = write(g_fd, b.data, b.len);
    (void)w;
    em_buf_fini(&b);
}
