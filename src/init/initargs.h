/* initargs.h — gcs-init's own command line, parsed as upstream's init does
 * (hcsshim init/init.c): getopt "+d:e:w", then the child's argv.
 *
 *   -e PORT   entropy: dial vsock CID 2 on PORT (through the transport, so
 *             the development mapping applies), read to EOF, RNDADDENTROPY
 *   -d PATH   a debug shell: started after the child, and it is the process
 *             whose exit ends the VM
 *   -w        writable /etc and /var (overlays on a tmpfs under /run/over)
 *   the rest  the child, found through PATH=/sbin:/usr/sbin:/bin:/usr/bin
 *
 * Options stop at the first argument that is not one ("+"), so the child's
 * own options (vsockexec -e 109 ...) are never taken for init's. With no
 * arguments at all: upstream's default, /bin/gcs -loglevel debug
 * -logfile=/run/gcs/gcs.log with /bin/sh as the debug shell.
 *
 * Unlike upstream, a port must be decimal digits in 1..4294967294 (upstream's
 * atoi takes "1x" as 1 and "-5" as 4294967291), and options without a child
 * (and without -d) are an error: docs/differences.md D-31. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct init_args {
    const char *debug_shell; /* -d, or NULL */
    uint32_t entropy_port;   /* -e, or 0 */
    bool writable_overlays;  /* -w */
    char *const *child;      /* NULL-terminated; NULL when there is none (only with -d) */
    int child_argc;
    bool defaulted; /* no arguments: upstream's default child and shell */
} init_args;

/* argv as the kernel gives it to init (argv[0] is init's name, argv[argc]
 * is NULL). Not modified. On error returns -1 with a message in msg. Uses
 * getopt (resets its state, never prints). */
int init_args_parse(int argc, char *const *argv, init_args *ret, char *msg, size_t msglen);
