/* Terminals: runc's --console-socket receiver and a pty pair for processes
 * started without runc. runc connects to the socket and sends one message
 * whose SCM_RIGHTS carries the pty master (its payload is the pty's name). */
#include "stdio/stdio.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

struct relay_console_socket {
    char *dir, *path;
    int lfd, cfd;
    loop *l;
    loop_watch *wl, *wc;
    relay_console_cb cb;
    void *data;
};

int relay_pty_open(int *ret_master, int *ret_slave, char **ret_slave_path, gcs_err *err)
{
    cleanup_close int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return err_errno(err, HR_E_FAIL, errno, "open pty master");
    if (grantpt(m) < 0)
        return err_errno(err, HR_E_FAIL, errno, "grantpt");
    if (unlockpt(m) < 0)
        return err_errno(err, HR_E_FAIL, errno, "unlockpt");
    char name[64];
    int e = ptsname_r(m, name, sizeof(name));
    if (e != 0)
        return err_errno(err, HR_E_FAIL, e, "ptsname");
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0)
        return err_errno(err, HR_E_FAIL, errno, "open %s", name);
    set_nonblock(m, true);
    if (ret_slave_path)
        *ret_slave_path = xstrdup(name);
    *ret_slave = s;
    *ret_master = steal_fd(&m);
    return 0;
}

int relay_console_socket_new(const char *dir, relay_console_socket **ret, gcs_err *err)
{
    cleanup_free char *tmp = xasprintf("%s/console-XXXXXX", dir);
    if (!mkdtemp(tmp)) /* mode 0700: only the agent (root) and runc reach the socket */
        return err_errno(err, HR_E_FAIL, errno, "create console socket directory in %s", dir);
    relay_console_socket *cs = xzalloc(sizeof(*cs));
    cs->dir = steal_pointer(&tmp);
    cs->path = xasprintf("%s/sock", cs->dir);
    cs->cfd = -1;
    cs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(cs->path) >= sizeof(sa.sun_path)) {
        rc = err_set(err, HR_E_FAIL, "console socket path %s too long", cs->path);
        goto fail;
    }
    strcpy(sa.sun_path, cs->path);
    if (cs->lfd < 0) {
        rc = err_errno(err, HR_E_FAIL, errno, "console socket");
        goto fail;
    }
    if (bind(cs->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(cs->lfd, 1) < 0) {
        rc = err_errno(err, HR_E_FAIL, errno, "listen on %s", cs->path);
        goto fail;
    }
    *ret = cs;
    return 0;
fail:
    relay_console_socket_free(cs);
    return rc;
}

const char *relay_console_socket_path(const relay_console_socket *cs) { return cs->path; }

void relay_console_cancel(relay_console_socket *cs)
{
    if (!cs)
        return;
    if (cs->l) {
        loop_watch_remove(cs->l, cs->wl);
        loop_watch_remove(cs->l, cs->wc);
    }
    cs->wl = cs->wc = NULL;
    if (cs->cfd >= 0)
        close(cs->cfd);
    cs->cfd = -1;
    cs->cb = NULL;
}

void relay_console_socket_free(relay_console_socket *cs)
{
    if (!cs)
        return;
    relay_console_cancel(cs);
    if (cs->lfd >= 0)
        close(cs->lfd);
    unlink(cs->path);
    rmdir(cs->dir);
    free(cs->path);
    free(cs->dir);
    free(cs);
}

/* Deliver once; the callback may free cs, so nothing touches it afterwards. */
static void finish(relay_console_socket *cs, int master, const gcs_err *err)
{
    relay_console_cb cb = cs->cb;
    void *data = cs->data;
    relay_console_cancel(cs);
    if (cb)
        cb(cs, master, err, data);
    else if (master >= 0)
        close(master);
}

static void fail(relay_console_socket *cs, int e, const char *what)
{
    gcs_err err = GCS_ERR_INIT;
    if (e)
        err_errno(&err, HR_E_FAIL, e, "console socket %s: %s", cs->path, what);
    else
        err_set(&err, HR_E_FAIL, "console socket %s: %s", cs->path, what);
    finish(cs, -1, &err);
    err_clear(&err);
}

static void on_message(loop *l, int fd, uint32_t events, void *data)
{
    (void)l, (void)events;
    relay_console_socket *cs = data;
    char buf[4096];
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(4 * sizeof(int))];
    } cbuf;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b)};
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        fail(cs, errno, "receive");
        return;
    }
    int master = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (master < 0)
                master = f;
            else
                close(f);
        }
    }
    if (master < 0) {
        fail(cs, 0, n == 0 ? "closed without sending a pty master" : "message without a file descriptor");
        return;
    }
    if (!isatty(master)) {
        close(master);
        fail(cs, 0, "received descriptor is not a terminal");
        return;
    }
    finish(cs, master, NULL);
}

static void on_accept(loop *l, int fd, uint32_t events, void *data)
{
    (void)events;
    relay_console_socket *cs = data;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return;
        fail(cs, errno, "accept");
        return;
    }
    loop_watch_remove(l, cs->wl);
    cs->wl = NULL;
    cs->cfd = c;
    cs->wc = loop_watch_add(l, c, EPOLLIN, on_message, cs);
    if (!cs->wc)
        fail(cs, errno, "watch");
}

int relay_console_receive(loop *l, relay_console_socket *cs, relay_console_cb cb, void *data, gcs_err *err)
{
    if (cs->wl || cs->wc)
        return err_set(err, HR_E_FAIL, "console socket %s: a receive is already pending", cs->path);
    cs->l = l;
    cs->cb = cb;
    cs->data = data;
    cs->wl = loop_watch_add(l, cs->lfd, EPOLLIN, on_accept, cs);
    if (!cs->wl) {
        cs->cb = NULL;
        return err_errno(err, HR_E_FAIL, errno, "watch console socket %s", cs->path);
    }
    return 0;
}
