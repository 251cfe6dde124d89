/* cgroup-v1.c — one directory per controller hierarchy (docs/pod-model.md
 * §4.5, v1). Resources are written as OCI gives them. */
#include "cgroup/cgroup-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hierarchies under root, sorted. Named hierarchies (systemd, name=...)
 * carry no controllers but are included: the runtime creates the
 * container's cgroup path in them too, so the pod cgroup must be made and
 * removed there as well, or its parent directories stay behind. The same
 * holds for "unified", the cgroup2 mount of a hybrid layout (runc uses it
 * too); it has no controllers to write. Symlinks (cpu -> cpu,cpuacct) would
 * duplicate a real one. */
static int v1_hierarchies(const char *root, char ***ret, size_t *ret_n, gcs_err *err)
{
    cleanup_dir DIR *d = opendir(root);
    if (!d)
        return err_errno(err, HR_E_FAIL, errno, "opendir %s", root);
    char **v = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (de->d_type != DT_DIR || name[0] == '.')
            continue;
        cleanup_free char *sub = xasprintf("%s/%s", root, name);
        cleanup_free char *procs = xasprintf("%s/cgroup.procs", sub);
        bool hybrid_v2 = streq(name, "unified") && cg_is_cgroupfs(sub);
        if (!hybrid_v2 && !cg_is_cgroup1_mount(sub) && (cg_is_cgroupfs(sub) || access(procs, F_OK) < 0))
            continue;
        v = xrealloc(v, (n + 1) * sizeof(char *));
        v[n++] = xstrdup(name);
    }
    if (n > 1)
        qsort(v, n, sizeof(char *), cmp_str);
    *ret = v;
    *ret_n = n;
    return 0;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool hier_has(const char *hier, const char *ctrl)
{
    size_t n = strlen(ctrl);
    for (const char *p = hier; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, ctrl, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

static char *v1_dir(const cgroup *cg, const char *hier)
{
    return streq(cg->path, "/") ? xasprintf("%s/%s", cg->mgr->root, hier)
                                : xasprintf("%s/%s%s", cg->mgr->root, hier, cg->path);
}

/* The directory of the hierarchy carrying ctrl, or NULL. */
static const char *v1_ctrl_dir(const cgroup *cg, const char *ctrl)
{
    for (size_t i = 0; i < cg->ndirs; i++)
        if (hier_has(cg->hiers[i], ctrl))
            return cg->dirs[i];
    return NULL;
}

/* A new cpuset cgroup starts with empty cpus/mems and refuses tasks; copy
 * the parent's, as runc and containerd do. */
static int cpuset_inherit(const char *dir, gcs_err *err)
{
    cleanup_free char *parent = xstrdup(dir);
    char *slash = strrchr(parent, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        cleanup_free char *mine = NULL, *theirs = NULL;
        if (cg_read(dir, files[i], &mine) == 0 && strspn(mine, " \n") != strlen(mine))
            continue;
        if (cg_read(parent, files[i], &theirs) < 0 || strspn(theirs, " \n") == strlen(theirs))
            continue;
        int r = cg_write(dir, files[i], theirs, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int write_opt_i64(const char *dir, const json_t *obj, const char *key, const char *file, gcs_err *err)
{
    int64_t v;
    return cg_json_i64(obj, key, &v) ? cg_write_i64(dir, file, v, err) : 0;
}

static int write_opt_str(const char *dir, const json_t *obj, const char *key, const char *file, gcs_err *err)
{
    const char *s = json_string_value(json_is_object(obj) ? json_object_get(obj, key) : NULL);
    return !str_empty(s) ? cg_write(dir, file, s, err) : 0;
}

static int v1_apply_memory(const char *dir, const json_t *mem, gcs_err *err)
{
    int r;
    int64_t limit, swap;
    bool has_limit = cg_json_i64(mem, "limit", &limit), has_swap = cg_json_i64(mem, "swap", &swap);
    bool swap_done = false;
    if (has_limit) {
        gcs_err e1 = GCS_ERR_INIT;
        r = cg_write_i64(dir, "memory.limit_in_bytes", limit, &e1);
        if (r == -EINVAL && has_swap) {
            /* Raising both: memsw must grow before the limit may pass it. */
            err_clear(&e1);
            if ((r = cg_write_i64(dir, "memory.memsw.limit_in_bytes", swap, err)) < 0)
                return r;
            swap_done = true;
            r = cg_write_i64(dir, "memory.limit_in_bytes", limit, err);
        } else if (r < 0) {
            err_move(err, &e1);
        }
        err_clear(&e1);
        if (r < 0)
            return r;
    }
    if (has_swap && !swap_done && (r = cg_write_i64(dir, "memory.memsw.limit_in_bytes", swap, err)) < 0)
        return r;
    if ((r = write_opt_i64(dir, mem, "reservation", "memory.soft_limit_in_bytes", err)) < 0)
        return r;
    int64_t swappiness;
    if (cg_json_i64(mem, "swappiness", &swappiness) && swappiness >= 0 &&
        (r = cg_write_i64(dir, "memory.swappiness", swappiness, err)) < 0)
        return r;
    json_t *oomd = json_is_object(mem) ? json_object_get(mem, "disableOOMKiller") : NULL;
    if (json_is_true(oomd) && (r = cg_write(dir, "memory.oom_control", "1", err)) < 0)
        return r;
    return 0;
}

static int v1_apply(cgroup *cg, const json_t *res, gcs_err *err)
{
    if (!json_is_object(res))
        return 0;
    const json_t *mem = json_object_get(res, "memory"), *cpu = json_object_get(res, "cpu"),
                 *pids = json_object_get(res, "pids"), *blkio = json_object_get(res, "blockIO");
    int r;
    const char *dir;
    if (json_is_object(mem) && (dir = v1_ctrl_dir(cg, "memory")) && (r = v1_apply_memory(dir, mem, err)) < 0)
        return r;
    if (json_is_object(cpu) && (dir = v1_ctrl_dir(cg, "cpu"))) {
        uint64_t shares;
        if (cg_json_u64(cpu, "shares", &shares) && shares &&
            (r = cg_write_i64(dir, "cpu.shares", (int64_t)shares, err)) < 0)
            return r;
        /* period before quota: a quota is checked against the current period */
        if ((r = write_opt_i64(dir, cpu, "period", "cpu.cfs_period_us", err)) < 0 ||
            (r = write_opt_i64(dir, cpu, "quota", "cpu.cfs_quota_us", err)) < 0 ||
            (r = write_opt_i64(dir, cpu, "realtimePeriod", "cpu.rt_period_us", err)) < 0 ||
            (r = write_opt_i64(dir, cpu, "realtimeRuntime", "cpu.rt_runtime_us", err)) < 0)
            return r;
    }
    if (json_is_object(cpu) && (dir = v1_ctrl_dir(cg, "cpuset"))) {
        if ((r = write_opt_str(dir, cpu, "cpus", "cpuset.cpus", err)) < 0 ||
            (r = write_opt_str(dir, cpu, "mems", "cpuset.mems", err)) < 0)
            return r;
    }
    int64_t plimit;
    if (cg_json_i64(pids, "limit", &plimit) && plimit != 0 && (dir = v1_ctrl_dir(cg, "pids"))) {
        r = plimit > 0 ? cg_write_i64(dir, "pids.max", plimit, err) : cg_write(dir, "pids.max", "max", err);
        if (r < 0)
            return r;
    }
    uint64_t weight;
    if (cg_json_u64(blkio, "weight", &weight) && weight && (dir = v1_ctrl_dir(cg, "blkio")) &&
        (r = cg_write_i64(dir, "blkio.weight", (int64_t)weight, err)) < 0)
        return r;
    json_t *huge = json_object_get(res, "hugepageLimits");
    size_t i;
    json_t *h;
    if (json_is_array(huge) && (dir = v1_ctrl_dir(cg, "hugetlb"))) {
        json_array_foreach(huge, i, h) {
            const char *size = json_string_value(json_object_get(h, "pageSize"));
            uint64_t lim;
            if (str_empty(size) || strchr(size, '/') || !cg_json_u64(h, "limit", &lim))
                continue;
            cleanup_free char *file = xasprintf("hugetlb.%s.limit_in_bytes", size);
            if ((r = cg_write_i64(dir, file, (int64_t)lim, err)) < 0)
                return r;
        }
    }
    return 0;
}

static int v1_create(cgroup *cg, const json_t *res, gcs_err *err)
{
    char **hiers = NULL;
    size_t nh = 0;
    int r = v1_hierarchies(cg->mgr->root, &hiers, &nh, err);
    if (r < 0)
        return r;
    if (nh == 0) {
        free(hiers);
        return err_set(err, HR_E_FAIL, "no cgroup v1 controller hierarchy under %s", cg->mgr->root);
    }
    char **created = NULL;
    size_t ncreated = 0;
    for (size_t i = 0; i < nh && r == 0; i++) {
        cleanup_free char *base = xasprintf("%s/%s", cg->mgr->root, hiers[i]);
        size_t before = ncreated;
        r = cg_mkdir_p(base, cg->path, &created, &ncreated, err);
        if (r == 0 && hier_has(hiers[i], "cpuset"))
            for (size_t k = before; k < ncreated && r == 0; k++)
                r = cpuset_inherit(created[k], err);
        cleanup_free char *dir = v1_dir(cg, hiers[i]);
        cg_add_dir(cg, dir, hiers[i]);
    }
    free_strv(hiers, nh);
    if (r == 0)
        r = v1_apply(cg, res, err);
    if (r < 0) {
        cg_rollback(created, ncreated);
        return r;
    }
    free_strv(created, ncreated);
    return 0;
}

static int v1_load(cgroup *cg, gcs_err *err)
{
    char **hiers = NULL;
    size_t nh = 0;
    int r = v1_hierarchies(cg->mgr->root, &hiers, &nh, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nh; i++) {
        cleanup_free char *dir = v1_dir(cg, hiers[i]);
        if (access(dir, F_OK) == 0)
            cg_add_dir(cg, dir, hiers[i]);
    }
    free_strv(hiers, nh);
    if (cg->ndirs == 0)
        return err_errno(err, HR_E_FAIL, ENOENT, "cgroup %s is in no hierarchy under %s", cg->path, cg->mgr->root);
    return 0;
}

static int v1_update(cgroup *cg, const json_t *res, gcs_err *err)
{
    return v1_apply(cg, res, err);
}

static int v1_kill_all(cgroup *cg, gcs_err *err)
{
    for (size_t i = 0; i < cg->ndirs; i++) {
        int r = cg_tree_kill(cg->dirs[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

static const char *need_ctrl_dir(cgroup *cg, const char *ctrl, gcs_err *err)
{
    const char *dir = v1_ctrl_dir(cg, ctrl);
    if (!dir)
        err_set(err, HR_E_FAIL, "cgroup %s has no %s hierarchy", cg->path, ctrl);
    return dir;
}

static int v1_oom_kill_count(cgroup *cg, uint64_t *ret, gcs_err *err)
{
    const char *dir = need_ctrl_dir(cg, "memory", err);
    if (!dir)
        return -ENOENT;
    cleanup_free char *text = NULL;
    int r = cg_read(dir, "memory.oom_control", &text);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "read %s/memory.oom_control", dir);
    uint64_t v = 0;
    (void)cg_kv_lookup(text, "oom_kill", &v); /* absent before Linux 4.13 */
    *ret = v;
    return 0;
}

static int v1_memory_usage(cgroup *cg, uint64_t *ret, gcs_err *err)
{
    const char *dir = need_ctrl_dir(cg, "memory", err);
    if (!dir)
        return -ENOENT;
    int r = cg_read_u64(dir, "memory.usage_in_bytes", ret);
    return r < 0 ? err_errno(err, HR_E_FAIL, -r, "read %s/memory.usage_in_bytes", dir) : 0;
}

/* ---- statistics (missing controllers are ignored) ---- */

static const char *const v1_mem_keys[CG_MEM__MAX] = {
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout", "pgfault", "pgmajfault",
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "hierarchical_memory_limit",
    "hierarchical_memsw_limit", "total_cache", "total_rss", "total_rss_huge", "total_mapped_file", "total_dirty",
    "total_writeback", "total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault", "total_inactive_anon",
    "total_active_anon", "total_inactive_file", "total_active_file", "total_unevictable",
};

static void read_mem_entry(const char *dir, const char *prefix, struct cgroup_mem_entry *e)
{
    cleanup_free char *u = xasprintf("%s.usage_in_bytes", prefix), *m = xasprintf("%s.max_usage_in_bytes", prefix),
                      *f = xasprintf("%s.failcnt", prefix), *l = xasprintf("%s.limit_in_bytes", prefix);
    (void)cg_read_u64(dir, u, &e->usage);
    (void)cg_read_u64(dir, m, &e->max);
    (void)cg_read_u64(dir, f, &e->failcnt);
    (void)cg_read_u64(dir, l, &e->limit);
}

static void v1_stats_memory(const char *dir, struct cgroup_metrics *m)
{
    cleanup_free char *text = NULL;
    if (cg_read(dir, "memory.stat", &text) < 0)
        return;
    m->has_memory = true;
    for (size_t i = 0; i < CG_MEM__MAX; i++)
        (void)cg_kv_lookup(text, v1_mem_keys[i], &m->memory.stat[i]);
    read_mem_entry(dir, "memory", &m->memory.usage);
    read_mem_entry(dir, "memory.memsw", &m->memory.swap);
    read_mem_entry(dir, "memory.kmem", &m->memory.kernel);
    read_mem_entry(dir, "memory.kmem.tcp", &m->memory.kernel_tcp);
    cleanup_free char *oom = NULL;
    if (cg_read(dir, "memory.oom_control", &oom) == 0) {
        m->has_oom = true;
        (void)cg_kv_lookup(oom, "oom_kill_disable", &m->oom.oom_kill_disable);
        (void)cg_kv_lookup(oom, "under_oom", &m->oom.under_oom);
        (void)cg_kv_lookup(oom, "oom_kill", &m->oom.oom_kill);
    }
}

static void v1_stats_cpu(const char *acct, const char *cpu, struct cgroup_metrics *m)
{
    if (acct && cg_read_u64(acct, "cpuacct.usage", &m->cpu.total) == 0) {
        m->has_cpu = true;
        cleanup_free char *percpu = NULL, *stat = NULL;
        if (cg_read(acct, "cpuacct.usage_percpu", &percpu) == 0) {
            char *p = percpu, *end;
            for (;;) {
                unsigned long long v = strtoull(p, &end, 10);
                if (end == p)
                    break;
                m->cpu.per_cpu = xrealloc(m->cpu.per_cpu, (m->cpu.n_per_cpu + 1) * sizeof(uint64_t));
                m->cpu.per_cpu[m->cpu.n_per_cpu++] = v;
                p = end;
            }
        }
        if (cg_read(acct, "cpuacct.stat", &stat) == 0) {
            /* cpuacct.stat counts USER_HZ ticks */
            long hz = sysconf(_SC_CLK_TCK);
            uint64_t ns_per_tick = hz > 0 ? 1000000000ull / (uint64_t)hz : 10000000ull, t;
            if (cg_kv_lookup(stat, "user", &t))
                m->cpu.user = t * ns_per_tick;
            if (cg_kv_lookup(stat, "system", &t))
                m->cpu.kernel = t * ns_per_tick;
        }
    }
    cleanup_free char *text = NULL;
    if (cpu && cg_read(cpu, "cpu.stat", &text) == 0) {
        m->has_cpu = true;
        (void)cg_kv_lookup(text, "nr_periods", &m->cpu.periods);
        (void)cg_kv_lookup(text, "nr_throttled", &m->cpu.throttled_periods);
        (void)cg_kv_lookup(text, "throttled_time", &m->cpu.throttled_time);
    }
}

static void v1_stats_hugetlb(const char *dir, struct cgroup_metrics *m)
{
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char size[16];
        const char *name = de->d_name, *suffix = ".usage_in_bytes";
        size_t n = strlen(name), sl = strlen(suffix);
        if (!str_has_prefix(name, "hugetlb.") || n <= 8 + sl || strcmp(name + n - sl, suffix) != 0 ||
            n - 8 - sl >= sizeof(size))
            continue;
        memcpy(size, name + 8, n - 8 - sl);
        size[n - 8 - sl] = '\0';
        m->hugetlb = xrealloc(m->hugetlb, (m->n_hugetlb + 1) * sizeof(*m->hugetlb));
        struct cgroup_hugetlb_stat *h = &m->hugetlb[m->n_hugetlb++];
        memset(h, 0, sizeof(*h));
        snprintf(h->pagesize, sizeof(h->pagesize), "%s", size);
        cleanup_free char *u = xasprintf("hugetlb.%s.usage_in_bytes", size),
                          *mx = xasprintf("hugetlb.%s.max_usage_in_bytes", size),
                          *f = xasprintf("hugetlb.%s.failcnt", size);
        (void)cg_read_u64(dir, u, &h->usage);
        (void)cg_read_u64(dir, mx, &h->max);
        (void)cg_read_u64(dir, f, &h->failcnt);
    }
}

static int v1_stats(cgroup *cg, struct cgroup_metrics *m, gcs_err *err UNUSED)
{
    const char *dir;
    if ((dir = v1_ctrl_dir(cg, "pids")) && cg_read_u64(dir, "pids.current", &m->pids.current) == 0) {
        m->has_pids = true;
        if (cg_read_u64(dir, "pids.max", &m->pids.limit) == 0 && m->pids.limit == UINT64_MAX)
            m->pids.limit = 0; /* "max": no limit */
    }
    v1_stats_cpu(v1_ctrl_dir(cg, "cpuacct"), v1_ctrl_dir(cg, "cpu"), m);
    if ((dir = v1_ctrl_dir(cg, "memory")))
        v1_stats_memory(dir, m);
    if ((dir = v1_ctrl_dir(cg, "hugetlb")))
        v1_stats_hugetlb(dir, m);
    return 0;
}

const struct cgroup_ops cgroup_v1_ops = {
    .name = "v1",
    .create = v1_create,
    .load = v1_load,
    .add_pid = cg_common_add_pid,
    .update = v1_update,
    .has_processes = cg_common_has_processes,
    .kill_all = v1_kill_all,
    .delete = cg_common_delete,
    .stats = v1_stats,
    .oom_kill_count = v1_oom_kill_count,
    .memory_usage = v1_memory_usage,
};
