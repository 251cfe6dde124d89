/* test_storage.c — src/storage against the real kernel, inside a private
 * mount namespace (every mount disappears with the process). Temp files live
 * under one mkdtemp directory, removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "common/fsutil.h"
#include "common/path.h"
#include "storage/storage.h"
#include "storage/storage_internal.h"

static char g_base[] = "/tmp/gcs-storage-XXXXXX";
static char *g_dir; /* per-test directory under g_base */
static int g_seq;

/* ---- helpers ---- */

static char *P(const char *fmt, ...) PRINTF(1, 2);
static char *P(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *rel = xvasprintf(fmt, ap);
    va_end(ap);
    return xasprintf("%s/%s", g_dir, rel);
}

static void mkdirs(const char *p)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    assert_int_equal(mkdir_p(p, 0755, NULL, NULL, &err), 0);
}

static void put(const char *p, const char *content)
{
    assert_int_equal(write_file(p, content, strlen(content), 0644), 0);
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static char *slurp(const char *p)
{
    char *s = NULL;
    if (read_file(p, &s, NULL) < 0)
        return NULL;
    return s;
}

/* Entries of the mount table mounted exactly at p, in order. */
static size_t mounts_at(const char *p, storage_mount *out, size_t max)
{
    storage_mount *m = NULL;
    size_t n = 0, k = 0;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    assert_int_equal(storage_mountinfo_read(&m, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (!streq(m[i].mount_point, p))
            continue;
        if (out && k < max) {
            out[k] = m[i];
            memset(&m[i], 0, sizeof(m[i]));
        }
        k++;
    }
    storage_mountinfo_free(m, n);
    return k;
}

static void free_entries(storage_mount *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].root);
        free(e[i].mount_point);
        free(e[i].options);
        free(e[i].optional);
        free(e[i].fstype);
        free(e[i].source);
        free(e[i].super_options);
    }
}

static size_t count_under(const char *p)
{
    char **v = NULL;
    size_t n = 0;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    assert_int_equal(storage_mounts_under(p, &v, &n, &err), 0);
    storage_strv_free(v, n);
    return n;
}

static void tmpfs_at(const char *p)
{
    assert_int_equal(mount("tmpfs", p, "tmpfs", 0, NULL), 0);
}

/* Unmount everything under p (lazily if need be) and remove it: used by the
 * fixtures so a failing test leaves nothing behind. */
static void force_clean(const char *p)
{
    for (int guard = 0; guard < 100; guard++) {
        storage_mount *m = NULL;
        size_t n = 0;
        cleanup_err gcs_err err = GCS_ERR_INIT;
        if (storage_mountinfo_read(&m, &n, &err) < 0)
            break;
        char *last = NULL;
        for (size_t i = 0; i < n; i++)
            if (path_is_within(p, m[i].mount_point))
                last = m[i].mount_point;
        if (last)
            umount2(last, MNT_DETACH);
        storage_mountinfo_free(m, n);
        if (!last)
            break;
    }
    cleanup_err gcs_err err = GCS_ERR_INIT;
    storage_remove_all(p, &err);
}

static int setup_dir(void **state)
{
    (void)state;
    g_dir = xasprintf("%s/t%d", g_base, ++g_seq);
    return mkdir(g_dir, 0755);
}

static int teardown_dir(void **state)
{
    (void)state;
    force_clean(g_dir);
    int r = exists(g_dir) ? -1 : 0;
    free(g_dir);
    g_dir = NULL;
    return r;
}

/* ---- pure helpers ---- */

static void test_mountinfo_parse(void **state)
{
    (void)state;
    const char *text =
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "61 27 0:40 / /tmp/a\\040b\\011c\\012d\\134e rw shared:7 master:2 - tmpfs my\\040src rw,size=4k\n"
        "62 61 0:41 /sub /mnt/x rw,nosuid shared:9 - ext4 /dev/vda \n";
    storage_mount *m = NULL;
    size_t n = 0;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    assert_int_equal(storage_mountinfo_parse(text, &m, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(m[0].id, 22);
    assert_int_equal(m[0].parent_id, 27);
    assert_string_equal(m[0].mount_point, "/proc");
    assert_string_equal(m[0].optional, "");
    assert_string_equal(m[0].fstype, "proc");
    assert_string_equal(m[1].mount_point, "/tmp/a b\tc\nd\\e");
    assert_string_equal(m[1].optional, "shared:7 master:2");
    assert_string_equal(m[1].source, "my src");
    assert_string_equal(m[1].super_options, "rw,size=4k");
    assert_string_equal(m[2].root, "/sub");
    assert_string_equal(m[2].optional, "shared:9");
    assert_string_equal(m[2].super_options, "");

    char **v = NULL;
    size_t k = 0;
    assert_int_equal(storage_mounts_under_in(m, n, "/tmp/a b\tc\nd\\e", &v, &k), 0);
    assert_int_equal(k, 1);
    storage_strv_free(v, k);
    storage_mountinfo_free(m, n);

    static const char *const bad[] = {
        "22 27 0:21 / /proc rw proc proc rw\n", /* no separator */
        "x 27 0:21 / /proc rw - proc proc rw\n", /* id not a number */
        "22 27 0:21 / /proc rw - proc\n",        /* too few after '-' */
        /* fuzz_mountinfo: a line shifted by a missing field left "35" as mount point */
        "37 36 0:5 36 35 98:0 /mnt1 rw - ext3 /dev/root rw\n",
        "22 27 0:21 /  /proc rw - proc proc rw\n", /* doubled space: empty mount point */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        m = NULL;
        n = 0;
        assert_int_equal(storage_mountinfo_parse(bad[i], &m, &n, &err), -EINVAL);
        assert_non_null(strstr(err_msg(&err), "malformed"));
        assert_null(m);
    }
}

/* ---- directories ---- */

static void test_mkdir_p(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *deep = P("a/b/c");
    assert_int_equal(mkdir_p(deep, 0700, NULL, NULL, &err), 0);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700 & ~0022 & 0777);
    assert_int_equal(mkdir_p(deep, 0700, NULL, NULL, &err), 0); /* existing */
    cleanup_free char *file = P("a/f");
    put(file, "x");
    cleanup_free char *under_file = P("a/f/g");
    assert_int_equal(mkdir_p(file, 0755, NULL, NULL, &err), -ENOTDIR);
    assert_true(mkdir_p(under_file, 0755, NULL, NULL, &err) < 0);
}

/* docs/differences.md D-60: the tee log is opened below the logs directory
 * without following any symlink planted there. */
static void test_open_beneath(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *logs = P("logs");
    cleanup_free char *outside = P("outside");
    mkdirs(logs);
    mkdirs(outside);
    cleanup_free char *target = P("outside/t");
    put(target, "keep\n");
    cleanup_free char *l1 = P("logs/evil"), *l2 = P("logs/f.log"), *fifo = P("logs/fifo"), *sub = P("logs/d");
    assert_int_equal(symlink(outside, l1), 0);
    assert_int_equal(symlink(target, l2), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    mkdirs(sub);
    cleanup_free char *l3 = P("logs/d/up");
    assert_int_equal(symlink("..", l3), 0);
    int fd = -1;
    const int fl = O_WRONLY | O_CREAT | O_APPEND;
    const char *bad[] = {"evil/x", "f.log", "fifo", "d/up/outside/t", "../outside/t", "/etc/passwd", "a/../b",
                         "./a", "", "d/..", "d/."};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_true(storage_open_beneath(logs, bad[i], fl, 0666, 0777, &fd, &err) < 0);
        assert_int_equal(err.hr, HR_E_INVALIDARG);
        err_clear(&err);
        assert_int_equal(fd, -1);
    }
    cleanup_free char *t = slurp(target);
    assert_string_equal(t, "keep\n");
    /* a good one: parents made 0777 (umask 0), the file is a plain O_APPEND file */
    assert_int_equal(storage_open_beneath(logs, "a/b/c.log", fl, 0666, 0777, &fd, &err), 0);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    assert_int_equal(fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK), O_APPEND);
    close(fd);
    struct stat st;
    cleanup_free char *ab = P("logs/a/b");
    assert_int_equal(stat(ab, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0777);
    /* the logs directory itself may not be a symlink */
    cleanup_free char *ll = P("logs-link");
    assert_int_equal(symlink(logs, ll), 0);
    assert_true(storage_open_beneath(ll, "x.log", fl, 0666, 0777, &fd, &err) < 0);
}

static void test_remove_all_tree_and_symlinks(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *outside = P("outside");
    cleanup_free char *keep = P("outside/keep");
    mkdirs(outside);
    put(keep, "precious");
    cleanup_free char *tree = P("tree");
    cleanup_free char *deep = P("tree/a/b/c");
    mkdirs(deep);
    cleanup_free char *f1 = P("tree/a/f1");
    cleanup_free char *f2 = P("tree/a/b/c/f2");
    put(f1, "1");
    put(f2, "2");
    cleanup_free char *l1 = P("tree/a/link-dir");
    cleanup_free char *l2 = P("tree/link-file");
    assert_int_equal(symlink(outside, l1), 0);
    assert_int_equal(symlink(keep, l2), 0);
    cleanup_free char *fifo = P("tree/a/b/fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);

    assert_int_equal(storage_remove_all(tree, &err), 0);
    assert_false(exists(tree));
    cleanup_free char *s = slurp(keep);
    assert_string_equal(s, "precious"); /* symlinks were not followed */

    /* missing is success; a plain file is removed; a top-level symlink is
     * removed, not followed */
    assert_int_equal(storage_remove_all(tree, &err), 0);
    cleanup_free char *lone = P("lone");
    put(lone, "x");
    assert_int_equal(storage_remove_all(lone, &err), 0);
    assert_false(exists(lone));
    cleanup_free char *top_link = P("top-link");
    assert_int_equal(symlink(outside, top_link), 0);
    assert_int_equal(storage_remove_all(top_link, &err), 0);
    assert_false(exists(top_link));
    assert_true(exists(keep));

    assert_int_equal(storage_remove_all("/", &err), -EINVAL);
    assert_int_equal(storage_remove_all("", &err), -EINVAL);
}

static void test_remove_all_refuses_mounts(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    /* a tmpfs (another st_dev) inside the tree */
    cleanup_free char *tree = P("tree");
    cleanup_free char *mnt = P("tree/x/mnt");
    cleanup_free char *inner = P("tree/x/mnt/data");
    mkdirs(mnt);
    tmpfs_at(mnt);
    put(inner, "inside the mount");
    assert_int_equal(storage_remove_all(tree, &err), -EBUSY);
    assert_non_null(strstr(err_msg(&err), "mount point"));
    cleanup_free char *s = slurp(inner);
    assert_string_equal(s, "inside the mount");

    /* the path itself a mount point */
    assert_int_equal(storage_remove_all(mnt, &err), -EBUSY);
    assert_true(exists(inner));
    assert_int_equal(umount2(mnt, 0), 0);

    /* a bind of the same filesystem (same st_dev: only the mount id tells) */
    cleanup_free char *src = P("src");
    cleanup_free char *srcfile = P("src/file");
    mkdirs(src);
    put(srcfile, "bound");
    assert_int_equal(mount(src, mnt, NULL, MS_BIND, NULL), 0);
    assert_int_equal(storage_remove_all(tree, &err), -EBUSY);
    assert_true(exists(srcfile));
    assert_int_equal(umount2(mnt, 0), 0);
    assert_int_equal(storage_remove_all(tree, &err), 0);
    assert_false(exists(tree));
}

/* ---- mounts ---- */

static void test_bind_variants(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *src = P("src");
    cleanup_free char *sub = P("src/sub");
    cleanup_free char *file = P("src/file");
    cleanup_free char *dst = P("dst");
    cleanup_free char *dfile = P("dst/file");
    cleanup_free char *dsubfile = P("dst/sub/subfile");
    mkdirs(sub);
    mkdirs(dst);
    put(file, "hello");
    tmpfs_at(sub);
    cleanup_free char *subfile = P("src/sub/subfile");
    put(subfile, "sub");

    /* plain: writable, submount not carried */
    assert_int_equal(storage_bind(src, dst, 0, &err), 0);
    cleanup_free char *s = slurp(dfile);
    assert_string_equal(s, "hello");
    assert_false(exists(dsubfile));
    assert_int_equal(write_file(dfile, "w", 1, 0644), 0);
    assert_int_equal(umount2(dst, 0), 0);

    /* read-only */
    assert_int_equal(storage_bind(src, dst, STORAGE_BIND_RO, &err), 0);
    assert_int_equal(write_file(dfile, "w", 1, 0644), -EROFS);
    assert_int_equal(umount2(dst, 0), 0);

    /* recursive: the submount comes along */
    assert_int_equal(storage_bind(src, dst, STORAGE_BIND_REC, &err), 0);
    assert_true(exists(dsubfile));
    assert_int_equal(umount2(dst, MNT_DETACH), 0);

    /* recursive read-only: the submount is read-only too */
    assert_int_equal(storage_bind(src, dst, STORAGE_BIND_REC | STORAGE_BIND_RO, &err), 0);
    assert_int_equal(write_file(dsubfile, "w", 1, 0644), -EROFS);
    assert_int_equal(write_file(dfile, "w", 1, 0644), -EROFS);
    assert_int_equal(umount2(dst, MNT_DETACH), 0);

    cleanup_free char *missing = P("missing");
    assert_int_equal(storage_bind(missing, dst, 0, &err), -ENOENT);
    assert_non_null(strstr(err_msg(&err), missing));
}

static void test_self_bind_rshared(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *d = P("shared");
    mkdirs(d);
    assert_int_equal(mounts_at(d, NULL, 0), 0);
    assert_int_equal(storage_self_bind_rshared(d, &err), 0);
    storage_mount e[2];
    assert_int_equal(mounts_at(d, e, 2), 1);
    assert_non_null(strstr(e[0].optional, "shared:"));
    free_entries(e, 1);

    /* make_rshared alone on an existing mount point */
    cleanup_free char *t = P("t");
    mkdirs(t);
    tmpfs_at(t);
    assert_int_equal(mounts_at(t, e, 2), 1);
    assert_null(strstr(e[0].optional, "shared:")); /* private namespace */
    free_entries(e, 1);
    assert_int_equal(storage_make_rshared(t, &err), 0);
    assert_int_equal(mounts_at(t, e, 2), 1);
    assert_non_null(strstr(e[0].optional, "shared:"));
    free_entries(e, 1);

    cleanup_free char *missing = P("missing");
    assert_true(storage_self_bind_rshared(missing, &err) < 0);
    assert_int_equal(mounts_at(missing, NULL, 0), 0);
}

static void test_tmpfs_refuses_stacking(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *d = P("tmp");
    cleanup_free char *f = P("tmp/data");
    mkdirs(d);
    assert_int_equal(storage_mount_tmpfs(d, "size=64k,mode=0750", &err), 0);
    storage_mount e[2];
    assert_int_equal(mounts_at(d, e, 2), 1);
    assert_string_equal(e[0].fstype, "tmpfs");
    assert_non_null(strstr(e[0].super_options, "size=64k"));
    free_entries(e, 1);
    put(f, "kept");
    /* docs/differences.md D-15: no second tmpfs hiding the first */
    assert_int_equal(storage_mount_tmpfs(d, NULL, &err), -EBUSY);
    assert_non_null(strstr(err_msg(&err), "already mounted"));
    assert_int_equal(mounts_at(d, NULL, 0), 1);
    cleanup_free char *s = slurp(f);
    assert_string_equal(s, "kept");
}

static void test_hugetlbfs(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *d = P("hp/2M");
    mkdirs(d);
    assert_int_equal(storage_mount_hugetlbfs(d, "2M", &err), 0);
    storage_mount e[1];
    assert_int_equal(mounts_at(d, e, 1), 1);
    assert_string_equal(e[0].fstype, "hugetlbfs");
    assert_non_null(strstr(e[0].super_options, "pagesize=2M"));
    free_entries(e, 1);
    cleanup_free char *d2 = P("hp/3M");
    mkdirs(d2);
    assert_true(storage_mount_hugetlbfs(d2, "3M", &err) < 0);
    assert_non_null(strstr(err_msg(&err), "pagesize=3M"));
    assert_int_equal(storage_mount_hugetlbfs(d2, "2M,size=1", &err), -EINVAL);
    assert_int_equal(mounts_at(d2, NULL, 0), 0);
}

/* ---- mount table ---- */

static void test_mounts_under_separator_and_order(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *abc = P("c/abc");
    cleanup_free char *abcdef = P("c/abcdef");
    cleanup_free char *child = P("c/abc/child");
    mkdirs(abc);
    mkdirs(abcdef);
    tmpfs_at(abc);
    mkdirs(child);
    tmpfs_at(child);
    tmpfs_at(abcdef);

    char **v = NULL;
    size_t n = 0;
    assert_int_equal(storage_mounts_under(abc, &v, &n, &err), 0);
    assert_int_equal(n, 2); /* abcdef is a sibling, not a child */
    assert_string_equal(v[0], abc);
    assert_string_equal(v[1], child);
    storage_strv_free(v, n);

    /* a trailing slash and a "." make no difference */
    cleanup_free char *slashed = P("c/./abc/");
    assert_int_equal(storage_mounts_under(slashed, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    storage_strv_free(v, n);

    /* through a symlink: resolved to the real mount points */
    cleanup_free char *link = P("link");
    cleanup_free char *c = P("c");
    assert_int_equal(symlink(c, link), 0);
    assert_int_equal(storage_mounts_under(link, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    storage_strv_free(v, n);

    bool mp = false;
    assert_int_equal(storage_is_mountpoint(abc, &mp, &err), 0);
    assert_true(mp);
    assert_int_equal(storage_is_mountpoint(c, &mp, &err), 0);
    assert_false(mp);
    cleanup_free char *via_link = P("link/abc");
    assert_int_equal(storage_is_mountpoint(via_link, &mp, &err), 0);
    assert_true(mp);
}

static void test_path_with_space(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *d = P("dir with space\tand tab");
    cleanup_free char *inner = P("dir with space\tand tab/in ner");
    mkdirs(d);
    tmpfs_at(d);
    mkdirs(inner);
    tmpfs_at(inner);
    bool mp = false;
    assert_int_equal(storage_is_mountpoint(d, &mp, &err), 0);
    assert_true(mp);
    char **v = NULL;
    size_t n = 0;
    assert_int_equal(storage_mounts_under(d, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], d);
    assert_string_equal(v[1], inner);
    storage_strv_free(v, n);
    assert_int_equal(storage_unmount_all_under(d, &err), 0);
    assert_int_equal(count_under(d), 0);
}

/* ---- unmount: the cases of upstream internal/guest/storage/mount_test.go ---- */

static void test_unmount_cases(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *parent = P("p");
    cleanup_free char *d = P("p/m");
    mkdirs(d);
    tmpfs_at(parent);
    mkdirs(d);
    tmpfs_at(d);

    /* 118, 121, 122: the mount at exactly P comes off, the parent stays */
    assert_int_equal(storage_unmount(d, false, &err), 0);
    assert_int_equal(mounts_at(d, NULL, 0), 0);
    assert_int_equal(mounts_at(parent, NULL, 0), 1);
    assert_true(exists(d));

    /* 123: not mounted -> EINVAL -> success */
    assert_int_equal(storage_unmount(d, false, &err), 0);

    /* 119: missing path */
    cleanup_free char *missing = P("p/missing");
    assert_int_equal(storage_unmount(missing, true, &err), 0);

    /* 120: the existence check fails otherwise */
    cleanup_free char *file = P("p/file");
    cleanup_free char *under_file = P("p/file/x");
    put(file, "x");
    assert_int_equal(storage_unmount(under_file, false, &err), -ENOTDIR);
    assert_non_null(strstr(err_msg(&err), "stat"));

    /* 124: another unmount error (busy) is returned */
    tmpfs_at(d);
    cleanup_free char *busy = P("p/m/busy");
    put(busy, "x");
    int fd = open(busy, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    int r = storage_unmount(d, true, &err);
    close(fd);
    assert_int_equal(r, -EBUSY);
    assert_int_equal(mounts_at(d, NULL, 0), 1);
    assert_true(exists(busy)); /* nothing removed after a failed unmount */

    /* 125, 126: remove = true removes exactly P, recursively */
    cleanup_free char *sibling = P("p/sibling");
    mkdirs(sibling);
    assert_int_equal(storage_unmount(d, true, &err), 0);
    assert_false(exists(d));
    assert_true(exists(sibling));
    assert_int_equal(mounts_at(parent, NULL, 0), 1);
}

static void test_unmount_stacked_and_limit(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *d = P("stack");
    mkdirs(d);
    for (int i = 0; i < 3; i++)
        tmpfs_at(d);
    assert_int_equal(storage_unmount(d, false, &err), 0);
    assert_int_equal(mounts_at(d, NULL, 0), 0);

    /* more than 5 stacked: reported, and the directory is not emptied */
    cleanup_free char *f = P("stack/f");
    tmpfs_at(d);
    put(f, "bottom"); /* visible again once the 5 upper ones are off */
    for (int i = 0; i < 5; i++)
        tmpfs_at(d);
    assert_false(exists(f));
    assert_int_equal(storage_unmount(d, true, &err), -EBUSY);
    assert_non_null(strstr(err_msg(&err), "still mounted"));
    assert_int_equal(mounts_at(d, NULL, 0), 1);
    assert_true(exists(f));
}

static void test_unmount_all_under_order(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    /* upstream's unmount-all order case: /fake and /fake/test; the child
     * must go first, or the parent unmount would fail with EBUSY */
    cleanup_free char *fake = P("x/fake");
    cleanup_free char *test = P("x/fake/test");
    cleanup_free char *fakeother = P("x/fakeother");
    mkdirs(fake);
    mkdirs(fakeother);
    tmpfs_at(fake);
    mkdirs(test);
    tmpfs_at(test);
    tmpfs_at(fakeother);
    assert_int_equal(count_under(fake), 2);
    assert_int_equal(storage_unmount_all_under(fake, &err), 0);
    assert_int_equal(count_under(fake), 0);
    assert_int_equal(mounts_at(fakeother, NULL, 0), 1); /* prefix sibling untouched */
    assert_true(exists(fake));                          /* directories stay */

    /* nothing mounted / missing path */
    assert_int_equal(storage_unmount_all_under(fake, &err), 0);
    cleanup_free char *missing = P("x/missing");
    assert_int_equal(storage_unmount_all_under(missing, &err), 0);
}

static void test_unmount_all_under_keeps_going(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *root = P("r");
    cleanup_free char *a = P("r/a");
    cleanup_free char *b = P("r/b");
    mkdirs(a);
    mkdirs(b);
    tmpfs_at(a);
    tmpfs_at(b); /* listed last: visited first */
    cleanup_free char *busy = P("r/b/busy");
    put(busy, "x");
    int fd = open(busy, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    int r = storage_unmount_all_under(root, &err);
    close(fd);
    assert_int_equal(r, -EBUSY);
    assert_non_null(strstr(err_msg(&err), b));
    assert_int_equal(mounts_at(a, NULL, 0), 0); /* went on after b failed */
    assert_int_equal(mounts_at(b, NULL, 0), 1);
}

/* ---- overlay ---- */

static void make_layers(char **l1, char **l2)
{
    *l1 = P("layers/top");
    *l2 = P("layers/base");
    mkdirs(*l1);
    mkdirs(*l2);
    cleanup_free char *a = P("layers/top/shared");
    cleanup_free char *b = P("layers/base/shared");
    cleanup_free char *c = P("layers/base/only-base");
    put(a, "top");
    put(b, "base");
    put(c, "base-only");
}

static void test_overlay_with_scratch(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *l1 = NULL, *l2 = NULL;
    make_layers(&l1, &l2);
    const char *lowers[] = {l1, l2};
    cleanup_free char *scratch = P("scratch");
    cleanup_free char *target = P("bundle/rootfs");
    assert_int_equal(storage_overlay_mount(lowers, 2, scratch, target, &err), 0);

    storage_mount e[1];
    assert_int_equal(mounts_at(target, e, 1), 1);
    assert_string_equal(e[0].fstype, "overlay");
    cleanup_free char *want = xasprintf("lowerdir=%s:%s,upperdir=%s/upper,workdir=%s/work", l1, l2, scratch, scratch);
    assert_non_null(strstr(e[0].super_options, want));
    free_entries(e, 1);

    /* the first layer is top-most */
    cleanup_free char *shared = P("bundle/rootfs/shared");
    cleanup_free char *s = slurp(shared);
    assert_string_equal(s, "top");
    /* writes land in <scratch>/upper, the layers are untouched */
    cleanup_free char *nf = P("bundle/rootfs/new-file");
    put(nf, "written");
    cleanup_free char *in_upper = P("scratch/upper/new-file");
    cleanup_free char *u = slurp(in_upper);
    assert_string_equal(u, "written");
    cleanup_free char *in_l1 = P("layers/top/new-file");
    assert_false(exists(in_l1));
    struct stat st;
    cleanup_free char *work = P("scratch/work");
    assert_int_equal(stat(work, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);

    assert_int_equal(storage_overlay_unmount(target, &err), 0);
    assert_int_equal(mounts_at(target, NULL, 0), 0);
    assert_false(exists(target));
    assert_true(exists(in_upper)); /* scratch survives */
    assert_int_equal(storage_overlay_unmount(target, &err), 0); /* again: missing is fine */
}

static void test_overlay_read_only(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *l1 = NULL, *l2 = NULL;
    make_layers(&l1, &l2);
    const char *lowers[] = {l1, l2};
    cleanup_free char *target = P("ro/rootfs");
    cleanup_free char *nf = P("ro/rootfs/new");
    cleanup_free char *base = P("ro/rootfs/only-base");

    assert_int_equal(storage_overlay_mount(lowers, 2, "", target, &err), 0);
    storage_mount e[1];
    assert_int_equal(mounts_at(target, e, 1), 1);
    assert_string_equal(e[0].fstype, "overlay");
    assert_null(strstr(e[0].super_options, "upperdir"));
    free_entries(e, 1);
    assert_true(exists(base));
    assert_int_equal(write_file(nf, "x", 1, 0644), -EROFS);
    assert_int_equal(storage_overlay_unmount(target, &err), 0);

    /* one layer, no scratch: a read-only bind (overlayfs needs two lowers) */
    cleanup_free char *single = P("ro/rootfs/shared");
    assert_int_equal(storage_overlay_mount(lowers, 1, NULL, target, &err), 0);
    assert_int_equal(mounts_at(target, NULL, 0), 1);
    cleanup_free char *s = slurp(single);
    assert_string_equal(s, "top");
    assert_int_equal(write_file(nf, "x", 1, 0644), -EROFS);
    assert_int_equal(storage_overlay_unmount(target, &err), 0);
    assert_false(exists(target));
}

static void test_overlay_rejects(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *l1 = NULL, *l2 = NULL;
    make_layers(&l1, &l2);
    cleanup_free char *scratch = P("scratch");
    cleanup_free char *target = P("bad/rootfs");
    cleanup_free char *upper = P("scratch/upper");

    static const char *const bad_names[] = {"has:colon", "has,comma"};
    for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
        cleanup_free char *bad = P("%s", bad_names[i]);
        mkdirs(bad);
        const char *lowers[] = {l1, bad};
        assert_int_equal(storage_overlay_mount(lowers, 2, scratch, target, &err), -EINVAL);
        assert_non_null(strstr(err_msg(&err), "':' or ','"));
        assert_false(exists(target)); /* rejected before any side effect */
        assert_false(exists(upper));
    }
    cleanup_free char *comma_scratch = P("scr,atch");
    const char *lowers[] = {l1, l2};
    assert_int_equal(storage_overlay_mount(lowers, 2, comma_scratch, target, &err), -EINVAL);
    assert_int_equal(storage_overlay_mount(lowers, 0, scratch, target, &err), -EINVAL);
    assert_int_equal(storage_overlay_mount(lowers, 2, scratch, "", &err), -EINVAL);

    /* more option text than a page */
    size_t nl = 64;
    char **many = xzalloc(nl * sizeof(*many));
    for (size_t i = 0; i < nl; i++)
        many[i] = xasprintf("%s/%0100zu", l1, i);
    assert_int_equal(storage_overlay_mount((const char *const *)many, nl, scratch, target, &err), -E2BIG);
    assert_non_null(strstr(err_msg(&err), "more than a page"));
    storage_strv_free(many, nl);
    assert_false(exists(target));

    /* the kernel refuses (missing layer): what was created is removed again */
    cleanup_free char *missing = P("layers/missing");
    const char *with_missing[] = {l1, missing};
    assert_true(storage_overlay_mount(with_missing, 2, scratch, target, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "mount overlay"));
    assert_false(exists(target));
    assert_false(exists(upper));

    /* ... but a pre-existing upper (a previous container's data) is kept */
    mkdirs(upper);
    cleanup_free char *old = P("scratch/upper/old");
    put(old, "old");
    assert_true(storage_overlay_mount(with_missing, 2, scratch, target, &err) < 0);
    assert_true(exists(old));
}

/* ---- bundle-to-scratch bind (docs/pod-model.md §3.5) ---- */

static void test_bundle_needs_bind(void **state)
{
    (void)state;
    static const struct {
        const char *bundle, *scratch;
        bool want;
    } cases[] = {
        {"/run/gcs/c/abc", "", false},
        {"/run/gcs/c/abc", NULL, false},
        {"/run/gcs/c/abc", "/run/gcs/c/abc/scratch", false},
        {"/run/gcs/c/abc", "/run/gcs/c/abc", false},
        {"/run/gcs/c/abc/", "/run/gcs/c/abc/./scratch/x", false},
        {"/run/gcs/c/abc", "/run/gcs/c/abcdef/scratch", true},
        {"/run/gcs/pods/p/c", "/run/mounts/scsi/0_2_0/scratch/p/c", true},
        {"/run/gcs/c/abc", "/run/gcs/c", true},
        {"/run/gcs/c/abc", "/run/gcs/c/abc/../x", true},
        {"/run/gcs/c/abc", "relative/scratch", true},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool got = storage_bundle_needs_scratch_bind(cases[i].bundle, cases[i].scratch);
        if (got != cases[i].want)
            fail_msg("needs_bind(%s, %s) = %d", cases[i].bundle, cases[i].scratch ? cases[i].scratch : "(null)", got);
    }
}

static void test_bundle_bind(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *scratch = P("scsi/scratch/p/c");
    cleanup_free char *bundle = P("pods/p/c");
    mkdirs(scratch);
    assert_int_equal(storage_bundle_bind(scratch, bundle, &err), 0);
    assert_int_equal(mounts_at(bundle, NULL, 0), 1);
    cleanup_free char *cfg = P("pods/p/c/config.json");
    put(cfg, "{}");
    cleanup_free char *backing = P("scsi/scratch/p/c/bundle/config.json");
    assert_true(exists(backing)); /* the bundle lives on the scratch */

    /* an overlay on <bundle>/rootfs on top of the bind */
    cleanup_free char *l1 = NULL, *l2 = NULL;
    make_layers(&l1, &l2);
    const char *lowers[] = {l1, l2};
    cleanup_free char *rootfs = P("pods/p/c/rootfs");
    assert_int_equal(storage_overlay_mount(lowers, 2, scratch, rootfs, &err), 0);
    assert_true(storage_bundle_unbind(bundle, &err) < 0); /* busy while the overlay is on it */
    assert_int_equal(storage_overlay_unmount(rootfs, &err), 0);

    assert_int_equal(storage_bundle_unbind(bundle, &err), 0);
    assert_int_equal(mounts_at(bundle, NULL, 0), 0);
    assert_true(exists(bundle)); /* directory kept */
    assert_false(exists(cfg));
    assert_true(exists(backing));
    assert_int_equal(storage_bundle_unbind(bundle, &err), 0); /* idempotent */
}

/* ---- sandbox root (docs/pod-model.md §3.4 steps 10-13, §3.6) ---- */

static void check_sandbox_stack(const char *root)
{
    storage_mount e[3];
    cleanup_free char *m = xasprintf("%s/sandboxMounts", root);
    cleanup_free char *t = xasprintf("%s/sandboxTmpfsMounts", root);
    cleanup_free char *h = xasprintf("%s/hugepages", root);
    cleanup_free char *l = xasprintf("%s/logs", root);

    assert_int_equal(mounts_at(m, e, 3), 1);
    assert_non_null(strstr(e[0].optional, "shared:"));
    free_entries(e, 1);

    /* tmpfs, then the self-bind stacked on it */
    assert_int_equal(mounts_at(t, e, 3), 2);
    assert_string_equal(e[0].fstype, "tmpfs");
    assert_string_equal(e[1].fstype, "tmpfs");
    assert_int_equal(e[1].parent_id, e[0].id);
    assert_non_null(strstr(e[1].optional, "shared:"));
    free_entries(e, 2);

    assert_int_equal(mounts_at(h, e, 3), 1);
    assert_non_null(strstr(e[0].optional, "shared:"));
    free_entries(e, 1);

    struct stat st;
    assert_int_equal(stat(l, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0777);
    assert_int_equal(stat(m, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
}

static void test_sandbox_setup_teardown(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cleanup_free char *root = P("run/gcs/c/sb");
    mkdirs(root);
    mode_t old = umask(0022);
    int r = storage_sandbox_dirs_setup(root, &err);
    umask(old);
    assert_int_equal(r, 0);
    check_sandbox_stack(root);
    assert_int_equal(count_under(root), 4);

    /* workloads add things: a hugetlbfs per page size, a nested tmpfs, data */
    cleanup_free char *hp = xasprintf("%s/hugepages/2M", root);
    mkdirs(hp);
    assert_int_equal(storage_mount_hugetlbfs(hp, "2M", &err), 0);
    cleanup_free char *vol = xasprintf("%s/sandboxMounts/vol", root);
    mkdirs(vol);
    tmpfs_at(vol);
    cleanup_free char *data = xasprintf("%s/sandboxTmpfsMounts/data", root);
    put(data, "d");
    cleanup_free char *hostname = xasprintf("%s/hostname", root);
    put(hostname, "h\n");

    /* a second setup on a live root is refused and changes nothing */
    assert_int_equal(storage_sandbox_dirs_setup(root, &err), -EBUSY);
    assert_non_null(strstr(err_msg(&err), "already mounted"));
    assert_int_equal(count_under(root), 6);
    assert_true(exists(data));

    assert_int_equal(storage_sandbox_dirs_teardown(root, &err), 0);
    assert_int_equal(count_under(root), 0);
    static const char *const names[] = {"sandboxMounts", "sandboxTmpfsMounts", "hugepages", "logs"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        cleanup_free char *p = xasprintf("%s/%s", root, names[i]);
        assert_false(exists(p));
    }
    assert_true(exists(hostname)); /* the rest of the root is not ours */
    assert_int_equal(storage_sandbox_dirs_teardown(root, &err), 0); /* idempotent */

    /* set up again after teardown */
    assert_int_equal(storage_sandbox_dirs_setup(root, &err), 0);
    assert_int_equal(count_under(root), 4);
    assert_int_equal(storage_sandbox_dirs_teardown(root, &err), 0);
    assert_int_equal(count_under(root), 0);
}

static void test_sandbox_setup_undo(void **state)
{
    (void)state;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    /* docs/differences.md D-5: a failure at docs/pod-model.md §3.4 step 12
     * or 13 undoes steps 10-11 (and 12) completely, mounts included */
    static const char *const blockers[] = {"hugepages", "logs"};
    for (size_t i = 0; i < ARRAY_SIZE(blockers); i++) {
        cleanup_free char *root = P("undo%zu", i);
        mkdirs(root);
        cleanup_free char *blocker = xasprintf("%s/%s", root, blockers[i]);
        put(blocker, "not a directory");
        assert_int_equal(storage_sandbox_dirs_setup(root, &err), -ENOTDIR);
        assert_non_null(strstr(err_msg(&err), blockers[i]));
        assert_int_equal(count_under(root), 0);
        cleanup_free char *m = xasprintf("%s/sandboxMounts", root);
        cleanup_free char *t = xasprintf("%s/sandboxTmpfsMounts", root);
        cleanup_free char *h = xasprintf("%s/hugepages", root);
        assert_false(exists(m));
        assert_false(exists(t));
        assert_true(exists(blocker)); /* not ours: left alone */
        if (i == 1)
            assert_false(exists(h));
    }

    /* a pre-existing directory is kept on undo (only what setup made goes) */
    cleanup_free char *root = P("undo-pre");
    cleanup_free char *pre = P("undo-pre/sandboxMounts/keep");
    mkdirs(pre);
    cleanup_free char *blocker = P("undo-pre/logs");
    put(blocker, "x");
    assert_int_equal(storage_sandbox_dirs_setup(root, &err), -ENOTDIR);
    assert_int_equal(count_under(root), 0);
    assert_true(exists(pre));

    cleanup_free char *missing = P("no-root");
    assert_int_equal(storage_sandbox_dirs_setup(missing, &err), -ENOENT);
    assert_false(exists(missing));
}

int main(void)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        perror("private mount namespace");
        return 1;
    }
    if (!mkdtemp(g_base)) {
        perror("mkdtemp");
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mountinfo_parse),
        T(test_mkdir_p),
        T(test_open_beneath),
        T(test_remove_all_tree_and_symlinks),
        T(test_remove_all_refuses_mounts),
        T(test_bind_variants),
        T(test_self_bind_rshared),
        T(test_tmpfs_refuses_stacking),
        T(test_hugetlbfs),
        T(test_mounts_under_separator_and_order),
        T(test_path_with_space),
        T(test_unmount_cases),
        T(test_unmount_stacked_and_limit),
        T(test_unmount_all_under_order),
        T(test_unmount_all_under_keeps_going),
        T(test_overlay_with_scratch),
        T(test_overlay_read_only),
        T(test_overlay_rejects),
        cmocka_unit_test(test_bundle_needs_bind),
        T(test_bundle_bind),
        T(test_sandbox_setup_teardown),
        T(test_sandbox_setup_undo),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_dir);
    g_dir = NULL;
    force_clean(g_base);
    if (exists(g_base)) {
        fprintf(stderr, "leaked %s\n", g_base);
        return 1;
    }
    return failed;
}
