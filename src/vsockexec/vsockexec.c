/* vsockexec — /bin/vsockexec in the utility VM image, a drop-in for
 * upstream's (hcsshim vsockexec/vsockexec.c; the command line is in
 * vsxargs.h). hcsshim boots init with
 *
 *     -e 1 /bin/vsockexec [-o 109] -e 109 /bin/gcs -v4 -log-format json ...
 *
 * so the agent's stderr (its log stream) is a connection to the host's log
 * port 109. Without -r: dial each port (one connection for -o and -e when
 * they name the same port), put the connections on fds 0/1/2 and exec the
 * program; a failed dial exits 1 (the host is listening before the VM
 * starts, so it is a real error). With -r: stay as the program's parent and
 * relay (below).
 *
 * Every dial goes through transport_dial with transport_default(): real
 * vsock, or the development mapping when the kernel command line says
 * gcs.devtransport= (src/transport/transport.h).
 *
 * The relay (-r), better than upstream where it matters (docs/differences.md
 * D-33):
 *   - the program writes into a pipe; vsockexec forwards to the host and,
 *     when the connection is missing or drops, re-dials every 100 ms while it
 *     keeps reading the pipe into a buffer (1 MiB; when that is full the
 *     program blocks, never loses bytes);
 *   - a host hang-up is seen at once (the host never sends on this port, so
 *     a readable socket is the end of it), not on the next write, so no
 *     bytes go into a dead connection;
 *   - a new connection starts at a line boundary: if the old one ended in
 *     the middle of a line, the rest of that line is dropped, so the host's
 *     decoder (a stream of JSON objects) never starts mid-object;
 *   - SIGTERM, SIGINT and SIGHUP are passed to the program; vsockexec exits
 *     with the program's status once its output is drained (at most 2 s of
 *     re-dialling for the last bytes).
 */
#include "transport/transport.h"
#include "vsockexec/vsxargs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF (1u << 20)
#define REDIAL_MS 100
#define DRAIN_DIALS 20

static void open_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_and_exec(const transport *t, const vsx_args *a)
{
    int socks[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        if (!a->ports[i])
            continue;
        for (int j = 0; j < i; j++)
            if (a->ports[j] == a->ports[i]) {
                socks[i] = fcntl(socks[j], F_DUPFD_CLOEXEC, 3);
                if (socks[i] < 0) {
                    fprintf(stderr, "vsockexec: dup: %s\n", strerror(errno));
                    return 1;
                }
                break;
            }
        if (socks[i] >= 0)
            continue;
        gcs_err err = GCS_ERR_INIT;
        int fd = transport_dial(t, a->ports[i], &err);
        if (fd < 0) {
            char *where = transport_describe(t, a->ports[i]);
            fprintf(stderr, "vsockexec: connect: port %u (%s): %s\n", a->ports[i], where, err_msg(&err));
            free(where);
            err_clear(&err);
            return 1;
        }
        /* The program's last words (gcs's "GCS exiting") must reach the
         * host: init powers the VM off as soon as the program has exited,
         * and data still queued in the socket would die with it. With a
         * linger, the close at the program's exit waits (at most 5 s) until
         * the host has the data (docs/differences.md D-34). */
        struct linger lg = {.l_onoff = 1, .l_linger = 5};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* best effort */
        /* above 2, so that no dup2 below overwrites a socket not yet moved */
        socks[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        if (socks[i] < 0) {
            fprintf(stderr, "vsockexec: dup: %s\n", strerror(errno));
            return 1;
        }
    }
    for (int i = 0; i < 3; i++)
        if (socks[i] >= 0) {
            dup2(socks[i], i); /* the copy on fd i is not close-on-exec */
            close(socks[i]);
        }
    execvp(a->child[0], a->child);
    fprintf(stderr, "vsockexec: execvp: %s: %s\n", a->child[0], strerror(errno));
    return 1;
}

/* ---- the relay ---- */

static volatile pid_t relay_child = -1;

static void pass_signal(int signo)
{
    if (relay_child > 0)
        kill(relay_child, signo);
}

static int dial_nonblock(const transport *t, uint32_t port)
{
    gcs_err err = GCS_ERR_INIT;
    int fd = transport_dial(t, port, &err);
    err_clear(&err);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int run_relay(const transport *t, const vsx_args *a)
{
    uint32_t port = vsx_relay_port(a);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, "vsockexec: pipe: %s\n", strerror(errno));
        return 1;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "vsockexec: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (a->ports[1])
            dup2(p[1], 1);
        if (a->ports[2])
            dup2(p[1], 2);
        execvp(a->child[0], a->child);
        fprintf(stderr, "vsockexec: execvp: %s: %s\n", a->child[0], strerror(errno));
        _exit(127);
    }
    relay_child = pid;
    struct sigaction sa = {.sa_handler = pass_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);

    char *buf = malloc(RELAY_BUF);
    if (!buf)
        abort();
    size_t len = 0;
    bool eof = false, mid_line = false, skip_to_nl = false;
    int sock = -1, drain_dials = 0;
    int64_t next_dial = 0;
    for (;;) {
        if (sock < 0 && mono_ms() >= next_dial) {
            sock = dial_nonblock(t, port);
            if (sock < 0) {
                next_dial = mono_ms() + REDIAL_MS;
                if (eof && ++drain_dials >= DRAIN_DIALS)
                    break; /* the program is gone and the host does not come back */
            } else if (mid_line) {
                /* start the new connection at a line boundary */
                char *nl = memchr(buf, '\n', len);
                size_t drop = nl ? (size_t)(nl - buf) + 1 : len;
                memmove(buf, buf + drop, len - drop);
                len -= drop;
                skip_to_nl = !nl;
                mid_line = false;
            }
        }
        if (eof && len == 0)
            break;
        struct pollfd fds[2] = {{.fd = -1}, {.fd = -1}};
        if (!eof && len < RELAY_BUF)
            fds[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
        if (sock >= 0)
            fds[1] = (struct pollfd){.fd = sock, .events = POLLIN | POLLRDHUP | (len ? POLLOUT : 0)};
        int timeout = -1;
        if (sock < 0) {
            int64_t left = next_dial - mono_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        if (poll(fds, 2, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[0].revents) {
            ssize_t n = read(p[0], buf + len, RELAY_BUF - len);
            if (n == 0) {
                eof = true;
            } else if (n > 0) {
                size_t got = (size_t)n;
                if (skip_to_nl) {
                    char *nl = memchr(buf + len, '\n', got);
                    size_t drop = nl ? (size_t)(nl - (buf + len)) + 1 : got;
                    memmove(buf + len, buf + len + drop, got - drop);
                    got -= drop;
                    skip_to_nl = !nl;
                }
                len += got;
            } else if (errno != EAGAIN && errno != EINTR) {
                eof = true;
            }
        }
        if (sock >= 0 && (fds[1].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))) {
            char c;
            ssize_t n = read(sock, &c, 1);
            if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
                close(sock); /* the host hung up: dial again at once */
                sock = -1;
                next_dial = 0;
                continue;
            }
        }
        if (sock >= 0 && len && (fds[1].revents & POLLOUT)) {
            ssize_t w = write(sock, buf, len);
            if (w > 0) {
                mid_line = buf[w - 1] != '\n';
                memmove(buf, buf + w, len - (size_t)w);
                len -= (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                close(sock);
                sock = -1;
                next_dial = mono_ms() + REDIAL_MS;
            }
        }
    }
    if (sock >= 0)
        close(sock);
    free(buf);
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

int main(int argc, char **argv)
{
    vsx_args a;
    char msg[256];
    if (vsx_args_parse(argc, argv, &a, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "vsockexec: %s\nusage: %s\n", msg, VSX_USAGE);
        return 1;
    }
    open_std_fds();
    transport t;
    gcs_err err = GCS_ERR_INIT;
    if (transport_default(&t, NULL, &err) < 0) {
        fprintf(stderr, "vsockexec: %s\n", err_msg(&err));
        return 1;
    }
    int rc = a.relay ? run_relay(&t, &a) : connect_and_exec(&t, &a);
    transport_done(&t);
    return rc;
}
