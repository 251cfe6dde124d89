/* msg.h — typed host requests (docs/protocol.md §3, §4) and their decoders.
 *
 * msg_decode() turns a parsed request envelope into the struct for its rpc.
 * Strings and objects point into the JSON document (or into documents the
 * arena owns, for the JSON-inside-a-string fields), so the struct lives as
 * long as the request. Any failure is HR_VMCOMPUTE_INVALID_JSON. */
#pragma once

#include "bridge/proto.h"
#include "common/jsonx.h"

typedef struct msg_base {
    const char *container_id;
    const char *activity_id;
} msg_base;

typedef struct msg_negotiate {
    msg_base base;
    uint32_t minimum_version;
    uint32_t maximum_version;
} msg_negotiate;

typedef struct msg_schema_version {
    uint32_t major;
    uint32_t minor;
} msg_schema_version;

/* VMHostedContainerSettingsV2 (docs/protocol.md §4.1) */
typedef struct msg_container_settings {
    msg_schema_version schema_version;
    const char *oci_bundle_path;
    json_t *oci_specification; /* object, borrowed */
    const char *scratch_dir_path;
} msg_container_settings;

typedef struct msg_create {
    msg_base base;
    msg_container_settings config; /* from the ContainerConfig string */
    bool has_config;
} msg_create;

typedef struct msg_vsock_stdio {
    uint32_t std_in;
    uint32_t std_out;
    uint32_t std_err;
} msg_vsock_stdio;

typedef struct msg_process_params {
    const char *command_line;
    jx_strv command_args;
    const char *working_directory;
    json_t *environment; /* object of strings */
    bool emulate_console;
    bool create_stdin_pipe;
    bool create_stdout_pipe;
    bool create_stderr_pipe;
    bool create_in_utility_vm;
    json_t *oci_process; /* object: OCI process */
} msg_process_params;

typedef struct msg_exec {
    msg_base base;
    struct {
        msg_process_params process_parameters;
        msg_vsock_stdio vsock_stdio_relay_settings;
    } settings;
} msg_exec;

typedef struct msg_wait {
    msg_base base;
    uint32_t process_id;
    uint32_t timeout_in_ms;
} msg_wait;

typedef struct msg_signal {
    msg_base base;
    uint32_t process_id;
    struct {
        int32_t signal;
    } options;
} msg_signal;

typedef struct msg_resize {
    msg_base base;
    uint32_t process_id;
    uint16_t height;
    uint16_t width;
} msg_resize;

typedef struct msg_get_properties {
    msg_base base;
    struct {
        jx_strv property_types;
    } query;
} msg_get_properties;

typedef struct msg_modify {
    msg_base base;
    struct {
        const char *request_type;  /* NULL or "" means "Add" */
        const char *resource_type;
        json_t *settings;          /* decoded further by msg_decode_resource */
    } request;
} msg_modify;

/* Requests that carry only the base (Start, Shutdown*, DumpStacks, Delete). */
typedef struct msg_plain {
    msg_base base;
} msg_plain;

/* ---- ModifySettings resources (docs/protocol.md §4.9) ---- */

enum msg_resource {
    RES_UNKNOWN = 0,
    RES_MAPPED_VIRTUAL_DISK,
    RES_SCSI_DEVICE,
    RES_MAPPED_DIRECTORY,
    RES_VPMEM_DEVICE,
    RES_COMBINED_LAYERS,
    RES_NETWORK,
    RES_VPCI_DEVICE,
    RES_CONTAINER_CONSTRAINTS,
    RES_SECURITY_POLICY,
    RES_SECURITY_POLICY_FRAGMENT,
    RES_POD_CGROUP_MEMORY_LIMIT,
};

enum msg_request_type { REQ_ADD, REQ_REMOVE, REQ_UPDATE, REQ_PREADD, REQ_OTHER };

typedef struct res_mapped_virtual_disk {
    const char *mount_path;
    uint8_t lun;
    uint8_t controller;
    uint64_t partition;
    bool read_only;
    bool encrypted;
    jx_strv options;
    bool block_dev;
    bool ensure_filesystem;
    const char *filesystem;
} res_mapped_virtual_disk;

typedef struct res_scsi_device {
    uint8_t controller;
    uint8_t lun;
} res_scsi_device;

typedef struct res_mapped_directory {
    const char *mount_path;
    int32_t port;
    const char *share_name;
    bool read_only;
} res_mapped_directory;

/* DeviceVerityInfo (upstream marks it deprecated: its guest reads verity
 * only in confidential mode; gcs sets up dm-verity whenever it is sent,
 * docs/differences.md D-46). */
typedef struct res_verity_info {
    int64_t ext4_size_in_bytes;
    int64_t version;
    const char *algorithm;
    bool super_block;
    const char *root_digest;
    const char *salt;
    int64_t block_size;
} res_verity_info;

typedef struct res_vpmem_device {
    uint32_t device_number;
    const char *mount_path;
    struct {
        uint64_t device_offset_in_bytes;
        uint64_t device_size_in_bytes;
    } mapping_info;
    res_verity_info verity_info;
    bool has_mapping_info; /* MappingInfo is an object (not absent, not null) */
    bool has_verity_info;  /* VerityInfo is an object */
} res_vpmem_device;

typedef struct res_layer {
    const char *id;
    const char *path;
    const char *path_type;
    bool cache;
} res_layer;

typedef struct res_combined_layers {
    const char *container_id;
    const char *container_root_path;
    jx_vec layers; /* res_layer */
    const char *scratch_path;
} res_combined_layers;

typedef struct res_ip_config {
    const char *ip_address;
    uint8_t prefix_length;
} res_ip_config;

typedef struct res_route {
    const char *next_hop;
    const char *destination_prefix;
    uint16_t metric;
} res_route;

typedef struct res_network_adapter {
    const char *namespace_id;
    const char *id;
    const char *mac_address;
    const char *dns_suffix;
    const char *dns_server_list;
    uint16_t encap_overhead;
    bool vpci_assigned;
    jx_vec ip_configs; /* res_ip_config */
    jx_vec routes;     /* res_route */
    bool policy_based_routing;
    bool enable_low_metric;
} res_network_adapter;

typedef struct res_vpci_device {
    const char *vmbus_guid;
} res_vpci_device;

typedef struct res_container_constraints {
    json_t *windows;
    json_t *linux_resources; /* OCI LinuxResources */
} res_container_constraints;

typedef struct res_security_policy {
    const char *enforcer_type;
    const char *encoded_security_policy;
    const char *encoded_uvm_reference;
} res_security_policy;

typedef struct res_security_policy_fragment {
    const char *fragment;
    const char *media_type;
} res_security_policy_fragment;

typedef union msg_resource_settings {
    res_mapped_virtual_disk mvd;
    res_scsi_device scsi;
    res_mapped_directory mdir;
    res_vpmem_device vpmem;
    res_combined_layers layers;
    res_network_adapter net;
    res_vpci_device vpci;
    res_container_constraints constraints;
    res_security_policy policy;
    res_security_policy_fragment fragment;
} msg_resource_settings;

/* Size of the struct msg_decode fills for an rpc (0: not a known rpc). */
size_t msg_struct_size(unsigned rpc);
/* Decode envelope doc for rpc into out (zeroed by the caller). */
int msg_decode(unsigned rpc, const json_t *doc, void *out, jx_arena *arena, gcs_err *err);

enum msg_resource msg_resource_parse(const char *s);
const char *msg_resource_name(enum msg_resource r);
enum msg_request_type msg_request_type_parse(const char *s);
/* Decode a ModifySettings Settings object for a resource type. settings may
 * be NULL (absent), which decodes as all-zero. */
int msg_decode_resource(enum msg_resource r, const json_t *settings, msg_resource_settings *out, jx_arena *arena,
                        gcs_err *err);

/* True if s is a GUID in the 8-4-4-4-12 hex form the host's decoder accepts. */
bool msg_is_guid(const char *s);
