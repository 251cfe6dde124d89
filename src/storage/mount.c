/* mount.c — bind, propagation, tmpfs/hugetlbfs and the unmount primitives
 * that container deletion uses (docs/pod-model.md §5.5; upstream internal/guest/storage/mount.go). */
#include "storage/storage.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* Upstream UnmountPath's attempt count: enough for the tmpfs + self-bind
 * stack of sandboxTmpfsMounts plus accidental stacking. */
#define UNMOUNT_ATTEMPTS 5

int storage_bind(const char *src, const char *dst, unsigned flags, gcs_err *err)
{
    if (str_empty(src) || str_empty(dst))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "bind: empty path");
    unsigned long mflags = MS_BIND | ((flags & STORAGE_BIND_REC) ? MS_REC : 0);
    if (mount(src, dst, NULL, mflags, NULL) < 0)
        return err_errno(err, HR_E_FAIL, errno, "bind %s onto %s", src, dst);
    if (!(flags & STORAGE_BIND_RO))
        return 0;

    /* A bind ignores MS_RDONLY: read-only needs a second step. */
    int r = 0;
    if (flags & STORAGE_BIND_REC) {
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            r = err_errno(err, HR_E_FAIL, errno, "make bind %s recursively read-only", dst);
    } else if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        r = err_errno(err, HR_E_FAIL, errno, "remount bind %s read-only", dst);
    }
    if (r < 0)
        umount2(dst, (flags & STORAGE_BIND_REC) ? MNT_DETACH : 0);
    return r;
}

int storage_make_rshared(const char *path, gcs_err *err)
{
    if (str_empty(path))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "make rshared: empty path");
    if (mount(NULL, path, NULL, MS_SHARED | MS_REC, NULL) < 0)
        return err_errno(err, HR_E_FAIL, errno, "make %s rshared", path);
    return 0;
}

int storage_self_bind_rshared(const char *dir, gcs_err *err)
{
    int r = storage_bind(dir, dir, 0, err);
    if (r < 0)
        return r;
    if ((r = storage_make_rshared(dir, err)) < 0)
        umount2(dir, 0); /* undo the bind just made; the tmpfs under it (if any) stays */
    return r;
}

int storage_mount_tmpfs(const char *dir, const char *data, gcs_err *err)
{
    bool mounted = false;
    int r = storage_is_mountpoint(dir, &mounted, err);
    if (r < 0)
        return err_wrap(err, r, "mount tmpfs on %s", dir);
    /* docs/differences.md D-15: mounting on a mount point stacks and hides
     * the data below; upstream's EBUSY check never fires. */
    if (mounted)
        return storage_errf(err, HR_E_FAIL, -EBUSY, "mount tmpfs on %s: already mounted", dir);
    if (mount("tmpfs", dir, "tmpfs", 0, data) < 0)
        return err_errno(err, HR_E_FAIL, errno, "mount tmpfs on %s", dir);
    return 0;
}

int storage_mount_hugetlbfs(const char *dir, const char *pagesize, gcs_err *err)
{
    if (str_empty(dir) || str_empty(pagesize))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "mount hugetlbfs: empty directory or page size");
    if (strchr(pagesize, ','))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "mount hugetlbfs on %s: invalid page size %s", dir,
                            pagesize);
    cleanup_free char *data = xasprintf("pagesize=%s", pagesize);
    if (mount("none", dir, "hugetlbfs", 0, data) < 0)
        return err_errno(err, HR_E_FAIL, errno, "mount hugetlbfs (%s) on %s", data, dir);
    return 0;
}

int storage_unmount(const char *path, bool remove_dir, gcs_err *err)
{
    if (str_empty(path))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "unmount: empty path");
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0; /* case 119 */
        return err_errno(err, HR_E_FAIL, errno, "unmount %s: stat", path); /* case 120 */
    }
    bool unmounted = false;
    for (int i = 0; i < UNMOUNT_ATTEMPTS && !unmounted; i++) {
        if (umount2(path, 0) == 0)
            continue;
        if (errno != EINVAL)
            return err_errno(err, HR_E_FAIL, errno, "unmount %s", path); /* case 124 */
        unmounted = true; /* case 123 */
    }
    /* Upstream only warns here and goes on to remove the directory, which
     * would empty whatever is still mounted. */
    if (!unmounted)
        return storage_errf(err, HR_E_FAIL, -EBUSY, "unmount %s: still mounted after %d unmounts", path,
                            UNMOUNT_ATTEMPTS);
    if (remove_dir) {
        int r = storage_remove_all(path, err); /* cases 125-126 */
        if (r < 0)
            return err_wrap(err, r, "unmount %s", path);
    }
    return 0;
}

/* Append "msg" to an accumulated "; "-joined list of failures. */
static void collect(gcs_err *all, int *first, gcs_err *one)
{
    if (*first == 0) {
        *first = one->code ? one->code : -EIO;
        err_move(all, one);
        return;
    }
    char *m = xasprintf("%s; %s", all->msg, err_msg(one));
    free(all->msg);
    all->msg = m;
    err_clear(one);
}

int storage_unmount_all_under(const char *path, gcs_err *err)
{
    return storage_unmount_all_under_in(NULL, 0, path, err);
}

int storage_unmount_all_under_in(const storage_mount *mounts, size_t nmounts, const char *path, gcs_err *err)
{
    char **points = NULL;
    size_t n = 0;
    int r = mounts ? storage_mounts_under_in(mounts, nmounts, path, &points, &n)
                   : storage_mounts_under(path, &points, &n, err);
    if (r < 0)
        return err_wrap(err, r, "unmount all under %s", path);
    int first = 0;
    cleanup_err gcs_err all = GCS_ERR_INIT;
    /* Case 127: last listed first, so children come off before parents. A
     * point mounted twice is listed twice; the second visit finds EINVAL. */
    for (size_t i = n; i-- > 0;) {
        cleanup_err gcs_err one = GCS_ERR_INIT;
        if (storage_unmount(points[i], false, &one) < 0)
            collect(&all, &first, &one);
    }
    storage_strv_free(points, n);
    if (first < 0) {
        if (err)
            err_move(err, &all);
        return err_wrap(err, first, "unmount all under %s", path);
    }
    return 0;
}
