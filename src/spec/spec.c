/* spec.c — see spec.h. */
#include "spec/spec.h"

#include "common/fsutil.h"

#include "common/path.h"
#include "network/netfiles.h"
#include "pod/annotations.h"
#include "pod/paths.h"
#include "sandbox/sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>

#define DEV_SHM "/dev/shm"

static const char *const networking_files[] = {POD_HOSTNAME_FILE, POD_HOSTS_FILE, POD_RESOLV_CONF_FILE};

/* ---- small JSON helpers ---- */

static json_t *obj_child(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

static json_t *mounts_array(json_t *spec)
{
    json_t *a = json_object_get(spec, "mounts");
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(spec, "mounts", a);
    }
    return a;
}

static const char *mount_str(const json_t *m, const char *key) { return json_string_value(json_object_get(m, key)); }

static void add_bind_mount(json_t *spec, const char *dest, const char *source, bool ro)
{
    json_t *opts = json_array();
    json_array_append_new(opts, json_string("bind"));
    if (ro)
        json_array_append_new(opts, json_string("ro"));
    json_array_append_new(mounts_array(spec),
                          json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", "bind", "source", source,
                                    "options", opts));
}

/* ---- getters ---- */

const char *spec_annotation(const json_t *spec, const char *key)
{
    return pod_annotation(json_object_get(spec, "annotations"), key);
}

char *spec_network_namespace_id(const json_t *spec)
{
    const char *ns = json_string_value(json_object_get(json_object_get(json_object_get(spec, "windows"), "network"),
                                                       "networkNamespace"));
    char *r = xstrdup(ns ? ns : "");
    for (char *p = r; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

bool spec_root_readonly(const json_t *spec) { return json_is_true(json_object_get(json_object_get(spec, "root"), "readonly")); }

bool spec_mount_present(const json_t *spec, const char *destination)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m) {
        if (streq(mount_str(m, "destination"), destination))
            return true;
    }
    return false;
}

/* ---- filesystem ---- */

int spec_mkdir_all_perm(const char *path, gcs_err *err)
{
    /* docs/pod-model.md §3.7 workload step 2: really 0777, whatever the umask */
    mode_t saved = umask(0);
    int r = mkdir_p(path, 0777, NULL, NULL, err);
    umask(saved);
    return r;
}

/* ---- steps ---- */

int spec_check_workload_hostname(const json_t *spec, gcs_err *err)
{
    const char *h = json_string_value(json_object_get(spec, "hostname"));
    if (!str_empty(h))
        return err_set(err, HR_E_INVALIDARG, "workload container must not change hostname: %s", h);
    return 0;
}

static int map_one_sandbox_source(json_t *m, const char *src, const char *prefix, const char *dir, const char *what,
                                  gcs_err *err)
{
    cleanup_free char *target = path_join(dir, src + strlen(prefix));
    /* docs/differences.md D-8: separator-aware, unlike upstream's HasPrefix */
    if (!path_is_within(dir, target))
        return err_set(err, HR_E_INVALIDARG, "mount path %s for mount %s is not within sandbox's %s", target, src,
                       what);
    json_object_set_new(m, "source", json_string(target));
    struct stat st;
    if (stat(target, &st) < 0 && errno == ENOENT)
        return spec_mkdir_all_perm(target, err);
    return 0;
}

int spec_map_sandbox_mounts(json_t *spec, const char *root, gcs_err *err)
{
    cleanup_free char *mounts = sandbox_mounts_dir(root);
    cleanup_free char *tmpfs = sandbox_tmpfs_mounts_dir(root);
    size_t i;
    json_t *m;
    int r = 0;
    json_array_foreach(json_object_get(spec, "mounts"), i, m) {
        cleanup_free char *src = xstrdup(mount_str(m, "source") ? mount_str(m, "source") : "");
        if (str_has_prefix(src, POD_SANDBOX_TMPFS_MOUNT_PREFIX))
            r = map_one_sandbox_source(m, src, POD_SANDBOX_TMPFS_MOUNT_PREFIX, tmpfs, "tmpfs mounts dir", err);
        else if (str_has_prefix(src, POD_SANDBOX_MOUNT_PREFIX))
            r = map_one_sandbox_source(m, src, POD_SANDBOX_MOUNT_PREFIX, mounts, "mounts dir", err);
        if (r < 0)
            return r;
    }
    return 0;
}

int spec_map_hugepage_mounts(json_t *spec, const char *root, spec_hugetlb_fn mount_fn, void *userdata,
                             gcs_err *err)
{
    cleanup_free char *dir = sandbox_hugepages_dir(root);
    size_t i;
    json_t *m;
    int r;
    json_array_foreach(json_object_get(spec, "mounts"), i, m) {
        const char *s = mount_str(m, "source");
        if (!s || !str_has_prefix(s, POD_HUGEPAGES_MOUNT_PREFIX))
            continue;
        cleanup_free char *src = xstrdup(s);
        const char *sub = src + strlen(POD_HUGEPAGES_MOUNT_PREFIX);
        cleanup_free char *pagesize = xstrndup(sub, strcspn(sub, "/"));
        cleanup_free char *target = path_join(dir, sub);
        if (!path_is_within(dir, target))
            return err_set(err, HR_E_INVALIDARG, "mount path %s for mount %s is not within hugepages's mounts dir",
                           target, src);
        if (!*pagesize)
            return err_set(err, HR_E_INVALIDARG, "mount %s has no huge page size", src);
        json_object_set_new(m, "source", json_string(target));
        struct stat st;
        if (stat(target, &st) == 0 || errno != ENOENT)
            continue;
        if ((r = spec_mkdir_all_perm(target, err)) < 0)
            return r;
        if (!mount_fn)
            return err_set(err, HR_E_FAIL, "needs hugetlbfs mount at %s with pagesize=%s, but no mounter given",
                           target, pagesize);
        if ((r = mount_fn(target, pagesize, userdata, err)) < 0)
            return err_wrap(err, r, "mount hugetlbfs at %s with pagesize=%s", target, pagesize);
    }
    return 0;
}

int spec_map_blockdev_mounts(json_t *spec, gcs_err *err)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m) {
        const char *d = mount_str(m, "destination");
        if (d && str_has_prefix(d, POD_BLOCKDEV_MOUNT_PREFIX))
            return err_set(err, HR_E_NOTIMPL, "mount destination %s: blockdev:// mounts are not supported yet", d);
    }
    return 0;
}

int spec_map_uvm_mounts(json_t *spec, gcs_err *err)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m) {
        const char *s = mount_str(m, "source");
        if (!s || !str_has_prefix(s, POD_UVM_MOUNT_PREFIX))
            continue;
        cleanup_free char *p = xstrdup(s + strlen(POD_UVM_MOUNT_PREFIX));
        json_object_set_new(m, "source", json_string(p));
        struct stat st;
        if (stat(p, &st) < 0)
            return err_errno(err, HR_E_FAIL, errno, "could not open uVM mount target: stat %s", p);
    }
    return 0;
}

void spec_add_networking_mounts(json_t *spec, const char *root)
{
    bool ro = spec_root_readonly(spec);
    for (size_t i = 0; i < ARRAY_SIZE(networking_files); i++) {
        cleanup_free char *dest = xasprintf("/etc/%s", networking_files[i]);
        if (spec_mount_present(spec, dest))
            continue;
        cleanup_free char *src = path_join(root, networking_files[i]);
        add_bind_mount(spec, dest, src, ro);
    }
}

/* Go strconv.ParseUint(s, 10, 64). */
static int parse_u64(const char *s, uint64_t *ret)
{
    if (!*s)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

int spec_apply_devshm_annotation(json_t *spec, gcs_err *err)
{
    const char *v = spec_annotation(spec, POD_ANN_DEV_SHM_SIZE_KB);
    if (!v)
        return 0;
    uint64_t size;
    int r = parse_u64(v, &size);
    if (r < 0)
        return err_errno(err, HR_E_INVALIDARG, -r, "/dev/shm size must be a valid integer: parsing \"%s\"", v);
    if (size == 0)
        return err_set(err, HR_E_INVALIDARG, "/dev/shm size must be non-zero");
    cleanup_free char *sizeopt = xasprintf("size=%sk", v);
    json_t *mounts = mounts_array(spec);
    for (size_t i = json_array_size(mounts); i-- > 0;)
        if (streq(mount_str(json_array_get(mounts, i), "destination"), DEV_SHM))
            json_array_remove(mounts, i);
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[sssss]}", "source", "shm", "destination", DEV_SHM,
                                            "type", "tmpfs", "options", "nosuid", "noexec", "nodev", "mode=1777",
                                            sizeopt));
    return 0;
}

int spec_set_core_rlimit(json_t *spec, const char *value, gcs_err *err)
{
    const char *semi = strchr(value, ';');
    if (!semi || strchr(semi + 1, ';'))
        return err_set(err, HR_E_INVALIDARG, "wrong number of values supplied for rlimit core");
    cleanup_free char *soft_s = xstrndup(value, (size_t)(semi - value));
    uint64_t soft, hard;
    int r;
    if ((r = parse_u64(soft_s, &soft)) < 0)
        return err_errno(err, HR_E_INVALIDARG, -r, "failed to parse soft core rlimit \"%s\"", soft_s);
    if ((r = parse_u64(semi + 1, &hard)) < 0)
        return err_errno(err, HR_E_INVALIDARG, -r, "failed to parse hard core rlimit \"%s\"", semi + 1);
    if (soft > INT64_MAX || hard > INT64_MAX)
        return err_set(err, HR_E_INVALIDARG, "core rlimit %s: values above %lld are not supported", value,
                       (long long)INT64_MAX);
    json_t *process = obj_child(spec, "process");
    json_t *rl = json_object_get(process, "rlimits");
    if (!json_is_array(rl)) {
        rl = json_array();
        json_object_set_new(process, "rlimits", rl);
    }
    json_array_append_new(rl, json_pack("{s:s, s:I, s:I}", "type", "RLIMIT_CORE", "soft", (json_int_t)soft, "hard",
                                        (json_int_t)hard));
    return 0;
}

int spec_apply_core_rlimit_annotation(json_t *spec, gcs_err *err)
{
    const char *v = spec_annotation(spec, POD_ANN_RLIMIT_CORE);
    if (str_empty(v))
        return 0;
    return spec_set_core_rlimit(spec, v, err);
}

/* ---- /etc/passwd and /etc/group ---- */

typedef struct ent {
    char *name;
    long long id;  /* uid or gid */
    long long gid; /* passwd only */
} ent;

/* Go strconv.Atoi-like: optional sign, digits, no overflow past long long. */
static bool parse_int(const char *s, long long *ret)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || isspace((unsigned char)*s))
        return false;
    *ret = v;
    return true;
}

/* Find the entries of file matching name (when by_name) or id. Exactly one
 * must match. gid_field: index of the gid field (passwd: 3; group: none). */
static int find_entry(const char *rootfs, const char *file, bool is_passwd, const char *name, long long id,
                      ent *ret, gcs_err *err)
{
    cleanup_free char *path = path_join(rootfs, file);
    cleanup_free char *buf = NULL;
    size_t len;
    int r = read_file(path, &buf, &len);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "open %s", path);
    int matches = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (isspace((unsigned char)*line))
            line++;
        if (!*line)
            continue;
        char *f[4] = {NULL, NULL, NULL, NULL};
        char *p = line;
        for (int k = 0; k < 4 && p; k++) {
            f[k] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        long long fid = 0, fgid = 0;
        if (f[2])
            parse_int(f[2], &fid);
        if (is_passwd && f[3])
            parse_int(f[3], &fgid);
        bool hit = name ? streq(f[0], name) : fid == id;
        if (!hit)
            continue;
        if (++matches == 1) {
            ret->name = xstrdup(f[0]);
            ret->id = fid;
            ret->gid = fgid;
        }
    }
    if (matches != 1) {
        if (matches > 1)
            free(ret->name);
        ret->name = NULL;
        return err_set(err, HR_E_FAIL, "expected exactly 1 %s matched '%d'", is_passwd ? "user" : "group", matches);
    }
    if (ret->id < 0 || ret->id > UINT32_MAX || ret->gid < 0 || ret->gid > UINT32_MAX) {
        free(ret->name);
        ret->name = NULL;
        return err_set(err, HR_E_FAIL, "%s id exceeds uint32 bounds", is_passwd ? "user" : "group");
    }
    return 0;
}

static bool out_of_u32(long long v) { return v < 0 || v > UINT32_MAX; }

int spec_resolve_username(json_t *spec, gcs_err *err)
{
    json_t *user = json_object_get(json_object_get(spec, "process"), "user");
    const char *userstr = json_string_value(json_object_get(user, "username"));
    if (str_empty(userstr))
        return 0;
    const char *rootfs = json_string_value(json_object_get(json_object_get(spec, "root"), "path"));
    if (str_empty(rootfs))
        return err_set(err, HR_E_INVALIDARG, "cannot resolve user '%s': spec has no root.path", userstr);

    cleanup_free char *u = xstrdup(userstr);
    char *g = strchr(u, ':');
    if (g) {
        *g++ = '\0';
        if (strchr(g, ':'))
            return err_set(err, HR_E_INVALIDARG, "invalid userstr: '%s'", userstr);
    }
    long long uid = 0, gid = 0, v;
    ent e = {0};
    gcs_err lookup = GCS_ERR_INIT;
    if (!parse_int(u, &v)) {
        if (find_entry(rootfs, "/etc/passwd", true, u, 0, &e, &lookup) < 0) {
            err_move(err, &lookup);
            return err_wrap(err, -ENOENT, "failed to find user by username: %s", u);
        }
        uid = e.id, gid = e.gid;
        free(e.name);
    } else if (find_entry(rootfs, "/etc/passwd", true, NULL, v, &e, &lookup) == 0) {
        uid = e.id, gid = e.gid;
        free(e.name);
    } else {
        err_clear(&lookup);
        if (out_of_u32(v))
            return err_set(err, HR_E_INVALIDARG, "UID (%lld) exceeds uint32 bounds", v);
        uid = v; /* an unknown numeric UID is used as is, with GID 0 */
    }
    if (g) {
        e = (ent){0};
        if (!parse_int(g, &v)) {
            if (find_entry(rootfs, "/etc/group", false, g, 0, &e, &lookup) < 0) {
                err_move(err, &lookup);
                return err_wrap(err, -ENOENT, "failed to find group by groupname: %s", g);
            }
            gid = e.id;
            free(e.name);
        } else if (find_entry(rootfs, "/etc/group", false, NULL, v, &e, &lookup) == 0) {
            gid = e.id;
            free(e.name);
        } else {
            err_clear(&lookup);
            if (out_of_u32(v))
                return err_set(err, HR_E_INVALIDARG, "GID (%lld) exceeds uint32 bounds", v);
            gid = v;
        }
    }
    json_object_set_new(user, "uid", json_integer(uid));
    json_object_set_new(user, "gid", json_integer(gid));
    return 0;
}

void spec_set_cgroups_path(json_t *spec, const char *path)
{
    json_object_set_new(obj_child(spec, "linux"), "cgroupsPath", json_string(path));
}

void spec_clear_windows(json_t *spec) { json_object_del(spec, "windows"); }

void spec_add_tee_log_dir_mount(json_t *spec, const char *destination, const char *root)
{
    cleanup_free char *logs = sandbox_logs_dir(root);
    add_bind_mount(spec, destination, logs, false);
}

int spec_tee_log_path(const char *root, const char *rel, char **ret, gcs_err *err)
{
    cleanup_free char *logs = sandbox_logs_dir(root);
    /* docs/differences.md D-60: upstream joins an absolute path below the logs
     * directory and cleans "a/../b"; both are refused here */
    if (rel[0] == '/')
        return err_set(err, HR_E_INVALIDARG, "log path %s must be relative to sandbox's log dir", rel);
    for (const char *q = rel; *q;) {
        size_t n = strcspn(q, "/");
        if ((n == 1 && q[0] == '.') || (n == 2 && q[0] == '.' && q[1] == '.'))
            return err_set(err, HR_E_INVALIDARG, "log path %s is not within sandbox's log dir (\".\" and \"..\" are "
                                                 "not allowed)", rel);
        q += n;
        q += *q == '/';
    }
    char *p = path_join(logs, rel);
    /* docs/pod-model.md §2.4: strictly below <root>/logs/ (the separator included) */
    if (!path_is_within(logs, p) || streq(p, logs)) {
        err_set(err, HR_E_INVALIDARG, "log path %s is not within sandbox's log dir", p);
        free(p);
        return -EINVAL;
    }
    *ret = p;
    return 0;
}

int spec_tee_log_prepare(const char *root, const char *rel, char **ret, gcs_err *err)
{
    char *p = NULL;
    int r = spec_tee_log_path(root, rel, &p, err);
    if (r < 0)
        return r;
    cleanup_free char *parent = path_dir(p);
    if ((r = spec_mkdir_all_perm(parent, err)) < 0) {
        free(p);
        return err_wrap(err, r, "create tee log directory");
    }
    *ret = p;
    return 0;
}

/* ---- per kind ---- */

int spec_setup_sandbox(json_t *spec, const char *sid, const char *id, gcs_err *err)
{
    int r;
    /* docs/pod-model.md §3.4 step 8, §3.7 "Sandbox" */
    if ((r = spec_resolve_username(spec, err)) < 0)
        return r;
    if ((r = spec_apply_core_rlimit_annotation(spec, err)) < 0)
        return r;
    cleanup_free char *cg = xasprintf(POD_CGROUP_PARENT "/%s/%s", sid, id);
    spec_set_cgroups_path(spec, cg);
    spec_clear_windows(spec);
    return 0;
}

int spec_setup_workload(json_t *spec, const char *sid, const char *id, const char *root, spec_hugetlb_fn mount_fn,
                        void *userdata, gcs_err *err)
{
    int r;
    /* docs/pod-model.md §3.7 workload, steps 1-12 */
    if ((r = spec_check_workload_hostname(spec, err)) < 0)
        return r;
    if ((r = spec_map_sandbox_mounts(spec, root, err)) < 0)
        return err_wrap(err, r, "failed to update sandbox mounts for container %s in sandbox %s", id, sid);
    if ((r = spec_map_hugepage_mounts(spec, root, mount_fn, userdata, err)) < 0)
        return err_wrap(err, r, "failed to update hugepages mounts for container %s in sandbox %s", id, sid);
    if ((r = spec_map_blockdev_mounts(spec, err)) < 0)
        return err_wrap(err, r, "failed to update block device mounts for container %s in sandbox %s", id, sid);
    if ((r = spec_map_uvm_mounts(spec, err)) < 0)
        return err_wrap(err, r, "failed to update uVM mounts for container %s in sandbox %s", id, sid);
    spec_add_networking_mounts(spec, root);
    if ((r = spec_apply_devshm_annotation(spec, err)) < 0)
        return r;
    if ((r = spec_apply_core_rlimit_annotation(spec, err)) < 0)
        return r;
    if ((r = spec_resolve_username(spec, err)) < 0)
        return r;
    cleanup_free char *cg = xasprintf(POD_CGROUP_PARENT "/%s/%s", sid, id);
    spec_set_cgroups_path(spec, cg);
    json_t *wdev = json_object_get(json_object_get(spec, "windows"), "devices");
    if (json_array_size(wdev) > 0)
        return err_set(err, HR_E_NOTIMPL, "windows.devices (GPU, vPCI) are not supported yet");
    spec_clear_windows(spec);
    return 0;
}

int spec_setup_standalone(json_t *spec, const char *id, const char *root, const char *uvm_hostname,
                          const char *resolv_conf, gcs_err *err)
{
    int r;
    /* docs/pod-model.md §3.7 standalone, steps 1-4 */
    if ((r = mkdir_p(root, 0755, NULL, NULL, err)) < 0)
        return r;
    const char *hostname = json_string_value(json_object_get(spec, "hostname"));
    if (str_empty(hostname))
        hostname = uvm_hostname ? uvm_hostname : "";
    if ((r = netfiles_validate_hostname(hostname, err)) < 0)
        return r;
    /* the files whose /etc path the spec does not mount already */
    unsigned which = 0;
    for (size_t i = 0; i < ARRAY_SIZE(networking_files); i++) {
        cleanup_free char *dest = xasprintf("/etc/%s", networking_files[i]);
        if (!spec_mount_present(spec, dest))
            which |= 1u << i;
    }
    if ((r = netfiles_write_set(root, hostname, resolv_conf, which, err)) < 0)
        return r;
    spec_add_networking_mounts(spec, root);
    cleanup_free char *cg = xasprintf(POD_CGROUP_PARENT "/%s", id);
    spec_set_cgroups_path(spec, cg);
    spec_clear_windows(spec);
    return 0;
}
