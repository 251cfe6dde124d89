/* device.h — finding the devices the host attaches, in sysfs and among the
 * device nodes (docs/architecture.md, "Devices"; upstream
 * internal/guest/storage/scsi/scsi.go, internal/guest/storage/pci/pci.go).
 *
 * Every lookup is one synchronous look at the trees under -sysfs-root and
 * -dev-root (tests point them at a fake VMBus/SCSI tree and a directory of
 * device nodes). A lookup that has to wait for the device returns -EAGAIN
 * with err saying what is still missing; the caller polls on the loop's
 * timers under a deadline. Nothing here keeps state. */
#pragma once

#include "common/err.h"

#include <stdbool.h>
#include <stdint.h>

/* Hyper-V's SCSI controllers by index (upstream
 * internal/protocol/guestrequest/types.go ScsiControllerGuids). */
#define DEVICE_SCSI_CONTROLLERS 4
extern const char *const device_scsi_controller_guids[DEVICE_SCSI_CONTROLLERS];

/* Controller index -> the Linux SCSI host number: the first host<N> entry
 * (name order) of <sysfs>/bus/vmbus/devices/<guid>. Index above 3:
 * -EINVAL with HR_E_INVALIDARG. */
int device_scsi_host(const char *sysfs, unsigned controller, unsigned *ret_host, gcs_err *err);

/* The node of SCSI disk <host>:0:0:<lun> (partition 0: the whole disk,
 * else partition N of it): <dev_root>/<name> once sysfs lists the block
 * device (and the partition) and the node opens. 0 and *ret_path; -EAGAIN
 * not there yet; other <0: an error that waiting will not cure (two block
 * devices for one SCSI address, an unreadable directory). *ret_name (may be
 * NULL) gets the kernel name (sdb, sdb1). */
int device_scsi_block(const char *sysfs, const char *dev_root, unsigned host, unsigned lun, uint64_t partition,
                      char **ret_path, char **ret_name, gcs_err *err);

/* Write "1\n" to <sysfs>/bus/scsi/devices/<host>:0:0:<lun>/delete. A
 * device that is already gone is success (*ret_gone true). */
int device_scsi_delete(const char *sysfs, unsigned host, unsigned lun, bool *ret_gone, gcs_err *err);

/* The PCI device behind a VMBus GUID:
 * <sysfs>/bus/vmbus/devices/<guid>/pci<DDDD:BB>/<DDDD:BB>:... 0 and *ret_path;
 * -EAGAIN not there yet; -EEXIST more than one candidate. */
int device_vpci_find(const char *sysfs, const char *guid, char **ret_path, gcs_err *err);

/* The filesystem on a block device, through libblkid: 0 with *ret_type the
 * type ("ext4", "xfs", ...) or NULL when the device holds no filesystem it
 * knows. An unreadable device or an ambiguous probe is an error. */
int device_fs_probe(const char *dev, char **ret_type, gcs_err *err);
