/* dm.h — device-mapper through the ioctls of <linux/dm-ioctl.h>
 * (docs/architecture.md, "Device-mapper"; upstream
 * internal/guest/storage/devicemapper/devicemapper.go).
 *
 * No libdevmapper (Debian ships no static archive of it, and gcs is linked
 * statically) and no udev: the control node is <dev_root>/mapper/control
 * and every device made here gets its node <dev_root>/mapper/<name>
 * (mknod, as upstream does), removed again with the device.
 *
 * A device is made with a table of one or more targets (linear, verity,
 * crypt, ... anything the kernel knows), by name. Every call is one or a
 * few ioctls, none waits: the retry policy (upstream retries a create on
 * EBUSY/ENOENT/ENXIO/ENODEV while the backing device appears) belongs to
 * the caller, which runs it on the loop's timers with a deadline
 * (dm_create_retryable says which errors are worth it).
 *
 * Lengths and offsets in tables are 512-byte sectors (DM_SECTOR). */
#pragma once

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DM_SECTOR 512u

typedef struct dm dm;

typedef struct dm_target {
    uint64_t start;     /* first sector of the device this target covers */
    uint64_t length;    /* sectors */
    const char *type;   /* "linear", "verity", "crypt", ... (at most 15 bytes) */
    const char *params; /* the target's constructor line */
} dm_target;

/* dm_create flags */
#define DM_CREATE_READONLY 1u

typedef struct dm_info {
    bool exists;
    bool suspended;
    bool readonly;
    int32_t open_count;
    uint32_t target_count;
    dev_t dev;
} dm_info;

/* Open <dev_root>/mapper/control (dev_root NULL: "/dev") and check the
 * kernel's interface version (major 4). A kernel without device-mapper
 * (no node, or ENODEV/ENXIO from it) is a clear error. */
int dm_open(const char *dev_root, dm **ret, gcs_err *err);
/* Accepts NULL; returns NULL. */
dm *dm_close(dm *d);

/* The kernel's device-mapper interface version (DM_VERSION). */
int dm_version(dm *d, uint32_t version[3], gcs_err *err);

/* DM_DEV_CREATE name, DM_TABLE_LOAD targets (read-only with
 * DM_CREATE_READONLY), resume (DM_DEV_SUSPEND without flags), then the node
 * <dev_root>/mapper/<name>; *dev_path (may be NULL) receives its path. Any
 * failure after the create removes the device again and leaves no node.
 * The returned negative errno is the failing ioctl's. */
int dm_create(dm *d, const char *name, const dm_target *targets, size_t n, unsigned flags, char **dev_path,
              gcs_err *err);
/* True for the errors upstream retries a create on (the backing device is
 * not there yet or is busy): EBUSY, ENOENT, ENXIO, ENODEV. */
bool dm_create_retryable(int r);

/* Remove the node and the device. A device that does not exist: -ENXIO
 * (callers that tear down treat it as done). A device still open (EBUSY):
 * the removal is deferred (DM_DEFERRED_REMOVE, the kernel removes it on the
 * last close) and 1 is returned, so nothing is left behind and nobody
 * waits. */
int dm_remove(dm *d, const char *name, gcs_err *err);

/* DM_DEV_STATUS: info->exists false (and 0 returned) when there is no such
 * device. */
int dm_status(dm *d, const char *name, dm_info *info, gcs_err *err);
/* DM_TABLE_STATUS: the status line of each target ("V" or "C" for verity),
 * joined with '\n', in *ret (to free). With table true, the loaded table
 * (DM_STATUS_TABLE_FLAG) instead. */
int dm_target_status(dm *d, const char *name, bool table, char **ret, gcs_err *err);
/* DM_LIST_DEVICES: every device's name, NULL-terminated, in *ret (free
 * with dm_list_free); the count is returned. */
int dm_list(dm *d, char ***ret, gcs_err *err);
void dm_list_free(char **names);

/* ---- building blocks, pure (unit-tested) ---- */

/* The DM_TABLE_LOAD payload: n struct dm_target_spec, each followed by its
 * NUL-terminated params padded to 8 bytes, and spec.next the offset of the
 * next spec from this one. Writes into buf (size cap) and returns the
 * bytes used, or -EINVAL (bad type, empty table, overlapping targets) /
 * -ENOSPC. */
long dm_pack_targets(const dm_target *targets, size_t n, void *buf, size_t cap, gcs_err *err);
/* A valid device-mapper name: 1..127 bytes, no '/', not "." or "..". */
bool dm_name_valid(const char *name);

/* The linear target over dev from byte offset for size bytes (both must be
 * multiples of 512): params "<dev> <offset/512>", in *params (to free). */
int dm_linear_target(const char *dev, uint64_t offset, uint64_t size, dm_target *t, char **params, gcs_err *err);
