/* overlay.c — the CombinedLayers overlay and the bundle-to-scratch bind
 * (docs/protocol.md §4.9 "CombinedLayers", docs/pod-model.md §3.5). */
#include "storage/storage.h"
#include "storage/storage_internal.h"

#include "common/fsutil.h"
#include "common/path.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* mkdir -p that reports whether the final directory is new, so a failed
 * mount removes only what it created (upstream removes upper/work even when
 * they held a previous container's data). */
static int ensure_dir(const char *p, bool *created, gcs_err *err)
{
    return mkdir_p(p, 0755, created, NULL, err);
}

static void undo_dir(const char *p, bool created)
{
    if (created) {
        cleanup_err gcs_err ignored = GCS_ERR_INIT;
        storage_remove_all(p, &ignored);
    }
}

static int validate(const char *const *lowers, size_t n, const char *scratch, const char *target, gcs_err *err)
{
    if (str_empty(target))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "overlay: empty target");
    if (n == 0)
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "overlay on %s: no layers", target);
    for (size_t i = 0; i < n; i++) {
        if (str_empty(lowers[i]))
            return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "overlay on %s: layer %zu has an empty path", target,
                                i);
        /* ':' separates lowerdir entries and ',' separates options. */
        if (strpbrk(lowers[i], ":,"))
            return storage_errf(err, HR_E_INVALIDARG, -EINVAL,
                                "overlay on %s: layer path %s contains ':' or ',', "
                                "which overlayfs options cannot carry",
                                target, lowers[i]);
    }
    if (!str_empty(scratch) && strchr(scratch, ','))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL,
                            "overlay on %s: scratch path %s contains ',', which overlayfs options cannot carry", target,
                            scratch);
    return 0;
}

static char *build_data(const char *const *lowers, size_t n, const char *upper, const char *work)
{
    size_t len = strlen("lowerdir=") + 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(lowers[i]) + 1;
    if (upper)
        len += strlen(",upperdir=") + strlen(upper) + strlen(",workdir=") + strlen(work);
    char *data = xmalloc(len);
    char *w = stpcpy(data, "lowerdir=");
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ':';
        w = stpcpy(w, lowers[i]);
    }
    if (upper) {
        w = stpcpy(w, ",upperdir=");
        w = stpcpy(w, upper);
        w = stpcpy(w, ",workdir=");
        w = stpcpy(w, work);
    }
    return data;
}

int storage_overlay_mount(const char *const *lowers, size_t n, const char *scratch, const char *target, gcs_err *err)
{
    int r = validate(lowers, n, scratch, target, err);
    if (r < 0)
        return r;
    bool readonly = str_empty(scratch);
    cleanup_free char *upper = readonly ? NULL : xasprintf("%s/upper", scratch);
    cleanup_free char *work = readonly ? NULL : xasprintf("%s/work", scratch);
    cleanup_free char *data = build_data(lowers, n, upper, work);
    /* mount(2) copies at most one page of data and silently cuts the rest,
     * which would surface as a confusing "no such file" on the last layer. */
    long page = sysconf(_SC_PAGESIZE);
    size_t limit = page > 0 ? (size_t)page : 4096;
    if (strlen(data) + 1 > limit)
        return storage_errf(err, HR_E_INVALIDARG, -E2BIG,
                            "overlay on %s: mount options are %zu bytes, more than a page (%zu): too many or too long "
                            "layer paths",
                            target, strlen(data) + 1, limit);

    bool upper_created = false, work_created = false, target_created = false;
    if (!readonly) {
        if ((r = ensure_dir(upper, &upper_created, err)) < 0)
            return err_wrap(err, r, "overlay on %s: create upper directory", target);
        if ((r = ensure_dir(work, &work_created, err)) < 0) {
            undo_dir(upper, upper_created);
            return err_wrap(err, r, "overlay on %s: create work directory", target);
        }
    }
    if ((r = ensure_dir(target, &target_created, err)) < 0) {
        err_wrap(err, r, "overlay: create target directory");
        goto undo;
    }
    if (readonly && n == 1) {
        /* overlayfs refuses a single lower without an upper ("at least 2
         * lowerdir are needed"); a read-only bind shows the same tree. */
        if ((r = storage_bind(lowers[0], target, STORAGE_BIND_RO, err)) < 0) {
            err_wrap(err, r, "read-only rootfs (single layer)");
            goto undo;
        }
        return 0;
    }
    if (mount("overlay", target, "overlay", readonly ? MS_RDONLY : 0, data) < 0) {
        r = err_errno(err, HR_E_FAIL, errno, "mount overlay on %s (%s)", target, data);
        goto undo;
    }
    return 0;

undo:
    if (target_created)
        rmdir(target);
    undo_dir(work, work_created);
    undo_dir(upper, upper_created);
    return r;
}

int storage_overlay_unmount(const char *target, gcs_err *err)
{
    int r = storage_unmount(target, true, err);
    if (r < 0)
        return err_wrap(err, r, "remove overlay");
    return 0;
}

bool storage_bundle_needs_scratch_bind(const char *bundle_dir, const char *scratch)
{
    if (str_empty(scratch))
        return false;
    cleanup_free char *b = path_clean(bundle_dir);
    cleanup_free char *s = path_clean(scratch);
    bool b_abs = b[0] == '/', s_abs = s[0] == '/';
    if (b_abs != s_abs)
        return true; /* unrelated paths: upstream's filepath.Rel fails */
    if (streq(b, "."))
        return streq(s, "..") || str_has_prefix(s, "../");
    return !path_is_within(b, s);
}

int storage_bundle_bind(const char *scratch, const char *bundle_dir, gcs_err *err)
{
    if (str_empty(scratch) || str_empty(bundle_dir))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "bind bundle: empty scratch or bundle path");
    cleanup_free char *src = xasprintf("%s/bundle", scratch);
    int r = mkdir_p(src, 0755, NULL, NULL, err);
    if (r < 0)
        return err_wrap(err, r, "create bundle backing directory");
    if ((r = mkdir_p(bundle_dir, 0755, NULL, NULL, err)) < 0)
        return err_wrap(err, r, "create bundle directory");
    if ((r = storage_bind(src, bundle_dir, 0, err)) < 0)
        return err_wrap(err, r, "bind bundle directory to scratch");
    return 0;
}

int storage_bundle_unbind(const char *bundle_dir, gcs_err *err)
{
    int r = storage_unmount(bundle_dir, false, err);
    if (r < 0)
        return err_wrap(err, r, "unbind bundle directory");
    return 0;
}
