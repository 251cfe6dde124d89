#include "gcsctl/client.h"

#include "bridge/bridge.h"
#include "bridge/proto.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int listen_at(const char *dir, uint32_t port, gcs_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%u", dir, port);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return err_set(err, HR_E_INVALIDARG, "socket path %s/%u too long", dir, port);
    unlink(sa.sun_path);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_errno(err, HR_E_FAIL, errno, "bind %s", sa.sun_path);
    if (listen(fd, 16) < 0)
        return err_errno(err, HR_E_FAIL, errno, "listen %s", sa.sun_path);
    return steal_fd(&fd);
}

int hc_listen(hc *c, const char *dir, gcs_err *err)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->lfd = -1;
    c->dir = xstrdup(dir);
    c->next_stdio_port = GCS_FIRST_STDIO_PORT;
    frame_reader_init(&c->rd, 64u * 1024 * 1024);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return err_errno(err, HR_E_FAIL, errno, "mkdir %s", dir);
    int fd = listen_at(dir, GCS_BRIDGE_PORT, err);
    if (fd < 0)
        return fd;
    c->lfd = fd;
    return 0;
}

int hc_listen_port(hc *c, uint32_t *ret_port, gcs_err *err)
{
    uint32_t port = c->next_stdio_port++;
    int fd = listen_at(c->dir, port, err);
    if (fd >= 0)
        *ret_port = port;
    return fd;
}

int hc_listen_on(hc *c, uint32_t port, gcs_err *err) { return listen_at(c->dir, port, err); }

void hc_drop(hc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->lfd >= 0) {
        close(c->lfd);
        cleanup_free char *p = xasprintf("%s/%u", c->dir, GCS_BRIDGE_PORT);
        unlink(p);
    }
    c->lfd = -1;
    frame_reader_reset(&c->rd);
}

int hc_relisten(hc *c, gcs_err *err)
{
    int fd = listen_at(c->dir, GCS_BRIDGE_PORT, err);
    if (fd < 0)
        return fd;
    c->lfd = fd;
    return 0;
}

void hc_unlink_port(hc *c, uint32_t port)
{
    cleanup_free char *p = xasprintf("%s/%u", c->dir, port);
    unlink(p);
}

int hc_accept_port(hc *c, int lfd, uint32_t port, int timeout_ms, gcs_err *err)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    int fd = -1, e = errno;
    if (r > 0) {
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        e = errno;
    }
    close(lfd);
    hc_unlink_port(c, port);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, e, "poll");
    if (r == 0)
        return err_set(err, HR_E_FAIL, "the agent did not connect stdio port %u", port);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, e, "accept on stdio port %u", port);
    return fd;
}

int hc_accept(hc *c, int timeout_ms, gcs_err *err)
{
    struct pollfd p = {.fd = c->lfd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, errno, "poll");
    if (r == 0)
        return err_set(err, HR_E_FAIL, "no agent dialed in within %d ms (is gcs running with -transport unix:%s?)",
                       timeout_ms, c->dir);
    int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "accept");
    c->fd = fd;
    return 0;
}

void hc_close(hc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    if (c->lfd >= 0) {
        close(c->lfd);
        cleanup_free char *p = xasprintf("%s/%u", c->dir, GCS_BRIDGE_PORT);
        unlink(p);
    }
    while (c->nhead) {
        hc_notification *n = c->nhead;
        c->nhead = n->next;
        json_decref(n->payload);
        free(n);
    }
    frame_reader_reset(&c->rd);
    free(c->dir);
    c->fd = c->lfd = -1;
}

json_t *hc_envelope(const char *container_id)
{
    json_t *o = json_object();
    json_object_set_new(o, "ContainerId", json_string(container_id ? container_id : ""));
    json_object_set_new(o, "ActivityId", json_string(NULL_CONTAINER_ID));
    return o;
}

int hc_send_raw(hc *c, uint32_t type, const char *payload, size_t len, uint64_t *ret_id, gcs_err *err)
{
    uint64_t id = c->next_id++;
    size_t flen;
    cleanup_free char *f = bridge_encode_frame(type, id, payload, len, &flen);
    int r = write_all(c->fd, f, flen);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "write to agent");
    if (ret_id)
        *ret_id = id;
    return 0;
}

/* Read one frame, blocking up to the deadline. */
static int read_frame(hc *c, frame_hdr *h, char **payload, size_t *plen, uint64_t deadline, gcs_err *err)
{
    for (;;) {
        uint8_t b[1];
        /* byte-wise feed keeps frames after this one in the socket */
        int64_t left = (int64_t)deadline - (int64_t)now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0)
            return err_errno(err, HR_E_FAIL, errno, "poll");
        if (r == 0)
            return err_set(err, HR_VMCOMPUTE_TIMEOUT, "timed out waiting for the agent");
        if (c->rd.hlen == MSG_HDR_SIZE && c->rd.payload) {
            /* in the payload: read as much as the frame still needs */
            size_t want = c->rd.hdr.size - MSG_HDR_SIZE - c->rd.plen;
            char *tmp = xmalloc(want);
            ssize_t n = read(c->fd, tmp, want);
            if (n <= 0) {
                free(tmp);
                return err_set(err, HR_E_FAIL, "agent closed the connection");
            }
            bool done;
            long used = frame_reader_feed(&c->rd, (uint8_t *)tmp, (size_t)n, &done, h, payload, plen);
            free(tmp);
            if (used < 0)
                return err_set(err, HR_E_FAIL, "bad frame from agent");
            if (done)
                return 0;
            continue;
        }
        ssize_t n = read(c->fd, b, 1);
        if (n <= 0)
            return err_set(err, HR_E_FAIL, "agent closed the connection");
        bool done;
        long used = frame_reader_feed(&c->rd, b, 1, &done, h, payload, plen);
        if (used < 0)
            return err_set(err, HR_E_FAIL, "bad frame from agent (size %u)", c->rd.hdr.size);
        if (done)
            return 0;
    }
}

static void push_notification(hc *c, json_t *p)
{
    hc_notification *n = xzalloc(sizeof(*n));
    n->payload = p;
    if (c->ntail)
        c->ntail->next = n;
    else
        c->nhead = n;
    c->ntail = n;
}

int hc_wait_response(hc *c, uint64_t id, json_t **ret_resp, uint32_t *ret_type, int timeout_ms, gcs_err *err)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        frame_hdr h;
        cleanup_free char *payload = NULL;
        size_t plen;
        int r = read_frame(c, &h, &payload, &plen, deadline, err);
        if (r < 0)
            return r;
        json_t *doc;
        if (jx_parse_object(payload, plen, &doc, err) < 0)
            return err_wrap(err, -EIO, "frame 0x%08x from agent", h.type);
        if ((h.type & MSG_TYPE_MASK) == MSG_TYPE_NOTIFY) {
            push_notification(c, doc);
            continue;
        }
        if (h.id != id) {
            json_decref(doc);
            return err_set(err, HR_E_FAIL, "response id %llu does not match request %llu",
                           (unsigned long long)h.id, (unsigned long long)id);
        }
        if (ret_type)
            *ret_type = h.type;
        *ret_resp = doc;
        return 0;
    }
}

int hc_read_one(hc *c, uint64_t id, json_t **ret_resp, int timeout_ms, gcs_err *err)
{
    frame_hdr h;
    cleanup_free char *payload = NULL;
    size_t plen;
    int r = read_frame(c, &h, &payload, &plen, now_ms() + (uint64_t)timeout_ms, err);
    if (r < 0)
        return r;
    json_t *doc;
    if (jx_parse_object(payload, plen, &doc, err) < 0)
        return err_wrap(err, -EIO, "frame 0x%08x from agent", h.type);
    if ((h.type & MSG_TYPE_MASK) == MSG_TYPE_NOTIFY) {
        push_notification(c, doc);
        return 0;
    }
    if (h.id != id) {
        json_decref(doc); /* e.g. a ResizeConsole answer nobody waits for */
        return 0;
    }
    *ret_resp = doc;
    return 1;
}

int hc_wait_notification(hc *c, json_t **ret, int timeout_ms, gcs_err *err)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    while (!c->nhead) {
        frame_hdr h;
        cleanup_free char *payload = NULL;
        size_t plen;
        int r = read_frame(c, &h, &payload, &plen, deadline, err);
        if (r < 0)
            return r;
        json_t *doc;
        if (jx_parse_object(payload, plen, &doc, err) < 0)
            return -EIO;
        if ((h.type & MSG_TYPE_MASK) == MSG_TYPE_NOTIFY)
            push_notification(c, doc);
        else
            json_decref(doc); /* a stray response: nobody waits for it */
    }
    hc_notification *n = c->nhead;
    c->nhead = n->next;
    if (!c->nhead)
        c->ntail = NULL;
    *ret = n->payload;
    free(n);
    return 0;
}

int hc_call(hc *c, uint32_t type, json_t *payload, json_t **ret_resp, int timeout_ms, gcs_err *err)
{
    size_t len;
    cleanup_free char *p = jx_dump(payload, &len);
    json_decref(payload);
    uint64_t id;
    int r = hc_send_raw(c, type, p, len, &id, err);
    if (r < 0)
        return r;
    return hc_wait_response(c, id, ret_resp, NULL, timeout_ms, err);
}

int hc_negotiate(hc *c, json_t **ret_resp, gcs_err *err)
{
    json_t *req = hc_envelope("");
    json_object_set_new(req, "MinimumVersion", json_integer(4));
    json_object_set_new(req, "MaximumVersion", json_integer(4));
    json_t *resp;
    int r = hc_call(c, MSG_REQUEST_CODE(RPC_NEGOTIATE_PROTOCOL), req, &resp, 10000, err);
    if (r < 0)
        return r;
    json_t *res = json_object_get(resp, "Result");
    if (!json_is_integer(res) || json_integer_value(res) != 0) {
        const char *m = json_string_value(json_object_get(resp, "ErrorMessage"));
        err_set(err, HR_E_FAIL, "negotiation failed: %s", m ? m : "?");
        json_decref(resp);
        return -EIO;
    }
    *ret_resp = resp;
    return 0;
}
