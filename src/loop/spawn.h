/* spawn.h — the one way the agent starts a child process: the OCI runtime's
 * invocations (src/runtime) and processes in the VM itself (ExecuteProcess
 * without a container, src/host/process.c).
 *
 * The child gets default signal dispositions and an empty signal mask, the
 * three given descriptors as 0, 1 and 2 and no other descriptor of the
 * agent, then optionally a new session with fds[0] as its controlling
 * terminal, a network namespace and a working directory, then execve (execvpe with PATH search).
 * The call returns once the child has exec'd or failed to: a failure of any
 * step in the child is reported synchronously, and the failed child is left
 * to the loop to reap. A started child must be watched by the caller with
 * loop_child_watch (the loop is the only waitpid). */
#pragma once

#include "common/err.h"
#include "loop/loop.h"

#include <stdbool.h>
#include <sys/types.h>

typedef struct spawn_opts {
    const char *path;   /* the program; with search_path a name looked up in PATH */
    char *const *argv;
    char *const *envp;  /* NULL: the agent's environment */
    int fds[3];         /* become 0, 1, 2 (each >= 0; may repeat) */
    const char *cwd;    /* NULL: the agent's */
    bool search_path;
    bool setsid_ctty;   /* new session, fds[0] (a pty slave) its controlling terminal */
    const char *netns;  /* NULL: the agent's network namespace; else a netns file
                         * (/proc/<pid>/ns/net) the child enters before exec */
} spawn_opts;

/* 0 and *ret_pid, or <0 with err set: "<what>: fork: ..." or
 * "<what>: exec <path>: ..." (chdir and descriptor failures are named too). */
int spawn(loop *l, const spawn_opts *o, const char *what, pid_t *ret_pid, gcs_err *err);
