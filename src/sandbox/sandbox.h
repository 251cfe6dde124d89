/* sandbox.h — sandbox roots: where a pod's shared files live
 * (docs/pod-model.md §2.3, §3.2, §3.3, §3.5).
 *
 * A sandbox root is registered when a sandbox container is created, under the
 * sandbox's container ID, and resolved by workloads through their sandbox ID.
 * Without a virtual-pod ID the root is the OCI bundle path exactly as given;
 * with one it is dirname(bundle)/virtual-pods/<vpid>. Resolving an unknown ID
 * falls back to the legacy /run/gcs/c/<id> (a warning is logged).
 *
 * Deliberate difference (docs/differences.md D-9): a virtual-pod ID must be ONE clean path
 * element of [A-Za-z0-9_.-], 1..128 characters, not "." or "..". Upstream
 * only rejected absolute IDs and IDs containing "..", so "x/../y" and "./vp1"
 * were accepted (and "a..b" refused). Tests: test_d4_*_rejected_deliberate,
 * test_d6_*_rejected_deliberate, test_d5_*_accepted_deliberate.
 *
 * All returned strings are malloc'd and owned by the caller. */
#pragma once

#include "common/err.h"

#include <stdbool.h>

#define SANDBOX_VPID_MAX 128

typedef struct sandbox_roots sandbox_roots;

sandbox_roots *sandbox_roots_new(void);
/* Accepts NULL; returns NULL. */
sandbox_roots *sandbox_roots_free(sandbox_roots *roots);

/* The strict virtual-pod ID rule. A traversal attempt ('/' anywhere, "." or
 * "..") fails with `invalid virtual pod ID "<vpid>": path traversal attempt`;
 * other violations (empty, too long, other characters) with a message naming
 * the rule. HR_E_INVALIDARG. */
int sandbox_vpid_validate(const char *vpid, gcs_err *err);

/* Compute a root without registering it (docs/pod-model.md §2.3): vpid NULL or "" -> bundle as
 * given; else the vpid is validated and the root is
 * path_join(path_dir(bundle), "virtual-pods/<vpid>"). */
int sandbox_root_compute(const char *bundle, const char *vpid, char **ret_root, gcs_err *err);
/* Compute and store roots[key] = root, overwriting a previous entry.
 * ret_root may be NULL. On error nothing is stored. */
int sandbox_root_register(sandbox_roots *roots, const char *key, const char *bundle, const char *vpid,
                          char **ret_root, gcs_err *err);
/* The stored root for sid, or the legacy fallback /run/gcs/c/<sid> (cleaned
 * join; logged as a warning). Never NULL. */
char *sandbox_root_resolve(const sandbox_roots *roots, const char *sid);
/* The stored root (borrowed) or NULL. No fallback. */
const char *sandbox_root_lookup(const sandbox_roots *roots, const char *key);
/* Drop roots[key]; true if it existed. */
bool sandbox_root_unregister(sandbox_roots *roots, const char *key);
size_t sandbox_roots_count(const sandbox_roots *roots);

/* Paths under a resolved root (docs/pod-model.md §3.2), each path_join(root, name). */
char *sandbox_mounts_dir(const char *root);       /* <root>/sandboxMounts */
char *sandbox_tmpfs_mounts_dir(const char *root); /* <root>/sandboxTmpfsMounts */
char *sandbox_hugepages_dir(const char *root);    /* <root>/hugepages */
char *sandbox_logs_dir(const char *root);         /* <root>/logs */
char *sandbox_hostname_path(const char *root);    /* <root>/hostname */
char *sandbox_hosts_path(const char *root);       /* <root>/hosts */
char *sandbox_resolv_conf_path(const char *root); /* <root>/resolv.conf */

/* Legacy ID-based helpers, kept for the fallback and parity tests. */
char *sandbox_legacy_root(const char *sid); /* /run/gcs/c/<sid> */
char *sandbox_legacy_mounts_dir(const char *sid);
char *sandbox_legacy_tmpfs_mounts_dir(const char *sid);
char *sandbox_legacy_hugepages_dir(const char *sid);
char *sandbox_legacy_logs_dir(const char *sid);

/* docs/pod-model.md §3.5 (upstream #2835): does the bundle directory need the <scratch>/bundle bind?
 * True when scratch is non-empty and not within bundle_dir (separator-aware:
 * a sibling sharing the string prefix is outside). */
bool sandbox_needs_bundle_bind(const char *bundle_dir, const char *scratch);
