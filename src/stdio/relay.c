/* The pipe and pty relays (docs/protocol.md §1.3): one copy stream per
 * direction, driven by level-triggered watches that are only registered
 * while the stream can make progress, so a full socket stops the reads from
 * the process (the pipe or pty then fills and the process blocks). */
#include "stdio/stdio.h"

#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#define RELAY_BUF (64 * 1024)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define PUMP_ROUNDS 64 /* per callback, so one busy stream does not starve the loop */
/* A reconnecting stream's queue may hold the replay plus the backlog plus one read. */
#define RC_BUF_MAX (RELAY_REPLAY_BYTES + RELAY_BACKLOG_BYTES + RELAY_BUF)

/* A reconnecting output stream (stdio.h "Reconnecting output"). */
typedef struct reconn {
    bool on;
    bool down;    /* the host connection is gone; re-dialling */
    bool stopped; /* the container is being torn down: no more re-dials */
    bool dropping;
    const transport *t;
    uint32_t port;
    loop_timer *timer;
    char *ring; /* the last RELAY_REPLAY_BYTES bytes sent, circular */
    size_t ring_head, ring_fill;
    size_t replay_left;  /* bytes at the head of the queue that are a replay (not recorded again) */
    uint64_t sent;       /* bytes of the process's output sent (replays not counted) */
    uint64_t dropped;    /* during the current outage */
    uint64_t down_ns;    /* when the current outage began */
    unsigned attempts;   /* dials in the current outage */
} reconn;

typedef struct stream {
    relay *r;
    enum relay_stream which;
    int src, dst; /* stdin: socket -> pipe/pty; stdout/stderr: pipe/pty -> socket */
    loop_watch *wsrc, *wdst;
    uint32_t esrc, edst;
    char *buf; /* buffered mode only */
    size_t off, len, cap;
    bool active;      /* started with a connection */
    bool use_splice;  /* a pipe is on one side; cleared when the kernel refuses */
    bool dst_blocked; /* splice: EAGAIN while the source had data */
    bool src_eof;
    bool copied;    /* source done and delivered: closed (out/err) or unwatched (stdin) */
    bool discard;   /* out/err: the host vanished; stdin: the process's stdin is gone */
    bool handshake; /* out/err: shut down, waiting for the host's EOF */
    bool finished;
    bool warned_data;
    reconn rc;
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
    int tee;          /* the tee log (stdio.h), or -1 */
    char *tee_name;   /* for logs */
    uint64_t tee_written;
};

static const char *const names[] = {"stdin", "stdout", "stderr"};

static relay *relay_alloc(bool pty)
{
    relay *r = xzalloc(sizeof(*r));
    r->pty = pty;
    r->master = -1;
    r->pipe_in_w = r->pipe_out_r = r->pipe_err_r = -1;
    r->tee = -1;
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

/* keep: stay registered with no events, so that EPOLLHUP/EPOLLERR (always
 * reported) still arrive: how a reconnecting stream notices the host left. */
static void set_watch_keep(stream *s, loop_watch **w, uint32_t *cur, int fd, uint32_t want, bool keep, loop_fd_cb cb)
{
    loop *l = s->r->l;
    if (fd < 0)
        want = 0, keep = false;
    if (*w && want == *cur && (want != 0 || keep))
        return;
    if (want == 0 && !keep) {
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

static void set_watch(stream *s, loop_watch **w, uint32_t *cur, int fd, uint32_t want, loop_fd_cb cb)
{
    set_watch_keep(s, w, cur, fd, want, false, cb);
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

/* How much a buffered stream may queue before it stops reading the process:
 * one buffer while connected (back-pressure), the backlog while the host is away. */
static size_t stream_limit(const stream *s) { return s->rc.on && s->rc.down ? RELAY_BACKLOG_BYTES : RELAY_BUF; }

static void stream_update(stream *s)
{
    uint32_t src_ev = 0, dst_ev = 0;
    if (s->handshake) {
        dst_ev = EPOLLIN;
    } else if (!s->src_eof) {
        /* a stream whose host is away always reads: past the backlog it drops */
        bool room = s->discard || (s->rc.on && s->rc.down) ||
                    (s->use_splice ? !s->dst_blocked : s->len < stream_limit(s));
        if (room)
            src_ev = EPOLLIN;
        if (!s->discard && (s->use_splice ? s->dst_blocked : s->len > 0))
            dst_ev = EPOLLOUT;
    } else if (!s->discard && s->len > 0) {
        dst_ev = EPOLLOUT;
    }
    set_watch(s, &s->wsrc, &s->esrc, s->src, src_ev, on_src);
    set_watch_keep(s, &s->wdst, &s->edst, s->dst, dst_ev, s->rc.on && !s->rc.stopped && !s->discard, on_dst);
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
    closefd(&r->tee); /* every output stream is finished: the tee log is complete */
    r->done_timer = loop_timer_add(r->l, 0, fire_done, r);
}

static void finish_output(stream *s)
{
    close_dst(s);
    s->handshake = false;
    s->finished = true;
}

static void rc_cancel(stream *s);

static void start_handshake(stream *s)
{
    if (s->dst < 0) { /* a pty's stderr whose host is away: it carries nothing, give it up */
        rc_cancel(s);
        finish_output(s);
        return;
    }
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
static void rc_lost(stream *s, int e);

static bool is_disconnect(int e) { return e == EPIPE || e == ECONNRESET || e == ENOTCONN; }

static void dst_gone(stream *s, int e)
{
    if (s->rc.on && !s->rc.stopped && !s->rc.down && is_disconnect(e)) {
        rc_lost(s, e);
        return;
    }
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

/* ---- the replay ring and the tee ---- */

static void ring_append(reconn *rc, const char *p, size_t n)
{
    if (n >= RELAY_REPLAY_BYTES) {
        p += n - RELAY_REPLAY_BYTES;
        n = RELAY_REPLAY_BYTES;
    }
    if (!rc->ring)
        rc->ring = xmalloc(RELAY_REPLAY_BYTES);
    size_t first = MIN(n, RELAY_REPLAY_BYTES - rc->ring_head);
    memcpy(rc->ring + rc->ring_head, p, first);
    memcpy(rc->ring, p + first, n - first);
    rc->ring_head = (rc->ring_head + n) % RELAY_REPLAY_BYTES;
    rc->ring_fill = MIN(rc->ring_fill + n, (size_t)RELAY_REPLAY_BYTES);
}

/* Copy the ring's bytes, oldest first, to dst (ring_fill bytes). */
static void ring_copy(const reconn *rc, char *dst)
{
    size_t start = (rc->ring_head + RELAY_REPLAY_BYTES - rc->ring_fill) % RELAY_REPLAY_BYTES;
    size_t first = MIN(rc->ring_fill, RELAY_REPLAY_BYTES - start);
    memcpy(dst, rc->ring + start, first);
    memcpy(dst + first, rc->ring, rc->ring_fill - first);
}

/* Everything read from the process's output goes to the tee log once, as it is read
 * (also while the host is away, also what the backlog has to drop). A failing tee is
 * logged and closed; the stream to the host goes on. */
static void tee_write(relay *r, const char *p, size_t n)
{
    while (r->tee >= 0 && n > 0) {
        ssize_t w = write(r->tee, p, n);
        if (w > 0) {
            r->tee_written += (uint64_t)w;
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        log_warn("stdio relay: tee log write failed, no longer teeing", KV_S("path", r->tee_name),
                 KV_I("errno", w < 0 ? errno : EIO), KV_U("written", r->tee_written));
        closefd(&r->tee);
    }
}

/* Make room for RELAY_BUF more bytes after the queue (compacting, and growing a
 * reconnecting stream's buffer up to RC_BUF_MAX). */
static void buf_reserve(stream *s)
{
    if (!s->buf) {
        s->cap = RELAY_BUF;
        s->buf = xmalloc(s->cap);
    }
    size_t tail = s->cap - s->off - s->len;
    bool grow = s->rc.on && tail < RELAY_BUF && s->cap < RC_BUF_MAX;
    if (s->off > 0 && (tail == 0 || grow)) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    if (grow && s->cap - s->len < RELAY_BUF) {
        size_t want = MIN(MAX(s->cap * 2, s->len + RELAY_BUF), (size_t)RC_BUF_MAX);
        s->buf = xrealloc(s->buf, want);
        s->cap = want;
    }
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

static char scratch[RELAY_BUF]; /* output read only to be dropped (one thread) */

static bool pump_read(stream *s)
{
    if (s->src_eof)
        return false;
    if (s->discard)
        s->off = s->len = 0;
    /* the host is away and the backlog is full: read on (the process must not block) and drop */
    bool drop = !s->discard && s->rc.on && s->rc.down && s->len >= RELAY_BACKLOG_BYTES;
    char *at;
    size_t room;
    if (drop) {
        at = scratch;
        room = sizeof(scratch);
    } else {
        size_t limit = s->discard ? RELAY_BUF : stream_limit(s);
        if (s->len >= limit)
            return false;
        buf_reserve(s);
        room = MIN(s->cap - s->off - s->len, limit - s->len);
        if (room == 0)
            return false;
        at = s->buf + s->off + s->len;
    }
    ssize_t n = read(s->src, at, room);
    if (n > 0) {
        s->c.read += (uint64_t)n;
        if (s->which != RELAY_STDIN)
            tee_write(s->r, at, (size_t)n);
        if (drop) {
            if (!s->rc.dropping)
                log_warn("stdio relay: backlog full while the host is away, dropping output",
                         KV_S("stream", names[s->which]), KV_U("port", s->rc.port),
                         KV_U("backlog_bytes", RELAY_BACKLOG_BYTES));
            s->rc.dropping = true;
            s->rc.dropped += (uint64_t)n;
            s->c.dropped += (uint64_t)n;
            s->c.discarded += (uint64_t)n;
        } else if (s->discard) {
            s->c.discarded += (uint64_t)n;
        } else {
            s->len += (size_t)n;
        }
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
    if (s->discard || s->len == 0 || s->dst < 0)
        return false;
    ssize_t n;
    if (s->which == RELAY_STDIN)
        n = write(s->dst, s->buf + s->off, s->len);
    else
        n = send(s->dst, s->buf + s->off, s->len, MSG_NOSIGNAL);
    if (n > 0) {
        s->c.written += (uint64_t)n;
        if (s->rc.on) {
            /* a replay is sent again but not recorded again (reconnect.go's rule) */
            size_t rep = MIN((size_t)n, s->rc.replay_left);
            s->rc.replay_left -= rep;
            ring_append(&s->rc, s->buf + s->off + rep, (size_t)n - rep);
            s->rc.sent += (uint64_t)n - rep;
        }
        s->off += (size_t)n;
        s->len -= (size_t)n;
        if (s->len == 0) {
            s->off = 0;
            if (s->cap > RELAY_BUF) { /* the backlog is flushed: give its memory back */
                free(s->buf);
                s->buf = NULL;
                s->cap = 0;
            }
        }
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
    /* a stream whose host is away finishes only after the re-dial delivered the replay */
    if (s->src_eof && (s->discard || s->len == 0) && !s->copied && !(s->rc.on && s->rc.down))
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
    (void)l;
    stream *s = data;
    if (s->handshake) {
        handshake_read(s);
    } else if (s->rc.on && !s->rc.stopped && !s->rc.down && (events & (EPOLLHUP | EPOLLERR))) {
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        rc_lost(s, e ? e : EPIPE);
    } else {
        s->dst_blocked = false;
        pump(s);
    }
    stream_update(s);
    check_done(s->r);
}

/* ---- reconnecting output (internal/guest/transport/reconnect.go) ---- */

static void rc_dial(loop *l, void *data);

static void rc_log_dropped(stream *s)
{
    if (s->rc.dropped)
        log_warn("stdio relay: output dropped while the host was away", KV_S("stream", names[s->which]),
                 KV_U("port", s->rc.port), KV_U("dropped_bytes", s->rc.dropped),
                 KV_U("backlog_bytes", RELAY_BACKLOG_BYTES));
    s->rc.dropped = 0;
    s->rc.dropping = false;
}

static void rc_cancel(stream *s)
{
    if (s->rc.timer)
        loop_timer_cancel(s->r->l, s->rc.timer);
    s->rc.timer = NULL;
    if (s->rc.down) {
        s->rc.down = false;
        rc_log_dropped(s);
    }
}

/* The host connection is gone: keep the queue, forget an unsent replay (the ring
 * still has it) and re-dial at once, then every RELAY_REDIAL_MS. */
static void rc_lost(stream *s, int e)
{
    close_dst(s);
    s->dst_blocked = false;
    s->off += s->rc.replay_left;
    s->len -= s->rc.replay_left;
    s->rc.replay_left = 0;
    s->rc.down = true;
    s->rc.down_ns = now_ns();
    s->rc.attempts = 0;
    s->c.disconnects++;
    log_warn("stdio relay: host connection lost, re-dialling", KV_S("stream", names[s->which]),
             KV_U("port", s->rc.port), KV_I("errno", e), KV_U("sent", s->rc.sent),
             KV_U("queued", s->len));
    s->rc.timer = loop_timer_add(s->r->l, 0, rc_dial, s);
}

/* Teardown while the host is away: the queue goes, the process's output is
 * drained to nowhere until EOF, and the stream is finished. */
static void rc_give_up(stream *s)
{
    uint64_t lost = s->len;
    rc_cancel(s);
    log_warn("stdio relay: container torn down while the host is away, output discarded",
             KV_S("stream", names[s->which]), KV_U("port", s->rc.port), KV_U("discarded_bytes", lost));
    s->c.discarded += lost;
    s->off = s->len = 0;
    s->discard = true;
    s->finished = true;
}

static void rc_dial(loop *l, void *data)
{
    stream *s = data;
    s->rc.timer = NULL;
    if (s->rc.stopped) {
        rc_give_up(s);
        stream_update(s);
        check_done(s->r);
        return;
    }
    gcs_err err = GCS_ERR_INIT;
    s->rc.attempts++;
    int fd = transport_dial(s->rc.t, s->rc.port, &err);
    if (fd < 0) {
        if (s->rc.attempts == 1)
            log_info("stdio relay: re-dial failed, retrying every 100 ms", KV_S("stream", names[s->which]),
                     KV_U("port", s->rc.port), KV_S("error", err_msg(&err)));
        err_clear(&err);
        s->rc.timer = loop_timer_add(l, RELAY_REDIAL_MS, rc_dial, s);
        return;
    }
    set_nonblock(fd, true);
    /* The queue becomes: the replay (the last bytes sent before the drop), then
     * what is waiting (the backlog of the outage). */
    size_t rl = s->rc.ring_fill;
    if (rl > 0) {
        size_t cap = MAX((size_t)RELAY_BUF, rl + s->len);
        char *nb = xmalloc(cap);
        ring_copy(&s->rc, nb);
        if (s->len)
            memcpy(nb + rl, s->buf + s->off, s->len);
        free(s->buf);
        s->buf = nb;
        s->cap = cap;
        s->off = 0;
        s->len += rl;
    }
    s->rc.replay_left = rl;
    s->dst = fd;
    s->rc.down = false;
    s->c.reconnects++;
    log_info("stdio relay: reconnected", KV_S("stream", names[s->which]), KV_U("port", s->rc.port),
             KV_U("replay_bytes", rl), KV_U("backlog_bytes", s->len - rl), KV_U("attempts", s->rc.attempts),
             KV_U("down_ms", (now_ns() - s->rc.down_ns) / 1000000));
    rc_log_dropped(s);
    pump(s);
    stream_update(s);
    check_done(s->r);
}

int relay_set_reconnect(relay *r, const transport *t, uint32_t port_out, uint32_t port_err, gcs_err *err)
{
    if (r->started)
        return err_set(err, HR_E_FAIL, "stdio relay already started");
    /* a pty's stderr socket carries nothing: upstream never writes it, so never re-dials it */
    const uint32_t ports[] = {0, port_out, r->pty ? 0 : port_err};
    for (int i = RELAY_STDOUT; i <= RELAY_STDERR; i++) {
        if (!ports[i])
            continue;
        r->s[i].rc = (reconn){.on = true, .t = t, .port = ports[i]};
    }
    return 0;
}

void relay_set_tee(relay *r, int fd, const char *name)
{
    closefd(&r->tee);
    free(r->tee_name);
    r->tee = fd;
    r->tee_name = xstrdup(name ? name : "");
}

void relay_reconnect_stop(relay *r)
{
    if (!r)
        return;
    for (int i = RELAY_STDOUT; i <= RELAY_STDERR; i++) {
        stream *s = &r->s[i];
        if (!s->rc.on || s->rc.stopped)
            continue;
        s->rc.stopped = true;
        if (s->rc.down && r->started) {
            rc_give_up(s);
            stream_update(s);
        } else if (r->started) {
            stream_update(s); /* no longer watching for a hang-up */
        }
    }
    if (r->started)
        check_done(r);
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
        /* the replay and the tee need the bytes */
        s->use_splice = !r->pty && !s->rc.on && (s->which == RELAY_STDIN || r->tee < 0);
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
        if (s->rc.timer && r->l)
            loop_timer_cancel(r->l, s->rc.timer);
        if (s->rc.down)
            rc_log_dropped(s);
        free(s->rc.ring);
        free(s->buf);
        closefd(&r->child[i]);
    }
    closefd(&r->tee);
    free(r->tee_name);
    if (r->done_timer)
        loop_timer_cancel(r->l, r->done_timer);
    closefd(&r->pipe_in_w);
    closefd(&r->pipe_out_r);
    closefd(&r->pipe_err_r);
    closefd(&r->master);
    free(r);
}
