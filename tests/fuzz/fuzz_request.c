/* libFuzzer: every request decoder. The first byte picks the rpc (and, for
 * ModifySettings, the resource type); the rest is the JSON payload. */
#include "bridge/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned rpc = 1 + data[0] % (RPC_MAX - 1);
    enum msg_resource res = (enum msg_resource)(1 + (data[0] >> 4) % RES_POD_CGROUP_MEMORY_LIMIT);
    gcs_err err = GCS_ERR_INIT;
    json_t *doc = NULL;
    jx_arena arena = {0};
    if (jx_parse_object((const char *)data + 1, size - 1, &doc, &err) == 0) {
        void *m = xzalloc(msg_struct_size(rpc));
        if (msg_decode(rpc, doc, m, &arena, &err) == 0 && rpc == RPC_MODIFY_SETTINGS) {
            msg_modify *mm = m;
            msg_resource_settings s;
            enum msg_resource r = msg_resource_parse(mm->request.resource_type);
            (void)msg_decode_resource(r ? r : res, mm->request.settings, &s, &arena, &err);
        }
        /* the resource decoders also see the whole document as Settings */
        msg_resource_settings s2;
        err_clear(&err);
        (void)msg_decode_resource(res, doc, &s2, &arena, &err);
        free(m);
    }
    jx_arena_free(&arena);
    json_decref(doc);
    err_clear(&err);
    return 0;
}
