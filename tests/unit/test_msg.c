/* Typed request decoders: valid input, missing keys, wrong types,
 * JSON-inside-a-string, Go decoder quirks (case-insensitive keys, null). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/msg.h"

typedef struct {
    json_t *doc;
    jx_arena arena;
    gcs_err err;
    void *msg;
} dec;

static int decode(dec *d, unsigned rpc, const char *json)
{
    memset(d, 0, sizeof(*d));
    assert_int_equal(jx_parse_object(json, strlen(json), &d->doc, &d->err), 0);
    d->msg = xzalloc(msg_struct_size(rpc));
    return msg_decode(rpc, d->doc, d->msg, &d->arena, &d->err);
}

static void dec_free(dec *d)
{
    jx_arena_free(&d->arena);
    json_decref(d->doc);
    free(d->msg);
    err_clear(&d->err);
}

static void expect_invalid(unsigned rpc, const char *json, const char *needle)
{
    dec d;
    assert_true(decode(&d, rpc, json) < 0);
    assert_int_equal(d.err.hr, HR_VMCOMPUTE_INVALID_JSON);
    if (needle && !strstr(err_msg(&d.err), needle))
        fail_msg("error \"%s\" lacks \"%s\"", err_msg(&d.err), needle);
    dec_free(&d);
}

static void test_negotiate(void **state)
{
    (void)state;
    dec d;
    assert_int_equal(decode(&d, RPC_NEGOTIATE_PROTOCOL,
                            "{\"ContainerId\":\"\",\"ActivityId\":\"00000000-0000-0000-0000-000000000000\","
                            "\"MinimumVersion\":4,\"MaximumVersion\":4}\n"),
                     0);
    msg_negotiate *m = d.msg;
    assert_string_equal(m->base.container_id, "");
    assert_string_equal(m->base.activity_id, "00000000-0000-0000-0000-000000000000");
    assert_int_equal(m->minimum_version, 4);
    assert_int_equal(m->maximum_version, 4);
    dec_free(&d);
    /* missing keys leave zero values */
    assert_int_equal(decode(&d, RPC_NEGOTIATE_PROTOCOL, "{}"), 0);
    m = d.msg;
    assert_null(m->base.container_id);
    assert_int_equal(m->maximum_version, 0);
    dec_free(&d);
    /* Go matches keys case-insensitively; exact match wins */
    assert_int_equal(decode(&d, RPC_NEGOTIATE_PROTOCOL, "{\"maximumversion\":7,\"MinimumVersion\":3}"), 0);
    m = d.msg;
    assert_int_equal(m->maximum_version, 7);
    assert_int_equal(m->minimum_version, 3);
    dec_free(&d);
    /* JSON null is "absent" */
    assert_int_equal(decode(&d, RPC_NEGOTIATE_PROTOCOL, "{\"MaximumVersion\":null}"), 0);
    dec_free(&d);
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_invalid(RPC_NEGOTIATE_PROTOCOL, "{\"MaximumVersion\":\"4\"}", "MaximumVersion");
    expect_invalid(RPC_NEGOTIATE_PROTOCOL, "{\"MaximumVersion\":-1}", "out of range");
    expect_invalid(RPC_NEGOTIATE_PROTOCOL, "{\"MaximumVersion\":4294967296}", "out of range");
    expect_invalid(RPC_NEGOTIATE_PROTOCOL, "{\"MaximumVersion\":4.5}", "MaximumVersion");
    expect_invalid(RPC_NEGOTIATE_PROTOCOL, "{\"ContainerId\":5}", "ContainerId");
    expect_invalid(RPC_WAIT_FOR_PROCESS, "{\"ProcessId\":true}", "ProcessId");
    expect_invalid(RPC_RESIZE_CONSOLE, "{\"Height\":65536}", "out of range");
    expect_invalid(RPC_SIGNAL_PROCESS, "{\"Options\":{\"Signal\":2147483648}}", "out of range");
    expect_invalid(RPC_SIGNAL_PROCESS, "{\"Options\":[]}", "Options");
    expect_invalid(RPC_MODIFY_SETTINGS, "{\"Request\":\"x\"}", "Request");
    expect_invalid(RPC_EXECUTE_PROCESS, "{\"Settings\":{\"ProcessParameters\":{}}}", "ProcessParameters");
    /* an integral real is accepted, as Go does */
    dec d;
    assert_int_equal(decode(&d, RPC_WAIT_FOR_PROCESS, "{\"ProcessId\":12.0}"), 0);
    assert_int_equal(((msg_wait *)d.msg)->process_id, 12);
    dec_free(&d);
}

static void test_create(void **state)
{
    (void)state;
    dec d;
    assert_int_equal(
        decode(&d, RPC_CREATE,
               "{\"ContainerId\":\"abc\",\"ActivityId\":\"00000000-0000-0000-0000-000000000000\","
               "\"ContainerConfig\":\"{\\\"SchemaVersion\\\":{\\\"Major\\\":2,\\\"Minor\\\":1},"
               "\\\"OciBundlePath\\\":\\\"/run/gcs/c/abc\\\",\\\"OciSpecification\\\":{\\\"process\\\":{}},"
               "\\\"ScratchDirPath\\\":\\\"/run/gcs/c/abc/scratch/abc\\\"}\"}"),
        0);
    msg_create *m = d.msg;
    assert_true(m->has_config);
    assert_int_equal(m->config.schema_version.major, 2);
    assert_int_equal(m->config.schema_version.minor, 1);
    assert_string_equal(m->config.oci_bundle_path, "/run/gcs/c/abc");
    assert_string_equal(m->config.scratch_dir_path, "/run/gcs/c/abc/scratch/abc");
    assert_true(json_is_object(m->config.oci_specification));
    assert_non_null(json_object_get(m->config.oci_specification, "process"));
    dec_free(&d);
    /* the nested document must itself be valid JSON */
    expect_invalid(RPC_CREATE, "{\"ContainerConfig\":\"{not json\"}", "ContainerConfig");
    expect_invalid(RPC_CREATE, "{\"ContainerConfig\":\"[1,2]\"}", "ContainerConfig");
    expect_invalid(RPC_CREATE, "{\"ContainerConfig\":{\"SchemaVersion\":{}}}", "ContainerConfig");
    expect_invalid(RPC_CREATE, "{\"ContainerConfig\":\"{\\\"OciSpecification\\\":[]}\"}", "OciSpecification");
    /* an empty string means "no document" */
    assert_int_equal(decode(&d, RPC_CREATE, "{\"ContainerConfig\":\"\"}"), 0);
    assert_false(((msg_create *)d.msg)->has_config);
    dec_free(&d);
}

static void test_exec(void **state)
{
    (void)state;
    dec d;
    assert_int_equal(
        decode(&d, RPC_EXECUTE_PROCESS,
               "{\"ContainerId\":\"c\",\"Settings\":{\"ProcessParameters\":\"{\\\"CommandArgs\\\":[\\\"ls\\\","
               "\\\"-l\\\"],\\\"Environment\\\":{\\\"A\\\":\\\"1\\\"},\\\"CreateStdOutPipe\\\":true,"
               "\\\"EmulateConsole\\\":true,\\\"CreateInUtilityVM\\\":true,\\\"WorkingDirectory\\\":\\\"/\\\"}\","
               "\"VsockStdioRelaySettings\":{\"StdOut\":1073741825}}}"),
        0);
    msg_exec *m = d.msg;
    msg_process_params *p = &m->settings.process_parameters;
    assert_int_equal(p->command_args.n, 2);
    assert_string_equal(p->command_args.v[1], "-l");
    assert_string_equal(json_string_value(json_object_get(p->environment, "A")), "1");
    assert_true(p->create_stdout_pipe);
    assert_false(p->create_stdin_pipe);
    assert_true(p->emulate_console);
    assert_true(p->create_in_utility_vm);
    assert_string_equal(p->working_directory, "/");
    assert_int_equal(m->settings.vsock_stdio_relay_settings.std_out, 1073741825);
    assert_int_equal(m->settings.vsock_stdio_relay_settings.std_in, 0);
    dec_free(&d);
    expect_invalid(RPC_EXECUTE_PROCESS, "{\"Settings\":{\"ProcessParameters\":\"{\\\"CommandArgs\\\":[1]}\"}}",
                   "CommandArgs");
    expect_invalid(RPC_EXECUTE_PROCESS,
                   "{\"Settings\":{\"ProcessParameters\":\"{\\\"Environment\\\":{\\\"A\\\":1}}\"}}", "Environment");
    expect_invalid(RPC_EXECUTE_PROCESS, "{\"Settings\":{\"ProcessParameters\":\"{\\\"OciProcess\\\":3}\"}}",
                   "OciProcess");
    expect_invalid(RPC_EXECUTE_PROCESS, "{\"Settings\":{\"VsockStdioRelaySettings\":{\"StdIn\":-5}}}", "StdIn");
}

static void test_wait_signal_resize(void **state)
{
    (void)state;
    dec d;
    assert_int_equal(decode(&d, RPC_WAIT_FOR_PROCESS, "{\"ContainerId\":\"c\",\"ProcessId\":412,"
                                                      "\"TimeoutInMs\":4294967295}"),
                     0);
    assert_int_equal(((msg_wait *)d.msg)->process_id, 412);
    assert_int_equal(((msg_wait *)d.msg)->timeout_in_ms, 0xffffffffu);
    dec_free(&d);
    assert_int_equal(decode(&d, RPC_SIGNAL_PROCESS, "{\"ProcessId\":7,\"Options\":{\"Signal\":15}}"), 0);
    assert_int_equal(((msg_signal *)d.msg)->options.signal, 15);
    dec_free(&d);
    assert_int_equal(decode(&d, RPC_SIGNAL_PROCESS, "{\"ProcessId\":7}"), 0);
    assert_int_equal(((msg_signal *)d.msg)->options.signal, 0);
    dec_free(&d);
    assert_int_equal(decode(&d, RPC_RESIZE_CONSOLE, "{\"ProcessId\":7,\"Height\":24,\"Width\":80}"), 0);
    assert_int_equal(((msg_resize *)d.msg)->height, 24);
    assert_int_equal(((msg_resize *)d.msg)->width, 80);
    dec_free(&d);
}

static void test_get_properties(void **state)
{
    (void)state;
    dec d;
    assert_int_equal(decode(&d, RPC_GET_PROPERTIES,
                            "{\"Query\":\"{\\\"PropertyTypes\\\":[\\\"ProcessList\\\",\\\"Statistics\\\"]}\"}"),
                     0);
    msg_get_properties *m = d.msg;
    assert_int_equal(m->query.property_types.n, 2);
    assert_string_equal(m->query.property_types.v[0], "ProcessList");
    dec_free(&d);
    assert_int_equal(decode(&d, RPC_GET_PROPERTIES, "{\"Query\":\"\"}"), 0);
    assert_int_equal(((msg_get_properties *)d.msg)->query.property_types.n, 0);
    dec_free(&d);
    expect_invalid(RPC_GET_PROPERTIES, "{\"Query\":\"{\\\"PropertyTypes\\\":\\\"x\\\"}\"}", "PropertyTypes");
    expect_invalid(RPC_GET_PROPERTIES, "{\"Query\":\"nope\"}", "Query");
}

static void test_modify_and_resources(void **state)
{
    (void)state;
    dec d;
    assert_int_equal(decode(&d, RPC_MODIFY_SETTINGS,
                            "{\"ContainerId\":\"00000000-0000-0000-0000-000000000000\",\"Request\":{\"ResourceType\":"
                            "\"CombinedLayers\",\"Settings\":{\"ContainerID\":\"c\",\"ContainerRootPath\":\"/r\","
                            "\"Layers\":[{\"Path\":\"/l1\"},{\"Path\":\"/l2\",\"Cache\":true}],\"ScratchPath\":\"/s\"}}}"),
                     0);
    msg_modify *m = d.msg;
    assert_null(m->request.request_type);
    assert_int_equal(msg_request_type_parse(m->request.request_type), REQ_ADD);
    enum msg_resource r = msg_resource_parse(m->request.resource_type);
    assert_int_equal(r, RES_COMBINED_LAYERS);
    msg_resource_settings s;
    gcs_err e = GCS_ERR_INIT;
    assert_int_equal(msg_decode_resource(r, m->request.settings, &s, &d.arena, &e), 0);
    assert_int_equal(s.layers.layers.n, 2);
    assert_string_equal(((res_layer *)s.layers.layers.v)[1].path, "/l2");
    assert_true(((res_layer *)s.layers.layers.v)[1].cache);
    assert_string_equal(s.layers.scratch_path, "/s");
    dec_free(&d);

    /* every resource decodes its exact key spellings */
    static const struct {
        enum msg_resource r;
        const char *json;
    } ok[] = {
        {RES_MAPPED_VIRTUAL_DISK, "{\"MountPath\":\"/m\",\"Lun\":1,\"Controller\":3,\"Partition\":2,"
                                  "\"ReadOnly\":true,\"Options\":[\"a\"],\"EnsureFilesystem\":true,\"Filesystem\":\"ext4\"}"},
        {RES_SCSI_DEVICE, "{\"Controller\":1,\"Lun\":2}"},
        {RES_MAPPED_DIRECTORY, "{\"MountPath\":\"/m\",\"Port\":564,\"ShareName\":\"1\",\"ReadOnly\":true}"},
        {RES_VPMEM_DEVICE, "{\"DeviceNumber\":1,\"MountPath\":\"/m\",\"MappingInfo\":{\"DeviceOffsetInBytes\":4096,"
                           "\"DeviceSizeInBytes\":8192}}"},
        {RES_NETWORK, "{\"NamespaceID\":\"n\",\"ID\":\"i\",\"DNSSuffix\":\"a,b\",\"DNSServerList\":\"1.1.1.1\","
                      "\"IPConfigs\":[{\"IPAddress\":\"10.0.0.2\",\"PrefixLength\":24}],"
                      "\"Routes\":[{\"NextHop\":\"10.0.0.1\",\"DestinationPrefix\":\"0.0.0.0/0\",\"Metric\":5}]}"},
        {RES_VPCI_DEVICE, "{\"VMBusGUID\":\"g\"}"},
        {RES_CONTAINER_CONSTRAINTS, "{\"Windows\":{},\"Linux\":{\"memory\":{\"limit\":1}}}"},
        {RES_SECURITY_POLICY, "{\"EnforcerType\":\"rego\",\"EncodedSecurityPolicy\":\"e30=\"}"},
        {RES_SECURITY_POLICY_FRAGMENT, "{\"Fragment\":\"x\"}"},
        {RES_POD_CGROUP_MEMORY_LIMIT, "{}"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        json_t *doc;
        jx_arena a = {0};
        assert_int_equal(jx_parse_object(ok[i].json, strlen(ok[i].json), &doc, &e), 0);
        if (msg_decode_resource(ok[i].r, doc, &s, &a, &e) < 0)
            fail_msg("%s: %s", msg_resource_name(ok[i].r), err_msg(&e));
        switch (ok[i].r) {
        case RES_MAPPED_VIRTUAL_DISK:
            assert_int_equal(s.mvd.controller, 3);
            assert_int_equal(s.mvd.partition, 2);
            assert_string_equal(s.mvd.options.v[0], "a");
            break;
        case RES_NETWORK:
            assert_string_equal(s.net.namespace_id, "n");
            assert_int_equal(((res_ip_config *)s.net.ip_configs.v)[0].prefix_length, 24);
            assert_int_equal(((res_route *)s.net.routes.v)[0].metric, 5);
            break;
        case RES_VPMEM_DEVICE:
            assert_int_equal(s.vpmem.mapping_info.device_size_in_bytes, 8192);
            assert_true(s.vpmem.has_mapping_info);
            assert_false(s.vpmem.has_verity_info);
            break;
        case RES_CONTAINER_CONSTRAINTS: assert_non_null(s.constraints.linux_resources); break;
        default: break;
        }
        jx_arena_free(&a);
        json_decref(doc);
    }
    /* wrong types in settings */
    json_t *doc;
    jx_arena a = {0};
    /* VPMemDevice: MappingInfo and VerityInfo are Go pointers: null and
     * absent are "not given", {} is given (offset 0, size 0) */
    const char *vp = "{\"MappingInfo\":null,\"VerityInfo\":{\"RootDigest\":\"ab\",\"Ext4SizeInBytes\":4096,"
                     "\"Version\":1,\"Algorithm\":\"sha256\",\"SuperBlock\":true,\"Salt\":\"00\",\"BlockSize\":4096}}";
    assert_int_equal(jx_parse_object(vp, strlen(vp), &doc, &e), 0);
    assert_int_equal(msg_decode_resource(RES_VPMEM_DEVICE, doc, &s, &a, &e), 0);
    assert_false(s.vpmem.has_mapping_info);
    assert_true(s.vpmem.has_verity_info);
    assert_string_equal(s.vpmem.verity_info.root_digest, "ab");
    assert_int_equal(s.vpmem.verity_info.ext4_size_in_bytes, 4096);
    assert_int_equal(s.vpmem.verity_info.block_size, 4096);
    assert_true(s.vpmem.verity_info.super_block);
    json_decref(doc);
    jx_arena_free(&a);
    assert_int_equal(jx_parse_object("{\"MappingInfo\":{}}", 18, &doc, &e), 0);
    assert_int_equal(msg_decode_resource(RES_VPMEM_DEVICE, doc, &s, &a, &e), 0);
    assert_true(s.vpmem.has_mapping_info);
    json_decref(doc);
    jx_arena_free(&a);
    assert_int_equal(jx_parse_object("{\"Lun\":256}", 11, &doc, &e), 0);
    assert_true(msg_decode_resource(RES_MAPPED_VIRTUAL_DISK, doc, &s, &a, &e) < 0);
    assert_int_equal(e.hr, HR_VMCOMPUTE_INVALID_JSON);
    json_decref(doc);
    jx_arena_free(&a);
    assert_true(msg_decode_resource(RES_UNKNOWN, NULL, &s, &a, &e) < 0);
    assert_int_equal(e.hr, HR_E_FAIL);
    err_clear(&e);
    assert_int_equal(msg_resource_parse("HvSocket"), RES_UNKNOWN);
    assert_int_equal(msg_request_type_parse(""), REQ_ADD);
    assert_int_equal(msg_request_type_parse("Remove"), REQ_REMOVE);
    assert_int_equal(msg_request_type_parse("Update"), REQ_UPDATE);
    assert_int_equal(msg_request_type_parse("PreAdd"), REQ_PREADD);
    assert_int_equal(msg_request_type_parse("remove"), REQ_OTHER);
}

static void test_parse_object(void **state)
{
    (void)state;
    json_t *doc;
    gcs_err e = GCS_ERR_INIT;
    assert_int_equal(jx_parse_object("{} \n\t", 5, &doc, &e), 0); /* trailing whitespace */
    json_decref(doc);
    assert_true(jx_parse_object("{} x", 4, &doc, &e) < 0);
    assert_true(jx_parse_object("[]", 2, &doc, &e) < 0);
    assert_true(jx_parse_object("", 0, &doc, &e) < 0);
    assert_true(jx_parse_object("{\"a\":\"\\u0000\"}", 14, &doc, &e) < 0); /* NUL in a string */
    assert_int_equal(e.hr, HR_VMCOMPUTE_INVALID_JSON);
    err_clear(&e);
}

static void test_guid(void **state)
{
    (void)state;
    assert_true(msg_is_guid("00000000-0000-0000-0000-000000000000"));
    assert_true(msg_is_guid("8F0D2C4A-1b3e-4f5a-9c7d-2e6b8a0f1c3d"));
    assert_false(msg_is_guid(""));
    assert_false(msg_is_guid(NULL));
    assert_false(msg_is_guid("00000000-0000-0000-0000-00000000000"));
    assert_false(msg_is_guid("00000000x0000-0000-0000-000000000000"));
    assert_false(msg_is_guid("g0000000-0000-0000-0000-000000000000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate),     cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_create),        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_wait_signal_resize), cmocka_unit_test(test_get_properties),
        cmocka_unit_test(test_modify_and_resources), cmocka_unit_test(test_parse_object),
        cmocka_unit_test(test_guid),
    };
    return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}
