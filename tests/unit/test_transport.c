/* The -transport values: parsing, the serial transport's port mapping, its
 * lookup of a virtio-serial port by name (against a fake sysfs tree), and
 * its dials (a regular file or a pty as the "device"; TCP on loopback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/proto.h"
#include "transport/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

static const struct {
    const char *spec;
    int ok;
    enum transport_kind kind;
    const char *dev, *name, *tcp, *dir;
} parse_cases[] = {
    {"vsock", 1, TRANSPORT_VSOCK, NULL, NULL, NULL, NULL},
    {"unix:/tmp/h", 1, TRANSPORT_UNIX, NULL, NULL, NULL, "/tmp/h"},
    {"serial:/dev/vport0p1", 1, TRANSPORT_SERIAL, "/dev/vport0p1", NULL, NULL, NULL},
    {"serial:name=gcs-bridge", 1, TRANSPORT_SERIAL, NULL, "gcs-bridge", NULL, NULL},
    {"serial:name=gcs-bridge,tcp=10.0.2.2", 1, TRANSPORT_SERIAL, NULL, "gcs-bridge", "10.0.2.2", NULL},
    {"serial:tcp=127.0.0.1,/dev/hvc1", 1, TRANSPORT_SERIAL, "/dev/hvc1", NULL, "127.0.0.1", NULL},
    {"serial:", 0, 0, NULL, NULL, NULL, NULL},
    {"serial:tcp=10.0.2.2", 0, 0, NULL, NULL, NULL, NULL},                   /* no device */
    {"serial:/dev/a,name=b", 0, 0, NULL, NULL, NULL, NULL},                  /* two devices */
    {"serial:name=a,name=b", 0, 0, NULL, NULL, NULL, NULL},                  /* given twice */
    {"serial:name=", 0, 0, NULL, NULL, NULL, NULL},                          /* empty */
    {"serial:name=a,tcp=host.example", 0, 0, NULL, NULL, NULL, NULL},        /* not IPv4 */
    {"serial:name=a,tcp=::1", 0, 0, NULL, NULL, NULL, NULL},                 /* not IPv4 */
    {"serial:name=a,speed=9600", 0, 0, NULL, NULL, NULL, NULL},              /* unknown option */
    {"serial:vport0p1", 0, 0, NULL, NULL, NULL, NULL},                       /* relative path */
    {"unix:", 0, 0, NULL, NULL, NULL, NULL},
    {"tcp:10.0.2.2", 0, 0, NULL, NULL, NULL, NULL},
};

static void assert_str_or_null(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
        transport t;
        gcs_err err = GCS_ERR_INIT;
        int r = transport_parse(parse_cases[i].spec, &t, &err);
        if (!parse_cases[i].ok) {
            if (r >= 0)
                fail_msg("accepted %s", parse_cases[i].spec);
            assert_int_equal(err.hr, HR_E_INVALIDARG);
            /* a failed parse leaves nothing to free */
            assert_null(t.serial_dev);
            assert_null(t.serial_name);
            assert_null(t.tcp_addr);
            err_clear(&err);
            continue;
        }
        if (r < 0)
            fail_msg("rejected %s: %s", parse_cases[i].spec, err_msg(&err));
        assert_int_equal(t.kind, parse_cases[i].kind);
        assert_str_or_null(t.serial_dev, parse_cases[i].dev);
        assert_str_or_null(t.serial_name, parse_cases[i].name);
        assert_str_or_null(t.tcp_addr, parse_cases[i].tcp);
        assert_str_or_null(t.dir, parse_cases[i].dir);
        transport_done(&t);
        transport_done(&t); /* idempotent */
    }
}

/* The documented mapping: stdio port P -> TCP P - 0x40000000 + 40000. */
static void test_tcp_port_mapping(void **state)
{
    (void)state;
    static const struct {
        uint32_t port;
        int tcp;
    } cases[] = {
        {0x40000001u, 40001}, {0x40000002u, 40002}, {0x400063BFu, 65535}, {0x400063C0u, -ERANGE},
        {0x40000000u, -ERANGE}, /* the bridge port has no TCP mapping */
        {0, -ERANGE}, {109, 30109}, {564, 30564}, {9999, 39999}, {10000, -ERANGE}, {0x3FFFFFFFu, -ERANGE},
        {0xFFFFFFFFu, -ERANGE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(transport_serial_tcp_port(cases[i].port), cases[i].tcp);
}

static void test_describe(void **state)
{
    (void)state;
    transport t;
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(transport_parse("serial:name=gcs-bridge,tcp=10.0.2.2", &t, &err), 0);
    char *s = transport_describe(&t, GCS_BRIDGE_PORT);
    assert_string_equal(s, "serial:name=gcs-bridge");
    free(s);
    s = transport_describe(&t, 0x40000005u);
    assert_string_equal(s, "tcp:10.0.2.2:40005");
    free(s);
    transport_done(&t);
}

/* ---- a fake /sys/class/virtio-ports and /dev ---- */

typedef struct {
    char root[64], sys[96], dev[96];
} fake_tree;

static void put(const char *path, const char *content)
{
    assert_int_equal(write_file(path, content, strlen(content), 0644), 0);
}

static void fake_port(fake_tree *f, const char *entry, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->sys, entry);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/%s/name", f->sys, entry);
    put(p, name);
}

static int tree_setup(void **state)
{
    fake_tree *f = xzalloc(sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/gcs-unit-transport-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->sys, sizeof(f->sys), "%s/sys", f->root);
    snprintf(f->dev, sizeof(f->dev), "%s/dev", f->root);
    assert_int_equal(mkdir(f->sys, 0755), 0);
    assert_int_equal(mkdir(f->dev, 0755), 0);
    fake_port(f, "vport0p0", "org.qemu.guest_agent.0\n");
    fake_port(f, "vport0p1", "gcs-bridge\n");
    fake_port(f, "vport0p2", "gcs-bridge-2\n");
    *state = f;
    return 0;
}

static int tree_teardown(void **state)
{
    fake_tree *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_find_by_name(void **state)
{
    fake_tree *f = *state;
    gcs_err err = GCS_ERR_INIT;
    char *dev = NULL;
    assert_int_equal(transport_serial_find(f->sys, "/dev", "gcs-bridge", &dev, &err), 0);
    assert_string_equal(dev, "/dev/vport0p1"); /* exact match: not gcs-bridge-2 */
    free(dev);
    dev = NULL;
    assert_int_equal(transport_serial_find(f->sys, "/dev", "gcs-bridge-2", &dev, &err), 0);
    assert_string_equal(dev, "/dev/vport0p2");
    free(dev);
    dev = NULL;
    assert_int_equal(transport_serial_find(f->sys, "/dev", "gcs", &dev, &err), -ENOENT);
    assert_null(dev);
    assert_non_null(strstr(err_msg(&err), "no virtio-serial port named gcs"));
    err_clear(&err);
    assert_int_equal(transport_serial_find("/nonexistent-gcs-unit", "/dev", "gcs", &dev, &err), -ENOENT);
    err_clear(&err);
}

static transport serial_by_name(fake_tree *f, const char *tcp)
{
    transport t;
    gcs_err err = GCS_ERR_INIT;
    char spec[128];
    snprintf(spec, sizeof(spec), "serial:name=gcs-bridge%s%s", tcp ? ",tcp=" : "", tcp ? tcp : "");
    assert_int_equal(transport_parse(spec, &t, &err), 0);
    t.sysfs_ports = f->sys;
    t.dev_dir = f->dev;
    return t;
}

/* The bridge port opens the device found by name; each dial opens it anew. */
static void test_dial_serial_by_name(void **state)
{
    fake_tree *f = *state;
    transport t = serial_by_name(f, NULL);
    gcs_err err = GCS_ERR_INIT;

    /* the port exists in sysfs but its device node is not there yet */
    assert_int_equal(transport_dial(&t, GCS_BRIDGE_PORT, &err), -ENOENT);
    err_clear(&err);

    char dev[160];
    snprintf(dev, sizeof(dev), "%s/vport0p1", f->dev);
    put(dev, "");
    for (int i = 0; i < 2; i++) {
        int fd = transport_dial(&t, GCS_BRIDGE_PORT, &err);
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(write(fd, "x", 1), 1);
        close(fd);
    }
    char *content = NULL;
    size_t len;
    assert_int_equal(read_file(dev, &content, &len), 0);
    assert_int_equal(len, 1); /* both dials opened the same file at offset 0 */
    free(content);
    transport_done(&t);
}

/* A tty whose other end is open is "connected". (The other half, POLLHUP
 * while nobody is on QEMU's chardev, cannot be imitated with a pty: devpts
 * removes the slave's node when the master closes. tests/uvm covers it: the
 * VM boots before the host connects, and the host reconnects once.) */
static void test_dial_serial_pty(void **state)
{
    (void)state;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    char spec[128];
    snprintf(spec, sizeof(spec), "serial:%s", ptsname(master));
    transport t;
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(transport_parse(spec, &t, &err), 0);
    int fd = transport_dial(&t, GCS_BRIDGE_PORT, &err);
    if (fd < 0)
        fail_msg("dial: %s", err_msg(&err));
    assert_int_equal(write(fd, "ok", 2), 2);
    char buf[2];
    assert_int_equal(read_all(master, buf, 2), 0);
    assert_memory_equal(buf, "ok", 2);
    close(fd);
    close(master);
    transport_done(&t);
}

/* Stdio ports are TCP connects to tcp=ADDR at the mapped port (loopback here). */
static void test_dial_stdio_tcp(void **state)
{
    fake_tree *f = *state;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    uint32_t port = 0;
    for (uint32_t p = 0x40000000u + 20000; p < 0x40000000u + 25000; p++) {
        sa.sin_port = htons((uint16_t)transport_serial_tcp_port(p));
        if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            port = p;
            break;
        }
    }
    assert_true(port != 0);
    assert_int_equal(listen(lfd, 4), 0);

    gcs_err err = GCS_ERR_INIT;
    transport t = serial_by_name(f, "127.0.0.1");
    int fd = transport_dial(&t, port, &err);
    if (fd < 0)
        fail_msg("dial: %s", err_msg(&err));
    int a = accept(lfd, NULL, NULL);
    assert_true(a >= 0);
    assert_int_equal(write(fd, "hi", 2), 2);
    char buf[2];
    assert_int_equal(read_all(a, buf, 2), 0);
    assert_memory_equal(buf, "hi", 2);
    close(a);
    close(fd);

    /* outside the mapped range: no dial at all */
    assert_int_equal(transport_dial(&t, 0x40000000u + 30000, &err), -ERANGE);
    err_clear(&err);
    transport_done(&t);

    /* no tcp=: stdio dials fail, the bridge port is unaffected */
    t = serial_by_name(f, NULL);
    assert_int_equal(transport_dial(&t, port, &err), -ENOTCONN);
    err_clear(&err);
    transport_done(&t);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_tcp_port_mapping),
        cmocka_unit_test(test_describe),
        cmocka_unit_test_setup_teardown(test_find_by_name, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_dial_serial_by_name, tree_setup, tree_teardown),
        cmocka_unit_test(test_dial_serial_pty),
        cmocka_unit_test_setup_teardown(test_dial_stdio_tcp, tree_setup, tree_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
