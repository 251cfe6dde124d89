/* device.c — see device.h. */
#include "device/device.h"

#include "common/path.h"

#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const device_scsi_controller_guids[DEVICE_SCSI_CONTROLLERS] = {
    "df6d0690-79e5-55b6-a5ec-c1e2f77f580a",
    "0110f83b-de10-5172-a266-78bca56bf50a",
    "b5d2d8d4-3a75-51bf-945b-3444dc6b8579",
    "305891a9-b251-5dfe-91a2-c25d9212275b",
};

static int no_dots(const struct dirent *de) { return de->d_name[0] != '.'; }

/* The entries of dir in name order (no "." entries); -errno on failure. */
static int list_dir(const char *dir, struct dirent ***ret)
{
    int n = scandir(dir, ret, no_dots, alphasort);
    return n < 0 ? -errno : n;
}

static void free_list(struct dirent **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int device_scsi_host(const char *sysfs, unsigned controller, unsigned *ret_host, gcs_err *err)
{
    if (controller >= DEVICE_SCSI_CONTROLLERS)
        return err_set(err, HR_E_INVALIDARG, "SCSI controller index %u is out of range (0 to %d)", controller,
                       DEVICE_SCSI_CONTROLLERS - 1);
    cleanup_free char *dir = xasprintf("%s/bus/vmbus/devices/%s", sysfs, device_scsi_controller_guids[controller]);
    struct dirent **v = NULL;
    int n = list_dir(dir, &v);
    if (n < 0)
        return err_errno(err, HR_E_FAIL, -n, "SCSI controller %u: read %s", controller, dir);
    int r = -ENOENT;
    for (int i = 0; i < n && r == -ENOENT; i++) {
        const char *name = v[i]->d_name;
        if (!str_has_prefix(name, "host"))
            continue;
        char *end = NULL;
        errno = 0;
        unsigned long h = strtoul(name + 4, &end, 10);
        if (errno || end == name + 4 || *end || h > 255) {
            r = err_set(err, HR_E_FAIL, "failed to parse controller number from %s", name);
            break;
        }
        *ret_host = (unsigned)h;
        r = 0;
    }
    free_list(v, n);
    if (r == -ENOENT)
        return err_set(err, HR_E_FAIL, "host<N> directory not found inside %s", dir);
    return r;
}

int device_scsi_block(const char *sysfs, const char *dev_root, unsigned host, unsigned lun, uint64_t partition,
                      char **ret_path, char **ret_name, gcs_err *err)
{
    cleanup_free char *id = xasprintf("%u:0:0:%u", host, lun);
    cleanup_free char *dir = xasprintf("%s/bus/scsi/devices/%s/block", sysfs, id);
    struct dirent **v = NULL;
    int n = list_dir(dir, &v);
    if (n == -ENOENT || n == 0) {
        if (n == 0)
            free(v);
        err_set(err, HR_E_FAIL, "no block device for SCSI ID \"%s\" yet (%s)", id, dir);
        return -EAGAIN;
    }
    if (n < 0)
        return err_errno(err, HR_E_FAIL, -n, "read %s", dir);
    if (n > 1) {
        free_list(v, n);
        return err_set(err, HR_E_FAIL, "more than one block device could match SCSI ID \"%s\"", id);
    }
    cleanup_free char *name = xstrdup(v[0]->d_name);
    free_list(v, n);
    if (partition) {
        char *part = xasprintf("%s%llu", name, (unsigned long long)partition);
        cleanup_free char *ppath = xasprintf("%s/%s/%s", dir, name, part);
        struct stat st;
        if (stat(ppath, &st) < 0) {
            int e = errno;
            free(part);
            if (e == ENOENT) {
                err_set(err, HR_E_FAIL, "no partition %llu on SCSI device %s yet (%s)",
                        (unsigned long long)partition, id, ppath);
                return -EAGAIN;
            }
            return err_errno(err, HR_E_FAIL, e, "stat %s", ppath);
        }
        free(name);
        name = part;
    }
    char *node = xasprintf("%s/%s", dev_root, name);
    int fd = open(node, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENXIO) {
            err_errno(err, HR_E_FAIL, e, "device node %s of SCSI device %s not ready", node, id);
            free(node);
            return -EAGAIN;
        }
        err_errno(err, HR_E_FAIL, e, "open %s", node);
        free(node);
        return -e;
    }
    close(fd);
    *ret_path = node;
    if (ret_name)
        *ret_name = steal_pointer(&name);
    return 0;
}

int device_scsi_delete(const char *sysfs, unsigned host, unsigned lun, bool *ret_gone, gcs_err *err)
{
    cleanup_free char *path = xasprintf("%s/bus/scsi/devices/%u:0:0:%u/delete", sysfs, host, lun);
    *ret_gone = false;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *ret_gone = true;
            return 0;
        }
        return err_errno(err, HR_E_FAIL, errno, "open %s", path);
    }
    int r = write_all(fd, "1\n", 2);
    int e = errno;
    close(fd);
    if (r < 0) {
        if (e == ENODEV || e == ENOENT) { /* it went while we wrote */
            *ret_gone = true;
            return 0;
        }
        return err_errno(err, HR_E_FAIL, e, "write %s", path);
    }
    return 0;
}

/* The single entry of dir matching pattern: 0, -EAGAIN (none), -EEXIST. */
static int one_match(const char *dir, const char *pattern, char **ret, gcs_err *err)
{
    struct dirent **v = NULL;
    int n = list_dir(dir, &v);
    if (n == -ENOENT) {
        err_set(err, HR_E_FAIL, "%s does not exist yet", dir);
        return -EAGAIN;
    }
    if (n < 0)
        return err_errno(err, HR_E_FAIL, -n, "read %s", dir);
    int found = -1, count = 0;
    for (int i = 0; i < n; i++)
        if (fnmatch(pattern, v[i]->d_name, 0) == 0) {
            if (found < 0)
                found = i;
            count++;
        }
    int r = 0;
    if (count == 0) {
        err_set(err, HR_E_FAIL, "nothing matches %s/%s yet", dir, pattern);
        r = -EAGAIN;
    } else if (count > 1) {
        err_set(err, HR_E_FAIL, "more than one file could exist for pattern \"%s/%s\"", dir, pattern);
        r = -EEXIST;
    } else {
        *ret = path_join(dir, v[found]->d_name);
    }
    free_list(v, n);
    return r;
}

static bool guid_shaped(const char *s)
{
    size_t n = strlen(s);
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    }
    return true;
}

int device_vpci_find(const char *sysfs, const char *guid, char **ret_path, gcs_err *err)
{
    if (str_empty(guid) || !guid_shaped(guid))
        return err_set(err, HR_E_INVALIDARG, "VMBusGUID \"%s\" is not a GUID", guid ? guid : "");
    cleanup_free char *dir = xasprintf("%s/bus/vmbus/devices/%s", sysfs, guid);
    cleanup_free char *pcidir = NULL;
    int r = one_match(dir, "pci*", &pcidir, err);
    if (r < 0)
        return r;
    const char *base = strrchr(pcidir, '/') + 1;
    cleanup_free char *pattern = xasprintf("%s*", base + 3);
    return one_match(pcidir, pattern, ret_path, err);
}

int device_fs_probe(const char *dev, char **ret_type, gcs_err *err)
{
    *ret_type = NULL;
    blkid_probe pr = blkid_new_probe_from_filename(dev);
    if (!pr)
        return err_errno(err, HR_E_FAIL, errno ? errno : EIO, "getting device's filesystem: open %s", dev);
    blkid_probe_enable_superblocks(pr, 1);
    blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
    blkid_probe_enable_partitions(pr, 0);
    int rc = blkid_do_safeprobe(pr);
    int r = 0;
    if (rc == 0) {
        const char *type = NULL;
        if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 && !str_empty(type))
            *ret_type = xstrdup(type);
    } else if (rc == -2) {
        r = err_set(err, HR_E_FAIL, "getting device's filesystem: %s holds more than one filesystem signature", dev);
    } else if (rc < 0) {
        r = err_errno(err, HR_E_FAIL, errno ? errno : EIO, "getting device's filesystem: probe %s", dev);
    }
    blkid_free_probe(pr);
    return r;
}
