/* lifecycle.h — the container-state predicates of the lookup and delete
 * paths (pod-model.md 5.2 and 5.5 steps 1-3; upstream GetInitializedContainer,
 * IsOverlayInUse and the confidential checks of DeleteContainerState).
 *
 * Pure functions: they read the state they are given and change nothing, so
 * a refused delete leaves the container registered (pod-model.md 5.5 step 3). */
#pragma once

#include "common/err.h"
#include "uvmstate/uvmstate.h"

#include <stdbool.h>
#include <stddef.h>

/* The values of pod-model.md 5.2. */
enum lifecycle_state {
    LIFECYCLE_CREATING = 0,
    LIFECYCLE_CREATED = 1,
    LIFECYCLE_RUNNING = 2,
    LIFECYCLE_TERMINATED = 3,
};

/* What the predicates need to know about one container. */
typedef struct lifecycle_ctr {
    const char *id;
    enum lifecycle_state state;
    const char *root_path; /* the spec's root.path (the rootfs overlay) */
} lifecycle_ctr;

/* 0 for created, running and terminated; creating -> -EIO with HRESULT
 * 0x80370105 and "container is still being created: HRESULT: 0x80370105". */
int lifecycle_lookup_ok(enum lifecycle_state state, gcs_err *err);

/* True when a RUNNING container among ctrs[0..n) has overlay_path as its
 * root path (compared after path_clean). Created and terminated containers
 * do not count. */
bool lifecycle_overlay_in_use(const lifecycle_ctr *ctrs, size_t n, const char *overlay_path);

/* pod-model.md 5.5 steps 1-3 for a looked-up container c (ID validation is
 * the caller's). Outside confidential mode: only the lookup rule applies.
 * In confidential mode, in order: the latch of t (uvmstate_check), the
 * lookup rule, then
 *   running                        -> "Denied deleting state of a running container \"<id>\""
 *   an overlay tracked at root.path -> "Denied deleting state of a container with a overlay mount still active".
 * t may be NULL (no table: no latch, no overlay). */
int lifecycle_confidential_delete_check(bool confidential, const lifecycle_ctr *c, const uvmstate *t,
                                        gcs_err *err);
