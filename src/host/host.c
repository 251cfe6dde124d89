#include "host/host_internal.h"
#include "host/resources.h"

#include "common/log.h"
#include "pod/paths.h"

#include <errno.h>
#include <signal.h>
#include <sys/utsname.h>

host *host_new(loop *l, const gcs_config *cfg, const transport *t)
{
    host *h = xzalloc(sizeof(*h));
    h->l = l;
    h->cfg = cfg;
    h->t = t;
    h->started_ns = now_ns();
    h->containers = strmap_new(NULL);
    h->pods = strmap_new(NULL);
    h->roots = sandbox_roots_new();
    h->netns = nsreg_new();
    h->mounts = uvmstate_new();
    h->uvm_procs = strmap_new(NULL);
    struct utsname u;
    h->uvm_hostname = xstrdup(uname(&u) == 0 ? u.nodename : "localhost");
    return h;
}

int host_start(host *h, gcs_err *err)
{
    enum cgroup_version v;
    int r = cgroup_detect(h->cfg->cgroup_root, &v, err);
    if (r < 0)
        return err_wrap(err, r, "detect cgroup version under %s", h->cfg->cgroup_root);
    h->cgm = cgroup_mgr_new(h->cfg->cgroup_root, v);
    log_info("cgroups detected", KV_S("version", cgroup_version_name(v)), KV_S("root", h->cfg->cgroup_root));
    int64_t limit = 0;
    /* docs/pod-model.md §4.2 */
    r = cgroup_setup_agent(h->cgm, h->cfg->root_mem_reserve_bytes, getpid(), &h->pods_cg, &h->gcs_cg, &limit, err);
    if (r < 0)
        return err_wrap(err, r, "set up the agent's cgroups");
    res_pod_memory_start(h, limit);
    memevents_start(h);
    char tmpl[] = "/run/gcs-agent.XXXXXX";
    if (!mkdtemp(tmpl))
        return err_errno(err, HR_E_FAIL, errno, "create the agent's state directory under /run");
    h->statedir = xstrdup(tmpl);
    h->rt = runtime_new(h->l, h->cfg->runtime, h->cfg->runtime_root);
    runtime_set_no_pivot(h->rt, h->cfg->runtime_no_pivot);
    runtime_set_timeout_ms(h->rt, h->cfg->runtime_timeout * 1000);
    log_info("agent cgroups ready", KV_S("pods", CGROUP_PODS_PATH), KV_I("pods_memory_limit", limit),
             KV_S("runtime", h->cfg->runtime), KV_S("runtime_root", h->cfg->runtime_root));
    return 0;
}

static void shutdown_one_done(host *h, const gcs_err *err, void *data)
{
    (void)h;
    char *id = data;
    if (err)
        log_warn("container teardown at exit failed", KV_S("container", id), KV_S("error", err_msg(err)));
    free(id);
}

void host_shutdown(host *h)
{
    if (!h->cgm)
        return;
    if (strmap_count(h->containers))
        log_info("removing containers before exit", KV_U("count", strmap_count(h->containers)));
    uint64_t deadline = now_ms() + 20000;
    while (strmap_count(h->containers) > 0 && now_ms() < deadline) {
        /* collect first: a teardown may finish synchronously and edit the map;
         * containers still being created are picked up once their create ends */
        size_t n = strmap_count(h->containers), i = 0;
        char **ids = xzalloc((n + 1) * sizeof(char *));
        strmap_iter it = STRMAP_ITER_INIT;
        const char *k;
        void *v;
        while (strmap_next(h->containers, &it, &k, &v))
            ids[i++] = xstrdup(k);
        for (i = 0; i < n; i++) {
            container *c = strmap_get(h->containers, ids[i]);
            if (c && c->state != CTR_DELETING && c->state != CTR_CREATING)
                container_teardown(c, true, shutdown_one_done, xstrdup(ids[i]));
            free(ids[i]);
        }
        free(ids);
        if (strmap_count(h->containers) > 0)
            loop_run_once(h->l, 100);
    }
    strmap_iter it = STRMAP_ITER_INIT;
    const char *k;
    void *v;
    /* pods whose sandbox never got deleted */
    while (strmap_next(h->pods, &it, &k, &v)) {
        gcs_err e = GCS_ERR_INIT;
        pod_teardown(h, v, &e);
        err_clear(&e);
    }
    /* what the resources hold outside the ledger, then every mount the
     * ledger still holds, newest first */
    resources_release(h);
    if (uvmstate_count(h->mounts) > 0) {
        cleanup_err gcs_err e = GCS_ERR_INIT;
        log_info("unmounting what the host left mounted", KV_U("count", uvmstate_count(h->mounts)));
        if (uvmstate_unwind(h->mounts, NULL, NULL, &e) < 0)
            log_warn("cannot unmount at exit", KV_S("error", err_msg(&e)));
    }
    memevents_stop(h);
    it = (strmap_iter)STRMAP_ITER_INIT;
    while (strmap_next(h->uvm_procs, &it, &k, &v)) {
        process *p = v;
        if (!p->exited && p->watched)
            kill(p->pid, SIGKILL); /* by pid: ours, still unreaped */
        strmap_take(h->uvm_procs, k);
        process_free(p);
    }
    if (h->statedir && rmdir(h->statedir) < 0)
        log_warn("cannot remove the agent's state directory", KV_S("path", h->statedir),
                 KV_S("error", strerror(errno)));
    gcs_err err = GCS_ERR_INIT;
    if (cgroup_teardown_agent(h->cgm, getpid(), h->pods_cg, h->gcs_cg, &err) < 0)
        log_warn("cannot remove the agent's cgroups", KV_S("error", err_msg(&err)));
    err_clear(&err);
    h->pods_cg = h->gcs_cg = NULL;
}

void host_free(host *h)
{
    if (!h)
        return;
    strmap_iter it = STRMAP_ITER_INIT;
    const char *k;
    void *v;
    while (strmap_next(h->containers, &it, &k, &v))
        container_free(v);
    it = (strmap_iter)STRMAP_ITER_INIT;
    while (strmap_next(h->pods, &it, &k, &v))
        pod_free(v);
    it = (strmap_iter)STRMAP_ITER_INIT;
    while (strmap_next(h->uvm_procs, &it, &k, &v))
        process_free(v);
    strmap_free(h->uvm_procs);
    uvmstate_free(h->mounts);
    free(h->statedir);
    strmap_free(h->containers);
    strmap_free(h->pods);
    sandbox_roots_free(h->roots);
    nsreg_free(h->netns);
    runtime_free(h->rt);
    if (h->limit_timer)
        loop_timer_cancel(h->l, h->limit_timer);
    memevents_stop(h);
    cgroup_free(h->pods_cg);
    cgroup_free(h->gcs_cg);
    cgroup_mgr_free(h->cgm);
    free(h->uvm_hostname);
    free(h);
}

/* ---- DumpStacks: docs/protocol.md §4.10, free text within 64 KiB ---- */

typedef struct {
    char *s;
    size_t len, cap;
} text;

static void tput(text *t, const char *fmt, ...) PRINTF(2, 3);
static void tput(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *line = xvasprintf(fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    if (t->len + n + 1 > 60000)
        return;
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = xrealloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, line, n + 1);
    t->len += n;
}

static const char *ctr_state_name(enum ctr_state s)
{
    static const char *const n[] = {"creating", "created", "running", "terminated", "deleting"};
    return n[s];
}

static void handle_dump_stacks(bridge_req *req, void *ctx)
{
    host *h = ctx;
    text t = {0};
    tput(&t, "gcs (single-threaded event loop)\nuptime_s: %.1f\n", (double)(now_ns() - h->started_ns) / 1e9);
    tput(&t, "bridge: connected=%s pending_requests=%zu queued_notifications=%zu\n",
         bridge_connected(h->b) ? "true" : "false", bridge_pending_count(h->b), bridge_queued_notifications(h->b));
    tput(&t, "children_watched: %zu\n", loop_child_count(h->l));
    if (h->rt) {
        uint64_t cnt, ns;
        runtime_stats(h->rt, &cnt, &ns);
        tput(&t, "runtime: %s invocations=%llu in_flight=%zu total_ms=%.1f\n", h->cfg->runtime,
             (unsigned long long)cnt, runtime_inflight(h->rt), (double)ns / 1e6);
    }
    tput(&t, "pods: %zu\n", strmap_count(h->pods));
    strmap_iter it = STRMAP_ITER_INIT;
    const char *k;
    void *v;
    while (strmap_next(h->pods, &it, &k, &v)) {
        pod *p = v;
        tput(&t, "  pod %s cgroup=" CGROUP_PODS_PATH "/%s root=%s members=%zu%s\n", k, k, p->root ? p->root : "",
             strmap_count(p->members), p->sandbox_gone ? " sandbox=deleted" : "");
    }
    tput(&t, "sandbox_roots: %zu\n", sandbox_roots_count(h->roots));
    tput(&t, "containers: %zu\n", strmap_count(h->containers));
    it = (strmap_iter)STRMAP_ITER_INIT;
    while (strmap_next(h->containers, &it, &k, &v)) {
        container *c = v;
        tput(&t, "  container %s kind=%s state=%s pod=%s pid=%d bundle=%s root=%s execs=%zu\n", k,
             pod_kind_name(c->cls.kind), ctr_state_name(c->state), c->cls.sandbox_id ? c->cls.sandbox_id : "",
             (int)c->init_pid, c->bundle, c->root ? c->root : "", c->execs ? strmap_count(c->execs) : 0);
    }
    tput(&t, "uvm processes: %zu\n", strmap_count(h->uvm_procs));
    cleanup_free char *pending = bridge_describe_pending(h->b, 100);
    tput(&t, "pending requests:\n%s", pending);
    json_t *o = json_object();
    json_object_set_new(o, "GuestStacks", json_string(t.s ? t.s : ""));
    free(t.s);
    bridge_respond(req, o);
}

/* docs/protocol.md §4.2: Start is a no-op that always succeeds; the
 * container's process starts with the init ExecuteProcess. */
static void handle_start(bridge_req *req, void *ctx)
{
    (void)ctx;
    bridge_respond(req, NULL);
}

/* Handlers that need the machine set up answer E_FAIL until host_start
 * succeeded (the fuzz harness runs the bridge without it). */
static void guarded(bridge_req *req, void *ctx)
{
    struct host_guard *g = ctx;
    if (!g->h->rt) {
        bridge_respond_hr(req, HR_E_FAIL, "the agent is not started");
        return;
    }
    g->fn(req, g->h);
}

static void register_guarded(host *h, bridge *b, unsigned rpc, bridge_handler_fn fn)
{
    h->guards[rpc].h = h;
    h->guards[rpc].fn = fn;
    bridge_register(b, rpc, guarded, &h->guards[rpc]);
}

void host_register_handlers(host *h, bridge *b)
{
    h->b = b;
    bridge_register(b, RPC_START, handle_start, h);
    bridge_register(b, RPC_DUMP_STACKS, handle_dump_stacks, h);
    register_guarded(h, b, RPC_CREATE, host_handle_create);
    register_guarded(h, b, RPC_DELETE_CONTAINER_STATE, host_handle_delete);
    register_guarded(h, b, RPC_MODIFY_SETTINGS, host_handle_modify);
    register_guarded(h, b, RPC_EXECUTE_PROCESS, host_handle_execute);
    register_guarded(h, b, RPC_WAIT_FOR_PROCESS, host_handle_wait);
    register_guarded(h, b, RPC_SIGNAL_PROCESS, host_handle_signal);
    register_guarded(h, b, RPC_SHUTDOWN_GRACEFUL, host_handle_shutdown);
    register_guarded(h, b, RPC_SHUTDOWN_FORCED, host_handle_shutdown);
    register_guarded(h, b, RPC_RESIZE_CONSOLE, host_handle_resize);
    register_guarded(h, b, RPC_GET_PROPERTIES, host_handle_get_properties);
}
