/* spec.h — the container documents gcsctl builds itself: an OCI spec from a
 * small default embedded here (no files are read at run time), adjusted for
 * the kind of container, and the ContainerConfig document around it. */
#pragma once

#include "common/err.h"

#include <jansson.h>

enum ctlspec_kind { CTLSPEC_SANDBOX, CTLSPEC_WORKLOAD, CTLSPEC_STANDALONE };

typedef struct ctlspec_opts {
    enum ctlspec_kind kind;
    const char *id;
    const char *sandbox_id; /* io.kubernetes.cri.sandbox-id (workloads); NULL = none */
    const char *vpid;       /* io.microsoft.cri.virtual-pod-id; NULL = none */
    const char *rootfs;     /* root.path */
    const char *hostname;   /* NULL = none */
    const char *netns;      /* windows.network.networkNamespace; NULL = none */
    int64_t memory_limit;   /* linux.resources.memory.limit; 0 = none */
    bool skip_networking;   /* io.microsoft.cri.skip-pod-networking=true */
    bool terminal;          /* process.terminal */
    char *const *args;      /* process.args; NULL = a shell that sleeps forever */
    size_t nargs;
} ctlspec_opts;

/* "sandbox", "workload", "standalone" -> kind. 0 or -EINVAL. */
int ctlspec_kind_parse(const char *s, enum ctlspec_kind *ret);

/* A new OCI spec for o. */
json_t *ctlspec_build(const ctlspec_opts *o);

/* {"SchemaVersion":{2,1},"OciBundlePath":bundle,"OciSpecification":spec,"ScratchDirPath":""};
 * spec is stolen. */
json_t *ctlspec_container_config(json_t *spec, const char *bundle);

/* A random GUID in the lower-case 8-4-4-4-12 form (as hcsshim names
 * namespaces). */
char *ctlspec_new_guid(void);
