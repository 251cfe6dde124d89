/* resources.c — the ModifySettings table and its dispatcher (resources.h).
 * Upstream's counterparts are the switches of modifyHostSettings and
 * modifyContainerSettings in internal/guest/runtime/hcsv2/uvm.go. */
#include "host/resources.h"

#include "common/log.h"
#include "policy/policy.h"

/* Every resource type the host may send. A row with apply == NULL is known
 * but not implemented yet: it answers E_NOTIMPL once target and request
 * type have been checked. Request types as upstream accepts them. */
static const resource_def unimplemented[] = {
    {RES_SECURITY_POLICY, RES_ON_VM, REQ_ANY, NULL, NULL},
    {RES_SECURITY_POLICY_FRAGMENT, RES_ON_VM, REQ_ANY, NULL, NULL},
};

static const resource_def *const table[] = {
    &res_combined_layers_def,
    &res_container_constraints_def,
    &res_pod_memory_limit_def,
    &res_network_def,
    &res_mapped_virtual_disk_def,
    &res_scsi_device_def,
    &res_vpci_device_def,
    &res_vpmem_device_def,
    &res_mapped_directory_def,
};

static const resource_def *find_row(enum msg_resource type)
{
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (table[i]->type == type)
            return table[i];
    for (size_t i = 0; i < ARRAY_SIZE(unimplemented); i++)
        if (unimplemented[i].type == type)
            return &unimplemented[i];
    return NULL;
}

void resources_release(host *h)
{
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (table[i]->release)
            table[i]->release(h);
}

static void answer(bridge_req *req, const gcs_err *err)
{
    if (err && err_isset(err))
        bridge_respond_error(req, err);
    else
        bridge_respond(req, NULL);
}

void res_call_done(res_call *call, const gcs_err *err)
{
    answer(call->req, err);
    free(call);
}

void host_handle_modify(bridge_req *req, void *ctx)
{
    host *h = ctx;
    msg_modify *m = req->msg;
    const char *type_name = m->request.resource_type ? m->request.resource_type : "";
    const char *request_name = str_empty(m->request.request_type) ? "Add" : m->request.request_type;
    enum msg_resource type = msg_resource_parse(type_name);
    enum msg_request_type request = msg_request_type_parse(m->request.request_type);
    msg_resource_settings s;
    cleanup_err gcs_err err = GCS_ERR_INIT;

    /* the settings first: a body that does not decode is 0xC037010D for
     * every known type (an unknown type keeps the decoder's own error) */
    if (msg_decode_resource(type, m->request.settings, &s, &req->arena, &err) < 0) {
        if (type != RES_UNKNOWN)
            err.hr = HR_VMCOMPUTE_INVALID_JSON;
        answer(req, &err);
        return;
    }
    const resource_def *row = find_row(type);
    container *c = NULL;
    bool on_vm = streq(req->container_id, NULL_CONTAINER_ID);
    if (!on_vm && !(c = host_lookup(h, req->container_id, &err))) {
        answer(req, &err);
        return;
    }
    if (!row || !(row->targets & (on_vm ? RES_ON_VM : RES_ON_CONTAINER))) {
        bridge_respond_hr(req, HR_E_FAIL, "the ResourceType \"%s\" is not supported for %s", type_name,
                          on_vm ? "UVM" : "containers");
        return;
    }
    if (!(row->requests & REQ_BIT(request))) {
        bridge_respond_hr(req, HR_E_FAIL, "the RequestType \"%s\" is not supported for %s", request_name,
                          type_name);
        return;
    }
    policy_modify q = {type, request, c ? c->id : NULL, &s};
    if (policy_check_modify(&q, &err) < 0) {
        answer(req, &err);
        return;
    }
    if (!row->apply) {
        bridge_respond_hr(req, HR_E_NOTIMPL, "ModifySettings resource type %s is not supported yet (request %s)",
                          type_name, request_name);
        return;
    }
    res_call *call = xzalloc(sizeof(*call));
    *call = (res_call){h, c, type, request, type_name, request_name, s, req};
    int r = row->apply(call, &err);
    if (r == RES_PENDING)
        return;
    log_debug("ModifySettings applied", KV_S("resource", type_name), KV_S("request", request_name),
              KV_S("container", c ? c->id : ""), KV_S("error", r < 0 ? err_msg(&err) : ""));
    res_call_done(call, r < 0 ? &err : NULL);
}
