#include "bridge/msg.h"

#include <ctype.h>
#include <strings.h>

static const char *const rpc_names[RPC_MAX] = {
    [RPC_CREATE] = "CreateContainer",
    [RPC_START] = "Start",
    [RPC_SHUTDOWN_GRACEFUL] = "ShutdownGraceful",
    [RPC_SHUTDOWN_FORCED] = "ShutdownForced",
    [RPC_EXECUTE_PROCESS] = "ExecuteProcess",
    [RPC_WAIT_FOR_PROCESS] = "WaitForProcess",
    [RPC_SIGNAL_PROCESS] = "SignalProcess",
    [RPC_RESIZE_CONSOLE] = "ResizeConsole",
    [RPC_GET_PROPERTIES] = "GetProperties",
    [RPC_MODIFY_SETTINGS] = "ModifySettings",
    [RPC_NEGOTIATE_PROTOCOL] = "NegotiateProtocol",
    [RPC_DUMP_STACKS] = "DumpStacks",
    [RPC_DELETE_CONTAINER_STATE] = "DeleteContainerState",
    [RPC_UPDATE_CONTAINER] = "UpdateContainer",
    [RPC_LIFECYCLE_NOTIFICATION] = "LifecycleNotification",
};

const char *msg_rpc_name(unsigned rpc)
{
    return rpc < RPC_MAX && rpc_names[rpc] ? rpc_names[rpc] : "Unknown";
}

#define BASE_FIELDS(st)                                                                            \
    JXF("ContainerId", JX_STR, st, base.container_id), JXF("ActivityId", JX_STR, st, base.activity_id)

static const jx_field t_plain[] = {BASE_FIELDS(msg_plain), JX_TABLE_END};

static const jx_field t_negotiate[] = {
    BASE_FIELDS(msg_negotiate),
    JXF("MinimumVersion", JX_U32, msg_negotiate, minimum_version),
    JXF("MaximumVersion", JX_U32, msg_negotiate, maximum_version),
    JX_TABLE_END,
};

static const jx_field t_schema[] = {
    JXF("Major", JX_U32, msg_schema_version, major),
    JXF("Minor", JX_U32, msg_schema_version, minor),
    JX_TABLE_END,
};

static const jx_field t_container_settings[] = {
    JXS("SchemaVersion", JX_STRUCT, msg_container_settings, schema_version, t_schema),
    JXF("OciBundlePath", JX_STR, msg_container_settings, oci_bundle_path),
    JXF("OciSpecification", JX_OBJ, msg_container_settings, oci_specification),
    JXF("ScratchDirPath", JX_STR, msg_container_settings, scratch_dir_path),
    JX_TABLE_END,
};

static const jx_field t_create[] = {
    BASE_FIELDS(msg_create),
    JXS("ContainerConfig", JX_JSONSTR, msg_create, config, t_container_settings),
    JX_TABLE_END,
};

static const jx_field t_process_params[] = {
    JXF("CommandLine", JX_STR, msg_process_params, command_line),
    JXF("CommandArgs", JX_STRARR, msg_process_params, command_args),
    JXF("WorkingDirectory", JX_STR, msg_process_params, working_directory),
    JXF("Environment", JX_STRMAP, msg_process_params, environment),
    JXF("EmulateConsole", JX_BOOL, msg_process_params, emulate_console),
    JXF("CreateStdInPipe", JX_BOOL, msg_process_params, create_stdin_pipe),
    JXF("CreateStdOutPipe", JX_BOOL, msg_process_params, create_stdout_pipe),
    JXF("CreateStdErrPipe", JX_BOOL, msg_process_params, create_stderr_pipe),
    JXF("CreateInUtilityVM", JX_BOOL, msg_process_params, create_in_utility_vm),
    JXF("OciProcess", JX_OBJ, msg_process_params, oci_process),
    JX_TABLE_END,
};

static const jx_field t_vsock_stdio[] = {
    JXF("StdIn", JX_U32, msg_vsock_stdio, std_in),
    JXF("StdOut", JX_U32, msg_vsock_stdio, std_out),
    JXF("StdErr", JX_U32, msg_vsock_stdio, std_err),
    JX_TABLE_END,
};

typedef struct {
    msg_process_params process_parameters;
    msg_vsock_stdio vsock_stdio_relay_settings;
} exec_settings;

static const jx_field t_exec_settings[] = {
    JXS("ProcessParameters", JX_JSONSTR, exec_settings, process_parameters, t_process_params),
    JXS("VsockStdioRelaySettings", JX_STRUCT, exec_settings, vsock_stdio_relay_settings, t_vsock_stdio),
    JX_TABLE_END,
};

static const jx_field t_exec[] = {
    BASE_FIELDS(msg_exec),
    JXS("Settings", JX_STRUCT, msg_exec, settings, t_exec_settings),
    JX_TABLE_END,
};

static const jx_field t_wait[] = {
    BASE_FIELDS(msg_wait),
    JXF("ProcessId", JX_U32, msg_wait, process_id),
    JXF("TimeoutInMs", JX_U32, msg_wait, timeout_in_ms),
    JX_TABLE_END,
};

typedef struct {
    int32_t signal;
} signal_options;
static const jx_field t_signal_options[] = {JXF("Signal", JX_I32, signal_options, signal), JX_TABLE_END};

static const jx_field t_signal[] = {
    BASE_FIELDS(msg_signal),
    JXF("ProcessId", JX_U32, msg_signal, process_id),
    JXS("Options", JX_STRUCT, msg_signal, options, t_signal_options),
    JX_TABLE_END,
};

static const jx_field t_resize[] = {
    BASE_FIELDS(msg_resize),
    JXF("ProcessId", JX_U32, msg_resize, process_id),
    JXF("Height", JX_U16, msg_resize, height),
    JXF("Width", JX_U16, msg_resize, width),
    JX_TABLE_END,
};

typedef struct {
    jx_strv property_types;
} props_query;
static const jx_field t_query[] = {JXF("PropertyTypes", JX_STRARR, props_query, property_types), JX_TABLE_END};

static const jx_field t_get_properties[] = {
    BASE_FIELDS(msg_get_properties),
    JXS("Query", JX_JSONSTR, msg_get_properties, query, t_query),
    JX_TABLE_END,
};

typedef struct {
    const char *request_type;
    const char *resource_type;
    json_t *settings;
} modify_request;
static const jx_field t_modify_request[] = {
    JXF("RequestType", JX_STR, modify_request, request_type),
    JXF("ResourceType", JX_STR, modify_request, resource_type),
    JXF("Settings", JX_ANY, modify_request, settings),
    JX_TABLE_END,
};

static const jx_field t_modify[] = {
    BASE_FIELDS(msg_modify),
    JXS("Request", JX_STRUCT, msg_modify, request, t_modify_request),
    JX_TABLE_END,
};

static const struct {
    const jx_field *table;
    size_t size;
} rpc_tables[RPC_MAX] = {
    [RPC_CREATE] = {t_create, sizeof(msg_create)},
    [RPC_START] = {t_plain, sizeof(msg_plain)},
    [RPC_SHUTDOWN_GRACEFUL] = {t_plain, sizeof(msg_plain)},
    [RPC_SHUTDOWN_FORCED] = {t_plain, sizeof(msg_plain)},
    [RPC_EXECUTE_PROCESS] = {t_exec, sizeof(msg_exec)},
    [RPC_WAIT_FOR_PROCESS] = {t_wait, sizeof(msg_wait)},
    [RPC_SIGNAL_PROCESS] = {t_signal, sizeof(msg_signal)},
    [RPC_RESIZE_CONSOLE] = {t_resize, sizeof(msg_resize)},
    [RPC_GET_PROPERTIES] = {t_get_properties, sizeof(msg_get_properties)},
    [RPC_MODIFY_SETTINGS] = {t_modify, sizeof(msg_modify)},
    [RPC_NEGOTIATE_PROTOCOL] = {t_negotiate, sizeof(msg_negotiate)},
    [RPC_DUMP_STACKS] = {t_plain, sizeof(msg_plain)},
    [RPC_DELETE_CONTAINER_STATE] = {t_plain, sizeof(msg_plain)},
    [RPC_UPDATE_CONTAINER] = {t_plain, sizeof(msg_plain)},
    [RPC_LIFECYCLE_NOTIFICATION] = {t_plain, sizeof(msg_plain)},
};

size_t msg_struct_size(unsigned rpc) { return rpc > 0 && rpc < RPC_MAX ? rpc_tables[rpc].size : 0; }

int msg_decode(unsigned rpc, const json_t *doc, void *out, jx_arena *arena, gcs_err *err)
{
    if (rpc == 0 || rpc >= RPC_MAX || !rpc_tables[rpc].table)
        return err_set(err, HR_E_NOTIMPL, "unknown message");
    int r = jx_decode(doc, rpc_tables[rpc].table, out, arena, "", err);
    if (r < 0)
        return r;
    if (rpc == RPC_CREATE) {
        msg_create *m = out;
        m->has_config = jx_get(doc, "ContainerConfig") && json_string_length(jx_get(doc, "ContainerConfig")) > 0;
    }
    return 0;
}

/* ---- ModifySettings resources ---- */

static const jx_field t_mvd[] = {
    JXF("MountPath", JX_STR, res_mapped_virtual_disk, mount_path),
    JXF("Lun", JX_U8, res_mapped_virtual_disk, lun),
    JXF("Controller", JX_U8, res_mapped_virtual_disk, controller),
    JXF("Partition", JX_U64, res_mapped_virtual_disk, partition),
    JXF("ReadOnly", JX_BOOL, res_mapped_virtual_disk, read_only),
    JXF("Encrypted", JX_BOOL, res_mapped_virtual_disk, encrypted),
    JXF("Options", JX_STRARR, res_mapped_virtual_disk, options),
    JXF("BlockDev", JX_BOOL, res_mapped_virtual_disk, block_dev),
    JXF("EnsureFilesystem", JX_BOOL, res_mapped_virtual_disk, ensure_filesystem),
    JXF("Filesystem", JX_STR, res_mapped_virtual_disk, filesystem),
    JX_TABLE_END,
};

static const jx_field t_scsi[] = {
    JXF("Controller", JX_U8, res_scsi_device, controller),
    JXF("Lun", JX_U8, res_scsi_device, lun),
    JX_TABLE_END,
};

static const jx_field t_mdir[] = {
    JXF("MountPath", JX_STR, res_mapped_directory, mount_path),
    JXF("Port", JX_I32, res_mapped_directory, port),
    JXF("ShareName", JX_STR, res_mapped_directory, share_name),
    JXF("ReadOnly", JX_BOOL, res_mapped_directory, read_only),
    JX_TABLE_END,
};

typedef struct {
    uint64_t device_offset_in_bytes;
    uint64_t device_size_in_bytes;
} mapping_info;
static const jx_field t_mapping[] = {
    JXF("DeviceOffsetInBytes", JX_U64, mapping_info, device_offset_in_bytes),
    JXF("DeviceSizeInBytes", JX_U64, mapping_info, device_size_in_bytes),
    JX_TABLE_END,
};
static const jx_field t_verity[] = {
    JXF("Ext4SizeInBytes", JX_I64, res_verity_info, ext4_size_in_bytes),
    JXF("Version", JX_I64, res_verity_info, version),
    JXF("Algorithm", JX_STR, res_verity_info, algorithm),
    JXF("SuperBlock", JX_BOOL, res_verity_info, super_block),
    JXF("RootDigest", JX_STR, res_verity_info, root_digest),
    JXF("Salt", JX_STR, res_verity_info, salt),
    JXF("BlockSize", JX_I64, res_verity_info, block_size),
    JX_TABLE_END,
};
static const jx_field t_vpmem[] = {
    JXF("DeviceNumber", JX_U32, res_vpmem_device, device_number),
    JXF("MountPath", JX_STR, res_vpmem_device, mount_path),
    JXS("MappingInfo", JX_STRUCT, res_vpmem_device, mapping_info, t_mapping),
    JXS("VerityInfo", JX_STRUCT, res_vpmem_device, verity_info, t_verity),
    JX_TABLE_END,
};

static const jx_field t_layer[] = {
    JXF("Id", JX_STR, res_layer, id),
    JXF("Path", JX_STR, res_layer, path),
    JXF("PathType", JX_STR, res_layer, path_type),
    JXF("Cache", JX_BOOL, res_layer, cache),
    JX_TABLE_END,
};
static const jx_field t_layers[] = {
    JXF("ContainerID", JX_STR, res_combined_layers, container_id),
    JXF("ContainerRootPath", JX_STR, res_combined_layers, container_root_path),
    JXA("Layers", res_combined_layers, layers, t_layer, res_layer),
    JXF("ScratchPath", JX_STR, res_combined_layers, scratch_path),
    JX_TABLE_END,
};

static const jx_field t_ipconfig[] = {
    JXF("IPAddress", JX_STR, res_ip_config, ip_address),
    JXF("PrefixLength", JX_U8, res_ip_config, prefix_length),
    JX_TABLE_END,
};
static const jx_field t_route[] = {
    JXF("NextHop", JX_STR, res_route, next_hop),
    JXF("DestinationPrefix", JX_STR, res_route, destination_prefix),
    JXF("Metric", JX_U16, res_route, metric),
    JX_TABLE_END,
};
static const jx_field t_net[] = {
    JXF("NamespaceID", JX_STR, res_network_adapter, namespace_id),
    JXF("ID", JX_STR, res_network_adapter, id),
    JXF("MacAddress", JX_STR, res_network_adapter, mac_address),
    JXF("DNSSuffix", JX_STR, res_network_adapter, dns_suffix),
    JXF("DNSServerList", JX_STR, res_network_adapter, dns_server_list),
    JXF("EncapOverhead", JX_U16, res_network_adapter, encap_overhead),
    JXF("VPCIAssigned", JX_BOOL, res_network_adapter, vpci_assigned),
    JXA("IPConfigs", res_network_adapter, ip_configs, t_ipconfig, res_ip_config),
    JXA("Routes", res_network_adapter, routes, t_route, res_route),
    JXF("PolicyBasedRouting", JX_BOOL, res_network_adapter, policy_based_routing),
    JXF("EnableLowMetric", JX_BOOL, res_network_adapter, enable_low_metric),
    JX_TABLE_END,
};

static const jx_field t_vpci[] = {JXF("VMBusGUID", JX_STR, res_vpci_device, vmbus_guid), JX_TABLE_END};

static const jx_field t_constraints[] = {
    JXF("Windows", JX_OBJ, res_container_constraints, windows),
    JXF("Linux", JX_OBJ, res_container_constraints, linux_resources),
    JX_TABLE_END,
};

static const jx_field t_policy[] = {
    JXF("EnforcerType", JX_STR, res_security_policy, enforcer_type),
    JXF("EncodedSecurityPolicy", JX_STR, res_security_policy, encoded_security_policy),
    JXF("EncodedUVMReference", JX_STR, res_security_policy, encoded_uvm_reference),
    JX_TABLE_END,
};

static const jx_field t_fragment[] = {
    JXF("Fragment", JX_STR, res_security_policy_fragment, fragment),
    JXF("MediaType", JX_STR, res_security_policy_fragment, media_type),
    JX_TABLE_END,
};

static const struct {
    const char *name;
    const jx_field *table;
} resources[] = {
    [RES_UNKNOWN] = {NULL, NULL},
    [RES_MAPPED_VIRTUAL_DISK] = {"MappedVirtualDisk", t_mvd},
    [RES_SCSI_DEVICE] = {"SCSIDevice", t_scsi},
    [RES_MAPPED_DIRECTORY] = {"MappedDirectory", t_mdir},
    [RES_VPMEM_DEVICE] = {"VPMemDevice", t_vpmem},
    [RES_COMBINED_LAYERS] = {"CombinedLayers", t_layers},
    [RES_NETWORK] = {"Network", t_net},
    [RES_VPCI_DEVICE] = {"VPCIDevice", t_vpci},
    [RES_CONTAINER_CONSTRAINTS] = {"ContainerConstraints", t_constraints},
    [RES_SECURITY_POLICY] = {"SecurityPolicy", t_policy},
    [RES_SECURITY_POLICY_FRAGMENT] = {"SecurityPolicyFragment", t_fragment},
    [RES_POD_CGROUP_MEMORY_LIMIT] = {"PodCgroupMemoryLimit", NULL},
};

enum msg_resource msg_resource_parse(const char *s)
{
    if (!s)
        return RES_UNKNOWN;
    for (size_t i = 1; i < ARRAY_SIZE(resources); i++)
        if (strcmp(resources[i].name, s) == 0)
            return (enum msg_resource)i;
    return RES_UNKNOWN;
}

const char *msg_resource_name(enum msg_resource r)
{
    return (size_t)r < ARRAY_SIZE(resources) && resources[r].name ? resources[r].name : "Unknown";
}

enum msg_request_type msg_request_type_parse(const char *s)
{
    if (!s || !*s || strcmp(s, "Add") == 0)
        return REQ_ADD;
    if (strcmp(s, "Remove") == 0)
        return REQ_REMOVE;
    if (strcmp(s, "Update") == 0)
        return REQ_UPDATE;
    if (strcmp(s, "PreAdd") == 0)
        return REQ_PREADD;
    return REQ_OTHER;
}

int msg_decode_resource(enum msg_resource r, const json_t *settings, msg_resource_settings *out, jx_arena *arena,
                        gcs_err *err)
{
    memset(out, 0, sizeof(*out));
    if ((size_t)r >= ARRAY_SIZE(resources) || r == RES_UNKNOWN)
        return err_set(err, HR_E_FAIL, "invalid ResourceType");
    if (!resources[r].table || !settings)
        return 0;
    int ret = jx_decode(settings, resources[r].table, out, arena, "Settings", err);
    if (ret == 0 && r == RES_VPMEM_DEVICE) {
        /* a Go pointer: absent and null are nil, {} is a zero mapping */
        out->vpmem.has_mapping_info = json_is_object(json_object_get(settings, "MappingInfo"));
        out->vpmem.has_verity_info = json_is_object(json_object_get(settings, "VerityInfo"));
    }
    return ret;
}

bool msg_is_guid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}
