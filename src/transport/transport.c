#include "transport/transport.h"

#include "bridge/proto.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

int transport_parse(const char *spec, transport *ret, gcs_err *err)
{
    memset(ret, 0, sizeof(*ret));
    if (strcmp(spec, "vsock") == 0) {
        ret->kind = TRANSPORT_VSOCK;
        return 0;
    }
    if (str_has_prefix(spec, "unix:") && spec[5]) {
        ret->kind = TRANSPORT_UNIX;
        ret->dir = xstrdup(spec + 5);
        return 0;
    }
    return err_set(err, HR_E_INVALIDARG, "invalid transport %s (want vsock or unix:DIR)", spec);
}

void transport_done(transport *t)
{
    free(t->dir);
    t->dir = NULL;
}

char *transport_describe(const transport *t, uint32_t port)
{
    if (t->kind == TRANSPORT_UNIX)
        return xasprintf("unix:%s/%u", t->dir, port);
    return xasprintf("vsock:%u:%u", VSOCK_CID_HOST, port);
}

static int dial_unix(const char *dir, uint32_t port, gcs_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%u", dir, port);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return err_set(err, HR_E_INVALIDARG, "unix socket path %s/%u too long", dir, port);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_errno(err, HR_E_FAIL, errno, "connect %s", sa.sun_path);
    return steal_fd(&fd);
}

static int dial_vsock(uint32_t port, gcs_err *err)
{
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = VSOCK_CID_HOST, .svm_port = port};
    for (int attempt = 0;; attempt++) {
        cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return err_errno(err, HR_E_FAIL, errno, "vsock socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return steal_fd(&fd);
        int e = errno;
        if (e != ETIMEDOUT || attempt >= 9)
            return err_errno(err, HR_E_FAIL, e, "vsock connect %u:%u", VSOCK_CID_HOST, port);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int transport_dial(const transport *t, uint32_t port, gcs_err *err)
{
    if (t->kind == TRANSPORT_UNIX)
        return dial_unix(t->dir, port, err);
    return dial_vsock(port, err);
}
