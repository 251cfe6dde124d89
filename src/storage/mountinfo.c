/* mountinfo.c — reading /proc/self/mountinfo (proc(5)). */
#include "storage/storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include "storage/storage_internal.h"

#include "common/path.h"

#include <errno.h>

#define MOUNTINFO_PATH "/proc/self/mountinfo"

/* The kernel escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
            s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out[w++] = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
            i += 3;
        } else {
            out[w++] = s[i];
        }
    }
    out[w] = '\0';
    return out;
}

static void mount_clear(storage_mount *m)
{
    free(m->root);
    free(m->mount_point);
    free(m->options);
    free(m->optional);
    free(m->fstype);
    free(m->source);
    free(m->super_options);
    memset(m, 0, sizeof(*m));
}

void storage_mountinfo_free(storage_mount *mounts, size_t n)
{
    if (!mounts)
        return;
    for (size_t i = 0; i < n; i++)
        mount_clear(&mounts[i]);
    free(mounts);
}

void storage_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Split one line (without its newline) into space-separated fields. */
static size_t split_fields(const char *line, size_t len, const char **starts, size_t *lens, size_t max)
{
    size_t n = 0;
    size_t i = 0;
    while (i < len && n < max) {
        size_t e = i;
        while (e < len && line[e] != ' ')
            e++;
        starts[n] = line + i;
        lens[n] = e - i;
        n++;
        i = e + 1;
    }
    return n;
}

static bool parse_int(const char *s, size_t len, int *ret)
{
    if (len == 0 || len > 9)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return true;
}

#define MAX_FIELDS 64

static int parse_line(const char *line, size_t len, size_t lineno, storage_mount *m, gcs_err *err)
{
    const char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    size_t n = split_fields(line, len, f, fl, MAX_FIELDS);
    size_t sep = 0;
    for (size_t i = 6; i < n; i++) {
        if (fl[i] == 1 && f[i][0] == '-') {
            sep = i;
            break;
        }
    }
    /* id parent maj:min root mount_point options [optional...] - fstype source super */
    if (sep == 0 || (n != sep + 4 && n != sep + 3) || !parse_int(f[0], fl[0], &m->id) ||
        !parse_int(f[1], fl[1], &m->parent_id))
        return storage_errf(err, HR_E_FAIL, -EINVAL, "mountinfo line %zu: malformed: %.*s", lineno, (int)len,
                            line);
    m->root = unescape(f[3], fl[3]);
    m->mount_point = unescape(f[4], fl[4]);
    m->options = xstrndup(f[5], fl[5]);
    m->optional = sep > 6 ? xstrndup(f[6], (size_t)(f[sep - 1] + fl[sep - 1] - f[6])) : xstrdup("");
    m->fstype = unescape(f[sep + 1], fl[sep + 1]);
    m->source = unescape(f[sep + 2], fl[sep + 2]);
    m->super_options = n == sep + 4 ? unescape(f[sep + 3], fl[sep + 3]) : xstrdup("");
    /* proc(5): the mount point is an absolute path; a shifted line (an empty
     * field from a doubled space, a missing one) would otherwise pass with a
     * relative one (found by fuzz_mountinfo). The root may be "net:[...]". */
    if (m->mount_point[0] != '/') {
        int r = storage_errf(err, HR_E_FAIL, -EINVAL, "mountinfo line %zu: malformed: mount point %s is not absolute",
                             lineno, m->mount_point);
        mount_clear(m);
        return r;
    }
    return 0;
}

int storage_mountinfo_parse(const char *text, storage_mount **ret, size_t *ret_n, gcs_err *err)
{
    storage_mount *v = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (len > 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                v = xrealloc(v, cap * sizeof(*v));
            }
            memset(&v[n], 0, sizeof(v[n]));
            int r = parse_line(p, len, lineno, &v[n], err);
            if (r < 0) {
                storage_mountinfo_free(v, n);
                return r;
            }
            n++;
        }
        p += len + (nl ? 1 : 0);
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int storage_mountinfo_read(storage_mount **ret, size_t *ret_n, gcs_err *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    int r = read_file(MOUNTINFO_PATH, &text, &len);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "read %s", MOUNTINFO_PATH);
    if ((r = storage_mountinfo_parse(text, ret, ret_n, err)) < 0)
        return err_wrap(err, r, "parse %s", MOUNTINFO_PATH);
    return 0;
}

int storage_mounts_under_in(const storage_mount *mounts, size_t n, const char *path, char ***ret, size_t *ret_n)
{
    char **v = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!path_is_within(path, mounts[i].mount_point))
            continue;
        v = xrealloc(v, (k + 1) * sizeof(*v));
        v[k++] = xstrdup(mounts[i].mount_point);
    }
    *ret = v;
    *ret_n = k;
    return 0;
}

int storage_mounts_under(const char *path, char ***ret, size_t *ret_n, gcs_err *err)
{
    if (str_empty(path))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "list mounts: empty path");
    storage_mount *mounts = NULL;
    size_t n = 0;
    int r = storage_mountinfo_read(&mounts, &n, err);
    if (r < 0)
        return r;
    cleanup_free char *canon = storage_path_canonical(path);
    r = storage_mounts_under_in(mounts, n, canon, ret, ret_n);
    storage_mountinfo_free(mounts, n);
    return r;
}

int storage_is_mountpoint(const char *path, bool *ret, gcs_err *err)
{
    if (str_empty(path))
        return storage_errf(err, HR_E_INVALIDARG, -EINVAL, "is mount point: empty path");
    /* Fast path: the kernel says whether a path is the root of a mount
     * (Linux 5.8+). Reading mountinfo costs O(mounts) and an agent with
     * hundreds of pods asks this on every create and delete. */
    struct statx stx;
    if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx) == 0 &&
        (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
        *ret = (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
        return 0;
    }
    if (errno == ENOENT || errno == ENOTDIR) {
        *ret = false;
        return 0;
    }
    storage_mount *mounts = NULL;
    size_t n = 0;
    int r = storage_mountinfo_read(&mounts, &n, err);
    if (r < 0)
        return r;
    cleanup_free char *canon = storage_path_canonical(path);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = streq(mounts[i].mount_point, canon);
    storage_mountinfo_free(mounts, n);
    *ret = found;
    return 0;
}
