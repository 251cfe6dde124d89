/* pod.c — the pod entries of the unified pod model (docs/pod-model.md §4.4,
 * §5.5 step 8, §5.6) and their teardown.
 *
 * Deliberate difference from upstream (docs/differences.md D-1, D-5, D-6):
 * deleting the sandbox does not tear the pod down while other members are
 * still registered. The sandbox container itself goes at once; the pod's
 * cgroup, mounts and root stay until its last member is deleted, so running
 * workloads keep their sandbox:// data and /pods/<sid> is never left behind
 * (tests: test_pods.py::test_every_kind_of_pod_at_once_then_mixed_delete,
 * test_pod_rules.py::test_d22_new_workload_after_sandbox_deleted_is_refused).
 * The root is removed whole when it is a virtual-pod root (upstream leaks
 * it). */
#include "host/host_internal.h"

#include "common/log.h"
#include "common/path.h"
#include "pod/paths.h"
#include "storage/storage.h"

#include <errno.h>

pod *pod_new(const char *sid)
{
    pod *p = xzalloc(sizeof(*p));
    p->sandbox_id = xstrdup(sid);
    p->members = strmap_new(NULL);
    return p;
}

void pod_free(pod *p)
{
    if (!p)
        return;
    cgroup_free(p->cg);
    strmap_free(p->members);
    free(p->sandbox_id);
    free(p->root);
    free(p->sandbox_cid);
    free(p->bundle);
    free(p->scratch);
    free(p->netns_id);
    free(p);
}

/* Collect a step's error into err (the first one wins, later ones are
 * logged) so teardown always runs every step. */
static void keep_err(gcs_err *err, gcs_err *step, const char *what, const char *id)
{
    if (!err_isset(step))
        return;
    log_warn("teardown step failed", KV_S("step", what), KV_S("pod", id), KV_S("error", err_msg(step)));
    if (err && !err_isset(err))
        err_move(err, step);
    err_clear(step);
}

/* rmdir a directory we may have created as a parent, if it is empty now. */
static void rmdir_if_empty(const char *dir)
{
    if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST && errno != EBUSY)
        log_debug("rmdir failed", KV_S("path", dir), KV_S("error", strerror(errno)));
}

int pod_teardown(host *h, pod *p, gcs_err *err)
{
    gcs_err step = GCS_ERR_INIT;
    const char *sid = p->sandbox_id;

    if (p->dirs_set_up && p->root) {
        storage_sandbox_dirs_teardown(p->root, &step);
        keep_err(err, &step, "unmount sandbox directories", sid);
        p->dirs_set_up = false;
    }
    if (p->root && p->delete_root) {
        /* the sandbox mounts are off: now the bundle's bind onto its scratch
         * (and anything else the agent still holds in the root), then the
         * scratch (internal/guest/runtime/hcsv2/container.go Delete) */
        uvmstate_unwind(h->mounts, p->root, NULL, &step);
        keep_err(err, &step, "unmount what the sandbox root holds", sid);
        if (!str_empty(p->scratch)) {
            host_remove_tree(p->scratch, "sandbox scratch", &step);
            keep_err(err, &step, "remove sandbox scratch", sid);
        }
    }
    if (p->root) {
        bool vpod_root = !p->bundle || !streq(p->root, p->bundle);
        if (vpod_root || p->root_created) {
            /* docs/differences.md D-1: the virtual-pod root is ours, remove it whole */
            storage_remove_all(p->root, &step);
            keep_err(err, &step, "remove sandbox root", sid);
            if (vpod_root) {
                cleanup_free char *parent = path_dir(p->root);
                rmdir_if_empty(parent); /* .../virtual-pods, if no other virtual pod uses it */
            } else {
                host_remove_v2_pod_dir(p->root);
            }
        } else if (p->delete_root) {
            /* a V1 sandbox: the root is its bundle, removed as the bundle is */
            host_remove_tree(p->root, "sandbox bundle", &step);
            keep_err(err, &step, "remove sandbox bundle", sid);
            host_remove_v2_pod_dir(p->root);
        } else {
            /* a failed create: the root is a bundle the host made; take back only our files */
            const char *files[] = {POD_HOSTNAME_FILE, POD_HOSTS_FILE, POD_RESOLV_CONF_FILE};
            for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                cleanup_free char *f = path_join(p->root, files[i]);
                if (unlink(f) < 0 && errno != ENOENT)
                    log_warn("cannot remove sandbox file", KV_S("path", f), KV_S("error", strerror(errno)));
            }
        }
    }
    if (p->cg) {
        cgroup_delete(p->cg, &step);
        keep_err(err, &step, "delete pod cgroup", sid);
    }
    if (p->netns_id) {
        nsreg_remove(h->netns, p->netns_id, &step);
        keep_err(err, &step, "remove network namespace entry", sid);
    }
    sandbox_root_unregister(h->roots, sid);
    /* the entry under the sandbox container's id, if it is still ours */
    const char *alias =
        p->sandbox_cid && !streq(p->sandbox_cid, sid) ? sandbox_root_lookup(h->roots, p->sandbox_cid) : NULL;
    if (alias && p->root && streq(alias, p->root))
        sandbox_root_unregister(h->roots, p->sandbox_cid);
    log_info("pod removed", KV_S("pod", sid));
    pod *owned = strmap_take(h->pods, sid);
    if (owned && owned != p)
        strmap_set(h->pods, sid, owned); /* not ours: put it back */
    pod_free(p);
    return err && err_isset(err) ? err->code : 0;
}

void pod_release(host *h, pod *p, const char *member, gcs_err *err)
{
    strmap_del(p->members, member);
    if (p->sandbox_gone && strmap_count(p->members) == 0)
        pod_teardown(h, p, err);
    else if (p->sandbox_gone)
        log_info("pod kept until its last member is deleted", KV_S("pod", p->sandbox_id),
                 KV_U("members", strmap_count(p->members)));
}
