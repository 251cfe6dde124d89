/* transport.h — how the guest reaches the host. The guest always dials.
 *
 *   vsock      AF_VSOCK to CID 2 (the host), port P. Never used by tests:
 *              on these machines a vsock connect leaves the machine.
 *   unix:DIR   AF_UNIX stream socket DIR/<P> (P in decimal) — same dials,
 *              for tests, the demo and development.
 *   inouterr   the bridge is the agent's own stdin/stdout (no re-dial);
 *              stdio ports still dial through the fallback transport.
 */
#pragma once

#include "common/err.h"

#include <stdint.h>

enum transport_kind { TRANSPORT_VSOCK, TRANSPORT_UNIX };

typedef struct transport {
    enum transport_kind kind;
    char *dir; /* TRANSPORT_UNIX */
} transport;

/* Parse "vsock" or "unix:DIR". */
int transport_parse(const char *spec, transport *ret, gcs_err *err);
void transport_done(transport *t);

/* Connect to port; blocking, returns a connected fd (close-on-exec) or
 * a negative errno with err set. vsock: a connect that times out is retried
 * up to 10 times, 100 ms apart (bridge-protocol.md 1.1). */
int transport_dial(const transport *t, uint32_t port, gcs_err *err);

/* The address a dial of port goes to, for logs ("vsock:2:1073741824"). */
char *transport_describe(const transport *t, uint32_t port);
