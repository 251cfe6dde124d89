/* bridge.h — one bridge to the host: frames in, typed requests to handlers,
 * responses and notifications out.
 *
 * The bridge owns the connection (dial, re-dial every 100 ms, negotiation
 * state per connection) and never touches host state. Handlers receive a
 * decoded request and answer exactly once with bridge_respond() or
 * bridge_respond_error(), now or later (continuations); responses go out in
 * completion order, each frame written whole, on whatever connection is
 * current at that moment (docs/protocol.md §1.5). */
#pragma once

#include "bridge/msg.h"
#include "common/err.h"
#include "loop/loop.h"
#include "transport/transport.h"

typedef struct bridge bridge;
typedef struct bridge_req bridge_req;

struct bridge_req {
    bridge *b;
    unsigned rpc;
    uint32_t type;
    uint64_t id;
    const char *container_id; /* never NULL ("" when absent) */
    char *activity_id;        /* echoed in the response when it is a GUID */
    uint64_t start_ns;
    void *msg; /* the decoded msg_* struct for rpc */
    json_t *doc;
    jx_arena arena;
    bridge_req *prev, *next; /* pending list */
};

typedef void (*bridge_handler_fn)(bridge_req *req, void *ctx);

typedef struct bridge_caps {
    bool namespace_add_request_supported;
    bool signal_process_supported;
    bool dump_stacks_supported;
    bool delete_container_state_supported;
} bridge_caps;

typedef struct bridge_config {
    const transport *transport; /* dial target (ignored with stdio) */
    bool use_stdio;             /* -use-inouterr: bridge on in_fd/out_fd */
    int in_fd, out_fd;
    bool v4; /* without -v4 every request is E_NOTIMPL, as upstream */
    size_t max_in_frame;
    bridge_caps caps;
} bridge_config;

bridge *bridge_new(loop *l, const bridge_config *cfg);
void bridge_free(bridge *b);

void bridge_register(bridge *b, unsigned rpc, bridge_handler_fn fn, void *ctx);
/* Dial (or attach stdio) and start serving. */
void bridge_start(bridge *b);
/* No more re-dials; the current connection stays until it drops. */
void bridge_stop(bridge *b);
/* Called when the connection is lost and will not come back (stdio EOF). */
void bridge_set_on_gone(bridge *b, void (*fn)(void *ctx), void *ctx);

/* Answer a request. extra: object whose members are appended to the response
 * base (stolen; may be NULL). Frees req. */
void bridge_respond(bridge_req *req, json_t *extra);
/* Answer with err's HRESULT and message (err is left untouched). Frees req. */
void bridge_respond_error(bridge_req *req, const gcs_err *err);
/* Finish a request without any response (UVM shutdown, docs/protocol.md §4.3). */
void bridge_drop(bridge_req *req);
/* Convenience: error response with a formatted message. */
void bridge_respond_hr(bridge_req *req, int32_t hr, const char *fmt, ...) PRINTF(3, 4);

/* Send a container notification (type 0x30100101, ID 0). payload is stolen.
 * Queued in order while no connection exists, flushed on the next one. */
void bridge_notify(bridge *b, json_t *payload);

bool bridge_connected(const bridge *b);
size_t bridge_pending_count(const bridge *b);
size_t bridge_queued_notifications(const bridge *b);
/* Append one line per pending request to a text buffer (DumpStacks). */
char *bridge_describe_pending(const bridge *b, size_t max_lines);

/* Encoding, exposed for tests and gcsctl. Returns a malloc'd frame of at most
 * MSG_MAX_OUT bytes: on error the message is truncated to fit; a success
 * body that cannot fit becomes an E_FAIL response. */
char *bridge_encode_response(uint32_t req_type, uint64_t id, const char *activity_id, int32_t hr,
                             const char *errmsg, json_t *extra, size_t *ret_len);
char *bridge_encode_frame(uint32_t type, uint64_t id, const char *payload, size_t plen, size_t *ret_len);
