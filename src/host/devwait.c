/* devwait.c — see devwait.h. */
#include "host/devwait.h"

#include "common/log.h"

#include <errno.h>
#include <stdlib.h>

#define POLL_MS 10

struct devwait {
    loop *l;
    loop_timer *timer;
    uint64_t deadline_ms, started_ms, timeout_ms;
    char *what;
    devwait_step_fn step;
    devwait_done_fn done;
    void *data;
};

static void finish(devwait *w, int r, gcs_err *err)
{
    devwait_done_fn done = w->done;
    void *data = w->data;
    free(w->what);
    free(w);
    done(data, r, err);
}

static void tick(loop *l, void *p)
{
    devwait *w = p;
    (void)l;
    w->timer = NULL;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    int r = w->step(w->data, &err);
    if (r != -EAGAIN) {
        if (r == 0)
            log_debug("device found", KV_S("what", w->what), KV_U("waited_ms", now_ms() - w->started_ms));
        finish(w, r, &err);
        return;
    }
    uint64_t now = now_ms();
    if (now >= w->deadline_ms) {
        err_wrap(&err, -ETIMEDOUT, "%s: deadline exceeded after %llu ms", w->what,
                 (unsigned long long)w->timeout_ms);
        finish(w, -ETIMEDOUT, &err);
        return;
    }
    uint64_t left = w->deadline_ms - now;
    w->timer = loop_timer_add(w->l, left < POLL_MS ? left : POLL_MS, tick, w);
}

int devwait_start(loop *l, uint64_t timeout_ms, const char *what, devwait_step_fn step, devwait_done_fn done,
                  void *data, devwait **ret, gcs_err *err)
{
    gcs_err first = GCS_ERR_INIT;
    int r = step(data, &first);
    if (r != -EAGAIN) {
        if (r < 0)
            err_move(err, &first);
        err_clear(&first);
        return r;
    }
    err_clear(&first);
    devwait *w = xzalloc(sizeof(*w));
    w->l = l;
    w->started_ms = now_ms();
    w->timeout_ms = timeout_ms;
    w->deadline_ms = w->started_ms + timeout_ms;
    w->what = xstrdup(what);
    w->step = step;
    w->done = done;
    w->data = data;
    w->timer = loop_timer_add(l, POLL_MS, tick, w);
    log_debug("waiting for a device", KV_S("what", what), KV_U("timeout_ms", timeout_ms));
    *ret = w;
    return 1;
}

void devwait_cancel(devwait *w)
{
    if (!w)
        return;
    if (w->timer)
        loop_timer_cancel(w->l, w->timer);
    free(w->what);
    free(w);
}
