/* vsxargs.h — vsockexec's command line, as upstream's (hcsshim
 * vsockexec/vsockexec.c): getopt "+i:o:e:r", then the program and its
 * arguments.
 *
 *   -i PORT  stdin from vsock CID 2 port PORT
 *   -o PORT  stdout to it
 *   -e PORT  stderr to it (the same port as -o: one connection for both)
 *   -r       relay: stay between the program and the host (the program
 *            writes into a pipe; vsockexec re-dials every 100 ms when the
 *            connection is missing or drops). Forwards the program's
 *            stdout and stderr to the -e port, or the -o port without -e;
 *            ignores -i, as upstream.
 *
 * A port must be decimal digits in 1..4294967294 (upstream's strtoul takes
 * "x" as 0, which silently means "no redirection"; docs/differences.md
 * D-33), and -r needs -o or -e. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vsx_args {
    uint32_t ports[3]; /* stdin, stdout, stderr; 0 = leave that fd alone */
    bool relay;        /* -r */
    char *const *child; /* NULL-terminated, never empty */
} vsx_args;

/* argv[argc] is NULL. On error returns -1 with a message in msg (the caller
 * prints it and the usage, and exits 1 as upstream). Uses getopt (resets
 * its state, never prints). */
int vsx_args_parse(int argc, char *const *argv, vsx_args *ret, char *msg, size_t msglen);

/* -r: the port the relay forwards to (stderr's, else stdout's), 0 if none. */
uint32_t vsx_relay_port(const vsx_args *a);

#define VSX_USAGE "vsockexec [-r] [-i port] [-o port] [-e port] -- program [args...]"
