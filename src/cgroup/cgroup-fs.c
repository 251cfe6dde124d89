/* cgroup-fs.c — file and directory primitives shared by both back ends. */
#include "cgroup/cgroup-internal.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#define RMDIR_ATTEMPTS 5
#define RMDIR_FIRST_BACKOFF_NS (10 * 1000 * 1000L)

static bool fs_magic(const char *path, unsigned long *ret)
{
    struct statfs st;
    if (statfs(path, &st) < 0)
        return false;
    *ret = (unsigned long)st.f_type;
    return true;
}

bool cg_is_cgroupfs(const char *path)
{
    unsigned long m;
    return fs_magic(path, &m) && (m == CGROUP_SUPER_MAGIC || m == CGROUP2_SUPER_MAGIC);
}

bool cg_is_cgroup1_mount(const char *path)
{
    unsigned long m;
    return fs_magic(path, &m) && m == CGROUP_SUPER_MAGIC;
}

int cg_write(const char *dir, const char *file, const char *val, gcs_err *err)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, file);
    int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !cg_is_cgroupfs(dir))
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* fake tree */
    if (fd < 0)
        return err_errno(err, HR_E_FAIL, errno, "open %s", p);
    cleanup_close int cfd = fd;
    int r = write_all(cfd, val, strlen(val));
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "write %s to %s", val, p);
    return 0;
}

int cg_write_i64(const char *dir, const char *file, int64_t v, gcs_err *err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return cg_write(dir, file, buf, err);
}

int cg_read(const char *dir, const char *file, char **ret)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, file);
    return read_file(p, ret, NULL);
}

static int parse_u64(const char *s, uint64_t *ret)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (str_has_prefix(s, "max") && (s[3] == '\0' || s[3] == '\n' || s[3] == ' ')) {
        *ret = UINT64_MAX;
        return 0;
    }
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || (*end != '\0' && *end != '\n' && *end != ' '))
        return -EINVAL;
    *ret = v;
    return 0;
}

int cg_read_u64(const char *dir, const char *file, uint64_t *ret)
{
    cleanup_free char *text = NULL;
    int r = cg_read(dir, file, &text);
    if (r < 0)
        return r;
    return parse_u64(text, ret);
}

bool cg_kv_lookup(const char *text, const char *key, uint64_t *ret)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            uint64_t v;
            if (parse_u64(line + klen + 1, &v) == 0) {
                *ret = v;
                return true;
            }
            return false;
        }
    }
    return false;
}

int cg_mkdir_p(const char *base, const char *rel, char ***created, size_t *ncreated, gcs_err *err)
{
    cleanup_free char *full = xasprintf("%s/%s", base, rel);
    mkdir_made made = {*created, *ncreated};
    int r = mkdir_p(full, 0755, NULL, &made, err);
    *created = made.v;
    *ncreated = made.n;
    return r;
}

void cg_rollback(char **created, size_t ncreated)
{
    for (size_t i = ncreated; i-- > 0;) {
        gcs_err e = GCS_ERR_INIT;
        (void)cg_tree_remove(created[i], &e);
        err_clear(&e);
        free(created[i]);
    }
    free(created);
}

/* Calls fn for each pid in dir/cgroup.procs of dir and every descendant.
 * fn returns <0 to stop with that error, 1 to stop successfully. */
typedef int (*pid_fn)(pid_t pid, void *ud, gcs_err *err);

static int tree_walk_pids(const char *dir, pid_fn fn, void *ud, gcs_err *err)
{
    cleanup_free char *text = NULL;
    int r = cg_read(dir, "cgroup.procs", &text);
    if (r == -ENOENT && access(dir, F_OK) < 0)
        return 0; /* the cgroup is gone */
    if (r < 0 && r != -ENOENT)
        return err_errno(err, HR_E_FAIL, -r, "read %s/cgroup.procs", dir);
    for (char *s = text, *save = NULL, *tok; s || save; s = NULL) {
        tok = strtok_r(s, "\n", &save);
        if (!tok)
            break;
        char *end;
        long pid = strtol(tok, &end, 10);
        if (end == tok || pid <= 0)
            continue;
        if ((r = fn((pid_t)pid, ud, err)) != 0)
            return r;
    }
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : err_errno(err, HR_E_FAIL, errno, "opendir %s", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        cleanup_free char *sub = xasprintf("%s/%s", dir, de->d_name);
        if ((r = tree_walk_pids(sub, fn, ud, err)) != 0)
            return r;
    }
    return 0;
}

static int found_pid(pid_t pid UNUSED, void *ud, gcs_err *err UNUSED)
{
    *(bool *)ud = true;
    return 1;
}

int cg_tree_has_procs(const char *dir, bool *ret, gcs_err *err)
{
    bool found = false;
    int r = tree_walk_pids(dir, found_pid, &found, err);
    if (r < 0)
        return r;
    *ret = found;
    return 0;
}

static int kill_pid(pid_t pid, void *ud UNUSED, gcs_err *err)
{
    if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
        return err_errno(err, HR_E_FAIL, errno, "kill %d", (int)pid);
    return 0;
}

int cg_tree_kill(const char *dir, gcs_err *err)
{
    return tree_walk_pids(dir, kill_pid, NULL, err);
}

/* A fake tree keeps its interface files as regular files; remove them so the
 * rmdir can succeed. Never reached on cgroupfs. */
static void unlink_fake_files(const char *dir)
{
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_type == DT_REG)
            (void)unlinkat(dirfd(d), de->d_name, 0);
}

static int rmdir_retry(const char *dir, gcs_err *err)
{
    long backoff = RMDIR_FIRST_BACKOFF_NS;
    bool fake_cleaned = false;
    int e = 0;
    for (int attempt = 0; attempt < RMDIR_ATTEMPTS; attempt++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        e = errno;
        if ((e == ENOTEMPTY || e == EEXIST) && !fake_cleaned && !cg_is_cgroupfs(dir)) {
            unlink_fake_files(dir);
            fake_cleaned = true;
            attempt--; /* not a kernel retry */
            continue;
        }
        if (e != EBUSY)
            break;
        /* The kernel gives no event for "css released": back off briefly. */
        log_info("cgroup busy on rmdir; retrying", KV_S("path", dir), KV_I("attempt", attempt + 1));
        struct timespec ts = {.tv_sec = 0, .tv_nsec = backoff};
        nanosleep(&ts, NULL);
        backoff *= 2;
    }
    return err_errno(err, HR_E_FAIL, e, "rmdir %s", dir);
}

int cg_tree_remove(const char *dir, gcs_err *err)
{
    {
        cleanup_dir DIR *d = opendir(dir);
        if (!d)
            return errno == ENOENT ? 0 : err_errno(err, HR_E_FAIL, errno, "opendir %s", dir);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                continue;
            cleanup_free char *sub = xasprintf("%s/%s", dir, de->d_name);
            int r = cg_tree_remove(sub, err);
            if (r < 0)
                return r;
        }
    }
    return rmdir_retry(dir, err);
}

int cg_common_has_processes(cgroup *cg, bool *ret, gcs_err *err)
{
    for (size_t i = 0; i < cg->ndirs; i++) {
        bool found = false;
        int r = cg_tree_has_procs(cg->dirs[i], &found, err);
        if (r < 0)
            return r;
        if (found) {
            *ret = true;
            return 0;
        }
    }
    *ret = false;
    return 0;
}

int cg_common_delete(cgroup *cg, gcs_err *err)
{
    bool busy = false;
    int r = cg_common_has_processes(cg, &busy, err);
    if (r < 0)
        return r;
    if (busy)
        return err_set(err, HR_E_FAIL, "cgroup %s contains running processes", cg->path);
    for (size_t i = 0; i < cg->ndirs; i++)
        if ((r = cg_tree_remove(cg->dirs[i], err)) < 0)
            return r;
    return 0;
}

int cg_common_add_pid(cgroup *cg, pid_t pid, gcs_err *err)
{
    if (cg->ndirs == 0)
        return err_set(err, HR_E_FAIL, "cgroup %s has no hierarchy", cg->path);
    for (size_t i = 0; i < cg->ndirs; i++) {
        if (access(cg->dirs[i], F_OK) < 0)
            return err_errno(err, HR_E_FAIL, errno, "cgroup %s", cg->dirs[i]);
        int r = cg_write_i64(cg->dirs[i], "cgroup.procs", pid, err);
        if (r < 0)
            return r;
    }
    return 0;
}

bool cg_json_i64(const json_t *obj, const char *key, int64_t *ret)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!json_is_integer(v))
        return false;
    *ret = (int64_t)json_integer_value(v);
    return true;
}

bool cg_json_u64(const json_t *obj, const char *key, uint64_t *ret)
{
    int64_t v;
    if (!cg_json_i64(obj, key, &v) || v < 0)
        return false;
    *ret = (uint64_t)v;
    return true;
}
