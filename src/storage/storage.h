/* storage.h — directories, mounts and overlays in the guest (docs/pod-model.md §3.4-3.6, §5.5).
 *
 * Contract: every function is synchronous, returns 0 or a negative errno and
 * fills err on failure. Paths are absolute; the mount table is read from
 * /proc/self/mountinfo, mount points are compared after resolving symlinks
 * (realpath) when the path exists, and "under P" always means "equal to P or
 * starting with P + '/'" (docs/differences.md D-8). Removal never follows a
 * symlink and never descends into another mount: a mount point inside a tree
 * is an error, not something to empty. Nothing here keeps state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* ---- directories (fs.c) ---- */

/* rm -rf without following symlinks or crossing mounts (descriptor-relative).
 * A missing path is success. A mount point at or inside path -> -EBUSY. */
int storage_remove_all(const char *path, gcs_err *err);

/* ---- mount table (mountinfo.c) ---- */

typedef struct storage_mount {
    int id;
    int parent_id;
    char *root;          /* root of the mount inside its filesystem */
    char *mount_point;   /* unescaped */
    char *options;       /* per-mount options (rw,relatime,...) */
    char *optional;      /* optional fields joined by ' ' ("shared:12 master:3"), "" if none */
    char *fstype;
    char *source;        /* unescaped */
    char *super_options;
} storage_mount;

/* Parse mountinfo text (for tests and for storage_mountinfo_read). Octal
 * escapes \040 \011 \012 \134 (any \ooo) are decoded. Malformed lines -> -EINVAL. */
int storage_mountinfo_parse(const char *text, storage_mount **ret, size_t *ret_n, gcs_err *err);
int storage_mountinfo_read(storage_mount **ret, size_t *ret_n, gcs_err *err);
void storage_mountinfo_free(storage_mount *mounts, size_t n);

/* Mount points equal to path or under path + "/", in mountinfo order (a point
 * mounted several times appears several times). Free with storage_strv_free. */
int storage_mounts_under(const char *path, char ***ret, size_t *ret_n, gcs_err *err);
/* Same over an already parsed table (no path resolution; path is only cleaned). */
int storage_mounts_under_in(const storage_mount *mounts, size_t n, const char *path, char ***ret,
                            size_t *ret_n);
/* True when something is mounted exactly at path. */
int storage_is_mountpoint(const char *path, bool *ret, gcs_err *err);
void storage_strv_free(char **v, size_t n);

/* ---- mounts (mount.c) ---- */

enum {
    STORAGE_BIND_RO = 1 << 0,  /* read-only (recursively with STORAGE_BIND_REC) */
    STORAGE_BIND_REC = 1 << 1, /* MS_REC: take submounts along */
};
int storage_bind(const char *src, const char *dst, unsigned flags, gcs_err *err);
/* mount(NULL, path, MS_SHARED|MS_REC). */
int storage_make_rshared(const char *path, gcs_err *err);
/* Bind dir onto itself, then make it recursively shared (upstream MountRShared).
 * If the propagation change fails, the bind is undone. */
int storage_self_bind_rshared(const char *dir, gcs_err *err);
/* tmpfs (source "tmpfs", no flags, data may be NULL) on dir. Refuses with
 * -EBUSY "already mounted" when something is mounted exactly at dir, instead of
 * stacking a second tmpfs that hides the first (docs/differences.md D-15). */
int storage_mount_tmpfs(const char *dir, const char *data, gcs_err *err);
/* hugetlbfs with "pagesize=<pagesize>" on dir (dir must exist). */
int storage_mount_hugetlbfs(const char *dir, const char *pagesize, gcs_err *err);

/* Upstream UnmountPath (upstream internal/guest/storage/mount_test.go): missing path ->
 * success; umount2(path, 0) up to 5 times until EINVAL (not mounted, success);
 * other errors returned. Still mounted after 5 -> -EBUSY (upstream only warns).
 * With remove_dir, storage_remove_all(path) afterwards. */
int storage_unmount(const char *path, bool remove_dir, gcs_err *err);
/* Unmount every mount at/under path, last in mountinfo order first (children
 * before parents, case 127). Keeps going on failure; returns the first error
 * with all messages joined. Does not remove directories. */
int storage_unmount_all_under(const char *path, gcs_err *err);
/* The same against a mount table the caller read once (NULL: read it now). */
int storage_unmount_all_under_in(const storage_mount *mounts, size_t nmounts, const char *path, gcs_err *err);

/* ---- overlay and bundle (overlay.c; docs/protocol.md §4.9, docs/pod-model.md §3.5) ---- */

/* Overlay at target (created 0755 if missing; removed again on failure if it
 * was created here). lowerdir = lowers joined by ':' in the given order (first
 * is top-most). With scratch non-empty: upperdir=<scratch>/upper,
 * workdir=<scratch>/work (created 0755). With scratch NULL or "": read-only;
 * a single lower is then bind-mounted read-only, since overlayfs needs two
 * lowers without an upper. Lower paths containing ':' or ',' and option
 * strings that do not fit in a page are rejected with -EINVAL / -E2BIG. */
int storage_overlay_mount(const char *const *lowers, size_t n, const char *scratch, const char *target,
                          gcs_err *err);
/* CombinedLayers Remove: storage_unmount(target, remove_dir = true). */
int storage_overlay_unmount(const char *target, gcs_err *err);

/* docs/pod-model.md §3.5: a bind is needed when scratch is non-empty and not equal to
 * or under bundle_dir (lexical, after cleaning). */
bool storage_bundle_needs_scratch_bind(const char *bundle_dir, const char *scratch);
/* Create <scratch>/bundle and bundle_dir (0755) and bind the first onto the second. */
int storage_bundle_bind(const char *scratch, const char *bundle_dir, gcs_err *err);
/* Undo: detach the bind from bundle_dir, keep the directory (docs/pod-model.md §5.5 step 5). */
int storage_bundle_unbind(const char *bundle_dir, gcs_err *err);

/* ---- sandbox root (sandbox_dirs.c; docs/pod-model.md §3.4 steps 10-13, §3.6) ---- */

/* Under root (which must exist): sandboxMounts (self-bind rshared),
 * sandboxTmpfsMounts (tmpfs, then self-bind rshared), hugepages (self-bind
 * rshared), logs (0777 with umask 0). On failure everything done so far is
 * undone, mounts and directories (fix of docs/differences.md D-5). */
int storage_sandbox_dirs_setup(const char *root, gcs_err *err);
/* The inverse of setup: unmount everything under each of the three mount
 * directories (deepest first, docs/pod-model.md §5.6 step 1), remove them, then
 * remove logs. Keeps going on failure. Idempotent (missing parts are fine). */
int storage_sandbox_dirs_teardown(const char *root, gcs_err *err);

/* ---- below a directory others can write into (beneath.c) ---- */

/* Open rel (relative, no "." or ".." elements) below dir with flags (O_CREAT
 * honoured with mode), creating missing parent directories with dir_mode
 * (umask 0). dir itself and every component must not be symlinks, nothing may
 * resolve outside dir (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, no mount
 * crossing), and the result must be a regular file (a FIFO does not block:
 * it is refused). *ret is close-on-exec. Refusals are HR_E_INVALIDARG. */
int storage_open_beneath(const char *dir, const char *rel, int flags, mode_t mode, mode_t dir_mode, int *ret,
                         gcs_err *err);
