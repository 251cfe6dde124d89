#include "transport/transport.h"

#include "bridge/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#define SYSFS_VIRTIO_PORTS "/sys/class/virtio-ports"

/* "serial:" options, comma-separated: one of DEV (a path) or name=NAME, and
 * optionally tcp=IPV4. */
static int parse_serial(const char *opts, transport *t, gcs_err *err)
{
    cleanup_free char *copy = xstrdup(opts);
    char *save = NULL;
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        char **slot;
        const char *val;
        if (str_has_prefix(o, "name=")) {
            slot = &t->serial_name;
            val = o + 5;
        } else if (str_has_prefix(o, "tcp=")) {
            slot = &t->tcp_addr;
            val = o + 4;
            struct in_addr a;
            if (inet_pton(AF_INET, val, &a) != 1)
                return err_set(err, HR_E_INVALIDARG, "serial transport: tcp=%s is not an IPv4 address", val);
        } else if (o[0] == '/') {
            slot = &t->serial_dev;
            val = o;
        } else {
            return err_set(err, HR_E_INVALIDARG, "serial transport: unknown option \"%s\"", o);
        }
        if (!*val)
            return err_set(err, HR_E_INVALIDARG, "serial transport: empty value in \"%s\"", o);
        if (*slot)
            return err_set(err, HR_E_INVALIDARG, "serial transport: \"%s\" given twice", o);
        *slot = xstrdup(val);
    }
    if (!t->serial_dev == !t->serial_name)
        return err_set(err, HR_E_INVALIDARG, "serial transport: want exactly one of DEVICE or name=NAME");
    return 0;
}

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
    if (str_has_prefix(spec, "serial:")) {
        ret->kind = TRANSPORT_SERIAL;
        ret->sysfs_ports = SYSFS_VIRTIO_PORTS;
        ret->dev_dir = "/dev";
        int r = parse_serial(spec + 7, ret, err);
        if (r < 0)
            transport_done(ret);
        return r;
    }
    return err_set(err, HR_E_INVALIDARG, "invalid transport %s (want vsock, unix:DIR or serial:...)", spec);
}

void transport_done(transport *t)
{
    free(t->dir);
    free(t->serial_dev);
    free(t->serial_name);
    free(t->tcp_addr);
    t->dir = t->serial_dev = t->serial_name = t->tcp_addr = NULL;
}

int transport_serial_tcp_port(uint32_t port)
{
    if (port >= 1 && port <= TRANSPORT_SERIAL_SMALL_MAX)
        return (int)(TRANSPORT_SERIAL_SMALL_TCP_BASE + port);
    if (port <= TRANSPORT_SERIAL_PORT_BASE || port - TRANSPORT_SERIAL_PORT_BASE > 65535 - TRANSPORT_SERIAL_TCP_BASE)
        return -ERANGE;
    return (int)(port - TRANSPORT_SERIAL_PORT_BASE + TRANSPORT_SERIAL_TCP_BASE);
}

char *transport_describe(const transport *t, uint32_t port)
{
    if (t->kind == TRANSPORT_UNIX)
        return xasprintf("unix:%s/%u", t->dir, port);
    if (t->kind == TRANSPORT_SERIAL) {
        if (port == GCS_BRIDGE_PORT)
            return t->serial_dev ? xasprintf("serial:%s", t->serial_dev) : xasprintf("serial:name=%s", t->serial_name);
        int tp = transport_serial_tcp_port(port);
        if (!t->tcp_addr || tp < 0)
            return xasprintf("serial:no-tcp-for-port:%u", port);
        return xasprintf("tcp:%s:%d", t->tcp_addr, tp);
    }
    return xasprintf("vsock:%u:%u", VSOCK_CID_HOST, port);
}

int transport_serial_find(const char *sysfs_ports, const char *dev_dir, const char *name, char **ret,
                          gcs_err *err)
{
    cleanup_dir DIR *d = opendir(sysfs_ports);
    if (!d)
        return err_errno(err, HR_E_FAIL, errno, "virtio-serial port %s: open %s", name, sysfs_ports);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        cleanup_free char *path = xasprintf("%s/%s/name", sysfs_ports, e->d_name);
        cleanup_free char *content = NULL;
        size_t len;
        if (read_file(path, &content, &len) < 0)
            continue;
        while (len && (content[len - 1] == '\n' || content[len - 1] == ' '))
            content[--len] = '\0';
        if (strcmp(content, name) == 0) {
            *ret = xasprintf("%s/%s", dev_dir, e->d_name);
            return 0;
        }
    }
    return err_errno(err, HR_E_FAIL, ENOENT, "no virtio-serial port named %s in %s", name, sysfs_ports);
}

static int dial_serial(const transport *t, gcs_err *err)
{
    cleanup_free char *found = NULL;
    const char *dev = t->serial_dev;
    if (!dev) {
        int r = transport_serial_find(t->sysfs_ports, t->dev_dir, t->serial_name, &found, err);
        if (r < 0)
            return r;
        dev = found;
    }
    cleanup_close int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "open %s", dev);
    /* virtio_console polls POLLHUP while the host end is closed (nobody on
     * QEMU's chardev socket): that is "nobody listening", so the dial fails
     * and the bridge retries, as a refused connect would. */
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    if (poll(&p, 1, 0) < 0)
        return err_errno(err, HR_E_FAIL, errno, "poll %s", dev);
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
        return err_errno(err, HR_E_FAIL, ENOTCONN, "%s: host end not connected", dev);
    return steal_fd(&fd);
}

static int dial_tcp(const transport *t, uint32_t port, gcs_err *err)
{
    int tp = transport_serial_tcp_port(port);
    if (tp < 0)
        return err_errno(err, HR_E_FAIL, ERANGE, "port %u has no TCP mapping (want 1..%u or 0x%x..0x%x)", port,
                         TRANSPORT_SERIAL_SMALL_MAX, TRANSPORT_SERIAL_PORT_BASE + 1,
                         TRANSPORT_SERIAL_PORT_BASE + 65535 - TRANSPORT_SERIAL_TCP_BASE);
    if (!t->tcp_addr)
        return err_errno(err, HR_E_FAIL, ENOTCONN, "port %u: serial transport without tcp= cannot dial it", port);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tp)};
    inet_pton(AF_INET, t->tcp_addr, &sa.sin_addr); /* validated by transport_parse */
    cleanup_close int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_errno(err, HR_E_FAIL, errno, "connect %s:%d", t->tcp_addr, tp);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* interactive stdio; failure is harmless */
    return steal_fd(&fd);
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
    if (t->kind == TRANSPORT_SERIAL)
        return port == GCS_BRIDGE_PORT ? dial_serial(t, err) : dial_tcp(t, port, err);
    return dial_vsock(port, err);
}
