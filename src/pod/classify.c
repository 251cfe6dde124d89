/* classify.c — see classify.h. */
#include "pod/classify.h"

#include "common/quote.h"
#include "pod/annotations.h"
#include "pod/paths.h"
#include "sandbox/sandbox.h"

#include <ctype.h>

static bool id_char_ok(char c) { return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-'); }

int pod_validate_id(const char *kind_name, const char *id, gcs_err *err)
{
    size_t n = strlen(id);
    bool ok = n > 0 && n <= POD_ID_MAX && isascii((unsigned char)id[0]) && isalnum((unsigned char)id[0]);
    for (size_t i = 1; ok && i < n; i++)
        ok = id_char_ok(id[i]);
    if (!ok) {
        cleanup_free char *q = quote_go(id);
        return err_set(err, HR_E_INVALIDARG,
                       "invalid %s id %s: must be 1 to %d characters from [A-Za-z0-9_.-], starting with a "
                       "letter or digit",
                       kind_name, q, POD_ID_MAX);
    }
    return 0;
}

int pod_validate_id_confidential(const char *kind_name, const char *id, gcs_err *err)
{
    /* docs/pod-model.md §2.1 */
    if (streq(id, POD_UVM_CONTAINER_ID))
        return 0;
    size_t n = strlen(id);
    bool ok = n == 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isxdigit((unsigned char)id[i]);
    if (!ok)
        return err_set(err, HR_E_INVALIDARG, "invalid %s id: %s (must match ^[0-9a-fA-F]{64}$)", kind_name, id);
    return 0;
}

int pod_validate_container_id(const char *id, bool confidential, gcs_err *err)
{
    int r;
    if (confidential && (r = pod_validate_id_confidential("container", id, err)) < 0)
        return r;
    if ((r = pod_validate_id("container", id, err)) < 0)
        return r;
    /* docs/differences.md D-10: the UVM ID addresses the VM itself, never a container */
    if (streq(id, POD_UVM_CONTAINER_ID))
        return err_set(err, HR_E_INVALIDARG, "invalid container id: %s is reserved for the UVM", id);
    return 0;
}

const char *pod_kind_name(enum pod_kind kind)
{
    switch (kind) {
    case POD_KIND_SANDBOX:
        return "sandbox";
    case POD_KIND_VPOD_SANDBOX:
        return "virtual-pod sandbox";
    case POD_KIND_WORKLOAD:
        return "workload";
    case POD_KIND_VPOD_WORKLOAD:
        return "virtual-pod workload";
    case POD_KIND_STANDALONE:
        return "standalone";
    default:
        return "unknown";
    }
}

void pod_class_done(pod_class *c)
{
    if (!c)
        return;
    free(c->sandbox_id);
    free(c->vpid);
    c->sandbox_id = NULL;
    c->vpid = NULL;
}

int pod_classify(const char *id, const json_t *annotations, bool confidential, pod_class *ret, gcs_err *err)
{
    int r;
    memset(ret, 0, sizeof(*ret));

    /* docs/pod-model.md §1.3 steps 1-2 */
    const char *cri_type = pod_annotation(annotations, POD_ANN_CONTAINER_TYPE);
    bool is_cri = cri_type != NULL;
    const char *vpid = pod_annotation(annotations, POD_ANN_VIRTUAL_POD_ID);
    if (!vpid)
        vpid = "";
    bool is_vpod = *vpid != '\0';

    /* step 3, plus our own rules in every mode */
    if ((r = pod_validate_container_id(id, confidential, err)) < 0)
        return r;
    if (is_vpod) {
        if (confidential && (r = pod_validate_id_confidential("virtual pod", vpid, err)) < 0)
            return r;
        if ((r = sandbox_vpid_validate(vpid, err)) < 0)
            return r;
        /* the vpid becomes sandbox_id, a cgroup element: our ID rule too
         * (fuzz_classify: "_x" and "-x" passed the vpid rule) */
        if ((r = pod_validate_id("virtual pod", vpid, err)) < 0)
            return r;
    }

    /* step 4: the vpid sandbox override (not written back into the spec) */
    if (is_vpod && streq(id, vpid)) {
        cri_type = POD_CRI_TYPE_SANDBOX;
        is_cri = true;
    }

    /* step 5 */
    if (is_cri && !streq(cri_type, POD_CRI_TYPE_SANDBOX) && !streq(cri_type, POD_CRI_TYPE_CONTAINER))
        return err_set(err, HR_E_INVALIDARG, "unsupported '%s': '%s'", POD_ANN_CONTAINER_TYPE, cri_type);

    /* step 6 */
    bool is_sandbox = is_cri && streq(cri_type, POD_CRI_TYPE_SANDBOX);
    const char *sid;
    if (is_vpod)
        sid = vpid;
    else if (is_cri && streq(cri_type, POD_CRI_TYPE_CONTAINER))
        sid = pod_annotation(annotations, POD_ANN_SANDBOX_ID);
    else
        sid = id;
    if (!sid)
        sid = "";

    enum pod_kind kind;
    if (!is_cri)
        kind = POD_KIND_STANDALONE;
    else if (is_sandbox)
        kind = is_vpod ? POD_KIND_VPOD_SANDBOX : POD_KIND_SANDBOX;
    else
        kind = is_vpod ? POD_KIND_VPOD_WORKLOAD : POD_KIND_WORKLOAD;

    if (kind == POD_KIND_WORKLOAD || kind == POD_KIND_VPOD_WORKLOAD) {
        /* step 7 */
        if (confidential && (r = pod_validate_id_confidential("sandbox", sid, err)) < 0)
            return r;
        if (*sid == '\0')
            return err_set(err, HR_E_INVALIDARG, "unsupported '%s': ''", POD_ANN_SANDBOX_ID);
        /* ours: the sandbox ID becomes a cgroup path element */
        if (kind == POD_KIND_WORKLOAD && (r = pod_validate_id("sandbox", sid, err)) < 0)
            return r;
    }

    ret->kind = kind;
    ret->is_sandbox = is_sandbox;
    ret->is_cri = is_cri;
    ret->sandbox_id = xstrdup(sid);
    ret->vpid = xstrdup(vpid);
    return 0;
}

char *pod_cgroup_path(const char *sandbox_id) { return xasprintf(POD_CGROUP_PARENT "/%s", sandbox_id); }

char *pod_container_cgroup_path(const pod_class *c, const char *id)
{
    if (c->kind == POD_KIND_STANDALONE)
        return xasprintf(POD_CGROUP_PARENT "/%s", id);
    return xasprintf(POD_CGROUP_PARENT "/%s/%s", c->sandbox_id, id);
}
