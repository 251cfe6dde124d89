/* res_plan9.c — ModifySettings MappedDirectory: a host directory shared
 * over Plan 9 (upstream internal/guest/storage/plan9/plan9.go and
 * modifyMappedDirectory in internal/guest/runtime/hcsv2/uvm.go;
 * docs/architecture.md, "Plan 9 shares").
 *
 * Add: MountPath made 0700; the host's Plan 9 server dialled on Port
 * through the transport (vsock CID 2; unix:DIR/<port> in tests; the
 * development mapping in the QEMU VM); both socket buffers 64 KiB; then
 * mount(MountPath, MountPath, "9p", ReadOnly ? MS_RDONLY : 0,
 * "trans=fd,rfdno=<fd>,wfdno=<fd>,msize=65536[,noload][,aname=<ShareName>]")
 * — upstream's data string exactly — and the socket closed (the kernel
 * holds its own reference). Any failure removes what was made.
 * Remove: unmount and remove the directory; nothing there is success.
 *
 * Differences (docs/differences.md D-48): a ShareName that would add mount
 * options (',') or a Port outside 1..65535 is refused before anything is
 * made; the share is in the ledger, so agent exit unmounts it too.
 *
 * State: a ledger entry per MountPath, owner "MappedDirectory". */
#include "host/resources.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/path.h"
#include "storage/storage.h"
#include "transport/transport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#define OWNER "MappedDirectory"
#define PLAN9_MSIZE 65536
#define PLAN9_SOCKBUF 65536

static int unmount_share(const char *path, void *data, gcs_err *err)
{
    (void)data;
    int r = storage_unmount(path, true, err);
    if (r < 0)
        return err_wrap(err, r, "unmounting plan9 share at %s", path);
    log_info("Plan 9 share removed", KV_S("path", path));
    return 0;
}

/* The mount data upstream passes (plan9.go). */
static char *plan9_mount_data(int fd, bool read_only, const char *share_name)
{
    return xasprintf("trans=fd,rfdno=%d,wfdno=%d,msize=%d%s%s%s", fd, fd, PLAN9_MSIZE, read_only ? ",noload" : "",
                     str_empty(share_name) ? "" : ",aname=", str_empty(share_name) ? "" : share_name);
}

static int plan9_add(host *h, const char *path, const res_mapped_directory *s, gcs_err *err)
{
    if (uvmstate_has(h->mounts, path))
        return err_set(err, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "a share is already mounted at %s", path);
    if (s->port <= 0 || s->port > 65535)
        return err_set(err, HR_E_INVALIDARG, "MappedDirectory %s: Port %d is not a port", path, (int)s->port);
    if (s->share_name && strpbrk(s->share_name, ", \t\n"))
        return err_set(err, HR_E_INVALIDARG, "MappedDirectory %s: ShareName \"%s\" would add mount options", path,
                       s->share_name);
    mkdir_made made = {0};
    cleanup_close int fd = -1;
    cleanup_free char *data = NULL;
    int r = mkdir_p(path, 0700, NULL, &made, err);
    if (r < 0) {
        mkdir_made_free(&made);
        return r;
    }
    fd = transport_dial(h->t, (uint32_t)s->port, err);
    if (fd < 0) {
        r = err_wrap(err, fd, "could not connect to plan9 server for %s", path);
        goto undo;
    }
    int sz = PLAN9_SOCKBUF;
    /* unix and TCP sockets in development; a failure only costs speed */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
        log_debug("plan9: cannot set the socket buffers", KV_S("error", strerror(errno)));
    data = plan9_mount_data(fd, s->read_only, s->share_name);
    if (s->read_only)
        r = uvmstate_add_ro(h->mounts, path, "plan9", err);
    else
        r = uvmstate_add_rw(h->mounts, path, "plan9", false, err);
    if (r < 0)
        goto undo;
    if (mount(path, path, "9p", s->read_only ? MS_RDONLY : 0, data) < 0) {
        r = err_errno(err, HR_E_FAIL, errno, "failed to mount directory for mapped directory %s", path);
        if (s->read_only)
            uvmstate_remove_ro(h->mounts, path, "plan9", NULL);
        else
            uvmstate_remove_rw(h->mounts, path, "plan9", false, NULL);
        goto undo;
    }
    uvmstate_set_unmount(h->mounts, path, OWNER, unmount_share, NULL, NULL);
    mkdir_made_free(&made);
    log_info("Plan 9 share mounted", KV_S("path", path), KV_S("share", s->share_name ? s->share_name : ""),
             KV_I("port", s->port), KV_B("read_only", s->read_only));
    return 0;

undo:
    for (size_t i = made.n; i-- > 0;)
        rmdir(made.v[i]);
    mkdir_made_free(&made);
    return r;
}

static int plan9_apply(res_call *call, gcs_err *err)
{
    res_mapped_directory *s = &call->settings.mdir;
    int r = host_path_allowed(call->h, "MountPath", s->mount_path, err);
    if (r < 0)
        return r;
    cleanup_free char *path = path_clean(s->mount_path);
    if (call->request == REQ_ADD)
        return plan9_add(call->h, path, s, err);
    if (uvmstate_has(call->h->mounts, path))
        return uvmstate_unmount(call->h->mounts, path, err);
    /* not ours: as upstream, unmount what is there (nothing: success) */
    r = storage_unmount(path, true, err);
    return r < 0 ? err_wrap(err, r, "unmounting plan9 device at %s failed", path) : 0;
}

const resource_def res_mapped_directory_def = {
    .type = RES_MAPPED_DIRECTORY,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_ADD) | REQ_BIT(REQ_REMOVE),
    .apply = plan9_apply,
};
