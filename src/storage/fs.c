/* fs.c — directory creation and mount-aware recursive removal. */
#include "storage/storage.h"
#include "storage/storage_internal.h"

#include "common/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int storage_errf(gcs_err *err, int32_t hr, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *m = xvasprintf(fmt, ap);
    va_end(ap);
    err_set(err, hr, "%s", m);
    if (err)
        err->code = code;
    return code;
}

char *storage_path_canonical(const char *path)
{
    char *rp = realpath(path, NULL);
    return rp ? rp : path_clean(path);
}

/* Identity of the mount an entry lives on: the mount id when the kernel
 * reports it (binds of one filesystem share st_dev), plus st_dev. */
struct mnt_ident {
    uint64_t mnt_id;
    bool has_mnt_id;
    dev_t dev;
};

static int stat_nofollow(int dirfd, const char *name, int extra_flags, struct statx *stx)
{
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | extra_flags, STATX_TYPE | STATX_INO | STATX_MNT_ID, stx) < 0)
        return -errno;
    return 0;
}

static struct mnt_ident ident_of(const struct statx *stx)
{
    return (struct mnt_ident){
        .mnt_id = stx->stx_mnt_id,
        .has_mnt_id = (stx->stx_mask & STATX_MNT_ID) != 0,
        .dev = makedev(stx->stx_dev_major, stx->stx_dev_minor),
    };
}

static bool same_mount(const struct mnt_ident *a, const struct mnt_ident *b)
{
    if (a->dev != b->dev)
        return false;
    return !(a->has_mnt_id && b->has_mnt_id && a->mnt_id != b->mnt_id);
}

static int remove_entry(int dirfd, const char *name, const char *display, const struct mnt_ident *top,
                        gcs_err *err);

/* Names of a directory's entries, read before anything is unlinked so that
 * removal never races the directory stream. */
static int list_names(int fd, const char *display, char ***ret, size_t *ret_n, gcs_err *err)
{
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return err_errno(err, HR_E_FAIL, errno, "dup %s", display);
    cleanup_dir DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return err_errno(err, HR_E_FAIL, e, "opendir %s", display);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                int e = errno;
                storage_strv_free(names, n);
                return err_errno(err, HR_E_FAIL, e, "readdir %s", display);
            }
            break;
        }
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(de->d_name);
    }
    *ret = names;
    *ret_n = n;
    return 0;
}

static int remove_dir_contents(int fd, const char *display, const struct mnt_ident *top, gcs_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int r = list_names(fd, display, &names, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r >= 0; i++) {
        cleanup_free char *child = xasprintf("%s/%s", display, names[i]);
        r = remove_entry(fd, names[i], child, top, err);
    }
    storage_strv_free(names, n);
    return r;
}

static int remove_entry(int dirfd, const char *name, const char *display, const struct mnt_ident *top,
                        gcs_err *err)
{
    struct statx stx;
    int r = stat_nofollow(dirfd, name, 0, &stx);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "stat %s", display);
    if (!S_ISDIR(stx.stx_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return err_errno(err, HR_E_FAIL, errno, "unlink %s", display);
        return 0;
    }
    struct mnt_ident id = ident_of(&stx);
    if (!same_mount(&id, top))
        return storage_errf(err, HR_E_FAIL, -EBUSY, "remove %s: is a mount point, refusing to cross into it",
                            display);
    cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return err_errno(err, HR_E_FAIL, errno, "open %s", display);
    }
    /* The entry may have been swapped between statx and openat: check again
     * on what was actually opened. */
    struct statx ostx;
    if ((r = stat_nofollow(fd, "", AT_EMPTY_PATH, &ostx)) < 0)
        return err_errno(err, HR_E_FAIL, -r, "stat %s", display);
    struct mnt_ident oid = ident_of(&ostx);
    if (!same_mount(&oid, top) || ostx.stx_ino != stx.stx_ino)
        return storage_errf(err, HR_E_FAIL, -EBUSY, "remove %s: changed or became a mount point while removing",
                            display);
    if ((r = remove_dir_contents(fd, display, top, err)) < 0)
        return r;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return err_errno(err, HR_E_FAIL, errno, "rmdir %s", display);
    return 0;
}

int storage_remove_all(const char *path, gcs_err *err)
{
    if (str_empty(path))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "remove: empty path");
    cleanup_free char *clean = path_clean(path);
    if (streq(clean, "/") || streq(clean, ".") || streq(clean, ".."))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "remove %s: refusing to remove this path", path);

    char *slash = strrchr(clean, '/');
    cleanup_free char *parent = slash ? (slash == clean ? xstrdup("/") : xstrndup(clean, (size_t)(slash - clean)))
                                      : xstrdup(".");
    const char *base = slash ? slash + 1 : clean;
    if (streq(base, ".."))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "remove %s: refusing to remove this path", path);

    /* The parent may legitimately contain symlinks; only the last element is
     * never followed. */
    cleanup_close int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        if (errno == ENOENT)
            return 0;
        return err_errno(err, HR_E_FAIL, errno, "open %s", parent);
    }
    struct statx pstx, stx;
    int r = stat_nofollow(pfd, "", AT_EMPTY_PATH, &pstx);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "stat %s", parent);
    r = stat_nofollow(pfd, base, 0, &stx);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "stat %s", clean);
    if (!S_ISDIR(stx.stx_mode)) {
        if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
            return err_errno(err, HR_E_FAIL, errno, "unlink %s", clean);
        return 0;
    }
    /* A directory that is itself a mount point would have its mounted
     * contents emptied and then fail with EBUSY: refuse up front. */
    struct mnt_ident pid = ident_of(&pstx);
    struct mnt_ident top = ident_of(&stx);
    if (!same_mount(&top, &pid))
        return storage_errf(err, HR_E_FAIL, -EBUSY, "remove %s: is a mount point", clean);
    return remove_entry(pfd, base, clean, &top, err);
}
