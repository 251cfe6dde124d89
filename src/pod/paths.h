/* paths.h — fixed guest path names of the pod model (docs/pod-model.md §3.1,
 * §3.2, §4.4). Header only; every module that builds a guest path takes its names
 * from here. */
#pragma once

/* Root prefixes chosen by the host for OCI bundles. */
#define POD_LEGACY_ROOT_PREFIX "/run/gcs/c"  /* V1 shim: /run/gcs/c/<id> */
#define POD_V2_ROOT_PREFIX "/run/gcs/pods"   /* V2 shim: /run/gcs/pods/<pod>/<id> */

/* Names inside a bundle / next to it. */
#define POD_VIRTUAL_PODS_DIR "virtual-pods" /* dirname(bundle)/virtual-pods/<vpid> */
#define POD_ROOTFS_DIR "rootfs"
#define POD_SCRATCH_DIR "scratch"

/* Names inside a sandbox root (docs/pod-model.md §3.2). */
#define POD_SANDBOX_MOUNTS_DIR "sandboxMounts"
#define POD_SANDBOX_TMPFS_MOUNTS_DIR "sandboxTmpfsMounts"
#define POD_HUGEPAGES_DIR "hugepages"
#define POD_LOGS_DIR "logs"
#define POD_HOSTNAME_FILE "hostname"
#define POD_HOSTS_FILE "hosts"
#define POD_RESOLV_CONF_FILE "resolv.conf"

/* Mount-source prefixes in workload specs (docs/pod-model.md §3.8). */
#define POD_SANDBOX_MOUNT_PREFIX "sandbox://"
#define POD_SANDBOX_TMPFS_MOUNT_PREFIX "sandbox-tmp://"
#define POD_HUGEPAGES_MOUNT_PREFIX "hugepages://"
#define POD_UVM_MOUNT_PREFIX "uvm://"
/* Mount-destination prefix. */
#define POD_BLOCKDEV_MOUNT_PREFIX "blockdev://"

/* Cgroups (docs/pod-model.md §4.3, §4.4): /pods/<sid>, /pods/<sid>/<id>, /pods/<id>. */
#define POD_CGROUP_PARENT "/pods"

/* The container ID that addresses the UVM itself (docs/pod-model.md §2.1). */
#define POD_UVM_CONTAINER_ID "00000000-0000-0000-0000-000000000000"
