/* Unit tests for src/spec: docs/pod-model.md §2.4, §3.7, §3.8, against
 * a temporary directory standing in for the sandbox root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/path.h"
#include "pod/annotations.h"
#include "spec/spec.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct fixture {
    char dir[64];
    char *root;
} fixture;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = xzalloc(sizeof(*f));
    strcpy(f->dir, "/tmp/gcs-unit-spec-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->root = xasprintf("%s/root", f->dir);
    mkdir(f->root, 0755);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f->root);
    free(f);
    return 0;
}

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (!j)
        fail_msg("bad test json: %s", je.text);
    return j;
}

static json_t *spec_with_mount(const char *source)
{
    return json_pack("{s:[{s:s, s:s, s:s}]}", "mounts", "destination", "/data", "type", "bind", "source", source);
}

static const char *mount_source(const json_t *spec, size_t i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(spec, "mounts"), i), "source"));
}

static mode_t dir_mode(const char *p)
{
    struct stat st;
    if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    return st.st_mode & 07777;
}

static void expect_err(int r, gcs_err *err, const char *want)
{
    assert_true(r < 0);
    if (!strstr(err_msg(err), want))
        fail_msg("got '%s', want '%s'", err_msg(err), want);
    err_clear(err);
}

/* docs/pod-model.md §3.8: sandbox:// */
static void test_sandbox_mount_mapped_and_created_0777(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = spec_with_mount("sandbox://data");
    mode_t old = umask(022);
    assert_int_equal(spec_map_sandbox_mounts(s, f->root, &err), 0);
    umask(old);
    char *want = xasprintf("%s/sandboxMounts/data", f->root);
    assert_string_equal(mount_source(s, 0), want);
    assert_int_equal(dir_mode(want), 0777); /* the umask did not apply */
    free(want);
    json_decref(s);
}

static void test_sandbox_dotdot_etc_rejected(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = spec_with_mount("sandbox://../../etc");
    expect_err(spec_map_sandbox_mounts(s, f->root, &err), &err, "is not within sandbox's mounts dir");
    json_decref(s);
}

/* docs/differences.md D-8: upstream accepted this (plain prefix); a deliberate fix */
static void test_sandbox_dotdot_sandboxMountsX_rejected_7_3_item_8(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = spec_with_mount("sandbox://../sandboxMountsX");
    expect_err(spec_map_sandbox_mounts(s, f->root, &err), &err, "is not within sandbox's mounts dir");
    char *sib = xasprintf("%s/sandboxMountsX", f->root);
    assert_int_equal(dir_mode(sib), 0); /* nothing created */
    free(sib);
    json_decref(s);
    s = spec_with_mount("sandbox-tmp://../sandboxTmpfsMountsX");
    expect_err(spec_map_sandbox_mounts(s, f->root, &err), &err, "is not within sandbox's tmpfs mounts dir");
    json_decref(s);
    s = spec_with_mount("hugepages://../hugepagesX/y");
    expect_err(spec_map_hugepage_mounts(s, f->root, NULL, NULL, &err), &err, "not within hugepages's mounts dir");
    json_decref(s);
}

/* docs/pod-model.md §3.8: sandbox-tmp:// */
static void test_sandbox_tmp_mapped(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = spec_with_mount("sandbox-tmp://x");
    assert_int_equal(spec_map_sandbox_mounts(s, f->root, &err), 0);
    char *want = xasprintf("%s/sandboxTmpfsMounts/x", f->root);
    assert_string_equal(mount_source(s, 0), want);
    assert_int_equal(dir_mode(want), 0777);
    free(want);
    json_decref(s);
}

struct hp_calls {
    int n;
    char target[512];
    char pagesize[32];
};

static int record_hugetlb(const char *target, const char *pagesize, void *ud, gcs_err *err)
{
    (void)err;
    struct hp_calls *c = ud;
    c->n++;
    snprintf(c->target, sizeof(c->target), "%s", target);
    snprintf(c->pagesize, sizeof(c->pagesize), "%s", pagesize);
    return 0;
}

/* docs/pod-model.md §3.8: hugepages:// */
static void test_hugepages_mapped_and_mount_requested_once(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    struct hp_calls calls = {0};
    json_t *s = spec_with_mount("hugepages://2M/foo");
    assert_int_equal(spec_map_hugepage_mounts(s, f->root, record_hugetlb, &calls, &err), 0);
    char *want = xasprintf("%s/hugepages/2M/foo", f->root);
    assert_string_equal(mount_source(s, 0), want);
    assert_int_equal(calls.n, 1);
    assert_string_equal(calls.target, want);
    assert_string_equal(calls.pagesize, "2M");
    json_decref(s);
    /* the target now exists: no second mount */
    s = spec_with_mount("hugepages://2M/foo");
    assert_int_equal(spec_map_hugepage_mounts(s, f->root, record_hugetlb, &calls, &err), 0);
    assert_int_equal(calls.n, 1);
    json_decref(s);
    /* without a mounter a new target is an error naming the needed mount */
    s = spec_with_mount("hugepages://1G/bar");
    expect_err(spec_map_hugepage_mounts(s, f->root, NULL, NULL, &err), &err, "needs hugetlbfs mount at");
    json_decref(s);
    free(want);
}

/* docs/pod-model.md §3.8: uvm:// */
static void test_uvm_mount(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    char *src = xasprintf("uvm://%s", f->root);
    json_t *s = spec_with_mount(src);
    assert_int_equal(spec_map_uvm_mounts(s, &err), 0);
    assert_string_equal(mount_source(s, 0), f->root);
    json_decref(s);
    free(src);
    s = spec_with_mount("uvm:///run/does-not-exist-gcs-unit");
    expect_err(spec_map_uvm_mounts(s, &err), &err, "could not open uVM mount target");
    json_decref(s);
}

static void test_blockdev_not_supported(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = parse("{\"mounts\":[{\"destination\":\"blockdev:///dev/x\",\"source\":\"/l\"}]}");
    assert_true(spec_map_blockdev_mounts(s, &err) < 0);
    assert_int_equal(err.hr, HR_E_NOTIMPL);
    err_clear(&err);
    json_decref(s);
    s = spec_with_mount("/x");
    assert_int_equal(spec_map_blockdev_mounts(s, &err), 0);
    json_decref(s);
}

/* docs/pod-model.md §3.7 workload step 1 */
static void test_workload_hostname(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = parse("{\"hostname\":\"h1\"}");
    expect_err(spec_check_workload_hostname(s, &err), &err, "workload container must not change hostname: h1");
    json_decref(s);
    s = parse("{\"hostname\":\"\"}");
    assert_int_equal(spec_check_workload_hostname(s, &err), 0);
    json_decref(s);
}

/* docs/pod-model.md §3.7 workload step 6 */
static void test_networking_mounts(void **state)
{
    (void)state;
    json_t *s = parse("{\"root\":{\"readonly\":true}}");
    spec_add_networking_mounts(s, "/r");
    json_t *want = parse("[{\"destination\":\"/etc/hostname\",\"type\":\"bind\",\"source\":\"/r/hostname\","
                         "\"options\":[\"bind\",\"ro\"]},"
                         "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/r/hosts\","
                         "\"options\":[\"bind\",\"ro\"]},"
                         "{\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\",\"source\":\"/r/resolv.conf\","
                         "\"options\":[\"bind\",\"ro\"]}]");
    assert_true(json_equal(json_object_get(s, "mounts"), want));
    json_decref(want);
    json_decref(s);

    s = parse("{\"mounts\":[{\"destination\":\"/etc/hosts\",\"source\":\"/mine\"}]}");
    spec_add_networking_mounts(s, "/r");
    json_t *m = json_object_get(s, "mounts");
    assert_int_equal(json_array_size(m), 3);
    assert_string_equal(mount_source(s, 0), "/mine");
    assert_string_equal(mount_source(s, 1), "/r/hostname");
    assert_string_equal(mount_source(s, 2), "/r/resolv.conf");
    json_t *opts = json_object_get(json_array_get(m, 1), "options");
    assert_int_equal(json_array_size(opts), 1); /* not read-only: [bind] */
    json_decref(s);
}

/* docs/pod-model.md §2.4: the tee-log path */
static void test_tee_log_path(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    char *p = NULL;
    assert_true(spec_tee_log_path(f->root, "../x", &p, &err) < 0);
    assert_null(p);
    assert_non_null(strstr(err_msg(&err), "is not within sandbox's log dir"));
    err_clear(&err);
    /* separator-aware: logsX is a sibling */
    expect_err(spec_tee_log_path(f->root, "../logsX/a", &p, &err), &err, "not within sandbox's log dir");
    /* the logs dir itself is not a file below it */
    expect_err(spec_tee_log_path(f->root, ".", &p, &err), &err, "not within sandbox's log dir");
    /* docs/differences.md D-60: upstream takes "/x" as logs/x and cleans "a/../b" */
    expect_err(spec_tee_log_path(f->root, "/etc/x", &p, &err), &err, "must be relative");
    expect_err(spec_tee_log_path(f->root, "a/../b", &p, &err), &err, "not within sandbox's log dir");
    expect_err(spec_tee_log_path(f->root, "a/./b", &p, &err), &err, "not within sandbox's log dir");

    assert_int_equal(spec_tee_log_prepare(f->root, "a/b.log", &p, &err), 0);
    char *want = xasprintf("%s/logs/a/b.log", f->root);
    assert_string_equal(p, want);
    char *dir = xasprintf("%s/logs/a", f->root);
    assert_int_equal(dir_mode(dir), 0777);
    free(dir), free(want), free(p);

    json_t *s = json_object();
    spec_add_tee_log_dir_mount(s, "/var/log/pod", "/r");
    assert_string_equal(mount_source(s, 0), "/r/logs");
    json_decref(s);
}

/* docs/pod-model.md §3.7 workload step 7 */
static void test_devshm(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = parse("{\"annotations\":{\"io.microsoft.lcow.shm.size-kb\":\"0\"}}");
    expect_err(spec_apply_devshm_annotation(s, &err), &err, "/dev/shm size must be non-zero");
    json_decref(s);
    s = parse("{\"annotations\":{\"io.microsoft.lcow.shm.size-kb\":\"abc\"}}");
    expect_err(spec_apply_devshm_annotation(s, &err), &err, "/dev/shm size must be a valid integer");
    json_decref(s);
    s = parse("{\"annotations\":{\"io.microsoft.lcow.shm.size-kb\":\"65536\"},"
              "\"mounts\":[{\"destination\":\"/dev/shm\",\"source\":\"old\"},{\"destination\":\"/x\"}]}");
    assert_int_equal(spec_apply_devshm_annotation(s, &err), 0);
    json_t *want = parse("[{\"destination\":\"/x\"},{\"source\":\"shm\",\"destination\":\"/dev/shm\",\"type\":"
                         "\"tmpfs\",\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]}]");
    assert_true(json_equal(json_object_get(s, "mounts"), want));
    json_decref(want);
    json_decref(s);
    s = json_object();
    assert_int_equal(spec_apply_devshm_annotation(s, &err), 0);
    assert_null(json_object_get(s, "mounts"));
    json_decref(s);
}

/* docs/pod-model.md §3.7 workload step 8 */
static void test_core_rlimit(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = parse("{\"annotations\":{\"io.microsoft.lcow.rlimitcore\":\"1;2\"},\"process\":{}}");
    assert_int_equal(spec_apply_core_rlimit_annotation(s, &err), 0);
    json_t *want = parse("[{\"type\":\"RLIMIT_CORE\",\"soft\":1,\"hard\":2}]");
    assert_true(json_equal(json_object_get(json_object_get(s, "process"), "rlimits"), want));
    json_decref(want);
    json_decref(s);
    s = json_object();
    expect_err(spec_set_core_rlimit(s, "1", &err), &err, "wrong number of values supplied for rlimit core");
    expect_err(spec_set_core_rlimit(s, "1;2;3", &err), &err, "wrong number of values");
    expect_err(spec_set_core_rlimit(s, "x;2", &err), &err, "failed to parse soft core rlimit");
    expect_err(spec_set_core_rlimit(s, "1;-2", &err), &err, "failed to parse hard core rlimit");
    expect_err(spec_set_core_rlimit(s, "1;18446744073709551615", &err), &err, "not supported");
    json_decref(s);
}

static void write_rootfs(fixture *f)
{
    char *etc = xasprintf("%s/rootfs/etc", f->dir);
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(spec_mkdir_all_perm(etc, &err), 0);
    char *pw = xasprintf("%s/passwd", etc), *gr = xasprintf("%s/group", etc);
    const char *passwd = "root:x:0:0:root:/root:/bin/sh\n\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1001::/home/app:/bin/sh\n";
    const char *group = "root:x:0:\nstaff:x:50:app\napp:x:1001:\n";
    assert_int_equal(write_file(pw, passwd, strlen(passwd), 0644), 0);
    assert_int_equal(write_file(gr, group, strlen(group), 0644), 0);
    free(pw), free(gr), free(etc);
}

static int resolve(fixture *f, const char *user, long long *uid, long long *gid, gcs_err *err)
{
    char *rootfs = xasprintf("%s/rootfs", f->dir);
    json_t *s = json_pack("{s:{s:s}, s:{s:{s:s}}}", "root", "path", rootfs, "process", "user", "username", user);
    int r = spec_resolve_username(s, err);
    json_t *u = json_object_get(json_object_get(s, "process"), "user");
    *uid = json_integer_value(json_object_get(u, "uid"));
    *gid = json_integer_value(json_object_get(u, "gid"));
    json_decref(s);
    free(rootfs);
    return r;
}

static void test_username_resolution(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    long long uid, gid;
    write_rootfs(f);
    assert_int_equal(resolve(f, "app", &uid, &gid, &err), 0);
    assert_int_equal(uid, 1000);
    assert_int_equal(gid, 1001);
    assert_int_equal(resolve(f, "app:staff", &uid, &gid, &err), 0);
    assert_int_equal(gid, 50);
    assert_int_equal(resolve(f, "nobody:7", &uid, &gid, &err), 0);
    assert_int_equal(uid, 65534);
    assert_int_equal(gid, 7);
    assert_int_equal(resolve(f, "4242", &uid, &gid, &err), 0); /* unknown uid kept, gid 0 */
    assert_int_equal(uid, 4242);
    assert_int_equal(gid, 0);
    expect_err(resolve(f, "ghost", &uid, &gid, &err), &err, "failed to find user by username: ghost");
    expect_err(resolve(f, "app:ghosts", &uid, &gid, &err), &err, "failed to find group by groupname: ghosts");
    expect_err(resolve(f, "a:b:c", &uid, &gid, &err), &err, "invalid userstr: 'a:b:c'");
    expect_err(resolve(f, "4294967296", &uid, &gid, &err), &err, "exceeds uint32 bounds");
    /* no username: untouched */
    json_t *s = parse("{\"process\":{\"user\":{\"uid\":5}}}");
    assert_int_equal(spec_resolve_username(s, &err), 0);
    json_decref(s);
    /* missing passwd file */
    s = parse("{\"root\":{\"path\":\"/nonexistent-gcs-unit\"},\"process\":{\"user\":{\"username\":\"x\"}}}");
    expect_err(spec_resolve_username(s, &err), &err, "failed to find user by username: x");
    json_decref(s);
}

static void test_getters_and_setters(void **state)
{
    (void)state;
    json_t *s = parse("{\"windows\":{\"network\":{\"networkNamespace\":\"ABC-Def\"}},\"annotations\":{\"k\":\"v\"}}");
    char *ns = spec_network_namespace_id(s);
    assert_string_equal(ns, "abc-def");
    free(ns);
    assert_string_equal(spec_annotation(s, "k"), "v");
    assert_null(spec_annotation(s, "missing"));
    spec_clear_windows(s);
    assert_null(json_object_get(s, "windows"));
    ns = spec_network_namespace_id(s);
    assert_string_equal(ns, "");
    free(ns);
    spec_set_cgroups_path(s, "/pods/S/W");
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "linux"), "cgroupsPath")), "/pods/S/W");
    assert_false(spec_root_readonly(s));
    json_decref(s);
}

static void test_setup_workload(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    struct hp_calls calls = {0};
    json_t *s = json_pack("{s:{s:s}, s:{}, s:{}, s:[{s:s,s:s},{s:s,s:s}], s:{s:{s:s}}}", "annotations",
                          POD_ANN_RLIMIT_CORE, "3;4", "process", "linux", "mounts", "destination", "/d",
                          "source", "sandbox://vol", "destination", "/h", "source", "hugepages://2M/p", "windows",
                          "network", "networkNamespace", "ns");
    assert_int_equal(spec_setup_workload(s, "S", "W", f->root, record_hugetlb, &calls, &err), 0);
    assert_null(json_object_get(s, "windows"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "linux"), "cgroupsPath")), "/pods/S/W");
    assert_int_equal(json_array_size(json_object_get(s, "mounts")), 5); /* 2 + 3 networking */
    assert_int_equal(calls.n, 1);
    assert_int_equal(json_array_size(json_object_get(json_object_get(s, "process"), "rlimits")), 1);
    json_decref(s);

    s = parse("{\"hostname\":\"x\"}");
    expect_err(spec_setup_workload(s, "S", "W", f->root, NULL, NULL, &err), &err, "must not change hostname");
    json_decref(s);
    s = spec_with_mount("sandbox://../sandboxMountsX");
    expect_err(spec_setup_workload(s, "S", "W", f->root, NULL, NULL, &err), &err,
               "failed to update sandbox mounts for container W in sandbox S: mount path");
    json_decref(s);
    s = parse("{\"windows\":{\"devices\":[{\"idType\":\"gpu\",\"id\":\"x\"}]}}");
    expect_err(spec_setup_workload(s, "S", "W", f->root, NULL, NULL, &err), &err, "not supported yet");
    json_decref(s);
}

static void test_setup_sandbox(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    json_t *s = parse("{\"windows\":{},\"annotations\":{\"io.microsoft.lcow.rlimitcore\":\"1\"}}");
    expect_err(spec_setup_sandbox(s, "V", "V", &err), &err, "wrong number of values");
    json_decref(s);
    s = parse("{\"windows\":{}}");
    assert_int_equal(spec_setup_sandbox(s, "V", "S2", &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "linux"), "cgroupsPath")), "/pods/V/S2");
    assert_null(json_object_get(s, "windows"));
    assert_null(json_object_get(s, "mounts")); /* the sandbox gets no networking mounts */
    json_decref(s);
}

static char *slurp(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    char *buf = NULL;
    size_t len;
    if (read_file(p, &buf, &len) < 0)
        buf = NULL;
    free(p);
    return buf;
}

static void test_setup_standalone(void **state)
{
    fixture *f = *state;
    gcs_err err = GCS_ERR_INIT;
    char *root = xasprintf("%s/standalone/bundle", f->dir);
    json_t *s = parse("{\"hostname\":\"web.example.com\",\"root\":{\"readonly\":true},"
                      "\"mounts\":[{\"destination\":\"/etc/resolv.conf\",\"source\":\"/own\"}],\"windows\":{}}");
    assert_int_equal(spec_setup_standalone(s, "X", root, "uvm", "nameserver 1.1.1.1\n", &err), 0);
    assert_int_equal(dir_mode(root) & 0700, 0700);
    char *h = slurp(root, "hostname"), *hosts = slurp(root, "hosts"), *rc = slurp(root, "resolv.conf");
    assert_string_equal(h, "web.example.com\n");
    assert_non_null(strstr(hosts, "127.0.0.1 web.example.com web\n"));
    assert_null(rc); /* /etc/resolv.conf was already mounted: not written */
    free(h), free(hosts), free(rc);
    assert_int_equal(json_array_size(json_object_get(s, "mounts")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "linux"), "cgroupsPath")), "/pods/X");
    assert_null(json_object_get(s, "windows"));
    json_decref(s);

    /* default hostname from the UVM; an invalid one is refused */
    s = json_object();
    assert_int_equal(spec_setup_standalone(s, "X", root, "uvm-host", "", &err), 0);
    h = slurp(root, "hostname");
    assert_string_equal(h, "uvm-host\n");
    free(h);
    rc = slurp(root, "resolv.conf");
    assert_string_equal(rc, "");
    free(rc);
    json_decref(s);
    s = parse("{\"hostname\":\"bad\\nhost\"}");
    expect_err(spec_setup_standalone(s, "X", root, "uvm", "", &err), &err, "invalid: must match");
    json_decref(s);
    free(root);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sandbox_mount_mapped_and_created_0777),
        T(test_sandbox_dotdot_etc_rejected),
        T(test_sandbox_dotdot_sandboxMountsX_rejected_7_3_item_8),
        T(test_sandbox_tmp_mapped),
        T(test_hugepages_mapped_and_mount_requested_once),
        T(test_uvm_mount),
        T(test_blockdev_not_supported),
        T(test_workload_hostname),
        T(test_networking_mounts),
        T(test_tee_log_path),
        T(test_devshm),
        T(test_core_rlimit),
        T(test_username_resolution),
        T(test_getters_and_setters),
        T(test_setup_workload),
        T(test_setup_sandbox),
        T(test_setup_standalone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
