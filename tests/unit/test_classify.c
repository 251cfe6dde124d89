/* Unit tests for src/pod/classify.c and annotations.c: docs/pod-model.md
 * §1.2-§1.4 and §2.1, docs/differences.md D-10 and D-17. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pod/annotations.h"
#include "pod/classify.h"
#include "pod/paths.h"

static json_t *ann(const char *type, const char *sid, const char *vpid)
{
    json_t *a = json_object();
    if (type)
        json_object_set_new(a, POD_ANN_CONTAINER_TYPE, json_string(type));
    if (sid)
        json_object_set_new(a, POD_ANN_SANDBOX_ID, json_string(sid));
    if (vpid)
        json_object_set_new(a, POD_ANN_VIRTUAL_POD_ID, json_string(vpid));
    return a;
}

static void classify_ok(const char *id, json_t *a, enum pod_kind kind, const char *sid, const char *cg)
{
    gcs_err err = GCS_ERR_INIT;
    pod_class c;
    if (pod_classify(id, a, false, &c, &err) < 0)
        fail_msg("classify %s: %s", id, err_msg(&err));
    assert_int_equal(c.kind, kind);
    assert_string_equal(c.sandbox_id, sid);
    assert_int_equal(c.is_sandbox, kind == POD_KIND_SANDBOX || kind == POD_KIND_VPOD_SANDBOX);
    char *p = pod_container_cgroup_path(&c, id);
    assert_string_equal(p, cg);
    free(p);
    pod_class_done(&c);
    json_decref(a);
}

static void classify_fails(const char *id, json_t *a, bool confidential, const char *want)
{
    gcs_err err = GCS_ERR_INIT;
    pod_class c;
    assert_true(pod_classify(id, a, confidential, &c, &err) < 0);
    if (!strstr(err_msg(&err), want))
        fail_msg("classify %s: got '%s', want '%s'", id, err_msg(&err), want);
    assert_null(c.sandbox_id);
    err_clear(&err);
    json_decref(a);
}

/* docs/pod-model.md §1.4 table, cgroup path per kind (§4.4) */
static void test_kinds_and_cgroups(void **state)
{
    (void)state;
    classify_ok("S", ann("sandbox", NULL, NULL), POD_KIND_SANDBOX, "S", "/pods/S/S");
    classify_ok("V", ann("sandbox", NULL, "V"), POD_KIND_VPOD_SANDBOX, "V", "/pods/V/V");
    /* the override: id == vpid is a sandbox whatever container-type says */
    classify_ok("V", ann("container", "other", "V"), POD_KIND_VPOD_SANDBOX, "V", "/pods/V/V");
    classify_ok("V", ann(NULL, NULL, "V"), POD_KIND_VPOD_SANDBOX, "V", "/pods/V/V");
    classify_ok("W", ann("container", "S", NULL), POD_KIND_WORKLOAD, "S", "/pods/S/W");
    /* a vpod workload uses vpid, not sandbox-id */
    classify_ok("W", ann("container", "S", "V"), POD_KIND_VPOD_WORKLOAD, "V", "/pods/V/W");
    classify_ok("X", ann(NULL, NULL, NULL), POD_KIND_STANDALONE, "X", "/pods/X");
    classify_ok("X", NULL, POD_KIND_STANDALONE, "X", "/pods/X");
    /* standalone with a vpid: sandbox_id = vpid, cgroup still /pods/<id> */
    classify_ok("X", ann(NULL, NULL, "V"), POD_KIND_STANDALONE, "V", "/pods/X");
    /* odd case: container-type sandbox, vpid != id */
    classify_ok("S2", ann("sandbox", NULL, "V"), POD_KIND_VPOD_SANDBOX, "V", "/pods/V/S2");
    /* an empty vpid counts as absent (since #2699) */
    classify_ok("S", ann("sandbox", NULL, ""), POD_KIND_SANDBOX, "S", "/pods/S/S");

    char *p = pod_cgroup_path("S");
    assert_string_equal(p, "/pods/S");
    free(p);
}

/* docs/pod-model.md §1.3 step 7 */
static void test_d10_workload_without_sandbox_id(void **state)
{
    (void)state;
    classify_fails("W", ann("container", NULL, NULL), false, "unsupported 'io.kubernetes.cri.sandbox-id': ''");
    classify_fails("W", ann("container", "", NULL), false, "unsupported 'io.kubernetes.cri.sandbox-id': ''");
}

/* docs/pod-model.md §1.3 step 5 */
static void test_d12_unsupported_container_type(void **state)
{
    (void)state;
    classify_fails("C", ann("foo", NULL, NULL), false, "unsupported 'io.kubernetes.cri.container-type': 'foo'");
    classify_fails("C", ann("", NULL, NULL), false, "unsupported 'io.kubernetes.cri.container-type': ''");
}

/* docs/pod-model.md §2.1, the confidential rule */
static void test_d9_confidential_id_rule(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    char id[70];
    memset(id, 'a', 64);
    id[0] = 'A', id[1] = 'F', id[2] = '9';
    id[64] = '\0';
    assert_int_equal(pod_validate_id_confidential("container", id, &err), 0);
    assert_int_equal(pod_validate_id_confidential("container", POD_UVM_CONTAINER_ID, &err), 0);
    id[63] = '\0';
    assert_true(pod_validate_id_confidential("container", id, &err) < 0);
    char *want = xasprintf("invalid container id: %s (must match ^[0-9a-fA-F]{64}$)", id);
    assert_string_equal(err_msg(&err), want);
    free(want);
    err_clear(&err);
    id[63] = 'a', id[64] = 'a', id[65] = '\0';
    assert_true(pod_validate_id_confidential("container", id, &err) < 0);
    err_clear(&err);
    id[64] = '\0';
    id[10] = 'g';
    assert_true(pod_validate_id_confidential("sandbox", id, &err) < 0);
    assert_non_null(strstr(err_msg(&err), "invalid sandbox id: "));
    err_clear(&err);

    /* in classify: id, then vpid, then the workload's sandbox ID */
    classify_fails("sandbox-1", ann("sandbox", NULL, NULL), true, "invalid container id: sandbox-1 (must match");
    id[10] = 'b';
    classify_fails(id, ann("sandbox", NULL, "vp1"), true, "invalid virtual pod id: vp1 (must match");
    classify_fails(id, ann("container", "sb", NULL), true, "invalid sandbox id: sb (must match");
    classify_fails(id, ann("container", "", NULL), true, "invalid sandbox id:  (must match");
    pod_class c;
    json_t *a = ann("sandbox", NULL, NULL);
    assert_int_equal(pod_classify(id, a, true, &c, &err), 0);
    assert_int_equal(c.kind, POD_KIND_SANDBOX);
    pod_class_done(&c);
    json_decref(a);
}

/* docs/differences.md D-10: upstream let the UVM ID through. */
static void test_create_rejects_uvm_container_id(void **state)
{
    (void)state;
    classify_fails(POD_UVM_CONTAINER_ID, ann("sandbox", NULL, NULL), false, "reserved for the UVM");
    classify_fails(POD_UVM_CONTAINER_ID, NULL, true, "reserved for the UVM");
    gcs_err err = GCS_ERR_INIT;
    /* as an ID of other messages it is still fine */
    assert_int_equal(pod_validate_id("container", POD_UVM_CONTAINER_ID, &err), 0);
}

/* our ID rule, every mode */
static void test_general_id_rule(void **state)
{
    (void)state;
    gcs_err err = GCS_ERR_INIT;
    static const char *good[] = {"sandbox-1", "abc-123-sandbox", "a", "A.b_c-9", "0"};
    static const char *bad[] = {"", ".", "..", "-x", ".hidden", "_x", "a/b", "../x", "a b", "a\nb", "ä"};
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        if (pod_validate_id("container", good[i], &err) < 0)
            fail_msg("%s: %s", good[i], err_msg(&err));
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (pod_validate_id("container", bad[i], &err) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(err.hr, HR_E_INVALIDARG);
        err_clear(&err);
    }
    char longid[POD_ID_MAX + 2];
    memset(longid, 'x', sizeof(longid));
    longid[POD_ID_MAX] = '\0';
    assert_int_equal(pod_validate_id("container", longid, &err), 0);
    longid[POD_ID_MAX] = 'x';
    longid[POD_ID_MAX + 1] = '\0';
    assert_true(pod_validate_id("container", longid, &err) < 0);
    err_clear(&err);

    classify_fails("../x", NULL, false, "invalid container id \"../x\"");
    /* a workload's sandbox-id becomes a cgroup element: checked too */
    classify_fails("W", ann("container", "../../x", NULL), false, "invalid sandbox id \"../../x\"");
    /* a bad vpid keeps the upstream traversal wording */
    classify_fails("W", ann("container", "S", "../x"), false, "invalid virtual pod ID \"../x\": path traversal attempt");
    /* the vpid becomes the sandbox ID (a cgroup element): our rule applies to
     * it in every kind, though the single-element vpid rule allows these
     * (found by fuzz_classify) */
    classify_fails("W", ann(NULL, NULL, "_11"), false, "invalid virtual pod id \"_11\"");
    classify_fails("W", ann("container", "S", "-x"), false, "invalid virtual pod id \"-x\"");
    classify_fails("W", ann("sandbox", NULL, "..."), false, "invalid virtual pod id \"...\"");
    classify_fails("W", ann("sandbox", NULL, ".x"), false, "invalid virtual pod id \".x\"");
}

static void test_bool_parsing(void **state)
{
    (void)state;
    static const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};
    static const char *neither[] = {"", "yes", "tRUE", "2", " true", "on"};
    bool b;
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        b = false;
        assert_int_equal(pod_parse_bool(yes[i], &b), 0);
        assert_true(b);
        b = true;
        assert_int_equal(pod_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < ARRAY_SIZE(neither); i++)
        assert_true(pod_parse_bool(neither[i], &b) < 0);

    json_t *a = json_object();
    assert_true(pod_annotation_bool(a, POD_ANN_SECURITY_POLICY_ENV, true)); /* default */
    json_object_set_new(a, POD_ANN_PRIVILEGED, json_string("yes"));
    assert_false(pod_annotation_bool(a, POD_ANN_PRIVILEGED, false)); /* unparsable keeps default */
    json_object_set_new(a, POD_ANN_PRIVILEGED, json_string("T"));
    assert_true(pod_annotation_bool(a, POD_ANN_PRIVILEGED, false));
    json_object_set_new(a, POD_ANN_HOST_NETWORK, json_integer(1)); /* not a string: absent */
    assert_false(pod_annotation_bool(a, POD_ANN_HOST_NETWORK, false));
    assert_null(pod_annotation(NULL, POD_ANN_PRIVILEGED));

    /* docs/differences.md D-17: skip-networking is case-insensitive "true" only */
    assert_false(pod_annotation_skip_networking(a));
    json_object_set_new(a, POD_ANN_SKIP_POD_NETWORKING, json_string("TrUe"));
    assert_true(pod_annotation_skip_networking(a));
    json_object_set_new(a, POD_ANN_SKIP_POD_NETWORKING, json_string("1"));
    assert_false(pod_annotation_skip_networking(a));
    json_object_set_new(a, POD_ANN_SKIP_POD_NETWORKING, json_string("T"));
    assert_false(pod_annotation_skip_networking(a));
    json_decref(a);
}

static void test_kind_names(void **state)
{
    (void)state;
    for (int k = 0; k < POD_KIND_MAX; k++)
        assert_string_not_equal(pod_kind_name((enum pod_kind)k), "unknown");
    assert_string_equal(pod_kind_name(POD_KIND_STANDALONE), "standalone");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_cgroups),
        cmocka_unit_test(test_d10_workload_without_sandbox_id),
        cmocka_unit_test(test_d12_unsupported_container_type),
        cmocka_unit_test(test_d9_confidential_id_rule),
        cmocka_unit_test(test_create_rejects_uvm_container_id),
        cmocka_unit_test(test_general_id_rule),
        cmocka_unit_test(test_bool_parsing),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
