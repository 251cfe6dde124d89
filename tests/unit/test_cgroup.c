/* Pure cgroup helpers and the v2 back end on a fake tree:
 * the cases of upstream's internal/guest/runtime/hcsv2/uvm_state_test.go
 * (pods limit), cmd/gcs/main_test.go, internal/guest/cgroup/cgroup_test.go,
 * memory_event_test.go and hcsv2/container_stats_test.go (docs/pod-model.md §6). */
#include "cgroup/cgroup-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

/* ---- pods limit (upstream uvm_state_test.go, cmd/gcs/main_test.go) ---- */

static const struct {
    int id;
    uint64_t total, reserve;
    int64_t want;
    const char *want_err;
} limit_cases[] = {
    {28, 4096, 1024, 3072, NULL},
    {29, 1024, 1024, 0, "must be greater"},
    {30, 512, 1024, 0, "must be greater"},
    {31, (uint64_t)1 << 63, 0, 0, "exceeds maximum"},
    {54, 4096, 1024, 3072, NULL},
    {55, 1024, 1024, 0, "must be greater"},
    {56, 512, 1024, 0, "must be greater"},
    {57, (uint64_t)1 << 63, 0, 0, "exceeds maximum"},
};

static void test_pods_limit(void **state UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(limit_cases); i++) {
        cleanup_err gcs_err err = GCS_ERR_INIT;
        int64_t got = -5;
        int r = cgroup_pods_limit(limit_cases[i].total, limit_cases[i].reserve, &got, &err);
        if (limit_cases[i].want_err) {
            assert_true(r < 0);
            assert_non_null(strstr(err_msg(&err), limit_cases[i].want_err));
            assert_int_equal(got, -5);
        } else {
            assert_int_equal(r, 0);
            assert_int_equal(got, limit_cases[i].want);
        }
    }
}

static void test_total_memory(void **state UNUSED)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    uint64_t total = 0;
    assert_int_equal(cgroup_total_memory(&total, &err), 0);
    assert_true(total > (uint64_t)64 * 1024 * 1024);
}

/* ---- fake v2 tree helpers ---- */

static char *fake_root(void)
{
    char tmpl[] = "/tmp/gcs-cgroup-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char *root = xstrdup(d);
    gcs_err err = GCS_ERR_INIT;
    assert_int_equal(cg_write(root, "cgroup.controllers", "cpuset cpu io memory pids hugetlb\n", &err), 0);
    assert_int_equal(cg_write(root, "cgroup.subtree_control", "", &err), 0);
    err_clear(&err);
    return root;
}

static int rm_cb(const char *p, const struct stat *sb UNUSED, int flag UNUSED, struct FTW *ftw UNUSED)
{
    return remove(p);
}

static void rm_tree(char *root)
{
    if (root)
        nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(root);
}

static char *slurp(const char *root, const char *rel)
{
    cleanup_free char *p = xasprintf("%s/%s", root, rel);
    char *text = NULL;
    if (read_file(p, &text, NULL) < 0)
        return NULL;
    return text;
}

static void assert_file(const char *root, const char *rel, const char *want)
{
    cleanup_free char *got = slurp(root, rel);
    if (!got)
        fail_msg("%s/%s missing (want \"%s\")", root, rel, want);
    assert_string_equal(got, want);
}

static void put(const char *root, const char *rel, const char *text)
{
    cleanup_free char *p = xasprintf("%s/%s", root, rel);
    assert_int_equal(write_file(p, text, strlen(text), 0644), 0);
}

/* ---- refresher writes only when the value changed (upstream uvm_state_test.go) ---- */

static void test_pods_limiter(void **state UNUSED)
{
    char *root = fake_root();
    cgroup_mgr *mgr = cgroup_mgr_new(root, CGROUP_V2);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cgroup *pods = NULL;
    assert_int_equal(cgroup_create(mgr, "/pods", NULL, &pods, &err), 0);
    cgroup_pods_limiter lim = {.pods = pods, .reserve = 1024, .last_applied = 2048};
    int64_t limit = 0;
    bool updated = false;
    assert_int_equal(cgroup_pods_limiter_apply(&lim, 4096, &limit, &updated, &err), 0);
    assert_int_equal(limit, 3072);
    assert_true(updated);
    assert_file(root, "pods/memory.max", "3072");
    put(root, "pods/memory.max", "untouched");
    assert_int_equal(cgroup_pods_limiter_apply(&lim, 4096, &limit, &updated, &err), 0);
    assert_int_equal(limit, 3072);
    assert_false(updated);
    assert_file(root, "pods/memory.max", "untouched"); /* exactly one write */
    /* an error keeps the last value */
    assert_true(cgroup_pods_limiter_apply(&lim, 1000, &limit, &updated, &err) < 0);
    assert_int_equal(lim.last_applied, 3072);
    cgroup_free(pods);
    cgroup_mgr_free(mgr);
    rm_tree(root);
}

/* ---- both vtables fully populated (upstream cgroup_test.go) ---- */

static void test_vtables_complete(void **state UNUSED)
{
    const struct cgroup_ops *ops[] = {cgroup_ops_for(CGROUP_V1), cgroup_ops_for(CGROUP_V2)};
    assert_ptr_not_equal(ops[0], ops[1]);
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        const void *const *fns = (const void *const *)&ops[i]->create;
        size_t n = (sizeof(struct cgroup_ops) - offsetof(struct cgroup_ops, create)) / sizeof(void *);
        assert_int_equal(n, 10);
        for (size_t k = 0; k < n; k++)
            assert_non_null(fns[k]);
        assert_non_null(ops[i]->name);
    }
}

/* ---- detection is deterministic (upstream cgroup_test.go,
 * container_stats_test.go); hybrid is v1 (docs/differences.md D-12) ---- */

static void test_detect(void **state UNUSED)
{
    cleanup_err gcs_err err = GCS_ERR_INIT;
    enum cgroup_version a, b;
    assert_int_equal(cgroup_detect(CGROUP_DEFAULT_ROOT, &a, &err), 0);
    assert_int_equal(cgroup_detect(CGROUP_DEFAULT_ROOT, &b, &err), 0);
    assert_int_equal(a, b);
    /* this machine is hybrid (v1 controllers + /unified): v1, docs/differences.md D-12 */
    assert_int_equal(a, CGROUP_V1);

    char *root = fake_root();
    assert_int_equal(cgroup_detect(root, &a, &err), 0);
    assert_int_equal(a, CGROUP_V2);
    cleanup_free char *sub = xasprintf("%s/pods", root);
    assert_int_equal(mkdir(sub, 0755), 0);
    put(root, "pods/cgroup.procs", "");
    assert_int_equal(cgroup_detect(root, &a, &err), 0);
    assert_int_equal(a, CGROUP_V2); /* a child cgroup is not a v1 hierarchy */
    rm_tree(root);

    char tmpl[] = "/tmp/gcs-cgroup-v1-XXXXXX";
    char *v1 = xstrdup(mkdtemp(tmpl));
    assert_true(cgroup_detect(v1, &a, &err) < 0); /* empty dir: no hierarchy */
    err_clear(&err);
    cleanup_free char *mem = xasprintf("%s/memory", v1);
    assert_int_equal(mkdir(mem, 0755), 0);
    put(v1, "memory/cgroup.procs", "");
    assert_int_equal(cgroup_detect(v1, &a, &err), 0);
    assert_int_equal(a, CGROUP_V1);
    rm_tree(v1);
}

/* ---- OCI -> v2 resources (upstream cgroup_test.go) ---- */

static void conv(const char *json, struct cgroup_v2_resources *out)
{
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    if (json)
        assert_non_null(j);
    cgroup_v2_resources_from_oci(j, out);
    json_decref(j);
}

static void test_resources_basic(void **state UNUSED)
{
    struct cgroup_v2_resources r;
    conv(NULL, &r); /* null -> empty */
    assert_false(r.has_memory_max || r.has_cpu_weight || r.has_pids_max || r.has_cpu_max);
    conv("{}", &r);
    assert_false(r.has_memory_max || r.has_memory_low || r.has_io_bfq_weight);
    conv("{\"memory\":{\"limit\":1073741824}}", &r); /* 1 GiB -> memory.max */
    assert_true(r.has_memory_max);
    assert_int_equal(r.memory_max, 1073741824);
    conv("{\"memory\":{\"limit\":9223372036854775807},\"pids\":{\"limit\":9223372036854775807}}", &r); /* 65 */
    assert_int_equal(r.memory_max, INT64_MAX);
    assert_int_equal(r.pids_max, INT64_MAX);
    conv("{\"memory\":{\"limit\":0}}", &r);
    assert_true(r.has_memory_max);
    assert_int_equal(r.memory_max, 0);
    conv("{\"memory\":{\"limit\":268435456,\"reservation\":134217728}}", &r); /* 75 */
    assert_int_equal(r.memory_max, 268435456);
    assert_true(r.has_memory_low);
    assert_int_equal(r.memory_low, 134217728);
    conv("{\"memory\":{\"swap\":536870912}}", &r); /* swap alone: passed through */
    assert_true(r.has_memory_swap_max);
    assert_int_equal(r.memory_swap_max, 536870912);
    conv("{\"pids\":{\"limit\":500}}", &r);
    assert_true(r.has_pids_max);
    assert_int_equal(r.pids_max, 500);
    conv("{\"pids\":{\"limit\":0}}", &r);
    assert_false(r.has_pids_max);
    conv("{\"cpu\":{\"quota\":50000,\"period\":100000}}", &r);
    assert_true(r.has_cpu_max);
    assert_string_equal(r.cpu_max, "50000 100000");
    conv("{\"cpu\":{\"quota\":-1,\"period\":100000}}", &r);
    assert_string_equal(r.cpu_max, "max 100000");
    conv("{\"cpu\":{\"quota\":50000}}", &r);
    assert_false(r.has_cpu_max);
    conv("{\"blockIO\":{\"weight\":500}}", &r);
    assert_true(r.has_io_bfq_weight);
    assert_int_equal(r.io_bfq_weight, 500);
    conv("{\"memory\":{\"limit\":\"x\"},\"cpu\":7}", &r); /* wrong types ignored */
    assert_false(r.has_memory_max || r.has_cpu_weight);
}

/* OCI swap = memory + swap; v2 swap.max = swap alone (docs/differences.md D-13). */
static void test_resources_swap(void **state UNUSED)
{
    static const struct {
        int64_t limit, swap, want;
    } t[] = {
        {268435456, 536870912, 268435456}, {268435456, 268435456, 0}, {268435456, 1000, 0},
        {268435456, -1, -1}, {-1, 536870912, 536870912},
    };
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        cleanup_free char *j = xasprintf("{\"memory\":{\"limit\":%lld,\"swap\":%lld}}", (long long)t[i].limit,
                                         (long long)t[i].swap);
        struct cgroup_v2_resources r;
        conv(j, &r);
        assert_true(r.has_memory_swap_max);
        assert_int_equal(r.memory_swap_max, t[i].want);
    }
}

static void test_resources_cpu_weight(void **state UNUSED)
{
    static const struct {
        int id;
        uint64_t shares, weight; /* weight 0 = unset */
    } t[] = {
        {76, 2, 1}, {77, 1024, 39}, {78, 262144, 10000}, {79, 1, 1}, {80, 0, 0},
        {0, 262145, 10000}, {0, 1000000, 10000}, /* clamp fix (docs/differences.md D-13) */
    };
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        cleanup_free char *j = xasprintf("{\"cpu\":{\"shares\":%llu}}", (unsigned long long)t[i].shares);
        struct cgroup_v2_resources r;
        conv(j, &r);
        assert_int_equal(r.has_cpu_weight, t[i].weight != 0);
        if (t[i].weight)
            assert_int_equal(r.cpu_weight, t[i].weight);
    }
}

/* ---- memory.events (upstream memory_event_test.go) ---- */

static void test_memory_events(void **state UNUSED)
{
    struct cgroup_memory_events e;
    cgroup_parse_memory_events("low 0\nhigh 5\nmax 0\noom 0\noom_kill 3\noom_group_kill 0\n", &e); /* 68 */
    assert_true(e.has_low && e.has_high && e.has_max && e.has_oom && e.has_oom_kill && e.has_oom_group_kill);
    assert_int_equal(e.high, 5);
    assert_int_equal(e.oom_kill, 3);
    assert_int_equal(e.low + e.max + e.oom + e.oom_group_kill, 0);
    cgroup_parse_memory_events("", &e); /* 69 */
    assert_false(e.has_low || e.has_high || e.has_max || e.has_oom || e.has_oom_kill || e.has_oom_group_kill);
    cgroup_parse_memory_events("oom_kill 7", &e); /* 70 */
    assert_true(e.has_oom_kill);
    assert_int_equal(e.oom_kill, 7);
    assert_false(e.has_oom);
    static const char *const skip_cases[] = {"oom_kill abc\noom 2", "oom_kill 3 extra\noom 1", "oom_kill\noom 4"};
    static const uint64_t oom_want[] = {2, 1, 4}; /* 71, 72, 73 */
    for (size_t i = 0; i < ARRAY_SIZE(skip_cases); i++) {
        cgroup_parse_memory_events(skip_cases[i], &e);
        assert_false(e.has_oom_kill);
        assert_true(e.has_oom);
        assert_int_equal(e.oom, oom_want[i]);
    }
    cgroup_parse_memory_events(NULL, &e);
    assert_false(e.has_oom);
}

/* ---- v2 -> v1 statistics (upstream cgroup_test.go, container_stats_test.go) ---- */

static void test_stats_null_and_empty(void **state UNUSED)
{
    struct cgroup_metrics m;
    cgroup_v2_stats_to_v1(NULL, &m); /* 63, 92 */
    assert_false(m.has_memory || m.has_cpu || m.has_pids || m.has_oom || m.has_blkio || m.has_rdma);
    assert_int_equal(m.n_hugetlb, 0);
    json_t *j = cgroup_metrics_to_json(&m);
    assert_non_null(j);
    assert_null(json_object_get(j, "memory"));
    assert_non_null(json_object_get(j, "blkio"));
    json_decref(j);
    struct cgroup_v2_stats empty = {0};
    cgroup_v2_stats_to_v1(&empty, &m); /* 88 */
    assert_false(m.has_memory || m.has_cpu || m.has_pids);
    cgroup_metrics_clear(&m);
}

static void test_stats_memory(void **state UNUSED)
{
    struct cgroup_v2_stats s = {.has_memory = true, .has_memory_events = true};
    s.memory.usage = 1048576;
    s.memory.usage_limit = 268435456;
    s.memory.max_usage = 2097152;
    s.memory.swap_usage = 512000;
    s.memory.swap_limit = 536870912;
    s.memory.swap_max_usage = 1024000;
    s.memory.file = 131072;
    s.memory.anon = 917504;
    s.memory_events.oom_kill = 5;
    s.memory_events.oom = 100;
    struct cgroup_metrics m;
    cgroup_v2_stats_to_v1(&s, &m); /* 82, 64 */
    assert_true(m.has_memory);
    assert_int_equal(m.memory.usage.usage, 1048576);
    assert_int_equal(m.memory.usage.limit, 268435456);
    assert_int_equal(m.memory.usage.max, 2097152);
    assert_int_equal(m.memory.stat[CG_MEM_CACHE], 131072);
    assert_int_equal(m.memory.stat[CG_MEM_RSS], 917504);
    assert_int_equal(m.memory.swap.usage, 512000);
    assert_int_equal(m.memory.swap.limit, 536870912);
    assert_int_equal(m.memory.swap.max, 1024000);
    assert_int_equal(m.memory.stat[CG_MEM_HIER_LIMIT], 268435456);
    assert_true(m.has_oom);
    assert_int_equal(m.oom.oom_kill, 5);
    assert_false(m.has_cpu || m.has_pids); /* 89: partial */

    json_t *j = cgroup_metrics_to_json(&m);
    json_t *mem = json_object_get(j, "memory");
    assert_int_equal(json_integer_value(json_object_get(mem, "rss")), 917504);
    assert_int_equal(json_integer_value(json_object_get(mem, "cache")), 131072);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "usage")), 1048576);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "swap"), "max")), 1024000);
    assert_null(json_object_get(mem, "dirty")); /* zero omitted */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "memory_oom_control"), "oom_kill")), 5);
    assert_null(json_object_get(j, "cpu"));
    json_decref(j);
    cgroup_metrics_clear(&m);
}

static void test_stats_cpu_pids(void **state UNUSED)
{
    struct cgroup_v2_stats s = {.has_cpu = true, .has_pids = true};
    s.cpu.usage_usec = 5000000;
    s.cpu.user_usec = 2000000;
    s.cpu.system_usec = 3000000;
    s.cpu.nr_periods = 1000;
    s.cpu.nr_throttled = 50;
    s.cpu.throttled_usec = 1500000;
    s.pids.current = 25;
    s.pids.limit = 100;
    struct cgroup_metrics m;
    cgroup_v2_stats_to_v1(&s, &m); /* 83, 84 */
    assert_int_equal(m.cpu.total, 5000000000ull);
    assert_int_equal(m.cpu.user, 2000000000ull);
    assert_int_equal(m.cpu.kernel, 3000000000ull);
    assert_int_equal(m.cpu.periods, 1000);
    assert_int_equal(m.cpu.throttled_periods, 50);
    assert_int_equal(m.cpu.throttled_time, 1500000000ull);
    assert_int_equal(m.pids.current, 25);
    assert_int_equal(m.pids.limit, 100);
    json_t *j = cgroup_metrics_to_json(&m);
    json_t *cpu = json_object_get(j, "cpu");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(cpu, "usage"), "total")), 5000000000ll);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(cpu, "throttling"), "throttled_time")),
                     1500000000ll);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "pids"), "limit")), 100);
    json_decref(j);
    cgroup_metrics_clear(&m);
}

static void test_stats_io_rdma_hugetlb(void **state UNUSED)
{
    struct cgroup_v2_io_entry io[] = {{8, 0, 4096, 2048, 10, 5}, {8, 1, 8192, 4096, 20, 10}};
    struct cgroup_rdma_entry cur = {"mlx5_0", 10, 5}, lim = {"mlx5_0", 100, 50};
    struct cgroup_v2_stats s = {.io = io, .n_io = 2, .has_rdma = true, .rdma_current = &cur, .n_rdma_current = 1,
                                .rdma_limit = &lim, .n_rdma_limit = 1};
    struct { char pagesize[16]; uint64_t current, max; } huge[] = {{"2MB", 2097152, 4194304}, {"1GB", 1048576, 2097152}};
    s.hugetlb = (void *)huge;
    s.n_hugetlb = 2;
    struct cgroup_metrics m;
    cgroup_v2_stats_to_v1(&s, &m);
    assert_int_equal(m.n_io_service_bytes, 4); /* 85 */
    assert_int_equal(m.n_io_serviced, 4);
    assert_int_equal(m.io_service_bytes[0].major, 8);
    assert_int_equal(m.io_service_bytes[0].minor, 0);
    assert_string_equal(m.io_service_bytes[0].op, "Read");
    assert_int_equal(m.io_service_bytes[0].value, 4096);
    assert_string_equal(m.io_serviced[3].op, "Write");
    assert_int_equal(m.io_serviced[3].value, 10);
    assert_int_equal(m.n_rdma_current, 1); /* 86 */
    assert_string_equal(m.rdma_current[0].device, "mlx5_0");
    assert_int_equal(m.rdma_current[0].hca_handles, 10);
    assert_int_equal(m.n_rdma_limit, 1);
    assert_int_equal(m.n_hugetlb, 2); /* 87 */
    assert_int_equal(m.hugetlb[0].usage, 2097152);
    assert_int_equal(m.hugetlb[0].max, 4194304);
    assert_int_equal(m.hugetlb[0].failcnt, 0);
    json_t *j = cgroup_metrics_to_json(&m);
    assert_int_equal(json_object_size(json_object_get(j, "blkio")), 0); /* emptied for the host */
    assert_int_equal(json_object_size(json_object_get(j, "rdma")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "hugetlb")), 2);
    json_decref(j);
    cgroup_metrics_clear(&m);
}

static void test_stats_zero_and_max(void **state UNUSED)
{
    struct cgroup_v2_stats s = {.has_memory = true, .has_cpu = true, .has_pids = true};
    struct cgroup_metrics m;
    cgroup_v2_stats_to_v1(&s, &m); /* 90: zeros kept, sections present */
    assert_true(m.has_memory && m.has_cpu && m.has_pids);
    assert_int_equal(m.memory.usage.usage, 0);
    json_t *j = cgroup_metrics_to_json(&m);
    assert_non_null(json_object_get(j, "memory"));
    assert_non_null(json_object_get(j, "cpu"));
    assert_non_null(json_object_get(j, "pids"));
    json_decref(j);
    s.memory.usage = UINT64_MAX; /* 91 */
    s.memory.anon = UINT64_MAX;
    s.pids.current = UINT64_MAX;
    s.cpu.usage_usec = UINT64_MAX;
    cgroup_v2_stats_to_v1(&s, &m);
    assert_true(m.memory.usage.usage == UINT64_MAX);
    assert_true(m.memory.stat[CG_MEM_RSS] == UINT64_MAX);
    assert_true(m.pids.current == UINT64_MAX);
    j = cgroup_metrics_to_json(&m); /* clamps to INT64_MAX, never a float */
    assert_true(json_is_integer(json_object_get(json_object_get(j, "pids"), "current")));
    json_decref(j);
    cgroup_metrics_clear(&m);
}

/* ---- v2 back end on a fake tree ---- */

static void test_v2_fake_create_delete(void **state UNUSED)
{
    char *root = fake_root();
    cgroup_mgr *mgr = cgroup_mgr_new(root, CGROUP_V2);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cgroup *pods = NULL, *x = NULL;
    assert_int_equal(cgroup_create(mgr, "/pods", NULL, &pods, &err), 0);
    assert_file(root, "cgroup.subtree_control", ""); /* no resources, nothing needed */
    put(root, "pods/cgroup.controllers", "cpu io memory pids\n"); /* as the kernel would show */
    put(root, "pods/cgroup.subtree_control", "memory\n");          /* already enabled */
    json_t *res = json_loads("{\"memory\":{\"limit\":268435456,\"reservation\":134217728,\"swap\":536870912},"
                             "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000},"
                             "\"pids\":{\"limit\":500},\"blockIO\":{\"weight\":500}}", 0, NULL);
    assert_non_null(res);
    assert_int_equal(cgroup_create(mgr, "/pods/x", res, &x, &err), 0);
    json_decref(res);
    assert_string_equal(cgroup_path(x), "/pods/x");
    assert_file(root, "cgroup.subtree_control", "+cpu +io +memory +pids");
    assert_file(root, "pods/cgroup.subtree_control", "+cpu +io +pids");
    assert_file(root, "pods/x/memory.max", "268435456");
    assert_file(root, "pods/x/memory.low", "134217728");
    assert_file(root, "pods/x/memory.swap.max", "268435456");
    assert_file(root, "pods/x/cpu.weight", "39");
    assert_file(root, "pods/x/cpu.max", "50000 100000");
    assert_file(root, "pods/x/pids.max", "500");
    assert_file(root, "pods/x/io.bfq.weight", "500");

    /* update rewrites only what is given */
    res = json_loads("{\"memory\":{\"limit\":-1}}", 0, NULL);
    assert_int_equal(cgroup_update(x, res, &err), 0);
    json_decref(res);
    assert_file(root, "pods/x/memory.max", "max");
    assert_file(root, "pods/x/pids.max", "500");

    /* delete refuses while a process is listed anywhere in the subtree */
    cleanup_free char *leaf = xasprintf("%s/pods/x/c1", root);
    assert_int_equal(mkdir(leaf, 0755), 0);
    put(root, "pods/x/c1/cgroup.procs", "4242\n");
    bool busy = false;
    assert_int_equal(cgroup_has_processes(pods, &busy, &err), 0);
    assert_true(busy);
    assert_true(cgroup_delete(x, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "contains running processes"));
    err_clear(&err);
    assert_true(cgroup_delete(pods, &err) < 0);
    err_clear(&err);
    cleanup_free char *xdir = xasprintf("%s/pods/x", root);
    assert_int_equal(access(xdir, F_OK), 0);
    put(root, "pods/x/c1/cgroup.procs", "");
    assert_int_equal(cgroup_delete(x, &err), 0);
    assert_int_equal(access(xdir, F_OK), -1);
    assert_int_equal(cgroup_delete(x, &err), 0); /* idempotent */
    cgroup *again = NULL;
    assert_true(cgroup_load(mgr, "/pods/x", &again, &err) < 0);
    err_clear(&err);
    assert_int_equal(cgroup_delete(pods, &err), 0);
    cgroup_free(x);
    cgroup_free(pods);
    cgroup_mgr_free(mgr);
    rm_tree(root);
}

static void test_v2_fake_bad_paths(void **state UNUSED)
{
    char *root = fake_root();
    cgroup_mgr *mgr = cgroup_mgr_new(root, CGROUP_V2);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    static const char *const bad[] = {"pods", "/pods/../x", "/./x", "", "/"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        cgroup *cg = NULL;
        assert_true(cgroup_create(mgr, bad[i], NULL, &cg, &err) < 0);
        assert_null(cg);
        err_clear(&err);
    }
    cgroup *cg = NULL;
    assert_int_equal(cgroup_create(mgr, "//a///b/", NULL, &cg, &err), 0);
    assert_string_equal(cgroup_path(cg), "/a/b");
    cgroup *a = NULL;
    assert_int_equal(cgroup_load(mgr, "/a", &a, &err), 0);
    assert_int_equal(cgroup_delete(a, &err), 0); /* subtree, depth-first */
    cleanup_free char *adir = xasprintf("%s/a", root);
    assert_int_equal(access(adir, F_OK), -1);
    cgroup_free(a);
    cgroup_free(cg);
    cgroup_mgr_free(mgr);
    rm_tree(root);
}

/* A failed create removes the directories it made (and only those). */
static void test_v2_fake_create_rollback(void **state UNUSED)
{
    char *root = fake_root();
    cgroup_mgr *mgr = cgroup_mgr_new(root, CGROUP_V2);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cgroup *pods = NULL, *x = NULL;
    assert_int_equal(cgroup_create(mgr, "/pods", NULL, &pods, &err), 0);
    /* make pods.max of the new leaf unwritable: a directory in its place
     * cannot be created before mkdir, so break the parent's subtree_control */
    cleanup_free char *sc = xasprintf("%s/pods/cgroup.subtree_control", root);
    put(root, "pods/cgroup.controllers", "pids\n");
    assert_int_equal(mkdir(sc, 0755), 0); /* writing it now fails with EISDIR */
    json_t *res = json_loads("{\"pids\":{\"limit\":5}}", 0, NULL);
    assert_true(cgroup_create(mgr, "/pods/x/y", res, &x, &err) < 0);
    json_decref(res);
    assert_null(x);
    cleanup_free char *xdir = xasprintf("%s/pods/x", root), *pdir = xasprintf("%s/pods", root);
    assert_int_equal(access(xdir, F_OK), -1);
    assert_int_equal(access(pdir, F_OK), 0);
    cgroup_free(pods);
    cgroup_mgr_free(mgr);
    rm_tree(root);
}

static void test_v2_fake_stats(void **state UNUSED)
{
    char *root = fake_root();
    cgroup_mgr *mgr = cgroup_mgr_new(root, CGROUP_V2);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cgroup *cg = NULL;
    assert_int_equal(cgroup_create(mgr, "/s", NULL, &cg, &err), 0);
    put(root, "s/memory.stat", "anon 917504\nfile 131072\nkernel_stack 4096\nsock 0\nfile_dirty 8192\n");
    put(root, "s/memory.current", "1048576\n");
    put(root, "s/memory.max", "max\n");
    put(root, "s/memory.peak", "2097152\n");
    put(root, "s/memory.events", "low 0\nhigh 0\nmax 2\noom 100\noom_kill 3\n");
    put(root, "s/cpu.stat", "usage_usec 5000000\nuser_usec 2000000\nsystem_usec 3000000\n"
                            "nr_periods 1000\nnr_throttled 50\nthrottled_usec 1500000\n");
    put(root, "s/pids.current", "25\n");
    put(root, "s/pids.max", "100\n");
    put(root, "s/io.stat", "8:0 rbytes=4096 wbytes=2048 rios=10 wios=5 dbytes=0 dios=0\n");
    put(root, "s/hugetlb.2MB.current", "2097152\n");
    put(root, "s/hugetlb.2MB.max", "4194304\n");
    put(root, "s/hugetlb.2MB.rsvd.current", "0\n");

    struct cgroup_v2_stats s = {0};
    assert_int_equal(cg_v2_read_stats(cg->dirs[0], &s, &err), 0);
    assert_int_equal(s.n_io, 1);
    assert_int_equal(s.io[0].wios, 5);
    assert_int_equal(s.n_hugetlb, 1);
    assert_string_equal(s.hugetlb[0].pagesize, "2MB");
    assert_true(s.memory.usage_limit == UINT64_MAX);
    cgroup_v2_stats_clear(&s);

    json_t *j = NULL;
    assert_int_equal(cgroup_stats(cg, &j, &err), 0);
    json_t *mem = json_object_get(j, "memory");
    assert_int_equal(json_integer_value(json_object_get(mem, "rss")), 917504);
    assert_int_equal(json_integer_value(json_object_get(mem, "cache")), 131072);
    assert_int_equal(json_integer_value(json_object_get(mem, "dirty")), 8192);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "usage")), 1048576);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "max")), 2097152);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "usage"), "limit")), INT64_MAX);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mem, "kernel"), "usage")), 4096);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "memory_oom_control"), "oom_kill")), 3);
    json_t *usage = json_object_get(json_object_get(j, "cpu"), "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "kernel")), 3000000000ll);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "pids"), "current")), 25);
    assert_int_equal(json_object_size(json_object_get(j, "blkio")), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "hugetlb"), 0),
                                                          "pagesize")), "2MB");
    json_decref(j);

    uint64_t v = 0;
    assert_int_equal(cgroup_oom_kill_count(cg, &v, &err), 0);
    assert_int_equal(v, 3);
    assert_int_equal(cgroup_memory_usage(cg, &v, &err), 0);
    assert_int_equal(v, 1048576);
    put(root, "s/memory.events", "oom_kill 4\n");
    assert_int_equal(cgroup_oom_kill_count(cg, &v, &err), 0);
    assert_int_equal(v, 4);

    /* empty cgroup: no stats files at all -> only blkio/rdma */
    cgroup *e = NULL;
    assert_int_equal(cgroup_create(mgr, "/e", NULL, &e, &err), 0);
    assert_int_equal(cgroup_stats(e, &j, &err), 0);
    assert_null(json_object_get(j, "memory"));
    assert_null(json_object_get(j, "cpu"));
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
    assert_true(cgroup_oom_kill_count(e, &v, &err) < 0);
    err_clear(&err);

    assert_int_equal(cgroup_delete(cg, &err), 0);
    assert_int_equal(cgroup_delete(e, &err), 0);
    cgroup_free(e);
    cgroup_free(cg);
    cgroup_mgr_free(mgr);
    rm_tree(root);
}

/* cgroup_setup_agent / teardown on a fake v2 tree (docs/pod-model.md §4.2 steps 3-5). */
static void test_v2_fake_setup_agent(void **state UNUSED)
{
    char *root = fake_root();
    cgroup_mgr *mgr = cgroup_mgr_new(root, CGROUP_V2);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    cgroup *pods = NULL, *gcs = NULL;
    int64_t limit = 0;
    uint64_t total = 0;
    assert_int_equal(cgroup_total_memory(&total, &err), 0);
    assert_int_equal(cgroup_setup_agent(mgr, CGROUP_DEFAULT_ROOT_MEM_RESERVE, 4242, &pods, &gcs, &limit, &err), 0);
    assert_int_equal(limit, (int64_t)(total - CGROUP_DEFAULT_ROOT_MEM_RESERVE));
    cleanup_free char *want = xasprintf("%lld", (long long)limit);
    assert_file(root, "pods/memory.max", want);
    assert_file(root, "gcs/cgroup.procs", "4242");
    assert_file(root, "cgroup.subtree_control", "+memory");
    /* teardown: self back to the root, both deleted even though /gcs still
     * lists the pid in this fake (the kernel would have moved it) */
    put(root, "gcs/cgroup.procs", "");
    assert_int_equal(cgroup_teardown_agent(mgr, 4242, pods, gcs, &err), 0);
    assert_file(root, "cgroup.procs", "4242");
    cleanup_free char *p = xasprintf("%s/pods", root), *g = xasprintf("%s/gcs", root);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(access(g, F_OK), -1);
    /* reserve too large: nothing is created */
    assert_true(cgroup_setup_agent(mgr, UINT64_MAX, 4242, &pods, &gcs, NULL, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "must be greater"));
    assert_int_equal(access(p, F_OK), -1);
    cgroup_mgr_free(mgr);
    rm_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pods_limit),
        cmocka_unit_test(test_total_memory),
        cmocka_unit_test(test_pods_limiter),
        cmocka_unit_test(test_vtables_complete),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_resources_basic),
        cmocka_unit_test(test_resources_swap),
        cmocka_unit_test(test_resources_cpu_weight),
        cmocka_unit_test(test_memory_events),
        cmocka_unit_test(test_stats_null_and_empty),
        cmocka_unit_test(test_stats_memory),
        cmocka_unit_test(test_stats_cpu_pids),
        cmocka_unit_test(test_stats_io_rdma_hugetlb),
        cmocka_unit_test(test_stats_zero_and_max),
        cmocka_unit_test(test_v2_fake_create_delete),
        cmocka_unit_test(test_v2_fake_bad_paths),
        cmocka_unit_test(test_v2_fake_create_rollback),
        cmocka_unit_test(test_v2_fake_stats),
        cmocka_unit_test(test_v2_fake_setup_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
