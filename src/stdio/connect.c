/* Dialing the stdio ports a process's ExecuteProcess named (docs/protocol.md §1.3). */
#include "stdio/stdio.h"

#include <errno.h>

static const char *const stream_names[] = {"stdin", "stdout", "stderr"};

void stdio_conns_close(stdio_conns *c)
{
    if (!c)
        return;
    int *fds[] = {&c->in, &c->out, &c->err};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int stdio_connect(const transport *t, const msg_vsock_stdio *ports, bool want_in, bool want_out, bool want_err,
                  stdio_conns *ret, gcs_err *err)
{
    const bool want[] = {want_in, want_out, want_err};
    const uint32_t port[] = {ports->std_in, ports->std_out, ports->std_err};

    /* docs/differences.md D-21: the reference dials port 0 for a requested stream the host gave
     * no port for; reject before any dial so nothing is half-connected. */
    for (size_t i = 0; i < 3; i++)
        if (want[i] && port[i] == 0)
            return err_set(err, HR_E_INVALIDARG, "%s requested without a vsock port", stream_names[i]);

    stdio_conns c = STDIO_CONNS_NONE;
    int *fds[] = {&c.in, &c.out, &c.err};
    for (size_t i = 0; i < 3; i++) {
        if (!want[i])
            continue;
        int fd = transport_dial(t, port[i], err);
        if (fd < 0) {
            stdio_conns_close(&c);
            return err_wrap(err, fd, "connect %s (port %u)", stream_names[i], port[i]);
        }
        *fds[i] = fd;
    }
    *ret = c;
    return 0;
}
