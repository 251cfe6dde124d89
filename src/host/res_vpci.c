/* res_vpci.c — ModifySettings VPCIDevice Add: wait until the PCI device
 * behind the VMBus GUID shows up in sysfs (upstream
 * internal/guest/runtime/hcsv2/uvm.go, internal/guest/storage/pci/pci.go).
 * Nothing else happens here: a workload that names the device resolves it
 * later. Upstream waits without a deadline; gcs waits -device-timeout-ms
 * (docs/differences.md D-40). Removal never reaches the guest. */
#include "host/resources.h"

#include "common/log.h"
#include "device/device.h"
#include "host/devwait.h"

#include <errno.h>
#include <stdlib.h>

typedef struct vpci_op {
    res_call *call;
    devwait *wait;
    uint64_t started_ms;
    struct vpci_op *next;
} vpci_op;

static vpci_op *inflight;

static void op_free(vpci_op *op)
{
    for (vpci_op **p = &inflight; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    devwait_cancel(op->wait);
    free(op);
}

static int step(void *data, gcs_err *err)
{
    vpci_op *op = data;
    cleanup_free char *path = NULL;
    int r = device_vpci_find(op->call->h->cfg->sysfs_root, op->call->settings.vpci.vmbus_guid, &path, err);
    if (r == 0)
        log_info("VPCI device present", KV_S("guid", op->call->settings.vpci.vmbus_guid), KV_S("path", path),
                 KV_U("waited_ms", now_ms() - op->started_ms));
    return r;
}

static void done(void *data, int r, gcs_err *err)
{
    vpci_op *op = data;
    res_call *call = op->call;
    op->wait = NULL;
    op_free(op);
    res_call_done(call, r < 0 ? err : NULL);
}

static int vpci_apply(res_call *call, gcs_err *err)
{
    vpci_op *op = xzalloc(sizeof(*op));
    op->call = call;
    op->started_ms = now_ms();
    cleanup_free char *what = xasprintf("VPCI device %s", call->settings.vpci.vmbus_guid
                                                              ? call->settings.vpci.vmbus_guid : "");
    int r = devwait_start(call->h->l, call->h->cfg->device_timeout_ms, what, step, done, op, &op->wait, err);
    if (r == 1) {
        op->next = inflight;
        inflight = op;
        return RES_PENDING;
    }
    free(op);
    return r;
}

static void vpci_release(host *h)
{
    for (vpci_op *op = inflight, *next; op; op = next) {
        next = op->next;
        if (op->call->h != h)
            continue;
        res_call *call = op->call;
        op_free(op);
        cleanup_err gcs_err e = GCS_ERR_INIT;
        err_set(&e, HR_E_FAIL, "VPCI device wait: the agent is exiting");
        res_call_done(call, &e);
    }
}

const resource_def res_vpci_device_def = {
    .type = RES_VPCI_DEVICE,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_ADD),
    .apply = vpci_apply,
    .release = vpci_release,
};
