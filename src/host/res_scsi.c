/* res_scsi.c — ModifySettings MappedVirtualDisk (a SCSI disk the host
 * attached, mounted, linked or only waited for) and SCSIDevice (the guest's
 * unplug of a disk). Upstream: internal/guest/runtime/hcsv2/uvm.go
 * modifyMappedVirtualDisk and the SCSIDevice case of modifyHostSettings,
 * internal/guest/storage/scsi/scsi.go; docs/architecture.md, "Devices".
 *
 * Add: controller index -> SCSI host number (sysfs) -> the disk's node,
 * waited for under -device-timeout-ms; then, with a MountPath, either a
 * symlink (BlockDev) or a mount: the filesystem is found with libblkid,
 * EnsureFilesystem formats with mkfs.ext4 / mkfs.xfs as a child process on
 * the loop (only when the filesystem is not already the one asked for), and
 * the mount is ReadOnly (MS_RDONLY, "noload" for ext4) or not; propagation
 * Options are applied afterwards, as upstream. Encrypted puts a dm-crypt
 * device (src/dm) with a random key under the mount (docs/differences.md
 * D-43); the ledger entry remembers it, so it is closed on every way out.
 *
 * State: one mount-ledger entry per MountPath, owned by "MappedVirtualDisk",
 * whose data (struct disk_mount) says what Add made: the symlink or the
 * mount, the directory if it was new, the SCSI address. Remove, container
 * teardown and agent exit take the entry off through the same function, so
 * nothing depends on what the Remove request repeats. Adds in flight (a
 * device wait or mkfs) are listed here; agent exit cancels them. */
#include "host/resources.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/path.h"
#include "common/strmap.h"
#include "device/device.h"
#include "dm/dm.h"
#include "host/devwait.h"
#include "loop/spawn.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#define OWNER "MappedVirtualDisk"
#define MKFS_OUTPUT_MAX 2048

/* What an Add made at its MountPath: the ledger entry's data. */
typedef struct disk_mount {
    bool block_dev;   /* a symlink, not a mount */
    bool dir_created; /* the mount directory is ours to remove */
    unsigned host, lun;
    uint64_t partition;
    char *crypt;      /* the dm-crypt device under the mount, or NULL */
    char *dev_root;   /* where its node lives (-dev-root) */
} disk_mount;

static void disk_mount_free(void *p)
{
    disk_mount *m = p;
    if (!m)
        return;
    free(m->crypt);
    free(m->dev_root);
    free(m);
}

/* An Add waiting for its device or its mkfs. */
typedef struct disk_op {
    res_call *call;
    host *h;
    res_mapped_virtual_disk *s;
    char *target;  /* clean MountPath, NULL when there is none */
    char *what;    /* "SCSI device 0:0:0:1" (+ " partition P") */
    unsigned host_nr;
    char *source;  /* the device node */
    char *fs;      /* found on the device (NULL: none) */
    char *crypt;   /* the dm-crypt device made for this Add, until the ledger has it */
    bool dir_created;
    devwait *wait;
    pid_t mkfs_pid;
    int mkfs_out;
    bool mkfs_timed_out;
    loop_timer *mkfs_timer;
    uint64_t mkfs_started_ms;
    uint64_t started_ms;
    struct disk_op *next;
} disk_op;

static disk_op *inflight;

/* Parent directories an Add made for its MountPath (/run/mounts/scsi):
 * removed, deepest first, once the last mount below them is gone. */
static strmap *made_dirs;

static void remember_made(const mkdir_made *made, const char *except)
{
    if (!made_dirs)
        made_dirs = strmap_new(NULL);
    for (size_t i = 0; i < made->n; i++)
        if (!except || !streq(made->v[i], except))
            strmap_set(made_dirs, made->v[i], (void *)1);
}

/* rmdir the remembered directories above path that are empty now. */
static void prune_made(const char *path)
{
    for (bool again = true; again && made_dirs;) {
        again = false;
        const char *deepest = NULL, *k;
        strmap_iter it = STRMAP_ITER_INIT;
        while (strmap_next(made_dirs, &it, &k, NULL))
            if (!streq(k, path) && path_is_within(k, path) && (!deepest || strlen(k) > strlen(deepest)))
                deepest = k;
        if (deepest && (rmdir(deepest) == 0 || errno == ENOENT)) {
            cleanup_free char *d = xstrdup(deepest);
            strmap_del(made_dirs, d);
            log_debug("removed a directory made for SCSI disks", KV_S("path", d));
            again = true;
        }
    }
}

static bool busy(const host *h, const char *target, unsigned host_nr, unsigned lun)
{
    for (disk_op *o = inflight; o; o = o->next)
        if (o->h == h && ((target && o->target && streq(o->target, target)) ||
                          (!target && o->host_nr == host_nr && o->s->lun == lun)))
            return true;
    return false;
}

static void op_free(disk_op *op)
{
    for (disk_op **p = &inflight; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    devwait_cancel(op->wait);
    if (op->mkfs_timer)
        loop_timer_cancel(op->h->l, op->mkfs_timer);
    if (op->mkfs_out >= 0)
        close(op->mkfs_out);
    free(op->target);
    free(op->what);
    free(op->source);
    free(op->fs);
    free(op->crypt);
    free(op);
}

/* ---- dm-crypt with an ephemeral key (docs/differences.md D-43) ---- */

static int crypt_close(const char *dev_root, const char *name, gcs_err *err)
{
    dm *d = NULL;
    int r = dm_open(dev_root, &d, err);
    if (r < 0)
        return err_wrap(err, r, "failed to cleanup dm-crypt target %s", name);
    r = dm_remove(d, name, err);
    dm_close(d);
    if (r == -ENXIO) { /* already gone */
        err_clear(err);
        return 0;
    }
    if (r < 0)
        return err_wrap(err, r, "failed to cleanup dm-crypt target %s", name);
    log_info("dm-crypt device closed", KV_S("name", name), KV_B("deferred", r == 1));
    return 0;
}

/* A crypt target over the whole of op->source, AES-256-XTS with a key from
 * getrandom that only the kernel keeps; op->source becomes its node. */
static int crypt_open(disk_op *op, gcs_err *err)
{
    const char *dev_root = op->h->cfg->dev_root;
    cleanup_free char *name = xasprintf("dm-crypt-scsi-contr%u-lun%u-p%llu", op->host_nr, op->s->lun,
                                        (unsigned long long)op->s->partition);
    int r;
    uint64_t bytes = 0;
    int fd = open(op->source, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "failed to mount encrypted device %s: open", op->source);
    r = ioctl(fd, BLKGETSIZE64, &bytes);
    int e = errno;
    close(fd);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, e, "failed to mount encrypted device %s: size", op->source);
    uint64_t sectors = bytes / 4096 * (4096 / DM_SECTOR);
    if (sectors == 0)
        return err_set(err, HR_E_FAIL, "failed to mount encrypted device %s: smaller than 4096 bytes", op->source);
    unsigned char key[64];
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
        return err_errno(err, HR_E_FAIL, errno, "failed to mount encrypted device %s: getrandom", op->source);
    char params[512];
    int n = snprintf(params, sizeof(params), "aes-xts-plain64 ");
    for (size_t i = 0; i < sizeof(key); i++)
        n += snprintf(params + n, sizeof(params) - (size_t)n, "%02x", key[i]);
    snprintf(params + n, sizeof(params) - (size_t)n, " 0 %s 0 1 sector_size:4096", op->source);
    explicit_bzero(key, sizeof(key));
    dm_target t = {0, sectors, "crypt", params};
    dm *d = NULL;
    char *node = NULL;
    if ((r = dm_open(dev_root, &d, err)) == 0) {
        r = dm_create(d, name, &t, 1, 0, &node, err);
        dm_close(d);
    }
    explicit_bzero(params, sizeof(params));
    if (r < 0)
        return err_wrap(err, r, "failed to mount encrypted device %s", op->source);
    log_info("dm-crypt device opened", KV_S("name", name), KV_S("device", op->source), KV_S("node", node),
             KV_U("bytes", sectors * DM_SECTOR));
    free(op->source);
    op->source = node;
    op->crypt = steal_pointer(&name);
    return 0;
}

/* Undo the directory of a failed Add (upstream removes it on any failure). */
static void op_undo_dir(disk_op *op)
{
    if (op->dir_created && op->target) {
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if (storage_remove_all(op->target, &e) < 0)
            log_warn("cannot remove the mount directory of a failed disk Add", KV_S("path", op->target),
                     KV_S("error", err_msg(&e)));
        op->dir_created = false;
    }
    if (op->target)
        prune_made(op->target);
    if (op->crypt) {
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if (crypt_close(op->h->cfg->dev_root, op->crypt, &e) < 0)
            log_warn("cannot close the dm-crypt device of a failed disk Add", KV_S("error", err_msg(&e)));
        free(op->crypt);
        op->crypt = NULL;
    }
}

/* Answer a pending Add and forget it. */
static void op_finish(disk_op *op, int r, gcs_err *err)
{
    if (r < 0)
        op_undo_dir(op);
    log_info(r < 0 ? "SCSI disk Add failed" : "SCSI disk added", KV_S("device", op->what),
             KV_S("source", op->source ? op->source : ""), KV_S("path", op->target ? op->target : ""),
             KV_U("duration_ms", now_ms() - op->started_ms), KV_S("error", r < 0 ? err_msg(err) : ""));
    res_call *call = op->call;
    op_free(op);
    res_call_done(call, r < 0 ? err : NULL);
}

/* ---- taking a disk's MountPath off (Remove, teardown, agent exit) ---- */

static int unmount_disk(const char *path, void *data, gcs_err *err)
{
    disk_mount *m = data;
    int r;
    if (m->block_dev) {
        if (unlink(path) < 0 && errno != ENOENT)
            return err_errno(err, HR_E_FAIL, errno, "failed to remove symlink %s", path);
        prune_made(path);
        log_info("SCSI disk link removed", KV_S("path", path));
        return 0;
    }
    if ((r = storage_unmount(path, m->dir_created, err)) < 0)
        return err_wrap(err, r, "unmount failed");
    prune_made(path);
    /* the ledger knows: closed whether or not the Remove says Encrypted */
    if (m->crypt && (r = crypt_close(m->dev_root, m->crypt, err)) < 0)
        return r;
    log_info("SCSI disk unmounted", KV_S("path", path), KV_U("host", m->host), KV_U("lun", m->lun),
             KV_U("partition", m->partition));
    return 0;
}

/* ---- Add ---- */

static void record(disk_op *op, bool block_dev)
{
    disk_mount *m = xzalloc(sizeof(*m));
    *m = (disk_mount){block_dev, op->dir_created, op->host_nr, op->s->lun, op->s->partition, op->crypt,
                      op->crypt ? xstrdup(op->h->cfg->dev_root) : NULL};
    op->dir_created = false; /* the ledger's now */
    op->crypt = NULL;
    uvmstate_set_unmount(op->h->mounts, op->target, OWNER, unmount_disk, m, disk_mount_free);
}

static int add_to_ledger(disk_op *op, gcs_err *err)
{
    if (op->s->read_only)
        return uvmstate_add_ro(op->h->mounts, op->target, op->source, err);
    return uvmstate_add_rw(op->h->mounts, op->target, op->source, op->s->encrypted, err);
}

static void drop_from_ledger(disk_op *op)
{
    if (op->s->read_only)
        uvmstate_remove_ro(op->h->mounts, op->target, op->source, NULL);
    else
        uvmstate_remove_rw(op->h->mounts, op->target, op->source, op->s->encrypted, NULL);
}

static int link_disk(disk_op *op, gcs_err *err)
{
    cleanup_free char *parent = path_dir(op->target);
    mkdir_made made = {0};
    int r = mkdir_p(parent, 0700, NULL, &made, err);
    remember_made(&made, NULL);
    mkdir_made_free(&made);
    if (r < 0)
        return r;
    if ((r = add_to_ledger(op, err)) < 0)
        return r;
    if (symlink(op->source, op->target) < 0) {
        r = err_errno(err, HR_E_FAIL, errno, "symlink %s -> %s", op->target, op->source);
        drop_from_ledger(op);
        return r;
    }
    record(op, true);
    return 0;
}

/* Upstream's propagation options (internal/guest/storage/mount.go); every
 * other option is not the guest's to apply, as upstream. */
static unsigned long propagation_flag(const char *opt)
{
    static const struct {
        const char *name;
        unsigned long flag;
    } t[] = {
        {"private", MS_PRIVATE},
        {"shared", MS_SHARED},
        {"slave", MS_SLAVE},
        {"unbindable", MS_UNBINDABLE},
        {"rprivate", MS_PRIVATE | MS_REC},
        {"rshared", MS_SHARED | MS_REC},
        {"rslave", MS_SLAVE | MS_REC},
        {"runbindable", MS_UNBINDABLE | MS_REC},
    };
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        if (streq(opt, t[i].name))
            return t[i].flag;
    return 0;
}

static int mount_disk(disk_op *op, const char *type, gcs_err *err)
{
    res_mapped_virtual_disk *s = op->s;
    unsigned long flags = s->read_only ? MS_RDONLY : 0;
    /* ext4 replays no journal on a read-only layer; other filesystems do
     * not know the option (upstream passes it to any) */
    const char *data = s->read_only && streq(type, "ext4") ? "noload" : "";
    int r = add_to_ledger(op, err);
    if (r < 0)
        return r;
    if (mount(op->source, op->target, type, flags, data) < 0) {
        r = err_errno(err, HR_E_FAIL, errno, "mounting: mount %s (%s) on %s", op->source, type, op->target);
        drop_from_ledger(op);
        return r;
    }
    for (size_t i = 0; i < s->options.n; i++) {
        unsigned long pg = propagation_flag(s->options.v[i]);
        if (pg && mount(NULL, op->target, NULL, pg, NULL) < 0) {
            r = err_errno(err, HR_E_FAIL, errno, "mounting: propagation %s on %s", s->options.v[i], op->target);
            umount2(op->target, MNT_DETACH);
            drop_from_ledger(op);
            return r;
        }
    }
    record(op, false);
    return 0;
}

static void mkfs_exited(loop *l, pid_t pid, int status, void *data);
static void mkfs_timeout(loop *l, void *data);

/* Format the device: 1 (pending), or <0. */
static int mkfs_start(disk_op *op, gcs_err *err)
{
    const char *fs = op->s->filesystem;
    char *argv_ext4[] = {"mkfs.ext4", "-q", "-F", op->source, NULL};
    char *argv_xfs[] = {"mkfs.xfs", "-q", "-f", op->source, NULL};
    char **argv = streq(fs, "ext4") ? argv_ext4 : argv_xfs;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0)
        return err_errno(err, HR_E_FAIL, errno, "%s format: open /dev/null", fs);
    op->mkfs_out = memfd_create("mkfs-output", MFD_CLOEXEC);
    if (op->mkfs_out < 0) {
        int e = errno;
        close(devnull);
        return err_errno(err, HR_E_FAIL, e, "%s format: memfd", fs);
    }
    spawn_opts so = {.path = argv[0], .argv = argv, .fds = {devnull, op->mkfs_out, op->mkfs_out},
                     .search_path = true};
    cleanup_free char *what = xasprintf("%s format", fs);
    int r = spawn(op->h->l, &so, what, &op->mkfs_pid, err);
    close(devnull);
    if (r < 0)
        return r;
    op->mkfs_started_ms = now_ms();
    loop_child_watch(op->h->l, op->mkfs_pid, mkfs_exited, op);
    uint64_t limit_ms = op->h->cfg->runtime_timeout ? op->h->cfg->runtime_timeout * 1000 : 120000;
    op->mkfs_timer = loop_timer_add(op->h->l, limit_ms, mkfs_timeout, op);
    log_info("formatting SCSI disk", KV_S("device", op->source), KV_S("filesystem", fs),
             KV_S("found", op->fs ? op->fs : ""), KV_I("pid", op->mkfs_pid));
    return 1;
}

static void mkfs_timeout(loop *l, void *data)
{
    disk_op *op = data;
    (void)l;
    op->mkfs_timer = NULL;
    op->mkfs_timed_out = true;
    kill(op->mkfs_pid, SIGKILL); /* ours, still unreaped: its exit comes next */
}

static void mkfs_exited(loop *l, pid_t pid, int status, void *data)
{
    disk_op *op = data;
    (void)l;
    (void)pid;
    op->mkfs_pid = 0;
    if (op->mkfs_timer) {
        loop_timer_cancel(op->h->l, op->mkfs_timer);
        op->mkfs_timer = NULL;
    }
    cleanup_err gcs_err err = GCS_ERR_INIT;
    const char *fs = op->s->filesystem;
    int r = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char out[MKFS_OUTPUT_MAX] = "";
        ssize_t n = pread(op->mkfs_out, out, sizeof(out) - 1, 0);
        out[n > 0 ? n : 0] = 0;
        for (char *c = out; *c; c++)
            if (*c == '\n')
                *c = ' ';
        if (op->mkfs_timed_out)
            r = err_set(&err, HR_E_FAIL, "%s format: mkfs.%s on %s killed after %llu s (deadline exceeded)", fs, fs,
                        op->source, (unsigned long long)op->h->cfg->runtime_timeout);
        else if (WIFEXITED(status))
            r = err_set(&err, HR_E_FAIL, "%s format: mkfs.%s %s exited with %d: %s", fs, fs, op->source,
                        WEXITSTATUS(status), out);
        else
            r = err_set(&err, HR_E_FAIL, "%s format: mkfs.%s %s killed by signal %d", fs, fs, op->source,
                        WTERMSIG(status));
    } else {
        log_info("SCSI disk formatted", KV_S("device", op->source), KV_S("filesystem", fs),
                 KV_U("duration_ms", now_ms() - op->mkfs_started_ms));
        r = mount_disk(op, fs, &err);
    }
    op_finish(op, r, &err);
}

/* The device is there: link, or find its filesystem, format, mount.
 * 0, 1 (pending: mkfs), <0. */
static int device_found(disk_op *op, gcs_err *err)
{
    res_mapped_virtual_disk *s = op->s;
    int r;
    if (!op->target)
        return 0; /* attach only: the device was waited for */
    if (s->block_dev)
        return link_disk(op, err);
    bool created = false;
    mkdir_made made = {0};
    r = mkdir_p(op->target, 0700, &created, &made, err);
    remember_made(&made, op->target);
    mkdir_made_free(&made);
    if (r < 0)
        return r;
    op->dir_created = created;
    /* encrypted: a fresh key each time, so the contents are new and are
     * not probed (as upstream); EnsureFilesystem formats them */
    if (s->encrypted && (r = crypt_open(op, err)) < 0)
        return r;
    if (!s->encrypted && (r = device_fs_probe(op->source, &op->fs, err)) < 0)
        return r;
    if (s->ensure_filesystem) {
        if (!streq(s->filesystem, "ext4") && !streq(s->filesystem, "xfs"))
            return err_set(err, HR_E_FAIL, "unsupported filesystem %s requested for device",
                           s->filesystem ? s->filesystem : "");
        if (!op->fs || !streq(op->fs, s->filesystem))
            return mkfs_start(op, err);
        log_debug("SCSI disk already holds the filesystem asked for", KV_S("device", op->source),
                  KV_S("filesystem", op->fs));
    }
    const char *type = !str_empty(s->filesystem) ? s->filesystem : op->fs;
    if (!type)
        return err_set(err, HR_E_FAIL, "getting device's filesystem: could not get device filesystem type of %s",
                       op->source);
    return mount_disk(op, type, err);
}

static int find_step(void *data, gcs_err *err)
{
    disk_op *op = data;
    free(op->source);
    op->source = NULL;
    return device_scsi_block(op->h->cfg->sysfs_root, op->h->cfg->dev_root, op->host_nr, op->s->lun,
                             op->s->partition, &op->source, NULL, err);
}

static void find_done(void *data, int r, gcs_err *err)
{
    disk_op *op = data;
    op->wait = NULL;
    if (r == 0)
        r = device_found(op, err);
    if (r != 1)
        op_finish(op, r, err);
}

static int disk_add(res_call *call, unsigned host_nr, gcs_err *err)
{
    host *h = call->h;
    res_mapped_virtual_disk *s = &call->settings.mvd;
    cleanup_free char *target = NULL;
    int r;
    if (!str_empty(s->mount_path)) {
        if ((r = host_path_allowed(h, "MountPath", s->mount_path, err)) < 0)
            return r;
        target = path_clean(s->mount_path);
        if (uvmstate_has(h->mounts, target))
            return err_set(err, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "something is already mounted at %s", target);
        if (busy(h, target, 0, 0))
            return err_set(err, HR_E_FAIL, "an Add for %s is still in progress", target);
    }
    disk_op *op = xzalloc(sizeof(*op));
    op->call = call;
    op->h = h;
    op->s = s;
    op->target = steal_pointer(&target);
    op->host_nr = host_nr;
    op->mkfs_out = -1;
    op->started_ms = now_ms();
    op->what = s->partition ? xasprintf("SCSI device %u:0:0:%u partition %llu", host_nr, s->lun,
                                        (unsigned long long)s->partition)
                            : xasprintf("SCSI device %u:0:0:%u", host_nr, s->lun);
    op->next = inflight;
    inflight = op;
    r = devwait_start(h->l, h->cfg->device_timeout_ms, op->what, find_step, find_done, op, &op->wait, err);
    if (r == 0)
        r = device_found(op, err);
    if (r == 1)
        return RES_PENDING;
    if (r < 0)
        op_undo_dir(op);
    else
        log_info("SCSI disk added", KV_S("device", op->what), KV_S("source", op->source ? op->source : ""),
                 KV_S("path", op->target ? op->target : ""), KV_U("duration_ms", now_ms() - op->started_ms));
    op_free(op);
    return r;
}

/* ---- Remove ---- */

/* A container not yet deleted whose rootfs or one of whose mounts lies
 * within path: the disk is still in use. */
static const char *container_using(host *h, const char *path)
{
    strmap_iter it = STRMAP_ITER_INIT;
    void *v;
    while (strmap_next(h->containers, &it, NULL, &v)) {
        container *c = v;
        if (c->state == CTR_TERMINATED || c->state == CTR_DELETING || !c->spec)
            continue;
        const char *root = json_string_value(json_object_get(json_object_get(c->spec, "root"), "path"));
        if (!str_empty(root)) {
            cleanup_free char *clean = path_clean(root);
            if (path_is_within(path, clean))
                return c->id;
        }
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(c->spec, "mounts"), i, m)
        {
            const char *src = json_string_value(json_object_get(m, "source"));
            if (str_empty(src) || src[0] != '/')
                continue;
            cleanup_free char *clean = path_clean(src);
            if (path_is_within(path, clean))
                return c->id;
        }
    }
    return NULL;
}

static int disk_remove(res_call *call, gcs_err *err)
{
    host *h = call->h;
    res_mapped_virtual_disk *s = &call->settings.mvd;
    int r;
    if (str_empty(s->mount_path))
        return 0; /* attach only: nothing was made */
    if ((r = host_path_allowed(h, "MountPath", s->mount_path, err)) < 0)
        return r;
    cleanup_free char *target = path_clean(s->mount_path);
    if (busy(h, target, 0, 0))
        return err_set(err, HR_E_FAIL, "unmount failed: an Add for %s is still in progress", target);
    if (!uvmstate_has(h->mounts, target)) {
        log_info("SCSI disk Remove: nothing of ours at the path", KV_S("path", target));
        return 0; /* already gone, as upstream's UnmountPath */
    }
    const char *owner = uvmstate_owner(h->mounts, target);
    if (!owner || !streq(owner, OWNER))
        return err_set(err, HR_E_FAIL, "unmount failed: %s is not a SCSI disk mount (it is %s's)", target,
                       owner ? owner : "unknown");
    const char *cid = container_using(h, target);
    if (cid)
        return err_set(err, HR_E_FAIL, "unmount failed: %s is in use by container %s", target, cid);
    if ((r = uvmstate_unmount(h->mounts, target, err)) < 0)
        return err_wrap(err, r, "remove SCSI disk at %s", target);
    return 0;
}

static int disk_apply(res_call *call, gcs_err *err)
{
    res_mapped_virtual_disk *s = &call->settings.mvd;
    if (s->controller >= DEVICE_SCSI_CONTROLLERS)
        return err_set(err, HR_E_INVALIDARG, "SCSI controller index %u is out of range (0 to %d)", s->controller,
                       DEVICE_SCSI_CONTROLLERS - 1);
    if (call->request == REQ_REMOVE)
        return disk_remove(call, err);
    unsigned host_nr = 0;
    int r = device_scsi_host(call->h->cfg->sysfs_root, s->controller, &host_nr, err);
    if (r < 0)
        return r;
    return disk_add(call, host_nr, err);
}

/* Agent exit: cancel what is in flight (a mkfs is killed by its pid). */
static void disk_release(host *h)
{
    for (disk_op *op = inflight, *next; op; op = next) {
        next = op->next;
        if (op->h != h)
            continue;
        if (op->mkfs_pid > 0) {
            loop_child_unwatch(h->l, op->mkfs_pid);
            kill(op->mkfs_pid, SIGKILL);
        }
        cleanup_err gcs_err e = GCS_ERR_INIT;
        err_set(&e, HR_E_FAIL, "%s: the agent is exiting", op->what);
        op_finish(op, -ECANCELED, &e);
    }
}

const resource_def res_mapped_virtual_disk_def = {
    .type = RES_MAPPED_VIRTUAL_DISK,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_ADD) | REQ_BIT(REQ_REMOVE),
    .apply = disk_apply,
    .release = disk_release,
};

/* ---- SCSIDevice: unplug ---- */

static int unplug_apply(res_call *call, gcs_err *err)
{
    host *h = call->h;
    res_scsi_device *s = &call->settings.scsi;
    unsigned host_nr = 0;
    int r = device_scsi_host(h->cfg->sysfs_root, s->controller, &host_nr, err);
    if (r < 0)
        return r;
    if (busy(h, NULL, host_nr, s->lun))
        return err_set(err, HR_E_FAIL, "SCSI device %u:0:0:%u: an Add is still in progress", host_nr, s->lun);
    /* never pull a disk from under a mount of ours (upstream does not look) */
    char **paths = NULL;
    uvmstate_list(h->mounts, NULL, OWNER, &paths);
    for (size_t i = 0; paths && paths[i]; i++) {
        disk_mount *m = uvmstate_data(h->mounts, paths[i]);
        if (m && m->host == host_nr && m->lun == s->lun) {
            r = err_set(err, HR_E_FAIL, "SCSI device %u:0:0:%u is still %s %s", host_nr, s->lun,
                        m->block_dev ? "linked at" : "mounted at", paths[i]);
            uvmstate_list_free(paths);
            return r;
        }
    }
    uvmstate_list_free(paths);
    bool gone = false;
    if ((r = device_scsi_delete(h->cfg->sysfs_root, host_nr, s->lun, &gone, err)) < 0)
        return r;
    log_info(gone ? "SCSI device already gone" : "SCSI device unplugged", KV_U("host", host_nr),
             KV_U("lun", s->lun));
    return 0;
}

const resource_def res_scsi_device_def = {
    .type = RES_SCSI_DEVICE,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_REMOVE),
    .apply = unplug_apply,
};
