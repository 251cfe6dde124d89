#include "host/host.h"

#include "common/log.h"

#include <sys/utsname.h>

struct host {
    loop *l;
    const gcs_config *cfg;
    const transport *t;
    bridge *b;
    uint64_t started_ns;
};

host *host_new(loop *l, const gcs_config *cfg, const transport *t)
{
    host *h = xzalloc(sizeof(*h));
    h->l = l;
    h->cfg = cfg;
    h->t = t;
    h->started_ns = now_ns();
    return h;
}

void host_free(host *h) { free(h); }

/* bridge-protocol.md 4.10: free text, kept well under 64 KiB. */
static void handle_dump_stacks(bridge_req *req, void *ctx)
{
    host *h = ctx;
    cleanup_free char *pending = bridge_describe_pending(h->b, 200);
    cleanup_free char *text = xasprintf("gcs (single-threaded event loop)\n"
                                        "uptime_s: %.1f\n"
                                        "bridge: connected=%s pending_requests=%zu queued_notifications=%zu\n"
                                        "children_watched: %zu\n"
                                        "pending requests:\n%s",
                                        (double)(now_ns() - h->started_ns) / 1e9,
                                        bridge_connected(h->b) ? "true" : "false", bridge_pending_count(h->b),
                                        bridge_queued_notifications(h->b), loop_child_count(h->l), pending);
    if (strlen(text) > 60000)
        text[60000] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, "GuestStacks", json_string(text));
    bridge_respond(req, o);
}

/* bridge-protocol.md 4.2: Start is a no-op that always succeeds; the
 * container's process starts with the init ExecuteProcess. */
static void handle_start(bridge_req *req, void *ctx)
{
    (void)ctx;
    bridge_respond(req, NULL);
}

void host_register_handlers(host *h, bridge *b)
{
    h->b = b;
    bridge_register(b, RPC_START, handle_start, h);
    bridge_register(b, RPC_DUMP_STACKS, handle_dump_stacks, h);
}
