/* The pipe and pty relays (docs/protocol.md §1.3): one copy stream per
 * direction, driven by level-triggered watches that are only registered
 * while the stream can make progress, so a full socket stops the reads from
 * the process (the pipe or pty then fills and the process blocks). */
#include "stdio/stdio.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#define RELAY_BUF (64 * 1024)
#define PUMP_ROUNDS 64 /* per callback, so one busy stream does not starve the loop */

typedef struct stream {
    relay *r;
    enum relay_stream which;
    int src, dst; /* stdin: socket -> pipe/pty; stdout/stderr: pipe/pty -> socket */
    loop_watch *wsrc, *wdst;
    uint32_t esrc, edst;
    char *buf; /* buffered mode only */
    size_t off, len;
    bool active;      /* started with a connection */
    bool use_splice;  /* a pipe is on one side; cleared when the kernel refuses */
    bool dst_blocked; /* splice: EAGAIN while the source had data */
    bool src_eof;
    bool copied;    /* source done and delivered: closed (out/err) or unwatched (stdin) */
    bool discard;   /* out/err: the host vanished; stdin: the process's stdin is gone */
    bool handshake; /* out/err: shut down, waiting for the host's EOF */
    bool finished;
    bool warned_data;
    relay_counters c;
} stream;

struct relay {
    loop *l;
    bool pty;
    int master;   /* pty relay: for resize; the streams use their own dups */
    int child[3]; /* pipe relay: the process's ends until relay_start */
    int pipe_in_w, pipe_out_r, pipe_err_r;
    stream s[RELAY_NSTREAMS];
    relay_done_cb done_cb;
    void *data;
    loop_timer *done_timer;
    bool started, done_reported, exited;
};

static const char *const names[] = {"stdin", "stdout", "stderr"};

static relay *relay_alloc(bool pty)
{
    relay *r = xzalloc(sizeof(*r));
    r->pty = pty;
    r->master = -1;
    r->pipe_in_w = r->pipe_out_r = r->pipe_err_r = -1;
    for (int i = 0; i < 3; i++) {
        r->child[i] = -1;
        r->s[i] = (stream){.r = r, .which = (enum relay_stream)i, .src = -1, .dst = -1};
    }
    return r;
}

static void closefd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- watches ---- */

static void on_src(loop *l, int fd, uint32_t events, void *data);
static void on_dst(loop *l, int fd, uint32_t events, void *data);

static void set_watch(stream *s, loop_watch **w, uint32_t *cur, int fd, uint32_t want, loop_fd_cb cb)
{
    loop *l = s->r->l;
    if (fd < 0)
        want = 0;
    if (*w && want == *cur)
        return;
    if (want == 0) {
        loop_watch_remove(l, *w);
        *w = NULL;
        *cur = 0;
        return;
    }
    if (*w) {
        if (loop_watch_modify(l, *w, want) == 0) {
            *cur = want;
            return;
        }
        loop_watch_remove(l, *w);
        *w = NULL;
    }
    *w = loop_watch_add(l, fd, want, cb, s);
    *cur = want;
    if (!*w) /* an fd epoll refuses (a regular file) would hang the relay: not a code path of ours */
        log_error("stdio relay: cannot watch fd", KV_S("stream", names[s->which]), KV_I("fd", fd),
                  KV_I("errno", errno));
}

static void close_src(stream *s)
{
    set_watch(s, &s->wsrc, &s->esrc, -1, 0, on_src);
    closefd(&s->src);
}

static void close_dst(stream *s)
{
    set_watch(s, &s->wdst, &s->edst, -1, 0, on_dst);
    closefd(&s->dst);
}

static void stream_update(stream *s)
{
    uint32_t src_ev = 0, dst_ev = 0;
    if (s->handshake) {
        dst_ev = EPOLLIN;
    } else if (!s->src_eof) {
        bool room = s->discard || (s->use_splice ? !s->dst_blocked : s->off + s->len < RELAY_BUF);
        if (room)
            src_ev = EPOLLIN;
        if (!s->discard && (s->use_splice ? s->dst_blocked : s->len > 0))
            dst_ev = EPOLLOUT;
    } else if (!s->discard && s->len > 0) {
        dst_ev = EPOLLOUT;
    }
    set_watch(s, &s->wsrc, &s->esrc, s->src, src_ev, on_src);
    set_watch(s, &s->wdst, &s->edst, s->dst, dst_ev, on_dst);
}

/* ---- completion ---- */

static void fire_done(loop *l, void *data)
{
    (void)l;
    relay *r = data;
    r->done_timer = NULL;
    if (r->done_cb)
        r->done_cb(r, r->data); /* may free r */
}

static void check_done(relay *r)
{
    if (!r->started || r->done_reported || !r->s[RELAY_STDOUT].finished || !r->s[RELAY_STDERR].finished)
        return;
    r->done_reported = true;
    r->done_timer = loop_timer_add(r->l, 0, fire_done, r);
}

static void finish_output(stream *s)
{
    close_dst(s);
    s->handshake = false;
    s->finished = true;
}

static void start_handshake(stream *s)
{
    /* docs/protocol.md §1.3: shut down our write side, then wait until the host has closed its end. */
    if (shutdown(s->dst, SHUT_WR) < 0) {
        log_warn("stdio relay: shutdown failed", KV_S("stream", names[s->which]), KV_I("errno", errno));
        finish_output(s);
        return;
    }
    s->handshake = true;
}

static void handshake_read(stream *s)
{
    char b[4096];
    for (;;) {
        ssize_t n = recv(s->dst, b, sizeof(b), 0);
        if (n > 0) {
            s->c.discarded += (uint64_t)n;
            if (!s->warned_data)
                log_warn("stdio relay: unexpected data from the host after shutdown, discarded",
                         KV_S("stream", names[s->which]));
            s->warned_data = true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0)
            log_warn("stdio relay: error waiting for the host to close", KV_S("stream", names[s->which]),
                     KV_I("errno", errno));
        finish_output(s);
        return;
    }
}

/* The source is exhausted and everything read was delivered (or dropped). */
static void copy_complete(stream *s)
{
    relay *r = s->r;
    s->copied = true;
    if (s->which == RELAY_STDIN) {
        /* docs/protocol.md §1.3: the host half-closed stdin: close the process's stdin. The
         * socket stays until the process exits (relay_process_exited). */
        close_dst(s);
        return;
    }
    close_src(s);
    if (!s->finished)
        start_handshake(s);
    /* A pty's stderr socket carries nothing: it ends when stdout does. */
    if (r->pty && s->which == RELAY_STDOUT) {
        stream *e = &r->s[RELAY_STDERR];
        if (e->active && !e->finished && !e->handshake)
            start_handshake(e);
        stream_update(e);
    }
}

/* The destination failed: the host vanished (out/err) or the process's stdin
 * is gone. Keep draining the source to nowhere. */
static void dst_gone(stream *s, int e)
{
    if (s->which == RELAY_STDIN)
        log_info("stdio relay: process stdin closed, discarding input", KV_I("errno", e));
    else
        log_warn("stdio relay: host closed the stream, discarding output", KV_S("stream", names[s->which]),
                 KV_I("errno", e));
    s->c.discarded += s->len;
    s->off = s->len = 0;
    s->discard = true;
    s->dst_blocked = false;
    close_dst(s);
    if (s->which != RELAY_STDIN)
        s->finished = true;
}

static void src_failed(stream *s, int e)
{
    log_warn("stdio relay: read failed, treating as end of stream", KV_S("stream", names[s->which]),
             KV_I("errno", e));
    s->src_eof = true;
}

/* One splice: returns true when it made progress (or changed mode). */
static bool pump_splice(stream *s)
{
    ssize_t n = splice(s->src, NULL, s->dst, NULL, RELAY_BUF, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
        s->c.read += (uint64_t)n;
        s->c.written += (uint64_t)n;
        s->c.spliced = true;
        s->dst_blocked = false;
        return true;
    }
    if (n == 0) {
        s->src_eof = true;
        return false;
    }
    int e = errno;
    if (e == EINTR)
        return true;
    if (e == EAGAIN) {
        /* Either the source is empty or the destination is full (a full pipe
         * wins even over a socket at EOF): ask the destination. */
        struct pollfd p[2] = {{.fd = s->dst, .events = POLLOUT}, {.fd = s->src, .events = POLLIN}};
        if (poll(p, 2, 0) < 0) {
            s->use_splice = false;
            return true;
        }
        s->dst_blocked = !(p[0].revents & (POLLOUT | POLLERR | POLLHUP));
        if (!s->dst_blocked && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            s->use_splice = false; /* both ready yet EAGAIN: do not spin, copy by hand */
            return true;
        }
        return false;
    }
    if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP) {
        s->use_splice = false; /* e.g. a socket family without splice support */
        return true;
    }
    /* For stdin only the pipe can say EPIPE; a socket error ends the input. */
    if (s->which == RELAY_STDIN && e != EPIPE)
        src_failed(s, e);
    else
        dst_gone(s, e);
    return true;
}

static bool pump_read(stream *s)
{
    if (s->src_eof)
        return false;
    if (s->discard)
        s->off = s->len = 0;
    if (s->off + s->len == RELAY_BUF && s->off > 0) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    size_t room = RELAY_BUF - s->off - s->len;
    if (room == 0)
        return false;
    if (!s->buf)
        s->buf = xmalloc(RELAY_BUF);
    ssize_t n = read(s->src, s->buf + s->off + s->len, room);
    if (n > 0) {
        s->c.read += (uint64_t)n;
        if (s->discard)
            s->c.discarded += (uint64_t)n;
        else
            s->len += (size_t)n;
        return true;
    }
    if (n == 0 || errno == EIO) { /* EIO on a pty master: the slave side is closed */
        s->src_eof = true;
        return false;
    }
    if (errno == EINTR)
        return true;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        src_failed(s, errno);
    return false;
}

static bool pump_write(stream *s)
{
    if (s->discard || s->len == 0)
        return false;
    ssize_t n;
    if (s->which == RELAY_STDIN)
        n = write(s->dst, s->buf + s->off, s->len);
    else
        n = send(s->dst, s->buf + s->off, s->len, MSG_NOSIGNAL);
    if (n > 0) {
        s->c.written += (uint64_t)n;
        s->off += (size_t)n;
        s->len -= (size_t)n;
        if (s->len == 0)
            s->off = 0;
        return true;
    }
    if (n < 0 && errno == EINTR)
        return true;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false;
    dst_gone(s, n < 0 ? errno : EPIPE);
    return true;
}

static void pump(stream *s)
{
    for (int i = 0; i < PUMP_ROUNDS && !s->src_eof; i++) {
        bool progress;
        if (s->use_splice && !s->discard) {
            progress = pump_splice(s);
        } else {
            bool rd = pump_read(s);
            bool wr = pump_write(s);
            progress = rd || wr;
        }
        if (!progress)
            break;
    }
    /* Drain what is buffered after EOF. */
    if (s->src_eof && !s->discard && s->len > 0)
        pump_write(s);
    if (s->src_eof && (s->discard || s->len == 0) && !s->copied)
        copy_complete(s);
}

static void on_src(loop *l, int fd, uint32_t events, void *data)
{
    (void)l, (void)fd, (void)events;
    stream *s = data;
    pump(s);
    stream_update(s);
    check_done(s->r);
}

static void on_dst(loop *l, int fd, uint32_t events, void *data)
{
    (void)l, (void)fd, (void)events;
    stream *s = data;
    if (s->handshake) {
        handshake_read(s);
    } else {
        s->dst_blocked = false;
        pump(s);
    }
    stream_update(s);
    check_done(s->r);
}

/* ---- construction ---- */

static int open_null(gcs_err *err)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "open /dev/null");
    return fd;
}

int relay_pipes_new(bool want_in, bool want_out, bool want_err, relay **ret, gcs_err *err)
{
    relay *r = relay_alloc(false);
    const bool want[] = {want_in, want_out, want_err};
    int *ours[] = {&r->pipe_in_w, &r->pipe_out_r, &r->pipe_err_r};
    for (int i = 0; i < 3; i++) {
        if (!want[i]) {
            int fd = open_null(err);
            if (fd < 0) {
                relay_free(r);
                return fd;
            }
            r->child[i] = fd;
            continue;
        }
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            int rc = err_errno(err, HR_E_FAIL, errno, "create %s pipe", names[i]);
            relay_free(r);
            return rc;
        }
        /* stdin: the child reads p[0]; stdout/stderr: the child writes p[1]. */
        r->child[i] = i == 0 ? p[0] : p[1];
        *ours[i] = i == 0 ? p[1] : p[0];
        set_nonblock(*ours[i], true);
    }
    *ret = r;
    return 0;
}

void relay_child_fds(const relay *r, int fds[3])
{
    for (int i = 0; i < 3; i++)
        fds[i] = r->child[i];
}

relay *relay_pty_new(int master)
{
    relay *r = relay_alloc(true);
    r->master = master;
    set_nonblock(master, true);
    return r;
}

static void stdin_release(relay *r)
{
    stream *s = &r->s[RELAY_STDIN];
    close_dst(s);
    if (s->src >= 0) {
        /* docs/protocol.md §1.3: the process exited: shut down the read side of the stdin socket. */
        shutdown(s->src, SHUT_RD);
        close_src(s);
    }
    s->src_eof = s->copied = true;
    s->c.finished = true;
}

void relay_process_exited(relay *r)
{
    if (!r)
        return;
    r->exited = true;
    if (r->started)
        stdin_release(r);
}

static int dup_master(relay *r, gcs_err *err)
{
    int fd = fcntl(r->master, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "dup pty master");
    return fd;
}

int relay_start(loop *l, relay *r, stdio_conns *conns, relay_done_cb done_cb, void *data, gcs_err *err)
{
    stdio_conns c = *conns;
    *conns = STDIO_CONNS_NONE;
    int rc;
    if (r->started) {
        rc = err_set(err, HR_E_FAIL, "stdio relay already started");
        goto fail;
    }
    if (!r->pty && ((c.in >= 0 && r->pipe_in_w < 0) || (c.out >= 0 && r->pipe_out_r < 0) ||
                    (c.err >= 0 && r->pipe_err_r < 0))) {
        rc = err_set(err, HR_E_FAIL, "stdio relay: a connected stream has no pipe");
        goto fail;
    }
    stream *in = &r->s[RELAY_STDIN], *out = &r->s[RELAY_STDOUT], *er = &r->s[RELAY_STDERR];
    if (r->pty) {
        /* epoll keys on the fd number: each direction gets its own dup. */
        cleanup_close int din = -1, dout = -1;
        if (c.in >= 0 && (din = rc = dup_master(r, err)) < 0)
            goto fail;
        if (c.out >= 0 && (dout = rc = dup_master(r, err)) < 0)
            goto fail;
        in->dst = steal_fd(&din);
        out->src = steal_fd(&dout);
    } else {
        for (int i = 0; i < 3; i++)
            closefd(&r->child[i]);
        in->dst = steal_fd(&r->pipe_in_w);
        out->src = steal_fd(&r->pipe_out_r);
        er->src = steal_fd(&r->pipe_err_r);
    }
    in->src = c.in;
    out->dst = c.out;
    er->dst = c.err;
    r->l = l;
    r->done_cb = done_cb;
    r->data = data;
    r->started = true;

    for (int i = 0; i < 3; i++) {
        stream *s = &r->s[i];
        s->use_splice = !r->pty;
        s->active = s->which == RELAY_STDIN ? s->src >= 0 : s->dst >= 0;
        if (!s->active) {
            /* Not requested: stdin sees EOF, output gets EPIPE (as the reference). */
            closefd(&s->src);
            closefd(&s->dst);
            s->src_eof = s->copied = true;
            s->finished = true;
            s->c.finished = s->which == RELAY_STDIN;
            continue;
        }
        set_nonblock(s->which == RELAY_STDIN ? s->src : s->dst, true);
    }
    if (r->pty && er->active && !out->active)
        start_handshake(er);
    if (r->exited)
        stdin_release(r);
    for (int i = 0; i < 3; i++)
        stream_update(&r->s[i]);
    check_done(r);
    return 0;

fail:
    stdio_conns_close(&c);
    return rc;
}

/* ---- queries ---- */

int relay_resize(relay *r, uint16_t rows, uint16_t cols, gcs_err *err)
{
    if (!r->pty || r->master < 0)
        return err_set(err, HR_E_FAIL, "process has no console");
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(r->master, TIOCSWINSZ, &ws) < 0)
        return err_errno(err, HR_E_FAIL, errno, "resize console");
    return 0;
}

bool relay_done(const relay *r) { return r->done_reported; }

void relay_get_counters(const relay *r, enum relay_stream s, relay_counters *ret)
{
    *ret = r->s[s].c;
    if (s != RELAY_STDIN)
        ret->finished = r->s[s].finished;
}

void relay_free(relay *r)
{
    if (!r)
        return;
    for (int i = 0; i < 3; i++) {
        stream *s = &r->s[i];
        if (r->l) {
            close_src(s);
            close_dst(s);
        } else {
            closefd(&s->src);
            closefd(&s->dst);
        }
        free(s->buf);
        closefd(&r->child[i]);
    }
    if (r->done_timer)
        loop_timer_cancel(r->l, r->done_timer);
    closefd(&r->pipe_in_w);
    closefd(&r->pipe_out_r);
    closefd(&r->pipe_err_r);
    closefd(&r->master);
    free(r);
}
