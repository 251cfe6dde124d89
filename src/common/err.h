/* err.h — the one error idiom.
 *
 * A fallible function takes `gcs_err *err` and returns 0 on success or a
 * negative errno-style value on failure, after filling err with the HRESULT
 * the host should see and a message. Callers add context with err_wrap() on
 * the way up ("create pod X: mkdir Y: No such file"). Only the bridge turns an
 * error into a response; nothing below it both logs and returns the error.
 *
 *     if (mkdir(p, 0755) < 0)
 *         return err_errno(err, HR_E_FAIL, errno, "mkdir %s", p);
 *     ...
 *     if ((r = pod_create(h, id, err)) < 0)
 *         return err_wrap(err, r, "create pod %s", id);
 */
#pragma once

#include "common/hresult.h"
#include "common/util.h"

typedef struct gcs_err {
    int32_t hr; /* 0 when unset */
    int code;   /* the negative errno returned alongside (or -EIO) */
    char *msg;  /* owned; NULL when unset */
} gcs_err;

#define GCS_ERR_INIT {0, 0, NULL}

/* Set err (replacing any previous content). Returns -EIO. */
int err_set(gcs_err *err, int32_t hr, const char *fmt, ...) PRINTF(3, 4);
/* Set err with ": strerror(errnum)" appended. Returns -errnum (or -EIO). */
int err_errno(gcs_err *err, int32_t hr, int errnum, const char *fmt, ...) PRINTF(4, 5);
/* Prefix err's message with "<context>: ". Returns r unchanged. err may be
 * unset (then the context becomes the message, with HR_E_FAIL). */
int err_wrap(gcs_err *err, int r, const char *fmt, ...) PRINTF(3, 4);
void err_clear(gcs_err *err);
/* Move src into dst (dst cleared first). */
void err_move(gcs_err *dst, gcs_err *src);
static inline bool err_isset(const gcs_err *err) { return err->msg != NULL; }
static inline const char *err_msg(const gcs_err *err) { return err->msg ? err->msg : ""; }

static inline void err_clearp(gcs_err *e) { err_clear(e); }
#define cleanup_err __attribute__((cleanup(err_clearp)))
