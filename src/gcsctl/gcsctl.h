/* gcsctl.h — what the gcsctl commands share: the invocation context, the
 * command table entry, and helpers to reach the agent and report results.
 *
 * A command parses its own arguments first (usage errors never touch the
 * bridge), then calls ctl_connect() if it needs the agent. Every command
 * returns an exit code: CTL_OK, CTL_FAILED (the agent refused, or could not
 * be reached; the reason is on stderr) or CTL_USAGE. */
#pragma once

#include "gcsctl/client.h"

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

typedef struct ctl {
    const char *dir; /* socket directory gcs dials into */
    int timeout_ms;  /* for the agent to dial in, and for each response */
    bool negotiate;  /* send NegotiateProtocol after accepting */
    bool connected;
    hc c;
    const struct ctl_cmd *cmd; /* the command being run */
} ctl;

typedef struct ctl_cmd {
    const char *name;
    int min_args;                             /* positional arguments after the command name */
    const char *usage;                        /* "NAME ARGS..." without the "gcsctl " */
    const char *help;                         /* what it does and its options, one or more lines */
    int (*fn)(ctl *x, int argc, char **argv); /* argv[0] is the command name */
} ctl_cmd;

/* Accept the agent's connection and negotiate (unless -n). CTL_OK or
 * CTL_FAILED (printed). */
int ctl_connect(ctl *x);

/* Send a request (payload stolen) and wait for its response. On a transport
 * error or a non-zero Result, print "gcsctl: <what>: <ErrorMessage>
 * (HRESULT 0x...)" and return CTL_FAILED; otherwise CTL_OK and *ret_resp
 * (if not NULL) owns the response payload. */
int ctl_request(ctl *x, uint32_t type, json_t *payload, json_t **ret_resp, const char *what);
/* CTL_OK for a successful response; otherwise print "<what>: <message>
 * (HRESULT 0x...)", free resp and return CTL_FAILED. */
int ctl_check_response(json_t *resp, const char *what);

/* Print the running command's usage line and help. */
void ctl_cmd_usage(const ctl *x, FILE *out);
/* "gcsctl CMD: <message>" on stderr, then the usage line; returns CTL_USAGE. */
int ctl_usage_error(const ctl *x, const char *fmt, ...) PRINTF(2, 3);
/* "gcsctl: <message>" on stderr; returns CTL_FAILED. */
int ctl_fail(const char *fmt, ...) PRINTF(1, 2);

void ctl_print_json(const json_t *v);

/* What the agent holds, from DumpStacks: {"pods": [...], "containers": [...]}
 * as `list --json` prints it. */
int ctl_listing(ctl *x, json_t **ret);

/* create's argument parsing and request, for run (print: the ID on
 * success; *ret_id: the ID parsed, if not NULL). */
int ctl_create_args(ctl *x, int argc, char **argv, bool print, const char **ret_id);
struct ctlspec_opts;
/* CreateContainer from spec options (rootfs resolved here; a sandbox
 * without netns gets a fresh one); bundle NULL = /run/gcs/c/ID. */
int ctl_create_spec(ctl *x, struct ctlspec_opts *so, const char *bundle, bool print);

/* The commands (cmd_*.c). */
int cmd_negotiate(ctl *x, int argc, char **argv);
int cmd_raw(ctl *x, int argc, char **argv);
int cmd_modify(ctl *x, int argc, char **argv);
int cmd_scsi(ctl *x, int argc, char **argv);
int cmd_pmem(ctl *x, int argc, char **argv);   /* cmd_storage.c */
int cmd_plan9(ctl *x, int argc, char **argv);  /* cmd_storage.c */
int cmd_nic(ctl *x, int argc, char **argv);
int cmd_create(ctl *x, int argc, char **argv);
int cmd_delete(ctl *x, int argc, char **argv);
int cmd_list(ctl *x, int argc, char **argv);
int cmd_dump(ctl *x, int argc, char **argv);
int cmd_make_rootfs(ctl *x, int argc, char **argv);
int cmd_start(ctl *x, int argc, char **argv);
int cmd_exec(ctl *x, int argc, char **argv);
int cmd_vm_exec(ctl *x, int argc, char **argv);
int cmd_kill(ctl *x, int argc, char **argv);
int cmd_shutdown(ctl *x, int argc, char **argv);
int cmd_wait(ctl *x, int argc, char **argv);
int cmd_ps(ctl *x, int argc, char **argv);
int cmd_stats(ctl *x, int argc, char **argv);
int cmd_run(ctl *x, int argc, char **argv);
int cmd_pod(ctl *x, int argc, char **argv);
