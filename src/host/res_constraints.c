/* res_constraints.c — ModifySettings ContainerConstraints: the container's
 * OCI LinuxResources through the runtime's `update` (upstream
 * internal/guest/runtime/hcsv2/container.go modifyContainerConstraints).
 * A container target only; the request type is not looked at, as upstream.
 * No state of its own: the runtime holds the container's limits. */
#include "host/resources.h"

static void on_updated(runtime_result *res, void *data)
{
    res_call_done(data, err_isset(&res->err) ? &res->err : NULL);
}

static int constraints_apply(res_call *call, gcs_err *err)
{
    res_container_constraints *s = &call->settings.constraints;
    if (!s->linux_resources)
        return 0; /* nothing to change (the Windows part only) */
    cleanup_free char *json = jx_dump(s->linux_resources, NULL);
    int r = runtime_update(call->h->rt, call->c->id, json, on_updated, call, err);
    return r < 0 ? r : RES_PENDING;
}

const resource_def res_container_constraints_def = {
    .type = RES_CONTAINER_CONSTRAINTS,
    .targets = RES_ON_CONTAINER,
    .requests = REQ_ANY,
    .apply = constraints_apply,
};
