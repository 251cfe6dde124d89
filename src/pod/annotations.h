/* annotations.h — the OCI annotation keys the pod model reads
 * (docs/pod-model.md §1.2) and their value parsers.
 *
 * Booleans: most keys use Go's strconv.ParseBool set (1 t T TRUE true True,
 * 0 f F FALSE false False); anything else keeps the default. skip-pod-networking
 * is the exception: only a case-insensitive "true" turns it on
 * (docs/differences.md D-17, kept for compatibility). Annotation lookups take the spec's "annotations"
 * JSON object (NULL allowed); a missing key or a non-string value is absent. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#define POD_ANN_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define POD_ANN_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define POD_ANN_VIRTUAL_POD_ID "io.microsoft.cri.virtual-pod-id"
#define POD_ANN_SKIP_POD_NETWORKING "io.microsoft.cri.skip-pod-networking"
#define POD_ANN_TENANT_SANDBOX_ID "io.microsoft.cri.tenant-sandbox-id" /* defined, read by nothing */
#define POD_ANN_PRIVILEGED "io.microsoft.virtualmachine.lcow.privileged"
#define POD_ANN_HOST_NETWORK "io.microsoft.virtualmachine.lcow.hostnetwork"
#define POD_ANN_TEE_LOG_PATH "io.microsoft.container.lcow.tee-log-path"
#define POD_ANN_TEE_LOG_DIR_MOUNT "io.microsoft.container.lcow.tee-log-dir-mount"
#define POD_ANN_DEV_SHM_SIZE_KB "io.microsoft.lcow.shm.size-kb"
#define POD_ANN_RLIMIT_CORE "io.microsoft.lcow.rlimitcore"
#define POD_ANN_SECURITY_POLICY_ENV "io.microsoft.virtualmachine.lcow.securitypolicy.env"
#define POD_ANN_GPU_CAPABILITIES "io.microsoft.container.gpu.capabilities"

#define POD_CRI_TYPE_SANDBOX "sandbox"
#define POD_CRI_TYPE_CONTAINER "container"

/* Go strconv.ParseBool. 0 or -EINVAL (ret untouched). */
int pod_parse_bool(const char *s, bool *ret);
/* The string value of key, or NULL. */
const char *pod_annotation(const json_t *annotations, const char *key);
/* ParseBool of the value; def when missing or unparsable. */
bool pod_annotation_bool(const json_t *annotations, const char *key, bool def);
/* skip-pod-networking: case-insensitive "true" only. */
bool pod_annotation_skip_networking(const json_t *annotations);
