/* uvmstate.h — the mount ledger, with the confidential-mode tracking rules and the
 * "inconsistent UVM" latch (docs/architecture.md, "The mount ledger"; upstream
 * internal/guest/runtime/hcsv2/uvm_state.go).
 *
 * Pure bookkeeping, nothing touches the filesystem. The table records what
 * the agent believes is mounted: read-write devices (with their encrypted
 * flag), read-only devices and overlays. Every path is normalised with
 * path_clean, so ".../aaaa/./rootfs" and ".../aaaa/rootfs" are one entry.
 * An overlay takes a use on the innermost tracked mount containing each of
 * its layers and its scratch (paths inside no tracked mount are ignored);
 * a mount in use cannot be removed.
 *
 * Intended use: record the change first, then do the real (un)mount; if
 * that fails, roll the record back (remove what was added, re-add what was
 * removed, or apply the undo of uvmstate_remove_overlay) before any other
 * change to the table.
 *
 * The latch: once uvmstate_set_inconsistent is called, every add and remove
 * fails, and uvmstate_check fails so create/delete can refuse too. The first
 * cause is kept. Queries and undos keep working. */
#pragma once

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct uvmstate uvmstate;
/* How the owner of an entry takes its mount off (path is the entry's). */
typedef int (*uvmstate_unmount_fn)(const char *path, void *data, gcs_err *err);
/* What uvmstate_remove_overlay took out, to put it back. */
typedef struct uvmstate_undo uvmstate_undo;

uvmstate *uvmstate_new(void);
/* Accepts NULL; returns NULL. */
uvmstate *uvmstate_free(uvmstate *t);

/* Fails when a mount of any kind is already tracked at mount_path. */
int uvmstate_add_rw(uvmstate *t, const char *mount_path, const char *source, bool encrypted, gcs_err *err);
int uvmstate_add_ro(uvmstate *t, const char *mount_path, const char *source, gcs_err *err);

/* Nothing tracked at mount_path: success (already gone, as upstream).
 * Fails when the tracked entry has another source, another kind, another
 * encrypted flag (rw), or is still used by an overlay. */
int uvmstate_remove_rw(uvmstate *t, const char *mount_path, const char *source, bool encrypted, gcs_err *err);
int uvmstate_remove_ro(uvmstate *t, const char *mount_path, const char *source, gcs_err *err);

/* Track an overlay at target over n_layers lower-layer paths and a scratch
 * path (scratch may be NULL or ""). Fails, changing nothing, when something
 * is already tracked at target. */
int uvmstate_add_overlay(uvmstate *t, const char *target, const char *const *layers, size_t n_layers,
                         const char *scratch, gcs_err *err);
/* Stop tracking the overlay at target and release its uses. On success
 * *undo (when undo is not NULL) receives what to apply if the real unmount
 * fails, or to free once it succeeded; *undo stays NULL when nothing was
 * tracked at target. */
int uvmstate_remove_overlay(uvmstate *t, const char *target, uvmstate_undo **undo, gcs_err *err);
/* Put the removed overlay back with its uses, and free undo (NULL: no-op).
 * Fails (and frees undo) if its target was tracked again meanwhile or one of
 * its referenced mounts has gone, which the intended use above rules out. */
int uvmstate_undo_apply(uvmstate *t, uvmstate_undo *undo, gcs_err *err);
/* Accepts NULL; returns NULL. */
uvmstate_undo *uvmstate_undo_free(uvmstate_undo *undo);

/* True when the innermost tracked mount containing path (separator-aware,
 * after path_clean) is an encrypted read-write device. */
bool uvmstate_is_encrypted(const uvmstate *t, const char *path);
/* True when an overlay is tracked exactly at path (after path_clean). */
bool uvmstate_has_overlay_at(const uvmstate *t, const char *path);
/* Number of tracked mounts of every kind (for tests and diagnostics). */
size_t uvmstate_count(const uvmstate *t);

/* ---- the ledger: what the agent mounted where, and how to take it off ----
 *
 * Every mount the agent makes for the host is an entry: its owner (the
 * resource module, a static string), an unmount function with its data, and
 * the container whose rootfs it is (if any). Teardown and agent exit walk
 * the entries newest first, so a mount made on top of another comes off
 * before it. */

/* A bind mount (e.g. the bundle directory bound onto its scratch). */
int uvmstate_add_bind(uvmstate *t, const char *mount_path, const char *source, gcs_err *err);
int uvmstate_remove_bind(uvmstate *t, const char *mount_path, const char *source, gcs_err *err);
/* True when any entry is tracked exactly at path (after path_clean). */
bool uvmstate_has(const uvmstate *t, const char *path);
/* Attach the owner and the way to unmount to the entry at path; data is
 * freed with free_data when the entry goes (or now, when there is no entry:
 * -ENOENT). */
int uvmstate_set_unmount(uvmstate *t, const char *path, const char *owner, uvmstate_unmount_fn fn, void *data,
                         void (*free_data)(void *data));
/* The data attached to the entry at path, or NULL. */
void *uvmstate_data(const uvmstate *t, const char *path);
/* The owner of the entry at path, or NULL (no entry, or none set). */
const char *uvmstate_owner(const uvmstate *t, const char *path);
/* Record that container_id uses the mount at path as its rootfs (NULL
 * clears); -ENOENT when nothing is tracked there. */
int uvmstate_set_user(uvmstate *t, const char *path, const char *container_id);
/* The container using the mount at path, or NULL: "is this mount in use by
 * a container". */
const char *uvmstate_user(const uvmstate *t, const char *path);
/* Forget container_id as the user of every entry (its delete). */
void uvmstate_clear_user(uvmstate *t, const char *container_id);
/* The paths of the entries within under (NULL: all) made by owner (NULL:
 * any), newest first, NULL-terminated; free with uvmstate_list_free. */
size_t uvmstate_list(const uvmstate *t, const char *under, const char *owner, char ***ret);
void uvmstate_list_free(char **paths);
/* Take the entry at path off: refused while overlays use it; its unmount
 * function runs (an entry without one is only forgotten), then the entry
 * and its uses go. Nothing tracked: 0. */
int uvmstate_unmount(uvmstate *t, const char *path, gcs_err *err);
/* uvmstate_unmount for every entry uvmstate_list gives, going on after a
 * failure; the first error is kept. */
int uvmstate_unwind(uvmstate *t, const char *under, const char *owner, gcs_err *err);
/* The same for the entries strictly inside dir: an entry at dir stays. */
int uvmstate_unwind_below(uvmstate *t, const char *dir, gcs_err *err);

/* Latch the table inconsistent; the first cause is kept. */
void uvmstate_set_inconsistent(uvmstate *t, const char *cause);
bool uvmstate_is_inconsistent(const uvmstate *t);
/* 0, or -EIO with "mount, unmount, container creation and deletion have
 * been disabled in this UVM due to a previous error: <cause>". */
int uvmstate_check(const uvmstate *t, gcs_err *err);
