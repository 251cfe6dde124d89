#include "common/err.h"

#include <errno.h>

void err_clear(gcs_err *err)
{
    if (!err)
        return;
    free(err->msg);
    err->msg = NULL;
    err->hr = 0;
    err->code = 0;
}

void err_move(gcs_err *dst, gcs_err *src)
{
    err_clear(dst);
    *dst = *src;
    src->msg = NULL;
    src->hr = 0;
    src->code = 0;
}

int err_set(gcs_err *err, int32_t hr, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    char *m = xvasprintf(fmt, ap);
    va_end(ap);
    err_clear(err);
    err->hr = hr ? hr : HR_E_FAIL;
    err->code = -EIO;
    err->msg = m;
    return -EIO;
}

int err_errno(gcs_err *err, int32_t hr, int errnum, const char *fmt, ...)
{
    if (errnum < 0)
        errnum = -errnum;
    int code = errnum ? -errnum : -EIO;
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *m = xvasprintf(fmt, ap);
    va_end(ap);
    err_clear(err);
    err->hr = hr ? hr : HR_E_FAIL;
    err->code = code;
    err->msg = xasprintf("%s: %s", m, strerror(errnum ? errnum : EIO));
    return code;
}

int err_wrap(gcs_err *err, int r, const char *fmt, ...)
{
    if (!err)
        return r;
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    if (!err->msg) {
        err->msg = steal_pointer(&ctx);
        if (!err->hr)
            err->hr = HR_E_FAIL;
        err->code = r;
        return r;
    }
    char *m = xasprintf("%s: %s", ctx, err->msg);
    free(err->msg);
    err->msg = m;
    return r;
}
