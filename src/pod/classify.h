/* classify.h — what kind of container a create request makes, and the ID
 * rules (docs/pod-model.md §1.3, §1.4, §2.1, §4.4).
 *
 * Kinds: a sandbox (CRI pause container), a virtual-pod sandbox (vpid set and
 * either id == vpid, or container-type "sandbox"), a workload, a virtual-pod
 * workload, or a standalone (no container-type key). sandbox_id is the pod
 * key: vpid when set (every kind), else sandbox-id for workloads, else id.
 * Note the odd upstream case kept here: container-type "sandbox" with a vpid
 * different from id is a VPOD_SANDBOX whose sandbox_id != id.
 *
 * ID rules, ours first (IDs become path elements and cgroup names, so they
 * are checked in every mode): 1..256 characters of [A-Za-z0-9_.-] starting
 * with a letter or digit. The UVM ID 00000000-0000-0000-0000-000000000000 is
 * refused as a container ID on create (docs/differences.md D-10:
 * test_create_rejects_uvm_container_id). In confidential mode IDs must also
 * match ^[0-9a-fA-F]{64}$ (or be the UVM ID), with upstream's error text.
 * A vpid must pass sandbox_vpid_validate (the strict single-element rule). */
#pragma once

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

#define POD_ID_MAX 256

enum pod_kind {
    POD_KIND_SANDBOX,
    POD_KIND_VPOD_SANDBOX,
    POD_KIND_WORKLOAD,
    POD_KIND_VPOD_WORKLOAD,
    POD_KIND_STANDALONE,
    POD_KIND_MAX,
};

typedef struct pod_class {
    enum pod_kind kind;
    bool is_sandbox; /* SANDBOX or VPOD_SANDBOX */
    bool is_cri;     /* container-type present, or the vpid sandbox override */
    char *sandbox_id; /* owned; never NULL or empty after success */
    char *vpid;       /* owned; "" when not a virtual pod */
} pod_class;

/* Classify a create request. annotations: the spec's "annotations" object or
 * NULL. confidential: a security policy is installed. Errors (HR_E_INVALIDARG):
 *   unsupported 'io.kubernetes.cri.container-type': '<v>'
 *   unsupported 'io.kubernetes.cri.sandbox-id': ''      (workload, no vpid)
 *   invalid <kind> id: <id> (must match ^[0-9a-fA-F]{64}$)   (confidential)
 *   our ID rule / the vpid rule.
 * On failure *ret is left zeroed. */
int pod_classify(const char *id, const json_t *annotations, bool confidential, pod_class *ret, gcs_err *err);
/* Frees the strings; accepts a zeroed struct. */
void pod_class_done(pod_class *c);
/* "sandbox", "virtual-pod sandbox", "workload", "virtual-pod workload", "standalone". */
const char *pod_kind_name(enum pod_kind kind);

/* Our rule for every mode. kind_name goes into the message ("container",
 * "sandbox", "virtual pod"). */
int pod_validate_id(const char *kind_name, const char *id, gcs_err *err);
/* The confidential-mode rule (docs/pod-model.md §2.1): 64 hex characters or the UVM ID. */
int pod_validate_id_confidential(const char *kind_name, const char *id, gcs_err *err);
/* The container ID of a create request: the confidential rule when
 * confidential, our rule, and never the UVM ID. */
int pod_validate_container_id(const char *id, bool confidential, gcs_err *err);

/* Cgroup paths (docs/pod-model.md §1.4, §4.4): /pods/<sid> for the pod; /pods/<sid>/<id> for sandbox
 * and workload containers; /pods/<id> for a standalone. */
char *pod_cgroup_path(const char *sandbox_id);
char *pod_container_cgroup_path(const pod_class *c, const char *id);
