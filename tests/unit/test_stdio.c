/* test_stdio.c — the stdio relays against real unix sockets (the test plays
 * the host: it listens on <tmp>/<port> and drives its ends as loop watches),
 * real child processes, real ptys, and runc with --console-socket when it
 * is installed. Synchronisation is by loop_run_once with deadlines only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/util.h"
#include "loop/loop.h"
#include "runtime/runtime.h"
#include "stdio/stdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

static char tmp[64];
static transport tp;
static uint32_t next_port = 0x40000001;
static pid_t live_pids[32]; /* children not yet reaped: teardown kills them by pid */
static size_t stdout_pipe_size;  /* when set, proc_start enlarges the child's stdout pipe */
static bool reconnect_next;      /* proc_start: stdout/stderr re-dial (relay_set_reconnect) */
static int tee_next = -1;        /* proc_start: the tee log fd (taken) */

static void track_pid(pid_t p)
{
    for (size_t i = 0; i < ARRAY_SIZE(live_pids); i++)
        if (!live_pids[i]) {
            live_pids[i] = p;
            return;
        }
}

static void untrack_pid(pid_t p)
{
    for (size_t i = 0; i < ARRAY_SIZE(live_pids); i++)
        if (live_pids[i] == p)
            live_pids[i] = 0;
}

/* ---- the host side ---- */

typedef struct hstream {
    int lfd, fd;
    loop_watch *w;
    uint32_t ev;
    const char *send; /* stdin: bytes to send, then half-close */
    size_t send_len, sent;
    bool shut;
    char *got; /* stdout/stderr: bytes received */
    size_t got_len, got_cap;
    size_t chunk;   /* read at most this much per callback */
    bool paused;    /* do not read */
    bool eof;       /* read returned 0 */
    bool close_eof; /* close our end once EOF was seen (completes the handshake) */
    bool closed;
} hstream;

typedef struct proc {
    loop *l;
    hstream h[3];
    relay *r;
    pid_t pid;
    bool exited;
    int status;
    bool done;
    bool free_in_done;
    int ndone;
    size_t got_at_exit;
} proc;

static void h_update(loop *l, hstream *h);

static void h_close(loop *l, hstream *h)
{
    if (h->w)
        loop_watch_remove(l, h->w);
    h->w = NULL;
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->closed = true;
}

static void h_cb(loop *l, int fd, uint32_t events, void *data)
{
    (void)fd;
    hstream *h = data;
    if ((events & EPOLLOUT) && h->sent < h->send_len) {
        size_t n = h->send_len - h->sent;
        if (n > 65536)
            n = 65536;
        ssize_t w = send(h->fd, h->send + h->sent, n, MSG_NOSIGNAL);
        if (w > 0)
            h->sent += (size_t)w;
        if (h->sent == h->send_len && !h->shut) {
            shutdown(h->fd, SHUT_WR);
            h->shut = true;
        }
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && h->chunk && !h->paused && !h->eof) {
        if (h->got_len + h->chunk > h->got_cap) {
            h->got_cap = (h->got_len + h->chunk) * 2;
            h->got = xrealloc(h->got, h->got_cap);
        }
        ssize_t n = recv(h->fd, h->got + h->got_len, h->chunk, 0);
        if (n > 0)
            h->got_len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            h->eof = true;
        if (h->eof && h->close_eof) {
            h_close(l, h);
            return;
        }
    }
    h_update(l, h);
}

static void h_update(loop *l, hstream *h)
{
    if (h->fd < 0)
        return;
    uint32_t ev = 0;
    if (h->sent < h->send_len)
        ev |= EPOLLOUT;
    if (!h->paused && !h->eof && h->chunk)
        ev |= EPOLLIN;
    if (h->w && ev == h->ev)
        return;
    if (h->w)
        loop_watch_remove(l, h->w);
    h->w = ev ? loop_watch_add(l, h->fd, ev, h_cb, h) : NULL;
    h->ev = ev;
}

static int listen_port(uint32_t port)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%u", tmp, port);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    unlink(sa.sun_path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void on_exit_cb(loop *l, pid_t pid, int status, void *data)
{
    (void)l;
    proc *p = data;
    untrack_pid(pid);
    p->exited = true;
    p->status = status;
    p->got_at_exit = p->h[1].got_len;
    relay_process_exited(p->r);
}

static void on_relay_done(relay *r, void *data)
{
    proc *p = data;
    assert_ptr_equal(r, p->r);
    p->done = true;
    p->ndone++;
    if (p->free_in_done) {
        relay_free(r);
        p->r = NULL;
    }
}

static bool run_until(loop *l, const bool *flag, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    while (!*flag && now_ms() < deadline)
        loop_run_once(l, 20);
    return *flag;
}

/* Run the loop for ms, for checks that something does NOT happen. */
static void run_for(loop *l, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    while (now_ms() < deadline)
        loop_run_once(l, 10);
}

static loop *new_loop(void)
{
    loop *l = loop_new();
    assert_int_equal(loop_signal_add(l, SIGCHLD, NULL, NULL), 0);
    return l;
}

static void child_exec(const int fds[3], const char *script)
{
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execl("/bin/sh", "sh", "-c", script, (char *)NULL);
    _exit(127);
}

/* Connect the wanted streams (the test listens first, as the host does),
 * start `sh -c script` on a pipe relay and start the relay. */
static void proc_start(proc *p, loop *l, bool in, bool out, bool err, const char *script)
{
    memset(p, 0, sizeof(*p));
    p->l = l;
    const bool want[] = {in, out, err};
    msg_vsock_stdio ports = {0};
    uint32_t *pp[] = {&ports.std_in, &ports.std_out, &ports.std_err};
    for (int i = 0; i < 3; i++) {
        p->h[i].lfd = p->h[i].fd = -1;
        p->h[i].chunk = i ? 65536 : 0;
        p->h[i].close_eof = true;
        if (want[i]) {
            *pp[i] = next_port++;
            p->h[i].lfd = listen_port(*pp[i]);
        }
    }
    stdio_conns conns;
    cleanup_err gcs_err e = GCS_ERR_INIT;
    assert_int_equal(stdio_connect(&tp, &ports, in, out, err, &conns, &e), 0);
    for (int i = 0; i < 3; i++) {
        if (p->h[i].lfd < 0)
            continue;
        p->h[i].fd = accept4(p->h[i].lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        assert_true(p->h[i].fd >= 0);
        close(p->h[i].lfd); /* each listener accepts exactly one connection (docs/protocol.md §1.3) */
        p->h[i].lfd = -1;
    }
    assert_int_equal(relay_pipes_new(in, out, err, &p->r, &e), 0);
    int fds[3];
    relay_child_fds(p->r, fds);
    if (stdout_pipe_size)
        assert_true(fcntl(fds[1], F_SETPIPE_SZ, (int)stdout_pipe_size) >= (int)stdout_pipe_size);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0)
        child_exec(fds, script);
    track_pid(p->pid);
    loop_child_watch(l, p->pid, on_exit_cb, p);
    if (reconnect_next)
        assert_int_equal(relay_set_reconnect(p->r, &tp, ports.std_out, ports.std_err, &e), 0);
    if (tee_next >= 0)
        relay_set_tee(p->r, tee_next, "test");
    reconnect_next = false;
    tee_next = -1;
    assert_int_equal(relay_start(l, p->r, &conns, on_relay_done, p, &e), 0);
    assert_int_equal(conns.in, -1);
    for (int i = 0; i < 3; i++)
        h_update(l, &p->h[i]);
}

static void proc_free(proc *p)
{
    for (int i = 0; i < 3; i++) {
        h_close(p->l, &p->h[i]);
        free(p->h[i].got);
    }
    relay_free(p->r);
    p->r = NULL;
}

/* ---- tests ---- */

static void test_roundtrip_10mib_slow_host(void **state)
{
    (void)state;
    loop *l = new_loop();
    const size_t N = 10 << 20;
    char *data = xmalloc(N);
    int ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    assert_int_equal(read_all(ufd, data, N), 0);
    close(ufd);

    proc p;
    proc_start(&p, l, true, true, false, "exec cat");
    p.h[1].paused = true; /* the host does not read at first */
    h_update(l, &p.h[1]);
    p.h[0].send = data;
    p.h[0].send_len = N;
    h_update(l, &p.h[0]);

    /* Back-pressure: with nobody reading stdout, the chain fills and stops;
     * the relay never holds more than its fixed buffers. */
    uint64_t deadline = now_ms() + 10000;
    size_t last;
    do {
        last = p.h[0].sent;
        run_for(l, 200);
    } while (p.h[0].sent != last && now_ms() < deadline);
    assert_int_equal(p.h[0].sent, last); /* stalled */
    assert_true(last > 0);
    relay_counters ci, co;
    relay_get_counters(p.r, RELAY_STDIN, &ci);
    relay_get_counters(p.r, RELAY_STDOUT, &co);
    assert_true(ci.read < N / 2);
    assert_true(ci.read - ci.written <= 64 * 1024);
    assert_true(co.read - co.written <= 64 * 1024);
    assert_false(p.exited);

    /* Now read slowly: 4 KiB per wakeup. */
    p.h[1].paused = false;
    p.h[1].chunk = 4096;
    h_update(l, &p.h[1]);
    assert_true(run_until(l, &p.done, 60000));
    assert_true(run_until(l, &p.exited, 10000));
    assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
    assert_true(p.h[1].eof);
    assert_int_equal(p.h[1].got_len, N);
    assert_memory_equal(p.h[1].got, data, N);
    relay_get_counters(p.r, RELAY_STDIN, &ci);
    relay_get_counters(p.r, RELAY_STDOUT, &co);
    assert_int_equal(ci.written, N);
    assert_int_equal(co.written, N);
    assert_true(ci.spliced && co.spliced); /* unix sockets splice both ways */
    assert_true(co.finished);
    assert_true(ci.finished); /* released at exit */
    assert_int_equal(p.ndone, 1);
    proc_free(&p);
    free(data);
    loop_free(l);
}

static void test_close_handshake_order(void **state)
{
    (void)state;
    loop *l = new_loop();
    proc p;
    proc_start(&p, l, true, true, false, "echo a; read x; exec 1>&-; read y");
    p.h[1].close_eof = false; /* the host decides when to close */
    static const char line1[] = "x\n", line2[] = "y\n";

    run_for(l, 200);
    assert_int_equal(p.h[1].got_len, 2);
    assert_memory_equal(p.h[1].got, "a\n", 2);
    assert_false(p.h[1].eof); /* the process still holds stdout */

    p.h[0].send = line1;
    p.h[0].send_len = 2;
    p.h[0].shut = true; /* keep stdin open */
    h_update(l, &p.h[0]);
    assert_true(run_until(l, &p.h[1].eof, 10000)); /* the process closed stdout */
    assert_false(p.exited);

    /* The guest shut down its write side and waits for ours: bytes we send
     * now are discarded, and done only comes once we close. */
    assert_int_equal(send(p.h[1].fd, "junk", 4, MSG_NOSIGNAL), 4);
    relay_counters co;
    uint64_t deadline = now_ms() + 10000;
    do {
        loop_run_once(l, 20);
        relay_get_counters(p.r, RELAY_STDOUT, &co);
    } while (co.discarded < 4 && now_ms() < deadline);
    assert_int_equal(co.discarded, 4);
    assert_false(co.finished);
    run_for(l, 100);
    assert_false(p.done);

    h_close(l, &p.h[1]);
    assert_true(run_until(l, &p.done, 10000));
    relay_get_counters(p.r, RELAY_STDOUT, &co);
    assert_true(co.finished);

    p.h[0].send = line2;
    p.h[0].sent = 0;
    h_update(l, &p.h[0]);
    assert_true(run_until(l, &p.exited, 10000));
    assert_int_equal(p.ndone, 1);
    proc_free(&p);
    loop_free(l);
}

static void test_stdin_half_close_ends_cat(void **state)
{
    (void)state;
    loop *l = new_loop();
    proc p;
    proc_start(&p, l, true, true, false, "exec cat");
    p.h[0].send = "abc";
    p.h[0].send_len = 3;
    p.h[0].chunk = 16; /* also watch the stdin socket for the guest's close */
    p.h[0].close_eof = false;
    h_update(l, &p.h[0]);
    assert_true(run_until(l, &p.exited, 10000));
    assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
    assert_true(run_until(l, &p.done, 10000));
    assert_int_equal(p.h[1].got_len, 3);
    assert_memory_equal(p.h[1].got, "abc", 3);
    /* After the exit the guest shut down and closed the stdin socket. */
    assert_true(run_until(l, &p.h[0].eof, 10000));
    relay_counters ci;
    relay_get_counters(p.r, RELAY_STDIN, &ci);
    assert_true(ci.finished);
    assert_int_equal(ci.written, 3);
    proc_free(&p);
    loop_free(l);
}

static void test_stderr_separate(void **state)
{
    (void)state;
    loop *l = new_loop();
    proc p;
    proc_start(&p, l, false, true, true, "echo out; echo err >&2; echo out2");
    assert_true(run_until(l, &p.done, 10000));
    assert_true(run_until(l, &p.exited, 10000));
    assert_int_equal(p.h[1].got_len, 9);
    assert_memory_equal(p.h[1].got, "out\nout2\n", 9);
    assert_int_equal(p.h[2].got_len, 4);
    assert_memory_equal(p.h[2].got, "err\n", 4);
    assert_true(p.h[1].closed && p.h[2].closed);
    proc_free(&p);
    loop_free(l);
}

static void test_output_not_lost_at_exit(void **state)
{
    (void)state;
    loop *l = new_loop();
    proc p;
    /* A 1 MiB pipe lets the process finish while the host reads nothing. */
    stdout_pipe_size = 1 << 20;
    proc_start(&p, l, false, true, false, "yes abcdefg | head -c 1048576");
    stdout_pipe_size = 0;
    p.h[1].paused = true;
    h_update(l, &p.h[1]);
    assert_true(run_until(l, &p.exited, 30000));
    assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
    assert_int_equal(p.got_at_exit, 0);
    assert_false(p.done);
    p.h[1].paused = false;
    p.h[1].chunk = 4096;
    h_update(l, &p.h[1]);
    assert_true(run_until(l, &p.done, 30000));
    assert_int_equal(p.h[1].got_len, 1048576);
    for (size_t i = 0; i < p.h[1].got_len; i++)
        if (p.h[1].got[i] != "abcdefg\n"[i % 8])
            fail_msg("byte %zu differs", i);
    proc_free(&p);
    loop_free(l);
}

static void test_host_vanishes(void **state)
{
    (void)state;
    int before = count_fds();
    loop *l = new_loop();
    proc p;
    /* 64 KiB, then a line on stderr, then 10 MiB more. */
    proc_start(&p, l, false, true, true, "head -c 65536 /dev/zero; echo mid >&2; head -c 10485760 /dev/zero; echo end >&2");
    uint64_t deadline = now_ms() + 10000;
    while (p.h[2].got_len < 4 && now_ms() < deadline)
        loop_run_once(l, 20);
    assert_int_equal(p.h[2].got_len, 4);
    h_close(l, &p.h[1]); /* the host drops stdout mid-stream */
    assert_true(run_until(l, &p.exited, 30000)); /* the process was never stuck */
    assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
    assert_true(run_until(l, &p.done, 10000));
    assert_int_equal(p.h[2].got_len, 8);
    assert_memory_equal(p.h[2].got, "mid\nend\n", 8);
    relay_counters co;
    relay_get_counters(p.r, RELAY_STDOUT, &co);
    assert_true(co.finished);
    assert_int_equal(co.read, 65536 + 10485760);
    assert_true(co.discarded > 0);
    proc_free(&p);
    loop_free(l);
    assert_int_equal(count_fds(), before);
}

/* The host comes back on the same port: accept the re-dial (the relay dials
 * from a loop timer, so the loop runs meanwhile). */
static void h_reaccept(loop *l, hstream *h, uint32_t port, uint64_t ms)
{
    int lfd = listen_port(port);
    uint64_t deadline = now_ms() + ms;
    int fd = -1;
    while (fd < 0 && now_ms() < deadline) {
        loop_run_once(l, 10);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    }
    close(lfd);
    char path[128];
    snprintf(path, sizeof(path), "%s/%u", tmp, port);
    unlink(path);
    assert_true(fd >= 0);
    h->fd = fd;
    h->closed = h->eof = false;
    h->got_len = 0;
    h_update(l, h);
}

static char *seq_text(unsigned n, size_t *len)
{
    size_t cap = (size_t)n * 8 + 16, off = 0;
    char *t = xmalloc(cap);
    for (unsigned i = 1; i <= n; i++)
        off += (size_t)snprintf(t + off, cap - off, "%u\n", i);
    *len = off;
    return t;
}

/* reconnect.go's rule: after the re-dial, the last 128 KiB sent, then what
 * was written while the host was away; nothing lost below the backlog. */
static void test_reconnect_replays_tail_then_backlog(void **state)
{
    (void)state;
    int before = count_fds();
    loop *l = new_loop();
    proc p;
    size_t wlen;
    char *want = seq_text(60000, &wlen); /* ~330 KB */
    reconnect_next = true;
    /* the first 200 KB, then a pause the test ends by dropping the host, then the rest */
    proc_start(&p, l, true, true, false, "seq 1 40000; read x; seq 40001 60000");
    uint32_t port = next_port - 1;
    uint64_t deadline = now_ms() + 10000;
    size_t first = 0;
    for (unsigned i = 1; i <= 40000; i++)
        first += (size_t)snprintf(NULL, 0, "%u\n", i);
    while (p.h[1].got_len < first && now_ms() < deadline)
        loop_run_once(l, 20);
    assert_int_equal(p.h[1].got_len, first);
    size_t old = p.h[1].got_len;
    h_close(l, &p.h[1]); /* the host goes away... */
    run_for(l, 50);
    relay_counters co;
    relay_get_counters(p.r, RELAY_STDOUT, &co);
    assert_int_equal(co.disconnects, 1);
    p.h[0].send = "go\n"; /* ...and the process writes the rest meanwhile */
    p.h[0].send_len = 3;
    h_update(l, &p.h[0]);
    assert_true(run_until(l, &p.exited, 30000)); /* not blocked by the missing host */
    assert_false(p.done);
    h_reaccept(l, &p.h[1], port, 5000);
    assert_true(run_until(l, &p.done, 30000));
    size_t got = p.h[1].got_len, x = wlen - got;
    assert_int_equal(old - x, 128 * 1024); /* exactly the replay is seen twice */
    assert_memory_equal(p.h[1].got, want + x, got);
    relay_get_counters(p.r, RELAY_STDOUT, &co);
    assert_int_equal(co.reconnects, 1);
    assert_int_equal(co.dropped, 0);
    free(want);
    proc_free(&p);
    loop_free(l);
    assert_int_equal(count_fds(), before);
}

/* Teardown while the host is away: the stream gives up and the relay is done. */
static void test_reconnect_stop_while_away(void **state)
{
    (void)state;
    int before = count_fds();
    loop *l = new_loop();
    proc p;
    reconnect_next = true;
    proc_start(&p, l, false, true, false, "echo hi; exec sleep 30");
    while (p.h[1].got_len < 3)
        loop_run_once(l, 20);
    h_close(l, &p.h[1]);
    run_for(l, 250); /* a few failed re-dials */
    assert_false(p.done);
    relay_reconnect_stop(p.r);
    assert_true(run_until(l, &p.done, 5000));
    kill(p.pid, SIGKILL);
    assert_true(run_until(l, &p.exited, 5000));
    proc_free(&p);
    loop_free(l);
    assert_int_equal(count_fds(), before);
}

/* docs/differences.md D-63: a tee that cannot be written ends the tee, not the stream. */
static void test_tee_failure_keeps_the_stream(void **state)
{
    (void)state;
    loop *l = new_loop();
    proc p;
    reconnect_next = true;
    tee_next = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(tee_next >= 0);
    proc_start(&p, l, false, true, false, "seq 1 100000");
    assert_true(run_until(l, &p.done, 30000));
    size_t wlen;
    char *want = seq_text(100000, &wlen);
    assert_int_equal(p.h[1].got_len, wlen);
    assert_memory_equal(p.h[1].got, want, wlen);
    free(want);
    proc_free(&p);
    loop_free(l);
}

static void test_port_zero_rejected(void **state)
{
    (void)state;
    uint32_t pin = next_port++;
    int lfd = listen_port(pin);
    msg_vsock_stdio ports = {.std_in = pin, .std_out = 0, .std_err = 0};
    stdio_conns conns = {7, 7, 7};
    cleanup_err gcs_err e = GCS_ERR_INIT;
    assert_true(stdio_connect(&tp, &ports, true, true, false, &conns, &e) < 0);
    assert_non_null(strstr(err_msg(&e), "stdout"));
    assert_int_equal(e.hr, HR_E_INVALIDARG);
    assert_int_equal(conns.in, 7); /* untouched */
    /* Not even stdin (whose port was valid) was dialed. */
    assert_int_equal(accept4(lfd, NULL, NULL, SOCK_NONBLOCK), -1);
    assert_int_equal(errno, EAGAIN);
    close(lfd);

    /* A failed dial (no listener for stdout) closes what was dialed. */
    err_clear(&e);
    uint32_t pin2 = next_port++;
    lfd = listen_port(pin2);
    ports = (msg_vsock_stdio){.std_in = pin2, .std_out = next_port++};
    assert_true(stdio_connect(&tp, &ports, true, true, false, &conns, &e) < 0);
    int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(a >= 0);
    char b;
    assert_int_equal(recv(a, &b, 1, 0), 0); /* the stdin connection was closed */
    close(a);
    close(lfd);

    /* Streams not wanted are not dialed even when a port is named. */
    err_clear(&e);
    ports = (msg_vsock_stdio){.std_in = 1};
    assert_int_equal(stdio_connect(&tp, &ports, false, false, false, &conns, &e), 0);
    assert_int_equal(conns.in, -1);
    assert_int_equal(conns.out, -1);
    assert_int_equal(conns.err, -1);
}

/* relay_free mid-transfer (watches live, buffers full) and from done_cb. */
static void test_free_any_time(void **state)
{
    (void)state;
    int before = count_fds();
    loop *l = new_loop();
    char *data = xzalloc(1 << 20);
    proc p;
    proc_start(&p, l, true, true, true, "exec cat");
    p.h[1].paused = true;
    h_update(l, &p.h[1]);
    p.h[0].send = data;
    p.h[0].send_len = 1 << 20;
    h_update(l, &p.h[0]);
    run_for(l, 200);
    relay_free(p.r);
    p.r = NULL;
    run_for(l, 50); /* no callback touches the freed relay */
    kill(p.pid, SIGKILL);
    assert_true(run_until(l, &p.exited, 10000));
    proc_free(&p);

    proc_start(&p, l, false, true, false, "echo bye");
    cleanup_err gcs_err e = GCS_ERR_INIT;
    stdio_conns none = STDIO_CONNS_NONE;
    assert_true(relay_start(l, p.r, &none, NULL, NULL, &e) < 0); /* a second start is refused */
    p.free_in_done = true;
    assert_true(run_until(l, &p.done, 10000));
    assert_null(p.r);
    assert_true(run_until(l, &p.exited, 10000));
    assert_int_equal(p.h[1].got_len, 4);
    proc_free(&p);
    loop_free(l);
    free(data);
    assert_int_equal(count_fds(), before);
}

static bool contains(const hstream *h, const char *s)
{
    return h->got_len && memmem(h->got, h->got_len, s, strlen(s)) != NULL;
}

static void test_pty_resize_and_eio(void **state)
{
    (void)state;
    int before = count_fds();
    loop *l = new_loop();
    cleanup_err gcs_err e = GCS_ERR_INIT;
    int master, slave;
    cleanup_free char *name = NULL;
    assert_int_equal(relay_pty_open(&master, &slave, &name, &e), 0);
    assert_true(str_has_prefix(name, "/dev/pts/"));
    relay *r = relay_pty_new(master);
    assert_int_equal(relay_resize(r, 33, 77, &e), 0);

    proc p;
    memset(&p, 0, sizeof(p));
    p.l = l;
    p.r = r;
    msg_vsock_stdio ports = {.std_in = next_port};
    ports.std_out = next_port + 1;
    ports.std_err = next_port + 2;
    next_port += 3;
    uint32_t pv[] = {ports.std_in, ports.std_out, ports.std_err};
    for (int i = 0; i < 3; i++) {
        p.h[i].lfd = listen_port(pv[i]);
        p.h[i].chunk = i ? 4096 : 0;
        p.h[i].close_eof = true;
    }
    stdio_conns conns;
    assert_int_equal(stdio_connect(&tp, &ports, true, true, true, &conns, &e), 0);
    for (int i = 0; i < 3; i++) {
        p.h[i].fd = accept4(p.h[i].lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        close(p.h[i].lfd);
    }
    p.pid = fork();
    assert_true(p.pid >= 0);
    if (p.pid == 0) {
        setsid();
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
            _exit(125);
        int fds[3] = {slave, slave, slave};
        child_exec(fds, "stty size; exec cat");
    }
    track_pid(p.pid);
    close(slave);
    loop_child_watch(l, p.pid, on_exit_cb, &p);
    assert_int_equal(relay_start(l, r, &conns, on_relay_done, &p, &e), 0);
    for (int i = 0; i < 3; i++)
        h_update(l, &p.h[i]);

    uint64_t deadline = now_ms() + 10000;
    while (!contains(&p.h[1], "33 77") && now_ms() < deadline)
        loop_run_once(l, 20);
    assert_true(contains(&p.h[1], "33 77"));

    /* Input through the pty reaches cat; ^D ends it; the slave closes and
     * the master's EIO ends stdout; stderr (silent) ends with it. */
    p.h[0].send = "ping\n\x04";
    p.h[0].send_len = 6;
    p.h[0].shut = true;
    h_update(l, &p.h[0]);
    assert_true(run_until(l, &p.exited, 10000));
    assert_true(run_until(l, &p.done, 10000));
    assert_true(contains(&p.h[1], "ping\r\nping\r\n")); /* echo + cat */
    assert_true(p.h[1].eof);
    assert_true(p.h[2].eof);
    assert_int_equal(p.h[2].got_len, 0);
    relay_counters ce;
    relay_get_counters(r, RELAY_STDERR, &ce);
    assert_true(ce.finished);
    assert_int_equal(ce.read, 0);
    proc_free(&p);

    /* A pipe relay has no console to resize. */
    relay *pr;
    assert_int_equal(relay_pipes_new(false, true, false, &pr, &e), 0);
    assert_true(relay_resize(pr, 1, 1, &e) < 0);
    assert_int_equal(e.hr, HR_E_FAIL);
    relay_free(pr);
    loop_free(l);
    assert_int_equal(count_fds(), before);
}

typedef struct console_got {
    bool called;
    int master;
    char *msg;
} console_got;

static void on_console(relay_console_socket *cs, int master, const gcs_err *err, void *data)
{
    (void)cs;
    console_got *g = data;
    g->called = true;
    g->master = master;
    g->msg = err ? xstrdup(err_msg(err)) : NULL;
}

static int connect_path(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_fd(int sock, int fd, const char *payload)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } cbuf;
    memset(&cbuf, 0, sizeof(cbuf));
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = strlen(payload)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)strlen(payload));
}

static void test_console_socket_fake_sender(void **state)
{
    (void)state;
    int before = count_fds();
    loop *l = new_loop();
    cleanup_err gcs_err e = GCS_ERR_INIT;
    relay_console_socket *cs;
    assert_int_equal(relay_console_socket_new(tmp, &cs, &e), 0);
    const char *path = relay_console_socket_path(cs);
    struct stat st;
    cleanup_free char *dir = xstrndup(path, strrchr(path, '/') - path);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    console_got g = {.master = -1};
    assert_int_equal(relay_console_receive(l, cs, on_console, &g, &e), 0);
    assert_true(relay_console_receive(l, cs, on_console, &g, &e) < 0); /* one at a time */
    err_clear(&e);
    int m, s;
    cleanup_free char *name = NULL;
    assert_int_equal(relay_pty_open(&m, &s, &name, &e), 0);
    int sock = connect_path(path);
    send_fd(sock, m, name);
    close(m);
    assert_true(run_until(l, &g.called, 5000));
    close(sock);
    assert_null(g.msg);
    assert_true(g.master >= 0);
    assert_true(isatty(g.master));
    /* The received fd is the same pty: bytes written on the slave come out. */
    assert_int_equal(write(s, "hey\n", 4), 4);
    char b[64];
    struct pollfd pfd = {.fd = g.master, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    ssize_t n = read(g.master, b, sizeof(b));
    assert_true(n >= 3);
    assert_memory_equal(b, "hey", 3);
    close(g.master);
    close(s);

    /* A sender that closes without a descriptor is an error. */
    g = (console_got){.master = -1};
    assert_int_equal(relay_console_receive(l, cs, on_console, &g, &e), 0);
    sock = connect_path(path);
    close(sock);
    assert_true(run_until(l, &g.called, 5000));
    assert_int_equal(g.master, -1);
    assert_non_null(strstr(g.msg, "without"));
    free(g.msg);

    /* Cancel: no callback, and the pending connection is dropped. */
    g = (console_got){.master = -1};
    assert_int_equal(relay_console_receive(l, cs, on_console, &g, &e), 0);
    relay_console_cancel(cs);
    sock = connect_path(path);
    run_for(l, 100);
    assert_false(g.called);
    close(sock);

    relay_console_socket_free(cs);
    assert_int_equal(access(dir, F_OK), -1);
    loop_free(l);
    assert_int_equal(count_fds(), before);
}

/* ---- runc --console-socket (skipped without runc) ---- */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

static const char *runc_path(void)
{
    const char *c[] = {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"};
    for (size_t i = 0; i < ARRAY_SIZE(c); i++)
        if (access(c[i], X_OK) == 0)
            return c[i];
    return NULL;
}

typedef struct rt_got {
    bool done;
    char *msg;
} rt_got;

static void on_rt(runtime_result *res, void *data)
{
    rt_got *g = data;
    g->done = true;
    g->msg = res->err.msg ? xstrdup(res->err.msg) : NULL;
}

#define RT_SYNC(l, g, call)                                                                                       \
    do {                                                                                                          \
        free((g).msg);                                                                                            \
        (g) = (rt_got){0};                                                                                        \
        cleanup_err gcs_err e_ = GCS_ERR_INIT;                                                                    \
        if ((call) < 0)                                                                                           \
            fail_msg("%s: %s", #call, err_msg(&e_));                                                              \
        assert_true(run_until((l), &(g).done, 30000));                                                            \
    } while (0)

static void test_runc_console_socket(void **state)
{
    (void)state;
    const char *runc = runc_path();
    if (!runc) {
        fprintf(stderr, "runc not installed: skipping\n");
        skip();
    }
    loop *l = new_loop();
    cleanup_free char *root = xasprintf("%s/runc", tmp);
    cleanup_free char *bundle = xasprintf("%s/bundle", tmp);
    cleanup_free char *rootfs = xasprintf("%s/rootfs", bundle);
    assert_int_equal(mkdir(root, 0700), 0);
    assert_int_equal(mkdir(bundle, 0700), 0);
    assert_int_equal(mkdir(rootfs, 0755), 0);
    static const char *dirs[] = {"bin", "proc", "dev", "tmp"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        cleanup_free char *d = xasprintf("%s/%s", rootfs, dirs[i]);
        assert_int_equal(mkdir(d, 0755), 0);
    }
    cleanup_free char *bb = xasprintf("%s/bin/busybox", rootfs);
    cleanup_free char *data = NULL;
    size_t len = 0;
    assert_int_equal(read_file("/bin/busybox", &data, &len), 0);
    assert_int_equal(write_file(bb, data, len, 0755), 0);
    cleanup_free char *shl = xasprintf("%s/bin/sh", rootfs);
    assert_int_equal(symlink("busybox", shl), 0);
    cleanup_free char *cfg = xasprintf(
        "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0},"
        "\"args\":[\"/bin/sh\"],\"env\":[\"PATH=/bin\",\"TERM=dumb\"],\"cwd\":\"/\"},"
        "\"root\":{\"path\":\"%s\",\"readonly\":false},\"hostname\":\"gcs-unit\","
        "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
        "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"mode=755\"]},"
        "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
        "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]}],"
        "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]}}",
        rootfs);
    cleanup_free char *cfgp = xasprintf("%s/config.json", bundle);
    assert_int_equal(write_file(cfgp, cfg, strlen(cfg), 0600), 0);
    cleanup_free char *id = xasprintf("gcs-unit-stdio-%d", (int)getpid());
    cleanup_free char *pidf = xasprintf("%s/pid", tmp);

    cleanup_err gcs_err e = GCS_ERR_INIT;
    relay_console_socket *cs;
    assert_int_equal(relay_console_socket_new(tmp, &cs, &e), 0);
    console_got cg = {.master = -1};
    assert_int_equal(relay_console_receive(l, cs, on_console, &cg, &e), 0);
    runtime *rt = runtime_new(l, runc, root);
    rt_got g = {0};
    RT_SYNC(l, g, runtime_create(rt, id, bundle, pidf, relay_console_socket_path(cs), NULL, on_rt, &g, &e_));
    if (g.msg)
        fail_msg("runc create: %s", g.msg);
    assert_true(run_until(l, &cg.called, 10000));
    assert_null(cg.msg);
    relay_console_socket_free(cs);
    cleanup_free char *pids = NULL;
    assert_int_equal(read_file(pidf, &pids, NULL), 0);

    proc p;
    memset(&p, 0, sizeof(p));
    p.l = l;
    p.r = relay_pty_new(cg.master);
    p.pid = atoi(pids);
    track_pid(p.pid);
    msg_vsock_stdio ports = {.std_in = next_port, .std_out = next_port + 1};
    next_port += 2;
    for (int i = 0; i < 2; i++) {
        p.h[i].lfd = listen_port(i ? ports.std_out : ports.std_in);
        p.h[i].chunk = i ? 4096 : 0;
        p.h[i].close_eof = true;
    }
    p.h[2].fd = -1;
    stdio_conns conns;
    assert_int_equal(stdio_connect(&tp, &ports, true, true, false, &conns, &e), 0);
    for (int i = 0; i < 2; i++) {
        p.h[i].fd = accept4(p.h[i].lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        close(p.h[i].lfd);
    }
    loop_child_watch(l, p.pid, on_exit_cb, &p); /* we are a subreaper: init is ours to reap */
    assert_int_equal(relay_start(l, p.r, &conns, on_relay_done, &p, &e), 0);
    for (int i = 0; i < 2; i++)
        h_update(l, &p.h[i]);
    RT_SYNC(l, g, runtime_start(rt, id, on_rt, &g, &e_));
    assert_null(g.msg);

    p.h[0].send = "echo h''i\nexit\n";
    p.h[0].send_len = strlen(p.h[0].send);
    p.h[0].shut = true;
    h_update(l, &p.h[0]);
    assert_true(run_until(l, &p.exited, 20000));
    assert_true(run_until(l, &p.done, 20000));
    assert_true(contains(&p.h[1], "\nhi\r\n"));
    proc_free(&p);

    RT_SYNC(l, g, runtime_delete(rt, id, true, on_rt, &g, &e_));
    assert_null(g.msg);
    runtime_free(rt);
    loop_free(l);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return -1;
    snprintf(tmp, sizeof(tmp), "/tmp/gcs-unit-stdio-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    tp = (transport){.kind = TRANSPORT_UNIX, .dir = tmp};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *runc = runc_path();
    if (runc) {
        cleanup_free char *cmd =
            xasprintf("%s --root %s/runc delete --force gcs-unit-stdio-%d >/dev/null 2>&1", runc, tmp, (int)getpid());
        if (system(cmd) != 0) {
            /* nothing left to delete */
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(live_pids); i++)
        if (live_pids[i] > 0)
            kill(live_pids[i], SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_zero_rejected),
        cmocka_unit_test(test_stdin_half_close_ends_cat),
        cmocka_unit_test(test_stderr_separate),
        cmocka_unit_test(test_close_handshake_order),
        cmocka_unit_test(test_output_not_lost_at_exit),
        cmocka_unit_test(test_host_vanishes),
        cmocka_unit_test(test_reconnect_replays_tail_then_backlog),
        cmocka_unit_test(test_reconnect_stop_while_away),
        cmocka_unit_test(test_tee_failure_keeps_the_stream),
        cmocka_unit_test(test_roundtrip_10mib_slow_host),
        cmocka_unit_test(test_free_any_time),
        cmocka_unit_test(test_pty_resize_and_eio),
        cmocka_unit_test(test_console_socket_fake_sender),
        cmocka_unit_test(test_runc_console_socket),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
