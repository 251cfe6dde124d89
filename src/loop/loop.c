#include "loop/loop.h"

#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

struct loop_watch {
    int fd;
    loop_fd_cb cb;
    void *data;
    bool dead;
    loop_watch *next_dead;
};

struct loop_timer {
    uint64_t due;
    uint64_t seq;
    loop_timer_cb cb;
    void *data;
    size_t idx; /* position in the heap, SIZE_MAX when not queued */
};

typedef struct child {
    pid_t pid;
    int status;
    bool exited; /* status stored, no watcher yet */
    uint64_t reaped_at;
    loop_child_cb cb;
    void *data;
    struct child *next;
} child;

typedef struct deferred {
    loop_timer_cb cb;
    void *data;
    struct deferred *next;
} deferred;

#define CHILD_BUCKETS 256
#define MAX_SIGNAL 65

struct loop {
    int epfd;
    bool quit;
    int quit_code;
    loop_timer **heap;
    size_t nheap, capheap;
    uint64_t seq;
    loop_watch *dead; /* removed watches freed at the end of an iteration */
    child *children[CHILD_BUCKETS];
    size_t nchildren;
    size_t norphans; /* statuses kept for a watcher that may still register */
    int sigfd;
    loop_watch *sigwatch;
    sigset_t sigmask;
    struct {
        loop_signal_cb cb;
        void *data;
    } sig[MAX_SIGNAL];
    deferred *dhead, *dtail;
};

static void on_signalfd(loop *l, int fd, uint32_t events, void *data);

loop *loop_new(void)
{
    loop *l = xzalloc(sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        abort();
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    return l;
}

void loop_free(loop *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    while (l->dead) {
        loop_watch *w = l->dead;
        l->dead = w->next_dead;
        free(w);
    }
    for (size_t b = 0; b < CHILD_BUCKETS; b++) {
        while (l->children[b]) {
            child *c = l->children[b];
            l->children[b] = c->next;
            free(c);
        }
    }
    while (l->dhead) {
        deferred *d = l->dhead;
        l->dhead = d->next;
        free(d);
    }
    if (l->sigwatch)
        free(l->sigwatch);
    if (l->sigfd >= 0)
        close(l->sigfd);
    close(l->epfd);
    free(l);
}

void loop_quit(loop *l, int code)
{
    l->quit = true;
    l->quit_code = code;
}

/* ---- fd watches ---- */

loop_watch *loop_watch_add(loop *l, int fd, uint32_t events, loop_fd_cb cb, void *data)
{
    loop_watch *w = xzalloc(sizeof(*w));
    w->fd = fd;
    w->cb = cb;
    w->data = data;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    return w;
}

int loop_watch_modify(loop *l, loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void loop_watch_remove(loop *l, loop_watch *w)
{
    if (!w || w->dead)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->dead = true;
    w->next_dead = l->dead;
    l->dead = w;
}

/* ---- timers: binary min-heap on (due, seq) ---- */

static bool tless(const loop_timer *a, const loop_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void hswap(loop *l, size_t i, size_t j)
{
    loop_timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->idx = i;
    l->heap[j]->idx = j;
}

static void hup(loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tless(l->heap[i], l->heap[p]))
            break;
        hswap(l, i, p);
        i = p;
    }
}

static void hdown(loop *l, size_t i)
{
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && tless(l->heap[a], l->heap[m]))
            m = a;
        if (b < l->nheap && tless(l->heap[b], l->heap[m]))
            m = b;
        if (m == i)
            break;
        hswap(l, i, m);
        i = m;
    }
}

loop_timer *loop_timer_add(loop *l, uint64_t ms, loop_timer_cb cb, void *data)
{
    loop_timer *t = xzalloc(sizeof(*t));
    t->due = now_ms() + ms;
    t->seq = l->seq++;
    t->cb = cb;
    t->data = data;
    if (l->nheap == l->capheap) {
        l->capheap = l->capheap ? l->capheap * 2 : 16;
        l->heap = xrealloc(l->heap, l->capheap * sizeof(*l->heap));
    }
    t->idx = l->nheap;
    l->heap[l->nheap++] = t;
    hup(l, t->idx);
    return t;
}

static void heap_remove(loop *l, loop_timer *t)
{
    size_t i = t->idx;
    l->nheap--;
    if (i != l->nheap) {
        hswap(l, i, l->nheap);
        hdown(l, i);
        hup(l, i);
    }
    t->idx = SIZE_MAX;
}

void loop_timer_cancel(loop *l, loop_timer *t)
{
    if (!t)
        return;
    if (t->idx != SIZE_MAX)
        heap_remove(l, t);
    free(t);
}

static int next_timeout(loop *l, int cap)
{
    if (l->dhead)
        return 0;
    if (l->nheap == 0)
        return cap;
    uint64_t now = now_ms(), due = l->heap[0]->due;
    int64_t d = due > now ? (int64_t)(due - now) : 0;
    if (cap >= 0 && d > cap)
        d = cap;
    return d > INT32_MAX ? INT32_MAX : (int)d;
}

static void run_timers(loop *l)
{
    uint64_t now = now_ms();
    while (l->nheap > 0 && l->heap[0]->due <= now && !l->quit) {
        loop_timer *t = l->heap[0];
        heap_remove(l, t);
        loop_timer_cb cb = t->cb;
        void *data = t->data;
        free(t);
        cb(l, data);
    }
}

/* ---- deferred calls ---- */

void loop_defer(loop *l, loop_timer_cb cb, void *data)
{
    deferred *d = xzalloc(sizeof(*d));
    d->cb = cb;
    d->data = data;
    if (l->dtail)
        l->dtail->next = d;
    else
        l->dhead = d;
    l->dtail = d;
}

static void run_deferred(loop *l)
{
    deferred *d = l->dhead;
    l->dhead = l->dtail = NULL;
    while (d) {
        deferred *n = d->next;
        d->cb(l, d->data);
        free(d);
        d = n;
    }
}

/* ---- signals ---- */

int loop_signal_add(loop *l, int signo, loop_signal_cb cb, void *data)
{
    if (signo <= 0 || signo >= MAX_SIGNAL)
        return -EINVAL;
    l->sig[signo].cb = cb;
    l->sig[signo].data = data;
    sigaddset(&l->sigmask, signo);
    if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
        return -errno;
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (l->sigfd < 0) {
        l->sigfd = fd;
        l->sigwatch = loop_watch_add(l, fd, EPOLLIN, on_signalfd, NULL);
    }
    return 0;
}

static child **child_slot(loop *l, pid_t pid)
{
    child **pp = &l->children[(unsigned)pid % CHILD_BUCKETS];
    while (*pp && (*pp)->pid != pid)
        pp = &(*pp)->next;
    return pp;
}

/* Statuses nobody claimed within 30 s belong to reparented orphans: drop
 * them so a long-lived agent does not accumulate them. */
static void sweep_orphans(loop *l)
{
    uint64_t cutoff = now_ms() - 30000;
    for (size_t b = 0; b < CHILD_BUCKETS; b++) {
        for (child **pp = &l->children[b]; *pp;) {
            child *c = *pp;
            if (c->exited && c->reaped_at < cutoff) {
                *pp = c->next;
                l->norphans--;
                free(c);
            } else {
                pp = &c->next;
            }
        }
    }
}

static void reap_children(loop *l)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        child **pp = child_slot(l, pid);
        child *c = *pp;
        if (c && c->cb) {
            *pp = c->next;
            l->nchildren--;
            loop_child_cb cb = c->cb;
            void *data = c->data;
            free(c);
            cb(l, pid, status, data);
        } else if (!c) {
            /* Either an orphan reparented to us (subreaper) or a child whose
             * watcher registers later: keep the status briefly for the latter. */
            c = xzalloc(sizeof(*c));
            c->pid = pid;
            c->status = status;
            c->exited = true;
            c->reaped_at = now_ms();
            l->norphans++;
            c->next = l->children[(unsigned)pid % CHILD_BUCKETS];
            l->children[(unsigned)pid % CHILD_BUCKETS] = c;
            log_debug("reaped unregistered child", KV_I("pid", pid), KV_I("status", status));
        }
    }
    if (l->norphans > 64)
        sweep_orphans(l);
}

static void on_signalfd(loop *l, int fd, uint32_t events, void *data)
{
    (void)events;
    (void)data;
    struct signalfd_siginfo si;
    bool chld = false;
    for (;;) {
        ssize_t n = read(fd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si))
            break;
        if (si.ssi_signo == SIGCHLD) {
            chld = true;
            continue;
        }
        if (si.ssi_signo < MAX_SIGNAL && l->sig[si.ssi_signo].cb)
            l->sig[si.ssi_signo].cb(l, (int)si.ssi_signo, l->sig[si.ssi_signo].data);
    }
    if (chld) {
        reap_children(l);
        if (l->sig[SIGCHLD].cb)
            l->sig[SIGCHLD].cb(l, SIGCHLD, l->sig[SIGCHLD].data);
    }
}

void loop_child_watch(loop *l, pid_t pid, loop_child_cb cb, void *data)
{
    child **pp = child_slot(l, pid);
    child *c = *pp;
    if (c && c->exited) {
        *pp = c->next;
        l->norphans--;
        int status = c->status;
        free(c);
        cb(l, pid, status, data);
        return;
    }
    if (!c) {
        c = xzalloc(sizeof(*c));
        c->pid = pid;
        c->next = l->children[(unsigned)pid % CHILD_BUCKETS];
        l->children[(unsigned)pid % CHILD_BUCKETS] = c;
        l->nchildren++;
    }
    c->cb = cb;
    c->data = data;
}

void loop_child_unwatch(loop *l, pid_t pid)
{
    child **pp = child_slot(l, pid);
    child *c = *pp;
    if (!c)
        return;
    *pp = c->next;
    if (c->exited)
        l->norphans--;
    else
        l->nchildren--;
    free(c);
}

size_t loop_child_count(loop *l) { return l->nchildren; }

/* ---- running ---- */

int loop_run_once(loop *l, int timeout_ms)
{
    struct epoll_event evs[64];
    run_deferred(l);
    int n = epoll_wait(l->epfd, evs, (int)ARRAY_SIZE(evs), next_timeout(l, timeout_ms));
    if (n < 0 && errno != EINTR)
        return -errno;
    for (int i = 0; i < n && !l->quit; i++) {
        loop_watch *w = evs[i].data.ptr;
        if (w->dead)
            continue;
        w->cb(l, w->fd, evs[i].events, w->data);
    }
    run_timers(l);
    while (l->dead) {
        loop_watch *w = l->dead;
        l->dead = w->next_dead;
        free(w);
    }
    return n < 0 ? 0 : n;
}

int loop_run(loop *l)
{
    l->quit = false;
    while (!l->quit) {
        int r = loop_run_once(l, -1);
        if (r < 0)
            return r;
    }
    /* the loop stays usable (the agent runs it again to tear down) */
    l->quit = false;
    return l->quit_code;
}
