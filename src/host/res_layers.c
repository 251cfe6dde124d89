/* res_layers.c — ModifySettings CombinedLayers: a container's rootfs as an
 * overlay of the host's layers and its scratch (upstream
 * internal/guest/runtime/hcsv2/uvm.go modifyCombinedLayers), with the bind
 * of the bundle directory onto <scratch>/bundle when the scratch does not
 * lie inside the bundle (docs/pod-model.md, "bundle on scratch").
 *
 * State: entries of the mount ledger (h->mounts) owned by "CombinedLayers":
 * the overlay at ContainerRootPath and the bundle bind. Remove takes the
 * overlay off; the bind goes with it unless the ledger names a container
 * whose rootfs the overlay is: that container's teardown walks the ledger
 * and takes the bind off once the runtime is done with the bundle. Agent
 * exit unwinds what is left (host_shutdown), so there is no release here. */
#include "host/resources.h"

#include "common/log.h"
#include "common/path.h"
#include "storage/storage.h"

#define OWNER "CombinedLayers"

static int unmount_overlay(const char *path, void *data, gcs_err *err)
{
    (void)data;
    int r = storage_overlay_unmount(path, err);
    if (r == 0)
        log_info("container rootfs removed", KV_S("path", path));
    return r;
}

static int unmount_bundle_bind(const char *path, void *data, gcs_err *err)
{
    (void)data;
    int r = storage_bundle_unbind(path, err);
    if (r == 0)
        log_debug("bundle detached from its scratch", KV_S("bundle", path));
    return r;
}

static int layers_remove(host *h, const char *target, gcs_err *err)
{
    int r;
    /* a container still registered with this rootfs keeps the bundle's bind */
    bool has_user = uvmstate_user(h->mounts, target) != NULL;
    if (uvmstate_has(h->mounts, target))
        r = uvmstate_unmount(h->mounts, target, err);
    else
        r = storage_overlay_unmount(target, err); /* not ours: as upstream, unmount what is there */
    if (r < 0)
        return r;
    cleanup_free char *bundle_dir = path_dir(target);
    /* only the bind this resource made: a scratch disk mounted on the
     * bundle directory (V1) is MappedVirtualDisk's */
    const char *owner = uvmstate_owner(h->mounts, bundle_dir);
    if (owner && streq(owner, OWNER) && !has_user) {
        cleanup_err gcs_err e = GCS_ERR_INIT;
        if (uvmstate_unmount(h->mounts, bundle_dir, &e) < 0)
            log_warn("cannot detach the bundle from its scratch", KV_S("bundle", bundle_dir),
                     KV_S("error", err_msg(&e)));
    }
    return 0;
}

static int layers_add(host *h, const char *target, res_combined_layers *s, gcs_err *err)
{
    int r;
    if (uvmstate_has(h->mounts, target))
        return err_set(err, HR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS, "a rootfs is already mounted at %s", target);
    if (!str_empty(s->scratch_path) && (r = host_path_allowed(h, "ScratchPath", s->scratch_path, err)) < 0)
        return r;
    res_layer *layers = s->layers.v;
    cleanup_free const char **lowers = xzalloc((s->layers.n + 1) * sizeof(char *));
    for (size_t i = 0; i < s->layers.n; i++) {
        if (str_empty(layers[i].path) || layers[i].path[0] != '/')
            return err_set(err, HR_E_INVALIDARG, "layer %zu has no absolute Path", i);
        lowers[i] = layers[i].path;
    }
    cleanup_free char *bundle_dir = path_dir(target);
    bool bound = false;
    /* the bundle is bound onto the scratch before the overlay is mounted,
     * and undone if the overlay fails */
    if (storage_bundle_needs_scratch_bind(bundle_dir, s->scratch_path) && !uvmstate_has(h->mounts, bundle_dir)) {
        cleanup_free char *src = path_join(s->scratch_path, "bundle");
        if ((r = uvmstate_add_bind(h->mounts, bundle_dir, src, err)) < 0)
            return r;
        if ((r = storage_bundle_bind(s->scratch_path, bundle_dir, err)) < 0) {
            uvmstate_remove_bind(h->mounts, bundle_dir, src, NULL);
            return r;
        }
        uvmstate_set_unmount(h->mounts, bundle_dir, OWNER, unmount_bundle_bind, NULL, NULL);
        bound = true;
    }
    if ((r = uvmstate_add_overlay(h->mounts, target, lowers, s->layers.n, s->scratch_path, err)) == 0 &&
        (r = storage_overlay_mount(lowers, s->layers.n, s->scratch_path, target, err)) < 0)
        uvmstate_remove_overlay(h->mounts, target, NULL, NULL);
    if (r < 0) {
        if (bound) {
            cleanup_err gcs_err e2 = GCS_ERR_INIT;
            uvmstate_unmount(h->mounts, bundle_dir, &e2);
        }
        return r;
    }
    uvmstate_set_unmount(h->mounts, target, OWNER, unmount_overlay, NULL, NULL);
    log_info("container rootfs mounted", KV_S("path", target), KV_U("layers", s->layers.n),
             KV_S("scratch", s->scratch_path ? s->scratch_path : ""));
    return 0;
}

static int layers_apply(res_call *call, gcs_err *err)
{
    res_combined_layers *s = &call->settings.layers;
    int r = host_path_allowed(call->h, "ContainerRootPath", s->container_root_path, err);
    if (r < 0)
        return r;
    cleanup_free char *target = path_clean(s->container_root_path);
    return call->request == REQ_REMOVE ? layers_remove(call->h, target, err) : layers_add(call->h, target, s, err);
}

const resource_def res_combined_layers_def = {
    .type = RES_COMBINED_LAYERS,
    .targets = RES_ON_VM,
    .requests = REQ_BIT(REQ_ADD) | REQ_BIT(REQ_REMOVE),
    .apply = layers_apply,
};
