/* cgroup back ends against this machine's real hierarchies: v1 controllers
 * under /sys/fs/cgroup and the cgroup2 mount at /sys/fs/cgroup/unified.
 * Also the "no crash" cases of upstream's internal/guest/cgroup/cgroup_test.go
 * and memory_event_test.go.
 * Every test removes /sys/fs/cgroup/<ctrl>/gcs-unit-<pid> in its teardown. */
#include "cgroup/cgroup-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define UNIFIED "/sys/fs/cgroup/unified"

static char unit_name[64];
static pid_t child = -1;
static int child_pipe[2] = {-1, -1};

/* A child that blocks reading a pipe until killed. */
static pid_t spawn_blocked_child(void)
{
    assert_int_equal(pipe(child_pipe), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        close(child_pipe[1]);
        (void)!read(child_pipe[0], &c, 1);
        _exit(0);
    }
    close(child_pipe[0]);
    child_pipe[0] = -1;
    child = pid;
    return pid;
}

static void reap_child(bool do_kill)
{
    if (child > 0) {
        if (do_kill)
            kill(child, SIGKILL);
        waitpid(child, NULL, 0); /* tests may reap; src/ never does */
        child = -1;
    }
    if (child_pipe[1] >= 0) {
        close(child_pipe[1]);
        child_pipe[1] = -1;
    }
}

/* Move any pid left in dir back to the hierarchy root, then rmdir depth-first. */
static void force_remove(const char *hier_root, const char *dir)
{
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
            cleanup_free char *sub = xasprintf("%s/%s", dir, de->d_name);
            force_remove(hier_root, sub);
        }
    }
    cleanup_free char *procs = NULL;
    if (cg_read(dir, "cgroup.procs", &procs) == 0) {
        char *save = NULL;
        for (char *t = strtok_r(procs, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
            gcs_err e = GCS_ERR_INIT;
            (void)cg_write(hier_root, "cgroup.procs", t, &e);
            err_clear(&e);
        }
    }
    rmdir(dir);
}

static int teardown(void **state UNUSED)
{
    reap_child(true);
    static const char *const hiers[] = {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer",
                                        "memory", "pids", "unified", "systemd"};
    for (size_t i = 0; i < ARRAY_SIZE(hiers); i++) {
        cleanup_free char *root = xasprintf("/sys/fs/cgroup/%s", hiers[i]);
        cleanup_free char *dir = xasprintf("%s/%s", root, unit_name);
        force_remove(root, dir);
        if (access(dir, F_OK) == 0)
            fail_msg("leaked %s", dir);
    }
    return 0;
}

static bool is_cgroup2(const char *p)
{
    struct statfs st;
    return statfs(p, &st) == 0 && (unsigned long)st.f_type == CGROUP2_SUPER_MAGIC;
}

static void test_v1_real(void **state UNUSED)
{
    enum cgroup_version v;
    cleanup_err gcs_err err = GCS_ERR_INIT;
    assert_int_equal(cgroup_detect(CGROUP_DEFAULT_ROOT, &v, &err), 0);
    if (v != CGROUP_V1)
        skip();
    cgroup_mgr *mgr = cgroup_mgr_new(NULL, CGROUP_V1);
    cleanup_free char *path = xasprintf("/%s/a", unit_name);
    json_t *res = json_loads("{\"memory\":{\"limit\":67108864},\"cpu\":{\"shares\":512},\"pids\":{\"limit\":64}}",
                             0, NULL);
    cgroup *cg = NULL;
    int r = cgroup_create(mgr, path, res, &cg, &err);
    json_decref(res);
    if (r < 0)
        fail_msg("create: %s", err_msg(&err));
    cleanup_free char *mem = xasprintf("/sys/fs/cgroup/memory%s", path), *cpu = xasprintf("/sys/fs/cgroup/cpu%s", path),
                      *pids = xasprintf("/sys/fs/cgroup/pids%s", path);
    uint64_t val = 0;
    assert_int_equal(cg_read_u64(mem, "memory.limit_in_bytes", &val), 0);
    assert_int_equal(val, 67108864);
    assert_int_equal(cg_read_u64(cpu, "cpu.shares", &val), 0);
    assert_int_equal(val, 512);
    assert_int_equal(cg_read_u64(pids, "pids.max", &val), 0);
    assert_int_equal(val, 64);
    assert_false(cg_is_cgroup1_mount("/sys/fs/cgroup/systemd/gcs-unit-none")); /* sanity of helper */
    cleanup_free char *sysd = xasprintf("/sys/fs/cgroup/systemd/%s", unit_name);
    /* named hierarchies are included: the runtime creates container paths
     * there too, so the pod cgroup must be made (and removed) in them */
    assert_int_equal(access(sysd, F_OK), 0);

    /* update */
    res = json_loads("{\"memory\":{\"limit\":33554432}}", 0, NULL);
    assert_int_equal(cgroup_update(cg, res, &err), 0);
    json_decref(res);
    assert_int_equal(cg_read_u64(mem, "memory.limit_in_bytes", &val), 0);
    assert_int_equal(val, 33554432);

    pid_t pid = spawn_blocked_child();
    if (cgroup_add_pid(cg, pid, &err) < 0)
        fail_msg("add pid: %s", err_msg(&err)); /* needs cpuset inherited */
    cleanup_free char *procs = NULL;
    assert_int_equal(cg_read(mem, "cgroup.procs", &procs), 0);
    assert_int_equal(atoi(procs), pid);

    /* the parent sees the process in its subtree */
    cgroup *parent = NULL;
    cleanup_free char *ppath = xasprintf("/%s", unit_name);
    assert_int_equal(cgroup_load(mgr, ppath, &parent, &err), 0);
    bool busy = false;
    assert_int_equal(cgroup_has_processes(parent, &busy, &err), 0);
    assert_true(busy);
    assert_true(cgroup_delete(parent, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "contains running processes"));
    err_clear(&err);
    assert_true(cgroup_delete(cg, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "contains running processes"));
    err_clear(&err);

    json_t *stats = NULL;
    assert_int_equal(cgroup_stats(cg, &stats, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(stats, "pids"), "current")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(stats, "memory"), "usage"),
                                                        "limit")), 33554432);
    assert_non_null(json_object_get(stats, "cpu"));
    json_decref(stats);
    uint64_t ooms = 99;
    assert_int_equal(cgroup_oom_kill_count(cg, &ooms, &err), 0);
    assert_int_equal(ooms, 0);

    assert_int_equal(cgroup_kill_all(cg, &err), 0);
    reap_child(false); /* killed by cgroup_kill_all, by pid */
    assert_int_equal(cgroup_has_processes(parent, &busy, &err), 0);
    assert_false(busy);
    assert_int_equal(cgroup_delete(parent, &err), 0);
    assert_int_equal(cgroup_delete(cg, &err), 0); /* already gone: success */
    static const char *const hiers[] = {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"};
    for (size_t i = 0; i < ARRAY_SIZE(hiers); i++) {
        cleanup_free char *dir = xasprintf("/sys/fs/cgroup/%s/%s", hiers[i], unit_name);
        assert_int_equal(access(dir, F_OK), -1);
    }
    cgroup_free(parent);
    cgroup_free(cg);
    cgroup_mgr_free(mgr);
}

static void test_v2_unified_real(void **state UNUSED)
{
    if (!is_cgroup2(UNIFIED))
        skip();
    cleanup_err gcs_err err = GCS_ERR_INIT;
    enum cgroup_version v;
    assert_int_equal(cgroup_detect(UNIFIED, &v, &err), 0);
    assert_int_equal(v, CGROUP_V2);
    cgroup_mgr *mgr = cgroup_mgr_new(UNIFIED, CGROUP_V2);
    cleanup_free char *path = xasprintf("/%s/b", unit_name);
    cgroup *cg = NULL;
    if (cgroup_create(mgr, path, NULL, &cg, &err) < 0)
        fail_msg("create: %s", err_msg(&err));
    pid_t pid = spawn_blocked_child();
    assert_int_equal(cgroup_add_pid(cg, pid, &err), 0);
    bool busy = false;
    assert_int_equal(cgroup_has_processes(cg, &busy, &err), 0);
    assert_true(busy);
    assert_true(cgroup_delete(cg, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "contains running processes"));
    err_clear(&err);
    assert_int_equal(cgroup_kill_all(cg, &err), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    child = -1;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the css may linger briefly after the kill: delete retries EBUSY */
    assert_int_equal(cgroup_delete(cg, &err), 0);
    cgroup *top = NULL;
    cleanup_free char *tpath = xasprintf("/%s", unit_name);
    assert_int_equal(cgroup_load(mgr, tpath, &top, &err), 0);
    assert_int_equal(cgroup_delete(top, &err), 0);
    cleanup_free char *dir = xasprintf(UNIFIED "/%s", unit_name);
    assert_int_equal(access(dir, F_OK), -1);
    cgroup_free(top);
    cgroup_free(cg);
    cgroup_mgr_free(mgr);
}

/* Cases 61, 62, 66, 67, 74: v2 managers on paths that do not exist (here
 * /sys/fs/cgroup is not a cgroup2 mount): errors, never crashes. */
static void test_v2_missing_paths(void **state UNUSED)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cgroup_mgr *mgr = cgroup_mgr_new(CGROUP_DEFAULT_ROOT, CGROUP_V2);
    static const char *const paths[] = {"/proc/nonexistent/path", "/test-permission-denied", "/test-oom",
                                        "/invalid/path"};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        cgroup *cg = NULL;
        assert_true(cgroup_load(mgr, paths[i], &cg, &err) < 0);
        assert_null(cg);
        err_clear(&err);
        /* a handle that was never initialised (no load, no create) */
        cgroup raw = {.mgr = mgr, .path = (char *)paths[i]};
        cleanup_free char *dir = xasprintf("%s%s", CGROUP_DEFAULT_ROOT, paths[i]);
        cg_add_dir(&raw, dir, NULL);
        uint64_t v;
        assert_true(cgroup_add_pid(&raw, 1234, &err) < 0); /* 61, 62 */
        err_clear(&err);
        assert_true(cgroup_oom_kill_count(&raw, &v, &err) < 0); /* 67 */
        err_clear(&err);
        assert_true(cgroup_memory_usage(&raw, &v, &err) < 0); /* 66, 74 */
        err_clear(&err);
        json_t *j = NULL;
        assert_true(cgroup_stats(&raw, &j, &err) < 0);
        err_clear(&err);
        bool busy = true;
        assert_int_equal(cgroup_has_processes(&raw, &busy, &err), 0);
        assert_false(busy);
        assert_int_equal(cgroup_delete(&raw, &err), 0); /* nothing to delete */
        free(raw.dirs[0]);
        free(raw.dirs);
        free(raw.hiers);
    }
    /* 74: the root itself; either result is allowed, no crash */
    cgroup *root = NULL;
    if (cgroup_load(mgr, "/", &root, &err) == 0) {
        uint64_t v;
        (void)cgroup_memory_usage(root, &v, &err);
        assert_true(cgroup_delete(root, &err) < 0); /* never the root */
    }
    err_clear(&err);
    cgroup_free(root);
    cgroup_mgr_free(mgr);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_cgroup_kernel: needs root, skipped\n");
        return 0;
    }
    snprintf(unit_name, sizeof(unit_name), "gcs-unit-%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_v1_real, teardown),
        cmocka_unit_test_teardown(test_v2_unified_real, teardown),
        cmocka_unit_test_teardown(test_v2_missing_paths, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
