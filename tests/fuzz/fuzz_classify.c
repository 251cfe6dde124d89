/* libFuzzer: create-request classification (pod/classify.h).
 * Input: flags byte, then either (flags bit 1 clear) id \0 annotations-JSON
 * (any JSON type), or (bit 1 set) id \0 container-type \0 sandbox-id \0 vpid
 * built into an annotations object. Bit 0: confidential mode.
 * Asserts on success: the container id, the sandbox_id (and the vpid when
 * set) pass their validators; sandbox_id is the vpid when one is set; the
 * pod and container cgroup paths are clean and strictly below /pods (one or
 * two elements); is_sandbox matches the kind. On failure: *ret stays zeroed
 * and err is set. */
#include "common/path.h"
#include "pod/annotations.h"
#include "pod/classify.h"
#include "sandbox/sandbox.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cgroup(const char *cg, size_t want_elems, const char *what)
{
    cleanup_free char *c = path_clean(cg);
    FUZZ_CHECK(streq(c, cg), "%s cgroup \"%s\" is not clean", what, cg);
    FUZZ_CHECK(path_is_within("/pods", cg) && !streq(cg, "/pods"), "%s cgroup \"%s\" not below /pods", what, cg);
    size_t n = 0;
    for (const char *p = cg + strlen("/pods"); *p; p++)
        n += *p == '/';
    FUZZ_CHECK(n == want_elems, "%s cgroup \"%s\" has %zu elements below /pods, want %zu", what, cg, n, want_elems);
}

static void check_success(const pod_class *cp, const char *id, bool confidential)
{
    pod_class c = *cp;
    gcs_err e = GCS_ERR_INIT;
    FUZZ_CHECK(c.kind < POD_KIND_MAX, "kind %d", (int)c.kind);
    FUZZ_CHECK(c.is_sandbox == (c.kind == POD_KIND_SANDBOX || c.kind == POD_KIND_VPOD_SANDBOX), "is_sandbox");
    FUZZ_CHECK(c.sandbox_id && c.vpid, "NULL strings");
    FUZZ_CHECK(pod_validate_id("sandbox", c.sandbox_id, &e) == 0, "sandbox_id \"%s\" invalid: %s", c.sandbox_id,
               err_msg(&e));
    FUZZ_CHECK(pod_validate_container_id(id, confidential, &e) == 0, "id \"%s\" accepted but invalid: %s", id,
               err_msg(&e));
    if (*c.vpid) {
        FUZZ_CHECK(sandbox_vpid_validate(c.vpid, &e) == 0, "vpid \"%s\" invalid", c.vpid);
        FUZZ_CHECK(streq(c.sandbox_id, c.vpid), "sandbox_id \"%s\" != vpid \"%s\"", c.sandbox_id, c.vpid);
    } else {
        FUZZ_CHECK(c.kind != POD_KIND_VPOD_SANDBOX && c.kind != POD_KIND_VPOD_WORKLOAD, "vpod kind without vpid");
    }
    if (!*c.vpid && (c.kind == POD_KIND_SANDBOX || c.kind == POD_KIND_STANDALONE))
        FUZZ_CHECK(streq(c.sandbox_id, id), "%s: sandbox_id \"%s\" != id \"%s\"", pod_kind_name(c.kind),
                   c.sandbox_id, id);
    if (confidential)
        FUZZ_CHECK(pod_validate_id_confidential("sandbox", c.sandbox_id, &e) == 0, "confidential sandbox_id \"%s\"",
                   c.sandbox_id);
    cleanup_free char *pod_cg = pod_cgroup_path(c.sandbox_id);
    check_cgroup(pod_cg, 1, "pod");
    cleanup_free char *ctr_cg = pod_container_cgroup_path(&c, id);
    check_cgroup(ctr_cg, c.kind == POD_KIND_STANDALONE ? 1 : 2, "container");
    if (c.kind != POD_KIND_STANDALONE)
        FUZZ_CHECK(path_is_within(pod_cg, ctr_cg), "container cgroup \"%s\" not in pod \"%s\"", ctr_cg, pod_cg);
    err_clear(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool confidential = data[0] & 1;
    bool structured = data[0] & 2;
    fuzz_fields ff;
    json_t *ann = NULL;
    if (structured) {
        fuzz_split(data + 1, size - 1, 4, &ff);
        ann = json_object();
        const char *keys[] = {POD_ANN_CONTAINER_TYPE, POD_ANN_SANDBOX_ID, POD_ANN_VIRTUAL_POD_ID};
        for (size_t i = 0; i < 3; i++)
            if (ff.len[i + 1] > 0 || (data[0] & (4u << i)))
                json_object_set_new(ann, keys[i], json_stringn(ff.f[i + 1], strlen(ff.f[i + 1])));
    } else {
        fuzz_split(data + 1, size - 1, 2, &ff);
        ann = json_loadb(ff.f[1], ff.len[1], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    }
    const char *id = ff.f[0];

    pod_class c;
    memset(&c, 0xa5, sizeof(c)); /* must be overwritten either way */
    gcs_err err = GCS_ERR_INIT;
    int r = pod_classify(id, ann, confidential, &c, &err);
    if (r < 0) {
        pod_class zero = {0};
        FUZZ_CHECK(memcmp(&c, &zero, sizeof(c)) == 0, "failed classify left *ret non-zero");
        FUZZ_CHECK(err_isset(&err), "failed classify without an error");
        goto out;
    }
    check_success(&c, id, confidential);
out:
    pod_class_done(&c);
    err_clear(&err);
    json_decref(ann);
    fuzz_fields_done(&ff);
    return 0;
}
