/* proc.h — running a process through the agent with its stdio attached to
 * gcsctl's own (the host side of docs/protocol.md §1.3), and the small
 * requests around processes that several commands share.
 *
 * Attached: the stdio ports are listened on before ExecuteProcess, accepted
 * after it, a WaitForProcess (infinite) is sent at once, and one poll loop
 * relays our stdin to the process (half-close at EOF), its stdout/stderr to
 * ours until EOF (then closes them: the guest waits for that), forwards
 * SIGWINCH as ResizeConsole and SIGINT/SIGTERM as SignalProcess, and ends
 * when the wait has answered and both outputs are at EOF. */
#pragma once

#include "gcsctl/gcsctl.h"

typedef struct ctl_proc_opts {
    const char *container_id; /* NULL_CONTAINER_ID: a process in the VM itself */
    json_t *params;           /* ProcessParameters without the CreateStd*Pipe flags; stolen */
    bool attach;              /* false: no stdio at all (detached) */
    bool stdin;               /* relay our stdin (attach only) */
    bool tty;                 /* the process has a pty: no stderr stream; raw local terminal */
    bool resize;              /* send ResizeConsole at start and on SIGWINCH (needs tty) */
    bool forward_signals;     /* SIGINT/SIGTERM to gcsctl -> SignalProcess */
    bool host_swap;           /* SIGUSR1 -> play a host swap (live migration, proc.c) */
    int away_ms;              /* how long the host stays away in a swap */
} ctl_proc_opts;

/* ExecuteProcess; *ret_pid is the process's pid. Attached, also relay and
 * wait: *ret_exit is its ExitCode. CTL_OK or CTL_FAILED (printed). */
int ctl_proc_run(ctl *x, const ctl_proc_opts *o, uint32_t *ret_pid, uint32_t *ret_exit);

/* WaitForProcess; timeout_ms 0xffffffff waits forever. */
int ctl_proc_wait(ctl *x, const char *cid, uint32_t pid, uint32_t timeout_ms, uint32_t *ret_exit);

/* gcsctl's exit status for a process's ExitCode: the code if < 256, else 1. */
int ctl_exit_status(uint32_t code);

/* The container's entry from DumpStacks (id, kind, state, pod, pid, bundle,
 * ...) in *ret, or CTL_FAILED "no container ID" (printed). */
int ctl_container_info(ctl *x, const char *id, json_t **ret);

/* Start (a no-op kept for hcsshim's order) then ExecuteProcess of the
 * container's init. tty: the container's process.terminal. */
int ctl_start_init(ctl *x, const char *id, bool attach, bool stdin, bool tty, uint32_t *ret_pid,
                   uint32_t *ret_exit);
/* The same, playing a host swap on SIGUSR1 (away_ms > 0; attached only). */
int ctl_start_init_swap(ctl *x, const char *id, bool attach, bool stdin, bool tty, int away_ms, uint32_t *ret_pid,
                        uint32_t *ret_exit);

/* Whether the container's OCI spec (read from its bundle, when this host
 * can see it) asks for a terminal. */
bool ctl_container_has_terminal(ctl *x, const char *id);
