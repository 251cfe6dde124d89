/* cgroup.c — version detection, the manager, dispatch to a back end, and the
 * agent's startup hierarchy (docs/pod-model.md §4.1, §4.2). */
#include "cgroup/cgroup-internal.h"
#include "storage/storage.h"

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/vfs.h>

const struct cgroup_ops *cgroup_ops_for(enum cgroup_version v)
{
    return v == CGROUP_V2 ? &cgroup_v2_ops : &cgroup_v1_ops;
}

const char *cgroup_version_name(enum cgroup_version v)
{
    return v == CGROUP_V2 ? "v2" : "v1";
}

/* docs/pod-model.md §4.1, with docs/differences.md D-12: hybrid (v1 hierarchies plus a
 * cgroup2 "unified" dir) is v1, because the v2 back end would otherwise work
 * on a root that is not a cgroup2 mount. */
int cgroup_detect(const char *root, enum cgroup_version *ret, gcs_err *err)
{
    struct statfs st;
    if (statfs(root, &st) < 0)
        return err_errno(err, HR_E_FAIL, errno, "statfs %s", root);
    if ((unsigned long)st.f_type == CGROUP2_SUPER_MAGIC) {
        *ret = CGROUP_V2;
        return 0;
    }
    cleanup_dir DIR *d = opendir(root);
    if (!d)
        return err_errno(err, HR_E_FAIL, errno, "opendir %s", root);
    bool real_v1 = false, fake_v1 = false;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.' || streq(de->d_name, "unified"))
            continue;
        cleanup_free char *sub = xasprintf("%s/%s", root, de->d_name);
        if (cg_is_cgroup1_mount(sub)) {
            real_v1 = true;
            break;
        }
        cleanup_free char *procs = xasprintf("%s/cgroup.procs", sub);
        if (access(procs, F_OK) == 0)
            fake_v1 = true;
    }
    cleanup_free char *controllers = xasprintf("%s/cgroup.controllers", root);
    bool has_controllers = access(controllers, F_OK) == 0;
    if (real_v1 || (fake_v1 && !has_controllers)) {
        *ret = CGROUP_V1;
        return 0;
    }
    if (has_controllers) {
        *ret = CGROUP_V2;
        return 0;
    }
    return err_set(err, HR_E_FAIL, "no cgroup hierarchy found under %s", root);
}

cgroup_mgr *cgroup_mgr_new(const char *root, enum cgroup_version version)
{
    cgroup_mgr *m = xzalloc(sizeof(*m));
    m->root = xstrdup(root ? root : CGROUP_DEFAULT_ROOT);
    size_t n = strlen(m->root);
    while (n > 1 && m->root[n - 1] == '/')
        m->root[--n] = '\0';
    m->version = version;
    m->ops = cgroup_ops_for(version);
    return m;
}

cgroup_mgr *cgroup_mgr_free(cgroup_mgr *mgr)
{
    if (mgr) {
        free(mgr->root);
        free(mgr);
    }
    return NULL;
}

enum cgroup_version cgroup_mgr_version(const cgroup_mgr *mgr) { return mgr->version; }
const char *cgroup_mgr_root(const cgroup_mgr *mgr) { return mgr->root; }

/* "/a//b/" -> "/a/b"; rejects relative paths and "." / ".." elements. */
static int normalize_path(const char *path, char **ret, gcs_err *err)
{
    if (!path || path[0] != '/')
        return err_set(err, HR_E_INVALIDARG, "cgroup path \"%s\" is not absolute", path ? path : "");
    cleanup_free char *copy = xstrdup(path);
    cleanup_free char *out = xzalloc(strlen(path) + 2);
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (streq(tok, ".") || streq(tok, ".."))
            return err_set(err, HR_E_INVALIDARG, "cgroup path \"%s\" has a \"%s\" element", path, tok);
        strcat(out, "/");
        strcat(out, tok);
    }
    if (!out[0])
        strcpy(out, "/");
    *ret = steal_pointer(&out);
    return 0;
}

void cg_add_dir(cgroup *cg, const char *dir, const char *hier)
{
    cg->dirs = xrealloc(cg->dirs, (cg->ndirs + 1) * sizeof(char *));
    cg->hiers = xrealloc(cg->hiers, (cg->ndirs + 1) * sizeof(char *));
    cg->dirs[cg->ndirs] = xstrdup(dir);
    cg->hiers[cg->ndirs] = hier ? xstrdup(hier) : NULL;
    cg->ndirs++;
}

cgroup *cgroup_free(cgroup *cg)
{
    if (!cg)
        return NULL;
    for (size_t i = 0; i < cg->ndirs; i++) {
        free(cg->dirs[i]);
        free(cg->hiers[i]);
    }
    free(cg->dirs);
    free(cg->hiers);
    free(cg->path);
    free(cg);
    return NULL;
}

const char *cgroup_path(const cgroup *cg) { return cg->path; }

static int new_handle(cgroup_mgr *mgr, const char *path, cgroup **ret, gcs_err *err)
{
    char *norm = NULL;
    int r = normalize_path(path, &norm, err);
    if (r < 0)
        return r;
    cgroup *cg = xzalloc(sizeof(*cg));
    cg->mgr = mgr;
    cg->path = norm;
    *ret = cg;
    return 0;
}

int cgroup_create(cgroup_mgr *mgr, const char *path, const json_t *res, cgroup **ret, gcs_err *err)
{
    cgroup *cg = NULL;
    int r = new_handle(mgr, path, &cg, err);
    if (r < 0)
        return err_wrap(err, r, "create cgroup");
    if (streq(cg->path, "/")) {
        cgroup_free(cg);
        return err_set(err, HR_E_INVALIDARG, "create cgroup: refusing to create the root cgroup");
    }
    if ((r = mgr->ops->create(cg, res, err)) < 0) {
        r = err_wrap(err, r, "create cgroup %s", cg->path);
        cgroup_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

int cgroup_load(cgroup_mgr *mgr, const char *path, cgroup **ret, gcs_err *err)
{
    cgroup *cg = NULL;
    int r = new_handle(mgr, path, &cg, err);
    if (r < 0)
        return err_wrap(err, r, "load cgroup");
    if ((r = mgr->ops->load(cg, err)) < 0) {
        r = err_wrap(err, r, "load cgroup %s", cg->path);
        cgroup_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

int cgroup_add_pid(cgroup *cg, pid_t pid, gcs_err *err)
{
    int r = cg->mgr->ops->add_pid(cg, pid, err);
    return r < 0 ? err_wrap(err, r, "add pid %d to cgroup %s", (int)pid, cg->path) : 0;
}

int cgroup_update(cgroup *cg, const json_t *res, gcs_err *err)
{
    if (!res)
        return 0;
    int r = cg->mgr->ops->update(cg, res, err);
    return r < 0 ? err_wrap(err, r, "update cgroup %s", cg->path) : 0;
}

int cgroup_has_processes(cgroup *cg, bool *ret, gcs_err *err)
{
    int r = cg->mgr->ops->has_processes(cg, ret, err);
    return r < 0 ? err_wrap(err, r, "cgroup %s", cg->path) : 0;
}

int cgroup_kill_all(cgroup *cg, gcs_err *err)
{
    int r = cg->mgr->ops->kill_all(cg, err);
    return r < 0 ? err_wrap(err, r, "kill processes of cgroup %s", cg->path) : 0;
}

/* crun on a hybrid layout needs the cgroup2 mount at <root>/unified hidden
 * (crun 1.8 refuses hybrid mode otherwise); it then creates the container's path as plain directories
 * on the cgroup root's tmpfs under "unified" and leaves the parents behind.
 * They are invisible wherever unified is mounted, but they are ours: remove
 * them with the cgroup. Never touches a real cgroup mount. */
static void remove_hidden_unified(const cgroup *cg)
{
    if (cgroup_mgr_version(cg->mgr) != CGROUP_V1)
        return;
    cleanup_free char *unified = xasprintf("%s/unified", cgroup_mgr_root(cg->mgr));
    if (cg_is_cgroupfs(unified))
        return;
    cleanup_free char *dir = xasprintf("%s%s", unified, cg->path);
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return;
    gcs_err e = GCS_ERR_INIT;
    storage_remove_all(dir, &e);
    err_clear(&e);
}

int cgroup_delete(cgroup *cg, gcs_err *err)
{
    if (streq(cg->path, "/"))
        return err_set(err, HR_E_INVALIDARG, "delete cgroup: refusing to delete the root cgroup");
    int r = cg->mgr->ops->delete(cg, err);
    if (r < 0)
        return err_wrap(err, r, "delete cgroup %s", cg->path);
    remove_hidden_unified(cg);
    return 0;
}

int cgroup_stats(cgroup *cg, json_t **ret, gcs_err *err)
{
    struct cgroup_metrics m = {0};
    int r = cg->mgr->ops->stats(cg, &m, err);
    if (r < 0) {
        cgroup_metrics_clear(&m);
        return err_wrap(err, r, "stats of cgroup %s", cg->path);
    }
    *ret = cgroup_metrics_to_json(&m);
    cgroup_metrics_clear(&m);
    return 0;
}

int cgroup_oom_kill_count(cgroup *cg, uint64_t *ret, gcs_err *err)
{
    int r = cg->mgr->ops->oom_kill_count(cg, ret, err);
    return r < 0 ? err_wrap(err, r, "oom count of cgroup %s", cg->path) : 0;
}

int cgroup_memory_usage(cgroup *cg, uint64_t *ret, gcs_err *err)
{
    int r = cg->mgr->ops->memory_usage(cg, ret, err);
    return r < 0 ? err_wrap(err, r, "memory usage of cgroup %s", cg->path) : 0;
}

/* ---- agent startup ---- */

int cgroup_total_memory(uint64_t *ret, gcs_err *err)
{
    struct sysinfo si;
    if (sysinfo(&si) < 0)
        return err_errno(err, HR_E_FAIL, errno, "failed to get sys info");
    uint64_t total = (uint64_t)si.totalram, unit = si.mem_unit ? (uint64_t)si.mem_unit : 1;
    if (total > UINT64_MAX / unit)
        return err_set(err, HR_E_FAIL, "total memory %" PRIu64 " with unit %" PRIu64
                       " exceeds maximum supported value", total, unit);
    *ret = total * unit;
    return 0;
}

/* docs/pod-model.md §4.2 step 3 (upstream uvm_state_test.go, cmd/gcs/main_test.go). */
int cgroup_pods_limit(uint64_t total, uint64_t reserve, int64_t *ret, gcs_err *err)
{
    if (total <= reserve)
        return err_set(err, HR_E_FAIL, "total memory %" PRIu64 " must be greater than root memory reserve %" PRIu64,
                       total, reserve);
    uint64_t limit = total - reserve;
    if (limit > (uint64_t)INT64_MAX)
        return err_set(err, HR_E_FAIL, "pods cgroup memory limit %" PRIu64 " exceeds maximum supported value %" PRId64,
                       limit, INT64_MAX);
    *ret = (int64_t)limit;
    return 0;
}

static json_t *memory_limit_resources(int64_t limit)
{
    return json_pack("{s:{s:I}}", "memory", "limit", (json_int_t)limit);
}

/* docs/pod-model.md §4.2 steps 7-8 (upstream uvm_state_test.go). */
int cgroup_pods_limiter_apply(cgroup_pods_limiter *lim, uint64_t total, int64_t *ret_limit, bool *ret_updated,
                              gcs_err *err)
{
    int64_t limit = 0;
    int r = cgroup_pods_limit(total, lim->reserve, &limit, err);
    if (r < 0)
        return r;
    if (limit == lim->last_applied) {
        *ret_limit = limit;
        *ret_updated = false;
        return 0;
    }
    json_t *res = memory_limit_resources(limit);
    r = cgroup_update(lim->pods, res, err);
    json_decref(res);
    if (r < 0)
        return err_wrap(err, r, "failed to update pods cgroup memory limit");
    lim->last_applied = limit;
    *ret_limit = limit;
    *ret_updated = true;
    return 0;
}

int cgroup_pods_limiter_refresh(cgroup_pods_limiter *lim, int64_t *ret_limit, bool *ret_updated, gcs_err *err)
{
    uint64_t total;
    int r = cgroup_total_memory(&total, err);
    if (r < 0)
        return r;
    return cgroup_pods_limiter_apply(lim, total, ret_limit, ret_updated, err);
}

int cgroup_setup_agent(cgroup_mgr *mgr, uint64_t reserve, pid_t self, cgroup **ret_pods, cgroup **ret_gcs,
                       int64_t *ret_pods_limit, gcs_err *err)
{
    int r;
    if (mgr->version == CGROUP_V1) {
        /* docs/pod-model.md §4.2 step 1 */
        cleanup_free char *memdir = xasprintf("%s/memory", mgr->root);
        cleanup_free char *file = xasprintf("%s/memory.use_hierarchy", memdir);
        if (access(file, F_OK) < 0)
            return err_errno(err, HR_E_FAIL, errno,
                             "%s is missing: the kernel needs CONFIG_MEMCG_V1 for cgroup v1, or use a cgroup v2 "
                             "kernel with CONFIG_CGROUP_BPF", file);
        if ((r = cg_write(memdir, "memory.use_hierarchy", "1", err)) < 0)
            return r;
    }
    uint64_t total;
    int64_t limit = 0;
    if ((r = cgroup_total_memory(&total, err)) < 0 || (r = cgroup_pods_limit(total, reserve, &limit, err)) < 0)
        return r;
    cgroup *pods = NULL, *gcs = NULL;
    json_t *res = memory_limit_resources(limit);
    r = cgroup_create(mgr, CGROUP_PODS_PATH, res, &pods, err);
    json_decref(res);
    if (r < 0)
        return r;
    if ((r = cgroup_create(mgr, CGROUP_GCS_PATH, NULL, &gcs, err)) < 0)
        goto fail;
    if ((r = cgroup_add_pid(gcs, self, err)) < 0)
        goto fail;
    *ret_pods = pods;
    *ret_gcs = gcs;
    if (ret_pods_limit)
        *ret_pods_limit = limit;
    return 0;
fail:;
    gcs_err e2 = GCS_ERR_INIT;
    if (gcs)
        (void)cgroup_delete(gcs, &e2);
    err_clear(&e2);
    (void)cgroup_delete(pods, &e2);
    err_clear(&e2);
    cgroup_free(gcs);
    cgroup_free(pods);
    return r;
}

int cgroup_teardown_agent(cgroup_mgr *mgr, pid_t self, cgroup *pods, cgroup *gcs, gcs_err *err)
{
    int first = 0;
    gcs_err tmp = GCS_ERR_INIT;
    cgroup *root = NULL;
    int r = cgroup_load(mgr, "/", &root, &tmp);
    if (r == 0)
        r = cgroup_add_pid(root, self, &tmp);
    cgroup_free(root);
    if (r < 0) {
        first = r;
        err_move(err, &tmp);
    }
    cgroup *list[2] = {gcs, pods};
    for (size_t i = 0; i < ARRAY_SIZE(list); i++) {
        if (!list[i])
            continue;
        r = cgroup_delete(list[i], &tmp);
        if (r < 0 && first == 0) {
            first = r;
            err_move(err, &tmp);
        }
        err_clear(&tmp);
        cgroup_free(list[i]);
    }
    return first;
}
