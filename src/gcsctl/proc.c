/* proc.c — ExecuteProcess with attached stdio, WaitForProcess; see proc.h. */
#include "gcsctl/proc.h"

#include "bridge/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>

#define WAIT_FOREVER 0xffffffffu
/* the guest replays this much of a container init's output after a re-dial
 * (docs/protocol.md §1.3, "Reconnecting output") */
#define REPLAY_BYTES (128 * 1024)

int ctl_exit_status(uint32_t code)
{
    return code < 256 ? (int)code : 1;
}

int ctl_proc_wait(ctl *x, const char *cid, uint32_t pid, uint32_t timeout_ms, uint32_t *ret_exit)
{
    json_t *req = hc_envelope(cid);
    json_object_set_new(req, "ProcessId", json_integer(pid));
    json_object_set_new(req, "TimeoutInMs", json_integer(timeout_ms));
    cleanup_err gcs_err err = GCS_ERR_INIT;
    json_t *resp;
    cleanup_free char *what = xasprintf("wait %s %u", cid, pid);
    /* the wait itself may take as long as the process runs */
    if (hc_call(&x->c, MSG_REQUEST_CODE(RPC_WAIT_FOR_PROCESS), req, &resp, INT32_MAX, &err) < 0)
        return ctl_fail("%s: %s", what, err_msg(&err));
    if (ctl_check_response(resp, what) != CTL_OK)
        return CTL_FAILED;
    *ret_exit = (uint32_t)json_integer_value(json_object_get(resp, "ExitCode"));
    json_decref(resp);
    return CTL_OK;
}

/* ---- the attached relay ---- */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int e = errno;
    uint8_t b = (uint8_t)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* the pipe is full: enough signals are pending already */
    }
    errno = e;
}

/* An output stream as printed: the tail of what was printed, and after a
 * host swap the start of the new connection until the replay is matched. */
typedef struct outstream {
    int fd;          /* where it is printed */
    uint32_t port;
    char *tail;      /* the last <= 2 * REPLAY_BYTES bytes printed */
    size_t tlen;
    uint64_t printed;
    bool matching;   /* after a swap: collecting the replay */
    char *pend;
    size_t plen, need;
} outstream;

typedef struct relay {
    ctl *x;
    const ctl_proc_opts *o;
    uint32_t pid;
    int in, out, err; /* sockets; -1 once done */
    outstream os[2];  /* stdout, stderr */
    unsigned swaps;
    bool local_in_eof;
    char inbuf[16384];
    size_t inlen, inoff;
    uint64_t wait_id;
    bool waited;
    uint32_t exit_code;
} relay;

static void send_resize(relay *r)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0)
        return;
    json_t *req = hc_envelope(r->o->container_id);
    json_object_set_new(req, "ProcessId", json_integer(r->pid));
    json_object_set_new(req, "Height", json_integer(ws.ws_row));
    json_object_set_new(req, "Width", json_integer(ws.ws_col));
    size_t len;
    cleanup_free char *p = jx_dump(req, &len);
    json_decref(req);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    /* its answer is read and dropped by the loop: a failed resize is not
     * worth stopping the session for */
    (void)hc_send_raw(&r->x->c, MSG_REQUEST_CODE(RPC_RESIZE_CONSOLE), p, len, NULL, &err);
}

static void send_signal(relay *r, int sig)
{
    json_t *req = hc_envelope(r->o->container_id);
    json_object_set_new(req, "ProcessId", json_integer(r->pid));
    json_t *opt = json_object();
    json_object_set_new(opt, "Signal", json_integer(sig));
    json_object_set_new(req, "Options", opt);
    size_t len;
    cleanup_free char *p = jx_dump(req, &len);
    json_decref(req);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    (void)hc_send_raw(&r->x->c, MSG_REQUEST_CODE(RPC_SIGNAL_PROCESS), p, len, NULL, &err);
}

static void close_in(relay *r)
{
    if (r->in >= 0)
        close(r->in);
    r->in = -1;
}

static void print_out(outstream *s, const char *p, size_t n)
{
    (void)write_all(s->fd, p, n);
    s->printed += n;
    if (n >= REPLAY_BYTES) {
        s->tail = xrealloc(s->tail, REPLAY_BYTES);
        memcpy(s->tail, p + n - REPLAY_BYTES, REPLAY_BYTES);
        s->tlen = REPLAY_BYTES;
        return;
    }
    if (s->tlen + n > 2 * REPLAY_BYTES) { /* keep the last REPLAY_BYTES, copy once per REPLAY_BYTES */
        memmove(s->tail, s->tail + s->tlen - REPLAY_BYTES, REPLAY_BYTES);
        s->tlen = REPLAY_BYTES;
    }
    if (!s->tail)
        s->tail = xmalloc(2 * REPLAY_BYTES);
    memcpy(s->tail + s->tlen, p, n);
    s->tlen += n;
}

/* After a swap the new connection starts with the last min(128 KiB, sent)
 * bytes the guest had sent, and we printed a prefix of those. Take the
 * longest k <= min(printed, 128 KiB) for which the first k new bytes are the
 * last k printed, and print from there: no gap, no repeat (a stream that
 * repeats itself with a short period could still show a few bytes twice). */
static void match_replay(outstream *s, bool eof)
{
    if (!eof && s->plen < s->need)
        return;
    size_t max = s->need < s->plen ? s->need : s->plen;
    size_t k = max;
    for (; k > 0; k--)
        if (memcmp(s->pend, s->tail + s->tlen - k, k) == 0)
            break;
    s->matching = false;
    print_out(s, s->pend + k, s->plen - k);
    free(s->pend);
    s->pend = NULL;
    s->plen = 0;
}

/* Copy what the socket has to its output; at EOF close the socket (the guest
 * waits for our close before it reports the exit). Our own output failing (a
 * closed pipe) does not stop the draining. */
static void pump_out(int *sock, outstream *s)
{
    char buf[65536];
    ssize_t n = read(*sock, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (s->matching)
            match_replay(s, true);
        close(*sock);
        *sock = -1;
        return;
    }
    if (!s->matching) {
        print_out(s, buf, (size_t)n);
        return;
    }
    s->pend = xrealloc(s->pend, s->plen + (size_t)n);
    memcpy(s->pend + s->plen, buf, (size_t)n);
    s->plen += (size_t)n;
    match_replay(s, false);
}

static int send_wait(relay *r, gcs_err *err);

/* SIGUSR1 (start --away-ms): the host goes away as in a live migration
 * (bridge, its listener and the stdio connections closed; stdin does not
 * come back, as upstream), stays away, then listens on the same ports,
 * takes the bridge, negotiates, asks for the exit again and takes the
 * re-dialled stdout and stderr. */
static int host_swap(relay *r)
{
    ctl *x = r->x;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    r->swaps++;
    hc_drop(&x->c);
    close_in(r);
    int *socks[2] = {&r->out, &r->err};
    bool back[2];
    for (int i = 0; i < 2; i++) {
        back[i] = *socks[i] >= 0;
        if (back[i])
            close(*socks[i]);
        *socks[i] = -1;
    }
    struct timespec ts = {r->o->away_ms / 1000, (long)(r->o->away_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    int lfd[2] = {-1, -1};
    int rc = CTL_OK;
    for (int i = 0; i < 2 && rc == CTL_OK; i++)
        if (back[i] && (lfd[i] = hc_listen_on(&x->c, r->os[i].port, &err)) < 0)
            rc = ctl_fail("listen again on port %u: %s", r->os[i].port, err_msg(&err));
    if (rc == CTL_OK && hc_relisten(&x->c, &err) < 0)
        rc = ctl_fail("listen again for the bridge: %s", err_msg(&err));
    if (rc == CTL_OK && hc_accept(&x->c, x->timeout_ms, &err) < 0)
        rc = ctl_fail("%s", err_msg(&err));
    json_t *resp = NULL;
    if (rc == CTL_OK && x->negotiate && hc_negotiate(&x->c, &resp, &err) < 0)
        rc = ctl_fail("negotiate again: %s", err_msg(&err));
    json_decref(resp);
    if (rc == CTL_OK && !r->waited && send_wait(r, &err) < 0)
        rc = ctl_fail("wait %u again: %s", r->pid, err_msg(&err));
    for (int i = 0; i < 2; i++) {
        if (lfd[i] < 0)
            continue;
        if (rc != CTL_OK) {
            close(lfd[i]);
            hc_unlink_port(&x->c, r->os[i].port);
            continue;
        }
        if ((*socks[i] = hc_accept_port(&x->c, lfd[i], r->os[i].port, x->timeout_ms, &err)) < 0) {
            rc = ctl_fail("%s", err_msg(&err));
            continue;
        }
        outstream *s = &r->os[i];
        s->matching = true;
        s->need = s->printed < REPLAY_BYTES ? (size_t)s->printed : REPLAY_BYTES;
    }
    return rc;
}

static void pump_in(relay *r)
{
    if (r->inoff == r->inlen) {
        ssize_t n = read(STDIN_FILENO, r->inbuf, sizeof(r->inbuf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        if (n <= 0) {
            r->local_in_eof = true;
            shutdown(r->in, SHUT_WR);
            close_in(r);
            return;
        }
        r->inlen = (size_t)n;
        r->inoff = 0;
    }
}

static void flush_in(relay *r)
{
    ssize_t n = send(r->in, r->inbuf + r->inoff, r->inlen - r->inoff, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n < 0) {
        close_in(r); /* the process is gone or closed its stdin */
        return;
    }
    r->inoff += (size_t)n;
}

static int relay_loop(relay *r)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    for (;;) {
        if (r->waited && r->out < 0 && r->err < 0)
            return CTL_OK;
        if (r->waited)
            close_in(r); /* the process has exited: nobody reads its stdin */
        enum { P_SIG, P_BRIDGE, P_LOCAL_IN, P_IN, P_OUT, P_ERR, P_N };
        struct pollfd p[P_N];
        for (int i = 0; i < P_N; i++)
            p[i] = (struct pollfd){.fd = -1};
        p[P_SIG] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
        if (!r->waited)
            p[P_BRIDGE] = (struct pollfd){.fd = r->x->c.fd, .events = POLLIN};
        if (r->in >= 0) {
            bool pending = r->inoff < r->inlen;
            /* POLLIN on the stdin socket: the guest closed it (the process exited) */
            p[P_IN] = (struct pollfd){.fd = r->in, .events = (short)(POLLIN | (pending ? POLLOUT : 0))};
            if (!pending && !r->local_in_eof)
                p[P_LOCAL_IN] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        p[P_OUT].fd = r->out;
        p[P_OUT].events = POLLIN;
        p[P_ERR].fd = r->err;
        p[P_ERR].events = POLLIN;
        if (poll(p, P_N, -1) < 0) {
            if (errno == EINTR)
                continue;
            return ctl_fail("poll: %s", strerror(errno));
        }
        if (p[P_SIG].revents & POLLIN) {
            uint8_t sigs[16];
            ssize_t n = read(sig_pipe[0], sigs, sizeof(sigs));
            bool swap = false;
            for (ssize_t i = 0; i < n; i++) {
                if (sigs[i] == SIGUSR1)
                    swap = r->o->host_swap;
                else if (sigs[i] == SIGWINCH && r->o->resize)
                    send_resize(r);
                else if (sigs[i] != SIGWINCH && r->o->forward_signals)
                    send_signal(r, sigs[i]);
            }
            if (swap) {
                int rc = host_swap(r);
                if (rc != CTL_OK)
                    return rc;
                continue;
            }
        }
        if (p[P_BRIDGE].revents) {
            json_t *resp = NULL;
            int got = hc_read_one(&r->x->c, r->wait_id, &resp, r->x->timeout_ms, &err);
            if (got < 0)
                return ctl_fail("waiting for process %u: %s", r->pid, err_msg(&err));
            if (got == 1) {
                char what[32];
                snprintf(what, sizeof(what), "wait %u", r->pid);
                if (ctl_check_response(resp, what) != CTL_OK)
                    return CTL_FAILED;
                r->exit_code = (uint32_t)json_integer_value(json_object_get(resp, "ExitCode"));
                r->waited = true;
                json_decref(resp);
            }
        }
        if (r->in >= 0 && (p[P_IN].revents & (POLLIN | POLLHUP | POLLERR))) {
            close_in(r);
        } else if (r->in >= 0 && (p[P_IN].revents & POLLOUT)) {
            flush_in(r);
        }
        if (r->in >= 0 && p[P_LOCAL_IN].revents)
            pump_in(r);
        if (r->out >= 0 && p[P_OUT].revents)
            pump_out(&r->out, &r->os[0]);
        if (r->err >= 0 && p[P_ERR].revents)
            pump_out(&r->err, &r->os[1]);
    }
}

enum { S_IN, S_OUT, S_ERR, S_N };

static int execute(ctl *x, const ctl_proc_opts *o, json_t *params, const int *lfd, const uint32_t *port,
                   uint32_t *ret_pid)
{
    static const char *const relay_keys[] = {"StdIn", "StdOut", "StdErr"};
    json_t *relays = json_object();
    for (int i = 0; i < S_N; i++)
        if (lfd[i] >= 0)
            json_object_set_new(relays, relay_keys[i], json_integer(port[i]));
    json_t *settings = json_object();
    cleanup_free char *text = jx_dump(params, NULL);
    json_object_set_new(settings, "ProcessParameters", json_string(text));
    json_object_set_new(settings, "VsockStdioRelaySettings", relays);
    json_t *req = hc_envelope(o->container_id);
    json_object_set_new(req, "Settings", settings);
    json_t *resp;
    int rc = ctl_request(x, MSG_REQUEST_CODE(RPC_EXECUTE_PROCESS), req, &resp, "execute process");
    if (rc != CTL_OK)
        return rc;
    *ret_pid = (uint32_t)json_integer_value(json_object_get(resp, "ProcessId"));
    json_decref(resp);
    return CTL_OK;
}

int ctl_proc_run(ctl *x, const ctl_proc_opts *o, uint32_t *ret_pid, uint32_t *ret_exit)
{
    json_t *params = o->params;
    bool want[S_N] = {o->attach && o->stdin, o->attach, o->attach && !o->tty};
    static const char *const flags[] = {"CreateStdInPipe", "CreateStdOutPipe", "CreateStdErrPipe"};
    for (int i = 0; i < S_N; i++)
        json_object_set_new(params, flags[i], json_boolean(want[i]));
    int rc = ctl_connect(x);
    if (rc != CTL_OK) {
        json_decref(params);
        return rc;
    }

    /* docs/protocol.md §1.3: listen before ExecuteProcess, in the order
     * stdin, stdout, stderr, one port per requested stream */
    int lfd[S_N] = {-1, -1, -1}, sock[S_N] = {-1, -1, -1};
    uint32_t port[S_N] = {0};
    cleanup_err gcs_err err = GCS_ERR_INIT;
    for (int i = 0; i < S_N && rc == CTL_OK; i++) {
        if (want[i] && (lfd[i] = hc_listen_port(&x->c, &port[i], &err)) < 0)
            rc = ctl_fail("%s", err_msg(&err));
    }
    uint32_t pid = 0;
    if (rc == CTL_OK)
        rc = execute(x, o, params, lfd, port, &pid);
    json_decref(params);
    for (int i = 0; i < S_N; i++) {
        if (lfd[i] < 0)
            continue;
        if (rc != CTL_OK) {
            close(lfd[i]);
            hc_unlink_port(&x->c, port[i]);
        } else if ((sock[i] = hc_accept_port(&x->c, lfd[i], port[i], x->timeout_ms, &err)) < 0) {
            rc = ctl_fail("%s", err_msg(&err));
            err_clear(&err);
        }
    }
    if (rc == CTL_OK)
        *ret_pid = pid;
    if (rc != CTL_OK || !o->attach) {
        for (int i = 0; i < S_N; i++)
            if (sock[i] >= 0)
                close(sock[i]);
        return rc;
    }

    relay r = {.x = x, .o = o, .pid = pid, .in = sock[S_IN], .out = sock[S_OUT], .err = sock[S_ERR]};
    r.os[0] = (outstream){.fd = STDOUT_FILENO, .port = port[S_OUT]};
    r.os[1] = (outstream){.fd = STDERR_FILENO, .port = port[S_ERR]};
    if (send_wait(&r, &err) < 0) {
        rc = ctl_fail("wait %u: %s", pid, err_msg(&err));
        goto out;
    }

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        rc = ctl_fail("pipe: %s", strerror(errno));
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old_winch, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, &old_winch);
    struct sigaction old_usr1;
    if (o->host_swap)
        sigaction(SIGUSR1, &sa, &old_usr1);
    if (o->forward_signals) {
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }
    struct termios saved;
    bool raw = o->tty && o->stdin && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    if (o->resize && isatty(STDIN_FILENO))
        send_resize(&r);

    rc = relay_loop(&r);
    if (rc == CTL_OK)
        *ret_exit = r.exit_code;

    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    sigaction(SIGWINCH, &old_winch, NULL);
    if (o->host_swap)
        sigaction(SIGUSR1, &old_usr1, NULL);
    if (o->forward_signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
out:
    for (int i = 0; i < 2; i++) {
        free(r.os[i].tail);
        free(r.os[i].pend);
    }
    if (r.in >= 0)
        close(r.in);
    if (r.out >= 0)
        close(r.out);
    if (r.err >= 0)
        close(r.err);
    return rc;
}

static int send_wait(relay *r, gcs_err *err)
{
    json_t *wreq = hc_envelope(r->o->container_id);
    json_object_set_new(wreq, "ProcessId", json_integer(r->pid));
    json_object_set_new(wreq, "TimeoutInMs", json_integer(WAIT_FOREVER));
    size_t wlen;
    cleanup_free char *wtext = jx_dump(wreq, &wlen);
    json_decref(wreq);
    return hc_send_raw(&r->x->c, MSG_REQUEST_CODE(RPC_WAIT_FOR_PROCESS), wtext, wlen, &r->wait_id, err);
}

int ctl_start_init(ctl *x, const char *id, bool attach, bool stdin, bool tty, uint32_t *ret_pid,
                   uint32_t *ret_exit)
{
    return ctl_start_init_swap(x, id, attach, stdin, tty, 0, ret_pid, ret_exit);
}

int ctl_start_init_swap(ctl *x, const char *id, bool attach, bool stdin, bool tty, int away_ms, uint32_t *ret_pid,
                        uint32_t *ret_exit)
{
    int rc = ctl_connect(x);
    if (rc != CTL_OK)
        return rc;
    cleanup_free char *what = xasprintf("start %s", id);
    rc = ctl_request(x, MSG_REQUEST_CODE(RPC_START), hc_envelope(id), NULL, what);
    if (rc != CTL_OK)
        return rc;
    /* docs/protocol.md §4.4 case B: no OciProcess, only the stdio flags */
    ctl_proc_opts o = {
        .container_id = id,
        .params = json_object(),
        .attach = attach,
        .stdin = stdin,
        .tty = tty,
        .resize = tty,
        .forward_signals = !tty,
        .host_swap = attach && away_ms > 0,
        .away_ms = away_ms,
    };
    return ctl_proc_run(x, &o, ret_pid, ret_exit);
}

static json_t *find_container(json_t *listing, const char *id)
{
    json_t *arr = json_object_get(listing, "containers");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *c = json_array_get(arr, i);
        if (streq(json_string_value(json_object_get(c, "id")), id))
            return json_incref(c);
    }
    return NULL;
}

int ctl_container_info(ctl *x, const char *id, json_t **ret)
{
    json_t *doc;
    int rc = ctl_listing(x, &doc);
    if (rc != CTL_OK)
        return rc;
    json_t *c = find_container(doc, id);
    json_decref(doc);
    if (!c)
        return ctl_fail("no container %s", id);
    *ret = c;
    return CTL_OK;
}

bool ctl_container_has_terminal(ctl *x, const char *id)
{
    json_t *doc;
    if (ctl_listing(x, &doc) != CTL_OK)
        return false;
    json_t *info = find_container(doc, id);
    json_decref(doc);
    const char *bundle = json_string_value(json_object_get(info, "bundle"));
    cleanup_free char *path = xasprintf("%s/config.json", bundle ? bundle : "/nonexistent");
    json_decref(info);
    json_t *spec = json_load_file(path, 0, NULL);
    bool t = json_is_true(json_object_get(json_object_get(spec, "process"), "terminal"));
    json_decref(spec);
    return t;
}
