/* Unit tests for src/sandbox: the cases of upstream's
 * internal/guest/runtime/hcsv2/sandbox_root_test.go and bundle_bind_test.go,
 * and the derived virtual-pod ID cases of docs/pod-model.md §2.3 under the
 * strict rule (docs/differences.md D-9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/path.h"
#include "sandbox/sandbox.h"

static int setup(void **state)
{
    log_setup(-1, LOG_ERROR, false); /* keep the fallback warnings quiet */
    *state = sandbox_roots_new();
    return 0;
}

static int teardown(void **state)
{
    sandbox_roots_free(*state);
    return 0;
}

static char *reg(sandbox_roots *roots, const char *key, const char *bundle, const char *vpid)
{
    gcs_err err = GCS_ERR_INIT;
    char *root = NULL;
    if (sandbox_root_register(roots, key, bundle, vpid, &root, &err) < 0)
        fail_msg("register(%s, %s, %s): %s", key, bundle, vpid, err_msg(&err));
    return root;
}

static void assert_resolve(sandbox_roots *roots, const char *sid, const char *want)
{
    char *got = sandbox_root_resolve(roots, sid);
    assert_string_equal(got, want);
    free(got);
}

/* assert fn(root) == want and free */
#define ASSERT_PATH(call, want)                                                                                \
    do {                                                                                                       \
        char *p_ = (call);                                                                                     \
        assert_string_equal(p_, (want));                                                                       \
        free(p_);                                                                                              \
    } while (0)

/* 1 */
static void test_register_and_resolve(void **state)
{
    char *root = reg(*state, "sandbox-1", "/run/gcs/c/sandbox-1", "");
    assert_string_equal(root, "/run/gcs/c/sandbox-1");
    free(root);
    assert_resolve(*state, "sandbox-1", "/run/gcs/c/sandbox-1");
    assert_int_equal(sandbox_roots_count(*state), 1);
}

/* 2 */
static void test_resolve_fallback(void **state)
{
    assert_resolve(*state, "sandbox-missing", "/run/gcs/c/sandbox-missing");
    assert_null(sandbox_root_lookup(*state, "sandbox-missing"));
}

/* 3 */
static void test_unregister(void **state)
{
    free(reg(*state, "sandbox-1", "/some/path", ""));
    assert_resolve(*state, "sandbox-1", "/some/path");
    assert_true(sandbox_root_unregister(*state, "sandbox-1"));
    assert_resolve(*state, "sandbox-1", "/run/gcs/c/sandbox-1");
    assert_false(sandbox_root_unregister(*state, "sandbox-1"));
    assert_int_equal(sandbox_roots_count(*state), 0);
}

/* 4 */
static void test_root_from_oci_bundle_path(void **state)
{
    char *root = reg(*state, "my-sandbox-id", "/run/gcs/c/my-sandbox-id", "");
    assert_string_equal(root, "/run/gcs/c/my-sandbox-id");
    free(root);
}

/* 5, 6, 7: the C test calls register, not the formula */
static void test_virtual_pod_root(void **state)
{
    char *r = reg(*state, "container-abc", "/run/gcs/c/container-abc", "vpod-123");
    assert_string_equal(r, "/run/gcs/c/virtual-pods/vpod-123");
    free(r);
    r = reg(*state, "container-abc2", "/new/layout/sandboxes/container-abc", "vpod-456");
    assert_string_equal(r, "/new/layout/sandboxes/virtual-pods/vpod-456");
    free(r);
    r = reg(*state, "container-id", "/run/gcs/c/container-id", "vpod-abc");
    assert_string_equal(r, "/run/gcs/c/virtual-pods/vpod-abc");
    free(r);
    assert_resolve(*state, "container-abc", "/run/gcs/c/virtual-pods/vpod-123");
}

/* 8 */
static void test_subdirectory_paths(void **state)
{
    (void)state;
    const char *root = "/run/gcs/c/sandbox-xyz";
    ASSERT_PATH(sandbox_mounts_dir(root), "/run/gcs/c/sandbox-xyz/sandboxMounts");
    ASSERT_PATH(sandbox_tmpfs_mounts_dir(root), "/run/gcs/c/sandbox-xyz/sandboxTmpfsMounts");
    ASSERT_PATH(sandbox_hugepages_dir(root), "/run/gcs/c/sandbox-xyz/hugepages");
    ASSERT_PATH(sandbox_logs_dir(root), "/run/gcs/c/sandbox-xyz/logs");
    ASSERT_PATH(sandbox_legacy_mounts_dir("sandbox-xyz"), "/run/gcs/c/sandbox-xyz/sandboxMounts");
    ASSERT_PATH(sandbox_legacy_tmpfs_mounts_dir("sandbox-xyz"), "/run/gcs/c/sandbox-xyz/sandboxTmpfsMounts");
    ASSERT_PATH(sandbox_legacy_hugepages_dir("sandbox-xyz"), "/run/gcs/c/sandbox-xyz/hugepages");
    ASSERT_PATH(sandbox_legacy_logs_dir("sandbox-xyz"), "/run/gcs/c/sandbox-xyz/logs");
    ASSERT_PATH(sandbox_legacy_root("sandbox-xyz"), root);
}

static void assert_all_under(const char *root)
{
    char *want;
#define UNDER(fn, name)                                                                                        \
    want = xasprintf("%s/%s", root, name);                                                                     \
    ASSERT_PATH(fn(root), want);                                                                               \
    free(want);
    UNDER(sandbox_mounts_dir, "sandboxMounts")
    UNDER(sandbox_tmpfs_mounts_dir, "sandboxTmpfsMounts")
    UNDER(sandbox_hugepages_dir, "hugepages")
    UNDER(sandbox_logs_dir, "logs")
    UNDER(sandbox_hostname_path, "hostname")
    UNDER(sandbox_hosts_path, "hosts")
    UNDER(sandbox_resolv_conf_path, "resolv.conf")
#undef UNDER
}

/* 9 */
static void test_parity_regular_sandbox(void **state)
{
    char *root = reg(*state, "abc-123-sandbox", "/run/gcs/c/abc-123-sandbox", "");
    assert_string_equal(root, "/run/gcs/c/abc-123-sandbox");
    assert_all_under(root);
    char *logs = sandbox_logs_dir(root);
    ASSERT_PATH(path_join(logs, "container.log"), "/run/gcs/c/abc-123-sandbox/logs/container.log");
    free(logs);
    ASSERT_PATH(sandbox_legacy_root("abc-123-sandbox"), root);
    free(root);
}

/* 10 */
static void test_parity_virtual_pod(void **state)
{
    char *root = reg(*state, "abc-123-sandbox", "/run/gcs/c/abc-123-sandbox", "vpod-456");
    assert_string_equal(root, "/run/gcs/c/virtual-pods/vpod-456");
    assert_all_under(root);
    free(root);
}

/* 11 */
static void test_parity_workload_uses_sandbox_root(void **state)
{
    free(reg(*state, "abc-123-sandbox", "/run/gcs/c/abc-123-sandbox", ""));
    char *root = sandbox_root_resolve(*state, "abc-123-sandbox");
    assert_string_equal(root, "/run/gcs/c/abc-123-sandbox");
    char *hosts = sandbox_hosts_path(root);
    assert_string_equal(hosts, "/run/gcs/c/abc-123-sandbox/hosts");
    assert_string_not_equal(hosts, "/run/gcs/c/workload-container-999/hosts");
    free(hosts);
    free(root);
}

/* 12 */
static void test_parity_standalone(void **state)
{
    gcs_err err = GCS_ERR_INIT;
    char *root = NULL;
    assert_int_equal(sandbox_root_compute("/run/gcs/c/standalone-789", "", &root, &err), 0);
    ASSERT_PATH(sandbox_legacy_root("standalone-789"), root);
    free(root);
    assert_int_equal(sandbox_roots_count(*state), 0);
}

/* 13 */
static void test_multi_pod_isolation(void **state)
{
    char *r1 = reg(*state, "sandbox-pod1", "/run/gcs/c/sandbox-pod1", "vpod-aaa");
    char *r2 = reg(*state, "sandbox-pod2", "/run/gcs/c/sandbox-pod2", "vpod-bbb");
    assert_string_equal(r1, "/run/gcs/c/virtual-pods/vpod-aaa");
    assert_string_equal(r2, "/run/gcs/c/virtual-pods/vpod-bbb");
    assert_string_not_equal(r1, r2);
    assert_resolve(*state, "sandbox-pod1", r1);
    assert_resolve(*state, "sandbox-pod2", r2);
    char *h1 = sandbox_hosts_path(r1), *h2 = sandbox_hosts_path(r2);
    char *m1 = sandbox_mounts_dir(r1), *m2 = sandbox_mounts_dir(r2);
    assert_string_not_equal(h1, h2);
    assert_string_not_equal(m1, m2);
    char *w = sandbox_root_resolve(*state, "sandbox-pod1");
    ASSERT_PATH(sandbox_hosts_path(w), h1);
    free(w);
    sandbox_root_unregister(*state, "sandbox-pod1");
    assert_resolve(*state, "sandbox-pod2", r2);
    assert_resolve(*state, "sandbox-pod1", "/run/gcs/c/sandbox-pod1");
    free(h1), free(h2), free(m1), free(m2), free(r1), free(r2);
}

/* 14 */
static void test_v2_shim_path_layout(void **state)
{
    char *root = reg(*state, "sandbox-abc", "/run/gcs/pods/sandbox-abc/sandbox-abc", "");
    assert_string_equal(root, "/run/gcs/pods/sandbox-abc/sandbox-abc");
    assert_string_not_equal(root, "/run/gcs/c/sandbox-abc");
    assert_all_under(root);
    assert_resolve(*state, "sandbox-abc", root);
    ASSERT_PATH(sandbox_hosts_path(root), "/run/gcs/pods/sandbox-abc/sandbox-abc/hosts");
    free(root);
}

/* upstream bundle_bind_test.go (docs/pod-model.md §3.5) */
static void test_needs_bundle_bind(void **state)
{
    (void)state;
    assert_false(sandbox_needs_bundle_bind("/run/gcs/c/abc", ""));                                 /* 15 */
    assert_false(sandbox_needs_bundle_bind("/run/gcs/c/abc", "/run/gcs/c/abc/scratch/abc"));       /* 16 */
    assert_true(sandbox_needs_bundle_bind("/run/gcs/c/workload", "/run/gcs/c/sandbox/scratch/workload")); /* 17 */
    assert_true(sandbox_needs_bundle_bind("/run/gcs/pods/pod/ctr", "/run/mounts/scsi/0_2_0/scratch/pod/ctr")); /* 18 */
    assert_false(sandbox_needs_bundle_bind("/run/gcs/c/abc", "/run/gcs/c/abc"));                   /* 19 */
    assert_true(sandbox_needs_bundle_bind("/run/gcs/c/abc", "/run/gcs/c/abcdef/scratch/abcdef"));  /* 20 */
    assert_false(sandbox_needs_bundle_bind("/run/gcs/c/abc", NULL));
    assert_true(sandbox_needs_bundle_bind("/run/gcs/c/abc", "/run/gcs/c"));
}

static void assert_register_fails(sandbox_roots *roots, const char *vpid, const char *want_msg)
{
    gcs_err err = GCS_ERR_INIT;
    char *root = NULL;
    assert_true(sandbox_root_register(roots, "sb", "/run/gcs/c/sb", vpid, &root, &err) < 0);
    assert_null(root);
    assert_int_equal(err.hr, HR_E_INVALIDARG);
    if (!strstr(err_msg(&err), want_msg))
        fail_msg("vpid %s: got %s, want %s", vpid, err_msg(&err), want_msg);
    err_clear(&err);
    assert_null(sandbox_root_lookup(roots, "sb")); /* nothing registered */
}

/* docs/pod-model.md §2.3: "../x" */
static void test_d1_dotdot_x_rejected(void **state)
{
    assert_register_fails(*state, "../x", "invalid virtual pod ID \"../x\": path traversal attempt");
}

/* docs/pod-model.md §2.3: "/abs" */
static void test_d2_absolute_rejected(void **state)
{
    assert_register_fails(*state, "/abs", "invalid virtual pod ID \"/abs\": path traversal attempt");
}

/* docs/pod-model.md §2.3: "a/../../b" */
static void test_d3_a_dotdot_dotdot_b_rejected(void **state)
{
    assert_register_fails(*state, "a/../../b", "path traversal attempt");
}

/* docs/differences.md D-9: upstream accepted "x/../y" (clean = "y"); the
 * strict rule wants one clean element, so it is refused. */
static void test_d4_x_dotdot_y_rejected_deliberate(void **state)
{
    assert_register_fails(*state, "x/../y", "path traversal attempt");
}

/* docs/differences.md D-9: upstream refused "a..b" by its substring rule (a false positive); it is
 * a single valid element, so the strict rule accepts it. */
static void test_d5_a_dotdot_b_accepted_deliberate(void **state)
{
    char *r = reg(*state, "sb", "/run/gcs/c/sb", "a..b");
    assert_string_equal(r, "/run/gcs/c/virtual-pods/a..b");
    free(r);
}

/* docs/differences.md D-9: upstream accepted "./vp1" (clean = "vp1"); not a single clean element. */
static void test_d6_dot_slash_vp1_rejected_deliberate(void **state)
{
    assert_register_fails(*state, "./vp1", "path traversal attempt");
}

/* docs/pod-model.md §2.3: a trailing slash on the bundle, with a vpid */
static void test_d7_trailing_slash_with_vpid(void **state)
{
    char *r = reg(*state, "abc", "/run/gcs/c/abc/", "vp1");
    assert_string_equal(r, "/run/gcs/c/abc/virtual-pods/vp1");
    free(r);
}

/* docs/pod-model.md §2.3: a trailing slash on the bundle, no vpid */
static void test_d8_trailing_slash_no_vpid(void **state)
{
    char *r = reg(*state, "abc", "/run/gcs/c/abc/", "");
    assert_string_equal(r, "/run/gcs/c/abc/"); /* stored exactly as given */
    assert_resolve(*state, "abc", "/run/gcs/c/abc/");
    ASSERT_PATH(sandbox_mounts_dir(r), "/run/gcs/c/abc/sandboxMounts");
    free(r);
}

/* docs/differences.md D-9: the other rejections of the strict rule. */
static void test_vpid_strict_rule(void **state)
{
    assert_register_fails(*state, ".", "path traversal attempt");
    assert_register_fails(*state, "..", "path traversal attempt");
    assert_register_fails(*state, "a/b", "path traversal attempt");
    assert_register_fails(*state, "vp1/", "path traversal attempt");
    assert_register_fails(*state, "has space", "must be 1 to 128 characters");
    assert_register_fails(*state, "nl\nx", "invalid virtual pod ID \"nl\\nx\"");
    assert_register_fails(*state, "a:b", "must be 1 to 128");
    char long_id[130];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    assert_register_fails(*state, long_id, "must be 1 to 128");
    long_id[128] = '\0';
    free(reg(*state, "sb", "/run/gcs/c/sb", long_id));
    free(reg(*state, "sb", "/run/gcs/c/sb", "Vp_1.x-Y"));
    /* the empty vpid means "no virtual pod": root = bundle */
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(sandbox_vpid_validate("", &err) < 0, 1);
    err_clear(&err);
}

static void test_register_overwrites(void **state)
{
    free(reg(*state, "sb", "/a", ""));
    free(reg(*state, "sb", "/b", ""));
    assert_resolve(*state, "sb", "/b");
    assert_int_equal(sandbox_roots_count(*state), 1);
    /* a failed register leaves the previous entry alone */
    gcs_err err = GCS_ERR_INIT;
    assert_true(sandbox_root_register(*state, "sb", "/c", "../x", NULL, &err) < 0);
    err_clear(&err);
    assert_resolve(*state, "sb", "/b");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_register_and_resolve),
        T(test_resolve_fallback),
        T(test_unregister),
        T(test_root_from_oci_bundle_path),
        T(test_virtual_pod_root),
        T(test_subdirectory_paths),
        T(test_parity_regular_sandbox),
        T(test_parity_virtual_pod),
        T(test_parity_workload_uses_sandbox_root),
        T(test_parity_standalone),
        T(test_multi_pod_isolation),
        T(test_v2_shim_path_layout),
        T(test_needs_bundle_bind),
        T(test_d1_dotdot_x_rejected),
        T(test_d2_absolute_rejected),
        T(test_d3_a_dotdot_dotdot_b_rejected),
        T(test_d4_x_dotdot_y_rejected_deliberate),
        T(test_d5_a_dotdot_b_accepted_deliberate),
        T(test_d6_dot_slash_vp1_rejected_deliberate),
        T(test_d7_trailing_slash_with_vpid),
        T(test_d8_trailing_slash_no_vpid),
        T(test_vpid_strict_rule),
        T(test_register_overwrites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
