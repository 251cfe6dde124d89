/* runtime.h — the OCI runtime (runc, or crun by flag) driven through its CLI.
 *
 * Every call starts the runtime as a child process and returns at once; the
 * completion callback runs on the loop once the process has exited AND its
 * captured pipes are at EOF. When the per-invocation timeout fires, a running
 * runtime is SIGKILLed (by pid) and reported as a timeout; one that already
 * exited but left a process holding its pipes completes with its own status.
 * The loop must reap children: the owner registers SIGCHLD with
 * loop_signal_add(l, SIGCHLD, ...) (gcs.c does; tests must too), and
 * ignores SIGPIPE (update writes the runtime's stdin through a pipe).
 * The child gets default signal dispositions, an empty signal mask and only
 * fds 0-2; a child that cannot exec is reported synchronously.
 *
 * Command line: <binary> [--root R] [--log <bundle>/runc.log --log-format json] <verb> ...
 * --log is passed when the container's bundle is known (create records it per
 * id; delete forgets it). The error text given to the caller is the last
 * error-level message the runtime appended to that log during this call, else
 * the last meaningful line of its stderr, as "<runtime> <verb> <id>: <text>"
 * with runtime_error_hresult(<text>) as the HRESULT (docs/protocol.md §6.2).
 *
 * create and exec give the runtime the caller's stdio fds (or /dev/null):
 * without a terminal the container inherits them, so the runtime's stderr is
 * not captured for those verbs and the log file is the error source. */
#pragma once

#include "common/err.h"
#include "loop/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct runtime runtime;

typedef struct runtime_result {
    int status;          /* raw wait status of the runtime process (-1 if it was never reaped) */
    bool timed_out;      /* the timeout fired and the process was SIGKILLed */
    gcs_err err;         /* set on failure; err.code is -ETIMEDOUT on timeout, else -EIO */
    char *out;           /* captured stdout, NUL-terminated (ps, state; empty otherwise) */
    size_t out_len;
    uint64_t duration_ns;
} runtime_result;

/* res is owned by the driver and valid during the call only; the callback may
 * take res->out (set it to NULL) or err_move res->err. The callback may call
 * runtime_free. */
typedef void (*runtime_done_fn)(runtime_result *res, void *data);

/* The container's stdio for create/exec without a console socket; -1 = /dev/null. */
typedef struct runtime_stdio {
    int in, out, err;
} runtime_stdio;

#define RUNTIME_DEFAULT_TIMEOUT_MS 120000u

/* binary: "runc", "crun" or a path (searched in PATH when it has no '/');
 * state_root: the runtime's --root, NULL or "" for the runtime's default. */
runtime *runtime_new(loop *l, const char *binary, const char *state_root);
/* Kills (SIGKILL, by pid) every invocation still running and forgets it:
 * their callbacks are never called. Accepts NULL. */
void runtime_free(runtime *rt);

/* Pass --no-pivot to create (needed when the root is an initramfs). Default off. */
void runtime_set_no_pivot(runtime *rt, bool on);
/* Per-invocation timeout; 0 disables it. Default RUNTIME_DEFAULT_TIMEOUT_MS. */
void runtime_set_timeout_ms(runtime *rt, uint64_t ms);
/* Number of completed invocations and total wall time spent in them. */
void runtime_stats(const runtime *rt, uint64_t *ret_count, uint64_t *ret_total_ns);
/* Invocations started and not yet completed. */
size_t runtime_inflight(const runtime *rt);

/* Each returns 0 and calls done later, or <0 with err set (done is then never
 * called) when the runtime could not be started at all. */

/* create --bundle B --pid-file P [--no-pivot] [--console-socket S] <id>  (docs/pod-model.md §5.3 step 8) */
int runtime_create(runtime *rt, const char *id, const char *bundle, const char *pid_file,
                   const char *console_socket, const runtime_stdio *stdio, runtime_done_fn done,
                   void *data, gcs_err *err);
/* start <id>  (docs/pod-model.md §5.4) */
int runtime_start(runtime *rt, const char *id, runtime_done_fn done, void *data, gcs_err *err);
/* kill [--all] <id> <signo>: the signal as a number (docs/pod-model.md §5.4) */
int runtime_kill(runtime *rt, const char *id, int signo, bool all, runtime_done_fn done, void *data,
                 gcs_err *err);
/* delete [--force] <id>; forgets the id's log path whatever the outcome */
int runtime_delete(runtime *rt, const char *id, bool force, runtime_done_fn done, void *data, gcs_err *err);
/* exec -d --process P --pid-file F [--console-socket S] <id>  (docs/pod-model.md §5.4) */
int runtime_exec(runtime *rt, const char *id, const char *process_json_path, const char *pid_file,
                 const char *console_socket, const runtime_stdio *stdio, runtime_done_fn done, void *data,
                 gcs_err *err);
/* ps --format json <id>: a JSON array of pids in res->out */
int runtime_ps(runtime *rt, const char *id, runtime_done_fn done, void *data, gcs_err *err);
/* update --resources - <id>, the JSON written to the runtime's stdin */
int runtime_update(runtime *rt, const char *id, const char *resources_json, runtime_done_fn done, void *data,
                   gcs_err *err);
/* state <id>: the state JSON in res->out */
int runtime_state(runtime *rt, const char *id, runtime_done_fn done, void *data, gcs_err *err);

/* <bundle>/runc.log (upstream internal/guest/runtime/runc/runc_test.go). Caller frees. */
char *runtime_log_path(const char *bundle);
/* /var/run/gcsrunc/<id> (case 94) and /var/run/gcsrunc/<id>/<pid>. Caller frees. */
char *runtime_state_dir(const char *id);
char *runtime_process_dir(const char *id, pid_t pid);

/* HRESULT for a runtime's error text (upstream runc/utils.go parseRuncError):
 * "container ... does not exist" / "not exist",
 * crun's missing "<root>/<id>/status" or state dir    -> 0xC037010E
 * "already exists" / "container with id exists"       -> 0xC037010F
 * "invalid container id" / "invalid id format"        -> E_INVALIDARG
 * "container ... that is not stopped", "still running",
 * "is running", crun's "is not in `created` or
 * `stopped` state"                                    -> 0x80370105
 * "not running", crun's "kill container: No such
 * process"                                            -> 0xC0370110
 * anything else                                       -> E_FAIL */
int32_t runtime_error_hresult(const char *msg);
