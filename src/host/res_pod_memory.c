/* res_pod_memory.c — ModifySettings PodCgroupMemoryLimit (Update only): the
 * host says the VM's memory changed, and the /pods limit follows it
 * (docs/pod-model.md, cgroups). The same refresh also runs on a timer. This
 * file owns the limiter's timer: started with the agent, cancelled by its
 * release at exit. */
#include "host/resources.h"

#include "common/log.h"

#define POD_LIMIT_REFRESH_MS 60000

static void refresh(loop *l, void *data)
{
    host *h = data;
    h->limit_timer = loop_timer_add(l, POD_LIMIT_REFRESH_MS, refresh, h);
    cleanup_err gcs_err err = GCS_ERR_INIT;
    int64_t limit;
    bool updated;
    if (cgroup_pods_limiter_refresh(&h->limiter, &limit, &updated, &err) < 0)
        log_warn("cannot refresh the /pods memory limit", KV_S("error", err_msg(&err)));
    else if (updated)
        log_info("/pods memory limit updated", KV_I("limit", limit));
}

void res_pod_memory_start(host *h, int64_t applied_limit)
{
    h->limiter.pods = h->pods_cg;
    h->limiter.reserve = h->cfg->root_mem_reserve_bytes;
    h->limiter.last_applied = applied_limit;
    h->limit_timer = loop_timer_add(h->l, POD_LIMIT_REFRESH_MS, refresh, h);
}

static int pod_memory_apply(res_call *call, gcs_err *err)
{
    int64_t limit;
    bool updated;
    int r = cgroup_pods_limiter_refresh(&call->h->limiter, &limit, &updated, err);
    if (r < 0)
        return r;
    log_info("/pods memory limit refreshed by the host", KV_I("limit", limit), KV_B("updated", updated));
    return 0;
}

static void pod_memory_release(host *h)
{
    if (!h->limit_timer)
        return;
    loop_timer_cancel(h->l, h->limit_timer);
    h->limit_timer = NULL;
}

const resource_def res_pod_memory_limit_def = {
    .type = RES_POD_CGROUP_MEMORY_LIMIT,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_UPDATE),
    .apply = pod_memory_apply,
    .release = pod_memory_release,
};
