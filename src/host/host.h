/* host.h — the agent's state and its request handlers.
 *
 * The host owns everything the agent knows about (later: containers, pods,
 * sandbox roots, processes) and registers one handler per bridge message it
 * implements; unregistered messages answer E_NOTIMPL from the bridge. */
#pragma once

#include "bridge/bridge.h"
#include "loop/loop.h"
#include "main/flags.h"
#include "transport/transport.h"

typedef struct host host;

host *host_new(loop *l, const gcs_config *cfg, const transport *t);
void host_free(host *h);
void host_register_handlers(host *h, bridge *b);
