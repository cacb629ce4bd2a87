/* Design: see err.h */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

void em_err_clear(em_err_t *err)
{
    if (err) {
        err->code = EM_OK;
        err->sys_errno = 0;
        err->msg[0] = '\0';
    }
}

int em_err_setv(em_err_t *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        err->sys_errno = 0;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int em_err_set(em_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    em_err_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int em_err_sys(em_err_t *err, int code, int errnum, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    em_err_setv(err, code, fmt, ap);
    va_end(ap);
    size_t n = strlen(err->msg);
    char ebuf[128];
    const char *es = strerror_r(errnum, ebuf, sizeof(ebuf));
    snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", es);
    err->sys_errno = errnum;
    return code;
}

int em_err_prefix(em_err_t *err, const char *fmt, ...)
{
    if (!err)
        return EM_EINVAL;
    char prefix[EM_ERR_MSG_MAX];
    char old[EM_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    return err->code;
}

const char *em_strerror(int code)
{
    switch (code) {
    case EM_OK: return "ok";
    case EM_DONE: return "done";
    case EM_ENOMEM: return "out of memory";
    case EM_EINVAL: return "invalid argument";
    case EM_EIO: return "i/o error";
    case EM_ECORRUPT: return "corrupt data";
    case EM_ELIMIT: return "limit exceeded";
    case EM_ENOTFOUND: return "not found";
    case EM_EOOO: return "out of order sample";
    case EM_EDUP: return "duplicate sample for timestamp";
    case EM_EBOUNDS: return "out of bounds";
    case EM_EEXIST: return "already exists";
    case EM_ECANCELED: return "canceled";
    case EM_ETIMEOUT: return "timeout";
    case EM_EBUSY: return "busy";
    case EM_EUNSUPPORTED: return "not supported";
    case EM_ESTATE: return "invalid state";
    }
    return "unknown error";
}
