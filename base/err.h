/* base/err.h -- Ember's error codes and the error detail that travels beside them.
 *
 * DESIGN. Fallible functions return int: EM_OK (0) or a negative EM_E* code of our own, never errno.
 * Iterators end with EM_DONE (positive: not an error). Detail (a message and, for system calls, the saved
 * errno) travels in an optional em_err_t that callers may pass as NULL; setting it never allocates.
 * Hot loops return the bare code; the API boundary adds the message, in Prometheus's wording where
 * Prometheus has one.
 */
#ifndef EMBER_BASE_ERR_H
#define EMBER_BASE_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum {
    EM_OK = 0,
    EM_DONE = 1, /* iterator exhausted; not an error */
    EM_ENOMEM = -1,
    EM_EINVAL = -2,        /* bad argument or malformed input */
    EM_EIO = -3,           /* a system call failed; em_err_t.sys_errno says which errno */
    EM_ECORRUPT = -4,      /* data on disk or on the wire fails its checks */
    EM_ELIMIT = -5,        /* a configured or built-in bound was reached */
    EM_ENOTFOUND = -6,
    EM_EOOO = -7,          /* sample older than the series' newest sample */
    EM_EDUP = -8,          /* same timestamp, different value */
    EM_EBOUNDS = -9,       /* sample outside the time range storage accepts */
    EM_EEXIST = -10,
    EM_ECANCELED = -11,
    EM_ETIMEOUT = -12,
    EM_EBUSY = -13,
    EM_EUNSUPPORTED = -14,
    EM_ESTATE = -15,       /* operation not valid in the object's current state (e.g. closed) */
};

#define EM_ERR_MSG_MAX 512

typedef struct em_err {
    int code;
    int sys_errno; /* errno saved by em_err_sys(), 0 otherwise */
    char msg[EM_ERR_MSG_MAX];
} em_err_t;

/* Clear 'err' (NULL allowed). Thread: any. */
void em_err_clear(em_err_t *err);

/* Record 'code' and a printf-formatted message in 'err' (NULL allowed: only the code is returned).
 * Returns 'code', so callers write `return em_err_set(err, EM_EINVAL, "bad %s", x);`. Thread: any. */
int em_err_set(em_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int em_err_setv(em_err_t *err, int code, const char *fmt, va_list ap);

/* As em_err_set, and append ": <strerror(errnum)>" and save errnum. Returns 'code'. Thread: any. */
int em_err_sys(em_err_t *err, int code, int errnum, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prepend "<prefix>: " to the message already in 'err' (NULL allowed). Returns err->code (or EM_EINVAL
 * when err is NULL). Used to add context on the way up: file names, series, line numbers. Thread: any. */
int em_err_prefix(em_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short static description of an EM_* code ("out of order sample", ...). Thread: any. */
const char *em_strerror(int code);

#endif
