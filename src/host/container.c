/* container.c — CreateContainer and DeleteContainerState for every kind of
 * container (docs/pod-model.md §1.3, §1.4, §3, §5.3, §5.5; docs/protocol.md
 * §4.1, §4.11).
 *
 * Create validates every host-supplied ID and path before it touches the
 * filesystem (docs/differences.md D-2), reserves the pod entry before
 * building anything under a shared root (D-3), runs the runtime's create
 * step as an asynchronous child, and on any failure undoes exactly what it
 * did, including a runtime container it created (D-4, D-5). Delete is
 * complete and can be called twice. */
#include "host/host_internal.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/path.h"
#include "hostpath/hostpath.h"
#include "network/netfiles.h"
#include "pod/annotations.h"
#include "pod/paths.h"
#include "spec/spec.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static const char *state_name(enum ctr_state s)
{
    static const char *const n[] = {"creating", "created", "running", "terminated", "deleting"};
    return n[s];
}

void container_free(container *c)
{
    if (!c)
        return;
    container_memwatch_stop(c);
    process_free(c->init);
    if (c->execs) {
        strmap_iter it = STRMAP_ITER_INIT;
        const char *k;
        void *v;
        while (strmap_next(c->execs, &it, &k, &v))
            process_free(v);
        strmap_free(c->execs);
    }
    pod_class_done(&c->cls);
    free(c->id);
    free(c->bundle);
    free(c->scratch);
    free(c->root);
    free(c->activity_id);
    free(c->netns_id);
    json_decref(c->spec);
    if (c->tee_fd >= 0)
        close(c->tee_fd);
    free(c->tee_path);
    free(c);
}

container *host_lookup(host *h, const char *id, gcs_err *err)
{
    container *c = strmap_get(h->containers, id ? id : "");
    if (!c) {
        err_set(err, HR_VMCOMPUTE_SYSTEM_NOT_FOUND, "container %s not found", id ? id : "");
        return NULL;
    }
    if (c->state == CTR_CREATING || c->state == CTR_DELETING) {
        err_set(err, HR_VMCOMPUTE_INVALID_STATE, "container %s is %s", id,
                c->state == CTR_CREATING ? "still being created" : "being deleted");
        return NULL;
    }
    return c;
}

/* ---- path policy (src/hostpath) ---- */

int host_path_allowed(host *h, const char *what, const char *p, gcs_err *err)
{
    return hostpath_check(h->cfg->allowed_roots, what, p, err);
}

static int check_host_path(host *h, const char *what, const char *p, bool may_be_empty, gcs_err *err)
{
    if (str_empty(p)) {
        if (may_be_empty)
            return 0;
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "%s is required", what);
    }
    return host_path_allowed(h, what, p, err);
}

/* ---- small filesystem helpers ---- */

/* Remove a directory tree the host pointed us at, never crossing into a
 * mount: when the path itself is a mount point (a scratch disk), only its
 * contents go. */
void host_remove_tree(const char *path, const char *what, gcs_err *err)
{
    gcs_err e = GCS_ERR_INIT;
    bool mp = false;
    if (storage_is_mountpoint(path, &mp, &e) < 0) {
        err_clear(&e);
        mp = false;
    }
    if (!mp) {
        if (storage_remove_all(path, &e) < 0) {
            log_warn("cannot remove directory", KV_S("what", what), KV_S("path", path), KV_S("error", err_msg(&e)));
            if (err && !err_isset(err))
                err_move(err, &e);
        }
        err_clear(&e);
        return;
    }
    cleanup_dir DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        cleanup_free char *child = path_join(path, de->d_name);
        if (storage_remove_all(child, &e) < 0) {
            log_warn("cannot remove", KV_S("what", what), KV_S("path", child), KV_S("error", err_msg(&e)));
            if (err && !err_isset(err))
                err_move(err, &e);
        }
        err_clear(&e);
    }
}

/* docs/pod-model.md §5.5 step 7: the V2 pod directory goes once it is empty. */
void host_remove_v2_pod_dir(const char *bundle)
{
    if (!path_is_within(POD_V2_ROOT_PREFIX, bundle))
        return;
    cleanup_free char *parent = path_dir(bundle);
    if (!streq(parent, POD_V2_ROOT_PREFIX) && rmdir(parent) < 0 && errno != ENOTEMPTY && errno != ENOENT)
        log_warn("cannot remove V2 pod directory", KV_S("path", parent), KV_S("error", strerror(errno)));
}

static void unlink_quiet(const char *dir, const char *name)
{
    cleanup_free char *p = path_join(dir, name);
    unlink(p);
}

/* ---- teardown (delete, failed create, shutdown) ---- */

enum teardown_mode { TD_ROLLBACK, TD_DELETE, TD_SHUTDOWN };

typedef struct teardown {
    container *c;
    enum teardown_mode mode;
    teardown_done_fn done;
    void *data;
    gcs_err err;
} teardown;

static void teardown_files(teardown *td)
{
    container *c = td->c;
    host *h = c->h;
    gcs_err step = GCS_ERR_INIT;

    process_free(c->init);
    c->init = NULL;
    strmap_iter it = STRMAP_ITER_INIT;
    const char *k;
    void *v;
    while (strmap_next(c->execs, &it, &k, &v)) {
        strmap_take(c->execs, k);
        process_free(v);
    }

    /* the network namespace entry it was bound to lets go of it (its NICs
     * come back to the agent); the netns itself went with the runtime's
     * delete, held open by the entry until now */
    host_network_release(c);

    pod *p = c->cls.sandbox_id ? strmap_get(h->pods, c->cls.sandbox_id) : NULL;
    bool bundle_is_root = p && p->bundle && streq(p->bundle, c->bundle) && streq(p->root, c->bundle);

    /* The runtime is done with the bundle, so what the agent mounted in it
     * comes off, in the order the mounts sit on each other (the ledger,
     * newest first): the rootfs overlay, then the bundle's bind onto its
     * scratch; only then the scratch goes (upstream's order,
     * internal/guest/runtime/hcsv2/container.go Delete). A bundle that is
     * its pod's root keeps the bind and the scratch until the pod goes: the
     * sandbox mounts sit on it until then. Not on a failed create: the host
     * still owns its layers. */
    uvmstate_clear_user(h->mounts, c->id);
    if (td->mode != TD_ROLLBACK) {
        gcs_err e = GCS_ERR_INIT;
        if (bundle_is_root) {
            uvmstate_unwind_below(h->mounts, c->bundle, &e);
            if (!str_empty(c->scratch) && !p->scratch)
                p->scratch = xstrdup(c->scratch);
        } else {
            uvmstate_unwind(h->mounts, c->bundle, NULL, &e);
        }
        if (err_isset(&e) && !err_isset(&td->err))
            err_move(&td->err, &e);
        err_clear(&e);
        if (!bundle_is_root && !str_empty(c->scratch))
            host_remove_tree(c->scratch, "scratch", &td->err);
    }

    /* bundle: 5.5 step 5.6 (a V1 sandbox's bundle is its pod's root: the pod
     * removes it when it goes) */
    if (!bundle_is_root) {
        if (td->mode == TD_ROLLBACK) {
            unlink_quiet(c->bundle, "config.json");
            unlink_quiet(c->bundle, "init.pid");
            unlink_quiet(c->bundle, "runc.log");
            if (c->bundle_created)
                host_remove_tree(c->bundle, "bundle", &td->err);
        } else {
            host_remove_tree(c->bundle, "bundle", &td->err);
            host_remove_v2_pod_dir(c->bundle);
        }
    } else {
        unlink_quiet(c->bundle, "config.json");
        unlink_quiet(c->bundle, "init.pid");
        unlink_quiet(c->bundle, "runc.log");
    }

    /* pod membership: 5.5 step 6.3 */
    if (p && c->pod_member) {
        if (c->cls.is_sandbox && streq(c->id, p->sandbox_cid)) {
            p->sandbox_gone = true;
            p->delete_root = td->mode != TD_ROLLBACK;
        }
        pod_release(h, p, c->id, &step);
        if (err_isset(&step) && !err_isset(&td->err))
            err_move(&td->err, &step);
        err_clear(&step);
    }
    log_info(td->mode == TD_ROLLBACK ? "container create rolled back" : "container deleted", KV_S("container", c->id),
             KV_S("error", err_msg(&td->err)));
    strmap_take(h->containers, c->id);
    container_free(c);
    h->teardowns_inflight--;
    td->done(h, err_isset(&td->err) ? &td->err : NULL, td->data);
    err_clear(&td->err);
    free(td);
}

static void on_runtime_deleted(runtime_result *res, void *data)
{
    teardown *td = data;
    if (err_isset(&res->err)) {
        /* a container the runtime never finished creating is not an error */
        if (res->err.hr != HR_VMCOMPUTE_SYSTEM_NOT_FOUND) {
            log_warn("runtime delete failed", KV_S("container", td->c->id), KV_S("error", err_msg(&res->err)));
            if (!err_isset(&td->err))
                err_move(&td->err, &res->err);
        }
    }
    teardown_files(td);
}

void container_teardown(container *c, bool force, teardown_done_fn done, void *data)
{
    /* as upstream's Container.Delete: the init's stdio no longer re-dials */
    if (c->init)
        relay_reconnect_stop(c->init->relay);
    teardown *td = xzalloc(sizeof(*td));
    td->c = c;
    td->mode = c->state == CTR_CREATING ? TD_ROLLBACK : force ? TD_SHUTDOWN : TD_DELETE;
    td->done = done;
    td->data = data;
    c->state = CTR_DELETING;
    c->h->teardowns_inflight++;
    container_memwatch_stop(c); /* before the runtime removes the cgroup */
    if (c->runtime_created) {
        gcs_err e = GCS_ERR_INIT;
        bool f = force || td->mode == TD_ROLLBACK;
        if (runtime_delete(c->h->rt, c->id, f, on_runtime_deleted, td, &e) == 0)
            return;
        err_move(&td->err, &e);
    }
    teardown_files(td);
}

/* ---- create ---- */

typedef struct create_failure {
    bridge_req *req;
    gcs_err err; /* the create error, answered once the undo has finished */
} create_failure;

static void create_failed_done(host *h, const gcs_err *terr, void *data)
{
    (void)h;
    create_failure *f = data;
    if (terr)
        log_warn("create rollback incomplete", KV_S("error", err_msg(terr)));
    bridge_respond_error(f->req, &f->err);
    err_clear(&f->err);
    free(f);
}

/* Fail a create: undo everything, then answer with err (moved). */
static void create_fail(container *c, bridge_req *req, gcs_err *err)
{
    create_failure *f = xzalloc(sizeof(*f));
    f->req = req;
    err_move(&f->err, err);
    c->pending = NULL;
    container_teardown(c, false, create_failed_done, f);
}

/* After create only a few parts of the spec are read again (exec: the
 * process's user and rlimits, the rootfs for username lookups; statistics:
 * the cgroup path). The full tree, seccomp profile and all, would cost tens
 * of KiB per container for nothing. */
static void slim_spec(container *c)
{
    json_t *slim = json_object();
    json_t *proc = json_object_get(c->spec, "process");
    json_t *sp = json_object();
    static const char *const keep_proc[] = {"user", "rlimits"};
    for (size_t i = 0; i < ARRAY_SIZE(keep_proc); i++)
        if (json_object_get(proc, keep_proc[i]))
            json_object_set(sp, keep_proc[i], json_object_get(proc, keep_proc[i]));
    json_object_set_new(slim, "process", sp);
    if (json_object_get(c->spec, "root"))
        json_object_set(slim, "root", json_object_get(c->spec, "root"));
    /* the mounts' sources: a disk Remove asks whether a live container uses it */
    if (json_object_get(c->spec, "mounts"))
        json_object_set(slim, "mounts", json_object_get(c->spec, "mounts"));
    json_t *cg = json_object_get(json_object_get(c->spec, "linux"), "cgroupsPath");
    json_object_set_new(slim, "linux", json_pack("{s:O?}", "cgroupsPath", cg));
    json_decref(c->spec);
    c->spec = slim;
}

static void on_network_attached(container *c, const gcs_err *nerr);
static void create_finish(container *c);

static void create_join_done(container *c)
{
    if (--c->create_join > 0)
        return;
    bridge_req *req = c->pending;
    gcs_err err = GCS_ERR_INIT;
    if (err_isset(&c->init->join_err)) {
        err_move(&err, &c->init->join_err);
        create_fail(c, req, &err);
        return;
    }
    cleanup_free char *pidfile = path_join(c->bundle, "init.pid");
    if (read_pid_file(pidfile, &c->init_pid, &err) < 0) {
        create_fail(c, req, &err);
        return;
    }
    process_watch(c->init, c->init_pid);
    /* upstream uvm.go CreateContainer: a sandbox's (or standalone's)
     * network namespace gets its NICs once the init exists */
    int r = host_network_attach(c, on_network_attached, &err);
    if (r < 0) {
        create_fail(c, req, &err);
        return;
    }
    if (r == 0)
        create_finish(c);
}

static void on_network_attached(container *c, const gcs_err *nerr)
{
    if (nerr) {
        gcs_err err = GCS_ERR_INIT;
        err.hr = nerr->hr;
        err.code = nerr->code;
        err.msg = xstrdup(err_msg(nerr));
        create_fail(c, c->pending, &err);
        return;
    }
    create_finish(c);
}

static void create_finish(container *c)
{
    bridge_req *req = c->pending;
    if (c->state == CTR_CREATING)
        c->state = CTR_CREATED;
    container_memwatch_start(c); /* the runtime made its cgroup */
    /* the ledger learns whose rootfs the overlay is (a no-op when the root
     * is not one the agent mounted) */
    const char *rootp = json_string_value(json_object_get(json_object_get(c->spec, "root"), "path"));
    if (!str_empty(rootp))
        uvmstate_set_user(c->h->mounts, rootp, c->id);
    slim_spec(c);
    c->pending = NULL;
    log_info("container created", KV_S("container", c->id), KV_S("kind", pod_kind_name(c->cls.kind)),
             KV_S("pod", c->cls.sandbox_id), KV_I("pid", c->init_pid), KV_S("bundle", c->bundle),
             KV_D("duration_ms", (double)(now_ns() - c->started_ns) / 1e6));
    json_t *o = json_object();
    json_object_set_new(o, "SelectedProtocolVersion", json_integer(0));
    bridge_respond(req, o);
}

static void on_runtime_created(runtime_result *res, void *data)
{
    container *c = data;
    if (err_isset(&res->err)) {
        if (!err_isset(&c->init->join_err))
            err_move(&c->init->join_err, &res->err);
        if (c->init->cs && c->create_join > 1) {
            relay_console_cancel(c->init->cs); /* no console will come */
            c->create_join--;
        }
    }
    create_join_done(c);
}

static void on_init_console(relay_console_socket *cs, int master, const gcs_err *e, void *data)
{
    (void)cs;
    container *c = data;
    if (e) {
        if (!err_isset(&c->init->join_err)) {
            c->init->join_err.hr = e->hr;
            c->init->join_err.msg = xasprintf("console: %s", err_msg(e));
        }
    } else {
        c->init->relay = relay_pty_new(master);
    }
    create_join_done(c);
}

/* The init's stdio exists from create on; the host's sockets are attached
 * when it starts the container (4.4 case B). */
static int prepare_init_stdio(host *h, container *c, runtime_stdio *rs, const char **console, gcs_err *err)
{
    c->init = process_new(h, c, true);
    c->create_join = 1;
    *console = NULL;
    if (json_is_true(json_object_get(json_object_get(c->spec, "process"), "terminal"))) {
        int r = relay_console_socket_new(h->statedir, &c->init->cs, err);
        if (r < 0 || (r = relay_console_receive(h->l, c->init->cs, on_init_console, c, err)) < 0)
            return r;
        *console = relay_console_socket_path(c->init->cs);
        c->create_join++;
        return 0;
    }
    int r = relay_pipes_new(true, true, true, &c->init->relay, err);
    if (r < 0)
        return r;
    int fds[3];
    relay_child_fds(c->init->relay, fds);
    *rs = (runtime_stdio){fds[0], fds[1], fds[2]};
    return 0;
}

static bool spec_owns_pidns(const json_t *spec)
{
    json_t *nss = json_object_get(json_object_get(spec, "linux"), "namespaces");
    size_t i;
    json_t *ns;
    json_array_foreach(nss, i, ns)
    {
        if (streq(json_string_value(json_object_get(ns, "type")), "pid"))
            return str_empty(json_string_value(json_object_get(ns, "path")));
    }
    return false;
}

static int write_sandbox_files(host *h, container *c, pod *p, gcs_err *err)
{
    json_t *spec = c->spec;
    const char *hostname = json_string_value(json_object_get(spec, "hostname"));
    if (str_empty(hostname))
        hostname = h->uvm_hostname;
    int r = netfiles_validate_hostname(hostname, err);
    if (r < 0)
        return r;
    /* docs/pod-model.md §3.4: the root, then its network files */
    r = mkdir_p(p->root, 0755, &p->root_created, NULL, err);
    if (r < 0)
        return r;
    bool skip = pod_annotation_skip_networking(json_object_get(spec, "annotations"));
    nsreg_ns *ns = NULL;
    if (skip || c->cls.kind == POD_KIND_VPOD_SANDBOX) {
        bool existed = nsreg_get(h->netns, c->netns_id, NULL) != NULL;
        ns = nsreg_get_or_create(h->netns, c->netns_id);
        if (!existed)
            p->netns_id = xstrdup(c->netns_id);
    } else {
        ns = nsreg_get(h->netns, c->netns_id, NULL);
        if (!ns)
            return err_set(err, HR_NOT_FOUND, "network namespace %s not found (no Network Add for it, and %s is not set)",
                           c->netns_id, POD_ANN_SKIP_POD_NETWORKING);
    }
    cleanup_free char *resolv = NULL;
    if ((r = nsreg_ns_resolv_conf(ns, &resolv, err)) < 0)
        return r;
    return netfiles_write_set(p->root, hostname, resolv, NETFILE_ALL, err);
}

static int hugetlb_mount(const char *target, const char *pagesize, void *userdata, gcs_err *err)
{
    (void)userdata;
    return storage_mount_hugetlbfs(target, pagesize, err);
}

static char *standalone_resolv(host *h, const char *nsid)
{
    char *resolv = NULL;
    cleanup_err gcs_err e = GCS_ERR_INIT;
    if (nsreg_ns_resolv_conf(nsreg_get(h->netns, nsid, NULL), &resolv, &e) < 0)
        resolv = xstrdup("");
    return resolv;
}

/* Per-kind setup (docs/pod-model.md §5.3 step 5). */
static int setup_kind(host *h, container *c, gcs_err *err)
{
    int r;
    const char *sid = c->cls.sandbox_id;
    switch (c->cls.kind) {
    case POD_KIND_SANDBOX:
    case POD_KIND_VPOD_SANDBOX: {
        /* docs/differences.md D-3: the pod entry is reserved before anything is built under
         * its root, so a second sandbox for the same (virtual) pod touches
         * nothing of the live one. */
        if (strmap_contains(h->pods, sid))
            return err_set(err, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "pod %s already exists", sid);
        pod *p = pod_new(sid);
        strmap_set(h->pods, sid, p);
        strmap_set(p->members, c->id, (void *)1);
        c->pod_member = true;
        p->bundle = xstrdup(c->bundle);
        if ((r = sandbox_root_register(h->roots, sid, c->bundle, c->cls.vpid, &p->root, err)) < 0)
            return r;
        p->sandbox_cid = xstrdup(c->id);
        if (!streq(sid, c->id))
            sandbox_root_register(h->roots, c->id, c->bundle, c->cls.vpid, NULL, NULL);
        if (p->root != c->root) {
            free(c->root);
            c->root = xstrdup(p->root);
        }
        if ((r = check_host_path(h, "sandbox root", p->root, false, err)) < 0)
            return r;
        if ((r = write_sandbox_files(h, c, p, err)) < 0)
            return r;
        if ((r = spec_setup_sandbox(c->spec, sid, c->id, err)) < 0)
            return r;
        /* steps 7-10 */
        if ((r = storage_sandbox_dirs_setup(p->root, err)) < 0)
            return r;
        p->dirs_set_up = true;
        /* step 12 / 4.4 */
        cleanup_free char *cgpath = pod_cgroup_path(sid);
        json_t *res = json_object_get(json_object_get(c->spec, "linux"), "resources");
        if ((r = cgroup_create(h->cgm, cgpath, res, &p->cg, err)) < 0)
            return err_wrap(err, r, "create pod cgroup %s", cgpath);
        return 0;
    }
    case POD_KIND_WORKLOAD:
    case POD_KIND_VPOD_WORKLOAD: {
        pod *p = strmap_get(h->pods, sid);
        if (!p)
            return err_set(err, HR_E_FAIL, "pod %s does not exist for workload container %s", sid, c->id);
        if (p->sandbox_gone)
            return err_set(err, HR_VMCOMPUTE_INVALID_STATE, "pod %s is being removed: its sandbox was deleted", sid);
        if (strmap_contains(p->members, c->id))
            return err_set(err, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "container %s already registered with pod %s",
                           c->id, sid);
        strmap_set(p->members, c->id, (void *)1);
        c->pod_member = true;
        free(c->root);
        c->root = sandbox_root_resolve(h->roots, sid);
        return spec_setup_workload(c->spec, sid, c->id, c->root, hugetlb_mount, h, err);
    }
    case POD_KIND_STANDALONE: {
        free(c->root);
        c->root = xstrdup(c->bundle);
        cleanup_free char *resolv = standalone_resolv(h, c->netns_id);
        if ((r = mkdir_p(c->bundle, 0700, &c->bundle_created, NULL, err)) < 0)
            return r;
        return spec_setup_standalone(c->spec, c->id, c->root, h->uvm_hostname, resolv, err);
    }
    case POD_KIND_MAX: break;
    }
    return err_set(err, HR_E_FAIL, "unknown container kind");
}

static int open_tee_log(container *c, const char *rel, gcs_err *err)
{
    int r;
    if ((r = spec_tee_log_path(c->root, rel, &c->tee_path, err)) < 0)
        return r;
    cleanup_free char *logs = sandbox_logs_dir(c->root);
    /* a standalone container's root is its bundle, which has no logs directory yet */
    mode_t saved = umask(0);
    r = mkdir_p(logs, 0777, NULL, NULL, err);
    umask(saved);
    if (r < 0)
        return err_wrap(err, r, "create the logs directory for the tee log");
    cleanup_free char *below = xstrdup(c->tee_path + strlen(logs) + 1);
    if ((r = storage_open_beneath(logs, below, O_WRONLY | O_CREAT | O_APPEND, 0666, 0777, &c->tee_fd, err)) < 0)
        return err_wrap(err, r, "tee log %s", rel);
    log_info("tee log opened", KV_S("container", c->id), KV_S("path", c->tee_path));
    return 0;
}

/* Everything synchronous before the runtime runs; on error the caller
 * rolls back. */
static int create_prepare(host *h, container *c, const msg_container_settings *cs, gcs_err *err)
{
    int r;
    json_t *spec = c->spec;
    if ((r = setup_kind(h, c, err)) < 0)
        return r;

    /* 5.3 step 6: the tee-log directory mount */
    const char *teedir = spec_annotation(spec, POD_ANN_TEE_LOG_DIR_MOUNT);
    if (!str_empty(teedir))
        spec_add_tee_log_dir_mount(spec, teedir, c->root);

    /* step 9: the tee log, below the sandbox's logs directory, which containers
     * may write into: opened without following any symlink (docs/differences.md D-60) */
    const char *tee = spec_annotation(spec, POD_ANN_TEE_LOG_PATH);
    if (!str_empty(tee) && (r = open_tee_log(c, tee, err)) < 0)
        return r;

    /* step 11: host networking drops the network namespace */
    if (pod_annotation_bool(json_object_get(spec, "annotations"), POD_ANN_HOST_NETWORK, false)) {
        json_t *nss = json_object_get(json_object_get(spec, "linux"), "namespaces");
        size_t i;
        json_t *ns;
        json_array_foreach(nss, i, ns)
        {
            if (streq(json_string_value(json_object_get(ns, "type")), "network")) {
                json_array_remove(nss, i);
                break;
            }
        }
    }

    /* step 12: the bundle (0700) and config.json */
    bool created = false;
    if ((r = mkdir_p(c->bundle, 0700, &created, NULL, err)) < 0)
        return r;
    c->bundle_created = c->bundle_created || created;
    cleanup_free char *cfg = path_join(c->bundle, "config.json");
    cleanup_free char *text = json_dumps(spec, JSON_COMPACT);
    if (!text)
        return err_set(err, HR_E_FAIL, "cannot encode the OCI spec");
    if ((r = write_file(cfg, text, strlen(text), 0600)) < 0)
        return err_errno(err, HR_E_FAIL, -r, "write %s", cfg);
    (void)cs;
    return 0;
}

static int validate_settings(host *h, const char *id, const msg_create *m, gcs_err *err)
{
    const msg_container_settings *cs = &m->config;
    if (!m->has_config)
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "ContainerConfig is missing");
    /* docs/protocol.md §4.1: schema >= 2.1 */
    if (cs->schema_version.major < 2 || (cs->schema_version.major == 2 && cs->schema_version.minor < 1))
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "unsupported schema version %u.%u (need 2.1 or later)",
                       cs->schema_version.major, cs->schema_version.minor);
    const json_t *spec = cs->oci_specification;
    if (!spec)
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "OciSpecification is missing");
    static const char *const required[] = {"process", "root", "linux"};
    for (size_t i = 0; i < ARRAY_SIZE(required); i++)
        if (!json_is_object(json_object_get(spec, required[i])))
            return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "OciSpecification.%s is missing or not an object",
                           required[i]);
    const char *rootpath = json_string_value(json_object_get(json_object_get(spec, "root"), "path"));
    if (str_empty(rootpath) || rootpath[0] != '/')
        return err_set(err, HR_VMCOMPUTE_INVALID_JSON, "OciSpecification.root.path must be an absolute path");
    int r;
    if ((r = pod_validate_container_id(id, false, err)) < 0)
        return r;
    if ((r = check_host_path(h, "OciBundlePath", cs->oci_bundle_path, false, err)) < 0)
        return r;
    return check_host_path(h, "ScratchDirPath", cs->scratch_dir_path, true, err);
}

void host_handle_create(bridge_req *req, void *ctx)
{
    host *h = ctx;
    msg_create *m = req->msg;
    const char *id = req->container_id;
    gcs_err err = GCS_ERR_INIT;

    if (strmap_contains(h->containers, id)) {
        bridge_respond_hr(req, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "container %s already exists", id);
        return;
    }
    if (validate_settings(h, id, m, &err) < 0) {
        err_wrap(&err, err.code, "create container %s", id);
        bridge_respond_error(req, &err);
        err_clear(&err);
        return;
    }
    json_t *spec = m->config.oci_specification;
    pod_class cls;
    if (pod_classify(id, json_object_get(spec, "annotations"), false, &cls, &err) < 0) {
        err_wrap(&err, err.code, "create container %s", id);
        bridge_respond_error(req, &err);
        err_clear(&err);
        return;
    }

    container *c = xzalloc(sizeof(*c));
    c->tee_fd = -1;
    c->h = h;
    c->id = xstrdup(id);
    c->cls = cls;
    c->bundle = path_clean(m->config.oci_bundle_path);
    c->scratch = str_empty(m->config.scratch_dir_path) ? xstrdup("") : path_clean(m->config.scratch_dir_path);
    c->root = xstrdup(c->bundle);
    c->activity_id = xstrdup(msg_is_guid(((msg_base *)m)->activity_id) ? ((msg_base *)m)->activity_id
                                                                       : NULL_CONTAINER_ID);
    c->netns_id = spec_network_namespace_id(spec);
    c->spec = json_deep_copy(spec);
    c->state = CTR_CREATING;
    c->execs = strmap_new(NULL);
    c->started_ns = now_ns();
    c->pending = req;
    /* 5.3 step 3: registered while creating, so lookups see "creating" */
    strmap_set(h->containers, id, c);

    if (create_prepare(h, c, &m->config, &err) < 0) {
        err_wrap(&err, err.code, "create container %s", id);
        create_fail(c, req, &err);
        return;
    }
    /* step 13: the runtime's create, as an asynchronous child */
    cleanup_free char *pidfile = path_join(c->bundle, "init.pid");
    runtime_stdio rs = {-1, -1, -1};
    const char *console = NULL;
    c->owns_pidns = spec_owns_pidns(c->spec);
    if (prepare_init_stdio(h, c, &rs, &console, &err) < 0) {
        err_wrap(&err, err.code, "create container %s", id);
        create_fail(c, req, &err);
        return;
    }
    c->runtime_created = true; /* from here a rollback runs the runtime's delete */
    if (runtime_create(h->rt, id, c->bundle, pidfile, console, console ? NULL : &rs, on_runtime_created, c, &err) <
        0) {
        err_wrap(&err, err.code, "create container %s", id);
        create_fail(c, req, &err);
        return;
    }
}

/* ---- delete ---- */

static void delete_done(host *h, const gcs_err *err, void *data)
{
    (void)h;
    bridge_req *req = data;
    if (err)
        bridge_respond_error(req, err);
    else
        bridge_respond(req, NULL);
}

void host_handle_delete(bridge_req *req, void *ctx)
{
    host *h = ctx;
    gcs_err err = GCS_ERR_INIT;
    container *c = host_lookup(h, req->container_id, &err);
    if (!c) {
        bridge_respond_error(req, &err);
        err_clear(&err);
        return;
    }
    /* Deliberate difference (docs/differences.md D-14): a running container is refused
     * and stays registered with all its files, instead of losing its bundle
     * under a live process (tests/system/test_processes.py::test_waits_on_unknown_and_errors). */
    if (c->state == CTR_RUNNING) {
        bridge_respond_hr(req, HR_VMCOMPUTE_INVALID_STATE,
                          "cannot delete container %s: it is still running (kill it and wait for it first)", c->id);
        return;
    }
    log_debug("deleting container", KV_S("container", c->id), KV_S("state", state_name(c->state)));
    container_teardown(c, false, delete_done, req);
}
