/* host.h — the agent's state and its request handlers.
 *
 * host_new has no side effects; host_start sets the machine up (cgroups
 * /gcs and /pods, the runtime driver); host_shutdown removes every
 * container and the agent's cgroups. Handlers answer E_FAIL "not started"
 * until host_start succeeded. Unregistered messages are E_NOTIMPL. */
#pragma once

#include "bridge/bridge.h"
#include "loop/loop.h"
#include "main/flags.h"
#include "transport/transport.h"

typedef struct host host;

host *host_new(loop *l, const gcs_config *cfg, const transport *t);
int host_start(host *h, gcs_err *err);
/* Tear every container down (forcibly), wait for it on the loop (bounded),
 * then delete /pods and /gcs. */
void host_shutdown(host *h);
void host_free(host *h);
void host_register_handlers(host *h, bridge *b);
