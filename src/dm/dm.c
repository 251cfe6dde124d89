/* dm.c — device-mapper ioctls (dm.h). */
#include "dm/dm.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct dm {
    int fd;
    char *mapper_dir; /* <dev_root>/mapper */
};

/* Room for status and list answers; grown when the kernel says it is full. */
#define DM_BUF_INITIAL 16384u
#define DM_BUF_MAX (1u << 22)

static const char *cmd_name(unsigned long cmd)
{
    switch (cmd) {
    case DM_VERSION: return "DM_VERSION";
    case DM_DEV_CREATE: return "DM_DEV_CREATE";
    case DM_DEV_REMOVE: return "DM_DEV_REMOVE";
    case DM_DEV_SUSPEND: return "DM_DEV_SUSPEND";
    case DM_DEV_STATUS: return "DM_DEV_STATUS";
    case DM_TABLE_LOAD: return "DM_TABLE_LOAD";
    case DM_TABLE_STATUS: return "DM_TABLE_STATUS";
    case DM_LIST_DEVICES: return "DM_LIST_DEVICES";
    default: return "dm ioctl";
    }
}

bool dm_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n < DM_NAME_LEN && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* A zeroed request of size bytes (header included) for name. */
static struct dm_ioctl *req_new(size_t size, const char *name, uint32_t flags)
{
    struct dm_ioctl *io = xzalloc(size);
    io->version[0] = DM_VERSION_MAJOR;
    io->version[1] = 0;
    io->version[2] = 0;
    io->data_size = (uint32_t)size;
    io->data_start = sizeof(*io);
    io->flags = flags;
    if (name)
        snprintf(io->name, sizeof(io->name), "%s", name);
    return io;
}

static int do_ioctl(dm *d, unsigned long cmd, struct dm_ioctl *io, const char *name, gcs_err *err)
{
    if (ioctl(d->fd, cmd, io) < 0) {
        int e = errno;
        return err_errno(err, HR_E_FAIL, e, "%s %s", cmd_name(cmd), name ? name : "");
    }
    return 0;
}

int dm_open(const char *dev_root, dm **ret, gcs_err *err)
{
    cleanup_free char *mapper = xasprintf("%s/mapper", dev_root ? dev_root : "/dev");
    cleanup_free char *control = xasprintf("%s/control", mapper);
    int fd = open(control, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENODEV || e == ENXIO || e == ENOENT)
            return err_errno(err, HR_E_FAIL, e, "device-mapper is not available (%s)", control);
        return err_errno(err, HR_E_FAIL, e, "open %s", control);
    }
    dm *d = xzalloc(sizeof(*d));
    d->fd = fd;
    d->mapper_dir = steal_pointer(&mapper);
    uint32_t v[3];
    int r = dm_version(d, v, err);
    if (r < 0) {
        dm_close(d);
        return err_wrap(err, r, "device-mapper control %s", control);
    }
    if (v[0] != DM_VERSION_MAJOR) {
        dm_close(d);
        return err_set(err, HR_E_FAIL, "device-mapper interface %u.%u.%u, want %u.x", v[0], v[1], v[2],
                       DM_VERSION_MAJOR);
    }
    *ret = d;
    return 0;
}

dm *dm_close(dm *d)
{
    if (d) {
        if (d->fd >= 0)
            close(d->fd);
        free(d->mapper_dir);
        free(d);
    }
    return NULL;
}

int dm_version(dm *d, uint32_t version[3], gcs_err *err)
{
    cleanup_free struct dm_ioctl *io = req_new(sizeof(*io), NULL, 0);
    int r = do_ioctl(d, DM_VERSION, io, NULL, err);
    if (r < 0)
        return r;
    memcpy(version, io->version, sizeof(io->version));
    return 0;
}

bool dm_create_retryable(int r)
{
    return r == -EBUSY || r == -ENOENT || r == -ENXIO || r == -ENODEV;
}

long dm_pack_targets(const dm_target *targets, size_t n, void *buf, size_t cap, gcs_err *err)
{
    if (n == 0)
        return err_set(err, HR_E_INVALIDARG, "a device-mapper table needs at least one target"), -EINVAL;
    size_t off = 0;
    uint64_t next_start = 0;
    for (size_t i = 0; i < n; i++) {
        const dm_target *t = &targets[i];
        if (!t->type || !*t->type || strlen(t->type) >= DM_MAX_TYPE_NAME)
            return err_set(err, HR_E_INVALIDARG, "target %zu: bad type", i), -EINVAL;
        if (t->length == 0)
            return err_set(err, HR_E_INVALIDARG, "target %zu (%s): zero length", i, t->type), -EINVAL;
        if (t->start < next_start)
            return err_set(err, HR_E_INVALIDARG, "target %zu (%s) overlaps the one before", i, t->type), -EINVAL;
        if (t->length > UINT64_MAX - t->start)
            return err_set(err, HR_E_INVALIDARG, "target %zu (%s): length overflows", i, t->type), -EINVAL;
        next_start = t->start + t->length;
        const char *params = t->params ? t->params : "";
        size_t plen = strlen(params) + 1;
        size_t rec = sizeof(struct dm_target_spec) + ((plen + 7) & ~(size_t)7);
        if (rec > cap - off || off > cap)
            return err_set(err, HR_E_INVALIDARG, "device-mapper table too large"), -ENOSPC;
        struct dm_target_spec *spec = (struct dm_target_spec *)((char *)buf + off);
        memset(spec, 0, rec);
        spec->sector_start = t->start;
        spec->length = t->length;
        spec->status = 0;
        spec->next = (uint32_t)rec;
        memcpy(spec->target_type, t->type, strlen(t->type));
        memcpy((char *)(spec + 1), params, plen);
        off += rec;
    }
    return (long)off;
}

static char *node_path(dm *d, const char *name)
{
    return xasprintf("%s/%s", d->mapper_dir, name);
}

/* DM_DEV_REMOVE alone (the node is the caller's). */
static int remove_dev(dm *d, const char *name, uint32_t flags, gcs_err *err)
{
    cleanup_free struct dm_ioctl *io = req_new(sizeof(*io), name, flags);
    return do_ioctl(d, DM_DEV_REMOVE, io, name, err);
}

int dm_create(dm *d, const char *name, const dm_target *targets, size_t n, unsigned flags, char **dev_path,
              gcs_err *err)
{
    if (!dm_name_valid(name))
        return err_set(err, HR_E_INVALIDARG, "invalid device-mapper name \"%s\"", name ? name : ""), -EINVAL;
    /* the table first: a table that does not pack never creates a device */
    size_t cap = sizeof(struct dm_ioctl);
    for (size_t i = 0; i < n; i++)
        cap += sizeof(struct dm_target_spec) + strlen(targets[i].params ? targets[i].params : "") + 8;
    cleanup_free struct dm_ioctl *load = req_new(cap, name, (flags & DM_CREATE_READONLY) ? DM_READONLY_FLAG : 0);
    long used = dm_pack_targets(targets, n, (char *)load + sizeof(*load), cap - sizeof(*load), err);
    if (used < 0)
        return (int)used;
    load->target_count = (uint32_t)n;
    load->data_size = (uint32_t)(sizeof(*load) + (size_t)used);

    cleanup_free struct dm_ioctl *create = req_new(sizeof(*create), name, 0);
    int r = do_ioctl(d, DM_DEV_CREATE, create, name, err);
    if (r < 0)
        return r;
    dev_t dev = (dev_t)create->dev;
    cleanup_free char *node = node_path(d, name);
    if ((r = do_ioctl(d, DM_TABLE_LOAD, load, name, err)) == 0) {
        cleanup_free struct dm_ioctl *resume = req_new(sizeof(*resume), name, 0);
        r = do_ioctl(d, DM_DEV_SUSPEND, resume, name, err);
    }
    if (r == 0) {
        /* there is no udev: the node is ours to make (a stale one goes) */
        if (unlink(node) < 0 && errno != ENOENT)
            r = err_errno(err, HR_E_FAIL, errno, "remove stale %s", node);
        else if (mknod(node, S_IFBLK | 0600, dev) < 0)
            r = err_errno(err, HR_E_FAIL, errno, "mknod %s (%u:%u)", node, major(dev), minor(dev));
    }
    if (r < 0) {
        cleanup_err gcs_err e2 = GCS_ERR_INIT;
        if (remove_dev(d, name, 0, &e2) < 0)
            log_warn("device-mapper: cannot remove the device a failed create left", KV_S("name", name),
                     KV_S("error", err_msg(&e2)));
        return err_wrap(err, r, "create device-mapper device %s", name);
    }
    if (dev_path)
        *dev_path = steal_pointer(&node);
    return 0;
}

int dm_remove(dm *d, const char *name, gcs_err *err)
{
    if (!dm_name_valid(name))
        return err_set(err, HR_E_INVALIDARG, "invalid device-mapper name \"%s\"", name ? name : ""), -EINVAL;
    cleanup_free char *node = node_path(d, name);
    if (unlink(node) < 0 && errno != ENOENT)
        log_warn("device-mapper: cannot remove the node", KV_S("node", node), KV_S("error", strerror(errno)));
    cleanup_err gcs_err e1 = GCS_ERR_INIT;
    int r = remove_dev(d, name, 0, &e1);
    if (r == 0)
        return 0;
    if (r != -EBUSY) {
        err_move(err, &e1);
        return r;
    }
    /* still open: the kernel removes it on the last close */
    if ((r = remove_dev(d, name, DM_DEFERRED_REMOVE, err)) < 0)
        return err_wrap(err, r, "remove busy device-mapper device %s (deferred)", name);
    log_info("device-mapper: device busy, removal deferred to its last close", KV_S("name", name));
    return 1;
}

int dm_status(dm *d, const char *name, dm_info *info, gcs_err *err)
{
    memset(info, 0, sizeof(*info));
    cleanup_free struct dm_ioctl *io = req_new(sizeof(*io), name, 0);
    if (ioctl(d->fd, DM_DEV_STATUS, io) < 0) {
        if (errno == ENXIO)
            return 0;
        return err_errno(err, HR_E_FAIL, errno, "DM_DEV_STATUS %s", name);
    }
    info->exists = true;
    info->suspended = (io->flags & DM_SUSPEND_FLAG) != 0;
    info->readonly = (io->flags & DM_READONLY_FLAG) != 0;
    info->open_count = io->open_count;
    info->target_count = io->target_count;
    info->dev = (dev_t)io->dev;
    return 0;
}

/* Run cmd with an answer buffer grown until the kernel's answer fits. */
static int query(dm *d, unsigned long cmd, const char *name, uint32_t flags, struct dm_ioctl **ret, gcs_err *err)
{
    for (size_t size = DM_BUF_INITIAL; size <= DM_BUF_MAX; size *= 2) {
        struct dm_ioctl *io = req_new(size, name, flags);
        int r = do_ioctl(d, cmd, io, name, err);
        if (r < 0) {
            free(io);
            return r;
        }
        if (!(io->flags & DM_BUFFER_FULL_FLAG)) {
            *ret = io;
            return 0;
        }
        free(io);
    }
    return err_set(err, HR_E_FAIL, "%s: answer larger than %u bytes", cmd_name(cmd), DM_BUF_MAX), -E2BIG;
}

int dm_target_status(dm *d, const char *name, bool table, char **ret, gcs_err *err)
{
    struct dm_ioctl *io = NULL;
    int r = query(d, DM_TABLE_STATUS, name, table ? DM_STATUS_TABLE_FLAG : 0, &io, err);
    if (r < 0)
        return r;
    const char *data = (const char *)io + io->data_start;
    const char *end = (const char *)io + io->data_size;
    size_t len = 0, cap = 64;
    char *out = xzalloc(cap);
    size_t off = 0;
    for (uint32_t i = 0; i < io->target_count; i++) {
        if (off > (size_t)(end - data) || sizeof(struct dm_target_spec) > (size_t)(end - data) - off)
            break;
        const struct dm_target_spec *spec = (const struct dm_target_spec *)(data + off);
        const char *s = (const char *)(spec + 1);
        size_t sl = strnlen(s, (size_t)(end - s));
        char line[64 + DM_MAX_TYPE_NAME];
        int hl = snprintf(line, sizeof(line), "%llu %llu %.*s ", (unsigned long long)spec->sector_start,
                          (unsigned long long)spec->length, DM_MAX_TYPE_NAME, spec->target_type);
        size_t need = len + (size_t)hl + sl + 2;
        if (need > cap) {
            cap = need * 2;
            out = xrealloc(out, cap);
        }
        if (len)
            out[len++] = '\n';
        memcpy(out + len, line, (size_t)hl);
        len += (size_t)hl;
        memcpy(out + len, s, sl);
        len += sl;
        out[len] = '\0';
        /* in answers, next is the offset from the start of the data */
        if (spec->next <= off)
            break;
        off = spec->next;
    }
    free(io);
    *ret = out;
    return 0;
}

int dm_list(dm *d, char ***ret, gcs_err *err)
{
    struct dm_ioctl *io = NULL;
    int r = query(d, DM_LIST_DEVICES, NULL, 0, &io, err);
    if (r < 0)
        return r;
    size_t n = 0, cap = 8;
    char **names = xzalloc(cap * sizeof(char *));
    const char *data = (const char *)io + io->data_start;
    const char *end = (const char *)io + io->data_size;
    size_t off = 0;
    while (off + sizeof(struct dm_name_list) <= (size_t)(end - data)) {
        const struct dm_name_list *nl = (const struct dm_name_list *)(data + off);
        if (nl->dev == 0)
            break; /* no devices */
        if (n + 1 >= cap) {
            cap *= 2;
            names = xrealloc(names, cap * sizeof(char *));
        }
        const char *nm = nl->name;
        names[n++] = xstrndup(nm, strnlen(nm, (size_t)(end - nm)));
        names[n] = NULL;
        if (!nl->next)
            break;
        off += nl->next;
    }
    free(io);
    *ret = names;
    return (int)n;
}

void dm_list_free(char **names)
{
    if (!names)
        return;
    for (char **p = names; *p; p++)
        free(*p);
    free(names);
}

int dm_linear_target(const char *dev, uint64_t offset, uint64_t size, dm_target *t, char **params, gcs_err *err)
{
    if (size == 0)
        return err_set(err, HR_E_INVALIDARG, "linear target over %s: size 0", dev), -EINVAL;
    if (offset % DM_SECTOR || size % DM_SECTOR)
        return err_set(err, HR_E_INVALIDARG,
                       "linear target over %s: offset %llu and size %llu must be multiples of %u bytes", dev,
                       (unsigned long long)offset, (unsigned long long)size, DM_SECTOR),
               -EINVAL;
    *params = xasprintf("%s %llu", dev, (unsigned long long)(offset / DM_SECTOR));
    *t = (dm_target){0, size / DM_SECTOR, "linear", *params};
    return 0;
}
