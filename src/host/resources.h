/* resources.h — ModifySettings, one table row per resource type
 * (docs/architecture.md, "ModifySettings resources").
 *
 * A row says which target a resource type accepts (the VM, a container),
 * which request types (Add, Remove, Update, ...) and which handler applies
 * it. The dispatcher (resources.c) checks target and request type against
 * the row, with the same wording for every resource, asks the policy hook
 * (src/policy), and only then calls the handler. A row without a handler
 * answers E_NOTIMPL. Handlers never answer the bridge: they return, and the
 * dispatcher answers.
 *
 * Adding a resource: one file src/host/res_<name>.c defining its
 * resource_def, and one line in the table in resources.c. */
#pragma once

#include "host/host_internal.h"

/* resource_def.targets */
#define RES_ON_VM 1u
#define RES_ON_CONTAINER 2u
/* resource_def.requests: a bit per enum msg_request_type */
#define REQ_BIT(t) (1u << (t))
#define REQ_ANY                                                                                                   \
    (REQ_BIT(REQ_ADD) | REQ_BIT(REQ_REMOVE) | REQ_BIT(REQ_UPDATE) | REQ_BIT(REQ_PREADD) | REQ_BIT(REQ_OTHER))

/* A handler returns RES_PENDING when it finishes later with res_call_done. */
#define RES_PENDING 1

typedef struct res_call {
    host *h;
    container *c; /* the target container, NULL when the target is the VM */
    enum msg_resource type;
    enum msg_request_type request;
    const char *type_name;    /* as sent */
    const char *request_name; /* as sent, "Add" when absent */
    msg_resource_settings settings; /* decoded; strings live in the request's arena */
    bridge_req *req; /* the dispatcher's: handlers do not answer it */
} res_call;

typedef struct resource_def {
    enum msg_resource type;
    unsigned targets;  /* RES_ON_VM and/or RES_ON_CONTAINER */
    unsigned requests; /* REQ_BIT()s */
    /* 0: done; RES_PENDING: res_call_done follows; <0: failed (err set). */
    int (*apply)(res_call *call, gcs_err *err);
    /* Release what the resource holds outside the mount ledger (timers,
     * devices), at agent exit. Mounts need none: container teardown and
     * agent exit walk the ledger, whose entries carry their own unmount. */
    void (*release)(host *h);
} resource_def;

/* Finish a call that returned RES_PENDING (err NULL: success); frees call. */
void res_call_done(res_call *call, const gcs_err *err);

/* The ModifySettings handler of the bridge. */
void host_handle_modify(bridge_req *req, void *ctx);
/* Every resource's release (agent exit). */
void resources_release(host *h);

/* The rows, one per file. */
extern const resource_def res_combined_layers_def;      /* res_layers.c */
extern const resource_def res_container_constraints_def; /* res_constraints.c */
extern const resource_def res_pod_memory_limit_def;     /* res_pod_memory.c */
extern const resource_def res_network_def;              /* res_network.c */
extern const resource_def res_mapped_virtual_disk_def;  /* res_scsi.c */
extern const resource_def res_scsi_device_def;          /* res_scsi.c */
extern const resource_def res_vpci_device_def;          /* res_vpci.c */
extern const resource_def res_vpmem_device_def;         /* res_vpmem.c */
extern const resource_def res_mapped_directory_def;     /* res_plan9.c */
