/* devwait.h — waiting for a device on the loop: a lookup (src/device) is
 * tried at once, then every 10 ms until it succeeds, fails for good, or the
 * deadline passes (-device-timeout). Upstream waits on the request context,
 * which has no deadline (docs/differences.md D-40). */
#pragma once

#include "common/err.h"
#include "loop/loop.h"

#include <stdint.h>

/* 0: found; -EAGAIN: not yet (err says what is missing); other <0: failed. */
typedef int (*devwait_step_fn)(void *data, gcs_err *err);
/* r: 0 found, <0 failed (err set; a deadline says so and what was missing). */
typedef void (*devwait_done_fn)(void *data, int r, gcs_err *err);

typedef struct devwait devwait;

/* Try step now: 0 or <0 as step returned (done is not called). Otherwise 1:
 * *ret is the pending wait and done follows, unless devwait_cancel. what
 * names the wait in the deadline's message. */
int devwait_start(loop *l, uint64_t timeout_ms, const char *what, devwait_step_fn step, devwait_done_fn done,
                  void *data, devwait **ret, gcs_err *err);
/* Stop a pending wait; done is not called. NULL: no-op. */
void devwait_cancel(devwait *w);
