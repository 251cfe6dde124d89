#include "transport/transport.h"

#include "bridge/proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#define SYSFS_VIRTIO_PORTS "/sys/class/virtio-ports"

/* "A.B.C.D/N" with N in 1..32: the address and the netmask. */
static bool parse_cidr(const char *s, struct in_addr *addr, struct in_addr *mask)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || (size_t)(slash - s) >= INET_ADDRSTRLEN)
        return false;
    char a[INET_ADDRSTRLEN];
    memcpy(a, s, (size_t)(slash - s));
    a[slash - s] = '\0';
    if (inet_pton(AF_INET, a, addr) != 1)
        return false;
    const char *n = slash + 1;
    if (!isdigit((unsigned char)n[0]) || (n[1] && !isdigit((unsigned char)n[1])) || (n[1] && n[2]))
        return false;
    int bits = atoi(n);
    if (bits < 1 || bits > 32)
        return false;
    mask->s_addr = htonl(bits == 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> bits));
    return true;
}

/* "serial:" options, comma-separated: one of DEV (a path) or name=NAME, and
 * optionally tcp=IPV4, ip=IPV4/N, nic=IFNAME. */
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
        } else if (str_has_prefix(o, "ip=")) {
            slot = &t->guest_ip;
            val = o + 3;
            struct in_addr a, m;
            if (!parse_cidr(val, &a, &m))
                return err_set(err, HR_E_INVALIDARG, "serial transport: ip=%s is not IPV4/PREFIX", val);
        } else if (str_has_prefix(o, "nic=")) {
            slot = &t->nic;
            val = o + 4;
            if (strlen(val) >= IFNAMSIZ || strchr(val, '/'))
                return err_set(err, HR_E_INVALIDARG, "serial transport: nic=%s is not an interface name", val);
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
    free(t->guest_ip);
    free(t->nic);
    t->dir = t->serial_dev = t->serial_name = t->tcp_addr = t->guest_ip = t->nic = NULL;
}

char *transport_cmdline_value(const char *cmdline)
{
    static const char key[] = TRANSPORT_KERNEL_PARAM "=";
    char *found = NULL;
    for (const char *p = cmdline; *p;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *w = p;
        bool quoted = false;
        while (*p && (quoted || !isspace((unsigned char)*p))) {
            if (*p == '"')
                quoted = !quoted;
            p++;
        }
        size_t len = (size_t)(p - w);
        if (len == 2 && memcmp(w, "--", 2) == 0)
            break; /* init's arguments follow */
        if (len >= sizeof(key) - 1 && memcmp(w, key, sizeof(key) - 1) == 0) {
            const char *v = w + sizeof(key) - 1;
            size_t vlen = len - (sizeof(key) - 1);
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            free(found);
            found = xstrndup(v, vlen);
        }
    }
    return found;
}

int transport_default(transport *ret, const char **source, gcs_err *err)
{
    const char *env = getenv(TRANSPORT_ENV);
    if (env && *env) {
        if (source)
            *source = "environment";
        int r = transport_parse(env, ret, err);
        return r < 0 ? err_wrap(err, r, "%s", TRANSPORT_ENV) : 0;
    }
    cleanup_free char *cmdline = NULL;
    size_t len;
    if (read_file("/proc/cmdline", &cmdline, &len) == 0) {
        cleanup_free char *v = transport_cmdline_value(cmdline);
        if (v) {
            if (source)
                *source = "kernel parameter";
            if (!str_has_prefix(v, "serial:")) {
                memset(ret, 0, sizeof(*ret));
                return err_set(err, HR_E_INVALIDARG, "%s=%s: want a serial: development transport",
                               TRANSPORT_KERNEL_PARAM, v);
            }
            int r = transport_parse(v, ret, err);
            return r < 0 ? err_wrap(err, r, "%s", TRANSPORT_KERNEL_PARAM) : 0;
        }
    }
    if (source)
        *source = "default";
    return transport_parse("vsock", ret, err);
}

int transport_port_parse(const char *s, uint32_t *ret)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > 0xFFFFFFFEu)
            return -EINVAL;
    }
    if (v == 0)
        return -EINVAL;
    *ret = (uint32_t)v;
    return 0;
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

/* ip=: give the NIC its address unless it has one (an earlier process of the
 * image, normally init, did it already). */
static int ensure_guest_addr(const transport *t, gcs_err *err)
{
    const char *nic = t->nic ? t->nic : "eth0";
    struct in_addr addr, mask;
    if (!parse_cidr(t->guest_ip, &addr, &mask)) /* validated by transport_parse */
        return err_set(err, HR_E_INVALIDARG, "ip=%s", t->guest_ip);
    cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return err_errno(err, HR_E_FAIL, errno, "socket");
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", nic);
    if (ioctl(s, SIOCGIFADDR, &ifr) == 0)
        return 0;
    if (errno != EADDRNOTAVAIL)
        return err_errno(err, HR_E_FAIL, errno, "nic %s", nic);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_addr = addr;
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
        return err_errno(err, HR_E_FAIL, errno, "nic %s: set address %s", nic, t->guest_ip);
    sin->sin_addr = mask;
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
        return err_errno(err, HR_E_FAIL, errno, "nic %s: set netmask of %s", nic, t->guest_ip);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return err_errno(err, HR_E_FAIL, errno, "nic %s: get flags", nic);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return err_errno(err, HR_E_FAIL, errno, "nic %s: up", nic);
    return 0;
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
    if (t->guest_ip) {
        int r = ensure_guest_addr(t, err);
        if (r < 0)
            return err_wrap(err, r, "port %u: ip=", port);
    }
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
