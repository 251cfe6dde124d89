/* stdio.h — a process's stdio streams to the host (docs/protocol.md §1.3).
 *
 * stdio_connect dials the ports the host named in ExecuteProcess (stdin,
 * stdout, stderr, in that order, before the response is sent). A relay then
 * moves bytes between those sockets and the process, on the loop, without
 * threads and without unbounded buffering:
 *
 *   pipe relay (no terminal)   socket -> stdin pipe; stdout/stderr pipe -> socket
 *   pty relay (terminal)       socket -> pty master; pty master -> stdout socket
 *                              (a requested stderr socket carries nothing)
 *
 * Output streams end with the close handshake: at EOF from the process (EIO
 * on a pty master counts as EOF) the guest shuts down its write side, reads
 * until the host has closed its end (bytes received then are logged and
 * discarded), and closes. A stream is finished after that handshake, or
 * at once when the host vanished (EPIPE/ECONNRESET: the pipe is then drained
 * to nowhere until EOF so the process never blocks). done_cb runs (from a
 * 0 ms loop timer, never from inside a relay call) when stdout and stderr
 * are finished; the owner combines that with the process exit before
 * answering WaitForProcess (docs/protocol.md §4.5). stdin: when the host half-closes, the
 * process's stdin is closed; relay_process_exited shuts down the read side of
 * the stdin socket and closes it.
 *
 * The owner must ignore SIGPIPE (gcs.c does): writes to pipes and splice(2)
 * into sockets can raise it. relay_free is safe at any point, including from
 * done_cb. */
#pragma once

#include "bridge/msg.h"
#include "common/err.h"
#include "loop/loop.h"
#include "transport/transport.h"

#include <stdbool.h>
#include <stdint.h>

/* Connected stdio sockets; -1 for a stream that was not requested. */
typedef struct stdio_conns {
    int in, out, err;
} stdio_conns;

#define STDIO_CONNS_NONE ((stdio_conns){-1, -1, -1})

/* Dial the wanted streams in the order stdin, stdout, stderr. A wanted stream
 * whose port is 0 is an error, detected before anything is dialed (the
 * reference would dial port 0). On failure nothing stays open and ret is
 * untouched. */
int stdio_connect(const transport *t, const msg_vsock_stdio *ports, bool want_in, bool want_out, bool want_err,
                  stdio_conns *ret, gcs_err *err);
/* Close every open socket and set it to -1. */
void stdio_conns_close(stdio_conns *c);

enum relay_stream { RELAY_STDIN, RELAY_STDOUT, RELAY_STDERR, RELAY_NSTREAMS };

typedef struct relay relay;
typedef void (*relay_done_cb)(relay *r, void *data);

/* Pipe relay: one pipe per wanted stream, /dev/null for the others.
 * relay_child_fds gives the process side as fds[0..2] (stdin read end,
 * stdout/stderr write ends, or /dev/null); they stay valid until relay_start,
 * which closes them in the agent. */
int relay_pipes_new(bool want_in, bool want_out, bool want_err, relay **ret, gcs_err *err);
void relay_child_fds(const relay *r, int fds[3]);

/* Reconnecting output (a container init's stdout/stderr, as
 * internal/guest/transport/reconnect.go): a stream whose host connection fails
 * (EPIPE, ECONNRESET, ENOTCONN on a write, or a hang-up seen by epoll) re-dials
 * the same port through the transport at once and then every
 * RELAY_REDIAL_MS, on a loop timer, until it connects or relay_reconnect_stop
 * is called. On the new connection it first sends again the last
 * RELAY_REPLAY_BYTES bytes it had sent (fewer if it has sent fewer; a replay
 * is not recorded again), then the backlog, then the live stream. While the
 * host is away the process's output is read on into a backlog of up to
 * RELAY_BACKLOG_BYTES per stream; past that it is dropped (so the process is
 * never blocked by a missing host) and the loss is logged with its size. While
 * connected a slow host still pushes back (one RELAY_BUF of queue). Such a
 * stream does not use splice. Call before relay_start; port 0 leaves a stream
 * as it is, and so does a pty relay's stderr (it carries nothing). Stopped, a stream whose host is away gives up (its queue is
 * discarded and it is finished); a connected one stays and no longer re-dials. */
#define RELAY_REDIAL_MS 100
#define RELAY_REPLAY_BYTES (128 * 1024)
#define RELAY_BACKLOG_BYTES (1024 * 1024)
int relay_set_reconnect(relay *r, const transport *t, uint32_t port_out, uint32_t port_err, gcs_err *err);
void relay_reconnect_stop(relay *r);

/* The tee log: every byte read from the process's stdout and stderr (pty: the
 * console) is appended to fd once, as it is read, whatever happens to the host
 * connection; fd (taken) is closed when the output streams are finished. A
 * failing write is logged and ends the tee, not the stream. name is for logs. */
void relay_set_tee(relay *r, int fd, const char *name);

/* pty relay over a pty master (taken, even on failure). */
relay *relay_pty_new(int master);

/* Start relaying; conns are taken (set to NONE) even on failure. Call after
 * the process was started with the child fds / the pty. A piped stream
 * without a connection is closed on the agent's side (stdin: EOF at once;
 * stdout/stderr: the process gets EPIPE), as the reference does. */
int relay_start(loop *l, relay *r, stdio_conns *conns, relay_done_cb done_cb, void *data, gcs_err *err);

/* The process has exited: release the stdin socket (shutdown SHUT_RD, close)
 * and the process's stdin. Output keeps draining until EOF. */
void relay_process_exited(relay *r);

/* TIOCSWINSZ on the pty master (docs/protocol.md §4.7); an error when the relay has no pty. */
int relay_resize(relay *r, uint16_t rows, uint16_t cols, gcs_err *err);

bool relay_done(const relay *r);
void relay_free(relay *r);

/* Diagnostics. read: bytes taken from the source (stdin: the socket; stdout,
 * stderr: the pipe or pty); written: bytes delivered to the destination;
 * discarded: process output dropped after the host vanished, plus bytes the
 * host sent on an output socket. */
typedef struct relay_counters {
    uint64_t read, written, discarded;
    uint64_t dropped;                /* of discarded: past the backlog while the host was away */
    unsigned disconnects, reconnects; /* reconnecting output only */
    bool finished; /* stdin: its socket is closed */
    bool spliced;  /* at least one splice(2) moved data */
} relay_counters;
void relay_get_counters(const relay *r, enum relay_stream s, relay_counters *ret);

/* Allocate a pty pair without runc (UVM processes with EmulateConsole):
 * the master (non-blocking, close-on-exec, no ctty) and the slave opened
 * O_NOCTTY|O_CLOEXEC (the child makes it its ctty with setsid + TIOCSCTTY).
 * ret_slave_path may be NULL. */
int relay_pty_open(int *ret_master, int *ret_slave, char **ret_slave_path, gcs_err *err);

/* runc --console-socket: a listening unix socket <dir>/console-XXXXXX/sock in a
 * new 0700 directory. The runtime connects and sends one message carrying
 * the pty master with SCM_RIGHTS. */
typedef struct relay_console_socket relay_console_socket;
int relay_console_socket_new(const char *dir, relay_console_socket **ret, gcs_err *err);
const char *relay_console_socket_path(const relay_console_socket *cs);

/* On success master >= 0 is owned by the callee and err is NULL; on failure
 * master is -1 and err says why. Runs at most once per receive. */
typedef void (*relay_console_cb)(relay_console_socket *cs, int master, const gcs_err *err, void *data);
/* Accept one connection and receive the fd, asynchronously on the loop. */
int relay_console_receive(loop *l, relay_console_socket *cs, relay_console_cb cb, void *data, gcs_err *err);
/* Stop a pending receive without calling back (idempotent). */
void relay_console_cancel(relay_console_socket *cs);
/* Cancel, close, and remove the socket and its directory. */
void relay_console_socket_free(relay_console_socket *cs);
