/* nic.h — which interface a NIC the host added is: the VMBus instance ID
 * names a device under <sysfs>/bus/vmbus/devices/<id>, whose net/
 * directory holds the one interface name (a VPCI-assigned NIC: the PCI
 * function below <id>/pci<dom>:<bus>/<dom>:<bus>:<dev>.<fn>/net).
 * Upstream: internal/guest/network/network.go InstanceIDToName,
 * internal/guest/storage/pci/pci.go FindDeviceFullPath.
 *
 * One look, no waiting: the caller retries on a loop timer until its
 * deadline (src/host/res_network.c). */
#pragma once

#include "common/err.h"

#include <stdbool.h>

/* The adapter ID as a path element: non-empty, no '/', not "." or "..",
 * at most 255 bytes; else err. */
int nic_check_id(const char *id, gcs_err *err);
/* 1 and *ret_ifname (caller frees) when found; 0 while the device or its
 * net directory is not there yet (*ret_why says what is missing; caller
 * frees); <0 with err when it can never succeed (several candidates). */
int nic_lookup(const char *sysfs_root, const char *id, bool vpci, char **ret_ifname, char **ret_why, gcs_err *err);
