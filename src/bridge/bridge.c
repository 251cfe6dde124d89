#include "bridge/bridge.h"

#include "bridge/frame.h"
#include "common/log.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define OUTQ_LIMIT (64u * 1024 * 1024)
#define REDIAL_MS 100

typedef struct conn {
    int rfd, wfd;
    loop_watch *rwatch, *wwatch;
    frame_reader rd;
    bool negotiated;
    char *out;
    size_t out_len, out_off, out_cap;
    bool flush_scheduled;
    bool dead;
    uint64_t serial;
} conn;

typedef struct queued {
    char *frame;
    size_t len;
    struct queued *next;
} queued;

struct bridge {
    loop *l;
    bridge_config cfg;
    conn *c;
    uint64_t conn_serial;
    bool stopping;
    loop_timer *redial;
    unsigned dial_failures;
    struct {
        bridge_handler_fn fn;
        void *ctx;
    } handlers[RPC_MAX];
    bridge_req *pending;
    size_t npending;
    queued *qhead, *qtail;
    size_t nqueued;
    void (*on_gone)(void *);
    void *on_gone_ctx;
};

static void conn_close(bridge *b, const char *why, int errnum);
static void schedule_redial(bridge *b);

/* ---- encoding ---- */

char *bridge_encode_frame(uint32_t type, uint64_t id, const char *payload, size_t plen, size_t *ret_len)
{
    frame_hdr h = {.type = type, .size = (uint32_t)(MSG_HDR_SIZE + plen), .id = id};
    char *f = xmalloc(MSG_HDR_SIZE + plen);
    frame_hdr_encode(&h, (uint8_t *)f);
    memcpy(f + MSG_HDR_SIZE, payload, plen);
    *ret_len = MSG_HDR_SIZE + plen;
    return f;
}

/* Cut s to at most n bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t len = strlen(s);
    if (len <= n)
        return len;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static json_t *response_base(int32_t hr, const char *activity_id)
{
    json_t *o = json_object();
    json_object_set_new(o, "Result", json_integer(hr));
    if (activity_id && msg_is_guid(activity_id))
        json_object_set_new(o, "ActivityId", json_string(activity_id));
    return o;
}

static char *encode_error_payload(int32_t hr, const char *activity_id, const char *msg, size_t *ret_len)
{
    json_t *o = response_base(hr, activity_id);
    json_object_set_new(o, "ErrorMessage", json_string(msg));
    json_t *rec = json_object();
    json_object_set_new(rec, "Result", json_integer(hr));
    json_object_set_new(rec, "Message", json_string(msg));
    json_object_set_new(rec, "ModuleName", json_string("gcs"));
    json_object_set_new(rec, "FileName", json_string(""));
    json_object_set_new(rec, "Line", json_integer(4294967295LL));
    json_t *recs = json_array();
    json_array_append_new(recs, rec);
    json_object_set_new(o, "ErrorRecords", recs);
    char *s = jx_dump(o, ret_len);
    json_decref(o);
    return s;
}

char *bridge_encode_response(uint32_t req_type, uint64_t id, const char *activity_id, int32_t hr,
                             const char *errmsg, json_t *extra, size_t *ret_len)
{
    uint32_t rtype = msg_response_code(req_type);
    const size_t max_payload = MSG_MAX_OUT - MSG_HDR_SIZE;
    size_t plen;
    char *payload = NULL;
    cleanup_free char *bigmsg = NULL;

    if (hr == 0) {
        json_t *o = response_base(0, activity_id);
        if (extra)
            json_object_update(o, extra);
        payload = jx_dump(o, &plen);
        json_decref(o);
        if (plen <= max_payload) {
            json_decref(extra);
            char *f = bridge_encode_frame(rtype, id, payload, plen, ret_len);
            free(payload);
            return f;
        }
        free(payload);
        bigmsg = xasprintf("response of %zu bytes exceeds the bridge limit of %u bytes", plen, MSG_MAX_OUT);
        hr = HR_E_FAIL;
        errmsg = bigmsg;
    }
    json_decref(extra);
    if (!errmsg || !*errmsg)
        errmsg = "";

    /* docs/protocol.md §2.3: never exceed 64 KiB; the message appears twice
     * (ErrorMessage and the record), so cut it until the frame fits. */
    static const char marker[] = " [truncated]";
    size_t overhead;
    free(encode_error_payload(hr, activity_id, "", &overhead));
    overhead += 2 * (sizeof(marker) - 1);
    size_t keep = strlen(errmsg);
    for (;;) {
        cleanup_free char *m = NULL;
        const char *use = errmsg;
        if (keep < strlen(errmsg)) {
            size_t k = utf8_cut(errmsg, keep);
            m = xmalloc(k + sizeof(marker));
            memcpy(m, errmsg, k);
            memcpy(m + k, marker, sizeof(marker));
            use = m;
        }
        payload = encode_error_payload(hr, activity_id, use, &plen);
        if (plen <= max_payload)
            break;
        free(payload);
        /* Scale by how much the message expands when escaped, then step
         * down a little more each round until it fits. */
        size_t room = max_payload > overhead ? max_payload - overhead : 0;
        size_t used = plen > overhead ? plen - overhead : 1;
        size_t scaled = (size_t)((double)keep * (double)room / (double)used);
        keep = scaled < keep ? scaled : keep;
        keep = keep > 16 ? keep - 16 : 0;
    }
    char *f = bridge_encode_frame(rtype, id, payload, plen, ret_len);
    free(payload);
    return f;
}

/* ---- output ---- */

static void conn_flush(bridge *b, conn *c);

static void on_writable(loop *l, int fd, uint32_t events, void *data)
{
    (void)l;
    (void)fd;
    (void)events;
    bridge *b = data;
    if (b->c)
        conn_flush(b, b->c);
}

static void conn_flush(bridge *b, conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->wfd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!c->wwatch)
                    c->wwatch = loop_watch_add(b->l, c->wfd, EPOLLOUT, on_writable, b);
                return;
            }
            conn_close(b, "write failed", errno);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > 1024 * 1024) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    if (c->wwatch) {
        loop_watch_remove(b->l, c->wwatch);
        c->wwatch = NULL;
    }
}

static void deferred_flush(loop *l, void *data)
{
    (void)l;
    bridge *b = data;
    conn *c = b->c;
    if (c && c->flush_scheduled) {
        c->flush_scheduled = false;
        conn_flush(b, c);
    }
}

static void conn_queue(bridge *b, conn *c, const char *frame, size_t len)
{
    if (c->out_len + len > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + len > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 65536;
            while (cap < c->out_len + len)
                cap *= 2;
            c->out = xrealloc(c->out, cap);
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, frame, len);
    c->out_len += len;
    if (c->out_len - c->out_off > OUTQ_LIMIT) {
        conn_close(b, "host is not reading: output queue over limit", 0);
        return;
    }
    /* Batch everything produced in this loop iteration into one write. */
    if (!c->flush_scheduled && !c->wwatch) {
        c->flush_scheduled = true;
        loop_defer(b->l, deferred_flush, b);
    }
}

/* ---- requests ---- */

static void req_free(bridge_req *req)
{
    bridge *b = req->b;
    if (req->prev)
        req->prev->next = req->next;
    else if (b->pending == req)
        b->pending = req->next;
    if (req->next)
        req->next->prev = req->prev;
    b->npending--;
    jx_arena_free(&req->arena);
    json_decref(req->doc);
    free(req->msg);
    free(req->activity_id);
    free(req);
}

static void finish(bridge_req *req, int32_t hr, const char *errmsg, json_t *extra)
{
    bridge *b = req->b;
    size_t len;
    char *frame = bridge_encode_response(req->type, req->id, req->activity_id, hr, errmsg, extra, &len);
    double ms = (double)(now_ns() - req->start_ns) / 1e6;
    if (hr == 0)
        log_debug("request done", KV_S("type", msg_rpc_name(req->rpc)), KV_U("id", req->id),
                  KV_S("container", req->container_id), KV_I("result", 0), KV_D("duration_ms", ms));
    else
    {
        char hrs[16];
        snprintf(hrs, sizeof(hrs), "0x%08x", (uint32_t)hr);
        log_info("request failed", KV_S("type", msg_rpc_name(req->rpc)), KV_U("id", req->id),
                 KV_S("container", req->container_id), KV_S("hresult", hrs), KV_S("error", errmsg ? errmsg : ""),
                 KV_D("duration_ms", ms));
    }
    if (b->c)
        conn_queue(b, b->c, frame, len);
    else
        log_warn("response dropped: no connection", KV_S("type", msg_rpc_name(req->rpc)), KV_U("id", req->id));
    free(frame);
    req_free(req);
}

void bridge_respond(bridge_req *req, json_t *extra) { finish(req, 0, NULL, extra); }

void bridge_drop(bridge_req *req)
{
    log_info("request dropped without a response", KV_S("type", msg_rpc_name(req->rpc)), KV_U("id", req->id));
    req_free(req);
}

void bridge_respond_error(bridge_req *req, const gcs_err *err)
{
    int32_t hr = err && err->hr ? err->hr : HR_E_FAIL;
    finish(req, hr, err && err->msg ? err->msg : "", NULL);
}

void bridge_respond_hr(bridge_req *req, int32_t hr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *m = xvasprintf(fmt, ap);
    va_end(ap);
    finish(req, hr ? hr : HR_E_FAIL, m, NULL);
}

/* An answer straight from the dispatcher, before a request object exists. */
static void reply_raw(bridge *b, conn *c, const frame_hdr *h, const char *activity_id, int32_t hr,
                      const char *msg)
{
    size_t len;
    char *frame = bridge_encode_response(h->type, h->id, activity_id, hr, msg, NULL, &len);
    char type[16], hrs[16];
    snprintf(type, sizeof(type), "0x%08x", h->type);
    snprintf(hrs, sizeof(hrs), "0x%08x", (uint32_t)hr);
    log_info("request rejected", KV_S("type", type), KV_U("id", h->id), KV_S("hresult", hrs), KV_S("error", msg));
    conn_queue(b, c, frame, len);
    free(frame);
}

static json_t *negotiate_body(const bridge *b)
{
    json_t *caps = json_object();
    json_t *sv = json_array();
    json_t *v21 = json_object();
    json_object_set_new(v21, "Major", json_integer(2));
    json_object_set_new(v21, "Minor", json_integer(1));
    json_array_append_new(sv, v21);
    json_object_set_new(caps, "SupportedSchemaVersions", sv);
    json_object_set_new(caps, "RuntimeOsType", json_string("Linux"));
    json_t *g = json_object();
    const bridge_caps *bc = &b->cfg.caps;
    if (bc->namespace_add_request_supported)
        json_object_set_new(g, "NamespaceAddRequestSupported", json_true());
    if (bc->signal_process_supported)
        json_object_set_new(g, "SignalProcessSupported", json_true());
    if (bc->dump_stacks_supported)
        json_object_set_new(g, "DumpStacksSupported", json_true());
    if (bc->delete_container_state_supported)
        json_object_set_new(g, "DeleteContainerStateSupported", json_true());
    json_object_set_new(caps, "GuestDefinedCapabilities", g);
    json_t *o = json_object();
    json_object_set_new(o, "Version", json_integer(GCS_PROTOCOL_VERSION));
    json_object_set_new(o, "Capabilities", caps);
    return o;
}

/* docs/protocol.md §3 */
static void handle_negotiate(bridge *b, conn *c, bridge_req *req)
{
    msg_negotiate *m = req->msg;
    if (m->maximum_version < GCS_PROTOCOL_VERSION || m->minimum_version > GCS_PROTOCOL_VERSION) {
        bridge_respond_hr(req, HR_VMCOMPUTE_UNSUPPORTED_PROTOCOL,
                          "protocol version range %u-%u does not include the supported version %u",
                          m->minimum_version, m->maximum_version, GCS_PROTOCOL_VERSION);
        return;
    }
    c->negotiated = true;
    log_info("protocol negotiated", KV_I("version", GCS_PROTOCOL_VERSION));
    bridge_respond(req, negotiate_body(b));
}

static void dispatch(bridge *b, conn *c, const frame_hdr *h, char *payload, size_t plen)
{
    unsigned rpc = msg_rpc_of(h->type);
    cleanup_free char *owned = payload;

    /* UpdateContainer and LifecycleNotification have no body and no handler
     * anywhere (docs/protocol.md §4.12): refuse them before parsing. */
    bool never = rpc == RPC_UPDATE_CONTAINER || rpc == RPC_LIFECYCLE_NOTIFICATION;
    if (rpc == 0 || never || !b->cfg.v4 || (!c->negotiated && rpc != RPC_NEGOTIATE_PROTOCOL) ||
        (c->negotiated && rpc == RPC_NEGOTIATE_PROTOCOL)) {
        cleanup_free char *m = xasprintf("bridge: function not supported, header type: 0x%08x", h->type);
        json_t *doc = json_loadb(owned, plen, 0, NULL);
        json_t *act = jx_get(doc, "ActivityId");
        reply_raw(b, c, h, json_is_string(act) ? json_string_value(act) : NULL, HR_E_NOTIMPL, m);
        json_decref(doc);
        return;
    }

    bridge_req *req = xzalloc(sizeof(*req));
    req->b = b;
    req->rpc = rpc;
    req->type = h->type;
    req->id = h->id;
    req->start_ns = now_ns();
    req->container_id = "";
    req->msg = xzalloc(msg_struct_size(rpc));
    req->next = b->pending;
    if (b->pending)
        b->pending->prev = req;
    b->pending = req;
    b->npending++;

    /* DumpStacks never parses its payload (docs/protocol.md §4.10). */
    if (rpc != RPC_DUMP_STACKS) {
        gcs_err err = GCS_ERR_INIT;
        if (jx_parse_object(owned, plen, &req->doc, &err) < 0 ||
            msg_decode(rpc, req->doc, req->msg, &req->arena, &err) < 0) {
            const msg_base *base = req->msg;
            if (req->doc && base->activity_id)
                req->activity_id = xstrdup(base->activity_id);
            err_wrap(&err, err.code, "%s request", msg_rpc_name(rpc));
            err.hr = HR_VMCOMPUTE_INVALID_JSON;
            bridge_respond_error(req, &err);
            err_clear(&err);
            return;
        }
        const msg_base *base = req->msg;
        if (base->container_id)
            req->container_id = base->container_id;
        if (base->activity_id)
            req->activity_id = xstrdup(base->activity_id);
    }

    if (rpc == RPC_NEGOTIATE_PROTOCOL) {
        handle_negotiate(b, c, req);
        return;
    }
    /* Every body is decoded (and bad JSON answered as such) even before the
     * feature behind it exists; then a missing handler is E_NOTIMPL. */
    if (!b->handlers[rpc].fn) {
        bridge_respond_hr(req, HR_E_NOTIMPL, "bridge: function not supported, header type: 0x%08x", h->type);
        return;
    }
    b->handlers[rpc].fn(req, b->handlers[rpc].ctx);
}

static void on_readable(loop *l, int fd, uint32_t events, void *data)
{
    (void)l;
    (void)events;
    bridge *b = data;
    conn *c = b->c;
    uint8_t buf[65536];
    for (int rounds = 0; rounds < 16 && b->c == c; rounds++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_close(b, "read failed", errno);
            return;
        }
        if (n == 0) {
            conn_close(b, "host closed the connection", 0);
            return;
        }
        size_t off = 0;
        while (off < (size_t)n && b->c == c) {
            bool done;
            frame_hdr h;
            char *payload;
            size_t plen;
            long used = frame_reader_feed(&c->rd, buf + off, (size_t)n - off, &done, &h, &payload, &plen);
            if (used < 0) {
                log_error("protocol error: bad frame size", KV_U("size", c->rd.hdr.size),
                          KV_U("max", c->rd.max_size));
                conn_close(b, "protocol error", EPROTO);
                return;
            }
            off += (size_t)used;
            if (done)
                dispatch(b, c, &h, payload, plen);
        }
        if ((size_t)n < sizeof(buf))
            return;
    }
}

/* ---- connection life cycle ---- */

static void flush_queued_notifications(bridge *b)
{
    while (b->qhead && b->c) {
        queued *q = b->qhead;
        b->qhead = q->next;
        if (!b->qhead)
            b->qtail = NULL;
        b->nqueued--;
        conn_queue(b, b->c, q->frame, q->len);
        free(q->frame);
        free(q);
    }
}

static void conn_attach(bridge *b, int rfd, int wfd)
{
    conn *c = xzalloc(sizeof(*c));
    c->rfd = rfd;
    c->wfd = wfd;
    c->serial = ++b->conn_serial;
    frame_reader_init(&c->rd, b->cfg.max_in_frame);
    set_nonblock(rfd, true);
    set_nonblock(wfd, true);
    b->c = c;
    c->rwatch = loop_watch_add(b->l, rfd, EPOLLIN, on_readable, b);
    log_info("bridge connected", KV_U("connection", c->serial), KV_U("queued_notifications", b->nqueued));
    /* docs/protocol.md §1.5: notifications queued while disconnected go out
     * first, possibly before the new connection negotiates. */
    flush_queued_notifications(b);
}

static void conn_close(bridge *b, const char *why, int errnum)
{
    conn *c = b->c;
    if (!c)
        return;
    log_info("bridge disconnected", KV_S("reason", why), KV_S("error", errnum ? strerror(errnum) : ""),
             KV_U("connection", c->serial));
    b->c = NULL;
    if (c->rwatch)
        loop_watch_remove(b->l, c->rwatch);
    if (c->wwatch)
        loop_watch_remove(b->l, c->wwatch);
    if (c->rfd != c->wfd && !b->cfg.use_stdio)
        close(c->wfd);
    if (!b->cfg.use_stdio)
        close(c->rfd);
    frame_reader_reset(&c->rd);
    free(c->out);
    free(c);
    if (b->cfg.use_stdio) {
        if (b->on_gone)
            b->on_gone(b->on_gone_ctx);
        return;
    }
    if (!b->stopping)
        schedule_redial(b);
}

static void try_dial(loop *l, void *data)
{
    (void)l;
    bridge *b = data;
    b->redial = NULL;
    if (b->stopping || b->c)
        return;
    gcs_err err = GCS_ERR_INIT;
    int fd = transport_dial(b->cfg.transport, GCS_BRIDGE_PORT, &err);
    if (fd < 0) {
        if (b->dial_failures++ == 0)
            log_info("bridge dial failed; retrying every 100 ms", KV_S("error", err_msg(&err)));
        else
            log_debug("bridge dial failed", KV_S("error", err_msg(&err)));
        err_clear(&err);
        schedule_redial(b);
        return;
    }
    b->dial_failures = 0;
    conn_attach(b, fd, fd);
}

static void schedule_redial(bridge *b)
{
    if (!b->redial)
        b->redial = loop_timer_add(b->l, REDIAL_MS, try_dial, b);
}

/* ---- public ---- */

bridge *bridge_new(loop *l, const bridge_config *cfg)
{
    bridge *b = xzalloc(sizeof(*b));
    b->l = l;
    b->cfg = *cfg;
    if (!b->cfg.max_in_frame)
        b->cfg.max_in_frame = MSG_MAX_IN_DEFAULT;
    return b;
}

void bridge_free(bridge *b)
{
    if (!b)
        return;
    b->stopping = true;
    if (b->redial)
        loop_timer_cancel(b->l, b->redial);
    if (b->c) {
        conn_flush(b, b->c);
        conn_close(b, "agent exiting", 0);
    }
    while (b->pending)
        req_free(b->pending);
    while (b->qhead) {
        queued *q = b->qhead;
        b->qhead = q->next;
        free(q->frame);
        free(q);
    }
    free(b);
}

void bridge_register(bridge *b, unsigned rpc, bridge_handler_fn fn, void *ctx)
{
    if (rpc > 0 && rpc < RPC_MAX) {
        b->handlers[rpc].fn = fn;
        b->handlers[rpc].ctx = ctx;
    }
}

void bridge_set_on_gone(bridge *b, void (*fn)(void *ctx), void *ctx)
{
    b->on_gone = fn;
    b->on_gone_ctx = ctx;
}

void bridge_start(bridge *b)
{
    if (b->cfg.use_stdio) {
        conn_attach(b, b->cfg.in_fd, b->cfg.out_fd);
        return;
    }
    try_dial(b->l, b);
}

void bridge_stop(bridge *b)
{
    b->stopping = true;
    if (b->redial) {
        loop_timer_cancel(b->l, b->redial);
        b->redial = NULL;
    }
}

void bridge_notify(bridge *b, json_t *payload)
{
    size_t plen, len;
    char *p = jx_dump(payload, &plen);
    json_decref(payload);
    char *frame = bridge_encode_frame(MSG_NOTIFY_CONTAINER, 0, p, plen, &len);
    free(p);
    if (b->c) {
        conn_queue(b, b->c, frame, len);
        free(frame);
        return;
    }
    queued *q = xzalloc(sizeof(*q));
    q->frame = frame;
    q->len = len;
    if (b->qtail)
        b->qtail->next = q;
    else
        b->qhead = q;
    b->qtail = q;
    b->nqueued++;
}

bool bridge_connected(const bridge *b) { return b->c != NULL; }
size_t bridge_pending_count(const bridge *b) { return b->npending; }
size_t bridge_queued_notifications(const bridge *b) { return b->nqueued; }

char *bridge_describe_pending(const bridge *b, size_t max_lines)
{
    size_t cap = 256, len = 0, lines = 0;
    char *s = xmalloc(cap);
    s[0] = '\0';
    uint64_t now = now_ns();
    for (const bridge_req *r = b->pending; r && lines < max_lines; r = r->next, lines++) {
        char line[256];
        int n = snprintf(line, sizeof(line), "  %s id=%llu container=%.64s age_ms=%.1f\n", msg_rpc_name(r->rpc),
                         (unsigned long long)r->id, r->container_id, (double)(now - r->start_ns) / 1e6);
        if (n < 0)
            continue;
        if ((size_t)n >= sizeof(line))
            n = sizeof(line) - 1;
        if (len + (size_t)n + 1 > cap) {
            while (len + (size_t)n + 1 > cap)
                cap *= 2;
            s = xrealloc(s, cap);
        }
        memcpy(s + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    return s;
}
