/* lifecycle.c — container-state predicates (see lifecycle.h). */
#include "uvmstate/lifecycle.h"

#include "common/path.h"
#include "common/quote.h"

int lifecycle_lookup_ok(enum lifecycle_state state, gcs_err *err)
{
    /* pod-model.md 5.2: the text of upstream's wrapped HRESULT error */
    if (state == LIFECYCLE_CREATING)
        return err_set(err, HR_VMCOMPUTE_INVALID_STATE, "container is still being created: HRESULT: 0x%x",
                       (unsigned)HR_VMCOMPUTE_INVALID_STATE);
    return 0;
}

bool lifecycle_overlay_in_use(const lifecycle_ctr *ctrs, size_t n, const char *overlay_path)
{
    if (str_empty(overlay_path))
        return false;
    /* Upstream compares the strings as sent; comparing clean paths keeps
     * "/run/gcs/c/abc/./rootfs" from unmounting a running container's root
     * (test derived_overlay_in_use_clean). */
    cleanup_free char *want = path_clean(overlay_path);
    for (size_t i = 0; i < n; i++) {
        if (ctrs[i].state != LIFECYCLE_RUNNING || str_empty(ctrs[i].root_path))
            continue;
        cleanup_free char *root = path_clean(ctrs[i].root_path);
        if (streq(root, want))
            return true;
    }
    return false;
}

int lifecycle_confidential_delete_check(bool confidential, const lifecycle_ctr *c, const uvmstate *t,
                                        gcs_err *err)
{
    int r;

    /* pod-model.md 5.5 step 1 (the latch is consulted in confidential mode only) */
    if (confidential && t && (r = uvmstate_check(t, err)) < 0)
        return r;
    /* step 2 */
    if ((r = lifecycle_lookup_ok(c->state, err)) < 0)
        return r;
    if (!confidential)
        return 0;
    /* step 3 */
    if (c->state == LIFECYCLE_RUNNING) {
        cleanup_free char *q = quote_go(c->id ? c->id : "");
        return err_set(err, HR_E_FAIL, "Denied deleting state of a running container %s", q);
    }
    if (t && !str_empty(c->root_path) && uvmstate_has_overlay_at(t, c->root_path))
        return err_set(err, HR_E_FAIL, "Denied deleting state of a container with a overlay mount still active");
    return 0;
}
