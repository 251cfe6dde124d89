/* res_vpmem.c — ModifySettings VPMemDevice: read-only ext4 layers on
 * virtual PMEM (upstream internal/guest/storage/pmem/pmem.go and
 * modifyMappedVPMemDevice in internal/guest/runtime/hcsv2/uvm.go;
 * docs/architecture.md, "Device-backed layers").
 *
 * Add: <dev_root>/pmem<N> whole, or the part MappingInfo names through a
 * dm-linear device dm-linear-pmem<N>-<offset>-<size> (several layers packed
 * in one device, hcsshim's default), with a dm-verity device
 * dm-verity-pmem<N>-<root digest> on top when VerityInfo is sent (the
 * superblock and hash tree follow the ext4 data, dm/verity.h); then
 * MountPath (made 0700) gets the device as ext4, MS_RDONLY, "noload".
 * Remove: unmount, remove the directory, then the verity and the linear
 * device.
 *
 * Differences (docs/differences.md): the device node and a busy or absent
 * backing device are waited for with a deadline (D-45; upstream waits for
 * nothing, then retries dm creation forever); VerityInfo is honoured and
 * checked against the device (D-46); a layer an overlay still uses is not
 * unmounted, and what a Remove or the agent's exit takes off includes
 * every dm device made for it (D-47); a second Add on a mounted path is
 * refused (D-49).
 *
 * State: one ledger entry per MountPath (read-only device, owner
 * "VPMemDevice") whose data names the dm devices; its unmount function is
 * the whole teardown, so container teardown, Remove and agent exit are the
 * same code. Pending Adds (waiting for the device) are the only state
 * outside the ledger; release answers them at exit. */
#include "host/resources.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/path.h"
#include "dm/dm.h"
#include "dm/verity.h"
#include "storage/storage.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define OWNER "VPMemDevice"
/* The host attaches the device before it sends the Add (docs/protocol.md
 * §4.9): the node normally exists already; this bounds the wait. */
#define VPMEM_WAIT_MS 5000
#define VPMEM_POLL_MS 10

/* Ledger data of a mounted layer: the dm devices under it (NULL: none). */
typedef struct vpmem_mount {
    char *dev_root;
    char *linear;
    char *verity;
} vpmem_mount;

static void vpmem_mount_free(void *data)
{
    vpmem_mount *m = data;
    if (!m)
        return;
    free(m->dev_root);
    free(m->linear);
    free(m->verity);
    free(m);
}

/* Remove a dm device by name; one that does not exist is done. */
static int remove_dm(const char *dev_root, const char *name, gcs_err *err)
{
    if (!name)
        return 0;
    dm *d = NULL;
    int r = dm_open(dev_root, &d, err);
    if (r < 0)
        return r;
    cleanup_err gcs_err e = GCS_ERR_INIT;
    r = dm_remove(d, name, &e);
    dm_close(d);
    if (r == -ENXIO)
        return 0;
    if (r < 0) {
        err_move(err, &e);
        return r;
    }
    log_debug("device-mapper device removed", KV_S("name", name), KV_B("deferred", r == 1));
    return 0;
}

static int unmount_layer(const char *path, void *data, gcs_err *err)
{
    vpmem_mount *m = data;
    int r = storage_unmount(path, true, err);
    if (r < 0)
        return err_wrap(err, r, "failed to unmount target: %s", path);
    /* the file system is off: the devices under it go, verity first; the
     * first failure is kept, the other device is still tried */
    gcs_err e1 = GCS_ERR_INIT, e2 = GCS_ERR_INIT;
    int r1 = remove_dm(m->dev_root, m->verity, &e1);
    int r2 = remove_dm(m->dev_root, m->linear, &e2);
    if (r1 < 0 || r2 < 0) {
        err_move(err, r1 < 0 ? &e1 : &e2);
        err_clear(&e1);
        err_clear(&e2);
        return err_wrap(err, r1 < 0 ? r1 : r2, "layer %s unmounted, but", path);
    }
    /* done: nothing for a retry to find */
    free(m->verity);
    free(m->linear);
    m->verity = m->linear = NULL;
    log_info("VPMem layer removed", KV_S("path", path));
    return 0;
}

/* An Add, waiting for its device or for dm-linear to accept it. */
typedef struct vpmem_add {
    res_call *call;
    char *path;    /* MountPath, cleaned */
    char *pmem;    /* <dev_root>/pmem<N> */
    uint64_t deadline_ms;
    loop_timer *timer;
    int last_r;     /* the last retryable failure, for the timeout's message */
    gcs_err last_err;
    struct vpmem_add *next;
} vpmem_add;

static vpmem_add *pending; /* the loop's thread only */

static void add_free(vpmem_add *a)
{
    for (vpmem_add **pp = &pending; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    err_clear(&a->last_err);
    free(a->path);
    free(a->pmem);
    free(a);
}

static int mount_ext4_ro(const char *dev, const char *path, gcs_err *err)
{
    mkdir_made made = {0};
    int r = mkdir_p(path, 0700, NULL, &made, err);
    if (r < 0) {
        mkdir_made_free(&made);
        return r;
    }
    if (mount(dev, path, "ext4", MS_RDONLY, "noload") < 0) {
        r = err_errno(err, HR_E_FAIL, errno, "failed to mount %s onto %s", dev, path);
        for (size_t i = made.n; i-- > 0;)
            rmdir(made.v[i]);
    }
    mkdir_made_free(&made);
    return r;
}

/* One attempt. 1: retry later (the device is not there, or dm-linear
 * reported an error upstream retries on); 0: done; <0: failed. */
static int add_try(vpmem_add *a, gcs_err *err)
{
    host *h = a->call->h;
    res_vpmem_device *s = &a->call->settings.vpmem;
    const char *dev_root = h->cfg->dev_root;
    struct stat st;
    err_clear(&a->last_err);
    if (stat(a->pmem, &st) < 0) {
        a->last_r = -errno;
        err_errno(&a->last_err, HR_E_FAIL, errno, "%s", a->pmem);
        return 1;
    }
    if (!S_ISBLK(st.st_mode))
        return err_set(err, HR_E_FAIL, "%s is not a block device", a->pmem);

    cleanup_free char *linear = NULL, *verity = NULL, *linear_dev = NULL, *verity_dev = NULL;
    const char *dev = a->pmem;
    int r = 0;
    dm *d = NULL;
    if (s->has_mapping_info || s->has_verity_info) {
        if ((r = dm_open(dev_root, &d, err)) < 0)
            return r;
    }
    if (s->has_mapping_info) {
        uint64_t off = s->mapping_info.device_offset_in_bytes, size = s->mapping_info.device_size_in_bytes;
        linear = xasprintf("dm-linear-pmem%" PRIu32 "-%" PRIu64 "-%" PRIu64, s->device_number, off, size);
        dm_target t;
        cleanup_free char *params = NULL;
        if ((r = dm_linear_target(a->pmem, off, size, &t, &params, err)) < 0)
            goto fail;
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if ((r = dm_create(d, linear, &t, 1, DM_CREATE_READONLY, &linear_dev, &e)) < 0) {
            if (dm_create_retryable(r)) {
                a->last_r = r;
                err_move(&a->last_err, &e);
                dm_close(d);
                return 1;
            }
            err_move(err, &e);
            err_wrap(err, r, "failed to create dm-linear target, device=%s, offset=%" PRIu64, a->pmem, off);
            free(linear);
            linear = NULL; /* dm_create removed it */
            goto fail;
        }
        dev = linear_dev;
    }
    if (s->has_verity_info) {
        const res_verity_info *v = &s->verity_info;
        dm_verity_host vh = {v->ext4_size_in_bytes, v->version,  v->algorithm, v->super_block,
                               v->root_digest,        v->salt,     v->block_size};
        uint64_t data_size;
        dm_verity_sb sb;
        dm_target t;
        cleanup_free char *params = NULL;
        if (str_empty(v->root_digest)) {
            r = err_set(err, HR_E_INVALIDARG, "VerityInfo without a RootDigest");
            goto fail;
        }
        if ((r = dm_verity_read(dev, &data_size, &sb, err)) < 0 ||
            (r = dm_verity_target(dev, data_size, &sb, &vh, &t, &params, err)) < 0) {
            err_wrap(err, r, "dm-verity for %s", a->path);
            goto fail;
        }
        verity = xasprintf("dm-verity-pmem%" PRIu32 "-%s", s->device_number, v->root_digest);
        if ((r = dm_create(d, verity, &t, 1, DM_CREATE_READONLY, &verity_dev, err)) < 0) {
            err_wrap(err, r, "failed to create dm-verity target for device=%s", dev);
            free(verity);
            verity = NULL;
            goto fail;
        }
        dev = verity_dev;
    }
    d = dm_close(d);

    /* the ledger first, then the mount (rolled back if it fails) */
    if ((r = uvmstate_add_ro(h->mounts, a->path, dev, err)) < 0)
        goto fail;
    if ((r = mount_ext4_ro(dev, a->path, err)) < 0) {
        uvmstate_remove_ro(h->mounts, a->path, dev, NULL);
        goto fail;
    }
    vpmem_mount *m = xzalloc(sizeof(*m));
    m->dev_root = xstrdup(dev_root);
    m->linear = steal_pointer(&linear);
    m->verity = steal_pointer(&verity);
    uvmstate_set_unmount(h->mounts, a->path, OWNER, unmount_layer, m, vpmem_mount_free);
    log_info("VPMem layer mounted", KV_S("path", a->path), KV_S("device", dev), KV_U("pmem", s->device_number),
             KV_B("mapped", s->has_mapping_info), KV_B("verity", s->has_verity_info));
    return 0;

fail:
    d = dm_close(d);
    /* both are tried: the linear device must not outlive a failed verity removal */
    const char *made[] = {verity, linear};
    for (size_t i = 0; i < ARRAY_SIZE(made); i++) {
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if (remove_dm(dev_root, made[i], &e) < 0)
            log_warn("cannot remove a device-mapper device of a failed VPMem Add", KV_S("name", made[i]),
                     KV_S("error", err_msg(&e)));
    }
    return r < 0 ? r : -EIO;
}

static void add_step(loop *l, void *data);

/* 0 or <0: finished; 1: waiting. out NULL: running from the timer, so the
 * call is answered (and a freed) here; else a failure goes to out. */
static int add_run(vpmem_add *a, gcs_err *out)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    int r = add_try(a, &err);
    if (r == 1 && now_ms() < a->deadline_ms) {
        a->timer = loop_timer_add(a->call->h->l, VPMEM_POLL_MS, add_step, a);
        return 1;
    }
    if (r == 1)
        r = err_set(&err, HR_E_FAIL, "timed out after %d ms waiting for %s: %s", VPMEM_WAIT_MS, a->pmem,
                    err_msg(&a->last_err));
    if (!out) {
        res_call_done(a->call, r < 0 ? &err : NULL);
        add_free(a);
    } else if (r < 0) {
        err_move(out, &err);
    }
    return r;
}

static void add_step(loop *l, void *data)
{
    (void)l;
    vpmem_add *a = data;
    a->timer = NULL;
    add_run(a, NULL);
}

/* Takes path (freed here or with the pending Add). */
static int vpmem_add_start(res_call *call, char *path, gcs_err *err)
{
    host *h = call->h;
    res_vpmem_device *s = &call->settings.vpmem;
    int r = 0;
    if (uvmstate_has(h->mounts, path))
        r = err_set(err, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "a layer is already mounted at %s", path);
    for (vpmem_add *p = pending; p && r == 0; p = p->next)
        if (streq(p->path, path))
            r = err_set(err, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "a layer is already being added at %s", path);
    if (r < 0) {
        free(path);
        return r;
    }
    vpmem_add *a = xzalloc(sizeof(*a));
    a->call = call;
    a->path = path;
    a->pmem = xasprintf("%s/pmem%" PRIu32, h->cfg->dev_root, s->device_number);
    a->deadline_ms = now_ms() + VPMEM_WAIT_MS;
    a->next = pending;
    pending = a;
    r = add_run(a, err);
    if (r == 1)
        return RES_PENDING;
    a->call = NULL;
    add_free(a);
    return r;
}

static int vpmem_remove(res_call *call, const char *path, gcs_err *err)
{
    host *h = call->h;
    res_vpmem_device *s = &call->settings.vpmem;
    if (uvmstate_has(h->mounts, path)) {
        /* refused while an overlay (a container's rootfs) uses the layer */
        int r = uvmstate_unmount(h->mounts, path, err);
        return r < 0 ? err_wrap(err, r, "VPMem Remove %s", path) : 0;
    }
    /* not ours (or already gone): as upstream, unmount what is there and
     * remove the devices the request names */
    int r = storage_unmount(path, true, err);
    if (r < 0)
        return err_wrap(err, r, "failed to unmount target: %s", path);
    if (s->has_verity_info && !str_empty(s->verity_info.root_digest)) {
        cleanup_free char *name = xasprintf("dm-verity-pmem%" PRIu32 "-%s", s->device_number,
                                            s->verity_info.root_digest);
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if (dm_name_valid(name) && remove_dm(h->cfg->dev_root, name, &e) < 0)
            log_debug("VPMem Remove: no verity device", KV_S("name", name), KV_S("error", err_msg(&e)));
    }
    if (s->has_mapping_info) {
        cleanup_free char *name = xasprintf("dm-linear-pmem%" PRIu32 "-%" PRIu64 "-%" PRIu64, s->device_number,
                                            s->mapping_info.device_offset_in_bytes,
                                            s->mapping_info.device_size_in_bytes);
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if (remove_dm(h->cfg->dev_root, name, &e) < 0)
            log_debug("VPMem Remove: no linear device", KV_S("name", name), KV_S("error", err_msg(&e)));
    }
    return 0;
}

static int vpmem_apply(res_call *call, gcs_err *err)
{
    res_vpmem_device *s = &call->settings.vpmem;
    int r = host_path_allowed(call->h, "MountPath", s->mount_path, err);
    if (r < 0)
        return r;
    char *path = path_clean(s->mount_path);
    if (call->request == REQ_REMOVE) {
        r = vpmem_remove(call, path, err);
        free(path);
        return r;
    }
    return vpmem_add_start(call, path, err);
}

/* Agent exit: Adds still waiting for their device are answered now; what
 * is mounted comes off with the ledger. */
static void vpmem_release(host *h)
{
    while (pending) {
        vpmem_add *a = pending;
        if (a->timer)
            loop_timer_cancel(h->l, a->timer);
        gcs_err e = GCS_ERR_INIT;
        err_set(&e, HR_E_FAIL, "the agent is shutting down");
        res_call_done(a->call, &e);
        err_clear(&e);
        add_free(a);
    }
}

const resource_def res_vpmem_device_def = {
    .type = RES_VPMEM_DEVICE,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_ADD) | REQ_BIT(REQ_REMOVE),
    .apply = vpmem_apply,
    .release = vpmem_release,
};
