/* spec.h — OCI spec rewriting per container kind (docs/pod-model.md §3.7, §3.8, §2.4)
 * on a jansson document (the "OciSpecification" object, edited in place).
 *
 * Filesystem side effects are explicit and named: the mount-source mapping
 * creates missing source directories with mode 0777 (umask 0 for that
 * mkdir), username resolution reads <root.path>/etc/passwd and /etc/group,
 * the standalone setup creates its root and writes hostname/hosts/
 * resolv.conf. Everything else is pure. Mounting is never done here: a new
 * hugepages target is reported to the caller's spec_hugetlb_fn.
 *
 * Containment uses path_is_within (separator-aware). Deliberate difference
 * (docs/differences.md D-8): upstream used a plain string prefix, so
 * "sandbox://../sandboxMountsX" was accepted; it is rejected here
 * (test_sandbox_dotdot_sandboxMountsX_rejected_7_3_item_8).
 *
 * Not done yet: blockdev:// destinations (HR_E_NOTIMPL), the privileged
 * annotation (all host devices), re-resolving linux.devices from /dev,
 * windows.devices (GPU hook, vPCI; HR_E_NOTIMPL), the SEV device. */
#pragma once

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>

/* Called for a hugepages:// target this call just created: the caller mounts
 * hugetlbfs ("none", target, "hugetlbfs", 0, "pagesize=<pagesize>"). */
typedef int (*spec_hugetlb_fn)(const char *target, const char *pagesize, void *userdata, gcs_err *err);

/* --- getters --- */
/* spec.annotations[key] if a string, else NULL. */
const char *spec_annotation(const json_t *spec, const char *key);
/* Lower-cased windows.network.networkNamespace, or "" (read it before
 * spec_clear_windows). Caller frees. */
char *spec_network_namespace_id(const json_t *spec);
bool spec_root_readonly(const json_t *spec);
/* Some mount has exactly this destination. */
bool spec_mount_present(const json_t *spec, const char *destination);

/* --- single steps --- */
/* docs/pod-model.md §2.4: `workload container must not change hostname: <h>`. */
int spec_check_workload_hostname(const json_t *spec, gcs_err *err);
/* docs/pod-model.md §3.8: sandbox:// -> <root>/sandboxMounts/<sub>, sandbox-tmp:// ->
 * <root>/sandboxTmpfsMounts/<sub>; containment checked; missing sources
 * created 0777. */
int spec_map_sandbox_mounts(json_t *spec, const char *root, gcs_err *err);
/* docs/pod-model.md §3.8: hugepages://<size>/<sub> -> <root>/hugepages/<size>/<sub>; a newly
 * created target is passed to mount_fn (which may be NULL only if no new
 * target is needed, else an error says what mount was needed). */
int spec_map_hugepage_mounts(json_t *spec, const char *root, spec_hugetlb_fn mount_fn, void *userdata,
                             gcs_err *err);
/* blockdev:// destinations: HR_E_NOTIMPL for now; no-op without any. */
int spec_map_blockdev_mounts(json_t *spec, gcs_err *err);
/* uvm://<path> -> <path>, which must exist. */
int spec_map_uvm_mounts(json_t *spec, gcs_err *err);
/* docs/pod-model.md §3.7 workload step 6: bind mounts of <root>/hostname, hosts, resolv.conf onto /etc/... for
 * each destination not already mounted; options [bind] plus ro if
 * root.readonly. */
void spec_add_networking_mounts(json_t *spec, const char *root);
/* docs/pod-model.md §3.7 workload step 7: the /dev/shm size annotation (KiB): replaces any /dev/shm mount with
 * tmpfs "shm" nosuid,noexec,nodev,mode=1777,size=<N>k. No annotation: no-op. */
int spec_apply_devshm_annotation(json_t *spec, gcs_err *err);
/* docs/pod-model.md §3.7 workload step 8: "<soft>;<hard>" -> process.rlimits += RLIMIT_CORE. Values above
 * INT64_MAX are refused (jansson integers are signed 64-bit). */
int spec_set_core_rlimit(json_t *spec, const char *value, gcs_err *err);
/* spec_set_core_rlimit from the rlimitcore annotation, if non-empty. */
int spec_apply_core_rlimit_annotation(json_t *spec, gcs_err *err);
/* process.user.username ("user", "uid", "user:group", "uid:gid", ...) ->
 * process.user.uid/gid from <root.path>/etc/passwd and /etc/group. An
 * unknown user NAME is an error; an unknown numeric uid is kept with gid 0.
 * No username: no-op. */
int spec_resolve_username(json_t *spec, gcs_err *err);
void spec_set_cgroups_path(json_t *spec, const char *path);
/* Drop "windows" (runc must not see it). */
void spec_clear_windows(json_t *spec);
/* Append {destination, type bind, source <root>/logs, options [bind]}. */
void spec_add_tee_log_dir_mount(json_t *spec, const char *destination, const char *root);

/* docs/pod-model.md §2.4: <root>/logs joined with rel and cleaned; must lie strictly below
 * <root>/logs/ else `log path <p> is not within sandbox's log dir`. */
int spec_tee_log_path(const char *root, const char *rel, char **ret, gcs_err *err);
/* spec_tee_log_path, then create its parent directory (0777, umask 0). */
int spec_tee_log_prepare(const char *root, const char *rel, char **ret, gcs_err *err);
/* mkdir -p with mode 0777 and the umask set to 0 for the call. */
int spec_mkdir_all_perm(const char *path, gcs_err *err);

/* --- per kind --- */
/* docs/pod-model.md §3.7 "Sandbox": username, core rlimit, cgroupsPath /pods/<sid>/<id>, drop windows. */
int spec_setup_sandbox(json_t *spec, const char *sid, const char *id, gcs_err *err);
/* docs/pod-model.md §3.7 workload steps 1-12 (minus the parts listed as not done above). */
int spec_setup_workload(json_t *spec, const char *sid, const char *id, const char *root, spec_hugetlb_fn mount_fn,
                        void *userdata, gcs_err *err);
/* docs/pod-model.md §3.7 standalone: create root (0755), validate spec.hostname (default
 * uvm_hostname), write and bind-mount hostname/hosts/resolv.conf for each
 * /etc file not already mounted (resolv_conf: content computed by the caller
 * from the namespace, may be ""), cgroupsPath /pods/<id>, drop windows. */
int spec_setup_standalone(json_t *spec, const char *id, const char *root, const char *uvm_hostname,
                          const char *resolv_conf, gcs_err *err);
