/* Unit tests for src/device (lookups in a fake sysfs tree and a directory
 * of nodes, the way upstream's internal/guest/storage/scsi/scsi_test.go and
 * pci/pci_test.go cover GetDevicePath and the PCI wait) and for the
 * deadline of src/host/devwait on a real loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "device/device.h"
#include "host/devwait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/gcs-device-test-XXXXXX";
static char sysfs[128], dev[128];

static void mk(const char *fmt, const char *arg)
{
    char path[512];
    snprintf(path, sizeof(path), fmt, arg);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(root));
    snprintf(sysfs, sizeof(sysfs), "%s/sys", root);
    snprintf(dev, sizeof(dev), "%s/dev", root);
    mk("%s", dev);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd);
}

static void test_controller_to_host(void **state)
{
    (void)state;
    unsigned host = 99;
    gcs_err e = GCS_ERR_INIT;
    assert_true(device_scsi_host(sysfs, 4, &host, &e) < 0);
    assert_int_equal(e.hr, HR_E_INVALIDARG);
    assert_non_null(strstr(err_msg(&e), "out of range"));
    err_clear(&e);
    assert_true(device_scsi_host(sysfs, 0, &host, &e) < 0); /* no such controller */
    assert_non_null(strstr(err_msg(&e), "No such file"));
    err_clear(&e);
    char d[512];
    snprintf(d, sizeof(d), "%s/bus/vmbus/devices/%s", sysfs, device_scsi_controller_guids[1]);
    mk("%s/channels", d);
    assert_true(device_scsi_host(sysfs, 1, &host, &e) < 0);
    assert_non_null(strstr(err_msg(&e), "host<N> directory not found"));
    err_clear(&e);
    /* the first host<N> in name order: host12 before host3 */
    mk("%s/host3", d);
    mk("%s/host12", d);
    assert_int_equal(device_scsi_host(sysfs, 1, &host, &e), 0);
    assert_int_equal(host, 12);
    snprintf(d, sizeof(d), "%s/bus/vmbus/devices/%s", sysfs, device_scsi_controller_guids[2]);
    mk("%s/host9x", d);
    assert_true(device_scsi_host(sysfs, 2, &host, &e) < 0);
    assert_non_null(strstr(err_msg(&e), "failed to parse controller number from host9x"));
    err_clear(&e);
}

static void test_block_device_steps(void **state)
{
    (void)state;
    gcs_err e = GCS_ERR_INIT;
    char *path = NULL, *name = NULL;
    /* not there yet: the SCSI address, then its block directory, then the node */
    assert_int_equal(device_scsi_block(sysfs, dev, 0, 1, 0, &path, &name, &e), -EAGAIN);
    err_clear(&e);
    char d[512];
    snprintf(d, sizeof(d), "%s/bus/scsi/devices/0:0:0:1/block", sysfs);
    mk("%s", d);
    assert_int_equal(device_scsi_block(sysfs, dev, 0, 1, 0, &path, &name, &e), -EAGAIN);
    err_clear(&e);
    mk("%s/sdb/sdb1", d);
    assert_int_equal(device_scsi_block(sysfs, dev, 0, 1, 0, &path, &name, &e), -EAGAIN); /* no node */
    assert_non_null(strstr(err_msg(&e), "not ready"));
    err_clear(&e);
    char node[512];
    snprintf(node, sizeof(node), "%s/sdb", dev);
    touch(node); /* a file opens like a node would */
    assert_int_equal(device_scsi_block(sysfs, dev, 0, 1, 0, &path, &name, &e), 0);
    assert_string_equal(path, node);
    assert_string_equal(name, "sdb");
    free(path);
    free(name);
    /* partition 1 is listed, 2 is not */
    assert_int_equal(device_scsi_block(sysfs, dev, 0, 1, 2, &path, NULL, &e), -EAGAIN);
    assert_non_null(strstr(err_msg(&e), "no partition 2"));
    err_clear(&e);
    snprintf(node, sizeof(node), "%s/sdb1", dev);
    touch(node);
    assert_int_equal(device_scsi_block(sysfs, dev, 0, 1, 1, &path, NULL, &e), 0);
    assert_string_equal(path, node);
    free(path);
    /* two block devices for one address */
    mk("%s/sdc", d);
    assert_int_equal(device_scsi_block(sysfs, dev, 0, 1, 0, &path, NULL, &e), -EIO);
    assert_non_null(strstr(err_msg(&e), "more than one block device could match SCSI ID \"0:0:0:1\""));
    err_clear(&e);
}

static void test_delete(void **state)
{
    (void)state;
    gcs_err e = GCS_ERR_INIT;
    bool gone = false;
    assert_int_equal(device_scsi_delete(sysfs, 0, 7, &gone, &e), 0);
    assert_true(gone);
    char d[512];
    snprintf(d, sizeof(d), "%s/bus/scsi/devices/0:0:0:7", sysfs);
    mk("%s", d);
    strcat(d, "/delete");
    touch(d);
    assert_int_equal(device_scsi_delete(sysfs, 0, 7, &gone, &e), 0);
    assert_false(gone);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(read_file(d, &text, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(text, "1\n", 2);
    free(text);
}

static void test_vpci(void **state)
{
    (void)state;
    const char *guid = "6e5c57a5-8a4f-4c3e-9f0b-2f3a3c1b9a01";
    gcs_err e = GCS_ERR_INIT;
    char *path = NULL;
    assert_int_equal(device_vpci_find(sysfs, "../../etc", &path, &e), -EIO);
    assert_int_equal(e.hr, HR_E_INVALIDARG);
    err_clear(&e);
    assert_int_equal(device_vpci_find(sysfs, guid, &path, &e), -EAGAIN);
    err_clear(&e);
    char d[512];
    snprintf(d, sizeof(d), "%s/bus/vmbus/devices/%s", sysfs, guid);
    mk("%s/pci5a3c:00", d);
    assert_int_equal(device_vpci_find(sysfs, guid, &path, &e), -EAGAIN);
    err_clear(&e);
    mk("%s/pci5a3c:00/5a3c:00:00.0", d);
    assert_int_equal(device_vpci_find(sysfs, guid, &path, &e), 0);
    assert_non_null(strstr(path, "/pci5a3c:00/5a3c:00:00.0"));
    free(path);
    mk("%s/pci5a3d:00", d);
    assert_int_equal(device_vpci_find(sysfs, guid, &path, &e), -EEXIST);
    assert_non_null(strstr(err_msg(&e), "more than one file could exist"));
    err_clear(&e);
}

static void test_fs_probe(void **state)
{
    (void)state;
    char img[512];
    snprintf(img, sizeof(img), "%s/blank.img", root);
    int fd = open(img, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 << 20), 0);
    close(fd);
    gcs_err e = GCS_ERR_INIT;
    char *type = (char *)1;
    assert_int_equal(device_fs_probe(img, &type, &e), 0);
    assert_null(type);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F '%s' >/dev/null 2>&1", img);
    if (system(cmd) != 0)
        skip();
    assert_int_equal(device_fs_probe(img, &type, &e), 0);
    assert_string_equal(type, "ext4");
    free(type);
    snprintf(cmd, sizeof(cmd), "%s/missing", root);
    assert_true(device_fs_probe(cmd, &type, &e) < 0);
    assert_non_null(strstr(err_msg(&e), "getting device's filesystem"));
    err_clear(&e);
}

/* devwait: a step that never succeeds ends at the deadline with its reason */
struct waitstate {
    int calls, done_r;
    bool done;
    char msg[256];
    loop *l;
};

static int never(void *data, gcs_err *err)
{
    struct waitstate *w = data;
    w->calls++;
    err_set(err, HR_E_FAIL, "still missing");
    return -EAGAIN;
}

static int third_time(void *data, gcs_err *err)
{
    struct waitstate *w = data;
    if (++w->calls < 3) {
        err_set(err, HR_E_FAIL, "not yet");
        return -EAGAIN;
    }
    return 0;
}

static void done(void *data, int r, gcs_err *err)
{
    struct waitstate *w = data;
    w->done = true;
    w->done_r = r;
    snprintf(w->msg, sizeof(w->msg), "%s", err_msg(err));
    loop_quit(w->l, 0);
}

static void test_devwait(void **state)
{
    (void)state;
    struct waitstate w = {0};
    w.l = loop_new();
    devwait *dw = NULL;
    gcs_err e = GCS_ERR_INIT;
    uint64_t t0 = now_ms();
    assert_int_equal(devwait_start(w.l, 50, "the thing", never, done, &w, &dw, &e), 1);
    loop_run(w.l);
    assert_true(w.done);
    assert_int_equal(w.done_r, -ETIMEDOUT);
    assert_true(now_ms() - t0 >= 50);
    assert_non_null(strstr(w.msg, "the thing: deadline exceeded after 50 ms: still missing"));
    assert_true(w.calls >= 3);

    struct waitstate w2 = {0};
    w2.l = w.l;
    assert_int_equal(devwait_start(w2.l, 5000, "x", third_time, done, &w2, &dw, &e), 1);
    loop_run(w2.l);
    assert_int_equal(w2.done_r, 0);
    assert_int_equal(w2.calls, 3);

    /* found at once: no wait, done is not called */
    struct waitstate w3 = {.calls = 5};
    assert_int_equal(devwait_start(w.l, 5000, "x", third_time, done, &w3, &dw, &e), 0);
    assert_false(w3.done);
    loop_free(w.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controller_to_host), cmocka_unit_test(test_block_device_steps),
        cmocka_unit_test(test_delete),             cmocka_unit_test(test_vpci),
        cmocka_unit_test(test_fs_probe),           cmocka_unit_test(test_devwait),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
