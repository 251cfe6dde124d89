/* layers.c — ModifySettings CombinedLayers (the container rootfs overlay,
 * with the bundle-to-scratch bind of pod-model.md 3.5) and
 * ContainerConstraints (the runtime's update), bridge-protocol.md 4.9. */
#include "host/host_internal.h"

#include "common/log.h"
#include "common/path.h"
#include "storage/storage.h"

typedef struct overlay {
    char *bundle_dir; /* bound onto <scratch>/bundle, or NULL */
} overlay;

static void overlay_free(void *v)
{
    overlay *o = v;
    if (!o)
        return;
    free(o->bundle_dir);
    free(o);
}

void host_free_overlays(host *h)
{
    if (!h->overlays)
        return;
    strmap_iter it = STRMAP_ITER_INIT;
    const char *k;
    void *v;
    while (strmap_next(h->overlays, &it, &k, &v)) {
        gcs_err e = GCS_ERR_INIT;
        overlay *o = v;
        storage_overlay_unmount(k, &e);
        err_clear(&e);
        if (o->bundle_dir)
            storage_bundle_unbind(o->bundle_dir, &e);
        err_clear(&e);
    }
    strmap_free(h->overlays);
    h->overlays = NULL;
}

static int layers_remove(host *h, const char *target, gcs_err *err)
{
    overlay *o = strmap_take(h->overlays, target);
    int r = storage_overlay_unmount(target, err);
    if (r < 0) {
        if (o)
            strmap_set(h->overlays, target, o);
        return r;
    }
    if (o && o->bundle_dir) {
        gcs_err e = GCS_ERR_INIT;
        if (storage_bundle_unbind(o->bundle_dir, &e) < 0)
            log_warn("cannot detach the bundle from its scratch", KV_S("bundle", o->bundle_dir),
                     KV_S("error", err_msg(&e)));
        err_clear(&e);
    }
    overlay_free(o);
    log_info("container rootfs removed", KV_S("path", target));
    return 0;
}

static int layers_add(host *h, const char *target, res_combined_layers *s, gcs_err *err)
{
    int r;
    if (strmap_contains(h->overlays, target))
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
    overlay *o = xzalloc(sizeof(*o));
    cleanup_free char *bundle_dir = path_dir(target);
    /* pod-model.md 3.5: keep the bundle on the scratch disk, bound before the
     * overlay is mounted and undone if it fails */
    if (storage_bundle_needs_scratch_bind(bundle_dir, s->scratch_path)) {
        if ((r = storage_bundle_bind(s->scratch_path, bundle_dir, err)) < 0) {
            overlay_free(o);
            return r;
        }
        o->bundle_dir = xstrdup(bundle_dir);
    }
    if ((r = storage_overlay_mount(lowers, s->layers.n, s->scratch_path, target, err)) < 0) {
        if (o->bundle_dir) {
            gcs_err e2 = GCS_ERR_INIT;
            storage_bundle_unbind(o->bundle_dir, &e2);
            err_clear(&e2);
        }
        overlay_free(o);
        return r;
    }
    strmap_set(h->overlays, target, o);
    log_info("container rootfs mounted", KV_S("path", target), KV_U("layers", s->layers.n),
             KV_S("scratch", s->scratch_path ? s->scratch_path : ""));
    return 0;
}

/* At agent exit: the rootfs overlays inside a bundle come off before the
 * bundle is removed (the host is gone and will not send the Remove). */
void host_overlays_release_under(host *h, const char *dir)
{
    if (!h->overlays)
        return;
    strmap_iter it = STRMAP_ITER_INIT;
    const char *k;
    void *v;
    while (strmap_next(h->overlays, &it, &k, &v)) {
        if (!path_is_within(dir, k))
            continue;
        cleanup_free char *target = xstrdup(k);
        gcs_err e = GCS_ERR_INIT;
        if (layers_remove(h, target, &e) < 0)
            log_warn("cannot unmount a container rootfs at exit", KV_S("path", target), KV_S("error", err_msg(&e)));
        err_clear(&e);
    }
}

void host_handle_modify_layers(bridge_req *req, host *h, enum msg_request_type rt, res_combined_layers *s)
{
    gcs_err err = GCS_ERR_INIT;
    if (!h->overlays)
        h->overlays = strmap_new(overlay_free);
    if (rt != REQ_ADD && rt != REQ_REMOVE) {
        bridge_respond_hr(req, HR_E_FAIL, "the RequestType \"%s\" is not supported for CombinedLayers",
                          ((msg_modify *)req->msg)->request.request_type);
        return;
    }
    int r = host_path_allowed(h, "ContainerRootPath", s->container_root_path, &err);
    if (r == 0) {
        cleanup_free char *target = path_clean(s->container_root_path);
        r = rt == REQ_REMOVE ? layers_remove(h, target, &err) : layers_add(h, target, s, &err);
    }
    if (r < 0) {
        bridge_respond_error(req, &err);
        err_clear(&err);
        return;
    }
    bridge_respond(req, NULL);
}

static void on_updated(runtime_result *res, void *data)
{
    bridge_req *req = data;
    if (err_isset(&res->err))
        bridge_respond_error(req, &res->err);
    else
        bridge_respond(req, NULL);
}

void host_handle_constraints(bridge_req *req, host *h, container *c, res_container_constraints *s)
{
    gcs_err err = GCS_ERR_INIT;
    if (!s->linux_resources) {
        bridge_respond(req, NULL); /* nothing to change (Windows part only) */
        return;
    }
    cleanup_free char *json = jx_dump(s->linux_resources, NULL);
    if (runtime_update(h->rt, c->id, json, on_updated, req, &err) < 0) {
        bridge_respond_error(req, &err);
        err_clear(&err);
    }
}
