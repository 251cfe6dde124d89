/* cgroup-v2.c — the unified-hierarchy back end (docs/pod-model.md §4.5, v2). */
#include "cgroup/cgroup-internal.h"

#include <errno.h>
#include <inttypes.h>

static char *v2_dir(const cgroup *cg)
{
    return streq(cg->path, "/") ? xstrdup(cg->mgr->root) : xasprintf("%s%s", cg->mgr->root, cg->path);
}

static bool word_in(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\n' || *p == '+')
            p++;
        size_t len = strcspn(p, " \n");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* Enable in dir/cgroup.subtree_control those of `needed` that dir offers
 * (cgroup.controllers) and has not enabled yet, in one write. */
static int enable_controllers(const char *dir, const char *needed, gcs_err *err)
{
    cleanup_free char *avail = NULL, *enabled = NULL;
    if (cg_read(dir, "cgroup.controllers", &avail) < 0)
        return 0; /* offers nothing */
    (void)cg_read(dir, "cgroup.subtree_control", &enabled);
    char buf[64] = "";
    cleanup_free char *copy = xstrdup(needed);
    char *save = NULL;
    for (char *c = strtok_r(copy, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
        if (!word_in(avail, c) || word_in(enabled, c))
            continue;
        if (buf[0])
            strcat(buf, " ");
        strcat(buf, "+");
        strcat(buf, c);
    }
    return buf[0] ? cg_write(dir, "cgroup.subtree_control", buf, err) : 0;
}

/* Every ancestor of the cgroup, from the root down to its parent. */
static int enable_in_ancestors(cgroup *cg, const char *needed, gcs_err *err)
{
    if (!needed[0] || streq(cg->path, "/"))
        return 0;
    cleanup_free char *cur = xstrdup(cg->mgr->root);
    cleanup_free char *copy = xstrdup(cg->path + 1);
    char *last = strrchr(copy, '/');
    if (!last)
        return enable_controllers(cur, needed, err);
    *last = '\0';
    int r = enable_controllers(cur, needed, err);
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok && r == 0; tok = strtok_r(NULL, "/", &save)) {
        char *next = xasprintf("%s/%s", cur, tok);
        free(cur);
        cur = next;
        r = enable_controllers(cur, needed, err);
    }
    return r;
}

static int write_limit(const char *dir, const char *file, int64_t v, gcs_err *err)
{
    return v < 0 ? cg_write(dir, file, "max", err) : cg_write_i64(dir, file, v, err);
}

static int v2_apply(cgroup *cg, const json_t *res, gcs_err *err)
{
    struct cgroup_v2_resources r2;
    cgroup_v2_resources_from_oci(res, &r2);
    char needed[32];
    cgroup_v2_resources_controllers(&r2, needed);
    int r = enable_in_ancestors(cg, needed, err);
    if (r < 0)
        return r;
    const char *dir = cg->dirs[0];
    if (r2.has_memory_max && (r = write_limit(dir, "memory.max", r2.memory_max, err)) < 0)
        return r;
    if (r2.has_memory_low && (r = write_limit(dir, "memory.low", r2.memory_low, err)) < 0)
        return r;
    if (r2.has_memory_swap_max && (r = write_limit(dir, "memory.swap.max", r2.memory_swap_max, err)) < 0)
        return r;
    if (r2.has_cpu_weight && (r = cg_write_i64(dir, "cpu.weight", (int64_t)r2.cpu_weight, err)) < 0)
        return r;
    if (r2.has_cpu_max && (r = cg_write(dir, "cpu.max", r2.cpu_max, err)) < 0)
        return r;
    if (r2.has_pids_max && (r = cg_write_i64(dir, "pids.max", r2.pids_max, err)) < 0)
        return r;
    if (r2.has_io_bfq_weight && (r = cg_write_i64(dir, "io.bfq.weight", (int64_t)r2.io_bfq_weight, err)) < 0)
        return r;
    return 0;
}

static int v2_create(cgroup *cg, const json_t *res, gcs_err *err)
{
    char **created = NULL;
    size_t ncreated = 0;
    cleanup_free char *dir = v2_dir(cg);
    cg_add_dir(cg, dir, NULL);
    int r = cg_mkdir_p(cg->mgr->root, cg->path, &created, &ncreated, err);
    if (r == 0)
        r = v2_apply(cg, res, err);
    if (r < 0) {
        cg_rollback(created, ncreated); /* remove only what this call made */
        return r;
    }
    for (size_t i = 0; i < ncreated; i++)
        free(created[i]);
    free(created);
    return 0;
}

static int v2_load(cgroup *cg, gcs_err *err)
{
    cleanup_free char *dir = v2_dir(cg);
    if (access(dir, F_OK) < 0)
        return err_errno(err, HR_E_FAIL, errno, "%s", dir);
    cg_add_dir(cg, dir, NULL);
    return 0;
}

static int v2_update(cgroup *cg, const json_t *res, gcs_err *err)
{
    return v2_apply(cg, res, err);
}

static int v2_kill_all(cgroup *cg, gcs_err *err)
{
    cleanup_free char *kill_file = xasprintf("%s/cgroup.kill", cg->dirs[0]);
    if (cg_is_cgroupfs(cg->dirs[0]) && access(kill_file, F_OK) == 0)
        return cg_write(cg->dirs[0], "cgroup.kill", "1", err);
    return cg_tree_kill(cg->dirs[0], err); /* kernel < 5.14, or a fake tree */
}

static int v2_oom_kill_count(cgroup *cg, uint64_t *ret, gcs_err *err)
{
    cleanup_free char *text = NULL;
    int r = cg_read(cg->dirs[0], "memory.events", &text);
    if (r < 0)
        return err_errno(err, HR_E_FAIL, -r, "read %s/memory.events", cg->dirs[0]);
    struct cgroup_memory_events ev;
    cgroup_parse_memory_events(text, &ev);
    *ret = ev.oom_kill;
    return 0;
}

static int v2_memory_usage(cgroup *cg, uint64_t *ret, gcs_err *err)
{
    int r = cg_read_u64(cg->dirs[0], "memory.current", ret);
    return r < 0 ? err_errno(err, HR_E_FAIL, -r, "read %s/memory.current", cg->dirs[0]) : 0;
}

static int v2_stats(cgroup *cg, struct cgroup_metrics *out, gcs_err *err)
{
    struct cgroup_v2_stats s = {0};
    int r = cg_v2_read_stats(cg->dirs[0], &s, err);
    if (r == 0)
        cgroup_v2_stats_to_v1(&s, out);
    cgroup_v2_stats_clear(&s);
    return r;
}

const struct cgroup_ops cgroup_v2_ops = {
    .name = "v2",
    .create = v2_create,
    .load = v2_load,
    .add_pid = cg_common_add_pid,
    .update = v2_update,
    .has_processes = cg_common_has_processes,
    .kill_all = v2_kill_all,
    .delete = cg_common_delete,
    .stats = v2_stats,
    .oom_kill_count = v2_oom_kill_count,
    .memory_usage = v2_memory_usage,
};
