/* sandbox_dirs.c — the mount directories of a sandbox root
 * (docs/pod-model.md §3.4 steps 10-13, §3.6) and their teardown (docs/pod-model.md §5.6 step 1). */
#include "storage/storage.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

enum { DIR_MOUNTS, DIR_TMPFS, DIR_HUGEPAGES, DIR_LOGS, DIR_COUNT };

static const char *const dir_names[DIR_COUNT] = {
    [DIR_MOUNTS] = "sandboxMounts",
    [DIR_TMPFS] = "sandboxTmpfsMounts",
    [DIR_HUGEPAGES] = "hugepages",
    [DIR_LOGS] = "logs",
};

/* What setup did to one directory, so that undo reverses exactly that. */
struct step {
    char *path;
    bool created;
    int mounts; /* stacked on path by us */
};

static void undo(struct step *steps, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        for (int m = 0; m < steps[i].mounts; m++)
            umount2(steps[i].path, 0);
        if (steps[i].created) {
            cleanup_err gcs_err ignored = GCS_ERR_INIT;
            storage_remove_all(steps[i].path, &ignored);
        }
    }
}

static int make_dir(struct step *s, mode_t mode, gcs_err *err)
{
    if (mkdir(s->path, mode) == 0) {
        s->created = true;
        return 0;
    }
    if (errno != EEXIST)
        return err_errno(err, HR_E_FAIL, errno, "mkdir %s", s->path);
    struct stat st;
    if (stat(s->path, &st) < 0)
        return err_errno(err, HR_E_FAIL, errno, "stat %s", s->path);
    if (!S_ISDIR(st.st_mode))
        return err_errno(err, HR_E_FAIL, ENOTDIR, "mkdir %s", s->path);
    return 0;
}

static int self_bind(struct step *s, gcs_err *err)
{
    int r = storage_self_bind_rshared(s->path, err);
    if (r == 0)
        s->mounts++;
    return r;
}

static int setup_steps(struct step *steps, gcs_err *err)
{
    int r;
    /* docs/pod-model.md §3.4 step 10 */
    if ((r = make_dir(&steps[DIR_MOUNTS], 0755, err)) < 0 || (r = self_bind(&steps[DIR_MOUNTS], err)) < 0)
        return r;
    /* step 8: tmpfs, then the self-bind on top of it */
    struct step *t = &steps[DIR_TMPFS];
    if ((r = make_dir(t, 0755, err)) < 0 || (r = storage_mount_tmpfs(t->path, NULL, err)) < 0)
        return r;
    t->mounts++;
    if ((r = self_bind(t, err)) < 0)
        return r;
    /* step 9: hugetlbfs mounts come later, per page size, from workloads */
    if ((r = make_dir(&steps[DIR_HUGEPAGES], 0755, err)) < 0 || (r = self_bind(&steps[DIR_HUGEPAGES], err)) < 0)
        return r;
    /* step 10: world-writable whatever the process umask */
    mode_t old = umask(0);
    r = make_dir(&steps[DIR_LOGS], 0777, err);
    umask(old);
    return r;
}

int storage_sandbox_dirs_setup(const char *root, gcs_err *err)
{
    if (str_empty(root))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "sandbox mount directories: empty root");
    struct stat st;
    if (stat(root, &st) < 0)
        return err_errno(err, HR_E_FAIL, errno, "sandbox mount directories: stat root %s", root);
    if (!S_ISDIR(st.st_mode))
        return err_errno(err, HR_E_FAIL, ENOTDIR, "sandbox mount directories: root %s", root);

    struct step steps[DIR_COUNT] = {0};
    for (size_t i = 0; i < DIR_COUNT; i++)
        steps[i].path = xasprintf("%s/%s", root, dir_names[i]);

    int r = 0;
    /* A second setup on a live root would stack binds and a tmpfs over the
     * first sandbox's (docs/differences.md D-3, D-15): refuse before
     * touching anything. */
    for (size_t i = 0; i < DIR_LOGS && r == 0; i++) {
        bool mounted = false;
        if ((r = storage_is_mountpoint(steps[i].path, &mounted, err)) == 0 && mounted)
            r = storage_errf(err, HR_E_FAIL, -EBUSY, "%s: already mounted", steps[i].path);
    }
    if (r == 0 && (r = setup_steps(steps, err)) < 0)
        undo(steps, DIR_COUNT); /* docs/differences.md D-5 */
    for (size_t i = 0; i < DIR_COUNT; i++)
        free(steps[i].path);
    if (r < 0)
        return err_wrap(err, r, "set up sandbox mount directories under %s", root);
    return 0;
}

int storage_sandbox_dirs_teardown(const char *root, gcs_err *err)
{
    if (str_empty(root))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "sandbox mount directories: empty root");
    int first = 0;
    cleanup_err gcs_err firsterr = GCS_ERR_INIT;
    /* The mount table grows with every pod and costs about a millisecond to
     * produce and parse with a few hundred pods: take each directory's own
     * mount stack off directly, and read the table only when something is
     * mounted below one of them (hugetlbfs under hugepages, say). */
    storage_mount *mounts = NULL;
    size_t nmounts = 0;
    bool have_table = false;
    for (size_t i = 0; i < DIR_COUNT; i++) {
        cleanup_free char *path = xasprintf("%s/%s", root, dir_names[i]);
        cleanup_err gcs_err one = GCS_ERR_INIT;
        int r = 0;
        if (i != DIR_LOGS && storage_unmount(path, false, &one) < 0) {
            err_clear(&one);
            if (!have_table && storage_mountinfo_read(&mounts, &nmounts, NULL) == 0)
                have_table = true;
            r = storage_unmount_all_under_in(have_table ? mounts : NULL, nmounts, path, &one);
        }
        /* Never remove a directory whose mounts did not all come off. */
        if (r == 0)
            r = storage_remove_all(path, &one);
        if (r < 0 && first == 0) {
            first = r;
            err_move(&firsterr, &one);
        }
    }
    storage_mountinfo_free(mounts, nmounts);
    if (first < 0) {
        if (err)
            err_move(err, &firsterr);
        return err_wrap(err, first, "tear down sandbox mount directories under %s", root);
    }
    return 0;
}
